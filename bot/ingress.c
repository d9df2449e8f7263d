/* rollbot — envelopes in: the ack, then dispatch (MIT licence, see LICENSE).
 *
 * DESIGN
 *
 * Envelopes arrive from sm.c in two calls. ingress_ack_payload_cb runs while
 * the envelope is being received and must answer at once, without I/O: it
 * recognises a redelivery (dedupe), and for a slash command parses the text
 * and the channel to build the ephemeral answer (help, an error, the dry-run
 * plan, the status, or "recording…"). It leaves its verdict (struct verdict:
 * an outcome and the command as parsed) with sm.c, which hands it to
 * ingress_dispatch_cb once the ack is written, so that dispatch acts on
 * exactly what the person was told and no command is parsed twice.
 *
 * A valid /rollback becomes one call of rollbot_declare() in PostgreSQL
 * (db_declare), which records the delivery key (a restart-proof dedupe),
 * numbers the incident and writes its first audit rows atomically. Its
 * answer starts the incident in memory (shell.c). A command about one
 * incident (status, resolve, cancel) acts on it in memory, or loads it from
 * the store when it is not there. A reaction goes to the incident whose
 * approval request it is on, and a 📌 to pins.c.
 */
#include "shell.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../commands/dedupe.h"
#include "../commands/parse.h"
#include "../commands/plan.h"
#include "../commands/policy.h"
#include "../commands/report.h"
#include "db.h"
#include "log.h"
#include "proposal.h"
#include "store.h"
#include "tmpl.h"
#include "tools.h"

/* ---- slash commands: the verdict, computed in the ack path ---- */

static enum cmd_severity effective_severity(const struct app *app, enum cmd_severity s)
{
	return s == CMD_SEV_UNSET ? (enum cmd_severity)app->cfg->default_severity : s;
}

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
	/* No incident is declared, so none has an ID yet: the plan (a script
	 * gets it as ROLLBOT_INCIDENT) is built with a well-formed stand-in,
	 * which the text never shows ("INC-…" would fail its checks). */
	in.incident_id = "INC-DRY-RUN";
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

/* The first program the rollback of cmd's service runs that this machine
 * lacks, or NULL; looked for anew each time (stat calls), so a program
 * installed since start counts. */
static const char *tool_missing(const struct app *app, const struct cmd *cmd)
{
	const struct config_service *svc = config_service(app->cfg, cmd->service);

	return svc ? tools_missing(svc, cmd->with_db, NULL) : NULL;
}

static void tool_missing_data(const struct app *app, const struct cmd *cmd, json_t *data)
{
	const char *prog = tool_missing(app, cmd);
	char why[RB_ERR_LEN];

	if (prog)
		json_object_set_new(data, "tool_missing",
				    json_string(tools_why(prog, NULL, why, sizeof why)));
}

/* Refused before anything is announced: the rollback would stop at its
 * first command, after everyone was called in. Returns true with what to
 * tell the person in *text; false when every program is there. */
static bool tool_refused(const struct app *app, const struct cmd *cmd, char **text)
{
	const char *prog = tool_missing(app, cmd);
	char why[RB_ERR_LEN];

	if (!prog)
		return false;
	*text = rb_asprintf("rollbot cannot roll back %s from here: %s. Nothing was announced "
			    "or run. Install it where rollbot runs (or correct %s in the "
			    "configuration), then run /rollback again.",
			    cmd->service, tools_why(prog, NULL, why, sizeof why), cmd->service);
	return true;
}

/* A request only the fallback approvers can make up goes to them at once
 * (policy.h pol_short_handed): the dry run says so, with who and why. */
