/* rollbot — people's names for the report (MIT licence, see LICENSE).
 *
 * A cache in front of users.info. One resolve is one batch: every ID it
 * needs is asked at once (api.c paces them to users.info's Tier 4), and
 * its callback runs when the last answer is in. An answer is kept with its
 * time; user_not_found is kept too (as no name), so that a deleted account
 * is not asked about on every report. A transport failure keeps nothing:
 * the next report asks again. Never on the loop's critical path: the
 * report waits for its names, nothing else does.
 */
#include "names.h"

#include <stdlib.h>
#include <string.h>

#include "api.h"
#include "db.h"
#include "log.h"

struct names_batch {
	struct app *app;
	names_cb cb;
	void *arg;
	int waiting;
	uv_idle_t idle; /* a batch with nothing to ask still answers later */
};

struct names_req {
	struct names_batch *b;
	char id[INC_SLACK_ID_MAX];
};

static int64_t now(struct app *app)
{
	return (int64_t)uv_now(&app->loop);
}

/* app->names: {"U…": {"name": "Alex Smith" or null, "at": ms}}. */
static json_t *cache(struct app *app)
{
	if (!app->names)
		app->names = json_object();
	return app->names;
}

static bool fresh(struct app *app, const char *id)
{
	json_t *e = json_object_get(cache(app), id);

	return e && now(app) - json_integer_value(json_object_get(e, "at")) < NAMES_TTL_MS;
}

static void keep(struct app *app, const char *id, const char *name)
{
	if (json_object_size(cache(app)) >= NAMES_MAX)
		json_object_clear(app->names); /* bounded; the store keeps them all */
	json_object_set_new(cache(app), id,
			    json_pack("{s:o, s:I}", "name", name ? json_string(name) : json_null(),
				      "at", (json_int_t)now(app)));
}

static void idle_closed_cb(uv_handle_t *h)
{
	free(h->data);
}

static void batch_done(struct names_batch *b)
{
	b->cb(b->arg);
	uv_close((uv_handle_t *)&b->idle, idle_closed_cb);
}

static void idle_cb(uv_idle_t *h)
{
	struct names_batch *b = h->data;

	uv_idle_stop(h);
	batch_done(b);
}

const char *names_pick(const json_t *user)
{
	const json_t *profile = json_object_get(user, "profile");
	const char *c[] = { json_string_value(json_object_get(profile, "real_name")),
			    json_string_value(json_object_get(user, "real_name")),
			    json_string_value(json_object_get(profile, "display_name")),
			    json_string_value(json_object_get(user, "name")) };

	for (size_t i = 0; i < RB_ARRAY_LEN(c); i++)
		if (c[i] && c[i][0])
			return c[i];
	return NULL;
}

static void info_cb(void *arg, const struct api_result *res)
{
	struct names_req *r = arg;
	struct names_batch *b = r->b;
	const char *name = res->ok ? names_pick(json_object_get(res->body, "user")) : NULL;

	if (res->ok && name) {
		keep(b->app, r->id, name);
		db_save_name(b->app->store, r->id, name);
	} else if (res->error && !strcmp(res->error, "user_not_found")) {
		keep(b->app, r->id, NULL);
	} else {
		log_warn("users.info for %s: %s: the report shows the ID", r->id,
			 res->ok ? "no name" : res->error ? res->error : "?");
	}
	free(r);
	if (--b->waiting == 0)
		batch_done(b);
}

void names_resolve(struct app *app, const json_t *ids, names_cb cb, void *arg)
{
	struct names_batch *b = rb_calloc(1, sizeof *b);
	json_t *asked = json_object();
	const json_t *v;
	size_t i;

	b->app = app;
	b->cb = cb;
	b->arg = arg;
	b->waiting = 1; /* this call's own, dropped at the end */
	uv_idle_init(&app->loop, &b->idle);
	b->idle.data = b;
	json_array_foreach (ids, i, v) {
		const char *id = json_string_value(v);
		struct names_req *r;

		if (!inc_is_user_id(id) || fresh(app, id) || json_object_get(asked, id))
			continue;
		json_object_set_new(asked, id, json_true());
		r = rb_calloc(1, sizeof *r);
		r->b = b;
		(void)rb_strlcpy(r->id, id, sizeof r->id);
		b->waiting++;
		if (api_call(app->api, "users.info", json_pack("{s:s}", "user", id), info_cb, r)) {
			b->waiting--;
			free(r);
		}
	}
	json_decref(asked);
	if (--b->waiting == 0)
		uv_idle_start(&b->idle, idle_cb); /* answered later, like the others */
}

void names_put(struct app *app, const json_t *ids, json_t *names)
{
	const json_t *v;
	size_t i;

	json_array_foreach (ids, i, v) {
		const char *id = json_string_value(v);
		const char *name =
			json_string_value(json_object_get(json_object_get(cache(app), id ? id : ""),
							  "name"));
		if (id && name)
			json_object_set_new(names, id, json_string(name));
	}
}

void names_free(struct app *app)
{
	json_decref(app->names);
	app->names = NULL;
}
