/* rollbot — unit tests of bot/config.c (MIT licence, see LICENSE).
 *
 * Most tests parse a YAML string with config_parse and assert either the
 * structs or the exact "FILE:LINE:COL: message". Some read files: the
 * shipped examples/rollbot.yaml and the scenario configurations (run from
 * the repository root) and a temporary file. Under ASan, LeakSanitizer
 * checks every error path frees what it built.
 *
 * Method parameters are checked by plan_build (commands/plan.c), which the
 * loader calls for every service: those refusals read "service NAME:
 * <plan_build's message>" at the service's name, and the rules quoted in
 * them are plan.c's (the *_RULE macros below).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "bot/config.h"
#include "commands/parse.h"

/* A valid file the error tests change one line of. */
#define HEAD                                  \
	"incidents_channels: [C05K8Q2V7XM]\n" \
	"approval:\n"                         \
	"  approvers: [U03ASM1TH7Q]\n"
#define SERVICES                    \
	"services:\n"               \
	"  payments-api:\n"         \
	"    method: kubectl\n"     \
	"    namespace: payments\n" \
	"    deployment: payments-api\n"
#define MINIMAL HEAD SERVICES

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

static void load_err(const char *yaml, int want_rc, const char *want)
{
	char err[CONFIG_ERR_LEN];
	struct config *cfg = (struct config *)1;
	int rc = config_parse(yaml, strlen(yaml), "t.yaml", &cfg, err, sizeof err);

	assert_int_equal(rc, want_rc);
	assert_null(cfg);
	assert_string_equal(err, want);
}

#define INVALID(yaml, msg) load_err(yaml, CONFIG_EINVALID, msg)

/* A service block after HEAD: service `svc`, starting at line 5. */
#define SERVICE(body) HEAD "services:\n  svc:\n" body

/* plan.c's rules, as its messages quote them. */
#define K8S_LABEL_RULE                                                                      \
	"a Kubernetes name: lowercase letters, digits and '-', starting and ending with a " \
	"letter or digit, at most 63 characters"
#define K8S_NAME_RULE                                                                     \
	"a Kubernetes object name: lowercase letters, digits, '-' and '.', starting and " \
	"ending with a letter or digit, at most 253 characters"
#define NAME_RULE                                                                       \
	"letters, digits and . _ - / : @ + , starting with a letter or digit, without " \
	"'..', at most 253 characters"
#define URL_RULE      "an http:// or https:// URL without spaces, credentials, query or fragment"
#define PATH_RULE     "an absolute path of letters, digits and . _ - / : @ + , without '..'"
#define MANIFEST_RULE "an absolute path without '..' or an http(s) URL"
#define JSON_RULE     "a JSON object or array of at most 8192 bytes"
/* "t.yaml:5:3: service svc: parameter `KEY` must be RULE" */
#define PARAM_ERR(key, rule) \
	"t.yaml:5:3: service svc: parameter `" key "` must be " rule

/* ---- the example and the defaults ----------------------------------- */

static void test_example_loads(void **state)
{
	char err[CONFIG_ERR_LEN];
	struct config *cfg = NULL;
	(void)state;

	if (config_load("examples/rollbot.yaml", &cfg, err, sizeof err) != 0)
		fail_msg("%s", err);
	assert_string_equal(cfg->path, "examples/rollbot.yaml");
	assert_int_equal(cfg->n_channels, 1);
	assert_string_equal(cfg->channels[0], "C05K8Q2V7XM");
	assert_int_equal(cfg->default_severity, CMD_SEV_P1);
	assert_int_equal(cfg->update_interval_ms, 10 * 60 * 1000);
	assert_null(cfg->templates_dir);
	assert_string_equal(cfg->http_listen, "0.0.0.0:8080");
	assert_int_equal(cfg->approval.n_approvers, 2);
	assert_string_equal(cfg->approval.approvers[0], "U03ASM1TH7Q");
	assert_string_equal(cfg->approval.approvers[1], "U04BJ0NES2R");
	assert_string_equal(cfg->approval.approver_group, "S05RLMGRS1");
	assert_int_equal(cfg->approval.required, 1);
	assert_false(cfg->approval.allow_self_approval);
	assert_int_equal(cfg->approval.timeout_ms, 15 * 60 * 1000);
	assert_true(cfg->approval.skip[CMD_SEV_P0]);
	assert_false(cfg->approval.skip[CMD_SEV_P1]);
	config_free(cfg);
}

static void test_example_has_one_service_per_method(void **state)
{
	char err[CONFIG_ERR_LEN];
	struct config *cfg = NULL;
	bool seen[PLAN_METHOD_COUNT] = { false };
	(void)state;

	if (config_load("examples/rollbot.yaml", &cfg, err, sizeof err) != 0)
		fail_msg("%s", err);
	assert_int_equal(cfg->n_services, PLAN_METHOD_COUNT);
	for (size_t i = 0; i < cfg->n_services; i++) {
		assert_false(seen[cfg->services[i].method]);
		seen[cfg->services[i].method] = true;
	}
	config_free(cfg);
}

static void test_example_service_details(void **state)
{
	char err[CONFIG_ERR_LEN];
	struct config *cfg = NULL;
	const struct config_service *pay, *search, *ledger;
	(void)state;

	if (config_load("examples/rollbot.yaml", &cfg, err, sizeof err) != 0)
		fail_msg("%s", err);
	pay = config_service(cfg, "payments-api");
	assert_non_null(pay);
	assert_int_equal(pay->method, PLAN_KUBECTL);
	assert_string_equal(config_param(pay, "namespace"), "payments");
	assert_string_equal(config_param(pay, "deployment"), "payments-api");
	assert_string_equal(config_param(pay, "container"), "api");
	assert_int_equal(pay->timeout_ms, 20 * 60 * 1000);
	assert_string_equal(pay->affected, "checkout and card payments");
	assert_string_equal(pay->health_url, "https://payments.example.com/health");
	assert_true(pay->has_approval);
	assert_int_equal(config_approval_for(cfg, pay)->required, 2);
	assert_int_equal(pay->n_db_rollback, 4);
	assert_string_equal(pay->db_rollback[0], "/opt/payments/bin/migrate");
	assert_string_equal(pay->db_rollback[3], "0042");
	assert_null(pay->db_rollback[4]);
	assert_int_equal(pay->db_rollback_timeout_ms, 15 * 60 * 1000);

	search = config_service(cfg, "search");
	assert_int_equal(search->method, PLAN_BLUEGREEN);
	assert_false(search->has_approval);
	assert_ptr_equal(config_approval_for(cfg, search), &cfg->approval);
	assert_null(search->db_rollback);
	assert_int_equal(search->n_db_rollback, 0);

	ledger = config_service(cfg, "ledger");
	assert_int_equal(ledger->method, PLAN_SCRIPT);
	assert_string_equal(config_param(ledger, "path"), "/opt/rollbot/scripts/ledger-rollback");
	assert_string_equal(config_param(ledger, "args"), "--environment=production --verbose");
	assert_string_equal(ledger->eta, "about 3 minutes");
	config_free(cfg);
}

/* The files the scenario harness, the demo and the bench run the bot with. */
static void test_scenario_configs_load(void **state)
{
	static const char *const files[] = { "tests/scenarios/rollbot.yaml",
					     "tests/scenarios/rollbot-http.yaml", NULL };
	char err[CONFIG_ERR_LEN];
	(void)state;

	for (size_t i = 0; files[i]; i++) {
		struct config *cfg = NULL;

		if (config_load(files[i], &cfg, err, sizeof err) != 0)
			fail_msg("%s", err);
		assert_int_equal(cfg->n_services, 3);
		config_free(cfg);
	}
}

static void test_defaults(void **state)
{
	struct config *cfg = load_ok(MINIMAL);
	const struct config_service *svc = &cfg->services[0];
	(void)state;

	assert_string_equal(cfg->path, "t.yaml");
	assert_int_equal(cfg->default_severity, CMD_SEV_P1);
	assert_int_equal(cfg->update_interval_ms, 600000);
	assert_null(cfg->templates_dir);
	assert_null(cfg->http_listen);
	assert_int_equal(cfg->approval.required, 1);
	assert_int_equal(cfg->approval.timeout_ms, 900000);
	assert_false(cfg->approval.allow_self_approval);
	assert_null(cfg->approval.approver_group);
	for (int i = 0; i < 4; i++)
		assert_false(cfg->approval.skip[i]);
	assert_int_equal(cfg->n_services, 1);
	assert_string_equal(svc->name, "payments-api");
	assert_int_equal(svc->timeout_ms, 300000);
	assert_null(svc->affected);
	assert_null(svc->display_name);
	assert_null(svc->environment);
	assert_null(svc->owner);
	assert_null(svc->eta);
	assert_null(svc->health_url);
	assert_null(svc->version_url);
	assert_false(svc->has_approval);
	assert_null(svc->db_rollback);
	assert_int_equal(svc->n_db_rollback, 0);
	assert_int_equal(svc->db_rollback_timeout_ms, 600000);
	assert_int_equal(svc->line, 5);
	assert_int_equal(svc->n_params, 2);
	config_free(cfg);
}

static void test_all_top_level_settings(void **state)
{
	struct config *cfg = load_ok("incidents_channels: [C05K8Q2V7XM, G01PRIV4TE]\n"
				     "default_severity: p2\n"
				     "update_interval: 90\n"
				     "templates_dir: /etc/rollbot/templates\n"
				     "http_listen: \"[::1]:9090\"\n"
				     "approval:\n"
				     "  approver_group: S05RLMGRS1\n"
				     "  required: 3\n"
				     "  allow_self_approval: yes\n"
				     "  timeout: 1h\n"
				     "  skip_for: [P0, P1]\n" SERVICES);
	(void)state;

	assert_int_equal(cfg->n_channels, 2);
	assert_string_equal(cfg->channels[1], "G01PRIV4TE");
	assert_int_equal(cfg->default_severity, CMD_SEV_P2);
	assert_int_equal(cfg->update_interval_ms, 90000);
	assert_string_equal(cfg->templates_dir, "/etc/rollbot/templates");
	assert_string_equal(cfg->http_listen, "[::1]:9090");
	assert_int_equal(cfg->approval.n_approvers, 0);
	assert_int_equal(cfg->approval.required, 3);
	assert_true(cfg->approval.allow_self_approval);
	assert_int_equal(cfg->approval.timeout_ms, 3600000);
	assert_true(cfg->approval.skip[0] && cfg->approval.skip[1]);
	assert_false(cfg->approval.skip[2] || cfg->approval.skip[3]);
	config_free(cfg);
}

static void test_single_channel_without_list(void **state)
{
	struct config *cfg = load_ok("incidents_channels: C05K8Q2V7XM\n"
				     "approval:\n"
				     "  approvers: U03ASM1TH7Q\n" SERVICES);
	(void)state;
	assert_int_equal(cfg->n_channels, 1);
	assert_int_equal(cfg->approval.n_approvers, 1);
	config_free(cfg);
}

static void test_service_lookup(void **state)
{
	struct config *cfg = load_ok(MINIMAL);
	(void)state;
	assert_ptr_equal(config_service(cfg, "payments-api"), &cfg->services[0]);
	assert_null(config_service(cfg, "Payments-API"));
	assert_null(config_service(cfg, "search"));
	config_free(cfg);
}

static void test_param_lookup(void **state)
{
	struct config *cfg = load_ok(MINIMAL);
	(void)state;
	assert_string_equal(config_param(&cfg->services[0], "namespace"), "payments");
	assert_null(config_param(&cfg->services[0], "container"));
	assert_null(config_param(&cfg->services[0], "method"));
	config_free(cfg);
}

