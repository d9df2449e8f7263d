/* rollbot — unit tests of the PagerDuty Events API v2 client's events
 * (bot/pagerduty.c). The sending is api_post_url's (tests/unit/test_api.c:
 * retries on 429/5xx and network errors, a 4xx is final); the fake
 * PagerDuty's contract is tests/scenarios/095-pagerduty-fake.json. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "bot/pagerduty.h"

static void assert_json(json_t *got, const char *want)
{
	char *s = json_dumps(got, JSON_COMPACT | JSON_SORT_KEYS);

	assert_string_equal(s, want);
	free(s);
	json_decref(got);
}

static void test_trigger_shape(void **state)
{
	(void)state;
	assert_json(pd_event_json("R0UTE", "trigger", "rollbot-INC-2026-0001",
				  "Rollback of payments-api awaits approval", "critical", "rollbot"),
		    "{\"dedup_key\":\"rollbot-INC-2026-0001\",\"event_action\":\"trigger\","
		    "\"payload\":{\"severity\":\"critical\",\"source\":\"rollbot\",\"summary\":"
		    "\"Rollback of payments-api awaits approval\"},\"routing_key\":\"R0UTE\"}");
}

static void test_resolve_has_no_payload(void **state)
{
	(void)state;
	assert_json(pd_event_json("R0UTE", "resolve", "rollbot-INC-2026-0001", NULL, NULL, NULL),
		    "{\"dedup_key\":\"rollbot-INC-2026-0001\",\"event_action\":\"resolve\","
		    "\"routing_key\":\"R0UTE\"}");
}

static void test_severity(void **state)
{
	(void)state;
	assert_string_equal(pd_severity(0), "critical");
	assert_string_equal(pd_severity(1), "critical");
	assert_string_equal(pd_severity(2), "error");
	assert_string_equal(pd_severity(3), "warning");
}

/* No routing key: PagerDuty is off, and the calls do nothing. */
static void test_off_without_key(void **state)
{
	(void)state;
	unsetenv("PAGERDUTY_ROUTING_KEY");
	assert_null(pd_from_env(NULL));
	setenv("PAGERDUTY_ROUTING_KEY", "", 1);
	assert_null(pd_from_env(NULL));
	pd_trigger(NULL, "rollbot-INC-2026-0001", "s", "critical", "rollbot", NULL, NULL);
	pd_resolve(NULL, "rollbot-INC-2026-0001", NULL, NULL);
	setenv("PAGERDUTY_ROUTING_KEY", "R0UTE", 1);
	pd_free(pd_from_env(NULL));
	unsetenv("PAGERDUTY_ROUTING_KEY");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_trigger_shape),
		cmocka_unit_test(test_resolve_has_no_payload),
		cmocka_unit_test(test_severity),
		cmocka_unit_test(test_off_without_key),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
