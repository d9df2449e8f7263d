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
 * It also owns the executable plan (plan_build): the exact argv vectors and
 * HTTP requests each method means, in order, each marked ACTION or CHECK,
 * so the shell (bot/runner.c) can run them one by one with execve and a
 * timeout, never through a shell. Values reach an argv element whole: an
 * element is never joined with another or split (script `args` excepted,
 * which the operator wrote as words). Every value is validated again here,
 * even though the config loader and the parser already did: this is the
 * last code before execve, and a rule enforced in one place only is one
 * refactoring away from being lost. The checks (plan_check.c) are per
 * kind of value (Kubernetes name, label, image, URL, path, JSON) and never
 * echo the value into the message, which may end up in Slack or a log.
 *
 * When no --to is given, the target is resolved first (plan_resolve_step
 * lists the history; plan_parse_* in plan_history.c read it), recorded, and
 * passed to plan_build explicitly, so a retry does the same thing as the
 * first try. plan_show.c writes plans for people and digests them; what the
 * plan's files share is in plan_int.h.
 *
 * Pure: no I/O, no clock, no globals. The method table is constant; plans
 * are allocated for the caller and freed with plan_free. jansson is used as
 * a data library only (building and reading JSON text).
 */
#include "plan.h"

#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan_int.h"
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

/* ---- building ---------------------------------------------------------- */

#define MAX_STEPS      5 /* the longest method (3) + its check + the database step */
/* A step whose command has a --timeout of its own (rollout status, helm
 * --wait) is killed this much later than that timeout, so the command's own
 * message ("timed out waiting for the condition") is what people read, not
 * a bare "killed". */
#define STEP_GRACE_MS 10000

/* A growing, always NULL-terminated argv whose elements it owns. */
struct argv_b {
	char **v;
	size_t n;
	size_t cap;
};

static void av_take(struct argv_b *a, char *owned)
{
	if (a->n + 2 > a->cap) {
		a->cap = a->cap ? a->cap * 2 : 16;
		a->v = rb_realloc(a->v, a->cap * sizeof *a->v);
	}
	a->v[a->n++] = owned;
	a->v[a->n] = NULL;
}

static void av_push(struct argv_b *a, const char *s)
{
	av_take(a, rb_strdup(s));
}

static void av_pushf(struct argv_b *a, const char *fmt, ...) RB_PRINTF(2, 3);

static void av_pushf(struct argv_b *a, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	av_take(a, rb_vasprintf(fmt, ap));
	va_end(ap);
}

static void strv_free(char **v)
{
	if (!v)
		return;
	for (size_t i = 0; v[i]; i++)
		free(v[i]);
	free(v);
}

static void step_clear(struct plan_step *s)
{
	free(s->title);
	strv_free(s->exec.argv);
	strv_free(s->exec.env);
	free(s->http.url);
	free(s->http.body);
	memset(s, 0, sizeof *s);
}

/* Frees a plan and everything in it. NULL is fine. */
void plan_free(struct plan *p)
{
	if (!p)
		return;
	for (size_t i = 0; i < p->n_steps; i++)
		step_clear(&p->steps[i]);
	free(p->steps);
	free(p);
}

/* Frees a resolution step. NULL is fine. */
void plan_step_free(struct plan_step *s)
{
	if (!s)
		return;
	step_clear(s);
	free(s);
}

/* Fills *s as an EXEC step that takes a's vector (a is emptied). */
static void set_exec(struct plan_step *s, enum plan_role role, int64_t timeout_ms, struct argv_b *a,
		     char *title)
{
	memset(s, 0, sizeof *s);
	s->kind = PLAN_STEP_EXEC;
	s->role = role;
	s->timeout_ms = timeout_ms;
	s->title = title;
	s->exec.argv = a->v;
	s->exec.argc = a->n;
	a->v = NULL;
	a->n = a->cap = 0;
}

static struct plan_step *next_step(struct plan *p)
{
	RB_ASSERT(p->n_steps < MAX_STEPS);
	return &p->steps[p->n_steps++];
}

static void add_exec(struct plan *p, enum plan_role role, int64_t timeout_ms, struct argv_b *a,
		     char *title)
{
	set_exec(next_step(p), role, timeout_ms, a, title);
}

