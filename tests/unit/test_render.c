/* rollbot — tests for commands/render.c (MIT licence, see LICENSE).
 *
 * Two cmocka groups. "mustache spec" runs every case of every .json file
 * in the official spec, vendored in tests/mustache-spec (found from the top
 * of the repository, where tests/run.sh runs this; $RB_MUSTACHE_SPEC_DIR
 * names another folder), one registered test per case named
 * "file: case name", with HTML escaping and exact output; a failure prints
 * the template, the expected and the actual output with escapes visible.
 * A folder without spec files is one failed test, never a skip.
 * "render" holds rollbot's own cases, one behaviour each: Slack escaping,
 * error messages with line and column, the partial recursion guard, the
 * output ceiling and tpl_check.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands/render.h"

#define SPEC_DIR_DEFAULT "tests/mustache-spec"

/* One spec case: the test object is borrowed from its file's root, which
 * lives until main frees it. */
struct spec_case {
	char *name;
	json_t *test;
	char *load_error; /* set instead of test when the file did not load */
};

/* Partial lookup over a JSON object of name → text (borrowed). */
static const char *json_partial(void *arg, const char *name)
{
	return json_string_value(json_object_get(arg, name));
}

/* Appends s as a C string literal so that newlines, CRs and tabs show. */
static void quote(struct rb_buf *b, const char *s)
{
	int rc = rb_buf_puts(b, "\"");

	for (; *s && rc == 0; s++) {
		switch (*s) {
		case '\n':
			rc = rb_buf_puts(b, "\\n");
			break;
		case '\r':
			rc = rb_buf_puts(b, "\\r");
			break;
		case '\t':
			rc = rb_buf_puts(b, "\\t");
			break;
		case '"':
			rc = rb_buf_puts(b, "\\\"");
			break;
		case '\\':
			rc = rb_buf_puts(b, "\\\\");
			break;
		default:
			rc = rb_buf_append(b, s, 1);
			break;
		}
	}
	if (rc == 0)
		rc = rb_buf_puts(b, "\"");
	assert_int_equal(rc, 0);
}

static void spec_case_test(void **state)
{
	const struct spec_case *c = *state;
	const char *tpl, *expected;
	struct rb_buf out, msg;
	char err[RB_ERR_LEN];
	char *got;
	int rc;

	if (c->load_error)
		fail_msg("%s", c->load_error);
	tpl = json_string_value(json_object_get(c->test, "template"));
	expected = json_string_value(json_object_get(c->test, "expected"));
	if (!tpl || !expected)
		fail_msg("%s: case has no template or expected string", c->name);

	rb_buf_init(&out, RB_HTTP_BODY_MAX);
	rc = tpl_render(tpl, json_object_get(c->test, "data"), TPL_ESC_HTML, json_partial,
			json_object_get(c->test, "partials"), &out, err, sizeof err);
	got = rb_buf_steal(&out);
	if (rc == 0 && strcmp(got, expected) == 0) {
		free(got);
		return;
	}
	rb_buf_init(&msg, RB_HTTP_BODY_MAX);
	assert_int_equal(rb_buf_printf(&msg, "FAILED %s\n  template: ", c->name), 0);
	quote(&msg, tpl);
	assert_int_equal(rb_buf_puts(&msg, "\n  expected: "), 0);
	quote(&msg, expected);
	if (rc == 0) {
		assert_int_equal(rb_buf_puts(&msg, "\n  got:      "), 0);
		quote(&msg, got);
	} else {
		assert_int_equal(rb_buf_printf(&msg, "\n  error %d: %s", rc, err), 0);
	}
	free(got);
	print_error("%s\n", rb_buf_str(&msg));
	rb_buf_free(&msg);
	fail();
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Lists the .json files of dir, sorted so that runs are comparable. The
 * caller frees each name and the array. Returns -1 when dir cannot be
 * opened. */
static int list_spec_files(const char *dir, char ***names, size_t *n)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t cap = 0;

	*names = NULL;
	*n = 0;
	if (!d)
		return -1;
	for (de = readdir(d); de; de = readdir(d)) {
		size_t len = strlen(de->d_name);

		if (len <= 5 || strcmp(de->d_name + len - 5, ".json") != 0)
			continue;
		if (*n == cap) {
			cap = cap ? cap * 2 : 8;
			*names = rb_realloc(*names, cap * sizeof **names);
		}
		(*names)[(*n)++] = rb_strdup(de->d_name);
	}
	closedir(d);
	if (*n)
		qsort(*names, *n, sizeof **names, cmp_str);
	return 0;
}

