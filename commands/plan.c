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
 * refactoring away from being lost. The checks are per kind of value
 * (Kubernetes name, label, image, URL, path, JSON) and never echo the
 * value into the message, which may end up in Slack or a log.
 *
 * When no --to is given, the target is resolved first (plan_resolve_step
 * lists the history; plan_parse_* read it), recorded, and passed to
 * plan_build explicitly, so a retry does the same thing as the first try.
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

/* ---- errors ---------------------------------------------------------- */

/* Returns a constant description of a PLAN_E* code (or an RB_E* one). */
const char *plan_strerror(int code)
{
	switch (code) {
	case RB_OK:
		return "success";
	case RB_ENOMEM:
		return "out of memory";
	case RB_ETOOBIG:
		return "value too large";
	case RB_EINVAL:
		return "invalid argument";
	case PLAN_EINVAL:
		return "invalid plan input";
	case PLAN_EPARSE:
		return "command output not understood";
	case PLAN_ENOTARGET:
		return "no target to roll back to";
	}
	return "unknown error";
}

static int fail(char *err, size_t errlen, int code, const char *fmt, ...) RB_PRINTF(4, 5);

/* Writes the message (when the caller gave a buffer) and returns code. */
static int fail(char *err, size_t errlen, int code, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return code;
}

/* A short, printable copy of text we did not write (a config key, a status
 * from a CLI) for a message: anything but printable ASCII becomes '?', and
 * it is cut at 40 characters, so a message never carries a newline or an
 * escape sequence into a log line or a Slack post. */
static const char *clip(const char *s, char *buf, size_t size)
{
	size_t o = 0;

	RB_ASSERT(size >= 4);
	for (; *s && o + 1 < size; s++) {
		if (o == 40 || o + 4 >= size) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		buf[o++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
	}
	buf[o] = '\0';
	return buf;
}

/* ---- validation -------------------------------------------------------- */

#define MAX_TIMEOUT_MS (7LL * 24 * 3600 * 1000) /* as bot/config.c */
#define MAX_PARAMS     32
#define MAX_NAME_LEN   253 /* a DNS name */
#define MAX_URL_LEN    2048
#define MAX_PATH_LEN   1024
#define MAX_ARGS_LEN   1024
#define MAX_PATCH_LEN  8192
#define MAX_ID_LEN     64
#define MAX_REASON_LEN 2048 /* CMD_REASON_MAX (500 UTF-8 characters) and some */
#define MAX_STEPS      5 /* the longest method (3) + its check + the database step */
/* A step whose command has a --timeout of its own (rollout status, helm
 * --wait) is killed this much later than that timeout, so the command's own
 * message ("timed out waiting for the condition") is what people read, not
 * a bare "killed". */
#define STEP_GRACE_MS 10000

/* c is in set; '\0' never is (strchr would find the terminator). */
static bool in_set(char c, const char *set)
{
	return c != '\0' && strchr(set, c) != NULL;
}

static bool is_lower_alnum(char c)
{
	return is_digit(c) || (c >= 'a' && c <= 'z');
}

/* An RFC 1123 label as Kubernetes uses it: [a-z0-9]([-a-z0-9]*[a-z0-9])?,
 * at most 63 characters. Namespaces and container names are labels. */
static bool dns_label_ok(const char *s, size_t n)
{
	if (n < 1 || n > 63 || !is_lower_alnum(s[0]) || !is_lower_alnum(s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_lower_alnum(s[i]) && s[i] != '-')
			return false;
	return true;
}

/* An RFC 1123 subdomain: labels joined by '.', at most max characters.
 * Deployment, service and ingress names; Helm release names (max 53). */
static bool dns_subdomain_ok(const char *s, size_t n, size_t max)
{
	size_t start = 0;

	if (n < 1 || n > max)
		return false;
	for (size_t i = 0; i <= n; i++) {
		if (i == n || s[i] == '.') {
			if (!dns_label_ok(s + start, i - start))
				return false;
			start = i + 1;
		}
	}
	return true;
}

/* The name part of a label key, and a label value:
 * [A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?, at most 63 characters. (An empty
 * label value is valid in Kubernetes but never a colour.) */
static bool qualified_name_ok(const char *s, size_t n)
{
	if (n < 1 || n > 63 || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(s[i]) && !in_set(s[i], "-_."))
			return false;
	return true;
}

/* A label key: [prefix/]name, the prefix a DNS subdomain. */
static bool label_key_ok(const char *s)
{
	const char *slash = strchr(s, '/');

	if (!slash)
		return qualified_name_ok(s, strlen(s));
	return dns_subdomain_ok(s, (size_t)(slash - s), 253) &&
	       qualified_name_ok(slash + 1, strlen(slash + 1));
}

/* A plain name parameter (the one rule bot/config.c also applies, since it
 * validates every service by building its plan): it must start
 * with a letter or digit (so never an option, a path or "." / ".."), and
 * hold no "..". Kube contexts (arn:aws:eks:…:cluster/x, user@cluster),
 * Lambda function names and ARNs, aliases, regions, flag names, Docker
 * service names. */
static bool name_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > MAX_NAME_LEN || !is_alnum(s[0]) || strstr(s, ".."))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(s[i]) && !in_set(s[i], "._-/:@+,"))
			return false;
	return true;
}

