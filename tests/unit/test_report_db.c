/* rollbot — the incident report from a real PostgreSQL (MIT licence, see LICENSE).
 *
 * test_report checks commands/report.c with rows written in C. This test
 * goes the way the bot and `rollbot report` go: the migrations, a recorded
 * audit log loaded as rows (tests/golden/p1_resolved.sql), bot/db.c's
 * query and its mapping (db_report_rows_now), report_data and the embedded
 * template, and the result must be
 * tests/golden/p1_resolved.md byte for byte: the database's time format,
 * jsonb's reordering of keys and the JSON round trip change nothing. The
 * same rows give the history (db_history_now) its phase times.
 *
 * DATABASE_URL names a database the test may fill (tests/run.sh makes one
 * per binary); without it the test says it was skipped. Run from the
 * repository's top folder.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "../../bot/db.h"
#include "../../bot/embedded.h"
#include "../../bot/store.h"
#include "../../bot/tmpl.h"

static const char *db_url;

static char *slurp(const char *path)
{
	FILE *f = fopen(path, "rb");
	char *buf;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	buf = rb_malloc((size_t)n + 1);
	if (fread(buf, 1, (size_t)n, f) != (size_t)n)
		n = 0;
	buf[n] = '\0';
	fclose(f);
	return buf;
}

static void migrate(void)
{
	size_t n = 0;
	int applied = 0;
	char err[RB_ERR_LEN];

	if (db_migrate(db_url, &applied, &n, err, sizeof err))
		fail_msg("db_migrate: %s", err);
}

/* What db_report_rows_now handed over: the report data (a new reference,
 * NULL when there was no incident) and the incident's channel. */
struct got_report {
	int calls;
	json_t *data;
	char channel[32];
};

static void report_rows_cb(void *arg, int err, const char *errmsg, const struct db_report *rep)
{
	struct got_report *g = arg;

	assert_int_equal(err, 0);
	assert_null(errmsg);
	g->calls++;
	g->data = rep ? report_data(&rep->inc, rep->rows, rep->n_rows) : NULL;
	if (rep)
		(void)rb_strlcpy(g->channel, rep->inc.channel, sizeof g->channel);
}

/* The first line where a and b differ, for a readable failure. */
static void show_difference(const char *want, const char *got)
{
	int line = 1;
	const char *w = want, *g = got;

	while (*w && *w == *g) {
		if (*w == '\n')
			line++;
		w++;
		g++;
	}
	print_message("first difference at line %d:\n  want: %.80s\n  got:  %.80s\n", line, w, g);
}

static void report_from_the_database_matches_the_golden(void **state)
{
	char *fixture = slurp("tests/golden/p1_resolved.sql");
	char *want = slurp("tests/golden/p1_resolved.md");
	struct got_report g = { 0 }, none = { 0 };
	struct tmpl_set *ts;
	char err[RB_ERR_LEN];
	PGconn *db;
	PGresult *res;
	json_t *data;
	char *got;

	(void)state;
	assert_non_null(fixture);
	assert_non_null(want);
	migrate();
	db = PQconnectdb(db_url);
	assert_int_equal(PQstatus(db), CONNECTION_OK);
	res = PQexec(db, fixture);
	if (PQresultStatus(res) != PGRES_COMMAND_OK)
		fail_msg("loading the fixture: %s", PQerrorMessage(db));
	PQclear(res);
	assert_int_equal(db_report_rows_now(db_url, "INC-2026-0042", report_rows_cb, &g, err,
					    sizeof err),
			 0);
	assert_int_equal(g.calls, 1);
	data = g.data;
	assert_non_null(data);
	assert_string_equal(g.channel, "C0INCIDENTS");
	assert_int_equal(tmpl_load(NULL, &ts, err, sizeof err), 0);
	got = tmpl_render(ts, "incident_report.md", data);
	assert_non_null(got);
	if (strcmp(got, want))
		show_difference(want, got);
	assert_string_equal(got, want);

	/* No such incident: no data, not an empty report. */
	assert_int_equal(db_report_rows_now(db_url, "INC-2026-9999", report_rows_cb, &none, err,
					    sizeof err),
			 0);
	assert_int_equal(none.calls, 1);
	assert_null(none.data);

	free(got);
	tmpl_free(ts);
	json_decref(data);
	PQfinish(db);
	free(fixture);
	free(want);
}

