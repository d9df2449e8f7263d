/* rollbot — PostgreSQL (MIT licence, see LICENSE).
 *
 * Owns the bot's one connection to PostgreSQL and the queue of commands
 * waiting for it, plus the blocking calls: the migration runner used at
 * start-up and the command line's one-off query.
 *
 * DESIGN (c-models.md §3.4; libusual pgsocket.c is the model)
 *
 * The connection is in one of four states, and the one timer means a
 * different thing in each:
 *
 *   DOWN        no PGconn; the timer is the backoff before the next attempt
 *               (100 ms doubling to 5 s).
 *   RESOLVING   the host name is being looked up with uv_getaddrinfo(), so
 *               that libpq gets an address in `hostaddr` and never calls the
 *               blocking getaddrinfo() itself; the timer is the connect
 *               deadline.
 *   CONNECTING  PQconnectPoll() in progress; the timer is the connect
 *               deadline (libpq enforces connect_timeout only when blocking).
 *               libpq may close its socket and open another between two
 *               polls, possibly with the same fd number, so every wait gets
 *               a fresh uv_poll_t on the current PQsocket(), and the old one
 *               is closed *before* PQconnectPoll() can close its fd.
 *   READY       connected and non-blocking; one uv_poll_t on the socket,
 *               readable always (results, notices, a server going away),
 *               writable only while PQflush() has bytes left; the timer is a
 *               zero-delay "send the next command", so that store_query()
 *               never talks to libpq or runs a callback itself.
 *
 * There is at most one wait (one live poll handle) at a time, asserted.
 * Commands form a FIFO; the head is the one in flight once `inflight` is set.
 * A command is popped only when the server has answered it. If the
 * connection breaks first, the head stays where it is and is sent again,
 * with the rest, after reconnecting: callers make their commands idempotent
 * (dedupe keys, ON CONFLICT), and the audit log must not lose rows. The one
 * exception is a command that was in flight each of MAX_LOST times a
 * connection broke: it is taken to be the cause and fails.
 *
 * Lifetime: every open loop handle or request holds the store; store_free()
 * fails the queue, closes them, and the last close callback frees the
 * memory (rule 7). User callbacks may call store_query() or store_free();
 * every path that runs one checks `closing` afterwards.
 *
 * Nothing logged here contains the conninfo or its password: libpq's
 * messages are scrubbed of both before they reach the log.
 */
#include "store.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <stdint.h>
#include <stdio.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define BACKOFF_MIN_MS	   100
#define BACKOFF_MAX_MS	   5000
#define CONNECT_TIMEOUT_MS 10000
/* A connection that lived this long, or answered a command, was healthy:
 * the next reconnect starts again from the shortest delay. */
#define STABLE_MS  5000
#define MAX_PARAMS 65535 /* the protocol's limit */
/* A command in flight on this many connections that all broke is taken to
 * be what breaks them (it kills its backend, or crashes the server) and
 * fails, so that it cannot hold up the queue behind it for ever. */
#define MAX_LOST 5
/* pg_advisory_xact_lock key for migrations: "rollbot" in ASCII. */
#define MIGRATE_LOCK_SQL "SELECT pg_advisory_xact_lock(32210658810556276)"

enum store_state {
	STORE_DOWN,
	STORE_RESOLVING,
	STORE_CONNECTING,
	STORE_READY,
};

/* One allocation per command: the struct, then the parameter pointers,
 * then the SQL and every parameter's bytes. A busy bot can have thousands
 * queued behind a slow database, so the copies are packed, not strdup'ed
 * one by one. */
struct store_cmd {
	struct store_cmd *next;
	char *sql;     /* points into data */
	char **params; /* nparams strings (into data), NULL for SQL NULL */
	int nparams;
	int lost; /* connections that broke while it was in flight */
	store_cb cb;
	void *arg;
	max_align_t data[];
};

struct store {
	uv_loop_t *loop;
	char *conninfo;
	char *password; /* from conninfo, only to scrub it out of messages */
	enum store_state state;
	PGconn *conn;
	uv_poll_t *poll;       /* the one wait, or NULL */
	int poll_events;       /* what `poll` waits for (READY only) */
	uv_timer_t timer;      /* see DESIGN */
	uv_getaddrinfo_t *dns; /* the lookup in progress, or NULL */
	uint64_t backoff_ms;
	uint64_t connected_at;
	bool answered;	   /* this connection completed a command */
	unsigned attempts; /* failed attempts in a row, for the log */
	struct store_cmd *head, *tail;
	int pending;
	/* Round trips to the server: a command (or, later, a batch) sent whose
	 * answer the store then waits for. For /metrics and `make bench`. */
	unsigned long round_trips;
	bool inflight; /* head has been sent */
	PGresult *res; /* the in-flight command's result so far */
	int refs;      /* open handles and requests */
	bool closing;
	/* store_listen(): the channel LISTENed to on every connection, and who
	 * hears of it. */
	char *listen_channel;
	store_notify_cb notify_cb;
	void *notify_arg;
};

static void conn_start(struct store *st);
static void send_next(struct store *st);

/* ---- messages ---------------------------------------------------------- */

