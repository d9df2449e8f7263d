/* rollbot — the bot's SQL (MIT licence, see LICENSE).
 *
 * Owns every SQL statement the bot sends once it runs (the migrations are
 * store.c's) and the mapping of each result to the structs of db.h, so that
 * the column numbers of a query sit next to the query. An asynchronous call
 * wraps its caller's typed callback in a `struct call` for store_query();
 * the store's callback maps the PGresult, hands the values on and frees the
 * call. The blocking calls for the command line map the same results the
 * same way, through store_query_now(). Parameters always travel separately
 * from the SQL.
 */
#include "db.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embedded.h"
#include "log.h"
#include "store.h"

/* SQL for a timestamptz as the report reads times (commands/report.h):
 * "2026-11-23T15:17:02.123Z", UTC. `col` is an SQL expression literal. */
#define ISO_UTC(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* A caller's callback, kept while its command is queued. */
struct call {
	union {
		db_done_cb done;
		db_declared_cb declared;
		db_incidents_cb incidents;
		db_history_cb history;
		db_report_cb report;
		db_pin_cb pin;
		db_open_cb open;
		db_react_cb react;
		db_inbox_put_cb inbox_put;
		db_inbox_cb inbox;
		db_sent_cb sent;
	} cb;
	void *arg;
};

static struct call *call_new(void *arg)
{
	struct call *c = rb_calloc(1, sizeof *c);

	c->arg = arg;
	return c;
}

/* Queues `sql` with `fn` as the store's callback for `c`, which is freed
 * here when the command cannot be queued. Returns store_query's code. */
static int submit(struct store *st, const char *sql, int nparams, const char *const *params,
		  store_cb fn, struct call *c)
{
	int rc = store_query(st, sql, nparams, params, fn, c);

	if (rc)
		free(c);
	return rc;
}

static int64_t int_col(const PGresult *res, int r, int c)
{
	return strtoll(PQgetvalue(res, r, c), NULL, 10);
}

static bool bool_col(const PGresult *res, int r, int c)
{
	return !strcmp(PQgetvalue(res, r, c), "t");
}

static void done_cb(void *arg, int err, const PGresult *res, const char *errmsg)
{
	struct call *c = arg;

	(void)res;
	if (c->cb.done)
		c->cb.done(c->arg, err, errmsg);
	free(c);
}

/* ---- migrations ---- */

int db_migrate(const char *conninfo, int *applied, size_t *known, char *err, size_t errlen)
{
	struct store_migration m[32];
	size_t n = 0;

	for (size_t i = 0; i < rb_embedded_count && n < RB_ARRAY_LEN(m); i++) {
		if (strcmp(rb_embedded[i].dir, "sql"))
			continue;
		m[n].name = rb_embedded[i].name;
		m[n].sql = rb_embedded[i].data;
		n++;
	}
	*known = n;
	return store_migrate(conninfo, m, n, applied, err, errlen);
}

/* ---- the audit log ---- */

static void audit_done_cb(void *arg, int err, const PGresult *res, const char *errmsg)
{
	(void)arg;
	(void)res;
	if (err)
		log_error("store: audit row not written: %s", errmsg ? errmsg : "?");
}

/* An INSERT of the audit rows in the JSON array `rows` (objects with
 * "kind", "actor", "detail" and "key"), in the array's order, for the
 * incident `id` of each row of `from`; a key already written is a no-op. */
#define AUDIT_ROWS_SQL(id, from, rows)                                                    \
	"INSERT INTO audit_log (incident_id, actor, kind, detail, dedupe_key) SELECT " id \
	", r->>'actor', r->>'kind', coalesce(r->'detail', '{}'), r->>'key' FROM " from    \
	", jsonb_array_elements(coalesce(" rows "::jsonb, '[]')) WITH ORDINALITY AS "      \
	"x(r, n) ORDER BY x.n ON CONFLICT (dedupe_key) DO NOTHING"

/* An INSERT into post_outbox (sql/009) of the posts in the JSON array
 * `rows` (objects with "key", "message" and "args"), in order. */
#define OUTBOX_ROWS_SQL(id, from, rows)                                                      \
	"INSERT INTO post_outbox (key, incident_id, message, args) SELECT r->>'key', " id      \
	", r->>'message', r->'args' FROM " from ", jsonb_array_elements(coalesce(" rows        \
	"::jsonb, '[]')) WITH ORDINALITY AS x(r, n) ORDER BY x.n ON CONFLICT (key) DO NOTHING"

/* An UPDATE of post_outbox that closes the posts in the JSON array `rows`
 * (objects with "key" and "ts" or "error") still open. */
#define CLOSE_ROWS_SQL(from, rows)                                                            \
	"UPDATE post_outbox o SET done_at = clock_timestamp(), ts = x.r->>'ts', error = "      \
	"x.r->>'error' FROM " from ", jsonb_array_elements(coalesce(" rows "::jsonb, '[]')) " \
	"AS x(r) WHERE o.key = x.r->>'key' AND o.done_at IS NULL"

static void fenced_cb(void *arg, int err, const PGresult *res, const char *errmsg);

