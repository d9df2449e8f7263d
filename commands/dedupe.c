/* rollbot — recognising what Slack delivers twice (MIT licence).
 *
 * An open hash table (chaining) plus a FIFO of keys in arrival order. Since
 * every key has the same TTL, the FIFO is also expiry order, so pruning
 * only ever looks at its head: O(1) amortised per call.
 */
#include "dedupe.h"

#include <stdlib.h>
#include <string.h>

struct dd_entry {
	struct dd_entry *chain;    /* next in the bucket */
	struct dd_entry *fifo_next; /* next newer key */
	int64_t seen_ms;
	uint64_t hash;
	char key[];
};

struct dd_set {
	struct dd_entry **buckets;
	size_t n_buckets;
	size_t count;
	size_t max_keys;
	int64_t ttl_ms;
	struct dd_entry *oldest;
	struct dd_entry *newest;
};

static uint64_t hash_key(const char *s)
{
	uint64_t h = 1469598103934665603ull; /* FNV-1a */

	for (; *s; s++) {
		h ^= (unsigned char)*s;
		h *= 1099511628211ull;
	}
	return h;
}

struct dd_set *dd_new(int64_t ttl_ms, size_t max_keys)
{
	struct dd_set *dd = rb_calloc(1, sizeof *dd);

	/* Start small and double with the load (grow()): a quiet bot keeps a
	 * few kilobytes, not a table sized for the worst burst. */
	dd->n_buckets = 256;
	dd->buckets = rb_calloc(dd->n_buckets, sizeof *dd->buckets);
	dd->ttl_ms = ttl_ms;
	dd->max_keys = max_keys ? max_keys : 1;
	return dd;
}

/* Unlinks and frees the oldest entry. */
static void drop_oldest(struct dd_set *dd)
{
	struct dd_entry *e = dd->oldest, **pp;

	pp = &dd->buckets[e->hash & (dd->n_buckets - 1)];
	while (*pp != e)
		pp = &(*pp)->chain;
	*pp = e->chain;
	dd->oldest = e->fifo_next;
	if (!dd->oldest)
		dd->newest = NULL;
	dd->count--;
	free(e);
}

void dd_free(struct dd_set *dd)
{
	if (!dd)
		return;
	while (dd->oldest)
		drop_oldest(dd);
	free(dd->buckets);
	free(dd);
}

/* Doubles the bucket array once there are more keys than buckets. */
static void grow(struct dd_set *dd)
{
	size_t n = dd->n_buckets * 2;
	struct dd_entry **b;

	if (dd->count < dd->n_buckets || n > (1u << 22))
		return;
	b = rb_calloc(n, sizeof *b);
	for (size_t i = 0; i < dd->n_buckets; i++) {
		struct dd_entry *e = dd->buckets[i], *next;
		for (; e; e = next) {
			next = e->chain;
			e->chain = b[e->hash & (n - 1)];
			b[e->hash & (n - 1)] = e;
		}
	}
	free(dd->buckets);
	dd->buckets = b;
	dd->n_buckets = n;
}

bool dd_seen(struct dd_set *dd, const char *key, int64_t now_ms)
{
	uint64_t h = hash_key(key);
	struct dd_entry *e;
	size_t len;

	while (dd->oldest && now_ms - dd->oldest->seen_ms >= dd->ttl_ms)
		drop_oldest(dd);
	for (e = dd->buckets[h & (dd->n_buckets - 1)]; e; e = e->chain)
		if (e->hash == h && !strcmp(e->key, key))
			return true;
	if (dd->count >= dd->max_keys)
		drop_oldest(dd);
	grow(dd);
	len = strlen(key);
	e = rb_malloc(sizeof *e + len + 1);
	memcpy(e->key, key, len + 1);
	e->hash = h;
	e->seen_ms = now_ms;
	e->fifo_next = NULL;
	e->chain = dd->buckets[h & (dd->n_buckets - 1)];
	dd->buckets[h & (dd->n_buckets - 1)] = e;
	if (dd->newest)
		dd->newest->fifo_next = e;
	else
		dd->oldest = e;
	dd->newest = e;
	dd->count++;
	return false;
}

size_t dd_count(const struct dd_set *dd)
{
	return dd->count;
}
