/* jira_fields.c — see jira_fields.h. */
#include "jira_fields.h"
#include "jira_adf.h"
#include "jira_wiki.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

/* Resolutions (and transition names) that mean "closed without doing it"
 * (Jira's default resolutions and common workflow names). */
static const char *const WONT_NAMES[] = {
	"won't do", "won't fix", "wont do", "wont fix", "declined", "rejected",
	"duplicate", "cannot reproduce", "obsolete", "not a bug",
};

static bool is_wont(const char *name)
{
	char low[64];
	size_t n = 0;
	if (!name)
		return false;
	for (; name[n] && n + 1 < sizeof(low); n++) /* ’ (U+2019) as ' */
		low[n] = (char)tolower((unsigned char)name[n]);
	low[n] = '\0';
	char *q = strstr(low, "\xe2\x80\x99");
	if (q) {
		*q = '\'';
		memmove(q + 1, q + 3, strlen(q + 3) + 1);
	}
	for (size_t i = 0; i < ARRAY_SIZE(WONT_NAMES); i++)
		if (strcmp(low, WONT_NAMES[i]) == 0)
			return true;
	return false;
}

/* ---- option checks ---- */

const char *jira_check_flavor(const char *v)
{
	if (v && (strcmp(v, "cloud") == 0 || strcmp(v, "datacenter") == 0))
		return NULL;
	return "\"cloud\" or \"datacenter\"";
}

const char *jira_check_project(const char *target)
{
	/* Jira's default project key pattern: an uppercase letter, then
	 * uppercase letters, digits or underscores; 2..10 characters */
	size_t n = target ? strlen(target) : 0;
	bool ok = n >= 2 && n <= 10 && isupper((unsigned char)target[0]);
	for (size_t i = 1; ok && i < n; i++)
		ok = isupper((unsigned char)target[i]) || isdigit((unsigned char)target[i]) ||
		     target[i] == '_';
	return ok ? NULL : "a Jira project key (2-10 characters: an uppercase letter, then "
	                   "uppercase letters, digits or _), e.g. \"OPS\"";
}

int jira_priorities_parse(const char *v, char *names[4])
{
	char *copy = xstrdup(v ? v : ""), *save = NULL;
	int rc = 0, n = 0;
	memset(names, 0, 4 * sizeof(*names));
	for (char *part = strtok_r(copy, ",", &save); part && rc == 0;
	     part = strtok_r(NULL, ",", &save), n++) {
		part = str_trim(part);
		char *eq = part[0] && part[1] ? part + 2 : part;
		while (*eq == ' ')
			eq++;
		if (part[0] != 'P' || part[1] < '0' || part[1] > '3' || *eq != '=') {
			rc = -EINVAL;
			break;
		}
		int p = part[1] - '0';
		char *name = str_trim(eq + 1);
		if (!name[0] || names[p])
			rc = -EINVAL;
		else
			names[p] = xstrdup(name);
	}
	if (rc == 0 && (n != 4 || !names[0] || !names[1] || !names[2] || !names[3]))
		rc = -EINVAL;
	if (rc < 0)
		for (int i = 0; i < 4; i++) {
			free(names[i]);
			names[i] = NULL;
		}
	free(copy);
	return rc;
}

const char *jira_check_priorities(const char *v)
{
	char *names[4];
	if (jira_priorities_parse(v, names) < 0)
		return "P0..P3 each mapped once to a Jira priority name, e.g. "
		       "\"P0=Highest,P1=High,P2=Medium,P3=Low\"";
	for (int i = 0; i < 4; i++)
		free(names[i]);
	return NULL;
}

/* ---- canonical -> Jira ---- */

/* A label from free text: white space becomes '-' (labels hold no spaces). */
static char *label_of(const char *prefix, const char *text)
{
	char *l = xasprintf("%s%s", prefix, text);
	for (char *p = l; *p; p++)
		if (isspace((unsigned char)*p))
			*p = '-';
	return l;
}

