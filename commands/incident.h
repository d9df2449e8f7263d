/* rollbot — the incident state machine (MIT licence, see LICENSE).
 *
 * The one place where rollbot decides what happens to an incident. It is a
 * single function, inc_step(): given the incident as it is, an event and
 * the time, it returns the incident as it must become and a list of actions
 * for the shell (bot/app.c) to carry out: post a message, append an audit
 * row, save the incident. It performs none of them itself: no I/O, no
 * clock, no globals, no allocation (STYLE.md rule 4).
 *
 * Life cycle (DESIGN.md): declared → awaiting_approval → approved →
 * rolling_back → verifying → resolved, with the ends rejected, expired,
 * cancelled and failed. This file carries the part that exists today:
 * declaration and the announcement.
 */
#ifndef INCIDENT_H
#define INCIDENT_H

#include <stdbool.h>
#include <stdint.h>

#include "parse.h"
#include "plan.h"
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
};

/* The messages rollbot posts; each has a template of the same name. */
enum inc_message {
	INC_MSG_ANNOUNCEMENT,
	INC_MSG_COUNT
};

enum inc_event_kind {
	INC_EV_DECLARED,    /* the incident row exists (store returned its ID) */
	INC_EV_POSTED,      /* a message was posted: msg, ts */
	INC_EV_POST_FAILED, /* a message could not be posted after retries: msg, error */
};

struct inc_event {
	enum inc_event_kind kind;
	enum inc_message msg;
	const char *ts;    /* INC_EV_POSTED: the message's ts (borrowed) */
	const char *error; /* INC_EV_POST_FAILED: Slack's error code (borrowed) */
};

enum inc_action_kind {
	INC_ACT_POST,    /* post `msg` (rendered by the shell) in the channel, or its thread */
	INC_ACT_AUDIT,   /* append an audit row: audit_kind, actor, detail fields */
	INC_ACT_SAVE,    /* write the incident's state and announcement ts to the store */
	INC_ACT_NOTIFY_REQUESTER, /* tell the requester privately: text */
};

#define INC_ACTIONS_MAX 8
#define INC_TEXT_MAX 256

struct inc_action {
	enum inc_action_kind kind;
	enum inc_message msg;     /* INC_ACT_POST */
	bool in_thread;           /* INC_ACT_POST: reply under the announcement */
	const char *audit_kind;   /* INC_ACT_AUDIT: static string */
	const char *actor;        /* INC_ACT_AUDIT: "rollbot" or a Slack user ID (points into next) */
	const char *keys[4];      /* INC_ACT_AUDIT: detail fields, NULL-terminated */
	char values[4][INC_TEXT_MAX];
	char text[INC_TEXT_MAX];  /* INC_ACT_NOTIFY_REQUESTER */
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
/* True for resolved, rejected, expired, cancelled and failed. */
bool inc_state_is_final(enum inc_state s);

#endif
