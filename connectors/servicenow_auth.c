/* servicenow_auth.c — OAuth 2.0 for the ServiceNow connector (auth =
 * "oauth"): an access token from the instance's token endpoint, cached
 * with its expiry, fetched again before it expires and once after a 401.
 *
 * ServiceNow facts ("OAuth API request parameters", "Set up OAuth";
 * checked December 2026):
 *   - POST {instance}/oauth_token.do, Content-Type
 *     application/x-www-form-urlencoded (JSON is refused), with grant_type,
 *     client_id, client_secret and: username + password (grant "password",
 *     answers an access and a refresh token), refresh_token (grant
 *     "refresh_token", answers a new access token) or nothing more (grant
 *     "client_credentials", on releases that enable it);
 *   - the answer: {"access_token", "refresh_token", "scope", "token_type":
 *     "Bearer", "expires_in": seconds}; the application registry's default
 *     access token lifespan is 1800 s; an error answers 401 with
 *     {"error": "access_denied", "error_description": ...};
 *   - Table API requests carry "Authorization: Bearer <access_token>"; an
 *     expired or revoked token answers 401 like any bad credential.
 *
 * Every secret (client secret, password, refresh and access tokens) is
 * registered with log_add_secret before it can reach a log line.
 */
#include "servicenow.h"

#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "conn_json.h"
#include "log.h"
#include "url.h"

/* One token request in flight; s is NULL once the connector is gone. */
struct sn_token_req {
	struct sn_conn *s;
	bool password_grant;
};

int sn_oauth_init(struct sn_oauth *o, const char *text)
{
	LIST_INIT(&o->waiting);
	const char *p = text;
	while (p && *p) {
		size_t n = strcspn(p, "&");
		const char *eq = memchr(p, '=', n);
		if (!eq)
			return -EINVAL;
		size_t kl = (size_t)(eq - p);
		char *v = url_form_decode(eq + 1, n - kl - 1);
		char **slot = kl == 9 && !strncmp(p, "client_id", kl) ? &o->client_id :
		              kl == 13 && !strncmp(p, "client_secret", kl) ? &o->client_secret :
		              kl == 13 && !strncmp(p, "refresh_token", kl) ? &o->refresh_token :
		              kl == 8 && !strncmp(p, "username", kl) ? &o->username :
		              kl == 8 && !strncmp(p, "password", kl) ? &o->password : NULL;
		if (!v || !slot || *slot || !*v) {
			free(v);
			return -EINVAL;
		}
		*slot = v;
		p += n;
		if (*p == '&')
			p++;
	}
	if (!o->client_id || !o->client_secret || !o->username != !o->password)
		return -EINVAL;
	log_add_secret(o->client_secret);
	if (o->refresh_token)
		log_add_secret(o->refresh_token);
	if (o->password)
		log_add_secret(o->password);
	o->on = true;
	return 0;
}

void sn_oauth_free(struct sn_oauth *o)
{
	char **all[] = { &o->client_id, &o->client_secret, &o->refresh_token, &o->username,
	                 &o->password, &o->access_header, &o->last_error };
	for (size_t i = 0; i < ARRAY_SIZE(all); i++) {
		if (*all[i])
			explicit_bzero(*all[i], strlen(*all[i]));
		free(*all[i]);
		*all[i] = NULL;
	}
}

static void form_add(struct buf *b, const char *k, const char *v)
{
	char *e = sn_url_encode(v);
	if (buf_appendf(b, "%s%s=%s", b->len ? "&" : "", k, e) < 0)
		abort();
	explicit_bzero(e, strlen(e));
	free(e);
}

/* Fail every waiting request with st and msg. */
static void fail_waiting(struct sn_conn *s, enum conn_status st, const char *msg)
{
	while (!LIST_EMPTY(&s->oauth.waiting)) {
		struct sn_req *r = LIST_FIRST(&s->oauth.waiting);
		sn_auth_forget(r);
		sn_req_fail(r, st, 401, 0, msg);
	}
}

