/* rollbot — the plan's input checks and its errors (MIT licence, see LICENSE).
 *
 * Everything plan_build and plan_resolve_step read from a plan_input is
 * checked here once more before any of it reaches an argv or a request
 * (plan.c says why): per kind of value (Kubernetes name, label, image, URL,
 * path, JSON), with a message that names the value but never quotes it.
 * Also plan_target_valid, which the parser uses for `--to`, plan_strerror,
 * and the message helpers the other plan files use. Split out of plan.c
 * (plan_int.h). Pure.
 */
#include <jansson.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "plan_int.h"

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
			if (!plan_is_digit(s[i]))
				return false;
		return true;
	case PLAN_TARGET_VERSION:
		if (n < 1 || n > 64 || !plan_is_alnum(s[0]))
			return false;
		for (size_t i = 0; i < n; i++)
			if (!plan_is_alnum(s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
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

/* Writes the message (when the caller gave a buffer) and returns code. */
int plan_fail(char *err, size_t errlen, int code, const char *fmt, ...)
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
const char *plan_clip(const char *s, char *buf, size_t size)
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
#define MAX_PATH_LEN   1024
#define MAX_ARGS_LEN   1024
#define MAX_PATCH_LEN  8192
#define MAX_ID_LEN     64
#define MAX_REASON_LEN 2048 /* CMD_REASON_MAX (500 UTF-8 characters) and some */

static bool is_lower_alnum(char c)
{
	return plan_is_digit(c) || (c >= 'a' && c <= 'z');
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
	if (n < 1 || n > 63 || !plan_is_alnum(s[0]) || !plan_is_alnum(s[n - 1]))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!plan_is_alnum(s[i]) && !plan_in_set(s[i], "-_."))
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

	if (n < 1 || n > MAX_NAME_LEN || !plan_is_alnum(s[0]) || strstr(s, ".."))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!plan_is_alnum(s[i]) && !plan_in_set(s[i], "._-/:@+,"))
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

	if (n < 1 || n > MAX_NAME_LEN || !plan_is_alnum(s[0]) || !plan_is_alnum(s[n - 1]))
		return false;
	if (strstr(s, "..") || strstr(s, "//"))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!plan_is_alnum(s[i]) && !plan_in_set(s[i], "._-/:"))
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
		if (ch <= 0x20 || ch >= 0x7f || plan_in_set((char)ch, "\"'<>\\^`{|}"))
			return false;
	}
	return allow_query || !strpbrk(s, "?#");
}

/* An absolute path: safe characters, no "..". */
bool plan_path_ok(const char *s)
{
	size_t n = strlen(s);

	if (n < 2 || n > MAX_PATH_LEN || s[0] != '/' || strstr(s, ".."))
		return false;
	for (size_t i = 0; i < n; i++)
		if (!plan_is_alnum(s[i]) && !plan_in_set(s[i], "._-/:@+,"))
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
		if (!plan_is_alnum(s[i]) && !plan_in_set(s[i], "._-/:@+,= "))
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
		if (!is_lower_alnum(s[i]) && !plan_in_set(s[i], "._-"))
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
		if (!plan_is_alnum(s[i]) && !plan_in_set(s[i], "._-@"))
			return false;
	return true;
}

/* Free text for an environment variable: one line, no control bytes. */
bool plan_text_ok(const char *s)
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
		return plan_path_ok(s);
	case V_PATH:
		return plan_path_ok(s);
	case V_ARGS:
		return args_ok(s);
	case V_JSON:
		return patch_ok(s);
	}
	return false;
}

/* Borrowed value of parameter key, or NULL. Keys are unique (checked). */
const char *plan_input_param(const struct plan_input *in, const char *key)
{
	for (size_t i = 0; i < in->n_params; i++)
		if (!strcmp(in->params[i].key, key))
			return in->params[i].value;
	return NULL;
}

/* Checks everything plan_build and plan_resolve_step read from `in`;
 * with_target also checks the target for the method. Returns 0 or
 * PLAN_EINVAL with a message that names the value but never quotes it. */
