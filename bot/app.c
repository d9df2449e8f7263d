/* rollbot — the daemon's shell (MIT licence, see LICENSE).
 *
 * DESIGN
 *
 * Envelopes arrive from sm.c in two calls. ingress_ack_payload_cb runs while the
 * envelope is being received and must answer at once: it recognises a
 * redelivery (dedupe), and for a slash command parses the text and the
 * channel to build the ephemeral answer (help, an error, the dry-run plan,
 * or "declaring…"). It leaves its verdict (struct verdict: an outcome and
 * the command as parsed) with sm.c, which hands it to ingress_dispatch_cb once the
 * ack is written, so that dispatch acts on exactly what the person was
 * told and no command is parsed twice.
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
#include "shell.h"

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../commands/dedupe.h"
#include "../commands/incident.h"
#include "../commands/parse.h"
#include "../commands/plan.h"
#include "../commands/policy.h"
#include "../commands/report.h"
#include "../commands/verify.h"
#include "api.h"
#include "db.h"
#include "embedded.h"
#include "httpd.h"
#include "log.h"
#include "probe.h"
#include "runner.h"
#include "sm.h"
#include "store.h"
#include "tmpl.h"

#define DEDUPE_TTL_MS (10 * 60 * 1000)
#define DEDUPE_MAX 100000
#define DRAIN_MAX_MS 10000

static void perform(struct app_inc *ai, const struct inc_actions *acts);
static void begin_stop(struct app *app, int exit_code);

static const char *const severity_labels[] = {
	/* The decision matrix of runbook 003. */
	"complete outage, immediate rollback",
	"major errors, rollback within 15 minutes",
	"minor errors, rollback if it escalates",
	"cosmetic, fix forward",
};

/* "10 minutes", "2 seconds", "1 hour" for a duration in ms. */
void shell_human_duration(int64_t ms, char *out, size_t len)
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
json_t *shell_incident_data(struct app *app, const struct incident *inc)
{
	const struct config_service *svc = config_service(app->cfg, inc->service);
	const struct plan_method_info *mi = plan_method_info(inc->method);
	char target[128], every[64];

	target_phrase(inc->method, inc->target, target, sizeof target);
	shell_human_duration(app->cfg->update_interval_ms, every, sizeof every);
	return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "id",
			 inc->id, "service", inc->service, "reason",
			 inc->reason[0] ? inc->reason : "not given yet: reply in this thread",
			 "severity", cmd_severity_name(inc->severity), "severity_label",
			 severity_labels[inc->severity], "affected",
			 svc && svc->affected ? svc->affected : "not assessed yet", "target", target,
			 "method_title", mi->title, "eta", svc && svc->eta ? svc->eta : mi->eta,
			 "lead", inc->requested_by, "update_every", every, "channel", inc->channel,
			 "with_db", inc->with_db);
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
	inc->with_db = cmd->with_db;
}

/* For the dry run: the exact commands when the target is known, else the
 * command that will find it. Pure computation, no command is run. */
static void dry_run_plan(const struct app *app, const struct incident *inc, json_t *data)
{
	struct plan_param params[PARAMS_MAX];
	struct plan_input in;
	const struct config_service *svc = steps_plan_input(app, inc, params, &in);
	struct plan_step *rs = NULL;
	struct plan *p;
	char err[RB_ERR_LEN];

	if (!svc)
		return;
	if (inc->target[0] || plan_method_info(svc->method)->target == PLAN_TARGET_NONE ||
	    plan_resolve_step(&in, &rs, err, sizeof err) || !rs) {
		if (plan_build(&in, &p, err, sizeof err)) {
			json_object_set_new(data, "plan_error", json_string(err));
			return;
		}
		char *d = plan_describe(p);
		json_object_set_new(data, "plan", json_string(d));
		free(d);
		plan_free(p);
		return;
	}
	char *d = plan_step_display(rs);
	json_object_set_new(data, "resolve", json_string(d));
	free(d);
	plan_step_free(rs);
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
	shell_human_duration(pol->timeout_ms, tmo, sizeof tmo);
	gmtime_r(&t, &tm);
	data = shell_incident_data(app, &inc);
	json_object_set_new(data, "year", json_integer(tm.tm_year + 1900));
	json_object_set_new(data, "approvers", json_string(rb_buf_str(&who)));
	json_object_set_new(data, "approvals_required",
			    json_integer(inc.with_db && pol->required < 2 ? 2 : pol->required));
	json_object_set_new(data, "approval_timeout", json_string(tmo));
	json_object_set_new(data, "approval_skipped", json_boolean(pol->skip[inc.severity]));
	dry_run_plan(app, &inc, data);
	text = tmpl_render(app->tmpl, "dry_run", data);
	json_decref(data);
	rb_buf_free(&who);
	return text;
}

json_t *shell_ephemeral(const char *text)
{
	return json_pack("{s:s, s:s}", "response_type", "ephemeral", "text", text ? text : "");
}

static char *open_incident_text(const char *service, const char *id, const char *state);

/* The incident of `service` whose rollback is in progress in this process. */
static const struct app_inc *open_for_service(const struct app *app, const char *service)
{
	for (const struct app_inc *ai = app->incidents; ai; ai = ai->next)
		if (!strcmp(ai->inc.service, service) && inc_state_holds_service(ai->inc.state))
			return ai;
	return NULL;
}

struct app_inc *shell_find_incident(struct app *app, const char *id)
{
	for (struct app_inc *ai = app->incidents; ai; ai = ai->next)
		if (!strcmp(ai->inc.id, id))
			return ai;
	return NULL;
}

