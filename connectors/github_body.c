/* github_body.c — see github_body.h. */
#include "github_body.h"
#include "github_req.h"
#include "conn_json.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#define GH_LABEL_MANAGED "closeloop"
#define GH_LABEL_IN_PROGRESS "status: in progress"
#define GH_LABEL_PRIORITY "priority: "
#define GH_LABEL_TYPE "type: "

static const char *const gh_types[] = { "prevent", "detect", "mitigate", "process", "other" };

/* ---- labels, state ---- */

static bool label_priority(const char *name, char out[3])
{
	size_t pl = strlen(GH_LABEL_PRIORITY);
	if (!str_istarts(name, GH_LABEL_PRIORITY) || strlen(name) != pl + 2)
		return false;
	char p = (char)toupper((unsigned char)name[pl]);
	char d = name[pl + 1];
	if (p != 'P' || d < '0' || d > '3')
		return false;
	out[0] = 'P';
	out[1] = d;
	out[2] = '\0';
	return true;
}

static const char *label_type(const char *name)
{
	if (!str_istarts(name, GH_LABEL_TYPE))
		return NULL;
	for (size_t i = 0; i < ARRAY_SIZE(gh_types); i++)
		if (strcasecmp(name + strlen(GH_LABEL_TYPE), gh_types[i]) == 0)
			return gh_types[i];
	return NULL;
}

bool gh_label_is_managed(const char *name)
{
	char p[3];
	return name && (strcasecmp(name, GH_LABEL_MANAGED) == 0 ||
	                strcasecmp(name, GH_LABEL_IN_PROGRESS) == 0 ||
	                label_priority(name, p) || label_type(name));
}

const char *gh_state_from_issue(const char *state, const char *state_reason,
                                bool in_progress_label)
{
	if (state && strcmp(state, "closed") == 0)
		return str_eq(state_reason, "not_planned") ? "wont_do" : "done";
	return in_progress_label ? "in_progress" : "open";
}

static void append_foreign(struct json_object *arr, const char *extra, const char *key,
                           bool labels)
{
	struct json_object *ex = extra ? json_tokener_parse(extra) : NULL;
	struct json_object *a = conn_json_arr(ex, key);
	for (size_t i = 0; a && i < json_object_array_length(a); i++) {
		struct json_object *v = json_object_array_get_idx(a, i);
		const char *s = json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
		if (!s || (labels && gh_label_is_managed(s)))
			continue;
		json_object_array_add(arr, json_object_new_string(s));
	}
	json_object_put(ex);
}

struct json_object *gh_labels_json(const struct item_fields *want, const char *extra)
{
	struct json_object *a = json_object_new_array();
	const char *pri = want->v[ITEM_F_PRIORITY], *type = want->v[ITEM_F_TYPE];
	json_object_array_add(a, json_object_new_string(GH_LABEL_MANAGED));
	if (pri && item_priority_valid(pri)) {
		char *l = xasprintf(GH_LABEL_PRIORITY "%s", pri);
		json_object_array_add(a, json_object_new_string(l));
		free(l);
	}
	if (type && item_type_valid(type)) {
		char *l = xasprintf(GH_LABEL_TYPE "%s", type);
		json_object_array_add(a, json_object_new_string(l));
		free(l);
	}
	if (str_eq(want->v[ITEM_F_STATE], "in_progress"))
		json_object_array_add(a, json_object_new_string(GH_LABEL_IN_PROGRESS));
	append_foreign(a, extra, "labels", true);
	return a;
}

struct json_object *gh_assignees_json(const char *owner, const char *extra)
{
	struct json_object *a = json_object_new_array();
	if (!owner)
		return a;
	json_object_array_add(a, json_object_new_string(owner));
	append_foreign(a, extra, "assignees", false);
	return a;
}

/* ---- issue JSON -> conn_remote ---- */

const char *gh_label_name(struct json_object *l)
{
	if (json_object_is_type(l, json_type_string))
		return json_object_get_string(l);
	return conn_json_str(l, "name");
}

