/* impxref.c — see impxref.h. */
#include "impxref.h"

#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "imptext.h"
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

/* The value of parameter name ("sys_id=") in decoded query text q, when
 * it is a sys_id (32 lower-case hex digits) or a number of table. */
static size_t sn_param(const char *q, const char *name, const char *table, const char **at)
{
	for (const char *h = strstr(q, name); h; h = strstr(h + 1, name)) {
		if (h > q && isalnum((unsigned char)h[-1]))
			continue; /* "xsys_id=" is another parameter */
		const char *v = h + strlen(name), *t = NULL;
		size_t l = strspn(v, "0123456789abcdef");
		if (l != 32 || isalnum((unsigned char)v[l])) {
			l = sn_number_at(v, &t);
			if (!l || strcmp(t, table) != 0 || isalnum((unsigned char)v[l]))
				continue;
		}
		*at = v;
		return l;
	}
	return 0;
}

/* A ServiceNow problem or problem task URL of any instance (a custom
 * domain too): the classic form page TABLE.do?sys_id=ID, alone or inside
 * nav_to.do?uri=... or the Next Experience's /now/nav/ui/classic/params/
 * target/... (percent-encoded there), with sys_id=<32 hex> or
 * sysparm_query=number=<number>. */
static int sn_ref_from_url(const char *url, struct imp_ticket_ref *ref)
{
	static const char *const tables[] = { "problem_task", "problem" };
	char *d = xstrdup(url);
	size_t o = 0;
	for (size_t i = 0; d[i]; i++) { /* %3F %3D %26 %2F as the characters */
		int hi, lo;
		if (d[i] == '%' && (hi = hex_digit(d[i + 1])) >= 0 && (lo = hex_digit(d[i + 2])) >= 0) {
			d[o++] = (char)(hi * 16 + lo);
			i += 2;
		} else {
			d[o++] = d[i];
		}
	}
	d[o] = '\0';
	int rc = -EINVAL;
	for (size_t i = 0; i < ARRAY_SIZE(tables) && rc < 0; i++) {
		char *page = xasprintf("%s.do?", tables[i]);
		for (const char *h = strstr(d, page); h && rc < 0; h = strstr(h + 1, page)) {
			if (h == d || (h[-1] != '/' && h[-1] != '='))
				continue; /* "xproblem.do" is another page */
			const char *q = h + strlen(page), *v = NULL;
			size_t l = sn_param(q, "sys_id=", tables[i], &v);
			if (!l)
				l = sn_param(q, "number=", tables[i], &v);
			if (l) {
				fill_sn(ref, tables[i], v, l, url);
				rc = 0;
			}
		}
		free(page);
	}
	free(d);
	return rc;
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
