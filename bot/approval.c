/* rollbot — approval, around the policy (MIT licence, see LICENSE).
 *
 * commands/policy.c decides whose ✅ counts; this file gives it what it
 * needs and does an approval's I/O: the policy and timings in force for an
 * incident (from the configuration, with its approver group's members as
 * usergroups.users.list last said, read again every GROUP_REFRESH_S), the
 * bot's own ✅ and ❌ on the request (added one after the other), private
 * notes to people, and the recount of the request's reactions after a
 * restart. The one-second sweep lives here too: it fires approval timeouts,
 * and also the status updates and verification rounds that are due, so
 * that no incident owns a loop handle of its own.
 */
#include "shell.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../commands/policy.h"
#include "api.h"
#include "db.h"
#include "log.h"

#define GROUP_REFRESH_S 300 /* approver groups are read again every 5 minutes */

/* The approval policy in force for `inc` (its service's, else the
 * configuration's), with its approver group's members as last read. *p
 * borrows from the configuration and the groups: use it at once (the next
 * read of the groups frees the members it points to). */
void approval_policy(const struct app *app, const struct incident *inc, struct pol_policy *p)
{
	const struct config_approval *a =
		config_approval_for(app->cfg, config_service(app->cfg, inc->service));

	memset(p, 0, sizeof *p);
	p->approvers = (const char *const *)a->approvers;
	p->n_approvers = a->n_approvers;
	p->group_id = a->approver_group;
	p->group_unknown = a->approver_group != NULL;
	for (size_t i = 0; a->approver_group && i < app->n_groups; i++) {
		if (strcmp(app->groups[i].id, a->approver_group))
			continue;
		p->group_unknown = !app->groups[i].known;
		/* pol_react reads IDs as strings: one pointer per member. */
		p->group_members = (const char *const *)app->groups[i].member_ptrs;
		p->n_group_members = app->groups[i].n_members;
	}
	p->required = a->required;
	p->allow_self_approval = a->allow_self_approval;
	memcpy(p->skip, a->skip, sizeof p->skip);
	p->timeout_ms = a->timeout_ms;
	/* The fallback approvers, their group read like the approvers'. */
	p->escalate_after_ms = a->escalate_after_ms;
	p->fallback = (const char *const *)a->fallback;
	p->n_fallback = a->n_fallback;
	p->fallback_group_id = a->fallback_group;
	p->fallback_group_unknown = a->fallback_group != NULL;
	for (size_t i = 0; a->fallback_group && i < app->n_groups; i++) {
		if (strcmp(app->groups[i].id, a->fallback_group))
			continue;
		p->fallback_group_unknown = !app->groups[i].known;
		p->fallback_members = (const char *const *)app->groups[i].member_ptrs;
		p->n_fallback_members = app->groups[i].n_members;
	}
}

/* Who could approve, as Slack markup: "<@U1>", "<@U1> and <@U2>",
 * "<@U1>, <@U2> and 3 others". */
static int eligible_phrase(struct rb_buf *b, const char *const *who, int n, int shown)
{
	int rc = 0;

	for (int i = 0; i < shown && !rc; i++)
		rc = rb_buf_printf(b, "%s<@%s>", !i ? "" : i == n - 1 ? " and " : ", ", who[i]);
	if (!rc && n > shown)
		rc = rb_buf_printf(b, " and %d other%s", n - shown, n - shown == 1 ? "" : "s");
	return rc;
}

/* Why nobody could approve a rollback of `inc` and what to do, for a
 * person at 3 a.m. (the /rollback's refusal and the no_approvers message):
 * a new string, or NULL when the request can be approved, needs no
 * approval at its severity, or waits on a group whose members are not
 * known yet (rollbot does not refuse on what it does not know). */
