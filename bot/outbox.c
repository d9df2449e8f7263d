/* rollbot — every post recorded before it is made (MIT licence, see LICENSE).
 *
 * DESIGN
 *
 * A post about an incident is rendered when the step that wants it is
 * taken (outbox_entry), named by a key, and written to the outbox with the
 * step's state and audit rows (shell.c: one statement). Only once that is
 * committed is it posted (outbox_post), with the key in its metadata
 * marker. Its answer is handed to the state machine as INC_EV_POSTED or
 * INC_EV_POST_FAILED, and the step that takes it closes the outbox row
 * (ai->closing, recorded with that step). So nobody reads a message whose
 * incident the database does not have in that state, and a crash at any
 * instant leaves either no row, or an open row for a post that may have
 * gone out.
 *
 * Whoever carries the incident on finds the open rows with the claim
 * (db_incident.pending_posts) and looks for their keys in Slack first
 * (lookback.c): a post found takes its ts as the answer, one not found is
 * posted now, from the row, word for word. An incident in progress does
 * this in memory (outbox_resend: the state machine takes the answers, and
 * its own resume does not post what the outbox has). One that ended with
 * its last messages still open does it here without the state machine
 * (outbox_wrapup), one post after the other, then uploads the report it
 * still owes, or clears report_pending when none follows ("posts").
 */
#include "shell.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "db.h"
#include "log.h"

#define KEY_MAX 128

struct post_ctx {
	struct app_inc *ai;
	enum inc_message msg;
	char key[KEY_MAX]; /* "" for a post with no outbox row (one asked for) */
};

/* The message named `name`; INC_MSG_COUNT when there is none. */
static enum inc_message message_from_name(const char *name)
{
	for (int m = 0; m < INC_MSG_COUNT; m++)
		if (!strcmp(inc_message_name((enum inc_message)m), name))
			return (enum inc_message)m;
	return INC_MSG_COUNT;
}

/* The post that action `a` asks for, rendered now and named: an object
 * with "key", "message" and "args" (a new reference), or JSON null when
 * its template fails (the post then fails when its turn comes). */
json_t *outbox_entry(struct app_inc *ai, const struct inc_action *a)
{
	char key[KEY_MAX];
	json_t *args;

	snprintf(key, sizeof key, "%s:%s:%lld:%llx", ai->inc.id, inc_message_name(a->msg),
		 (long long)ai->fence, (unsigned long long)uv_hrtime());
	args = shell_post_args(ai, a->msg, a->in_thread, key);
	if (!args)
		return json_null();
	return json_pack("{s:s, s:s, s:o}", "key", key, "message", inc_message_name(a->msg),
			 "args", args);
}

/* The answer to a post: what the step that takes it records closes the
 * outbox row; a step that records nothing leaves it to be closed here. */
static void answered(struct post_ctx *pc, const struct api_result *res)
{
	struct app_inc *ai = pc->ai;
	struct inc_event ev = { .msg = pc->msg };

	ai->pending--;
	ai->posts_open--;
	if (res->ok) {
		ev.kind = INC_EV_POSTED;
		ev.ts = json_string_value(json_object_get(res->body, "ts"));
		ev.ran = ai->last_step != NULL;
		ilog_info(&ai->inc, "posted %s ts=%s", inc_message_name(ev.msg), ev.ts ? ev.ts : "?");
	} else {
		ev.kind = INC_EV_POST_FAILED;
		ev.error = res->error;
		ilog_error(&ai->inc, "could not post %s after %d attempt(s): %s",
			   inc_message_name(ev.msg), res->attempts, res->error);
	}
	if (pc->key[0])
		ai->closing = ev.kind == INC_EV_POSTED
				      ? json_pack("{s:s, s:s?}", "key", pc->key, "ts", ev.ts)
				      : json_pack("{s:s, s:s}", "key", pc->key, "error",
						  ev.error ? ev.error : "?");
	shell_step(ai, &ev);
	if (ai->closing) {
		struct db_records rec = { .closes = json_pack("[o]", ai->closing) };
		ai->closing = NULL;
		if (db_record(ai->app->store, ai->inc.id, ai->fence, &rec, NULL, NULL))
			ilog_error(&ai->inc, "cannot queue the answer to post %s", pc->key);
	}
	/* While it waits for approval, an incident needs no plan: the request
	 * shows it, and CHECK_PLAN builds it again before anything runs. */
	if (ev.kind == INC_EV_POSTED && ev.msg == INC_MSG_APPROVAL_REQUEST &&
	    ai->inc.state == INC_AWAITING_APPROVAL && !ai->has_deferred) {
		plan_free(ai->plan);
		ai->plan = NULL;
	}
	free(pc);
	shell_inc_release(ai);
}

static void post_done_cb(void *arg, const struct api_result *res)
{
	answered(arg, res);
}

/* A post that waits on Slack is retried while the incident is still this
 * replica's: once another carries it, that one looks for it and posts it. */
