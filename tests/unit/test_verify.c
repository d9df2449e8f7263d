/* rollbot — unit tests of commands/verify.c (MIT licence, see LICENSE).
 *
 * The bodies are what Prometheus 2.x and real version endpoints send, plus
 * what a proxy in front of them sends when things go wrong. Every reason
 * is asserted word for word: it ends up in the incident thread.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "commands/rb.h"
#include "commands/verify.h"

#define SUCCESS(data)  "{\"status\":\"success\",\"data\":" data "}"
#define VECTOR(result) SUCCESS("{\"resultType\":\"vector\",\"result\":[" result "]}")
#define SAMPLE(value)  "{\"metric\":{\"job\":\"payments-api\"},\"value\":[1781061129.402," value "]}"
#define SCALAR(value)  SUCCESS("{\"resultType\":\"scalar\",\"result\":[1781061129.402," value "]}")

/* ---- Prometheus ----------------------------------------------------- */

static void prom_ok(const char *body, double want)
{
	char err[RB_ERR_LEN];
	double v = -1;
	int rc = verify_prom_value(body, strlen(body), &v, err, sizeof err);

	if (rc != 0)
		fail_msg("verify_prom_value(%s) = %d: %s", body, rc, err);
	assert_string_equal(err, "");
	assert_true(v == want);
}

static void prom_err(const char *body, int want_rc, const char *want)
{
	char err[RB_ERR_LEN];
	double v = -1;
	int rc = verify_prom_value(body, strlen(body), &v, err, sizeof err);

	assert_int_equal(rc, want_rc);
	assert_string_equal(err, want);
	assert_null(strchr(err, '\n'));
	assert_true(v == -1); /* untouched on failure */
}

static void test_prom_vector_one_series(void **state)
{
	(void)state;
	prom_ok(VECTOR(SAMPLE("\"0.004\"")), 0.004);
}

static void test_prom_vector_several_series_takes_the_first(void **state)
{
	(void)state;
	prom_ok(VECTOR(SAMPLE("\"0.06\"") "," SAMPLE("\"0.9\"")), 0.06);
}

static void test_prom_scalar(void **state)
{
	(void)state;
	prom_ok(SCALAR("\"1.8\""), 1.8);
}

static void test_prom_exponent(void **state)
{
	(void)state;
	prom_ok(SCALAR("\"1e-3\""), 0.001);
	prom_ok(SCALAR("\"-2.5E+1\""), -25);
}

static void test_prom_zero(void **state)
{
	(void)state;
	prom_ok(VECTOR(SAMPLE("\"0\"")), 0);
}

static void test_prom_plus_inf_is_a_value(void **state)
{
	(void)state;
	/* histogram_quantile above the largest bucket: a failing value. */
	prom_ok(VECTOR(SAMPLE("\"+Inf\"")), INFINITY);
	prom_ok(SCALAR("\"-Inf\""), -INFINITY);
}

static void test_prom_value_as_json_number_is_accepted(void **state)
{
	(void)state;
	prom_ok(VECTOR(SAMPLE("0.004")), 0.004);
	prom_ok(SCALAR("2"), 2);
}

static void test_prom_answer_with_warnings_and_spaces(void **state)
{
	(void)state;
	prom_ok(" {\"status\" : \"success\", \"warnings\": [\"x\"], \"data\": {\"result\": "
		"[{\"metric\":{},\"value\":[1,\"0.5\"]}], \"resultType\": \"vector\"}}\n",
		0.5);
}

static void test_prom_empty_vector(void **state)
{
	(void)state;
	prom_err(VECTOR(""), VERIFY_ENODATA, "the query returned no data");
}

static void test_prom_nan(void **state)
{
	(void)state;
	prom_err(VECTOR(SAMPLE("\"NaN\"")), RB_EINVAL,
		 "the query returned NaN (no requests in the window, so no rate?)");
}

static void test_prom_status_error(void **state)
{
	(void)state;
	prom_err("{\"status\":\"error\",\"errorType\":\"bad_data\",\"error\":\"invalid parameter "
		 "\\\"query\\\": 1:5: parse error: unexpected <EOF>\"}",
		 RB_EINVAL,
		 "Prometheus refused the query: bad_data: invalid parameter \"query\": 1:5: parse "
		 "error: unexpected <EOF>");
}

