/* rollbot — proposals: a rollback offered in the incidents channel, started
 * by one ✅ (MIT licence, see LICENSE).
 *
 * The watcher (bot/watcher.c) and the Alertmanager webhook (bot/
 * alertmanager.c) offer a proposal; this file records it (the database
 * decides, across replicas, whether the service's episode already has one
 * or an incident holds the service), then posts it. A ✅ on it takes it
 * (the first one only, before it expires) and declares the incident as the
 * person who reacted, with the same command the proposal showed, so the
 * requester rule holds: that person cannot approve it. The incident's
 * first audit rows include `detected`, when and what was seen.
 */
#ifndef PROPOSAL_H
#define PROPOSAL_H

#include <stdint.h>

#include "shell.h"

struct proposal_offer {
	const char *service;
	const char *source;   /* "watcher" or "alertmanager" */
	const char *trigger;  /* "errors", "latency", "health", "alert" */
	const char *summary;  /* "error rate 8.0% above 5.0% since 23:38:00 UTC" */
	const char *figures;  /* one line per figure against its threshold */
	json_t *figures_json; /* borrowed: for the report */
	const char *severity; /* "P1" */
	int64_t detected_wall_ms; /* Unix ms: since when the trigger held */
	int64_t expiry_ms;
};

/* Records the offer and, when the database says this is the episode's
 * first, posts it. Fire and forget; logged. */
void proposal_offer(struct app *app, const struct proposal_offer *o);

/* The post of proposal `id`, recorded before a restart, claimed by
 * chanpost.c: found_ts when it went out then, else it is posted now. */
void proposal_repost(struct app *app, int64_t id, const char *service, const json_t *args,
		     const char *found_ts);

/* A ✅ added by `user` (not the bot) on a message in an incidents channel:
 * when it is a proposal's, takes it. */
void proposal_reaction(struct app *app, const char *channel, const char *ts, const char *user);

/* "HH:MM:SS UTC" of a Unix ms time, in display_timezone ("… CET") when set. */
void proposal_clock(int64_t wall_ms, char *out, size_t len);

#endif
