/* rollbot — several replicas on one database (MIT licence, see LICENSE).
 *
 * DESIGN
 *
 * Slack spreads an app's envelopes over every socket it has open, so any
 * replica may receive anything; but only one may act on an incident: its
 * owner (sql/007). A replica owns what it declares, and what it claims:
 * at start, the incidents it held under the same name; afterwards, every
 * incident whose owner's lease ran out (a replica that died).
 *
 * Once a second the heartbeat (db_heartbeat, sql/008) renews this replica's
 * leases and reads every incident with work, whoever carries it:
 *   - one of ours that the answer gives to another owner or fence was taken
 *     over (this replica was paused past its lease): it is dropped at once
 *     (owner_lost), and any write still queued for it finds the fence moved
 *     and changes nothing (DB_ELOST);
 *   - an orphan is claimed (fence + 1) and carried on exactly as after a
 *     restart (resume_incident, INC_EV_RESUMED): an interrupted step is
 *     looked at before anything runs again, the request is recounted;
 *   - the list itself answers `/rollback status` and the one-rollback-per-
 *     service check in the ack path, for incidents another replica carries.
 *
 * Envelopes about an incident (✅/❌ on its request, resolve, cancel) that
 * a replica receives go to the incident's inbox in PostgreSQL with their
 * delivery key, in one transaction, and NOTIFY wakes the owner; the owner
 * applies its inbox in order and deletes each row after its effects are
 * queued. A NOTIFY is not stored, so the heartbeat also looks every second:
 * a lost wake-up costs a second, never an approval. The audit rows of an
 * inbox row are keyed by its ID, so one applied again after a crash adds
 * none.
 */
#include "shell.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "db.h"
#include "log.h"
#include "store.h"

#define CLAIM_MAX 20 /* incidents claimed by one heartbeat */

static void notify_cb(void *arg, const char *payload)
{
	struct app *app = arg;

	/* NULL: LISTEN is (again) in place, and a wake-up may have been lost
	 * while it was not. "" names no owner: the claimer will look. */
	if (!payload || !strcmp(payload, app->owner))
		owner_wake(app);
}

/* Names this replica and listens for wake-ups. */
void owner_init(struct app *app)
{
	if (app->opt->replica && app->opt->replica[0]) {
		(void)rb_strlcpy(app->owner, app->opt->replica, sizeof app->owner);
	} else {
		char host[64] = "localhost";
		(void)gethostname(host, sizeof host);
		host[sizeof host - 1] = '\0';
		snprintf(app->owner, sizeof app->owner, "%s:%ld", host, (long)getpid());
	}
	log_info("replica %s", app->owner);
	if (store_listen(app->store, "rollbot_inbox", notify_cb, app))
		log_error("store: cannot listen for the inbox: the heartbeat reads it every second");
}

/* `ai` is another replica's now: nothing acts on it here any more. */
void owner_lost(struct app_inc *ai, const char *why)
{
	if (ai->lost)
		return;
	ai->lost = true;
	ilog_warn(&ai->inc, "this replica stops acting on it: %s", why);
}

/* ---- the inbox ---- */

/* One inbox row, applied to the incident as if this replica had received
 * the envelope. */
static void apply(struct app_inc *ai, const struct db_inbox_item *it)
{
	struct app *app = ai->app;
	char key[48];

	snprintf(key, sizeof key, "inbox:%lld", (long long)it->id);
	app->audit_key = key;
	app->audit_seq = 0;
	if (!strcmp(it->kind, "reaction")) {
		struct inc_event ev = {
			.kind = INC_EV_REACTION,
			.user = it->actor,
			.reaction = jstr(it->detail, "emoji"),
			.channel = jstr(it->detail, "channel"),
			.ts = jstr(it->detail, "ts"),
			.added = json_is_true(json_object_get(it->detail, "added")),
		};
		if (ai->inc.state == INC_AWAITING_APPROVAL && !strcmp(ev.ts, ai->inc.approval_ts))
			shell_step(ai, &ev);
	} else {
		struct inc_event ev = { .kind = strcmp(it->kind, "resolve") ? INC_EV_CANCEL
									     : INC_EV_RESOLVE,
					.user = it->actor, .error = jstr(it->detail, "note") };
		app->reply_url = jstr(it->detail, "response_url");
		shell_step(ai, &ev);
		app->reply_url = NULL;
	}
	app->audit_key = NULL;
}

