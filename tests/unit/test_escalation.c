/* rollbot — unit tests of escalation (issue 12, item 4): the fallback
 * approvers in commands/policy.c (they count only once the request was
 * escalated, and never the requester) and INC_EV_ESCALATE_DUE in
 * commands/incident.c (once per request, the deadline unchanged, paged
 * after the record, resolved at the decision, again at a resume); and a
 * request only the fallback can approve, escalated from the start
 * (pol_short_handed, ask_for_approval). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "commands/incident.h"
#include "commands/report_int.h"

#define JANE "U02JD0E4512"  /* the requester */
#define ALICE "U03ASM1TH7Q" /* the release manager */
#define LEAD "U07ONCALL1"   /* fallback user */
#define DAVE "U0ONCALL002"  /* member of the fallback group */
#define BOT "U07RLB0T9QK"
#define CHAN "C05K8Q2V7XM"
#define TS "1781061129.402619"
#define DIGEST UINT64_C(0x5eed5eed5eed5eed)
#define ESC_MS 300000
#define TIMEOUT_MS 900000

static const char *const approvers[] = { ALICE };
static const char *const fallback[] = { LEAD, JANE };
static const char *const fallback_members[] = { DAVE };

static struct pol_policy policy(int64_t escalate_after_ms)
{
	struct pol_policy p = { .approvers = approvers, .n_approvers = 1, .required = 1,
				.timeout_ms = TIMEOUT_MS, .escalate_after_ms = escalate_after_ms,
				.fallback = fallback, .n_fallback = 2,
				.fallback_members = fallback_members, .n_fallback_members = 1,
				.fallback_group_id = "S05ONCALL1" };
	return p;
}

static enum pol_reason react(const struct pol_policy *p, bool escalated, const char *user,
			     const char *emoji, struct pol_state *st)
{
	struct pol_request req = { .channel = CHAN, .ts = TS, .requester = JANE, .bot_user = BOT,
				   .severity = CMD_SEV_P1, .escalated = escalated };
	struct pol_reaction ev = { .user = user, .reaction = emoji, .channel = CHAN, .ts = TS,
				   .added = true, .plan_digest = DIGEST };

	return pol_react(p, &req, st, &ev, st);
}

static void fallback_does_not_count_before_the_escalation(void **state)
{
	struct pol_policy p = policy(ESC_MS);
	struct pol_state st, before;

	(void)state;
	pol_state_init(&st, DIGEST);
	before = st;
	assert_int_equal(react(&p, false, LEAD, POL_EMOJI_APPROVE, &st), POL_IGN_NOT_ESCALATED);
	assert_int_equal(react(&p, false, DAVE, POL_EMOJI_APPROVE, &st), POL_IGN_NOT_ESCALATED);
	assert_int_equal(react(&p, false, LEAD, POL_EMOJI_REJECT, &st), POL_IGN_NOT_ESCALATED);
	assert_memory_equal(&st, &before, sizeof st);
	assert_string_equal(pol_reason_name(POL_IGN_NOT_ESCALATED),
			    "ignored_fallback_before_escalation");
}

static void fallback_counts_after_the_escalation(void **state)
{
	struct pol_policy p = policy(ESC_MS);
	struct pol_state st;

	(void)state;
	pol_state_init(&st, DIGEST);
	assert_int_equal(react(&p, true, LEAD, POL_EMOJI_APPROVE, &st), POL_APPROVAL_COUNTED);
	assert_int_equal(st.verdict, POL_APPROVED);
	pol_state_init(&st, DIGEST);
	assert_int_equal(react(&p, true, DAVE, POL_EMOJI_APPROVE, &st), POL_APPROVAL_COUNTED);
	assert_int_equal(st.verdict, POL_APPROVED);
	pol_state_init(&st, DIGEST);
	assert_int_equal(react(&p, true, DAVE, POL_EMOJI_REJECT, &st), POL_REJECTION_COUNTED);
	assert_string_equal(st.rejected_by, DAVE);
}

