/* rollbot — proposals: a rollback offered in the incidents channel, started
 * by one ✅ (MIT licence, see LICENSE).
 *
 * Recorded, then said: the last deploy is read first (bot/lastdeploy.c,
 * best effort), then rollbot_propose() records the proposal with its
 * rendered post (and an audit row) in one statement; only then is it
 * posted (bot/chanpost.c, which also carries on a post a crash left
 * unmade), and its ts recorded, which is what a ✅ finds it by. A replica
 * whose insert finds the episode open says nothing: one proposal per
 * episode, whichever replica saw it first.
 *
 * A ✅ takes it with one conditional UPDATE (rollbot_take_proposal): the
 * first reaction declares the incident as its author, through
 * rollbot_declare_by() like a typed /rollback, with the command the
 * proposal showed, parsed by the same parser; later ones, and any after
 * the expiry, get a private note.
 */
#include "proposal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../commands/parse.h"
#include "../commands/report.h"
#include "api.h"
#include "chanpost.h"
#include "db.h"
#include "db_proposal.h"
#include "lastdeploy.h"
#include "log.h"
#include "tmpl.h"

#define DECLARE_DEADLINE_S 30
#define LAST_DEPLOY_MAX_MS 5000 /* the history command, for the proposal */

static int64_t wall_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* As every clock time in messages: in display_timezone, with its zone. */
void proposal_clock(int64_t wall_ms, char *out, size_t len)
{
	report_local_clock(wall_ms, out, len);
}

/* ---- offering ---- */

struct posting {
	struct app *app;
	json_t *args; /* chat.postMessage's, as recorded */
	char service[CMD_SERVICE_MAX];
	int64_t id;
};

static void posted_cb(void *arg, const struct api_result *res)
{
	struct posting *p = arg;
	const char *ts = json_string_value(json_object_get(res->body, "ts"));

	/* chanpost.c has recorded the ts, or why it could not be posted. */
	if (res->ok && ts)
		log_info("proposal %lld for %s posted", (long long)p->id, p->service);
	else if (chanpost_left_open(res))
		log_warn("proposal %lld for %s not posted yet (%s): left for the replica that "
			 "claims it next",
			 (long long)p->id, p->service, res->error);
	else
		log_error("proposal %lld for %s could not be posted: %s", (long long)p->id,
			  p->service, res->error ? res->error : "?");
	json_decref(p->args);
	free(p);
}

static void proposed_cb(void *arg, int err, const char *errmsg, enum db_propose_word w,
			int64_t id)
{
	struct posting *p = arg;

	if (err) {
		log_error("store: the proposal for %s was not recorded, so it is not posted: %s",
			  p->service, errmsg ? errmsg : "?");
	} else if (w == DB_OPEN_EPISODE) {
		log_info("watcher: %s already has a proposal in this episode; nothing posted",
			 p->service);
	} else if (w == DB_OPEN_INCIDENT) {
		log_info("watcher: %s has an incident in progress; no proposal", p->service);
	} else {
		p->id = id;
		escalation_proposal_changed(p->app); /* PagerDuty, after the record */
		chanpost_send(p->app, DB_CHANPOST_PROPOSAL, id, p->args, NULL, posted_cb, p);
		return;
	}
	json_decref(p->args);
	free(p);
}

/* "payments-api --severity P1 --reason \"watcher: …\"": what a ✅ runs. */
static char *command_text(const struct proposal_offer *o)
{
	return rb_asprintf("%s --severity %s --reason \"%s: %s\"", o->service, o->severity,
			   !strcmp(o->source, "alertmanager") ? "Alertmanager" : "watcher",
			   o->summary);
}

