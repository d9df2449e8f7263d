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
 * Times are UTC and are read from the rows, never from a clock
 * (report_time.c); the sections the runbooks add beyond this pass are
 * report_facts.c's.
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
#include <time.h>

#include "incident.h"
#include "plan.h"
#include "render.h"
#include "report_int.h"

/* Characters of people's or programs' text one report line repeats. */
#define TEXT_MAX 200
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
static char *clean(const char *s, size_t max)
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

/* s (already clean) as a Markdown code span: fenced with one backtick
 * more than its longest run of them, and padded with spaces when the fence
 * is longer than one (CommonMark strips one space each side). Returns a new
 * string. */
static char *code(const char *s)
{
	size_t run = 0, longest = 0;
	char fence[16];

	for (const char *c = s; *c; c++) {
		run = *c == '`' ? run + 1 : 0;
		if (run > longest)
			longest = run;
	}
	if (longest + 1 >= sizeof fence)
		longest = sizeof fence - 2; /* absurd: still a span, if an odd one */
	memset(fence, '`', longest + 1);
	fence[longest + 1] = '\0';
	if (!s[0])
		return rb_strdup("`(nothing)`");
	return rb_asprintf("%s%s%s%s%s", fence, longest ? " " : "", s, longest ? " " : "", fence);
}

/* clean() then code(), for commands and output. Returns a new string. */
static char *clean_code(const char *s)
{
	char *c = clean(s, TEXT_MAX), *r = code(c);

	free(c);
	return r;
}

