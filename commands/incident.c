/* rollbot — the incident state machine (MIT licence, see LICENSE).
 *
 * inc_step() is the only function that changes an incident. Each event
 * kind has one handler; a handler checks that the event is valid in the
 * current state (anything else is a bug upstream: refuse, never guess),
 * then writes the next incident and the actions. Actions are data for the
 * shell; their order is the order they must happen in.
 */
#include "incident.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const state_names[INC_STATE_COUNT] = {
	[INC_DECLARED] = "declared",
	[INC_AWAITING_APPROVAL] = "awaiting_approval",
	[INC_APPROVED] = "approved",
	[INC_ROLLING_BACK] = "rolling_back",
	[INC_VERIFYING] = "verifying",
	[INC_RESOLVED] = "resolved",
	[INC_REJECTED] = "rejected",
	[INC_EXPIRED] = "expired",
	[INC_CANCELLED] = "cancelled",
	[INC_FAILED] = "failed",
};

static const char *const message_names[INC_MSG_COUNT] = {
	[INC_MSG_ANNOUNCEMENT] = "announcement",
	[INC_MSG_APPROVAL_REQUEST] = "approval_request",
	[INC_MSG_APPROVAL_SKIPPED] = "approval_skipped",
	[INC_MSG_APPROVED] = "approved",
	[INC_MSG_REJECTED] = "rejected",
	[INC_MSG_EXPIRED] = "expired",
	[INC_MSG_PLAN_FAILED] = "plan_failed",
	[INC_MSG_STEP_RESULT] = "step_result",
	[INC_MSG_ROLLED_BACK] = "rolled_back",
	[INC_MSG_ROLLBACK_FAILED] = "rollback_failed",
	[INC_MSG_STATUS_UPDATE] = "status_update",
	[INC_MSG_COMPLETE] = "complete",
	[INC_MSG_VERIFY_FAILED] = "verify_failed",
	[INC_MSG_RESOLVED] = "resolved",
	[INC_MSG_CANCELLED] = "cancelled",
	[INC_MSG_PLAN_CHANGED] = "plan_changed",
	[INC_MSG_NO_APPROVERS] = "no_approvers",
	[INC_MSG_ESCALATED] = "escalated",
};

const char *inc_state_name(enum inc_state s)
{
	return (unsigned)s < INC_STATE_COUNT ? state_names[s] : "invalid";
}

int inc_state_from_name(const char *name, enum inc_state *out)
{
	for (int i = 0; i < INC_STATE_COUNT; i++) {
		if (!strcmp(name, state_names[i])) {
			*out = (enum inc_state)i;
			return 0;
		}
	}
	return RB_EINVAL;
}

const char *inc_message_name(enum inc_message m)
{
	return (unsigned)m < INC_MSG_COUNT ? message_names[m] : "invalid";
}

bool inc_state_is_final(enum inc_state s)
{
	return s == INC_RESOLVED || s == INC_REJECTED || s == INC_EXPIRED || s == INC_CANCELLED;
}

bool inc_state_holds_service(enum inc_state s)
{
	return s == INC_DECLARED || s == INC_AWAITING_APPROVAL || s == INC_APPROVED ||
	       s == INC_ROLLING_BACK || s == INC_VERIFYING || s == INC_FAILED;
}

bool inc_is_user_id(const char *s)
{
	size_t n = s ? strlen(s) : 0;

	if (n < 3 || n >= INC_SLACK_ID_MAX || (s[0] != 'U' && s[0] != 'W'))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'A' && s[i] <= 'Z') || (s[i] >= '0' && s[i] <= '9')))
			return false;
	return true;
}

static struct inc_action *add(struct inc_actions *out, enum inc_action_kind kind)
{
	struct inc_action *a;

	RB_ASSERT(out->n < INC_ACTIONS_MAX);
	a = &out->a[out->n++];
	memset(a, 0, sizeof *a);
	a->kind = kind;
	return a;
}

/* Appends an audit action with up to four detail fields, given as
 * key, value pairs ending with NULL. Values are copied (and cut at
 * INC_TEXT_MAX - 1 bytes, which only ever shortens free text). */
static void audit(struct inc_actions *out, const char *kind, const char *actor, ...)
{
	struct inc_action *a = add(out, INC_ACT_AUDIT);
	va_list ap;
	int i = 0;

	a->audit_kind = kind;
	a->actor = actor;
	va_start(ap, actor);
	for (const char *k = va_arg(ap, const char *); k && i < INC_AUDIT_KEYS;
	     k = va_arg(ap, const char *)) {
		const char *v = va_arg(ap, const char *);
		a->keys[i] = k;
		(void)rb_strlcpy(a->values[i], v ? v : "", sizeof a->values[i]);
		i++;
	}
	va_end(ap);
}

/* The one place a state changes: the new state, its audit row and the
 * save, always together (curl's mstate(), pgbouncer's change_client_state). */
