/* rollbot — backend subprocesses (MIT licence, see LICENSE).
 *
 * Runs one backend command (kubectl, helm, docker, aws, an operator
 * script) on the libuv loop without ever blocking it (c-models.md §3.5):
 * argv only, never a shell; the child in its own process group; stdout and
 * stderr captured through pipes up to RB_PROC_OUT_MAX; a deadline after
 * which the whole group gets SIGTERM and, after a grace period, SIGKILL.
 * Every run ends in exactly one callback, including the ones that could not
 * even be spawned, so callers have a single path for every outcome.
 */
#ifndef RUNNER_H
#define RUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <uv.h>

#include "../commands/rb.h"

#define RUN_DEFAULT_GRACE_MS 3000

/* What to run. run_start() copies all of it: the caller may free or reuse
 * every string and array as soon as run_start() returns. */
struct run_spec {
	/* NULL-terminated; argv[0] is looked up on the PATH of the child's
	 * environment (execvp, so a PATH in env_extra applies). Each element
	 * reaches the child verbatim: nothing is split, expanded or quoted. */
	const char *const *argv;
	/* NULL, or NULL-terminated "KEY=VALUE" strings added to the bot's
	 * environment, replacing a variable of the same name (the last one
	 * wins if a name repeats). May hold secrets: never logged. */
	const char *const *env_extra;
	const char *cwd;    /* working directory, or NULL for the bot's */
	int64_t timeout_ms; /* > 0: the deadline, counted from run_start() */
	/* After the deadline: SIGTERM to the whole process group, then SIGKILL
	 * after grace_ms. Also how long a group may outlive its main process
	 * (holding the output pipes open or not) before it is killed, and how
	 * long after a SIGKILL the runner waits for the group to be gone.
	 * 0 means RUN_DEFAULT_GRACE_MS. */
	int64_t grace_ms;
	/* NULL, or called on the loop with each piece of output as it arrives
	 * (stdout and stderr interleaved, pieces not cut at lines), always
	 * before the run's callback, with the run's `arg`: for a live view of
	 * a long step. The bytes are borrowed for the call. Everything still
	 * ends up in run_result.output as well. */
	void (*on_output)(void *arg, const char *data, size_t len);
};

/* What a finished run hands its callback. Everything is borrowed: valid
 * only during the callback; copy what you keep. */
struct run_result {
	bool spawned; /* false: spawn_error says why, nothing ran */
	/* "kubectl: no such file or directory (ENOENT)", or with a cwd
	 * "kubectl (in /srv/x): …"; NULL when spawned. */
	const char *spawn_error;
	int exit_status;     /* 0..255 when it exited; 0 when killed by a signal */
	int term_signal;     /* the signal that killed it (SIGTERM, SIGKILL), or 0 */
	bool timed_out;	     /* the deadline passed and the group was signalled */
	int64_t duration_ms; /* from spawn until it had exited and its output ended */
	int pgid;	     /* the child's process group (= its pid); 0 if not spawned */
	/* stdout and stderr interleaved in arrival order, NUL-terminated
	 * (output[output_len] == '\0'; the bytes may hold NULs themselves);
	 * "" when there was none. Never NULL. */
	const char *output;
	size_t output_len;
	/* More than RB_PROC_OUT_MAX bytes arrived: the first and the last
	 * RB_PROC_OUT_MAX / 2 bytes are kept, with the line
	 * "[… N bytes cut …]" between them (preceded by a newline if the head
	 * does not end in one), so output_len is a few bytes over the ceiling. */
	bool truncated;
};

typedef void (*run_cb)(void *arg, const struct run_result *res);

struct run_job; /* opaque; owned by the runner, freed after its callback */

/** Starts `spec` on `loop` and calls `cb(arg, result)` exactly once, after
 * the process has exited and both output pipes reached end-of-file (or were
 * closed after the group was killed), and never before run_start() returns.
 * The child runs in a process group of its own (setsid), stdin /dev/null.
 * At the deadline the group gets SIGTERM, then SIGKILL after grace_ms. A
 * group that outlives its main process by grace_ms (holding the output
 * open or not) gets SIGKILL too, and the callback waits until the group is
 * empty (up to grace_ms after the SIGKILL, then it comes anyway), so no
 * process of the run is left when it is called.
 * A command that cannot be spawned (ENOENT, EACCES, a bad cwd) is not an
 * error here: the callback comes on a later loop turn with spawned=false.
 * \param out receives the job (may be NULL); it stays valid until the
 *        callback has returned and must not be used after.
 * \return 0, or RB_EINVAL (loop, spec, cb or argv NULL; argv[0] NULL or
 *         empty; timeout_ms <= 0; grace_ms < 0; an env_extra entry without
 *         "=" or with an empty name), and then cb is never called. */
int run_start(uv_loop_t *loop, const struct run_spec *spec, run_cb cb, void *arg,
	      struct run_job **out) RB_MUSTCHECK;

/** Sends SIGKILL to the job's whole process group now (shutdown, an
 * operator's cancel). The callback still comes, once, with timed_out as it
 * was and term_signal SIGKILL if the main process was still running. Only
 * valid before the job's callback has run (the job is freed right after);
 * from inside that callback it does nothing. */
void run_kill(struct run_job *job);

/** The job's process group id (= the child's pid), for the audit log, so
 * a restarted bot can find what it left behind; 0 if the spawn failed. */
int run_pgid(const struct run_job *job);

/** Pure: the start of the last `max_lines` lines of `output` (one trailing
 * newline does not start an empty last line), for posting the end of a
 * long output. Returns a pointer into `output` (borrowed) and sets
 * *tail_len to the bytes from there to the end; max_lines <= 0 gives the
 * empty tail at the end. */
const char *run_tail(const char *output, size_t len, int max_lines, size_t *tail_len);

/** Renders argv as one shell-like line for logs and the audit trail: an
 * argument made only of [A-Za-z0-9_./:=,@%+-] is written as is, any other
 * is single-quoted (' written as '\''), an empty one is '', and one holding
 * control characters is written $'…' with escapes so the line stays one
 * line. For display only: NEVER pass it to a shell. Returns a new string
 * (free with free()); "" for a NULL argv. */
char *run_argv_string(const char *const *argv);

#endif
