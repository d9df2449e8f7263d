/* rollbot — the rollback's target, from the tool's history (MIT licence, see LICENSE).
 *
 * When no --to is given, plan_resolve_step's command lists the history
 * (kubectl rollout history, helm history, aws lambda get-alias) and the
 * parsers here choose the target from its output; the shell records it
 * before plan_build uses it. An output they do not understand is refused
 * (PLAN_EPARSE), never guessed at, and a history with nothing to go back
 * to is PLAN_ENOTARGET. plan_current.c reads the same output for the
 * report. Split out of plan.c (plan_int.h). Pure.
 */
#include <jansson.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan_int.h"

/* ---- reading the history ----------------------------------------------- */

/* Writes a revision number into target[len]. */
static int put_target(unsigned long rev, char *target, size_t len, char *err, size_t errlen)
{
	char b[24];

	snprintf(b, sizeof b, "%lu", rev);
	if (!target || rb_strlcpy(target, b, len) != 0)
		return plan_fail(err, errlen, RB_ETOOBIG, "the target buffer is too small");
	return 0;
}

/* Reads a revision at s: 1-9 digits without a leading zero, followed by
 * end, space or tab. Returns the number of digits, or 0. */
static size_t revision_at(const char *s, size_t n, unsigned long *rev)
{
	size_t d = 0;

	while (d < n && plan_is_digit(s[d]))
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
		return plan_fail(err, errlen, PLAN_EPARSE, "no rollout history output");
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
		while (n && plan_in_set(s[n - 1], " \t\r"))
			n--;
		if (!n)
			continue;
		if (!header) {
			header = n >= 8 && !strncmp(s, "REVISION", 8) &&
				 (n == 8 || s[8] == ' ' || s[8] == '\t');
			continue;
		}
		if (!revision_at(s, n, &rev))
			return plan_fail(err, errlen, PLAN_EPARSE,
				    "rollout history line %d does not start with a revision number",
				    lineno);
		if (rev == top || rev == second)
			return plan_fail(err, errlen, PLAN_EPARSE,
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
		return plan_fail(err, errlen, PLAN_EPARSE,
			    "no REVISION header: this is not `kubectl rollout history` output");
	if (rows == 0)
		return plan_fail(err, errlen, PLAN_ENOTARGET,
			    "nothing to roll back to: the rollout history is empty");
	if (rows == 1)
		return plan_fail(err, errlen, PLAN_ENOTARGET,
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
		plan_fail(err, errlen, PLAN_EPARSE, "no %s output", what);
		return NULL;
	}
	j = json_loads(out, JSON_REJECT_DUPLICATES, &jerr);
	if (!j)
		plan_fail(err, errlen, PLAN_EPARSE, "%s output is not JSON (line %d, column %d)", what,
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
		return plan_fail(err, errlen, PLAN_EPARSE,
			    "helm history output is not a JSON array of revisions");
	}
	json_array_foreach (root, i, e) {
		json_t *r = json_object_get(e, "revision");
		const char *st = json_string_value(json_object_get(e, "status"));
		json_int_t rev = json_is_integer(r) ? json_integer_value(r) : 0;

		if (!json_is_object(e) || rev < 1 || rev > 999999999 || !st) {
			rc = plan_fail(err, errlen, PLAN_EPARSE,
				  "helm history entry %zu has no valid revision and status", i + 1);
			goto done;
		}
		for (size_t j = 0; j < i; j++) {
			if (json_integer_value(
				    json_object_get(json_array_get(root, j), "revision")) == rev) {
				rc = plan_fail(err, errlen, PLAN_EPARSE,
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
		rc = plan_fail(err, errlen, PLAN_ENOTARGET,
			  "nothing to roll back to: the release has no history");
		goto done;
	}
	if (n_deployed == 0) {
		rc = plan_fail(err, errlen, PLAN_ENOTARGET,
			  "no revision of the release is deployed (the newest, %lld, is %s): "
			  "choose the revision with --to",
			  (long long)newest, plan_clip(newest_status, b, sizeof b));
		goto done;
	}
	if (n_deployed > 1) {
		rc = plan_fail(err, errlen, PLAN_EPARSE, "helm history marks %zu revisions as deployed",
			  n_deployed);
		goto done;
	}
	if (newest != deployed) {
		rc = plan_fail(err, errlen, PLAN_ENOTARGET,
			  "the newest revision, %lld, is %s while revision %lld is still deployed: "
			  "choose the revision with --to",
			  (long long)newest, plan_clip(newest_status, b, sizeof b), (long long)deployed);
		goto done;
	}
	json_array_foreach (root, i, e) {
		json_int_t rev = json_integer_value(json_object_get(e, "revision"));
		const char *st = json_string_value(json_object_get(e, "status"));

		if (rev < deployed && rev > best && !strcmp(st, "superseded"))
			best = rev;
	}
	if (!best) {
		rc = plan_fail(err, errlen, PLAN_ENOTARGET,
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
		rc = plan_fail(err, errlen, PLAN_EPARSE, "the alias has no FunctionVersion");
	} else if (!strcmp(fv, "$LATEST")) {
		rc = plan_fail(err, errlen, PLAN_ENOTARGET,
			  "the alias points at $LATEST, which has no previous version: choose "
			  "the version with --to");
	} else if (!plan_target_valid(PLAN_TARGET_REVISION, fv)) {
		rc = plan_fail(err, errlen, PLAN_EPARSE, "the alias's FunctionVersion is not a number");
	} else if (json_is_object(weights) && json_object_size(weights) > 0) {
		rc = plan_fail(err, errlen, PLAN_ENOTARGET,
			  "the alias splits traffic between version %s and others (weighted "
			  "alias): choose the version with --to",
			  fv);
	} else if (!strcmp(fv, "1")) {
		rc = plan_fail(err, errlen, PLAN_ENOTARGET,
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
		return plan_fail(err, errlen, PLAN_EINVAL,
			    "this rollback method has no target to resolve");
	}
}