static void requester_never_counts_even_as_fallback(void **state)
{
	struct pol_policy p = policy(ESC_MS);
	struct pol_state st, before;

	(void)state;
	pol_state_init(&st, DIGEST);
	before = st;
	assert_int_equal(react(&p, true, JANE, POL_EMOJI_APPROVE, &st), POL_IGN_REQUESTER);
	assert_memory_equal(&st, &before, sizeof st);
}

static void without_escalate_after_a_fallback_is_nobody(void **state)
{
	struct pol_policy p = policy(0);
	struct pol_state st;

	(void)state;
	pol_state_init(&st, DIGEST);
	assert_false(pol_escalates(&p));
	assert_int_equal(react(&p, false, LEAD, POL_EMOJI_APPROVE, &st), POL_IGN_NOT_APPROVER);
	p.escalate_after_ms = ESC_MS;
	p.n_fallback = 0;
	p.fallback_group_id = NULL;
	assert_false(pol_escalates(&p));
}

static void counted_only_while_escalated(void **state)
{
	struct pol_policy p = policy(ESC_MS);
	struct pol_request req = { .requester = JANE };
	struct pol_state st;

	(void)state;
	pol_state_init(&st, DIGEST);
	(void)rb_strlcpy(st.approved_by[0], LEAD, sizeof st.approved_by[0]);
	st.n_approved = 1;
	assert_int_equal(pol_counted(&p, &req, &st), 0);
	req.escalated = true;
	assert_int_equal(pol_counted(&p, &req, &st), 1);
}

static void fallback_mentions_leave_the_requester_out(void **state)
{
	struct pol_policy p = policy(ESC_MS);
	struct pol_request req = { .requester = JANE };
	char buf[128];

	(void)state;
	assert_int_equal(pol_fallback_mentions(&p, &req, buf, sizeof buf), 0);
	assert_string_equal(buf, "<@U07ONCALL1> or <!subteam^S05ONCALL1>");
	p.allow_self_approval = true;
	assert_int_equal(pol_fallback_mentions(&p, &req, buf, sizeof buf), 0);
	assert_string_equal(buf, "<@U07ONCALL1>, <@U02JD0E4512> or <!subteam^S05ONCALL1>");
}

/* An incident whose request was posted at t = 1000 ms. */
static struct incident waiting(const struct pol_policy *p)
{
	struct incident cur, inc;
	struct inc_event ev = { .kind = INC_EV_POSTED, .msg = INC_MSG_APPROVAL_REQUEST, .ts = TS,
				.policy = p };
	struct inc_actions out;

	memset(&cur, 0, sizeof cur);
	cur.reason = "";
	cur.response_url = "";
	(void)rb_strlcpy(cur.id, "INC-2026-0001", sizeof cur.id);
	cur.state = INC_AWAITING_APPROVAL;
	(void)rb_strlcpy(cur.service, "payments-api", sizeof cur.service);
	cur.severity = CMD_SEV_P1;
	(void)rb_strlcpy(cur.requested_by, JANE, sizeof cur.requested_by);
	(void)rb_strlcpy(cur.channel, CHAN, sizeof cur.channel);
	(void)rb_strlcpy(cur.announcement_ts, "1781061100.000100", sizeof cur.announcement_ts);
	cur.plan_digest = DIGEST;
	pol_state_init(&cur.pol, DIGEST);
	cur.approval_deadline_ms = 1000 + TIMEOUT_MS;
	assert_int_equal(inc_step(&cur, &ev, 1000, &inc, &out), 0);
	return inc;
}

static int find(const struct inc_actions *out, enum inc_action_kind kind)
{
	for (int i = 0; i < out->n; i++)
		if (out->a[i].kind == kind)
			return i;
	return -1;
}