/* `/rollback status` with no ID: every incident in progress, one line each. */
static char *open_incidents_text(struct app *app)
{
	struct rb_buf b;
	char *out;
	int rc = 0;

	rb_buf_init(&b, 16000);
	for (struct app_inc *ai = app->incidents; ai && !rc; ai = ai->next) {
		char phase[128], elapsed[32];
		if (inc_state_is_final(ai->inc.state))
			continue;
		shell_phase_text(ai, phase, sizeof phase);
		report_duration((now_ms(app) - ai->inc.declared_ms) / 1000, elapsed, sizeof elapsed);
		rc = rb_buf_printf(&b, "%s• *%s* %s (%s): %s, for %s", b.len ? "\n" : "",
				   ai->inc.id, ai->inc.service, cmd_severity_name(ai->inc.severity),
				   phase, elapsed);
	}
	if (!rc && !b.len)
		rc = rb_buf_puts(&b, "No incident is in progress.");
	else if (!rc)
		rc = rb_buf_puts(&b, "\n`/rollback status INC-…` shows one in full.");
	out = rb_strdup(rc ? "Too many incidents in progress to list here." : rb_buf_str(&b));
	rb_buf_free(&b);
	return out;
}

/* What the ack path decided about an envelope, for ingress_dispatch_cb to act on
 * once the ack is written: a person is told one thing, and exactly that
 * happens. sm.c keeps it with the envelope and frees it (verdict_free_cb). */
enum verdict_kind {
	VERDICT_DUPLICATE, /* a redelivery: nothing to do */
	VERDICT_REJECTED,  /* `error` says why */
	VERDICT_HELP,
	VERDICT_DRY_RUN,
	VERDICT_ACCEPTED, /* a rollback to declare */
	VERDICT_STATUS,
	VERDICT_RESOLVE,
	VERDICT_CANCEL,
	VERDICT_REPORT,
	VERDICT_HISTORY,
};

/* As logged, and in the audit rows' dedupe keys. */
static const char *const verdict_names[] = {
	[VERDICT_DUPLICATE] = "duplicate",
	[VERDICT_REJECTED] = "rejected",
	[VERDICT_HELP] = "help",
	[VERDICT_DRY_RUN] = "dry_run",
	[VERDICT_ACCEPTED] = "accepted",
	[VERDICT_STATUS] = "status",
	[VERDICT_RESOLVE] = "resolve",
	[VERDICT_CANCEL] = "cancel",
	[VERDICT_REPORT] = "report",
	[VERDICT_HISTORY] = "history",
};

struct verdict {
	enum verdict_kind kind;
	bool in_ack; /* status: the ack carried the whole answer */
	char *error; /* rejected: what the person was told (owned) */
	struct cmd cmd; /* accepted and the subcommands: the command, parsed once */
};

/* A new verdict (free with verdict_free_cb). */
static struct verdict *verdict_new(enum verdict_kind kind)
{
	struct verdict *v = rb_calloc(1, sizeof *v);

	v->kind = kind;
	return v;
}

void ingress_verdict_free_cb(void *verdict)
{
	struct verdict *v = verdict;

	if (!v)
		return;
	free(v->error);
	free(v);
}

/* status, resolve, cancel, report and history: the ack, and in *verdict
 * what dispatch does afterwards (a new verdict). */
static json_t *subcommand_verdict(struct app *app, const struct cmd *cmd,
				  struct verdict **verdict)
{
	struct app_inc *ai = cmd->incident[0] ? shell_find_incident(app, cmd->incident) : NULL;
	struct verdict *v;
	json_t *ack = NULL;
	char *text;

	switch (cmd->kind) {
	case CMD_STATUS:
		v = verdict_new(VERDICT_STATUS);
		if (!cmd->incident[0]) {
			text = open_incidents_text(app);
			ack = shell_ephemeral(text);
			free(text);
			v->in_ack = true;
		} else if (ai && !cmd->post) {
			text = shell_status_text(ai, false);
			ack = shell_ephemeral(text);
			free(text);
			v->in_ack = true;
		}
		/* Else in the thread, or from the store: after the ack. */
		break;
	case CMD_RESOLVE:
	case CMD_CANCEL:
		v = verdict_new(cmd->kind == CMD_RESOLVE ? VERDICT_RESOLVE : VERDICT_CANCEL);
		break;
	case CMD_REPORT:
		v = verdict_new(VERDICT_REPORT);
		text = rb_asprintf("Building the report of %s from its audit log: it will be "
				   "uploaded in the incident's thread.", cmd->incident);
		ack = shell_ephemeral(text);
		free(text);
		break;
	default:
		v = verdict_new(VERDICT_HISTORY);
		break;
	}
	v->cmd = *cmd;
	*verdict = v;
	return ack;
}

/* Decides what a slash command means, without I/O. Leaves the verdict in
 * *verdict (a new one) and returns the ack payload (new reference). */
