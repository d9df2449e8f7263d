/* rollbot — the daemon's shell (MIT licence, see LICENSE).
 *
 * DESIGN
 *
 * Envelopes arrive from sm.c in two calls. ack_payload_cb runs while the
 * envelope is being received and must answer at once: it recognises a
 * redelivery (dedupe), and for a slash command parses the text and the
 * channel to build the ephemeral answer (help, an error, the dry-run plan,
 * or "declaring…"). It records its verdict in the envelope itself, under
 * "_rollbot", so that dispatch_cb, which runs only after the ack was
 * written, acts on exactly what the person was told.
 *
 * A valid /rollback becomes one call of rollbot_declare() in PostgreSQL,
 * which records the delivery key (a restart-proof dedupe), numbers the
 * incident and writes its first audit rows atomically. Its answer starts
 * the incident in memory, and from then on every change goes through
 * inc_step(): events in, actions out, actions performed here in order.
 *
 * An incident lives in memory only while something is in flight for it
 * (a post, a save); PostgreSQL is the record, so a quiet incident costs
 * no memory and a restart loses nothing.
 */
#include "app.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../commands/dedupe.h"
#include "../commands/incident.h"
#include "../commands/parse.h"
#include "api.h"
#include "embedded.h"
#include "httpd.h"
#include "log.h"
#include "sm.h"
#include "store.h"
#include "tmpl.h"

#define DEDUPE_TTL_MS (10 * 60 * 1000)
#define DEDUPE_MAX 100000
#define DRAIN_MAX_MS 10000

struct app_inc {
	struct app *app;
	struct app_inc *next, *prev; /* app->incidents, unordered */
	struct incident inc;
	int pending;    /* posts and saves in flight */
	char strings[]; /* inc.reason and inc.response_url point here */
};

struct app {
	const struct app_options *opt;
	const struct config *cfg;
	uv_loop_t loop;
	struct api *api;
	struct store *store;
	struct sm *sm;
	struct tmpl_set *tmpl;
	struct dd_set *dd;
	struct httpd *httpd;
	unsigned long declared; /* incidents declared since start, for /metrics */
	struct cmd_service *services;
	struct app_inc *incidents;
	uv_signal_t sigterm, sigint;
	uv_timer_t drain_timer;
	int64_t drain_started_ms;
	bool stopping;
	bool sm_done;
	int exit_code;
	char bot_user_id[INC_SLACK_ID_MAX];
};

static void perform(struct app_inc *ai, const struct inc_actions *acts);
static void begin_stop(struct app *app, int exit_code);

static const char *const severity_labels[] = {
	/* The decision matrix of runbook 003. */
	"complete outage, immediate rollback",
	"major errors, rollback within 15 minutes",
	"minor errors, rollback if it escalates",
	"cosmetic, fix forward",
};

static int64_t now_ms(struct app *app)
{
	return (int64_t)uv_now(&app->loop);
}

static const char *jstr(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));
	return s ? s : "";
}

/* "10 minutes", "2 seconds", "1 hour" for a duration in ms. */
static void human_duration(int64_t ms, char *out, size_t len)
{
	int64_t s = ms / 1000;

	if (s >= 3600 && s % 3600 == 0)
		snprintf(out, len, "%lld hour%s", (long long)(s / 3600), s == 3600 ? "" : "s");
	else if (s >= 60 && s % 60 == 0)
		snprintf(out, len, "%lld minute%s", (long long)(s / 60), s == 60 ? "" : "s");
	else
		snprintf(out, len, "%lld second%s", (long long)s, s == 1 ? "" : "s");
}

/* "revision 41" / "version v2.0.0" / the method's default destination. */
static void target_phrase(enum plan_method m, const char *target, char *out, size_t len)
{
	const struct plan_method_info *mi = plan_method_info(m);

	if (!target[0])
		snprintf(out, len, "%s", mi->default_target);
	else if (mi->target == PLAN_TARGET_REVISION)
		snprintf(out, len, "revision %s", target);
	else
		snprintf(out, len, "version %s", target);
}

static enum cmd_severity effective_severity(const struct app *app, enum cmd_severity s)
{
	return s == CMD_SEV_UNSET ? (enum cmd_severity)app->cfg->default_severity : s;
}