static void transition(struct incident *next, enum inc_state to, struct inc_actions *out)
{
	enum inc_state from = next->state;

	next->state = to;
	if (inc_state_is_final(to)) {
		/* The end of the incident: no more updates, no more rounds. */
		next->next_update_ms = 0;
		next->next_verify_ms = 0;
	} else if (to == INC_FAILED) {
		/* People take over: no more rounds, but the updates go on
		 * until someone resolves or cancels it. */
		next->next_verify_ms = 0;
	}
	audit(out, "state_change", "rollbot", "from", inc_state_name(from), "to",
	      inc_state_name(to), (const char *)NULL);
	add(out, INC_ACT_SAVE);
	/* An escalated request decided, or closed: whoever was paged about it
	 * is told that it no longer waits (after the save above). */
	if (from == INC_AWAITING_APPROVAL && to != INC_AWAITING_APPROVAL && next->escalated) {
		next->escalate_at_ms = 0;
		add(out, INC_ACT_UNPAGE);
	}
}

static void post(struct inc_actions *out, enum inc_message msg)
{
	struct inc_action *a = add(out, INC_ACT_POST);

	a->msg = msg;
	a->in_thread = msg != INC_MSG_ANNOUNCEMENT;
}

static int on_declared(const struct incident *cur, struct incident *next, struct inc_actions *out)
{
	struct inc_action *a;

	if (cur->state != INC_DECLARED || cur->announcement_ts[0])
		return INC_EBADEVENT;
	*next = *cur;
	a = add(out, INC_ACT_POST);
	a->msg = INC_MSG_ANNOUNCEMENT;
	a->in_thread = false;
	return 0;
}

static int on_posted(const struct incident *cur, const struct inc_event *ev, int64_t now_ms,
		     struct incident *next, struct inc_actions *out)
{
	if (!ev->ts || !ev->ts[0])
		return INC_EBADEVENT;
	if (ev->msg == INC_MSG_ANNOUNCEMENT && cur->announcement_ts[0])
		return INC_EBADEVENT; /* announced twice: the shell lost track */
	*next = *cur;
	if (ev->msg == INC_MSG_ANNOUNCEMENT) {
		(void)rb_strlcpy(next->announcement_ts, ev->ts, sizeof next->announcement_ts);
		/* "Updates every 10 minutes", counted from the announcement. */
		if (ev->timing && !inc_state_is_final(cur->state))
			next->next_update_ms = now_ms + ev->timing->update_interval_ms;
		add(out, INC_ACT_SAVE);
	}
	audit(out, "message_posted", "rollbot", "message", inc_message_name(ev->msg), "channel",
	      next->channel, "ts", ev->ts, (const char *)NULL);
	if (ev->msg == INC_MSG_ANNOUNCEMENT && cur->state == INC_DECLARED)
		add(out, INC_ACT_PREPARE_PLAN);
	/* The end of a rollback that ran (a cancel after a failure too): the
	 * report, from the audit log, once the last message is in it; a
	 * resolved one also gets the drafts for stakeholders. */
	if (ev->msg == INC_MSG_COMPLETE || ev->msg == INC_MSG_RESOLVED ||
	    ev->msg == INC_MSG_VERIFY_FAILED || ev->msg == INC_MSG_ROLLBACK_FAILED ||
	    (ev->msg == INC_MSG_CANCELLED && ev->ran)) {
		struct inc_action *a = add(out, INC_ACT_REPORT);
		a->drafts = ev->msg == INC_MSG_COMPLETE || ev->msg == INC_MSG_RESOLVED;
	}
	if (ev->msg == INC_MSG_APPROVAL_REQUEST && cur->state == INC_AWAITING_APPROVAL) {
		struct inc_action *a;

		(void)rb_strlcpy(next->approval_ts, ev->ts, sizeof next->approval_ts);
		/* Each request has its own escalation, counted from its post
		 * (every path to a new request clears `escalated` first), unless
		 * it was escalated from the start (ask_for_approval). */
		next->escalate_at_ms = !cur->escalated && ev->policy && pol_escalates(ev->policy)
					       ? now_ms + ev->policy->escalate_after_ms
					       : 0;
		add(out, INC_ACT_SAVE);
		/* The bot's own ✅ and ❌ make approving one click; pol_react
		 * never counts them. */
		a = add(out, INC_ACT_REACT);
		a->reaction = POL_EMOJI_APPROVE;
		a = add(out, INC_ACT_REACT);
		a->reaction = POL_EMOJI_REJECT;
		a = add(out, INC_ACT_ARM_TIMER);
		a->at_ms = next->approval_deadline_ms;
		/* Escalated from the start: paged once the request is out, as
		 * on_escalate pages once its message is recorded. */
		if (cur->escalated)
			add(out, INC_ACT_PAGE);
	}
	return 0;
}

static void start_steps(struct incident *next, struct inc_actions *out)
{
	struct inc_action *a;

	transition(next, INC_ROLLING_BACK, out);
	/* After an interruption, from the step that was running: the steps
	 * before it had finished. */
	if (!next->interrupted)
		next->next_step = 0;
	next->interrupted = false;
	a = add(out, INC_ACT_RUN_STEP);
	a->step = next->next_step;
}

