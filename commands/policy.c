/* rollbot — the approval policy (MIT licence, see LICENSE).
 *
 * Implementation of policy.h. pol_react() is the only function that counts
 * or withdraws an approval; it runs its checks in one fixed order (see the
 * comment above it) so that every reaction gets exactly one reason, and
 * an ignored reaction leaves the state, field for field, as it was.
 */
#include "policy.h"

#include <stdio.h>
#include <string.h>

static const char *const verdict_names[POL_VERDICT_COUNT] = {
	[POL_PENDING] = "pending",
	[POL_APPROVED] = "approved",
	[POL_REJECTED] = "rejected",
	[POL_EXPIRED] = "expired",
};

static const char *const reason_names[POL_REASON_COUNT] = {
	[POL_APPROVAL_COUNTED] = "approval_counted",
	[POL_REJECTION_COUNTED] = "rejection_counted",
	[POL_APPROVAL_WITHDRAWN] = "approval_withdrawn",
	[POL_PLAN_CHANGED] = "plan_changed",
	[POL_IGN_BOT] = "ignored_bot_reaction",
	[POL_IGN_OTHER_MESSAGE] = "ignored_other_message",
	[POL_IGN_OTHER_EMOJI] = "ignored_other_emoji",
	[POL_IGN_LOOKALIKE] = "ignored_lookalike_emoji",
	[POL_IGN_NOT_APPROVER] = "ignored_not_approver",
	[POL_IGN_NOT_ESCALATED] = "ignored_fallback_before_escalation",
	[POL_IGN_REQUESTER] = "ignored_requester",
	[POL_IGN_DUPLICATE] = "ignored_duplicate",
	[POL_IGN_FINAL] = "ignored_final",
	[POL_IGN_UNREJECT] = "ignored_removed_rejection",
	[POL_IGN_NOT_COUNTED] = "ignored_nothing_to_withdraw",
	[POL_IGN_FULL] = "ignored_full",
};

/* Emoji that people use for "yes" or "no" but that are not decisions here
 * (policy.h explains why). Only their base names: suffixes are stripped. */
static const char *const lookalikes[] = {
	"+1",
	"thumbsup",
	"heavy_check_mark",
	"ballot_box_with_check",
	"ok_hand",
	"ok",
	"-1",
	"thumbsdown",
	"no_entry",
	"no_entry_sign",
	"heavy_multiplication_x",
	"negative_squared_cross_mark",
};

enum emoji_kind {
	EMOJI_OTHER,
	EMOJI_APPROVE,
	EMOJI_REJECT,
	EMOJI_LOOKALIKE,
};

static const char *str(const char *s)
{
	return s ? s : "";
}

/* True when the first n bytes of base are exactly the name. */
static bool base_is(const char *base, size_t n, const char *name)
{
	return strlen(name) == n && !memcmp(base, name, n);
}

/* Slack sends skin tones as a suffix ("+1::skin-tone-2"): only the part
 * before "::" names the emoji. Its length: */
static size_t emoji_base_len(const char *reaction)
{
	const char *colons = strstr(reaction, "::");

	return colons ? (size_t)(colons - reaction) : strlen(reaction);
}

bool pol_emoji_is(const char *reaction, const char *name)
{
	const char *r = str(reaction);

	return base_is(r, emoji_base_len(r), str(name));
}

static enum emoji_kind classify(const char *reaction)
{
	size_t n = emoji_base_len(reaction);

	if (base_is(reaction, n, POL_EMOJI_APPROVE))
		return EMOJI_APPROVE;
	if (base_is(reaction, n, POL_EMOJI_REJECT))
		return EMOJI_REJECT;
	for (size_t i = 0; i < RB_ARRAY_LEN(lookalikes); i++) {
		if (base_is(reaction, n, lookalikes[i]))
			return EMOJI_LOOKALIKE;
	}
	return EMOJI_OTHER;
}

static bool in_list(const char *const *list, size_t n, const char *user)
{
	if (!list)
		return false;
	for (size_t i = 0; i < n; i++) {
		if (list[i] && !strcmp(list[i], user))
			return true;
	}
	return false;
}

/* An ID that does not fit in the state could never be recorded, so it is
 * never an approver; so is the empty ID. Comparisons are on whole strings,
 * never on a truncated copy. */
static bool is_approver(const struct pol_policy *p, const char *user)
{
	size_t len = strlen(user);

	if (len == 0 || len >= POL_USER_MAX)
		return false;
	return in_list(p->approvers, p->n_approvers, user) ||
	       in_list(p->group_members, p->n_group_members, user);
}

