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

/* A POST (issue 12: the Alertmanager webhook): `authorization` is the
 * Authorization header ("" when absent), `body` the whole body (`len`
 * bytes, at most 256 KiB; larger ones are answered 413 without a call).
 * Returns the status. */
typedef int (*httpd_post_handler)(void *arg, const char *path, const char *authorization,
				  const char *body, size_t len, struct rb_buf *out);

/* Takes POSTs to the handler; without one, POST is 405. */
struct httpd;
void httpd_set_post(struct httpd *h, httpd_post_handler post, void *arg);

/* Listens on `listen` ("127.0.0.1:8080"; an IPv4 address, or "localhost").
 * Returns a new server (free with httpd_free), or NULL with the reason in
 * err. */
struct httpd *httpd_new(uv_loop_t *loop, const char *listen, httpd_handler handler, void *arg,
			char *err, size_t errlen);

/* Stops listening and drops open connections; memory goes once the loop has
 * closed the handles. Accepts NULL. */
void httpd_free(struct httpd *h);

#endif
