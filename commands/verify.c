/* rollbot — reading the probes that verify a rollback (MIT licence, see LICENSE).
 *
 * Everything here reads text that came over the network from a service
 * that was broken a minute ago, or from a proxy in front of it: an HTML
 * error page where JSON was expected, a version string with a "v" or
 * without, a Prometheus answer with no series because nothing has been
 * scraped yet. Each of those gets its own one-line reason, because the
 * person reading "verification failed" at 3 a.m. needs to know whether the
 * service is still broken or only the probe is.
 */
#include "verify.h"

#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* How much of a server's own text (an error, a value) a reason repeats. */
#define ECHO_MAX 160
/* How much of a body that is not JSON a reason shows. */
#define BODY_ECHO 60

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == '\f' || c == '\v';
}

/* Drops a partial UTF-8 character from the end of s, as left by a cut. */
static void drop_partial_char(char *s)
{
	size_t n = strlen(s), i = n, need;
	unsigned char lead;

	while (i > 0 && ((unsigned char)s[i - 1] & 0xC0) == 0x80)
		i--;
	if (i == 0)
		return;
	lead = (unsigned char)s[i - 1];
	need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : lead >= 0xC0 ? 2 : 1;
	if (n - (i - 1) < need)
		s[i - 1] = '\0';
}

/* vsnprintf that never leaves half a UTF-8 character at a cut. Returns
 * false when the text was cut. */
static bool put_cut(char *out, size_t len, const char *fmt, va_list ap)
{
	int n;

	if (!out || len == 0)
		return false;
	n = vsnprintf(out, len, fmt, ap);
	if (n < 0) {
		out[0] = '\0';
		return false;
	}
	if ((size_t)n < len)
		return true;
	drop_partial_char(out);
	return false;
}

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...) RB_PRINTF(4, 5);

static int fail(char *err, size_t errlen, int rc, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)put_cut(err, errlen, fmt, ap);
	va_end(ap);
	return rc;
}

/* Copies a server's text for a one-line reason: control characters become
 * spaces, and it is cut (with "…") past ECHO_MAX bytes. jansson has
 * already refused strings that are not UTF-8. */
static void echo(const char *s, char out[ECHO_MAX + 4])
{
	size_t i = 0;

	for (; s[i] && i < ECHO_MAX; i++) {
		unsigned char c = (unsigned char)s[i];
		out[i] = c < 0x20 || c == 0x7F ? ' ' : (char)c;
	}
	if (s[i]) {
		while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80)
			i--;
		memcpy(out + i, "…", 3);
		i += 3;
	}
	out[i] = '\0';
}

/* The start of a body that is not JSON, for the reason: a proxy's error
 * page or a login form says at once what went wrong. ASCII only, since the
 * bytes may be anything; the rest shows as '?', spaces and line breaks
 * as one space. */
static void echo_start(const char *body, size_t len, char out[BODY_ECHO + 4])
{
	size_t o = 0, i = 0;

	for (; i < len && o < BODY_ECHO; i++) {
		unsigned char c = (unsigned char)body[i];
		bool blank = c == ' ' || (c >= '\t' && c <= '\r');

		if (blank && (o == 0 || out[o - 1] == ' '))
			continue;
		out[o++] = blank ? ' ' : c < 0x20 || c >= 0x7F ? '?' : (char)c;
	}
	while (o > 0 && out[o - 1] == ' ')
		o--;
	if (i < len) {
		memcpy(out + o, "…", 3);
		o += 3;
	}
	out[o] = '\0';
}

/* ---- Prometheus ----------------------------------------------------- */

/* Reads a sample value as Prometheus writes it (Go's strconv): a decimal
 * number, maybe with an exponent, or NaN, +Inf, -Inf. strtod alone would
 * also take hex, "infinity" and leading spaces, which no server sends and
 * which would hide a wrong endpoint. */
static bool read_number(const char *s, double *out)
{
	char *end;

	if (!strcmp(s, "NaN")) {
		*out = NAN;
		return true;
	}
	if (!strcmp(s, "+Inf") || !strcmp(s, "Inf") || !strcmp(s, "-Inf")) {
		*out = s[0] == '-' ? -INFINITY : INFINITY;
		return true;
	}
	if (!*s || strspn(s, "0123456789+-.eE") != strlen(s))
		return false;
	*out = strtod(s, &end);
	return *end == '\0';
}