static void test_incident_channel(void **state)
{
	struct config *cfg = load_ok(MINIMAL);
	(void)state;
	assert_true(config_is_incident_channel(cfg, "C05K8Q2V7XM"));
	assert_false(config_is_incident_channel(cfg, "C000000000"));
	assert_false(config_is_incident_channel(cfg, NULL));
	config_free(cfg);
}

static void test_service_approval_inherits_global(void **state)
{
	struct config *cfg = load_ok("incidents_channels: [C05K8Q2V7XM]\n"
				     "approval:\n"
				     "  approvers: [U03ASM1TH7Q, U04BJ0NES2R]\n"
				     "  timeout: 5m\n"
				     "  skip_for: [P0]\n"
				     "services:\n"
				     "  payments-api:\n"
				     "    method: kubectl\n"
				     "    namespace: payments\n"
				     "    deployment: payments-api\n"
				     "    approval:\n"
				     "      required: 2\n");
	const struct config_approval *a = config_approval_for(cfg, &cfg->services[0]);
	(void)state;

	assert_ptr_equal(a, &cfg->services[0].approval);
	assert_int_equal(a->required, 2);
	assert_int_equal(a->n_approvers, 2);
	assert_string_equal(a->approvers[1], "U04BJ0NES2R");
	assert_int_equal(a->timeout_ms, 300000);
	assert_true(a->skip[0]);
	assert_int_equal(cfg->approval.required, 1);
	config_free(cfg);
}

static void test_service_approval_replaces_approvers(void **state)
{
	struct config *cfg = load_ok("incidents_channels: [C05K8Q2V7XM]\n"
				     "approval:\n"
				     "  approvers: [U03ASM1TH7Q]\n"
				     "services:\n"
				     "  payments-api:\n"
				     "    approval: { approvers: [W01ENTERPR1], skip_for: [] }\n"
				     "    method: kubectl\n"
				     "    namespace: payments\n"
				     "    deployment: payments-api\n");
	const struct config_approval *a = config_approval_for(cfg, &cfg->services[0]);
	(void)state;

	assert_int_equal(a->n_approvers, 1);
	assert_string_equal(a->approvers[0], "W01ENTERPR1");
	assert_string_equal(cfg->approval.approvers[0], "U03ASM1TH7Q");
	config_free(cfg);
}

static void test_bluegreen_defaults_are_filled_in(void **state)
{
	struct config *cfg = load_ok(SERVICE("    method: bluegreen\n"
					     "    namespace: search\n"
					     "    service: search\n"));
	(void)state;
	assert_string_equal(config_param(&cfg->services[0], "selector_key"), "version");
	assert_string_equal(config_param(&cfg->services[0], "colour"), "blue");
	config_free(cfg);
}

static void test_bluegreen_configured_colour_is_kept(void **state)
{
	struct config *cfg = load_ok(SERVICE("    method: bluegreen\n"
					     "    namespace: search\n"
					     "    service: search\n"
					     "    colour: green\n"));
	(void)state;
	assert_string_equal(config_param(&cfg->services[0], "colour"), "green");
	config_free(cfg);
}

static void test_config_free_accepts_null(void **state)
{
	(void)state;
	config_free(NULL);
}

/* ---- durations ------------------------------------------------------ */

static int64_t dur(const char *s)
{
	int64_t ms = -1;

	assert_int_equal(config_duration_ms(s, &ms), 0);
	return ms;
}

static void test_duration_units(void **state)
{
	(void)state;
	assert_int_equal(dur("1500ms"), 1500);
	assert_int_equal(dur("90s"), 90000);
	assert_int_equal(dur("10m"), 600000);
	assert_int_equal(dur("1h"), 3600000);
}

static void test_duration_bare_number_is_seconds(void **state)
{
	(void)state;
	assert_int_equal(dur("600"), 600000);
	assert_int_equal(dur("0"), 0);
}

static void test_duration_rejects_malformed(void **state)
{
	static const char *const bad[] = { "",	   "10x",  "-5s",  "+5s",   "1.5m",
					   " 10m", "10m ", "10 m", "m",	    "10M",
					   "1d",   "10mm", "0x10", "1h30m", NULL };
	int64_t ms = 7;
	(void)state;
	for (size_t i = 0; bad[i]; i++)
		assert_int_equal(config_duration_ms(bad[i], &ms), RB_EINVAL);
	assert_int_equal(config_duration_ms(NULL, &ms), RB_EINVAL);
	assert_int_equal(ms, 7);
}

static void test_duration_rejects_overflow(void **state)
{
	int64_t ms;
	(void)state;
	assert_int_equal(config_duration_ms("9223372036854775807h", &ms), RB_EINVAL);
	assert_int_equal(config_duration_ms("99999999999999999999", &ms), RB_EINVAL);
	assert_int_equal(config_duration_ms("9223372036854775808ms", &ms), RB_EINVAL);
	assert_int_equal(config_duration_ms("9223372036854775807ms", &ms), 0);
	assert_int_equal(ms, INT64_MAX);
}

/* ---- files ---------------------------------------------------------- */

static void test_load_from_file(void **state)
{
	char path[] = "/tmp/rollbot-test-XXXXXX";
	char err[CONFIG_ERR_LEN];
	struct config *cfg = NULL;
	int fd = mkstemp(path);
	(void)state;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, MINIMAL, strlen(MINIMAL)), (ssize_t)strlen(MINIMAL));
	close(fd);
	assert_int_equal(config_load(path, &cfg, err, sizeof err), 0);
	assert_string_equal(cfg->path, path);
	config_free(cfg);
	unlink(path);
}

static void test_load_error_names_file_and_line(void **state)
{
	static const char yaml[] = HEAD "services: {}\n";
	char path[] = "/tmp/rollbot-test-XXXXXX";
	char err[RB_ERR_LEN], want[RB_ERR_LEN];
	struct config *cfg = NULL;
	int fd = mkstemp(path);
	(void)state;

	assert_true(fd >= 0);
	assert_int_equal(write(fd, yaml, strlen(yaml)), (ssize_t)strlen(yaml));
	close(fd);
	assert_int_equal(config_load(path, &cfg, err, sizeof err), CONFIG_EINVALID);
	assert_null(cfg);
	snprintf(want, sizeof want,
		 "%s:4:11: `services` must map each service name to its settings; see "
		 "examples/rollbot.yaml",
		 path);
	assert_string_equal(err, want);
	unlink(path);
}

static void test_load_missing_file(void **state)
{
	char err[CONFIG_ERR_LEN];
	struct config *cfg = (struct config *)1;
	(void)state;
	assert_int_equal(config_load("/nonexistent/rollbot.yaml", &cfg, err, sizeof err),
			 CONFIG_EIO);
	assert_null(cfg);
	assert_string_equal(err,
			    "/nonexistent/rollbot.yaml: cannot read: No such file or directory");
}

/* ---- YAML-level errors ---------------------------------------------- */

static void test_not_yaml(void **state)
{
	(void)state;
	load_err("incidents_channels: \"C05K8Q2V7XM\n", CONFIG_ESYNTAX,
		 "t.yaml:2:1: not valid YAML: found unexpected end of stream while scanning a "
		 "quoted scalar");
}

static void test_empty_file(void **state)
{
	(void)state;
	INVALID("# nothing but a comment\n",
		"t.yaml:1:1: the file is empty; see examples/rollbot.yaml for a complete "
		"configuration");
}

static void test_top_level_list(void **state)
{
	(void)state;
	INVALID("- a\n- b\n",
		"t.yaml:1:1: the top level must be a mapping of settings; see examples/rollbot.yaml");
}

static void test_second_document(void **state)
{
	(void)state;
	INVALID(MINIMAL "---\nfoo: 1\n",
		"t.yaml:9:1: a second YAML document: rollbot.yaml holds exactly one");
}

static void test_anchor_refused(void **state)
{
	(void)state;
	INVALID("incidents_channels: [C05K8Q2V7XM]\n"
		"approval: &policy\n"
		"  approvers: [U03ASM1TH7Q]\n" SERVICES,
		"t.yaml:2:11: YAML anchors (&policy) are not supported: write the value out in full");
}

static void test_alias_refused(void **state)
{
	(void)state;
	INVALID(HEAD "services:\n"
		     "  payments-api:\n"
		     "    method: kubectl\n"
		     "    namespace: payments\n"
		     "    deployment: payments-api\n"
		     "    approval: *policy\n",
		"t.yaml:9:15: YAML aliases (*policy) are not supported: write the value out in "
		"full");
}

static void test_nesting_too_deep(void **state)
{
	(void)state;
	INVALID("a: [[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]\n",
		"t.yaml:1:19: nested too deeply (more than 16 levels)");
}

static void test_key_that_is_a_list(void **state)
{
	(void)state;
	INVALID("? [a, b]\n: 1\n", "t.yaml:1:3: keys must be plain names, not a list");
}

/* ---- top level ------------------------------------------------------ */

static void test_unknown_top_level_key(void **state)
{
	(void)state;
	INVALID(MINIMAL "update_intervall: 5m\n",
		"t.yaml:9:1: unknown key `update_intervall` at the top level (known: "
		"incidents_channels, default_severity, update_interval, templates_dir, "
		"display_timezone, http_listen, alertmanager, approval, verify, services)");
}

static void test_duplicate_top_level_key(void **state)
{
	(void)state;
	INVALID(MINIMAL "approval:\n  approvers: [U04BJ0NES2R]\n",
		"t.yaml:9:1: duplicate key `approval` at the top level (first at line 2)");
}

static void test_missing_channels(void **state)
{
	(void)state;
	INVALID("approval:\n  approvers: [U03ASM1TH7Q]\n" SERVICES,
		"t.yaml:1:1: missing `incidents_channels`: the channel IDs where /rollback may be "
		"used");
}

static void test_empty_channels(void **state)
{
	(void)state;
	INVALID("incidents_channels: []\napproval:\n  approvers: [U03ASM1TH7Q]\n" SERVICES,
		"t.yaml:1:21: `incidents_channels` is empty: list at least one channel ID");
}

static void test_channel_name_instead_of_id(void **state)
{
	(void)state;
	INVALID("incidents_channels: [\"#incidents\"]\napproval:\n  approvers: [U1]\n" SERVICES,
		"t.yaml:1:22: `#incidents` is not a Slack channel ID (C… or G…, upper-case letters "
		"and digits, e.g. C05K8Q2V7XM): use the channel's ID, not its name");
}

static void test_channel_id_lower_case(void **state)
{
	(void)state;
	INVALID("incidents_channels: [c05k8q2v7xm]\napproval:\n  approvers: [U1]\n" SERVICES,
		"t.yaml:1:22: `c05k8q2v7xm` is not a Slack channel ID (C… or G…, upper-case "
		"letters and digits, e.g. C05K8Q2V7XM): use the channel's ID, not its name");
}

static void test_channel_listed_twice(void **state)
{
	(void)state;
	INVALID("incidents_channels: [C05K8Q2V7XM, C05K8Q2V7XM]\n"
		"approval:\n  approvers: [U03ASM1TH7Q]\n" SERVICES,
		"t.yaml:1:35: `incidents_channels` lists C05K8Q2V7XM twice");
}

static void test_channels_as_mapping(void **state)
{
	(void)state;
	INVALID("incidents_channels: {a: C05K8Q2V7XM}\napproval:\n  approvers: [U1]\n" SERVICES,
		"t.yaml:1:21: `incidents_channels` must be a list of IDs, not a mapping");
}

static void test_default_severity_out_of_range(void **state)
{
	(void)state;
	INVALID("default_severity: P9\n" MINIMAL,
		"t.yaml:1:19: `default_severity` must be P0, P1, P2 or P3, not `P9`");
}

