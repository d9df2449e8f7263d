/* rollbot — tests for bot/runner.c (MIT licence, see LICENSE).
 *
 * Real child processes: /bin/sh -c with an inline script is the fixture
 * (the script is test data, never incident data), so no fixture files are
 * needed. One behaviour per test; every test runs the loop until it is dry
 * and checks uv_loop_close() == 0, so a leaked handle fails the test.
 * Assertions run only after uv_run() returns, never inside a callback.
 *
 * The test process makes itself a child subreaper, as the bot is when it
 * runs as PID 1 in a container: grandchildren orphaned when a group is
 * killed are re-parented to it rather than to this sandbox's PID 1 (which
 * may never reap them), and the runner must reap them itself, so that
 * kill(-pgid, 0) fails with ESRCH as soon as the callback has run.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bot/log.h"
#include "bot/runner.h"

#define GUARD_MS 15000 /* a job still running then is a bug: kill it, fail */
#define MAX_JOBS 4

struct fx;

/* What one job's callback saw, copied (the result is borrowed). */
struct got {
	struct fx *fx;
	struct run_job *job; /* cleared by the callback */
	int calls;
	bool during_start;
	bool spawned;
	char *spawn_error;
	int exit_status;
	int term_signal;
	bool timed_out;
	int64_t duration_ms;
	int pgid;
	bool output_null;
	char *output;
	size_t output_len;
	bool truncated;
	/* on_output: the bytes seen so far, and how many pieces came while
	 * the callback had not run yet (all of them must). */
	char pieces[256];
	size_t pieces_len;
	int n_pieces;
	int pieces_after_cb;
};

struct fx {
	uv_loop_t loop;
	uv_timer_t guard; /* unreferenced: fires only while a job keeps the loop alive */
	uv_timer_t aux;	  /* a test's own timer (run_kill) */
	bool guard_fired;
	bool in_start;
	bool kill_in_cb; /* result_cb calls run_kill on its own job */
	bool closed;
	struct got got[MAX_JOBS];
};

static void result_cb(void *arg, const struct run_result *res)
{
	struct got *g = arg;

	g->calls++;
	g->during_start = g->fx->in_start;
	if (g->fx->kill_in_cb && g->job)
		run_kill(g->job);
	g->job = NULL;
	g->spawned = res->spawned;
	free(g->spawn_error);
	g->spawn_error = res->spawn_error ? rb_strdup(res->spawn_error) : NULL;
	g->exit_status = res->exit_status;
	g->term_signal = res->term_signal;
	g->timed_out = res->timed_out;
	g->duration_ms = res->duration_ms;
	g->pgid = res->pgid;
	g->output_null = res->output == NULL;
	free(g->output);
	g->output = NULL;
	if (res->output) {
		/* +1: the NUL the contract promises is part of the copy. */
		g->output = rb_malloc(res->output_len + 1);
		memcpy(g->output, res->output, res->output_len + 1);
	}
	g->output_len = res->output_len;
	g->truncated = res->truncated;
}

static void output_cb(void *arg, const char *data, size_t len)
{
	struct got *g = arg;

	g->n_pieces++;
	if (g->calls)
		g->pieces_after_cb++;
	if (g->pieces_len + len < sizeof g->pieces) {
		memcpy(g->pieces + g->pieces_len, data, len);
		g->pieces_len += len;
	}
}

static void guard_cb(uv_timer_t *t)
{
	struct fx *fx = t->data;

	fx->guard_fired = true;
	for (int i = 0; i < MAX_JOBS; i++)
		if (fx->got[i].job)
			run_kill(fx->got[i].job);
}

static int setup(void **state)
{
	struct fx *fx = rb_calloc(1, sizeof *fx);

	assert_int_equal(uv_loop_init(&fx->loop), 0);
	assert_int_equal(uv_timer_init(&fx->loop, &fx->guard), 0);
	assert_int_equal(uv_timer_init(&fx->loop, &fx->aux), 0);
	fx->guard.data = fx;
	fx->aux.data = fx;
	assert_int_equal(uv_timer_start(&fx->guard, guard_cb, GUARD_MS, 0), 0);
	uv_unref((uv_handle_t *)&fx->guard);
	for (int i = 0; i < MAX_JOBS; i++)
		fx->got[i].fx = fx;
	*state = fx;
	return 0;
}

/* Runs every job to its callback, closes the test's timers and runs the
 * loop dry; returns uv_loop_close()'s answer. */
