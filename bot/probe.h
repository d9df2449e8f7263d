/* rollbot — one verification round (MIT licence, see LICENSE).
 *
 * After a rollback's commands, "is the service healthy again?" (runbook
 * 000, Phase 4) is a round of checks run at the same time on the loop:
 * the method's status command (kubectl rollout status, helm status…), the
 * health URL (200 expected), the version URL (the rolled-back version
 * expected in its body) and two Prometheus instant queries, the error
 * ratio and the p99 latency, against their thresholds. Each check only
 * reads, so a round can be run again at any time, after a restart too.
 * The judging of answers is pure and lives in commands/verify.c; this file
 * only does the I/O.
 */
#ifndef PROBE_H
#define PROBE_H

#include <stdbool.h>
#include <uv.h>

#include "../commands/plan.h"
#include "../commands/verify.h"
#include "api.h"

/* What to check. probe_round() copies all of it. NULL or "" = not checked. */
struct probe_spec {
	const struct plan_step *status_step; /* a PLAN_ROLE_CHECK step, or NULL */
	const char *health_url;
	const char *version_url;
	const char *target; /* the version the version URL must show */
	const char *prometheus_url; /* base; /api/v1/query is appended */
	const char *error_rate_query;
	const char *latency_query;
	double error_rate_max; /* a ratio */
	double latency_max_s;
	long timeout_ms; /* per HTTP probe */
};

/* The round's result: `r` (borrowed for the call) holds every check's
 * outcome, value and what was seen; `any` is false when nothing was
 * configured to check. */
typedef void (*probe_cb)(void *arg, const struct verify_round *r, bool any);

/* Starts a round; cb is called exactly once, after every check has
 * answered (never before probe_round() returns). Returns 0, or a negative
 * code and cb is never called. */
int probe_round(uv_loop_t *loop, struct api *api, const struct probe_spec *spec, probe_cb cb,
		void *arg) RB_MUSTCHECK;

#endif