/* Labels and assignees into fields and extra. */
static void issue_people_labels(struct json_object *issue, struct conn_remote *out, bool *in_progress,
                                bool crlf)
{
	struct json_object *labels = conn_json_arr(issue, "labels");
	struct json_object *assignees = conn_json_arr(issue, "assignees");
	struct json_object *xl = json_object_new_array(), *xa = json_object_new_array();
	*in_progress = false;
	if (labels) {
		for (size_t i = 0; i < json_object_array_length(labels); i++) {
			const char *n = gh_label_name(json_object_array_get_idx(labels, i));
			char pri[3];
			const char *t;
			if (!n)
				continue;
			if (label_priority(n, pri))
				item_fields_set(&out->fields, ITEM_F_PRIORITY, pri);
			else if ((t = label_type(n)))
				item_fields_set(&out->fields, ITEM_F_TYPE, t);
			else if (strcasecmp(n, GH_LABEL_IN_PROGRESS) == 0)
				*in_progress = true;
			else if (strcasecmp(n, GH_LABEL_MANAGED) != 0)
				json_object_array_add(xl, json_object_new_string(n));
		}
	}
	if (assignees) {
		for (size_t i = 0; i < json_object_array_length(assignees); i++) {
			struct json_object *u = json_object_array_get_idx(assignees, i);
			const char *login = json_object_is_type(u, json_type_object) ? conn_json_str(u, "login") : NULL;
			if (!login)
				continue;
			if (!out->fields.v[ITEM_F_OWNER])
				item_fields_set(&out->fields, ITEM_F_OWNER, login);
			else
				json_object_array_add(xa, json_object_new_string(login));
		}
	}
	struct json_object *extra = json_object_new_object();
	json_object_object_add(extra, "labels", xl);
	json_object_object_add(extra, "assignees", xa);
	if (crlf) /* the body's lines end in CRLF (the web editor): kept so */
		json_object_object_add(extra, "crlf", json_object_new_boolean(true));
	out->extra = xstrdup(json_object_to_json_string_ext(extra, JSON_C_TO_STRING_PLAIN));
	json_object_put(extra);
}

int gh_issue_to_remote(struct json_object *issue, const char *repo,
                       struct conn_remote *out, const char **err)
{
	int64_t id, number;
	const char *title, *updated;
	int rc = 0;
	bool in_progress = false;
	struct gh_body_parsed bp;

	conn_remote_init(out);
	*err = NULL;
	if (!issue || !json_object_is_type(issue, json_type_object)) {
		*err = "an issue is not a JSON object";
		return -EINVAL;
	}
	if (!conn_json_int64(issue, "id", &id) || id <= 0) {
		*err = "an issue has no numeric \"id\"";
		return -EINVAL;
	}
	if (!conn_json_int64(issue, "number", &number) || number <= 0) {
		*err = "an issue has no numeric \"number\"";
		return -EINVAL;
	}
	if (!(title = conn_json_str(issue, "title"))) {
		*err = "an issue has no \"title\"";
		return -EINVAL;
	}
	if ((updated = conn_json_str(issue, "updated_at"))) {
		int64_t ms;
		char ts[32];
		if (ts_parse(updated, &ms) < 0) {
			*err = "an issue has an \"updated_at\" that is not an RFC 3339 time";
			rc = -EINVAL;
			goto out;
		}
		ts_format(ms, ts, sizeof(ts));
		out->updated_at = xstrdup(ts);
	}
	out->remote_id = xasprintf("%" PRId64, id);
	out->key = xasprintf("%s#%" PRId64, repo, number);
	out->url = xstrdup(conn_json_str(issue, "html_url"));
	item_fields_set(&out->fields, ITEM_F_TITLE, title);
	gh_body_parse(conn_json_str(issue, "body"), &bp);
	out->fields.v[ITEM_F_DESCRIPTION] = bp.description;
	out->fields.v[ITEM_F_DUE_DATE] = bp.due_date;
	out->token = bp.token;
	if (bp.due_unread)
		out->unread_mask |= ITEM_FIELD_BIT(ITEM_F_DUE_DATE);
	if (bp.block_repair)
		out->repair_mask |= ITEM_FIELD_BIT(ITEM_F_DUE_DATE);
	const char *raw_body = conn_json_str(issue, "body");
	issue_people_labels(issue, out, &in_progress, raw_body && strstr(raw_body, "\r\n"));
	item_fields_set(&out->fields, ITEM_F_STATE,
	                gh_state_from_issue(conn_json_str(issue, "state"), conn_json_str(issue, "state_reason"),
	                                    in_progress));
	/* "reopened": the issue was closed after it was created (REST "Get an
	 * issue": state_reason "completed", "reopened", "not_planned",
	 * "duplicate" or null) */
	if (str_eq(conn_json_str(issue, "state"), "open") &&
	    str_eq(conn_json_str(issue, "state_reason"), "reopened"))
		out->changed_mask |= ITEM_FIELD_BIT(ITEM_F_STATE);
out:
	if (rc < 0)
		conn_remote_free(out);
	return rc;
}

