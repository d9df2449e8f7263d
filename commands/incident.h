/* rollbot — the incident state machine (MIT licence, see LICENSE).
 *
 * The one place where rollbot decides what happens to an incident. It is a
 * single function, inc_step(): given the incident as it is, an event and
 * the time, it returns the incident as it must become and a list of actions
 * for the shell (bot/shell.c) to carry out: post a message, append an audit
 * row, save the incident. It performs none of them itself: no I/O, no
 * clock, no globals, no allocation (STYLE.md rule 4).
 *
 * Life cycle (DESIGN.md): declared → awaiting_approval → approved →
 * rolling_back → verifying → resolved, with the ends rejected, expired and
 * cancelled; failed stays open until a person resolves or cancels it. This file carries the part that exists today:
 * declaration and the announcement.
 */
#ifndef INCIDENT_H
#define INCIDENT_H

#include <stdbool.h>
#include <stdint.h>

#include "parse.h"
#include "plan.h"
#include "policy.h"
#include "rb.h"

enum inc_state {
	INC_DECLARED,
	INC_AWAITING_APPROVAL,
	INC_APPROVED,
	INC_ROLLING_BACK,
	INC_VERIFYING,
	INC_RESOLVED,
	INC_REJECTED,
	INC_EXPIRED,
	INC_CANCELLED,
	INC_FAILED,
	INC_STATE_COUNT
};

#define INC_ID_MAX 24
#define INC_SLACK_ID_MAX 24 /* U…, C…, and ts "1781061129.402619" */

struct incident {
	char id[INC_ID_MAX]; /* INC-2026-0001 */
	enum inc_state state;
	char service[CMD_SERVICE_MAX];
	enum plan_method method;
	enum cmd_severity severity;
	char target[CMD_TARGET_MAX]; /* "" = the method's default target */
	const char *reason; /* "" when not given; owned by the shell, which keeps it
			     * alive as long as the incident (free text is kept out
			     * of the struct so that queued work stays small) */
	char requested_by[INC_SLACK_ID_MAX];
	char channel[INC_SLACK_ID_MAX];
	const char *response_url; /* the slash command's, for replies to the requester;
				   * "" when none; owned by the shell like reason */
	char announcement_ts[INC_SLACK_ID_MAX]; /* "" until posted: the thread parent */
	int64_t declared_ms;

	/* The plan, as the shell built it (commands/plan.c): approvals bind to
	 * its digest, and the steps run in order. */
	uint64_t plan_digest;
	int n_steps;
	int next_step;       /* the step running now, or to run next */
	bool with_db;        /* a database rollback (two distinct approvers) */
	char approval_ts[INC_SLACK_ID_MAX]; /* the request whose reactions count */
	int64_t approval_deadline_ms;
	struct pol_state pol;
	/* Escalation (policy.h): when the request posted is extended to the
	 * fallback approvers (0 = never: no escalation in the policy, or done),
	 * and whether it was. Both saved with the incident, so that a restart
	 * or a takeover neither loses nor repeats it. `escalated` stays set
	 * after the decision (a PagerDuty event was triggered and is resolved
	 * then, again at a resume) until a new request is asked for. */
	int64_t escalate_at_ms;
	bool escalated;

	/* A restart found a step running (rolling_back): it may or may not
	 * have finished, so the approval asked for now is to run the steps
	 * again from next_step, never done without asking. */
	bool interrupted;

	/* Status updates (runbook 000: "Updates every 10 minutes"): the next
	 * one is due at next_update_ms (0 = none: the incident ended). */
	int64_t next_update_ms;
	int updates_posted;

	/* Verification: rounds every verify interval until every check passes
	 * or verify_deadline_ms comes. next_verify_ms 0 = a round is running
	 * or none is planned. */
	int64_t verify_deadline_ms;
	int64_t next_verify_ms;
	int verify_rounds;

	/* Who closed it by hand (resolve, cancel), "" otherwise. */
	char closed_by[INC_SLACK_ID_MAX];
};

/* The timing in force, from the configuration (borrowed with each event). */
struct inc_timing {
	int64_t update_interval_ms; /* status updates; > 0 */
	int64_t verify_window_ms;   /* how long verification may take to pass */
	int64_t verify_interval_ms; /* between verification rounds; > 0 */
};

