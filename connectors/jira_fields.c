/* jira_fields.c — see jira_fields.h. */
#include "jira_fields.h"
#include "conn_json.h"
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

bool jira_is_wont(const char *name)
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
	struct json_object *arr = json_object_new_array(), *ex = NULL, *el = NULL;
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
	if (extra && (ex = json_tokener_parse(extra)) && (el = conn_json_arr(ex, "labels")))
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

/* o.k1 (k2 NULL) or o.k1.k2 as a string into *v, NULL when it is absent
 * or null (o.k1 too); -EINVAL with *err = bad when o.k1 is not an object
 * (with k2) or the value not a string: a field of another type is
 * refused, not read as empty (which would clear the item's field). */
static int opt_str(struct json_object *o, const char *k1, const char *k2, const char **v,
                   const char *bad, const char **err)
{
	struct json_object *in = k2 ? conn_json_obj(o, k1) : o;
	const char *k = k2 ? k2 : k1;
	*v = NULL;
	if ((k2 && conn_json_mistyped(o, k1, json_type_object)) ||
	    conn_json_mistyped(in, k, json_type_string)) {
		*err = bad;
		return -EINVAL;
	}
	*v = conn_json_str(in, k);
	return 0;
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
		return jira_is_wont(resolution) ? "wont_do" : "done";
	return NULL;
}

/* Labels: the type, the token, the postmortem label; the rest -> extra.
 * -EINVAL with *err when labels is not an array of strings. */
