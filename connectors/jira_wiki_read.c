/* jira_wiki_read.c — Jira wiki markup -> ADF (see jira_wiki.h): the
 * text is taken block by block from the start of a line (code, quote,
 * heading, rule, list item, paragraph) and the inline notation of each is
 * read by a small recursive scanner that keeps the open marks. */
#include "jira_wiki.h"
#include "jira_adf.h"
#include "conn_json.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#define WIKI_MAX_DEPTH 32

/* ---- wiki -> ADF ---- */

#define WIKI_MAX_MARKS 8

struct wiki_marks {
	struct json_object *m[WIKI_MAX_MARKS];
	int n;
};

static struct json_object *node(const char *type)
{
	struct json_object *o = json_object_new_object();
	json_object_object_add(o, "type", json_object_new_string(type));
	return o;
}

static struct json_object *with_content(struct json_object *parent, const char *type)
{
	struct json_object *n = node(type), *c = json_object_new_array();
	json_object_object_add(n, "content", c);
	json_object_array_add(conn_json_arr(parent, "content"), n);
	return n;
}

/* Text with the open marks (jira_adf_add_text: joined to the previous
 * text node when the marks are the same, as from Markdown). */
static void add_text(struct json_object *content, const char *s, size_t len,
                     const struct wiki_marks *mk)
{
	struct json_object *marks = NULL;
	if (!len)
		return;
	for (int i = 0; i < mk->n && i < WIKI_MAX_MARKS; i++) {
		if (!marks)
			marks = json_object_new_array();
		json_object_array_add(marks, json_object_get(mk->m[i]));
	}
	jira_adf_add_text(content, s, len, marks);
}

/* The position of the unescaped tok in s[from..len) that closes a span,
 * or len.  boundary: the closer needs a non-space before it and no word
 * character after it (the single-character form). */
static size_t find_close(const char *s, size_t from, size_t len, const char *tok, bool boundary)
{
	size_t tl = strlen(tok);
	for (size_t k = from; k + tl <= len; k++) {
		if (s[k] == '\\') {
			k++;
			continue;
		}
		if (memcmp(s + k, tok, tl) != 0)
			continue;
		if (!boundary)
			return k;
		if (k > from && s[k - 1] != ' ' && (k + 1 == len || !jira_wiki_word_char(s[k + 1])))
			return k;
	}
	return len;
}

/* Is s (len) a URL a bare [url] link stands for? */
static bool looks_like_url(const char *s, size_t len)
{
	const char *colon = memchr(s, ':', len);
	if (!colon || colon == s || memchr(s, ' ', len))
		return false;
	for (const char *p = s; p < colon; p++)
		if (!isalpha((unsigned char)*p))
			return false;
	return (size_t)(colon - s) + 1 < len;
}

static void inline_read(const char *s, size_t len, struct json_object *content,
                        struct wiki_marks *mk, int depth);

/* Read s[a..b) with one more mark (a fresh node, owned by the call). */
static void inline_marked(const char *s, size_t a, size_t b, struct json_object *content,
                          struct wiki_marks *mk, struct json_object *mark, int depth)
{
	if (mk->n < WIKI_MAX_MARKS)
		mk->m[mk->n] = mark;
	mk->n++;
	inline_read(s + a, b - a, content, mk, depth + 1);
	mk->n--;
	json_object_put(mark);
}

/* A link "[text|url]" or "[url]" at s[i] (']' at j): true when read. */
static bool link_read(const char *s, size_t i, size_t j, struct json_object *content,
                      struct wiki_marks *mk, int depth)
{
	size_t bar = find_close(s, i + 1, j, "|", false);
	size_t ua = bar < j ? bar + 1 : i + 1;
	while (ua < j && s[ua] == ' ')
		ua++;
	size_t ue = j;
	while (ue > ua && s[ue - 1] == ' ')
		ue--;
	if (ue == ua || (bar == j && !looks_like_url(s + ua, ue - ua)))
		return false;
	struct json_object *m = node("link"), *attrs = json_object_new_object();
	json_object_object_add(attrs, "href", json_object_new_string_len(s + ua, (int)(ue - ua)));
	json_object_object_add(m, "attrs", attrs);
	if (bar < j)
		inline_marked(s, i + 1, bar, content, mk, m, depth);
	else
		inline_marked(s, ua, ue, content, mk, m, depth);
	return true;
}