/* An image repository, with an optional registry and port
 * (registry:5000/team/app), but no tag and no digest: the target is
 * appended as the tag, and a digest would pin the image whatever the tag. */
static bool image_ok(const char *s)
{
	size_t n = strlen(s);
	const char *last = strrchr(s, '/');

	if (n < 1 || n > MAX_NAME_LEN || !is_alnum(s[0]) || !is_alnum(s[n - 1]))
		return false;
	if (strstr(s, "..") || strstr(s, "//"))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(s[i]) && !in_set(s[i], "._-/:"))
			return false;
	return strchr(last ? last + 1 : s, ':') == NULL;
}

/* An http(s) URL with a host, no credentials (plan_describe shows it in
 * Slack) and only characters that need no quoting. With allow_query false
 * also no query or fragment: a path is appended to it. */
static bool url_ok(const char *s, bool allow_query)
{
	const char *host, *end;
	size_t n = strlen(s);

	if (n > MAX_URL_LEN)
		return false;
	if (!strncmp(s, "https://", 8))
		host = s + 8;
	else if (!strncmp(s, "http://", 7))
		host = s + 7;
	else
		return false;
	if (!*host || *host == '/' || *host == ':' || *host == '?' || *host == '#')
		return false;
	end = host + strcspn(host, "/?#");
	if (memchr(host, '@', (size_t)(end - host)))
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch <= 0x20 || ch >= 0x7f || in_set((char)ch, "\"'<>\\^`{|}"))
			return false;
	}
	return allow_query || !strpbrk(s, "?#");
}

/* An absolute path: safe characters, no "..". */
static bool path_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 2 || n > MAX_PATH_LEN || s[0] != '/' || strstr(s, ".."))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(s[i]) && !in_set(s[i], "._-/:@+,"))
			return false;
	return true;
}

/* Script arguments: words of safe characters
 * and '=', separated by spaces. A leading '-' is fine: they are the
 * script's own options, written by the operator. */
static bool args_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > MAX_ARGS_LEN || strspn(s, " ") == n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(s[i]) && !in_set(s[i], "._-/:@+,= "))
			return false;
	return true;
}

/* A JSON object or array (kubectl patch -p): parsed, duplicates refused,
 * but passed on byte for byte. Control characters other than JSON's
 * whitespace cannot survive the parse. */
static bool patch_ok(const char *s)
{
	size_t n = strlen(s);
	json_error_t jerr;
	json_t *j;
	bool ok;

	if (n < 2 || n > MAX_PATCH_LEN)
		return false;
	j = json_loadb(s, n, JSON_REJECT_DUPLICATES, &jerr);
	ok = j && (json_is_object(j) || json_is_array(j));
	json_decref(j);
	return ok;
}

/* The service's own name, as bot/config.c service_name_ok. */
static bool service_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > 63 || !is_lower_alnum(s[0]))
		return false;
	for (size_t i = 1; i < n; i++)
		if (!is_lower_alnum(s[i]) && !in_set(s[i], "._-"))
			return false;
	return true;
}

/* Incident id, severity, Slack user id: short and plain; "" is fine. */
static bool id_ok(const char *s)
{
	size_t n = strlen(s);

	if (n > MAX_ID_LEN)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!is_alnum(s[i]) && !in_set(s[i], "._-@"))
			return false;
	return true;
}

/* Free text for an environment variable: one line, no control bytes. */
static bool text_ok(const char *s)
{
	size_t n = strlen(s);

	if (n > MAX_REASON_LEN)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (ch < 0x20 || ch == 0x7f)
			return false;
	}
	return true;
}

enum vkind {
	V_NONE,
	V_DNS_LABEL,
	V_K8S_NAME,
	V_RELEASE,
	V_NAME,
	V_IMAGE,
	V_LABEL_KEY,
	V_LABEL_VALUE,
	V_URL,
	V_MANIFEST,
	V_PATH,
	V_ARGS,
	V_JSON,
};

/* Each kind's rule, for messages. */
static const char *const vkind_rule[] = {
	[V_NONE] = "a known parameter",
	[V_DNS_LABEL] = "a Kubernetes name: lowercase letters, digits and '-', starting and "
			"ending with a letter or digit, at most 63 characters",
	[V_K8S_NAME] = "a Kubernetes object name: lowercase letters, digits, '-' and '.', "
		       "starting and ending with a letter or digit, at most 253 characters",
	[V_RELEASE] = "a Helm release name: lowercase letters, digits, '-' and '.', at most 53 "
		      "characters",
	[V_NAME] = "letters, digits and . _ - / : @ + , starting with a letter or digit, "
		   "without '..', at most 253 characters",
	[V_IMAGE] = "an image repository without tag or digest (registry:5000/team/app)",
	[V_LABEL_KEY] = "a label key ([prefix/]name)",
	[V_LABEL_VALUE] = "a label value: letters, digits, '-', '_' and '.', starting and ending "
			  "with a letter or digit, at most 63 characters",
	[V_URL] = "an http:// or https:// URL without spaces, credentials, query or fragment",
	[V_MANIFEST] = "an absolute path without '..' or an http(s) URL",
	[V_PATH] = "an absolute path of letters, digits and . _ - / : @ + , without '..'",
	[V_ARGS] = "words of letters, digits and . _ - / : @ + , = separated by spaces",
	[V_JSON] = "a JSON object or array of at most 8192 bytes",
};

