/* rollbot — reading the probes that verify a rollback (MIT licence, see LICENSE).
 *
 * After a rollback the shell checks the service with HTTP probes: a health
 * URL (200 expected), a version URL (the rolled-back version expected in
 * the body) and Prometheus instant queries for the error rate and the p99
 * latency, held against the runbook's thresholds (error rate back under
 * 1 %, p99 under 2 s). This file reads what the probes return and says it
 * for people; the shell does the I/O and the state machine the deciding.
 * Pure: no I/O, no clock, no globals.
 *
 * Text for people (err, detail, the formatted numbers) is plain text, not
 * mrkdwn: text copied from a server has its control characters replaced,
 * but & < > are left for the template renderer to escape.
 */
#ifndef VERIFY_H
#define VERIFY_H

#include <stdbool.h>
#include <stddef.h>

#include "rb.h"

enum {
	VERIFY_ENODATA = -90, /* the query matched no series: nothing to compare */
};

/* Parses a Prometheus /api/v1/query answer. Accepts resultType "vector" (the
 * first sample's value[1]) and "scalar" (value[1]); the value is a string as
 * Prometheus sends it ("0.004", "NaN", "+Inf", "1e-3"). A JSON number is
 * accepted too: it means the same, and some Prometheus-compatible servers
 * and proxies send one. "+Inf" and "-Inf" are values (*out is ±infinity,
 * which fails any threshold); other spellings strtod would take ("inf",
 * "0x1p3", " 1") are not. Returns 0 and *out; VERIFY_ENODATA for an empty
 * vector (no series: err says "the query returned no data"); RB_EINVAL for
 * anything else (status "error" with its "error" text, not JSON, NaN, a
 * missing field, a matrix), with a one-line reason in err. */
int verify_prom_value(const char *body, size_t len, double *out, char *err,
		      size_t errlen) RB_MUSTCHECK;

/* True when a version endpoint's body shows `target` running: the trimmed
 * body equals it; or the body is a JSON object whose "version", "revision",
 * "tag" or "image" field (string or integer) equals it or, for "image", ends
 * with ":" + target (a "@sha256:…" digest after the tag is ignored); or,
 * when the body is not a JSON object with one of those fields, target
 * appears in it as a whole token (bounded by start/end or a character
 * outside [A-Za-z0-9._-]). The fields, when present, decide alone: in
 * {"version":"2.1.0","previous":"2.0.0"} 2.0.0 is not running. A leading
 * "v" before a digit is optional on either side ("2.0.0" matches "v2.0.0"
 * and vice versa), but "41" never matches "141" or "41.1". An empty target
 * (or a bare "v") never matches. */
bool verify_version_matches(const char *body, size_t len, const char *target);

/* "0.12%", "6.0%", "0%": a ratio as a percentage for people: 2 decimals
 * under 1 %, 1 decimal under 10 %, none from 10 % (the tier is chosen after
 * rounding, so 0.9999 % is "1.0%", not "1.00%"); exactly 0 is "0%";
 * negative, NaN or infinite → "n/a". */
void verify_format_ratio(double ratio, char *out, size_t len);

/* "440 ms", "1.8 s", "12 s": seconds for people (ms under 1 s, 1 decimal
 * under 10 s, none from 10 s; the tier is chosen after rounding); negative,
 * NaN or infinite → "n/a". */
void verify_format_seconds(double s, char *out, size_t len);

/* One verification round. Zeroed, every check is VERIFY_NOT_RUN. */
enum verify_check {
	VERIFY_STATUS,
	VERIFY_HEALTH,
	VERIFY_VERSION,
	VERIFY_ERROR_RATE,
	VERIFY_LATENCY,
	VERIFY_CHECK_COUNT
};

enum verify_outcome {
	VERIFY_NOT_RUN = 0,
	VERIFY_PASS,
	VERIFY_FAIL
};

#define VERIFY_DETAIL_MAX 160

struct verify_round {
	enum verify_outcome outcome[VERIFY_CHECK_COUNT];
	double value[VERIFY_CHECK_COUNT]; /* error rate ratio, p99 seconds; else 0 */
	/* What was seen, for people: "HTTP 503", "v2.1.0 is running, not v2.0.0",
	 * "error rate 6.0% (threshold 1.0%)". */
	char detail[VERIFY_CHECK_COUNT][VERIFY_DETAIL_MAX];
};

/* "status", "health", "version", "error_rate", "latency"; "" out of range. */
const char *verify_check_name(enum verify_check c);

/* "rollout status", "health check", "version", "error rate", "p99 latency";
 * "" out of range. */
const char *verify_check_title(enum verify_check c);

/* True when every check that ran passed and at least one ran. */
bool verify_round_passed(const struct verify_round *r);

/* The first failed check (in enum order), or VERIFY_CHECK_COUNT when none
 * failed. */
enum verify_check verify_round_first_failure(const struct verify_round *r);

/* "health check: HTTP 503; error rate: 6.0% (threshold 1.0%)": every failed
 * check as "title: detail" ("title failed" when it has no detail),
 * "; "-joined; "" when none failed. Returns 0, or RB_ETOOBIG when cut (at a
 * character boundary, still NUL-terminated). */
int verify_round_summary(const struct verify_round *r, char *out, size_t len);

#endif
