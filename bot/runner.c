/* rollbot — backend subprocesses (MIT licence, see LICENSE).
 *
 * Owns every child process the bot starts: the uv_process_t, the two pipes
 * that carry its stdout and stderr, the deadline timer, the captured output
 * and the process-group kills.
 *
 * DESIGN
 *
 * A job is one heap struct holding four loop handles (process, stdout
 * pipe, stderr pipe, timer). The child is spawned with UV_PROCESS_DETACHED,
 * which makes libuv call setsid() in it, so its pid is also its process
 * group id and one kill(-pgid) reaches everything it started (kubectl's
 * credential plugins, helm's hooks, a script's background jobs). Both pipes
 * are read to the end: a child blocked on a full pipe would never exit.
 *
 * The one timer walks through phases:
 *
 *   DEADLINE   armed at start with timeout_ms. On expiry: timed_out,
 *              SIGTERM to the group, go to GRACE.
 *   LINGER     the main process exited but something in its group still
 *              holds a pipe open (a backgrounded grandchild): armed with
 *              grace_ms; on expiry go on as GRACE does.
 *   GRACE      on expiry: SIGKILL to the group, go to DRAIN.
 *   DRAIN      armed with grace_ms after the SIGKILL. Only a process that
 *              left the group (its own setsid) can still hold a pipe now;
 *              on expiry the pipes are closed without waiting for it, so
 *              the callback still comes.
 *   REAP       the process has exited and both pipes are closed, but the
 *              group is not empty yet: members signalled a moment ago are
 *              still exiting, or one closed its output and would outlive
 *              the run. Polled every REAP_POLL_MS, reaping the members that
 *              became our children; after grace_ms what is left gets
 *              SIGKILL (if it has not had one yet) and grace_ms more. So
 *              when the callback runs no process of the group is left.
 *
 * Then the timer and the process handle are closed too, and the callback
 * runs from the close callback of the last handle, after which the job is
 * freed (STYLE rule 7): nothing of the job is touched after the callback,
 * and the callback can never run inside run_start(). A spawn failure takes
 * the same road: every handle is closed at once and the callback comes
 * from the last close callback, on a later loop turn.
 *
 * Output: stdout and stderr go into one buffer in the order the loop reads
 * them. Up to RB_PROC_OUT_MAX it is a plain array; past it the first half
 * stays put and the second half becomes a ring holding the newest bytes,
 * so memory stops at the ceiling however much the child writes.
 *
 * Signalling -pgid after the main process has been reaped is safe while
 * any member of the group lives: the number stays reserved. Once the group
 * is empty a new group could in theory get the same number (a pid
 * wrap-around within milliseconds), so the phases after exit are bounded by
 * grace_ms and REAP only probes with signal 0.
 */
#include "runner.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"

/* One read from a pipe; both pipes of a job share it because libuv fills
 * it and calls read_cb before it allocates for another read. */
#define READ_CHUNK   (64u << 10)
#define HEAD_MAX     (RB_PROC_OUT_MAX / 2)
#define TAIL_MAX     (RB_PROC_OUT_MAX - HEAD_MAX)
#define JOB_HANDLES  4 /* process, stdout pipe, stderr pipe, timer */
#define REAP_POLL_MS 10

enum phase {
	PH_DEADLINE,
	PH_LINGER,
	PH_GRACE,
	PH_DRAIN,
	PH_REAP, /* exited, output closed; waiting for the group to be empty */
	PH_DONE, /* finished or failed to spawn; handles closing */
};

/* The captured output: `data` grows to RB_PROC_OUT_MAX (+1 for the NUL);
 * once full, data[HEAD_MAX..] is a ring whose oldest byte is at ring_pos. */
struct capture {
	char *data;
	size_t len;
	size_t cap;
	size_t ring_pos;
	uint64_t total; /* every byte that arrived */
};

