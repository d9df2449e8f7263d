/* rollbot — the incident report, from the audit log alone (MIT licence, see LICENSE).
 *
 * The shell reads an incident's row and its audit rows (bot/db.c) and
 * hands them over as strings; report_data turns them into one JSON object
 * that templates/incident_report.md.mustache prints as the runbook's
 * incident report (seeds/000 §5.3 and §6.4), that the stakeholder drafts
 * (templates/draft_*.mustache, §5.1 and §5.2) print for people to copy, and
 * that `rollbot report --format json` prints as it is. Every value in it is
 * already the text a template prints: templates only choose sections.
 * Pure: no I/O, no clock (times come from the rows), no globals.
 */
#ifndef REPORT_H
#define REPORT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rb.h"

/* One audit_log row; every string is borrowed for the call. NULL reads as "". */
struct report_row {
	const char *at;	    /* UTC, "2026-11-23T15:17:02.123Z" (report_parse_time) */
	const char *actor;  /* "U02JD0E4512" or "rollbot" */
	const char *kind;   /* "state_change", "command_run", … */
	const char *detail; /* the jsonb as JSON text */
};

/* The incident's row; every string is borrowed for the call. NULL reads as "". */
struct report_incident {
	const char *id, *service, *severity /* "P1" */, *state /* "resolved" */, *reason, *target,
		*method /* "kubectl" */, *requested_by, *channel,
		*created_at /* same shape as report_row.at */,
		*ended_at /* same shape, or "" while the incident is open */,
		*closed_by /* "" when nobody closed it by hand */;
	bool with_db;
	/* The operators' zone (display_timezone), shown beside UTC; NULL or ""
	 * for UTC only. It must be the zone report_set_zone installed. */
	const char *zone;
	/* People's names, {"U02JD0E4512": "Alice Smith"} (borrowed; NULL or a
	 * missing ID: the report shows the ID). The rows keep the IDs. */
	const json_t *names;
};

/* The report as data. Rows must be in id order (the order they were
 * written). Never fails: a row that cannot be read (bad time, detail that
 * is not JSON) is placed after the row before it and told as well as it
 * can be. Returns a new reference, never NULL. */
json_t *report_data(const struct report_incident *inc, const struct report_row *rows, size_t n);

/* Renders template text `tmpl` (a .mustache file's contents) with `data`
 * (borrowed), with Slack escaping for {{x}} (the drafts are Slack messages)
 * and none for {{{x}}} (the Markdown report uses only those). Returns a new
 * string (free with free()), or NULL with a one-line reason in err. */
char *report_render(const char *tmpl, const json_t *data, char *err, size_t errlen);

/* A duration for people: "45 s", "13 min 05 s", "2 h 01 min", "1 d 02 h"
 * (the smaller unit truncated). Negative counts as 0. Always NUL-terminates
 * out when len > 0. */
void report_duration(int64_t seconds, char *out, size_t len);

/* A measured span for people: "0 s", "under 0.1 s", "0.4 s" under a second,
 * then as report_duration ("2 s", "1 min 05 s"), always truncated. The one
 * formatter for downtime, elapsed time and incident length. */
void report_span(int64_t ms, char *out, size_t len);

/* A command's run time, as the report's timeline and the step messages say
 * it: "56 ms", "84.2 s" (rounded to the tenth), then report_duration. */
void report_step_time(int64_t ms, char *out, size_t len);

/* The span between two times, as every duration rollbot shows is taken:
 * between the whole seconds the clock times show ("15:17:02"), so that a
 * reader who subtracts them gets the duration shown, but in milliseconds
 * when the span is under a second, so that a blip is not "0 s". */
int64_t report_between(int64_t from_ms, int64_t to_ms);

/* Downtime, computed once: the completion message (bot/verifying.c,
 * bot/shell.c) and the report and drafts (report_data) feed it the same
 * health results at the same times (the probe_results row's "at_ms"). */
struct report_down {
	bool seen;	  /* a health result was observed */
	bool failing;	  /* the last result failed */
	int64_t since_ms; /* when the current failing span began */
	int64_t total_ms; /* closed failing spans, summed */
	int64_t last_ms;  /* the last result's time */
};

/* One health result at at_ms. Returns the length of the failing span it
 * closes, or -1 when it closes none. */
int64_t report_down_observe(struct report_down *d, int64_t at_ms, bool passed);

/* Total downtime, a span still failing counted until the last result (what
 * was seen, not guessed). */
int64_t report_down_total(const struct report_down *d);

/* Installs the zone local times are shown in (an IANA name such as
 * "Europe/Berlin"; NULL for UTC): TZ is set once, at start, before any
 * thread; every UTC time is computed without it (gmtime_r, or the
 * report's own calendar arithmetic). */
void report_set_zone(const char *name);

/* "03:32:00 CET": the clock time of ms in the installed zone, with the
 * zone's abbreviation for that instant (summer or winter time). */
void report_local_clock(int64_t ms, char *out, size_t len);

/* Parses exactly "YYYY-MM-DDTHH:MM:SS.mmmZ" (UTC, as the shell's SQL
 * writes it) into milliseconds since 1970-01-01 (negative before). Returns
 * 0, or RB_EINVAL (and *ms untouched) for anything else, including
 * impossible dates such as 2026-02-29 or 24:00:00. */
int report_parse_time(const char *at, int64_t *ms) RB_MUSTCHECK;

#endif
