/* rollbot — the scenario harness (MIT licence, see LICENSE).
 *
 * Runs the scenarios in tests/scenarios/NNN-name.json (their format is in
 * tests/scenarios/README.md) against the real bot, the fake Slack
 * (tests/fake_slack.c) and a real, throwaway PostgreSQL (tests/pg.sh).
 *
 * One PostgreSQL cluster serves the whole run. Each scenario gets a fresh
 * database, a fresh fake Slack, a fresh bot and a temporary folder that
 * holds both processes' stderr (kept when the scenario fails, removed
 * when it passes). The steps are run in order; expectations poll the fake's
 * control API, the database or the bot's log until they hold or their time
 * is up. Whatever happens, the bot is then stopped with SIGTERM (it must
 * exit 0), the fake too, and the bot's log is searched for sanitizer
 * reports and error lines the scenario did not expect.
 *
 * Backends are the stubs in tests/stubs, first on the bot's PATH: they
 * append one JSON line per call to the scenario's stub-calls.jsonl (read by
 * expect_argv, with a cursor of its own) and answer as its stub-rules.json
 * says (written by stub_rules). The harness is a child subreaper, so the
 * orphans of a killed backend group come to it and are reaped while it
 * polls; whatever still runs with the scenario's ROLLBOT_TEST_DIR at the end
 * is killed.
 *
 * Blocking is fine here: one scenario at a time, libcurl easy, libpq
 * blocking, short sleeps between polls. Children run in process groups of
 * their own so that a Ctrl-C reaches only the harness, which then stops them
 * and the cluster in order; a second Ctrl-C (a second or more later) kills
 * them at once, a third exits at once.
 *
 * The last line printed is "harness: N passed, M failed"; the exit status
 * is 1 when a scenario failed.
 */
#include "commands/rb.h"

#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <limits.h>
#include <regex.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define DEFAULT_CONFIG	  "tests/scenarios/rollbot.yaml"
#define DEFAULT_PG_SCRIPT "tests/pg.sh"
#define PROM_SCRIPT	  "tests/prometheus.sh"
#define AM_SCRIPT	  "tests/alertmanager.sh"
#define SCENARIO_DIR	  "tests/scenarios"
#define STUB_DIR	  "tests/stubs"
#define STUB_CALLS	  "stub-calls.jsonl" /* in the scenario's folder (tests/stubs/stub) */
#define STUB_RULES	  "stub-rules.json"

#define DEFAULT_WITHIN_MS    5000
#define DEFAULT_FOR_MS	     1000
#define DEFAULT_EXIT_WAIT_MS 10000
#define DEFAULT_RUN_MS	     10000 /* a run step's timeout */
#define RUN_GRACE_MS	     1000  /* SIGTERM → SIGKILL for a run step's group */
#define RUN_OUT_MAX	     (1u << 20)
#define TAIL_STUB_CALLS	     10
#define DEFAULT_TIMEOUT_S    60
#define HELLO_WAIT_MS	     20000 /* start-up includes migrations, and ASan is slow */
#define STOP_WAIT_MS	     10000 /* SIGTERM → exit, as the brief for the bot says */
#define PORT_WAIT_MS	     10000
#define POLL_MS		     50
#define HTTP_TIMEOUT_MS	     10000
#define HTTP_MAX	     (64u << 20) /* /_fake/calls of a long scenario with uploads */
#define LOG_MAX		     (64u << 20)
#define SCRIPT_WAIT_MS	     120000 /* initdb on a busy machine */
#define TAIL_CALLS	     30
#define TAIL_LOG_LINES	     40
#define SHOW_MAX	     600 /* characters of one value in a one-line message */

#define MAX_REPLICAS 3 /* "replicas": bots on one database and one fake */
#define ALL_BOTS     ((1u << MAX_REPLICAS) - 1)

#define USER_REQUESTER "U02JD0E4512"
#define USER_APPROVER  "U03ASM1TH7Q"
#define CHANNEL	       "C05K8Q2V7XM"

/* Signals: counted by the handler, acted on by the run loop (see the file
 * header). The process groups of the live children are kept here so that a
 * second signal can kill them from the handler. */
enum {
	SLOT_BOT, /* one per replica: SLOT_BOT + k */
	SLOT_FAKE = SLOT_BOT + MAX_REPLICAS,
	SLOT_SCRIPT,
	SLOT_COUNT
};
static volatile sig_atomic_t g_signals;
static volatile sig_atomic_t g_pgids[SLOT_COUNT];

static void on_signal_cb(int sig)
{
	static struct timespec first;
	struct timespec now;

	(void)sig;
	/* One Ctrl-C may arrive twice: from the terminal and forwarded by a
	 * `timeout` above us. Only a signal a second after the first counts
	 * as the second. (clock_gettime is async-signal-safe.) */
	clock_gettime(CLOCK_MONOTONIC, &now);
	if (g_signals == 0)
		first = now;
	else if (now.tv_sec - first.tv_sec < 2 &&
		 (now.tv_sec - first.tv_sec) * 1000000000L + now.tv_nsec - first.tv_nsec <
			 1000000000L)
		return;
	g_signals++;
	if (g_signals == 2) {
		for (int i = 0; i < SLOT_COUNT; i++)
			if (g_pgids[i] > 0)
				kill(-(pid_t)g_pgids[i], SIGKILL);
	} else if (g_signals >= 3) {
		_exit(130);
	}
}

/* One run of the harness: options and the shared PostgreSQL cluster. */
struct harness {
	const char *build;
	const char *filter;
	const char *pg_script;
	char repo[PATH_MAX]; /* the top of the repository (the working folder) */
	char *pg_dir;	     /* the cluster's folder */
	bool pg_owned; /* we started it (else --pg-dir named a running one) */
	bool keep;     /* keep every scenario's folder */
	bool verbose;
	int n_pass;
	int n_fail;
};

/* A child process: a bot or the fake. */
struct proc {
	const char *what; /* for messages */
	int slot;	  /* index into g_pgids */
	pid_t pid;	  /* 0 until started */
	bool running;
	int status; /* wait status, once it has exited */
};

/* One bot process (a replica: "replicas" > 1 runs several on one database
 * and one fake). */
struct bot {
	struct proc proc;
	bool should_run; /* started and not stopped, killed or expected to exit */
	char *log;	 /* its stdout and stderr: bot.log, bot-2.log, bot-3.log */
	char name[24];	 /* for messages: "the bot", or "replica 2" */
};

/* One scenario being run. */
struct scenario {
	struct harness *h;
	const char *path;
	char *id;    /* the file name without ".json" */
	json_t *doc; /* the parsed file */
	int index;
	char tmp[64]; /* the scenario's folder */
	char *fake_log;
	char *db_url;
	PGconn *pg;
	CURL *curl;
	int port;
	int http_port; /* ${http_port}: picked at its first use, then kept */
	char base[64]; /* "http://127.0.0.1:PORT" */
	struct proc fake;
	struct bot bots[MAX_REPLICAS];
	int n_bots;		/* "replicas" */
	int cur_replica;	/* ${replica}: while a bot's env and config are made, else 0 */
	json_t *vars;		/* results saved with "as" */
	json_t *calls;		/* every call fetched from the fake so far, in order */
	json_int_t calls_seen;	/* highest seq in calls */
	json_int_t cursor;	/* seq of the last call an expect_call consumed */
	json_t *log_expected;	/* regexes of expect_log steps that held */
	json_t *stub_calls;	/* records read from stub-calls.jsonl, each with "seq" */
	long stub_off;		/* bytes of stub-calls.jsonl read (whole lines only) */
	json_int_t stub_cursor; /* seq of the last record an expect_argv consumed */
	char *leftovers;	/* stub processes killed at the end, for a note */
	int64_t t0;
	int64_t deadline; /* the scenario's timeout, monotonic ms */
	int timeout_s;
	int step; /* index of the step running, -1 outside steps */
	/* The first failure; later ones are only counted. */
	bool failed;
	char *why;
	int fail_step;
	json_t *fail_expected;
	json_t *fail_actual;
	struct rb_buf detail; /* extra lines for the report */
	/* "prometheus": a real one, run by tests/prometheus.sh */
	char prom_dir[96];  /* its folder in tmp; empty until set up */
	char prom_url[64];  /* ${prometheus_url} */
	bool prom_started; /* its folder exists (started at least once) */
	/* "alertmanager": a real one, run by tests/alertmanager.sh */
	char am_dir[96];
	char am_url[64]; /* ${alertmanager_url} */
	bool am_started;
};

/* What a sanitizer report in a child's stderr contains. */
static const char *const sanitizer_marks[] = { "AddressSanitizer", "LeakSanitizer",
					       "runtime error:" };

/* ---- small helpers ---------------------------------------------------- */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void nap(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* The string at key k of object o, or def. */
static const char *jstr(const json_t *o, const char *k, const char *def)
{
	const char *v = json_string_value(json_object_get(o, k));

	return v ? v : def;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t a = strlen(s), b = strlen(suffix);

	return a >= b && !strcmp(s + a - b, suffix);
}

/* Appending to message buffers: their ceilings are far above any message,
 * and a message cut short is still a message, so errors are dropped here. */
static void msg_append(struct rb_buf *b, const void *p, size_t n)
{
	if (rb_buf_append(b, p, n) != RB_OK)
		return;
}

static void msg_puts(struct rb_buf *b, const char *s)
{
	msg_append(b, s, strlen(s));
}

static void msg_printf(struct rb_buf *b, const char *fmt, ...) RB_PRINTF(2, 3);
static void msg_printf(struct rb_buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = rb_buf_vprintf(b, fmt, ap);
	va_end(ap);
	if (rc != RB_OK)
		return;
}

/* "exit 0", "exit 1", "signal 11 (Segmentation fault)". */
static void status_str(int st, char *buf, size_t len)
{
	if (WIFEXITED(st))
		snprintf(buf, len, "exit %d", WEXITSTATUS(st));
	else if (WIFSIGNALED(st))
		snprintf(buf, len, "signal %d (%s)", WTERMSIG(st), strsignal(WTERMSIG(st)));
	else
		snprintf(buf, len, "wait status %d", st);
}

/* Compact JSON of v for a one-line message, cut at SHOW_MAX characters;
 * "nothing" for NULL. Appends to b. */
static void show(struct rb_buf *b, const json_t *v)
{
	char *s;
	size_t n;

	if (!v) {
		msg_puts(b, "nothing");
		return;
	}
	s = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);
	if (!s) {
		msg_puts(b, "?");
		return;
	}
	n = strlen(s);
	if (n > SHOW_MAX)
		msg_printf(b, "%.*s…(%zu more)", SHOW_MAX, s, n - SHOW_MAX);
	else
		msg_puts(b, s);
	free(s);
}

/* Reads a whole file into a new string (free with free()), or NULL. */
static char *slurp(const char *path, size_t max)
{
	struct rb_buf b;
	char chunk[65536];
	size_t n;
	FILE *f = fopen(path, "rb");

	if (!f)
		return NULL;
	rb_buf_init(&b, max);
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		if (rb_buf_append(&b, chunk, n) != RB_OK)
			break; /* keep what fitted: a log this big is a failure anyway */
	}
	fclose(f);
	return rb_buf_steal(&b);
}

static int rm_cb(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	remove(path);
	return 0;
}

