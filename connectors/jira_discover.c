/* jira_discover.c — discovery for the Jira connector: the check of a
 * rule's JQL fragment, the query that asks which listed issues the rule
 * takes, and the references an issue's links carry (jira_discover.h). */
#include "jira_discover.h"
#include "conn_json.h"

#include <ctype.h>
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util.h"

/* What the scan of a fragment keeps of the words outside quoted values. */
struct jql_scan {
	int depth;          /* open parentheses */
	bool any;           /* a token was seen */
	char first[8];      /* the first token when it is a word (lower case) */
	char last[8];       /* the last token when it is a word, else "" */
};

static bool is_word_char(unsigned char c)
{
	return isalnum(c) || c == '_';
}

/* The word at v[i..) (lower case, cut to fit w); returns its length. */
static size_t scan_word(const char *v, size_t i, char w[8])
{
	size_t k = 0, n = 0;
	while (is_word_char((unsigned char)v[i + n])) {
		if (k < 7)
			w[k++] = (char)tolower((unsigned char)v[i + n]);
		n++;
	}
	w[k] = '\0';
	if (n > 7)
		w[0] = '\0'; /* a long word is none of the keywords looked for */
	return n;
}

/* A quoted value from v[i] (the quote) on: the index of its closing
 * quote, or 0 when it never closes or holds a control character. */
static size_t scan_quoted(const char *v, size_t i)
{
	char q = v[i];
	for (size_t k = i + 1; v[k]; k++) {
		if ((unsigned char)v[k] < 0x20 || v[k] == 0x7f)
			return 0;
		if (v[k] == '\\' && v[k + 1]) {
			k++;
			if ((unsigned char)v[k] < 0x20 || v[k] == 0x7f)
				return 0;
		} else if (v[k] == q) {
			return k;
		}
	}
	return 0;
}

const char *jira_check_jql_fragment(const char *v)
{
	struct jql_scan s = { 0 };
	char prev[8] = "";
	size_t n = v ? strlen(v) : 0;
	if (n > JIRA_JQL_FRAGMENT_MAX)
		return "a JQL condition of at most 1000 characters";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)v[i];
		char w[8];
		if (c < 0x20 || c == 0x7f)
			return "a JQL condition on one line, without control characters";
		if (isspace(c))
			continue;
		if (c == '"' || c == '\'') {
			size_t end = scan_quoted(v, i);
			if (end == 0)
				return "a JQL condition whose quoted values are closed (\"...\" or '...', "
				       "a backslash escapes a quote) and hold no control character";
			i = end;
			s.last[0] = prev[0] = '\0';
		} else if (is_word_char(c)) {
			i += scan_word(v, i, w) - 1;
			if (strcmp(prev, "order") == 0 && strcmp(w, "by") == 0)
				return "a JQL condition without ORDER BY (the listing sets the order)";
			if (!s.any)
				memcpy(s.first, w, sizeof(w));
			memcpy(s.last, w, sizeof(w));
			memcpy(prev, w, sizeof(w));
		} else {
			if (c == '(')
				s.depth++;
			else if (c == ')' && --s.depth < 0)
				return "a JQL condition whose parentheses are balanced (a ')' that closes "
				       "none opened in it would reach into the listing's query)";
			s.last[0] = prev[0] = '\0';
		}
		s.any = true;
	}
	if (!s.any)
		return "a JQL condition, e.g. labels = \"postmortem-action\"";
	if (s.depth != 0)
		return "a JQL condition whose parentheses are balanced (a '(' is not closed)";
	if (!strcmp(s.first, "and") || !strcmp(s.first, "or") || !strcmp(s.last, "and") ||
	    !strcmp(s.last, "or") || !strcmp(s.last, "not"))
		return "a whole JQL condition (not starting or ending with AND, OR or NOT)";
	return NULL;
}

char *jira_jql_discover(const char *project, char *const *ids, size_t n, const char *fragment)
{
	struct buf b = { 0 };
	if (buf_appendf(&b, "project = %s AND id in (", project) < 0)
		abort();
	for (size_t i = 0; i < n; i++)
		if (buf_appendf(&b, "%s%s", i ? ", " : "", ids[i]) < 0)
			abort();
	if (buf_appendf(&b, ") AND (%s) ORDER BY id", fragment) < 0)
		abort();
	return buf_steal(&b);
}

struct json_object *jira_discover_body(const char *jql, int max, enum jira_flavor flavor,
                                       int start)
{
	struct json_object *b = json_object_new_object(), *f = json_object_new_array();
	json_object_object_add(b, "jql", json_object_new_string(jql));
	json_object_array_add(f, json_object_new_string("issuelinks"));
	json_object_object_add(b, "fields", f);
	json_object_object_add(b, "maxResults", json_object_new_int(max));
	switch (flavor) {
	case JIRA_CLOUD:
		break;
	case JIRA_DC:
		json_object_object_add(b, "startAt", json_object_new_int(start));
		break;
	default:
		abort();
	}
	return b;
}