/* The values every incident template may use. Returns a new reference. */
static json_t *incident_data(struct app *app, const struct incident *inc)
{
	const struct config_service *svc = config_service(app->cfg, inc->service);
	const struct plan_method_info *mi = plan_method_info(inc->method);
	char target[128], every[64];

	target_phrase(inc->method, inc->target, target, sizeof target);
	human_duration(app->cfg->update_interval_ms, every, sizeof every);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "id",
			 inc->id, "service", inc->service, "reason",
			 inc->reason[0] ? inc->reason : "not given yet: reply in this thread",
			 "severity", cmd_severity_name(inc->severity), "severity_label",
			 severity_labels[inc->severity], "affected",
			 svc && svc->affected ? svc->affected : "not assessed yet", "target", target,
			 "method_title", mi->title, "eta", svc && svc->eta ? svc->eta : mi->eta,
			 "lead", inc->requested_by, "update_every", every, "channel", inc->channel);
}

/* ---- slash commands: the verdict, computed in the ack path ---- */

static void fill_incident_from_cmd(struct app *app, const struct cmd *cmd, json_t *payload,
				   struct incident *inc)
{
	const struct config_service *svc = config_service(app->cfg, cmd->service);

	memset(inc, 0, sizeof *inc);
	inc->state = INC_DECLARED;
	(void)rb_strlcpy(inc->service, cmd->service, sizeof inc->service);
	inc->method = svc->method;
	inc->severity = effective_severity(app, cmd->severity);
	(void)rb_strlcpy(inc->target, cmd->target, sizeof inc->target);
	inc->reason = cmd->reason; /* borrowed: callers that keep inc copy it */
	(void)rb_strlcpy(inc->requested_by, jstr(payload, "user_id"), sizeof inc->requested_by);
	(void)rb_strlcpy(inc->channel, jstr(payload, "channel_id"), sizeof inc->channel);
	inc->response_url = jstr(payload, "response_url"); /* borrowed, as reason */
	inc->declared_ms = now_ms(app);
}

static char *dry_run_text(struct app *app, const struct cmd *cmd, json_t *payload)
{
	struct incident inc;
	const struct config_approval *pol;
	struct rb_buf who;
	char tmo[64];
	time_t t = time(NULL);
	struct tm tm;
	json_t *data;
	char *text;
	int rc = 0;

	fill_incident_from_cmd(app, cmd, payload, &inc);
	snprintf(inc.id, sizeof inc.id, "INC-…");
	pol = config_approval_for(app->cfg, config_service(app->cfg, cmd->service));
	rb_buf_init(&who, 4096);
	for (size_t i = 0; i < pol->n_approvers && !rc; i++)
		rc = rb_buf_printf(&who, "%s<@%s>", i ? ", " : "", pol->approvers[i]);
	if (pol->approver_group && !rc)
		rc = rb_buf_printf(&who, "%s<!subteam^%s>", who.len ? ", " : "",
				   pol->approver_group);
	if (rc || !who.len) {
		rb_buf_reset(&who);
		rc = rb_buf_puts(&who, "the configured approvers");
	}
	human_duration(pol->timeout_ms, tmo, sizeof tmo);
	gmtime_r(&t, &tm);
	data = incident_data(app, &inc);
	json_object_set_new(data, "year", json_integer(tm.tm_year + 1900));
	json_object_set_new(data, "approvers", json_string(rb_buf_str(&who)));
	json_object_set_new(data, "approvals_required", json_integer(pol->required));
	json_object_set_new(data, "approval_timeout", json_string(tmo));
	json_object_set_new(data, "approval_skipped", json_boolean(pol->skip[inc.severity]));
	text = tmpl_render(app->tmpl, "dry_run", data);
	json_decref(data);
	rb_buf_free(&who);
	return text;
}

static json_t *ephemeral(const char *text)
{
	return json_pack("{s:s, s:s}", "response_type", "ephemeral", "text", text ? text : "");
}

/* Decides what a slash command means, without I/O. Stores the verdict in
 * env["_rollbot"] and returns the ack payload (new reference). */
