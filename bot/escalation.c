/* rollbot — escalation: the on-call lead and PagerDuty (MIT licence, see LICENSE).
 *
 * Runbook 000 names the decision maker as "Release Manager (or On-call
 * Lead if unavailable)", and runbook 001 pages PagerDuty when a rollback
 * needs people. inc_step() decides when an approval request is escalated
 * (INC_EV_ESCALATE_DUE, from the sweep in approval.c) and records it with
 * its message; this file gives that message its data and carries out the
 * pages: an Events API v2 trigger when a request is escalated, its
 * resolve when the request is decided or closed (INC_ACT_PAGE,
 * INC_ACT_UNPAGE), and the same for a watcher's proposal (proposal.c):
 * those are kept in the database with the proposal (sql/018), claimed by
 * whichever replica sweeps first, and sent from here.
 *
 * A page goes out only after what it is about is recorded: the actions run
 * once the step's write is committed (shell.c). A crash between the two
 * loses nothing for good: the resume of an escalated request triggers its
 * event again, and that of a decided one resolves it again (PagerDuty
 * dedups by key, and a resolve of a resolved event changes nothing). The
 * client (pagerduty.c) retries a 5xx, a 429 or a network error a bounded
 * number of times on the loop, and never holds anything else up; the
 * routing key never leaves it.
 */
#include "shell.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../commands/policy.h"
#include "log.h"
#include "db_proposal.h"
#include "pagerduty.h"

/* One dedup key per incident (and per proposal): "rollbot-INC-2026-0001". */
static void incident_key(const struct incident *inc, char *out, size_t len)
{
	snprintf(out, len, "rollbot-%s", inc->id);
}

/* What the escalated message shows beyond the approval request's data:
 * how long nobody answered, who is asked now, and the deadline, unchanged,
 * on the operators' clock. */
void escalation_data(struct app_inc *ai, json_t *data)
{
	struct pol_policy pol;
	struct pol_request req = { .requester = ai->inc.requested_by,
				   .with_db = ai->inc.with_db, .escalated = true };
	char who[1024], waited[64], clock[64];
	int64_t left = ai->inc.approval_deadline_ms - now_ms(ai->app);

	approval_policy(ai->app, &ai->inc, &pol);
	if (pol_fallback_mentions(&pol, &req, who, sizeof who) || !who[0])
		(void)rb_strlcpy(who, "the on-call lead", sizeof who);
	shell_human_duration(pol.escalate_after_ms, waited, sizeof waited);
	/* Whole seconds, rounded up: the deadline as the sweep will see it. */
	report_local_clock(((int64_t)time(NULL) + (left > 0 ? (left + 999) / 1000 : 0)) * 1000,
			   clock, sizeof clock);
	json_object_set_new(data, "fallback", json_string(who));
	json_object_set_new(data, "waited", json_string(waited));
	json_object_set_new(data, "deadline", json_string(clock));
	json_object_set_new(data, "self_excluded",
			    json_boolean(!pol.allow_self_approval || ai->inc.with_db));
}

/* INC_ACT_PAGE: the incident's approval waits, escalated. */
void escalation_page(struct app_inc *ai)
{
	struct pol_policy pol;
	/* Not escalated: whether the approvers alone fall short. */
	struct pol_request req = { .requester = ai->inc.requested_by, .with_db = ai->inc.with_db };
	char key[64], waited[64], summary[512];

	if (!ai->app->pd)
		return;
	approval_policy(ai->app, &ai->inc, &pol);
	shell_human_duration(pol.escalate_after_ms, waited, sizeof waited);
	incident_key(&ai->inc, key, sizeof key);
	if (pol_short_handed(&pol, &req))
		snprintf(summary, sizeof summary,
			 "%s: the rollback of %s (%s) waits for approval: only the fallback "
			 "approvers can give it",
			 ai->inc.id, ai->inc.service, cmd_severity_name(ai->inc.severity));
	else
		snprintf(summary, sizeof summary,
			 "%s: the rollback of %s (%s) waits for approval: no decision after %s",
			 ai->inc.id, ai->inc.service, cmd_severity_name(ai->inc.severity), waited);
	ilog_info(&ai->inc, "paging (PagerDuty trigger %s)", key);
	pd_trigger(ai->app->pd, key, summary, pd_severity((int)ai->inc.severity), "rollbot", NULL,
		   NULL);
}

