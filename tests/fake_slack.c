/* rollbot — the fake Slack used by the integration tests, the demo and the
 * benchmark (MIT licence, see LICENSE).
 *
 * One process, one thread, one libwebsockets context with one vhost on
 * 127.0.0.1 and one port for everything: the Web API (/api/<method>), the
 * Socket Mode websocket (/link/), file uploads (/upload/v1/<id>),
 * response_urls (/commands/<n>), the feature-flag service of the `flag`
 * rollback method (/flags), the probe service the verification steps ask
 * (a service's /svc/NAME/health and /version, a Prometheus /prom/api/v1/query)
 * and the control API the tests drive it with (/_fake/...).
 * tests/FAKE_SLACK.md is the contract; the behaviour follows Slack's
 * documentation (https://api.slack.com/apis/socket-mode,
 * https://api.slack.com/web and https://api.slack.com/methods).
 *
 * With --tls-cert/--tls-key the same port also speaks TLS: a connection
 * whose first byte is a TLS handshake gets HTTPS and WSS, any other plain
 * HTTP and WS (lws's ALLOW_NON_SSL_ON_SSL_PORT + ALLOW_HTTP_ON_HTTPS_LISTENER),
 * so the control API and the port file work as before. The URLs the fake
 * hands out (connections.open, upload_url, response_url) are then wss:// and
 * https://, and every recorded call and socket says whether it came over TLS.
 *
 * DESIGN
 *
 * All state lives in one struct fake, reachable from every callback through
 * lws_context_user(). lws's default poll loop drives it. Timers are lws_sul
 * entries embedded in the object they belong to (a socket's ping, close and
 * lifetime timers, a delivery's ack deadline, an HTTP answer's delay), and
 * every free cancels the object's timers first, so nothing fires on freed
 * memory.
 *
 * Envelopes: a control call turns each envelope into a struct delivery (the
 * JSON, its wire form with LWS_PRE headroom, timestamps, state). Deliveries
 * wait in the fake's queue until some socket has been sent hello, then go to
 * such sockets round-robin (or only to one replica's: below). Each socket
 * has its own frame queue, drained one frame per WRITEABLE callback (lws
 * allows one lws_write per callback); a pending ping or close goes before
 * queued frames. An envelope queued on a
 * socket but not yet written goes back to the front of the fake's queue when
 * that socket closes, is silenced or is told to disconnect, so the fake
 * itself never loses one. sent_us is read right after the envelope's
 * lws_write returns; acked_us when the ack frame has been reassembled.
 *
 * HTTP: each request's state sits in lws's per-session data. The answer is
 * computed once the body is complete, recorded, and written from
 * HTTP_WRITEABLE: headers first, then the body in 32 KiB pieces, the last
 * with LWS_WRITE_HTTP_FINAL, then lws_http_transaction_completed() keeps the
 * connection open for the next request (libcurl reuses it).
 *
 * Replicas: several bot processes may share the fake, each with its base
 * URLs under /r/K/ (K = 1..9). http_begin strips the prefix into
 * http_req.replica, the records carry it, the URLs handed out keep it (so a
 * socket's /r/K/link/ tags the socket), and envelopes can be routed to one
 * replica's sockets: fake.pending is one queue per target (0 = wherever
 * /_fake/route says), each drained in order as sockets of its target allow.
 *
 * Tokens are reduced to their kind ("xoxb", "xapp", "none", "other") as soon
 * as they are read and are never stored, recorded or logged; nor are tickets.
 */
#include "commands/rb.h"
#include "tests/fake_metrics.h"

#include <errno.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <libwebsockets.h>

/* The identity the fake answers with: a made-up workspace (tests/FAKE_SLACK.md). */
#define FS_TEAM_ID	"T06QX1H2K8Z"
#define FS_TEAM_DOMAIN	"acme-eng"
#define FS_APP_ID	"A07RLBK0T2X"
#define FS_BOT_USER	"U07RLB0T9QK"
#define FS_BOT_ID	"B07RLB0T5JN"
#define FS_CHANNEL	"C05K8Q2V7XM"
#define FS_CHANNEL_NAME "incidents"
#define FS_DEFAULT_USER "U02JD0E4512"
#define FS_VERIFY_TOKEN "bHKJ2n9AW6Ju3MjciOHfbA1b"
#define FS_HOST		"applink-fake"

/* Ceilings on what outside input can make the fake hold. */
#define FS_API_BODY_MAX	     (1u << 20)
#define FS_UPLOAD_BODY_MAX   (8u << 20)
#define FS_CONTROL_BODY_MAX  (16u << 20)
#define FS_ACK_TOO_BIG	     20480 /* Slack ignores acks of this size or more */
#define FS_HTTP_CHUNK	     32768 /* body bytes per HTTP_WRITEABLE */
#define FS_RETRIES	     3	   /* events_api redeliveries */
#define FS_RESPONSE_URL_USES 5	   /* a response_url works five times */
#define FS_BATCH_MAX	     100000
#define FS_PAD_MAX (4 << 20) /* /_fake/envelope pad_to: a frame over Slack's sizes */
#define FS_REPLICA_MAX	     9 /* /r/1/ … /r/9/: which bot process a request came from */
#define FS_JSON_FLAGS	     (JSON_COMPACT | JSON_ESCAPE_SLASH)
#define FS_JSON_CT	     "application/json; charset=utf-8"

/* ---------------------------------------------------------------------- */
/* Types                                                                  */

struct fake;

/* Where a delivery is in its life. */
enum dstate {
	D_WAITING,   /* a redelivery waiting for its retry delay */
	D_QUEUED,    /* in the fake's queue or a socket's queue, not written */
	D_SENT,	     /* written, no ack yet, deadline armed (if any) */
	D_ACKED,     /* acked in time */
	D_TIMED_OUT, /* slash_commands: not acked in time (operation_timeout) */
	D_RETRIED,   /* events_api: not acked in time, redelivered */
	D_EXHAUSTED, /* events_api: the last retry was not acked either */
};

/* One envelope sent (or to be sent) once. A redelivery is a new delivery. */
struct delivery {
	struct lws_dll2 node; /* in fake.deliveries, creation order */
	struct fake *fk;
	char id[64];
	char type[32];
	char *event_id;	     /* owned; NULL when the payload has none */
	json_t *env;	     /* owned */
	unsigned char *wire; /* owned: LWS_PRE headroom, then len bytes */
	size_t len;
	int attempt; /* retry_attempt */
	int target;  /* a replica it must go to; 0 = wherever the route says */
	enum dstate state;
	int64_t sent_us, acked_us; /* monotonic; 0 = not yet */
	int socket, ack_socket;
	int replica, ack_replica;   /* of those sockets; 0 = untagged */
	lws_sorted_usec_list_t sul; /* retry delay, then ack deadline */
};

enum fr_kind {
	FR_TEXT,
	FR_BINARY,
	FR_ENVELOPE
};
enum fr_after {
	AF_NONE,
	AF_HELLO,
	AF_CLOSE
};

/* One websocket message waiting to be written. */
struct frame {
	struct frame *next;
	enum fr_kind kind;
	enum fr_after after; /* what writing it means for the socket */
	struct delivery *d;  /* FR_ENVELOPE: borrowed from fake.deliveries */
	size_t len;
	unsigned char *buf; /* owned, LWS_PRE + len; NULL for FR_ENVELOPE */
};

struct fqueue {
	struct frame *head, *tail;
	size_t n;
};

enum close_mode {
	CM_NONE,
	CM_FRAME,
	CM_DROP
};

/* One Socket Mode websocket. */
struct sm_conn {
	struct lws_dll2 node; /* in fake.conns, by increasing id */
	struct fake *fk;
	struct lws *wsi;
	int id;
	bool refused; /* over the socket cap: too_many_websockets, then closed */
	bool hello_sent;
	bool draining; /* told to disconnect: no more envelopes */
	bool silenced;
	bool ping_due;
	bool closing; /* a close frame goes out at the next WRITEABLE */
	bool dropped;
	bool debug_reconnects;
	bool tls;    /* came over TLS (wss://) */
	int replica; /* the /r/K/ of its URL; 0 = none */
	int life_stage;
	enum close_mode close_mode; /* what close_sul does */
	int64_t opened_us;
	unsigned pings, pongs, frames_in;
	struct fqueue out;
	struct rb_buf rx;
	size_t rx_bytes;
	bool rx_binary;
	lws_sorted_usec_list_t ping_sul, close_sul, life_sul;
};

/* Knobs set by --ping-ms and POST /_fake/config. */
struct fake_cfg {
	int retry_after_ms; /* events_api ack deadline; 0 = never redeliver */
	int retry_delays_ms[FS_RETRIES];
	int slash_timeout_ms; /* slash_commands ack deadline; 0 = none */
	bool hello;
	char dbh_reason[64]; /* disconnect_before_hello; "" = off */
	int dbh_count;	     /* sockets it still applies to; < 0 = all */
	int close_after_ms;
	int max_sockets;
	int lifetime_ms;       /* scheduled refresh; 0 = none */
	int debug_lifetime_ms; /* lifetime with debug_reconnects=true */
	int warning_ms;	       /* disconnect/warning this long before the end */
	enum close_mode refresh_close;
	int post_rate_per_s; /* chat.postMessage per channel; 0 = unlimited */
	int post_burst;
	bool method_tiers; /* other methods limited to their tier per minute */
	int ping_ms;
};

/* POST /_fake/fail: answer the next `count` matching calls differently. */
struct fail_rule {
	struct fail_rule *next;
	char method[64]; /* "" = any recorded call */
	int status;	 /* 0 = the normal answer (delay only) */
	int retry_after;
	char error[64];
	int count; /* < 0 = until cleared */
	int delay_ms;
};

enum rq_phase {
	RQ_IDLE,
	RQ_BODY,
	RQ_WAIT,
	RQ_READY
};
enum rq_kind {
	RK_API,
	RK_UPLOAD,
	RK_RESPONSE_URL,
	RK_FLAGS,
	RK_PAGERDUTY,
	RK_SVC,
	RK_PROM,
	RK_METRICS,
	RK_CONTROL,
	RK_OTHER
};

/* One HTTP request and its answer; lives in the per-session data and is
 * cleared between keep-alive transactions. */
struct http_req {
	enum rq_phase phase;
	enum rq_kind kind;
	bool is_post;
	bool too_big;
	bool tls;    /* came over TLS (https://) */
	int replica; /* the /r/K/ prefix of the path; 0 = none (path holds the rest) */
	char path[512];
	char ctype[256];
	char auth[8];  /* token kind, never the token */
	json_t *query; /* owned: decoded query arguments */
	struct rb_buf body;
	int status;
	int retry_after; /* < 0: no Retry-After header */
	bool close_after;
	const char *resp_ctype;
	char *resp; /* owned */
	size_t resp_len, resp_off;
	bool headers_sent;
	struct lws *wsi;
	lws_sorted_usec_list_t sul; /* delay_ms */
};

/* lws per-session data: an HTTP request, or a websocket. */
struct pss {
	struct sm_conn *conn; /* owned once ESTABLISHED */
	struct http_req rq;
};

struct fake {
	struct lws_context *ctx;
	int port;
	bool tls;	    /* --tls-cert: the URLs handed out are https:// and wss:// */
	const char *scheme; /* "http" or "https" */
	struct fake_cfg cfg, cfg_default;
	/* what the tests read back */
	json_t *calls;
	json_int_t call_seq;
	json_t *acks, *op_timeouts, *exhausted, *protocol_errors;
	/* Slack's memory */
	json_t *messages;      /* "C…/ts" → {"user","text","thread_ts","reactions",…} */
	json_t *reaction_ts;   /* "C…/ts name user" → event_ts of the last event applied */
	json_t *users;	       /* id → overrides */
	json_t *channels;      /* id → overrides */
	json_t *usergroups;    /* "S…" → ["U…", …] */
	json_t *files;	       /* id → {"filename","length","bytes","completed"} */
	json_t *tickets;       /* ticket → true once used */
	json_t *response_urls; /* path → uses */
	json_t *buckets;       /* channel → [tokens, last_us] */
	json_t *flags;	       /* the flag service: name → state ({"flag","enabled",…}) */
	json_t *svc;	       /* probe scripts: "NAME/health" → {"responses":[…],"next":N} */
	json_t *prom;	       /* probe scripts: query → {"values":[…],"next":N} */
	struct fake_metrics *metrics; /* /svc/NAME/metrics (tests/fake_metrics.c) */
	char app_hash[65];
	int64_t last_ts_us;
	unsigned file_seq, event_seq, response_url_seq;
	struct fail_rule *fails;
	/* Socket Mode */
	struct lws_dll2_owner conns;
	struct lws_dll2_owner deliveries;
	json_t *by_id; /* envelope_id → delivery pointer (as an integer) */
	/* Envelopes not on a socket yet: [0] those the route places, [K]
	 * those sent to replica K. Each queue keeps its order. */
	struct fqueue pending[FS_REPLICA_MAX + 1];
	int route_replica; /* POST /_fake/route: 0 = every socket, K = replica K's */
	unsigned hello_by_replica[FS_REPLICA_MAX + 1];
	int sock_seq, rr_last;
	unsigned unsent;
	unsigned sockets_total, hello_count, connections_opened, tickets_issued;
	unsigned max_open, upgrades_refused;
	lws_sorted_usec_list_t rdhup_sul;
	bool shutting_down;
	unsigned char txbuf[LWS_PRE + FS_HTTP_CHUNK];
};

static FILE *log_sink;
static volatile sig_atomic_t interrupted;

/* ---------------------------------------------------------------------- */
/* Small helpers                                                          */

static void note(const char *fmt, ...) RB_PRINTF(1, 2);
static void note(const char *fmt, ...)
{
	va_list ap;

	fputs("fake_slack: ", log_sink);
	va_start(ap, fmt);
	vfprintf(log_sink, fmt, ap);
	va_end(ap);
	fputc('\n', log_sink);
}

static void lws_log_emit(int level, const char *line)
{
	(void)level;
	fprintf(log_sink, "fake_slack: lws: %s", line);
}

static int64_t clock_us(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int64_t mono_us(void)
{
	return clock_us(CLOCK_MONOTONIC);
}

static void rnd(void *p, size_t n)
{
	unsigned char *b = p;

	while (n) {
		ssize_t r = getrandom(b, n, 0);
		if (r < 0) {
			if (errno == EINTR)
				continue;
			rb_assert_fail("getrandom", __FILE__, __LINE__);
		}
		b += r;
		n -= (size_t)r;
	}
}

static void uuid4(char out[37])
{
	unsigned char b[16];

	rnd(b, sizeof b);
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12],
		 b[13], b[14], b[15]);
}

static void hex_rand(char *out, size_t nhex)
{
	static const char hx[] = "0123456789abcdef";
	unsigned char b[64];
	size_t i;

	RB_ASSERT(nhex <= 2 * sizeof b);
	rnd(b, (nhex + 1) / 2);
	for (i = 0; i < nhex; i++)
		out[i] = hx[(b[i / 2] >> ((i & 1) ? 0 : 4)) & 15];
	out[nhex] = '\0';
}

/* A Slack ts: "<epoch>.<6 digits>", unique and increasing in this process. */
static void new_ts(struct fake *fk, char out[32])
{
	int64_t now = clock_us(CLOCK_REALTIME);

	if (now <= fk->last_ts_us)
		now = fk->last_ts_us + 1;
	fk->last_ts_us = now;
	snprintf(out, 32, "%" PRId64 ".%06" PRId64, now / 1000000, now % 1000000);
}

/* Borrowed string value of o[k], or NULL. */
static const char *js(const json_t *o, const char *k)
{
	json_t *v = json_object_get(o, k);
	return json_is_string(v) ? json_string_value(v) : NULL;
}

/* o[k] read as a Slack boolean: true/false, 1/0, "true"/"false"/"1"/"0". */
static bool jbool(const json_t *o, const char *k, bool dflt)
{
	json_t *v = json_object_get(o, k);
	const char *s;

	if (json_is_boolean(v))
		return json_is_true(v);
	if (json_is_integer(v))
		return json_integer_value(v) != 0;
	if (json_is_string(v)) {
		s = json_string_value(v);
		if (!strcmp(s, "true") || !strcmp(s, "1"))
			return true;
		if (!strcmp(s, "false") || !strcmp(s, "0"))
			return false;
	}
	return dflt;
}

/* o[k] as an integer (a JSON integer or a decimal string): 0 when found. */
static int jint(const json_t *o, const char *k, long long *out)
{
	json_t *v = json_object_get(o, k);
	const char *s;
	char *end;
	long long n;

	if (json_is_integer(v)) {
		*out = json_integer_value(v);
		return 0;
	}
	if (!json_is_string(v))
		return -1;
	s = json_string_value(v);
	errno = 0;
	n = strtoll(s, &end, 10);
	if (errno || end == s || *end)
		return -1;
	*out = n;
	return 0;
}

/* A JSON string for text that came off the wire: lws decodes %XX, so it
 * may not be UTF-8, which jansson refuses. Never returns NULL. */
static json_t *wire_str(const char *s)
{
	json_t *v = json_string(s ? s : "");

	return v ? v : json_string("(not utf-8)");
}

