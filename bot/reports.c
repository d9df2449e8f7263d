/* rollbot — reading an incident's record for its report (MIT licence, see LICENSE). */
#include "reports.h"

#include <stdlib.h>
#include <string.h>

#include "../commands/report.h"

const char REPORT_SQL[] =
	"SELECT i.id, i.service, i.severity, i.state, i.reason, i.target, i.method, "
	"i.requested_by, i.channel, " ISO_UTC("i.created_at") ", "
	"coalesce(" ISO_UTC("i.ended_at") ", ''), coalesce(i.closed_by, ''), i.with_db, "
	"(SELECT coalesce(json_agg(json_build_object('at', " ISO_UTC("a.at") ", 'actor', a.actor, "
	"'kind', a.kind, 'detail', a.detail) ORDER BY a.id), '[]') FROM audit_log a "
	"WHERE a.incident_id = i.id)::text, coalesce(i.announcement_ts, '') "
	"FROM incidents i WHERE i.id = $1";

const char HISTORY_SQL[] =
	"SELECT i.id, i.service, i.state, i.method, i.requested_by, "
	"array_to_string(i.approved_by, ','), to_char(i.created_at AT TIME ZONE 'UTC', "
	"'YYYY-MM-DD HH24:MI'), i.severity, i.target, "
	"extract(epoch FROM min(a.at) FILTER (WHERE a.detail->>'to' = 'approved') - "
	"i.created_at)::bigint, "
	"extract(epoch FROM min(a.at) FILTER (WHERE a.detail->>'to' = 'verifying') - "
	"i.created_at)::bigint, "
	"extract(epoch FROM min(a.at) FILTER (WHERE a.detail->>'to' = 'resolved' AND "
	"a.detail->>'from' = 'verifying') - i.created_at)::bigint, "
	"(SELECT string_agg(DISTINCT r.actor, ',') FROM audit_log r WHERE r.incident_id = i.id "
	"AND r.kind = 'reaction_added' AND r.detail->>'decision' = 'approval_counted') "
	"FROM incidents i LEFT JOIN audit_log a ON a.incident_id = i.id AND a.kind = "
	"'state_change' WHERE $1 = '' OR i.service = $1 GROUP BY i.id "
	"ORDER BY i.created_at DESC, i.id DESC LIMIT $2::int";

json_t *report_from_result(const PGresult *res)
{
	struct report_incident inc;
	struct report_row *rows;
	char **details;
	json_t *audit, *r, *data;
	size_t n, i;

	if (!res || PQntuples(res) != 1 || PQnfields(res) < 14)
		return NULL;
	memset(&inc, 0, sizeof inc);
	inc.id = PQgetvalue(res, 0, 0);
	inc.service = PQgetvalue(res, 0, 1);
	inc.severity = PQgetvalue(res, 0, 2);
	inc.state = PQgetvalue(res, 0, 3);
	inc.reason = PQgetvalue(res, 0, 4);
	inc.target = PQgetvalue(res, 0, 5);
	inc.method = PQgetvalue(res, 0, 6);
	inc.requested_by = PQgetvalue(res, 0, 7);
	inc.channel = PQgetvalue(res, 0, 8);
	inc.created_at = PQgetvalue(res, 0, 9);
	inc.ended_at = PQgetvalue(res, 0, 10);
	inc.closed_by = PQgetvalue(res, 0, 11);
	inc.with_db = !strcmp(PQgetvalue(res, 0, 12), "t");
	audit = json_loads(PQgetvalue(res, 0, 13), 0, NULL);
	n = json_array_size(audit);
	rows = rb_calloc(n + 1, sizeof *rows);
	details = rb_calloc(n + 1, sizeof *details);
	json_array_foreach(audit, i, r) {
		rows[i].at = json_string_value(json_object_get(r, "at"));
		rows[i].actor = json_string_value(json_object_get(r, "actor"));
		rows[i].kind = json_string_value(json_object_get(r, "kind"));
		details[i] = json_dumps(json_object_get(r, "detail"), JSON_COMPACT | JSON_ENCODE_ANY);
		rows[i].detail = details[i] ? details[i] : "{}";
		if (!rows[i].at)
			rows[i].at = "";
		if (!rows[i].actor)
			rows[i].actor = "";
		if (!rows[i].kind)
			rows[i].kind = "";
	}
	data = report_data(&inc, rows, n);
	for (i = 0; i < n; i++)
		free(details[i]);
	free(details);
	free(rows);
	json_decref(audit);
	return data;
}