static void add_str(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

/* {"<key>": value} or JSON null when value is NULL. */
static struct json_object *obj1(const char *key, const char *value)
{
	struct json_object *o;
	if (!value)
		return NULL;
	o = json_object_new_object();
	add_str(o, key, value);
	return o;
}

static struct json_object *labels_json(const struct item_fields *want,
                                       const struct conn_item_context *ctx,
                                       const char *extra, bool creating)
{
	struct json_object *arr = json_object_new_array(), *ex = NULL, *el;
	if (want->v[ITEM_F_TYPE]) {
		char *l = label_of(JIRA_TYPE_LABEL, want->v[ITEM_F_TYPE]);
		json_object_array_add(arr, json_object_new_string(l));
		free(l);
	}
	/* the token and postmortem labels on every label write: PUT replaces
	 * the labels, and the token is how a lost create is found again */
	UNUSED(creating);
	if (ctx && ctx->token) {
		char *l = label_of(JIRA_TOKEN_LABEL, ctx->token);
		json_object_array_add(arr, json_object_new_string(l));
		free(l);
	}
	if (ctx && ctx->postmortem_ref) {
		char *l = label_of(JIRA_PM_LABEL, ctx->postmortem_ref);
		json_object_array_add(arr, json_object_new_string(l));
		free(l);
	}
	if (extra && (ex = json_tokener_parse(extra)) && json_object_object_get_ex(ex, "labels", &el) &&
	    json_object_is_type(el, json_type_array))
		for (size_t i = 0; i < json_object_array_length(el); i++)
			json_object_array_add(arr, json_object_get(json_object_array_get_idx(el, i)));
	json_object_put(ex);
	return arr;
}

struct json_object *jira_fields_json(const char *project, const char *issue_type,
                                     char *const priorities[4],
                                     const struct item_fields *want, unsigned mask,
                                     const struct conn_item_context *ctx,
                                     const char *extra, bool creating, enum jira_flavor fl)
{
	struct json_object *f = json_object_new_object(), *desc = NULL;
	const char *p = want->v[ITEM_F_PRIORITY];
	if (creating) {
		mask = ITEM_FIELDS_ALL;
		json_object_object_add(f, "project", obj1("key", project));
		json_object_object_add(f, "issuetype", obj1("name", issue_type));
	}
	if (mask & ITEM_FIELD_BIT(ITEM_F_TITLE))
		add_str(f, "summary", want->v[ITEM_F_TITLE]);
	if ((mask & ITEM_FIELD_BIT(ITEM_F_DESCRIPTION)) && fl == JIRA_DC) {
		char *w = want->v[ITEM_F_DESCRIPTION] ?
		          jira_wiki_from_markdown(want->v[ITEM_F_DESCRIPTION]) : NULL;
		json_object_object_add(f, "description", w && w[0] ? json_object_new_string(w) : NULL);
		free(w);
	} else if (mask & ITEM_FIELD_BIT(ITEM_F_DESCRIPTION)) {
		if (want->v[ITEM_F_DESCRIPTION] &&
		    jira_adf_from_markdown(want->v[ITEM_F_DESCRIPTION], &desc) < 0)
			desc = NULL; /* over 4 GiB: cannot happen with the ledger's limits */
		json_object_object_add(f, "description", desc);
	}
	if ((mask & ITEM_FIELD_BIT(ITEM_F_PRIORITY)) && (p || !creating)) {
		int i = item_priority_valid(p) && p ? p[1] - '0' : -1;
		json_object_object_add(f, "priority", i >= 0 ? obj1("name", priorities[i]) : NULL);
	}
	if (mask & ITEM_FIELD_BIT(ITEM_F_OWNER))
		json_object_object_add(f, "assignee", obj1(fl == JIRA_DC ? "name" : "accountId",
		                                           want->v[ITEM_F_OWNER]));
	if (mask & ITEM_FIELD_BIT(ITEM_F_DUE_DATE))
		add_str(f, "duedate", want->v[ITEM_F_DUE_DATE]);
	if (mask & ITEM_FIELD_BIT(ITEM_F_TYPE))
		json_object_object_add(f, "labels", labels_json(want, ctx, extra, creating));
	return f;
}

/* ---- Jira -> canonical ---- */

static const char *get_str(struct json_object *o, const char *k1, const char *k2)
{
	struct json_object *v = NULL;
	if (!json_object_object_get_ex(o, k1, &v) || !v)
		return NULL;
	if (k2 && (!json_object_object_get_ex(v, k2, &v) || !v))
		return NULL;
	return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

const char *jira_state_of(const char *category, const char *resolution)
{
	if (!category)
		return NULL;
	if (strcmp(category, "new") == 0)
		return "open";
	if (strcmp(category, "indeterminate") == 0)
		return "in_progress";
	if (strcmp(category, "done") == 0)
		return is_wont(resolution) ? "wont_do" : "done";
	return NULL;
}

/* Labels: the type, the token, the postmortem label; the rest -> extra. */
static void read_labels(struct json_object *fields, struct conn_remote *out)
{
	struct json_object *labels = NULL, *rest = json_object_new_array(), *ex;
	if (json_object_object_get_ex(fields, "labels", &labels) &&
	    json_object_is_type(labels, json_type_array)) {
		for (size_t i = 0; i < json_object_array_length(labels); i++) {
			struct json_object *l = json_object_array_get_idx(labels, i);
			const char *s = json_object_get_string(l);
			size_t nt = strlen(JIRA_TYPE_LABEL), nk = strlen(JIRA_TOKEN_LABEL);
			if (strncmp(s, JIRA_TYPE_LABEL, nt) == 0 && item_type_valid(s + nt) &&
			    !out->fields.v[ITEM_F_TYPE])
				item_fields_set(&out->fields, ITEM_F_TYPE, s + nt);
			else if (strncmp(s, JIRA_TOKEN_LABEL, nk) == 0 && strlen(s) == nk + 36 && !out->token)
				out->token = xstrdup(s + nk); /* a UUID (sql/001 create_token) */
			else if (strncmp(s, JIRA_PM_LABEL, strlen(JIRA_PM_LABEL)) != 0)
				json_object_array_add(rest, json_object_get(l));
		}
	}
	ex = json_object_new_object();
	json_object_object_add(ex, "labels", rest);
	out->extra = xstrdup(json_object_to_json_string_ext(ex, JSON_C_TO_STRING_PLAIN));
	json_object_put(ex);
}

/* The description: ADF (Cloud) or wiki markup (Data Center) as Markdown;
 * NULL when empty. */
static int read_description(struct json_object *desc, enum jira_flavor fl, struct conn_remote *out,
                            const char **err)
{
	char *md = NULL;
	if (fl == JIRA_DC && json_object_is_type(desc, json_type_string)) {
		md = jira_wiki_to_markdown(json_object_get_string(desc));
		if (!md) {
			*err = "the issue's description is too large to read";
			return -EINVAL;
		}
	} else if (fl == JIRA_DC) {
		*err = "the issue's description is not a string (wiki markup, REST v2)";
		return -EINVAL;
	} else if (jira_adf_to_markdown(desc, &md, err) < 0) {
		return -EINVAL;
	}
	item_fields_set(&out->fields, ITEM_F_DESCRIPTION, md[0] ? md : NULL);
	free(md);
	return 0;
}

static int read_fields(struct json_object *f, char *const priorities[4], struct conn_remote *out,
                       const char **err, enum jira_flavor fl)
{
	struct json_object *desc = NULL;
	const char *pname = get_str(f, "priority", "name");
	int64_t ms;
	char ts[32];
	const char *updated = get_str(f, "updated", NULL);
	if (!updated || ts_parse(updated, &ms) < 0) {
		*err = "the issue has no readable fields.updated";
		return -EINVAL;
	}
	/* with Jira's milliseconds: two edits within a second stay ordered */
	ts_format_ms(ms, ts, sizeof(ts));
	out->updated_at = xstrdup(ts);
	item_fields_set(&out->fields, ITEM_F_TITLE, get_str(f, "summary", NULL));
	if (json_object_object_get_ex(f, "description", &desc) && desc &&
	    read_description(desc, fl, out, err) < 0)
		return -EINVAL;
	const char *state = NULL;
	struct json_object *status = NULL, *cat = NULL;
	if (json_object_object_get_ex(f, "status", &status) &&
	    json_object_object_get_ex(status, "statusCategory", &cat))
		state = jira_state_of(get_str(cat, "key", NULL), get_str(f, "resolution", "name"));
	if (!state) {
		*err = "the issue has no known fields.status.statusCategory.key";
		return -EINVAL;
	}
	item_fields_set(&out->fields, ITEM_F_STATE, state);
	for (int i = 0; pname && i < 4; i++)
		if (priorities[i] && strcasecmp(priorities[i], pname) == 0) {
			char p[3] = { 'P', (char)('0' + i), '\0' };
			item_fields_set(&out->fields, ITEM_F_PRIORITY, p);
			break;
		}
	item_fields_set(&out->fields, ITEM_F_OWNER,
	                get_str(f, "assignee", fl == JIRA_DC ? "name" : "accountId"));
	const char *due = get_str(f, "duedate", NULL);
	item_fields_set(&out->fields, ITEM_F_DUE_DATE, due && date_valid(due) ? due : NULL);
	read_labels(f, out);
	return 0;
}

/* The canonical field a changelog item (ChangeDetails.field, the
 * system field's id) changes, or -1. */
static int changelog_field(const char *name)
{
	static const struct { const char *jira; enum item_field f; } map[] = {
		{ "summary", ITEM_F_TITLE }, { "description", ITEM_F_DESCRIPTION },
		{ "status", ITEM_F_STATE }, { "resolution", ITEM_F_STATE },
		{ "priority", ITEM_F_PRIORITY }, { "labels", ITEM_F_TYPE },
		{ "assignee", ITEM_F_OWNER }, { "duedate", ITEM_F_DUE_DATE },
	};
	for (size_t i = 0; name && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(map[i].jira, name) == 0)
			return (int)map[i].f;
	return -1;
}

/* issue.changelog (expand=changelog; PageOfChangelogs: histories[] of
 * Changelog {created, items[] of ChangeDetails {field, fieldId, ...}},
 * most recent first) -> out->field_ms: the latest change of each field.
 * A label change counts for the type (its label is one of them); a field
 * no listed history changed keeps 0 (the ticket's updated-at stands for
 * it).  No changelog: nothing. */
static void read_changelog(struct json_object *issue, struct conn_remote *out)
{
	struct json_object *cl = NULL, *hs = NULL;
	if (!json_object_object_get_ex(issue, "changelog", &cl) ||
	    !json_object_object_get_ex(cl, "histories", &hs) ||
	    !json_object_is_type(hs, json_type_array))
		return;
	for (size_t i = 0; i < json_object_array_length(hs); i++) {
		struct json_object *h = json_object_array_get_idx(hs, i), *items = NULL;
		const char *created = get_str(h, "created", NULL);
		int64_t ms;
		if (!created || ts_parse(created, &ms) < 0 ||
		    !json_object_object_get_ex(h, "items", &items) ||
		    !json_object_is_type(items, json_type_array))
			continue;
		for (size_t k = 0; k < json_object_array_length(items); k++) {
			struct json_object *it = json_object_array_get_idx(items, k);
			const char *id = get_str(it, "fieldId", NULL);
			int f = changelog_field(id ? id : get_str(it, "field", NULL));
			if (f >= 0 && ms > out->field_ms[f])
				out->field_ms[f] = ms;
		}
	}
}

int jira_issue_to_remote(struct json_object *issue, char *const priorities[4],
                         const char *browse_base, struct conn_remote *out,
                         const char **err, enum jira_flavor fl)
{
	struct json_object *fields = NULL;
	const char *id = get_str(issue, "id", NULL), *key = get_str(issue, "key", NULL);
	conn_remote_init(out);
	if (!id || !key || !json_object_object_get_ex(issue, "fields", &fields) ||
	    !json_object_is_type(fields, json_type_object)) {
		*err = "the issue has no id, key or fields";
		return -EINVAL;
	}
	out->remote_id = xstrdup(id);
	out->key = xstrdup(key);
	out->url = xasprintf("%s/browse/%s", browse_base, key);
	if (read_fields(fields, priorities, out, err, fl) < 0) {
		conn_remote_free(out);
		return -EINVAL;
	}
	read_changelog(issue, out);
	return 0;
}

/* ---- transitions ---- */

static bool transition_fits(struct json_object *t, const char *want)
{
	struct json_object *avail = NULL;
	const char *cat = NULL, *name = get_str(t, "name", NULL);
	struct json_object *to = NULL, *sc = NULL;
	if (json_object_object_get_ex(t, "isAvailable", &avail) && avail && !json_object_get_boolean(avail))
		return false;
	if (json_object_object_get_ex(t, "to", &to) && json_object_object_get_ex(to, "statusCategory", &sc))
		cat = get_str(sc, "key", NULL);
	if (!cat)
		return false;
	bool wont = is_wont(name) || is_wont(get_str(t, "to", "name"));
	if (strcmp(want, "open") == 0)
		return strcmp(cat, "new") == 0;
	if (strcmp(want, "in_progress") == 0)
		return strcmp(cat, "indeterminate") == 0;
	if (strcmp(want, "done") == 0)
		return strcmp(cat, "done") == 0 && !wont;
	return strcmp(cat, "done") == 0 && wont;
}

int jira_pick_transition(struct json_object *answer, const char *want, char **id, char **why)
{
	struct json_object *arr = NULL;
	struct buf seen = { 0 };
	long best = -1;
	*id = NULL;
	*why = NULL;
	if (!json_object_object_get_ex(answer, "transitions", &arr) ||
	    !json_object_is_type(arr, json_type_array))
		return -EINVAL;
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *t = json_object_array_get_idx(arr, i);
		const char *tid = get_str(t, "id", NULL), *name = get_str(t, "name", NULL);
		char *end = NULL;
		long n = tid ? strtol(tid, &end, 10) : -1;
		if (!tid || !end || *end || n < 0)
			continue;
		if (buf_appendf(&seen, "%s%s (%s)", seen.len ? ", " : "", name ? name : "?", tid) < 0)
			break;
		if (transition_fits(t, want) && (best < 0 || n < best)) {
			best = n;
			free(*id);
			*id = xstrdup(tid);
		}
	}
	if (*id) {
		buf_free(&seen);
		return 0;
	}
	*why = xasprintf("the Jira workflow offers no transition into %s from here "
	                 "(available: %s); change the workflow or the item's state",
	                 strcmp(want, "wont_do") == 0 ? "a done status named like Won't Do or Declined" :
	                 strcmp(want, "done") == 0 ? "a done status" :
	                 strcmp(want, "in_progress") == 0 ? "an in-progress status" : "a to-do status",
	                 seen.len ? seen.data : "none");
	buf_free(&seen);
	return -ENOENT;
}

int jira_pick_reopen(struct json_object *answer, char **id)
{
	struct json_object *arr = NULL;
	long best = -1;
	int best_rank = 2;
	*id = NULL;
	if (!json_object_object_get_ex(answer, "transitions", &arr) ||
	    !json_object_is_type(arr, json_type_array))
		return -EINVAL;
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *t = json_object_array_get_idx(arr, i), *avail = NULL, *to = NULL,
		                   *sc = NULL;
		const char *tid = get_str(t, "id", NULL), *cat = NULL;
		char *end = NULL;
		long n = tid ? strtol(tid, &end, 10) : -1;
		if (!tid || !end || *end || n < 0)
			continue;
		if (json_object_object_get_ex(t, "isAvailable", &avail) && avail &&
		    !json_object_get_boolean(avail))
			continue;
		if (json_object_object_get_ex(t, "to", &to) &&
		    json_object_object_get_ex(to, "statusCategory", &sc))
			cat = get_str(sc, "key", NULL);
		int rank = cat && strcmp(cat, "new") == 0 ? 0 :
		           cat && strcmp(cat, "indeterminate") == 0 ? 1 : 2;
		if (rank < best_rank || (rank == best_rank && rank < 2 && n < best)) {
			best_rank = rank;
			best = n;
			free(*id);
			*id = xstrdup(tid);
		}
	}
	return *id ? 0 : -ENOENT;
}