static void the_request_is_escalated_once_when_due(void **state)
{
	struct pol_policy p = policy(ESC_MS);
	struct incident inc = waiting(&p), next;
	struct inc_event ev = { .kind = INC_EV_ESCALATE_DUE, .policy = &p };
	struct inc_actions out;

	(void)state;
	assert_int_equal(inc.escalate_at_ms, 1000 + ESC_MS);
	assert_false(inc.escalated);
	/* Early: nothing. */
	assert_int_equal(inc_step(&inc, &ev, ESC_MS, &next, &out), 0);
	assert_int_equal(out.n, 0);
	/* Due: recorded (who was added) and said, saved, reactions read
	 * again, then paged; the deadline as it was. */
	assert_int_equal(inc_step(&inc, &ev, 1000 + ESC_MS, &next, &out), 0);
	assert_int_equal(out.n, 5);
	assert_int_equal(out.a[0].kind, INC_ACT_AUDIT);
	assert_string_equal(out.a[0].audit_kind, "approval_escalated");
	assert_string_equal(out.a[0].keys[0], "added");
	assert_string_equal(out.a[0].values[0], "U07ONCALL1,U02JD0E4512,S05ONCALL1");
	assert_string_equal(out.a[0].values[1], "300");
	assert_int_equal(out.a[1].kind, INC_ACT_POST);
	assert_int_equal(out.a[1].msg, INC_MSG_ESCALATED);
	assert_true(out.a[1].in_thread);
	assert_int_equal(out.a[2].kind, INC_ACT_SAVE);
	assert_int_equal(out.a[3].kind, INC_ACT_RECOUNT);
	assert_int_equal(out.a[4].kind, INC_ACT_PAGE);
	assert_true(next.escalated);
	assert_int_equal(next.escalate_at_ms, 0);
	assert_int_equal(next.approval_deadline_ms, 1000 + TIMEOUT_MS);
	assert_int_equal(next.state, INC_AWAITING_APPROVAL);
	/* Once per request. */
	inc = next;
	assert_int_equal(inc_step(&inc, &ev, 2000 + ESC_MS, &next, &out), 0);
	assert_int_equal(out.n, 0);
}

static void no_escalation_without_the_setting(void **state)
{
	struct pol_policy p = policy(0);
	struct incident inc = waiting(&p), next;
	struct inc_event ev = { .kind = INC_EV_ESCALATE_DUE, .policy = &p };
	struct inc_actions out;

	(void)state;
	assert_int_equal(inc.escalate_at_ms, 0);
	assert_int_equal(inc_step(&inc, &ev, 1000 + ESC_MS, &next, &out), 0);
	assert_int_equal(out.n, 0);
	assert_false(next.escalated);
}

static void after_the_escalation_a_fallback_approves_and_the_page_resolves(void **state)
{
	struct pol_policy p = policy(ESC_MS);
	struct incident inc = waiting(&p), next;
	struct inc_event esc = { .kind = INC_EV_ESCALATE_DUE, .policy = &p };
	struct inc_event r = { .kind = INC_EV_REACTION, .policy = &p, .user = DAVE,
			       .reaction = POL_EMOJI_APPROVE, .channel = CHAN, .ts = TS,
			       .added = true, .bot_user = BOT };
	struct inc_actions out;

	(void)state;
	/* Before: not counted, and told when it will be. */
	assert_int_equal(inc_step(&inc, &r, 2000, &next, &out), 0);
	assert_int_equal(next.pol.n_approved, 0);
	assert_int_equal(out.a[1].kind, INC_ACT_NOTIFY_USER);
	assert_string_equal(out.a[1].text,
			    "INC-2026-0001: you are a fallback approver: your ✅ or ❌ counts only "
			    "once the request is escalated to you, after 5 minutes without a decision "
			    "(one given before then counts from then on).");
	assert_int_equal(inc_step(&inc, &esc, 1000 + ESC_MS, &inc, &out), 0);
	/* The requester, listed as a fallback too, still does not count. */
	r.user = JANE;
	assert_int_equal(inc_step(&inc, &r, 2000 + ESC_MS, &next, &out), 0);
	assert_int_equal(next.state, INC_AWAITING_APPROVAL);
	assert_string_equal(out.a[0].values[1], "ignored_requester");
	r.user = DAVE;
	assert_int_equal(inc_step(&inc, &r, 2000 + ESC_MS, &next, &out), 0);
	assert_int_equal(next.state, INC_APPROVED);
	assert_true(find(&out, INC_ACT_UNPAGE) > find(&out, INC_ACT_SAVE));
	assert_true(find(&out, INC_ACT_SAVE) >= 0);
}

