/* rollbot — application/x-www-form-urlencoded bodies for the Web API (MIT
 * licence, see LICENSE).
 *
 * Slack takes most methods' arguments as a form (api.c sends chat.* and
 * files.completeUploadExternal as JSON instead).
 */
#ifndef FORM_H
#define FORM_H

#include <curl/curl.h>
#include <jansson.h>

#include "../commands/rb.h"

/* Encodes a JSON object as application/x-www-form-urlencoded into `out`:
 * strings as they are, booleans as true/false, numbers as text, objects and
 * arrays as compact JSON, all URL-encoded with `easy`; nulls are left out
 * ("use the default"). Returns 0 or a negative code. */
int form_encode(struct rb_buf *out, CURL *easy, const json_t *args) RB_MUSTCHECK;

#endif
