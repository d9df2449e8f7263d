/* rollbot — the fake's Prometheus exporter (MIT licence, see LICENSE).
 *
 * What a real Prometheus scrapes in the scenarios: per service, the
 * counters http_requests_total{code="200"|"500"} and the histogram
 * http_request_duration_seconds, in the text exposition format 0.0.4, at
 * GET /svc/NAME/metrics. A control call sets each service's traffic (rps,
 * error_ratio, p99_s), and the exporter turns that into counters.
 *
 * Why counters are computed and not counted: the tests read these figures
 * back through PromQL (rate() over windows of a few seconds), so each
 * series grows linearly with time at its set slope, from the value it had
 * when the traffic last changed. All series of a service are sampled by the
 * same scrape, so rate(errors) / rate(all) is exactly error_ratio whatever
 * rate()'s extrapolation does, and rate(all) is rps once the window holds
 * only samples taken after the change.
 *
 * The histogram uses the client libraries' default buckets. The latencies
 * are placed so that histogram_quantile(0.99, …), which interpolates
 * linearly inside the bucket that holds the 99th percentile, lands exactly
 * on p99_s: with lo < p99_s <= hi that bucket's bounds and f the fraction
 * (p99_s - lo) / (hi - lo), either a share a = (0.99 - f) / (1 - f) of the
 * requests take lo seconds and the rest fall in (lo, hi] (f <= 0.99), or
 * none take lo or less, a share 0.99 / f falls in (lo, hi] and the rest in
 * the next bucket (f > 0.99). Either way rank 0.99 interpolates to p99_s.
 */
#include "tests/fake_metrics.h"

#include "commands/rb.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NB	    11 /* finite buckets */
#define NAME_MAX_LEN 64
#define P99_MIN	    0.005 /* the first bucket's bound: below it the 99th percentile
			   * cannot be interpolated to an exact value */
#define P99_MAX	    10.0  /* the last finite bucket's bound */
#define P99_DEFAULT 0.1

static const double bounds[NB] = { 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10 };

/* The series of one service, in the order they are written. */
enum { S_OK, S_ERR, S_BUCKET, S_INF = S_BUCKET + NB, S_SUM, S_N };

struct fm_service {
	char *name;
	double rps, error_ratio, p99_s;
	int64_t t_us;	  /* when acc was last brought up to date */
	double acc[S_N];  /* each series' value at t_us */
	double slope[S_N]; /* per second */
	long scrapes;
};

struct fake_metrics {
	struct fm_service *v;
	size_t n, cap;
};

struct fake_metrics *fm_new(void)
{
	return rb_calloc(1, sizeof(struct fake_metrics));
}

/* Forgets every service: their counters start again from zero (Prometheus
 * sees a counter reset, which rate() handles). */
void fm_reset(struct fake_metrics *fm)
{
	for (size_t i = 0; i < fm->n; i++)
		free(fm->v[i].name);
	fm->n = 0;
}

void fm_free(struct fake_metrics *fm)
{
	if (!fm)
		return;
	fm_reset(fm);
	free(fm->v);
	free(fm);
}

static bool good_name(const char *s, size_t n)
{
	if (n == 0 || n > NAME_MAX_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= 'A' && s[i] <= 'Z') ||
		      (s[i] >= '0' && s[i] <= '9') || strchr("._-", s[i])))
			return false;
	return true;
}

/* /svc/NAME/metrics with NAME of [A-Za-z0-9._-], 1 to 64 characters. */
bool fm_path(const char *path)
{
	const char *ep = strrchr(path, '/');

	return !strncmp(path, "/svc/", 5) && ep > path + 5 && !strcmp(ep, "/metrics") &&
	       good_name(path + 5, (size_t)(ep - path - 5));
}

