/* rollbot — one verification round (MIT licence, see LICENSE). */
#include "probe.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "runner.h"

struct round {
	probe_cb cb;
	void *arg;
	int outstanding;
	bool any;
	uv_timer_t done; /* the callback always comes from here: never re-entrant */
	struct verify_round r;
	char *target;
	double error_rate_max;
	double latency_max_s;
};

/* One check in flight. */
struct check {
	struct round *rd;
	enum verify_check c;
	int expect[PLAN_HTTP_EXPECT_MAX]; /* a status step over HTTP */
	size_t n_expect;
};

static void closed_cb(uv_handle_t *h)
{
	struct round *rd = h->data;

	free(rd->target);
	free(rd);
}

static void done_cb(uv_timer_t *t)
{
	struct round *rd = t->data;

	rd->cb(rd->arg, &rd->r, rd->any);
	uv_close((uv_handle_t *)&rd->done, closed_cb);
}

static void settle(struct check *ck, bool ok, double value, const char *fmt, ...)
	RB_PRINTF(4, 5);

/* Records a check's outcome; the last one ends the round. */
static void settle(struct check *ck, bool ok, double value, const char *fmt, ...)
{
	struct round *rd = ck->rd;
	va_list ap;

	rd->r.outcome[ck->c] = ok ? VERIFY_PASS : VERIFY_FAIL;
	rd->r.value[ck->c] = value;
	va_start(ap, fmt);
	(void)vsnprintf(rd->r.detail[ck->c], sizeof rd->r.detail[ck->c], fmt, ap);
	va_end(ap);
	free(ck);
	if (--rd->outstanding == 0)
		uv_timer_start(&rd->done, done_cb, 0, 0);
}

/* The first line of an answer, trimmed and cut, for people. */
static void first_line(const char *s, char *out, size_t len)
{
	size_t n;

	while (*s == ' ' || *s == '\t' || *s == '\r' || *s == '\n')
		s++;
	n = strcspn(s, "\r\n");
	if (n > 60)
		n = 60;
	snprintf(out, len, "%.*s%s", (int)n, s, strlen(s) > n && n == 60 ? "…" : "");
}

/* The value of the line "KEY: value" at the start of a line of out, or
 * "" (cut to len). */
static void field_line(const char *out, const char *key, char *val, size_t len)
{
	size_t klen = strlen(key);

	val[0] = '\0';
	while (*out) {
		if (!strncmp(out, key, klen)) {
			first_line(out + klen, val, len);
			return;
		}
		out += strcspn(out, "\n");
		out += *out == '\n';
	}
}

/* What the status command's output says, in one line: helm status's
 * STATUS and REVISION lines ("deployed, revision 4"), which its last line
 * ("TEST SUITE: None") does not; else the last line (kubectl rollout
 * status: "deployment "x" successfully rolled out"). */
static void status_line(const struct run_result *res, char *line, size_t len)
{
	char status[48], rev[24];
	size_t tail_len;

	field_line(res->output, "STATUS: ", status, sizeof status);
	field_line(res->output, "REVISION: ", rev, sizeof rev);
	if (status[0]) {
		snprintf(line, len, "%s%s%s", status, rev[0] ? ", revision " : "", rev);
		return;
	}
	first_line(run_tail(res->output, res->output_len, 1, &tail_len), line, len);
}

static void status_exec_cb(void *arg, const struct run_result *res)
{
	struct check *ck = arg;
	char line[96];

	status_line(res, line, sizeof line);
	if (!res->spawned)
		settle(ck, false, 0, "could not run: %s", res->spawn_error);
	else if (res->timed_out)
		settle(ck, false, 0, "timed out after %.0f s", (double)res->duration_ms / 1000);
	else if (res->exit_status || res->term_signal)
		settle(ck, false, 0, "exit status %d%s%s", res->exit_status, line[0] ? ": " : "",
		       line);
	else
		settle(ck, true, 0, "%s", line[0] ? line : "exit status 0");
}

static void status_http_cb(void *arg, const struct api_result *res)
{
	struct check *ck = arg;
	bool ok = false;

	for (size_t i = 0; i < ck->n_expect; i++)
		ok = ok || res->http_status == ck->expect[i];
	if (!res->http_status)
		settle(ck, false, 0, "no answer (%s)", res->error ? res->error : "?");
	else
		settle(ck, ok, 0, "HTTP %ld", res->http_status);
}

static void health_cb(void *arg, const struct api_result *res)
{
	struct check *ck = arg;

	if (!res->http_status)
		settle(ck, false, 0, "no answer (%s)", res->error ? res->error : "?");
	else
		settle(ck, res->http_status == 200, 0, "HTTP %ld", res->http_status);
}

static void version_cb(void *arg, const struct api_result *res)
{
	struct check *ck = arg;
	const char *target = ck->rd->target;
	const char *body = res->raw ? res->raw : "";
	char line[96];

	first_line(body, line, sizeof line);
	if (!res->http_status)
		settle(ck, false, 0, "no answer (%s)", res->error ? res->error : "?");
	else if (res->http_status != 200)
		settle(ck, false, 0, "HTTP %ld", res->http_status);
	else if (verify_version_matches(body, strlen(body), target))
		settle(ck, true, 0, "%s is running", target);
	else
		settle(ck, false, 0, "it shows \"%s\", not %s", line, target);
}