/* A JSON array as a parameter (NULL for none); free with free(). */
static char *json_param(const json_t *a)
{
	return a ? json_dumps(a, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
}

/* The three arrays of `rec` as parameters at p[0..2]; drops the arrays. */
static void records_params(struct db_records *rec, char *p[3])
{
	p[0] = json_param(rec ? rec->audits : NULL);
	p[1] = json_param(rec ? rec->posts : NULL);
	p[2] = json_param(rec ? rec->closes : NULL);
	if (rec) {
		json_decref(rec->audits);
		json_decref(rec->posts);
		json_decref(rec->closes);
		rec->audits = rec->posts = rec->closes = NULL;
	}
}

int db_record(struct store *st, const char *incident, int64_t fence, struct db_records *rec,
	      db_done_cb cb, void *arg)
{
	char f[24], *r[3];
	const char *params[5] = { incident, f, NULL, NULL, NULL };
	struct call *c = call_new(arg);
	int rc;

	c->cb.done = cb;
	snprintf(f, sizeof f, "%lld", (long long)fence);
	records_params(rec, r);
	for (int k = 0; k < 3; k++)
		params[2 + k] = r[k];
	rc = submit(st,
		    "WITH i AS (SELECT id FROM incidents WHERE id = $1 AND fence = $2::bigint), "
		    "a AS (" AUDIT_ROWS_SQL("i.id", "i", "$3") "), "
		    "p AS (" OUTBOX_ROWS_SQL("i.id", "i", "$4") "), "
		    "c AS (" CLOSE_ROWS_SQL("i", "$5") ") SELECT id FROM i",
		    5, params, fenced_cb, c);
	for (int k = 0; k < 3; k++)
		free(r[k]);
	return rc;
}

/* Through rollbot_audit() (sql/001), which drops a row whose key it has
 * seen; the detail goes in as compact JSON with sorted keys. */
void db_audit(struct store *st, const char *incident, const char *actor, const char *kind,
	      json_t *detail, const char *key)
{
	char *d = json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS);
	const char *params[5] = { incident, actor, kind, d, key };

	if (store_query(st, "SELECT rollbot_audit($1, $2, $3, $4::jsonb, $5)", 5, params,
			audit_done_cb, NULL))
		log_error("store: cannot queue the audit row %s", kind);
	free(d);
	json_decref(detail);
}

/* db_audit, and cb once the row is written (or could not be): for what
 * must be recorded before it is said, outside an incident's step. */
int db_audit_then(struct store *st, const char *incident, const char *actor, const char *kind,
		  json_t *detail, const char *key, db_done_cb cb, void *arg)
{
	char *d = json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS);
	const char *params[5] = { incident, actor, kind, d, key };
	struct call *c = call_new(arg);
	int rc;

	c->cb.done = cb;
	rc = submit(st, "SELECT rollbot_audit($1, $2, $3, $4::jsonb, $5)", 5, params, done_cb, c);
	free(d);
	json_decref(detail);
	return rc;
}

/* ---- declaring an incident ---- */

/* rollbot_declare() answers the new ID, NULL for a duplicate delivery, or
 * 'open:<id>:<state>' (sql/002_approval.sql). */
static void declared_cb(void *arg, int err, const PGresult *res, const char *errmsg)
{
	struct call *c = arg;
	struct db_declared d = { .kind = DB_DECLARED_DUPLICATE };
	char id[INC_ID_MAX] = "?";

	if (err) {
		c->cb.declared(c->arg, err, errmsg, NULL);
		free(c);
		return;
	}
	if (PQntuples(res) == 1 && !PQgetisnull(res, 0, 0)) {
		const char *v = PQgetvalue(res, 0, 0);
		if (!strcmp(v, "late")) {
			d.kind = DB_DECLARED_LATE;
		} else if (!strncmp(v, "open:", 5)) {
			const char *colon = strrchr(v + 5, ':');
			d.kind = DB_DECLARED_OPEN;
			d.state = "?";
			if (colon) {
				snprintf(id, sizeof id, "%.*s", (int)(colon - (v + 5)), v + 5);
				d.state = colon + 1;
			}
			d.id = id;
		} else {
			d.kind = DB_DECLARED_NEW;
			d.id = v;
		}
	}
	c->cb.declared(c->arg, 0, NULL, &d);
	free(c);
}

/* One statement, so one transaction: rollbot_declare() does it all. */
int db_declare(struct store *st, const char *key, const struct incident *inc,
	       const char *command_json, int64_t deadline_s, const char *owner,
	       db_declared_cb cb, void *arg)
{
	struct call *c = call_new(arg);
	char deadline[24], lease[16];
	const char *params[12] = { deadline, owner, lease, key,
				  inc->service,
				  cmd_severity_name(inc->severity),
				  inc->reason,
				  inc->target,
				  plan_method_info(inc->method)->name,
				  inc->requested_by,
				  inc->channel,
				  command_json };

	c->cb.declared = cb;
	snprintf(deadline, sizeof deadline, "%lld", (long long)deadline_s);
	snprintf(lease, sizeof lease, "%d", DB_LEASE_MS);
	return submit(st,
		      "SELECT rollbot_declare_by(to_timestamp($1::bigint), $2, $3::int, $4, $5, "
		      "$6, $7, $8, $9, $10, $11, $12::jsonb)",
		      12, params, declared_cb, c);
}

/* ---- the incident's row ---- */

/* Milliseconds from now to a monotonic time, as text for the store, or NULL
 * when there is no such time. */
static const char *ms_left(int64_t now_ms, int64_t at_ms, bool set, char *buf, size_t len)
{
	int64_t ms = at_ms - now_ms;

	if (!set)
		return NULL;
	snprintf(buf, len, "%lld", (long long)(ms > 0 ? ms : 0));
	return buf;
}

/* A fenced write: RETURNING a row when it was written, none when the
 * incident's fence moved on (DB_ELOST). */
static void fenced_cb(void *arg, int err, const PGresult *res, const char *errmsg)
{
	struct call *c = arg;

	if (!err && PQntuples(res) == 0) {
		err = DB_ELOST;
		errmsg = "another replica has taken the incident over";
	}
	if (c->cb.done)
		c->cb.done(c->arg, err, errmsg);
	free(c);
}

/* One UPDATE of every column the bot keeps, under the fence. ended_at is
 * when the incident reached its final state: set by the first save in that
 * state, kept by the next ones, NULL while it is open. */