static void test_update_interval_not_a_duration(void **state)
{
	(void)state;
	INVALID("update_interval: ten minutes\n" MINIMAL,
		"t.yaml:1:18: `update_interval` must be a duration such as 90s, 10m or 1h, not "
		"`ten minutes`");
}

static void test_update_interval_zero(void **state)
{
	(void)state;
	INVALID("update_interval: 0s\n" MINIMAL,
		"t.yaml:1:18: `update_interval` must be more than 0 and at most 7 days");
}

static void test_update_interval_wrong_type(void **state)
{
	(void)state;
	INVALID("update_interval: [10m]\n" MINIMAL,
		"t.yaml:1:18: `update_interval` must be a single value, not a list");
}

static void test_http_listen_without_port(void **state)
{
	(void)state;
	INVALID("http_listen: localhost\n" MINIMAL,
		"t.yaml:1:14: `http_listen` must be HOST:PORT, e.g. 127.0.0.1:8080, not `localhost`");
}

static void test_templates_dir_without_value(void **state)
{
	(void)state;
	INVALID("templates_dir:\n" MINIMAL, "t.yaml:1:15: `templates_dir` has no value");
}

/* ---- approval ------------------------------------------------------- */

static void test_unknown_approval_key(void **state)
{
	(void)state;
	INVALID("incidents_channels: [C05K8Q2V7XM]\n"
		"approval:\n"
		"  approvers: [U03ASM1TH7Q]\n"
		"  aprovers: [U04BJ0NES2R]\n" SERVICES,
		"t.yaml:4:3: unknown key `aprovers` in approval (known: approvers, approver_group, "
		"required, allow_self_approval, timeout, skip_for, escalate_after, fallback)");
}

static void test_missing_approval(void **state)
{
	(void)state;
	INVALID("incidents_channels: [C05K8Q2V7XM]\n" SERVICES,
		"t.yaml:1:1: missing `approval`: say who may approve a rollback (approvers or "
		"approver_group)");
}

static void test_approval_not_a_mapping(void **state)
{
	(void)state;
	INVALID("incidents_channels: [C05K8Q2V7XM]\napproval: U03ASM1TH7Q\n" SERVICES,
		"t.yaml:2:11: `approval` must be a mapping of settings, not a value");
}

static void test_approval_without_approvers(void **state)
{
	(void)state;
	INVALID("incidents_channels: [C05K8Q2V7XM]\napproval:\n  required: 1\n" SERVICES,
		"t.yaml:3:3: approval lists neither `approvers` nor `approver_group`: nobody could "
		"approve a rollback");
}

static void test_approver_name_instead_of_id(void **state)
{
	(void)state;
	INVALID("incidents_channels: [C05K8Q2V7XM]\napproval:\n  approvers: [jane.doe]\n" SERVICES,
		"t.yaml:3:15: `jane.doe` is not a Slack user ID (U… or W…, upper-case letters and "
		"digits, e.g. U03ASM1TH7Q)");
}

static void test_approver_group_bad_id(void **state)
{
	(void)state;
	INVALID(HEAD "  approver_group: \"@release-managers\"\n" SERVICES,
		"t.yaml:4:19: `@release-managers` is not a Slack user group ID (S…, upper-case "
		"letters and digits, e.g. S05RLMGRS1)");
}

static void test_required_zero(void **state)
{
	(void)state;
	INVALID(HEAD "  required: 0\n" SERVICES,
		"t.yaml:4:13: `required` must be a whole number from 1 to 100, not `0`");
}

static void test_required_not_a_number(void **state)
{
	(void)state;
	INVALID(HEAD "  required: two\n" SERVICES,
		"t.yaml:4:13: `required` must be a whole number from 1 to 100, not `two`");
}

static void test_required_more_than_approvers(void **state)
{
	(void)state;
	INVALID(HEAD "  required: 2\n" SERVICES,
		"t.yaml:4:13: approval: `required` is 2 but only 1 approver is listed (and no "
		"approver_group)");
}

static void test_required_more_than_approvers_with_group(void **state)
{
	struct config *cfg = load_ok(HEAD "  approver_group: S05RLMGRS1\n  required: 2\n" SERVICES);
	(void)state;
	assert_int_equal(cfg->approval.required, 2);
	config_free(cfg);
}

static void test_approver_listed_twice(void **state)
{
	(void)state;
	INVALID("incidents_channels: [C05K8Q2V7XM]\n"
		"approval:\n"
		"  approvers: [U03ASM1TH7Q, U03ASM1TH7Q]\n"
		"  required: 2\n" SERVICES,
		"t.yaml:3:28: `approvers` lists U03ASM1TH7Q twice");
}

static void test_allow_self_approval_not_boolean(void **state)
{
	(void)state;
	INVALID(HEAD "  allow_self_approval: maybe\n" SERVICES,
		"t.yaml:4:24: `allow_self_approval` must be true or false, not `maybe`");
}

static void test_approval_timeout_in_words(void **state)
{
	(void)state;
	INVALID(HEAD "  timeout: 15 minutes\n" SERVICES,
		"t.yaml:4:12: `timeout` must be a duration such as 90s, 10m or 1h, not `15 minutes`");
}

static void test_escalation_settings(void **state)
{
	struct config *cfg = load_ok(HEAD "  timeout: 15m\n"
					  "  escalate_after: 5m\n"
					  "  fallback: [U07ONCALL1, S05ONCALL1, W08LEAD22]\n" SERVICES);
	(void)state;
	assert_int_equal(cfg->approval.escalate_after_ms, 300000);
	assert_int_equal(cfg->approval.n_fallback, 2);
	assert_string_equal(cfg->approval.fallback[0], "U07ONCALL1");
	assert_string_equal(cfg->approval.fallback[1], "W08LEAD22");
	assert_string_equal(cfg->approval.fallback_group, "S05ONCALL1");
	config_free(cfg);
}

static void test_escalation_absent_by_default(void **state)
{
	struct config *cfg = load_ok(HEAD SERVICES);
	(void)state;
	assert_int_equal(cfg->approval.escalate_after_ms, 0);
	assert_int_equal(cfg->approval.n_fallback, 0);
	assert_null(cfg->approval.fallback_group);
	config_free(cfg);
}

static void test_escalate_after_not_shorter_than_timeout(void **state)
{
	(void)state;
	INVALID(HEAD "  timeout: 5m\n"
		     "  escalate_after: 5m\n" SERVICES,
		"t.yaml:5:19: approval: `escalate_after` (5m) must be shorter than `timeout` (5m)");
}

/* A service that shortens the timeout below the inherited escalation is
 * told at its own `timeout`. */
static void test_service_timeout_below_inherited_escalation(void **state)
{
	(void)state;
	INVALID("incidents_channels: [C05K8Q2V7XM]\n"
		"approval:\n"
		"  approvers: [U03ASM1TH7Q]\n"
		"  escalate_after: 5m\n"
		"  fallback: U07ONCALL1\n"
		"services:\n"
		"  svc:\n"
		"    method: kubectl\n"
		"    namespace: payments\n"
		"    deployment: api\n"
		"    approval:\n"
		"      timeout: 90s\n",
		"t.yaml:12:16: approval of service svc: `escalate_after` (5m) must be shorter than "
		"`timeout` (90s)");
}

static void test_fallback_bad_id(void **state)
{
	(void)state;
	INVALID(HEAD "  escalate_after: 5m\n"
		     "  fallback: [U07ONCALL1, C05K8Q2V7XM]\n" SERVICES,
		"t.yaml:5:26: `C05K8Q2V7XM` is not a Slack user ID (U… or W…, upper-case letters "
		"and digits, e.g. U03ASM1TH7Q)");
}

static void test_fallback_two_groups(void **state)
{
	(void)state;
	INVALID(HEAD "  fallback: [S05ONCALL1, S05ONCALL2]\n" SERVICES,
		"t.yaml:4:26: `fallback` names more than one user group; list one (and users)");
}

static void test_skip_for_bad_severity(void **state)
{
	(void)state;
	INVALID(HEAD "  skip_for: [P0, critical]\n" SERVICES,
		"t.yaml:4:18: `skip_for` must be P0, P1, P2 or P3, not `critical`");
}

static void test_service_approval_unknown_key(void **state)
{
	(void)state;
	INVALID(SERVICE("    method: kubectl\n"
			"    namespace: payments\n"
			"    deployment: api\n"
			"    approval: { requires: 2 }\n"),
		"t.yaml:9:17: unknown key `requires` in approval of service svc (known: approvers, "
		"approver_group, required, allow_self_approval, timeout, skip_for, escalate_after, "
		"fallback)");
}

static void test_service_approval_required_more_than_inherited_approvers(void **state)
{
	(void)state;
	INVALID(SERVICE("    method: kubectl\n"
			"    namespace: payments\n"
			"    deployment: api\n"
			"    approval:\n"
			"      required: 2\n"),
		"t.yaml:10:17: approval of service svc: `required` is 2 but only 1 approver is "
		"listed (and no approver_group)");
}

/* ---- services ------------------------------------------------------- */

static void test_missing_services(void **state)
{
	(void)state;
	INVALID(HEAD, "t.yaml:1:1: missing `services`: name at least one service rollbot may roll "
		      "back");
}

static void test_services_empty(void **state)
{
	(void)state;
	INVALID(HEAD "services:\n",
		"t.yaml:4:10: `services` must map each service name to its settings; see "
		"examples/rollbot.yaml");
}

static void test_service_not_a_mapping(void **state)
{
	(void)state;
	INVALID(HEAD "services:\n  svc: kubectl\n",
		"t.yaml:5:8: service svc must be a mapping of settings (method, namespace, …), not a "
		"value");
}

static void test_duplicate_service(void **state)
{
	(void)state;
	INVALID(MINIMAL "  payments-api:\n    method: flag\n",
		"t.yaml:9:3: duplicate service `payments-api` (first at line 5)");
}

static void test_service_name_upper_case(void **state)
{
	(void)state;
	INVALID(HEAD "services:\n  Payments:\n    method: flag\n",
		"t.yaml:5:3: service name `Payments` must be lower-case letters, digits, '.', '_' "
		"or '-', starting with a letter or digit, at most 63 characters");
}

static void test_service_name_with_shell_character(void **state)
{
	(void)state;
	INVALID(HEAD "services:\n  \"pay;rm\":\n    method: flag\n",
		"t.yaml:5:3: service name `pay;rm` must be lower-case letters, digits, '.', '_' or "
		"'-', starting with a letter or digit, at most 63 characters");
}

/* Every subcommand word, in any case: `/rollback status` would never reach
 * a service called status. The message names the word in lower case, as
 * the subcommand is written. */
static void test_service_named_after_a_subcommand(void **state)
{
	static const char *const names[] = { "help",	"status", "resolve", "cancel", "report",
					     "history", "Status", "HISTORY", NULL };
	static const char *const words[] = { "help",   "status",  "resolve", "cancel",
					     "report", "history", "status",  "history" };
	char yaml[256], want[256];
	(void)state;

	for (size_t i = 0; names[i]; i++) {
		snprintf(yaml, sizeof yaml, HEAD "services:\n  %s:\n    method: flag\n", names[i]);
		snprintf(want, sizeof want,
			 "t.yaml:5:3: `%s` cannot be a service name: it is a /rollback subcommand "
			 "(`/rollback %s`). Rename the service.",
			 words[i], words[i]);
		INVALID(yaml, want);
	}
}

/* Only the whole word is reserved. */
static void test_service_name_containing_a_subcommand_loads(void **state)
{
	struct config *cfg = load_ok(HEAD "services:\n"
					  "  status-page:\n"
					  "    method: docker\n"
					  "    service: status-page\n"
					  "  helpdesk:\n"
					  "    method: docker\n"
					  "    service: helpdesk\n");
	(void)state;
	assert_int_equal(cfg->n_services, 2);
	config_free(cfg);
}