/* Copies libpq's message `msg` into out as one line (each run of white space
 * becomes one space), with every occurrence of `secret` and of `conninfo`
 * replaced, so that no password reaches a log line or an err buffer even
 * when libpq quotes part of the connection string back. */
static void scrub(char *out, size_t outlen, const char *msg, const char *secret,
		  const char *conninfo)
{
	const char *hide[2] = { conninfo, secret };
	size_t o = 0;

	if (!outlen)
		return;
	if (!msg)
		msg = "";
	while (*msg && o + 1 < outlen) {
		bool hidden = false;
		for (size_t i = 0; i < RB_ARRAY_LEN(hide); i++) {
			size_t n = hide[i] ? strlen(hide[i]) : 0;
			if (n && !strncmp(msg, hide[i], n)) {
				for (const char *s = "***"; *s && o + 1 < outlen; s++)
					out[o++] = *s;
				msg += n;
				hidden = true;
				break;
			}
		}
		if (hidden)
			continue;
		/* libpq's multi-line messages become one line of single spaces. */
		if (*msg == '\n' || *msg == '\r' || *msg == '\t' || *msg == ' ') {
			if (o > 0 && out[o - 1] != ' ')
				out[o++] = ' ';
			msg++;
			continue;
		}
		out[o++] = *msg++;
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	out[o] = '\0';
}

/* Returns the password the conninfo gives (a new string, free() it), or NULL
 * when there is none. *ok is false when conninfo does not parse. */
static char *conninfo_password(const char *conninfo, bool *ok)
{
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
	char *pw = NULL;

	*ok = opts != NULL;
	for (PQconninfoOption *o = opts; o && o->keyword; o++)
		if (!strcmp(o->keyword, "password") && o->val && *o->val)
			pw = rb_strdup(o->val);
	PQconninfoFree(opts);
	return pw;
}

/* Writes "primary message (SQLSTATE xxxxx)" of an error result into out. */
static void result_error(char *out, size_t outlen, const PGresult *res)
{
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	char msg[RB_ERR_LEN - 32]; /* leaves room for the SQLSTATE */

	if (!primary) {
		/* libpq's own errors have no fields, only the whole text. */
		scrub(msg, sizeof msg, res ? PQresultErrorMessage(res) : "no result", NULL, NULL);
		primary = msg;
	}
	if (!state) {
		rb_strlcpy(out, primary, outlen);
		return;
	}
	/* Too long for out: the end goes, the primary message stays. */
	snprintf(out, outlen, "%s (SQLSTATE %.5s)", primary, state);
}

/* libpq's notices (and the server's NOTICE/WARNING messages) would go to
 * stderr by default; they go to our log instead. */
static void notice_cb(void *arg, const PGresult *res)
{
	const char *sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	const char *msg = PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY);

	(void)arg;
	if (!msg)
		msg = PQresultErrorMessage(res);
	log_debug("store: notice severity=%s msg=%s", sev ? sev : "?", msg);
}

/* ---- commands ---------------------------------------------------------- */

static void cmd_free(struct store_cmd *cmd)
{
	free(cmd);
}

static struct store_cmd *pop(struct store *st)
{
	struct store_cmd *cmd = st->head;

	st->head = cmd->next;
	if (!st->head)
		st->tail = NULL;
	st->pending--;
	return cmd;
}

/* Hands a finished command to its owner. `res` stays ours (the caller clears
 * it after); `cmd` is freed. */
static void finish(struct store_cmd *cmd, int err, const PGresult *res, const char *msg)
{
	if (cmd->cb)
		cmd->cb(cmd->arg, err, res, msg);
	else if (err && err != STORE_ESHUTDOWN)
		log_warn("store: command failed err=%s", msg);
	cmd_free(cmd);
}

/* ---- handles and lifetime ---------------------------------------------- */

/* Drops one reference held by a handle or request. After store_free() the
 * last one frees the store; returns true when it did. */
static bool release(struct store *st)
{
	RB_ASSERT(st->refs > 0);
	if (--st->refs > 0 || !st->closing)
		return false;
	free(st->conninfo);
	free(st->password);
	free(st->listen_channel);
	free(st);
	return true;
}

static void poll_close_cb(uv_handle_t *h)
{
	struct store *st = h->data;

	free(h);
	release(st);
}

static void timer_close_cb(uv_handle_t *h)
{
	release(h->data);
}

/* Ends the current wait. uv_close() stops the poll at once, so the fd may be
 * closed by libpq right after this returns. */
static void poll_drop(struct store *st)
{
	if (!st->poll)
		return;
	uv_close((uv_handle_t *)st->poll, poll_close_cb);
	st->poll = NULL;
	st->poll_events = 0;
}

/* Starts the one wait on libpq's current socket. Returns 0 or a libuv
 * error (the caller treats it as a failed connection). */
static int poll_on_socket(struct store *st, int events, uv_poll_cb cb)
{
	int fd = PQsocket(st->conn);
	int rc;

	RB_ASSERT(st->poll == NULL);
	if (fd < 0)
		return UV_EBADF;
	st->poll = rb_malloc(sizeof *st->poll);
	rc = uv_poll_init(st->loop, st->poll, fd);
	if (rc) {
		free(st->poll);
		st->poll = NULL;
		return rc;
	}
	st->poll->data = st;
	st->refs++;
	rc = uv_poll_start(st->poll, events, cb);
	if (rc) {
		poll_drop(st);
		return rc;
	}
	st->poll_events = events;
	return 0;
}