struct run_job {
	uv_loop_t *loop;
	uv_process_t proc;
	uv_pipe_t out; /* the child's stdout */
	uv_pipe_t err; /* the child's stderr */
	uv_timer_t timer;
	run_cb cb;
	void (*on_output)(void *arg, const char *data, size_t len);
	void *arg;
	char *name; /* argv[0], for log lines and spawn_error */
	int64_t timeout_ms;
	int64_t grace_ms;
	uint64_t start_ns;
	uint64_t end_ns;
	uint64_t reap_until; /* loop time at which PH_REAP gives up */
	enum phase phase;
	int open_handles; /* not yet through their close callback */
	int open_pipes;	  /* pipes not yet closed */
	bool spawned;
	bool exited;
	bool timed_out;
	bool sent_kill; /* SIGKILL has gone to the group */
	int exit_status;
	int term_signal;
	int pgid;
	char *spawn_error;
	struct capture cap;
	char rbuf[READ_CHUNK];
};

static void capture_append(struct capture *c, const char *p, size_t n)
{
	size_t k;

	c->total += n;
	if (c->len < RB_PROC_OUT_MAX) {
		k = RB_PROC_OUT_MAX - c->len;
		if (k > n)
			k = n;
		if (c->len + k + 1 > c->cap) {
			size_t cap = c->cap ? c->cap : 4096;
			while (cap < c->len + k + 1)
				cap *= 2;
			if (cap > RB_PROC_OUT_MAX + 1)
				cap = RB_PROC_OUT_MAX + 1;
			c->data = rb_realloc(c->data, cap);
			c->cap = cap;
		}
		memcpy(c->data + c->len, p, k);
		c->len += k;
		p += k;
		n -= k;
	}
	if (n == 0)
		return;
	/* Full: the tail half is a ring of the newest TAIL_MAX bytes. When it
	 * just filled up, its oldest byte is the first one (ring_pos 0). */
	if (n >= TAIL_MAX) {
		memcpy(c->data + HEAD_MAX, p + n - TAIL_MAX, TAIL_MAX);
		c->ring_pos = 0;
		return;
	}
	while (n > 0) {
		k = TAIL_MAX - c->ring_pos;
		if (k > n)
			k = n;
		memcpy(c->data + HEAD_MAX + c->ring_pos, p, k);
		c->ring_pos = (c->ring_pos + k) % TAIL_MAX;
		p += k;
		n -= k;
	}
}

/* Turns the capture into the output the callback sees: returns a new
 * NUL-terminated string (free with free()), its length in *len. */
static char *capture_output(struct capture *c, size_t *len, bool *truncated)
{
	char marker[64];
	char *o;
	size_t n;
	int m;

	if (c->total <= RB_PROC_OUT_MAX) {
		o = c->data ? c->data : rb_strdup("");
		o[c->len] = '\0';
		*len = c->len;
		*truncated = false;
		c->data = NULL;
		return o;
	}
	m = snprintf(marker, sizeof marker, "%s[… %llu bytes cut …]\n",
		     c->data[HEAD_MAX - 1] == '\n' ? "" : "\n",
		     (unsigned long long)(c->total - RB_PROC_OUT_MAX));
	RB_ASSERT(m > 0 && (size_t)m < sizeof marker);
	o = rb_malloc(RB_PROC_OUT_MAX + (size_t)m + 1);
	memcpy(o, c->data, HEAD_MAX);
	n = HEAD_MAX;
	memcpy(o + n, marker, (size_t)m);
	n += (size_t)m;
	memcpy(o + n, c->data + HEAD_MAX + c->ring_pos, TAIL_MAX - c->ring_pos);
	n += TAIL_MAX - c->ring_pos;
	memcpy(o + n, c->data + HEAD_MAX, c->ring_pos);
	n += c->ring_pos;
	o[n] = '\0';
	*len = n;
	*truncated = true;
	return o;
}

