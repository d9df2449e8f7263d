/* rollbot — command line (MIT licence, see LICENSE).
 *
 *   rollbot run --config FILE [--log-level LEVEL]
 *   rollbot migrate
 *   rollbot check-config FILE
 *   rollbot report INC-… [--format md|json] | rollbot report --list
 *   rollbot --help | --version
 *
 * Reads the secrets from the environment, checks everything it can before
 * it starts (configuration, templates, tokens' shapes, the database and its
 * migrations) and stops with a message naming what is wrong. Only here does
 * rollbot exit non-zero on its own.
 */
#include <curl/curl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../commands/plan.h"
#include "../commands/report.h"
#include "app.h"
#include "config.h"
#include "db.h"
#include "log.h"
#include "store.h"
#include "tmpl.h"
#include "tools.h"

#define ROLLBOT_VERSION "0.1.0"

static const char usage[] =
	"rollbot " ROLLBOT_VERSION ": emergency release rollbacks from Slack\n"
	"\n"
	"Usage:\n"
	"  rollbot run --config FILE [--log-level error|warn|info|debug]\n"
	"      Connect to Slack over Socket Mode and serve /rollback. Applies pending\n"
	"      database migrations first. Stops cleanly on SIGTERM.\n"
	"  rollbot migrate\n"
	"      Apply pending database migrations and exit.\n"
	"  rollbot check-config FILE\n"
	"      Validate a configuration file (and its templates) and exit.\n"
	"  rollbot report INC-YYYY-NNNN [--format md|json] [--templates DIR] [--config FILE]\n"
	"      Print an incident's report, built from the audit log (Markdown by\n"
	"      default, or the data as JSON), for the post-mortem document. With\n"
	"      the bot's --config, local times follow its display_timezone.\n"
	"  rollbot report --list\n"
	"      List the latest incidents with their outcome and phase times.\n"
	"  rollbot --help | --version\n"
	"\n"
	"Environment:\n"
	"  SLACK_APP_TOKEN   app-level token (xapp-…, scope connections:write)\n"
	"  SLACK_BOT_TOKEN   bot token (xoxb-…)\n"
	"  DATABASE_URL      PostgreSQL connection string (postgresql://…)\n"
	"  SLACK_API_URL     Web API base (default https://slack.com/api/)\n"
	"  SLACK_CA_FILE     CA file to verify Slack's TLS against (tests; optional)\n"
	"  ROLLBOT_REPLICA   this replica's name, when several run (default host:pid)\n";

static int env_int(const char *name)
{
	const char *v = getenv(name);
	char *end;
	long n;

	if (!v || !*v)
		return 0;
	n = strtol(v, &end, 10);
	return (*end || n < 0 || n > 3600) ? 0 : (int)n;
}

/* Returns the variable's value, or NULL after printing what is wrong. */
static const char *need_env(const char *name, const char *prefix, const char *what)
{
	const char *v = getenv(name);

	if (!v || !*v) {
		fprintf(stderr, "rollbot: %s is not set: it must hold %s.\n", name, what);
		return NULL;
	}
	if (prefix && strncmp(v, prefix, strlen(prefix))) {
		fprintf(stderr, "rollbot: %s does not start with %s: it must hold %s.\n", name,
			prefix, what);
		return NULL;
	}
	return v;
}

static int migrations(const char *dburl, bool quiet)
{
	size_t n = 0;
	int applied = 0;
	char err[RB_ERR_LEN];

	if (db_migrate(dburl, &applied, &n, err, sizeof err)) {
		fprintf(stderr, "rollbot: database: %s\n", err);
		return 1;
	}
	if (!quiet || applied)
		log_info("database: %d migration(s) applied, %zu known", applied, n);
	return 0;
}

static int cmd_check_config(const char *path)
{
	struct config *cfg;
	struct tmpl_set *ts;
	char err[CONFIG_ERR_LEN];
	char *missing;

	if (config_load(path, &cfg, err, sizeof err)) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (tmpl_load(cfg->templates_dir, &ts, err, sizeof err)) {
		fprintf(stderr, "%s: %s\n", path, err);
		config_free(cfg);
		return 1;
	}
	printf("%s: ok: %zu service(s), %zu incidents channel(s)\n", path, cfg->n_services,
	       cfg->n_channels);
	for (size_t i = 0; i < cfg->n_services; i++)
		printf("  %-24s %s\n", cfg->services[i].name,
		       plan_method_info(cfg->services[i].method)->name);
	(void)config_warn_approvers(cfg, stdout);
	/* A warning and exit status 0: the file is right, and check-config
	 * also runs where the bot does not (CI, a laptop). */
	missing = tools_report(cfg, NULL);
	if (missing)
		printf("warning: these services cannot be rolled back from this machine:\n%s",
		       missing);
	free(missing);
	tmpl_free(ts);
	config_free(cfg);
	return 0;
}