static void add_http(struct plan *p, enum plan_role role, int64_t timeout_ms, const char *method,
		     char *url, char *body, const int *expect, size_t n_expect, char *title)
{
	struct plan_step *s = next_step(p);

	RB_ASSERT(n_expect >= 1 && n_expect <= PLAN_HTTP_EXPECT_MAX);
	memset(s, 0, sizeof *s);
	s->kind = PLAN_STEP_HTTP;
	s->role = role;
	s->timeout_ms = timeout_ms;
	s->title = title;
	s->http.method = method;
	s->http.url = url;
	s->http.body = body;
	memcpy(s->http.expect, expect, n_expect * sizeof *expect);
	s->http.n_expect = n_expect;
}

/* Whole seconds for a CLI's --timeout, rounded up (never 0s, which
 * kubectl reads as "wait forever"). */
static long long secs(int64_t ms)
{
	return (long long)((ms + 999) / 1000);
}

/* "kubectl" and, for a service in another cluster, --context=CTX right
 * after it: a global flag, so it goes before the subcommand where no
 * subcommand's own argument parsing can take it for something else. */
static void kubectl_begin(struct argv_b *a, const struct plan_input *in)
{
	const char *ctx = plan_input_param(in, "context");

	av_push(a, "kubectl");
	if (ctx)
		av_pushf(a, "--context=%s", ctx);
}

/* Helm's flag for the same thing is --kube-context (Helm has no
 * --context); it is a global flag too. */
static void helm_begin(struct argv_b *a, const struct plan_input *in)
{
	const char *ctx = plan_input_param(in, "context");

	av_push(a, "helm");
	if (ctx)
		av_pushf(a, "--kube-context=%s", ctx);
}

/* kubectl rollout status deployment/D -n NS --timeout=Ns, the CHECK shared
 * by kubectl, canary and recreate. */
static void add_rollout_status(struct plan *p, const struct plan_input *in, const char *deploy,
			       const char *ns, char *title)
{
	struct argv_b a = { 0 };

	kubectl_begin(&a, in);
	av_push(&a, "rollout");
	av_push(&a, "status");
	av_pushf(&a, "deployment/%s", deploy);
	av_push(&a, "-n");
	av_push(&a, ns);
	av_pushf(&a, "--timeout=%llds", secs(in->timeout_ms));
	add_exec(p, PLAN_ROLE_CHECK, in->timeout_ms + STEP_GRACE_MS, &a, title);
}

/* The kubectl method (seeds/003 "Rollback to Specific Revision"). */
static void build_kubectl(struct plan *p, const struct plan_input *in)
{
	const char *ns = plan_input_param(in, "namespace");
	const char *d = plan_input_param(in, "deployment");
	struct argv_b a = { 0 };

	kubectl_begin(&a, in);
	av_push(&a, "rollout");
	av_push(&a, "undo");
	av_pushf(&a, "deployment/%s", d);
	av_push(&a, "-n");
	av_push(&a, ns);
	av_pushf(&a, "--to-revision=%s", in->target);
	add_exec(p, PLAN_ROLE_ACTION, in->timeout_ms, &a,
		 rb_asprintf("Roll deployment/%s in %s back to revision %s", d, ns, in->target));
	add_rollout_status(p, in, d, ns,
			   rb_asprintf("Wait for deployment/%s to finish rolling out", d));
}

/* The helm method (seeds/003 "Helm Rollback"). --wait makes the rollback
 * itself wait for the resources to be ready, with our timeout. */
static void build_helm(struct plan *p, const struct plan_input *in)
{
	const char *ns = plan_input_param(in, "namespace");
	const char *r = plan_input_param(in, "release");
	struct argv_b a = { 0 };

	helm_begin(&a, in);
	av_push(&a, "rollback");
	av_push(&a, r);
	av_push(&a, in->target);
	av_push(&a, "-n");
	av_push(&a, ns);
	av_push(&a, "--wait");
	av_push(&a, "--timeout");
	av_pushf(&a, "%llds", secs(in->timeout_ms));
	add_exec(p, PLAN_ROLE_ACTION, in->timeout_ms + STEP_GRACE_MS, &a,
		 rb_asprintf("Roll Helm release %s in %s back to revision %s", r, ns, in->target));

	helm_begin(&a, in);
	av_push(&a, "status");
	av_push(&a, r);
	av_push(&a, "-n");
	av_push(&a, ns);
	add_exec(p, PLAN_ROLE_CHECK, in->timeout_ms, &a,
		 rb_asprintf("Check the status of Helm release %s", r));
}

