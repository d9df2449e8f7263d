/* rollbot — the /rollback grammar (MIT licence, see LICENSE).
 *
 * This file owns the reading of what a person typed after `/rollback`: it
 * splits the text into words the way a person means them, not the way a
 * shell would, and turns them into a struct cmd or into one message that
 * says exactly what is wrong and how to fix it. The reader is someone on
 * call at 3 a.m., so every mistake has its own sentence, the sentence names
 * the word at fault, and where a near miss is obvious it says "did you mean".
 *
 * Words. Text arrives Slack-escaped (slack-protocol.md §2.3): `&amp; &lt;
 * &gt;` are decoded here, once and left to right, so a typed "&lt;" stays
 * "&lt;"; `<…>` control sequences (mentions, channels, user groups, links)
 * are turned into what the person saw (`@jane.doe`, `#incidents`, the link
 * text). A word may be quoted with "…", '…', “…” or ‘…’ (clients with smart
 * punctuation send the curly ones, and sometimes pair them oddly, so any
 * quote of the same family closes). A quote opens only at the start of a
 * word or right after `=` (`--reason="…"`), and closes only before a space
 * or the end, so "don't" and "it’s" need no quoting and 'it's late' reads
 * as one word. A leading em or en dash counts as `--`, because macOS turns
 * a typed `--to` into `—to`.
 *
 * Subcommands. `help status resolve cancel report history services` are recognised
 * only as the first word, unquoted, in any case, so a service can never be
 * named after one (cmd_is_reserved_word, for the configuration loader).
 * They read their words with the same lexer; the note of `resolve` and the
 * reason of `cancel` are prose, so they are taken as typed instead (see
 * take_note). Options of the rollback form given to them are named as
 * such rather than reported as unknown.
 *
 * Safety. Nothing here reaches a shell, but values from Slack end up in an
 * argv, an environment variable and the audit log, so: the service must be
 * one the configuration names (matched exactly); a target must pass
 * plan_target_valid for the service's kind; a reason is one line of at most
 * CMD_REASON_CHARS characters with no control characters, and otherwise
 * free text: backticks and $(…) included, since people quote the commands
 * they ran, and free text never reaches an argv (a script method sees it
 * only as the value of ROLLBOT_REASON). The note of resolve and the reason
 * of cancel follow the same rules. An
 * incident ID is checked character by character. The whole text is capped
 * at TEXT_MAX bytes and must be valid UTF-8.
 *
 * Messages are Slack mrkdwn ready to post: whatever they quote from the
 * user is cut to ECHO_CHARS characters, has & < > escaped (so an echoed
 * `<!channel>` cannot ping anyone), backticks replaced and control
 * characters shown as '?'. The caller must not escape them again.
 *
 * Pure: no I/O, no heap allocation; words live in the caller's stack frame.
 */
#include "parse.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

/* The longest text read: a 500-character reason is at most 2000 bytes of
 * UTF-8 (more with &amp; escapes), and the rest of a command is short. */
#define TEXT_MAX 4000
/* How much of a user's word a message repeats. */
#define ECHO_CHARS 40
/* How much of a --to value is kept for the message when the service is
 * named only after it. Anything longer than a version is invalid anyway. */
#define TARGET_KEEP 200

#define USAGE_LINE \
	"Usage: /rollback SERVICE [--to REVISION] [--severity P0-P3] [--reason \"…\"] [--dry-run] [--with-db]"
#define OPTIONS_LINE   "Options: --to, --severity, --reason, --dry-run, --with-db."
#define REASON_EXAMPLE "`--reason \"checkout 5xx at 6%\"`"

/* A message being written into the caller's err buffer; output past the
 * end is dropped, never overflows. */
struct msg {
	char *buf;
	size_t cap;
	size_t len;
};

static void put(struct msg *m, const char *fmt, ...) RB_PRINTF(2, 3);

static void put(struct msg *m, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (!m->buf || m->cap == 0 || m->len + 1 >= m->cap)
		return;
	va_start(ap, fmt);
	n = vsnprintf(m->buf + m->len, m->cap - m->len, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	if ((size_t)n >= m->cap - m->len) {
		/* Cut: drop the character the cut went through, so the message
		 * stays UTF-8 (jansson refuses to send anything else). len stays at
		 * the end, so that nothing is added after a cut. */
		size_t end = m->cap - 1, start = end, need;
		unsigned char lead;
		while (start > 0 && ((unsigned char)m->buf[start - 1] & 0xC0) == 0x80)
			start--;
		lead = start > 0 ? (unsigned char)m->buf[start - 1] : 0;
		need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
		if (lead >= 0xC0 && end - (start - 1) < need)
			m->buf[start - 1] = '\0';
		m->len = m->cap - 1;
		return;
	}
	m->len += (size_t)n;
}

/* ---- UTF-8 ---------------------------------------------------------- */

/* True when s[0..len) is well-formed UTF-8 (no overlong forms, no
 * surrogates, nothing past U+10FFFF). */
static bool utf8_valid(const char *str, size_t len)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		size_t n;
		uint32_t cp;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF) {
			n = 2;
			cp = c & 0x1F;
		} else if (c >= 0xE0 && c <= 0xEF) {
			n = 3;
			cp = c & 0x0F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			n = 4;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (i + n > len)
			return false;
		for (size_t k = 1; k < n; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return false;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10FFFF ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return false;
		i += n;
	}
	return true;
}

/* The code point at s[pos] and its length in *n. The text has been checked
 * with utf8_valid, so this only decodes. */
static uint32_t cp_at(const char *str, size_t pos, size_t *n)
{
	const unsigned char *s = (const unsigned char *)str + pos;

	if (s[0] < 0x80) {
		*n = 1;
		return s[0];
	}
	if (s[0] < 0xE0) {
		*n = 2;
		return ((uint32_t)(s[0] & 0x1F) << 6) | (s[1] & 0x3F);
	}
	if (s[0] < 0xF0) {
		*n = 3;
		return ((uint32_t)(s[0] & 0x0F) << 12) | ((uint32_t)(s[1] & 0x3F) << 6) |
		       (s[2] & 0x3F);
	}
	*n = 4;
	return ((uint32_t)(s[0] & 0x07) << 18) | ((uint32_t)(s[1] & 0x3F) << 12) |
	       ((uint32_t)(s[2] & 0x3F) << 6) | (s[3] & 0x3F);
}