/* Loads every spec file and runs one cmocka test per case. Returns the
 * number of failed tests (a missing or empty folder is one). */
static int run_spec(void)
{
	const char *dir = getenv("RB_MUSTACHE_SPEC_DIR");
	char **files;
	size_t nfiles, i, k, ncases = 0, cap = 0;
	json_t **roots;
	struct spec_case *cases = NULL;
	struct CMUnitTest *tests;
	int failed;

	if (!dir || !*dir)
		dir = SPEC_DIR_DEFAULT;
	if (list_spec_files(dir, &files, &nfiles) < 0 || nfiles == 0) {
		/* The spec is part of the repository: not finding it is a
		 * failure (run from the top of the repository), not a skip. */
		struct spec_case missing = { NULL, NULL, NULL };
		struct CMUnitTest t = { 0 };

		missing.name = rb_strdup("(folder)");
		missing.load_error = rb_asprintf("%s: no spec files (*.json) found", dir);
		t.name = missing.name;
		t.test_func = spec_case_test;
		t.initial_state = &missing;
		failed = _cmocka_run_group_tests("mustache spec", &t, 1, NULL, NULL);
		free(missing.name);
		free(missing.load_error);
		free(files);
		return failed;
	}
	roots = rb_calloc(nfiles, sizeof *roots);
	for (i = 0; i < nfiles; i++) {
		char *path = rb_asprintf("%s/%s", dir, files[i]);
		size_t stem = strlen(files[i]) - 5;
		json_error_t jerr;
		json_t *list;

		roots[i] = json_load_file(path, 0, &jerr);
		list = json_object_get(roots[i], "tests");
		if (!json_is_array(list) || json_array_size(list) == 0) {
			/* A file that does not load still shows up, as one
			 * failing test, rather than silently shrinking the
			 * count. */
			if (ncases == cap) {
				cap = cap ? cap * 2 : 64;
				cases = rb_realloc(cases, cap * sizeof *cases);
			}
			cases[ncases].name = rb_asprintf("%.*s: (file)", (int)stem, files[i]);
			cases[ncases].test = NULL;
			if (roots[i])
				cases[ncases].load_error =
					rb_asprintf("%s: no \"tests\" list", path);
			else
				cases[ncases].load_error =
					rb_asprintf("%s: line %d: %s", path, jerr.line, jerr.text);
			ncases++;
			free(path);
			continue;
		}
		for (k = 0; k < json_array_size(list); k++) {
			json_t *tc = json_array_get(list, k);
			const char *name = json_string_value(json_object_get(tc, "name"));

			if (ncases == cap) {
				cap = cap ? cap * 2 : 64;
				cases = rb_realloc(cases, cap * sizeof *cases);
			}
			cases[ncases].name = rb_asprintf("%.*s: %s", (int)stem, files[i],
							 name ? name : "(unnamed)");
			cases[ncases].test = tc;
			cases[ncases].load_error = NULL;
			ncases++;
		}
		free(path);
	}

	tests = rb_calloc(ncases, sizeof *tests);
	for (i = 0; i < ncases; i++) {
		tests[i].name = cases[i].name;
		tests[i].test_func = spec_case_test;
		tests[i].initial_state = &cases[i];
	}
	failed = _cmocka_run_group_tests("mustache spec", tests, ncases, NULL, NULL);

	free(tests);
	for (i = 0; i < ncases; i++) {
		free(cases[i].name);
		free(cases[i].load_error);
	}
	free(cases);
	for (i = 0; i < nfiles; i++) {
		json_decref(roots[i]);
		free(files[i]);
	}
	free(roots);
	free(files);
	return failed;
}

/* Renders tpl with data given as JSON text, expecting success, and checks
 * the output. */
