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
/* The same, then cb (err 0 once the row is written): for a post outside
 * an incident that must be recorded before it is made (/rollback assess
 * --post). Returns 0, or a negative code and cb is never called. */
int db_audit_then(struct store *st, const char *incident, const char *actor, const char *kind,
		  json_t *detail, const char *key, db_done_cb cb, void *arg) RB_MUSTCHECK;

/* ---- declaring an incident ---- */

enum db_declared_kind {
	DB_DECLARED_NEW,       /* numbered and recorded: `id` is the new incident */
	DB_DECLARED_DUPLICATE, /* the delivery key was seen before: nothing done */
	DB_DECLARED_OPEN,      /* the service has a rollback in progress: `id`, `state` */
	DB_DECLARED_LATE,      /* it reached the database after its deadline: nothing done */
};

struct db_declared {
	enum db_declared_kind kind;
	const char *id;    /* INC-2026-0001; NULL for a duplicate */
	const char *state; /* DB_DECLARED_OPEN: the open incident's state name, else NULL */
};

typedef void (*db_declared_cb)(void *arg, int err, const char *errmsg,
			       const struct db_declared *d);

/* Declares `inc` (its service, severity, reason, target, method,
 * requested_by and channel) through rollbot_declare_by(), which records the
 * delivery `key`, numbers the incident, writes its first audit rows and
 * makes `owner` its owner (fence 1) in one transaction, unless the database
 * sees it after `deadline_s` (Unix seconds, the bot's wall clock): then
 * nothing is done (DB_DECLARED_LATE). `command_json` is the
 * command_received row's detail. `d` is NULL when err != 0. */
int db_declare(struct store *st, const char *key, const struct incident *inc,
	       const char *command_json, int64_t deadline_s, const char *owner,
	       db_declared_cb cb, void *arg) RB_MUSTCHECK;

/* ---- the incident's row ---- */

/* A fenced write found that the incident's fence moved on: another
 * replica claimed it (this one's lease ran out), and nothing was written.
 * The caller must stop acting on the incident at once. */
enum { DB_ELOST = -64 };

/* What a step of an incident records with its state: JSON arrays (each
 * NULL for none). An audit row is an object with "kind", "actor", "detail"
 * (an object) and "key" (its dedupe key); a post, one with "key",
 * "message" and "args" (the chat.postMessage arguments as they will be
 * sent: it is recorded before it is posted); a close, one with "key" and
 * "ts" (the post went out) or "error" (rollbot gave up on it). A key
 * already written adds nothing; a post closed already stays as it is. */
struct db_records {
	json_t *audits;
	json_t *posts;
	json_t *closes;
};

/* Writes the incident as it is now, with the shell's texts for status
 * updates (`last_step`, `last_checks`; NULL reads as ""), if the incident
 * is still this replica's under `fence` (else DB_ELOST). Deadlines go in as
 * the time left from `now_ms` (the caller's monotonic clock), turned into
 * wall-clock time by the database, because a monotonic clock means nothing
 * after a restart. `rec` (stolen as by db_record; NULL for none) is what
 * the step records with it: it commits with the state in one transaction,
 * or not at all, so a crash between them can neither lose a record nor
 * write it twice when the step is taken again. */
int db_save_incident(struct store *st, const struct incident *inc, int64_t fence,
		     int64_t now_ms, const char *last_step, const char *last_checks,
		     const char *report_pending, struct db_records *rec, db_done_cb cb,
		     void *arg) RB_MUSTCHECK;

/* Records `rec` (its arrays are stolen, and NULL after) for `incident` in
 * one statement, and only while the incident is still this replica's
 * under `fence` (else DB_ELOST: a replica that lost it records nothing
 * more about it). cb may be NULL. */
int db_record(struct store *st, const char *incident, int64_t fence, struct db_records *rec,
	      db_done_cb cb, void *arg) RB_MUSTCHECK;

/* The report (`report_pending`: "report" or "report+drafts", or NULL for no
 * change) still to upload goes in with the save that ends the incident, so
 * that a crash before the upload leaves it to whoever claims the incident;
 * "posts" when only the last messages are still to be posted. db_report_done
 * clears it, under the fence, once the upload (or the posts) are over. */