/* Characters that change how text around them displays or is cut into
 * lines: C0 and C1 controls, DEL, the Unicode line and paragraph
 * separators, and the bidirectional embeddings, overrides and isolates
 * ("Trojan Source"), which could make an audit line read differently from
 * what it holds. */
static bool is_control(uint32_t c)
{
	return c < 0x20 || (c >= 0x7F && c < 0xA0) || c == 0x2028 || c == 0x2029 ||
	       (c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069);
}

/* Repeats a user's word inside `code`, safe for mrkdwn (see the header). */
static void put_echo(struct msg *m, const char *s)
{
	size_t i = 0, chars = 0;

	put(m, "`");
	while (s[i]) {
		size_t n;
		uint32_t c = cp_at(s, i, &n);

		if (chars == ECHO_CHARS) {
			put(m, "…");
			break;
		}
		if (c == '&')
			put(m, "&amp;");
		else if (c == '<')
			put(m, "&lt;");
		else if (c == '>')
			put(m, "&gt;");
		else if (c == '`')
			put(m, "'");
		else if (is_control(c))
			put(m, "?");
		else
			put(m, "%.*s", (int)n, s + i);
		chars++;
		i += n;
	}
	put(m, "`");
}

/* ---- near misses ---------------------------------------------------- */

/* Levenshtein distance, ASCII case folded; SIZE_MAX for long strings. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b);
	size_t row[CMD_SERVICE_MAX + 1];

	if (la > CMD_SERVICE_MAX || lb > CMD_SERVICE_MAX)
		return SIZE_MAX;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diag = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j];
			size_t cost = strncasecmp(a + i - 1, b + j - 1, 1) != 0;
			size_t best = diag + cost;
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

/* How many typos a word of `len` letters may hold and still be a near
 * miss: one for short words, two from six letters; none below two letters,
 * where everything is near everything. */
static size_t typo_budget(size_t len)
{
	if (len < 2)
		return 0;
	return len >= 6 ? 2 : 1;
}

/* ---- words ---------------------------------------------------------- */

enum quote_family {
	Q_NONE,
	Q_DOUBLE,
	Q_SINGLE
};

static enum quote_family quote_family(uint32_t c)
{
	if (c == '"' || c == 0x201C || c == 0x201D)
		return Q_DOUBLE;
	if (c == '\'' || c == 0x2018 || c == 0x2019)
		return Q_SINGLE;
	return Q_NONE;
}

static bool is_space(uint32_t c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f' ||
	       c == 0xA0;
}

struct lexer {
	const char *s;
	size_t len;
	size_t pos; /* byte offset of the next unread character */
	int col;    /* 1-based column of s[pos], counted in characters as seen */
};

struct word {
	char text[TEXT_MAX + 1]; /* decoded */
	size_t len;
	bool quoted_start; /* began with a quote: a value, never an option */
	bool quoted;	   /* some part of it was quoted */
};

static void word_add(struct word *w, const char *p, size_t n)
{
	/* Decoding never makes text longer than the input, which is at most
	 * TEXT_MAX bytes; the check only keeps that true if it ever changes. */
	if (w->len + n > TEXT_MAX)
		n = TEXT_MAX - w->len;
	memcpy(w->text + w->len, p, n);
	w->len += n;
	w->text[w->len] = '\0';
}

/* Appends s[0..n) with &amp; &lt; &gt; decoded. Returns the number of
 * characters added, for the column count. */
static int word_add_decoded(struct word *w, const char *s, size_t n)
{
	size_t i = 0;
	int chars = 0;

	while (i < n) {
		size_t k;
		if (s[i] == '&' && n - i >= 5 && !memcmp(s + i, "&amp;", 5)) {
			word_add(w, "&", 1);
			i += 5;
		} else if (s[i] == '&' && n - i >= 4 && !memcmp(s + i, "&lt;", 4)) {
			word_add(w, "<", 1);
			i += 4;
		} else if (s[i] == '&' && n - i >= 4 && !memcmp(s + i, "&gt;", 4)) {
			word_add(w, ">", 1);
			i += 4;
		} else {
			(void)cp_at(s, i, &k);
			word_add(w, s + i, k);
			i += k;
		}
		chars++;
	}
	return chars;
}

/* Turns one Slack control sequence (the text between < and >) into what
 * the person saw: <@U1|jane> → @jane, <#C1|incidents> → #incidents,
 * <!subteam^S1|@sre> → @sre, <!here> → @here, <https://x|text> → "text
 * (https://x)", or just the link when the text is the link itself. */
static int word_add_slack_token(struct word *w, const char *in, size_t n)
{
	const char *bar = memchr(in, '|', n);
	size_t idlen = bar ? (size_t)(bar - in) : n;
	const char *label = bar ? bar + 1 : NULL;
	size_t llen = bar ? n - idlen - 1 : 0;
	int chars = 0;

	if (idlen > 0 && (in[0] == '@' || in[0] == '#')) {
		word_add(w, in, 1);
		chars = 1 + (label ? word_add_decoded(w, label, llen) :
				     word_add_decoded(w, in + 1, idlen - 1));
	} else if (idlen >= 9 && !memcmp(in, "!subteam^", 9)) {
		if (label)
			return word_add_decoded(w, label, llen);
		word_add(w, "@", 1);
		chars = 1 + word_add_decoded(w, in + 9, idlen - 9);
	} else if (idlen > 0 && in[0] == '!') {
		if (label)
			return word_add_decoded(w, label, llen);
		word_add(w, "@", 1);
		chars = 1 + word_add_decoded(w, in + 1, idlen - 1);
	} else if (label && (llen > idlen || memcmp(in + idlen - llen, label, llen))) {
		chars = word_add_decoded(w, label, llen);
		word_add(w, " (", 2);
		chars += 2 + word_add_decoded(w, in, idlen);
		word_add(w, ")", 1);
		chars++;
	} else if (label) {
		chars = word_add_decoded(w, label, llen);
	} else {
		chars = word_add_decoded(w, in, idlen);
	}
	return chars;
}

/* Consumes one unit of input into the word: an entity, a whole <…>
 * sequence, or one character. */