static void test_service_without_method(void **state)
{
	(void)state;
	INVALID(SERVICE("    namespace: payments\n"),
		"t.yaml:5:3: service svc has no `method` (one of: kubectl, helm, bluegreen, flag, "
		"canary, recreate, docker, lambda, script)");
}

static void test_service_unknown_method(void **state)
{
	(void)state;
	INVALID(SERVICE("    method: kubect1\n"),
		"t.yaml:6:13: unknown method `kubect1` in service svc (methods: kubectl, helm, "
		"bluegreen, flag, canary, recreate, docker, lambda, script)");
}

static void test_service_missing_required_key(void **state)
{
	(void)state;
	INVALID(SERVICE("    method: kubectl\n"
			"    namespace: payments\n"),
		"t.yaml:5:3: service svc: method kubectl needs parameter `deployment`");
}

static void test_service_key_not_valid_for_method(void **state)
{
	(void)state;
	INVALID(SERVICE("    method: kubectl\n"
			"    namespace: payments\n"
			"    release: payments\n"),
		"t.yaml:8:5: key `release` is not valid for method kubectl in service svc (valid: "
		"namespace, deployment, container, context, method, timeout, affected, eta, "
		"health_url, version_url, approval, db_rollback, db_rollback_timeout, verify, "
		"display_name, environment, owner, watch)");
}

static void test_service_duplicate_key(void **state)
{
	(void)state;
	INVALID(SERVICE("    method: kubectl\n"
			"    namespace: payments\n"
			"    namespace: search\n"),
		"t.yaml:8:5: duplicate key `namespace` in service svc (first at line 7)");
}

static void test_param_without_value(void **state)
{
	(void)state;
	INVALID(SERVICE("    method: kubectl\n"
			"    namespace:\n"
			"    deployment: api\n"),
		"t.yaml:7:15: `namespace` has no value");
}

static void test_param_with_nul(void **state)
{
	(void)state;
	INVALID(SERVICE("    method: kubectl\n"
			"    namespace: \"pay\\0ments\"\n"
			"    deployment: api\n"),
		"t.yaml:7:16: `namespace` contains a NUL character");
}

static void test_param_with_newline(void **state)
{
	(void)state;
	INVALID(SERVICE("    method: kubectl\n"
			"    namespace: \"pay\\nments\"\n"
			"    deployment: api\n"),
		"t.yaml:7:16: `namespace` contains a control character (0x0A)");
}

static void test_param_with_space(void **state)
{
	(void)state;
	INVALID(SERVICE("    method: kubectl\n"
			"    namespace: pay ments\n"
			"    deployment: api\n"),
		PARAM_ERR("namespace", K8S_LABEL_RULE));
}

static void test_param_with_shell_character(void **state)
{
	(void)state;
	INVALID(SERVICE("    method: kubectl\n"
			"    namespace: payments\n"
			"    deployment: \"api;rm -rf /\"\n"),
		PARAM_ERR("deployment", K8S_NAME_RULE));
}

static void test_param_with_command_substitution(void **state)
{
	(void)state;
	INVALID(SERVICE("    method: lambda\n"
			"    function: $(id)\n"
			"    alias: production\n"),
		PARAM_ERR("function", NAME_RULE));
}

static void test_param_with_leading_dash(void **state)
{
	(void)state;
	INVALID(SERVICE("    method: kubectl\n"
			"    namespace: payments\n"
			"    deployment: --all\n"),
		PARAM_ERR("deployment", K8S_NAME_RULE));
}

static void test_param_with_lookalike_character(void **state)
{
	(void)state;
	INVALID(SERVICE("    method: docker\n"
			"    service: p\xd0\xb0yments\n"),
		PARAM_ERR("service", NAME_RULE));
}

static void test_flag_url_not_http(void **state)
{
	(void)state;
	INVALID(SERVICE("    method: flag\n"
			"    url: ftp://flags.example.com/admin\n"
			"    flag: oauth\n"),
		PARAM_ERR("url", URL_RULE));
}

static void test_flag_url_with_space(void **state)
{
	(void)state;
	INVALID(SERVICE("    method: flag\n"
			"    url: https://flags.example.com/a b\n"
			"    flag: oauth\n"),
		PARAM_ERR("url", URL_RULE));
}

static void test_script_path_relative(void **state)
{
	(void)state;
	INVALID(SERVICE("    method: script\n"
			"    path: scripts/rollback.sh\n"),
		PARAM_ERR("path", PATH_RULE));
}

static void test_script_path_with_dot_dot(void **state)
{
	(void)state;
	INVALID(SERVICE("    method: script\n"
			"    path: /opt/rollbot/../../bin/sh\n"),
		PARAM_ERR("path", PATH_RULE));
}

static void test_script_args_with_shell_characters(void **state)
{
	(void)state;
	INVALID(SERVICE("    method: script\n"
			"    path: /opt/rollback\n"
			"    args: --env prod; rm -rf /\n"),
		PARAM_ERR("args",
			  "words of letters, digits and . _ - / : @ + , = separated by spaces"));
}

static void test_recreate_manifest_relative(void **state)
{
	(void)state;
	INVALID(SERVICE("    method: recreate\n"
			"    namespace: reports\n"
			"    deployment: reports\n"
			"    manifest: k8s/previous.yaml\n"),
		PARAM_ERR("manifest", MANIFEST_RULE));
}

static void test_recreate_manifest_url(void **state)
{
	struct config *cfg =
		load_ok(SERVICE("    method: recreate\n"
				"    namespace: reports\n"
				"    deployment: reports\n"
				"    manifest: https://git.example.com/raw/prev.yaml\n"));
	(void)state;
	assert_string_equal(config_param(&cfg->services[0], "manifest"),
			    "https://git.example.com/raw/prev.yaml");
	config_free(cfg);
}

static void test_canary_patch_not_json(void **state)
{
	(void)state;
	INVALID(SERVICE("    method: canary\n"
			"    namespace: recs\n"
			"    canary_deployment: recs-canary\n"
			"    ingress: recs-canary\n"
			"    patch: canary-weight=0\n"),
		PARAM_ERR("patch", JSON_RULE));
}

static void test_canary_patch_without_ingress(void **state)
{
	(void)state;
	INVALID(SERVICE("    method: canary\n"
			"    namespace: recs\n"
			"    canary_deployment: recs-canary\n"
			"    patch: '{\"spec\":{}}'\n"),
		"t.yaml:5:3: service svc: canary `patch` and `ingress` go together");
}

static void test_canary_manifest_and_patch(void **state)
{
	(void)state;
	INVALID(SERVICE("    method: canary\n"
			"    namespace: recs\n"
			"    canary_deployment: recs-canary\n"
			"    ingress: recs-canary\n"
			"    manifest: /etc/rollbot/canary-0.yaml\n"
			"    patch: '{\"spec\":{}}'\n"),
		"t.yaml:5:3: service svc: canary takes `manifest` or `patch`, not both");
}

static void test_canary_multiline_patch(void **state)
{
	struct config *cfg = load_ok(SERVICE("    method: canary\n"
					     "    namespace: recs\n"
					     "    canary_deployment: recs-canary\n"
					     "    ingress: recs-canary\n"
					     "    patch: |\n"
					     "      [{\"op\": \"remove\",\n"
					     "        \"path\": \"/spec/rules/0\"}]\n"));
	(void)state;
	assert_string_equal(config_param(&cfg->services[0], "patch"),
			    "[{\"op\": \"remove\",\n  \"path\": \"/spec/rules/0\"}]\n");
	config_free(cfg);
}

static void test_health_url_not_http(void **state)
{
	(void)state;
	INVALID(SERVICE("    method: flag\n"
			"    url: https://flags.example.com/admin\n"
			"    flag: oauth\n"
			"    health_url: payments.example.com/health\n"),
		"t.yaml:9:17: `health_url` must be an http:// or https:// URL, not "
		"`payments.example.com/health`");
}

static void test_service_timeout_not_duration(void **state)
{
	(void)state;
	INVALID(SERVICE("    method: docker\n"
			"    service: web\n"
			"    timeout: soon\n"),
		"t.yaml:8:14: `timeout` must be a duration such as 90s, 10m or 1h, not `soon`");
}

static void test_affected_too_long(void **state)
{
	char yaml[1024], long_text[202];
	(void)state;
	memset(long_text, 'x', 201);
	long_text[201] = '\0';
	snprintf(yaml, sizeof yaml,
		 SERVICE("    method: docker\n"
			 "    service: web\n"
			 "    affected: %s\n"),
		 long_text);
	INVALID(yaml, "t.yaml:8:15: `affected` is longer than 200 characters");
}

/* `environment` (issue 11, item 10): a short label, for /rollback services. */
static void test_environment(void **state)
{
	char yaml[1024], long_text[102];
	struct config *cfg;

	(void)state;
	cfg = load_ok(SERVICE("    method: docker\n"
			      "    service: web\n"
			      "    environment: eu production\n"));
	assert_string_equal(cfg->services[0].environment, "eu production");
	config_free(cfg);
	memset(long_text, 'x', 101);
	long_text[101] = '\0';
	snprintf(yaml, sizeof yaml,
		 SERVICE("    method: docker\n"
			 "    service: web\n"
			 "    environment: %s\n"),
		 long_text);
	INVALID(yaml, "t.yaml:8:18: `environment` is longer than 100 characters");
}

/* display_timezone (issue 11, item 12): a name of the tz database, checked
 * at load with its line and column. */
static void test_display_timezone(void **state)
{
	struct config *cfg;

	(void)state;
	cfg = load_ok("display_timezone: Europe/Berlin\n" MINIMAL);
	assert_string_equal(cfg->display_timezone, "Europe/Berlin");
	config_free(cfg);
	cfg = load_ok(MINIMAL);
	assert_null(cfg->display_timezone);
	config_free(cfg);
	INVALID("display_timezone: Europe/Berln\n" MINIMAL,
		"t.yaml:1:19: `display_timezone` `Europe/Berln` is not in the tz database "
		"(/usr/share/zoneinfo): use a name such as Europe/Berlin or America/New_York");
	INVALID("display_timezone: ../../etc/passwd\n" MINIMAL,
		"t.yaml:1:19: `display_timezone` `../../etc/passwd` is not a time zone name such "
		"as Europe/Berlin or America/New_York");
}

/* The report's and the drafts' facts (issue 11, item 7). */
static void test_report_facts_load(void **state)
{
	struct config *cfg;
	(void)state;
	cfg = load_ok(SERVICE("    method: docker\n"
			      "    service: web\n"
			      "    display_name: \"Payments\"\n"
			      "    environment: production (cluster prod-eu)\n"
			      "    owner: payments team\n"));
	assert_string_equal(cfg->services[0].display_name, "Payments");
	assert_string_equal(cfg->services[0].environment, "production (cluster prod-eu)");
	assert_string_equal(cfg->services[0].owner, "payments team");
	config_free(cfg);
}

static void test_display_name_too_long(void **state)
{
	char yaml[1024], long_text[102];
	(void)state;
	memset(long_text, 'x', 101);
	long_text[101] = '\0';
	snprintf(yaml, sizeof yaml,
		 SERVICE("    method: docker\n"
			 "    service: web\n"
			 "    display_name: %s\n"),
		 long_text);
	INVALID(yaml, "t.yaml:8:19: `display_name` is longer than 100 characters");
}

static void test_long_value_is_clipped_in_message(void **state)
{
	(void)state;
	INVALID(SERVICE("    method: docker\n"
			"    service: web\n"
			"    timeout: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"),
		"t.yaml:8:14: `timeout` must be a duration such as 90s, 10m or 1h, not "
		"`aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa…`");
}