/* ---- request bodies ---- */

/* The fields a listing asks for: only the mapped ones. */
static const char *const LIST_FIELDS[] = {
	"summary", "description", "status", "resolution", "priority", "labels",
	"duedate", "assignee", "updated",
};

struct json_object *jira_search_body(const char *jql, const char *next_token)
{
	return jira_search_body_n(jql, next_token, 100);
}

struct json_object *jira_search_body_n(const char *jql, const char *next_token, int max)
{
	struct json_object *b = json_object_new_object(), *f = json_object_new_array();
	add_str(b, "jql", jql);
	for (size_t i = 0; i < ARRAY_SIZE(LIST_FIELDS); i++)
		json_object_array_add(f, json_object_new_string(LIST_FIELDS[i]));
	json_object_object_add(b, "fields", f);
	json_object_object_add(b, "maxResults", json_object_new_int(max));
	if (next_token)
		add_str(b, "nextPageToken", next_token);
	return b;
}

struct json_object *jira_search_body_dc(const char *jql, int max)
{
	struct json_object *b = jira_search_body_n(jql, NULL, max);
	json_object_object_add(b, "startAt", json_object_new_int(0));
	return b;
}

struct json_object *jira_transition_body(const char *id)
{
	return jira_transition_body_res(id, NULL);
}

