/* rollbot — the report's timeline, one line per row (MIT licence, see LICENSE).
 *
 * report_row_text reads one audit row, in the order written, into the
 * scan: it returns the row's line of the timeline (NULL for rows that a
 * post-mortem reader does not need) and notes on the way what the other
 * sections need (who approved, when the commands started and ended, which
 * step failed, which verification round passed, who closed the incident).
 * Commands and output go in Markdown code spans wide enough for their
 * backticks. Pinned messages go in at the time they were posted, and out
 * again when unpinned. Split out of report.c (report_int.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_int.h"

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

/* report_clean() then code(), for commands and output. Returns a new string. */
static char *clean_code(const char *s)
{
	char *c = report_clean(s, TEXT_MAX), *r = code(c);

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

/* Adds a line to the timeline (text is taken; NULL adds nothing). */
void report_add_entry(struct scan *s, int64_t ms, size_t order, char *text, const char *pin)
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
	w = report_words(from);
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
	return report_words(to); /* resolved, rejected, cancelled */
}

static char *on_message(const struct row *r)
{
	/* Only the announcement: every other message says what a row beside
	 * it already says (a state change, a step, a status update). */
	return is(dstr(r->d, "message"), "announcement") ? rb_strdup("announcement posted") : NULL;
}

static char *on_message_failed(const struct row *r)
{
	char *what = report_words(dstr(r->d, "message")),
	     *err = report_clean(dstr(r->d, "error"), TEXT_MAX);
	char *t = rb_asprintf("⚠️ could not post the %s message in Slack: %s", what,
			      err[0] ? err : "no reason given");

	free(what);
	free(err);
	return t;
}

static char *on_plan_ready(struct scan *s, const struct row *r)
{
	long long n = dint(r->d, "steps", 0);
	char *t = report_target_phrase(s, dstr(r->d, "target")), *line;

	s->target = dstr(r->d, "target");
	s->n_steps = (int)n;
	line = rb_asprintf("plan ready: %s, %lld step%s", t, n, n == 1 ? "" : "s");
	free(t);
	return line;
}

static char *on_plan_failed(struct scan *s, const struct row *r)
{
	char *e = report_clean(dstr(r->d, "error"), TEXT_MAX), *t;

	s->plan_error = dstr(r->d, "error");
	t = rb_asprintf("cannot plan the rollback: %s", e[0] ? e : "no reason given");
	free(e);
	return t;
}

static char *on_skipped(struct scan *s, const struct row *r)
{
	char *p, *t;

	s->skipped_sev = dstr(r->d, "severity");
	s->skip_said = true;
	p = report_skip_phrase(s->skipped_sev);
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
	f = report_clean(s->failures, TEXT_MAX);
	t = f[0] ? rb_asprintf("verification round %lld: failed (%s)", round, f) :
		   rb_asprintf("verification round %lld: failed", round);
	free(f);
	return t;
}

static char *on_resumed(const struct row *r)
{
	char *w = report_words(dstr(r->d, "state")), *t;

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
	n = report_clean(s->note, TEXT_MAX);
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
	char *a = report_clean(report_name(s->inc, dstr(r->d, "author")), 64);
	char *x = report_clean(dstr(r->d, "text"), TEXT_MAX);
	int64_t at = r->ms;

	if (report_parse_time(dstr(r->d, "posted_at"), &at))
		at = r->ms;
	unpin(s, ts); /* pinned twice: one entry */
	/* A message with no author (a bot's) is credited to whoever pinned it. */
	report_add_entry(s, at, r->idx,
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
	char *what = report_clean(dstr(r->d, "step"), 64),
	     *err = report_clean(dstr(r->d, "error"), TEXT_MAX);
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
	w = report_words(r->kind);
	t = rb_asprintf("%s (%s)", w, r->actor);

	free(w);
	return t;
}

/* Who an escalation added ("U1,S2"): people by name, a group as "the
 * group S2" (its members are not in the record). New string. */
static char *escalated_who(const struct scan *s, const char *added)
{
	struct rb_buf b;
	char *who;
	int rc = 0;

	rb_buf_init(&b, 512);
	while (*added && !rc) {
		size_t n = strcspn(added, ",");
		char *id = rb_strndup(added, n);

		rc = rb_buf_printf(&b, "%s%s%s", b.len ? ", " : "", id[0] == 'S' ? "the group " : "",
				   id[0] == 'S' ? id : report_name(s->inc, id));
		free(id);
		added += n + (added[n] == ',');
	}
	who = report_clean(rb_buf_str(&b), 300);
	rb_buf_free(&b);
	return who;
}

/* An unanswered approval request extended to the fallback approvers, or
 * one sent to them at once because the approvers alone were too few. */
static char *on_escalated(const struct scan *s, const struct row *r)
{
	char after[64], *out;
	char *who = escalated_who(s, dstr(r->d, "added"));

	if (is(dstr(r->d, "reason"), "short_handed")) {
		const char *n = dstr(r->d, "needed"), *e = dstr(r->d, "eligible");

		if (is(e, "0") || !e[0])
			out = rb_asprintf("approval request sent to the fallback approvers at once "
					  "(%s): %s approval%s needed and no approver could give %s",
					  who, n, is(n, "1") ? "" : "s", is(n, "1") ? "it" : "them");
		else
			out = rb_asprintf("approval request sent to the fallback approvers at once "
					  "(%s): %s approval%s needed and only %s approver%s could "
					  "give them",
					  who, n, is(n, "1") ? "" : "s", e, is(e, "1") ? "" : "s");
		free(who);
		return out;
	}
	report_span(strtoll(dstr(r->d, "after_s"), NULL, 10) * 1000, after, sizeof after);
	out = rb_asprintf("no decision after %s: approval request escalated to the fallback "
			  "approvers (%s)", after, who);
	free(who);
	return out;
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
char *report_row_text(struct scan *s, const struct row *r)
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
	if (is(k, "approval_escalated"))
		return on_escalated(s, r);
	if (is(k, "reaction_added") || is(k, "reaction_removed"))
		return on_reaction(s, r);
	if (is(k, "command_run"))
		return on_run(s, r);
	if (is(k, "http_request"))
		return on_http(s, r);
	if (is(k, "probe_results"))
		return report_on_probe(s, r);
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
	if (is(k, "detected"))
		return NULL; /* report_facts.c puts the detection at its own time */
	if (is(k, "step_progress") || is(k, "step_progress_posted"))
		return NULL; /* the live view of a step: its command_run row says what ran */
	return on_unknown(r);
}

/* "timeline": the entries still there, in time order. */
void report_put_timeline(const struct scan *s, json_t *o)
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