static void rm_rf(const char *dir)
{
	nftw(dir, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- failure records -------------------------------------------------- */

/* Records the scenario's failure (the first one wins) and returns -1. */
static int failf(struct scenario *s, const char *fmt, ...) RB_PRINTF(2, 3);
static int failf(struct scenario *s, const char *fmt, ...)
{
	va_list ap;
	struct rb_buf b;

	if (s->failed)
		return -1;
	rb_buf_init(&b, 1u << 20);
	va_start(ap, fmt);
	if (rb_buf_vprintf(&b, fmt, ap) != RB_OK)
		rb_buf_reset(&b); /* only past 1 MiB: the reason is then lost */
	va_end(ap);
	s->failed = true;
	s->why = rb_buf_steal(&b);
	s->fail_step = s->step;
	return -1;
}

/* Attaches what was expected and what was found to the failure just
 * recorded. Takes new references to both (either may be NULL). */
static void fail_values(struct scenario *s, const json_t *expected, const json_t *actual)
{
	if (!s->fail_expected && expected)
		s->fail_expected = json_deep_copy(expected);
	if (!s->fail_actual && actual)
		s->fail_actual = json_deep_copy(actual);
}

/* ---- child processes -------------------------------------------------- */

/* Starts argv[0] (a path) with envp, stdin from /dev/null and stdout +
 * stderr appended to log_path, in a process group of its own. */
static int proc_spawn(struct proc *p, char *const argv[], char *const envp[], const char *log_path,
		      char *err, size_t errlen)
{
	int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	pid_t pid;

	if (fd < 0) {
		snprintf(err, errlen, "cannot open %s: %s", log_path, strerror(errno));
		return -1;
	}
	pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY);
		sigset_t none;

		setpgid(0, 0);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (nul >= 0)
			dup2(nul, 0);
		dup2(fd, 1);
		dup2(fd, 2);
		execve(argv[0], argv, envp);
		dprintf(2, "harness: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid); /* both sides, so no signal can race the child's own call */
	close(fd);
	p->pid = pid;
	p->running = true;
	p->status = 0;
	g_pgids[p->slot] = pid;
	return 0;
}

/* Notices an exit without waiting. Returns true while the child runs. */
static bool proc_poll(struct proc *p)
{
	int st;

	if (!p->running)
		return false;
	if (waitpid(p->pid, &st, WNOHANG) == p->pid) {
		p->running = false;
		p->status = st;
		g_pgids[p->slot] = 0;
		/* Whatever it left in its group goes with it. */
		kill(-p->pid, SIGKILL);
	}
	return p->running;
}

/* Waits up to ms for the child to exit. Returns true when it has. */
static bool proc_wait(struct proc *p, int ms)
{
	int64_t until = now_ms() + ms;

	while (proc_poll(p)) {
		if (now_ms() >= until)
			return false;
		nap(10);
	}
	return true;
}

/* Sends sig and waits up to ms; past that the whole group is killed.
 * Returns true when it exited in time. */
static bool proc_stop(struct proc *p, int sig, int ms)
{
	if (!proc_poll(p))
		return true;
	kill(p->pid, sig);
	if (proc_wait(p, ms))
		return true;
	kill(-p->pid, SIGKILL);
	proc_wait(p, 5000);
	return false;
}

/* Runs `bash script args…` in its own group with stdout to an unlinked
 * temporary file (not a pipe: a postmaster started by the script may keep
 * its stdout open for ever) and waits for it; a pending signal cuts the wait
 * short unless the call is part of the clean-up (cleanup). Returns 0 and
 * the last non-empty line of its stdout in *out (free with free(); NULL
 * when it printed nothing), or -1 with a message in err. */
static int run_script(const char *const argv[], bool cleanup, char **out, char *err, size_t errlen)
{
	char path[] = "/tmp/rollbot-harness-out.XXXXXX";
	int fd = mkstemp(path);
	struct proc p = { .what = argv[1], .slot = SLOT_SCRIPT };
	char *text, *line, *end;
	struct rb_buf b;
	char chunk[4096];
	ssize_t n;
	int64_t until = now_ms() + SCRIPT_WAIT_MS;
	pid_t pid;

	*out = NULL;
	if (fd < 0) {
		snprintf(err, errlen, "mkstemp: %s", strerror(errno));
		return -1;
	}
	unlink(path);
	pid = fork();
	if (pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		close(fd);
		return -1;
	}
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY);
		sigset_t none;

		setpgid(0, 0);
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (nul >= 0)
			dup2(nul, 0);
		dup2(fd, 1);
		execvp(argv[0], (char *const *)argv);
		dprintf(2, "harness: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	setpgid(pid, pid);
	p.pid = pid;
	p.running = true;
	g_pgids[SLOT_SCRIPT] = pid;
	while (proc_poll(&p)) {
		if (now_ms() >= until || (g_signals && !cleanup)) {
			proc_stop(&p, SIGTERM, 2000);
			snprintf(err, errlen, "%s %s: %s", argv[1], argv[2],
				 g_signals ? "interrupted" : "timed out");
			close(fd);
			return -1;
		}
		nap(20);
	}
	rb_buf_init(&b, 1u << 20);
	lseek(fd, 0, SEEK_SET);
	while ((n = read(fd, chunk, sizeof chunk)) > 0)
		if (rb_buf_append(&b, chunk, (size_t)n) != RB_OK)
			break;
	close(fd);
	text = rb_buf_steal(&b);
	if (!WIFEXITED(p.status) || WEXITSTATUS(p.status) != 0) {
		char st[64];

		status_str(p.status, st, sizeof st);
		snprintf(err, errlen, "%s %s failed (%s)", argv[1], argv[2], st);
		free(text);
		return -1;
	}
	/* The last non-empty line, trimmed. */
	end = text + strlen(text);
	while (end > text && (end[-1] == '\n' || end[-1] == '\r' || end[-1] == ' '))
		end--;
	*end = '\0';
	line = strrchr(text, '\n');
	line = line ? line + 1 : text;
	*out = *line ? rb_strdup(line) : NULL;
	free(text);
	return 0;
}

/* ---- environment for the bot ------------------------------------------ */

struct env {
	char **v; /* NULL-terminated, each entry owned */
	size_t n;
};

static void env_init(struct env *e)
{
	size_t n = 0;

	while (environ[n])
		n++;
	e->v = rb_calloc(n + 1, sizeof *e->v);
	for (size_t i = 0; i < n; i++)
		e->v[i] = rb_strdup(environ[i]);
	e->n = n;
}

/* Sets k=val, or removes k when val is NULL. */
static void env_set(struct env *e, const char *k, const char *val)
{
	size_t kl = strlen(k);

	for (size_t i = 0; i < e->n; i++) {
		if (!strncmp(e->v[i], k, kl) && e->v[i][kl] == '=') {
			free(e->v[i]);
			if (val) {
				e->v[i] = rb_asprintf("%s=%s", k, val);
			} else {
				e->v[i] = e->v[e->n - 1];
				e->v[--e->n] = NULL;
			}
			return;
		}
	}
	if (!val)
		return;
	e->v = rb_realloc(e->v, (e->n + 2) * sizeof *e->v);
	e->v[e->n++] = rb_asprintf("%s=%s", k, val);
	e->v[e->n] = NULL;
}

static const char *env_get(const struct env *e, const char *k)
{
	size_t kl = strlen(k);

	for (size_t i = 0; i < e->n; i++)
		if (!strncmp(e->v[i], k, kl) && e->v[i][kl] == '=')
			return e->v[i] + kl + 1;
	return NULL;
}

static void env_free(struct env *e)
{
	for (size_t i = 0; i < e->n; i++)
		free(e->v[i]);
	free(e->v);
	e->v = NULL;
	e->n = 0;
}

/* ---- HTTP to the fake's control API ----------------------------------- */

static size_t write_cb(char *p, size_t size, size_t n, void *ud)
{
	struct rb_buf *b = ud;

	if (rb_buf_append(b, p, size * n) != RB_OK)
		return 0;
	return size * n;
}

/* Calls the fake: verb "GET" or "POST", path like "/_fake/state", body a
 * JSON value or NULL. Returns 0 with the HTTP status and the parsed answer
 * (new reference, NULL when the body is not JSON), or -1 when the call
 * itself failed, with a message in err. */
static int fake_http(struct scenario *s, const char *verb, const char *path, const json_t *body,
		     long *status, json_t **out, char *err, size_t errlen)
{
	struct rb_buf resp;
	struct curl_slist *hdrs = NULL;
	char *url = rb_asprintf("%s%s", s->base, path);
	char *text = NULL;
	CURLcode cc;

	*out = NULL;
	*status = 0;
	if (!s->curl)
		s->curl = curl_easy_init();
	if (!s->curl) {
		snprintf(err, errlen, "curl_easy_init failed");
		free(url);
		return -1;
	}
	curl_easy_reset(s->curl);
	rb_buf_init(&resp, HTTP_MAX);
	curl_easy_setopt(s->curl, CURLOPT_URL, url);
	curl_easy_setopt(s->curl, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(s->curl, CURLOPT_TIMEOUT_MS, (long)HTTP_TIMEOUT_MS);
	curl_easy_setopt(s->curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(s->curl, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(s->curl, CURLOPT_WRITEDATA, &resp);
	if (!strcmp(verb, "POST")) {
		text = body ? json_dumps(body, JSON_ENCODE_ANY | JSON_COMPACT) : NULL;
		hdrs = curl_slist_append(hdrs, "Content-Type: application/json; charset=utf-8");
		curl_easy_setopt(s->curl, CURLOPT_HTTPHEADER, hdrs);
		curl_easy_setopt(s->curl, CURLOPT_POSTFIELDS, text ? text : "{}");
	} else if (strcmp(verb, "GET")) {
		curl_easy_setopt(s->curl, CURLOPT_CUSTOMREQUEST, verb);
	}
	cc = curl_easy_perform(s->curl);
	curl_slist_free_all(hdrs);
	free(text);
	if (cc != CURLE_OK) {
		snprintf(err, errlen, "%s %s: %s", verb, url, curl_easy_strerror(cc));
		rb_buf_free(&resp);
		free(url);
		return -1;
	}
	free(url);
	curl_easy_getinfo(s->curl, CURLINFO_RESPONSE_CODE, status);
	*out = json_loadb(rb_buf_str(&resp), resp.len, JSON_DECODE_ANY, NULL);
	rb_buf_free(&resp);
	return 0;
}

/* GET or POST that must answer HTTP 200 with JSON. Returns the answer (new
 * reference) or NULL after recording the failure. */
static json_t *fake_get(struct scenario *s, const char *verb, const char *path, const json_t *body)
{
	char err[512];
	long status;
	json_t *out;

	if (fake_http(s, verb, path, body, &status, &out, err, sizeof err)) {
		char st[64] = "";

		if (!proc_poll(&s->fake)) {
			status_str(s->fake.status, st, sizeof st);
			failf(s, "fake_slack exited (%s); %s", st, err);
		} else {
			failf(s, "fake_slack: %s", err);
		}
		return NULL;
	}
	if (status != 200 || !out) {
		failf(s, "fake_slack: %s %s answered HTTP %ld%s", verb, path, status,
		      out ? "" : " with a body that is not JSON");
		fail_values(s, body, out);
		json_decref(out);
		return NULL;
	}
	return out;
}

/* Fetches the calls recorded since the last fetch into s->calls. */
static int calls_refresh(struct scenario *s)
{
	char path[64];
	json_t *r, *arr, *c;
	size_t i;

	snprintf(path, sizeof path, "/_fake/calls?since=%lld", (long long)s->calls_seen);
	r = fake_get(s, "GET", path, NULL);
	if (!r)
		return -1;
	arr = json_object_get(r, "calls");
	if (!json_is_array(arr)) {
		failf(s, "fake_slack: /_fake/calls has no \"calls\" array");
		fail_values(s, NULL, r);
		json_decref(r);
		return -1;
	}
	/* Keep only seqs not seen yet, whether `since` is inclusive or not. */
	json_array_foreach (arr, i, c) {
		json_int_t seq = json_integer_value(json_object_get(c, "seq"));

		if (seq > s->calls_seen) {
			json_array_append(s->calls, c);
			s->calls_seen = seq;
		}
	}
	json_decref(r);
	return 0;
}

/* ---- variables: ${NAME.path} ------------------------------------------ */

static int free_port(void);

/* ${http_port}: a free port of 127.0.0.1 for the bot's http_listen,
 * picked at its first use and kept for the scenario (so that its config
 * and its steps agree), instead of a fixed one that a second run of the
 * same scenario elsewhere on the machine would find taken. 0 if none. */
static int scenario_http_port(struct scenario *s)
{
	if (!s->http_port)
		s->http_port = free_port();
	return s->http_port;
}

/* The value of one ${…} expression, or NULL when it names nothing. New
 * reference. */
static json_t *var_value(struct scenario *s, const char *expr)
{
	char *copy = rb_strdup(expr);
	char *seg, *next, *dot;
	json_t *cur = NULL;
	char year[16];
	time_t t = time(NULL);
	struct tm tm;

	dot = strchr(copy, '.');
	if (dot)
		*dot = '\0';
	gmtime_r(&t, &tm);
	snprintf(year, sizeof year, "%04d", tm.tm_year + 1900);
	if (!dot) {
		const char *v = NULL;
		char port[16], num[16];
		int k = 0; /* ${replicaK_pid} */

		if (!strncmp(copy, "replica", 7) && copy[7] >= '1' && copy[7] <= '9' &&
		    !strcmp(copy + 8, "_pid"))
			k = copy[7] - '0';
		snprintf(port, sizeof port, "%d", s->port);
		if (k >= 1 && k <= s->n_bots && s->bots[k - 1].proc.pid) {
			snprintf(num, sizeof num, "%d", (int)s->bots[k - 1].proc.pid);
			v = num;
		} else if (!strcmp(copy, "replica") && s->cur_replica) {
			snprintf(num, sizeof num, "%d", s->cur_replica);
			v = num;
		} else if (!strcmp(copy, "year"))
			v = year;
		else if (!strcmp(copy, "user_requester"))
			v = USER_REQUESTER;
		else if (!strcmp(copy, "user_approver"))
			v = USER_APPROVER;
		else if (!strcmp(copy, "channel"))
			v = CHANNEL;
		else if (!strcmp(copy, "port"))
			v = port;
		else if (!strcmp(copy, "http_port") && scenario_http_port(s)) {
			snprintf(num, sizeof num, "%d", s->http_port);
			v = num;
		}
		else if (!strcmp(copy, "fake_url"))
			v = s->base;
		else if (!strcmp(copy, "prometheus_url") && s->prom_url[0])
			v = s->prom_url;
		else if (!strcmp(copy, "alertmanager_url") && s->am_url[0])
			v = s->am_url;
		else if (!strcmp(copy, "tmp"))
			v = s->tmp;
		else if (!strcmp(copy, "build"))
			v = s->h->build;
		else if (!strcmp(copy, "repo"))
			v = s->h->repo;
		if (v) {
			free(copy);
			return json_string(v);
		}
	} else if (!strcmp(copy, "env")) {
		const char *v = getenv(dot + 1);

		free(copy);
		return v ? json_string(v) : NULL;
	}
	cur = json_object_get(s->vars, copy);
	for (seg = dot ? dot + 1 : NULL; cur && seg; seg = next) {
		next = strchr(seg, '.');
		if (next)
			*next++ = '\0';
		if (json_is_array(cur)) {
			char *e;
			long k = strtol(seg, &e, 10);

			cur = (*e || e == seg || k < 0) ? NULL : json_array_get(cur, (size_t)k);
		} else {
			cur = json_object_get(cur, seg);
		}
	}
	free(copy);
	return cur ? json_incref(cur) : NULL;
}

/* Appends the text of a scalar (a string as is, a number or boolean as
 * written in JSON). Returns false for null, objects and arrays. */
static bool scalar_text(struct rb_buf *b, const json_t *v)
{
	switch (json_typeof(v)) {
	case JSON_STRING:
		return rb_buf_append(b, json_string_value(v), json_string_length(v)) == RB_OK;
	case JSON_INTEGER:
		return rb_buf_printf(b, "%lld", (long long)json_integer_value(v)) == RB_OK;
	case JSON_REAL:
		return rb_buf_printf(b, "%.17g", json_real_value(v)) == RB_OK;
	case JSON_TRUE:
		return rb_buf_puts(b, "true") == RB_OK;
	case JSON_FALSE:
		return rb_buf_puts(b, "false") == RB_OK;
	default:
		return false;
	}
}

/* Expands ${…} in one string. A string that is exactly one ${…} becomes
 * that value whatever its type; elsewhere values are spliced in as text
 * (objects as compact JSON). "$${" stands for a literal "${". Returns a
 * new reference, or NULL after recording the failure. */
static json_t *expand_string(struct scenario *s, const char *in)
{
	const char *p = in, *open, *close;
	struct rb_buf b;
	size_t inlen = strlen(in);

	if (inlen > 3 && !strncmp(in, "${", 2) && in[inlen - 1] == '}' &&
	    !memchr(in + 2, '}', inlen - 3) && !strstr(in + 2, "${")) {
		char *name = rb_strndup(in + 2, inlen - 3);
		json_t *v = var_value(s, name);

		if (!v)
			failf(s, "unknown variable ${%s}", name);
		free(name);
		return v;
	}
	rb_buf_init(&b, HTTP_MAX);
	while ((open = strstr(p, "${"))) {
		if (open > p && open[-1] == '$') {
			msg_append(&b, p, (size_t)(open - 1 - p));
			msg_puts(&b, "${");
			p = open + 2;
			continue;
		}
		close = strchr(open + 2, '}');
		if (!close) {
			rb_buf_free(&b);
			failf(s, "unterminated ${ in \"%s\"", in);
			return NULL;
		}
		msg_append(&b, p, (size_t)(open - p));
		{
			char *name = rb_strndup(open + 2, (size_t)(close - open - 2));
			json_t *v = var_value(s, name);

			if (!v) {
				failf(s, "unknown variable ${%s}", name);
				free(name);
				rb_buf_free(&b);
				return NULL;
			}
			if (!scalar_text(&b, v)) {
				char *d = json_dumps(v, JSON_ENCODE_ANY | JSON_COMPACT);

				msg_puts(&b, d ? d : "null");
				free(d);
			}
			json_decref(v);
			free(name);
		}
		p = close + 1;
	}
	msg_puts(&b, p);
	{
		json_t *r = json_stringn(rb_buf_str(&b), b.len);

		rb_buf_free(&b);
		return r;
	}
}

/* A deep copy of v with every string expanded. New reference or NULL. */
static json_t *expand(struct scenario *s, const json_t *v)
{
	json_t *out, *x, *e;
	const char *k;
	size_t i;

	switch (json_typeof(v)) {
	case JSON_STRING:
		return expand_string(s, json_string_value(v));
	case JSON_OBJECT:
		out = json_object();
		json_object_foreach ((json_t *)v, k, x) {
			e = expand(s, x);
			if (!e) {
				json_decref(out);
				return NULL;
			}
			json_object_set_new(out, k, e);
		}
		return out;
	case JSON_ARRAY:
		out = json_array();
		json_array_foreach (v, i, x) {
			e = expand(s, x);
			if (!e) {
				json_decref(out);
				return NULL;
			}
			json_array_append_new(out, e);
		}
		return out;
	default:
		return json_deep_copy(v);
	}
}

/* ---- matchers --------------------------------------------------------- */

/* Where the matcher is and why it stopped matching. */
struct mctx {
	char path[512];
	size_t plen;
	struct rb_buf *why; /* the first mismatch, "at $.args.text: …" */
};

static const char *const special_keys[] = { "~", "re", "absent", "exact", "any" };

/* The special key of {"~":…}, {"re":…}, {"absent":…}, {"exact":…},
 * {"any":…}, or NULL for an ordinary object. */
static const char *special_key(const json_t *m)
{
	const char *k;

	if (!json_is_object(m) || json_object_size(m) != 1)
		return NULL;
	k = json_object_iter_key(json_object_iter((json_t *)m));
	for (size_t i = 0; i < RB_ARRAY_LEN(special_keys); i++)
		if (!strcmp(k, special_keys[i]))
			return k;
	return NULL;
}

static bool mismatch(struct mctx *c, const char *what, const json_t *m, const json_t *a)
{
	if (c->why && !c->why->len) {
		msg_printf(c->why, "at %s: %s", c->path, what);
		if (m) {
			msg_puts(c->why, ", expected ");
			show(c->why, m);
		}
		msg_puts(c->why, ", got ");
		show(c->why, a);
	}
	return false;
}

static size_t path_push(struct mctx *c, const char *fmt, ...) RB_PRINTF(2, 3);
static size_t path_push(struct mctx *c, const char *fmt, ...)
{
	size_t old = c->plen;
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(c->path + c->plen, sizeof c->path - c->plen, fmt, ap);
	va_end(ap);
	if (n > 0)
		c->plen = c->plen + (size_t)n < sizeof c->path ? c->plen + (size_t)n :
								 sizeof c->path - 1;
	return old;
}

static void path_pop(struct mctx *c, size_t old)
{
	c->plen = old;
	c->path[old] = '\0';
}

/* Does a regex (POSIX ERE) match the text? Compile errors are mismatches
 * that say so. */
static bool rx_match(struct mctx *c, const char *re, const char *text, const json_t *m,
		     const json_t *a)
{
	regex_t rx;
	int rc = regcomp(&rx, re, REG_EXTENDED | REG_NOSUB);
	bool ok;

	if (rc) {
		char msg[256], what[400];

		regerror(rc, &rx, msg, sizeof msg);
		snprintf(what, sizeof what, "bad regex /%s/: %s", re, msg);
		return mismatch(c, what, NULL, a);
	}
	ok = regexec(&rx, text, 0, NULL, 0) == 0;
	regfree(&rx);
	return ok ? true : mismatch(c, "no match", m, a);
}

/* Does actual a (NULL = the key is absent) satisfy matcher m? Objects are
 * subsets, arrays element-wise with the same length, scalars equal (numbers
 * by value), plus the special objects documented in the README. */
static bool match(const json_t *m, const json_t *a, struct mctx *c)
{
	const char *sk = special_key(m);

	if (sk) {
		const json_t *arg = json_object_get(m, sk);

		if (!strcmp(sk, "absent")) {
			bool want_absent = json_is_true(arg);

			if ((a == NULL) == want_absent)
				return true;
			return mismatch(c, want_absent ? "expected no such key" : "missing key",
					NULL, a);
		}
		if (!a)
			return mismatch(c, "missing key", m, NULL);
		if (!strcmp(sk, "exact"))
			return json_equal((json_t *)arg, (json_t *)a) ?
				       true :
				       mismatch(c, "not equal", arg, a);
		if (!strcmp(sk, "any")) {
			size_t i;
			const json_t *x;

			if (!json_is_array(a))
				return mismatch(c, "not an array", m, a);
			json_array_foreach (a, i, x) {
				struct mctx sub = *c;

				sub.why = NULL;
				if (match(arg, x, &sub))
					return true;
			}
			return mismatch(c, "no element matches", arg, a);
		}
		/* "~" and "re" look at the text of a scalar. */
		{
			struct rb_buf t;
			bool ok;

			rb_buf_init(&t, HTTP_MAX);
			if (!json_is_string(arg)) {
				rb_buf_free(&t);
				return mismatch(c, "matcher argument is not a string", m, a);
			}
			if (!scalar_text(&t, a)) {
				rb_buf_free(&t);
				return mismatch(c, "not a string", m, a);
			}
			if (!strcmp(sk, "~"))
				ok = strstr(rb_buf_str(&t), json_string_value(arg)) != NULL ||
				     mismatch(c, "substring not found", m, a);
			else
				ok = rx_match(c, json_string_value(arg), rb_buf_str(&t), m, a);
			rb_buf_free(&t);
			return ok;
		}
	}
	if (!a)
		return mismatch(c, "missing key", m, NULL);
	switch (json_typeof(m)) {
	case JSON_OBJECT: {
		const char *k;
		const json_t *v;

		if (!json_is_object(a))
			return mismatch(c, "not an object", m, a);
		json_object_foreach ((json_t *)m, k, v) {
			size_t old = path_push(c, ".%s", k);

			if (!match(v, json_object_get(a, k), c))
				return false;
			path_pop(c, old);
		}
		return true;
	}
	case JSON_ARRAY: {
		size_t i;
		const json_t *v;

		if (!json_is_array(a))
			return mismatch(c, "not an array", m, a);
		if (json_array_size(a) != json_array_size(m)) {
			char what[96];

			snprintf(what, sizeof what, "%zu elements instead of %zu",
				 json_array_size(a), json_array_size(m));
			return mismatch(c, what, m, a);
		}
		json_array_foreach (m, i, v) {
			size_t old = path_push(c, "[%zu]", i);

			if (!match(v, json_array_get(a, i), c))
				return false;
			path_pop(c, old);
		}
		return true;
	}
	case JSON_INTEGER:
	case JSON_REAL:
		if (json_is_number(a) && json_number_value(m) == json_number_value(a))
			return true;
		return mismatch(c, "not equal", m, a);
	default:
		return json_equal((json_t *)m, (json_t *)a) ? true : mismatch(c, "not equal", m, a);
	}
}

/* match() from the top, with the reason in why (may be NULL). */
static bool match_top(const json_t *m, const json_t *a, struct rb_buf *why)
{
	struct mctx c = { .path = "$", .plen = 1, .why = why };

	return match(m, a, &c);
}

/* ---- the steps -------------------------------------------------------- */

/* The time a polling step may take: its within_ms, but never past the
 * scenario's timeout. */
static int64_t step_until(struct scenario *s, const json_t *step, int def_ms)
{
	const json_t *w = json_object_get(step, "within_ms");
	int64_t ms = json_is_integer(w) ? json_integer_value(w) : def_ms;
	int64_t until = now_ms() + ms;

	return until < s->deadline ? until : s->deadline;
}

/* A hint for exit messages: does a bot's stderr hold a sanitizer report? */
static const char *sanitizer_hint(const struct bot *b)
{
	char *text = slurp(b->log, LOG_MAX);
	bool found = false;

	for (size_t i = 0; text && i < RB_ARRAY_LEN(sanitizer_marks); i++)
		found = found || strstr(text, sanitizer_marks[i]);
	free(text);
	return found ? "; its stderr holds a sanitizer report" : "";
}

static bool is_bot_pid(const struct scenario *s, pid_t pid)
{
	for (int k = 0; k < MAX_REPLICAS; k++)
		if (s->bots[k].proc.pid && s->bots[k].proc.pid == pid)
			return true;
	return false;
}

/* Is pid a bot the harness has not seen exit? */
static bool bot_running(const struct scenario *s, pid_t pid)
{
	for (int k = 0; k < MAX_REPLICAS; k++)
		if (s->bots[k].proc.pid == pid && s->bots[k].proc.running)
			return true;
	return false;
}

/* Reaps the children the harness did not start itself: as a child
 * subreaper (see main) it inherits the orphans of the bot's backends, and
 * until they are reaped their zombies keep their process groups in
 * existence, which the bot's runner and expect_no_process wait for. The
 * bots, the fake and a script or run step are left to their own waits. */
static void reap_orphans(const struct scenario *s)
{
	char path[64], *list, *p, *end;
	int st;

	snprintf(path, sizeof path, "/proc/self/task/%d/children", (int)getpid());
	list = slurp(path, 1u << 16);
	for (p = list; p && *p; p = end) {
		long v = strtol(p, &end, 10);

		if (end == p)
			break;
		if (v <= 0 || is_bot_pid(s, (pid_t)v) || (pid_t)v == s->fake.pid ||
		    (pid_t)v == (pid_t)g_pgids[SLOT_SCRIPT])
			continue;
		(void)waitpid((pid_t)v, &st, WNOHANG);
	}
	free(list);
}

/* Between polls: fails on a signal, the scenario's timeout, an unexpected
 * exit of a bot (unless its bit, 1 << k, is in may_exit) or of the fake. */
static int check_abort(struct scenario *s, unsigned may_exit)
{
	char st[64];

	reap_orphans(s);
	if (g_signals)
		return failf(s, "interrupted");
	if (now_ms() >= s->deadline)
		return failf(s, "scenario timed out after %d s", s->timeout_s);
	for (int k = 0; k < s->n_bots; k++) {
		struct bot *b = &s->bots[k];

		if (!(may_exit & (1u << k)) && b->should_run && !proc_poll(&b->proc)) {
			status_str(b->proc.status, st, sizeof st);
			return failf(s, "%s exited unexpectedly (%s)%s", b->name, st,
				     sanitizer_hint(b));
		}
	}
	if (!proc_poll(&s->fake)) {
		status_str(s->fake.status, st, sizeof st);
		return failf(s, "fake_slack exited unexpectedly (%s)", st);
	}
	return 0;
}

/* "…within N ms" or, when the scenario's timeout cut it short, that. */
static const char *late(struct scenario *s, int64_t until)
{
	return until >= s->deadline ? " (the scenario's timeout_s was reached)" : "";
}

/* The hellos the fake has sent: to replica K's sockets (/_fake/state's
 * replicas.K.hello_sent), or, with replica 0, to any. */
static json_int_t hello_count(struct scenario *s, int replica, bool *ok)
{
	json_t *st = fake_get(s, "GET", "/_fake/state", NULL);
	json_t *v;
	json_int_t n;

	*ok = st != NULL;
	if (!st)
		return 0;
	if (replica) {
		char key[16];

		snprintf(key, sizeof key, "%d", replica);
		v = json_object_get(json_object_get(json_object_get(st, "replicas"), key),
				    "hello_sent");
	} else {
		v = json_object_get(st, "hello_sent");
	}
	n = json_integer_value(v);
	json_decref(st);
	return n;
}

/* The environment of bot k (tests/scenarios/README.md): the harness's own,
 * the tokens, DATABASE_URL, SLACK_API_URL (with /r/K/ when there are
 * replicas), ROLLBOT_TEST_REPLICA (only then), ROLLBOT_REPLICA=replica-K,
 * ROLLBOT_TEST_DIR, no proxy
 * for 127.0.0.1, tests/stubs first on PATH, then the scenario's "env",
 * expanded with ${replica} = k + 1. Run steps get replica 1's. Returns 0
 * with *e filled (free with env_free), or -1 after failing s (e is then
 * freed). */
static int bot_env(struct scenario *s, struct env *e, int k)
{
	char *api = s->n_bots > 1 ? rb_asprintf("%s/r/%d/api/", s->base, k + 1) :
				    rb_asprintf("%s/api/", s->base);
	const json_t *envj = json_object_get(s->doc, "env");

	env_init(e);
	env_set(e, "SLACK_APP_TOKEN", "xapp-1-test");
	env_set(e, "SLACK_BOT_TOKEN", "xoxb-test");
	env_set(e, "DATABASE_URL", s->db_url);
	env_set(e, "SLACK_API_URL", api);
	free(api);
	if (s->n_bots > 1) {
		char num[16];

		snprintf(num, sizeof num, "%d", k + 1);
		env_set(e, "ROLLBOT_TEST_REPLICA", num);
	}
	/* Replica K's name in PostgreSQL, as a pod's name is in Kubernetes: a
	 * restart under the same name takes its incidents back at once. */
	{
		char name[32];

		snprintf(name, sizeof name, "replica-%d", k + 1);
		env_set(e, "ROLLBOT_REPLICA", name);
	}
	env_set(e, "ROLLBOT_TEST_DIR", s->tmp);
	/* Nothing the bot sends to 127.0.0.1 may go through a proxy. */
	env_set(e, "NO_PROXY", "127.0.0.1,localhost");
	env_set(e, "no_proxy", "127.0.0.1,localhost");
	/* The bot's one known library leak (tests/lsan.supp says which and why)
	 * is suppressed however the harness was started. */
	if (!env_get(e, "LSAN_OPTIONS")) {
		char cwd[PATH_MAX], *lsan;

		if (getcwd(cwd, sizeof cwd)) {
			lsan = rb_asprintf("suppressions=%s/tests/lsan.supp:print_suppressions=0", cwd);
			env_set(e, "LSAN_OPTIONS", lsan);
			free(lsan);
		}
	}
	/* Stub backends first on PATH (tests/scenarios/README.md, Stub backends). */
	{
		char cwd[PATH_MAX];
		struct stat sb;

		if (!stat(STUB_DIR, &sb) && S_ISDIR(sb.st_mode) && getcwd(cwd, sizeof cwd)) {
			const char *path = env_get(e, "PATH");
			char *np = rb_asprintf("%s/%s:%s", cwd, STUB_DIR,
					       path ? path : "/usr/bin:/bin");

			env_set(e, "PATH", np);
			free(np);
		}
	}
	if (json_is_object(envj)) {
		const char *key;
		json_t *v;

		s->cur_replica = k + 1;
		json_object_foreach ((json_t *)envj, key, v) {
			json_t *x = json_is_null(v) ? NULL : expand(s, v);

			if (!json_is_null(v) && !json_is_string(x)) {
				json_decref(x);
				env_free(e);
				s->cur_replica = 0;
				return x ? failf(s, "env %s: not a string (null unsets)", key) : -1;
			}
			env_set(e, key, x ? json_string_value(x) : NULL);
			json_decref(x);
		}
		s->cur_replica = 0;
	}
	return 0;
}

/* The --config to start bot k with. A name ending in ".in" is a template:
 * its ${…} are expanded (README, Variables; ${replica} is k + 1) into a
 * file of the same name less ".in" in the scenario's folder (for replicas
 * 2 and 3, with "-r2" or "-r3" before the extension), before every start
 * (the fake's port is known by then). Returns a new string, or NULL after
 * failing s. */
static char *bot_config(struct scenario *s, int k)
{
	const char *config = json_string_value(json_object_get(s->doc, "config"));
	const char *base, *dot;
	char *text, *out;
	json_t *x;
	FILE *f;
	int n;

	if (!config)
		config = DEFAULT_CONFIG;
	if (!ends_with(config, ".in"))
		return rb_strdup(config);
	text = slurp(config, 1u << 20);
	if (!text) {
		failf(s, "config %s: %s", config, strerror(errno));
		return NULL;
	}
	s->cur_replica = k + 1;
	x = expand_string(s, text);
	s->cur_replica = 0;
	free(text);
	if (!x) {
		msg_printf(&s->detail, "  (in the configuration template %s)\n", config);
		return NULL;
	}
	base = strrchr(config, '/');
	base = base ? base + 1 : config;
	n = (int)(strlen(base) - 3); /* less ".in" */
	dot = memrchr(base, '.', (size_t)n);
	if (k == 0)
		out = rb_asprintf("%s/%.*s", s->tmp, n, base);
	else if (dot && dot > base)
		out = rb_asprintf("%s/%.*s-r%d%.*s", s->tmp, (int)(dot - base), base, k + 1,
				  (int)(base + n - dot), dot);
	else
		out = rb_asprintf("%s/%.*s-r%d", s->tmp, n, base, k + 1);
	f = fopen(out, "w");
	if (!f ||
	    fwrite(json_string_value(x), 1, json_string_length(x), f) != json_string_length(x)) {
		failf(s, "cannot write %s: %s", out, strerror(errno));
		free(out);
		out = NULL;
	}
	if (f && fclose(f) && out) {
		failf(s, "cannot write %s: %s", out, strerror(errno));
		free(out);
		out = NULL;
	}
	json_decref(x);
	return out;
}

/* Starts bot k; with wait, until the fake has sent it a new hello: to a
 * socket of its replica when its SLACK_API_URL carries /r/K/, else any. */
static int bot_start(struct scenario *s, int k, bool wait)
{
	struct bot *b = &s->bots[k];
	struct env e;
	char err[512], tag_path[16];
	char *config = NULL;
	char *bin = rb_asprintf("%s/rollbot", s->h->build);
	char *argv[] = { bin, "run", "--config", NULL, NULL };
	const char *api;
	json_int_t before = 0;
	int64_t until;
	bool ok = true;
	int rc = 0, tag = 0;

	if (b->should_run && proc_poll(&b->proc)) {
		free(bin);
		return failf(s, "%s is already running", b->name);
	}
	config = bot_config(s, k);
	if (!config || bot_env(s, &e, k)) {
		free(config);
		free(bin);
		return -1;
	}
	snprintf(tag_path, sizeof tag_path, "/r/%d/", k + 1);
	api = env_get(&e, "SLACK_API_URL");
	if (s->n_bots > 1 && api && strstr(api, tag_path))
		tag = k + 1;
	if (wait)
		before = hello_count(s, tag, &ok);
	argv[3] = config;
	if (!ok)
		rc = -1;
	else if (proc_spawn(&b->proc, argv, e.v, b->log, err, sizeof err))
		rc = failf(s, "cannot start %s: %s", b->name, err);
	env_free(&e);
	free(config);
	free(bin);
	if (rc)
		return rc;
	b->should_run = true;
	if (!wait)
		return 0;
	until = now_ms() + HELLO_WAIT_MS;
	if (until > s->deadline)
		until = s->deadline;
	for (;;) {
		json_int_t n = hello_count(s, tag, &ok);

		if (!ok)
			return -1;
		if (n > before)
			return 0;
		if (!proc_poll(&b->proc)) {
			char st[64];

			status_str(b->proc.status, st, sizeof st);
			return failf(s, "%s exited (%s) before it got a Socket Mode hello%s",
				     b->name, st, sanitizer_hint(b));
		}
		if (now_ms() >= until)
			return failf(s, "%s got no Socket Mode hello within %d ms%s", b->name,
				     HELLO_WAIT_MS, late(s, until));
		if (check_abort(s, 0))
			return -1;
		nap(POLL_MS);
	}
}

/* SIGTERM, then the exit status must be 0 within STOP_WAIT_MS. */
static int bot_stop(struct scenario *s, int k)
{
	struct bot *b = &s->bots[k];
	char st[64];

	b->should_run = false;
	if (!b->proc.pid)
		return 0;
	if (!proc_poll(&b->proc)) {
		status_str(b->proc.status, st, sizeof st);
		return failf(s, "%s had already exited (%s) when it was to be stopped", b->name,
			     st);
	}
	if (!proc_stop(&b->proc, SIGTERM, STOP_WAIT_MS))
		return failf(s, "%s did not exit within %d ms of SIGTERM (killed)", b->name,
			     STOP_WAIT_MS);
	if (!WIFEXITED(b->proc.status) || WEXITSTATUS(b->proc.status) != 0) {
		status_str(b->proc.status, st, sizeof st);
		return failf(s, "%s ended with %s after SIGTERM, expected exit 0%s", b->name, st,
			     sanitizer_hint(b));
	}
	return 0;
}

/* SIGKILL to bot k's process group. */
static int bot_kill(struct scenario *s, int k)
{
	struct bot *b = &s->bots[k];

	b->should_run = false;
	if (b->proc.pid && proc_poll(&b->proc)) {
		kill(-b->proc.pid, SIGKILL);
		if (!proc_wait(&b->proc, 5000))
			return failf(s, "%s did not die of SIGKILL", b->name);
	}
	return 0;
}

/* The step's "replica": K (a step option, or for expect_log, expect_no_log
 * and send a key of the action's object too; both must then agree).
 * Returns 0 with *out = K, or 0 when there is none; -1 after failing s. */
static int replica_opt(struct scenario *s, const json_t *step, const json_t *arg, const char *what,
		       int *out)
{
	const json_t *r = json_object_get(step, "replica");
	const json_t *ra = json_is_object(arg) ? json_object_get(arg, "replica") : NULL;

	*out = 0;
	if (ra && r && !json_equal(r, ra))
		return failf(s, "%s: two different \"replica\"s", what);
	if (ra)
		r = ra;
	if (!r)
		return 0;
	if (!json_is_integer(r) || json_integer_value(r) < 1 || json_integer_value(r) > s->n_bots)
		return failf(s,
			     "%s: \"replica\" must be a number from 1 to %d (the scenario's "
			     "\"replicas\")",
			     what, s->n_bots);
	*out = (int)json_integer_value(r);
	return 0;
}

/* The logs a step looks at, for messages: "the bot's log", "replica 2's
 * log" or "any replica's log". */
static void logs_name(const struct scenario *s, int replica, char *buf, size_t len)
{
	if (replica || s->n_bots == 1)
		snprintf(buf, len, "%s's log", s->bots[replica ? replica - 1 : 0].name);
	else
		snprintf(buf, len, "any replica's log");
}

/* POST /_fake/envelope; "replica": K (a step option or in the request)
 * sends it to a socket of replica K. */
static int step_send(struct scenario *s, const json_t *arg, const json_t *step, json_t **res)
{
	json_t *r, *body;
	const char *id;
	int k;

	if (!json_is_object(arg))
		return failf(s, "send: expects an object (an envelope request)");
	if (replica_opt(s, step, arg, "send", &k))
		return -1;
	body = json_deep_copy(arg);
	if (k)
		json_object_set_new(body, "replica", json_integer(k));
	r = fake_get(s, "POST", "/_fake/envelope", body);
	json_decref(body);
	if (!r)
		return -1;
	id = json_string_value(json_object_get(r, "envelope_id"));
	if (!json_is_true(json_object_get(r, "ok")) || !id) {
		failf(s, "send: the fake did not accept the envelope");
		fail_values(s, arg, r);
		json_decref(r);
		return -1;
	}
	*res = json_string(id);
	json_decref(r);
	return 0;
}

static int step_fake(struct scenario *s, const json_t *arg, const json_t *step, json_t **res)
{
	const char *path = json_string_value(json_object_get(arg, "path"));
	const char *verb = json_string_value(json_object_get(arg, "method"));
	const json_t *body = json_object_get(arg, "body");
	const json_t *want = json_object_get(arg, "expect");
	char err[512];
	long status;
	json_t *r;
	struct rb_buf why;

	(void)step;
	if (!path)
		return failf(s, "fake: needs \"path\"");
	if (!verb)
		verb = "POST";
	if (fake_http(s, verb, path, body, &status, &r, err, sizeof err))
		return failf(s, "fake_slack: %s", err);
	if (!want) {
		if (status != 200 || !json_is_true(json_object_get(r, "ok"))) {
			failf(s, "fake: %s %s answered HTTP %ld without ok:true", verb, path,
			      status);
			fail_values(s, body, r);
			json_decref(r);
			return -1;
		}
	} else {
		rb_buf_init(&why, 1u << 20);
		if (!match_top(want, r, &why)) {
			failf(s, "fake: %s %s: the answer does not match: %s", verb, path,
			      rb_buf_str(&why));
			fail_values(s, want, r);
			rb_buf_free(&why);
			json_decref(r);
			return -1;
		}
		rb_buf_free(&why);
	}
	/* A reset forgets the calls: start counting from scratch too. */
	if (!strncmp(path, "/_fake/reset", 12)) {
		json_array_clear(s->calls);
		s->calls_seen = 0;
		s->cursor = 0;
	}
	*res = r ? r : json_null();
	return 0;
}

static int step_expect_ack(struct scenario *s, const json_t *arg, const json_t *step, json_t **res)
{
	const char *name = json_string_value(json_object_get(arg, "envelope"));
	const json_t *saved, *want = json_object_get(arg, "payload");
	const json_t *lat = json_object_get(arg, "max_latency_ms");
	const char *id;
	int64_t until = step_until(s, step, DEFAULT_WITHIN_MS);

	if (!name)
		return failf(s, "expect_ack: needs \"envelope\" (a name saved by send)");
	saved = json_object_get(s->vars, name);
	id = json_is_string(saved) ? json_string_value(saved) : name;
	for (;;) {
		json_t *r = fake_get(s, "GET", "/_fake/acks", NULL);
		json_t *acks, *a;
		size_t i;

		if (!r)
			return -1;
		acks = json_object_get(r, "acks");
		json_array_foreach (acks, i, a) {
			const json_t *got;
			struct rb_buf why;

			if (strcmp(id, jstr(a, "envelope_id", "")))
				continue;
			got = json_object_get(a, "payload");
			if (!got)
				got = json_null();
			rb_buf_init(&why, 1u << 20);
			if (json_object_get(arg, "payload") && !match_top(want, got, &why)) {
				failf(s, "expect_ack: the ack's payload does not match: %s",
				      rb_buf_str(&why));
				fail_values(s, want, got);
				rb_buf_free(&why);
				json_decref(r);
				return -1;
			}
			rb_buf_free(&why);
			if (json_is_integer(lat) &&
			    json_integer_value(json_object_get(a, "latency_us")) >
				    json_integer_value(lat) * 1000) {
				failf(s, "expect_ack: acked after %lld µs, more than %lld ms",
				      (long long)json_integer_value(
					      json_object_get(a, "latency_us")),
				      (long long)json_integer_value(lat));
				fail_values(s, NULL, a);
				json_decref(r);
				return -1;
			}
			*res = json_incref(a);
			json_decref(r);
			return 0;
		}
		if (now_ms() >= until) {
			failf(s, "expect_ack: envelope %s was not acked in time%s", id,
			      late(s, until));
			fail_values(s, want, r);
			json_decref(r);
			return -1;
		}
		json_decref(r);
		if (check_abort(s, 0))
			return -1;
		nap(POLL_MS);
	}
}

/* The matcher a call is compared with: the step's object less its own
 * options. New reference. */
static json_t *call_matcher(const json_t *arg)
{
	json_t *m = json_deep_copy(arg);

	json_object_del(m, "count");
	json_object_del(m, "for_ms");
	return m;
}

static int step_expect_state(struct scenario *s, const json_t *arg, const json_t *step,
			     json_t **res)
{
	int64_t until = step_until(s, step, DEFAULT_WITHIN_MS);

	for (;;) {
		json_t *st = fake_get(s, "GET", "/_fake/state", NULL);
		struct rb_buf why;

		if (!st)
			return -1;
		rb_buf_init(&why, 1u << 20);
		if (match_top(arg, st, &why)) {
			rb_buf_free(&why);
			*res = st;
			return 0;
		}
		if (now_ms() >= until) {
			failf(s, "expect_state: %s%s", rb_buf_str(&why), late(s, until));
			fail_values(s, arg, st);
			rb_buf_free(&why);
			json_decref(st);
			return -1;
		}
		rb_buf_free(&why);
		json_decref(st);
		if (check_abort(s, 0))
			return -1;
		nap(POLL_MS);
	}
}

/* GETs an absolute URL (the bot's own /health, /ready, /metrics). Returns
 * {"status":N,"body":"text"} (new reference), or NULL after failing s. */
static json_t *get_url(struct scenario *s, const char *url)
{
	CURL *c = curl_easy_init();
	struct rb_buf resp;
	long status = 0;
	json_t *out = NULL;
	CURLcode cc;

	if (!c) {
		failf(s, "curl_easy_init failed");
		return NULL;
	}
	rb_buf_init(&resp, HTTP_MAX);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_NOPROXY, "*");
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, (long)HTTP_TIMEOUT_MS);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, write_cb);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &resp);
	cc = curl_easy_perform(c);
	if (cc == CURLE_OK) {
		curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
		out = json_pack("{s:I, s:s}", "status", (json_int_t)status, "body",
				rb_buf_str(&resp));
	} else {
		out = json_pack("{s:I, s:s}", "status", (json_int_t)0, "error",
				curl_easy_strerror(cc));
	}
	rb_buf_free(&resp);
	curl_easy_cleanup(c);
	return out;
}

/* {"expect_http": {"url": URL, "status": N, "body": MATCHER}}: polls URL
 * until the answer matches (a refused connection counts as status 0). */
static int step_expect_http(struct scenario *s, const json_t *arg, const json_t *step,
			    json_t **res)
{
	int64_t until = step_until(s, step, DEFAULT_WITHIN_MS);
	const char *url = json_string_value(json_object_get(arg, "url"));
	json_t *m;

	if (!url) {
		failf(s, "expect_http needs \"url\"");
		return -1;
	}
	m = json_deep_copy(arg);
	json_object_del(m, "url");
	for (;;) {
		json_t *got = get_url(s, url);
		struct rb_buf why;

		if (!got) {
			json_decref(m);
			return -1;
		}
		rb_buf_init(&why, 1u << 20);
		if (match_top(m, got, &why)) {
			rb_buf_free(&why);
			json_decref(m);
			*res = got;
			return 0;
		}
		if (now_ms() >= until) {
			failf(s, "expect_http %s: %s%s", url, rb_buf_str(&why), late(s, until));
			fail_values(s, m, got);
			rb_buf_free(&why);
			json_decref(got);
			json_decref(m);
			return -1;
		}
		rb_buf_free(&why);
		json_decref(got);
		if (check_abort(s, 0)) {
			json_decref(m);
			return -1;
		}
		nap(POLL_MS);
	}
}

static void quiet_notice_cb(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* The expected rows with every scalar turned into the text PostgreSQL
 * prints (numbers as written, true/false as t/f); null and the special
 * matcher objects stay. New reference. */
static json_t *rows_matcher(const json_t *v)
{
	json_t *out, *x;
	size_t i;
	struct rb_buf b;

	if (special_key(v))
		return json_deep_copy(v);
	switch (json_typeof(v)) {
	case JSON_ARRAY:
		out = json_array();
		json_array_foreach (v, i, x)
			json_array_append_new(out, rows_matcher(x));
		return out;
	case JSON_TRUE:
		return json_string("t");
	case JSON_FALSE:
		return json_string("f");
	case JSON_INTEGER:
	case JSON_REAL:
		rb_buf_init(&b, 64);
		(void)scalar_text(&b, v);
		out = json_string(rb_buf_str(&b));
		rb_buf_free(&b);
		return out;
	default:
		return json_deep_copy(v);
	}
}

static int pg_connect(struct scenario *s, struct rb_buf *err)
{
	const char *keys[] = { "dbname", "connect_timeout", "options", NULL };
	const char *vals[] = { s->db_url, "5", "-c statement_timeout=10000", NULL };

	if (s->pg && PQstatus(s->pg) == CONNECTION_OK)
		return 0;
	PQfinish(s->pg);
	s->pg = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(s->pg) != CONNECTION_OK) {
		rb_buf_reset(err);
		msg_printf(err, "connect: %s", PQerrorMessage(s->pg));
		return -1;
	}
	PQsetNoticeProcessor(s->pg, quiet_notice_cb, NULL);
	return 0;
}

static int step_expect_rows(struct scenario *s, const json_t *arg, const json_t *step, json_t **res)
{
	const char *sql = json_string_value(json_object_get(arg, "sql"));
	const json_t *rows = json_object_get(arg, "rows");
	int64_t until = step_until(s, step, DEFAULT_WITHIN_MS);
	json_t *want, *got = NULL;
	struct rb_buf err, why;

	if (!sql || !json_is_array(rows))
		return failf(s, "expect_rows: needs \"sql\" and \"rows\"");
	want = rows_matcher(rows);
	rb_buf_init(&err, 1u << 20);
	rb_buf_init(&why, 1u << 20);
	for (;;) {
		json_decref(got);
		got = NULL;
		rb_buf_reset(&why);
		if (!pg_connect(s, &err)) {
			PGresult *r = PQexec(s->pg, sql);

			if (PQresultStatus(r) == PGRES_TUPLES_OK) {
				int nr = PQntuples(r), nc = PQnfields(r);

				rb_buf_reset(&err);
				got = json_array();
				for (int i = 0; i < nr; i++) {
					json_t *row = json_array();

					for (int j = 0; j < nc; j++)
						json_array_append_new(
							row,
							PQgetisnull(r, i, j) ?
								json_null() :
								json_string(PQgetvalue(r, i, j)));
					json_array_append_new(got, row);
				}
			} else {
				rb_buf_reset(&err);
				msg_printf(&err, "%s", PQresultErrorMessage(r));
			}
			PQclear(r);
		}
		if (got && match_top(want, got, &why)) {
			*res = got;
			json_decref(want);
			rb_buf_free(&err);
			rb_buf_free(&why);
			return 0;
		}
		if (now_ms() >= until) {
			if (got)
				failf(s, "expect_rows: %s%s", rb_buf_str(&why), late(s, until));
			else
				failf(s, "expect_rows: the query failed: %s%s", rb_buf_str(&err),
				      late(s, until));
			fail_values(s, want, got);
			break;
		}
		if (check_abort(s, 0))
			break;
		nap(100);
	}
	json_decref(got);
	json_decref(want);
	rb_buf_free(&err);
	rb_buf_free(&why);
	return -1;
}

static int step_sleep(struct scenario *s, const json_t *arg, const json_t *step, json_t **res)
{
	int64_t until;

	(void)step;
	(void)res;
	if (!json_is_integer(arg))
		return failf(s, "sleep_ms: needs a number");
	until = now_ms() + json_integer_value(arg);
	while (now_ms() < until) {
		if (check_abort(s, 0))
			return -1;
		nap(POLL_MS);
	}
	return 0;
}

/* start, stop, kill or restart one replica, or each in turn (a restart of
 * every replica is a rolling one: stop 1, start 1, stop 2, start 2, …). */
static int step_bot(struct scenario *s, const json_t *arg, const json_t *step, json_t **res)
{
	const char *what = json_string_value(arg);
	bool wait = !json_is_false(json_object_get(step, "wait"));
	int r, k, rc = 0;

	(void)res;
	if (!what || (strcmp(what, "start") && strcmp(what, "stop") && strcmp(what, "kill") &&
		      strcmp(what, "restart"))) {
		if (what)
			return failf(s, "bot: unknown action \"%s\"", what);
		return failf(s, "bot: needs \"start\", \"stop\", \"kill\" or \"restart\"");
	}
	if (replica_opt(s, step, NULL, "bot", &r))
		return -1;
	for (k = r ? r - 1 : 0; !rc && k < (r ? r : s->n_bots); k++) {
		if (!strcmp(what, "start"))
			rc = bot_start(s, k, wait);
		else if (!strcmp(what, "stop"))
			rc = bot_stop(s, k);
		else if (!strcmp(what, "restart"))
			rc = bot_stop(s, k) ? -1 : bot_start(s, k, wait);
		else
			rc = bot_kill(s, k);
	}
	return rc;
}

static int step_expect_exit(struct scenario *s, const json_t *arg, const json_t *step, json_t **res)
{
	int64_t until = step_until(s, step, DEFAULT_EXIT_WAIT_MS);
	unsigned mask = 0;
	char st[64];
	int r, k;

	(void)res;
	if (!json_is_integer(arg))
		return failf(s, "expect_exit: needs the exit status, a number");
	if (replica_opt(s, step, NULL, "expect_exit", &r))
		return -1;
	if (r || s->n_bots == 1) {
		k = r ? r - 1 : 0;
		if (!s->bots[k].proc.pid)
			return failf(s, "expect_exit: %s was never started", s->bots[k].name);
		mask = 1u << k;
	} else {
		/* Every replica the harness started and did not stop, kill or
		 * see exit already. */
		for (k = 0; k < s->n_bots; k++)
			if (s->bots[k].should_run)
				mask |= 1u << k;
		if (!mask)
			return failf(s, "expect_exit: no replica is running");
	}
	for (k = 0; k < s->n_bots; k++) {
		if (!(mask & (1u << k)))
			continue;
		while (proc_poll(&s->bots[k].proc)) {
			if (now_ms() >= until)
				return failf(s, "expect_exit: %s is still running%s",
					     s->bots[k].name, late(s, until));
			if (check_abort(s, mask))
				return -1;
			nap(POLL_MS);
		}
	}
	for (k = 0; k < s->n_bots; k++) {
		struct bot *b = &s->bots[k];

		if (!(mask & (1u << k)))
			continue;
		b->should_run = false;
		status_str(b->proc.status, st, sizeof st);
		if (!WIFEXITED(b->proc.status) ||
		    WEXITSTATUS(b->proc.status) != json_integer_value(arg))
			return failf(s, "expect_exit: %s ended with %s, expected exit %lld",
				     b->name, st, (long long)json_integer_value(arg));
	}
	return 0;
}

/* Does any line of text match the regex? Returns 1, 0, or -1 for a bad
 * regex (message in err). */
static int log_search(const char *text, const char *re, char *err, size_t errlen)
{
	regex_t rx;
	int rc = regcomp(&rx, re, REG_EXTENDED | REG_NOSUB | REG_NEWLINE);

	if (rc) {
		regerror(rc, &rx, err, errlen);
		return -1;
	}
	rc = regexec(&rx, text, 0, NULL, 0) == 0;
	regfree(&rx);
	return rc;
}

/* Searches the log of replica r (every bot's with 0): 1 when a line
 * matches, 0, or -1 for a bad regex. */
static int logs_search(const struct scenario *s, int r, const char *re, char *err, size_t errlen)
{
	int rc = 0;

	for (int k = r ? r - 1 : 0; rc == 0 && k < (r ? r : s->n_bots); k++) {
		char *text = slurp(s->bots[k].log, LOG_MAX);

		rc = log_search(text ? text : "", re, err, errlen);
		free(text);
	}
	return rc;
}

static int step_expect_log(struct scenario *s, const json_t *arg, const json_t *step, json_t **res)
{
	const char *re = json_string_value(json_object_get(arg, "re"));
	int64_t until = step_until(s, step, DEFAULT_WITHIN_MS);
	char err[256], where[64];
	int r;

	(void)res;
	if (!re)
		return failf(s, "expect_log: needs \"re\"");
	if (replica_opt(s, step, arg, "expect_log", &r))
		return -1;
	logs_name(s, r, where, sizeof where);
	for (;;) {
		int rc = logs_search(s, r, re, err, sizeof err);

		if (rc < 0)
			return failf(s, "expect_log: bad regex /%s/: %s", re, err);
		if (rc) {
			json_array_append_new(s->log_expected, json_string(re));
			return 0;
		}
		if (now_ms() >= until)
			return failf(s, "expect_log: no line of %s matches /%s/%s", where, re,
				     late(s, until));
		if (check_abort(s, ALL_BOTS))
			return -1;
		nap(POLL_MS);
	}
}

static int step_expect_no_log(struct scenario *s, const json_t *arg, const json_t *step,
			      json_t **res)
{
	const char *re = json_string_value(json_object_get(arg, "re"));
	char err[256], where[64];
	int r, rc;

	(void)res;
	if (!re)
		return failf(s, "expect_no_log: needs \"re\"");
	if (replica_opt(s, step, arg, "expect_no_log", &r))
		return -1;
	for (int k = r ? r - 1 : 0; k < (r ? r : s->n_bots); k++) {
		rc = logs_search(s, k + 1, re, err, sizeof err);
		if (rc < 0)
			return failf(s, "expect_no_log: bad regex /%s/: %s", re, err);
		if (rc) {
			logs_name(s, k + 1, where, sizeof where);
			return failf(s, "expect_no_log: a line of %s matches /%s/", where, re);
		}
	}
	return 0;
}

/* ---- stub backends: rules, records, processes ------------------------- */

static const char *const rule_keys[] = { "tool",     "match", "exit",	     "stdout", "stderr",
					 "sleep_ms", "hang",  "ignore_term", "times",  "line_ms", "note" };

/* A whole number in [lo, hi]? */
static bool int_in(const json_t *v, json_int_t lo, json_int_t hi)
{
	return json_is_integer(v) && json_integer_value(v) >= lo && json_integer_value(v) <= hi;
}

/* A string without NUL characters (the stub passes them through bash)? */
static bool plain_string(const json_t *v)
{
	return json_is_string(v) && strlen(json_string_value(v)) == json_string_length(v);
}

/* Checks one rule of a stub_rules step the way tests/stubs/stub reads it,
 * so that a typo fails the step instead of a stub in the middle of the
 * bot's work. Returns 0, or -1 after failing s. */
static int check_rule(struct scenario *s, size_t i, const json_t *r)
{
	const char *k;
	const json_t *v, *m;

	if (!json_is_object(r))
		return failf(s, "stub_rules: rule %zu is not an object", i);
	json_object_foreach ((json_t *)r, k, v) {
		bool known = false;

		for (size_t j = 0; j < RB_ARRAY_LEN(rule_keys); j++)
			known = known || !strcmp(k, rule_keys[j]);
		if (!known)
			return failf(s, "stub_rules: rule %zu: unknown key \"%s\"", i, k);
	}
	v = json_object_get(r, "tool");
	if (v && !plain_string(v))
		return failf(s, "stub_rules: rule %zu: tool must be a name (or \"*\")", i);
	m = json_object_get(r, "match");
	if (m && !plain_string(m)) {
		const char *sk = special_key(m);

		v = sk ? json_object_get(m, sk) : NULL;
		if (!sk || (strcmp(sk, "re") && strcmp(sk, "~")) || !plain_string(v))
			return failf(
				s,
				"stub_rules: rule %zu: match must be a string, {\"re\": ERE} or "
				"{\"~\": text}",
				i);
		if (!strcmp(sk, "re")) {
			regex_t rx;
			int rc = regcomp(&rx, json_string_value(v), REG_EXTENDED | REG_NOSUB);

			if (rc) {
				char msg[256];

				regerror(rc, &rx, msg, sizeof msg);
				return failf(s, "stub_rules: rule %zu: bad regex /%s/: %s", i,
					     json_string_value(v), msg);
			}
			regfree(&rx);
		}
	}
	json_object_foreach ((json_t *)r, k, v) {
		const char *what = NULL;

		if (!strcmp(k, "exit") && !int_in(v, 0, 255))
			what = "an exit status from 0 to 255";
		else if (!strcmp(k, "sleep_ms") && !int_in(v, 0, 86400000))
			what = "a number of ms >= 0";
		else if (!strcmp(k, "line_ms") && !int_in(v, 0, 600000))
			what = "a number of ms from 0 to 600000";
		else if (!strcmp(k, "times") && !int_in(v, 1, 1000000000))
			what = "a number >= 1";
		else if ((!strcmp(k, "stdout") || !strcmp(k, "stderr")) && !plain_string(v))
			what = "a string (without NUL)";
		else if ((!strcmp(k, "hang") || !strcmp(k, "ignore_term")) && !json_is_boolean(v))
			what = "true or false";
		else if (!strcmp(k, "note") && !json_is_string(v))
			what = "a string";
		if (what)
			return failf(s, "stub_rules: rule %zu: %s must be %s", i, k, what);
	}
	return 0;
}

/* {"stub_rules": [RULE, …]}: writes the scenario's stub-rules.json (temp
 * file + rename, so a stub never reads half of it; the stubs' "times"
 * counts start again); null removes it. */
static int step_stub_rules(struct scenario *s, const json_t *arg, const json_t *step, json_t **res)
{
	char *path = rb_asprintf("%s/%s", s->tmp, STUB_RULES);
	char *tmp = rb_asprintf("%s/.%s.XXXXXX", s->tmp, STUB_RULES);
	const json_t *r;
	size_t i;
	int fd, rc = 0;

	(void)step;
	(void)res;
	if (json_is_null(arg)) {
		if (unlink(path) && errno != ENOENT)
			rc = failf(s, "stub_rules: cannot remove %s: %s", path, strerror(errno));
		goto out;
	}
	if (!json_is_array(arg)) {
		rc = failf(s, "stub_rules: needs an array of rules (or null)");
		goto out;
	}
	json_array_foreach (arg, i, r) {
		rc = check_rule(s, i, r);
		if (rc)
			goto out;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		rc = failf(s, "stub_rules: mkstemp %s: %s", tmp, strerror(errno));
		goto out;
	}
	if (json_dumpfd(arg, fd, JSON_INDENT(2)) || write(fd, "\n", 1) != 1) {
		rc = failf(s, "stub_rules: cannot write %s: %s", tmp, strerror(errno));
		close(fd);
		unlink(tmp);
		goto out;
	}
	close(fd);
	chmod(tmp, 0644);
	if (rename(tmp, path)) {
		rc = failf(s, "stub_rules: rename to %s: %s", path, strerror(errno));
		unlink(tmp);
	}
out:
	free(path);
	free(tmp);
	return rc;
}

/* Reads the records stubs appended to stub-calls.jsonl since the last read
 * into s->stub_calls, each given "seq" (its line number, from 1). Only
 * whole lines count: a stub may be writing the last one right now. Returns
 * 0, or -1 after failing s on a line that is not a JSON object (quiet: -1
 * without failing, for the teardown). */
static int stub_refresh(struct scenario *s, bool quiet)
{
	char *path = rb_asprintf("%s/%s", s->tmp, STUB_CALLS);
	FILE *f = fopen(path, "rb");
	struct rb_buf b;
	char chunk[65536], *p, *nl, *end;
	size_t n;
	int rc = 0;

	free(path);
	if (!f)
		return 0; /* no stub has run yet */
	if (fseek(f, s->stub_off, SEEK_SET)) {
		fclose(f);
		return quiet ? -1 : failf(s, "%s: cannot seek: %s", STUB_CALLS, strerror(errno));
	}
	rb_buf_init(&b, HTTP_MAX);
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
		if (rb_buf_append(&b, chunk, n) != RB_OK)
			break; /* read the rest next time */
	fclose(f);
	p = b.len ? b.data : NULL;
	end = p ? p + b.len : NULL;
	while (p && (nl = memchr(p, '\n', (size_t)(end - p)))) {
		json_error_t jerr;
		json_t *rec = json_loadb(p, (size_t)(nl - p), 0, &jerr);

		if (!json_is_object(rec)) {
			json_decref(rec);
			if (!quiet) {
				failf(s, "%s line %lld is not a JSON object: %s", STUB_CALLS,
				      (long long)json_array_size(s->stub_calls) + 1,
				      rec ? "another JSON value" : jerr.text);
				msg_printf(&s->detail, "  the line: %.*s\n",
					   (int)(nl - p > SHOW_MAX ? SHOW_MAX : nl - p), p);
			}
			rc = -1;
			break;
		}
		json_object_set_new(rec, "seq",
				    json_integer((json_int_t)json_array_size(s->stub_calls) + 1));
		json_array_append_new(s->stub_calls, rec);
		s->stub_off += (long)(nl - p + 1);
		p = nl + 1;
	}
	rb_buf_free(&b);
	return rc;
}

/* What expect_call / expect_argv and their _no_ forms search: the Web API
 * calls the fake recorded, or the stubs' records. One implementation, so
 * the two kinds of expectation mean the same thing. */
struct records {
	const char *step;  /* "expect_call" */
	const char *nstep; /* "expect_no_call" */
	const char *key;   /* the field the matcher must name: "method" */
	const char *what;  /* "call", "stub call" */
	int (*refresh)(struct scenario *s);
	json_t *(*list)(struct scenario *s);
	json_int_t *(*cursor)(struct scenario *s);
};

/* Lists, for the report, why the records after the cursor did not match
 * (those with the wanted method or tool, at most 8). */
static void explain_records(const struct records *r, struct scenario *s, const json_t *m)
{
	const json_t *want = json_object_get(m, r->key);
	json_int_t cursor = *r->cursor(s);
	size_t i, shown = 0;
	json_t *c;

	json_array_foreach (r->list(s), i, c) {
		struct rb_buf why;

		if (json_integer_value(json_object_get(c, "seq")) <= cursor)
			continue;
		if (want && !match_top(want, json_object_get(c, r->key), NULL))
			continue;
		if (shown++ == 8) {
			msg_printf(&s->detail, "  (more %ss not shown)\n", r->what);
			break;
		}
		rb_buf_init(&why, 1u << 20);
		match_top(m, c, &why);
		msg_printf(&s->detail, "  %s #%lld %s: %s\n", r->what,
			   (long long)json_integer_value(json_object_get(c, "seq")),
			   jstr(c, r->key, "?"), rb_buf_str(&why));
		rb_buf_free(&why);
	}
	if (!shown)
		msg_printf(&s->detail, "  no new %s of that %s after %s #%lld (%zu in all)\n",
			   r->what, r->key, r->what, (long long)cursor,
			   json_array_size(r->list(s)));
}

/* The first record after the cursor that matches, or with "count": N
 * exactly N of them by the deadline; moves the cursor past what it took. */
static int expect_records(const struct records *r, struct scenario *s, const json_t *arg,
			  const json_t *step, json_t **res)
{
	const json_t *cnt = json_object_get(arg, "count");
	json_t *m;
	int64_t until = step_until(s, step, DEFAULT_WITHIN_MS);
	json_int_t want = json_is_integer(cnt) ? json_integer_value(cnt) : -1;

	if (!json_is_object(arg) || !json_object_get(arg, r->key))
		return failf(s, "%s: needs an object with \"%s\"", r->step, r->key);
	if (cnt && (!json_is_integer(cnt) || want < 0))
		return failf(s, "%s: count must be a number >= 0", r->step);
	m = call_matcher(arg);
	for (;;) {
		json_t *found = json_array(), *c;
		json_int_t *cursor = r->cursor(s);
		size_t i;

		if (r->refresh(s)) {
			json_decref(found);
			json_decref(m);
			return -1;
		}
		json_array_foreach (r->list(s), i, c) {
			if (json_integer_value(json_object_get(c, "seq")) <= *cursor)
				continue;
			if (match_top(m, c, NULL)) {
				json_array_append(found, c);
				if (want < 0)
					break;
			}
		}
		if (want < 0 && json_array_size(found)) {
			c = json_array_get(found, 0);
			*cursor = json_integer_value(json_object_get(c, "seq"));
			*res = json_incref(c);
			json_decref(found);
			json_decref(m);
			return 0;
		}
		if (want >= 0 && (json_int_t)json_array_size(found) > want) {
			failf(s, "%s: %zu matching %ss, expected exactly %lld", r->step,
			      json_array_size(found), r->what, (long long)want);
			fail_values(s, m, found);
			json_decref(found);
			json_decref(m);
			return -1;
		}
		if (now_ms() >= until) {
			if (want >= 0 && (json_int_t)json_array_size(found) == want) {
				if (want > 0)
					*cursor = json_integer_value(json_object_get(
						json_array_get(found, (size_t)want - 1), "seq"));
				*res = found;
				json_decref(m);
				return 0;
			}
			if (want >= 0)
				failf(s, "%s: %zu matching %ss, expected exactly %lld%s", r->step,
				      json_array_size(found), r->what, (long long)want, late(s, until));
			else
				failf(s, "%s: no matching %s %s%s", r->step,
				      jstr(m, r->key, "(matcher)"), r->what, late(s, until));
			fail_values(s, m, want >= 0 ? found : NULL);
			if (want < 0)
				explain_records(r, s, m);
			json_decref(found);
			json_decref(m);
			return -1;
		}
		json_decref(found);
		if (check_abort(s, 0)) {
			json_decref(m);
			return -1;
		}
		nap(POLL_MS);
	}
}

/* For "for_ms" no record after the cursor may match (fails at once when
 * one does); the cursor stays. */
static int expect_no_records(const struct records *r, struct scenario *s, const json_t *arg,
			     const json_t *step)
{
	const json_t *f = json_object_get(step, "for_ms");
	json_t *m;
	int64_t until;

	if (!json_is_object(arg))
		return failf(s, "%s: needs an object", r->nstep);
	if (!f)
		f = json_object_get(arg, "for_ms");
	until = now_ms() + (json_is_integer(f) ? json_integer_value(f) : DEFAULT_FOR_MS);
	if (until > s->deadline)
		until = s->deadline;
	m = call_matcher(arg);
	for (;;) {
		json_t *c;
		size_t i;

		if (r->refresh(s)) {
			json_decref(m);
			return -1;
		}
		json_array_foreach (r->list(s), i, c) {
			if (json_integer_value(json_object_get(c, "seq")) <= *r->cursor(s))
				continue;
			if (match_top(m, c, NULL)) {
				failf(s, "%s: an unexpected %s was made", r->nstep, r->what);
				fail_values(s, m, c);
				json_decref(m);
				return -1;
			}
		}
		if (now_ms() >= until)
			break;
		if (check_abort(s, 0)) {
			json_decref(m);
			return -1;
		}
		nap(POLL_MS);
	}
	json_decref(m);
	return 0;
}

static json_t *web_calls(struct scenario *s)
{
	return s->calls;
}

static json_int_t *web_cursor(struct scenario *s)
{
	return &s->cursor;
}

static int stub_refresh_loud(struct scenario *s)
{
	return stub_refresh(s, false);
}

static json_t *stub_calls(struct scenario *s)
{
	return s->stub_calls;
}

static json_int_t *stub_cursor(struct scenario *s)
{
	return &s->stub_cursor;
}

static const struct records web_records = { "expect_call", "expect_no_call", "method", "call",
					    calls_refresh,  web_calls,	      web_cursor };
static const struct records stub_records = { "expect_argv", "expect_no_argv", "tool", "stub call",
					     stub_refresh_loud, stub_calls,	  stub_cursor };

static int step_expect_call(struct scenario *s, const json_t *arg, const json_t *step, json_t **res)
{
	return expect_records(&web_records, s, arg, step, res);
}

static int step_expect_no_call(struct scenario *s, const json_t *arg, const json_t *step,
			       json_t **res)
{
	(void)res;
	return expect_no_records(&web_records, s, arg, step);
}

/* {"expect_argv": {"tool":…, "argv":[…], …, "count":N}}: like expect_call,
 * over the stubs' records (stub-calls.jsonl) with a cursor of its own. */
static int step_expect_argv(struct scenario *s, const json_t *arg, const json_t *step, json_t **res)
{
	return expect_records(&stub_records, s, arg, step, res);
}

/* {"expect_no_argv": M, "for_ms": N}: no stub record after the cursor may
 * match for N ms. */
static int step_expect_no_argv(struct scenario *s, const json_t *arg, const json_t *step,
			       json_t **res)
{
	(void)res;
	return expect_no_records(&stub_records, s, arg, step);
}

/* One process from /proc/PID/stat: state, parent, group and name. Returns
 * false when it is gone or unreadable. */
static bool proc_stat(pid_t pid, char *state, pid_t *ppid, pid_t *pgrp, char *comm, size_t len)
{
	char path[64], buf[1024], *open, *close;
	FILE *f;
	size_t n;
	int pp = 0, pg = 0;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	f = fopen(path, "r");
	if (!f)
		return false;
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	open = strchr(buf, '(');
	close = strrchr(buf, ')');
	if (!open || !close || close < open || sscanf(close + 1, " %c %d %d", state, &pp, &pg) != 3)
		return false;
	snprintf(comm, len, "%.*s", (int)(close - open - 1), open + 1);
	*ppid = pp;
	*pgrp = pg;
	return true;
}

/* Appends "pid N (comm) state S, parent P" for every process of group
 * pgid (pid > 0: only that process) to b. Returns how many. */
static int describe_group(pid_t pgid, pid_t pid, struct rb_buf *b)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	while (d && (e = readdir(d))) {
		char *end, state, comm[64];
		long v = strtol(e->d_name, &end, 10);
		pid_t pp, pg;

		if (*end || v <= 0 || !proc_stat((pid_t)v, &state, &pp, &pg, comm, sizeof comm))
			continue;
		if (pid > 0 ? (pid_t)v != pid : pg != pgid)
			continue;
		msg_printf(b, "%s%ld (%s) state %c, parent %d", n ? "; " : "", v, comm, state,
			   (int)pp);
		n++;
	}
	if (d)
		closedir(d);
	return n;
}