/* plan_build's messages never repeat a parameter's value (it may end up in
 * Slack or a log); the key and the rule are enough to find it. */
static void test_param_value_is_not_quoted(void **state)
{
	char err[CONFIG_ERR_LEN];
	struct config *cfg = NULL;
	static const char yaml[] = SERVICE("    method: docker\n"
					   "    service: web;SECRETISH\n");
	(void)state;

	assert_int_equal(config_parse(yaml, strlen(yaml), "t.yaml", &cfg, err, sizeof err),
			 CONFIG_EINVALID);
	assert_null(strstr(err, "SECRETISH"));
	assert_string_equal(err, PARAM_ERR("service", NAME_RULE));
}

/* ---- what plan_build refuses, check-config now refuses --------------- */

/* Each of these loaded before the loader built the plan, and the rollback
 * would have failed in plan_build when someone typed /rollback. */

static void test_flag_url_with_credentials(void **state)
{
	(void)state;
	INVALID(SERVICE("    method: flag\n"
			"    url: https://admin:s3cret@flags.example.com/admin\n"
			"    flag: oauth\n"),
		PARAM_ERR("url", URL_RULE));
}

static void test_flag_url_with_query(void **state)
{
	(void)state;
	INVALID(SERVICE("    method: flag\n"
			"    url: https://flags.example.com/admin?env=prod\n"
			"    flag: oauth\n"),
		PARAM_ERR("url", URL_RULE));
}

static void test_flag_url_with_fragment(void **state)
{
	(void)state;
	INVALID(SERVICE("    method: flag\n"
			"    url: https://flags.example.com/admin#flags\n"
			"    flag: oauth\n"),
		PARAM_ERR("url", URL_RULE));
}

static void test_docker_image_with_tag(void **state)
{
	(void)state;
	INVALID(SERVICE("    method: docker\n"
			"    service: legacy_web\n"
			"    image: registry.example.com/legacy/web:1.4.2\n"),
		PARAM_ERR("image",
			  "an image repository without tag or digest (registry:5000/team/app)"));
}

static void test_docker_image_with_digest(void **state)
{
	(void)state;
	INVALID(SERVICE("    method: docker\n"
			"    service: legacy_web\n"
			"    image: registry.example.com/legacy/web@sha256:0123abcd\n"),
		PARAM_ERR("image",
			  "an image repository without tag or digest (registry:5000/team/app)"));
}

static void test_namespace_upper_case(void **state)
{
	(void)state;
	INVALID(SERVICE("    method: kubectl\n"
			"    namespace: Payments\n"
			"    deployment: payments-api\n"),
		PARAM_ERR("namespace", K8S_LABEL_RULE));
}

static void test_deployment_with_underscore(void **state)
{
	(void)state;
	INVALID(SERVICE("    method: kubectl\n"
			"    namespace: payments\n"
			"    deployment: payments_api\n"),
		PARAM_ERR("deployment", K8S_NAME_RULE));
}

static void test_ingress_not_a_dns_name(void **state)
{
	(void)state;
	INVALID(SERVICE("    method: canary\n"
			"    namespace: recs\n"
			"    canary_deployment: recs-canary\n"
			"    ingress: recs-canary.\n"
			"    patch: '{\"spec\":{}}'\n"),
		PARAM_ERR("ingress", K8S_NAME_RULE));
}

/* 54 characters: a Kubernetes name, but longer than Helm allows. */
static void test_helm_release_too_long(void **state)
{
	(void)state;
	INVALID(SERVICE("    method: helm\n"
			"    namespace: payments\n"
			"    release: payments-api-release-with-a-very-long-name-01234567890\n"),
		PARAM_ERR("release", "a Helm release name: lowercase letters, digits, '-' and '.', "
				     "at most 53 characters"));
}

static void test_bluegreen_colour_not_a_label_value(void **state)
{
	(void)state;
	INVALID(SERVICE("    method: bluegreen\n"
			"    namespace: search\n"
			"    service: search\n"
			"    colour: blue_\n"),
		PARAM_ERR("colour", "a label value: letters, digits, '-', '_' and '.', starting "
				    "and ending with a letter or digit, at most 63 characters"));
}

static void test_lambda_alias_with_dot_dot(void **state)
{
	(void)state;
	INVALID(SERVICE("    method: lambda\n"
			"    function: thumbnailer\n"
			"    alias: prod..1\n"),
		PARAM_ERR("alias", NAME_RULE));
}

static void test_canary_patch_braces_but_not_json(void **state)
{
	(void)state;
	INVALID(SERVICE("    method: canary\n"
			"    namespace: recs\n"
			"    canary_deployment: recs-canary\n"
			"    ingress: recs-canary\n"
			"    patch: '{spec: {}}'\n"),
		PARAM_ERR("patch", JSON_RULE));
}

static void test_canary_patch_duplicate_keys(void **state)
{
	(void)state;
	INVALID(SERVICE("    method: canary\n"
			"    namespace: recs\n"
			"    canary_deployment: recs-canary\n"
			"    ingress: recs-canary\n"
			"    patch: '{\"spec\":{},\"spec\":{\"rules\":[]}}'\n"),
		PARAM_ERR("patch", JSON_RULE));
}

static void test_recreate_manifest_url_with_credentials(void **state)
{
	(void)state;
	INVALID(SERVICE("    method: recreate\n"
			"    namespace: reports\n"
			"    deployment: reports\n"
			"    manifest: https://bot:token@git.example.com/raw/prev.yaml\n"),
		PARAM_ERR("manifest", MANIFEST_RULE));
}

static void test_script_args_only_spaces(void **state)
{
	(void)state;
	INVALID(SERVICE("    method: script\n"
			"    path: /opt/rollback\n"
			"    args: '   '\n"),
		PARAM_ERR("args",
			  "words of letters, digits and . _ - / : @ + , = separated by spaces"));
}

/* ---- what plan_build accepts still loads ----------------------------- */

/* docker without `image` only ever runs Swarm's --rollback: built without
 * a target, it loads (with "v1" plan_build would ask for `image`). */
static void test_docker_without_image_loads(void **state)
{
	struct config *cfg = load_ok(SERVICE("    method: docker\n"
					     "    service: legacy_web\n"));
	(void)state;
	assert_null(config_param(&cfg->services[0], "image"));
	config_free(cfg);
}

static void test_docker_image_with_registry_port_loads(void **state)
{
	struct config *cfg = load_ok(SERVICE("    method: docker\n"
					     "    service: legacy_web\n"
					     "    image: registry.example.com:5000/legacy/web\n"));
	(void)state;
	assert_string_equal(config_param(&cfg->services[0], "image"),
			    "registry.example.com:5000/legacy/web");
	config_free(cfg);
}

/* A manifest URL is fetched whole, so a query (a git ref) is fine there. */
static void test_recreate_manifest_url_with_query_loads(void **state)
{
	struct config *cfg =
		load_ok(SERVICE("    method: recreate\n"
				"    namespace: reports\n"
				"    deployment: reports\n"
				"    manifest: https://git.example.com/raw/prev.yaml?ref=v41\n"));
	(void)state;
	config_free(cfg);
}

static void test_canary_without_routing_loads(void **state)
{
	struct config *cfg = load_ok(SERVICE("    method: canary\n"
					     "    namespace: recs\n"
					     "    canary_deployment: recs-canary\n"));
	(void)state;
	assert_int_equal(cfg->services[0].n_params, 2);
	config_free(cfg);
}

static void test_kube_context_arn_loads(void **state)
{
	struct config *cfg =
		load_ok(SERVICE("    method: kubectl\n"
				"    namespace: payments\n"
				"    deployment: payments-api\n"
				"    context: arn:aws:eks:eu-west-1:123456789012:cluster/prod\n"));
	(void)state;
	config_free(cfg);
}

/* plan_build's own timeout bound (1 ms .. 7 days) is the loader's: its
 * message, which does not name `timeout`, cannot be reached. */
static void test_service_timeout_bounds(void **state)
{
	struct config *cfg = load_ok(SERVICE("    method: kubectl\n"
					     "    namespace: payments\n"
					     "    deployment: payments-api\n"
					     "    timeout: 168h\n"));
	(void)state;
	assert_int_equal(cfg->services[0].timeout_ms, 7LL * 24 * 3600 * 1000);
	config_free(cfg);
	INVALID(SERVICE("    method: kubectl\n"
			"    namespace: payments\n"
			"    deployment: payments-api\n"
			"    timeout: 169h\n"),
		"t.yaml:9:14: `timeout` must be more than 0 and at most 7 days");
}

/* ---- db_rollback ---------------------------------------------------- */

/* A kubectl service at line 5 whose db_rollback value starts at 9:18. */
#define DB_SERVICE(rest)                    \
	SERVICE("    method: kubectl\n"     \
		"    namespace: payments\n" \
		"    deployment: payments-api\n" rest)

static void test_db_rollback_parsed(void **state)
{
	struct config *cfg = load_ok(DB_SERVICE(
		"    db_rollback: [\"/opt/payments/bin/migrate\", down, --to, \"0042\"]\n"
		"    db_rollback_timeout: 30m\n"));
	const struct config_service *svc = &cfg->services[0];
	(void)state;

	assert_int_equal(svc->n_db_rollback, 4);
	assert_string_equal(svc->db_rollback[0], "/opt/payments/bin/migrate");
	assert_string_equal(svc->db_rollback[1], "down");
	assert_string_equal(svc->db_rollback[2], "--to");
	assert_string_equal(svc->db_rollback[3], "0042");
	assert_null(svc->db_rollback[4]);
	assert_int_equal(svc->db_rollback_timeout_ms, 30 * 60 * 1000);
	config_free(cfg);
}

/* A block list works too; the timeout defaults to 10 minutes; elements
 * are passed as written, spaces and shell characters included (no shell). */
static void test_db_rollback_block_list(void **state)
{
	struct config *cfg = load_ok(DB_SERVICE("    db_rollback:\n"
						"      - /usr/bin/psql\n"
						"      - -f\n"
						"      - /srv/migrations/002 down; $x.sql\n"));
	const struct config_service *svc = &cfg->services[0];
	(void)state;

	assert_int_equal(svc->n_db_rollback, 3);
	assert_string_equal(svc->db_rollback[1], "-f");
	assert_string_equal(svc->db_rollback[2], "/srv/migrations/002 down; $x.sql");
	assert_int_equal(svc->db_rollback_timeout_ms, 10 * 60 * 1000);
	config_free(cfg);
}

static void test_db_rollback_not_a_list(void **state)
{
	(void)state;
	INVALID(DB_SERVICE("    db_rollback: /opt/payments/bin/migrate down --to 0042\n"),
		"t.yaml:9:18: `db_rollback` must be a list, one element per word of the command, "
		"e.g. [\"/opt/app/bin/migrate\", \"down\"], not a value: rollbot runs it without a "
		"shell");
}

static void test_db_rollback_mapping(void **state)
{
	(void)state;
	INVALID(DB_SERVICE("    db_rollback: { cmd: /opt/payments/bin/migrate }\n"),
		"t.yaml:9:18: `db_rollback` must be a list, one element per word of the command, "
		"e.g. [\"/opt/app/bin/migrate\", \"down\"], not a mapping: rollbot runs it without "
		"a shell");
}

static void test_db_rollback_without_value(void **state)
{
	(void)state;
	INVALID(DB_SERVICE("    db_rollback:\n"),
		"t.yaml:9:17: `db_rollback` must be a list, one element per word of the command, "
		"e.g. [\"/opt/app/bin/migrate\", \"down\"], not empty: rollbot runs it without a "
		"shell");
}

