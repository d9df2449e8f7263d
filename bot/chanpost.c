/* rollbot — posts in the incidents channel about no incident, recorded
 * first and said once (MIT licence, see LICENSE).
 *
 * See chanpost.h. The window this closes: a replica records a proposal (or
 * a notice, or an assessment), then dies before Slack's answer is recorded. Its row stays
 * open, with the lease it was recorded with. A restart under the same name
 * claims it at once (rows recorded before this process started: not its
 * own posts in flight); another replica claims it once the lease has run
 * out. Either looks for the post's key in the channel first, so a post
 * that went out before the crash is not made twice, and one that did not
 * is made now. A post is retried while Slack fails, but only within its
 * lease: past it, the row is someone else's to claim.
 */
#include "chanpost.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "log.h"
#include "proposal.h"

#define MARKER_TYPE "rollbot_message"
#define SWEEP_MS 2000

#define FLIGHT_MAX 64

struct chanpost {
	uv_timer_t timer;
	int64_t started_ms; /* wall clock: rows older than this are a restart's */
	bool mine_done;     /* the restart's own rows were claimed */
	bool claiming;
	unsigned seq;
	/* The posts this process has out (kind, id): a claim that returns one
	 * of them (the database's clock ahead of ours at the first sweep)
	 * leaves it to the post in flight. */
	struct {
		enum db_chanpost_kind kind;
		int64_t id;
	} flight[FLIGHT_MAX];
	size_t n_flight;
};

static void flight_add(struct chanpost *cp, enum db_chanpost_kind kind, int64_t id)
{
	if (!cp || cp->n_flight >= FLIGHT_MAX)
		return;
	cp->flight[cp->n_flight].kind = kind;
	cp->flight[cp->n_flight].id = id;
	cp->n_flight++;
}

static bool flight_del(struct chanpost *cp, enum db_chanpost_kind kind, int64_t id)
{
	for (size_t i = 0; cp && i < cp->n_flight; i++)
		if (cp->flight[i].kind == kind && cp->flight[i].id == id) {
			cp->flight[i] = cp->flight[--cp->n_flight];
			return true;
		}
	return false;
}

static bool in_flight(const struct chanpost *cp, enum db_chanpost_kind kind, int64_t id)
{
	for (size_t i = 0; cp && i < cp->n_flight; i++)
		if (cp->flight[i].kind == kind && cp->flight[i].id == id)
			return true;
	return false;
}

struct sending {
	struct app *app;
	enum db_chanpost_kind kind;
	int64_t id;
	int64_t until_ms; /* the lease, on the loop's clock */
	api_cb cb;
	void *arg;
};

static int64_t wall_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

json_t *chanpost_args(struct app *app, const char *channel, const char *text,
		      const char *message, const char *service)
{
	struct chanpost *cp = app->chanpost;
	char *key = rb_asprintf("%s:%s:%lld:%u", message, app->owner, (long long)wall_ms(),
				cp ? ++cp->seq : 0);
	json_t *md = json_pack("{s:s, s:{s:s, s:s, s:s}}", "event_type", MARKER_TYPE,
			       "event_payload", "message", message, "key", key, "service",
			       service);

	free(key);
	return json_pack("{s:s, s:s, s:b, s:o}", "channel", channel, "text", text,
			 "unfurl_links", 0, "metadata", md);
}

static bool wanted(void *arg)
{
	struct sending *s = arg;

	return !s->app->stopping && now_ms(s->app) < s->until_ms;
}

bool chanpost_left_open(const struct api_result *res)
{
	return !res->ok && res->error &&
	       (!strcmp(res->error, "not_wanted") || !strcmp(res->error, "shutdown"));
}

static void sent_cb(void *arg, const struct api_result *res)
{
	struct sending *s = arg;
	const char *ts = json_string_value(json_object_get(res->body, "ts"));
	const char *err = res->error ? res->error : "?";

	(void)flight_del(s->app->chanpost, s->kind, s->id);
	if (res->ok && ts)
		db_chanpost_done(s->app->store, s->kind, s->id, ts, NULL);
	else if (!chanpost_left_open(res))
		db_chanpost_done(s->app->store, s->kind, s->id, NULL, err);
	/* else: left open, for whoever claims it */
	if (s->cb)
		s->cb(s->arg, res);
	free(s);
}

void chanpost_send(struct app *app, enum db_chanpost_kind kind, int64_t id, const json_t *args,
		   const char *found_ts, api_cb cb, void *arg)
{
	struct sending *s = rb_calloc(1, sizeof *s);

	s->app = app;
	s->kind = kind;
	s->id = id;
	/* Short of the lease, so that the last try ends within it; a post
	 * given up is claimed again once the lease has run out (a lookback,
	 * then a new try), by this replica or another. */
	s->until_ms = now_ms(app) + (CHANPOST_LEASE_S - 10) * 1000;
	s->cb = cb;
	s->arg = arg;
	if (found_ts) {
		json_t *body = json_pack("{s:b, s:s}", "ok", 1, "ts", found_ts);
		struct api_result r = { .ok = true, .body = body };

		sent_cb(s, &r);
		json_decref(body);
		return;
	}
	flight_add(app->chanpost, kind, id);
	if (api_call_until_answered(app->api, "chat.postMessage", json_deep_copy(args), sent_cb,
				    s, wanted)) {
		struct api_result r = { .ok = false, .error = "not queued" };

		sent_cb(s, &r);
	}
}