/* The selector key as a kubectl JSONPath field: '.' separates fields
 * there, so the dots of a prefixed key (app.kubernetes.io/version) are
 * escaped with a backslash, which kubectl's JSONPath reads as a literal
 * dot. Label keys hold no other character JSONPath treats specially. */
static char *jsonpath_selector(const char *key)
{
	struct rb_buf b;
	int rc;

	rb_buf_init(&b, 1024);
	rc = rb_buf_puts(&b, "jsonpath={.spec.selector.");
	for (const char *k = key; rc == 0 && *k; k++)
		rc = *k == '.' ? rb_buf_puts(&b, "\\.") : rb_buf_append(&b, k, 1);
	if (rc == 0)
		rc = rb_buf_puts(&b, "}");
	RB_ASSERT(rc == 0);
	return rb_buf_steal(&b);
}

/* Dumps j (compact, keys in insertion order) and drops the reference. */
static char *json_take_dump(json_t *j)
{
	char *s;

	RB_ASSERT(j);
	s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
	json_decref(j);
	RB_ASSERT(s);
	return s;
}

/* The bluegreen method (seeds/000 option A, seeds/003 "Blue-Green
 * Rollback"). The patch is built by jansson, so the key and colour are
 * JSON-escaped whatever they hold, and passed as one argv element. */
static void build_bluegreen(struct plan *p, const struct plan_input *in)
{
	const char *ns = plan_input_param(in, "namespace");
	const char *svc = plan_input_param(in, "service");
	const char *key = plan_input_param(in, "selector_key");
	const char *colour = plan_input_param(in, "colour");
	struct argv_b a = { 0 };

	if (!key)
		key = "version";
	if (!colour)
		colour = "blue";
	kubectl_begin(&a, in);
	av_push(&a, "patch");
	av_push(&a, "service");
	av_push(&a, svc);
	av_push(&a, "-n");
	av_push(&a, ns);
	av_push(&a, "-p");
	av_take(&a, json_take_dump(json_pack("{s:{s:{s:s}}}", "spec", "selector", key, colour)));
	add_exec(p, PLAN_ROLE_ACTION, in->timeout_ms, &a,
		 rb_asprintf("Point service %s in %s at %s=%s", svc, ns, key, colour));

	kubectl_begin(&a, in);
	av_push(&a, "get");
	av_push(&a, "service");
	av_push(&a, svc);
	av_push(&a, "-n");
	av_push(&a, ns);
	av_push(&a, "-o");
	av_take(&a, jsonpath_selector(key));
	add_exec(p, PLAN_ROLE_CHECK, in->timeout_ms, &a,
		 rb_asprintf("Read the %s selector of service %s", key, svc));
}

/* Percent-encodes s for one URL path segment: everything but RFC 3986's
 * unreserved characters, so a '/' in a flag name stays inside the
 * segment. */
static void url_segment(struct rb_buf *b, const char *s)
{
	static const char hex[] = "0123456789ABCDEF";
	int rc = 0;

	for (; rc == 0 && *s; s++) {
		unsigned char ch = (unsigned char)*s;
		if (plan_is_alnum((char)ch) || plan_in_set((char)ch, "-._~")) {
			rc = rb_buf_append(b, s, 1);
		} else {
			char e[3] = { '%', hex[ch >> 4], hex[ch & 15] };
			rc = rb_buf_append(b, e, 3);
		}
	}
	RB_ASSERT(rc == 0);
}

/* The flag method (seeds/000 option B): POST the flag off to the flag
 * service, then GET it back. 204 is success too: many admin APIs answer a
 * write with no content. */
static void build_flag(struct plan *p, const struct plan_input *in)
{
	static const int post_ok[] = { 200, 204 };
	static const int get_ok[] = { 200 };
	const char *url = plan_input_param(in, "url");
	const char *flag = plan_input_param(in, "flag");
	size_t n = strlen(url);
	struct rb_buf b;
	int rc;

	add_http(p, PLAN_ROLE_ACTION, in->timeout_ms, "POST", rb_strdup(url),
		 json_take_dump(
			 json_pack("{s:s,s:b,s:i}", "flag", flag, "enabled", 0, "percentage", 0)),
		 post_ok, RB_ARRAY_LEN(post_ok), rb_asprintf("Turn flag %s off (0%%)", flag));

	rb_buf_init(&b, MAX_URL_LEN * 4);
	rc = rb_buf_append(&b, url, n);
	if (rc == 0 && url[n - 1] != '/')
		rc = rb_buf_puts(&b, "/");
	RB_ASSERT(rc == 0);
	url_segment(&b, flag);
	add_http(p, PLAN_ROLE_CHECK, in->timeout_ms, "GET", rb_buf_steal(&b), NULL, get_ok,
		 RB_ARRAY_LEN(get_ok), rb_asprintf("Read flag %s back", flag));
}