/* ---- connecting -------------------------------------------------------- */

static void retry_cb(uv_timer_t *t)
{
	conn_start(t->data);
}

/* Forgets the connection (if any) and arms the backoff timer. `why` is
 * already scrubbed. */
static void retry_later(struct store *st, const char *what, const char *why)
{
	uint64_t delay = st->backoff_ms;

	poll_drop(st);
	if (st->conn) {
		PQfinish(st->conn);
		st->conn = NULL;
	}
	st->state = STORE_DOWN;
	st->attempts++;
	log_warn("store: %s attempt=%u retry_in_ms=%llu pending=%d err=%s", what, st->attempts,
		 (unsigned long long)delay, st->pending, why);
	st->backoff_ms = st->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : st->backoff_ms * 2;
	uv_timer_start(&st->timer, retry_cb, delay, 0);
}

/* A failed attempt: say what libpq said, try again later. */
static void conn_failed(struct store *st, const char *what)
{
	char why[RB_ERR_LEN];

	scrub(why, sizeof why, st->conn ? PQerrorMessage(st->conn) : "out of memory", st->password,
	      st->conninfo);
	retry_later(st, what, why);
}

static void kick_cb(uv_timer_t *t)
{
	send_next(t->data);
}

static void io_cb(uv_poll_t *h, int status, int events);
static struct store_cmd *cmd_new(const char *sql, int nparams, const char *const *params,
				 store_cb cb, void *arg);

static void listened_cb(void *arg, int err, const PGresult *res, const char *errmsg)
{
	struct store *st = arg;

	(void)res;
	if (err) {
		log_warn("store: LISTEN %s failed: %s", st->listen_channel, errmsg ? errmsg : "?");
		return;
	}
	/* Notifications sent while no connection listened are lost: the
	 * listener is told to look for itself. */
	st->notify_cb(st->notify_arg, NULL);
}

/* A new connection listens before it sends anything else, the replayed
 * commands included: nothing is in flight on a new connection, so the
 * LISTEN goes to the head of the queue. Listening from an established
 * connection (store_listen after the connect) queues it at the tail. */
static void listen_first(struct store *st, bool at_head)
{
	char sql[96];
	struct store_cmd *cmd;

	snprintf(sql, sizeof sql, "LISTEN %s", st->listen_channel);
	cmd = cmd_new(sql, 0, NULL, listened_cb, st);
	if (at_head || !st->head) {
		cmd->next = st->head;
		st->head = cmd;
		if (!st->tail)
			st->tail = cmd;
	} else {
		st->tail->next = cmd;
		st->tail = cmd;
	}
	st->pending++;
}

static void conn_ready(struct store *st)
{
	char why[RB_ERR_LEN];
	int rc;

	uv_timer_stop(&st->timer);
	if (PQsetnonblocking(st->conn, 1) != 0) {
		conn_failed(st, "cannot make the connection non-blocking");
		return;
	}
	rc = poll_on_socket(st, UV_READABLE, io_cb);
	if (rc) {
		snprintf(why, sizeof why, "%s", uv_strerror(rc));
		retry_later(st, "cannot watch the connection", why);
		return;
	}
	st->state = STORE_READY;
	st->connected_at = uv_now(st->loop);
	st->answered = false;
	st->attempts = 0;
	log_info("store: connected server_version=%d backend_pid=%d pending=%d",
		 PQserverVersion(st->conn), PQbackendPID(st->conn), st->pending);
	if (st->listen_channel)
		listen_first(st, true);
	send_next(st);
}

static void connect_cb(uv_poll_t *h, int status, int events);

/* Waits for what PQconnectPoll() asked for, on a fresh handle (DESIGN). */
static void connect_wait(struct store *st, int events)
{
	int rc = poll_on_socket(st, events, connect_cb);
	char why[RB_ERR_LEN];

	if (rc) {
		snprintf(why, sizeof why, "%s", uv_strerror(rc));
		retry_later(st, "cannot watch the connection", why);
	}
}

static void connect_cb(uv_poll_t *h, int status, int events)
{
	struct store *st = h->data;

	/* An error on the socket is for PQconnectPoll() to find and report. */
	(void)status;
	(void)events;
	poll_drop(st);
	switch (PQconnectPoll(st->conn)) {
	case PGRES_POLLING_READING:
		connect_wait(st, UV_READABLE);
		break;
	case PGRES_POLLING_WRITING:
		connect_wait(st, UV_WRITABLE);
		break;
	case PGRES_POLLING_OK:
		conn_ready(st);
		break;
	default:
		conn_failed(st, "cannot connect");
		break;
	}
}

/* Starts libpq's non-blocking connect; `hostaddr` (may be NULL) overrides the
 * conninfo's, keeping its `host` for TLS and .pgpass. */
