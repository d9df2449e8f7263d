/* rollbot — the fake's Prometheus exporter (MIT licence, see LICENSE).
 *
 * GET /svc/NAME/metrics serves a service's request counters and latency
 * histogram in Prometheus's text exposition format; POST /_fake/metrics
 * sets their rates. tests/FAKE_SLACK.md, "Metrics exporter", is the
 * contract. Kept apart from fake_slack.c: it only needs a clock.
 */
#ifndef ROLLBOT_FAKE_METRICS_H
#define ROLLBOT_FAKE_METRICS_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#define FM_CONTENT_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct fake_metrics;

struct fake_metrics *fm_new(void);
void fm_free(struct fake_metrics *fm);
void fm_reset(struct fake_metrics *fm);
bool fm_path(const char *path);
char *fm_scrape(struct fake_metrics *fm, const char *path, int64_t now_us);
json_t *fm_control(struct fake_metrics *fm, const json_t *body, bool is_post, int64_t now_us,
		   int *status);

#endif
