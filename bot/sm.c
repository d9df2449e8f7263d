/* rollbot — Slack Socket Mode client (MIT licence, see LICENSE).
 *
 * DESIGN
 *
 * One `struct sm` owns the libwebsockets context (on the shared libuv
 * loop) and a short list of `struct sm_conn`, one per websocket; during a
 * refresh two are alive, never more. A connection goes through:
 *
 *   OPENING (apps.connections.open in flight; only one at a time)
 *   → RESOLVING (uv_getaddrinfo: lws 4.1 would resolve synchronously)
 *   → CONNECTING (lws handshake) → WAITING_HELLO → LIVE
 *   → DRAINING (Slack asked us to leave, or a newer socket is live)
 *   → gone (CLIENT_CLOSED or CONNECTION_ERROR; freed right there)
 *
 * Acks: an envelope is parsed in CLIENT_RECEIVE and its ack (with the
 * payload the shell computes without I/O) is queued at once, with the
 * shell's verdict on it (opaque here) for dispatch to act on. The next
 * WRITEABLE writes every queued ack the socket takes, and only then do the
 * envelopes move to the ready queue, which an idle handle hands to the
 * shell a few per loop turn: a burst is acked completely before any of it
 * is worked on, and envelopes arriving meanwhile are acked first. If the
 * socket dies with acks still queued, the envelopes are dispatched anyway
 * (Slack may redeliver events; the shell's dedupe catches the copy).
 *
 * Reconnects: exponential backoff 1 s … 60 s with ±20 % jitter; the
 * counter resets on a socket's hello, as Slack's SDKs do: a socket Slack
 * accepted was a success, and the next drop (Slack drops sockets every
 * few hours, and on its deploys) is met with a reconnect within a second
 * or so. Sockets refused before their hello keep backing off. A refresh
 * opens the replacement immediately. too_many_websockets and link_disabled
 * are retried with the same backoff, which they do not reset.
 */
#include "sm.h"

#include <ctype.h>
#include <libwebsockets.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

enum conn_state { C_RESOLVING, C_CONNECTING, C_WAITING_HELLO, C_LIVE, C_DRAINING };

static const char *const conn_state_names[] = { "resolving", "connecting", "waiting_hello",
						"live", "draining" };

struct sm_out {
	struct sm_out *next;
	json_t *env; /* envelope to dispatch once written (a reference), or NULL */
	void *verdict; /* what ack_payload decided about env (owned), or NULL */
	uint64_t received_ns; /* uv_hrtime() when the envelope was complete */
	size_t len;
	unsigned char buf[]; /* LWS_PRE headroom + payload */
};

struct sm_conn {
	struct sm *sm;
	struct sm_conn *next;
	struct lws *wsi;
	unsigned id;
	enum conn_state state;
	bool close_requested; /* close once the out-queue is empty */
	bool resolving;       /* getaddrinfo in flight: free when it returns */
	bool dead;            /* gone while resolving or connecting: free later */
	bool in_connect;      /* inside lws_client_connect_via_info() */
	int64_t live_since_ms;
	uv_getaddrinfo_t gai;
	char url[2048];  /* lws_parse_uri cuts this up in place */
	char path[2048];
	char host[256];
	char addr[64];
	int port;
	bool tls;
	struct rb_buf rx;
	bool rx_over;        /* the message being read is over RB_WS_MSG_MAX */
	uint64_t rx_done_ns; /* when the message being handled was complete */
	struct sm_out *out_head, *out_tail;
};

struct sm {
	uv_loop_t *loop;
	struct api *api;
	struct sm_callbacks cb;
	void *cb_arg;
	struct lws_context *ctx;
	lws_retry_bo_t retry_policy;
	char ca_file[512];
	int hello_timeout_s;

	struct sm_conn *conns;
	unsigned next_id;
	bool opening; /* apps.connections.open in flight */
	bool open_when_room; /* a new socket waits for an old one to go */
	int retry_count;
	uv_timer_t retry_timer;
	uv_timer_t stop_timer;
	uv_idle_t dispatch_idle; /* runs `ready` while there is any */
	struct sm_out *ready_head, *ready_tail; /* acked, waiting for dispatch */
	int handles_open;

	bool started;
	bool stopping;
	bool stopped;
	void (*done)(void *);
	void *done_arg;
	struct sm_stats stats;
};

static void open_connection(struct sm *sm);
static void maybe_finish_stop(struct sm *sm);

