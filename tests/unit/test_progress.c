/* rollbot — tests for commands/progress.c (MIT licence, see LICENSE).
 *
 * What a running step's live message shows: the count read from kubectl's
 * and helm's lines, the last line when none is known, partial lines, ANSI
 * codes and \r redraws, the bar, the durations, and the message text with
 * its code span that a backtick in the output cannot close.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands/progress.h"

static void parse(const char *s, struct progress *p)
{
	progress_parse(s, strlen(s), p);
}

static void test_kubectl_available(void **state)
{
	struct progress p;

	(void)state;
	parse("Waiting for deployment \"web\" rollout to finish: 2 of 10 updated replicas are available...\n"
	      "Waiting for deployment \"web\" rollout to finish: 6 of 10 updated replicas are available...\n",
	      &p);
	assert_int_equal(p.done, 6);
	assert_int_equal(p.total, 10);
	assert_string_equal(p.line, "Waiting for deployment \"web\" rollout to finish: 6 of 10 "
				    "updated replicas are available...");
}

static void test_kubectl_updated_and_daemonset(void **state)
{
	struct progress p;

	(void)state;
	parse("Waiting for deployment \"web\" rollout to finish: 3 out of 10 new replicas have "
	      "been updated...\n", &p);
	assert_int_equal(p.done, 3);
	assert_int_equal(p.total, 10);
	parse("Waiting for daemon set \"agent\" rollout to finish: 4 of 12 updated pods are "
	      "available...\n", &p);
	assert_int_equal(p.done, 4);
	assert_int_equal(p.total, 12);
	parse("Waiting for daemon set \"agent\" rollout to finish: 1 out of 12 new pods have been "
	      "updated...\n", &p);
	assert_int_equal(p.done, 1);
	assert_int_equal(p.total, 12);
}

static void test_kubectl_no_count(void **state)
{
	struct progress p;

	(void)state;
	/* Old replicas pending termination: a count of what is left, not a
	 * fraction; shown as the line only. */
	parse("Waiting for deployment \"web\" rollout to finish: 1 old replicas are pending "
	      "termination...\n", &p);
	assert_int_equal(p.total, 0);
	assert_string_equal(p.line, "Waiting for deployment \"web\" rollout to finish: 1 old "
				    "replicas are pending termination...");
	parse("deployment \"web\" successfully rolled out\n", &p);
	assert_int_equal(p.total, 0);
	assert_string_equal(p.line, "deployment \"web\" successfully rolled out");
}

static void test_helm_wait(void **state)
{
	struct progress p;

	(void)state;
	parse("client.go:477: [debug] beginning wait for 4 resources with timeout of 5m0s\n"
	      "ready.go:258: [debug] Deployment is not ready: prod/web. 2 out of 3 expected pods "
	      "are ready\n", &p);
	assert_int_equal(p.done, 2);
	assert_int_equal(p.total, 3);
	parse("Rollback was a success! Happy Helming!\n", &p);
	assert_int_equal(p.total, 0);
	assert_string_equal(p.line, "Rollback was a success! Happy Helming!");
}

static void test_unknown_partial_blank(void **state)
{
	struct progress p;

	(void)state;
	parse("", &p);
	assert_string_equal(p.line, "");
	assert_int_equal(p.total, 0);
	/* The last line without its newline is what the tool says now. */
	parse("first\nsecond, still being writ", &p);
	assert_string_equal(p.line, "second, still being writ");
	/* Blank lines and blanks around say nothing. */
	parse("  the line  \n\n   \n\t\n", &p);
	assert_string_equal(p.line, "the line");
	/* "0 of 0" is no count. */
	parse("0 of 0 updated replicas are available\n", &p);
	assert_int_equal(p.total, 0);
	progress_parse(NULL, 0, &p);
	assert_string_equal(p.line, "");
}

static void test_ansi_and_redraws(void **state)
{
	struct progress p;

	(void)state;
	parse("\x1b[1;32mWaiting\x1b[0m for 5 of 8 updated replicas are available\x1b[K\n", &p);
	assert_string_equal(p.line, "Waiting for 5 of 8 updated replicas are available");
	assert_int_equal(p.done, 5);
	assert_int_equal(p.total, 8);
	parse("progress 10%\rprogress 40%\rprogress 70%\n", &p);
	assert_string_equal(p.line, "progress 70%");
	parse("a bell\a and a NUL-free \x7f delete\n", &p);
	assert_string_equal(p.line, "a bell and a NUL-free  delete");
}

static void test_long_line_cut_on_utf8(void **state)
{
	struct progress p;
	char s[400];

	(void)state;
	memset(s, 'x', PROGRESS_LINE_MAX - 1);
	snprintf(s + PROGRESS_LINE_MAX - 1, 32, "ééééé\n"); /* é is 2 bytes: cut inside one */
	parse(s, &p);
	assert_int_equal(strlen(p.line), PROGRESS_LINE_MAX - 1 + 3);
	assert_string_equal(p.line + PROGRESS_LINE_MAX - 1, "…");
}

