/* rollbot — the rollback's plan and its steps (MIT licence, see LICENSE).
 *
 * Builds an incident's plan from its service's configuration
 * (commands/plan.c), after reading the target from the tool's own history
 * when --to was not given, and runs the plan's steps one at a time: a
 * process (runner.c) or an HTTP request (api.c). A step starts only once
 * the store has recorded its start (db_mark_step), so that a restart knows
 * which step may have run. Each result goes to the audit log in full and
 * back to the state machine as an event; a plan built without running
 * anything answers through shell_defer(), after the actions before it.
 */
#include "shell.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../commands/plan.h"
#include "api.h"
#include "db.h"
#include "log.h"
#include "runner.h"

/* The plan's input for `inc`, from its service's configuration; `params`
 * (PARAMS_MAX entries) holds the method's parameters. Returns the service,
 * or NULL when it is no longer configured. */
const struct config_service *steps_plan_input(const struct app *app, const struct incident *inc,
					      struct plan_param *params, struct plan_input *in)
{
	const struct config_service *svc = config_service(app->cfg, inc->service);

	memset(in, 0, sizeof *in);
	if (!svc)
		return NULL;
	for (size_t i = 0; i < svc->n_params && i < PARAMS_MAX; i++) {
		params[i].key = svc->params[i].key;
		params[i].value = svc->params[i].value;
	}
	in->service = svc->name;
	in->method = svc->method;
	in->params = params;
	in->n_params = svc->n_params < PARAMS_MAX ? svc->n_params : PARAMS_MAX;
	in->target = inc->target;
	in->timeout_ms = svc->timeout_ms;
	in->incident_id = inc->id;
	in->severity = cmd_severity_name(inc->severity);
	in->reason = inc->reason;
	in->requested_by = inc->requested_by;
	if (inc->with_db && svc->db_rollback) {
		in->db_argv = (const char *const *)svc->db_rollback;
		in->db_timeout_ms = svc->db_rollback_timeout_ms;
	}
	return svc;
}

/* Builds the incident's plan for its current target into ai->plan.
 * Returns 0, or a negative code with the reason in err. */
int steps_build_plan(struct app_inc *ai, char *err, size_t errlen)
{
	struct plan_param params[PARAMS_MAX];
	struct plan_input in;
	struct plan *p;
	int rc;

	if (!steps_plan_input(ai->app, &ai->inc, params, &in)) {
		snprintf(err, errlen, "service %s is no longer in the configuration",
			 ai->inc.service);
		return RB_EINVAL;
	}
	rc = plan_build(&in, &p, err, errlen);
	if (rc)
		return rc;
	plan_free(ai->plan);
	ai->plan = p;
	return 0;
}

/* The report's facts for the plan_ready row: what the history said was
 * running, and what the configuration says about the service. Borrowed
 * from ai and from the configuration, which outlive the step. */
static void put_facts(struct app_inc *ai, struct inc_event *ev)
{
	const struct config_service *svc = config_service(ai->app->cfg, ai->inc.service);

	ev->running_before = ai->running_before;
	ev->deployed_at = ai->deployed_at;
	if (!svc)
		return;
	ev->display_name = svc->display_name;
	ev->environment = svc->environment;
	ev->affected = svc->affected;
	ev->owner = svc->owner;
}

/* Builds the plan and leaves PLAN_READY (or PLAN_CHECKED) or PLAN_FAILED
 * for shell_step() to handle. */
void steps_plan_and_defer(struct app_inc *ai, enum inc_event_kind kind)
{
	struct inc_event ev = { .kind = kind };
	char err[RB_ERR_LEN];

	if (steps_build_plan(ai, err, sizeof err)) {
		ev.kind = INC_EV_PLAN_FAILED;
		ev.error = err;
		shell_defer(ai, &ev);
		return;
	}
	ev.digest = plan_digest(ai->plan);
	ev.n_steps = (int)ai->plan->n_steps;
	ev.target = ai->inc.target;
	put_facts(ai, &ev);
	shell_defer(ai, &ev);
}

/* The plan part of an approval request's text (after its "*What will
 * run*" line, up to the first blank line), with Slack's escapes undone:
 * the plan as plan_describe wrote it. A new string, or NULL. */