static json_t *slash_verdict(struct app *app, json_t *env)
{
	json_t *payload = json_object_get(env, "payload");
	const char *command = jstr(payload, "command");
	const char *channel = jstr(payload, "channel_id");
	const char *trigger = jstr(payload, "trigger_id");
	json_t *verdict;
	char err[CMD_ERR_LEN];
	struct cmd cmd;
	char *text = NULL;
	json_t *ack;
	int rc;

	if (trigger[0]) {
		char key[160];
		snprintf(key, sizeof key, "trigger:%s", trigger);
		if (dd_seen(app->dd, key, now_ms(app))) {
			json_object_set_new(env, "_rollbot", json_pack("{s:s}", "outcome", "duplicate"));
			return NULL;
		}
	}
	if (strcmp(command, "/rollback")) {
		snprintf(err, sizeof err, "rollbot only answers /rollback, not %s.", command);
		rc = CMD_ESYNTAX;
	} else if (!config_is_incident_channel(app->cfg, channel)) {
		struct rb_buf b;
		rb_buf_init(&b, sizeof err - 1);
		rc = rb_buf_puts(&b, "/rollback works only in ");
		for (size_t i = 0; i < app->cfg->n_channels && !rc; i++)
			rc = rb_buf_printf(&b, "%s<#%s>", i ? " or " : "", app->cfg->channels[i]);
		if (!rc)
			rc = rb_buf_puts(&b, ", so that the whole incident is in one place. "
					     "Run it there.");
		(void)rb_strlcpy(err, rc ? "/rollback works only in the incidents channel."
					 : rb_buf_str(&b),
				 sizeof err);
		rb_buf_free(&b);
		rc = CMD_EVALUE;
	} else {
		rc = cmd_parse(jstr(payload, "text"), app->services, app->cfg->n_services, &cmd, err,
			       sizeof err);
	}
	if (rc) {
		verdict = json_pack("{s:s, s:s}", "outcome", "rejected", "error", err);
		ack = ephemeral(err);
	} else if (cmd.kind == CMD_HELP) {
		verdict = json_pack("{s:s}", "outcome", "help");
		ack = ephemeral(cmd_usage());
	} else if (cmd.dry_run) {
		verdict = json_pack("{s:s}", "outcome", "dry_run");
		text = dry_run_text(app, &cmd, payload);
		ack = ephemeral(text);
	} else {
		struct incident inc;
		json_t *data;
		fill_incident_from_cmd(app, &cmd, payload, &inc);
		data = incident_data(app, &inc);
		text = tmpl_render(app->tmpl, "accepted", data);
		json_decref(data);
		verdict = json_pack("{s:s, s:s, s:s, s:s, s:s}", "outcome", "accepted", "service",
				    cmd.service, "target", cmd.target, "severity",
				    cmd_severity_name(inc.severity), "reason", cmd.reason);
		ack = ephemeral(text);
	}
	free(text);
	json_object_set_new(env, "_rollbot", verdict);
	return ack;
}

static json_t *ack_payload_cb(void *arg, json_t *env)
{
	struct app *app = arg;
	const char *type = jstr(env, "type");
	char key[200];

	snprintf(key, sizeof key, "envelope:%s", jstr(env, "envelope_id"));
	if (dd_seen(app->dd, key, now_ms(app))) {
		json_object_set_new(env, "_rollbot", json_pack("{s:s}", "outcome", "duplicate"));
		return NULL;
	}
	if (!strcmp(type, "slash_commands"))
		return slash_verdict(app, env);
	if (!strcmp(type, "events_api")) {
		/* The same event comes back in a new envelope when an ack was
		 * late: event_id is the key that survives that. */
		const char *event_id = jstr(json_object_get(env, "payload"), "event_id");
		snprintf(key, sizeof key, "event:%s", event_id);
		if (event_id[0] && dd_seen(app->dd, key, now_ms(app)))
			json_object_set_new(env, "_rollbot",
					    json_pack("{s:s}", "outcome", "duplicate"));
	}
	return NULL;
}

/* ---- the store ---- */

static void audit_done_cb(void *arg, int err, const PGresult *res, const char *errmsg)
{
	(void)arg;
	(void)res;
	if (err)
		log_error("store: audit row not written: %s", errmsg ? errmsg : "?");
}

/* Appends an audit row. `incident` may be NULL; `detail` is stolen. The
 * dedupe key makes a replay after a lost connection a no-op. */
