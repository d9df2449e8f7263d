/* rollbot — unit tests of commands/incident.c: the state machine, with
 * plain values and time passed in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "commands/incident.h"

static struct incident declared(void)
{
	struct incident inc;

	memset(&inc, 0, sizeof inc);
	inc.reason = "checkout 5xx at 6%";
	inc.response_url = "";
	(void)rb_strlcpy(inc.id, "INC-2026-0001", sizeof inc.id);
	inc.state = INC_DECLARED;
	(void)rb_strlcpy(inc.service, "payments-api", sizeof inc.service);
	inc.method = PLAN_KUBECTL;
	inc.severity = CMD_SEV_P1;
	(void)rb_strlcpy(inc.requested_by, "U02JD0E4512", sizeof inc.requested_by);
	(void)rb_strlcpy(inc.channel, "C05K8Q2V7XM", sizeof inc.channel);
	return inc;
}

static void declared_posts_the_announcement_in_the_channel(void **state)
{
	struct incident cur = declared(), next;
	struct inc_event ev = { .kind = INC_EV_DECLARED };
	struct inc_actions out;

	(void)state;
	assert_int_equal(inc_step(&cur, &ev, 1000, &next, &out), 0);
	assert_int_equal(out.n, 1);
	assert_int_equal(out.a[0].kind, INC_ACT_POST);
	assert_int_equal(out.a[0].msg, INC_MSG_ANNOUNCEMENT);
	assert_false(out.a[0].in_thread);
	assert_int_equal(next.state, INC_DECLARED);
}

static void posted_announcement_is_saved_and_audited(void **state)
{
	struct incident cur = declared(), next;
	struct inc_event ev = { .kind = INC_EV_POSTED, .msg = INC_MSG_ANNOUNCEMENT,
				.ts = "1781061129.402619" };
	struct inc_actions out;

	(void)state;
	assert_int_equal(inc_step(&cur, &ev, 1000, &next, &out), 0);
	assert_string_equal(next.announcement_ts, "1781061129.402619");
	assert_string_equal(cur.announcement_ts, "");
	assert_int_equal(out.n, 3);
	assert_int_equal(out.a[2].kind, INC_ACT_PREPARE_PLAN);
	assert_int_equal(out.a[0].kind, INC_ACT_SAVE);
	assert_int_equal(out.a[1].kind, INC_ACT_AUDIT);
	assert_string_equal(out.a[1].audit_kind, "message_posted");
	assert_string_equal(out.a[1].actor, "rollbot");
	assert_string_equal(out.a[1].keys[0], "message");
	assert_string_equal(out.a[1].values[0], "announcement");
	assert_string_equal(out.a[1].keys[1], "channel");
	assert_string_equal(out.a[1].values[1], "C05K8Q2V7XM");
	assert_string_equal(out.a[1].keys[2], "ts");
	assert_string_equal(out.a[1].values[2], "1781061129.402619");
	assert_null(out.a[1].keys[3]);
}

static void second_announcement_is_refused(void **state)
{
	struct incident cur = declared(), next;
	struct inc_event ev = { .kind = INC_EV_POSTED, .msg = INC_MSG_ANNOUNCEMENT,
				.ts = "1781061130.000100" };
	struct inc_actions out;

	(void)state;
	(void)rb_strlcpy(cur.announcement_ts, "1781061129.402619", sizeof cur.announcement_ts);
	memset(&next, 0x5a, sizeof next);
	assert_int_equal(inc_step(&cur, &ev, 1000, &next, &out), INC_EBADEVENT);
	assert_int_equal(out.n, 0);
	assert_int_equal(((unsigned char *)&next)[0], 0x5a); /* untouched */
}

static void declared_twice_is_refused(void **state)
{
	struct incident cur = declared(), next;
	struct inc_event ev = { .kind = INC_EV_DECLARED };
	struct inc_actions out;

	(void)state;
	(void)rb_strlcpy(cur.announcement_ts, "1781061129.402619", sizeof cur.announcement_ts);
	assert_int_equal(inc_step(&cur, &ev, 1000, &next, &out), INC_EBADEVENT);
	assert_int_equal(out.n, 0);
}

static void posted_without_ts_is_refused(void **state)
{
	struct incident cur = declared(), next;
	struct inc_event ev = { .kind = INC_EV_POSTED, .msg = INC_MSG_ANNOUNCEMENT, .ts = "" };
	struct inc_actions out;

	(void)state;
	assert_int_equal(inc_step(&cur, &ev, 1000, &next, &out), INC_EBADEVENT);
}

static void failed_announcement_is_audited_and_requester_told(void **state)
{
	struct incident cur = declared(), next;
	struct inc_event ev = { .kind = INC_EV_POST_FAILED, .msg = INC_MSG_ANNOUNCEMENT,
				.error = "not_in_channel" };
	struct inc_actions out;

	(void)state;
	assert_int_equal(inc_step(&cur, &ev, 1000, &next, &out), 0);
	assert_int_equal(next.state, INC_FAILED);
	assert_int_equal(out.n, 4);
	assert_int_equal(out.a[0].kind, INC_ACT_AUDIT);
	assert_string_equal(out.a[0].audit_kind, "message_failed");
	assert_string_equal(out.a[0].values[2], "not_in_channel");
	assert_string_equal(out.a[1].audit_kind, "state_change");
	assert_int_equal(out.a[2].kind, INC_ACT_SAVE);
	assert_int_equal(out.a[3].kind, INC_ACT_NOTIFY_REQUESTER);
	assert_string_equal(out.a[3].text,
			    ":warning: INC-2026-0001 is recorded, but I could not post its "
			    "announcement: I am not a member of <#C05K8Q2V7XM>. Invite me with "
			    "`/invite @rollbot`, close it with `/rollback cancel INC-2026-0001`, then "
			    "run /rollback again.");
}

static void other_failure_names_the_error(void **state)
{
	struct incident cur = declared(), next;
	struct inc_event ev = { .kind = INC_EV_POST_FAILED, .msg = INC_MSG_ANNOUNCEMENT,
				.error = "http_500" };
	struct inc_actions out;

	(void)state;
	assert_int_equal(inc_step(&cur, &ev, 1000, &next, &out), 0);
	assert_non_null(strstr(out.a[3].text, "(`http_500`)"));
}

