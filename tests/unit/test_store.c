/* rollbot — unit tests of bot/store.c and sql/ migrations (MIT licence, see LICENSE).
 *
 * Against a real PostgreSQL: DATABASE_URL names a database the tests may
 * use to create and drop others (tests/run.sh starts a cluster with
 * tests/pg.sh). Every test gets a fresh database with the migrations from
 * the sql/ folder (read from disk; run from the repository root) and, for the
 * asynchronous store, a loop of its own that must close cleanly. Without
 * DATABASE_URL the tests are skipped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <glob.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bot/log.h"
#include "bot/store.h"
#include "commands/incident.h"

#define WAIT_MS 10000

static const char *db_url; /* DATABASE_URL: where databases are created */
static struct store_migration migs[32];
static size_t nmigs;
static int db_counter;

struct fx {
	char dbname[64];
	char *conninfo; /* the test database */
	uv_loop_t loop;
	bool loop_open;
};

/* ---- helpers: blocking SQL ------------------------------------------- */

static void quiet_notice(void *arg, const PGresult *res)
{
	(void)arg;
	(void)res;
}

static PGconn *db_connect(const char *conninfo)
{
	PGconn *c = PQconnectdb(conninfo);

	if (PQstatus(c) != CONNECTION_OK)
		fail_msg("cannot connect: %s", PQerrorMessage(c));
	PQsetNoticeReceiver(c, quiet_notice, NULL);
	return c;
}

/* Runs one statement; returns its result (PQclear it). */
static PGresult *db_exec(PGconn *c, const char *sql, int n, const char *const *p)
{
	return PQexecParams(c, sql, n, NULL, p, NULL, NULL, 0);
}

static void db_ok(PGconn *c, const char *sql)
{
	PGresult *r = db_exec(c, sql, 0, NULL);

	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQresultErrorMessage(r));
	PQclear(r);
}

