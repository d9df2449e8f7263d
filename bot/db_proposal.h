/* rollbot — what the store says about proposals (MIT licence, see LICENSE).
 *
 * The watcher's and Alertmanager's proposals (sql/016_proposals.sql): one
 * open episode per service, recorded before it is posted, taken by the
 * first ✅. Statements only; bot/proposal.c decides when.
 */
#ifndef DB_PROPOSAL_H
#define DB_PROPOSAL_H

#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "store.h"

struct db_proposal {
	const char *service, *source, *trigger, *summary;
	const char *figures_json; /* jsonb */
	const char *severity, *command;
	int64_t detected_s; /* Unix seconds, the bot's wall clock */
	int64_t expires_s;  /* lifetime in seconds */
	const char *replica, *channel;
	const char *args_json; /* chat.postMessage's arguments, as rendered */
};

enum db_propose_word {
	DB_PROPOSED,      /* recorded: `id` is its number; post it */
	DB_OPEN_EPISODE,  /* the service has an open episode: say nothing */
	DB_OPEN_INCIDENT, /* an incident holds the service: say nothing */
};

typedef void (*db_propose_cb)(void *arg, int err, const char *errmsg, enum db_propose_word w,
			      int64_t id);

int db_propose(struct store *st, const struct db_proposal *p, db_propose_cb cb,
	       void *arg) RB_MUSTCHECK;

/* Fire and forget: the incident a proposal started. */
void db_proposal_incident(struct store *st, int64_t id, const char *incident);

/* Fire and forget: the service was healthy for its re-arm period; its
 * episode is over. */
void db_proposal_rearm(struct store *st, const char *service);

enum db_take_word {
	DB_TAKE_NONE,    /* not a proposal's message */
	DB_TAKE_TAKEN,   /* this ✅ starts it */
	DB_TAKE_ALREADY, /* someone started it before */
	DB_TAKE_EXPIRED,
};

/* Borrowed for the callback. */
struct db_taken {
	enum db_take_word word;
	int64_t id;
	const char *service, *source, *trigger, *summary, *figures_json, *severity;
	const char *command;     /* the /rollback text after "/rollback " */
	const char *detected_at; /* "2026-12-05T23:38:00.000Z" */
	const char *expires_at;
	const char *taken_by;
};

typedef void (*db_take_cb)(void *arg, int err, const char *errmsg, const struct db_taken *t);

int db_take_proposal(struct store *st, const char *channel, const char *ts, const char *user,
		     db_take_cb cb, void *arg) RB_MUSTCHECK;

/* ---- posts in the channel about no incident (sql/017_channel_posts.sql) ---- */

enum db_chanpost_kind {
	DB_CHANPOST_PROPOSAL,
	DB_CHANPOST_NOTICE,
	DB_CHANPOST_ASSESS, /* /rollback assess --post (sql/018) */
};

/* The watcher lost ("blind") or regained ("sighted") a service's figures:
 * records the notice with its post and its audit row. cb gets the notice's
 * id, or 0 when that was said already (nothing recorded). */
typedef void (*db_notice_cb)(void *arg, int err, const char *errmsg, int64_t id);
int db_watch_notice(struct store *st, const char *service, const char *kind, const char *why,
		    const char *replica, const char *channel, const char *args_json,
		    db_notice_cb cb, void *arg) RB_MUSTCHECK;

/* `/rollback assess --post`: records the post (args_json) with its audit
 * row assess_posted (`detail`, consumed) keyed by `key` (the command's
 * delivery; NULL = none). cb gets the post's id, or 0 when that key was
 * recorded before (a redelivery: nothing recorded). */
int db_assess_post(struct store *st, const char *actor, json_t *detail, const char *key,
		   const char *service, const char *replica, const char *channel,
		   const char *args_json, db_notice_cb cb, void *arg) RB_MUSTCHECK;

/* Fire and forget: a channel post's ts once posted, or why it was not. */
void db_chanpost_done(struct store *st, enum db_chanpost_kind kind, int64_t id, const char *ts,
		      const char *error);

/* One post still to make, claimed (borrowed for the callback). */
struct db_chanpost {
	enum db_chanpost_kind kind;
	int64_t id;
	const char *service, *channel;
	const char *args_json;
	int64_t recorded_s; /* Unix seconds */
};

typedef void (*db_claim_posts_cb)(void *arg, int err, const char *errmsg,
				  const struct db_chanpost *rows, int n);

/* Claims the open posts whose lease ran out, and, when mine_before_ms is
 * not 0, those `owner` recorded before that time (Unix ms: this process's
 * start, so those of the one it replaces), for lease_s seconds. */
int db_claim_posts(struct store *st, const char *owner, int lease_s, int64_t mine_before_ms,
		   db_claim_posts_cb cb, void *arg) RB_MUSTCHECK;

/* ---- the PagerDuty page about a proposal (sql/018_proposal_pages.sql) ---- */

enum db_page_action { DB_PAGE_TRIGGER, DB_PAGE_RESOLVE };

/* One page to send, claimed (borrowed for the callback). */
struct db_page {
	enum db_page_action action;
	int64_t id;
	const char *service, *severity, *summary;
};

typedef void (*db_claim_pages_cb)(void *arg, int err, const char *errmsg,
				  const struct db_page *rows, int n);

/* Claims the proposals' pages still to send (a trigger for one still
 * offered, a resolve for one taken or expired) whose lease is free, and,
 * when mine_before_ms is not 0, those `owner` claimed before that time
 * (Unix ms: this process's start), for lease_s seconds. */
int db_claim_pages(struct store *st, const char *owner, int lease_s, int64_t mine_before_ms,
		   db_claim_pages_cb cb, void *arg) RB_MUSTCHECK;

/* Fire and forget: PagerDuty accepted the page's action (and its audit
 * row, proposal_paged or proposal_page_resolved). */
void db_page_done(struct store *st, int64_t id, enum db_page_action action, const char *owner);

#endif