static void unknown_state_is_refused(void **state)
{
	struct incident cur = declared(), next;
	struct inc_event ev = { .kind = INC_EV_DECLARED };
	struct inc_actions out;

	(void)state;
	cur.state = (enum inc_state)42;
	assert_int_equal(inc_step(&cur, &ev, 1000, &next, &out), INC_EBADEVENT);
}

static void state_names_round_trip(void **state)
{
	(void)state;
	for (int i = 0; i < INC_STATE_COUNT; i++) {
		enum inc_state s;
		assert_int_equal(inc_state_from_name(inc_state_name((enum inc_state)i), &s), 0);
		assert_int_equal(s, i);
	}
	assert_string_equal(inc_state_name(INC_AWAITING_APPROVAL), "awaiting_approval");
	assert_true(inc_state_is_final(INC_RESOLVED));
	assert_false(inc_state_is_final(INC_VERIFYING));
	/* Failed stays open until a person closes it (issue 11). */
	assert_false(inc_state_is_final(INC_FAILED));
	assert_true(inc_state_is_final(INC_CANCELLED));
	enum inc_state s;
	assert_int_equal(inc_state_from_name("bogus", &s), RB_EINVAL);
}

/* From the declaration until the incident ends: every state that is not
 * final holds the service, verifying and failed included (issue 11). */
static void states_that_hold_the_service(void **state)
{
	(void)state;
	assert_true(inc_state_holds_service(INC_DECLARED));
	assert_true(inc_state_holds_service(INC_AWAITING_APPROVAL));
	assert_true(inc_state_holds_service(INC_APPROVED));
	assert_true(inc_state_holds_service(INC_ROLLING_BACK));
	assert_true(inc_state_holds_service(INC_VERIFYING));
	assert_true(inc_state_holds_service(INC_FAILED));
	for (int i = 0; i < INC_STATE_COUNT; i++)
		assert_true(inc_state_is_final((enum inc_state)i) !=
			    inc_state_holds_service((enum inc_state)i));
}

/* ---- approval and the rollback's steps ---- */

static const char *const approvers[] = { "U03ASM1TH7Q", "U04BOBBY111" };

static struct pol_policy policy(int required)
{
	struct pol_policy p;

	memset(&p, 0, sizeof p);
	p.approvers = approvers;
	p.n_approvers = 2;
	p.required = required;
	p.timeout_ms = 15 * 60 * 1000;
	p.skip[CMD_SEV_P0] = true;
	return p;
}

/* Runs one event and asserts it was accepted. */
static void step_ok(struct incident *inc, const struct inc_event *ev, int64_t now,
		    struct inc_actions *out)
{
	assert_int_equal(inc_step(inc, ev, now, inc, out), 0);
}

static int find(const struct inc_actions *out, enum inc_action_kind kind, int from)
{
	for (int i = from; i < out->n; i++)
		if (out->a[i].kind == kind)
			return i;
	return -1;
}

static const struct inc_action *audit_of(const struct inc_actions *out, const char *kind)
{
	for (int i = 0; i < out->n; i++)
		if (out->a[i].kind == INC_ACT_AUDIT && !strcmp(out->a[i].audit_kind, kind))
			return &out->a[i];
	return NULL;
}

/* An incident whose approval request is posted and waiting. */
static struct incident awaiting(const struct pol_policy *p, struct inc_actions *out)
{
	struct incident inc = declared();
	struct inc_event ready = { .kind = INC_EV_PLAN_READY, .digest = 0xabc, .n_steps = 2,
				   .target = "41", .policy = p };
	struct inc_event posted = { .kind = INC_EV_POSTED, .msg = INC_MSG_APPROVAL_REQUEST,
				    .ts = "1781061130.000100" };

	(void)rb_strlcpy(inc.announcement_ts, "1781061129.402619", sizeof inc.announcement_ts);
	step_ok(&inc, &ready, 1000, out);
	step_ok(&inc, &posted, 1200, out);
	return inc;
}

static struct inc_event reaction(const struct pol_policy *p, const char *user, const char *emoji,
				 bool added)
{
	struct inc_event ev = { .kind = INC_EV_REACTION, .user = user, .reaction = emoji,
				.channel = "C05K8Q2V7XM", .ts = "1781061130.000100",
				.added = added, .policy = p, .bot_user = "U07RLB0T9QK" };
	return ev;
}

static void plan_ready_posts_the_approval_request(void **state)
{
	struct pol_policy p = policy(1);
	struct incident inc = declared();
	struct inc_event ev = { .kind = INC_EV_PLAN_READY, .digest = 7, .n_steps = 2,
				.target = "41", .policy = &p };
	struct inc_actions out;
	int i;

	(void)state;
	step_ok(&inc, &ev, 1000, &out);
	assert_int_equal(inc.state, INC_AWAITING_APPROVAL);
	assert_string_equal(inc.target, "41");
	assert_int_equal(inc.approval_deadline_ms, 1000 + 15 * 60 * 1000);
	i = find(&out, INC_ACT_POST, 0);
	assert_true(i >= 0);
	assert_int_equal(out.a[i].msg, INC_MSG_APPROVAL_REQUEST);
	assert_true(out.a[i].in_thread);
	assert_string_equal(audit_of(&out, "state_change")->values[1], "awaiting_approval");
	assert_string_equal(audit_of(&out, "plan_ready")->values[0], "41");
}

/* The report's facts ride on the plan_ready row; unknown ones are left out. */
static void plan_ready_records_the_report_facts(void **state)
{
	struct pol_policy p = policy(1);
	struct incident inc = declared();
	struct inc_event ev = { .kind = INC_EV_PLAN_READY, .digest = 7, .n_steps = 2,
				.target = "41", .policy = &p, .running_before = "42",
				.deployed_at = "", .display_name = "Payments",
				.environment = "production", .affected = NULL,
				.owner = "payments team" };
	const struct inc_action *a;
	struct inc_actions out;

	(void)state;
	step_ok(&inc, &ev, 1000, &out);
	a = audit_of(&out, "plan_ready");
	assert_string_equal(a->keys[0], "target");
	assert_string_equal(a->keys[1], "steps");
	assert_string_equal(a->keys[2], "running_before");
	assert_string_equal(a->values[2], "42");
	assert_string_equal(a->keys[3], "display_name");
	assert_string_equal(a->values[3], "Payments");
	assert_string_equal(a->keys[4], "environment");
	assert_string_equal(a->values[4], "production");
	assert_string_equal(a->keys[5], "owner");
	assert_string_equal(a->values[5], "payments team");
	assert_null(a->keys[6]);
}