static void audit(struct app *app, const char *incident, const char *actor, const char *kind,
		  json_t *detail, const char *key)
{
	char *d = json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS);
	const char *params[5] = { incident, actor, kind, d, key };

	if (store_query(app->store, "SELECT rollbot_audit($1, $2, $3, $4::jsonb, $5)", 5, params,
			audit_done_cb, NULL))
		log_error("store: cannot queue the audit row %s", kind);
	free(d);
	json_decref(detail);
}

/* The incident's free-text fields live after the struct that holds it, so
 * one allocation carries it and a copy never points into another's memory. */
static size_t strings_size(const struct incident *inc)
{
	return strlen(inc->reason) + 1 + strlen(inc->response_url) + 1;
}

/* Copies inc's strings to `to` (strings_size bytes) and points inc at them. */
static void own_strings(struct incident *inc, char *to)
{
	size_t n = strlen(inc->reason) + 1;

	memcpy(to, inc->reason, n);
	inc->reason = to;
	memcpy(to + n, inc->response_url, strlen(inc->response_url) + 1);
	inc->response_url = to + n;
}

static struct app_inc *inc_new(struct app *app, const struct incident *inc)
{
	struct app_inc *ai = rb_calloc(1, sizeof *ai + strings_size(inc));

	ai->app = app;
	ai->inc = *inc;
	own_strings(&ai->inc, ai->strings);
	ai->next = app->incidents;
	if (ai->next)
		ai->next->prev = ai;
	app->incidents = ai;
	return ai;
}

/* Drops the in-memory copy once nothing is in flight for it. */
static void inc_release(struct app_inc *ai)
{
	if (ai->pending > 0)
		return;
	if (ai->prev)
		ai->prev->next = ai->next;
	else
		ai->app->incidents = ai->next;
	if (ai->next)
		ai->next->prev = ai->prev;
	free(ai);
}

static void step(struct app_inc *ai, const struct inc_event *ev)
{
	struct inc_actions acts;
	enum inc_state before = ai->inc.state;
	int rc = inc_step(&ai->inc, ev, now_ms(ai->app), &ai->inc, &acts);

	if (rc) {
		ilog_error(&ai->inc, "event %d refused by the state machine (%d): a bug", ev->kind,
			   rc);
		return;
	}
	if (ai->inc.state != before)
		ilog_info(&ai->inc, "state %s -> %s", inc_state_name(before),
			  inc_state_name(ai->inc.state));
	perform(ai, &acts);
}

/* ---- carrying out actions ---- */

struct post_ctx {
	struct app_inc *ai;
	enum inc_message msg;
};

static void post_done_cb(void *arg, const struct api_result *res)
{
	struct post_ctx *pc = arg;
	struct app_inc *ai = pc->ai;
	struct inc_event ev = { .msg = pc->msg };

	free(pc);
	ai->pending--;
	if (res->ok) {
		ev.kind = INC_EV_POSTED;
		ev.ts = json_string_value(json_object_get(res->body, "ts"));
		ilog_info(&ai->inc, "posted %s ts=%s", inc_message_name(ev.msg),
			  ev.ts ? ev.ts : "?");
	} else {
		ev.kind = INC_EV_POST_FAILED;
		ev.error = res->error;
		ilog_error(&ai->inc, "could not post %s after %d attempt(s): %s",
			   inc_message_name(ev.msg), res->attempts, res->error);
	}
	step(ai, &ev);
	inc_release(ai);
}

static void do_post(struct app_inc *ai, const struct inc_action *a)
{
	struct app *app = ai->app;
	json_t *data = incident_data(app, &ai->inc);
	char *text = tmpl_render(app->tmpl, inc_message_name(a->msg), data);
	struct post_ctx *pc;
	json_t *args;

	json_decref(data);
	if (!text) {
		struct inc_event ev = { .kind = INC_EV_POST_FAILED, .msg = a->msg,
					.error = "template_error" };
		step(ai, &ev);
		return;
	}
	args = json_pack("{s:s, s:s, s:b, s:b}", "channel", ai->inc.channel, "text", text,
			 "unfurl_links", 0, "unfurl_media", 0);
	free(text);
	if (a->in_thread && ai->inc.announcement_ts[0])
		json_object_set_new(args, "thread_ts", json_string(ai->inc.announcement_ts));
	pc = rb_malloc(sizeof *pc);
	pc->ai = ai;
	pc->msg = a->msg;
	if (api_call(app->api, "chat.postMessage", args, post_done_cb, pc)) {
		struct inc_event ev = { .kind = INC_EV_POST_FAILED, .msg = a->msg,
					.error = "client_busy" };
		free(pc);
		step(ai, &ev);
		return;
	}
	ai->pending++;
}