/* The fallback approvers as the audit row names them: "U7,U8,S5". */
static void fallback_ids(const struct pol_policy *p, char *out, size_t size)
{
	size_t len = 0;

	out[0] = '\0';
	for (size_t i = 0; i <= p->n_fallback && len < size; i++) {
		const char *id = i < p->n_fallback ? p->fallback[i] : p->fallback_group_id;

		if (id && id[0])
			len += (size_t)snprintf(out + len, size - len, "%s%s", len ? "," : "", id);
	}
}

/* Asks for approval (next is awaiting it), unless nobody could ever give
 * it: the requester is the only approver and there is no fallback, say, or
 * fewer people than `required` may approve even with the fallback. A
 * request that can only expire is never posted: the incident fails with a
 * message that says who is missing and what to do. The shell refuses such
 * a /rollback before declaring it; this is for a configuration or a group
 * that changed since.
 *
 * When only the fallback approvers can make up the number (the release
 * manager typed the /rollback at 3 a.m.), waiting escalate_after for them
 * would only lose minutes: the request is escalated from the start,
 * recorded with it (one write), and names them at once. */
static void ask_for_approval(struct incident *next, const struct pol_policy *policy,
			     struct inc_actions *out)
{
	struct pol_request req = { .requester = next->requested_by, .with_db = next->with_db };
	char eligible[16], needed[16], added[INC_TEXT_MAX];

	snprintf(eligible, sizeof eligible, "%d", pol_eligible(policy, &req, NULL, 0));
	snprintf(needed, sizeof needed, "%d", pol_needed(policy, next->with_db));
	if (!pol_unapprovable(policy, &req)) {
		transition(next, INC_AWAITING_APPROVAL, out);
		if (pol_short_handed(policy, &req)) {
			next->escalated = true;
			next->escalate_at_ms = 0;
			fallback_ids(policy, added, sizeof added);
			audit(out, "approval_escalated", "rollbot", "added", added, "reason",
			      "short_handed", "needed", needed, "eligible", eligible,
			      (const char *)NULL);
		}
		post(out, INC_MSG_APPROVAL_REQUEST);
		return;
	}
	req.escalated = true; /* who was counted, the fallback included */
	snprintf(eligible, sizeof eligible, "%d", pol_eligible(policy, &req, NULL, 0));
	audit(out, "approval_impossible", "rollbot", "needed", needed, "eligible", eligible,
	      (const char *)NULL);
	transition(next, INC_FAILED, out);
	post(out, INC_MSG_NO_APPROVERS);
}

/* Adds the report's facts known at plan time to the plan_ready row, only
 * those known (the report tells an absent one as not recorded). */
static void plan_facts(struct inc_action *a, const struct inc_event *ev)
{
	const char *kv[][2] = {
		{ "running_before", ev->running_before }, { "deployed_at", ev->deployed_at },
		{ "display_name", ev->display_name },	  { "environment", ev->environment },
		{ "affected", ev->affected },		  { "owner", ev->owner },
	};
	int i = 0;

	while (i < INC_AUDIT_KEYS && a->keys[i])
		i++;
	for (size_t k = 0; k < RB_ARRAY_LEN(kv) && i < INC_AUDIT_KEYS; k++) {
		if (!kv[k][1] || !kv[k][1][0])
			continue;
		a->keys[i] = kv[k][0];
		(void)rb_strlcpy(a->values[i], kv[k][1], sizeof a->values[i]);
		i++;
	}
	if (i < INC_AUDIT_KEYS)
		a->keys[i] = NULL;
}

static int on_plan_ready(const struct incident *cur, const struct inc_event *ev,
			 int64_t now_ms, struct incident *next, struct inc_actions *out)
{
	char n[16];

	if (cur->state != INC_DECLARED || !ev->policy || ev->n_steps <= 0 || !ev->target)
		return INC_EBADEVENT;
	*next = *cur;
	(void)rb_strlcpy(next->target, ev->target, sizeof next->target);
	next->plan_digest = ev->digest;
	next->n_steps = ev->n_steps;
	next->next_step = 0;
	pol_state_init(&next->pol, ev->digest);
	snprintf(n, sizeof n, "%d", ev->n_steps);
	audit(out, "plan_ready", "rollbot", "target", next->target, "steps", n,
	      (const char *)NULL);
	plan_facts(&out->a[out->n - 1], ev);
	if (pol_skip_approval(ev->policy, cur->severity, cur->with_db)) {
		/* "Production down: no discussion needed" (runbook 000). */
		audit(out, "approval_skipped", "rollbot", "severity",
		      cmd_severity_name(cur->severity), (const char *)NULL);
		transition(next, INC_APPROVED, out);
		post(out, INC_MSG_APPROVAL_SKIPPED);
		start_steps(next, out);
		return 0;
	}
	next->approval_deadline_ms = pol_deadline(ev->policy, now_ms);
	ask_for_approval(next, ev->policy, out);
	return 0;
}