static void posted_request_gets_both_reactions_and_the_timer(void **state)
{
	struct pol_policy p = policy(1);
	struct inc_actions out;
	struct incident inc = awaiting(&p, &out);
	int r1, r2, t;

	(void)state;
	assert_string_equal(inc.approval_ts, "1781061130.000100");
	r1 = find(&out, INC_ACT_REACT, 0);
	r2 = find(&out, INC_ACT_REACT, r1 + 1);
	t = find(&out, INC_ACT_ARM_TIMER, 0);
	assert_string_equal(out.a[r1].reaction, "white_check_mark");
	assert_string_equal(out.a[r2].reaction, "x");
	assert_int_equal(out.a[t].at_ms, 1000 + 15 * 60 * 1000);
}

static void approver_check_approves_and_checks_the_plan(void **state)
{
	struct pol_policy p = policy(1);
	struct inc_actions out;
	struct incident inc = awaiting(&p, &out);
	struct inc_event ev = reaction(&p, "U03ASM1TH7Q", "white_check_mark", true);

	(void)state;
	step_ok(&inc, &ev, 5000, &out);
	assert_int_equal(inc.state, INC_APPROVED);
	assert_true(find(&out, INC_ACT_CANCEL_TIMER, 0) >= 0);
	assert_true(find(&out, INC_ACT_CHECK_PLAN, 0) >= 0);
	assert_string_equal(audit_of(&out, "reaction_added")->actor, "U03ASM1TH7Q");
	assert_string_equal(audit_of(&out, "reaction_added")->values[1], "approval_counted");
	/* "Approved… rolling back now" waits for the plan check: it may not
	 * be true. */
	assert_true(find(&out, INC_ACT_POST, 0) < 0);
}

static void same_plan_starts_the_first_step(void **state)
{
	struct pol_policy p = policy(1);
	struct inc_actions out;
	struct incident inc = awaiting(&p, &out);
	struct inc_event ok = reaction(&p, "U03ASM1TH7Q", "white_check_mark", true);
	struct inc_event checked = { .kind = INC_EV_PLAN_CHECKED, .digest = 0xabc, .policy = &p };
	int i;

	(void)state;
	step_ok(&inc, &ok, 5000, &out);
	step_ok(&inc, &checked, 5001, &out);
	assert_int_equal(inc.state, INC_ROLLING_BACK);
	/* Now it is true: "Approved… rolling back now", then the first step. */
	assert_int_equal(out.a[find(&out, INC_ACT_POST, 0)].msg, INC_MSG_APPROVED);
	assert_true(find(&out, INC_ACT_POST, 0) < find(&out, INC_ACT_RUN_STEP, 0));
	i = find(&out, INC_ACT_RUN_STEP, 0);
	assert_int_equal(out.a[i].step, 0);
}

static void changed_plan_asks_again(void **state)
{
	struct pol_policy p = policy(1);
	struct inc_actions out;
	struct incident inc = awaiting(&p, &out);
	struct inc_event ok = reaction(&p, "U03ASM1TH7Q", "white_check_mark", true);
	struct inc_event checked = { .kind = INC_EV_PLAN_CHECKED, .digest = 0xdef, .n_steps = 2,
				     .policy = &p };
	int i;

	(void)state;
	step_ok(&inc, &ok, 5000, &out);
	step_ok(&inc, &checked, 6000, &out);
	assert_int_equal(inc.state, INC_AWAITING_APPROVAL);
	assert_int_equal(inc.pol.n_approved, 0);
	assert_string_equal(inc.approval_ts, "");
	assert_true(find(&out, INC_ACT_RUN_STEP, 0) < 0);
	/* The thread hears why first, then gets the new request; never
	 * "Approved… rolling back now". */
	i = find(&out, INC_ACT_POST, 0);
	assert_int_equal(out.a[i].msg, INC_MSG_PLAN_CHANGED);
	assert_true(out.a[i].in_thread);
	i = find(&out, INC_ACT_POST, i + 1);
	assert_int_equal(out.a[i].msg, INC_MSG_APPROVAL_REQUEST);
	assert_true(find(&out, INC_ACT_POST, i + 1) < 0);
	assert_non_null(audit_of(&out, "plan_changed"));
}

/* The requester is the only approver: no request that can only expire. */
static void nobody_to_approve_fails_without_a_request(void **state)
{
	static const char *const only_jane[] = { "U02JD0E4512" };
	struct pol_policy p = policy(1);
	struct incident inc = declared();
	struct inc_event ev = { .kind = INC_EV_PLAN_READY, .digest = 7, .n_steps = 2,
				.target = "41", .policy = &p };
	struct inc_actions out;
	const struct inc_action *a;
	int i;

	(void)state;
	p.approvers = only_jane;
	p.n_approvers = 1;
	step_ok(&inc, &ev, 1000, &out);
	assert_int_equal(inc.state, INC_FAILED);
	i = find(&out, INC_ACT_POST, 0);
	assert_int_equal(out.a[i].msg, INC_MSG_NO_APPROVERS);
	assert_true(find(&out, INC_ACT_POST, i + 1) < 0);
	a = audit_of(&out, "approval_impossible");
	assert_non_null(a);
	assert_string_equal(a->values[0], "1"); /* needed */
	assert_string_equal(a->values[1], "0"); /* eligible */
	/* A group not read yet may hold approvers: the request is posted. */
	inc = declared();
	p.group_id = "S05RLMGRS1";
	p.group_unknown = true;
	step_ok(&inc, &ev, 1000, &out);
	assert_int_equal(inc.state, INC_AWAITING_APPROVAL);
}

/* The plan changed and, meanwhile, so did the approvers: the plan_changed
 * message, and no request nobody could approve. */