/* value[1] of a sample or a scalar: [time, "value"]. *out is set only on
 * success. */
static int sample_value(const json_t *pair, double *out, char *err, size_t errlen)
{
	const json_t *v = json_array_get(pair, 1);
	char shown[ECHO_MAX + 4];
	double d;

	if (!json_is_array(pair) || json_array_size(pair) != 2)
		return fail(err, errlen, RB_EINVAL, "the sample is not a [time, value] pair");
	if (json_is_number(v)) {
		d = json_number_value(v);
	} else if (!json_is_string(v)) {
		return fail(err, errlen, RB_EINVAL, "the value is neither a string nor a number");
	} else if (!read_number(json_string_value(v), &d)) {
		echo(json_string_value(v), shown);
		return fail(err, errlen, RB_EINVAL, "the value \"%s\" is not a number", shown);
	}
	if (isnan(d))
		return fail(err, errlen, RB_EINVAL,
			    "the query returned NaN (no requests in the window, so no rate?)");
	*out = d;
	return 0;
}

/* An answer with "status": "error", or with no "success" status at all. */
static int prom_refused(const json_t *root, char *err, size_t errlen)
{
	const char *status = json_string_value(json_object_get(root, "status"));
	const char *type = json_string_value(json_object_get(root, "errorType"));
	const char *why = json_string_value(json_object_get(root, "error"));
	char t[ECHO_MAX + 4], w[ECHO_MAX + 4];

	if (!status)
		return fail(err, errlen, RB_EINVAL,
			    "the answer has no \"status\": is the URL a Prometheus /api/v1/query?");
	if (strcmp(status, "error") != 0) {
		echo(status, t);
		return fail(err, errlen, RB_EINVAL,
			    "the answer's status is \"%s\", not \"success\"", t);
	}
	if (!why)
		return fail(err, errlen, RB_EINVAL,
			    "Prometheus refused the query and gave no reason");
	echo(why, w);
	if (!type)
		return fail(err, errlen, RB_EINVAL, "Prometheus refused the query: %s", w);
	echo(type, t);
	return fail(err, errlen, RB_EINVAL, "Prometheus refused the query: %s: %s", t, w);
}

/* The "data" of a successful answer. */
static int prom_data(const json_t *data, double *out, char *err, size_t errlen)
{
	const char *type = json_string_value(json_object_get(data, "resultType"));
	const json_t *result = json_object_get(data, "result");
	char t[ECHO_MAX + 4];

	if (!json_is_object(data))
		return fail(err, errlen, RB_EINVAL, "the answer has no \"data\" object");
	if (!type)
		return fail(err, errlen, RB_EINVAL, "the answer has no \"resultType\"");
	if (!result)
		return fail(err, errlen, RB_EINVAL, "the answer has no \"result\"");
	if (!strcmp(type, "scalar"))
		return sample_value(result, out, err, errlen);
	if (!strcmp(type, "matrix"))
		return fail(err, errlen, RB_EINVAL,
			    "the query returned a range of values (a matrix), not one: use an "
			    "instant query");
	if (strcmp(type, "vector") != 0) {
		echo(type, t);
		return fail(err, errlen, RB_EINVAL, "the query returned a %s, not a number", t);
	}
	if (!json_is_array(result))
		return fail(err, errlen, RB_EINVAL, "the \"result\" is not a list");
	if (json_array_size(result) == 0)
		return fail(err, errlen, VERIFY_ENODATA, "the query returned no data");
	if (!json_object_get(json_array_get(result, 0), "value"))
		return fail(err, errlen, RB_EINVAL, "the first series has no \"value\"");
	return sample_value(json_object_get(json_array_get(result, 0), "value"), out, err, errlen);
}

/* Starts with '{' or '[': JSON that went wrong (cut short, say), rather
 * than some other kind of page. */
static bool looks_like_json(const char *body, size_t len)
{
	size_t i = 0;

	while (i < len && is_blank(body[i]))
		i++;
	return i < len && (body[i] == '{' || body[i] == '[');
}

