/* rollbot — the daemon's loop: start, health, stop (MIT licence, see LICENSE).
 *
 * app_run owns the one libuv loop and everything on it. It loads the
 * templates and makes the adapters (api.c, store.c, sm.c, httpd.c); at
 * start it checks the bot token and the incidents channels (auth.test,
 * conversations.info), and the answer to auth.test starts the approver
 * groups and the resume. It serves /health, /ready and /metrics, and stops
 * on SIGTERM or SIGINT: Socket Mode first, then a drain of the work in
 * flight (DRAIN_MAX_MS at most, but never half a rollback), then the
 * handles; the loop must close with none left.
 */
#include "shell.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../commands/dedupe.h"
#include "../commands/plan.h"
#include "api.h"
#include "httpd.h"
#include "names.h"
#include "log.h"
#include "pagerduty.h"
#include "sm.h"
#include "store.h"
#include "tmpl.h"
#include "tools.h"
#include "watcher.h"
#include "chanpost.h"
#include "alertmanager.h"

#define DEDUPE_TTL_MS (10 * 60 * 1000)
#define DEDUPE_MAX 100000
#define DRAIN_MAX_MS 10000

static void begin_stop(struct app *app, int exit_code);

static void sm_fatal_cb(void *arg, const char *error)
{
	struct app *app = arg;

	log_error("stopping: Slack refused SLACK_APP_TOKEN (%s)", error);
	begin_stop(app, 1);
}

/* ---- start-up checks ---- */

#define AUTH_BACKOFF_MIN_MS 1000
#define AUTH_BACKOFF_MAX_MS 30000

static void auth_done_cb(void *arg, const struct api_result *res);

static void ask_auth(struct app *app)
{
	if (api_call(app->api, "auth.test", json_object(), auth_done_cb, app)) {
		log_warn("cannot queue auth.test; asking again in %d ms", AUTH_BACKOFF_MIN_MS);
		app->auth_retry_ms = now_ms(app) + AUTH_BACKOFF_MIN_MS;
		return;
	}
	app->auth_in_flight = true;
}

void loop_retry_auth(struct app *app)
{
	if (app->auth_ok || app->auth_in_flight || app->stopping || !app->auth_retry_ms ||
	    now_ms(app) < app->auth_retry_ms)
		return;
	ask_auth(app);
}

void loop_open_socket(struct app *app)
{
	if (app->sm_started || app->stopping)
		return;
	app->sm_started = true;
	sm_start(app->sm);
	log_info("connecting to Slack: the incidents in progress are loaded");
}

static void auth_done_cb(void *arg, const struct api_result *res)
{
	struct app *app = arg;

	app->auth_in_flight = false;

	if (!res->ok) {
		if (res->error && (!strcmp(res->error, "invalid_auth") ||
				   !strcmp(res->error, "not_authed") ||
				   !strcmp(res->error, "account_inactive") ||
				   !strcmp(res->error, "token_revoked") ||
				   !strcmp(res->error, "not_allowed_token_type"))) {
			log_error("Slack refused SLACK_BOT_TOKEN: %s. It must be the bot token "
				  "(xoxb-…) of the installed app.",
				  res->error);
			begin_stop(app, 1);
		} else {
			/* Until Slack says who the bot is, nothing can start: its own
			 * reactions would count, and Socket Mode stays closed. */
			app->auth_backoff_ms = app->auth_backoff_ms ? app->auth_backoff_ms * 2
								    : AUTH_BACKOFF_MIN_MS;
			if (app->auth_backoff_ms > AUTH_BACKOFF_MAX_MS)
				app->auth_backoff_ms = AUTH_BACKOFF_MAX_MS;
			app->auth_retry_ms = now_ms(app) + app->auth_backoff_ms;
			log_warn("auth.test failed: %s; asking again in %lld ms",
				 res->error ? res->error : "?", (long long)app->auth_backoff_ms);
		}
		return;
	}
	app->auth_ok = true;
	(void)rb_strlcpy(app->bot_user_id, jstr(res->body, "user_id"), sizeof app->bot_user_id);
	log_info("authenticated as %s (%s) in %s", jstr(res->body, "user"), app->bot_user_id,
		 jstr(res->body, "team"));
	/* Both need to know who the bot is: its own reactions never count. */
	if (!app->resumed && app->n_groups) {
		app->groups_pending = app->n_groups;
		approval_refresh_groups(app);
	} else {
		approval_refresh_groups(app);
		resume_start(app);
	}
}

