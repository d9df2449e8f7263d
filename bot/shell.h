/* rollbot — the daemon's shell, inside (MIT licence, see LICENSE).
 *
 * The types and calls that the parts of the shell share; app.h is its face
 * to main.c. The shell wires the adapters (sm.c, api.c, store.c through
 * db.c, runner.c, probe.c) to the decisions in commands/, one concern per
 * file:
 *
 *   loop.c       app_run: the loop, signals, the drain at shutdown, the
 *                start-up checks, /health /ready /metrics
 *   ingress.c    envelopes in: the ack and its verdict, then dispatch of
 *                slash commands and reactions
 *   shell.c      the incident in memory: shell_step() into inc_step(),
 *                the actions performed, the messages' data
 *   approval.c   the policy, the bot's reactions on a request, approver
 *                groups, the recount after a restart, the one-second sweep
 *   steps.c      the plan, and running its steps
 *   live.c       a running step's progress, edited in place in the thread
 *   verifying.c  verification rounds and the status check
 *   publish.c    the incident report's upload and the drafts
 *   pins.c       📌: messages in the report's timeline
 *   history.c    /rollback history
 *   assess.c     /rollback assess: figures read after the ack, classified
 *   resume.c     carrying on after a restart
 *   escalation.c an unanswered request's escalation message, and the
 *                PagerDuty pages (pagerduty.c) about it and about proposals
 *   outbox.c     every post recorded before it is made, and the posts a
 *                crash left open, carried on
 *   lookback.c   the marker in every post's metadata, and the look for it
 *   owner.c      several replicas: the heartbeat that renews this one's
 *                leases, claims of orphaned incidents, and the inbox of
 *                envelopes other replicas received about its incidents
 *
 * Everything runs on the one loop thread, which owns every object. A function
 * declared here carries the prefix of the file that defines it, but for the
 * two inline helpers every file uses (now_ms, jstr); what a file keeps to
 * itself is static.
 */
#ifndef SHELL_H
#define SHELL_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "../commands/incident.h"
#include "../commands/report.h"
#include "../commands/verify.h"
#include "app.h"

#define PARAMS_MAX 16 /* method parameters of one service */

struct db_incident; /* db.h */

/* The last step that ran, for its message in the thread. */
struct step_report {
	int index;      /* 0-based */
	char *title;
	char *command;  /* display form, never executed */
	char *tail;     /* the end of its output, safe in a code block */
	size_t tail_cut; /* characters of that end left out before it */
	char *outcome;  /* "exit status 0 in 1.2 s", "timed out after 300 s", … */
	bool ok;
};

/* An incident in memory: from its declaration (or its resume) until it has
 * ended and nothing is in flight for it (shell_inc_release). */
struct app_inc {
	struct app *app;
	struct app_inc *next, *prev; /* app->incidents, unordered */
	struct incident inc;
	/* The claim this replica holds the incident under: every write about
	 * it names the fence, and one that finds another (DB_ELOST) means that
	 * another replica took it over. */
	int64_t fence;
	/* Taken over, or only a copy for a command's answer: nothing acts on it
	 * any more; it leaves memory once nothing is in flight for it. */
	bool lost;
	const char *report_pending; /* static: what the next save records as still to upload */
	/* Posts (outbox.c): the answer the next step records, as an outbox
	 * close; the posts sent and not answered; after a resume, the posts
	 * the outbox has open, which the resume's own step does not post. */
	json_t *closing;
	int posts_open;
	json_t *resend;
	bool posts_wrapup; /* ended, with its last posts owed and no report after */
	/* Actions waiting for the commit of the save before them (shell.c):
	 * nobody is told of a state the database does not have. */
	struct held *held;
	bool draining; /* performing them: a step taken meanwhile waits its turn */
	int pending;       /* posts, saves, commands and requests in flight */
	struct plan *plan; /* built when the target is known; owned */
	/* The plan as the last approval request showed it (plan_describe),
	 * for plan_changed to say what differs; NULL after a restart. */
	char *asked_plan;
	struct step_report last;
	/* An event an action produced synchronously waits here until the
	 * actions of the current step are all done (one at a time). */
	bool has_deferred;
	bool recounting;   /* reactions.get in flight: the deadline waits for it */
	int recount_waiting; /* the recount's snapshots still in flight */
	/* The recount after an approver group was read at last: ✅ that were
	 * recorded as not counting (the group unknown then) are weighed again. */
	bool recount_again;
	struct inc_event deferred;
	char deferred_text[256];
	char deferred_target[CMD_TARGET_MAX];
	char problem[256]; /* the last event's error, for the messages about it */
	/* Read from the tool's history with the target (steps.c), for the
	 * report: the revision running before the rollback, when deployed. */
	char running_before[CMD_TARGET_MAX];
	char deployed_at[64];
	/* For status updates and the completion message; kept in the store
	 * (last_step, last_checks) so that they survive a restart. */
	char *last_step;   /* "Step 2/2 (`kubectl rollout status …`): exit status 0 after 1.2 s" */
	char *last_checks; /* every check of the last verification round */
	/* The last verification round; NULL until one ran (most incidents in
	 * memory are waiting for approval: they do not carry it). */
	struct verify_round *round;
	/* What the health checks saw after the rollback, for the completion
	 * message: counted by the same function as the report's downtime. */
	struct report_down down; /* health check downtime, as the report counts it */
	bool health_checked;
	bool verifying_now; /* a verification round or status check is running */
	bool on_demand;     /* the status being posted was asked for (no number) */
	/* The bot's own reactions on the request, added one after the other so
	 * that ✅ shows before ❌: the one in flight, and the ones waiting. */
	bool reacting;
	const char *reactions_waiting[4]; /* static names, oldest first */
	int n_reactions_waiting;
	char strings[]; /* inc.reason and inc.response_url point here */
};

