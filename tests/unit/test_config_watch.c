/* rollbot — unit tests of bot/config_watch.c: a service's `watch:` block
 * and the `alertmanager:` block (MIT licence, see LICENSE). In a file of
 * their own: test_config.c is past the size a file should have. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "bot/config.h"

#define HEAD                                  \
	"incidents_channels: [C05K8Q2V7XM]\n" \
	"approval:\n"                         \
	"  approvers: [U03ASM1TH7Q]\n"
/* Service svc at line 5; its health_url at 9; `watch:` at line 10, its
 * first key at 11:7. */
#define WATCHED(body)                                  \
	HEAD "services:\n"                             \
	     "  svc:\n"                                \
	     "    method: kubectl\n"                   \
	     "    namespace: payments\n"               \
	     "    deployment: payments-api\n"          \
	     "    health_url: http://svc.test/health\n" \
	     "    watch:\n" body
#define SERVICES                    \
	"services:\n"               \
	"  svc:\n"                  \
	"    method: kubectl\n"     \
	"    namespace: payments\n" \
	"    deployment: payments-api\n"

static struct config *load_ok(const char *yaml)
{
	char err[CONFIG_ERR_LEN];
	struct config *cfg = NULL;
	int rc = config_parse(yaml, strlen(yaml), "t.yaml", &cfg, err, sizeof err);

	if (rc != 0)
		fail_msg("config_parse = %d: %s", rc, err);
	assert_non_null(cfg);
	return cfg;
}

static void invalid(const char *yaml, const char *want)
{
	char err[CONFIG_ERR_LEN];
	struct config *cfg = (struct config *)1;
	int rc = config_parse(yaml, strlen(yaml), "t.yaml", &cfg, err, sizeof err);

	assert_int_equal(rc, CONFIG_EINVALID);
	assert_null(cfg);
	assert_string_equal(err, want);
}

static void unwatched_by_default(void **state)
{
	struct config *cfg = load_ok(HEAD SERVICES);

	(void)state;
	assert_false(cfg->services[0].watch.on);
	assert_null(cfg->alertmanager_path);
	config_free(cfg);
}

/* Runbook 001's figures. */
static void empty_block_takes_the_defaults(void **state)
{
	struct config *cfg = load_ok(WATCHED(""));
	const struct config_watch *w = &cfg->services[0].watch;

	(void)state;
	assert_true(w->on);
	assert_int_equal(w->interval_ms, 30000);
	assert_true(w->error_rate_max == 0.05);
	assert_int_equal(w->error_for_ms, 120000);
	assert_int_equal(w->latency_max_ms, 2000);
	assert_int_equal(w->latency_for_ms, 120000);
	assert_int_equal(w->health_for_ms, 120000);
	assert_int_equal(w->rearm_ms, 300000);
	assert_int_equal(w->expiry_ms, 1800000);
	config_free(cfg);
}

static void every_key(void **state)
{
	struct config *cfg = load_ok(WATCHED("      interval: 1s\n"
					     "      error_rate_max: 8%\n"
					     "      error_for: 0s\n"
					     "      latency_max: 1500ms\n"
					     "      latency_for: 3s\n"
					     "      health_for: 4s\n"
					     "      rearm_after: 5s\n"
					     "      expire_after: 6s\n"));
	const struct config_watch *w = &cfg->services[0].watch;

	(void)state;
	assert_int_equal(w->interval_ms, 1000);
	assert_true(w->error_rate_max == 0.08);
	assert_int_equal(w->error_for_ms, 0);
	assert_int_equal(w->latency_max_ms, 1500);
	assert_int_equal(w->latency_for_ms, 3000);
	assert_int_equal(w->health_for_ms, 4000);
	assert_int_equal(w->rearm_ms, 5000);
	assert_int_equal(w->expiry_ms, 6000);
	config_free(cfg);
}

/* Read after the service's other keys, whatever their order: the verify
 * block below the watch block counts. */