/* The canary method (seeds/000 option D, seeds/003 "Canary Rollback"):
 * route 0% to the canary, then scale it to 0. A patch that is a JSON array
 * is an RFC 6902 JSON patch (seeds/003 uses --type=json with one); an
 * object is a merge patch (--type=merge): kubectl refuses either under the
 * other's type, so the type follows the patch's shape. */
static void build_canary(struct plan *p, const struct plan_input *in)
{
	const char *ns = plan_input_param(in, "namespace");
	const char *c = plan_input_param(in, "canary_deployment");
	const char *manifest = plan_input_param(in, "manifest");
	const char *patch = plan_input_param(in, "patch");
	struct argv_b a = { 0 };

	if (manifest) {
		kubectl_begin(&a, in);
		av_push(&a, "apply");
		av_push(&a, "-f");
		av_push(&a, manifest);
		av_push(&a, "-n");
		av_push(&a, ns);
		add_exec(p, PLAN_ROLE_ACTION, in->timeout_ms, &a,
			 rb_asprintf("Route 0%% of traffic to the canary (apply %s)", manifest));
	} else if (patch) {
		const char *ing = plan_input_param(in, "ingress");
		bool array = patch[strspn(patch, " \t\r\n")] == '[';

		kubectl_begin(&a, in);
		av_push(&a, "patch");
		av_push(&a, "ingress");
		av_push(&a, ing);
		av_push(&a, "-n");
		av_push(&a, ns);
		av_push(&a, array ? "--type=json" : "--type=merge");
		av_push(&a, "-p");
		av_push(&a, patch);
		add_exec(p, PLAN_ROLE_ACTION, in->timeout_ms, &a,
			 rb_asprintf("Route 0%% of traffic to the canary (patch ingress %s)", ing));
	}
	kubectl_begin(&a, in);
	av_push(&a, "scale");
	av_pushf(&a, "deployment/%s", c);
	av_push(&a, "-n");
	av_push(&a, ns);
	av_push(&a, "--replicas=0");
	add_exec(p, PLAN_ROLE_ACTION, in->timeout_ms, &a,
		 rb_asprintf("Scale the canary deployment/%s in %s to 0", c, ns));
	add_rollout_status(p, in, c, ns,
			   rb_asprintf("Wait for deployment/%s to settle at 0 replicas", c));
}

/* The recreate method (seeds/000 option E): scale to 0, apply the
 * previous manifest, wait for the rollout. */
static void build_recreate(struct plan *p, const struct plan_input *in)
{
	const char *ns = plan_input_param(in, "namespace");
	const char *d = plan_input_param(in, "deployment");
	const char *manifest = plan_input_param(in, "manifest");
	struct argv_b a = { 0 };

	kubectl_begin(&a, in);
	av_push(&a, "scale");
	av_pushf(&a, "deployment/%s", d);
	av_push(&a, "-n");
	av_push(&a, ns);
	av_push(&a, "--replicas=0");
	add_exec(p, PLAN_ROLE_ACTION, in->timeout_ms, &a,
		 rb_asprintf("Scale deployment/%s in %s to 0", d, ns));

	kubectl_begin(&a, in);
	av_push(&a, "apply");
	av_push(&a, "-f");
	av_push(&a, manifest);
	av_push(&a, "-n");
	av_push(&a, ns);
	add_exec(p, PLAN_ROLE_ACTION, in->timeout_ms, &a,
		 rb_asprintf("Apply the previous manifest %s", manifest));
	add_rollout_status(p, in, d, ns,
			   rb_asprintf("Wait for deployment/%s to finish rolling out", d));
}

/* The docker method (seeds/002): with a target, the image at that tag;
 * without, Swarm's own --rollback to the previous service spec (which
 * needs no resolution: Swarm keeps exactly one previous spec). */