static void channel_done_cb(void *arg, const struct api_result *res)
{
	(void)arg;
	if (!res->ok) {
		log_warn("incidents channel check failed: %s", res->error ? res->error : "?");
		return;
	}
	json_t *ch = json_object_get(res->body, "channel");
	if (!json_is_true(json_object_get(ch, "is_member")))
		log_warn("rollbot is not a member of #%s (%s): invite it with /invite @rollbot, or "
			 "announcements there will fail",
			 jstr(ch, "name"), jstr(ch, "id"));
}

/* ---- /health, /ready, /metrics ---- */

/* A line per service whose rollback cannot run here, looked for anew on
 * each request (stat calls), so a program installed since start counts. */
static int ready_tools(const struct app *app, struct rb_buf *body)
{
	char why[RB_ERR_LEN];
	int rc = 0;

	for (size_t i = 0; i < app->cfg->n_services && !rc; i++) {
		const struct config_service *svc = &app->cfg->services[i];
		const char *prog = tools_missing(svc, false, NULL);
		bool db = false;

		if (!prog) {
			prog = tools_missing(svc, true, NULL);
			db = true;
		}
		if (prog)
			rc = rb_buf_printf(body, "cannot roll back%s: %s (%s)\n",
					   db ? " --with-db" : "", svc->name,
					   tools_why_short(prog, why, sizeof why));
	}
	return rc;
}

/* The ack-time histogram in Prometheus' cumulative form. */
static int ack_histogram(struct rb_buf *body, const struct sm_stats *st)
{
	unsigned long cum = 0;
	int rc = rb_buf_puts(body, "# HELP rollbot_ack_seconds Time from an envelope read to its "
				   "ack written, inside the bot.\n"
				   "# TYPE rollbot_ack_seconds histogram\n");

	for (int b = 0; b < SM_ACK_BUCKETS && !rc; b++) {
		cum += st->ack_us_bucket[b];
		if (b < SM_ACK_BUCKETS - 1)
			rc = rb_buf_printf(body, "rollbot_ack_seconds_bucket{le=\"%g\"} %lu\n",
					   sm_ack_bucket_us[b] / 1e6, cum);
		else
			rc = rb_buf_printf(body, "rollbot_ack_seconds_bucket{le=\"+Inf\"} %lu\n", cum);
	}
	if (!rc)
		rc = rb_buf_printf(body, "rollbot_ack_seconds_sum %.6f\nrollbot_ack_seconds_count %lu\n",
				   st->ack_us_sum / 1e6, cum);
	return rc;
}

