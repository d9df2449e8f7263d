/* rollbot — the watcher: reads each watched service's figures on schedule
 * and proposes a rollback when a trigger holds (MIT licence, see LICENSE).
 */
#ifndef WATCHER_H
#define WATCHER_H

struct app;

/* Starts a timer per service with a `watch:` block. */
void watcher_start(struct app *app);
/* Stops them; memory goes once the loop has closed the handles. */
void watcher_stop(struct app *app);
/* After the loop has run its last turn. */
void watcher_free(struct app *app);

#endif