struct json_object *jira_transition_body_res(const char *id, const char *resolution)
{
	struct json_object *b = json_object_new_object();
	json_object_object_add(b, "transition", obj1("id", id));
	if (resolution) {
		struct json_object *f = json_object_new_object();
		json_object_object_add(f, "resolution", obj1("name", resolution));
		json_object_object_add(b, "fields", f);
	}
	return b;
}

/* The transition of id in a GET .../transitions?expand=transitions.fields
 * answer, or NULL. */
static struct json_object *transition_by_id(struct json_object *answer, const char *id)
{
	struct json_object *arr = NULL;
	if (!json_object_object_get_ex(answer, "transitions", &arr) ||
	    !json_object_is_type(arr, json_type_array))
		return NULL;
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *t = json_object_array_get_idx(arr, i);
		if (str_eq(get_str(t, "id", NULL), id))
			return t;
	}
	return NULL;
}

const char *jira_transition_resolution(struct json_object *answer, const char *id,
                                       const char *want)
{
	struct json_object *t = transition_by_id(answer, id), *fields = NULL, *res = NULL,
	                   *allowed = NULL;
	if (!t || !json_object_object_get_ex(t, "fields", &fields) ||
	    !json_object_object_get_ex(fields, "resolution", &res) ||
	    !json_object_object_get_ex(res, "allowedValues", &allowed) ||
	    !json_object_is_type(allowed, json_type_array))
		return NULL;
	bool wont = str_eq(want, "wont_do");
	for (size_t i = 0; i < json_object_array_length(allowed); i++) {
		const char *name = get_str(json_object_array_get_idx(allowed, i), "name", NULL);
		if (name && is_wont(name) == wont)
			return name;
	}
	return NULL;
}