/* {"expect_no_process": {"pgid": N}} (or {"pid": N}): polls until
 * kill(-N, 0) fails with ESRCH: no process of that group is left, zombies
 * included. Members that became the harness's children (it is a child
 * subreaper, so orphans of the bot's backends come to it) are reaped on
 * the way, as the bot would reap its own. */
static int step_expect_no_process(struct scenario *s, const json_t *arg, const json_t *step,
				  json_t **res)
{
	const json_t *g = json_object_get(arg, "pgid"), *p = json_object_get(arg, "pid");
	const json_t *v = g ? g : p;
	int64_t until = step_until(s, step, DEFAULT_WITHIN_MS);
	long long id = 0;
	bool group = g != NULL;

	(void)res;
	if (!json_is_object(arg) || (g && p) || !v || json_object_size(arg) != 1)
		return failf(s, "expect_no_process: needs {\"pgid\": N} or {\"pid\": N}");
	if (json_is_integer(v)) {
		id = json_integer_value(v);
	} else if (json_is_string(v)) {
		char *end;

		errno = 0;
		id = strtoll(json_string_value(v), &end, 10);
		if (errno || *end || end == json_string_value(v))
			id = 0;
	}
	/* kill(-1, 0) and kill(0, 0) mean "everyone" and "my group". */
	if (id <= 1 || id > INT_MAX || (pid_t)id == getpid() || (pid_t)id == getpgrp())
		return failf(s,
			     "expect_no_process: %s must be a %s id > 1 that is not the harness's",
			     group ? "pgid" : "pid", group ? "process group" : "process");
	for (;;) {
		int st;
		bool ours = is_bot_pid(s, (pid_t)id) || (pid_t)id == s->fake.pid;

		if (!ours)
			while (waitpid(group ? -(pid_t)id : (pid_t)id, &st, WNOHANG) > 0)
				;
		if (kill(group ? -(pid_t)id : (pid_t)id, 0) == -1 && errno == ESRCH)
			return 0;
		if (now_ms() >= until) {
			struct rb_buf b;

			rb_buf_init(&b, 1u << 20);
			describe_group((pid_t)id, group ? 0 : (pid_t)id, &b);
			failf(s, "expect_no_process: %s %lld still has processes%s: %s",
			      group ? "process group" : "process", id, late(s, until),
			      b.len ? rb_buf_str(&b) : "(not in /proc: another pid namespace?)");
			rb_buf_free(&b);
			return -1;
		}
		if (check_abort(s, 0))
			return -1;
		nap(POLL_MS);
	}
}