void gh_discover_mark(const struct connector *c, const char *repo, struct json_object *issue,
                      struct conn_remote *out)
{
	const struct conn_discover *rule = conn_discover_rule(c, repo);
	const char *want = conn_discover_opt(c, rule, "label");
	const char *project = conn_discover_opt(c, rule, "project");
	struct json_object *labels = conn_json_arr(issue, "labels");
	int64_t id = 0;
	if (!want && !project)
		return;
	if (want && labels) {
		for (size_t i = 0; i < json_object_array_length(labels); i++) {
			const char *n = gh_label_name(json_object_array_get_idx(labels, i));
			if (n && strcasecmp(n, want) == 0) {
				out->discover = CONN_DISCOVER_MATCH;
				return;
			}
		}
	}
	/* the board (github_project.c): unknown until a pass has read it,
	 * and an unknown board never says "left" */
	int member = project && conn_json_int64(issue, "id", &id) ?
	             gh_project_member(container_of(c, const struct gh_conn, base), repo, id) : 0;
	out->discover = member == 1 ? CONN_DISCOVER_MATCH :
	                member < 0 ? CONN_DISCOVER_NONE : CONN_DISCOVER_NO_MATCH;
}

bool gh_issue_is_pull_request(struct json_object *issue)
{
	return issue && json_object_is_type(issue, json_type_object) &&
	       json_object_object_get_ex(issue, "pull_request", NULL);
}

/* ---- Link header (RFC 8288) ---- */

/* Does the rel parameter value [v, ve) list rel (space-separated)? */
static bool rel_has(const char *v, const char *ve, const char *rel)
{
	size_t rl = strlen(rel);
	while (v < ve) {
		while (v < ve && *v == ' ')
			v++;
		const char *e = v;
		while (e < ve && *e != ' ')
			e++;
		if ((size_t)(e - v) == rl && strncasecmp(v, rel, rl) == 0)
			return true;
		v = e;
	}
	return false;
}

char *gh_link_find(const char *link, const char *rel)
{
	const char *p = link;
	while (p && *p) {
		const char *lt = strchr(p, '<');
		if (!lt)
			return NULL;
		const char *gt = strchr(lt, '>');
		if (!gt)
			return NULL;
		bool match = false;
		p = gt + 1;
		/* parameters up to the next ',' outside quotes */
		while (*p && *p != ',') {
			while (*p == ';' || *p == ' ' || *p == '\t')
				p++;
			const char *name = p;
			while (*p && *p != '=' && *p != ';' && *p != ',')
				p++;
			size_t nl = (size_t)(p - name);
			while (nl && (name[nl - 1] == ' ' || name[nl - 1] == '\t'))
				nl--;
			if (*p != '=')
				continue;
			p++;
			while (*p == ' ')
				p++;
			const char *v = p, *ve;
			if (*p == '"') {
				v = ++p;
				while (*p && *p != '"')
					p++;
				ve = p;
				if (*p)
					p++;
			} else {
				while (*p && *p != ';' && *p != ',')
					p++;
				ve = p;
				while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
					ve--;
			}
			if (nl == 3 && strncasecmp(name, "rel", 3) == 0 && rel_has(v, ve, rel))
				match = true;
		}
		if (match)
			return xstrndup(lt + 1, (size_t)(gt - lt - 1));
		if (*p == ',')
			p++;
	}
	return NULL;
}

/* ---- request bodies ---- */

static char *json_text(struct json_object *o)
{
	char *s = xstrdup(json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN |
	                                                     JSON_C_TO_STRING_NOSLASHESCAPE));
	json_object_put(o);
	return s;
}

/* Characters (code points) of UTF-8 text, as GitHub counts them. */
static size_t utf8_chars(const char *s)
{
	size_t n = 0;
	for (; *s; s++)
		n += ((unsigned char)*s & 0xC0) != 0x80;
	return n;
}