static int http_cb(void *arg, const char *path, struct rb_buf *body)
{
	struct app *app = arg;
	bool slack = app->sm && sm_connected(app->sm);
	bool db = app->store && store_connected(app->store);
	struct sm_stats st = { 0 };
	int rc;

	if (!strcmp(path, "/health"))
		return rb_buf_puts(body, "ok\n") ? 500 : 200;
	if (!strcmp(path, "/ready")) {
		const char *starting = app->sm_started	   ? ""
				       : !app->auth_ok	   ? "starting: waiting for auth.test\n"
				       : app->groups_pending ? "starting: reading the approver groups\n"
							     : "starting: loading the incidents in "
							       "progress\n";

		uint64_t left = 0;
		int held = 0;
		const char *paused = app->api ? api_paused(app->api, &left, &held) : NULL;

		rc = rb_buf_printf(body, "slack %s\ndatabase %s\n%s%s",
				   slack ? "connected" : "NOT connected",
				   db ? "connected" : "NOT connected", starting,
				   app->stopping ? "stopping\n" : "");
		if (app->sm_started && approval_groups_unknown(app) && !rc)
			rc = rb_buf_printf(body,
					   "waiting: %zu approver group(s) not read yet "
					   "(retrying); their members cannot approve until then\n",
					   approval_groups_unknown(app));
		if (app->api && api_refused(app->api, NULL) && !rc) {
			const char *why = "?";
			int n = api_refused(app->api, &why);

			rc = rb_buf_printf(body,
					   "waiting: %d post(s) Slack keeps refusing (%s); retried "
					   "until it answers, in order\n",
					   n, why);
		}
		/* Still ready: the bot serves its other services, and a pod
		 * taken out of service would not install the program. */
		if (!rc)
			rc = ready_tools(app, body);
		/* Still ready: what waits is sent once Slack's pause is over. */
		if (paused && !rc)
			rc = rb_buf_printf(body,
					   "waiting: Slack rate-limited %s, %.1f s more; %d "
					   "call(s) queued\n",
					   paused, (double)left / 1000.0, held);
		return (slack && db && !app->stopping && !rc) ? 200 : 503;
	}
	if (!strcmp(path, "/metrics")) {
		if (app->sm)
			sm_get_stats(app->sm, &st);
		rc = rb_buf_printf(
			body,
			"# HELP rollbot_slack_connected 1 while a Socket Mode socket is live.\n"
			"# TYPE rollbot_slack_connected gauge\nrollbot_slack_connected %d\n"
			"# HELP rollbot_database_connected 1 while PostgreSQL is connected.\n"
			"# TYPE rollbot_database_connected gauge\nrollbot_database_connected %d\n"
			"# HELP rollbot_envelopes_total Socket Mode envelopes received.\n"
			"# TYPE rollbot_envelopes_total counter\nrollbot_envelopes_total %lu\n"
			"# HELP rollbot_acks_total Socket Mode acks written.\n"
			"# TYPE rollbot_acks_total counter\nrollbot_acks_total %lu\n"
			"# HELP rollbot_slack_connects_total Sockets that said hello.\n"
			"# TYPE rollbot_slack_connects_total counter\nrollbot_slack_connects_total %lu\n"
			"# HELP rollbot_slack_disconnects_total Sockets closed, for any reason.\n"
			"# TYPE rollbot_slack_disconnects_total counter\n"
			"rollbot_slack_disconnects_total %lu\n"
			"# HELP rollbot_incidents_declared_total Incidents declared since start.\n"
			"# TYPE rollbot_incidents_declared_total counter\n"
			"rollbot_incidents_declared_total %lu\n"
			"# HELP rollbot_web_api_pending Web API calls in flight or waiting to retry.\n"
			"# TYPE rollbot_web_api_pending gauge\nrollbot_web_api_pending %d\n"
			"# HELP rollbot_database_pending Database commands queued or in flight.\n"
			"# TYPE rollbot_database_pending gauge\nrollbot_database_pending %d\n"
			"# HELP rollbot_db_round_trips_total Round trips to PostgreSQL: work sent, "
			"then its answer awaited.\n"
			"# TYPE rollbot_db_round_trips_total counter\n"
			"rollbot_db_round_trips_total %lu\n",
			slack, db, st.envelopes, st.acks, st.connects, st.disconnects, app->declared,
			app->api ? api_pending(app->api) : 0,
			app->store ? store_pending(app->store) : 0, store_round_trips(app->store));
		if (!rc)
			rc = ack_histogram(body, &st);
		return rc ? 500 : 200;
	}
	return rb_buf_puts(body, "not found: try /health, /ready or /metrics\n") ? 500 : 404;
}

/* ---- shutdown ---- */

static void close_cb(uv_handle_t *h)
{
	(void)h;
}

