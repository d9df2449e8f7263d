/* rollbot — unit tests of commands/policy.c (MIT licence, see LICENSE).
 *
 * The reaction rules are one table: each row is a policy, a request, the
 * reactions that came before, one more reaction, and what that reaction
 * must do. Every row runs as its own cmocka test under its own name, so a
 * failure says which rule broke. Expiry and severity skips are tables of
 * the same kind; the rest are one behaviour per function. The tables are
 * kept out of clang-format: one row per case reads better than the
 * one-field-per-line layout it would give them.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "commands/policy.h"

/* clang-format off */
/* People and places, shaped like real Slack IDs. */
#define JANE "U02JD0E4512"    /* the requester in every row */
#define ALICE "U03ASM1TH7Q"   /* approver */
#define BOB "U04B0BB0B04"     /* approver */
#define CAROL "U05CAR0L005"   /* member of the approver group */
#define MALLORY "U09MA110RY9" /* nobody in particular */
#define BOT "U07RLB0T9QK"     /* rollbot itself */
#define GROUP "S05RLMGRS1"
#define CHAN "C05K8Q2V7XM"
#define OTHER_CHAN "C06OTHERCH1"
#define TS "1781061129.402619"
#define OTHER_TS "1781061130.000100"
#define DIGEST UINT64_C(0x5eed5eed5eed5eed)
#define NEW_DIGEST UINT64_C(0xbeefbeefbeefbeef)
#define TIMEOUT_MS (15 * 60 * 1000)
#define POSTED_MS INT64_C(1781061129402)

#define OK "white_check_mark"
#define NO "x"

static const char *const ab[] = {ALICE, BOB};
static const char *const abj[] = {ALICE, BOB, JANE};
static const char *const a_bot[] = {ALICE, BOT};
static const char *const group[] = {CAROL};
static const char *const long_group[] = {"U0123456789012345678901234567"}; /* 29 characters */

#define POLICY(list, grp, req, self)                                                              \
	{                                                                                         \
		.approvers = (list), .n_approvers = RB_ARRAY_LEN(list), .group_members = (grp),  \
		.n_group_members = RB_ARRAY_LEN(grp), .group_id = GROUP, .required = (req),      \
		.allow_self_approval = (self), .timeout_ms = TIMEOUT_MS,                         \
	}

static const struct pol_policy one = POLICY(ab, group, 1, false);
static const struct pol_policy two = POLICY(ab, group, 2, false);
static const struct pol_policy three = POLICY(ab, group, 3, false);
static const struct pol_policy self_ok = POLICY(abj, group, 1, true);
static const struct pol_policy self_no = POLICY(abj, group, 1, false);
static const struct pol_policy bot_listed = POLICY(a_bot, group, 1, false);
static const struct pol_policy long_member = POLICY(ab, long_group, 1, false);
/* clang-format on */

struct ev {
	const char *user;
	const char *reaction;
	const char *channel;
	const char *ts;
	bool added;
	uint64_t digest;
};

/* clang-format off */
#define ADD(u, r) {(u), (r), CHAN, TS, true, DIGEST}
#define DEL(u, r) {(u), (r), CHAN, TS, false, DIGEST}
#define ADD_AT(u, r, c, t) {(u), (r), (c), (t), true, DIGEST}
#define ADD_NEW(u, r) {(u), (r), CHAN, TS, true, NEW_DIGEST}
/* clang-format on */

#define MAX_PRIOR 4

struct react_case {
	const char *name;
	const struct pol_policy *policy;
	const char *requester;
	bool with_db;
	struct ev prior[MAX_PRIOR]; /* applied in order, up to the first with user NULL */
	bool expire_first;	    /* then pol_expire() at the deadline */
	struct ev ev;		    /* the reaction under test */
	enum pol_reason reason;
	enum pol_verdict verdict;
	const char *approved[4]; /* the expected approved_by, NULL-terminated */
	const char *rejected_by; /* NULL for "" */
};