static int on_plan_failed(const struct incident *cur, const struct inc_event *ev,
			  struct incident *next, struct inc_actions *out)
{
	if (cur->state != INC_DECLARED && cur->state != INC_APPROVED)
		return INC_EBADEVENT;
	*next = *cur;
	audit(out, "plan_failed", "rollbot", "error", ev->error ? ev->error : "unknown",
	      (const char *)NULL);
	transition(next, INC_FAILED, out);
	post(out, INC_MSG_PLAN_FAILED);
	return 0;
}

/* "5 minutes", "90 seconds": a duration as the messages say it (as the
 * shell's human durations do). */
static void duration_text(int64_t ms, char *out, size_t len)
{
	long long sec = (long long)(ms / 1000);

	if (sec >= 60 && sec % 60 == 0)
		snprintf(out, len, "%lld minute%s", sec / 60, sec == 60 ? "" : "s");
	else
		snprintf(out, len, "%lld second%s", sec, sec == 1 ? "" : "s");
}

/* What a person who reacted is told privately, when their reaction did not
 * count and they may not know why. */
static void explain(const struct incident *cur, const struct inc_event *ev,
		    enum pol_reason why, struct inc_actions *out)
{
	struct inc_action *a;
	const char *text;
	char after[40];

	switch (why) {
	case POL_IGN_NOT_APPROVER:
		text = "your reaction does not count: you are not an approver for this service.";
		break;
	case POL_IGN_REQUESTER:
		text = "you asked for this rollback, so your approval does not count: another "
		       "approver has to react ✅.";
		break;
	case POL_IGN_LOOKALIKE:
		text = "only ✅ approves and ❌ rejects; other emoji do not count.";
		break;
	case POL_IGN_NOT_ESCALATED:
		a = add(out, INC_ACT_NOTIFY_USER);
		(void)rb_strlcpy(a->user, ev->user, sizeof a->user);
		duration_text(ev->policy->escalate_after_ms, after, sizeof after);
		snprintf(a->text, sizeof a->text,
			 "%s: you are a fallback approver: your ✅ or ❌ counts only once the request "
			 "is escalated to you, after %s without a decision (one given before "
			 "then counts from then on).",
			 cur->id, after);
		return;
	default:
		return;
	}
	a = add(out, INC_ACT_NOTIFY_USER);
	(void)rb_strlcpy(a->user, ev->user, sizeof a->user);
	snprintf(a->text, sizeof a->text, "%s: %s", cur->id, text);
}

static int on_reaction(const struct incident *cur, const struct inc_event *ev,
		       struct incident *next, struct inc_actions *out)
{
	struct pol_request req = { .channel = cur->channel, .ts = cur->approval_ts,
				   .requester = cur->requested_by, .bot_user = ev->bot_user,
				   .severity = cur->severity, .with_db = cur->with_db,
				   .escalated = cur->escalated };
	struct pol_reaction r = { .user = ev->user, .reaction = ev->reaction,
				  .channel = ev->channel, .ts = ev->ts, .added = ev->added,
				  .plan_digest = cur->plan_digest };
	enum pol_reason why;
	bool changed;

	if (!ev->policy || !ev->user || !ev->reaction || !cur->approval_ts[0])
		return INC_EBADEVENT;
	*next = *cur;
	why = pol_react(ev->policy, &req, &cur->pol, &r, &next->pol);
	changed = why == POL_APPROVAL_COUNTED || why == POL_REJECTION_COUNTED ||
		  why == POL_APPROVAL_WITHDRAWN || why == POL_PLAN_CHANGED;
	/* Every decision, counted or not, with who and what. A recount at
	 * start records only what it changed: the rest was recorded when it
	 * happened, or is a reaction nobody needs to hear about again. */
	if (!ev->recount)
		audit(out, ev->added ? "reaction_added" : "reaction_removed", ev->user,
		      "reaction", ev->reaction, "decision", pol_reason_name(why),
		      (const char *)NULL);
	else if (changed)
		audit(out, ev->added ? "reaction_added" : "reaction_removed", ev->user,
		      "reaction", ev->reaction, "decision", pol_reason_name(why), "source",
		      "recount", (const char *)NULL);
	if (cur->state != INC_AWAITING_APPROVAL)
		return 0;
	if (!ev->recount)
		explain(cur, ev, why, out);
	if (next->pol.verdict == POL_PENDING && changed) {
		/* The approvals so far survive a restart. */
		add(out, INC_ACT_SAVE);
	} else if (next->pol.verdict == POL_APPROVED) {
		add(out, INC_ACT_CANCEL_TIMER);
		transition(next, INC_APPROVED, out);
		/* Just before running: is the plan still the one approved? The
		 * "Approved… rolling back now" message waits for the answer, so
		 * that it is only said when it is true. */
		add(out, INC_ACT_CHECK_PLAN);
	} else if (next->pol.verdict == POL_REJECTED) {
		add(out, INC_ACT_CANCEL_TIMER);
		transition(next, INC_REJECTED, out);
		post(out, INC_MSG_REJECTED);
	}
	return 0;
}