/* Reads up to max bytes of an open file from its start into a JSON string
 * (bytes that are not UTF-8 become '?'). New reference. */
static json_t *read_output(int fd, size_t max)
{
	struct rb_buf b;
	char chunk[65536];
	ssize_t n;
	json_t *v;

	rb_buf_init(&b, max);
	lseek(fd, 0, SEEK_SET);
	while ((n = read(fd, chunk, sizeof chunk)) > 0)
		if (rb_buf_append(&b, chunk, (size_t)n) != RB_OK)
			break;
	v = json_stringn(b.len ? b.data : "", b.len);
	if (!v) {
		for (size_t i = 0; i < b.len; i++)
			if ((unsigned char)b.data[i] >= 0x80)
				b.data[i] = '?';
		v = json_stringn(b.data, b.len);
	}
	rb_buf_free(&b);
	return v ? v : json_string("");
}

/* {"run": {"argv": [PROG, ARG…], "timeout_ms": N, "env": {…}, "expect": M}}:
 * runs a program the way the bot runs a backend: the bot's environment
 * (stubs first on PATH, ROLLBOT_TEST_DIR) plus env, argv looked up on that
 * PATH, in a session and process group of its own, stdin /dev/null. At the
 * timeout its group gets SIGTERM, then SIGKILL RUN_GRACE_MS later. Waits
 * for the process itself, not for the rest of its group (expect_no_process
 * is there for that). Saves {"argv","pid","pgid","exit","signal",
 * "timed_out","ms","stdout","stderr"}; fails only when it cannot start or
 * M does not match. For testing the test tools themselves: scenarios about
 * the bot let the bot run its backends. */
