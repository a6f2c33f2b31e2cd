/* imptext.c — string rules of the importer (see imptext.h). */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "imptext.h"

static bool is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

char *impt_collapse(const char *s)
{
	if (!s)
		return xstrdup("");
	char *out = xmalloc(strlen(s) + 1);
	size_t o = 0;
	bool space = false;
	for (const char *p = s; *p; p++) {
		/* U+00A0 no-break space counts as space */
		if (is_ws(*p) || ((unsigned char)p[0] == 0xC2 && (unsigned char)p[1] == 0xA0)) {
			if ((unsigned char)*p == 0xC2)
				p++;
			space = o > 0;
			continue;
		}
		if (space)
			out[o++] = ' ';
		space = false;
		out[o++] = *p;
	}
	out[o] = '\0';
	return out;
}

bool impt_placeholder(const char *s)
{
	static const char *const ph[] = {
		"", "-", "--", "\xE2\x80\x94", "\xE2\x80\x93", "n/a", "na", "none", "tbd", "?",
	};
	char *c = impt_collapse(s);
	bool r = false;
	for (size_t i = 0; i < ARRAY_SIZE(ph) && !r; i++)
		r = strcasecmp(c, ph[i]) == 0;
	free(c);
	return r;
}

struct phrase {
	const char *text;
	int value;
};

static const struct phrase state_phrases[] = {
	{ "done", ITEM_STATE_DONE }, { "fixed", ITEM_STATE_DONE },
	{ "closed", ITEM_STATE_DONE }, { "completed", ITEM_STATE_DONE },
	{ "complete", ITEM_STATE_DONE }, { "resolved", ITEM_STATE_DONE },
	{ "finished", ITEM_STATE_DONE }, { "merged", ITEM_STATE_DONE },
	{ "x", ITEM_STATE_DONE },
	{ "in progress", ITEM_STATE_IN_PROGRESS }, { "in-progress", ITEM_STATE_IN_PROGRESS },
	{ "wip", ITEM_STATE_IN_PROGRESS }, { "ongoing", ITEM_STATE_IN_PROGRESS },
	{ "started", ITEM_STATE_IN_PROGRESS }, { "doing", ITEM_STATE_IN_PROGRESS },
	{ "in review", ITEM_STATE_IN_PROGRESS },
	{ "won't do", ITEM_STATE_WONT_DO }, { "wont do", ITEM_STATE_WONT_DO },
	{ "won\xE2\x80\x99t do", ITEM_STATE_WONT_DO }, { "won't fix", ITEM_STATE_WONT_DO },
	{ "wont fix", ITEM_STATE_WONT_DO }, { "won\xE2\x80\x99t fix", ITEM_STATE_WONT_DO },
	{ "wontfix", ITEM_STATE_WONT_DO }, { "dropped", ITEM_STATE_WONT_DO },
	{ "cancelled", ITEM_STATE_WONT_DO }, { "canceled", ITEM_STATE_WONT_DO },
	{ "rejected", ITEM_STATE_WONT_DO }, { "not doing", ITEM_STATE_WONT_DO },
	{ "abandoned", ITEM_STATE_WONT_DO },
	{ "todo", ITEM_STATE_OPEN }, { "to do", ITEM_STATE_OPEN }, { "to-do", ITEM_STATE_OPEN },
	{ "open", ITEM_STATE_OPEN }, { "new", ITEM_STATE_OPEN },
	{ "not started", ITEM_STATE_OPEN }, { "planned", ITEM_STATE_OPEN },
	{ "pending", ITEM_STATE_OPEN }, { "backlog", ITEM_STATE_OPEN },
	{ "outstanding", ITEM_STATE_OPEN }, { "not doing", ITEM_STATE_WONT_DO },
};

/* Index of the phrase table entry s starts with (whole phrase, followed
 * by the end or a non-alphanumeric byte when prefix_ok), or -1. */