/* The kind of value a method parameter holds. `service` is a Kubernetes
 * Service for bluegreen and a Swarm service for docker. */
static enum vkind param_kind(enum plan_method m, const char *key)
{
	static const struct {
		const char *key;
		enum vkind kind;
	} kinds[] = {
		{ "namespace", V_DNS_LABEL }, { "container", V_DNS_LABEL },
		{ "deployment", V_K8S_NAME }, { "canary_deployment", V_K8S_NAME },
		{ "service", V_K8S_NAME },    { "ingress", V_K8S_NAME },
		{ "release", V_RELEASE },     { "context", V_NAME },
		{ "flag", V_NAME },	      { "function", V_NAME },
		{ "alias", V_NAME },	      { "region", V_NAME },
		{ "image", V_IMAGE },	      { "selector_key", V_LABEL_KEY },
		{ "colour", V_LABEL_VALUE },  { "url", V_URL },
		{ "manifest", V_MANIFEST },   { "path", V_PATH },
		{ "args", V_ARGS },	      { "patch", V_JSON },
	};

	if (m == PLAN_DOCKER && !strcmp(key, "service"))
		return V_NAME;
	for (size_t i = 0; i < RB_ARRAY_LEN(kinds); i++)
		if (!strcmp(kinds[i].key, key))
			return kinds[i].kind;
	return V_NONE;
}

static bool value_ok(enum vkind k, const char *s)
{
	switch (k) {
	case V_NONE:
		return false;
	case V_DNS_LABEL:
		return dns_label_ok(s, strlen(s));
	case V_K8S_NAME:
		return dns_subdomain_ok(s, strlen(s), 253);
	case V_RELEASE:
		return dns_subdomain_ok(s, strlen(s), 53);
	case V_NAME:
		return name_ok(s);
	case V_IMAGE:
		return image_ok(s);
	case V_LABEL_KEY:
		return label_key_ok(s);
	case V_LABEL_VALUE:
		return qualified_name_ok(s, strlen(s));
	case V_URL:
		return url_ok(s, false);
	case V_MANIFEST:
		if (!strncmp(s, "http://", 7) || !strncmp(s, "https://", 8))
			return url_ok(s, true);
		return path_ok(s);
	case V_PATH:
		return path_ok(s);
	case V_ARGS:
		return args_ok(s);
	case V_JSON:
		return patch_ok(s);
	}
	return false;
}

/* Borrowed value of parameter key, or NULL. Keys are unique (checked). */
static const char *param(const struct plan_input *in, const char *key)
{
	for (size_t i = 0; i < in->n_params; i++)
		if (!strcmp(in->params[i].key, key))
			return in->params[i].value;
	return NULL;
}

static const char *or_empty(const char *s)
{
	return s ? s : "";
}

/* Checks everything plan_build and plan_resolve_step read from `in`;
 * with_target also checks the target for the method. Returns 0 or
 * PLAN_EINVAL with a message that names the value but never quotes it. */
