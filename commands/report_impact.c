/* rollbot — the report's impact, from the probe results (MIT licence, see LICENSE).
 *
 * The probe_results rows say what the health, error rate and latency checks
 * saw. From them: the downtime (the failing spans of the health check,
 * counted with report_down_* as the completion message counts them, so the
 * two never disagree), how long errors were elevated, the first and last
 * metrics, whether a database down-migration may have lost writes, and
 * what the last round said, which the stakeholder drafts print as the
 * health and metrics now. Split out of report.c (report_int.h).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_int.h"

/* One failing span of the health check, for the downtime: from the round
 * that first failed to the one that passed, or (still) to the last round. */
void report_span_add(struct scan *s, int64_t from, int64_t to, bool still)
{
	char a[32], b[32], d[32];
	char *t;

	report_clock(from, s->start_ms, a);
	report_clock(to, from, b);
	report_between_text(from, to, d, sizeof d);
	if (still && from == to)
		t = rb_asprintf("health check failing at the last check, at %s", a);
	else if (still)
		t = rb_asprintf("health check failing from %s, still failing at the last check at "
				"%s (%s)",
				a, b, d);
	else
		t = rb_asprintf("health check failing from %s to %s (%s)", a, b, d);
	json_array_append_new(s->down_spans, json_string(t));
	free(t);
}

static void probe_health(struct scan *s, const struct row *r, const json_t *c)
{
	bool passed = dtrue(c, "passed");

	/* The bot's own time of the round when the row has it, so that the
	 * report counts exactly what the completion message counted. */
	int64_t at = dint(r->d, "at_ms", r->ms), from = s->down.since_ms;

	s->health_seen = true;
	s->health = (struct seen){ at, dstr(c, "detail"), passed };
	if (report_down_observe(&s->down, at, passed) >= 0)
		report_span_add(s, from, at, false);
}

static void probe_metric(const struct row *r, const json_t *c, struct seen *first,
			 struct seen *last)
{
	if (!c)
		return;
	*last = (struct seen){ r->ms, dstr(c, "detail"), dtrue(c, "passed") };
	if (!first->detail)
		*first = *last;
}

/* Probe results feed the impact and the drafts; the verification row that
 * follows each one tells the round in the timeline. */
char *report_on_probe(struct scan *s, const struct row *r)
{
	const json_t *h = json_object_get(r->d, "health");

	if (h)
		probe_health(s, r, h);
	probe_metric(r, json_object_get(r->d, "error_rate"), &s->err_first, &s->err_last);
	probe_metric(r, json_object_get(r->d, "latency"), &s->lat_first, &s->lat_last);
	return NULL;
}

/* How long errors were elevated, as far as the record shows: they began
 * before the /rollback, so the report says "at least". */
static char *elevated_errors(const struct scan *s)
{
	char a[32], b[32], d[32];

	report_clock(s->start_ms, s->start_ms, a);
	if (s->verified_ms >= 0) {
		report_clock(s->verified_ms, s->start_ms, b);
		report_between_text(s->start_ms, s->verified_ms, d, sizeof d);
		return rb_asprintf("at least %s of elevated errors (from the /rollback at %s to "
				   "the first passing verification at %s)",
				   d, a, b);
	}
	if (s->rounds == 0)
		return rb_strdup("not measured (no verification round ran)");
	report_clock(report_known_end(s), s->start_ms, b);
	report_between_text(s->start_ms, report_known_end(s), d, sizeof d);
	return rb_asprintf("at least %s of elevated errors (from the /rollback at %s until at "
			   "least %s; no verification round passed)",
			   d, a, b);
}

static char *downtime(const struct scan *s)
{
	char d[32];
	struct rb_buf b;
	size_t i;
	json_t *v;

	if (!s->health_seen)
		return rb_strdup("not measured (no health check)");
	if (!json_array_size(s->down_spans))
		return rb_strdup("no failing health check seen after the rollback");
	rb_buf_init(&b, 1u << 16);
	report_span(report_down_total(&s->down), d, sizeof d);
	/* One span tells its own length; several get the total first, the
	 * number the completion message showed. */
	if (json_array_size(s->down_spans) > 1 &&
	    rb_buf_printf(&b, "%s in total after the rollback: ", d))
		return rb_buf_steal(&b);
	json_array_foreach (s->down_spans, i, v)
		if (rb_buf_printf(&b, "%s%s", i ? "; " : "", json_string_value(v)))
			break; /* cut at 64 KiB: the first spans say enough */
	return rb_buf_steal(&b);
}

/* "Error rate: 6.0% (threshold 1.0%) at the first check (15:22:31), 0.12%
 * (threshold 1.0%) at the last (15:30:07)". */
static void put_metric(const struct scan *s, json_t *list, const char *name,
		       const struct seen *first, const struct seen *last)
{
	char a[32], b[32];
	char *x, *y;

	if (!first->detail)
		return;
	x = report_clean(first->detail, TEXT_MAX);
	y = report_clean(last->detail, TEXT_MAX);
	report_clock(first->ms, s->start_ms, a);
	report_clock(last->ms, first->ms, b);
	if (first->ms == last->ms)
		report_push_text(list, rb_asprintf("%s: %s at the only check (%s)", name, x, a));
	else
		report_push_text(list,
				 rb_asprintf("%s: %s at the first check (%s), %s at the last (%s)",
					     name, x, a, y, b));
	free(x);
	free(y);
}

/* "impact": elevated errors, downtime, metrics, and the data-loss warning. */
void report_put_impact(const struct scan *s, json_t *o)
{
	json_t *im = json_object(), *metrics = json_array();
	bool db_ran = s->inc->with_db && s->executed;

	report_set_own(im, "elevated_errors", elevated_errors(s));
	report_set_own(im, "downtime", downtime(s));
	put_metric(s, metrics, "Error rate", &s->err_first, &s->err_last);
	put_metric(s, metrics, "p99 latency", &s->lat_first, &s->lat_last);
	if (!json_array_size(metrics))
		report_push_text(metrics,
				 rb_strdup("Metrics: not measured (no error rate or latency "
					   "check ran)"));
	json_object_set_new(im, "metrics", metrics);
	json_object_set_new(im, "has_data_loss", json_boolean(db_ran));
	report_set_str(im, "data_loss",
		       db_ran ? "a database down-migration ran: check for lost writes" : "");
	json_object_set_new(o, "impact", im);
}

/* What the last probe round said, for the drafts' "Health" and "Metrics". */
void report_put_now(const struct scan *s, json_t *o)
{
	json_t *list = json_array();
	char *h = report_clean(s->health.detail, TEXT_MAX),
	     *e = report_clean(s->err_last.detail, TEXT_MAX);
	char *l = report_clean(s->lat_last.detail, TEXT_MAX);

	if (!s->health_seen)
		report_set_str(o, "health_now", "not checked (no health check)");
	else
		report_set_own(o, "health_now",
			       rb_asprintf("health check %s%s%s%s",
					   s->health.passed ? "passing" : "failing",
					   h[0] ? " (" : "", h, h[0] ? ")" : ""));
	report_set_str(o, "error_rate_now", e[0] ? e : "not measured");
	report_set_str(o, "latency_now", l[0] ? l : "not measured");
	if (e[0])
		json_array_append_new(list,
				      json_pack("{s:s, s:s}", "name", "Error rate", "value", e));
	if (l[0])
		json_array_append_new(
			list, json_pack("{s:s, s:s}", "name", "Response time (p99)", "value", l));
	json_object_set_new(o, "metrics_now", list);
	free(h);
	free(e);
	free(l);
}
