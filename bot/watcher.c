/* rollbot — the watcher (MIT licence, see LICENSE).
 *
 * One libuv timer per watched service. Each tick starts one probe round
 * (bot/probe.c, the client verification uses: asynchronous, each request
 * with its timeout) unless the last is still out, so a slow Prometheus
 * delays only the watcher's next reading, never an ack or an incident.
 * The round's figures go to watch_step() (commands/watch.c), which decides;
 * this file performs: a proposal (bot/proposal.c, with its severity from
 * the classifier /rollback assess uses), an audit row for every evaluation
 * that changed anything, and a notice in the incidents channel when the
 * figures cannot be read, and when they can again: once, not every interval
 * (the database decides, across replicas and restarts: sql/017).
 *
 * Every replica watches; the database lets one proposal per episode
 * through (sql/016_proposals.sql).
 */
#include "watcher.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../commands/assess.h"
#include "../commands/watch.h"
#include "chanpost.h"
#include "db.h"
#include "db_proposal.h"
#include "log.h"
#include "probe.h"
#include "proposal.h"
#include "tmpl.h"

#define PROBE_TIMEOUT_MAX_MS 10000

struct watched {
	struct app *app;
	const struct config_service *svc;
	struct watch_limits lim;
	struct watch_state st;
	uv_timer_t timer;
	bool reading;  /* a round is out */
	bool stopping;
	bool closed;
	bool read_once; /* figures were read at least once: a loss is news */
};

struct watcher {
	struct watched *w;
	size_t n;
	size_t open_handles;
};

static int64_t wall_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* The service has an incident that holds it, here or on another replica. */
static bool incident_open(struct app *app, const char *service)
{
	for (struct app_inc *ai = app->incidents; ai; ai = ai->next)
		if (!ai->lost && !strcmp(ai->inc.service, service) &&
		    inc_state_holds_service(ai->inc.state))
			return true;
	return owner_open_for_service(app, service) != NULL;
}

static void figures_of(const struct verify_round *r, struct watch_figures *f)
{
	memset(f, 0, sizeof *f);
	/* A query that could not be read has the value -1: unknown, not bad. */
	f->err_known = r->outcome[VERIFY_ERROR_RATE] != VERIFY_NOT_RUN &&
		       r->value[VERIFY_ERROR_RATE] >= 0 && isfinite(r->value[VERIFY_ERROR_RATE]);
	f->error_rate = r->value[VERIFY_ERROR_RATE];
	f->lat_known = r->outcome[VERIFY_LATENCY] != VERIFY_NOT_RUN &&
		       r->value[VERIFY_LATENCY] >= 0;
	f->latency_s = r->value[VERIFY_LATENCY];
	f->health = r->outcome[VERIFY_HEALTH] == VERIFY_PASS ? WATCH_OK :
		    r->outcome[VERIFY_HEALTH] == VERIFY_FAIL ? WATCH_BAD :
							       WATCH_UNKNOWN;
}

/* {"value": "0.08", "max": "0.05"}: as text, as Prometheus gives them, so
 * that the audit log keeps what was read and not a binary double's
 * nearest decimal. */
static json_t *figure(double value, double max)
{
	char v[32], m[32];

	snprintf(v, sizeof v, "%.6g", value);
	snprintf(m, sizeof m, "%.6g", max);
	return json_pack("{s:s, s:s}", "value", v, "max", m);
}