static void test_prom_status_error_without_type(void **state)
{
	(void)state;
	prom_err("{\"status\":\"error\",\"error\":\"query timed out\"}", RB_EINVAL,
		 "Prometheus refused the query: query timed out");
}

static void test_prom_status_error_without_reason(void **state)
{
	(void)state;
	prom_err("{\"status\":\"error\"}", RB_EINVAL,
		 "Prometheus refused the query and gave no reason");
}

static void test_prom_error_text_is_one_line_and_cut(void **state)
{
	char body[600], want[300];
	char x[201];
	(void)state;
	memset(x, 'x', 200);
	x[200] = '\0';
	snprintf(body, sizeof body, "{\"status\":\"error\",\"error\":\"a\\nb\\tc %s\"}", x);
	snprintf(want, sizeof want, "Prometheus refused the query: a b c %.154s…", x);
	prom_err(body, RB_EINVAL, want);
}

static void test_prom_not_json(void **state)
{
	(void)state;
	prom_err(
		"<html>\n<head><title>502 Bad Gateway</title></head>\n<body>nginx</body>\n</html>\n",
		RB_EINVAL,
		"the answer is not JSON: \"<html> <head><title>502 Bad Gateway</title></head> "
		"<body>ngi…\"");
}

static void test_prom_not_json_bytes_are_shown_safely(void **state)
{
	(void)state;
	prom_err("\x01\xff ok", RB_EINVAL, "the answer is not JSON: \"?? ok\"");
}

static void test_prom_broken_json(void **state)
{
	(void)state;
	prom_err("{\"status\":\"success\"", RB_EINVAL,
		 "the answer is broken JSON: '}' expected near end of file (line 1, column 19)");
}

static void test_prom_empty_body(void **state)
{
	(void)state;
	prom_err("", RB_EINVAL, "the answer is empty");
}

static void test_prom_length_is_honoured(void **state)
{
	const char *body = SCALAR("\"1.8\"") "garbage";
	char err[RB_ERR_LEN];
	double v = 0;
	(void)state;
	assert_int_equal(verify_prom_value(body, strlen(SCALAR("\"1.8\"")), &v, err, sizeof err),
			 0);
	assert_true(v == 1.8);
}

static void test_prom_not_an_object(void **state)
{
	(void)state;
	prom_err("[1, \"0.1\"]", RB_EINVAL, "the answer is not a JSON object");
}

static void test_prom_missing_status(void **state)
{
	(void)state;
	prom_err("{\"data\":{}}", RB_EINVAL,
		 "the answer has no \"status\": is the URL a Prometheus /api/v1/query?");
}

static void test_prom_odd_status(void **state)
{
	(void)state;
	prom_err("{\"status\":\"pending\"}", RB_EINVAL,
		 "the answer's status is \"pending\", not \"success\"");
}

static void test_prom_missing_data(void **state)
{
	(void)state;
	prom_err("{\"status\":\"success\"}", RB_EINVAL, "the answer has no \"data\" object");
}

static void test_prom_missing_result_type(void **state)
{
	(void)state;
	prom_err(SUCCESS("{\"result\":[]}"), RB_EINVAL, "the answer has no \"resultType\"");
}

static void test_prom_missing_result(void **state)
{
	(void)state;
	prom_err(SUCCESS("{\"resultType\":\"vector\"}"), RB_EINVAL, "the answer has no \"result\"");
}

static void test_prom_result_not_a_list(void **state)
{
	(void)state;
	prom_err(SUCCESS("{\"resultType\":\"vector\",\"result\":{}}"), RB_EINVAL,
		 "the \"result\" is not a list");
}

static void test_prom_series_without_value(void **state)
{
	(void)state;
	prom_err(VECTOR("{\"metric\":{},\"values\":[[1,\"1\"]]}"), RB_EINVAL,
		 "the first series has no \"value\"");
}