static void an_expiry_or_cancel_after_the_escalation_resolves_the_page(void **state)
{
	struct pol_policy p = policy(ESC_MS);
	struct incident inc = waiting(&p), next;
	struct inc_event esc = { .kind = INC_EV_ESCALATE_DUE, .policy = &p };
	struct inc_event tmo = { .kind = INC_EV_APPROVAL_TIMEOUT, .policy = &p };
	struct inc_event cancel = { .kind = INC_EV_CANCEL, .policy = &p, .user = JANE };
	struct inc_actions out;

	(void)state;
	/* Not escalated: nothing to resolve. */
	assert_int_equal(inc_step(&inc, &tmo, 1000 + TIMEOUT_MS, &next, &out), 0);
	assert_int_equal(next.state, INC_EXPIRED);
	assert_int_equal(find(&out, INC_ACT_UNPAGE), -1);
	assert_int_equal(inc_step(&inc, &esc, 1000 + ESC_MS, &inc, &out), 0);
	assert_int_equal(inc_step(&inc, &tmo, 1000 + TIMEOUT_MS, &next, &out), 0);
	assert_int_equal(next.state, INC_EXPIRED);
	assert_true(find(&out, INC_ACT_UNPAGE) >= 0);
	assert_int_equal(inc_step(&inc, &cancel, 2000 + ESC_MS, &next, &out), 0);
	assert_int_equal(next.state, INC_CANCELLED);
	assert_true(find(&out, INC_ACT_UNPAGE) >= 0);
}

static void a_resume_pages_again_or_resolves_again(void **state)
{
	struct pol_policy p = policy(ESC_MS);
	struct incident inc = waiting(&p), next;
	struct inc_event esc = { .kind = INC_EV_ESCALATE_DUE, .policy = &p };
	struct inc_event res = { .kind = INC_EV_RESUMED, .policy = &p };
	struct inc_actions out;

	(void)state;
	/* Not escalated yet: no page. */
	assert_int_equal(inc_step(&inc, &res, 5000, &next, &out), 0);
	assert_int_equal(find(&out, INC_ACT_PAGE), -1);
	assert_int_equal(inc_step(&inc, &esc, 1000 + ESC_MS, &inc, &out), 0);
	assert_int_equal(inc_step(&inc, &res, 5000 + ESC_MS, &next, &out), 0);
	assert_true(find(&out, INC_ACT_PAGE) > find(&out, INC_ACT_RECOUNT));
	assert_int_equal(find(&out, INC_ACT_UNPAGE), -1);
	inc.state = INC_ROLLING_BACK;
	assert_int_equal(inc_step(&inc, &res, 5000 + ESC_MS, &next, &out), 0);
	assert_true(find(&out, INC_ACT_UNPAGE) >= 0);
	assert_int_equal(find(&out, INC_ACT_PAGE), -1);
}

static void a_new_request_gets_its_own_escalation(void **state)
{
	struct pol_policy p = policy(ESC_MS);
	struct incident inc = waiting(&p), next;
	struct inc_event esc = { .kind = INC_EV_ESCALATE_DUE, .policy = &p };
	struct inc_event posted = { .kind = INC_EV_POSTED, .msg = INC_MSG_APPROVAL_REQUEST,
				    .ts = "1781061999.000100", .policy = &p };
	struct inc_event checked = { .kind = INC_EV_PLAN_CHECKED, .policy = &p,
				     .digest = DIGEST + 1, .n_steps = 2 };
	struct inc_actions out;

	(void)state;
	assert_int_equal(inc_step(&inc, &esc, 1000 + ESC_MS, &inc, &out), 0);
	inc.state = INC_APPROVED; /* approved, then the plan changed before it ran */
	assert_int_equal(inc_step(&inc, &checked, 10000 + ESC_MS, &next, &out), 0);
	assert_int_equal(next.state, INC_AWAITING_APPROVAL);
	assert_false(next.escalated);
	assert_int_equal(next.escalate_at_ms, 0);
	assert_int_equal(inc_step(&next, &posted, 20000 + ESC_MS, &inc, &out), 0);
	assert_int_equal(inc.escalate_at_ms, 20000 + 2 * ESC_MS);
}