static int on_timeout(const struct incident *cur, const struct inc_event *ev, int64_t now_ms,
		      struct incident *next, struct inc_actions *out)
{
	(void)ev;
	*next = *cur;
	if (cur->state != INC_AWAITING_APPROVAL ||
	    !pol_expire(&next->pol, now_ms, cur->approval_deadline_ms))
		return 0; /* a late timer after a decision, or early: nothing to do */
	transition(next, INC_EXPIRED, out);
	post(out, INC_MSG_EXPIRED);
	return 0;
}

/* Nobody decided escalate_after after the request was posted: the fallback
 * approvers (the on-call lead) are asked too, once per request. Said in the
 * thread and recorded together (the audit row names who was added); then
 * the request's reactions are read again, so that a fallback approver's ✅
 * given before now counts, and whoever is paged is paged. The deadline
 * stays as it was. */
static int on_escalate(const struct incident *cur, const struct inc_event *ev, int64_t now_ms,
		       struct incident *next, struct inc_actions *out)
{
	const struct pol_policy *p = ev->policy;
	char added[INC_TEXT_MAX], after[24];

	*next = *cur;
	if (cur->state != INC_AWAITING_APPROVAL || !cur->approval_ts[0] || cur->escalated ||
	    !cur->escalate_at_ms || now_ms < cur->escalate_at_ms ||
	    now_ms >= cur->approval_deadline_ms || cur->pol.verdict != POL_PENDING)
		return 0; /* decided, done, early or late: nothing to do */
	next->escalate_at_ms = 0;
	if (!p || !pol_escalates(p))
		return 0; /* the configuration changed since: no escalation any more */
	next->escalated = true;
	fallback_ids(p, added, sizeof added);
	snprintf(after, sizeof after, "%lld", (long long)(p->escalate_after_ms / 1000));
	audit(out, "approval_escalated", "rollbot", "added", added, "after_s", after,
	      (const char *)NULL);
	post(out, INC_MSG_ESCALATED);
	add(out, INC_ACT_SAVE);
	add(out, INC_ACT_RECOUNT);
	add(out, INC_ACT_PAGE);
	return 0;
}

static int on_plan_checked(const struct incident *cur, const struct inc_event *ev,
			   int64_t now_ms, struct incident *next, struct inc_actions *out)
{
	char was[20], now[20];

	if (cur->state != INC_APPROVED || !ev->policy)
		return INC_EBADEVENT;
	*next = *cur;
	if (ev->digest == cur->plan_digest) {
		post(out, INC_MSG_APPROVED);
		start_steps(next, out);
		return 0;
	}
	/* Something changed since the approvers read the plan: their approval
	 * was for another plan, so it is asked for again. */
	snprintf(was, sizeof was, "%016llx", (unsigned long long)cur->plan_digest);
	snprintf(now, sizeof now, "%016llx", (unsigned long long)ev->digest);
	audit(out, "plan_changed", "rollbot", "approved_digest", was, "digest", now,
	      (const char *)NULL);
	next->plan_digest = ev->digest;
	if (ev->n_steps > 0)
		next->n_steps = ev->n_steps;
	(void)pol_rebind(&next->pol, ev->digest);
	next->approval_ts[0] = '\0';
	/* A new request: its own escalation, from its own post. */
	next->escalated = false;
	next->escalate_at_ms = 0;
	next->approval_deadline_ms = pol_deadline(ev->policy, now_ms);
	/* Said in the thread first: the approval above was for another plan,
	 * what differs, and that a new one is needed (the request follows). */
	post(out, INC_MSG_PLAN_CHANGED);
	ask_for_approval(next, ev->policy, out);
	return 0;
}

static int on_step_done(const struct incident *cur, const struct inc_event *ev, int64_t now_ms,
			struct incident *next, struct inc_actions *out)
{
	struct inc_action *a;

	if (cur->state != INC_ROLLING_BACK || ev->step != cur->next_step)
		return INC_EBADEVENT;
	*next = *cur;
	post(out, INC_MSG_STEP_RESULT);
	if (!ev->ok) {
		transition(next, INC_FAILED, out);
		post(out, INC_MSG_ROLLBACK_FAILED);
		return 0;
	}
	next->next_step = cur->next_step + 1;
	if (next->next_step < cur->n_steps) {
		a = add(out, INC_ACT_RUN_STEP);
		a->step = next->next_step;
		return 0;
	}
	/* The method's own commands are done; now, is the service healthy? */
	transition(next, INC_VERIFYING, out);
	post(out, INC_MSG_ROLLED_BACK);
	next->verify_deadline_ms = now_ms + (ev->timing ? ev->timing->verify_window_ms : 0);
	next->next_verify_ms = 0;
	add(out, INC_ACT_VERIFY);
	return 0;
}

static int on_post_failed(const struct incident *cur, const struct inc_event *ev,
			  struct incident *next, struct inc_actions *out)
{
	struct inc_action *a;