static void connect_begin(struct store *st, const char *hostaddr)
{
	/* Later keywords override what the expanded conninfo says. */
	const char *kw[] = { "fallback_application_name", "dbname", "hostaddr", NULL };
	const char *val[] = { "rollbot", st->conninfo, hostaddr, NULL };

	if (!hostaddr)
		kw[2] = NULL;
	st->conn = PQconnectStartParams(kw, val, 1);
	if (!st->conn || PQstatus(st->conn) == CONNECTION_BAD) {
		conn_failed(st, "cannot connect");
		return;
	}
	PQsetNoticeReceiver(st->conn, notice_cb, st);
	st->state = STORE_CONNECTING;
	/* "behave as if it last returned PGRES_POLLING_WRITING" */
	connect_wait(st, UV_WRITABLE);
}

/* Returns the host name libpq would look up itself (a new string), or NULL
 * when there is nothing to look up: a Unix socket, an IP address, a
 * `hostaddr` already given, or a list of hosts (left to libpq, which tries
 * them in turn; with names in it, that lookup blocks). */
static char *host_to_resolve(const char *conninfo)
{
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);
	const char *host = NULL, *hostaddr = NULL;
	unsigned char addr[sizeof(struct in6_addr)];
	char *name = NULL;

	for (PQconninfoOption *o = opts; o && o->keyword; o++) {
		if (!strcmp(o->keyword, "host"))
			host = o->val;
		else if (!strcmp(o->keyword, "hostaddr"))
			hostaddr = o->val;
	}
	/* Parsing does not apply the environment; libpq's connect does. */
	if (!host || !*host)
		host = getenv("PGHOST");
	if (!hostaddr || !*hostaddr)
		hostaddr = getenv("PGHOSTADDR");
	if (host && *host && !(hostaddr && *hostaddr) && host[0] != '/' && host[0] != '@' &&
	    !strchr(host, ',') && inet_pton(AF_INET, host, addr) != 1 &&
	    inet_pton(AF_INET6, host, addr) != 1)
		name = rb_strdup(host);
	PQconninfoFree(opts);
	return name;
}

static void dns_cb(uv_getaddrinfo_t *req, int status, struct addrinfo *res)
{
	struct store *st = req->data;
	bool current = st->dns == req;
	char ip[INET6_ADDRSTRLEN] = "";
	char why[RB_ERR_LEN];

	if (status == 0 && res) {
		if (res->ai_family == AF_INET6)
			uv_ip6_name((const struct sockaddr_in6 *)(void *)res->ai_addr, ip,
				    sizeof ip);
		else
			uv_ip4_name((const struct sockaddr_in *)(void *)res->ai_addr, ip,
				    sizeof ip);
	}
	uv_freeaddrinfo(res);
	free(req);
	if (current)
		st->dns = NULL;
	if (release(st) || !current || st->closing)
		return; /* abandoned by the deadline or by store_free */
	if (status || !*ip) {
		snprintf(why, sizeof why, "%s", status ? uv_strerror(status) : "no address");
		retry_later(st, "cannot resolve the database host", why);
		return;
	}
	connect_begin(st, ip);
}

static void connect_timeout_cb(uv_timer_t *t)
{
	struct store *st = t->data;

	if (st->dns) {
		/* The lookup's callback still runs; it sees it is not current. */
		uv_cancel((uv_req_t *)st->dns);
		st->dns = NULL;
	}
	retry_later(st, "connect timed out", "no answer within the deadline");
}

/* One connection attempt: look the host up if it is a name, else connect. */
static void conn_start(struct store *st)
{
	struct addrinfo hints;
	char *host;
	int rc;

	RB_ASSERT(st->state == STORE_DOWN && !st->conn && !st->poll && !st->dns);
	uv_timer_start(&st->timer, connect_timeout_cb, CONNECT_TIMEOUT_MS, 0);
	host = host_to_resolve(st->conninfo);
	if (!host) {
		connect_begin(st, NULL);
		return;
	}
	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	st->dns = rb_malloc(sizeof *st->dns);
	st->dns->data = st;
	rc = uv_getaddrinfo(st->loop, st->dns, dns_cb, host, NULL, &hints);
	free(host);
	if (rc) {
		free(st->dns);
		st->dns = NULL;
		retry_later(st, "cannot resolve the database host", uv_strerror(rc));
		return;
	}
	st->refs++;
	st->state = STORE_RESOLVING;
}

/* ---- connected: sending and receiving ---------------------------------- */

/* The connection broke: keep every command (the head will be sent again)
 * and reconnect after the backoff; only a command that was in flight on
 * MAX_LOST broken connections fails, with STORE_EQUERY. */
static void conn_lost(struct store *st, const char *libpq_msg)
{
	char why[RB_ERR_LEN];
	bool poison = false;

	scrub(why, sizeof why, libpq_msg, st->password, st->conninfo);
	if (st->res) {
		PQclear(st->res);
		st->res = NULL;
	}
	if (st->inflight)
		poison = ++st->head->lost >= MAX_LOST;
	st->inflight = false;
	if (st->answered || uv_now(st->loop) - st->connected_at >= STABLE_MS)
		st->backoff_ms = BACKOFF_MIN_MS;
	st->attempts = 0;
	retry_later(st, "connection lost", why);
	/* Last, as the callback may free the store. */
	if (poison) {
		log_error("store: giving up on a command after %d broken connections", MAX_LOST);
		finish(pop(st), STORE_EQUERY, NULL,
		       "the connection broke every time this command was sent");
	}
}

