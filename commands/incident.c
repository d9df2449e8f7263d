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
	return s == INC_RESOLVED || s == INC_REJECTED || s == INC_EXPIRED ||
	       s == INC_CANCELLED || s == INC_FAILED;
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
	for (const char *k = va_arg(ap, const char *); k && i < 4; k = va_arg(ap, const char *)) {
		const char *v = va_arg(ap, const char *);
		a->keys[i] = k;
		(void)rb_strlcpy(a->values[i], v ? v : "", sizeof a->values[i]);
		i++;
	}
	va_end(ap);
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

static int on_posted(const struct incident *cur, const struct inc_event *ev,
		     struct incident *next, struct inc_actions *out)
{
	if (!ev->ts || !ev->ts[0])
		return INC_EBADEVENT;
	if (ev->msg == INC_MSG_ANNOUNCEMENT && cur->announcement_ts[0])
		return INC_EBADEVENT; /* announced twice: the shell lost track */
	*next = *cur;
	if (ev->msg == INC_MSG_ANNOUNCEMENT) {
		(void)rb_strlcpy(next->announcement_ts, ev->ts, sizeof next->announcement_ts);
		add(out, INC_ACT_SAVE);
	}
	audit(out, "message_posted", "rollbot", "message", inc_message_name(ev->msg), "channel",
	      next->channel, "ts", ev->ts, (const char *)NULL);
	return 0;
}

static int on_post_failed(const struct incident *cur, const struct inc_event *ev,
			  struct incident *next, struct inc_actions *out)
{
	struct inc_action *a;

	*next = *cur;
	audit(out, "message_failed", "rollbot", "message", inc_message_name(ev->msg), "channel",
	      next->channel, "error", ev->error ? ev->error : "unknown", (const char *)NULL);
	if (ev->msg == INC_MSG_ANNOUNCEMENT) {
		a = add(out, INC_ACT_NOTIFY_REQUESTER);
		/* The text must tell a person at 3 a.m. what to do next. */
		if (ev->error && !strcmp(ev->error, "not_in_channel"))
			(void)snprintf(a->text, sizeof a->text,
				       ":warning: %s is recorded, but I could not post its "
				       "announcement: I am not a member of <#%s>. Invite me with "
				       "`/invite @rollbot`.",
				       cur->id, cur->channel);
		else
			(void)snprintf(a->text, sizeof a->text,
				       ":warning: %s is recorded, but Slack refused its announcement "
				       "(`%s`) after several tries. Post it by hand and check rollbot's "
				       "log.",
				       cur->id, ev->error ? ev->error : "unknown");
	}
	return 0;
}

int inc_step(const struct incident *cur, const struct inc_event *ev, int64_t now_ms,
	     struct incident *next, struct inc_actions *out)
{
	struct incident tmp;
	int rc;

	(void)now_ms;
	out->n = 0;
	if ((unsigned)cur->state >= INC_STATE_COUNT || (unsigned)ev->msg >= INC_MSG_COUNT)
		return INC_EBADEVENT;
	switch (ev->kind) {
	case INC_EV_DECLARED:
		rc = on_declared(cur, &tmp, out);
		break;
	case INC_EV_POSTED:
		rc = on_posted(cur, ev, &tmp, out);
		break;
	case INC_EV_POST_FAILED:
		rc = on_post_failed(cur, ev, &tmp, out);
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