static void test_db_rollback_empty_list(void **state)
{
	(void)state;
	INVALID(DB_SERVICE("    db_rollback: []\n"),
		"t.yaml:9:18: `db_rollback` is empty: give the down-migration command, starting "
		"with its absolute path");
}

static void test_db_rollback_relative_path(void **state)
{
	(void)state;
	INVALID(DB_SERVICE("    db_rollback: [migrate, down]\n"),
		"t.yaml:9:19: `db_rollback[0]` must be the command's absolute path (starting with "
		"/), not `migrate`: rollbot does not search PATH");
}

static void test_db_rollback_too_many_elements(void **state)
{
	char yaml[2048], list[512];
	size_t o;
	(void)state;

	o = (size_t)snprintf(list, sizeof list, "[/opt/m");
	for (int i = 1; i < 33; i++)
		o += (size_t)snprintf(list + o, sizeof list - o, ", a%d", i);
	snprintf(list + o, sizeof list - o, "]");
	snprintf(yaml, sizeof yaml, DB_SERVICE("    db_rollback: %s\n"), list);
	/* Reported at the 33rd element, a32. */
	INVALID(yaml, "t.yaml:9:173: `db_rollback` has more than 32 elements");
}

static void test_db_rollback_32_elements_load(void **state)
{
	char yaml[2048], list[512];
	struct config *cfg;
	size_t o;
	(void)state;

	o = (size_t)snprintf(list, sizeof list, "[/opt/m");
	for (int i = 1; i < 32; i++)
		o += (size_t)snprintf(list + o, sizeof list - o, ", a%d", i);
	snprintf(list + o, sizeof list - o, "]");
	snprintf(yaml, sizeof yaml, DB_SERVICE("    db_rollback: %s\n"), list);
	cfg = load_ok(yaml);
	assert_int_equal(cfg->services[0].n_db_rollback, 32);
	assert_string_equal(cfg->services[0].db_rollback[31], "a31");
	config_free(cfg);
}

static void test_db_rollback_element_too_long(void **state)
{
	char yaml[2048], word[258];
	struct config *cfg;
	(void)state;

	memset(word, 'x', 256);
	word[256] = '\0';
	snprintf(yaml, sizeof yaml, DB_SERVICE("    db_rollback: [/opt/m, %s]\n"), word);
	cfg = load_ok(yaml); /* 256 bytes is the limit */
	assert_int_equal(strlen(cfg->services[0].db_rollback[1]), 256);
	config_free(cfg);

	memset(word, 'x', 257);
	word[257] = '\0';
	snprintf(yaml, sizeof yaml, DB_SERVICE("    db_rollback: [/opt/m, %s]\n"), word);
	INVALID(yaml, "t.yaml:9:27: `db_rollback[1]` is longer than 256 bytes");
}

static void test_db_rollback_control_character(void **state)
{
	(void)state;
	INVALID(DB_SERVICE("    db_rollback: [/opt/m, down, \"0042\\n\"]\n"),
		"t.yaml:9:33: `db_rollback[2]` contains a control character (0x0A)");
}

static void test_db_rollback_escape_character(void **state)
{
	(void)state;
	INVALID(DB_SERVICE("    db_rollback: [\"/opt/m\\e[31m\", down]\n"),
		"t.yaml:9:19: `db_rollback[0]` contains a control character (0x1B)");
}

static void test_db_rollback_nul(void **state)
{
	(void)state;
	INVALID(DB_SERVICE("    db_rollback: [/opt/m, \"do\\0wn\"]\n"),
		"t.yaml:9:27: `db_rollback[1]` contains a NUL character");
}

static void test_db_rollback_nested_list(void **state)
{
	(void)state;
	INVALID(DB_SERVICE("    db_rollback: [/opt/m, [down]]\n"),
		"t.yaml:9:27: `db_rollback[1]` must be a single value, not a list");
}

static void test_db_rollback_empty_element(void **state)
{
	(void)state;
	INVALID(DB_SERVICE("    db_rollback: [/opt/m, \"\"]\n"),
		"t.yaml:9:27: `db_rollback[1]` has no value");
}

static void test_db_rollback_timeout_without_command(void **state)
{
	(void)state;
	INVALID(DB_SERVICE("    db_rollback_timeout: 20m\n"),
		"t.yaml:9:5: `db_rollback_timeout` is set but service svc has no `db_rollback`");
}

static void test_db_rollback_timeout_not_a_duration(void **state)
{
	(void)state;
	INVALID(DB_SERVICE("    db_rollback: [/opt/m]\n"
			   "    db_rollback_timeout: later\n"),
		"t.yaml:10:26: `db_rollback_timeout` must be a duration such as 90s, 10m or 1h, "
		"not `later`");
}

/* ---- verify --------------------------------------------------------- */

/* A global verify block at line 4, its first key at 5:3, before MINIMAL's
 * service (payments-api, line 6 onwards shifted by the block). */
#define GLOBAL_VERIFY(body) HEAD "verify:\n" body SERVICES
/* A kubectl service svc (line 5) whose verify block's first key is at
 * 10:7. */
#define SERVICE_VERIFY(body) DB_SERVICE("    verify:\n" body)

static void assert_verify_defaults(const struct config_verify *v)
{
	assert_int_equal(v->window_ms, 5 * 60 * 1000);
	assert_int_equal(v->interval_ms, 15 * 1000);
	assert_null(v->prometheus_url);
	assert_true(v->error_rate_max == 0.01);
	assert_int_equal(v->latency_max_ms, 2000);
	assert_null(v->error_rate_query);
	assert_null(v->latency_query);
	assert_true(v->status);
}

static void test_verify_defaults(void **state)
{
	struct config *cfg = load_ok(MINIMAL);
	(void)state;

	assert_verify_defaults(&cfg->verify);
	assert_verify_defaults(&cfg->services[0].verify);
	config_free(cfg);
}

/* A service without a verify block gets the global values, in strings of
 * its own. */
static void test_verify_global_inherited(void **state)
{
	struct config *cfg = load_ok(GLOBAL_VERIFY("  window: 2m\n"
						   "  interval: 5s\n"
						   "  prometheus_url: http://prometheus:9090\n"
						   "  error_rate_max: 2%\n"
						   "  latency_max: 1500ms\n"));
	const struct config_verify *g = &cfg->verify, *v = &cfg->services[0].verify;
	(void)state;

	assert_int_equal(g->window_ms, 120000);
	assert_int_equal(g->interval_ms, 5000);
	assert_string_equal(g->prometheus_url, "http://prometheus:9090");
	assert_true(g->error_rate_max == 0.02);
	assert_int_equal(g->latency_max_ms, 1500);
	assert_true(g->status);

	assert_int_equal(v->window_ms, 120000);
	assert_int_equal(v->interval_ms, 5000);
	assert_string_equal(v->prometheus_url, "http://prometheus:9090");
	assert_ptr_not_equal(v->prometheus_url, g->prometheus_url);
	assert_true(v->error_rate_max == 0.02);
	assert_int_equal(v->latency_max_ms, 1500);
	assert_null(v->error_rate_query);
	assert_null(v->latency_query);
	assert_true(v->status);
	config_free(cfg);
}

/* A service's block replaces the keys it gives and keeps the rest of the
 * global block; another service and the global block are untouched. */
static void test_verify_service_override(void **state)
{
	struct config *cfg = load_ok(
		HEAD "verify:\n"
		     "  window: 2m\n"
		     "  prometheus_url: https://prom.example.com/\n"
		     "  latency_max: 3s\n"
		     "services:\n"
		     "  payments-api:\n"
		     "    method: kubectl\n"
		     "    namespace: payments\n"
		     "    deployment: payments-api\n"
		     "    verify:\n"
		     "      window: 0s\n"
		     "      error_rate_max: 0.5%\n"
		     "      error_rate_query: sum(rate(errors[2m])) / sum(rate(requests[2m]))\n"
		     "      latency_query: |\n"
		     "        histogram_quantile(0.99,\n"
		     "          sum by (le) (rate(duration_bucket[2m])))\n"
		     "      status: false\n"
		     "  search:\n"
		     "    method: helm\n"
		     "    namespace: search\n"
		     "    release: search\n"
		     "    verify:\n"
		     "      prometheus_url: http://other-prom:9090\n"
		     "      interval: 1s\n");
	const struct config_verify *p = &config_service(cfg, "payments-api")->verify;
	const struct config_verify *s = &config_service(cfg, "search")->verify;
	(void)state;

	assert_int_equal(p->window_ms, 0);
	assert_int_equal(p->interval_ms, 15000);
	assert_string_equal(p->prometheus_url, "https://prom.example.com/");
	assert_true(p->error_rate_max == 0.005);
	assert_int_equal(p->latency_max_ms, 3000);
	assert_string_equal(p->error_rate_query, "sum(rate(errors[2m])) / sum(rate(requests[2m]))");
	assert_string_equal(p->latency_query, "histogram_quantile(0.99,\n"
					      "  sum by (le) (rate(duration_bucket[2m])))\n");
	assert_false(p->status);

	assert_int_equal(s->window_ms, 120000);
	assert_int_equal(s->interval_ms, 1000);
	assert_string_equal(s->prometheus_url, "http://other-prom:9090");
	assert_true(s->error_rate_max == 0.01);
	assert_int_equal(s->latency_max_ms, 3000);
	assert_null(s->error_rate_query);
	assert_true(s->status);

	assert_int_equal(cfg->verify.window_ms, 120000);
	assert_string_equal(cfg->verify.prometheus_url, "https://prom.example.com/");
	assert_true(cfg->verify.error_rate_max == 0.01);
	assert_null(cfg->verify.error_rate_query);
	config_free(cfg);
}

/* A query with the service's own prometheus_url and no global one. */
static void test_verify_query_with_own_prometheus_url(void **state)
{
	struct config *cfg =
		load_ok(SERVICE_VERIFY("      prometheus_url: http://127.0.0.1:9090/prom\n"
				       "      latency_query: histogram_quantile(0.99, x)\n"));
	(void)state;

	assert_null(cfg->verify.prometheus_url);
	assert_string_equal(cfg->services[0].verify.prometheus_url, "http://127.0.0.1:9090/prom");
	assert_string_equal(cfg->services[0].verify.latency_query, "histogram_quantile(0.99, x)");
	assert_null(cfg->services[0].verify.error_rate_query);
	config_free(cfg);
}

static void test_verify_query_without_prometheus_url(void **state)
{
	(void)state;
	INVALID(SERVICE_VERIFY("      window: 1m\n"
			       "      error_rate_query: sum(rate(errors[2m]))\n"),
		"t.yaml:11:7: `error_rate_query` in service svc needs a `prometheus_url` to ask "
		"(in the service's verify block or the global one)");
	INVALID(SERVICE_VERIFY("      latency_query: histogram_quantile(0.99, x)\n"),
		"t.yaml:10:7: `latency_query` in service svc needs a `prometheus_url` to ask (in "
		"the service's verify block or the global one)");
}

/* The error rate: a percentage or a ratio, in (0, 1]. */
static void test_verify_error_rate_max_accepted(void **state)
{
	static const struct {
		const char *text;
		double want;
	} cases[] = {
		{ "1%", 0.01 },	  { "0.5%", 0.005 }, { "2.5 %", 0.025 },
		{ "0.01", 0.01 }, { "100%", 1.0 },   { "1", 1.0 },
		{ "0.25", 0.25 }, { "007%", 0.07 },  { ".5%", 0.005 },
	};
	char yaml[256];
	(void)state;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct config *cfg;

		snprintf(yaml, sizeof yaml, GLOBAL_VERIFY("  error_rate_max: '%s'\n"),
			 cases[i].text);
		cfg = load_ok(yaml);
		if (cfg->verify.error_rate_max != cases[i].want)
			fail_msg("%s: %.17g, want %.17g", cases[i].text, cfg->verify.error_rate_max,
				 cases[i].want);
		assert_true(cfg->services[0].verify.error_rate_max == cases[i].want);
		config_free(cfg);
	}
}