/* "{{code}}" at s[i]: the code text (escapes taken) with the code mark;
 * returns the position after it, or i when there is no closer. */
static size_t code_read(const char *s, size_t i, size_t len, struct json_object *content,
                        struct wiki_marks *mk)
{
	size_t j = find_close(s, i + 2, len, "}}", false);
	if (j >= len || j == i + 2)
		return i;
	struct buf t = { 0 };
	for (size_t k = i + 2; k < j; k++) {
		if (s[k] == '\\' && k + 1 < j)
			k++;
		if (buf_append(&t, s + k, 1) < 0)
			break;
	}
	if (mk->n < WIKI_MAX_MARKS)
		mk->m[mk->n] = node("code");
	mk->n++;
	add_text(content, t.data ? t.data : "", t.len, mk);
	mk->n--;
	if (mk->n < WIKI_MAX_MARKS)
		json_object_put(mk->m[mk->n]);
	buf_free(&t);
	return j + 2;
}

static void inline_read(const char *s, size_t len, struct json_object *content,
                        struct wiki_marks *mk, int depth)
{
	size_t i = 0;
	struct buf plain = { 0 }; /* plain text not yet added */
#define FLUSH() do { add_text(content, plain.data ? plain.data : "", plain.len, mk); \
                     buf_free(&plain); plain = (struct buf){ 0 }; } while (0)
	while (i < len) {
		char c = s[i];
		size_t m = jira_wiki_mention_len(s + i, len - i), j;
		if (c == '\\' && i + 1 < len) {
			if (buf_append(&plain, s + i + 1, 1) < 0)
				break;
			i += 2;
			continue;
		}
		if (m) {
			if (buf_append(&plain, s + i, m) < 0)
				break;
			i += m;
			continue;
		}
		if (depth < WIKI_MAX_DEPTH && c == '{' && i + 1 < len && s[i + 1] == '{') {
			FLUSH();
			j = code_read(s, i, len, content, mk);
			if (j > i) {
				i = j;
				continue;
			}
		}
		if (depth < WIKI_MAX_DEPTH && c == '{' && i + 2 < len && (s[i + 1] == '*' || s[i + 1] == '_') &&
		    s[i + 2] == '}') {
			char tok[4] = { '{', s[i + 1], '}', '\0' };
			j = find_close(s, i + 3, len, tok, false);
			if (j < len && j > i + 3) {
				FLUSH();
				inline_marked(s, i + 3, j, content, mk, node(s[i + 1] == '*' ? "strong" : "em"),
				              depth);
				i = j + 3;
				continue;
			}
		}
		if (depth < WIKI_MAX_DEPTH && (c == '*' || c == '_') && (i == 0 || !jira_wiki_word_char(s[i - 1])) &&
		    i + 1 < len && s[i + 1] != ' ' && s[i + 1] != c) {
			char tok[2] = { c, '\0' };
			j = find_close(s, i + 1, len, tok, true);
			if (j < len) {
				FLUSH();
				inline_marked(s, i + 1, j, content, mk, node(c == '*' ? "strong" : "em"), depth);
				i = j + 1;
				continue;
			}
		}
		if (depth < WIKI_MAX_DEPTH && c == '[') {
			j = find_close(s, i + 1, len, "]", false);
			if (j < len) {
				FLUSH();
				if (link_read(s, i, j, content, mk, depth)) {
					i = j + 1;
					continue;
				}
			}
		}
		if (buf_append(&plain, &c, 1) < 0)
			break;
		i++;
	}
	FLUSH();
#undef FLUSH
}

/* Inline wiki text s[0..len) into block (paragraph or heading); lines
 * joined by hardBreak nodes. */
static void inline_lines(struct json_object *block, const char *s, size_t len)
{
	struct json_object *content = conn_json_arr(block, "content");
	struct wiki_marks mk = { .n = 0 };
	size_t a = 0;
	while (a <= len) {
		const char *nl = memchr(s + a, '\n', len - a);
		size_t e = nl ? (size_t)(nl - s) : len, t = e;
		while (nl && t > a && (s[t - 1] == ' ' || s[t - 1] == '\t'))
			t--; /* spaces before a line break: Markdown drops them too */
		if (a && json_object_array_length(content))
			json_object_array_add(content, node("hardBreak"));
		inline_read(s + a, t - a, content, &mk, 0);
		if (!nl)
			break;
		a = e + 1;
	}
}