int db_save_incident(struct store *st, const struct incident *inc, int64_t fence,
		     int64_t now_ms, const char *last_step, const char *last_checks,
		     const char *report_pending, struct db_records *rec, db_done_cb cb,
		     void *arg)
{
	char digest[20], approval_left[24], update_left[24], verify_left[24], next_step[16],
		updates[16], fence_s[24], escalate_left[24], *r[3];
	struct rb_buf approvers;
	const char *params[24] = {
		inc->id, inc_state_name(inc->state),
		inc->announcement_ts[0] ? inc->announcement_ts : NULL,
		inc->approval_ts[0] ? inc->approval_ts : NULL, inc->target, NULL,
		inc->with_db ? "true" : "false", NULL,
		ms_left(now_ms, inc->approval_deadline_ms, inc->state == INC_AWAITING_APPROVAL,
			approval_left, sizeof approval_left),
		next_step, inc->interrupted ? "true" : "false",
		ms_left(now_ms, inc->next_update_ms, inc->next_update_ms != 0, update_left,
			sizeof update_left),
		updates,
		ms_left(now_ms, inc->verify_deadline_ms, inc->state == INC_VERIFYING, verify_left,
			sizeof verify_left),
		inc->closed_by[0] ? inc->closed_by : NULL, last_step ? last_step : "",
		last_checks ? last_checks : "", fence_s, report_pending, NULL, NULL, NULL,
		ms_left(now_ms, inc->escalate_at_ms,
			inc->escalate_at_ms != 0 && inc->state == INC_AWAITING_APPROVAL,
			escalate_left, sizeof escalate_left),
		inc->escalated ? "true" : "false"
	};
	struct call *c = call_new(arg);
	int rc = 0;

	c->cb.done = cb;
	records_params(rec, r);
	for (int k = 0; k < 3; k++)
		params[19 + k] = r[k];
	if (inc->plan_digest) {
		snprintf(digest, sizeof digest, "%016llx", (unsigned long long)inc->plan_digest);
		params[5] = digest;
	}
	snprintf(next_step, sizeof next_step, "%d", inc->next_step);
	snprintf(updates, sizeof updates, "%d", inc->updates_posted);
	snprintf(fence_s, sizeof fence_s, "%lld", (long long)fence);
	/* Slack IDs are [A-Z0-9]: an array literal needs no quoting. */
	rb_buf_init(&approvers, 4096);
	rc = rb_buf_puts(&approvers, "{");
	for (int i = 0; i < inc->pol.n_approved && !rc; i++)
		rc = rb_buf_printf(&approvers, "%s%s", i ? "," : "", inc->pol.approved_by[i]);
	if (!rc)
		rc = rb_buf_puts(&approvers, "}");
	params[7] = rc ? "{}" : rb_buf_str(&approvers);
	/* One statement, so one transaction: the audit rows and the posts are
	 * written with the state they go with, and only if the fence holds. */
	rc = submit(st,
		    "WITH s AS (UPDATE incidents SET state = $2, announcement_ts = COALESCE($3, "
		    "announcement_ts), approval_ts = $4, target = $5, plan_digest = $6, "
		    "with_db = $7, approved_by = $8::text[], approval_deadline = "
		    "clock_timestamp() + make_interval(secs => $9::bigint / 1000.0), "
		    "next_step = $10::int, interrupted = $11::boolean, next_update_at = "
		    "clock_timestamp() + make_interval(secs => $12::bigint / 1000.0), "
		    "updates_posted = $13::int, verify_deadline = clock_timestamp() + "
		    "make_interval(secs => $14::bigint / 1000.0), closed_by = $15, "
		    "last_step = $16, last_checks = $17, ended_at = CASE WHEN "
		    "rollbot_is_final($2) THEN CASE "
		    "WHEN state = $2 THEN coalesce(ended_at, clock_timestamp()) ELSE "
		    "clock_timestamp() END END, report_pending = coalesce($19, report_pending), "
		    "escalate_at = clock_timestamp() + make_interval(secs => $23::bigint / "
		    "1000.0), escalated = $24::boolean "
		    "WHERE id = $1 AND fence = $18::bigint RETURNING id), "
		    "a AS (" AUDIT_ROWS_SQL("s.id", "s", "$20") "), "
		    "p AS (" OUTBOX_ROWS_SQL("s.id", "s", "$21") "), "
		    "c AS (" CLOSE_ROWS_SQL("s", "$22") ") SELECT id FROM s",
		    24, params, fenced_cb, c);
	rb_buf_free(&approvers);
	for (int k = 0; k < 3; k++)
		free(r[k]);
	return rc;
}

int db_report_done(struct store *st, const char *id, int64_t fence, db_done_cb cb, void *arg)
{
	struct call *c = call_new(arg);
	char f[24];
	const char *params[2] = { id, f };

	c->cb.done = cb;
	snprintf(f, sizeof f, "%lld", (long long)fence);
	return submit(st,
		      "UPDATE incidents SET report_pending = NULL WHERE id = $1 AND fence = "
		      "$2::bigint RETURNING id",
		      2, params, fenced_cb, c);
}

/* next_step is the step that may have run, for a restart. */
int db_mark_step(struct store *st, const char *id, int64_t fence, int index, db_done_cb cb,
		 void *arg)
{
	struct call *c = call_new(arg);
	char n[16], f[24];
	const char *params[3] = { id, n, f };

	c->cb.done = cb;
	snprintf(n, sizeof n, "%d", index);
	snprintf(f, sizeof f, "%lld", (long long)fence);
	/* Only the step: the state is the SAVE's to write. inc_step() asks for
	 * the first step together with the move to rolling_back and its SAVE,
	 * performed before this, and the later steps in that state; the store
	 * runs commands in order. */
	return submit(st,
		      "UPDATE incidents SET next_step = $2::int WHERE id = $1 AND fence = "
		      "$3::bigint RETURNING id",
		      3, params, fenced_cb, c);
}

/* The columns incident_row reads, in its order. Times are turned into
 * milliseconds from now by the database (NULL stays NULL). */
#define INCIDENT_COLUMNS                                                                       \
	"id, service, severity, reason, target, requested_by, channel, "                      \
	"coalesce(announcement_ts, ''), coalesce(approval_ts, ''), coalesce(plan_digest, ''), " \
	"with_db, array_to_string(approved_by, ','), "                                          \
	"coalesce((extract(epoch FROM approval_deadline - clock_timestamp()) * 1000)::bigint, " \
	"0), (extract(epoch FROM clock_timestamp() - created_at) * 1000)::bigint, state, "     \
	"next_step, interrupted, "                                                              \
	"(extract(epoch FROM next_update_at - clock_timestamp()) * 1000)::bigint, "             \
	"updates_posted, "                                                                      \
	"(extract(epoch FROM verify_deadline - clock_timestamp()) * 1000)::bigint, "            \
	"coalesce(closed_by, ''), last_step, last_checks, coalesce(owner, ''), fence, "    \
	"coalesce(report_pending, ''), (SELECT coalesce(jsonb_agg(jsonb_build_object("      \
	"'key', o.key, 'message', o.message, 'args', o.args) ORDER BY o.id), '[]') FROM "    \
	"post_outbox o WHERE o.incident_id = i.id AND o.done_at IS NULL), "                 \
	"(extract(epoch FROM escalate_at - clock_timestamp()) * 1000)::bigint, escalated"