int verify_prom_value(const char *body, size_t len, double *out, char *err, size_t errlen)
{
	json_error_t jerr;
	json_t *root;
	const char *status;
	char start[BODY_ECHO + 4];
	int rc;

	if (err && errlen)
		err[0] = '\0';
	if (!body || len == 0)
		return fail(err, errlen, RB_EINVAL, "the answer is empty");
	root = json_loadb(body, len, 0, &jerr);
	if (!root && looks_like_json(body, len)) {
		echo_start(jerr.text, strlen(jerr.text), start);
		return fail(err, errlen, RB_EINVAL,
			    "the answer is broken JSON: %s (line %d, column %d)", start, jerr.line,
			    jerr.column);
	}
	if (!root) {
		echo_start(body, len, start);
		return fail(err, errlen, RB_EINVAL, "the answer is not JSON: \"%s\"", start);
	}
	status = json_string_value(json_object_get(root, "status"));
	if (!json_is_object(root))
		rc = fail(err, errlen, RB_EINVAL, "the answer is not a JSON object");
	else if (!status || strcmp(status, "success") != 0)
		rc = prom_refused(root, err, errlen);
	else
		rc = prom_data(json_object_get(root, "data"), out, err, errlen);
	json_decref(root);
	return rc;
}

/* ---- versions ------------------------------------------------------- */

static bool is_token_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       c == '.' || c == '_' || c == '-';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* A leading "v" is optional, but only before a digit: "v2" is "2", while
 * "victoria" stays "victoria". */
static const char *skip_v(const char *s, size_t *n)
{
	if (*n > 1 && (s[0] == 'v' || s[0] == 'V') && is_digit(s[1])) {
		(*n)--;
		return s + 1;
	}
	return s;
}

static bool same_version(const char *a, size_t alen, const char *b, size_t blen)
{
	a = skip_v(a, &alen);
	b = skip_v(b, &blen);
	return alen > 0 && alen == blen && !memcmp(a, b, alen);
}

/* "registry:5000/team/x:v2.0.0@sha256:…": the tag is after the last ':'
 * that follows the last '/', before any digest. */
static bool image_matches(const char *img, const char *target, size_t tlen)
{
	const char *at = strchr(img, '@');
	size_t n = at ? (size_t)(at - img) : strlen(img);
	const char *slash = NULL, *colon = NULL;

	if (same_version(img, n, target, tlen))
		return true;
	for (size_t i = 0; i < n; i++) {
		if (img[i] == '/')
			slash = img + i;
		else if (img[i] == ':')
			colon = img + i;
	}
	if (!colon || (slash && colon < slash))
		return false;
	return same_version(colon + 1, n - (size_t)(colon + 1 - img), target, tlen);
}

/* What the version fields of a JSON object say: 1 (one of them shows the
 * target), 0 (none does), or -1 (not a JSON object, or none of them is
 * there as a string or an integer: the body decides). */
static int json_verdict(const char *body, size_t len, const char *target, size_t tlen)
{
	static const char *const fields[] = { "version", "revision", "tag", "image" };
	json_t *root = json_loadb(body, len, 0, NULL);
	int verdict = -1;

	for (size_t i = 0; json_is_object(root) && i < RB_ARRAY_LEN(fields); i++) {
		const json_t *v = json_object_get(root, fields[i]);
		char num[32];

		if (json_is_integer(v)) {
			snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
			verdict = verdict == 1 || same_version(num, strlen(num), target, tlen);
		} else if (json_is_string(v)) {
			const char *s = json_string_value(v);
			bool hit = !strcmp(fields[i], "image") ?
					   image_matches(s, target, tlen) :
					   same_version(s, strlen(s), target, tlen);
			verdict = verdict == 1 || hit;
		}
	}
	json_decref(root);
	return verdict;
}

/* True when `core` (a version without its "v") occurs in body as a whole
 * token, with or without a "v" in front. */
static bool has_token(const char *body, size_t len, const char *core, size_t clen)
{
	for (size_t i = 0; i + clen <= len; i++) {
		size_t start = i;

		if (memcmp(body + i, core, clen) != 0)
			continue;
		if (i + clen < len && is_token_char(body[i + clen]))
			continue;
		if (start > 0 && (body[start - 1] == 'v' || body[start - 1] == 'V') &&
		    is_digit(core[0]))
			start--;
		if (start == 0 || !is_token_char(body[start - 1]))
			return true;
	}
	return false;
}

