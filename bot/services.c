/* rollbot — `/rollback services`: what can be rolled back (MIT licence, see LICENSE).
 *
 * One line per configured service, sorted by name: its method, the
 * environment the configuration names (`environment:`, optional), and the
 * incident that holds it, if any: one this process carries, or one another
 * replica carries as its last heartbeat showed it (the same two checks a
 * new /rollback of the service meets). Read from memory only, so it is the
 * ack itself; an answer over the ack's 20 KB goes through response_url
 * (fit_ack in ingress.c).
 */
#include "shell.h"

#include <stdlib.h>
#include <string.h>

#include "../commands/plan.h"
#include "../commands/render.h"

static int by_name(const void *a, const void *b)
{
	const struct config_service *x = *(const struct config_service *const *)a;
	const struct config_service *y = *(const struct config_service *const *)b;

	return strcmp(x->name, y->name);
}

/* The incident holding `service`: id and state, as words. False if none. */
static bool held_by(struct app *app, const char *service, const char **id, char state[48])
{
	const struct app_open *o;

	for (const struct app_inc *ai = app->incidents; ai; ai = ai->next) {
		if (!strcmp(ai->inc.service, service) && inc_state_holds_service(ai->inc.state)) {
			*id = ai->inc.id;
			(void)rb_strlcpy(state, inc_state_name(ai->inc.state), 48);
			break;
		}
	}
	if (!*id) {
		o = owner_open_for_service(app, service);
		if (!o)
			return false;
		*id = o->id;
		(void)rb_strlcpy(state, o->state, 48);
	}
	for (char *p = state; *p; p++)
		if (*p == '_')
			*p = ' ';
	return true;
}

static int service_line(struct app *app, struct rb_buf *b, const struct config_service *svc)
{
	const struct plan_method_info *mi = plan_method_info(svc->method);
	const char *id = NULL;
	char state[48];
	int rc;

	rc = rb_buf_puts(b, "\n• *");
	if (!rc)
		rc = tpl_escape(b, svc->name, TPL_ESC_SLACK);
	if (!rc)
		rc = rb_buf_printf(b, "*: %s (%s), ", mi->title, mi->name);
	if (!rc && svc->environment)
		rc = tpl_escape(b, svc->environment, TPL_ESC_SLACK);
	else if (!rc)
		rc = rb_buf_puts(b, "no environment configured");
	if (!rc && held_by(app, svc->name, &id, state))
		rc = rb_buf_printf(b, ". Held by *%s* (%s).", id, state);
	else if (!rc)
		rc = rb_buf_puts(b, ". Free.");
	return rc;
}

char *services_text(struct app *app)
{
	size_t n = app->cfg->n_services;
	const struct config_service **v;
	struct rb_buf b;
	char *out;
	int rc;

	if (!n)
		return rb_strdup("No services are configured: add them under `services:` in "
				 "rollbot.yaml.");
	v = rb_calloc(n, sizeof *v);
	for (size_t i = 0; i < n; i++)
		v[i] = &app->cfg->services[i];
	qsort(v, n, sizeof *v, by_name);
	/* Within a message's 40,000 characters, as `status` is. */
	rb_buf_init(&b, 39000);
	rc = rb_buf_printf(&b, "*Services rollbot can roll back* (%zu):", n);
	for (size_t i = 0; i < n && !rc; i++)
		rc = service_line(app, &b, v[i]);
	if (!rc)
		rc = rb_buf_puts(&b, "\n`/rollback SERVICE --dry-run` shows what a rollback would "
				     "run; `/rollback status INC-…` where an incident stands.");
	free(v);
	out = rb_strdup(rc ? "Too many services to list here: see `services:` in rollbot.yaml."
			   : rb_buf_str(&b));
	rb_buf_free(&b);
	return out;
}
