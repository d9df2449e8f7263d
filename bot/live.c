/* rollbot — a running step's progress, live in the thread (MIT licence, see LICENSE).
 *
 * DESIGN
 *
 * `kubectl rollout status` or `helm rollback --wait` may run for 10-20
 * minutes; the step's result only comes when it ends. While an exec step
 * runs, one message in the thread shows it: the step, the time against its
 * timeout, and what the tool last said (a bar when it is a count,
 * commands/progress.c), edited in place with chat.update.
 *
 *  - It is posted only once the step has run LIVE_AFTER_MS without ending:
 *    a step that ends sooner has its result in the thread at once, and a
 *    progress message would only be noise there.
 *  - Nothing is said unrecorded: the post waits for the commit of an audit
 *    row "step_progress" (step, key), under the incident's fence, and its
 *    ts goes to the audit log once Slack answers. It has no outbox row on
 *    purpose: a crash never posts it again (an outbox row would be resent
 *    after a restart, for a step that no longer runs).
 *  - Edits are best effort and bounded: at most one in flight, at most one
 *    every LIVE_EVERY_MS, only when the text changed; a failed one is not
 *    retried (the next tick sends the text of then), and after
 *    LIVE_MAX_FAILURES failures in a row no more are sent but the last.
 *    None of this holds up the step, the acks or the other posts: it is
 *    its own API calls (chat.update is Tier 3, pace.c).
 *  - When the step ends, the message is edited a last time to the outcome
 *    ("✔ Step 2/2: … — exit status 0 after 84.2 s" and the last bar); the
 *    step result, with the output, is still posted after it as before: the
 *    live message says how it went at a glance, the result is the record.
 *    That last edit waits for the post's answer or the edit in flight.
 *  - Whoever carries the incident on after a restart finds the live message
 *    of the step that was running (its step_progress_posted row) and edits
 *    it once to say that the step was interrupted (live_interrupted): the
 *    thread goes on below with what the status command says.
 *
 * The live view holds the incident (ai->pending) until its last call has
 * answered, so the incident outlives it.
 */
#include "shell.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../commands/progress.h"
#include "api.h"
#include "db.h"
#include "log.h"

#define LIVE_AFTER_MS 2000    /* a step shorter than this gets no live message */
#define LIVE_EVERY_MS 5000    /* at most one edit this often */
#define LIVE_TICK_MS 1000
#define LIVE_TAIL_MAX 4096    /* bytes of output kept to read the last line from */
#define LIVE_MAX_FAILURES 3

struct live {
	struct app_inc *ai;
	int index, n_steps;
	char *title;
	int64_t timeout_ms;
	int64_t started_ms;
	int64_t last_edit_ms;
	uv_timer_t timer;
	char tail[LIVE_TAIL_MAX];
	size_t tail_len;
	int done, total; /* the last count seen, kept when a later line has none */
	char key[128];
	char *ts;    /* the message's, once posted */
	char *shown; /* the text Slack has (or is being sent) */
	char *final; /* the last text, waiting for the call in flight */
	int calls;   /* in flight: the record, the post or an edit */
	int failures;
	bool posting; /* recorded or being posted: no second post */
	bool ended;   /* live_end has run */
	bool timer_closed;
};

static void live_free_if_done(struct live *lv)
{
	struct app_inc *ai = lv->ai;

	if (!lv->ended || lv->calls || !lv->timer_closed || lv->final)
		return;
	free(lv->title);
	free(lv->ts);
	free(lv->shown);
	free(lv);
	ai->pending--;
	shell_inc_release(ai);
}

static void timer_closed_cb(uv_handle_t *h)
{
	struct live *lv = h->data;

	lv->timer_closed = true;
	live_free_if_done(lv);
}

static void current(struct live *lv, struct progress *p)
{
	progress_parse(lv->tail, lv->tail_len, p);
	if (p->total > 0) {
		lv->done = p->done;
		lv->total = p->total;
	} else {
		p->done = lv->done;
		p->total = lv->total;
	}
}

static void send_edit(struct live *lv, char *text);

/* Sends the last edit that waited for the call in flight, if any. */
static void send_final(struct live *lv)
{
	char *t = lv->final;

	lv->final = NULL;
	if (t)
		send_edit(lv, t);
}

static void edit_done_cb(void *arg, const struct api_result *res)
{
	struct live *lv = arg;

	lv->calls--;
	if (res->ok) {
		lv->failures = 0;
	} else {
		lv->failures++;
		ilog_warn(&lv->ai->inc, "live progress of step %d: chat.update failed: %s",
			  lv->index, res->error ? res->error : "?");
		/* Slack has the text before: the next tick sends it again. */
		free(lv->shown);
		lv->shown = NULL;
	}
	send_final(lv);
	live_free_if_done(lv);
}

