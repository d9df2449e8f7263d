/* rollbot — the report's facts beyond the timeline pass (MIT licence, see LICENSE).
 *
 * What the runbooks' reports carry that report.c's pass does not gather
 * (seeds/001's template, seeds/004's post-rollback actions): where the
 * service runs, the revision rolled back from and the one running after,
 * when the bad release was deployed and when the problem was detected, the
 * owner and sign-off block, which stakeholder drafts were sent, and the
 * follow-ups. All of it comes from the rows: the plan_ready row carries
 * what was read and configured at plan time, `draft_sent` rows say who
 * marked a draft as sent, and when. Pure, like report.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"
#include "rb.h"
#include "verify.h"
#include "report_int.h"

#define FACT_MAX 200

/* The drafts, as `/rollback sent` names them and as the report says them. */
static const char *const drafts[][2] = {
	{ "status-page", "Status page update" },
	{ "email", "Customer email" },
	{ "internal", "Internal update" },
};

struct facts {
	json_t *plan;		/* the last plan_ready detail, or NULL */
	int64_t trigger_ms;	/* the first command_received, -1 if none */
	const char *trigger_by; /* its actor (an ID) */
	/* The first `detected` row (a watcher's or Alertmanager's proposal
	 * that someone started), or NULL; when, as its detail says. */
	json_t *detected;
	int64_t detected_ms;
	json_t *version;	/* the last passing version check's detail string, or NULL */
	int64_t version_ms;
	json_t *sent[RB_ARRAY_LEN(drafts)]; /* the first draft_sent row of each, or NULL */
	int64_t sent_ms[RB_ARRAY_LEN(drafts)];
	const char *sent_by[RB_ARRAY_LEN(drafts)];
};

static const char *str(const json_t *d, const char *key)
{
	const char *v = json_string_value(json_object_get(d, key));

	return v ? v : "";
}

static int draft_index(const char *name)
{
	for (size_t i = 0; i < RB_ARRAY_LEN(drafts); i++)
		if (!strcmp(name, drafts[i][0]))
			return (int)i;
	return -1;
}

static int parse_rfc3339(const char *t, int64_t *ms);

/* One row: keeps what the sections need. d is the row's detail (owned). */
static void take(struct facts *f, const struct report_row *r, json_t *d, int64_t ms)
{
	const char *kind = r->kind ? r->kind : "";
	int i;

	if (!strcmp(kind, "plan_ready")) {
		json_decref(f->plan);
		f->plan = json_incref(d);
	} else if (!strcmp(kind, "command_received") && f->trigger_ms < 0) {
		f->trigger_ms = ms;
		f->trigger_by = r->actor;
	} else if (!strcmp(kind, "detected") && !f->detected) {
		f->detected = json_incref(d);
		if (parse_rfc3339(str(d, "at"), &f->detected_ms))
			f->detected_ms = ms;
	} else if (!strcmp(kind, "probe_results")) {
		json_t *v = json_object_get(d, "version");
		if (json_is_true(json_object_get(v, "passed")) &&
		    json_is_string(json_object_get(v, "detail"))) {
			json_decref(f->version);
			f->version = json_incref(json_object_get(v, "detail"));
			f->version_ms = ms;
		}
	} else if (!strcmp(kind, "draft_sent")) {
		i = draft_index(str(d, "draft"));
		if (i >= 0 && !f->sent[i]) {
			f->sent[i] = json_incref(d);
			f->sent_ms[i] = ms;
			f->sent_by[i] = r->actor;
		}
	}
	json_decref(d);
}

static void gather(struct facts *f, const struct report_row *rows, size_t n)
{
	int64_t prev = 0;

	memset(f, 0, sizeof *f);
	f->trigger_ms = -1;
	for (size_t i = 0; i < n; i++) {
		json_t *d = json_loads(rows[i].detail ? rows[i].detail : "", JSON_DECODE_ANY, NULL);
		int64_t ms;

		if (report_parse_time(rows[i].at, &ms))
			ms = prev;
		prev = ms;
		if (!json_is_object(d)) {
			json_decref(d);
			d = json_object();
		}
		take(f, &rows[i], d, ms);
	}
}

