/* rollbot — 📌: people's findings in the report's timeline (MIT licence, see LICENSE).
 *
 * A 📌 reaction on a message in an incident's thread adds that message to
 * the incident's timeline in the audit log, so that the report tells it at
 * the time it was posted; removing the pin takes it out again. The message
 * comes from the database: the replies in incidents' threads are kept as
 * their message events arrive (pins_message, sql/010), and rollbot's own
 * posts are in the outbox. Only a message the database does not have (one
 * posted while no replica was listening) is read back from Slack with
 * conversations.replies, which Slack keeps from bot tokens on channels
 * (doc/DESIGN.md says why the events come first). db_pin_known, db_pin and
 * db_unpin write the rows with a dedupe key, so that a redelivered
 * reaction adds nothing.
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

/* The pinned message, as Slack has it: its author, text and thread. The
 * answer is the message's thread, its parent first: the message is looked
 * for by its ts. */
static void pin_message_cb(void *arg, const struct api_result *res)
{
	struct pin_job *p = arg;
	json_t *msgs = json_object_get(res->body, "messages"), *m = NULL, *x;
	const char *thread;
	char text[1024];
	struct db_pin pin;
	size_t i;

	json_array_foreach(msgs, i, x)
		if (!m && !strcmp(jstr(x, "ts"), p->ts))
			m = x;
	thread = jstr(m, "thread_ts");
	if (!res->ok || !m) {
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

/* What the database knew of the pinned message: the pin is recorded, or,
 * for a message it does not have, Slack is asked. */
static void pin_known_cb(void *arg, int err, const char *errmsg, const char *incident)
{
	struct pin_job *p = arg;

	if (!err && incident) {
		pin_stored_cb(p, 0, NULL, incident);
		return;
	}
	if (err)
		log_warn("store: could not look up the pinned message %s %s (%s): asking Slack",
			 p->channel, p->ts, errmsg ? errmsg : "?");
	if (api_call(p->app->api, "conversations.replies",
		     json_pack("{s:s, s:s, s:s, s:s, s:b, s:i}", "channel", p->channel, "ts", p->ts,
			       "oldest", p->ts, "latest", p->ts, "inclusive", 1, "limit", 15),
		     pin_message_cb, p)) {
		log_warn("cannot queue conversations.replies");
		pin_free(p);
	}
}

static void thread_kept_cb(void *arg, int err, const char *errmsg, const char *incident)
{
	(void)arg;
	if (err)
		log_error("store: could not keep a thread message: %s", errmsg ? errmsg : "?");
	else if (incident)
		log_debug("%s: a reply in its thread kept", incident);
}

/* A message event in an incidents channel: a reply (or an edit of one) in a
 * thread is kept when the thread is an incident's, for a 📌 on it later. */
void pins_message(struct app *app, json_t *event)
{
	json_t *m = event;
	const char *subtype = jstr(event, "subtype");

	if (!strcmp(subtype, "message_changed"))
		m = json_object_get(event, "message");
	else if (subtype[0] && strcmp(subtype, "thread_broadcast"))
		return; /* joins, bots' messages, deletions: nothing to keep */
	if (!jstr(m, "thread_ts")[0] || !strcmp(jstr(m, "thread_ts"), jstr(m, "ts")) ||
	    !jstr(m, "user")[0] || jstr(m, "bot_id")[0])
		return; /* a top-level message, or one with no person behind it */
	if (db_thread_message(app->store, jstr(event, "channel"), jstr(m, "ts"),
			      jstr(m, "thread_ts"), jstr(m, "user"), jstr(m, "text"), thread_kept_cb,
			      NULL))
		log_warn("store: cannot queue a thread message");
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
		if (db_pin_known(app->store, p->channel, p->ts, p->user, p->key, app->bot_user_id,
				 pin_known_cb, p)) {
			log_error("store: cannot queue the pin of %s", p->ts);
			pin_free(p);
		}
		return;
	}
	if (db_unpin(app->store, p->channel, p->ts, p->user, p->key, pin_stored_cb, p)) {
		log_error("store: cannot queue the unpin of %s", p->ts);
		pin_free(p);
	}
}