/* The requester's own approval never counts for a database rollback: a
 * second person must look at anything that can lose data. */
bool pol_is_approver(const struct pol_policy *p, const char *user)
{
	return is_approver(p, user ? user : "");
}

bool pol_is_fallback(const struct pol_policy *p, const char *user)
{
	size_t len = strlen(str(user));

	if (len == 0 || len >= POL_USER_MAX)
		return false;
	return in_list(p->fallback, p->n_fallback, user) ||
	       in_list(p->fallback_members, p->n_fallback_members, user);
}

bool pol_escalates(const struct pol_policy *p)
{
	return p->escalate_after_ms > 0 &&
	       ((p->fallback && p->n_fallback) || str(p->fallback_group_id)[0]);
}

/* Whose ✅ and ❌ count on this request: the approvers, and the fallback
 * approvers once it was escalated to them. */
static bool decides(const struct pol_policy *p, const struct pol_request *req, const char *user)
{
	return is_approver(p, user) || (req && req->escalated && pol_is_fallback(p, user));
}

static bool requester_excluded(const struct pol_policy *p, const struct pol_request *req)
{
	return !p->allow_self_approval || req->with_db;
}

static bool is_requester(const struct pol_request *req, const char *user)
{
	return str(req->requester)[0] != '\0' && !strcmp(str(req->requester), user);
}

static int find_approval(const struct pol_state *st, const char *user)
{
	for (int i = 0; i < st->n_approved; i++) {
		if (!strcmp(st->approved_by[i], user))
			return i;
	}
	return -1;
}

static bool verdict_is_final(enum pol_verdict v)
{
	return v != POL_PENDING;
}

/* Both must be set: a request not yet posted (ts "") matches no reaction. */
static bool same_id(const char *a, const char *b)
{
	return str(a)[0] != '\0' && !strcmp(str(a), str(b));
}

static void reset_approvals(struct pol_state *st)
{
	st->n_approved = 0;
	memset(st->approved_by, 0, sizeof st->approved_by);
	memset(st->rejected_by, 0, sizeof st->rejected_by);
}

/* Returns RB_EINVAL with a reason in err when id is not a plausible Slack ID
 * of the kind named by `kind` (e.g. "user ID (U… or W…)"), whose first
 * letter must be one of `first`: upper-case letters and digits, as Slack
 * issues them, and short enough for the state. Anything else would never
 * match a reaction's user, and would break the mention markup. */
static int check_id(const char *what, const char *id, const char *first, const char *kind,
		    char *err, size_t errlen)
{
	size_t len = strlen(str(id));
	bool ok = len > 0 && len < POL_USER_MAX && strchr(first, id[0]);

	for (size_t i = 0; ok && i < len; i++)
		ok = (id[i] >= 'A' && id[i] <= 'Z') || (id[i] >= '0' && id[i] <= '9');
	if (ok)
		return 0;
	snprintf(err, errlen, "%s \"%s\" is not a Slack %s", what, str(id), kind);
	return RB_EINVAL;
}

/* Checks that a policy can work: `required` in 1..POL_MAX_APPROVERS, a
 * positive timeout, well-formed approver and group IDs, somebody to approve,
 * and, without a group, at least `required` distinct approvers. Returns 0,
 * or RB_EINVAL with a one-line message in err (errlen bytes, may be 0). The
 * group's members are not checked: the shell resolves them later, and
 * pol_react never counts an ID that does not fit. */
int pol_policy_check(const struct pol_policy *p, char *err, size_t errlen)
{
	size_t distinct = 0;
	bool has_group = str(p->group_id)[0] != '\0';

	if (p->required < 1 || p->required > POL_MAX_APPROVERS) {
		snprintf(err, errlen, "required approvals must be 1 to %d, not %d",
			 POL_MAX_APPROVERS, p->required);
		return RB_EINVAL;
	}
	if (p->timeout_ms <= 0) {
		snprintf(err, errlen, "the approval timeout must be positive");
		return RB_EINVAL;
	}
	if ((p->n_approvers && !p->approvers) || (p->n_group_members && !p->group_members)) {
		snprintf(err, errlen, "approver list missing");
		return RB_EINVAL;
	}
	for (size_t i = 0; i < p->n_approvers; i++) {
		if (check_id("approver", p->approvers[i], "UW", "user ID (U… or W…)", err, errlen))
			return RB_EINVAL;
		if (!in_list(p->approvers, i, p->approvers[i]))
			distinct++;
	}
	if (has_group &&
	    check_id("approver group", p->group_id, "S", "user group ID (S…)", err, errlen))
		return RB_EINVAL;
	if (!distinct && !has_group) {
		snprintf(err, errlen, "no approvers and no approver group: nobody could approve");
		return RB_EINVAL;
	}
	if (!has_group && distinct < (size_t)p->required) {
		snprintf(err, errlen, "%d approvals required but only %zu approver%s listed",
			 p->required, distinct, distinct == 1 ? "" : "s");
		return RB_EINVAL;
	}
	return 0;
}