/* ---- blocks ---- */

struct wiki_lists {
	struct json_object *list[WIKI_MAX_DEPTH];
	char kind[WIKI_MAX_DEPTH];        /* '*' or '#' */
	int n;
	struct json_object *para;         /* the current item's paragraph */
};

/* The length of a list item's marker ("**", "#", "*#", "-") at s when a
 * space follows it, else 0. */
static size_t list_marker(const char *s, size_t len)
{
	size_t k = 0;
	if (len >= 2 && s[0] == '-' && s[1] == ' ')
		return 1;
	while (k < len && k < WIKI_MAX_DEPTH && (s[k] == '*' || s[k] == '#'))
		k++;
	/* markers alone on their line: an empty item (the writer trims the
	 * space after them; text never has a bare '*', it is escaped) */
	if (k && k == len)
		return k;
	return k && k < len && s[k] == ' ' ? k : 0;
}

static struct json_object *last_item(struct json_object *list)
{
	struct json_object *items = conn_json_arr(list, "content");
	size_t n = items ? json_object_array_length(items) : 0;
	return n ? json_object_array_get_idx(items, n - 1) : NULL;
}

/* One list item line (marker mark of length d, text t): the lists it
 * needs opened or closed, then its item with a paragraph. */
static void list_item(struct json_object *doc, struct wiki_lists *L, const char *mark, size_t d,
                      const char *t, size_t tlen)
{
	int c = 0;
	while (c < L->n && (size_t)c < d && L->kind[c] == (mark[c] == '-' ? '*' : mark[c]))
		c++;
	if ((size_t)c == d && c > 0)
		L->n = c;
	else
		L->n = c;
	for (size_t k = (size_t)L->n; k < d; k++) {
		char kind = mark[k] == '-' ? '*' : mark[k];
		struct json_object *parent = doc;
		if (k > 0) {
			parent = last_item(L->list[k - 1]);
			if (!parent)
				parent = with_content(L->list[k - 1], "listItem");
		}
		struct json_object *l = with_content(parent, kind == '#' ? "orderedList" : "bulletList");
		if (kind == '#') {
			struct json_object *attrs = json_object_new_object();
			json_object_object_add(attrs, "order", json_object_new_int(1));
			json_object_object_add(l, "attrs", attrs);
		}
		L->list[k] = l;
		L->kind[k] = kind;
		L->n = (int)k + 1;
	}
	struct json_object *item = with_content(L->list[d - 1], "listItem");
	L->para = with_content(item, "paragraph");
	inline_lines(L->para, t, tlen);
}

/* Does the line s[0..len) start a block other than a paragraph line? */
static bool block_start(const char *s, size_t len, bool in_quote)
{
	bool rule = len >= 4;
	for (size_t k = 0; k < len && rule; k++)
		rule = s[k] == '-';
	return rule || list_marker(s, len) ||
	       (len >= 4 && s[0] == 'h' && s[1] >= '1' && s[1] <= '6' && s[2] == '.' && s[3] == ' ') ||
	       (len >= 4 && strncmp(s, "bq. ", 4) == 0) || strncmp(s, "{code", 5) == 0 ||
	       strncmp(s, "{noformat}", 10) == 0 || (!in_quote && strncmp(s, "{quote}", 7) == 0);
}

/* "{code}", "{code:lang}", "{code:lang|title=x}" or "{noformat...}" at
 * s: the end of the opening macro and its closer; 0 when it is not one. */
static size_t macro_open(const char *s, size_t len, const char **close, char **lang)
{
	bool code = len >= 5 && strncmp(s, "{code", 5) == 0;
	bool nof = len >= 9 && strncmp(s, "{noformat", 9) == 0;
	size_t k = code ? 5 : 9, e;
	*lang = NULL;
	if ((!code && !nof) || k >= len || (s[k] != '}' && s[k] != ':'))
		return 0;
	for (e = k; e < len && s[e] != '}' && s[e] != '\n'; e++)
		;
	if (e >= len || s[e] != '}')
		return 0;
	*close = code ? "{code}" : "{noformat}";
	if (code && s[k] == ':') {
		size_t a = k + 1, z = a;
		while (z < e && s[z] != '|')
			z++;
		if (z > a && !memchr(s + a, '=', z - a))
			*lang = xstrndup(s + a, z - a);
	}
	return e + 1;
}