static void save_done_cb(void *arg, int err, const PGresult *res, const char *errmsg)
{
	struct app_inc *ai = arg;

	(void)res;
	ai->pending--;
	if (err)
		ilog_error(&ai->inc, "could not save the incident: %s", errmsg ? errmsg : "?");
	inc_release(ai);
}

static void do_save(struct app_inc *ai)
{
	const char *params[3] = { ai->inc.id, inc_state_name(ai->inc.state),
				  ai->inc.announcement_ts[0] ? ai->inc.announcement_ts : NULL };

	if (store_query(ai->app->store,
			"UPDATE incidents SET state = $2, announcement_ts = COALESCE($3, "
			"announcement_ts), updated_at = clock_timestamp() WHERE id = $1",
			3, params, save_done_cb, ai)) {
		ilog_error(&ai->inc, "cannot queue the save");
		return;
	}
	ai->pending++;
}

static void notify_done_cb(void *arg, const struct api_result *res)
{
	(void)arg;
	if (!res->ok)
		log_warn("could not reply to the requester through response_url: %s", res->error);
}

static void do_notify(struct app_inc *ai, const char *text)
{
	json_t *body;
	char *s;

	if (!ai->inc.response_url[0])
		return;
	body = ephemeral(text);
	s = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (api_post_url(ai->app->api, ai->inc.response_url, "application/json", s, strlen(s),
			 notify_done_cb, NULL))
		log_warn("cannot queue the reply to the requester");
	free(s);
}

static void do_audit(struct app_inc *ai, const struct inc_action *a)
{
	json_t *detail = json_object();
	struct rb_buf key;

	int rc;

	rb_buf_init(&key, 8192);
	rc = rb_buf_printf(&key, "%s:%s", ai->inc.id, a->audit_kind);
	for (int i = 0; i < 4 && a->keys[i]; i++) {
		json_object_set_new(detail, a->keys[i], json_string(a->values[i]));
		if (!rc)
			rc = rb_buf_printf(&key, ":%s", a->values[i]);
	}
	/* Without a key the row is still written, only not replay-proof. */
	audit(ai->app, ai->inc.id, a->actor, a->audit_kind, detail,
	      rc ? NULL : rb_buf_str(&key));
	rb_buf_free(&key);
}

static void perform(struct app_inc *ai, const struct inc_actions *acts)
{
	for (int i = 0; i < acts->n; i++) {
		const struct inc_action *a = &acts->a[i];
		switch (a->kind) {
		case INC_ACT_POST:
			do_post(ai, a);
			break;
		case INC_ACT_AUDIT:
			do_audit(ai, a);
			break;
		case INC_ACT_SAVE:
			do_save(ai);
			break;
		case INC_ACT_NOTIFY_REQUESTER:
			do_notify(ai, a->text);
			break;
		}
	}
}

/* ---- dispatch: after the ack ---- */

struct declare_ctx {
	struct app *app;
	struct incident inc;
	char strings[]; /* inc.reason and inc.response_url point here */
};

static void declare_done_cb(void *arg, int err, const PGresult *res, const char *errmsg)
{
	struct declare_ctx *dc = arg;
	struct app *app = dc->app;
	struct app_inc *ai;
	struct inc_event ev = { .kind = INC_EV_DECLARED };

	if (err) {
		log_error("store: could not declare the incident for %s: %s", dc->inc.service,
			  errmsg ? errmsg : "?");
		free(dc);
		return;
	}
	if (PQntuples(res) != 1 || PQgetisnull(res, 0, 0)) {
		log_info("slash command for %s was already processed (redelivery); ignored",
			 dc->inc.service);
		free(dc);
		return;
	}
	(void)rb_strlcpy(dc->inc.id, PQgetvalue(res, 0, 0), sizeof dc->inc.id);
	ai = inc_new(app, &dc->inc);
	free(dc);
	app->declared++;
	ilog_info(&ai->inc, "declared by %s", ai->inc.requested_by);
	step(ai, &ev);
	inc_release(ai);
}

