/* rollbot — /rollback history (MIT licence, see LICENSE).
 *
 * The latest rollbacks, of one service or of all, as a private answer to
 * the person who asked: who requested and approved each, and how long it
 * took to approve, to roll back and to verify, with the median of each
 * phase over the list. The rows come from db_history(); `rollbot report
 * --list` prints the same rows as a table (main.c).
 */
#include "shell.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../commands/report.h"
#include "db.h"
#include "log.h"

struct history_job {
	struct app *app;
	char service[CMD_SERVICE_MAX];
	char *reply_url;
};

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* Approval counts as a phase only where someone approved: a severity that
 * skips approval is "approved" at 0 s, which says nothing about approvers
 * and would pull the median down. */
static bool counts(const struct db_history_row *row, enum db_phase p)
{
	return row->reached[p] && !(p == DB_PHASE_APPROVED && row->approval_skipped);
}

/* The median time to phase p over the rows that reached it, as text. */
static void median_text(const struct db_history_row *rows, size_t n_rows, enum db_phase p,
			char *out, size_t len)
{
	int64_t v[64];
	int n = 0;

	for (size_t r = 0; r < n_rows && n < 64; r++)
		if (counts(&rows[r], p))
			v[n++] = rows[r].phase_s[p];
	if (!n) {
		snprintf(out, len, "n/a");
		return;
	}
	qsort(v, (size_t)n, sizeof v[0], cmp_i64);
	report_duration(n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2, out, len);
}

/* ", approved after 1 min 02 s" for phase p, or "" when not reached. */
static void phase_after(const struct db_history_row *row, enum db_phase p, const char *what,
			char *out, size_t len)
{
	char t[32];

	out[0] = '\0';
	if (p == DB_PHASE_APPROVED && row->approval_skipped) {
		snprintf(out, len, ", approval skipped (%s)", row->severity);
		return;
	}
	if (!row->reached[p])
		return;
	report_duration(row->phase_s[p], t, sizeof t);
	snprintf(out, len, ", %s after %s", what, t);
}

/* When it started: UTC as the row has it, or in display_timezone (TZ was
 * set to it at start) with the zone's abbreviation, "2026-11-23 16:17 CET". */
static void started_text(const struct db_history_row *row, const char *zone, char *out,
			 size_t len)
{
	time_t t = (time_t)row->started_s;
	struct tm tm;

	if (!zone || !localtime_r(&t, &tm)) {
		snprintf(out, len, "%s", row->started);
		return;
	}
	snprintf(out, len, "%04d-%02d-%02d %02d:%02d %s", tm.tm_year + 1900, tm.tm_mon + 1,
		 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_zone ? tm.tm_zone : "");
}

static char *history_text(const struct history_job *h, const struct db_history_row *rows,
			  size_t n_rows)
{
	const char *zone = h->app->cfg->display_timezone;
	struct rb_buf b;
	char m1[32], m2[32], m3[32], skipped[64] = "";
	size_t n_skipped = 0;
	char *out;
	int rc;

	rb_buf_init(&b, 30000);
	if (!n_rows) {
		out = rb_asprintf("No rollback of %s is on record yet.",
				  h->service[0] ? h->service : "any service");
		rb_buf_free(&b);
		return out;
	}
	rc = rb_buf_printf(&b, "*Last rollbacks%s%s* (newest first, times %s)",
			   h->service[0] ? " of " : "", h->service,
			   zone ? zone : "UTC");
	for (size_t r = 0; r < n_rows && !rc; r++) {
		const struct db_history_row *row = &rows[r];
		char a[64], rb[64], v[64], who[200] = "";
		const char *approvers = row->approvers;
		char started[48];

		started_text(row, zone, started, sizeof started);

		phase_after(row, DB_PHASE_APPROVED, "approved", a, sizeof a);
		phase_after(row, DB_PHASE_ROLLED_BACK, "rolled back", rb, sizeof rb);
		phase_after(row, DB_PHASE_VERIFIED, "verified", v, sizeof v);
		if (approvers[0]) {
			struct rb_buf w;
			rb_buf_init(&w, sizeof who - 1);
			for (const char *u = approvers; *u && !rb_buf_puts(&w, ", approved by ");) {
				for (int first = 1; *u; first = 0) {
					size_t n = strcspn(u, ",");
					if (rb_buf_printf(&w, "%s<@%.*s>", first ? "" : " and ", (int)n, u))
						break;
					u += n + (u[n] == ',');
				}
				break;
			}
			(void)rb_strlcpy(who, rb_buf_str(&w), sizeof who);
			rb_buf_free(&w);
		}
		rc = rb_buf_printf(&b, "\n• *%s* %s: *%s* %s, %s%s%s, requested by <@%s>%s%s%s%s",
				   row->id, started, row->service, row->state, row->method,
				   row->target[0] ? " to " : "", row->target, row->requested_by, who,
				   a, rb, v);
	}
	median_text(rows, n_rows, DB_PHASE_APPROVED, m1, sizeof m1);
	median_text(rows, n_rows, DB_PHASE_ROLLED_BACK, m2, sizeof m2);
	median_text(rows, n_rows, DB_PHASE_VERIFIED, m3, sizeof m3);
	for (size_t r = 0; r < n_rows; r++)
		n_skipped += rows[r].approval_skipped;
	if (n_skipped)
		snprintf(skipped, sizeof skipped, " (%zu skipped approval, not counted)", n_skipped);
	if (!rc)
		rc = rb_buf_printf(&b, "\nMedian time from the /rollback over these %zu: to "
				       "approved %s%s, to rolled back %s, to verified %s.",
				   n_rows, m1, skipped, m2, m3);
	out = rb_strdup(rc ? "Too much history to show here: `rollbot report --list` prints it."
			   : rb_buf_str(&b));
	rb_buf_free(&b);
	return out;
}

static void history_done_cb(void *arg, int err, const char *errmsg,
			    const struct db_history_row *rows, size_t n)
{
	struct history_job *h = arg;

	if (err) {
		log_error("store: could not read the history: %s", errmsg ? errmsg : "?");
		shell_reply_url(h->app, h->reply_url,
				"rollbot could not read its database just now; try again in a minute.");
	} else {
		char *t = history_text(h, rows, n);
		shell_reply_url(h->app, h->reply_url, t);
		free(t);
	}
	free(h->reply_url);
	free(h);
}

/* Answers /rollback history of `service` ("" for every service) through
 * `reply_to`, the command's response_url (copied), once the store has
 * answered; a failure is logged and told there too. */
void history_start(struct app *app, const char *service, const char *reply_to)
{
	struct history_job *h = rb_calloc(1, sizeof *h);

	h->app = app;
	(void)rb_strlcpy(h->service, service, sizeof h->service);
	h->reply_url = rb_strdup(reply_to);
	if (db_history(app->store, h->service, 10, history_done_cb, h)) {
		log_error("store: cannot queue the history query");
		free(h->reply_url);
		free(h);
	}
}
