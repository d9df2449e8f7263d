/* rollbot — the Alertmanager webhook (MIT licence, see LICENSE).
 *
 * Alertmanager's webhook_config POSTs its payload (version "4": status,
 * alerts[] with labels, annotations, startsAt) to a path of its own on
 * http_listen (`alertmanager: { path }`, default /alertmanager), with
 * `Authorization: Bearer TOKEN`; the token comes from the environment
 * (ROLLBOT_ALERTMANAGER_TOKEN), is compared in constant time and never
 * logged. Without a token the path is not served (404). A firing alert
 * whose `service` (or else `job`) label names a configured service offers
 * the same proposal as the watcher (bot/proposal.c): the database keeps
 * one per episode and none while an incident holds the service. Resolved
 * alerts change nothing.
 */
#include "alertmanager.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "httpd.h"
#include "log.h"
#include "proposal.h"

#define DEFAULT_EXPIRY_MS (30 * 60 * 1000)

static const char *token;

/* Constant time in the length of what was sent and of the expected value:
 * nothing about the token leaks through how long a refusal takes. */
static bool bearer_ok(const char *auth)
{
	char want[600];
	size_t a, w, n;
	unsigned diff;

	snprintf(want, sizeof want, "Bearer %s", token);
	a = strlen(auth);
	w = strlen(want);
	n = a > w ? a : w;
	diff = (unsigned)(a ^ w);
	for (size_t i = 0; i < n; i++)
		diff |= (unsigned)(unsigned char)(i < a ? auth[i] : 0) ^
			(unsigned)(unsigned char)(i < w ? want[i] : 0);
	return diff == 0;
}

static int64_t parse_time_ms(const char *s)
{
	struct tm tm = { 0 };

	if (!s || !strptime(s, "%Y-%m-%dT%H:%M:%S", &tm))
		return (int64_t)time(NULL) * 1000;
	return (int64_t)timegm(&tm) * 1000;
}

/* One firing alert: a proposal when it names a service. Returns 1 if so. */
static int offer(struct app *app, json_t *alert)
{
	json_t *labels = json_object_get(alert, "labels");
	json_t *ann = json_object_get(alert, "annotations");
	const char *svc = jstr(labels, "service"), *name = jstr(labels, "alertname");
	const char *what = jstr(ann, "summary");
	const struct config_service *cs;
	char at[32], *summary, *figures;
	int64_t since;

	if (!svc[0])
		svc = jstr(labels, "job");
	cs = config_service(app->cfg, svc);
	if (!cs)
		return 0;
	since = parse_time_ms(jstr(alert, "startsAt"));
	proposal_clock(since, at, sizeof at);
	summary = rb_asprintf("alert %.80s firing since %s", name[0] ? name : "(unnamed)", at);
	figures = rb_asprintf("• alert %.80s%s%.200s", name[0] ? name : "(unnamed)",
			      what[0] ? ": " : "", what);
	for (char *p = figures; *p; p++)
		if (*p == '\n' || *p == '\r' || *p == '"')
			*p = ' ';
	struct proposal_offer o = {
		.service = cs->name,
		.source = "alertmanager",
		.trigger = "alert",
		.summary = summary,
		.figures = figures,
		.figures_json = labels,
		.severity = "P1",
		.detected_wall_ms = since,
		.expiry_ms = cs->watch.on ? cs->watch.expiry_ms : DEFAULT_EXPIRY_MS,
	};
	log_warn("alertmanager: %s for %s; proposing a rollback", summary, cs->name);
	proposal_offer(app, &o);
	free(summary);
	free(figures);
	return 1;
}

static int post_cb(void *arg, const char *path, const char *authorization, const char *body,
		   size_t len, struct rb_buf *out)
{
	struct app *app = arg;
	const char *want = app->cfg->alertmanager_path ? app->cfg->alertmanager_path :
							 CONFIG_ALERTMANAGER_PATH;
	json_t *doc, *alerts;
	int n = 0;

	if (!token || strcmp(path, want))
		return rb_buf_puts(out, "not found\n") ? 500 : 404;
	if (!bearer_ok(authorization)) {
		log_warn("alertmanager: a POST without the right bearer token was refused");
		return rb_buf_puts(out, "unauthorized\n") ? 500 : 401;
	}
	doc = json_loadb(body, len, 0, NULL);
	alerts = json_object_get(doc, "alerts");
	if (!json_is_object(doc) || !json_is_array(alerts)) {
		json_decref(doc);
		return rb_buf_puts(out, "expected Alertmanager's webhook payload (JSON with "
					"alerts[])\n") ?
			       500 :
			       400;
	}
	for (size_t i = 0; i < json_array_size(alerts); i++) {
		json_t *a = json_array_get(alerts, i);

		if (!strcmp(jstr(a, "status"), "firing"))
			n += offer(app, a);
	}
	json_decref(doc);
	return rb_buf_printf(out, "ok: %d proposal(s) offered\n", n) ? 500 : 200;
}

void alertmanager_attach(struct app *app)
{
	const char *t = getenv("ROLLBOT_ALERTMANAGER_TOKEN");

	if (!app->httpd)
		return;
	if (!t || !t[0]) {
		log_info("alertmanager: ROLLBOT_ALERTMANAGER_TOKEN is not set: the webhook is not "
			 "served");
		return;
	}
	token = t;
	httpd_set_post(app->httpd, post_cb, app);
	log_info("alertmanager: webhook on %s",
		 app->cfg->alertmanager_path ? app->cfg->alertmanager_path :
					       CONFIG_ALERTMANAGER_PATH);
}