static char *request_plan(const char *text)
{
	const char *p = text ? strstr(text, "*What will run*") : NULL;
	const char *end;
	char *out;
	size_t o = 0;

	p = p ? strchr(p, '\n') : NULL;
	if (!p)
		return NULL;
	p++;
	end = strstr(p, "\n\n");
	if (!end)
		end = p + strlen(p);
	while (end > p && end[-1] == '\n')
		end--;
	out = rb_malloc((size_t)(end - p) + 1);
	while (p < end) {
		static const struct { const char *esc; char c; } un[] = {
			{ "&amp;", '&' }, { "&lt;", '<' }, { "&gt;", '>' } };
		size_t k;
		for (k = 0; k < RB_ARRAY_LEN(un); k++)
			if (!strncmp(p, un[k].esc, strlen(un[k].esc)))
				break;
		if (k < RB_ARRAY_LEN(un)) {
			out[o++] = un[k].c;
			p += strlen(un[k].esc);
		} else {
			out[o++] = *p++;
		}
	}
	out[o] = '\0';
	return out;
}

static void last_request_cb(void *arg, int err, const char *errmsg, const char *text)
{
	struct app_inc *ai = arg;

	ai->pending--;
	if (err)
		ilog_warn(&ai->inc, "cannot read the approval request that was approved (%s): "
				    "a changed plan is shown without the old one",
			  errmsg ? errmsg : "?");
	else if (!ai->asked_plan)
		ai->asked_plan = request_plan(text);
	if (ai->lost || ai->inc.state != INC_APPROVED) {
		shell_inc_release(ai); /* cancelled meanwhile, or taken over */
		return;
	}
	steps_plan_and_defer(ai, INC_EV_PLAN_CHECKED);
	shell_flush_deferred(ai);
	shell_inc_release(ai);
}

/* CHECK_PLAN: builds the plan again and compares. After a restart or a
 * takeover the plan its approvers read is not in memory: it is read from
 * the request as recorded first, so that a changed plan can be shown
 * against it. */
void steps_check_plan(struct app_inc *ai)
{
	if (ai->asked_plan || db_last_request(ai->app->store, ai->inc.id, last_request_cb, ai)) {
		steps_plan_and_defer(ai, INC_EV_PLAN_CHECKED);
		return;
	}
	ai->pending++;
}

/* Keeps what the history says is running now, for the report's "rolled
 * back from"; false when the output is not understood. */
static bool read_current(struct app_inc *ai, const char *output)
{
	if (plan_parse_current(ai->inc.method, output, ai->running_before,
			       sizeof ai->running_before, ai->deployed_at, sizeof ai->deployed_at))
		return false;
	ilog_info(&ai->inc, "running before the rollback: %s", ai->running_before);
	return true;
}

/* With --to the target is known: the history is read only for what runs
 * now (the report's "rolled back from"). Best effort: a history that
 * cannot be read is logged and the rollback goes on without it. */
static void current_done_cb(void *arg, const struct run_result *res)
{
	struct app_inc *ai = arg;

	ai->pending--;
	if (!res->spawned || res->timed_out || res->exit_status || res->term_signal ||
	    !read_current(ai, res->output))
		ilog_warn(&ai->inc, "cannot read what runs before the rollback from the tool's "
				    "history: the report will not say what it was rolled back from");
	if (ai->lost || ai->inc.state != INC_DECLARED) {
		shell_inc_release(ai); /* cancelled meanwhile, or taken over */
		return;
	}
	steps_plan_and_defer(ai, INC_EV_PLAN_READY);
	shell_flush_deferred(ai);
	shell_inc_release(ai);
}

