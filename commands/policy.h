/* rollbot — the approval policy (MIT licence, see LICENSE).
 *
 * Who may approve an emergency rollback, how many must, and what each ✅ or
 * ❌ on the approval request does to the decision (DESIGN.md "The
 * incident"). Everything here is a pure function over plain values: the
 * shell resolves the approver group, computes the plan digest, reads the
 * clock and passes it all in; these functions read no clock, do no I/O, keep
 * no globals and allocate nothing (STYLE.md rule 4).
 *
 * Emoji (names as Slack sends them, compared on the part before "::" so
 * that a skin-tone suffix never matters):
 *
 *   approve  white_check_mark (✅) only: the bot adds it to the request, so
 *            approving is one click on what is already there.
 *   reject   x (❌) only, for the same reason.
 *
 * Look-alikes are deliberately not decisions: +1/thumbsup (👍 usually means
 * "seen", not "run it in production"), heavy_check_mark (✔️),
 * ballot_box_with_check, ok_hand, ok; and on the other side -1/thumbsdown,
 * no_entry, no_entry_sign, heavy_multiplication_x,
 * negative_squared_cross_mark. With one approve emoji, removing it is an
 * unambiguous withdrawal (two check marks from one person would need
 * per-emoji bookkeeping to tell a withdrawal from a change of emoji), and a
 * rejection, which is final, never comes from an emoji someone meant as
 * "not me". When an approver uses a look-alike, pol_react says so
 * (POL_IGN_LOOKALIKE) so that the shell can tell them which emoji counts
 * instead of leaving them waiting during an incident.
 */
#ifndef POLICY_H
#define POLICY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "parse.h"
#include "rb.h"

/* Distinct approvals a state can hold; also the largest `required`. */
#define POL_MAX_APPROVERS 16
/* A Slack user ID (9 to 11 characters today) + NUL; a longer ID never counts. */
#define POL_USER_MAX 24

#define POL_EMOJI_APPROVE "white_check_mark"
#define POL_EMOJI_REJECT  "x"

/* The policy in force for one service. Every pointer is borrowed: the
 * shell owns the strings and arrays (the configuration and the resolved
 * group) and keeps them alive across each call; nothing here keeps them. */
struct pol_policy {
	/* Slack user IDs (U…/W…) named in the config. */
	const char *const *approvers;
	size_t n_approvers;
	/* The approver user group's members as the shell last resolved them
	 * (usergroups.users.list); NULL and 0 when there is no group. */
	const char *const *group_members;
	size_t n_group_members;
	/* The approver user group (S…), for mentions; NULL or "" = none. */
	const char *group_id;
	/* The group's members have never been read (usergroups.users.list
	 * failed so far): group_members says nothing about who is in it. */
	bool group_unknown;
	/* Distinct approvals needed, 1..POL_MAX_APPROVERS (2 at least for --with-db). */
	int required;
	/* The requester's own approval counts (never for --with-db). */
	bool allow_self_approval;
	/* skip[CMD_SEV_P0..CMD_SEV_P3]: no approval needed at that severity. */
	bool skip[4];
	/* How long a request waits for a decision; > 0. */
	int64_t timeout_ms;
	/* Escalation (runbook 000: "Release Manager (or On-call Lead if
	 * unavailable)"): a request with no decision escalate_after_ms after it
	 * was posted is extended to the fallback approvers, whose ✅ and ❌
	 * count from then on (pol_request.escalated), under the same four-eyes
	 * rules; before then they count as anyone else's. 0 = never. The
	 * fallback users, and the fallback group's members as last resolved
	 * (the group ID for mentions), like the approvers' above. */
	int64_t escalate_after_ms;
	const char *const *fallback;
	size_t n_fallback;
	const char *const *fallback_members;
	size_t n_fallback_members;
	const char *fallback_group_id;
	/* The fallback group's members have never been read: like
	 * group_unknown, for the fallback group. */
	bool fallback_group_unknown;
};

/* The request being decided. Borrowed for the call only. */
struct pol_request {
	/* The approval request message: the only one whose reactions count. */
	const char *channel;
	const char *ts;
	/* Who typed /rollback (U…). */
	const char *requester;
	/* rollbot's own user ID (auth.test): it seeds the approve and reject
	 * reactions on the request, and those never count. */
	const char *bot_user;
	enum cmd_severity severity;
	/* --with-db: at least 2 distinct approvers, never the requester. */
	bool with_db;
	/* The request was escalated: the policy's fallback approvers decide too
	 * (and pol_eligible and pol_mentions count and name them). */
	bool escalated;
};

/* One reaction_added or reaction_removed event (slack-protocol.md §2.3).
 * Borrowed for the call only; NULL strings are read as "". */
