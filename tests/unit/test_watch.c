/* rollbot — unit tests of commands/watch.c: the watcher's triggers and
 * episodes, at every boundary. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <cmocka.h>

#include "commands/watch.h"

#define SEC 1000

static struct watch_limits lim;

static struct watch_figures figs(double err, double lat, enum watch_fig h)
{
	struct watch_figures f = {
		.err_known = true, .error_rate = err,
		.lat_known = true, .latency_s = lat,
		.health = h,
	};
	return f;
}

static const struct watch_figures healthy = {
	true, 0.001, true, 0.2, WATCH_OK,
};
static const struct watch_figures erroring = {
	true, 0.08, true, 0.2, WATCH_OK,
};
static const struct watch_figures blind = {
	false, 0, false, 0, WATCH_UNKNOWN,
};

static unsigned step(struct watch_state *st, const struct watch_figures *f,
		     bool open, int64_t now, struct watch_out *out)
{
	watch_step(&lim, st, f, open, now, out);
	return out->what;
}

static int setup(void **state)
{
	(void)state;
	watch_limits_default(&lim);
	return 0;
}

static void healthy_never_proposes(void **state)
{
	struct watch_state st;
	struct watch_out out;
	int64_t t;

	(void)state;
	watch_init(&st);
	for (t = 0; t <= 3600 * SEC; t += 30 * SEC)
		assert_int_equal(step(&st, &healthy, false, t, &out), 0);
	assert_int_equal(st.episode, WATCH_ARMED);
}

static void errors_propose_once_at_exactly_two_minutes(void **state)
{
	struct watch_state st;
	struct watch_out out;

	(void)state;
	watch_init(&st);
	assert_int_equal(step(&st, &erroring, false, 0, &out), 0);
	assert_int_equal(step(&st, &erroring, false, 119999, &out), 0);
	assert_int_equal(step(&st, &erroring, false, 120000, &out),
			 WATCH_PROPOSE);
	assert_int_equal(out.trigger, WATCH_T_ERRORS);
	assert_int_equal(out.since, 0);
	assert_int_equal(st.episode_no, 1);
	assert_int_equal(step(&st, &erroring, false, 150000, &out), 0);
	assert_int_equal(step(&st, &erroring, false, 600000, &out), 0);
	assert_int_equal(st.episode, WATCH_PROPOSED);
}

static void thresholds_are_exclusive(void **state)
{
	struct watch_state st;
	struct watch_out out;
	struct watch_figures at = figs(0.05, 2.0, WATCH_OK);
	struct watch_figures above = figs(0.0501, 2.0, WATCH_OK);
	struct watch_figures slow = figs(0.0, 2.001, WATCH_OK);

	(void)state;
	watch_init(&st);
	step(&st, &at, false, 0, &out);
	assert_int_equal(step(&st, &at, false, 600 * SEC, &out), 0);

	watch_init(&st);
	step(&st, &above, false, 0, &out);
	assert_int_equal(step(&st, &above, false, 120 * SEC, &out),
			 WATCH_PROPOSE);

	watch_init(&st);
	step(&st, &slow, false, 0, &out);
	assert_int_equal(step(&st, &slow, false, 120 * SEC, &out),
			 WATCH_PROPOSE);
	assert_int_equal(out.trigger, WATCH_T_LATENCY);
}

static void failing_health_proposes(void **state)
{
	struct watch_state st;
	struct watch_out out;
	struct watch_figures down = figs(0.0, 0.1, WATCH_BAD);

	(void)state;
	watch_init(&st);
	step(&st, &down, false, 10 * SEC, &out);
	assert_int_equal(step(&st, &down, false, 129999, &out), 0);
	assert_int_equal(step(&st, &down, false, 130 * SEC, &out),
			 WATCH_PROPOSE);
	assert_int_equal(out.trigger, WATCH_T_HEALTH);
	assert_int_equal(out.since, 10 * SEC);
}

static void flapping_restarts_the_hold(void **state)
{
	struct watch_state st;
	struct watch_out out;
	int64_t t;

	(void)state;
	watch_init(&st);
	/* Bad 90 s, good 30 s, over and over: never held for 2 min. */
	for (t = 0; t < 3600 * SEC; t += 30 * SEC) {
		bool bad = (t / (30 * SEC)) % 4 != 3;

		assert_int_equal(step(&st, bad ? &erroring : &healthy, false,
				      t, &out), 0);
	}
}