static void changed_plan_with_nobody_left_fails(void **state)
{
	static const char *const only_jane[] = { "U02JD0E4512" };
	struct pol_policy p = policy(1);
	struct inc_actions out;
	struct incident inc = awaiting(&p, &out);
	struct inc_event ok = reaction(&p, "U03ASM1TH7Q", "white_check_mark", true);
	struct inc_event checked = { .kind = INC_EV_PLAN_CHECKED, .digest = 0xdef, .n_steps = 2,
				     .policy = &p };
	int i;

	(void)state;
	step_ok(&inc, &ok, 5000, &out);
	p.approvers = only_jane;
	p.n_approvers = 1;
	step_ok(&inc, &checked, 6000, &out);
	assert_int_equal(inc.state, INC_FAILED);
	i = find(&out, INC_ACT_POST, 0);
	assert_int_equal(out.a[i].msg, INC_MSG_PLAN_CHANGED);
	assert_int_equal(out.a[find(&out, INC_ACT_POST, i + 1)].msg, INC_MSG_NO_APPROVERS);
}

static void non_approver_is_told_privately_and_nothing_changes(void **state)
{
	struct pol_policy p = policy(1);
	struct inc_actions out;
	struct incident inc = awaiting(&p, &out);
	struct inc_event ev = reaction(&p, "U09NOBODY01", "white_check_mark", true);
	int i;

	(void)state;
	step_ok(&inc, &ev, 5000, &out);
	assert_int_equal(inc.state, INC_AWAITING_APPROVAL);
	i = find(&out, INC_ACT_NOTIFY_USER, 0);
	assert_string_equal(out.a[i].user, "U09NOBODY01");
	assert_string_equal(out.a[i].text, "INC-2026-0001: your reaction does not count: you are "
					   "not an approver for this service.");
	assert_string_equal(audit_of(&out, "reaction_added")->values[1], "ignored_not_approver");
}

static void requester_cannot_approve_own_rollback(void **state)
{
	struct pol_policy p = policy(1);
	const char *const self[] = { "U02JD0E4512" };
	struct inc_actions out;
	struct incident inc;
	struct inc_event ev;

	(void)state;
	p.approvers = self;
	p.n_approvers = 1;
	/* Only a group not read yet lets such a request be posted at all. */
	p.group_id = "S05RLMGRS1";
	p.group_unknown = true;
	inc = awaiting(&p, &out);
	ev = reaction(&p, "U02JD0E4512", "white_check_mark", true);
	step_ok(&inc, &ev, 5000, &out);
	assert_int_equal(inc.state, INC_AWAITING_APPROVAL);
	assert_true(find(&out, INC_ACT_NOTIFY_USER, 0) >= 0);
}

static void bots_own_reactions_are_audited_and_ignored(void **state)
{
	struct pol_policy p = policy(1);
	struct inc_actions out;
	struct incident inc = awaiting(&p, &out);
	struct inc_event ev = reaction(&p, "U07RLB0T9QK", "white_check_mark", true);

	(void)state;
	step_ok(&inc, &ev, 5000, &out);
	assert_int_equal(inc.state, INC_AWAITING_APPROVAL);
	assert_true(find(&out, INC_ACT_NOTIFY_USER, 0) < 0);
	assert_string_equal(audit_of(&out, "reaction_added")->values[1], "ignored_bot_reaction");
}

static void approver_cross_rejects(void **state)
{
	struct pol_policy p = policy(1);
	struct inc_actions out;
	struct incident inc = awaiting(&p, &out);
	struct inc_event ev = reaction(&p, "U04BOBBY111", "x", true);

	(void)state;
	step_ok(&inc, &ev, 5000, &out);
	assert_int_equal(inc.state, INC_REJECTED);
	assert_true(find(&out, INC_ACT_RUN_STEP, 0) < 0);
	assert_int_equal(out.a[find(&out, INC_ACT_POST, 0)].msg, INC_MSG_REJECTED);
}

static void quorum_of_two_needs_two(void **state)
{
	struct pol_policy p = policy(2);
	struct inc_actions out;
	struct incident inc = awaiting(&p, &out);
	struct inc_event a = reaction(&p, "U03ASM1TH7Q", "white_check_mark", true);
	struct inc_event b = reaction(&p, "U04BOBBY111", "white_check_mark", true);

	(void)state;
	step_ok(&inc, &a, 5000, &out);
	assert_int_equal(inc.state, INC_AWAITING_APPROVAL);
	step_ok(&inc, &b, 6000, &out);
	assert_int_equal(inc.state, INC_APPROVED);
}

static void timeout_expires_a_pending_request(void **state)
{
	struct pol_policy p = policy(1);
	struct inc_actions out;
	struct incident inc = awaiting(&p, &out);
	struct inc_event early = { .kind = INC_EV_APPROVAL_TIMEOUT, .policy = &p };

	(void)state;
	step_ok(&inc, &early, 1000 + 15 * 60 * 1000 - 1, &out);
	assert_int_equal(inc.state, INC_AWAITING_APPROVAL);
	assert_int_equal(out.n, 0);
	step_ok(&inc, &early, 1000 + 15 * 60 * 1000, &out);
	assert_int_equal(inc.state, INC_EXPIRED);
	assert_int_equal(out.a[find(&out, INC_ACT_POST, 0)].msg, INC_MSG_EXPIRED);
}

static void skipped_severity_runs_at_once(void **state)
{
	struct pol_policy p = policy(1);
	struct incident inc = declared();
	struct inc_event ev = { .kind = INC_EV_PLAN_READY, .digest = 7, .n_steps = 1,
				.target = "41", .policy = &p };
	struct inc_actions out;

	(void)state;
	inc.severity = CMD_SEV_P0;
	step_ok(&inc, &ev, 1000, &out);
	assert_int_equal(inc.state, INC_ROLLING_BACK);
	assert_non_null(audit_of(&out, "approval_skipped"));
	assert_int_equal(out.a[find(&out, INC_ACT_POST, 0)].msg, INC_MSG_APPROVAL_SKIPPED);
	assert_int_equal(out.a[find(&out, INC_ACT_RUN_STEP, 0)].step, 0);
}