static int fx_drain(struct fx *fx)
{
	uv_run(&fx->loop, UV_RUN_DEFAULT);
	uv_close((uv_handle_t *)&fx->guard, NULL);
	uv_close((uv_handle_t *)&fx->aux, NULL);
	uv_run(&fx->loop, UV_RUN_DEFAULT);
	fx->closed = true;
	return uv_loop_close(&fx->loop);
}

static void fx_run(struct fx *fx)
{
	assert_int_equal(fx_drain(fx), 0);
	assert_false(fx->guard_fired);
}

/* If a test failed half-way, its jobs still end (the guard kills them). */
static int teardown(void **state)
{
	struct fx *fx = *state;

	if (!fx->closed)
		(void)fx_drain(fx);
	for (int i = 0; i < MAX_JOBS; i++) {
		free(fx->got[i].spawn_error);
		free(fx->got[i].output);
	}
	free(fx);
	return 0;
}

/* Starts a job reporting into fx->got[i]; fails the test on an error. */
static void start(struct fx *fx, int i, const struct run_spec *spec)
{
	struct run_job *job = NULL;
	int rc;

	fx->in_start = true;
	rc = run_start(&fx->loop, spec, result_cb, &fx->got[i], &job);
	fx->in_start = false;
	assert_int_equal(rc, 0);
	assert_non_null(job);
	fx->got[i].job = job;
}

/* A job running `sh -c script` with the given limits. */
static void start_sh(struct fx *fx, int i, const char *script, int64_t timeout_ms, int64_t grace_ms)
{
	const char *argv[] = { "sh", "-c", script, NULL };
	struct run_spec spec = { .argv = argv, .timeout_ms = timeout_ms, .grace_ms = grace_ms };

	start(fx, i, &spec);
}

/* True when no process is left in group `pgid`, zombies included: the
 * runner promises that much by the time its callback runs. */
static bool group_gone(int pgid)
{
	return kill(-pgid, 0) == -1 && errno == ESRCH;
}

static void assert_output(const struct got *g, const char *want)
{
	assert_non_null(g->output);
	assert_int_equal(g->output_len, strlen(want));
	assert_string_equal(g->output, want);
}

/* ---- what reaches the child ---- */

static void test_argv_arrives_verbatim(void **state)
{
	struct fx *fx = *state;
	const char *argv[] = { "sh",
			       "-c",
			       "printf '%s\\n' \"$0\" \"$@\"",
			       "name",
			       "a",
			       "b c",
			       "$(id)",
			       ";",
			       "it's",
			       "",
			       "*",
			       "`id`",
			       "x > /tmp/rb-test-pwned",
			       NULL };
	struct run_spec spec = { .argv = argv, .timeout_ms = 5000 };

	start(fx, 0, &spec);
	fx_run(fx);

	assert_int_equal(fx->got[0].calls, 1);
	assert_true(fx->got[0].spawned);
	assert_int_equal(fx->got[0].exit_status, 0);
	assert_output(&fx->got[0],
		      "name\na\nb c\n$(id)\n;\nit's\n\n*\n`id`\nx > /tmp/rb-test-pwned\n");
	assert_int_equal(access("/tmp/rb-test-pwned", F_OK), -1);
}

static void test_exit_status_reported(void **state)
{
	struct fx *fx = *state;

	const char *argv[] = { "sh", "-c", "exit 3", NULL };
	struct run_spec spec = { .argv = argv, .timeout_ms = 5000 };

	/* out may be NULL. */
	assert_int_equal(run_start(&fx->loop, &spec, result_cb, &fx->got[0], NULL), 0);
	fx_run(fx);

	assert_int_equal(fx->got[0].calls, 1);
	assert_true(fx->got[0].spawned);
	assert_null(fx->got[0].spawn_error);
	assert_int_equal(fx->got[0].exit_status, 3);
	assert_int_equal(fx->got[0].term_signal, 0);
	assert_false(fx->got[0].timed_out);
	assert_false(fx->got[0].truncated);
	assert_false(fx->got[0].output_null);
	assert_output(&fx->got[0], "");
}

static void test_stdout_and_stderr_interleaved_in_arrival_order(void **state)
{
	struct fx *fx = *state;

	start_sh(fx, 0, "echo out; sleep 0.1; echo err >&2; sleep 0.1; echo out2", 5000, 0);
	fx_run(fx);

	assert_int_equal(fx->got[0].exit_status, 0);
	assert_output(&fx->got[0], "out\nerr\nout2\n");
}

