/* rollbot — the /rollback parser's words and messages (MIT licence, see LICENSE).
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
 * Messages are Slack mrkdwn ready to post: whatever they quote from the
 * user is cut to ECHO_CHARS characters, has & < > escaped (so an echoed
 * `<!channel>` cannot ping anyone), backticks replaced and control
 * characters shown as '?'. The caller must not escape them again.
 *
 * Split out of parse.c (parse_int.h). Pure: no I/O, no heap allocation.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "parse_int.h"

/* How much of a user's word a message repeats. */
#define ECHO_CHARS 40

/* Appends to the message like printf; a cut never splits a character. */
void cmd_put(struct msg *m, const char *fmt, ...)
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
bool cmd_utf8_valid(const char *str, size_t len)
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
uint32_t cmd_cp_at(const char *str, size_t pos, size_t *n)
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
bool cmd_is_control(uint32_t c)
{
	return c < 0x20 || (c >= 0x7F && c < 0xA0) || c == 0x2028 || c == 0x2029 ||
	       (c >= 0x202A && c <= 0x202E) || (c >= 0x2066 && c <= 0x2069);
}

/* Repeats a user's word inside `code`, safe for mrkdwn (see the header). */
void cmd_put_echo(struct msg *m, const char *s)
{
	size_t i = 0, chars = 0;

	cmd_put(m, "`");
	while (s[i]) {
		size_t n;
		uint32_t c = cmd_cp_at(s, i, &n);

		if (chars == ECHO_CHARS) {
			cmd_put(m, "…");
			break;
		}
		if (c == '&')
			cmd_put(m, "&amp;");
		else if (c == '<')
			cmd_put(m, "&lt;");
		else if (c == '>')
			cmd_put(m, "&gt;");
		else if (c == '`')
			cmd_put(m, "'");
		else if (cmd_is_control(c))
			cmd_put(m, "?");
		else
			cmd_put(m, "%.*s", (int)n, s + i);
		chars++;
		i += n;
	}
	cmd_put(m, "`");
}

/* ---- near misses ---------------------------------------------------- */

/* Levenshtein distance, ASCII case folded; SIZE_MAX for long strings. */
size_t cmd_edit_distance(const char *a, const char *b)
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
size_t cmd_typo_budget(size_t len)
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
			(void)cmd_cp_at(s, i, &k);
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
	(void)cmd_cp_at(lx->s, lx->pos, &n);
	word_add(w, s, n);
	lx->pos += n;
	lx->col++;
}

/* True when the byte offset `pos` is the end or a space: where a closing
 * quote may stand. */
static bool at_boundary(const struct lexer *lx, size_t pos)
{
	size_t n;

	return pos >= lx->len || is_space(cmd_cp_at(lx->s, pos, &n));
}

/* Reads the next word. Returns 1 with *w filled, 0 at the end of the text,
 * or CMD_ESYNTAX with the message written (an unclosed quote). */
int cmd_lex_next(struct lexer *lx, struct word *w, struct msg *m)
{
	size_t n;
	bool start = true;

	while (lx->pos < lx->len && is_space(cmd_cp_at(lx->s, lx->pos, &n))) {
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
		uint32_t c = cmd_cp_at(lx->s, lx->pos, &n);
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
					cmd_put(m, "The quote opened at column %d is never closed.",
						open_col);
					return CMD_ESYNTAX;
				}
				c = cmd_cp_at(lx->s, lx->pos, &n);
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

/* An unquoted word that starts with '-' and is more than "-". */
bool cmd_is_option_word(const struct word *w)
{
	return !w->quoted_start && w->text[0] == '-' && w->text[1] != '\0';
}

/* Decodes the rest of the text into w as typed, spaces and all (entities,
 * mentions and links as for a --reason), without the spaces around it. */
void cmd_rest_as_typed(struct lexer *lx, struct word *w)
{
	size_t n;

	w->len = 0;
	w->text[0] = '\0';
	while (lx->pos < lx->len && is_space(cmd_cp_at(lx->s, lx->pos, &n)))
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
