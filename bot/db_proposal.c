/* rollbot — what the store says about proposals (MIT licence, see LICENSE).
 *
 * See db_proposal.h. Times go in as Unix seconds and come back as UTC
 * ISO 8601 with milliseconds, the audit log's shape.
 */
#include "db_proposal.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define ISO_UTC(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

struct pcall {
	db_propose_cb propose;
	db_take_cb take;
	void *arg;
};

static void propose_cb(void *arg, int err, const PGresult *res, const char *errmsg)
{
	struct pcall *c = arg;
	enum db_propose_word w = DB_OPEN_EPISODE;
	int64_t id = 0;

	if (!err && PQntuples(res) == 1) {
		const char *v = PQgetvalue(res, 0, 0);

		if (!strncmp(v, "proposed:", 9)) {
			w = DB_PROPOSED;
			id = strtoll(v + 9, NULL, 10);
		} else if (!strcmp(v, "open_incident")) {
			w = DB_OPEN_INCIDENT;
		}
	}
	c->propose(c->arg, err, errmsg, w, id);
	free(c);
}

int db_propose(struct store *st, const struct db_proposal *p, db_propose_cb cb, void *arg)
{
	struct pcall *c = rb_calloc(1, sizeof *c);
	char det[32], exp[32];
	const char *params[12] = { p->service, p->source, p->trigger, p->summary,
				   p->figures_json, p->severity, p->command, det,
				   exp, p->replica, p->channel, p->args_json };
	int rc;

	snprintf(det, sizeof det, "%" PRId64, p->detected_s);
	snprintf(exp, sizeof exp, "%" PRId64, p->expires_s);
	c->propose = cb;
	c->arg = arg;
	rc = store_query(st,
			 "SELECT rollbot_propose($1, $2, $3, $4, $5::jsonb, $6, $7, "
			 "to_timestamp($8::bigint), $9::int, $10, $11, $12::jsonb)",
			 12, params, propose_cb, c);
	if (rc)
		free(c);
	return rc;
}

static void logged_cb(void *arg, int err, const PGresult *res, const char *errmsg)
{
	(void)res;
	if (err)
		log_error("store: %s not recorded: %s", (const char *)arg, errmsg ? errmsg : "?");
}

static void fire(struct store *st, const char *what, const char *sql, int n,
		 const char *const *params)
{
	if (store_query(st, sql, n, params, logged_cb, (void *)what))
		log_error("store: cannot queue: %s", what);
}

void db_proposal_incident(struct store *st, int64_t id, const char *incident)
{
	char idb[32];
	const char *params[2] = { idb, incident };

	snprintf(idb, sizeof idb, "%" PRId64, id);
	fire(st, "the proposal's incident",
	     "UPDATE proposals SET incident_id = $2 WHERE id = $1::bigint", 2, params);
}

void db_proposal_rearm(struct store *st, const char *service)
{
	const char *params[1] = { service };

	fire(st, "the end of a proposal's episode",
	     "UPDATE proposals SET rearmed_at = clock_timestamp() "
	     "WHERE service = $1 AND rearmed_at IS NULL",
	     1, params);
}

static void take_cb(void *arg, int err, const PGresult *res, const char *errmsg)
{
	struct pcall *c = arg;
	struct db_taken t = { .word = DB_TAKE_NONE };

	if (!err && PQntuples(res) >= 1) {
		const char *w = PQgetvalue(res, 0, 0);

		t.word = !strcmp(w, "taken")   ? DB_TAKE_TAKEN :
			 !strcmp(w, "already") ? DB_TAKE_ALREADY :
						 DB_TAKE_EXPIRED;
		t.id = strtoll(PQgetvalue(res, 0, 1), NULL, 10);
		t.service = PQgetvalue(res, 0, 2);
		t.source = PQgetvalue(res, 0, 3);
		t.trigger = PQgetvalue(res, 0, 4);
		t.summary = PQgetvalue(res, 0, 5);
		t.figures_json = PQgetvalue(res, 0, 6);
		t.severity = PQgetvalue(res, 0, 7);
		t.command = PQgetvalue(res, 0, 8);
		t.detected_at = PQgetvalue(res, 0, 9);
		t.expires_at = PQgetvalue(res, 0, 10);
		t.taken_by = PQgetvalue(res, 0, 11);
	}
	c->take(c->arg, err, errmsg, err ? NULL : &t);
	free(c);
}

