/* rollbot — shared helpers (MIT licence, see LICENSE).
 *
 * Implementation of rb.h: aborting allocators and the bounded buffer.
 */
#include "rb.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void rb_assert_fail(const char *what, const char *file, int line)
{
	fprintf(stderr, "rollbot: assertion failed: %s (%s:%d)\n", what, file, line);
	abort();
}

static void oom(size_t n)
{
	fprintf(stderr, "rollbot: out of memory allocating %zu bytes\n", n);
	abort();
}

void *rb_malloc(size_t n)
{
	void *p = malloc(n ? n : 1);
	if (!p)
		oom(n);
	return p;
}

void *rb_calloc(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size ? size : 1);
	if (!p)
		oom(n * size);
	return p;
}

void *rb_realloc(void *p, size_t n)
{
	void *q = realloc(p, n ? n : 1);
	if (!q)
		oom(n);
	return q;
}

char *rb_strdup(const char *s)
{
	return rb_strndup(s, strlen(s));
}

char *rb_strndup(const char *s, size_t n)
{
	char *p = rb_malloc(n + 1);
	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

/* Formats into a new string; the caller frees it with free(). */
char *rb_vasprintf(const char *fmt, va_list ap)
{
	va_list ap2;
	char probe[1];
	int n;
	char *p;

	RB_ASSERT(fmt); /* tells gcc's -Wformat-truncation it is not NULL */
	va_copy(ap2, ap);
	n = vsnprintf(probe, sizeof probe, fmt, ap2);
	va_end(ap2);
	RB_ASSERT(n >= 0);
	p = rb_malloc((size_t)n + 1);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	return p;
}

char *rb_asprintf(const char *fmt, ...)
{
	va_list ap;
	char *p;

	va_start(ap, fmt);
	p = rb_vasprintf(fmt, ap);
	va_end(ap);
	return p;
}

int rb_str_in_list(const char *const *list, const char *s)
{
	for (size_t i = 0; list[i]; i++)
		if (!strcmp(list[i], s))
			return 1;
	return 0;
}

size_t rb_utf8_chars(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		if (((unsigned char)*s & 0xC0) != 0x80)
			n++;
	return n;
}

char *rb_code_tail(const char *s, size_t len, size_t max_chars, size_t *cut)
{
	static const char zwsp[] = "\xe2\x80\x8b"; /* U+200B ZERO WIDTH SPACE */
	size_t start = len, kept = 0, before = 0, o = 0, run = 0;
	char *out;

	/* Back from the end, a character at a time (its first byte is not a
	 * continuation byte). */
	while (start > 0) {
		size_t i = start - 1;
		while (i > 0 && ((unsigned char)s[i] & 0xC0) == 0x80)
			i--;
		if (kept == max_chars)
			break;
		start = i;
		kept++;
	}
	for (size_t i = 0; i < start; i++)
		before += ((unsigned char)s[i] & 0xC0) != 0x80;
	*cut = before;
	/* At worst a zero-width space for every second byte. */
	out = rb_malloc((len - start) / 2 * (sizeof zwsp - 1) + (len - start) + 1);
	for (size_t i = start; i < len; i++) {
		if (s[i] == '`' && run == 2) {
			memcpy(out + o, zwsp, sizeof zwsp - 1);
			o += sizeof zwsp - 1;
			run = 0;
		}
		run = s[i] == '`' ? run + 1 : 0;
		out[o++] = s[i];
	}
	out[o] = '\0';
	return out;
}

int rb_strlcpy(char *dst, const char *src, size_t size)
{
	size_t n = strlen(src);

	if (!size)
		return RB_ETOOBIG;
	if (n >= size) {
		memcpy(dst, src, size - 1);
		dst[size - 1] = '\0';
		return RB_ETOOBIG;
	}
	memcpy(dst, src, n + 1);
	return RB_OK;
}

void rb_buf_init(struct rb_buf *b, size_t max)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->max = max;
}

/* Appends n bytes. Past the ceiling the buffer is freed and RB_ETOOBIG
 * returned, as curl's dynbuf does, so a half-built value is never used. */
int rb_buf_append(struct rb_buf *b, const void *p, size_t n)
{
	size_t need = b->len + n + 1;

	if (need > b->max + 1 || need < b->len) {
		rb_buf_free(b);
		return RB_ETOOBIG;
	}
	if (need > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		while (cap < need)
			cap *= 2;
		if (cap > b->max + 1)
			cap = b->max + 1;
		b->data = rb_realloc(b->data, cap);
		b->cap = cap;
	}
	if (n)
		memcpy(b->data + b->len, p, n);
	b->len += n;
	b->data[b->len] = '\0';
	return RB_OK;
}

int rb_buf_puts(struct rb_buf *b, const char *s)
{
	return rb_buf_append(b, s, strlen(s));
}

int rb_buf_vprintf(struct rb_buf *b, const char *fmt, va_list ap)
{
	char small[256];
	va_list ap2;
	int n, rc;
	char *big;

	va_copy(ap2, ap);
	n = vsnprintf(small, sizeof small, fmt, ap);
	if (n < 0) {
		va_end(ap2);
		return RB_EINVAL;
	}
	if ((size_t)n < sizeof small) {
		va_end(ap2);
		return rb_buf_append(b, small, (size_t)n);
	}
	big = rb_malloc((size_t)n + 1);
	vsnprintf(big, (size_t)n + 1, fmt, ap2);
	va_end(ap2);
	rc = rb_buf_append(b, big, (size_t)n);
	free(big);
	return rc;
}

int rb_buf_printf(struct rb_buf *b, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = rb_buf_vprintf(b, fmt, ap);
	va_end(ap);
	return rc;
}

const char *rb_buf_str(const struct rb_buf *b)
{
	return b->data ? b->data : "";
}

void rb_buf_reset(struct rb_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void rb_buf_free(struct rb_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

char *rb_buf_steal(struct rb_buf *b)
{
	char *p = b->data ? b->data : rb_strdup("");
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return p;
}