static int step_run(struct scenario *s, const json_t *arg, const json_t *step, json_t **res)
{
	const json_t *av = json_object_get(arg, "argv"), *to = json_object_get(arg, "timeout_ms");
	const json_t *envj = json_object_get(arg, "env"), *want = json_object_get(arg, "expect");
	char out_path[] = "/tmp/rollbot-run-out.XXXXXX", err_path[] = "/tmp/rollbot-run-err.XXXXXX";
	int64_t t0 = now_ms(), kill_at = 0, until;
	int out_fd, err_fd, st = 0, rc = 0;
	bool timed_out = false, exited = false;
	char **argv;
	struct env e;
	json_t *r, *x;
	const char *k;
	size_t i, n;
	pid_t pid;

	(void)step;
	n = json_array_size(av);
	if (!json_is_object(arg) || !n || (to && !int_in(to, 1, 86400000)) ||
	    (envj && !json_is_object(envj)))
		return failf(s, "run: needs {\"argv\": [PROGRAM, ARG…]} (timeout_ms > 0, env {})");
	json_array_foreach (av, i, x)
		if (!plain_string(x) || (i == 0 && !*json_string_value(x)))
			return failf(s,
				     "run: argv must hold strings (no NUL), the first not empty");
	if (bot_env(s, &e, 0))
		return -1;
	json_object_foreach ((json_t *)envj, k, x) {
		if (!json_is_null(x) && !json_is_string(x)) {
			env_free(&e);
			return failf(s, "run: env %s: not a string (null unsets)", k);
		}
		env_set(&e, k, json_string_value(x));
	}
	out_fd = mkstemp(out_path);
	err_fd = out_fd < 0 ? -1 : mkstemp(err_path);
	if (out_fd < 0 || err_fd < 0) {
		rc = failf(s, "run: mkstemp: %s", strerror(errno));
		if (out_fd >= 0) {
			close(out_fd);
			unlink(out_path);
		}
		env_free(&e);
		return rc;
	}
	unlink(out_path);
	unlink(err_path);
	argv = rb_calloc(n + 1, sizeof *argv);
	json_array_foreach (av, i, x)
		argv[i] = (char *)json_string_value(x);
	pid = fork();
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY);
		sigset_t none;

		setsid();
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		signal(SIGPIPE, SIG_DFL);
		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		if (nul >= 0)
			dup2(nul, 0);
		dup2(out_fd, 1);
		dup2(err_fd, 2);
		environ = e.v; /* execvp searches this PATH */
		execvp(argv[0], argv);
		dprintf(2, "harness: cannot run %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	free(argv);
	env_free(&e);
	if (pid < 0) {
		close(out_fd);
		close(err_fd);
		return failf(s, "run: fork: %s", strerror(errno));
	}
	g_pgids[SLOT_SCRIPT] = pid;
	until = t0 + (to ? json_integer_value(to) : DEFAULT_RUN_MS);
	while (!exited) {
		pid_t w = waitpid(pid, &st, WNOHANG);

		if (w == pid) {
			exited = true;
			break;
		}
		if (w < 0 && errno != EINTR) {
			rc = failf(s, "run: waitpid: %s", strerror(errno));
			break;
		}
		if (!timed_out && now_ms() >= until) {
			timed_out = true;
			kill(-pid, SIGTERM);
			kill_at = now_ms() + RUN_GRACE_MS;
		} else if (timed_out && kill_at && now_ms() >= kill_at) {
			kill(-pid, SIGKILL);
			kill_at = 0;
		}
		if (check_abort(s, 0)) {
			rc = -1;
			break;
		}
		nap(10);
	}
	if (!exited) {
		kill(-pid, SIGKILL);
		waitpid(pid, &st, 0);
	}
	g_pgids[SLOT_SCRIPT] = 0;
	if (!rc) {
		r = json_object();
		json_object_set_new(r, "argv", json_deep_copy(av));
		json_object_set_new(r, "pid", json_integer(pid));
		json_object_set_new(r, "pgid", json_integer(pid));
		json_object_set_new(r, "exit",
				    WIFEXITED(st) ? json_integer(WEXITSTATUS(st)) : json_null());
		json_object_set_new(r, "signal",
				    WIFSIGNALED(st) ? json_integer(WTERMSIG(st)) : json_null());
		json_object_set_new(r, "timed_out", json_boolean(timed_out));
		json_object_set_new(r, "ms", json_integer(now_ms() - t0));
		json_object_set_new(r, "stdout", read_output(out_fd, RUN_OUT_MAX));
		json_object_set_new(r, "stderr", read_output(err_fd, RUN_OUT_MAX));
		if (want) {
			struct rb_buf why;

			rb_buf_init(&why, 1u << 20);
			if (!match_top(want, r, &why)) {
				rc = failf(s, "run: the result does not match: %s",
					   rb_buf_str(&why));
				fail_values(s, want, r);
			}
			rb_buf_free(&why);
		}
		if (rc)
			json_decref(r);
		else
			*res = r;
	}
	close(out_fd);
	close(err_fd);
	return rc;
}