char *approval_unreachable_text(const struct app *app, const struct incident *inc)
{
	const struct config_service *svc = config_service(app->cfg, inc->service);
	struct pol_policy p;
	struct pol_request req = { .requester = inc->requested_by, .with_db = inc->with_db };
	const char *who[8];
	bool self_listed, self_excluded, fb;
	int n, needed, others, rc;
	struct rb_buf b;

	approval_policy(app, inc, &p);
	if (pol_skip_approval(&p, inc->severity, inc->with_db) || !pol_unapprovable(&p, &req))
		return NULL;
	/* Everyone counted, the fallback approvers included: they were. */
	fb = pol_has_fallback(&p);
	req.escalated = fb;
	n = pol_eligible(&p, &req, who, (int)RB_ARRAY_LEN(who));
	needed = pol_needed(&p, inc->with_db);
	self_listed = pol_is_approver(&p, inc->requested_by);
	/* One more than needed when nobody may approve their own rollback. */
	others = !p.allow_self_approval || inc->with_db;
	self_excluded = self_listed && others;
	rb_buf_init(&b, 4096);
	rc = rb_buf_printf(&b, "*%s* needs %d approval%s%s, ", inc->service, needed,
			   needed == 1 ? "" : "s",
			   inc->with_db ? " from two different people for a database rollback" : "");
	if (!rc && n == 0)
		rc = rb_buf_printf(&b, "%s%s.",
				   self_excluded ? "and you are its only approver (your own ✅ "
						   "does not count)"
						 : "and it has no approver",
				   fb ? ", and its fallback approvers add nobody else" : "");
	else if (!rc) {
		rc = rb_buf_puts(&b, "and only ");
		if (!rc)
			rc = eligible_phrase(&b, who, n,
					     n < (int)RB_ARRAY_LEN(who) ? n : (int)RB_ARRAY_LEN(who));
		if (!rc)
			rc = rb_buf_printf(&b, " could approve it%s%s.",
					   fb ? ", its fallback approvers included" : "",
					   self_excluded ? " (your own ✅ does not count)" : "");
	}
	if (!rc)
		rc = rb_buf_puts(&b, "\nWhat you can do now:");
	/* Someone who is not an approver asks: then the requester's ✅ counts. */
	if (!rc && self_excluded && n + 1 >= needed)
		rc = rb_buf_printf(&b, "\n• ask someone who is not an approver to type the same "
				       "`/rollback %s …`: then your ✅ counts.",
				   inc->service);
	for (int s = CMD_SEV_P0; !rc && !inc->with_db && s <= CMD_SEV_P3; s++)
		if (p.skip[s])
			rc = rb_buf_printf(&b, "\n• if this is a %s incident, add `--severity %s`: "
					       "it needs no approval.",
					   cmd_severity_name((enum cmd_severity)s),
					   cmd_severity_name((enum cmd_severity)s));
	if (!rc)
		rc = rb_buf_printf(&b, "\n• have `approval.approvers`%s%s%s fixed in rollbot's "
				       "configuration: it needs at least %d approver%s%s.",
				   fb ? " (or `fallback`)" : "", svc && svc->has_approval ? " of " : "",
				   svc && svc->has_approval ? inc->service : "", needed + others,
				   needed + others == 1 ? "" : "s",
				   others ? " so that anyone's rollback can be approved" : "");
	if (rc) {
		rb_buf_free(&b);
		return rb_strdup("nobody could approve it: see `approval` in rollbot's configuration.");
	}
	return rb_buf_steal(&b);
}

/* Why a request escalated from the start asks the fallback approvers at
 * once, in one line for the request (without its end): "<@U1> is the only
 * approver and cannot approve their own rollback". A new string. */
char *approval_short_handed_text(const struct app *app, const struct incident *inc)
{
	struct pol_policy p;
	struct pol_request req = { .requester = inc->requested_by, .with_db = inc->with_db };
	int n, needed;
	bool self_excluded;

	approval_policy(app, inc, &p);
	n = pol_eligible(&p, &req, NULL, 0);
	needed = pol_needed(&p, inc->with_db);
	self_excluded = pol_is_approver(&p, inc->requested_by) &&
			(!p.allow_self_approval || inc->with_db);
	if (self_excluded && n == 0)
		return rb_asprintf("<@%s> is the only approver and cannot approve their own "
				   "rollback",
				   inc->requested_by);
	if (self_excluded)
		return rb_asprintf("<@%s> cannot approve their own rollback, and only %d other "
				   "approver%s could, for %d approvals needed",
				   inc->requested_by, n, n == 1 ? "" : "s", needed);
	if (n == 0)
		return rb_strdup("no approver could approve this rollback");
	return rb_asprintf("only %d approver%s could approve this rollback, and %d approvals "
			   "are needed",
			   n, n == 1 ? "" : "s", needed);
}

