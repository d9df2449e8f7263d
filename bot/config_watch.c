/* rollbot — the `watch:` and `alertmanager:` blocks of rollbot.yaml (MIT
 * licence, see LICENSE).
 *
 * A service's watch block says when the watcher (bot/watcher.c,
 * commands/watch.c) proposes a rollback: thresholds and how long each must
 * hold, defaults from runbook 001 (error rate above 5 % for 2 minutes, p99
 * above 2 s for 2 minutes, health failing for 2 minutes). It has no
 * queries of its own: it reads the figures verification reads (the
 * service's verify queries on its prometheus_url, and its health_url), so a
 * service is watched with the same definition of "healthy" it is verified
 * with. A watch block with nothing to read is refused at load rather than
 * watching nothing in silence.
 *
 * The alertmanager block only names the webhook's path on http_listen; its
 * bearer token is a secret and comes from the environment
 * (ROLLBOT_ALERTMANAGER_TOKEN), never from this file. Split out of
 * config_service.c (config_int.h).
 */
#include "config_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DEFAULT_WATCH_INTERVAL_MS (30 * 1000)
#define DEFAULT_WATCH_ERROR_RATE  0.05
#define DEFAULT_WATCH_FOR_MS	  (2 * 60 * 1000)
#define DEFAULT_WATCH_LATENCY_MS  2000
#define DEFAULT_WATCH_REARM_MS	  (5 * 60 * 1000)
#define DEFAULT_WATCH_EXPIRY_MS	  (30 * 60 * 1000)
#define MAX_PATH_LEN		  64

static const char *const watch_keys[] = { "interval",	 "error_rate_max", "error_for",
					  "latency_max", "latency_for",	   "health_for",
					  "rearm_after", "expire_after",   NULL };
static const char *const alertmanager_keys[] = { "path", NULL };

static void watch_defaults(struct config_watch *w)
{
	w->on = true;
	w->interval_ms = DEFAULT_WATCH_INTERVAL_MS;
	w->error_rate_max = DEFAULT_WATCH_ERROR_RATE;
	w->error_for_ms = DEFAULT_WATCH_FOR_MS;
	w->latency_max_ms = DEFAULT_WATCH_LATENCY_MS;
	w->latency_for_ms = DEFAULT_WATCH_FOR_MS;
	w->health_for_ms = DEFAULT_WATCH_FOR_MS;
	w->rearm_ms = DEFAULT_WATCH_REARM_MS;
	w->expiry_ms = DEFAULT_WATCH_EXPIRY_MS;
}

/* One key of a watch block whose keys have been checked. The hold
 * durations may be 0 (propose on the first bad reading); the rest not. */
static int watch_key(struct ctx *c, const char *k, const struct node *v, struct config_watch *w)
{
	if (!strcmp(k, "interval"))
		return config_duration(c, v, k, &w->interval_ms);
	if (!strcmp(k, "error_rate_max"))
		return config_error_rate_max(c, v, &w->error_rate_max);
	if (!strcmp(k, "error_for"))
		return config_duration_in(c, v, k, true, &w->error_for_ms);
	if (!strcmp(k, "latency_max"))
		return config_duration(c, v, k, &w->latency_max_ms);
	if (!strcmp(k, "latency_for"))
		return config_duration_in(c, v, k, true, &w->latency_for_ms);
	if (!strcmp(k, "health_for"))
		return config_duration_in(c, v, k, true, &w->health_for_ms);
	if (!strcmp(k, "rearm_after"))
		return config_duration(c, v, k, &w->rearm_ms);
	return config_duration(c, v, k, &w->expiry_ms);
}

/* `watch:` alone (empty) or `watch: {}` takes every default. */
int config_parse_watch(struct ctx *c, const struct node *key, const struct node *n,
		       struct config_service *svc)
{
	struct config_watch *w = &svc->watch;
	char where[128];
	int rc;

	watch_defaults(w);
	if (!config_is_null(n)) {
		snprintf(where, sizeof where, "in watch of service %s", svc->name);
		rc = config_need_map(c, n, "watch");
		if (rc == 0)
			rc = config_check_keys(c, n, watch_keys, where);
		if (rc < 0)
			return rc;
		for (size_t i = 0; i < n->n_kids; i += 2) {
			rc = watch_key(c, n->kids[i]->str, n->kids[i + 1], w);
			if (rc < 0)
				return rc;
		}
	}
	if (!svc->verify.error_rate_query && !svc->verify.latency_query && !svc->health_url)
		return config_fail(
			c, key,
			"service %s has a `watch` block but nothing to watch: give it a "
			"`health_url`, or an error_rate_query or latency_query in its verify block",
			svc->name);
	/* An episode must be able to end before the next can start. */
	if (w->expiry_ms < w->interval_ms)
		return config_fail(c, key,
				   "in watch of service %s, `expire_after` must be at least "
				   "`interval`: a proposal would lapse before the next evaluation",
				   svc->name);
	return 0;
}

/* The path: absolute, plain characters, not one of the paths httpd serves
 * already. */
static int am_path(struct ctx *c, const struct node *n, char **out)
{
	static const char *const taken[] = { "/health", "/ready", "/metrics", NULL };
	const char *s;
	char b[64];
	int rc = config_scalar(c, n, "path", false, &s);

	if (rc < 0)
		return rc;
	if (s[0] != '/' || strlen(s) < 2 || strlen(s) > MAX_PATH_LEN ||
	    strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/_.-") !=
		    strlen(s))
		return config_fail(c, n,
				   "`path` of alertmanager must be a path such as /alertmanager "
				   "(letters, digits, / _ . -, at most %d characters), not `%s`",
				   MAX_PATH_LEN, config_clip(s, b, sizeof b));
	if (rb_str_in_list(taken, s))
		return config_fail(c, n, "`path` of alertmanager cannot be %s: rollbot serves it", s);
	free(*out);
	*out = rb_strdup(s);
	return 0;
}

int config_parse_alertmanager(struct ctx *c, const struct node *n, struct config *cfg)
{
	const struct node *v;
	int rc;

	if (!cfg->http_listen)
		return config_fail(c, n,
				   "`alertmanager` needs `http_listen`: the webhook is served "
				   "there");
	if (config_is_null(n))
		return 0;
	rc = config_need_map(c, n, "alertmanager");
	if (rc == 0)
		rc = config_check_keys(c, n, alertmanager_keys, "in alertmanager");
	if (rc < 0)
		return rc;
	v = config_lookup(n, "path");
	return v ? am_path(c, v, &cfg->alertmanager_path) : 0;
}