static int cmd_run(int argc, char **argv)
{
	const char *config_path = NULL, *app_token, *bot_token, *dburl, *api_url;
	struct app_options opt = { 0 };
	struct config *cfg;
	char err[CONFIG_ERR_LEN];
	int rc;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--config") && i + 1 < argc) {
			config_path = argv[++i];
		} else if (!strcmp(argv[i], "--log-level") && i + 1 < argc) {
			enum log_level lvl;
			if (log_level_from_name(argv[++i], &lvl)) {
				fprintf(stderr, "rollbot: --log-level must be error, warn, info or "
						"debug\n");
				return 2;
			}
			log_set_level(lvl);
		} else {
			fprintf(stderr, "rollbot: unexpected argument %s\n\n%s", argv[i], usage);
			return 2;
		}
	}
	if (!config_path) {
		fprintf(stderr, "rollbot: run needs --config FILE\n\n%s", usage);
		return 2;
	}
	app_token = need_env("SLACK_APP_TOKEN", "xapp-",
			     "the app-level token (xapp-…) with the connections:write scope");
	bot_token = need_env("SLACK_BOT_TOKEN", "xoxb-", "the bot token (xoxb-…)");
	dburl = need_env("DATABASE_URL", NULL, "a PostgreSQL connection string");
	if (!app_token || !bot_token || !dburl)
		return 2;
	api_url = getenv("SLACK_API_URL");
	if (!api_url || !*api_url)
		api_url = "https://slack.com/api/";
	if (config_load(config_path, &cfg, err, sizeof err)) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	/* Once, before any thread: local times follow display_timezone, UTC
	 * ones never read TZ. */
	report_set_zone(cfg->display_timezone);
	if (migrations(dburl, true)) {
		config_free(cfg);
		return 1;
	}
	opt.cfg = cfg;
	opt.api_url = api_url;
	opt.app_token = app_token;
	opt.bot_token = bot_token;
	opt.database_url = dburl;
	opt.ca_file = getenv("SLACK_CA_FILE");
	opt.sm_ping_s = env_int("ROLLBOT_SM_PING_S");
	opt.sm_dead_s = env_int("ROLLBOT_SM_DEAD_S");
	opt.replica = getenv("ROLLBOT_REPLICA");
	opt.pacing_off = getenv("ROLLBOT_SLACK_PACING") &&
			 !strcmp(getenv("ROLLBOT_SLACK_PACING"), "off");
	rc = app_run(&opt);
	config_free(cfg);
	return rc;
}

/* "1 min 05 s" for phase p of a history row, or "-" when not reached. */
static void phase_cell(const struct db_history_row *row, enum db_phase p, char *out, size_t len)
{
	long long s;

	if (p == DB_PHASE_APPROVED && row->approval_skipped) {
		snprintf(out, len, "skipped");
		return;
	}
	if (!row->reached[p]) {
		snprintf(out, len, "-");
		return;
	}
	s = (long long)row->phase_s[p];
	if (s < 60)
		snprintf(out, len, "%llds", s);
	else if (s < 3600)
		snprintf(out, len, "%lldm%02llds", s / 60, s % 60);
	else
		snprintf(out, len, "%lldh%02lldm", s / 3600, s % 3600 / 60);
}

static void list_cb(void *arg, int err, const char *errmsg, const struct db_history_row *rows,
		    size_t n)
{
	(void)arg;
	(void)err;
	(void)errmsg;
	printf("%-15s %-16s %-20s %-10s %-3s %-10s %-9s %-9s %-9s\n", "INCIDENT", "STARTED (UTC)",
	       "SERVICE", "METHOD", "SEV", "STATE", "APPROVED", "ROLLED", "VERIFIED");
	for (size_t r = 0; r < n; r++) {
		char a[48], b[48], c[48];
		phase_cell(&rows[r], DB_PHASE_APPROVED, a, sizeof a);
		phase_cell(&rows[r], DB_PHASE_ROLLED_BACK, b, sizeof b);
		phase_cell(&rows[r], DB_PHASE_VERIFIED, c, sizeof c);
		printf("%-15s %-16s %-20s %-10s %-3s %-10s %-9s %-9s %-9s\n", rows[r].id,
		       rows[r].started, rows[r].service, rows[r].method, rows[r].severity,
		       rows[r].state, a, b, c);
	}
	if (!n)
		printf("(no incident yet)\n");
}

static int report_list(const char *dburl)
{
	char err[RB_ERR_LEN];

	if (db_history_now(dburl, "", 50, list_cb, NULL, err, sizeof err)) {
		fprintf(stderr, "rollbot: database: %s\n", err);
		return 1;
	}
	return 0;
}

struct report_read {
	const char *zone; /* display_timezone of --config, or NULL */
	json_t *data;     /* the report data (a new reference), or NULL */
};

