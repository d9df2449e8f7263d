/* rollbot — tests for bot/api.c (MIT licence, see LICENSE).
 *
 * The real client against a tiny scripted HTTP/1.1 server that runs on the
 * same libuv loop: it parses the request line, the headers and a
 * Content-Length body, records every request (with the connection it came
 * on and the loop time) and answers from the test's script, or never
 * answers. One behaviour per test; every test runs the loop to completion
 * and checks uv_loop_close() == 0, so a leaked handle fails the test.
 * Assertions run only after uv_run() returns, never inside a callback.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bot/api.h"
#include "bot/log.h"

#define BOT_TOKEN "xoxb-test-bot-token"
#define APP_TOKEN "xapp-test-app-token"
#define MAX_RECS 64
#define MAX_HDRS 32
#define MAX_GOT 8
#define GUARD_MS 15000

/* ---- the scripted server ---- */

struct resp {
	int status;
	const char *extra; /* extra header lines, each ending in \r\n */
	const char *body;
	bool hang;         /* read the request, never answer */
};

struct rec {
	char method[16];
	char *path;
	int nh;
	char *hname[MAX_HDRS];
	char *hval[MAX_HDRS];
	char *body;
	size_t body_len;
	uint64_t at_ms;
	int conn_id;
};

struct srv;

struct conn {
	uv_tcp_t tcp;
	struct srv *srv;
	struct conn *next;
	struct rb_buf in;
	int id;
	bool closing;
};

struct srv {
	uv_loop_t *loop;
	uv_tcp_t listen;
	int port;
	const struct resp *script; /* answered in order; the last one repeats */
	int nscript;
	int next_resp;
	const struct resp *(*pick)(struct srv *, const struct rec *);
	struct rec recs[MAX_RECS];
	int nrecs;
	struct conn *conns;
	int nconns;
};

struct out_write {
	uv_write_t w;
	char *text;
};

static const struct resp ok_resp = { 200, NULL, "{\"ok\":true}", false };

static const char *rec_header(const struct rec *r, const char *name)
{
	for (int i = 0; i < r->nh; i++)
		if (!strcasecmp(r->hname[i], name))
			return r->hval[i];
	return NULL;
}

static void rec_free(struct rec *r)
{
	free(r->path);
	free(r->body);
	for (int i = 0; i < r->nh; i++) {
		free(r->hname[i]);
		free(r->hval[i]);
	}
	memset(r, 0, sizeof *r);
}

static const struct resp *pick_script(struct srv *srv, const struct rec *r)
{
	(void)r;
	if (!srv->nscript)
		return &ok_resp;
	if (srv->next_resp < srv->nscript)
		return &srv->script[srv->next_resp++];
	return &srv->script[srv->nscript - 1];
}

static void conn_close_cb(uv_handle_t *h)
{
	struct conn *c = RB_CONTAINER_OF(h, struct conn, tcp);
	struct conn **pp = &c->srv->conns;

	while (*pp != c)
		pp = &(*pp)->next;
	*pp = c->next;
	rb_buf_free(&c->in);
	free(c);
}

static void conn_close(struct conn *c)
{
	if (c->closing)
		return;
	c->closing = true;
	uv_close((uv_handle_t *)&c->tcp, conn_close_cb);
}

static void out_write_cb(uv_write_t *w, int status)
{
	struct out_write *ow = RB_CONTAINER_OF(w, struct out_write, w);

	(void)status;
	free(ow->text);
	free(ow);
}

static const char *reason_phrase(int status)
{
	switch (status) {
	case 200: return "OK";
	case 404: return "Not Found";
	case 429: return "Too Many Requests";
	case 500: return "Internal Server Error";
	case 503: return "Service Unavailable";
	default: return "Whatever";
	}
}

static void answer(struct conn *c, const struct resp *r)
{
	struct out_write *ow;
	uv_buf_t b;

	if (r->hang || c->closing)
		return;
	ow = rb_calloc(1, sizeof *ow);
	ow->text = rb_asprintf("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\n"
			       "Content-Length: %zu\r\n%s\r\n%s",
			       r->status, reason_phrase(r->status), strlen(r->body),
			       r->extra ? r->extra : "", r->body);
	b = uv_buf_init(ow->text, (unsigned)strlen(ow->text));
	if (uv_write(&ow->w, (uv_stream_t *)&c->tcp, &b, 1, out_write_cb) < 0) {
		free(ow->text);
		free(ow);
	}
}

/* Parses one complete request at the start of c->in into r. Returns the
 * bytes it used, 0 when more are needed, -1 when it is not HTTP. */
static long parse_request(struct conn *c, struct rec *r)
{
	const char *d = rb_buf_str(&c->in), *end, *line, *eol, *colon;
	size_t hdr_len, clen = 0;
	const char *sp1, *sp2;

	end = memmem(d, c->in.len, "\r\n\r\n", 4);
	if (!end)
		return 0;
	hdr_len = (size_t)(end - d) + 4;
	eol = strstr(d, "\r\n");
	sp1 = memchr(d, ' ', (size_t)(eol - d));
	sp2 = sp1 ? memchr(sp1 + 1, ' ', (size_t)(eol - sp1 - 1)) : NULL;
	if (!sp2 || (size_t)(sp1 - d) >= sizeof r->method)
		return -1;
	for (line = eol + 2; line < end; line = eol + 2) {
		eol = strstr(line, "\r\n");
		colon = memchr(line, ':', (size_t)(eol - line));
		if (!colon || r->nh == MAX_HDRS)
			continue;
		r->hname[r->nh] = rb_strndup(line, (size_t)(colon - line));
		colon++;
		while (*colon == ' ')
			colon++;
		r->hval[r->nh] = rb_strndup(colon, (size_t)(eol - colon));
		if (!strcasecmp(r->hname[r->nh], "content-length"))
			clen = strtoul(r->hval[r->nh], NULL, 10);
		r->nh++;
	}
	if (c->in.len < hdr_len + clen) {
		rec_free(r);
		return 0;
	}
	memcpy(r->method, d, (size_t)(sp1 - d));
	r->path = rb_strndup(sp1 + 1, (size_t)(sp2 - sp1 - 1));
	r->body = rb_strndup(d + hdr_len, clen);
	r->body_len = clen;
	r->conn_id = c->id;
	r->at_ms = uv_now(c->srv->loop);
	return (long)(hdr_len + clen);
}

