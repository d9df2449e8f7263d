/* rollbot — reading an incident's record for its report (MIT licence, see LICENSE).
 *
 * The report is built from the audit log alone (commands/report.c). This
 * is the one query that reads it, and the one place that turns its result
 * into report_data's input, shared by the daemon (asynchronously, through
 * store.c) and by `rollbot report` on the command line (synchronously).
 */
#ifndef REPORTS_H
#define REPORTS_H

#include <jansson.h>
#include <libpq-fe.h>

/* SQL for a timestamptz as the report reads times (commands/report.h):
 * "2026-11-23T15:17:02.123Z", UTC. `col` is an SQL expression literal. */
#define ISO_UTC(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')"

/* One row per incident: the incident's columns (channel is column 8), its
 * audit rows as a JSON array (13), times as "2026-11-23T15:17:02.123Z"
 * (UTC), and the announcement's ts, the thread (14). $1 = the incident ID. */
extern const char REPORT_SQL[];

/* The report data (commands/report.c) from a REPORT_SQL result: a new
 * reference, or NULL when the result has no row (no such incident). */
json_t *report_from_result(const PGresult *res);

/* `rollbot report --list` and `/rollback history`: the latest incidents,
 * newest first, with the seconds from the request to each phase (NULL when
 * not reached). $1 = a service name, or '' for every service; $2 = how many. */
extern const char HISTORY_SQL[];

#endif