char *gh_value_too_long(const struct item_fields *want, unsigned mask,
                        const struct conn_item_context *ctx, const char *token)
{
	const char *t = want->v[ITEM_F_TITLE], *d = want->v[ITEM_F_DESCRIPTION];
	if ((mask & ITEM_FIELD_BIT(ITEM_F_TITLE)) && t && utf8_chars(t) > GH_TITLE_MAX)
		return xasprintf("the title is too long for a GitHub issue: %zu characters, GitHub "
		                 "takes at most %d; shorten the action item's title", utf8_chars(t),
		                 GH_TITLE_MAX);
	if (!(mask & (ITEM_FIELD_BIT(ITEM_F_DESCRIPTION) | ITEM_FIELD_BIT(ITEM_F_DUE_DATE))) || !d)
		return NULL;
	/* at most 4 bytes a character: longer than this cannot fit */
	if (strlen(d) > 4 * (size_t)GH_BODY_MAX)
		return xasprintf("the description is too long for a GitHub issue body: %zu bytes, "
		                 "GitHub takes at most %d characters; shorten the action item's "
		                 "description", strlen(d), GH_BODY_MAX);
	char *body = gh_body_render(d, want->v[ITEM_F_DUE_DATE], ctx, token);
	size_t n = utf8_chars(body);
	free(body);
	if (n <= GH_BODY_MAX)
		return NULL;
	return xasprintf("the description is too long for a GitHub issue body: %zu characters "
	                 "with closeloop's block, GitHub takes at most %d; shorten the action "
	                 "item's description", n, GH_BODY_MAX);
}

char *gh_create_json(const struct item_fields *want, const struct conn_item_context *ctx)
{
	struct json_object *o = json_object_new_object();
	char *body = gh_body_render(want->v[ITEM_F_DESCRIPTION], want->v[ITEM_F_DUE_DATE], ctx, NULL);
	json_object_object_add(o, "title", json_object_new_string(want->v[ITEM_F_TITLE] ?
	                                                          want->v[ITEM_F_TITLE] : ""));
	json_object_object_add(o, "body", json_object_new_string(body));
	json_object_object_add(o, "labels", gh_labels_json(want, NULL));
	json_object_object_add(o, "assignees", gh_assignees_json(want->v[ITEM_F_OWNER], NULL));
	free(body);
	return json_text(o);
}

/* Did the ticket's body end its lines in CRLF (extra "crlf")? */
static bool extra_crlf(const char *extra)
{
	struct json_object *ex = extra ? json_tokener_parse(extra) : NULL;
	bool yes = false;
	(void)conn_json_bool(ex, "crlf", &yes); /* closeloop writes it: true or absent */
	json_object_put(ex);
	return yes;
}

/* LF line ends -> CRLF (frees s): a person's CRLF body is written back as
 * they wrote it, not rewritten as LF. */
static char *to_crlf(char *s)
{
	size_t n = 0;
	for (const char *p = s; *p; p++)
		n += *p == '\n';
	char *out = xmalloc(strlen(s) + n + 1), *w = out;
	for (const char *p = s; *p; p++) {
		if (*p == '\n' && (p == s || p[-1] != '\r'))
			*w++ = '\r';
		*w++ = *p;
	}
	*w = '\0';
	free(s);
	return out;
}

char *gh_update_json(const struct item_fields *want, unsigned mask,
                     const struct conn_item_context *ctx, const char *token,
                     const char *extra)
{
	struct json_object *o = json_object_new_object();
	const char *state = want->v[ITEM_F_STATE];

	if (mask & ITEM_FIELD_BIT(ITEM_F_TITLE))
		json_object_object_add(o, "title", json_object_new_string(want->v[ITEM_F_TITLE] ?
		                                                          want->v[ITEM_F_TITLE] : ""));
	if (mask & (ITEM_FIELD_BIT(ITEM_F_DESCRIPTION) | ITEM_FIELD_BIT(ITEM_F_DUE_DATE))) {
		char *body = gh_body_render(want->v[ITEM_F_DESCRIPTION], want->v[ITEM_F_DUE_DATE],
		                            ctx, token);
		if (extra_crlf(extra))
			body = to_crlf(body);
		json_object_object_add(o, "body", json_object_new_string(body));
		free(body);
	}
	if ((mask & ITEM_FIELD_BIT(ITEM_F_STATE)) && state) {
		bool closed = item_state_closed(state);
		json_object_object_add(o, "state", json_object_new_string(closed ? "closed" : "open"));
		if (closed)
			json_object_object_add(o, "state_reason",
			                       json_object_new_string(str_eq(state, "wont_do") ?
			                                              "not_planned" : "completed"));
	}
	/* never "labels": that replaces the whole set, and a label a person
	 * added since the last pull would be lost; closeloop's own labels go
	 * through the label endpoints (github_label.c) */
	if (mask & ITEM_FIELD_BIT(ITEM_F_OWNER))
		json_object_object_add(o, "assignees", gh_assignees_json(want->v[ITEM_F_OWNER], extra));
	if (json_object_object_length(o) == 0) {
		json_object_put(o);
		return NULL;
	}
	return json_text(o);
}