/* Does process pid have the environment entry `entry` (exactly)? False
 * when its environment cannot be read (gone, a zombie, another user's). */
static bool env_has(long pid, const char *entry)
{
	char path[64], buf[65536];
	size_t got, elen = strlen(entry) + 1; /* with its NUL: a whole entry */
	struct rb_buf all;
	bool found = false;
	FILE *f;

	snprintf(path, sizeof path, "/proc/%ld/environ", pid);
	f = fopen(path, "rb");
	if (!f)
		return false;
	rb_buf_init(&all, 1u << 20);
	while ((got = fread(buf, 1, sizeof buf, f)) > 0)
		if (rb_buf_append(&all, buf, got) != RB_OK)
			break;
	fclose(f);
	for (size_t off = 0; off < all.len && !found;) {
		const char *q = all.data + off;
		size_t left = all.len - off, n = strnlen(q, left);

		found = left >= elen && !memcmp(q, entry, elen);
		off += n + 1;
	}
	rb_buf_free(&all);
	return found;
}

/* At the end of a scenario, after the bot and the fake have stopped:
 * SIGKILL to every process still carrying this scenario's ROLLBOT_TEST_DIR
 * in its environment (stubs left running by the bot or a run step, and
 * their children), then reap the ones that came to the harness. A hung
 * stub must not outlive its test. What was killed goes to s->leftovers,
 * for a note. Only processes whose environment we may read are seen. */
static void kill_leftovers(struct scenario *s)
{
	char *entry = rb_asprintf("ROLLBOT_TEST_DIR=%s", s->tmp);
	json_t *killed = json_object(); /* pid → comm */
	int st;

	for (int round = 0; round < 50; round++) {
		DIR *d = opendir("/proc");
		struct dirent *e;
		int found = 0;

		while (d && (e = readdir(d))) {
			char *end, state, comm[64], key[24];
			long v = strtol(e->d_name, &end, 10);
			pid_t pp, pg;

			if (*end || v <= 0 || (pid_t)v == getpid() || bot_running(s, (pid_t)v) ||
			    ((pid_t)v == s->fake.pid && s->fake.running) || !env_has(v, entry))
				continue;
			found++;
			snprintf(key, sizeof key, "%ld", v);
			if (!json_object_get(killed, key) &&
			    proc_stat((pid_t)v, &state, &pp, &pg, comm, sizeof comm))
				json_object_set_new(killed, key, json_string(comm));
			kill((pid_t)v, SIGKILL);
		}
		if (d)
			closedir(d);
		while (waitpid(-1, &st, WNOHANG) > 0)
			;
		if (!found)
			break;
		nap(20);
	}
	if (json_object_size(killed)) {
		struct rb_buf b;
		const char *k;
		json_t *v;

		rb_buf_init(&b, 1u << 16);
		json_object_foreach (killed, k, v)
			msg_printf(&b, "%s%s (%s)", b.len ? ", " : "", k, json_string_value(v));
		s->leftovers =
			rb_asprintf("killed %zu process%s left running at the end with this "
				    "scenario's ROLLBOT_TEST_DIR (stubs and their children): %s",
				    json_object_size(killed),
				    json_object_size(killed) == 1 ? "" : "es", rb_buf_str(&b));
		rb_buf_free(&b);
	}
	json_decref(killed);
	free(entry);
}

/* ALTER DATABASE … ALLOW_CONNECTIONS, from the server's `postgres`
 * database (a database cannot shut itself); going away, the bot's
 * connections are ended too. */
static int database_access(struct scenario *s, bool allow)
{
	const char *keys[] = { "dbname", "dbname", "connect_timeout", NULL };
	const char *vals[] = { s->db_url, "postgres", "5", NULL };
	struct rb_buf err;
	PGconn *c;
	PGresult *r;
	char *name, *sql;
	int rc = 0;

	rb_buf_init(&err, 4096);
	if (pg_connect(s, &err)) {
		rc = failf(s, "database: %s", rb_buf_str(&err));
		rb_buf_free(&err);
		return rc;
	}
	rb_buf_free(&err);
	c = PQconnectdbParams(keys, vals, 1);
	if (PQstatus(c) != CONNECTION_OK) {
		rc = failf(s, "database: connect to postgres: %s", PQerrorMessage(c));
		PQfinish(c);
		return rc;
	}
	name = PQescapeIdentifier(c, PQdb(s->pg), strlen(PQdb(s->pg)));
	sql = rb_asprintf("ALTER DATABASE %s ALLOW_CONNECTIONS %s; SELECT "
			  "count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname "
			  "= '%s' AND pid <> %d AND %s",
			  name, allow ? "true" : "false", PQdb(s->pg), PQbackendPID(s->pg),
			  allow ? "false" : "true");
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		rc = failf(s, "database %s: %s", allow ? "back" : "away", PQresultErrorMessage(r));
	PQclear(r);
	free(sql);
	PQfreemem(name);
	PQfinish(c);
	return rc;
}

/* {"database": "away"|"back"|"lock"|"unlock"}: PostgreSQL as the bot sees
 * it. "away" refuses new connections to the scenario's database and ends
 * the bot's (the harness keeps its own): the server is gone, for the bot.
 * "lock" opens a transaction on the harness's connection that holds an
 * exclusive lock on `incidents`: the server answers connections but every
 * write to an incident waits, as under a long lock or a stuck disk;
 * "unlock" commits it. */
