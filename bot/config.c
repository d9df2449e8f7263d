/* rollbot — the configuration file (MIT licence, see LICENSE).
 *
 * This file owns reading rollbot.yaml into struct config and checking it
 * completely before the bot starts: a mistake in the file should stop
 * `rollbot check-config` with the line that is wrong, not surface at 3 a.m.
 * when someone types /rollback. Every message reads "FILE:LINE:COL: …".
 *
 * How. config_yaml.c parses the file into a tree of nodes with their
 * positions; this file walks the top level, and config_policy.c (approval,
 * verify) and config_service.c (the services) the blocks under it, with
 * config_values.c's readers for single values. config_int.h says which
 * file does what.
 *
 * Memory: everything hangs off struct config and is freed by config_free,
 * which accepts a half-built config, so every error path is "free and
 * return". The node tree is always freed before returning.
 */
#include "config_int.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../commands/parse.h"

#define CONFIG_FILE_MAX (1u << 20) /* a config file larger than 1 MiB is a mistake */

/* The runbook's "healthy again" (000, Phase 4): error rate back under 1 %,
 * p99 under 2 s, checked every 15 s for up to 5 minutes. */
#define DEFAULT_VERIFY_WINDOW_MS   (5 * 60 * 1000)
#define DEFAULT_VERIFY_INTERVAL_MS (15 * 1000)
#define DEFAULT_ERROR_RATE_MAX	   0.01
#define DEFAULT_LATENCY_MAX_MS	   2000

static const char *const top_keys[] = { "incidents_channels",
					"default_severity",
					"update_interval",
					"templates_dir",
					"display_timezone",
					"http_listen",
					"alertmanager",
					"approval",
					"verify",
					"services",
					NULL };

/* ---- the top level -------------------------------------------------- */

/* Characters of http_listen's host part (besides IPv6 brackets): names and
 * addresses, and nothing a resolver or a log line would read specially. */
static bool safe_char(char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
	       (ch != '\0' && strchr("._-/:@+,", ch) != NULL);
}

static bool listen_ok(const char *s)
{
	const char *colon = strrchr(s, ':');
	char *end;
	long port;

	if (!colon || colon[1] < '0' || colon[1] > '9')
		return false;
	for (const char *p = s; p < colon; p++)
		if (!safe_char(*p) && *p != '[' && *p != ']')
			return false;
	errno = 0;
	port = strtol(colon + 1, &end, 10);
	return !*end && !errno && port >= 1 && port <= 65535;
}

static int parse_top(struct ctx *c, const struct node *root, struct config *cfg)
{
	const struct node *v;
	const char *s;
	char b[64];
	int rc;

	if (root->kind != NODE_MAP)
		return config_fail(c, root, "the top level must be a mapping of settings; %s",
				   EXAMPLE_HINT);
	rc = config_check_keys(c, root, top_keys, "at the top level");
	if (rc < 0)
		return rc;

	v = config_lookup(root, "incidents_channels");
	if (!v)
		return config_fail(c, root,
				   "missing `incidents_channels`: the channel IDs where /rollback "
				   "may be used");
	rc = config_id_list(c, v, "incidents_channels", ID_CHANNEL, &cfg->channels,
			    &cfg->n_channels);
	if (rc < 0)
		return rc;
	if (cfg->n_channels == 0)
		return config_fail(c, v,
				   "`incidents_channels` is empty: list at least one channel ID");

	v = config_lookup(root, "default_severity");
	if (v) {
		enum cmd_severity sev;
		rc = config_severity(c, v, "default_severity", &sev);
		if (rc < 0)
			return rc;
		cfg->default_severity = sev;
	}
	v = config_lookup(root, "update_interval");
	if (v) {
		rc = config_duration(c, v, "update_interval", &cfg->update_interval_ms);
		if (rc < 0)
			return rc;
	}
	v = config_lookup(root, "display_timezone");
	if (v) {
		rc = config_timezone_name(c, v, &cfg->display_timezone);
		if (rc < 0)
			return rc;
	}
	v = config_lookup(root, "templates_dir");
	if (v) {
		rc = config_string_dup(c, v, "templates_dir", 0, &cfg->templates_dir);
		if (rc < 0)
			return rc;
	}
	v = config_lookup(root, "http_listen");
	if (v) {
		rc = config_scalar(c, v, "http_listen", false, &s);
		if (rc < 0)
			return rc;
		if (!listen_ok(s))
			return config_fail(
				c, v,
				"`http_listen` must be HOST:PORT, e.g. 127.0.0.1:8080, not "
				"`%s`",
				config_clip(s, b, sizeof b));
		cfg->http_listen = rb_strdup(s);
	}
	v = config_lookup(root, "alertmanager");
	if (v) {
		rc = config_parse_alertmanager(c, v, cfg);
		if (rc < 0)
			return rc;
	}
	v = config_lookup(root, "approval");
	if (!v)
		return config_fail(c, root,
				   "missing `approval`: say who may approve a rollback "
				   "(approvers or approver_group)");
	rc = config_parse_approval(c, v, "approval", &cfg->approval);
	if (rc < 0)
		return rc;
	/* Before the services, whose verify blocks start from this one. */
	v = config_lookup(root, "verify");
	if (v) {
		rc = config_parse_verify(c, v, NULL, &cfg->verify);
		if (rc < 0)
			return rc;
	}

	v = config_lookup(root, "services");
	if (!v)
		return config_fail(c, root,
				   "missing `services`: name at least one service rollbot may roll "
				   "back");
	return config_parse_services(c, v, cfg);
}