/* The messages rollbot posts; each has a template of the same name. */
enum inc_message {
	INC_MSG_ANNOUNCEMENT,
	INC_MSG_APPROVAL_REQUEST,
	INC_MSG_APPROVAL_SKIPPED,
	INC_MSG_APPROVED,
	INC_MSG_REJECTED,
	INC_MSG_EXPIRED,
	INC_MSG_PLAN_FAILED,
	INC_MSG_STEP_RESULT,
	INC_MSG_ROLLED_BACK,
	INC_MSG_ROLLBACK_FAILED,
	INC_MSG_STATUS_UPDATE,
	INC_MSG_COMPLETE,      /* verified: the runbook's "Rollback Complete" */
	INC_MSG_VERIFY_FAILED, /* still unhealthy when the window ended */
	INC_MSG_RESOLVED,      /* closed by hand with /rollback resolve */
	INC_MSG_CANCELLED,
	INC_MSG_PLAN_CHANGED,  /* approved, but the plan is no longer the one approved */
	INC_MSG_NO_APPROVERS,  /* nobody could approve the request: not asked, failed */
	INC_MSG_ESCALATED,     /* no decision yet: the fallback approvers are asked too */
	INC_MSG_COUNT
};

enum inc_event_kind {
	INC_EV_DECLARED,    /* the incident row exists (store returned its ID) */
	INC_EV_POSTED,      /* a message was posted: msg, ts */
	INC_EV_POST_FAILED, /* a message could not be posted after retries: msg, error */
	INC_EV_PLAN_READY,  /* the plan is built: digest, n_steps, target (resolved) */
	INC_EV_PLAN_FAILED, /* no plan: error (target not resolvable, a refused value) */
	INC_EV_REACTION,    /* a reaction_added/removed on a message in the channel */
	INC_EV_APPROVAL_TIMEOUT, /* the approval timer fired */
	INC_EV_PLAN_CHECKED, /* just before running: the plan rebuilt has `digest` */
	INC_EV_STEP_DONE,   /* step `step` finished: ok, error */
	INC_EV_RESUMED,     /* loaded from the store at start, after a restart */
	INC_EV_UPDATE_DUE,  /* next_update_ms has come */
	INC_EV_VERIFY_DUE,  /* next_verify_ms has come */
	INC_EV_VERIFIED,    /* a verification round ended: ok (every check passed), error (what failed) */
	INC_EV_STATUS_CHECKED, /* after an interruption: the status command said `error` (ok or not) */
	INC_EV_RESOLVE,     /* /rollback resolve by `user`, note in `error` */
	INC_EV_CANCEL,      /* /rollback cancel by `user`, note in `error` */
	INC_EV_ESCALATE_DUE, /* escalate_at_ms has come */
};

struct inc_event {
	enum inc_event_kind kind;
	enum inc_message msg;
	const char *ts;    /* INC_EV_POSTED: the message's ts (borrowed) */
	const char *error; /* INC_EV_POST_FAILED: Slack's error code; PLAN_FAILED and
			    * STEP_DONE: what went wrong, for people (borrowed) */
	/* INC_EV_PLAN_READY / PLAN_CHECKED */
	uint64_t digest;
	int n_steps;
	const char *target; /* PLAN_READY: the explicit target ("" for NONE methods) */
	/* PLAN_READY, for the report (borrowed; NULL or "" = not known): the
	 * revision running before the rollback and when it was deployed (from
	 * the tool's history), and the service's configured facts. */
	const char *running_before, *deployed_at, *display_name, *environment, *affected,
		*owner;
	/* INC_EV_REACTION (all borrowed) */
	const char *user;
	const char *reaction;
	const char *channel;
	bool added;
	/* A reaction found on the request at start (reactions.get) rather than
	 * delivered as an event: only changes are audited (source "recount")
	 * and nobody is notified again. */
	bool recount;
	/* INC_EV_STEP_DONE */
	int step;
	bool ok;
	/* INC_EV_POSTED: a step of this incident has run (the shell keeps its
	 * last result), so the end of a failed one gets its report too. */
	bool ran;
	/* PLAN_READY, REACTION, APPROVAL_TIMEOUT: the policy in force and who
	 * the bot is (borrowed). */
	const struct pol_policy *policy;
	const char *bot_user;
	/* Every event: the timing in force (borrowed). */
	const struct inc_timing *timing;
	/* INC_EV_VERIFIED: the round found nothing to check (no status command,
	 * URL or query configured). */
	bool nothing_checked;
};

