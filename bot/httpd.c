/* rollbot — the bot's own HTTP endpoints (MIT licence, see LICENSE).
 *
 * Each connection reads until the end of the request head (at most 8 KiB),
 * asks the handler for the answer, writes it with Connection: close, and
 * closes. The server and every connection count as references; the struct
 * goes with the last close callback (STYLE.md rule 7).
 */
#include "httpd.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

#define REQ_MAX 8192
#define BODY_MAX (256 * 1024) /* a POST's body (the Alertmanager webhook) */
#define CLIENT_TIMEOUT_MS 5000
#define CLIENTS_MAX 32

struct httpd {
	uv_tcp_t server;
	httpd_handler handler;
	void *arg;
	httpd_post_handler post; /* NULL: GET only */
	void *post_arg;
	int refs; /* the server + each client */
	int clients;
	bool closing;
	struct client *list;
};

struct client {
	struct httpd *h;
	struct client *next, *prev;
	uv_tcp_t tcp;
	uv_timer_t timer;
	uv_write_t wr;
	int handles; /* tcp and timer still open */
	char *req;  /* the request so far, NUL-terminated */
	size_t cap; /* bytes req can hold, NUL included */
	size_t len;
	char *out;
};

static void release(struct httpd *h)
{
	if (--h->refs == 0)
		free(h);
}

static void client_closed_cb(uv_handle_t *hd)
{
	struct client *c = hd->data;
	struct httpd *h = c->h;

	if (--c->handles)
		return;
	free(c->out);
	free(c->req);
	free(c);
	release(h);
}

static void client_close(struct client *c)
{
	struct httpd *h = c->h;

	if (uv_is_closing((uv_handle_t *)&c->tcp))
		return;
	if (c->prev)
		c->prev->next = c->next;
	else
		h->list = c->next;
	if (c->next)
		c->next->prev = c->prev;
	h->clients--;
	uv_close((uv_handle_t *)&c->timer, client_closed_cb);
	uv_close((uv_handle_t *)&c->tcp, client_closed_cb);
}

static void timeout_cb(uv_timer_t *t)
{
	client_close(t->data);
}

static void write_cb(uv_write_t *wr, int status)
{
	(void)status;
	client_close(wr->data);
}

static const char *reason(int status)
{
	switch (status) {
	case 200:
		return "OK";
	case 400:
		return "Bad Request";
	case 401:
		return "Unauthorized";
	case 404:
		return "Not Found";
	case 413:
		return "Payload Too Large";
	case 405:
		return "Method Not Allowed";
	case 503:
		return "Service Unavailable";
	default:
		return "Error";
	}
}

/* The value of header `name` in the request head (case-insensitive), cut
 * at the line's end, into out; "" when absent. */
static void header(const struct client *c, const char *name, char *out, size_t len)
{
	size_t n = strlen(name);
	const char *p = strstr(c->req, "\n");

	out[0] = '\0';
	for (; p && p[1] && p[1] != '\r' && p[1] != '\n'; p = strstr(p + 1, "\n")) {
		size_t v;

		if (strncasecmp(p + 1, name, n) || p[1 + n] != ':')
			continue;
		p += 2 + n;
		while (*p == ' ' || *p == '\t')
			p++;
		v = strcspn(p, "\r\n");
		snprintf(out, len, "%.*s", (int)v, p);
		return;
	}
}

/* Where the body starts, or NULL while the head is incomplete. */
static const char *body_start(const struct client *c)
{
	const char *e = strstr(c->req, "\r\n\r\n");

	if (e)
		return e + 4;
	e = strstr(c->req, "\n\n");
	return e ? e + 2 : NULL;
}

static long content_length(const struct client *c)
{
	char v[32], *end;
	long n;

	header(c, "Content-Length", v, sizeof v);
	n = strtol(v, &end, 10);
	return v[0] && !*end && n >= 0 ? n : -1;
}

static int post(struct client *c, const char *path, struct rb_buf *out)
{
	const char *b = body_start(c);
	long n = content_length(c);
	char auth[512];

	if (!b || n < 0)
		return rb_buf_puts(out, "Content-Length needed\n") ? 500 : 400;
	if (n > BODY_MAX)
		return rb_buf_puts(out, "body too large\n") ? 500 : 413;
	header(c, "Authorization", auth, sizeof auth);
	return c->h->post(c->h->post_arg, path, auth, b, (size_t)n, out);
}

static void answer(struct client *c)
{
	char method[8], path[256];
	struct rb_buf body;
	int status, rc;
	uv_buf_t b;

	uv_read_stop((uv_stream_t *)&c->tcp);
	rb_buf_init(&body, 1u << 20);
	if (sscanf(c->req, "%7s %255s", method, path) != 2) {
		status = 400;
		rc = rb_buf_puts(&body, "bad request\n");
	} else if (!strcmp(method, "POST") && c->h->post) {
		status = post(c, path, &body);
		rc = 0;
	} else if (strcmp(method, "GET")) {
		status = 405;
		rc = rb_buf_puts(&body, "GET only\n");
	} else {
		char *q = strchr(path, '?');
		if (q)
			*q = '\0';
		status = c->h->handler(c->h->arg, path, &body);
		rc = 0;
	}
	(void)rc; /* a body cut at its ceiling is still an answer */
	c->out = rb_asprintf("HTTP/1.1 %d %s\r\nContent-Type: text/plain; version=0.0.4; "
			     "charset=utf-8\r\nContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
			     status, reason(status), body.len, rb_buf_str(&body));
	rb_buf_free(&body);
	b = uv_buf_init(c->out, (unsigned)strlen(c->out));
	c->wr.data = c;
	if (uv_write(&c->wr, (uv_stream_t *)&c->tcp, &b, 1, write_cb))
		client_close(c);
}

