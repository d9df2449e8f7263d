/* rollbot — the programs a service's rollback runs, and whether this
 * machine has them (MIT licence, see LICENSE).
 *
 * A rollback that stops at "kubectl: not found" after the announcement has
 * already called everyone in: the programs are looked for at start, by
 * check-config, on /ready and before each /rollback is accepted. Looking
 * is stat() and access() on PATH's folders, as execvp would search them:
 * nothing is spawned, nothing blocks on the network.
 */
#ifndef TOOLS_H
#define TOOLS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

#define TOOLS_MAX 4

/* Used when PATH is unset, as execvp does (glibc's default search path). */
#define TOOLS_DEFAULT_PATH "/bin:/usr/bin"

/* The programs svc's rollback runs, in the order it runs them: the method's
 * (kubectl, helm, docker, aws, or the script's path; its status command
 * and the step that finds the target run the same program), then
 * db_rollback's argv[0] when with_db and one is configured. A flag
 * service runs none. Pure: fills out (borrowed strings) and returns the
 * count, duplicates left out. */
size_t tools_needed(const struct config_service *svc, bool with_db, const char *out[TOOLS_MAX]);

/* Whether prog can be run: a name with a '/' is taken as is, any other is
 * looked for in each folder of path (NULL = the bot's PATH), an empty entry
 * meaning the current folder. Found means a regular file this process may
 * execute. */
bool tools_found(const char *prog, const char *path);

/* The first program svc's rollback runs that is not found, or NULL. */
const char *tools_missing(const struct config_service *svc, bool with_db, const char *path);

/* The bot's PATH, or TOOLS_DEFAULT_PATH when it has none. */
const char *tools_path(void);

/* Why prog cannot be run, for people: "kubectl is not on PATH
 * (/usr/bin:/bin)" or "/opt/x/rollback is missing or not executable".
 * Returns buf. */
const char *tools_why(const char *prog, const char *path, char *buf, size_t len);

/* The same, short, for /ready: "kubectl not found on PATH" or
 * "/opt/x/rollback missing or not executable". Returns buf. */
const char *tools_why_short(const char *prog, char *buf, size_t len);

/* One line per program of cfg's services that is not found (db_rollback's
 * included): "WHY: needed by a, b --with-db\n", for check-config and the
 * start. NULL when every one is found; else the caller frees it. */
char *tools_report(const struct config *cfg, const char *path);

#endif