/* The report's timeline tells the escalation, not an unknown row. */
static void the_report_tells_the_escalation(void **state)
{
	struct scan sc;
	struct report_incident inc;
	struct row r = { .actor = "rollbot", .kind = "approval_escalated" };
	char *t;

	(void)state;
	memset(&sc, 0, sizeof sc);
	memset(&inc, 0, sizeof inc);
	sc.inc = &inc; /* no names known: IDs as given (test_report has names) */
	r.d = json_pack("{s:s, s:s}", "added", "U07ONCALL1,S05ONCALL1", "after_s", "300");
	t = report_row_text(&sc, &r);
	assert_string_equal(t, "no decision after 5 min 00 s: approval request escalated to the "
			       "fallback approvers (U07ONCALL1, the group S05ONCALL1)");
	free(t);
	json_decref(r.d);
}

/* ---- short-handed: only the fallback can make up the number ---- */

static void short_handed_with_a_fallback_is_approvable_and_asks_it_at_once(void **state)
{
	struct pol_policy p = policy(ESC_MS);
	struct pol_request by_alice = { .requester = ALICE };
	struct pol_request esc = { .requester = ALICE, .escalated = true };
	const char *who[4];
	char buf[160];

	(void)state;
	/* Alice, the only release manager, asks: nobody but the fallback. */
	assert_int_equal(pol_eligible(&p, &by_alice, NULL, 0), 0);
	assert_false(pol_unapprovable(&p, &by_alice));
	assert_true(pol_short_handed(&p, &by_alice));
	assert_int_equal(pol_eligible(&p, &esc, who, 4), 3);
	assert_string_equal(who[0], LEAD);
	assert_string_equal(who[1], JANE);
	assert_string_equal(who[2], DAVE);
	assert_int_equal(pol_mentions(&p, &esc, buf, sizeof buf), 0);
	assert_string_equal(buf, "<@U07ONCALL1>, <@U02JD0E4512> or <!subteam^S05ONCALL1>");
	/* Not escalated, the request names the approvers only (as before). */
	assert_int_equal(pol_mentions(&p, &by_alice, buf, sizeof buf), 0);
	assert_string_equal(buf, "");
	/* A fallback is enough: escalate_after need not be set. */
	p.escalate_after_ms = 0;
	assert_true(pol_short_handed(&p, &by_alice));
	/* Someone else's request: Alice can approve it, nobody is short. */
	assert_false(pol_short_handed(&p, &(struct pol_request){ .requester = JANE }));
	/* Members of the fallback group not read yet: maybe enough, asked. */
	p.n_fallback = 0;
	p.fallback_members = NULL;
	p.n_fallback_members = 0;
	p.fallback_group_unknown = true;
	assert_false(pol_unapprovable(&p, &by_alice));
	assert_true(pol_short_handed(&p, &by_alice));
	/* Read and empty: nobody. */
	p.fallback_group_unknown = false;
	assert_true(pol_unapprovable(&p, &by_alice));
	assert_false(pol_short_handed(&p, &by_alice));
}

static void short_handed_without_a_fallback_is_unapprovable(void **state)
{
	struct pol_policy p = policy(0);
	struct pol_request by_alice = { .requester = ALICE };

	(void)state;
	p.fallback = NULL;
	p.n_fallback = 0;
	p.fallback_members = NULL;
	p.n_fallback_members = 0;
	p.fallback_group_id = NULL;
	assert_false(pol_has_fallback(&p));
	assert_true(pol_unapprovable(&p, &by_alice));
	assert_false(pol_short_handed(&p, &by_alice));
}