static void resolve_done_cb(void *arg, const struct run_result *res)
{
	struct app_inc *ai = arg;
	struct inc_event ev = { .kind = INC_EV_PLAN_FAILED };
	char target[CMD_TARGET_MAX], err[RB_ERR_LEN];

	ai->pending--;
	if (!res->spawned) {
		snprintf(err, sizeof err, "could not run the history command: %s", res->spawn_error);
		ev.error = err;
	} else if (res->timed_out || res->exit_status || res->term_signal) {
		snprintf(err, sizeof err, "the history command failed (%s %d)",
			 res->timed_out ? "timed out;" : "exit status",
			 res->timed_out ? 0 : res->exit_status);
		ev.error = err;
	} else if (plan_parse_resolve(ai->inc.method, res->output, target, sizeof target, err,
				      sizeof err)) {
		ev.error = err;
	} else {
		ilog_info(&ai->inc, "target resolved from history: %s", target);
		(void)read_current(ai, res->output);
		(void)rb_strlcpy(ai->inc.target, target, sizeof ai->inc.target);
		steps_plan_and_defer(ai, INC_EV_PLAN_READY);
		shell_flush_deferred(ai);
		shell_inc_release(ai);
		return;
	}
	shell_step(ai, &ev);
	shell_inc_release(ai);
}

/* Reads the tool's history, then builds the plan. Without --to the history
 * resolves the target (so a retry never toggles back: the target is
 * explicit from here on); with it, it says only what runs now. */
void steps_prepare_plan(struct app_inc *ai)
{
	struct plan_param params[PARAMS_MAX];
	struct plan_input in;
	const struct config_service *svc = steps_plan_input(ai->app, &ai->inc, params, &in);
	struct plan_step *rs = NULL;
	struct run_spec spec = { 0 };
	char err[RB_ERR_LEN];
	int rc;

	if (!svc || plan_method_info(svc->method)->target == PLAN_TARGET_NONE) {
		steps_plan_and_defer(ai, INC_EV_PLAN_READY);
		return;
	}
	rc = plan_resolve_step(&in, &rs, err, sizeof err);
	if (rc || !rs) {
		/* No history to read (docker --rollback): the plan needs no target. */
		plan_step_free(rs);
		steps_plan_and_defer(ai, INC_EV_PLAN_READY);
		return;
	}
	spec.argv = (const char *const *)rs->exec.argv;
	spec.timeout_ms = rs->timeout_ms;
	/* With --to the history only says what runs now, and the rollback goes
	 * on without it; without, it decides the target. */
	rc = run_start(&ai->app->loop, &spec, ai->inc.target[0] ? current_done_cb : resolve_done_cb,
		       ai, NULL);
	plan_step_free(rs);
	if (rc && ai->inc.target[0]) {
		ilog_warn(&ai->inc, "cannot start the history command: the report will not say "
				    "what it was rolled back from");
		steps_plan_and_defer(ai, INC_EV_PLAN_READY);
		return;
	}
	if (rc) {
		struct inc_event ev = { .kind = INC_EV_PLAN_FAILED, .error = "cannot start the history command" };
		shell_defer(ai, &ev);
		return;
	}
	ai->pending++;
}

/* The characters of a step's output shown in its message, at most: well
 * under Slack's 40,000 for a message, and Slack's advice of 4,000 for one
 * that people read. */
#define STEP_TAIL_MAX 3000

static void step_report(struct app_inc *ai, int index, const char *command,
			const char *outcome, const char *tail, bool ok)
{
	size_t n = strlen(tail);

	shell_step_report_clear(&ai->last);
	ai->last.index = index;
	ai->last.title = rb_strdup(ai->plan->steps[index].title);
	ai->last.command = rb_strdup(command);
	ai->last.outcome = rb_strdup(outcome);
	/* The template closes the code block on its own line. A single line
	 * can be longer than a Slack message may be (40,000 characters): the
	 * end of it is shown, and the audit log keeps the whole output. */
	while (n && (tail[n - 1] == '\n' || tail[n - 1] == '\r'))
		n--;
	ai->last.tail = rb_code_tail(tail, n, STEP_TAIL_MAX, &ai->last.tail_cut);
	ai->last.ok = ok;
	free(ai->last_step);
	ai->last_step = rb_asprintf("%s step %d/%d, %s (`%s`): %s", ok ? "✔" : "✖", index + 1,
				    ai->inc.n_steps, ai->last.title, command, outcome);
}