static void consume(struct rb_buf *b, size_t n)
{
	char *rest = rb_strndup(rb_buf_str(b) + n, b->len - n);
	size_t len = b->len - n;

	rb_buf_reset(b);
	if (rb_buf_append(b, rest, len) < 0)
		fprintf(stderr, "test_api: server buffer\n");
	free(rest);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	(void)h;
	buf->base = rb_malloc(suggested);
	buf->len = suggested;
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct conn *c = RB_CONTAINER_OF(s, struct conn, tcp);
	struct srv *srv = c->srv;

	if (nread < 0) {
		free(buf->base);
		conn_close(c);
		return;
	}
	if (rb_buf_append(&c->in, buf->base, (size_t)nread) < 0) {
		free(buf->base);
		conn_close(c);
		return;
	}
	free(buf->base);
	while (!c->closing && srv->nrecs < MAX_RECS) {
		struct rec *r = &srv->recs[srv->nrecs];
		long used = parse_request(c, r);

		if (used < 0) {
			conn_close(c);
			return;
		}
		if (used == 0)
			return;
		srv->nrecs++;
		consume(&c->in, (size_t)used);
		answer(c, srv->pick(srv, r));
	}
}

static void accept_cb(uv_stream_t *l, int status)
{
	struct srv *srv = RB_CONTAINER_OF(l, struct srv, listen);
	struct conn *c;

	if (status < 0)
		return;
	c = rb_calloc(1, sizeof *c);
	c->srv = srv;
	c->id = ++srv->nconns;
	rb_buf_init(&c->in, 4u << 20);
	uv_tcp_init(srv->loop, &c->tcp);
	c->next = srv->conns;
	srv->conns = c;
	if (uv_accept(l, (uv_stream_t *)&c->tcp) < 0) {
		conn_close(c);
		return;
	}
	uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
}

static void srv_start(struct srv *srv, uv_loop_t *loop)
{
	struct sockaddr_in addr;
	struct sockaddr_storage bound;
	int len = sizeof bound;

	srv->loop = loop;
	srv->pick = pick_script;
	assert_int_equal(uv_tcp_init(loop, &srv->listen), 0);
	assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &addr), 0);
	assert_int_equal(uv_tcp_bind(&srv->listen, (const struct sockaddr *)&addr, 0), 0);
	assert_int_equal(uv_listen((uv_stream_t *)&srv->listen, 16, accept_cb), 0);
	assert_int_equal(uv_tcp_getsockname(&srv->listen, (struct sockaddr *)&bound, &len), 0);
	srv->port = ntohs(((struct sockaddr_in *)&bound)->sin_port);
}

static void srv_close(struct srv *srv)
{
	uv_close((uv_handle_t *)&srv->listen, NULL);
	for (struct conn *c = srv->conns; c; c = c->next)
		conn_close(c);
}

/* ---- the fixture: a loop, the server, the client, the results ---- */

struct got {
	bool ok;
	char *error;
	long status;
	json_t *body;
	char *raw;
	int attempts;
	int pending; /* api_pending() seen from inside the callback */
	bool in_free;
	int tag;
};

struct fx {
	uv_loop_t loop;
	struct srv srv;
	struct api *api;
	uv_timer_t guard;
	uv_timer_t aux;   /* linger after the last result, or a test's own timer */
	long linger_ms;
	struct got got[MAX_GOT];
	int ngot;
	int expect;     /* results after which the test stops */
	bool stopped;
	bool timed_out;
	bool in_free;
	int pending_before_free;
	int rc_in_cb;   /* what a call from inside a callback returned */
	int free_after_recs; /* free_when_ready_cb: requests to wait for */
	int ticks;
	void (*on_result)(struct fx *, const struct got *);
	char base[64];
};

static void fx_stop(struct fx *fx)
{
	if (fx->stopped)
		return;
	fx->stopped = true;
	api_free(fx->api);
	srv_close(&fx->srv);
	uv_close((uv_handle_t *)&fx->guard, NULL);
	uv_close((uv_handle_t *)&fx->aux, NULL);
}

static void guard_cb(uv_timer_t *t)
{
	struct fx *fx = RB_CONTAINER_OF(t, struct fx, guard);

	fx->timed_out = true;
	fx_stop(fx);
}

static void linger_cb(uv_timer_t *t)
{
	fx_stop(RB_CONTAINER_OF(t, struct fx, aux));
}

static void result_cb(void *arg, const struct api_result *res)
{
	struct fx *fx = arg;
	struct got *g;

	if (fx->ngot == MAX_GOT)
		return;
	g = &fx->got[fx->ngot++];
	g->ok = res->ok;
	g->error = res->error ? rb_strdup(res->error) : NULL;
	g->status = res->http_status;
	g->body = json_incref(res->body);
	g->raw = rb_strdup(res->raw);
	g->attempts = res->attempts;
	g->pending = api_pending(fx->api);
	g->in_free = fx->in_free;
	if (fx->on_result)
		fx->on_result(fx, g);
	if (fx->ngot != fx->expect)
		return;
	if (fx->linger_ms)
		uv_timer_start(&fx->aux, linger_cb, (uint64_t)fx->linger_ms, 0);
	else
		fx_stop(fx);
}

static int setup(void **state)
{
	struct fx *fx = rb_calloc(1, sizeof *fx);

	assert_int_equal(uv_loop_init(&fx->loop), 0);
	srv_start(&fx->srv, &fx->loop);
	assert_int_equal(uv_timer_init(&fx->loop, &fx->guard), 0);
	assert_int_equal(uv_timer_start(&fx->guard, guard_cb, GUARD_MS, 0), 0);
	assert_int_equal(uv_timer_init(&fx->loop, &fx->aux), 0);
	snprintf(fx->base, sizeof fx->base, "http://127.0.0.1:%d/api/", fx->srv.port);
	fx->expect = 1;
	*state = fx;
	return 0;
}

/* Frees what the test recorded; if a test failed half-way, stops and runs
 * the loop dry first so the next test starts clean. */
