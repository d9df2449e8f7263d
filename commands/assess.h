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

/* "roll back now", "discuss", "monitor", "no verdict". */
const char *assess_verdict_text(enum as_verdict v);
/* "P0" ... "P2", "" for none. */
const char *assess_severity_name(enum as_severity s);
/* The runbook 000 criteria no figure measures. */
const char *assess_people_note(void);

#endif