	*next = *cur;
	audit(out, "message_failed", "rollbot", "message", inc_message_name(ev->msg), "channel",
	      next->channel, "error", ev->error ? ev->error : "unknown", (const char *)NULL);
	if (ev->msg == INC_MSG_APPROVAL_REQUEST && cur->state == INC_AWAITING_APPROVAL) {
		/* Nobody can approve a request that was never shown. */
		transition(next, INC_FAILED, out);
		a = add(out, INC_ACT_NOTIFY_REQUESTER);
		snprintf(a->text, sizeof a->text,
			 ":warning: %s: Slack refused the approval request (`%s`), so nothing will "
			 "run. Check rollbot's log, close it with `/rollback cancel %s`, then run "
			 "/rollback again.",
			 cur->id, ev->error ? ev->error : "unknown", cur->id);
		return 0;
	}
	if (ev->msg == INC_MSG_ANNOUNCEMENT && cur->state == INC_DECLARED) {
		/* Without its announcement there is no thread to approve in:
		 * nothing will run. It stays open as failed (it holds the service
		 * until a person cancels it, as every failed incident does). */
		transition(next, INC_FAILED, out);
		a = add(out, INC_ACT_NOTIFY_REQUESTER);
		/* The text must tell a person at 3 a.m. what to do next. */
		if (ev->error && !strcmp(ev->error, "not_in_channel"))
			(void)snprintf(a->text, sizeof a->text,
				       ":warning: %s is recorded, but I could not post its "
				       "announcement: I am not a member of <#%s>. Invite me with "
				       "`/invite @rollbot`, close it with `/rollback cancel %s`, "
				       "then run /rollback again.",
				       cur->id, cur->channel, cur->id);
		else
			(void)snprintf(a->text, sizeof a->text,
				       ":warning: %s is recorded, but Slack refused its announcement "
				       "(`%s`) after several tries, so nothing will run. Check rollbot's "
				       "log, close it with `/rollback cancel %s`, then run /rollback "
				       "again.",
				       cur->id, ev->error ? ev->error : "unknown", cur->id);
	}
	return 0;
}

/* After a restart. The incident comes back as the store had it; what was
 * in flight when the bot died is done again only when doing it twice is
 * harmless (a message nobody saw, reading reactions). */
static int on_resumed(const struct incident *cur, struct incident *next,
		      struct inc_actions *out)
{
	char n[16];

	if (inc_state_is_final(cur->state))
		return INC_EBADEVENT;
	*next = *cur;
	audit(out, "resumed", "rollbot", "state", inc_state_name(cur->state),
	      (const char *)NULL);
	/* Decided after an escalation: its resolve may have been lost the
	 * same way (resolving twice is harmless). */
	if (cur->escalated && cur->state != INC_AWAITING_APPROVAL)
		add(out, INC_ACT_UNPAGE);
	switch (cur->state) {
	case INC_DECLARED:
		if (!cur->announcement_ts[0])
			post(out, INC_MSG_ANNOUNCEMENT);
		else
			add(out, INC_ACT_PREPARE_PLAN); /* reads history only */
		break;
	case INC_AWAITING_APPROVAL:
		if (!cur->approval_ts[0]) {
			/* Killed before the request was posted: nobody has seen it. */
			post(out, INC_MSG_APPROVAL_REQUEST);
			break;
		}
		/* Reactions given while the bot was down arrived as events
		 * nobody received: read them from the message itself. */
		add(out, INC_ACT_RECOUNT);
		/* Escalated before the restart: the page may not have gone out
		 * (recorded, then killed). PagerDuty dedups by key: again. */
		if (cur->escalated)
			add(out, INC_ACT_PAGE);
		break;
	case INC_APPROVED:
		/* The store saw no step start (the shell starts a step only once
		 * rolling_back is saved), so nothing has run yet. */
		add(out, INC_ACT_CHECK_PLAN);
		break;
	case INC_ROLLING_BACK:
		/* A step was running when the bot died: it may have finished, or
		 * not. Never run it again blindly: look, then ask. */
		next->interrupted = true;
		snprintf(n, sizeof n, "%d", cur->next_step + 1);
		audit(out, "step_interrupted", "rollbot", "step", n, (const char *)NULL);
		add(out, INC_ACT_STATUS_CHECK);
		break;
	case INC_VERIFYING:
		next->next_verify_ms = 0;
		add(out, INC_ACT_VERIFY); /* probes only read */
		break;
	case INC_FAILED:
		/* People have it: only its status updates go on (the shell
		 * schedules them from next_update_ms). */
		break;
	default:
		break;
	}
	return 0;
}

/* After an interruption: ask before anything runs again, with what the
 * status command says now (the shell shows it with the request). */