static void test_prom_matrix(void **state)
{
	(void)state;
	prom_err(SUCCESS("{\"resultType\":\"matrix\",\"result\":[]}"), RB_EINVAL,
		 "the query returned a range of values (a matrix), not one: use an instant query");
}

static void test_prom_string_result(void **state)
{
	(void)state;
	prom_err(SUCCESS("{\"resultType\":\"string\",\"result\":[1,\"up\"]}"), RB_EINVAL,
		 "the query returned a string, not a number");
}

static void test_prom_value_not_a_pair(void **state)
{
	(void)state;
	prom_err(SUCCESS("{\"resultType\":\"scalar\",\"result\":[1]}"), RB_EINVAL,
		 "the sample is not a [time, value] pair");
	prom_err(VECTOR("{\"metric\":{},\"value\":\"0.1\"}"), RB_EINVAL,
		 "the sample is not a [time, value] pair");
}

static void test_prom_value_of_another_type(void **state)
{
	(void)state;
	prom_err(SCALAR("true"), RB_EINVAL, "the value is neither a string nor a number");
	prom_err(SCALAR("null"), RB_EINVAL, "the value is neither a string nor a number");
}

static void test_prom_value_strings_that_are_not_numbers(void **state)
{
	(void)state;
	prom_err(SCALAR("\"abc\""), RB_EINVAL, "the value \"abc\" is not a number");
	prom_err(SCALAR("\"\""), RB_EINVAL, "the value \"\" is not a number");
	prom_err(SCALAR("\"0x10\""), RB_EINVAL, "the value \"0x10\" is not a number");
	prom_err(SCALAR("\" 1\""), RB_EINVAL, "the value \" 1\" is not a number");
	prom_err(SCALAR("\"1.2.3\""), RB_EINVAL, "the value \"1.2.3\" is not a number");
	prom_err(SCALAR("\"infinity\""), RB_EINVAL, "the value \"infinity\" is not a number");
}

static void test_prom_small_error_buffer(void **state)
{
	char err[8];
	double v = 0;
	(void)state;
	assert_int_equal(verify_prom_value("", 0, &v, err, sizeof err), RB_EINVAL);
	assert_string_equal(err, "the ans");
	assert_int_equal(verify_prom_value("", 0, &v, NULL, 0), RB_EINVAL);
	assert_int_equal(verify_prom_value(NULL, 0, &v, err, sizeof err), RB_EINVAL);
}

static void test_prom_error_cut_keeps_utf8(void **state)
{
	const char *body = "{\"status\":\"error\",\"error\":\"é\"}";
	char err[32];
	double v = 0;
	(void)state;
	/* "Prometheus refused the query: é": the cut falls inside "é". */
	assert_int_equal(verify_prom_value(body, strlen(body), &v, err, 32), RB_EINVAL);
	assert_string_equal(err, "Prometheus refused the query: ");
}

/* ---- versions ------------------------------------------------------- */

static bool matches(const char *body, const char *target)
{
	return verify_version_matches(body, body ? strlen(body) : 0, target);
}

static void test_version_plain_body(void **state)
{
	(void)state;
	assert_true(matches("v2.0.0\n", "v2.0.0"));
	assert_true(matches("v2.0.0\n", "2.0.0"));
	assert_true(matches("  2.0.0\r\n", "v2.0.0"));
	assert_true(matches("V2.0.0", "2.0.0"));
	assert_false(matches("v2.1.0\n", "2.0.0"));
}

static void test_version_json_version_field(void **state)
{
	(void)state;
	assert_true(matches("{\"version\":\"2.0.0\"}", "2.0.0"));
	assert_true(matches("{\"version\":\"2.0.0\"}", "v2.0.0"));
	assert_true(matches("{\"service\":\"payments-api\",\"tag\":\"v2.0.0\"}", "2.0.0"));
	assert_false(matches("{\"version\":\"2.1.0\"}", "2.0.0"));
}

static void test_version_json_integer_revision(void **state)
{
	(void)state;
	assert_true(matches("{\"revision\":41}", "41"));
	assert_false(matches("{\"revision\":141}", "41"));
	assert_false(matches("{\"revision\":4}", "41"));
}

