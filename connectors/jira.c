/* jira.c — the Jira connector: action items as ordinary issues in each
 * team's own Jira Cloud project (REST v3) or Jira Data Center / Server
 * project (REST v2, flavor = "datacenter").  See jira.h for the Jira facts
 * and the steps of each operation, jira_fields.h for the field mapping and
 * docs/configuration.md for the options.
 *
 * The target is a project key ("OPS").  The stable identity is the
 * numeric issue id: fetch, update and comments address the issue by id,
 * so an issue moved to another project (new key, same id) stays linked and
 * comes back with its new key.  The create token is a label
 * ("closeloop-<token>"); find_by_token reads it through search and, since
 * search lags writes by seconds, also by reading the issues created after
 * the newest one the search index knew before the label search (GET by key
 * reads its own writes).
 *
 * Search has no validator of its own.  A listing first asks for the
 * window's newest issue (id, updated): the listing's validator (page.etag)
 * is that pair and the time it was taken.  The next listing answers
 * CONN_NOT_MODIFIED when the newest issue is still the same and the
 * validator was taken at least search_settle_ms after that issue's update
 * (so every write before it is in the index by then: an edit made later
 * has a later `updated` and becomes the newest).  A quiet window is thus
 * one search request.
 */
#include "jira.h"
#include "jira_adf.h"
#include "jira_wiki.h"
#include "jira_fields.h"
#include "jira_discover.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include "log.h"

#define JIRA_DEFAULT_PRIO "P0=Highest,P1=High,P2=Medium,P3=Low"
/* The fields an issue read asks for: the mapped ones, the project, and the
 * creator (whose changelog entries are closeloop's own: read_changelog). */
#define JIRA_READ_FIELDS "summary,description,status,resolution,priority,labels,duedate," \
                         "assignee,updated,project,creator"

static struct jira_conn *jira_of(struct connector *c)
{
	return container_of(c, struct jira_conn, base);
}

static char *json_text(struct json_object *o)
{
	char *t = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
	json_object_put(o);
	return t;
}

/* Is v a numeric issue id, or a key "ABC-12"?  Both stand in a URL path
 * as they are. */
bool jira_id_or_key_valid(const char *v)
{
	size_t n = v ? strlen(v) : 0;
	if (n == 0 || n > 64)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!isalnum((unsigned char)v[i]) && v[i] != '-' && v[i] != '_')
			return false;
	return true;
}

char *jira_issue_url(const struct jira_conn *j, const char *id_or_key)
{
	return xasprintf("%s%s/issue/%s?fields=" JIRA_READ_FIELDS, j->base_url, j->api, id_or_key);
}

char *jira_search_url(const struct jira_conn *j)
{
	return xasprintf("%s%s", j->base_url,
	                 j->flavor == JIRA_DC ? "/rest/api/2/search" : "/rest/api/3/search/jql");
}

char *jira_search_text(const struct jira_conn *j, const char *jql, int max)
{
	return json_text(j->flavor == JIRA_DC ? jira_search_body_dc(jql, max) :
	                 jira_search_body_n(jql, NULL, max));
}

static int start(struct jira_req *r)
{
	int rc = jira_req_send(r);
	if (rc < 0)
		jira_req_discard(r);
	return rc;
}

/* ---- operations ---- */

static int jira_list_changed(struct connector *c, const char *target, int64_t since_ms,
                             const char *etag, conn_list_cb cb, void *arg)
{
	struct jira_conn *j = jira_of(c);
	if (j->destroyed || jira_check_project(target) || since_ms < 0)
		return -EINVAL;
	int64_t floor_ms = since_ms - since_ms % 60000; /* JQL has minutes */
	char *jql = jira_jql_newest_changed(target, floor_ms);
	struct jira_req *r = jira_req_new(j, JO_LIST, JS_NEWEST, "POST", jira_search_url(j),
	                                  jira_search_text(j, jql, 1), target, arg);
	free(jql);
	r->list_cb = cb;
	r->floor_ms = floor_ms;
	r->etag = xstrdup(etag);
	return start(r);
}

static char *fields_body(struct json_object *fields)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "fields", fields);
	return json_text(o);
}

