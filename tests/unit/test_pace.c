/* rollbot — unit tests of bot/pace.c: Slack's rate limits, time passed in. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "bot/pace.h"

#define POST "chat.postMessage"

/* Sends what may go at `now` to `ch`; returns how many went. */
static int burst(struct pace *p, const char *ch, uint64_t now, int want)
{
	int sent = 0;

	while (sent < want && !pace_wait(p, POST, ch, now)) {
		pace_take(p, POST, ch, now);
		sent++;
	}
	return sent;
}

static void posts_burst_three_then_one_a_second_per_channel(void **state)
{
	struct pace *p = pace_new(NULL);

	(void)state;
	assert_int_equal(burst(p, "C1", 1000, 20), 3);
	/* the fourth waits a whole second, not less */
	assert_in_range(pace_wait(p, POST, "C1", 1000), 999, 1001);
	assert_int_equal(burst(p, "C1", 1500, 20), 0);
	assert_int_equal(burst(p, "C1", 2001, 20), 1);
	assert_int_equal(burst(p, "C1", 2500, 20), 0);
	assert_int_equal(burst(p, "C1", 3002, 20), 1);
	/* another channel has its own bucket */
	assert_int_equal(burst(p, "C2", 3002, 20), 3);
	/* quiet for long: the burst comes back, no more */
	assert_int_equal(burst(p, "C1", 60000, 20), 3);
	pace_free(p);
}

static void a_429_pauses_its_channel_only(void **state)
{
	struct pace *p = pace_new(NULL);

	(void)state;
	pace_pause(p, POST, "C1", 1000, 31000);
	assert_int_equal(pace_wait(p, POST, "C1", 1000), 30000);
	assert_int_equal(pace_wait(p, POST, "C2", 1000), 0);
	assert_int_equal(pace_wait(p, "reactions.add", NULL, 1000), 0);
	assert_int_equal(pace_wait(p, POST, "C1", 30999), 1);
	assert_int_equal(pace_wait(p, POST, "C1", 31000), 0);
	pace_free(p);
}

static void a_429_pauses_every_call_of_its_method(void **state)
{
	struct pace *p = pace_new(NULL);
	uint64_t left = 0;

	(void)state;
	assert_null(pace_paused(p, 0, &left));
	pace_pause(p, "reactions.add", NULL, 0, 2000);
	assert_int_equal(pace_wait(p, "reactions.add", NULL, 500), 1500);
	assert_int_equal(pace_wait(p, "reactions.get", NULL, 500), 0);
	assert_string_equal(pace_paused(p, 500, &left), "reactions.add");
	assert_int_equal(left, 1500);
	pace_pause(p, POST, "C05K8Q2V7XM", 500, 9000);
	assert_string_equal(pace_paused(p, 600, &left), "chat.postMessage in C05K8Q2V7XM");
	assert_int_equal(left, 8400);
	assert_null(pace_paused(p, 9000, &left));
	pace_free(p);
}

static void tiers_hold_a_minute_of_calls(void **state)
{
	struct pace *p = pace_new(NULL);
	int n = 0;

	(void)state;
	/* Tier 2: 20 a minute, then one every 3 s */
	while (!pace_wait(p, "usergroups.users.list", NULL, 0) && n < 100) {
		pace_take(p, "usergroups.users.list", NULL, 0);
		n++;
	}
	assert_int_equal(n, 20);
	assert_in_range(pace_wait(p, "usergroups.users.list", NULL, 0), 2999, 3001);
	/* auth.test and apps.connections.open are not paced, only paused */
	for (int i = 0; i < 200; i++) {
		assert_int_equal(pace_wait(p, "auth.test", NULL, 0), 0);
		pace_take(p, "auth.test", NULL, 0);
		assert_int_equal(pace_wait(p, "apps.connections.open", NULL, 0), 0);
		pace_take(p, "apps.connections.open", NULL, 0);
	}
	pace_free(p);
}

static void off_keeps_only_the_pauses(void **state)
{
	struct pace_options o = { .off = true };
	struct pace *p = pace_new(&o);

	(void)state;
	assert_int_equal(burst(p, "C1", 0, 500), 500);
	pace_pause(p, POST, "C1", 0, 1000);
	assert_int_equal(pace_wait(p, POST, "C1", 0), 1000);
	pace_free(p);
}

/* Many channels, each posted to once: the table keeps only what matters. */
static void many_channels_stay_correct(void **state)
{
	struct pace *p = pace_new(NULL);
	char ch[32];

	(void)state;
	for (int i = 0; i < 1000; i++) {
		snprintf(ch, sizeof ch, "C%04d", i);
		assert_int_equal(burst(p, ch, (uint64_t)i * 10, 5), 3);
	}
	/* the last ones are still empty, the first ones long refilled */
	assert_true(pace_wait(p, POST, "C0999", 9990) > 0);
	assert_int_equal(burst(p, "C0000", 20000, 5), 3);
	pace_free(p);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(posts_burst_three_then_one_a_second_per_channel),
		cmocka_unit_test(a_429_pauses_its_channel_only),
		cmocka_unit_test(a_429_pauses_every_call_of_its_method),
		cmocka_unit_test(tiers_hold_a_minute_of_calls),
		cmocka_unit_test(off_keeps_only_the_pauses),
		cmocka_unit_test(many_channels_stay_correct),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
