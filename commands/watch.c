/* rollbot — when the watcher proposes a rollback (MIT licence).
 *
 * See watch.h for the episode machine. Everything here is a function of the
 * state, the figures and the time passed in: no clock, no I/O.
 */
#include <string.h>

#include "watch.h"

void watch_init(struct watch_state *st)
{
	memset(st, 0, sizeof(*st));
	st->episode = WATCH_ARMED;
	st->err_since = -1;
	st->lat_since = -1;
	st->health_since = -1;
	st->healthy_since = -1;
	st->proposed_at = -1;
}

void watch_limits_default(struct watch_limits *lim)
{
	lim->error_rate_max = 0.05;
	lim->error_for_ms = 120000;
	lim->latency_max_s = 2.0;
	lim->latency_for_ms = 120000;
	lim->health_for_ms = 120000;
	lim->rearm_ms = 300000;
	lim->expiry_ms = 1800000;
}

/* A known bad figure starts a hold (or keeps it); a known good one ends it;
 * an unknown one leaves it as it is: a missing reading is not evidence. */
static void hold(int64_t *since, enum watch_fig fig, int64_t now_ms)
{
	if (fig == WATCH_BAD && *since < 0)
		*since = now_ms;
	else if (fig == WATCH_OK)
		*since = -1;
}

/* The hold fires only on a bad reading now: an unknown one cannot prove
 * that the trigger still holds. */
static bool held(int64_t since, enum watch_fig fig, int64_t for_ms,
		 int64_t now_ms)
{
	return fig == WATCH_BAD && since >= 0 && now_ms - since >= for_ms;
}

static enum watch_fig judge(bool known, double value, double max)
{
	if (!known)
		return WATCH_UNKNOWN;
	return value > max ? WATCH_BAD : WATCH_OK;
}

/* The first trigger that held (errors before latency before health: the
 * order a reader of the proposal cares about), or WATCH_T_NONE. */
static enum watch_trigger fired(const struct watch_limits *lim,
				const struct watch_state *st,
				enum watch_fig e, enum watch_fig l,
				enum watch_fig h, int64_t now_ms,
				int64_t *since)
{
	if (held(st->err_since, e, lim->error_for_ms, now_ms)) {
		*since = st->err_since;
		return WATCH_T_ERRORS;
	}
	if (held(st->lat_since, l, lim->latency_for_ms, now_ms)) {
		*since = st->lat_since;
		return WATCH_T_LATENCY;
	}
	if (held(st->health_since, h, lim->health_for_ms, now_ms)) {
		*since = st->health_since;
		return WATCH_T_HEALTH;
	}
	return WATCH_T_NONE;
}

static void track_health(struct watch_state *st, enum watch_fig e,
			 enum watch_fig l, enum watch_fig h, int64_t now_ms)
{
	bool any_bad = e == WATCH_BAD || l == WATCH_BAD || h == WATCH_BAD;
	bool any_ok = e == WATCH_OK || l == WATCH_OK || h == WATCH_OK;

	/* Healthy = nothing bad and something read as good. Blind intervals
	 * neither count towards re-arming nor reset it. */
	if (any_bad)
		st->healthy_since = -1;
	else if (any_ok && st->healthy_since < 0)
		st->healthy_since = now_ms;
}

static void track_sight(struct watch_state *st, enum watch_fig e,
			enum watch_fig l, enum watch_fig h,
			struct watch_out *out)
{
	bool blind = e == WATCH_UNKNOWN && l == WATCH_UNKNOWN &&
		     h == WATCH_UNKNOWN;

	if (blind && !st->blind)
		out->what |= WATCH_BLIND;
	else if (!blind && st->blind)
		out->what |= WATCH_SIGHTED;
	st->blind = blind;
}

void watch_step(const struct watch_limits *lim, struct watch_state *st,
		const struct watch_figures *f, bool incident_open,
		int64_t now_ms, struct watch_out *out)
{
	enum watch_fig e = judge(f->err_known, f->error_rate,
				 lim->error_rate_max);
	enum watch_fig l = judge(f->lat_known, f->latency_s,
				 lim->latency_max_s);
	enum watch_fig h = f->health;
	enum watch_trigger t;
	int64_t since = -1;

	memset(out, 0, sizeof(*out));
	track_sight(st, e, l, h, out);
	hold(&st->err_since, e, now_ms);
	hold(&st->lat_since, l, now_ms);
	hold(&st->health_since, h, now_ms);
	track_health(st, e, l, h, now_ms);
	t = fired(lim, st, e, l, h, now_ms, &since);

	if (st->episode == WATCH_PROPOSED &&
	    now_ms - st->proposed_at >= lim->expiry_ms) {
		st->episode = WATCH_COOLING;
		st->proposed_at = -1;
		out->what |= WATCH_EXPIRE;
	}
	if (st->episode == WATCH_COOLING && st->healthy_since >= 0 &&
	    now_ms - st->healthy_since >= lim->rearm_ms) {
		st->episode = WATCH_ARMED;
		out->what |= WATCH_REARM;
	}
	if (st->episode != WATCH_ARMED || t == WATCH_T_NONE)
		return;
	out->trigger = t;
	out->since = since;
	if (incident_open) {
		/* Handled already: wait for health before proposing again. */
		st->episode = WATCH_COOLING;
		out->what |= WATCH_SUPPRESS;
		return;
	}
	st->episode = WATCH_PROPOSED;
	st->proposed_at = now_ms;
	st->episode_no++;
	out->what |= WATCH_PROPOSE;
}

void watch_taken(struct watch_state *st)
{
	st->episode = WATCH_COOLING;
	st->proposed_at = -1;
}

const char *watch_trigger_name(enum watch_trigger t)
{
	switch (t) {
	case WATCH_T_ERRORS:
		return "errors";
	case WATCH_T_LATENCY:
		return "latency";
	case WATCH_T_HEALTH:
		return "health";
	case WATCH_T_NONE:
		break;
	}
	return "none";
}

const char *watch_episode_name(enum watch_episode e)
{
	switch (e) {
	case WATCH_ARMED:
		return "armed";
	case WATCH_PROPOSED:
		return "proposed";
	case WATCH_COOLING:
		return "cooling";
	}
	return "?";
}

void watch_scrub(const char *in, char *out, size_t len)
{
	static const char mark[] = "…@";
	size_t o = 0;

	if (!len)
		return;
	while (*in && o + 1 < len) {
		const char *sep = strstr(in, "://");
		/* Up to and with the "://", or the rest when there is none. */
		size_t upto = sep ? (size_t)(sep - in) + 3 : strlen(in), host, at;

		while (upto-- && o + 1 < len)
			out[o++] = *in++;
		host = strcspn(in, "/ )\"\n");
		at = strcspn(in, "@");
		if (*in && at < host) {
			in += at + 1;
			if (o + sizeof mark <= len) {
				memcpy(out + o, mark, sizeof mark - 1);
				o += sizeof mark - 1;
			}
		}
	}
	out[o] = '\0';
}