static int jira_create(struct connector *c, const char *target, const struct item_fields *want,
                       const struct conn_item_context *ctx, conn_item_cb cb, void *arg)
{
	struct jira_conn *j = jira_of(c);
	if (j->destroyed || jira_check_project(target) || !ctx || !ctx->token)
		return -EINVAL;
	struct json_object *f = jira_fields_json(target, j->issue_type, j->prio, want,
	                                         ITEM_FIELDS_ALL, ctx, NULL, true, j->flavor);
	struct jira_req *r = jira_req_new(j, JO_CREATE, JS_CREATE, "POST",
	                                  xasprintf("%s%s/issue", j->base_url, j->api),
	                                  fields_body(f), target, arg);
	r->item_cb = cb;
	r->want_owner = xstrdup(want->v[ITEM_F_OWNER]);
	const char *st = want->v[ITEM_F_STATE];
	if (st && !str_eq(st, "open")) /* a new issue starts in the workflow's first status */
		r->want_state = xstrdup(st);
	return start(r);
}

/* conn_ops.created_as: the POST makes the issue in the workflow's first
 * status (category "new": open); another state is the create's follow-up
 * transition (jira_create).  A create without a priority leaves it to the
 * project's default priority scheme (Medium unless the site changed it),
 * which only the issue says (jira_fields_json sends none). */
static unsigned jira_created_as(const struct connector *c, struct item_fields *f)
{
	UNUSED(c);
	if (f->v[ITEM_F_STATE] && !str_eq(f->v[ITEM_F_STATE], "open"))
		item_fields_set(f, ITEM_F_STATE, "open");
	return f->v[ITEM_F_PRIORITY] ? 0 : ITEM_FIELD_BIT(ITEM_F_PRIORITY);
}

/* An update is one operation of several requests: the edit of the fields
 * other than state (PUT), a read, and when the state is to change, a
 * transition into the wanted status category and a read of the result. */
static int jira_update(struct connector *c, const char *target, const struct conn_remote *ref,
                       const struct item_fields *want, unsigned mask,
                       const struct conn_item_context *ctx, conn_item_cb cb, void *arg)
{
	struct jira_conn *j = jira_of(c);
	if (j->destroyed || !ref || !jira_id_or_key_valid(ref->remote_id))
		return -EINVAL;
	unsigned edit = mask & ~ITEM_FIELD_BIT(ITEM_F_STATE);
	struct jira_req *r;
	if (edit) {
		struct json_object *f = jira_fields_json(target, j->issue_type, j->prio, want, edit,
		                                         ctx, ref->extra, false, j->flavor);
		r = jira_req_new(j, JO_UPDATE, JS_EDIT, "PUT",
		                 xasprintf("%s%s/issue/%s", j->base_url, j->api, ref->remote_id),
		                 fields_body(f), target, arg);
	} else {
		r = jira_req_new(j, JO_UPDATE, JS_READ, "GET", jira_issue_url(j, ref->remote_id),
		                 NULL, target, arg);
	}
	r->item_cb = cb;
	r->issue_id = xstrdup(ref->remote_id);
	if (edit & ITEM_FIELD_BIT(ITEM_F_OWNER))
		r->want_owner = xstrdup(want->v[ITEM_F_OWNER]);
	if ((mask & ITEM_FIELD_BIT(ITEM_F_STATE)) && want->v[ITEM_F_STATE])
		r->want_state = xstrdup(want->v[ITEM_F_STATE]);
	return start(r);
}

/* GET issue/{idOrKey}, with the changelog when asked (fetch_times). */
static int fetch_issue(struct connector *c, const char *target, const struct conn_remote *ref,
                       bool changelog, conn_item_cb cb, void *arg)
{
	struct jira_conn *j = jira_of(c);
	/* an issue named by key only (a reference from a postmortem, not yet
	 * adopted): GET /rest/api/3/issue/{issueIdOrKey} takes either, and
	 * the answer carries the numeric id that the link then keeps */
	const char *idk = ref && ref->remote_id ? ref->remote_id : ref ? ref->key : NULL;
	if (j->destroyed || !ref || !jira_id_or_key_valid(idk))
		return -EINVAL;
	char *url = jira_issue_url(j, idk);
	if (changelog) {
		char *with = xasprintf("%s&expand=changelog", url);
		free(url);
		url = with;
	}
	struct jira_req *r = jira_req_new(j, JO_FETCH, JS_READ, "GET", url, NULL, target, arg);
	r->item_cb = cb;
	r->issue_id = xstrdup(idk);
	return start(r);
}

static int jira_fetch(struct connector *c, const char *target, const struct conn_remote *ref,
                      conn_item_cb cb, void *arg)
{
	return fetch_issue(c, target, ref, false, cb, arg);
}