static int teardown(void **state)
{
	struct fx *fx = *state;

	if (!fx->stopped) {
		fx_stop(fx);
		uv_run(&fx->loop, UV_RUN_DEFAULT);
		uv_loop_close(&fx->loop);
	}
	for (int i = 0; i < fx->srv.nrecs; i++)
		rec_free(&fx->srv.recs[i]);
	for (int i = 0; i < fx->ngot; i++) {
		free(fx->got[i].error);
		free(fx->got[i].raw);
		json_decref(fx->got[i].body);
	}
	free(fx);
	return 0;
}

/* Creates the client; zero options take the test defaults below. */
static void fx_api(struct fx *fx, const char *base, long timeout_ms, long retry_base_ms,
		   long max_retry_after_ms)
{
	struct api_options o = {
		.base_url = base ? base : fx->base,
		.bot_token = BOT_TOKEN,
		.app_token = APP_TOKEN,
		.timeout_ms = timeout_ms ? timeout_ms : 3000,
		.retry_base_ms = retry_base_ms ? retry_base_ms : 20,
		.max_retry_after_ms = max_retry_after_ms,
	};

	fx->api = api_new(&fx->loop, &o);
}

static void fx_script(struct fx *fx, const struct resp *script, int n)
{
	fx->srv.script = script;
	fx->srv.nscript = n;
}

/* Runs the loop until everything is closed; the loop must close cleanly. */
static void fx_run(struct fx *fx)
{
	uv_run(&fx->loop, UV_RUN_DEFAULT);
	assert_false(fx->timed_out);
	assert_true(fx->stopped);
	assert_int_equal(uv_loop_close(&fx->loop), 0);
}

static void call(struct fx *fx, const char *method, json_t *args)
{
	assert_int_equal(api_call(fx->api, method, args, result_cb, fx), 0);
}

#define SCRIPT(fx, ...)                                              \
	do {                                                         \
		static const struct resp s_[] = { __VA_ARGS__ };     \
		fx_script((fx), s_, (int)RB_ARRAY_LEN(s_));          \
	} while (0)

#define R200(body) { 200, NULL, (body), false }
#define RSTATUS(st) { (st), NULL, "{\"ok\":false,\"error\":\"oops\"}", false }
#define RHANG { 0, NULL, "", true }

/* ---- request shape ---- */

static void test_post_message_sends_json_with_bot_token(void **state)
{
	struct fx *fx = *state;
	const struct rec *r;

	fx_api(fx, NULL, 0, 0, 0);
	call(fx, "chat.postMessage",
	     json_pack("{s:s, s:s, s:[{s:s}]}", "channel", "C05K8Q2V7XM", "text", "héllo & <you>",
		       "blocks", "type", "divider"));
	fx_run(fx);

	assert_int_equal(fx->srv.nrecs, 1);
	r = &fx->srv.recs[0];
	assert_string_equal(r->method, "POST");
	assert_string_equal(r->path, "/api/chat.postMessage");
	assert_string_equal(rec_header(r, "Content-Type"), "application/json; charset=utf-8");
	assert_string_equal(rec_header(r, "Authorization"), "Bearer " BOT_TOKEN);
	assert_null(rec_header(r, "Expect"));
	assert_string_equal(r->body, "{\"channel\":\"C05K8Q2V7XM\",\"text\":\"héllo & <you>\","
				     "\"blocks\":[{\"type\":\"divider\"}]}");
	assert_true(fx->got[0].ok);
}

static void test_reactions_add_sends_form_body(void **state)
{
	struct fx *fx = *state;
	const struct rec *r;

	fx_api(fx, NULL, 0, 0, 0);
	call(fx, "reactions.add",
	     json_pack("{s:s, s:s, s:s}", "channel", "C05K8Q2V7XM", "timestamp",
		       "1781061129.402619", "name", "white_check_mark"));
	fx_run(fx);

	assert_int_equal(fx->srv.nrecs, 1);
	r = &fx->srv.recs[0];
	assert_string_equal(r->path, "/api/reactions.add");
	assert_string_equal(rec_header(r, "Content-Type"), "application/x-www-form-urlencoded");
	assert_string_equal(rec_header(r, "Authorization"), "Bearer " BOT_TOKEN);
	assert_string_equal(r->body,
			    "channel=C05K8Q2V7XM&timestamp=1781061129.402619&name=white_check_mark");
}

static void test_form_body_encodes_every_value_type(void **state)
{
	struct fx *fx = *state;

	fx_api(fx, NULL, 0, 0, 0);
	call(fx, "conversations.info",
	     json_pack("{s:s, s:b, s:b, s:i, s:f, s:[{s:s}], s:n, s:s}", "channel", "C 1&x=y/z",
		       "include_locale", 1, "include_num_members", 0, "limit", 5, "ratio", 1.5,
		       "blocks", "type", "section", "skipped", "name", "ünï"));
	fx_run(fx);

	assert_int_equal(fx->srv.nrecs, 1);
	assert_string_equal(fx->srv.recs[0].body,
			    "channel=C%201%26x%3Dy%2Fz&include_locale=true&include_num_members=false"
			    "&limit=5&ratio=1.5&blocks=%5B%7B%22type%22%3A%22section%22%7D%5D"
			    "&name=%C3%BCn%C3%AF");
}

static void test_connections_open_uses_app_token(void **state)
{
	struct fx *fx = *state;
	const struct rec *r;

	fx_api(fx, NULL, 0, 0, 0);
	call(fx, "apps.connections.open", NULL);
	fx_run(fx);

	assert_int_equal(fx->srv.nrecs, 1);
	r = &fx->srv.recs[0];
	assert_string_equal(r->path, "/api/apps.connections.open");
	assert_string_equal(rec_header(r, "Authorization"), "Bearer " APP_TOKEN);
	assert_string_equal(r->body, "");
}

static void test_base_url_without_trailing_slash(void **state)
{
	struct fx *fx = *state;
	char base[64];

	snprintf(base, sizeof base, "http://127.0.0.1:%d/api", fx->srv.port);
	fx_api(fx, base, 0, 0, 0);
	call(fx, "auth.test", NULL);
	fx_run(fx);

	assert_int_equal(fx->srv.nrecs, 1);
	assert_string_equal(fx->srv.recs[0].path, "/api/auth.test");
}