static void a_requester_in_the_fallback_list_is_still_counted_out(void **state)
{
	static const char *const jane_only[] = { JANE };
	static const char *const jane_and_lead[] = { JANE, LEAD };
	struct pol_policy p = policy(ESC_MS);
	struct pol_request by_jane = { .requester = JANE };
	struct pol_request esc = { .requester = JANE, .escalated = true };
	const char *who[4];
	char buf[160];

	(void)state;
	/* Jane is the only approver and the only fallback: nobody. */
	p.approvers = jane_only;
	p.fallback = jane_only;
	p.n_fallback = 1;
	p.fallback_members = NULL;
	p.n_fallback_members = 0;
	p.fallback_group_id = NULL;
	assert_true(pol_unapprovable(&p, &by_jane));
	assert_false(pol_short_handed(&p, &by_jane));
	assert_int_equal(pol_eligible(&p, &esc, NULL, 0), 0);
	/* With the on-call lead too: asked at once, Jane left out. */
	p.fallback = jane_and_lead;
	p.n_fallback = 2;
	assert_true(pol_short_handed(&p, &by_jane));
	assert_int_equal(pol_eligible(&p, &esc, who, 4), 1);
	assert_string_equal(who[0], LEAD);
	assert_int_equal(pol_mentions(&p, &esc, buf, sizeof buf), 0);
	assert_string_equal(buf, "<@U07ONCALL1>");
}

static void short_handed_with_db_still_needs_two_other_people(void **state)
{
	struct pol_policy p = policy(ESC_MS);
	struct pol_request by_alice = { .requester = ALICE, .with_db = true };
	struct pol_request req = { .channel = CHAN, .ts = TS, .requester = ALICE, .bot_user = BOT,
				   .with_db = true, .escalated = true };
	struct pol_reaction ev = { .reaction = POL_EMOJI_APPROVE, .channel = CHAN, .ts = TS,
				   .added = true, .plan_digest = DIGEST };
	struct pol_state st;

	(void)state;
	assert_true(pol_short_handed(&p, &by_alice));
	pol_state_init(&st, DIGEST);
	ev.user = LEAD;
	assert_int_equal(pol_react(&p, &req, &st, &ev, &st), POL_APPROVAL_COUNTED);
	assert_int_equal(st.verdict, POL_PENDING);
	ev.user = ALICE;
	assert_int_equal(pol_react(&p, &req, &st, &ev, &st), POL_IGN_REQUESTER);
	ev.user = DAVE;
	assert_int_equal(pol_react(&p, &req, &st, &ev, &st), POL_APPROVAL_COUNTED);
	assert_int_equal(st.verdict, POL_APPROVED);
	/* Only the lead in the fallback: one person, two needed. */
	p.n_fallback = 1;
	p.fallback_members = NULL;
	p.n_fallback_members = 0;
	p.fallback_group_id = NULL;
	assert_true(pol_unapprovable(&p, &by_alice));
	assert_false(pol_short_handed(&p, &by_alice));
}

static int find_audit(const struct inc_actions *out, const char *kind)
{
	for (int i = 0; i < out->n; i++)
		if (out->a[i].kind == INC_ACT_AUDIT && !strcmp(out->a[i].audit_kind, kind))
			return i;
	return -1;
}