/* fetch with the issue's changelog (conn_ops.fetch_times): GET
 * issue/{id}?fields=...&expand=changelog, Cloud REST API v3 and Data
 * Center v2 alike ("Get issue": expand=changelog "returns a list of
 * recent updates to an issue, sorted by date, starting from the most
 * recent"); jira_issue_to_remote reads it into remote->field_ms. */
static int jira_fetch_times(struct connector *c, const char *target, const struct conn_remote *ref,
                            conn_item_cb cb, void *arg)
{
	return fetch_issue(c, target, ref, true, cb, arg);
}

/* A token as sql/001 makes it: a UUID (hex digits and dashes). */
static bool token_valid(const char *t)
{
	size_t n = t ? strlen(t) : 0;
	for (size_t i = 0; i < n; i++)
		if (!isxdigit((unsigned char)t[i]) && t[i] != '-')
			return false;
	return n > 0 && n <= 64;
}

static int jira_find_by_token(struct connector *c, const char *target, const char *token,
                              conn_item_cb cb, void *arg)
{
	struct jira_conn *j = jira_of(c);
	if (j->destroyed || jira_check_project(target) || !token_valid(token))
		return -EINVAL;
	/* the anchor first, then the label (jira_steps.c, find_newest_answer) */
	char *jql = jira_jql_newest(target);
	struct jira_req *r = jira_req_new(j, JO_FIND, JS_FIND_NEWEST, "POST", jira_search_url(j),
	                                  jira_search_text(j, jql, 1), target, arg);
	free(jql);
	r->item_cb = cb;
	r->token = xstrdup(token);
	return start(r);
}

static int jira_comment(struct connector *c, const char *target, const struct conn_remote *ref,
                        const char *body, conn_comment_cb cb, void *arg)
{
	struct jira_conn *j = jira_of(c);
	const char *id = ref && ref->remote_id ? ref->remote_id : ref ? ref->key : NULL;
	if (j->destroyed || !jira_id_or_key_valid(id) || !body)
		return -EINVAL;
	struct jira_req *r = jira_req_new(j, JO_COMMENT, JS_COMMENT, "POST",
	                                  xasprintf("%s%s/issue/%s/comment", j->base_url, j->api, id),
	                                  json_text(j->flavor == JIRA_DC ? jira_comment_body_dc(body) :
	                                            jira_comment_body(body)), target, arg);
	r->comment_cb = cb;
	r->issue_key = xstrdup(ref->key ? ref->key : id);
	return start(r);
}

static int jira_find_comment(struct connector *c, const char *target,
                             const struct conn_remote *ref, const char *marker,
                             conn_comment_cb cb, void *arg)
{
	struct jira_conn *j = jira_of(c);
	const char *id = ref && ref->remote_id ? ref->remote_id : ref ? ref->key : NULL;
	if (j->destroyed || !jira_id_or_key_valid(id) || !marker || !*marker)
		return -EINVAL;
	struct jira_req *r = jira_req_new(j, JO_FIND_COMMENT, JS_COMMENTS, "GET",
	                                  xasprintf("%s%s/issue/%s/comment?startAt=0"
	                                            "&maxResults=100&orderBy=created",
	                                            j->base_url, j->api, id), NULL, target, arg);
	r->comment_cb = cb;
	r->issue_id = xstrdup(id);
	r->issue_key = xstrdup(ref->key ? ref->key : id);
	r->marker = xstrdup(marker);
	return start(r);
}

static void jira_cancel(struct connector *c)
{
	jira_cancel_all(jira_of(c));
}

static void pace_closed(struct pace *p)
{
	struct jira_conn *j = container_of(p, struct jira_conn, pace);
	free(j->base_url);
	free(j->auth_header);
	free(j->ca_file);
	free(j->issue_type);
	for (int i = 0; i < 4; i++)
		free(j->prio[i]);
	free(j->base.name);
	free(j);
}

static void jira_destroy(struct connector *c)
{
	struct jira_conn *j = jira_of(c);
	if (j->destroyed)
		return;
	j->destroyed = true;
	jira_cancel_all(j);
	pace_close(&j->pace, pace_closed);
}

static const struct conn_ops jira_ops = {
	.type = "jira",
	.list_changed = jira_list_changed,
	.create = jira_create,
	.update = jira_update,
	.fetch = jira_fetch,
	.fetch_times = jira_fetch_times,
	.comment = jira_comment,
	.find_comment = jira_find_comment,
	.find_by_token = jira_find_by_token,
	.label = jira_label,
	.created_as = jira_created_as,
	.webhook = jira_webhook,
	.cancel = jira_cancel,
	.destroy = jira_destroy,
};