/* ---- results ---- */

static void test_ok_true_result_has_parsed_body(void **state)
{
	struct fx *fx = *state;
	static const char body[] = "{\"ok\":true,\"url\":\"https:\\/\\/acme-eng.slack.com\\/\","
				   "\"user_id\":\"U07RLB0T9QK\"}";
	const struct got *g = &fx->got[0];

	SCRIPT(fx, R200(body));
	fx_api(fx, NULL, 0, 0, 0);
	call(fx, "auth.test", NULL);
	fx_run(fx);

	assert_int_equal(fx->ngot, 1);
	assert_true(g->ok);
	assert_null(g->error);
	assert_int_equal(g->status, 200);
	assert_int_equal(g->attempts, 1);
	assert_string_equal(g->raw, body);
	assert_non_null(g->body);
	assert_string_equal(json_string_value(json_object_get(g->body, "user_id")), "U07RLB0T9QK");
	assert_string_equal(json_string_value(json_object_get(g->body, "url")),
			    "https://acme-eng.slack.com/");
}

static void test_ok_false_reported_once_without_retry(void **state)
{
	struct fx *fx = *state;
	const struct got *g = &fx->got[0];

	SCRIPT(fx, R200("{\"ok\":false,\"error\":\"not_in_channel\"}"), R200("{\"ok\":true}"));
	fx_api(fx, NULL, 0, 0, 0);
	fx->linger_ms = 200; /* room for a (wrong) retry or second callback */
	call(fx, "chat.postMessage", json_pack("{s:s, s:s}", "channel", "C1", "text", "x"));
	fx_run(fx);

	assert_int_equal(fx->ngot, 1);
	assert_int_equal(fx->srv.nrecs, 1);
	assert_false(g->ok);
	assert_string_equal(g->error, "not_in_channel");
	assert_int_equal(g->status, 200);
	assert_int_equal(g->attempts, 1);
	assert_string_equal(json_string_value(json_object_get(g->body, "error")), "not_in_channel");
}

static void test_invalid_json_is_invalid_response(void **state)
{
	struct fx *fx = *state;
	const struct got *g = &fx->got[0];

	SCRIPT(fx, R200("<html>gateway</html>"));
	fx_api(fx, NULL, 0, 0, 0);
	call(fx, "auth.test", NULL);
	fx_run(fx);

	assert_int_equal(fx->srv.nrecs, 1);
	assert_false(g->ok);
	assert_string_equal(g->error, "invalid_response");
	assert_int_equal(g->status, 200);
	assert_int_equal(g->attempts, 1);
	assert_null(g->body);
	assert_string_equal(g->raw, "<html>gateway</html>");
}

static void test_other_4xx_not_retried(void **state)
{
	struct fx *fx = *state;
	const struct got *g = &fx->got[0];

	SCRIPT(fx, RSTATUS(404), R200("{\"ok\":true}"));
	fx_api(fx, NULL, 0, 0, 0);
	call(fx, "auth.test", NULL);
	fx_run(fx);

	assert_int_equal(fx->srv.nrecs, 1);
	assert_false(g->ok);
	assert_string_equal(g->error, "http_404");
	assert_int_equal(g->status, 404);
	assert_int_equal(g->attempts, 1);
}

/* ---- retries ---- */

static void test_429_waits_retry_after_then_succeeds(void **state)
{
	struct fx *fx = *state;
	const struct got *g = &fx->got[0];

	SCRIPT(fx, { 429, "Retry-After: 1\r\n", "{\"ok\":false,\"error\":\"ratelimited\"}", false },
	       R200("{\"ok\":true,\"ts\":\"1.000001\"}"));
	fx_api(fx, NULL, 0, 0, 0);
	call(fx, "chat.update", json_pack("{s:s, s:s, s:s}", "channel", "C1", "ts", "1.1", "text", "x"));
	fx_run(fx);

	assert_int_equal(fx->srv.nrecs, 2);
	assert_true(g->ok);
	assert_int_equal(g->attempts, 2);
	/* Retry-After: 1 waited about a second, not the 20 ms backoff. */
	assert_true(fx->srv.recs[1].at_ms - fx->srv.recs[0].at_ms >= 900);
	assert_string_equal(fx->srv.recs[1].body, fx->srv.recs[0].body);
}

static void test_retry_after_is_capped(void **state)
{
	struct fx *fx = *state;
	const struct got *g = &fx->got[0];

	SCRIPT(fx, { 429, "Retry-After: 120\r\n", "{\"ok\":false,\"error\":\"ratelimited\"}", false },
	       R200("{\"ok\":true}"));
	fx_api(fx, NULL, 0, 0, 50);
	call(fx, "auth.test", NULL);
	fx_run(fx);

	assert_int_equal(fx->srv.nrecs, 2);
	assert_true(g->ok);
	assert_int_equal(g->attempts, 2);
	assert_true(fx->srv.recs[1].at_ms - fx->srv.recs[0].at_ms < 5000);
}

static void test_429_every_time_fails_ratelimited(void **state)
{
	struct fx *fx = *state;
	const struct got *g = &fx->got[0];

	SCRIPT(fx, { 429, "Retry-After: 1\r\n", "{\"ok\":false,\"error\":\"ratelimited\"}", false });
	fx_api(fx, NULL, 0, 0, 10);
	call(fx, "auth.test", NULL);
	fx_run(fx);

	/* 429s do not use up the attempts: Slack says when to come back */
	assert_int_equal(fx->srv.nrecs, API_MAX_LIMITED);
	assert_false(g->ok);
	assert_string_equal(g->error, "ratelimited");
	assert_int_equal(g->status, 429);
	assert_int_equal(g->attempts, API_MAX_LIMITED);
}