static void steps_run_in_order_then_verifying(void **state)
{
	struct pol_policy p = policy(1);
	struct incident inc = declared();
	struct inc_event ready = { .kind = INC_EV_PLAN_READY, .digest = 7, .n_steps = 2,
				   .target = "41", .policy = &p };
	struct inc_event s0 = { .kind = INC_EV_STEP_DONE, .step = 0, .ok = true };
	struct inc_event s1 = { .kind = INC_EV_STEP_DONE, .step = 1, .ok = true };
	struct inc_actions out;

	(void)state;
	inc.severity = CMD_SEV_P0;
	step_ok(&inc, &ready, 1000, &out);
	step_ok(&inc, &s0, 2000, &out);
	assert_int_equal(out.a[find(&out, INC_ACT_RUN_STEP, 0)].step, 1);
	assert_int_equal(inc.state, INC_ROLLING_BACK);
	assert_int_equal(inc_step(&inc, &s0, 2500, &inc, &out), INC_EBADEVENT); /* twice */
	step_ok(&inc, &s1, 3000, &out);
	assert_int_equal(inc.state, INC_VERIFYING);
	assert_true(find(&out, INC_ACT_RUN_STEP, 0) < 0);
}

static void failing_step_fails_the_incident(void **state)
{
	struct pol_policy p = policy(1);
	struct incident inc = declared();
	struct inc_event ready = { .kind = INC_EV_PLAN_READY, .digest = 7, .n_steps = 2,
				   .target = "41", .policy = &p };
	struct inc_event s0 = { .kind = INC_EV_STEP_DONE, .step = 0, .ok = false,
				.error = "exit status 1" };
	struct inc_actions out;

	(void)state;
	inc.severity = CMD_SEV_P0;
	step_ok(&inc, &ready, 1000, &out);
	step_ok(&inc, &s0, 2000, &out);
	assert_int_equal(inc.state, INC_FAILED);
	assert_true(find(&out, INC_ACT_RUN_STEP, 0) < 0);
	assert_int_equal(out.a[find(&out, INC_ACT_POST, find(&out, INC_ACT_POST, 0) + 1)].msg,
			 INC_MSG_ROLLBACK_FAILED);
}

static void reaction_after_decision_is_audited_only(void **state)
{
	struct pol_policy p = policy(1);
	struct inc_actions out;
	struct incident inc = awaiting(&p, &out);
	struct inc_event ok = reaction(&p, "U03ASM1TH7Q", "white_check_mark", true);
	struct inc_event late = reaction(&p, "U04BOBBY111", "x", true);

	(void)state;
	step_ok(&inc, &ok, 5000, &out);
	step_ok(&inc, &late, 6000, &out);
	assert_int_equal(inc.state, INC_APPROVED);
	assert_int_equal(out.n, 1);
	assert_string_equal(out.a[0].audit_kind, "reaction_added");
}

static void plan_failure_fails_with_a_message(void **state)
{
	struct incident inc = declared();
	struct inc_event ev = { .kind = INC_EV_PLAN_FAILED, .error = "nothing to roll back to" };
	struct inc_actions out;

	(void)state;
	step_ok(&inc, &ev, 1000, &out);
	assert_int_equal(inc.state, INC_FAILED);
	assert_string_equal(audit_of(&out, "plan_failed")->values[0], "nothing to roll back to");
}

static void counted_approval_below_quorum_is_saved(void **state)
{
	struct pol_policy p = policy(2);
	struct inc_actions out;
	struct incident inc = awaiting(&p, &out);
	struct inc_event a = reaction(&p, "U03ASM1TH7Q", "white_check_mark", true);
	struct inc_event dup = reaction(&p, "U03ASM1TH7Q", "white_check_mark", true);

	(void)state;
	step_ok(&inc, &a, 5000, &out);
	assert_int_equal(inc.state, INC_AWAITING_APPROVAL);
	assert_true(find(&out, INC_ACT_SAVE, 0) >= 0);
	/* A reaction that changes nothing is audited, not saved. */
	step_ok(&inc, &dup, 5100, &out);
	assert_true(find(&out, INC_ACT_SAVE, 0) < 0);
	assert_string_equal(audit_of(&out, "reaction_added")->values[1], "ignored_duplicate");
}

static void recount_audits_changes_only_and_tells_nobody(void **state)
{
	struct pol_policy p = policy(2);
	struct inc_actions out;
	struct incident inc = awaiting(&p, &out);
	struct inc_event stranger = reaction(&p, "U09NOBODY99", "white_check_mark", true);
	struct inc_event a = reaction(&p, "U03ASM1TH7Q", "white_check_mark", true);

	(void)state;
	stranger.recount = true;
	step_ok(&inc, &stranger, 5000, &out);
	assert_int_equal(out.n, 0);
	a.recount = true;
	step_ok(&inc, &a, 5100, &out);
	assert_int_equal(inc.pol.n_approved, 1);
	assert_string_equal(audit_of(&out, "reaction_added")->keys[2], "source");
	assert_string_equal(audit_of(&out, "reaction_added")->values[2], "recount");
	assert_true(find(&out, INC_ACT_NOTIFY_USER, 0) < 0);
}

static void resumed_request_is_recounted(void **state)
{
	struct pol_policy p = policy(1);
	struct inc_actions out;
	struct incident inc = awaiting(&p, &out);
	struct inc_event ev = { .kind = INC_EV_RESUMED };

	(void)state;
	step_ok(&inc, &ev, 9000, &out);
	assert_int_equal(inc.state, INC_AWAITING_APPROVAL);
	assert_true(find(&out, INC_ACT_RECOUNT, 0) >= 0);
	assert_true(find(&out, INC_ACT_POST, 0) < 0);
	assert_string_equal(audit_of(&out, "resumed")->values[0], "awaiting_approval");
	/* Killed before the request was posted: post it, nothing to count. */
	inc.approval_ts[0] = '\0';
	step_ok(&inc, &ev, 9100, &out);
	assert_int_equal(out.a[find(&out, INC_ACT_POST, 0)].msg, INC_MSG_APPROVAL_REQUEST);
	assert_true(find(&out, INC_ACT_RECOUNT, 0) < 0);
}

/* ---- verification, updates, closing by hand, restarts ---- */