/* The update interval and the verification window and interval for `inc`. */
void approval_timing(const struct app *app, const struct incident *inc, struct inc_timing *t)
{
	const struct config_service *svc = config_service(app->cfg, inc->service);
	const struct config_verify *v = svc ? &svc->verify : &app->cfg->verify;

	t->update_interval_ms = app->cfg->update_interval_ms;
	t->verify_window_ms = v->window_ms;
	t->verify_interval_ms = v->interval_ms;
}

static void api_logged_cb(void *arg, const struct api_result *res)
{
	const char *what = arg;

	if (!res->ok && !(res->error && !strcmp(res->error, "already_reacted")))
		log_warn("%s failed: %s", what, res->error ? res->error : "?");
}

static void react_now(struct app_inc *ai, const char *name);

static void react_done_cb(void *arg, const struct api_result *res)
{
	struct app_inc *ai = arg;

	api_logged_cb("reactions.add", res);
	ai->pending--;
	ai->reacting = false;
	if (ai->n_reactions_waiting) {
		const char *next = ai->reactions_waiting[0];
		memmove(ai->reactions_waiting, ai->reactions_waiting + 1,
			(size_t)--ai->n_reactions_waiting * sizeof ai->reactions_waiting[0]);
		react_now(ai, next);
	}
	shell_inc_release(ai);
}

static void react_now(struct app_inc *ai, const char *name)
{
	json_t *args = json_pack("{s:s, s:s, s:s}", "channel", ai->inc.channel, "timestamp",
				 ai->inc.approval_ts, "name", name);

	if (api_call(ai->app->api, "reactions.add", args, react_done_cb, ai)) {
		ilog_warn(&ai->inc, "cannot queue reactions.add");
		return;
	}
	ai->pending++;
	ai->reacting = true;
}

/* INC_ACT_REACT: adds reaction `name` (a static string) to the approval
 * request, after the bot's reactions still in flight, so that they show in
 * the order inc_step() asked for them. */
void approval_react(struct app_inc *ai, const char *name)
{
	if (!ai->reacting) {
		react_now(ai, name);
		return;
	}
	if (ai->n_reactions_waiting < (int)RB_ARRAY_LEN(ai->reactions_waiting))
		ai->reactions_waiting[ai->n_reactions_waiting++] = name;
	else
		ilog_warn(&ai->inc, "too many reactions waiting; %s not added", name);
}

/* INC_ACT_NOTIFY_USER: a private note to a->user in the channel (in the
 * incident's thread once there is one). Fire and forget: a failure is
 * logged. */
void approval_notify_user(struct app_inc *ai, const struct inc_action *a)
{
	json_t *args = json_pack("{s:s, s:s, s:s}", "channel", ai->inc.channel, "user", a->user,
				 "text", a->text);

	if (ai->inc.announcement_ts[0])
		json_object_set_new(args, "thread_ts", json_string(ai->inc.announcement_ts));
	if (api_call(ai->app->api, "chat.postEphemeral", args, api_logged_cb,
		     "chat.postEphemeral"))
		ilog_warn(&ai->inc, "cannot queue chat.postEphemeral");
}

/* The users of every reaction on the message named `want`. Borrowed. */
static json_t *reaction_users(json_t *reactions, const char *want)
{
	json_t *users = json_array(), *r;
	size_t i;

	json_array_foreach(reactions, i, r) {
		if (!pol_emoji_is(jstr(r, "name"), want))
			continue;
		json_t *u;
		size_t k;
		json_array_foreach(json_object_get(r, "users"), k, u)
			if (json_is_string(u))
				json_array_append(users, u);
	}
	return users;
}

static bool json_has_string(json_t *arr, const char *s)
{
	json_t *v;
	size_t i;

	json_array_foreach(arr, i, v)
		if (!strcmp(json_string_value(v) ? json_string_value(v) : "", s))
			return true;
	return false;
}

/* A difference the recount found, while the database says whether it is
 * news (the snapshot). */
