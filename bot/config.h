/* rollbot — the configuration file (MIT licence, see LICENSE).
 *
 * rollbot.yaml, read with libyaml into plain structs, checked completely at
 * load (unknown keys, wrong types, missing method parameters), with errors
 * that name the file, line and column. Secrets never live here: tokens and
 * the database URL come from the environment (see main.c).
 *
 * Example:
 *
 *   incidents_channels: [C05K8Q2V7XM]      # channel IDs that accept /rollback
 *   default_severity: P1
 *   update_interval: 10m                   # durations: 90s, 10m, 1h, or ms: 1500ms
 *   templates_dir: /etc/rollbot/templates  # optional overrides of templates/NAME.mustache
 *   http_listen: 127.0.0.1:8080            # optional /health /ready /metrics
 *   approval:
 *     approvers: [U03ASM1TH7Q]             # Slack user IDs
 *     approver_group: S05RLMGRS1           # optional user group ID
 *     required: 1                          # approvals needed
 *     allow_self_approval: false
 *     timeout: 15m
 *     skip_for: [P0]                       # severities that need no approval
 *     escalate_after: 5m                   # optional: then also ask the fallback
 *     fallback: [U07ONCALL1, S05ONCALL1]   # users and/or one user group
 *   verify:                                # checks after the rollback's commands (all optional)
 *     window: 5m                           # how long they may take to pass; 0s = one round
 *     interval: 15s                        # between rounds
 *     prometheus_url: http://prometheus.internal:9090   # …/api/v1/query is appended
 *     error_rate_max: 1%                   # or a ratio: 0.01
 *     latency_max: 2s                      # p99
 *   services:
 *     payments-api:
 *       method: kubectl                    # kubectl helm bluegreen flag canary recreate docker lambda script
 *       namespace: payments
 *       deployment: payments-api
 *       timeout: 5m
 *       affected: "checkout and card payments"
 *       display_name: "Payments"             # optional: what customers call it
 *       environment: "production (prod-eu)"  # optional: environment or cluster
 *       owner: "payments team"               # optional: for the report's sign-off
 *       health_url: https://payments.example.com/health
 *       version_url: https://payments.example.com/version
 *       approval: { approvers: [U01…], required: 2 }   # optional per-service override
 *       # optional: the down migration `/rollback payments-api --with-db` runs,
 *       # an argv (absolute path first), never through a shell. DANGEROUS: data
 *       # written since the migration may be lost (runbook 000 §3.2).
 *       db_rollback: ["/opt/payments/bin/migrate", "down", "--to", "0042"]
 *       db_rollback_timeout: 10m           # optional, default 10m
 *       verify:                            # optional: the global keys, plus these
 *         error_rate_query: 'sum(rate(http_requests_total{job="payments",code=~"5.."}[2m]))
 *                            / sum(rate(http_requests_total{job="payments"}[2m]))'
 *         latency_query: 'histogram_quantile(0.99, sum by (le)
 *                         (rate(http_request_duration_seconds_bucket{job="payments"}[2m])))'
 *         status: true                     # re-run the method's status command
 *       watch:                             # optional: propose a rollback (issue 12)
 *         interval: 30s                    # between evaluations
 *         error_rate_max: 5%               # bad when above, held for error_for
 *         error_for: 2m
 *         latency_max: 2s                  # p99, held for latency_for
 *         latency_for: 2m
 *         health_for: 2m                   # health_url failing this long
 *         rearm_after: 5m                  # healthy this long: a new episode
 *         expire_after: 30m                # an unanswered proposal lapses
 *   alertmanager:                          # optional; needs http_listen
 *     path: /alertmanager                  # token: ROLLBOT_ALERTMANAGER_TOKEN
 *
 * A service's verify block starts from the global one (which starts from
 * the defaults), so svc->verify is always complete. The queries need a
 * prometheus_url, the service's or the global one.
 *
 * Method parameters (namespace, deployment, url, …) are checked by building
 * the service's plan with plan_build (commands/plan.c) at load: what
 * check-config accepts is exactly what a rollback can run.
 */
