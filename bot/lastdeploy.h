/* rollbot — the last deploy of a service, from its tool's revision history
 * (MIT licence, see LICENSE).
 *
 * What /rollback assess and a proposal show: the revision running, when it
 * was deployed (helm says; kubectl does not), and the previous one. Read
 * the way the rollback itself reads it to pick its target (the method's
 * history command, run with argv, on the loop, with a timeout), best
 * effort: when it cannot be read, `why` says so.
 */
#ifndef LASTDEPLOY_H
#define LASTDEPLOY_H

#include <stdbool.h>

#include "../commands/parse.h"

struct app;

struct lastdeploy {
	bool known;                   /* the history was read and parsed */
	char running[CMD_TARGET_MAX]; /* "" when the output names none */
	char at[64];                  /* when it was deployed, for people; "" unknown */
	char previous[CMD_TARGET_MAX]; /* "" when there is none */
	char why[128];                /* !known: "the history command timed out", … */
};

/* "revision 42 is running (deployed 2026-03-02 09:14 UTC); the previous
 * one is 41", or when not known, `why`. */
void lastdeploy_text(const struct lastdeploy *d, char *out, size_t len);

typedef void (*lastdeploy_cb)(void *arg, const struct lastdeploy *d);

/* Starts reading the history of `service`, the command's own timeout capped
 * at max_ms (0: not capped). Returns 0 and calls cb later, or -1 with *d
 * saying why (cb is not called): no history kept by this method, or the
 * command could not start. */
int lastdeploy_read(struct app *app, const char *service, long max_ms, struct lastdeploy *d,
		    lastdeploy_cb cb, void *arg);

#endif