static int step_database(struct scenario *s, const json_t *arg, const json_t *step, json_t **res)
{
	const char *what = json_string_value(arg);
	const char *sql = NULL;
	struct rb_buf err;
	PGresult *r;
	int rc = 0;

	(void)step;
	(void)res;
	if (!what)
		return failf(s, "database: away, back, lock or unlock");
	if (!strcmp(what, "away") || !strcmp(what, "back"))
		return database_access(s, !strcmp(what, "back"));
	if (!strcmp(what, "lock"))
		sql = "BEGIN; LOCK TABLE incidents IN EXCLUSIVE MODE";
	else if (!strcmp(what, "unlock"))
		sql = "COMMIT";
	else
		return failf(s, "database: away, back, lock or unlock, not %s", what);
	rb_buf_init(&err, 4096);
	if (pg_connect(s, &err)) {
		rc = failf(s, "database %s: %s", what, rb_buf_str(&err));
		rb_buf_free(&err);
		return rc;
	}
	rb_buf_free(&err);
	r = PQexec(s->pg, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
		rc = failf(s, "database %s: %s", what, PQresultErrorMessage(r));
	PQclear(r);
	return rc;
}

static int step_prometheus(struct scenario *s, const json_t *arg, const json_t *step,
			   json_t **res);
static int prom_validate(struct scenario *s, const json_t *p);
static int am_validate(struct scenario *s, const json_t *a);

struct action {
	const char *name;
	int (*run)(struct scenario *s, const json_t *arg, const json_t *step, json_t **res);
};

static const struct action actions[] = {
	{ "send", step_send },
	{ "fake", step_fake },
	{ "expect_ack", step_expect_ack },
	{ "expect_call", step_expect_call },
	{ "expect_no_call", step_expect_no_call },
	{ "expect_rows", step_expect_rows },
	{ "expect_state", step_expect_state },
	{ "expect_http", step_expect_http },
	{ "sleep_ms", step_sleep },
	{ "bot", step_bot },
	{ "expect_exit", step_expect_exit },
	{ "expect_log", step_expect_log },
	{ "expect_no_log", step_expect_no_log },
	{ "stub_rules", step_stub_rules },
	{ "expect_argv", step_expect_argv },
	{ "expect_no_argv", step_expect_no_argv },
	{ "expect_no_process", step_expect_no_process },
	{ "run", step_run },
	{ "database", step_database },
	{ "prometheus", step_prometheus },
};

static const char *const step_options[] = {
	"as", "within_ms", "note", "for_ms", "wait", "replica"
};

/* The actions that take the "replica" option. */
static const char *const replica_actions[] = { "bot", "expect_exit", "send", "expect_log",
					       "expect_no_log" };

static const char *const scenario_keys[] = {
	"name",	     "note",  "config",	  "env",	  "fake_args",
	"autostart", "steps", "replicas", "allow_errors", "timeout_s",
	"prometheus", "alertmanager",
};

static const struct action *find_action(const char *k)
{
	for (size_t i = 0; i < RB_ARRAY_LEN(actions); i++)
		if (!strcmp(k, actions[i].name))
			return &actions[i];
	return NULL;
}

static bool is_option(const char *k)
{
	for (size_t i = 0; i < RB_ARRAY_LEN(step_options); i++)
		if (!strcmp(k, step_options[i]))
			return true;
	return false;
}

/* Checks the file's shape before anything is started, so that a typo is
 * reported as such rather than as a strange failure. */
static int validate(struct scenario *s)
{
	const char *k;
	json_t *v, *steps = json_object_get(s->doc, "steps");
	size_t i;

	if (!json_is_object(s->doc))
		return failf(s, "the scenario is not a JSON object");
	json_object_foreach (s->doc, k, v) {
		bool known = false;

		for (size_t j = 0; j < RB_ARRAY_LEN(scenario_keys); j++)
			known = known || !strcmp(k, scenario_keys[j]);
		if (!known)
			return failf(s, "unknown scenario key \"%s\"", k);
	}
	if (!json_is_array(steps))
		return failf(s, "\"steps\" must be an array");
	if (json_object_get(s->doc, "config") && !json_is_string(json_object_get(s->doc, "config")))
		return failf(s, "\"config\" must be a file name");
	if (json_object_get(s->doc, "env") && !json_is_object(json_object_get(s->doc, "env")))
		return failf(s, "\"env\" must be an object");
	v = json_object_get(s->doc, "fake_args");
	if (v && !json_is_array(v))
		return failf(s, "\"fake_args\" must be an array of strings");
	v = json_object_get(s->doc, "allow_errors");
	if (v && !json_is_array(v))
		return failf(s, "\"allow_errors\" must be an array of regexes");
	v = json_object_get(s->doc, "replicas");
	if (v && (!json_is_integer(v) || json_integer_value(v) < 1 ||
		  json_integer_value(v) > MAX_REPLICAS))
		return failf(s, "\"replicas\" must be a number from 1 to %d", MAX_REPLICAS);
	s->n_bots = v ? (int)json_integer_value(v) : 1;
	v = json_object_get(s->doc, "prometheus");
	if (v && prom_validate(s, v))
		return -1;
	v = json_object_get(s->doc, "alertmanager");
	if (v && am_validate(s, v))
		return -1;
	json_array_foreach (steps, i, v) {
		const char *sk, *act = NULL;
		json_t *x;
		int n = 0;

		if (!json_is_object(v))
			return failf(s, "step %zu is not an object", i + 1);
		json_object_foreach (v, sk, x) {
			if (find_action(sk)) {
				n++;
				act = sk;
			} else if (!is_option(sk)) {
				return failf(s, "step %zu: unknown key \"%s\"", i + 1, sk);
			}
		}
		if (n != 1)
			return failf(s, "step %zu: needs exactly one action", i + 1);
		x = json_object_get(v, "replica");
		if (x) {
			bool takes = false;

			for (size_t j = 0; j < RB_ARRAY_LEN(replica_actions); j++)
				takes = takes || !strcmp(act, replica_actions[j]);
			if (!takes)
				return failf(s, "step %zu: %s does not take \"replica\"", i + 1,
					     act);
			if (!json_is_integer(x) || json_integer_value(x) < 1 ||
			    json_integer_value(x) > s->n_bots)
				return failf(s,
					     "step %zu: \"replica\" must be a number from 1 to "
					     "%d (the scenario's \"replicas\")",
					     i + 1, s->n_bots);
		}
		x = json_object_get(v, "as");
		if (x && !json_is_string(x))
			return failf(s, "step %zu: \"as\" must be a name", i + 1);
		if (x && strchr(json_string_value(x), '.'))
			return failf(s, "step %zu: \"as\": a name cannot contain '.'", i + 1);
	}
	return 0;
}

/* ---- a real Prometheus (README, "A real Prometheus") --------------------- */

/* A TCP port of 127.0.0.1 free right now, or 0. */
static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof a;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port = 0;

	if (fd < 0)
		return 0;
	if (!bind(fd, (struct sockaddr *)&a, sizeof a) &&
	    !getsockname(fd, (struct sockaddr *)&a, &len))
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* "prometheus": {"services":[NAME,…],"scrape_interval":"1s","autostart":true,
 * "rules":FILE}. */
static int prom_validate(struct scenario *s, const json_t *p)
{
	const json_t *v, *x;
	const char *k;
	size_t i;

	if (!json_is_object(p))
		return failf(s, "\"prometheus\" must be an object");
	json_object_foreach ((json_t *)p, k, x)
		if (strcmp(k, "services") && strcmp(k, "scrape_interval") && strcmp(k, "autostart") &&
		    strcmp(k, "rules"))
			return failf(s, "\"prometheus\": unknown key \"%s\"", k);
	v = json_object_get(p, "services");
	if (!json_array_size(v))
		return failf(s, "\"prometheus\": \"services\" must be a non-empty array of names");
	json_array_foreach (v, i, x)
		if (!json_is_string(x))
			return failf(s, "\"prometheus\": \"services\" must hold names");
	x = json_object_get(p, "scrape_interval");
	if (x && !json_is_string(x))
		return failf(s, "\"prometheus\": \"scrape_interval\" must be a duration (\"1s\")");
	x = json_object_get(p, "autostart");
	if (x && !json_is_boolean(x))
		return failf(s, "\"prometheus\": \"autostart\" must be true or false");
	x = json_object_get(p, "rules");
	if (x && (!json_is_string(x) || access(json_string_value(x), R_OK)))
		return failf(s, "\"prometheus\": \"rules\" must name a readable rule file");
	return 0;
}

/* Starts it (again, after a stop: same port, same data) and waits until it
 * has scraped every service once. */
static int prom_start(struct scenario *s)
{
	const json_t *p = json_object_get(s->doc, "prometheus"), *names, *x;
	const char **argv;
	char port[16], err[512], *out = NULL;
	size_t n, i, k;
	int rc = 0;

	names = json_object_get(p, "services");
	n = json_array_size(names);
	argv = rb_calloc(n + 12, sizeof *argv);
	snprintf(port, sizeof port, "%s", s->prom_url + strlen("http://127.0.0.1:"));
	k = 0;
	argv[k++] = "bash";
	argv[k++] = PROM_SCRIPT;
	argv[k++] = "start";
	if (json_object_get(p, "rules")) {
		argv[k++] = "--rules";
		argv[k++] = jstr(p, "rules", "");
	}
	if (s->am_url[0]) { /* its alerts go to the scenario's Alertmanager */
		argv[k++] = "--alertmanager";
		argv[k++] = s->am_url + strlen("http://");
	}
	argv[k++] = s->prom_dir;
	argv[k++] = port;
	argv[k++] = s->base;
	argv[k++] = jstr(p, "scrape_interval", "1s");
	json_array_foreach (names, i, x)
		argv[k++] = json_string_value(x);
	/* It runs as an unprivileged user, who must reach its folder. */
	if (chmod(s->tmp, 0711))
		rc = failf(s, "chmod %s: %s", s->tmp, strerror(errno));
	else if (run_script(argv, false, &out, err, sizeof err))
		rc = failf(s, "cannot start Prometheus: %s (Debian's prometheus package is needed: "
			      "make deps; its log: %s/prometheus.log)", err, s->prom_dir);
	s->prom_started = true;
	free(out);
	free(argv);
	return rc;
}

/* Halts it (keep: its data stays for a later start) or stops it and removes
 * its folder. */
static int prom_stop(struct scenario *s, bool keep)
{
	const char *argv[] = { "bash", PROM_SCRIPT, keep ? "halt" : "stop", s->prom_dir, NULL };
	char err[512], *out = NULL;
	int rc = 0;

	if (!s->prom_started)
		return 0;
	if (run_script(argv, true, &out, err, sizeof err))
		rc = failf(s, "cannot stop Prometheus: %s", err);
	free(out);
	if (!keep)
		s->prom_started = false;
	return rc;
}

/* The URL is known from the start (the bot's config may name it); the
 * server starts now unless "autostart" is false. */
static int prom_setup(struct scenario *s)
{
	const json_t *p = json_object_get(s->doc, "prometheus");
	int port;

	if (!p)
		return 0;
	port = free_port();
	if (!port)
		return failf(s, "no free port for Prometheus: %s", strerror(errno));
	snprintf(s->prom_url, sizeof s->prom_url, "http://127.0.0.1:%d", port);
	snprintf(s->prom_dir, sizeof s->prom_dir, "%s/prometheus", s->tmp);
	if (json_is_false(json_object_get(p, "autostart")))
		return 0;
	return prom_start(s);
}

/* {"prometheus": "start" | "stop"}: a stopped one keeps its data. */
static int step_prometheus(struct scenario *s, const json_t *arg, const json_t *step,
			   json_t **res)
{
	const char *what = json_string_value(arg);

	(void)step;
	(void)res;
	if (!s->prom_url[0])
		return failf(s, "prometheus: the scenario has no \"prometheus\" key");
	if (what && !strcmp(what, "start"))
		return prom_start(s);
	if (what && !strcmp(what, "stop"))
		return prom_stop(s, true);
	return failf(s, "prometheus: \"start\" or \"stop\"");
}

/* ---- a real Alertmanager (README, "A real Alertmanager") ---------------- */

/* "alertmanager": {"webhook":"http://127.0.0.1:PORT/PATH","token":T}; the
 * token defaults to the scenario's env ROLLBOT_ALERTMANAGER_TOKEN, the one
 * the bot checks. */
static int am_validate(struct scenario *s, const json_t *a)
{
	const json_t *env = json_object_get(s->doc, "env");
	const char *k;
	json_t *x;

	if (!json_is_object(a))
		return failf(s, "\"alertmanager\" must be an object");
	json_object_foreach ((json_t *)a, k, x)
		if (strcmp(k, "webhook") && strcmp(k, "token"))
			return failf(s, "\"alertmanager\": unknown key \"%s\"", k);
	if (strncmp(jstr(a, "webhook", ""), "http://127.0.0.1:", 17))
		return failf(s, "\"alertmanager\": \"webhook\" must be http://127.0.0.1:PORT/PATH");
	if (!jstr(a, "token", jstr(env, "ROLLBOT_ALERTMANAGER_TOKEN", ""))[0])
		return failf(s, "\"alertmanager\": no \"token\" and no env "
			     "ROLLBOT_ALERTMANAGER_TOKEN");
	return 0;
}

/* Started before Prometheus, which is told where it is. The token goes to
 * the script in its environment, never on a command line. */
static int am_setup(struct scenario *s)
{
	const json_t *a = json_object_get(s->doc, "alertmanager");
	const json_t *env = json_object_get(s->doc, "env");
	const char *argv[] = { "bash", AM_SCRIPT, "start", s->am_dir, NULL, NULL, NULL };
	char port[16], err[512], *out = NULL;
	json_t *hook;
	int rc = 0, p;

	if (!a)
		return 0;
	p = free_port();
	if (!p)
		return failf(s, "no free port for Alertmanager: %s", strerror(errno));
	snprintf(port, sizeof port, "%d", p);
	snprintf(s->am_url, sizeof s->am_url, "http://127.0.0.1:%d", p);
	snprintf(s->am_dir, sizeof s->am_dir, "%s/alertmanager", s->tmp);
	argv[4] = port;
	hook = expand_string(s, jstr(a, "webhook", ""));
	if (!hook)
		return -1;
	argv[5] = json_string_value(hook);
	setenv("ROLLBOT_ALERTMANAGER_TOKEN",
	       jstr(a, "token", jstr(env, "ROLLBOT_ALERTMANAGER_TOKEN", "")), 1);
	if (chmod(s->tmp, 0711)) /* it runs as an unprivileged user */
		rc = failf(s, "chmod %s: %s", s->tmp, strerror(errno));
	else if (run_script(argv, false, &out, err, sizeof err))
		rc = failf(s, "cannot start Alertmanager: %s (Debian's prometheus-alertmanager "
			      "package is needed: make deps; its log: %s/alertmanager.log)",
			   err, s->am_dir);
	unsetenv("ROLLBOT_ALERTMANAGER_TOKEN");
	s->am_started = true;
	json_decref(hook);
	free(out);
	return rc;
}

/* keep: a failed scenario keeps its folder (config, log) for a look. */
static int am_stop(struct scenario *s, bool keep)
{
	const char *argv[] = { "bash", AM_SCRIPT, keep ? "halt" : "stop", s->am_dir, NULL };
	char err[512], *out = NULL;
	int rc = 0;

	if (!s->am_started)
		return 0;
	if (run_script(argv, true, &out, err, sizeof err))
		rc = failf(s, "cannot stop Alertmanager: %s", err);
	free(out);
	s->am_started = false;
	return rc;
}

/* ---- one scenario ----------------------------------------------------- */

static int start_fake(struct scenario *s)
{
	char *bin = rb_asprintf("%s/fake_slack", s->h->build);
	char *portfile = rb_asprintf("%s/port", s->tmp);
	const json_t *extra = json_object_get(s->doc, "fake_args");
	size_t n = json_array_size(extra), i;
	char **argv = rb_calloc(n + 6, sizeof *argv);
	json_t **held = rb_calloc(n + 1, sizeof *held);
	char err[512];
	int64_t until = now_ms() + PORT_WAIT_MS;
	int rc = 0;

	argv[0] = bin;
	argv[1] = "--port";
	argv[2] = "0";
	argv[3] = "--port-file";
	argv[4] = portfile;
	for (i = 0; i < n; i++) {
		held[i] = expand(s, json_array_get(extra, i));
		if (!json_is_string(held[i])) {
			rc = failf(s, "fake_args: every element must be a string");
			goto out;
		}
		argv[5 + i] = (char *)json_string_value(held[i]);
	}
	if (proc_spawn(&s->fake, argv, environ, s->fake_log, err, sizeof err)) {
		rc = failf(s, "cannot start fake_slack: %s", err);
		goto out;
	}
	for (;;) {
		char *text = slurp(portfile, 64);
		long port = text ? strtol(text, NULL, 10) : 0;
		bool nl = text && strchr(text, '\n');

		free(text);
		if (nl && port > 0 && port < 65536) {
			s->port = (int)port;
			snprintf(s->base, sizeof s->base, "http://127.0.0.1:%d", s->port);
			break;
		}
		if (!proc_poll(&s->fake)) {
			status_str(s->fake.status, err, sizeof err);
			rc = failf(s, "fake_slack exited (%s) before writing its port", err);
			break;
		}
		if (now_ms() >= until || g_signals) {
			rc = failf(s, "fake_slack wrote no port file within %d ms", PORT_WAIT_MS);
			break;
		}
		nap(20);
	}
out:
	for (i = 0; i < n; i++)
		json_decref(held[i]);
	free(held);
	free(argv);
	free(portfile);
	free(bin);
	return rc;
}

static void run_steps(struct scenario *s)
{
	const json_t *steps = json_object_get(s->doc, "steps");
	const json_t *step;
	size_t i;

	json_array_foreach (steps, i, step) {
		const char *k;
		const json_t *x = NULL, *what = NULL;
		const struct action *act = NULL;
		json_t *arg = NULL, *res = NULL;
		int64_t t = now_ms();
		int rc;

		s->step = (int)i;
		if (check_abort(s, 0))
			return;
		json_object_foreach ((json_t *)step, k, x) {
			if (find_action(k)) {
				act = find_action(k);
				what = x;
			}
		}
		arg = act ? expand(s, what) : NULL; /* validate() made sure of act */
		if (!arg)
			return;
		rc = act->run(s, arg, step, &res);
		json_decref(arg);
		if (s->h->verbose)
			printf("     step %zu %s: %s (%.2f s)\n", i + 1, act->name,
			       rc ? "failed" : "ok", (double)(now_ms() - t) / 1000.0);
		if (rc) {
			json_decref(res);
			return;
		}
		x = json_object_get(step, "as");
		if (x && res)
			json_object_set(s->vars, json_string_value(x), res);
		json_decref(res);
	}
	s->step = -1;
}

/* Sanitizer reports fail whatever the scenario says; level=error lines fail
 * unless allow_errors or a passed expect_log names them. */
static void scan_bot_log(struct scenario *s, const struct bot *b)
{
	const json_t *allow = json_object_get(s->doc, "allow_errors");
	char *text = slurp(b->log, LOG_MAX);
	char *line, *next, where[64];

	snprintf(where, sizeof where, "%s's", b->name);

	for (line = text; line && *line; line = next) {
		bool allowed = false;
		const json_t *re;
		size_t i;

		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		else
			next = line + strlen(line);
		for (i = 0; i < RB_ARRAY_LEN(sanitizer_marks); i++) {
			if (strstr(line, sanitizer_marks[i])) {
				failf(s, "sanitizer report in %s stderr: %s", where, line);
				goto out;
			}
		}
		if (!strstr(line, "level=error"))
			continue;
		json_array_foreach (allow, i, re) {
			char err[256];

			allowed = allowed ||
				  (json_is_string(re) &&
				   log_search(line, json_string_value(re), err, sizeof err) == 1);
		}
		json_array_foreach (s->log_expected, i, re) {
			char err[256];

			allowed = allowed ||
				  log_search(line, json_string_value(re), err, sizeof err) == 1;
		}
		if (!allowed) {
			failf(s, "unexpected error line in %s log: %s", where, line);
			goto out;
		}
	}
out:
	free(text);
}

/* The fake is ours too: a sanitizer report there fails the scenario. */
static void scan_fake_log(struct scenario *s)
{
	char *text = slurp(s->fake_log, LOG_MAX);
	char *line, *next;

	for (size_t i = 0; text && i < RB_ARRAY_LEN(sanitizer_marks); i++) {
		line = strstr(text, sanitizer_marks[i]);
		if (line) {
			next = strchr(line, '\n');
			if (next)
				*next = '\0';
			failf(s, "sanitizer report in fake_slack's stderr: %s", line);
			break;
		}
	}
	free(text);
}

/* Where the first sanitizer report in text starts (the start of its line),
 * or NULL. */
static char *sanitizer_report(char *text)
{
	char *first = NULL;

	for (size_t i = 0; text && i < RB_ARRAY_LEN(sanitizer_marks); i++) {
		char *p = strstr(text, sanitizer_marks[i]);

		if (p && (!first || p < first))
			first = p;
	}
	while (first && first > text && first[-1] != '\n')
		first--;
	return first;
}

/* Prints the last `lines` lines of text (modified), indented. */
static void print_tail(char *text, int lines)
{
	char *p;
	int n = 0;

	if (!text || !*text) {
		printf("    (empty)\n");
		return;
	}
	p = text + strlen(text);
	if (p > text && p[-1] == '\n')
		*--p = '\0';
	while (p > text) {
		if (p[-1] == '\n' && ++n == lines)
			break;
		p--;
	}
	for (char *line = p, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		printf("    | %s\n", line);
	}
}

/* A bot's stderr for the report: its last lines, or, when it holds a
 * sanitizer report, the lines before the report and the report itself up to
 * ASan's shadow-byte dump (which would push the stack out of view). */
static void print_bot_log(const struct bot *b)
{
	const char *path = b->log;
	char *text = slurp(path, LOG_MAX);
	char *rep = sanitizer_report(text);
	int n = 0;

	if (!rep) {
		printf("  %s's stderr, last %d lines (%s):\n", b->name, TAIL_LOG_LINES, path);
		print_tail(text, TAIL_LOG_LINES);
		free(text);
		return;
	}
	if (rep > text) {
		rep[-1] = '\0';
		printf("  %s's stderr before its sanitizer report, last %d lines (%s):\n", b->name,
		       TAIL_LOG_LINES, path);
		print_tail(text, TAIL_LOG_LINES);
	}
	printf("  the sanitizer report:\n");
	for (char *line = rep, *next; line && *line && n < 60; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		if (strstr(line, "Shadow bytes around"))
			break;
		printf("    | %s\n", line);
		n++;
	}
	free(text);
}

static void print_pretty(const char *label, const json_t *v)
{
	char *d = json_dumps(v, JSON_ENCODE_ANY | JSON_INDENT(2));

	printf("  %s:\n", label);
	for (char *line = d, *next; line && *line; line = next) {
		next = strchr(line, '\n');
		if (next)
			*next++ = '\0';
		printf("    %s\n", line);
	}
	free(d);
}

static void report_failure(struct scenario *s)
{
	const json_t *steps = json_object_get(s->doc, "steps");
	size_t n = json_array_size(s->calls), i;

	printf("FAIL %s: %s\n", s->id, s->why);
	if (s->fail_step >= 0 && json_is_array(steps)) {
		const json_t *step = json_array_get(steps, (size_t)s->fail_step);
		struct rb_buf b;

		rb_buf_init(&b, 1u << 20);
		show(&b, step);
		printf("  at step %d: %s\n", s->fail_step + 1, rb_buf_str(&b));
		rb_buf_free(&b);
		if (json_is_string(json_object_get(step, "note")))
			printf("  note: %s\n", json_string_value(json_object_get(step, "note")));
	}
	if (s->detail.len)
		printf("%s", rb_buf_str(&s->detail));
	if (s->fail_expected)
		print_pretty("expected", s->fail_expected);
	if (s->fail_actual)
		print_pretty("actual", s->fail_actual);
	if (s->fake.pid && !n)
		printf("  the fake recorded no calls\n");
	else if (n)
		printf("  last calls recorded by the fake (%zu in all):\n", n);
	for (i = n > TAIL_CALLS ? n - TAIL_CALLS : 0; i < n; i++) {
		const json_t *c = json_array_get(s->calls, i);
		const json_t *r = json_object_get(c, "replica");
		char by[32] = "";
		struct rb_buf b;

		if (json_is_integer(r))
			snprintf(by, sizeof by, " (replica %lld)",
				 (long long)json_integer_value(r));
		rb_buf_init(&b, 1u << 20);
		show(&b, json_object_get(c, "args"));
		printf("    #%lld %s%s %s -> ",
		       (long long)json_integer_value(json_object_get(c, "seq")),
		       jstr(c, "method", "?"), by, rb_buf_str(&b));
		rb_buf_reset(&b);
		show(&b, json_object_get(c, "response"));
		printf("%s\n", rb_buf_str(&b));
		rb_buf_free(&b);
	}
	n = json_array_size(s->stub_calls);
	if (n)
		printf("  last stub calls (%zu in all):\n", n);
	for (i = n > TAIL_STUB_CALLS ? n - TAIL_STUB_CALLS : 0; i < n; i++) {
		const json_t *c = json_array_get(s->stub_calls, i);
		struct rb_buf b;

		rb_buf_init(&b, 1u << 20);
		show(&b, json_object_get(c, "argv"));
		printf("    #%lld %s %s (pgid %lld, rule ",
		       (long long)json_integer_value(json_object_get(c, "seq")),
		       jstr(c, "tool", "?"), rb_buf_str(&b),
		       (long long)json_integer_value(json_object_get(c, "pgid")));
		rb_buf_reset(&b);
		show(&b, json_object_get(c, "rule"));
		printf("%s)\n", rb_buf_str(&b));
		rb_buf_free(&b);
	}
	for (int k = 0; k < s->n_bots; k++)
		if (s->bots[k].log)
			print_bot_log(&s->bots[k]);
	if (s->fake_log)
		printf("  fake_slack's stderr: %s\n", s->fake_log);
}

static char *scenario_id(const char *path)
{
	const char *base = strrchr(path, '/');
	size_t n;

	base = base ? base + 1 : path;
	n = strlen(base);
	if (ends_with(base, ".json"))
		n -= 5;
	return rb_strndup(base, n);
}

/* A database name from the build folder and the scenario's id:
 * rb_<build>_<index>_<id>, lower case, [a-z0-9_] only, at most 63 bytes.
 * The build folder is in it because one cluster may serve the runs of
 * several builds (build, build-asan). */
static char *db_name(const struct scenario *s)
{
	const char *slash = strrchr(s->h->build, '/');
	char *n = rb_asprintf("rb_%s_%d_%s", slash ? slash + 1 : s->h->build, s->index, s->id);

	for (char *p = n; *p; p++) {
		if (*p >= 'A' && *p <= 'Z')
			*p = (char)(*p - 'A' + 'a');
		else if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9')))
			*p = '_';
	}
	if (strlen(n) > 63)
		n[63] = '\0';
	return n;
}

static bool run_scenario(struct harness *h, const char *path, int index)
{
	struct scenario s = { .h = h, .path = path, .index = index, .step = -1, .fail_step = -1 };
	json_error_t jerr;
	const json_t *to;
	bool ok;

	s.fake.what = "fake_slack";
	s.fake.slot = SLOT_FAKE;
	s.n_bots = 1;
	for (int k = 0; k < MAX_REPLICAS; k++) {
		s.bots[k].proc.what = "bot";
		s.bots[k].proc.slot = SLOT_BOT + k;
	}
	s.id = scenario_id(path);
	s.vars = json_object();
	s.calls = json_array();
	s.log_expected = json_array();
	s.stub_calls = json_array();
	rb_buf_init(&s.detail, 1u << 20);
	s.t0 = now_ms();
	s.timeout_s = DEFAULT_TIMEOUT_S;
	s.deadline = s.t0 + (int64_t)s.timeout_s * 1000;

	s.doc = json_load_file(path, 0, &jerr);
	if (!s.doc) {
		failf(&s, "%s:%d:%d: %s", path, jerr.line, jerr.column, jerr.text);
		goto report;
	}
	if (validate(&s))
		goto report;
	to = json_object_get(s.doc, "timeout_s");
	if (json_is_integer(to) && json_integer_value(to) > 0) {
		s.timeout_s = (int)json_integer_value(to);
		s.deadline = s.t0 + (int64_t)s.timeout_s * 1000;
	}
	{
		const char *cfg = json_string_value(json_object_get(s.doc, "config"));

		if (access(cfg ? cfg : DEFAULT_CONFIG, R_OK)) {
			failf(&s, "config %s: %s", cfg ? cfg : DEFAULT_CONFIG, strerror(errno));
			goto report;
		}
	}
	snprintf(s.tmp, sizeof s.tmp, "/tmp/rollbot-scn.XXXXXX");
	if (!mkdtemp(s.tmp)) {
		failf(&s, "mkdtemp: %s", strerror(errno));
		s.tmp[0] = '\0';
		goto report;
	}
	s.fake_log = rb_asprintf("%s/fake_slack.log", s.tmp);
	for (int k = 0; k < s.n_bots; k++) {
		struct bot *b = &s.bots[k];

		/* bot.log for the first, as with one bot; bot-2.log, bot-3.log */
		b->log = k ? rb_asprintf("%s/bot-%d.log", s.tmp, k + 1) :
			     rb_asprintf("%s/bot.log", s.tmp);
		if (s.n_bots > 1)
			snprintf(b->name, sizeof b->name, "replica %d", k + 1);
		else
			snprintf(b->name, sizeof b->name, "the bot");
	}
	{
		char *name = db_name(&s);
		const char *argv[] = { "bash", h->pg_script, "createdb", h->pg_dir, name, NULL };
		char err[512];

		if (run_script(argv, false, &s.db_url, err, sizeof err))
			failf(&s, "cannot create the database %s: %s", name, err);
		else if (!s.db_url)
			failf(&s, "%s createdb printed no URL", h->pg_script);
		free(name);
	}
	if (!s.failed && !start_fake(&s) && !am_setup(&s) && !prom_setup(&s) &&
	    !json_is_false(json_object_get(s.doc, "autostart")))
		for (int k = 0; k < s.n_bots && !s.failed; k++)
			bot_start(&s, k, true);
	if (!s.failed)
		run_steps(&s);

	/* Teardown, whatever happened. */
	s.step = s.failed ? s.step : -1;
	if (s.fake.running)
		(void)calls_refresh(&s);
	for (int k = 0; k < s.n_bots; k++) {
		struct bot *b = &s.bots[k];

		if (b->should_run) {
			if (s.failed)
				proc_stop(&b->proc, SIGTERM, STOP_WAIT_MS);
			else
				bot_stop(&s, k);
		} else if (b->proc.pid) {
			proc_stop(&b->proc, SIGKILL, 5000);
		}
		b->should_run = false;
	}
	(void)prom_stop(&s, s.failed); /* a failed scenario keeps its folder, log and data */
	(void)am_stop(&s, s.failed);
	for (int k = 0; k < s.n_bots; k++)
		if (s.bots[k].log)
			scan_bot_log(&s, &s.bots[k]);
	if (s.fake.pid) {
		if (!proc_stop(&s.fake, SIGTERM, 5000)) {
			failf(&s, "fake_slack did not exit within 5 s of SIGTERM");
		} else if (!WIFEXITED(s.fake.status) || WEXITSTATUS(s.fake.status)) {
			char st[64];

			status_str(s.fake.status, st, sizeof st);
			failf(&s, "fake_slack ended with %s", st);
		}
	}
	if (s.fake_log)
		scan_fake_log(&s);
	if (s.tmp[0]) {
		kill_leftovers(&s);
		(void)stub_refresh(&s, true);
	}

report:
	ok = !s.failed;
	if (ok)
		printf("ok   %s (%.1f s)\n", s.id, (double)(now_ms() - s.t0) / 1000.0);
	else
		report_failure(&s);
	if (s.leftovers)
		printf("  note: %s\n", s.leftovers);
	if (s.tmp[0]) {
		if (ok && !h->keep)
			rm_rf(s.tmp);
		else
			printf("  files kept in %s\n", s.tmp);
	}
	fflush(stdout);

	PQfinish(s.pg);
	if (s.curl)
		curl_easy_cleanup(s.curl);
	json_decref(s.doc);
	json_decref(s.vars);
	json_decref(s.calls);
	json_decref(s.log_expected);
	json_decref(s.stub_calls);
	free(s.leftovers);
	json_decref(s.fail_expected);
	json_decref(s.fail_actual);
	rb_buf_free(&s.detail);
	free(s.why);
	free(s.id);
	free(s.db_url);
	free(s.fake_log);
	for (int k = 0; k < MAX_REPLICAS; k++)
		free(s.bots[k].log);
	return ok;
}

/* ---- the run ---------------------------------------------------------- */

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The scenario files, sorted by name. Returns a NULL-terminated array of
 * new strings (free each and the array), and their number in *n. */
static char **list_scenarios(size_t *n)
{
	DIR *d = opendir(SCENARIO_DIR);
	struct dirent *e;
	char **v = rb_calloc(1, sizeof *v);

	*n = 0;
	if (!d)
		return v;
	while ((e = readdir(d))) {
		if (e->d_name[0] == '.' || !ends_with(e->d_name, ".json"))
			continue;
		v = rb_realloc(v, (*n + 2) * sizeof *v);
		v[(*n)++] = rb_asprintf("%s/%s", SCENARIO_DIR, e->d_name);
		v[*n] = NULL;
	}
	closedir(d);
	qsort(v, *n, sizeof *v, cmp_str);
	return v;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: harness [--build DIR] [--filter SUBSTR] [--pg-dir DIR] [--pg-script FILE]\n"
		"               [--keep] [-v] [scenario.json ...]\n"
		"Runs the scenarios (default: %s/*.json, by name) against DIR/rollbot\n"
		"(default DIR: build), DIR/fake_slack and a throwaway PostgreSQL. Run it from\n"
		"the top of the repository. --pg-dir uses a cluster already started with\n"
		"`tests/pg.sh start DIR` instead of starting one; --keep keeps every scenario's\n"
		"folder; -v prints each step. See %s/README.md.\n",
		SCENARIO_DIR, SCENARIO_DIR);
}

