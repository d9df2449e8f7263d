/* rollbot — /rollback assess (MIT licence, see LICENSE).
 *
 * Reads a service's figures the way verification does (bot/probe.c: the
 * health URL and the verify block's two Prometheus queries, each with its
 * own timeout, on the loop), hands them to the pure classifier
 * (commands/assess.c) and answers the person privately with the verdict,
 * the suggested severity and its time budget, each figure against its
 * threshold, and the /rollback it would run, shown as the dry run shows it.
 * The ack has already gone out when this starts: a slow or dead Prometheus
 * only delays this answer, and a figure it cannot read is said plainly.
 * With --post the answer is also recorded and then posted in the channel,
 * through chanpost.c: once, across redeliveries and crashes.
 */
#include "shell.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../commands/assess.h"
#include "chanpost.h"
#include "db.h"
#include "db_proposal.h"
#include "log.h"
#include "probe.h"
#include "lastdeploy.h"
#include "watcher.h"

#define ASSESS_TIMEOUT_MS 5000 /* per probe; the person is waiting */

struct assess_job {
	struct app *app;
	struct cmd cmd;
	json_t *payload; /* the slash command's, for the dry run (owned) */
	char *reply_url;
	double p99_max_s;
	int outstanding; /* the probe round, and the history command if any */
	struct verify_round round;
	/* The tool's revision history, for people: "revision 42 is running
	 * (deployed …); the previous one is 41", or why it is not known. */
	char history[256];
};

static void job_free(struct assess_job *j)
{
	json_decref(j->payload);
	free(j->reply_url);
	free(j);
}

/* Why a figure is missing: not configured, or what the probe saw. */
static const char *missing_why(const struct verify_round *r, enum verify_check c)
{
	if (r->outcome[c] == VERIFY_NOT_RUN)
		return "not configured";
	return r->detail[c];
}

static int figure_lines(struct rb_buf *b, const struct as_result *res,
			const struct verify_round *r)
{
	static const enum verify_check order[] = { VERIFY_ERROR_RATE, VERIFY_LATENCY,
						   VERIFY_HEALTH };
	int rc = 0;

	for (size_t i = 0; i < res->n_reasons && i < RB_ARRAY_LEN(order) && !rc; i++) {
		enum verify_check c = order[i];
		bool unread = strstr(res->reasons[i], "could not be read") != NULL;

		rc = rb_buf_printf(b, "• %s", res->reasons[i]);
		if (!rc && unread)
			rc = rb_buf_printf(b, " — %s", missing_why(r, c));
		else if (!rc && c == VERIFY_HEALTH)
			rc = rb_buf_printf(b, " — %s", r->detail[c]);
		if (!rc)
			rc = rb_buf_puts(b, "\n");
	}
	return rc;
}

static char *answer_text(struct assess_job *j, const struct as_result *res,
			 const struct verify_round *r)
{
	struct cmd rb = j->cmd;
	struct rb_buf b;
	char *dry, *out;
	int rc;

	rb_buf_init(&b, 16384);
	rc = rb_buf_printf(&b, "*Assessment of %s*: %s.", j->cmd.service,
			   assess_verdict_text(res->verdict));
	if (!rc && res->severity != AS_SEV_NONE)
		rc = rb_buf_printf(&b, " Suggested severity: *%s* (%s).",
				   assess_severity_name(res->severity), res->budget);
	if (!rc)
		rc = rb_buf_puts(&b, "\n");
	if (!rc)
		rc = figure_lines(&b, res, r);
	if (!rc)
		rc = rb_buf_printf(&b, "• revision history: %s\n", j->history);
	if (!rc)
		rc = rb_buf_printf(&b, "%s\n", assess_people_note());
	if (!rc && res->verdict >= AS_DISCUSS) {
		rb.kind = CMD_ROLLBACK;
		rb.dry_run = true;
		rb.post = false;
		rb.severity = (enum cmd_severity)(res->severity - AS_SEV_P0);
		rc = rb_buf_printf(&b, "\nThe rollback it would run: `/rollback %s --severity %s`\n",
				   rb.service, assess_severity_name(res->severity));
		dry = ingress_dry_run_text(j->app, &rb, j->payload);
		if (!rc && dry)
			rc = rb_buf_puts(&b, dry);
		free(dry);
	}
	out = rc ? rb_strdup("rollbot could not put the assessment into words.")
		 : rb_strdup(rb_buf_str(&b));
	rb_buf_free(&b);
	return out;
}

static void post_in_channel(struct assess_job *j, const struct as_result *res,
			    const char *text);

static void finish(struct assess_job *j)
{
	const struct verify_round *r = &j->round;
	struct as_input in;
	struct as_result res;
	char *text;

	if (--j->outstanding > 0)
		return;
	assess_input_of_round(r, j->p99_max_s, &in);
	assess_classify(&in, &res);
	text = answer_text(j, &res, r);
	log_info("assess %s: %s", j->cmd.service, assess_verdict_text(res.verdict));
	shell_reply_url(j->app, j->reply_url, text);
	if (j->cmd.post)
		post_in_channel(j, &res, text);
	free(text);
	job_free(j);
}

struct assess_post {
	struct app *app;
	char *reply_url;
	json_t *args; /* chat.postMessage's, as recorded */
	char service[CMD_SERVICE_MAX];
};

static void post_free(struct assess_post *p)
{
	json_decref(p->args);
	free(p->reply_url);
	free(p);
}

