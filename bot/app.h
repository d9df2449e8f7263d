/* rollbot — the daemon's shell (MIT licence, see LICENSE).
 *
 * Wires the adapters (Socket Mode, Web API, PostgreSQL) to the decisions
 * in commands/: turns envelopes into commands and events, hands events to
 * inc_step(), and carries out the actions it returns. It decides nothing
 * that commands/ could decide. This is its face to main.c; its parts (one
 * concern per file, app_run in loop.c) share bot/shell.h.
 */
#ifndef APP_H
#define APP_H

#include <stdbool.h>

#include "config.h"

struct app_options {
	const struct config *cfg; /* borrowed; outlives the run */
	const char *api_url;      /* SLACK_API_URL or https://slack.com/api/ */
	const char *app_token;    /* xapp-… */
	const char *bot_token;    /* xoxb-… */
	const char *database_url;
	const char *ca_file;      /* extra CA (tests), or NULL */
	int sm_ping_s;            /* 0 = default */
	int sm_dead_s;
	/* ROLLBOT_SLACK_PACING=off: no client-side pacing, only Slack's 429s
	 * (the benchmark, which measures rollbot rather than Slack's limits) */
	bool pacing_off;
	/* This replica's name among several on one database (ROLLBOT_REPLICA),
	 * or NULL: "host:pid". A restart under the same name takes its
	 * incidents back at once; under a new one, once their leases run out. */
	const char *replica;
};

/* Runs the bot until SIGTERM/SIGINT (exit code 0 after draining) or a
 * fatal error (non-zero). Templates must load; migrations must already be
 * applied. */
int app_run(const struct app_options *opt);

#endif
