/* rollbot — a running step's progress, from its tool's output (MIT licence, see LICENSE).
 *
 * Pure: what `kubectl rollout status` or `helm … --wait` last said, read
 * into "6 of 10" where the line is one rollbot knows, and the text of the
 * live progress message that bot/live.c edits in place while a step runs.
 */
#ifndef PROGRESS_H
#define PROGRESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define PROGRESS_LINE_MAX 160 /* characters of the last line shown, at most */
#define PROGRESS_BAR_CELLS 10

struct progress {
	/* The last line that says something (ANSI codes, \r overdraws and
	 * blank lines gone), cut to PROGRESS_LINE_MAX bytes on a UTF-8
	 * boundary; "" when the tool said nothing yet. */
	char line[PROGRESS_LINE_MAX + 4];
	int done, total; /* total > 0: a count was recognised in that line */
};

/** Reads the end of a tool's output (`len` bytes, not NUL-terminated; a
 * last line without its newline counts: it is what the tool says now).
 * Recognised: kubectl rollout status ("6 of 10 updated replicas are
 * available", "3 out of 10 new replicas have been updated", "… new pods
 * have been updated", "N old replicas are pending termination" against the
 * total seen before is not a count and is shown as a line only) and helm's
 * --wait ("2 out of 3 expected pods are ready"). */
void progress_parse(const char *out, size_t len, struct progress *p);

/** "▓▓▓▓▓▓░░░░ 6/10" into out (len >= 64 is enough); done is clamped to
 * 0..total. total <= 0 gives "". */
void progress_bar(int done, int total, char *out, size_t len);

/** "1 min 20 s", "45 s", "1 h 2 min" (whole seconds, rounded down). */
void progress_duration(int64_t ms, char *out, size_t len);

/** The live message while step `index` (0-based) of `n_steps` runs:
 *   ⏳ *Step 2/3*: Wait for the rollout — 1 min 20 s of 5 min
 *   ▓▓▓▓▓▓░░░░ 6/10
 *   `Waiting for deployment "web" rollout to finish: 6 of 10 updated …`
 * The line is escaped for Slack (& < >) and its backticks replaced by ', so
 * the code span cannot be closed early. Returns a new string. */
char *progress_text(int index, int n_steps, const char *title, int64_t elapsed_ms,
		    int64_t timeout_ms, const struct progress *p);

/** The live message's last text, once step `index` ended:
 *   ✔ *Step 2/3*: Wait for the rollout — exit status 0 after 84.2 s
 *   ▓▓▓▓▓▓▓▓▓▓ 10/10
 * (✖ when !ok; the bar as last seen, when there was one). `outcome` is
 * the step result's own ("exit status 0 after 84.2 s"). New string. */
char *progress_final_text(int index, int n_steps, const char *title, bool ok,
			  const char *outcome, const struct progress *p);

/** The live message of a step that was running when rollbot stopped
 * (found again after the restart):
 *   ⚠️ *Step 2/3*: Wait for the rollout — interrupted: rollbot restarted while it ran (what became of it follows in the thread)
 * New string. */
char *progress_interrupted_text(int index, int n_steps, const char *title);

#endif