static void facts_free(struct facts *f)
{
	json_decref(f->plan);
	json_decref(f->version);
	json_decref(f->detected);
	for (size_t i = 0; i < RB_ARRAY_LEN(drafts); i++)
		json_decref(f->sent[i]);
}

/* A plan fact made safe, or NULL when not recorded. New string. */
static char *fact(const struct facts *f, const char *key)
{
	const char *v = str(f->plan, key);

	return v[0] ? report_clean(v, FACT_MAX) : NULL;
}

static void set_own(json_t *o, const char *key, char *v)
{
	json_object_set_new(o, key, json_string(v));
	free(v);
}

/* Reads a tool's RFC 3339 time ("2026-11-23T15:02:11.123456789Z",
 * "…+01:00", helm's) into ms. Returns 0, or -1 for anything else. */
static int parse_rfc3339(const char *t, int64_t *ms)
{
	char buf[32];
	const char *p;
	int64_t off = 0;

	if (strlen(t) < 20 || t[10] != 'T')
		return -1;
	snprintf(buf, sizeof buf, "%.19s.000Z", t);
	if (report_parse_time(buf, ms))
		return -1;
	p = t + 19;
	if (*p == '.')
		for (p++; *p >= '0' && *p <= '9'; p++)
			;
	if ((*p == '+' || *p == '-') && strlen(p) == 6 && p[3] == ':') {
		long h = strtol(p + 1, NULL, 10), m = strtol(p + 4, NULL, 10);
		off = (int64_t)(h * 60 + m) * 60000;
		*ms -= *p == '+' ? off : -off;
	} else if (strcmp(p, "Z") != 0) {
		return -1;
	}
	return 0;
}

/* "revision 42" or "version 42", as report.c says the target. */
static char *revision_phrase(const struct report_incident *inc, const char *v)
{
	const struct plan_method_info *mi = NULL;
	enum plan_method m;

	if (plan_method_from_name(inc->method ? inc->method : "", &m) == 0)
		mi = plan_method_info(m);

	if (mi && mi->target == PLAN_TARGET_REVISION)
		return rb_asprintf("revision %s", v);
	if (mi && mi->target == PLAN_TARGET_VERSION)
		return rb_asprintf("version %s", v);
	return rb_strdup(v);
}

static bool has_history(const struct report_incident *inc)
{
	const char *m = inc->method ? inc->method : "";

	return !strcmp(m, "kubectl") || !strcmp(m, "helm") || !strcmp(m, "lambda");
}

/* Puts one timeline entry in order (stamps sort as text); ties go first,
 * so a detection stands before the /rollback that recorded it. */
static void timeline_insert(json_t *o, int64_t ms, char *text)
{
	json_t *list = json_object_get(o, "timeline");
	size_t i;
	char at[32];

	report_stamp(ms, at);
	for (i = 0; i < json_array_size(list); i++)
		if (strcmp(str(json_array_get(list, i), "at"), at) >= 0)
			break;
	json_array_insert_new(list, i, json_pack("{s:s, s:s}", "at", at, "text", text));
	free(text);
}

/* The detection that started the incident: when the watcher (or an
 * Alertmanager alert) saw the problem, with the figures, and who started
 * the rollback from its proposal. Earlier than any command, so it is the
 * timeline's first word on the problem. */
static void put_detected(json_t *o, const struct report_incident *inc, const struct facts *f)
{
	const char *src = str(f->detected, "source");
	char *what = report_clean(str(f->detected, "summary"), FACT_MAX);
	char at[32];

	report_stamp(f->detected_ms, at);
	timeline_insert(o, f->detected_ms,
			rb_asprintf("problem detected by %s at %s UTC%s%s (proposal started by %s's "
				    "✅)",
				    !strcmp(src, "alertmanager") ? "an Alertmanager alert" :
								   "the watcher",
				    at, what[0] ? ": " : "", what,
				    report_name(inc, f->trigger_by)));
	free(what);
}

/* One figure of the detection ({"value": "0.08", "max": "0.05"}, as the
 * watcher recorded them), for people: "error rate 8.0% (threshold 5.0%)";
 * NULL when it was not read. */