static void expect_render(const char *tpl, const char *data_json, enum tpl_escape esc,
			  const char *expected)
{
	json_t *data = json_loads(data_json, JSON_DECODE_ANY, NULL);
	struct rb_buf out;
	char err[RB_ERR_LEN];
	int rc;

	assert_non_null(data);
	rb_buf_init(&out, RB_ACK_MAX);
	rc = tpl_render(tpl, data, esc, NULL, NULL, &out, err, sizeof err);
	json_decref(data);
	if (rc != 0) {
		rb_buf_free(&out);
		fail_msg("render failed (%d): %s", rc, err);
	}
	if (strcmp(rb_buf_str(&out), expected) != 0) {
		print_error("expected \"%s\"\n     got \"%s\"\n", expected, rb_buf_str(&out));
		rb_buf_free(&out);
		fail();
	}
	rb_buf_free(&out);
}

/* Renders tpl with no data, expecting failure with code rc and message
 * want in err. */
static void expect_error(const char *tpl, int want_rc, const char *want_err)
{
	struct rb_buf out;
	char err[RB_ERR_LEN];
	int rc;

	rb_buf_init(&out, RB_ACK_MAX);
	rc = tpl_render(tpl, NULL, TPL_ESC_SLACK, NULL, NULL, &out, err, sizeof err);
	rb_buf_free(&out);
	assert_int_equal(rc, want_rc);
	assert_string_equal(err, want_err);
}

static void test_slack_escapes_amp_lt_gt_only(void **state)
{
	(void)state;
	expect_render("{{x}}", "{\"x\": \"a & b <c> \\\"q\\\" 'r'\"}", TPL_ESC_SLACK,
		      "a &amp; b &lt;c&gt; \"q\" 'r'");
}

static void test_slack_triple_mustache_is_raw(void **state)
{
	(void)state;
	expect_render("{{{x}}}|{{&x}}", "{\"x\": \"<@U123> & <#C9|ops>\"}", TPL_ESC_SLACK,
		      "<@U123> & <#C9|ops>|<@U123> & <#C9|ops>");
}

static void test_html_escapes_quotes_and_apostrophe(void **state)
{
	struct rb_buf out;

	(void)state;
	rb_buf_init(&out, 64);
	assert_int_equal(tpl_escape(&out, "<a href=\"x\">it's & so</a>", TPL_ESC_HTML), 0);
	assert_string_equal(rb_buf_str(&out),
			    "&lt;a href=&quot;x&quot;&gt;it&#39;s &amp; so&lt;/a&gt;");
	rb_buf_free(&out);
}

static void test_none_escapes_nothing(void **state)
{
	(void)state;
	expect_render("{{x}}", "{\"x\": \"<&>\\\"'\"}", TPL_ESC_NONE, "<&>\"'");
}

static void test_numbers_in_shortest_form(void **state)
{
	(void)state;
	expect_render("{{i}} {{n}} {{r}} {{big}} {{t}} {{f}}",
		      "{\"i\": 9007199254740993, \"n\": -42, \"r\": 0.1, "
		      "\"big\": 1e21, \"t\": true, \"f\": false}",
		      TPL_ESC_SLACK, "9007199254740993 -42 0.1 1e+21 true false");
}

static void test_empty_string_is_truthy(void **state)
{
	(void)state;
	expect_render("[{{#s}}yes{{/s}}{{^s}}no{{/s}}]", "{\"s\": \"\"}", TPL_ESC_SLACK, "[yes]");
}

static void test_null_data_renders_names_empty(void **state)
{
	struct rb_buf out;
	char err[RB_ERR_LEN];

	(void)state;
	rb_buf_init(&out, 64);
	assert_int_equal(tpl_render("a{{x}}b{{^x}}c{{/x}}{{>p}}", NULL, TPL_ESC_SLACK, NULL, NULL,
				    &out, err, sizeof err),
			 0);
	assert_string_equal(rb_buf_str(&out), "abc");
	rb_buf_free(&out);
}

static void test_error_unclosed_tag(void **state)
{
	(void)state;
	expect_error("Hello\n  {{name", TPL_EPARSE,
		     "line 2, column 3: unclosed tag: no '}}' after '{{'");
}

static void test_error_unclosed_triple_mustache(void **state)
{
	(void)state;
	expect_error("a {{{raw}} b", TPL_EPARSE,
		     "line 1, column 3: unclosed tag: no '}}}' after '{{{'");
}

static void test_error_unclosed_section(void **state)
{
	(void)state;
	expect_error("start\n\n  {{#items}}\n- {{name}}\n", TPL_EPARSE,
		     "line 3, column 3: unclosed section 'items'");
}