/* Pushes libpq's output buffer out; waits for writable while bytes remain.
 * Returns false when the connection broke (and was dealt with). */
static bool flush_out(struct store *st)
{
	int r = PQflush(st->conn);
	int want;

	if (r < 0) {
		conn_lost(st, PQerrorMessage(st->conn));
		return false;
	}
	want = UV_READABLE | (r == 1 ? UV_WRITABLE : 0);
	if (want != st->poll_events) {
		uv_poll_start(st->poll, want, io_cb);
		st->poll_events = want;
	}
	return true;
}

/* Sends the head of the queue if nothing is in flight. Runs only from loop
 * callbacks, never from store_query(), so a command libpq refuses on the spot
 * can have its callback run here without surprising the caller. */
static void send_next(struct store *st)
{
	while (!st->closing && st->state == STORE_READY && !st->inflight && st->head) {
		struct store_cmd *cmd = st->head;
		char msg[RB_ERR_LEN];

		if (PQsendQueryParams(st->conn, cmd->sql, cmd->nparams, NULL,
				      (const char *const *)cmd->params, NULL, NULL, 0)) {
			st->inflight = true;
			st->round_trips++;
			flush_out(st);
			return;
		}
		if (PQstatus(st->conn) == CONNECTION_BAD) {
			conn_lost(st, PQerrorMessage(st->conn));
			return;
		}
		/* libpq refused the command itself: sending it again cannot help. */
		scrub(msg, sizeof msg, PQerrorMessage(st->conn), NULL, NULL);
		finish(pop(st), STORE_EQUERY, NULL, msg);
	}
}

/* True when an error result means "the connection is gone" rather than "the
 * server refused this command": the command is then sent again. */
static bool is_connection_error(PGconn *conn, const PGresult *res)
{
	const char *state, *sev;

	if (PQstatus(conn) == CONNECTION_BAD || !res || PQresultStatus(res) == PGRES_BAD_RESPONSE)
		return true;
	state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	if (!state)
		return true; /* made up by libpq: the link, not the server */
	if (!strncmp(state, "08", 2) || !strncmp(state, "57P", 3))
		return true; /* connection exception; admin or crash shutdown */
	sev = PQresultErrorField(res, PG_DIAG_SEVERITY_NONLOCALIZED);
	return sev && (!strcmp(sev, "FATAL") || !strcmp(sev, "PANIC"));
}

static bool is_error(const PGresult *res)
{
	ExecStatusType s = PQresultStatus(res);

	return s == PGRES_FATAL_ERROR || s == PGRES_BAD_RESPONSE || s == PGRES_NONFATAL_ERROR;
}

/* The in-flight command's last PGresult has come (PQgetResult gave NULL):
 * hand it over. Returns false when the store must not be touched further
 * in this turn (the connection was reset, or store_free ran). */
static bool complete_inflight(struct store *st)
{
	PGresult *res = st->res;
	ExecStatusType s;
	char msg[RB_ERR_LEN];

	st->res = NULL;
	if (!res || is_error(res)) {
		if (is_connection_error(st->conn, res)) {
			result_error(msg, sizeof msg, res);
			PQclear(res);
			conn_lost(st, msg);
			return false;
		}
		st->inflight = false;
		st->answered = true;
		result_error(msg, sizeof msg, res);
		PQclear(res);
		finish(pop(st), STORE_EQUERY, NULL, msg);
		return !st->closing;
	}
	st->inflight = false;
	st->answered = true;
	s = PQresultStatus(res);
	if (s == PGRES_COPY_IN || s == PGRES_COPY_OUT || s == PGRES_COPY_BOTH) {
		/* Not something the bot does; the protocol state is now stuck, so
		 * fail the command and start over on a new connection. */
		PQclear(res);
		finish(pop(st), STORE_EQUERY, NULL, "COPY is not supported by the store");
		if (!st->closing)
			conn_lost(st, "reset after a COPY command");
		return false;
	}
	finish(pop(st), 0, res, NULL);
	PQclear(res);
	return !st->closing;
}

/* Takes every result libpq has parsed without blocking. */
static void read_results(struct store *st)
{
	while (st->inflight && !PQisBusy(st->conn)) {
		PGresult *r = PQgetResult(st->conn);
		ExecStatusType s;

		if (!r) {
			if (!complete_inflight(st))
				return;
			send_next(st);
			if (st->closing || st->state != STORE_READY)
				return;
			continue;
		}
		s = PQresultStatus(r);
		if (s == PGRES_COPY_IN || s == PGRES_COPY_OUT || s == PGRES_COPY_BOTH) {
			/* PQgetResult would keep returning this: stop here. */
			PQclear(st->res);
			st->res = r;
			complete_inflight(st);
			return;
		}
		/* One statement gives one result; keep the first error if any. */
		if (!st->res) {
			st->res = r;
		} else if (is_error(st->res)) {
			PQclear(r);
		} else {
			PQclear(st->res);
			st->res = r;
		}
	}
	if (PQstatus(st->conn) == CONNECTION_BAD)
		conn_lost(st, PQerrorMessage(st->conn));
}