static void finish_stop(struct app *app)
{
	watcher_stop(app);
	chanpost_stop(app);
	httpd_free(app->httpd);
	app->httpd = NULL;
	api_free(app->api);
	app->api = NULL;
	store_free(app->store);
	app->store = NULL;
	uv_close((uv_handle_t *)&app->drain_timer, close_cb);
	uv_close((uv_handle_t *)&app->approval_timer, close_cb);
	uv_close((uv_handle_t *)&app->sigterm, close_cb);
	uv_close((uv_handle_t *)&app->sigint, close_cb);
}

/* Waits for posts and audit rows in flight, so a SIGTERM loses nothing,
 * for at most DRAIN_MAX_MS. */
static void drain_cb(uv_timer_t *t)
{
	struct app *app = t->data;
	int api_n = api_pending(app->api), store_n = store_pending(app->store);

	bool busy = false, rolling = false;

	if (!app->sm_done)
		return;
	/* Posts, saves and running commands finish; incidents that only wait
	 * (for a reaction or the timer) do not keep the bot up. A rollback
	 * that is running is never cut short: its steps have their own
	 * timeouts, and half a rollback is worse than a late exit. */
	for (struct app_inc *ai = app->incidents; ai; ai = ai->next) {
		busy = busy || ai->pending > 0;
		rolling = rolling || ai->inc.state == INC_ROLLING_BACK;
	}
	if (rolling) {
		if (!app->said_rolling)
			log_warn("stopping: waiting for the rollback that is running to finish");
		app->said_rolling = true;
		return;
	}
	if ((api_n || store_n || busy) && now_ms(app) - app->drain_started_ms < DRAIN_MAX_MS)
		return;
	/* Nothing in flight: the incidents are handed over at once, and the
	 * next turns wait for that to be written (owner.c). */
	if (!app->released && store_connected(app->store) &&
	    now_ms(app) - app->drain_started_ms < DRAIN_MAX_MS) {
		owner_release(app);
		return;
	}
	if (api_n || store_n)
		log_warn("stopping with %d Web API call(s) and %d database command(s) unfinished",
			 api_n, store_n);
	uv_timer_stop(t);
	finish_stop(app);
}

static void sm_stopped_cb(void *arg)
{
	struct app *app = arg;

	app->sm_done = true;
	log_info("socket mode closed; finishing work in flight");
}

static void begin_stop(struct app *app, int exit_code)
{
	if (app->stopping)
		return;
	app->stopping = true;
	app->exit_code = exit_code;
	app->drain_started_ms = now_ms(app);
	uv_signal_stop(&app->sigterm);
	uv_signal_stop(&app->sigint);
	log_info("stopping (exit code %d): no new work", exit_code);
	if (app->sm)
		sm_stop(app->sm, sm_stopped_cb, app);
	else
		app->sm_done = true;
	uv_timer_start(&app->drain_timer, drain_cb, 20, 20);
}

static void signal_cb(uv_signal_t *s, int signum)
{
	log_info("received %s", signum == SIGTERM ? "SIGTERM" : "SIGINT");
	begin_stop(s->data, 0);
}

/* A warning, not an error: the bot serves the other services, /ready
 * names the ones it cannot roll back, and a /rollback of one is refused
 * before anything is announced. */
static void warn_tools(const struct app *app)
{
	char *report = tools_report(app->cfg, NULL);

	for (char *l = report; l && *l;) {
		size_t n = strcspn(l, "\n");
		log_warn("cannot roll back: %.*s", (int)n, l);
		l += n + (l[n] == '\n');
	}
	free(report);
}