static void dispatch_slash(struct app *app, json_t *env, json_t *verdict)
{
	json_t *payload = json_object_get(env, "payload");
	const char *outcome = jstr(verdict, "outcome");
	const char *user = jstr(payload, "user_id");
	json_t *detail = json_pack("{s:s, s:s, s:s, s:s, s:s}", "command", jstr(payload, "command"),
				   "text", jstr(payload, "text"), "channel",
				   jstr(payload, "channel_id"), "envelope_id",
				   jstr(env, "envelope_id"), "trigger_id",
				   jstr(payload, "trigger_id"));

	log_info("slash command user=%s channel=%s outcome=%s", user, jstr(payload, "channel_id"),
		 outcome);
	/* Keyed by envelope, so a replay after a lost connection adds no row. */
	char *key = rb_asprintf("%s:%s", outcome, jstr(env, "envelope_id"));

	if (!strcmp(outcome, "rejected")) {
		json_object_set_new(detail, "error", json_string(jstr(verdict, "error")));
		audit(app, NULL, user, "command_rejected", detail, key);
	} else if (!strcmp(outcome, "help")) {
		audit(app, NULL, user, "command_received", detail, key);
	} else if (!strcmp(outcome, "accepted")) {
		struct declare_ctx *dc;
		const char *trigger = jstr(payload, "trigger_id");
		char *dkey = rb_asprintf("slash:%s", trigger[0] ? trigger : jstr(env, "envelope_id"));
		struct cmd cmd;
		char err[CMD_ERR_LEN];
		char *cmdjson;
		const char *params[9];

		/* Parsed again: the ack path kept only its verdict. */
		if (cmd_parse(jstr(payload, "text"), app->services, app->cfg->n_services, &cmd, err,
			      sizeof err)) {
			log_error("slash command parsed differently after the ack: %s", err);
			free(dkey);
			free(key);
			json_decref(detail);
			return;
		}
		struct incident inc;

		fill_incident_from_cmd(app, &cmd, payload, &inc);
		dc = rb_malloc(sizeof *dc + strings_size(&inc));
		dc->app = app;
		dc->inc = inc;
		own_strings(&dc->inc, dc->strings);
		json_object_set_new(detail, "service", json_string(cmd.service));
		json_object_set_new(detail, "target", json_string(cmd.target));
		json_object_set_new(detail, "severity",
				    json_string(cmd_severity_name(dc->inc.severity)));
		json_object_set_new(detail, "reason", json_string(cmd.reason));
		cmdjson = json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS);
		params[0] = dkey;
		params[1] = dc->inc.service;
		params[2] = cmd_severity_name(dc->inc.severity);
		params[3] = dc->inc.reason;
		params[4] = dc->inc.target;
		params[5] = plan_method_info(dc->inc.method)->name;
		params[6] = dc->inc.requested_by;
		params[7] = dc->inc.channel;
		params[8] = cmdjson;
		if (store_query(app->store,
				"SELECT rollbot_declare($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)", 9,
				params, declare_done_cb, dc)) {
			log_error("store: cannot queue the declaration for %s", cmd.service);
			free(dc);
		}
		free(cmdjson);
		free(dkey);
		json_decref(detail);
	} else {
		json_decref(detail); /* dry_run records nothing; duplicates were handled */
	}
	free(key);
}

static void dispatch_cb(void *arg, json_t *env)
{
	struct app *app = arg;
	json_t *verdict = json_object_get(env, "_rollbot");
	const char *type = jstr(env, "type");

	if (!strcmp(jstr(verdict, "outcome"), "duplicate")) {
		log_info("envelope %s of type %s is a redelivery; ignored", jstr(env, "envelope_id"),
			 type);
		return;
	}
	if (!strcmp(type, "slash_commands")) {
		dispatch_slash(app, env, verdict);
	} else if (!strcmp(type, "events_api")) {
		json_t *event = json_object_get(json_object_get(env, "payload"), "event");
		log_debug("event %s ignored (nothing handles it yet)", jstr(event, "type"));
	} else {
		log_debug("envelope type %s acked and ignored", type);
	}
}

static void sm_fatal_cb(void *arg, const char *error)
{
	struct app *app = arg;

	log_error("stopping: Slack refused SLACK_APP_TOKEN (%s)", error);
	begin_stop(app, 1);
}

/* ---- start-up checks ---- */