static int check_input(const struct plan_input *in, bool with_target, char *err, size_t errlen)
{
	const struct plan_method_info *mi;
	const char *t;
	char b[48];

	if (!in)
		return fail(err, errlen, PLAN_EINVAL, "no plan input");
	if ((unsigned)in->method >= PLAN_METHOD_COUNT)
		return fail(err, errlen, PLAN_EINVAL, "unknown rollback method %d",
			    (int)in->method);
	mi = plan_method_info(in->method);
	if (!in->service || !service_ok(in->service))
		return fail(err, errlen, PLAN_EINVAL, "the service name is not a valid name");
	if (in->timeout_ms < 1 || in->timeout_ms > MAX_TIMEOUT_MS)
		return fail(err, errlen, PLAN_EINVAL,
			    "the command timeout must be between 1 ms and 7 days");
	if (in->n_params > MAX_PARAMS || (in->n_params && !in->params))
		return fail(err, errlen, PLAN_EINVAL, "too many parameters");

	for (size_t i = 0; i < in->n_params; i++) {
		const char *k = in->params[i].key;
		const char *v = in->params[i].value;
		enum vkind kind;

		if (!k || !v)
			return fail(err, errlen, PLAN_EINVAL, "parameter %zu has no key or value",
				    i + 1);
		if (!rb_str_in_list(mi->required, k) && !rb_str_in_list(mi->optional, k))
			return fail(err, errlen, PLAN_EINVAL,
				    "`%s` is not a parameter of method %s", clip(k, b, sizeof b),
				    mi->name);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(in->params[j].key, k))
				return fail(err, errlen, PLAN_EINVAL,
					    "parameter `%s` is given twice", k);
		kind = param_kind(in->method, k);
		if (!value_ok(kind, v))
			return fail(err, errlen, PLAN_EINVAL,
				    "parameter `%s` must be %s", k, vkind_rule[kind]);
	}
	for (size_t i = 0; mi->required[i]; i++)
		if (!param(in, mi->required[i]))
			return fail(err, errlen, PLAN_EINVAL, "method %s needs parameter `%s`",
				    mi->name, mi->required[i]);
	if (in->method == PLAN_CANARY) {
		if (param(in, "manifest") && param(in, "patch"))
			return fail(err, errlen, PLAN_EINVAL,
				    "canary takes `manifest` or `patch`, not both");
		if (!param(in, "patch") != !param(in, "ingress"))
			return fail(err, errlen, PLAN_EINVAL,
				    "canary `patch` and `ingress` go together");
	}
	if (in->method == PLAN_SCRIPT) {
		if (!id_ok(or_empty(in->incident_id)) || !id_ok(or_empty(in->severity)) ||
		    !id_ok(or_empty(in->requested_by)))
			return fail(err, errlen, PLAN_EINVAL,
				    "incident id, severity and requester must be plain words");
		if (!text_ok(or_empty(in->reason)))
			return fail(err, errlen, PLAN_EINVAL,
				    "the reason must be one line without control characters");
	}
	if (!with_target)
		return 0;

	t = or_empty(in->target);
	if (!*t) {
		if (mi->target == PLAN_TARGET_REVISION)
			return fail(err, errlen, PLAN_EINVAL,
				    "method %s needs an explicit target: resolve it from the "
				    "history first",
				    mi->name);
		return 0;
	}
	if (mi->target == PLAN_TARGET_NONE)
		return fail(err, errlen, PLAN_EINVAL, "method %s takes no target", mi->name);
	if (!plan_target_valid(mi->target, t))
		return fail(err, errlen, PLAN_EINVAL, "the target must be %s",
			    mi->target == PLAN_TARGET_REVISION ?
				    "a revision number (1-9 digits, no leading zero)" :
				    "a version: letters, digits, '.', '_' and '-', starting with "
				    "a letter or digit, at most 64 characters");
	if (in->method == PLAN_DOCKER && !param(in, "image"))
		return fail(err, errlen, PLAN_EINVAL,
			    "docker needs the `image` parameter to go to a tag; without a "
			    "target it rolls back to the previous spec");
	return 0;
}

/* ---- building ---------------------------------------------------------- */

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
	const char *ctx = param(in, "context");

	av_push(a, "kubectl");
	if (ctx)
		av_pushf(a, "--context=%s", ctx);
}

/* Helm's flag for the same thing is --kube-context (Helm has no
 * --context); it is a global flag too. */