static int match_phrase(const char *s, const struct phrase *t, size_t n, bool prefix_ok)
{
	for (size_t i = 0; i < n; i++) {
		size_t l = strlen(t[i].text);
		if (strncasecmp(s, t[i].text, l) != 0)
			continue;
		if (s[l] == '\0')
			return (int)i;
		if (prefix_ok && l > 1 && !isalnum((unsigned char)s[l]))
			return (int)i;
	}
	return -1;
}

int impt_state(const char *s, bool prefix_ok)
{
	char *c = impt_collapse(s);
	int r = c[0] == '\0' ? ITEM_STATE_OPEN : -1;
	if (r < 0) {
		int i = match_phrase(c, state_phrases, ARRAY_SIZE(state_phrases), prefix_ok);
		r = i >= 0 ? state_phrases[i].value : -1;
	}
	free(c);
	return r;
}

const char *impt_type(const char *s)
{
	static const struct { const char *text; const char *type; } t[] = {
		{ "prevent", "prevent" }, { "prevention", "prevent" }, { "preventive", "prevent" },
		{ "preventative", "prevent" }, { "detect", "detect" }, { "detection", "detect" },
		{ "mitigate", "mitigate" }, { "mitigation", "mitigate" }, { "mitigative", "mitigate" },
		{ "process", "process" }, { "other", "other" },
	};
	char *c = impt_collapse(s);
	const char *r = NULL;
	for (size_t i = 0; i < ARRAY_SIZE(t) && !r; i++)
		if (strcasecmp(c, t[i].text) == 0)
			r = t[i].type;
	free(c);
	return r;
}

const char *impt_priority(const char *s)
{
	static const char *const pn[] = { "P0", "P1", "P2", "P3" };
	static const struct { const char *text; int p; } words[] = {
		{ "critical", 0 }, { "urgent", 0 }, { "highest", 0 }, { "blocker", 0 },
		{ "high", 1 }, { "medium", 2 }, { "normal", 2 }, { "low", 3 }, { "lowest", 3 },
	};
	char *c = impt_collapse(s);
	const char *r = NULL;
	if ((c[0] == 'P' || c[0] == 'p') && c[1] >= '0' && c[1] <= '3' &&
	    !isalnum((unsigned char)c[2]))
		r = pn[c[1] - '0'];
	for (size_t i = 0; i < ARRAY_SIZE(words) && !r; i++)
		if (strcasecmp(c, words[i].text) == 0)
			r = pn[words[i].p];
	free(c);
	return r;
}

bool impt_find_date(const char *s, char out[11])
{
	for (const char *p = s; p && *p; p++) {
		if (p != s && isalnum((unsigned char)p[-1]))
			continue;
		if (strlen(p) < 10 || isdigit((unsigned char)p[10]))
			continue;
		char d[11];
		memcpy(d, p, 10);
		d[10] = '\0';
		if (d[4] == '/' && d[7] == '/')   /* "2026/12/15" */
			d[4] = d[7] = '-';
		if (date_valid(d)) {
			memcpy(out, d, 11);
			return true;
		}
	}
	return false;
}

/* "Nov", "november" -> 1..12, else 0. */
static int month_number(const char *w)
{
	static const char *const m[] = { "jan", "feb", "mar", "apr", "may", "jun", "jul",
	                                 "aug", "sep", "oct", "nov", "dec" };
	size_t n = strlen(w);
	while (n > 0 && w[n - 1] == '.')
		n--;
	if (n < 3)
		return 0;
	static const char *const full[] = { "january", "february", "march", "april", "may",
	                                    "june", "july", "august", "september", "october",
	                                    "november", "december" };
	for (int i = 0; i < 12; i++)
		if ((n == 3 && strncasecmp(w, m[i], 3) == 0) ||
		    (n == 4 && i == 8 && strncasecmp(w, "sept", 4) == 0) ||
		    (n == strlen(full[i]) && strncasecmp(w, full[i], n) == 0))
			return i + 1;
	return 0;
}