static void short_handed_data(const struct app *app, const struct incident *inc, json_t *data)
{
	struct pol_policy p;
	struct pol_request req = { .requester = inc->requested_by, .with_db = inc->with_db };
	char fb[1024];
	char *why;

	approval_policy(app, inc, &p);
	if (pol_skip_approval(&p, inc->severity, inc->with_db) || !pol_short_handed(&p, &req))
		return;
	if (pol_fallback_mentions(&p, &req, fb, sizeof fb) || !fb[0])
		(void)rb_strlcpy(fb, "the on-call lead", sizeof fb);
	why = approval_short_handed_text(app, inc);
	json_object_set_new(data, "short_handed", json_true());
	json_object_set_new(data, "fallback", json_string(fb));
	json_object_set_new(data, "short_handed_why", json_string(why));
	free(why);
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
	short_handed_data(app, &inc, data);
	dry_run_plan(app, &inc, data);
	tool_missing_data(app, cmd, data);
	text = tmpl_render(app->tmpl, "dry_run", data);
	json_decref(data);
	rb_buf_free(&who);
	return text;
}

char *ingress_dry_run_text(struct app *app, const struct cmd *cmd, json_t *payload)
{
	return dry_run_text(app, cmd, payload);
}

static char *open_incident_text(const char *service, const char *id, const char *state);

/* The answer to a /rollback that cannot be recorded. */
#define NO_DATABASE_TEXT                                                                       \
	"rollbot cannot reach its database right now, so it cannot record this rollback: "     \
	"nothing was declared and nothing will run. Try again in a minute; if it still "       \
	"fails, roll back by hand with the runbook."

/* The incident of `service` whose rollback is in progress in this process. */
static const struct app_inc *open_for_service(const struct app *app, const char *service)
{
	for (const struct app_inc *ai = app->incidents; ai; ai = ai->next)
		if (!strcmp(ai->inc.service, service) && inc_state_holds_service(ai->inc.state))
			return ai;
	return NULL;
}

/* A state's name as words: "awaiting_approval" → "awaiting approval". */
static void state_words(const char *state, char *out, size_t len)
{
	(void)rb_strlcpy(out, state, len);
	for (char *p = out; *p; p++)
		if (*p == '_')
			*p = ' ';
}

/* `/rollback status` with no ID: every incident in progress, one line each. */
static char *open_incidents_text(struct app *app)
{
	struct rb_buf b;
	char *out;
	int rc = 0;

	/* Within a message's 40,000 characters; over an ack's 20 KB, fit_ack
	 * sends it through response_url. */
	rb_buf_init(&b, 39000);
	for (struct app_inc *ai = app->incidents; ai && !rc; ai = ai->next) {
		char phase[160], elapsed[32];
		if (inc_state_is_final(ai->inc.state))
			continue;
		shell_phase_text(ai, phase, sizeof phase);
		report_span(now_ms(app) - ai->inc.declared_ms, elapsed, sizeof elapsed);
		rc = rb_buf_printf(&b, "%s• *%s* %s (%s): %s, for %s", b.len ? "\n" : "",
				   ai->inc.id, ai->inc.service, cmd_severity_name(ai->inc.severity),
				   phase, elapsed);
	}
	/* Those another replica carries, as its last heartbeat showed them. */
	for (size_t i = 0; i < app->n_open && !rc; i++) {
		const struct app_open *o = &app->open[i];
		enum inc_state st;
		char phase[48], elapsed[32];
		if (shell_find_incident(app, o->id) || inc_state_from_name(o->state, &st) ||
		    inc_state_is_final(st))
			continue;
		state_words(o->state, phase, sizeof phase);
		report_span(now_ms(app) - o->declared_ms, elapsed, sizeof elapsed);
		rc = rb_buf_printf(&b, "%s• *%s* %s (%s): %s, for %s", b.len ? "\n" : "", o->id,
				   o->service, o->severity, phase, elapsed);
	}
	if (!rc && !b.len)
		rc = rb_buf_puts(&b, "No incident is in progress.");
	else if (!rc)
		rc = rb_buf_puts(&b, "\n`/rollback status INC-…` shows one in full.");
	out = rb_strdup(rc ? "Too many incidents in progress to list here." : rb_buf_str(&b));
	rb_buf_free(&b);
	return out;
}