static void helm_begin(struct argv_b *a, const struct plan_input *in)
{
	const char *ctx = param(in, "context");

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
	const char *ns = param(in, "namespace");
	const char *d = param(in, "deployment");
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
	const char *ns = param(in, "namespace");
	const char *r = param(in, "release");
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
	const char *ns = param(in, "namespace");
	const char *svc = param(in, "service");
	const char *key = param(in, "selector_key");
	const char *colour = param(in, "colour");
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
		if (is_alnum((char)ch) || in_set((char)ch, "-._~")) {
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
	const char *url = param(in, "url");
	const char *flag = param(in, "flag");
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
	const char *ns = param(in, "namespace");
	const char *c = param(in, "canary_deployment");
	const char *manifest = param(in, "manifest");
	const char *patch = param(in, "patch");
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
		const char *ing = param(in, "ingress");
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
	const char *ns = param(in, "namespace");
	const char *d = param(in, "deployment");
	const char *manifest = param(in, "manifest");
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
	const char *svc = param(in, "service");
	const char *image = param(in, "image");
	struct argv_b a = { 0 };

	av_push(&a, "docker");
	av_push(&a, "service");
	av_push(&a, "update");
	if (in->target[0]) {
		RB_ASSERT(image); /* check_input */
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
	av_push(a, param(in, "function"));
	av_push(a, "--name");
	av_push(a, param(in, "alias"));
}

static void lambda_region(struct argv_b *a, const struct plan_input *in)
{
	const char *region = param(in, "region");

	if (region) {
		av_push(a, "--region");
		av_push(a, region);
	}
}

/* The lambda method (seeds/003 "Lambda Function Rollback"). */
static void build_lambda(struct plan *p, const struct plan_input *in)
{
	const char *f = param(in, "function");
	const char *alias = param(in, "alias");
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
	const char *path = param(in, "path");
	const char *args = param(in, "args");
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

	av_pushf(&e, "ROLLBOT_INCIDENT=%s", or_empty(in->incident_id));
	av_pushf(&e, "ROLLBOT_SERVICE=%s", in->service);
	av_pushf(&e, "ROLLBOT_TARGET=%s", in->target);
	av_pushf(&e, "ROLLBOT_SEVERITY=%s", or_empty(in->severity));
	av_pushf(&e, "ROLLBOT_REASON=%s", or_empty(in->reason));
	av_pushf(&e, "ROLLBOT_REQUESTED_BY=%s", or_empty(in->requested_by));

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
 * (check_input), so the builders above can trust what they read. */
int plan_build(const struct plan_input *in, struct plan **out, char *err, size_t errlen)
{
	struct plan_input v;
	struct plan *p;
	int rc;

	*out = NULL;
	rc = check_input(in, true, err, errlen);
	if (rc < 0)
		return rc;
	v = *in;
	v.target = or_empty(in->target);

	p = rb_calloc(1, sizeof *p);
	p->method = in->method;
	p->steps = rb_calloc(MAX_STEPS, sizeof *p->steps);
	/* check_input refused any method outside the table. */
	builders[in->method](p, &v);
	if (in->db_argv) {
		/* Runbook 000 §3.2: only when asked for, after the application
		 * rollback; argv[0] an absolute path, nothing through a shell. */
		struct argv_b a = { 0 };
		size_t n = 0;

		for (; in->db_argv[n]; n++)
			if (n >= 32 || (n == 0 ? !path_ok(in->db_argv[0]) : !text_ok(in->db_argv[n]))) {
				plan_free(p);
				return fail(err, errlen, PLAN_EINVAL,
					    "the db_rollback command must be an absolute path followed by "
					    "at most 31 arguments without control characters");
			}
		if (!n || in->db_timeout_ms <= 0) {
			plan_free(p);
			return fail(err, errlen, PLAN_EINVAL, "the db_rollback command is empty");
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
	rc = check_input(in, false, err, errlen);
	if (rc < 0)
		return rc;
	switch (in->method) {
	case PLAN_KUBECTL:
		kubectl_begin(&a, in);
		av_push(&a, "rollout");
		av_push(&a, "history");
		av_pushf(&a, "deployment/%s", param(in, "deployment"));
		av_push(&a, "-n");
		av_push(&a, param(in, "namespace"));
		title = rb_asprintf("List the rollout history of deployment/%s",
				    param(in, "deployment"));
		break;
	case PLAN_HELM:
		helm_begin(&a, in);
		av_push(&a, "history");
		av_push(&a, param(in, "release"));
		av_push(&a, "-n");
		av_push(&a, param(in, "namespace"));
		av_push(&a, "-o");
		av_push(&a, "json");
		title = rb_asprintf("List the history of Helm release %s", param(in, "release"));
		break;
	case PLAN_LAMBDA:
		lambda_begin(&a, in, "get-alias");
		av_push(&a, "--output");
		av_push(&a, "json");
		lambda_region(&a, in);
		title = rb_asprintf("Read which version alias %s of %s points at",
				    param(in, "alias"), param(in, "function"));
		break;
	default:
		return 0;
	}
	s = rb_calloc(1, sizeof *s);
	set_exec(s, PLAN_ROLE_CHECK, in->timeout_ms, &a, title);
	*out = s;
	return 0;
}

/* ---- reading the history ----------------------------------------------- */

/* Writes a revision number into target[len]. */
static int put_target(unsigned long rev, char *target, size_t len, char *err, size_t errlen)
{
	char b[24];

	snprintf(b, sizeof b, "%lu", rev);
	if (!target || rb_strlcpy(target, b, len) != 0)
		return fail(err, errlen, RB_ETOOBIG, "the target buffer is too small");
	return 0;
}

/* Reads a revision at s: 1-9 digits without a leading zero, followed by
 * end, space or tab. Returns the number of digits, or 0. */
static size_t revision_at(const char *s, size_t n, unsigned long *rev)
{
	size_t d = 0;

	while (d < n && is_digit(s[d]))
		d++;
	if (d < 1 || d > 9 || s[0] == '0' || (d < n && s[d] != ' ' && s[d] != '\t'))
		return 0;
	*rev = strtoul(s, NULL, 10);
	return d;
}

/* Reads `kubectl rollout history deployment/D -n NS`:
 *
 *   deployment.apps/payments-api
 *   REVISION  CHANGE-CAUSE
 *   40        <none>
 *   41        kubectl set image deployment/payments-api app=payments:v2.1.0
 *
 * Lines before the REVISION header are skipped; after it every non-blank
 * line must start with a revision number (the CHANGE-CAUSE after it is
 * free text and ignored). The current revision is the highest: kubectl
 * gives each new rollout, and each rollback, the next number (a rollback
 * to 40 re-labels that ReplicaSet 42, so numbers never repeat). The target
 * is the second highest, what the workload ran before the current one;
 * after a completed rollback that is the release rolled back from, which
 * is why the resolved number is shown to the approvers.
 *
 * Why not a bare `kubectl rollout undo`: it means "the revision before the
 * current one" at the moment it runs. If rollbot crashed, or a step timed
 * out after the undo went through, a retry would undo the undo and bring
 * the bad release back. Resolving the number once, recording it and always
 * passing --to-revision makes the retry do the same thing again. */
int plan_parse_kubectl_history(const char *out, char *target, size_t len, char *err, size_t errlen)
{
	unsigned long top = 0, second = 0;
	bool header = false;
	size_t rows = 0;
	int lineno = 0;

	if (!out)
		return fail(err, errlen, PLAN_EPARSE, "no rollout history output");
	for (const char *line = out; *line;) {
		const char *eol = strchr(line, '\n');
		size_t n = eol ? (size_t)(eol - line) : strlen(line);
		const char *s = line;
		unsigned long rev;

		line += n + (eol ? 1 : 0);
		lineno++;
		while (n && (s[0] == ' ' || s[0] == '\t')) {
			s++;
			n--;
		}
		while (n && in_set(s[n - 1], " \t\r"))
			n--;
		if (!n)
			continue;
		if (!header) {
			header = n >= 8 && !strncmp(s, "REVISION", 8) &&
				 (n == 8 || s[8] == ' ' || s[8] == '\t');
			continue;
		}
		if (!revision_at(s, n, &rev))
			return fail(err, errlen, PLAN_EPARSE,
				    "rollout history line %d does not start with a revision number",
				    lineno);
		if (rev == top || rev == second)
			return fail(err, errlen, PLAN_EPARSE,
				    "rollout history lists revision %lu twice", rev);
		if (rev > top) {
			second = top;
			top = rev;
		} else if (rev > second) {
			second = rev;
		}
		rows++;
	}
	if (!header)
		return fail(err, errlen, PLAN_EPARSE,
			    "no REVISION header: this is not `kubectl rollout history` output");
	if (rows == 0)
		return fail(err, errlen, PLAN_ENOTARGET,
			    "nothing to roll back to: the rollout history is empty");
	if (rows == 1)
		return fail(err, errlen, PLAN_ENOTARGET,
			    "nothing to roll back to: revision %lu is the only one in the history",
			    top);
	return put_target(second, target, len, err, errlen);
}

/* Parses a whole JSON text, refusing duplicate keys. */
static json_t *load_json(const char *out, const char *what, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *j;

	if (!out) {
		fail(err, errlen, PLAN_EPARSE, "no %s output", what);
		return NULL;
	}
	j = json_loads(out, JSON_REJECT_DUPLICATES, &jerr);
	if (!j)
		fail(err, errlen, PLAN_EPARSE, "%s output is not JSON (line %d, column %d)", what,
		     jerr.line, jerr.column);
	return j;
}

/* Reads `helm history RELEASE -n NS -o json`: an array of
 * {"revision":N,"status":"…",…}. What it decides:
 *
 * - current = the one revision whose status is "deployed" (none, or more
 *   than one, is not a state to guess in);
 * - it must also be the newest revision: when a newer one is "failed" or
 *   "pending-*", the cluster may be half-way into that release, and
 *   whether to re-apply the deployed revision or go further back is a
 *   decision for a person, who gets told both numbers and uses --to;
 * - target = the highest revision below the current one whose status is
 *   "superseded": a release that really ran. "failed" revisions in between
 *   are skipped (they never came up), as are "uninstalled" ones.
 */
int plan_parse_helm_history(const char *out, char *target, size_t len, char *err, size_t errlen)
{
	json_t *root = load_json(out, "helm history", err, errlen);
	json_int_t newest = 0, deployed = 0, best = 0;
	const char *newest_status = "";
	size_t n_deployed = 0, i;
	json_t *e;
	char b[48];
	int rc = 0;

	if (!root)
		return PLAN_EPARSE;
	if (!json_is_array(root)) {
		json_decref(root);
		return fail(err, errlen, PLAN_EPARSE,
			    "helm history output is not a JSON array of revisions");
	}
	json_array_foreach (root, i, e) {
		json_t *r = json_object_get(e, "revision");
		const char *st = json_string_value(json_object_get(e, "status"));
		json_int_t rev = json_is_integer(r) ? json_integer_value(r) : 0;

		if (!json_is_object(e) || rev < 1 || rev > 999999999 || !st) {
			rc = fail(err, errlen, PLAN_EPARSE,
				  "helm history entry %zu has no valid revision and status", i + 1);
			goto done;
		}
		for (size_t j = 0; j < i; j++) {
			if (json_integer_value(
				    json_object_get(json_array_get(root, j), "revision")) == rev) {
				rc = fail(err, errlen, PLAN_EPARSE,
					  "helm history lists revision %lld twice", (long long)rev);
				goto done;
			}
		}
		if (rev > newest) {
			newest = rev;
			newest_status = st;
		}
		if (!strcmp(st, "deployed")) {
			n_deployed++;
			deployed = rev;
		}
	}
	if (json_array_size(root) == 0) {
		rc = fail(err, errlen, PLAN_ENOTARGET,
			  "nothing to roll back to: the release has no history");
		goto done;
	}
	if (n_deployed == 0) {
		rc = fail(err, errlen, PLAN_ENOTARGET,
			  "no revision of the release is deployed (the newest, %lld, is %s): "
			  "choose the revision with --to",
			  (long long)newest, clip(newest_status, b, sizeof b));
		goto done;
	}
	if (n_deployed > 1) {
		rc = fail(err, errlen, PLAN_EPARSE, "helm history marks %zu revisions as deployed",
			  n_deployed);
		goto done;
	}
	if (newest != deployed) {
		rc = fail(err, errlen, PLAN_ENOTARGET,
			  "the newest revision, %lld, is %s while revision %lld is still deployed: "
			  "choose the revision with --to",
			  (long long)newest, clip(newest_status, b, sizeof b), (long long)deployed);
		goto done;
	}
	json_array_foreach (root, i, e) {
		json_int_t rev = json_integer_value(json_object_get(e, "revision"));
		const char *st = json_string_value(json_object_get(e, "status"));

		if (rev < deployed && rev > best && !strcmp(st, "superseded"))
			best = rev;
	}
	if (!best) {
		rc = fail(err, errlen, PLAN_ENOTARGET,
			  "nothing to roll back to: no superseded revision before revision %lld",
			  (long long)deployed);
		goto done;
	}
	rc = put_target((unsigned long)best, target, len, err, errlen);
done:
	json_decref(root);
	return rc;
}

/* Reads `aws lambda get-alias … --output json`: {"FunctionVersion":"7",…}.
 * The target is the version below the alias's one (7 → 6): Lambda numbers
 * published versions 1, 2, 3… and never reuses a number. A deleted version
 * leaves a gap; update-alias then fails visibly and a person picks with
 * --to. An alias on $LATEST has no "previous", and a weighted alias
 * (RoutingConfig.AdditionalVersionWeights) sends traffic to two versions,
 * so which one is bad is not ours to guess: both are errors. */
int plan_parse_lambda_alias(const char *out, char *target, size_t len, char *err, size_t errlen)
{
	json_t *root = load_json(out, "aws lambda get-alias", err, errlen);
	json_t *weights;
	const char *fv;
	unsigned long v;
	int rc;

	if (!root)
		return PLAN_EPARSE;
	fv = json_string_value(json_object_get(root, "FunctionVersion"));
	weights =
		json_object_get(json_object_get(root, "RoutingConfig"), "AdditionalVersionWeights");
	if (!fv) {
		rc = fail(err, errlen, PLAN_EPARSE, "the alias has no FunctionVersion");
	} else if (!strcmp(fv, "$LATEST")) {
		rc = fail(err, errlen, PLAN_ENOTARGET,
			  "the alias points at $LATEST, which has no previous version: choose "
			  "the version with --to");
	} else if (!plan_target_valid(PLAN_TARGET_REVISION, fv)) {
		rc = fail(err, errlen, PLAN_EPARSE, "the alias's FunctionVersion is not a number");
	} else if (json_is_object(weights) && json_object_size(weights) > 0) {
		rc = fail(err, errlen, PLAN_ENOTARGET,
			  "the alias splits traffic between version %s and others (weighted "
			  "alias): choose the version with --to",
			  fv);
	} else if (!strcmp(fv, "1")) {
		rc = fail(err, errlen, PLAN_ENOTARGET,
			  "nothing to roll back to: version 1 is the first version");
	} else {
		v = strtoul(fv, NULL, 10); /* 2..999999999: plan_target_valid */
		rc = put_target(v - 1, target, len, err, errlen);
	}
	json_decref(root);
	return rc;
}

/* Dispatches to the parser of method m's resolution step. */
int plan_parse_resolve(enum plan_method m, const char *out, char *target, size_t len, char *err,
		       size_t errlen)
{
	switch (m) {
	case PLAN_KUBECTL:
		return plan_parse_kubectl_history(out, target, len, err, errlen);
	case PLAN_HELM:
		return plan_parse_helm_history(out, target, len, err, errlen);
	case PLAN_LAMBDA:
		return plan_parse_lambda_alias(out, target, len, err, errlen);
	default:
		return fail(err, errlen, PLAN_EINVAL,
			    "this rollback method has no target to resolve");
	}
}

/* ---- for people ------------------------------------------------------ */

/* Characters a POSIX shell reads literally in a word. */
static bool shell_plain(char c)
{
	return is_alnum(c) || in_set(c, "_./:=,@%+-");
}

/* Appends s as a shell word: bare when plain; in single quotes otherwise,
 * with ' written '\''; and when it holds a control character (a multi-line
 * patch from YAML), as $'…' with C escapes, so the line stays one line and
 * still pastes into bash. */
static int append_word(struct rb_buf *b, const char *s)
{
	bool plain = *s != '\0', ctl = false;
	int rc = 0;

	for (const char *c = s; *c; c++) {
		unsigned char ch = (unsigned char)*c;
		plain = plain && shell_plain(*c);
		ctl = ctl || ch < 0x20 || ch == 0x7f;
	}
	if (plain)
		return rb_buf_puts(b, s);
	if (!ctl) {
		rc = rb_buf_puts(b, "'");
		for (const char *c = s; rc == 0 && *c; c++)
			rc = *c == '\'' ? rb_buf_puts(b, "'\\''") : rb_buf_append(b, c, 1);
		return rc ? rc : rb_buf_puts(b, "'");
	}
	rc = rb_buf_puts(b, "$'");
	for (const char *c = s; rc == 0 && *c; c++) {
		unsigned char ch = (unsigned char)*c;
		if (ch == '\n')
			rc = rb_buf_puts(b, "\\n");
		else if (ch == '\t')
			rc = rb_buf_puts(b, "\\t");
		else if (ch == '\r')
			rc = rb_buf_puts(b, "\\r");
		else if (ch < 0x20 || ch == 0x7f)
			rc = rb_buf_printf(b, "\\x%02x", ch);
		else if (ch == '\'' || ch == '\\')
			rc = rb_buf_printf(b, "\\%c", ch);
		else
			rc = rb_buf_append(b, c, 1);
	}
	return rc ? rc : rb_buf_puts(b, "'");
}

static int append_step(struct rb_buf *b, const struct plan_step *s)
{
	int rc = 0;

	if (s->kind == PLAN_STEP_HTTP) {
		rc = rb_buf_printf(b, "%s %s", s->http.method, s->http.url);
		if (rc == 0 && s->http.body)
			rc = rb_buf_printf(b, " %s", s->http.body);
		return rc;
	}
	for (size_t i = 0; rc == 0 && i < s->exec.argc; i++) {
		if (i)
			rc = rb_buf_puts(b, " ");
		if (rc == 0)
			rc = append_word(b, s->exec.argv[i]);
	}
	return rc;
}

/* The display line of one step; see plan.h. New string, free with free(). */
char *plan_step_display(const struct plan_step *s)
{
	struct rb_buf b;

	rb_buf_init(&b, 4u << 20);
	RB_ASSERT(append_step(&b, s) == 0);
	return rb_buf_steal(&b);
}

/* The whole plan for Slack; see plan.h. New string, free with free(). */
char *plan_describe(const struct plan *p)
{
	struct rb_buf b;
	int rc = 0;

	rb_buf_init(&b, 16u << 20);
	for (size_t i = 0; rc == 0 && i < p->n_steps; i++) {
		const struct plan_step *s = &p->steps[i];
		bool exec = s->kind == PLAN_STEP_EXEC;

		rc = rb_buf_printf(&b, "%s%zu. %s", i ? "\n" : "", i + 1, exec ? "`" : "");
		if (rc == 0)
			rc = append_step(&b, s);
		if (rc == 0 && exec)
			rc = rb_buf_puts(&b, "`");
	}
	RB_ASSERT(rc == 0);
	return rb_buf_steal(&b);
}

/* ---- digest ---------------------------------------------------------- */

#define FNV_OFFSET 0xcbf29ce484222325ULL
#define FNV_PRIME  0x100000001b3ULL

static void fnv_bytes(uint64_t *h, const void *p, size_t n)
{
	const unsigned char *c = p;

	for (size_t i = 0; i < n; i++) {
		*h ^= c[i];
		*h *= FNV_PRIME;
	}
}

/* Eight bytes, little-endian whatever the machine, so a digest recorded
 * on one host checks on another. */
static void fnv_u64(uint64_t *h, uint64_t v)
{
	unsigned char b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	fnv_bytes(h, b, sizeof b);
}

/* A string as its length and bytes, so ["ab","c"] and ["a","bc"] differ;
 * NULL as a length no string has, so it differs from "". */
static void fnv_str(uint64_t *h, const char *s)
{
	size_t n;

	if (!s) {
		fnv_u64(h, UINT64_MAX);
		return;
	}
	n = strlen(s);
	fnv_u64(h, n);
	fnv_bytes(h, s, n);
}

static void fnv_strv(uint64_t *h, char *const *v, size_t n)
{
	fnv_u64(h, n);
	for (size_t i = 0; i < n; i++)
		fnv_str(h, v[i]);
}

static void digest_step(uint64_t *h, const struct plan_step *s)
{
	fnv_u64(h, (uint64_t)s->kind);
	fnv_u64(h, (uint64_t)s->role);
	fnv_u64(h, (uint64_t)s->timeout_ms);
	fnv_str(h, s->title);
	fnv_strv(h, s->exec.argv, s->exec.argc);
	fnv_strv(h, s->exec.env, s->exec.n_env);
	fnv_str(h, s->http.method);
	fnv_str(h, s->http.url);
	fnv_str(h, s->http.body);
	fnv_u64(h, s->http.n_expect);
	for (size_t i = 0; i < s->http.n_expect && i < PLAN_HTTP_EXPECT_MAX; i++)
		fnv_u64(h, (uint64_t)(int64_t)s->http.expect[i]);
}

/* FNV-1a 64 of the whole plan; see plan.h. A version tag leads the
 * serialisation, so changing its layout changes every digest rather than
 * matching an old approval by accident. */
uint64_t plan_digest(const struct plan *p)
{
	uint64_t h = FNV_OFFSET;

	fnv_str(&h, "rollbot-plan-1");
	fnv_u64(&h, (uint64_t)p->method);
	fnv_u64(&h, p->n_steps);
	for (size_t i = 0; i < p->n_steps; i++)
		digest_step(&h, &p->steps[i]);
	return h;
}

/* FNV-1a 64 of one step alone (a resolution step, for its audit row). */
uint64_t plan_step_digest(const struct plan_step *s)
{
	uint64_t h = FNV_OFFSET;

	fnv_str(&h, "rollbot-step-1");
	digest_step(&h, s);
	return h;
}