static void posted_cb(void *arg, const struct api_result *res)
{
	struct assess_post *p = arg;

	/* chanpost.c has recorded the ts, or why it could not be posted. */
	if (chanpost_left_open(res))
		log_warn("assess: the assessment of %s is not posted yet (%s): left for the replica "
			 "that claims it next",
			 p->service, res->error);
	else if (!res->ok)
		shell_reply_url(p->app, p->reply_url,
				"The assessment was recorded but Slack did not take the post in the "
				"channel.");
	post_free(p);
}

/* The row is written: only now is it said in the channel (chanpost.c,
 * which also carries it on after a crash). */
static void recorded_cb(void *arg, int err, const char *errmsg, int64_t id)
{
	struct assess_post *p = arg;

	if (!err && !id) {
		/* The same command delivered again (another replica, a restart):
		 * its assessment was recorded, and posted, the first time. */
		log_info("assess: this command's post is on record already (a redelivery); not "
			 "posted again");
		post_free(p);
		return;
	}
	if (err) {
		log_error("assess: not recorded, not posted: %s", errmsg ? errmsg : "?");
		shell_reply_url(p->app, p->reply_url,
				"rollbot could not record the assessment, so it did not post it in "
				"the channel.");
		post_free(p);
		return;
	}
	chanpost_send(p->app, DB_CHANPOST_ASSESS, id, p->args, NULL, posted_cb, p);
}

/* --post: recorded first (the post, and an audit row with the exact text),
 * then posted. */
static void post_in_channel(struct assess_job *j, const struct as_result *res, const char *text)
{
	struct assess_post *p = rb_calloc(1, sizeof *p);
	const char *trigger = json_string_value(json_object_get(j->payload, "trigger_id"));
	const char *user = json_string_value(json_object_get(j->payload, "user_id"));
	const char *channel = json_string_value(json_object_get(j->payload, "channel_id"));
	char *key = rb_asprintf("assess_posted:%s", trigger ? trigger : "");
	char *args_s;
	json_t *detail;

	if (!channel)
		channel = "";
	p->app = j->app;
	p->reply_url = rb_strdup(j->reply_url);
	(void)rb_strlcpy(p->service, j->cmd.service, sizeof p->service);
	p->args = chanpost_args(j->app, channel, text, "assess", j->cmd.service);
	args_s = json_dumps(p->args, JSON_COMPACT | JSON_SORT_KEYS);
	detail = json_pack("{s:s, s:s, s:s, s:s}", "service", j->cmd.service, "verdict",
			   assess_verdict_text(res->verdict), "channel", channel, "text", text);
	if (db_assess_post(j->app->store, user ? user : "", detail, trigger && *trigger ? key : NULL,
			   j->cmd.service, j->app->owner, channel, args_s, recorded_cb, p)) {
		shell_reply_url(j->app, j->reply_url,
				"rollbot could not record the assessment, so it did not post it in "
				"the channel.");
		post_free(p);
	}
	free(args_s);
	free(key);
}

static void probed_cb(void *arg, const struct verify_round *r, bool any)
{
	struct assess_job *j = arg;

	(void)any;
	j->round = *r;
	finish(j);
}

static void history_cb(void *arg, const struct lastdeploy *d)
{
	struct assess_job *j = arg;

	if (d->known)
		lastdeploy_text(d, j->history, sizeof j->history);
	else
		snprintf(j->history, sizeof j->history, "could not be read — %s", d->why);
	finish(j);
}

/* Starts the tool's history command (kubectl rollout history…), as the
 * rollback itself would to pick its target. Returns true when started. */
static bool start_history(struct app *app, struct assess_job *j)
{
	struct lastdeploy d;

	if (lastdeploy_read(app, j->cmd.service, 0, &d, history_cb, j) == 0)
		return true;
	if (!strcmp(d.why, "not kept by this method"))
		snprintf(j->history, sizeof j->history, "%s", d.why);
	else
		snprintf(j->history, sizeof j->history, "could not be read — %s", d.why);
	return false;
}

void assess_start(struct app *app, const struct cmd *cmd, json_t *payload, const char *reply_to)
{
	const struct config_service *svc = config_service(app->cfg, cmd->service);
	struct assess_job *j;
	struct probe_spec spec;

	if (!svc) {
		shell_reply_url(app, reply_to, "That service is no longer configured.");
		return;
	}
	j = rb_calloc(1, sizeof *j);
	j->app = app;
	j->cmd = *cmd;
	j->payload = json_deep_copy(payload);
	j->reply_url = rb_strdup(reply_to ? reply_to : "");
	j->p99_max_s = watch_p99_threshold_s(svc);
	memset(&spec, 0, sizeof spec);
	spec.timeout_ms = ASSESS_TIMEOUT_MS;
	spec.health_url = svc->health_url;
	spec.prometheus_url = svc->verify.prometheus_url;
	spec.error_rate_query = svc->verify.error_rate_query;
	spec.latency_query = svc->verify.latency_query;
	spec.error_rate_max = AS_ERR_ROLLBACK;
	spec.latency_max_s = j->p99_max_s;
	j->outstanding = 2; /* one held until both have started */
	if (probe_round(&app->loop, app->api, &spec, probed_cb, j)) {
		shell_reply_url(app, reply_to, "rollbot could not start reading the figures.");
		job_free(j);
		return;
	}
	if (start_history(app, j))
		j->outstanding++;
	finish(j);
}