int db_report_done(struct store *st, const char *id, int64_t fence, db_done_cb cb,
		   void *arg) RB_MUSTCHECK;

/* Records that step `index` (0-based) of incident `id` is starting, if the
 * incident is still this replica's under `fence` (else DB_ELOST: the step
 * must not run). */
int db_mark_step(struct store *st, const char *id, int64_t fence, int index, db_done_cb cb,
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
	bool has_escalate_at;   /* an escalation is to come (sql/015) */
	int64_t escalate_in_ms; /* to escalate_at (negative: overdue), when has_escalate_at */
	const char *last_step;  /* "" when none */
	const char *last_checks;
	const char *owner;      /* the replica that carries it ("" when none) */
	int64_t fence;          /* the owner's claim: its writes name it */
	const char *report_pending; /* "report", "report+drafts", "posts", or "" */
	json_t *pending_posts; /* its posts still to be made (db_record), borrowed */
};

/* `rows` (n of them, in ID order) are borrowed; NULL when err != 0. */
typedef void (*db_incidents_cb)(void *arg, int err, const char *errmsg,
				const struct db_incident *rows, size_t n);

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
	int64_t started_s;       /* the same, seconds since 1970 */
	bool reached[DB_PHASE_COUNT];
	int64_t phase_s[DB_PHASE_COUNT]; /* seconds from the request, when reached */
	bool approval_skipped; /* the severity skips approval: "approved" at once, by nobody */
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

/* Keeps user `user`'s name (sql/014) for the reports, the CLI's too:
 * replaces an older one. Fire and forget: a failure is logged. */
void db_save_name(struct store *st, const char *user, const char *name);

/* /rollback sent: appends a draft_sent row ({"draft": draft}, by `user`,
 * deduped by `key`) to incident `id`, if there is one. The callback gets
 * found = false when there is no such incident, else its channel and
 * thread (the announcement's ts, "" when none), borrowed for the call. */
typedef void (*db_sent_cb)(void *arg, int err, const char *errmsg, bool found,
			   const char *channel, const char *thread_ts);
int db_mark_sent(struct store *st, const char *id, const char *user, const char *draft,
		 const char *key, db_sent_cb cb, void *arg) RB_MUSTCHECK;

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

/* Keeps a message people posted (or edited) in a thread, when the thread is
 * an incident's (its announcement): what a 📌 on it adds to the timeline.
 * `incident` in the callback is that incident, or NULL when the thread is
 * no incident's and nothing was kept. */
int db_thread_message(struct store *st, const char *channel, const char *ts,
		      const char *thread_ts, const char *author, const char *text, db_pin_cb cb,
		      void *arg) RB_MUSTCHECK;

/* The ts of the live progress message of step `step` (0-based) of
 * `incident`, from its step_progress_posted audit row (live.c), as the
 * callback's last argument; NULL when none was posted. */
int db_step_progress_ts(struct store *st, const char *incident, int step, db_pin_cb cb,
			void *arg) RB_MUSTCHECK;

/* 📌 on message `ts` in `channel` by `user`, from what the database knows
 * of the message: a reply kept by db_thread_message, or a post of rollbot's
 * own (post_outbox, written by `bot_user`). `incident` is NULL when the
 * message is not known there (or the pin was recorded already). */
int db_pin_known(struct store *st, const char *channel, const char *ts, const char *user,
		 const char *key, const char *bot_user, db_pin_cb cb, void *arg) RB_MUSTCHECK;

/* The text of incident `incident`'s last approval request, as rendered
 * and recorded (post_outbox): what its approvers read, for the plan_changed
 * message after a restart or a takeover. The callback's last argument is
 * that text, or NULL when there is none. */
int db_last_request(struct store *st, const char *incident, db_pin_cb cb,
		    void *arg) RB_MUSTCHECK;

/* Takes message `ts` in `channel` out of the timelines it is in, as
 * `user`'s act; `key` as for db_pin. */
int db_unpin(struct store *st, const char *channel, const char *ts, const char *user,
	     const char *key, db_pin_cb cb, void *arg) RB_MUSTCHECK;

/* ---- owners: several replicas on one database ---- */

/* How long a claim lasts without renewal. The owner renews every second,
 * so it may miss two heartbeats; another replica takes over within a
 * second of the lease running out: at most 4 s after a kill. */