static json_t *slash_verdict(struct app *app, json_t *env, struct verdict **verdict)
{
	json_t *payload = json_object_get(env, "payload");
	const char *command = jstr(payload, "command");
	const char *channel = jstr(payload, "channel_id");
	const char *trigger = jstr(payload, "trigger_id");
	struct verdict *v = NULL;
	char err[CMD_ERR_LEN];
	struct cmd cmd;
	char *text = NULL;
	json_t *ack;
	int rc;

	if (trigger[0]) {
		char key[160];
		snprintf(key, sizeof key, "trigger:%s", trigger);
		if (dd_seen(app->dd, key, now_ms(app))) {
			*verdict = verdict_new(VERDICT_DUPLICATE);
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
		v = verdict_new(VERDICT_REJECTED);
		v->error = rb_strdup(err);
		ack = shell_ephemeral(err);
	} else if (cmd.kind == CMD_HELP) {
		v = verdict_new(VERDICT_HELP);
		ack = shell_ephemeral(cmd_usage());
	} else if (cmd.kind != CMD_ROLLBACK) {
		ack = subcommand_verdict(app, &cmd, &v);
	} else if (cmd.dry_run) {
		v = verdict_new(VERDICT_DRY_RUN);
		text = dry_run_text(app, &cmd, payload);
		ack = shell_ephemeral(text);
	} else if (open_for_service(app, cmd.service)) {
		const struct app_inc *o = open_for_service(app, cmd.service);
		text = open_incident_text(cmd.service, o->inc.id, inc_state_name(o->inc.state));
		v = verdict_new(VERDICT_REJECTED);
		v->error = rb_strdup(text);
		ack = shell_ephemeral(text);
	} else {
		struct incident inc;
		json_t *data;
		fill_incident_from_cmd(app, &cmd, payload, &inc);
		data = shell_incident_data(app, &inc);
		text = tmpl_render(app->tmpl, "accepted", data);
		json_decref(data);
		v = verdict_new(VERDICT_ACCEPTED);
		v->cmd = cmd;
		ack = shell_ephemeral(text);
	}
	free(text);
	*verdict = v;
	return ack;
}

json_t *ingress_ack_payload_cb(void *arg, json_t *env, void **verdict)
{
	struct app *app = arg;
	const char *type = jstr(env, "type");
	struct verdict *v = NULL;
	json_t *ack = NULL;
	char key[200];

	snprintf(key, sizeof key, "envelope:%s", jstr(env, "envelope_id"));
	if (dd_seen(app->dd, key, now_ms(app))) {
		*verdict = verdict_new(VERDICT_DUPLICATE);
		return NULL;
	}
	if (!strcmp(type, "slash_commands")) {
		ack = slash_verdict(app, env, &v);
	} else if (!strcmp(type, "events_api")) {
		/* The same event comes back in a new envelope when an ack was
		 * late: event_id is the key that survives that. */
		const char *event_id = jstr(json_object_get(env, "payload"), "event_id");
		snprintf(key, sizeof key, "event:%s", event_id);
		if (event_id[0] && dd_seen(app->dd, key, now_ms(app)))
			v = verdict_new(VERDICT_DUPLICATE);
	}
	*verdict = v;
	return ack;
}

/* ---- the incident in memory ---- */

/* The incident's free-text fields live after the struct that holds it, so
 * one allocation carries it and a copy never points into another's memory. */
size_t shell_strings_size(const struct incident *inc)
{
	return strlen(inc->reason) + 1 + strlen(inc->response_url) + 1;
}

/* Copies inc's strings to `to` (strings_size bytes) and points inc at them. */
void shell_own_strings(struct incident *inc, char *to)
{
	size_t n = strlen(inc->reason) + 1;

	memcpy(to, inc->reason, n);
	inc->reason = to;
	memcpy(to + n, inc->response_url, strlen(inc->response_url) + 1);
	inc->response_url = to + n;
}

struct app_inc *shell_inc_new(struct app *app, const struct incident *inc)
{
	struct app_inc *ai = rb_calloc(1, sizeof *ai + shell_strings_size(inc));

	ai->app = app;
	ai->inc = *inc;
	shell_own_strings(&ai->inc, ai->strings);
	ai->next = app->incidents;
	if (ai->next)
		ai->next->prev = ai;
	app->incidents = ai;
	return ai;
}

void shell_step_report_clear(struct step_report *r)
{
	free(r->title);
	free(r->command);
	free(r->tail);
	free(r->outcome);
	memset(r, 0, sizeof *r);
}

/* Frees every incident still in memory, whatever it waits for: for the end
 * of app_run, once the loop has closed (nothing can call back any more). */
void shell_incidents_free(struct app *app)
{
	while (app->incidents) {
		struct app_inc *ai = app->incidents;
		app->incidents = ai->next;
		plan_free(ai->plan);
		shell_step_report_clear(&ai->last);
		free(ai->last_step);
		free(ai->last_checks);
		free(ai->round);
		free(ai);
	}
}

void shell_inc_release(struct app_inc *ai)
{
	/* Until it ends, an incident has updates, rounds or reactions to wait
	 * for: it stays. */
	if (ai->pending > 0 || ai->has_deferred || !inc_state_is_final(ai->inc.state))
		return;
	plan_free(ai->plan);
	shell_step_report_clear(&ai->last);
	free(ai->last_step);
	free(ai->last_checks);
	free(ai->round);
	if (ai->prev)
		ai->prev->next = ai->next;
	else
		ai->app->incidents = ai->next;
	if (ai->next)
		ai->next->prev = ai->prev;
	free(ai);
}

/* Hands one event to the state machine, with the policy in force and the
 * bot's identity, and carries out what it decides. */
void shell_step(struct app_inc *ai, const struct inc_event *event)
{
	struct inc_actions acts;
	enum inc_state before = ai->inc.state;
	struct pol_policy pol;
	struct inc_timing timing;
	struct inc_event e = *event;
	const struct inc_event *ev = &e;
	int rc;

	approval_policy(ai->app, &ai->inc, &pol);
	approval_timing(ai->app, &ai->inc, &timing);
	e.policy = &pol;
	e.timing = &timing;
	e.bot_user = ai->app->bot_user_id;
	if (e.error && (e.kind == INC_EV_PLAN_FAILED || e.kind == INC_EV_STEP_DONE ||
			e.kind == INC_EV_VERIFIED || e.kind == INC_EV_STATUS_CHECKED ||
			e.kind == INC_EV_RESOLVE || e.kind == INC_EV_CANCEL))
		(void)rb_strlcpy(ai->problem, e.error, sizeof ai->problem);
	rc = inc_step(&ai->inc, ev, now_ms(ai->app), &ai->inc, &acts);

	if (rc) {
		ilog_error(&ai->inc, "event %d refused by the state machine (%d): a bug", ev->kind,
			   rc);
		return;
	}
	if (ai->inc.state != before)
		ilog_info(&ai->inc, "state %s -> %s", inc_state_name(before),
			  inc_state_name(ai->inc.state));
	perform(ai, &acts);
	shell_flush_deferred(ai);
}

/* An action that answered at once (a plan built without running anything)
 * left its event in ai->deferred: handle it now, after the actions that
 * came before it. */
void shell_flush_deferred(struct app_inc *ai)
{
	struct inc_event d;
	char text[sizeof ai->deferred_text], target[sizeof ai->deferred_target];

	if (!ai->has_deferred)
		return;
	d = ai->deferred;
	memcpy(text, ai->deferred_text, sizeof text);
	memcpy(target, ai->deferred_target, sizeof target);
	d.error = text;
	d.target = target;
	ai->has_deferred = false;
	shell_step(ai, &d);
}

/* Keeps `ev` (with copies of its error and target) for shell_step() to handle
 * once the current actions are done. */
void shell_defer(struct app_inc *ai, const struct inc_event *ev)
{
	RB_ASSERT(!ai->has_deferred);
	ai->deferred = *ev;
	(void)rb_strlcpy(ai->deferred_text, ev->error ? ev->error : "",
			 sizeof ai->deferred_text);
	(void)rb_strlcpy(ai->deferred_target, ev->target ? ev->target : "",
			 sizeof ai->deferred_target);
	ai->has_deferred = true;
}

/* ---- approval policy and plans, from the configuration ---- */

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
	shell_step(ai, &ev);
	/* While it waits for approval, an incident needs no plan: the request
	 * shows it, and CHECK_PLAN builds it again before anything runs. */
	if (ev.kind == INC_EV_POSTED && ev.msg == INC_MSG_APPROVAL_REQUEST &&
	    ai->inc.state == INC_AWAITING_APPROVAL && !ai->has_deferred) {
		plan_free(ai->plan);
		ai->plan = NULL;
	}
	shell_inc_release(ai);
}

