/* rollbot — the report's times and durations (MIT licence, see LICENSE).
 *
 * Times are UTC and are read from the rows, never from a clock: calendar
 * arithmetic is Howard Hinnant's days-from-civil, exact for any date, so a
 * report across midnight, a month end or a year end needs no timegm (which
 * would read TZ). Durations are taken between the whole seconds the report
 * shows, so that a reader who subtracts two printed times gets the printed
 * duration, except under a second, shown in tenths (report_between); the
 * completion message counts downtime with the same functions
 * (report_down_*), so the two never disagree. Split out of report.c
 * (report_int.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "report_int.h"

/* ---- time ---------------------------------------------------------------- */

int64_t report_floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's
 * days_from_civil: March-based years put the leap day last). */
static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = report_floor_div(y, 400);
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

struct civil {
	int64_t y;
	unsigned mo, d, h, mi, s;
};

/* The inverse, down to the second, for a time in ms since the epoch. */
static void civil_from_ms(int64_t ms, struct civil *c)
{
	int64_t z = report_floor_div(ms, MS_PER_DAY);
	int64_t secs = report_floor_div(ms, 1000) - z * 86400, era;
	unsigned doe, yoe, doy, mp;

	z += 719468;
	era = report_floor_div(z, 146097);
	doe = (unsigned)(z - era * 146097);
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	c->d = doy - (153 * mp + 2) / 5 + 1;
	c->mo = mp < 10 ? mp + 3 : mp - 9;
	c->y = (int64_t)yoe + era * 400 + (c->mo <= 2);
	c->h = (unsigned)(secs / 3600);
	c->mi = (unsigned)(secs / 60 % 60);
	c->s = (unsigned)(secs % 60);
}

static unsigned days_in_month(int64_t y, unsigned m)
{
	static const unsigned days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

	return m == 2 && leap ? 29 : days[m - 1];
}