static int64_t now_ms(const struct sm *sm)
{
	return (int64_t)uv_now(sm->loop);
}

static void lws_log_emit(int level, const char *line)
{
	if (level & LLL_ERR)
		log_error("lws: %s", line);
	else
		log_warn("lws: %s", line);
}

/* ---- reconnect scheduling ---- */

static void retry_cb(uv_timer_t *t)
{
	struct sm *sm = t->data;

	open_connection(sm);
}

/* Schedules the next connection attempt after the backoff for the current
 * failure count, but no sooner than `min_ms`. */
static void schedule_retry(struct sm *sm, uint64_t min_ms)
{
	uint64_t delay = 1000;

	if (sm->stopping)
		return;
	for (int i = 0; i < sm->retry_count && delay < 60000; i++)
		delay *= 2;
	if (delay > 60000)
		delay = 60000;
	/* ±20 % jitter, so that replicas do not reconnect in step. */
	delay = delay * (80 + (uint64_t)(rand() % 41)) / 100;
	if (delay < min_ms)
		delay = min_ms;
	sm->retry_count++;
	log_info("socket_mode: reconnecting in %llu ms (attempt %d)", (unsigned long long)delay,
		 sm->retry_count);
	uv_timer_start(&sm->retry_timer, retry_cb, delay, 0);
}

/* True when a socket is live or on its way, so no new one is needed. */
static bool have_usable_conn(const struct sm *sm)
{
	if (sm->opening)
		return true;
	for (const struct sm_conn *c = sm->conns; c; c = c->next)
		if (c->state != C_DRAINING && !c->close_requested)
			return true;
	return false;
}

/* ---- connection objects ---- */

const unsigned sm_ack_bucket_us[SM_ACK_BUCKETS - 1] = { 100, 250, 500, 1000, 2500, 5000, 10000, 25000 };

/* Counts one ack's time inside the bot into the histogram. */
static void note_ack_time(struct sm *sm, uint64_t received_ns)
{
	uint64_t us = (uv_hrtime() - received_ns) / 1000;
	int b = 0;

	while (b < SM_ACK_BUCKETS - 1 && us > sm_ack_bucket_us[b])
		b++;
	sm->stats.ack_us_bucket[b]++;
	sm->stats.ack_us_sum += us;
}

static void out_push(struct sm_conn *c, const char *text, size_t len, json_t *env,
		     void *verdict)
{
	struct sm_out *m = rb_malloc(sizeof *m + LWS_PRE + len);

	m->next = NULL;
	m->env = env;
	m->verdict = verdict;
	m->received_ns = c->rx_done_ns;
	m->len = len;
	memcpy(m->buf + LWS_PRE, text, len);
	if (c->out_tail)
		c->out_tail->next = m;
	else
		c->out_head = m;
	c->out_tail = m;
}

/* Frees an ack and the verdict that came with it (after its dispatch, or
 * when there is nothing to dispatch). */
static void out_free(struct sm *sm, struct sm_out *m)
{
	if (m->verdict && sm->cb.verdict_free)
		sm->cb.verdict_free(m->verdict);
	free(m);
}

static struct sm_out *out_pop(struct sm_conn *c)
{
	struct sm_out *m = c->out_head;

	if (m) {
		c->out_head = m->next;
		if (!c->out_head)
			c->out_tail = NULL;
	}
	return m;
}

/* Envelopes whose acks are out wait here for the shell, so that a burst is
 * acked completely before any of it is worked on (DISPATCH_PER_TURN at a
 * time, then the loop polls again and new envelopes are acked first). */
#define DISPATCH_PER_TURN 8
#define WRITES_PER_WRITEABLE 64

static void dispatch_idle_cb(uv_idle_t *h);

static void ready_push(struct sm *sm, struct sm_out *m)
{
	m->next = NULL;
	if (sm->ready_tail)
		sm->ready_tail->next = m;
	else
		sm->ready_head = m;
	sm->ready_tail = m;
	if (!uv_is_active((uv_handle_t *)&sm->dispatch_idle))
		uv_idle_start(&sm->dispatch_idle, dispatch_idle_cb);
}

static void dispatch_idle_cb(uv_idle_t *h)
{
	struct sm *sm = h->data;

	for (int i = 0; i < DISPATCH_PER_TURN && sm->ready_head; i++) {
		struct sm_out *m = sm->ready_head;
		sm->ready_head = m->next;
		if (!sm->ready_head)
			sm->ready_tail = NULL;
		sm->cb.dispatch(sm->cb_arg, m->env, m->verdict);
		json_decref(m->env);
		out_free(sm, m);
	}
	if (!sm->ready_head) {
		uv_idle_stop(&sm->dispatch_idle);
		maybe_finish_stop(sm);
	}
}