/* ---- the sweep ---- */

struct reclaim {
	struct app *app;
	enum db_chanpost_kind kind;
	int64_t id;
	char service[CMD_SERVICE_MAX];
	json_t *args;
	char key[160];
};

static void notice_sent_cb(void *arg, const struct api_result *res)
{
	const char *service = arg;

	if (res->ok)
		log_info("watcher: the notice about %s is posted (carried on from the replica "
			 "that recorded it)", service);
	free(arg);
}

static void assess_sent_cb(void *arg, const struct api_result *res)
{
	const char *service = arg;

	if (res->ok)
		log_info("assess: the assessment of %s is posted (carried on from the replica "
			 "that recorded it)", service);
	free(arg);
}

static const char *kind_name(enum db_chanpost_kind kind)
{
	return kind == DB_CHANPOST_PROPOSAL ? "proposal" :
	       kind == DB_CHANPOST_ASSESS   ? "assessment" :
					      "notice";
}

/* The history around the post's record: is its key there? */
static void looked_cb(void *arg, const struct api_result *res)
{
	struct reclaim *rc = arg;
	json_t *msgs = json_object_get(res->body, "messages"), *m;
	const char *found = NULL;
	size_t i;

	if (!res->ok)
		log_warn("could not look for a post recorded before (%s): posting it",
			 res->error ? res->error : "?");
	json_array_foreach(msgs, i, m) {
		json_t *md = json_object_get(m, "metadata");

		if (!strcmp(jstr(md, "event_type"), MARKER_TYPE) &&
		    !strcmp(jstr(json_object_get(md, "event_payload"), "key"), rc->key) &&
		    jstr(m, "ts")[0])
			found = jstr(m, "ts");
	}
	log_info("%s %lld for %s: %s", kind_name(rc->kind), (long long)rc->id, rc->service,
		 found ? "found in the channel, posted before the replica that recorded it "
			 "stopped; not posted again" :
			 "recorded but not posted (the replica that recorded it stopped, or "
			 "gave up); posting it");
	if (rc->kind == DB_CHANPOST_PROPOSAL)
		proposal_repost(rc->app, rc->id, rc->service, rc->args, found);
	else
		chanpost_send(rc->app, rc->kind, rc->id, rc->args, found,
			      rc->kind == DB_CHANPOST_ASSESS ? assess_sent_cb : notice_sent_cb,
			      rb_strdup(rc->service));
	json_decref(rc->args);
	free(rc);
}

static void reclaim(struct app *app, const struct db_chanpost *row)
{
	struct reclaim *rc = rb_calloc(1, sizeof *rc);
	char oldest[32];
	json_t *args;

	rc->app = app;
	rc->kind = row->kind;
	rc->id = row->id;
	(void)rb_strlcpy(rc->service, row->service, sizeof rc->service);
	rc->args = json_loads(row->args_json, 0, NULL);
	(void)rb_strlcpy(rc->key,
			 jstr(json_object_get(json_object_get(rc->args, "metadata"),
					      "event_payload"),
			      "key"),
			 sizeof rc->key);
	/* A second of margin: Slack's ts and the database's clock differ. */
	snprintf(oldest, sizeof oldest, "%lld", (long long)row->recorded_s - 1);
	args = json_pack("{s:s, s:s, s:b, s:i}", "channel", row->channel, "oldest", oldest,
			 "include_all_metadata", 1, "limit", 200);
	if (!rc->args || api_call(app->api, "conversations.history", args, looked_cb, rc)) {
		log_error("cannot look for the post of %s %lld", row->service, (long long)row->id);
		json_decref(rc->args);
		free(rc);
	}
}

static void claimed_cb(void *arg, int err, const char *errmsg, const struct db_chanpost *rows,
		       int n)
{
	struct app *app = arg;
	struct chanpost *cp = app->chanpost;

	if (!cp)
		return;
	cp->claiming = false;
	if (err) {
		log_warn("store: could not claim the channel's open posts: %s",
			 errmsg ? errmsg : "?");
		return;
	}
	cp->mine_done = true;
	for (int i = 0; i < n; i++)
		if (!in_flight(cp, rows[i].kind, rows[i].id))
			reclaim(app, &rows[i]);
}

static void sweep_cb(uv_timer_t *t)
{
	struct app *app = t->data;
	struct chanpost *cp = app->chanpost;

	if (cp->claiming || app->stopping || !app->auth_ok || !app->api)
		return;
	if (db_claim_posts(app->store, app->owner, CHANPOST_LEASE_S,
			   cp->mine_done ? 0 : cp->started_ms, claimed_cb, app))
		log_warn("store: cannot queue the claim of the channel's open posts");
	else
		cp->claiming = true;
}

void chanpost_start(struct app *app)
{
	struct chanpost *cp = rb_calloc(1, sizeof *cp);

	cp->started_ms = wall_ms();
	uv_timer_init(&app->loop, &cp->timer);
	cp->timer.data = app;
	uv_timer_start(&cp->timer, sweep_cb, SWEEP_MS / 4, SWEEP_MS);
	app->chanpost = cp;
}

static void closed_cb(uv_handle_t *h)
{
	(void)h;
}

void chanpost_stop(struct app *app)
{
	if (app->chanpost)
		uv_close((uv_handle_t *)&app->chanpost->timer, closed_cb);
}

void chanpost_free(struct app *app)
{
	free(app->chanpost);
	app->chanpost = NULL;
}
