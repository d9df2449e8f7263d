/* rollbot — no message posted twice after a crash (MIT licence, see LICENSE).
 *
 * DESIGN
 *
 * Every message rollbot posts about an incident carries a marker in its
 * metadata (Slack's message metadata): event_type "rollbot_message" and a
 * payload naming the incident and the message ("announcement",
 * "approval_request", "status_update" with its number, …). A post is asked
 * for once the state that wants it is saved (shell.c's barrier), and its
 * answer (the ts) is recorded after. A replica that dies between the two
 * leaves a message that went out with no record of it, and whoever carries
 * the incident on (a restart, a takeover) would post it again.
 *
 * So the first post after a resume looks first: the announcement in the
 * channel's history since the incident was declared, any other message at
 * the end of the incident's thread (the last message rollbot posted there).
 * When the marker says it is that very message, its ts is taken as the
 * post's answer and nothing is posted. Only the first post can be the lost
 * one: the state machine asks for one post at a time per event, and the
 * record of every earlier one is in the database. A look that fails (Slack
 * down, a thread longer than one page) posts: a repeat beats a silence.
 */
#include "shell.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "api.h"
#include "log.h"

#define MARKER_TYPE "rollbot_message"

struct look {
	struct app_inc *ai;
	enum inc_message msg;
	int number;
	lookback_cb cb;
	void *arg;
};

/* The metadata every post of `ai` about `msg` carries (a new reference).
 * `number`: the status update's, 0 for the other messages. */
json_t *lookback_marker(const struct app_inc *ai, enum inc_message msg, int number)
{
	json_t *p = json_pack("{s:s, s:s}", "incident", ai->inc.id, "message",
			      inc_message_name(msg));

	if (number)
		json_object_set_new(p, "number", json_integer(number));
	return json_pack("{s:s, s:o}", "event_type", MARKER_TYPE, "event_payload", p);
}

/* Whether message `m` (from a history or a thread) carries the marker of
 * the look. */
static bool is_marked(const struct look *lk, json_t *m)
{
	json_t *md = json_object_get(m, "metadata");
	json_t *p = json_object_get(md, "event_payload");
	json_int_t n = json_integer_value(json_object_get(p, "number"));

	return !strcmp(jstr(md, "event_type"), MARKER_TYPE) &&
	       !strcmp(jstr(p, "incident"), lk->ai->inc.id) &&
	       !strcmp(jstr(p, "message"), inc_message_name(lk->msg)) && n == lk->number;
}

static void looked_cb(void *arg, const struct api_result *res)
{
	struct look *lk = arg;
	struct app_inc *ai = lk->ai;
	json_t *msgs = json_object_get(res->body, "messages"), *m, *last = NULL;
	const char *found = NULL;
	size_t i;

	if (!res->ok) {
		ilog_warn(&ai->inc, "could not look for a %s posted before the restart (%s): posting "
				    "it", inc_message_name(lk->msg), res->error ? res->error : "?");
	} else if (lk->msg == INC_MSG_ANNOUNCEMENT) {
		json_array_foreach(msgs, i, m)
			if (!found && is_marked(lk, m))
				found = jstr(m, "ts");
	} else {
		/* The thread, oldest first: only its last message from rollbot
		 * can be the one whose record was lost. */
		json_array_foreach(msgs, i, m)
			if (json_object_get(m, "bot_id") ||
			    !strcmp(jstr(m, "user"), ai->app->bot_user_id))
				last = m;
		if (last && is_marked(lk, last))
			found = jstr(last, "ts");
	}
	if (found && !found[0])
		found = NULL;
	if (found)
		ilog_info(&ai->inc, "the %s went out before the restart (ts=%s): not posted again",
			  inc_message_name(lk->msg), found);
	lk->cb(lk->arg, found);
	free(lk);
}

/* Looks whether `msg` (`number`: the status update's, else 0) of `ai` was
 * posted already, and calls cb(arg, ts) with its ts, or with NULL when it
 * was not (or the look failed). Returns 0, or -1 when the look cannot be
 * sent (cb is not called). */
int lookback(struct app_inc *ai, enum inc_message msg, int number, lookback_cb cb, void *arg)
{
	struct look *lk = rb_calloc(1, sizeof *lk);
	json_t *args;
	const char *method;

	lk->ai = ai;
	lk->msg = msg;
	lk->number = number;
	lk->cb = cb;
	lk->arg = arg;
	if (msg == INC_MSG_ANNOUNCEMENT || !ai->inc.announcement_ts[0]) {
		/* Since the declaration (wall clock), with a minute to spare. */
		char oldest[32];
		int64_t age_s = (now_ms(ai->app) - ai->inc.declared_ms) / 1000;
		snprintf(oldest, sizeof oldest, "%lld", (long long)(time(NULL) - age_s - 60));
		method = "conversations.history";
		args = json_pack("{s:s, s:s, s:b, s:i}", "channel", ai->inc.channel, "oldest",
				 oldest, "include_all_metadata", 1, "limit", 200);
	} else {
		method = "conversations.replies";
		args = json_pack("{s:s, s:s, s:b, s:i}", "channel", ai->inc.channel, "ts",
				 ai->inc.announcement_ts, "include_all_metadata", 1, "limit", 1000);
	}
	if (api_call(ai->app->api, method, args, looked_cb, lk)) {
		free(lk);
		return -1;
	}
	return 0;
}