/* One incident row (INCIDENT_COLUMNS) as a struct db_incident. */
static void incident_row(const PGresult *res, int r, struct db_incident *out)
{
	struct incident *inc = &out->inc;

	memset(out, 0, sizeof *out);
	(void)rb_strlcpy(inc->id, PQgetvalue(res, r, 0), sizeof inc->id);
	(void)rb_strlcpy(inc->service, PQgetvalue(res, r, 1), sizeof inc->service);
	out->known = !inc_state_from_name(PQgetvalue(res, r, 14), &inc->state) &&
		     !cmd_severity_from_name(PQgetvalue(res, r, 2), &inc->severity);
	inc->reason = PQgetvalue(res, r, 3);
	(void)rb_strlcpy(inc->target, PQgetvalue(res, r, 4), sizeof inc->target);
	(void)rb_strlcpy(inc->requested_by, PQgetvalue(res, r, 5), sizeof inc->requested_by);
	(void)rb_strlcpy(inc->channel, PQgetvalue(res, r, 6), sizeof inc->channel);
	inc->response_url = "";
	(void)rb_strlcpy(inc->announcement_ts, PQgetvalue(res, r, 7), sizeof inc->announcement_ts);
	(void)rb_strlcpy(inc->approval_ts, PQgetvalue(res, r, 8), sizeof inc->approval_ts);
	inc->plan_digest = strtoull(PQgetvalue(res, r, 9), NULL, 16);
	inc->with_db = bool_col(res, r, 10);
	pol_state_init(&inc->pol, inc->plan_digest);
	/* "U1,U2": Slack IDs never hold a comma. */
	for (const char *u = PQgetvalue(res, r, 11);
	     *u && inc->pol.n_approved < POL_MAX_APPROVERS;) {
		size_t n = strcspn(u, ",");
		if (n && n < POL_USER_MAX)
			snprintf(inc->pol.approved_by[inc->pol.n_approved++], POL_USER_MAX, "%.*s",
				 (int)n, u);
		u += n + (u[n] == ',');
	}
	out->approval_left_ms = int_col(res, r, 12);
	out->age_ms = int_col(res, r, 13);
	inc->next_step = (int)int_col(res, r, 15);
	inc->interrupted = bool_col(res, r, 16);
	out->has_next_update = !PQgetisnull(res, r, 17);
	out->next_update_in_ms = int_col(res, r, 17);
	inc->updates_posted = (int)int_col(res, r, 18);
	out->has_verify_deadline = !PQgetisnull(res, r, 19);
	out->verify_left_ms = int_col(res, r, 19);
	(void)rb_strlcpy(inc->closed_by, PQgetvalue(res, r, 20), sizeof inc->closed_by);
	out->last_step = PQgetvalue(res, r, 21);
	out->last_checks = PQgetvalue(res, r, 22);
	out->owner = PQgetvalue(res, r, 23);
	out->fence = int_col(res, r, 24);
	out->report_pending = PQgetvalue(res, r, 25);
	out->has_escalate_at = !PQgetisnull(res, r, 27);
	out->escalate_in_ms = int_col(res, r, 27);
	inc->escalated = bool_col(res, r, 28);
	out->pending_posts = json_loads(PQgetvalue(res, r, 26), 0, NULL);
	if (!json_is_array(out->pending_posts)) {
		json_decref(out->pending_posts);
		out->pending_posts = json_array();
	}
}

static void incidents_cb(void *arg, int err, const PGresult *res, const char *errmsg)
{
	struct call *c = arg;
	struct db_incident *rows;
	size_t n;

	if (err) {
		c->cb.incidents(c->arg, err, errmsg, NULL, 0);
		free(c);
		return;
	}
	n = (size_t)PQntuples(res);
	rows = rb_calloc(n + 1, sizeof *rows);
	for (size_t r = 0; r < n; r++)
		incident_row(res, (int)r, &rows[r]);
	c->cb.incidents(c->arg, 0, NULL, rows, n);
	for (size_t r = 0; r < n; r++)
		json_decref(rows[r].pending_posts);
	free(rows);
	free(c);
}

/* By its primary key; no row when there is no such incident. */
int db_load_incident(struct store *st, const char *id, db_incidents_cb cb, void *arg)
{
	struct call *c = call_new(arg);
	const char *params[1] = { id };

	c->cb.incidents = cb;
	return submit(st, "SELECT " INCIDENT_COLUMNS " FROM incidents i WHERE id = $1", 1,
		      params,
		      incidents_cb, c);
}

/* ---- history ---- */

/* The latest incidents, newest first, with the seconds from the request to
 * each phase (NULL when not reached), and whether approval was skipped (the
 * severity needs none: its "approved" is not an approval). $1 = a service name, or '' for every
 * service; $2 = how many. */