/* "<@U1>, <@U2>" for a list of user IDs. */
static json_t *mention_list(const char (*ids)[POL_USER_MAX], int n)
{
	struct rb_buf b;
	json_t *j;
	int rc = 0;

	rb_buf_init(&b, 4096);
	for (int i = 0; i < n && !rc; i++)
		rc = rb_buf_printf(&b, "%s<@%s>", i ? (i == n - 1 ? " and " : ", ") : "", ids[i]);
	j = json_string(rc ? "the approvers" : rb_buf_str(&b));
	rb_buf_free(&b);
	return j;
}

/* Where the incident is, in words. */
void shell_phase_text(const struct app_inc *ai, char *out, size_t len)
{
	const struct incident *inc = &ai->inc;

	switch (inc->state) {
	case INC_DECLARED:
		snprintf(out, len, "declared, preparing the plan");
		break;
	case INC_AWAITING_APPROVAL:
		snprintf(out, len, "waiting for approval (%d given)", inc->pol.n_approved);
		break;
	case INC_APPROVED:
		snprintf(out, len, "approved, starting the rollback");
		break;
	case INC_ROLLING_BACK:
		snprintf(out, len, "rolling back: step %d/%d running", inc->next_step + 1,
			 inc->n_steps);
		break;
	case INC_VERIFYING:
		snprintf(out, len, "rolled back, verifying the service (%d round%s so far)",
			 inc->verify_rounds, inc->verify_rounds == 1 ? "" : "s");
		break;
	default:
		snprintf(out, len, "%s", inc_state_name(inc->state));
		break;
	}
}