static json_t *argv_json(const struct plan_step *st)
{
	json_t *a = json_array();

	for (size_t i = 0; i < st->exec.argc; i++)
		json_array_append_new(a,
				      shell_json_text(st->exec.argv[i], strlen(st->exec.argv[i])));
	return a;
}

struct step_ctx {
	struct app_inc *ai;
	int index;
	uint64_t started;
	struct live *live; /* exec steps: the live progress message (live.c) */
};

static void exec_output_cb(void *arg, const char *data, size_t len)
{
	struct step_ctx *sc = arg;

	live_output(sc->live, data, len);
}

static void exec_done_cb(void *arg, const struct run_result *res)
{
	struct step_ctx *sc = arg;
	struct app_inc *ai = sc->ai;
	const struct plan_step *st = &ai->plan->steps[sc->index];
	struct inc_event ev = { .kind = INC_EV_STEP_DONE, .step = sc->index };
	char outcome[160], status[16], dur[32], took[32], *cmd = plan_step_display(st);
	size_t tail_len;
	const char *tail = run_tail(res->output, res->output_len, 5, &tail_len);
	char *tail_copy = rb_strndup(tail, tail_len);

	ai->pending--;
	ev.ok = res->spawned && !res->timed_out && !res->term_signal && res->exit_status == 0;
	report_step_time(res->duration_ms, took, sizeof took);
	if (!res->spawned)
		snprintf(outcome, sizeof outcome, "could not start: %s", res->spawn_error);
	else if (res->timed_out)
		snprintf(outcome, sizeof outcome, "timed out after %s and was killed", took);
	else if (res->term_signal)
		snprintf(outcome, sizeof outcome, "killed by signal %d after %s", res->term_signal,
			 took);
	else
		snprintf(outcome, sizeof outcome, "exit status %d after %s", res->exit_status, took);
	snprintf(status, sizeof status, "%d", res->spawned ? res->exit_status : -1);
	snprintf(dur, sizeof dur, "%lld", (long long)res->duration_ms);
	/* All of it to the audit log: argv, status, duration and the output. */
	db_audit(ai->app->store, ai->inc.id, "rollbot", "command_run",
	      json_pack("{s:i, s:s, s:o, s:s, s:s, s:b, s:i, s:s, s:o, s:b}", "step", sc->index,
			"title", st->title, "argv", argv_json(st), "command", cmd, "exit_status",
			status, "timed_out", res->timed_out, "pgid", res->pgid, "duration_ms", dur,
			"output", shell_json_text(res->output, res->output_len), "truncated",
			res->truncated),
	      NULL);
	step_report(ai, sc->index, cmd, outcome, tail_copy, ev.ok);
	live_end(sc->live, ev.ok, outcome);
	ilog_info(&ai->inc, "step %d %s: %s", sc->index, ev.ok ? "done" : "FAILED", outcome);
	free(cmd);
	free(tail_copy);
	free(sc);
	ev.error = ai->last.outcome;
	shell_step(ai, &ev);
	shell_inc_release(ai);
}

static void http_done_cb(void *arg, const struct api_result *res)
{
	struct step_ctx *sc = arg;
	struct app_inc *ai = sc->ai;
	const struct plan_step *st = &ai->plan->steps[sc->index];
	struct inc_event ev = { .kind = INC_EV_STEP_DONE, .step = sc->index };
	char outcome[160], *cmd = plan_step_display(st);

	ai->pending--;
	for (size_t i = 0; i < st->http.n_expect; i++)
		if (res->http_status == st->http.expect[i])
			ev.ok = true;
	if (res->http_status)
		snprintf(outcome, sizeof outcome, "HTTP %ld after %d attempt(s)", res->http_status,
			 res->attempts);
	else
		snprintf(outcome, sizeof outcome, "no answer: %s", res->error ? res->error : "?");
	db_audit(ai->app->store, ai->inc.id, "rollbot", "http_request",
	      json_pack("{s:i, s:s, s:s, s:s, s:I, s:s, s:b}", "step", sc->index, "title",
			st->title, "method", st->http.method, "url", st->http.url, "status",
			(json_int_t)res->http_status, "response", res->raw ? res->raw : "", "ok",
			ev.ok),
	      NULL);
	step_report(ai, sc->index, cmd, outcome, res->raw ? res->raw : "", ev.ok);
	free(cmd);
	free(sc);
	ev.error = ai->last.outcome;
	shell_step(ai, &ev);
	shell_inc_release(ai);
}