/* Output is handed over as it arrives, not only at the end: the first line
 * comes while the process still sleeps (the live progress of a long step). */
static void aux_check_cb(uv_timer_t *t)
{
	struct fx *fx = t->data;

	/* 0.5 s into a run that prints, sleeps 2 s, prints again. */
	fx->got[1].n_pieces = fx->got[0].n_pieces;
	fx->got[1].calls = fx->got[0].calls;
	memcpy(fx->got[1].pieces, fx->got[0].pieces, fx->got[0].pieces_len);
	fx->got[1].pieces_len = fx->got[0].pieces_len;
}

static void test_output_delivered_as_it_arrives(void **state)
{
	struct fx *fx = *state;
	const char *argv[] = { "sh", "-c", "echo '1 of 3'; sleep 2; echo '3 of 3' >&2", NULL };
	struct run_spec spec = { .argv = argv, .timeout_ms = 5000, .on_output = output_cb };

	assert_int_equal(run_start(&fx->loop, &spec, result_cb, &fx->got[0], NULL), 0);
	assert_int_equal(uv_timer_start(&fx->aux, aux_check_cb, 500, 0), 0);
	fx_run(fx);

	/* Half a second in: the first line, and no result yet. */
	assert_int_equal(fx->got[1].calls, 0);
	assert_true(fx->got[1].n_pieces >= 1);
	assert_int_equal(fx->got[1].pieces_len, 7);
	assert_memory_equal(fx->got[1].pieces, "1 of 3\n", 7);
	/* At the end: everything, every piece before the callback. */
	assert_int_equal(fx->got[0].calls, 1);
	assert_int_equal(fx->got[0].pieces_after_cb, 0);
	assert_int_equal(fx->got[0].pieces_len, 14);
	assert_memory_equal(fx->got[0].pieces, "1 of 3\n3 of 3\n", 14);
	assert_output(&fx->got[0], "1 of 3\n3 of 3\n");
}

static void test_stdin_is_dev_null(void **state)
{
	struct fx *fx = *state;

	/* A child that reads stdin must see end-of-file at once, not hang. */
	start_sh(fx, 0, "cat; echo rc=$?", 5000, 0);
	fx_run(fx);

	assert_output(&fx->got[0], "rc=0\n");
	assert_false(fx->got[0].timed_out);
}

static void test_env_extra_added_and_overriding(void **state)
{
	struct fx *fx = *state;
	/* /proc/$$/environ is the envp the child was exec'd with, before the
	 * shell folds duplicates: it shows exactly what the runner built. */
	const char *argv[] = { "sh", "-c", "tr '\\0' '\\n' </proc/$$/environ | grep '^RB_TEST_'",
			       NULL };
	const char *env[] = { "RB_TEST_OLD=first", "RB_TEST_NEW=x y", "RB_TEST_OLD=new", NULL };
	struct run_spec spec = { .argv = argv, .env_extra = env, .timeout_ms = 5000 };

	setenv("RB_TEST_OLD", "old", 1);
	setenv("RB_TEST_KEEP", "kept", 1);
	start(fx, 0, &spec);
	fx_run(fx);

	/* Replaced, not added twice; the last of a repeated name wins; the
	 * bot's own environment is untouched. */
	assert_int_equal(fx->got[0].exit_status, 0);
	assert_non_null(strstr(fx->got[0].output, "RB_TEST_OLD=new\n"));
	assert_non_null(strstr(fx->got[0].output, "RB_TEST_NEW=x y\n"));
	assert_non_null(strstr(fx->got[0].output, "RB_TEST_KEEP=kept\n"));
	assert_int_equal(fx->got[0].output_len, strlen("RB_TEST_OLD=new\nRB_TEST_NEW=x y\n"
						       "RB_TEST_KEEP=kept\n"));
	assert_string_equal(getenv("RB_TEST_OLD"), "old");
	unsetenv("RB_TEST_OLD");
	unsetenv("RB_TEST_KEEP");
}

static void test_path_from_env_extra_used_for_lookup(void **state)
{
	struct fx *fx = *state;
	const char *argv[] = { "sh", "-c", "exit 0", NULL };
	const char *env[] = { "PATH=/nonexistent-rollbot-dir", NULL };
	struct run_spec spec = { .argv = argv, .env_extra = env, .timeout_ms = 5000 };

	start(fx, 0, &spec);
	fx_run(fx);

	assert_false(fx->got[0].spawned);
	assert_string_equal(fx->got[0].spawn_error, "sh: no such file or directory (ENOENT)");
}