/* Every figure against its threshold, one line each, and as JSON. */
static char *figures_text(const struct watched *w, const struct verify_round *r,
			  const struct watch_figures *f, json_t *fj)
{
	char now[32], max[32], *t = rb_strdup(""), *n;

	if (r->outcome[VERIFY_ERROR_RATE] != VERIFY_NOT_RUN) {
		verify_format_ratio(f->error_rate, now, sizeof now);
		verify_format_ratio(w->lim.error_rate_max, max, sizeof max);
		n = f->err_known ? rb_asprintf("%s• error rate %s (threshold %s)\n", t, now, max) :
				   rb_asprintf("%s• error rate: unknown (%s)\n", t,
					       r->detail[VERIFY_ERROR_RATE]);
		free(t);
		t = n;
		if (f->err_known)
			json_object_set_new(fj, "error_rate",
					    figure(f->error_rate, w->lim.error_rate_max));
	}
	if (r->outcome[VERIFY_LATENCY] != VERIFY_NOT_RUN) {
		verify_format_seconds(f->latency_s, now, sizeof now);
		verify_format_seconds(w->lim.latency_max_s, max, sizeof max);
		n = f->lat_known ? rb_asprintf("%s• p99 latency %s (threshold %s)\n", t, now, max) :
				   rb_asprintf("%s• p99 latency: unknown (%s)\n", t,
					       r->detail[VERIFY_LATENCY]);
		free(t);
		t = n;
		if (f->lat_known)
			json_object_set_new(fj, "latency_s",
					    figure(f->latency_s, w->lim.latency_max_s));
	}
	if (r->outcome[VERIFY_HEALTH] != VERIFY_NOT_RUN) {
		n = rb_asprintf("%s• health check: %s\n", t,
				f->health == WATCH_OK ? "passing" : r->detail[VERIFY_HEALTH]);
		free(t);
		t = n;
		json_object_set_new(fj, "health",
				    json_string(f->health == WATCH_OK ? "passing" :
									r->detail[VERIFY_HEALTH]));
	}
	if (t[0])
		t[strlen(t) - 1] = '\0'; /* the template ends the line */
	return t;
}

static char *summary_text(const struct watched *w, const struct watch_figures *f,
			  const struct verify_round *r, enum watch_trigger t, int64_t since_wall)
{
	char now[32], max[32], at[32];

	proposal_clock(since_wall, at, sizeof at);
	switch (t) {
	case WATCH_T_ERRORS:
		verify_format_ratio(f->error_rate, now, sizeof now);
		verify_format_ratio(w->lim.error_rate_max, max, sizeof max);
		return rb_asprintf("error rate %s above %s since %s", now, max, at);
	case WATCH_T_LATENCY:
		verify_format_seconds(f->latency_s, now, sizeof now);
		verify_format_seconds(w->lim.latency_max_s, max, sizeof max);
		return rb_asprintf("p99 latency %s above %s since %s", now, max, at);
	case WATCH_T_HEALTH:
		return rb_asprintf("health check failing (%s) since %s", r->detail[VERIFY_HEALTH],
				   at);
	case WATCH_T_NONE:
		break;
	}
	return rb_strdup("?");
}

static void audit(struct watched *w, const char *kind, json_t *detail)
{
	json_object_set_new(detail, "service", json_string(w->svc->name));
	db_audit(w->app->store, NULL, "rollbot", kind, detail, NULL);
}

/* ---- the notices: figures lost, figures back ---- */

struct noticing {
	struct app *app;
	char service[CMD_SERVICE_MAX];
	json_t *args;
};

static void notice_posted_cb(void *arg, const struct api_result *res)
{
	struct noticing *n = arg;

	if (chanpost_left_open(res))
		log_warn("watcher: the notice about %s is not posted yet (%s): left for the "
			 "replica that claims it next",
			 n->service, res->error);
	else if (!res->ok)
		log_error("watcher: the notice about %s could not be posted: %s", n->service,
			  res->error ? res->error : "?");
	json_decref(n->args);
	free(n);
}

static void notice_recorded_cb(void *arg, int err, const char *errmsg, int64_t id)
{
	struct noticing *n = arg;

	if (err)
		log_error("store: the watcher's notice about %s was not recorded, so it is not "
			  "posted: %s",
			  n->service, errmsg ? errmsg : "?");
	if (!err && id) {
		chanpost_send(n->app, DB_CHANPOST_NOTICE, id, n->args, NULL, notice_posted_cb, n);
		return;
	}
	json_decref(n->args);
	free(n);
}

/* Says in the incidents channel, once across replicas and restarts (the
 * database decides), that the figures of the service were lost ("blind")
 * or can be read again ("sighted"): recorded with its audit row, then
 * posted. */
