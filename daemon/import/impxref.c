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

int impx_ref_from_url(const char *url, struct imp_ticket_ref *ref)
{
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
		size_t pl = 0, kl = keys ? key_at(s + i, &pl) : 0;
		if (kl && alone(s, i, kl)) {
			fill(&ref, s + i, pl, kl, NULL, 0);
			impt_ref_add(v, n, &ref);
			i += kl - 1;
		}
	}
}
