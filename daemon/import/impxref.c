/* impxref.c — see impxref.h. */
#include "impxref.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "imptext.h"
#include "url.h"
#include "util.h"

/* Length of a Jira issue key at s ("OPS-12"), 0 when none starts there;
 * *pl is the project key's length. */
static size_t key_at(const char *s, size_t *pl)
{
	size_t p = 0;
	if (!isupper((unsigned char)s[0]))
		return 0;
	while (p < 20 && (isupper((unsigned char)s[p]) || isdigit((unsigned char)s[p]) ||
	                  s[p] == '_'))
		p++;
	if (s[p] != '-')
		return 0;
	size_t d = strspn(s + p + 1, "0123456789");
	if (d == 0 || d > 12)
		return 0;
	*pl = p;
	return p + 1 + d;
}

static void fill(struct imp_ticket_ref *ref, const char *key, size_t pl, size_t kl,
                 const char *url, size_t ul)
{
	ref->kind = xstrdup("jira");
	ref->target = xstrndup(key, pl);
	ref->number = xstrndup(key, kl);
	ref->url = url ? xstrndup(url, ul) : NULL;
	ref->pull = false;
}

/* Length of a ServiceNow problem or problem task number at s
 * (PRB0040002, PTASK0040001: the prefix, then 4 to 12 digits, the form
 * sql/028 allows for a problem reference), 0 when none starts there;
 * *table is the table the prefix names. */
static size_t sn_number_at(const char *s, const char **table)
{
	static const struct { const char *prefix, *table; } pfx[] = {
		{ "PTASK", "problem_task" }, { "PRB", "problem" },
	};
	for (size_t i = 0; i < ARRAY_SIZE(pfx); i++) {
		size_t pl = strlen(pfx[i].prefix);
		if (strncmp(s, pfx[i].prefix, pl) != 0)
			continue;
		size_t d = strspn(s + pl, "0123456789");
		if (d < 4 || d > 12)
			return 0;
		*table = pfx[i].table;
		return pl + d;
	}
	return 0;
}

static void fill_sn(struct imp_ticket_ref *ref, const char *table, const char *id, size_t il,
                    const char *url)
{
	ref->kind = xstrdup("servicenow");
	ref->target = xstrdup(table);
	ref->number = xstrndup(id, il);
	size_t ul = url ? strlen(url) : 0;
	while (ul > 0 && strchr(".,;:!?'\"", url[ul - 1])) /* the sentence's, not the URL's */
		ul--;
	ref->url = url ? xstrndup(url, ul) : NULL;
	ref->pull = false;
}

/* Is v, all of it, a sys_id (32 lower-case hex digits)? */
static bool sn_sys_id_is(const char *v)
{
	size_t l = strspn(v, "0123456789abcdef");
	return l == 32 && v[l] == '\0';
}

/* The first parameter called name in query q (as written: '&'-separated
 * name=value pairs, still encoded), its value decoded (url_form_decode)
 * and, when ok is given, accepted by ok; heap, or NULL when none. */
static char *query_value(const char *q, const char *name, bool (*ok)(const char *v))
{
	for (const char *p = q; *p; p += *p == '&') {
		size_t pl = strcspn(p, "&"), nl = strcspn(p, "=&");
		char *n = url_form_decode(p, nl);
		char *v = nl < pl ? url_form_decode(p + nl + 1, pl - nl - 1) : NULL;
		bool take = n && v && strcmp(n, name) == 0 && (!ok || ok(v));
		free(n);
		if (take)
			return v;
		free(v);
		p += pl;
	}
	return NULL;
}

/* The number of table that encoded query v (sysparm_query's value:
 * conditions joined by '^', ServiceNow's encoded query strings) asks
 * for as one of its conditions, number=<number>; heap, or NULL. */
static char *sn_query_number(const char *v, const char *table)
{
	for (const char *c = v; *c; c += *c == '^') {
		size_t l = strcspn(c, "^");
		const char *t = NULL;
		size_t nl = l > 7 && strncmp(c, "number=", 7) == 0 ? sn_number_at(c + 7, &t) : 0;
		if (nl && nl == l - 7 && strcmp(t, table) == 0)
			return xstrndup(c + 7, nl);
		c += l;
	}
	return NULL;
}

/* The table whose classic form page is page ("problem.do"), or NULL. */
static const char *sn_page_table(const char *page)
{
	static const char *const tables[] = { "problem_task", "problem" };
	for (size_t i = 0; i < ARRAY_SIZE(tables); i++) {
		size_t l = strlen(tables[i]);
		if (strncmp(page, tables[i], l) == 0 && strcmp(page + l, ".do") == 0)
			return tables[i];
	}
	return NULL;
}

/* The record that the page URL u names: *table and the sys_id or number
 * (heap), or NULL.  u may wrap the page (nav_to.do?uri=..., the Next
 * Experience's .../params/target/...); u is moved to the wrapped page,
 * resolved against the wrapper (RFC 3986 5.2, curl_url_set), at most
 * twice. */