static void take_cb(void *arg, int err, const char *errmsg, const struct db_inbox_item *items,
		    size_t n)
{
	struct app *app = arg;

	app->taking = false;
	if (err) {
		log_warn("store: could not read the inbox: %s", errmsg ? errmsg : "?");
		return;
	}
	for (size_t i = 0; i < n && !app->released; i++) {
		struct app_inc *ai = shell_find_incident(app, items[i].incident);

		/* Ours in the database but not in memory yet (a claim on its
		 * way): it waits in the inbox for the next look. */
		if (!ai)
			continue;
		ilog_info(&ai->inc, "applying %s from %s (inbox %lld)", items[i].kind,
			  items[i].actor, (long long)items[i].id);
		apply(ai, &items[i]);
		/* After the effects' writes: the store runs commands in order, so
		 * the next take, queued after this, never sees the row again. */
		if (db_inbox_done(app->store, items[i].id, NULL, NULL))
			log_error("store: cannot queue the end of inbox row %lld",
				  (long long)items[i].id);
		shell_inc_release(ai);
	}
	if (app->take_again) {
		app->take_again = false;
		owner_wake(app);
	}
}

/* Reads this replica's inbox now (or once the read in flight is done). */
void owner_wake(struct app *app)
{
	if (!app->resumed || app->stopping)
		return;
	if (app->taking) {
		app->take_again = true;
		return;
	}
	if (db_inbox_take(app->store, app->owner, 0, take_cb, app)) {
		log_warn("store: cannot queue a read of the inbox");
		return;
	}
	app->taking = true;
}

/* ---- claims ---- */

static bool skipped(const struct app *app, const char *id)
{
	for (size_t i = 0; i < app->n_skipped; i++)
		if (!strcmp(app->skipped[i], id))
			return true;
	return false;
}

static void claim_cb(void *arg, int err, const char *errmsg, const struct db_incident *rows,
		     size_t n)
{
	struct app *app = arg;

	app->claiming = false;
	if (err) {
		log_warn("store: could not claim incidents: %s", errmsg ? errmsg : "?");
		return;
	}
	for (size_t r = 0; r < n && !app->stopping; r++) {
		if (resume_claimed(app, &rows[r], "taken over"))
			continue;
		if (app->n_skipped < RB_ARRAY_LEN(app->skipped))
			(void)rb_strlcpy(app->skipped[app->n_skipped++], rows[r].inc.id,
					 sizeof app->skipped[0]);
	}
	owner_wake(app);
}

/* ---- the heartbeat ---- */

static int open_cmp(const void *key, const void *elem)
{
	return strcmp(key, ((const struct db_open *)elem)->id);
}

/* Incident `id` in the heartbeat's answer (in byte order of ID: a binary
 * search, so that a heartbeat costs O(n log n) with n incidents). */
static const struct db_open *find_open(const struct db_open *o, size_t n, const char *id)
{
	return n ? bsearch(id, o, n, sizeof *o, open_cmp) : NULL;
}

static int id_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Keeps what the heartbeat saw, for the ack path. */
static void keep_open(struct app *app, const struct db_open *o, size_t n)
{
	free(app->open);
	app->open = rb_calloc(n + 1, sizeof *app->open);
	app->n_open = n;
	for (size_t i = 0; i < n; i++) {
		struct app_open *a = &app->open[i];
		(void)rb_strlcpy(a->id, o[i].id, sizeof a->id);
		(void)rb_strlcpy(a->service, o[i].service, sizeof a->service);
		(void)rb_strlcpy(a->state, o[i].state, sizeof a->state);
		(void)rb_strlcpy(a->severity, o[i].severity, sizeof a->severity);
		a->declared_ms = now_ms(app) - o[i].age_ms;
		a->mine = !strcmp(o[i].owner, app->owner);
	}
}

