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
	assert_int_equal(out.n, 2);
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
	assert_int_equal(out.n, 2);
	assert_int_equal(out.a[0].kind, INC_ACT_AUDIT);
	assert_string_equal(out.a[0].audit_kind, "message_failed");
	assert_string_equal(out.a[0].values[2], "not_in_channel");
	assert_int_equal(out.a[1].kind, INC_ACT_NOTIFY_REQUESTER);
	assert_string_equal(out.a[1].text,
			    ":warning: INC-2026-0001 is recorded, but I could not post its "
			    "announcement: I am not a member of <#C05K8Q2V7XM>. Invite me with "
			    "`/invite @rollbot`.");
}

static void other_failure_names_the_error(void **state)
{
	struct incident cur = declared(), next;
	struct inc_event ev = { .kind = INC_EV_POST_FAILED, .msg = INC_MSG_ANNOUNCEMENT,
				.error = "http_500" };
	struct inc_actions out;

	(void)state;
	assert_int_equal(inc_step(&cur, &ev, 1000, &next, &out), 0);
	assert_non_null(strstr(out.a[1].text, "(`http_500`)"));
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
	enum inc_state s;
	assert_int_equal(inc_state_from_name("bogus", &s), RB_EINVAL);
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
	};
	return cmocka_run_group_tests_name("incident", tests, NULL, NULL);
}