/* Starts step sc->index: a process, or an HTTP request. Returns 0 or the
 * reason it could not start. */
static const char *start_step(struct step_ctx *sc)
{
	struct app_inc *ai = sc->ai;
	const struct plan_step *st = &ai->plan->steps[sc->index];
	int rc;

	ilog_info(&ai->inc, "step %d: %s", sc->index, st->title);
	if (st->kind == PLAN_STEP_EXEC) {
		struct run_spec spec = { .argv = (const char *const *)st->exec.argv,
					 .env_extra = (const char *const *)st->exec.env,
					 .timeout_ms = st->timeout_ms,
					 .on_output = exec_output_cb };
		sc->live = live_start(ai, sc->index, st->title, st->timeout_ms);
		rc = run_start(&ai->app->loop, &spec, exec_done_cb, sc, NULL);
		if (rc) {
			live_end(sc->live, false, "could not start");
			sc->live = NULL;
		}
	} else if (!strcmp(st->http.method, "GET")) {
		rc = api_get_url(ai->app->api, st->http.url, http_done_cb, sc);
	} else {
		const char *body = st->http.body ? st->http.body : "";
		rc = api_post_url(ai->app->api, st->http.url, "application/json", body, strlen(body),
				  http_done_cb, sc);
	}
	return rc ? "could not start the step" : NULL;
}

static void step_failed_to_start(struct step_ctx *sc, const char *why)
{
	struct app_inc *ai = sc->ai;
	struct inc_event fail = { .kind = INC_EV_STEP_DONE, .step = sc->index, .ok = false,
				  .error = why };

	ilog_error(&ai->inc, "step %d not run: %s", sc->index, why);
	free(sc);
	ai->pending--;
	shell_step(ai, &fail);
	shell_inc_release(ai);
}

/* The step's start is in the store: only now may it run. A restart that
 * finds the incident rolling back therefore knows which step may have run,
 * and a step the store does not name has not. */
static void step_marked_cb(void *arg, int err, const char *errmsg)
{
	struct step_ctx *sc = arg;
	const char *why;

	if (err == DB_ELOST) {
		/* Another replica carries the incident now: it decides. */
		struct app_inc *ai = sc->ai;
		owner_lost(ai, errmsg ? errmsg : "its fence moved on");
		ilog_warn(&ai->inc, "step %d not run here", sc->index);
		free(sc);
		ai->pending--;
		shell_inc_release(ai);
		return;
	}
	if (err) {
		ilog_error(&sc->ai->inc, "could not record the start of step %d: %s", sc->index,
			   errmsg ? errmsg : "?");
		step_failed_to_start(sc, "not run: rollbot could not record its start in the "
					 "database");
		return;
	}
	/* A SIGTERM does not stop a rollback half-way: drain_cb waits for it. */
	why = start_step(sc);
	if (why)
		step_failed_to_start(sc, why);
}

/* INC_ACT_RUN_STEP: records the start of step `index` in the store, then
 * runs it (step_marked_cb); its result comes back as INC_EV_STEP_DONE. A
 * step that cannot start fails as a STEP_DONE too, deferred when that is
 * known at once. */
void steps_run(struct app_inc *ai, int index)
{
	struct step_ctx *sc;
	struct inc_event fail = { .kind = INC_EV_STEP_DONE, .step = index, .ok = false };

	if (!ai->plan || index < 0 || (size_t)index >= ai->plan->n_steps) {
		fail.error = "no such step (a bug)";
		shell_defer(ai, &fail);
		return;
	}
	sc = rb_calloc(1, sizeof *sc);
	sc->ai = ai;
	sc->index = index;
	if (db_mark_step(ai->app->store, ai->inc.id, ai->fence, index, step_marked_cb, sc)) {
		free(sc);
		fail.error = "not run: rollbot could not record its start in the database";
		shell_defer(ai, &fail);
		return;
	}
	ai->pending++;
}