static void test_version_json_image(void **state)
{
	(void)state;
	assert_true(matches("{\"image\":\"registry/x:v2.0.0\"}", "2.0.0"));
	assert_true(matches("{\"image\":\"registry/x:v2.0.0\"}", "v2.0.0"));
	assert_true(
		matches("{\"image\":\"registry.example.com:5000/payments/api:2.0.0\"}", "v2.0.0"));
	assert_true(matches("{\"image\":\"registry/x:v2.0.0@sha256:0123abcd\"}", "2.0.0"));
	assert_true(matches("{\"image\":\"registry/x:v2.0.0\"}", "registry/x:v2.0.0"));
	assert_false(matches("{\"image\":\"registry/x:v2.1.0\"}", "2.0.0"));
	assert_false(matches("{\"image\":\"registry/x:v12.0.0\"}", "2.0.0"));
	/* The port is not a tag. */
	assert_false(matches("{\"image\":\"registry:5000/x\"}", "5000/x"));
	assert_false(matches("{\"image\":\"registry:41/x\"}", "41"));
}

static void test_version_json_fields_decide_alone(void **state)
{
	(void)state;
	/* 2.0.0 appears, but the service says it runs 2.1.0. */
	assert_false(matches("{\"version\":\"2.1.0\",\"previous\":\"2.0.0\"}", "2.0.0"));
	/* Any field that shows the target is enough. */
	assert_true(matches("{\"version\":\"1.2.3\",\"image\":\"x:v2.0.0\"}", "2.0.0"));
}

static void test_version_json_without_known_fields_is_searched(void **state)
{
	(void)state;
	assert_true(matches("{\"build\":{\"version\":\"2.0.0\"}}", "2.0.0"));
	assert_true(matches("{\"version\":null,\"app\":\"v2.0.0\"}", "2.0.0"));
	assert_false(matches("{\"build\":{\"version\":\"2.0.01\"}}", "2.0.0"));
	assert_true(matches("[\"2.0.0\"]", "2.0.0"));
	assert_true(matches("{\"version\": \"2.0.0\"", "2.0.0")); /* cut short: not JSON */
}

static void test_version_whole_token(void **state)
{
	(void)state;
	assert_true(matches("revision 41", "41"));
	assert_true(matches("build 41, deployed", "41"));
	assert_true(matches("running v41\n", "41"));
	assert_true(matches("41", "v41"));
	assert_true(matches("payments-api (41) up", "41"));
	assert_false(matches("141", "41"));
	assert_false(matches("41.1", "41"));
	assert_false(matches("revision 141", "41"));
	assert_false(matches("41-rc1", "41"));
	assert_false(matches("rev41", "41"));
	assert_false(matches("version: 2.0.0-rc1", "2.0.0"));
	assert_false(matches("version: 12.0.0", "2.0.0"));
}

static void test_version_v_only_before_a_digit(void **state)
{
	(void)state;
	assert_false(matches("victoria", "ictoria"));
	assert_false(matches("ictoria", "victoria"));
	assert_true(matches("release victoria", "victoria"));
}

static void test_version_empty_target_or_body(void **state)
{
	(void)state;
	assert_false(matches("v2.0.0", ""));
	assert_false(matches("v2.0.0", NULL));
	assert_false(matches("v2.0.0", "v"));
	assert_false(matches("", "2.0.0"));
	assert_false(matches(" \n", "2.0.0"));
	assert_false(matches(NULL, "2.0.0"));
}

static void test_version_length_is_honoured(void **state)
{
	(void)state;
	assert_false(verify_version_matches("v2.0.0", 3, "2.0.0"));
	assert_true(verify_version_matches("2.0.0 and more", 5, "2.0.0"));
	/* A NUL in the body is a byte like another. */
	assert_true(verify_version_matches("x\0 2.0.0", 8, "2.0.0"));
}

/* ---- numbers for people --------------------------------------------- */

static void ratio_is(double r, const char *want)
{
	char out[32];

	verify_format_ratio(r, out, sizeof out);
	assert_string_equal(out, want);
}