/* The running bot: its adapters, its incidents in memory, its timers. One,
 * made by app_run. */
struct report_job; /* publish.c */

struct app {
	const struct app_options *opt;
	const struct config *cfg;
	uv_loop_t loop;
	struct api *api;
	struct store *store;
	struct sm *sm;
	struct tmpl_set *tmpl;
	struct dd_set *dd;
	struct httpd *httpd;
	unsigned long declared; /* incidents declared since start, for /metrics */
	struct cmd_service *services;
	struct app_inc *incidents;
	uv_signal_t sigterm, sigint;
	uv_timer_t drain_timer;
	uv_timer_t approval_timer; /* approval_sweep_cb, every second */
	int64_t drain_started_ms;
	bool stopping;
	bool sm_done;
	bool said_rolling; /* logged that a stop waits for a running rollback */
	int exit_code;
	char bot_user_id[INC_SLACK_ID_MAX];
	bool resumed;   /* the incidents in progress were loaded after auth.test */
	/* Socket Mode opens only once the incidents in progress are loaded, so
	 * that no command is answered from an empty memory. Until then Slack
	 * holds the envelopes, and /ready says what the start waits for. */
	bool sm_started;
	bool auth_ok;           /* auth.test answered: the bot knows who it is */
	bool auth_in_flight;
	int64_t auth_retry_ms;  /* when auth.test is asked again after a failure */
	int64_t auth_backoff_ms;
	const char *reply_url; /* the response_url of the command being handled, or NULL */
	struct app_group *groups; /* the approver groups of the config */
	size_t n_groups;
	size_t groups_pending; /* first reads of the groups still out (resume waits) */
	unsigned sweeps; /* approval sweeps since start: groups are refreshed every few */
	/* Several replicas (owner.c). */
	char owner[128];         /* this replica's name: ROLLBOT_REPLICA, else host:pid */
	struct app_open *open;   /* every incident with work, as the last heartbeat saw */
	size_t n_open;
	bool beating;            /* a heartbeat is in flight */
	bool claiming;           /* a claim is in flight */
	bool taking;             /* an inbox take (and its deletes) is in flight */
	bool take_again;         /* woken while a take was in flight */
	bool released;           /* a clean stop handed the incidents over */
	struct app_declaring *declaring; /* /rollback declarations not answered yet */
	char skipped[32][INC_ID_MAX]; /* claimed but not carried (service gone) */
	char reporting[16][INC_ID_MAX]; /* reports of ended incidents being uploaded */
	struct report_job *report_jobs; /* every report job running (publish.c) */
	json_t *names; /* people's names, by user ID (names.c) */
	size_t n_skipped;
	/* While an inbox row is applied: the key its audit rows are deduped by
	 * (with audit_seq), so that a row applied again adds none. */
	const char *audit_key;
	int audit_seq;
	struct watcher *watcher; /* watcher.c: the watched services, or NULL */
	struct pagerduty *pd; /* PagerDuty (pagerduty.c), or NULL without a routing key */
	struct esc_pages *esc_pages; /* escalation.c: the claim of the proposals' pages */
	struct chanpost *chanpost; /* chanpost.c: the sweep of open channel posts */
};