static void a_short_handed_request_is_escalated_from_the_start(void **state)
{
	struct pol_policy p = policy(ESC_MS);
	struct incident cur, inc, next;
	struct inc_event ready = { .kind = INC_EV_PLAN_READY, .policy = &p, .n_steps = 1,
				   .target = "revision 41", .digest = DIGEST };
	struct inc_event posted = { .kind = INC_EV_POSTED, .msg = INC_MSG_APPROVAL_REQUEST,
				    .ts = TS, .policy = &p };
	struct inc_event esc = { .kind = INC_EV_ESCALATE_DUE, .policy = &p };
	struct inc_event r = { .kind = INC_EV_REACTION, .policy = &p, .user = ALICE,
			       .reaction = POL_EMOJI_APPROVE, .channel = CHAN, .ts = TS,
			       .added = true, .bot_user = BOT };
	struct inc_actions out;
	int at;

	(void)state;
	memset(&cur, 0, sizeof cur);
	cur.reason = "";
	cur.response_url = "";
	(void)rb_strlcpy(cur.id, "INC-2026-0001", sizeof cur.id);
	cur.state = INC_DECLARED;
	(void)rb_strlcpy(cur.service, "payments-api", sizeof cur.service);
	cur.severity = CMD_SEV_P1;
	(void)rb_strlcpy(cur.requested_by, ALICE, sizeof cur.requested_by);
	(void)rb_strlcpy(cur.channel, CHAN, sizeof cur.channel);
	(void)rb_strlcpy(cur.announcement_ts, "1781061100.000100", sizeof cur.announcement_ts);

	/* The plan is ready: asked for, escalated in the same step, the row
	 * before the request (so that they are written together). */
	assert_int_equal(inc_step(&cur, &ready, 1000, &inc, &out), 0);
	assert_int_equal(inc.state, INC_AWAITING_APPROVAL);
	assert_true(inc.escalated);
	assert_int_equal(inc.escalate_at_ms, 0);
	at = find_audit(&out, "approval_escalated");
	assert_true(at >= 0);
	assert_string_equal(out.a[at].keys[0], "added");
	assert_string_equal(out.a[at].values[0], "U07ONCALL1,U02JD0E4512,S05ONCALL1");
	assert_string_equal(out.a[at].keys[1], "reason");
	assert_string_equal(out.a[at].values[1], "short_handed");
	assert_string_equal(out.a[at].values[2], "1"); /* needed */
	assert_string_equal(out.a[at].values[3], "0"); /* eligible without the fallback */
	assert_true(find(&out, INC_ACT_POST) > at);
	assert_int_equal(out.a[find(&out, INC_ACT_POST)].msg, INC_MSG_APPROVAL_REQUEST);
	assert_int_equal(find_audit(&out, "approval_impossible"), -1);

	/* Posted: no escalation to come, and paged once the request is out. */
	assert_int_equal(inc_step(&inc, &posted, 2000, &next, &out), 0);
	assert_true(next.escalated);
	assert_int_equal(next.escalate_at_ms, 0);
	assert_true(find(&out, INC_ACT_PAGE) > find(&out, INC_ACT_SAVE));
	inc = next;
	/* No second escalation, however late. */
	assert_int_equal(inc_step(&inc, &esc, 2000 + ESC_MS, &next, &out), 0);
	assert_int_equal(out.n, 0);

	/* Alice's own ✅ does not count; the lead's does, and the page
	 * is resolved. */
	assert_int_equal(inc_step(&inc, &r, 3000, &next, &out), 0);
	assert_int_equal(next.state, INC_AWAITING_APPROVAL);
	assert_string_equal(out.a[0].values[1], "ignored_requester");
	r.user = LEAD;
	assert_int_equal(inc_step(&inc, &r, 3000, &next, &out), 0);
	assert_int_equal(next.state, INC_APPROVED);
	assert_true(find(&out, INC_ACT_UNPAGE) > find(&out, INC_ACT_SAVE));

	/* Killed before the request went out: the resume posts it, still
	 * escalated, and its post pages. */
	inc.approval_ts[0] = '\0';
	assert_int_equal(inc_step(&inc, &(struct inc_event){ .kind = INC_EV_RESUMED, .policy = &p },
				  4000, &next, &out),
			 0);
	assert_int_equal(out.a[find(&out, INC_ACT_POST)].msg, INC_MSG_APPROVAL_REQUEST);
	assert_int_equal(find(&out, INC_ACT_PAGE), -1);
	assert_int_equal(inc_step(&next, &posted, 5000, &inc, &out), 0);
	assert_true(inc.escalated);
	assert_int_equal(inc.escalate_at_ms, 0);
	assert_true(find(&out, INC_ACT_PAGE) >= 0);

	/* Someone else's request is not escalated from the start. */
	(void)rb_strlcpy(cur.requested_by, JANE, sizeof cur.requested_by);
	assert_int_equal(inc_step(&cur, &ready, 1000, &inc, &out), 0);
	assert_false(inc.escalated);
	assert_int_equal(find_audit(&out, "approval_escalated"), -1);
	assert_int_equal(inc_step(&inc, &posted, 2000, &next, &out), 0);
	assert_int_equal(next.escalate_at_ms, 2000 + ESC_MS);
	assert_int_equal(find(&out, INC_ACT_PAGE), -1);
}