/* Sets *st to pending with no approvals, bound to plan_digest. */
void pol_state_init(struct pol_state *st, uint64_t plan_digest)
{
	memset(st, 0, sizeof *st);
	st->verdict = POL_PENDING;
	st->plan_digest = plan_digest;
}

/* Binds st to the plan with this digest. Approvals are given for the plan
 * text the approver read, so a different plan voids them: the approvals
 * and the verdict are reset to pending and true is returned (the shell
 * audits it and posts the request again, with the new plan). This applies
 * to an APPROVED state too — an approval must never carry over to a plan
 * nobody approved — whereas REJECTED and EXPIRED stay as they are, bound to
 * the plan they decided (false). The same digest changes nothing (false). */
bool pol_rebind(struct pol_state *st, uint64_t plan_digest)
{
	if (st->plan_digest == plan_digest)
		return false;
	if (st->verdict == POL_REJECTED || st->verdict == POL_EXPIRED)
		return false;
	reset_approvals(st);
	st->verdict = POL_PENDING;
	st->plan_digest = plan_digest;
	return true;
}

/* Expires st when it is still pending and now_ms has reached deadline_ms
 * (the timer fires at the deadline, so the deadline itself is past it).
 * Returns true when the verdict changed to POL_EXPIRED; a final verdict is
 * never touched. */
bool pol_expire(struct pol_state *st, int64_t now_ms, int64_t deadline_ms)
{
	if (st->verdict != POL_PENDING || now_ms < deadline_ms)
		return false;
	st->verdict = POL_EXPIRED;
	return true;
}

/* Returns posted_ms + the policy's timeout, saturating instead of
 * overflowing. A non-positive timeout (refused by pol_policy_check) gives
 * posted_ms: the request expires at once, which fails closed. */
int64_t pol_deadline(const struct pol_policy *p, int64_t posted_ms)
{
	if (p->timeout_ms <= 0)
		return posted_ms;
	if (posted_ms > INT64_MAX - p->timeout_ms)
		return INT64_MAX;
	return posted_ms + p->timeout_ms;
}

/* True when a request at this severity is configured to need no approval
 * (the shell announces and records the skip). Never for a database
 * rollback: its two-person rule holds at every severity. An unset or
 * unknown severity never skips. */
bool pol_skip_approval(const struct pol_policy *p, enum cmd_severity severity, bool with_db)
{
	if (with_db || severity < CMD_SEV_P0 || severity > CMD_SEV_P3)
		return false;
	return p->skip[severity];
}

/* Returns the distinct approvals a request needs: `required` (at least 1
 * even if the policy says less), and at least 2 for --with-db. */
int pol_needed(const struct pol_policy *p, bool with_db)
{
	int n = p->required < 1 ? 1 : p->required;

	if (with_db && n < 2)
		n = 2;
	return n;
}

/* Returns how many of st's approvals count now: those of people who are
 * still approvers (the group or the config may have changed since) and
 * not the requester when the requester may not approve. */
int pol_counted(const struct pol_policy *p, const struct pol_request *req,
		const struct pol_state *st)
{
	int n = 0;

	for (int i = 0; i < st->n_approved; i++) {
		const char *u = st->approved_by[i];

		if (!decides(p, req, u))
			continue;
		if (is_requester(req, u) && requester_excluded(p, req))
			continue;
		n++;
	}
	return n;
}

/* Whether `u` counts as one more eligible person: a well-formed ID, not
 * the requester when their approval would not count. */
static bool eligible(const struct pol_policy *p, const struct pol_request *req, const char *u)
{
	size_t len = strlen(str(u));

	if (len == 0 || len >= POL_USER_MAX)
		return false;
	return !(req && is_requester(req, u) && requester_excluded(p, req));
}