static int on_status_checked(const struct incident *cur, const struct inc_event *ev,
			     int64_t now_ms, struct incident *next, struct inc_actions *out)
{
	if (cur->state != INC_ROLLING_BACK || !cur->interrupted || !ev->policy)
		return INC_EBADEVENT;
	*next = *cur;
	audit(out, "status_checked", "rollbot", "ok", ev->ok ? "true" : "false", "output",
	      ev->error ? ev->error : "", (const char *)NULL);
	pol_state_init(&next->pol, cur->plan_digest);
	next->approval_ts[0] = '\0';
	next->escalated = false;
	next->escalate_at_ms = 0;
	next->approval_deadline_ms = pol_deadline(ev->policy, now_ms);
	ask_for_approval(next, ev->policy, out);
	return 0;
}

static int on_update_due(const struct incident *cur, const struct inc_event *ev,
			 int64_t now_ms, struct incident *next, struct inc_actions *out)
{
	int64_t iv = ev->timing ? ev->timing->update_interval_ms : 0;
	char n[16];

	*next = *cur;
	if (inc_state_is_final(cur->state) || !cur->next_update_ms || iv <= 0 ||
	    now_ms < cur->next_update_ms)
		return 0; /* ended, or early: nothing to do */
	/* One update for however many slots were missed (a long restart), then
	 * the schedule resumes on its grid: never a burst. */
	next->next_update_ms = cur->next_update_ms + iv;
	if (next->next_update_ms <= now_ms)
		next->next_update_ms += ((now_ms - next->next_update_ms) / iv + 1) * iv;
	/* An update posted late (the sweep, a restart) is not followed by the
	 * next slot at once: two updates are never half an interval apart. */
	if (next->next_update_ms - now_ms <= iv / 2)
		next->next_update_ms += iv;
	next->updates_posted = cur->updates_posted + 1;
	snprintf(n, sizeof n, "%d", next->updates_posted);
	post(out, INC_MSG_STATUS_UPDATE);
	audit(out, "status_update", "rollbot", "number", n, "state", inc_state_name(cur->state),
	      (const char *)NULL);
	add(out, INC_ACT_SAVE);
	return 0;
}

static int on_verify_due(const struct incident *cur, struct incident *next,
			 struct inc_actions *out)
{
	*next = *cur;
	if (cur->state != INC_VERIFYING || !cur->next_verify_ms)
		return 0;
	next->next_verify_ms = 0;
	add(out, INC_ACT_VERIFY);
	return 0;
}

static int on_verified(const struct incident *cur, const struct inc_event *ev, int64_t now_ms,
		       struct incident *next, struct inc_actions *out)
{
	int64_t iv = ev->timing ? ev->timing->verify_interval_ms : 0;
	char n[16];

	if (cur->state != INC_VERIFYING)
		return INC_EBADEVENT;
	*next = *cur;
	next->verify_rounds = cur->verify_rounds + 1;
	snprintf(n, sizeof n, "%d", next->verify_rounds);
	audit(out, "verification", "rollbot", "round", n, "passed", ev->ok ? "true" : "false",
	      "failures", ev->error ? ev->error : "", (const char *)NULL);
	if (ev->ok) {
		transition(next, INC_RESOLVED, out);
		post(out, INC_MSG_COMPLETE);
		return 0;
	}
	if (iv > 0 && now_ms + iv <= cur->verify_deadline_ms) {
		next->next_verify_ms = now_ms + iv;
		return 0;
	}
	/* Still unhealthy at the end of the window: people take over. */
	transition(next, INC_FAILED, out);
	post(out, INC_MSG_VERIFY_FAILED);
	return 0;
}

static void reply(struct inc_actions *out, const struct inc_event *ev, const char *fmt, ...)
	RB_PRINTF(3, 4);

static void reply(struct inc_actions *out, const struct inc_event *ev, const char *fmt, ...)
{
	struct inc_action *a = add(out, INC_ACT_REPLY);
	va_list ap;

	(void)rb_strlcpy(a->user, ev->user ? ev->user : "", sizeof a->user);
	va_start(ap, fmt);
	(void)vsnprintf(a->text, sizeof a->text, fmt, ap);
	va_end(ap);
}

/* Only the person who asked for the rollback, or someone who may approve
 * it, closes an incident by hand. */
static bool may_close(const struct incident *cur, const struct inc_event *ev)
{
	return ev->user && ev->user[0] &&
	       (!strcmp(ev->user, cur->requested_by) ||
		(ev->policy && pol_is_approver(ev->policy, ev->user)));
}

/* Closes the incident for the person who typed `/rollback VERB`, when they
 * may: recorded with who, the note and the state it was in. */
static void close_by_hand(const struct incident *cur, const struct inc_event *ev,
			  const char *verb, const char *audit_kind, enum inc_state to,
			  enum inc_message msg, struct incident *next, struct inc_actions *out)
{
	if (!may_close(cur, ev)) {
		reply(out, ev, "Only <@%s>, who asked for this rollback, or an approver of %s can "
			       "%s %s.", cur->requested_by, cur->service, verb, cur->id);
		return;
	}
	(void)rb_strlcpy(next->closed_by, ev->user, sizeof next->closed_by);
	audit(out, audit_kind, ev->user, "note", ev->error ? ev->error : "", "was",
	      inc_state_name(cur->state), (const char *)NULL);
	transition(next, to, out);
	post(out, msg);
}

