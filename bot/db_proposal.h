/* rollbot — what the store says about proposals (MIT licence, see LICENSE).
 *
 * The watcher's and Alertmanager's proposals (sql/016_proposals.sql): one
 * open episode per service, recorded before it is posted, taken by the
 * first ✅. Statements only; bot/proposal.c decides when.
 */
#ifndef DB_PROPOSAL_H
#define DB_PROPOSAL_H

#include <stdint.h>

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

/* Fire and forget: the proposal's ts once posted, or why it was not. */
void db_proposal_posted(struct store *st, int64_t id, const char *ts, const char *error);

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

#endif