static void seconds_are(double s, const char *want)
{
	char out[32];

	verify_format_seconds(s, out, sizeof out);
	assert_string_equal(out, want);
}

static void test_format_ratio(void **state)
{
	(void)state;
	ratio_is(0.0012, "0.12%");
	ratio_is(0.004, "0.40%");
	ratio_is(0.06, "6.0%");
	ratio_is(0.01, "1.0%");
	ratio_is(0.123, "12%");
	ratio_is(1.0, "100%");
	ratio_is(0, "0%");
	ratio_is(-0.0, "0%");
}

static void test_format_ratio_tier_after_rounding(void **state)
{
	(void)state;
	ratio_is(0.0099999, "1.0%");
	ratio_is(0.0099, "0.99%");
	ratio_is(0.09999, "10%");
	ratio_is(0.0999, "10%");
	ratio_is(0.0994, "9.9%");
	ratio_is(0.00001, "0.00%");
}

static void test_format_ratio_not_a_ratio(void **state)
{
	(void)state;
	ratio_is(-0.01, "n/a");
	ratio_is(NAN, "n/a");
	ratio_is(INFINITY, "n/a");
}

static void test_format_seconds(void **state)
{
	(void)state;
	seconds_are(0.44, "440 ms");
	seconds_are(0, "0 ms");
	seconds_are(0.0004, "0 ms");
	seconds_are(1.8, "1.8 s");
	seconds_are(2, "2.0 s");
	seconds_are(12, "12 s");
	seconds_are(125.4, "125 s");
}

static void test_format_seconds_tier_after_rounding(void **state)
{
	(void)state;
	seconds_are(0.9996, "1.0 s");
	seconds_are(0.9994, "999 ms");
	seconds_are(9.96, "10 s");
	seconds_are(9.94, "9.9 s");
}

static void test_format_seconds_not_a_duration(void **state)
{
	(void)state;
	seconds_are(-1, "n/a");
	seconds_are(NAN, "n/a");
	seconds_are(INFINITY, "n/a");
}

static void test_format_small_buffers(void **state)
{
	char out[4] = "zzz";
	(void)state;
	verify_format_ratio(0.06, out, 3);
	assert_string_equal(out, "6.");
	verify_format_seconds(0.44, out, 1);
	assert_string_equal(out, "");
	verify_format_seconds(0.44, NULL, 0);
	verify_format_ratio(0.44, NULL, 0);
}

/* ---- one round ------------------------------------------------------ */

static void set(struct verify_round *r, enum verify_check c, enum verify_outcome o,
		const char *detail)
{
	r->outcome[c] = o;
	snprintf(r->detail[c], sizeof r->detail[c], "%s", detail);
}

static void test_check_names_and_titles(void **state)
{
	static const char *const names[] = { "status", "health", "version", "error_rate",
					     "latency" };
	static const char *const titles[] = { "rollout status", "health check", "version",
					      "error rate", "p99 latency" };
	(void)state;
	for (int c = 0; c < VERIFY_CHECK_COUNT; c++) {
		assert_string_equal(verify_check_name((enum verify_check)c), names[c]);
		assert_string_equal(verify_check_title((enum verify_check)c), titles[c]);
	}
	assert_string_equal(verify_check_name(VERIFY_CHECK_COUNT), "");
	assert_string_equal(verify_check_title((enum verify_check) - 1), "");
}

static void test_round_nothing_ran(void **state)
{
	struct verify_round r = { 0 };
	char out[64] = "x";
	(void)state;
	assert_false(verify_round_passed(&r));
	assert_int_equal(verify_round_first_failure(&r), VERIFY_CHECK_COUNT);
	assert_int_equal(verify_round_summary(&r, out, sizeof out), 0);
	assert_string_equal(out, "");
}

static void test_round_all_passed(void **state)
{
	struct verify_round r = { 0 };
	char out[64];
	(void)state;
	for (int c = 0; c < VERIFY_CHECK_COUNT; c++)
		set(&r, (enum verify_check)c, VERIFY_PASS, "fine");
	assert_true(verify_round_passed(&r));
	assert_int_equal(verify_round_first_failure(&r), VERIFY_CHECK_COUNT);
	assert_int_equal(verify_round_summary(&r, out, sizeof out), 0);
	assert_string_equal(out, "");
}