/* What the ack path decided about an envelope, for ingress_dispatch_cb to
 * act on once the ack is written: a person is told one thing, and exactly
 * that happens. sm.c keeps it with the envelope and frees it
 * (ingress_verdict_free_cb). */
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
	VERDICT_SERVICES, /* answered in the ack */
	VERDICT_SENT,
	VERDICT_ASSESS,
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
	[VERDICT_SERVICES] = "services",
	[VERDICT_SENT] = "sent",
	[VERDICT_ASSESS] = "assess",
};

struct verdict {
	enum verdict_kind kind;
	bool in_ack; /* status: the ack carried the whole answer */
	char *error; /* rejected: what the person was told (owned) */
	/* An answer too long for an ack (Slack drops acks of 20 KB or more):
	 * the ack says it follows, dispatch sends it through response_url. */
	json_t *long_answer;
	struct cmd cmd; /* accepted and the subcommands: the command, parsed once */
};

/* A new verdict (free with verdict_free_cb). */
static struct verdict *verdict_new(enum verdict_kind kind)
{
	struct verdict *v = rb_calloc(1, sizeof *v);

	v->kind = kind;
	return v;
}

/* sm.c's verdict_free: frees a verdict of ingress_ack_payload_cb. Accepts
 * NULL. */
void ingress_verdict_free_cb(void *verdict)
{
	struct verdict *v = verdict;

	if (!v)
		return;
	free(v->error);
	json_decref(v->long_answer);
	free(v);
}

static bool response_url_ok(const struct app *app, const char *url);

/* Texts Slack takes in a message (response_url's too): 40,000 characters. */
#define MSG_TEXT_MAX 40000

/* An ack payload that would make an ack Slack drops is kept in the verdict
 * and replaced by a short one saying it follows; the person always gets an
 * answer. Without a usable response_url it stays (sm.c then sends a plain
 * ack and says so). Returns the payload to ack with. */
static json_t *fit_ack(struct app *app, json_t *env, json_t *ack, struct verdict *v)
{
	const char *url = jstr(json_object_get(env, "payload"), "response_url");
	char *text;
	size_t n;

	if (!ack || !v)
		return ack;
	text = json_dumps(ack, JSON_COMPACT);
	n = strlen(text) + strlen(jstr(env, "envelope_id")) + 32; /* {"envelope_id":…,"payload":…} */
	free(text);
	if (n < RB_ACK_MAX || !url[0] || !response_url_ok(app, url))
		return ack;
	v->long_answer = ack;
	return shell_ephemeral("The answer is long: it follows in a moment, as a message only "
			       "you can see.");
}

/* Sends the answer fit_ack held back through the command's response_url,
 * its text cut to what Slack takes in a message (at a character, with a
 * line that says so). */