/* Runs the bot until it stops (see app.h); returns the exit code. */
int app_run(const struct app_options *opt)
{
	struct app *app = rb_calloc(1, sizeof *app);
	struct api_options ao = { 0 };
	struct sm_options so = { 0 };
	struct sm_callbacks cbs = { .ack_payload = ingress_ack_payload_cb,
				    .dispatch = ingress_dispatch_cb,
				    .verdict_free = ingress_verdict_free_cb,
				    .fatal = sm_fatal_cb };
	char err[RB_ERR_LEN];
	int rc;

	app->opt = opt;
	app->cfg = opt->cfg;
	if (tmpl_load(app->cfg->templates_dir, &app->tmpl, err, sizeof err)) {
		log_error("%s", err);
		free(app);
		return 1;
	}
	app->services = rb_calloc(app->cfg->n_services, sizeof *app->services);
	for (size_t i = 0; i < app->cfg->n_services; i++) {
		app->services[i].name = app->cfg->services[i].name;
		app->services[i].method = app->cfg->services[i].method;
		app->services[i].db_rollback = app->cfg->services[i].db_rollback != NULL;
		app->services[i].target = plan_method_info(app->cfg->services[i].method)->target;
	}
	app->dd = dd_new(DEDUPE_TTL_MS, DEDUPE_MAX);
	approval_groups_init(app);
	uv_loop_init(&app->loop);
	srand((unsigned)time(NULL) ^ (unsigned)getpid());

	ao.base_url = opt->api_url;
	ao.bot_token = opt->bot_token;
	ao.app_token = opt->app_token;
	ao.ca_file = opt->ca_file;
	ao.pace.off = opt->pacing_off;
	app->api = api_new(&app->loop, &ao);
	app->pd = pd_from_env(app->api); /* the routing key is never logged */
	if (app->pd)
		log_info("PagerDuty: escalated approval requests and proposals are paged");
	app->store = store_new(&app->loop, opt->database_url);
	owner_init(app);
	watcher_start(app);
	chanpost_start(app);
	so.ca_file = opt->ca_file;
	so.ping_s = opt->sm_ping_s;
	so.dead_s = opt->sm_dead_s;
	app->sm = sm_new(&app->loop, app->api, &so, &cbs, app);

	uv_timer_init(&app->loop, &app->drain_timer);
	app->drain_timer.data = app;
	uv_timer_init(&app->loop, &app->approval_timer);
	app->approval_timer.data = app;
	uv_timer_start(&app->approval_timer, approval_sweep_cb, 1000, 1000);
	uv_signal_init(&app->loop, &app->sigterm);
	app->sigterm.data = app;
	uv_signal_init(&app->loop, &app->sigint);
	app->sigint.data = app;
	uv_signal_start(&app->sigterm, signal_cb, SIGTERM);
	uv_signal_start(&app->sigint, signal_cb, SIGINT);

	if (app->cfg->http_listen) {
		app->httpd = httpd_new(&app->loop, app->cfg->http_listen, http_cb, app, err,
				       sizeof err);
		if (!app->httpd)
			log_error("%s", err);
		alertmanager_attach(app);
	}
	if (!app->sm || (app->cfg->http_listen && !app->httpd)) {
		begin_stop(app, 1);
	} else {
		ask_auth(app);
		for (size_t i = 0; i < app->cfg->n_channels; i++)
			if (api_call(app->api, "conversations.info",
				     json_pack("{s:s}", "channel", app->cfg->channels[i]),
				     channel_done_cb, app))
				log_warn("cannot queue conversations.info");
		log_info("rollbot started: %zu service(s), incidents in %zu channel(s)",
			 app->cfg->n_services, app->cfg->n_channels);
		warn_tools(app);
	}
	uv_run(&app->loop, UV_RUN_DEFAULT);
	sm_free(app->sm);
	uv_run(&app->loop, UV_RUN_DEFAULT); /* whatever the last teardown closed */
	rc = uv_loop_close(&app->loop);
	if (rc)
		log_error("event loop closed with live handles (%s): a bug", uv_strerror(rc));
	rc = app->exit_code;
	shell_incidents_free(app);
	watcher_free(app);
	escalation_free(app);
	pd_free(app->pd);
	chanpost_free(app);
	free(app->open);
	RB_ASSERT(!app->declaring); /* the store's end answered every declaration */
	dd_free(app->dd);
	names_free(app);
	approval_groups_free(app);
	free(app->services);
	tmpl_free(app->tmpl);
	free(app);
	log_info("stopped");
	return rc;
}
