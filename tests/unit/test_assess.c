/* rollbot — unit tests of commands/assess.c: every threshold's boundary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "commands/assess.h"
#include "commands/report.h"
#include "commands/verify.h"

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

/* A reading as bot/probe.c settles it: -1 for a metric it could not read,
 * health_ok -1 for a health check that did not run. */
static void reading(struct verify_round *r, double err, double p99, int health_ok)
{
	memset(r, 0, sizeof(*r));
	r->outcome[VERIFY_ERROR_RATE] = err >= 0 && err < 0.05 ? VERIFY_PASS : VERIFY_FAIL;
	r->value[VERIFY_ERROR_RATE] = err;
	r->outcome[VERIFY_LATENCY] = p99 >= 0 && p99 < 2 ? VERIFY_PASS : VERIFY_FAIL;
	r->value[VERIFY_LATENCY] = p99;
	r->outcome[VERIFY_HEALTH] = health_ok < 0 ? VERIFY_NOT_RUN :
				    health_ok ? VERIFY_PASS : VERIFY_FAIL;
}

/* The severity /rollback assess shows (its input from the round, then the
 * classifier) is the one the watcher's proposal carries
 * (assess_round_severity), on the same figures, at and around every
 * boundary; and the cases the watcher proposes on are runbook 003's. */
static void watcher_and_assess_agree(void **state)
{
	static const double errs[] = { -1, 0, 0.0099, 0.01, 0.05, 0.0501, 0.08, 1 };
	static const double p99s[] = { -1, 0.2, 2.0, 2.001, 7 };
	static const int healths[] = { -1, 0, 1 };
	struct verify_round r;
	struct as_input in;
	struct as_result res;

	(void)state;
	for (size_t e = 0; e < sizeof(errs) / sizeof(errs[0]); e++)
		for (size_t p = 0; p < sizeof(p99s) / sizeof(p99s[0]); p++)
			for (size_t h = 0; h < sizeof(healths) / sizeof(healths[0]); h++) {
				reading(&r, errs[e], p99s[p], healths[h]);
				assess_input_of_round(&r, 2.0, &in);
				assess_classify(&in, &res);
				assert_string_equal(assess_round_severity(&r, 2.0),
						    assess_severity_name(res.severity));
			}
	/* Errors at 8 % with the health check failing too: an outage, P0, even
	 * though the watcher's errors trigger is the one that held first. */
	reading(&r, 0.08, 0.3, 0);
	assert_string_equal(assess_round_severity(&r, 2.0), "P0");
	reading(&r, 0.08, 0.3, 1);
	assert_string_equal(assess_round_severity(&r, 2.0), "P1");
	/* p99 over the threshold with few errors: degraded performance, P1. */
	reading(&r, 0.004, 3.0, 1);
	assert_string_equal(assess_round_severity(&r, 2.0), "P1");
	/* The same p99 under a service's own higher threshold: P2 (monitor). */
	assert_string_equal(assess_round_severity(&r, 5.0), "P2");
	/* Prometheus unreadable, health failing: P0. */
	reading(&r, -1, -1, 0);
	assert_string_equal(assess_round_severity(&r, 2.0), "P0");
}

/* Helm's deploy time (RFC 3339, nanoseconds, Z or an offset) is shown as
 * /rollback history shows times: to the minute, in display_timezone. */
static void deploy_time_for_people(void **state)
{
	char out[64] = "untouched";

	(void)state;
	report_set_zone(NULL);
	assert_int_equal(assess_deploy_time("2026-12-04T10:15:02.123456789Z", out, sizeof out), 0);
	assert_string_equal(out, "2026-12-04 10:15 UTC");
	assert_int_equal(assess_deploy_time("2026-03-02T09:14:07.125630211+00:00", out, sizeof out),
			 0);
	assert_string_equal(out, "2026-03-02 09:14 UTC");
	assert_int_equal(assess_deploy_time("2026-03-02T11:14:07+02:00", out, sizeof out), 0);
	assert_string_equal(out, "2026-03-02 09:14 UTC");
	report_set_zone("Europe/Berlin");
	assert_int_equal(assess_deploy_time("2026-12-04T10:15:02.123456789Z", out, sizeof out), 0);
	assert_string_equal(out, "2026-12-04 11:15 CET");
	assert_int_equal(assess_deploy_time("2026-07-04T10:15:02Z", out, sizeof out), 0);
	assert_string_equal(out, "2026-07-04 12:15 CEST");
	report_set_zone(NULL);
	/* Not a time: left to the caller, who shows what the tool said. */
	assert_int_equal(assess_deploy_time("yesterday", out, sizeof out), -1);
	assert_int_equal(assess_deploy_time("2026-12-04T10:15:02", out, sizeof out), -1);
	assert_int_equal(assess_deploy_time("2026-13-04T10:15:02Z", out, sizeof out), -1);
	assert_string_equal(out, "2026-07-04 12:15 CEST"); /* untouched */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(error_rate_boundaries),
		cmocka_unit_test(p99_boundaries),
		cmocka_unit_test(health_failing_is_an_outage),
		cmocka_unit_test(unknown_figures_are_said_and_never_healthy),
		cmocka_unit_test(watcher_and_assess_agree),
		cmocka_unit_test(deploy_time_for_people),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