static void test_round_one_passed_rest_not_run(void **state)
{
	struct verify_round r = { 0 };
	(void)state;
	set(&r, VERIFY_HEALTH, VERIFY_PASS, "HTTP 200");
	assert_true(verify_round_passed(&r));
}

static void test_round_with_failures(void **state)
{
	struct verify_round r = { 0 };
	char out[200];
	(void)state;
	set(&r, VERIFY_STATUS, VERIFY_PASS, "3/3 replicas ready");
	set(&r, VERIFY_HEALTH, VERIFY_FAIL, "HTTP 503");
	set(&r, VERIFY_VERSION, VERIFY_PASS, "v2.0.0 is running");
	set(&r, VERIFY_ERROR_RATE, VERIFY_FAIL, "6.0% (threshold 1.0%)");
	r.value[VERIFY_ERROR_RATE] = 0.06;
	assert_false(verify_round_passed(&r));
	assert_int_equal(verify_round_first_failure(&r), VERIFY_HEALTH);
	assert_int_equal(verify_round_summary(&r, out, sizeof out), 0);
	assert_string_equal(out, "health check: HTTP 503; error rate: 6.0% (threshold 1.0%)");
}

static void test_round_failure_without_detail(void **state)
{
	struct verify_round r = { 0 };
	char out[200];
	(void)state;
	set(&r, VERIFY_VERSION, VERIFY_FAIL, "");
	set(&r, VERIFY_LATENCY, VERIFY_FAIL, "2.4 s (threshold 2.0 s)");
	assert_int_equal(verify_round_first_failure(&r), VERIFY_VERSION);
	assert_int_equal(verify_round_summary(&r, out, sizeof out), 0);
	assert_string_equal(out, "version failed; p99 latency: 2.4 s (threshold 2.0 s)");
}

static void test_round_summary_cut(void **state)
{
	struct verify_round r = { 0 };
	char out[20];
	(void)state;
	set(&r, VERIFY_HEALTH, VERIFY_FAIL, "HTTP 503");
	set(&r, VERIFY_LATENCY, VERIFY_FAIL, "2.4 s");
	assert_int_equal(verify_round_summary(&r, out, sizeof out), RB_ETOOBIG);
	assert_string_equal(out, "health check: HTTP ");
	/* Exactly enough room. */
	char fit[sizeof "health check: HTTP 503; p99 latency: 2.4 s"];
	assert_int_equal(verify_round_summary(&r, fit, sizeof fit), 0);
	assert_string_equal(fit, "health check: HTTP 503; p99 latency: 2.4 s");
	assert_int_equal(verify_round_summary(&r, fit, sizeof fit - 1), RB_ETOOBIG);
	assert_string_equal(fit, "health check: HTTP 503; p99 latency: 2.4 ");
	assert_int_equal(verify_round_summary(&r, NULL, 0), RB_ETOOBIG);
}

static void test_round_summary_cut_keeps_utf8(void **state)
{
	struct verify_round r = { 0 };
	char out[sizeof "version: é"];
	(void)state;
	set(&r, VERIFY_VERSION, VERIFY_FAIL, "é…");
	/* Room for "version: " and one byte of "é": the whole "é" goes. */
	assert_int_equal(verify_round_summary(&r, out, sizeof "version: é" - 1), RB_ETOOBIG);
	assert_string_equal(out, "version: ");
}