static void beat_cb(void *arg, int err, const char *errmsg, const struct db_open *o, size_t n)
{
	struct app *app = arg;
	bool mine_missing = false, orphans = false;

	app->beating = false;
	if (err) {
		log_warn("store: heartbeat failed: %s", errmsg ? errmsg : "?");
		return;
	}
	if (app->stopping)
		return;
	if (n != app->n_open)
		log_info("heartbeat: %zu incident(s) with work across the replicas", n);
	keep_open(app, o, n);
	for (struct app_inc *ai = app->incidents, *next; ai; ai = next) {
		const struct db_open *row = find_open(o, n, ai->inc.id);
		char why[200];

		next = ai->next;
		if (ai->lost || !row)
			continue; /* nothing left to do for it: it is ending here */
		if (!strcmp(row->owner, app->owner) && row->fence == ai->fence)
			continue;
		snprintf(why, sizeof why, "replica %s has taken it over",
			 row->owner[0] ? row->owner : "(none)");
		owner_lost(ai, why);
		shell_inc_release(ai);
	}
	{
		/* The IDs carried here, sorted, to look each row up. */
		size_t n_mem = 0, k = 0;
		const char **mem;

		for (struct app_inc *ai = app->incidents; ai; ai = ai->next)
			n_mem += !ai->lost;
		mem = rb_calloc(n_mem + 1, sizeof *mem);
		for (struct app_inc *ai = app->incidents; ai; ai = ai->next)
			if (!ai->lost)
				mem[k++] = ai->inc.id;
		qsort(mem, n_mem, sizeof *mem, id_cmp);
		for (size_t i = 0; i < n && !(mine_missing && orphans); i++) {
			const char *id = o[i].id;
			if (!strcmp(o[i].owner, app->owner))
				mine_missing = mine_missing ||
					       (!bsearch(&id, mem, n_mem, sizeof *mem, id_cmp) &&
						!skipped(app, id) && !publish_is_reporting(app, id));
			else if (o[i].orphan)
				orphans = true;
		}
		free(mem);
	}
	if ((mine_missing || orphans) && !app->claiming) {
		if (db_claim(app->store, app->owner, CLAIM_MAX, mine_missing, claim_cb, app))
			log_warn("store: cannot queue a claim");
		else
			app->claiming = true;
	}
}

/* Once a second, from the sweep: the heartbeat and a look at the inbox. */
void owner_tick(struct app *app)
{
	if (!app->resumed || app->stopping || !store_connected(app->store))
		return;
	owner_wake(app);
	if (app->beating)
		return;
	if (db_heartbeat(app->store, app->owner, beat_cb, app)) {
		log_warn("store: cannot queue the heartbeat");
		return;
	}
	app->beating = true;
}

/* The incident of `service` in progress on another replica, as the last
 * heartbeat saw it, or NULL. This replica's own incidents are left to
 * app->incidents, which is exact: the heartbeat's picture of one resolved
 * since would refuse a /rollback for a service that is free (the database's
 * lock stays the last word either way). */
const struct app_open *owner_open_for_service(const struct app *app, const char *service)
{
	for (size_t i = 0; i < app->n_open; i++) {
		enum inc_state st;
		if (app->open[i].mine || strcmp(app->open[i].service, service) ||
		    inc_state_from_name(app->open[i].state, &st) || !inc_state_holds_service(st))
			continue;
		if (!shell_find_incident((struct app *)app, app->open[i].id))
			return &app->open[i];
	}
	return NULL;
}

/* A clean stop hands this replica's incidents over at once, rather than
 * after their leases run out. */
void owner_release(struct app *app)
{
	if (app->released)
		return;
	app->released = true;
	if (db_release(app->store, app->owner, NULL, NULL))
		log_warn("store: cannot queue the release of this replica's incidents");
}
