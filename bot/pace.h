/* rollbot — pacing Web API calls to Slack's rate limits (MIT licence, see
 * LICENSE).
 *
 * Slack limits each Web API method by tier (https://api.slack.com/docs/rate-limits:
 * Tier 1 about 1 call a minute, Tier 2 20, Tier 3 50, Tier 4 100, bursts
 * tolerated) and chat.postMessage by channel: about one message a second,
 * short bursts allowed. Over a limit it answers HTTP 429 with Retry-After,
 * and each call sent inside that window counts as a further violation.
 *
 * This is the bookkeeping, with time passed in (milliseconds, any
 * monotonic origin) so that it is tested without a loop: one token bucket
 * per method of a tier, one per channel for chat.postMessage, and a pause
 * for each that Slack rate-limited, which holds back every call behind it
 * until Retry-After has passed. The Web API client (api.c) asks before it
 * starts a call and tells it about each 429.
 */
#ifndef PACE_H
#define PACE_H

#include <stdbool.h>
#include <stdint.h>

struct pace; /* opaque */

struct pace_options {
	/* chat.postMessage per channel: the steady rate and the burst (0:
	 * the defaults). */
	double posts_per_s; /* default 1 */
	int post_burst;     /* default 3 */
	bool off; /* no buckets at all, only 429 pauses: the benchmark, which
		     measures rollbot rather than Slack's limits */
};

struct pace *pace_new(const struct pace_options *opt);
void pace_free(struct pace *p);

/* How long a call of `method` (for chat.postMessage, to `channel`; NULL
 * otherwise) must wait at now_ms before it may start: 0 = now. */
uint64_t pace_wait(struct pace *p, const char *method, const char *channel, uint64_t now_ms);

/* The call starts now: it takes its token(s). */
void pace_take(struct pace *p, const char *method, const char *channel, uint64_t now_ms);

/* Slack answered 429 for `method` (chat.postMessage: for `channel`): every
 * call behind it waits until until_ms. */
void pace_pause(struct pace *p, const char *method, const char *channel, uint64_t now_ms,
		uint64_t until_ms);

/* The pause with the latest end still running at now_ms, as "METHOD" or
 * "chat.postMessage in CHANNEL" (borrowed, until the next call), with the
 * ms left in *left_ms; NULL when nothing is paused. */
const char *pace_paused(struct pace *p, uint64_t now_ms, uint64_t *left_ms);

#endif