static void lex_take(struct lexer *lx, struct word *w)
{
	const char *s = lx->s + lx->pos;
	size_t rest = lx->len - lx->pos;
	size_t n;

	if (s[0] == '&') {
		size_t e = rest >= 5 && !memcmp(s, "&amp;", 5)				 ? 5 :
			   rest >= 4 && (!memcmp(s, "&lt;", 4) || !memcmp(s, "&gt;", 4)) ? 4 :
											   1;
		lx->col += word_add_decoded(w, s, e);
		lx->pos += e;
		return;
	}
	if (s[0] == '<') {
		const char *gt = memchr(s + 1, '>', rest - 1);
		const char *lt = memchr(s + 1, '<', rest - 1);
		if (gt && (!lt || lt > gt)) {
			lx->col += word_add_slack_token(w, s + 1, (size_t)(gt - s - 1));
			lx->pos += (size_t)(gt - s) + 1;
			return;
		}
	}
	(void)cp_at(lx->s, lx->pos, &n);
	word_add(w, s, n);
	lx->pos += n;
	lx->col++;
}

/* True when the byte offset `pos` is the end or a space: where a closing
 * quote may stand. */
static bool at_boundary(const struct lexer *lx, size_t pos)
{
	size_t n;

	return pos >= lx->len || is_space(cp_at(lx->s, pos, &n));
}

/* Reads the next word. Returns 1 with *w filled, 0 at the end of the text,
 * or CMD_ESYNTAX with the message written (an unclosed quote). */
static int lex_next(struct lexer *lx, struct word *w, struct msg *m)
{
	size_t n;
	bool start = true;

	while (lx->pos < lx->len && is_space(cp_at(lx->s, lx->pos, &n))) {
		lx->pos += n;
		lx->col++;
	}
	if (lx->pos >= lx->len)
		return 0;
	w->len = 0;
	w->text[0] = '\0';
	w->quoted_start = false;
	w->quoted = false;

	while (lx->pos < lx->len) {
		uint32_t c = cp_at(lx->s, lx->pos, &n);
		enum quote_family q = quote_family(c);

		if (is_space(c))
			break;
		if (q != Q_NONE && (start || (w->len > 0 && w->text[w->len - 1] == '='))) {
			int open_col = lx->col;

			w->quoted_start |= start;
			w->quoted = true;
			lx->pos += n;
			lx->col++;
			for (;;) {
				if (lx->pos >= lx->len) {
					put(m, "The quote opened at column %d is never closed.",
					    open_col);
					return CMD_ESYNTAX;
				}
				c = cp_at(lx->s, lx->pos, &n);
				if (quote_family(c) == q && at_boundary(lx, lx->pos + n)) {
					lx->pos += n;
					lx->col++;
					break;
				}
				lex_take(lx, w);
			}
		} else if (start && (c == 0x2013 || c == 0x2014)) {
			word_add(w, "--", 2);
			lx->pos += n;
			lx->col++;
		} else {
			lex_take(lx, w);
		}
		start = false;
	}
	return 1;
}

/* ---- values --------------------------------------------------------- */

