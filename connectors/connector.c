/* connector.c — see connector.h: the parts every connector shares. */
#include "connector.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *conn_status_name(enum conn_status s)
{
	switch (s) {
	case CONN_OK: return "ok";
	case CONN_NOT_MODIFIED: return "not_modified";
	case CONN_GONE: return "gone";
	case CONN_MOVED: return "moved";
	case CONN_RATE_LIMITED: return "rate_limited";
	case CONN_INVALID: return "invalid";
	case CONN_BAD_RESPONSE: return "bad_response";
	case CONN_UNKNOWN: return "unknown";
	case CONN_AUTH: return "auth";
	case CONN_ERROR: return "error";
	default: abort();
	}
}

void conn_remote_init(struct conn_remote *r)
{
	memset(r, 0, sizeof(*r));
	item_fields_init(&r->fields);
}

void conn_remote_free(struct conn_remote *r)
{
	if (!r)
		return;
	free(r->remote_id);
	free(r->key);
	free(r->url);
	free(r->updated_at);
	free(r->etag);
	free(r->token);
	free(r->extra);
	item_fields_free(&r->fields);
	conn_remote_init(r);
}

int connector_new(struct connector **out, const char *type, uv_loop_t *loop,
                  struct http_client *http, const struct conn_options *opt)
{
	*out = NULL;
	if (type && strcmp(type, "github") == 0)
		return github_connector_new(out, loop, http, opt);
	return -EINVAL;
}

void connector_destroy(struct connector *c)
{
	if (c)
		c->ops->destroy(c);
}
