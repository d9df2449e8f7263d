/* rollbot — the incident in memory (MIT licence, see LICENSE).
 *
 * DESIGN
 *
 * Every change to an incident goes through shell_step(): it hands one event
 * to inc_step() with the policy and timings in force and the bot's
 * identity, logs the transition, and performs the actions it returns. What
 * the step records goes first, in one statement under the fence: the
 * incident's row when it saves (db_save_incident, else db_record), its
 * audit rows, its posts (rendered here, with the data built here, into the
 * outbox: outbox.c) and the answer to the post it takes. Only once that is
 * committed are the other actions performed, in order: posts, replies and
 * notes, and what the other files carry out (steps.c, verifying.c,
 * approval.c, publish.c); a step waits behind the steps before it (held).
 * An action that answers at once (a plan built without running anything)
 * leaves its event with shell_defer(), and shell_step() handles it after
 * the actions before it, one event at a time.
 *
 * An incident stays in memory (struct app_inc) from its declaration, or its
 * resume after a restart, until it has ended and nothing is in flight for
 * it any more (shell_inc_release). PostgreSQL is the record: a restart
 * loses nothing.
 */
#include "shell.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../commands/incident.h"
#include "../commands/plan.h"
#include "../commands/policy.h"
#include "../commands/report.h"
#include "../commands/verify.h"
#include "api.h"
#include "db.h"
#include "log.h"
#include "tmpl.h"

static void perform(struct app_inc *ai, const struct inc_actions *acts);

/* ---- the incident in memory ---- */

/* The incident's free-text fields live after the struct that holds it, so
 * one allocation carries it and a copy never points into another's memory. */
size_t shell_strings_size(const struct incident *inc)
{
	return strlen(inc->reason) + 1 + strlen(inc->response_url) + 1;
}

/* Copies inc's strings to `to` (shell_strings_size bytes) and points inc at
 * them. */
void shell_own_strings(struct incident *inc, char *to)
{
	size_t n = strlen(inc->reason) + 1;

	memcpy(to, inc->reason, n);
	inc->reason = to;
	memcpy(to + n, inc->response_url, strlen(inc->response_url) + 1);
	inc->response_url = to + n;
}

/* Puts a copy of `inc` in memory, its strings with it, and returns it
 * (owned by app->incidents: shell_inc_release lets it go). */
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

/* Frees what `r` holds and empties it. */
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
		shell_held_free(ai);
		plan_free(ai->plan);
		free(ai->asked_plan);
		shell_step_report_clear(&ai->last);
		free(ai->last_step);
		free(ai->last_checks);
		free(ai->round);
		free(ai);
	}
}

/* Frees `ai` if it may go: at the end of every callback that may have been
 * the last thing it waited for. Nothing may use `ai` after this call. */