/* clang-format off */
static const struct react_case react_cases[] = {
	/* Counting approvals. */
	{"approver approves at required 1", &one, JANE, false, {{0}}, false, ADD(ALICE, OK),
	 POL_APPROVAL_COUNTED, POL_APPROVED, {ALICE}, NULL},
	{"quorum 2: one approval leaves it pending", &two, JANE, false, {{0}}, false,
	 ADD(ALICE, OK), POL_APPROVAL_COUNTED, POL_PENDING, {ALICE}, NULL},
	{"quorum 2: a second distinct approver approves", &two, JANE, false, {ADD(ALICE, OK)},
	 false, ADD(BOB, OK), POL_APPROVAL_COUNTED, POL_APPROVED, {ALICE, BOB}, NULL},
	{"quorum 2: the same approver twice counts once", &two, JANE, false, {ADD(ALICE, OK)},
	 false, ADD(ALICE, OK), POL_IGN_DUPLICATE, POL_PENDING, {ALICE}, NULL},
	{"non-approver's approval is ignored", &one, JANE, false, {{0}}, false, ADD(MALLORY, OK),
	 POL_IGN_NOT_APPROVER, POL_PENDING, {NULL}, NULL},
	{"empty user ID is not an approver", &one, JANE, false, {{0}}, false, ADD("", OK),
	 POL_IGN_NOT_APPROVER, POL_PENDING, {NULL}, NULL},
	{"group member's approval counts", &one, JANE, false, {{0}}, false, ADD(CAROL, OK),
	 POL_APPROVAL_COUNTED, POL_APPROVED, {CAROL}, NULL},
	{"group member with an over-long ID never counts", &long_member, JANE, false, {{0}}, false,
	 ADD("U0123456789012345678901234567", OK), POL_IGN_NOT_APPROVER, POL_PENDING, {NULL},
	 NULL},

	/* The requester. */
	{"requester's own approval is ignored", &self_no, JANE, false, {{0}}, false,
	 ADD(JANE, OK), POL_IGN_REQUESTER, POL_PENDING, {NULL}, NULL},
	{"requester's own approval counts with allow_self_approval", &self_ok, JANE, false, {{0}},
	 false, ADD(JANE, OK), POL_APPROVAL_COUNTED, POL_APPROVED, {JANE}, NULL},
	{"requester who is not an approver is told so", &one, JANE, false, {{0}}, false,
	 ADD(JANE, OK), POL_IGN_NOT_APPROVER, POL_PENDING, {NULL}, NULL},
	{"requester who is an approver may reject (call it off)", &self_no, JANE, false, {{0}},
	 false, ADD(JANE, NO), POL_REJECTION_COUNTED, POL_REJECTED, {NULL}, JANE},

	/* rollbot's own reactions and other messages. */
	{"bot's own approve is ignored", &one, JANE, false, {{0}}, false, ADD(BOT, OK),
	 POL_IGN_BOT, POL_PENDING, {NULL}, NULL},
	{"bot's own reject is ignored", &one, JANE, false, {{0}}, false, ADD(BOT, NO), POL_IGN_BOT,
	 POL_PENDING, {NULL}, NULL},
	{"bot listed as an approver by mistake still never approves", &bot_listed, JANE, false,
	 {{0}}, false, ADD(BOT, OK), POL_IGN_BOT, POL_PENDING, {NULL}, NULL},
	{"approval on another message is ignored", &one, JANE, false, {{0}}, false,
	 ADD_AT(ALICE, OK, CHAN, OTHER_TS), POL_IGN_OTHER_MESSAGE, POL_PENDING, {NULL}, NULL},
	{"approval on the same ts in another channel is ignored", &one, JANE, false, {{0}}, false,
	 ADD_AT(ALICE, OK, OTHER_CHAN, TS), POL_IGN_OTHER_MESSAGE, POL_PENDING, {NULL}, NULL},
	{"approval on a file (no channel, no ts) is ignored", &one, JANE, false, {{0}}, false,
	 ADD_AT(ALICE, OK, NULL, NULL), POL_IGN_OTHER_MESSAGE, POL_PENDING, {NULL}, NULL},

	/* Rejection. */
	{"approver's reject rejects", &one, JANE, false, {{0}}, false, ADD(ALICE, NO),
	 POL_REJECTION_COUNTED, POL_REJECTED, {NULL}, ALICE},
	{"reject after one approval of two rejects", &two, JANE, false, {ADD(ALICE, OK)}, false,
	 ADD(BOB, NO), POL_REJECTION_COUNTED, POL_REJECTED, {ALICE}, BOB},
	{"non-approver's reject is ignored", &one, JANE, false, {{0}}, false, ADD(MALLORY, NO),
	 POL_IGN_NOT_APPROVER, POL_PENDING, {NULL}, NULL},
	{"removed reject after a rejection: still rejected", &one, JANE, false, {ADD(ALICE, NO)},
	 false, DEL(ALICE, NO), POL_IGN_UNREJECT, POL_REJECTED, {NULL}, ALICE},
	{"removed reject that never counted changes nothing", &one, JANE, false,
	 {ADD(MALLORY, NO)}, false, DEL(MALLORY, NO), POL_IGN_UNREJECT, POL_PENDING, {NULL},
	 NULL},
	{"approval after a rejection is final", &one, JANE, false, {ADD(ALICE, NO)}, false,
	 ADD(BOB, OK), POL_IGN_FINAL, POL_REJECTED, {NULL}, ALICE},

	/* Withdrawal. */
	{"removed approval withdraws: 2 of 3 back to 1 of 3", &three, JANE, false,
	 {ADD(ALICE, OK), ADD(BOB, OK)}, false, DEL(BOB, OK), POL_APPROVAL_WITHDRAWN,
	 POL_PENDING, {ALICE}, NULL},
	{"removed approval withdraws: 1 of 2 back to 0 of 2", &two, JANE, false, {ADD(ALICE, OK)},
	 false, DEL(ALICE, OK), POL_APPROVAL_WITHDRAWN, POL_PENDING, {NULL}, NULL},
	{"withdrawn approval no longer counts toward the quorum", &two, JANE, false,
	 {ADD(ALICE, OK), DEL(ALICE, OK)}, false, ADD(BOB, OK), POL_APPROVAL_COUNTED, POL_PENDING,
	 {BOB}, NULL},
	{"withdrawn approver may approve again", &two, JANE, false,
	 {ADD(ALICE, OK), DEL(ALICE, OK), ADD(BOB, OK)}, false, ADD(ALICE, OK),
	 POL_APPROVAL_COUNTED, POL_APPROVED, {BOB, ALICE}, NULL},
	{"removed approval after 2 of 2 approved is final", &two, JANE, false,
	 {ADD(ALICE, OK), ADD(BOB, OK)}, false, DEL(BOB, OK), POL_IGN_FINAL, POL_APPROVED,
	 {ALICE, BOB}, NULL},
	{"removed approval after approved at 1 is final", &one, JANE, false, {ADD(ALICE, OK)},
	 false, DEL(ALICE, OK), POL_IGN_FINAL, POL_APPROVED, {ALICE}, NULL},
	{"removed approval that never counted: nothing to withdraw", &one, JANE, false,
	 {ADD(MALLORY, OK)}, false, DEL(MALLORY, OK), POL_IGN_NOT_COUNTED, POL_PENDING, {NULL},
	 NULL},
	{"a second approval after approved is final", &one, JANE, false, {ADD(ALICE, OK)}, false,
	 ADD(BOB, OK), POL_IGN_FINAL, POL_APPROVED, {ALICE}, NULL},

	/* Expiry. */
	{"approval after expiry is final", &one, JANE, false, {{0}}, true, ADD(ALICE, OK),
	 POL_IGN_FINAL, POL_EXPIRED, {NULL}, NULL},
	{"reject after expiry is final", &one, JANE, false, {{0}}, true, ADD(ALICE, NO),
	 POL_IGN_FINAL, POL_EXPIRED, {NULL}, NULL},

	/* --with-db. */
	{"with-db: one approval is not enough at required 1", &one, JANE, true, {{0}}, false,
	 ADD(ALICE, OK), POL_APPROVAL_COUNTED, POL_PENDING, {ALICE}, NULL},
	{"with-db: two distinct approvers approve", &one, JANE, true, {ADD(ALICE, OK)}, false,
	 ADD(CAROL, OK), POL_APPROVAL_COUNTED, POL_APPROVED, {ALICE, CAROL}, NULL},
	{"with-db: the same approver twice is still one", &one, JANE, true, {ADD(ALICE, OK)},
	 false, ADD(ALICE, OK), POL_IGN_DUPLICATE, POL_PENDING, {ALICE}, NULL},
	{"with-db: requester never counts, even with allow_self_approval", &self_ok, JANE, true,
	 {ADD(ALICE, OK)}, false, ADD(JANE, OK), POL_IGN_REQUESTER, POL_PENDING, {ALICE}, NULL},

	/* Emoji. */
	{"skin-tone suffix is stripped from approve", &one, JANE, false, {{0}}, false,
	 ADD(ALICE, "white_check_mark::skin-tone-3"), POL_APPROVAL_COUNTED, POL_APPROVED, {ALICE},
	 NULL},
	{"skin-tone suffix is stripped from reject", &one, JANE, false, {{0}}, false,
	 ADD(ALICE, "x::skin-tone-2"), POL_REJECTION_COUNTED, POL_REJECTED, {NULL}, ALICE},
	{"removed approve with a skin tone withdraws", &two, JANE, false, {ADD(ALICE, OK)}, false,
	 DEL(ALICE, "white_check_mark::skin-tone-2"), POL_APPROVAL_WITHDRAWN, POL_PENDING, {NULL},
	 NULL},
	{"other emoji is ignored", &one, JANE, false, {{0}}, false, ADD(ALICE, "tada"),
	 POL_IGN_OTHER_EMOJI, POL_PENDING, {NULL}, NULL},
	{"a longer name starting with the approve emoji is another emoji", &one, JANE, false,
	 {{0}}, false, ADD(ALICE, "white_check_mark_button"), POL_IGN_OTHER_EMOJI, POL_PENDING,
	 {NULL}, NULL},
	{"a name starting with the reject emoji is another emoji", &one, JANE, false, {{0}}, false,
	 ADD(ALICE, "xmas"), POL_IGN_OTHER_EMOJI, POL_PENDING, {NULL}, NULL},
	{"empty reaction name is another emoji", &one, JANE, false, {{0}}, false, ADD(ALICE, ""),
	 POL_IGN_OTHER_EMOJI, POL_PENDING, {NULL}, NULL},
	{"approver's thumbs-up with a skin tone gets a hint, not a count", &one, JANE, false, {{0}},
	 false, ADD(ALICE, "+1::skin-tone-2"), POL_IGN_LOOKALIKE, POL_PENDING, {NULL}, NULL},
	{"approver's heavy_check_mark gets a hint, not a count", &one, JANE, false, {{0}}, false,
	 ADD(ALICE, "heavy_check_mark"), POL_IGN_LOOKALIKE, POL_PENDING, {NULL}, NULL},
	{"approver's no_entry gets a hint and does not reject", &one, JANE, false, {{0}}, false,
	 ADD(ALICE, "no_entry"), POL_IGN_LOOKALIKE, POL_PENDING, {NULL}, NULL},
	{"non-approver's thumbs-up is just another emoji", &one, JANE, false, {{0}}, false,
	 ADD(MALLORY, "+1"), POL_IGN_OTHER_EMOJI, POL_PENDING, {NULL}, NULL},
	{"look-alike after approved gets no hint", &one, JANE, false, {ADD(ALICE, OK)}, false,
	 ADD(BOB, "+1"), POL_IGN_OTHER_EMOJI, POL_APPROVED, {ALICE}, NULL},

	/* Plan binding. */
	{"plan changed: approvals reset, the event is not counted", &two, JANE, false,
	 {ADD(ALICE, OK)}, false, ADD_NEW(BOB, OK), POL_PLAN_CHANGED, POL_PENDING, {NULL}, NULL},
	{"plan changed after approval: back to pending", &one, JANE, false, {ADD(ALICE, OK)}, false,
	 ADD_NEW(BOB, OK), POL_PLAN_CHANGED, POL_PENDING, {NULL}, NULL},
	{"plan changed after rejection: still rejected", &one, JANE, false, {ADD(ALICE, NO)}, false,
	 ADD_NEW(BOB, OK), POL_IGN_FINAL, POL_REJECTED, {NULL}, ALICE},
	{"after a rebind, approvals for the new plan count", &two, JANE, false,
	 {ADD(ALICE, OK), ADD_NEW(BOB, OK), ADD_NEW(ALICE, OK)}, false, ADD_NEW(BOB, OK),
	 POL_APPROVAL_COUNTED, POL_APPROVED, {ALICE, BOB}, NULL},
};
/* clang-format on */