static void flapping_after_a_proposal_is_the_same_episode(void **state)
{
	struct watch_state st;
	struct watch_out out;
	int64_t t;
	int proposals = 0;

	(void)state;
	watch_init(&st);
	/* Bad 3 min, good 1 min (under the 5 min re-arm), for 25 min. */
	for (t = 0; t < 1500 * SEC; t += 30 * SEC) {
		bool bad = (t / (30 * SEC)) % 8 < 6;

		if (step(&st, bad ? &erroring : &healthy, false, t, &out) &
		    WATCH_PROPOSE)
			proposals++;
	}
	assert_int_equal(proposals, 1);
	assert_int_equal(st.episode_no, 1);
}

static void expiry_then_rearm_after_healthy(void **state)
{
	struct watch_state st;
	struct watch_out out;
	int64_t p;

	(void)state;
	watch_init(&st);
	step(&st, &erroring, false, 0, &out);
	step(&st, &erroring, false, 120 * SEC, &out);
	p = 120 * SEC;
	assert_int_equal(step(&st, &erroring, false, p + lim.expiry_ms - 1,
			      &out), 0);
	assert_int_equal(step(&st, &erroring, false, p + lim.expiry_ms, &out),
			 WATCH_EXPIRE);
	assert_int_equal(st.episode, WATCH_COOLING);
	/* Still erroring: no new proposal in the same episode. */
	assert_int_equal(step(&st, &erroring, false, p + lim.expiry_ms +
			      600 * SEC, &out), 0);
	/* Healthy from H: re-armed at exactly H + rearm, not before. */
	int64_t h = p + lim.expiry_ms + 700 * SEC;

	step(&st, &healthy, false, h, &out);
	assert_int_equal(step(&st, &healthy, false, h + lim.rearm_ms - 1,
			      &out), 0);
	assert_int_equal(step(&st, &healthy, false, h + lim.rearm_ms, &out),
			 WATCH_REARM);
	/* A new episode: a second proposal. */
	int64_t b = h + lim.rearm_ms + 30 * SEC;

	step(&st, &erroring, false, b, &out);
	assert_int_equal(step(&st, &erroring, false, b + 120 * SEC, &out),
			 WATCH_PROPOSE);
	assert_int_equal(st.episode_no, 2);
}

static void taken_proposal_waits_for_health(void **state)
{
	struct watch_state st;
	struct watch_out out;

	(void)state;
	watch_init(&st);
	step(&st, &erroring, false, 0, &out);
	assert_int_equal(step(&st, &erroring, false, 120 * SEC, &out),
			 WATCH_PROPOSE);
	watch_taken(&st);
	assert_int_equal(st.episode, WATCH_COOLING);
	assert_int_equal(step(&st, &erroring, false, 4000 * SEC, &out), 0);
}

static void open_incident_suppresses_once(void **state)
{
	struct watch_state st;
	struct watch_out out;

	(void)state;
	watch_init(&st);
	step(&st, &erroring, true, 0, &out);
	assert_int_equal(step(&st, &erroring, true, 120 * SEC, &out),
			 WATCH_SUPPRESS);
	assert_int_equal(st.episode_no, 0);
	/* The incident ends but the service is still bad: no proposal. */
	assert_int_equal(step(&st, &erroring, false, 150 * SEC, &out), 0);
	assert_int_equal(step(&st, &erroring, true, 180 * SEC, &out), 0);
}

static void blind_is_said_once(void **state)
{
	struct watch_state st;
	struct watch_out out;
	int64_t t;
	int said = 0;

	(void)state;
	watch_init(&st);
	for (t = 0; t < 600 * SEC; t += 30 * SEC)
		if (step(&st, &blind, false, t, &out) & WATCH_BLIND)
			said++;
	assert_int_equal(said, 1);
	assert_int_equal(step(&st, &healthy, false, t, &out), WATCH_SIGHTED);
	assert_int_equal(step(&st, &blind, false, t + SEC, &out),
			 WATCH_BLIND);
}