/* ---- construction and the registry row ---- */

static const char *jira_check_issue_type(const char *v)
{
	for (const char *p = v; p && *p; p++)
		if ((unsigned char)*p < ' ' || *p == '"')
			return "an issue type name of the project (e.g. \"Task\"), without quotes "
			       "or control characters";
	return NULL;
}

static const struct conn_option jira_options[] = {
	{ "flavor", "string", "cloud", false, 0, 0, NULL, jira_check_flavor },
	{ "issue_type", "string", "Task", true, 0, 0, NULL, jira_check_issue_type },
	{ "priority_map", "string", JIRA_DEFAULT_PRIO, true, 0, 0, NULL, jira_check_priorities },
	{ "search_settle_ms", "int", "90000", true, 60000, 3600000, "milliseconds", NULL },
	{ "write_spacing_ms", "int", "100", true, 0, 60000, "milliseconds", NULL },
};

/* a rule of connectors.[].discover: a JQL fragment (jira_discover.h) */
static const struct conn_option jira_discover_options[] = {
	{ "jql", "string", NULL, true, 0, 0, NULL, jira_check_jql_fragment },
};

static long long jira_opt_int(const struct conn_options *opt, const char *name, long long def)
{
	const char *v = conn_opt(&jira_conn_type, opt, name);
	char *end = NULL;
	long long n = v ? strtoll(v, &end, 10) : def;
	return v && (end == v || *end) ? def : n;
}

static enum jira_flavor flavor_of(const struct conn_options *opt)
{
	return str_eq(conn_opt(&jira_conn_type, opt, "flavor"), "datacenter") ? JIRA_DC : JIRA_CLOUD;
}

/* Cloud: the secret is "email:api_token" (Basic authentication).  Data
 * Center: a personal access token, sent as "Authorization: Bearer <PAT>"
 * (Atlassian, "Using Personal Access Tokens": PATs are a secure way to use
 * scripts and integrate external applications with Atlassian Data Center;
 * one printable word, no user name). */
static const char *jira_token_check(const char *token, const struct conn_options *opt)
{
	if (flavor_of(opt) == JIRA_DC) {
		bool word = token && token[0];
		for (const char *p = token; word && *p; p++)
			word = (unsigned char)*p > ' ' && (unsigned char)*p < 0x7f && *p != ':';
		return word ? NULL : "a Jira Data Center personal access token (one word, as the "
		                     "user's profile > Personal Access Tokens shows it; not "
		                     "\"user:password\": Data Center takes it as Bearer authentication)";
	}
	const char *colon = token ? strchr(token, ':') : NULL;
	if (!colon || colon == token || !colon[1] || !memchr(token, '@', (size_t)(colon - token)))
		return "\"email:api_token\" (the Atlassian account's email, a colon, and an API "
		       "token from id.atlassian.com; Jira Cloud takes them as Basic authentication)";
	return NULL;
}