static void test_cwd_used(void **state)
{
	struct fx *fx = *state;
	char dir[] = "/tmp/rb-runner-cwd-XXXXXX";
	const char *argv[] = { "pwd", NULL };
	struct run_spec spec = { .argv = argv, .cwd = dir, .timeout_ms = 5000 };
	char want[64];

	assert_non_null(mkdtemp(dir));
	snprintf(want, sizeof want, "%s\n", dir);
	start(fx, 0, &spec);
	/* The spec is copied: clobbering it now changes nothing. */
	spec.cwd = "/";
	argv[0] = "false";
	fx_run(fx);
	rmdir(dir);

	assert_int_equal(fx->got[0].exit_status, 0);
	assert_output(&fx->got[0], want);
}

static void test_pgid_is_the_child_pid_and_its_own_session(void **state)
{
	struct fx *fx = *state;
	char want[64];
	int pgid;

	/* Fields 5 and 6 of /proc/PID/stat: process group and session. */
	start_sh(fx, 0, "echo $$; cut -d ' ' -f 5,6 /proc/$$/stat", 5000, 0);
	pgid = run_pgid(fx->got[0].job);
	fx_run(fx);

	assert_true(pgid > 1);
	assert_int_equal(fx->got[0].pgid, pgid);
	snprintf(want, sizeof want, "%d\n%d %d\n", pgid, pgid, pgid);
	assert_output(&fx->got[0], want);
}

/* ---- spawn failures and bad arguments ---- */

static void test_missing_executable_reports_spawn_error(void **state)
{
	struct fx *fx = *state;
	const char *argv[] = { "rollbot-no-such-command", "x", NULL };
	struct run_spec spec = { .argv = argv, .timeout_ms = 5000 };

	start(fx, 0, &spec);
	fx_run(fx);

	assert_int_equal(fx->got[0].calls, 1);
	assert_false(fx->got[0].spawned);
	assert_string_equal(fx->got[0].spawn_error,
			    "rollbot-no-such-command: no such file or directory (ENOENT)");
	assert_int_equal(fx->got[0].pgid, 0);
	assert_false(fx->got[0].timed_out);
	assert_output(&fx->got[0], "");
}

static void test_non_executable_file_reports_eacces(void **state)
{
	struct fx *fx = *state;
	char path[] = "/tmp/rb-runner-noexec-XXXXXX";
	const char *argv[] = { path, NULL };
	struct run_spec spec = { .argv = argv, .timeout_ms = 5000 };
	char want[128];
	int fd = mkstemp(path);

	/* Without any execute bit even root gets EACCES from execve. */
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "#!/bin/sh\n", 10), 10);
	close(fd);
	assert_int_equal(chmod(path, 0644), 0);
	start(fx, 0, &spec);
	fx_run(fx);
	unlink(path);

	snprintf(want, sizeof want, "%s: permission denied (EACCES)", path);
	assert_false(fx->got[0].spawned);
	assert_string_equal(fx->got[0].spawn_error, want);
}

static void test_missing_cwd_reports_spawn_error(void **state)
{
	struct fx *fx = *state;
	const char *argv[] = { "sh", "-c", "exit 0", NULL };
	struct run_spec spec = { .argv = argv,
				 .cwd = "/nonexistent-rollbot-dir",
				 .timeout_ms = 5000 };

	start(fx, 0, &spec);
	fx_run(fx);

	assert_false(fx->got[0].spawned);
	assert_string_equal(fx->got[0].spawn_error,
			    "sh (in /nonexistent-rollbot-dir): no such file or directory (ENOENT)");
}

static void test_callback_never_inside_run_start(void **state)
{
	struct fx *fx = *state;
	const char *bad[] = { "rollbot-no-such-command", NULL };
	struct run_spec spec = { .argv = bad, .timeout_ms = 5000 };

	start_sh(fx, 0, "exit 0", 5000, 0);
	start(fx, 1, &spec);
	assert_int_equal(fx->got[0].calls, 0);
	assert_int_equal(fx->got[1].calls, 0);
	fx_run(fx);

	assert_int_equal(fx->got[0].calls, 1);
	assert_int_equal(fx->got[1].calls, 1);
	assert_false(fx->got[0].during_start);
	assert_false(fx->got[1].during_start);
}

