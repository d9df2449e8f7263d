/* rollbot — application/x-www-form-urlencoded bodies for the Web API (MIT
 * licence, see LICENSE). */
#include "form.h"

#include <string.h>

/* Appends one form value: strings as they are, booleans as true/false,
 * numbers as text, objects and arrays as compact JSON; all URL-encoded. */
static int form_value(struct rb_buf *out, CURL *easy, const json_t *v)
{
	char *text = NULL, *esc;
	const char *s;
	size_t len;
	int rc;

	switch (json_typeof(v)) {
	case JSON_STRING:
		s = json_string_value(v);
		len = json_string_length(v);
		break;
	case JSON_TRUE:
		s = "true";
		len = 4;
		break;
	case JSON_FALSE:
		s = "false";
		len = 5;
		break;
	default: /* numbers, objects, arrays */
		text = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		if (!text)
			return RB_ENOMEM;
		s = text;
		len = strlen(text);
		break;
	}
	esc = curl_easy_escape(easy, s, (int)len);
	free(text);
	if (!esc)
		return RB_ENOMEM;
	rc = rb_buf_puts(out, esc);
	curl_free(esc);
	return rc;
}

/* Encodes a JSON object as application/x-www-form-urlencoded. Nulls are
 * left out ("use the default"). Returns 0 or a negative code. */
int form_encode(struct rb_buf *out, CURL *easy, const json_t *args)
{
	const char *key;
	json_t *v;
	char *esc;
	int rc;

	json_object_foreach((json_t *)args, key, v) {
		if (json_is_null(v))
			continue;
		if (out->len) {
			rc = rb_buf_puts(out, "&");
			if (rc < 0)
				return rc;
		}
		esc = curl_easy_escape(easy, key, 0);
		if (!esc)
			return RB_ENOMEM;
		rc = rb_buf_printf(out, "%s=", esc);
		curl_free(esc);
		if (rc < 0)
			return rc;
		rc = form_value(out, easy, v);
		if (rc < 0)
			return rc;
	}
	return 0;
}
