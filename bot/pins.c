/* rollbot — 📌: people's findings in the report's timeline (MIT licence, see LICENSE).
 *
 * A 📌 reaction on a message in an incident's thread adds that message to
 * the incident's timeline in the audit log, so that the report tells it at
 * the time it was posted; removing the pin takes it out again. The message
 * is read back from Slack (conversations.replies) for its author, text and
 * thread, and db_pin/db_unpin write the rows with a dedupe key, so that a
 * redelivered reaction adds nothing.
 */
#include "shell.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "db.h"
#include "log.h"

struct pin_job {
	struct app *app;
	char channel[INC_SLACK_ID_MAX];
	char ts[INC_SLACK_ID_MAX];
	char user[INC_SLACK_ID_MAX];
	char *key; /* whole: an event ID is never cut */
};

static void pin_free(struct pin_job *p)
{
	free(p->key);
	free(p);
}

static void pin_stored_cb(void *arg, int err, const char *errmsg, const char *incident)
{
	struct pin_job *p = arg;

	if (err)
		log_error("store: could not record the pin of %s %s: %s", p->channel, p->ts,
			  errmsg ? errmsg : "?");
	else if (incident)
		log_info("%s: timeline entry %s by %s (message %s)", incident,
			 strncmp(p->key, "pin:", 4) ? "removed" : "added", p->user, p->ts);
	else
		log_debug("pin on %s %s: not in an incident's thread", p->channel, p->ts);
	pin_free(p);
}

/* The pinned message, as Slack has it: its author, text and thread. */
static void pin_message_cb(void *arg, const struct api_result *res)
{
	struct pin_job *p = arg;
	json_t *m = json_array_get(json_object_get(res->body, "messages"), 0);
	const char *thread = jstr(m, "thread_ts");
	char text[1024];
	struct db_pin pin;

	if (!res->ok || strcmp(jstr(m, "ts"), p->ts)) {
		log_warn("could not read the pinned message %s %s: %s", p->channel, p->ts,
			 res->ok ? "not found" : res->error);
		pin_free(p);
		return;
	}
	/* Cut between whole UTF-8 characters: the text must stay valid JSON. */
	{
		const char *src = jstr(m, "text");
		size_t n = strlen(src);
		if (n > sizeof text - 1) {
			n = sizeof text - 1;
			while (n && ((unsigned char)src[n] & 0xC0) == 0x80)
				n--;
		}
		memcpy(text, src, n);
		text[n] = '\0';
	}
	pin.channel = p->channel;
	pin.thread_ts = thread[0] ? thread : p->ts;
	pin.user = p->user;
	pin.author = jstr(m, "user");
	pin.text = text;
	pin.ts = p->ts;
	pin.key = p->key;
	if (db_pin(p->app->store, &pin, pin_stored_cb, p)) {
		log_error("store: cannot queue the pin of %s", p->ts);
		pin_free(p);
	}
}

/* 📌 on a message in an incident's thread adds it to the report's timeline;
 * removing the pin removes it. */
void pins_dispatch(struct app *app, json_t *event, const char *event_id, bool added)
{
	json_t *item = json_object_get(event, "item");
	struct pin_job *p = rb_calloc(1, sizeof *p);

	p->app = app;
	(void)rb_strlcpy(p->channel, jstr(item, "channel"), sizeof p->channel);
	(void)rb_strlcpy(p->ts, jstr(item, "ts"), sizeof p->ts);
	(void)rb_strlcpy(p->user, jstr(event, "user"), sizeof p->user);
	p->key = rb_asprintf("%s:%s:%s:%s:%s", added ? "pin" : "unpin", p->channel, p->ts, p->user,
			     event_id[0] ? event_id : jstr(event, "event_ts"));
	if (added) {
		if (api_call(app->api, "conversations.replies",
			     json_pack("{s:s, s:s, s:s, s:s, s:b, s:i}", "channel", p->channel, "ts",
				       p->ts, "oldest", p->ts, "latest", p->ts, "inclusive", 1,
				       "limit", 1),
			     pin_message_cb, p)) {
			log_warn("cannot queue conversations.replies");
			pin_free(p);
		}
		return;
	}
	if (db_unpin(app->store, p->channel, p->ts, p->user, p->key, pin_stored_cb, p)) {
		log_error("store: cannot queue the unpin of %s", p->ts);
		pin_free(p);
	}
}