/* The first column of the first row, as a new string ("(null)" for NULL). */
static char *db_value(PGconn *c, const char *sql, int n, const char *const *p)
{
	PGresult *r = db_exec(c, sql, n, p);
	char *v;

	if (PQresultStatus(r) != PGRES_TUPLES_OK || PQntuples(r) < 1)
		fail_msg("%s: %s", sql, PQresultErrorMessage(r));
	v = rb_strdup(PQgetisnull(r, 0, 0) ? "(null)" : PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

static long db_long(PGconn *c, const char *sql)
{
	char *v = db_value(c, sql, 0, NULL);
	long n = strtol(v, NULL, 10);

	free(v);
	return n;
}

/* db_url with its dbname replaced, as a key=value conninfo (new string). */
static char *conninfo_for(const char *dbname)
{
	PQconninfoOption *opts = PQconninfoParse(db_url, NULL);
	struct rb_buf b;

	assert_non_null(opts);
	rb_buf_init(&b, 8192);
	for (PQconninfoOption *o = opts; o->keyword; o++) {
		if (!o->val || !strcmp(o->keyword, "dbname"))
			continue;
		assert_int_equal(rb_buf_printf(&b, "%s='", o->keyword), 0);
		for (const char *s = o->val; *s; s++) {
			if (*s == '\'' || *s == '\\')
				assert_int_equal(rb_buf_append(&b, "\\", 1), 0);
			assert_int_equal(rb_buf_append(&b, s, 1), 0);
		}
		assert_int_equal(rb_buf_puts(&b, "' "), 0);
	}
	assert_int_equal(rb_buf_printf(&b, "dbname='%s'", dbname), 0);
	PQconninfoFree(opts);
	return rb_buf_steal(&b);
}

static void create_db(const char *name)
{
	PGconn *c = db_connect(db_url);
	char *sql = rb_asprintf("CREATE DATABASE \"%s\"", name);

	db_ok(c, sql);
	free(sql);
	PQfinish(c);
}

static void drop_db(const char *name)
{
	PGconn *c = db_connect(db_url);
	char *sql = rb_asprintf("DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", name);

	db_ok(c, sql);
	free(sql);
	PQfinish(c);
}

static void migrate_ok(const char *conninfo, int want_applied)
{
	char err[RB_ERR_LEN];
	int applied = -1;

	if (store_migrate(conninfo, migs, nmigs, &applied, err, sizeof err) != 0)
		fail_msg("store_migrate: %s", err);
	assert_int_equal(applied, want_applied);
}

/* ---- helpers: the loop ------------------------------------------------ */

static void tick_cb(uv_timer_t *t)
{
	(void)t; /* only makes UV_RUN_ONCE return */
}

/* Runs the loop until *count reaches want or timeout_ms pass. */
static void run_until(uv_loop_t *loop, const int *count, int want, uint64_t timeout_ms)
{
	uv_timer_t tick;
	uint64_t deadline;

	uv_update_time(loop);
	deadline = uv_now(loop) + timeout_ms;
	uv_timer_init(loop, &tick);
	uv_timer_start(&tick, tick_cb, 10, 10);
	while ((!count || *count < want) && uv_now(loop) < deadline)
		uv_run(loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
}

/* Lets the closing handles finish, then the loop must close. */
static void close_loop(struct fx *f)
{
	for (int i = 0; i < 5000 && uv_loop_alive(&f->loop); i++) {
		uv_run(&f->loop, UV_RUN_NOWAIT);
		usleep(1000);
	}
	f->loop_open = false;
	assert_int_equal(uv_loop_close(&f->loop), 0);
}

/* What a callback saw. */
struct rec {
	int calls;
	int err;
	int ntuples;
	char value[128]; /* first cell */
	char errmsg[RB_ERR_LEN];
	int *counter; /* shared completion count, for FIFO checks */
	int order;    /* value of *counter when this one completed */
};

static void rec_cb(void *arg, int err, const PGresult *res, const char *errmsg)
{
	struct rec *r = arg;

	r->calls++;
	r->err = err;
	if (err) {
		assert_null(res);
		assert_non_null(errmsg);
		rb_strlcpy(r->errmsg, errmsg, sizeof r->errmsg);
	} else {
		assert_non_null(res);
		r->ntuples = PQntuples(res);
		if (PQntuples(res) > 0 && PQnfields(res) > 0)
			rb_strlcpy(r->value,
				   PQgetisnull(res, 0, 0) ? "(null)" : PQgetvalue(res, 0, 0),
				   sizeof r->value);
	}
	if (r->counter)
		r->order = (*r->counter)++;
}

/* Queues sql and waits for its callback; returns the record. */
static struct rec query_wait(struct fx *f, struct store *st, const char *sql, int n,
			     const char *const *p)
{
	struct rec r = { 0 };

	assert_int_equal(store_query(st, sql, n, p, rec_cb, &r), 0);
	run_until(&f->loop, &r.calls, 1, WAIT_MS);
	assert_int_equal(r.calls, 1);
	return r;
}

static int backend_pid(struct fx *f, struct store *st)
{
	struct rec r = query_wait(f, st, "SELECT pg_backend_pid()", 0, NULL);

	assert_int_equal(r.err, 0);
	return (int)strtol(r.value, NULL, 10);
}

/* Kills a backend as an operator would, and waits until it is gone (up to
 * 5 s), so that no command can still run on it afterwards. */
static void terminate(struct fx *f, int pid)
{
	PGconn *c = db_connect(f->conninfo);
	char pidstr[16];
	const char *p[1] = { pidstr };
	char *v;

	snprintf(pidstr, sizeof pidstr, "%d", pid);
	v = db_value(c, "SELECT pg_terminate_backend($1::int, 5000)", 1, p);
	assert_string_equal(v, "t");
	free(v);
	PQfinish(c);
}

/* ---- fixtures ---------------------------------------------------------- */

static int load_migrations(void **state)
{
	glob_t g;

	(void)state;
	if (glob("sql/*.sql", 0, NULL, &g) != 0) {
		fprintf(stderr, "store tests: no sql/*.sql (run from the repository root)\n");
		return -1;
	}
	for (size_t i = 0; i < g.gl_pathc && nmigs < RB_ARRAY_LEN(migs); i++) {
		FILE *fp = fopen(g.gl_pathv[i], "rb");
		struct rb_buf b;
		char chunk[4096];
		size_t n;

		if (!fp)
			return -1;
		rb_buf_init(&b, 1u << 20);
		while ((n = fread(chunk, 1, sizeof chunk, fp)) > 0)
			if (rb_buf_append(&b, chunk, n))
				return -1;
		fclose(fp);
		migs[nmigs].name = rb_strdup(strrchr(g.gl_pathv[i], '/') + 1);
		migs[nmigs].sql = rb_buf_steal(&b);
		nmigs++;
	}
	globfree(&g);
	return 0;
}

static int free_migrations(void **state)
{
	(void)state;
	for (size_t i = 0; i < nmigs; i++) {
		free((char *)migs[i].name);
		free((char *)migs[i].sql);
	}
	nmigs = 0;
	return 0;
}

/* A fresh, empty database and a loop. */
static int fx_setup(void **state)
{
	struct fx *f = rb_calloc(1, sizeof *f);

	snprintf(f->dbname, sizeof f->dbname, "store_t_%d_%d", (int)getpid(), ++db_counter);
	create_db(f->dbname);
	f->conninfo = conninfo_for(f->dbname);
	uv_loop_init(&f->loop);
	f->loop_open = true;
	*state = f;
	return 0;
}

/* The same with the migrations applied. */
static int fx_setup_migrated(void **state)
{
	struct fx *f;

	fx_setup(state);
	f = *state;
	migrate_ok(f->conninfo, (int)nmigs);
	return 0;
}

static int fx_teardown(void **state)
{
	struct fx *f = *state;

	/* The database goes first: after a failed test the loop may still hold
	 * the store's handles, and the failure is reported already. */
	drop_db(f->dbname);
	if (f->loop_open)
		(void)uv_loop_close(&f->loop);
	free(f->conninfo);
	free(f);
	return 0;
}

/* ---- migrations -------------------------------------------------------- */

static void migrate_applies_each_migration_once(void **state)
{
	struct fx *f = *state;
	PGconn *c;
	char *v;

	assert_true(nmigs >= 1);
	assert_string_equal(migs[0].name, "001_init.sql");
	migrate_ok(f->conninfo, (int)nmigs);
	migrate_ok(f->conninfo, 0);
	c = db_connect(f->conninfo);
	v = db_value(c, "SELECT string_agg(version, ',' ORDER BY version) FROM schema_migrations",
		     0, NULL);
	assert_non_null(strstr(v, "001_init.sql"));
	free(v);
	assert_int_equal(db_long(c, "SELECT count(*) FROM schema_migrations"), (long)nmigs);
	PQfinish(c);
}

static void migrate_failure_names_migration_and_rolls_back(void **state)
{
	struct fx *f = *state;
	const struct store_migration bad[] = {
		{ "001_ok.sql", "CREATE TABLE t1 (a int);" },
		{ "002_bad.sql", "CREATE TABLE t2 (a int);\nCREATE TABLE t3 (a nosuchtype);" },
	};
	char err[RB_ERR_LEN];
	int applied = -1;
	PGconn *c;

	assert_int_equal(store_migrate(f->conninfo, bad, 2, &applied, err, sizeof err),
			 STORE_EMIGRATE);
	assert_int_equal(applied, 1);
	assert_non_null(strstr(err, "002_bad.sql"));
	assert_non_null(strstr(err, "type \"nosuchtype\" does not exist"));
	assert_non_null(strstr(err, "line 2"));
	assert_null(strstr(err, f->dbname));
	c = db_connect(f->conninfo);
	/* 001 stays applied; nothing of 002 remains, not even its first table. */
	assert_int_equal(db_long(c, "SELECT count(*) FROM schema_migrations"), 1);
	assert_int_equal(db_long(c, "SELECT count(*) FROM pg_class WHERE relname = 't2'"), 0);
	PQfinish(c);
}

static void migrate_connect_error_hides_conninfo(void **state)
{
	const char *conninfo = "host=/nonexistent/rollbot dbname=x user=u password=s3cr3tpw";
	char err[RB_ERR_LEN];
	int applied = -1;

	(void)state;
	assert_int_equal(store_migrate(conninfo, migs, nmigs, &applied, err, sizeof err),
			 STORE_ECONNECT);
	assert_int_equal(applied, 0);
	assert_non_null(strstr(err, "cannot connect"));
	assert_null(strstr(err, "s3cr3tpw"));
	assert_null(strstr(err, conninfo));
	/* A URL libpq cannot parse is not quoted back either. */
	assert_int_equal(store_migrate("postgresql://u:pw%zzsecret@/db", migs, nmigs, &applied, err,
				       sizeof err),
			 STORE_ECONNECT);
	assert_null(strstr(err, "secret"));
}

/* Two bots starting together: the advisory lock lets each migration run
 * once (a race would fail one of them on CREATE TABLE). */
static void migrate_concurrent_runs_apply_once(void **state)
{
	struct fx *f = *state;
	pid_t pid[4];
	int total = 0;

	for (size_t i = 0; i < RB_ARRAY_LEN(pid); i++) {
		pid[i] = fork();
		assert_true(pid[i] >= 0);
		if (pid[i] == 0) {
			char err[RB_ERR_LEN];
			int applied = 0;
			int rc = store_migrate(f->conninfo, migs, nmigs, &applied, err, sizeof err);

			if (rc)
				fprintf(stderr, "child: %s\n", err);
			_exit(rc ? 100 : applied);
		}
	}
	for (size_t i = 0; i < RB_ARRAY_LEN(pid); i++) {
		int status;

		assert_int_equal(waitpid(pid[i], &status, 0), pid[i]);
		assert_true(WIFEXITED(status));
		assert_true(WEXITSTATUS(status) < 100);
		total += WEXITSTATUS(status);
	}
	assert_int_equal(total, (int)nmigs);
}

/* ---- sql/001_init.sql -------------------------------------------------- */

/* Declares an incident for a service named after the key (one rollback per
 * service at a time: 002_approval.sql), or for `service` with declare_for. */
static char *declare_for(PGconn *c, const char *key, const char *service)
{
	const char *p[] = { key,
			    service,
			    "P1",
			    "checkout 5xx at 6%",
			    "41",
			    "kubectl",
			    "U0REQ",
			    "C0INC",
			    "{\"text\":\"payments-api --to 41\"}" };

	return db_value(c, "SELECT rollbot_declare($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb)",
			(int)RB_ARRAY_LEN(p), p);
}

static char *declare(PGconn *c, const char *key)
{
	char service[64];

	snprintf(service, sizeof service, "svc-%s", key + (strncmp(key, "slash:", 6) ? 0 : 6));
	return declare_for(c, key, service);
}

static void declare_refuses_a_second_rollback_of_the_same_service(void **state)
{
	struct fx *f = *state;
	PGconn *c = db_connect(f->conninfo);
	char *first = declare_for(c, "slash:one", "payments-api");
	char *second = declare_for(c, "slash:two", "payments-api");
	char *open = rb_asprintf("open:%s:declared", first);

	assert_string_equal(second, open);
	assert_int_equal(db_long(c, "SELECT count(*) FROM incidents WHERE service = 'payments-api'"), 1);
	assert_int_equal(db_long(c, "SELECT count(*) FROM audit_log WHERE kind = "
				    "'command_refused_open_incident'"),
			 1);
	/* Verifying and failed still hold it (issue 11): the answer names the
	 * incident and its state, from whichever replica asks. */
	free(db_value(c, "UPDATE incidents SET state = 'verifying' RETURNING id", 0, NULL));
	free(second);
	free(open);
	second = declare_for(c, "slash:three", "payments-api");
	open = rb_asprintf("open:%s:verifying", first);
	assert_string_equal(second, open);
	free(db_value(c, "UPDATE incidents SET state = 'failed' RETURNING id", 0, NULL));
	free(second);
	free(open);
	second = declare_for(c, "slash:four", "payments-api");
	open = rb_asprintf("open:%s:failed", first);
	assert_string_equal(second, open);
	/* Once the first is over, the service can be rolled back again. */
	free(db_value(c, "UPDATE incidents SET state = 'cancelled' RETURNING id", 0, NULL));
	free(second);
	second = declare_for(c, "slash:five", "payments-api");
	assert_int_equal(strncmp(second, "INC-", 4), 0);
	free(open);
	free(first);
	free(second);
	PQfinish(c);
}

static void declare_numbers_incidents_per_year(void **state)
{
	struct fx *f = *state;
	PGconn *c = db_connect(f->conninfo);
	long year = db_long(c, "SELECT extract(year FROM now() AT TIME ZONE 'UTC')::int");
	char want[32], *id;

	id = declare(c, "slash:1");
	snprintf(want, sizeof want, "INC-%ld-0001", year);
	assert_string_equal(id, want);
	free(id);
	id = declare(c, "slash:2");
	snprintf(want, sizeof want, "INC-%ld-0002", year);
	assert_string_equal(id, want);
	free(id);
	assert_int_equal(db_long(c, "SELECT count(*) FROM incidents WHERE state = 'declared'"), 2);
	PQfinish(c);
}

static void declare_duplicate_key_creates_nothing(void **state)
{
	struct fx *f = *state;
	PGconn *c = db_connect(f->conninfo);
	char *id;

	id = declare(c, "slash:dup");
	assert_string_not_equal(id, "(null)");
	free(id);
	id = declare(c, "slash:dup");
	assert_string_equal(id, "(null)");
	free(id);
	assert_int_equal(db_long(c, "SELECT count(*) FROM incidents"), 1);
	assert_int_equal(db_long(c, "SELECT count(*) FROM audit_log"), 2);
	assert_int_equal(db_long(c, "SELECT last FROM incident_seq"), 1);
	assert_int_equal(db_long(c, "SELECT count(*) FROM processed_deliveries"), 1);
	PQfinish(c);
}

static void declare_writes_two_audit_rows(void **state)
{
	struct fx *f = *state;
	PGconn *c = db_connect(f->conninfo);
	char *id = declare(c, "slash:audit");
	const char *p[1] = { id };
	PGresult *r;

	r = db_exec(c,
		    "SELECT actor, kind, detail::text FROM audit_log WHERE incident_id = $1 "
		    "ORDER BY id",
		    1, p);
	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	assert_int_equal(PQntuples(r), 2);
	assert_string_equal(PQgetvalue(r, 0, 0), "U0REQ");
	assert_string_equal(PQgetvalue(r, 0, 1), "command_received");
	assert_string_equal(PQgetvalue(r, 0, 2), "{\"text\": \"payments-api --to 41\"}");
	assert_string_equal(PQgetvalue(r, 1, 0), "rollbot");
	assert_string_equal(PQgetvalue(r, 1, 1), "state_change");
	assert_string_equal(PQgetvalue(r, 1, 2), "{\"to\": \"declared\", \"from\": null}");
	PQclear(r);
	free(id);
	PQfinish(c);
}

static void declare_uses_more_digits_past_9999(void **state)
{
	struct fx *f = *state;
	PGconn *c = db_connect(f->conninfo);
	char *id;

	free(declare(c, "slash:a"));
	db_ok(c, "UPDATE incident_seq SET last = 9999");
	id = declare(c, "slash:b");
	assert_non_null(strstr(id, "-10000"));
	assert_int_equal(strlen(id), strlen("INC-2026-10000"));
	free(id);
	PQfinish(c);
}

/* ---- sql/005_one_state_list.sql --------------------------------------- */

/* The database's lists of states are the state machine's: for every state
 * the C predicates know, the SQL functions give the same answer. */
static void state_lists_agree_with_the_state_machine(void **state)
{
	struct fx *f = *state;
	PGconn *c = db_connect(f->conninfo);

	for (int i = 0; i < INC_STATE_COUNT; i++) {
		const char *p[1] = { inc_state_name((enum inc_state)i) };
		char *holds = db_value(c, "SELECT rollbot_holds_service($1)", 1, p);
		char *final = db_value(c, "SELECT rollbot_is_final($1)", 1, p);

		if (strcmp(holds, inc_state_holds_service((enum inc_state)i) ? "t" : "f"))
			fail_msg("%s: rollbot_holds_service says %s", p[0], holds);
		if (strcmp(final, inc_state_is_final((enum inc_state)i) ? "t" : "f"))
			fail_msg("%s: rollbot_is_final says %s", p[0], final);
		free(holds);
		free(final);
	}
	PQfinish(c);
}

/* ---- sql/011_lock_until_end.sql -------------------------------------- */

/* On a database where verifying did not hold the service and failed was
 * final: the migration must not fail on two incidents of one service that
 * now both hold it, keeps the one in declared .. rolling_back (or the
 * newest verifying one), closes the others and the already-failed ones as
 * cancelled with a row saying why, and rebuilds the indexes. */
static void migration_011_closes_what_would_hold_twice(void **state)
{
	struct fx *f = *state;
	char err[RB_ERR_LEN];
	size_t k = 0;
	int applied = -1;
	PGconn *c;
	char *v;

	while (k < nmigs && strcmp(migs[k].name, "011_lock_until_end.sql"))
		k++;
	assert_true(k < nmigs);
	if (store_migrate(f->conninfo, migs, k, &applied, err, sizeof err) != 0)
		fail_msg("store_migrate: %s", err);
	c = db_connect(f->conninfo);
	db_ok(c, "INSERT INTO incidents (id, year, seq, service, state, severity, method, "
		 "requested_by, channel, created_at, ended_at) VALUES "
		 "('INC-2026-0001', 2026, 1, 'payments-api', 'verifying', 'P1', 'kubectl', 'U1', "
		 " 'C1', '2026-01-01 03:00Z', NULL), "
		 "('INC-2026-0002', 2026, 2, 'payments-api', 'verifying', 'P1', 'kubectl', 'U1', "
		 " 'C1', '2026-01-01 03:10Z', NULL), "
		 "('INC-2026-0003', 2026, 3, 'search', 'verifying', 'P1', 'helm', 'U1', "
		 " 'C1', '2026-01-01 03:20Z', NULL), "
		 "('INC-2026-0004', 2026, 4, 'search', 'awaiting_approval', 'P1', 'helm', 'U1', "
		 " 'C1', '2026-01-01 03:00Z', NULL), "
		 "('INC-2026-0005', 2026, 5, 'web', 'failed', 'P1', 'kubectl', 'U1', "
		 " 'C1', '2026-01-01 03:00Z', '2026-01-01 03:30Z'), "
		 "('INC-2026-0006', 2026, 6, 'web', 'failed', 'P1', 'kubectl', 'U1', "
		 " 'C1', '2026-01-01 04:00Z', '2026-01-01 04:30Z')");
	PQfinish(c);
	if (store_migrate(f->conninfo, migs, nmigs, &applied, err, sizeof err) != 0)
		fail_msg("store_migrate: %s", err);
	assert_int_equal(applied, (int)(nmigs - k));
	c = db_connect(f->conninfo);
	v = db_value(c, "SELECT string_agg(id || '=' || state || ':' || "
			"(ended_at IS NOT NULL)::text, ' ' ORDER BY id) FROM incidents", 0, NULL);
	assert_string_equal(v, "INC-2026-0001=cancelled:true INC-2026-0002=verifying:false "
			       "INC-2026-0003=cancelled:true INC-2026-0004=awaiting_approval:false "
			       "INC-2026-0005=cancelled:true INC-2026-0006=cancelled:true");
	free(v);
	/* The old rules' end is kept for those that had failed. */
	v = db_value(c, "SELECT ended_at = '2026-01-01 03:30Z' FROM incidents "
			"WHERE id = 'INC-2026-0005'", 0, NULL);
	assert_string_equal(v, "t");
	free(v);
	v = db_value(c, "SELECT string_agg(incident_id || ':' || (detail->>'from') || '>' || "
			"(detail->>'to') || ':' || (detail->>'note' LIKE '%migration 011%')::text || "
			"':' || (detail->>'note' LIKE '%superseded by INC-2026-0004%')::text, ' ' "
			"ORDER BY incident_id) FROM audit_log WHERE kind = 'state_change'", 0, NULL);
	assert_string_equal(v, "INC-2026-0001:verifying>cancelled:true:false "
			       "INC-2026-0003:verifying>cancelled:true:true "
			       "INC-2026-0005:failed>cancelled:true:false "
			       "INC-2026-0006:failed>cancelled:true:false");
	free(v);
	/* The rebuilt index holds verifying and failed: a second one of a held
	 * service is refused by the database itself. */
	{
		PGresult *r = db_exec(c, "INSERT INTO incidents (id, year, seq, service, state, "
				      "severity, method, requested_by, channel) VALUES "
				      "('INC-2026-0007', 2026, 7, 'payments-api', 'failed', 'P1', "
				      "'kubectl', 'U1', 'C1')", 0, NULL);
		assert_string_equal(PQresultErrorField(r, PG_DIAG_SQLSTATE), "23505");
		PQclear(r);
	}
	db_ok(c, "UPDATE incidents SET state = 'failed' WHERE id = 'INC-2026-0002'");
	v = db_value(c, "SELECT count(*) FROM incidents WHERE NOT rollbot_is_final(state)", 0,
		     NULL);
	assert_string_equal(v, "2");
	free(v);
	PQfinish(c);
}

static void audit_dedupe_key_writes_once(void **state)
{
	struct fx *f = *state;
	PGconn *c = db_connect(f->conninfo);
	const char *keyed[] = { "rollbot", "approval", "{\"by\":\"U1\"}", "react:1" };
	const char *nokey[] = { "rollbot", "note", "{}", NULL };
	const char *sql = "SELECT rollbot_audit(NULL, $1, $2, $3::jsonb, $4)";

	for (int i = 0; i < 2; i++) {
		PQclear(db_exec(c, sql, 4, keyed));
		PQclear(db_exec(c, sql, 4, nokey));
	}
	assert_int_equal(db_long(c, "SELECT count(*) FROM audit_log WHERE kind = 'approval'"), 1);
	assert_int_equal(db_long(c, "SELECT count(*) FROM audit_log WHERE kind = 'note'"), 2);
	PQfinish(c);
}

static void audit_log_refuses_update_delete_truncate(void **state)
{
	struct fx *f = *state;
	PGconn *c = db_connect(f->conninfo);
	const char *bad[] = {
		"UPDATE audit_log SET kind = 'x'",
		"UPDATE audit_log SET kind = 'x' WHERE false",
		"DELETE FROM audit_log",
		"TRUNCATE audit_log",
	};

	free(declare(c, "slash:ro"));
	for (size_t i = 0; i < RB_ARRAY_LEN(bad); i++) {
		PGresult *r = db_exec(c, bad[i], 0, NULL);

		assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
		assert_non_null(strstr(PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY),
				       "audit_log is append-only"));
		PQclear(r);
	}
	assert_int_equal(db_long(c, "SELECT count(*) FROM audit_log"), 2);
	PQfinish(c);
}

/* ---- the asynchronous store -------------------------------------------- */

static void query_with_params_returns_rows(void **state)
{
	struct fx *f = *state;
	struct store *st = store_new(&f->loop, f->conninfo);
	const char *p[] = { "41", NULL, "it's; DROP TABLE x" };
	struct rec r;

	r = query_wait(f, st, "SELECT $1::int + 1, $2::text IS NULL, $3::text", 3, p);
	assert_int_equal(r.err, 0);
	assert_int_equal(r.ntuples, 1);
	assert_string_equal(r.value, "42");
	assert_true(store_connected(st));
	r = query_wait(f, st, "SELECT $1::text", 1, &p[2]);
	assert_string_equal(r.value, "it's; DROP TABLE x");
	r = query_wait(f, st,
		       "SELECT rollbot_declare($1, 'svc', 'P2', '', '', 'helm', 'U1', 'C1', '{}')",
		       1, p);
	assert_int_equal(r.err, 0);
	assert_non_null(strstr(r.value, "-0001"));
	assert_int_equal(store_pending(st), 0);
	store_free(st);
	close_loop(f);
}

static void queued_queries_complete_in_order(void **state)
{
	struct fx *f = *state;
	struct store *st = store_new(&f->loop, f->conninfo);
	static struct rec r[200];
	char num[16];
	const char *p[1] = { num };
	int done = 0;

	memset(r, 0, sizeof r);
	for (int i = 0; i < 200; i++) {
		r[i].counter = &done;
		snprintf(num, sizeof num, "%d", i);
		assert_int_equal(store_query(st, "SELECT $1::int", 1, p, rec_cb, &r[i]), 0);
	}
	assert_int_equal(store_pending(st), 200);
	assert_int_equal(done, 0); /* never called back from store_query */
	run_until(&f->loop, &done, 200, WAIT_MS);
	assert_int_equal(done, 200);
	for (int i = 0; i < 200; i++) {
		assert_int_equal(r[i].calls, 1);
		assert_int_equal(r[i].err, 0);
		assert_int_equal(r[i].order, i);
		assert_int_equal((int)strtol(r[i].value, NULL, 10), i);
	}
	assert_int_equal(store_pending(st), 0);
	store_free(st);
	close_loop(f);
}

static void query_error_fails_only_that_command(void **state)
{
	struct fx *f = *state;
	struct store *st = store_new(&f->loop, f->conninfo);
	struct rec bad = { 0 }, dup = { 0 }, good = { 0 };
	const char *key[1] = { "k" };
	const char *ins = "INSERT INTO processed_deliveries (key, kind) VALUES ($1, 'event')";
	int done = 0;

	bad.counter = dup.counter = good.counter = &done;
	assert_int_equal(store_query(st, "SELECT 1/0", 0, NULL, rec_cb, &bad), 0);
	assert_int_equal(store_query(st, ins, 1, key, NULL, NULL), 0);
	assert_int_equal(store_query(st, ins, 1, key, rec_cb, &dup), 0);
	assert_int_equal(store_query(st, "SELECT 'still fine'", 0, NULL, rec_cb, &good), 0);
	run_until(&f->loop, &done, 3, WAIT_MS);
	assert_int_equal(bad.err, STORE_EQUERY);
	assert_non_null(strstr(bad.errmsg, "division by zero"));
	assert_non_null(strstr(bad.errmsg, "22012"));
	assert_int_equal(dup.err, STORE_EQUERY);
	assert_non_null(strstr(dup.errmsg, "23505"));
	assert_int_equal(good.err, 0);
	assert_string_equal(good.value, "still fine");
	assert_int_equal(bad.order, 0);
	assert_int_equal(good.order, 2);
	assert_true(store_connected(st));
	store_free(st);
	close_loop(f);
}

static void query_rejects_bad_arguments(void **state)
{
	struct fx *f = *state;
	struct store *st = store_new(&f->loop, f->conninfo);
	struct rec r = { 0 };

	assert_int_equal(store_query(st, NULL, 0, NULL, rec_cb, &r), RB_EINVAL);
	assert_int_equal(store_query(st, "SELECT $1", 1, NULL, rec_cb, &r), RB_EINVAL);
	assert_int_equal(store_query(st, "SELECT 1", -1, NULL, rec_cb, &r), RB_EINVAL);
	assert_int_equal(store_query(NULL, "SELECT 1", 0, NULL, rec_cb, &r), RB_EINVAL);
	assert_int_equal(store_pending(st), 0);
	store_free(st);
	close_loop(f);
	assert_int_equal(r.calls, 0);
}

struct killer {
	uv_timer_t timer;
	struct fx *f;
	int pid;
};

static void kill_cb(uv_timer_t *t)
{
	struct killer *k = t->data;

	terminate(k->f, k->pid);
	uv_close((uv_handle_t *)t, NULL);
}

static void reconnect_resends_inflight_and_queued(void **state)
{
	struct fx *f = *state;
	struct store *st = store_new(&f->loop, f->conninfo);
	static struct rec r[21];
	struct killer k;
	char num[16];
	const char *p[1] = { num };
	int done = 0, pid1, pid2;

	pid1 = backend_pid(f, st);
	memset(r, 0, sizeof r);
	/* In flight when the backend dies: pg_sleep is still running. */
	r[0].counter = &done;
	assert_int_equal(
		store_query(st, "SELECT 'slept' FROM pg_sleep(0.8)", 0, NULL, rec_cb, &r[0]), 0);
	for (int i = 1; i < 21; i++) {
		r[i].counter = &done;
		snprintf(num, sizeof num, "%d", i);
		assert_int_equal(store_query(st, "SELECT $1::int", 1, p, rec_cb, &r[i]), 0);
	}
	k.f = f;
	k.pid = pid1;
	uv_timer_init(&f->loop, &k.timer);
	k.timer.data = &k;
	uv_timer_start(&k.timer, kill_cb, 100, 0);
	run_until(&f->loop, &done, 21, WAIT_MS);
	assert_int_equal(done, 21);
	assert_int_equal(r[0].err, 0);
	assert_string_equal(r[0].value, "slept");
	for (int i = 1; i < 21; i++) {
		assert_int_equal(r[i].err, 0);
		assert_int_equal(r[i].order, i);
		assert_int_equal((int)strtol(r[i].value, NULL, 10), i);
	}
	pid2 = backend_pid(f, st);
	assert_int_not_equal(pid1, pid2);
	store_free(st);
	close_loop(f);
}

static void reconnect_after_idle_connection_is_killed(void **state)
{
	struct fx *f = *state;
	struct store *st = store_new(&f->loop, f->conninfo);
	struct rec r[5];
	int done = 0, pid1;

	pid1 = backend_pid(f, st);
	terminate(f, pid1);
	memset(r, 0, sizeof r);
	for (int i = 0; i < 5; i++) {
		r[i].counter = &done;
		assert_int_equal(store_query(st, "SELECT pg_backend_pid()", 0, NULL, rec_cb, &r[i]),
				 0);
	}
	run_until(&f->loop, &done, 5, WAIT_MS);
	assert_int_equal(done, 5);
	for (int i = 0; i < 5; i++) {
		assert_int_equal(r[i].err, 0);
		assert_int_not_equal((int)strtol(r[i].value, NULL, 10), pid1);
	}
	store_free(st);
	close_loop(f);
}

/* A command that kills its own backend would otherwise be re-sent for ever
 * and hold up everything queued behind it. */
static void command_that_breaks_the_connection_fails_in_the_end(void **state)
{
	struct fx *f = *state;
	struct store *st = store_new(&f->loop, f->conninfo);
	struct rec poison = { 0 }, next = { 0 };
	int done = 0;

	poison.counter = next.counter = &done;
	assert_int_equal(store_query(st, "SELECT pg_terminate_backend(pg_backend_pid())", 0, NULL,
				     rec_cb, &poison),
			 0);
	assert_int_equal(store_query(st, "SELECT 'next'", 0, NULL, rec_cb, &next), 0);
	run_until(&f->loop, &done, 2, WAIT_MS);
	assert_int_equal(done, 2);
	assert_int_equal(poison.err, STORE_EQUERY);
	assert_non_null(strstr(poison.errmsg, "connection broke"));
	assert_int_equal(next.err, 0);
	assert_string_equal(next.value, "next");
	store_free(st);
	close_loop(f);
}

static void connects_once_the_database_exists(void **state)
{
	struct fx *f = *state;
	char late[80];
	char *conninfo;
	struct store *st;
	struct rec r = { 0 };

	snprintf(late, sizeof late, "%s_late", f->dbname);
	conninfo = conninfo_for(late);
	st = store_new(&f->loop, conninfo);
	assert_int_equal(store_query(st, "SELECT current_database()", 0, NULL, rec_cb, &r), 0);
	run_until(&f->loop, NULL, 0, 400);
	assert_false(store_connected(st));
	assert_int_equal(r.calls, 0);
	assert_int_equal(store_pending(st), 1);
	create_db(late);
	run_until(&f->loop, &r.calls, 1, WAIT_MS);
	assert_int_equal(r.err, 0);
	assert_string_equal(r.value, late);
	assert_true(store_connected(st));
	store_free(st);
	close_loop(f);
	drop_db(late);
	free(conninfo);
}

static void free_before_connect_fails_queued_commands(void **state)
{
	struct fx *f = *state;
	struct store *st = store_new(&f->loop, f->conninfo);
	struct rec r[3];
	int done = 0;

	memset(r, 0, sizeof r);
	for (int i = 0; i < 3; i++) {
		r[i].counter = &done;
		assert_int_equal(store_query(st, "SELECT 1", 0, NULL, rec_cb, &r[i]), 0);
	}
	store_free(st);
	/* Synchronously, in order, before the loop runs again. */
	assert_int_equal(done, 3);
	for (int i = 0; i < 3; i++) {
		assert_int_equal(r[i].err, STORE_ESHUTDOWN);
		assert_int_equal(r[i].order, i);
	}
	close_loop(f);
	store_free(NULL);
}

static void free_with_command_in_flight_fails_it(void **state)
{
	struct fx *f = *state;
	struct store *st = store_new(&f->loop, f->conninfo);
	struct rec slow = { 0 }, queued = { 0 };
	uint64_t t0;

	(void)backend_pid(f, st);
	assert_int_equal(store_query(st, "SELECT pg_sleep(30)", 0, NULL, rec_cb, &slow), 0);
	assert_int_equal(store_query(st, "SELECT 1", 0, NULL, rec_cb, &queued), 0);
	run_until(&f->loop, NULL, 0, 100); /* sent, now sleeping on the server */
	assert_int_equal(store_pending(st), 2);
	store_free(st);
	assert_int_equal(slow.err, STORE_ESHUTDOWN);
	assert_int_equal(queued.err, STORE_ESHUTDOWN);
	assert_int_equal(slow.calls + queued.calls, 2);
	t0 = uv_hrtime();
	close_loop(f);
	assert_true(uv_hrtime() - t0 < 2000000000ull); /* did not wait for the sleep */
}

struct reentry {
	struct store *st;
	int calls;
	int requery_rc;
};

/* Frees the store from inside its own callback, then queues more. */
static void free_inside_cb(void *arg, int err, const PGresult *res, const char *errmsg)
{
	struct reentry *e = arg;

	(void)res;
	(void)errmsg;
	e->calls++;
	if (err == 0)
		store_free(e->st);
	else
		e->requery_rc = store_query(e->st, "SELECT 1", 0, NULL, free_inside_cb, e);
}

static void free_from_inside_a_callback(void **state)
{
	struct fx *f = *state;
	struct reentry e = { 0 };

	e.st = store_new(&f->loop, f->conninfo);
	assert_int_equal(store_query(e.st, "SELECT 1", 0, NULL, free_inside_cb, &e), 0);
	assert_int_equal(store_query(e.st, "SELECT 2", 0, NULL, free_inside_cb, &e), 0);
	run_until(&f->loop, &e.calls, 2, WAIT_MS);
	assert_int_equal(e.calls, 2);
	assert_int_equal(e.requery_rc, STORE_ESHUTDOWN);
	close_loop(f);
}

static void notices_go_to_the_debug_log(void **state)
{
	struct fx *f = *state;
	struct store *st = store_new(&f->loop, f->conninfo);
	char path[] = "/tmp/test_store_log.XXXXXX";
	char buf[8192];
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	enum log_level old = log_threshold;
	struct rec r;
	ssize_t n;

	assert_true(fd >= 0 && saved >= 0);
	log_set_level(LOG_DEBUG);
	dup2(fd, STDERR_FILENO);
	r = query_wait(f, st, "DO $$BEGIN RAISE NOTICE 'hello from plpgsql'; END$$", 0, NULL);
	dup2(saved, STDERR_FILENO);
	close(saved);
	log_set_level(old);
	assert_int_equal(r.err, 0);
	n = pread(fd, buf, sizeof buf - 1, 0);
	close(fd);
	unlink(path);
	assert_true(n > 0);
	buf[n] = '\0';
	assert_non_null(
		strstr(buf, "level=debug store: notice severity=NOTICE msg=hello from plpgsql"));
	/* Nothing libpq printed itself ("NOTICE:  ..." on stderr). */
	assert_null(strstr(buf, "NOTICE:  hello"));
	store_free(st);
	close_loop(f);
}

static void skipped_without_database(void **state)
{
	(void)state;
	skip();
}

int main(void)
{
	const struct CMUnitTest skipped[] = {
		cmocka_unit_test(skipped_without_database),
	};
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(migrate_applies_each_migration_once, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(migrate_failure_names_migration_and_rolls_back,
						fx_setup, fx_teardown),
		cmocka_unit_test(migrate_connect_error_hides_conninfo),
		cmocka_unit_test_setup_teardown(migrate_concurrent_runs_apply_once, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(declare_numbers_incidents_per_year,
						fx_setup_migrated, fx_teardown),
		cmocka_unit_test_setup_teardown(declare_refuses_a_second_rollback_of_the_same_service,
						fx_setup_migrated, fx_teardown),
		cmocka_unit_test_setup_teardown(declare_duplicate_key_creates_nothing,
						fx_setup_migrated, fx_teardown),
		cmocka_unit_test_setup_teardown(declare_writes_two_audit_rows, fx_setup_migrated,
						fx_teardown),
		cmocka_unit_test_setup_teardown(declare_uses_more_digits_past_9999,
						fx_setup_migrated, fx_teardown),
		cmocka_unit_test_setup_teardown(state_lists_agree_with_the_state_machine,
						fx_setup_migrated, fx_teardown),
		cmocka_unit_test_setup_teardown(migration_011_closes_what_would_hold_twice, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(audit_dedupe_key_writes_once, fx_setup_migrated,
						fx_teardown),
		cmocka_unit_test_setup_teardown(audit_log_refuses_update_delete_truncate,
						fx_setup_migrated, fx_teardown),
		cmocka_unit_test_setup_teardown(query_with_params_returns_rows, fx_setup_migrated,
						fx_teardown),
		cmocka_unit_test_setup_teardown(queued_queries_complete_in_order, fx_setup_migrated,
						fx_teardown),
		cmocka_unit_test_setup_teardown(query_error_fails_only_that_command,
						fx_setup_migrated, fx_teardown),
		cmocka_unit_test_setup_teardown(query_rejects_bad_arguments, fx_setup_migrated,
						fx_teardown),
		cmocka_unit_test_setup_teardown(reconnect_resends_inflight_and_queued,
						fx_setup_migrated, fx_teardown),
		cmocka_unit_test_setup_teardown(reconnect_after_idle_connection_is_killed,
						fx_setup_migrated, fx_teardown),
		cmocka_unit_test_setup_teardown(command_that_breaks_the_connection_fails_in_the_end,
						fx_setup_migrated, fx_teardown),
		cmocka_unit_test_setup_teardown(connects_once_the_database_exists, fx_setup,
						fx_teardown),
		cmocka_unit_test_setup_teardown(free_before_connect_fails_queued_commands,
						fx_setup_migrated, fx_teardown),
		cmocka_unit_test_setup_teardown(free_with_command_in_flight_fails_it,
						fx_setup_migrated, fx_teardown),
		cmocka_unit_test_setup_teardown(free_from_inside_a_callback, fx_setup_migrated,
						fx_teardown),
		cmocka_unit_test_setup_teardown(notices_go_to_the_debug_log, fx_setup_migrated,
						fx_teardown),
	};

	db_url = getenv("DATABASE_URL");
	if (!db_url || !*db_url) {
		printf("store tests: SKIPPED (DATABASE_URL not set)\n");
		fflush(stdout);
		return cmocka_run_group_tests_name("store", skipped, NULL, NULL);
	}
	alarm(100); /* a hung test must not hang CI */
	return cmocka_run_group_tests_name("store", tests, load_migrations, free_migrations);
}
