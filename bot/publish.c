/* rollbot — the incident report's upload, and the drafts (MIT licence, see LICENSE).
 *
 * When a rollback ends (INC_ACT_REPORT) or someone types /rollback report,
 * the incident's record is read from the store (db_report_rows), turned
 * into the report's data by commands/report.c, rendered with
 * templates/incident_report.md and uploaded into the incident's thread
 * with Slack's three-step upload. After a rollback that ran, the
 * stakeholder drafts follow in the thread, one after the other. Each step
 * that fails is logged and audited, and the person who asked is told.
 *
 * The save that ends an incident records that its report is still to be
 * uploaded (incidents.report_pending); the upload clears it when it is over.
 * A replica that dies (or stops) in between leaves it to whoever claims the
 * incident (owner.c), which uploads what the audit log does not show as
 * done already: the report, then each draft not posted yet.
 */
#include "shell.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../commands/report.h"
#include "api.h"
#include "db.h"
#include "log.h"
#include "names.h"
#include "tmpl.h"

/* One report on its way into a thread: read from the store, rendered,
 * then Slack's three-step upload (files.getUploadURLExternal, the bytes,
 * files.completeUploadExternal). It holds copies of what it needs, so the
 * incident may leave memory meanwhile. */
struct report_job {
	struct app *app;
	struct report_job *next; /* app->report_jobs */
	char id[INC_ID_MAX];
	char channel[INC_SLACK_ID_MAX];
	char thread_ts[INC_SLACK_ID_MAX];
	char severity[4];
	bool drafts;
	char *reply_url; /* /rollback report: whom to tell when it fails */
	char *markdown;
	char filename[64];
	char file_id[64];
	json_t *data;
	int next_draft; /* the drafts go one after the other, in this order */
	bool owned;     /* an incident's own report: report_pending is cleared at the end */
	bool resumed;   /* taken over: the audit log says what was done already */
	int64_t fence;  /* the claim it is written under */
	unsigned drafts_done; /* resumed: bit i set when draft_names[i] was posted */
	json_t *people; /* the user IDs the record names, once read; their names asked */
};

static const char *const draft_names[] = { "draft_internal", "draft_status_page",
					   "draft_customer_email" };

/* Whether incident `id`'s report (or its last posts) is being done here:
 * by a job of this replica, the one the incident's end started included
 * (its drafts, paced to Slack's limits, can take seconds), so that the
 * heartbeat does not start a second. */
bool publish_is_reporting(const struct app *app, const char *id)
{
	for (size_t i = 0; i < RB_ARRAY_LEN(app->reporting); i++)
		if (!strcmp(app->reporting[i], id))
			return true;
	for (const struct report_job *j = app->report_jobs; j; j = j->next)
		if (!strcmp(j->id, id))
			return true;
	return false;
}

/* Takes one of the slots of app->reporting for the work left on ended
 * incident `id` (its report, or its last posts: outbox.c). False when it
 * is taken already, or every slot is (the next heartbeat asks again). */
bool publish_slot_take(struct app *app, const char *id)
{
	size_t slot = RB_ARRAY_LEN(app->reporting);

	if (publish_is_reporting(app, id))
		return false;
	for (size_t i = 0; i < RB_ARRAY_LEN(app->reporting); i++)
		if (!app->reporting[i][0])
			slot = i;
	if (slot == RB_ARRAY_LEN(app->reporting))
		return false;
	(void)rb_strlcpy(app->reporting[slot], id, sizeof app->reporting[slot]);
	return true;
}

void publish_slot_drop(struct app *app, const char *id)
{
	for (size_t i = 0; i < RB_ARRAY_LEN(app->reporting); i++)
		if (!strcmp(app->reporting[i], id))
			app->reporting[i][0] = '\0';
}

