/* rollbot — the logger (MIT licence, see LICENSE).
 *
 * Formats a record into one buffer and writes it with a single write(2), so
 * lines from a crash or a concurrent child never interleave mid-line.
 */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

enum log_level log_threshold = LOG_INFO;

static const char *const level_names[] = { "error", "warn", "info", "debug" };

void log_set_level(enum log_level lvl)
{
	log_threshold = lvl;
}

int log_level_from_name(const char *name, enum log_level *out)
{
	for (size_t i = 0; i < RB_ARRAY_LEN(level_names); i++) {
		if (!strcasecmp(name, level_names[i])) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return RB_EINVAL;
}

/* Writes one record. Newlines inside the message are turned into spaces so
 * that one record is always one line for whatever reads the log. */
void log_write(enum log_level lvl, const char *fmt, ...)
{
	char line[2048];
	struct timeval tv;
	struct tm tm;
	va_list ap;
	int n, m;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	n = snprintf(line, sizeof line, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ level=%s ",
		     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min,
		     tm.tm_sec, (int)(tv.tv_usec / 1000), level_names[lvl]);
	va_start(ap, fmt);
	m = vsnprintf(line + n, sizeof line - (size_t)n - 1, fmt, ap);
	va_end(ap);
	if (m < 0)
		m = 0;
	if ((size_t)(n + m) >= sizeof line - 1)
		m = (int)(sizeof line - 2 - (size_t)n);
	for (int i = n; i < n + m; i++)
		if (line[i] == '\n' || line[i] == '\r')
			line[i] = ' ';
	line[n + m] = '\n';
	if (write(STDERR_FILENO, line, (size_t)(n + m + 1)) < 0) {
		/* Nowhere left to report it. */
	}
}
