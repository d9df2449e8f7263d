/* rollbot — carrying on after a restart (MIT licence, see LICENSE).
 *
 * Once the bot knows who it is (auth.test) and who its approvers are, it
 * claims the incidents this replica held under its name and those nobody
 * holds (db_claim: with several replicas, those of the live ones stay
 * theirs, owner.c) and hands each INC_EV_RESUMED: the state machine decides
 * what to do again (recount a request's reactions, look before re-running
 * an interrupted step, go on verifying). The posts the outbox has open go
 * to outbox.c, which looks for them in Slack before posting any. Deadlines come back as time left, put on the
 * loop's clock here. resume_incident also brings back an incident a
 * command names when it is not in memory.
 */
#include "shell.h"

#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"

/* One incident as the store has it (db_incident) back in memory. Returns
 * NULL when it cannot carry on here (its service is gone). */
struct app_inc *resume_incident(struct app *app, const struct db_incident *row)
{
	struct incident inc;
	const struct config_service *svc = config_service(app->cfg, row->inc.service);
	struct app_inc *ai;
	char err[RB_ERR_LEN];
	int64_t now = now_ms(app);

	if (!svc) {
		log_warn("%s: service %s is no longer configured; the incident is left as it is",
			 row->inc.id, row->inc.service);
		return NULL;
	}
	if (!row->known)
		return NULL;
	inc = row->inc;
	(void)rb_strlcpy(inc.service, svc->name, sizeof inc.service);
	inc.method = svc->method;
	inc.approval_deadline_ms = now + row->approval_left_ms;
	inc.declared_ms = now - row->age_ms;
	/* A slot missed while the bot was down is due at once (posted once). */
	if (row->has_next_update && !inc_state_is_final(inc.state))
		inc.next_update_ms = now + row->next_update_in_ms;
	if (row->has_verify_deadline)
		inc.verify_deadline_ms = now + row->verify_left_ms;
	/* An escalation due while the bot was down is due at once. */
	if (row->has_escalate_at && inc.state == INC_AWAITING_APPROVAL)
		inc.escalate_at_ms = now + row->escalate_in_ms > 0 ? now + row->escalate_in_ms : 1;
	ai = shell_inc_new(app, &inc);
	ai->fence = row->fence;
	if (row->last_step[0])
		ai->last_step = rb_strdup(row->last_step);
	if (row->last_checks[0])
		ai->last_checks = rb_strdup(row->last_checks);
	if (!inc.target[0] && inc.state == INC_DECLARED)
		return ai; /* the plan waits for its target */
	if (steps_build_plan(ai, err, sizeof err))
		ilog_warn(&ai->inc, "its plan cannot be built any more: %s", err);
	else
		ai->inc.n_steps = (int)ai->plan->n_steps;
	/* The step that was running may have its live message still saying
	 * so: it says what happened instead. */
	if (inc.state == INC_ROLLING_BACK)
		live_interrupted(ai, inc.next_step);
	return ai;
}

/* Carries on with a claimed incident (`how`: "resuming", "taken over"):
 * one in progress comes back in memory and gets INC_EV_RESUMED; one that
 * ended with its report still to upload gets the upload. Returns false when
 * it cannot be carried here (its service is gone). */
bool resume_claimed(struct app *app, const struct db_incident *row, const char *how)
{
	struct inc_event ev = { .kind = INC_EV_RESUMED };
	struct app_inc *ai;

	if (shell_find_incident(app, row->inc.id))
		return true; /* carried here already (a command loaded it first) */
	if (row->known && inc_state_is_final(row->inc.state)) {
		outbox_wrapup(app, row); /* its last posts, its report */
		return true;
	}
	ai = resume_incident(app, row);
	if (!ai)
		return false;
	ilog_info(&ai->inc, "%s in state %s (fence %lld)", how, inc_state_name(ai->inc.state),
		  (long long)ai->fence);
	/* Posts recorded and not known to have gone out: the resume does not
	 * post them again, outbox.c looks for them and posts what it does not
	 * find. */
	if (json_array_size(row->pending_posts))
		ai->resend = json_incref(row->pending_posts);
	shell_step(ai, &ev);
	if (ai->resend) {
		json_t *pending = ai->resend;
		ai->resend = NULL;
		outbox_resend(ai, pending);
	}
	/* A failed incident stays open, and its report was owed from the
	 * failure on (shell.c, report_after): a carrier that died before the
	 * upload leaves it here, for this one to upload. */
	if (row->report_pending[0] && strcmp(row->report_pending, "posts"))
		publish_resumed_report(app, row->inc.id, ai->fence,
				       !strcmp(row->report_pending, "report+drafts"));
	shell_inc_release(ai);
	return true;
}

static void resume_done_cb(void *arg, int err, const char *errmsg,
			   const struct db_incident *rows, size_t n)
{
	struct app *app = arg;

	if (err) {
		/* The store replays what a lost connection cut short, so this is
		 * the server refusing the query: a bug, not an outage. Serve
		 * anyway rather than never. */
		log_error("store: could not load the incidents in progress: %s",
			  errmsg ? errmsg : "?");
		loop_open_socket(app);
		return;
	}
	for (size_t r = 0; r < n; r++)
		(void)resume_claimed(app, &rows[r], "resuming");
	log_info("loaded %zu incident(s) in progress as replica %s", n, app->owner);
	loop_open_socket(app);
}

/* Loads what was in progress when the bot last stopped. */
void resume_start(struct app *app)
{
	if (app->resumed || app->stopping)
		return;
	app->resumed = true;
	if (db_claim(app->store, app->owner, 1000, true, resume_done_cb, app))
		log_error("store: cannot queue the load of the incidents in progress");
}