static const char HISTORY_SQL[] =
	"SELECT i.id, i.service, i.state, i.method, i.requested_by, "
	"array_to_string(i.approved_by, ','), to_char(i.created_at AT TIME ZONE 'UTC', "
	"'YYYY-MM-DD HH24:MI'), i.severity, i.target, "
	"extract(epoch FROM min(a.at) FILTER (WHERE a.detail->>'to' = 'approved') - "
	"i.created_at)::bigint, "
	"extract(epoch FROM min(a.at) FILTER (WHERE a.detail->>'to' = 'verifying') - "
	"i.created_at)::bigint, "
	"extract(epoch FROM min(a.at) FILTER (WHERE a.detail->>'to' = 'resolved' AND "
	"a.detail->>'from' = 'verifying') - i.created_at)::bigint, "
	"(SELECT string_agg(DISTINCT r.actor, ',') FROM audit_log r WHERE r.incident_id = i.id "
	"AND r.kind = 'reaction_added' AND r.detail->>'decision' = 'approval_counted'), "
	"EXISTS (SELECT 1 FROM audit_log s WHERE s.incident_id = i.id AND s.kind = "
	"'approval_skipped'), extract(epoch FROM i.created_at)::bigint "
	"FROM incidents i LEFT JOIN audit_log a ON a.incident_id = i.id AND a.kind = "
	"'state_change' WHERE $1 = '' OR i.service = $1 GROUP BY i.id "
	"ORDER BY i.created_at DESC, i.id DESC LIMIT $2::int";

/* Maps a HISTORY_SQL result and hands it to c's callback. */
static void history_result(struct call *c, const PGresult *res)
{
	size_t n = (size_t)PQntuples(res);
	struct db_history_row *rows = rb_calloc(n + 1, sizeof *rows);

	for (size_t i = 0; i < n; i++) {
		struct db_history_row *h = &rows[i];
		int r = (int)i;

		h->id = PQgetvalue(res, r, 0);
		h->service = PQgetvalue(res, r, 1);
		h->state = PQgetvalue(res, r, 2);
		h->method = PQgetvalue(res, r, 3);
		h->requested_by = PQgetvalue(res, r, 4);
		h->approved_by = PQgetvalue(res, r, 5);
		h->started = PQgetvalue(res, r, 6);
		h->severity = PQgetvalue(res, r, 7);
		h->target = PQgetvalue(res, r, 8);
		for (int p = 0; p < DB_PHASE_COUNT; p++) {
			h->reached[p] = !PQgetisnull(res, r, 9 + p);
			h->phase_s[p] = h->reached[p] ? int_col(res, r, 9 + p) : 0;
		}
		h->approvers = PQgetisnull(res, r, 12) ? "" : PQgetvalue(res, r, 12);
		h->approval_skipped = !strcmp(PQgetvalue(res, r, 13), "t");
		h->started_s = int_col(res, r, 14);
	}
	c->cb.history(c->arg, 0, NULL, rows, n);
	free(rows);
}

static void history_cb(void *arg, int err, const PGresult *res, const char *errmsg)
{
	struct call *c = arg;

	if (err)
		c->cb.history(c->arg, err, errmsg, NULL, 0);
	else
		history_result(c, res);
	free(c);
}

static void history_now_cb(void *arg, int err, const PGresult *res, const char *errmsg)
{
	(void)err;
	(void)errmsg;
	history_result(arg, res);
}

/* HISTORY_SQL with the limit as a parameter. */
int db_history(struct store *st, const char *service, int limit, db_history_cb cb, void *arg)
{
	struct call *c = call_new(arg);
	char n[16];
	const char *params[2] = { service, n };

	c->cb.history = cb;
	snprintf(n, sizeof n, "%d", limit);
	return submit(st, HISTORY_SQL, 2, params, history_cb, c);
}

/* The same query and mapping on a blocking connection of its own. */
int db_history_now(const char *conninfo, const char *service, int limit, db_history_cb cb,
		   void *arg, char *err, size_t errlen)
{
	struct call c = { .cb.history = cb, .arg = arg };
	char n[16];
	const char *params[2] = { service, n };

	snprintf(n, sizeof n, "%d", limit);
	return store_query_now(conninfo, HISTORY_SQL, 2, params, history_now_cb, &c, err, errlen);
}

/* ---- people's names (names.c) ---- */

static void name_saved_cb(void *arg, int err, const PGresult *res, const char *errmsg)
{
	(void)arg;
	(void)res;
	if (err)
		log_warn("store: a user's name was not kept: %s", errmsg ? errmsg : "?");
}

void db_save_name(struct store *st, const char *user, const char *name)
{
	const char *params[2] = { user, name };

	if (store_query(st,
			"INSERT INTO user_names (user_id, name) VALUES ($1, $2) "
			"ON CONFLICT (user_id) DO UPDATE SET name = EXCLUDED.name, "
			"fetched_at = clock_timestamp()",
			2, params, name_saved_cb, NULL))
		log_warn("store: cannot queue a user's name");
}

/* ---- /rollback sent ---- */

/* One row when the incident exists: its channel, its thread, and whether
 * the row went in (0: its key was seen, a redelivery). */
static void sent_cb(void *arg, int err, const PGresult *res, const char *errmsg)
{
	struct call *c = arg;
	bool found = !err && PQntuples(res) == 1;

	if (found && !int_col(res, 0, 2)) {
		log_info("a /rollback sent was recorded before (redelivery): nothing to say");
		free(c);
		return;
	}
	c->cb.sent(c->arg, err, errmsg, found, found ? PQgetvalue(res, 0, 0) : "",
		   found ? PQgetvalue(res, 0, 1) : "");
	free(c);
}

int db_mark_sent(struct store *st, const char *id, const char *user, const char *draft,
		 const char *key, db_sent_cb cb, void *arg)
{
	struct call *c = call_new(arg);
	const char *params[4] = { id, user, draft, key };

	c->cb.sent = cb;
	return submit(st,
		      "WITH i AS (SELECT id, channel, coalesce(announcement_ts, '') AS ts "
		      "FROM incidents WHERE id = $1), "
		      "a AS (INSERT INTO audit_log (incident_id, actor, kind, detail, dedupe_key) "
		      "SELECT i.id, $2, 'draft_sent', jsonb_build_object('draft', $3::text), $4 "
		      "FROM i ON CONFLICT (dedupe_key) DO NOTHING RETURNING id) "
		      "SELECT i.channel, i.ts, (SELECT count(*) FROM a) FROM i",
		      4, params, sent_cb, c);
}

/* ---- the report ---- */