/* Parses and checks a configuration held in memory; see config.h. `name`
 * is copied into cfg->path and used in messages. On error *out is NULL and
 * nothing is left allocated. */
int config_parse(const char *yaml, size_t len, const char *name, struct config **out, char *err,
		 size_t errlen)
{
	struct ctx c = { name ? name : "rollbot.yaml", err, errlen };
	struct node *root = NULL;
	struct config *cfg;
	int rc;

	*out = NULL;
	if (err && errlen)
		err[0] = '\0';
	if (len > CONFIG_FILE_MAX) {
		if (err && errlen)
			snprintf(err, errlen, "%s: larger than 1 MiB; is this the right file?",
				 c.name);
		return CONFIG_EINVALID;
	}
	rc = config_load_tree(&c, yaml, len, &root);
	if (rc < 0)
		return rc;
	if (!root || config_is_null(root)) {
		config_node_free(root);
		return config_fail(&c, NULL, "the file is empty; %s for a complete configuration",
				   EXAMPLE_HINT);
	}

	cfg = rb_calloc(1, sizeof *cfg);
	cfg->path = rb_strdup(c.name);
	cfg->default_severity = CMD_SEV_P1;
	cfg->update_interval_ms = 10 * 60 * 1000;
	cfg->approval.required = 1;
	cfg->approval.timeout_ms = 15 * 60 * 1000;
	cfg->verify.window_ms = DEFAULT_VERIFY_WINDOW_MS;
	cfg->verify.interval_ms = DEFAULT_VERIFY_INTERVAL_MS;
	cfg->verify.error_rate_max = DEFAULT_ERROR_RATE_MAX;
	cfg->verify.latency_max_ms = DEFAULT_LATENCY_MAX_MS;
	cfg->verify.status = true;
	rc = parse_top(&c, root, cfg);
	config_node_free(root);
	if (rc < 0) {
		config_free(cfg);
		return rc;
	}
	*out = cfg;
	return 0;
}

/* Reads the file at `path` (at most 1 MiB) and parses it with
 * config_parse. Returns CONFIG_EIO with "PATH: cannot read: reason" when
 * the file cannot be read. */
int config_load(const char *path, struct config **out, char *err, size_t errlen)
{
	FILE *f;
	char *buf;
	size_t len;
	int rc, saved;

	*out = NULL;
	f = fopen(path, "rb");
	if (!f) {
		if (err && errlen)
			snprintf(err, errlen, "%s: cannot read: %s", path, strerror(errno));
		return CONFIG_EIO;
	}
	buf = rb_malloc(CONFIG_FILE_MAX + 1);
	len = fread(buf, 1, CONFIG_FILE_MAX + 1, f);
	saved = ferror(f) ? errno : 0;
	fclose(f);
	if (saved) {
		free(buf);
		if (err && errlen)
			snprintf(err, errlen, "%s: cannot read: %s", path, strerror(saved));
		return CONFIG_EIO;
	}
	rc = config_parse(buf, len, path, out, err, errlen);
	free(buf);
	return rc;
}

/* Frees a configuration and everything it holds; NULL is fine. */
void config_free(struct config *cfg)
{
	if (!cfg)
		return;
	for (size_t i = 0; i < cfg->n_services; i++) {
		struct config_service *svc = &cfg->services[i];
		for (size_t j = 0; j < svc->n_params; j++) {
			free(svc->params[j].key);
			free(svc->params[j].value);
		}
		free(svc->params);
		free(svc->name);
		free(svc->affected);
		free(svc->display_name);
		free(svc->environment);
		free(svc->owner);
		free(svc->eta);
		free(svc->health_url);
		free(svc->version_url);
		for (size_t j = 0; j < svc->n_db_rollback; j++)
			free(svc->db_rollback[j]);
		free(svc->db_rollback);
		config_approval_clear(&svc->approval);
		config_verify_clear(&svc->verify);
	}
	free(cfg->services);
	for (size_t i = 0; i < cfg->n_channels; i++)
		free(cfg->channels[i]);
	free(cfg->channels);
	free(cfg->templates_dir);
	free(cfg->display_timezone);
	free(cfg->http_listen);
	free(cfg->alertmanager_path);
	config_approval_clear(&cfg->approval);
	config_verify_clear(&cfg->verify);
	free(cfg->path);
	free(cfg);
}

/* Borrowed pointer to the service called `name` (exact match), or NULL. */
const struct config_service *config_service(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->n_services; i++)
		if (!strcmp(cfg->services[i].name, name))
			return &cfg->services[i];
	return NULL;
}

/* Borrowed value of method parameter `key`, or NULL. bluegreen's
 * selector_key and colour always have a value (their defaults). */
const char *config_param(const struct config_service *svc, const char *key)
{
	for (size_t i = 0; i < svc->n_params; i++)
		if (!strcmp(svc->params[i].key, key))
			return svc->params[i].value;
	return NULL;
}

/* The service's own approval policy when it has one, else the global one.
 * A service's block starts from the global policy, so it is complete. */
const struct config_approval *config_approval_for(const struct config *cfg,
						  const struct config_service *svc)
{
	return svc && svc->has_approval ? &svc->approval : &cfg->approval;
}

bool config_is_incident_channel(const struct config *cfg, const char *channel)
{
	if (!channel)
		return false;
	for (size_t i = 0; i < cfg->n_channels; i++)
		if (!strcmp(cfg->channels[i], channel))
			return true;
	return false;
}