/* What status updates, the completion and the end messages show. */
static void lifecycle_data(struct app_inc *ai, json_t *data)
{
	struct app *app = ai->app;
	const struct config_service *svc = config_service(app->cfg, ai->inc.service);
	static const struct verify_round none;
	const struct verify_round *r = ai->round ? ai->round : &none;
	char buf[128];

	report_duration((now_ms(app) - ai->inc.declared_ms) / 1000, buf, sizeof buf);
	json_object_set_new(data, "elapsed", json_string(buf));
	shell_phase_text(ai, buf, sizeof buf);
	json_object_set_new(data, "phase", json_string(buf));
	json_object_set_new(data, "approved_by_text",
			    ai->inc.pol.n_approved
				    ? mention_list((const char(*)[POL_USER_MAX])ai->inc.pol.approved_by,
						   ai->inc.pol.n_approved)
				    : json_string("nobody yet"));
	json_object_set_new(data, "last_step",
			    json_string(ai->last_step ? ai->last_step : "none has run yet"));
	json_object_set_new(data, "checks",
			    json_string(ai->last_checks && ai->last_checks[0]
						? ai->last_checks
						: ai->round ? "none configured: the method's own commands are the only check"
								: "not checked yet"));
	if (ai->inc.next_update_ms) {
		time_t t = time(NULL) + (time_t)((ai->inc.next_update_ms - now_ms(app)) / 1000);
		struct tm tm;
		gmtime_r(&t, &tm);
		strftime(buf, sizeof buf, "%H:%M:%S", &tm);
		json_object_set_new(data, "next_update", json_string(buf));
	}
	json_object_set_new(data, "resume_step", json_integer(ai->inc.next_step + 1));
	json_object_set_new(data, "interrupted", json_boolean(ai->inc.interrupted));
	json_object_set_new(data, "closed_by", json_string(ai->inc.closed_by));
	json_object_set_new(data, "note", json_string(ai->problem));
	if (svc) {
		shell_human_duration(svc->verify.window_ms, buf, sizeof buf);
		json_object_set_new(data, "verify_window", json_string(buf));
	}
	json_object_set_new(data, "health",
			    json_string(!ai->round || r->outcome[VERIFY_HEALTH] == VERIFY_NOT_RUN
						? "not checked (no health_url configured)"
					: r->outcome[VERIFY_HEALTH] == VERIFY_PASS
						? "health check passing"
						: r->detail[VERIFY_HEALTH]));
	if (ai->round && r->outcome[VERIFY_ERROR_RATE] != VERIFY_NOT_RUN)
		json_object_set_new(data, "error_rate", json_string(r->detail[VERIFY_ERROR_RATE]));
	if (ai->round && r->outcome[VERIFY_LATENCY] != VERIFY_NOT_RUN)
		json_object_set_new(data, "latency", json_string(r->detail[VERIFY_LATENCY]));
	if (!ai->health_checked) {
		json_object_set_new(data, "downtime",
				    json_string("not measured (no health_url configured)"));
	} else if (!ai->health_down_ms && !ai->health_down_since_ms) {
		json_object_set_new(data, "downtime",
				    json_string("none seen by the health checks after the rollback"));
	} else {
		int64_t down = ai->health_down_ms;
		char d[64], t[128];
		if (ai->health_down_since_ms)
			down += now_ms(app) - ai->health_down_since_ms;
		report_duration(down / 1000, d, sizeof d);
		snprintf(t, sizeof t, "health check failing for %s after the rollback", d);
		json_object_set_new(data, "downtime", json_string(t));
	}
	json_object_set_new(data, "has_metrics",
			    json_boolean(ai->round && (r->outcome[VERIFY_ERROR_RATE] != VERIFY_NOT_RUN ||
							   r->outcome[VERIFY_LATENCY] != VERIFY_NOT_RUN)));
}

/* What the approval and rollback messages show beyond the incident itself. */
static void message_data(struct app_inc *ai, json_t *data)
{
	struct pol_policy pol;
	struct pol_request req = { .channel = ai->inc.channel, .ts = ai->inc.approval_ts,
				   .requester = ai->inc.requested_by,
				   .bot_user = ai->app->bot_user_id,
				   .severity = ai->inc.severity, .with_db = ai->inc.with_db };
	char who[1024], tmo[64];
	int needed;

	approval_policy(ai->app, &ai->inc, &pol);
	needed = pol_needed(&pol, ai->inc.with_db);
	if (pol_mentions(&pol, &req, who, sizeof who))
		(void)rb_strlcpy(who, "the approvers", sizeof who);
	shell_human_duration(pol.timeout_ms, tmo, sizeof tmo);
	json_object_set_new(data, "approvers", json_string(who));
	json_object_set_new(data, "needed", json_integer(needed));
	json_object_set_new(data, "needed_plural", json_boolean(needed > 1));
	json_object_set_new(data, "timeout", json_string(tmo));
	json_object_set_new(data, "approved_by",
			    mention_list((const char(*)[POL_USER_MAX])ai->inc.pol.approved_by,
					 ai->inc.pol.n_approved));
	json_object_set_new(data, "rejected_by",
			    json_string(ai->inc.pol.rejected_by[0] ? "" : "an approver"));
	if (ai->inc.pol.rejected_by[0]) {
		char r[64];
		snprintf(r, sizeof r, "<@%s>", ai->inc.pol.rejected_by);
		json_object_set_new(data, "rejected_by", json_string(r));
	}
	json_object_set_new(data, "problem", json_string(ai->problem));
	json_object_set_new(data, "with_db", json_boolean(ai->inc.with_db));
	if (ai->plan) {
		char *d = plan_describe(ai->plan);
		json_object_set_new(data, "plan", json_string(d));
		free(d);
	}
	json_object_set_new(data, "n_steps", json_integer(ai->inc.n_steps));
	lifecycle_data(ai, data);
	if (ai->last.title) {
		json_object_set_new(data, "step_number", json_integer(ai->last.index + 1));
		json_object_set_new(data, "step_title", json_string(ai->last.title));
		json_object_set_new(data, "step_command", json_string(ai->last.command));
		json_object_set_new(data, "step_outcome", json_string(ai->last.outcome));
		json_object_set_new(data, "step_ok", json_boolean(ai->last.ok));
		if (ai->last.tail && ai->last.tail[0])
			json_object_set_new(data, "step_tail",
					    shell_json_text(ai->last.tail, strlen(ai->last.tail)));
	}
}

/* The status update, as posted every update interval or asked for with
 * /rollback status. Returns a new string. */
char *shell_status_text(struct app_inc *ai, bool scheduled)
{
	json_t *data = shell_incident_data(ai->app, &ai->inc);
	char *text;

	message_data(ai, data);
	if (scheduled)
		json_object_set_new(data, "update_number", json_integer(ai->inc.updates_posted));
	text = tmpl_render(ai->app->tmpl, "status_update", data);
	json_decref(data);
	return text ? text : rb_strdup("(the status could not be rendered: see rollbot's log)");
}

void shell_post(struct app_inc *ai, const struct inc_action *a)
{
	struct app *app = ai->app;
	json_t *data = shell_incident_data(app, &ai->inc);

	if (a->msg != INC_MSG_ANNOUNCEMENT)
		message_data(ai, data);
	if (a->msg == INC_MSG_STATUS_UPDATE && !ai->on_demand)
		json_object_set_new(data, "update_number", json_integer(ai->inc.updates_posted));
	char *text = tmpl_render(app->tmpl, inc_message_name(a->msg), data);
	struct post_ctx *pc;
	json_t *args;

	json_decref(data);
	if (!text) {
		struct inc_event ev = { .kind = INC_EV_POST_FAILED, .msg = a->msg,
					.error = "template_error" };
		shell_step(ai, &ev);
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
		shell_step(ai, &ev);
		return;
	}
	ai->pending++;
}