static json_t *api_err(const char *error)
{
	return json_pack("{s:b, s:s}", "ok", 0, "error", error);
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Decodes n bytes of application/x-www-form-urlencoded text ('+' is a
 * space). Returns a new string (free()) and its length in *outlen. */
static char *form_decode(const char *s, size_t n, size_t *outlen)
{
	char *out = rb_malloc(n + 1);
	size_t i, o = 0;

	for (i = 0; i < n; i++) {
		if (s[i] == '+') {
			out[o++] = ' ';
		} else if (s[i] == '%' && i + 2 < n && hexval(s[i + 1]) >= 0 &&
			   hexval(s[i + 2]) >= 0) {
			out[o++] = (char)(hexval(s[i + 1]) * 16 + hexval(s[i + 2]));
			i += 2;
		} else {
			out[o++] = s[i];
		}
	}
	out[o] = '\0';
	*outlen = o;
	return out;
}

/* Adds the fields of a form body to obj (later fields win). Returns 0, or
 * -1 when a name or value is not UTF-8 (Slack: invalid_form_data). */
static int form_parse(json_t *obj, const char *s, size_t n)
{
	const char *end = s + n;
	int rc = 0;

	while (s < end) {
		const char *amp = memchr(s, '&', (size_t)(end - s));
		const char *eq;
		char *k, *v;
		size_t kl, vl;
		json_t *jv;

		if (!amp)
			amp = end;
		eq = memchr(s, '=', (size_t)(amp - s));
		if (amp > s) {
			k = form_decode(s, (size_t)((eq ? eq : amp) - s), &kl);
			if (eq)
				v = form_decode(eq + 1, (size_t)(amp - eq - 1), &vl);
			else
				v = form_decode("", 0, &vl);
			jv = json_stringn(v, vl);
			if (!jv || !*k || json_object_set_new(obj, k, jv))
				rc = -1;
			free(k);
			free(v);
		}
		s = amp + 1;
	}
	return rc;
}

/* The query string of the request being handled, as a new JSON object of
 * strings. lws has already split it at '&' and URL-decoded each piece. */
static json_t *query_args(struct lws *wsi)
{
	json_t *q = json_object();
	int i;

	for (i = 0; i < 256; i++) {
		int n = lws_hdr_fragment_length(wsi, WSI_TOKEN_HTTP_URI_ARGS, i);
		char *b, *eq;
		json_t *v;

		if (n <= 0)
			break;
		b = rb_malloc((size_t)n + 1);
		if (lws_hdr_copy_fragment(wsi, b, n + 1, WSI_TOKEN_HTTP_URI_ARGS, i) < 0) {
			free(b);
			break;
		}
		eq = strchr(b, '=');
		if (eq)
			*eq = '\0';
		v = json_string(eq ? eq + 1 : "");
		if (v && *b)
			json_object_set_new(q, b, v);
		else
			json_decref(v);
		free(b);
	}
	return q;
}

static const char *token_kind(const char *tok)
{
	if (!tok || !*tok)
		return "none";
	if (!strncmp(tok, "xoxb-", 5))
		return "xoxb";
	if (!strncmp(tok, "xapp-", 5))
		return "xapp";
	return "other";
}

/* Replicas: several bot processes share the fake, each given a base URL
 * with /r/K/ in front (http://127.0.0.1:PORT/r/2/api/). Returns the path
 * without such a prefix and sets *replica to K (1-FS_REPLICA_MAX), or
 * returns the path as it is and sets 0. */
static const char *replica_strip(const char *path, int *replica)
{
	*replica = 0;
	if (path && !strncmp(path, "/r/", 3) && path[3] >= '1' && path[3] <= '0' + FS_REPLICA_MAX &&
	    path[4] == '/') {
		*replica = path[3] - '0';
		return path + 4;
	}
	return path;
}

/* A replica number as JSON: K, or null for 0 (untagged). */
static json_t *replica_json(int replica)
{
	return replica ? json_integer(replica) : json_null();
}

static const char *close_mode_name(enum close_mode m)
{
	return m == CM_FRAME ? "frame" : m == CM_DROP ? "drop" : "none";
}

static int close_mode_parse(const char *s, enum close_mode *out)
{
	if (!s || !strcmp(s, "frame"))
		*out = CM_FRAME;
	else if (!strcmp(s, "drop"))
		*out = CM_DROP;
	else if (!strcmp(s, "none"))
		*out = CM_NONE;
	else
		return -1;
	return 0;
}

/* ---------------------------------------------------------------------- */
/* Records                                                                */

/* Appends one call to the record. args is stolen, response borrowed. */
/* rq's answer: resp (taken) as JSON, with its status and Retry-After
 * (< 0: none). */
static void answer_json(struct http_req *rq, int status, int retry_after, json_t *resp)
{
	rq->status = status;
	rq->retry_after = retry_after;
	rq->resp = json_dumps(resp, FS_JSON_FLAGS);
	rq->resp_len = strlen(rq->resp);
	rq->resp_ctype = FS_JSON_CT;
	json_decref(resp);
}

static void record_call(struct fake *fk, const struct http_req *rq, const char *method,
			const char *auth, json_t *args, int status, json_t *response,
			const char *url)
{
	json_t *c = json_object();
	const char *err = json_is_object(response) ? js(response, "error") : NULL;

	json_object_set_new(c, "seq", json_integer(++fk->call_seq));
	json_object_set_new(c, "t_us", json_integer(mono_us()));
	json_object_set_new(c, "method", wire_str(method));
	json_object_set_new(c, "content_type", wire_str(rq->ctype));
	json_object_set_new(c, "auth", json_string(auth));
	json_object_set_new(c, "tls", json_boolean(rq->tls));
	json_object_set_new(c, "replica", replica_json(rq->replica));
	json_object_set_new(c, "args", args ? args : json_object());
	json_object_set_new(c, "status", json_integer(status));
	json_object_set_new(c, "response", response ? json_incref(response) : json_null());
	if (url)
		json_object_set_new(c, "url", wire_str(url));
	json_array_append_new(fk->calls, c);
	note("call seq=%lld method=%s auth=%s status=%d%s%s%s replica=%d", (long long)fk->call_seq,
	     method, auth, status, err ? " error=" : "", err ? err : "", rq->tls ? " tls" : "",
	     rq->replica);
}

static void proto_error(struct fake *fk, int sock, int replica, const char *error,
			const char *envelope_id, size_t bytes)
{
	json_t *e = json_pack("{s:s, s:i, s:o, s:I, s:I}", "error", error, "socket", sock,
			      "replica", replica_json(replica), "bytes", (json_int_t)bytes, "t_us",
			      (json_int_t)mono_us());

	if (envelope_id)
		json_object_set_new(e, "envelope_id", json_string(envelope_id));
	json_array_append_new(fk->protocol_errors, e);
	note("protocol error socket=%d replica=%d error=%s bytes=%zu", sock, replica, error, bytes);
}

/* ---------------------------------------------------------------------- */
/* Frames and queues                                                      */

static void fq_push(struct fqueue *q, struct frame *f)
{
	f->next = NULL;
	if (q->tail)
		q->tail->next = f;
	else
		q->head = f;
	q->tail = f;
	q->n++;
}

static void fq_push_front(struct fqueue *q, struct frame *f)
{
	f->next = q->head;
	q->head = f;
	if (!q->tail)
		q->tail = f;
	q->n++;
}

static struct frame *fq_pop(struct fqueue *q)
{
	struct frame *f = q->head;

	if (!f)
		return NULL;
	q->head = f->next;
	if (!q->head)
		q->tail = NULL;
	q->n--;
	f->next = NULL;
	return f;
}

/* Puts all of `from` in front of q, keeping from's order. */
static void fq_prepend(struct fqueue *q, struct fqueue *from)
{
	if (!from->head)
		return;
	from->tail->next = q->head;
	q->head = from->head;
	if (!q->tail)
		q->tail = from->tail;
	q->n += from->n;
	from->head = from->tail = NULL;
	from->n = 0;
}

static struct frame *frame_data(const void *p, size_t n, enum fr_kind kind, enum fr_after after)
{
	struct frame *f = rb_calloc(1, sizeof *f);

	f->kind = kind;
	f->after = after;
	f->len = n;
	f->buf = rb_malloc(LWS_PRE + n);
	memcpy(f->buf + LWS_PRE, p, n);
	return f;
}

static void frame_free(struct frame *f)
{
	if (!f)
		return;
	free(f->buf);
	free(f);
}

/* ---------------------------------------------------------------------- */
/* Deliveries                                                             */

/* A new delivery for env (stolen), which must have a string envelope_id. */
static struct delivery *delivery_new(struct fake *fk, json_t *env)
{
	struct delivery *d = rb_calloc(1, sizeof *d);
	const char *ev = js(json_object_get(env, "payload"), "event_id");
	const char *type = js(env, "type");
	long long attempt = 0;
	char *txt;

	d->fk = fk;
	d->env = env;
	rb_strlcpy(d->id, js(env, "envelope_id"), sizeof d->id);
	rb_strlcpy(d->type, type ? type : "", sizeof d->type);
	d->event_id = ev ? rb_strdup(ev) : NULL;
	if (!jint(env, "retry_attempt", &attempt) && attempt >= 0 && attempt <= 100)
		d->attempt = (int)attempt;
	txt = json_dumps(env, JSON_COMPACT);
	RB_ASSERT(txt);
	d->len = strlen(txt);
	d->wire = rb_malloc(LWS_PRE + d->len);
	memcpy(d->wire + LWS_PRE, txt, d->len);
	free(txt);
	d->state = D_QUEUED;
	lws_dll2_add_tail(&d->node, &fk->deliveries);
	json_object_set_new(fk->by_id, d->id, json_integer((json_int_t)(intptr_t)d));
	return d;
}

/* Fault injection on one tracked delivery: the frame sent is `wire` as
 * is (malformed JSON, say) instead of the envelope, or the envelope with a
 * "padding" string right after its envelope_id, so that the frame is
 * `pad_to` bytes long. Either way its ack is awaited like any other. */
static void delivery_rewire(struct delivery *d, const char *wire, size_t pad_to)
{
	char *txt;
	size_t len;

	if (wire) {
		txt = rb_strdup(wire);
	} else {
		json_t *others = json_copy(d->env); /* every key but envelope_id, after it */
		char *rest, *head;
		json_t *idj = json_string(d->id);

		json_object_del(others, "envelope_id");
		rest = json_dumps(others, JSON_COMPACT);
		json_decref(others);
		char *id = json_dumps(idj, JSON_ENCODE_ANY);
		size_t fixed;

		json_decref(idj);
		RB_ASSERT(rest && id);
		head = rb_asprintf("{\"envelope_id\":%s,\"padding\":\"", id);
		/* head + padding + "\"," + rest without its '{' */
		fixed = strlen(head) + 2 + strlen(rest) - 1;
		len = pad_to > fixed ? pad_to - fixed : 0;
		txt = rb_malloc(fixed + len + 1);
		memcpy(txt, head, strlen(head));
		memset(txt + strlen(head), 'x', len);
		memcpy(txt + strlen(head) + len, "\",", 2);
		memcpy(txt + strlen(head) + len + 2, rest + 1, strlen(rest) - 1);
		txt[fixed + len] = '\0';
		free(head);
		free(id);
		free(rest);
	}
	len = strlen(txt);
	free(d->wire);
	d->len = len;
	d->wire = rb_malloc(LWS_PRE + len);
	memcpy(d->wire + LWS_PRE, txt, len);
	free(txt);
}

static struct delivery *delivery_find(struct fake *fk, const char *id)
{
	json_t *v = json_object_get(fk->by_id, id);
	return v ? (struct delivery *)(intptr_t)json_integer_value(v) : NULL;
}

static void delivery_free(struct delivery *d)
{
	if (delivery_find(d->fk, d->id) == d)
		json_object_del(d->fk->by_id, d->id);
	lws_sul_cancel(&d->sul);
	lws_dll2_remove(&d->node);
	json_decref(d->env);
	free(d->wire);
	free(d->event_id);
	free(d);
}

static bool eligible(const struct sm_conn *c)
{
	return c->hello_sent && !c->refused && !c->draining && !c->silenced && !c->closing &&
	       !c->dropped;
}

/* The next socket in round-robin order that may take an envelope; with
 * replica > 0 only that replica's sockets count. */
static struct sm_conn *next_conn(struct fake *fk, int replica)
{
	struct sm_conn *after = NULL, *first = NULL;

	lws_start_foreach_dll (struct lws_dll2 *, p, lws_dll2_get_head(&fk->conns)) {
		struct sm_conn *c = lws_container_of(p, struct sm_conn, node);
		if (eligible(c) && (!replica || c->replica == replica)) {
			if (!first)
				first = c;
			if (!after && c->id > fk->rr_last)
				after = c;
		}
	}
	lws_end_foreach_dll(p);
	if (!after)
		after = first;
	if (after)
		fk->rr_last = after->id;
	return after;
}

/* Is there a socket that may take an envelope (of replica K, with K > 0)? */
static bool any_eligible(struct fake *fk, int replica)
{
	lws_start_foreach_dll (struct lws_dll2 *, p, lws_dll2_get_head(&fk->conns)) {
		struct sm_conn *c = lws_container_of(p, struct sm_conn, node);
		if (eligible(c) && (!replica || c->replica == replica))
			return true;
	}
	lws_end_foreach_dll(p);
	return false;
}

/* Hands the fake's queued envelopes, in order, to the eligible sockets:
 * those sent to a replica to that replica's, the others as the route says
 * (every socket, or one replica's). A queue whose first envelope finds no
 * socket waits whole; the others go on. */
static void route(struct fake *fk)
{
	struct sm_conn *c;

	if (fk->shutting_down)
		return;
	for (int q = 0; q <= FS_REPLICA_MAX; q++) {
		int replica = q ? q : fk->route_replica;

		while (fk->pending[q].head && (c = next_conn(fk, replica)) != NULL) {
			fq_push(&c->out, fq_pop(&fk->pending[q]));
			lws_callback_on_writable(c->wsi);
		}
	}
}

/* Puts the envelope frames of `back` in front of the fake's queues (each
 * in the queue of its target), keeping their order. */
static void pending_prepend(struct fake *fk, struct fqueue *back)
{
	struct fqueue split[FS_REPLICA_MAX + 1];
	struct frame *f;

	memset(split, 0, sizeof split);
	while ((f = fq_pop(back)) != NULL)
		fq_push(&split[f->d->target], f);
	for (int q = 0; q <= FS_REPLICA_MAX; q++)
		fq_prepend(&fk->pending[q], &split[q]);
}

static struct sm_conn *conn_by_id(struct fake *fk, int id)
{
	lws_start_foreach_dll (struct lws_dll2 *, p, lws_dll2_get_head(&fk->conns)) {
		struct sm_conn *c = lws_container_of(p, struct sm_conn, node);
		if (c->id == id)
			return c;
	}
	lws_end_foreach_dll(p);
	return NULL;
}

/* Queues d for sending: on socket `sock` if it is open, else to the next
 * eligible socket, else in the fake's queue until one is. */
static void submit(struct fake *fk, struct delivery *d, int sock)
{
	struct frame *f = rb_calloc(1, sizeof *f);
	struct sm_conn *c = sock ? conn_by_id(fk, sock) : NULL;

	f->kind = FR_ENVELOPE;
	f->d = d;
	d->state = D_QUEUED;
	fk->unsent++;
	if (c && !c->refused && !c->dropped) {
		fq_push(&c->out, f);
		lws_callback_on_writable(c->wsi);
		return;
	}
	fq_push(&fk->pending[d->target], f);
	route(fk);
}

static void release_cb(lws_sorted_usec_list_t *sul)
{
	struct delivery *d = lws_container_of(sul, struct delivery, sul);
	submit(d->fk, d, 0);
}

/* Slack's redelivery: a new envelope_id, the same payload (so the same
 * event_id), retry_attempt + 1, retry_reason "timeout". */
static void redeliver(struct fake *fk, struct delivery *d)
{
	json_t *env = json_deep_copy(d->env);
	struct delivery *r;
	char id[37];
	int delay = fk->cfg.retry_delays_ms[d->attempt < FS_RETRIES ? d->attempt : FS_RETRIES - 1];

	uuid4(id);
	json_object_set_new(env, "envelope_id", json_string(id));
	json_object_set_new(env, "retry_attempt", json_integer(d->attempt + 1));
	json_object_set_new(env, "retry_reason", json_string("timeout"));
	r = delivery_new(fk, env);
	d->state = D_RETRIED;
	note("redeliver envelope=%s as %s retry_attempt=%d in %d ms", d->id, r->id, r->attempt,
	     delay);
	if (delay > 0) {
		r->state = D_WAITING;
		lws_sul_schedule(fk->ctx, 0, &r->sul, release_cb,
				 (lws_usec_t)delay * LWS_US_PER_MS);
	} else {
		submit(fk, r, 0);
	}
}

static void ack_deadline_cb(lws_sorted_usec_list_t *sul)
{
	struct delivery *d = lws_container_of(sul, struct delivery, sul);
	struct fake *fk = d->fk;

	if (d->state != D_SENT)
		return;
	if (!strcmp(d->type, "slash_commands")) {
		d->state = D_TIMED_OUT;
		json_array_append_new(fk->op_timeouts, json_string(d->id));
		note("operation_timeout envelope=%s", d->id);
	} else if (d->attempt >= FS_RETRIES) {
		d->state = D_EXHAUSTED;
		json_array_append_new(fk->exhausted, json_string(d->id));
		note("no ack after the last retry envelope=%s", d->id);
	} else {
		redeliver(fk, d);
	}
}

static void arm_ack_deadline(struct fake *fk, struct delivery *d)
{
	int ms = 0;

	if (!strcmp(d->type, "events_api"))
		ms = fk->cfg.retry_after_ms;
	else if (!strcmp(d->type, "slash_commands"))
		ms = fk->cfg.slash_timeout_ms;
	if (ms > 0)
		lws_sul_schedule(fk->ctx, 0, &d->sul, ack_deadline_cb,
				 (lws_usec_t)ms * LWS_US_PER_MS);
}

/* ---------------------------------------------------------------------- */
/* Sockets                                                                */

static unsigned count_live(struct fake *fk)
{
	unsigned n = 0;

	lws_start_foreach_dll (struct lws_dll2 *, p, lws_dll2_get_head(&fk->conns)) {
		struct sm_conn *c = lws_container_of(p, struct sm_conn, node);
		if (!c->refused)
			n++;
	}
	lws_end_foreach_dll(p);
	return n;
}

static void conn_queue_json(struct sm_conn *c, json_t *j, enum fr_after after)
{
	char *s = json_dumps(j, JSON_COMPACT);

	RB_ASSERT(s);
	fq_push(&c->out, frame_data(s, strlen(s), FR_TEXT, after));
	free(s);
	json_decref(j);
	lws_callback_on_writable(c->wsi);
}

static json_t *disconnect_msg(const char *reason)
{
	return json_pack("{s:s, s:s, s:{s:s}}", "type", "disconnect", "reason", reason,
			 "debug_info", "host", FS_HOST);
}

/* Moves the envelopes queued on c but not written back to the front of the
 * fake's queue (so they go to another socket), keeping c's other frames. */
static void reclaim_envelopes(struct fake *fk, struct sm_conn *c)
{
	struct fqueue keep = { 0 }, back = { 0 };
	struct frame *f;

	while ((f = fq_pop(&c->out)) != NULL)
		fq_push(f->kind == FR_ENVELOPE ? &back : &keep, f);
	c->out = keep;
	pending_prepend(fk, &back);
}

static void conn_drop(struct sm_conn *c)
{
	int fd = lws_get_socket_fd(c->wsi);

	if (c->dropped)
		return;
	c->dropped = true;
	note("socket %d dropped (no close frame)", c->id);
	if (fd >= 0)
		shutdown(fd, SHUT_RDWR);
	lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
}

static void close_cb(lws_sorted_usec_list_t *sul)
{
	struct sm_conn *c = lws_container_of(sul, struct sm_conn, close_sul);

	if (c->close_mode == CM_FRAME) {
		c->closing = true;
		lws_callback_on_writable(c->wsi);
	} else if (c->close_mode == CM_DROP) {
		conn_drop(c);
	}
}

static void conn_schedule_close(struct sm_conn *c, enum close_mode mode, int ms)
{
	c->close_mode = mode;
	if (mode == CM_NONE)
		return;
	lws_sul_schedule(c->fk->ctx, 0, &c->close_sul, close_cb,
			 (lws_usec_t)(ms > 0 ? ms : 0) * LWS_US_PER_MS);
}

/* Sends disconnect/<reason>, takes the socket out of the rotation, and
 * closes it after ms in the given way. */
static void conn_disconnect(struct sm_conn *c, const char *reason, enum close_mode mode, int ms)
{
	struct fake *fk = c->fk;

	note("socket %d disconnect reason=%s close=%s after=%dms", c->id, reason,
	     close_mode_name(mode), ms);
	c->draining = true;
	reclaim_envelopes(fk, c);
	conn_queue_json(c, disconnect_msg(reason), AF_NONE);
	conn_schedule_close(c, mode, ms);
	route(fk);
}

static void ping_cb(lws_sorted_usec_list_t *sul)
{
	struct sm_conn *c = lws_container_of(sul, struct sm_conn, ping_sul);

	if (!c->silenced && !c->closing && !c->dropped) {
		c->ping_due = true;
		lws_callback_on_writable(c->wsi);
	}
	lws_sul_schedule(c->fk->ctx, 0, &c->ping_sul, ping_cb,
			 (lws_usec_t)c->fk->cfg.ping_ms * LWS_US_PER_MS);
}

/* The scheduled refresh: warning first (stage 0), then refresh_requested. */
static void life_cb(lws_sorted_usec_list_t *sul)
{
	struct sm_conn *c = lws_container_of(sul, struct sm_conn, life_sul);
	struct fake *fk = c->fk;

	if (c->draining || c->dropped)
		return;
	if (c->life_stage == 0) {
		c->life_stage = 1;
		note("socket %d disconnect reason=warning", c->id);
		conn_queue_json(c, disconnect_msg("warning"), AF_NONE);
		lws_sul_schedule(fk->ctx, 0, &c->life_sul, life_cb,
				 (lws_usec_t)fk->cfg.warning_ms * LWS_US_PER_MS);
		return;
	}
	conn_disconnect(c, "refresh_requested", fk->cfg.refresh_close, fk->cfg.close_after_ms);
}

static void conn_schedule_life(struct sm_conn *c, int life_ms)
{
	struct fake *fk = c->fk;
	int w = fk->cfg.warning_ms;

	if (life_ms <= 0)
		return;
	if (w > 0 && w < life_ms) {
		c->life_stage = 0;
		lws_sul_schedule(fk->ctx, 0, &c->life_sul, life_cb,
				 (lws_usec_t)(life_ms - w) * LWS_US_PER_MS);
	} else {
		c->life_stage = 1;
		lws_sul_schedule(fk->ctx, 0, &c->life_sul, life_cb,
				 (lws_usec_t)life_ms * LWS_US_PER_MS);
	}
}

/* True when the peer of a silenced socket has gone away: it reads nothing,
 * so lws would not notice. */
static bool peer_gone(struct sm_conn *c)
{
	struct pollfd pf;

	pf.fd = lws_get_socket_fd(c->wsi);
	pf.events = POLLRDHUP;
	pf.revents = 0;
	return pf.fd >= 0 && poll(&pf, 1, 0) > 0 && (pf.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

/* Every 100 ms while any socket is silenced, close those whose peer left.
 * (No `continue` in an lws_start_foreach_dll body: it would skip the step
 * to the next element.) */
static void rdhup_cb(lws_sorted_usec_list_t *sul)
{
	struct fake *fk = lws_container_of(sul, struct fake, rdhup_sul);
	bool any = false;

	lws_start_foreach_dll (struct lws_dll2 *, p, lws_dll2_get_head(&fk->conns)) {
		struct sm_conn *c = lws_container_of(p, struct sm_conn, node);

		if (c->silenced && !c->dropped) {
			any = true;
			if (peer_gone(c)) {
				note("socket %d: peer went away while silenced", c->id);
				c->dropped = true;
				lws_set_timeout(c->wsi, PENDING_TIMEOUT_USER_OK, LWS_TO_KILL_ASYNC);
			}
		}
	}
	lws_end_foreach_dll(p);
	if (any)
		lws_sul_schedule(fk->ctx, 0, &fk->rdhup_sul, rdhup_cb, 100 * LWS_US_PER_MS);
}

static void conn_silence(struct sm_conn *c, bool on)
{
	struct fake *fk = c->fk;

	if (c->silenced == on)
		return;
	c->silenced = on;
	note("socket %d silence=%s", c->id, on ? "on" : "off");
	if (lws_rx_flow_control(c->wsi, on ? 0 : 1) < 0)
		note("socket %d: rx flow control failed", c->id);
	if (on) {
		c->ping_due = false;
		reclaim_envelopes(fk, c);
		lws_sul_schedule(fk->ctx, 0, &fk->rdhup_sul, rdhup_cb, 100 * LWS_US_PER_MS);
	} else {
		lws_callback_on_writable(c->wsi);
	}
	route(fk);
}

/* LWS_CALLBACK_ESTABLISHED: a websocket whose ticket was good is open. */
static void conn_open(struct fake *fk, struct pss *pss, struct lws *wsi)
{
	struct sm_conn *c = rb_calloc(1, sizeof *c);
	unsigned live = count_live(fk);
	char path[256];
	json_t *args;
	int life;

	c->fk = fk;
	c->wsi = wsi;
	c->id = ++fk->sock_seq;
	c->opened_us = mono_us();
	c->tls = lws_is_ssl(wsi) != 0;
	rb_buf_init(&c->rx, RB_WS_MSG_MAX);
	lws_dll2_add_tail(&c->node, &fk->conns);
	pss->conn = c;
	fk->sockets_total++;
	/* The query is still readable here (lws keeps the headers until after
	 * ESTABLISHED). Not lws_get_urlarg_by_name(): in 4.1 it gives up at the
	 * first argument longer than its buffer, and the ticket comes first. */
	args = query_args(wsi);
	c->debug_reconnects = jbool(args, "debug_reconnects", false);
	json_decref(args);
	/* The replica: the /r/K/ in front of /link/ (confirm_upgrade let only
	 * those paths through). */
	if (lws_hdr_copy(wsi, path, sizeof path, WSI_TOKEN_GET_URI) < 0)
		path[0] = '\0';
	(void)replica_strip(path, &c->replica);

	if ((int)live >= fk->cfg.max_sockets) {
		c->refused = true;
		note("socket %d refused: too_many_websockets (%u open) replica=%d", c->id, live,
		     c->replica);
		conn_queue_json(c, disconnect_msg("too_many_websockets"), AF_CLOSE);
		return;
	}
	if (live + 1 > fk->max_open)
		fk->max_open = live + 1;
	note("socket %d open num_connections=%u%s%s replica=%d", c->id, live + 1,
	     c->debug_reconnects ? " debug_reconnects" : "", c->tls ? " tls" : "", c->replica);
	life = c->debug_reconnects ? fk->cfg.debug_lifetime_ms : fk->cfg.lifetime_ms;
	if (fk->cfg.dbh_reason[0] && fk->cfg.dbh_count != 0) {
		conn_disconnect(c, fk->cfg.dbh_reason, CM_FRAME, fk->cfg.close_after_ms);
		if (fk->cfg.dbh_count > 0 && --fk->cfg.dbh_count == 0)
			fk->cfg.dbh_reason[0] = '\0';
		return;
	}
	if (fk->cfg.hello) {
		json_t *h = json_pack("{s:s, s:i, s:{s:s, s:i, s:i}, s:{s:s}}", "type", "hello",
				      "num_connections", (int)live + 1, "debug_info", "host",
				      FS_HOST, "build_number", 1, "approximate_connection_time",
				      life > 0 ? life / 1000 : 18060, "connection_info", "app_id",
				      FS_APP_ID);
		conn_queue_json(c, h, AF_HELLO);
	}
	lws_sul_schedule(fk->ctx, 0, &c->ping_sul, ping_cb,
			 (lws_usec_t)fk->cfg.ping_ms * LWS_US_PER_MS);
	conn_schedule_life(c, life);
}

/* LWS_CALLBACK_SERVER_WRITEABLE: one write at most (the lws rule). */
static int conn_writeable(struct sm_conn *c)
{
	struct fake *fk = c->fk;
	struct frame *f;
	unsigned char *buf;
	size_t len;
	enum fr_after after;

	if (c->dropped)
		return 0;
	if (c->closing) {
		lws_close_reason(c->wsi, LWS_CLOSE_STATUS_NORMAL, NULL, 0);
		note("socket %d closing with a close frame", c->id);
		return -1;
	}
	if (c->silenced)
		return 0;
	if (c->ping_due) {
		static const char msg[] = "Ping from " FS_HOST;
		unsigned char pb[LWS_PRE + sizeof msg];

		c->ping_due = false;
		memcpy(pb + LWS_PRE, msg, sizeof msg - 1);
		if (lws_write(c->wsi, pb + LWS_PRE, sizeof msg - 1, LWS_WRITE_PING) <
		    (int)(sizeof msg - 1))
			return -1;
		c->pings++;
		if (c->out.head)
			lws_callback_on_writable(c->wsi);
		return 0;
	}
	f = fq_pop(&c->out);
	if (!f)
		return 0;
	buf = f->kind == FR_ENVELOPE ? f->d->wire : f->buf;
	len = f->kind == FR_ENVELOPE ? f->d->len : f->len;
	if (lws_write(c->wsi, buf + LWS_PRE, len,
		      f->kind == FR_BINARY ? LWS_WRITE_BINARY : LWS_WRITE_TEXT) < (int)len) {
		fq_push_front(&c->out, f); /* reclaimed when the socket closes */
		return -1;
	}
	if (f->kind == FR_ENVELOPE) {
		struct delivery *d = f->d;

		d->sent_us = mono_us();
		d->socket = c->id;
		d->replica = c->replica;
		d->state = D_SENT;
		fk->unsent--;
		arm_ack_deadline(fk, d);
	}
	after = f->after;
	frame_free(f);
	if (after == AF_HELLO) {
		c->hello_sent = true;
		fk->hello_count++;
		fk->hello_by_replica[c->replica]++;
		route(fk);
	} else if (after == AF_CLOSE) {
		c->closing = true;
	}
	if (c->out.head || c->closing || c->ping_due)
		lws_callback_on_writable(c->wsi);
	return 0;
}

/* A whole client message: it should be an ack. */
static void handle_ack(struct fake *fk, struct sm_conn *c)
{
	size_t n = c->rx_bytes;
	json_error_t jerr;
	json_t *j = NULL, *rec;
	const char *id;
	struct delivery *d;
	bool late;

	if (c->rx_binary) {
		proto_error(fk, c->id, c->replica, "binary_frame", NULL, n);
		return;
	}
	if (c->rx.data && c->rx.len == n)
		j = json_loadb(c->rx.data, c->rx.len, 0, &jerr);
	id = js(j, "envelope_id");
	if (n >= FS_ACK_TOO_BIG) {
		proto_error(fk, c->id, c->replica, "ack_too_large", id, n);
		goto out;
	}
	if (!j) {
		proto_error(fk, c->id, c->replica, "not_json", NULL, n);
		goto out;
	}
	if (!id) {
		proto_error(fk, c->id, c->replica, "no_envelope_id", NULL, n);
		goto out;
	}
	d = delivery_find(fk, id);
	if (!d || d->state == D_WAITING || d->state == D_QUEUED) {
		proto_error(fk, c->id, c->replica, "unknown_envelope", id, n);
		goto out;
	}
	if (d->acked_us) {
		proto_error(fk, c->id, c->replica, "duplicate_ack", id, n);
		goto out;
	}
	d->acked_us = mono_us();
	d->ack_socket = c->id;
	d->ack_replica = c->replica;
	late = d->state != D_SENT;
	if (!late) {
		lws_sul_cancel(&d->sul);
		d->state = D_ACKED;
	}
	rec = json_pack(
		"{s:s, s:s, s:o, s:i, s:I, s:I, s:I, s:O?, s:i, s:i, s:o, s:o, s:b}", "envelope_id",
		d->id, "type", d->type, "event_id",
		d->event_id ? json_string(d->event_id) : json_null(), "retry_attempt", d->attempt,
		"sent_us", (json_int_t)d->sent_us, "acked_us", (json_int_t)d->acked_us,
		"latency_us", (json_int_t)(d->acked_us - d->sent_us), "payload",
		json_object_get(j, "payload"), "socket", d->socket, "ack_socket", c->id, "replica",
		replica_json(d->replica), "ack_replica", replica_json(c->replica), "late", late);
	json_array_append_new(fk->acks, rec);
out:
	json_decref(j);
}

static void conn_receive(struct sm_conn *c, const void *in, size_t len)
{
	if (lws_is_first_fragment(c->wsi)) {
		rb_buf_free(&c->rx);
		rb_buf_init(&c->rx, RB_WS_MSG_MAX);
		c->rx_bytes = 0;
		c->rx_binary = lws_frame_is_binary(c->wsi);
	}
	if (c->rx_bytes == c->rx.len && rb_buf_append(&c->rx, in, len))
		rb_buf_free(&c->rx); /* past the ceiling: keep counting only */
	c->rx_bytes += len;
	if (!lws_is_final_fragment(c->wsi))
		return;
	c->frames_in++;
	handle_ack(c->fk, c);
	rb_buf_free(&c->rx);
	rb_buf_init(&c->rx, RB_WS_MSG_MAX);
	c->rx_bytes = 0;
}

/* LWS_CALLBACK_CLOSED: unwritten envelopes go back to the fake's queue. */
static void conn_closed(struct fake *fk, struct pss *pss)
{
	struct sm_conn *c = pss ? pss->conn : NULL;
	struct fqueue back = { 0 };
	struct frame *f;

	if (!c)
		return;
	pss->conn = NULL;
	lws_sul_cancel(&c->ping_sul);
	lws_sul_cancel(&c->close_sul);
	lws_sul_cancel(&c->life_sul);
	lws_dll2_remove(&c->node);
	while ((f = fq_pop(&c->out)) != NULL) {
		if (f->kind == FR_ENVELOPE)
			fq_push(&back, f);
		else
			frame_free(f);
	}
	pending_prepend(fk, &back);
	rb_buf_free(&c->rx);
	if (!fk->shutting_down)
		note("socket %d closed (pings=%u pongs=%u frames_in=%u)", c->id, c->pings, c->pongs,
		     c->frames_in);
	free(c);
	route(fk);
}

/* LWS_CALLBACK_HTTP_CONFIRM_UPGRADE: only /link/ with a fresh ticket may
 * become a websocket. Returns 0 to allow, 1 after answering an error
 * (lws then finishes the transaction), -1 to hang up. */
static int confirm_upgrade(struct fake *fk, struct lws *wsi, const char *proto)
{
	char path[256];
	const char *t;
	json_t *args, *used;
	int status = 0, replica;
	const char *why = NULL;

	if (!proto || strcmp(proto, "websocket"))
		return -1;
	if (lws_hdr_copy(wsi, path, sizeof path, WSI_TOKEN_GET_URI) < 0)
		path[0] = '\0';
	if (strncmp(replica_strip(path, &replica), "/link", 5)) {
		status = HTTP_STATUS_NOT_FOUND;
		why = "not_found";
	} else {
		args = query_args(wsi);
		t = js(args, "ticket");
		used = t ? json_object_get(fk->tickets, t) : NULL;
		if (!used) {
			status = HTTP_STATUS_UNAUTHORIZED;
			why = "ticket_unknown";
		} else if (json_is_true(used)) {
			status = HTTP_STATUS_CONFLICT;
			why = "ticket_reused";
		} else {
			json_object_set_new(fk->tickets, t, json_true());
		}
		json_decref(args);
	}
	if (!status)
		return 0;
	fk->upgrades_refused++;
	proto_error(fk, 0, replica, why, NULL, 0);
	note("upgrade refused status=%d reason=%s replica=%d", status, why, replica);
	if (lws_return_http_status(wsi, (unsigned)status, why))
		return -1;
	return 1;
}

/* ---------------------------------------------------------------------- */
/* Envelopes built for the control API                                    */

static const char *channel_name(struct fake *fk, const char *ch)
{
	const char *name = js(json_object_get(fk->channels, ch), "name");

	if (name)
		return name;
	if (ch[0] == 'D')
		return "directmessage";
	if (ch[0] == 'G')
		return "privategroup";
	return FS_CHANNEL_NAME;
}

static char *lower_dup(const char *s)
{
	char *p = rb_strdup(s), *q;

	for (q = p; *q; q++)
		if (*q >= 'A' && *q <= 'Z')
			*q = (char)(*q - 'A' + 'a');
	return p;
}

static json_t *authorizations(void)
{
	return json_pack("[{s:n, s:s, s:s, s:b, s:b}]", "enterprise_id", "team_id", FS_TEAM_ID,
			 "user_id", FS_BOT_USER, "is_bot", 1, "is_enterprise_install", 0);
}

/* Wraps an event in an event_callback payload and an events_api envelope. */
static json_t *events_envelope(struct fake *fk, json_t *event)
{
	char id[37], evid[32];

	uuid4(id);
	snprintf(evid, sizeof evid, "Ev0FAKE%05u", ++fk->event_seq);
	return json_pack("{s:s, s:{s:s, s:s, s:s, s:n, s:s, s:o, s:s, s:s, s:I, s:o, s:b, s:s},"
			 " s:s, s:b, s:i, s:s}",
			 "envelope_id", id, "payload", "token", FS_VERIFY_TOKEN, "team_id",
			 FS_TEAM_ID, "context_team_id", FS_TEAM_ID, "context_enterprise_id",
			 "api_app_id", FS_APP_ID, "event", event, "type", "event_callback",
			 "event_id", evid, "event_time",
			 (json_int_t)(clock_us(CLOCK_REALTIME) / 1000000), "authorizations",
			 authorizations(), "is_ext_shared_channel", 0, "event_context",
			 "4-ZmFrZS1zbGFjaw", "type", "events_api", "accepts_response_payload", 0,
			 "retry_attempt", 0, "retry_reason", "");
}

static json_t *build_slash(struct fake *fk, const json_t *rq)
{
	const char *text = js(rq, "slash");
	const char *user = js(rq, "user") ? js(rq, "user") : FS_DEFAULT_USER;
	const char *ch = js(rq, "channel") ? js(rq, "channel") : FS_CHANNEL;
	const char *cmd = js(rq, "command") ? js(rq, "command") : "/rollback";
	char *uname = js(rq, "user_name") ? rb_strdup(js(rq, "user_name")) : lower_dup(user);
	char id[37], hex[33], trig[80];
	char *rurl;
	unsigned n = ++fk->response_url_seq;
	json_t *env;

	uuid4(id);
	hex_rand(hex, 32);
	snprintf(trig, sizeof trig, "%u%09u.6254061872993.%s", 9273645u, n, hex);
	rurl = rb_asprintf("%s://127.0.0.1:%d/commands/%u", fk->scheme, fk->port, n);
	env = json_pack("{s:s, s:{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s,"
			" s:s}, s:s, s:b}",
			"envelope_id", id, "payload", "token", FS_VERIFY_TOKEN, "team_id",
			FS_TEAM_ID, "team_domain", FS_TEAM_DOMAIN, "channel_id", ch, "channel_name",
			channel_name(fk, ch), "user_id", user, "user_name", uname, "command", cmd,
			"text", text, "api_app_id", FS_APP_ID, "is_enterprise_install", "false",
			"response_url", rurl, "trigger_id", trig, "type", "slash_commands",
			"accepts_response_payload", 1);
	free(rurl);
	free(uname);
	return env;
}

static char *msg_key(const char *ch, const char *ts)
{
	return rb_asprintf("%s/%s", ch, ts);
}

static json_t *build_reaction(struct fake *fk, const json_t *rq)
{
	const char *user = js(rq, "user") ? js(rq, "user") : FS_DEFAULT_USER;
	const char *ch = js(rq, "channel") ? js(rq, "channel") : FS_CHANNEL;
	const char *ts = js(rq, "ts");
	const char *item_user = js(rq, "item_user");
	char now[32], *key;
	json_t *m;

	new_ts(fk, now);
	if (!ts)
		ts = now;
	if (!item_user) {
		key = msg_key(ch, ts);
		m = json_object_get(fk->messages, key);
		free(key);
		item_user = js(m, "user") ? js(m, "user") : FS_BOT_USER;
	}
	return events_envelope(
		fk,
		json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:s}, s:s, s:s}", "type",
			  jbool(rq, "removed", false) ? "reaction_removed" : "reaction_added",
			  "user", user, "reaction", js(rq, "reaction"), "item", "type", "message",
			  "channel", ch, "ts", ts, "item_user", item_user, "event_ts", now));
}