char *jira_mention(const char *account_id, const char *name)
{
	UNUSED(name);
	return xasprintf(JIRA_MENTION_OPEN "%s]", account_id);
}

char *jira_dc_mention(const char *username, const char *name)
{
	UNUSED(name);
	return xasprintf("[~%s]", username);
}

struct json_object *jira_comment_body_dc(const char *md)
{
	struct json_object *b = json_object_new_object();
	char *w = jira_wiki_from_markdown(md);
	json_object_object_add(b, "body", json_object_new_string(w ? w : ""));
	free(w);
	return b;
}

/* A text node like n (its marks) holding text[0..len). */
static struct json_object *text_like(struct json_object *n, const char *text, size_t len)
{
	struct json_object *t = json_object_new_object(), *marks;
	json_object_object_add(t, "type", json_object_new_string("text"));
	json_object_object_add(t, "text", json_object_new_string_len(text, (int)len));
	if (json_object_object_get_ex(n, "marks", &marks))
		json_object_object_add(t, "marks", json_object_get(marks));
	return t;
}

/* Append to out the nodes for text node n: its text with every
 * "[~accountid:ID]" turned into an ADF mention node {"type": "mention",
 * "attrs": {"id": ID}} (Atlassian Document Format, "mention" node). */
static void mentions_split(struct json_object *n, struct json_object *out)
{
	struct json_object *tv;
	const char *p = json_object_object_get_ex(n, "text", &tv) ? json_object_get_string(tv) : NULL;
	const char *open = p ? strstr(p, JIRA_MENTION_OPEN) : NULL;
	if (!open) {
		json_object_array_add(out, json_object_get(n));
		return;
	}
	while (open) {
		const char *id = open + strlen(JIRA_MENTION_OPEN), *close = strchr(id, ']');
		size_t idlen = close ? (size_t)(close - id) : 0;
		if (!close || idlen == 0 || idlen > 128 || strcspn(id, " \t\n[") < idlen) {
			open = strstr(open + 1, JIRA_MENTION_OPEN); /* not a mention: text */
			continue;
		}
		if (open > p)
			json_object_array_add(out, text_like(n, p, (size_t)(open - p)));
		struct json_object *m = json_object_new_object(), *attrs = json_object_new_object();
		json_object_object_add(m, "type", json_object_new_string("mention"));
		json_object_object_add(attrs, "id", json_object_new_string_len(id, (int)idlen));
		json_object_object_add(m, "attrs", attrs);
		json_object_array_add(out, m);
		p = close + 1;
		open = strstr(p, JIRA_MENTION_OPEN);
	}
	if (*p)
		json_object_array_add(out, text_like(n, p, strlen(p)));
}

