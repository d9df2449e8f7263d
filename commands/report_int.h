/* rollbot — what the report's files share (MIT licence, see LICENSE).
 *
 * report.c makes the pass over the rows and writes report_data from what
 * it learns (struct scan): the header and the incident's own fields are
 * its. report_timeline.c turns each row into its line of the timeline,
 * noting the facts on the way; report_impact.c reads the probe results
 * (downtime, elevated errors, metrics, the health now for the drafts);
 * report_outcome.c says how it ended (the outcome, the summary, the
 * resolution, the rollback summary); report_time.c says times and
 * durations; report_facts.c adds the sections from the rows that pass does
 * not need (the facts recorded at plan time, the drafts marked as sent,
 * the owner and sign-off). Internal to the report: nothing outside
 * commands/report*.c includes this.
 */
#ifndef REPORT_INT_H
#define REPORT_INT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "report.h"

#define MS_PER_DAY INT64_C(86400000)
/* Characters of people's or programs' text one report line repeats. */
#define TEXT_MAX 200

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

/* ---- the rows, and what the pass over them learns ------------------------ */

/* Small readers the files share, static inline so that their short names
 * stay private to each object (no `is` or `dstr` symbol is exported). */
static inline bool is(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

static inline const char *orempty(const char *s)
{
	return s ? s : "";
}

struct row {
	int64_t ms;
	size_t idx;
	char *actor; /* clean */
	const char *kind;
	json_t *d; /* the detail, an object (empty when it was not one) */
};

/* A string field of a detail: "" when missing or not a string. */
static inline const char *dstr(const json_t *d, const char *key)
{
	const char *v = json_string_value(json_object_get(d, key));

	return v ? v : "";
}

/* An integer field, written as a number or as digits in a string (the
 * state machine writes its numbers as text). */
static inline long long dint(const json_t *d, const char *key, long long dflt)
{
	const json_t *v = json_object_get(d, key);
	const char *s;
	char *end;
	long long n;

	if (json_is_integer(v))
		return (long long)json_integer_value(v);
	s = json_string_value(v);
	if (!s || !*s)
		return dflt;
	n = strtoll(s, &end, 10);
	return *end ? dflt : n;
}

static inline bool dtrue(const json_t *d, const char *key)
{
	const json_t *v = json_object_get(d, key);

	return json_is_true(v) || is(json_string_value(v), "true");
}

/* One line of the timeline. Pinned entries remember their message's ts so
 * that an unpin can take them out again. */
struct entry {
	int64_t ms;
	size_t order; /* the row that wrote it: ties keep row order */
	char *text;   /* NULL once removed */
	const char *pin_ts;
};

/* What one probe check said, and when. */
struct seen {
	int64_t ms;
	const char *detail; /* borrowed from a row's detail */
	bool passed;
};

/* Everything the pass over the rows learns. Strings are borrowed from the
 * rows' details, which live until report_data returns. */
struct scan {
	const struct report_incident *inc;
	enum plan_method method;
	bool method_known;
	int64_t start_ms, end_ms, last_ms; /* end_ms -1 while open */

	struct entry *e;
	size_t n, cap;

	int64_t trigger_ms;	 /* the first command_received */
	json_t *approvers;	 /* counted now, in order */
	json_t *approved_by;	 /* everyone counted at a transition to approved */
	const char *skipped_sev; /* approval skipped at this severity, or NULL */
	const char *rejected_by;
	const char *target; /* plan_ready's, else the incident's */
	int n_steps;
	bool asked;	    /* approval requested at least once */
	bool by_hand;	    /* the next state change was done by hand */
	bool skip_said;	    /* the next state change follows approval_skipped */
	char *closed_by;    /* the incident's, clean ("" when none) */
	const char *closer; /* who resolved or cancelled by hand (the rows) */
	int64_t closed_ms;  /* and when */
	const char *note;   /* and what they said */
	const char *plan_error;
	size_t cmd_entry;      /* the last later command's entry (SIZE_MAX: none) */
	const char *cmd_actor; /* and who typed it */
	const char *cmd_text;  /* and what: "cancel INC-2026-0045 …" */

	bool executed;	    /* a plan step ran (command_run or http_request) */
	int64_t rolling_ms; /* the first rolling_back, -1 if none */
	int64_t done_ms;    /* the first verifying after it, -1 if none */
	int64_t stop_ms;    /* rolling_back → failed, -1 if none */
	char *failed_step;  /* the last step that did not succeed: "step 2 of 2" */
	char *failed_how;   /* and how: "exit status 1 in 3.1 s" */

	int rounds;
	int64_t verified_ms; /* the first round that passed, -1 if none */
	int verified_round;
	const char *failures;	 /* the last failed round's */
	const char *failed_from; /* the state a failure came from */

	struct seen health, err_first, err_last, lat_first, lat_last;
	bool health_seen;
	struct report_down down; /* the same computation as the completion message */
	json_t *down_spans;	 /* array of strings */
};

/* report.c. */
/* s made safe for one Markdown line, cut at max characters. New string. */
char *report_clean(const char *s, size_t max);
/* "awaiting_approval" → "awaiting approval", cleaned. New string. */
char *report_words(const char *name);
/* The person's name from inc->names, else the ID as given ("" for NULL). */
const char *report_name(const struct report_incident *inc, const char *id);
/* "revision 41", "version v2.0.0", or the method's own destination. New string. */
char *report_target_phrase(const struct scan *s, const char *target);
/* Why approval was skipped at severity sev: "P0: production down". New string. */
char *report_skip_phrase(const char *sev);
/* The last time the report knows of: the end, else the last row. */
int64_t report_known_end(const struct scan *s);
/* o[key] = v (copied); report_set_own also frees v. */
void report_set_str(json_t *o, const char *key, const char *v);
void report_set_own(json_t *o, const char *key, char *v);
/* Appends {"text": t} to list and frees t. */
void report_push_text(json_t *list, char *t);

/* report_timeline.c. */
/* Adds a line (text, owned; NULL adds nothing) to the timeline at ms. */
void report_add_entry(struct scan *s, int64_t ms, size_t order, char *text, const char *pin);
/* One row read into s; returns its line (new string), or NULL for none. */
char *report_row_text(struct scan *s, const struct row *r);
/* Sets "timeline" from s's entries, which are sorted. */
void report_put_timeline(const struct scan *s, json_t *o);

/* report_impact.c. */
/* Adds a failing span of the health check (still: failing at the last round). */
void report_span_add(struct scan *s, int64_t from, int64_t to, bool still);
/* A probe_results row read into s; returns NULL (no line of its own). */
char *report_on_probe(struct scan *s, const struct row *r);
/* Sets "impact": elevated errors, downtime, metrics, data loss. */
void report_put_impact(const struct scan *s, json_t *o);
/* Sets what the last probe round said ("health_now", "metrics_now", …). */
void report_put_now(const struct scan *s, json_t *o);

/* report_outcome.c. */
/* The commands' run time (new string), or NULL when none ran. */
char *report_commands_took(const struct scan *s);
/* The summary paragraph; took is report_commands_took's. New string. */
char *report_summary(const struct scan *s, const char *target, const char *title,
		     const char *reason, const char *took);
/* Sets "outcome", "approved_by", "verified", "executed", "draft_status". */
void report_put_outcome(const struct scan *s, json_t *o);
/* Sets "resolution": its sentence and its details. */
void report_put_resolution(const struct scan *s, json_t *o, const char *target, const char *title);
/* Sets "rollback_summary", the release plan's block. */
void report_put_rollback_summary(const struct scan *s, json_t *o, const char *target,
				 const char *title, const char *reason, const char *took);

/* Adds the sections of report_facts.c to `o`, which report.c has filled
 * (it reads "timeline", "target", "requested_by", "service", "impact"). */
void report_put_facts(json_t *o, const struct report_incident *inc,
		      const struct report_row *rows, size_t n);

#endif