static void build_docker(struct plan *p, const struct plan_input *in)
{
	const char *svc = plan_input_param(in, "service");
	const char *image = plan_input_param(in, "image");
	struct argv_b a = { 0 };

	av_push(&a, "docker");
	av_push(&a, "service");
	av_push(&a, "update");
	if (in->target[0]) {
		RB_ASSERT(image); /* plan_check_input */
		av_push(&a, "--image");
		av_pushf(&a, "%s:%s", image, in->target);
		av_push(&a, svc);
		add_exec(p, PLAN_ROLE_ACTION, in->timeout_ms, &a,
			 rb_asprintf("Update service %s to %s:%s", svc, image, in->target));
	} else {
		av_push(&a, "--rollback");
		av_push(&a, svc);
		add_exec(p, PLAN_ROLE_ACTION, in->timeout_ms, &a,
			 rb_asprintf("Roll service %s back to its previous spec", svc));
	}
	av_push(&a, "docker");
	av_push(&a, "service");
	av_push(&a, "ps");
	av_push(&a, svc);
	av_push(&a, "--no-trunc");
	add_exec(p, PLAN_ROLE_CHECK, in->timeout_ms, &a,
		 rb_asprintf("List the tasks of service %s", svc));
}

/* aws lambda VERB --function-name F --name ALIAS, the common start. */
static void lambda_begin(struct argv_b *a, const struct plan_input *in, const char *verb)
{
	av_push(a, "aws");
	av_push(a, "lambda");
	av_push(a, verb);
	av_push(a, "--function-name");
	av_push(a, plan_input_param(in, "function"));
	av_push(a, "--name");
	av_push(a, plan_input_param(in, "alias"));
}

static void lambda_region(struct argv_b *a, const struct plan_input *in)
{
	const char *region = plan_input_param(in, "region");

	if (region) {
		av_push(a, "--region");
		av_push(a, region);
	}
}

/* The lambda method (seeds/003 "Lambda Function Rollback"). */
static void build_lambda(struct plan *p, const struct plan_input *in)
{
	const char *f = plan_input_param(in, "function");
	const char *alias = plan_input_param(in, "alias");
	struct argv_b a = { 0 };

	lambda_begin(&a, in, "update-alias");
	av_push(&a, "--function-version");
	av_push(&a, in->target);
	lambda_region(&a, in);
	add_exec(p, PLAN_ROLE_ACTION, in->timeout_ms, &a,
		 rb_asprintf("Point alias %s of %s at version %s", alias, f, in->target));

	lambda_begin(&a, in, "get-alias");
	lambda_region(&a, in);
	add_exec(p, PLAN_ROLE_CHECK, in->timeout_ms, &a,
		 rb_asprintf("Read alias %s of %s back", alias, f));
}

/* The script method: the operator's executable, its configured words, and
 * the target last when there is one; the incident as ROLLBOT_* variables.
 * Values in the environment are data to the script, never code: it must
 * not eval them. */
static void build_script(struct plan *p, const struct plan_input *in)
{
	const char *path = plan_input_param(in, "path");
	const char *args = plan_input_param(in, "args");
	struct argv_b a = { 0 };
	struct argv_b e = { 0 };
	struct plan_step *s;

	av_push(&a, path);
	if (args) {
		const char *w = args;
		while (*w) {
			size_t n;
			w += strspn(w, " ");
			n = strcspn(w, " ");
			if (n)
				av_take(&a, rb_strndup(w, n));
			w += n;
		}
	}
	if (in->target[0])
		av_push(&a, in->target);

	av_pushf(&e, "ROLLBOT_INCIDENT=%s", plan_or_empty(in->incident_id));
	av_pushf(&e, "ROLLBOT_SERVICE=%s", in->service);
	av_pushf(&e, "ROLLBOT_TARGET=%s", in->target);
	av_pushf(&e, "ROLLBOT_SEVERITY=%s", plan_or_empty(in->severity));
	av_pushf(&e, "ROLLBOT_REASON=%s", plan_or_empty(in->reason));
	av_pushf(&e, "ROLLBOT_REQUESTED_BY=%s", plan_or_empty(in->requested_by));

	s = next_step(p);
	set_exec(s, PLAN_ROLE_ACTION, in->timeout_ms, &a,
		 rb_asprintf("Run the rollback script %s", path));
	s->exec.env = e.v;
	s->exec.n_env = e.n;
}