/* One row per incident: the incident's columns, its audit rows as a JSON
 * array (13), times as "2026-11-23T15:17:02.123Z" (UTC), the
 * announcement's ts, the thread (14), and the names known of the people in
 * it (15, {"U…": "name"}, from user_names: the bot's names.c keeps them; the
 * fallback approvers an escalation added count as named). $1 = the incident ID. The report is
 * built from the audit log alone (commands/report.c): this is the one query
 * that reads it. */
static const char REPORT_SQL[] =
	"SELECT i.id, i.service, i.severity, i.state, i.reason, i.target, i.method, "
	"i.requested_by, i.channel, " ISO_UTC("i.created_at") ", "
	"coalesce(" ISO_UTC("i.ended_at") ", ''), coalesce(i.closed_by, ''), i.with_db, "
	"(SELECT coalesce(json_agg(json_build_object('at', " ISO_UTC("a.at") ", 'actor', a.actor, "
	"'kind', a.kind, 'detail', a.detail) ORDER BY a.id), '[]') FROM audit_log a "
	"WHERE a.incident_id = i.id)::text, coalesce(i.announcement_ts, ''), "
	"(SELECT coalesce(json_object_agg(u.user_id, u.name), '{}'::json) FROM user_names u "
	"WHERE u.user_id IN (SELECT a.actor FROM audit_log a WHERE a.incident_id = i.id "
	"UNION SELECT a.detail->>'author' FROM audit_log a WHERE a.incident_id = i.id "
	"UNION SELECT unnest(string_to_array(a.detail->>'added', ',')) FROM audit_log a "
	"WHERE a.incident_id = i.id AND a.kind = 'approval_escalated' "
	"UNION SELECT i.requested_by UNION SELECT i.closed_by))::text "
	"FROM incidents i WHERE i.id = $1";

/* Maps a REPORT_SQL result (no row: no such incident) and hands it to c's
 * callback. */
static void report_result(struct call *c, const PGresult *res)
{
	struct db_report rep;
	struct report_row *rows;
	char **details;
	json_t *audit, *r, *names;
	size_t n, i;

	if (PQntuples(res) != 1 || PQnfields(res) < 15) {
		c->cb.report(c->arg, 0, NULL, NULL);
		return;
	}
	memset(&rep, 0, sizeof rep);
	rep.inc.id = PQgetvalue(res, 0, 0);
	rep.inc.service = PQgetvalue(res, 0, 1);
	rep.inc.severity = PQgetvalue(res, 0, 2);
	rep.inc.state = PQgetvalue(res, 0, 3);
	rep.inc.reason = PQgetvalue(res, 0, 4);
	rep.inc.target = PQgetvalue(res, 0, 5);
	rep.inc.method = PQgetvalue(res, 0, 6);
	rep.inc.requested_by = PQgetvalue(res, 0, 7);
	rep.inc.channel = PQgetvalue(res, 0, 8);
	rep.inc.created_at = PQgetvalue(res, 0, 9);
	rep.inc.ended_at = PQgetvalue(res, 0, 10);
	rep.inc.closed_by = PQgetvalue(res, 0, 11);
	rep.inc.with_db = bool_col(res, 0, 12);
	rep.thread_ts = PQgetvalue(res, 0, 14);
	names = PQnfields(res) > 15 ? json_loads(PQgetvalue(res, 0, 15), 0, NULL) : NULL;
	rep.inc.names = names;
	audit = json_loads(PQgetvalue(res, 0, 13), 0, NULL);
	n = json_array_size(audit);
	rows = rb_calloc(n + 1, sizeof *rows);
	details = rb_calloc(n + 1, sizeof *details);
	json_array_foreach(audit, i, r) {
		rows[i].at = json_string_value(json_object_get(r, "at"));
		rows[i].actor = json_string_value(json_object_get(r, "actor"));
		rows[i].kind = json_string_value(json_object_get(r, "kind"));
		details[i] =
			json_dumps(json_object_get(r, "detail"), JSON_COMPACT | JSON_ENCODE_ANY);
		rows[i].detail = details[i] ? details[i] : "{}";
		if (!rows[i].at)
			rows[i].at = "";
		if (!rows[i].actor)
			rows[i].actor = "";
		if (!rows[i].kind)
			rows[i].kind = "";
	}
	rep.rows = rows;
	rep.n_rows = n;
	c->cb.report(c->arg, 0, NULL, &rep);
	for (i = 0; i < n; i++)
		free(details[i]);
	free(details);
	free(rows);
	json_decref(audit);
	json_decref(names);
}

static void report_cb(void *arg, int err, const PGresult *res, const char *errmsg)
{
	struct call *c = arg;

	if (err)
		c->cb.report(c->arg, err, errmsg, NULL);
	else
		report_result(c, res);
	free(c);
}

static void report_now_cb(void *arg, int err, const PGresult *res, const char *errmsg)
{
	(void)err;
	(void)errmsg;
	report_result(arg, res);
}

/* REPORT_SQL: one row, the audit log inside it as a JSON array. */
int db_report_rows(struct store *st, const char *id, db_report_cb cb, void *arg)
{
	struct call *c = call_new(arg);
	const char *params[1] = { id };

	c->cb.report = cb;
	return submit(st, REPORT_SQL, 1, params, report_cb, c);
}

/* The same query and mapping on a blocking connection of its own. */
int db_report_rows_now(const char *conninfo, const char *id, db_report_cb cb, void *arg,
		       char *err, size_t errlen)
{
	struct call c = { .cb.report = cb, .arg = arg };
	const char *params[1] = { id };

	return store_query_now(conninfo, REPORT_SQL, 1, params, report_now_cb, &c, err, errlen);
}

/* ---- 📌 ---- */

/* Both statements answer the incident_id of each timeline they changed. */
static void pin_cb(void *arg, int err, const PGresult *res, const char *errmsg)
{
	struct call *c = arg;

	c->cb.pin(c->arg, err, errmsg, !err && PQntuples(res) ? PQgetvalue(res, 0, 0) : NULL);
	free(c);
}