/* "30", "30th" -> 30 (1..31), else 0. */
static int day_number(const char *w)
{
	char *end;
	long d = strtol(w, &end, 10);
	if (end == w || d < 1 || d > 31)
		return 0;
	if (*end && strcasecmp(end, "st") != 0 && strcasecmp(end, "nd") != 0 &&
	    strcasecmp(end, "rd") != 0 && strcasecmp(end, "th") != 0)
		return 0;
	return (int)d;
}

int impt_words_date(char *const *w, size_t n, char out[11])
{
	if (n < 3)
		return 0;
	int mon = 0, day = 0;
	size_t y = 2;
	if ((mon = month_number(w[0])) && (day = day_number(w[1]))) {
		if (n > 3 && strcmp(w[2], ",") == 0)   /* "Nov 30 , 2026" */
			y = 3;
	} else if ((day = day_number(w[0])) && (mon = month_number(w[1]))) {
		y = 2;
	} else {
		return 0;
	}
	char *end;
	long year = strtol(w[y], &end, 10);
	if (*end || year < 2000 || year > 2099)
		return 0;
	char d[16];
	snprintf(d, sizeof(d), "%04ld-%02d-%02d", year, mon, day);
	if (!date_valid(d))
		return 0;
	memcpy(out, d, 11);
	return (int)y + 1;
}

int impt_words_monthday(char *const *w, size_t n, char out[6])
{
	char y[11];
	if (n < 2 || impt_words_date(w, n, y) > 0)
		return 0;
	int mon, day;
	if (!(((mon = month_number(w[0])) && (day = day_number(w[1]))) ||
	      ((day = day_number(w[0])) && (mon = month_number(w[1])))))
		return 0;
	char d[16];
	snprintf(d, sizeof(d), "2000-%02d-%02d", mon, day);   /* 2000: a leap year */
	if (!date_valid(d))
		return 0;
	memcpy(out, d + 5, 6);
	return 2;
}

bool impt_resolve_monthday(const char *base, const char *md, char out[11])
{
	if (!base || !date_valid(base) || strlen(md) != 5)
		return false;
	long year = strtol(base, NULL, 10);
	if (strcmp(md, base + 5) < 0)
		year++;
	char d[32];
	snprintf(d, sizeof(d), "%04ld-%s", year, md);
	if (!date_valid(d))
		return false;
	memcpy(out, d, 11);
	return true;
}

/* Words of s split at blanks, a trailing comma its own word ",". */
static size_t date_words(char *c, char **w, size_t max)
{
	char *save = NULL;
	size_t n = 0;
	for (char *t = strtok_r(c, " \t", &save); t && n < max; t = strtok_r(NULL, " \t", &save)) {
		size_t l = strlen(t);
		bool comma = l > 1 && t[l - 1] == ',';
		if (comma)
			t[l - 1] = '\0';
		w[n++] = t;
		if (comma && n < max)
			w[n++] = (char *)",";
	}
	return n;
}

/* A day found by words_fn at any word of s. */
static bool text_day(const char *s, int (*words_fn)(char *const *, size_t, char *), char *out)
{
	char *c = xstrdup(s), *w[8];
	size_t n = date_words(c, w, ARRAY_SIZE(w));
	bool ok = false;
	for (size_t i = 0; i < n && !ok; i++)
		ok = words_fn(w + i, n - i, out) > 0;
	free(c);
	return ok;
}

bool impt_text_monthday(const char *s, char out[6])
{
	return text_day(s, impt_words_monthday, out);
}

bool impt_text_date(const char *s, char out[11])
{
	return text_day(s, impt_words_date, out);
}

static void rtrim(char *s)
{
	size_t n = strlen(s);
	while (n > 0 && is_ws(s[n - 1]))
		s[--n] = '\0';
}

static void ltrim_shift(char *s, size_t from)
{
	while (s[from] && is_ws(s[from]))
		from++;
	memmove(s, s + from, strlen(s + from) + 1);
}

static bool handle_ok(const char *h)
{
	if (!*h)
		return false;
	for (; *h; h++)
		if (!isalnum((unsigned char)*h) && *h != '-' && *h != '_' && *h != '.')
			return false;
	return true;
}

