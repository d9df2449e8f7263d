/* rollbot — a running step's progress, from its tool's output (MIT licence, see LICENSE).
 *
 * The tools say where a rollout is on lines of their own (kubectl's
 * rollout status, helm's --wait with --debug); the live message shows the
 * last one, and a bar when it holds a count rollbot knows. Everything here
 * is pure: bot/live.c feeds it the end of the output and posts the text.
 */
#include "progress.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "rb.h"

/* Copies line [p, p+n) into dst without ANSI escape sequences (CSI "ESC [
 * … final byte" and two-byte ones) nor other control characters but tab,
 * cut on a UTF-8 boundary to PROGRESS_LINE_MAX bytes ("…" added). */
static void clean_line(const char *p, size_t n, char *dst)
{
	size_t o = 0, i = 0;

	while (i < n) {
		unsigned char c = (unsigned char)p[i];

		if (c == 0x1b) {
			i++;
			if (i < n && p[i] == '[') {
				i++;
				while (i < n && !((unsigned char)p[i] >= 0x40 && (unsigned char)p[i] <= 0x7e))
					i++;
			}
			i++; /* the final byte, or the byte after a lone ESC */
			continue;
		}
		if (c < 0x20 || c == 0x7f) {
			if (c == '\t' && o && dst[o - 1] != ' ')
				dst[o++] = ' ';
			i++;
			if (o >= PROGRESS_LINE_MAX)
				break;
			continue;
		}
		if (o >= PROGRESS_LINE_MAX) {
			while (o && ((unsigned char)dst[o - 1] & 0xc0) == 0x80)
				o--; /* continuation bytes of a cut character */
			if (o && (unsigned char)dst[o - 1] >= 0xc0)
				o--; /* and its lead byte */
			memcpy(dst + o, "…", 3);
			o += 3;
			break;
		}
		dst[o++] = (char)c;
		i++;
	}
	while (o && dst[o - 1] == ' ')
		o--;
	dst[o] = '\0';
	/* Leading blanks say nothing either. */
	i = strspn(dst, " ");
	if (i)
		memmove(dst, dst + i, strlen(dst + i) + 1);
}

/* "A of B <what>" or "A out of B <what>" in s: 0 and *done, *total set. */
static int count_before(const char *s, const char *what, int *done, int *total)
{
	const char *w = strstr(s, what);

	while (w) {
		/* Walk back over "B", " of " or " out of ", "A". */
		const char *q = w;
		int b = 0, a = 0, mul = 1;

		while (q > s && q[-1] == ' ')
			q--;
		if (q > s && q[-1] >= '0' && q[-1] <= '9') {
			while (q > s && q[-1] >= '0' && q[-1] <= '9' && mul < 100000000) {
				b += (q[-1] - '0') * mul;
				mul *= 10;
				q--;
			}
			if ((size_t)(q - s) >= 4 && !strncmp(q - 4, " of ", 4)) {
				q -= 4;
				if ((size_t)(q - s) >= 4 && !strncmp(q - 4, " out", 4))
					q -= 4;
				mul = 1;
				if (q > s && q[-1] >= '0' && q[-1] <= '9') {
					while (q > s && q[-1] >= '0' && q[-1] <= '9' && mul < 100000000) {
						a += (q[-1] - '0') * mul;
						mul *= 10;
						q--;
					}
					if (b > 0) {
						*done = a;
						*total = b;
						return 0;
					}
				}
			}
		}
		w = strstr(w + 1, what);
	}
	return -1;
}

/* The counts rollbot knows: kubectl's deployments and daemon sets, then
 * helm's --wait. Stateful sets say "Waiting for N pods to be ready", which
 * has no total: shown as a line. */
static void read_count(struct progress *p)
{
	static const char *const what[] = {
		" updated replicas are available",
		" new replicas have been updated",
		" updated pods are available",
		" new pods have been updated",
		" expected pods are ready",
		" pods are ready",
	};

	for (size_t i = 0; i < sizeof what / sizeof what[0]; i++)
		if (!count_before(p->line, what[i], &p->done, &p->total))
			return;
}

void progress_parse(const char *out, size_t len, struct progress *p)
{
	size_t end = len;

	memset(p, 0, sizeof *p);
	if (!out)
		return;
	/* From the last line back to the first one that says something. A
	 * tool that redraws its line with \r shows what it drew last. */
	while (end > 0) {
		size_t start = end;
		const char *cr;

		while (start > 0 && out[start - 1] != '\n')
			start--;
		cr = NULL;
		for (size_t i = start; i < end; i++)
			if (out[i] == '\r' && i + 1 < end)
				cr = out + i + 1;
		if (cr)
			clean_line(cr, (size_t)(out + end - cr), p->line);
		else
			clean_line(out + start, end - start, p->line);
		if (p->line[0])
			break;
		end = start ? start - 1 : 0;
	}
	if (p->line[0])
		read_count(p);
}