/* chat.update of the message to `text` (stolen). */
static void send_edit(struct live *lv, char *text)
{
	json_t *args;

	if (lv->ai->lost || !lv->ts) {
		free(text);
		return;
	}
	args = json_pack("{s:s, s:s, s:s}", "channel", lv->ai->inc.channel, "ts", lv->ts, "text",
			 text);
	free(lv->shown);
	lv->shown = text;
	lv->last_edit_ms = now_ms(lv->ai->app);
	if (api_call(lv->ai->app->api, "chat.update", args, edit_done_cb, lv)) {
		free(lv->shown);
		lv->shown = NULL;
		return;
	}
	lv->calls++;
}

static void posted_cb(void *arg, const struct api_result *res)
{
	struct live *lv = arg;
	struct app_inc *ai = lv->ai;
	const char *ts = res->ok ? json_string_value(json_object_get(res->body, "ts")) : NULL;

	lv->calls--;
	if (ts) {
		lv->ts = rb_strdup(ts);
		lv->last_edit_ms = now_ms(ai->app);
		ilog_info(&ai->inc, "live progress of step %d posted ts=%s", lv->index, ts);
		db_audit(ai->app->store, ai->inc.id, "rollbot", "step_progress_posted",
			 json_pack("{s:i, s:s, s:s}", "step", lv->index, "key", lv->key, "ts", ts),
			 NULL);
	} else {
		/* Not tried again: the step result comes all the same. */
		ilog_warn(&ai->inc, "live progress of step %d not posted: %s", lv->index,
			  res->error ? res->error : "?");
		free(lv->final);
		lv->final = NULL;
	}
	send_final(lv);
	live_free_if_done(lv);
}

/* The audit row is committed: now it may be said. */
static void recorded_cb(void *arg, int err, const char *errmsg)
{
	struct live *lv = arg;
	struct app_inc *ai = lv->ai;
	struct progress p;
	json_t *args;

	lv->calls--;
	if (err || ai->lost || (lv->ended && !lv->final)) {
		if (err)
			ilog_warn(&ai->inc, "live progress of step %d not recorded: %s", lv->index,
				  errmsg ? errmsg : "?");
		free(lv->final);
		lv->final = NULL;
		live_free_if_done(lv);
		return;
	}
	current(lv, &p);
	free(lv->shown);
	lv->shown = progress_text(lv->index, lv->n_steps, lv->title,
				  now_ms(ai->app) - lv->started_ms, lv->timeout_ms, &p);
	args = json_pack("{s:s, s:s, s:s}", "channel", ai->inc.channel, "thread_ts",
			 ai->inc.announcement_ts, "text", lv->final ? lv->final : lv->shown);
	if (lv->final) {
		/* It ended meanwhile: the post says how, and nothing follows. */
		free(lv->shown);
		lv->shown = lv->final;
		lv->final = NULL;
	}
	if (api_call(ai->app->api, "chat.postMessage", args, posted_cb, lv)) {
		live_free_if_done(lv);
		return;
	}
	lv->calls++;
}

static void record_and_post(struct live *lv)
{
	struct app_inc *ai = lv->ai;
	struct db_records rec = { 0 };

	lv->posting = true;
	snprintf(lv->key, sizeof lv->key, "%s:step_progress:%d:%lld:%llx", ai->inc.id, lv->index,
		 (long long)ai->fence, (unsigned long long)uv_hrtime());
	rec.audits = json_pack("[{s:s, s:s, s:{s:i, s:s, s:s}, s:s}]", "kind", "step_progress",
			       "actor", "rollbot", "detail", "step", lv->index, "title", lv->title,
			       "key", lv->key, "key", lv->key);
	if (db_record(ai->app->store, ai->inc.id, ai->fence, &rec, recorded_cb, lv)) {
		ilog_warn(&ai->inc, "live progress of step %d: cannot record it", lv->index);
		return;
	}
	lv->calls++;
}

static void tick_cb(uv_timer_t *t)
{
	struct live *lv = t->data;
	struct app_inc *ai = lv->ai;
	int64_t now = now_ms(ai->app);
	struct progress p;
	char *text;

	if (ai->lost || !ai->inc.announcement_ts[0])
		return;
	if (!lv->posting) {
		if (now - lv->started_ms >= LIVE_AFTER_MS)
			record_and_post(lv);
		return;
	}
	if (!lv->ts || lv->calls || lv->failures >= LIVE_MAX_FAILURES ||
	    now - lv->last_edit_ms < LIVE_EVERY_MS)
		return;
	current(lv, &p);
	text = progress_text(lv->index, lv->n_steps, lv->title, now - lv->started_ms,
			     lv->timeout_ms, &p);
	if (lv->shown && !strcmp(text, lv->shown)) {
		free(text);
		return;
	}
	send_edit(lv, text);
}