struct pol_reaction {
	const char *user;     /* who reacted */
	const char *reaction; /* as sent: "white_check_mark", "+1::skin-tone-2" */
	const char *channel;  /* item.channel (NULL for a reaction on a file) */
	const char *ts;	      /* item.ts */
	bool added;	      /* reaction_added (true) or reaction_removed (false) */
	uint64_t plan_digest; /* the digest of the plan text as the shell computes it now */
};

enum pol_verdict {
	POL_PENDING,  /* waiting for approvals */
	POL_APPROVED, /* enough approvals: final */
	POL_REJECTED, /* an approver's reject: final */
	POL_EXPIRED,  /* no decision before the deadline: final */
	POL_VERDICT_COUNT
};

/* What one reaction did. The first four change the state; the POL_IGN_*
 * leave it exactly as it was. Each comment says what the shell does. */
enum pol_reason {
	/* An approver's approval, recorded; the verdict may now be APPROVED. Audit. */
	POL_APPROVAL_COUNTED,
	/* An approver's reject: verdict REJECTED, rejected_by set. Audit. */
	POL_REJECTION_COUNTED,
	/* A counted approval was removed: that person no longer counts. Audit. */
	POL_APPROVAL_WITHDRAWN,
	/* The event's plan digest differs from the state's: approvals reset and
	 * the event not counted (see pol_rebind). Audit; post the request again. */
	POL_PLAN_CHANGED,
	/* rollbot's own reaction (it seeds approve and reject on the request). */
	POL_IGN_BOT,
	/* On another message, or on the same ts in another channel. */
	POL_IGN_OTHER_MESSAGE,
	/* Neither approve nor reject (nor a look-alike worth a hint). */
	POL_IGN_OTHER_EMOJI,
	/* An approver added a look-alike (thumbs up, heavy check mark, no entry…)
	 * while pending: tell them, ephemerally, which emoji count. */
	POL_IGN_LOOKALIKE,
	/* Approve or reject from someone who may not decide: tell them, ephemerally. */
	POL_IGN_NOT_APPROVER,
	/* The same from a fallback approver before the request was escalated:
	 * tell them when it will count. */
	POL_IGN_NOT_ESCALATED,
	/* The requester's approval of their own rollback: tell them, ephemerally. */
	POL_IGN_REQUESTER,
	/* An approval from someone already counted. */
	POL_IGN_DUPLICATE,
	/* The verdict is final: nothing changes it. */
	POL_IGN_FINAL,
	/* A removed reject: a rejection is final, and one that did not count
	 * has nothing to undo. */
	POL_IGN_UNREJECT,
	/* A removed approval that had not been counted: nothing to withdraw. */
	POL_IGN_NOT_COUNTED,
	/* No room for another approval: only with a policy that
	 * pol_policy_check refuses (required > POL_MAX_APPROVERS). */
	POL_IGN_FULL,
	POL_REASON_COUNT
};

/* The decision so far. A plain value: copy it, store it, compare it field
 * by field. */
struct pol_state {
	enum pol_verdict verdict;
	uint64_t plan_digest; /* the plan the approvals below were given for */
	int n_approved;	      /* entries used in approved_by */
	/* Distinct user IDs, in the order they approved; unused entries are "". */
	char approved_by[POL_MAX_APPROVERS][POL_USER_MAX];
	char rejected_by[POL_USER_MAX]; /* "" unless the verdict is POL_REJECTED */
};

/* Checks a policy before it is used (the config loader calls this):
 * `required` in 1..POL_MAX_APPROVERS, a positive timeout, well-formed IDs,
 * somebody to approve, and enough listed approvers when there is no group.
 * Returns 0, or RB_EINVAL with a one-line reason in err (errlen bytes). */
int pol_policy_check(const struct pol_policy *p, char *err, size_t errlen) RB_MUSTCHECK;

/* Sets *st to pending, no approvals, bound to the plan with this digest. */
void pol_state_init(struct pol_state *st, uint64_t plan_digest);

/* Applies one reaction event: reads cur, writes the next state to *next
 * (which may be cur itself) and returns what the reaction did. Every
 * POL_IGN_* reason leaves *next equal to *cur. A digest in ev that differs
 * from cur's rebinds (as pol_rebind) and returns POL_PLAN_CHANGED without
 * counting the event. The order of the checks is documented in policy.c. */
enum pol_reason pol_react(const struct pol_policy *p, const struct pol_request *req,
			  const struct pol_state *cur, const struct pol_reaction *ev,
			  struct pol_state *next);

/* Binds st to the plan with a new digest: approvals are cleared and the
 * verdict goes back to pending, from APPROVED too (an approval never carries
 * over to a plan nobody read). Returns true when it did so: the shell audits
 * it and posts the request again. Returns false, changing nothing, for the
 * same digest or a REJECTED or EXPIRED state. */