static bool is_alnum(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool is_digits(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (*s < '0' || *s > '9')
			return false;
	return true;
}

/* The service named exactly `name`, or NULL. */
static const struct cmd_service *known_service(const char *name, const struct cmd_service *services,
					       size_t n_services)
{
	for (size_t i = 0; i < n_services; i++)
		if (services[i].name && !strcmp(services[i].name, name))
			return &services[i];
	return NULL;
}

/* Checks a service word and finds it among the known services. Returns
 * the service or NULL with the message written and *rc set. */
static const struct cmd_service *find_service(const char *name, const struct cmd_service *services,
					      size_t n_services, struct msg *m, int *rc)
{
	size_t len = strlen(name);
	const struct cmd_service *near = NULL;
	size_t near_d = SIZE_MAX;
	bool near_tie = false;

	*rc = CMD_EVALUE;
	for (size_t i = 0; i < len; i++) {
		if (!is_alnum(name[i]) && name[i] != '-' && name[i] != '_' && name[i] != '.') {
			put_echo(m, name);
			put(m,
			    " is not a valid service name: use letters, digits, -, _ and . only.");
			return NULL;
		}
	}
	if (!is_alnum(name[0])) {
		put_echo(m, name);
		put(m, " is not a valid service name: it must start with a letter or digit.");
		return NULL;
	}
	if (len >= CMD_SERVICE_MAX) {
		put_echo(m, name);
		put(m, " is not a valid service name: it is longer than %d characters.",
		    CMD_SERVICE_MAX - 1);
		return NULL;
	}
	const struct cmd_service *found = known_service(name, services, n_services);
	if (found)
		return found;

	*rc = CMD_EUNKNOWN;
	put(m, "Unknown service ");
	put_echo(m, name);
	put(m, ".");
	for (size_t i = 0; i < n_services; i++) {
		if (services[i].name && !strcasecmp(services[i].name, name)) {
			put(m, " Did you mean `%s`? Service names are lower-case.",
			    services[i].name);
			return NULL;
		}
	}
	if (n_services == 0) {
		put(m, " No services are configured: add them under `services:` in rollbot.yaml.");
		return NULL;
	}
	for (size_t i = 0; i < n_services; i++) {
		size_t d;
		if (!services[i].name)
			continue;
		d = edit_distance(name, services[i].name);
		if (d < near_d) {
			near = &services[i];
			near_d = d;
			near_tie = false;
		} else if (d == near_d) {
			near_tie = true;
		}
	}
	if (near && !near_tie && near_d <= typo_budget(len))
		put(m, " Did you mean `%s`?", near->name);
	put(m, " Known services: ");
	for (size_t i = 0, shown = 0; i < n_services; i++) {
		if (!services[i].name)
			continue;
		/* Leave room for ", …." at the end rather than cut a name. */
		if (m->len + strlen(services[i].name) + 12 >= m->cap) {
			put(m, ", …");
			break;
		}
		put(m, "%s%s", shown++ ? ", " : "", services[i].name);
	}
	put(m, ".");
	return NULL;
}

/* Checks --to against what the service's method accepts. */
static int check_target(const struct cmd_service *svc, const char *target, bool cut, struct msg *m)
{
	const struct plan_method_info *mi;

	switch (svc->target) {
	case PLAN_TARGET_NONE:
		put(m, "`--to` does not apply to %s: ", svc->name);
		/* The method only explains when it agrees with the target kind. */
		mi = (unsigned)svc->method < PLAN_METHOD_COUNT ? plan_method_info(svc->method) :
								 NULL;
		if (mi && mi->target == PLAN_TARGET_NONE)
			put(m, "%s rollbacks always go back to %s.", mi->name, mi->default_target);
		else
			put(m, "its rollback always goes back to one fixed place.");
		put(m, " Run `/rollback %s` without --to.", svc->name);
		return CMD_EVALUE;
	case PLAN_TARGET_REVISION:
		if (cut || !plan_target_valid(PLAN_TARGET_REVISION, target)) {
			put_echo(m, target);
			put(m, " is not a revision: %s takes a revision number, e.g. `--to 41`.",
			    svc->name);
			return CMD_EVALUE;
		}
		return 0;
	case PLAN_TARGET_VERSION:
		if (cut || !plan_target_valid(PLAN_TARGET_VERSION, target)) {
			put_echo(m, target);
			put(m,
			    " is not a version: %s takes a version of letters, digits, . _ and -, "
			    "e.g. `--to v2.0.1`.",
			    svc->name);
			return CMD_EVALUE;
		}
		return 0;
	}
	put(m, "%s has no valid target kind in the configuration.", svc->name);
	return CMD_EVALUE;
}

/* Checks decoded free text (`what` names it: "reason", "note"): one line,
 * at most CMD_REASON_CHARS characters, no controls, since it goes into the
 * audit log and into messages. Anything else is accepted, backticks and
 * $(…) included: free text never reaches an argv or a shell (a script
 * method gets it as the value of ROLLBOT_REASON, which a shell does not
 * expand again), and every template escapes it for Slack. Copies it into
 * out->reason. */
static int take_text(const char *r, const char *what, struct cmd *out, struct msg *m)
{
	size_t chars = rb_utf8_chars(r);
	size_t i = 0, n;

	if (chars > CMD_REASON_CHARS) {
		put(m,
		    "The %s is %zu characters long; the limit is %d. Put the details in the "
		    "incident thread.",
		    what, chars, CMD_REASON_CHARS);
		return CMD_EVALUE;
	}
	for (; r[i]; i += n) {
		uint32_t c = cp_at(r, i, &n);
		if (c == '\n' || c == '\r' || c == 0x2028 || c == 0x2029) {
			put(m, "The %s has a line break; keep it on one line.", what);
			return CMD_EVALUE;
		}
		if (is_control(c)) {
			put(m, "The %s contains a control character (U+%04X); use plain text.",
			    what, (unsigned)c);
			return CMD_EVALUE;
		}
	}
	/* 500 characters of UTF-8 always fit CMD_REASON_MAX. */
	int rc = rb_strlcpy(out->reason, r, sizeof out->reason);
	RB_ASSERT(rc == 0);
	return 0;
}

/* Checks a decoded --reason: not empty, and take_text's rules. */
static int take_reason(const char *r, struct cmd *out, struct msg *m)
{
	if (!*r) {
		put(m, "`--reason` is empty. Say in a few words what is wrong, e.g. %s.",
		    REASON_EXAMPLE);
		return CMD_EVALUE;
	}
	return take_text(r, "reason", out, m);
}

/* ---- the command ---------------------------------------------------- */

enum opt {
	OPT_TO,
	OPT_SEVERITY,
	OPT_REASON,
	OPT_DRY_RUN,
	OPT_WITH_DB,
	OPT_HELP,
	OPT_COUNT
};

static const char *const opt_names[OPT_COUNT] = { "--to",      "--severity", "--reason",
						  "--dry-run", "--with-db",  "--help" };

static int unknown_option(const char *name, struct msg *m)
{
	size_t best = OPT_COUNT, best_d = SIZE_MAX;
	size_t bare = strspn(name, "-");

	if (!strcmp(name, "--post")) {
		put(m,
		    "`--post` goes with `status`, like `/rollback status INC-2026-0001 --post`.");
		return CMD_ESYNTAX;
	}
	for (size_t i = 0; i < OPT_COUNT; i++) {
		size_t d = edit_distance(name, opt_names[i]);
		if (d < best_d) {
			best = i;
			best_d = d;
		}
	}
	put(m, "Unknown option ");
	put_echo(m, name);
	put(m, ".");
	if (best < OPT_COUNT && best_d <= typo_budget(strlen(name) - bare))
		put(m, " Did you mean `%s`?", opt_names[best]);
	put(m, " " OPTIONS_LINE);
	return CMD_ESYNTAX;
}

static int needs_value(enum opt o, struct msg *m)
{
	switch (o) {
	case OPT_TO:
		put(m, "`--to` needs a value, e.g. `--to 41`.");
		break;
	case OPT_SEVERITY:
		put(m, "`--severity` needs a value: P0, P1, P2 or P3.");
		break;
	default:
		put(m, "`--reason` needs a value, e.g. %s.", REASON_EXAMPLE);
		break;
	}
	return CMD_ESYNTAX;
}

static void cmd_clear(struct cmd *out, enum cmd_kind kind)
{
	memset(out, 0, sizeof *out);
	out->kind = kind;
	out->severity = CMD_SEV_UNSET;
}

/* Everything cmd_parse keeps between words. Kept in one struct so the
 * large word buffers sit together in the caller's frame. */
struct parse {
	struct lexer lx;
	struct word w; /* the word being looked at */
	struct word v; /* an option's value, when it is the next word */
	const struct cmd_service *svc;
	bool seen[OPT_COUNT];
	char target[TARGET_KEEP + 1];
	bool target_cut;  /* --to was longer than TARGET_KEEP bytes */
	bool bare_reason; /* the previous word was an unquoted --reason value */
};

/* A second bare word. The hints cover the usual slips: a forgotten --to or
 * --severity, and a reason of several words without quotes. */
static int stray_word(const struct parse *p, bool after_bare_reason, struct msg *m)
{
	const struct word *w = &p->w;
	enum cmd_severity sev;

	put(m, "Unexpected ");
	put_echo(m, w->text);
	if (after_bare_reason) {
		put(m, ". A reason of several words needs quotes, e.g. %s.", REASON_EXAMPLE);
	} else if (!w->quoted && !p->seen[OPT_TO] && is_digits(w->text) &&
		   plan_target_valid(p->svc->target, w->text)) {
		put(m, " after the service name. Did you mean `--to %s`?", w->text);
	} else if (!w->quoted && !p->seen[OPT_SEVERITY] &&
		   cmd_severity_from_name(w->text, &sev) == 0) {
		put(m, " after the service name. Did you mean `--severity %s`?",
		    cmd_severity_name(sev));
	} else {
		put(m, " after the service name. Put free text in --reason \"…\".");
	}
	return CMD_ESYNTAX;
}

/* Reads an option's value: after '=' in the same word, or the next word.
 * A next word that is itself an option means the value is missing. */
static int option_value(struct parse *p, enum opt o, const char *eq, const char **val, bool *quoted,
			struct msg *m)
{
	int rc;

	if (eq) {
		*val = eq + 1;
		*quoted = p->w.quoted;
	} else {
		rc = lex_next(&p->lx, &p->v, m);
		if (rc < 0)
			return rc;
		if (rc == 0 || (!p->v.quoted_start && !strncmp(p->v.text, "--", 2)))
			return needs_value(o, m);
		*val = p->v.text;
		*quoted = p->v.quoted;
	}
	if (!**val && o != OPT_REASON)
		return needs_value(o, m);
	return 0;
}

static void keep_target(struct parse *p, const char *val)
{
	size_t n = strlen(val);

	p->target_cut = n > TARGET_KEEP;
	if (p->target_cut) {
		n = TARGET_KEEP;
		while (n > 0 && ((unsigned char)val[n] & 0xC0) == 0x80)
			n--;
	}
	memcpy(p->target, val, n);
	p->target[n] = '\0';
}

/* Handles one option word (p->w starts with '-'). Returns 0, 1 for help,
 * or a negative code with the message written. */
static int option(struct parse *p, struct cmd *out, struct msg *m)
{
	char *eq = strchr(p->w.text, '=');
	const char *val = NULL;
	bool quoted = false;
	enum opt o;
	int rc;

	if (eq)
		*eq = '\0';
	for (o = 0; o < OPT_COUNT; o++)
		if (!strcmp(p->w.text, opt_names[o]))
			break;
	if (!strcmp(p->w.text, "-h"))
		o = OPT_HELP;
	if (o == OPT_COUNT)
		return unknown_option(p->w.text, m);
	if (o == OPT_HELP)
		return 1;
	if (o == OPT_DRY_RUN || o == OPT_WITH_DB) {
		if (eq) {
			put(m, "`%s` takes no value.", opt_names[o]);
			return CMD_ESYNTAX;
		}
		if (o == OPT_DRY_RUN)
			out->dry_run = true;
		else
			out->with_db = true;
		return 0;
	}
	if (p->seen[o]) {
		put(m, "`%s` given twice.", opt_names[o]);
		return CMD_ESYNTAX;
	}
	p->seen[o] = true;
	if (o == OPT_TO && p->svc && p->svc->target == PLAN_TARGET_NONE)
		return check_target(p->svc, "", false, m);
	rc = option_value(p, o, eq, &val, &quoted, m);
	if (rc < 0)
		return rc;

	switch (o) {
	case OPT_SEVERITY:
		if (cmd_severity_from_name(val, &out->severity) != 0) {
			put(m, "`--severity` must be P0, P1, P2 or P3, not ");
			put_echo(m, val);
			put(m, ".");
			return CMD_EVALUE;
		}
		return 0;
	case OPT_REASON:
		rc = take_reason(val, out, m);
		p->bare_reason = rc == 0 && !quoted;
		return rc;
	case OPT_TO:
		keep_target(p, val);
		if (p->svc)
			return check_target(p->svc, p->target, p->target_cut, m);
		return 0;
	default:
		break;
	}
	return 0;
}

/* ---- subcommands ---------------------------------------------------- */

#define ID_EXAMPLE "INC-2026-0001"

/* A subcommand word and what messages say about it. */
struct subcommand {
	const char *word;
	enum cmd_kind kind;
	const char *example; /* a whole command, in `code` */
	const char *takes;   /* what it takes, said after a colon */
	const char *noun;    /* what the free text after the ID is called */
};

static const struct subcommand subcommands[] = {
	{ "help", CMD_HELP, "`/rollback help`", "nothing.", NULL },
	{ "status", CMD_STATUS, "`/rollback status " ID_EXAMPLE " --post`", "only `--post`.",
	  NULL },
	{ "resolve", CMD_RESOLVE, "`/rollback resolve " ID_EXAMPLE " fixed by the rollback`",
	  "it takes none. Write the note after the ID, like `/rollback resolve " ID_EXAMPLE
	  " fixed by the rollback`.",
	  "note" },
	{ "cancel", CMD_CANCEL, "`/rollback cancel " ID_EXAMPLE " false alarm`",
	  "it takes none. Write the reason after the ID, like `/rollback cancel " ID_EXAMPLE
	  " false alarm`.",
	  "reason" },
	{ "report", CMD_REPORT, "`/rollback report " ID_EXAMPLE "`",
	  "it takes only the incident ID.", NULL },
	{ "history", CMD_HISTORY, "`/rollback history SERVICE`",
	  "it takes only a service name, like `/rollback history SERVICE`.", NULL },
	{ "services", CMD_SERVICES, "`/rollback services`", "nothing.", NULL },
	{ "sent", CMD_SENT, "`/rollback sent " ID_EXAMPLE " status-page`",
	  "it takes none. Name the draft after the ID: `status-page`, `email` or `internal`.",
	  "draft" },
};

static const struct subcommand *find_subcommand(const char *word)
{
	for (size_t i = 0; i < RB_ARRAY_LEN(subcommands); i++)
		if (!strcasecmp(word, subcommands[i].word))
			return &subcommands[i];
	return NULL;
}

bool cmd_is_reserved_word(const char *name)
{
	return name && find_subcommand(name) != NULL;
}

/* An unquoted word that starts with '-' and is more than "-". */
static bool is_option_word(const struct word *w)
{
	return !w->quoted_start && w->text[0] == '-' && w->text[1] != '\0';
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* INC-YYYY-NNNN with 4 to 6 digits at the end, "INC" in any case. The
 * database numbers incidents per year from 0001 (sql/001_init.sql). */
static bool incident_id_valid(const char *s)
{
	size_t seq;

	if (strncasecmp(s, "INC-", 4) != 0)
		return false;
	s += 4;
	for (int i = 0; i < 4; i++)
		if (!is_digit(s[i]))
			return false;
	if (s[4] != '-')
		return false;
	seq = strlen(s + 5);
	return seq >= 4 && seq <= 6 && is_digits(s + 5);
}

/* Copies a valid incident ID, upper-case: only "inc" has letters. */
static void incident_id_copy(char dst[CMD_INCIDENT_MAX], const char *id)
{
	size_t i;

	for (i = 0; id[i] && i + 1 < CMD_INCIDENT_MAX; i++)
		dst[i] = id[i] >= 'a' && id[i] <= 'z' ? (char)(id[i] - 'a' + 'A') : id[i];
	dst[i] = '\0';
}

/* The ID someone most likely meant by `word`, upper-case, in out: the
 * word without a leading '#' or trailing punctuation, with "INC-" added
 * when it is missing and the number padded to 4 digits. False when even
 * that is not an incident ID. */
static bool incident_id_guess(const char *word, char out[CMD_INCIDENT_MAX])
{
	char t[CMD_INCIDENT_MAX + 8];
	size_t len;

	word += *word == '#';
	len = strlen(word);
	while (len > 0 && strchr(".,:;!?)", word[len - 1]))
		len--;
	if (len == 0 || len > CMD_INCIDENT_MAX - 5)
		return false;
	snprintf(t, sizeof t, "%s%.*s", strncasecmp(word, "INC-", 4) ? "INC-" : "", (int)len, word);
	/* "INC-2026-" is 9 bytes; what follows is the number. */
	len = strlen(t);
	if (len > 9 && len < 13 && t[8] == '-' && is_digits(t + 9)) {
		char seq[4];
		memcpy(seq, t + 9, len - 9 + 1);
		snprintf(t + 9, sizeof t - 9, "%.*s%s", (int)(13 - len), "000", seq);
	}
	if (!incident_id_valid(t))
		return false;
	incident_id_copy(out, t);
	return true;
}

/* Reads an incident ID into out->incident. The hints cover the likely
 * slips: a near miss of an ID, and a service name where the ID goes. */
static int take_incident(const struct subcommand *sc, const char *id,
			 const struct cmd_service *services, size_t n_services, struct cmd *out,
			 struct msg *m)
{
	char guess[CMD_INCIDENT_MAX];

	if (incident_id_valid(id)) {
		incident_id_copy(out->incident, id);
		return 0;
	}
	if (!*id) {
		put(m, "The incident ID is empty: they look like " ID_EXAMPLE ".");
		return CMD_EVALUE;
	}
	if (known_service(id, services, n_services)) {
		put(m,
		    "`%s` takes an incident ID, not a service: `/rollback status` lists the open "
		    "incidents, `/rollback history %s` the past ones of %s.",
		    sc->word, id, id);
		return CMD_EVALUE;
	}
	put_echo(m, id);
	put(m, " is not an incident ID: they look like " ID_EXAMPLE ".");
	if (incident_id_guess(id, guess))
		put(m, " Did you mean `%s`?", guess);
	return CMD_EVALUE;
}

static int needs_incident(const struct subcommand *sc, struct msg *m)
{
	put(m, "`%s` needs the incident ID, like %s. `/rollback status` lists the open incidents.",
	    sc->word, sc->example);
	return CMD_ESYNTAX;
}

/* An option after a subcommand. Returns 0 (status --post), 1 for help, or
 * CMD_ESYNTAX with the message written. Rollback options are named as
 * such: typed out of habit, they need a different fix than a typo. */
static int sub_option(const struct subcommand *sc, struct word *w, struct cmd *out, struct msg *m)
{
	char *eq = strchr(w->text, '=');

	if (eq)
		*eq = '\0';
	if (!strcmp(w->text, "--help") || !strcmp(w->text, "-h"))
		return 1;
	if (sc->kind == CMD_STATUS && !strcmp(w->text, "--post")) {
		if (eq) {
			put(m, "`--post` takes no value.");
			return CMD_ESYNTAX;
		}
		out->post = true;
		return 0;
	}
	for (size_t i = 0; i < OPT_COUNT; i++) {
		if (!strcmp(w->text, opt_names[i])) {
			put(m, "`%s` is an option for rollbacks, not for `%s`: %s", opt_names[i],
			    sc->word, sc->takes);
			return CMD_ESYNTAX;
		}
	}
	put(m, "Unknown option ");
	put_echo(m, w->text);
	if (sc->kind == CMD_STATUS &&
	    edit_distance(w->text, "--post") <= typo_budget(strlen(w->text) - strspn(w->text, "-")))
		put(m, " for `status`. Did you mean `--post`?");
	else
		put(m, " for `%s`: %s", sc->word, sc->takes);
	return CMD_ESYNTAX;
}

/* A word after everything a subcommand takes. */
static int extra_word(const struct subcommand *sc, struct msg *m)
{
	if (sc->kind == CMD_STATUS)
		put(m, "`status` takes at most one incident ID, and `--post`.");
	else if (sc->kind == CMD_HISTORY)
		put(m, "`history` takes at most one service name.");
	else if (sc->kind == CMD_SERVICES)
		put(m, "`services` takes nothing: `/rollback services` lists every service.");
	else
		put(m, "`%s` takes only the incident ID.", sc->word);
	return CMD_ESYNTAX;
}

/* The service of `history`. An incident ID there (unless a service is
 * really called that) means the person wants one incident's story. */
static int take_history_service(const char *name, const struct cmd_service *services,
				size_t n_services, struct cmd *out, struct msg *m)
{
	const struct cmd_service *svc;
	char id[CMD_INCIDENT_MAX];
	int rc;

	if (!*name) {
		put(m, "The service name is empty: `/rollback history SERVICE`, or `/rollback "
		       "history` for every service.");
		return CMD_EVALUE;
	}
	if (!known_service(name, services, n_services) && incident_id_valid(name)) {
		incident_id_copy(id, name);
		put(m,
		    "`history` takes a service name, not an incident ID. For one incident: "
		    "`/rollback report %s`.",
		    id);
		return CMD_EVALUE;
	}
	svc = find_service(name, services, n_services, m, &rc);
	if (!svc)
		return rc;
	rc = rb_strlcpy(out->service, svc->name, sizeof out->service);
	RB_ASSERT(rc == 0);
	return 0;
}

/* status [INC-ID] [--post], report INC-ID, history [SERVICE]: a few words
 * in any order, options anywhere. */
static int sub_words(struct parse *p, const struct subcommand *sc,
		     const struct cmd_service *services, size_t n_services, struct cmd *out,
		     struct msg *m)
{
	for (;;) {
		int rc = lex_next(&p->lx, &p->w, m);

		if (rc < 0)
			return rc;
		if (rc == 0)
			break;
		if (is_option_word(&p->w))
			rc = sub_option(sc, &p->w, out, m);
		else if (out->incident[0] || out->service[0] || sc->kind == CMD_SERVICES)
			rc = extra_word(sc, m);
		else if (sc->kind == CMD_HISTORY)
			rc = take_history_service(p->w.text, services, n_services, out, m);
		else
			rc = take_incident(sc, p->w.text, services, n_services, out, m);
		if (rc != 0)
			return rc;
	}
	if (sc->kind == CMD_REPORT && !out->incident[0])
		return needs_incident(sc, m);
	return 0;
}

/* True for a word that reads as an option in free text: "-x…" or "--x…".
 * A lone dash or dashes used as punctuation ("-- see thread") are text. */
static bool looks_like_option(const struct word *w)
{
	const char *s = w->text;
	size_t dashes = strspn(s, "-");
	char c = s[dashes];

	return !w->quoted_start && (dashes == 1 || dashes == 2) &&
	       ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'));
}

/* Decodes the rest of the text into w as typed, spaces and all (entities,
 * mentions and links as for a --reason), without the spaces around it. */
static void rest_as_typed(struct lexer *lx, struct word *w)
{
	size_t n;

	w->len = 0;
	w->text[0] = '\0';
	while (lx->pos < lx->len && is_space(cp_at(lx->s, lx->pos, &n)))
		lx->pos += n;
	while (lx->pos < lx->len)
		lex_take(lx, w);
	for (;;) {
		if (w->len > 0 && strchr(" \t\n\r\v\f", w->text[w->len - 1]))
			w->len--;
		else if (w->len > 1 && !memcmp(w->text + w->len - 2, "\xc2\xa0", 2))
			w->len -= 2; /* no-break space */
		else
			break;
	}
	w->text[w->len] = '\0';
}

/* The free text after the ID of resolve and cancel. It is not split into
 * words: a note is prose, taken as typed, and its quotes are removed only
 * when the whole of it is one quoted string. A first word that looks like
 * an option is refused, so that `--reason "…"` typed out of habit is
 * explained rather than recorded as the note. */
static int take_note(struct parse *p, const struct subcommand *sc, struct cmd *out, struct msg *m)
{
	struct lexer peek = p->lx;
	struct msg quiet = { NULL, 0, 0 };
	int rc = lex_next(&peek, &p->w, &quiet);

	if (rc == 0)
		return 0;
	if (rc > 0 && looks_like_option(&p->w))
		return sub_option(sc, &p->w, out, m);
	if (rc > 0 && p->w.quoted_start && lex_next(&peek, &p->v, &quiet) == 0)
		return take_text(p->w.text, sc->noun, out, m);
	rest_as_typed(&p->lx, &p->w);
	return take_text(p->w.text, sc->noun, out, m);
}

/* resolve INC-ID [note…], cancel INC-ID [reason…]. */
static int sub_note(struct parse *p, const struct subcommand *sc,
		    const struct cmd_service *services, size_t n_services, struct cmd *out,
		    struct msg *m)
{
	int rc;

	for (;;) {
		rc = lex_next(&p->lx, &p->w, m);
		if (rc < 0)
			return rc;
		if (rc == 0)
			return needs_incident(sc, m);
		if (!is_option_word(&p->w))
			break;
		/* Only --help gets through: resolve and cancel take no options. */
		rc = sub_option(sc, &p->w, out, m);
		if (rc != 0)
			return rc;
	}
	rc = take_incident(sc, p->w.text, services, n_services, out, m);
	if (rc != 0)
		return rc;
	return take_note(p, sc, out, m);
}

/* sent INC-ID DRAFT: which stakeholder draft went out (the report lists
 * them). The draft's name is kept lower-case in out->reason. */
static int sub_sent(struct parse *p, const struct subcommand *sc,
		    const struct cmd_service *services, size_t n_services, struct cmd *out,
		    struct msg *m)
{
	static const char *const drafts[] = { "status-page", "email", "internal" };
	int rc = sub_note(p, sc, services, n_services, out, m);

	if (rc != 0)
		return rc;
	for (size_t i = 0; i < RB_ARRAY_LEN(drafts); i++) {
		if (!strcasecmp(out->reason, drafts[i])) {
			rc = rb_strlcpy(out->reason, drafts[i], sizeof out->reason);
			RB_ASSERT(rc == 0);
			return 0;
		}
	}
	put(m, out->reason[0] ? "`%s` is not a draft: say which one was sent, `status-page`, "
				"`email` or `internal`, like %s." :
				"Say which draft was sent%s: `status-page`, `email` or `internal`, "
				"like %s.",
	    out->reason[0] ? out->reason : "", sc->example);
	return CMD_EVALUE;
}

/* Parses the rest of the text after a subcommand word into *out. */
static int subcommand(struct parse *p, const struct subcommand *sc,
		      const struct cmd_service *services, size_t n_services, struct cmd *out,
		      struct msg *m)
{
	int rc = 1; /* help */

	if (sc->kind == CMD_RESOLVE || sc->kind == CMD_CANCEL)
		rc = sub_note(p, sc, services, n_services, out, m);
	else if (sc->kind == CMD_SENT)
		rc = sub_sent(p, sc, services, n_services, out, m);
	else if (sc->kind != CMD_HELP)
		rc = sub_words(p, sc, services, n_services, out, m);
	if (rc == 1) {
		cmd_clear(out, CMD_HELP);
		return 0;
	}
	if (rc < 0) {
		cmd_clear(out, CMD_ROLLBACK);
		return rc;
	}
	out->kind = sc->kind;
	return 0;
}

/* The word where a rollback names its service. */
static int service_word(struct parse *p, const struct cmd_service *services, size_t n_services,
			struct cmd *out, struct msg *m)
{
	const struct subcommand *sc = p->w.quoted ? NULL : find_subcommand(p->w.text);
	int rc;

	if (!p->w.text[0]) {
		put(m, "Which service? " USAGE_LINE);
		return CMD_ESYNTAX;
	}
	if (sc) {
		/* "--post status": the subcommand is recognised only first. */
		put(m, "`%s` must come first, right after /rollback, like %s.", sc->word,
		    sc->example);
		return CMD_ESYNTAX;
	}
	p->svc = find_service(p->w.text, services, n_services, m, &rc);
	if (!p->svc)
		return rc;
	rc = rb_strlcpy(out->service, p->svc->name, sizeof out->service);
	RB_ASSERT(rc == 0);
	if (p->seen[OPT_TO])
		return check_target(p->svc, p->target, p->target_cut, m);
	return 0;
}

/* Parses the text of a /rollback command; see parse.h. On error *out is
 * cleared (kind CMD_ROLLBACK, nothing set) and err holds one line of
 * mrkdwn with anything quoted from the user escaped: post it as is. */
int cmd_parse(const char *text, const struct cmd_service *services, size_t n_services,
	      struct cmd *out, char *err, size_t errlen)
{
	struct parse p;
	struct msg m = { err, errlen, 0 };
	size_t len;
	int rc = 0;
	bool first = true;

	if (err && errlen)
		err[0] = '\0';
	cmd_clear(out, CMD_ROLLBACK);
	if (!text)
		text = "";
	len = strlen(text);
	if (len > TEXT_MAX) {
		put(&m,
		    "That command is too long for rollbot (more than %d characters). A --reason "
		    "may be at most %d characters.",
		    TEXT_MAX, CMD_REASON_CHARS);
		return CMD_ESYNTAX;
	}
	if (!utf8_valid(text, len)) {
		put(&m,
		    "The command contains bytes that are not valid UTF-8 text; please retype it.");
		return CMD_ESYNTAX;
	}

	memset(&p.seen, 0, sizeof p.seen);
	p.lx = (struct lexer){ text, len, 0, 1 };
	p.svc = NULL;
	p.target[0] = '\0';
	p.target_cut = false;
	p.bare_reason = false;

	for (;;) {
		bool after_bare_reason = p.bare_reason;
		const struct subcommand *sc;

		rc = lex_next(&p.lx, &p.w, &m);
		if (rc <= 0)
			break;
		p.bare_reason = false;
		sc = first && !p.w.quoted ? find_subcommand(p.w.text) : NULL;
		if (is_option_word(&p.w)) {
			rc = option(&p, out, &m);
			if (rc == 1) {
				cmd_clear(out, CMD_HELP);
				return 0;
			}
		} else if (sc) {
			return subcommand(&p, sc, services, n_services, out, &m);
		} else if (p.svc) {
			rc = stray_word(&p, after_bare_reason, &m);
		} else {
			rc = service_word(&p, services, n_services, out, &m);
		}
		if (rc < 0)
			break;
		first = false;
	}
	if (rc == 0 && first) {
		cmd_clear(out, CMD_HELP);
		return 0;
	}
	if (rc == 0 && !p.svc) {
		put(&m, "Which service? " USAGE_LINE);
		rc = CMD_ESYNTAX;
	}
	if (rc == 0 && out->with_db && !p.svc->db_rollback) {
		/* A database rollback is never improvised: the config names it. */
		put(&m, "`--with-db`: %s has no `db_rollback` command in rollbot's configuration, so "
			"rollbot cannot roll its database back. Ask the service's owners, or run "
			"the down-migration by hand.",
		    p.svc->name);
		rc = CMD_EVALUE;
	}
	if (rc < 0) {
		cmd_clear(out, CMD_ROLLBACK);
		return rc;
	}
	/* A target that passed check_target is at most 64 bytes. */
	rc = rb_strlcpy(out->target, p.target, sizeof out->target);
	RB_ASSERT(rc == 0);
	return 0;
}

/* "P0".."P3"; "" for CMD_SEV_UNSET or anything out of range. The string is
 * constant. */
const char *cmd_severity_name(enum cmd_severity s)
{
	static const char *const names[] = { "P0", "P1", "P2", "P3" };

	if ((int)s < 0 || (size_t)s >= RB_ARRAY_LEN(names))
		return "";
	return names[s];
}

/* Reads "P0".."P3", either case. Returns 0 and sets *out, or RB_EINVAL
 * with *out untouched. */
int cmd_severity_from_name(const char *s, enum cmd_severity *out)
{
	if (!s || (s[0] != 'P' && s[0] != 'p') || s[1] < '0' || s[1] > '3' || s[2] != '\0')
		return RB_EINVAL;
	*out = (enum cmd_severity)(s[1] - '0');
	return 0;
}

/* The help text, Slack mrkdwn, constant. Severities follow the decision
 * matrix in seeds/003. */
const char *cmd_usage(void)
{
	return "*Roll back a release*\n"
	       "`/rollback SERVICE [--to REVISION] [--severity P0|P1|P2|P3] [--reason \"what is "
	       "wrong\"] [--dry-run] [--with-db]`\n"
	       "\n"
	       "*Examples*\n"
	       "• `/rollback payments-api --to 41 --severity P1 --reason \"checkout 5xx at 6%\"`\n"
	       "• `/rollback search --severity P0 --reason \"search is down\"` (blue-green and "
	       "flag services take no --to)\n"
	       "• `/rollback payments-api --dry-run` (shows the plan, changes nothing)\n"
	       "\n"
	       "*Options*\n"
	       "• `--to`: the revision (kubectl, helm, lambda) or version (docker, script) to go "
	       "back to. Left out, rollbot picks the previous one and says which.\n"
	       "• `--severity`: *P0* complete outage, *P1* errors over 5% or a big slowdown, "
	       "*P2* minor errors, *P3* cosmetic. Left out, the configured default applies.\n"
	       "• `--reason`: one line, at most 500 characters; quote it when it has spaces.\n"
	       "• `--dry-run`: announce what would happen without doing it.\n"
	       "• `--with-db`: also run the service's database down-migration (data written "
	       "since may be lost; needs two approvers).\n"
	       "\n"
	       "*Follow an incident* (IDs look like INC-2026-0001)\n"
	       "• `/rollback status [INC-ID] [--post]`: where an incident stands; without an ID, "
	       "every open one. `--post` also posts it in the incident's thread.\n"
	       "• `/rollback resolve INC-ID [note]`: close the incident by hand once the service "
	       "is healthy again.\n"
	       "• `/rollback cancel INC-ID [reason]`: call the incident off, e.g. a false alarm.\n"
	       "• `/rollback report INC-ID`: the incident's timeline, for the post-mortem.\n"
	       "• `/rollback history [SERVICE]`: past rollbacks, of one service or of all.\n"
	       "• `/rollback services`: every service rollbot can roll back, its method and "
	       "environment, and the incident that holds it.\n"
	       "• `/rollback sent INC-ID status-page|email|internal`: record that a draft the "
	       "report came with was sent.\n"
	       "\n"
	       "rollbot declares the incident, posts its announcement in this channel and "
	       "records every step. `/rollback help` shows this again.";
}