static bool post_wanted(void *arg)
{
	const struct post_ctx *pc = arg;

	return !pc->ai->lost;
}

/* Posts `args` (stolen) as message `msg` of `ai`, the outbox row `key`
 * (NULL: none); INC_EV_POSTED or INC_EV_POST_FAILED follows (at once when
 * it cannot be sent). */
void outbox_send(struct app_inc *ai, enum inc_message msg, const char *key, json_t *args)
{
	struct post_ctx *pc = rb_calloc(1, sizeof *pc);

	pc->ai = ai;
	pc->msg = msg;
	if (key)
		(void)rb_strlcpy(pc->key, key, sizeof pc->key);
	ai->pending++;
	ai->posts_open++;
	if (!args) {
		struct api_result r = { .ok = false, .error = "template_error" };
		answered(pc, &r);
		return;
	}
	/* Not dropped while Slack fails: it waits, and the thread's next posts
	 * wait behind it (api.c), so the thread keeps its order. */
	if (api_call_until_answered(ai->app->api, "chat.postMessage", args, post_done_cb, pc,
				    post_wanted)) {
		struct api_result r = { .ok = false, .error = "client_busy" };
		answered(pc, &r);
	}
}

/* INC_ACT_POST, once its step is recorded: the post `entry` (borrowed, as
 * made by outbox_entry) goes out. */
void outbox_post(struct app_inc *ai, enum inc_message msg, json_t *entry)
{
	json_t *args = json_object_get(entry, "args");

	outbox_send(ai, msg, json_is_object(entry) ? jstr(entry, "key") : NULL,
		    args ? json_incref(args) : NULL);
}

/* The wall-clock second a look for an incident's posts starts from: its
 * declaration, with a minute to spare. */
static int64_t look_since(int64_t age_ms)
{
	return (int64_t)time(NULL) - age_ms / 1000 - 60;
}

/* Whether the open posts `pending` include the announcement: then they are
 * looked for in the channel, not in a thread. */
static bool has_announcement(json_t *pending)
{
	size_t i;
	json_t *e;

	json_array_foreach(pending, i, e)
		if (!strcmp(jstr(e, "message"), inc_message_name(INC_MSG_ANNOUNCEMENT)))
			return true;
	return false;
}

/* ---- an incident in progress, in memory ---- */

struct resend {
	struct app_inc *ai;
	json_t *pending;
};

static void resend_looked_cb(void *arg, json_t *found)
{
	struct resend *rs = arg;
	struct app_inc *ai = rs->ai;
	size_t i;
	json_t *e;

	ai->pending--;
	json_array_foreach(rs->pending, i, e) {
		const char *key = jstr(e, "key");
		const char *ts = json_string_value(json_object_get(found, key));
		enum inc_message msg = message_from_name(jstr(e, "message"));

		if (ai->lost || msg == INC_MSG_COUNT)
			break;
		if (!ts) {
			ilog_info(&ai->inc, "posting the %s recorded before the restart",
				  inc_message_name(msg));
			outbox_send(ai, msg, key, json_incref(json_object_get(e, "args")));
			continue;
		}
		ilog_info(&ai->inc, "the %s went out before the restart (ts=%s): not posted again",
			  inc_message_name(msg), ts);
		{
			struct post_ctx *pc = rb_calloc(1, sizeof *pc);
			json_t *body = json_pack("{s:b, s:s}", "ok", 1, "ts", ts);
			struct api_result r = { .ok = true, .http_status = 200, .body = body,
						.raw = "", .attempts = 0 };
			pc->ai = ai;
			pc->msg = msg;
			(void)rb_strlcpy(pc->key, key, sizeof pc->key);
			ai->pending++;
			ai->posts_open++;
			answered(pc, &r);
			json_decref(body);
		}
	}
	json_decref(rs->pending);
	free(rs);
	shell_inc_release(ai);
}

/* Carries on with the posts `pending` (stolen) that `ai` recorded before a
 * restart or a takeover and that no step took the answer of. */
void outbox_resend(struct app_inc *ai, json_t *pending)
{
	struct resend *rs = rb_calloc(1, sizeof *rs);
	bool channel = has_announcement(pending) || !ai->inc.announcement_ts[0];

	rs->ai = ai;
	rs->pending = pending;
	ai->pending++;
	if (lookback(ai->app, ai->inc.id, ai->inc.channel,
		     channel ? NULL : ai->inc.announcement_ts,
		     look_since(now_ms(ai->app) - ai->inc.declared_ms), resend_looked_cb, rs))
		resend_looked_cb(rs, NULL);
}

/* ---- an incident that ended with posts still open ---- */

struct wrapup {
	struct app *app;
	char id[INC_ID_MAX];
	char channel[INC_SLACK_ID_MAX];
	int64_t fence;
	char report[16]; /* what it still owes after the posts: its report_pending */
	json_t *pending;
	json_t *found;
	size_t next;
};

static void wrapup_next(struct wrapup *w);

