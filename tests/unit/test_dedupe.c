/* rollbot — unit tests of commands/dedupe.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "commands/dedupe.h"

static void first_delivery_is_new_second_is_a_duplicate(void **state)
{
	struct dd_set *dd = dd_new(600000, 100);

	(void)state;
	assert_false(dd_seen(dd, "event:Ev07K3QZ8M1P", 0));
	assert_true(dd_seen(dd, "event:Ev07K3QZ8M1P", 1000));
	assert_false(dd_seen(dd, "event:Ev07K3QZ8M1Q", 1000));
	assert_int_equal(dd_count(dd), 2);
	dd_free(dd);
}

static void key_is_forgotten_after_the_ttl(void **state)
{
	struct dd_set *dd = dd_new(600000, 100);

	(void)state;
	assert_false(dd_seen(dd, "a", 0));
	assert_true(dd_seen(dd, "a", 599999));
	assert_false(dd_seen(dd, "a", 600000));
	dd_free(dd);
}

static void retry_five_minutes_later_is_still_caught(void **state)
{
	struct dd_set *dd = dd_new(600000, 100);

	(void)state;
	assert_false(dd_seen(dd, "event:E1", 0));
	assert_true(dd_seen(dd, "event:E1", 4000));   /* retry 1 */
	assert_true(dd_seen(dd, "event:E1", 64000));  /* retry 2 */
	assert_true(dd_seen(dd, "event:E1", 304000)); /* retry 3 */
	dd_free(dd);
}

static void oldest_keys_go_first_past_the_bound(void **state)
{
	struct dd_set *dd = dd_new(600000, 3);

	(void)state;
	assert_false(dd_seen(dd, "k1", 0));
	assert_false(dd_seen(dd, "k2", 1));
	assert_false(dd_seen(dd, "k3", 2));
	assert_false(dd_seen(dd, "k4", 3));
	assert_int_equal(dd_count(dd), 3);
	assert_true(dd_seen(dd, "k4", 4));
	assert_true(dd_seen(dd, "k2", 4));
	dd_free(dd);
}

static void many_keys_all_found(void **state)
{
	struct dd_set *dd = dd_new(600000, 10000);
	char key[32];

	(void)state;
	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof key, "envelope:%d", i);
		assert_false(dd_seen(dd, key, i));
	}
	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof key, "envelope:%d", i);
		assert_true(dd_seen(dd, key, 5000));
	}
	dd_free(dd);
	dd_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(first_delivery_is_new_second_is_a_duplicate),
		cmocka_unit_test(key_is_forgotten_after_the_ttl),
		cmocka_unit_test(retry_five_minutes_later_is_still_caught),
		cmocka_unit_test(oldest_keys_go_first_past_the_bound),
		cmocka_unit_test(many_keys_all_found),
	};
	return cmocka_run_group_tests_name("dedupe", tests, NULL, NULL);
}