static void notice(struct watched *w, const char *kind, const char *why)
{
	struct app *app = w->app;
	struct noticing *n;
	char *text, *args_s, name[32];
	json_t *data;

	if (app->cfg->n_channels == 0)
		return;
	snprintf(name, sizeof name, "watch_%s", kind);
	data = json_pack("{s:s, s:s}", "service", w->svc->name, "why", why);
	text = tmpl_render(app->tmpl, name, data);
	json_decref(data);
	if (!text)
		return;
	n = rb_calloc(1, sizeof *n);
	n->app = app;
	(void)rb_strlcpy(n->service, w->svc->name, sizeof n->service);
	n->args = chanpost_args(app, app->cfg->channels[0], text, name, w->svc->name);
	args_s = json_dumps(n->args, JSON_COMPACT | JSON_SORT_KEYS);
	if (db_watch_notice(app->store, w->svc->name, kind, why, app->owner,
			    app->cfg->channels[0], args_s, notice_recorded_cb, n)) {
		log_error("store: cannot queue the watcher's notice about %s", w->svc->name);
		json_decref(n->args);
		free(n);
	}
	free(args_s);
	free(text);
}

/* What could be read, for the notice that the figures are back. */
static void sighted_why(const struct verify_round *r, const struct watch_figures *f, char *out,
			size_t len)
{
	char v[32];

	if (f->err_known) {
		verify_format_ratio(f->error_rate, v, sizeof v);
		snprintf(out, len, "error rate %s", v);
	} else if (f->lat_known) {
		verify_format_seconds(f->latency_s, v, sizeof v);
		snprintf(out, len, "p99 latency %s", v);
	} else {
		snprintf(out, len, "health check: %s",
			 f->health == WATCH_OK ? "passing" : r->detail[VERIFY_HEALTH]);
	}
}

static void propose(struct watched *w, const struct verify_round *r,
		    const struct watch_figures *f, const struct watch_out *out, int64_t now)
{
	int64_t since_wall = wall_ms() - (now - out->since);
	/* Runbook 003's row for these figures, from the classifier that
	 * /rollback assess uses: the two never disagree on the same reading.
	 * A trigger held means a figure is known and bad, so there is one; P1
	 * (errors or latency) is only a guard. */
	const char *severity = assess_round_severity(r, w->lim.latency_max_s);
	json_t *fj = json_object();
	char *figs = figures_text(w, r, f, fj);
	char *sum = summary_text(w, f, r, out->trigger, since_wall);
	struct proposal_offer o = {
		.service = w->svc->name,
		.source = "watcher",
		.trigger = watch_trigger_name(out->trigger),
		.summary = sum,
		.figures = figs,
		.figures_json = fj,
		.severity = severity,
		.detected_wall_ms = since_wall,
		.expiry_ms = w->lim.expiry_ms,
	};

	if (!severity[0])
		o.severity = "P1";
	log_warn("watcher: %s: %s; proposing a rollback (%s)", w->svc->name, sum, o.severity);
	proposal_offer(w->app, &o);
	json_decref(fj);
	free(figs);
	free(sum);
}

static void round_cb(void *arg, const struct verify_round *r, bool any)
{
	struct watched *w = arg;
	struct app *app = w->app;
	struct watch_figures f;
	struct watch_out out;
	int64_t now = now_ms(app);

	w->reading = false;
	if (w->stopping || !any)
		return;
	figures_of(r, &f);
	watch_step(&w->lim, &w->st, &f, incident_open(app, w->svc->name), now, &out);
	if (out.what & WATCH_BLIND) {
		char sum[512], why[512];

		(void)verify_round_summary(r, sum, sizeof sum);
		watch_scrub(sum, why, sizeof why);
		log_warn("watcher: cannot read the figures of %s (%s); said once, until they can "
			 "be read again", w->svc->name, why);
		notice(w, "blind", why);
	}
	/* The first reading after a start counts as "back" too: the process
	 * before this one may have said they were lost (the database knows,
	 * and says nothing when they were not). */
	if ((out.what & WATCH_SIGHTED) || (!w->st.blind && !w->read_once)) {
		char why[256];

		if (out.what & WATCH_SIGHTED)
			log_info("watcher: the figures of %s can be read again", w->svc->name);
		sighted_why(r, &f, why, sizeof why);
		notice(w, "sighted", why);
	}
	if (!w->st.blind)
		w->read_once = true;
	if (out.what & WATCH_EXPIRE) {
		log_info("watcher: the proposal for %s expired", w->svc->name);
		audit(w, "proposal_expired", json_object());
	}
	if (out.what & WATCH_REARM) {
		log_info("watcher: %s healthy again; armed for a new episode", w->svc->name);
		db_proposal_rearm(app->store, w->svc->name);
		audit(w, "watch_rearmed", json_object());
	}
	if (out.what & WATCH_SUPPRESS) {
		log_info("watcher: %s: %s held, but an incident holds the service; no proposal",
			 w->svc->name, watch_trigger_name(out.trigger));
		audit(w, "watch_suppressed",
		      json_pack("{s:s}", "trigger", watch_trigger_name(out.trigger)));
	}
	if (out.what & WATCH_PROPOSE)
		propose(w, r, &f, &out, now);
}