static json_t *build_message(struct fake *fk, const json_t *rq)
{
	const char *user = js(rq, "user") ? js(rq, "user") : FS_DEFAULT_USER;
	const char *ch = js(rq, "channel") ? js(rq, "channel") : FS_CHANNEL;
	char ts[32];
	json_t *ev;

	new_ts(fk, ts);
	ev = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "type", "message", "text",
		       js(rq, "message"), "user", user, "ts", js(rq, "ts") ? js(rq, "ts") : ts,
		       "team", FS_TEAM_ID, "channel", ch, "event_ts", ts, "channel_type",
		       ch[0] == 'D' ? "im" :
		       ch[0] == 'G' ? "group" :
				      "channel");
	if (js(rq, "thread_ts"))
		json_object_set_new(ev, "thread_ts", json_string(js(rq, "thread_ts")));
	return events_envelope(fk, ev);
}

/* Remembers a message event's (channel, ts) so that chat.update and
 * reactions.* know it and know it is not the bot's (unless it is), and its
 * thread_ts so that conversations.replies finds it in its thread. */
static void register_message(struct fake *fk, const json_t *env)
{
	json_t *ev = json_object_get(json_object_get(env, "payload"), "event");
	const char *ch = js(ev, "channel"), *ts = js(ev, "ts");
	const char *user = js(ev, "bot_id") ? FS_BOT_USER : js(ev, "user");
	const char *thread_ts = js(ev, "thread_ts");
	char *key;

	if (!ch || !ts || !js(ev, "type") || strcmp(js(ev, "type"), "message"))
		return;
	key = msg_key(ch, ts);
	if (!json_object_get(fk->messages, key))
		json_object_set_new(fk->messages, key,
				    json_pack("{s:s, s:s, s:s*, s:[]}", "user", user ? user : "",
					      "text", js(ev, "text") ? js(ev, "text") : "",
					      "thread_ts", thread_ts && *thread_ts ? thread_ts : NULL,
					      "reactions"));
	free(key);
}

/* Fills in what a full envelope from a test may leave out. Returns 0, or
 * -1 with err filled. */
static int normalize_envelope(struct fake *fk, json_t *env, char *err, size_t errlen)
{
	const char *id = js(env, "envelope_id");
	const char *type = js(env, "type");
	json_t *payload = json_object_get(env, "payload");
	char buf[37], evid[32];

	if (!id) {
		uuid4(buf);
		json_object_set_new(env, "envelope_id", json_string(buf));
	} else if (!*id || strlen(id) >= sizeof((struct delivery *)0)->id) {
		snprintf(err, errlen, "envelope_id must be 1-63 characters");
		return -1;
	}
	if (type && !strcmp(type, "events_api")) {
		if (!json_is_object(payload)) {
			snprintf(err, errlen, "events_api envelope needs a payload object");
			return -1;
		}
		if (!js(payload, "event_id")) {
			snprintf(evid, sizeof evid, "Ev0FAKE%05u", ++fk->event_seq);
			json_object_set_new(payload, "event_id", json_string(evid));
		}
		if (!json_object_get(env, "retry_attempt"))
			json_object_set_new(env, "retry_attempt", json_integer(0));
		if (!json_object_get(env, "retry_reason"))
			json_object_set_new(env, "retry_reason", json_string(""));
		register_message(fk, env);
	}
	return 0;
}

/* One envelope request (full envelope or shorthand) → a new envelope. */
static json_t *envelope_from_request(struct fake *fk, const json_t *rq, char *err, size_t errlen)
{
	json_t *env = NULL;

	if (json_is_object(json_object_get(rq, "envelope"))) {
		env = json_deep_copy(json_object_get(rq, "envelope"));
	} else if (js(rq, "slash")) {
		env = build_slash(fk, rq);
	} else if (js(rq, "reaction")) {
		env = build_reaction(fk, rq);
	} else if (js(rq, "message")) {
		env = build_message(fk, rq);
	} else if (js(rq, "type") || json_object_get(rq, "payload")) {
		env = json_deep_copy(rq); /* a bare envelope inside "envelopes" */
	} else {
		snprintf(err, errlen, "need envelope, slash, reaction or message");
		return NULL;
	}
	if (!env) {
		snprintf(err, errlen, "bad envelope request");
		return NULL;
	}
	if (normalize_envelope(fk, env, err, errlen)) {
		json_decref(env);
		return NULL;
	}
	return env;
}

/* ---------------------------------------------------------------------- */
/* Reactions on remembered messages                                       */

/* A remembered message's "reactions" is an array of {"name","users":[…]}:
 * an array, not an object keyed by name, because reactions.get lists names
 * in the order they were first added, and users in the order they reacted.
 * A bot's post made with metadata also has "metadata":{"event_type",
 * "event_payload"}, which conversations.replies/history show on request. */

/* The remembered message (channel, ts), borrowed, or NULL. */
static json_t *message_get(struct fake *fk, const char *ch, const char *ts)
{
	char *key = msg_key(ch, ts);
	json_t *m = json_object_get(fk->messages, key);

	free(key);
	return m;
}

/* The index of the string s in array a, or the array's size. */
static size_t str_index(const json_t *a, const char *s)
{
	size_t i;
	json_t *v;

	json_array_foreach (a, i, v) {
		if (json_is_string(v) && !strcmp(json_string_value(v), s))
			return i;
	}
	return json_array_size(a);
}

/* The index of reaction `name` in a reactions array, or the array's size. */
static size_t reaction_index(const json_t *rs, const char *name)
{
	size_t i;
	json_t *r;

	json_array_foreach (rs, i, r) {
		if (js(r, "name") && !strcmp(js(r, "name"), name))
			return i;
	}
	return json_array_size(rs);
}

/* Adds user to reaction `name` (the name goes last when new), or removes
 * them (a name left with no users goes). Returns 0, or -1 when there was
 * nothing to do: already there, or not there. */
static int reaction_change(json_t *m, const char *name, const char *user, bool add)
{
	json_t *rs = json_object_get(m, "reactions"), *users;
	size_t i = reaction_index(rs, name), j;

	if (add && i == json_array_size(rs))
		json_array_append_new(rs, json_pack("{s:s, s:[]}", "name", name, "users"));
	users = json_object_get(json_array_get(rs, i), "users");
	j = str_index(users, user);
	if (add) {
		if (j < json_array_size(users))
			return -1;
		json_array_append_new(users, json_string(user));
		return 0;
	}
	if (j == json_array_size(users))
		return -1;
	json_array_remove(users, j);
	if (!json_array_size(users))
		json_array_remove(rs, i);
	return 0;
}

/* A reactions array as Slack shows it: each with "count". New reference. */
static json_t *reactions_view(const json_t *rs)
{
	json_t *out = json_array(), *r;
	size_t i;

	json_array_foreach (rs, i, r) {
		json_t *users = json_object_get(r, "users");

		json_array_append_new(out, json_pack("{s:s, s:O, s:I}", "name", js(r, "name"),
						     "users", users, "count",
						     (json_int_t)json_array_size(users)));
	}
	return out;
}

static int ts_cmp(const char *a, const char *b);

/* A reaction_added/reaction_removed event on its way to the bot is a
 * reaction that happened: the message (when known) keeps it. Other
 * envelopes, and reactions to unknown messages, change nothing. */
static void reaction_event_apply(struct fake *fk, const json_t *env)
{
	json_t *ev = json_object_get(json_object_get(env, "payload"), "event");
	json_t *item = json_object_get(ev, "item"), *m;
	const char *type = js(ev, "type"), *user = js(ev, "user"), *name = js(ev, "reaction");
	const char *ev_ts = js(ev, "event_ts"), *last;
	char *key;

	if (!type || !user || !name || !js(item, "channel") || !js(item, "ts"))
		return;
	if (js(item, "type") && strcmp(js(item, "type"), "message"))
		return; /* a file's reactions are not a message's */
	if (strcmp(type, "reaction_added") && strcmp(type, "reaction_removed"))
		return;
	m = message_get(fk, js(item, "channel"), js(item, "ts"));
	if (!m)
		return;
	/* A redelivery, or a copy as old as an event applied already, is not
	 * a new reaction: Slack's state is what the latest event made it. */
	key = rb_asprintf("%s/%s %s %s", js(item, "channel"), js(item, "ts"), name, user);
	last = js(fk->reaction_ts, key);
	if (!ev_ts || !last || ts_cmp(ev_ts, last) > 0) {
		reaction_change(m, name, user, !strcmp(type, "reaction_added"));
		if (ev_ts)
			json_object_set_new(fk->reaction_ts, key, json_string(ev_ts));
	}
	free(key);
}

/* ---------------------------------------------------------------------- */
/* Web API                                                                */

/* What one Web API call answers beyond its JSON body. */
struct api_out {
	int status;
	int retry_after;
	bool is_json; /* the body was JSON */
	/* "/r/K" when the call came with that prefix, else "": the URLs
	 * handed out (socket, upload) keep it. */
	char prefix[16];
};

static json_t *bot_profile(void)
{
	return json_pack("{s:s, s:s, s:s, s:{s:s, s:s, s:s}, s:b, s:i, s:s}", "id", FS_BOT_ID,
			 "app_id", FS_APP_ID, "name", "rollbot", "icons", "image_36",
			 "https://a.slack-edge.com/80588/img/plugins/app/bot_36.png", "image_48",
			 "https://a.slack-edge.com/80588/img/plugins/app/bot_48.png", "image_72",
			 "https://a.slack-edge.com/80588/img/plugins/app/service_72.png", "deleted",
			 0, "updated", 1780000000, "team_id", FS_TEAM_ID);
}

static const char *auth_error(const char *kind, const char *want)
{
	if (!strcmp(kind, want))
		return NULL;
	if (!strcmp(kind, "none"))
		return "not_authed";
	if (!strcmp(kind, "xoxb") || !strcmp(kind, "xapp"))
		return "not_allowed_token_type";
	return "invalid_auth";
}

/* NULL when ch is a channel the bot may post in, else Slack's error. */
static const char *channel_error(struct fake *fk, const char *ch)
{
	json_t *o;

	if (!ch || (ch[0] != 'C' && ch[0] != 'G' && ch[0] != 'D'))
		return "channel_not_found";
	o = json_object_get(fk->channels, ch);
	if (jbool(o, "missing", false))
		return "channel_not_found";
	if (jbool(o, "is_archived", false))
		return "is_archived";
	if (!jbool(o, "is_member", true))
		return "not_in_channel";
	return NULL;
}