/* One part of a trailing "(...)" group; returns false when not recognised. */
static bool meta_part(const char *part, struct impt_marks *m)
{
	char date[11];
	int st = impt_state(part, false);
	if (part[0] && st >= 0) {
		if (m->state < 0)
			m->state = st;
		return true;
	}
	const char *v = NULL;
	if (part[0] == '@' && handle_ok(part + 1))
		v = part + 1;
	else if (str_istarts(part, "owner:"))
		v = part + 6;
	if (v) {
		while (is_ws(*v) || *v == '@')
			v++;
		if (!*v)
			return false;
		if (!m->owner)
			m->owner = xstrdup(v);
		return true;
	}
	const char *d = part;
	if (str_istarts(d, "due date"))
		d += 8;
	else if (str_istarts(d, "due"))
		d += 3;
	else if (str_istarts(d, "by "))
		d += 3;
	while (*d == ':' || is_ws(*d))
		d++;
	if (strlen(d) == 10 && impt_find_date(d, date)) {
		if (!m->due[0])
			memcpy(m->due, date, 11);
		return true;
	}
	const char *p = impt_priority(part);
	if (p && (part[0] == 'P' || part[0] == 'p') && strlen(part) == 2) {
		if (!m->priority)
			m->priority = p;
		return true;
	}
	return false;
}

/* Try the trailing (...) or [...] group of s; on success cut it off. */
static bool strip_trailing_group(char *s, struct impt_marks *m)
{
	size_t n = strlen(s);
	if (n < 2 || (s[n - 1] != ')' && s[n - 1] != ']'))
		return false;
	char close = s[n - 1], open = close == ')' ? '(' : '[';
	size_t i = n - 1;
	int depth = 0;
	for (;;) {
		if (s[i] == close)
			depth++;
		else if (s[i] == open && --depth == 0)
			break;
		if (i == 0)
			return false;
		i--;
	}
	char *inner = xstrndup(s + i + 1, n - i - 2);
	struct impt_marks tmp = { .state = -1 };
	bool ok = true, any = false;
	char *save = NULL;
	for (char *part = strtok_r(inner, ",;", &save); part && ok;
	     part = strtok_r(NULL, ",;", &save)) {
		char *c = impt_collapse(part);
		ok = c[0] && meta_part(c, &tmp);
		any = any || ok;
		free(c);
	}
	free(inner);
	if (ok && any) {
		if (m->state < 0)
			m->state = tmp.state;
		if (!m->owner)
			m->owner = tmp.owner;
		else
			free(tmp.owner);
		if (!m->due[0])
			memcpy(m->due, tmp.due, sizeof(m->due));
		if (!m->priority)
			m->priority = tmp.priority;
		s[i] = '\0';
		rtrim(s);
		return true;
	}
	free(tmp.owner);
	return false;
}

static const char *const bare_marks[] = { "DONE", "TODO", "WIP", "FIXED", "CLOSED", "WONTFIX" };

/* A bare upper-case marker word of length l at s? */
static bool bare_mark(const char *s, size_t l)
{
	for (size_t i = 0; i < ARRAY_SIZE(bare_marks); i++)
		if (strlen(bare_marks[i]) == l && strncmp(s, bare_marks[i], l) == 0)
			return true;
	return false;
}