static int on_resolve(const struct incident *cur, const struct inc_event *ev,
		      struct incident *next, struct inc_actions *out)
{
	*next = *cur;
	if (cur->state != INC_VERIFYING && cur->state != INC_FAILED) {
		if (cur->state == INC_ROLLING_BACK || cur->state == INC_APPROVED)
			reply(out, ev, "%s is rolling back right now: wait for its steps to finish "
				       "(the thread shows each one), then resolve it.", cur->id);
		else if (cur->state == INC_DECLARED || cur->state == INC_AWAITING_APPROVAL)
			reply(out, ev, "%s has not rolled anything back yet. To call it off, use "
				       "`/rollback cancel %s`.", cur->id, cur->id);
		else
			reply(out, ev, "%s is already closed (%s).", cur->id,
			      inc_state_name(cur->state));
		return 0;
	}
	close_by_hand(cur, ev, "resolve", "resolved_by_hand", INC_RESOLVED, INC_MSG_RESOLVED, next,
		      out);
	return 0;
}

static int on_cancel(const struct incident *cur, const struct inc_event *ev,
		     struct incident *next, struct inc_actions *out)
{
	*next = *cur;
	/* After a failure, cancel closes the incident without saying the
	 * service recovered: nothing is run or undone (the message says so). */
	if (cur->state != INC_DECLARED && cur->state != INC_AWAITING_APPROVAL &&
	    cur->state != INC_FAILED) {
		if (cur->state == INC_ROLLING_BACK || cur->state == INC_APPROVED)
			reply(out, ev, "%s cannot be cancelled: its rollback has started, and "
				       "stopping half-way would leave %s in between. Wait for "
				       "its steps to finish.", cur->id, cur->service);
		else if (cur->state == INC_VERIFYING)
			reply(out, ev, "%s has already rolled back and is being verified. To close "
				       "it, use `/rollback resolve %s`.", cur->id, cur->id);
		else
			reply(out, ev, "%s is already closed (%s).", cur->id,
			      inc_state_name(cur->state));
		return 0;
	}
	close_by_hand(cur, ev, "cancel", "cancelled", INC_CANCELLED, INC_MSG_CANCELLED, next, out);
	return 0;
}

int inc_step(const struct incident *cur, const struct inc_event *ev, int64_t now_ms,
	     struct incident *next, struct inc_actions *out)
{
	struct incident tmp;
	int rc;

	out->n = 0;
	if ((unsigned)cur->state >= INC_STATE_COUNT || (unsigned)ev->msg >= INC_MSG_COUNT)
		return INC_EBADEVENT;
	switch (ev->kind) {
	case INC_EV_DECLARED:
		rc = on_declared(cur, &tmp, out);
		break;
	case INC_EV_POSTED:
		rc = on_posted(cur, ev, now_ms, &tmp, out);
		break;
	case INC_EV_POST_FAILED:
		rc = on_post_failed(cur, ev, &tmp, out);
		break;
	case INC_EV_PLAN_READY:
		rc = on_plan_ready(cur, ev, now_ms, &tmp, out);
		break;
	case INC_EV_PLAN_FAILED:
		rc = on_plan_failed(cur, ev, &tmp, out);
		break;
	case INC_EV_REACTION:
		rc = on_reaction(cur, ev, &tmp, out);
		break;
	case INC_EV_APPROVAL_TIMEOUT:
		rc = on_timeout(cur, ev, now_ms, &tmp, out);
		break;
	case INC_EV_PLAN_CHECKED:
		rc = on_plan_checked(cur, ev, now_ms, &tmp, out);
		break;
	case INC_EV_STEP_DONE:
		rc = on_step_done(cur, ev, now_ms, &tmp, out);
		break;
	case INC_EV_RESUMED:
		rc = on_resumed(cur, &tmp, out);
		break;
	case INC_EV_STATUS_CHECKED:
		rc = on_status_checked(cur, ev, now_ms, &tmp, out);
		break;
	case INC_EV_UPDATE_DUE:
		rc = on_update_due(cur, ev, now_ms, &tmp, out);
		break;
	case INC_EV_VERIFY_DUE:
		rc = on_verify_due(cur, &tmp, out);
		break;
	case INC_EV_VERIFIED:
		rc = on_verified(cur, ev, now_ms, &tmp, out);
		break;
	case INC_EV_RESOLVE:
		rc = on_resolve(cur, ev, &tmp, out);
		break;
	case INC_EV_CANCEL:
		rc = on_cancel(cur, ev, &tmp, out);
		break;
	case INC_EV_ESCALATE_DUE:
		rc = on_escalate(cur, ev, now_ms, &tmp, out);
		break;
	default:
		rc = INC_EBADEVENT;
		break;
	}
	if (rc) {
		out->n = 0;
		return rc;
	}
	*next = tmp;
	return 0;
}