static bool pg_start(struct harness *h)
{
	char tmpl[] = "/tmp/rollbot-pg.XXXXXX";
	const char *argv[] = { "bash", h->pg_script, "start", NULL, NULL };
	char err[512];
	char *url = NULL;

	if (!mkdtemp(tmpl)) {
		printf("harness: mkdtemp: %s\n", strerror(errno));
		return false;
	}
	/* The cluster runs as an unprivileged user who must reach the folder. */
	chmod(tmpl, 0755);
	h->pg_dir = rb_strdup(tmpl);
	h->pg_owned = true;
	argv[3] = h->pg_dir;
	if (run_script(argv, false, &url, err, sizeof err)) {
		printf("harness: cannot start PostgreSQL: %s\n", err);
		return false;
	}
	free(url);
	return true;
}

static void pg_stop(struct harness *h)
{
	const char *argv[] = { "bash", h->pg_script, "stop", h->pg_dir, NULL };
	char err[512];
	char *out = NULL;

	if (!h->pg_owned || !h->pg_dir)
		return;
	if (run_script(argv, true, &out, err, sizeof err))
		printf("harness: stopping PostgreSQL: %s\n", err);
	free(out);
	rm_rf(h->pg_dir);
}

int main(int argc, char **argv)
{
	struct harness h = { .build = "build", .pg_script = DEFAULT_PG_SCRIPT };
	char **files = NULL;
	size_t n_files = 0, n_sel = 0, i;
	bool given = false;
	struct sigaction sa;
	char *bin;

	for (int a = 1; a < argc; a++) {
		const char *o = argv[a];

		if (!strcmp(o, "--build") && a + 1 < argc) {
			h.build = argv[++a];
		} else if (!strcmp(o, "--filter") && a + 1 < argc) {
			h.filter = argv[++a];
		} else if (!strcmp(o, "--pg-dir") && a + 1 < argc) {
			h.pg_dir = rb_strdup(argv[++a]);
		} else if (!strcmp(o, "--pg-script") && a + 1 < argc) {
			h.pg_script = argv[++a];
		} else if (!strcmp(o, "--keep")) {
			h.keep = true;
		} else if (!strcmp(o, "-v") || !strcmp(o, "--verbose")) {
			h.verbose = true;
		} else if (!strcmp(o, "-h") || !strcmp(o, "--help")) {
			usage(stdout);
			free(h.pg_dir);
			return 0;
		} else if (o[0] == '-') {
			usage(stderr);
			free(h.pg_dir);
			return 2;
		} else {
			files = rb_realloc(files, (n_files + 2) * sizeof *files);
			files[n_files++] = rb_strdup(o);
			files[n_files] = NULL;
			given = true;
		}
	}
	if (!given) {
		free(files);
		files = list_scenarios(&n_files);
	}
	/* Keep the selected ones only. */
	for (i = 0; i < n_files; i++) {
		if (h.filter && !strstr(files[i], h.filter)) {
			free(files[i]);
			files[i] = NULL;
		} else {
			files[n_sel++] = files[i];
		}
	}
	n_files = n_sel;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_signal_cb;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	setvbuf(stdout, NULL, _IOLBF, 0);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	if (!getcwd(h.repo, sizeof h.repo))
		rb_strlcpy(h.repo, ".", sizeof h.repo);
	/* Orphans of the bot's backends (a stub's grandchild whose parent was
	 * killed) come to the harness rather than to PID 1, which in some
	 * containers never reaps them: a zombie would keep its process group
	 * alive for expect_no_process. The harness reaps them (kill_leftovers,
	 * expect_no_process). */
	if (prctl(PR_SET_CHILD_SUBREAPER, 1L, 0L, 0L, 0L))
		printf("harness: prctl(PR_SET_CHILD_SUBREAPER): %s\n", strerror(errno));

	/* Missing programs fail every scenario at once, with one clear reason. */
	for (i = 0; i < 2; i++) {
		bin = rb_asprintf("%s/%s", h.build, i ? "fake_slack" : "rollbot");
		if (access(bin, X_OK)) {
			printf("harness: %s: %s (build it first)\n", bin, strerror(errno));
			h.n_fail = (int)n_files;
			free(bin);
			goto done;
		}
		free(bin);
	}
	if (!h.pg_dir && n_files && !pg_start(&h)) {
		h.n_fail = (int)n_files;
		goto done;
	}
	for (i = 0; i < n_files; i++) {
		if (g_signals) {
			printf("harness: interrupted\n");
			break;
		}
		if (run_scenario(&h, files[i], (int)i + 1))
			h.n_pass++;
		else
			h.n_fail++;
	}
done:
	pg_stop(&h);
	curl_global_cleanup();
	for (i = 0; i < n_files; i++)
		free(files[i]);
	free(files);
	free(h.pg_dir);
	printf("harness: %d passed, %d failed\n", h.n_pass, h.n_fail);
	if (g_signals)
		return 130;
	return h.n_fail ? 1 : 0;
}
