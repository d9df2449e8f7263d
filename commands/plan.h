/* rollbot — rollback methods and what each one means (MIT licence).
 *
 * The table of methods from the runbooks (DESIGN.md "Rollback methods"):
 * the configuration keys each needs, the kind of target `--to` takes, and
 * the ETA the announcement quotes; and the executable plan of a rollback:
 * the ordered commands (argv) and HTTP requests a method means, the step
 * that finds the target when no --to was given, and the parsers of that
 * step's output. Pure: no I/O, no clock, no globals.
 */
#ifndef PLAN_H
#define PLAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rb.h"

enum plan_method {
	PLAN_KUBECTL,
	PLAN_HELM,
	PLAN_BLUEGREEN,
	PLAN_FLAG,
	PLAN_CANARY,
	PLAN_RECREATE,
	PLAN_DOCKER,
	PLAN_LAMBDA,
	PLAN_SCRIPT,
	PLAN_METHOD_COUNT
};

/* What `--to` accepts for a method. */
enum plan_target {
	PLAN_TARGET_NONE,     /* no --to: the method has one fixed destination (blue, flag off) */
	PLAN_TARGET_REVISION, /* digits only: kubectl/helm revision, lambda version */
	PLAN_TARGET_VERSION,  /* a tight version/tag pattern: docker image tag, script */
};

struct plan_method_info {
	const char *name;          /* as written in the config: "kubectl" */
	const char *title;         /* for people: "Kubernetes rolling rollback" */
	enum plan_target target;   /* what --to accepts */
	const char *eta;           /* from the runbooks: "10-20 minutes" */
	const char *default_target; /* what a rollback without --to goes to, for people */
	const char *const *required; /* NULL-terminated config keys the method needs */
	const char *const *optional; /* NULL-terminated config keys it may take */
};

/* Returns the method's row; m must be a valid enum value. */
const struct plan_method_info *plan_method_info(enum plan_method m);

/* Looks a method up by its config name. Returns 0 and sets *out, or
 * RB_EINVAL when the name is not a method. */
int plan_method_from_name(const char *name, enum plan_method *out);

/* True when `s` is a valid target of kind `t` (a revision is 1-9 digits, no
 * leading zero; a version matches [A-Za-z0-9][A-Za-z0-9._-]{0,63} with no
 * ".." and no leading '-'). */
bool plan_target_valid(enum plan_target t, const char *s);

/* ---- executable plans --------------------------------------------------- */

enum {
	PLAN_EINVAL = -80,    /* an input cannot go into a command (hostile or malformed) */
	PLAN_EPARSE = -81,    /* a history or alias output is not what the CLI prints */
	PLAN_ENOTARGET = -82, /* the output is understood but names no safe target */
};

/* "invalid plan input", …; a constant string for any code (rb ones too). */
const char *plan_strerror(int code);

/* One method parameter from the service's config block (key = value). */
struct plan_param {
	const char *key;
	const char *value;
};

/* What a plan is built from. Everything is borrowed for the call only and
 * copied into the plan; nothing is kept. */
struct plan_input {
	const char *service; /* the service's name in the config */
	enum plan_method method;
	const struct plan_param *params; /* the method's keys (plan_method_info) */
	size_t n_params;
	const char *target; /* explicit, already resolved: digits for REVISION
			     * methods, a version/tag for VERSION methods, ""
			     * for none. NULL counts as "". */
	int64_t timeout_ms; /* each command's timeout, 1 ms .. 7 days */
	/* The incident, for the script method's environment only; NULL = "". */
	const char *incident_id;
	const char *severity;
	const char *reason;
	const char *requested_by;
	/* --with-db: the service's database down-migration, run after the
	 * method's own steps (NULL-terminated argv, NULL = none), and its
	 * timeout. */
	const char *const *db_argv;
	int64_t db_timeout_ms;
};

enum plan_step_kind {
	PLAN_STEP_EXEC, /* run argv with execve (no shell), PATH lookup for argv[0] */
	PLAN_STEP_HTTP, /* one HTTP request */
};

enum plan_role {
	PLAN_ROLE_ACTION, /* changes something: run once, never retried blindly */
	PLAN_ROLE_CHECK,  /* only reads: safe to run again (verification reuses it) */
};

#define PLAN_HTTP_EXPECT_MAX 4

struct plan_exec {
	char **argv; /* argc elements + NULL; each element is passed as is */
	size_t argc;
	char **env; /* n_env "KEY=VALUE" strings + NULL, added to the runner's own
		     * environment; NULL when the step needs none */
	size_t n_env;
};