/* ---- answers ---- */

static bool names_assignees(struct json_object *err, const char **value)
{
	const char *name = conn_json_str(err, "field"), *v = conn_json_str(err, "value");
	if (!name || (strcmp(name, "assignees") != 0 && strcmp(name, "assignee") != 0))
		return false;
	if (v)
		*value = v;
	return true;
}

int gh_assignee_refusal(const char *resp_body, char **req_body, char **login)
{
	struct json_object *a = resp_body ? json_tokener_parse(resp_body) : NULL;
	struct json_object *q = *req_body ? json_tokener_parse(*req_body) : NULL;
	struct json_object *errs = conn_json_arr(a, "errors"), *as = conn_json_arr(q, "assignees");
	const char *value = NULL;
	bool refused = false;
	int rc = -ENOENT;
	if (errs)
		for (size_t i = 0; i < json_object_array_length(errs) && !refused; i++)
			refused = names_assignees(json_object_array_get_idx(errs, i), &value);
	if (!refused || !as || json_object_array_length(as) == 0)
		goto out;
	*login = xstrdup(value ? value : "?");
	json_object_object_del(q, "assignees");
	free(*req_body);
	*req_body = xstrdup(json_object_to_json_string_ext(q, JSON_C_TO_STRING_PLAIN |
	                                                       JSON_C_TO_STRING_NOSLASHESCAPE));
	rc = 0;
out:
	json_object_put(a);
	json_object_put(q);
	return rc;
}

bool gh_is_rate_limited(const struct http_response *resp)
{
	const char *rem = http_response_header(resp, "x-ratelimit-remaining");
	if (resp->status == 429)
		return true;
	return resp->status == 403 &&
	       (http_response_header(resp, "retry-after") || (rem && strcmp(rem, "0") == 0) ||
	        (resp->body && strcasestr(resp->body, "secondary rate limit")));
}

/* The longest wait or the latest reset an answer may name, in seconds
 * from now: a day.  GitHub's retry-after is seconds and its reset an epoch
 * second an hour ahead at most ("Rate limits for the REST API"); an absurd
 * value (9223372036854775807) must not overflow the millisecond
 * arithmetic (UBSan, found by tests/fuzz/fuzz_github.c). */
#define GH_WAIT_MAX_S 86400LL

/* A header holding a non-negative integer: 0 and *v, or -1. */
static int header_ll(const struct http_response *resp, const char *name, long long *v)
{
	const char *s = http_response_header(resp, name);
	char *end = NULL;
	if (!s)
		return -1;
	errno = 0;
	*v = strtoll(s, &end, 10);
	return errno == 0 && end != s && *end == '\0' && *v >= 0 ? 0 : -1;
}

void gh_note_budget(struct connector *c, const struct http_response *resp)
{
	long long limit, rem, reset;
	/* the REST budget, and GraphQL's points apart; search has a budget of
	 * its own (x-ratelimit-resource: search), not kept */
	const char *res = http_response_header(resp, "x-ratelimit-resource");
	bool gql = res && strcmp(res, "graphql") == 0;
	int64_t *lim = gql ? &c->graphql_limit : &c->rate_limit;
	int64_t *left = gql ? &c->graphql_remaining : &c->rate_remaining;
	int64_t *reset_at = gql ? &c->graphql_reset_at : &c->rate_reset_at;
	if ((res && strcmp(res, "core") != 0 && !gql) ||
	    header_ll(resp, "x-ratelimit-remaining", &rem) < 0)
		return;
	*left = rem;
	if (header_ll(resp, "x-ratelimit-limit", &limit) == 0)
		*lim = limit;
	if (header_ll(resp, "x-ratelimit-reset", &reset) == 0)
		*reset_at = (int64_t)(reset < INT64_MAX / 1000 ? reset : INT64_MAX / 1000) * 1000;
}