void shell_inc_release(struct app_inc *ai)
{
	/* Until it ends, an incident has updates, rounds or reactions to wait
	 * for: it stays. */
	if (ai->pending > 0 || ai->has_deferred || ai->draining ||
	    (!inc_state_is_final(ai->inc.state) && !ai->lost))
		return;
	shell_held_free(ai);
	json_decref(ai->closing);
	json_decref(ai->resend);
	plan_free(ai->plan);
	free(ai->asked_plan);
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

/* Incident `id` if this replica carries it, else NULL. */
struct app_inc *shell_find_incident(struct app *app, const char *id)
{
	for (struct app_inc *ai = app->incidents; ai; ai = ai->next)
		if (!ai->lost && !strcmp(ai->inc.id, id))
			return ai;
	return NULL;
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

	if (ai->lost)
		return; /* another replica carries it: nothing is done here */
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

/* ---- what the messages show ---- */

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
	case INC_FAILED:
		/* Open until a person closes it: say what they should do. */
		snprintf(out, len, "failed, in people's hands: `/rollback resolve %s` once healthy, "
			 "or `/rollback cancel %s`", inc->id, inc->id);
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

	report_span(now_ms(app) - ai->inc.declared_ms, buf, sizeof buf);
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
		/* "03:32:00 CET" in display_timezone, "03:32:00 UTC" without. */
		report_local_clock((int64_t)t * 1000, buf, sizeof buf);
		json_object_set_new(data, "next_update", json_string(buf));
	}
	json_object_set_new(data, "resume_step", json_integer(ai->inc.next_step + 1));
	json_object_set_new(data, "interrupted", json_boolean(ai->inc.interrupted));
	/* The history read before the plan says the target runs already: a
	 * mistyped --to, and a rollback that would change nothing. */
	json_object_set_new(data, "already_running",
			    json_boolean(ai->running_before[0] &&
					 !strcmp(ai->running_before, ai->inc.target)));
	json_object_set_new(data, "closed_by", json_string(ai->inc.closed_by));
	/* A step ran (it may have failed): the end messages must not say
	 * that nothing was run. */
	json_object_set_new(data, "ran", json_boolean(ai->last_step != NULL));
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
	} else if (!ai->down.failing && !ai->down.total_ms) {
		json_object_set_new(data, "downtime",
				    json_string("none seen by the health checks after the rollback"));
	} else {
		/* An open span is counted to the last round, as the report does. */
		int64_t down = report_down_total(&ai->down);
		char d[64], t[128];
		report_span(down, d, sizeof d);
		if (down > 0)
			snprintf(t, sizeof t, "health check failing for %s after the rollback", d);
		else
			snprintf(t, sizeof t, "health check failing at the last check after the rollback");
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
				   .severity = ai->inc.severity, .with_db = ai->inc.with_db,
				   .escalated = ai->inc.escalated };
	char who[1024], tmo[64];
	int needed;

	approval_policy(ai->app, &ai->inc, &pol);
	needed = pol_needed(&pol, ai->inc.with_db);
	if (pol_mentions(&pol, &req, who, sizeof who))
		(void)rb_strlcpy(who, "the approvers", sizeof who);
	/* Never a request that names nobody: inc_step does not post one, and
	 * should a path slip through, the request says so instead of
	 * ": react ✅ to approve". */
	json_object_set_new(data, "no_approvers", json_boolean(!who[0]));
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
		if (ai->last.tail_cut)
			json_object_set_new(data, "step_tail_cut",
					    json_integer((json_int_t)ai->last.tail_cut));
	}
}

/* A plan line without its "N. " number: a step added or removed
 * renumbers the others, which did not change. */
static const char *unnumbered(const char *line)
{
	const char *p = line;

	while (*p >= '0' && *p <= '9')
		p++;
	return p != line && p[0] == '.' && p[1] == ' ' ? p + 2 : line;
}

/* Whether `text` has a line equal to line[0..len) once both are unnumbered. */
static bool has_line(const char *text, const char *line, size_t len)
{
	const char *want = unnumbered(line);
	size_t wlen = len - (size_t)(want - line);

	for (const char *p = text; p && *p;) {
		const char *end = strchr(p, '\n'), *u = unnumbered(p);
		size_t n = end ? (size_t)(end - p) : strlen(p);
		size_t ulen = n - (size_t)(u - p);

		if (ulen == wlen && !memcmp(u, want, wlen))
			return true;
		p = end ? end + 1 : NULL;
	}
	return false;
}

/* Appends to b each line of `from` that `other` does not have, as
 * "\n• LABEL: line" (numbers dropped). */
static int changed_lines(struct rb_buf *b, const char *from, const char *other, const char *label)
{
	int rc = 0;

	for (const char *p = from; p && *p && !rc;) {
		const char *end = strchr(p, '\n');
		size_t n = end ? (size_t)(end - p) : strlen(p);

		if (n && !has_line(other, p, n)) {
			const char *u = unnumbered(p);
			rc = rb_buf_printf(b, "\n• %s: %.*s", label, (int)(n - (size_t)(u - p)), u);
		}
		p = end ? end + 1 : NULL;
	}
	return rc;
}

/* plan_changed's data: what differs between the plan the approvers read
 * (ai->asked_plan) and the plan that would run now (ai->plan), as "was"
 * and "now" lines. */