static void (*const builders[PLAN_METHOD_COUNT])(struct plan *, const struct plan_input *) = {
	[PLAN_KUBECTL] = build_kubectl,	    [PLAN_HELM] = build_helm,
	[PLAN_BLUEGREEN] = build_bluegreen, [PLAN_FLAG] = build_flag,
	[PLAN_CANARY] = build_canary,	    [PLAN_RECREATE] = build_recreate,
	[PLAN_DOCKER] = build_docker,	    [PLAN_LAMBDA] = build_lambda,
	[PLAN_SCRIPT] = build_script,
};

/* Builds the plan of in->method; see plan.h. Every input is checked first
 * (plan_check_input), so the builders above can trust what they read. */
int plan_build(const struct plan_input *in, struct plan **out, char *err, size_t errlen)
{
	struct plan_input v;
	struct plan *p;
	int rc;

	*out = NULL;
	rc = plan_check_input(in, true, err, errlen);
	if (rc < 0)
		return rc;
	v = *in;
	v.target = plan_or_empty(in->target);

	p = rb_calloc(1, sizeof *p);
	p->method = in->method;
	p->steps = rb_calloc(MAX_STEPS, sizeof *p->steps);
	/* plan_check_input refused any method outside the table. */
	builders[in->method](p, &v);
	if (in->db_argv) {
		/* Runbook 000 §3.2: only when asked for, after the application
		 * rollback; argv[0] an absolute path, nothing through a shell. */
		struct argv_b a = { 0 };
		size_t n = 0;

		for (; in->db_argv[n]; n++)
			if (n >= 32 || (n == 0 ? !plan_path_ok(in->db_argv[0]) : !plan_text_ok(in->db_argv[n]))) {
				plan_free(p);
				return plan_fail(err, errlen, PLAN_EINVAL,
					    "the db_rollback command must be an absolute path followed by "
					    "at most 31 arguments without control characters");
			}
		if (!n || in->db_timeout_ms <= 0) {
			plan_free(p);
			return plan_fail(err, errlen, PLAN_EINVAL, "the db_rollback command is empty");
		}
		for (size_t i = 0; i < n; i++)
			av_push(&a, in->db_argv[i]);
		set_exec(next_step(p), PLAN_ROLE_ACTION, in->db_timeout_ms, &a,
			 rb_strdup("Roll the database back (the service's down-migration)"));
	}
	*out = p;
	return 0;
}

/* Builds the step that lists what the target is resolved from; see
 * plan.h. Only the REVISION methods have one: docker's --rollback goes to
 * Swarm's previous spec by itself, a script chooses its own version, and
 * the NONE methods have a single destination. */
int plan_resolve_step(const struct plan_input *in, struct plan_step **out, char *err, size_t errlen)
{
	struct argv_b a = { 0 };
	struct plan_step *s;
	char *title;
	int rc;

	*out = NULL;
	rc = plan_check_input(in, false, err, errlen);
	if (rc < 0)
		return rc;
	switch (in->method) {
	case PLAN_KUBECTL:
		kubectl_begin(&a, in);
		av_push(&a, "rollout");
		av_push(&a, "history");
		av_pushf(&a, "deployment/%s", plan_input_param(in, "deployment"));
		av_push(&a, "-n");
		av_push(&a, plan_input_param(in, "namespace"));
		title = rb_asprintf("List the rollout history of deployment/%s",
				    plan_input_param(in, "deployment"));
		break;
	case PLAN_HELM:
		helm_begin(&a, in);
		av_push(&a, "history");
		av_push(&a, plan_input_param(in, "release"));
		av_push(&a, "-n");
		av_push(&a, plan_input_param(in, "namespace"));
		av_push(&a, "-o");
		av_push(&a, "json");
		title = rb_asprintf("List the history of Helm release %s", plan_input_param(in, "release"));
		break;
	case PLAN_LAMBDA:
		lambda_begin(&a, in, "get-alias");
		av_push(&a, "--output");
		av_push(&a, "json");
		lambda_region(&a, in);
		title = rb_asprintf("Read which version alias %s of %s points at",
				    plan_input_param(in, "alias"), plan_input_param(in, "function"));
		break;
	default:
		return 0;
	}
	s = rb_calloc(1, sizeof *s);
	set_exec(s, PLAN_ROLE_CHECK, in->timeout_ms, &a, title);
	*out = s;
	return 0;
}