int db_take_proposal(struct store *st, const char *channel, const char *ts, const char *user,
		     db_take_cb cb, void *arg)
{
	struct pcall *c = rb_calloc(1, sizeof *c);
	const char *params[3] = { channel, ts, user };
	int rc;

	c->take = cb;
	c->arg = arg;
	rc = store_query(st,
			 "SELECT word, id, service, source, trigger, summary, figures::text, "
			 "severity, command, " ISO_UTC("detected_at") ", " ISO_UTC("expires_at") ", "
			 "coalesce(taken_by, '') FROM rollbot_take_proposal($1, $2, $3)",
			 3, params, take_cb, c);
	if (rc)
		free(c);
	return rc;
}

/* ---- posts in the channel about no incident ---- */

struct ncall {
	db_notice_cb notice;
	db_claim_posts_cb claim;
	void *arg;
};

static void notice_cb(void *arg, int err, const PGresult *res, const char *errmsg)
{
	struct ncall *c = arg;
	int64_t id = 0;

	if (!err && PQntuples(res) == 1 && !strncmp(PQgetvalue(res, 0, 0), "recorded:", 9))
		id = strtoll(PQgetvalue(res, 0, 0) + 9, NULL, 10);
	c->notice(c->arg, err, errmsg, id);
	free(c);
}

int db_watch_notice(struct store *st, const char *service, const char *kind, const char *why,
		    const char *replica, const char *channel, const char *args_json,
		    db_notice_cb cb, void *arg)
{
	struct ncall *c = rb_calloc(1, sizeof *c);
	const char *params[6] = { service, kind, why, replica, channel, args_json };
	int rc;

	c->notice = cb;
	c->arg = arg;
	rc = store_query(st, "SELECT rollbot_watch_notice($1, $2, $3, $4, $5, $6::jsonb)", 6,
			 params, notice_cb, c);
	if (rc)
		free(c);
	return rc;
}

static void assess_post_cb(void *arg, int err, const PGresult *res, const char *errmsg)
{
	struct ncall *c = arg;
	int64_t id = 0;

	if (!err && PQntuples(res) == 1 && !PQgetisnull(res, 0, 0))
		id = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	c->notice(c->arg, err, errmsg, id);
	free(c);
}

int db_assess_post(struct store *st, const char *actor, json_t *detail, const char *key,
		   const char *service, const char *replica, const char *channel,
		   const char *args_json, db_notice_cb cb, void *arg)
{
	struct ncall *c = rb_calloc(1, sizeof *c);
	char *d = json_dumps(detail, JSON_COMPACT | JSON_SORT_KEYS);
	const char *params[7] = { actor, d, key, service, replica, channel, args_json };
	int rc;

	c->notice = cb;
	c->arg = arg;
	rc = store_query(st,
			 "SELECT rollbot_assess_post($1, $2::jsonb, $3, $4, $5, $6, $7::jsonb)", 7,
			 params, assess_post_cb, c);
	free(d);
	json_decref(detail);
	if (rc)
		free(c);
	return rc;
}

void db_chanpost_done(struct store *st, enum db_chanpost_kind kind, int64_t id, const char *ts,
		      const char *error)
{
	char idb[32];
	const char *params[3] = { idb, ts, error };

	snprintf(idb, sizeof idb, "%" PRId64, id);
	if (kind == DB_CHANPOST_PROPOSAL)
		fire(st, "the proposal's post",
		     "UPDATE proposals SET ts = $2, post_error = $3, post_until = NULL "
		     "WHERE id = $1::bigint",
		     3, params);
	else if (kind == DB_CHANPOST_ASSESS)
		fire(st, "the assessment's post",
		     "UPDATE assess_posts SET ts = $2, post_error = $3, post_until = NULL "
		     "WHERE id = $1::bigint",
		     3, params);
	else
		fire(st, "the watcher's notice's post",
		     "UPDATE watch_notices SET ts = $2, post_error = $3, post_until = NULL "
		     "WHERE id = $1::bigint",
		     3, params);
}