static struct pol_request request_for(const char *requester, bool with_db)
{
	struct pol_request req = {
		.channel = CHAN,
		.ts = TS,
		.requester = requester,
		.bot_user = BOT,
		.severity = CMD_SEV_P1,
		.with_db = with_db,
	};
	return req;
}

static struct pol_reaction reaction_of(const struct ev *e)
{
	struct pol_reaction r = {
		.user = e->user,
		.reaction = e->reaction,
		.channel = e->channel,
		.ts = e->ts,
		.added = e->added,
		.plan_digest = e->digest,
	};
	return r;
}

/* Field by field: padding bytes are not part of the value. */
static void assert_same_state(const struct pol_state *a, const struct pol_state *b)
{
	assert_int_equal(a->verdict, b->verdict);
	assert_true(a->plan_digest == b->plan_digest);
	assert_int_equal(a->n_approved, b->n_approved);
	for (int i = 0; i < POL_MAX_APPROVERS; i++)
		assert_memory_equal(a->approved_by[i], b->approved_by[i], POL_USER_MAX);
	assert_memory_equal(a->rejected_by, b->rejected_by, POL_USER_MAX);
}

static void run_react_case(void **state)
{
	const struct react_case *c = *state;
	struct pol_request req = request_for(c->requester, c->with_db);
	struct pol_state st, next;
	struct pol_reaction ev;
	enum pol_reason r;
	int n = 0;
	char err[RB_ERR_LEN];

	/* Every policy in the table is one a config could hold. */
	assert_int_equal(pol_policy_check(c->policy, err, sizeof err), 0);

	pol_state_init(&st, DIGEST);
	for (int i = 0; i < MAX_PRIOR && c->prior[i].user; i++) {
		ev = reaction_of(&c->prior[i]);
		(void)pol_react(c->policy, &req, &st, &ev, &st); /* in place */
	}
	if (c->expire_first)
		assert_true(pol_expire(&st, pol_deadline(c->policy, POSTED_MS),
				       pol_deadline(c->policy, POSTED_MS)));

	ev = reaction_of(&c->ev);
	memset(&next, 0xa5, sizeof next); /* whatever was there must be overwritten */
	r = pol_react(c->policy, &req, &st, &ev, &next);

	assert_string_equal(pol_reason_name(r), pol_reason_name(c->reason));
	assert_string_equal(pol_verdict_name(next.verdict), pol_verdict_name(c->verdict));
	while (n < 4 && c->approved[n])
		n++;
	assert_int_equal(next.n_approved, n);
	for (int i = 0; i < n; i++)
		assert_string_equal(next.approved_by[i], c->approved[i]);
	assert_string_equal(next.rejected_by, c->rejected_by ? c->rejected_by : "");
	if (r >= POL_IGN_BOT)
		assert_same_state(&next, &st);
	if (r != POL_PLAN_CHANGED)
		assert_true(next.plan_digest == st.plan_digest);
}

