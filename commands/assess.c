/* rollbot — the runbooks' verdict on a service's figures (MIT licence). */
#include "assess.h"
#include "verify.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

static void reason(struct as_result *out, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void reason(struct as_result *out, const char *fmt, ...)
{
	va_list ap;

	if (out->n_reasons >= AS_MAX_REASONS)
		return;
	va_start(ap, fmt);
	vsnprintf(out->reasons[out->n_reasons], AS_REASON_LEN, fmt, ap);
	va_end(ap);
	out->n_reasons++;
}

/* Raises the verdict and severity; never lowers them (the worst figure wins).
 * Severities compare inverted: P0 is the most severe. */
static void bump(struct as_result *out, enum as_verdict v, enum as_severity s,
		  const char *budget)
{
	if (v > out->verdict)
		out->verdict = v;
	if (s != AS_SEV_NONE && (out->severity == AS_SEV_NONE || s < out->severity)) {
		out->severity = s;
		out->budget = budget;
	}
}

/* Runbook 003's decision matrix, action and timeline columns. */
#define BUDGET_OUTAGE "Immediate rollback, < 5 min"
#define BUDGET_ERRORS "Rollback after confirmation, < 15 min"
#define BUDGET_PERF "Rollback after investigation, < 30 min"
#define BUDGET_MINOR "Monitor, rollback if escalates, < 2 hours"

static void classify_health(const struct as_input *in, struct as_result *out)
{
	switch (in->health) {
	case AS_HEALTH_FAILING:
		reason(out, "health check failing (outage: roll back now)");
		bump(out, AS_ROLLBACK_NOW, AS_SEV_P0, BUDGET_OUTAGE);
		break;
	case AS_HEALTH_OK:
		reason(out, "health check passing");
		break;
	default:
		reason(out, "health check: could not be read");
		break;
	}
}

static void classify_errors(const struct as_input *in, struct as_result *out)
{
	double e = in->error_rate.value;

	if (!in->error_rate.known) {
		reason(out, "error rate: could not be read");
		return;
	}
	if (e > AS_ERR_ROLLBACK) {
		reason(out, "error rate %.2f %% > 5 %% (roll back now)", e * 100.0);
		bump(out, AS_ROLLBACK_NOW, AS_SEV_P1, BUDGET_ERRORS);
	} else if (e >= AS_ERR_DISCUSS) {
		reason(out, "error rate %.2f %% within 1-5 %% (discuss)", e * 100.0);
		bump(out, AS_DISCUSS, AS_SEV_P1, BUDGET_ERRORS);
	} else {
		reason(out, "error rate %.2f %% < 1 %% (monitor)", e * 100.0);
		bump(out, AS_MONITOR, AS_SEV_P2, BUDGET_MINOR);
	}
}

static void classify_p99(const struct as_input *in, struct as_result *out)
{
	double t = in->p99_threshold_s > 0 ? in->p99_threshold_s : AS_P99_DEFAULT_S;

	if (!in->p99_s.known) {
		reason(out, "p99 latency: could not be read");
		return;
	}
	if (in->p99_s.value > t) {
		reason(out, "p99 latency %.3f s > %.3f s (degraded performance: discuss)",
		       in->p99_s.value, t);
		bump(out, AS_DISCUSS, AS_SEV_P1, BUDGET_PERF);
	} else {
		reason(out, "p99 latency %.3f s <= %.3f s", in->p99_s.value, t);
	}
}

void assess_classify(const struct as_input *in, struct as_result *out)
{
	memset(out, 0, sizeof(*out));
	out->budget = "";
	classify_errors(in, out);
	classify_p99(in, out);
	classify_health(in, out);
	/* "Monitor" only when the error rate says so; an unread error rate with
	 * nothing failing leaves no verdict rather than a false all-clear. */
	if (out->verdict == AS_MONITOR && !in->error_rate.known)
		out->verdict = AS_NO_VERDICT;
}

const char *assess_verdict_text(enum as_verdict v)
{
	switch (v) {
	case AS_ROLLBACK_NOW:
		return "roll back now";
	case AS_DISCUSS:
		return "discuss";
	case AS_MONITOR:
		return "monitor";
	default:
		return "no verdict";
	}
}

const char *assess_severity_name(enum as_severity s)
{
	static const char *const names[] = { "", "P0", "P1", "P2" };

	return (unsigned)s < sizeof(names) / sizeof(names[0]) ? names[s] : "";
}

const char *assess_people_note(void)
{
	return "Data corruption and security breaches are not measured: people judge them "
	       "(runbook 000: either means roll back now).";
}

static struct as_figure round_figure(const struct verify_round *r, enum verify_check c)
{
	struct as_figure f = { false, 0 };

	/* probe.c settles an unread metric at -1 (no answer, no data, junk). */
	if (r->outcome[c] != VERIFY_NOT_RUN && r->value[c] >= 0 && isfinite(r->value[c])) {
		f.known = true;
		f.value = r->value[c];
	}
	return f;
}

void assess_input_of_round(const struct verify_round *r, double p99_threshold_s,
			   struct as_input *in)
{
	memset(in, 0, sizeof(*in));
	in->error_rate = round_figure(r, VERIFY_ERROR_RATE);
	in->p99_s = round_figure(r, VERIFY_LATENCY);
	in->p99_threshold_s = p99_threshold_s;
	if (r->outcome[VERIFY_HEALTH] == VERIFY_PASS)
		in->health = AS_HEALTH_OK;
	else if (r->outcome[VERIFY_HEALTH] == VERIFY_FAIL)
		in->health = AS_HEALTH_FAILING;
	else
		in->health = AS_HEALTH_UNKNOWN;
}

const char *assess_round_severity(const struct verify_round *r, double p99_threshold_s)
{
	struct as_input in;
	struct as_result res;

	assess_input_of_round(r, p99_threshold_s, &in);
	assess_classify(&in, &res);
	return assess_severity_name(res.severity);
}

/* Two to four digits at s[0..n), or -1. */
static int num(const char *s, int n)
{
	int v = 0;

	for (int i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

int assess_deploy_time(const char *at, char *out, size_t len)
{
	struct tm tm = { 0 };
	const char *p;
	time_t t;
	int off = 0;

	if (!at || strlen(at) < 20 || at[4] != '-' || at[7] != '-' ||
	    (at[10] != 'T' && at[10] != 't' && at[10] != ' ') || at[13] != ':' || at[16] != ':')
		return -1;
	tm.tm_year = num(at, 4) - 1900;
	tm.tm_mon = num(at + 5, 2) - 1;
	tm.tm_mday = num(at + 8, 2);
	tm.tm_hour = num(at + 11, 2);
	tm.tm_min = num(at + 14, 2);
	tm.tm_sec = num(at + 17, 2);
	if (tm.tm_year < 0 || tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 ||
	    tm.tm_mday > 31 || tm.tm_hour < 0 || tm.tm_hour > 23 || tm.tm_min < 0 ||
	    tm.tm_min > 59 || tm.tm_sec < 0 || tm.tm_sec > 60)
		return -1;
	p = at + 19;
	if (*p == '.') /* any number of fraction digits: dropped */
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if ((*p == 'Z' || *p == 'z') && !p[1]) {
		off = 0;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':' &&
		   num(p + 1, 2) >= 0 && num(p + 4, 2) >= 0) {
		off = (num(p + 1, 2) * 60 + num(p + 4, 2)) * 60 * (*p == '-' ? -1 : 1);
	} else {
		return -1;
	}
	t = timegm(&tm) - off;
	if (!localtime_r(&t, &tm))
		return -1;
	snprintf(out, len, "%04d-%02d-%02d %02d:%02d %s", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_zone ? tm.tm_zone : "");
	return 0;
}
