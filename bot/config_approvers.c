/* rollbot — check-config's warnings about approvers (MIT licence, see LICENSE).
 *
 * A configuration can load and still leave a rollback nobody can approve:
 * with `required: 2` and two approvers, neither may approve their own
 * rollback, so a request from either of them can only expire. The bot
 * refuses such a /rollback when it is typed (approval.c); this says so
 * earlier, when the configuration is checked. Only the listed approvers are
 * counted: an approver group's members are in Slack, which check-config
 * does not ask, so a warning names the group it could not read. Fallback
 * approvers who make up the number turn the warning into a note: such a
 * request is escalated from the start (policy.h pol_short_handed).
 */
#include "config.h"

#include <stdio.h>
#include <string.h>

/* Distinct user IDs in the list. */
static size_t distinct(const struct config_approval *a)
{
	size_t n = 0;

	for (size_t i = 0; i < a->n_approvers; i++) {
		bool seen = false;
		for (size_t k = 0; k < i && !seen; k++)
			seen = !strcmp(a->approvers[k], a->approvers[i]);
		n += !seen;
	}
	return n;
}

/* Distinct fallback users not listed as approvers, and 1 more for a
 * fallback group (it has at least one member, or it would be no group):
 * the people who can make up the number (policy.c pol_short_handed). */
static size_t fallback_extra(const struct config_approval *a)
{
	size_t n = a->fallback_group != NULL;

	for (size_t i = 0; i < a->n_fallback; i++) {
		bool seen = false;
		for (size_t k = 0; k < i && !seen; k++)
			seen = !strcmp(a->fallback[k], a->fallback[i]);
		for (size_t k = 0; k < a->n_approvers && !seen; k++)
			seen = !strcmp(a->approvers[k], a->fallback[i]);
		n += !seen;
	}
	return n;
}

/* One warning for block `a` (named `label`) needing `needed` approvals,
 * the requester's own not counting when `others`; `what` names the kind
 * of rollback ("a rollback", "a database rollback (--with-db)"). Returns 1
 * when it warned (a note about the fallback is no warning). */
static int warn_one(FILE *out, const char *path, const char *label,
		    const struct config_approval *a, int needed, bool others, const char *what)
{
	size_t n = distinct(a);
	const char *g = a->approver_group;
	char group[160] = "";
	size_t fb = fallback_extra(a);
	bool noted = false;

	if (g)
		snprintf(group, sizeof group, " (unless approver group %s has more members: "
					      "check-config cannot read a group, it does not ask "
					      "Slack)",
			 g);

	/* Someone who is no approver asks: the approvers and the fallback
	 * count. Too few approvers, but the fallback approvers make up the
	 * number: such a request is asked of them at once (pol_short_handed),
	 * which works, so it is a note and not a warning. */
	if (n < (size_t)needed && n + fb >= (size_t)needed) {
		fprintf(out, "%s: note: %s: %s needs %d approval%s but only %zu approver%s "
			     "listed%s: such a request goes to the fallback approvers at once\n",
			path, label, what, needed, needed == 1 ? "" : "s", n,
			n == 1 ? " is" : "s are", group);
		noted = true;
	} else if (n < (size_t)needed) {
		fprintf(out, "%s: warning: %s: %s needs %d approval%s but only %zu approver%s "
			     "listed%s: nobody can get it approved\n",
			path, label, what, needed, needed == 1 ? "" : "s", n,
			n == 1 ? " is" : "s are", group);
		return 1;
	}
	/* An approver asks: one approver fewer. */
	if (others && n < (size_t)needed + 1 && n + fb >= (size_t)needed + 1) {
		if (!noted)
			fprintf(out, "%s: note: %s: %s needs %d approval%s from people other than "
				     "the requester, and %zu approver%s listed%s: an approver's own "
				     "rollback goes to the fallback approvers at once\n",
				path, label, what, needed, needed == 1 ? "" : "s", n,
				n == 1 ? " is" : "s are", group);
	} else if (others && n < (size_t)needed + 1) {
		fprintf(out, "%s: warning: %s: %s needs %d approval%s from people other than the "
			     "requester, and %zu approver%s listed%s: anyone who is an approver "
			     "cannot get their own rollback approved (list at least %d)\n",
			path, label, what, needed, needed == 1 ? "" : "s", n,
			n == 1 ? " is" : "s are", group, needed + 1);
		return 1;
	}
	return 0;
}

/* The warnings of one approval block, used by the services for which
 * `used` is true (any with a database rollback when `with_db`). */
static int warn_block(FILE *out, const char *path, const char *label,
		      const struct config_approval *a, bool with_db)
{
	int n = warn_one(out, path, label, a, a->required, !a->allow_self_approval,
			 "a rollback");

	/* --with-db: two different approvers at least, never the requester
	 * (policy.c); said only when it is news. */
	if (with_db && !n)
		n = warn_one(out, path, label, a, a->required < 2 ? 2 : a->required, true,
			     "a database rollback (--with-db)");
	/* Escalating to nobody would say "escalated" and change nothing. */
	if (a->escalate_after_ms > 0 && a->n_fallback == 0 && !a->fallback_group) {
		fprintf(out, "%s: warning: %s: `escalate_after` is set but `fallback` lists "
			     "nobody: an unanswered request will not be escalated\n",
			path, label);
		n++;
	}
	return n;
}

int config_warn_approvers(const struct config *cfg, FILE *out)
{
	bool global_used = false, global_db = false;
	int n = 0;

	for (size_t i = 0; i < cfg->n_services; i++) {
		const struct config_service *s = &cfg->services[i];
		char label[CONFIG_LABEL_MAX];

		if (!s->has_approval) {
			global_used = true;
			global_db = global_db || s->db_rollback;
			continue;
		}
		snprintf(label, sizeof label, "services.%s.approval", s->name);
		n += warn_block(out, cfg->path, label, &s->approval, s->db_rollback != NULL);
	}
	if (global_used)
		n += warn_block(out, cfg->path, "approval", &cfg->approval, global_db);
	return n;
}