/* One INSERT … SELECT: no row when no incident's thread holds the message. */
int db_pin(struct store *st, const struct db_pin *p, db_pin_cb cb, void *arg)
{
	struct call *c = call_new(arg);

	c->cb.pin = cb;
	/* The entry belongs to the incident whose thread holds the message, and
	 * sits in the timeline at the time the message was posted. */
	return submit(st,
		      "INSERT INTO audit_log (incident_id, actor, kind, detail, dedupe_key) "
		      "SELECT id, $3, 'pinned', jsonb_build_object('author', $4::text, 'text', "
		      "$5::text, 'ts', $6::text, 'channel', $1::text, 'posted_at', "
		      ISO_UTC("to_timestamp($6::double precision)") "), $7 FROM incidents "
		      "WHERE channel = $1 "
		      "AND announcement_ts = $2 ON CONFLICT (dedupe_key) DO NOTHING "
		      "RETURNING incident_id",
		      7, (const char *const[]){ p->channel, p->thread_ts, p->user, p->author,
						p->text, p->ts, p->key },
		      pin_cb, c);
}

int db_thread_message(struct store *st, const char *channel, const char *ts,
		      const char *thread_ts, const char *author, const char *text, db_pin_cb cb,
		      void *arg)
{
	struct call *c = call_new(arg);

	c->cb.pin = cb;
	return submit(st,
		      "INSERT INTO thread_messages (channel, ts, thread_ts, author, text) "
		      "SELECT $1, $2, $3, $4, left($5, 1000) FROM incidents WHERE channel = $1 "
		      "AND announcement_ts = $3 LIMIT 1 ON CONFLICT (channel, ts) DO UPDATE SET "
		      "text = EXCLUDED.text RETURNING (SELECT id FROM incidents WHERE channel = $1 "
		      "AND announcement_ts = $3 LIMIT 1)",
		      5, (const char *const[]){ channel, ts, thread_ts, author, text }, pin_cb, c);
}

int db_step_progress_ts(struct store *st, const char *incident, int step, db_pin_cb cb,
			void *arg)
{
	struct call *c = call_new(arg);
	char n[16];

	snprintf(n, sizeof n, "%d", step);
	c->cb.pin = cb;
	return submit(st,
		      "SELECT detail->>'ts' FROM audit_log WHERE incident_id = $1 AND kind = "
		      "'step_progress_posted' AND detail->>'step' = $2 ORDER BY id DESC LIMIT 1",
		      2, (const char *const[]){ incident, n }, pin_cb, c);
}

int db_pin_known(struct store *st, const char *channel, const char *ts, const char *user,
		 const char *key, const char *bot_user, db_pin_cb cb, void *arg)
{
	struct call *c = call_new(arg);

	c->cb.pin = cb;
	/* A reply kept from its message event, or a post of rollbot's own;
	 * the announcement itself belongs to its incident too. */
	return submit(st,
		      "INSERT INTO audit_log (incident_id, actor, kind, detail, dedupe_key) "
		      "SELECT i.id, $3, 'pinned', jsonb_build_object('author', m.author, 'text', "
		      "m.text, 'ts', m.ts, 'channel', m.channel, 'posted_at', "
		      ISO_UTC("to_timestamp(m.ts::double precision)") "), $4 FROM ("
		      "SELECT channel, ts, thread_ts, author, text FROM thread_messages WHERE "
		      "channel = $1 AND ts = $2 UNION ALL SELECT o.args->>'channel', o.ts, "
		      "COALESCE(o.args->>'thread_ts', o.ts), $5, left(o.args->>'text', 1000) FROM "
		      "post_outbox o WHERE o.args->>'channel' = $1 AND o.ts = $2) m JOIN incidents "
		      "i ON i.channel = m.channel AND i.announcement_ts = m.thread_ts LIMIT 1 "
		      "ON CONFLICT (dedupe_key) DO NOTHING RETURNING incident_id",
		      5, (const char *const[]){ channel, ts, user, key, bot_user }, pin_cb, c);
}

int db_last_request(struct store *st, const char *incident, db_pin_cb cb, void *arg)
{
	struct call *c = call_new(arg);

	c->cb.pin = cb;
	return submit(st,
		      "SELECT args->>'text' FROM post_outbox WHERE incident_id = $1 AND "
		      "message = 'approval_request' ORDER BY id DESC LIMIT 1",
		      1, (const char *const[]){ incident }, pin_cb, c);
}

/* An `unpinned` row for each incident whose timeline has the message. */
int db_unpin(struct store *st, const char *channel, const char *ts, const char *user,
	     const char *key, db_pin_cb cb, void *arg)
{
	struct call *c = call_new(arg);

	c->cb.pin = cb;
	return submit(st,
		      "INSERT INTO audit_log (incident_id, actor, kind, detail, dedupe_key) "
		      "SELECT DISTINCT incident_id, $3, 'unpinned', jsonb_build_object('ts', "
		      "$2::text, 'channel', $1::text), $4 FROM audit_log WHERE kind = 'pinned' AND "
		      "detail->>'channel' = $1 AND detail->>'ts' = $2 ON CONFLICT (dedupe_key) DO "
		      "NOTHING RETURNING incident_id",
		      4, (const char *const[]){ channel, ts, user, key }, pin_cb, c);
}

/* ---- owners: several replicas on one database ---- */

int db_claim(struct store *st, const char *owner, int max, bool mine, db_incidents_cb cb,
	     void *arg)
{
	struct call *c = call_new(arg);
	char lease[16], n[16];
	const char *params[4] = { owner, lease, n, mine ? "true" : "false" };

	c->cb.incidents = cb;
	snprintf(lease, sizeof lease, "%d", DB_LEASE_MS);
	snprintf(n, sizeof n, "%d", max);
	return submit(st,
		      "SELECT " INCIDENT_COLUMNS " FROM rollbot_claim($1, $2::int, $3::int, "
		      "$4::boolean) i ORDER BY id",
		      4, params, incidents_cb, c);
}