/* The lists pol_eligible counts people from, in order: the approvers,
 * the group's members, then (escalated) the fallback users and the
 * fallback group's members. Returns how many lists there are. */
static int people_lists(const struct pol_policy *p, const struct pol_request *req,
			const char *const *list[4], size_t n[4])
{
	list[0] = p->approvers;
	n[0] = p->approvers ? p->n_approvers : 0;
	list[1] = p->group_members;
	n[1] = p->group_members ? p->n_group_members : 0;
	if (!req || !req->escalated)
		return 2;
	list[2] = p->fallback;
	n[2] = p->fallback ? p->n_fallback : 0;
	list[3] = p->fallback_members;
	n[3] = p->fallback_members ? p->n_fallback_members : 0;
	return 4;
}

/* Returns how many people could approve the request (see policy.h). Each
 * is counted at their first place in the lists, so that nobody counts
 * twice; the lists are short enough to scan. */
int pol_eligible(const struct pol_policy *p, const struct pol_request *req, const char **who,
		 int max)
{
	const char *const *list[4];
	size_t len[4];
	int nl = people_lists(p, req, list, len), n = 0;

	for (int l = 0; l < nl; l++) {
		for (size_t i = 0; i < len[l]; i++) {
			const char *u = list[l][i];
			bool seen = in_list(list[l], i, u);

			for (int k = 0; k < l && !seen; k++)
				seen = in_list(list[k], len[k], u);
			if (seen || !eligible(p, req, u))
				continue;
			if (n < max)
				who[n] = u;
			n++;
		}
	}
	return n;
}

bool pol_has_fallback(const struct pol_policy *p)
{
	return (p->fallback && p->n_fallback) || str(p->fallback_group_id)[0];
}

/* The request as pol_eligible reads it, escalated or not. */
static struct pol_request as_escalated(const struct pol_request *req, bool escalated)
{
	struct pol_request r = { .escalated = escalated };

	if (req) {
		r.requester = req->requester;
		r.with_db = req->with_db;
	}
	return r;
}

/* The approvers alone are known to be too few. */
static bool approvers_short(const struct pol_policy *p, const struct pol_request *req)
{
	struct pol_request r = as_escalated(req, false);

	if (p->group_unknown)
		return false;
	return pol_eligible(p, &r, NULL, 0) < pol_needed(p, r.with_db);
}

bool pol_unapprovable(const struct pol_policy *p, const struct pol_request *req)
{
	struct pol_request r = as_escalated(req, true);

	if (!approvers_short(p, req))
		return false;
	if (p->fallback_group_unknown && str(p->fallback_group_id)[0])
		return false;
	return pol_eligible(p, &r, NULL, 0) < pol_needed(p, r.with_db);
}

bool pol_short_handed(const struct pol_policy *p, const struct pol_request *req)
{
	return pol_has_fallback(p) && approvers_short(p, req) && !pol_unapprovable(p, req);
}

/* The checks of pol_react, in order, on n (a copy of the current state). */
static enum pol_reason decide(const struct pol_policy *p, const struct pol_request *req,
			      const struct pol_reaction *ev, struct pol_state *n)
{
	const char *user = str(ev->user);
	enum emoji_kind kind;
	int at;

	if (str(req->bot_user)[0] != '\0' && !strcmp(user, req->bot_user))
		return POL_IGN_BOT;
	if (!same_id(req->channel, ev->channel) || !same_id(req->ts, ev->ts))
		return POL_IGN_OTHER_MESSAGE;
	if (ev->plan_digest != n->plan_digest)
		return pol_rebind(n, ev->plan_digest) ? POL_PLAN_CHANGED : POL_IGN_FINAL;

	kind = classify(str(ev->reaction));
	if (kind == EMOJI_OTHER)
		return POL_IGN_OTHER_EMOJI;
	if (kind == EMOJI_LOOKALIKE) {
		if (ev->added && n->verdict == POL_PENDING && decides(p, req, user))
			return POL_IGN_LOOKALIKE;
		return POL_IGN_OTHER_EMOJI;
	}
	if (kind == EMOJI_REJECT && !ev->added)
		return POL_IGN_UNREJECT;
	if (verdict_is_final(n->verdict))
		return POL_IGN_FINAL;

	if (!ev->added) {
		at = find_approval(n, user);
		if (at < 0)
			return POL_IGN_NOT_COUNTED;
		memmove(n->approved_by[at], n->approved_by[at + 1],
			(size_t)(n->n_approved - at - 1) * sizeof n->approved_by[0]);
		n->n_approved--;
		memset(n->approved_by[n->n_approved], 0, sizeof n->approved_by[0]);
		return POL_APPROVAL_WITHDRAWN;
	}

	if (!decides(p, req, user))
		return pol_escalates(p) && pol_is_fallback(p, user) ? POL_IGN_NOT_ESCALATED
								     : POL_IGN_NOT_APPROVER;
	if (kind == EMOJI_REJECT) {
		n->verdict = POL_REJECTED;
		/* Fits: is_approver() refuses IDs longer than the field. */
		(void)rb_strlcpy(n->rejected_by, user, sizeof n->rejected_by);
		return POL_REJECTION_COUNTED;
	}
	if (is_requester(req, user) && requester_excluded(p, req))
		return POL_IGN_REQUESTER;
	if (find_approval(n, user) >= 0)
		return POL_IGN_DUPLICATE;
	if (n->n_approved >= POL_MAX_APPROVERS)
		return POL_IGN_FULL;
	(void)rb_strlcpy(n->approved_by[n->n_approved], user, sizeof n->approved_by[0]);
	n->n_approved++;
	if (pol_counted(p, req, n) >= pol_needed(p, req->with_db))
		n->verdict = POL_APPROVED;
	return POL_APPROVAL_COUNTED;
}