static void auth_done_cb(void *arg, const struct api_result *res)
{
	struct app *app = arg;

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
			log_warn("auth.test failed: %s", res->error ? res->error : "?");
		}
		return;
	}
	(void)rb_strlcpy(app->bot_user_id, jstr(res->body, "user_id"), sizeof app->bot_user_id);
	log_info("authenticated as %s (%s) in %s", jstr(res->body, "user"), app->bot_user_id,
		 jstr(res->body, "team"));
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
		rc = rb_buf_printf(body, "slack %s\ndatabase %s\n%s",
				   slack ? "connected" : "NOT connected",
				   db ? "connected" : "NOT connected",
				   app->stopping ? "stopping\n" : "");
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
			"# TYPE rollbot_database_pending gauge\nrollbot_database_pending %d\n",
			slack, db, st.envelopes, st.acks, st.connects, st.disconnects, app->declared,
			app->api ? api_pending(app->api) : 0,
			app->store ? store_pending(app->store) : 0);
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
	httpd_free(app->httpd);
	app->httpd = NULL;
	api_free(app->api);
	app->api = NULL;
	store_free(app->store);
	app->store = NULL;
	uv_close((uv_handle_t *)&app->drain_timer, close_cb);
	uv_close((uv_handle_t *)&app->sigterm, close_cb);
	uv_close((uv_handle_t *)&app->sigint, close_cb);
}

/* Waits for posts and audit rows in flight, so a SIGTERM loses nothing,
 * for at most DRAIN_MAX_MS. */
static void drain_cb(uv_timer_t *t)
{
	struct app *app = t->data;
	int api_n = api_pending(app->api), store_n = store_pending(app->store);

	if (!app->sm_done)
		return;
	if ((api_n || store_n || app->incidents) &&
	    now_ms(app) - app->drain_started_ms < DRAIN_MAX_MS)
		return;
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

int app_run(const struct app_options *opt)
{
	struct app *app = rb_calloc(1, sizeof *app);
	struct api_options ao = { 0 };
	struct sm_options so = { 0 };
	struct sm_callbacks cbs = { ack_payload_cb, dispatch_cb, sm_fatal_cb };
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
		app->services[i].target = plan_method_info(app->cfg->services[i].method)->target;
	}
	app->dd = dd_new(DEDUPE_TTL_MS, DEDUPE_MAX);
	uv_loop_init(&app->loop);
	srand((unsigned)time(NULL) ^ (unsigned)getpid());

	ao.base_url = opt->api_url;
	ao.bot_token = opt->bot_token;
	ao.app_token = opt->app_token;
	ao.ca_file = opt->ca_file;
	app->api = api_new(&app->loop, &ao);
	app->store = store_new(&app->loop, opt->database_url);
	so.ca_file = opt->ca_file;
	so.ping_s = opt->sm_ping_s;
	so.dead_s = opt->sm_dead_s;
	app->sm = sm_new(&app->loop, app->api, &so, &cbs, app);

	uv_timer_init(&app->loop, &app->drain_timer);
	app->drain_timer.data = app;
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
	}
	if (!app->sm || (app->cfg->http_listen && !app->httpd)) {
		begin_stop(app, 1);
	} else {
		if (api_call(app->api, "auth.test", json_object(), auth_done_cb, app))
			log_warn("cannot queue auth.test");
		for (size_t i = 0; i < app->cfg->n_channels; i++)
			if (api_call(app->api, "conversations.info",
				     json_pack("{s:s}", "channel", app->cfg->channels[i]),
				     channel_done_cb, app))
				log_warn("cannot queue conversations.info");
		sm_start(app->sm);
		log_info("rollbot started: %zu service(s), incidents in %zu channel(s)",
			 app->cfg->n_services, app->cfg->n_channels);
	}
	uv_run(&app->loop, UV_RUN_DEFAULT);
	sm_free(app->sm);
	uv_run(&app->loop, UV_RUN_DEFAULT); /* whatever the last teardown closed */
	rc = uv_loop_close(&app->loop);
	if (rc)
		log_error("event loop closed with live handles (%s): a bug", uv_strerror(rc));
	rc = app->exit_code;
	while (app->incidents) {
		struct app_inc *ai = app->incidents;
		app->incidents = ai->next;
		free(ai);
	}
	dd_free(app->dd);
	free(app->services);
	tmpl_free(app->tmpl);
	free(app);
	log_info("stopped");
	return rc;
}