/* An incident with work on any replica, from the last heartbeat. */
struct app_open {
	char id[INC_ID_MAX];
	char service[CMD_SERVICE_MAX];
	char state[32];
	char severity[8];
	int64_t declared_ms; /* on this loop's clock */
	bool mine;	     /* this replica's: its own state is in app->incidents */
};

/* A declaration sent to the database and not answered yet: after
 * DECLARE_TIMEOUT_MS the person is told that nothing was declared, and the
 * database refuses it from then on (rollbot_declare_by). */
struct app_declaring {
	struct app_declaring *next;
	struct app *app;
	struct incident inc;
	int64_t told_at_ms; /* when the person is told, on the loop's clock */
	bool told;          /* they were told that nothing was declared */
	char strings[];     /* inc.reason and inc.response_url point here */
};

/* An approver user group and its members as usergroups.users.list last
 * said (n_members 0 until then, and after a failure the last good list). */
struct app_group {
	struct app *app;
	const char *id; /* borrowed from the configuration */
	char (*members)[POL_USER_MAX];
	char **member_ptrs; /* members[i], for struct pol_policy */
	size_t n_members;
	bool known;          /* read once at least */
	bool reading;        /* a usergroups.users.list is in flight */
	int64_t retry_at_ms; /* not known yet: when to ask again (backoff) */
	int64_t backoff_ms;
};

/* The loop's clock: monotonic milliseconds, as of this turn of the loop. */
static inline int64_t now_ms(struct app *app)
{
	return (int64_t)uv_now(&app->loop);
}

/* obj[key] as a string, "" when it is missing or not a string. Borrowed. */
static inline const char *jstr(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));
	return s ? s : "";
}

/* ---- shell.c ---- */

struct app_inc *shell_inc_new(struct app *app, const struct incident *inc);
void shell_inc_release(struct app_inc *ai);
void shell_incidents_free(struct app *app);
size_t shell_strings_size(const struct incident *inc);
void shell_own_strings(struct incident *inc, char *to);
struct app_inc *shell_find_incident(struct app *app, const char *id);
void shell_step(struct app_inc *ai, const struct inc_event *event);
void shell_defer(struct app_inc *ai, const struct inc_event *ev);
void shell_flush_deferred(struct app_inc *ai);
void shell_post(struct app_inc *ai, const struct inc_action *a);
json_t *shell_post_args(struct app_inc *ai, enum inc_message msg, bool in_thread,
			const char *key);
void shell_reply_url(struct app *app, const char *url, const char *text);
/* The same with a whole message payload (borrowed). */
void shell_reply_payload(struct app *app, const char *url, const json_t *body);
json_t *shell_ephemeral(const char *text);
json_t *shell_incident_data(struct app *app, const struct incident *inc);
char *shell_status_text(struct app_inc *ai, bool scheduled);
void shell_phase_text(const struct app_inc *ai, char *out, size_t len);
void shell_human_duration(int64_t ms, char *out, size_t len);
json_t *shell_json_text(const char *p, size_t len);
void shell_step_report_clear(struct step_report *r);
void shell_held_free(struct app_inc *ai);

/* ---- ingress.c ---- */

json_t *ingress_ack_payload_cb(void *arg, json_t *env, void **verdict);
void ingress_dispatch_cb(void *arg, json_t *env, void *verdict);
void ingress_declare_sweep(struct app *app);
void ingress_verdict_free_cb(void *verdict);

/* ---- approval.c ---- */

void approval_policy(const struct app *app, const struct incident *inc, struct pol_policy *p);
void approval_timing(const struct app *app, const struct incident *inc, struct inc_timing *t);
/* Why nobody could approve a rollback of inc and what to do (a new string),
 * or NULL when somebody could (see approval.c). */
char *approval_unreachable_text(const struct app *app, const struct incident *inc);
/* Why a request escalated from the start (pol_short_handed) goes to the
 * fallback approvers at once, for the request message: a new string. */
char *approval_short_handed_text(const struct app *app, const struct incident *inc);
void approval_react(struct app_inc *ai, const char *name);
void approval_notify_user(struct app_inc *ai, const struct inc_action *a);
void approval_recount(struct app_inc *ai);
void approval_groups_init(struct app *app);
void approval_groups_free(struct app *app);
void approval_refresh_groups(struct app *app);
size_t approval_groups_unknown(const struct app *app);
void approval_sweep_cb(uv_timer_t *t);

/* ---- steps.c ---- */

const struct config_service *steps_plan_input(const struct app *app, const struct incident *inc,
					      struct plan_param *params, struct plan_input *in);