static void job_free(struct report_job *j)
{
	struct app *app = j->app;

	/* Done (or given up, which is audited and told): not at a stop, when
	 * whoever carries on must do it. */
	if (j->owned && !app->stopping &&
	    db_report_done(app->store, j->id, j->fence, NULL, NULL))
		log_error("store: cannot queue the end of %s's report", j->id);
	if (j->resumed)
		publish_slot_drop(app, j->id);
	for (struct report_job **pp = &app->report_jobs; *pp; pp = &(*pp)->next)
		if (*pp == j) {
			*pp = j->next;
			break;
		}
	free(j->reply_url);
	free(j->markdown);
	json_decref(j->people);
	json_decref(j->data);
	free(j);
}

static void job_failed(struct report_job *j, const char *what, const char *error)
{
	log_warn("%s: the incident report was not uploaded: %s failed: %s", j->id, what,
		 error ? error : "?");
	db_audit(j->app->store, j->id, "rollbot", "report_failed",
	      json_pack("{s:s, s:s}", "step", what, "error", error ? error : "?"), NULL);
	if (j->reply_url)
		shell_reply_url(j->app, j->reply_url,
				"The report could not be uploaded to Slack just now; "
				"`rollbot report` prints it from the database.");
	job_free(j);
}

static void post_next_draft(struct report_job *j);

static void draft_done_cb(void *arg, const struct api_result *res)
{
	struct report_job *j = arg;

	if (!res->ok)
		log_warn("%s: a draft was not posted: %s", j->id, res->error ? res->error : "?");
	post_next_draft(j);
}

/* Posts the next draft (a template over the report data) in the thread,
 * after the previous one, so that they read in order. The status page and
 * the customer email are for P0 and P1 only. */
static void post_next_draft(struct report_job *j)
{
	int n = !strcmp(j->severity, "P0") || !strcmp(j->severity, "P1") ? 3 : 1;
	const char *name;
	char *text;
	json_t *args;

	while (j->next_draft < n && (j->drafts_done & (1u << j->next_draft)))
		j->next_draft++;
	if (j->next_draft >= n || j->app->stopping) {
		job_free(j);
		return;
	}
	name = draft_names[j->next_draft++];
	text = tmpl_render(j->app->tmpl, name, j->data);
	if (!text) {
		log_warn("%s: draft %s could not be rendered", j->id, name);
		post_next_draft(j);
		return;
	}
	args = json_pack("{s:s, s:s, s:s, s:b, s:b}", "channel", j->channel, "text", text,
			 "thread_ts", j->thread_ts, "unfurl_links", 0, "unfurl_media", 0);
	free(text);
	db_audit(j->app->store, j->id, "rollbot", "draft_posted", json_pack("{s:s}", "draft", name),
		 NULL);
	if (api_call(j->app->api, "chat.postMessage", args, draft_done_cb, j)) {
		log_warn("%s: cannot queue draft %s", j->id, name);
		job_free(j);
	}
}

static void complete_done_cb(void *arg, const struct api_result *res)
{
	struct report_job *j = arg;

	if (!res->ok) {
		job_failed(j, "files.completeUploadExternal", res->error);
		return;
	}
	log_info("%s: report uploaded as %s (%s)", j->id, j->filename, j->file_id);
	db_audit(j->app->store, j->id, "rollbot", "report_uploaded",
	      json_pack("{s:s, s:s, s:I}", "file_id", j->file_id, "filename", j->filename, "bytes",
			(json_int_t)strlen(j->markdown)),
	      NULL);
	/* For a person to copy: rollbot never sends them outside Slack. */
	if (j->drafts)
		post_next_draft(j);
	else
		job_free(j);
}

static void bytes_done_cb(void *arg, const struct api_result *res)
{
	struct report_job *j = arg;
	json_t *files;
	char *comment;

	if (!res->ok) {
		job_failed(j, "the upload", res->error);
		return;
	}
	files = json_pack("[{s:s, s:s}]", "id", j->file_id, "title", j->filename);
	comment = rb_asprintf("📄 *Incident report %s*, from the audit log. Root cause and "
			      "preventive measures are left for the team to write.", j->id);
	if (api_call(j->app->api, "files.completeUploadExternal",
		     json_pack("{s:o, s:s, s:s, s:s}", "files", files, "channel_id", j->channel,
			       "thread_ts", j->thread_ts, "initial_comment", comment),
		     complete_done_cb, j))
		job_failed(j, "files.completeUploadExternal", "client_busy");
	free(comment);
}