static void io_cb(uv_poll_t *h, int status, int events)
{
	struct store *st = h->data;
	PGnotify *n;

	/* A socket error is left for libpq to find and report. */
	if (status < 0)
		events = UV_READABLE | UV_WRITABLE;
	if (events & UV_READABLE) {
		if (!PQconsumeInput(st->conn)) {
			conn_lost(st, PQerrorMessage(st->conn));
			return;
		}
	}
	/* "If it becomes write-ready, call PQflush again. If it becomes
	 * read-ready, call PQconsumeInput, then call PQflush again." */
	if ((st->poll_events & UV_WRITABLE) && !flush_out(st))
		return;
	while ((n = PQnotifies(st->conn)) != NULL) {
		log_debug("store: notification channel=%s", n->relname);
		if (st->notify_cb && st->listen_channel && !strcmp(n->relname, st->listen_channel))
			st->notify_cb(st->notify_arg, n->extra ? n->extra : "");
		PQfreemem(n);
		if (st->closing)
			return;
	}
	read_results(st);
}

/* ---- public ------------------------------------------------------------ */

/* Opens the store on `loop` and starts connecting to `conninfo` (a libpq
 * URI or key=value string; copied). Returns a new store, never NULL; free it
 * with store_free() and then run the loop so its handles can close.
 * Connection failures are logged and retried with backoff; a conninfo that
 * does not parse is logged once and never tried (commands wait for
 * store_free). */
struct store *store_new(uv_loop_t *loop, const char *conninfo)
{
	struct store *st = rb_calloc(1, sizeof *st);
	bool ok;

	st->loop = loop;
	st->conninfo = rb_strdup(conninfo ? conninfo : "");
	st->password = conninfo_password(st->conninfo, &ok);
	st->backoff_ms = BACKOFF_MIN_MS;
	st->state = STORE_DOWN;
	uv_timer_init(loop, &st->timer);
	st->timer.data = st;
	st->refs = 1;
	if (!ok) {
		/* libpq's parse error may quote the string: do not log it. */
		log_error("store: the database URL is not a valid libpq URI or conninfo "
			  "(not shown); not connecting");
		return st;
	}
	conn_start(st);
	return st;
}

/* Fails every queued command (the one in flight too: its outcome is then
 * unknown) with STORE_ESHUTDOWN before returning, closes the connection and
 * starts closing the handles; the memory goes in the last close callback, so
 * the caller must run the loop afterwards. Safe from inside a store
 * callback; a second call does nothing. Accepts NULL. */
void store_free(struct store *st)
{
	if (!st || st->closing)
		return;
	st->closing = true;
	if (st->pending)
		log_warn("store: shutting down with commands not done pending=%d", st->pending);
	poll_drop(st);
	if (st->dns) {
		uv_cancel((uv_req_t *)st->dns);
		st->dns = NULL;
	}
	if (st->res) {
		PQclear(st->res);
		st->res = NULL;
	}
	if (st->conn) {
		PQfinish(st->conn);
		st->conn = NULL;
	}
	st->state = STORE_DOWN;
	st->inflight = false;
	uv_close((uv_handle_t *)&st->timer, timer_close_cb);
	while (st->head)
		finish(pop(st), STORE_ESHUTDOWN, NULL, "the store was shut down");
}

/* A command, packed into one allocation with copies of sql and params. */
static struct store_cmd *cmd_new(const char *sql, int nparams, const char *const *params,
				 store_cb cb, void *arg)
{
	size_t bytes = ((size_t)nparams + 1) * sizeof(char *) + strlen(sql) + 1;
	struct store_cmd *cmd;
	char *p;

	for (int i = 0; i < nparams; i++)
		bytes += params[i] ? strlen(params[i]) + 1 : 0;
	cmd = rb_calloc(1, sizeof *cmd + bytes);
	cmd->params = (char **)(void *)cmd->data;
	p = (char *)(cmd->params + nparams + 1);
	cmd->sql = p;
	p = stpcpy(p, sql) + 1;
	for (int i = 0; i < nparams; i++) {
		if (!params[i])
			continue;
		cmd->params[i] = p;
		p = stpcpy(p, params[i]) + 1;
	}
	cmd->nparams = nparams;
	cmd->cb = cb;
	cmd->arg = arg;
	return cmd;
}

/* Queues a command (see store.h). sql and params are copied. Returns 0, or
 * RB_EINVAL for bad arguments, or STORE_ESHUTDOWN after store_free(); then
 * cb is never called. The callback never runs inside this call. */
int store_query(struct store *st, const char *sql, int nparams, const char *const *params,
		store_cb cb, void *arg)
{
	struct store_cmd *cmd;

	if (!st || !sql || nparams < 0 || nparams > MAX_PARAMS || (nparams > 0 && !params))
		return RB_EINVAL;
	if (st->closing)
		return STORE_ESHUTDOWN;
	cmd = cmd_new(sql, nparams, params, cb, arg);
	if (st->tail)
		st->tail->next = cmd;
	else
		st->head = cmd;
	st->tail = cmd;
	st->pending++;
	if (st->state == STORE_READY && !st->inflight)
		uv_timer_start(&st->timer, kick_cb, 0, 0);
	return 0;
}