static void test_bar(void **state)
{
	char b[64];

	(void)state;
	progress_bar(6, 10, b, sizeof b);
	assert_string_equal(b, "▓▓▓▓▓▓░░░░ 6/10");
	progress_bar(0, 3, b, sizeof b);
	assert_string_equal(b, "░░░░░░░░░░ 0/3");
	progress_bar(2, 3, b, sizeof b);
	assert_string_equal(b, "▓▓▓▓▓▓░░░░ 2/3");
	progress_bar(12, 10, b, sizeof b);
	assert_string_equal(b, "▓▓▓▓▓▓▓▓▓▓ 10/10");
	progress_bar(1, 0, b, sizeof b);
	assert_string_equal(b, "");
}

static void test_duration(void **state)
{
	char b[32];

	(void)state;
	progress_duration(0, b, sizeof b);
	assert_string_equal(b, "0 s");
	progress_duration(45999, b, sizeof b);
	assert_string_equal(b, "45 s");
	progress_duration(80000, b, sizeof b);
	assert_string_equal(b, "1 min 20 s");
	progress_duration(300000, b, sizeof b);
	assert_string_equal(b, "5 min");
	progress_duration(3720000, b, sizeof b);
	assert_string_equal(b, "1 h 2 min");
}

static void test_text(void **state)
{
	struct progress p;
	char *t;

	(void)state;
	parse("Waiting for deployment \"web\" rollout to finish: 6 of 10 updated replicas are "
	      "available...\n", &p);
	t = progress_text(1, 3, "Wait for the rollout", 80000, 300000, &p);
	assert_string_equal(t, "⏳ *Step 2/3*: Wait for the rollout — 1 min 20 s of 5 min\n"
			       "▓▓▓▓▓▓░░░░ 6/10\n"
			       "`Waiting for deployment \"web\" rollout to finish: 6 of 10 updated "
			       "replicas are available...`");
	free(t);
	/* A backtick cannot close the span; Slack's & < > are escaped. */
	parse("a `b` <@U1> & c\n", &p);
	t = progress_text(0, 1, "Roll back", 1000, 60000, &p);
	assert_string_equal(t, "⏳ *Step 1/1*: Roll back — 1 s of 1 min\n`a 'b' &lt;@U1&gt; &amp; c`");
	free(t);
	/* Nothing said yet: the step and the time only. */
	parse("", &p);
	t = progress_text(0, 2, "Roll back", 0, 60000, &p);
	assert_string_equal(t, "⏳ *Step 1/2*: Roll back — 0 s of 1 min");
	free(t);
}

static void test_final_text(void **state)
{
	struct progress p;
	char *t;

	(void)state;
	parse("Waiting for deployment \"web\" rollout to finish: 9 of 10 updated replicas are "
	      "available...\ndeployment \"web\" successfully rolled out\n", &p);
	/* The last line has no count: the bar is the last one seen, which
	 * live.c keeps; here there is none. */
	t = progress_final_text(1, 2, "Wait for the rollout", true, "exit status 0 after 84.2 s", &p);
	assert_string_equal(t, "✔ *Step 2/2*: Wait for the rollout — exit status 0 after 84.2 s");
	free(t);
	p.done = 6;
	p.total = 10;
	t = progress_final_text(0, 1, "Roll <back>", false, "timed out after 300.0 s and was killed",
				&p);
	assert_string_equal(t, "✖ *Step 1/1*: Roll &lt;back&gt; — timed out after 300.0 s and was "
			       "killed\n▓▓▓▓▓▓░░░░ 6/10");
	free(t);
}

static void test_interrupted_text(void **state)
{
	char *t;

	(void)state;
	t = progress_interrupted_text(0, 2, "Roll `x` back");
	assert_string_equal(t, "⚠️ *Step 1/2*: Roll 'x' back — interrupted: rollbot restarted while "
			       "it ran (what became of it follows in the thread)");
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kubectl_available),
		cmocka_unit_test(test_kubectl_updated_and_daemonset),
		cmocka_unit_test(test_kubectl_no_count),
		cmocka_unit_test(test_helm_wait),
		cmocka_unit_test(test_unknown_partial_blank),
		cmocka_unit_test(test_ansi_and_redraws),
		cmocka_unit_test(test_long_line_cut_on_utf8),
		cmocka_unit_test(test_bar),
		cmocka_unit_test(test_duration),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_final_text),
		cmocka_unit_test(test_interrupted_text),
	};

	return cmocka_run_group_tests_name("progress", tests, NULL, NULL);
}
