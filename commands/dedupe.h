/* rollbot — recognising what Slack delivers twice (MIT licence).
 *
 * A set of delivery keys (envelope_id, event_id, trigger_id) that forgets
 * each key `ttl_ms` after it was first seen. Slack retries an unacked event
 * up to ~5 minutes after the first delivery, so the shell keeps keys for 10
 * minutes (slack-protocol.md §3.3). The database keeps its own record for
 * what must survive a restart (processed_deliveries); this set answers in
 * the ack path without any I/O. Pure: time is passed in.
 */
#ifndef DEDUPE_H
#define DEDUPE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rb.h"

struct dd_set; /* opaque */

/* New empty set; free with dd_free. `max_keys` bounds memory: past it the
 * oldest keys are forgotten first. */
struct dd_set *dd_new(int64_t ttl_ms, size_t max_keys);
void dd_free(struct dd_set *dd);

/* Records `key` as seen at `now_ms`. Returns true when it was already seen
 * within the TTL (a duplicate), false when it is new. */
bool dd_seen(struct dd_set *dd, const char *key, int64_t now_ms);

/* Keys currently remembered. */
size_t dd_count(const struct dd_set *dd);

#endif