static void test_429s_do_not_use_up_the_attempts(void **state)
{
	struct fx *fx = *state;
	const struct got *g = &fx->got[0];

	SCRIPT(fx, { 429, "Retry-After: 1\r\n", "{\"ok\":false,\"error\":\"ratelimited\"}", false },
	       { 429, "Retry-After: 1\r\n", "{\"ok\":false,\"error\":\"ratelimited\"}", false },
	       { 429, "Retry-After: 1\r\n", "{\"ok\":false,\"error\":\"ratelimited\"}", false },
	       { 429, "Retry-After: 1\r\n", "{\"ok\":false,\"error\":\"ratelimited\"}", false },
	       { 429, "Retry-After: 1\r\n", "{\"ok\":false,\"error\":\"ratelimited\"}", false },
	       RSTATUS(500), RSTATUS(500), RSTATUS(500), RSTATUS(500), R200("{\"ok\":true}"));
	fx_api(fx, NULL, 0, 0, 10);
	call(fx, "chat.update", json_pack("{s:s, s:s, s:s}", "channel", "C1", "ts", "1.1", "text", "x"));
	fx_run(fx);

	assert_int_equal(fx->srv.nrecs, 10);
	assert_true(g->ok);
	assert_int_equal(g->attempts, 10);
}

/* A post that must not be dropped outlasts the attempt limit: eight 500s,
 * then Slack answers; a plain call gives up after API_MAX_ATTEMPTS. */
static void test_until_answered_outlasts_the_attempt_limit(void **state)
{
	struct fx *fx = *state;
	const struct got *g = &fx->got[0];

	SCRIPT(fx, RSTATUS(500), RSTATUS(500), RSTATUS(500), RSTATUS(500), RSTATUS(500),
	       RSTATUS(500), RSTATUS(500), RSTATUS(500), R200("{\"ok\":true,\"ts\":\"1.000002\"}"));
	fx_api(fx, NULL, 0, 1, 0); /* backoff from 1 ms */
	assert_int_equal(api_call_until_answered(fx->api, "chat.postMessage",
						 json_pack("{s:s, s:s}", "channel", "C1", "text",
							   "x"),
						 result_cb, fx, NULL),
			 0);
	fx_run(fx);

	assert_int_equal(fx->srv.nrecs, 9);
	assert_true(g->ok);
	assert_int_equal(g->attempts, 9);
}

/* Wanted no more after its second failure (the incident went to another
 * replica, say). */
static bool wanted_twice(void *arg)
{
	const struct fx *fx = arg;

	return fx->srv.nrecs < 2;
}

static void test_until_answered_stops_when_not_wanted(void **state)
{
	struct fx *fx = *state;
	const struct got *g = &fx->got[0];

	SCRIPT(fx, RSTATUS(500));
	fx_api(fx, NULL, 0, 1, 0);
	fx->linger_ms = 200; /* no attempt after the answer */
	assert_int_equal(api_call_until_answered(fx->api, "chat.postMessage",
						 json_pack("{s:s, s:s}", "channel", "C1", "text",
							   "x"),
						 result_cb, fx, wanted_twice),
			 0);
	fx_run(fx);

	assert_int_equal(fx->ngot, 1);
	assert_int_equal(fx->srv.nrecs, 2);
	assert_false(g->ok);
	assert_string_equal(g->error, "not_wanted");
}

/* "A" draws one 429 (Retry-After capped to 300 ms), everything else is ok. */
static const struct resp *pick_429_for_a(struct srv *srv, const struct rec *r)
{
	static const struct resp limited = { 429, "Retry-After: 1\r\n",
					     "{\"ok\":false,\"error\":\"ratelimited\"}", false };

	if (strstr(r->body, "\"text\":\"A\"") && !srv->next_resp++)
		return &limited;
	return &ok_resp;
}

static int rec_index(const struct fx *fx, const char *text, int nth)
{
	char want[32];

	snprintf(want, sizeof want, "\"text\":\"%s\"", text);
	for (int i = 0; i < fx->srv.nrecs; i++)
		if (strstr(fx->srv.recs[i].body, want) && !nth--)
			return i;
	return -1;
}

static void post_d_cb(uv_timer_t *t)
{
	struct fx *fx = RB_CONTAINER_OF(t, struct fx, aux);

	fx->ticks = fx->srv.nrecs; /* checked after the run */
	fx->rc_in_cb = api_call(fx->api, "chat.postMessage",
				json_pack("{s:s, s:s}", "channel", "C1", "text", "D"), result_cb, fx);
}

/* A 429 on a post holds back the posts behind it in its thread and its
 * channel until Retry-After has passed (no 429 of their own), and the
 * thread's posts leave in the order they were made; another channel is
 * not held. */
static void test_429_holds_its_channel_and_thread_back_in_order(void **state)
{
	struct fx *fx = *state;
	int a, c, a2, b, d;

	fx->srv.pick = pick_429_for_a;
	fx_api(fx, NULL, 0, 0, 300);
	fx->expect = 4;
	call(fx, "chat.postMessage",
	     json_pack("{s:s, s:s, s:s}", "channel", "C1", "thread_ts", "1.1", "text", "A"));
	call(fx, "chat.postMessage",
	     json_pack("{s:s, s:s, s:s}", "channel", "C1", "thread_ts", "1.1", "text", "B"));
	call(fx, "chat.postMessage", json_pack("{s:s, s:s}", "channel", "C2", "text", "C"));
	uv_timer_start(&fx->aux, post_d_cb, 100, 0); /* once A's 429 is in */
	fx_run(fx);

	assert_int_equal(fx->rc_in_cb, 0);
	assert_int_equal(fx->ticks, 2); /* D was made after A (429) and C; B waited */
	assert_int_equal(fx->srv.nrecs, 5);
	a = rec_index(fx, "A", 0);
	a2 = rec_index(fx, "A", 1);
	b = rec_index(fx, "B", 0);
	c = rec_index(fx, "C", 0);
	d = rec_index(fx, "D", 0);
	/* B waited for A's answer: it never went out before A's retry */
	assert_true(a >= 0 && a2 > a && b > a2);
	/* C2 is not held: C went before A's retry */
	assert_true(c >= 0 && c < a2);
	/* D (C1, top level, made during the pause) waited for it to end */
	assert_true(d > a);
	assert_true(fx->srv.recs[d].at_ms - fx->srv.recs[a].at_ms >= 290);
	assert_true(fx->srv.recs[b].at_ms - fx->srv.recs[a].at_ms >= 290);
	for (int i = 0; i < fx->ngot; i++)
		assert_true(fx->got[i].ok);
}