int plan_check_input(const struct plan_input *in, bool with_target, char *err, size_t errlen)
{
	const struct plan_method_info *mi;
	const char *t;
	char b[48];

	if (!in)
		return plan_fail(err, errlen, PLAN_EINVAL, "no plan input");
	if ((unsigned)in->method >= PLAN_METHOD_COUNT)
		return plan_fail(err, errlen, PLAN_EINVAL, "unknown rollback method %d",
			    (int)in->method);
	mi = plan_method_info(in->method);
	if (!in->service || !service_ok(in->service))
		return plan_fail(err, errlen, PLAN_EINVAL, "the service name is not a valid name");
	if (in->timeout_ms < 1 || in->timeout_ms > MAX_TIMEOUT_MS)
		return plan_fail(err, errlen, PLAN_EINVAL,
			    "the command timeout must be between 1 ms and 7 days");
	if (in->n_params > MAX_PARAMS || (in->n_params && !in->params))
		return plan_fail(err, errlen, PLAN_EINVAL, "too many parameters");

	for (size_t i = 0; i < in->n_params; i++) {
		const char *k = in->params[i].key;
		const char *v = in->params[i].value;
		enum vkind kind;

		if (!k || !v)
			return plan_fail(err, errlen, PLAN_EINVAL, "parameter %zu has no key or value",
				    i + 1);
		if (!rb_str_in_list(mi->required, k) && !rb_str_in_list(mi->optional, k))
			return plan_fail(err, errlen, PLAN_EINVAL,
				    "`%s` is not a parameter of method %s", plan_clip(k, b, sizeof b),
				    mi->name);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(in->params[j].key, k))
				return plan_fail(err, errlen, PLAN_EINVAL,
					    "parameter `%s` is given twice", k);
		kind = param_kind(in->method, k);
		if (!value_ok(kind, v))
			return plan_fail(err, errlen, PLAN_EINVAL,
				    "parameter `%s` must be %s", k, vkind_rule[kind]);
	}
	for (size_t i = 0; mi->required[i]; i++)
		if (!plan_input_param(in, mi->required[i]))
			return plan_fail(err, errlen, PLAN_EINVAL, "method %s needs parameter `%s`",
				    mi->name, mi->required[i]);
	if (in->method == PLAN_CANARY) {
		if (plan_input_param(in, "manifest") && plan_input_param(in, "patch"))
			return plan_fail(err, errlen, PLAN_EINVAL,
				    "canary takes `manifest` or `patch`, not both");
		if (!plan_input_param(in, "patch") != !plan_input_param(in, "ingress"))
			return plan_fail(err, errlen, PLAN_EINVAL,
				    "canary `patch` and `ingress` go together");
	}
	if (in->method == PLAN_SCRIPT) {
		if (!id_ok(plan_or_empty(in->incident_id)) || !id_ok(plan_or_empty(in->severity)) ||
		    !id_ok(plan_or_empty(in->requested_by)))
			return plan_fail(err, errlen, PLAN_EINVAL,
				    "incident id, severity and requester must be plain words");
		if (!plan_text_ok(plan_or_empty(in->reason)))
			return plan_fail(err, errlen, PLAN_EINVAL,
				    "the reason must be one line without control characters");
	}
	if (!with_target)
		return 0;

	t = plan_or_empty(in->target);
	if (!*t) {
		if (mi->target == PLAN_TARGET_REVISION)
			return plan_fail(err, errlen, PLAN_EINVAL,
				    "method %s needs an explicit target: resolve it from the "
				    "history first",
				    mi->name);
		return 0;
	}
	if (mi->target == PLAN_TARGET_NONE)
		return plan_fail(err, errlen, PLAN_EINVAL, "method %s takes no target", mi->name);
	if (!plan_target_valid(mi->target, t))
		return plan_fail(err, errlen, PLAN_EINVAL, "the target must be %s",
			    mi->target == PLAN_TARGET_REVISION ?
				    "a revision number (1-9 digits, no leading zero)" :
				    "a version: letters, digits, '.', '_' and '-', starting with "
				    "a letter or digit, at most 64 characters");
	if (in->method == PLAN_DOCKER && !plan_input_param(in, "image"))
		return plan_fail(err, errlen, PLAN_EINVAL,
			    "docker needs the `image` parameter to go to a tag; without a "
			    "target it rolls back to the previous spec");
	return 0;
}