int steps_build_plan(struct app_inc *ai, char *err, size_t errlen);
void steps_plan_and_defer(struct app_inc *ai, enum inc_event_kind kind);
void steps_check_plan(struct app_inc *ai);
void steps_prepare_plan(struct app_inc *ai);
void steps_run(struct app_inc *ai, int index);

/* ---- live.c ---- */

struct live;
struct live *live_start(struct app_inc *ai, int index, const char *title, int64_t timeout_ms);
void live_output(struct live *lv, const char *data, size_t len);
void live_end(struct live *lv, bool ok, const char *outcome);
void live_interrupted(struct app_inc *ai, int index);

/* ---- verifying.c ---- */

void verifying_round(struct app_inc *ai);
void verifying_status_check(struct app_inc *ai);

/* ---- publish.c ---- */

void publish_report(struct app *app, const char *id, bool drafts, const char *reply_to);
void publish_resumed_report(struct app *app, const char *id, int64_t fence, bool drafts);
bool publish_is_reporting(const struct app *app, const char *id);
bool publish_slot_take(struct app *app, const char *id);
void publish_slot_drop(struct app *app, const char *id);
void publish_incident_report(struct app_inc *ai, bool drafts);

/* ---- escalation.c ---- */

void escalation_data(struct app_inc *ai, json_t *data);
void escalation_page(struct app_inc *ai);
void escalation_unpage(struct app_inc *ai);
/* A watcher's proposal (proposal.c) was recorded, or taken: its page
 * (sql/018) is to be sent now rather than at the next sweep. The sweep
 * (each second) sends the pages still to send, on any replica: triggers
 * for proposals offered, resolves for those taken or expired. */
void escalation_proposal_changed(struct app *app);
void escalation_sweep(struct app *app);
void escalation_free(struct app *app);

/* ---- pins.c, history.c, resume.c ---- */

void pins_dispatch(struct app *app, json_t *event, const char *event_id, bool added);
void pins_message(struct app *app, json_t *event);
void history_start(struct app *app, const char *service, const char *reply_to);
/* assess.c: /rollback assess — reads the figures on the loop and answers
 * through `reply_to` (a response_url); `payload` is copied. */
void assess_start(struct app *app, const struct cmd *cmd, json_t *payload, const char *reply_to);
/* ingress.c: the dry run's text for `cmd` (a rollback), as /rollback
 * --dry-run shows it; free it. */
char *ingress_dry_run_text(struct app *app, const struct cmd *cmd, json_t *payload);

/* sent.c: /rollback sent — records that `user` sent incident `id`'s draft
 * `draft` ("status-page", "email", "internal"), keyed by the envelope so a
 * redelivery records nothing twice, then says so in the incident's thread
 * and to the person (`reply_to`, a response_url). */
void sent_start(struct app *app, const char *id, const char *user, const char *draft,
		const char *reply_to, const char *envelope);
struct app_inc *resume_incident(struct app *app, const struct db_incident *row);
bool resume_claimed(struct app *app, const struct db_incident *row, const char *how);
void resume_start(struct app *app);

/* ---- lookback.c ---- */

typedef void (*lookback_cb)(void *arg, json_t *found);
json_t *lookback_marker(const struct app_inc *ai, enum inc_message msg, int number,
			const char *key);
int lookback(struct app *app, const char *incident, const char *channel, const char *thread_ts,
	     int64_t since, lookback_cb cb, void *arg);

/* ---- outbox.c ---- */

json_t *outbox_entry(struct app_inc *ai, const struct inc_action *a);
void outbox_post(struct app_inc *ai, enum inc_message msg, json_t *entry);
void outbox_send(struct app_inc *ai, enum inc_message msg, const char *key, json_t *args);
void outbox_resend(struct app_inc *ai, json_t *pending);
void outbox_wrapup(struct app *app, const struct db_incident *row);

/* ---- services.c ---- */

/* `/rollback services`: every configured service, sorted, with its method,
 * environment and the incident holding it. A new string (free()). */
char *services_text(struct app *app);

/* ---- owner.c ---- */

void owner_init(struct app *app);
void owner_tick(struct app *app);
void owner_wake(struct app *app);
void owner_release(struct app *app);
const struct app_open *owner_open_for_service(const struct app *app, const char *service);
void owner_lost(struct app_inc *ai, const char *why);

/* ---- loop.c ---- */

/* Opens Socket Mode: once, after the incidents in progress are loaded. */
void loop_open_socket(struct app *app);
/* Asks auth.test again when its last failure's backoff is over (called by
 * the once-a-second sweep). */
void loop_retry_auth(struct app *app);

#endif