static void conn_unlink(struct sm_conn *c)
{
	struct sm_conn **pp = &c->sm->conns;

	while (*pp && *pp != c)
		pp = &(*pp)->next;
	if (*pp)
		*pp = c->next;
}

/* The connection is gone (closed, failed, or never made it). Envelopes whose
 * acks were still queued are acted on anyway; then the object is freed and,
 * if that left the bot with no usable socket, a reconnect is scheduled. */
static void conn_gone(struct sm_conn *c, const char *why)
{
	struct sm *sm = c->sm;
	struct sm_out *m;
	log_info("socket_mode: conn=%u closed state=%s reason=%s", c->id,
		 conn_state_names[c->state], why);
	sm->stats.disconnects++;
	c->wsi = NULL;
	conn_unlink(c);
	while ((m = out_pop(c))) {
		if (m->env) {
			log_warn("socket_mode: conn=%u closed before an ack was written; acting on "
				 "the envelope anyway",
				 c->id);
			ready_push(sm, m);
		} else {
			out_free(sm, m);
		}
	}
	rb_buf_free(&c->rx);
	if (c->resolving || c->in_connect)
		c->dead = true; /* freed when getaddrinfo or the connect call returns */
	else
		free(c);
	if (sm->stopping) {
		maybe_finish_stop(sm);
		return;
	}
	if (sm->open_when_room) {
		sm->open_when_room = false;
		uv_timer_stop(&sm->retry_timer);
		open_connection(sm);
		return;
	}
	if (!have_usable_conn(sm) && !uv_is_active((uv_handle_t *)&sm->retry_timer))
		schedule_retry(sm, 0);
}

/* Asks lws to close `c` once its queued acks are out. */
static void conn_close(struct sm_conn *c)
{
	if (c->close_requested)
		return;
	c->close_requested = true;
	if (c->wsi)
		lws_callback_on_writable(c->wsi);
}

/* ---- receiving ---- */

static void on_hello(struct sm_conn *c, json_t *msg)
{
	struct sm *sm = c->sm;
	json_t *ci = json_object_get(msg, "connection_info");
	json_t *di = json_object_get(msg, "debug_info");
	int ours = 0;

	c->state = C_LIVE;
	c->live_since_ms = now_ms(sm);
	sm->retry_count = 0; /* Slack took it: the next drop reconnects at once */
	lws_set_timer_usecs(c->wsi, -1);
	sm->stats.connects++;
	for (struct sm_conn *o = sm->conns; o; o = o->next)
		ours++;
	log_info("socket_mode: conn=%u hello app_id=%s host=%s num_connections=%lld", c->id,
		 json_string_value(json_object_get(ci, "app_id")) ?: "?",
		 json_string_value(json_object_get(di, "host")) ?: "?",
		 (long long)json_integer_value(json_object_get(msg, "num_connections")));
	/* Expected with several replicas (each receives some envelopes and
	 * hands what is not its own to the owner through PostgreSQL); worth a
	 * line when only one was meant to run. */
	if (json_integer_value(json_object_get(msg, "num_connections")) > ours)
		log_info("socket_mode: Slack counts %lld sockets for this app and this process "
			 "holds %d: other replicas with the same app token receive some "
			 "envelopes",
			 (long long)json_integer_value(json_object_get(msg, "num_connections")),
			 ours);
	/* Make-before-break: the replacement is live, so older sockets go. */
	for (struct sm_conn *o = sm->conns; o; o = o->next) {
		if (o != c && (o->state == C_DRAINING || o->state == C_LIVE)) {
			o->state = C_DRAINING;
			conn_close(o);
		}
	}
}

/* Closes `c` and waits at least `min_ms` before the next connection: for
 * refusals that an immediate retry would only repeat (a reconnect storm). */
static void leave_and_wait(struct sm_conn *c, uint64_t min_ms)
{
	c->state = C_DRAINING;
	conn_close(c);
	uv_timer_stop(&c->sm->retry_timer);
	schedule_retry(c->sm, min_ms);
}