static int jira_connector_new(struct connector **out, uv_loop_t *loop, struct http_client *http,
                              const struct conn_options *opt)
{
	*out = NULL;
	char *prio[4];
	const char *pm = conn_opt(&jira_conn_type, opt, "priority_map");
	if (!loop || !http || !opt || !opt->base_url || !opt->token ||
	    jira_token_check(opt->token, opt) ||
	    jira_check_flavor(conn_opt(&jira_conn_type, opt, "flavor")) ||
	    jira_priorities_parse(pm ? pm : JIRA_DEFAULT_PRIO, prio) < 0)
		return -EINVAL;
	struct jira_conn *j = xcalloc(1, sizeof(*j));
	LIST_INIT(&j->reqs);
	j->base.ops = &jira_ops;
	j->base.type = &jira_conn_type;
	j->base.name = xstrdup(opt->name ? opt->name : "jira");
	j->base.loop = loop;
	j->base.http = http;
	/* search lags writes and JQL has minutes: every window overlaps */
	j->base.list_settle_ms = jira_opt_int(opt, "search_settle_ms", 90000);
	j->base_url = xstrdup(opt->base_url);
	size_t n = strlen(j->base_url);
	while (n > 0 && j->base_url[n - 1] == '/')
		j->base_url[--n] = '\0';
	log_add_secret(opt->token);
	j->flavor = flavor_of(opt);
	j->api = j->flavor == JIRA_DC ? "/rest/api/2" : "/rest/api/3";
	if (j->flavor == JIRA_DC) {
		j->auth_header = xasprintf("Authorization: Bearer %s", opt->token);
		j->base.type = &jira_dc_conn_type; /* user names, wiki markup */
	} else {
		j->auth_header = conn_basic_auth_header(opt->token);
		log_add_secret(j->auth_header + strlen("Authorization: Basic "));
	}
	const char *it = conn_opt(&jira_conn_type, opt, "issue_type");
	j->issue_type = xstrdup(it ? it : "Task");
	memcpy(j->prio, prio, sizeof(prio));
	j->max_attempts = opt->max_attempts >= 1 ? opt->max_attempts : 1;
	j->backoff_base_ms = opt->backoff_base_ms > 0 ? opt->backoff_base_ms : 500;
	j->backoff_max_ms = opt->backoff_max_ms >= j->backoff_base_ms ? opt->backoff_max_ms :
	                    j->backoff_base_ms;
	j->timeout_ms = opt->request_timeout_ms > 0 ? opt->request_timeout_ms : 0;
	j->ca_file = xstrdup(opt->ca_file);
	struct pace_config pc = { .spacing_ms = jira_opt_int(opt, "write_spacing_ms", 100) };
	if (pace_init(&j->pace, loop, &pc) < 0)
		abort(); /* uv_timer_init only fails on a dead loop */
	j->base.pace = &j->pace;
	j->base.rate_limit = j->base.rate_remaining = -1;
	j->rng = uv_hrtime() ^ (uint64_t)(uintptr_t)j;
	if (!j->rng)
		j->rng = 0x9e3779b97f4a7c15ull;
	*out = &j->base;
	return 0;
}

static const struct conn_type *jira_variant(const struct conn_options *opt)
{
	return flavor_of(opt) == JIRA_DC ? &jira_dc_conn_type : &jira_conn_type;
}

static char *jira_normalise(enum item_field f, const char *v)
{
	return f == ITEM_F_DESCRIPTION ? jira_description_normalise(v) : xstrdup(v);
}

static char *jira_dc_normalise(enum item_field f, const char *v)
{
	return f == ITEM_F_DESCRIPTION ? jira_wiki_description_normalise(v) : xstrdup(v);
}

#define JIRA_CAPS { \
		[ITEM_F_TITLE] = CONN_CAP_NATIVE | CONN_CAP_WRITABLE, \
		[ITEM_F_DESCRIPTION] = CONN_CAP_NATIVE | CONN_CAP_WRITABLE | CONN_CAP_LOSSY, \
		[ITEM_F_TYPE] = CONN_CAP_NATIVE | CONN_CAP_WRITABLE,   /* a label */ \
		[ITEM_F_STATE] = CONN_CAP_NATIVE | CONN_CAP_WRITABLE, \
		[ITEM_F_PRIORITY] = CONN_CAP_NATIVE | CONN_CAP_WRITABLE, \
		[ITEM_F_OWNER] = CONN_CAP_NATIVE | CONN_CAP_WRITABLE, \
		[ITEM_F_DUE_DATE] = CONN_CAP_NATIVE | CONN_CAP_WRITABLE, \
	}

/* What the Cloud and the Data Center types share. */
#define JIRA_TYPE_COMMON \
	.name = "jira", \
	.create = jira_connector_new, \
	.options = jira_options, \
	.n_options = ARRAY_SIZE(jira_options), \
	.target_check = jira_check_project, \
	.token_check = jira_token_check, \
	.comment_noun = "comment", \
	.discover_options = jira_discover_options, \
	.n_discover_options = ARRAY_SIZE(jira_discover_options), \
	.caps = JIRA_CAPS, \
	.ops = &jira_ops

const struct conn_type jira_conn_type = {
	JIRA_TYPE_COMMON,
	.person_ident = "jira_account_id",
	.mention = jira_mention,
	.normalise = jira_normalise,
	.variant = jira_variant,
};

/* The type of a connector with flavor = "datacenter" (its base.type, so
 * conn_type_of() answers it; not in the registry, which knows "jira"
 * once): owners are Data Center user names (the people directory's
 * jira_username), mentions "[~username]", descriptions wiki markup. */
const struct conn_type jira_dc_conn_type = {
	JIRA_TYPE_COMMON,
	.person_ident = "jira_username",
	.mention = jira_dc_mention,
	.normalise = jira_dc_normalise,
};