static int64_t elapsed_ms(const struct run_job *job)
{
	return (int64_t)((job->end_ns - job->start_ns) / 1000000u);
}

static void job_free(struct run_job *job)
{
	free(job->cap.data);
	free(job->spawn_error);
	free(job->name);
	free(job);
}

/* The last handle is closed: hand the result over, then free the job.
 * Nothing of the job is used after the callback returns. */
static void deliver(struct run_job *job)
{
	struct run_result res;
	char *output;

	memset(&res, 0, sizeof res);
	output = capture_output(&job->cap, &res.output_len, &res.truncated);
	res.spawned = job->spawned;
	res.spawn_error = job->spawn_error;
	res.exit_status = job->exit_status;
	res.term_signal = job->term_signal;
	res.timed_out = job->timed_out;
	res.duration_ms = elapsed_ms(job);
	res.pgid = job->pgid;
	res.output = output;
	job->cb(job->arg, &res);
	free(output);
	job_free(job);
}

static void close_cb(uv_handle_t *h)
{
	struct run_job *job = h->data;

	RB_ASSERT(job->open_handles > 0);
	job->open_handles--;
	if (job->open_handles == 0)
		deliver(job);
}

static void close_handle(uv_handle_t *h)
{
	if (!uv_is_closing(h))
		uv_close(h, close_cb);
}

static void close_pipe(struct run_job *job, uv_pipe_t *p)
{
	if (uv_is_closing((uv_handle_t *)p))
		return;
	uv_close((uv_handle_t *)p, close_cb);
	job->open_pipes--;
}

/* Signals the whole process group. ESRCH (nobody left) is the normal end of
 * a race with the group's own exit and not worth a word. */
static void signal_group(struct run_job *job, int sig)
{
	int rc = uv_kill(-job->pgid, sig);

	if (sig == SIGKILL)
		job->sent_kill = true;
	if (rc != 0 && rc != UV_ESRCH)
		log_warn("run: kill pgid=%d sig=%d argv0=%s failed: %s", job->pgid, sig, job->name,
			 uv_strerror(rc));
}

static void timer_cb(uv_timer_t *t);

static void arm_timer(struct run_job *job, enum phase ph, int64_t ms)
{
	int rc;

	job->phase = ph;
	rc = uv_timer_start(&job->timer, timer_cb, (uint64_t)ms, 0);
	RB_ASSERT(rc == 0);
}

/* Reaps the group's members that have become our children: orphans are
 * re-parented to the bot when it runs as PID 1 in a container or is a
 * subreaper, and nothing else would ever wait for them. waitpid(-pgid)
 * only touches this group, whose main process libuv has already reaped,
 * so no other job's exit status is stolen. */
static void reap_group(struct run_job *job)
{
	int st;
	pid_t r;

	do
		r = waitpid(-job->pgid, &st, WNOHANG);
	while (r > 0 || (r < 0 && errno == EINTR));
}

/* True while any process, zombies included, is left in the group. */
static bool group_alive(const struct run_job *job)
{
	return uv_kill(-job->pgid, 0) != UV_ESRCH;
}

/* Everything is over: close the remaining handles; the callback follows
 * from the last close callback. */
static void finish(struct run_job *job)
{
	job->phase = PH_DONE;
	uv_timer_stop(&job->timer);
	log_debug("run: done pid=%d argv0=%s status=%d signal=%d timed_out=%d ms=%lld bytes=%llu",
		  job->pgid, job->name, job->exit_status, job->term_signal, job->timed_out,
		  (long long)elapsed_ms(job), (unsigned long long)job->cap.total);
	close_handle((uv_handle_t *)&job->timer);
	close_handle((uv_handle_t *)&job->proc);
}

/* Called whenever the process exits or a pipe closes. Once both have
 * happened the run is over, but its group may not be: members signalled a
 * moment ago are still on their way out (a pipe reads end-of-file as their
 * files close, before they are gone), and a member that closed its output
 * (`cmd >/dev/null 2>&1 &`) would outlive the run. REAP waits for them. */