/* Closes the open post `e`: it went out as `ts`, or gave up with `error`. */
static void wrapup_close(struct wrapup *w, json_t *e, const char *ts, const char *error)
{
	struct db_records rec = { 0 };
	char key[KEY_MAX + 16];

	if (ts) {
		snprintf(key, sizeof key, "posted:%s", jstr(e, "key"));
		rec.audits = json_pack("[{s:s, s:s, s:{s:s, s:s, s:s}, s:s}]", "kind",
				       "message_posted", "actor", "rollbot", "detail", "message",
				       jstr(e, "message"), "channel", w->channel, "ts", ts, "key", key);
		rec.closes = json_pack("[{s:s, s:s}]", "key", jstr(e, "key"), "ts", ts);
	} else {
		rec.closes = json_pack("[{s:s, s:s}]", "key", jstr(e, "key"), "error", error);
	}
	if (db_record(w->app->store, w->id, w->fence, &rec, NULL, NULL))
		log_error("store: cannot queue the answer to a post of %s", w->id);
}

static void wrapup_free(struct wrapup *w)
{
	publish_slot_drop(w->app, w->id);
	json_decref(w->pending);
	json_decref(w->found);
	free(w);
}

static void wrapup_posted_cb(void *arg, const struct api_result *res)
{
	struct wrapup *w = arg;
	json_t *e = json_array_get(w->pending, w->next - 1);
	const char *ts = json_string_value(json_object_get(res->body, "ts"));

	if (res->ok && ts) {
		log_info("%s: posted the %s left to post", w->id, jstr(e, "message"));
		wrapup_close(w, e, ts, NULL);
	} else {
		log_error("%s: could not post the %s left to post: %s", w->id, jstr(e, "message"),
			  res->error ? res->error : "?");
		wrapup_close(w, e, NULL, res->error ? res->error : "?");
	}
	if (w->app->stopping) {
		wrapup_free(w); /* whoever carries on looks again */
		return;
	}
	wrapup_next(w);
}

/* The open posts one after the other, in order; then what is owed. */
static void wrapup_next(struct wrapup *w)
{
	struct app *app = w->app;

	while (w->next < json_array_size(w->pending)) {
		json_t *e = json_array_get(w->pending, w->next++);
		const char *ts = json_string_value(json_object_get(w->found, jstr(e, "key")));

		if (ts) {
			log_info("%s: the %s went out before the restart (ts=%s): not posted again",
				 w->id, jstr(e, "message"), ts);
			wrapup_close(w, e, ts, NULL);
			continue;
		}
		if (!api_call_until_answered(app->api, "chat.postMessage",
					     json_incref(json_object_get(e, "args")),
					     wrapup_posted_cb, w, NULL))
			return;
		wrapup_close(w, e, NULL, "client_busy");
	}
	publish_slot_drop(app, w->id);
	if (!strcmp(w->report, "posts")) {
		if (db_report_done(app->store, w->id, w->fence, NULL, NULL))
			log_error("store: cannot queue the end of %s's last posts", w->id);
	} else if (w->report[0]) {
		publish_resumed_report(app, w->id, w->fence, !strcmp(w->report, "report+drafts"));
	}
	wrapup_free(w);
}

static void wrapup_looked_cb(void *arg, json_t *found)
{
	struct wrapup *w = arg;

	w->found = found ? json_incref(found) : json_object();
	wrapup_next(w);
}

/* An incident claimed in a final state with posts still open, or a report
 * or its last posts still owed (row->report_pending). */
void outbox_wrapup(struct app *app, const struct db_incident *row)
{
	struct wrapup *w;
	json_t *pending = row->pending_posts;

	if (!json_array_size(pending)) {
		if (!strcmp(row->report_pending, "posts")) {
			if (db_report_done(app->store, row->inc.id, row->fence, NULL, NULL))
				log_error("store: cannot queue the end of %s's last posts",
					  row->inc.id);
		} else if (row->report_pending[0]) {
			publish_resumed_report(app, row->inc.id, row->fence,
					       !strcmp(row->report_pending, "report+drafts"));
		}
		return;
	}
	if (!publish_slot_take(app, row->inc.id))
		return; /* on its way, or busy: the next heartbeat asks again */
	w = rb_calloc(1, sizeof *w);
	w->app = app;
	(void)rb_strlcpy(w->id, row->inc.id, sizeof w->id);
	(void)rb_strlcpy(w->channel, row->inc.channel, sizeof w->channel);
	(void)rb_strlcpy(w->report, row->report_pending, sizeof w->report);
	w->fence = row->fence;
	w->pending = json_incref(pending);
	log_info("%s: ended with %zu post(s) left to make", w->id, json_array_size(pending));
	if (lookback(app, w->id, w->channel,
		     has_announcement(pending) || !row->inc.announcement_ts[0]
			     ? NULL
			     : row->inc.announcement_ts,
		     look_since(row->age_ms), wrapup_looked_cb, w))
		wrapup_looked_cb(w, NULL);
}