static void without_a_fallback_the_incident_fails_as_before(void **state)
{
	struct pol_policy p = policy(0);
	struct incident cur, inc;
	struct inc_event ready = { .kind = INC_EV_PLAN_READY, .policy = &p, .n_steps = 1,
				   .target = "revision 41", .digest = DIGEST };
	struct inc_actions out;
	int at;

	(void)state;
	p.n_fallback = 1; /* the lead only, and Alice asks with --with-db: 1 of 2 */
	p.fallback_members = NULL;
	p.n_fallback_members = 0;
	p.fallback_group_id = NULL;
	memset(&cur, 0, sizeof cur);
	cur.reason = "";
	cur.response_url = "";
	cur.state = INC_DECLARED;
	cur.with_db = true;
	(void)rb_strlcpy(cur.requested_by, ALICE, sizeof cur.requested_by);
	assert_int_equal(inc_step(&cur, &ready, 1000, &inc, &out), 0);
	assert_int_equal(inc.state, INC_FAILED);
	assert_false(inc.escalated);
	at = find_audit(&out, "approval_impossible");
	assert_true(at >= 0);
	assert_string_equal(out.a[at].values[0], "2");
	assert_string_equal(out.a[at].values[1], "1"); /* the lead, counted */
	assert_int_equal(find_audit(&out, "approval_escalated"), -1);
}

static void the_report_tells_a_request_escalated_from_the_start(void **state)
{
	struct scan sc;
	struct report_incident inc;
	struct row r = { .actor = "rollbot", .kind = "approval_escalated" };
	char *t;

	(void)state;
	memset(&sc, 0, sizeof sc);
	memset(&inc, 0, sizeof inc);
	sc.inc = &inc;
	r.d = json_pack("{s:s, s:s, s:s, s:s}", "added", "U07ONCALL1", "reason", "short_handed",
			"needed", "1", "eligible", "0");
	t = report_row_text(&sc, &r);
	assert_string_equal(t, "approval request sent to the fallback approvers at once "
			       "(U07ONCALL1): 1 approval needed and no approver could give it");
	free(t);
	json_decref(r.d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(fallback_does_not_count_before_the_escalation),
		cmocka_unit_test(fallback_counts_after_the_escalation),
		cmocka_unit_test(requester_never_counts_even_as_fallback),
		cmocka_unit_test(without_escalate_after_a_fallback_is_nobody),
		cmocka_unit_test(counted_only_while_escalated),
		cmocka_unit_test(fallback_mentions_leave_the_requester_out),
		cmocka_unit_test(the_request_is_escalated_once_when_due),
		cmocka_unit_test(no_escalation_without_the_setting),
		cmocka_unit_test(after_the_escalation_a_fallback_approves_and_the_page_resolves),
		cmocka_unit_test(an_expiry_or_cancel_after_the_escalation_resolves_the_page),
		cmocka_unit_test(a_resume_pages_again_or_resolves_again),
		cmocka_unit_test(a_new_request_gets_its_own_escalation),
		cmocka_unit_test(the_report_tells_the_escalation),
		cmocka_unit_test(short_handed_with_a_fallback_is_approvable_and_asks_it_at_once),
		cmocka_unit_test(short_handed_without_a_fallback_is_unapprovable),
		cmocka_unit_test(a_requester_in_the_fallback_list_is_still_counted_out),
		cmocka_unit_test(short_handed_with_db_still_needs_two_other_people),
		cmocka_unit_test(a_short_handed_request_is_escalated_from_the_start),
		cmocka_unit_test(without_a_fallback_the_incident_fails_as_before),
		cmocka_unit_test(the_report_tells_a_request_escalated_from_the_start),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