/* Expiry. */

struct expire_case {
	const char *name;
	const char *decide_by; /* NULL: still pending; else ALICE's reaction `reaction` first */
	const char *reaction;
	int64_t now_after_deadline_ms; /* now - deadline */
	bool expired;		       /* pol_expire's answer */
	enum pol_verdict verdict;
};

/* clang-format off */
static const struct expire_case expire_cases[] = {
	{"pending 1 ms before the deadline stays pending", NULL, NULL, -1, false, POL_PENDING},
	{"pending long before the deadline stays pending", NULL, NULL, -TIMEOUT_MS + 1, false,
	 POL_PENDING},
	{"pending at the deadline expires", NULL, NULL, 0, true, POL_EXPIRED},
	{"pending after the deadline expires", NULL, NULL, 3600000, true, POL_EXPIRED},
	{"approved after the deadline stays approved", ALICE, OK, 3600000, false, POL_APPROVED},
	{"rejected after the deadline stays rejected", ALICE, NO, 3600000, false, POL_REJECTED},
};
/* clang-format on */

static void run_expire_case(void **state)
{
	const struct expire_case *c = *state;
	struct pol_request req = request_for(JANE, false);
	struct pol_state st;
	int64_t deadline = pol_deadline(&one, POSTED_MS);

	pol_state_init(&st, DIGEST);
	if (c->decide_by) {
		struct ev e = ADD(c->decide_by, c->reaction);
		struct pol_reaction ev = reaction_of(&e);

		(void)pol_react(&one, &req, &st, &ev, &st);
	}
	assert_int_equal(pol_expire(&st, deadline + c->now_after_deadline_ms, deadline),
			 c->expired);
	assert_string_equal(pol_verdict_name(st.verdict), pol_verdict_name(c->verdict));
	/* Expiring again never reports a second change. */
	assert_false(pol_expire(&st, deadline + c->now_after_deadline_ms, deadline));
}