static void upload_url_cb(void *arg, const struct api_result *res)
{
	struct report_job *j = arg;
	const char *url = jstr(res->body, "upload_url");

	if (!res->ok || !url[0]) {
		job_failed(j, "files.getUploadURLExternal", res->ok ? "no upload_url" : res->error);
		return;
	}
	(void)rb_strlcpy(j->file_id, jstr(res->body, "file_id"), sizeof j->file_id);
	if (api_post_url(j->app->api, url, "text/markdown; charset=utf-8", j->markdown,
			 strlen(j->markdown), bytes_done_cb, j))
		job_failed(j, "the upload", "client_busy");
}

/* A report taken over: notes the drafts already posted, and answers
 * whether the report itself was uploaded. */
static bool already_done(struct report_job *j, const struct db_report *rep)
{
	bool uploaded = false;

	for (size_t i = 0; i < rep->n_rows; i++) {
		const struct report_row *r = &rep->rows[i];
		uploaded = uploaded || !strcmp(r->kind, "report_uploaded");
		for (size_t d = 0; d < RB_ARRAY_LEN(draft_names); d++) {
			char want[64];
			snprintf(want, sizeof want, "\"%s\"", draft_names[d]);
			if (!strcmp(r->kind, "draft_posted") && strstr(r->detail, want))
				j->drafts_done |= 1u << d;
		}
	}
	return uploaded;
}

static void job_start(struct report_job *j);

/* The users (not groups: users.info knows only people) an escalation
 * added, from its detail's "added" ("U1,U2,S3"), into ids. */
static void add_people(json_t *ids, const char *detail)
{
	json_t *d = json_loads(detail, 0, NULL);
	const char *s = json_string_value(json_object_get(d, "added"));

	while (s && *s) {
		size_t n = strcspn(s, ",");

		if (*s == 'U' || *s == 'W')
			json_array_append_new(ids, json_stringn(s, n));
		s += n + (s[n] == ',');
	}
	json_decref(d);
}

/* Every user ID the record names: the requester, who closed it, each
 * row's actor, each pinned message's author and the fallback approvers an
 * escalation added. A new array. */
static json_t *people_of(const struct db_report *rep)
{
	json_t *ids = json_array();

	json_array_append_new(ids, json_string(rep->inc.requested_by));
	json_array_append_new(ids, json_string(rep->inc.closed_by ? rep->inc.closed_by : ""));
	for (size_t i = 0; i < rep->n_rows; i++) {
		const struct report_row *r = &rep->rows[i];
		json_array_append_new(ids, json_string(r->actor));
		if (!strcmp(r->kind, "pinned")) {
			json_t *d = json_loads(r->detail, 0, NULL);
			const char *a = json_string_value(json_object_get(d, "author"));
			if (a)
				json_array_append_new(ids, json_string(a));
			json_decref(d);
		} else if (!strcmp(r->kind, "approval_escalated")) {
			add_people(ids, r->detail);
		}
	}
	return ids;
}

/* The names are in (or not to be had): the record is read again, and the
 * report made with them. */
static void names_done_cb(void *arg)
{
	job_start(arg);
}

/* The report data, people named: the store's names, then this replica's. */
static json_t *data_with_names(struct report_job *j, const struct db_report *rep)
{
	struct report_incident inc = rep->inc;
	json_t *names = json_is_object(rep->inc.names) ? json_deep_copy(rep->inc.names) :
							 json_object();
	json_t *data;

	names_put(j->app, j->people, names);
	inc.names = names;
	/* The operators' zone beside UTC (set as TZ at start, main.c). */
	inc.zone = j->app->cfg->display_timezone;
	data = report_data(&inc, rep->rows, rep->n_rows);
	json_decref(names);
	return data;
}