/* Applies one reaction to cur and writes the result to *next (next may be
 * cur). Returns the reason; for every POL_IGN_* reason *next equals *cur.
 * Nothing is kept: p, req and ev are borrowed for the call.
 *
 * The checks run in this order, and the first that applies decides:
 *  1. rollbot's own reaction (it seeds ✅ and ❌ on the request);
 *  2. a reaction on any message but the request (channel and ts);
 *  3. a plan digest that differs from the state's: the state is rebound
 *     (pol_rebind) and the event is not counted, since its author read the
 *     old plan: POL_PLAN_CHANGED, or POL_IGN_FINAL when rejected/expired;
 *  4. the emoji: not a decision (a look-alike from an approver, added while
 *     pending, gets its own reason so that the shell can give a hint);
 *  5. a removed ❌: never undoes anything;
 *  6. a final verdict;
 *  7. a removed ✅: withdraws the approval if it was recorded (the verdict
 *     is pending here, and stays so);
 *  8. an added ✅ or ❌ from someone who is not an approver (a fallback
 *     approver is one once the request was escalated: req->escalated);
 *  9. ❌ from an approver rejects, the requester's included: calling off
 *     one's own rollback needs nobody's permission;
 * 10. ✅ from the requester, unless self-approval is allowed and this is not
 *     a --with-db rollback;
 * 11. a duplicate; 12. no room (only with a policy pol_policy_check refuses);
 * 13. otherwise the approval is recorded, and the verdict becomes
 *     POL_APPROVED once pol_counted() reaches pol_needed(). */
enum pol_reason pol_react(const struct pol_policy *p, const struct pol_request *req,
			  const struct pol_state *cur, const struct pol_reaction *ev,
			  struct pol_state *next)
{
	struct pol_state n = *cur;
	enum pol_reason r = decide(p, req, ev, &n);

	*next = n;
	return r;
}

/* Appends s to buf (size bytes, used so far *len); false when it did not
 * fit, in which case buf holds as much as fitted, NUL-terminated. */
static bool put(char *buf, size_t size, size_t *len, const char *s)
{
	size_t n = strlen(s);
	size_t room = size - *len - 1;

	if (n > room) {
		memcpy(buf + *len, s, room);
		*len += room;
		buf[*len] = '\0';
		return false;
	}
	memcpy(buf + *len, s, n);
	*len += n;
	buf[*len] = '\0';
	return true;
}

/* Whether approvers[i] goes in the mentions: a well-formed ID, its first
 * occurrence, and not the requester when the requester's ✅ would not count. */
static bool listed(const struct pol_policy *p, const struct pol_request *req, size_t i)
{
	const char *u = str(p->approvers[i]);
	size_t len = strlen(u);

	if (len == 0 || len >= POL_USER_MAX || in_list(p->approvers, i, u))
		return false;
	return !(req && is_requester(req, u) && requester_excluded(p, req));
}

/* The separator before item number `done` of `total`: "A", "A or B", "A, B or C". */
static const char *separator(size_t done, size_t total)
{
	if (done == 0)
		return "";
	return done + 1 == total ? " or " : ", ";
}