static void send_long_answer(struct app *app, const char *url, json_t *answer)
{
	const char *t = jstr(answer, "text");

	if (rb_utf8_chars(t) > MSG_TEXT_MAX) {
		size_t keep = 0, chars = 0;
		char *cut;

		while (t[keep] && chars < MSG_TEXT_MAX - 200) {
			keep++;
			if (((unsigned char)t[keep] & 0xC0) != 0x80)
				chars++;
		}
		cut = rb_asprintf("%.*s\n…(cut: Slack takes at most %d characters in a message)",
				  (int)keep, t, MSG_TEXT_MAX);
		json_object_set_new(answer, "text", json_string(cut));
		free(cut);
	}
	shell_reply_payload(app, url, answer);
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
	case CMD_SERVICES:
		v = verdict_new(VERDICT_SERVICES);
		text = services_text(app);
		ack = shell_ephemeral(text);
		free(text);
		break;
	case CMD_SENT:
		v = verdict_new(VERDICT_SENT);
		break;
	case CMD_ASSESS:
		/* The figures are read after the ack: Prometheus may be slow. */
		v = verdict_new(VERDICT_ASSESS);
		text = rb_asprintf("Reading the error rate, p99 and health check of %s…",
				   cmd->service);
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

/* A request nobody could approve is never declared: it would only expire,
 * while the service stays down. Returns true with what to tell the person
 * in *text (who could approve and what to do); false when it can be
 * approved, or needs no approval. */
static bool unapprovable(struct app *app, const struct cmd *cmd, json_t *payload, char **text)
{
	struct incident inc;
	char *why;

	fill_incident_from_cmd(app, cmd, payload, &inc);
	why = approval_unreachable_text(app, &inc);
	if (!why)
		return false;
	*text = rb_asprintf("✋ *Nobody could approve this rollback, so rollbot did not start "
			    "it.* Nothing was announced, recorded as an incident or run.\n%s",
			    why);
	free(why);
	return true;
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
		/* Whole, never cut: two long IDs that share a prefix are two. */
		char *key = rb_asprintf("trigger:%s", trigger);
		bool seen = dd_seen(app->dd, key, now_ms(app));
		free(key);
		if (seen) {
			*verdict = verdict_new(VERDICT_DUPLICATE);
			return NULL;
		}
	}
	if (strcmp(command, "/rollback")) {
		snprintf(err, sizeof err, "rollbot only answers /rollback, not %s.", command);
		rc = CMD_ESYNTAX;
	} else if (!inc_is_user_id(jstr(payload, "user_id"))) {
		/* Who asked is part of the record and of the approval rule (the
		 * requester may not approve): never guessed. */
		log_warn("refused a /rollback (envelope %s) without a valid user_id: Slack always "
			 "sends one, so this request is malformed",
			 jstr(env, "envelope_id"));
		snprintf(err, sizeof err, "rollbot could not tell who sent this /rollback (the "
					  "request had no valid user ID), so it recorded and ran "
					  "nothing. Try again.");
		rc = CMD_EVALUE;
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
	} else if (owner_open_for_service(app, cmd.service)) {
		const struct app_open *o = owner_open_for_service(app, cmd.service);
		text = open_incident_text(cmd.service, o->id, o->state);
		v = verdict_new(VERDICT_REJECTED);
		v->error = rb_strdup(text);
		ack = shell_ephemeral(text);
	} else if (tool_refused(app, &cmd, &text)) {
		v = verdict_new(VERDICT_REJECTED);
		v->error = rb_strdup(text);
		ack = shell_ephemeral(text);
	} else if (unapprovable(app, &cmd, payload, &text)) {
		v = verdict_new(VERDICT_REJECTED);
		v->error = rb_strdup(text);
		ack = shell_ephemeral(text);
	} else if (!store_connected(app->store)) {
		/* Nothing is promised that cannot be recorded first. */
		v = verdict_new(VERDICT_REJECTED);
		v->error = rb_strdup(NO_DATABASE_TEXT);
		ack = shell_ephemeral(NO_DATABASE_TEXT);
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

/* sm.c's ack_payload, for every envelope (`env` borrowed): returns the
 * ack's payload (a new reference, or NULL for a plain ack) and leaves in
 * *verdict what dispatch must do (a new verdict, or NULL for an event that
 * is not a duplicate). No I/O: the ack waits for it. */
json_t *ingress_ack_payload_cb(void *arg, json_t *env, void **verdict)
{
	struct app *app = arg;
	const char *type = jstr(env, "type");
	struct verdict *v = NULL;
	json_t *ack = NULL;
	/* Delivery keys whole, never cut: two long IDs that share a prefix are
	 * two deliveries. */
	char *key = rb_asprintf("envelope:%s", jstr(env, "envelope_id"));
	bool seen = dd_seen(app->dd, key, now_ms(app));

	free(key);
	if (seen) {
		*verdict = verdict_new(VERDICT_DUPLICATE);
		return NULL;
	}
	if (!strcmp(type, "slash_commands")) {
		ack = slash_verdict(app, env, &v);
		ack = fit_ack(app, env, ack, v);
	} else if (!strcmp(type, "events_api")) {
		/* The same event comes back in a new envelope when an ack was
		 * late: event_id is the key that survives that. */
		const char *event_id = jstr(json_object_get(env, "payload"), "event_id");
		key = rb_asprintf("event:%s", event_id);
		if (event_id[0] && dd_seen(app->dd, key, now_ms(app)))
			v = verdict_new(VERDICT_DUPLICATE);
		free(key);
	}
	*verdict = v;
	return ack;
}

/* ---- dispatch: after the ack ---- */

/* "payments-api already has a rollback in progress: INC-2026-0001
 * (awaiting approval)…" from "INC-2026-0001" and "awaiting_approval". */
static char *open_incident_text(const char *service, const char *open_id,
				const char *open_state)
{
	char id[INC_ID_MAX], state[32], how[256];
	enum inc_state st;

	snprintf(id, sizeof id, "%s", open_id);
	state_words(open_state, state, sizeof state);
	/* How that incident ends, for each state that holds the service (the
	 * state may come from another replica's row; one this build does not
	 * know gets the general answer). */
	if (inc_state_from_name(open_state, &st))
		st = INC_STATE_COUNT;
	switch (st) {
	case INC_DECLARED:
	case INC_AWAITING_APPROVAL:
		snprintf(how, sizeof how, "Nothing has run yet: to call it off, use "
			 "`/rollback cancel %s`.", id);
		break;
	case INC_APPROVED:
	case INC_ROLLING_BACK:
		snprintf(how, sizeof how, "Its rollback is running: wait for its steps to finish "
			 "(its thread shows each one), then close it with `/rollback resolve %s`.",
			 id);
		break;
	case INC_VERIFYING:
		snprintf(how, sizeof how, "It has rolled back and is being verified: it ends when "
			 "its checks pass, or close it with `/rollback resolve %s`.", id);
		break;
	case INC_FAILED:
		snprintf(how, sizeof how, "It failed and is left open for people: once the service "
			 "is healthy, close it with `/rollback resolve %s`, or give up on it with "
			 "`/rollback cancel %s`.", id, id);
		break;
	default:
		snprintf(how, sizeof how, "Close it with `/rollback resolve %s` or "
			 "`/rollback cancel %s`.", id, id);
		break;
	}
	return rb_asprintf("*%s* already has a rollback in progress: %s (%s). rollbot runs one "
			   "rollback per service at a time, until its incident ends. %s",
			   service, id, state, how);
}

/* How long a /rollback may wait for the database before the person is
 * told that nothing was declared; the database refuses it from then on
 * (rollbot_declare_by), so the two never disagree. The person hears it a
 * few seconds after the deadline, which covers a clock skew between the
 * bot's host and the database's. */
#define DECLARE_TIMEOUT_S 30
#define DECLARE_TELL_AFTER_MS ((DECLARE_TIMEOUT_S + 5) * 1000)

static void declaring_unlink(struct app_declaring *dc)
{
	for (struct app_declaring **p = &dc->app->declaring; *p; p = &(*p)->next) {
		if (*p == dc) {
			*p = dc->next;
			return;
		}
	}
}

static void tell_not_declared(struct app_declaring *dc, const char *why)
{
	char *t;

	if (dc->told || !dc->app->api)
		return;
	dc->told = true;
	t = rb_asprintf("rollbot could not record your /rollback of *%s* in its database %s, so "
			"nothing was declared and nothing will run. Run the command again; if "
			"the database stays down, roll back by hand with the runbook.",
			dc->inc.service, why);
	shell_reply_url(dc->app, dc->inc.response_url, t);
	free(t);
}

/* From the once-a-second sweep: tells whoever waits too long. */
void ingress_declare_sweep(struct app *app)
{
	for (struct app_declaring *dc = app->declaring; dc; dc = dc->next) {
		if (dc->told || now_ms(app) < dc->told_at_ms)
			continue;
		log_error("store: the declaration for %s was not recorded within %d s; the person "
			  "is told that nothing was declared", dc->inc.service, DECLARE_TIMEOUT_S);
		tell_not_declared(dc, "within 30 seconds");
	}
}

static void declare_done_cb(void *arg, int err, const char *errmsg, const struct db_declared *d)
{
	struct app_declaring *dc = arg;
	struct app *app = dc->app;
	struct app_inc *ai;
	struct inc_event ev = { .kind = INC_EV_DECLARED };

	declaring_unlink(dc);
	if (err) {
		log_error("store: could not declare the incident for %s: %s", dc->inc.service,
			  errmsg ? errmsg : "?");
		tell_not_declared(dc, "(it answered an error)");
		free(dc);
		return;
	}
	if (d->kind == DB_DECLARED_LATE) {
		log_warn("the declaration for %s reached the database after its deadline: nothing "
			 "was declared", dc->inc.service);
		tell_not_declared(dc, "within 30 seconds");
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
	if (dc->told) {
		/* The database's clock was behind the bot's: it did record it. */
		char *t = rb_asprintf("Correction: your /rollback of *%s* was recorded after all, "
				      "as %s; it goes ahead in the channel.", dc->inc.service, d->id);
		shell_reply_url(app, dc->inc.response_url, t);
		free(t);
	}
	(void)rb_strlcpy(dc->inc.id, d->id, sizeof dc->inc.id);
	ai = shell_inc_new(app, &dc->inc);
	ai->fence = 1; /* rollbot_declare_by: a new incident is its declarer's */
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
	bool reloaded; /* loaded again after its inbox said it had ended */
	char *note;
	char *response_url;
	char *key; /* the delivery key, for the inbox */
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
	free(oi->key);
	free(oi);
}

static void incident_loaded_cb(void *arg, int err, const char *errmsg,
			       const struct db_incident *rows, size_t n);

static void inbox_put_cb(void *arg, int err, const char *errmsg, enum db_inbox_word w)
{
	struct on_incident *oi = arg;

	if (err) {
		log_error("store: could not queue %s for %s: %s", verdict_names[oi->kind], oi->id,
			  errmsg ? errmsg : "?");
		shell_reply_url(oi->app, oi->response_url,
				"rollbot could not record that in its database just now; nothing "
				"was done. Try again in a minute.");
	} else if (w == DB_INBOX_QUEUED) {
		log_info("%s of %s queued for the replica that carries it", verdict_names[oi->kind],
			 oi->id);
	} else if (w == DB_INBOX_ENDED && !oi->reloaded) {
		/* It ended meanwhile: answer from what the store has now. */
		oi->reloaded = true;
		if (!db_load_incident(oi->app->store, oi->id, incident_loaded_cb, oi))
			return;
		log_error("store: cannot queue the load of %s", oi->id);
	}
	on_incident_free(oi);
}

/* resolve or cancel of an incident in progress that another replica
 * carries (or none yet): into its inbox, for its owner to apply (owner.c),
 * which answers the person. */
static void to_inbox(struct on_incident *oi)
{
	json_t *d = json_pack("{s:s, s:s}", "note", oi->note, "response_url", oi->response_url);
	char *detail = json_dumps(d, JSON_COMPACT);

	json_decref(d);
	if (db_inbox_put(oi->app->store, oi->key, oi->id, verdict_names[oi->kind], oi->user, detail,
			 inbox_put_cb, oi)) {
		log_error("store: cannot queue %s for %s", verdict_names[oi->kind], oi->id);
		on_incident_free(oi);
	}
	free(detail);
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
		/* Loaded meanwhile (the start-up load, a claim): use that copy. */
		bool open = n == 1 && rows[0].known && !inc_state_is_final(rows[0].inc.state);
		if (!ai && open && oi->kind != VERDICT_STATUS && !oi->reloaded) {
			to_inbox(oi);
			return;
		}
		if (!ai && n == 1) {
			ai = resume_incident(oi->app, &rows[0]);
			/* Another replica carries it: this copy only answers. */
			if (ai && open)
				ai->lost = true;
		}
		on_incident_run(oi, ai);
	}
	on_incident_free(oi);
}

/* Incidents in progress are in memory; closed ones (a failed one being
 * resolved by hand, the status of an old one) come from the store. */
static void dispatch_on_incident(struct app *app, const struct verdict *v, const char *user,
				 const char *response_url, const char *key)
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
	oi->key = rb_strdup(key);
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
	struct app_declaring *dc;
	struct incident inc;
	char *cmdjson;

	fill_incident_from_cmd(app, cmd, payload, &inc);
	dc = rb_calloc(1, sizeof *dc + shell_strings_size(&inc));
	dc->app = app;
	dc->inc = inc;
	dc->told_at_ms = now_ms(app) + DECLARE_TELL_AFTER_MS;
	shell_own_strings(&dc->inc, dc->strings);
	json_object_set_new(detail, "service", json_string(cmd->service));
	json_object_set_new(detail, "target", json_string(cmd->target));
	json_object_set_new(detail, "severity", json_string(cmd_severity_name(dc->inc.severity)));
	json_object_set_new(detail, "reason", json_string(cmd->reason));
	cmdjson = json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS);
	if (db_declare(app->store, dkey, &dc->inc, cmdjson, (int64_t)time(NULL) + DECLARE_TIMEOUT_S,
		       app->owner, declare_done_cb, dc)) {
		log_error("store: cannot queue the declaration for %s", cmd->service);
		tell_not_declared(dc, "(its queue is full)");
		free(dc);
	} else {
		dc->next = app->declaring;
		app->declaring = dc;
	}
	free(cmdjson);
	free(dkey);
	json_decref(detail);
}