enum inc_action_kind {
	INC_ACT_POST,    /* post `msg` (rendered by the shell) in the channel, or its thread */
	INC_ACT_AUDIT,   /* append an audit row: audit_kind, actor, detail fields */
	INC_ACT_SAVE,    /* write the incident's state and message ts's to the store */
	INC_ACT_NOTIFY_REQUESTER, /* tell the requester privately: text */
	INC_ACT_NOTIFY_USER, /* tell `user` privately (chat.postEphemeral): text */
	INC_ACT_PREPARE_PLAN, /* resolve the target if needed, build the plan → PLAN_READY/FAILED */
	INC_ACT_REACT,   /* add reaction `reaction` to the approval request */
	INC_ACT_ARM_TIMER, /* the approval timer, to fire at `at_ms` */
	INC_ACT_CANCEL_TIMER,
	INC_ACT_CHECK_PLAN, /* rebuild the plan and report its digest → PLAN_CHECKED */
	INC_ACT_RUN_STEP, /* run plan step `step` → STEP_DONE */
	INC_ACT_RECOUNT, /* read the request's reactions (reactions.get) and hand
			  * each one in as a REACTION with `recount` set */
	INC_ACT_VERIFY,  /* run one verification round → VERIFIED */
	INC_ACT_STATUS_CHECK, /* run the method's status command → STATUS_CHECKED */
	INC_ACT_REPLY,   /* answer the person who typed a command (ephemeral): user, text */
	INC_ACT_REPORT,  /* upload the incident report into the thread; with `drafts`,
			  * also post the stakeholder drafts */
	INC_ACT_PAGE,    /* trigger the incident's PagerDuty event (its approval waits) */
	INC_ACT_UNPAGE,  /* resolve it (decided, or ended) */
};

#define INC_ACTIONS_MAX 12
#define INC_TEXT_MAX 256
#define INC_AUDIT_KEYS 8 /* plan_ready carries the report's facts */

struct inc_action {
	enum inc_action_kind kind;
	enum inc_message msg;     /* INC_ACT_POST */
	bool in_thread;           /* INC_ACT_POST: reply under the announcement */
	const char *audit_kind;   /* INC_ACT_AUDIT: static string */
	const char *actor;        /* INC_ACT_AUDIT: "rollbot" or a Slack user ID (points into next) */
	const char *keys[INC_AUDIT_KEYS]; /* INC_ACT_AUDIT: detail fields, NULL-terminated */
	char values[INC_AUDIT_KEYS][INC_TEXT_MAX];
	char text[INC_TEXT_MAX];  /* INC_ACT_NOTIFY_REQUESTER, INC_ACT_NOTIFY_USER */
	char user[INC_SLACK_ID_MAX]; /* INC_ACT_NOTIFY_USER */
	const char *reaction;     /* INC_ACT_REACT: static string */
	int64_t at_ms;            /* INC_ACT_ARM_TIMER */
	int step;                 /* INC_ACT_RUN_STEP */
	bool drafts;              /* INC_ACT_REPORT */
};

struct inc_actions {
	struct inc_action a[INC_ACTIONS_MAX];
	int n;
};

enum {
	INC_EBADEVENT = -70, /* the event makes no sense in this state: a bug upstream */
};

/* Computes the step. `cur` is not changed; `next` receives the new incident
 * (it may be the same object as cur), `out` the actions in the order they
 * must be carried out. Returns 0, or INC_EBADEVENT (next and out untouched
 * but for out->n = 0) when the event is not valid in the current state. */
int inc_step(const struct incident *cur, const struct inc_event *ev, int64_t now_ms,
	     struct incident *next, struct inc_actions *out) RB_MUSTCHECK;

const char *inc_state_name(enum inc_state s);
/* Parses a state name as stored; returns 0 or RB_EINVAL. */
int inc_state_from_name(const char *name, enum inc_state *out);
const char *inc_message_name(enum inc_message m);
/* True for resolved, rejected, expired and cancelled. Failed is not final:
 * the service may be between versions, so the incident stays open (status
 * updates, /rollback status) until a person resolves or cancels it. */
bool inc_state_is_final(enum inc_state s);
/* True for the states in which the incident holds its service: from the
 * declaration until it ends (declared, awaiting_approval, approved,
 * rolling_back, verifying, failed). Verifying holds it: a second rollback
 * would change the version being verified; failed holds it: people are
 * working on the service. A service has at most one incident in these
 * states. sql/005_one_state_list.sql's
 * rollbot_holds_service() is this list for the database (as its
 * rollbot_is_final() is inc_state_is_final's), and tests/unit/test_store.c
 * checks that the two agree. */
bool inc_state_holds_service(enum inc_state s);

/* A Slack user ID as Slack sends it: U or W, then upper-case letters and
 * digits, shorter than INC_SLACK_ID_MAX. False for NULL. */
bool inc_is_user_id(const char *s);

#endif