struct recount_item {
	struct app_inc *ai;
	bool added;
	const char *emoji; /* static */
	char user[POL_USER_MAX];
	bool again; /* ai->recount_again when it was made */
};

static void snapshot_cb(void *arg, int err, const char *errmsg, enum db_react_word w,
			const char *incident)
{
	struct recount_item *it = arg;
	struct app_inc *ai = it->ai;
	struct inc_event ev = { .kind = INC_EV_REACTION, .user = it->user, .reaction = it->emoji,
				.channel = ai->inc.channel, .ts = ai->inc.approval_ts,
				.added = it->added, .recount = true };

	(void)incident;
	ai->pending--;
	if (--ai->recount_waiting == 0)
		ai->recounting = false;
	if (err)
		ilog_warn(&ai->inc, "could not record the recount of a reaction (%s): it counts "
				    "as found", errmsg ? errmsg : "?");
	/* Unchanged: an event recorded it already, and that event is applied
	 * from the inbox (or was): counting it here too would count it twice. */
	if ((err || w == DB_REACT_APPLIED || (it->again && it->added)) &&
	    ai->inc.state == INC_AWAITING_APPROVAL)
		shell_step(ai, &ev);
	free(it);
	shell_inc_release(ai);
}

/* Records one reaction found by the recount as a snapshot of the request
 * (rollbot_reaction at the time read): it is handed to the state machine
 * only if the database did not know it yet. */
static void recount_one(struct app_inc *ai, const char *user, const char *emoji, bool added)
{
	struct recount_item *it;
	struct timespec t;
	char now_ts[32];

	if (ai->inc.state != INC_AWAITING_APPROVAL || !user || !strcmp(user, ai->app->bot_user_id))
		return;
	it = rb_calloc(1, sizeof *it);
	it->ai = ai;
	it->added = added;
	it->again = ai->recount_again;
	it->emoji = emoji;
	(void)rb_strlcpy(it->user, user, sizeof it->user);
	clock_gettime(CLOCK_REALTIME, &t);
	snprintf(now_ts, sizeof now_ts, "%lld.%06ld", (long long)t.tv_sec, t.tv_nsec / 1000);
	if (db_react(ai->app->store, NULL, ai->inc.channel, ai->inc.approval_ts, user, emoji, added,
		     now_ts, snapshot_cb, it)) {
		free(it);
		ilog_warn(&ai->inc, "cannot queue the recount of a reaction");
		return;
	}
	ai->pending++;
	ai->recount_waiting++;
	ai->recounting = true;
}

/* The request's reactions as they are now. Rejections go first: when both
 * happened while the bot was down, their order is unknown, and not rolling
 * back is the side to err on. Then approvals that were removed, then the
 * approvals present. */
static void recount_done_cb(void *arg, const struct api_result *res)
{
	struct app_inc *ai = arg;
	json_t *reactions, *rejects, *approves, *u;
	char counted[POL_MAX_APPROVERS][POL_USER_MAX];
	int n_counted = ai->inc.pol.n_approved;
	size_t i;

	ai->pending--;
	ai->recounting = false;
	if (!res->ok) {
		ai->recount_again = false;
		ilog_warn(&ai->inc, "could not read the approval request's reactions (%s): "
				    "only reactions from now on count",
			  res->error ? res->error : "?");
		shell_inc_release(ai);
		return;
	}
	reactions = json_object_get(json_object_get(res->body, "message"), "reactions");
	rejects = reaction_users(reactions, POL_EMOJI_REJECT);
	approves = reaction_users(reactions, POL_EMOJI_APPROVE);
	memcpy(counted, ai->inc.pol.approved_by, sizeof counted);
	json_array_foreach(rejects, i, u)
		recount_one(ai, json_string_value(u), POL_EMOJI_REJECT, true);
	for (int k = 0; k < n_counted; k++)
		if (!json_has_string(approves, counted[k]))
			recount_one(ai, counted[k], POL_EMOJI_APPROVE, false);
	json_array_foreach(approves, i, u) {
		bool known = false;
		for (int k = 0; k < ai->inc.pol.n_approved; k++)
			known = known || !strcmp(ai->inc.pol.approved_by[k], json_string_value(u));
		if (!known)
			recount_one(ai, json_string_value(u), POL_EMOJI_APPROVE, true);
	}
	ai->recount_again = false;
	ilog_info(&ai->inc, "recounted the approval request: %zu approval(s), %zu rejection(s) on "
			    "it; state %s",
		  json_array_size(approves), json_array_size(rejects),
		  inc_state_name(ai->inc.state));
	json_decref(rejects);
	json_decref(approves);
	shell_inc_release(ai);
}


