/* rollbot — what the report's files share (MIT licence, see LICENSE).
 *
 * report.c makes the pass over the rows; report_time.c says times and
 * durations; report_facts.c adds the sections
 * from the rows that pass does not need (the facts recorded at plan time,
 * the drafts marked as sent, the owner and sign-off). Internal to the
 * report: nothing outside commands/report*.c includes this.
 */
#ifndef REPORT_INT_H
#define REPORT_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "report.h"

#define MS_PER_DAY INT64_C(86400000)

/* report_time.c. Floor division (rounds toward minus infinity). */
int64_t report_floor_div(int64_t a, int64_t b);
/* "2026-11-23 15:17:02" (UTC) for ms since 1970. */
void report_stamp(int64_t ms, char out[32]);
/* "15:17:02" on the day day_ms falls in, the whole stamp on another. */
void report_clock(int64_t ms, int64_t day_ms, char out[32]);
/* "15:17 UTC on 2026-11-23", as the customer email says it. */
void report_human(int64_t ms, bool secs, char out[48]);
/* The time between two of the report's printed seconds, for people. */
void report_between_text(int64_t from_ms, int64_t to_ms, char *out, size_t len);

/* report.c. */
/* s made safe for one Markdown line, cut at max characters. New string. */
char *report_clean(const char *s, size_t max);
/* The person's name from inc->names, else the ID as given ("" for NULL). */
const char *report_name(const struct report_incident *inc, const char *id);

/* Adds the sections of report_facts.c to `o`, which report.c has filled
 * (it reads "timeline", "target", "requested_by", "service", "impact"). */
void report_put_facts(json_t *o, const struct report_incident *inc,
		      const struct report_row *rows, size_t n);

#endif