static void unknown_neither_breaks_nor_fires_a_hold(void **state)
{
	struct watch_state st;
	struct watch_out out;
	struct watch_figures err_only = erroring;

	(void)state;
	watch_init(&st);
	step(&st, &erroring, false, 0, &out);
	/* Prometheus away at 60 s and 120 s: the hold from 0 stands ... */
	step(&st, &blind, false, 60 * SEC, &out);
	assert_int_equal(step(&st, &blind, false, 120 * SEC, &out), 0);
	/* ... and fires on the next bad reading. */
	err_only.lat_known = false;
	err_only.health = WATCH_UNKNOWN;
	assert_int_equal(step(&st, &err_only, false, 150 * SEC, &out),
			 WATCH_PROPOSE | WATCH_SIGHTED);
	assert_int_equal(out.since, 0);
}

static void blind_time_does_not_rearm(void **state)
{
	struct watch_state st;
	struct watch_out out;

	(void)state;
	watch_init(&st);
	step(&st, &erroring, false, 0, &out);
	step(&st, &erroring, false, 120 * SEC, &out);
	watch_taken(&st);
	/* Never read healthy: blind for an hour re-arms nothing. */
	assert_int_equal(step(&st, &blind, false, 200 * SEC, &out),
			 WATCH_BLIND);
	assert_int_equal(step(&st, &blind, false, 4000 * SEC, &out), 0);
	assert_int_equal(st.episode, WATCH_COOLING);
}

static void names(void **state)
{
	(void)state;
	assert_string_equal(watch_trigger_name(WATCH_T_ERRORS), "errors");
	assert_string_equal(watch_trigger_name(WATCH_T_LATENCY), "latency");
	assert_string_equal(watch_trigger_name(WATCH_T_HEALTH), "health");
	assert_string_equal(watch_episode_name(WATCH_COOLING), "cooling");
}

/* What failed goes into the channel: never a URL's user or password. */
static void scrub_drops_credentials(void **state)
{
	char out[128];

	(void)state;
	watch_scrub("error rate: Prometheus did not answer (Could not resolve host: "
		    "https://admin:s3cret@prom.internal:9090/api/v1/query)",
		    out, sizeof out);
	assert_string_equal(out, "error rate: Prometheus did not answer (Could not resolve host: "
				 "https://…@prom.internal:9090/api/v1/query)");
	watch_scrub("http://a:b@h/ and http://c@d:1 x", out, sizeof out);
	assert_string_equal(out, "http://…@h/ and http://…@d:1 x");
	/* No URL, an @ outside one, a bare scheme: unchanged. */
	watch_scrub("error rate: Prometheus answered HTTP 500: internal_error", out, sizeof out);
	assert_string_equal(out, "error rate: Prometheus answered HTTP 500: internal_error");
	watch_scrub("mail me@host; ://", out, sizeof out);
	assert_string_equal(out, "mail me@host; ://");
	watch_scrub("http://host/path?u=x@y", out, sizeof out);
	assert_string_equal(out, "http://host/path?u=x@y");
	/* Cut to the room, never past it. */
	watch_scrub("https://user:pw@host", out, 9);
	assert_string_equal(out, "https://");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(healthy_never_proposes),
		cmocka_unit_test(errors_propose_once_at_exactly_two_minutes),
		cmocka_unit_test(thresholds_are_exclusive),
		cmocka_unit_test(failing_health_proposes),
		cmocka_unit_test(flapping_restarts_the_hold),
		cmocka_unit_test(flapping_after_a_proposal_is_the_same_episode),
		cmocka_unit_test(expiry_then_rearm_after_healthy),
		cmocka_unit_test(taken_proposal_waits_for_health),
		cmocka_unit_test(open_incident_suppresses_once),
		cmocka_unit_test(blind_is_said_once),
		cmocka_unit_test(unknown_neither_breaks_nor_fires_a_hold),
		cmocka_unit_test(blind_time_does_not_rearm),
		cmocka_unit_test(names),
		cmocka_unit_test(scrub_drops_credentials),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
