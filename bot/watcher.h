/* rollbot — the watcher: reads each watched service's figures on schedule
 * and proposes a rollback when a trigger holds (MIT licence, see LICENSE).
 */
#ifndef WATCHER_H
#define WATCHER_H

struct app;
struct config_service;

/* Starts a timer per service with a `watch:` block. */
void watcher_start(struct app *app);
/* Stops them; memory goes once the loop has closed the handles. */
void watcher_stop(struct app *app);
/* The p99 above which the service is degraded, in seconds: its watch
 * block's threshold when it has one (what the watcher proposes on), else
 * its verification's. /rollback assess judges p99 against this too. */
double watch_p99_threshold_s(const struct config_service *svc);
/* After the loop has run its last turn. */
void watcher_free(struct app *app);

#endif
