/* rollbot — what the configuration's files share (MIT licence, see LICENSE).
 *
 * config.c reads the top level of rollbot.yaml (config_parse, config_load),
 * frees a configuration and answers its readers (config.h); config_yaml.c
 * builds the tree of YAML nodes with their positions, writes the
 * "FILE:LINE:COL: message" errors and reads scalars and mappings;
 * config_values.c says what one value may be (durations, booleans,
 * severities, Slack IDs, URLs, the time zone); config_policy.c reads the
 * approval and verify blocks; config_service.c reads the `services:` block
 * and builds each service's plan to check it; config_approvers.c warns
 * check-config about approval blocks nobody could satisfy (it needs only
 * config.h). Internal to the configuration: nothing outside bot/config*.c
 * includes this.
 */
#ifndef CONFIG_INT_H
#define CONFIG_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../commands/parse.h"
#include "config.h"

#define EXAMPLE_HINT "see examples/rollbot.yaml"

enum node_kind {
	NODE_SCALAR,
	NODE_SEQ,
	NODE_MAP
};

/* One YAML value. A mapping's kids are key, value, key, value, … */
struct node {
	enum node_kind kind;
	int line, col; /* 1-based */
	char *str;     /* scalar text, NUL-terminated; may hold NULs from "\0" */
	size_t len;
	bool plain; /* unquoted scalar: only these can be null (``, ~, null) */
	struct node **kids;
	size_t n_kids;
	size_t cap;
};

struct ctx {
	const char *name; /* the file, for messages */
	char *err;
	size_t errlen;
};

enum id_kind {
	ID_CHANNEL,
	ID_USER,
	ID_GROUP
};

/* config_yaml.c: messages. */
/* At most 40 characters of s for a message, control characters as '?'. */
const char *config_clip(const char *s, char *buf, size_t size);
/* Writes "FILE:LINE:COL: message" (position of n, or 1:1) and returns
 * CONFIG_EINVALID, so callers can `return config_fail(…)`. */
int config_fail(struct ctx *c, const struct node *n, const char *fmt, ...) RB_PRINTF(3, 4);
/* "a, b, c" from a NULL-terminated list, into buf. */
const char *config_join(const char *const *list, char *buf, size_t size);

/* config_yaml.c: the tree. */
/* The whole stream's one document's root node (NULL for an empty file). */
int config_load_tree(struct ctx *c, const char *yaml, size_t len, struct node **root);
void config_node_free(struct node *n);
/* "a list", "a mapping" or "a value", for messages. */
const char *config_kind_name(const struct node *n);
/* An unquoted ``, ~ or null. */
bool config_is_null(const struct node *n);
/* The borrowed text of a scalar that must have a value. */
int config_scalar(struct ctx *c, const struct node *n, const char *key, bool multiline,
		  const char **out);
/* The same, copied into *out (freeing the old value), at most max characters. */
int config_string_dup(struct ctx *c, const struct node *n, const char *key, size_t max, char **out);
/* A mapping's keys: plain names, no duplicates, only `known` ones (when given). */
int config_check_keys(struct ctx *c, const struct node *map, const char *const *known,
		      const char *where);
/* The value under `key` in a checked mapping, or NULL. */
const struct node *config_lookup(const struct node *map, const char *key);
int config_need_map(struct ctx *c, const struct node *n, const char *what);

/* config_values.c. */
int config_timezone_name(struct ctx *c, const struct node *n, char **out);
/* A duration of at most 7 days; more than 0 unless `zero_ok`. */
int config_duration_in(struct ctx *c, const struct node *n, const char *key, bool zero_ok,
		       int64_t *out);
int config_duration(struct ctx *c, const struct node *n, const char *key, int64_t *out);
int config_boolean(struct ctx *c, const struct node *n, const char *key, bool *out);
int config_severity(struct ctx *c, const struct node *n, const char *key, enum cmd_severity *out);
int config_slack_id_check(struct ctx *c, const struct node *n, const char *s, enum id_kind k);
/* A list of Slack IDs (a single value counts as one); replaces *list. */
int config_id_list(struct ctx *c, const struct node *n, const char *key, enum id_kind k,
		   char ***list, size_t *count);
/* health_url, version_url, prometheus_url: http(s), no credentials. */
int config_check_url(struct ctx *c, const struct node *n, const char *key, const char *s);

/* config_policy.c. */
void config_approval_clear(struct config_approval *a);
void config_approval_copy(struct config_approval *dst, const struct config_approval *src);
/* An approval block over *a (the defaults); `label` names it in messages. */
int config_parse_approval(struct ctx *c, const struct node *n, const char *label,
			  struct config_approval *a);
void config_verify_clear(struct config_verify *v);
void config_verify_copy(struct config_verify *dst, const struct config_verify *src);
/* A verify block over *out (the defaults); svc is NULL for the global one. */
int config_parse_verify(struct ctx *c, const struct node *n, const struct config_service *svc,
			struct config_verify *out);

/* error_rate_max (verify and watch): a percentage or a ratio in (0, 1]. */
int config_error_rate_max(struct ctx *c, const struct node *n, double *out);

/* config_watch.c: a service's `watch:` block (after the rest of the
 * service is read: it needs the verify block and health_url), and the
 * top-level `alertmanager:` block (after http_listen). */
int config_parse_watch(struct ctx *c, const struct node *key, const struct node *n,
		       struct config_service *svc);
int config_parse_alertmanager(struct ctx *c, const struct node *n, struct config *cfg);

/* config_service.c: the `services:` block into cfg->services; cfg's
 * approval and verify blocks are read already. */
int config_parse_services(struct ctx *c, const struct node *n, struct config *cfg);

#endif