/* Records the offer, with the last deploy read (or why not), then posts it. */
static void record_offer(struct app *app, const struct proposal_offer *o, const char *last_deploy,
			 int64_t offered_ms)
{
	/* The watcher counts the expiry from its decision (offered_ms): the
	 * record's, in whole seconds, ends no later, so that a ✅ the watcher
	 * would call late is refused by the database too. */
	int64_t left_ms = offered_ms + o->expiry_ms - wall_ms();
	struct posting *p;
	struct db_proposal dp;
	char expires[32], *command, *text, *args_s, *fig_s;
	json_t *data;

	if (app->cfg->n_channels == 0)
		return;
	command = command_text(o);
	proposal_clock(offered_ms + o->expiry_ms, expires, sizeof expires);
	data = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "service", o->service,
			 "seen_by",
			 !strcmp(o->source, "alertmanager") ? "an Alertmanager alert" :
							      "the watcher",
			 "summary", o->summary, "figures", o->figures, "severity", o->severity,
			 "command", command, "expires", expires, "last_deploy", last_deploy);
	text = tmpl_render(app->tmpl, "proposal", data);
	json_decref(data);
	if (!text) {
		free(command);
		return;
	}
	p = rb_calloc(1, sizeof *p);
	p->app = app;
	(void)rb_strlcpy(p->service, o->service, sizeof p->service);
	p->args = chanpost_args(app, app->cfg->channels[0], text, "proposal", o->service);
	args_s = json_dumps(p->args, JSON_COMPACT | JSON_SORT_KEYS);
	fig_s = o->figures_json ? json_dumps(o->figures_json, JSON_COMPACT | JSON_SORT_KEYS) :
				  rb_strdup("{}");
	dp = (struct db_proposal){
		.service = o->service,
		.source = o->source,
		.trigger = o->trigger,
		.summary = o->summary,
		.figures_json = fig_s,
		.severity = o->severity,
		.command = command,
		.detected_s = o->detected_wall_ms / 1000,
		.expires_s = left_ms >= 2000 ? left_ms / 1000 : 1,
		.replica = app->owner,
		.channel = app->cfg->channels[0],
		.args_json = args_s,
	};
	if (db_propose(app->store, &dp, proposed_cb, p)) {
		log_error("store: cannot queue the proposal for %s", o->service);
		json_decref(p->args);
		free(p);
	}
	free(args_s);
	free(fig_s);
	free(text);
	free(command);
}

/* An offer waiting for its last deploy: its strings, owned. */
struct offering {
	struct app *app;
	int64_t offered_ms; /* wall clock */
	struct proposal_offer o;
	char *service, *source, *trigger, *summary, *figures, *severity;
};

static void offering_free(struct offering *of)
{
	json_decref(of->o.figures_json);
	free(of->service);
	free(of->source);
	free(of->trigger);
	free(of->summary);
	free(of->figures);
	free(of->severity);
	free(of);
}

static void last_deploy_cb(void *arg, const struct lastdeploy *d)
{
	struct offering *of = arg;
	char text[384];

	if (d->known) {
		lastdeploy_text(d, text, sizeof text);
	} else {
		snprintf(text, sizeof text, "not known (%s)", d->why);
		log_warn("proposal for %s: the last deploy is not known: %s", of->service, d->why);
	}
	if (!of->app->stopping)
		record_offer(of->app, &of->o, text, of->offered_ms);
	offering_free(of);
}

/* The last deploy first (best effort, LAST_DEPLOY_MAX_MS at most: the
 * proposal goes out without it rather than late), then the record. */
void proposal_offer(struct app *app, const struct proposal_offer *o)
{
	struct offering *of;
	struct lastdeploy d;

	if (app->cfg->n_channels == 0)
		return;
	of = rb_calloc(1, sizeof *of);
	of->app = app;
	of->offered_ms = wall_ms();
	of->o = *o;
	of->o.service = of->service = rb_strdup(o->service);
	of->o.source = of->source = rb_strdup(o->source);
	of->o.trigger = of->trigger = rb_strdup(o->trigger);
	of->o.summary = of->summary = rb_strdup(o->summary);
	of->o.figures = of->figures = rb_strdup(o->figures);
	of->o.severity = of->severity = rb_strdup(o->severity);
	of->o.figures_json = o->figures_json ? json_incref(o->figures_json) : NULL;
	if (lastdeploy_read(app, o->service, LAST_DEPLOY_MAX_MS, &d, last_deploy_cb, of))
		last_deploy_cb(of, &d);
}

/* Carries on the post of a proposal recorded before a restart (chanpost.c
 * claimed it): found_ts when it went out then, else posted now. */