/* Whether fallback[i] goes in the mentions of an escalated request: as
 * listed() would have it, and not named among the approvers already. */
static bool fallback_listed(const struct pol_policy *p, const struct pol_request *req, size_t i)
{
	const char *u = str(p->fallback[i]);
	size_t len = strlen(u);

	if (len == 0 || len >= POL_USER_MAX || in_list(p->fallback, i, u) ||
	    in_list(p->approvers, p->approvers ? p->n_approvers : 0, u))
		return false;
	return !(req && is_requester(req, u) && requester_excluded(p, req));
}

/* A group ID that fits the markup (a longer one would be cut). */
static bool group_ok(const char *id)
{
	size_t len = strlen(str(id));

	return len > 0 && len < POL_USER_MAX;
}

/* Writes who may approve the request into buf as Slack markup: each listed
 * approver as <@U…> (once, and without the requester when the requester's
 * approval would not count), then, escalated, each fallback user not named
 * yet, then the group and the fallback group as <!subteam^S…>, joined as
 * "A", "A or B", "A, B or C". req may be NULL to list the approvers.
 * Returns 0; RB_ETOOBIG when buf (size bytes) was too small, with as much
 * as fitted, NUL-terminated; RB_EINVAL when size is 0. Nobody to list
 * gives "". */
int pol_mentions(const struct pol_policy *p, const struct pol_request *req, char *buf, size_t size)
{
	bool esc = req && req->escalated;
	size_t na = p->approvers ? p->n_approvers : 0;
	size_t nf = esc && p->fallback ? p->n_fallback : 0;
	const char *groups[2] = { NULL, NULL };
	size_t total = 0, done = 0, len = 0;

	if (size == 0)
		return RB_EINVAL;
	buf[0] = '\0';
	if (group_ok(p->group_id))
		groups[0] = p->group_id;
	if (esc && group_ok(p->fallback_group_id) && !same_id(p->fallback_group_id, groups[0]))
		groups[1] = p->fallback_group_id;
	/* Count first, so that the last separator can be " or ". */
	for (size_t i = 0; i < na + nf; i++)
		total += i < na ? listed(p, req, i) : fallback_listed(p, req, i - na);
	total += (groups[0] != NULL) + (groups[1] != NULL);

	for (size_t i = 0; i < na + nf; i++) {
		char one[POL_USER_MAX + 8];

		if (i < na ? !listed(p, req, i) : !fallback_listed(p, req, i - na))
			continue;
		snprintf(one, sizeof one, "<@%s>", i < na ? p->approvers[i] : p->fallback[i - na]);
		if (!put(buf, size, &len, separator(done, total)) || !put(buf, size, &len, one))
			return RB_ETOOBIG;
		done++;
	}
	for (int g = 0; g < 2; g++) {
		char one[POL_USER_MAX + 16];

		if (!groups[g])
			continue;
		snprintf(one, sizeof one, "<!subteam^%s>", groups[g]);
		if (!put(buf, size, &len, separator(done, total)) || !put(buf, size, &len, one))
			return RB_ETOOBIG;
		done++;
	}
	return 0;
}

int pol_fallback_mentions(const struct pol_policy *p, const struct pol_request *req, char *buf,
			  size_t size)
{
	struct pol_policy f;

	/* The same markup as the approvers', from the fallback lists. */
	memset(&f, 0, sizeof f);
	f.approvers = p->fallback;
	f.n_approvers = p->n_fallback;
	f.group_id = p->fallback_group_id;
	f.allow_self_approval = p->allow_self_approval;
	return pol_mentions(&f, req, buf, size);
}

const char *pol_verdict_name(enum pol_verdict v)
{
	return (unsigned)v < POL_VERDICT_COUNT ? verdict_names[v] : "invalid";
}

const char *pol_reason_name(enum pol_reason r)
{
	return (unsigned)r < POL_REASON_COUNT ? reason_names[r] : "invalid";
}

/* Parses a verdict as pol_verdict_name writes it. Returns 0 and sets *out,
 * or RB_EINVAL (out untouched) for any other string. */
int pol_verdict_from_name(const char *name, enum pol_verdict *out)
{
	for (int i = 0; i < POL_VERDICT_COUNT; i++) {
		if (!strcmp(str(name), verdict_names[i])) {
			*out = (enum pol_verdict)i;
			return 0;
		}
	}
	return RB_EINVAL;
}