static const struct inc_timing timing = { .update_interval_ms = 10 * 60 * 1000,
					  .verify_window_ms = 5000,
					  .verify_interval_ms = 1000 };

/* An incident whose steps are done and that is verifying since t=3000. */
static struct incident verifying(const struct pol_policy *p, struct inc_actions *out)
{
	struct incident inc = declared();
	struct inc_event ready = { .kind = INC_EV_PLAN_READY, .digest = 7, .n_steps = 1,
				   .target = "41", .policy = p, .timing = &timing };
	struct inc_event s0 = { .kind = INC_EV_STEP_DONE, .step = 0, .ok = true,
				.timing = &timing };

	inc.severity = CMD_SEV_P0;
	step_ok(&inc, &ready, 1000, out);
	step_ok(&inc, &s0, 3000, out);
	return inc;
}

static void verification_starts_after_the_last_step(void **state)
{
	struct pol_policy p = policy(1);
	struct inc_actions out;
	struct incident inc = verifying(&p, &out);

	(void)state;
	assert_int_equal(inc.state, INC_VERIFYING);
	assert_int_equal(inc.verify_deadline_ms, 3000 + 5000);
	assert_true(find(&out, INC_ACT_VERIFY, 0) > find(&out, INC_ACT_POST, 0));
}

static void failed_round_plans_the_next_then_gives_up(void **state)
{
	struct pol_policy p = policy(1);
	struct inc_actions out;
	struct incident inc = verifying(&p, &out);
	struct inc_event bad = { .kind = INC_EV_VERIFIED, .ok = false,
				 .error = "error rate: 6.0% (threshold 1.0%)", .timing = &timing };
	struct inc_event due = { .kind = INC_EV_VERIFY_DUE, .timing = &timing };

	(void)state;
	step_ok(&inc, &bad, 3100, &out);
	assert_int_equal(inc.state, INC_VERIFYING);
	assert_int_equal(inc.next_verify_ms, 4100);
	assert_string_equal(audit_of(&out, "verification")->values[1], "false");
	step_ok(&inc, &due, 4100, &out);
	assert_int_equal(inc.next_verify_ms, 0);
	assert_true(find(&out, INC_ACT_VERIFY, 0) >= 0);
	/* The last round that fits the window fails: people take over. No
	 * more rounds, but the updates go on (the incident stays open). */
	inc.next_update_ms = 9000;
	step_ok(&inc, &bad, 7500, &out);
	assert_int_equal(inc.state, INC_FAILED);
	assert_int_equal(out.a[find(&out, INC_ACT_POST, 0)].msg, INC_MSG_VERIFY_FAILED);
	assert_int_equal(inc.next_verify_ms, 0);
	assert_int_equal(inc.next_update_ms, 9000);
}

/* A failed incident stays open: its status updates go on on schedule, a
 * restart carries it on (nothing runs), and a person's cancel closes it
 * and stops them (issue 11, item 2). */
static void failed_incident_stays_open_until_cancelled(void **state)
{
	struct pol_policy p = policy(1);
	struct inc_actions out;
	struct incident inc = verifying(&p, &out);
	struct inc_event bad = { .kind = INC_EV_VERIFIED, .ok = false, .timing = &timing };
	struct inc_event due = { .kind = INC_EV_UPDATE_DUE, .timing = &timing };
	struct inc_event resumed = { .kind = INC_EV_RESUMED, .timing = &timing };
	struct inc_event stranger = { .kind = INC_EV_CANCEL, .user = "U09NOBODY01",
				      .policy = &p, .timing = &timing };
	struct inc_event cancel = { .kind = INC_EV_CANCEL, .user = "U02JD0E4512",
				    .error = "fixing forward", .policy = &p, .timing = &timing };
	const int64_t iv = timing.update_interval_ms;

	(void)state;
	inc.next_update_ms = 9000 + iv;
	step_ok(&inc, &bad, 9000, &out);
	assert_int_equal(inc.state, INC_FAILED);
	step_ok(&inc, &due, 9000 + iv, &out);
	assert_int_equal(out.a[find(&out, INC_ACT_POST, 0)].msg, INC_MSG_STATUS_UPDATE);
	assert_string_equal(audit_of(&out, "status_update")->values[1], "failed");
	assert_int_equal(inc.next_update_ms, 9000 + 2 * iv);
	step_ok(&inc, &resumed, 9000 + iv + 1, &out);
	assert_int_equal(inc.state, INC_FAILED);
	assert_int_equal(out.n, 1); /* only the "resumed" row: nothing runs */
	assert_string_equal(audit_of(&out, "resumed")->values[0], "failed");
	step_ok(&inc, &stranger, 9000 + iv + 2, &out);
	assert_int_equal(inc.state, INC_FAILED);
	assert_true(find(&out, INC_ACT_REPLY, 0) >= 0);
	step_ok(&inc, &cancel, 9000 + iv + 3, &out);
	assert_int_equal(inc.state, INC_CANCELLED);
	assert_string_equal(inc.closed_by, "U02JD0E4512");
	assert_string_equal(audit_of(&out, "cancelled")->values[1], "failed");
	assert_int_equal(out.a[find(&out, INC_ACT_POST, 0)].msg, INC_MSG_CANCELLED);
	assert_int_equal(inc.next_update_ms, 0);
	step_ok(&inc, &due, 9000 + 2 * iv, &out);
	assert_int_equal(out.n, 0);
}

static void passed_round_resolves(void **state)
{
	struct pol_policy p = policy(1);
	struct inc_actions out;
	struct incident inc = verifying(&p, &out);
	struct inc_event good = { .kind = INC_EV_VERIFIED, .ok = true, .timing = &timing };

	(void)state;
	step_ok(&inc, &good, 3200, &out);
	assert_int_equal(inc.state, INC_RESOLVED);
	assert_int_equal(out.a[find(&out, INC_ACT_POST, 0)].msg, INC_MSG_COMPLETE);
	assert_int_equal(inc_step(&inc, &good, 3300, &inc, &out), INC_EBADEVENT);
}