void proposal_repost(struct app *app, int64_t id, const char *service, const json_t *args,
		     const char *found_ts)
{
	struct posting *p = rb_calloc(1, sizeof *p);

	p->app = app;
	p->id = id;
	(void)rb_strlcpy(p->service, service, sizeof p->service);
	chanpost_send(app, DB_CHANPOST_PROPOSAL, id, args, found_ts, posted_cb, p);
}

/* ---- taking ---- */

struct taking {
	struct app *app;
	char channel[INC_SLACK_ID_MAX];
	char user[INC_SLACK_ID_MAX];
	int64_t id;
	json_t *detected; /* the `detected` row's detail */
	struct incident inc;
	char reason[CMD_REASON_MAX];
};

static void note_sent_cb(void *arg, const struct api_result *res)
{
	(void)arg;
	if (!res->ok)
		log_warn("chat.postEphemeral (a proposal's note) failed: %s",
			 res->error ? res->error : "?");
}

static void note(struct app *app, const char *channel, const char *user, json_t *data)
{
	char *text = tmpl_render(app->tmpl, "proposal_note", data);

	if (text && api_call(app->api, "chat.postEphemeral",
			     json_pack("{s:s, s:s, s:s}", "channel", channel, "user", user, "text",
				       text),
			     note_sent_cb, NULL))
		log_warn("cannot queue chat.postEphemeral");
	free(text);
}

static void refused(struct taking *tk, const char *why)
{
	json_t *d = json_pack("{s:s, s:s, s:b}", "service", tk->inc.service, "why", why,
			      "refused", 1);

	note(tk->app, tk->channel, tk->user, d);
	json_decref(d);
}

static void taking_free(struct taking *tk)
{
	json_decref(tk->detected);
	free(tk);
}

/* As declare_done_cb (ingress.c) for a typed command, plus the detection:
 * its audit row goes first, so the incident's timeline starts with it. */
static void declared_cb(void *arg, int err, const char *errmsg, const struct db_declared *d)
{
	struct taking *tk = arg;
	struct app *app = tk->app;
	struct inc_event ev = { .kind = INC_EV_DECLARED };
	struct app_inc *ai;
	char *key;

	if (err || d->kind == DB_DECLARED_LATE) {
		log_error("store: the incident from proposal %lld was not declared: %s",
			  (long long)tk->id, err ? (errmsg ? errmsg : "?") : "late");
		refused(tk, "rollbot could not record it in its database. Type the command "
			    "yourself, or roll back by hand with the runbook.");
		taking_free(tk);
		return;
	}
	if (d->kind == DB_DECLARED_DUPLICATE) {
		taking_free(tk);
		return;
	}
	if (d->kind == DB_DECLARED_OPEN) {
		char *why = rb_asprintf("the service has an incident in progress, %s.", d->id);

		refused(tk, why);
		free(why);
		taking_free(tk);
		return;
	}
	(void)rb_strlcpy(tk->inc.id, d->id, sizeof tk->inc.id);
	key = rb_asprintf("detected:%lld", (long long)tk->id);
	db_audit(app->store, d->id, "rollbot", "detected", json_incref(tk->detected), key);
	free(key);
	db_proposal_incident(app->store, tk->id, d->id);
	ai = shell_inc_new(app, &tk->inc);
	ai->fence = 1; /* rollbot_declare_by: a new incident is its declarer's */
	app->declared++;
	ilog_info(&ai->inc, "declared by %s from proposal %lld", ai->inc.requested_by,
		  (long long)tk->id);
	shell_step(ai, &ev);
	shell_inc_release(ai);
	taking_free(tk);
}