static void test_verify_error_rate_max_refused(void **state)
{
	static const char *const bad[] = { "150%", "0",	  "0%",	  "0.0",  "abc",    "-1%",
					   "1e-2", "1%%", "%",	  ".",	  "1.2.3%", "inf",
					   "0x1",  "1 ",  "+0.1", "1,5%", "150",    NULL };
	char yaml[256], want[256];
	(void)state;

	for (size_t i = 0; bad[i]; i++) {
		snprintf(yaml, sizeof yaml, GLOBAL_VERIFY("  error_rate_max: '%s'\n"), bad[i]);
		snprintf(want, sizeof want,
			 "t.yaml:5:19: `error_rate_max` must be a percentage like 1%% or a ratio "
			 "like 0.01 between 0 and 1, not `%s`",
			 bad[i]);
		INVALID(yaml, want);
	}
}

/* A bare number above 1 was most likely meant as a percentage. */
static void test_verify_error_rate_max_bare_percentage(void **state)
{
	(void)state;
	INVALID(SERVICE_VERIFY("      error_rate_max: 5\n"),
		"t.yaml:10:23: `error_rate_max` must be a percentage like 1% or a ratio like 0.01 "
		"between 0 and 1, not `5` (for 5 percent write 5%)");
}

static void test_verify_durations(void **state)
{
	(void)state;
	INVALID(GLOBAL_VERIFY("  interval: 0s\n"),
		"t.yaml:5:13: `interval` must be more than 0 and at most 7 days");
	INVALID(GLOBAL_VERIFY("  window: 8d\n"),
		"t.yaml:5:11: `window` must be a duration such as 90s, 10m or 1h, not `8d`");
	INVALID(GLOBAL_VERIFY("  window: 169h\n"), "t.yaml:5:11: `window` must be at most 7 days");
	INVALID(GLOBAL_VERIFY("  latency_max: 0ms\n"),
		"t.yaml:5:16: `latency_max` must be more than 0 and at most 7 days");
	INVALID(SERVICE_VERIFY("      interval: soon\n"),
		"t.yaml:10:17: `interval` must be a duration such as 90s, 10m or 1h, not `soon`");
}

/* The harness's configurations with ${port} and ${repo} filled in as it
 * does (port 1, repo the working directory, the repository root), parsed
 * under the file's name. */
static struct config *load_template(const char *path)
{
	char err[RB_ERR_LEN], repo[1024], *text, *out;
	size_t len, o = 0;
	struct config *cfg = NULL;
	FILE *f = fopen(path, "rb");

	assert_non_null(f);
	assert_non_null(getcwd(repo, sizeof repo));
	text = calloc(1, 1 << 16);
	out = calloc(1, 1 << 17);
	assert_true(text && out);
	len = fread(text, 1, (1 << 16) - 1, f);
	fclose(f);
	for (size_t i = 0; i < len;) {
		const char *sub = NULL;

		assert_true(o + sizeof repo < (1 << 17)); /* room for any substitution */
		if (!strncmp(text + i, "${port}", 7))
			sub = "1";
		else if (!strncmp(text + i, "${repo}", 7))
			sub = repo;
		if (sub) {
			o += (size_t)snprintf(out + o, (1 << 17) - o, "%s", sub);
			i += 7;
		} else {
			out[o++] = text[i++];
		}
	}
	if (config_parse(out, o, path, &cfg, err, sizeof err) != 0)
		fail_msg("%s", err);
	free(text);
	free(out);
	return cfg;
}

/* The verification scenarios' file: the global block's Prometheus and
 * timing reach payments-api, whose queries use them; search keeps its own
 * window. */
static void test_verify_scenario_config_loads(void **state)
{
	struct config *cfg = load_template("tests/scenarios/rollbot-verify.yaml.in");
	const struct config_service *pay = config_service(cfg, "payments-api");
	const struct config_service *search = config_service(cfg, "search");
	(void)state;

	assert_non_null(pay);
	assert_non_null(search);
	assert_non_null(cfg->verify.prometheus_url);
	assert_string_equal(pay->verify.prometheus_url, cfg->verify.prometheus_url);
	assert_non_null(pay->verify.error_rate_query);
	assert_non_null(pay->verify.latency_query);
	assert_int_equal(pay->verify.window_ms, cfg->verify.window_ms);
	assert_int_equal(search->verify.window_ms, 60000);
	assert_null(search->verify.error_rate_query);
	config_free(cfg);
	cfg = load_template("tests/scenarios/rollbot-methods.yaml.in");
	config_free(cfg);
}

static void test_verify_window_zero_is_one_round(void **state)
{
	struct config *cfg = load_ok(GLOBAL_VERIFY("  window: 0\n"));
	(void)state;
	assert_int_equal(cfg->verify.window_ms, 0);
	assert_int_equal(cfg->services[0].verify.window_ms, 0);
	config_free(cfg);
}

static void test_verify_unknown_keys(void **state)
{
	(void)state;
	INVALID(GLOBAL_VERIFY("  windw: 1m\n"),
		"t.yaml:5:3: unknown key `windw` in verify (known: window, interval, "
		"prometheus_url, error_rate_max, latency_max)");
	INVALID(SERVICE_VERIFY("      error_rate: 1%\n"),
		"t.yaml:10:7: unknown key `error_rate` in verify of service svc (known: window, "
		"interval, prometheus_url, error_rate_max, latency_max, error_rate_query, "
		"latency_query, status)");
	INVALID(SERVICE_VERIFY("      window: 1m\n"
			       "      window: 2m\n"),
		"t.yaml:11:7: duplicate key `window` in verify of service svc (first at line 10)");
}

/* The service-only keys, written in the global block. */
static void test_verify_service_keys_at_top_level(void **state)
{
	(void)state;
	INVALID(GLOBAL_VERIFY("  prometheus_url: http://prom:9090\n"
			      "  error_rate_query: sum(x)\n"),
		"t.yaml:6:3: `error_rate_query` can only be set in a service's verify block: each "
		"service has its own metrics and method");
	INVALID(GLOBAL_VERIFY("  status: false\n"),
		"t.yaml:5:3: `status` can only be set in a service's verify block: each service "
		"has its own metrics and method");
}

static void test_verify_not_a_mapping(void **state)
{
	(void)state;
	INVALID(GLOBAL_VERIFY("  - window\n"),
		"t.yaml:5:3: `verify` must be a mapping of settings, not a list");
	INVALID(SERVICE_VERIFY(""), "t.yaml:9:12: `verify` must be a mapping of settings, not "
				    "empty");
}

static void test_verify_status_not_boolean(void **state)
{
	(void)state;
	INVALID(SERVICE_VERIFY("      status: maybe\n"),
		"t.yaml:10:15: `status` must be true or false, not `maybe`");
}

static void test_verify_prometheus_url(void **state)
{
	(void)state;
	INVALID(GLOBAL_VERIFY("  prometheus_url: prometheus:9090\n"),
		"t.yaml:5:19: `prometheus_url` must be an http:// or https:// URL, not "
		"`prometheus:9090`");
	INVALID(GLOBAL_VERIFY("  prometheus_url: http://prom:9090/?tenant=a\n"),
		"t.yaml:5:19: `prometheus_url` must be Prometheus's base URL, without a query or "
		"fragment: rollbot appends /api/v1/query");
}

/* A query of at most 2000 bytes. */
static void test_verify_query_length(void **state)
{
	char yaml[4096], q[2002];
	struct config *cfg;
	(void)state;

	memset(q, 'x', 2000);
	q[2000] = '\0';
	snprintf(yaml, sizeof yaml,
		 SERVICE_VERIFY("      prometheus_url: http://prom:9090\n"
				"      error_rate_query: %s\n"),
		 q);
	cfg = load_ok(yaml);
	assert_int_equal(strlen(cfg->services[0].verify.error_rate_query), 2000);
	config_free(cfg);

	q[2000] = 'x';
	q[2001] = '\0';
	snprintf(yaml, sizeof yaml,
		 SERVICE_VERIFY("      prometheus_url: http://prom:9090\n"
				"      error_rate_query: %s\n"),
		 q);
	INVALID(yaml, "t.yaml:11:25: `error_rate_query` is longer than 2000 bytes");
}

/* Newlines pass; other control characters, C1 ones included, do not. */
static void test_verify_query_text(void **state)
{
	(void)state;
	INVALID(SERVICE_VERIFY("      prometheus_url: http://prom:9090\n"
			       "      latency_query: \"\"\n"),
		"t.yaml:11:22: `latency_query` has no value");
	INVALID(SERVICE_VERIFY("      prometheus_url: http://prom:9090\n"
			       "      latency_query: \"histogram_quantile(0.99,\\tx)\"\n"),
		"t.yaml:11:22: `latency_query` contains a control character (0x09)");
	INVALID(SERVICE_VERIFY("      prometheus_url: http://prom:9090\n"
			       "      latency_query: \"sum(x)\\e[2J\"\n"),
		"t.yaml:11:22: `latency_query` contains a control character (0x1B)");
	INVALID(SERVICE_VERIFY("      prometheus_url: http://prom:9090\n"
			       "      latency_query: \"sum(x)\\x85\"\n"),
		"t.yaml:11:22: `latency_query` contains a control character (U+0085)");
	INVALID(SERVICE_VERIFY("      prometheus_url: http://prom:9090\n"
			       "      latency_query: \"sum(x)\\0\"\n"),
		"t.yaml:11:22: `latency_query` contains a NUL character");
	INVALID(SERVICE_VERIFY("      prometheus_url: http://prom:9090\n"
			       "      latency_query: [sum(x)]\n"),
		"t.yaml:11:22: `latency_query` must be a single value, not a list");
}

/* Text beyond ASCII is fine: a label value may hold it. */
static void test_verify_query_utf8(void **state)
{
	struct config *cfg = load_ok(
		SERVICE_VERIFY("      prometheus_url: http://prom:9090\n"
			       "      error_rate_query: sum(errors{team=\"paiements-é\"})\n"));
	(void)state;
	assert_string_equal(cfg->services[0].verify.error_rate_query,
			    "sum(errors{team=\"paiements-é\"})");
	config_free(cfg);
}

/* ---- no credentials in URLs ----------------------------------------- */

#define CREDENTIALS_ERR(pos, key)                                                         \
	"t.yaml:" pos ": `" key "` must not carry credentials (user:password@): rollbot " \
	"writes URLs to Slack and the audit log"

/* The message never repeats the URL, whose first 40 characters would
 * otherwise hold the password. */
static void assert_refused_without_secret(const char *yaml, const char *want)
{
	char err[CONFIG_ERR_LEN];
	struct config *cfg = NULL;

	assert_int_equal(config_parse(yaml, strlen(yaml), "t.yaml", &cfg, err, sizeof err),
			 CONFIG_EINVALID);
	assert_null(cfg);
	assert_string_equal(err, want);
	assert_null(strstr(err, "hunter2"));
	assert_null(strstr(err, "admin"));
}

static void test_health_url_with_credentials(void **state)
{
	(void)state;
	assert_refused_without_secret(
		DB_SERVICE("    health_url: https://admin:hunter2@payments.example.com/health\n"),
		CREDENTIALS_ERR("9:17", "health_url"));
	/* Not a URL rollbot could fetch either, but the password comes first. */
	assert_refused_without_secret(
		DB_SERVICE("    health_url: admin:hunter2@payments.example.com/health\n"),
		CREDENTIALS_ERR("9:17", "health_url"));
	assert_refused_without_secret(
		DB_SERVICE("    health_url: ftp://admin:hunter2@payments.example.com/ x\n"),
		CREDENTIALS_ERR("9:17", "health_url"));
}