static void claim_posts_cb(void *arg, int err, const PGresult *res, const char *errmsg)
{
	struct ncall *c = arg;
	int n = err ? 0 : PQntuples(res);
	struct db_chanpost *rows = n ? rb_calloc((size_t)n, sizeof *rows) : NULL;

	for (int r = 0; r < n; r++) {
		const char *kind = PQgetvalue(res, r, 0);

		rows[r].kind = !strcmp(kind, "proposal") ? DB_CHANPOST_PROPOSAL :
			       !strcmp(kind, "assess")   ? DB_CHANPOST_ASSESS :
							   DB_CHANPOST_NOTICE;
		rows[r].id = strtoll(PQgetvalue(res, r, 1), NULL, 10);
		rows[r].service = PQgetvalue(res, r, 2);
		rows[r].channel = PQgetvalue(res, r, 3);
		rows[r].args_json = PQgetvalue(res, r, 4);
		rows[r].recorded_s = strtoll(PQgetvalue(res, r, 5), NULL, 10);
	}
	c->claim(c->arg, err, errmsg, rows, n);
	free(rows);
	free(c);
}

int db_claim_posts(struct store *st, const char *owner, int lease_s, int64_t mine_before_ms,
		   db_claim_posts_cb cb, void *arg)
{
	struct ncall *c = rb_calloc(1, sizeof *c);
	char lease[16], before[32];
	const char *params[3] = { owner, lease, mine_before_ms ? before : NULL };
	int rc;

	snprintf(lease, sizeof lease, "%d", lease_s);
	snprintf(before, sizeof before, "%" PRId64, mine_before_ms);
	c->claim = cb;
	c->arg = arg;
	rc = store_query(st,
			 "SELECT kind, id, service, channel, args::text, recorded_s "
			 "FROM rollbot_claim_posts($1, $2::int, to_timestamp($3::bigint / 1000.0))",
			 3, params, claim_posts_cb, c);
	if (rc)
		free(c);
	return rc;
}

/* ---- the PagerDuty page about a proposal ---- */

struct gcall {
	db_claim_pages_cb cb;
	void *arg;
};

static void claim_pages_cb(void *arg, int err, const PGresult *res, const char *errmsg)
{
	struct gcall *c = arg;
	int n = err ? 0 : PQntuples(res);
	struct db_page *rows = n ? rb_calloc((size_t)n, sizeof *rows) : NULL;

	for (int r = 0; r < n; r++) {
		rows[r].action = !strcmp(PQgetvalue(res, r, 0), "trigger") ? DB_PAGE_TRIGGER :
									     DB_PAGE_RESOLVE;
		rows[r].id = strtoll(PQgetvalue(res, r, 1), NULL, 10);
		rows[r].service = PQgetvalue(res, r, 2);
		rows[r].severity = PQgetvalue(res, r, 3);
		rows[r].summary = PQgetvalue(res, r, 4);
	}
	c->cb(c->arg, err, errmsg, rows, n);
	free(rows);
	free(c);
}

int db_claim_pages(struct store *st, const char *owner, int lease_s, int64_t mine_before_ms,
		   db_claim_pages_cb cb, void *arg)
{
	struct gcall *c = rb_calloc(1, sizeof *c);
	char lease[16], before[32];
	const char *params[3] = { owner, lease, mine_before_ms ? before : NULL };
	int rc;

	snprintf(lease, sizeof lease, "%d", lease_s);
	snprintf(before, sizeof before, "%" PRId64, mine_before_ms);
	c->cb = cb;
	c->arg = arg;
	rc = store_query(st,
			 "SELECT action, id, service, severity, summary "
			 "FROM rollbot_claim_pages($1, $2::int, to_timestamp($3::bigint / 1000.0))",
			 3, params, claim_pages_cb, c);
	if (rc)
		free(c);
	return rc;
}

void db_page_done(struct store *st, int64_t id, enum db_page_action action, const char *owner)
{
	char idb[32];
	const char *params[3] = { idb, action == DB_PAGE_TRIGGER ? "trigger" : "resolve", owner };

	snprintf(idb, sizeof idb, "%" PRId64, id);
	fire(st, "the proposal's page", "SELECT rollbot_page_done($1::bigint, $2, $3)", 3, params);
}