static char *detected_figure(const json_t *fig, const char *name, bool ratio)
{
	const char *v = str(fig, "value"), *m = str(fig, "max");
	char a[32], b[32];

	if (!v[0])
		return NULL;
	if (ratio) {
		verify_format_ratio(strtod(v, NULL), a, sizeof a);
		verify_format_ratio(strtod(m, NULL), b, sizeof b);
	} else {
		verify_format_seconds(strtod(v, NULL), a, sizeof a);
		verify_format_seconds(strtod(m, NULL), b, sizeof b);
	}
	return m[0] ? rb_asprintf("%s %s (threshold %s)", name, a, b) : rb_asprintf("%s %s", name, a);
}

/* Impact's first line: what the watcher read when it saw the problem (the
 * figures its proposal showed), before any rollback; the lines after it
 * are what verification read afterwards. */
static void put_detected_figures(json_t *o, const struct facts *f)
{
	const json_t *figs = json_object_get(f->detected, "figures");
	json_t *metrics = json_object_get(json_object_get(o, "impact"), "metrics");
	char *parts[3] = { detected_figure(json_object_get(figs, "error_rate"), "error rate", true),
			   detected_figure(json_object_get(figs, "latency_s"), "p99 latency", false),
			   NULL };
	const char *health = str(figs, "health");
	char at[32], *h, *line;

	if (health[0]) {
		h = report_clean(health, FACT_MAX);
		parts[2] = rb_asprintf("health check %s", h);
		free(h);
	}
	if (!json_is_array(metrics) || (!parts[0] && !parts[1] && !parts[2]))
		goto out;
	report_stamp(f->detected_ms, at);
	line = rb_asprintf("At detection (%s UTC, by %s): %s%s%s%s%s", at,
			   !strcmp(str(f->detected, "source"), "alertmanager") ?
				   "an Alertmanager alert" :
				   "the watcher",
			   parts[0] ? parts[0] : "", parts[0] && (parts[1] || parts[2]) ? ", " : "",
			   parts[1] ? parts[1] : "", parts[1] && parts[2] ? ", " : "",
			   parts[2] ? parts[2] : "");
	/* Without verification figures, "not measured" is about after the
	 * rollback: the detection line above measured something. */
	if (json_array_size(metrics) == 1 &&
	    !strncmp(str(json_array_get(metrics, 0), "text"), "Metrics: not measured", 21))
		json_array_set_new(metrics, 0,
				   json_pack("{s:s}", "text",
					     "After the rollback: not measured (no error rate or "
					     "latency check ran)"));
	json_array_insert_new(metrics, 0, json_pack("{s:s}", "text", line));
	free(line);
out:
	for (size_t i = 0; i < 3; i++)
		free(parts[i]);
}

/* Where, from what, to what; and the deploy and detection events. */
static void put_versions(json_t *o, const struct report_incident *inc, const struct facts *f)
{
	char *before = fact(f, "running_before"), *deployed = fact(f, "deployed_at");
	char *env = fact(f, "environment"), *rev = NULL, *reason;
	int64_t dep_ms;
	char at[32];

	set_own(o, "environment",
		env ? env : rb_strdup("not configured (the service has no `environment`)"));
	if (before)
		rev = revision_phrase(inc, before);
	if (deployed && parse_rfc3339(str(f->plan, "deployed_at"), &dep_ms) == 0) {
		report_stamp(dep_ms, at);
		free(deployed);
		deployed = rb_asprintf("%s UTC", at);
	} else {
		dep_ms = -1;
	}
	if (rev && deployed)
		set_own(o, "revision_before",
			rb_asprintf("%s (deployed at %s; read from the tool's history before the "
				    "rollback)",
				    rev, deployed));
	else if (rev)
		set_own(o, "revision_before",
			rb_asprintf("%s (read from the tool's history before the rollback)", rev));
	else
		set_own(o, "revision_before",
			rb_strdup(has_history(inc) ?
					  "not recorded (the tool's history could not be read "
					  "before the rollback: rollbot's log says why)" :
					  "not recorded (this method keeps no history to read)"));
	if (!json_is_true(json_object_get(o, "executed"))) {
		set_own(o, "revision_after", rb_strdup("unchanged (nothing was run)"));
	} else if (f->version) {
		char *v = report_clean(json_string_value(f->version), FACT_MAX);
		report_clock(f->version_ms, f->version_ms, at);
		set_own(o, "revision_after",
			rb_asprintf("%s (the version check at %s said \"%s\")", str(o, "target"),
				    at, v));
		free(v);
	} else {
		set_own(o, "revision_after",
			rb_asprintf("%s (the target: no version check confirmed it)",
				    str(o, "target")));
	}
	if (dep_ms >= 0)
		timeline_insert(o, dep_ms,
				rb_asprintf("deploy of %s (from the tool's history)",
					    rev ? rev : "the release rolled back"));
	if (f->detected) {
		put_detected(o, inc, f);
		put_detected_figures(o, f);
	} else if (f->trigger_ms >= 0) {
		reason = report_clean(inc->reason, FACT_MAX);
		timeline_insert(o, f->trigger_ms,
				rb_asprintf("problem detected%s%s%s (first recorded by the "
					    "/rollback of %s; set the time here if an alert "
					    "saw it earlier)",
					    reason[0] ? ": \"" : "", reason, reason[0] ? "\"" : "",
					    report_name(inc, f->trigger_by)));
		free(reason);
	}
	free(before);
	free(deployed);
	free(rev);
}