#ifndef CONFIG_H
#define CONFIG_H

#include <stdbool.h>
#include <stdio.h>
#include <stddef.h>
#include <stdint.h>

#include "../commands/plan.h"
#include "../commands/rb.h"

enum {
	CONFIG_EIO = -40,     /* file cannot be read */
	CONFIG_ESYNTAX = -41, /* not YAML */
	CONFIG_EINVALID = -42, /* YAML, but not a valid rollbot configuration */
};

struct config_approval {
	char **approvers; /* Slack user IDs (U…/W…), n_approvers of them */
	size_t n_approvers;
	char *approver_group; /* user group ID (S…) or NULL */
	int required;         /* approvals needed, >= 1 (default 1) */
	bool allow_self_approval;
	int64_t timeout_ms;   /* default 15 minutes */
	bool skip[4];         /* skip[P0..P3]: severities that need no approval */
	/* Escalation (issue 12): after escalate_after_ms without a decision the
	 * request is extended to the fallback approvers (the on-call lead).
	 * 0 = never; otherwise shorter than timeout_ms. */
	int64_t escalate_after_ms;
	char **fallback;      /* user IDs (U…/W…), n_fallback of them */
	size_t n_fallback;
	char *fallback_group; /* user group ID (S…) or NULL */
};

/* Verification after the rollback's commands (issue 4). */
struct config_verify {
	int64_t window_ms;      /* how long verification may take to pass; default
				 * 5 minutes; 0 = one round */
	int64_t interval_ms;    /* between verification rounds; default 15 s; > 0 */
	char *prometheus_url;   /* base URL of Prometheus (…/api/v1/query is
				 * appended); NULL = none */
	double error_rate_max;  /* a ratio: 0.01 = 1 %; default 0.01 (runbook:
				 * "error rate back under 1 %"); in (0, 1] */
	int64_t latency_max_ms; /* p99 threshold; default 2000 (runbook: "p99 under 2 s") */
	char *error_rate_query; /* PromQL giving the error ratio; service only;
				 * NULL = not checked */
	char *latency_query;    /* PromQL giving p99 latency in seconds; service
				 * only; NULL = not checked */
	bool status;            /* re-run the method's status command as a check; default true */
};

/* The watcher (issue 12): a service's `watch:` block, read by
 * bot/config_watch.c. It reads the figures the service's verify block
 * names (error_rate_query, latency_query on its prometheus_url) and its
 * health_url; defaults from runbook 001. */
struct config_watch {
	bool on;               /* the service has a watch block */
	int64_t interval_ms;   /* between evaluations; default 30 s */
	double error_rate_max; /* a ratio; default 0.05; bad when above */
	int64_t error_for_ms;  /* held this long proposes; default 2 minutes */
	int64_t latency_max_ms; /* p99; default 2000 */
	int64_t latency_for_ms; /* default 2 minutes */
	int64_t health_for_ms; /* health_url failing this long; default 2 minutes */
	int64_t rearm_ms;      /* healthy this long arms a new episode; default 5 minutes */
	int64_t expiry_ms;     /* an unanswered proposal lapses; default 30 minutes */
};

/* One method parameter from the service block, e.g. namespace=payments. */
struct config_param {
	char *key;
	char *value;
};