static void on_disconnect(struct sm_conn *c, json_t *msg)
{
	struct sm *sm = c->sm;
	const char *reason = json_string_value(json_object_get(msg, "reason")) ?: "";

	log_info("socket_mode: conn=%u disconnect reason=%s", c->id, reason);
	/* Both are refusals before a hello: the backoff (1 s, 2 s … 60 s) keeps
	 * growing, so a refusal that lasts costs a try a minute, and one that
	 * ends (Socket Mode turned back on, another process's sockets gone) is
	 * over within seconds. */
	if (!strcmp(reason, "link_disabled")) {
		log_error("socket_mode: Slack says Socket Mode is disabled for this app; turn it "
			  "on in the app settings. Retrying with backoff.");
		leave_and_wait(c, 0);
		return;
	}
	if (!strcmp(reason, "too_many_websockets")) {
		log_error("socket_mode: Slack refused the socket: the app already has 10 open. "
			  "Check for other processes using the same app token. Retrying with "
			  "backoff.");
		leave_and_wait(c, 0);
		return;
	}
	/* warning, refresh_requested and anything unknown: replace the socket
	 * now, keep reading and acking on this one until the new one is live
	 * or Slack closes this one. */
	c->state = C_DRAINING;
	if (!have_usable_conn(sm)) {
		uv_timer_stop(&sm->retry_timer);
		open_connection(sm);
	}
}

static void on_envelope(struct sm_conn *c, json_t *msg)
{
	struct sm *sm = c->sm;
	void *verdict = NULL;
	json_t *payload = sm->cb.ack_payload(sm->cb_arg, msg, &verdict);
	json_t *ack = json_object();
	char *text;
	size_t len;

	sm->stats.envelopes++;
	json_object_set(ack, "envelope_id", json_object_get(msg, "envelope_id"));
	if (payload)
		json_object_set_new(ack, "payload", payload);
	text = json_dumps(ack, JSON_COMPACT);
	len = strlen(text);
	if (len >= RB_ACK_MAX) {
		/* Slack silently drops acks of 20 KB or more: send a plain one. */
		log_warn("socket_mode: ack payload of %zu bytes is too large; sending a plain ack",
			 len);
		free(text);
		json_object_del(ack, "payload");
		text = json_dumps(ack, JSON_COMPACT);
		len = strlen(text);
	}
	json_decref(ack);
	json_incref(msg);
	out_push(c, text, len, msg, verdict);
	free(text);
	lws_callback_on_writable(c->wsi);
}

/* The envelope_id of a frame that cannot be read as a whole (JSON jansson
 * refuses: a \u0000 in a string, a lone surrogate, very deep nesting; or
 * a frame too big to keep), found by its key in the raw bytes. Slack's IDs
 * are short and plain (a UUID): anything else is not taken. */
static bool raw_envelope_id(const char *data, size_t len, char *out, size_t outlen)
{
	static const char k[] = "\"envelope_id\"";
	const char *p, *end;
	size_t n = 0;

	if (!data || !len)
		return false;
	p = memmem(data, len, k, sizeof k - 1);
	end = data + len;
	if (!p)
		return false;
	for (p += sizeof k - 1; p < end && strchr(" \t\r\n", *p); p++)
		;
	if (p >= end || *p++ != ':')
		return false;
	for (; p < end && strchr(" \t\r\n", *p); p++)
		;
	if (p >= end || *p++ != '"')
		return false;
	while (p + n < end && n + 1 < outlen && (isalnum((unsigned char)p[n]) || p[n] == '-'))
		n++;
	if (!n || p + n >= end || p[n] != '"')
		return false;
	memcpy(out, p, n);
	out[n] = '\0';
	return true;
}

/* Acks the envelope of a frame that cannot be acted on, so that Slack does
 * not send it again and again: what it carried is lost either way, and
 * the log says so. */
static void ack_unreadable(struct sm_conn *c, const char *data, size_t len, const char *why)
{
	char id[64], *text;
	json_t *ack;

	if (!raw_envelope_id(data, len, id, sizeof id)) {
		log_warn("socket_mode: conn=%u ignoring a frame of %zu bytes with no envelope_id "
			 "(%s)",
			 c->id, len, why);
		return;
	}
	log_warn("socket_mode: conn=%u envelope %s cannot be read (%s): acked so that Slack "
		 "does not send it again; it is not acted on",
		 c->id, id, why);
	c->sm->stats.envelopes++;
	ack = json_pack("{s:s}", "envelope_id", id);
	text = json_dumps(ack, JSON_COMPACT);
	json_decref(ack);
	out_push(c, text, strlen(text), NULL, NULL);
	free(text);
	lws_callback_on_writable(c->wsi);
}