#define DB_LEASE_MS 3000

/* Claims up to `max` incidents that have work (in progress, or a report
 * to upload) and no live owner, for `owner`; with `mine`, also every one
 * that `owner` held before (a restart under the same name). The rows have
 * their new fence. */
int db_claim(struct store *st, const char *owner, int max, bool mine, db_incidents_cb cb,
	     void *arg) RB_MUSTCHECK;

/* An incident with work, whoever carries it, as a heartbeat sees it. */
struct db_open {
	const char *id, *service, *state, *severity; /* borrowed */
	int64_t age_ms;  /* since the declaration */
	const char *owner; /* "" when none */
	int64_t fence;
	bool orphan; /* no owner, or its lease ran out: anyone may claim it */
};
typedef void (*db_open_cb)(void *arg, int err, const char *errmsg, const struct db_open *o,
			   size_t n);

/* Renews every lease of `owner` and answers every incident with work, in
 * ID order (sql/008). */
int db_heartbeat(struct store *st, const char *owner, db_open_cb cb, void *arg) RB_MUSTCHECK;

/* Hands every incident of `owner` over at once (a clean stop). */
int db_release(struct store *st, const char *owner, db_done_cb cb, void *arg) RB_MUSTCHECK;

/* What a reaction event changed (sql/006, 007). */
enum db_react_word {
	DB_REACT_QUEUED,    /* on an approval request: in its incident's inbox */
	DB_REACT_APPLIED,   /* recorded (a snapshot: the reaction changed) */
	DB_REACT_IGNORED,   /* on no approval request waiting: nothing recorded */
	DB_REACT_UNCHANGED, /* the reaction was already in that state */
	DB_REACT_STALE,     /* a newer event for it was applied before */
	DB_REACT_DUPLICATE, /* its delivery key was seen: handled already */
};
typedef void (*db_react_cb)(void *arg, int err, const char *errmsg, enum db_react_word w,
			    const char *incident);

/* Records a reaction event (`emoji` without a skin tone, `event_ts` as
 * Slack wrote it) under delivery key `key`: it counts only when newer than
 * what was applied for that person, emoji and message. With `key` NULL it
 * is a recount's snapshot (reactions.get at `event_ts`): it always applies,
 * and is never queued (the recount acts on it itself). `incident` in the
 * callback is set for DB_REACT_QUEUED (borrowed), else NULL. */
int db_react(struct store *st, const char *key, const char *channel, const char *ts,
	     const char *user, const char *emoji, bool added, const char *event_ts,
	     db_react_cb cb, void *arg) RB_MUSTCHECK;

enum db_inbox_word {
	DB_INBOX_QUEUED,    /* the owner will apply it */
	DB_INBOX_DUPLICATE, /* its delivery key was seen: handled already */
	DB_INBOX_ENDED,     /* no such incident in progress: nothing queued */
};
typedef void (*db_inbox_put_cb)(void *arg, int err, const char *errmsg,
				enum db_inbox_word w);

/* Puts `kind` ("resolve", "cancel") from `actor` about `incident` into its
 * inbox, with delivery key `key` in the same transaction, and wakes its
 * owner. `detail_json` is a JSON object (the note, the response_url). */
int db_inbox_put(struct store *st, const char *key, const char *incident, const char *kind,
		 const char *actor, const char *detail_json, db_inbox_put_cb cb,
		 void *arg) RB_MUSTCHECK;

/* One row of an inbox, every pointer borrowed. */
struct db_inbox_item {
	int64_t id;
	const char *incident;
	const char *kind;  /* "reaction", "resolve", "cancel" */
	const char *actor; /* a Slack user ID */
	json_t *detail;    /* an object; never NULL */
};
typedef void (*db_inbox_cb)(void *arg, int err, const char *errmsg,
			    const struct db_inbox_item *items, size_t n);

/* The inbox rows of the incidents `owner` holds, after row `after`, oldest
 * first (at most 100). */
int db_inbox_take(struct store *st, const char *owner, int64_t after, db_inbox_cb cb,
		  void *arg) RB_MUSTCHECK;

/* Deletes inbox row `id`: it was applied. */
int db_inbox_done(struct store *st, int64_t id, db_done_cb cb, void *arg) RB_MUSTCHECK;

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
