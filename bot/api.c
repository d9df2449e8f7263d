/* rollbot — Slack Web API client (MIT licence, see LICENSE).
 *
 * Owns every HTTPS request rollbot makes: one libcurl multi handle driven
 * by the libuv loop (c-models.md §3.3, after curl's docs/examples/multi-uv.c),
 * the request structs, their retry timers and the policy that decides what
 * is retried.
 *
 * DESIGN
 *
 * The multi handle tells us which sockets to watch (socket_cb: one uv_poll_t
 * per socket, found again with curl_multi_assign) and when to wake it up
 * (curl_timer_cb: one uv_timer_t). Poll and timer events call
 * curl_multi_socket_action() and then drain curl_multi_info_read(), where
 * each finished attempt is classified: success, a final error, or a retry.
 * A retry removes the easy handle from the multi handle and arms the
 * request's own uv_timer_t; when it fires the same easy handle (same URL,
 * headers and copied body) is added again, so the connection cache of the
 * one multi handle gives keep-alive across calls and attempts.
 *
 * A request is unlinked from the pending list *before* its callback runs and
 * freed only after the callback returns (its timer is closed and the struct
 * freed in the close callback), so a callback may call api_call() again, or
 * api_free(). The client itself is freed in the close callback of the last
 * of its loop handles, never under a callback that might still use it:
 * after api_free() every loop-driven function checks api->closing before it
 * touches the multi handle.
 */
#include "api.h"

#include <curl/curl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "form.h"
#include "log.h"

/* Calls pending at once before api_call() answers API_EBUSY: far above what
 * Slack's rate limits let through, low enough to stop a runaway loop. */
#ifndef API_MAX_INFLIGHT
#define API_MAX_INFLIGHT 1000
#endif

#define API_MAX_CONNECTIONS 6L /* per host */
/* Calls with an easy handle at once. An easy handle costs about 6 KB, so a
 * burst of incidents (each posting and reacting) must not make one per call:
 * the others wait as their method and arguments only. */
#define API_MAX_LIVE 32

#define DEFAULT_BASE_URL "https://slack.com/api/"
#define DEFAULT_TIMEOUT_MS 10000L
#define DEFAULT_RETRY_BASE_MS 1000L
#define DEFAULT_MAX_RETRY_AFTER_MS 60000L
#define BACKOFF_CAP_MS 30000L
#define RETRY_AFTER_DEFAULT_S 30L /* a 429 without Retry-After, as python's SDK */

enum req_state {
	REQ_RUNNING, /* the easy handle is in the multi handle */
	REQ_WAITING, /* between attempts, the retry timer armed */
	REQ_DONE,    /* callback called; waiting for the timer to close */
};

struct api_req {
	struct api *api;
	struct api_req *prev, *next; /* api->reqs while not done */
	enum req_state state;
	CURL *easy;
	struct curl_slist *headers;
	char *label; /* method, or the host for api_post_url: safe to log */
	bool raw;    /* api_post_url: ok = 2xx, no Slack "ok" field */
	bool once;   /* api_probe_url: one attempt, whatever the answer */
	bool persist; /* api_call_until_answered: no attempt limit */
	api_wanted_fn wanted; /* asked before each retry; NULL = always */
	bool post_message; /* internal_error/fatal_error may have posted */
	api_cb cb;
	void *arg;
	int attempts;
	int limited; /* of the attempts, those Slack answered 429 */
	/* chat.postMessage: its channel and thread ("" = top level), which
	 * take one post at a time; NULL for other calls */
	char *channel, *thread;
	uint64_t started_ms;
	uv_timer_t retry;
	struct rb_buf body;
	bool too_big;
	char err[CURL_ERROR_SIZE];
	char status_err[32]; /* "http_503" */
	char last_error[64]; /* why the last attempt failed, for api_refused */
};

struct sock {
	uv_poll_t poll;
	struct api *api;
	struct sock *prev, *next; /* api->socks until closed */
	curl_socket_t fd;
	bool closing;
};

struct api {
	uv_loop_t *loop;
	CURLM *multi;
	uv_timer_t timer; /* curl's timeout */
	char *base_url;   /* always ends in '/' */
	char *bot_token;
	char *app_token;
	char *ca_file;
	long timeout_ms;
	long retry_base_ms;
	long max_retry_after_ms;
	struct api_req *reqs; /* not yet finished */
	int pending;
	/* api_call()s waiting for a slot, oldest first. */
	struct api_wait *wait_head, *wait_tail;
	int waiting;
	struct pace *pace;
	uv_timer_t gate; /* wakes pump() when a paced call may start */
	struct sock *socks;
	int open_handles; /* loop handles not yet closed; the last frees api */
	bool closing;
	uint64_t rng;
};

/* An api_call() that waits for a slot among API_MAX_LIVE. */
struct api_wait {
	struct api_wait *next;
	char *method;
	char *channel, *thread; /* as in api_req */
	bool persist;
	api_wanted_fn wanted;
	json_t *args;
	api_cb cb;
	void *arg;
};