/* Brings every series up to now. */
static void advance(struct fm_service *s, int64_t now_us)
{
	double dt = now_us > s->t_us ? (double)(now_us - s->t_us) / 1e6 : 0;

	for (int i = 0; i < S_N; i++)
		s->acc[i] += s->slope[i] * dt;
	if (now_us > s->t_us)
		s->t_us = now_us;
}

/* The slopes from rps, error_ratio and p99_s (the file header says how the
 * latencies are placed). */
static void set_slopes(struct fm_service *s)
{
	double lo = 0, hi = bounds[0], a, c, next, mean, f;
	int k = 0;

	while (k < NB - 1 && s->p99_s > bounds[k])
		k++;
	hi = bounds[k];
	lo = k ? bounds[k - 1] : 0;
	f = (s->p99_s - lo) / (hi - lo);
	if (f <= 0.99 && k > 0) {
		a = (0.99 - f) / (1 - f);
		c = 1;
	} else {
		a = 0;
		c = f > 0 ? 0.99 / f : 1;
		if (c > 1)
			c = 1;
	}
	next = k + 1 < NB ? bounds[k + 1] : 2 * hi;
	mean = a * lo + (c - a) * (lo + hi) / 2 + (1 - c) * next;
	s->slope[S_OK] = s->rps * (1 - s->error_ratio);
	s->slope[S_ERR] = s->rps * s->error_ratio;
	for (int i = 0; i < NB; i++) {
		/* lo and hi are neighbours: no bound lies between them. */
		double share = bounds[i] < lo ? 0 : bounds[i] == lo ? a : bounds[i] == hi ? c : 1;

		s->slope[S_BUCKET + i] = s->rps * share;
	}
	s->slope[S_INF] = s->rps;
	s->slope[S_SUM] = s->rps * mean;
}

/* The service NAME (n bytes), created with no traffic when new. */
static struct fm_service *service(struct fake_metrics *fm, const char *name, size_t n,
				  int64_t now_us)
{
	struct fm_service *s;

	for (size_t i = 0; i < fm->n; i++)
		if (strlen(fm->v[i].name) == n && !memcmp(fm->v[i].name, name, n))
			return &fm->v[i];
	if (fm->n == fm->cap) {
		fm->cap = fm->cap ? fm->cap * 2 : 8;
		fm->v = rb_realloc(fm->v, fm->cap * sizeof *fm->v);
	}
	s = &fm->v[fm->n++];
	memset(s, 0, sizeof *s);
	s->name = rb_strndup(name, n);
	s->p99_s = P99_DEFAULT;
	s->t_us = now_us;
	set_slopes(s);
	return s;
}

static void put(struct rb_buf *b, const char *fmt, ...) RB_PRINTF(2, 3);
static void put(struct rb_buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = rb_buf_vprintf(b, fmt, ap);
	va_end(ap);
	RB_ASSERT(rc == RB_OK); /* a few KiB under a 1 MiB ceiling */
}

/* GET /svc/NAME/metrics (path checked by fm_path): the exposition text at
 * now_us, a new string (free with free()). Values are written with 15
 * significant digits, which Prometheus reads back as the same float64 to
 * within 1e-15 of its value. */
char *fm_scrape(struct fake_metrics *fm, const char *path, int64_t now_us)
{
	const char *name = path + 5;
	size_t n = (size_t)(strrchr(path, '/') - name);
	struct fm_service *s = service(fm, name, n, now_us);
	struct rb_buf b;
	const char *j = s->name;

	advance(s, now_us);
	s->scrapes++;
	rb_buf_init(&b, 1u << 20);
	put(&b, "# HELP http_requests_total Requests served, by HTTP status code.\n"
		"# TYPE http_requests_total counter\n");
	put(&b, "http_requests_total{job=\"%s\",code=\"200\"} %.15g\n", j, s->acc[S_OK]);
	put(&b, "http_requests_total{job=\"%s\",code=\"500\"} %.15g\n", j, s->acc[S_ERR]);
	put(&b, "# HELP http_request_duration_seconds Time taken to serve a request.\n"
		"# TYPE http_request_duration_seconds histogram\n");
	for (int i = 0; i < NB; i++)
		put(&b, "http_request_duration_seconds_bucket{job=\"%s\",le=\"%g\"} %.15g\n", j,
		    bounds[i], s->acc[S_BUCKET + i]);
	put(&b, "http_request_duration_seconds_bucket{job=\"%s\",le=\"+Inf\"} %.15g\n", j,
	    s->acc[S_INF]);
	put(&b, "http_request_duration_seconds_sum{job=\"%s\"} %.15g\n", j, s->acc[S_SUM]);
	put(&b, "http_request_duration_seconds_count{job=\"%s\"} %.15g\n", j, s->acc[S_INF]);
	return rb_buf_steal(&b);
}