/* Skipping approval by severity. */

struct skip_case {
	const char *name;
	bool skip_p0, skip_p1;
	enum cmd_severity severity;
	bool with_db;
	bool skip;
};

/* clang-format off */
static const struct skip_case skip_cases[] = {
	{"P0 configured to skip: P0 skips", true, false, CMD_SEV_P0, false, true},
	{"P0 configured to skip: P1 does not", true, false, CMD_SEV_P1, false, false},
	{"P0 and P1 configured to skip: P1 skips", true, true, CMD_SEV_P1, false, true},
	{"nothing configured: P0 does not skip", false, false, CMD_SEV_P0, false, false},
	{"unset severity never skips", true, true, CMD_SEV_UNSET, false, false},
	{"with-db never skips, even at a skipped severity", true, false, CMD_SEV_P0, true, false},
};
/* clang-format on */

static void run_skip_case(void **state)
{
	const struct skip_case *c = *state;
	struct pol_policy p = one;

	p.skip[CMD_SEV_P0] = c->skip_p0;
	p.skip[CMD_SEV_P1] = c->skip_p1;
	assert_int_equal(pol_skip_approval(&p, c->severity, c->with_db), c->skip);
}

/* One behaviour per function. */

static void needed_is_required_and_two_for_with_db(void **state)
{
	struct pol_policy p = one;

	(void)state;
	assert_int_equal(pol_needed(&p, false), 1);
	assert_int_equal(pol_needed(&p, true), 2);
	p.required = 3;
	assert_int_equal(pol_needed(&p, false), 3);
	assert_int_equal(pol_needed(&p, true), 3);
	p.required = 0; /* refused by pol_policy_check; still never zero */
	assert_int_equal(pol_needed(&p, false), 1);
}

static void rebind_resets_pending_and_approved_only(void **state)
{
	struct pol_request req = request_for(JANE, false);
	struct ev e = ADD(ALICE, OK);
	struct pol_reaction ev = reaction_of(&e);
	struct pol_state st;

	(void)state;
	pol_state_init(&st, DIGEST);
	assert_false(pol_rebind(&st, DIGEST)); /* same plan: nothing to do */

	(void)pol_react(&two, &req, &st, &ev, &st);
	assert_int_equal(st.n_approved, 1);
	assert_true(pol_rebind(&st, NEW_DIGEST));
	assert_int_equal(st.n_approved, 0);
	assert_string_equal(st.approved_by[0], "");
	assert_int_equal(st.verdict, POL_PENDING);
	assert_true(st.plan_digest == NEW_DIGEST);

	pol_state_init(&st, DIGEST);
	(void)pol_react(&one, &req, &st, &ev, &st);
	assert_int_equal(st.verdict, POL_APPROVED);
	assert_true(pol_rebind(&st, NEW_DIGEST));
	assert_int_equal(st.verdict, POL_PENDING);

	pol_state_init(&st, DIGEST);
	e.reaction = NO;
	ev = reaction_of(&e);
	(void)pol_react(&one, &req, &st, &ev, &st);
	assert_false(pol_rebind(&st, NEW_DIGEST));
	assert_int_equal(st.verdict, POL_REJECTED);
	assert_true(st.plan_digest == DIGEST);

	pol_state_init(&st, DIGEST);
	assert_true(pol_expire(&st, 1, 1));
	assert_false(pol_rebind(&st, NEW_DIGEST));
	assert_int_equal(st.verdict, POL_EXPIRED);
}

static void deadline_adds_the_timeout_and_saturates(void **state)
{
	struct pol_policy p = one;

	(void)state;
	assert_true(pol_deadline(&p, POSTED_MS) == POSTED_MS + TIMEOUT_MS);
	assert_true(pol_deadline(&p, INT64_MAX - 5) == INT64_MAX);
	p.timeout_ms = 0; /* refused by pol_policy_check: fails closed */
	assert_true(pol_deadline(&p, POSTED_MS) == POSTED_MS);
}

static void counted_follows_the_policy_in_force(void **state)
{
	struct pol_request req = request_for(JANE, false);
	struct pol_policy p = three;
	struct pol_state st;
	static const char *const only_bob[] = { BOB };
	const struct ev evs[] = { ADD(ALICE, OK), ADD(BOB, OK) };

	(void)state;
	pol_state_init(&st, DIGEST);
	for (size_t i = 0; i < RB_ARRAY_LEN(evs); i++) {
		struct pol_reaction ev = reaction_of(&evs[i]);

		(void)pol_react(&p, &req, &st, &ev, &st);
	}
	assert_int_equal(pol_counted(&p, &req, &st), 2);
	/* A config reload drops Alice: her earlier ✅ stops counting. */
	p.approvers = only_bob;
	p.n_approvers = 1;
	assert_int_equal(pol_counted(&p, &req, &st), 1);
}

