/* rollbot — files compiled into the binary (MIT licence, see LICENSE).
 *
 * sql/NNN_name.sql and templates/NAME.mustache, embedded by tools/embed.c at build
 * time, in name order within each folder.
 */
#ifndef EMBEDDED_H
#define EMBEDDED_H

#include <stddef.h>

struct rb_embedded {
	const char *dir;  /* "sql" or "templates" */
	const char *name; /* "001_init.sql" */
	const char *data; /* NUL-terminated */
	size_t len;
};

extern const struct rb_embedded rb_embedded[];
extern const size_t rb_embedded_count;

#endif