static void pump(struct api *api);

/* What one finished attempt means. */
struct verdict {
	bool ok;
	bool retry;
	long delay_ms;      /* when retry */
	bool limited;       /* a 429: Slack's rate limit, not a failure */
	const char *error;  /* final error when !ok (also the retry reason) */
};

static void handle_closed(struct api *api);
static void start_attempt(struct api_req *req);

/* ---- small helpers ---- */

static uint64_t rng_next(struct api *api)
{
	/* xorshift64*: jitter only, not security. */
	uint64_t x = api->rng;

	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	api->rng = x;
	return x * 0x2545F4914F6CDD1DULL;
}

/* retry_base_ms · 2^(n-1) for the n-th failure, capped at 30 s, then ±20 %. */
static long backoff_ms(struct api *api, int failures)
{
	long d = api->retry_base_ms;
	double f;

	for (int i = 1; i < failures && d < BACKOFF_CAP_MS; i++)
		d *= 2;
	if (d > BACKOFF_CAP_MS)
		d = BACKOFF_CAP_MS;
	f = 0.8 + 0.4 * (double)(rng_next(api) >> 11) / (double)(1ULL << 53);
	d = (long)((double)d * f);
	return d > 0 ? d : 1;
}

static bool is_json_method(const char *method)
{
	return !strncmp(method, "chat.", 5) || !strcmp(method, "files.completeUploadExternal");
}

static bool valid_method(const char *method)
{
	if (!method || !*method)
		return false;
	for (const char *p = method; *p; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		      (*p >= '0' && *p <= '9') || *p == '.' || *p == '_'))
			return false;
	}
	return true;
}

static bool has_crlf(const char *s)
{
	return strchr(s, '\r') || strchr(s, '\n');
}

static bool retryable_slack_error(const struct api_req *req, const char *e)
{
	if (!strcmp(e, "internal_error") || !strcmp(e, "fatal_error"))
		return !req->post_message; /* "may have succeeded": never post twice */
	return !strcmp(e, "ratelimited") || !strcmp(e, "rate_limited") ||
	       !strcmp(e, "service_unavailable") || !strcmp(e, "request_timeout");
}

/* ---- the request ---- */

static size_t write_cb(char *p, size_t size, size_t n, void *userp)
{
	struct api_req *req = userp;

	if (req->too_big)
		return 0;
	if (rb_buf_append(&req->body, p, size * n) < 0) {
		req->too_big = true;
		return 0; /* curl aborts with CURLE_WRITE_ERROR */
	}
	return size * n;
}

static void req_close_cb(uv_handle_t *h)
{
	struct api_req *req = RB_CONTAINER_OF(h, struct api_req, retry);
	struct api *api = req->api;

	free(req);
	handle_closed(api);
}

/* Frees what the request owns and closes its timer; the struct itself goes
 * in req_close_cb. The easy handle must no longer be in the multi handle. */
static void req_release(struct api_req *req)
{
	curl_easy_cleanup(req->easy);
	req->easy = NULL;
	curl_slist_free_all(req->headers);
	req->headers = NULL;
	free(req->label);
	req->label = NULL;
	free(req->channel);
	free(req->thread);
	req->channel = req->thread = NULL;
	rb_buf_free(&req->body);
	uv_close((uv_handle_t *)&req->retry, req_close_cb);
}

static void req_unlink(struct api_req *req)
{
	struct api *api = req->api;

	if (req->prev)
		req->prev->next = req->next;
	else
		api->reqs = req->next;
	if (req->next)
		req->next->prev = req->prev;
	req->prev = req->next = NULL;
	api->pending--;
}

/* Reports the call's outcome exactly once, then releases the request.
 * `doc` (the parsed body or NULL) is stolen. The request is out of the
 * pending list before the callback runs, so the callback may start new
 * calls or free the client. */
static void finish(struct api_req *req, bool ok, const char *error, long status, json_t *doc)
{
	struct api *api = req->api;
	struct api_result res;

	req_unlink(req);
	req->state = REQ_DONE;
	res.ok = ok;
	res.error = ok ? NULL : error;
	res.http_status = status;
	res.body = doc;
	res.raw = rb_buf_str(&req->body);
	res.attempts = req->attempts;
	log_debug("api done method=%s ok=%d error=\"%s\" status=%ld attempts=%d ms=%llu",
		  req->label, ok, ok ? "" : error, status, req->attempts,
		  (unsigned long long)(uv_now(req->api->loop) - req->started_ms));
	req->cb(req->arg, &res);
	json_decref(doc);
	req_release(req);
	pump(api);
}

static long retry_after_ms(const struct api *api, long retry_after_s)
{
	long s = retry_after_s > 0 ? retry_after_s : RETRY_AFTER_DEFAULT_S;

	if (s > api->max_retry_after_ms / 1000L)
		return api->max_retry_after_ms;
	return s * 1000L;
}

