/* rollbot — PostgreSQL (MIT licence, see LICENSE).
 *
 * The one place that talks to PostgreSQL; db.c says what to say (the bot's
 * statements and the mapping of their results). Migrations run
 * synchronously at start-up (before the loop serves anything), and the
 * command line's queries block too (store_query_now); everything else runs on
 * the loop with libpq's asynchronous API (c-models.md §3.4): one connection, one
 * command in flight, a FIFO of the rest, parameters always passed
 * separately (never string-built SQL). If the connection breaks, it
 * reconnects with backoff and replays the queued commands: nothing handed to
 * the store is dropped while the bot runs.
 */
#ifndef STORE_H
#define STORE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <uv.h>

#include "../commands/rb.h"

enum {
	STORE_ECONNECT = -60, /* cannot connect (start-up only) */
	STORE_EQUERY = -61,   /* the server refused the command */
	STORE_ESHUTDOWN = -62, /* the store was freed before the command ran */
	STORE_EMIGRATE = -63, /* a migration failed */
};

struct store; /* opaque */

/* A finished command. `res` is borrowed (valid only during the callback;
 * freeing it is the store's job); it is NULL when err != 0, and `errmsg` then
 * says why (borrowed too). */
typedef void (*store_cb)(void *arg, int err, const PGresult *res, const char *errmsg);

/* Applies every migration in `migrations` (name → SQL, sorted by name, as
 * embedded in the binary) that `schema_migrations` does not list, each in
 * its own transaction, recording it there. Blocking: for start-up and
 * `rollbot migrate` only. Returns 0 and the number applied in *applied, or
 * STORE_ECONNECT / STORE_EMIGRATE with err (RB_ERR_LEN bytes) naming the
 * migration and PostgreSQL's message. `conninfo` never appears in err. */
struct store_migration {
	const char *name; /* "001_init.sql" */
	const char *sql;
};
int store_migrate(const char *conninfo, const struct store_migration *migrations,
		  size_t n, int *applied, char *err, size_t errlen) RB_MUSTCHECK;

/* Opens the asynchronous connection on `loop`. Returns a new store (free
 * with store_free); connection errors are retried in the background and
 * logged, not returned. `conninfo` is copied. */
struct store *store_new(uv_loop_t *loop, const char *conninfo);

/* Runs the queued commands' callbacks with STORE_ESHUTDOWN, closes the
 * connection and the loop handles; memory goes once the handles are closed.
 * Accepts NULL. */
void store_free(struct store *st);

/* Queues `sql` with `nparams` text parameters (copied; a NULL entry is SQL
 * NULL). Returns 0 and calls cb exactly once later (cb may be NULL), or a
 * negative code and never calls it. A command the server refuses (a
 * constraint, a syntax error) fails with STORE_EQUERY and is not retried; a
 * command lost to a broken connection is sent again after reconnecting. */
int store_query(struct store *st, const char *sql, int nparams,
		const char *const *params, store_cb cb, void *arg) RB_MUSTCHECK;

/* Runs `sql` with `nparams` text parameters (a NULL entry is SQL NULL) on a
 * connection of its own to `conninfo`, closed before it returns. Blocking:
 * for the command line only (`rollbot report`). Returns 0 after calling cb
 * exactly once with err 0 and the result, or STORE_ECONNECT / STORE_EQUERY
 * with err (RB_ERR_LEN bytes) saying why, without calling it. `conninfo`
 * never appears in err. */
int store_query_now(const char *conninfo, const char *sql, int nparams,
		    const char *const *params, store_cb cb, void *arg, char *err,
		    size_t errlen) RB_MUSTCHECK;

/* Someone to tell about NOTIFY on `channel` (a lower-case SQL identifier).
 * Every connection LISTENs before it sends anything else; once it does,
 * cb(arg, NULL) says "notifications may have been missed while no
 * connection listened: look for yourself". Each notification then calls
 * cb(arg, payload) (payload borrowed, "" when empty). One channel per
 * store. Returns 0, RB_EINVAL or STORE_ESHUTDOWN. */
typedef void (*store_notify_cb)(void *arg, const char *payload);
int store_listen(struct store *st, const char *channel, store_notify_cb cb,
		 void *arg) RB_MUSTCHECK;

/* Commands queued or in flight. */
int store_pending(const struct store *st);

/* Round trips made to the server since start: each time the store sent
 * work and waited for its answer (rollbot_db_round_trips_total). */
unsigned long store_round_trips(const struct store *st);

/* True once connected (for /ready). */
bool store_connected(const struct store *st);

#endif