struct plan_http {
	const char *method; /* "GET" or "POST" (static string) */
	char *url;
	char *body; /* JSON, sent as Content-Type: application/json; NULL = none */
	int expect[PLAN_HTTP_EXPECT_MAX]; /* statuses that mean success */
	size_t n_expect;
};

/* One step. Only the member named by `kind` is filled in; the other is
 * zero. */
struct plan_step {
	enum plan_step_kind kind;
	enum plan_role role;
	char *title;	    /* for people: "Roll deployment/x back to revision 41" */
	int64_t timeout_ms; /* kill the step (its process group) after this */
	struct plan_exec exec;
	struct plan_http http;
};

/* An ordered list of steps: run them in order, stop at the first failure.
 * Fields are read-only outside plan.c: approvals are bound to plan_digest,
 * so a plan is never edited after it is built. */
struct plan {
	enum plan_method method;
	struct plan_step *steps;
	size_t n_steps;
};

/* Builds the plan of in->method for in. Every value that reaches an argv,
 * URL or body is validated again here (defence in depth behind the config
 * loader and the parser). Returns 0 and a new plan in *out (free with
 * plan_free), or PLAN_EINVAL with a one-line message in err (RB_ERR_LEN is
 * enough) and *out NULL. */
int plan_build(const struct plan_input *in, struct plan **out, char *err,
	       size_t errlen) RB_MUSTCHECK;

/* Frees a plan from plan_build; NULL is fine. */
void plan_free(struct plan *p);

/* The step that lists the history the target is resolved from, for a
 * rollback without --to (in->target is ignored): kubectl rollout history,
 * helm history -o json, aws lambda get-alias --output json. Returns 0 and a
 * new step in *out (free with plan_step_free), 0 and *out NULL when the
 * method needs no resolution (docker --rollback, and every method whose
 * target kind is NONE or VERSION), or PLAN_EINVAL with err. Feed the step's
 * stdout to plan_parse_resolve. */
int plan_resolve_step(const struct plan_input *in, struct plan_step **out, char *err,
		      size_t errlen) RB_MUSTCHECK;

/* Frees a step from plan_resolve_step; NULL is fine. */
void plan_step_free(struct plan_step *s);

/* The parsers of the resolution step's output. Each reads `out` (the
 * command's stdout, NUL-terminated), writes the target (digits) into
 * target[len] and returns 0; or returns PLAN_EPARSE (not the CLI's output),
 * PLAN_ENOTARGET (understood, but nothing safe to go back to) or
 * RB_ETOOBIG (target buffer too small), with a message in err. */
int plan_parse_kubectl_history(const char *out, char *target, size_t len, char *err,
			       size_t errlen) RB_MUSTCHECK;
int plan_parse_helm_history(const char *out, char *target, size_t len, char *err,
			    size_t errlen) RB_MUSTCHECK;
int plan_parse_lambda_alias(const char *out, char *target, size_t len, char *err,
			    size_t errlen) RB_MUSTCHECK;
/* The one of the three that goes with method m; PLAN_EINVAL for a method
 * that has no resolution step. */
int plan_parse_resolve(enum plan_method m, const char *out, char *target, size_t len, char *err,
		       size_t errlen) RB_MUSTCHECK;

/* The revision running before the rollback, from the same output
 * (plan_current.c): kubectl's newest revision, helm's "deployed" one (and
 * its "updated" time in `at`, "" when absent), lambda's alias version.
 * Returns 0, or PLAN_EPARSE / PLAN_EINVAL with from and at "". */
int plan_parse_current(enum plan_method m, const char *out, char *from, size_t len, char *at,
		       size_t atlen);

/* The plan for people (Slack): one line per step, "1. `kubectl rollout undo
 * deployment/x -n ns --to-revision=41`", HTTP steps as "2. POST URL BODY".
 * Arguments that a shell would read specially are single-quoted, so the
 * line can be pasted into a terminal, but it is never executed: the steps
 * are. Not Slack-escaped (the renderer does & < >). Returns a new string
 * (free with free()). */
char *plan_describe(const struct plan *p);

/* One step the same way, without the number and backticks: the command
 * line for the audit log. Returns a new string (free with free()). */
char *plan_step_display(const struct plan_step *s);

/* FNV-1a 64 of a canonical, length-prefixed serialisation of every field of
 * every step (kind, role, title, timeout, argv, env, HTTP method, URL, body,
 * expected statuses): any change to what would run changes it. Approvals
 * are bound to this value. */
uint64_t plan_digest(const struct plan *p);
uint64_t plan_step_digest(const struct plan_step *s);

#endif