/* Classifies an api_call attempt that got an HTTP response; `doc` is the
 * parsed body (borrowed) or NULL. */
static struct verdict judge_slack(struct api_req *req, long status, long retry_after_s,
				  const json_t *doc)
{
	struct verdict v = { 0 };
	const json_t *okv = json_object_get(doc, "ok");
	const char *e;

	if (status == 429) {
		v.retry = true;
		v.limited = true;
		v.delay_ms = retry_after_ms(req->api, retry_after_s);
		v.error = "ratelimited";
		return v;
	}
	if (status != 200) {
		snprintf(req->status_err, sizeof req->status_err, "http_%ld", status);
		v.error = req->status_err;
		v.retry = status >= 500 && status <= 599;
		return v;
	}
	if (!json_is_object(doc) || !json_is_boolean(okv)) {
		v.error = "invalid_response";
		return v;
	}
	if (json_is_true(okv)) {
		v.ok = true;
		return v;
	}
	e = json_string_value(json_object_get(doc, "error"));
	v.error = e ? e : "unknown_error";
	v.retry = retryable_slack_error(req, v.error);
	return v;
}

/* Classifies an api_post_url attempt that got an HTTP response. */
static struct verdict judge_raw(struct api_req *req, long status, long retry_after_s)
{
	struct verdict v = { 0 };

	if (status >= 200 && status <= 299) {
		v.ok = true;
		return v;
	}
	if (status == 429) {
		v.retry = true;
		v.delay_ms = retry_after_ms(req->api, retry_after_s);
		v.error = "ratelimited";
		return v;
	}
	snprintf(req->status_err, sizeof req->status_err, "http_%ld", status);
	v.error = req->status_err;
	v.retry = status >= 500 && status <= 599;
	return v;
}

/* A 429: every call of the method (of chat.postMessage, to the channel)
 * waits with this one until Retry-After has passed, instead of drawing a
 * 429 of its own, which Slack counts as a further violation. */
static void hold_back(struct api_req *req, long delay_ms)
{
	struct api *api = req->api;
	uint64_t now = uv_now(api->loop);
	int held = 0;

	for (struct api_wait *w = api->wait_head; w; w = w->next)
		held += !strcmp(w->method, req->label) &&
			(!req->channel || (w->channel && !strcmp(w->channel, req->channel)));
	pace_pause(api->pace, req->label, req->channel, now, now + (uint64_t)delay_ms);
	log_warn("%s%s%s%s: it and %d call(s) behind it wait %ld ms (Retry-After)",
		 req->raw ? "Rate-limited by " : "Slack rate-limited ", req->label,
		 req->channel ? " in " : "", req->channel ? req->channel : "", held, delay_ms);
}

static void retry_cb(uv_timer_t *t)
{
	struct api_req *req = RB_CONTAINER_OF(t, struct api_req, retry);

	if (req->api->closing)
		return; /* cannot happen: api_free stops every retry timer */
	if (req->wanted && !req->wanted(req->arg)) {
		finish(req, false, "not_wanted", 0, NULL);
		return;
	}
	start_attempt(req);
}

/* One attempt finished (CURLMSG_DONE): take the easy handle out of the
 * multi handle, then report, or arm the retry timer. */
static void attempt_done(struct api_req *req, CURLcode code)
{
	struct api *api = req->api;
	struct verdict v = { 0 };
	long status = 0;
	curl_off_t retry_after = 0;
	json_t *doc = NULL;
	char transport[CURL_ERROR_SIZE + 16];

	curl_multi_remove_handle(api->multi, req->easy);
	curl_easy_getinfo(req->easy, CURLINFO_RESPONSE_CODE, &status);
	if (code == CURLE_OK) {
		curl_easy_getinfo(req->easy, CURLINFO_RETRY_AFTER, &retry_after);
		if (retry_after < 0 || retry_after > 86400)
			retry_after = 86400;
		if (req->body.len)
			doc = json_loadb(req->body.data, req->body.len, 0, NULL);
		v = req->raw ? judge_raw(req, status, (long)retry_after)
			     : judge_slack(req, status, (long)retry_after, doc);
	} else if (code == CURLE_WRITE_ERROR && req->too_big) {
		v.error = "response_too_large";
	} else if (code == CURLE_OPERATION_TIMEDOUT) {
		v.error = "timeout";
		v.retry = true;
	} else {
		snprintf(transport, sizeof transport, "transport: %s",
			 req->err[0] ? req->err : curl_easy_strerror(code));
		v.error = transport;
		v.retry = true;
	}
	if (v.limited)
		req->limited++;
	if (!v.ok && v.error)
		(void)rb_strlcpy(req->last_error, v.error, sizeof req->last_error);
	if (v.ok || !v.retry || req->once ||
	    (!req->persist && (req->attempts - req->limited >= API_MAX_ATTEMPTS ||
			       req->limited >= API_MAX_LIMITED))) {
		finish(req, v.ok, v.error, status, doc);
		return;
	}
	if (!v.delay_ms)
		v.delay_ms = backoff_ms(api, req->attempts - req->limited);
	if (v.limited && !req->raw)
		hold_back(req, v.delay_ms);
	if (req->persist && req->attempts - req->limited >= API_MAX_ATTEMPTS)
		log_warn("api retry method=%s attempt=%d reason=\"%s\" status=%ld delay_ms=%ld: "
			 "a post about an incident is not dropped, it waits for Slack",
			 req->label, req->attempts - req->limited, v.error, status, v.delay_ms);
	else
		log_warn("api retry method=%s attempt=%d/%d reason=\"%s\" status=%ld "
			 "delay_ms=%ld",
			 req->label, req->attempts - req->limited, API_MAX_ATTEMPTS, v.error,
			 status, v.delay_ms);
	json_decref(doc); /* v.error may point into doc: not used after this */
	req->state = REQ_WAITING;
	uv_timer_start(&req->retry, retry_cb, (uint64_t)v.delay_ms, 0);
}

