/* rollbot — the programs a service's rollback runs (MIT licence, see LICENSE). */
#include "tools.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../commands/plan.h"

static const char *param_value(const struct config_service *svc, const char *key)
{
	for (size_t i = 0; i < svc->n_params; i++)
		if (!strcmp(svc->params[i].key, key))
			return svc->params[i].value;
	return NULL;
}

/* The program every command of a method starts with (commands/plan.c). */
static const char *method_program(const struct config_service *svc)
{
	switch (svc->method) {
	case PLAN_KUBECTL:
	case PLAN_BLUEGREEN:
	case PLAN_CANARY:
	case PLAN_RECREATE:
		return "kubectl";
	case PLAN_HELM:
		return "helm";
	case PLAN_DOCKER:
		return "docker";
	case PLAN_LAMBDA:
		return "aws";
	case PLAN_SCRIPT:
		return param_value(svc, "path");
	case PLAN_FLAG:
	case PLAN_METHOD_COUNT:
		break;
	}
	return NULL;
}

size_t tools_needed(const struct config_service *svc, bool with_db, const char *out[TOOLS_MAX])
{
	const char *m = method_program(svc);
	size_t n = 0;

	if (m)
		out[n++] = m;
	if (with_db && svc->n_db_rollback && (!m || strcmp(m, svc->db_rollback[0])))
		out[n++] = svc->db_rollback[0];
	return n;
}

static bool runnable(const char *file)
{
	struct stat st;

	return stat(file, &st) == 0 && S_ISREG(st.st_mode) && access(file, X_OK) == 0;
}

bool tools_found(const char *prog, const char *path)
{
	size_t plen = strlen(prog);

	if (!plen)
		return false;
	if (strchr(prog, '/'))
		return runnable(prog);
	if (!path)
		path = tools_path();
	for (const char *p = path;; p++) {
		size_t n = strcspn(p, ":");
		char *file = n ? rb_asprintf("%.*s/%s", (int)n, p, prog) : rb_asprintf("./%s", prog);
		bool ok = runnable(file);

		free(file);
		if (ok)
			return true;
		p += n;
		if (!*p)
			return false;
	}
}

const char *tools_missing(const struct config_service *svc, bool with_db, const char *path)
{
	const char *need[TOOLS_MAX];
	size_t n = tools_needed(svc, with_db, need);

	for (size_t i = 0; i < n; i++)
		if (!tools_found(need[i], path))
			return need[i];
	return NULL;
}

const char *tools_path(void)
{
	const char *p = getenv("PATH");

	return p ? p : TOOLS_DEFAULT_PATH;
}

const char *tools_why(const char *prog, const char *path, char *buf, size_t len)
{
	if (strchr(prog, '/'))
		snprintf(buf, len, "%s is missing or not an executable file", prog);
	else
		snprintf(buf, len, "%s is not on PATH (%s)", prog, path ? path : tools_path());
	return buf;
}

const char *tools_why_short(const char *prog, char *buf, size_t len)
{
	snprintf(buf, len, strchr(prog, '/') ? "%s missing or not executable"
					     : "%s not found on PATH",
		 prog);
	return buf;
}

/* Whether prog was already reported, for a service before svcs[i]. */
static bool reported_before(const struct config *cfg, size_t i, const char *prog)
{
	for (size_t j = 0; j < i; j++) {
		const char *need[TOOLS_MAX];
		size_t n = tools_needed(&cfg->services[j], true, need);

		for (size_t k = 0; k < n; k++)
			if (!strcmp(need[k], prog))
				return true;
	}
	return false;
}

char *tools_report(const struct config *cfg, const char *path)
{
	struct rb_buf b;
	char why[RB_ERR_LEN];
	int rc = 0;

	rb_buf_init(&b, 1 << 20);
	for (size_t i = 0; i < cfg->n_services && !rc; i++) {
		const char *need[TOOLS_MAX];
		size_t n = tools_needed(&cfg->services[i], true, need);

		for (size_t k = 0; k < n && !rc; k++) {
			const char *prog = need[k];
			const char *sep = ": needed by ";

			if (tools_found(prog, path) || reported_before(cfg, i, prog))
				continue;
			rc = rb_buf_puts(&b, tools_why(prog, path, why, sizeof why));
			for (size_t j = i; j < cfg->n_services && !rc; j++) {
				const struct config_service *svc = &cfg->services[j];
				const char *m = method_program(svc);
				bool db = svc->n_db_rollback && !strcmp(svc->db_rollback[0], prog);

				if (m && !strcmp(m, prog))
					rc = rb_buf_printf(&b, "%s%s", sep, svc->name);
				else if (db)
					rc = rb_buf_printf(&b, "%s%s --with-db", sep, svc->name);
				else
					continue;
				sep = ", ";
			}
			if (!rc)
				rc = rb_buf_puts(&b, "\n");
		}
	}
	if (rc || !b.len) {
		rb_buf_free(&b);
		return NULL;
	}
	return rb_buf_steal(&b);
}