static void maybe_finish(struct run_job *job)
{
	if (job->phase == PH_DONE || job->phase == PH_REAP || !job->exited || job->open_pipes > 0)
		return;
	job->end_ns = uv_hrtime();
	reap_group(job);
	if (!group_alive(job)) {
		finish(job);
		return;
	}
	job->reap_until = uv_now(job->loop) + (uint64_t)job->grace_ms;
	arm_timer(job, PH_REAP, REAP_POLL_MS);
}

/* One REAP poll: done when the group is empty; after grace_ms the members
 * left get SIGKILL (once) and grace_ms more to disappear, after which the
 * callback comes anyway rather than never. */
static void reap_poll(struct run_job *job)
{
	reap_group(job);
	if (!group_alive(job)) {
		finish(job);
		return;
	}
	if (uv_now(job->loop) < job->reap_until) {
		arm_timer(job, PH_REAP, REAP_POLL_MS);
		return;
	}
	if (!job->sent_kill) {
		log_warn("run: pid=%d argv0=%s: processes of its group outlived it by %lld ms: "
			 "SIGKILL to the group",
			 job->pgid, job->name, (long long)job->grace_ms);
		signal_group(job, SIGKILL);
		job->reap_until = uv_now(job->loop) + (uint64_t)job->grace_ms;
		arm_timer(job, PH_REAP, REAP_POLL_MS);
		return;
	}
	log_warn("run: pid=%d argv0=%s: its process group still exists %lld ms after SIGKILL "
		 "(zombies nobody reaps, or a process stuck in the kernel)",
		 job->pgid, job->name, (long long)job->grace_ms);
	finish(job);
}

static void timer_cb(uv_timer_t *t)
{
	struct run_job *job = t->data;

	switch (job->phase) {
	case PH_DEADLINE:
		job->timed_out = true;
		log_warn("run: timeout pid=%d argv0=%s timeout_ms=%lld: SIGTERM to the process "
			 "group, SIGKILL in %lld ms",
			 job->pgid, job->name, (long long)job->timeout_ms,
			 (long long)job->grace_ms);
		signal_group(job, SIGTERM);
		arm_timer(job, PH_GRACE, job->grace_ms);
		break;
	case PH_LINGER:
		log_warn("run: pid=%d argv0=%s exited but its process group kept the output open "
			 "for %lld ms: SIGKILL to the group",
			 job->pgid, job->name, (long long)job->grace_ms);
		signal_group(job, SIGKILL);
		arm_timer(job, PH_DRAIN, job->grace_ms);
		break;
	case PH_GRACE:
		log_warn("run: pid=%d argv0=%s still running %lld ms after SIGTERM: SIGKILL to "
			 "the process group",
			 job->pgid, job->name, (long long)job->grace_ms);
		signal_group(job, SIGKILL);
		arm_timer(job, PH_DRAIN, job->grace_ms);
		break;
	case PH_DRAIN:
		if (job->open_pipes > 0) {
			log_warn("run: pid=%d argv0=%s: a process outside the group holds the "
				 "output open; closing it without waiting",
				 job->pgid, job->name);
			close_pipe(job, &job->out);
			close_pipe(job, &job->err);
		}
		if (!job->exited)
			log_error("run: pid=%d argv0=%s has not exited %lld ms after SIGKILL",
				  job->pgid, job->name, (long long)job->grace_ms);
		maybe_finish(job);
		break;
	case PH_REAP:
		reap_poll(job);
		break;
	case PH_DONE:
		break;
	}
}

