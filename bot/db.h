/* rollbot — the bot's SQL (MIT licence, see LICENSE).
 *
 * Every statement the bot sends to PostgreSQL once it runs, and every
 * mapping of a result to C values, as typed calls over store_query() (the
 * schema and its functions are in sql/; store.c owns the connection and the
 * migrations). The rest of the shell never sees SQL or a PGresult: the
 * callbacks here receive structs, and what they point to is borrowed, valid
 * only during the callback (copy what must be kept).
 *
 * Every asynchronous call follows store_query()'s contract: it returns 0 and
 * calls its callback exactly once later, or a negative STORE_E* code and
 * never calls it (a db_done_cb may be NULL: nobody is told). `err` in a
 * callback is 0 or a STORE_E* code, with `errmsg` (borrowed) saying why.
 * Two calls block, for the command line: db_history_now and
 * db_report_rows_now.
 */
#ifndef DB_H
#define DB_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../commands/incident.h"
#include "../commands/rb.h"
#include "../commands/report.h"

struct store; /* store.h */

/* A command that returns nothing the caller reads. */
typedef void (*db_done_cb)(void *arg, int err, const char *errmsg);

/* Applies the migrations compiled into the binary (the sql folder, by name
 * order) that the database does not have yet: store_migrate() over the
 * embedded files. Blocking, for start-up, `rollbot migrate` and the tests.
 * Returns 0 with the number applied and the number known, or
 * STORE_ECONNECT / STORE_EMIGRATE with err (RB_ERR_LEN bytes) saying why. */
int db_migrate(const char *conninfo, int *applied, size_t *known, char *err,
	       size_t errlen) RB_MUSTCHECK;

/* Appends an audit row through rollbot_audit(). `incident` may be NULL (a
 * row about no incident); `detail` is stolen (a new reference is consumed,
 * even on error); `key` (or NULL) is the dedupe key that makes a replay
 * after a lost connection a no-op. Fire and forget: a row that cannot be
 * queued or written is logged here. */
void db_audit(struct store *st, const char *incident, const char *actor, const char *kind,
	      json_t *detail, const char *key);

/* ---- declaring an incident ---- */

enum db_declared_kind {
	DB_DECLARED_NEW,       /* numbered and recorded: `id` is the new incident */
	DB_DECLARED_DUPLICATE, /* the delivery key was seen before: nothing done */
	DB_DECLARED_OPEN,      /* the service has a rollback in progress: `id`, `state` */
};

struct db_declared {
	enum db_declared_kind kind;
	const char *id;    /* INC-2026-0001; NULL for a duplicate */
	const char *state; /* DB_DECLARED_OPEN: the open incident's state name, else NULL */
};

typedef void (*db_declared_cb)(void *arg, int err, const char *errmsg,
			       const struct db_declared *d);

/* Declares `inc` (its service, severity, reason, target, method,
 * requested_by and channel) through rollbot_declare(), which records the
 * delivery `key`, numbers the incident and writes its first audit rows in
 * one transaction. `command_json` is the command_received row's detail. `d`
 * is NULL when err != 0. */
int db_declare(struct store *st, const char *key, const struct incident *inc,
	       const char *command_json, db_declared_cb cb, void *arg) RB_MUSTCHECK;

/* ---- the incident's row ---- */

/* Writes the incident as it is now, with the shell's texts for status
 * updates (`last_step`, `last_checks`; NULL reads as ""). Deadlines go in as
 * the time left from `now_ms` (the caller's monotonic clock), turned into
 * wall-clock time by the database, because a monotonic clock means nothing
 * after a restart. */
int db_save_incident(struct store *st, const struct incident *inc, int64_t now_ms,
		     const char *last_step, const char *last_checks, db_done_cb cb,
		     void *arg) RB_MUSTCHECK;

/* Records that step `index` (0-based) of incident `id` is starting. */
int db_mark_step(struct store *st, const char *id, int index, db_done_cb cb,
		 void *arg) RB_MUSTCHECK;

/* One incident as the store has it. `inc` is filled from the row but for
 * what only the process knows: `method` (the configuration's), the
 * response_url ("") and the times, which come as milliseconds from the
 * moment of the query below (the caller adds its own clock). Its strings
 * (and inc.reason) are borrowed. */
struct db_incident {
	struct incident inc;
	bool known;               /* state and severity are names the bot knows */
	int64_t approval_left_ms; /* to approval_deadline; 0 when there is none */
	int64_t age_ms;           /* since the declaration */
	bool has_next_update;
	int64_t next_update_in_ms; /* to next_update_at, when has_next_update */
	bool has_verify_deadline;
	int64_t verify_left_ms; /* to verify_deadline, when has_verify_deadline */
	const char *last_step;  /* "" when none */
	const char *last_checks;
};