/* INC_ACT_RECOUNT: reads the request's reactions (reactions.get) and hands
 * the changes the bot missed to the state machine; the approval deadline
 * waits for the answer (ai->recounting). */
void approval_recount(struct app_inc *ai)
{
	/* Escalated: a fallback approver's ✅ given before the escalation was
	 * recorded as not counting, and counts now. */
	if (ai->inc.escalated)
		ai->recount_again = true;
	json_t *args = json_pack("{s:s, s:s, s:b}", "channel", ai->inc.channel, "timestamp",
				 ai->inc.approval_ts, "full", 1);

	if (api_call(ai->app->api, "reactions.get", args, recount_done_cb, ai)) {
		ilog_warn(&ai->inc, "cannot queue reactions.get");
		return;
	}
	ai->pending++;
	ai->recounting = true;
}

#define GROUP_BACKOFF_MAX_MS 60000

static void group_update(struct app_group *g, const struct api_result *res)
{
	json_t *users = json_object_get(res->body, "users"), *u;
	size_t i, n = 0;

	if (!res->ok) {
		if (g->known) {
			log_warn("could not read the members of approver group %s (%s): keeping "
				 "the last list",
				 g->id, res->error ? res->error : "?");
			return;
		}
		/* Never read: its members cannot approve until it is, so it is
		 * asked again soon, not at the next refresh. */
		g->backoff_ms = g->backoff_ms ? g->backoff_ms * 2 : 1000;
		if (g->backoff_ms > GROUP_BACKOFF_MAX_MS)
			g->backoff_ms = GROUP_BACKOFF_MAX_MS;
		g->retry_at_ms = now_ms(g->app) + g->backoff_ms;
		log_warn("could not read the members of approver group %s (%s): its members "
			 "cannot approve yet; retrying in %lld s",
			 g->id, res->error ? res->error : "?", (long long)(g->backoff_ms / 1000));
		return;
	}
	g->retry_at_ms = 0;
	g->backoff_ms = 0;
	free(g->members);
	free(g->member_ptrs);
	g->members = rb_calloc(json_array_size(users) + 1, sizeof *g->members);
	g->member_ptrs = rb_calloc(json_array_size(users) + 1, sizeof *g->member_ptrs);
	json_array_foreach(users, i, u) {
		if (!json_is_string(u) || strlen(json_string_value(u)) >= POL_USER_MAX)
			continue;
		(void)rb_strlcpy(g->members[n], json_string_value(u), POL_USER_MAX);
		g->member_ptrs[n] = g->members[n];
		n++;
	}
	if (n != g->n_members)
		log_info("approver group %s has %zu member(s)", g->id, n);
	g->n_members = n;
}

static void group_done_cb(void *arg, const struct api_result *res)
{
	struct app_group *g = arg;
	struct app *app = g->app;
	bool was_known = g->known;

	g->reading = false;
	group_update(g, res);
	g->known = g->known || res->ok;
	/* Incidents waiting for approval are recounted once the groups are
	 * known, so that a member's ✅ given while the bot was down counts. */
	if (app->groups_pending && --app->groups_pending == 0) {
		resume_start(app);
		return;
	}
	/* A group read for the first time after the start: a member's ✅ given
	 * meanwhile did not count then, and counts now. */
	if (!was_known && g->known && !app->stopping)
		for (struct app_inc *ai = app->incidents; ai; ai = ai->next)
			if (ai->inc.state == INC_AWAITING_APPROVAL && ai->inc.approval_ts[0] &&
			    !ai->lost && !ai->recounting) {
				ai->recount_again = true;
				approval_recount(ai);
			}
}