static void blocks_read(struct json_object *doc, const char *s, size_t len, bool in_quote,
                        int depth);

/* A code block at s (macro end m): returns the position after its closer. */
static size_t code_block(struct json_object *doc, const char *s, size_t len, size_t m,
                         const char *close, char *lang)
{
	const char *end = NULL;
	for (size_t k = m; k + strlen(close) <= len && !end; k++)
		if (memcmp(s + k, close, strlen(close)) == 0)
			end = s + k;
	size_t a = m, z = end ? (size_t)(end - s) : len;
	if (a < z && s[a] == '\n')
		a++;
	if (z > a && s[z - 1] == '\n')
		z--;
	struct json_object *n = with_content(doc, "codeBlock");
	if (lang) {
		struct json_object *attrs = json_object_new_object();
		json_object_object_add(attrs, "language", json_object_new_string(lang));
		json_object_object_add(n, "attrs", attrs);
	}
	if (z > a) {
		struct json_object *t = node("text");
		json_object_object_add(t, "text", json_object_new_string_len(s + a, (int)(z - a)));
		json_object_array_add(conn_json_arr(n, "content"), t);
	}
	free(lang);
	return end ? (size_t)(end - s) + strlen(close) : len;
}

/* The end of the line at s[p] (its '\n' or len). */
static size_t eol(const char *s, size_t p, size_t len)
{
	const char *nl = memchr(s + p, '\n', len - p);
	return nl ? (size_t)(nl - s) : len;
}

/* One block at s[p] (not blank): returns the position after it. */
static size_t block_read(struct json_object *doc, const char *s, size_t len, size_t p,
                         bool in_quote, int depth, struct wiki_lists *L)
{
	size_t e = eol(s, p, len), ln = e - p, mk;
	const char *l = s + p, *close = NULL;
	char *lang = NULL;
	size_t m = macro_open(l, len - p, &close, &lang);
	if (m) {
		L->n = 0;
		return p + code_block(doc, l, len - p, m, close, lang);
	}
	if (!in_quote && depth < WIKI_MAX_DEPTH && ln >= 7 && strncmp(l, "{quote}", 7) == 0) {
		size_t a = p + 7;
		size_t z = find_close(s, a, len, "{quote}", false);
		struct json_object *q = with_content(doc, "blockquote");
		blocks_read(q, s + a, z - a, true, depth + 1);
		L->n = 0;
		return z < len ? z + 7 : len;
	}
	if (block_start(l, ln, in_quote) && (mk = list_marker(l, ln)) > 0) {
		size_t t = mk < ln ? mk + 1 : ln;
		while (t < ln && l[t] == ' ')
			t++;
		list_item(doc, L, l, mk, l + t, ln - t);
		return e;
	}
	L->n = 0;
	if (ln >= 4 && l[0] == 'h' && l[1] >= '1' && l[1] <= '6' && l[2] == '.' && l[3] == ' ') {
		struct json_object *h = with_content(doc, "heading"), *attrs = json_object_new_object();
		json_object_object_add(attrs, "level", json_object_new_int(l[1] - '0'));
		json_object_object_add(h, "attrs", attrs);
		inline_lines(h, l + 4, ln - 4);
		return e;
	}
	if (ln >= 4 && strncmp(l, "bq. ", 4) == 0) {
		struct json_object *q = with_content(doc, "blockquote");
		inline_lines(with_content(q, "paragraph"), l + 4, ln - 4);
		return e;
	}
	if (block_start(l, ln, in_quote)) { /* a rule */
		json_object_array_add(conn_json_arr(doc, "content"), node("rule"));
		return e;
	}
	/* a paragraph: lines up to a blank one or the start of another block */
	size_t z = e;
	while (z < len) {
		size_t n2 = eol(s, z + 1, len);
		const char *l2 = s + z + 1;
		size_t k = 0;
		while (k < n2 - z - 1 && l2[k] == ' ')
			k++;
		if (k == n2 - z - 1 || block_start(l2, n2 - z - 1, in_quote))
			break;
		z = n2;
	}
	inline_lines(with_content(doc, "paragraph"), l, z - p);
	return z;
}

