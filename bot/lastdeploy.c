/* rollbot — the last deploy of a service (MIT licence, see LICENSE).
 *
 * See lastdeploy.h. The history command is the one the rollback's own
 * resolution step runs (plan_resolve_step), and its output goes through
 * the same parsers: what is shown is what a rollback would go by.
 */
#include "lastdeploy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../commands/assess.h"
#include "runner.h"
#include "shell.h"

struct reading {
	struct app *app;
	char service[CMD_SERVICE_MAX];
	lastdeploy_cb cb;
	void *arg;
};

void lastdeploy_text(const struct lastdeploy *d, char *out, size_t len)
{
	if (!d->known) {
		snprintf(out, len, "%s", d->why);
		return;
	}
	snprintf(out, len, "%s%s%s%s%s%s%s%s", d->running[0] ? "revision " : "",
		 d->running[0] ? d->running : "running revision unknown",
		 d->running[0] ? " is running" : "", d->at[0] ? " (deployed " : "", d->at,
		 d->at[0] ? ")" : "", d->previous[0] ? "; the previous one is " : "; no previous one",
		 d->previous);
}

static void read_cb(void *arg, const struct run_result *res)
{
	struct reading *rd = arg;
	const struct config_service *svc = config_service(rd->app->cfg, rd->service);
	struct lastdeploy d;
	char at[64] = "", err[RB_ERR_LEN];

	memset(&d, 0, sizeof d);
	if (!svc)
		snprintf(d.why, sizeof d.why, "the service is no longer configured");
	else if (!res->spawned)
		snprintf(d.why, sizeof d.why, "%s", res->spawn_error ? res->spawn_error : "not started");
	else if (res->timed_out)
		snprintf(d.why, sizeof d.why, "the history command timed out");
	else if (res->exit_status || res->term_signal)
		snprintf(d.why, sizeof d.why, "the history command failed");
	else {
		d.known = true;
		(void)plan_parse_current(svc->method, res->output, d.running, sizeof d.running, at,
					 sizeof at);
		if (at[0] && assess_deploy_time(at, d.at, sizeof d.at))
			(void)rb_strlcpy(d.at, at, sizeof d.at); /* as the tool said it */
		if (plan_parse_resolve(svc->method, res->output, d.previous, sizeof d.previous, err,
				       sizeof err))
			d.previous[0] = '\0';
	}
	rd->cb(rd->arg, &d);
	free(rd);
}

int lastdeploy_read(struct app *app, const char *service, long max_ms, struct lastdeploy *d,
		    lastdeploy_cb cb, void *arg)
{
	struct plan_param params[PARAMS_MAX];
	struct plan_input in;
	struct incident inc;
	struct plan_step *rs = NULL;
	struct run_spec spec = { 0 };
	struct reading *rd;
	char err[RB_ERR_LEN];
	const struct config_service *svc;
	int rc;

	memset(d, 0, sizeof *d);
	memset(&inc, 0, sizeof inc);
	(void)rb_strlcpy(inc.service, service, sizeof inc.service);
	inc.severity = (enum cmd_severity)CMD_SEV_UNSET;
	svc = steps_plan_input(app, &inc, params, &in);
	in.incident_id = "INC-DRY-RUN";
	snprintf(d->why, sizeof d->why, "not kept by this method");
	if (!svc || plan_method_info(svc->method)->target == PLAN_TARGET_NONE ||
	    plan_resolve_step(&in, &rs, err, sizeof err) || !rs) {
		plan_step_free(rs);
		return -1;
	}
	rd = rb_calloc(1, sizeof *rd);
	rd->app = app;
	(void)rb_strlcpy(rd->service, service, sizeof rd->service);
	rd->cb = cb;
	rd->arg = arg;
	spec.argv = (const char *const *)rs->exec.argv;
	spec.timeout_ms = rs->timeout_ms;
	if (max_ms > 0 && (spec.timeout_ms <= 0 || spec.timeout_ms > max_ms))
		spec.timeout_ms = max_ms;
	rc = run_start(&app->loop, &spec, read_cb, rd, NULL);
	plan_step_free(rs);
	if (rc) {
		snprintf(d->why, sizeof d->why, "the history command did not start");
		free(rd);
		return -1;
	}
	return 0;
}