static void test_invalid_arguments_rejected_without_callback(void **state)
{
	struct fx *fx = *state;
	const char *ok[] = { "true", NULL };
	const char *none[] = { NULL };
	const char *empty[] = { "", NULL };
	const char *env_noeq[] = { "FOO", NULL };
	const char *env_noname[] = { "=x", NULL };
	const struct run_spec bad[] = {
		{ .argv = NULL, .timeout_ms = 1000 },
		{ .argv = none, .timeout_ms = 1000 },
		{ .argv = empty, .timeout_ms = 1000 },
		{ .argv = ok, .timeout_ms = 0 },
		{ .argv = ok, .timeout_ms = -5 },
		{ .argv = ok, .timeout_ms = 1000, .grace_ms = -1 },
		{ .argv = ok, .timeout_ms = 1000, .env_extra = env_noeq },
		{ .argv = ok, .timeout_ms = 1000, .env_extra = env_noname },
	};
	struct run_spec good = { .argv = ok, .timeout_ms = 1000 };
	struct run_job *job;

	for (size_t i = 0; i < RB_ARRAY_LEN(bad); i++) {
		/* Any non-NULL value: run_start must reset it to NULL. */
		job = (struct run_job *)(void *)&bad[i];
		assert_int_equal(run_start(&fx->loop, &bad[i], result_cb, &fx->got[0], &job),
				 RB_EINVAL);
		assert_null(job);
	}
	assert_int_equal(run_start(NULL, &good, result_cb, &fx->got[0], NULL), RB_EINVAL);
	assert_int_equal(run_start(&fx->loop, NULL, result_cb, &fx->got[0], NULL), RB_EINVAL);
	assert_int_equal(run_start(&fx->loop, &good, NULL, &fx->got[0], NULL), RB_EINVAL);
	fx_run(fx);

	assert_int_equal(fx->got[0].calls, 0);
}

/* ---- timeouts and process groups ---- */

static void test_timeout_sigterms_the_whole_group(void **state)
{
	struct fx *fx = *state;

	start_sh(fx, 0, "sleep 30 & sleep 30", 300, 3000);
	fx_run(fx);

	assert_int_equal(fx->got[0].calls, 1);
	assert_true(fx->got[0].timed_out);
	assert_int_equal(fx->got[0].term_signal, SIGTERM);
	assert_true(fx->got[0].duration_ms >= 295);
	/* The backgrounded sleep also got SIGTERM: no wait for the grace. */
	assert_true(fx->got[0].duration_ms < 2500);
	assert_true(group_gone(fx->got[0].pgid));
}

static void test_timeout_ignoring_sigterm_killed_after_grace(void **state)
{
	struct fx *fx = *state;

	start_sh(fx, 0, "trap '' TERM; sleep 30 & sleep 30", 200, 300);
	fx_run(fx);

	assert_int_equal(fx->got[0].calls, 1);
	assert_true(fx->got[0].timed_out);
	assert_int_equal(fx->got[0].term_signal, SIGKILL);
	assert_true(fx->got[0].duration_ms >= 495);
	assert_true(fx->got[0].duration_ms < 5000);
	assert_true(group_gone(fx->got[0].pgid));
}

static void test_grandchild_holding_output_killed_after_exit(void **state)
{
	struct fx *fx = *state;

	/* The main process exits at once; its background sleep keeps stdout
	 * open. Without the group kill the callback would wait 30 s. */
	start_sh(fx, 0, "sleep 30 & echo started", 10000, 200);
	fx_run(fx);

	assert_int_equal(fx->got[0].calls, 1);
	assert_false(fx->got[0].timed_out);
	assert_int_equal(fx->got[0].exit_status, 0);
	assert_int_equal(fx->got[0].term_signal, 0);
	assert_output(&fx->got[0], "started\n");
	assert_true(fx->got[0].duration_ms >= 195);
	assert_true(fx->got[0].duration_ms < 3000);
	assert_true(group_gone(fx->got[0].pgid));
}

static void test_group_member_that_closed_its_output_killed(void **state)
{
	struct fx *fx = *state;

	/* The background sleep holds neither pipe, so nothing waits for it;
	 * it must not outlive the run either. */
	start_sh(fx, 0, "sleep 30 </dev/null >/dev/null 2>&1 & echo bg", 10000, 200);
	fx_run(fx);

	assert_int_equal(fx->got[0].calls, 1);
	assert_int_equal(fx->got[0].exit_status, 0);
	assert_false(fx->got[0].timed_out);
	assert_output(&fx->got[0], "bg\n");
	assert_true(fx->got[0].duration_ms < 2000);
	assert_true(group_gone(fx->got[0].pgid));
}