static void save_done_cb(void *arg, int err, const char *errmsg)
{
	struct app_inc *ai = arg;

	ai->pending--;
	if (err)
		ilog_error(&ai->inc, "could not save the incident: %s", errmsg ? errmsg : "?");
	shell_inc_release(ai);
}

/* Writes the incident as it is now (db_save_incident turns the deadlines
 * into wall-clock time). */
static void do_save(struct app_inc *ai)
{
	if (db_save_incident(ai->app->store, &ai->inc, now_ms(ai->app), ai->last_step,
			     ai->last_checks, save_done_cb, ai)) {
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

/* Answers the person who typed a command, privately, through the
 * command's response_url ("" = there is none: nothing is sent). */
void shell_reply_url(struct app *app, const char *url, const char *text)
{
	json_t *body;
	char *s;

	if (!url || !url[0])
		return;
	body = shell_ephemeral(text);
	s = json_dumps(body, JSON_COMPACT);
	json_decref(body);
	if (api_post_url(app->api, url, "application/json", s, strlen(s), notify_done_cb, NULL))
		log_warn("cannot queue a reply through response_url");
	free(s);
}

static void do_notify(struct app_inc *ai, const char *text)
{
	shell_reply_url(ai->app, ai->inc.response_url, text);
}

/* The dedupe key names this one row: the store re-sends the same text if
 * the connection breaks, and the database then keeps a single copy. Two
 * rows with the same content (two people's identical reactions) stay two. */
static void do_audit(struct app_inc *ai, const struct inc_action *a)
{
	json_t *detail = json_object();
	char key[160];

	for (int i = 0; i < 4 && a->keys[i]; i++)
		json_object_set_new(detail, a->keys[i], json_string(a->values[i]));
	snprintf(key, sizeof key, "%s:%s:%s:%llu", ai->inc.id, a->audit_kind, a->actor,
		 (unsigned long long)uv_hrtime());
	db_audit(ai->app->store, ai->inc.id, a->actor, a->audit_kind, detail, key);
}

/* ---- approval and the rollback's steps ---- */

/* A JSON string of `len` bytes of command output: NUL and bytes that are
 * not valid UTF-8 become '?', so that any output can be audited. */
json_t *shell_json_text(const char *p, size_t len)
{
	char *out = rb_malloc(len + 1);
	size_t o = 0;

	for (size_t i = 0; i < len;) {
		unsigned char c = (unsigned char)p[i];
		size_t n = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3
					: (c & 0xF8) == 0xF0 ? 4 : 0;
		bool ok = n > 0 && c != 0 && i + n <= len && !(n == 2 && c < 0xC2);

		for (size_t k = 1; ok && k < n; k++)
			ok = ((unsigned char)p[i + k] & 0xC0) == 0x80;
		if (!ok) {
			out[o++] = '?';
			i++;
			continue;
		}
		memcpy(out + o, p + i, n);
		o += n;
		i += n;
	}
	out[o] = '\0';
	json_t *j = json_stringn(out, o);
	free(out);
	return j ? j : json_string("?");
}

/* The answer to the person who typed a command: through the command's
 * response_url while it is being handled, else privately in the channel. */
static void do_reply(struct app_inc *ai, const struct inc_action *a)
{
	struct app *app = ai->app;

	if (app->reply_url && app->reply_url[0]) {
		shell_reply_url(app, app->reply_url, a->text);
		return;
	}
	approval_notify_user(ai, a);
}

static void perform(struct app_inc *ai, const struct inc_actions *acts)
{
	for (int i = 0; i < acts->n; i++) {
		const struct inc_action *a = &acts->a[i];
		switch (a->kind) {
		case INC_ACT_POST:
			shell_post(ai, a);
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
		case INC_ACT_NOTIFY_USER:
			approval_notify_user(ai, a);
			break;
		case INC_ACT_PREPARE_PLAN:
			steps_prepare_plan(ai);
			break;
		case INC_ACT_REACT:
			approval_react(ai, a->reaction);
			break;
		case INC_ACT_ARM_TIMER:
		case INC_ACT_CANCEL_TIMER:
			/* approval_sweep_cb reads the deadline from the incident. */
			break;
		case INC_ACT_CHECK_PLAN:
			steps_plan_and_defer(ai, INC_EV_PLAN_CHECKED);
			break;
		case INC_ACT_RUN_STEP:
			steps_run(ai, a->step);
			break;
		case INC_ACT_RECOUNT:
			approval_recount(ai);
			break;
		case INC_ACT_VERIFY:
			verifying_round(ai);
			break;
		case INC_ACT_STATUS_CHECK:
			verifying_status_check(ai);
			break;
		case INC_ACT_REPLY:
			do_reply(ai, a);
			break;
		case INC_ACT_REPORT:
			publish_incident_report(ai, a);
			break;
		}
	}
}

/* ---- dispatch: after the ack ---- */

/* "payments-api already has a rollback in progress: INC-2026-0001
 * (awaiting approval)…" from "INC-2026-0001" and "awaiting_approval". */
static char *open_incident_text(const char *service, const char *open_id,
				const char *open_state)
{
	char id[INC_ID_MAX], state[32];

	snprintf(id, sizeof id, "%s", open_id);
	(void)rb_strlcpy(state, open_state, sizeof state);
	for (char *p = state; *p; p++)
		if (*p == '_')
			*p = ' ';
	return rb_asprintf("*%s* already has a rollback in progress: %s (%s). rollbot runs one "
			   "rollback per service at a time; follow that incident's thread.",
			   service, id, state);
}

struct declare_ctx {
	struct app *app;
	struct incident inc;
	char strings[]; /* inc.reason and inc.response_url point here */
};

static void declare_done_cb(void *arg, int err, const char *errmsg, const struct db_declared *d)
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
	if (d->kind == DB_DECLARED_DUPLICATE) {
		log_info("slash command for %s was already processed (redelivery); ignored",
			 dc->inc.service);
		free(dc);
		return;
	}
	if (d->kind == DB_DECLARED_OPEN) {
		/* One rollback per service at a time: the database had one open
		 * that the ack path did not know of (another process, a restart). */
		char *text = open_incident_text(dc->inc.service, d->id, d->state);

		log_info("slash command for %s refused: %s", dc->inc.service, text);
		shell_reply_url(app, dc->inc.response_url, text);
		free(text);
		free(dc);
		return;
	}
	(void)rb_strlcpy(dc->inc.id, d->id, sizeof dc->inc.id);
	ai = shell_inc_new(app, &dc->inc);
	free(dc);
	app->declared++;
	ilog_info(&ai->inc, "declared by %s", ai->inc.requested_by);
	shell_step(ai, &ev);
	shell_inc_release(ai);
}

/* A command about one incident, once the incident is in memory. */
struct on_incident {
	struct app *app;
	enum verdict_kind kind; /* status, resolve or cancel */
	char id[INC_ID_MAX];
	char user[INC_SLACK_ID_MAX];
	bool post;
	char *note;
	char *response_url;
};

static void on_incident_run(struct on_incident *oi, struct app_inc *ai)
{
	struct app *app = oi->app;

	if (!ai) {
		char *t = rb_asprintf("There is no incident %s. `/rollback status` lists the ones "
				      "in progress.", oi->id);
		shell_reply_url(app, oi->response_url, t);
		free(t);
		return;
	}
	if (oi->kind == VERDICT_STATUS && !oi->post) {
		char *t = shell_status_text(ai, false);
		shell_reply_url(app, oi->response_url, t);
		free(t);
	} else if (oi->kind == VERDICT_STATUS) {
		struct inc_action a = { .kind = INC_ACT_POST, .msg = INC_MSG_STATUS_UPDATE,
					.in_thread = true };
		ai->on_demand = true;
		shell_post(ai, &a);
		ai->on_demand = false;
	} else {
		struct inc_event ev = { .kind = oi->kind == VERDICT_RESOLVE ? INC_EV_RESOLVE
									    : INC_EV_CANCEL,
					.user = oi->user, .error = oi->note };
		app->reply_url = oi->response_url;
		shell_step(ai, &ev);
		app->reply_url = NULL;
	}
	shell_inc_release(ai);
}

static void on_incident_free(struct on_incident *oi)
{
	free(oi->note);
	free(oi->response_url);
	free(oi);
}

static void incident_loaded_cb(void *arg, int err, const char *errmsg,
			       const struct db_incident *rows, size_t n)
{
	struct on_incident *oi = arg;
	struct app_inc *ai = shell_find_incident(oi->app, oi->id);

	if (err) {
		log_error("store: could not load %s: %s", oi->id, errmsg ? errmsg : "?");
		shell_reply_url(oi->app, oi->response_url,
			  "rollbot could not read its database just now; try again in a minute.");
	} else {
		/* Loaded meanwhile (the start-up load): use that copy. */
		if (!ai && n == 1)
			ai = resume_incident(oi->app, &rows[0]);
		on_incident_run(oi, ai);
	}
	on_incident_free(oi);
}

/* Incidents in progress are in memory; closed ones (a failed one being
 * resolved by hand, the status of an old one) come from the store. */
static void dispatch_on_incident(struct app *app, const struct verdict *v, const char *user,
				 const char *response_url)
{
	struct on_incident *oi = rb_calloc(1, sizeof *oi);
	struct app_inc *ai;

	oi->app = app;
	oi->kind = v->kind;
	(void)rb_strlcpy(oi->id, v->cmd.incident, sizeof oi->id);
	(void)rb_strlcpy(oi->user, user, sizeof oi->user);
	oi->post = v->cmd.post;
	/* The note of resolve, the reason of cancel. */
	oi->note = rb_strdup(v->kind == VERDICT_STATUS ? "" : v->cmd.reason);
	oi->response_url = rb_strdup(response_url);
	ai = shell_find_incident(app, oi->id);
	if (ai) {
		on_incident_run(oi, ai);
		on_incident_free(oi);
		return;
	}
	if (db_load_incident(app->store, oi->id, incident_loaded_cb, oi)) {
		log_error("store: cannot queue the load of %s", oi->id);
		on_incident_free(oi);
	}
}

/* A valid /rollback: rollbot_declare() records it (with its
 * command_received row, `detail`, stolen), and declare_done_cb starts the
 * incident. */
static void dispatch_declare(struct app *app, json_t *env, const struct cmd *cmd,
			     json_t *detail)
{
	json_t *payload = json_object_get(env, "payload");
	const char *trigger = jstr(payload, "trigger_id");
	char *dkey = rb_asprintf("slash:%s", trigger[0] ? trigger : jstr(env, "envelope_id"));
	struct declare_ctx *dc;
	struct incident inc;
	char *cmdjson;

	fill_incident_from_cmd(app, cmd, payload, &inc);
	dc = rb_malloc(sizeof *dc + shell_strings_size(&inc));
	dc->app = app;
	dc->inc = inc;
	shell_own_strings(&dc->inc, dc->strings);
	json_object_set_new(detail, "service", json_string(cmd->service));
	json_object_set_new(detail, "target", json_string(cmd->target));
	json_object_set_new(detail, "severity", json_string(cmd_severity_name(dc->inc.severity)));
	json_object_set_new(detail, "reason", json_string(cmd->reason));
	cmdjson = json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS);
	if (db_declare(app->store, dkey, &dc->inc, cmdjson, declare_done_cb, dc)) {
		log_error("store: cannot queue the declaration for %s", cmd->service);
		free(dc);
	}
	free(cmdjson);
	free(dkey);
	json_decref(detail);
}