static void updates_keep_their_grid_and_never_burst(void **state)
{
	struct pol_policy p = policy(1);
	struct inc_actions out;
	struct incident inc = awaiting(&p, &out);
	struct inc_event due = { .kind = INC_EV_UPDATE_DUE, .timing = &timing };
	const int64_t iv = timing.update_interval_ms;

	(void)state;
	inc.next_update_ms = 1000 + iv;
	step_ok(&inc, &due, 500, &out); /* early: nothing */
	assert_int_equal(out.n, 0);
	step_ok(&inc, &due, 1000 + iv, &out);
	assert_int_equal(out.a[find(&out, INC_ACT_POST, 0)].msg, INC_MSG_STATUS_UPDATE);
	assert_int_equal(inc.updates_posted, 1);
	assert_int_equal(inc.next_update_ms, 1000 + 2 * iv);
	/* Three slots missed (a long restart): one update, then the grid. */
	step_ok(&inc, &due, 1000 + 5 * iv + 7, &out);
	assert_int_equal(inc.updates_posted, 2);
	assert_int_equal(inc.next_update_ms, 1000 + 6 * iv);
	assert_true(find(&out, INC_ACT_POST, find(&out, INC_ACT_POST, 0) + 1) < 0);
	/* Posted more than half an interval late: the next slot is skipped,
	 * so that two updates never come half an interval apart. */
	step_ok(&inc, &due, 1000 + 6 * iv + iv / 2 + 1, &out);
	assert_int_equal(inc.updates_posted, 3);
	assert_int_equal(inc.next_update_ms, 1000 + 8 * iv);
}

static void resolve_and_cancel_check_who_and_when(void **state)
{
	struct pol_policy p = policy(1);
	struct inc_actions out;
	struct incident inc = awaiting(&p, &out);
	struct inc_event stranger = { .kind = INC_EV_CANCEL, .user = "U09NOBODY01",
				      .policy = &p, .timing = &timing };
	struct inc_event resolve = { .kind = INC_EV_RESOLVE, .user = "U02JD0E4512",
				     .error = "false alarm", .policy = &p, .timing = &timing };
	struct inc_event cancel = { .kind = INC_EV_CANCEL, .user = "U02JD0E4512",
				    .error = "false alarm", .policy = &p, .timing = &timing };

	(void)state;
	step_ok(&inc, &stranger, 2000, &out);
	assert_int_equal(inc.state, INC_AWAITING_APPROVAL);
	assert_string_equal(out.a[find(&out, INC_ACT_REPLY, 0)].text,
			    "Only <@U02JD0E4512>, who asked for this rollback, or an approver of "
			    "payments-api can cancel INC-2026-0001.");
	step_ok(&inc, &resolve, 2100, &out); /* nothing ran: cancel, not resolve */
	assert_int_equal(inc.state, INC_AWAITING_APPROVAL);
	assert_non_null(strstr(out.a[find(&out, INC_ACT_REPLY, 0)].text, "/rollback cancel"));
	step_ok(&inc, &cancel, 2200, &out);
	assert_int_equal(inc.state, INC_CANCELLED);
	assert_string_equal(inc.closed_by, "U02JD0E4512");
	assert_string_equal(audit_of(&out, "cancelled")->values[0], "false alarm");
	assert_int_equal(out.a[find(&out, INC_ACT_POST, 0)].msg, INC_MSG_CANCELLED);
}

static void approver_resolves_a_failed_incident(void **state)
{
	struct pol_policy p = policy(1);
	struct inc_actions out;
	struct incident inc = verifying(&p, &out);
	struct inc_event bad = { .kind = INC_EV_VERIFIED, .ok = false, .timing = &timing };
	struct inc_event resolve = { .kind = INC_EV_RESOLVE, .user = "U04BOBBY111",
				     .error = "fixed upstream", .policy = &p, .timing = &timing };

	(void)state;
	step_ok(&inc, &bad, 9000, &out);
	assert_int_equal(inc.state, INC_FAILED);
	step_ok(&inc, &resolve, 9100, &out);
	assert_int_equal(inc.state, INC_RESOLVED);
	assert_string_equal(audit_of(&out, "resolved_by_hand")->values[1], "failed");
}

static void restart_while_rolling_back_asks_before_running_again(void **state)
{
	struct pol_policy p = policy(1);
	struct inc_actions out;
	struct incident inc = awaiting(&p, &out);
	struct inc_event ok = reaction(&p, "U03ASM1TH7Q", "white_check_mark", true);
	struct inc_event checked = { .kind = INC_EV_PLAN_CHECKED, .digest = 0xabc, .policy = &p };
	struct inc_event s0 = { .kind = INC_EV_STEP_DONE, .step = 0, .ok = true };
	struct inc_event resumed = { .kind = INC_EV_RESUMED };
	struct inc_event status = { .kind = INC_EV_STATUS_CHECKED, .ok = true,
				    .error = "deployment rolled out", .policy = &p };
	int i;

	(void)state;
	step_ok(&inc, &ok, 5000, &out);
	step_ok(&inc, &checked, 5001, &out);
	step_ok(&inc, &s0, 6000, &out); /* step 2 of 2 is running when the bot dies */
	assert_int_equal(inc.next_step, 1);
	step_ok(&inc, &resumed, 90000, &out);
	assert_true(inc.interrupted);
	assert_true(find(&out, INC_ACT_RUN_STEP, 0) < 0);
	assert_true(find(&out, INC_ACT_STATUS_CHECK, 0) >= 0);
	assert_string_equal(audit_of(&out, "step_interrupted")->values[0], "2");
	step_ok(&inc, &status, 91000, &out);
	assert_int_equal(inc.state, INC_AWAITING_APPROVAL);
	assert_int_equal(inc.pol.n_approved, 0);
	assert_int_equal(out.a[find(&out, INC_ACT_POST, 0)].msg, INC_MSG_APPROVAL_REQUEST);
	/* Approved again: from the interrupted step, not from the start. */
	(void)rb_strlcpy(inc.approval_ts, "1781061130.000100", sizeof inc.approval_ts);
	step_ok(&inc, &ok, 92000, &out);
	step_ok(&inc, &checked, 92001, &out);
	i = find(&out, INC_ACT_RUN_STEP, 0);
	assert_int_equal(out.a[i].step, 1);
	assert_false(inc.interrupted);
}