static void tick_cb(uv_timer_t *t)
{
	struct watched *w = t->data;
	const struct config_verify *v = &w->svc->verify;
	struct probe_spec spec = {
		.health_url = w->svc->health_url,
		.prometheus_url = v->prometheus_url,
		.error_rate_query = v->error_rate_query,
		.latency_query = v->latency_query,
		.error_rate_max = w->lim.error_rate_max,
		.latency_max_s = w->lim.latency_max_s,
		.timeout_ms = w->svc->watch.interval_ms < PROBE_TIMEOUT_MAX_MS ?
				      (long)w->svc->watch.interval_ms :
				      PROBE_TIMEOUT_MAX_MS,
	};

	if (w->reading || w->stopping || !w->app->api)
		return; /* the last round is still out: it is the next reading */
	if (probe_round(&w->app->loop, w->app->api, &spec, round_cb, w) == 0)
		w->reading = true;
	else
		log_error("watcher: cannot start a reading of %s", w->svc->name);
}

double watch_p99_threshold_s(const struct config_service *svc)
{
	return (double)(svc->watch.on ? svc->watch.latency_max_ms : svc->verify.latency_max_ms) /
	       1000.0;
}

void watcher_start(struct app *app)
{
	struct watcher *wr;
	size_t n = 0;

	for (size_t i = 0; i < app->cfg->n_services; i++)
		n += app->cfg->services[i].watch.on;
	if (!n)
		return;
	wr = rb_calloc(1, sizeof *wr);
	wr->w = rb_calloc(n, sizeof *wr->w);
	for (size_t i = 0; i < app->cfg->n_services; i++) {
		const struct config_service *svc = &app->cfg->services[i];
		struct watched *w;

		if (!svc->watch.on)
			continue;
		w = &wr->w[wr->n++];
		w->app = app;
		w->svc = svc;
		watch_init(&w->st);
		w->lim.error_rate_max = svc->watch.error_rate_max;
		w->lim.error_for_ms = svc->watch.error_for_ms;
		w->lim.latency_max_s = watch_p99_threshold_s(svc);
		w->lim.latency_for_ms = svc->watch.latency_for_ms;
		w->lim.health_for_ms = svc->watch.health_for_ms;
		w->lim.rearm_ms = svc->watch.rearm_ms;
		w->lim.expiry_ms = svc->watch.expiry_ms;
		uv_timer_init(&app->loop, &w->timer);
		w->timer.data = w;
		uv_timer_start(&w->timer, tick_cb, (uint64_t)svc->watch.interval_ms,
			       (uint64_t)svc->watch.interval_ms);
		wr->open_handles++;
		log_info("watcher: watching %s every %lld ms", svc->name,
			 (long long)svc->watch.interval_ms);
	}
	app->watcher = wr;
}

static void closed_cb(uv_handle_t *h)
{
	struct watched *w = h->data;

	w->closed = true;
}

/* The rounds still out call round_cb, which sees `stopping`: the structs
 * stay until the loop is closed (app_run frees them after uv_run). */
void watcher_stop(struct app *app)
{
	struct watcher *wr = app->watcher;

	if (!wr)
		return;
	for (size_t i = 0; i < wr->n; i++) {
		wr->w[i].stopping = true;
		uv_close((uv_handle_t *)&wr->w[i].timer, closed_cb);
	}
}

void watcher_free(struct app *app)
{
	struct watcher *wr = app->watcher;

	if (!wr)
		return;
	free(wr->w);
	free(wr);
	app->watcher = NULL;
}