static void report_rows_cb(void *arg, int err, const char *errmsg, const struct db_report *rep)
{
	struct report_read *rr = arg;
	struct report_incident inc;

	(void)err;
	(void)errmsg;
	if (!rep)
		return;
	inc = rep->inc;
	inc.zone = rr->zone;
	rr->data = report_data(&inc, rep->rows, rep->n_rows);
}

static int report_one(const char *dburl, const char *id, bool json, const char *templates,
		      const char *zone)
{
	struct tmpl_set *ts = NULL;
	struct report_read rr = { .zone = zone };
	char err[RB_ERR_LEN];
	json_t *data;
	char *out;
	int rc = 0;

	if (db_report_rows_now(dburl, id, report_rows_cb, &rr, err, sizeof err)) {
		fprintf(stderr, "rollbot: database: %s\n", err);
		return 1;
	}
	data = rr.data;
	if (!data) {
		fprintf(stderr, "rollbot: there is no incident %s (rollbot report --list lists "
				"them)\n", id);
		return 1;
	}
	if (json) {
		out = json_dumps(data, JSON_INDENT(2) | JSON_SORT_KEYS);
	} else if (tmpl_load(templates, &ts, err, sizeof err)) {
		fprintf(stderr, "rollbot: %s\n", err);
		json_decref(data);
		return 1;
	} else {
		out = tmpl_render(ts, "incident_report.md", data);
	}
	if (out) {
		fputs(out, stdout);
		if (json)
			fputc('\n', stdout);
	} else {
		fprintf(stderr, "rollbot: the report could not be rendered\n");
		rc = 1;
	}
	free(out);
	tmpl_free(ts);
	json_decref(data);
	return rc;
}

static int cmd_report(int argc, char **argv)
{
	const char *id = NULL, *format = "md", *templates = NULL, *config_path = NULL, *dburl;
	struct config *cfg = NULL;
	char err[RB_ERR_LEN];
	bool list = false;
	int rc;

	for (int i = 0; i < argc; i++) {
		if (!strcmp(argv[i], "--list"))
			list = true;
		else if (!strcmp(argv[i], "--format") && i + 1 < argc)
			format = argv[++i];
		else if (!strcmp(argv[i], "--templates") && i + 1 < argc)
			templates = argv[++i];
		else if (!strcmp(argv[i], "--config") && i + 1 < argc)
			config_path = argv[++i];
		else if (argv[i][0] != '-' && !id)
			id = argv[i];
		else {
			fprintf(stderr, "rollbot: unexpected argument %s\n\n%s", argv[i], usage);
			return 2;
		}
	}
	if (strcmp(format, "md") && strcmp(format, "json")) {
		fprintf(stderr, "rollbot: --format must be md or json, not %s\n", format);
		return 2;
	}
	if (list == (id != NULL)) {
		fprintf(stderr, "rollbot: report needs an incident ID (INC-2026-0001) or --list\n");
		return 2;
	}
	dburl = need_env("DATABASE_URL", NULL, "a PostgreSQL connection string");
	if (!dburl)
		return 2;
	/* The bot's configuration gives the report the operators' zone
	 * (display_timezone), as the uploaded one has it. */
	if (config_path && config_load(config_path, &cfg, err, sizeof err)) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	report_set_zone(cfg ? cfg->display_timezone : NULL);
	rc = list ? report_list(dburl) :
		    report_one(dburl, id, !strcmp(format, "json"), templates,
			       cfg ? cfg->display_timezone : NULL);
	config_free(cfg);
	return rc;
}

int main(int argc, char **argv)
{
	int rc;

	if (argc < 2 || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") ||
	    !strcmp(argv[1], "help")) {
		fputs(usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (!strcmp(argv[1], "--version")) {
		printf("rollbot %s\n", ROLLBOT_VERSION);
		return 0;
	}
	/* libcurl and OpenSSL may write to a socket the peer closed. */
	signal(SIGPIPE, SIG_IGN);
	if (curl_global_init(CURL_GLOBAL_DEFAULT)) {
		fprintf(stderr, "rollbot: libcurl failed to initialise\n");
		return 1;
	}
	if (!strcmp(argv[1], "run")) {
		rc = cmd_run(argc - 2, argv + 2);
	} else if (!strcmp(argv[1], "migrate")) {
		const char *dburl = need_env("DATABASE_URL", NULL, "a PostgreSQL connection string");
		rc = dburl ? migrations(dburl, false) : 2;
	} else if (!strcmp(argv[1], "report")) {
		rc = cmd_report(argc - 2, argv + 2);
	} else if (!strcmp(argv[1], "check-config")) {
		if (argc != 3) {
			fprintf(stderr, "rollbot: check-config needs exactly one FILE\n");
			rc = 2;
		} else {
			rc = cmd_check_config(argv[2]);
		}
	} else {
		fprintf(stderr, "rollbot: unknown command %s\n\n%s", argv[1], usage);
		rc = 2;
	}
	curl_global_cleanup();
	return rc;
}
