/* rollbot — the `services:` block of rollbot.yaml (MIT licence, see LICENSE).
 *
 * Method parameters have one source of truth: plan_build (commands/plan.c),
 * the last check before execve. This file only checks what plan_build
 * cannot see: that a parameter is a key of the method (with the list of
 * valid keys) and a single value without control characters. Then, once a
 * service block is read, it builds that service's plan as a rollback would
 * (check_plan) and reports plan_build's refusal, so check-config accepts
 * exactly what can run at 3 a.m. and the rules cannot drift apart.
 * bluegreen's optional selector_key and colour are filled in with their
 * defaults (version, blue), so every reader sees the values in force.
 *
 * The optional `db_rollback` (the argv of a down migration, for
 * --with-db) is not a method parameter: plan_build does not know it, so
 * it is checked here (parse_db_rollback).
 *
 * A service's approval and verify blocks are read by config_policy.c over
 * copies of the global ones. Split out of config.c (config_int.h).
 */
#include "config_int.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../commands/parse.h"

#define MAX_AFFECTED_LEN 200
#define MAX_ETA_LEN	 64
#define MAX_FACT_LEN	 100 /* display_name, environment, owner */
#define MAX_DB_ARGS	 32  /* elements of db_rollback */
#define MAX_DB_ARG_LEN	 256 /* bytes in one element */

#define DEFAULT_SVC_TIMEOUT_MS (5 * 60 * 1000)
#define DEFAULT_DB_TIMEOUT_MS  (10 * 60 * 1000)

/* Keys every service takes, whatever its method. */
static const char *const service_keys[] = { "method",	"timeout",     "affected",
					    "eta",	"health_url",  "version_url",
					    "approval", "db_rollback", "db_rollback_timeout",
					    "verify",	"display_name", "environment",
					    "owner",	"watch",	NULL };

/* ---- services ------------------------------------------------------- */

/* Reads `db_rollback`, the down migration --with-db runs (runbook 000
 * §3.2, 003 "Database Rollback"), into svc. It is an argv, run with execve
 * and never through a shell, so it is written as a YAML list, one element
 * per word: a single string would have to be split, and no split rule
 * would be the one the operator had in mind. argv[0] is an absolute path,
 * so what runs does not depend on PATH. Elements are free text otherwise
 * (a migration tool's options start with '-'), but bounded and without
 * control characters, which no command line needs and a log line must not
 * carry. Elements are added to svc as they are read, so config_free frees
 * a half-read list. */
static int parse_db_rollback(struct ctx *c, const struct node *n, struct config_service *svc)
{
	char label[48], b[64];

	if (n->kind != NODE_SEQ)
		return config_fail(
			c, n,
			"`db_rollback` must be a list, one element per word of the command, "
			"e.g. [\"/opt/app/bin/migrate\", \"down\"], not %s: rollbot runs it "
			"without a shell",
			config_is_null(n) ? "empty" : config_kind_name(n));
	if (n->n_kids == 0)
		return config_fail(
			c, n,
			"`db_rollback` is empty: give the down-migration command, starting "
			"with its absolute path");
	if (n->n_kids > MAX_DB_ARGS)
		return config_fail(c, n->kids[MAX_DB_ARGS],
				   "`db_rollback` has more than %d elements", MAX_DB_ARGS);
	svc->db_rollback = rb_calloc(n->n_kids + 1, sizeof *svc->db_rollback);
	for (size_t i = 0; i < n->n_kids; i++) {
		const struct node *v = n->kids[i];
		const char *s;
		int rc;

		snprintf(label, sizeof label, "db_rollback[%zu]", i);
		rc = config_scalar(c, v, label, false, &s);
		if (rc < 0)
			return rc;
		if (v->len > MAX_DB_ARG_LEN)
			return config_fail(c, v, "`%s` is longer than %d bytes", label,
					   MAX_DB_ARG_LEN);
		if (i == 0 && s[0] != '/')
			return config_fail(
				c, v,
				"`db_rollback[0]` must be the command's absolute path (starting "
				"with /), not `%s`: rollbot does not search PATH",
				config_clip(s, b, sizeof b));
		svc->db_rollback[svc->n_db_rollback++] = rb_strdup(s);
	}
	return 0;
}

