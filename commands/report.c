/* rollbot — the incident report, from the audit log alone (MIT licence, see LICENSE).
 *
 * This file owns report_data: one pass over the audit rows, in the order
 * they were written, that does two things at once. It writes the timeline
 * (one line per event that a person would want in a post-mortem), and it
 * gathers the facts the other sections are made of: who approved, when the
 * commands started and ended, which verification round passed, what the
 * probes saw first and last, how the incident ended. The sections are then
 * written from those facts as finished sentences, so the templates stay
 * free of logic and `rollbot report --format json` shows the same words.
 *
 * The pass and the header are here; each row's line is report_timeline.c's,
 * what the probes saw report_impact.c's, how it ended report_outcome.c's
 * (they share struct scan through report_int.h). Times are UTC and are read
 * from the rows, never from a clock (report_time.c); the sections the
 * runbooks add beyond this pass are report_facts.c's.
 *
 * Text that came from people or programs (notes, pinned messages, command
 * output) is made safe for one Markdown line: control characters become
 * spaces, invalid UTF-8 becomes '?', and it is cut at TEXT_MAX characters
 * with "…". Nothing is escaped (the report is for people to edit), but
 * commands and output go in code spans wide enough for their backticks.
 */
#include "report.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "render.h"
#include "report_int.h"

/* A rendered report or draft: far more than any incident writes. */
#define REPORT_OUT_MAX (1u << 20)

/* ---- text ---------------------------------------------------------------- */

/* The length of the valid UTF-8 sequence at s (1-4 bytes, as jansson
 * accepts: no overlong forms, no surrogates, nothing past U+10FFFF), or 0. */
static size_t utf8_seq(const unsigned char *s)
{
	size_t n;
	unsigned cp;

	if (s[0] < 0x80)
		return 1;
	if (s[0] >= 0xC2 && s[0] <= 0xDF)
		n = 2, cp = s[0] & 0x1Fu;
	else if (s[0] >= 0xE0 && s[0] <= 0xEF)
		n = 3, cp = s[0] & 0x0Fu;
	else if (s[0] >= 0xF0 && s[0] <= 0xF4)
		n = 4, cp = s[0] & 0x07u;
	else
		return 0;
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xC0) != 0x80)
			return 0;
		cp = cp << 6 | (s[i] & 0x3Fu);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	return n;
}

/* A copy of s fit for one line of the report: control characters become
 * spaces, bytes that are not UTF-8 become '?', the ends are trimmed, and
 * past max characters it is cut and ends with "…". NULL reads as "".
 * Returns a new string (free with free()). */
char *report_clean(const char *s, size_t max)
{
	const unsigned char *p = (const unsigned char *)(s ? s : "");
	char *out = rb_malloc(strlen((const char *)p) + sizeof "…");
	size_t o = 0, chars = 0, n;

	while (*p == ' ' || (*p && *p < 0x20) || *p == 0x7F)
		p++;
	for (; *p && chars < max; chars++, p += n) {
		n = utf8_seq(p);
		if (!n) {
			out[o++] = '?';
			n = 1;
		} else if (n == 1 && (*p < 0x20 || *p == 0x7F)) {
			out[o++] = ' ';
		} else {
			memcpy(out + o, p, n);
			o += n;
		}
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	if (*p) {
		memcpy(out + o, "…", sizeof "…");
		o += sizeof "…" - 1;
	}
	out[o] = '\0';
	return out;
}

/* "awaiting_approval" → "awaiting approval": names for people. */
char *report_words(const char *name)
{
	char *w = report_clean(name, TEXT_MAX);

	for (char *c = w; *c; c++)
		if (*c == '_')
			*c = ' ';
	return w;
}

/* ---- names and phrases that more than one file says ---------------------- */

/* The person's name from inc->names, else the ID as given ("" for NULL). */
const char *report_name(const struct report_incident *inc, const char *id)
{
	const char *name = json_string_value(json_object_get(inc->names, orempty(id)));

	return name && name[0] ? name : orempty(id);
}

/* The target as people read it: "revision 41", "version v2.0.0", or the
 * method's own destination ("the blue environment") when none is named. */
char *report_target_phrase(const struct scan *s, const char *target)
{
	const struct plan_method_info *mi = s->method_known ? plan_method_info(s->method) : NULL;
	char *t = report_clean(target, TEXT_MAX), *r;

	if (!t[0])
		r = rb_strdup(mi ? mi->default_target : "the previous version");
	else if (mi && mi->target == PLAN_TARGET_REVISION)
		r = rb_asprintf("revision %s", t);
	else if (mi && mi->target == PLAN_TARGET_VERSION)
		r = rb_asprintf("version %s", t);
	else
		r = rb_strdup(t);
	free(t);
	return r;
}

/* "P0: production down" for the severity the runbook means, and plainly
 * for any other a configuration chose to skip. */
char *report_skip_phrase(const char *sev)
{
	char *c, *t;

	if (is(sev, "P0"))
		return rb_strdup("P0: production down");
	c = report_clean(sev, 16);
	t = rb_asprintf("%s: configured to need no approval", c);
	free(c);
	return t;
}

/* ---- the pass ------------------------------------------------------------ */

/* The rows as times and JSON. A time that cannot be read takes the one
 * before it, so the row stays where it was written. Returns a new array
 * (free with free_rows). */
static struct row *read_rows(const struct report_incident *inc, const struct report_row *rows,
			     size_t n, int64_t start_ms)
{
	struct row *rs = rb_calloc(n + 1, sizeof *rs);
	int64_t prev = start_ms;

	for (size_t i = 0; i < n; i++) {
		json_t *d = json_loads(orempty(rows[i].detail), JSON_DECODE_ANY, NULL);

		if (report_parse_time(rows[i].at, &rs[i].ms))
			rs[i].ms = prev;
		prev = rs[i].ms;
		rs[i].idx = i;
		rs[i].actor = report_clean(report_name(inc, rows[i].actor), 64);
		rs[i].kind = orempty(rows[i].kind);
		if (!json_is_object(d)) {
			json_decref(d);
			d = json_object();
		}
		rs[i].d = d;
	}
	return rs;
}

static void free_rows(struct row *rs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(rs[i].actor);
		json_decref(rs[i].d);
	}
	free(rs);
}