static void report_read_cb(void *arg, int err, const char *errmsg, const struct db_report *rep)
{
	struct report_job *j = arg;
	char len[24];

	if (err) {
		job_failed(j, "reading the audit log", errmsg);
		return;
	}
	if (rep && !j->people) {
		/* First the names of the people in it (users.info, paced), then
		 * the record again: it is borrowed for this call only. */
		j->people = people_of(rep);
		names_resolve(j->app, j->people, names_done_cb, j);
		return;
	}
	j->data = rep ? data_with_names(j, rep) : NULL;
	if (!j->data) {
		if (j->reply_url) {
			char *t = rb_asprintf("There is no incident %s. `/rollback status` lists the "
					      "ones in progress.", j->id);
			shell_reply_url(j->app, j->reply_url, t);
			free(t);
		}
		job_free(j);
		return;
	}
	(void)rb_strlcpy(j->channel, rep->inc.channel, sizeof j->channel);
	(void)rb_strlcpy(j->severity, rep->inc.severity, sizeof j->severity);
	(void)rb_strlcpy(j->thread_ts, rep->thread_ts, sizeof j->thread_ts);
	if (j->resumed && already_done(j, rep)) {
		log_info("%s: the report was uploaded before the takeover", j->id);
		if (j->drafts)
			post_next_draft(j);
		else
			job_free(j);
		return;
	}
	j->markdown = tmpl_render(j->app->tmpl, "incident_report.md", j->data);
	if (!j->markdown || !j->thread_ts[0]) {
		job_failed(j, "rendering", j->markdown ? "the incident has no thread" : "template");
		return;
	}
	snprintf(j->filename, sizeof j->filename, "%s-report.md", j->id);
	snprintf(len, sizeof len, "%zu", strlen(j->markdown));
	/* Slack wants this one as a form (or query), not JSON. */
	if (api_call(j->app->api, "files.getUploadURLExternal",
		     json_pack("{s:s, s:s}", "filename", j->filename, "length", len), upload_url_cb,
		     j))
		job_failed(j, "files.getUploadURLExternal", "client_busy");
}

/* A job for incident `id`'s report (copied), with its drafts when
 * `drafts`. */
static struct report_job *job_new(struct app *app, const char *id, bool drafts)
{
	struct report_job *j = rb_calloc(1, sizeof *j);

	j->app = app;
	(void)rb_strlcpy(j->id, id, sizeof j->id);
	j->drafts = drafts;
	j->next = app->report_jobs;
	app->report_jobs = j;
	return j;
}

/* Reads the incident's record for `j`; report_read_cb carries on. */
static void job_start(struct report_job *j)
{
	if (!db_report_rows(j->app->store, j->id, report_read_cb, j))
		return;
	log_error("store: cannot queue the report of %s", j->id);
	j->owned = false; /* nothing was done: report_pending stays for another try */
	job_free(j);
}

/* Starts the report of incident `id` (copied), with its drafts when
 * `drafts`; `reply_to` (a response_url, or NULL) is told when it cannot be
 * done. */
void publish_report(struct app *app, const char *id, bool drafts, const char *reply_to)
{
	struct report_job *j = job_new(app, id, drafts);

	j->reply_url = reply_to && reply_to[0] ? rb_strdup(reply_to) : NULL;
	job_start(j);
}

/* INC_ACT_REPORT: the report of an incident that ended, and its drafts when
 * the action asks for them; nothing while the bot is stopping. */
void publish_incident_report(struct app_inc *ai, bool drafts)
{
	struct report_job *j;

	if (ai->app->stopping)
		return; /* report_pending stays: whoever carries on uploads it */
	j = job_new(ai->app, ai->inc.id, drafts);
	j->owned = true;
	j->fence = ai->fence;
	job_start(j);
}

/* The report of an incident that ended on a replica that did not upload
 * it (a crash, a stop), taken over under `fence`. */
void publish_resumed_report(struct app *app, const char *id, int64_t fence, bool drafts)
{
	struct report_job *j;

	if (!publish_slot_take(app, id))
		return; /* on its way, or busy: the next heartbeat asks again */
	log_info("%s: uploading the report that was left to do", id);
	j = job_new(app, id, drafts);
	j->owned = true;
	j->resumed = true;
	j->fence = fence;
	job_start(j);
}
