/* rollbot — verification rounds and the status check (MIT licence, see LICENSE).
 *
 * Once the rollback's commands are done, the service is checked every
 * verify interval until the window ends: the health and version URLs,
 * Prometheus' error rate and latency, the method's own status command.
 * probe.c runs a round; its outcome goes to the audit log, to the texts of
 * the status updates and to the state machine (INC_EV_VERIFIED), and the
 * time the health check failed is counted for the completion message. The
 * status check runs the status command alone, when a restart found a step
 * running, for the approvers to see before anything runs again.
 */
#include "shell.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../commands/plan.h"
#include "../commands/verify.h"
#include "db.h"
#include "log.h"
#include "probe.h"

/* The plan's last step that only reads (kubectl rollout status, helm
 * status, the flag's GET): the method's own status command. */
static const struct plan_step *status_step(const struct plan *p)
{
	for (size_t i = p ? p->n_steps : 0; i > 0; i--)
		if (p->steps[i - 1].role == PLAN_ROLE_CHECK)
			return &p->steps[i - 1];
	return NULL;
}

static void probe_spec_for(struct app_inc *ai, bool status_only, struct probe_spec *spec)
{
	const struct config_service *svc = config_service(ai->app->cfg, ai->inc.service);

	memset(spec, 0, sizeof *spec);
	spec->timeout_ms = 10000;
	if (!svc)
		return;
	if (svc->verify.status || status_only)
		spec->status_step = status_step(ai->plan);
	if (status_only)
		return;
	spec->health_url = svc->health_url;
	spec->version_url = svc->version_url;
	spec->target = ai->inc.target;
	spec->prometheus_url = svc->verify.prometheus_url;
	spec->error_rate_query = svc->verify.error_rate_query;
	spec->latency_query = svc->verify.latency_query;
	spec->error_rate_max = svc->verify.error_rate_max;
	spec->latency_max_s = (double)svc->verify.latency_max_ms / 1000.0;
}

/* "✔ health check: HTTP 200 · ✖ error rate: 6.0% (threshold 1.00%)" */
static char *checks_line(const struct verify_round *r)
{
	struct rb_buf b;
	char *out;
	int rc = 0;

	rb_buf_init(&b, 4096);
	for (int c = 0; c < VERIFY_CHECK_COUNT && !rc; c++) {
		if (r->outcome[c] == VERIFY_NOT_RUN)
			continue;
		rc = rb_buf_printf(&b, "%s%s %s: %s", b.len ? " · " : "",
				   r->outcome[c] == VERIFY_PASS ? "✔" : "✖",
				   verify_check_title((enum verify_check)c), r->detail[c]);
	}
	out = rb_strdup(rc ? "(too long to show)" : rb_buf_str(&b));
	rb_buf_free(&b);
	return out;
}

/* Milliseconds since 1970, UTC: the report's clock (the loop's is monotonic). */
static int64_t wall_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static json_t *round_json(const struct verify_round *r, int64_t at_ms)
{
	json_t *o = json_pack("{s:I}", "at_ms", (json_int_t)at_ms);

	for (int c = 0; c < VERIFY_CHECK_COUNT; c++) {
		if (r->outcome[c] == VERIFY_NOT_RUN)
			continue;
		json_object_set_new(o, verify_check_name((enum verify_check)c),
				    json_pack("{s:b, s:s}", "passed", r->outcome[c] == VERIFY_PASS,
					      "detail", r->detail[c]));
	}
	return o;
}

static void verify_done_cb(void *arg, const struct verify_round *r, bool any)
{
	struct app_inc *ai = arg;
	struct inc_event ev = { .kind = INC_EV_VERIFIED };
	char summary[INC_TEXT_MAX];
	int64_t at = wall_ms(); /* recorded with the results: the report counts from it */

	ai->pending--;
	ai->verifying_now = false;
	if (ai->app->stopping) {
		shell_inc_release(ai);
		return;
	}
	if (!ai->round)
		ai->round = rb_malloc(sizeof *ai->round);
	*ai->round = *r;
	if (r->outcome[VERIFY_HEALTH] != VERIFY_NOT_RUN)
		ai->health_checked = true;
	if (r->outcome[VERIFY_HEALTH] != VERIFY_NOT_RUN)
		(void)report_down_observe(&ai->down, at, r->outcome[VERIFY_HEALTH] == VERIFY_PASS);
	free(ai->last_checks);
	ai->last_checks = any ? checks_line(r) : rb_strdup("");
	(void)verify_round_summary(r, summary, sizeof summary);
	db_audit(ai->app->store, ai->inc.id, "rollbot", "probe_results", round_json(r, at), NULL);
	ev.ok = !any || verify_round_passed(r);
	ev.nothing_checked = !any;
	ev.error = summary;
	ilog_info(&ai->inc, "verification round: %s%s", ev.ok ? "passed" : "failed: ", ev.ok ? "" : summary);
	shell_step(ai, &ev);
	shell_inc_release(ai);
}

/* INC_ACT_VERIFY: one verification round, answered by INC_EV_VERIFIED
 * (deferred when it cannot start). Nothing while the bot is stopping. */
void verifying_round(struct app_inc *ai)
{
	struct probe_spec spec;

	/* Stopping: the incident stays verifying in the store, and the next
	 * start resumes the rounds. */
	if (ai->app->stopping)
		return;
	probe_spec_for(ai, false, &spec);
	if (probe_round(&ai->app->loop, ai->app->api, &spec, verify_done_cb, ai)) {
		struct inc_event ev = { .kind = INC_EV_VERIFIED, .error = "could not start the checks" };
		shell_defer(ai, &ev);
		return;
	}
	ai->pending++;
	ai->verifying_now = true;
}

static void status_checked_cb(void *arg, const struct verify_round *r, bool any)
{
	struct app_inc *ai = arg;
	struct inc_event ev = { .kind = INC_EV_STATUS_CHECKED };
	char text[INC_TEXT_MAX];

	ai->pending--;
	ai->verifying_now = false;
	if (ai->app->stopping) {
		shell_inc_release(ai);
		return;
	}
	if (!any)
		snprintf(text, sizeof text, "%s has no status command: check the service by hand",
			 plan_method_info(ai->inc.method)->title);
	else
		snprintf(text, sizeof text, "%s", r->detail[VERIFY_STATUS]);
	ev.ok = any && r->outcome[VERIFY_STATUS] == VERIFY_PASS;
	ev.error = text;
	shell_step(ai, &ev);
	shell_inc_release(ai);
}

/* INC_ACT_STATUS_CHECK: the method's status command alone, answered by
 * INC_EV_STATUS_CHECKED (deferred when it cannot start). */
void verifying_status_check(struct app_inc *ai)
{
	struct probe_spec spec;

	probe_spec_for(ai, true, &spec);
	if (probe_round(&ai->app->loop, ai->app->api, &spec, status_checked_cb, ai)) {
		struct inc_event ev = { .kind = INC_EV_STATUS_CHECKED,
					.error = "could not run the status command" };
		shell_defer(ai, &ev);
		return;
	}
	ai->pending++;
	ai->verifying_now = true;
}