/* Returns the number of commands queued or in flight (0 for NULL). */
int store_listen(struct store *st, const char *channel, store_notify_cb cb, void *arg)
{
	if (!st || !cb || !channel || !channel[0] || strlen(channel) > 63 ||
	    strspn(channel, "abcdefghijklmnopqrstuvwxyz_0123456789") != strlen(channel))
		return RB_EINVAL;
	if (st->closing)
		return STORE_ESHUTDOWN;
	if (st->listen_channel)
		return RB_EINVAL;
	st->listen_channel = rb_strdup(channel);
	st->notify_cb = cb;
	st->notify_arg = arg;
	if (st->state == STORE_READY) {
		listen_first(st, false);
		uv_timer_start(&st->timer, kick_cb, 0, 0);
	}
	return 0;
}

int store_pending(const struct store *st)
{
	return st ? st->pending : 0;
}

unsigned long store_round_trips(const struct store *st)
{
	return st ? st->round_trips : 0;
}

/* Returns true while connected and able to send (false for NULL). */
bool store_connected(const struct store *st)
{
	return st && !st->closing && st->state == STORE_READY;
}

/* ---- migrations (blocking, start-up only) ------------------------------ */

/* Runs one statement that must succeed with `want`; on failure writes
 * "<what>: <PostgreSQL's message>" into err and returns -1. Fills *out if
 * given (the caller clears it), else clears the result. */
static int exec_ok(PGconn *conn, const char *sql, int nparams, const char *const *params,
		   ExecStatusType want, PGresult **out, const char *what, char *err, size_t errlen)
{
	PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
	char msg[RB_ERR_LEN];

	if (PQresultStatus(res) != want) {
		result_error(msg, sizeof msg, res);
		snprintf(err, errlen, "%s: %s", what, msg);
		PQclear(res);
		return -1;
	}
	if (out)
		*out = res;
	else
		PQclear(res);
	return 0;
}

/* The line of `sql` holding character `pos` (1-based, as PostgreSQL
 * counts: characters, not bytes). */
static int line_of(const char *sql, long pos)
{
	int line = 1;

	for (long chars = 0; *sql && chars < pos - 1; sql++) {
		if (((unsigned char)*sql & 0xC0) != 0x80)
			chars++;
		if (*sql == '\n')
			line++;
	}
	return line;
}

/* Applies one migration in its own transaction, unless schema_migrations
 * already lists it (checked under the lock, so a second bot that waited for
 * the first one sees its work). Returns 1 applied, 0 skipped, -1 with err
 * set. On error the transaction is still open: the caller rolls back. */
static int apply_one(PGconn *conn, const struct store_migration *m, char *err, size_t errlen)
{
	const char *p[1] = { m->name };
	PGresult *res = NULL;
	char what[RB_ERR_LEN], msg[RB_ERR_LEN];
	const char *pos;
	bool done;

	snprintf(what, sizeof what, "migration %s", m->name);
	if (exec_ok(conn, "BEGIN", 0, NULL, PGRES_COMMAND_OK, NULL, what, err, errlen) ||
	    exec_ok(conn, MIGRATE_LOCK_SQL, 0, NULL, PGRES_TUPLES_OK, NULL, what, err, errlen) ||
	    exec_ok(conn, "SELECT 1 FROM schema_migrations WHERE version = $1", 1, p,
		    PGRES_TUPLES_OK, &res, what, err, errlen))
		return -1;
	done = PQntuples(res) > 0;
	PQclear(res);
	if (done)
		return exec_ok(conn, "COMMIT", 0, NULL, PGRES_COMMAND_OK, NULL, what, err, errlen);

	/* PQexec: a migration is several statements, which only the simple
	 * query protocol accepts; it stops at the first error and returns it
	 * as the last result. */
	res = PQexec(conn, m->sql);
	switch (PQresultStatus(res)) {
	case PGRES_COMMAND_OK:
	case PGRES_TUPLES_OK:
	case PGRES_EMPTY_QUERY:
		break;
	default:
		result_error(msg, sizeof msg, res);
		pos = PQresultErrorField(res, PG_DIAG_STATEMENT_POSITION);
		if (pos)
			snprintf(err, errlen, "migration %s failed at line %d: %s", m->name,
				 line_of(m->sql, strtol(pos, NULL, 10)), msg);
		else
			snprintf(err, errlen, "migration %s failed: %s", m->name, msg);
		PQclear(res);
		return -1;
	}
	PQclear(res);
	if (PQtransactionStatus(conn) != PQTRANS_INTRANS) {
		snprintf(err, errlen,
			 "migration %s must not contain BEGIN, COMMIT or ROLLBACK "
			 "(store_migrate wraps it in a transaction)",
			 m->name);
		return -1;
	}
	if (exec_ok(conn, "INSERT INTO schema_migrations (version) VALUES ($1)", 1, p,
		    PGRES_COMMAND_OK, NULL, what, err, errlen) ||
	    exec_ok(conn, "COMMIT", 0, NULL, PGRES_COMMAND_OK, NULL, what, err, errlen))
		return -1;
	return 1;
}

