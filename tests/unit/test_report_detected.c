/* rollbot — unit tests of the report's detection entry (commands/
 * report_facts.c): an incident started from a watcher's proposal says when
 * the watcher saw the problem, not only when the command was recorded. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "commands/report.h"

static const struct report_incident inc = {
	.id = "INC-2026-0001",
	.service = "payments-api",
	.severity = "P1",
	.state = "awaiting_approval",
	.reason = "proposed by the watcher",
	.target = "",
	.method = "kubectl",
	.requested_by = "U02JD0E4512",
	.channel = "C05K8Q2V7XM",
	.created_at = "2026-12-05T23:40:10.000Z",
	.ended_at = "",
	.closed_by = "",
};

/* The timeline entry containing `needle`, or NULL. */
static const char *entry(const json_t *data, const char *needle, const char **at)
{
	const json_t *list = json_object_get(data, "timeline");

	for (size_t i = 0; i < json_array_size(list); i++) {
		const char *t = json_string_value(json_object_get(json_array_get(list, i), "text"));

		if (t && strstr(t, needle)) {
			*at = json_string_value(json_object_get(json_array_get(list, i), "at"));
			return t;
		}
	}
	return NULL;
}

static void detection_leads_the_timeline(void **state)
{
	const struct report_row rows[] = {
		{ "2026-12-05T23:40:10.000Z", "U02JD0E4512", "command_received",
		  "{\"text\":\"payments-api\",\"source\":\"watcher\"}" },
		{ "2026-12-05T23:40:10.100Z", "U02JD0E4512", "detected",
		  "{\"source\":\"watcher\",\"at\":\"2026-12-05T23:38:00.000Z\","
		  "\"summary\":\"error rate 8.00 % above 5.00 % since 23:36:00 UTC\"}" },
	};
	json_t *d = report_data(&inc, rows, 2);
	const char *at = NULL, *t = entry(d, "problem detected", &at);

	(void)state;
	assert_non_null(t);
	assert_string_equal(t, "problem detected by the watcher at 2026-12-05 23:38:00 UTC: "
			       "error rate 8.00 % above 5.00 % since 23:36:00 UTC (proposal "
			       "started by U02JD0E4512's ✅)");
	assert_string_equal(at, "2026-12-05 23:38:00");
	assert_null(entry(d, "first recorded by the /rollback", &at));
	assert_null(entry(d, "detected (", &at)); /* the row is not listed a second time */
	json_decref(d);
}

/* The text of impact's metrics line i, or NULL. */
static const char *metric(const json_t *data, size_t i)
{
	return json_string_value(json_object_get(
		json_array_get(json_object_get(json_object_get(data, "impact"), "metrics"), i),
		"text"));
}

/* The figures the watcher read when it saw the problem go into Impact,
 * before what verification read after the rollback. */
static void detection_figures_in_impact(void **state)
{
	const struct report_row rows[] = {
		{ "2026-12-05T23:40:10.000Z", "U02JD0E4512", "command_received",
		  "{\"text\":\"payments-api\",\"source\":\"watcher\"}" },
		{ "2026-12-05T23:40:10.100Z", "U02JD0E4512", "detected",
		  "{\"source\":\"watcher\",\"at\":\"2026-12-05T23:38:00.000Z\","
		  "\"summary\":\"error rate 8.0% above 5.0% since 23:38:00 UTC\","
		  "\"figures\":{\"error_rate\":{\"value\":\"0.08\",\"max\":\"0.05\"},"
		  "\"latency_s\":{\"value\":\"0.44\",\"max\":\"2\"},"
		  "\"health\":\"passing\"}}" },
	};
	json_t *d = report_data(&inc, rows, 2);

	(void)state;
	assert_string_equal(metric(d, 0),
			    "At detection (2026-12-05 23:38:00 UTC, by the watcher): error rate "
			    "8.0% (threshold 5.0%), p99 latency 440 ms (threshold 2.0 s), health "
			    "check passing");
	assert_string_equal(metric(d, 1), "After the rollback: not measured (no error rate or "
					  "latency check ran)");
	assert_null(metric(d, 2));
	json_decref(d);
}

static void without_detection_the_command_is_the_detection(void **state)
{
	const struct report_row rows[] = {
		{ "2026-12-05T23:40:10.000Z", "U02JD0E4512", "command_received",
		  "{\"text\":\"payments-api\"}" },
	};
	json_t *d = report_data(&inc, rows, 1);
	const char *at = NULL;

	(void)state;
	assert_non_null(entry(d, "first recorded by the /rollback", &at));
	assert_null(entry(d, "detected by the watcher", &at));
	json_decref(d);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(detection_leads_the_timeline),
		cmocka_unit_test(detection_figures_in_impact),
		cmocka_unit_test(without_detection_the_command_is_the_detection),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