/* Starts (or restarts) an attempt: same easy handle, fresh response buffer.
 * Returns 0, or a negative code when curl refused the handle (then nothing
 * is in flight and the caller decides what to report). */
static int add_attempt(struct api_req *req)
{
	CURLMcode mc;

	rb_buf_free(&req->body);
	req->too_big = false;
	req->err[0] = '\0';
	req->attempts++;
	req->state = REQ_RUNNING;
	mc = curl_multi_add_handle(req->api->multi, req->easy);
	if (mc != CURLM_OK) {
		log_error("api curl_multi_add_handle method=%s: %s", req->label,
			  curl_multi_strerror(mc));
		return RB_EINVAL;
	}
	return 0;
}

static void start_attempt(struct api_req *req)
{
	if (add_attempt(req) < 0)
		finish(req, false, "transport: curl_multi_add_handle failed", 0, NULL);
}

/* ---- libcurl ↔ libuv glue (c-models.md §3.3) ---- */

/* Drains finished transfers after every curl_multi_socket_action(). A
 * callback run from here may free the client: stop as soon as it has. */
static void drain(struct api *api)
{
	CURLMsg *msg;
	int left;

	while (!api->closing) {
		struct api_req *req;
		char *priv = NULL;
		CURLcode code;
		CURL *easy;

		msg = curl_multi_info_read(api->multi, &left);
		if (!msg)
			break;
		if (msg->msg != CURLMSG_DONE)
			continue;
		/* The message does not survive curl_multi_remove_handle: copy. */
		easy = msg->easy_handle;
		code = msg->data.result;
		curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
		req = (struct api_req *)(void *)priv;
		RB_ASSERT(req && req->easy == easy && req->state == REQ_RUNNING);
		attempt_done(req, code);
	}
}

static void poll_cb(uv_poll_t *h, int status, int events)
{
	struct sock *s = RB_CONTAINER_OF(h, struct sock, poll);
	struct api *api = s->api;
	int flags = 0, running;

	if (api->closing || s->closing)
		return;
	if (status < 0)
		flags = CURL_CSELECT_ERR;
	if (events & UV_READABLE)
		flags |= CURL_CSELECT_IN;
	if (events & UV_WRITABLE)
		flags |= CURL_CSELECT_OUT;
	curl_multi_socket_action(api->multi, s->fd, flags, &running);
	drain(api);
}