/* The startAt of the window after answer's, 0 when answer is the last
 * (Data Center's total; Cloud's isLast must be true).  -EINVAL. */
static int next_window(struct json_object *answer, size_t got, int *next, const char **err)
{
	bool last = true;
	int64_t t = 0, s = 0;
	*next = 0;
	if (conn_json_mistyped(answer, "isLast", json_type_boolean)) {
		*err = "\"isLast\" is not a Boolean";
		return -EINVAL;
	}
	if (conn_json_mistyped(answer, "total", json_type_int) ||
	    conn_json_mistyped(answer, "startAt", json_type_int)) {
		*err = "\"total\" or \"startAt\" is not an integer";
		return -EINVAL;
	}
	if (conn_json_bool(answer, "isLast", &last) && !last) {
		*err = "the discovery search answered more issues than it was asked about";
		return -EINVAL;
	}
	if (!conn_json_int64(answer, "total", &t))
		return 0;
	(void)conn_json_int64(answer, "startAt", &s); /* absent: 0 */
	if (s < 0 || t < 0 || t > 100000) {
		*err = "the discovery search's answer has a negative startAt or an impossible total";
		return -EINVAL;
	}
	if (s + (int64_t)got < t) {
		if (got == 0) {
			*err = "the discovery search answered no issue while its total says more follow";
			return -EINVAL;
		}
		*next = (int)(s + (int64_t)got);
	}
	return 0;
}

/* The key of the other issue of one IssueLink into *key (NULL when it
 * names none), or -EINVAL with *err when a part of it has another type. */
static int link_other_key(struct json_object *link, const char **key, const char **err)
{
	static const char *const sides[] = { "inwardIssue", "outwardIssue" };
	*key = NULL;
	if (!json_object_is_type(link, json_type_object)) {
		*err = "an issue's fields.issuelinks holds a link that is not an object";
		return -EINVAL;
	}
	for (size_t i = 0; i < ARRAY_SIZE(sides); i++) {
		struct json_object *o = conn_json_obj(link, sides[i]);
		if (conn_json_mistyped(link, sides[i], json_type_object) ||
		    conn_json_mistyped(o, "key", json_type_string)) {
			*err = "an issue link's inwardIssue or outwardIssue, or its \"key\", has "
			       "another type than an object with a string key";
			return -EINVAL;
		}
		if (!*key)
			*key = conn_json_str(o, "key");
	}
	return 0;
}

int jira_issue_link_refs(struct json_object *issue, char **refs, const char **err)
{
	struct json_object *fields = conn_json_obj(issue, "fields");
	struct json_object *links = conn_json_arr(fields, "issuelinks");
	struct buf b = { 0 };
	*refs = NULL;
	if (conn_json_mistyped(issue, "fields", json_type_object) ||
	    conn_json_mistyped(fields, "issuelinks", json_type_array)) {
		*err = "an issue's fields or fields.issuelinks has another type than an object "
		       "and an array";
		return -EINVAL;
	}
	for (size_t i = 0; links && i < json_object_array_length(links); i++) {
		const char *key = NULL;
		if (link_other_key(json_object_array_get_idx(links, i), &key, err) < 0) {
			buf_free(&b);
			return -EINVAL;
		}
		if (key && *key && !strpbrk(key, "\r\n") &&
		    buf_appendf(&b, "%s%s", b.len ? "\n" : "", key) < 0)
			abort();
	}
	if (b.len)
		*refs = buf_steal(&b);
	buf_free(&b);
	return 0;
}

int jira_discover_apply(struct json_object *answer, struct conn_remote *items, size_t n,
                        bool first, int *next, const char **err)
{
	struct json_object *arr = conn_json_arr(answer, "issues");
	if (!arr) {
		*err = "the discovery search's answer has no issues array";
		return -EINVAL;
	}
	if (next_window(answer, json_object_array_length(arr), next, err) < 0)
		return -EINVAL;
	for (size_t i = 0; first && i < n; i++) {
		items[i].discover = CONN_DISCOVER_NO_MATCH;
		free(items[i].refs);
		items[i].refs = NULL;
	}
	for (size_t i = 0; i < json_object_array_length(arr); i++) {
		struct json_object *issue = json_object_array_get_idx(arr, i);
		const char *v = conn_json_str(issue, "id");
		char *refs = NULL;
		size_t k = 0;
		if (!v) {
			*err = "the discovery search answered an issue whose \"id\" is not a string";
			return -EINVAL;
		}
		while (k < n && strcmp(items[k].remote_id, v) != 0)
			k++;
		if (k == n) {
			*err = "the discovery search answered an issue it was not asked about "
			       "(Jira did not apply the query's id terms)";
			return -EINVAL;
		}
		if (jira_issue_link_refs(issue, &refs, err) < 0)
			return -EINVAL;
		items[k].discover = CONN_DISCOVER_MATCH;
		free(items[k].refs);
		items[k].refs = refs;
	}
	return 0;
}
