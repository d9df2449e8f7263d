/* rollbot — no message posted twice after a crash (MIT licence, see LICENSE).
 *
 * DESIGN
 *
 * Every message rollbot posts about an incident is written to the outbox
 * (post_outbox, sql/009) with the step that wants it, before it is posted,
 * and carries a marker in its metadata (Slack's message metadata):
 * event_type "rollbot_message" and a payload naming the incident, the
 * message ("announcement", "approval_request", "status_update" with its
 * number, …) and the outbox key. The step that takes the post's answer
 * closes the row. A replica that dies between the post and that step
 * leaves a row open for a message that may or may not have gone out, and
 * whoever carries the incident on (a restart, a takeover) must not post it
 * twice, nor leave it unsaid.
 *
 * So outbox.c first looks for the open rows' keys in Slack: in the
 * channel's history since the incident was declared while the
 * announcement is among them, else in the incident's thread. A key found
 * is a post that went out (its ts is taken as the answer); a key not found
 * is posted now. A look that fails (Slack down) finds nothing, so every
 * open row is posted: a repeat beats a silence.
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
	struct app *app;
	char incident[INC_ID_MAX];
	lookback_cb cb;
	void *arg;
};

/* The metadata every post of `ai` about `msg` carries (a new reference).
 * `number`: the status update's, 0 for the other messages; `key`: the
 * outbox row's, or NULL for a post that has none (one asked for). */
json_t *lookback_marker(const struct app_inc *ai, enum inc_message msg, int number,
			const char *key)
{
	json_t *p = json_pack("{s:s, s:s}", "incident", ai->inc.id, "message",
			      inc_message_name(msg));

	if (number)
		json_object_set_new(p, "number", json_integer(number));
	if (key)
		json_object_set_new(p, "key", json_string(key));
	return json_pack("{s:s, s:o}", "event_type", MARKER_TYPE, "event_payload", p);
}

static void looked_cb(void *arg, const struct api_result *res)
{
	struct look *lk = arg;
	json_t *msgs = json_object_get(res->body, "messages"), *m, *found = NULL;
	size_t i;

	if (!res->ok) {
		log_warn("%s: could not look for posts that went out before the restart (%s): "
			 "posting them",
			 lk->incident, res->error ? res->error : "?");
	} else {
		found = json_object();
		json_array_foreach(msgs, i, m) {
			json_t *md = json_object_get(m, "metadata");
			json_t *p = json_object_get(md, "event_payload");
			const char *key = jstr(p, "key"), *ts = jstr(m, "ts");

			if (!strcmp(jstr(md, "event_type"), MARKER_TYPE) &&
			    !strcmp(jstr(p, "incident"), lk->incident) && key[0] && ts[0])
				json_object_set_new(found, key, json_string(ts));
		}
	}
	lk->cb(lk->arg, found);
	json_decref(found);
	free(lk);
}

/* Looks for the marked posts of incident `incident` in `channel`: in the
 * thread `thread_ts`, or when that is NULL in the channel's history since
 * `since` (wall clock, seconds). Calls cb(arg, found) with an object from
 * outbox key to ts (borrowed), or NULL when the look failed. Returns 0, or
 * -1 when the look cannot be sent (cb is not called). */
int lookback(struct app *app, const char *incident, const char *channel, const char *thread_ts,
	     int64_t since, lookback_cb cb, void *arg)
{
	struct look *lk = rb_calloc(1, sizeof *lk);
	json_t *args;
	const char *method;

	lk->app = app;
	(void)rb_strlcpy(lk->incident, incident, sizeof lk->incident);
	lk->cb = cb;
	lk->arg = arg;
	if (!thread_ts || !thread_ts[0]) {
		char oldest[32];
		snprintf(oldest, sizeof oldest, "%lld", (long long)since);
		method = "conversations.history";
		args = json_pack("{s:s, s:s, s:b, s:i}", "channel", channel, "oldest", oldest,
				 "include_all_metadata", 1, "limit", 200);
	} else {
		method = "conversations.replies";
		args = json_pack("{s:s, s:s, s:b, s:i}", "channel", channel, "ts", thread_ts,
				 "include_all_metadata", 1, "limit", 1000);
	}
	if (api_call(app->api, method, args, looked_cb, lk)) {
		free(lk);
		return -1;
	}
	return 0;
}