static json_t *bad(int *status, const char *error)
{
	*status = 400;
	return json_pack("{s:b, s:s}", "ok", 0, "error", error);
}

static json_t *describe(const struct fm_service *s)
{
	return json_pack("{s:f, s:f, s:f, s:I, s:f, s:f}", "rps", s->rps, "error_ratio",
			 s->error_ratio, "p99_s", s->p99_s, "scrapes", (json_int_t)s->scrapes,
			 "requests_total", s->acc[S_INF], "errors_total", s->acc[S_ERR]);
}

/* Reads an optional number at key k into *out, within [lo, hi]. Returns
 * false when present and not such a number. */
static bool num(const json_t *body, const char *k, double lo, double hi, double *out)
{
	const json_t *v = json_object_get(body, k);

	if (!v)
		return true;
	if (!json_is_number(v) || json_number_value(v) < lo || json_number_value(v) > hi)
		return false;
	*out = json_number_value(v);
	return true;
}

/* GET /_fake/metrics: every service's traffic and counters. POST with
 * {"name":N,"rps":R,"error_ratio":E,"p99_s":P} (all but name optional, the
 * others kept): N's traffic from now on. Returns a new reference; *status
 * 400 for a malformed body, nothing changed. */
json_t *fm_control(struct fake_metrics *fm, const json_t *body, bool is_post, int64_t now_us,
		   int *status)
{
	const char *name = json_string_value(json_object_get(body, "name"));
	double rps, er, p99;
	struct fm_service *s;
	const char *k;
	json_t *v, *all;

	if (!is_post) {
		all = json_object();
		for (size_t i = 0; i < fm->n; i++) {
			advance(&fm->v[i], now_us);
			json_object_set_new(all, fm->v[i].name, describe(&fm->v[i]));
		}
		return json_pack("{s:b, s:o}", "ok", 1, "services", all);
	}
	json_object_foreach ((json_t *)body, k, v)
		if (!rb_str_in_list((const char *const[]){ "name", "rps", "error_ratio", "p99_s",
							   NULL },
				    k))
			return bad(status, "unknown key (name, rps, error_ratio, p99_s)");
	if (!name || !good_name(name, strlen(name)))
		return bad(status, "name must be 1 to 64 of [A-Za-z0-9._-]");
	rps = er = p99 = -1; /* -1: keep the service's own */
	if (!num(body, "rps", 0, 1e9, &rps))
		return bad(status, "rps must be a number >= 0");
	if (!num(body, "error_ratio", 0, 1, &er))
		return bad(status, "error_ratio must be a number from 0 to 1");
	if (!num(body, "p99_s", P99_MIN, P99_MAX, &p99))
		return bad(status, "p99_s must be a number from 0.005 to 10");
	s = service(fm, name, strlen(name), now_us);
	advance(s, now_us);
	rps = rps < 0 ? s->rps : rps;
	er = er < 0 ? s->error_ratio : er;
	p99 = p99 < 0 ? s->p99_s : p99;
	s->rps = rps;
	s->error_ratio = er;
	s->p99_s = p99;
	set_slopes(s);
	return json_pack("{s:b, s:o}", "ok", 1, "service", describe(s));
}
