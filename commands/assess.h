/* rollbot — the runbooks' verdict on a service's figures (MIT licence).
 *
 * Pure: the shell reads the figures (Prometheus, the health URL) and passes
 * them in; this file only applies runbook 000's decision thresholds and
 * runbook 003's severity table. A figure the shell could not read is
 * "unknown" and is never taken as healthy: with the error rate unknown and
 * nothing else failing, there is no verdict. Data corruption and security
 * are not measurable here; people judge them (assess_people_note()).
 */
#ifndef ASSESS_H
#define ASSESS_H

#include <stdbool.h>
#include <stddef.h>

/* Runbook 000: roll back now above 5 %, discuss from 1 % to 5 %, monitor
 * under 1 %. Rates are fractions (0.05 is 5 %). */
#define AS_ERR_ROLLBACK 0.05
#define AS_ERR_DISCUSS 0.01
/* Runbook 001: p99 above 2 s when the service has no threshold of its own. */
#define AS_P99_DEFAULT_S 2.0

enum as_health { AS_HEALTH_UNKNOWN, AS_HEALTH_OK, AS_HEALTH_FAILING };

struct as_figure {
	bool known;   /* false: not configured, or could not be read */
	double value; /* meaningful only when known */
};

struct as_input {
	struct as_figure error_rate; /* fraction of requests failing */
	struct as_figure p99_s;      /* seconds */
	double p99_threshold_s;      /* <= 0: AS_P99_DEFAULT_S */
	enum as_health health;
};

enum as_verdict {
	AS_NO_VERDICT, /* the error rate could not be read and nothing fails */
	AS_MONITOR,
	AS_DISCUSS,
	AS_ROLLBACK_NOW,
};

/* Runbook 003's rows that a figure can select. */
enum as_severity { AS_SEV_NONE, AS_SEV_P0, AS_SEV_P1, AS_SEV_P2 };

#define AS_MAX_REASONS 4
#define AS_REASON_LEN 128

struct as_result {
	enum as_verdict verdict;
	enum as_severity severity;
	const char *budget; /* runbook 003's action and time budget; "" if none */
	size_t n_reasons;
	char reasons[AS_MAX_REASONS][AS_REASON_LEN]; /* each figure vs its threshold */
};

void assess_classify(const struct as_input *in, struct as_result *out);

/* A deploy time as the tools write it (RFC 3339: helm's
 * "2026-12-04T10:15:02.123456789Z", or with an offset, "+00:00"), for
 * people: "2026-12-04 10:15 UTC", in the zone report_set_zone installed
 * (display_timezone), as /rollback history shows times. Returns 0, or -1
 * (out untouched) when `at` is not such a time. */
int assess_deploy_time(const char *at, char *out, size_t len);

struct verify_round;

/* The classifier's input from one reading of the figures (bot/probe.c's
 * round: health, error rate, p99), with p99 above p99_threshold_s counting
 * as degraded. /rollback assess and the watcher both go through this, so
 * that on the same figures they never suggest different severities. An
 * error rate or p99 the probe could not read (settled at -1, or not a
 * number) is unknown; a health URL that does not answer 200 is failing. */
void assess_input_of_round(const struct verify_round *r, double p99_threshold_s,
			   struct as_input *in);

/* assess_input_of_round, then assess_classify: the severity suggested for
 * that reading ("P0".."P2", "" for none). What the watcher's proposal
 * carries. */
const char *assess_round_severity(const struct verify_round *r, double p99_threshold_s);

/* "roll back now", "discuss", "monitor", "no verdict". */
const char *assess_verdict_text(enum as_verdict v);
/* "P0" ... "P2", "" for none. */
const char *assess_severity_name(enum as_severity s);
/* The runbook 000 criteria no figure measures. */
const char *assess_people_note(void);

#endif