static void test_500_twice_then_ok(void **state)
{
	struct fx *fx = *state;
	const struct got *g = &fx->got[0];

	SCRIPT(fx, RSTATUS(500), RSTATUS(500), R200("{\"ok\":true}"));
	fx_api(fx, NULL, 0, 0, 0);
	call(fx, "chat.postMessage", json_pack("{s:s, s:s}", "channel", "C1", "text", "x"));
	fx_run(fx);

	assert_int_equal(fx->srv.nrecs, 3);
	assert_true(g->ok);
	assert_int_equal(g->status, 200);
	assert_int_equal(g->attempts, 3);
}

static void test_500_always_fails_after_max_attempts(void **state)
{
	struct fx *fx = *state;
	const struct got *g = &fx->got[0];

	SCRIPT(fx, RSTATUS(500));
	fx_api(fx, NULL, 0, 0, 0);
	fx->linger_ms = 200; /* no sixth attempt */
	call(fx, "reactions.add", json_pack("{s:s}", "channel", "C1"));
	fx_run(fx);

	assert_int_equal(fx->ngot, 1);
	assert_int_equal(fx->srv.nrecs, API_MAX_ATTEMPTS);
	assert_false(g->ok);
	assert_string_equal(g->error, "http_500");
	assert_int_equal(g->status, 500);
	assert_int_equal(g->attempts, API_MAX_ATTEMPTS);
}

static void test_backoff_grows(void **state)
{
	struct fx *fx = *state;
	const struct rec *r = fx->srv.recs;

	SCRIPT(fx, RSTATUS(503), RSTATUS(503), RSTATUS(503), R200("{\"ok\":true}"));
	fx_api(fx, NULL, 0, 100, 0);
	call(fx, "auth.test", NULL);
	fx_run(fx);

	assert_int_equal(fx->srv.nrecs, 4);
	assert_true(fx->got[0].ok);
	/* 100, 200, 400 ms, each ±20 %. */
	assert_true(r[1].at_ms - r[0].at_ms >= 79);
	assert_true(r[2].at_ms - r[1].at_ms >= 159);
	assert_true(r[3].at_ms - r[2].at_ms >= 319);
}

static void test_ok_false_ratelimited_is_retried(void **state)
{
	struct fx *fx = *state;
	const struct got *g = &fx->got[0];

	SCRIPT(fx, R200("{\"ok\":false,\"error\":\"rate_limited\"}"), R200("{\"ok\":true}"));
	fx_api(fx, NULL, 0, 0, 0);
	call(fx, "chat.postMessage", json_pack("{s:s, s:s}", "channel", "C1", "text", "x"));
	fx_run(fx);

	assert_int_equal(fx->srv.nrecs, 2);
	assert_true(g->ok);
	assert_int_equal(g->attempts, 2);
}

static void test_internal_error_not_retried_for_post_message(void **state)
{
	struct fx *fx = *state;
	const struct got *g = &fx->got[0];

	SCRIPT(fx, R200("{\"ok\":false,\"error\":\"internal_error\"}"), R200("{\"ok\":true}"));
	fx_api(fx, NULL, 0, 0, 0);
	fx->linger_ms = 200;
	call(fx, "chat.postMessage", json_pack("{s:s, s:s}", "channel", "C1", "text", "x"));
	fx_run(fx);

	assert_int_equal(fx->ngot, 1);
	assert_int_equal(fx->srv.nrecs, 1);
	assert_false(g->ok);
	assert_string_equal(g->error, "internal_error");
	assert_int_equal(g->attempts, 1);
}

static void test_internal_error_retried_for_update(void **state)
{
	struct fx *fx = *state;
	const struct got *g = &fx->got[0];

	SCRIPT(fx, R200("{\"ok\":false,\"error\":\"internal_error\"}"), R200("{\"ok\":true}"));
	fx_api(fx, NULL, 0, 0, 0);
	call(fx, "chat.update", json_pack("{s:s, s:s, s:s}", "channel", "C1", "ts", "1.1", "text", "x"));
	fx_run(fx);

	assert_int_equal(fx->srv.nrecs, 2);
	assert_true(g->ok);
	assert_int_equal(g->attempts, 2);
}

static void test_no_answer_times_out(void **state)
{
	struct fx *fx = *state;
	const struct got *g = &fx->got[0];

	SCRIPT(fx, RHANG);
	fx_api(fx, NULL, 100, 10, 0);
	call(fx, "auth.test", NULL);
	fx_run(fx);

	assert_int_equal(fx->srv.nrecs, API_MAX_ATTEMPTS);
	assert_false(g->ok);
	assert_string_equal(g->error, "timeout");
	assert_int_equal(g->status, 0);
	assert_int_equal(g->attempts, API_MAX_ATTEMPTS);
}

static void test_refused_connection_is_transport_error(void **state)
{
	struct fx *fx = *state;
	const struct got *g = &fx->got[0];
	char base[64];

	uv_tcp_t tmp;
	struct sockaddr_in addr;
	struct sockaddr_storage bound;
	int len = sizeof bound;

	/* A port that was just free: bound, read, closed, so it refuses. */
	assert_int_equal(uv_tcp_init(&fx->loop, &tmp), 0);
	assert_int_equal(uv_ip4_addr("127.0.0.1", 0, &addr), 0);
	assert_int_equal(uv_tcp_bind(&tmp, (const struct sockaddr *)&addr, 0), 0);
	assert_int_equal(uv_tcp_getsockname(&tmp, (struct sockaddr *)&bound, &len), 0);
	snprintf(base, sizeof base, "http://127.0.0.1:%d/api/",
		 ntohs(((struct sockaddr_in *)&bound)->sin_port));
	uv_close((uv_handle_t *)&tmp, NULL);
	uv_run(&fx->loop, UV_RUN_NOWAIT);
	fx_api(fx, base, 0, 5, 0);
	call(fx, "auth.test", NULL);
	fx_run(fx);

	assert_false(g->ok);
	assert_non_null(g->error);
	assert_int_equal(strncmp(g->error, "transport: ", 11), 0);
	assert_int_equal(g->status, 0);
	assert_int_equal(g->attempts, API_MAX_ATTEMPTS);
}