static void plan_change_data(struct app_inc *ai, json_t *data)
{
	char *now = ai->plan ? plan_describe(ai->plan) : NULL;
	struct rb_buf b;
	int rc;

	rb_buf_init(&b, 16u << 10);
	if (!ai->asked_plan || !now) {
		rc = rb_buf_puts(&b, "\n• the plan in the approval request above is no longer "
				     "the one that would run (rollbot restarted since, so it cannot "
				     "show the old one: the new plan is in the request below)");
	} else {
		rc = changed_lines(&b, ai->asked_plan, now, "was");
		if (!rc)
			rc = changed_lines(&b, now, ai->asked_plan, "now");
		if (!rc && !rb_buf_str(&b)[0])
			rc = rb_buf_puts(&b, "\n• the commands read the same, but a setting behind "
					     "them changed (a timeout or the environment they run with)");
	}
	json_object_set_new(data, "changes",
			    json_string(rc ? "\n• (too long to show: compare the two requests)"
					   : rb_buf_str(&b)));
	rb_buf_free(&b);
	free(now);
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

/* ---- carrying out actions ---- */

/* The payload of a private answer with `text` (NULL reads as ""): a new
 * reference. */
json_t *shell_ephemeral(const char *text)
{
	return json_pack("{s:s, s:s}", "response_type", "ephemeral", "text", text ? text : "");
}

/* The chat.postMessage arguments of message `msg` of `ai` as it is now (a
 * new reference), in the incident's thread when `in_thread`, with the
 * outbox key `key` (NULL: none) in its marker; NULL when the template
 * fails. */
json_t *shell_post_args(struct app_inc *ai, enum inc_message msg, bool in_thread,
			const char *key)
{
	struct app *app = ai->app;
	json_t *data = shell_incident_data(app, &ai->inc), *args;
	int number = msg == INC_MSG_STATUS_UPDATE && !ai->on_demand ? ai->inc.updates_posted : 0;
	char *text;

	if (msg != INC_MSG_ANNOUNCEMENT)
		message_data(ai, data);
	if (msg == INC_MSG_APPROVAL_REQUEST && ai->plan) {
		/* What the approvers read: plan_changed compares with it. */
		free(ai->asked_plan);
		ai->asked_plan = plan_describe(ai->plan);
	}
	if (msg == INC_MSG_PLAN_CHANGED)
		plan_change_data(ai, data);
	if (msg == INC_MSG_ESCALATED)
		escalation_data(ai, data);
	if (msg == INC_MSG_APPROVAL_REQUEST && ai->inc.escalated) {
		/* Escalated from the start: the request says why, and names
		 * the fallback approvers (message_data). */
		char *why = approval_short_handed_text(app, &ai->inc);
		json_object_set_new(data, "short_handed", json_true());
		json_object_set_new(data, "short_handed_why", json_string(why));
		free(why);
	}
	if (msg == INC_MSG_NO_APPROVERS) {
		char *why = approval_unreachable_text(ai->app, &ai->inc);
		json_object_set_new(data, "unreachable",
				    json_string(why ? why : "the approvers it needs are not "
							    "configured (see `approval` in "
							    "rollbot's configuration)."));
		free(why);
	}
	if (number)
		json_object_set_new(data, "update_number", json_integer(number));
	text = tmpl_render(app->tmpl, inc_message_name(msg), data);
	json_decref(data);
	if (!text)
		return NULL;
	args = json_pack("{s:s, s:s, s:b, s:b}", "channel", ai->inc.channel, "text", text,
			 "unfurl_links", 0, "unfurl_media", 0);
	free(text);
	if (in_thread && ai->inc.announcement_ts[0])
		json_object_set_new(args, "thread_ts", json_string(ai->inc.announcement_ts));
	/* The marker that lets a restart see that the post went out. */
	json_object_set_new(args, "metadata", lookback_marker(ai, msg, number, key));
	return args;
}

/* /rollback status --post: posted at once, with no outbox row (the command
 * is recorded; a status asked for again after a crash costs nothing). */
void shell_post(struct app_inc *ai, const struct inc_action *a)
{
	outbox_send(ai, a->msg, NULL, shell_post_args(ai, a->msg, a->in_thread, NULL));
}

/* One action of a held batch: what performing it needs, and no more (a
 * struct inc_action is over 1 KB, most of it audit detail, which is in the
 * batch's records by then). */
struct held_act {
	enum inc_action_kind kind;
	enum inc_message msg;
	bool in_thread;
	bool drafts;
	int step;
	const char *reaction;
	char *text; /* NOTIFY_*, REPLY: owned */
	char *url;  /* REPLY: the command's response_url when it was taken, or NULL */
	char user[INC_SLACK_ID_MAX];
};

/* A batch of actions (one step's) waiting for the commit of what it
 * records, or for a save in it (ai->held, oldest first). */
struct held {
	struct held *next;
	bool waiting;  /* for a write's answer; only the head can be */
	bool recorded; /* its records are written, or on their way */
	struct db_records rec; /* until recorded */
	json_t *posts; /* its POST actions' outbox entries, in order */
	int next_post;
	int save_at; /* the SAVE that carries its records, or -1 */
	int i, n;    /* the next action to perform, and how many */
	struct held_act a[]; /* the actions, but for audit rows (in rec) */
};

static void held_free(struct held *h)
{
	for (int k = 0; k < h->n; k++) {
		free(h->a[k].text);
		free(h->a[k].url);
	}
	json_decref(h->rec.audits);
	json_decref(h->rec.posts);
	json_decref(h->rec.closes);
	json_decref(h->posts);
	free(h);
}

/* Frees every batch still held (the incident was taken over, or the bot
 * is done). */
void shell_held_free(struct app_inc *ai)
{
	while (ai->held) {
		struct held *h = ai->held;
		ai->held = h->next;
		held_free(h);
	}
}

static void drain_held(struct app_inc *ai);

struct save_ctx {
	struct app_inc *ai;
	bool barrier; /* the head of ai->held waits for this write */
};

static void write_done_cb(void *arg, int err, const char *errmsg)
{
	struct save_ctx *sc = arg;
	struct app_inc *ai = sc->ai;

	ai->pending--;
	if (err == DB_ELOST)
		owner_lost(ai, errmsg ? errmsg : "its fence moved on");
	else if (err)
		ilog_error(&ai->inc, "could not record the incident: %s", errmsg ? errmsg : "?");
	if (sc->barrier && ai->held) {
		/* A write the server refused is logged, and the incident goes on
		 * rather than freeze; a lost one goes no further. */
		ai->held->waiting = false;
		drain_held(ai);
		shell_flush_deferred(ai);
	}
	free(sc);
	shell_inc_release(ai);
}

/* Writes the incident as it is now (db_save_incident turns the deadlines
 * into wall-clock time), with what the step records (`rec`, NULL for
 * nothing) in the same transaction. With `barrier`, the head of ai->held
 * waits for its commit. Returns true when the write is on its way. */
static bool do_save(struct app_inc *ai, bool barrier, struct db_records *rec)
{
	struct save_ctx *sc = rb_malloc(sizeof *sc);

	sc->ai = ai;
	sc->barrier = barrier;
	if (db_save_incident(ai->app->store, &ai->inc, ai->fence, now_ms(ai->app), ai->last_step,
			     ai->last_checks, ai->report_pending, rec, write_done_cb, sc)) {
		ilog_error(&ai->inc, "cannot queue the save");
		free(sc);
		return false;
	}
	ai->report_pending = NULL;
	ai->pending++;
	return true;
}

/* What a step records when it saves nothing: the same, under the fence. */
static bool do_record(struct app_inc *ai, bool barrier, struct db_records *rec)
{
	struct save_ctx *sc = rb_malloc(sizeof *sc);

	sc->ai = ai;
	sc->barrier = barrier;
	if (db_record(ai->app->store, ai->inc.id, ai->fence, rec, write_done_cb, sc)) {
		ilog_error(&ai->inc, "cannot queue its audit rows and posts");
		free(sc);
		return false;
	}
	ai->pending++;
	return true;
}

static void notify_done_cb(void *arg, const struct api_result *res)
{
	(void)arg;
	if (!res->ok)
		log_warn("could not reply to the requester through response_url: %s", res->error);
}

/* Answers the person who typed a command, privately, through the
 * command's response_url ("" = there is none: nothing is sent). */
void shell_reply_payload(struct app *app, const char *url, const json_t *body)
{
	char *s;

	if (!url || !url[0])
		return;
	s = json_dumps(body, JSON_COMPACT);
	if (api_post_url(app->api, url, "application/json", s, strlen(s), notify_done_cb, NULL))
		log_warn("cannot queue a reply through response_url");
	free(s);
}

void shell_reply_url(struct app *app, const char *url, const char *text)
{
	json_t *body = shell_ephemeral(text);

	shell_reply_payload(app, url, body);
	json_decref(body);
}

static void do_notify(struct app_inc *ai, const char *text)
{
	shell_reply_url(ai->app, ai->inc.response_url, text);
}

/* The audit row of `a`, for db_record. The dedupe key names this one
 * row: the store re-sends the same text if the connection breaks, and the
 * database then keeps a single copy. Two rows with the same content (two
 * people's identical reactions) stay two. The rows of an inbox row are
 * named by it (owner.c): applied again after a crash, it adds none. The
 * key is made when the step is taken, not when the row is sent, as the
 * inbox's name is gone by then. */
static json_t *audit_row(struct app_inc *ai, const struct inc_action *a)
{
	struct app *app = ai->app;
	json_t *detail = json_object();
	char key[160];

	for (int i = 0; i < INC_AUDIT_KEYS && a->keys[i]; i++)
		json_object_set_new(detail, a->keys[i], json_string(a->values[i]));
	if (app->audit_key)
		snprintf(key, sizeof key, "%s:%s:%s:%d", app->audit_key, a->audit_kind, a->actor,
			 app->audit_seq++);
	else
		snprintf(key, sizeof key, "%s:%s:%s:%llu", ai->inc.id, a->audit_kind, a->actor,
			 (unsigned long long)uv_hrtime());
	return json_pack("{s:s, s:s, s:o, s:s}", "kind", a->audit_kind, "actor", a->actor,
			 "detail", detail, "key", key);
}

/* The held copy of action `a`. */
static void held_act_set(struct app_inc *ai, struct held_act *h, const struct inc_action *a)
{
	memset(h, 0, sizeof *h);
	h->kind = a->kind;
	h->msg = a->msg;
	h->in_thread = a->in_thread;
	h->drafts = a->drafts;
	h->step = a->step;
	h->reaction = a->reaction;
	(void)rb_strlcpy(h->user, a->user, sizeof h->user);
	if (a->kind == INC_ACT_NOTIFY_REQUESTER || a->kind == INC_ACT_NOTIFY_USER ||
	    a->kind == INC_ACT_REPLY)
		h->text = rb_strdup(a->text);
	if (a->kind == INC_ACT_REPLY && ai->app->reply_url && ai->app->reply_url[0])
		h->url = rb_strdup(ai->app->reply_url);
}

/* A private note to h->user in the channel. */
static void notify_user(struct app_inc *ai, const struct held_act *h)
{
	struct inc_action a;

	memset(&a, 0, sizeof a);
	a.kind = INC_ACT_NOTIFY_USER;
	(void)rb_strlcpy(a.user, h->user, sizeof a.user);
	(void)rb_strlcpy(a.text, h->text ? h->text : "", sizeof a.text);
	approval_notify_user(ai, &a);
}

/* The answer to the person who typed a command: through the command's
 * response_url when the step was taken while it was handled, else
 * privately in the channel. */
static void do_reply(struct app_inc *ai, const struct held_act *h)
{
	if (h->url) {
		shell_reply_url(ai->app, h->url, h->text);
		return;
	}
	notify_user(ai, h);
}

/* Performs h's actions from h->i on, in order. A save among them (not the
 * one that carried the records) is a barrier again: returns true when h
 * waits for one, false when it is done. */
static bool run_actions(struct app_inc *ai, struct held *h)
{
	while (h->i < h->n && !ai->lost) {
		int at = h->i++;
		const struct held_act *a = &h->a[at];

		switch (a->kind) {
		case INC_ACT_POST:
			outbox_post(ai, a->msg, json_array_get(h->posts, (size_t)h->next_post++));
			break;
		case INC_ACT_AUDIT:
			break; /* recorded with the step */
		case INC_ACT_SAVE:
			if (at == h->save_at)
				break; /* it carried the records */
			if (do_save(ai, h->i < h->n, NULL) && h->i < h->n) {
				h->waiting = true;
				return true;
			}
			break;
		case INC_ACT_NOTIFY_REQUESTER:
			do_notify(ai, a->text);
			break;
		case INC_ACT_NOTIFY_USER:
			notify_user(ai, a);
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
			steps_check_plan(ai);
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
			publish_incident_report(ai, a->drafts);
			break;
		case INC_ACT_PAGE:
			escalation_page(ai);
			break;
		case INC_ACT_UNPAGE:
			escalation_unpage(ai);
			break;
		}
	}
	return false;
}

/* Writes what h records (its state when it saves, its audit rows, its
 * posts, the answer it takes), before anything of it is done: true when
 * the rest of h waits for the commit. */
static bool record(struct app_inc *ai, struct held *h)
{
	struct db_records *rec = &h->rec;
	bool more = false, queued;

	h->recorded = true;
	for (int k = 0; k < h->n && !more; k++)
		more = k != h->save_at && h->a[k].kind != INC_ACT_ARM_TIMER &&
		       h->a[k].kind != INC_ACT_CANCEL_TIMER;
	if (h->save_at >= 0)
		queued = do_save(ai, more, rec);
	else if (rec->audits || rec->posts || rec->closes)
		queued = do_record(ai, more, rec);
	else
		return false;
	if (queued && more)
		h->waiting = true;
	return h->waiting;
}

/* Performs the held batches, in order, each once what it records is
 * committed. Not again from within itself: a batch a synchronous answer
 * adds waits for the loop below. */
static void drain_held(struct app_inc *ai)
{
	if (ai->draining)
		return;
	ai->draining = true;
	while (ai->held && !ai->held->waiting && !ai->lost) {
		struct held *h = ai->held;

		if (!h->recorded && record(ai, h))
			break;
		if (run_actions(ai, h))
			break;
		ai->held = h->next;
		held_free(h);
	}
	ai->draining = false;
	if (ai->lost) {
		shell_held_free(ai);
		return;
	}
	/* The last messages of an ended incident that owes no report are out,
	 * and their answers queued for the store before this: nothing is left
	 * to carry on. */
	if (!ai->held && ai->posts_wrapup && !ai->posts_open && inc_state_is_final(ai->inc.state)) {
		ai->posts_wrapup = false;
		if (db_report_done(ai->app->store, ai->inc.id, ai->fence, NULL, NULL))
			ilog_error(&ai->inc, "cannot queue the end of its last posts");
	}
}

/* The messages that end a rollback: the report follows them (and a cancel
 * after a step ran: incident.c asks for it once the cancel is posted). */
static const char *report_after(const struct app_inc *ai, enum inc_message m)
{
	switch (m) {
	case INC_MSG_CANCELLED:
		return ai->last_step ? "report" : NULL;
	case INC_MSG_COMPLETE:
	case INC_MSG_RESOLVED:
		return "report+drafts";
	case INC_MSG_VERIFY_FAILED:
	case INC_MSG_ROLLBACK_FAILED:
		return "report";
	default:
		return NULL;
	}
}

/* Whether the posts the outbox had open at a resume include `msg` (the
 * resume's own step then does not post it again: outbox.c does). */
static bool resent(const struct app_inc *ai, enum inc_message msg)
{
	size_t i;
	json_t *e;

	json_array_foreach(ai->resend, i, e)
		if (!strcmp(jstr(e, "message"), inc_message_name(msg)))
			return true;
	return false;
}

/* Takes the step's actions: its audit rows and posts (rendered now) are
 * recorded first, with its save when it has one, and everything else
 * waits for that, behind the steps before it. */
static void perform(struct app_inc *ai, const struct inc_actions *acts)
{
	struct held *h = rb_calloc(1, sizeof *h + (size_t)acts->n * sizeof h->a[0]);
	bool ends = inc_state_is_final(ai->inc.state);

	h->save_at = -1;
	h->posts = json_array();
	for (int k = 0; k < acts->n; k++) {
		const struct inc_action *a = &acts->a[k];
		json_t *e;

		switch (a->kind) {
		case INC_ACT_AUDIT:
			if (!h->rec.audits)
				h->rec.audits = json_array();
			json_array_append_new(h->rec.audits, audit_row(ai, a));
			continue;
		case INC_ACT_POST:
			if (ai->resend && resent(ai, a->msg))
				continue;
			/* A batch that ends the incident, or fails it (the report
			 * is uploaded at the failure too, while it stays open),
			 * saves, with it, what is still owed: the report
			 * (publish.c clears it), or, with no report after them,
			 * its last posts (outbox.c). */
			if (report_after(ai, a->msg))
				ai->report_pending = report_after(ai, a->msg);
			else if (ends && !ai->report_pending)
				ai->report_pending = "posts";
			e = outbox_entry(ai, a);
			if (json_is_object(e)) {
				if (!h->rec.posts)
					h->rec.posts = json_array();
				json_array_append(h->rec.posts, e);
			}
			json_array_append_new(h->posts, e);
			break;
		case INC_ACT_SAVE:
			if (h->save_at < 0)
				h->save_at = h->n;
			break;
		default:
			break;
		}
		held_act_set(ai, &h->a[h->n++], a);
	}
	if (ai->report_pending && !strcmp(ai->report_pending, "posts"))
		ai->posts_wrapup = true;
	if (ai->closing) {
		h->rec.closes = json_pack("[o]", ai->closing);
		ai->closing = NULL;
	}
	{
		struct held **tail = &ai->held;
		while (*tail)
			tail = &(*tail)->next;
		*tail = h;
	}
	drain_held(ai);
}