static void counted_leaves_out_the_requester_for_with_db(void **state)
{
	struct pol_request req = request_for(JANE, false);
	struct ev e = ADD(JANE, OK);
	struct pol_reaction ev = reaction_of(&e);
	struct pol_state st;

	(void)state;
	pol_state_init(&st, DIGEST);
	(void)pol_react(&self_ok, &req, &st, &ev, &st);
	assert_int_equal(pol_counted(&self_ok, &req, &st), 1);
	req.with_db = true;
	assert_int_equal(pol_counted(&self_ok, &req, &st), 0);
}

static void unposted_request_matches_no_reaction(void **state)
{
	struct pol_request req = request_for(JANE, false);
	struct ev e = ADD_AT(ALICE, OK, "", "");
	struct pol_reaction ev = reaction_of(&e);
	struct pol_state st;

	(void)state;
	req.channel = "";
	req.ts = "";
	pol_state_init(&st, DIGEST);
	assert_int_equal(pol_react(&one, &req, &st, &ev, &st), POL_IGN_OTHER_MESSAGE);
	assert_int_equal(st.n_approved, 0);
}

static void full_state_only_with_a_refused_policy(void **state)
{
	static const char *const many[] = {
		"U00000000A1", "U00000000A2", "U00000000A3", "U00000000A4", "U00000000A5",
		"U00000000A6", "U00000000A7", "U00000000A8", "U00000000A9", "U00000000B1",
		"U00000000B2", "U00000000B3", "U00000000B4", "U00000000B5", "U00000000B6",
		"U00000000B7", "U00000000B8",
	};
	struct pol_policy p = POLICY(many, group, POL_MAX_APPROVERS + 1, false);
	struct pol_request req = request_for(JANE, false);
	struct pol_state st;
	char err[RB_ERR_LEN];

	(void)state;
	assert_int_equal(pol_policy_check(&p, err, sizeof err), RB_EINVAL);
	pol_state_init(&st, DIGEST);
	for (int i = 0; i < POL_MAX_APPROVERS; i++) {
		struct ev e = ADD(many[i], OK);
		struct pol_reaction ev = reaction_of(&e);

		assert_int_equal(pol_react(&p, &req, &st, &ev, &st), POL_APPROVAL_COUNTED);
	}
	{
		struct ev e = ADD(many[POL_MAX_APPROVERS], OK);
		struct pol_reaction ev = reaction_of(&e);

		assert_int_equal(pol_react(&p, &req, &st, &ev, &st), POL_IGN_FULL);
	}
	assert_int_equal(st.n_approved, POL_MAX_APPROVERS);
	assert_int_equal(st.verdict, POL_PENDING);
}

static void mentions_list_approvers_then_the_group(void **state)
{
	struct pol_request req = request_for(JANE, false);
	char buf[256];

	(void)state;
	assert_int_equal(pol_mentions(&one, &req, buf, sizeof buf), 0);
	assert_string_equal(buf, "<@" ALICE ">, <@" BOB "> or <!subteam^" GROUP ">");
}

static void mentions_join_one_and_two(void **state)
{
	struct pol_policy p = one;
	char buf[256];

	(void)state;
	p.group_id = NULL;
	assert_int_equal(pol_mentions(&p, NULL, buf, sizeof buf), 0);
	assert_string_equal(buf, "<@" ALICE "> or <@" BOB ">");
	p.n_approvers = 1;
	assert_int_equal(pol_mentions(&p, NULL, buf, sizeof buf), 0);
	assert_string_equal(buf, "<@" ALICE ">");
	p.n_approvers = 0;
	p.group_id = GROUP;
	assert_int_equal(pol_mentions(&p, NULL, buf, sizeof buf), 0);
	assert_string_equal(buf, "<!subteam^" GROUP ">");
	p.group_id = "";
	assert_int_equal(pol_mentions(&p, NULL, buf, sizeof buf), 0);
	assert_string_equal(buf, "");
}

static void mentions_leave_out_a_requester_who_cannot_approve(void **state)
{
	struct pol_request req = request_for(JANE, false);
	static const char *const dup[] = { ALICE, JANE, ALICE };
	struct pol_policy p = POLICY(dup, group, 1, false);
	char buf[256];

	(void)state;
	assert_int_equal(pol_mentions(&p, &req, buf, sizeof buf), 0);
	assert_string_equal(buf, "<@" ALICE "> or <!subteam^" GROUP ">");
	p.allow_self_approval = true;
	assert_int_equal(pol_mentions(&p, &req, buf, sizeof buf), 0);
	assert_string_equal(buf, "<@" ALICE ">, <@" JANE "> or <!subteam^" GROUP ">");
	req.with_db = true;
	assert_int_equal(pol_mentions(&p, &req, buf, sizeof buf), 0);
	assert_string_equal(buf, "<@" ALICE "> or <!subteam^" GROUP ">");
}

static void mentions_report_a_small_buffer(void **state)
{
	char buf[10];

	(void)state;
	assert_int_equal(pol_mentions(&one, NULL, buf, sizeof buf), RB_ETOOBIG);
	assert_int_equal(strlen(buf), sizeof buf - 1);
	assert_string_equal(buf, "<@U03ASM1"); /* as much as fitted */
	assert_int_equal(pol_mentions(&one, NULL, buf, 0), RB_EINVAL);
}