static void test_error_mismatched_close(void **state)
{
	(void)state;
	expect_error("{{#a}}\n x {{/b}}", TPL_EPARSE,
		     "line 2, column 4: mismatched closing tag '/b': section 'a' "
		     "opened at line 1, column 1 is still open");
}

static void test_error_close_without_open(void **state)
{
	(void)state;
	expect_error("one {{/a}}", TPL_EPARSE,
		     "line 1, column 5: closing tag '/a' without an open section");
}

static void test_error_bad_delimiter(void **state)
{
	(void)state;
	expect_error("x\n{{=<%=}}", TPL_EPARSE,
		     "line 2, column 1: bad delimiter tag: expected '{{=open close=}}' "
		     "with two delimiters without spaces or '='");
}

static void test_error_empty_name(void **state)
{
	(void)state;
	expect_error("a {{ }}", TPL_EPARSE, "line 1, column 3: empty tag name");
}

static void test_error_sections_nested_too_deep(void **state)
{
	struct rb_buf tpl;
	char err[RB_ERR_LEN];
	int i;

	(void)state;
	rb_buf_init(&tpl, 4096);
	for (i = 0; i < 65; i++)
		assert_int_equal(rb_buf_puts(&tpl, "{{#a}}"), 0);
	assert_int_equal(tpl_check(rb_buf_str(&tpl), err, sizeof err), TPL_EPARSE);
	assert_string_equal(err, "line 1, column 385: sections nested deeper than 64");
	rb_buf_free(&tpl);
}

static const char *one_partial(void *arg, const char *name)
{
	const char *const *kv = arg;

	return strcmp(name, kv[0]) == 0 ? kv[1] : NULL;
}

static void test_error_in_partial_names_it(void **state)
{
	const char *kv[] = { "footer", "ok\n{{#x}}" };
	struct rb_buf out;
	char err[RB_ERR_LEN];

	(void)state;
	rb_buf_init(&out, 256);
	assert_int_equal(tpl_render("body\n  {{>footer}}\n", NULL, TPL_ESC_SLACK, one_partial, kv,
				    &out, err, sizeof err),
			 TPL_EPARSE);
	/* The column is the one in the partial's own text, before the
	 * standalone indentation was added. */
	assert_string_equal(err, "partial 'footer': line 2, column 1: unclosed section 'x'");
	rb_buf_free(&out);
}

static void test_partial_recursion_guard(void **state)
{
	const char *kv[] = { "loop", "x{{>loop}}" };
	struct rb_buf out;
	char err[RB_ERR_LEN];

	(void)state;
	rb_buf_init(&out, RB_ACK_MAX);
	assert_int_equal(tpl_render("{{>loop}}", NULL, TPL_ESC_SLACK, one_partial, kv, &out, err,
				    sizeof err),
			 TPL_EDEPTH);
	assert_string_equal(err, "partial 'loop': line 1, column 2: partial 'loop' "
				 "nested deeper than 64 (does it include itself?)");
	rb_buf_free(&out);
}

static void test_output_ceiling(void **state)
{
	json_t *data = json_pack("{s:s}", "x", "0123456789");
	struct rb_buf out;
	char err[RB_ERR_LEN];

	(void)state;
	rb_buf_init(&out, 8);
	assert_int_equal(
		tpl_render("ab\n{{x}}", data, TPL_ESC_SLACK, NULL, NULL, &out, err, sizeof err),
		TPL_ETOOBIG);
	assert_string_equal(err, "line 2, column 1: output past the buffer's ceiling of 8 bytes");
	json_decref(data);
	rb_buf_free(&out);
}

static void test_output_exactly_at_ceiling(void **state)
{
	json_t *data = json_pack("{s:s}", "x", "<>");
	struct rb_buf out;
	char err[RB_ERR_LEN];

	(void)state;
	rb_buf_init(&out, 8);
	assert_int_equal(
		tpl_render("{{x}}", data, TPL_ESC_SLACK, NULL, NULL, &out, err, sizeof err), 0);
	assert_string_equal(rb_buf_str(&out), "&lt;&gt;");
	json_decref(data);
	rb_buf_free(&out);
}