/* The customer-facing name and the affected users, for the drafts and Impact. */
static void put_names(json_t *o, const struct facts *f)
{
	char *dn = fact(f, "display_name"), *aff = fact(f, "affected");

	set_own(o, "display_name", dn ? dn : rb_strdup(str(o, "service")));
	json_object_set_new(json_object_get(o, "impact"), "affected",
			    json_string(aff ? aff : "not configured (the service has no "
						    "`affected`)"));
	free(aff);
}

/* Owner and sign-off (seeds/001's "Assigned To" and "Approval"). */
static void put_owner(json_t *o, const struct facts *f)
{
	json_t *w = json_object();
	char *team = fact(f, "owner");

	json_object_set_new(w, "lead", json_string(str(o, "requested_by")));
	set_own(w, "team", team ? team : rb_strdup("not configured (the service has no `owner`)"));
	json_object_set_new(o, "owner", w);
}

/* Which drafts someone marked as sent, by whom and when. */
static void put_sent(json_t *o, const struct report_incident *inc, const struct facts *f)
{
	json_t *list = json_array();
	char at[32], *id = report_clean(inc->id, 64);

	for (size_t i = 0; i < RB_ARRAY_LEN(drafts); i++) {
		char *t;

		if (f->sent[i]) {
			report_stamp(f->sent_ms[i], at);
			t = rb_asprintf("%s: sent (marked by %s at %s UTC)", drafts[i][1],
					report_name(inc, f->sent_by[i]), at);
		} else {
			t = rb_asprintf("%s: not marked as sent (`/rollback sent %s %s` records "
					"it)",
					drafts[i][1], id, drafts[i][0]);
		}
		json_array_append_new(list, json_pack("{s:s}", "text", t));
		free(t);
	}
	json_object_set_new(o, "communications", list);
	free(id);
}

/* Runbook 004's post-rollback actions, as checklist items. */
static void put_follow_ups(json_t *o, const struct report_incident *inc, const struct facts *f)
{
	json_t *list = json_array();
	char *before = fact(f, "running_before");
	char *rev = before ? revision_phrase(inc, before) : NULL;
	char *t = rev ? rb_asprintf("Block the bad deployment (%s) from being deployed again",
				    rev) :
			rb_strdup("Block the bad deployment from being deployed again");

	json_array_append_new(list, json_pack("{s:s}", "text", "Open an incident ticket for the "
							       "investigation"));
	json_array_append_new(list, json_pack("{s:s}", "text", t));
	json_object_set_new(o, "follow_ups", list);
	free(t);
	free(rev);
	free(before);
}

void report_put_facts(json_t *o, const struct report_incident *inc,
		      const struct report_row *rows, size_t n)
{
	struct facts f;

	gather(&f, rows, n);
	put_versions(o, inc, &f);
	put_names(o, &f);
	put_owner(o, &f);
	put_sent(o, inc, &f);
	put_follow_ups(o, inc, &f);
	facts_free(&f);
}
