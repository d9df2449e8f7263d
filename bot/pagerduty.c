/* rollbot — PagerDuty Events API v2 client (MIT licence, see LICENSE).
 * See pagerduty.h. */
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "pagerduty.h"

struct pagerduty {
	struct api *api;
	char *url;
	char *routing_key; /* secret: never logged */
};

/* What a send remembers for its log line: never the key. */
struct pd_send {
	char *action;
	char *dedup_key;
	api_cb cb; /* the caller's, or NULL */
	void *arg;
};

struct pagerduty *pd_from_env(struct api *api)
{
	const char *key = getenv("PAGERDUTY_ROUTING_KEY");
	const char *url = getenv("PAGERDUTY_URL");
	struct pagerduty *pd;

	if (!key || !*key)
		return NULL;
	pd = rb_calloc(1, sizeof *pd);
	pd->api = api;
	pd->url = rb_strdup(url && *url ? url : PD_DEFAULT_URL);
	pd->routing_key = rb_strdup(key);
	return pd;
}

void pd_free(struct pagerduty *pd)
{
	if (!pd)
		return;
	free(pd->url);
	free(pd->routing_key);
	free(pd);
}

const char *pd_severity(int sev)
{
	return sev <= 1 ? "critical" : sev == 2 ? "error" : "warning";
}

json_t *pd_event_json(const char *routing_key, const char *action, const char *dedup_key,
		      const char *summary, const char *severity, const char *source)
{
	json_t *ev = json_pack("{s:s, s:s, s:s}", "routing_key", routing_key, "event_action",
			       action, "dedup_key", dedup_key);

	if (!strcmp(action, "trigger"))
		json_object_set_new(ev, "payload",
				    json_pack("{s:s, s:s, s:s}", "summary", summary, "source",
					      source, "severity", severity));
	return ev;
}

static void sent(void *arg, const struct api_result *res)
{
	struct pd_send *s = arg;

	if (res->ok)
		log_info("PagerDuty %s %s: accepted after %d attempt(s)", s->action, s->dedup_key,
			 res->attempts);
	else
		log_warn("PagerDuty %s %s failed after %d attempt(s): %s", s->action,
			 s->dedup_key, res->attempts, res->error ? res->error : "?");
	if (s->cb)
		s->cb(s->arg, res);
	free(s->action);
	free(s->dedup_key);
	free(s);
}

static void send_event(struct pagerduty *pd, json_t *ev, const char *action, const char *dedup_key,
		       api_cb cb, void *arg)
{
	char *body = json_dumps(ev, JSON_COMPACT);
	struct pd_send *s = rb_calloc(1, sizeof *s);

	json_decref(ev);
	s->action = rb_strdup(action);
	s->cb = cb;
	s->arg = arg;
	s->dedup_key = rb_strdup(dedup_key);
	if (api_post_url(pd->api, pd->url, "application/json", body, strlen(body), sent, s) < 0) {
		struct api_result r = { .ok = false, .error = "not queued" };

		log_warn("PagerDuty %s %s not sent: too many calls in flight", action, dedup_key);
		if (cb)
			cb(arg, &r);
		free(s->action);
		free(s->dedup_key);
		free(s);
	}
	free(body);
}

void pd_trigger(struct pagerduty *pd, const char *dedup_key, const char *summary,
		const char *severity, const char *source, api_cb cb, void *arg)
{
	if (!pd)
		return;
	send_event(pd,
		   pd_event_json(pd->routing_key, "trigger", dedup_key, summary, severity, source),
		   "trigger", dedup_key, cb, arg);
}

void pd_resolve(struct pagerduty *pd, const char *dedup_key, api_cb cb, void *arg)
{
	if (!pd)
		return;
	send_event(pd, pd_event_json(pd->routing_key, "resolve", dedup_key, NULL, NULL, NULL),
		   "resolve", dedup_key, cb, arg);
}