/* The part of `url` up to the path ("https://host:port/"), or its length
 * 0 when it has none. */
static size_t url_origin_len(const char *url)
{
	const char *p = strstr(url, "://");

	if (!p || !p[3])
		return 0;
	p = strchr(p + 3, '/');
	return p ? (size_t)(p - url) + 1 : 0;
}

/* Whether `url` may be a command's response_url: Slack's hooks host, or
 * the host the Web API is reached on (SLACK_API_URL: a proxy, the local
 * fake). rollbot posts what it tells the person there, so anything else
 * in an envelope is not trusted with it. */
static bool response_url_ok(const struct app *app, const char *url)
{
	size_t n = url_origin_len(app->opt->api_url);

	if (!strncmp(url, "https://hooks.slack.com/", 24))
		return true;
	return n && url_origin_len(url) == n && !strncmp(url, app->opt->api_url, n);
}

/* Acts on a slash command's verdict (never a duplicate: ingress_dispatch_cb
 * drops those), and records it in the audit log. */
static void dispatch_slash(struct app *app, json_t *env, const struct verdict *v)
{
	json_t *payload = json_object_get(env, "payload");
	const char *outcome = verdict_names[v->kind];
	const char *user = jstr(payload, "user_id");
	const char *response_url;

	if (jstr(payload, "response_url")[0] &&
	    !response_url_ok(app, jstr(payload, "response_url"))) {
		log_warn("slash command (envelope %s): its response_url is neither on Slack's "
			 "hooks host nor on SLACK_API_URL's: nothing is sent to it",
			 jstr(env, "envelope_id"));
		json_object_set_new(payload, "response_url", json_string(""));
	}
	response_url = jstr(payload, "response_url");
	if (v->long_answer && response_url[0])
		send_long_answer(app, response_url, v->long_answer);
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
	case VERDICT_SERVICES:
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
	case VERDICT_ASSESS:
		db_audit(app->store, NULL, user, "command_received", detail, key);
		assess_start(app, &v->cmd, payload, response_url);
		break;
	case VERDICT_SENT:
		json_decref(detail); /* the draft_sent row is the record (sent.c) */
		sent_start(app, v->cmd.incident, user, v->cmd.reason, response_url,
			   jstr(env, "envelope_id"));
		break;
	case VERDICT_STATUS:
	case VERDICT_RESOLVE:
	case VERDICT_CANCEL:
		if (v->in_ack) {
			json_decref(detail); /* the ack answered it: nothing to record */
			break;
		}
		db_audit(app->store, NULL, user, "command_received", detail, key);
		{
			const char *trigger = jstr(payload, "trigger_id");
			char *dkey = rb_asprintf("slash:%s", trigger[0] ? trigger
							 : jstr(env, "envelope_id"));
			dispatch_on_incident(app, v, user, response_url, dkey);
			free(dkey);
		}
		break;
	case VERDICT_DRY_RUN:
	case VERDICT_DUPLICATE:
		json_decref(detail); /* dry_run records nothing; duplicates were handled */
		break;
	}
	free(key);
}