/* What db_history_now handed over: its first row, copied. */
struct got_history {
	int calls;
	size_t n;
	char id[32], service[64], state[32], method[32], severity[8], started[32], approvers[64];
	bool reached[DB_PHASE_COUNT];
	int64_t phase_s[DB_PHASE_COUNT];
};

static void history_cb(void *arg, int err, const char *errmsg, const struct db_history_row *rows,
		       size_t n)
{
	struct got_history *g = arg;

	assert_int_equal(err, 0);
	assert_null(errmsg);
	g->calls++;
	g->n = n;
	if (!n)
		return;
	(void)rb_strlcpy(g->id, rows[0].id, sizeof g->id);
	(void)rb_strlcpy(g->service, rows[0].service, sizeof g->service);
	(void)rb_strlcpy(g->state, rows[0].state, sizeof g->state);
	(void)rb_strlcpy(g->method, rows[0].method, sizeof g->method);
	(void)rb_strlcpy(g->severity, rows[0].severity, sizeof g->severity);
	(void)rb_strlcpy(g->started, rows[0].started, sizeof g->started);
	(void)rb_strlcpy(g->approvers, rows[0].approvers, sizeof g->approvers);
	for (int p = 0; p < DB_PHASE_COUNT; p++) {
		g->reached[p] = rows[0].reached[p];
		g->phase_s[p] = rows[0].phase_s[p];
	}
}

/* `rollbot report --list` and /rollback history: the phases are timed from
 * the audit log's state changes, the approvers are the counted ✅. */
static void history_from_the_database(void **state)
{
	struct got_history all = { 0 }, other = { 0 };
	char err[RB_ERR_LEN];
	PGconn *db;
	PGresult *res;

	(void)state;
	migrate();
	db = PQconnectdb(db_url);
	assert_int_equal(PQstatus(db), CONNECTION_OK);
	res = PQexec(db, "SELECT 1 FROM incidents WHERE id = 'INC-2026-0042'");
	if (PQntuples(res) == 0) {
		char *fixture = slurp("tests/golden/p1_resolved.sql");
		assert_non_null(fixture);
		PQclear(PQexec(db, fixture));
		free(fixture);
	}
	PQclear(res);
	PQfinish(db);

	assert_int_equal(db_history_now(db_url, "", 50, history_cb, &all, err, sizeof err), 0);
	assert_int_equal(all.calls, 1);
	assert_int_equal(all.n, 1);
	assert_string_equal(all.id, "INC-2026-0042");
	assert_string_equal(all.service, "payments-api");
	assert_string_equal(all.state, "resolved");
	assert_string_equal(all.method, "kubectl");
	assert_string_equal(all.severity, "P1");
	assert_string_equal(all.started, "2026-11-23 15:17");
	assert_string_equal(all.approvers, "U03ASM1TH7Q");
	for (int p = 0; p < DB_PHASE_COUNT; p++)
		assert_true(all.reached[p]);
	assert_int_equal(all.phase_s[DB_PHASE_APPROVED], 169);
	assert_int_equal(all.phase_s[DB_PHASE_ROLLED_BACK], 269);
	assert_int_equal(all.phase_s[DB_PHASE_VERIFIED], 629);

	/* Another service has none. */
	assert_int_equal(db_history_now(db_url, "search", 50, history_cb, &other, err, sizeof err),
			 0);
	assert_int_equal(other.calls, 1);
	assert_int_equal(other.n, 0);
}

static void skipped_without_database(void **state)
{
	(void)state;
	skip();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(report_from_the_database_matches_the_golden),
		cmocka_unit_test(history_from_the_database),
	};
	const struct CMUnitTest skipped[] = {
		cmocka_unit_test(skipped_without_database),
	};

	db_url = getenv("DATABASE_URL");
	if (!db_url || !*db_url) {
		printf("report_db tests: SKIPPED (DATABASE_URL not set)\n");
		return cmocka_run_group_tests_name("report_db", skipped, NULL, NULL);
	}
	return cmocka_run_group_tests_name("report_db", tests, NULL, NULL);
}