/* A blocks argument: a JSON array, or a string holding one (form bodies).
 * Returns a new reference, NULL when absent; *bad when malformed. */
static json_t *arg_blocks(const json_t *args, const char *k, bool *bad)
{
	json_t *v = json_object_get(args, k), *p;

	*bad = false;
	if (!v || json_is_null(v))
		return NULL;
	if (json_is_array(v))
		return json_incref(v);
	if (json_is_string(v)) {
		if (!*json_string_value(v))
			return NULL;
		p = json_loads(json_string_value(v), 0, NULL);
		if (json_is_array(p))
			return p;
		json_decref(p);
	}
	*bad = true;
	return NULL;
}

/* A metadata argument (https://docs.slack.dev/messaging/message-metadata):
 * an object {"event_type": non-empty string, "event_payload": object}, or a
 * string holding one (form bodies). Returns a new {"event_type",
 * "event_payload"} (other keys dropped), NULL when absent; *bad when
 * malformed. */
static json_t *arg_metadata(const json_t *args, const char *k, bool *bad)
{
	json_t *v = json_object_get(args, k), *p = NULL, *r = NULL;
	const char *type;

	*bad = false;
	if (!v || json_is_null(v))
		return NULL;
	if (json_is_string(v)) {
		if (!*json_string_value(v))
			return NULL;
		v = p = json_loads(json_string_value(v), 0, NULL);
	}
	type = js(v, "event_type");
	if (json_is_object(v) && type && *type &&
	    json_is_object(json_object_get(v, "event_payload")))
		r = json_pack("{s:s, s:O}", "event_type", type, "event_payload",
			      json_object_get(v, "event_payload"));
	json_decref(p);
	*bad = r == NULL;
	return r;
}

/* Token bucket per channel for chat.postMessage: Slack allows about one
 * post a second in a channel, with short bursts
 * (https://api.slack.com/methods/chat.postMessage, "Rate limits"). */
static bool post_rate_limited(struct fake *fk, const char *ch)
{
	json_t *b = json_object_get(fk->buckets, ch);
	int64_t now = mono_us();
	double tokens = fk->cfg.post_burst, last;

	if (fk->cfg.post_rate_per_s <= 0)
		return false;
	if (b) {
		tokens = json_real_value(json_array_get(b, 0));
		last = json_real_value(json_array_get(b, 1));
		tokens += (double)(now - (int64_t)last) / 1e6 * fk->cfg.post_rate_per_s;
		if (tokens > fk->cfg.post_burst)
			tokens = fk->cfg.post_burst;
	}
	if (tokens < 1.0)
		return true;
	json_object_set_new(fk->buckets, ch, json_pack("[f, f]", tokens - 1.0, (double)now));
	return false;
}

/* A method's tier as calls per minute (https://api.slack.com/docs/rate-limits
 * and each method's page); 0 = not limited here: chat.postMessage has its
 * per-channel limit, auth.test is "special" (thousands an hour), and
 * apps.connections.open (Tier 1, "1+ per minute") is not limited, since
 * Slack's own SDKs reconnect at once and Slack does not publish how many
 * it takes. */
static int method_tier_per_min(const char *method)
{
	static const struct {
		const char *method;
		int per_min;
	} tiers[] = {
		{ "usergroups.users.list", 20 },	 /* Tier 2 */
		{ "conversations.replies", 50 },	 /* Tier 3 */
		{ "conversations.history", 50 },	 /* Tier 3 */
		{ "conversations.info", 50 },		 /* Tier 3 */
		{ "reactions.add", 50 },		 /* Tier 3 */
		{ "reactions.get", 50 },		 /* Tier 3 */
		{ "chat.update", 50 },			 /* Tier 3 */
		{ "chat.postEphemeral", 100 },		 /* Tier 4 */
		{ "users.info", 100 },			 /* Tier 4 */
		{ "files.getUploadURLExternal", 100 },	 /* Tier 4 */
		{ "files.completeUploadExternal", 100 }, /* Tier 4 */
	};

	for (size_t i = 0; i < RB_ARRAY_LEN(tiers); i++)
		if (!strcmp(tiers[i].method, method))
			return tiers[i].per_min;
	return 0;
}

/* A token bucket per method holding a minute of its tier; over it, the
 * seconds until the next call is allowed (Retry-After), else 0. */
static int method_rate_limited(struct fake *fk, const char *method)
{
	int per_min = fk->cfg.method_tiers ? method_tier_per_min(method) : 0;
	char key[96];
	json_t *b;
	int64_t now = mono_us();
	double tokens = per_min, rate = per_min / 60.0;

	if (!per_min)
		return 0;
	snprintf(key, sizeof key, "method %s", method);
	b = json_object_get(fk->buckets, key);
	if (b) {
		tokens = json_real_value(json_array_get(b, 0));
		tokens += (double)(now - (int64_t)json_real_value(json_array_get(b, 1))) / 1e6 * rate;
		if (tokens > per_min)
			tokens = per_min;
	}
	if (tokens < 1.0)
		return (int)((1.0 - tokens) / rate) + 1;
	json_object_set_new(fk->buckets, key, json_pack("[f, f]", tokens - 1.0, (double)now));
	return 0;
}

static json_t *m_connections_open(struct fake *fk, json_t *args, const char *auth,
				  struct api_out *o)
{
	const char *e = auth_error(auth, "xapp");
	char ticket[37];
	char *url;
	json_t *r;

	(void)args;
	if (e)
		return api_err(e);
	uuid4(ticket);
	json_object_set_new(fk->tickets, ticket, json_false());
	fk->tickets_issued++;
	url = rb_asprintf("%s://127.0.0.1:%d%s/link/?ticket=%s&app_id=%s", fk->tls ? "wss" : "ws",
			  fk->port, o->prefix, ticket, fk->app_hash);
	r = json_pack("{s:b, s:s, s:{s:[s], s:[s]}}", "ok", 1, "url", url, "response_metadata",
		      "scopes", "connections:write", "acceptedScopes", "connections:write");
	free(url);
	return r;
}

static json_t *m_auth_test(struct fake *fk, json_t *args, const char *auth, struct api_out *o)
{
	(void)fk;
	(void)args;
	(void)auth;
	(void)o;
	return json_pack("{s:b, s:s, s:s, s:s, s:s, s:s, s:s, s:b}", "ok", 1, "url",
			 "https://acme-eng.slack.com/", "team", FS_TEAM_DOMAIN, "user", "rollbot",
			 "team_id", FS_TEAM_ID, "user_id", FS_BOT_USER, "bot_id", FS_BOT_ID,
			 "is_enterprise_install", 0);
}

static json_t *default_blocks(const char *text)
{
	return json_pack("[{s:s, s:s, s:[{s:s, s:[{s:s, s:s}]}]}]", "type", "rich_text", "block_id",
			 "fake0", "elements", "type", "rich_text_section", "elements", "type",
			 "text", "text", text);
}

static json_t *m_post_message(struct fake *fk, json_t *args, const char *auth, struct api_out *o)
{
	const char *ch = js(args, "channel"), *text = js(args, "text");
	const char *thread_ts = js(args, "thread_ts");
	const char *e;
	bool bad;
	json_t *blocks, *meta, *msg, *parent, *stored;
	char ts[32], *key;

	(void)auth;
	e = channel_error(fk, ch);
	if (e)
		return api_err(e);
	blocks = arg_blocks(args, "blocks", &bad);
	if (bad)
		return api_err("invalid_blocks_format");
	meta = arg_metadata(args, "metadata", &bad);
	if (bad) {
		json_decref(blocks);
		return api_err("invalid_metadata_format");
	}
	if (!blocks && (!text || !*text) && !json_object_get(args, "attachments")) {
		json_decref(meta);
		return api_err("no_text");
	}
	if (text && strlen(text) > 40000) {
		json_decref(blocks);
		json_decref(meta);
		return api_err("msg_too_long");
	}
	if (post_rate_limited(fk, ch)) {
		json_decref(blocks);
		json_decref(meta);
		o->status = 429;
		o->retry_after = 1;
		return api_err("ratelimited");
	}
	new_ts(fk, ts);
	if (!blocks && text && *text)
		blocks = default_blocks(text);
	msg = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "bot_id", FS_BOT_ID, "type", "message",
			"text", text ? text : "", "user", FS_BOT_USER, "ts", ts, "app_id",
			FS_APP_ID);
	if (blocks)
		json_object_set_new(msg, "blocks", blocks);
	json_object_set_new(msg, "team", json_string(FS_TEAM_ID));
	json_object_set_new(msg, "bot_profile", bot_profile());
	if (thread_ts && *thread_ts) {
		key = msg_key(ch, thread_ts);
		parent = json_object_get(fk->messages, key);
		free(key);
		json_object_set_new(msg, "thread_ts", json_string(thread_ts));
		json_object_set_new(
			msg, "parent_user_id",
			json_string(js(parent, "user") ? js(parent, "user") : FS_BOT_USER));
	}
	stored = json_pack("{s:s, s:s, s:s?, s:[]}", "user", FS_BOT_USER, "text", text ? text : "",
			   "thread_ts", thread_ts, "reactions");
	if (meta) {
		json_object_set(msg, "metadata", meta);
		json_object_set_new(stored, "metadata", meta);
	}
	key = msg_key(ch, ts);
	json_object_set_new(fk->messages, key, stored);
	free(key);
	return json_pack("{s:b, s:s, s:s, s:o}", "ok", 1, "channel", ch, "ts", ts, "message", msg);
}

static json_t *m_update(struct fake *fk, json_t *args, const char *auth, struct api_out *o)
{
	const char *ch = js(args, "channel"), *ts = js(args, "ts"), *text = js(args, "text");
	json_t *m, *blocks, *msg;
	bool bad;
	char *key, ets[32];

	(void)auth;
	(void)o;
	if (!ch || (ch[0] != 'C' && ch[0] != 'G' && ch[0] != 'D'))
		return api_err("channel_not_found");
	if (!ts)
		return api_err("message_not_found");
	key = msg_key(ch, ts);
	m = json_object_get(fk->messages, key);
	free(key);
	if (!m)
		return api_err("message_not_found");
	if (strcmp(js(m, "user") ? js(m, "user") : "", FS_BOT_USER))
		return api_err("cant_update_message");
	blocks = arg_blocks(args, "blocks", &bad);
	if (bad)
		return api_err("invalid_blocks_format");
	if (!blocks && (!text || !*text) && !json_object_get(args, "attachments"))
		return api_err("no_text");
	if (text)
		json_object_set_new(m, "text", json_string(text));
	new_ts(fk, ets);
	msg = json_pack("{s:s, s:s, s:s, s:s, s:s}", "bot_id", FS_BOT_ID, "type", "message", "text",
			js(m, "text"), "user", FS_BOT_USER, "app_id", FS_APP_ID);
	if (blocks)
		json_object_set_new(msg, "blocks", blocks);
	json_object_set_new(msg, "team", json_string(FS_TEAM_ID));
	json_object_set_new(msg, "bot_profile", bot_profile());
	json_object_set_new(msg, "edited", json_pack("{s:s, s:s}", "user", FS_BOT_ID, "ts", ets));
	return json_pack("{s:b, s:s, s:s, s:s, s:o}", "ok", 1, "channel", ch, "ts", ts, "text",
			 js(m, "text"), "message", msg);
}

static json_t *m_post_ephemeral(struct fake *fk, json_t *args, const char *auth, struct api_out *o)
{
	const char *ch = js(args, "channel"), *user = js(args, "user"), *text = js(args, "text");
	const char *e;
	json_t *blocks;
	bool bad;
	char ts[32];

	(void)auth;
	(void)o;
	e = channel_error(fk, ch);
	if (e)
		return api_err(e);
	if (!user || (user[0] != 'U' && user[0] != 'W'))
		return api_err("user_not_found");
	blocks = arg_blocks(args, "blocks", &bad);
	json_decref(blocks);
	if (bad)
		return api_err("invalid_blocks_format");
	if (!blocks && (!text || !*text) && !json_object_get(args, "attachments"))
		return api_err("no_text");
	new_ts(fk, ts);
	return json_pack("{s:b, s:s}", "ok", 1, "message_ts", ts);
}

/* reactions.add / reactions.remove: the bot's own reaction. */
static json_t *reaction(struct fake *fk, json_t *args, bool add)
{
	const char *ch = js(args, "channel"), *ts = js(args, "timestamp"), *name = js(args, "name");
	json_t *m;

	if (!ch || (ch[0] != 'C' && ch[0] != 'G' && ch[0] != 'D'))
		return api_err("channel_not_found");
	if (!ts || !*ts)
		return api_err("no_item_specified");
	if (!name || !*name)
		return api_err("invalid_name");
	m = message_get(fk, ch, ts);
	if (!m)
		return api_err("message_not_found");
	if (reaction_change(m, name, FS_BOT_USER, add))
		return api_err(add ? "already_reacted" : "no_reaction");
	return json_pack("{s:b}", "ok", 1);
}

static json_t *m_reactions_add(struct fake *fk, json_t *args, const char *auth, struct api_out *o)
{
	(void)auth;
	(void)o;
	return reaction(fk, args, true);
}

static json_t *m_reactions_remove(struct fake *fk, json_t *args, const char *auth,
				  struct api_out *o)
{
	(void)auth;
	(void)o;
	return reaction(fk, args, false);
}

/* reactions.get: every user of every reaction (as if "full" were always
 * true); no "reactions" key when there are none, as Slack does. */
static json_t *m_reactions_get(struct fake *fk, json_t *args, const char *auth, struct api_out *o)
{
	const char *ch = js(args, "channel"), *ts = js(args, "timestamp");
	json_t *m, *msg, *rs;

	(void)auth;
	(void)o;
	if (!ts || !*ts)
		return api_err("no_item_specified");
	if (!ch || (ch[0] != 'C' && ch[0] != 'G' && ch[0] != 'D') ||
	    jbool(json_object_get(fk->channels, ch), "missing", false))
		return api_err("channel_not_found");
	m = message_get(fk, ch, ts);
	if (!m)
		return api_err("message_not_found");
	msg = json_pack("{s:s, s:s, s:s, s:s}", "type", "message", "user",
			js(m, "user") ? js(m, "user") : "", "text",
			js(m, "text") ? js(m, "text") : "", "ts", ts);
	if (!strcmp(js(msg, "user"), FS_BOT_USER)) {
		json_object_set_new(msg, "bot_id", json_string(FS_BOT_ID));
		json_object_set_new(msg, "app_id", json_string(FS_APP_ID));
	}
	if (js(m, "thread_ts"))
		json_object_set_new(msg, "thread_ts", json_string(js(m, "thread_ts")));
	rs = json_object_get(m, "reactions");
	if (json_array_size(rs))
		json_object_set_new(msg, "reactions", reactions_view(rs));
	return json_pack("{s:b, s:s, s:s, s:o}", "ok", 1, "type", "message", "channel", ch,
			 "message", msg);
}

/* A message ts read as a number: the integer digits without leading zeros
 * and the fraction digits without trailing zeros, so that "1.5", "01.50"
 * and "1.500000" are the same number. Anything after the digits is
 * ignored here (ts_valid() refuses it where it matters). */
struct ts_num {
	const char *ip, *fp;
	size_t il, fl;
};

static struct ts_num ts_parse(const char *s)
{
	struct ts_num n;

	while (*s == '0')
		s++;
	n.ip = s;
	n.il = strspn(s, "0123456789");
	s += n.il;
	n.fp = *s == '.' ? s + 1 : s;
	n.fl = *s == '.' ? strspn(n.fp, "0123456789") : 0;
	while (n.fl && n.fp[n.fl - 1] == '0')
		n.fl--;
	return n;
}

/* <0, 0, >0 as a is numerically below, equal to, above b. */
static int ts_cmp(const char *a, const char *b)
{
	struct ts_num x = ts_parse(a), y = ts_parse(b);
	int c;

	if (x.il != y.il)
		return x.il < y.il ? -1 : 1;
	c = memcmp(x.ip, y.ip, x.il);
	if (c)
		return c;
	c = memcmp(x.fp, y.fp, x.fl < y.fl ? x.fl : y.fl);
	if (c)
		return c;
	return x.fl < y.fl ? -1 : x.fl > y.fl;
}

/* "SECONDS[.FRACTION]", digits only. */
static bool ts_valid(const char *s)
{
	size_t n = strspn(s, "0123456789");

	if (!n)
		return false;
	if (s[n] == '.')
		n += 1 + strspn(s + n + 1, "0123456789");
	return s[n] == '\0';
}

struct thread_msg {
	const char *ts;
	json_t *m;
};

/* Numeric order, then the strings themselves (a total order). */
static int thread_msg_cmp(const void *pa, const void *pb)
{
	const struct thread_msg *a = pa, *b = pb;
	int c = ts_cmp(a->ts, b->ts);

	return c ? c : strcmp(a->ts, b->ts);
}

/* One message of a conversations.replies or conversations.history answer;
 * its metadata only when with_meta (include_all_metadata). */
static json_t *thread_msg_view(const char *ts, const json_t *m, const char *thread_ts,
			       size_t reply_count, bool with_meta)
{
	const char *user = js(m, "user") ? js(m, "user") : "";
	json_t *v = json_pack("{s:s, s:s, s:s, s:s}", "type", "message", "user", user, "text",
			      js(m, "text") ? js(m, "text") : "", "ts", ts);

	if (thread_ts)
		json_object_set_new(v, "thread_ts", json_string(thread_ts));
	if (reply_count)
		json_object_set_new(v, "reply_count", json_integer((json_int_t)reply_count));
	if (!strcmp(user, FS_BOT_USER))
		json_object_set_new(v, "bot_id", json_string(FS_BOT_ID));
	if (with_meta && json_object_get(m, "metadata"))
		json_object_set(v, "metadata", json_object_get(m, "metadata"));
	return v;
}

/* A cursor of conversations.replies/history: base64 of "next_ts:TS", TS
 * the first message of the next page. Returns 0 with *ts set to a new
 * string (NULL when there is no cursor), or -1 when it does not decode. */
static int cursor_decode(const char *cursor, char **ts)
{
	size_t blen;
	char *buf;
	int len;

	*ts = NULL;
	if (!cursor || !*cursor)
		return 0;
	blen = strlen(cursor) + 1;
	buf = malloc(blen);
	len = buf ? lws_b64_decode_string(cursor, buf, (int)blen) : -1;
	if (len <= 8 || (size_t)len >= blen || strncmp(buf, "next_ts:", 8)) {
		free(buf);
		return -1;
	}
	buf[len] = '\0';
	*ts = strdup(buf + 8);
	free(buf);
	return *ts ? 0 : -1;
}

/* Adds "response_metadata":{"next_cursor":…} naming ts to the answer r. */
static void cursor_set(json_t *r, const char *ts)
{
	char *want = rb_asprintf("next_ts:%s", ts);
	size_t blen = strlen(want) * 4 / 3 + 8;
	char *buf = malloc(blen);

	if (buf && lws_b64_encode_string(want, (int)strlen(want), buf, (int)blen) > 0)
		json_object_set_new(r, "response_metadata", json_pack("{s:s}", "next_cursor", buf));
	free(buf);
	free(want);
}

/* The limit argument: dflt when absent, below 1 or not a number; at most
 * 1000. */
static long long arg_limit(const json_t *args, long long dflt)
{
	long long limit = dflt;

	if (json_object_get(args, "limit") && (jint(args, "limit", &limit) || limit < 1))
		limit = dflt;
	return limit > 1000 ? 1000 : limit;
}

/* The index of the message whose ts is want in list (n entries), or n. */
static size_t thread_msg_find(const struct thread_msg *list, size_t n, const char *want)
{
	size_t i;

	for (i = 0; i < n && strcmp(list[i].ts, want); i++)
		;
	return i;
}

/* Whether ts lies within oldest/latest (NULL: unbounded). */
static bool ts_in_bounds(const char *ts, const char *oldest, const char *latest, bool inclusive)
{
	if (oldest && ts_cmp(ts, oldest) < (inclusive ? 0 : 1))
		return false;
	if (latest && ts_cmp(ts, latest) > (inclusive ? 0 : -1))
		return false;
	return true;
}

/* conversations.replies: the thread of the message (channel, ts) — the
 * parent, then the replies in ts order — within oldest/latest, limit at a
 * time. The cursor is base64 of "next_ts:TS", TS the first message of the
 * next page. */
static json_t *m_conversations_replies(struct fake *fk, json_t *args, const char *auth,
				       struct api_out *o)
{
	const char *ch = js(args, "channel"), *ts = js(args, "ts");
	const char *oldest = js(args, "oldest"), *latest = js(args, "latest");
	const char *thread_ts, *key, *mts;
	bool inclusive = jbool(args, "inclusive", false);
	bool with_meta = jbool(args, "include_all_metadata", false);
	struct thread_msg *list = NULL, *nl;
	size_t n = 0, cap = 0, replies = 0, first = 0, start = 0, end, i, chlen;
	long long limit;
	json_t *m, *parent, *msgs, *r;
	char *want = NULL;

	(void)auth;
	(void)o;
	if (!ch || (ch[0] != 'C' && ch[0] != 'G' && ch[0] != 'D') ||
	    jbool(json_object_get(fk->channels, ch), "missing", false))
		return api_err("channel_not_found");
	if (!ts || !*ts)
		return api_err("invalid_arguments");
	if (oldest && *oldest && !ts_valid(oldest))
		return api_err("invalid_ts_oldest");
	if (latest && *latest && !ts_valid(latest))
		return api_err("invalid_ts_latest");
	if (oldest && !*oldest)
		oldest = NULL;
	if (latest && !*latest)
		latest = NULL;
	limit = arg_limit(args, 1000);
	if (cursor_decode(js(args, "cursor"), &want))
		return api_err("invalid_cursor");
	m = message_get(fk, ch, ts);
	if (!m) {
		free(want);
		return api_err("thread_not_found");
	}
	thread_ts = js(m, "thread_ts") && *js(m, "thread_ts") ? js(m, "thread_ts") : ts;
	parent = message_get(fk, ch, thread_ts);

	/* list[0] is the parent when it is known, whatever the bounds: Slack
	 * puts the thread's parent first even when oldest/latest leave it
	 * out; then the replies within bounds (messages of this channel whose
	 * thread_ts is the thread's, other than the parent itself), in ts
	 * order. */
	cap = 16;
	list = malloc(cap * sizeof *list);
	if (!list) {
		free(want);
		return api_err("internal_error");
	}
	if (parent) {
		list[n].ts = thread_ts;
		list[n++].m = parent;
		first = 1;
	}
	chlen = strlen(ch);
	json_object_foreach (fk->messages, key, m) {
		if (strncmp(key, ch, chlen) || key[chlen] != '/')
			continue;
		mts = key + chlen + 1;
		if (!js(m, "thread_ts") || strcmp(js(m, "thread_ts"), thread_ts) ||
		    !strcmp(mts, thread_ts))
			continue;
		replies++;
		if (!ts_in_bounds(mts, oldest, latest, inclusive))
			continue;
		if (n == cap) {
			nl = realloc(list, 2 * cap * sizeof *list);
			if (!nl)
				continue;
			list = nl;
			cap *= 2;
		}
		list[n].ts = mts;
		list[n++].m = m;
	}
	qsort(list + first, n - first, sizeof *list, thread_msg_cmp);