/* The number in s[from, from + n) when those are all digits, else -1. */
static int64_t digits(const char *s, size_t from, size_t n)
{
	int64_t v = 0;

	for (size_t i = from; i < from + n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

/* Parses "YYYY-MM-DDTHH:MM:SS.mmmZ" and nothing else: the shell's SQL
 * writes exactly that, so anything different is a bug worth refusing
 * rather than a format worth guessing. Returns 0 or RB_EINVAL. */
int report_parse_time(const char *at, int64_t *ms)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:dd.dddZ";
	int64_t y, mo, d, h, mi, s, frac;

	if (!at || strlen(at) != sizeof shape - 1)
		return RB_EINVAL;
	for (size_t i = 0; i < sizeof shape - 1; i++)
		if (shape[i] != 'd' && at[i] != shape[i])
			return RB_EINVAL;
	y = digits(at, 0, 4);
	mo = digits(at, 5, 2);
	d = digits(at, 8, 2);
	h = digits(at, 11, 2);
	mi = digits(at, 14, 2);
	s = digits(at, 17, 2);
	frac = digits(at, 20, 3);
	if (y < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 ||
	    s > 59 || frac < 0 || d > days_in_month(y, (unsigned)mo))
		return RB_EINVAL;
	*ms = (days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + s) *
		      1000 +
	      frac;
	return 0;
}

/* Builds the duration from the largest unit down, two units at most: a
 * reader of an incident report wants "13 min 05 s", not 785 seconds. */
void report_duration(int64_t seconds, char *out, size_t len)
{
	long long s = seconds < 0 ? 0 : (long long)seconds;

	if (!out || !len)
		return;
	if (s < 60)
		snprintf(out, len, "%lld s", s);
	else if (s < 3600)
		snprintf(out, len, "%lld min %02lld s", s / 60, s % 60);
	else if (s < 86400)
		snprintf(out, len, "%lld h %02lld min", s / 3600, s / 60 % 60);
	else
		snprintf(out, len, "%lld d %02lld h", s / 86400, s / 3600 % 24);
}

/* Under a second the tenths, so that a short blip is not "0 s"; from a
 * second on, report_duration. Always truncated: 59.9 s is "59 s". */
void report_span(int64_t ms, char *out, size_t len)
{
	if (!out || !len)
		return;
	if (ms <= 0)
		snprintf(out, len, "0 s");
	else if (ms < 100)
		snprintf(out, len, "under 0.1 s");
	else if (ms < 1000)
		snprintf(out, len, "0.%lld s", (long long)ms / 100);
	else
		report_duration(ms / 1000, out, len);
}

int64_t report_between(int64_t from_ms, int64_t to_ms)
{
	if (to_ms <= from_ms)
		return 0;
	if (to_ms - from_ms < 1000)
		return to_ms - from_ms;
	return (report_floor_div(to_ms, 1000) - report_floor_div(from_ms, 1000)) * 1000;
}

int64_t report_down_observe(struct report_down *d, int64_t at_ms, bool passed)
{
	int64_t span;

	d->seen = true;
	d->last_ms = at_ms;
	if (!passed) {
		if (!d->failing) {
			d->failing = true;
			d->since_ms = at_ms;
		}
		return -1;
	}
	if (!d->failing)
		return -1;
	span = report_between(d->since_ms, at_ms);
	d->total_ms += span;
	d->failing = false;
	return span;
}

int64_t report_down_total(const struct report_down *d)
{
	if (d->failing)
		return d->total_ms + report_between(d->since_ms, d->last_ms);
	return d->total_ms;
}

void report_between_text(int64_t from_ms, int64_t to_ms, char *out, size_t len)
{
	report_span(report_between(from_ms, to_ms), out, len);
}

void report_set_zone(const char *name)
{
	setenv("TZ", name && *name ? name : "UTC", 1);
	tzset();
}

void report_local_clock(int64_t ms, char *out, size_t len)
{
	time_t t = (time_t)report_floor_div(ms, 1000);
	struct tm tm;

	if (!localtime_r(&t, &tm)) {
		snprintf(out, len, "?");
		return;
	}
	snprintf(out, len, "%02d:%02d:%02d %s", tm.tm_hour, tm.tm_min, tm.tm_sec,
		 tm.tm_zone ? tm.tm_zone : "");
}

/* "2026-11-23 15:17:02" */
void report_stamp(int64_t ms, char out[32])
{
	struct civil c;

	civil_from_ms(ms, &c);
	snprintf(out, 32, "%04lld-%02u-%02u %02u:%02u:%02u", (long long)c.y, c.mo, c.d, c.h, c.mi,
		 c.s);
}

/* "15:17:02" on the day `day_ms` falls in, the whole stamp on another day:
 * prose in the report names the date only when it changes. */
void report_clock(int64_t ms, int64_t day_ms, char out[32])
{
	report_stamp(ms, out);
	if (report_floor_div(ms, MS_PER_DAY) == report_floor_div(day_ms, MS_PER_DAY))
		memmove(out, out + 11, strlen(out + 11) + 1);
}

/* "15:17 UTC on 2026-11-23", as the customer email says it; with `secs`
 * "15:17:02 UTC on …", for a window under an hour, which would otherwise
 * read "from 15:17 to 15:17". */
void report_human(int64_t ms, bool secs, char out[48])
{
	struct civil c;
	char sec[4] = "";

	civil_from_ms(ms, &c);
	if (secs)
		snprintf(sec, sizeof sec, ":%02u", c.s);
	snprintf(out, 48, "%02u:%02u%s UTC on %04lld-%02u-%02u", c.h, c.mi, sec, (long long)c.y,
		 c.mo, c.d);
}

/* A step's run time: "20 ms" under a second, "1.2 s" under a minute, then
 * report_duration. */
void report_step_time(int64_t ms, char *out, size_t len)
{
	long long tenths = (long long)((ms < 0 ? 0 : ms) + 50) / 100;

	if (ms < 1000)
		snprintf(out, len, "%lld ms", (long long)(ms < 0 ? 0 : ms));
	else if (tenths < 600)
		snprintf(out, len, "%lld.%lld s", tenths / 10, tenths % 10);
	else
		report_duration(ms / 1000, out, len);
}

