/* rollbot — the bot's own HTTP endpoints (MIT licence, see LICENSE).
 *
 * A deliberately tiny HTTP/1.1 server on the shared loop for what runs the
 * bot: /health (the process answers), /ready (connected to Slack and to
 * PostgreSQL) and /metrics (Prometheus text). One request per connection,
 * GET only, answered and closed; a client that says nothing for five
 * seconds is dropped. It serves no incident data and takes no input.
 */
#ifndef HTTPD_H
#define HTTPD_H

#include <uv.h>

#include "../commands/rb.h"

struct httpd; /* opaque */

/* Fills the answer for `path` ("/metrics"): the status code and the body.
 * Returns the status (200, 503, 404). */
typedef int (*httpd_handler)(void *arg, const char *path, struct rb_buf *body);

/* Listens on `listen` ("127.0.0.1:8080"; an IPv4 address, or "localhost").
 * Returns a new server (free with httpd_free), or NULL with the reason in
 * err. */
struct httpd *httpd_new(uv_loop_t *loop, const char *listen, httpd_handler handler, void *arg,
			char *err, size_t errlen);

/* Stops listening and drops open connections; memory goes once the loop has
 * closed the handles. Accepts NULL. */
void httpd_free(struct httpd *h);

#endif