static void group_read(struct app_group *g)
{
	if (g->reading)
		return;
	if (api_call(g->app->api, "usergroups.users.list", json_pack("{s:s}", "usergroup", g->id),
		     group_done_cb, g)) {
		log_warn("cannot queue usergroups.users.list");
		return;
	}
	g->reading = true;
}

/* Reads every approver group's members again (usergroups.users.list). */
void approval_refresh_groups(struct app *app)
{
	for (size_t i = 0; i < app->n_groups; i++)
		group_read(&app->groups[i]);
}

/* Approver groups never read yet, for /ready. */
size_t approval_groups_unknown(const struct app *app)
{
	size_t n = 0;

	for (size_t i = 0; i < app->n_groups; i++)
		n += !app->groups[i].known;
	return n;
}

/* Every approver and fallback group named in the configuration, once. */
void approval_groups_init(struct app *app)
{
	const struct config *cfg = app->cfg;

	app->groups = rb_calloc(2 * (cfg->n_services + 1), sizeof *app->groups);
	for (size_t j = 0; j < 2 * (cfg->n_services + 1); j++) {
		size_t i = j / 2;
		const struct config_approval *a = i < cfg->n_services
			? (cfg->services[i].has_approval ? &cfg->services[i].approval : NULL)
			: &cfg->approval;
		const char *id = !a ? NULL : j % 2 ? a->fallback_group : a->approver_group;
		bool seen = !id;
		for (size_t k = 0; k < app->n_groups && !seen; k++)
			seen = !strcmp(app->groups[k].id, id);
		if (!seen) {
			app->groups[app->n_groups].app = app;
			app->groups[app->n_groups++].id = id;
		}
	}
}

/* Frees what approval_groups_init and the refreshes allocated. */
void approval_groups_free(struct app *app)
{
	for (size_t i = 0; i < app->n_groups; i++) {
		free(app->groups[i].members);
		free(app->groups[i].member_ptrs);
	}
	free(app->groups);
}

/* The approval timer: one sweep a second over the requests waiting, so no
 * incident owns a loop handle of its own (and a quiet one costs nothing). */
void approval_sweep_cb(uv_timer_t *t)
{
	struct app *app = t->data;
	int64_t now = now_ms(app);

	/* Group membership changes rarely, but a new release manager must not
	 * wait for a restart. */
	if (++app->sweeps % GROUP_REFRESH_S == 0)
		approval_refresh_groups(app);
	for (size_t i = 0; i < app->n_groups; i++)
		if (app->groups[i].retry_at_ms && now >= app->groups[i].retry_at_ms &&
		    !app->stopping) {
			app->groups[i].retry_at_ms = 0;
			group_read(&app->groups[i]);
		}
	loop_retry_auth(app);
	ingress_declare_sweep(app);
	escalation_sweep(app);
	owner_tick(app);
	if (app->released)
		return; /* a clean stop handed the incidents over: they are not ours */
	for (struct app_inc *ai = app->incidents, *next; ai; ai = next) {
		next = ai->next;
		struct inc_event ev = { .kind = INC_EV_APPROVAL_TIMEOUT };

		if (ai->lost)
			continue;
		if (ai->inc.state == INC_AWAITING_APPROVAL && ai->inc.approval_ts[0] &&
		    !ai->recounting && now >= ai->inc.approval_deadline_ms)
			ev.kind = INC_EV_APPROVAL_TIMEOUT;
		else if (ai->inc.state == INC_AWAITING_APPROVAL && ai->inc.approval_ts[0] &&
			 !ai->recounting && ai->inc.escalate_at_ms && !ai->inc.escalated &&
			 now >= ai->inc.escalate_at_ms)
			ev.kind = INC_EV_ESCALATE_DUE;
		else if (ai->inc.next_update_ms && now >= ai->inc.next_update_ms)
			ev.kind = INC_EV_UPDATE_DUE;
		else if (ai->inc.state == INC_VERIFYING && ai->inc.next_verify_ms &&
			 !ai->verifying_now && now >= ai->inc.next_verify_ms)
			ev.kind = INC_EV_VERIFY_DUE;
		else
			continue;
		shell_step(ai, &ev);
		shell_inc_release(ai);
	}
}
