/* rollbot — pacing Web API calls to Slack's rate limits (MIT licence, see
 * LICENSE).
 *
 * DESIGN
 *
 * Entries are kept in one small array, found by key ("m METHOD" or
 * "c CHANNEL"): rollbot calls a dozen methods and posts in a handful of
 * channels. An entry is a token bucket (tokens refill at `rate` per ms up
 * to `cap`) and a pause end. A method's bucket holds a minute of its tier,
 * so a burst of that size goes out at once and only a runaway loop is
 * slowed; a channel's holds post_burst posts and refills at posts_per_s.
 * Entries that are full and not paused carry no information and are
 * dropped once the array grows, so it stays small however many channels
 * were ever posted to.
 */
#include "pace.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../commands/rb.h"

#define KEY_MAX 96
#define PRUNE_AT 64 /* entries before full, idle ones are dropped */

struct entry {
	char key[KEY_MAX];
	double tokens, cap, rate; /* rate: tokens per ms; cap 0 = no bucket */
	uint64_t last_ms;         /* when tokens was last brought up to date */
	uint64_t paused_until;    /* 0 = not paused */
};

struct pace {
	struct pace_options opt;
	struct entry *e;
	size_t n, cap;
	char what[KEY_MAX + 32];
};

/* A method's tier, as calls per minute (https://api.slack.com/methods,
 * each method's "Rate limits"); 0 = not paced by method: chat.postMessage
 * is paced per channel, auth.test is "special" (thousands an hour), and
 * apps.connections.open (Tier 1) must not hold back a reconnect: Slack's
 * own SDKs reconnect at once, and its 429 still pauses it. */
static int tier_per_min(const char *method)
{
	static const struct {
		const char *method;
		int per_min;
	} tiers[] = {
		{ "usergroups.users.list", 20 },       /* Tier 2 */
		{ "conversations.replies", 50 },       /* Tier 3 */
		{ "conversations.history", 50 },       /* Tier 3 */
		{ "conversations.info", 50 },          /* Tier 3 */
		{ "reactions.add", 50 },               /* Tier 3 */
		{ "reactions.get", 50 },               /* Tier 3 */
		{ "chat.update", 50 },                 /* Tier 3 */
		{ "chat.postEphemeral", 100 },         /* Tier 4 */
		{ "users.info", 100 },                 /* Tier 4 */
		{ "files.getUploadURLExternal", 100 }, /* Tier 4 */
		{ "files.completeUploadExternal", 100 }, /* Tier 4 */
	};

	if (!strcmp(method, "chat.postMessage") || !strcmp(method, "auth.test") ||
	    !strcmp(method, "apps.connections.open"))
		return 0;
	for (size_t i = 0; i < RB_ARRAY_LEN(tiers); i++)
		if (!strcmp(tiers[i].method, method))
			return tiers[i].per_min;
	return 50; /* any other method: Tier 3, the most common */
}

struct pace *pace_new(const struct pace_options *opt)
{
	struct pace *p = rb_calloc(1, sizeof *p);

	if (opt)
		p->opt = *opt;
	if (p->opt.posts_per_s <= 0)
		p->opt.posts_per_s = 1.0;
	if (p->opt.post_burst < 1)
		p->opt.post_burst = 3;
	return p;
}

void pace_free(struct pace *p)
{
	if (!p)
		return;
	free(p->e);
	free(p);
}

static void make_key(char *key, const char *method, const char *channel)
{
	if (channel && !strcmp(method, "chat.postMessage"))
		snprintf(key, KEY_MAX, "c %s", channel);
	else
		snprintf(key, KEY_MAX, "m %s", method);
}

static struct entry *find(struct pace *p, const char *key)
{
	for (size_t i = 0; i < p->n; i++)
		if (!strcmp(p->e[i].key, key))
			return &p->e[i];
	return NULL;
}

static void refill(struct entry *e, uint64_t now_ms)
{
	if (e->cap > 0 && now_ms > e->last_ms) {
		e->tokens += (double)(now_ms - e->last_ms) * e->rate;
		if (e->tokens > e->cap)
			e->tokens = e->cap;
	}
	if (now_ms > e->last_ms)
		e->last_ms = now_ms;
	if (e->paused_until && e->paused_until <= now_ms)
		e->paused_until = 0;
}