/* Every text node under node, split around mentions (recursive). */
static void mentions_walk(struct json_object *node)
{
	struct json_object *content;
	if (!json_object_is_type(node, json_type_object) ||
	    !json_object_object_get_ex(node, "content", &content) ||
	    !json_object_is_type(content, json_type_array))
		return;
	struct json_object *out = json_object_new_array();
	for (size_t i = 0; i < json_object_array_length(content); i++) {
		struct json_object *c = json_object_array_get_idx(content, i), *t;
		if (json_object_object_get_ex(c, "type", &t) &&
		    strcmp(json_object_get_string(t), "text") == 0) {
			mentions_split(c, out);
		} else {
			mentions_walk(c);
			json_object_array_add(out, json_object_get(c));
		}
	}
	json_object_object_add(node, "content", out);
}

struct json_object *jira_comment_body(const char *md)
{
	struct json_object *b = json_object_new_object(), *doc = NULL;
	/* over 4 GiB: an empty document (an empty text always parses) */
	if (jira_adf_from_markdown(md, &doc) < 0 && jira_adf_from_markdown("", &doc) < 0)
		abort();
	mentions_walk(doc);
	json_object_object_add(b, "body", doc);
	return b;
}

/* ---- JQL ---- */

char *jira_jql_changed(const char *project, int64_t since_ms)
{
	char when[32];
	struct tm tm;
	time_t t;
	if (since_ms <= 0)
		return xasprintf("project = %s ORDER BY updated ASC", project);
	t = (time_t)(since_ms / 1000); /* the minute of since_ms, floored */
	gmtime_r(&t, &tm);
	strftime(when, sizeof(when), "%Y/%m/%d %H:%M", &tm);
	return xasprintf("project = %s AND updated >= \"%s\" ORDER BY updated ASC", project, when);
}