static bool strip_leading(char *s, struct impt_marks *m)
{
	if (s[0] == '[' || s[0] == '(') {
		char close = s[0] == '[' ? ']' : ')';
		const char *e = strchr(s + 1, close);
		if (!e)
			return false;
		char *inner = xstrndup(s + 1, (size_t)(e - s - 1));
		int st = strcmp(inner, " ") == 0 ? ITEM_STATE_OPEN : impt_state(inner, false);
		bool empty = inner[0] == '\0';
		free(inner);
		if (st < 0 || empty)
			return false;
		if (m->state < 0)
			m->state = st;
		ltrim_shift(s, (size_t)(e - s + 1));
		return true;
	}
	size_t w = 0;
	while (isalpha((unsigned char)s[w]) || s[w] == '\'')
		w++;
	if (w == 0)
		return false;
	size_t after = w;
	while (s[after] == ' ')
		after++;
	bool sep = s[w] == ':' || (s[after] == '-' && s[after + 1] == ' ');
	char *word = xstrndup(s, w);
	int st = impt_state(word, false);
	free(word);
	if (st < 0 || s[w] == '\0' || (!sep && !(bare_mark(s, w) && s[w] == ' ')))
		return false;
	if (m->state < 0)
		m->state = st;
	ltrim_shift(s, s[w] == ':' ? w + 1 : (sep ? after + 1 : w));
	return true;
}

static bool strip_trailing_word(char *s, struct impt_marks *m)
{
	size_t n = strlen(s), b = n;
	while (b > 0 && isupper((unsigned char)s[b - 1]))
		b--;
	if (b == 0 || b == n || !bare_mark(s + b, n - b) || s[b - 1] != ' ')
		return false;
	int st = impt_state(s + b, false);
	if (st < 0)
		return false;
	if (m->state < 0)
		m->state = st;
	s[b] = '\0';
	rtrim(s);
	n = strlen(s);
	while (n > 0 && (s[n - 1] == '-' || s[n - 1] == ':'))
		s[--n] = '\0';
	rtrim(s);
	return true;
}

void impt_strip_markers(char *s, struct impt_marks *m)
{
	for (int guard = 0; guard < 8; guard++) {
		bool any = false;
		rtrim(s);
		ltrim_shift(s, 0);
		any |= strip_leading(s, m);
		any |= strip_trailing_group(s, m);
		any |= strip_trailing_word(s, m);
		if (!any)
			break;
	}
}

/* Byte offset of the first invalid UTF-8 sequence, or -1 (RFC 3629:
 * no overlong forms, no surrogates, nothing above U+10FFFF). */