/* Acts on a slash command's verdict (never a duplicate: ingress_dispatch_cb drops
 * those), and records it in the audit log. */
static void dispatch_slash(struct app *app, json_t *env, const struct verdict *v)
{
	json_t *payload = json_object_get(env, "payload");
	const char *outcome = verdict_names[v->kind];
	const char *user = jstr(payload, "user_id");
	const char *response_url = jstr(payload, "response_url");
	json_t *detail = json_pack("{s:s, s:s, s:s, s:s, s:s}", "command", jstr(payload, "command"),
				   "text", jstr(payload, "text"), "channel",
				   jstr(payload, "channel_id"), "envelope_id",
				   jstr(env, "envelope_id"), "trigger_id",
				   jstr(payload, "trigger_id"));

	log_info("slash command user=%s channel=%s outcome=%s", user, jstr(payload, "channel_id"),
		 outcome);
	/* Keyed by envelope, so a replay after a lost connection adds no row. */
	char *key = rb_asprintf("%s:%s", outcome, jstr(env, "envelope_id"));

	switch (v->kind) {
	case VERDICT_REJECTED:
		json_object_set_new(detail, "error", json_string(v->error));
		db_audit(app->store, NULL, user, "command_rejected", detail, key);
		break;
	case VERDICT_HELP:
		db_audit(app->store, NULL, user, "command_received", detail, key);
		break;
	case VERDICT_ACCEPTED:
		dispatch_declare(app, env, &v->cmd, detail);
		break;
	case VERDICT_REPORT:
		db_audit(app->store, NULL, user, "command_received", detail, key);
		publish_report(app, v->cmd.incident, false, response_url);
		break;
	case VERDICT_HISTORY:
		db_audit(app->store, NULL, user, "command_received", detail, key);
		history_start(app, v->cmd.service, response_url);
		break;
	case VERDICT_STATUS:
	case VERDICT_RESOLVE:
	case VERDICT_CANCEL:
		if (v->in_ack) {
			json_decref(detail); /* the ack answered it: nothing to record */
			break;
		}
		db_audit(app->store, NULL, user, "command_received", detail, key);
		dispatch_on_incident(app, v, user, response_url);
		break;
	case VERDICT_DRY_RUN:
	case VERDICT_DUPLICATE:
		json_decref(detail); /* dry_run records nothing; duplicates were handled */
		break;
	}
	free(key);
}