static void open_cb(void *arg, int err, const PGresult *res, const char *errmsg)
{
	struct call *c = arg;
	struct db_open *o;
	size_t n;

	if (err) {
		c->cb.open(c->arg, err, errmsg, NULL, 0);
		free(c);
		return;
	}
	n = (size_t)PQntuples(res);
	o = rb_calloc(n + 1, sizeof *o);
	for (size_t i = 0; i < n; i++) {
		int r = (int)i;
		o[i].id = PQgetvalue(res, r, 0);
		o[i].service = PQgetvalue(res, r, 1);
		o[i].state = PQgetvalue(res, r, 2);
		o[i].severity = PQgetvalue(res, r, 3);
		o[i].age_ms = int_col(res, r, 4);
		o[i].owner = PQgetvalue(res, r, 5);
		o[i].fence = int_col(res, r, 6);
		o[i].orphan = bool_col(res, r, 7);
	}
	c->cb.open(c->arg, 0, NULL, o, n);
	free(o);
	free(c);
}

int db_heartbeat(struct store *st, const char *owner, db_open_cb cb, void *arg)
{
	struct call *c = call_new(arg);
	char lease[16];
	const char *params[2] = { owner, lease };

	c->cb.open = cb;
	snprintf(lease, sizeof lease, "%d", DB_LEASE_MS);
	return submit(st, "SELECT * FROM rollbot_heartbeat($1, $2::int)", 2, params, open_cb, c);
}

int db_release(struct store *st, const char *owner, db_done_cb cb, void *arg)
{
	struct call *c = call_new(arg);
	const char *params[1] = { owner };

	c->cb.done = cb;
	return submit(st, "SELECT rollbot_release($1)", 1, params, done_cb, c);
}

static void react_cb(void *arg, int err, const PGresult *res, const char *errmsg)
{
	struct call *c = arg;
	enum db_react_word w = DB_REACT_APPLIED;
	const char *v = "", *incident = NULL;

	if (!err && PQntuples(res) == 1)
		v = PQgetvalue(res, 0, 0);
	if (!strncmp(v, "queued:", 7)) {
		w = DB_REACT_QUEUED;
		incident = v + 7;
	} else if (!strcmp(v, "ignored")) {
		w = DB_REACT_IGNORED;
	} else if (!strcmp(v, "unchanged")) {
		w = DB_REACT_UNCHANGED;
	} else if (!strcmp(v, "stale")) {
		w = DB_REACT_STALE;
	} else if (!strcmp(v, "duplicate")) {
		w = DB_REACT_DUPLICATE;
	}
	c->cb.react(c->arg, err, errmsg, w, incident);
	free(c);
}

int db_react(struct store *st, const char *key, const char *channel, const char *ts,
	     const char *user, const char *emoji, bool added, const char *event_ts,
	     db_react_cb cb, void *arg)
{
	struct call *c = call_new(arg);
	const char *params[7] = { key, channel, ts, user, emoji, added ? "true" : "false",
				  event_ts };

	c->cb.react = cb;
	/* A snapshot is never queued: the recount that read it acts on it. */
	return submit(st,
		      key ? "SELECT rollbot_react($1, $2, $3, $4, $5, $6::boolean, $7::numeric)"
			  : "SELECT rollbot_reaction($1, $2, $3, $4, $5, $6::boolean, "
			    "$7::numeric)",
		      7, params, react_cb, c);
}

static void inbox_put_cb(void *arg, int err, const PGresult *res, const char *errmsg)
{
	struct call *c = arg;
	enum db_inbox_word w = DB_INBOX_ENDED;

	if (!err && PQntuples(res) == 1) {
		const char *v = PQgetvalue(res, 0, 0);
		if (!strcmp(v, "queued"))
			w = DB_INBOX_QUEUED;
		else if (!strcmp(v, "duplicate"))
			w = DB_INBOX_DUPLICATE;
	}
	c->cb.inbox_put(c->arg, err, errmsg, w);
	free(c);
}

int db_inbox_put(struct store *st, const char *key, const char *incident, const char *kind,
		 const char *actor, const char *detail_json, db_inbox_put_cb cb, void *arg)
{
	struct call *c = call_new(arg);
	const char *params[5] = { key, incident, kind, actor, detail_json };

	c->cb.inbox_put = cb;
	return submit(st, "SELECT rollbot_inbox_put($1, $2, $3, $4, $5::jsonb)", 5, params,
		      inbox_put_cb, c);
}

static void inbox_cb(void *arg, int err, const PGresult *res, const char *errmsg)
{
	struct call *c = arg;
	struct db_inbox_item *items;
	size_t n;

	if (err) {
		c->cb.inbox(c->arg, err, errmsg, NULL, 0);
		free(c);
		return;
	}
	n = (size_t)PQntuples(res);
	items = rb_calloc(n + 1, sizeof *items);
	for (size_t i = 0; i < n; i++) {
		int r = (int)i;
		json_t *d = json_loads(PQgetvalue(res, r, 4), 0, NULL);

		items[i].id = int_col(res, r, 0);
		items[i].incident = PQgetvalue(res, r, 1);
		items[i].kind = PQgetvalue(res, r, 2);
		items[i].actor = PQgetvalue(res, r, 3);
		if (!json_is_object(d)) {
			json_decref(d);
			d = json_object();
		}
		items[i].detail = d;
	}
	c->cb.inbox(c->arg, 0, NULL, items, n);
	for (size_t i = 0; i < n; i++)
		json_decref(items[i].detail);
	free(items);
	free(c);
}

int db_inbox_take(struct store *st, const char *owner, int64_t after, db_inbox_cb cb,
		  void *arg)
{
	struct call *c = call_new(arg);
	char a[24];
	const char *params[2] = { owner, a };

	c->cb.inbox = cb;
	snprintf(a, sizeof a, "%lld", (long long)after);
	return submit(st,
		      "SELECT id, incident_id, kind, actor, detail FROM "
		      "rollbot_inbox_take($1, $2::bigint)",
		      2, params, inbox_cb, c);
}

int db_inbox_done(struct store *st, int64_t id, db_done_cb cb, void *arg)
{
	struct call *c = call_new(arg);
	char s[24];
	const char *params[1] = { s };

	c->cb.done = cb;
	snprintf(s, sizeof s, "%lld", (long long)id);
	return submit(st, "DELETE FROM incident_inbox WHERE id = $1::bigint", 1, params, done_cb,
		      c);
}
