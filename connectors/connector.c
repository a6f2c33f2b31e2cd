/* connector.c — see connector.h: the parts every connector shares and
 * the registry of tracker types. */
#include "connector.h"

#include <errno.h>
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include "http.h"

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
	free(r->refs);
	item_fields_free(&r->fields);
	conn_remote_init(r);
}

/* ---- the registry ---- */

/* The built-in tracker types: one row each. */
static const struct conn_type *const builtin_types[] = {
	&github_conn_type,
	&servicenow_conn_type,
	&jira_conn_type,
};

#define CONN_EXTRA_TYPES 4
static const struct conn_type *extra_types[CONN_EXTRA_TYPES];
static size_t n_extra_types;

size_t conn_type_count(void)
{
	return ARRAY_SIZE(builtin_types) + n_extra_types;
}

const struct conn_type *conn_type_at(size_t i)
{
	if (i < ARRAY_SIZE(builtin_types))
		return builtin_types[i];
	i -= ARRAY_SIZE(builtin_types);
	return i < n_extra_types ? extra_types[i] : NULL;
}

const struct conn_type *conn_type_find(const char *name)
{
	for (size_t i = 0; name && i < conn_type_count(); i++)
		if (strcmp(conn_type_at(i)->name, name) == 0)
			return conn_type_at(i);
	return NULL;
}

const char *conn_type_names(void)
{
	static char names[256];
	size_t o = 0;
	names[0] = '\0';
	for (size_t i = 0; i < conn_type_count() && o < sizeof(names); i++) {
		int n = snprintf(names + o, sizeof(names) - o, "%s%s", i ? ", " : "",
		                 conn_type_at(i)->name);
		if (n < 0)
			break;
		o += (size_t)n;
	}
	return names;
}

int connector_register(const struct conn_type *t)
{
	if (!t || !t->name || !t->create)
		return -EINVAL;
	if (conn_type_find(t->name))
		return -EEXIST;
	if (n_extra_types >= CONN_EXTRA_TYPES)
		return -ENOSPC;
	extra_types[n_extra_types++] = t;
	return 0;
}

int conn_type_option(const struct conn_type *t, const char *name)
{
	for (size_t i = 0; t && name && i < t->n_options; i++)
		if (strcmp(t->options[i].name, name) == 0)
			return (int)i;
	return -1;
}

const char *conn_opt(const struct conn_type *t, const struct conn_options *o,
                     const char *name)
{
	int i = conn_type_option(t, name);
	if (i < 0)
		return NULL;
	if (o && o->type_opts && o->type_opts[i])
		return o->type_opts[i];
	const char *def = t->options[i].def;
	return def && def[0] != '(' ? def : NULL;
}

const struct conn_type *conn_type_of(const struct connector *c)
{
	if (!c)
		return NULL;
	if (c->type)
		return c->type;
	return c->ops ? conn_type_find(c->ops->type) : NULL;
}

const struct conn_type *conn_type_variant(const struct conn_type *t,
                                          const struct conn_options *opt)
{
	const struct conn_type *v = t && t->variant && opt ? t->variant(opt) : NULL;
	return v ? v : t;
}

char *conn_normalise(const struct conn_type *t, enum item_field f, const char *v)
{
	if (t && t->normalise && (t->caps[f] & CONN_CAP_LOSSY))
		return t->normalise(f, v);
	return xstrdup(v);
}

int connector_new(struct connector **out, const char *type, uv_loop_t *loop,
                  struct http_client *http, const struct conn_options *opt)
{
	const struct conn_type *t = conn_type_find(type);
	*out = NULL;
	if (!t)
		return -EINVAL;
	int rc = t->create(out, loop, http, opt);
	if (rc == 0 && *out && !(*out)->type)
		(*out)->type = t;
	if (rc == 0 && *out && (*out)->searches_per_minute <= 0)
		(*out)->searches_per_minute = CONN_SEARCHES_PER_MINUTE;
	if (rc == 0 && *out && !(*out)->n_graphql)
		(*out)->graphql_limit = (*out)->graphql_remaining = -1; /* not known yet */
	return rc;
}

static void discover_free(struct connector *c)
{
	const struct conn_type *t = conn_type_of(c);
	for (size_t i = 0; i < c->n_discover; i++) {
		for (size_t j = 0; t && j < t->n_discover_options; j++)
			free(c->discover[i].values[j]);
		free(c->discover[i].values);
		free(c->discover[i].target);
	}
	free(c->discover);
	c->discover = NULL;
	c->n_discover = 0;
}

void connector_destroy(struct connector *c)
{
	if (!c)
		return;
	discover_free(c);
	c->ops->destroy(c);
}

/* ---- discovery ---- */

void connector_set_discover(struct connector *c, const struct conn_discover *rules, size_t n)
{
	const struct conn_type *t = conn_type_of(c);
	size_t nv = t ? t->n_discover_options : 0;
	discover_free(c);
	if (n == 0 || !t || !t->discover_options)
		return;
	c->discover = xcalloc(n, sizeof(*c->discover));
	for (size_t i = 0; i < n; i++) {
		c->discover[i].target = xstrdup(rules[i].target);
		c->discover[i].values = xcalloc(nv + 1, sizeof(char *));
		for (size_t j = 0; j < nv; j++)
			c->discover[i].values[j] = rules[i].values ? xstrdup(rules[i].values[j]) : NULL;
	}
	c->n_discover = n;
}