int64_t gh_rate_limit_wait_ms(const struct http_response *resp, int64_t now_ms)
{
	const char *ra = http_response_header(resp, "retry-after");
	const char *rem = http_response_header(resp, "x-ratelimit-remaining");
	/* the reset time is the primary limit's: it says nothing about a
	 * secondary limit answered with requests remaining */
	const char *reset = rem && strcmp(rem, "0") == 0 ?
	                    http_response_header(resp, "x-ratelimit-reset") : NULL;
	char *end = NULL;
	if (ra) {
		errno = 0;
		long long s = strtoll(ra, &end, 10);
		if (errno == 0 && end != ra && *end == '\0' && s >= 0)
			return (int64_t)(s < GH_WAIT_MAX_S ? s : GH_WAIT_MAX_S) * 1000;
	}
	if (reset) {
		errno = 0;
		long long s = strtoll(reset, &end, 10);
		if (errno == 0 && end != reset && *end == '\0' && s > 0) {
			int64_t now_s = now_ms / 1000;
			if (s - now_s > GH_WAIT_MAX_S)
				s = now_s + GH_WAIT_MAX_S;
			int64_t w = (int64_t)s * 1000 - now_ms;
			return w > 0 ? w : 0;
		}
	}
	return -1;
}

char *gh_error_detail(const char *body)
{
	struct json_object *o = body ? json_tokener_parse(body) : NULL;
	struct json_object *errs = conn_json_arr(o, "errors");
	struct buf b = { .max = 4096 };
	const char *m = o && json_object_is_type(o, json_type_object) ? conn_json_text(o, "message") : NULL;
	int rc = 0;

	rc |= buf_appendf(&b, "%.200s", m ? m : "no error message");
	if (m && errs && json_object_array_length(errs) > 0) {
		size_t n = json_object_array_length(errs);
		for (size_t i = 0; i < n && i < 5; i++) {
			struct json_object *e = json_object_array_get_idx(errs, i);
			const char *sep = i == 0 ? " (" : "; ";
			if (!json_object_is_type(e, json_type_object)) {
				rc |= buf_appendf(&b, "%s%.100s", sep, json_object_get_string(e));
				continue;
			}
			const char *res = conn_json_text(e, "resource"), *field = conn_json_text(e, "field");
			const char *code = conn_json_text(e, "code"), *msg = conn_json_text(e, "message");
			rc |= buf_appendf(&b, "%s%.40s%s%.40s: %.100s", sep, res ? res : "",
			                  res && field ? "." : "", field ? field : "",
			                  msg ? msg : (code ? code : "invalid"));
		}
		rc |= buf_appendf(&b, "%s)", n > 5 ? "; ..." : "");
	}
	json_object_put(o);
	if (rc)
		abort(); /* bounded above to far less than the cap */
	return buf_steal(&b);
}

/* ---- keys ---- */

int gh_key_number(const char *key, long *out)
{
	const char *hash = key ? strrchr(key, '#') : NULL;
	char *end = NULL;
	if (!hash || !isdigit((unsigned char)hash[1]))
		return -EINVAL;
	errno = 0;
	long v = strtol(hash + 1, &end, 10);
	if (errno || *end != '\0' || v <= 0)
		return -EINVAL;
	*out = v;
	return 0;
}

bool gh_repo_valid(const char *repo)
{
	int slashes = 0;
	size_t seg = 0;
	if (!repo || !*repo)
		return false;
	for (const char *p = repo; *p; p++) {
		if (*p == '/') {
			if (seg == 0 || ++slashes > 1 || strncmp(p - seg, ".", seg) == 0 ||
			    strncmp(p - seg, "..", seg) == 0)
				return false;
			seg = 0;
			continue;
		}
		if (!isalnum((unsigned char)*p) && *p != '.' && *p != '_' && *p != '-')
			return false;
		seg++;
	}
	const char *name = repo + strlen(repo) - seg;
	return slashes == 1 && seg > 0 && strcmp(name, ".") != 0 && strcmp(name, "..") != 0;
}

const char *gh_target_check(const char *t)
{
	/* "owner/name": owner [A-Za-z0-9-], name [A-Za-z0-9._-] (GitHub's
	 * rules for user and repository names) */
	static const char expected[] = "a repository \"owner/name\"";
	const char *slash = t ? strchr(t, '/') : NULL;
	if (!slash || slash == t || !slash[1] || strchr(slash + 1, '/') || !gh_repo_valid(t))
		return expected;
	for (const char *p = t; p < slash; p++)
		if (*p == '.' || *p == '_')
			return expected;
	return NULL;
}