bool verify_version_matches(const char *body, size_t len, const char *target)
{
	size_t tlen = target ? strlen(target) : 0;
	size_t b = 0, e = len;
	const char *core;
	size_t clen = tlen;
	int verdict;

	if (!body || tlen == 0)
		return false;
	if (tlen == 1 && (target[0] == 'v' || target[0] == 'V'))
		return false; /* a bare "v" is no version */
	core = skip_v(target, &clen);
	while (b < e && is_blank(body[b]))
		b++;
	while (e > b && is_blank(body[e - 1]))
		e--;
	if (same_version(body + b, e - b, target, tlen))
		return true;
	verdict = b < e && body[b] == '{' ? json_verdict(body + b, e - b, target, tlen) : -1;
	if (verdict >= 0)
		return verdict == 1;
	return has_token(body, len, core, clen);
}

/* ---- numbers for people --------------------------------------------- */

static void put_str(char *out, size_t len, const char *fmt, ...) RB_PRINTF(3, 4);

static void put_str(char *out, size_t len, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	(void)put_cut(out, len, fmt, ap);
	va_end(ap);
}

void verify_format_ratio(double ratio, char *out, size_t len)
{
	double pct = ratio * 100.0;

	if (!isfinite(ratio) || ratio < 0)
		put_str(out, len, "n/a");
	else if (ratio == 0)
		put_str(out, len, "0%%");
	else if (round(pct * 100.0) < 100.0)
		put_str(out, len, "%.2f%%", pct);
	else if (round(pct * 10.0) < 100.0)
		put_str(out, len, "%.1f%%", pct);
	else
		put_str(out, len, "%.0f%%", pct);
}

void verify_format_seconds(double s, char *out, size_t len)
{
	if (!isfinite(s) || s < 0)
		put_str(out, len, "n/a");
	else if (round(s * 1000.0) < 1000.0)
		put_str(out, len, "%.0f ms", s * 1000.0);
	else if (round(s * 10.0) < 100.0)
		put_str(out, len, "%.1f s", s);
	else
		put_str(out, len, "%.0f s", s);
}

/* ---- one round ------------------------------------------------------ */

static const char *const check_names[VERIFY_CHECK_COUNT] = {
	"status", "health", "version", "error_rate", "latency",
};

static const char *const check_titles[VERIFY_CHECK_COUNT] = {
	"rollout status", "health check", "version", "error rate", "p99 latency",
};

const char *verify_check_name(enum verify_check c)
{
	return (unsigned)c < VERIFY_CHECK_COUNT ? check_names[c] : "";
}

const char *verify_check_title(enum verify_check c)
{
	return (unsigned)c < VERIFY_CHECK_COUNT ? check_titles[c] : "";
}

bool verify_round_passed(const struct verify_round *r)
{
	bool ran = false;

	for (int c = 0; c < VERIFY_CHECK_COUNT; c++) {
		if (r->outcome[c] == VERIFY_FAIL)
			return false;
		ran |= r->outcome[c] == VERIFY_PASS;
	}
	return ran;
}

enum verify_check verify_round_first_failure(const struct verify_round *r)
{
	int c = 0;

	while (c < VERIFY_CHECK_COUNT && r->outcome[c] != VERIFY_FAIL)
		c++;
	return (enum verify_check)c;
}

/* Appends to out[*used..len); false once something had to be cut. */
static bool append(char *out, size_t len, size_t *used, const char *fmt, ...) RB_PRINTF(4, 5);

static bool append(char *out, size_t len, size_t *used, const char *fmt, ...)
{
	va_list ap;
	bool whole;

	va_start(ap, fmt);
	whole = put_cut(out + *used, len - *used, fmt, ap);
	va_end(ap);
	*used += strlen(out + *used);
	return whole;
}

int verify_round_summary(const struct verify_round *r, char *out, size_t len)
{
	size_t used = 0;
	bool whole = true;

	if (!out || len == 0)
		return RB_ETOOBIG;
	out[0] = '\0';
	for (int c = 0; c < VERIFY_CHECK_COUNT && whole; c++) {
		/* A detail that fills its array has no NUL: never read past it. */
		int dlen = (int)strnlen(r->detail[c], VERIFY_DETAIL_MAX);

		if (r->outcome[c] != VERIFY_FAIL)
			continue;
		if (dlen > 0)
			whole = append(out, len, &used, "%s%s: %.*s", used ? "; " : "",
				       check_titles[c], dlen, r->detail[c]);
		else
			whole = append(out, len, &used, "%s%s failed", used ? "; " : "",
				       check_titles[c]);
	}
	return whole ? 0 : RB_ETOOBIG;
}