static char *sn_record_of(CURLU *u, const char **table)
{
	static const char next[] = "/now/nav/ui/classic/params/target/";
	char *id = NULL;
	for (int hop = 0; hop < 3 && !id; hop++) {
		char *path = NULL, *query = NULL, *inner = NULL;
		if (curl_url_get(u, CURLUPART_PATH, &path, CURLU_URLDECODE) != CURLUE_OK)
			break;
		if (curl_url_get(u, CURLUPART_QUERY, &query, 0) != CURLUE_OK)
			query = NULL; /* none */
		const char *page = strrchr(path, '/'), *nx = strstr(path, next);
		page = page ? page + 1 : path;
		if ((*table = sn_page_table(page)) != NULL && query) {
			id = query_value(query, "sys_id", sn_sys_id_is);
			char *sq = id ? NULL : query_value(query, "sysparm_query", NULL);
			if (sq)
				id = sn_query_number(sq, *table);
			free(sq);
		} else if (str_eq(page, "nav_to.do") && query) {
			inner = query_value(query, "uri", NULL);
		} else if (nx) {
			inner = xasprintf("/%s", nx + strlen(next)); /* decoded: "problem.do?sys_id=..." */
		}
		bool on = inner && curl_url_set(u, CURLUPART_URL, inner, 0) == CURLUE_OK;
		free(inner);
		curl_free(path);
		curl_free(query);
		if (!on)
			break;
	}
	return id;
}

/* A ServiceNow problem or problem task URL of any instance (a custom
 * domain too): the classic form page TABLE.do?sys_id=ID, alone or inside
 * nav_to.do?uri=... or the Next Experience's /now/nav/ui/classic/params/
 * target/... (percent-encoded there), with sys_id=<32 hex> or
 * sysparm_query=number=<number>.  Read through libcurl's URL API: the
 * page, its query and a wrapped page's URL decoded each at its own
 * level. */
static int sn_ref_from_url(const char *url, struct imp_ticket_ref *ref)
{
	size_t ul = strlen(url);
	while (ul > 0 && strchr(".,;:!?'\"", url[ul - 1])) /* the sentence's, not the URL's */
		ul--;
	char *written = xstrndup(url, ul), *id = NULL;
	const char *table = NULL;
	CURLU *u = curl_url();
	if (!u)
		abort(); /* out of memory */
	if (curl_url_set(u, CURLUPART_URL, written, 0) == CURLUE_OK)
		id = sn_record_of(u, &table);
	if (id)
		fill_sn(ref, table, id, strlen(id), url);
	free(id);
	free(written);
	curl_url_cleanup(u);
	return id ? 0 : -EINVAL;
}

int impx_ref_from_url(const char *url, struct imp_ticket_ref *ref)
{
	if (!str_istarts(url, "https://") && !str_istarts(url, "http://"))
		return -EINVAL;
	if (sn_ref_from_url(url, ref) == 0)
		return 0;
	const char *p = url;
	if (str_istarts(p, "https://"))
		p += 8;
	else if (str_istarts(p, "http://"))
		p += 7;
	else
		return -EINVAL;
	const char *path = strchr(p, '/');
	if (!path || path == p)
		return -EINVAL;
	const char *b = strstr(path, "/browse/");
	const char *q = strpbrk(path, "?#");
	if (!b || (q && q < b))
		return -EINVAL;
	const char *key = b + 8;
	size_t pl = 0, kl = key_at(key, &pl);
	if (kl == 0 || isalnum((unsigned char)key[kl]) || key[kl] == '_' || key[kl] == '-')
		return -EINVAL;
	fill(ref, key, pl, kl, url, (size_t)(key + kl - url));
	return 0;
}

/* May a bare key start at s[i] (nothing of a word, path or dashed token
 * before it) and end at s[i + kl] (likewise after)? */
static bool alone(const char *s, size_t i, size_t kl)
{
	if (i > 0 && (isalnum((unsigned char)s[i - 1]) || strchr("_-/.#:@", s[i - 1])))
		return false;
	char a = s[i + kl];
	if (isalnum((unsigned char)a) || a == '_' || a == '/')
		return false;
	if ((a == '-' || a == '.') && isalnum((unsigned char)s[i + kl + 1]))
		return false;
	return true;
}

void impx_refs_from_text(const char *s, bool keys, struct imp_ticket_ref **v, size_t *n)
{
	for (size_t i = 0; s && s[i]; i++) {
		struct imp_ticket_ref ref = { 0 };
		if ((i == 0 || !isalnum((unsigned char)s[i - 1])) &&
		    (str_istarts(s + i, "https://") || str_istarts(s + i, "http://"))) {
			size_t l = 0;
			while (s[i + l] && !isspace((unsigned char)s[i + l]) && s[i + l] != ')' &&
			       s[i + l] != '>' && s[i + l] != ']')
				l++;
			char *u = xstrndup(s + i, l);
			if (impx_ref_from_url(u, &ref) == 0)
				impt_ref_add(v, n, &ref);
			free(u);
			i += l - 1;
			continue;
		}
		const char *table = NULL;
		size_t nl = sn_number_at(s + i, &table);
		if (nl && alone(s, i, nl)) {
			fill_sn(&ref, table, s + i, nl, NULL);
			impt_ref_add(v, n, &ref);
			i += nl - 1;
			continue;
		}
		size_t pl = 0, kl = keys ? key_at(s + i, &pl) : 0;
		if (kl && alone(s, i, kl)) {
			fill(&ref, s + i, pl, kl, NULL, 0);
			impt_ref_add(v, n, &ref);
			i += kl - 1;
		}
	}
}