static void policy_check_accepts_a_good_policy(void **state)
{
	char err[RB_ERR_LEN] = "";
	struct pol_policy p = one;

	(void)state;
	assert_int_equal(pol_policy_check(&p, err, sizeof err), 0);
	p.group_id = NULL;
	p.required = 2; /* two listed: reachable without the group */
	assert_int_equal(pol_policy_check(&p, err, sizeof err), 0);
	p = one;
	p.required = POL_MAX_APPROVERS; /* reachable through the group */
	assert_int_equal(pol_policy_check(&p, err, sizeof err), 0);
}

struct bad_policy {
	const char *name;
	struct pol_policy p;
	const char *message; /* a part of err */
};

/* clang-format off */
static const char *const lower[] = {"jane.doe"};
static const char *const channel_id[] = {CHAN};
static const char *const twice[] = {ALICE, ALICE};

static const struct bad_policy bad_policies[] = {
	{"required 0", POLICY(ab, group, 0, false), "required approvals must be 1 to 16, not 0"},
	{"required 17", POLICY(ab, group, 17, false), "not 17"},
	{"user name instead of an ID", POLICY(lower, group, 1, false), "approver \"jane.doe\" is not a Slack user ID (U… or W…)"},
	{"channel ID as an approver", POLICY(channel_id, group, 1, false), "approver \"" CHAN "\""},
};
/* clang-format on */

static void policy_check_refuses_bad_policies(void **state)
{
	char err[RB_ERR_LEN];
	struct pol_policy p;

	(void)state;
	for (size_t i = 0; i < RB_ARRAY_LEN(bad_policies); i++) {
		err[0] = '\0';
		if (pol_policy_check(&bad_policies[i].p, err, sizeof err) != RB_EINVAL)
			fail_msg("%s: accepted", bad_policies[i].name);
		if (!strstr(err, bad_policies[i].message))
			fail_msg("%s: \"%s\" lacks \"%s\"", bad_policies[i].name, err,
				 bad_policies[i].message);
	}

	p = one;
	p.timeout_ms = 0;
	assert_int_equal(pol_policy_check(&p, err, sizeof err), RB_EINVAL);
	assert_non_null(strstr(err, "timeout"));

	p = one;
	p.group_id = "not-a-group";
	assert_int_equal(pol_policy_check(&p, err, sizeof err), RB_EINVAL);
	assert_non_null(strstr(err, "approver group"));

	p = one;
	p.n_approvers = 0;
	p.group_id = NULL;
	assert_int_equal(pol_policy_check(&p, err, sizeof err), RB_EINVAL);
	assert_non_null(strstr(err, "nobody could approve"));

	p = one;
	p.approvers = twice; /* the same person twice is one approver */
	p.group_id = NULL;
	p.required = 2;
	assert_int_equal(pol_policy_check(&p, err, sizeof err), RB_EINVAL);
	assert_string_equal(err, "2 approvals required but only 1 approver listed");

	p = one;
	p.approvers = NULL;
	assert_int_equal(pol_policy_check(&p, err, sizeof err), RB_EINVAL);
}

static void names_cover_every_value(void **state)
{
	enum pol_verdict v;

	(void)state;
	for (int i = 0; i < POL_REASON_COUNT; i++) {
		const char *name = pol_reason_name((enum pol_reason)i);

		assert_string_not_equal(name, "invalid");
		for (int j = 0; j < i; j++)
			assert_string_not_equal(name, pol_reason_name((enum pol_reason)j));
	}
	for (int i = 0; i < POL_VERDICT_COUNT; i++) {
		const char *name = pol_verdict_name((enum pol_verdict)i);

		assert_string_not_equal(name, "invalid");
		assert_int_equal(pol_verdict_from_name(name, &v), 0);
		assert_int_equal(v, i);
	}
	assert_string_equal(pol_reason_name(POL_APPROVAL_COUNTED), "approval_counted");
	assert_string_equal(pol_reason_name(POL_IGN_NOT_APPROVER), "ignored_not_approver");
	assert_string_equal(pol_verdict_name(POL_EXPIRED), "expired");
	assert_string_equal(pol_reason_name(POL_REASON_COUNT), "invalid");
	assert_string_equal(pol_reason_name((enum pol_reason)(-1)), "invalid");
	assert_string_equal(pol_verdict_name(POL_VERDICT_COUNT), "invalid");
	v = POL_APPROVED;
	assert_int_equal(pol_verdict_from_name("Approved", &v), RB_EINVAL);
	assert_int_equal(pol_verdict_from_name("", &v), RB_EINVAL);
	assert_int_equal(v, POL_APPROVED);
}

static void emoji_names_ignore_the_skin_tone(void **state)
{
	(void)state;
	assert_true(pol_emoji_is("pushpin", "pushpin"));
	assert_true(pol_emoji_is("white_check_mark::skin-tone-3", "white_check_mark"));
	assert_false(pol_emoji_is("pushpins", "pushpin"));
	assert_false(pol_emoji_is("push", "pushpin"));
	assert_false(pol_emoji_is("x::skin-tone-2", "white_check_mark"));
	assert_false(pol_emoji_is(NULL, "x"));
}

/* Who could approve: listed approvers then group members, each once, less
 * the requester when their ✅ would not count. */
