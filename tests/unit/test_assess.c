/* rollbot — unit tests of commands/assess.c: every threshold's boundary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "commands/assess.h"

static struct as_input figures(double err, double p99, enum as_health h)
{
	struct as_input in = {
		.error_rate = { true, err },
		.p99_s = { true, p99 },
		.p99_threshold_s = 0,
		.health = h,
	};
	return in;
}

static void check(const struct as_input *in, enum as_verdict v, const char *sev,
		  const char *budget)
{
	struct as_result r;

	assess_classify(in, &r);
	assert_string_equal(assess_verdict_text(r.verdict), assess_verdict_text(v));
	assert_string_equal(assess_severity_name(r.severity), sev);
	assert_string_equal(r.budget, budget);
}

static void error_rate_boundaries(void **state)
{
	struct as_input in;

	(void)state;
	in = figures(0.0, 0.1, AS_HEALTH_OK);
	check(&in, AS_MONITOR, "P2", "Monitor, rollback if escalates, < 2 hours");
	in = figures(0.0099, 0.1, AS_HEALTH_OK);
	check(&in, AS_MONITOR, "P2", "Monitor, rollback if escalates, < 2 hours");
	in = figures(0.01, 0.1, AS_HEALTH_OK);
	check(&in, AS_DISCUSS, "P1", "Rollback after confirmation, < 15 min");
	in = figures(0.05, 0.1, AS_HEALTH_OK);
	check(&in, AS_DISCUSS, "P1", "Rollback after confirmation, < 15 min");
	in = figures(0.0501, 0.1, AS_HEALTH_OK);
	check(&in, AS_ROLLBACK_NOW, "P1", "Rollback after confirmation, < 15 min");
}

static void p99_boundaries(void **state)
{
	struct as_input in;

	(void)state;
	in = figures(0.001, 2.0, AS_HEALTH_OK);
	check(&in, AS_MONITOR, "P2", "Monitor, rollback if escalates, < 2 hours");
	in = figures(0.001, 2.001, AS_HEALTH_OK);
	check(&in, AS_DISCUSS, "P1", "Rollback after investigation, < 30 min");
	/* A service's own threshold replaces the default. */
	in = figures(0.001, 0.5, AS_HEALTH_OK);
	in.p99_threshold_s = 0.5;
	check(&in, AS_MONITOR, "P2", "Monitor, rollback if escalates, < 2 hours");
	in.p99_s.value = 0.501;
	check(&in, AS_DISCUSS, "P1", "Rollback after investigation, < 30 min");
	/* Errors above 5 % and a slow p99: the tighter errors budget stays. */
	in = figures(0.08, 3.0, AS_HEALTH_OK);
	check(&in, AS_ROLLBACK_NOW, "P1", "Rollback after confirmation, < 15 min");
}

static void health_failing_is_an_outage(void **state)
{
	struct as_input in = figures(0.0, 0.1, AS_HEALTH_FAILING);
	struct as_result r;

	(void)state;
	check(&in, AS_ROLLBACK_NOW, "P0", "Immediate rollback, < 5 min");
	in = figures(0.08, 0.1, AS_HEALTH_FAILING);
	assess_classify(&in, &r);
	assert_int_equal(r.verdict, AS_ROLLBACK_NOW);
	assert_int_equal(r.severity, AS_SEV_P0);
	assert_int_equal(r.n_reasons, 3);
	assert_string_equal(r.reasons[0], "error rate 8.00 % > 5 % (roll back now)");
	assert_string_equal(r.reasons[1], "p99 latency 0.100 s <= 2.000 s");
	assert_string_equal(r.reasons[2], "health check failing (outage: roll back now)");
}

static void unknown_figures_are_said_and_never_healthy(void **state)
{
	struct as_input in = figures(0.0, 0.0, AS_HEALTH_UNKNOWN);
	struct as_result r;

	(void)state;
	in.error_rate.known = false;
	in.p99_s.known = false;
	assess_classify(&in, &r);
	assert_int_equal(r.verdict, AS_NO_VERDICT);
	assert_int_equal(r.severity, AS_SEV_NONE);
	assert_string_equal(r.budget, "");
	assert_string_equal(r.reasons[0], "error rate: could not be read");
	assert_string_equal(r.reasons[1], "p99 latency: could not be read");
	assert_string_equal(r.reasons[2], "health check: could not be read");

	/* An unread error rate with a slow p99 still says discuss. */
	in.p99_s = (struct as_figure){ true, 2.5 };
	check(&in, AS_DISCUSS, "P1", "Rollback after investigation, < 30 min");
	/* And a failing health check is an outage whatever else is unknown. */
	in.health = AS_HEALTH_FAILING;
	check(&in, AS_ROLLBACK_NOW, "P0", "Immediate rollback, < 5 min");
	/* Error rate known and low, health unknown: monitor, and it says so. */
	in = figures(0.002, 0.1, AS_HEALTH_UNKNOWN);
	assess_classify(&in, &r);
	assert_int_equal(r.verdict, AS_MONITOR);
	assert_string_equal(r.reasons[2], "health check: could not be read");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(error_rate_boundaries),
		cmocka_unit_test(p99_boundaries),
		cmocka_unit_test(health_failing_is_an_outage),
		cmocka_unit_test(unknown_figures_are_said_and_never_healthy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