static void test_process_leaving_the_group_cannot_hold_the_callback(void **state)
{
	struct fx *fx = *state;
	char *end;
	long pid;

	/* The inner shell starts a session of its own, prints its pid and
	 * becomes `sleep 30` with our stdout: the group kill cannot reach it,
	 * so the runner must stop waiting for the pipe. */
	start_sh(fx, 0, "setsid sh -c 'echo $$; exec sleep 30' &", 10000, 150);
	fx_run(fx);

	assert_int_equal(fx->got[0].calls, 1);
	assert_false(fx->got[0].timed_out);
	assert_true(fx->got[0].duration_ms >= 295); /* linger 150 + drain 150 */
	assert_true(fx->got[0].duration_ms < 3000);
	pid = strtol(fx->got[0].output, &end, 10);
	assert_true(pid > 1);
	assert_string_equal(end, "\n");
	assert_true(group_gone(fx->got[0].pgid));
	/* It really escaped (alive after the callback); clean it up: it is
	 * our child now (subreaper), so wait for it. */
	assert_int_equal(kill((pid_t)pid, 0), 0);
	assert_int_equal(kill((pid_t)pid, SIGKILL), 0);
	assert_int_equal(waitpid((pid_t)pid, NULL, 0), (pid_t)pid);
}

static void kill_cb(uv_timer_t *t)
{
	struct fx *fx = t->data;

	run_kill(fx->got[0].job);
}

static void test_run_kill_kills_the_group_now(void **state)
{
	struct fx *fx = *state;

	start_sh(fx, 0, "sleep 30 & sleep 30", 10000, 3000);
	assert_int_equal(uv_timer_start(&fx->aux, kill_cb, 100, 0), 0);
	fx_run(fx);

	assert_int_equal(fx->got[0].calls, 1);
	assert_false(fx->got[0].timed_out);
	assert_int_equal(fx->got[0].term_signal, SIGKILL);
	assert_true(fx->got[0].duration_ms >= 95);
	assert_true(fx->got[0].duration_ms < 2000);
	assert_true(group_gone(fx->got[0].pgid));
}

static void test_run_kill_inside_the_callback_does_nothing(void **state)
{
	struct fx *fx = *state;

	/* The contract allows it there (and ASan watches the job's memory). */
	fx->kill_in_cb = true;
	start_sh(fx, 0, "exit 4", 5000, 0);
	fx_run(fx);

	assert_int_equal(fx->got[0].calls, 1);
	assert_int_equal(fx->got[0].exit_status, 4);
	assert_int_equal(fx->got[0].term_signal, 0);
}

static void test_concurrent_jobs_get_their_own_results(void **state)
{
	struct fx *fx = *state;

	start_sh(fx, 0, "echo one; exit 1", 5000, 0);
	start_sh(fx, 1, "sleep 0.2; echo two >&2; exit 2", 5000, 0);
	start_sh(fx, 2, "sleep 30", 200, 1000);
	fx_run(fx);

	assert_output(&fx->got[0], "one\n");
	assert_int_equal(fx->got[0].exit_status, 1);
	assert_output(&fx->got[1], "two\n");
	assert_int_equal(fx->got[1].exit_status, 2);
	assert_true(fx->got[2].timed_out);
	assert_false(fx->got[0].timed_out);
	assert_false(fx->got[1].timed_out);
	for (int i = 0; i < 3; i++)
		assert_int_equal(fx->got[i].calls, 1);
}

/* ---- the output ceiling ---- */

static void test_output_at_the_ceiling_kept_whole(void **state)
{
	struct fx *fx = *state;
	char script[128];

	snprintf(script, sizeof script, "head -c %u /dev/zero | tr '\\0' x", RB_PROC_OUT_MAX);
	start_sh(fx, 0, script, 5000, 0);
	fx_run(fx);

	assert_false(fx->got[0].truncated);
	assert_int_equal(fx->got[0].output_len, RB_PROC_OUT_MAX);
	for (size_t i = 0; i < RB_PROC_OUT_MAX; i++)
		if (fx->got[0].output[i] != 'x')
			fail_msg("byte %zu is %d", i, fx->got[0].output[i]);
	assert_int_equal(fx->got[0].output[RB_PROC_OUT_MAX], '\0');
}