/* The last line of s that is not blank, as a new string ("" when none). */
static char *last_line(const char *s)
{
	const char *end, *start;

	if (!s)
		return rb_strdup("");
	end = s + strlen(s);
	while (end > s && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
		end--;
	start = end;
	while (start > s && start[-1] != '\n')
		start--;
	return rb_strndup(start, (size_t)(end - start));
}

/* "awaiting_approval" → "awaiting approval": names for people. */
static char *words(const char *name)
{
	char *w = clean(name, TEXT_MAX);

	for (char *c = w; *c; c++)
		if (*c == '_')
			*c = ' ';
	return w;
}

static bool is(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

static const char *orempty(const char *s)
{
	return s ? s : "";
}

/* ---- reading the rows ---------------------------------------------------- */

struct row {
	int64_t ms;
	size_t idx;
	char *actor; /* clean */
	const char *kind;
	json_t *d; /* the detail, an object (empty when it was not one) */
};

/* A string field of a detail: "" when missing or not a string. */
static const char *dstr(const json_t *d, const char *key)
{
	const char *v = json_string_value(json_object_get(d, key));

	return v ? v : "";
}

/* An integer field, written as a number or as digits in a string (the
 * state machine writes its numbers as text). */
static long long dint(const json_t *d, const char *key, long long dflt)
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

static bool dtrue(const json_t *d, const char *key)
{
	const json_t *v = json_object_get(d, key);

	return json_is_true(v) || is(json_string_value(v), "true");
}

/* ---- for the other report files (report_int.h) ---- */

char *report_clean(const char *s, size_t max)
{
	return clean(s, max);
}

const char *report_name(const struct report_incident *inc, const char *id)
{
	const char *name = json_string_value(json_object_get(inc->names, orempty(id)));

	return name && name[0] ? name : orempty(id);
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

static void add_entry(struct scan *s, int64_t ms, size_t order, char *text, const char *pin)
{
	if (!text)
		return;
	if (s->n == s->cap) {
		s->cap = s->cap ? s->cap * 2 : 32;
		s->e = rb_realloc(s->e, s->cap * sizeof *s->e);
	}
	s->e[s->n++] = (struct entry){ .ms = ms, .order = order, .text = text, .pin_ts = pin };
}

static void unpin(struct scan *s, const char *ts)
{
	for (size_t i = 0; i < s->n; i++) {
		if (s->e[i].text && s->e[i].pin_ts && is(s->e[i].pin_ts, ts)) {
			free(s->e[i].text);
			s->e[i].text = NULL;
		}
	}
}

/* The target as people read it: "revision 41", "version v2.0.0", or the
 * method's own destination ("the blue environment") when none is named. */
static char *target_phrase(const struct scan *s, const char *target)
{
	const struct plan_method_info *mi = s->method_known ? plan_method_info(s->method) : NULL;
	char *t = clean(target, TEXT_MAX), *r;

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

static void approver_add(json_t *list, const char *user)
{
	size_t i;
	json_t *v;

	json_array_foreach (list, i, v)
		if (is(json_string_value(v), user))
			return;
	json_array_append_new(list, json_string(user));
}

static void approver_remove(json_t *list, const char *user)
{
	size_t i;
	json_t *v;

	json_array_foreach (list, i, v) {
		if (is(json_string_value(v), user)) {
			json_array_remove(list, i);
			return;
		}
	}
}

/* ---- one text per kind of row (NULL: not in the timeline) ---------------- */

static char *on_command(struct scan *s, const struct row *r, const char *after)
{
	char *line = rb_asprintf("%s %s", dstr(r->d, "command"), dstr(r->d, "text"));
	char *c = clean_code(line), *t;

	if (s->trigger_ms < 0 && !after[0])
		s->trigger_ms = r->ms;
	else if (!after[0]) {
		s->cmd_entry = s->n; /* the entry about to be added */
		s->cmd_actor = r->actor;
		s->cmd_text = dstr(r->d, "text");
	}
	t = rb_asprintf("%s by %s%s", c, r->actor, after);
	free(line);
	free(c);
	return t;
}

static char *on_failed(struct scan *s, const char *from)
{
	char *w, *t;

	s->failed_from = from;
	if (is(from, "rolling_back") && s->failed_step)
		return rb_asprintf("failed: %s did not succeed", s->failed_step);
	if (is(from, "verifying"))
		return rb_strdup("failed: still unhealthy when the verification window ended");
	if (s->plan_error)
		return rb_strdup("failed: nothing was run");
	w = words(from);
	t = rb_asprintf("failed (was %s)", w);
	free(w);
	return t;
}

/* A state change in words. Some add nothing to the row before them: the
 * closing rows (resolved_by_hand, cancelled) already said who and why, and
 * approval_skipped already said why the incident is approved. */
static char *on_state(struct scan *s, const struct row *r)
{
	const char *to = dstr(r->d, "to"), *from = dstr(r->d, "from");
	bool by_hand = s->by_hand, skipped = s->skip_said;
	size_t i;
	json_t *v;

	s->by_hand = s->skip_said = false;
	if (is(to, "declared"))
		return rb_strdup("incident declared");
	if (is(to, "awaiting_approval")) {
		bool again = s->asked;

		json_array_clear(s->approvers); /* a new request starts from nobody */
		s->asked = true;
		return rb_strdup(again ? "approval requested again" : "approval requested");
	}
	if (is(to, "approved")) {
		json_array_foreach (s->approvers, i, v)
			approver_add(s->approved_by, json_string_value(v));
		return skipped ? NULL : rb_strdup("approved");
	}
	if (is(to, "rolling_back")) {
		if (s->rolling_ms < 0)
			s->rolling_ms = r->ms;
		return rb_strdup("rollback commands started");
	}
	if (is(to, "verifying")) {
		if (s->done_ms < 0)
			s->done_ms = r->ms;
		return rb_strdup("rollback commands done, verifying");
	}
	if (is(to, "failed")) {
		if (is(from, "rolling_back") && s->stop_ms < 0)
			s->stop_ms = r->ms;
		return on_failed(s, from);
	}
	if (by_hand && (is(to, "resolved") || is(to, "cancelled")))
		return NULL;
	if (is(to, "expired"))
		return rb_strdup("approval request expired with no decision");
	return words(to); /* resolved, rejected, cancelled */
}

static char *on_message(const struct row *r)
{
	/* Only the announcement: every other message says what a row beside
	 * it already says (a state change, a step, a status update). */
	return is(dstr(r->d, "message"), "announcement") ? rb_strdup("announcement posted") : NULL;
}

static char *on_message_failed(const struct row *r)
{
	char *what = words(dstr(r->d, "message")), *err = clean(dstr(r->d, "error"), TEXT_MAX);
	char *t = rb_asprintf("⚠️ could not post the %s message in Slack: %s", what,
			      err[0] ? err : "no reason given");

	free(what);
	free(err);
	return t;
}

static char *on_plan_ready(struct scan *s, const struct row *r)
{
	long long n = dint(r->d, "steps", 0);
	char *t = target_phrase(s, dstr(r->d, "target")), *line;

	s->target = dstr(r->d, "target");
	s->n_steps = (int)n;
	line = rb_asprintf("plan ready: %s, %lld step%s", t, n, n == 1 ? "" : "s");
	free(t);
	return line;
}

static char *on_plan_failed(struct scan *s, const struct row *r)
{
	char *e = clean(dstr(r->d, "error"), TEXT_MAX), *t;

	s->plan_error = dstr(r->d, "error");
	t = rb_asprintf("cannot plan the rollback: %s", e[0] ? e : "no reason given");
	free(e);
	return t;
}

/* "P0: production down" for the severity the runbook means, and plainly
 * for any other a configuration chose to skip. */
static char *skip_phrase(const char *sev)
{
	char *c, *t;

	if (is(sev, "P0"))
		return rb_strdup("P0: production down");
	c = clean(sev, 16);
	t = rb_asprintf("%s: configured to need no approval", c);
	free(c);
	return t;
}

static char *on_skipped(struct scan *s, const struct row *r)
{
	char *p, *t;

	s->skipped_sev = dstr(r->d, "severity");
	s->skip_said = true;
	p = skip_phrase(s->skipped_sev);
	t = rb_asprintf("approval skipped (%s)", p);
	free(p);
	return t;
}

/* Ignored reactions (rollbot's own, other emoji, people who may not
 * decide, duplicates) changed nothing and stay out of the timeline. */
static char *on_reaction(struct scan *s, const struct row *r)
{
	const char *why = dstr(r->d, "decision");
	const char *late =
		is(dstr(r->d, "source"), "recount") ? " (given while rollbot was down)" : "";

	if (is(why, "approval_counted")) {
		approver_add(s->approvers, r->actor);
		return rb_asprintf("✅ approval by %s%s", r->actor, late);
	}
	if (is(why, "rejection_counted")) {
		s->rejected_by = r->actor;
		return rb_asprintf("❌ rejection by %s%s", r->actor, late);
	}
	if (is(why, "approval_withdrawn")) {
		approver_remove(s->approvers, r->actor);
		return rb_asprintf("approval withdrawn by %s%s", r->actor,
				   late[0] ? " (while rollbot was down)" : "");
	}
	if (is(why, "plan_changed")) {
		json_array_clear(s->approvers);
		return rb_asprintf("⚠️ the plan changed before %s's reaction: approvals reset",
				   r->actor);
	}
	return NULL;
}

/* "step 2 of 3" when the plan's size is known. */
static char *step_name(const struct scan *s, long long step)
{
	return s->n_steps > 0 ? rb_asprintf("step %lld of %d", step, s->n_steps) :
				rb_asprintf("step %lld", step);
}

/* Remembers the last step that did not succeed, for the outcome. */
static void step_failed(struct scan *s, long long step, const char *how)
{
	free(s->failed_step);
	free(s->failed_how);
	s->failed_step = step_name(s, step);
	s->failed_how = rb_strdup(how);
}

static char *run_outcome(const struct row *r, bool *ok)
{
	long long ms = dint(r->d, "duration_ms", 0), code = dint(r->d, "exit_status", -2);
	char took[32];

	report_step_time(ms, took, sizeof took);
	*ok = false;
	if (dtrue(r->d, "timed_out"))
		return rb_asprintf("timed out after %s and was killed", took);
	if (code == -1)
		return rb_strdup("could not start");
	if (code == -2) /* missing or not a number */
		return rb_asprintf("exit status unknown after %s", took);
	*ok = code == 0;
	return rb_asprintf("exit status %lld in %s", code, took);
}

/* A step that did not succeed is remembered for the outcome, with the last
 * line of its output in the timeline: usually the line that says why. */
static char *on_run(struct scan *s, const struct row *r)
{
	long long step = dint(r->d, "step", -1) + 1;
	const char *cmd = dstr(r->d, "command");
	bool ok;
	char *out = run_outcome(r, &ok), *c = clean_code(cmd[0] ? cmd : dstr(r->d, "title"));
	char *tail = last_line(dstr(r->d, "output")), *t;

	s->executed = true;
	if (!ok)
		step_failed(s, step, out);
	if (!ok && tail[0]) {
		char *tc = clean_code(tail);
		t = rb_asprintf("step %lld %s: %s; last output: %s", step, c, out, tc);
		free(tc);
	} else {
		t = rb_asprintf("step %lld %s: %s", step, c, out);
	}
	free(out);
	free(c);
	free(tail);
	return t;
}

static char *on_http(struct scan *s, const struct row *r)
{
	long long step = dint(r->d, "step", -1) + 1, status = dint(r->d, "status", 0);
	bool ok = dtrue(r->d, "ok");
	char *req = rb_asprintf("%s %s", dstr(r->d, "method"), dstr(r->d, "url"));
	char *c = clean_code(req), *out, *t;

	s->executed = true;
	if (!status)
		out = rb_strdup("no answer");
	else
		out = rb_asprintf("HTTP %lld%s", status, ok ? "" : " (not a success status)");
	if (!ok)
		step_failed(s, step, out);
	t = rb_asprintf("step %lld %s: %s", step, c, out);
	free(req);
	free(c);
	free(out);
	return t;
}

static void span_add(struct scan *s, int64_t from, int64_t to, bool still)
{
	char a[32], b[32], d[32];
	char *t;

	report_clock(from, s->start_ms, a);
	report_clock(to, from, b);
	report_between_text(from, to, d, sizeof d);
	if (still && from == to)
		t = rb_asprintf("health check failing at the last check, at %s", a);
	else if (still)
		t = rb_asprintf("health check failing from %s, still failing at the last check at "
				"%s (%s)",
				a, b, d);
	else
		t = rb_asprintf("health check failing from %s to %s (%s)", a, b, d);
	json_array_append_new(s->down_spans, json_string(t));
	free(t);
}

static void probe_health(struct scan *s, const struct row *r, const json_t *c)
{
	bool passed = dtrue(c, "passed");

	/* The bot's own time of the round when the row has it, so that the
	 * report counts exactly what the completion message counted. */
	int64_t at = dint(r->d, "at_ms", r->ms), from = s->down.since_ms;

	s->health_seen = true;
	s->health = (struct seen){ at, dstr(c, "detail"), passed };
	if (report_down_observe(&s->down, at, passed) >= 0)
		span_add(s, from, at, false);
}

static void probe_metric(const struct row *r, const json_t *c, struct seen *first,
			 struct seen *last)
{
	if (!c)
		return;
	*last = (struct seen){ r->ms, dstr(c, "detail"), dtrue(c, "passed") };
	if (!first->detail)
		*first = *last;
}

/* Probe results feed the impact and the drafts; the verification row that
 * follows each one tells the round in the timeline. */
static char *on_probe(struct scan *s, const struct row *r)
{
	const json_t *h = json_object_get(r->d, "health");

	if (h)
		probe_health(s, r, h);
	probe_metric(r, json_object_get(r->d, "error_rate"), &s->err_first, &s->err_last);
	probe_metric(r, json_object_get(r->d, "latency"), &s->lat_first, &s->lat_last);
	return NULL;
}

static char *on_verification(struct scan *s, const struct row *r)
{
	long long round = dint(r->d, "round", s->rounds + 1);
	char *f, *t;

	s->rounds++;
	if (dtrue(r->d, "passed")) {
		if (s->verified_ms < 0) {
			s->verified_ms = r->ms;
			s->verified_round = (int)round;
		}
		return rb_asprintf("verification round %lld: passed", round);
	}
	s->failures = dstr(r->d, "failures");
	f = clean(s->failures, TEXT_MAX);
	t = f[0] ? rb_asprintf("verification round %lld: failed (%s)", round, f) :
		   rb_asprintf("verification round %lld: failed", round);
	free(f);
	return t;
}

static char *on_resumed(const struct row *r)
{
	char *w = words(dstr(r->d, "state")), *t;

	t = rb_asprintf("rollbot restarted (was %s)", w[0] ? w : "running");
	free(w);
	return t;
}

static char *on_status_checked(const struct row *r)
{
	char *tail = last_line(dstr(r->d, "output")), *t, *c;

	if (!tail[0]) {
		t = rb_asprintf("status command after the restart: %s",
				dtrue(r->d, "ok") ? "succeeded" : "failed");
	} else {
		c = clean_code(tail);
		t = rb_asprintf("status command after the restart: %s, %s",
				dtrue(r->d, "ok") ? "succeeded" : "failed", c);
		free(c);
	}
	free(tail);
	return t;
}

/* The closing rows: `verb` is the command that closes this way. */
static char *on_closed(struct scan *s, const struct row *r, const char *verb, const char *what)
{
	char *n;
	char *t;

	/* "/rollback cancel … by U…" just before says the same thing again. */
	if (s->cmd_entry < s->n && is(s->cmd_actor, r->actor) &&
	    !strncmp(s->cmd_text, verb, strlen(verb))) {
		free(s->e[s->cmd_entry].text);
		s->e[s->cmd_entry].text = NULL;
	}
	s->cmd_entry = SIZE_MAX;
	s->by_hand = true;
	s->closer = r->actor;
	s->closed_ms = r->ms;
	s->note = dstr(r->d, "note");
	n = clean(s->note, TEXT_MAX);
	t = n[0] ? rb_asprintf("%s by %s: %s", what, r->actor, n) :
		   rb_asprintf("%s by %s", what, r->actor);
	free(n);
	return t;
}

/* A message people marked with 📌 goes in at the time it was posted, which
 * is before the row that records the pin. */
static void on_pinned(struct scan *s, const struct row *r)
{
	const char *ts = dstr(r->d, "ts");
	char *a = clean(report_name(s->inc, dstr(r->d, "author")), 64);
	char *x = clean(dstr(r->d, "text"), TEXT_MAX);
	int64_t at = r->ms;

	if (report_parse_time(dstr(r->d, "posted_at"), &at))
		at = r->ms;
	unpin(s, ts); /* pinned twice: one entry */
	/* A message with no author (a bot's) is credited to whoever pinned it. */
	add_entry(s, at, r->idx,
		  a[0] ? rb_asprintf("📌 %s: %s", a, x) :
			 rb_asprintf("📌 %s (pinned by %s)", x, r->actor),
		  ts);
	free(a);
	free(x);
}

static char *on_step_interrupted(const struct row *r)
{
	return rb_asprintf("step %lld interrupted by the restart", dint(r->d, "step", 0));
}

static char *on_report_failed(const struct row *r)
{
	char *what = clean(dstr(r->d, "step"), 64), *err = clean(dstr(r->d, "error"), TEXT_MAX);
	char *t = rb_asprintf("⚠️ could not post the incident report: %s failed: %s",
			      what[0] ? what : "a step", err[0] ? err : "no reason given");

	free(what);
	free(err);
	return t;
}

static char *on_unknown(const struct row *r)
{
	char *w, *t;

	if (!r->kind[0])
		return NULL; /* a row with no kind says nothing */
	w = words(r->kind);
	t = rb_asprintf("%s (%s)", w, r->actor);

	free(w);
	return t;
}

/* `/rollback sent`: someone says a draft went out (report_facts.c lists them). */
static char *on_draft_sent(const struct row *r)
{
	const char *d = dstr(r->d, "draft");
	const char *what = is(d, "status-page") ? "status page update" :
			   is(d, "email")	 ? "customer email" :
			   is(d, "internal")	 ? "internal update" :
						   NULL;

	return what ? rb_asprintf("%s marked as sent by %s", what, r->actor) : on_unknown(r);
}

/* Routes one row to its handler. Unknown kinds still appear, by name, so
 * that a newer bot's rows are not silently lost from an older report. */
static char *row_text(struct scan *s, const struct row *r)
{
	const char *k = r->kind;

	if (is(k, "command_received"))
		return on_command(s, r, "");
	if (is(k, "command_refused_open_incident"))
		return on_command(s, r, " refused: this incident was open");
	if (is(k, "state_change"))
		return on_state(s, r);
	if (is(k, "message_posted"))
		return on_message(r);
	if (is(k, "message_failed"))
		return on_message_failed(r);
	if (is(k, "plan_ready"))
		return on_plan_ready(s, r);
	if (is(k, "plan_failed"))
		return on_plan_failed(s, r);
	if (is(k, "plan_changed")) {
		json_array_clear(s->approvers);
		return rb_strdup("⚠️ the plan changed after it was approved: approvals reset");
	}
	if (is(k, "approval_skipped"))
		return on_skipped(s, r);
	if (is(k, "reaction_added") || is(k, "reaction_removed"))
		return on_reaction(s, r);
	if (is(k, "command_run"))
		return on_run(s, r);
	if (is(k, "http_request"))
		return on_http(s, r);
	if (is(k, "probe_results"))
		return on_probe(s, r);
	if (is(k, "verification"))
		return on_verification(s, r);
	if (is(k, "status_update"))
		return rb_asprintf("status update %lld posted", dint(r->d, "number", 0));
	if (is(k, "resumed"))
		return on_resumed(r);
	if (is(k, "step_interrupted"))
		return on_step_interrupted(r);
	if (is(k, "status_checked"))
		return on_status_checked(r);
	if (is(k, "resolved_by_hand"))
		return on_closed(s, r, "resolve", "resolved by hand");
	if (is(k, "cancelled"))
		return on_closed(s, r, "cancel", "cancelled");
	if (is(k, "pinned")) {
		on_pinned(s, r);
		return NULL;
	}
	if (is(k, "unpinned")) {
		unpin(s, dstr(r->d, "ts"));
		return NULL;
	}
	if (is(k, "report_uploaded"))
		return rb_strdup("incident report posted in the thread");
	if (is(k, "report_failed"))
		return on_report_failed(r);
	if (is(k, "draft_sent"))
		return on_draft_sent(r);
	if (is(k, "draft_posted"))
		return NULL; /* drafts for people to edit: not an event of the incident */
	if (is(k, "step_progress") || is(k, "step_progress_posted"))
		return NULL; /* the live view of a step: its command_run row says what ran */
	return on_unknown(r);
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
		rs[i].actor = clean(report_name(inc, rows[i].actor), 64);
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
	s->closed_by = clean(report_name(inc, inc->closed_by), 64);
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
		add_entry(s, rs[i].ms, i, row_text(s, &rs[i]), NULL);
	}
	if (s->down.failing)
		span_add(s, s->down.since_ms, s->health.ms, true);
	if (s->n)
		qsort(s->e, s->n, sizeof *s->e, entry_cmp); /* e is NULL with no rows */
}

/* ---- the sections, as sentences ------------------------------------------ */

static void set_str(json_t *o, const char *key, const char *v)
{
	json_object_set_new(o, key, json_string(v));
}

/* Sets key to a string and frees it. */
static void set_own(json_t *o, const char *key, char *v)
{
	set_str(o, key, v);
	free(v);
}

/* Appends {"text": t} to list and frees t. */
static void push_text(json_t *list, char *t)
{
	json_array_append_new(list, json_pack("{s:s}", "text", t));
	free(t);
}

static bool ended(const struct scan *s)
{
	return s->end_ms >= 0;
}

/* The last time the report knows of: the end, else the last row. */
static int64_t known_end(const struct scan *s)
{
	return ended(s) ? s->end_ms : s->last_ms;
}

/* Who closed the incident by hand: the incident row says, else the rows. */
static const char *closer(const struct scan *s)
{
	return s->closed_by[0] ? s->closed_by : s->closer;
}

/* Why a failed incident failed, without "failed: " (NULL when unknown). */
static char *why_failed(const struct scan *s)
{
	char *e, *t;

	if (s->plan_error) {
		e = clean(s->plan_error, TEXT_MAX);
		t = rb_asprintf("the rollback could not be planned (%s)", e);
		free(e);
		return t;
	}
	if (s->failed_step && !is(s->failed_from, "verifying"))
		return rb_asprintf("%s did not succeed (%s)", s->failed_step, s->failed_how);
	if (is(s->failed_from, "verifying") || s->rounds > 0) {
		e = clean(s->failures, TEXT_MAX);
		t = e[0] ? rb_asprintf("still unhealthy after the rollback (%s)", e) :
			   rb_strdup("still unhealthy after the rollback");
		free(e);
		return t;
	}
	return NULL;
}

/* "resolved after verification", "cancelled by U…", "failed: …". */
static char *outcome(const struct scan *s)
{
	const char *st = s->inc->state, *who = closer(s);
	char *why, *t, *w;

	if (is(st, "resolved") && who)
		return rb_asprintf("resolved by hand by %s", who);
	if (is(st, "resolved"))
		return rb_strdup(s->verified_ms >= 0 ? "resolved after verification" : "resolved");
	if (is(st, "failed")) {
		why = why_failed(s);
		t = why ? rb_asprintf("failed: %s", why) : rb_strdup("failed");
		free(why);
		return t;
	}
	if (is(st, "rejected"))
		return s->rejected_by ? rb_asprintf("rejected by %s", s->rejected_by) :
					rb_strdup("rejected");
	if (is(st, "expired"))
		return rb_strdup("expired: no decision within the approval window");
	if (is(st, "cancelled"))
		return who ? rb_asprintf("cancelled by %s", who) : rb_strdup("cancelled");
	w = words(st);
	t = w[0] ? rb_asprintf("ongoing (%s)", w) : rb_strdup("unknown");
	free(w);
	return t;
}

static char *approved_by(const struct scan *s)
{
	struct rb_buf b;
	size_t i;
	json_t *v;
	char *p, *t;

	if (json_array_size(s->approved_by)) {
		rb_buf_init(&b, 4096);
		json_array_foreach (s->approved_by, i, v)
			if (rb_buf_printf(&b, "%s%s", i ? ", " : "", json_string_value(v)))
				break; /* 16 approvers fit many times over */
		return rb_buf_steal(&b);
	}
	if (s->skipped_sev) {
		p = skip_phrase(s->skipped_sev);
		t = rb_asprintf("approval skipped (%s)", p);
		free(p);
		return t;
	}
	return s->rejected_by ? rb_asprintf("nobody (rejected by %s)", s->rejected_by) :
				rb_strdup("nobody");
}

static char *method_title(const struct scan *s)
{
	return s->method_known ? rb_strdup(plan_method_info(s->method)->title) :
				 words(s->inc->method);
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
	set_own(o, "date", rb_strndup(a, 10));
	set_str(o, "start", a);
	set_str(o, "start_human", ha);
	json_object_set_new(o, "ongoing", json_boolean(!ended(s)));
	if (!ended(s)) {
		set_str(o, "end", "");
		set_str(o, "end_human", "ongoing");
		set_str(o, "duration", "ongoing");
		set_own(o, "duration_line", rb_asprintf("%s UTC – ongoing", a));
		set_own(o, "window_human", rb_asprintf("since %s", ha));
		return;
	}
	report_stamp(s->end_ms, b);
	report_human(s->end_ms, secs, hb);
	report_between_text(s->start_ms, s->end_ms, d, sizeof d);
	set_str(o, "end", b);
	set_str(o, "end_human", hb);
	set_str(o, "duration", d);
	if (s->inc->zone && s->inc->zone[0]) {
		char la[48], lb[48];

		/* UTC stays the reference; the operators' clock beside it. */
		report_local_clock(s->start_ms, la, sizeof la);
		report_local_clock(s->end_ms, lb, sizeof lb);
		set_own(o, "duration_line",
			rb_asprintf("%s – %s UTC (%s); %s – %s in %s", a, same_day ? b + 11 : b, d,
				    la, lb, s->inc->zone));
	} else {
		set_own(o, "duration_line",
			rb_asprintf("%s – %s UTC (%s)", a, same_day ? b + 11 : b, d));
	}
	set_own(o, "window_human",
		same_day ? rb_asprintf("from %.*s to %s", (int)hm, ha, hb) :
			   rb_asprintf("from %s to %s", ha, hb));
}

static void put_timeline(const struct scan *s, json_t *o)
{
	json_t *list = json_array();
	char at[32];

	for (size_t i = 0; i < s->n; i++) {
		if (!s->e[i].text)
			continue;
		report_stamp(s->e[i].ms, at);
		json_array_append_new(list,
				      json_pack("{s:s, s:s}", "at", at, "text", s->e[i].text));
	}
	json_object_set_new(o, "timeline", list);
}

/* How long errors were elevated, as far as the record shows: they began
 * before the /rollback, so the report says "at least". */
static char *elevated_errors(const struct scan *s)
{
	char a[32], b[32], d[32];

	report_clock(s->start_ms, s->start_ms, a);
	if (s->verified_ms >= 0) {
		report_clock(s->verified_ms, s->start_ms, b);
		report_between_text(s->start_ms, s->verified_ms, d, sizeof d);
		return rb_asprintf("at least %s of elevated errors (from the /rollback at %s to "
				   "the first passing verification at %s)",
				   d, a, b);
	}
	if (s->rounds == 0)
		return rb_strdup("not measured (no verification round ran)");
	report_clock(known_end(s), s->start_ms, b);
	report_between_text(s->start_ms, known_end(s), d, sizeof d);
	return rb_asprintf("at least %s of elevated errors (from the /rollback at %s until at "
			   "least %s; no verification round passed)",
			   d, a, b);
}

static char *downtime(const struct scan *s)
{
	char d[32];
	struct rb_buf b;
	size_t i;
	json_t *v;

	if (!s->health_seen)
		return rb_strdup("not measured (no health check)");
	if (!json_array_size(s->down_spans))
		return rb_strdup("no failing health check seen after the rollback");
	rb_buf_init(&b, 1u << 16);
	report_span(report_down_total(&s->down), d, sizeof d);
	/* One span tells its own length; several get the total first, the
	 * number the completion message showed. */
	if (json_array_size(s->down_spans) > 1 &&
	    rb_buf_printf(&b, "%s in total after the rollback: ", d))
		return rb_buf_steal(&b);
	json_array_foreach (s->down_spans, i, v)
		if (rb_buf_printf(&b, "%s%s", i ? "; " : "", json_string_value(v)))
			break; /* cut at 64 KiB: the first spans say enough */
	return rb_buf_steal(&b);
}

/* "Error rate: 6.0% (threshold 1.0%) at the first check (15:22:31), 0.12%
 * (threshold 1.0%) at the last (15:30:07)". */
static void put_metric(const struct scan *s, json_t *list, const char *name,
		       const struct seen *first, const struct seen *last)
{
	char a[32], b[32];
	char *x, *y;

	if (!first->detail)
		return;
	x = clean(first->detail, TEXT_MAX);
	y = clean(last->detail, TEXT_MAX);
	report_clock(first->ms, s->start_ms, a);
	report_clock(last->ms, first->ms, b);
	if (first->ms == last->ms)
		push_text(list, rb_asprintf("%s: %s at the only check (%s)", name, x, a));
	else
		push_text(list, rb_asprintf("%s: %s at the first check (%s), %s at the last (%s)",
					    name, x, a, y, b));
	free(x);
	free(y);
}

static void put_impact(const struct scan *s, json_t *o)
{
	json_t *im = json_object(), *metrics = json_array();
	bool db_ran = s->inc->with_db && s->executed;

	set_own(im, "elevated_errors", elevated_errors(s));
	set_own(im, "downtime", downtime(s));
	put_metric(s, metrics, "Error rate", &s->err_first, &s->err_last);
	put_metric(s, metrics, "p99 latency", &s->lat_first, &s->lat_last);
	if (!json_array_size(metrics))
		push_text(metrics, rb_strdup("Metrics: not measured (no error rate or latency "
					     "check ran)"));
	json_object_set_new(im, "metrics", metrics);
	json_object_set_new(im, "has_data_loss", json_boolean(db_ran));
	set_str(im, "data_loss",
		db_ran ? "a database down-migration ran: check for lost writes" : "");
	json_object_set_new(o, "impact", im);
}

/* The commands' run time: rolling_back to verifying (or to the failure). */
static char *commands_took(const struct scan *s)
{
	int64_t to = s->done_ms >= 0 ? s->done_ms : s->stop_ms;
	char d[32];

	if (s->rolling_ms < 0)
		return NULL;
	if (to < 0)
		return rb_strdup("not finished");
	report_between_text(s->rolling_ms, to, d, sizeof d);
	return rb_strdup(d);
}

/* One sentence on what was done instead of, or besides, the rollback. */
static char *resolution_text(const struct scan *s, const char *target, const char *title)
{
	const char *who = closer(s);
	char *note = clean(s->note, TEXT_MAX), *why = why_failed(s), *out = outcome(s), *t;
	char *fail = clean(s->failures, TEXT_MAX);

	if (!s->executed)
		t = rb_asprintf("None: nothing was run (%s).", out);
	else if (is(s->inc->state, "resolved") && who && s->verified_ms < 0)
		t = rb_asprintf("Rolled back to %s using %s, then resolved by hand by %s%s%s%s.",
				target, title, who, note[0] ? ", noting \"" : "", note,
				note[0] ? "\"" : "");
	else if (is(s->inc->state, "resolved"))
		t = rb_asprintf("Rolled back to %s using %s.", target, title);
	else if (is(s->inc->state, "failed") && is(s->failed_from, "verifying"))
		t = rb_asprintf("Rolled back to %s using %s, but the service did not pass "
				"verification%s%s%s.",
				target, title, fail[0] ? " (" : "", fail, fail[0] ? ")" : "");
	else if (is(s->inc->state, "failed"))
		t = rb_asprintf("Not rolled back: %s. The service may be between versions: check "
				"it before acting.",
				why ? why : "the rollback failed");
	else
		t = rb_asprintf("Rolling back to %s using %s: %s.", target, title, out);
	free(note);
	free(why);
	free(out);
	free(fail);
	return t;
}

static void put_resolution(const struct scan *s, json_t *o, const char *target, const char *title)
{
	json_t *r = json_object(), *details = json_array();
	char *took = commands_took(s);
	char a[32], b[32], d[32];

	set_own(r, "text", resolution_text(s, target, title));
	if (took && s->done_ms >= 0) {
		report_clock(s->rolling_ms, s->start_ms, a);
		report_clock(s->done_ms, s->rolling_ms, b);
		push_text(details, rb_asprintf("Rollback commands: %s (%s – %s)", took, a, b));
	} else if (took) {
		push_text(details, rb_asprintf("Rollback commands: %s", took));
	}
	if (s->verified_ms >= 0) {
		report_clock(s->verified_ms, s->start_ms, a);
		report_between_text(s->start_ms, s->verified_ms, d, sizeof d);
		push_text(details, rb_asprintf("Verified at %s, %s after the /rollback "
					       "(verification round %d)",
					       a, d, s->verified_round));
	}
	free(took);
	json_object_set_new(r, "has_details", json_boolean(json_array_size(details) > 0));
	json_object_set_new(r, "details", details);
	json_object_set_new(o, "resolution", r);
}

/* s with its first letter in capitals (ASCII only: the phrases are ours). */
static char *capital(char *s)
{
	if (s[0] >= 'a' && s[0] <= 'z')
		s[0] = (char)(s[0] - 'a' + 'A');
	return s;
}

/* The summary's last sentence for an incident closed by hand. */
static char *ending_by_hand(const struct scan *s, const char *what)
{
	const char *who = closer(s);
	char *note = clean(s->note, TEXT_MAX), *t;
	char at[32];

	/* No closing row (an older log): the end is when it was closed. */
	report_clock(s->closed_ms >= 0 ? s->closed_ms : known_end(s), s->start_ms, at);
	if (is(what, "resolved") && s->executed)
		t = rb_asprintf("Before any verification round passed, %s resolved it by hand at "
				"%s%s%s%s.",
				who ? who : "someone", at, note[0] ? ", noting \"" : "", note,
				note[0] ? "\"" : "");
	else
		t = rb_asprintf("%s %s it at %s%s%s%s%s.", who ? who : "Someone", what, at,
				s->executed ? "" : ", before anything was run",
				note[0] ? ", noting \"" : "", note, note[0] ? "\"" : "");
	free(note);
	return t;
}

/* The summary's last sentence for a failure. */
static char *ending_failed(const struct scan *s, const char *took)
{
	char *fail = clean(s->failures, TEXT_MAX), *step, *t;

	if (s->plan_error) {
		t = rb_strdup("The rollback could not be planned, so nothing was run.");
	} else if (is(s->failed_from, "verifying")) {
		t = rb_asprintf("The rollback commands ran in %s, but the service was still "
				"unhealthy when the verification window ended%s%s%s; the incident "
				"was left open for people to act.",
				took, fail[0] ? " (" : "", fail, fail[0] ? ")" : "");
	} else if (s->failed_step) {
		step = capital(rb_strdup(s->failed_step));
		t = rb_asprintf("%s did not succeed (%s), so the rollback stopped there and the "
				"incident was left open for people to act.",
				step, s->failed_how);
		free(step);
	} else {
		t = rb_strdup("The rollback failed and the incident was left open for people to "
			      "act.");
	}
	free(fail);
	return t;
}

/* How it ended, as the summary's last sentence. */
static char *ending(const struct scan *s, const char *took)
{
	const char *st = s->inc->state;
	char at[32], d[32], *w, *t;

	if (is(st, "resolved") && !closer(s) && s->verified_ms >= 0) {
		report_clock(s->verified_ms, s->start_ms, at);
		report_between_text(s->start_ms, s->verified_ms, d, sizeof d);
		return rb_asprintf("The rollback commands ran in %s and the service passed "
				   "verification at %s, %s after the request.",
				   took, at, d);
	}
	if (is(st, "resolved") || (is(st, "cancelled") && closer(s)))
		return ending_by_hand(s, st);
	if (is(st, "failed"))
		return ending_failed(s, took);
	if (is(st, "rejected"))
		return rb_asprintf("%s rejected it, so nothing was run%s.",
				   s->rejected_by ? s->rejected_by : "An approver",
				   s->executed ? " again" : "");
	if (is(st, "expired"))
		return rb_strdup("Nobody decided before the approval request expired, so nothing "
				 "was run.");
	w = words(st);
	t = is(st, "cancelled") ? rb_strdup("It was cancelled.") :
				  rb_asprintf("It is still %s.", w);
	free(w);
	return t;
}

static char *summary(const struct scan *s, const char *target, const char *title,
		     const char *reason, const char *took)
{
	char *req = clean(report_name(s->inc, s->inc->requested_by), 64);
	char *svc = clean(s->inc->service, TEXT_MAX);
	char *end = ending(s, took), *skip = NULL, *t;

	if (s->skipped_sev) {
		char *p = skip_phrase(s->skipped_sev);
		skip = rb_asprintf(" Approval was skipped (%s).", p);
		free(p);
	}
	if (reason[0])
		t = rb_asprintf(
			"%s asked to roll %s back to %s using %s, giving the reason \"%s\".%s "
			"%s",
			req, svc, target, title, reason, skip ? skip : "", end);
	else
		t = rb_asprintf(
			"%s asked to roll %s back to %s using %s, without giving a reason.%s "
			"%s",
			req, svc, target, title, skip ? skip : "", end);
	free(req);
	free(svc);
	free(end);
	free(skip);
	return t;
}

static bool inc_final(const char *state)
{
	enum inc_state st;

	return inc_state_from_name(orempty(state), &st) == 0 && inc_state_is_final(st);
}

/* "Yes", or "No: " and why, for the release plan's "Rollback Success". */
static char *success(const struct scan *s)
{
	const char *st = s->inc->state;
	char *why, *t, *w;

	if (is(st, "resolved") && s->verified_ms >= 0 && !closer(s))
		return rb_strdup("Yes");
	if (is(st, "resolved"))
		return rb_asprintf("No: resolved by hand by %s before any verification round "
				   "passed",
				   closer(s) ? closer(s) : "someone");
	if (is(st, "failed")) {
		why = why_failed(s);
		t = rb_asprintf("No: %s", why ? why : "failed");
		free(why);
		return t;
	}
	if (!inc_final(st)) {
		w = words(st);
		t = rb_asprintf("Not yet: the incident is still %s", w);
		free(w);
		return t;
	}
	why = outcome(s);
	t = rb_asprintf("No: %s%s", why, s->executed ? "" : ", nothing was run");
	free(why);
	return t;
}

static char *executed(const struct scan *s)
{
	if (!s->executed)
		return rb_strdup("No");
	if (s->failed_step && s->done_ms < 0)
		return rb_asprintf("Yes, but %s did not succeed", s->failed_step);
	return rb_strdup("Yes");
}

static void put_rollback_summary(const struct scan *s, json_t *o, const char *target,
				 const char *title, const char *reason, const char *took)
{
	json_t *r = json_object();
	char at[32];
	char *name = clean(s->inc->method, 64);

	report_stamp(s->trigger_ms >= 0 ? s->trigger_ms : s->start_ms, at);
	set_own(r, "executed", executed(s));
	set_own(r, "trigger_time", rb_asprintf("%s UTC", at));
	set_str(r, "trigger_reason", reason[0] ? reason : "not given");
	set_own(r, "method", rb_asprintf("%s (%s), to %s", title, name, target));
	set_str(r, "duration", took ? took : "none (nothing was run)");
	set_own(r, "success", success(s));
	json_object_set_new(o, "rollback_summary", r);
	free(name);
}

/* What the last probe round said, for the drafts' "Health" and "Metrics". */
static void put_now(const struct scan *s, json_t *o)
{
	json_t *list = json_array();
	char *h = clean(s->health.detail, TEXT_MAX), *e = clean(s->err_last.detail, TEXT_MAX);
	char *l = clean(s->lat_last.detail, TEXT_MAX);

	if (!s->health_seen)
		set_str(o, "health_now", "not checked (no health check)");
	else
		set_own(o, "health_now",
			rb_asprintf("health check %s%s%s%s",
				    s->health.passed ? "passing" : "failing", h[0] ? " (" : "", h,
				    h[0] ? ")" : ""));
	set_str(o, "error_rate_now", e[0] ? e : "not measured");
	set_str(o, "latency_now", l[0] ? l : "not measured");
	if (e[0])
		json_array_append_new(list,
				      json_pack("{s:s, s:s}", "name", "Error rate", "value", e));
	if (l[0])
		json_array_append_new(
			list, json_pack("{s:s, s:s}", "name", "Response time (p99)", "value", l));
	json_object_set_new(o, "metrics_now", list);
	free(h);
	free(e);
	free(l);
}

/* The incident's own fields, made safe, and the phrases built from them. */
static void put_incident(const struct scan *s, json_t *o, const char *target, const char *title,
			 const char *reason)
{
	const struct report_incident *inc = s->inc;

	set_own(o, "id", clean(inc->id, 64));
	set_own(o, "service", clean(inc->service, TEXT_MAX));
	set_own(o, "severity", clean(inc->severity, 16));
	set_own(o, "state", clean(inc->state, 32));
	set_own(o, "method", clean(inc->method, 64));
	set_str(o, "method_title", title);
	set_str(o, "target", target);
	set_str(o, "reason", reason[0] ? reason : "not given");
	set_own(o, "requested_by", clean(report_name(inc, inc->requested_by), 64));
	set_own(o, "channel", clean(inc->channel, 64));
	json_object_set_new(o, "with_db", json_boolean(inc->with_db));
}

static void put_outcome(const struct scan *s, json_t *o)
{
	char *out = outcome(s);
	bool verified = is(s->inc->state, "resolved") && s->verified_ms >= 0 && !closer(s);

	json_object_set_new(o, "verified", json_boolean(verified));
	json_object_set_new(o, "executed", json_boolean(s->executed));
	set_own(o, "approved_by", approved_by(s));
	set_own(o, "draft_status",
		verified ? rb_strdup("Rollback successful, service verified") :
			   capital(rb_strdup(out)));
	set_own(o, "outcome", out);
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
	target = target_phrase(&s, s.target ? s.target : inc->target);
	title = method_title(&s);
	reason = clean(inc->reason, 2 * TEXT_MAX);
	took = commands_took(&s);
	put_incident(&s, o, target, title, reason);
	put_header(&s, o);
	put_outcome(&s, o);
	set_own(o, "summary", summary(&s, target, title, reason, took ? took : "no time"));
	put_timeline(&s, o);
	put_impact(&s, o);
	put_resolution(&s, o, target, title);
	put_rollback_summary(&s, o, target, title, reason, took);
	put_now(&s, o);
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