bool pol_rebind(struct pol_state *st, uint64_t plan_digest);

/* A pending st whose deadline has come (now_ms >= deadline_ms) becomes
 * POL_EXPIRED; returns true when that happened. Any other st is unchanged. */
bool pol_expire(struct pol_state *st, int64_t now_ms, int64_t deadline_ms);

/* posted_ms + the policy's timeout, saturating at INT64_MAX. */
int64_t pol_deadline(const struct pol_policy *p, int64_t posted_ms);

/* True when the policy skips approval at this severity (the shell announces
 * and records the skip). Never for CMD_SEV_UNSET, never with --with-db. */
bool pol_skip_approval(const struct pol_policy *p, enum cmd_severity severity, bool with_db);

/* Distinct approvals needed: `required` (at least 1), and at least 2 with
 * --with-db. */
int pol_needed(const struct pol_policy *p, bool with_db);

/* How many of st's approvals count now for this request under this policy:
 * people still approvers, less the requester when they may not approve. */
int pol_counted(const struct pol_policy *p, const struct pol_request *req,
		const struct pol_state *st);

/* Writes who may approve into buf (size bytes) as Slack markup, for the
 * request message: "<@U1>, <@U2> or <!subteam^S1>" (listed approvers once
 * each, less the requester when their approval would not count, then the
 * group; when req->escalated, the fallback users not listed yet and the
 * fallback group follow). Only req->requester, req->with_db and
 * req->escalated are read; req may be NULL.
 * Returns 0 ("" when nobody is listed), RB_ETOOBIG when cut (buf still
 * NUL-terminated) or RB_EINVAL when size is 0. */
int pol_mentions(const struct pol_policy *p, const struct pol_request *req, char *buf,
		 size_t size) RB_MUSTCHECK;

/* The people who could approve this request: each listed approver and
 * known group member once, then, when req->escalated, each fallback user
 * and known fallback group member not counted yet, less the requester when
 * their approval would not count. Writes the first `max` of them (borrowed
 * from p) into who (NULL with max 0 to count only) and returns how many
 * there are. */
int pol_eligible(const struct pol_policy *p, const struct pol_request *req, const char **who,
		 int max);
/* True when the request could never be approved, even by the fallback
 * approvers: fewer eligible people (pol_eligible, fallback included) than
 * pol_needed. Never while a group's members are unknown (p->group_unknown,
 * or p->fallback_group_unknown when the approvers alone are too few): they
 * may be enough, and a rollback is not refused on knowledge rollbot lacks.
 * Only req->requester and req->with_db are read. */
bool pol_unapprovable(const struct pol_policy *p, const struct pol_request *req);
/* True when the approvers alone are known to be too few for this request
 * (the requester is the only release manager, say) but the fallback
 * approvers make up the number, or may (their group unknown): the request
 * is then escalated from the start, asked of the fallback at once rather
 * than after escalate_after. A fallback is enough; escalate_after need not
 * be set. Only req->requester and req->with_db are read. */
bool pol_short_handed(const struct pol_policy *p, const struct pol_request *req);
/* True when the policy names a fallback user or group. */
bool pol_has_fallback(const struct pol_policy *p);
/* True when `user` is a listed approver or a member of the approver group
 * as last resolved (who may also close or cancel an incident by hand). */
bool pol_is_approver(const struct pol_policy *p, const char *user);
/* True when `user` is a fallback user or a member of the fallback group as
 * last resolved. */
bool pol_is_fallback(const struct pol_policy *p, const char *user);
/* True when the policy escalates: escalate_after_ms > 0 and a fallback
 * user or group to escalate to. */
bool pol_escalates(const struct pol_policy *p);
/* The fallback approvers as Slack markup, as pol_mentions writes the
 * approvers ("<@U7> or <!subteam^S5>"), less the requester when their
 * approval would not count. Same returns as pol_mentions. */
int pol_fallback_mentions(const struct pol_policy *p, const struct pol_request *req, char *buf,
			  size_t size) RB_MUSTCHECK;

/* True when Slack's reaction name is `name`, whatever its skin-tone suffix
 * ("white_check_mark", "pushpin::skin-tone-2"). NULL is read as "". */
bool pol_emoji_is(const char *reaction, const char *name);

/* Names for audit rows and logs ("approved", "approval_counted", …);
 * "invalid" for a value out of range. */
const char *pol_verdict_name(enum pol_verdict v);
const char *pol_reason_name(enum pol_reason r);
/* Parses a verdict name as stored; returns 0, or RB_EINVAL (out untouched). */
int pol_verdict_from_name(const char *name, enum pol_verdict *out);

#endif