static void test_output_one_byte_over_the_ceiling_is_cut(void **state)
{
	struct fx *fx = *state;
	const char *marker = "\n[… 1 bytes cut …]\n";
	size_t half = RB_PROC_OUT_MAX / 2, mlen = strlen(marker);
	char script[128];
	const char *o;

	/* "a" then x…x then "z": the first cut byte is the first of the tail
	 * half; the head (no newline at its end) gets one before the marker. */
	snprintf(script, sizeof script, "printf a; head -c %u /dev/zero | tr '\\0' x; printf z",
		 RB_PROC_OUT_MAX - 1);
	start_sh(fx, 0, script, 5000, 0);
	fx_run(fx);

	o = fx->got[0].output;
	assert_true(fx->got[0].truncated);
	assert_int_equal(fx->got[0].output_len, RB_PROC_OUT_MAX + mlen);
	assert_int_equal(o[0], 'a');
	assert_int_equal(o[half - 1], 'x');
	assert_memory_equal(o + half, marker, mlen);
	assert_int_equal(o[half + mlen], 'x');
	assert_int_equal(o[RB_PROC_OUT_MAX + mlen - 1], 'z');
}

static void test_output_over_the_ceiling_keeps_head_and_tail(void **state)
{
	struct fx *fx = *state;
	size_t half = RB_PROC_OUT_MAX / 2, total = 0, n = 0;
	char *full = rb_malloc(1u << 20), marker[64];
	int m;

	for (int i = 1; i <= 100000; i++)
		total += (size_t)snprintf(full + total, 16, "%d\n", i);
	start_sh(fx, 0, "seq 1 100000", 5000, 0);
	fx_run(fx);

	assert_true(fx->got[0].truncated);
	assert_int_equal(fx->got[0].exit_status, 0);
	m = snprintf(marker, sizeof marker, "%s[… %zu bytes cut …]\n",
		     full[half - 1] == '\n' ? "" : "\n", total - RB_PROC_OUT_MAX);
	assert_int_equal(fx->got[0].output_len, RB_PROC_OUT_MAX + (size_t)m);
	assert_memory_equal(fx->got[0].output, full, half);
	n = half;
	assert_memory_equal(fx->got[0].output + n, marker, (size_t)m);
	n += (size_t)m;
	assert_memory_equal(fx->got[0].output + n, full + total - half, half);
	assert_int_equal(fx->got[0].output[fx->got[0].output_len], '\0');
	free(full);
}

/* ---- run_tail ---- */

static void check_tail(const char *s, int lines, const char *want)
{
	size_t len = strlen(s), tl = 12345;
	const char *t = run_tail(s, len, lines, &tl);

	assert_true(t >= s && t <= s + len);
	assert_int_equal(tl, strlen(want));
	assert_int_equal((size_t)(t - s) + tl, len);
	assert_memory_equal(t, want, tl);
}

static void test_tail_zero_lines_is_empty(void **state)
{
	(void)state;
	check_tail("a\nb\nc\n", 0, "");
	check_tail("a\nb\nc\n", -1, "");
}

static void test_tail_one_line(void **state)
{
	(void)state;
	check_tail("a\nb\nc\n", 1, "c\n");
	check_tail("only", 1, "only");
}

static void test_tail_three_lines(void **state)
{
	(void)state;
	check_tail("1\n2\n3\n4\n5\n", 3, "3\n4\n5\n");
	check_tail("1\n2\n3\n", 3, "1\n2\n3\n");
	check_tail("1\n2\n", 3, "1\n2\n");
}

static void test_tail_without_trailing_newline(void **state)
{
	(void)state;
	check_tail("a\nb\nc", 2, "b\nc");
}

static void test_tail_only_one_trailing_newline_ignored(void **state)
{
	(void)state;
	/* The second newline ends an empty line, which counts. */
	check_tail("a\nb\n\n", 1, "\n");
	check_tail("a\nb\n\n", 2, "b\n\n");
}

static void test_tail_of_empty_output(void **state)
{
	size_t tl = 99;

	(void)state;
	check_tail("", 3, "");
	assert_null(run_tail(NULL, 0, 3, &tl));
	assert_int_equal(tl, 0);
}

/* ---- run_argv_string ---- */

static void check_argv_string(const char *const *argv, const char *want)
{
	char *s = run_argv_string(argv);

	assert_string_equal(s, want);
	free(s);
}