struct config_service {
	char *name;
	enum plan_method method;
	struct config_param *params; /* method keys only (see plan_method_info) */
	size_t n_params;
	int64_t timeout_ms;  /* the backend's timeout; default 5 minutes */
	char *affected;      /* who is hurt when it breaks; NULL = not configured */
	/* For the report and the drafts; NULL = not configured. */
	char *display_name;  /* the customer-facing name (default: the service name) */
	char *environment;   /* "production (eu-west-1 / prod-eu)": environment or cluster */
	char *owner;         /* the owning team, for the report's sign-off block */
	char *eta;           /* overrides the method's ETA; NULL = method default */
	char *health_url;    /* NULL when not configured */
	char *version_url;
	bool has_approval;   /* a per-service approval block overrides the global one */
	struct config_approval approval;
	/* The database rollback for --with-db: the argv of the operator's down
	 * migration, n_db_rollback strings + NULL, argv[0] an absolute path,
	 * run with execve (no shell). NULL and 0 when not configured. */
	char **db_rollback;
	size_t n_db_rollback;
	int64_t db_rollback_timeout_ms; /* default 10 minutes */
	/* Complete after load: the service's verify block over the global one
	 * over the defaults. The strings are this struct's own. */
	struct config_verify verify;
	struct config_watch watch; /* watch.on false: not watched */
	int line;            /* where the block starts, for messages */
};

struct config {
	char *path;
	char **channels; /* incidents channel IDs (C…/G…) */
	size_t n_channels;
	int default_severity; /* enum cmd_severity value, default P1 */
	int64_t update_interval_ms; /* default 10 minutes */
	char *templates_dir;  /* NULL = built-in templates only */
	/* An IANA zone ("Europe/Berlin") for the times Slack messages show,
	 * and shown beside UTC in the report; NULL = UTC. main.c installs it
	 * as TZ once, at start (report_set_zone). */
	char *display_timezone;
	char *http_listen;    /* "host:port" or NULL */
	struct config_approval approval;
	struct config_verify verify; /* the global block over the defaults; no queries */
	/* `alertmanager: { path: /alertmanager }`: the webhook's path on
	 * http_listen; NULL = CONFIG_ALERTMANAGER_PATH. The bearer token comes
	 * from ROLLBOT_ALERTMANAGER_TOKEN; without it the path answers 404. */
	char *alertmanager_path;
	struct config_service *services;
	size_t n_services;
};

#define CONFIG_ALERTMANAGER_PATH "/alertmanager"

/* Room for any message of config_load: the longest lists every key a
 * service may take. */
#define CONFIG_ERR_LEN 512

/* Reads and validates the file at `path`. Returns 0 and a new config in
 * *out (free with config_free), or a negative CONFIG_E* code with
 * "FILE:LINE:COL: message" in err (CONFIG_ERR_LEN bytes) and *out NULL. */
int config_load(const char *path, struct config **out, char *err, size_t errlen) RB_MUSTCHECK;

/* The same from a string in memory; `name` stands for the file in messages. */
int config_parse(const char *yaml, size_t len, const char *name,
		 struct config **out, char *err, size_t errlen) RB_MUSTCHECK;

void config_free(struct config *cfg);

/* Borrowed pointer to the named service, or NULL. */
const struct config_service *config_service(const struct config *cfg, const char *name);

/* Borrowed value of a method parameter, or NULL when not set. */
const char *config_param(const struct config_service *svc, const char *key);

/* The approval policy in force for a service (its own, or the global one). */
const struct config_approval *config_approval_for(const struct config *cfg,
						  const struct config_service *svc);

/* check-config: prints a warning to `out` for each approval block with too
 * few listed approvers for its services' rollbacks to be approved (fewer
 * than required, or than required + 1 when the requester's ✅ does not
 * count; --with-db needs two besides the requester). Groups are not read.
 * Returns how many warnings it printed; they never make the file invalid. */
#define CONFIG_LABEL_MAX 200
int config_warn_approvers(const struct config *cfg, FILE *out);

/* True when `channel` is one of the incidents channels. */
bool config_is_incident_channel(const struct config *cfg, const char *channel);

/* Parses "90s", "10m", "1h", "1500ms" or a bare number of seconds into
 * milliseconds. Returns 0 or RB_EINVAL. */
int config_duration_ms(const char *s, int64_t *out) RB_MUSTCHECK;

#endif
