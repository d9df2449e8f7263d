/* rollbot — Slack Socket Mode client (MIT licence, see LICENSE).
 *
 * Keeps a websocket to Slack open and turns what arrives into envelopes
 * for the shell, acknowledging each one before anything else happens to it
 * (slack-protocol.md §3). libwebsockets 4.1 runs on the shared libuv loop
 * (c-models.md §2). Every connection starts with apps.connections.open (a
 * ticket works once); `hello` is awaited before a socket counts; a
 * `disconnect` asking for a refresh opens the replacement first and drops
 * the old socket only once the new one has said hello (make-before-break);
 * a closed or silent socket is replaced with exponential backoff and
 * jitter; at most two sockets are ever open.
 */
#ifndef SM_H
#define SM_H

#include <jansson.h>
#include <stdbool.h>
#include <uv.h>

#include "api.h"

struct sm; /* opaque */

struct sm_callbacks {
	/* Called for every envelope (a message with an envelope_id) while it
	 * is being received, to build the ack: returns the ack's payload (a
	 * new reference) or NULL for a plain ack. It must not do I/O: the ack
	 * waits for it. `env` is borrowed. It may leave in *verdict (NULL on
	 * entry) what it decided, so that dispatch acts on exactly what the
	 * ack said without deciding again: an opaque pointer that the client
	 * keeps with the envelope and owns from then on. */
	json_t *(*ack_payload)(void *arg, json_t *env, void **verdict);
	/* Called once per envelope after its ack was written (or after its
	 * socket died before the ack could go): act on it now. `env` and
	 * `verdict` (ack_payload's, or NULL) are borrowed. */
	void (*dispatch)(void *arg, json_t *env, void *verdict);
	/* Frees a verdict ack_payload left, once, after its dispatch. */
	void (*verdict_free)(void *verdict);
	/* Slack refused the app token for good (invalid_auth, not_authed, …):
	 * the bot cannot work. `error` is Slack's code. May be NULL. */
	void (*fatal)(void *arg, const char *error);
};

struct sm_options {
	const char *ca_file; /* extra CA for a test TLS server, or NULL */
	int ping_s;          /* ping after this long without proof of life (default 4) */
	int dead_s;          /* hang up after this long without any (default 8) */
	int hello_timeout_s; /* a socket that says nothing this long is replaced (default 10) */
};

/* Creates the client. `api` (borrowed, must outlive it) makes the
 * apps.connections.open calls. Returns NULL if libwebsockets cannot be
 * initialised on the loop (its libuv plugin missing), after logging why. */
struct sm *sm_new(uv_loop_t *loop, struct api *api, const struct sm_options *opt,
		  const struct sm_callbacks *cb, void *cb_arg);

/* Starts connecting; reconnects by itself from then on. */
void sm_start(struct sm *sm);

/* Stops: no new connection, queued acks are written, sockets are closed
 * (cut after one second if Slack does not finish the close handshake),
 * then libwebsockets is torn down and `done` is called once. */
void sm_stop(struct sm *sm, void (*done)(void *arg), void *arg);

/* Frees the client after sm_stop's `done`, after api_free() of its api (an
 * apps.connections.open in flight calls back into the client until then)
 * and after the loop has run dry: libwebsockets finishes its teardown on a
 * foreign loop only then. Accepts NULL. */
void sm_free(struct sm *sm);

/* True while at least one socket has said hello. */
bool sm_connected(const struct sm *sm);

/* Counters for /metrics and the logs. */
#define SM_ACK_BUCKETS 9
/* Upper bounds (µs) of the ack-time histogram buckets; the last is +Inf. */
extern const unsigned sm_ack_bucket_us[SM_ACK_BUCKETS - 1];

struct sm_stats {
	unsigned long envelopes;
	unsigned long acks;
	unsigned long connects;
	unsigned long disconnects;
	/* Time from the envelope's last byte read to its ack written, inside
	 * the bot (the network and Slack's side are not in it). */
	unsigned long ack_us_bucket[SM_ACK_BUCKETS]; /* not cumulative */
	unsigned long long ack_us_sum;
};
void sm_get_stats(const struct sm *sm, struct sm_stats *out);

#endif