static int entry_cmp(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	if (x->ms != y->ms)
		return x->ms < y->ms ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;
}

static void scan_init(struct scan *s, const struct report_incident *inc)
{
	memset(s, 0, sizeof *s);
	s->inc = inc;
	s->method_known = plan_method_from_name(inc->method, &s->method) == 0;
	s->end_ms = -1;
	s->trigger_ms = s->rolling_ms = s->done_ms = s->stop_ms = -1;
	s->verified_ms = s->closed_ms = -1;
	s->cmd_entry = SIZE_MAX;
	s->closed_by = report_clean(report_name(inc, inc->closed_by), 64);
	s->approvers = json_array();
	s->approved_by = json_array();
	s->down_spans = json_array();
}

static void scan_free(struct scan *s)
{
	for (size_t i = 0; i < s->n; i++)
		free(s->e[i].text);
	free(s->e);
	free(s->failed_step);
	free(s->failed_how);
	free(s->closed_by);
	json_decref(s->approvers);
	json_decref(s->approved_by);
	json_decref(s->down_spans);
}

/* Every row once, in the order written; then the health check that was
 * still failing at the last round is closed at that round. */
static void scan_rows(struct scan *s, const struct row *rs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		if (rs[i].ms > s->last_ms)
			s->last_ms = rs[i].ms;
		report_add_entry(s, rs[i].ms, i, report_row_text(s, &rs[i]), NULL);
	}
	if (s->down.failing)
		report_span_add(s, s->down.since_ms, s->health.ms, true);
	if (s->n)
		qsort(s->e, s->n, sizeof *s->e, entry_cmp); /* e is NULL with no rows */
}

/* ---- the sections, as sentences ------------------------------------------ */

/* Sets key to a copy of v. */
void report_set_str(json_t *o, const char *key, const char *v)
{
	json_object_set_new(o, key, json_string(v));
}

/* Sets key to a string and frees it. */
void report_set_own(json_t *o, const char *key, char *v)
{
	report_set_str(o, key, v);
	free(v);
}

/* Appends {"text": t} to list and frees t. */
void report_push_text(json_t *list, char *t)
{
	json_array_append_new(list, json_pack("{s:s}", "text", t));
	free(t);
}

static bool ended(const struct scan *s)
{
	return s->end_ms >= 0;
}

/* The last time the report knows of: the end, else the last row. */
int64_t report_known_end(const struct scan *s)
{
	return ended(s) ? s->end_ms : s->last_ms;
}

static char *method_title(const struct scan *s)
{
	return s->method_known ? rb_strdup(plan_method_info(s->method)->title) :
				 report_words(s->inc->method);
}