/* Drops the entries that say nothing: full buckets, no pause. */
static void prune(struct pace *p, uint64_t now_ms)
{
	size_t k = 0;

	for (size_t i = 0; i < p->n; i++) {
		refill(&p->e[i], now_ms);
		if (p->e[i].paused_until || p->e[i].tokens < p->e[i].cap)
			p->e[k++] = p->e[i];
	}
	p->n = k;
}

/* The entry for key, made (full) when missing. */
static struct entry *get(struct pace *p, const char *method, const char *channel,
			 uint64_t now_ms)
{
	char key[KEY_MAX];
	struct entry *e;

	make_key(key, method, channel);
	e = find(p, key);
	if (e)
		return e;
	if (p->n >= PRUNE_AT)
		prune(p, now_ms);
	if (p->n == p->cap) {
		p->cap = p->cap ? 2 * p->cap : 8;
		p->e = rb_realloc(p->e, p->cap * sizeof *p->e);
	}
	e = &p->e[p->n++];
	memset(e, 0, sizeof *e);
	memcpy(e->key, key, sizeof e->key);
	e->last_ms = now_ms;
	if (p->opt.off) {
		/* no bucket */
	} else if (key[0] == 'c' && p->opt.posts_per_s > 0) {
		e->cap = p->opt.post_burst;
		e->rate = p->opt.posts_per_s / 1000.0;
	} else if (key[0] == 'm' && tier_per_min(method) > 0) {
		e->cap = tier_per_min(method);
		e->rate = e->cap / 60000.0;
	}
	e->tokens = e->cap;
	return e;
}

static uint64_t entry_wait(struct entry *e, uint64_t now_ms)
{
	uint64_t w = 0;

	refill(e, now_ms);
	if (e->paused_until > now_ms)
		w = e->paused_until - now_ms;
	if (e->cap > 0 && e->tokens < 1.0) {
		uint64_t t = (uint64_t)((1.0 - e->tokens) / e->rate) + 1;

		if (t > w)
			w = t;
	}
	return w;
}

uint64_t pace_wait(struct pace *p, const char *method, const char *channel, uint64_t now_ms)
{
	char key[KEY_MAX];
	struct entry *e;
	uint64_t w = 0, t;

	make_key(key, method, NULL);
	e = find(p, key);
	if (e)
		w = entry_wait(e, now_ms);
	if (channel && !strcmp(method, "chat.postMessage")) {
		make_key(key, method, channel);
		e = find(p, key);
		t = e ? entry_wait(e, now_ms) : 0;
		if (t > w)
			w = t;
	}
	return w;
}

void pace_take(struct pace *p, const char *method, const char *channel, uint64_t now_ms)
{
	struct entry *e = get(p, method, NULL, now_ms);

	refill(e, now_ms);
	if (e->cap > 0)
		e->tokens -= 1.0;
	if (channel && !strcmp(method, "chat.postMessage")) {
		e = get(p, method, channel, now_ms);
		refill(e, now_ms);
		if (e->cap > 0)
			e->tokens -= 1.0;
	}
}

void pace_pause(struct pace *p, const char *method, const char *channel, uint64_t now_ms,
		uint64_t until_ms)
{
	struct entry *e = get(p, method, channel, now_ms);

	if (until_ms > e->paused_until)
		e->paused_until = until_ms;
}

const char *pace_paused(struct pace *p, uint64_t now_ms, uint64_t *left_ms)
{
	const struct entry *best = NULL;

	for (size_t i = 0; i < p->n; i++)
		if (p->e[i].paused_until > now_ms &&
		    (!best || p->e[i].paused_until > best->paused_until))
			best = &p->e[i];
	if (!best)
		return NULL;
	if (left_ms)
		*left_ms = best->paused_until - now_ms;
	if (best->key[0] == 'c')
		snprintf(p->what, sizeof p->what, "chat.postMessage in %s", best->key + 2);
	else
		snprintf(p->what, sizeof p->what, "%s", best->key + 2);
	return p->what;
}
