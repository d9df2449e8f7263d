/* rollbot — Slack Web API client (MIT licence, see LICENSE).
 *
 * Every HTTPS call rollbot makes to Slack (chat.*, reactions.*, auth.test,
 * apps.connections.open, files.*, response_url posts) goes through here:
 * libcurl's multi interface on the libuv loop (c-models.md §3.3), never a
 * blocking call. Errors are Slack's: HTTP 200 with ok:false. The client
 * retries what is worth retrying (429 after Retry-After; 5xx, timeouts and
 * transport errors with exponential backoff) and reports everything else
 * once. Calls are paced to Slack's rate limits (pace.h), a 429 holds back
 * every call of that method (of chat.postMessage: to that channel) until
 * Retry-After has passed, and chat.postMessage calls to one thread (or to
 * a channel's top level) go out one after the other, in the order they
 * were made: each waits for the answer to the one before. Tokens only ever travel in the Authorization header and are never
 * logged.
 */
#ifndef API_H
#define API_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <uv.h>

#include "../commands/rb.h"
#include "pace.h"

enum {
	API_ESHUTDOWN = -50, /* the client was freed before the call finished */
	API_EBUSY = -51,     /* too many calls in flight (API_MAX_INFLIGHT queued) */
};

#define API_MAX_ATTEMPTS 5 /* first try + 4 retries; 429s do not count */
#define API_MAX_LIMITED 60 /* 429s before a call gives up (an hour at most) */

struct api; /* opaque */

/* What a finished call hands its callback. Everything is borrowed: valid
 * only during the callback. */
struct api_result {
	bool ok;            /* HTTP 200 and "ok":true */
	const char *error;  /* Slack's error code ("not_in_channel"), or for
			       transport failures "http_500", "timeout",
			       "ratelimited", "transport: <curl text>",
			       "shutdown"; NULL when ok */
	long http_status;   /* 0 when no response */
	json_t *body;       /* the parsed JSON response, or NULL */
	const char *raw;    /* the raw response body ("" when none) */
	int attempts;       /* how many tries it took */
};

typedef void (*api_cb)(void *arg, const struct api_result *res);

struct api_options {
	const char *base_url;   /* "https://slack.com/api/" (trailing slash optional) */
	const char *bot_token;  /* xoxb-… */
	const char *app_token;  /* xapp-… (only for apps.connections.open) */
	long timeout_ms;        /* per attempt; default 10000 */
	long retry_base_ms;     /* first backoff; default 1000, doubles, capped at 30 s */
	long max_retry_after_ms; /* ceiling on a 429's Retry-After; default 60000 */
	const char *ca_file;    /* extra CA file for tests, or NULL */
	struct pace_options pace; /* Slack's rate limits (pace.h); zeros: defaults */
};

/* Creates a client on `loop`. Strings are copied. Never fails (aborts on
 * exhaustion); returns a new client, free with api_free. */
struct api *api_new(uv_loop_t *loop, const struct api_options *opt);

/* Cancels every call in flight (their callbacks run with error "shutdown",
 * synchronously, before this returns), closes the loop handles and frees the
 * client once they are closed. Accepts NULL. The loop must run afterwards
 * for the handles to close. May be called from inside an api_cb; api_call
 * from a callback is fine too (it returns API_ESHUTDOWN once freed). */
void api_free(struct api *api);

/* Calls Web API `method` with `args` (stolen: a new reference is consumed,
 * even on error). chat.* and files.completeUploadExternal are sent as JSON
 * (application/json; charset=utf-8); every other method as a form body,
 * complex values JSON-encoded. apps.connections.open uses the app token,
 * everything else the bot token. Returns 0 and calls cb exactly once later,
 * or a negative code and never calls cb. */
int api_call(struct api *api, const char *method, json_t *args, api_cb cb, void *arg) RB_MUSTCHECK;

/* Asked before each retry of an api_call_until_answered call: false ends
 * it with error "not_wanted" (say, the incident is another replica's now,
 * and its post is that replica's to make). */
typedef bool (*api_wanted_fn)(void *arg);

/* api_call for what must not be dropped (a post about an incident): a
 * failure worth retrying (5xx, a timeout, a transport error, 429) is
 * retried with no attempt limit, backoff capped at 30 s, until Slack
 * answers for good, `wanted` (NULL: always) says no more, or the client is
 * freed ("shutdown": the post's outbox row stays open for whoever carries
 * on). */
int api_call_until_answered(struct api *api, const char *method, json_t *args, api_cb cb,
			    void *arg, api_wanted_fn wanted) RB_MUSTCHECK;

/* POSTs `body` (copied, `len` bytes) with `content_type` to an absolute
 * URL with no token: response_url replies and the file-upload step. The
 * result's `ok` is true for any 2xx status (body may be NULL if not JSON).
 * Same callback contract as api_call. */
int api_post_url(struct api *api, const char *url, const char *content_type,
		 const char *body, size_t len, api_cb cb, void *arg) RB_MUSTCHECK;

/* GETs an absolute http(s) URL with no token; ok = 2xx. Same callback
 * contract as api_call. */
int api_get_url(struct api *api, const char *url, api_cb cb, void *arg) RB_MUSTCHECK;

/* A probe: GETs an absolute http(s) URL once, with no token and no retry
 * (a 503 from a health check is the answer, not a reason to wait), within
 * timeout_ms. ok = 2xx; http_status and raw carry the answer. Same callback
 * contract as api_call. */
int api_probe_url(struct api *api, const char *url, long timeout_ms, api_cb cb,
		  void *arg) RB_MUSTCHECK;

/* Calls in flight or waiting for a retry. */
int api_pending(const struct api *api);

/* api_call_until_answered calls that failed API_MAX_ATTEMPTS times or
 * more and still wait for Slack, with the last one's error in *last_error
 * (borrowed until the next call); for /ready. */
int api_refused(const struct api *api, const char **last_error);

/* What Slack has rate-limited and is still paused ("chat.postMessage in
 * C…", borrowed until the next call), with the ms left and the calls held
 * back; NULL when nothing is. For /ready and the log. */
const char *api_paused(struct api *api, uint64_t *left_ms, int *held);

#endif