static void test_round_summary_detail_without_nul(void **state)
{
	struct verify_round r = { 0 };
	char out[400];
	(void)state;
	r.outcome[VERIFY_HEALTH] = VERIFY_FAIL;
	memset(r.detail[VERIFY_HEALTH], 'x', sizeof r.detail[VERIFY_HEALTH]);
	r.outcome[VERIFY_VERSION] = VERIFY_FAIL;
	snprintf(r.detail[VERIFY_VERSION], sizeof r.detail[VERIFY_VERSION], "v2.1.0");
	assert_int_equal(verify_round_summary(&r, out, sizeof out), 0);
	assert_int_equal(strlen(out), strlen("health check: ") + VERIFY_DETAIL_MAX +
					      strlen("; version: v2.1.0"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prom_vector_one_series),
		cmocka_unit_test(test_prom_vector_several_series_takes_the_first),
		cmocka_unit_test(test_prom_scalar),
		cmocka_unit_test(test_prom_exponent),
		cmocka_unit_test(test_prom_zero),
		cmocka_unit_test(test_prom_plus_inf_is_a_value),
		cmocka_unit_test(test_prom_value_as_json_number_is_accepted),
		cmocka_unit_test(test_prom_answer_with_warnings_and_spaces),
		cmocka_unit_test(test_prom_empty_vector),
		cmocka_unit_test(test_prom_nan),
		cmocka_unit_test(test_prom_status_error),
		cmocka_unit_test(test_prom_status_error_without_type),
		cmocka_unit_test(test_prom_status_error_without_reason),
		cmocka_unit_test(test_prom_error_text_is_one_line_and_cut),
		cmocka_unit_test(test_prom_not_json),
		cmocka_unit_test(test_prom_not_json_bytes_are_shown_safely),
		cmocka_unit_test(test_prom_broken_json),
		cmocka_unit_test(test_prom_empty_body),
		cmocka_unit_test(test_prom_length_is_honoured),
		cmocka_unit_test(test_prom_not_an_object),
		cmocka_unit_test(test_prom_missing_status),
		cmocka_unit_test(test_prom_odd_status),
		cmocka_unit_test(test_prom_missing_data),
		cmocka_unit_test(test_prom_missing_result_type),
		cmocka_unit_test(test_prom_missing_result),
		cmocka_unit_test(test_prom_result_not_a_list),
		cmocka_unit_test(test_prom_series_without_value),
		cmocka_unit_test(test_prom_matrix),
		cmocka_unit_test(test_prom_string_result),
		cmocka_unit_test(test_prom_value_not_a_pair),
		cmocka_unit_test(test_prom_value_of_another_type),
		cmocka_unit_test(test_prom_value_strings_that_are_not_numbers),
		cmocka_unit_test(test_prom_small_error_buffer),
		cmocka_unit_test(test_prom_error_cut_keeps_utf8),
		cmocka_unit_test(test_version_plain_body),
		cmocka_unit_test(test_version_json_version_field),
		cmocka_unit_test(test_version_json_integer_revision),
		cmocka_unit_test(test_version_json_image),
		cmocka_unit_test(test_version_json_fields_decide_alone),
		cmocka_unit_test(test_version_json_without_known_fields_is_searched),
		cmocka_unit_test(test_version_whole_token),
		cmocka_unit_test(test_version_v_only_before_a_digit),
		cmocka_unit_test(test_version_empty_target_or_body),
		cmocka_unit_test(test_version_length_is_honoured),
		cmocka_unit_test(test_format_ratio),
		cmocka_unit_test(test_format_ratio_tier_after_rounding),
		cmocka_unit_test(test_format_ratio_not_a_ratio),
		cmocka_unit_test(test_format_seconds),
		cmocka_unit_test(test_format_seconds_tier_after_rounding),
		cmocka_unit_test(test_format_seconds_not_a_duration),
		cmocka_unit_test(test_format_small_buffers),
		cmocka_unit_test(test_check_names_and_titles),
		cmocka_unit_test(test_round_nothing_ran),
		cmocka_unit_test(test_round_all_passed),
		cmocka_unit_test(test_round_one_passed_rest_not_run),
		cmocka_unit_test(test_round_with_failures),
		cmocka_unit_test(test_round_failure_without_detail),
		cmocka_unit_test(test_round_summary_cut),
		cmocka_unit_test(test_round_summary_cut_keeps_utf8),
		cmocka_unit_test(test_round_summary_detail_without_nul),
	};
	int failed = cmocka_run_group_tests_name("verify", tests, NULL, NULL);

	return failed ? 1 : 0;
}