static void exit_cb(uv_process_t *p, int64_t exit_status, int term_signal)
{
	struct run_job *job = p->data;

	job->exited = true;
	job->exit_status = (int)exit_status;
	job->term_signal = term_signal;
	log_debug("run: exited pid=%d argv0=%s status=%d signal=%d", job->pgid, job->name,
		  job->exit_status, term_signal);
	/* Before the deadline, a group that keeps the pipes open gets grace_ms
	 * to let go; after it, the kill sequence already under way goes on. */
	if (job->open_pipes > 0 && job->phase == PH_DEADLINE)
		arm_timer(job, PH_LINGER, job->grace_ms);
	maybe_finish(job);
}

static void alloc_cb(uv_handle_t *h, size_t suggested, uv_buf_t *buf)
{
	struct run_job *job = h->data;

	(void)suggested;
	buf->base = job->rbuf;
	buf->len = sizeof job->rbuf;
}

static void read_cb(uv_stream_t *s, ssize_t nread, const uv_buf_t *buf)
{
	struct run_job *job = s->data;

	if (nread > 0) {
		capture_append(&job->cap, buf->base, (size_t)nread);
		if (job->on_output)
			job->on_output(job->arg, buf->base, (size_t)nread);
		return;
	}
	if (nread == 0)
		return;
	if (nread != UV_EOF)
		log_debug("run: pid=%d argv0=%s: reading output: %s", job->pgid, job->name,
			  uv_strerror((int)nread));
	close_pipe(job, (uv_pipe_t *)s);
	maybe_finish(job);
}

/* Checks the arguments run_start() refuses. */
static bool spec_valid(const struct run_spec *spec)
{
	if (!spec->argv || !spec->argv[0] || !spec->argv[0][0])
		return false;
	if (spec->timeout_ms <= 0 || spec->grace_ms < 0)
		return false;
	for (size_t i = 0; spec->env_extra && spec->env_extra[i]; i++) {
		const char *eq = strchr(spec->env_extra[i], '=');
		if (!eq || eq == spec->env_extra[i])
			return false;
	}
	return true;
}

/* True when environment entry b sets the variable that "KEY=VALUE" a
 * names (b may lack the '=': the environment is not ours to trust). */
static bool same_name(const char *a, const char *b)
{
	size_t n = strcspn(a, "=");

	return strncmp(a, b, n) == 0 && (b[n] == '=' || b[n] == '\0');
}

/* The child's environment: the bot's, minus every variable env_extra
 * names, plus env_extra (the last of repeated names). Returns a new
 * NULL-terminated array of new strings; free with free_strv(). */
static char **build_env(const char *const *extra)
{
	size_t n = 0, nx = 0, k = 0;
	char **env;

	while (environ && environ[n])
		n++;
	while (extra && extra[nx])
		nx++;
	env = rb_calloc(n + nx + 1, sizeof *env);
	for (size_t i = 0; i < n; i++) {
		bool replaced = false;
		for (size_t j = 0; j < nx && !replaced; j++)
			replaced = same_name(extra[j], environ[i]);
		if (!replaced)
			env[k++] = rb_strdup(environ[i]);
	}
	for (size_t j = 0; j < nx; j++) {
		bool later = false;
		for (size_t l = j + 1; l < nx && !later; l++)
			later = same_name(extra[l], extra[j]);
		if (!later)
			env[k++] = rb_strdup(extra[j]);
	}
	env[k] = NULL;
	return env;
}

static char **copy_strv(const char *const *v)
{
	size_t n = 0;
	char **c;

	while (v[n])
		n++;
	c = rb_calloc(n + 1, sizeof *c);
	for (size_t i = 0; i < n; i++)
		c[i] = rb_strdup(v[i]);
	return c;
}