long impt_utf8_invalid_at(const char *text, size_t len)
{
	const unsigned char *s = (const unsigned char *)text;
	size_t i = 0;
	while (i < len) {
		unsigned char c = s[i];
		size_t n;
		unsigned long cp;
		if (c < 0x80) {
			i++;
			continue;
		} else if (c >= 0xC2 && c <= 0xDF) {
			n = 1;
			cp = c & 0x1F;
		} else if (c >= 0xE0 && c <= 0xEF) {
			n = 2;
			cp = c & 0x0F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			n = 3;
			cp = c & 0x07;
		} else {
			return (long)i;
		}
		for (size_t k = 1; k <= n; k++) {
			if (i + k >= len || (s[i + k] & 0xC0) != 0x80)
				return (long)i;
			cp = (cp << 6) | (s[i + k] & 0x3F);
		}
		if ((n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) || cp > 0x10FFFF ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			return (long)i;
		i += n + 1;
	}
	return -1;
}

/* ---- ticket references ---- */

void impt_ref_free(struct imp_ticket_ref *ref)
{
	free(ref->kind);
	free(ref->target);
	free(ref->number);
	free(ref->url);
	memset(ref, 0, sizeof(*ref));
}

static size_t span_of(const char *s, const char *extra)
{
	size_t n = 0;
	while (s[n] && (isalnum((unsigned char)s[n]) || strchr(extra, s[n])))
		n++;
	return n;
}

static void ref_fill(struct imp_ticket_ref *ref, const char *owner, size_t ol,
                     const char *repo, size_t rl, const char *num, size_t nl, bool pull)
{
	ref->kind = xstrdup("github");
	char *o = xstrndup(owner, ol), *r = xstrndup(repo, rl);
	ref->target = xasprintf("%s/%s", o, r);
	ref->number = xstrndup(num, nl);
	ref->url = xasprintf("https://github.com/%s/%s/%s/%s", o, r, pull ? "pull" : "issues",
	                     ref->number);
	ref->pull = pull;
	free(o);
	free(r);
}

int impt_ref_from_url(const char *url, struct imp_ticket_ref *ref)
{
	const char *p = url;
	if (str_istarts(p, "https://"))
		p += 8;
	else if (str_istarts(p, "http://"))
		p += 7;
	if (str_istarts(p, "www."))
		p += 4;
	if (!str_istarts(p, "github.com/"))
		return -EINVAL;
	p += 11;
	size_t ol = span_of(p, "-_.");
	if (ol == 0 || p[ol] != '/')
		return -EINVAL;
	const char *repo = p + ol + 1;
	size_t rl = span_of(repo, "-_.");
	if (rl == 0 || repo[rl] != '/')
		return -EINVAL;
	const char *k = repo + rl + 1;
	bool pull;
	size_t kl;
	if (strncmp(k, "issues/", 7) == 0) {
		pull = false;
		kl = 7;
	} else if (strncmp(k, "pull/", 5) == 0) {
		pull = true;
		kl = 5;
	} else if (strncmp(k, "pulls/", 6) == 0) {
		pull = true;
		kl = 6;
	} else {
		return -EINVAL;
	}
	const char *num = k + kl;
	size_t nl = strspn(num, "0123456789");
	if (nl == 0 || nl > 18 || isalnum((unsigned char)num[nl]))
		return -EINVAL;
	ref_fill(ref, p, ol, repo, rl, num, nl, pull);
	return 0;
}

void impt_ref_add(struct imp_ticket_ref **v, size_t *n, struct imp_ticket_ref *ref)
{
	for (size_t i = 0; i < *n; i++) {
		if (strcasecmp((*v)[i].target, ref->target) == 0 &&
		    strcmp((*v)[i].number, ref->number) == 0) {
			if (ref->pull && !(*v)[i].pull) {
				(*v)[i].pull = true;
				str_replace(&(*v)[i].url, ref->url);
			}
			impt_ref_free(ref);
			return;
		}
	}
	*v = xrealloc(*v, (*n + 1) * sizeof(**v));
	(*v)[(*n)++] = *ref;
	memset(ref, 0, sizeof(*ref));
}

/* owner/repo#N ending at the '#' at s[i]; fills ref and returns true. */
static bool short_ref_at(const char *s, size_t i, struct imp_ticket_ref *ref)
{
	const char *num = s + i + 1;
	size_t nl = strspn(num, "0123456789");
	if (nl == 0 || nl > 18 || isalnum((unsigned char)num[nl]) || num[nl] == '_')
		return false;
	size_t r = i;
	while (r > 0 && (isalnum((unsigned char)s[r - 1]) || strchr("-_.", s[r - 1])))
		r--;
	if (r == i || r == 0 || s[r - 1] != '/')
		return false;
	size_t o = r - 1;
	while (o > 0 && (isalnum((unsigned char)s[o - 1]) || s[o - 1] == '-' || s[o - 1] == '_'))
		o--;
	if (o == r - 1)
		return false;
	if (o > 0 && (isalnum((unsigned char)s[o - 1]) || strchr("/.:-_@", s[o - 1])))
		return false;
	ref_fill(ref, s + o, r - 1 - o, s + r, i - r, num, nl, false);
	return true;
}

void impt_refs_from_text(const char *s, struct imp_ticket_ref **v, size_t *n)
{
	for (size_t i = 0; s && s[i]; i++) {
		struct imp_ticket_ref ref = { 0 };
		if (s[i] == '#' && short_ref_at(s, i, &ref)) {
			impt_ref_add(v, n, &ref);
		} else if ((i == 0 || !isalnum((unsigned char)s[i - 1])) &&
		           (str_istarts(s + i, "https://") || str_istarts(s + i, "http://"))) {
			size_t l = 0;
			while (s[i + l] && !is_ws(s[i + l]) && s[i + l] != ')' && s[i + l] != '>')
				l++;
			char *u = xstrndup(s + i, l);
			if (impt_ref_from_url(u, &ref) == 0)
				impt_ref_add(v, n, &ref);
			free(u);
			i += l - 1;
		}
	}
}

bool impt_ticket_key(const char *w)
{
	size_t u = 0;
	while ((w[u] >= 'A' && w[u] <= 'Z') || (u > 0 && isdigit((unsigned char)w[u])))
		u++;
	if (u < 2 || u > 10 || w[u] != '-')
		return false;
	size_t d = strspn(w + u + 1, "0123456789");
	return d >= 1 && d <= 7 && w[u + 1 + d] == '\0';
}

/* Is the token [b, e) of s a ticket reference (URL, owner/repo#N, #N, a
 * Phabricator task "T363001"), possibly inside () or <>, or a tracker key
 * inside () or [] ("(OPS-12)"; bare, "SHA-256" is a word)? */
static bool ref_token(const char *b, size_t l)
{
	while (l > 0 && strchr(".,;", b[l - 1]))
		l--;
	bool wrapped = false;
	if (l >= 2 && ((b[0] == '(' && b[l - 1] == ')') || (b[0] == '<' && b[l - 1] == '>') ||
	               (b[0] == '[' && b[l - 1] == ']'))) {
		b++;
		l -= 2;
		wrapped = true;
	}
	if (l == 0)
		return false;
	char *t = xstrndup(b, l);
	bool r = false;
	struct imp_ticket_ref ref = { 0 };
	if (t[0] == 'T' && l >= 5 && l <= 10 && strspn(t + 1, "0123456789") == l - 1) {
		r = true;   /* Phabricator: "T" and the task number */
	} else if (wrapped && impt_ticket_key(t)) {
		r = true;
	} else if (str_istarts(t, "https://") || str_istarts(t, "http://")) {
		/* only ticket URLs: other links are content and stay */
		r = impt_ref_from_url(t, &ref) == 0;
		impt_ref_free(&ref);
	} else if (t[0] == '#' && t[1] && strspn(t + 1, "0123456789") == l - 1) {
		r = true;
	} else {
		const char *h = strchr(t, '#');
		if (h && short_ref_at(t, (size_t)(h - t), &ref)) {
			r = strspn(h + 1, "0123456789") == strlen(h + 1);
			impt_ref_free(&ref);
		}
	}
	free(t);
	return r;
}

void impt_strip_trailing_refs(char *s)
{
	for (;;) {
		rtrim(s);
		size_t n = strlen(s);
		if (n == 0)
			return;
		size_t b = n;
		while (b > 0 && !is_ws(s[b - 1]))
			b--;
		if (b == 0 || !ref_token(s + b, n - b))
			return;
		s[b] = '\0';
		rtrim(s);
		n = strlen(s);
		while (n > 0 && (strchr(",;:|-", s[n - 1]) || is_ws(s[n - 1])))
			s[--n] = '\0';
		/* en/em dash separators */
		while (n >= 3 && (strcmp(s + n - 3, "\xE2\x80\x94") == 0 ||
		                  strcmp(s + n - 3, "\xE2\x80\x93") == 0)) {
			n -= 3;
			s[n] = '\0';
			rtrim(s);
			n = strlen(s);
		}
	}
}

char *impt_key_text(const char *title)
{
	char *c = impt_collapse(title);
	for (char *p = c; *p; p++)
		*p = (char)tolower((unsigned char)*p);
	size_t n = strlen(c);
	while (n > 0 && (strchr(".:;!", c[n - 1]) || c[n - 1] == ' '))
		c[--n] = '\0';
	return c;
}

void impt_fnv1a_hex(const char *s, char out[17])
{
	uint64_t h = 14695981039346656037ull;   /* FNV-1a 64 offset basis */
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		h ^= *p;
		h *= 1099511628211ull;               /* FNV-1a 64 prime */
	}
	static const char hex[] = "0123456789abcdef";
	for (int i = 15; i >= 0; i--) {
		out[i] = hex[h & 0xF];
		h >>= 4;
	}
	out[16] = '\0';
}
