/* rollbot — how the incident ended, in the report's words (MIT licence, see LICENSE).
 *
 * From what the pass over the rows gathered (struct scan): the outcome
 * ("resolved after verification", "failed: …"), who approved, the summary
 * paragraph and its last sentence, the resolution and its details, and the
 * release plan's rollback summary ("Rollback Success: Yes"). The drafts'
 * status line is the outcome too. Split out of report.c (report_int.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "incident.h"
#include "plan.h"
#include "report_int.h"

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
		e = report_clean(s->plan_error, TEXT_MAX);
		t = rb_asprintf("the rollback could not be planned (%s)", e);
		free(e);
		return t;
	}
	if (s->failed_step && !is(s->failed_from, "verifying"))
		return rb_asprintf("%s did not succeed (%s)", s->failed_step, s->failed_how);
	if (is(s->failed_from, "verifying") || s->rounds > 0) {
		e = report_clean(s->failures, TEXT_MAX);
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
	why = is(st, "cancelled") && s->failed_from ? why_failed(s) : NULL;
	if (why) {
		/* Given up after a failure: the failure stays the story. */
		t = rb_asprintf("cancelled by %s after it failed: %s", who ? who : "someone", why);
		free(why);
		return t;
	}
	if (is(st, "cancelled"))
		return who ? rb_asprintf("cancelled by %s", who) : rb_strdup("cancelled");
	w = report_words(st);
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
		p = report_skip_phrase(s->skipped_sev);
		t = rb_asprintf("approval skipped (%s)", p);
		free(p);
		return t;
	}
	return s->rejected_by ? rb_asprintf("nobody (rejected by %s)", s->rejected_by) :
				rb_strdup("nobody");
}

/* The commands' run time: rolling_back to verifying (or to the failure). */
char *report_commands_took(const struct scan *s)
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
	char *note = report_clean(s->note, TEXT_MAX), *why = why_failed(s), *out = outcome(s), *t;
	char *fail = report_clean(s->failures, TEXT_MAX);

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

/* "resolution": its sentence, and the commands' and verification's times. */
void report_put_resolution(const struct scan *s, json_t *o, const char *target, const char *title)
{
	json_t *r = json_object(), *details = json_array();
	char *took = report_commands_took(s);
	char a[32], b[32], d[32];

	report_set_own(r, "text", resolution_text(s, target, title));
	if (took && s->done_ms >= 0) {
		report_clock(s->rolling_ms, s->start_ms, a);
		report_clock(s->done_ms, s->rolling_ms, b);
		report_push_text(details,
				 rb_asprintf("Rollback commands: %s (%s – %s)", took, a, b));
	} else if (took) {
		report_push_text(details, rb_asprintf("Rollback commands: %s", took));
	}
	if (s->verified_ms >= 0) {
		report_clock(s->verified_ms, s->start_ms, a);
		report_between_text(s->start_ms, s->verified_ms, d, sizeof d);
		report_push_text(details, rb_asprintf("Verified at %s, %s after the /rollback "
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
	char *note = report_clean(s->note, TEXT_MAX), *t;
	char at[32];

	/* No closing row (an older log): the end is when it was closed. */
	report_clock(s->closed_ms >= 0 ? s->closed_ms : report_known_end(s), s->start_ms, at);
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
	char *fail = report_clean(s->failures, TEXT_MAX), *step, *t;

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
	w = report_words(st);
	t = is(st, "cancelled") ? rb_strdup("It was cancelled.") :
				  rb_asprintf("It is still %s.", w);
	free(w);
	return t;
}

/* The summary paragraph: who asked for what and why, then how it ended. */
char *report_summary(const struct scan *s, const char *target, const char *title,
		     const char *reason, const char *took)
{
	char *req = report_clean(report_name(s->inc, s->inc->requested_by), 64);
	char *svc = report_clean(s->inc->service, TEXT_MAX);
	char *end = ending(s, took), *skip = NULL, *t;

	if (s->skipped_sev) {
		char *p = report_skip_phrase(s->skipped_sev);
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
		w = report_words(st);
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

/* "rollback_summary", the release plan's block. */
void report_put_rollback_summary(const struct scan *s, json_t *o, const char *target,
				 const char *title, const char *reason, const char *took)
{
	json_t *r = json_object();
	char at[32];
	char *name = report_clean(s->inc->method, 64);

	report_stamp(s->trigger_ms >= 0 ? s->trigger_ms : s->start_ms, at);
	report_set_own(r, "executed", executed(s));
	report_set_own(r, "trigger_time", rb_asprintf("%s UTC", at));
	report_set_str(r, "trigger_reason", reason[0] ? reason : "not given");
	report_set_own(r, "method", rb_asprintf("%s (%s), to %s", title, name, target));
	report_set_str(r, "duration", took ? took : "none (nothing was run)");
	report_set_own(r, "success", success(s));
	json_object_set_new(o, "rollback_summary", r);
	free(name);
}

/* "outcome", "approved_by", and the drafts' status line. */
void report_put_outcome(const struct scan *s, json_t *o)
{
	char *out = outcome(s);
	bool verified = is(s->inc->state, "resolved") && s->verified_ms >= 0 && !closer(s);

	json_object_set_new(o, "verified", json_boolean(verified));
	json_object_set_new(o, "executed", json_boolean(s->executed));
	report_set_own(o, "approved_by", approved_by(s));
	report_set_own(o, "draft_status",
		       verified ? rb_strdup("Rollback successful, service verified") :
				  capital(rb_strdup(out)));
	report_set_own(o, "outcome", out);
}
