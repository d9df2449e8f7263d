/* rollbot — /rollback sent: which stakeholder drafts went out (MIT licence, see LICENSE).
 *
 * The drafts rollbot posts after a rollback are for people to send; the
 * runbooks' reports say whether they were. `/rollback sent INC-… email`
 * records it in the audit log (who, when, which draft: a draft_sent row,
 * which the report lists under Communication), then says so in the
 * incident's thread, and to the person. Recorded first, told after.
 */
#include "shell.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "db.h"
#include "log.h"

struct sent_job {
	struct app *app;
	char id[INC_ID_MAX];
	char user[INC_SLACK_ID_MAX];
	char draft[16];
	char *reply_to;
};

static const char *draft_title(const char *draft)
{
	if (!strcmp(draft, "status-page"))
		return "status page update";
	if (!strcmp(draft, "email"))
		return "customer email";
	return "internal update";
}

static void thread_posted_cb(void *arg, const struct api_result *res)
{
	char *id = arg;

	if (!res->ok)
		log_warn("%s: the note that a draft was sent was not posted: %s", id,
			 res->error ? res->error : "?");
	free(id);
}

static void recorded_cb(void *arg, int err, const char *errmsg, bool found, const char *channel,
			const char *thread_ts)
{
	struct sent_job *s = arg;
	char *t;

	if (err) {
		log_error("store: /rollback sent for %s: %s", s->id, errmsg ? errmsg : "?");
		t = rb_strdup("rollbot could not record that in its database just now; nothing was "
			      "recorded. Try again in a minute.");
	} else if (!found) {
		t = rb_asprintf("There is no incident %s. `/rollback status` lists the ones in "
				"progress.", s->id);
	} else {
		t = rb_asprintf("Recorded: the %s of %s was sent. `/rollback report %s` uploads "
				"the report with it.",
				draft_title(s->draft), s->id, s->id);
	}
	if (s->reply_to)
		shell_reply_url(s->app, s->reply_to, t);
	free(t);
	if (!err && found && channel[0] && thread_ts[0]) {
		char *id = rb_strdup(s->id);
		t = rb_asprintf("📣 <@%s> marked the %s of %s as sent.", s->user,
				draft_title(s->draft), s->id);
		if (api_call(s->app->api, "chat.postMessage",
			     json_pack("{s:s, s:s, s:s, s:b, s:b}", "channel", channel, "text", t,
				       "thread_ts", thread_ts, "unfurl_links", 0, "unfurl_media",
				       0),
			     thread_posted_cb, id)) {
			log_warn("%s: cannot queue the note that a draft was sent", s->id);
			free(id);
		}
		free(t);
	}
	free(s->reply_to);
	free(s);
}

void sent_start(struct app *app, const char *id, const char *user, const char *draft,
		const char *reply_to, const char *envelope)
{
	struct sent_job *s = rb_calloc(1, sizeof *s);
	char *key = rb_asprintf("sent:%s", envelope);

	s->app = app;
	(void)rb_strlcpy(s->id, id, sizeof s->id);
	(void)rb_strlcpy(s->user, user, sizeof s->user);
	(void)rb_strlcpy(s->draft, draft, sizeof s->draft);
	s->reply_to = reply_to && reply_to[0] ? rb_strdup(reply_to) : NULL;
	if (db_mark_sent(app->store, s->id, s->user, s->draft, key, recorded_cb, s)) {
		log_error("store: cannot queue /rollback sent for %s", s->id);
		if (s->reply_to)
			shell_reply_url(app, s->reply_to,
					"rollbot could not record that just now; nothing was "
					"recorded. Try again in a minute.");
		free(s->reply_to);
		free(s);
	}
	free(key);
}