/* The proposal's command, parsed as if `user` had typed it. */
static void declare(struct taking *tk, const struct db_taken *t)
{
	struct app *app = tk->app;
	const struct config_service *svc = config_service(app->cfg, t->service);
	char err[CMD_ERR_LEN], *cmdjson, *dkey;
	struct cmd cmd;
	json_t *detail;

	if (!svc || cmd_parse(t->command, app->services, app->cfg->n_services, &cmd, err,
			      sizeof err)) {
		log_error("proposal %lld: its command no longer parses: %s", (long long)tk->id,
			  svc ? err : "service gone");
		refused(tk, "its command is no longer valid (the configuration changed). Type "
			    "`/rollback` yourself.");
		taking_free(tk);
		return;
	}
	memset(&tk->inc, 0, sizeof tk->inc);
	tk->inc.state = INC_DECLARED;
	(void)rb_strlcpy(tk->inc.service, cmd.service, sizeof tk->inc.service);
	tk->inc.method = svc->method;
	tk->inc.severity = cmd.severity == CMD_SEV_UNSET ?
				   (enum cmd_severity)app->cfg->default_severity :
				   cmd.severity;
	(void)rb_strlcpy(tk->inc.target, cmd.target, sizeof tk->inc.target);
	(void)rb_strlcpy(tk->reason, cmd.reason, sizeof tk->reason);
	tk->inc.reason = tk->reason;
	(void)rb_strlcpy(tk->inc.requested_by, tk->user, sizeof tk->inc.requested_by);
	(void)rb_strlcpy(tk->inc.channel, tk->channel, sizeof tk->inc.channel);
	tk->inc.response_url = "";
	tk->inc.declared_ms = now_ms(app);
	tk->detected = json_pack("{s:s, s:s, s:s, s:s, s:I}", "source", t->source, "at",
				 t->detected_at, "summary", t->summary, "trigger", t->trigger,
				 "proposal", (json_int_t)t->id);
	json_object_set_new(tk->detected, "figures",
			    json_loads(t->figures_json, JSON_DECODE_ANY, NULL));
	detail = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:I}", "command", "/rollback", "text",
			   t->command, "channel", tk->channel, "source", "proposal", "service",
			   cmd.service, "severity", cmd_severity_name(tk->inc.severity), "proposal",
			   (json_int_t)t->id);
	json_object_set_new(detail, "reason", json_string(cmd.reason));
	cmdjson = json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(detail);
	dkey = rb_asprintf("proposal:%lld", (long long)t->id);
	if (db_declare(app->store, dkey, &tk->inc, cmdjson,
		       (int64_t)time(NULL) + DECLARE_DEADLINE_S, app->owner, declared_cb, tk)) {
		log_error("store: cannot queue the declaration from proposal %lld",
			  (long long)t->id);
		taking_free(tk);
	}
	free(dkey);
	free(cmdjson);
}

static void taken_cb(void *arg, int err, const char *errmsg, const struct db_taken *t)
{
	struct taking *tk = arg;
	char expires[32];
	int64_t ms;
	json_t *d;

	if (err) {
		log_error("store: a ✅ on a possible proposal was not looked up: %s",
			  errmsg ? errmsg : "?");
	} else if (t->word == DB_TAKE_TAKEN) {
		tk->id = t->id;
		log_info("proposal %lld for %s started by %s", (long long)t->id, t->service,
			 tk->user);
		escalation_proposal_changed(tk->app); /* PagerDuty: resolved */
		declare(tk, t);
		return;
	} else if (t->word == DB_TAKE_EXPIRED || t->word == DB_TAKE_ALREADY) {
		if (t->word == DB_TAKE_ALREADY && !strcmp(t->taken_by, tk->user)) {
			taking_free(tk); /* their own ✅ again (a redelivery): nothing to say */
			return;
		}
		ms = 0;
		if (strlen(t->expires_at) >= 19) {
			struct tm tm = { 0 };

			if (strptime(t->expires_at, "%Y-%m-%dT%H:%M:%S", &tm))
				ms = (int64_t)timegm(&tm) * 1000;
		}
		proposal_clock(ms, expires, sizeof expires);
		d = json_pack("{s:s, s:s, s:s, s:s, s:b, s:b}", "service", t->service, "expires",
			      expires, "command", t->command, "taken_by", t->taken_by, "expired",
			      t->word == DB_TAKE_EXPIRED, "already", t->word == DB_TAKE_ALREADY);
		note(tk->app, tk->channel, tk->user, d);
		json_decref(d);
	}
	taking_free(tk);
}

void proposal_reaction(struct app *app, const char *channel, const char *ts, const char *user)
{
	struct taking *tk = rb_calloc(1, sizeof *tk);

	tk->app = app;
	(void)rb_strlcpy(tk->channel, channel, sizeof tk->channel);
	(void)rb_strlcpy(tk->user, user, sizeof tk->user);
	if (db_take_proposal(app->store, channel, ts, user, taken_cb, tk)) {
		log_error("store: cannot queue the look-up of a ✅");
		taking_free(tk);
	}
}