/* ---- lifetime ---- */

/* Paths with "retry.me" get a 500, with "hang" no answer, others ok. */
static const struct resp *pick_by_path(struct srv *srv, const struct rec *r)
{
	static const struct resp fail = RSTATUS(500);
	static const struct resp hang = RHANG;

	(void)srv;
	if (strstr(r->path, "retry.me"))
		return &fail;
	return strstr(r->path, "hang") ? &hang : &ok_resp;
}

static void free_when_ready_cb(uv_timer_t *t)
{
	struct fx *fx = RB_CONTAINER_OF(t, struct fx, aux);

	/* The requests arrived, then a few more ticks for answers to be read. */
	if (fx->srv.nrecs < fx->free_after_recs || ++fx->ticks < 5)
		return;
	uv_timer_stop(t);
	fx->pending_before_free = api_pending(fx->api);
	fx->in_free = true;
	fx_stop(fx);
	fx->in_free = false;
}

static void test_free_cancels_calls_in_flight(void **state)
{
	struct fx *fx = *state;

	fx->srv.pick = pick_by_path;
	fx_api(fx, NULL, 0, 60000, 0); /* the 500 then waits ≥ 24 s for its retry */
	fx->expect = 3;
	fx->free_after_recs = 3;
	call(fx, "hang.a", NULL);
	call(fx, "retry.me", NULL);
	call(fx, "chat.hang", json_pack("{s:s, s:s}", "channel", "C1", "text", "x"));
	assert_int_equal(api_pending(fx->api), 3);
	uv_timer_start(&fx->aux, free_when_ready_cb, 20, 20);
	fx_run(fx);

	assert_int_equal(fx->srv.nrecs, 3);
	assert_int_equal(fx->pending_before_free, 3);
	assert_int_equal(fx->ngot, 3);
	for (int i = 0; i < 3; i++) {
		assert_true(fx->got[i].in_free); /* synchronously, inside api_free */
		assert_false(fx->got[i].ok);
		assert_string_equal(fx->got[i].error, "shutdown");
		assert_int_equal(fx->got[i].status, 0);
		assert_null(fx->got[i].body);
		assert_int_equal(fx->got[i].attempts, 1);
	}
}

static void call_again_cb(struct fx *fx, const struct got *g)
{
	(void)g;
	fx->rc_in_cb = api_call(fx->api, "auth.test", NULL, result_cb, fx);
}

static void test_call_from_shutdown_callback_refused(void **state)
{
	struct fx *fx = *state;

	fx->srv.pick = pick_by_path;
	fx_api(fx, NULL, 0, 0, 0);
	fx->on_result = call_again_cb;
	fx->free_after_recs = 1;
	call(fx, "hang.a", NULL);
	uv_timer_start(&fx->aux, free_when_ready_cb, 20, 20);
	fx_run(fx);

	assert_int_equal(fx->ngot, 1);
	assert_string_equal(fx->got[0].error, "shutdown");
	assert_int_equal(fx->rc_in_cb, API_ESHUTDOWN);
}

static void chain_cb(struct fx *fx, const struct got *g)
{
	(void)g;
	if (fx->ngot == 1)
		fx->rc_in_cb = api_call(fx->api, "chat.postMessage",
					json_pack("{s:s, s:s}", "channel", "C1", "text", "second"),
					result_cb, fx);
}

static void test_call_from_callback(void **state)
{
	struct fx *fx = *state;

	SCRIPT(fx, R200("{\"ok\":true,\"ts\":\"1.000001\"}"), R200("{\"ok\":true,\"ts\":\"1.000002\"}"));
	fx_api(fx, NULL, 0, 0, 0);
	fx->on_result = chain_cb;
	fx->expect = 2;
	call(fx, "chat.postMessage", json_pack("{s:s, s:s}", "channel", "C1", "text", "first"));
	fx_run(fx);

	assert_int_equal(fx->rc_in_cb, 0);
	assert_int_equal(fx->ngot, 2);
	assert_true(fx->got[0].ok);
	assert_true(fx->got[1].ok);
	assert_string_equal(json_string_value(json_object_get(fx->got[1].body, "ts")), "1.000002");
	assert_int_equal(fx->srv.nrecs, 2);
	assert_non_null(strstr(fx->srv.recs[1].body, "second"));
}

static void test_connection_reused(void **state)
{
	struct fx *fx = *state;

	fx_api(fx, NULL, 0, 0, 0);
	fx->on_result = chain_cb;
	fx->expect = 2;
	call(fx, "chat.postMessage", json_pack("{s:s, s:s}", "channel", "C1", "text", "first"));
	fx_run(fx);

	assert_int_equal(fx->srv.nrecs, 2);
	assert_int_equal(fx->srv.nconns, 1);
	assert_int_equal(fx->srv.recs[0].conn_id, fx->srv.recs[1].conn_id);
}

static void free_from_cb(struct fx *fx, const struct got *g)
{
	(void)g;
	if (fx->ngot == 1)
		fx_stop(fx); /* api_free with the other call still in flight */
}

static void test_free_from_callback(void **state)
{
	struct fx *fx = *state;

	fx->srv.pick = pick_by_path;
	fx_api(fx, NULL, 0, 0, 0);
	fx->on_result = free_from_cb;
	fx->expect = 2;
	call(fx, "hang.a", NULL);
	call(fx, "auth.test", NULL);
	fx_run(fx);

	assert_int_equal(fx->ngot, 2);
	assert_true(fx->got[0].ok);
	assert_false(fx->got[1].ok);
	assert_string_equal(fx->got[1].error, "shutdown");
}

static void test_pending_counts_unfinished_calls(void **state)
{
	struct fx *fx = *state;

	fx_api(fx, NULL, 0, 0, 0);
	fx->expect = 2;
	assert_int_equal(api_pending(fx->api), 0);
	call(fx, "auth.test", NULL);
	call(fx, "auth.test", NULL);
	assert_int_equal(api_pending(fx->api), 2);
	fx_run(fx);

	assert_int_equal(fx->got[0].pending, 1);
	assert_int_equal(fx->got[1].pending, 0);
}