/* A reaction counts only on an approval request rollbot is waiting on;
 * every other reaction in the channel is none of its business, but 📌. */
static void dispatch_reaction(struct app *app, json_t *event, const char *event_id, bool added)
{
	json_t *item = json_object_get(event, "item");
	const char *ts = jstr(item, "ts"), *channel = jstr(item, "channel");
	struct inc_event ev = { .kind = INC_EV_REACTION, .added = added };

	if (strcmp(jstr(item, "type"), "message") || !ts[0])
		return;
	if (pol_emoji_is(jstr(event, "reaction"), "pushpin")) {
		if (strcmp(jstr(event, "user"), app->bot_user_id))
			pins_dispatch(app, event, event_id, added);
		return;
	}
	for (struct app_inc *ai = app->incidents; ai; ai = ai->next) {
		if (strcmp(ai->inc.approval_ts, ts) || strcmp(ai->inc.channel, channel))
			continue;
		ev.user = jstr(event, "user");
		ev.reaction = jstr(event, "reaction");
		ev.channel = channel;
		ev.ts = ts;
		shell_step(ai, &ev);
		shell_inc_release(ai);
		return;
	}
	log_debug("reaction on %s %s: not an approval request rollbot waits on", channel, ts);
}

/* After the ack: acts on what ingress_ack_payload_cb decided (`verdict`, borrowed;
 * every slash command has one, other envelopes only when they are
 * duplicates). */
void ingress_dispatch_cb(void *arg, json_t *env, void *verdict)
{
	struct app *app = arg;
	const struct verdict *v = verdict;
	const char *type = jstr(env, "type");

	if (v && v->kind == VERDICT_DUPLICATE) {
		log_info("envelope %s of type %s is a redelivery; ignored", jstr(env, "envelope_id"),
			 type);
		return;
	}
	if (!strcmp(type, "slash_commands")) {
		RB_ASSERT(v);
		dispatch_slash(app, env, v);
	} else if (!strcmp(type, "events_api")) {
		json_t *event = json_object_get(json_object_get(env, "payload"), "event");
		const char *etype = jstr(event, "type");

		if (!strcmp(etype, "reaction_added") || !strcmp(etype, "reaction_removed"))
			dispatch_reaction(app, event,
					  jstr(json_object_get(env, "payload"), "event_id"),
					  !strcmp(etype, "reaction_added"));
		else
			log_debug("event %s ignored", etype[0] ? etype : "(none)");
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
	app->api = api_new(&app->loop, &ao);
	app->store = store_new(&app->loop, opt->database_url);
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
	shell_incidents_free(app);
	dd_free(app->dd);
	approval_groups_free(app);
	free(app->services);
	tmpl_free(app->tmpl);
	free(app);
	log_info("stopped");
	return rc;
}
