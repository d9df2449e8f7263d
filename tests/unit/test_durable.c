/* rollbot — durable work in PostgreSQL (MIT licence, see LICENSE).
 *
 * sql/006_deliveries.sql and 007_owners.sql against a real server: rollbot_reaction() decides
 * whether a reaction event counts (a redelivery, an event older than one
 * already applied, an event that changes nothing), and rollbot_declare_by()
 * declares nothing once its deadline has passed; incidents have one owner
 * replica at a time, with a lease and a fence (claim, renew, release), and
 * an inbox for what other replicas receive; a step's save commits its
 * audit rows, posts and answers with it, under the fence, or nothing; store_listen() hears
 * NOTIFY.
 * DATABASE_URL names a
 * database the test may fill (tests/run.sh makes one per binary); without
 * it the test says it was skipped. Run from the repository's top folder.
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
#include <libpq-fe.h>

#include "../../bot/db.h"
#include "../../bot/store.h"

static const char *db_url;
static PGconn *db;

static int setup(void **state)
{
	size_t n = 0;
	int applied = 0;
	char err[RB_ERR_LEN];

	(void)state;
	if (db_migrate(db_url, &applied, &n, err, sizeof err)) {
		print_error("store_migrate: %s\n", err);
		return -1;
	}
	db = PQconnectdb(db_url);
	return PQstatus(db) == CONNECTION_OK ? 0 : -1;
}

static int teardown(void **state)
{
	(void)state;
	PQfinish(db);
	return 0;
}

/* rollbot_reaction(key, channel, ts, user, emoji, added, event_ts): its
 * answer. key "" stands for NULL (a recount's snapshot). */