static void test_argv_string_plain_arguments_unquoted(void **state)
{
	const char *argv[] = { "kubectl", "-n",		"pay-ments",	    "rollout",
			       "undo",	  "deploy/api", "--to-revision=41", "a@b:c,d%e+f_g.h",
			       NULL };

	(void)state;
	check_argv_string(argv, "kubectl -n pay-ments rollout undo deploy/api --to-revision=41 "
				"a@b:c,d%e+f_g.h");
}

static void test_argv_string_quotes_shell_characters(void **state)
{
	const char *argv[] = { "sh", "-c", "echo $(id); rm -rf *", "b c", "~", "a&b", NULL };

	(void)state;
	check_argv_string(argv, "sh -c 'echo $(id); rm -rf *' 'b c' '~' 'a&b'");
}

static void test_argv_string_escapes_single_quote(void **state)
{
	const char *argv[] = { "echo", "it's", "'", NULL };

	(void)state;
	check_argv_string(argv, "echo 'it'\\''s' ''\\'''");
}

static void test_argv_string_empty_argument(void **state)
{
	const char *argv[] = { "helm", "", "x", NULL };

	(void)state;
	check_argv_string(argv, "helm '' x");
}

static void test_argv_string_control_characters_stay_on_one_line(void **state)
{
	const char *argv[] = { "echo", "a\nb", "it's\t\\\x1b[1m", NULL };

	(void)state;
	check_argv_string(argv, "echo $'a\\nb' $'it\\'s\\t\\\\\\x1b[1m'");
}

static void test_argv_string_non_ascii_quoted(void **state)
{
	const char *argv[] = { "echo", "café", NULL };
	const char *none[] = { NULL };

	(void)state;
	check_argv_string(argv, "echo 'café'");
	check_argv_string(none, "");
	check_argv_string(NULL, "");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_argv_arrives_verbatim),
		T(test_exit_status_reported),
		T(test_stdout_and_stderr_interleaved_in_arrival_order),
		T(test_output_delivered_as_it_arrives),
		T(test_stdin_is_dev_null),
		T(test_env_extra_added_and_overriding),
		T(test_path_from_env_extra_used_for_lookup),
		T(test_cwd_used),
		T(test_pgid_is_the_child_pid_and_its_own_session),
		T(test_missing_executable_reports_spawn_error),
		T(test_non_executable_file_reports_eacces),
		T(test_missing_cwd_reports_spawn_error),
		T(test_callback_never_inside_run_start),
		T(test_invalid_arguments_rejected_without_callback),
		T(test_timeout_sigterms_the_whole_group),
		T(test_timeout_ignoring_sigterm_killed_after_grace),
		T(test_grandchild_holding_output_killed_after_exit),
		T(test_group_member_that_closed_its_output_killed),
		T(test_process_leaving_the_group_cannot_hold_the_callback),
		T(test_run_kill_kills_the_group_now),
		T(test_run_kill_inside_the_callback_does_nothing),
		T(test_concurrent_jobs_get_their_own_results),
		T(test_output_at_the_ceiling_kept_whole),
		T(test_output_one_byte_over_the_ceiling_is_cut),
		T(test_output_over_the_ceiling_keeps_head_and_tail),
		cmocka_unit_test(test_tail_zero_lines_is_empty),
		cmocka_unit_test(test_tail_one_line),
		cmocka_unit_test(test_tail_three_lines),
		cmocka_unit_test(test_tail_without_trailing_newline),
		cmocka_unit_test(test_tail_only_one_trailing_newline_ignored),
		cmocka_unit_test(test_tail_of_empty_output),
		cmocka_unit_test(test_argv_string_plain_arguments_unquoted),
		cmocka_unit_test(test_argv_string_quotes_shell_characters),
		cmocka_unit_test(test_argv_string_escapes_single_quote),
		cmocka_unit_test(test_argv_string_empty_argument),
		cmocka_unit_test(test_argv_string_control_characters_stay_on_one_line),
		cmocka_unit_test(test_argv_string_non_ascii_quoted),
	};
	const char *lvl = getenv("RB_TEST_LOG");
	enum log_level l = LOG_ERROR;

	if (lvl && log_level_from_name(lvl, &l) == 0)
		log_set_level(l);
	else
		log_set_level(LOG_ERROR);
	/* See the file comment: orphaned grandchildren come to us, not PID 1. */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1L, 0L, 0L, 0L) != 0)
		perror("prctl(PR_SET_CHILD_SUBREAPER)");
	return cmocka_run_group_tests_name("runner", tests, NULL, NULL) ? 1 : 0;
}