static void on_message(struct sm_conn *c, const char *data, size_t len)
{
	json_error_t jerr;
	json_t *msg = json_loadb(data, len, 0, &jerr);
	const char *type;

	if (!json_is_object(msg)) {
		json_decref(msg);
		ack_unreadable(c, data, len, jerr.text[0] ? jerr.text : "not a JSON object");
		return;
	}
	lws_validity_confirmed(c->wsi);
	type = json_string_value(json_object_get(msg, "type")) ?: "";
	if (json_is_string(json_object_get(msg, "envelope_id")))
		on_envelope(c, msg);
	else if (!strcmp(type, "hello"))
		on_hello(c, msg);
	else if (!strcmp(type, "disconnect"))
		on_disconnect(c, msg);
	else
		log_debug("socket_mode: conn=%u ignoring message type=%s", c->id, type);
	json_decref(msg);
}

/* ---- the lws protocol callback ---- */

static int sm_callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		       size_t len)
{
	/* `user` is ours only on our client connections: lws also calls this
	 * protocol for the TLS context (user is then the SSL_CTX, for
	 * OPENSSL_LOAD_EXTRA_CLIENT_VERIFY_CERTS) and for certificate checks
	 * (an X509_STORE_CTX). Writing through it there corrupted OpenSSL. */
	struct sm_conn *c = (user && wsi && lws_wsi_user(wsi) == user) ? user : NULL;
	struct sm_out *m;

	if (c && reason != LWS_CALLBACK_CLIENT_CONNECTION_ERROR && reason != LWS_CALLBACK_CLIENT_CLOSED)
		c->wsi = wsi;
	switch (reason) {
	case LWS_CALLBACK_CLIENT_CONNECTION_ERROR:
		if (!c)
			break;
		log_warn("socket_mode: conn=%u connection failed: %s", c->id,
			 in ? (const char *)in : "unknown error");
		/* lws calls back once more while it frees the wsi: detach first. */
		lws_set_wsi_user(wsi, NULL);
		conn_gone(c, "connection_error");
		break;
	case LWS_CALLBACK_CLIENT_ESTABLISHED:
		if (!c)
			break;
		c->state = C_WAITING_HELLO;
		lws_set_timer_usecs(wsi, (lws_usec_t)c->sm->hello_timeout_s * LWS_USEC_PER_SEC);
		log_debug("socket_mode: conn=%u upgraded, waiting for hello", c->id);
		break;
	case LWS_CALLBACK_TIMER:
		if (c && c->state == C_WAITING_HELLO) {
			log_warn("socket_mode: conn=%u no hello after %d s; replacing it", c->id,
				 c->sm->hello_timeout_s);
			return -1;
		}
		break;
	case LWS_CALLBACK_CLIENT_RECEIVE:
		if (!c)
			break;
		if (lws_is_first_fragment(wsi)) {
			rb_buf_reset(&c->rx);
			c->rx_over = false;
		}
		/* A message too big to keep: its first RB_WS_MSG_MAX bytes stay
		 * (the envelope_id comes first) and the rest is read and dropped,
		 * so that the socket and the envelopes after it live on. */
		if (!c->rx_over) {
			size_t room = RB_WS_MSG_MAX - c->rx.len;
			if (len > room) {
				if (room && rb_buf_append(&c->rx, in, room))
					rb_buf_reset(&c->rx);
				c->rx_over = true;
			} else if (rb_buf_append(&c->rx, in, len)) {
				c->rx_over = true;
			}
		}
		if (!lws_is_final_fragment(wsi))
			break;
		c->rx_done_ns = uv_hrtime();
		if (c->rx_over)
			ack_unreadable(c, c->rx.data, c->rx.len, "a message over 1 MiB");
		else
			on_message(c, c->rx.data, c->rx.len);
		rb_buf_reset(&c->rx);
		c->rx_over = false;
		break;
	case LWS_CALLBACK_CLIENT_WRITEABLE:
		if (!c)
			break;
		if (!c->out_head) {
			if (c->close_requested) {
				lws_close_reason(wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
				return -1;
			}
			break;
		}
		/* Several acks per WRITEABLE, each a whole frame, for as long as
		 * the socket takes them without buffering (lws_send_pipe_choked
		 * is also true while lws holds unsent bytes): a burst of envelopes
		 * is acked in one turn of the loop instead of one per turn. */
		for (int i = 0; i < WRITES_PER_WRITEABLE && c->out_head; i++) {
			if (i && lws_send_pipe_choked(wsi))
				break;
			m = out_pop(c);
			if (lws_write(wsi, m->buf + LWS_PRE, m->len, LWS_WRITE_TEXT) <
			    (int)m->len) {
				log_warn("socket_mode: conn=%u write failed", c->id);
				/* Put it back so conn_gone dispatches it. */
				m->next = c->out_head;
				c->out_head = m;
				if (!c->out_tail)
					c->out_tail = m;
				return -1;
			}
			c->sm->stats.acks++;
			note_ack_time(c->sm, m->received_ns);
			if (m->env)
				ready_push(c->sm, m);
			else
				out_free(c->sm, m);
		}
		if (c->out_head || c->close_requested)
			lws_callback_on_writable(wsi);
		break;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (!c)
			break;
		log_info("socket_mode: conn=%u Slack closed the socket (code %u)", c->id,
			 len >= 2 ? ((unsigned)((unsigned char *)in)[0] << 8) |
					    ((unsigned char *)in)[1]
				  : 0u);
		break;
	case LWS_CALLBACK_CLIENT_CLOSED:
		if (c) {
			lws_set_wsi_user(wsi, NULL);
			conn_gone(c, "closed");
		}
		break;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, NULL, in, len);
}

static const struct lws_protocols sm_protocols[] = {
	{ "slack-sm", sm_callback, 0, 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

/* ---- opening a connection ---- */

static void lws_connect(struct sm_conn *c)
{
	struct lws_client_connect_info i;
	struct lws *wsi;

	memset(&i, 0, sizeof i);
	i.context = c->sm->ctx;
	i.address = c->addr;
	i.port = c->port;
	i.path = c->path;
	i.host = c->host; /* Host header, SNI and certificate name */
	i.origin = c->host;
	i.ssl_connection = c->tls ? LCCSCF_USE_SSL : 0;
	i.protocol = NULL;
	i.local_protocol_name = "slack-sm";
	i.userdata = c;
	i.retry_and_idle_policy = &c->sm->retry_policy;
	c->state = C_CONNECTING;
	/* lws may report a failure through the callback before this returns;
	 * conn_gone then leaves the freeing to us. */
	c->in_connect = true;
	wsi = lws_client_connect_via_info(&i);
	c->in_connect = false;
	if (c->dead) {
		free(c);
		return;
	}
	if (!wsi) {
		log_warn("socket_mode: conn=%u could not start the connection", c->id);
		conn_gone(c, "connect_failed");
		return;
	}
	c->wsi = wsi;
}

static void gai_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct sm_conn *c = req->data;

	c->resolving = false;
	if (c->dead) {
		uv_freeaddrinfo(res);
		free(c);
		return;
	}
	if (status || !res) {
		log_warn("socket_mode: conn=%u cannot resolve %s: %s", c->id, c->host,
			 uv_strerror(status));
		uv_freeaddrinfo(res);
		conn_gone(c, "dns");
		return;
	}
	/* An IPv4 address when the host has one (the network surely routes
	 * it), else its IPv6 one: a host with only AAAA records works too. */
	{
		const struct addrinfo *a = res, *v6 = NULL;
		int rc = -1;

		for (; a && a->ai_family != AF_INET; a = a->ai_next)
			if (!v6 && a->ai_family == AF_INET6)
				v6 = a;
		if (a)
			rc = uv_ip4_name((const struct sockaddr_in *)a->ai_addr, c->addr,
					 sizeof c->addr);
		else if (v6)
			rc = uv_ip6_name((const struct sockaddr_in6 *)v6->ai_addr, c->addr,
					 sizeof c->addr);
		uv_freeaddrinfo(res);
		if (rc) {
			conn_gone(c, "dns");
			return;
		}
	}
	lws_connect(c);
}

/* Takes the URL apps.connections.open returned (opaque: only cut into the
 * parts lws needs), resolves the host off the loop, then connects. */
static void start_conn(struct sm *sm, const char *url)
{
	struct sm_conn *c = rb_calloc(1, sizeof *c);
	const char *prot, *ads, *path;
	struct addrinfo hints;
	struct in_addr ip;
	int rc;

	c->sm = sm;
	c->id = ++sm->next_id;
	rb_buf_init(&c->rx, RB_WS_MSG_MAX);
	if (rb_strlcpy(c->url, url, sizeof c->url) ||
	    lws_parse_uri(c->url, &prot, &ads, &c->port, &path) ||
	    (strcmp(prot, "wss") && strcmp(prot, "ws"))) {
		log_error("socket_mode: apps.connections.open returned a URL I cannot use");
		free(c);
		schedule_retry(sm, 0);
		return;
	}
	c->tls = !strcmp(prot, "wss");
	/* lws_parse_uri drops the leading '/' of the path; the query stays. */
	snprintf(c->path, sizeof c->path, "/%s", path[0] == '/' ? path + 1 : path);
	(void)rb_strlcpy(c->host, ads, sizeof c->host);
	c->next = sm->conns;
	sm->conns = c;
	c->state = C_RESOLVING;
	if (inet_pton(AF_INET, c->host, &ip) == 1) {
		(void)rb_strlcpy(c->addr, c->host, sizeof c->addr);
		lws_connect(c);
		return;
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	c->gai.data = c;
	c->resolving = true;
	rc = uv_getaddrinfo(sm->loop, &c->gai, gai_cb, c->host, NULL, &hints);
	if (rc) {
		c->resolving = false;
		log_warn("socket_mode: cannot start resolving %s: %s", c->host, uv_strerror(rc));
		conn_gone(c, "dns");
	}
}

static bool unrecoverable(const char *error)
{
	static const char *const fatal[] = { "not_authed",	       "invalid_auth",
					     "account_inactive",       "token_revoked",
					     "user_removed_from_team", "team_disabled",
					     "not_allowed_token_type" };

	for (size_t i = 0; i < RB_ARRAY_LEN(fatal); i++)
		if (error && !strcmp(error, fatal[i]))
			return true;
	return false;
}

static void open_cb(void *arg, const struct api_result *res)
{
	struct sm *sm = arg;
	const char *url;

	sm->opening = false;
	if (sm->stopping)
		return;
	if (!res->ok) {
		if (unrecoverable(res->error)) {
			log_error("socket_mode: Slack refused the app token (SLACK_APP_TOKEN): %s. "
				  "It must be an app-level token (xapp-…) with connections:write.",
				  res->error);
			if (sm->cb.fatal) {
				sm->cb.fatal(sm->cb_arg, res->error);
				return;
			}
			schedule_retry(sm, 300000);
			return;
		}
		log_warn("socket_mode: apps.connections.open failed: %s", res->error);
		schedule_retry(sm, 0);
		return;
	}
	url = json_string_value(json_object_get(res->body, "url"));
	if (!url) {
		log_warn("socket_mode: apps.connections.open returned no url");
		schedule_retry(sm, 0);
		return;
	}
	start_conn(sm, url);
}

/* At most two sockets: with two open (one draining after a refresh, and
 * its replacement told to refresh too), the oldest draining one is closed
 * and the new one waits until it is gone. True when it must wait. */
static bool no_room(struct sm *sm)
{
	struct sm_conn *oldest = NULL;
	int n = 0;

	for (struct sm_conn *c = sm->conns; c; c = c->next) {
		n++;
		if (c->state == C_DRAINING)
			oldest = c; /* the list is newest first */
	}
	if (n < 2)
		return false;
	if (oldest && !oldest->close_requested) {
		log_info("socket_mode: conn=%u closed to make room: at most two sockets",
			 oldest->id);
		conn_close(oldest);
	}
	sm->open_when_room = true;
	return true;
}

static void open_connection(struct sm *sm)
{
	int rc;

	if (sm->stopping || sm->opening || no_room(sm))
		return;
	sm->opening = true;
	rc = api_call(sm->api, "apps.connections.open", json_object(), open_cb, sm);
	if (rc) {
		sm->opening = false;
		log_warn("socket_mode: cannot call apps.connections.open (%d)", rc);
		schedule_retry(sm, 0);
	}
}

/* ---- life cycle ---- */

struct sm *sm_new(uv_loop_t *loop, struct api *api, const struct sm_options *opt,
		  const struct sm_callbacks *cb, void *cb_arg)
{
	struct sm *sm = rb_calloc(1, sizeof *sm);
	struct lws_context_creation_info info;
	void *loops[1] = { loop };

	sm->loop = loop;
	sm->api = api;
	sm->cb = *cb;
	sm->cb_arg = cb_arg;
	sm->hello_timeout_s = opt->hello_timeout_s > 0 ? opt->hello_timeout_s : 10;
	/* A ping after 4 s without a frame, the socket given up after 8 s
	 * without one and a new one about a second later: a dead socket is
	 * replaced within about 10 s, as Slack's SDKs notice one (python's
	 * Socket Mode client pings every 5 s). */
	sm->retry_policy.secs_since_valid_ping = (uint16_t)(opt->ping_s > 0 ? opt->ping_s : 4);
	sm->retry_policy.secs_since_valid_hangup = (uint16_t)(opt->dead_s > 0 ? opt->dead_s : 8);
	sm->retry_policy.conceal_count = LWS_RETRY_CONCEAL_ALWAYS;
	sm->retry_policy.jitter_percent = 20;
	if (opt->ca_file)
		(void)rb_strlcpy(sm->ca_file, opt->ca_file, sizeof sm->ca_file);

	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);
	memset(&info, 0, sizeof info);
	info.port = CONTEXT_PORT_NO_LISTEN;
	info.protocols = sm_protocols;
	info.options = LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT | LWS_SERVER_OPTION_LIBUV;
	info.foreign_loops = loops;
	info.fd_limit_per_thread = 64;
	info.client_ssl_ca_filepath = sm->ca_file[0] ? sm->ca_file : NULL;
	info.user = sm;
	sm->ctx = lws_create_context(&info);
	if (!sm->ctx) {
		log_error("socket_mode: cannot create the libwebsockets context on the libuv loop "
			  "(is the libwebsockets-evlib-uv package installed?)");
		free(sm);
		return NULL;
	}
	uv_timer_init(loop, &sm->retry_timer);
	sm->retry_timer.data = sm;
	uv_timer_init(loop, &sm->stop_timer);
	sm->stop_timer.data = sm;
	uv_idle_init(loop, &sm->dispatch_idle);
	sm->dispatch_idle.data = sm;
	sm->handles_open = 3;
	return sm;
}

void sm_start(struct sm *sm)
{
	sm->started = true;
	open_connection(sm);
}

static void handle_closed_cb(uv_handle_t *h)
{
	struct sm *sm = h->data;

	if (--sm->handles_open == 0 && sm->done) {
		void (*done)(void *) = sm->done;
		sm->done = NULL;
		done(sm->done_arg);
	}
}

static void maybe_finish_stop(struct sm *sm)
{
	if (!sm->stopping || sm->stopped || sm->conns || sm->ready_head)
		return;
	sm->stopped = true;
	/* On a foreign loop this starts a teardown that finishes on the loop.
	 * Calling it a second time after the loop has run dry, as the lws
	 * maintainers suggest for later versions, frees an SSL_CTX twice in
	 * 4.1.6; what 4.1.6 leaves behind is OpenSSL's trust store, once per
	 * process (tests/lsan.supp). */
	lws_context_destroy(sm->ctx);
	sm->ctx = NULL;
	uv_close((uv_handle_t *)&sm->retry_timer, handle_closed_cb);
	uv_close((uv_handle_t *)&sm->stop_timer, handle_closed_cb);
	uv_close((uv_handle_t *)&sm->dispatch_idle, handle_closed_cb);
}

static void stop_timeout_cb(uv_timer_t *t)
{
	struct sm *sm = t->data;

	/* Slack often never finishes the close handshake: cut the sockets. */
	for (struct sm_conn *c = sm->conns; c; c = c->next) {
		if (c->wsi)
			lws_set_timeout(c->wsi, PENDING_TIMEOUT_CLOSE_SEND, LWS_TO_KILL_ASYNC);
	}
}

void sm_stop(struct sm *sm, void (*done)(void *arg), void *arg)
{
	sm->stopping = true;
	sm->done = done;
	sm->done_arg = arg;
	uv_timer_stop(&sm->retry_timer);
	for (struct sm_conn *c = sm->conns, *next; c; c = next) {
		next = c->next;
		c->state = C_DRAINING;
		if (c->wsi)
			conn_close(c);
		else
			conn_gone(c, "stopping"); /* still resolving or connecting */
	}
	uv_timer_start(&sm->stop_timer, stop_timeout_cb, 1000, 0);
	maybe_finish_stop(sm);
}

void sm_free(struct sm *sm)
{
	if (!sm)
		return;
	RB_ASSERT(!sm->conns);
	free(sm);
}

bool sm_connected(const struct sm *sm)
{
	for (const struct sm_conn *c = sm->conns; c; c = c->next)
		if (c->state == C_LIVE || (c->state == C_DRAINING && c->live_since_ms))
			return true;
	return false;
}

void sm_get_stats(const struct sm *sm, struct sm_stats *out)
{
	*out = sm->stats;
}