static void alloc_cb(uv_handle_t *hd, size_t suggested, uv_buf_t *buf)
{
	struct client *c = hd->data;

	(void)suggested;
	buf->base = c->req + c->len;
	buf->len = c->cap - 1 - c->len;
}

static void read_cb(uv_stream_t *s, ssize_t n, const uv_buf_t *buf)
{
	struct client *c = s->data;

	(void)buf;
	if (n < 0) {
		client_close(c);
		return;
	}
	c->len += (size_t)n;
	c->req[c->len] = '\0';
	if (!body_start(c)) {
		if (c->len >= REQ_MAX)
			answer(c);
		return;
	}
	if (c->h->post && !strncmp(c->req, "POST ", 5)) {
		long cl = content_length(c);
		size_t need = (size_t)(body_start(c) - c->req) + (size_t)(cl > 0 ? cl : 0);

		/* Wait for the whole body when it is one we take. */
		if (cl > 0 && cl <= BODY_MAX && c->len < need) {
			if (c->cap < need + 1) {
				c->req = realloc(c->req, need + 1);
				RB_ASSERT(c->req);
				c->cap = need + 1;
			}
			return;
		}
	}
	answer(c);
}

static void connection_cb(uv_stream_t *server, int status)
{
	struct httpd *h = server->data;
	struct client *c;

	if (status < 0 || h->closing)
		return;
	c = rb_calloc(1, sizeof *c);
	c->req = rb_malloc(REQ_MAX + 1);
	c->req[0] = '\0';
	c->cap = REQ_MAX + 1;
	c->h = h;
	uv_tcp_init(server->loop, &c->tcp);
	uv_timer_init(server->loop, &c->timer);
	c->tcp.data = c;
	c->timer.data = c;
	c->handles = 2;
	h->refs++;
	c->next = h->list;
	if (c->next)
		c->next->prev = c;
	h->list = c;
	h->clients++;
	if (uv_accept(server, (uv_stream_t *)&c->tcp) || h->clients > CLIENTS_MAX) {
		client_close(c);
		return;
	}
	uv_timer_start(&c->timer, timeout_cb, CLIENT_TIMEOUT_MS, 0);
	uv_read_start((uv_stream_t *)&c->tcp, alloc_cb, read_cb);
}

static void server_closed_cb(uv_handle_t *hd)
{
	release(hd->data);
}

struct httpd *httpd_new(uv_loop_t *loop, const char *listen, httpd_handler handler, void *arg,
			char *err, size_t errlen)
{
	struct httpd *h;
	struct sockaddr_in sa;
	char host[64];
	const char *colon = strrchr(listen, ':');
	char *end;
	long port;
	int rc;

	if (!colon || (size_t)(colon - listen) >= sizeof host) {
		snprintf(err, errlen, "http_listen %s: expected HOST:PORT", listen);
		return NULL;
	}
	memcpy(host, listen, (size_t)(colon - listen));
	host[colon - listen] = '\0';
	if (!strcmp(host, "localhost"))
		(void)rb_strlcpy(host, "127.0.0.1", sizeof host);
	port = strtol(colon + 1, &end, 10);
	if (*end || port < 1 || port > 65535 || uv_ip4_addr(host, (int)port, &sa)) {
		snprintf(err, errlen, "http_listen %s: expected an IPv4 address and a port", listen);
		return NULL;
	}
	h = rb_calloc(1, sizeof *h);
	h->handler = handler;
	h->arg = arg;
	h->refs = 1;
	uv_tcp_init(loop, &h->server);
	h->server.data = h;
	rc = uv_tcp_bind(&h->server, (const struct sockaddr *)&sa, 0);
	if (!rc)
		rc = uv_listen((uv_stream_t *)&h->server, 16, connection_cb);
	if (rc) {
		snprintf(err, errlen, "http_listen %s: %s", listen, uv_strerror(rc));
		h->closing = true;
		uv_close((uv_handle_t *)&h->server, server_closed_cb);
		return NULL;
	}
	log_info("httpd: serving /health /ready /metrics on %s", listen);
	return h;
}

void httpd_set_post(struct httpd *h, httpd_post_handler fn, void *arg)
{
	h->post = fn;
	h->post_arg = arg;
}

void httpd_free(struct httpd *h)
{
	if (!h)
		return;
	h->closing = true;
	while (h->list)
		client_close(h->list);
	uv_close((uv_handle_t *)&h->server, server_closed_cb);
}
