/* rollbot — shared helpers (MIT licence, see LICENSE).
 *
 * The few pieces every module uses: the error-code convention, the
 * must-check marker, buffer ceilings, an allocator that aborts on
 * exhaustion, and a growable byte buffer with a ceiling of its own (after
 * curl's dynbuf). Pure: no I/O, no clock, no globals.
 */
#ifndef RB_H
#define RB_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#define RB_MUSTCHECK __attribute__((warn_unused_result))
#define RB_PRINTF(a, b) __attribute__((format(printf, a, b)))
#define RB_ERR_LEN 256

/* Ceilings: every buffer that grows from outside input stops here. */
#define RB_WS_MSG_MAX (1u << 20)    /* one Socket Mode message */
#define RB_HTTP_BODY_MAX (1u << 20) /* one Web API or probe response */
#define RB_PROC_OUT_MAX (256u << 10) /* one subprocess's stdout+stderr */
#define RB_ACK_MAX 20000u           /* Slack drops acks of 20,480 bytes or more */

#define RB_ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define RB_CONTAINER_OF(p, type, member) \
	((type *)(void *)((char *)(p)-offsetof(type, member)))

/* A broken invariant is a bug: say where, then abort. */
#define RB_ASSERT(cond)                                              \
	do {                                                         \
		if (!(cond))                                         \
			rb_assert_fail(#cond, __FILE__, __LINE__);   \
	} while (0)

enum {
	RB_OK = 0,
	RB_ENOMEM = -1,
	RB_ETOOBIG = -2,
	RB_EINVAL = -3,
};

void rb_assert_fail(const char *what, const char *file, int line)
	__attribute__((noreturn));

/* Allocation that never returns NULL: a daemon that cannot get a few
 * bytes cannot do anything sensible either (redis zmalloc does the same). */
void *rb_malloc(size_t n);
void *rb_calloc(size_t n, size_t size);
void *rb_realloc(void *p, size_t n);
char *rb_strdup(const char *s);
char *rb_strndup(const char *s, size_t n);
char *rb_asprintf(const char *fmt, ...) RB_PRINTF(1, 2);
char *rb_vasprintf(const char *fmt, va_list ap);

/* True when `s` is one of the NULL-terminated `list`. */
int rb_str_in_list(const char *const *list, const char *s);

/* Characters (not bytes) in a UTF-8 string: continuation bytes don't count. */
size_t rb_utf8_chars(const char *s);

/* The end of the UTF-8 text s[0..len) to show in a Slack code block: its
 * last `max_chars` characters at most, never cut inside a character, with
 * every run of backticks broken by a zero-width space after two of them,
 * so that the text cannot close the block (```). Returns a new string;
 * *cut is the number of characters left out before it (0: none). */
char *rb_code_tail(const char *s, size_t len, size_t max_chars, size_t *cut);

/* Bounded string copy: always NUL-terminates, returns RB_ETOOBIG when cut. */
int rb_strlcpy(char *dst, const char *src, size_t size);

/* A growable, always NUL-terminated byte buffer with a ceiling. Fields are
 * read-only outside rb.c: use the functions. */
struct rb_buf {
	char *data; /* NULL until the first append */
	size_t len;
	size_t cap;
	size_t max; /* ceiling; an append past it fails with RB_ETOOBIG */
};

void rb_buf_init(struct rb_buf *b, size_t max);
int rb_buf_append(struct rb_buf *b, const void *p, size_t n) RB_MUSTCHECK;
int rb_buf_puts(struct rb_buf *b, const char *s) RB_MUSTCHECK;
int rb_buf_printf(struct rb_buf *b, const char *fmt, ...) RB_PRINTF(2, 3) RB_MUSTCHECK;
int rb_buf_vprintf(struct rb_buf *b, const char *fmt, va_list ap) RB_MUSTCHECK;
const char *rb_buf_str(const struct rb_buf *b); /* "" when empty */
void rb_buf_reset(struct rb_buf *b);
void rb_buf_free(struct rb_buf *b);
/* Hands the bytes to the caller (free with free()); the buffer is empty after. */
char *rb_buf_steal(struct rb_buf *b);

#endif