const struct conn_discover *conn_discover_rule(const struct connector *c, const char *target)
{
	for (size_t i = 0; c && target && i < c->n_discover; i++)
		if (strcasecmp(c->discover[i].target, target) == 0)
			return &c->discover[i];
	return NULL;
}

const char *conn_discover_opt(const struct connector *c, const struct conn_discover *rule,
                              const char *name)
{
	const struct conn_type *t = conn_type_of(c);
	if (!rule || !t)
		return NULL;
	for (size_t i = 0; i < t->n_discover_options; i++) {
		if (strcmp(t->discover_options[i].name, name) != 0)
			continue;
		if (rule->values && rule->values[i])
			return rule->values[i];
		const char *def = t->discover_options[i].def;
		return def && def[0] != '(' ? def : NULL;
	}
	return NULL;
}

/* ---- helpers the connectors share ---- */

char *conn_basic_auth_header(const char *cred)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t n = strlen(cred);
	struct buf b = { 0 };
	if (buf_appendf(&b, "Authorization: Basic ") < 0)
		abort();
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)(unsigned char)cred[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)(unsigned char)cred[i + 1] << 8;
		if (i + 2 < n)
			v |= (unsigned char)cred[i + 2];
		char q[4] = { tab[(v >> 18) & 63], tab[(v >> 12) & 63],
		              i + 1 < n ? tab[(v >> 6) & 63] : '=', i + 2 < n ? tab[v & 63] : '=' };
		if (buf_append(&b, q, 4) < 0)
			abort();
	}
	return buf_steal(&b);
}

int64_t conn_backoff_ms(uint64_t *rng, int64_t base_ms, int64_t max_ms, int attempt)
{
	int64_t d = base_ms;
	for (int i = 1; i < attempt && d < max_ms; i++)
		d *= 2;
	if (d > max_ms)
		d = max_ms;
	*rng ^= *rng << 13;
	*rng ^= *rng >> 7;
	*rng ^= *rng << 17;
	int64_t half = d / 2;
	return half + (half > 0 ? (int64_t)(*rng % (uint64_t)(half + 1)) : 0);
}

bool conn_answer_may_have_acted(const struct http_response *resp, bool rate_limited)
{
	if (resp->status == 0)
		return resp->curl_code != CURLE_COULDNT_CONNECT &&
		       resp->curl_code != CURLE_COULDNT_RESOLVE_HOST &&
		       resp->curl_code != CURLE_COULDNT_RESOLVE_PROXY;
	return !rate_limited;
}

int64_t conn_retry_after_ms(const struct http_response *resp)
{
	const char *v = http_response_header(resp, "Retry-After");
	char *end = NULL;
	if (!v)
		return -1;
	long long n = strtoll(v, &end, 10);
	return end != v && *end == '\0' && n >= 0 && n < 86400 ? n * 1000 : -1;
}

char *conn_mention(const struct conn_type *t, const char *ident, const char *name)
{
	if (!ident || !ident[0])
		return NULL;
	return t && t->mention ? t->mention(ident, name) : xasprintf("@%s", ident);
}

/* ---- helpers for conn_ops.webhook ---- */

const char *conn_hook_header(const struct conn_hook_request *req, const char *name)
{
	for (size_t i = 0; i < req->n_headers; i++)
		if (strcmp(req->header_names[i], name) == 0)
			return req->header_values[i];
	return NULL;
}

static void hex_of(const unsigned char *d, unsigned n, char *out)
{
	for (unsigned i = 0; i < n; i++)
		snprintf(out + 2 * i, 3, "%02x", d[i]);
}

bool conn_hook_hmac_ok(const char *sig, const char *prefix, const char *secret,
                       const char *body, size_t len)
{
	unsigned char mac[EVP_MAX_MD_SIZE];
	unsigned int mac_len = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1];
	size_t pl = strlen(prefix);
	if (!sig || !secret || !secret[0] || strncmp(sig, prefix, pl) != 0)
		return false;
	sig += pl;
	if (!HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)body, len,
	          mac, &mac_len))
		return false;
	hex_of(mac, mac_len, hex);
	size_t want = 2 * (size_t)mac_len;
	/* the length check tells only the length, which is public */
	bool same = strlen(sig) == want && CRYPTO_memcmp(sig, hex, want) == 0;
	OPENSSL_cleanse(mac, sizeof(mac));
	OPENSSL_cleanse(hex, sizeof(hex));
	return same;
}

void conn_hook_body_id(const struct conn_hook_request *req, char *out, size_t n)
{
	unsigned char d[EVP_MAX_MD_SIZE];
	unsigned int dl = 0;
	char hex[2 * EVP_MAX_MD_SIZE + 1] = "";
	if (EVP_Digest(req->body, req->body_len, d, &dl, EVP_sha256(), NULL))
		hex_of(d, dl, hex);
	snprintf(out, n, "sha256:%.32s", hex);
}