void progress_bar(int done, int total, char *out, size_t len)
{
	size_t o = 0;
	int full;

	if (!len)
		return;
	out[0] = '\0';
	if (total <= 0)
		return;
	if (done < 0)
		done = 0;
	if (done > total)
		done = total;
	full = (int)((int64_t)done * PROGRESS_BAR_CELLS / total);
	for (int i = 0; i < PROGRESS_BAR_CELLS && o + 4 < len; i++) {
		memcpy(out + o, i < full ? "▓" : "░", 3);
		o += 3;
	}
	snprintf(out + o, len - o, " %d/%d", done, total);
}

void progress_duration(int64_t ms, char *out, size_t len)
{
	int64_t s = ms > 0 ? ms / 1000 : 0;

	if (s < 60)
		snprintf(out, len, "%lld s", (long long)s);
	else if (s < 3600 && s % 60)
		snprintf(out, len, "%lld min %lld s", (long long)(s / 60), (long long)(s % 60));
	else if (s < 3600)
		snprintf(out, len, "%lld min", (long long)(s / 60));
	else
		snprintf(out, len, "%lld h %lld min", (long long)(s / 3600),
			 (long long)(s % 3600 / 60));
}

/* The line for a code span: & < > escaped for Slack, ` made ' (a code
 * span has no escape for its own delimiter). */
static void span_text(const char *s, struct rb_buf *b)
{
	for (; *s; s++) {
		int rc;

		if (*s == '&')
			rc = rb_buf_puts(b, "&amp;");
		else if (*s == '<')
			rc = rb_buf_puts(b, "&lt;");
		else if (*s == '>')
			rc = rb_buf_puts(b, "&gt;");
		else if (*s == '`')
			rc = rb_buf_puts(b, "'");
		else
			rc = rb_buf_append(b, s, 1);
		if (rc)
			return;
	}
}

char *progress_text(int index, int n_steps, const char *title, int64_t elapsed_ms,
		    int64_t timeout_ms, const struct progress *p)
{
	struct rb_buf b;
	char el[32], to[32], bar[64];
	char *s;
	int rc;

	progress_duration(elapsed_ms, el, sizeof el);
	progress_duration(timeout_ms, to, sizeof to);
	rb_buf_init(&b, 4096);
	rc = rb_buf_printf(&b, "⏳ *Step %d/%d*: ", index + 1, n_steps);
	span_text(title ? title : "", &b); /* no backtick outside a span either */
	rc |= rb_buf_printf(&b, " — %s of %s", el, to);
	progress_bar(p->done, p->total, bar, sizeof bar);
	if (bar[0])
		rc |= rb_buf_printf(&b, "\n%s", bar);
	if (p->line[0]) {
		rc |= rb_buf_puts(&b, "\n`");
		span_text(p->line, &b);
		rc |= rb_buf_puts(&b, "`");
	}
	/* 4,096 bytes hold a title and a cut line many times over. */
	s = rb_strdup(rc ? "⏳ …" : rb_buf_str(&b));
	rb_buf_free(&b);
	return s;
}

char *progress_final_text(int index, int n_steps, const char *title, bool ok,
			  const char *outcome, const struct progress *p)
{
	struct rb_buf b;
	char bar[64];
	char *s;
	int rc;

	rb_buf_init(&b, 4096);
	rc = rb_buf_printf(&b, "%s *Step %d/%d*: ", ok ? "✔" : "✖", index + 1, n_steps);
	span_text(title ? title : "", &b);
	rc |= rb_buf_puts(&b, " — ");
	span_text(outcome ? outcome : "", &b);
	progress_bar(p->done, p->total, bar, sizeof bar);
	if (bar[0])
		rc |= rb_buf_printf(&b, "\n%s", bar);
	s = rb_strdup(rc ? (ok ? "✔ …" : "✖ …") : rb_buf_str(&b));
	rb_buf_free(&b);
	return s;
}

char *progress_interrupted_text(int index, int n_steps, const char *title)
{
	struct rb_buf b;
	char *s;
	int rc;

	rb_buf_init(&b, 4096);
	rc = rb_buf_printf(&b, "⚠️ *Step %d/%d*: ", index + 1, n_steps);
	span_text(title ? title : "", &b);
	rc |= rb_buf_puts(&b, " — interrupted: rollbot restarted while it ran (what became of it "
			      "follows in the thread)");
	s = rb_strdup(rc ? "⚠️ …" : rb_buf_str(&b));
	rb_buf_free(&b);
	return s;
}