static void test_check_accepts_good_template(void **state)
{
	char err[RB_ERR_LEN];

	(void)state;
	assert_int_equal(tpl_check(":rotating_light: *{{service}}* {{! why }}\n"
				   "{{#steps}}\n  - {{name}}{{^ok}} (failed){{/ok}}\n{{/steps}}\n"
				   "{{=<% %>=}}<%{raw}%> <%>footer%>\n",
				   err, sizeof err),
			 0);
	assert_string_equal(err, "");
}

static void test_check_rejects_bad_template(void **state)
{
	char err[RB_ERR_LEN];

	(void)state;
	assert_int_equal(tpl_check("{{#steps}}\n{{name}}\n{{/step}}\n", err, sizeof err),
			 TPL_EPARSE);
	assert_string_equal(err, "line 3, column 1: mismatched closing tag '/step': "
				 "section 'steps' opened at line 1, column 1 is still open");
}

/* ---- rb_code_tail: a step's output in a Slack code block ---- */

static void test_code_tail_keeps_short_output(void **state)
{
	size_t cut = 99;
	char *t = rb_code_tail("ok\ndone", 7, 3000, &cut);

	(void)state;
	assert_string_equal(t, "ok\ndone");
	assert_int_equal(cut, 0);
	free(t);
}

static void test_code_tail_cuts_by_character_from_the_end(void **state)
{
	/* "aé€😀z": 5 characters, 1 + 2 + 3 + 4 + 1 bytes. */
	const char *s = "a\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80z";
	size_t cut;
	char *t = rb_code_tail(s, strlen(s), 3, &cut);

	(void)state;
	assert_string_equal(t, "\xe2\x82\xac\xf0\x9f\x98\x80z");
	assert_int_equal(cut, 2);
	free(t);
	t = rb_code_tail(s, strlen(s), 1, &cut);
	assert_string_equal(t, "z");
	assert_int_equal(cut, 4);
	free(t);
	t = rb_code_tail(s, strlen(s), 0, &cut);
	assert_string_equal(t, "");
	assert_int_equal(cut, 5);
	free(t);
}

static void test_code_tail_cannot_close_the_block(void **state)
{
	size_t cut;
	char *t = rb_code_tail("x```y````z``", 12, 3000, &cut);

	(void)state;
	/* A zero-width space after every second backtick of a run. */
	assert_string_equal(t, "x``\xe2\x80\x8b`y``\xe2\x80\x8b``z``");
	assert_null(strstr(t, "```"));
	assert_int_equal(cut, 0);
	free(t);
}

int main(void)
{
	const struct CMUnitTest own[] = {
		cmocka_unit_test(test_slack_escapes_amp_lt_gt_only),
		cmocka_unit_test(test_slack_triple_mustache_is_raw),
		cmocka_unit_test(test_html_escapes_quotes_and_apostrophe),
		cmocka_unit_test(test_none_escapes_nothing),
		cmocka_unit_test(test_numbers_in_shortest_form),
		cmocka_unit_test(test_empty_string_is_truthy),
		cmocka_unit_test(test_null_data_renders_names_empty),
		cmocka_unit_test(test_error_unclosed_tag),
		cmocka_unit_test(test_error_unclosed_triple_mustache),
		cmocka_unit_test(test_error_unclosed_section),
		cmocka_unit_test(test_error_mismatched_close),
		cmocka_unit_test(test_error_close_without_open),
		cmocka_unit_test(test_error_bad_delimiter),
		cmocka_unit_test(test_error_empty_name),
		cmocka_unit_test(test_error_sections_nested_too_deep),
		cmocka_unit_test(test_error_in_partial_names_it),
		cmocka_unit_test(test_partial_recursion_guard),
		cmocka_unit_test(test_output_ceiling),
		cmocka_unit_test(test_output_exactly_at_ceiling),
		cmocka_unit_test(test_check_accepts_good_template),
		cmocka_unit_test(test_check_rejects_bad_template),
		cmocka_unit_test(test_code_tail_keeps_short_output),
		cmocka_unit_test(test_code_tail_cuts_by_character_from_the_end),
		cmocka_unit_test(test_code_tail_cannot_close_the_block),
	};
	int failed = run_spec();

	failed += cmocka_run_group_tests_name("render", own, NULL, NULL);
	return failed ? 1 : 0;
}