static void blocks_read(struct json_object *doc, const char *s, size_t len, bool in_quote,
                        int depth)
{
	struct wiki_lists L = { .n = 0 };
	size_t p = 0;
	while (p < len) {
		size_t e = eol(s, p, len), k = p;
		while (k < e && (s[k] == ' ' || s[k] == '\t'))
			k++;
		if (k == e) { /* a blank line ends a list */
			L.n = 0;
			p = e + 1;
			continue;
		}
		if (L.n > 0 && !block_start(s + k, e - k, in_quote) && strncmp(s + k, "{quote}", 7) != 0) {
			/* a plain line right after an item: the item goes on */
			json_object_array_add(conn_json_arr(L.para, "content"), node("hardBreak"));
			struct json_object *tmp = node("paragraph");
			json_object_object_add(tmp, "content", json_object_new_array());
			inline_lines(tmp, s + k, e - k);
			struct json_object *c = conn_json_arr(tmp, "content");
			for (size_t i = 0; i < json_object_array_length(c); i++)
				json_object_array_add(conn_json_arr(L.para, "content"),
				                      json_object_get(json_object_array_get_idx(c, i)));
			json_object_put(tmp);
			p = e + 1;
			continue;
		}
		p = block_read(doc, s, len, k, in_quote, depth, &L);
		if (p < len && s[p] == '\n')
			p++;
	}
}

struct json_object *jira_wiki_to_adf(const char *wiki)
{
	struct json_object *doc = node("doc");
	json_object_object_add(doc, "version", json_object_new_int(1));
	json_object_object_add(doc, "content", json_object_new_array());
	if (!wiki)
		return doc;
	/* CR LF and lone CR as LF */
	char *t = xstrdup(wiki), *w = t;
	for (const char *r = wiki; *r; r++)
		if (*r != '\r')
			*w++ = *r;
		else if (r[1] != '\n')
			*w++ = '\n';
	*w = '\0';
	blocks_read(doc, t, strlen(t), false, 0);
	free(t);
	return doc;
}

char *jira_wiki_from_markdown(const char *md)
{
	struct json_object *doc = NULL;
	char *out = NULL;
	if (jira_adf_from_markdown(md, &doc) < 0)
		return NULL;
	if (jira_wiki_from_adf(doc, &out) < 0)
		out = NULL;
	json_object_put(doc);
	return out;
}

char *jira_wiki_to_markdown(const char *wiki)
{
	struct json_object *doc = jira_wiki_to_adf(wiki);
	const char *err = NULL;
	char *out = NULL;
	if (jira_adf_to_markdown(doc, &out, &err) < 0)
		out = NULL;
	json_object_put(doc);
	return out;
}

/* One round trip md -> wiki -> Markdown; md itself when the text outgrows
 * the cap.  Heap. */
static char *wiki_round_trip(const char *md)
{
	char *wiki = jira_wiki_from_markdown(md);
	char *out = wiki ? jira_wiki_to_markdown(wiki) : NULL;
	free(wiki);
	return out ? out : xstrdup(md);
}

/* Round trips until the text settles (at most WIKI_SETTLE): Markdown that
 * the two conversions read differently (emphasis around a control
 * character, found by fuzz_jira) can need a second trip before it stops
 * changing.  Reconcile compares normalised values, and what the tracker
 * hands back is one more trip of what was pushed; both sides settle on
 * the same text, so such a description is not pushed on every sync. */
#define WIKI_SETTLE 8

char *jira_wiki_description_normalise(const char *md)
{
	if (!md)
		return NULL;
	char *out = wiki_round_trip(md);
	for (int i = 1; i < WIKI_SETTLE && out[0]; i++) {
		char *next = wiki_round_trip(out);
		bool same = strcmp(next, out) == 0;
		free(out);
		out = next;
		if (same)
			break;
	}
	if (!out[0]) {
		free(out);
		out = NULL;
	}
	return out;
}
