/* rollbot — the logger (MIT licence, see LICENSE).
 *
 * One logger for the whole daemon: levels, one line per record,
 * "2026-06-10T03:12:09.402Z level=info msg…" with key=value pairs in the
 * message, to stderr. The level is tested before anything is formatted.
 * libwebsockets, libcurl and libpq are routed here by their adapters.
 * Never pass a token, an Authorization header, a database URL with a
 * password or a websocket ticket to it.
 */
#ifndef LOG_H
#define LOG_H

#include "../commands/rb.h"

enum log_level { LOG_ERROR, LOG_WARN, LOG_INFO, LOG_DEBUG };

extern enum log_level log_threshold;

void log_set_level(enum log_level lvl);
/* Parses "error", "warn", "info", "debug". Returns 0 or RB_EINVAL. */
int log_level_from_name(const char *name, enum log_level *out);
void log_write(enum log_level lvl, const char *fmt, ...) RB_PRINTF(2, 3);

#define log_at(lvl, ...)                              \
	do {                                          \
		if ((lvl) <= log_threshold)           \
			log_write((lvl), __VA_ARGS__); \
	} while (0)
#define log_error(...) log_at(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_at(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_at(LOG_INFO, __VA_ARGS__)
#define log_debug(...) log_at(LOG_DEBUG, __VA_ARGS__)

/* Lines about an incident: "inc=INC-2026-0001 svc=payments-api state=declared …". */
#define ilog_at(lvl, inc, fmt, ...)                                              \
	log_at((lvl), "inc=%s svc=%s state=%s " fmt, (inc)->id, (inc)->service, \
	       inc_state_name((inc)->state), ##__VA_ARGS__)
#define ilog_info(inc, fmt, ...) ilog_at(LOG_INFO, inc, fmt, ##__VA_ARGS__)
#define ilog_warn(inc, fmt, ...) ilog_at(LOG_WARN, inc, fmt, ##__VA_ARGS__)
#define ilog_error(inc, fmt, ...) ilog_at(LOG_ERROR, inc, fmt, ##__VA_ARGS__)

#endif