/* Builds the plan of the service just read, as a rollback would, and
 * throws it away: plan_build (commands/plan.c) is the one rule for what a
 * method parameter may hold, and this makes check-config refuse what a
 * rollback would refuse at 3 a.m. The target is a representative one of
 * the method's kind ("1" for a revision, "v1" for a version, none for the
 * rest), except for a docker service without `image`, which can only use
 * Swarm's --rollback and so is built without one; the incident fields are
 * plain placeholders. The resolution step (a rollback without --to) is
 * built too when the method has one. On refusal the message is
 * "service NAME: " and plan_build's, at the service's name: plan_build
 * names the key (`url`, `image`, …) but never quotes the value. */
static int check_plan(struct ctx *c, const struct node *key, const struct config_service *svc)
{
	const struct plan_method_info *mi = plan_method_info(svc->method);
	struct plan_param *params = rb_calloc(svc->n_params, sizeof *params);
	struct plan_input in = {
		.service = svc->name,
		.method = svc->method,
		.params = params,
		.n_params = svc->n_params,
		.target = "",
		.timeout_ms = svc->timeout_ms,
		.incident_id = "INC-0000-0000",
		.severity = "P1",
		.reason = "check",
		.requested_by = "U000",
	};
	struct plan *p = NULL;
	struct plan_step *step = NULL;
	char perr[RB_ERR_LEN];
	int rc;

	for (size_t i = 0; i < svc->n_params; i++) {
		params[i].key = svc->params[i].key;
		params[i].value = svc->params[i].value;
	}
	if (mi->target == PLAN_TARGET_REVISION)
		in.target = "1";
	else if (mi->target == PLAN_TARGET_VERSION &&
		 !(svc->method == PLAN_DOCKER && !config_param(svc, "image")))
		in.target = "v1";

	perr[0] = '\0';
	rc = plan_build(&in, &p, perr, sizeof perr);
	plan_free(p);
	if (rc == 0) {
		rc = plan_resolve_step(&in, &step, perr, sizeof perr);
		plan_step_free(step);
	}
	free(params);
	if (rc < 0)
		return config_fail(c, key, "service %s: %s", svc->name,
				   perr[0] ? perr : plan_strerror(rc));
	return 0;
}

static bool service_name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 63 || !((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= '0' && s[0] <= '9')))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') ||
		      strchr("._-", s[i])))
			return false;
	return true;
}

static void param_add(struct config_service *svc, const char *key, const char *value)
{
	struct config_param *p = &svc->params[svc->n_params++];

	p->key = rb_strdup(key);
	p->value = rb_strdup(value);
}

/* The method's keys and the common ones, for "valid: …" messages. */
static const char *valid_keys(const struct plan_method_info *mi, char *buf, size_t size)
{
	size_t o = 0;
	const char *const *lists[] = { mi->required, mi->optional, service_keys };

	buf[0] = '\0';
	for (size_t l = 0; l < RB_ARRAY_LEN(lists); l++) {
		for (size_t i = 0; lists[l][i]; i++) {
			int n = snprintf(buf + o, size - o, "%s%s", o ? ", " : "", lists[l][i]);
			if (n < 0 || (size_t)n >= size - o)
				return buf;
			o += (size_t)n;
		}
	}
	return buf;
}

/* Reads one service block into svc (zeroed, owned by the config), then
 * builds its plan (check_plan): a missing or malformed method parameter is
 * plan_build's to report. `cfg` holds the global approval and verify
 * blocks, already read. */
