/* rollbot — rollback methods and what each one means (MIT licence).
 *
 * The table of methods from the runbooks (DESIGN.md "Rollback methods"):
 * the configuration keys each needs, the kind of target `--to` takes, and
 * the ETA the announcement quotes. Issue 3 adds the argv plans here.
 * Pure: no I/O.
 */
#ifndef PLAN_H
#define PLAN_H

#include <stdbool.h>

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

#endif