	if (want) {
		start = thread_msg_find(list, n, want);
		free(want);
		if (start == n) {
			free(list);
			return api_err("invalid_cursor");
		}
	}
	msgs = json_array();
	for (i = end = start; i < n && i - start < (size_t)limit; i = ++end)
		json_array_append_new(msgs,
				      thread_msg_view(list[i].ts, list[i].m,
						      i || replies ? thread_ts : NULL,
						      i == 0 && first ? replies : 0, with_meta));
	r = json_pack("{s:b, s:o, s:b}", "ok", 1, "messages", msgs, "has_more", end < n);
	if (end < n)
		cursor_set(r, list[end].ts);
	free(list);
	return r;
}

/* Newest first (the reverse of thread_msg_cmp). */
static int history_msg_cmp(const void *pa, const void *pb)
{
	return thread_msg_cmp(pb, pa);
}

/* conversations.history: the channel's top-level messages (no thread_ts,
 * or thread_ts equal to their own ts), newest first, within oldest/latest,
 * limit at a time, with the cursor of conversations.replies. A parent
 * carries thread_ts and reply_count as in conversations.replies. */
static json_t *m_conversations_history(struct fake *fk, json_t *args, const char *auth,
				       struct api_out *o)
{
	const char *ch = js(args, "channel");
	const char *oldest = js(args, "oldest"), *latest = js(args, "latest");
	const char *key, *mts, *tts;
	bool inclusive = jbool(args, "inclusive", false);
	bool with_meta = jbool(args, "include_all_metadata", false);
	struct thread_msg *list = NULL, *nl;
	size_t n = 0, cap = 16, start = 0, end, i, chlen, replies;
	long long limit;
	json_t *m, *counts, *msgs, *r;
	char *want = NULL;

	(void)auth;
	(void)o;
	if (!ch || (ch[0] != 'C' && ch[0] != 'G' && ch[0] != 'D') ||
	    jbool(json_object_get(fk->channels, ch), "missing", false))
		return api_err("channel_not_found");
	if (oldest && *oldest && !ts_valid(oldest))
		return api_err("invalid_ts_oldest");
	if (latest && *latest && !ts_valid(latest))
		return api_err("invalid_ts_latest");
	if (oldest && !*oldest)
		oldest = NULL;
	if (latest && !*latest)
		latest = NULL;
	limit = arg_limit(args, 100);
	if (cursor_decode(js(args, "cursor"), &want))
		return api_err("invalid_cursor");
	list = malloc(cap * sizeof *list);
	counts = json_object(); /* thread_ts → number of replies */
	if (!list || !counts) {
		free(list);
		json_decref(counts);
		free(want);
		return api_err("internal_error");
	}

	/* One pass: the top-level messages within bounds, and the replies
	 * counted by thread. */
	chlen = strlen(ch);
	json_object_foreach (fk->messages, key, m) {
		if (strncmp(key, ch, chlen) || key[chlen] != '/')
			continue;
		mts = key + chlen + 1;
		tts = js(m, "thread_ts");
		if (tts && *tts && strcmp(tts, mts)) {
			json_object_set_new(
				counts, tts,
				json_integer(json_integer_value(json_object_get(counts, tts)) + 1));
			continue;
		}
		if (!ts_in_bounds(mts, oldest, latest, inclusive))
			continue;
		if (n == cap) {
			nl = realloc(list, 2 * cap * sizeof *list);
			if (!nl)
				continue;
			list = nl;
			cap *= 2;
		}
		list[n].ts = mts;
		list[n++].m = m;
	}
	qsort(list, n, sizeof *list, history_msg_cmp);

	if (want) {
		start = thread_msg_find(list, n, want);
		free(want);
		if (start == n) {
			free(list);
			json_decref(counts);
			return api_err("invalid_cursor");
		}
	}
	msgs = json_array();
	for (i = end = start; i < n && i - start < (size_t)limit; i = ++end) {
		replies = (size_t)json_integer_value(json_object_get(counts, list[i].ts));
		json_array_append_new(msgs, thread_msg_view(list[i].ts, list[i].m,
							    replies ? list[i].ts : NULL, replies,
							    with_meta));
	}
	r = json_pack("{s:b, s:o, s:b, s:i}", "ok", 1, "messages", msgs, "has_more", end < n,
		      "pin_count", 0);
	if (end < n)
		cursor_set(r, list[end].ts);
	free(list);
	json_decref(counts);
	return r;
}

/* usergroups.users.list: the members set with POST /_fake/usergroup. */
static json_t *m_usergroup_users(struct fake *fk, json_t *args, const char *auth, struct api_out *o)
{
	const char *id = js(args, "usergroup");
	json_t *users;

	(void)auth;
	(void)o;
	if (!id || !*id)
		return api_err("invalid_arguments");
	users = json_object_get(fk->usergroups, id);
	if (!users)
		return api_err("no_such_subteam");
	return json_pack("{s:b, s:O}", "ok", 1, "users", users);
}

/* Profile fields a /_fake/user override may set; others go top-level. */
static bool profile_key(const char *k)
{
	static const char *const keys[] = { "display_name", "real_name",   "email",
					    "title",	    "status_text", "status_emoji",
					    "first_name",   "last_name",   "phone" };
	size_t i;

	for (i = 0; i < RB_ARRAY_LEN(keys); i++)
		if (!strcmp(k, keys[i]))
			return true;
	return false;
}

static json_t *m_users_info(struct fake *fk, json_t *args, const char *auth, struct api_out *o)
{
	const char *id = js(args, "user");
	json_t *ov, *user, *profile, *v;
	const char *k;
	char *low;

	(void)auth;
	(void)o;
	if (!id || (id[0] != 'U' && id[0] != 'W' && id[0] != 'B'))
		return api_err("user_not_found");
	ov = json_object_get(fk->users, id);
	if (jbool(ov, "missing", false))
		return api_err("user_not_found");
	low = lower_dup(id);
	profile = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}", "title", "", "phone", "",
			    "real_name", low, "real_name_normalized", low, "display_name", low,
			    "display_name_normalized", low, "status_text", "", "team", FS_TEAM_ID);
	user = json_pack("{s:s, s:s, s:s, s:b, s:s, s:s, s:s, s:i, s:o, s:b, s:b, s:b, s:b, "
			 "s:b, s:i}",
			 "id", id, "team_id", FS_TEAM_ID, "name", low, "deleted", 0, "real_name",
			 low, "tz", "Europe/Berlin", "tz_label", "Central European Summer Time",
			 "tz_offset", 7200, "profile", profile, "is_admin", 0, "is_owner", 0,
			 "is_bot", !strcmp(id, FS_BOT_USER), "is_restricted", 0,
			 "is_ultra_restricted", 0, "updated", 1779000000);
	free(low);
	json_object_foreach (ov, k, v) {
		if (!strcmp(k, "missing"))
			continue; /* a real for loop: continue is safe here */
		if (!strcmp(k, "profile") && json_is_object(v))
			json_object_update(profile, v);
		else if (profile_key(k))
			json_object_set(profile, k, v);
		if (!strcmp(k, "real_name") || (!profile_key(k) && strcmp(k, "profile")))
			json_object_set(user, k, v);
	}
	if (js(profile, "display_name"))
		json_object_set_new(profile, "display_name_normalized",
				    json_string(js(profile, "display_name")));
	return json_pack("{s:b, s:o}", "ok", 1, "user", user);
}

static json_t *m_conversations_info(struct fake *fk, json_t *args, const char *auth,
				    struct api_out *o)
{
	const char *id = js(args, "channel");
	json_t *ov, *ch;

	(void)auth;
	(void)o;
	if (!id || (id[0] != 'C' && id[0] != 'G' && id[0] != 'D'))
		return api_err("channel_not_found");
	ov = json_object_get(fk->channels, id);
	if (jbool(ov, "missing", false))
		return api_err("channel_not_found");
	ch = json_pack("{s:s, s:s, s:b, s:b, s:b, s:b, s:b, s:i, s:b, s:b, s:s, s:b, s:s, s:b, "
		       "s:s, s:{s:s, s:s, s:i}, s:{s:s, s:s, s:i}}",
		       "id", id, "name", FS_CHANNEL_NAME, "is_channel", id[0] == 'C', "is_group",
		       id[0] == 'G', "is_im", id[0] == 'D', "is_mpim", 0, "is_private",
		       id[0] != 'C', "created", 1690000000, "is_archived", 0, "is_general", 0,
		       "name_normalized", FS_CHANNEL_NAME, "is_shared", 0, "context_team_id",
		       FS_TEAM_ID, "is_member", 1, "creator", FS_DEFAULT_USER, "topic", "value",
		       "Sev1/Sev2 incidents only", "creator", FS_DEFAULT_USER, "last_set",
		       1690000100, "purpose", "value", "Where incidents are declared and run",
		       "creator", FS_DEFAULT_USER, "last_set", 1690000000);
	if (json_is_object(ov)) {
		json_object_update(ch, ov);
		json_object_del(ch, "missing");
		if (js(ov, "name"))
			json_object_set_new(ch, "name_normalized", json_string(js(ov, "name")));
	}
	return json_pack("{s:b, s:o}", "ok", 1, "channel", ch);
}

static json_t *m_get_upload_url(struct fake *fk, json_t *args, const char *auth, struct api_out *o)
{
	const char *fname = js(args, "filename");
	long long length;
	char id[16];
	char *url;
	json_t *r;

	(void)auth;
	if (o->is_json || !fname || !*fname || jint(args, "length", &length) || length < 0)
		return api_err("invalid_arguments");
	snprintf(id, sizeof id, "F07FAKE%04u", ++fk->file_seq);
	json_object_set_new(fk->files, id,
			    json_pack("{s:s, s:I, s:n, s:b}", "filename", fname, "length",
				      (json_int_t)length, "bytes", "completed", 0));
	url = rb_asprintf("%s://127.0.0.1:%d%s/upload/v1/%s", fk->scheme, fk->port, o->prefix, id);
	r = json_pack("{s:b, s:s, s:s}", "ok", 1, "upload_url", url, "file_id", id);
	free(url);
	return r;
}

static json_t *m_complete_upload(struct fake *fk, json_t *args, const char *auth, struct api_out *o)
{
	json_t *files = json_object_get(args, "files"), *parsed = NULL, *out, *f, *rec;
	size_t i;
	const char *id, *title;

	(void)auth;
	(void)o;
	if (json_is_string(files))
		files = parsed = json_loads(json_string_value(files), 0, NULL);
	if (!json_is_array(files) || !json_array_size(files)) {
		json_decref(parsed);
		return api_err("invalid_arguments");
	}
	out = json_array();
	json_array_foreach (files, i, f) {
		id = js(f, "id");
		rec = id ? json_object_get(fk->files, id) : NULL;
		if (!rec) {
			json_decref(out);
			json_decref(parsed);
			return api_err(id ? "file_not_found" : "invalid_arguments");
		}
		title = js(f, "title") ? js(f, "title") : js(rec, "filename");
		json_object_set_new(rec, "completed", json_true());
		json_object_set(rec, "channel_id", json_object_get(args, "channel_id"));
		json_object_set(rec, "thread_ts", json_object_get(args, "thread_ts"));
		json_array_append_new(out, json_pack("{s:s, s:s, s:s, s:O}", "id", id, "title",
						     title, "name", js(rec, "filename"), "size",
						     json_object_get(rec, "bytes")));
	}
	json_decref(parsed);
	return json_pack("{s:b, s:o}", "ok", 1, "files", out);
}

typedef json_t *(*api_fn)(struct fake *fk, json_t *args, const char *auth, struct api_out *o);

static const struct api_method {
	const char *name;
	api_fn fn;
	const char *token; /* kind of token the method wants */
} api_methods[] = {
	{ "apps.connections.open", m_connections_open, "xapp" },
	{ "auth.test", m_auth_test, "xoxb" },
	{ "chat.postMessage", m_post_message, "xoxb" },
	{ "chat.update", m_update, "xoxb" },
	{ "chat.postEphemeral", m_post_ephemeral, "xoxb" },
	{ "reactions.add", m_reactions_add, "xoxb" },
	{ "reactions.remove", m_reactions_remove, "xoxb" },
	{ "reactions.get", m_reactions_get, "xoxb" },
	{ "usergroups.users.list", m_usergroup_users, "xoxb" },
	{ "users.info", m_users_info, "xoxb" },
	{ "conversations.info", m_conversations_info, "xoxb" },
	{ "conversations.replies", m_conversations_replies, "xoxb" },
	{ "conversations.history", m_conversations_history, "xoxb" },
	{ "files.getUploadURLExternal", m_get_upload_url, "xoxb" },
	{ "files.completeUploadExternal", m_complete_upload, "xoxb" },
};

/* Takes the first failure rule matching method (decrementing its count);
 * returns true and a copy in *hit, or false. */
static bool fail_take(struct fake *fk, const char *method, struct fail_rule *hit)
{
	struct fail_rule **pp, *r;

	for (pp = &fk->fails; (r = *pp) != NULL; pp = &r->next) {
		if (r->method[0] && strcmp(r->method, method))
			continue;
		*hit = *r;
		hit->next = NULL;
		if (r->count > 0 && --r->count == 0) {
			*pp = r->next;
			free(r);
		}
		return true;
	}
	return false;
}

/* The answer a failure rule imposes, or NULL when it only delays. */
static json_t *fail_answer(const struct fail_rule *r, int *status, int *retry_after)
{
	if (!r->error[0] && (!r->status || r->status == 200))
		return NULL;
	*status = r->status ? r->status : 200;
	if (*status == 429) {
		*retry_after = r->retry_after > 0 ? r->retry_after : 1;
		return api_err(r->error[0] ? r->error : "ratelimited");
	}
	if (*status >= 500)
		return api_err(r->error[0] ? r->error : "internal_error");
	return api_err(r->error[0] ? r->error : "fatal_error");
}

static bool ctype_is(const char *ctype, const char *want)
{
	return !strncasecmp(ctype, want, strlen(want));
}

/* Answers POST|GET /api/<method>. Returns the delay in ms before the
 * answer may be written. */
static int api_call(struct fake *fk, struct http_req *rq, const char *method)
{
	struct api_out o = { 200, -1, false, "" };
	json_t *args = json_object(), *body = NULL, *resp = NULL;
	const char *auth = rq->auth, *warning = NULL;
	bool charset = strcasestr(rq->ctype, "charset") != NULL;
	struct fail_rule hit;
	int delay = 0;
	size_t i;

	o.is_json = ctype_is(rq->ctype, "application/json");
	if (rq->replica)
		snprintf(o.prefix, sizeof o.prefix, "/r/%d", rq->replica);
	json_object_update(args, rq->query);
	json_object_del(args, "token"); /* never accepted in the query string */
	if (rq->body.len) {
		if (o.is_json) {
			body = json_loadb(rq->body.data, rq->body.len, 0, NULL);
			if (!body)
				resp = api_err("invalid_json");
			else if (!json_is_object(body))
				resp = api_err("json_not_object");
			if (!charset)
				warning = "missing_charset";
		} else {
			body = json_object();
			if (form_parse(body, rq->body.data, rq->body.len))
				resp = api_err("invalid_form_data");
			if (!strcmp(auth, "none") && js(body, "token"))
				auth = token_kind(js(body, "token"));
			if (charset)
				warning = "superfluous_charset";
		}
		if (json_is_object(body)) {
			json_object_del(body, "token"); /* a JSON token does not count */
			json_object_update(args, body);
		}
		json_decref(body);
	}
	if (!strcmp(method, "apps.connections.open"))
		fk->connections_opened++;
	if (fail_take(fk, method, &hit)) {
		delay = hit.delay_ms;
		if (!resp)
			resp = fail_answer(&hit, &o.status, &o.retry_after);
	}
	if (!resp) {
		int wait_s = method_rate_limited(fk, method);

		if (wait_s > 0) {
			o.status = 429;
			o.retry_after = wait_s;
			resp = api_err("ratelimited");
		}
	}
	for (i = 0; !resp && i < RB_ARRAY_LEN(api_methods); i++) {
		const char *e;

		if (strcmp(api_methods[i].name, method))
			continue;
		e = auth_error(auth, api_methods[i].token);
		if (e)
			resp = api_err(e);
		else
			resp = api_methods[i].fn(fk, args, auth, &o);
	}
	if (!resp)
		resp = api_err("unknown_method");
	if (warning && o.status == 200) {
		json_object_set_new(resp, "warning", json_string(warning));
		if (json_is_object(json_object_get(resp, "response_metadata")))
			json_object_set_new(json_object_get(resp, "response_metadata"), "warnings",
					    json_pack("[s]", warning));
		else
			json_object_set_new(resp, "response_metadata",
					    json_pack("{s:[s]}", "warnings", warning));
	}
	record_call(fk, rq, method, auth, args, o.status, resp, NULL);
	answer_json(rq, o.status, o.retry_after, resp);
	return delay;
}

/* ---------------------------------------------------------------------- */
/* Uploads and response_urls                                              */

/* Finds the file part of a multipart/form-data body: the first part with a
 * filename=, else the first part. Returns 0 and the part's bytes. */
static int multipart_part(const char *ctype, const char *body, size_t len, const char **out,
			  size_t *outlen, char *fname, size_t fnlen)
{
	const char *b = strcasestr(ctype, "boundary="), *p, *end = body + len;
	char delim[256];
	size_t dl, bl;
	const char *first = NULL;
	size_t first_len = 0;

	fname[0] = '\0';
	if (!b)
		return -1;
	b += 9;
	if (*b == '"')
		b++;
	bl = strcspn(b, "\";");
	if (!bl || bl + 5 > sizeof delim)
		return -1;
	snprintf(delim, sizeof delim, "\r\n--%.*s", (int)bl, b);
	dl = strlen(delim);
	/* The first delimiter may sit at the very start, without the CRLF. */
	if (len >= dl - 2 && !memcmp(body, delim + 2, dl - 2)) {
		p = body + dl - 2;
	} else {
		p = memmem(body, len, delim, dl);
		if (!p)
			return -1;
		p += dl;
	}
	while (p < end) {
		const char *hdr_end, *next, *fn;
		size_t hl;

		if (end - p >= 2 && p[0] == '-' && p[1] == '-')
			break; /* closing delimiter */
		if (end - p >= 2 && p[0] == '\r' && p[1] == '\n')
			p += 2;
		hdr_end = memmem(p, (size_t)(end - p), "\r\n\r\n", 4);
		if (!hdr_end)
			return -1;
		next = memmem(hdr_end + 4, (size_t)(end - hdr_end - 4), delim, dl);
		if (!next)
			next = end;
		hl = (size_t)(hdr_end - p);
		fn = memmem(p, hl, "filename=\"", 10);
		if (fn) {
			const char *q = fn + 10, *qe = memchr(q, '"', (size_t)(hdr_end - q));
			if (qe)
				snprintf(fname, fnlen, "%.*s", (int)(qe - q), q);
			*out = hdr_end + 4;
			*outlen = (size_t)(next - *out);
			return 0;
		}
		if (!first) {
			first = hdr_end + 4;
			first_len = (size_t)(next - first);
		}
		p = next + dl;
	}
	if (!first)
		return -1;
	*out = first;
	*outlen = first_len;
	return 0;
}