static int parse_service(struct ctx *c, const struct node *key, const struct node *n,
			 const struct config *cfg, struct config_service *svc)
{
	const struct plan_method_info *mi;
	const struct node *v, *db_timeout = NULL, *watch = NULL;
	char b[64], list[512], where[128];
	const char *s;
	int rc;

	svc->timeout_ms = DEFAULT_SVC_TIMEOUT_MS;
	svc->db_rollback_timeout_ms = DEFAULT_DB_TIMEOUT_MS;
	svc->line = key->line;
	config_verify_copy(&svc->verify, &cfg->verify);
	if (n->kind != NODE_MAP)
		return config_fail(
			c, n,
			"service %s must be a mapping of settings (method, namespace, …), "
			"not %s",
			svc->name, config_is_null(n) ? "empty" : config_kind_name(n));
	snprintf(where, sizeof where, "in service %s", svc->name);
	rc = config_check_keys(c, n, NULL, where);
	if (rc < 0)
		return rc;

	v = config_lookup(n, "method");
	if (!v) {
		const char *names[PLAN_METHOD_COUNT + 1];
		for (size_t i = 0; i < PLAN_METHOD_COUNT; i++)
			names[i] = plan_method_info((enum plan_method)i)->name;
		names[PLAN_METHOD_COUNT] = NULL;
		return config_fail(c, key, "service %s has no `method` (one of: %s)", svc->name,
				   config_join(names, list, sizeof list));
	}
	rc = config_scalar(c, v, "method", false, &s);
	if (rc < 0)
		return rc;
	if (plan_method_from_name(s, &svc->method) != 0) {
		const char *names[PLAN_METHOD_COUNT + 1];
		for (size_t i = 0; i < PLAN_METHOD_COUNT; i++)
			names[i] = plan_method_info((enum plan_method)i)->name;
		names[PLAN_METHOD_COUNT] = NULL;
		return config_fail(c, v, "unknown method `%s` in service %s (methods: %s)",
				   config_clip(s, b, sizeof b), svc->name,
				   config_join(names, list, sizeof list));
	}
	mi = plan_method_info(svc->method);
	/* Room for every pair, plus bluegreen's two defaults. */
	svc->params = rb_calloc(n->n_kids / 2 + 2, sizeof *svc->params);

	for (size_t i = 0; i < n->n_kids; i += 2) {
		const char *k = n->kids[i]->str;
		v = n->kids[i + 1];

		if (!strcmp(k, "method")) {
			continue;
		} else if (!strcmp(k, "timeout")) {
			rc = config_duration(c, v, k, &svc->timeout_ms);
		} else if (!strcmp(k, "affected")) {
			rc = config_string_dup(c, v, k, MAX_AFFECTED_LEN, &svc->affected);
		} else if (!strcmp(k, "display_name")) {
			rc = config_string_dup(c, v, k, MAX_FACT_LEN, &svc->display_name);
		} else if (!strcmp(k, "environment")) {
			rc = config_string_dup(c, v, k, MAX_FACT_LEN, &svc->environment);
		} else if (!strcmp(k, "owner")) {
			rc = config_string_dup(c, v, k, MAX_FACT_LEN, &svc->owner);
		} else if (!strcmp(k, "eta")) {
			rc = config_string_dup(c, v, k, MAX_ETA_LEN, &svc->eta);
		} else if (!strcmp(k, "health_url") || !strcmp(k, "version_url")) {
			char **dst = k[0] == 'h' ? &svc->health_url : &svc->version_url;
			rc = config_scalar(c, v, k, false, &s);
			if (rc == 0)
				rc = config_check_url(c, v, k, s);
			if (rc == 0)
				rc = config_string_dup(c, v, k, 0, dst);
		} else if (!strcmp(k, "approval")) {
			char awhere[160];
			snprintf(awhere, sizeof awhere, "approval of service %s", svc->name);
			config_approval_copy(&svc->approval, &cfg->approval);
			svc->has_approval = true;
			rc = config_parse_approval(c, v, awhere, &svc->approval);
		} else if (!strcmp(k, "db_rollback")) {
			rc = parse_db_rollback(c, v, svc);
		} else if (!strcmp(k, "db_rollback_timeout")) {
			rc = config_duration(c, v, k, &svc->db_rollback_timeout_ms);
			db_timeout = n->kids[i];
		} else if (!strcmp(k, "verify")) {
			rc = config_parse_verify(c, v, svc, &svc->verify);
		} else if (!strcmp(k, "watch")) {
			watch = n->kids[i]; /* read last: it needs verify and health_url */
		} else if (rb_str_in_list(mi->required, k) || rb_str_in_list(mi->optional, k)) {
			/* Only the YAML shape here; the value is check_plan's. A
			 * JSON patch may span lines. */
			rc = config_scalar(c, v, k, !strcmp(k, "patch"), &s);
			if (rc == 0)
				param_add(svc, k, s);
		} else {
			return config_fail(
				c, n->kids[i],
				"key `%s` is not valid for method %s in service %s (valid: %s)",
				config_clip(k, b, sizeof b), mi->name, svc->name,
				valid_keys(mi, list, sizeof list));
		}
		if (rc < 0)
			return rc;
	}
	if (db_timeout && !svc->db_rollback)
		return config_fail(
			c, db_timeout,
			"`db_rollback_timeout` is set but service %s has no `db_rollback`",
			svc->name);
	if (watch) {
		rc = config_parse_watch(c, watch, config_lookup(n, "watch"), svc);
		if (rc < 0)
			return rc;
	}
	if (svc->method == PLAN_BLUEGREEN) {
		if (!config_param(svc, "selector_key"))
			param_add(svc, "selector_key", "version");
		if (!config_param(svc, "colour"))
			param_add(svc, "colour", "blue");
	}
	return check_plan(c, key, svc);
}