/* The head: when, how long, how it ended. */
static void put_header(const struct scan *s, json_t *o)
{
	char a[32], b[32], d[32], ha[48], hb[48];
	bool same_day =
		ended(s) && report_floor_div(s->start_ms, MS_PER_DAY) ==
				    report_floor_div(s->end_ms, MS_PER_DAY);
	/* Seconds in the window whenever it is short: one rule for both ends. */
	bool secs = ended(s) && s->end_ms - s->start_ms < 3600 * 1000;
	size_t hm = secs ? 8 : 5;

	report_stamp(s->start_ms, a);
	report_human(s->start_ms, secs, ha);
	report_set_own(o, "date", rb_strndup(a, 10));
	report_set_str(o, "start", a);
	report_set_str(o, "start_human", ha);
	json_object_set_new(o, "ongoing", json_boolean(!ended(s)));
	if (!ended(s)) {
		report_set_str(o, "end", "");
		report_set_str(o, "end_human", "ongoing");
		report_set_str(o, "duration", "ongoing");
		if (s->inc->zone && s->inc->zone[0]) {
			char la[48];

			report_local_clock(s->start_ms, la, sizeof la);
			report_set_own(o, "duration_line",
				       rb_asprintf("%s UTC – ongoing; from %s in %s", a, la,
						   s->inc->zone));
		} else {
			report_set_own(o, "duration_line", rb_asprintf("%s UTC – ongoing", a));
		}
		report_set_own(o, "window_human", rb_asprintf("since %s", ha));
		return;
	}
	report_stamp(s->end_ms, b);
	report_human(s->end_ms, secs, hb);
	report_between_text(s->start_ms, s->end_ms, d, sizeof d);
	report_set_str(o, "end", b);
	report_set_str(o, "end_human", hb);
	report_set_str(o, "duration", d);
	if (s->inc->zone && s->inc->zone[0]) {
		char la[48], lb[48];

		/* UTC stays the reference; the operators' clock beside it. */
		report_local_clock(s->start_ms, la, sizeof la);
		report_local_clock(s->end_ms, lb, sizeof lb);
		report_set_own(o, "duration_line",
			       rb_asprintf("%s – %s UTC (%s); %s – %s in %s", a,
					   same_day ? b + 11 : b, d, la, lb, s->inc->zone));
	} else {
		report_set_own(o, "duration_line",
			       rb_asprintf("%s – %s UTC (%s)", a, same_day ? b + 11 : b, d));
	}
	report_set_own(o, "window_human",
		       same_day ? rb_asprintf("from %.*s to %s", (int)hm, ha, hb) :
				  rb_asprintf("from %s to %s", ha, hb));
}

/* The incident's own fields, made safe, and the phrases built from them. */
static void put_incident(const struct scan *s, json_t *o, const char *target, const char *title,
			 const char *reason)
{
	const struct report_incident *inc = s->inc;

	report_set_own(o, "id", report_clean(inc->id, 64));
	report_set_own(o, "service", report_clean(inc->service, TEXT_MAX));
	report_set_own(o, "severity", report_clean(inc->severity, 16));
	report_set_own(o, "state", report_clean(inc->state, 32));
	report_set_own(o, "method", report_clean(inc->method, 64));
	report_set_str(o, "method_title", title);
	report_set_str(o, "target", target);
	report_set_str(o, "reason", reason[0] ? reason : "not given");
	report_set_own(o, "requested_by", report_clean(report_name(inc, inc->requested_by), 64));
	report_set_own(o, "channel", report_clean(inc->channel, 64));
	json_object_set_new(o, "with_db", json_boolean(inc->with_db));
}

/* The whole report (report.h). The sections are written from one scan of
 * the rows; nothing here can fail but allocation, which aborts. */
json_t *report_data(const struct report_incident *inc, const struct report_row *rows, size_t n)
{
	struct scan s;
	struct row *rs;
	json_t *o = json_object();
	char *target, *title, *reason, *took;

	scan_init(&s, inc);
	if (report_parse_time(inc->created_at, &s.start_ms) && n > 0 &&
	    report_parse_time(rows[0].at, &s.start_ms))
		s.start_ms = 0;
	if (inc->ended_at && inc->ended_at[0] && report_parse_time(inc->ended_at, &s.end_ms))
		s.end_ms = -1;
	s.last_ms = s.start_ms;
	rs = read_rows(inc, rows, n, s.start_ms);
	scan_rows(&s, rs, n);
	target = report_target_phrase(&s, s.target ? s.target : inc->target);
	title = method_title(&s);
	reason = report_clean(inc->reason, 2 * TEXT_MAX);
	took = report_commands_took(&s);
	put_incident(&s, o, target, title, reason);
	put_header(&s, o);
	report_put_outcome(&s, o);
	report_set_own(o, "summary",
		       report_summary(&s, target, title, reason, took ? took : "no time"));
	report_put_timeline(&s, o);
	report_put_impact(&s, o);
	report_put_resolution(&s, o, target, title);
	report_put_rollback_summary(&s, o, target, title, reason, took);
	report_put_now(&s, o);
	report_put_facts(o, inc, rows, n);
	free(target);
	free(title);
	free(reason);
	free(took);
	scan_free(&s);
	free_rows(rs, n);
	return o;
}

/* Renders with Slack escaping: {{x}} in the drafts is escaped for Slack,
 * and the Markdown report uses {{{x}}} only, which nothing escapes. */
char *report_render(const char *tmpl, const json_t *data, char *err, size_t errlen)
{
	struct rb_buf out;

	rb_buf_init(&out, REPORT_OUT_MAX);
	/* tpl_render only reads data; its prototype predates const. */
	if (tpl_render(tmpl ? tmpl : "", (json_t *)data, TPL_ESC_SLACK, NULL, NULL, &out, err,
		       errlen)) {
		rb_buf_free(&out);
		return NULL;
	}
	return rb_buf_steal(&out);
}