struct live *live_start(struct app_inc *ai, int index, const char *title, int64_t timeout_ms)
{
	struct live *lv = rb_calloc(1, sizeof *lv);

	lv->ai = ai;
	lv->index = index;
	lv->n_steps = ai->inc.n_steps;
	lv->title = rb_strdup(title ? title : "");
	lv->timeout_ms = timeout_ms;
	lv->started_ms = now_ms(ai->app);
	uv_timer_init(&ai->app->loop, &lv->timer);
	lv->timer.data = lv;
	uv_timer_start(&lv->timer, tick_cb, LIVE_TICK_MS, LIVE_TICK_MS);
	ai->pending++;
	return lv;
}

void live_output(struct live *lv, const char *data, size_t len)
{
	if (!lv)
		return;
	if (len >= LIVE_TAIL_MAX) {
		memcpy(lv->tail, data + len - LIVE_TAIL_MAX, LIVE_TAIL_MAX);
		lv->tail_len = LIVE_TAIL_MAX;
		return;
	}
	if (lv->tail_len + len > LIVE_TAIL_MAX) {
		size_t drop = lv->tail_len + len - LIVE_TAIL_MAX;

		memmove(lv->tail, lv->tail + drop, lv->tail_len - drop);
		lv->tail_len -= drop;
	}
	memcpy(lv->tail + lv->tail_len, data, len);
	lv->tail_len += len;
}

void live_end(struct live *lv, bool ok, const char *outcome)
{
	struct progress p;
	char *text;

	if (!lv)
		return;
	lv->ended = true;
	uv_timer_stop(&lv->timer);
	uv_close((uv_handle_t *)&lv->timer, timer_closed_cb);
	if (!lv->posting)
		return; /* short: no live message, the result says it all */
	current(lv, &p);
	/* Done well: the count is complete, whatever line came last. */
	if (ok && p.total > 0)
		p.done = p.total;
	text = progress_final_text(lv->index, lv->n_steps, lv->title, ok, outcome, &p);
	if (lv->calls) {
		free(lv->final);
		lv->final = text; /* after the call in flight */
		return;
	}
	send_edit(lv, text);
}

/* ---- after a restart ---- */

struct stale {
	struct app_inc *ai;
	int index;
};

static void stale_done_cb(void *arg, const struct api_result *res)
{
	struct stale *sl = arg;
	struct app_inc *ai = sl->ai;

	if (!res->ok)
		ilog_warn(&ai->inc, "live progress of step %d: last edit failed: %s", sl->index,
			  res->error ? res->error : "?");
	free(sl);
	ai->pending--;
	shell_inc_release(ai);
}

static void stale_found_cb(void *arg, int err, const char *errmsg, const char *ts)
{
	struct stale *sl = arg;
	struct app_inc *ai = sl->ai;
	const char *title = NULL;
	char *text;
	json_t *args;

	if (err || !ts || ai->lost) {
		if (err)
			ilog_warn(&ai->inc, "live progress of step %d: cannot look for it: %s",
				  sl->index, errmsg ? errmsg : "?");
		free(sl);
		ai->pending--;
		shell_inc_release(ai);
		return;
	}
	if (ai->plan && sl->index >= 0 && (size_t)sl->index < ai->plan->n_steps)
		title = ai->plan->steps[sl->index].title;
	text = progress_interrupted_text(sl->index, ai->inc.n_steps, title);
	args = json_pack("{s:s, s:s, s:s}", "channel", ai->inc.channel, "ts", ts, "text", text);
	free(text);
	ilog_info(&ai->inc, "live progress of step %d (ts=%s): marked interrupted", sl->index, ts);
	if (api_call(ai->app->api, "chat.update", args, stale_done_cb, sl)) {
		free(sl);
		ai->pending--;
		shell_inc_release(ai);
	}
}

void live_interrupted(struct app_inc *ai, int index)
{
	struct stale *sl = rb_calloc(1, sizeof *sl);

	sl->ai = ai;
	sl->index = index;
	if (db_step_progress_ts(ai->app->store, ai->inc.id, index, stale_found_cb, sl)) {
		free(sl);
		return;
	}
	ai->pending++;
}