/* `/rollback status` is the subcommand, never the service: a service named
 * after a subcommand could not be rolled back. cmd_is_reserved_word is the
 * parser's own list, so the two cannot drift apart. Any case: the parser
 * matches subcommands in any case. */
static int check_reserved(struct ctx *c, const struct node *k)
{
	char word[16];
	size_t i;

	if (!cmd_is_reserved_word(k->str))
		return 0;
	for (i = 0; k->str[i] && i + 1 < sizeof word; i++)
		word[i] = (char)tolower((unsigned char)k->str[i]);
	word[i] = '\0';
	return config_fail(
		c, k,
		"`%s` cannot be a service name: it is a /rollback subcommand (`/rollback %s`). "
		"Rename the service.",
		word, word);
}

int config_parse_services(struct ctx *c, const struct node *n, struct config *cfg)
{
	char b[64];
	int rc;

	if (n->kind != NODE_MAP || n->n_kids == 0)
		return config_fail(c, n,
				   "`services` must map each service name to its settings; %s",
				   EXAMPLE_HINT);
	for (size_t i = 0; i < n->n_kids; i += 2) {
		const struct node *k = n->kids[i];

		if (k->kind != NODE_SCALAR || config_is_null(k))
			return config_fail(c, k, "service names must be plain names, not %s",
					   k->kind == NODE_SCALAR ? "empty" : config_kind_name(k));
		rc = check_reserved(c, k);
		if (rc < 0)
			return rc;
		if (!service_name_ok(k->str) || strlen(k->str) != k->len)
			return config_fail(
				c, k,
				"service name `%s` must be lower-case letters, digits, '.', '_' "
				"or '-', starting with a letter or digit, at most 63 characters",
				config_clip(k->str, b, sizeof b));
		for (size_t j = 0; j < i; j += 2)
			if (!strcmp(n->kids[j]->str, k->str))
				return config_fail(c, k,
						   "duplicate service `%s` (first at line %d)",
						   k->str, n->kids[j]->line);
	}
	cfg->services = rb_calloc(n->n_kids / 2, sizeof *cfg->services);
	for (size_t i = 0; i < n->n_kids; i += 2) {
		struct config_service *svc = &cfg->services[cfg->n_services++];

		svc->name = rb_strdup(n->kids[i]->str);
		rc = parse_service(c, n->kids[i], n->kids[i + 1], cfg, svc);
		if (rc < 0)
			return rc;
	}
	return 0;
}