static void free_strv(char **v)
{
	for (size_t i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}

/* Starts a job: see runner.h for the contract. The spec is copied into the
 * uv_spawn options and the copies freed once the child has exec'd (libuv
 * forks inside uv_spawn and waits for the exec), so the environment, which
 * may hold credentials, does not linger in the bot's memory. */
int run_start(uv_loop_t *loop, const struct run_spec *spec, run_cb cb, void *arg,
	      struct run_job **out)
{
	uv_process_options_t opt;
	uv_stdio_container_t stdio[3];
	struct run_job *job;
	char **argv, **env;
	int rc;

	if (out)
		*out = NULL;
	if (!loop || !spec || !cb || !spec_valid(spec))
		return RB_EINVAL;

	job = rb_calloc(1, sizeof *job);
	job->loop = loop;
	job->cb = cb;
	job->arg = arg;
	job->name = rb_strdup(spec->argv[0]);
	job->timeout_ms = spec->timeout_ms;
	job->on_output = spec->on_output;
	job->grace_ms = spec->grace_ms ? spec->grace_ms : RUN_DEFAULT_GRACE_MS;
	job->phase = PH_DEADLINE;

	/* These only fill in structs on Unix; a failure would be a bug. */
	rc = uv_timer_init(loop, &job->timer);
	RB_ASSERT(rc == 0);
	rc = uv_pipe_init(loop, &job->out, 0);
	RB_ASSERT(rc == 0);
	rc = uv_pipe_init(loop, &job->err, 0);
	RB_ASSERT(rc == 0);
	job->timer.data = job;
	job->out.data = job;
	job->err.data = job;
	job->proc.data = job;
	job->open_handles = JOB_HANDLES;
	job->open_pipes = 2;

	argv = copy_strv(spec->argv);
	env = build_env(spec->env_extra);
	memset(&opt, 0, sizeof opt);
	memset(stdio, 0, sizeof stdio);
	stdio[0].flags = UV_IGNORE; /* libuv opens /dev/null for it */
	stdio[1].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	stdio[1].data.stream = (uv_stream_t *)&job->out;
	stdio[2].flags = UV_CREATE_PIPE | UV_WRITABLE_PIPE;
	stdio[2].data.stream = (uv_stream_t *)&job->err;
	opt.exit_cb = exit_cb;
	opt.file = argv[0];
	opt.args = argv;
	opt.env = env;
	opt.cwd = spec->cwd;
	opt.flags = UV_PROCESS_DETACHED;
	opt.stdio_count = 3;
	opt.stdio = stdio;

	job->start_ns = uv_hrtime();
	rc = uv_spawn(loop, &job->proc, &opt);
	free_strv(argv);
	free_strv(env);
	if (out)
		*out = job;

	if (rc != 0) {
		/* Same road as a finished run: close everything, call back from
		 * the last close callback, so never inside run_start(). */
		job->end_ns = uv_hrtime();
		job->phase = PH_DONE;
		if (spec->cwd)
			job->spawn_error = rb_asprintf("%s (in %s): %s (%s)", job->name, spec->cwd,
						       uv_strerror(rc), uv_err_name(rc));
		else
			job->spawn_error = rb_asprintf("%s: %s (%s)", job->name, uv_strerror(rc),
						       uv_err_name(rc));
		log_debug("run: spawn failed: %s", job->spawn_error);
		job->open_pipes = 0;
		close_handle((uv_handle_t *)&job->out);
		close_handle((uv_handle_t *)&job->err);
		close_handle((uv_handle_t *)&job->timer);
		close_handle((uv_handle_t *)&job->proc);
		return 0;
	}

	job->spawned = true;
	job->pgid = job->proc.pid;
	rc = uv_read_start((uv_stream_t *)&job->out, alloc_cb, read_cb);
	RB_ASSERT(rc == 0);
	rc = uv_read_start((uv_stream_t *)&job->err, alloc_cb, read_cb);
	RB_ASSERT(rc == 0);
	/* The loop's clock may be stale (it is read once per turn): count the
	 * deadline from now. */
	uv_update_time(loop);
	arm_timer(job, PH_DEADLINE, job->timeout_ms);
	log_debug("run: spawned pid=%d argv0=%s timeout_ms=%lld", job->pgid, job->name,
		  (long long)job->timeout_ms);
	return 0;
}

/* Kills the job's process group at once; see runner.h. A job already
 * finishing (exited, output closed, callback pending or running) is left
 * alone: its group has been killed or is gone, and its pgid could belong to
 * someone else soon. */
void run_kill(struct run_job *job)
{
	if (!job || job->phase == PH_DONE || job->phase == PH_REAP)
		return;
	log_info("run: kill pid=%d argv0=%s: SIGKILL to the process group", job->pgid, job->name);
	signal_group(job, SIGKILL);
	arm_timer(job, PH_DRAIN, job->grace_ms);
}

/* Returns the job's process group id, 0 if it was never spawned. */
int run_pgid(const struct run_job *job)
{
	return job ? job->pgid : 0;
}

/* Finds where the last max_lines lines start, scanning back from the end;
 * see runner.h. Never reads outside output[0..len). */
const char *run_tail(const char *output, size_t len, int max_lines, size_t *tail_len)
{
	size_t end = len, i;
	int seen = 0;

	if (max_lines <= 0 || len == 0) {
		*tail_len = 0;
		return output ? output + len : output;
	}
	if (output[end - 1] == '\n')
		end--;
	for (i = end; i > 0; i--) {
		if (output[i - 1] != '\n')
			continue;
		seen++;
		if (seen == max_lines)
			break;
	}
	*tail_len = len - i;
	return output + i;
}

static bool is_plain(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c != '\0' && strchr("_./:=,@%+-", c) != NULL);
}