static void timeout_cb(uv_timer_t *t)
{
	struct api *api = RB_CONTAINER_OF(t, struct api, timer);
	int running;

	if (api->closing)
		return;
	curl_multi_socket_action(api->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	drain(api);
}

/* CURLMOPT_TIMERFUNCTION: never calls libcurl back from here. */
static int curl_timer_cb(CURLM *multi, long timeout_ms, void *userp)
{
	struct api *api = userp;

	(void)multi;
	if (timeout_ms < 0 || api->closing) {
		uv_timer_stop(&api->timer);
		return 0;
	}
	if (timeout_ms == 0)
		timeout_ms = 1; /* "asap", but not within this callback */
	uv_timer_start(&api->timer, timeout_cb, (uint64_t)timeout_ms, 0);
	return 0;
}

static void sock_close_cb(uv_handle_t *h)
{
	struct sock *s = RB_CONTAINER_OF(h, struct sock, poll);
	struct api *api = s->api;

	if (s->prev)
		s->prev->next = s->next;
	else
		api->socks = s->next;
	if (s->next)
		s->next->prev = s->prev;
	free(s);
	handle_closed(api);
}

static void sock_close(struct sock *s)
{
	if (s->closing)
		return;
	s->closing = true;
	uv_poll_stop(&s->poll);
	uv_close((uv_handle_t *)&s->poll, sock_close_cb);
}

/* CURLMOPT_SOCKETFUNCTION: one uv_poll_t per socket, remembered with
 * curl_multi_assign. Also runs inside curl_multi_cleanup(). */
static int socket_cb(CURL *easy, curl_socket_t fd, int what, void *userp, void *socketp)
{
	struct api *api = userp;
	struct sock *s = socketp;
	int events = 0, rc;

	(void)easy;
	if (what == CURL_POLL_REMOVE) {
		if (s) {
			sock_close(s);
			/* Not during curl_multi_cleanup(): the hash is going away. */
			if (!api->closing)
				curl_multi_assign(api->multi, fd, NULL);
		}
		return 0;
	}
	if (!s) {
		s = rb_calloc(1, sizeof *s);
		rc = uv_poll_init_socket(api->loop, &s->poll, fd);
		if (rc < 0) {
			log_error("api uv_poll_init_socket fd=%d: %s", (int)fd, uv_strerror(rc));
			free(s);
			return -1;
		}
		s->api = api;
		s->fd = fd;
		s->next = api->socks;
		if (api->socks)
			api->socks->prev = s;
		api->socks = s;
		api->open_handles++;
		curl_multi_assign(api->multi, fd, s);
	}
	if (what & CURL_POLL_IN)
		events |= UV_READABLE;
	if (what & CURL_POLL_OUT)
		events |= UV_WRITABLE;
	rc = uv_poll_start(&s->poll, events, poll_cb);
	if (rc < 0) {
		log_error("api uv_poll_start fd=%d: %s", (int)fd, uv_strerror(rc));
		return -1;
	}
	return 0;
}

/* ---- the client ---- */

static void handle_closed(struct api *api)
{
	RB_ASSERT(api->open_handles > 0);
	if (--api->open_handles > 0 || !api->closing)
		return;
	free(api->base_url);
	free(api->bot_token);
	free(api->app_token);
	free(api->ca_file);
	pace_free(api->pace);
	free(api);
}

static void timer_close_cb(uv_handle_t *h)
{
	handle_closed(RB_CONTAINER_OF(h, struct api, timer));
}

static void gate_close_cb(uv_handle_t *h)
{
	handle_closed(RB_CONTAINER_OF(h, struct api, gate));
}

static char *dup_or_null(const char *s)
{
	return s && *s ? rb_strdup(s) : NULL;
}

/* Creates a client on `loop` (see api.h). curl_global_init() must have run
 * (main does it, c-models.md §3.3.6). Options are copied; zero or negative
 * numbers take their defaults. Returns a new client: free with api_free. */
struct api *api_new(uv_loop_t *loop, const struct api_options *opt)
{
	struct api *api = rb_calloc(1, sizeof *api);
	const char *base = opt && opt->base_url && *opt->base_url ? opt->base_url
								: DEFAULT_BASE_URL;
	size_t n = strlen(base);

	api->loop = loop;
	api->base_url = rb_asprintf("%s%s", base, base[n - 1] == '/' ? "" : "/");
	api->bot_token = dup_or_null(opt ? opt->bot_token : NULL);
	api->app_token = dup_or_null(opt ? opt->app_token : NULL);
	api->ca_file = dup_or_null(opt ? opt->ca_file : NULL);
	api->timeout_ms = opt && opt->timeout_ms > 0 ? opt->timeout_ms : DEFAULT_TIMEOUT_MS;
	api->retry_base_ms =
		opt && opt->retry_base_ms > 0 ? opt->retry_base_ms : DEFAULT_RETRY_BASE_MS;
	api->max_retry_after_ms = opt && opt->max_retry_after_ms > 0 ? opt->max_retry_after_ms
								     : DEFAULT_MAX_RETRY_AFTER_MS;
	api->rng = uv_hrtime() ^ (uint64_t)(uintptr_t)api;
	if (!api->rng)
		api->rng = 0x9E3779B97F4A7C15ULL;

	api->pace = pace_new(opt ? &opt->pace : NULL);
	RB_ASSERT(uv_timer_init(loop, &api->timer) == 0);
	RB_ASSERT(uv_timer_init(loop, &api->gate) == 0);
	api->open_handles = 2;
	api->multi = curl_multi_init();
	RB_ASSERT(api->multi);
	/* A handful of connections, reused: Slack's rate limits let no more
	 * through, and a burst of incidents must not open a socket (and a TLS
	 * session, and its buffers) per call. Calls beyond wait in curl's own
	 * queue, in order. */
	curl_multi_setopt(api->multi, CURLMOPT_MAX_HOST_CONNECTIONS, API_MAX_CONNECTIONS);
	curl_multi_setopt(api->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, 2 * API_MAX_CONNECTIONS);
	curl_multi_setopt(api->multi, CURLMOPT_SOCKETFUNCTION, socket_cb);
	curl_multi_setopt(api->multi, CURLMOPT_SOCKETDATA, api);
	curl_multi_setopt(api->multi, CURLMOPT_TIMERFUNCTION, curl_timer_cb);
	curl_multi_setopt(api->multi, CURLMOPT_TIMERDATA, api);
	return api;
}

static void wait_free(struct api_wait *w)
{
	json_decref(w->args);
	free(w->method);
	free(w->channel);
	free(w->thread);
	free(w);
}

/* Cancels every pending call (callbacks run now, with "shutdown"), cleans
 * up the multi handle while the loop still exists and closes the loop
 * handles; the struct is freed by the last close callback. Safe to call
 * from an api callback; a second call from a shutdown callback is ignored. */
void api_free(struct api *api)
{
	struct api_req *req;

	if (!api || api->closing)
		return;
	api->closing = true;
	while (api->reqs) {
		req = api->reqs;
		if (req->state == REQ_RUNNING)
			curl_multi_remove_handle(api->multi, req->easy);
		else
			uv_timer_stop(&req->retry);
		finish(req, false, "shutdown", 0, NULL);
	}
	while (api->wait_head) {
		struct api_wait *w = api->wait_head;
		struct api_result res = { .ok = false, .error = "shutdown", .raw = "" };

		api->wait_head = w->next;
		api->waiting--;
		w->cb(w->arg, &res);
		wait_free(w);
	}
	api->wait_tail = NULL;
	uv_timer_stop(&api->gate);
	uv_close((uv_handle_t *)&api->gate, gate_close_cb);
	curl_multi_cleanup(api->multi); /* may call socket_cb with REMOVE */
	api->multi = NULL;
	for (struct sock *s = api->socks; s; s = s->next)
		sock_close(s);
	uv_timer_stop(&api->timer);
	uv_close((uv_handle_t *)&api->timer, timer_close_cb);
}

/* Builds a request around a new easy handle: URL, timeouts, TLS, buffers.
 * The caller adds headers and the body, then calls submit(). */
static struct api_req *req_new(struct api *api, const char *url, const char *label,
			       api_cb cb, void *arg)
{
	struct api_req *req = rb_calloc(1, sizeof *req);

	req->api = api;
	req->cb = cb;
	req->arg = arg;
	req->label = rb_strdup(label);
	rb_buf_init(&req->body, RB_HTTP_BODY_MAX);
	RB_ASSERT(uv_timer_init(api->loop, &req->retry) == 0);
	api->open_handles++;
	req->easy = curl_easy_init();
	RB_ASSERT(req->easy);
	curl_easy_setopt(req->easy, CURLOPT_URL, url);
	curl_easy_setopt(req->easy, CURLOPT_PRIVATE, (char *)req);
	curl_easy_setopt(req->easy, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(req->easy, CURLOPT_WRITEDATA, req);
	curl_easy_setopt(req->easy, CURLOPT_ERRORBUFFER, req->err);
	curl_easy_setopt(req->easy, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(req->easy, CURLOPT_TIMEOUT_MS, api->timeout_ms);
	curl_easy_setopt(req->easy, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(req->easy, CURLOPT_USERAGENT, "rollbot");
	if (api->ca_file)
		curl_easy_setopt(req->easy, CURLOPT_CAINFO, api->ca_file);
	/* No "Expect: 100-continue" round trip for bodies over 1 KiB. */
	req->headers = curl_slist_append(req->headers, "Expect:");
	return req;
}

/* Frees a request that was never started (no callback will run). */
static void req_discard(struct api_req *req)
{
	req->state = REQ_DONE;
	req_release(req);
}

static void add_header(struct api_req *req, const char *name, const char *value)
{
	char *h = rb_asprintf("%s: %s", name, value);
	struct curl_slist *l = curl_slist_append(req->headers, h);

	free(h);
	RB_ASSERT(l);
	req->headers = l;
}

/* Links the request into the pending list and starts its first attempt.
 * Returns 0, or a negative code after freeing it (no callback then). */
static int submit(struct api_req *req)
{
	struct api *api = req->api;

	curl_easy_setopt(req->easy, CURLOPT_HTTPHEADER, req->headers);
	req->started_ms = uv_now(api->loop);
	req->next = api->reqs;
	if (api->reqs)
		api->reqs->prev = req;
	api->reqs = req;
	api->pending++;
	if (add_attempt(req) < 0) {
		req_unlink(req);
		req_discard(req);
		return RB_EINVAL;
	}
	return 0;
}

/* Calls Web API `method` (see api.h). `args` is stolen. Returns 0 and calls
 * cb exactly once later (or from api_free), or API_ESHUTDOWN after
 * api_free, API_EBUSY when API_MAX_INFLIGHT calls are pending, RB_EINVAL
 * for a bad method or non-object args, RB_ETOOBIG for a body over
 * RB_HTTP_BODY_MAX; on error cb is never called. */
static int call_now(struct api *api, const char *method, json_t *args, api_cb cb, void *arg,
		    const char *channel, const char *thread, bool persist, api_wanted_fn wanted);

/* 0 when a call may start now, else how long it waits (UINT64_MAX: until
 * the post before it in its thread is answered, which pumps again). */
static uint64_t gate_wait(struct api *api, const char *method, const char *channel,
			  const char *thread)
{
	if (channel)
		for (struct api_req *r = api->reqs; r; r = r->next)
			if (r->channel && !strcmp(r->channel, channel) &&
			    !strcmp(r->thread, thread))
				return UINT64_MAX;
	return pace_wait(api->pace, method, channel, uv_now(api->loop));
}

static void gate_cb(uv_timer_t *t)
{
	pump(RB_CONTAINER_OF(t, struct api, gate));
}

static int call(struct api *api, const char *method, json_t *args, api_cb cb, void *arg,
		bool persist, api_wanted_fn wanted)
{
	const char *channel = NULL, *thread = NULL;
	struct api_wait *w;

	if (!api || api->closing) {
		json_decref(args);
		return API_ESHUTDOWN;
	}
	if (!cb || !valid_method(method) || (args && !json_is_object(args))) {
		json_decref(args);
		return RB_EINVAL;
	}
	if (api->pending + api->waiting >= API_MAX_INFLIGHT) {
		json_decref(args);
		log_warn("api busy method=%s pending=%d", method, api->pending + api->waiting);
		return API_EBUSY;
	}
	if (!strcmp(method, "chat.postMessage") &&
	    json_is_string(json_object_get(args, "channel"))) {
		channel = json_string_value(json_object_get(args, "channel"));
		thread = json_string_value(json_object_get(args, "thread_ts"));
		thread = thread ? thread : "";
	}
	if (api->pending < API_MAX_LIVE && !api->wait_head &&
	    !gate_wait(api, method, channel, thread))
		return call_now(api, method, args, cb, arg, channel, thread, persist, wanted);
	w = rb_calloc(1, sizeof *w);
	w->method = rb_strdup(method);
	w->channel = channel ? rb_strdup(channel) : NULL;
	w->thread = thread ? rb_strdup(thread) : NULL;
	w->persist = persist;
	w->wanted = wanted;
	w->args = args;
	w->cb = cb;
	w->arg = arg;
	if (api->wait_tail)
		api->wait_tail->next = w;
	else
		api->wait_head = w;
	api->wait_tail = w;
	api->waiting++;
	uv_timer_start(&api->gate, gate_cb, 0, 0); /* pump, but not under the caller */
	return 0;
}

int api_call(struct api *api, const char *method, json_t *args, api_cb cb, void *arg)
{
	return call(api, method, args, cb, arg, false, NULL);
}

int api_call_until_answered(struct api *api, const char *method, json_t *args, api_cb cb,
			    void *arg, api_wanted_fn wanted)
{
	return call(api, method, args, cb, arg, true, wanted);
}

/* Starts the calls that wait and may go, oldest first, while there are
 * slots; then sets the gate timer for the soonest of the others. Calls in
 * one thread all wait while one of them does (the same thread, the same
 * channel's bucket or pause), so they leave in the order they came. One
 * that cannot be made after all still gets its callback, as promised. */
static void pump(struct api *api)
{
	struct api_wait **pp = &api->wait_head, *prev = NULL;
	uint64_t soonest = UINT64_MAX;

	while (!api->closing && *pp && api->pending < API_MAX_LIVE) {
		struct api_wait *w = *pp;
		uint64_t wait = gate_wait(api, w->method, w->channel, w->thread);
		int rc;

		if (wait) {
			if (wait < soonest)
				soonest = wait;
			prev = w;
			pp = &w->next;
			continue;
		}
		*pp = w->next;
		if (api->wait_tail == w)
			api->wait_tail = prev;
		api->waiting--;
		rc = call_now(api, w->method, w->args, w->cb, w->arg, w->channel, w->thread,
			      w->persist, w->wanted);
		w->args = NULL; /* stolen */
		if (rc) {
			struct api_result res = { .ok = false, .error = "client_error", .raw = "" };
			log_warn("api method=%s could not be started (%d)", w->method, rc);
			w->cb(w->arg, &res);
		}
		wait_free(w);
	}
	if (!api->closing && soonest != UINT64_MAX)
		uv_timer_start(&api->gate, gate_cb, soonest, 0);
}

/* api_call() with a slot: builds the request and starts it. `args` is
 * stolen. */
static int call_now(struct api *api, const char *method, json_t *args, api_cb cb, void *arg,
		    const char *channel, const char *thread, bool persist, api_wanted_fn wanted)
{
	struct api_req *req;
	const char *token;
	struct rb_buf body;
	char *url, *auth, *json;
	int rc;

	url = rb_asprintf("%s%s", api->base_url, method);
	req = req_new(api, url, method, cb, arg);
	free(url);
	req->post_message = !strcmp(method, "chat.postMessage");
	req->persist = persist;
	req->wanted = wanted;
	if (channel) {
		req->channel = rb_strdup(channel);
		req->thread = rb_strdup(thread);
	}

	token = !strcmp(method, "apps.connections.open") ? api->app_token : api->bot_token;
	if (token && !has_crlf(token)) {
		auth = rb_asprintf("Bearer %s", token);
		add_header(req, "Authorization", auth);
		free(auth);
	}

	rb_buf_init(&body, RB_HTTP_BODY_MAX);
	if (is_json_method(method)) {
		add_header(req, "Content-Type", "application/json; charset=utf-8");
		json = args ? json_dumps(args, JSON_COMPACT) : NULL;
		rc = rb_buf_puts(&body, json ? json : "{}");
		free(json);
	} else {
		add_header(req, "Content-Type", "application/x-www-form-urlencoded");
		rc = args ? form_encode(&body, req->easy, args) : 0;
	}
	json_decref(args);
	if (rc < 0) {
		rb_buf_free(&body);
		req_discard(req);
		return rc;
	}
	curl_easy_setopt(req->easy, CURLOPT_POSTFIELDSIZE, (long)body.len);
	curl_easy_setopt(req->easy, CURLOPT_COPYPOSTFIELDS, rb_buf_str(&body));
	rb_buf_free(&body);
	/* req->channel, not channel: that may point into args, freed above. */
	rc = submit(req);
	if (!rc)
		pace_take(api->pace, method, req->channel, uv_now(api->loop));
	return rc;
}

/* POSTs a raw body to an absolute http(s) URL with no token (see api.h).
 * `body` is copied. Only the URL's host is ever logged: a response_url is
 * itself a credential. Returns 0 and calls cb exactly once later, or
 * API_ESHUTDOWN, API_EBUSY, RB_EINVAL (bad URL or content type) or
 * RB_ETOOBIG (body over RB_HTTP_BODY_MAX), never calling cb then. */
/* Checks an absolute http(s) URL and makes the raw request for it (no
 * token; ok = 2xx). Returns 0 and *out, or a negative code. */
static int raw_req(struct api *api, const char *url, api_cb cb, void *arg,
		   struct api_req **out)
{
	CURLU *u;
	char *scheme = NULL, *host = NULL, *label;
	bool good;

	if (!api || api->closing)
		return API_ESHUTDOWN;
	if (!cb || !url)
		return RB_EINVAL;
	if (api->pending >= API_MAX_INFLIGHT)
		return API_EBUSY;
	u = curl_url();
	RB_ASSERT(u);
	good = curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	       curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	       curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
	       (!strcmp(scheme, "http") || !strcmp(scheme, "https"));
	label = good ? rb_asprintf("url host=%s", host) : NULL;
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	if (!good)
		return RB_EINVAL;
	*out = req_new(api, url, label, cb, arg);
	free(label);
	(*out)->raw = true;
	return 0;
}

int api_post_url(struct api *api, const char *url, const char *content_type,
		 const char *body, size_t len, api_cb cb, void *arg)
{
	struct api_req *req;
	int rc;

	if ((len && !body) || (content_type && has_crlf(content_type)))
		return RB_EINVAL;
	if (len > RB_HTTP_BODY_MAX)
		return RB_ETOOBIG;
	rc = raw_req(api, url, cb, arg, &req);
	if (rc)
		return rc;
	add_header(req, "Content-Type",
		   content_type && *content_type ? content_type : "application/octet-stream");
	curl_easy_setopt(req->easy, CURLOPT_POSTFIELDSIZE, (long)len);
	curl_easy_setopt(req->easy, CURLOPT_COPYPOSTFIELDS, len ? body : "");
	return submit(req);
}

/* GETs an absolute URL with no token: the flag service's confirmation, and
 * later the health and version probes. Same callback contract. */
int api_get_url(struct api *api, const char *url, api_cb cb, void *arg)
{
	struct api_req *req;
	int rc = raw_req(api, url, cb, arg, &req);

	if (rc)
		return rc;
	curl_easy_setopt(req->easy, CURLOPT_HTTPGET, 1L);
	return submit(req);
}

int api_probe_url(struct api *api, const char *url, long timeout_ms, api_cb cb, void *arg)
{
	struct api_req *req;
	int rc = raw_req(api, url, cb, arg, &req);

	if (rc)
		return rc;
	req->once = true;
	curl_easy_setopt(req->easy, CURLOPT_HTTPGET, 1L);
	if (timeout_ms > 0)
		curl_easy_setopt(req->easy, CURLOPT_TIMEOUT_MS, timeout_ms);
	return submit(req);
}

/* Calls in flight or waiting for a retry. */
int api_pending(const struct api *api)
{
	return api ? api->pending + api->waiting : 0;
}

int api_refused(const struct api *api, const char **last_error)
{
	int n = 0;

	for (const struct api_req *r = api ? api->reqs : NULL; r; r = r->next)
		if (r->persist && r->attempts - r->limited >= API_MAX_ATTEMPTS) {
			n++;
			if (last_error)
				*last_error = r->last_error;
		}
	return n;
}

const char *api_paused(struct api *api, uint64_t *left_ms, int *held)
{
	if (held)
		*held = api ? api->waiting : 0;
	return api && !api->closing ? pace_paused(api->pace, uv_now(api->loop), left_ms) : NULL;
}
