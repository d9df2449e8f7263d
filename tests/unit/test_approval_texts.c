/* rollbot — unit tests of the approval messages' templates (MIT licence,
 * see LICENSE): the built-in approval_request, plan_changed and
 * no_approvers as the shell fills them (issue 11, items 3 and 4).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "bot/tmpl.h"

static char *render(const char *name, const char *data_json)
{
	struct tmpl_set *ts;
	char err[256];
	json_t *data = json_loads(data_json, 0, NULL);
	char *out;

	assert_non_null(data);
	assert_int_equal(tmpl_load(NULL, &ts, err, sizeof err), 0);
	out = tmpl_render(ts, name, data);
	assert_non_null(out);
	json_decref(data);
	tmpl_free(ts);
	return out;
}

#define REQUEST_DATA(approvers, none)                                                       \
	"{\"service\": \"payments-api\", \"target\": \"revision 41\", \"id\": \"INC-2026-0001\","  \
	" \"severity\": \"P1\", \"approvers\": \"" approvers "\", \"no_approvers\": " none ","   \
	" \"needed\": 1, \"needed_plural\": false, \"timeout\": \"15 minutes\","                 \
	" \"method_title\": \"Kubernetes rolling rollback\", \"plan\": \"1. `kubectl`\"}"

/* The issue: ": react ✅ to approve…" with nobody before it. */
static void request_never_names_nobody(void **state)
{
	char *named = render("approval_request", REQUEST_DATA("<@U03ASM1TH7Q>", "false"));
	char *nobody = render("approval_request", REQUEST_DATA("", "true"));

	(void)state;
	assert_non_null(strstr(named, "\n<@U03ASM1TH7Q>: react ✅ to approve or ❌ to reject. 1 "
				      "approval needed; this request expires in 15 minutes.\n"));
	assert_null(strstr(nobody, ": react ✅"));
	assert_non_null(strstr(nobody, "\n⚠️ *Nobody can approve this request*: 1 approval needed "
				       "and no approver is left once the requester is counted out."));
	free(named);
	free(nobody);
}

static void plan_changed_says_what_and_asks_again(void **state)
{
	char *t = render("plan_changed",
			 "{\"changes\": \"\\n• was: `a --timeout=1s`\\n• now: `a --timeout=2s & <x>`\"}");

	(void)state;
	assert_string_equal(t, "🔄 *The plan changed since it was approved*, so nothing has run "
			       "and that approval no longer counts. What changed:\n• was: `a "
			       "--timeout=1s`\n• now: `a --timeout=2s &amp; &lt;x&gt;`\nA new "
			       "approval is needed: the request with the new plan follows.\n");
	free(t);
}

static void no_approvers_says_why_and_what_to_do(void **state)
{
	char *t = render("no_approvers", "{\"service\": \"payments-api\", \"id\": \"INC-2026-0001\","
					 " \"unreachable\": \"*payments-api* needs 1 approval.\"}");

	(void)state;
	assert_string_equal(t, "🔴 *Nobody can approve the rollback of payments-api*, so no "
			       "approval request was posted: it could only expire. Nothing was "
			       "run, and INC-2026-0001 is closed as failed.\n*payments-api* needs 1 "
			       "approval.\n");
	free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(request_never_names_nobody),
		cmocka_unit_test(plan_changed_says_what_and_asks_again),
		cmocka_unit_test(no_approvers_says_why_and_what_to_do),
	};

	return cmocka_run_group_tests_name("approval_texts", tests, NULL, NULL);
}