static void send_waiting(struct sn_conn *s)
{
	while (!LIST_EMPTY(&s->oauth.waiting)) {
		struct sn_req *r = LIST_FIRST(&s->oauth.waiting);
		sn_auth_forget(r);
		int rc = sn_req_send_now(r);
		if (rc < 0)
			sn_req_fail_start(r, "send", rc);
	}
}

static int fetch_token(struct sn_conn *s, bool password_grant);

bool sn_token_life(struct json_object *answer, int64_t *life_s)
{
	int64_t life = 0;
	const char *text = conn_json_str(answer, "expires_in");
	if (text) {
		size_t n = strspn(text, "0123456789");
		if (n == 0 || text[n] != '\0')
			return false;
		/* more digits than a year's seconds has: the cap */
		life = n > 9 ? SN_TOKEN_LIFE_MAX_S : strtoll(text, NULL, 10);
	} else if (!conn_json_int64(answer, "expires_in", &life)) {
		return false;
	}
	if (life <= 0)
		return false;
	*life_s = life > SN_TOKEN_LIFE_MAX_S ? SN_TOKEN_LIFE_MAX_S : life;
	return true;
}

/* The token endpoint's answer: keep the token, or fail the waiters. */
static bool token_accept(struct sn_conn *s, const struct http_response *resp)
{
	struct json_object *o = resp->body ? json_tokener_parse(resp->body) : NULL, *v;
	const char *tok = NULL;
	int64_t life = 0;
	if (o && json_object_object_get_ex(o, "access_token", &v) &&
	    json_object_is_type(v, json_type_string))
		tok = json_object_get_string(v);
	bool ok = resp->status == 200 && tok && *tok && strspn(tok, " \t\r\n") == 0 &&
	          sn_token_life(o, &life);
	if (ok) {
		log_add_secret(tok);
		free(s->oauth.access_header);
		s->oauth.access_header = xasprintf("Authorization: Bearer %s", tok);
		/* fetched again at 90% of its life, and at least 30 s early */
		int64_t early = life / 10 > 30 ? life / 10 : 30;
		s->oauth.expires_at_ms = ts_now_ms() + (life > early ? life - early : life / 2) * 1000;
		if (json_object_object_get_ex(o, "refresh_token", &v) &&
		    json_object_is_type(v, json_type_string) && json_object_get_string_len(v) > 0 &&
		    !str_eq(json_object_get_string(v), s->oauth.refresh_token)) {
			log_add_secret(json_object_get_string(v));
			free(s->oauth.refresh_token);
			s->oauth.refresh_token = xstrdup(json_object_get_string(v));
		}
	}
	if (o)
		json_object_put(o);
	return ok;
}

static void token_done(const struct http_response *resp, void *arg)
{
	struct sn_token_req *tr = arg;
	struct sn_conn *s = tr->s;
	bool was_password = tr->password_grant;
	free(tr);
	if (!s)
		return;
	s->oauth.fetching = false;
	s->oauth.treq = NULL;
	if (token_accept(s, resp)) {
		send_waiting(s);
		return;
	}
	/* a refused refresh token: the password grant, when configured */
	if (resp->status == 401 && !was_password && s->oauth.username &&
	    fetch_token(s, true) == 0)
		return;
	char *why = resp->status == 200 ? xstrdup("HTTP 200 without an access_token string and an expires_in of "
	                                            "positive seconds") :
	            sn_error_text(resp);
	struct json_object *o = resp->body ? json_tokener_parse(resp->body) : NULL, *d;
	if (o && json_object_object_get_ex(o, "error_description", &d)) {
		free(why);
		why = xasprintf("HTTP %ld: %s", resp->status, json_object_get_string(d));
	}
	if (o)
		json_object_put(o);
	char *msg = xasprintf("POST /oauth_token.do: %s; the OAuth client or its grant is not "
	                      "accepted by the instance (check client_id, client_secret and the "
	                      "refresh token or user in the credentials)", why);
	free(s->oauth.last_error);
	s->oauth.last_error = xstrdup(msg);
	log_conn(LOG_LVL_ERROR, s->base.name, "%s", msg);
	fail_waiting(s, resp->status == 401 || resp->status == 400 ? CONN_AUTH : CONN_ERROR, msg);
	free(msg);
	free(why);
}