static char *react(const char *key, const char *user, const char *emoji, bool added,
		   const char *event_ts)
{
	const char *p[7] = { key[0] ? key : NULL, "C1", "1700000000.000100", user, emoji,
			     added ? "true" : "false", event_ts };
	PGresult *r = PQexecParams(db,
				   "SELECT rollbot_reaction($1, $2, $3, $4, $5, $6::boolean, "
				   "$7::numeric)",
				   7, NULL, p, NULL, NULL, 0);
	char *v;

	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("rollbot_reaction: %s", PQresultErrorMessage(r));
	v = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

#define assert_react(want, ...)                          \
	do {                                             \
		char *got_ = react(__VA_ARGS__);         \
		assert_string_equal(got_, want);         \
		free(got_);                              \
	} while (0)

static void a_redelivered_event_is_a_duplicate(void **state)
{
	(void)state;
	assert_react("applied", "event:Ev1", "U1", "white_check_mark", true, "100.000001");
	assert_react("duplicate", "event:Ev1", "U1", "white_check_mark", true, "100.000001");
}

/* The replay: ✅ added, then removed; after a restart Slack sends
 * the original reaction_added again (a new key, the old event_ts). */
static void an_added_older_than_the_removal_is_stale(void **state)
{
	(void)state;
	assert_react("applied", "event:Ev10", "U2", "white_check_mark", true, "200.000001");
	assert_react("applied", "event:Ev11", "U2", "white_check_mark", false, "200.000500");
	assert_react("stale", "event:Ev12", "U2", "white_check_mark", true, "200.000001");
	/* Given again later, it counts again. */
	assert_react("applied", "event:Ev13", "U2", "white_check_mark", true, "201.000000");
}

static void an_event_that_changes_nothing_is_unchanged(void **state)
{
	(void)state;
	assert_react("applied", "event:Ev20", "U3", "x", true, "300.1");
	assert_react("unchanged", "event:Ev21", "U3", "x", true, "300.2");
}

/* A recount reads the message's reactions as they are: it always applies,
 * and events older than it are stale afterwards. */
static void a_recount_snapshot_wins_over_older_events(void **state)
{
	(void)state;
	assert_react("applied", "event:Ev30", "U4", "white_check_mark", true, "400.0");
	assert_react("applied", "", "U4", "white_check_mark", false, "450.0");
	assert_react("stale", "event:Ev31", "U4", "white_check_mark", true, "420.0");
	assert_react("unchanged", "", "U4", "white_check_mark", false, "460.0");
}

static char *declare_by(const char *deadline_sql, const char *key, const char *service)
{
	char sql[512];
	const char *p[2] = { key, service };
	PGresult *r;
	char *v;

	snprintf(sql, sizeof sql,
		 "SELECT coalesce(rollbot_declare_by(%s, 'replica-1', 4000, $1, $2, 'P1', 'r', "
		 "'41', 'kubectl', 'U1', 'C1', '{}'), '(null)')",
		 deadline_sql);
	r = PQexecParams(db, sql, 2, NULL, p, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("rollbot_declare_by: %s", PQresultErrorMessage(r));
	v = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
	return v;
}

static void a_late_declaration_declares_nothing(void **state)
{
	char *v;
	PGresult *r;

	(void)state;
	v = declare_by("clock_timestamp() - interval '1 second'", "slash:late", "svc-late");
	assert_string_equal(v, "late");
	free(v);
	r = PQexec(db, "SELECT (SELECT count(*) FROM incidents WHERE service = 'svc-late') || ',' "
		       "|| (SELECT count(*) FROM processed_deliveries WHERE key = 'slash:late')");
	assert_string_equal(PQgetvalue(r, 0, 0), "0,0");
	PQclear(r);

	v = declare_by("clock_timestamp() + interval '30 seconds'", "slash:ontime", "svc-ontime");
	assert_true(!strncmp(v, "INC-", 4));
	free(v);
	v = declare_by("clock_timestamp() + interval '30 seconds'", "slash:ontime", "svc-ontime");
	assert_string_equal(v, "(null)"); /* the same delivery: a duplicate */
	free(v);
}

/* ---- store_listen: NOTIFY wakes the listener ---- */

struct heard {
	int calls;
	int nulls;      /* "look for yourself" */
	char last[64];
};

static void heard_cb(void *arg, const char *payload)
{
	struct heard *h = arg;

	h->calls++;
	if (!payload)
		h->nulls++;
	else
		snprintf(h->last, sizeof h->last, "%s", payload);
}

static void tick_cb(uv_timer_t *t)
{
	(void)t;
}

/* Runs the loop while busy(arg) says so (or 10 s). */
static void run_while(uv_loop_t *loop, bool (*busy)(const void *), const void *arg)
{
	uv_timer_t tick;
	uint64_t deadline;

	uv_update_time(loop);
	deadline = uv_now(loop) + 10000;
	uv_timer_init(loop, &tick);
	uv_timer_start(&tick, tick_cb, 10, 10);
	while (busy(arg) && uv_now(loop) < deadline)
		uv_run(loop, UV_RUN_ONCE);
	uv_close((uv_handle_t *)&tick, NULL);
	uv_run(loop, UV_RUN_NOWAIT);
}

struct until {
	const int *count;
	int want;
};

static bool short_of(const void *arg)
{
	const struct until *u = arg;

	return *u->count < u->want;
}

/* Runs the loop until *count reaches want (or 10 s). */
static void run_until(uv_loop_t *loop, const int *count, int want)
{
	struct until u = { count, want };

	run_while(loop, short_of, &u);
}

static void notify(const char *payload)
{
	const char *p[1] = { payload };
	PGresult *r = PQexecParams(db, "SELECT pg_notify('rollbot_test', $1)", 1, NULL, p, NULL,
				   NULL, 0);

	assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
	PQclear(r);
}

static void a_notification_reaches_the_listener(void **state)
{
	uv_loop_t loop;
	struct heard h = { 0 };
	struct store *st;

	(void)state;
	uv_loop_init(&loop);
	st = store_new(&loop, db_url);
	assert_int_equal(store_listen(st, "rollbot_test", heard_cb, &h), 0);
	assert_int_equal(store_listen(st, "rollbot_other", heard_cb, &h), RB_EINVAL);
	run_until(&loop, &h.calls, 1);
	/* Listening first: whatever was sent before is for the listener to find. */
	assert_int_equal(h.nulls, 1);
	notify("replica-2");
	run_until(&loop, &h.calls, 2);
	assert_int_equal(h.calls, 2);
	assert_string_equal(h.last, "replica-2");
	store_free(st);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void a_channel_must_be_a_plain_name(void **state)
{
	uv_loop_t loop;
	struct heard h = { 0 };
	struct store *st;

	(void)state;
	uv_loop_init(&loop);
	st = store_new(&loop, db_url);
	assert_int_equal(store_listen(st, "x; DROP TABLE incidents", heard_cb, &h), RB_EINVAL);
	assert_int_equal(store_listen(st, "", heard_cb, &h), RB_EINVAL);
	assert_int_equal(store_listen(st, "Upper", heard_cb, &h), RB_EINVAL);
	store_free(st);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

/* The first column of the first row of `sql`, as a new string. */
static char *value(const char *sql)
{
	PGresult *r = PQexec(db, sql);
	char *v;

	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		fail_msg("%s: %s", sql, PQresultErrorMessage(r));
	v = strdup(PQntuples(r) ? PQgetvalue(r, 0, 0) : "(none)");
	PQclear(r);
	return v;
}

#define assert_value(want, sql)                  \
	do {                                     \
		char *got_ = value(sql);         \
		assert_string_equal(got_, want); \
		free(got_);                      \
	} while (0)

static void a_declared_incident_belongs_to_its_declarer(void **state)
{
	char *id;

	(void)state;
	id = declare_by("clock_timestamp() + interval '30 seconds'", "slash:own", "svc-own");
	assert_true(!strncmp(id, "INC-", 4));
	free(id);
	assert_value("replica-1,1,true", "SELECT owner || ',' || fence || ',' || "
				      "(lease_until > clock_timestamp()) FROM incidents "
				      "WHERE service = 'svc-own'");
	/* A live lease: nobody else may claim it. */
	assert_value("0", "SELECT count(*) FROM rollbot_claim('replica-2', 4000, 10, false) "
			  "WHERE service = 'svc-own'");
	/* Renewing names it with its fence. */
	assert_value("1", "SELECT r.fence FROM rollbot_renew('replica-1', 4000) r "
			  "JOIN incidents i USING (id) WHERE i.service = 'svc-own'");
}

static void an_expired_lease_is_taken_over_with_a_new_fence(void **state)
{
	char *id;

	(void)state;
	id = declare_by("clock_timestamp() + interval '30 seconds'", "slash:takeover",
			"svc-takeover");
	free(id);
	assert_value("t", "WITH u AS (UPDATE incidents SET lease_until = clock_timestamp() - "
			  "interval '1 second' WHERE service = 'svc-takeover' RETURNING 1) "
			  "SELECT count(*) = 1 FROM u");
	assert_value("replica-2,2", "SELECT owner || ',' || fence FROM rollbot_claim('replica-2', "
				    "4000, 10, false) WHERE service = 'svc-takeover'");
	/* The old owner's renewal no longer names it: it drops the incident. */
	assert_value("0", "SELECT count(*) FROM rollbot_renew('replica-1', 4000) r JOIN "
			  "incidents i USING (id) WHERE i.service = 'svc-takeover'");
	/* A replica restarting under its name takes back what it owned at once,
	 * under the same fence: the writes it queued stay valid. */
	assert_value("replica-2,2", "SELECT owner || ',' || fence FROM rollbot_claim('replica-2', "
				    "4000, 10, true) WHERE service = 'svc-takeover'");
	/* The heartbeat renews it and shows it to everyone, not orphaned. */
	assert_value("replica-2,2,false", "SELECT h.owner || ',' || h.fence || ',' || h.orphan FROM "
				      "rollbot_heartbeat('replica-1', 4000) h WHERE h.service = "
				      "'svc-takeover'");
	/* A clean stop hands everything over at once: an orphan to the next
	 * heartbeat, claimed with a new fence. */
	assert_value("t", "SELECT rollbot_release('replica-2') >= 1");
	assert_value(",true", "SELECT h.owner || ',' || h.orphan FROM "
			   "rollbot_heartbeat('replica-3', 4000) h WHERE h.service = 'svc-takeover'");
	assert_value("replica-3,3", "SELECT owner || ',' || fence FROM rollbot_claim('replica-3', "
				    "4000, 10, false) WHERE service = 'svc-takeover'");
}

static void a_reaction_on_an_approval_request_goes_to_its_inbox(void **state)
{
	char *id;

	(void)state;
	id = declare_by("clock_timestamp() + interval '30 seconds'", "slash:inbox", "svc-inbox");
	free(id);
	assert_value("t", "WITH u AS (UPDATE incidents SET state = 'awaiting_approval', "
			  "approval_ts = '500.000100', channel = 'C9' WHERE service = 'svc-inbox' "
			  "RETURNING 1) SELECT count(*) = 1 FROM u");
	id = value("SELECT id FROM incidents WHERE service = 'svc-inbox'");
	{
		char want[64], sql[256];
		snprintf(want, sizeof want, "queued:%s", id);
		snprintf(sql, sizeof sql,
			 "SELECT rollbot_react('event:Ev50', 'C9', '500.000100', 'U7', "
			 "'white_check_mark', true, 600.5)");
		assert_value(want, sql);
	}
	assert_value("duplicate", "SELECT rollbot_react('event:Ev50', 'C9', '500.000100', 'U7', "
				  "'white_check_mark', true, 600.5)");
	/* Not an approval request waiting: nothing recorded, nothing queued, so
	 * that a recount of the request, once its ts is saved, sees it as new. */
	assert_value("ignored", "SELECT rollbot_react('event:Ev51', 'C9', '501.0', 'U7', "
				"'white_check_mark', true, 601.0)");
	assert_value("0", "SELECT count(*) FROM reaction_state WHERE ts = '501.0'");
	/* Only the owner takes it, once past what it took. */
	assert_value("(none)", "SELECT kind FROM rollbot_inbox_take('replica-2', 0)");
	assert_value("reaction,U7,white_check_mark,true",
		     "SELECT kind || ',' || actor || ',' || (detail->>'emoji') || ',' || "
		     "(detail->>'added') FROM rollbot_inbox_take('replica-1', 0)");
	assert_value("(none)", "SELECT kind FROM rollbot_inbox_take('replica-1', "
			       "(SELECT max(id) FROM incident_inbox))");
	/* /rollback cancel from another replica, keyed by its trigger. */
	{
		char sql[256];
		snprintf(sql, sizeof sql,
			 "SELECT rollbot_inbox_put('slash:T9', '%s', 'cancel', 'U1', "
			 "'{\"note\": \"wrong service\"}')", id);
		assert_value("queued", sql);
		assert_value("duplicate", sql);
	}
	/* Once the incident is over, its inbox is emptied on the next take. */
	{
		char sql[256];
		snprintf(sql, sizeof sql, "UPDATE incidents SET state = 'cancelled' WHERE id = '%s'",
			 id);
		PQclear(PQexec(db, sql));
	}
	assert_value("(none)", "SELECT kind FROM rollbot_inbox_take('replica-1', 0)");
	assert_value("0", "SELECT count(*) FROM incident_inbox");
	free(id);
}

/* ---- a step's save and its audit rows: one transaction ---- */

struct saved {
	int calls;
	int err;
};

static void saved_cb(void *arg, int err, const char *errmsg)
{
	struct saved *sv = arg;

	(void)errmsg;
	sv->calls++;
	sv->err = err;
}

static bool store_busy(const void *st)
{
	return store_pending(st) > 0;
}

/* Runs the loop until the store has nothing queued (or 10 s). */
static void run_until_idle(uv_loop_t *loop, struct store *st)
{
	run_while(loop, store_busy, st);
}

/* Two audit rows of one step, keyed `tag`:1 and `tag`:2. */
static json_t *step_rows(const char *tag, const char *to)
{
	char k1[64], k2[64];

	snprintf(k1, sizeof k1, "%s:1", tag);
	snprintf(k2, sizeof k2, "%s:2", tag);
	return json_pack("[{s:s, s:s, s:{s:s}, s:s}, {s:s, s:s, s:{s:s, s:s}, s:s}]", "kind",
			 "approval_counted", "actor", "U7", "detail", "emoji", "white_check_mark",
			 "key", k1, "kind", "state_change", "actor", "rollbot", "detail", "from",
			 "awaiting_approval", "to", to, "key", k2);
}

static int save(uv_loop_t *loop, struct store *st, const struct incident *inc, int64_t fence,
		struct db_records *rec)
{
	struct saved sv = { 0 };

	assert_int_equal(db_save_incident(st, inc, fence, 0, NULL, NULL, NULL, rec, saved_cb, &sv),
			 0);
	run_until_idle(loop, st);
	assert_int_equal(sv.calls, 1);
	return sv.err;
}

static int record(uv_loop_t *loop, struct store *st, const char *id, int64_t fence,
		  struct db_records *rec)
{
	struct saved sv = { 0 };

	assert_int_equal(db_record(st, id, fence, rec, saved_cb, &sv), 0);
	run_until_idle(loop, st);
	assert_int_equal(sv.calls, 1);
	return sv.err;
}

static json_t *a_post(const char *key, const char *message)
{
	return json_pack("[{s:s, s:s, s:{s:s, s:s}}]", "key", key, "message", message, "args",
			 "channel", "C1", "text", "hello");
}

struct loaded {
	int calls;
	char pending[256];
};

static void loaded_cb(void *arg, int err, const char *errmsg, const struct db_incident *rows,
		      size_t n)
{
	struct loaded *l = arg;
	char *d;

	(void)errmsg;
	l->calls++;
	assert_int_equal(err, 0);
	assert_int_equal(n, 1);
	d = json_dumps(rows[0].pending_posts, JSON_COMPACT | JSON_SORT_KEYS);
	snprintf(l->pending, sizeof l->pending, "%s", d);
	free(d);
}

static void a_save_commits_its_records_with_it_or_not_at_all(void **state)
{
	uv_loop_t loop;
	struct store *st;
	struct incident inc;
	struct db_records rec = { 0 };
	struct loaded l = { 0 };
	char *id, sql[512], posts[512];

	(void)state;
	id = declare_by("clock_timestamp() + interval '30 seconds'", "slash:save", "svc-save");
	memset(&inc, 0, sizeof inc);
	snprintf(inc.id, sizeof inc.id, "%s", id);
	snprintf(inc.channel, sizeof inc.channel, "C1");
	snprintf(inc.target, sizeof inc.target, "41");
	inc.state = INC_APPROVED;
	uv_loop_init(&loop);
	st = store_new(&loop, db_url);
	snprintf(sql, sizeof sql,
		 "SELECT (SELECT state FROM incidents WHERE id = '%s') || ':' || "
		 "string_agg(kind || '/' || actor || '/' || coalesce(detail->>'to', ''), ',' "
		 "ORDER BY id) FROM audit_log WHERE incident_id = '%s' AND dedupe_key LIKE "
		 "'step:%%'",
		 id, id);
	snprintf(posts, sizeof posts,
		 "SELECT string_agg(key || '/' || message || '/' || (args->>'text') || '/' || "
		 "coalesce(ts, error, 'open'), ',' ORDER BY id) FROM post_outbox WHERE "
		 "incident_id = '%s'",
		 id);

	rec.audits = step_rows("step:save", "approved");
	rec.posts = a_post("post:1", "approved");
	assert_int_equal(save(&loop, st, &inc, 1, &rec), 0);
	assert_null(rec.audits);
	assert_value("approved:approval_counted/U7/,state_change/rollbot/approved", sql);
	assert_value("post:1/approved/hello/open", posts);
	/* Whoever carries it on sees the post still open. */
	assert_int_equal(db_load_incident(st, id, loaded_cb, &l), 0);
	run_until_idle(&loop, st);
	assert_int_equal(l.calls, 1);
	assert_string_equal(l.pending, "[{\"args\":{\"channel\":\"C1\",\"text\":\"hello\"},"
				       "\"key\":\"post:1\",\"message\":\"approved\"}]");
	/* The same step again (a replay after a lost connection): no new row. */
	rec.audits = step_rows("step:save", "approved");
	rec.posts = a_post("post:1", "approved");
	assert_int_equal(save(&loop, st, &inc, 1, &rec), 0);
	assert_value("approved:approval_counted/U7/,state_change/rollbot/approved", sql);
	assert_value("post:1/approved/hello/open", posts);
	/* Under a fence that moved on: neither the state nor a row. */
	inc.state = INC_REJECTED;
	rec.audits = step_rows("step:lost", "rejected");
	rec.posts = a_post("post:lost", "rejected");
	assert_int_equal(save(&loop, st, &inc, 2, &rec), DB_ELOST);
	assert_value("approved:approval_counted/U7/,state_change/rollbot/approved", sql);
	assert_value("post:1/approved/hello/open", posts);
	/* A step with no save: fenced the same way; its answer closes the post. */
	rec.closes = json_pack("[{s:s, s:s}]", "key", "post:1", "ts", "111.000200");
	assert_int_equal(record(&loop, st, id, 2, &rec), DB_ELOST);
	assert_value("post:1/approved/hello/open", posts);
	rec.audits = json_pack("[{s:s, s:s, s:{}, s:s}]", "kind", "message_posted", "actor",
			       "rollbot", "detail", "key", "step:posted");
	rec.closes = json_pack("[{s:s, s:s}]", "key", "post:1", "ts", "111.000200");
	assert_int_equal(record(&loop, st, id, 1, &rec), 0);
	assert_value("approved:approval_counted/U7/,state_change/rollbot/approved,"
		     "message_posted/rollbot/",
		     sql);
	assert_value("post:1/approved/hello/111.000200", posts);
	/* A closed post stays as it was answered. */
	rec.closes = json_pack("[{s:s, s:s}]", "key", "post:1", "error", "late");
	assert_int_equal(record(&loop, st, id, 1, &rec), 0);
	assert_value("post:1/approved/hello/111.000200", posts);
	l.calls = 0;
	assert_int_equal(db_load_incident(st, id, loaded_cb, &l), 0);
	run_until_idle(&loop, st);
	assert_string_equal(l.pending, "[]");
	free(id);
	store_free(st);
	uv_run(&loop, UV_RUN_DEFAULT);
	assert_int_equal(uv_loop_close(&loop), 0);
}

static void skipped_without_database(void **state)
{
	(void)state;
	skip();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(a_redelivered_event_is_a_duplicate),
		cmocka_unit_test(an_added_older_than_the_removal_is_stale),
		cmocka_unit_test(an_event_that_changes_nothing_is_unchanged),
		cmocka_unit_test(a_recount_snapshot_wins_over_older_events),
		cmocka_unit_test(a_late_declaration_declares_nothing),
		cmocka_unit_test(a_declared_incident_belongs_to_its_declarer),
		cmocka_unit_test(an_expired_lease_is_taken_over_with_a_new_fence),
		cmocka_unit_test(a_reaction_on_an_approval_request_goes_to_its_inbox),
		cmocka_unit_test(a_save_commits_its_records_with_it_or_not_at_all),
		cmocka_unit_test(a_notification_reaches_the_listener),
		cmocka_unit_test(a_channel_must_be_a_plain_name),
	};
	const struct CMUnitTest skipped[] = {
		cmocka_unit_test(skipped_without_database),
	};

	db_url = getenv("DATABASE_URL");
	if (!db_url || !*db_url) {
		printf("durable tests: SKIPPED (DATABASE_URL not set)\n");
		return cmocka_run_group_tests_name("durable", skipped, NULL, NULL);
	}
	return cmocka_run_group_tests_name("durable", tests, setup, teardown);
}