static const char *b64 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static char *base64(const unsigned char *p, size_t n)
{
	char *o = rb_malloc((n + 2) / 3 * 4 + 1), *q = o;
	size_t i;

	for (i = 0; i + 2 < n; i += 3) {
		*q++ = b64[p[i] >> 2];
		*q++ = b64[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
		*q++ = b64[((p[i + 1] & 15) << 2) | (p[i + 2] >> 6)];
		*q++ = b64[p[i + 2] & 63];
	}
	if (i < n) {
		*q++ = b64[p[i] >> 2];
		if (i + 1 < n) {
			*q++ = b64[((p[i] & 3) << 4) | (p[i + 1] >> 4)];
			*q++ = b64[(p[i + 1] & 15) << 2];
		} else {
			*q++ = b64[(p[i] & 3) << 4];
			*q++ = '=';
		}
		*q++ = '=';
	}
	*q = '\0';
	return o;
}

/* POST /upload/v1/<file_id>: the bytes of a file announced by
 * files.getUploadURLExternal. Returns the delay in ms. */
static int upload_call(struct fake *fk, struct http_req *rq)
{
	const char *id = rq->path + strlen("/upload/v1/");
	json_t *file = json_object_get(fk->files, id), *args, *bodyj, *resp = NULL;
	const char *data = rq->body.data ? rq->body.data : "";
	size_t n = rq->body.len;
	char fname[256] = "", *text;
	long long expected = -1;
	struct fail_rule hit;
	int delay = 0, status = 200, ra = -1;

	if (ctype_is(rq->ctype, "multipart/form-data") &&
	    multipart_part(rq->ctype, data, n, &data, &n, fname, sizeof fname))
		status = 400;
	args = json_object();
	json_object_set_new(args, "file_id", wire_str(id));
	json_object_set_new(args, "bytes", json_integer((json_int_t)n));
	bodyj = json_stringn(data, n);
	if (bodyj) {
		json_object_set_new(args, "body", bodyj);
	} else {
		char *enc = base64((const unsigned char *)data, n);
		json_object_set_new(args, "body", json_null());
		json_object_set_new(args, "body_base64", json_string(enc));
		free(enc);
	}
	if (fname[0])
		json_object_set_new(args, "filename", json_string(fname));
	if (file) {
		jint(file, "length", &expected);
		json_object_set_new(args, "length_expected", json_integer(expected));
		json_object_set_new(args, "length_mismatch",
				    json_boolean(expected != (long long)n));
	}
	if (fail_take(fk, "upload", &hit)) {
		delay = hit.delay_ms;
		resp = fail_answer(&hit, &status, &ra);
	}
	if (resp) {
		text = json_dumps(resp, FS_JSON_FLAGS);
		rq->resp_ctype = FS_JSON_CT;
	} else if (status == 400) {
		resp = json_string("bad multipart body");
		text = rb_strdup("bad multipart body");
		rq->resp_ctype = "text/plain; charset=utf-8";
	} else if (!file) {
		status = 404;
		resp = json_string("file_not_found");
		text = rb_strdup("file_not_found");
		rq->resp_ctype = "text/plain; charset=utf-8";
	} else {
		json_object_set_new(file, "bytes", json_integer((json_int_t)n));
		text = rb_asprintf("OK - %zu", n);
		resp = json_string(text);
		rq->resp_ctype = "text/plain; charset=utf-8";
	}
	record_call(fk, rq, "upload", rq->auth, args, status, resp, rq->path);
	json_decref(resp);
	rq->status = status;
	rq->retry_after = ra;
	rq->resp = text;
	rq->resp_len = strlen(text);
	return delay;
}

/* POST /commands/<anything>: a slash command's response_url. */
static int response_url_call(struct fake *fk, struct http_req *rq)
{
	json_t *args = NULL, *resp = NULL, *uses;
	struct fail_rule hit;
	int delay = 0, status = 200, ra = -1;
	long long n = 0;

	if (rq->body.len)
		args = json_loadb(rq->body.data, rq->body.len, 0, NULL);
	if (!json_is_object(args)) {
		json_decref(args);
		args = json_object();
		if (rq->body.len) {
			json_t *raw = json_stringn(rq->body.data, rq->body.len);
			json_object_set_new(args, "raw", raw ? raw : json_null());
		}
		resp = api_err("invalid_payload");
	}
	if (fail_take(fk, "response_url", &hit)) {
		delay = hit.delay_ms;
		if (!resp)
			resp = fail_answer(&hit, &status, &ra);
	}
	if (!resp) {
		uses = json_object_get(fk->response_urls, rq->path);
		n = uses ? json_integer_value(uses) : 0;
		json_object_set_new(fk->response_urls, rq->path, json_integer(n + 1));
		resp = n >= FS_RESPONSE_URL_USES ? api_err("used_too_many_times") :
						   json_pack("{s:b}", "ok", 1);
	}
	record_call(fk, rq, "response_url", rq->auth, args, status, resp, rq->path);
	answer_json(rq, status, ra, resp);
	return delay;
}

/* ---------------------------------------------------------------------- */
/* The feature-flag service (`flag` rollback method)                      */

/* Stores a flag's state from a JSON body: POST /flags {"flag":NAME,…} or
 * POST /flags/NAME {…}. The fields are merged into what is stored (so
 * fields seeded with /_fake/flags stay); "enabled" must be a boolean and
 * "percentage" a number from 0 to 100 when given. body is borrowed (NULL:
 * no body or not JSON). Returns the answer (new reference) and sets
 * *status. */
static json_t *flag_set(struct fake *fk, const char *name, const json_t *body, int *status)
{
	const char *given = js(body, "flag");
	json_t *v, *cur, *copy;

	if (!json_is_object(body)) {
		*status = 400;
		return api_err("invalid_json");
	}
	if (*name && given && strcmp(given, name)) {
		*status = 400;
		return api_err("flag_mismatch");
	}
	if (!*name)
		name = given ? given : "";
	if (!*name || (json_object_get(body, "flag") && !given)) {
		*status = 400;
		return api_err("missing_flag");
	}
	v = json_object_get(body, "enabled");
	if (v && !json_is_boolean(v)) {
		*status = 400;
		return api_err("invalid_enabled");
	}
	v = json_object_get(body, "percentage");
	if (v && (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 100)) {
		*status = 400;
		return api_err("invalid_percentage");
	}
	cur = json_object_get(fk->flags, name);
	if (!cur) {
		cur = json_object();
		json_object_set_new(fk->flags, name, cur);
	}
	copy = json_deep_copy(body);
	json_object_update(cur, copy);
	json_decref(copy);
	json_object_set_new(cur, "flag", wire_str(name));
	return json_pack("{s:b}", "ok", 1);
}

/* GET /flags/NAME: the stored state, or 404; GET /flags: all of them.
 * Returns a new reference and sets *status. */
static json_t *flag_get(struct fake *fk, const char *name, int *status)
{
	json_t *list, *v;
	const char *k;

	if (!*name) {
		list = json_array();
		json_object_foreach (fk->flags, k, v)
			json_array_append(list, v);
		return json_pack("{s:b, s:o}", "ok", 1, "flags", list);
	}
	v = json_object_get(fk->flags, name);
	if (!v) {
		*status = 404;
		return api_err("flag_not_found");
	}
	return json_deep_copy(v);
}

/* /flags and /flags/NAME, GET or POST: the flag service the `flag` method
 * talks to. Recorded as method "flags" with args {"method","path",
 * "body"[,"body_raw"][,"query"]}; /_fake/fail rules for "flags" apply.
 * Returns the delay in ms before the answer may be written. */
static int flags_call(struct fake *fk, struct http_req *rq)
{
	const char *name = rq->path[6] == '/' ? rq->path + 7 : "";
	json_t *args = json_object(), *body = NULL, *resp = NULL;
	struct fail_rule hit;
	int delay = 0, status = 200, ra = -1;

	json_object_set_new(args, "method", json_string(rq->is_post ? "POST" : "GET"));
	json_object_set_new(args, "path", wire_str(rq->path));
	if (json_object_size(rq->query))
		json_object_set(args, "query", rq->query);
	if (rq->body.len) {
		body = json_loadb(rq->body.data, rq->body.len, JSON_DECODE_ANY, NULL);
		if (!body) {
			json_t *raw = json_stringn(rq->body.data, rq->body.len);

			json_object_set_new(args, "body_raw", raw ? raw : json_null());
		}
	}
	json_object_set_new(args, "body", body ? json_incref(body) : json_null());
	if (fail_take(fk, "flags", &hit)) {
		delay = hit.delay_ms;
		resp = fail_answer(&hit, &status, &ra);
	}
	if (!resp)
		resp = rq->is_post ? flag_set(fk, name, body, &status) :
				     flag_get(fk, name, &status);
	json_decref(body);
	record_call(fk, rq, "flags", rq->auth, args, status, resp, rq->path);
	answer_json(rq, status, ra, resp);
	return delay;
}

/* ---------------------------------------------------------------------- */
/* Fake PagerDuty (Events API v2)                                         */

/* POST /pagerduty/v2/enqueue plays https://events.pagerduty.com/v2/enqueue.
 * Recorded as method "pagerduty.enqueue" with the event as args (or
 * {"body_raw":…} when it is not JSON); /_fake/fail rules for
 * "pagerduty.enqueue" apply. Answers as PagerDuty documents: 202
 * {"status":"success","message":"Event processed","dedup_key":…}, or 400
 * {"status":"invalid event","message":"Event object is invalid","errors":[…]}. */

/* Why PagerDuty would refuse the event, or NULL. */
static const char *pd_invalid(json_t *ev)
{
	const char *action = json_string_value(json_object_get(ev, "event_action"));
	json_t *payload = json_object_get(ev, "payload");
	const char *sev;

	if (!json_is_object(ev))
		return "Event object is not a JSON object";
	if (!json_string_length(json_object_get(ev, "routing_key")))
		return "'routing_key' is missing or blank";
	if (!action)
		return "'event_action' is missing or blank";
	if (strcmp(action, "trigger") && strcmp(action, "acknowledge") && strcmp(action, "resolve"))
		return "'event_action' is invalid (must be one of: trigger, acknowledge, resolve)";
	if (strcmp(action, "trigger"))
		return json_string_length(json_object_get(ev, "dedup_key")) ?
			       NULL :
			       "'dedup_key' is missing or blank";
	if (!json_is_object(payload))
		return "'payload' is missing or not an object";
	if (!json_string_length(json_object_get(payload, "summary")))
		return "'payload.summary' is missing or blank";
	if (!json_string_length(json_object_get(payload, "source")))
		return "'payload.source' is missing or blank";
	sev = json_string_value(json_object_get(payload, "severity"));
	if (!sev || (strcmp(sev, "critical") && strcmp(sev, "error") && strcmp(sev, "warning") &&
		     strcmp(sev, "info")))
		return "'payload.severity' is invalid (must be one of: critical, error, warning, info)";
	return NULL;
}

/* Returns the delay in ms before the answer may be written. */
static int pagerduty_call(struct fake *fk, struct http_req *rq)
{
	json_t *ev = NULL, *args, *resp = NULL;
	struct fail_rule hit;
	int delay = 0, status = 202, ra = -1;

	if (rq->body.len)
		ev = json_loadb(rq->body.data, rq->body.len, JSON_DECODE_ANY, NULL);
	if (ev) {
		args = json_incref(ev);
	} else {
		json_t *raw = json_stringn(rq->body.data, rq->body.len);

		args = json_pack("{s:o}", "body_raw", raw ? raw : json_null());
	}
	if (fail_take(fk, "pagerduty.enqueue", &hit)) {
		delay = hit.delay_ms;
		resp = fail_answer(&hit, &status, &ra);
	}
	if (!resp) {
		const char *why = pd_invalid(ev);

		if (why) {
			status = 400;
			resp = json_pack("{s:s, s:s, s:[s]}", "status", "invalid event", "message",
					 "Event object is invalid", "errors", why);
		} else {
			json_t *dk = json_object_get(ev, "dedup_key");
			char gen[40];

			snprintf(gen, sizeof gen, "fakepd%010lld", (long long)fk->call_seq);
			resp = json_pack("{s:s, s:s, s:s}", "status", "success", "message",
					 "Event processed", "dedup_key",
					 json_string_length(dk) ? json_string_value(dk) : gen);
		}
	}
	json_decref(ev);
	record_call(fk, rq, "pagerduty.enqueue", rq->auth, args, status, resp, rq->path);
	answer_json(rq, status, ra, resp);
	return delay;
}

/* ---------------------------------------------------------------------- */
/* The probe service (what the verification steps ask)                    */

/* GET /svc/NAME/health and /svc/NAME/version play a service; GET or POST
 * /prom/api/v1/query plays Prometheus. Both answer from scripts the tests
 * set with /_fake/svc and /_fake/prom, and every request is recorded like
 * the flag service's ("svc.health", "svc.version", "prom.query", with
 * "response":{"status":N,"body":…}). */

/* /svc/NAME/health or /svc/NAME/version, NAME not empty. */
static bool svc_path(const char *path)
{
	const char *ep = strrchr(path, '/');

	return !strncmp(path, "/svc/", 5) && ep > path + 5 &&
	       (!strcmp(ep, "/health") || !strcmp(ep, "/version"));
}

/* The next entry of a script {"<list>":[…],"next":N}: each request takes
 * one and the last repeats. Borrowed (a JSON null entry is not NULL);
 * NULL when there is no script. */
static json_t *script_next(json_t *script, const char *list)
{
	json_t *l = json_object_get(script, list);
	json_int_t n = json_integer_value(json_object_get(script, "next"));
	size_t size = json_array_size(l);

	if (!size)
		return NULL;
	if (n < 0 || (size_t)n >= size)
		n = (json_int_t)size - 1;
	if ((size_t)n + 1 < size)
		json_object_set_new(script, "next", json_integer(n + 1));
	return json_array_get(l, (size_t)n);
}

/* JSON when the text parses as JSON, else plain text. */
static const char *text_ctype(const char *text)
{
	json_t *j = json_loads(text, JSON_DECODE_ANY, NULL);

	json_decref(j);
	return j ? FS_JSON_CT : "text/plain; charset=utf-8";
}

/* Records a probe request and sets the answer: text (stolen) with status.
 * args is stolen; body_json (borrowed, may be NULL) is the body for the
 * record when it is JSON. */
static void probe_answer(struct fake *fk, struct http_req *rq, const char *method, json_t *args,
			 int status, char *text, json_t *body_json)
{
	json_t *resp = json_pack("{s:i, s:O}", "status", status, "body",
				 body_json ? body_json : json_null());

	if (!body_json)
		json_object_set_new(resp, "body", wire_str(text));
	record_call(fk, rq, method, rq->auth, args, status, resp, rq->path);
	json_decref(resp);
	rq->status = status;
	rq->resp = text;
	rq->resp_len = strlen(text);
	rq->resp_ctype = text_ctype(text);
}

/* GET /svc/NAME/health|version. Returns the delay in ms before the answer
 * may be written: the script entry's delay_ms, or a failure rule's. */
static int svc_call(struct fake *fk, struct http_req *rq)
{
	const char *key = rq->path + strlen("/svc/"), *ep = strrchr(rq->path, '/') + 1;
	bool health = !strcmp(ep, "health");
	char *method = rb_asprintf("svc.%s", ep), *name = rb_strndup(key, (size_t)(ep - 1 - key));
	char *text;
	json_t *args = json_object(), *fail = NULL, *r;
	struct fail_rule hit;
	int delay = 0, status = health ? 200 : 404;

	json_object_set_new(args, "method", json_string(rq->is_post ? "POST" : "GET"));
	json_object_set_new(args, "path", wire_str(rq->path));
	json_object_set_new(args, "name", wire_str(name));
	json_object_set_new(args, "endpoint", json_string(ep));
	if (json_object_size(rq->query))
		json_object_set(args, "query", rq->query);
	free(name);
	if (fail_take(fk, method, &hit)) {
		delay = hit.delay_ms;
		fail = fail_answer(&hit, &status, &rq->retry_after);
	}
	r = fail ? NULL : script_next(json_object_get(fk->svc, key), "responses");
	if (fail) {
		text = json_dumps(fail, FS_JSON_FLAGS);
		json_decref(fail);
	} else if (r) {
		status = (int)json_integer_value(json_object_get(r, "status"));
		text = rb_strdup(js(r, "body") ? js(r, "body") : "");
		if (delay <= 0)
			delay = (int)json_integer_value(json_object_get(r, "delay_ms"));
	} else {
		text = rb_strdup(health ? "ok\n" : "not configured\n");
	}
	probe_answer(fk, rq, method, args, status, text, NULL);
	free(method);
	return delay;
}

/* Prometheus's instant-query answer: an empty vector when value is NULL,
 * else one sample stamped now, in seconds with 3 decimals as Prometheus
 * writes them (jansson would print a double's 17 digits). New string. */
static char *prom_vector(const char *value)
{
	int64_t ms = clock_us(CLOCK_REALTIME) / 1000;
	json_t *v;
	char *vs, *out;

	if (!value)
		return rb_strdup("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","
				 "\"result\":[]}}");
	v = json_string(value);
	vs = json_dumps(v, JSON_ENCODE_ANY | FS_JSON_FLAGS);
	json_decref(v);
	RB_ASSERT(vs);
	out = rb_asprintf("{\"status\":\"success\",\"data\":{\"resultType\":\"vector\","
			  "\"result\":[{\"metric\":{},\"value\":[%" PRId64 ".%03" PRId64 ",%s]}]}}",
			  ms / 1000, ms % 1000, vs);
	free(vs);
	return out;
}

/* GET /prom/api/v1/query?query=Q, or POST with the form body query=Q (the
 * body wins, as in Prometheus). Returns the delay in ms (failure rules). */
static int prom_call(struct fake *fk, struct http_req *rq)
{
	json_t *args = json_object(), *form = json_object(), *answer = NULL, *v;
	const char *q;
	char *text;
	struct fail_rule hit;
	int delay = 0, status = 200;

	json_object_set_new(args, "method", json_string(rq->is_post ? "POST" : "GET"));
	if (rq->body.len && form_parse(form, rq->body.data, rq->body.len))
		note("prom: a form field that is not UTF-8 was ignored");
	q = js(form, "query") ? js(form, "query") : js(rq->query, "query");
	if (q)
		json_object_set_new(args, "query", json_string(q));
	if (fail_take(fk, "prom.query", &hit)) {
		delay = hit.delay_ms;
		answer = fail_answer(&hit, &status, &rq->retry_after);
	}
	if (!answer && (!q || !*q)) {
		status = 400;
		answer = json_pack("{s:s, s:s, s:s}", "status", "error", "errorType", "bad_data",
				   "error", "query parameter is required");
	}
	if (answer) {
		text = json_dumps(answer, FS_JSON_FLAGS);
	} else {
		v = script_next(json_object_get(fk->prom, q), "values");
		text = prom_vector(json_is_string(v) ? json_string_value(v) : NULL);
		answer = json_loads(text, 0, NULL);
	}
	json_decref(form);
	probe_answer(fk, rq, "prom.query", args, status, text, answer);
	json_decref(answer);
	return delay;
}

/* GET /svc/NAME/metrics: the exporter's text (tests/fake_metrics.c). Not
 * recorded: Prometheus scrapes it every second, the bot never does, and
 * /_fake/metrics counts the scrapes. */
static void metrics_call(struct fake *fk, struct http_req *rq)
{
	rq->status = 200;
	rq->resp = fm_scrape(fk->metrics, rq->path, mono_us());
	rq->resp_len = strlen(rq->resp);
	rq->resp_ctype = FM_CONTENT_TYPE;
}

/* ---------------------------------------------------------------------- */
/* Control API                                                            */

/* Each control handler answers with a new JSON object and an HTTP status
 * (200, or 400 with {"ok":false,"error":…}). */
static json_t *ctl_bad(int *status, const char *error)
{
	*status = 400;
	return api_err(error);
}

static json_t *ctl_envelope(struct fake *fk, json_t *body, int *status)
{
	json_t *envs = json_array(), *ids, *list = json_object_get(body, "envelopes");
	json_t *batch = json_object_get(body, "slash_batch"), *e, *r;
	long long count = 1, sock = 0, interval_us = 0, first = 1, replica = 0, pad_to = 0;
	const char *wire = js(body, "wire");
	char err[160];
	size_t i;

	jint(body, "socket", &sock);
	jint(body, "pad_to", &pad_to);
	if (json_object_get(body, "replica") && !json_is_null(json_object_get(body, "replica")) &&
	    (jint(body, "replica", &replica) || replica < 1 || replica > FS_REPLICA_MAX)) {
		json_decref(envs);
		return ctl_bad(status, "replica must be a number from 1 to 9");
	}
	if (replica && sock) {
		json_decref(envs);
		return ctl_bad(status, "socket and replica cannot go together");
	}
	if (json_is_array(list)) {
		json_array_foreach (list, i, e) {
			r = json_is_object(e) ? envelope_from_request(fk, e, err, sizeof err) :
						NULL;
			if (!r) {
				json_decref(envs);
				return ctl_bad(status, json_is_object(e) ? err : "bad envelope");
			}
			json_array_append_new(envs, r);
		}
	} else if (json_is_object(batch)) {
		if (!js(batch, "text") && !js(batch, "slash")) {
			json_decref(envs);
			return ctl_bad(status, "slash_batch needs text");
		}
		jint(batch, "count", &count);
		jint(batch, "interval_us", &interval_us);
		if (interval_us < 0 || interval_us > 10000000) {
			json_decref(envs);
			return ctl_bad(status, "slash_batch interval_us must be 0-10000000");
		}
		if (count < 1 || count > FS_BATCH_MAX) {
			json_decref(envs);
			return ctl_bad(status, "slash_batch count must be 1-100000");
		}
		jint(batch, "first", &first);
		for (i = 0; i < (size_t)count; i++) {
			json_t *one = json_deep_copy(batch);
			const char *t = js(batch, "slash") ? js(batch, "slash") : js(batch, "text");
			const char *at = strstr(t, "{n}");
			/* "{n}" becomes first + i, zero-padded to 4 digits, so that a
			 * batch can name as many services as it sends commands. */
			if (at) {
				char *x = rb_asprintf("%.*s%04lld%s", (int)(at - t), t,
						      first + (long long)i, at + 3);
				json_object_set_new(one, "slash", json_string(x));
				free(x);
			} else if (!js(one, "slash")) {
				json_object_set(one, "slash", json_object_get(batch, "text"));
			}
			json_array_append_new(envs, build_slash(fk, one));
			json_decref(one);
		}
	} else {
		r = envelope_from_request(fk, body, err, sizeof err);
		if (!r) {
			json_decref(envs);
			return ctl_bad(status, err);
		}
		json_array_append_new(envs, r);
	}
	if ((wire || pad_to) && (json_is_array(list) || json_is_object(batch))) {
		json_decref(envs);
		return ctl_bad(status, "wire and pad_to go with a single envelope");
	}
	if (pad_to < 0 || pad_to > FS_PAD_MAX) {
		json_decref(envs);
		return ctl_bad(status, "pad_to must be 0-4194304");
	}
	ids = json_array();
	json_array_foreach (envs, i, e) {
		struct delivery *d;

		reaction_event_apply(fk, e); /* now that the whole batch is valid */
		d = delivery_new(fk, json_incref(e));
		d->target = (int)replica;
		if (wire || pad_to)
			delivery_rewire(d, wire, (size_t)pad_to);
		json_array_append_new(ids, json_string(d->id));
		if (interval_us > 0 && i > 0) {
			/* Paced: a steady rate, as the benchmark's latency phase wants. */
			d->state = D_WAITING;
			lws_sul_schedule(fk->ctx, 0, &d->sul, release_cb,
					 (lws_usec_t)interval_us * (lws_usec_t)i);
			continue;
		}
		submit(fk, d, (int)sock);
	}
	json_decref(envs);
	replica = replica ? replica : fk->route_replica;
	note("envelopes queued=%zu replica=%lld (sockets eligible now: %s)", json_array_size(ids),
	     replica, any_eligible(fk, (int)replica) ? "yes" : "no");
	if (json_is_array(list) || json_is_object(batch))
		return json_pack("{s:b, s:I, s:o}", "ok", 1, "count",
				 (json_int_t)json_array_size(ids), "envelope_ids", ids);
	r = json_pack("{s:b, s:O}", "ok", 1, "envelope_id", json_array_get(ids, 0));
	json_decref(ids);
	return r;
}

static json_t *ctl_calls(struct fake *fk, json_t *query)
{
	long long since = 0, status = 0;
	const char *method = js(query, "method");
	json_t *out = json_array(), *c;
	size_t i;

	jint(query, "since", &since);
	jint(query, "status", &status);
	json_array_foreach (fk->calls, i, c) {
		if (json_integer_value(json_object_get(c, "seq")) <= since)
			continue;
		if (method && strcmp(method, js(c, "method") ? js(c, "method") : ""))
			continue;
		if (status && json_integer_value(json_object_get(c, "status")) != status)
			continue;
		json_array_append(out, c);
	}
	return json_pack("{s:b, s:o, s:I}", "ok", 1, "calls", out, "last_seq",
			 (json_int_t)fk->call_seq);
}

static json_t *ctl_acks(struct fake *fk)
{
	json_t *unacked = json_array(), *queued = json_array();

	lws_start_foreach_dll (struct lws_dll2 *, p, lws_dll2_get_head(&fk->deliveries)) {
		struct delivery *d = lws_container_of(p, struct delivery, node);
		if (d->state == D_QUEUED || d->state == D_WAITING)
			json_array_append_new(queued, json_string(d->id));
		else if (!d->acked_us)
			json_array_append_new(unacked, json_string(d->id));
	}
	lws_end_foreach_dll(p);
	return json_pack("{s:b, s:O, s:o, s:O, s:O, s:O, s:o}", "ok", 1, "acks", fk->acks,
			 "unacked", unacked, "operation_timeouts", fk->op_timeouts, "exhausted",
			 fk->exhausted, "protocol_errors", fk->protocol_errors, "queued", queued);
}

/* {"replica": K or null}: where envelopes without a replica of their own go. */
static json_t *route_json(const struct fake *fk)
{
	return json_pack("{s:o}", "replica", replica_json(fk->route_replica));
}

static json_t *ctl_state(struct fake *fk)
{
	json_t *socks = json_array(), *reps = json_object();
	unsigned open = 0, open_by[FS_REPLICA_MAX + 1] = { 0 };
	char key[16];

	lws_start_foreach_dll (struct lws_dll2 *, p, lws_dll2_get_head(&fk->conns)) {
		struct sm_conn *c = lws_container_of(p, struct sm_conn, node);
		open++;
		open_by[c->replica]++;
		json_array_append_new(
			socks,
			json_pack(
				"{s:i, s:o, s:b, s:b, s:b, s:b, s:b, s:b, s:I, s:i, s:i, s:i, s:I}",
				"id", c->id, "replica", replica_json(c->replica), "hello",
				c->hello_sent, "refused", c->refused, "draining", c->draining,
				"silenced", c->silenced, "debug_reconnects", c->debug_reconnects,
				"tls", c->tls, "queued", (json_int_t)c->out.n, "pings",
				(int)c->pings, "pongs", (int)c->pongs, "frames_in",
				(int)c->frames_in, "opened_us", (json_int_t)c->opened_us));
	}
	lws_end_foreach_dll(p);
	/* Per replica that has a socket open, has been sent a hello or has
	 * envelopes waiting for it. */
	for (int k = 1; k <= FS_REPLICA_MAX; k++) {
		if (!open_by[k] && !fk->hello_by_replica[k] && !fk->pending[k].n)
			continue;
		snprintf(key, sizeof key, "%d", k);
		json_object_set_new(reps, key,
				    json_pack("{s:i, s:i, s:i}", "sockets_open", (int)open_by[k],
					      "hello_sent", (int)fk->hello_by_replica[k], "queued",
					      (int)fk->pending[k].n));
	}
	return json_pack("{s:b, s:b, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:o, s:o, s:o}",
			 "ok", 1, "tls", fk->tls, "sockets_open", (int)open, "sockets_total",
			 (int)fk->sockets_total, "hello_sent", (int)fk->hello_count,
			 "connections_opened", (int)fk->connections_opened, "tickets_issued",
			 (int)fk->tickets_issued, "queued", (int)fk->unsent, "max_open_at_once",
			 (int)fk->max_open, "upgrades_refused", (int)fk->upgrades_refused, "calls",
			 (int)fk->call_seq, "route", route_json(fk), "replicas", reps, "sockets",
			 socks);
}

/* POST /_fake/route {"replica":K}: from now on every envelope sent without
 * a replica or socket of its own goes to replica K's sockets (waiting while
 * K has none); {"replica":null}: round-robin over every socket again. */
static json_t *ctl_route(struct fake *fk, json_t *body, int *status)
{
	json_t *v = json_object_get(body, "replica");
	long long k = 0;

	if (!v || (!json_is_null(v) && (!json_is_integer(v) || jint(body, "replica", &k) || k < 1 ||
					k > FS_REPLICA_MAX)))
		return ctl_bad(status, "need replica: a number from 1 to 9, or null");
	fk->route_replica = (int)k;
	note("route replica=%d", fk->route_replica);
	route(fk);
	return json_pack("{s:b, s:o, s:i}", "ok", 1, "route", route_json(fk), "queued",
			 (int)fk->unsent);
}

/* The sockets a control call aims at: "socket":N, or every open one. */
static int target_sockets(struct fake *fk, json_t *body, struct sm_conn **out, int max)
{
	long long want = 0;
	int n = 0;

	long long replica = 0;

	jint(body, "socket", &want);
	jint(body, "replica", &replica);
	lws_start_foreach_dll (struct lws_dll2 *, p, lws_dll2_get_head(&fk->conns)) {
		struct sm_conn *c = lws_container_of(p, struct sm_conn, node);
		if (n < max && !c->dropped && !c->closing && (!want || c->id == want) &&
		    (!replica || c->replica == replica))
			out[n++] = c;
	}
	lws_end_foreach_dll(p);
	return n;
}

static json_t *ctl_disconnect(struct fake *fk, json_t *body, int *status)
{
	const char *reason = js(body, "reason") ? js(body, "reason") : "refresh_requested";
	enum close_mode mode;
	long long ms = fk->cfg.close_after_ms;
	struct sm_conn *cs[64];
	json_t *ids = json_array();
	int i, n;

	if (close_mode_parse(js(body, "close"), &mode)) {
		json_decref(ids);
		return ctl_bad(status, "close must be frame, drop or none");
	}
	jint(body, "close_after_ms", &ms);
	n = target_sockets(fk, body, cs, 64);
	for (i = 0; i < n; i++) {
		if (cs[i]->refused)
			continue;
		json_array_append_new(ids, json_integer(cs[i]->id));
		conn_disconnect(cs[i], reason, mode, (int)ms);
	}
	return json_pack("{s:b, s:o}", "ok", 1, "sockets", ids);
}

static json_t *ctl_drop(struct fake *fk, json_t *body)
{
	struct sm_conn *cs[64];
	json_t *ids = json_array();
	int i, n = target_sockets(fk, body, cs, 64);

	for (i = 0; i < n; i++) {
		json_array_append_new(ids, json_integer(cs[i]->id));
		conn_drop(cs[i]);
	}
	return json_pack("{s:b, s:o}", "ok", 1, "sockets", ids);
}

static json_t *ctl_silence(struct fake *fk, json_t *body, int *status)
{
	struct sm_conn *cs[64];
	json_t *ids, *on = json_object_get(body, "on");
	int i, n;

	if (!json_is_boolean(on))
		return ctl_bad(status, "need on: true or false");
	ids = json_array();
	n = target_sockets(fk, body, cs, 64);
	for (i = 0; i < n; i++) {
		json_array_append_new(ids, json_integer(cs[i]->id));
		conn_silence(cs[i], json_is_true(on));
	}
	return json_pack("{s:b, s:o}", "ok", 1, "sockets", ids);
}

static void fails_clear(struct fake *fk)
{
	while (fk->fails) {
		struct fail_rule *r = fk->fails;
		fk->fails = r->next;
		free(r);
	}
}

static json_t *ctl_fail(struct fake *fk, json_t *body, int *status)
{
	struct fail_rule *r, **pp;
	long long v;
	int n = 0;

	if (jbool(body, "clear", false)) {
		fails_clear(fk);
		return json_pack("{s:b, s:i}", "ok", 1, "rules", 0);
	}
	r = rb_calloc(1, sizeof *r);
	r->count = 1;
	if (js(body, "method"))
		rb_strlcpy(r->method, js(body, "method"), sizeof r->method);
	if (js(body, "error"))
		rb_strlcpy(r->error, js(body, "error"), sizeof r->error);
	if (!jint(body, "status", &v))
		r->status = (int)v;
	if (!jint(body, "retry_after", &v))
		r->retry_after = (int)v;
	if (!jint(body, "count", &v))
		r->count = (int)v;
	if (!jint(body, "delay_ms", &v))
		r->delay_ms = (int)v;
	if ((!r->error[0] && (!r->status || r->status == 200) && r->delay_ms <= 0) ||
	    r->count == 0 || (r->status && (r->status < 200 || r->status > 599))) {
		free(r);
		return ctl_bad(status, "need status (200-599), error or delay_ms, and count != 0");
	}
	for (pp = &fk->fails; *pp; pp = &(*pp)->next)
		n++;
	*pp = r;
	return json_pack("{s:b, s:i}", "ok", 1, "rules", n + 1);
}

static json_t *cfg_json(const struct fake_cfg *c)
{
	return json_pack("{s:i, s:[i, i, i], s:i, s:b, s:s?, s:i, s:i, s:i, s:i, s:i, s:i, s:s, "
			 "s:i, s:i, s:b, s:i}",
			 "retry_after_ms", c->retry_after_ms, "retry_delays_ms",
			 c->retry_delays_ms[0], c->retry_delays_ms[1], c->retry_delays_ms[2],
			 "slash_timeout_ms", c->slash_timeout_ms, "hello", c->hello,
			 "disconnect_before_hello", c->dbh_reason[0] ? c->dbh_reason : NULL,
			 "disconnect_before_hello_count", c->dbh_count, "close_after_ms",
			 c->close_after_ms, "max_sockets", c->max_sockets, "lifetime_ms",
			 c->lifetime_ms, "debug_lifetime_ms", c->debug_lifetime_ms, "warning_ms",
			 c->warning_ms, "refresh_close", close_mode_name(c->refresh_close),
			 "post_rate_per_s", c->post_rate_per_s, "post_burst", c->post_burst,
			 "method_tiers", c->method_tiers, "ping_ms", c->ping_ms);
}

/* Applies the config keys in body to a copy, and only if all are valid. */
static json_t *ctl_config(struct fake *fk, json_t *body, int *status)
{
	struct fake_cfg c = fk->cfg;
	const char *k;
	json_t *v;
	long long n;
	char err[128];

	json_object_foreach (body, k, v) {
		int *ip = NULL;
		long long lo = 0;

		if (!strcmp(k, "hello")) {
			if (!json_is_boolean(v))
				return ctl_bad(status, "hello must be true or false");
			c.hello = json_is_true(v);
			continue;
		}
		if (!strcmp(k, "method_tiers")) {
			if (!json_is_boolean(v))
				return ctl_bad(status, "method_tiers must be true or false");
			c.method_tiers = json_is_true(v);
			continue;
		}
		if (!strcmp(k, "disconnect_before_hello")) {
			if (json_is_null(v) || (json_is_string(v) && !*json_string_value(v)))
				c.dbh_reason[0] = '\0';
			else if (json_is_string(v))
				rb_strlcpy(c.dbh_reason, json_string_value(v), sizeof c.dbh_reason);
			else
				return ctl_bad(status, "disconnect_before_hello must be a string");
			if (!json_object_get(body, "disconnect_before_hello_count"))
				c.dbh_count = -1;
			continue;
		}
		if (!strcmp(k, "refresh_close")) {
			if (close_mode_parse(json_string_value(v), &c.refresh_close) ||
			    !json_is_string(v))
				return ctl_bad(status, "refresh_close must be frame, drop or none");
			continue;
		}
		if (!strcmp(k, "retry_delays_ms")) {
			size_t i;
			json_t *x;

			if (!json_is_array(v) || json_array_size(v) != FS_RETRIES)
				return ctl_bad(status, "retry_delays_ms must be 3 integers");
			json_array_foreach (v, i, x) {
				if (!json_is_integer(x) || json_integer_value(x) < 0)
					return ctl_bad(status,
						       "retry_delays_ms must be 3 integers");
				c.retry_delays_ms[i] = (int)json_integer_value(x);
			}
			continue;
		}
		if (!strcmp(k, "retry_after_ms"))
			ip = &c.retry_after_ms;
		else if (!strcmp(k, "slash_timeout_ms"))
			ip = &c.slash_timeout_ms;
		else if (!strcmp(k, "disconnect_before_hello_count"))
			ip = &c.dbh_count, lo = -1;
		else if (!strcmp(k, "close_after_ms"))
			ip = &c.close_after_ms;
		else if (!strcmp(k, "max_sockets"))
			ip = &c.max_sockets, lo = 1;
		else if (!strcmp(k, "lifetime_ms"))
			ip = &c.lifetime_ms;
		else if (!strcmp(k, "debug_lifetime_ms"))
			ip = &c.debug_lifetime_ms;
		else if (!strcmp(k, "warning_ms"))
			ip = &c.warning_ms;
		else if (!strcmp(k, "post_rate_per_s"))
			ip = &c.post_rate_per_s;
		else if (!strcmp(k, "post_burst"))
			ip = &c.post_burst, lo = 1;
		else if (!strcmp(k, "ping_ms"))
			ip = &c.ping_ms, lo = 10;
		if (!ip) {
			snprintf(err, sizeof err, "unknown config key: %s", k);
			return ctl_bad(status, err);
		}
		if (jint(body, k, &n) || n < lo || n > 86400000) {
			snprintf(err, sizeof err, "%s must be an integer >= %lld", k, lo);
			return ctl_bad(status, err);
		}
		*ip = (int)n;
	}
	fk->cfg = c;
	return json_pack("{s:b, s:o}", "ok", 1, "config", cfg_json(&fk->cfg));
}

/* Forgets recorded calls, acks, envelopes not sent yet and the counters
 * of /_fake/state (open sockets stay open); with "all":true also Slack's
 * memory (messages, files, users, channels, user groups), the flag
 * service's flags, the probe service's scripts, failure rules and config. */
static json_t *ctl_reset(struct fake *fk, json_t *body)
{
	bool all = jbool(body, "all", false);
	struct frame *f;

	json_array_clear(fk->calls);
	fk->call_seq = 0;
	json_array_clear(fk->acks);
	json_array_clear(fk->op_timeouts);
	json_array_clear(fk->exhausted);
	json_array_clear(fk->protocol_errors);
	fk->sockets_total = fk->hello_count = fk->connections_opened = 0;
	memset(fk->hello_by_replica, 0, sizeof fk->hello_by_replica);
	fk->tickets_issued = fk->upgrades_refused = 0;
	fk->max_open = count_live(fk);
	/* Envelopes not written yet are forgotten too, wherever they wait. */
	lws_start_foreach_dll (struct lws_dll2 *, p, lws_dll2_get_head(&fk->conns)) {
		struct sm_conn *c = lws_container_of(p, struct sm_conn, node);
		reclaim_envelopes(fk, c);
	}
	lws_end_foreach_dll(p);
	for (int q = 0; q <= FS_REPLICA_MAX; q++)
		while ((f = fq_pop(&fk->pending[q])) != NULL)
			frame_free(f);
	fk->unsent = 0;
	while (lws_dll2_get_head(&fk->deliveries))
		delivery_free(lws_container_of(lws_dll2_get_head(&fk->deliveries), struct delivery,
					       node));
	if (all) {
		int ping = fk->cfg.ping_ms;

		fails_clear(fk);
		fk->cfg = fk->cfg_default;
		fk->cfg.ping_ms = ping;
		fk->route_replica = 0;
		json_object_clear(fk->messages);
		json_object_clear(fk->reaction_ts);
		json_object_clear(fk->users);
		json_object_clear(fk->channels);
		json_object_clear(fk->files);
		json_object_clear(fk->response_urls);
		json_object_clear(fk->buckets);
		json_object_clear(fk->flags);
		json_object_clear(fk->usergroups);
		json_object_clear(fk->svc);
		json_object_clear(fk->prom);
		fm_reset(fk->metrics);
	}
	note("reset%s", all ? " all" : "");
	return json_pack("{s:b}", "ok", 1);
}

/* POST /_fake/user and /_fake/channel: overrides keyed by "id". */
static json_t *ctl_override(json_t *table, json_t *body, int *status)
{
	const char *id = js(body, "id");
	json_t *cur, *copy;

	if (!id || !*id)
		return ctl_bad(status, "need id");
	cur = json_object_get(table, id);
	if (!cur) {
		cur = json_object();
		json_object_set_new(table, id, cur);
	}
	copy = json_deep_copy(body);
	json_object_del(copy, "id");
	json_object_update(cur, copy);
	json_decref(copy);
	return json_pack("{s:b}", "ok", 1);
}

/* GET /_fake/flags: the flag service's state, unrecorded. POST: set one
 * flag's fields as if the service had always had them ({"flag":NAME,…}),
 * delete one ({"flag":NAME,"delete":true}) or all ({"clear":true}). */
static json_t *ctl_flags(struct fake *fk, json_t *body, bool is_post, int *status)
{
	const char *name = js(body, "flag");
	json_t *cur, *copy;

	if (is_post && jbool(body, "clear", false)) {
		json_object_clear(fk->flags);
	} else if (is_post) {
		if (!name || !*name)
			return ctl_bad(status, "need flag (a name)");
		if (jbool(body, "delete", false)) {
			json_object_del(fk->flags, name);
		} else {
			cur = json_object_get(fk->flags, name);
			if (!cur) {
				cur = json_object();
				json_object_set_new(fk->flags, name, cur);
			}
			copy = json_deep_copy(body);
			json_object_del(copy, "delete");
			json_object_del(copy, "clear");
			json_object_update(cur, copy);
			json_decref(copy);
		}
	}
	return json_pack("{s:b, s:O}", "ok", 1, "flags", fk->flags);
}

/* POST /_fake/react: a reaction Slack never delivered (the bot was down):
 * the message's reactions change as for the envelope shorthand, but no
 * envelope goes out. */
static json_t *ctl_react(struct fake *fk, json_t *body, int *status)
{
	const char *ch = js(body, "channel") ? js(body, "channel") : FS_CHANNEL;
	const char *ts = js(body, "ts"), *user = js(body, "user"), *name = js(body, "reaction");
	bool add = !jbool(body, "removed", false);
	json_t *m;
	int rc;

	if (!ts || !*ts || !user || !*user || !name || !*name)
		return ctl_bad(status, "invalid_arguments");
	m = message_get(fk, ch, ts);
	if (!m) {
		*status = 404;
		return api_err("message_not_found");
	}
	rc = reaction_change(m, name, user, add);
	note("react %s %s %s on %s/%s%s", user, add ? "added" : "removed", name, ch, ts,
	     rc ? " (no change)" : "");
	return json_pack("{s:b, s:b, s:o}", "ok", 1, "changed", rc == 0, "reactions",
			 reactions_view(json_object_get(m, "reactions")));
}

/* POST /_fake/usergroup {"id":"S…","users":[…]}: replaces the members
 * usergroups.users.list answers with; {"id":…,"delete":true} forgets it. */
static json_t *ctl_usergroup(struct fake *fk, json_t *body, int *status)
{
	const char *id = js(body, "id");
	json_t *users = json_object_get(body, "users"), *u;
	size_t i;

	if (!id || !*id)
		return ctl_bad(status, "need id (S…)");
	if (jbool(body, "delete", false)) {
		json_object_del(fk->usergroups, id);
		return json_pack("{s:b}", "ok", 1);
	}
	if (!json_is_array(users))
		return ctl_bad(status, "users must be an array of user IDs");
	json_array_foreach (users, i, u) {
		if (!json_is_string(u))
			return ctl_bad(status, "users must be an array of user IDs");
	}
	json_object_set_new(fk->usergroups, id, json_deep_copy(users));
	return json_pack("{s:b}", "ok", 1);
}

/* One scripted probe answer as stored: {"status","body","delay_ms"}, with
 * a body that is not a string kept as its JSON text. NULL when bad. */
static json_t *svc_entry(const json_t *e)
{
	json_t *b = json_object_get(e, "body");
	long long st = 200, delay = 0;
	char *text;
	json_t *out;

	if (!json_is_object(e))
		return NULL;
	if (json_object_get(e, "status") && (jint(e, "status", &st) || st < 100 || st > 599))
		return NULL;
	if (json_object_get(e, "delay_ms") &&
	    (jint(e, "delay_ms", &delay) || delay < 0 || delay > 600000))
		return NULL;
	if (!b || json_is_string(b))
		text = rb_strdup(b ? json_string_value(b) : "");
	else
		text = json_dumps(b, JSON_ENCODE_ANY | FS_JSON_FLAGS);
	out = json_pack("{s:i, s:s, s:i}", "status", (int)st, "body", text, "delay_ms", (int)delay);
	free(text);
	return out;
}

/* POST /_fake/svc {"name":N,"endpoint":"health"|"version","responses":[…]}:
 * the answers /svc/N/<endpoint> gives, in order, the last one repeating;
 * "responses":[] goes back to the default. Replaces any earlier script. */
static json_t *ctl_svc(struct fake *fk, json_t *body, int *status)
{
	const char *name = js(body, "name"), *ep = js(body, "endpoint");
	json_t *list = json_object_get(body, "responses"), *out, *e, *one;
	char *key;
	size_t i;

	if (!name || !*name || !ep || (strcmp(ep, "health") && strcmp(ep, "version")))
		return ctl_bad(status, "need name and endpoint (health or version)");
	if (!json_is_array(list))
		return ctl_bad(status, "responses must be an array");
	out = json_array();
	json_array_foreach (list, i, e) {
		one = svc_entry(e);
		if (!one) {
			json_decref(out);
			return ctl_bad(status, "each response: {\"status\":100-599,\"body\":…,"
					       "\"delay_ms\":0-600000}");
		}
		json_array_append_new(out, one);
	}
	key = rb_asprintf("%s/%s", name, ep);
	json_object_del(fk->svc, key);
	if (json_array_size(out))
		json_object_set_new(fk->svc, key,
				    json_pack("{s:o, s:i}", "responses", out, "next", 0));
	else
		json_decref(out);
	free(key);
	return json_pack("{s:b}", "ok", 1);
}

/* POST /_fake/prom {"query":Q,"values":["0.06",null,…]}: the samples the
 * instant query Q answers with, in order, the last repeating (null: an
 * empty vector; a number is kept as its text). "values":[] forgets Q. */
static json_t *ctl_prom(struct fake *fk, json_t *body, int *status)
{
	const char *q = js(body, "query");
	json_t *list = json_object_get(body, "values"), *out, *v;
	size_t i;

	if (!q || !*q)
		return ctl_bad(status, "need query");
	if (!json_is_array(list))
		return ctl_bad(status, "values must be an array");
	out = json_array();
	json_array_foreach (list, i, v) {
		if (json_is_string(v) || json_is_null(v)) {
			json_array_append(out, v);
		} else if (json_is_number(v)) {
			char *t = json_dumps(v, JSON_ENCODE_ANY | JSON_REAL_PRECISION(15));
			json_array_append_new(out, json_string(t));
			free(t);
		} else {
			json_decref(out);
			return ctl_bad(status, "values: strings, numbers or null");
		}
	}
	json_object_del(fk->prom, q);
	if (json_array_size(out))
		json_object_set_new(fk->prom, q, json_pack("{s:o, s:i}", "values", out, "next", 0));
	else
		json_decref(out);
	return json_pack("{s:b}", "ok", 1);
}

/* POST /_fake/raw: any text or binary frame, for fault injection. */
static json_t *ctl_raw(struct fake *fk, json_t *body, int *status)
{
	const char *text = js(body, "text"), *bin = js(body, "binary");
	struct sm_conn *cs[64];
	json_t *ids;
	int i, n;

	if (!text && !bin)
		return ctl_bad(status, "need text or binary");
	ids = json_array();
	n = target_sockets(fk, body, cs, 64);
	for (i = 0; i < n; i++) {
		const char *s = text ? text : bin;
		if (cs[i]->refused)
			continue;
		fq_push(&cs[i]->out, frame_data(s, strlen(s), text ? FR_TEXT : FR_BINARY, AF_NONE));
		lws_callback_on_writable(cs[i]->wsi);
		json_array_append_new(ids, json_integer(cs[i]->id));
	}
	return json_pack("{s:b, s:o}", "ok", 1, "sockets", ids);
}

static void control_call(struct fake *fk, struct http_req *rq)
{
	const char *name = rq->path + strlen("/_fake/");
	json_t *body = NULL, *resp;
	int status = 200;

	if (rq->body.len) {
		json_error_t e;
		body = json_loadb(rq->body.data, rq->body.len, 0, &e);
		if (!json_is_object(body)) {
			json_decref(body);
			body = NULL;
			resp = ctl_bad(&status, "body must be a JSON object");
			goto out;
		}
	} else {
		body = json_object();
	}
	if (!strcmp(name, "calls"))
		resp = ctl_calls(fk, rq->query);
	else if (!strcmp(name, "acks"))
		resp = ctl_acks(fk);
	else if (!strcmp(name, "state"))
		resp = ctl_state(fk);
	else if (!strcmp(name, "flags"))
		resp = ctl_flags(fk, body, rq->is_post, &status);
	else if (!strcmp(name, "metrics"))
		resp = fm_control(fk->metrics, body, rq->is_post, mono_us(), &status);
	else if (!rq->is_post)
		resp = ctl_bad(&status, "use POST");
	else if (!strcmp(name, "envelope"))
		resp = ctl_envelope(fk, body, &status);
	else if (!strcmp(name, "route"))
		resp = ctl_route(fk, body, &status);
	else if (!strcmp(name, "disconnect"))
		resp = ctl_disconnect(fk, body, &status);
	else if (!strcmp(name, "drop"))
		resp = ctl_drop(fk, body);
	else if (!strcmp(name, "silence"))
		resp = ctl_silence(fk, body, &status);
	else if (!strcmp(name, "fail"))
		resp = ctl_fail(fk, body, &status);
	else if (!strcmp(name, "config"))
		resp = ctl_config(fk, body, &status);
	else if (!strcmp(name, "reset"))
		resp = ctl_reset(fk, body);
	else if (!strcmp(name, "user"))
		resp = ctl_override(fk->users, body, &status);
	else if (!strcmp(name, "channel"))
		resp = ctl_override(fk->channels, body, &status);
	else if (!strcmp(name, "raw"))
		resp = ctl_raw(fk, body, &status);
	else if (!strcmp(name, "react"))
		resp = ctl_react(fk, body, &status);
	else if (!strcmp(name, "usergroup"))
		resp = ctl_usergroup(fk, body, &status);
	else if (!strcmp(name, "svc"))
		resp = ctl_svc(fk, body, &status);
	else if (!strcmp(name, "prom"))
		resp = ctl_prom(fk, body, &status);
	else {
		status = 404;
		resp = api_err("unknown_control_call");
	}
out:
	json_decref(body);
	rq->status = status;
	rq->resp = json_dumps(resp, JSON_COMPACT);
	rq->resp_len = strlen(rq->resp);
	rq->resp_ctype = FS_JSON_CT;
	json_decref(resp);
}

/* ---------------------------------------------------------------------- */
/* HTTP plumbing                                                          */

static void req_clear(struct http_req *rq)
{
	lws_sul_cancel(&rq->sul);
	json_decref(rq->query);
	rb_buf_free(&rq->body);
	free(rq->resp);
	memset(rq, 0, sizeof *rq);
	rq->retry_after = -1;
}

static void delay_cb(lws_sorted_usec_list_t *sul)
{
	struct http_req *rq = lws_container_of(sul, struct http_req, sul);

	rq->phase = RQ_READY;
	lws_callback_on_writable(rq->wsi);
}

/* The request is complete: decide the answer, then write it (now or after
 * a delay_ms from a failure rule). */
static int http_run(struct fake *fk, struct http_req *rq)
{
	int delay = 0;

	if (rq->too_big) {
		json_t *e = api_err("request_too_large");
		rq->status = 413;
		rq->resp = json_dumps(e, FS_JSON_FLAGS);
		json_decref(e);
		rq->resp_len = strlen(rq->resp);
		rq->resp_ctype = FS_JSON_CT;
		rq->close_after = true;
	} else if (rq->kind == RK_API) {
		delay = api_call(fk, rq, rq->path + strlen("/api/"));
	} else if (rq->kind == RK_UPLOAD) {
		delay = upload_call(fk, rq);
	} else if (rq->kind == RK_RESPONSE_URL) {
		delay = response_url_call(fk, rq);
	} else if (rq->kind == RK_FLAGS) {
		delay = flags_call(fk, rq);
	} else if (rq->kind == RK_PAGERDUTY) {
		delay = pagerduty_call(fk, rq);
	} else if (rq->kind == RK_SVC) {
		delay = svc_call(fk, rq);
	} else if (rq->kind == RK_PROM) {
		delay = prom_call(fk, rq);
	} else if (rq->kind == RK_METRICS) {
		metrics_call(fk, rq);
	} else if (rq->kind == RK_CONTROL) {
		control_call(fk, rq);
	} else {
		json_t *e = api_err("not_found");
		rq->status = 404;
		rq->resp = json_dumps(e, FS_JSON_FLAGS);
		json_decref(e);
		rq->resp_len = strlen(rq->resp);
		rq->resp_ctype = FS_JSON_CT;
	}
	if (delay > 0) {
		rq->phase = RQ_WAIT;
		lws_sul_schedule(fk->ctx, 0, &rq->sul, delay_cb, (lws_usec_t)delay * LWS_US_PER_MS);
	} else {
		rq->phase = RQ_READY;
		lws_callback_on_writable(rq->wsi);
	}
	return 0;
}

/* LWS_CALLBACK_HTTP: copy what the answer needs out of the headers (they
 * are not kept for the body callbacks), then wait for the body. */
static int http_begin(struct fake *fk, struct pss *pss, struct lws *wsi, const char *uri)
{
	struct http_req *rq = &pss->rq;
	char auth[1024], cl[32];
	size_t max = FS_API_BODY_MAX;
	long long clen = -1;
	const char *tok = NULL;

	req_clear(rq);
	rq->wsi = wsi;
	rq->tls = lws_is_ssl(wsi) != 0;
	rq->is_post = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0;
	if (!rq->is_post && lws_hdr_total_length(wsi, WSI_TOKEN_GET_URI) <= 0) {
		lws_return_http_status(wsi, HTTP_STATUS_METHOD_NOT_ALLOWED, NULL);
		return -1;
	}
	/* /r/K/ in front of any path but the control API's names the replica
	 * (several bots on one fake); the rest is served as without it. */
	rb_strlcpy(rq->path, replica_strip(uri ? uri : "/", &rq->replica), sizeof rq->path);
	if (lws_hdr_copy(wsi, rq->ctype, sizeof rq->ctype, WSI_TOKEN_HTTP_CONTENT_TYPE) < 0)
		rq->ctype[0] = '\0';
	if (lws_hdr_copy(wsi, auth, sizeof auth, WSI_TOKEN_HTTP_AUTHORIZATION) > 0 &&
	    !strncasecmp(auth, "Bearer ", 7))
		tok = auth + 7;
	rb_strlcpy(rq->auth, token_kind(tok), sizeof rq->auth);
	explicit_bzero(auth, sizeof auth);
	rq->query = query_args(wsi);

	if (!strncmp(rq->path, "/api/", 5)) {
		rq->kind = RK_API;
	} else if (!strncmp(rq->path, "/upload/v1/", 11) && rq->is_post) {
		rq->kind = RK_UPLOAD;
		max = FS_UPLOAD_BODY_MAX;
	} else if (!strncmp(rq->path, "/commands/", 10) && rq->is_post) {
		rq->kind = RK_RESPONSE_URL;
	} else if (!strcmp(rq->path, "/flags") || !strncmp(rq->path, "/flags/", 7)) {
		rq->kind = RK_FLAGS;
	} else if (!strcmp(rq->path, "/pagerduty/v2/enqueue") && rq->is_post) {
		rq->kind = RK_PAGERDUTY;
	} else if (svc_path(rq->path)) {
		rq->kind = RK_SVC;
	} else if (!strcmp(rq->path, "/prom/api/v1/query")) {
		rq->kind = RK_PROM;
	} else if (fm_path(rq->path)) {
		rq->kind = RK_METRICS;
	} else if (!strncmp(rq->path, "/_fake/", 7) && !rq->replica) {
		rq->kind = RK_CONTROL;
		max = FS_CONTROL_BODY_MAX;
	} else {
		rq->kind = RK_OTHER;
	}
	rb_buf_init(&rq->body, max);
	if (lws_hdr_copy(wsi, cl, sizeof cl, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0)
		clen = strtoll(cl, NULL, 10);
	if (rq->is_post && clen < 0 &&
	    lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_TRANSFER_ENCODING) > 0) {
		/* lws 4.1 does not hand chunked request bodies to the
		 * callback: say so and close rather than wait forever. */
		json_t *e = api_err("length_required");
		note("chunked request body refused (411): %s", rq->path);
		rq->status = 411;
		rq->resp = json_dumps(e, FS_JSON_FLAGS);
		json_decref(e);
		rq->resp_len = strlen(rq->resp);
		rq->resp_ctype = FS_JSON_CT;
		rq->close_after = true;
		rq->phase = RQ_READY;
		lws_callback_on_writable(wsi);
		return 0;
	}
	if (!rq->is_post || clen <= 0)
		return http_run(fk, rq);
	if (clen > (long long)max)
		rq->too_big = true;
	rq->phase = RQ_BODY;
	return 0;
}

static void http_body(struct http_req *rq, const void *in, size_t len)
{
	if (rq->phase != RQ_BODY || rq->too_big)
		return;
	if (rb_buf_append(&rq->body, in, len))
		rq->too_big = true;
}

/* LWS_CALLBACK_HTTP_WRITEABLE: headers, then the body piece by piece. */
static int http_writeable(struct fake *fk, struct http_req *rq, struct lws *wsi)
{
	unsigned char hb[LWS_PRE + 1024], *start = hb + LWS_PRE, *p = start;
	unsigned char *end = hb + sizeof hb - 1;
	size_t chunk;
	bool final, close_after;

	if (rq->phase != RQ_READY)
		return 0;
	if (!rq->headers_sent) {
		if (lws_add_http_common_headers(wsi, (unsigned)rq->status, rq->resp_ctype,
						rq->resp_len, &p, end))
			return 1;
		if (rq->close_after &&
		    lws_add_http_header_by_token(wsi, WSI_TOKEN_CONNECTION,
						 (const unsigned char *)"close", 5, &p, end))
			return 1;
		if (rq->retry_after >= 0) {
			char ra[16];
			int n = snprintf(ra, sizeof ra, "%d", rq->retry_after);
			if (lws_add_http_header_by_name(wsi, (const unsigned char *)"retry-after:",
							(const unsigned char *)ra, n, &p, end))
				return 1;
		}
		if (lws_finalize_write_http_header(wsi, start, &p, end))
			return 1;
		rq->headers_sent = true;
		lws_callback_on_writable(wsi);
		return 0;
	}
	chunk = rq->resp_len - rq->resp_off;
	if (chunk > FS_HTTP_CHUNK)
		chunk = FS_HTTP_CHUNK;
	final = rq->resp_off + chunk == rq->resp_len;
	memcpy(fk->txbuf + LWS_PRE, rq->resp + rq->resp_off, chunk);
	if (lws_write(wsi, fk->txbuf + LWS_PRE, chunk,
		      final ? LWS_WRITE_HTTP_FINAL : LWS_WRITE_HTTP) != (int)chunk)
		return 1;
	rq->resp_off += chunk;
	if (!final) {
		lws_callback_on_writable(wsi);
		return 0;
	}
	close_after = rq->close_after;
	req_clear(rq);
	if (close_after)
		return -1;
	return lws_http_transaction_completed(wsi) ? -1 : 0;
}

/* ---------------------------------------------------------------------- */
/* lws glue                                                               */

static int callback(struct lws *wsi, enum lws_callback_reasons reason, void *user, void *in,
		    size_t len)
{
	struct fake *fk = lws_context_user(lws_get_context(wsi));
	struct pss *pss = user;

	switch (reason) {
	case LWS_CALLBACK_HTTP_CONFIRM_UPGRADE:
		return confirm_upgrade(fk, wsi, in);
	case LWS_CALLBACK_HTTP:
		return http_begin(fk, pss, wsi, in);
	case LWS_CALLBACK_HTTP_BODY:
		http_body(&pss->rq, in, len);
		return 0;
	case LWS_CALLBACK_HTTP_BODY_COMPLETION:
		if (pss->rq.phase == RQ_BODY)
			return http_run(fk, &pss->rq);
		return 0;
	case LWS_CALLBACK_HTTP_WRITEABLE:
		return http_writeable(fk, &pss->rq, wsi);
	case LWS_CALLBACK_CLOSED_HTTP:
	case LWS_CALLBACK_HTTP_DROP_PROTOCOL:
		if (pss)
			req_clear(&pss->rq);
		break;
	case LWS_CALLBACK_ESTABLISHED:
		conn_open(fk, pss, wsi);
		return 0;
	case LWS_CALLBACK_RECEIVE:
		if (pss->conn)
			conn_receive(pss->conn, in, len);
		return 0;
	case LWS_CALLBACK_RECEIVE_PONG:
		if (pss->conn)
			pss->conn->pongs++;
		return 0;
	case LWS_CALLBACK_SERVER_WRITEABLE:
		return pss->conn ? conn_writeable(pss->conn) : 0;
	case LWS_CALLBACK_WS_PEER_INITIATED_CLOSE:
		if (pss->conn)
			note("socket %d: client sent a close frame (code %d)", pss->conn->id,
			     len >= 2 ? (((unsigned char *)in)[0] << 8 | ((unsigned char *)in)[1]) :
					0);
		return 0;
	case LWS_CALLBACK_CLOSED:
		conn_closed(fk, pss);
		return 0;
	default:
		break;
	}
	return lws_callback_http_dummy(wsi, reason, user, in, len);
}

/* Clients send no Sec-WebSocket-Protocol, so lws binds websockets to the
 * vhost's default protocol, the first: this one serves HTTP too. */
static const struct lws_protocols protocols[] = {
	{ "slack", callback, sizeof(struct pss), 0, 0, NULL, 0 },
	{ NULL, NULL, 0, 0, 0, NULL, 0 },
};

/* No lws-initiated pings or idle hangups: the fake pings on its own
 * schedule, and a silenced socket must stay open. */
static const lws_retry_bo_t no_idle_policy = { NULL, 0, 0, 0, 0, 0 };

static void on_signal(int sig)
{
	(void)sig;
	interrupted = 1;
}

static int write_port_file(const char *path, int port)
{
	char *tmp = rb_asprintf("%s.tmp.%ld", path, (long)getpid());
	FILE *f = fopen(tmp, "w");
	int rc = 0;

	if (!f || fprintf(f, "%d\n", port) < 0)
		rc = -1;
	if (f && fclose(f))
		rc = -1;
	if (!rc && rename(tmp, path))
		rc = -1;
	if (rc)
		unlink(tmp);
	free(tmp);
	return rc;
}

static void fake_init(struct fake *fk, int ping_ms)
{
	struct fake_cfg *c = &fk->cfg_default;

	c->retry_after_ms = 3000;
	c->retry_delays_ms[0] = 0;
	c->retry_delays_ms[1] = 60000;
	c->retry_delays_ms[2] = 300000;
	c->slash_timeout_ms = 3000;
	c->hello = true;
	c->dbh_count = -1;
	c->close_after_ms = 100;
	c->max_sockets = 10;
	c->lifetime_ms = 0;
	c->debug_lifetime_ms = 360000;
	c->warning_ms = 10000;
	c->refresh_close = CM_FRAME;
	c->post_rate_per_s = 1; /* Slack: about one a second per channel */
	c->post_burst = 4;
	c->method_tiers = true;
	c->ping_ms = ping_ms;
	fk->cfg = *c;
	fk->calls = json_array();
	fk->acks = json_array();
	fk->op_timeouts = json_array();
	fk->exhausted = json_array();
	fk->protocol_errors = json_array();
	fk->messages = json_object();
	fk->users = json_object();
	fk->channels = json_object();
	fk->files = json_object();
	fk->tickets = json_object();
	fk->reaction_ts = json_object();
	fk->response_urls = json_object();
	fk->buckets = json_object();
	fk->flags = json_object();
	fk->usergroups = json_object();
	fk->svc = json_object();
	fk->prom = json_object();
	fk->metrics = fm_new();
	fk->by_id = json_object();
	hex_rand(fk->app_hash, 64);
}

/* After lws_context_destroy(): whatever lws did not close through us. */
static void fake_free(struct fake *fk)
{
	struct frame *f;

	while (lws_dll2_get_head(&fk->conns)) {
		struct sm_conn *c =
			lws_container_of(lws_dll2_get_head(&fk->conns), struct sm_conn, node);
		lws_dll2_remove(&c->node);
		while ((f = fq_pop(&c->out)) != NULL)
			frame_free(f); /* envelope frames have no buffer of their own */
		rb_buf_free(&c->rx);
		free(c);
	}
	for (int q = 0; q <= FS_REPLICA_MAX; q++)
		while ((f = fq_pop(&fk->pending[q])) != NULL)
			free(f);
	while (lws_dll2_get_head(&fk->deliveries))
		delivery_free(lws_container_of(lws_dll2_get_head(&fk->deliveries), struct delivery,
					       node));
	fails_clear(fk);
	json_decref(fk->calls);
	json_decref(fk->acks);
	json_decref(fk->op_timeouts);
	json_decref(fk->exhausted);
	json_decref(fk->protocol_errors);
	json_decref(fk->messages);
	json_decref(fk->users);
	json_decref(fk->channels);
	json_decref(fk->files);
	json_decref(fk->tickets);
	json_decref(fk->reaction_ts);
	json_decref(fk->response_urls);
	json_decref(fk->buckets);
	json_decref(fk->flags);
	json_decref(fk->usergroups);
	json_decref(fk->svc);
	json_decref(fk->prom);
	fm_free(fk->metrics);
	json_decref(fk->by_id);
}

static void usage(FILE *f)
{
	fputs("usage: fake_slack [--port N] [--port-file FILE] [--ping-ms N] [--log FILE]\n"
	      "                  [--tls-cert FILE --tls-key FILE]\n",
	      f);
}

static int parse_int(const char *s, int lo, int hi, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return -1;
	*out = (int)v;
	return 0;
}

int main(int argc, char **argv)
{
	struct lws_context_creation_info info;
	struct sigaction sa;
	struct fake *fk;
	struct lws_vhost *vh;
	const char *port_file = NULL, *log_path = NULL, *tls_cert = NULL, *tls_key = NULL;
	int port = 0, ping_ms = 10000, i;

	log_sink = stderr;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			usage(stdout);
			return 0;
		}
		if (!v) {
			usage(stderr);
			return 2;
		}
		if (!strcmp(a, "--port")) {
			if (parse_int(v, 0, 65535, &port))
				goto bad;
		} else if (!strcmp(a, "--ping-ms")) {
			if (parse_int(v, 10, 86400000, &ping_ms))
				goto bad;
		} else if (!strcmp(a, "--port-file")) {
			port_file = v;
		} else if (!strcmp(a, "--log")) {
			log_path = v;
		} else if (!strcmp(a, "--tls-cert")) {
			tls_cert = v;
		} else if (!strcmp(a, "--tls-key")) {
			tls_key = v;
		} else {
			goto bad;
		}
		i++;
		continue;
bad:
		fprintf(stderr, "fake_slack: bad argument %s %s\n", a, v);
		usage(stderr);
		return 2;
	}
	if (!tls_cert != !tls_key) {
		fputs("fake_slack: --tls-cert and --tls-key go together\n", stderr);
		usage(stderr);
		return 2;
	}
	if (log_path) {
		log_sink = fopen(log_path, "a");
		if (!log_sink) {
			fprintf(stderr, "fake_slack: cannot open %s: %s\n", log_path,
				strerror(errno));
			return 1;
		}
	}
	setvbuf(log_sink, NULL, _IOLBF, 0);

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal; /* no SA_RESTART: poll() must return */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);

	fk = rb_calloc(1, sizeof *fk);
	fake_init(fk, ping_ms);
	fk->tls = tls_cert != NULL;
	fk->scheme = fk->tls ? "https" : "http";
	lws_set_log_level(LLL_ERR | LLL_WARN, lws_log_emit);

	memset(&info, 0, sizeof info);
	info.port = port;
	info.iface = "127.0.0.1";
	info.protocols = protocols;
	info.vhost_name = "fake-slack";
	info.user = fk;
	info.options = LWS_SERVER_OPTION_DISABLE_IPV6;
	info.keepalive_timeout = 60;
	info.max_http_header_data = 16384;
	info.fd_limit_per_thread = 4096;
	info.retry_and_idle_policy = &no_idle_policy;
	if (fk->tls) {
		/* TLS when the client starts with a handshake, plain HTTP/WS
		 * otherwise (the control API, ws:// tests); HTTP/1.1 only, as
		 * without TLS (no h2 through ALPN). */
		info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT |
				LWS_SERVER_OPTION_ALLOW_NON_SSL_ON_SSL_PORT |
				LWS_SERVER_OPTION_ALLOW_HTTP_ON_HTTPS_LISTENER;
		info.ssl_cert_filepath = tls_cert;
		info.ssl_private_key_filepath = tls_key;
		info.alpn = "http/1.1";
	}
	fk->ctx = lws_create_context(&info);
	if (!fk->ctx) {
		if (fk->tls)
			note("cannot listen on 127.0.0.1:%d with TLS (certificate %s, key %s)",
			     port, tls_cert, tls_key);
		else
			note("cannot listen on 127.0.0.1:%d", port);
		fake_free(fk);
		free(fk);
		return 1;
	}
	vh = lws_get_vhost_by_name(fk->ctx, "fake-slack");
	fk->port = vh ? lws_get_vhost_listen_port(vh) : port;
	if (port_file && write_port_file(port_file, fk->port)) {
		note("cannot write %s: %s", port_file, strerror(errno));
		lws_context_destroy(fk->ctx);
		fake_free(fk);
		free(fk);
		return 1;
	}
	note("listening on 127.0.0.1:%d%s", fk->port, fk->tls ? " (TLS and plain)" : "");

	while (!interrupted)
		if (lws_service(fk->ctx, 0) < 0)
			break;

	note("shutting down");
	fk->shutting_down = true;
	lws_sul_cancel(&fk->rdhup_sul);
	lws_start_foreach_dll (struct lws_dll2 *, p, lws_dll2_get_head(&fk->deliveries)) {
		lws_sul_cancel(&lws_container_of(p, struct delivery, node)->sul);
	}
	lws_end_foreach_dll(p);
	lws_context_destroy(fk->ctx);
	fake_free(fk);
	free(fk);
	if (log_sink != stderr)
		fclose(log_sink);
	return 0;
}