static int fetch_token(struct sn_conn *s, bool password_grant)
{
	struct sn_oauth *o = &s->oauth;
	struct buf b = { 0 };
	if (password_grant || (!o->refresh_token && o->username)) {
		password_grant = true;
		form_add(&b, "grant_type", "password");
		form_add(&b, "username", o->username);
		form_add(&b, "password", o->password);
	} else if (o->refresh_token) {
		form_add(&b, "grant_type", "refresh_token");
		form_add(&b, "refresh_token", o->refresh_token);
	} else {
		form_add(&b, "grant_type", "client_credentials");
	}
	form_add(&b, "client_id", o->client_id);
	form_add(&b, "client_secret", o->client_secret);
	char *url = xasprintf("%s/oauth_token.do", s->base_url);
	const char *headers[] = { "Content-Type: application/x-www-form-urlencoded",
	                          "Accept: application/json", NULL };
	struct http_request hr = {
		.method = "POST", .url = url, .headers = headers, .body = b.data,
		.body_len = b.len, .timeout_ms = s->timeout_ms, .ca_file = s->ca_file,
	};
	struct sn_token_req *tr = xcalloc(1, sizeof(*tr));
	tr->s = s;
	tr->password_grant = password_grant;
	int rc = http_send_id(s->base.http, &hr, token_done, tr, &o->http_id);
	explicit_bzero(b.data, b.len);
	buf_free(&b);
	free(url);
	if (rc < 0) {
		free(tr);
		return rc;
	}
	o->fetching = true;
	o->treq = tr;
	o->n_token++;
	return 0;
}

/* Queue r for a token, fetching one unless a fetch is in flight. */
static void wait_for_token(struct sn_req *r)
{
	struct sn_conn *s = r->s;
	r->auth_waiting = true;
	r->state = SNR_WAITING;
	LIST_INSERT_HEAD(&s->oauth.waiting, r, auth_wait);
	if (s->oauth.fetching)
		return;
	int rc = fetch_token(s, false);
	if (rc < 0) {
		char *msg = xasprintf("POST /oauth_token.do: could not start: %s", strerror(-rc));
		fail_waiting(s, CONN_ERROR, msg);
		free(msg);
	}
}

const char *sn_auth_header(struct sn_req *r)
{
	struct sn_conn *s = r->s;
	if (!s->oauth.on)
		return s->auth_header;
	if (s->oauth.access_header && ts_now_ms() < s->oauth.expires_at_ms)
		return s->oauth.access_header;
	wait_for_token(r);
	return NULL;
}

bool sn_auth_rejected(struct sn_req *r)
{
	struct sn_conn *s = r->s;
	if (!s->oauth.on || r->auth_retried)
		return false;
	r->auth_retried = true;
	free(s->oauth.access_header);
	s->oauth.access_header = NULL;
	log_conn(LOG_LVL_INFO, s->base.name, "access token refused (HTTP 401): fetching a new one");
	wait_for_token(r);
	return true;
}

void sn_auth_forget(struct sn_req *r)
{
	if (!r->auth_waiting)
		return;
	LIST_REMOVE(r, auth_wait);
	r->auth_waiting = false;
	r->state = SNR_NEW;
}

void sn_auth_cancel(struct sn_conn *s)
{
	if (!s->oauth.fetching)
		return;
	/* token_done still comes (cancelled) and frees its request */
	s->oauth.treq->s = NULL;
	s->oauth.treq = NULL;
	s->oauth.fetching = false;
	http_cancel(s->base.http, s->oauth.http_id);
}