/* A blocking connection to `conninfo` as application `app_name`, or NULL
 * with err saying why; err never holds the conninfo or its password. */
static PGconn *connect_now(const char *conninfo, const char *app_name, char *err,
			   size_t errlen)
{
	const char *kw[] = { "fallback_application_name", "dbname", NULL };
	const char *val[] = { app_name, conninfo, NULL };
	char msg[RB_ERR_LEN];
	char *password;
	PGconn *conn;
	bool ok;

	if (!conninfo) {
		snprintf(err, errlen, "no database URL");
		return NULL;
	}
	password = conninfo_password(conninfo, &ok);
	if (!ok) {
		/* libpq's parse error may quote the string: do not pass it on. */
		snprintf(err, errlen, "the database URL is not a valid libpq URI or conninfo");
		return NULL;
	}
	conn = PQconnectdbParams(kw, val, 1);
	if (!conn || PQstatus(conn) != CONNECTION_OK) {
		scrub(msg, sizeof msg, conn ? PQerrorMessage(conn) : "out of memory", password,
		      conninfo);
		snprintf(err, errlen, "cannot connect to PostgreSQL: %s", msg);
		PQfinish(conn);
		free(password);
		return NULL;
	}
	free(password);
	PQsetNoticeReceiver(conn, notice_cb, NULL);
	return conn;
}

/* Applies the migrations schema_migrations does not list, in order, each in
 * its own transaction (see store.h). Blocking. Every transaction first takes
 * one advisory lock, so bots starting together apply each migration once and
 * never race on creating schema_migrations. Returns 0 with *applied set, or
 * STORE_ECONNECT / STORE_EMIGRATE with err naming the migration and quoting
 * PostgreSQL; err never holds the conninfo or its password. */
int store_migrate(const char *conninfo, const struct store_migration *migrations, size_t n,
		  int *applied, char *err, size_t errlen)
{
	char scratch[RB_ERR_LEN];
	PGconn *conn;
	int count = 0, rc = 0;

	if (!err || !errlen) {
		err = scratch;
		errlen = sizeof scratch;
	}
	err[0] = '\0';
	if (applied)
		*applied = 0;
	for (size_t i = 0; i < n; i++) {
		if (!migrations[i].name || !migrations[i].sql) {
			snprintf(err, errlen, "migration #%zu has no name or no SQL", i + 1);
			return STORE_EMIGRATE;
		}
		if (i > 0 && strcmp(migrations[i - 1].name, migrations[i].name) >= 0) {
			snprintf(err, errlen, "migrations out of order: %s after %s",
				 migrations[i].name, migrations[i - 1].name);
			return STORE_EMIGRATE;
		}
	}
	conn = connect_now(conninfo, "rollbot-migrate", err, errlen);
	if (!conn)
		return STORE_ECONNECT;

	if (exec_ok(conn, "BEGIN", 0, NULL, PGRES_COMMAND_OK, NULL, "schema_migrations", err,
		    errlen) ||
	    exec_ok(conn, MIGRATE_LOCK_SQL, 0, NULL, PGRES_TUPLES_OK, NULL, "schema_migrations",
		    err, errlen) ||
	    exec_ok(conn,
		    "CREATE TABLE IF NOT EXISTS schema_migrations ("
		    "version text PRIMARY KEY, "
		    "applied_at timestamptz NOT NULL DEFAULT now())",
		    0, NULL, PGRES_COMMAND_OK, NULL, "schema_migrations", err, errlen) ||
	    exec_ok(conn, "COMMIT", 0, NULL, PGRES_COMMAND_OK, NULL, "schema_migrations", err,
		    errlen)) {
		rc = STORE_EMIGRATE;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		int r = apply_one(conn, &migrations[i], err, errlen);

		if (r < 0) {
			rc = STORE_EMIGRATE;
			goto out;
		}
		if (r > 0) {
			count++;
			log_info("store: applied migration name=%s", migrations[i].name);
		}
	}
out:
	if (rc && PQtransactionStatus(conn) != PQTRANS_IDLE)
		PQclear(PQexec(conn, "ROLLBACK"));
	PQfinish(conn);
	if (applied)
		*applied = count;
	return rc;
}

/* ---- one command, blocking (the command line) -------------------------- */

/* Connects, runs the one command and disconnects (see store.h). */
int store_query_now(const char *conninfo, const char *sql, int nparams,
		    const char *const *params, store_cb cb, void *arg, char *err, size_t errlen)
{
	char scratch[RB_ERR_LEN], msg[RB_ERR_LEN];
	PGconn *conn;
	PGresult *res;

	if (!err || !errlen) {
		err = scratch;
		errlen = sizeof scratch;
	}
	err[0] = '\0';
	conn = connect_now(conninfo, "rollbot", err, errlen);
	if (!conn)
		return STORE_ECONNECT;
	res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK) {
		result_error(msg, sizeof msg, res);
		snprintf(err, errlen, "%s", msg);
		PQclear(res);
		PQfinish(conn);
		return STORE_EQUERY;
	}
	if (cb)
		cb(arg, 0, res, NULL);
	PQclear(res);
	PQfinish(conn);
	return 0;
}