static void restart_in_each_state_does_only_what_is_safe(void **state)
{
	struct pol_policy p = policy(1);
	struct inc_actions out;
	struct incident inc = declared();
	struct inc_event resumed = { .kind = INC_EV_RESUMED };

	(void)state;
	step_ok(&inc, &resumed, 1000, &out); /* never announced */
	assert_int_equal(out.a[find(&out, INC_ACT_POST, 0)].msg, INC_MSG_ANNOUNCEMENT);
	(void)rb_strlcpy(inc.announcement_ts, "1781061129.402619", sizeof inc.announcement_ts);
	step_ok(&inc, &resumed, 1000, &out);
	assert_true(find(&out, INC_ACT_PREPARE_PLAN, 0) >= 0);
	inc.state = INC_APPROVED;
	step_ok(&inc, &resumed, 1000, &out);
	assert_true(find(&out, INC_ACT_CHECK_PLAN, 0) >= 0);
	assert_true(find(&out, INC_ACT_RUN_STEP, 0) < 0);
	inc = verifying(&p, &out);
	step_ok(&inc, &resumed, 1000, &out);
	assert_true(find(&out, INC_ACT_VERIFY, 0) >= 0);
	inc.state = INC_FAILED;
	step_ok(&inc, &resumed, 1000, &out); /* open: carried on, nothing runs */
	assert_int_equal(out.n, 1);
	inc.state = INC_RESOLVED;
	assert_int_equal(inc_step(&inc, &resumed, 1000, &inc, &out), INC_EBADEVENT);
}

static void end_messages_bring_the_report(void **state)
{
	struct pol_policy p = policy(1);
	struct inc_actions out;
	struct incident inc = verifying(&p, &out);
	struct inc_event good = { .kind = INC_EV_VERIFIED, .ok = true, .timing = &timing };
	struct inc_event posted = { .kind = INC_EV_POSTED, .msg = INC_MSG_COMPLETE,
				    .ts = "1781061200.000100", .timing = &timing };
	int i;

	(void)state;
	step_ok(&inc, &good, 3200, &out);
	assert_true(find(&out, INC_ACT_REPORT, 0) < 0); /* not before the message is in */
	step_ok(&inc, &posted, 3300, &out);
	i = find(&out, INC_ACT_REPORT, 0);
	assert_true(i > find(&out, INC_ACT_AUDIT, 0));
	assert_true(out.a[i].drafts);
	posted.msg = INC_MSG_VERIFY_FAILED;
	step_ok(&inc, &posted, 3400, &out);
	assert_false(out.a[find(&out, INC_ACT_REPORT, 0)].drafts);
	posted.msg = INC_MSG_STATUS_UPDATE;
	step_ok(&inc, &posted, 3500, &out);
	assert_true(find(&out, INC_ACT_REPORT, 0) < 0);
	/* A cancel brings the report only when a step had run (a failed
	 * rollback's end); one before anything ran has nothing to report. */
	posted.msg = INC_MSG_CANCELLED;
	step_ok(&inc, &posted, 3600, &out);
	assert_true(find(&out, INC_ACT_REPORT, 0) < 0);
	posted.ran = true;
	step_ok(&inc, &posted, 3700, &out);
	assert_false(out.a[find(&out, INC_ACT_REPORT, 0)].drafts);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(declared_posts_the_announcement_in_the_channel),
		cmocka_unit_test(posted_announcement_is_saved_and_audited),
		cmocka_unit_test(second_announcement_is_refused),
		cmocka_unit_test(declared_twice_is_refused),
		cmocka_unit_test(posted_without_ts_is_refused),
		cmocka_unit_test(failed_announcement_is_audited_and_requester_told),
		cmocka_unit_test(other_failure_names_the_error),
		cmocka_unit_test(unknown_state_is_refused),
		cmocka_unit_test(state_names_round_trip),
		cmocka_unit_test(states_that_hold_the_service),
		cmocka_unit_test(plan_ready_posts_the_approval_request),
		cmocka_unit_test(plan_ready_records_the_report_facts),
		cmocka_unit_test(posted_request_gets_both_reactions_and_the_timer),
		cmocka_unit_test(approver_check_approves_and_checks_the_plan),
		cmocka_unit_test(same_plan_starts_the_first_step),
		cmocka_unit_test(changed_plan_asks_again),
		cmocka_unit_test(nobody_to_approve_fails_without_a_request),
		cmocka_unit_test(changed_plan_with_nobody_left_fails),
		cmocka_unit_test(non_approver_is_told_privately_and_nothing_changes),
		cmocka_unit_test(requester_cannot_approve_own_rollback),
		cmocka_unit_test(bots_own_reactions_are_audited_and_ignored),
		cmocka_unit_test(approver_cross_rejects),
		cmocka_unit_test(quorum_of_two_needs_two),
		cmocka_unit_test(timeout_expires_a_pending_request),
		cmocka_unit_test(skipped_severity_runs_at_once),
		cmocka_unit_test(steps_run_in_order_then_verifying),
		cmocka_unit_test(failing_step_fails_the_incident),
		cmocka_unit_test(reaction_after_decision_is_audited_only),
		cmocka_unit_test(plan_failure_fails_with_a_message),
		cmocka_unit_test(counted_approval_below_quorum_is_saved),
		cmocka_unit_test(recount_audits_changes_only_and_tells_nobody),
		cmocka_unit_test(resumed_request_is_recounted),
		cmocka_unit_test(verification_starts_after_the_last_step),
		cmocka_unit_test(failed_round_plans_the_next_then_gives_up),
		cmocka_unit_test(passed_round_resolves),
		cmocka_unit_test(updates_keep_their_grid_and_never_burst),
		cmocka_unit_test(resolve_and_cancel_check_who_and_when),
		cmocka_unit_test(approver_resolves_a_failed_incident),
		cmocka_unit_test(failed_incident_stays_open_until_cancelled),
		cmocka_unit_test(restart_while_rolling_back_asks_before_running_again),
		cmocka_unit_test(restart_in_each_state_does_only_what_is_safe),
		cmocka_unit_test(end_messages_bring_the_report),
	};
	return cmocka_run_group_tests_name("incident", tests, NULL, NULL);
}