static int read_labels(struct json_object *fields, struct conn_remote *out, const char **err)
{
	struct json_object *labels = conn_json_arr(fields, "labels"), *rest, *ex;
	bool ok = !conn_json_mistyped(fields, "labels", json_type_array);
	for (size_t i = 0; ok && labels && i < json_object_array_length(labels); i++)
		ok = json_object_is_type(json_object_array_get_idx(labels, i), json_type_string);
	if (!ok) {
		*err = "the issue's fields.labels is not an array of strings";
		return -EINVAL;
	}
	rest = json_object_new_array();
	if (labels) {
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
	return 0;
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

/* The issue's state: statusCategory.key of fields.status, and the
 * resolution's name (done with a "won't" resolution is wont_do).
 * -EINVAL with *err when a part is missing, unknown or of another type. */
static int read_state(struct json_object *f, struct conn_remote *out, const char **err)
{
	struct json_object *status = conn_json_obj(f, "status");
	const char *cat = NULL, *res = NULL;
	if (conn_json_mistyped(f, "status", json_type_object)) {
		*err = "the issue's fields.status is not an object";
		return -EINVAL;
	}
	if (opt_str(status, "statusCategory", "key", &cat, "the issue's "
	            "fields.status.statusCategory.key is not a string", err) < 0 ||
	    opt_str(f, "resolution", "name", &res,
	            "the issue's fields.resolution.name is not a string", err) < 0)
		return -EINVAL;
	const char *state = jira_state_of(cat, res);
	if (!state) {
		*err = "the issue has no known fields.status.statusCategory.key";
		return -EINVAL;
	}
	item_fields_set(&out->fields, ITEM_F_STATE, state);
	return 0;
}

static int read_fields(struct json_object *f, char *const priorities[4], struct conn_remote *out,
                       const char **err, enum jira_flavor fl)
{
	struct json_object *desc = NULL;
	const char *pname = NULL, *title = NULL, *owner = NULL, *due = NULL, *updated = NULL;
	int64_t ms;
	char ts[32];
	if (opt_str(f, "updated", NULL, &updated, "the issue's fields.updated is not a string",
	            err) < 0)
		return -EINVAL;
	if (!updated || ts_parse(updated, &ms) < 0) {
		*err = "the issue has no readable fields.updated";
		return -EINVAL;
	}
	if (opt_str(f, "summary", NULL, &title, "the issue's fields.summary is not a string",
	            err) < 0 ||
	    opt_str(f, "priority", "name", &pname,
	            "the issue's fields.priority.name is not a string", err) < 0 ||
	    opt_str(f, "assignee", fl == JIRA_DC ? "name" : "accountId", &owner,
	            fl == JIRA_DC ? "the issue's fields.assignee.name is not a string" :
	            "the issue's fields.assignee.accountId is not a string", err) < 0 ||
	    opt_str(f, "duedate", NULL, &due, "the issue's fields.duedate is not a string",
	            err) < 0)
		return -EINVAL;
	/* with Jira's milliseconds: two edits within a second stay ordered */
	ts_format_ms(ms, ts, sizeof(ts));
	out->updated_at = xstrdup(ts);
	item_fields_set(&out->fields, ITEM_F_TITLE, title);
	if (json_object_object_get_ex(f, "description", &desc) && desc &&
	    read_description(desc, fl, out, err) < 0)
		return -EINVAL;
	if (read_state(f, out, err) < 0)
		return -EINVAL;
	for (int i = 0; pname && i < 4; i++)
		if (priorities[i] && strcasecmp(priorities[i], pname) == 0) {
			char p[3] = { 'P', (char)('0' + i), '\0' };
			item_fields_set(&out->fields, ITEM_F_PRIORITY, p);
			break;
		}
	item_fields_set(&out->fields, ITEM_F_OWNER, owner);
	item_fields_set(&out->fields, ITEM_F_DUE_DATE, due && date_valid(due) ? due : NULL);
	return read_labels(f, out, err);
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

/* A user's id as the flavor names people (UserDetails): Cloud's
 * accountId, Data Center's name (as the assignee).  *id NULL when o.k is
 * absent or null, or names no one; -EINVAL with *err = bad when it is not
 * an object whose id is a string. */
static int user_id(struct json_object *o, const char *k, enum jira_flavor fl, const char **id,
                   const char *bad, const char **err)
{
	return opt_str(o, k, fl == JIRA_DC ? "name" : "accountId", id, bad, err);
}

/* issue.changelog (expand=changelog; PageOfChangelogs: histories[] of
 * Changelog {author, created, items[] of ChangeDetails {field, fieldId,
 * ...}}, most recent first) -> out->field_ms: the latest change of each
 * field, and out->changed_mask: the fields a history by the issue's
 * creator (fields.creator, the account that created it: closeloop's own
 * for a ticket found by its create token) lists a change of -- every
 * history's when the issue or the history names no account.  A person's
 * change alone does not say that the create's follow-up ran (reconcile's
 * adopt_base; seed 1851 of the soak, issue 6).
 * A label change counts for the type (its label is one of them); a field
 * no listed history changed keeps 0 (the ticket's updated-at stands for
 * it).  No changelog, a history without created or items: nothing from
 * it.  -EINVAL with *err when a part has another type, or created is not
 * a date: skipped, a change would look older than it is, and
 * newest_wins could take the other side's older value. */
static int read_changelog(struct json_object *issue, enum jira_flavor fl, struct conn_remote *out,
                          const char **err)
{
	struct json_object *cl = conn_json_obj(issue, "changelog");
	struct json_object *hs = conn_json_arr(cl, "histories");
	const char *creator = NULL;
	if (conn_json_mistyped(issue, "changelog", json_type_object) ||
	    conn_json_mistyped(cl, "histories", json_type_array)) {
		*err = "the issue's changelog is not an object with a histories array";
		return -EINVAL;
	}
	if (hs && user_id(conn_json_obj(issue, "fields"), "creator", fl, &creator,
	                  fl == JIRA_DC ? "the issue's fields.creator.name is not a string" :
	                  "the issue's fields.creator.accountId is not a string", err) < 0)
		return -EINVAL;
	for (size_t i = 0; hs && i < json_object_array_length(hs); i++) {
		struct json_object *h = json_object_array_get_idx(hs, i);
		struct json_object *items = conn_json_arr(h, "items");
		const char *created = NULL, *author = NULL;
		int64_t ms;
		if (!json_object_is_type(h, json_type_object) ||
		    conn_json_mistyped(h, "items", json_type_array)) {
			*err = "the issue's changelog.histories holds a history that is not an object "
			       "with an items array";
			return -EINVAL;
		}
		if (opt_str(h, "created", NULL, &created,
		            "a changelog history's \"created\" is not a string", err) < 0 ||
		    user_id(h, "author", fl, &author, fl == JIRA_DC ?
		            "a changelog history's author.name is not a string" :
		            "a changelog history's author.accountId is not a string", err) < 0)
			return -EINVAL;
		bool by_creator = !creator || !author || strcmp(creator, author) == 0;
		if (created && ts_parse(created, &ms) < 0) {
			*err = "a changelog history's \"created\" is not a date";
			return -EINVAL;
		}
		if (!created || !items)
			continue;
		for (size_t k = 0; k < json_object_array_length(items); k++) {
			struct json_object *it = json_object_array_get_idx(items, k);
			const char *id = NULL, *name = NULL;
			if (!json_object_is_type(it, json_type_object) ||
			    opt_str(it, "fieldId", NULL, &id, "", err) < 0 ||
			    opt_str(it, "field", NULL, &name, "", err) < 0) {
				*err = "a changelog item is not an object whose field and fieldId are "
				       "strings";
				return -EINVAL;
			}
			int f = changelog_field(id ? id : name);
			if (f < 0)
				continue;
			if (by_creator)
				out->changed_mask |= ITEM_FIELD_BIT(f);
			if (ms > out->field_ms[f])
				out->field_ms[f] = ms;
		}
	}
	return 0;
}

int jira_issue_to_remote(struct json_object *issue, char *const priorities[4],
                         const char *browse_base, struct conn_remote *out,
                         const char **err, enum jira_flavor fl)
{
	struct json_object *fields = conn_json_obj(issue, "fields");
	const char *id = conn_json_str(issue, "id"), *key = conn_json_str(issue, "key");
	conn_remote_init(out);
	if (conn_json_mistyped(issue, "id", json_type_string) ||
	    conn_json_mistyped(issue, "key", json_type_string)) {
		*err = "the issue's \"id\" or \"key\" is not a string";
		return -EINVAL;
	}
	if (!id || !key || !fields) {
		*err = "the issue has no id, key or fields";
		return -EINVAL;
	}
	out->remote_id = xstrdup(id);
	out->key = xstrdup(key);
	out->url = xasprintf("%s/browse/%s", browse_base, key);
	if (read_fields(fields, priorities, out, err, fl) < 0 ||
	    read_changelog(issue, fl, out, err) < 0) {
		conn_remote_free(out);
		return -EINVAL;
	}
	return 0;
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

int jira_search_page_last(struct json_object *answer, enum jira_flavor fl, size_t n, bool *last,
                          const char **err)
{
	int64_t start = 0, total = 0;
	switch (fl) {
	case JIRA_CLOUD:
		if (conn_json_mistyped(answer, "isLast", json_type_boolean)) {
			*err = "\"isLast\" is not a Boolean";
			return -EINVAL;
		}
		if (conn_json_mistyped(answer, "nextPageToken", json_type_string)) {
			*err = "\"nextPageToken\" is not a string";
			return -EINVAL;
		}
		if (!conn_json_bool(answer, "isLast", last))
			*last = conn_json_str(answer, "nextPageToken") == NULL;
		return 0;
	case JIRA_DC:
		if (conn_json_mistyped(answer, "total", json_type_int)) {
			*err = "\"total\" is not an integer";
			return -EINVAL;
		}
		if (conn_json_mistyped(answer, "startAt", json_type_int)) {
			*err = "\"startAt\" is not an integer";
			return -EINVAL;
		}
		if (!conn_json_int64(answer, "total", &total)) {
			*last = n == 0;
			return 0;
		}
		(void)conn_json_int64(answer, "startAt", &start); /* absent: 0 */
		*last = start + (int64_t)n >= total;
		return 0;
	default:
		abort();
	}
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
	struct json_object *t = json_object_new_object(), *marks = conn_json_arr(n, "marks");
	json_object_object_add(t, "type", json_object_new_string("text"));
	json_object_object_add(t, "text", json_object_new_string_len(text, (int)len));
	if (marks)
		json_object_object_add(t, "marks", json_object_get(marks));
	return t;
}

/* Append to out the nodes for text node n: its text with every
 * "[~accountid:ID]" turned into an ADF mention node {"type": "mention",
 * "attrs": {"id": ID}} (Atlassian Document Format, "mention" node). */
static void mentions_split(struct json_object *n, struct json_object *out)
{
	const char *p = conn_json_str(n, "text");
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
	struct json_object *content = conn_json_arr(node, "content");
	if (!content)
		return;
	struct json_object *out = json_object_new_array();
	for (size_t i = 0; i < json_object_array_length(content); i++) {
		struct json_object *c = json_object_array_get_idx(content, i);
		if (str_eq(conn_json_str(c, "type"), "text")) {
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