static void test_version_url_with_credentials(void **state)
{
	(void)state;
	assert_refused_without_secret(
		DB_SERVICE("    version_url: http://admin:hunter2@10.0.0.7:8080/version\n"),
		CREDENTIALS_ERR("9:18", "version_url"));
	/* A token alone is credentials too. */
	assert_refused_without_secret(
		DB_SERVICE("    version_url: https://hunter2@payments.example.com/version\n"),
		CREDENTIALS_ERR("9:18", "version_url"));
}

static void test_prometheus_url_with_credentials(void **state)
{
	(void)state;
	assert_refused_without_secret(
		GLOBAL_VERIFY("  prometheus_url: https://admin:hunter2@prom.example.com\n"),
		CREDENTIALS_ERR("5:19", "prometheus_url"));
	assert_refused_without_secret(
		SERVICE_VERIFY("      prometheus_url: https://admin:hunter2@prom.example.com/\n"),
		CREDENTIALS_ERR("10:23", "prometheus_url"));
}

/* An '@' after the host is a path, not credentials. */
static void test_url_with_at_in_path_loads(void **state)
{
	struct config *cfg =
		load_ok(DB_SERVICE("    health_url: https://payments.example.com/@health\n"
				   "    verify:\n"
				   "      prometheus_url: http://prom:9090/tenants/@ops\n"));
	(void)state;
	assert_string_equal(cfg->services[0].health_url, "https://payments.example.com/@health");
	config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_example_loads),
		cmocka_unit_test(test_example_has_one_service_per_method),
		cmocka_unit_test(test_example_service_details),
		cmocka_unit_test(test_scenario_configs_load),
		cmocka_unit_test(test_defaults),
		cmocka_unit_test(test_all_top_level_settings),
		cmocka_unit_test(test_single_channel_without_list),
		cmocka_unit_test(test_service_lookup),
		cmocka_unit_test(test_param_lookup),
		cmocka_unit_test(test_incident_channel),
		cmocka_unit_test(test_service_approval_inherits_global),
		cmocka_unit_test(test_service_approval_replaces_approvers),
		cmocka_unit_test(test_bluegreen_defaults_are_filled_in),
		cmocka_unit_test(test_bluegreen_configured_colour_is_kept),
		cmocka_unit_test(test_config_free_accepts_null),
		cmocka_unit_test(test_duration_units),
		cmocka_unit_test(test_duration_bare_number_is_seconds),
		cmocka_unit_test(test_duration_rejects_malformed),
		cmocka_unit_test(test_duration_rejects_overflow),
		cmocka_unit_test(test_load_from_file),
		cmocka_unit_test(test_load_error_names_file_and_line),
		cmocka_unit_test(test_load_missing_file),
		cmocka_unit_test(test_not_yaml),
		cmocka_unit_test(test_empty_file),
		cmocka_unit_test(test_top_level_list),
		cmocka_unit_test(test_second_document),
		cmocka_unit_test(test_anchor_refused),
		cmocka_unit_test(test_alias_refused),
		cmocka_unit_test(test_nesting_too_deep),
		cmocka_unit_test(test_key_that_is_a_list),
		cmocka_unit_test(test_unknown_top_level_key),
		cmocka_unit_test(test_duplicate_top_level_key),
		cmocka_unit_test(test_missing_channels),
		cmocka_unit_test(test_empty_channels),
		cmocka_unit_test(test_channel_name_instead_of_id),
		cmocka_unit_test(test_channel_id_lower_case),
		cmocka_unit_test(test_channel_listed_twice),
		cmocka_unit_test(test_channels_as_mapping),
		cmocka_unit_test(test_default_severity_out_of_range),
		cmocka_unit_test(test_update_interval_not_a_duration),
		cmocka_unit_test(test_update_interval_zero),
		cmocka_unit_test(test_update_interval_wrong_type),
		cmocka_unit_test(test_http_listen_without_port),
		cmocka_unit_test(test_templates_dir_without_value),
		cmocka_unit_test(test_unknown_approval_key),
		cmocka_unit_test(test_missing_approval),
		cmocka_unit_test(test_approval_not_a_mapping),
		cmocka_unit_test(test_approval_without_approvers),
		cmocka_unit_test(test_approver_name_instead_of_id),
		cmocka_unit_test(test_approver_group_bad_id),
		cmocka_unit_test(test_required_zero),
		cmocka_unit_test(test_required_not_a_number),
		cmocka_unit_test(test_required_more_than_approvers),
		cmocka_unit_test(test_required_more_than_approvers_with_group),
		cmocka_unit_test(test_approver_listed_twice),
		cmocka_unit_test(test_allow_self_approval_not_boolean),
		cmocka_unit_test(test_approval_timeout_in_words),
		cmocka_unit_test(test_skip_for_bad_severity),
		cmocka_unit_test(test_escalation_settings),
		cmocka_unit_test(test_escalation_absent_by_default),
		cmocka_unit_test(test_escalate_after_not_shorter_than_timeout),
		cmocka_unit_test(test_service_timeout_below_inherited_escalation),
		cmocka_unit_test(test_fallback_bad_id),
		cmocka_unit_test(test_fallback_two_groups),
		cmocka_unit_test(test_service_approval_unknown_key),
		cmocka_unit_test(test_service_approval_required_more_than_inherited_approvers),
		cmocka_unit_test(test_missing_services),
		cmocka_unit_test(test_services_empty),
		cmocka_unit_test(test_service_not_a_mapping),
		cmocka_unit_test(test_duplicate_service),
		cmocka_unit_test(test_service_name_upper_case),
		cmocka_unit_test(test_service_name_with_shell_character),
		cmocka_unit_test(test_service_named_after_a_subcommand),
		cmocka_unit_test(test_service_name_containing_a_subcommand_loads),
		cmocka_unit_test(test_service_without_method),
		cmocka_unit_test(test_service_unknown_method),
		cmocka_unit_test(test_service_missing_required_key),
		cmocka_unit_test(test_service_key_not_valid_for_method),
		cmocka_unit_test(test_report_facts_load),
		cmocka_unit_test(test_display_name_too_long),
		cmocka_unit_test(test_service_duplicate_key),
		cmocka_unit_test(test_param_without_value),
		cmocka_unit_test(test_param_with_nul),
		cmocka_unit_test(test_param_with_newline),
		cmocka_unit_test(test_param_with_space),
		cmocka_unit_test(test_param_with_shell_character),
		cmocka_unit_test(test_param_with_command_substitution),
		cmocka_unit_test(test_param_with_leading_dash),
		cmocka_unit_test(test_param_with_lookalike_character),
		cmocka_unit_test(test_flag_url_not_http),
		cmocka_unit_test(test_flag_url_with_space),
		cmocka_unit_test(test_script_path_relative),
		cmocka_unit_test(test_script_path_with_dot_dot),
		cmocka_unit_test(test_script_args_with_shell_characters),
		cmocka_unit_test(test_recreate_manifest_relative),
		cmocka_unit_test(test_recreate_manifest_url),
		cmocka_unit_test(test_canary_patch_not_json),
		cmocka_unit_test(test_canary_patch_without_ingress),
		cmocka_unit_test(test_canary_manifest_and_patch),
		cmocka_unit_test(test_canary_multiline_patch),
		cmocka_unit_test(test_health_url_not_http),
		cmocka_unit_test(test_service_timeout_not_duration),
		cmocka_unit_test(test_affected_too_long),
		cmocka_unit_test(test_environment),
		cmocka_unit_test(test_display_timezone),
		cmocka_unit_test(test_long_value_is_clipped_in_message),
		cmocka_unit_test(test_param_value_is_not_quoted),
		cmocka_unit_test(test_flag_url_with_credentials),
		cmocka_unit_test(test_flag_url_with_query),
		cmocka_unit_test(test_flag_url_with_fragment),
		cmocka_unit_test(test_docker_image_with_tag),
		cmocka_unit_test(test_docker_image_with_digest),
		cmocka_unit_test(test_namespace_upper_case),
		cmocka_unit_test(test_deployment_with_underscore),
		cmocka_unit_test(test_ingress_not_a_dns_name),
		cmocka_unit_test(test_helm_release_too_long),
		cmocka_unit_test(test_bluegreen_colour_not_a_label_value),
		cmocka_unit_test(test_lambda_alias_with_dot_dot),
		cmocka_unit_test(test_canary_patch_braces_but_not_json),
		cmocka_unit_test(test_canary_patch_duplicate_keys),
		cmocka_unit_test(test_recreate_manifest_url_with_credentials),
		cmocka_unit_test(test_script_args_only_spaces),
		cmocka_unit_test(test_docker_without_image_loads),
		cmocka_unit_test(test_docker_image_with_registry_port_loads),
		cmocka_unit_test(test_recreate_manifest_url_with_query_loads),
		cmocka_unit_test(test_canary_without_routing_loads),
		cmocka_unit_test(test_kube_context_arn_loads),
		cmocka_unit_test(test_service_timeout_bounds),
		cmocka_unit_test(test_db_rollback_parsed),
		cmocka_unit_test(test_db_rollback_block_list),
		cmocka_unit_test(test_db_rollback_not_a_list),
		cmocka_unit_test(test_db_rollback_mapping),
		cmocka_unit_test(test_db_rollback_without_value),
		cmocka_unit_test(test_db_rollback_empty_list),
		cmocka_unit_test(test_db_rollback_relative_path),
		cmocka_unit_test(test_db_rollback_too_many_elements),
		cmocka_unit_test(test_db_rollback_32_elements_load),
		cmocka_unit_test(test_db_rollback_element_too_long),
		cmocka_unit_test(test_db_rollback_control_character),
		cmocka_unit_test(test_db_rollback_escape_character),
		cmocka_unit_test(test_db_rollback_nul),
		cmocka_unit_test(test_db_rollback_nested_list),
		cmocka_unit_test(test_db_rollback_empty_element),
		cmocka_unit_test(test_db_rollback_timeout_without_command),
		cmocka_unit_test(test_db_rollback_timeout_not_a_duration),
		cmocka_unit_test(test_verify_defaults),
		cmocka_unit_test(test_verify_global_inherited),
		cmocka_unit_test(test_verify_service_override),
		cmocka_unit_test(test_verify_query_with_own_prometheus_url),
		cmocka_unit_test(test_verify_query_without_prometheus_url),
		cmocka_unit_test(test_verify_error_rate_max_accepted),
		cmocka_unit_test(test_verify_error_rate_max_refused),
		cmocka_unit_test(test_verify_error_rate_max_bare_percentage),
		cmocka_unit_test(test_verify_durations),
		cmocka_unit_test(test_verify_scenario_config_loads),
		cmocka_unit_test(test_verify_window_zero_is_one_round),
		cmocka_unit_test(test_verify_unknown_keys),
		cmocka_unit_test(test_verify_service_keys_at_top_level),
		cmocka_unit_test(test_verify_not_a_mapping),
		cmocka_unit_test(test_verify_status_not_boolean),
		cmocka_unit_test(test_verify_prometheus_url),
		cmocka_unit_test(test_verify_query_length),
		cmocka_unit_test(test_verify_query_text),
		cmocka_unit_test(test_verify_query_utf8),
		cmocka_unit_test(test_health_url_with_credentials),
		cmocka_unit_test(test_version_url_with_credentials),
		cmocka_unit_test(test_prometheus_url_with_credentials),
		cmocka_unit_test(test_url_with_at_in_path_loads),
	};
	int failed = cmocka_run_group_tests_name("config", tests, NULL, NULL);

	return failed ? 1 : 0;
}