static void react_cb(void *arg, int err, const char *errmsg, enum db_react_word w,
		     const char *incident)
{
	struct app *app = arg;

	if (err)
		log_error("store: could not record a reaction: %s", errmsg ? errmsg : "?");
	else if (w == DB_REACT_QUEUED)
		log_info("reaction queued for %s", incident);
	else if (w == DB_REACT_STALE)
		log_info("reaction event older than one already applied; ignored");
	/* The owner is woken by NOTIFY; when that is this replica, sooner. */
	if (w == DB_REACT_QUEUED && shell_find_incident(app, incident))
		owner_wake(app);
}

/* A ✅ or ❌ in an incidents channel is recorded with its delivery key
 * (rollbot_react, sql/006-007): it counts only if it is newer than what was
 * applied for that person, emoji and message, and when it is on an approval
 * request waiting, it goes to that incident's inbox for whichever replica
 * carries it (owner.c). Every other reaction is none of rollbot's business,
 * but 📌. */
static void dispatch_reaction(struct app *app, json_t *event, const char *event_id, bool added)
{
	json_t *item = json_object_get(event, "item");
	const char *ts = jstr(item, "ts"), *channel = jstr(item, "channel");
	const char *reaction = jstr(event, "reaction"), *user = jstr(event, "user");
	const char *event_ts = jstr(event, "event_ts");
	char emoji[64], now_ts[32], *key;

	if (strcmp(jstr(item, "type"), "message") || !ts[0])
		return;
	if (pol_emoji_is(reaction, "pushpin")) {
		if (strcmp(user, app->bot_user_id))
			pins_dispatch(app, event, event_id, added);
		return;
	}
	if ((!pol_emoji_is(reaction, POL_EMOJI_APPROVE) && !pol_emoji_is(reaction, POL_EMOJI_REJECT)) ||
	    !config_is_incident_channel(app->cfg, channel) || !user[0] ||
	    !strcmp(user, app->bot_user_id)) {
		log_debug("reaction %s on %s %s: none of rollbot's business", reaction, channel, ts);
		return;
	}
	/* The base name: a skin tone is the same reaction. */
	snprintf(emoji, sizeof emoji, "%.*s", (int)strcspn(reaction, ":"), reaction);
	/* Issue 12: a ✅ on a watcher's proposal starts it (proposal.c). */
	if (added && !strcmp(emoji, POL_EMOJI_APPROVE))
		proposal_reaction(app, channel, ts, user);
	if (!event_ts[0] || strspn(event_ts, "0123456789.") != strlen(event_ts)) {
		struct timespec t;
		clock_gettime(CLOCK_REALTIME, &t);
		snprintf(now_ts, sizeof now_ts, "%lld.%06ld", (long long)t.tv_sec, t.tv_nsec / 1000);
		event_ts = now_ts;
	}
	key = rb_asprintf("event:%s", event_id[0] ? event_id : event_ts);
	if (db_react(app->store, key, channel, ts, user, emoji, added, event_ts, react_cb, app))
		log_error("store: cannot queue a reaction");
	free(key);
}

/* sm.c's dispatch, after the ack: acts on what ingress_ack_payload_cb
 * decided (`verdict`, borrowed; every slash command has one, other
 * envelopes only when they are duplicates). */
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
		else if (!strcmp(etype, "message") &&
			 config_is_incident_channel(app->cfg, jstr(event, "channel")))
			pins_message(app, event);
		else
			log_debug("event %s ignored", etype[0] ? etype : "(none)");
	} else {
		log_debug("envelope type %s acked and ignored", type);
	}
}
