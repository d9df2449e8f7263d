/* rollbot — when the watcher proposes a rollback (MIT licence).
 *
 * Pure: the shell (bot/watcher.c, to come) reads a service's figures on
 * schedule and hands each evaluation to watch_step() with the time; this
 * module says whether a trigger has held for its duration (runbook 001:
 * error rate above 5 % for 2 min, p99 above 2 s for 2 min, health failing),
 * and keeps the episode so that one episode gets one proposal:
 *
 *   ARMED --trigger held--> PROPOSED --expiry or taken--> COOLING
 *     ^                                                      |
 *     +------------- healthy for rearm_ms -------------------+
 *
 * A service with an open incident gets no proposal: the episode it is in is
 * handled already, so it goes to COOLING and re-arms only once healthy.
 * A figure that cannot be read (WATCH_UNKNOWN) neither starts nor breaks a
 * hold, and never fires one; when every figure is unknown the watcher is
 * "blind", and watch_step says so once, on the change, not every interval.
 */
#ifndef WATCH_H
#define WATCH_H

#include <stdbool.h>
#include <stdint.h>

enum watch_fig { WATCH_UNKNOWN = 0, WATCH_OK, WATCH_BAD };

enum watch_trigger {
	WATCH_T_NONE = 0,
	WATCH_T_ERRORS,
	WATCH_T_LATENCY,
	WATCH_T_HEALTH,
};

enum watch_episode { WATCH_ARMED = 0, WATCH_PROPOSED, WATCH_COOLING };

/* What the watch block configures (bot/config: defaults from runbook 001). */
struct watch_limits {
	double error_rate_max;  /* fraction: 0.05 = 5 %; bad when above */
	int64_t error_for_ms;
	double latency_max_s;   /* p99 seconds; bad when above */
	int64_t latency_for_ms;
	int64_t health_for_ms;
	int64_t rearm_ms;       /* healthy this long re-arms the episode */
	int64_t expiry_ms;      /* an unanswered proposal lapses after this */
};

/* One evaluation's figures. A value is meaningful only when its state is
 * known (err_known / lat_known; health is a watch_fig of its own). */
struct watch_figures {
	bool err_known;
	double error_rate;
	bool lat_known;
	double latency_s;
	enum watch_fig health;
};

/* Per service; zero it with watch_init. The shell owns it. */
struct watch_state {
	enum watch_episode episode;
	int64_t err_since;      /* -1: not held */
	int64_t lat_since;
	int64_t health_since;
	int64_t healthy_since;  /* -1: not healthy now */
	int64_t proposed_at;    /* -1 unless PROPOSED */
	int64_t episode_no;     /* 1 for the first proposal, +1 per proposal */
	bool blind;             /* every figure unknown at the last step */
};

/* What changed in one step: bits of watch_out.what. */
enum {
	WATCH_PROPOSE = 1 << 0,  /* post one proposal (episode_no, trigger) */
	WATCH_EXPIRE = 1 << 1,   /* the open proposal lapsed */
	WATCH_REARM = 1 << 2,    /* healthy long enough: armed again */
	WATCH_BLIND = 1 << 3,    /* just lost every figure: say so once */
	WATCH_SIGHTED = 1 << 4,  /* figures readable again */
	WATCH_SUPPRESS = 1 << 5, /* a trigger held but an incident is open */
};

struct watch_out {
	unsigned what;
	enum watch_trigger trigger; /* the trigger that fired (PROPOSE/SUPPRESS) */
	int64_t since;              /* when that trigger started to hold */
};

void watch_init(struct watch_state *st);

/* Defaults from runbook 001 (5 % / 2 min, 2 s / 2 min, health 2 min,
 * re-arm after 5 min healthy, proposal expiry 30 min). */
void watch_limits_default(struct watch_limits *lim);

/* One evaluation at `now_ms`. `incident_open`: the service has an incident
 * that has not ended. Updates *st and fills *out (zeroed first). */
void watch_step(const struct watch_limits *lim, struct watch_state *st,
		const struct watch_figures *f, bool incident_open,
		int64_t now_ms, struct watch_out *out);

/* Someone started the incident from the proposal: the episode is handled. */
void watch_taken(struct watch_state *st);

/* "errors", "latency", "health" (or "none"): for audit rows and logs. */
const char *watch_trigger_name(enum watch_trigger t);
const char *watch_episode_name(enum watch_episode e);

/* Copies `in` (what failed, for the notice in the channel) to out, at
 * most len bytes with the NUL, with the credentials a URL in it may carry
 * ("https://user:secret@host/…" → "https://…@host/…") left out. */
void watch_scrub(const char *in, char *out, size_t len);

#endif