static void eligible_counts_each_person_once(void **state)
{
	static const char *const dup[] = {ALICE, ALICE, JANE};
	static const char *const members[] = {ALICE, CAROL, CAROL, JANE};
	struct pol_policy p = POLICY(dup, members, 2, false);
	struct pol_request req = {.requester = JANE};
	const char *who[4] = {0};

	(void)state;
	assert_int_equal(pol_eligible(&p, &req, who, 4), 2);
	assert_string_equal(who[0], ALICE);
	assert_string_equal(who[1], CAROL);
	assert_null(who[2]);
	assert_int_equal(pol_eligible(&p, &req, who, 1), 2); /* counted past max */
	p.allow_self_approval = true;
	assert_int_equal(pol_eligible(&p, &req, NULL, 0), 3);
	req.with_db = true; /* never the requester for a database rollback */
	assert_int_equal(pol_eligible(&p, &req, NULL, 0), 2);
}

/* The issue: the requester is the only approver, and the request can only
 * expire. A group nobody could read yet is not taken for an empty one. */
static void unapprovable_when_too_few_others(void **state)
{
	static const char *const jane[] = {JANE};
	static const char *const none[] = {NULL};
	struct pol_policy only_jane = POLICY(jane, none, 1, false);
	struct pol_policy pair = POLICY(ab, none, 2, false);
	struct pol_request by_jane = {.requester = JANE}, by_alice = {.requester = ALICE};

	(void)state;
	only_jane.n_group_members = 0;
	only_jane.group_members = NULL;
	pair.n_group_members = 0;
	pair.group_members = NULL;
	assert_true(pol_unapprovable(&only_jane, &by_jane));
	assert_false(pol_unapprovable(&only_jane, &by_alice)); /* Jane may approve Alice's */
	only_jane.group_unknown = true;
	assert_false(pol_unapprovable(&only_jane, &by_jane)); /* maybe enough in the group */
	only_jane.group_unknown = false;
	only_jane.allow_self_approval = true;
	assert_false(pol_unapprovable(&only_jane, &by_jane));
	by_jane.with_db = true; /* two others needed, and there are none */
	assert_true(pol_unapprovable(&only_jane, &by_jane));
	/* required 2, two approvers: fine for Jane, impossible for Alice. */
	assert_false(pol_unapprovable(&pair, &(struct pol_request){.requester = JANE}));
	assert_true(pol_unapprovable(&pair, &by_alice));
	/* A known group member makes up the number. */
	assert_false(pol_unapprovable(&two, &by_alice));
	assert_true(pol_unapprovable(&three, &by_alice));
}

static const struct CMUnitTest fixed_tests[] = {
	cmocka_unit_test(eligible_counts_each_person_once),
	cmocka_unit_test(unapprovable_when_too_few_others),
	cmocka_unit_test(needed_is_required_and_two_for_with_db),
	cmocka_unit_test(rebind_resets_pending_and_approved_only),
	cmocka_unit_test(deadline_adds_the_timeout_and_saturates),
	cmocka_unit_test(counted_follows_the_policy_in_force),
	cmocka_unit_test(counted_leaves_out_the_requester_for_with_db),
	cmocka_unit_test(unposted_request_matches_no_reaction),
	cmocka_unit_test(full_state_only_with_a_refused_policy),
	cmocka_unit_test(mentions_list_approvers_then_the_group),
	cmocka_unit_test(mentions_join_one_and_two),
	cmocka_unit_test(mentions_leave_out_a_requester_who_cannot_approve),
	cmocka_unit_test(mentions_report_a_small_buffer),
	cmocka_unit_test(policy_check_accepts_a_good_policy),
	cmocka_unit_test(policy_check_refuses_bad_policies),
	cmocka_unit_test(names_cover_every_value),
	cmocka_unit_test(emoji_names_ignore_the_skin_tone),
};

#define N_TESTS                                                                              \
	(RB_ARRAY_LEN(react_cases) + RB_ARRAY_LEN(expire_cases) + RB_ARRAY_LEN(skip_cases) + \
	 RB_ARRAY_LEN(fixed_tests))

/* A table row as a cmocka test of its own: the row is the test's state. */
static struct CMUnitTest row(const char *name, CMUnitTestFunction fn, const void *data)
{
	struct CMUnitTest t = {
		.name = name,
		.test_func = fn,
		/* cmocka's state is void *; the row is never written through it. */
		.initial_state = (void *)(uintptr_t)data,
	};
	return t;
}


int main(void)
{
	struct CMUnitTest tests[N_TESTS];
	size_t n = 0;

	for (size_t i = 0; i < RB_ARRAY_LEN(react_cases); i++)
		tests[n++] = row(react_cases[i].name, run_react_case, &react_cases[i]);
	for (size_t i = 0; i < RB_ARRAY_LEN(expire_cases); i++)
		tests[n++] = row(expire_cases[i].name, run_expire_case, &expire_cases[i]);
	for (size_t i = 0; i < RB_ARRAY_LEN(skip_cases); i++)
		tests[n++] = row(skip_cases[i].name, run_skip_case, &skip_cases[i]);
	for (size_t i = 0; i < RB_ARRAY_LEN(fixed_tests); i++)
		tests[n++] = fixed_tests[i];
	return cmocka_run_group_tests_name("policy", tests, NULL, NULL);
}
