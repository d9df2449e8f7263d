/* rollbot — PagerDuty Events API v2 client (MIT licence, see LICENSE).
 *
 * Runbook 001 pages PagerDuty when a rollback needs people: rollbot
 * triggers an event when an approval request is escalated and resolves it
 * when the incident is decided or ends, one dedup_key per incident
 * ("rollbot-INC-2026-0001"). Fire-and-forget over the API client's libcurl
 * multi handle (api_post_url): never blocks the loop, retried with backoff
 * on 429, 5xx and network errors a bounded number of times (api.h), a 400
 * is final. Failures are logged; the routing key never is. */
#ifndef ROLLBOT_PAGERDUTY_H
#define ROLLBOT_PAGERDUTY_H

#include <jansson.h>

#include "api.h"

#define PD_DEFAULT_URL "https://events.pagerduty.com/v2/enqueue"

struct pagerduty; /* opaque */

/* From PAGERDUTY_ROUTING_KEY and PAGERDUTY_URL (tests) in the environment:
 * NULL when no routing key is set (PagerDuty is then off). */
struct pagerduty *pd_from_env(struct api *api);
void pd_free(struct pagerduty *pd);

/* The event's JSON (new reference): `action` "trigger" or "resolve"; a
 * trigger's payload is summary, source, severity ("critical", "error",
 * "warning", "info"). Exposed for the unit test. */
json_t *pd_event_json(const char *routing_key, const char *action, const char *dedup_key,
		      const char *summary, const char *severity, const char *source);

/* PagerDuty's severity for an incident's (P0–P3 as 0–3): critical for
 * P0/P1, error for P2, warning for P3. */
const char *pd_severity(int sev);

/* Sends; returns at once. No-ops when pd is NULL (cb is then not
 * called). cb (may be NULL) gets PagerDuty's last answer, once, after the
 * retries: ok when it accepted the event. */
void pd_trigger(struct pagerduty *pd, const char *dedup_key, const char *summary,
		const char *severity, const char *source, api_cb cb, void *arg);
void pd_resolve(struct pagerduty *pd, const char *dedup_key, api_cb cb, void *arg);

#endif