static void metric_cb(void *arg, const struct api_result *res)
{
	struct check *ck = arg;
	struct round *rd = ck->rd;
	const char *body = res->raw ? res->raw : "";
	char err[RB_ERR_LEN], now[32], max[32];
	double v;
	bool rate = ck->c == VERIFY_ERROR_RATE;

	if (!res->http_status) {
		settle(ck, false, -1, "Prometheus did not answer (%s)", res->error ? res->error : "?");
		return;
	}
	if (res->http_status < 200 || res->http_status > 299) {
		/* What failed, for people (the watcher's notice says it): the
		 * status, and Prometheus's own "error" when the body has one. */
		json_t *j = json_loads(body, 0, NULL);
		const char *why = json_string_value(json_object_get(j, "error"));

		settle(ck, false, -1, "Prometheus answered HTTP %ld%s%.80s", res->http_status,
		       why ? ": " : "", why ? why : "");
		json_decref(j);
		return;
	}
	if (verify_prom_value(body, strlen(body), &v, err, sizeof err)) {
		settle(ck, false, -1, "Prometheus: %s", err);
		return;
	}
	if (rate) {
		verify_format_ratio(v, now, sizeof now);
		verify_format_ratio(rd->error_rate_max, max, sizeof max);
		settle(ck, v < rd->error_rate_max, v, "%s (threshold %s)", now, max);
	} else {
		verify_format_seconds(v, now, sizeof now);
		verify_format_seconds(rd->latency_max_s, max, sizeof max);
		settle(ck, v < rd->latency_max_s, v, "%s (threshold %s)", now, max);
	}
}

static struct check *check_new(struct round *rd, enum verify_check c)
{
	struct check *ck = rb_calloc(1, sizeof *ck);

	ck->rd = rd;
	ck->c = c;
	rd->outstanding++;
	rd->any = true;
	return ck;
}

/* A check that could not even start counts as failed, with the reason. */
static void start_failed(struct check *ck, const char *what)
{
	settle(ck, false, -1, "could not start the %s", what);
}

/* Percent-encodes everything but RFC 3986's unreserved characters. */
static char *query_url(const char *base, const char *query)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t bl = strlen(base);
	char *out, *p;

	while (bl && base[bl - 1] == '/')
		bl--;
	out = rb_malloc(bl + strlen("/api/v1/query?query=") + strlen(query) * 3 + 1);
	size_t cap = bl + strlen("/api/v1/query?query=") + strlen(query) * 3 + 1;
	int n = snprintf(out, cap, "%.*s/api/v1/query?query=", (int)bl, base);

	p = out + (n > 0 ? n : 0);
	for (const unsigned char *q = (const unsigned char *)query; *q; q++) {
		if ((*q >= 'A' && *q <= 'Z') || (*q >= 'a' && *q <= 'z') ||
		    (*q >= '0' && *q <= '9') || strchr("-._~", *q)) {
			*p++ = (char)*q;
		} else {
			*p++ = '%';
			*p++ = hex[*q >> 4];
			*p++ = hex[*q & 15];
		}
	}
	*p = '\0';
	return out;
}

static void start_status(uv_loop_t *loop, struct api *api, struct round *rd,
			 const struct plan_step *st, long timeout_ms)
{
	struct check *ck = check_new(rd, VERIFY_STATUS);

	if (st->kind == PLAN_STEP_EXEC) {
		struct run_spec spec = { .argv = (const char *const *)st->exec.argv,
					 .env_extra = (const char *const *)st->exec.env,
					 .timeout_ms = st->timeout_ms };
		if (run_start(loop, &spec, status_exec_cb, ck, NULL))
			start_failed(ck, "status command");
		return;
	}
	memcpy(ck->expect, st->http.expect, sizeof ck->expect);
	ck->n_expect = st->http.n_expect;
	if (api_probe_url(api, st->http.url, timeout_ms, status_http_cb, ck))
		start_failed(ck, "status request");
}

static void start_get(struct api *api, struct round *rd, enum verify_check c, const char *url,
		      long timeout_ms, api_cb cb)
{
	struct check *ck = check_new(rd, c);

	if (api_probe_url(api, url, timeout_ms, cb, ck))
		start_failed(ck, verify_check_title(c));
}

int probe_round(uv_loop_t *loop, struct api *api, const struct probe_spec *spec, probe_cb cb,
		void *arg)
{
	struct round *rd;
	bool prom = spec->prometheus_url && spec->prometheus_url[0];

	if (!loop || !api || !spec || !cb)
		return RB_EINVAL;
	rd = rb_calloc(1, sizeof *rd);
	rd->cb = cb;
	rd->arg = arg;
	rd->target = rb_strdup(spec->target ? spec->target : "");
	rd->error_rate_max = spec->error_rate_max;
	rd->latency_max_s = spec->latency_max_s;
	uv_timer_init(loop, &rd->done);
	rd->done.data = rd;
	rd->outstanding = 1; /* held until every check has started */
	if (spec->status_step)
		start_status(loop, api, rd, spec->status_step, spec->timeout_ms);
	if (spec->health_url && spec->health_url[0])
		start_get(api, rd, VERIFY_HEALTH, spec->health_url, spec->timeout_ms, health_cb);
	if (spec->version_url && spec->version_url[0] && rd->target[0])
		start_get(api, rd, VERIFY_VERSION, spec->version_url, spec->timeout_ms,
			  version_cb);
	if (prom && spec->error_rate_query && spec->error_rate_query[0]) {
		char *u = query_url(spec->prometheus_url, spec->error_rate_query);
		start_get(api, rd, VERIFY_ERROR_RATE, u, spec->timeout_ms, metric_cb);
		free(u);
	}
	if (prom && spec->latency_query && spec->latency_query[0]) {
		char *u = query_url(spec->prometheus_url, spec->latency_query);
		start_get(api, rd, VERIFY_LATENCY, u, spec->timeout_ms, metric_cb);
		free(u);
	}
	if (--rd->outstanding == 0)
		uv_timer_start(&rd->done, done_cb, 0, 0);
	return 0;
}
