/* rollbot — unit tests of bot/tools.c: the programs a rollback runs, and
 * whether they are found (a throwaway folder stands for PATH). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "bot/config.h"
#include "bot/tools.h"

static const char *yaml =
	"incidents_channels: [C05K8Q2V7XM]\n"
	"approval:\n  approvers: [U03ASM1TH7Q]\n"
	"services:\n"
	"  api:\n    method: kubectl\n    namespace: a\n    deployment: api\n"
	"    db_rollback: [\"/nonexistent/migrate\", \"down\"]\n"
	"  web:\n    method: bluegreen\n    namespace: w\n    service: web\n"
	"  acc:\n    method: helm\n    namespace: a\n    release: acc\n"
	"  flags:\n    method: flag\n    url: https://f.example/flags\n    flag: x\n"
	"  legacy:\n    method: docker\n    service: legacy\n"
	"  thumbs:\n    method: lambda\n    function: t\n    alias: live\n"
	"  ledger:\n    method: script\n    path: /nonexistent/ledger\n";

static struct config *load(void)
{
	struct config *cfg = NULL;
	char err[RB_ERR_LEN];

	if (config_parse(yaml, strlen(yaml), "t.yaml", &cfg, err, sizeof err))
		fail_msg("%s", err);
	return cfg;
}

static void needs_follow_the_method(void **state)
{
	struct config *cfg = load();
	const char *n[TOOLS_MAX];

	(void)state;
	assert_int_equal(tools_needed(config_service(cfg, "api"), false, n), 1);
	assert_string_equal(n[0], "kubectl");
	assert_int_equal(tools_needed(config_service(cfg, "api"), true, n), 2);
	assert_string_equal(n[1], "/nonexistent/migrate");
	assert_int_equal(tools_needed(config_service(cfg, "web"), true, n), 1);
	assert_string_equal(n[0], "kubectl");
	assert_int_equal(tools_needed(config_service(cfg, "acc"), false, n), 1);
	assert_string_equal(n[0], "helm");
	assert_int_equal(tools_needed(config_service(cfg, "flags"), true, n), 0);
	assert_int_equal(tools_needed(config_service(cfg, "legacy"), false, n), 1);
	assert_string_equal(n[0], "docker");
	assert_int_equal(tools_needed(config_service(cfg, "thumbs"), false, n), 1);
	assert_string_equal(n[0], "aws");
	assert_int_equal(tools_needed(config_service(cfg, "ledger"), false, n), 1);
	assert_string_equal(n[0], "/nonexistent/ledger");
	config_free(cfg);
}

/* A folder with an executable kubectl, a helm without the x bit and a
 * folder named docker. */
static char *make_bin(void)
{
	char tmpl[] = "/tmp/rollbot-tools.XXXXXX";
	char *dir = mkdtemp(tmpl);
	char file[256];
	FILE *f;

	assert_non_null(dir);
	snprintf(file, sizeof file, "%s/kubectl", dir);
	f = fopen(file, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(chmod(file, 0755), 0);
	snprintf(file, sizeof file, "%s/helm", dir);
	f = fopen(file, "w");
	assert_non_null(f);
	fclose(f);
	assert_int_equal(chmod(file, 0644), 0);
	snprintf(file, sizeof file, "%s/docker", dir);
	assert_int_equal(mkdir(file, 0755), 0);
	return strdup(dir);
}

static void rm_bin(char *dir)
{
	char file[256];

	snprintf(file, sizeof file, "%s/kubectl", dir);
	unlink(file);
	snprintf(file, sizeof file, "%s/helm", dir);
	unlink(file);
	snprintf(file, sizeof file, "%s/docker", dir);
	rmdir(file);
	rmdir(dir);
	free(dir);
}

static void found_on_path_only_when_executable_file(void **state)
{
	char *dir = make_bin();
	char path[512], abs[300];

	(void)state;
	snprintf(path, sizeof path, "/nonexistent:%s", dir);
	assert_true(tools_found("kubectl", path));
	assert_false(tools_found("kubectl", "/nonexistent"));
	assert_false(tools_found("helm", path));   /* no x bit: not even root may run it */
	assert_false(tools_found("docker", path)); /* a folder */
	assert_false(tools_found("aws", path));
	assert_false(tools_found("", path));
	snprintf(abs, sizeof abs, "%s/kubectl", dir);
	assert_true(tools_found(abs, "/nonexistent")); /* a '/': PATH is not searched */
	snprintf(abs, sizeof abs, "%s/docker", dir);
	assert_false(tools_found(abs, path));
	rm_bin(dir);
}

static void missing_and_why(void **state)
{
	struct config *cfg = load();
	char *dir = make_bin();
	char why[256];
	char *report;

	(void)state;
	assert_null(tools_missing(config_service(cfg, "api"), false, dir));
	assert_string_equal(tools_missing(config_service(cfg, "api"), true, dir),
			    "/nonexistent/migrate");
	assert_string_equal(tools_missing(config_service(cfg, "acc"), false, dir), "helm");
	assert_null(tools_missing(config_service(cfg, "flags"), true, dir));
	assert_string_equal(tools_why("aws", "/a:/b", why, sizeof why),
			    "aws is not on PATH (/a:/b)");
	assert_string_equal(tools_why("/x/y", "/a", why, sizeof why),
			    "/x/y is missing or not an executable file");
	assert_string_equal(tools_why_short("aws", why, sizeof why), "aws not found on PATH");
	assert_string_equal(tools_why_short("/x/y", why, sizeof why),
			    "/x/y missing or not executable");

	report = tools_report(cfg, "/nonexistent");
	assert_non_null(report);
	assert_string_equal(report,
			    "kubectl is not on PATH (/nonexistent): needed by api, web\n"
			    "/nonexistent/migrate is missing or not an executable file: needed by "
			    "api --with-db\n"
			    "helm is not on PATH (/nonexistent): needed by acc\n"
			    "docker is not on PATH (/nonexistent): needed by legacy\n"
			    "aws is not on PATH (/nonexistent): needed by thumbs\n"
			    "/nonexistent/ledger is missing or not an executable file: needed by "
			    "ledger\n");
	free(report);
	rm_bin(dir);
	config_free(cfg);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(needs_follow_the_method),
		cmocka_unit_test(found_on_path_only_when_executable_file),
		cmocka_unit_test(missing_and_why),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