static void verify_queries_count_in_any_order(void **state)
{
	struct config *cfg = load_ok(
		HEAD "services:\n"
		     "  svc:\n"
		     "    method: kubectl\n"
		     "    namespace: payments\n"
		     "    deployment: payments-api\n"
		     "    watch: {}\n"
		     "    verify:\n"
		     "      prometheus_url: http://prom.test:9090\n"
		     "      error_rate_query: sum(rate(errors[1m]))\n");

	(void)state;
	assert_true(cfg->services[0].watch.on);
	config_free(cfg);
}

static void nothing_to_watch(void **state)
{
	(void)state;
	invalid(HEAD SERVICES "    watch:\n",
		"t.yaml:9:5: service svc has a `watch` block but nothing to watch: give it a "
		"`health_url`, or an error_rate_query or latency_query in its verify block");
}

static void unknown_key(void **state)
{
	(void)state;
	invalid(WATCHED("      error_rate: 5%\n"),
		"t.yaml:11:7: unknown key `error_rate` in watch of service svc (known: "
		"interval, error_rate_max, error_for, latency_max, latency_for, health_for, "
		"rearm_after, expire_after)");
}

static void bad_values(void **state)
{
	(void)state;
	invalid(WATCHED("      error_rate_max: 8\n"),
		"t.yaml:11:23: `error_rate_max` must be a percentage like 1% or a ratio like "
		"0.01 between 0 and 1, not `8` (for 8 percent write 8%)");
	invalid(WATCHED("      interval: 0s\n"),
		"t.yaml:11:17: `interval` must be more than 0 and at most 7 days");
	invalid(WATCHED("      error_for: soon\n"),
		"t.yaml:11:18: `error_for` must be a duration such as 90s, 10m or 1h, not `soon`");
	invalid(WATCHED("      - 30s\n"),
		"t.yaml:11:7: `watch` must be a mapping of settings, not a list");
}

static void expiry_before_the_next_evaluation(void **state)
{
	(void)state;
	invalid(WATCHED("      interval: 1m\n"
			"      expire_after: 30s\n"),
		"t.yaml:10:5: in watch of service svc, `expire_after` must be at least "
		"`interval`: a proposal would lapse before the next evaluation");
}

static void alertmanager_path(void **state)
{
	struct config *cfg = load_ok(HEAD "http_listen: 127.0.0.1:8080\n"
					  "alertmanager:\n"
					  "  path: /hooks/alertmanager\n" SERVICES);

	(void)state;
	assert_string_equal(cfg->alertmanager_path, "/hooks/alertmanager");
	config_free(cfg);
	cfg = load_ok(HEAD "http_listen: 127.0.0.1:8080\n"
			   "alertmanager:\n" SERVICES);
	assert_null(cfg->alertmanager_path);
	config_free(cfg);
}

static void alertmanager_refusals(void **state)
{
	(void)state;
	invalid(HEAD "alertmanager:\n  path: /am\n" SERVICES,
		"t.yaml:5:3: `alertmanager` needs `http_listen`: the webhook is served there");
	invalid(HEAD "http_listen: 127.0.0.1:8080\nalertmanager:\n  path: /ready\n" SERVICES,
		"t.yaml:6:9: `path` of alertmanager cannot be /ready: rollbot serves it");
	invalid(HEAD "http_listen: 127.0.0.1:8080\nalertmanager:\n  path: am?x\n" SERVICES,
		"t.yaml:6:9: `path` of alertmanager must be a path such as /alertmanager "
		"(letters, digits, / _ . -, at most 64 characters), not `am?x`");
	invalid(HEAD "http_listen: 127.0.0.1:8080\nalertmanager:\n  token: x\n" SERVICES,
		"t.yaml:6:3: unknown key `token` in alertmanager (known: path)");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(unwatched_by_default),
		cmocka_unit_test(empty_block_takes_the_defaults),
		cmocka_unit_test(every_key),
		cmocka_unit_test(verify_queries_count_in_any_order),
		cmocka_unit_test(nothing_to_watch),
		cmocka_unit_test(unknown_key),
		cmocka_unit_test(bad_values),
		cmocka_unit_test(expiry_before_the_next_evaluation),
		cmocka_unit_test(alertmanager_path),
		cmocka_unit_test(alertmanager_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