/* INC_ACT_UNPAGE: it no longer waits (decided, expired, cancelled). */
void escalation_unpage(struct app_inc *ai)
{
	char key[64];

	if (!ai->app->pd)
		return;
	incident_key(&ai->inc, key, sizeof key);
	ilog_info(&ai->inc, "resolving the page (PagerDuty resolve %s)", key);
	pd_resolve(ai->app->pd, key, NULL, NULL);
}

/* ---- proposals ----
 *
 * The page about a proposal lives with it in the database: triggered once
 * it is recorded (while it is offered), resolved once it is taken or has
 * expired, each recorded once PagerDuty accepted it. Every replica with a
 * routing key claims the pages still to send each second (and at once
 * when it recorded or took a proposal), under a lease: a crash before the
 * send, a restart before the expiry, or an expiry on another replica than
 * the one that paged it leaves nothing open. A restart under the same name
 * claims at once what the process it replaces had claimed. */

/* Longer than pagerduty.c's retries take with PagerDuty answering; one
 * that times out at every try can outlast it, and the page is then sent
 * again by whoever claims it next: harmless, PagerDuty dedups by key. */
#define PAGE_LEASE_S 30

struct esc_pages {
	int64_t started_ms; /* wall clock: claims older than this are a restart's */
	bool mine_done;     /* the restart's claims were taken over */
	bool claiming;
	bool again; /* asked for while a claim was out: once more after it */
};

/* A proposal's dedup key: "rollbot-proposal-17" (its ID in the database,
 * which every replica knows). */
static void proposal_key(int64_t id, char *out, size_t len)
{
	snprintf(out, len, "rollbot-proposal-%lld", (long long)id);
}

struct page_send {
	struct app *app;
	int64_t id;
	enum db_page_action action;
};

static void page_sent_cb(void *arg, const struct api_result *res)
{
	struct page_send *ps = arg;

	/* Not accepted: the lease runs out and a sweep sends it again. */
	if (res->ok && !ps->app->stopping)
		db_page_done(ps->app->store, ps->id, ps->action, ps->app->owner);
	free(ps);
}

static void send_page(struct app *app, const struct db_page *pg)
{
	struct page_send *ps = rb_calloc(1, sizeof *ps);
	enum cmd_severity sev = CMD_SEV_P1;
	char key[64], text[512];

	ps->app = app;
	ps->id = pg->id;
	ps->action = pg->action;
	proposal_key(pg->id, key, sizeof key);
	if (pg->action == DB_PAGE_RESOLVE) {
		log_info("resolving the page about proposal %lld (PagerDuty resolve %s)",
			 (long long)pg->id, key);
		pd_resolve(app->pd, key, page_sent_cb, ps);
		return;
	}
	if (cmd_severity_from_name(pg->severity, &sev))
		sev = CMD_SEV_P1;
	snprintf(text, sizeof text, "rollbot proposes a rollback of %s (%s): %s", pg->service,
		 cmd_severity_name(sev), pg->summary);
	log_info("paging about proposal %lld (PagerDuty trigger %s)", (long long)pg->id, key);
	pd_trigger(app->pd, key, text, pd_severity((int)sev), "rollbot", page_sent_cb, ps);
}

static void claim_pages(struct app *app);

static void claimed_cb(void *arg, int err, const char *errmsg, const struct db_page *rows, int n)
{
	struct app *app = arg;
	struct esc_pages *ep = app->esc_pages;

	ep->claiming = false;
	if (err) {
		log_warn("store: could not claim the proposals' pages: %s", errmsg ? errmsg : "?");
		return;
	}
	ep->mine_done = true;
	for (int i = 0; i < n && !app->stopping; i++)
		send_page(app, &rows[i]);
	if (ep->again) {
		ep->again = false;
		claim_pages(app);
	}
}

static void claim_pages(struct app *app)
{
	struct esc_pages *ep;

	if (!app->pd || app->stopping || !app->store)
		return;
	if (!app->esc_pages) {
		app->esc_pages = rb_calloc(1, sizeof *app->esc_pages);
		app->esc_pages->started_ms = (int64_t)time(NULL) * 1000;
	}
	ep = app->esc_pages;
	if (ep->claiming) {
		ep->again = true;
		return;
	}
	if (db_claim_pages(app->store, app->owner, PAGE_LEASE_S,
			   ep->mine_done ? 0 : ep->started_ms, claimed_cb, app))
		log_warn("store: cannot queue the claim of the proposals' pages");
	else
		ep->claiming = true;
}

void escalation_proposal_changed(struct app *app)
{
	claim_pages(app);
}

void escalation_sweep(struct app *app)
{
	claim_pages(app);
}

void escalation_free(struct app *app)
{
	free(app->esc_pages);
	app->esc_pages = NULL;
}
