/* rollbot — rollback methods and what each one means (MIT licence, see LICENSE).
 *
 * This file owns the method table: for each way of rolling back that the
 * runbooks describe (seeds/000 options A-E, seeds/003 Helm and Lambda,
 * seeds/002 Docker) it says which configuration keys the method needs and
 * may take, what `--to` accepts, the ETA the announcement quotes, and where
 * a rollback without `--to` goes, in words for people. The config loader
 * checks service blocks against it, the parser validates `--to` with
 * plan_target_valid, and the templates quote the ETA and destination.
 *
 * Pure: no I/O, no allocation; the table is constant.
 */
#include "plan.h"

#include <stddef.h>
#include <string.h>

#include "rb.h"

/* `context` (the kubeconfig context, or Helm's --kube-context) is optional for
 * every method that talks to a Kubernetes cluster, so one bot can serve
 * several clusters. */
static const char *const kubectl_req[] = { "namespace", "deployment", NULL };
static const char *const kubectl_opt[] = { "container", "context", NULL };
static const char *const helm_req[] = { "namespace", "release", NULL };
static const char *const helm_opt[] = { "context", NULL };
static const char *const bluegreen_req[] = { "namespace", "service", NULL };
static const char *const bluegreen_opt[] = { "selector_key", "colour", "context", NULL };
static const char *const flag_req[] = { "url", "flag", NULL };
static const char *const flag_opt[] = { NULL };
/* `ingress` names the object `patch` applies to, as in seeds/003 "Canary
 * Rollback": kubectl patch ingress NAME --type=json -p '[…]'. */
static const char *const canary_req[] = { "namespace", "canary_deployment", NULL };
static const char *const canary_opt[] = { "manifest", "patch", "ingress", "context", NULL };
static const char *const recreate_req[] = { "namespace", "deployment", "manifest", NULL };
static const char *const recreate_opt[] = { "context", NULL };
static const char *const docker_req[] = { "service", NULL };
static const char *const docker_opt[] = { "image", NULL };
static const char *const lambda_req[] = { "function", "alias", NULL };
static const char *const lambda_opt[] = { "region", NULL };
static const char *const script_req[] = { "path", NULL };
static const char *const script_opt[] = { "args", NULL };

/* Indexed by enum plan_method. ETAs are the runbooks' "Rollback Time" where
 * they give one (seeds/000); Helm is a rolling update like kubectl; Docker
 * Swarm's --rollback replaces tasks one by one; a Lambda alias switch is
 * immediate but the CLI round trip and verification take a minute. The
 * `default_target` phrases read after "goes back to". */
static const struct plan_method_info methods[PLAN_METHOD_COUNT] = {
	[PLAN_KUBECTL] = { "kubectl", "Kubernetes rolling rollback", PLAN_TARGET_REVISION,
			   "10-20 minutes", "the previous revision", kubectl_req, kubectl_opt },
	[PLAN_HELM] = { "helm", "Helm rollback", PLAN_TARGET_REVISION, "10-20 minutes",
			"the previous release revision", helm_req, helm_opt },
	[PLAN_BLUEGREEN] = { "bluegreen", "Blue-green switch", PLAN_TARGET_NONE, "1-2 minutes",
			     "the blue environment", bluegreen_req, bluegreen_opt },
	[PLAN_FLAG] = { "flag", "Feature flag off", PLAN_TARGET_NONE, "30 seconds - 1 minute",
			"flag off (0%)", flag_req, flag_opt },
	[PLAN_CANARY] = { "canary", "Canary to 0%", PLAN_TARGET_NONE, "2-5 minutes",
			  "the stable version (0% canary traffic)", canary_req, canary_opt },
	[PLAN_RECREATE] = { "recreate", "Recreate rollback", PLAN_TARGET_NONE,
			    "5-15 minutes (includes downtime)",
			    "the previous manifest named in the configuration", recreate_req,
			    recreate_opt },
	[PLAN_DOCKER] = { "docker", "Docker service rollback", PLAN_TARGET_VERSION, "2-5 minutes",
			  "the previous service spec", docker_req, docker_opt },
	[PLAN_LAMBDA] = { "lambda", "Lambda alias switch", PLAN_TARGET_REVISION,
			  "30 seconds - 1 minute", "the previous published version", lambda_req,
			  lambda_opt },
	[PLAN_SCRIPT] = { "script", "Rollback script", PLAN_TARGET_VERSION, "set by the operator",
			  "the version the script chooses", script_req, script_opt },
};

/* Returns the constant row for method m. An out-of-range m is a caller bug
 * and aborts rather than reading past the table. */
const struct plan_method_info *plan_method_info(enum plan_method m)
{
	RB_ASSERT((unsigned)m < PLAN_METHOD_COUNT);
	return &methods[m];
}

/* Finds a method by its exact config name ("kubectl"). Returns 0 and sets
 * *out, or RB_EINVAL (with *out untouched) for an unknown or NULL name. */
int plan_method_from_name(const char *name, enum plan_method *out)
{
	if (!name)
		return RB_EINVAL;
	for (size_t i = 0; i < PLAN_METHOD_COUNT; i++) {
		if (!strcmp(name, methods[i].name)) {
			*out = (enum plan_method)i;
			return 0;
		}
	}
	return RB_EINVAL;
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_alnum(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

/* Tells whether `s` may be used as a target of kind t. A revision is 1-9
 * digits without a leading zero (fits an int, and "041" is never what
 * someone meant). A version is [A-Za-z0-9][A-Za-z0-9._-]{0,63} without "..":
 * safe as one argv element, as an image tag and in a file name. For
 * PLAN_TARGET_NONE only the empty string ("no target") is valid. NULL is
 * never valid. */
bool plan_target_valid(enum plan_target t, const char *s)
{
	size_t n;

	if (!s)
		return false;
	n = strlen(s);
	switch (t) {
	case PLAN_TARGET_NONE:
		return n == 0;
	case PLAN_TARGET_REVISION:
		if (n < 1 || n > 9 || s[0] == '0')
			return false;
		for (size_t i = 0; i < n; i++)
			if (!is_digit(s[i]))
				return false;
		return true;
	case PLAN_TARGET_VERSION:
		if (n < 1 || n > 64 || !is_alnum(s[0]))
			return false;
		for (size_t i = 0; i < n; i++)
			if (!is_alnum(s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
				return false;
		return strstr(s, "..") == NULL;
	}
	return false;
}