/* Writes one rendered argument to dst (when not NULL) and returns its
 * length, so the caller can size the buffer with a first pass. */
static size_t quote_arg(const char *s, char *dst)
{
	const unsigned char *p = (const unsigned char *)s;
	bool plain = *p != '\0', ctl = false;
	size_t n = 0;
	char tmp[8];

	for (const unsigned char *q = p; *q; q++) {
		if (!is_plain(*q))
			plain = false;
		if (*q < 0x20 || *q == 0x7f)
			ctl = true;
	}

#define PUT(str, l)                                  \
	do {                                         \
		if (dst)                             \
			memcpy(dst + n, (str), (l)); \
		n += (l);                            \
	} while (0)

	if (plain) {
		PUT(s, strlen(s));
		return n;
	}
	if (!ctl) {
		PUT("'", 1);
		for (; *p; p++) {
			if (*p == '\'')
				PUT("'\\''", 4);
			else
				PUT(p, 1);
		}
		PUT("'", 1);
		return n;
	}
	/* bash's $'…': keeps a newline or an escape sequence in an argument
	 * from breaking (or forging) a log line. */
	PUT("$'", 2);
	for (; *p; p++) {
		if (*p == '\n') {
			PUT("\\n", 2);
		} else if (*p == '\t') {
			PUT("\\t", 2);
		} else if (*p == '\r') {
			PUT("\\r", 2);
		} else if (*p == '\\' || *p == '\'') {
			PUT("\\", 1);
			PUT(p, 1);
		} else if (*p < 0x20 || *p == 0x7f) {
			snprintf(tmp, sizeof tmp, "\\x%02x", *p);
			PUT(tmp, 4);
		} else {
			PUT(p, 1);
		}
	}
	PUT("'", 1);
	return n;
#undef PUT
}

/* Renders argv for display; see runner.h. Returns a new string (free()). */
char *run_argv_string(const char *const *argv)
{
	size_t n = 0, k = 0;
	char *s;

	if (!argv)
		return rb_strdup("");
	for (size_t i = 0; argv[i]; i++)
		n += quote_arg(argv[i], NULL) + 1;
	s = rb_malloc(n + 1);
	for (size_t i = 0; argv[i]; i++) {
		if (i > 0)
			s[k++] = ' ';
		k += quote_arg(argv[i], s + k);
	}
	s[k] = '\0';
	return s;
}
