/* rollbot — escalation: the on-call lead and PagerDuty (MIT licence, see LICENSE).
 *
 * Runbook 000 names the decision maker as "Release Manager (or On-call
 * Lead if unavailable)", and runbook 001 pages PagerDuty when a rollback
 * needs people. inc_step() decides when an approval request is escalated
 * (INC_EV_ESCALATE_DUE, from the sweep in approval.c) and records it with
 * its message; this file gives that message its data and carries out the
 * pages: an Events API v2 trigger when a request is escalated, its
 * resolve when the request is decided or closed (INC_ACT_PAGE,
 * INC_ACT_UNPAGE), and the same for a watcher's proposal (proposal.c).
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
	char key[64], waited[64], summary[512];

	if (!ai->app->pd)
		return;
	approval_policy(ai->app, &ai->inc, &pol);
	shell_human_duration(pol.escalate_after_ms, waited, sizeof waited);
	incident_key(&ai->inc, key, sizeof key);
	snprintf(summary, sizeof summary,
		 "%s: the rollback of %s (%s) waits for approval: no decision after %s", ai->inc.id,
		 ai->inc.service, cmd_severity_name(ai->inc.severity), waited);
	ilog_info(&ai->inc, "paging (PagerDuty trigger %s)", key);
	pd_trigger(ai->app->pd, key, summary, pd_severity((int)ai->inc.severity), "rollbot");
}

/* INC_ACT_UNPAGE: it no longer waits (decided, expired, cancelled). */
void escalation_unpage(struct app_inc *ai)
{
	char key[64];

	if (!ai->app->pd)
		return;
	incident_key(&ai->inc, key, sizeof key);
	ilog_info(&ai->inc, "resolving the page (PagerDuty resolve %s)", key);
	pd_resolve(ai->app->pd, key);
}

/* ---- proposals ---- */

/* A proposal offered (not known to be recorded yet) or paged, and when it
 * expires on this loop's clock: the sweep resolves its page then. Kept in
 * memory only: a restart forgets it (see DESIGN.md). */
struct esc_proposal {
	struct esc_proposal *next;
	char service[CMD_SERVICE_MAX];
	char severity[8];
	char summary[400];
	int64_t id;         /* 0 until recorded */
	int64_t expires_ms; /* on the loop's clock */
};

/* A proposal's dedup key: "rollbot-proposal-17" (its ID in the database,
 * which every replica knows). */
static void proposal_key(int64_t id, char *out, size_t len)
{
	snprintf(out, len, "rollbot-proposal-%lld", (long long)id);
}

static struct esc_proposal *find_offer(struct app *app, const char *service)
{
	for (struct esc_proposal *e = app->pd_proposals; e; e = e->next)
		if (!e->id && !strcmp(e->service, service))
			return e;
	return NULL;
}

static void drop(struct app *app, struct esc_proposal *gone)
{
	for (struct esc_proposal **e = &app->pd_proposals; *e; e = &(*e)->next)
		if (*e == gone) {
			*e = gone->next;
			free(gone);
			return;
		}
}

void escalation_proposal_offered(struct app *app, const char *service, const char *severity,
				 const char *summary, int64_t expiry_ms)
{
	struct esc_proposal *e;

	if (!app->pd)
		return;
	e = find_offer(app, service);
	if (!e) {
		e = rb_calloc(1, sizeof *e);
		e->next = app->pd_proposals;
		app->pd_proposals = e;
	}
	(void)rb_strlcpy(e->service, service, sizeof e->service);
	(void)rb_strlcpy(e->severity, severity ? severity : "", sizeof e->severity);
	(void)rb_strlcpy(e->summary, summary ? summary : "", sizeof e->summary);
	e->expires_ms = now_ms(app) + expiry_ms;
}

void escalation_proposal_recorded(struct app *app, const char *service, int64_t id)
{
	struct esc_proposal *e = app->pd ? find_offer(app, service) : NULL;
	enum cmd_severity sev = CMD_SEV_P1;
	char key[64], text[512];

	if (!e)
		return;
	e->id = id;
	if (cmd_severity_from_name(e->severity, &sev))
		sev = CMD_SEV_P1;
	proposal_key(id, key, sizeof key);
	snprintf(text, sizeof text, "rollbot proposes a rollback of %s (%s): %s", e->service,
		 cmd_severity_name(sev), e->summary);
	log_info("paging about proposal %lld (PagerDuty trigger %s)", (long long)id, key);
	pd_trigger(app->pd, key, text, pd_severity((int)sev), "rollbot");
}

void escalation_proposal_done(struct app *app, int64_t id)
{
	char key[64];

	if (!app->pd)
		return;
	for (struct esc_proposal *e = app->pd_proposals; e; e = e->next)
		if (e->id == id) {
			drop(app, e);
			break;
		}
	proposal_key(id, key, sizeof key);
	log_info("resolving the page about proposal %lld (PagerDuty resolve %s)", (long long)id,
		 key);
	pd_resolve(app->pd, key);
}

void escalation_sweep(struct app *app)
{
	int64_t now = now_ms(app);

	for (struct esc_proposal *e = app->pd_proposals, *next; e; e = next) {
		next = e->next;
		if (now < e->expires_ms)
			continue;
		if (e->id)
			escalation_proposal_done(app, e->id); /* expired: nobody took it */
		else
			drop(app, e); /* never recorded: an open episode's, or refused */
	}
}

void escalation_free(struct app *app)
{
	while (app->pd_proposals) {
		struct esc_proposal *e = app->pd_proposals;
		app->pd_proposals = e->next;
		free(e);
	}
}
