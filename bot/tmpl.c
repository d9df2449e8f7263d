/* rollbot — the message templates in use (MIT licence, see LICENSE).
 *
 * A small array of (name, text) pairs: the embedded defaults, each
 * possibly replaced by the operator's file of the same name.
 */
#include "tmpl.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embedded.h"
#include "log.h"

#define SUFFIX ".mustache"
#define TMPL_OUT_MAX (64u << 10)

struct tmpl {
	char *name; /* "announcement" */
	char *text;
	char *source; /* "built-in" or the override's path */
};

struct tmpl_set {
	struct tmpl *t;
	size_t n;
};

void tmpl_free(struct tmpl_set *ts)
{
	if (!ts)
		return;
	for (size_t i = 0; i < ts->n; i++) {
		free(ts->t[i].name);
		free(ts->t[i].text);
		free(ts->t[i].source);
	}
	free(ts->t);
	free(ts);
}

static struct tmpl *find(const struct tmpl_set *ts, const char *name)
{
	for (size_t i = 0; i < ts->n; i++)
		if (!strcmp(ts->t[i].name, name))
			return &ts->t[i];
	return NULL;
}

static char *read_file(const char *path, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	struct rb_buf b;
	char chunk[4096];
	size_t n;

	if (!f) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return NULL;
	}
	rb_buf_init(&b, TMPL_OUT_MAX);
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		if (rb_buf_append(&b, chunk, n)) {
			snprintf(err, errlen, "%s: larger than %u bytes", path, TMPL_OUT_MAX);
			fclose(f);
			return NULL;
		}
	}
	fclose(f);
	return rb_buf_steal(&b);
}

static int load_overrides(struct tmpl_set *ts, const char *dir, char *err, size_t errlen)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int rc = 0;

	if (!d) {
		snprintf(err, errlen, "templates_dir %s: %s", dir, strerror(errno));
		return RB_EINVAL;
	}
	while (!rc && (de = readdir(d))) {
		size_t len = strlen(de->d_name);
		char *name, *path, *text = NULL;
		struct tmpl *t;

		if (len <= strlen(SUFFIX) || strcmp(de->d_name + len - strlen(SUFFIX), SUFFIX))
			continue;
		name = rb_strndup(de->d_name, len - strlen(SUFFIX));
		path = rb_asprintf("%s/%s", dir, de->d_name);
		t = find(ts, name);
		if (!t) {
			snprintf(err, errlen,
				 "%s: there is no built-in template named %s (check the file name)",
				 path, name);
			rc = RB_EINVAL;
		} else {
			text = read_file(path, err, errlen);
		}
		if (!rc && !text) {
			rc = RB_EINVAL;
		} else if (!rc) {
			free(t->text);
			free(t->source);
			t->text = text;
			t->source = path;
			path = NULL;
			log_info("templates: %s overridden by %s", name, t->source);
		}
		free(name);
		free(path);
	}
	closedir(d);
	return rc;
}

int tmpl_load(const char *dir, struct tmpl_set **out, char *err, size_t errlen)
{
	struct tmpl_set *ts = rb_calloc(1, sizeof *ts);
	char perr[RB_ERR_LEN];

	*out = NULL;
	ts->t = rb_calloc(rb_embedded_count, sizeof *ts->t);
	for (size_t i = 0; i < rb_embedded_count; i++) {
		const struct rb_embedded *e = &rb_embedded[i];
		size_t len = strlen(e->name);
		if (strcmp(e->dir, "templates") || len <= strlen(SUFFIX))
			continue;
		ts->t[ts->n].name = rb_strndup(e->name, len - strlen(SUFFIX));
		ts->t[ts->n].text = rb_strdup(e->data);
		ts->t[ts->n].source = rb_strdup("built-in");
		ts->n++;
	}
	if (dir && load_overrides(ts, dir, err, errlen)) {
		tmpl_free(ts);
		return RB_EINVAL;
	}
	for (size_t i = 0; i < ts->n; i++) {
		if (tpl_check(ts->t[i].text, perr, sizeof perr)) {
			snprintf(err, errlen, "template %s (%s): %s", ts->t[i].name,
				 ts->t[i].source, perr);
			tmpl_free(ts);
			return RB_EINVAL;
		}
	}
	*out = ts;
	return 0;
}

static const char *partial_cb(void *arg, const char *name)
{
	struct tmpl *t = find(arg, name);

	return t ? t->text : NULL;
}

char *tmpl_render(const struct tmpl_set *ts, const char *name, json_t *data)
{
	struct tmpl *t = find(ts, name);
	size_t len = strlen(name);
	enum tpl_escape esc = TPL_ESC_SLACK;
	struct rb_buf out;
	char err[RB_ERR_LEN];

	if (!t) {
		log_error("templates: no template named %s", name);
		return NULL;
	}
	if ((len > 3 && !strcmp(name + len - 3, ".md")) ||
	    (len > 4 && !strcmp(name + len - 4, ".txt")))
		esc = TPL_ESC_NONE;
	rb_buf_init(&out, TMPL_OUT_MAX);
	if (tpl_render(t->text, data, esc, partial_cb, (void *)ts, &out, err, sizeof err)) {
		log_error("templates: rendering %s (%s) failed: %s", name, t->source, err);
		rb_buf_free(&out);
		return NULL;
	}
	return rb_buf_steal(&out);
}