/* `rows` (n of them, in ID order) are borrowed; NULL when err != 0. */
typedef void (*db_incidents_cb)(void *arg, int err, const char *errmsg,
				const struct db_incident *rows, size_t n);

/* Every incident still in progress (not in a final state), for start-up. */
int db_load_open(struct store *st, db_incidents_cb cb, void *arg) RB_MUSTCHECK;

/* Incident `id`, whatever its state: n is 0 when there is none. */
int db_load_incident(struct store *st, const char *id, db_incidents_cb cb,
		     void *arg) RB_MUSTCHECK;

/* ---- history and the report ---- */

/* The phases /rollback history and `rollbot report --list` time. */
enum db_phase {
	DB_PHASE_APPROVED,    /* first move to approved */
	DB_PHASE_ROLLED_BACK, /* first move to verifying: the commands are done */
	DB_PHASE_VERIFIED,    /* first move from verifying to resolved */
	DB_PHASE_COUNT
};

/* One incident in the history, every string borrowed. */
struct db_history_row {
	const char *id, *service, *state, *method, *requested_by, *severity, *target;
	const char *approved_by; /* the incident's approvers, "U1,U2" ("" when none) */
	const char *approvers;   /* whoever's ✅ counted, from the audit log, "U1,U2" or "" */
	const char *started;     /* "2026-11-23 15:17", UTC */
	bool reached[DB_PHASE_COUNT];
	int64_t phase_s[DB_PHASE_COUNT]; /* seconds from the request, when reached */
};

/* `rows` (n, newest first) are borrowed; NULL when err != 0. */
typedef void (*db_history_cb)(void *arg, int err, const char *errmsg,
			      const struct db_history_row *rows, size_t n);

/* The latest `limit` incidents of `service` ("" for every service), newest
 * first. */
int db_history(struct store *st, const char *service, int limit, db_history_cb cb,
	       void *arg) RB_MUSTCHECK;

/* An incident's record for its report (commands/report.c builds it with
 * report_data(&inc, rows, n_rows)). Everything is borrowed. */
struct db_report {
	struct report_incident inc;
	const struct report_row *rows; /* its audit rows, in the order written */
	size_t n_rows;
	const char *thread_ts; /* the announcement's ts, the thread; "" when none */
};

/* `rep` is NULL when there is no such incident, and when err != 0. */
typedef void (*db_report_cb)(void *arg, int err, const char *errmsg, const struct db_report *rep);

/* Reads incident `id` and its audit log for its report. */
int db_report_rows(struct store *st, const char *id, db_report_cb cb, void *arg) RB_MUSTCHECK;

/* ---- 📌 ---- */

/* A pinned message, every string borrowed for the call. */
struct db_pin {
	const char *channel;
	const char *thread_ts; /* the thread it is in (its own ts when it is a parent) */
	const char *user;      /* who pinned it */
	const char *author;    /* who wrote it */
	const char *text;
	const char *ts;
	const char *key; /* the dedupe key: a redelivered pin adds nothing */
};

/* `incident` is the incident whose timeline changed, or NULL when the
 * message is in no incident's thread (or was not in its timeline). */
typedef void (*db_pin_cb)(void *arg, int err, const char *errmsg, const char *incident);

/* Adds the message to the timeline of the incident whose thread holds it,
 * at the time the message was posted. */
int db_pin(struct store *st, const struct db_pin *p, db_pin_cb cb, void *arg) RB_MUSTCHECK;

/* Takes message `ts` in `channel` out of the timelines it is in, as
 * `user`'s act; `key` as for db_pin. */
int db_unpin(struct store *st, const char *channel, const char *ts, const char *user,
	     const char *key, db_pin_cb cb, void *arg) RB_MUSTCHECK;

/* ---- blocking, for the command line ---- */

/* As db_history and db_report_rows, on a connection of their own to
 * `conninfo`, closed before they return. Return 0 after calling cb exactly
 * once (with err 0), or STORE_ECONNECT / STORE_EQUERY with the reason in
 * err (RB_ERR_LEN bytes; never the conninfo or its password), without
 * calling it. */
int db_history_now(const char *conninfo, const char *service, int limit, db_history_cb cb,
		   void *arg, char *err, size_t errlen) RB_MUSTCHECK;
int db_report_rows_now(const char *conninfo, const char *id, db_report_cb cb, void *arg,
		       char *err, size_t errlen) RB_MUSTCHECK;

#endif