static void test_bad_arguments_rejected_without_callback(void **state)
{
	struct fx *fx = *state;

	fx_api(fx, NULL, 0, 0, 0);
	assert_int_equal(api_call(fx->api, "", NULL, result_cb, fx), RB_EINVAL);
	assert_int_equal(api_call(fx->api, "chat.postMessage?x=1", NULL, result_cb, fx), RB_EINVAL);
	assert_int_equal(api_call(fx->api, "auth.test", json_array(), result_cb, fx), RB_EINVAL);
	assert_int_equal(api_post_url(fx->api, "ftp://127.0.0.1/x", "text/plain", "a", 1,
				      result_cb, fx),
			 RB_EINVAL);
	assert_int_equal(api_post_url(fx->api, "not a url", "text/plain", "a", 1, result_cb, fx),
			 RB_EINVAL);
	assert_int_equal(api_pending(fx->api), 0);
	api_free(NULL);
	fx_stop(fx);
	fx_run(fx);

	assert_int_equal(fx->ngot, 0);
	assert_int_equal(fx->srv.nrecs, 0);
}

/* ---- api_post_url ---- */

static void test_post_url_posts_raw_body(void **state)
{
	struct fx *fx = *state;
	static const char body[] = "{\"text\":\"hi\",\"response_type\":\"in_channel\"}";
	const struct rec *r = &fx->srv.recs[0];
	const struct got *g = &fx->got[0];
	char url[128];

	snprintf(url, sizeof url, "http://127.0.0.1:%d/commands/T06QX1H2K8Z/1234/secret",
		 fx->srv.port);
	fx_api(fx, NULL, 0, 0, 0);
	assert_int_equal(api_post_url(fx->api, url, "application/json", body, strlen(body),
				      result_cb, fx),
			 0);
	fx_run(fx);

	assert_int_equal(fx->srv.nrecs, 1);
	assert_string_equal(r->method, "POST");
	assert_string_equal(r->path, "/commands/T06QX1H2K8Z/1234/secret");
	assert_string_equal(rec_header(r, "Content-Type"), "application/json");
	assert_null(rec_header(r, "Authorization"));
	assert_string_equal(r->body, body);
	assert_true(g->ok);
	assert_int_equal(g->status, 200);
	assert_true(json_is_true(json_object_get(g->body, "ok")));
}

static void test_post_url_non_json_2xx_is_ok(void **state)
{
	struct fx *fx = *state;
	const struct got *g = &fx->got[0];
	char url[128];

	SCRIPT(fx, R200("OK - 5"));
	snprintf(url, sizeof url, "http://127.0.0.1:%d/upload/v1/F123", fx->srv.port);
	fx_api(fx, NULL, 0, 0, 0);
	assert_int_equal(api_post_url(fx->api, url, "application/octet-stream", "he\0lo", 5,
				      result_cb, fx),
			 0);
	fx_run(fx);

	assert_int_equal(fx->srv.recs[0].body_len, 5);
	assert_memory_equal(fx->srv.recs[0].body, "he\0lo", 5);
	assert_true(g->ok);
	assert_null(g->error);
	assert_null(g->body);
	assert_string_equal(g->raw, "OK - 5");
}

static void test_post_url_retries_5xx(void **state)
{
	struct fx *fx = *state;
	const struct got *g = &fx->got[0];
	char url[128];

	SCRIPT(fx, RSTATUS(503), R200("{\"ok\":true}"));
	snprintf(url, sizeof url, "http://127.0.0.1:%d/commands/x", fx->srv.port);
	fx_api(fx, NULL, 0, 0, 0);
	assert_int_equal(api_post_url(fx->api, url, "application/json", "{}", 2, result_cb, fx),
			 0);
	fx_run(fx);

	assert_int_equal(fx->srv.nrecs, 2);
	assert_true(g->ok);
	assert_int_equal(g->attempts, 2);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_post_message_sends_json_with_bot_token),
		T(test_reactions_add_sends_form_body),
		T(test_form_body_encodes_every_value_type),
		T(test_connections_open_uses_app_token),
		T(test_base_url_without_trailing_slash),
		T(test_ok_true_result_has_parsed_body),
		T(test_ok_false_reported_once_without_retry),
		T(test_invalid_json_is_invalid_response),
		T(test_other_4xx_not_retried),
		T(test_429_waits_retry_after_then_succeeds),
		T(test_retry_after_is_capped),
		T(test_429_every_time_fails_ratelimited),
		T(test_429s_do_not_use_up_the_attempts),
		T(test_until_answered_outlasts_the_attempt_limit),
		T(test_until_answered_stops_when_not_wanted),
		T(test_429_holds_its_channel_and_thread_back_in_order),
		T(test_500_twice_then_ok),
		T(test_500_always_fails_after_max_attempts),
		T(test_backoff_grows),
		T(test_ok_false_ratelimited_is_retried),
		T(test_internal_error_not_retried_for_post_message),
		T(test_internal_error_retried_for_update),
		T(test_no_answer_times_out),
		T(test_refused_connection_is_transport_error),
		T(test_free_cancels_calls_in_flight),
		T(test_call_from_shutdown_callback_refused),
		T(test_call_from_callback),
		T(test_connection_reused),
		T(test_free_from_callback),
		T(test_pending_counts_unfinished_calls),
		T(test_bad_arguments_rejected_without_callback),
		T(test_post_url_posts_raw_body),
		T(test_post_url_non_json_2xx_is_ok),
		T(test_post_url_retries_5xx),
	};
	const char *lvl = getenv("RB_TEST_LOG");
	enum log_level l = LOG_ERROR;
	int failed;

	/* The client honours proxy variables; the tests talk to 127.0.0.1. */
	unsetenv("http_proxy");
	unsetenv("HTTP_PROXY");
	unsetenv("https_proxy");
	unsetenv("HTTPS_PROXY");
	unsetenv("all_proxy");
	unsetenv("ALL_PROXY");
	if (lvl && log_level_from_name(lvl, &l) == 0)
		log_set_level(l);
	else
		log_set_level(LOG_ERROR);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	failed = cmocka_run_group_tests_name("api", tests, NULL, NULL);
	curl_global_cleanup();
	return failed ? 1 : 0;
}