char *jira_jql_token(const char *project, const char *token)
{
	char *l = label_of(JIRA_TOKEN_LABEL, token);
	char *q = xasprintf("project = %s AND labels = \"%s\"", project, l);
	free(l);
	return q;
}

char *jira_jql_newest(const char *project)
{
	return xasprintf("project = %s ORDER BY created DESC", project);
}

char *jira_jql_newest_changed(const char *project, int64_t since_ms)
{
	char *asc = jira_jql_changed(project, since_ms);
	size_t n = strlen(asc);
	if (n < 4 || strcmp(asc + n - 4, " ASC") != 0)
		abort(); /* jira_jql_changed always ends so */
	asc[n - 4] = '\0';
	char *desc = xasprintf("%s DESC", asc);
	free(asc);
	return desc;
}

char *jira_jql_minute(const char *project, int64_t minute_ms, long long after_id)
{
	char from[32], to[32];
	struct tm tm;
	time_t t = (time_t)(minute_ms / 1000);
	gmtime_r(&t, &tm);
	strftime(from, sizeof(from), "%Y/%m/%d %H:%M", &tm);
	t += 60;
	gmtime_r(&t, &tm);
	strftime(to, sizeof(to), "%Y/%m/%d %H:%M", &tm);
	return xasprintf("project = %s AND updated >= \"%s\" AND updated < \"%s\" AND id > %lld "
	                 "ORDER BY id ASC", project, from, to, after_id);
}
