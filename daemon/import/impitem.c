/* impitem.c — decide one action item's fields from its candidate
 * (struct raw, impwalk.c).
 *
 * Title: the item text (after an inline "**Action item:**" label), or the
 * bold label that opens it when a ':' / '-' / '.' / a line break follows
 * the label ("**Improve alerting.** We should ..." -> "Improve alerting",
 * the rest is description).  State markers, trailing ticket references (a
 * dangling "(see" too) and trailing field clauses (owner, due, priority,
 * estimate: impfield.c) are cut off; a title that is only a link becomes
 * the ticket key or a readable form of the URL; a title longer than
 * IMP_TITLE_MAX bytes is cut at its first sentence or a word boundary and
 * kept whole in the description.
 *
 * State, first found wins: a Status column; a marker in the title text or
 * in any other cell ("n/a **DONE**"); a "Status: done" nested line; the
 * task box; the text struck through; the group heading or label
 * ("Immediate actions (completed)"); else open.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "impparse.h"
#include "imptext.h"

/* Title and the text that follows a leading "**Title**:" into rest. */
static char *split_title(const struct mds_text *t, size_t skip, char **rest)
{
	*rest = NULL;
	const char *text = t->text + skip;
	size_t ls = skip == 0 ? t->lead_strong : 0;
	if (ls > 0 && ls >= strlen(text)) {
		/* all of it a bold label, "**Add a kill switch.**": the label
		 * without its full stop, as when text follows it */
		char *title = impt_collapse(text);
		size_t n = strlen(title);
		if (n > 1 && title[n - 1] == '.' && title[n - 2] != '.')
			title[n - 1] = '\0';
		return title;
	}
	if (ls == 0 || ls >= strlen(text)) {
		/* "Fix X.\nLonger explanation": the first line when it is a
		 * sentence of its own */
		const char *nl = strchr(text, '\n');
		if (nl && nl - text > 12 && strchr(".:", nl[-1])) {
			char *first = xstrndup(text, (size_t)(nl - text));
			char *title = impt_collapse(first);
			free(first);
			size_t n = strlen(title);
			if (n > 0 && title[n - 1] == ':')
				title[n - 1] = '\0';
			*rest = impt_collapse(nl + 1);
			return title;
		}
		return impt_collapse(text);
	}
	/* "**Re-introduce the protection** (done). Why": the marker is the
	 * title's */
	const char *a = text + ls;
	while (*a == ' ')
		a++;
	const char *pe = *a == '(' ? strchr(a, ')') : NULL;
	if (pe && pe - a <= 24 && (pe[1] == '.' || pe[1] == ':'))
		ls = (size_t)(pe + 1 - text);
	char *strong = xstrndup(text, ls);
	char *title = impt_collapse(strong);
	free(strong);
	const char *after = text + ls;
	bool newline = false;
	while (*after == ' ' || *after == '\t' || *after == '\n')
		newline = newline || *after++ == '\n';
	size_t tl = strlen(title);
	bool punct_in = tl > 0 && strchr(":.", title[tl - 1]);
	bool dash = (after[0] == '-' && after[1] == ' ') || str_istarts(after, "\xE2\x80\x94") ||
	            str_istarts(after, "\xE2\x80\x93");
	if (!punct_in && *after != ':' && *after != '.' && !dash && !newline) {
		free(title);
		return impt_collapse(text);
	}
	if (tl > 0 && (title[tl - 1] == ':' || title[tl - 1] == '.'))
		title[tl - 1] = '\0';
	if (*after == ':' || *after == '.' || *after == '-')
		after++;
	else if (dash)
		after += 3;
	*rest = impt_collapse(after);
	return title;
}

/* Cut a long title (more than IMP_TITLE_MAX bytes) at its first sentence,
 * else at the last word boundary that leaves room for "…" (3 bytes), so
 * the result is at most IMP_TITLE_MAX bytes and always fits the string it
 * was cut from.  Returns true when it cut. */
static bool shorten_title(char *title)
{
	size_t n = strlen(title);
	if (n <= IMP_TITLE_MAX)
		return false;
	for (size_t i = 10; i < IMP_TITLE_MAX; i++) {
		if (strchr(".!?", title[i]) && title[i + 1] == ' ') {
			title[title[i] == '.' ? i : i + 1] = '\0';
			return true;
		}
	}
	size_t room = IMP_TITLE_MAX - 3, cut = 0;
	for (size_t i = room; i > 0 && !cut; i--)
		if (title[i] == ' ')
			cut = i;
	if (!cut)
		cut = room;
	while (cut > 0 && ((unsigned char)title[cut] & 0xC0) == 0x80)
		cut--;   /* never split a UTF-8 sequence */
	while (cut > 0 && strchr(" ,;:-(", title[cut - 1]))
		cut--;   /* no dangling separator before the ellipsis */
	memcpy(title + cut, "\xE2\x80\xA6", 4);   /* "…" + NUL: cut + 4 <= n + 1 */
	return true;
}

/* Remove a dangling "(see", "see", "(", "cf." left after a reference. */
static void strip_dangling(char *s)
{
	static const char *const tails[] = { "(see", "(see:", "see:", "see", "(cf.", "cf.",
	                                     "(ref", "ref:", "(tracked in", "tracked in",
	                                     "(ticket", "ticket:", "(for example", "for example", "(e.g.",
	                                     "e.g.", "(eg", "(", "[" };
	for (bool again = true; again;) {
		again = false;
		size_t n = strlen(s);
		while (n > 0 && (s[n - 1] == ' ' || s[n - 1] == ',' || s[n - 1] == ';'))
			s[--n] = '\0';
		for (size_t i = 0; i < ARRAY_SIZE(tails) && !again; i++) {
			size_t l = strlen(tails[i]);
			if (n > l && strcasecmp(s + n - l, tails[i]) == 0 &&
			    (s[n - l - 1] == ' ' || tails[i][0] == '(' || tails[i][0] == '[')) {
				s[n - l] = '\0';
				again = true;
			}
		}
	}
}

/* Trailing bare URLs ("(see https://wiki/x)"): md4c made them links, so
 * they are kept in the description; the title loses them. */
static void strip_trailing_urls(char *s)
{
	for (;;) {
		size_t n = strlen(s);
		while (n > 0 && strchr(" .,;)>", s[n - 1]))
			n--;
		size_t b = n;
		while (b > 0 && s[b - 1] != ' ')
			b--;
		const char *t = s + b;
		while (*t == '(' || *t == '<')
			t++;
		if (b == 0 || !(str_istarts(t, "http://") || str_istarts(t, "https://")))
			return;
		s[b] = '\0';
		strip_dangling(s);
	}
}

/* A trailing parenthesised pointer to a link the item has ("(see [the
 * runbook](url))", "(details in [this doc](url))", "([PR](url))", "(see
 * also [#61](url))"): md4c leaves the link's text in the title; the link
 * itself is kept (description or ticket reference), the group is cut. */
static void strip_link_group(char *s)
{
	static const char *const lead[] = { "see", "cf", "ref", "refs", "details", "detail",
	                                    "more", "docs", "doc", "runbook", "pr", "issue",
	                                    "ticket", "tracked", "tracking", "link", "context",
	                                    "discussion", "notes", "via", "per", "from", NULL };
	size_t n = strlen(s);
	if (n < 3 || s[n - 1] != ')')
		return;
	size_t open = n - 1;
	int depth = 0;
	while (open > 0) {
		open--;
		if (s[open] == ')')
			depth++;
		else if (s[open] == '(' && depth-- == 0)
			break;
	}
	if (open == 0 || s[open] != '(' || s[open - 1] != ' ')
		return;
	char w[16];
	size_t l = 0;
	for (const char *p = s + open + 1; isalpha((unsigned char)*p) && l + 1 < sizeof(w); p++)
		w[l++] = (char)tolower((unsigned char)*p);
	w[l] = '\0';
	for (size_t i = 0; lead[i]; i++) {
		if (strcmp(w, lead[i]) == 0) {
			s[open] = '\0';
			strip_dangling(s);
			return;
		}
	}
}

/* A readable title for a link: a Jira-like key ("OPS-123") from
 * /browse/KEY, else host and last path segment. */
static char *link_title(const char *url)
{
	const char *b = strstr(url, "/browse/");
	if (b) {
		b += 8;
		return xstrndup(b, strcspn(b, "/?#"));
	}
	const char *h = strstr(url, "://");
	h = h ? h + 3 : url;
	size_t hl = strcspn(h, "/?#");
	const char *end = h + strcspn(h, "?#"), *seg = end;
	while (seg > h + hl && seg[-1] == '/')
		seg--;
	const char *last = seg;
	while (last > h + hl && last[-1] != '/')
		last--;
	if (last >= seg)
		return xstrndup(h, hl);
	return xasprintf("%.*s %.*s", (int)hl, h, (int)(seg - last), last);
}

/* Column value -> field, keeping what cannot be mapped in desc. */
static void map_columns(const struct raw *r, struct imp_item *it, struct buf *desc,
                        int *state)
{
	struct item_fields *f = &it->fields;
	const char *v;
	char *c;
	if ((v = r->cols[COL_TYPE]) && !impt_placeholder(v)) {
		const char *t = impt_type(v);
		item_fields_set(f, ITEM_F_TYPE, t ? t : "other");
		if (!t) {
			c = impt_collapse(v);
			char *l = xasprintf("Type: %s", c);
			imp_add_part(desc, "\n", l);
			free(l);
			free(c);
		}
	}
	static const struct { enum imp_col col; const char *label; } kept[] = {
		{ COL_PRIORITY, "Priority" }, { COL_DUE, "Due" }, { COL_STATUS, "Status" },
		{ COL_TICKET, "Ticket" },
	};
	for (size_t k = 0; k < ARRAY_SIZE(kept); k++) {
		if (!(v = r->cols[kept[k].col]) || impt_placeholder(v))
			continue;
		c = impt_collapse(v);
		int st = -1;
		impf_state_markers(c, &st);
		if (st >= 0 && *state < 0)
			*state = st;
		char date[11];
		bool keep = false;
		if (kept[k].col == COL_PRIORITY) {
			const char *pr = impt_priority(c);
			item_fields_set(f, ITEM_F_PRIORITY, pr);
			keep = !pr && c[0];
		} else if (kept[k].col == COL_DUE) {
			bool found = impt_find_date(c, date) || impt_text_date(c, date);
			if (found)
				item_fields_set(f, ITEM_F_DUE_DATE, date);
			keep = (!found || strcmp(c, date) != 0) && c[0];
			if (!found && impt_text_monthday(c, it->due_md))
				keep = true;   /* "Dec 13": resolved against the date, kept as written */
		} else if (kept[k].col == COL_STATUS) {
			if (*state < 0)
				*state = impt_state(c, true);
			keep = *state < 0 && c[0];
		} else {
			struct imp_ticket_ref *tmp = NULL;
			size_t nt = 0;
			impt_refs_from_text(c, &tmp, &nt);
			keep = nt == 0 && r->n_refs == 0 && !impt_placeholder(c);
			for (size_t i = 0; i < nt; i++)
				impt_ref_free(&tmp[i]);
			free(tmp);
		}
		if (keep) {
			char *l = xasprintf("%s: %s", kept[k].label, c);
			imp_add_part(desc, "\n", l);
			free(l);
		}
		free(c);
	}
	if ((v = r->cols[COL_OWNER]) && !impt_placeholder(v)) {
		c = impt_collapse(v);
		item_fields_set(f, ITEM_F_OWNER, c[0] == '@' ? c + 1 : c);
		free(c);
	}
}

/* Nested lines: "Owner: @x" / "Status: done" lines become fields, the
 * others stay in the description. */
static void nested_lines(const char *nested, struct impf_fields *f, struct buf *desc)
{
	if (!nested)
		return;
	char *copy = xstrdup(nested), *save = NULL;
	for (char *l = strtok_r(copy, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		const char *t = l;
		while (*t == ' ')
			t++;
		if (t[0] == '-' && t[1] == ' ')
			t += 2;
		if (!impf_line(t, f))
			imp_add_part(desc, "\n", l);
	}
	free(copy);
}

/* A copy of n references (url may be NULL: a bare Jira key). */
static struct imp_ticket_ref *ref_list_copy(const struct imp_ticket_ref *src, size_t n)
{
	struct imp_ticket_ref *v = n ? xcalloc(n, sizeof(*v)) : NULL;
	for (size_t i = 0; i < n; i++) {
		v[i].kind = xstrdup(src[i].kind);
		v[i].target = xstrdup(src[i].target);
		v[i].number = xstrdup(src[i].number);
		v[i].url = xstrdup(src[i].url);
		v[i].pull = src[i].pull;
	}
	return v;
}

static void copy_refs(const struct raw *r, struct imp_item *it)
{
	it->refs = ref_list_copy(r->refs, r->n_refs);
	it->n_refs = r->n_refs;
	it->xrefs = ref_list_copy(r->xrefs, r->n_xrefs);
	it->n_xrefs = r->n_xrefs;
	if (r->n_bare) {
		it->bare = xcalloc(r->n_bare, sizeof(*it->bare));
		for (size_t i = 0; i < r->n_bare; i++)
			it->bare[i] = xstrdup(r->bare[i]);
		it->n_bare = r->n_bare;
	}
}

/* State from every cell other than the title's ("n/a **DONE**"). */
static int cells_state(const struct raw *r)
{
	int st = -1;
	for (size_t i = 0; i < r->n_cells && st < 0; i++) {
		if (&r->cells[i] == r->text)
			continue;
		char *c = impt_collapse(r->cells[i].text);
		impf_state_markers(c, &st);
		int whole = impt_state(c, false);   /* a cell that is only "Completed" */
		if (st < 0 && whole >= 0 && strcasecmp(c, "x") != 0 && strcasecmp(c, "new") != 0)
			st = whole;
		if (st < 0 && r->cells[i].struck)
			st = ITEM_STATE_DONE;
		free(c);
	}
	return st;
}

/* Past the separator between a leading id or reference and the title:
 * blanks, ':', '-', and em or en dashes ("INFRA-2211 — Add an alert"). */
static const char *skip_separator(const char *e)
{
	for (;;) {
		if (*e == ' ' || *e == ':' || *e == '-')
			e++;
		else if (str_istarts(e, "\xE2\x80\x94") || str_istarts(e, "\xE2\x80\x93"))
			e += 3;
		else
			return e;
	}
}

/* A leading explicit id "AI-1:", "[AI-1]", "AI-12 -": 1-6 capital
 * letters, '-', digits.  Cut from title and returned, or NULL. */
static char *leading_id(char *title)
{
	const char *p = title + (title[0] == '[');
	size_t u = 0;
	while (p[u] >= 'A' && p[u] <= 'Z')
		u++;
	size_t d = p[u] == '-' ? strspn(p + u + 1, "0123456789") : 0;
	if (u == 0 || u > 6 || d == 0 || d > 6)
		return NULL;
	const char *e = p + u + 1 + d;
	if (title[0] == '[' && *e++ != ']')
		return NULL;
	if (*e == ':' || *e == ')' || *e == '.')
		e++;
	if (*e != ' ')
		return NULL;
	e = skip_separator(e);
	if (!*e)
		return NULL;
	char *id = xstrndup(p, u + 1 + d);
	memmove(title, e, strlen(e) + 1);
	return id;
}

/* A leading reference before the words of the title — "#482 Roll back",
 * "acme/api#482: Roll back", "https://gitlab.example.com/…/issues/4412 -
 * Size the pool" — is cut (the reference or link is kept from the text);
 * a title that is only a reference stays as it is. */
static void strip_leading_ref(char *s)
{
	size_t n = 0;
	if (str_istarts(s, "http://") || str_istarts(s, "https://")) {
		n = strcspn(s, " \t");
	} else if (s[0] == '#') {
		n = 1 + strspn(s + 1, "0123456789");
		if (n == 1)
			return;
	} else {
		size_t w = strcspn(s, " \t");
		const char *h = memchr(s, '#', w);
		const char *sl = memchr(s, '/', w);
		size_t end = h ? (size_t)(h - s) + 1 + strspn(h + 1, "0123456789") : 0;
		if (end < w && strchr(":,", s[end]) && end + 1 == w)
			w = end;   /* "kubernetes/kubernetes#120345: Cap the cache" */
		if (!h || !sl || sl > h || end != w || h[1] == ' ')
			return;
		n = w;
	}
	size_t e = (size_t)(skip_separator(s + n) - s);
	if (e == n || !isalpha((unsigned char)s[e]))
		return;   /* only the reference, or no words after it */
	memmove(s, s + e, strlen(s + e) + 1);
}

/* Go-style "TODO(alice): fence writes" / "DONE(bob): ...": the owner and
 * the state, cut from the title. */
static void todo_owner(char *title, struct impf_fields *f, int *state)
{
	if (title[0] == '@') {   /* "@pedro: restore the secret", "@ines - alert on ..." */
		size_t h = 1 + strcspn(title + 1, " :\t");
		const char *e = title + h;
		if (h > 1 && (*e == ':' || str_istarts(e, " - ") || str_istarts(e, " \xE2\x80\x94 "))) {
			if (!f->owner)
				f->owner = xstrndup(title + 1, h - 1);
			e += *e == ':' ? 1 : str_istarts(e, " - ") ? 3 : 5;
			while (*e == ' ')
				e++;
			if (*e)
				memmove(title, e, strlen(e) + 1);
		}
		return;
	}
	static const char *const marks[] = { "TODO", "DONE", "FIXME", "FIXED", "WIP" };
	for (size_t i = 0; i < ARRAY_SIZE(marks); i++) {
		size_t l = strlen(marks[i]);
		if (strncmp(title, marks[i], l) != 0 || title[l] != '(')
			continue;
		const char *e = strchr(title + l + 1, ')');
		if (!e || e - title - (long)l - 1 < 1 || e - title - (long)l - 1 > 40)
			return;
		const char *o = title + l + 1;
		if (*o == '@')
			o++;
		if (!f->owner)
			f->owner = xstrndup(o, (size_t)(e - o));
		if (*state < 0)
			*state = !strcmp(marks[i], "FIXME") ? ITEM_STATE_OPEN :
			         impt_state(marks[i], false);
		e++;
		while (*e == ':' || *e == ' ' || *e == '-')
			e++;
		memmove(title, e, strlen(e) + 1);
		return;
	}
}

/* "🟢 Done — Restore the index", "In progress: Alert on lag": a leading
 * decoration emoji and a state phrase before a separator; the state is
 * read, both are cut. */
static void leading_state(char *title, int *state)
{
	size_t i = 0;
	while ((unsigned char)title[i] >= 0xF0 && title[i + 1] && title[i + 2] && title[i + 3])
		i += 4;   /* 🟢 🟡 🔴: four-byte emoji */
	while (str_istarts(title + i, "\xE2\x9A\xAA") || str_istarts(title + i, "\xE2\x9A\xAB"))
		i += 3;   /* ⚪ ⚫ */
	while (title[i] == ' ')
		i++;
	static const char *const seps[] = { " \xE2\x80\x94 ", " \xE2\x80\x93 ", " - ", ": " };
	for (size_t k = 0; k < ARRAY_SIZE(seps); k++) {
		const char *sep = strstr(title + i, seps[k]);
		if (!sep || sep - (title + i) > 20 || sep == title + i)
			continue;
		char *head = xstrndup(title + i, (size_t)(sep - (title + i)));
		int st = impt_state(head, false);
		bool generic = !strcasecmp(head, "x") || !strcasecmp(head, "new");
		free(head);
		if (st < 0 || generic)
			continue;
		if (*state < 0)
			*state = st;
		const char *rest = sep + strlen(seps[k]);
		memmove(title, rest, strlen(rest) + 1);
		return;
	}
	if (i > 0)
		memmove(title, title + i, strlen(title + i) + 1);
}

/* A sentence's full stop at the end of a title ("Keep a spare relay on
 * site."); not after an abbreviation ("etc.", "e.g.") or "...". */
static void strip_full_stop(char *s)
{
	size_t n = strlen(s);
	if (n < 2 || s[n - 1] != '.' || s[n - 2] == '.')
		return;
	size_t b = n - 1;
	while (b > 0 && s[b - 1] != ' ')
		b--;
	static const char *const abbr[] = { "etc.", "e.g.", "i.e.", "vs.", "inc.", "ltd.", "al." };
	for (size_t k = 0; k < ARRAY_SIZE(abbr); k++)
		if (strcasecmp(s + b, abbr[k]) == 0)
			return;
	s[n - 1] = '\0';
}

/* "Add an alert [T363002](…) **Done**": a bold state phrase that closes
 * the item's text is its state, cut from the title. */
static void trailing_strong_state(const struct mds_text *t, char *title, int *state)
{
	if (!t || t->trail_strong == 0)
		return;
	char *tail = impt_collapse(t->text + strlen(t->text) - t->trail_strong);
	size_t tl = strlen(tail), n = strlen(title);
	int st = tl ? impt_state(tail, false) : -1;
	if (st >= 0 && strcasecmp(tail, "new") != 0 && strcasecmp(tail, "x") != 0 &&
	    n > tl && strcmp(title + n - tl, tail) == 0 && title[n - tl - 1] == ' ') {
		if (*state < 0)
			*state = st;
		title[n - tl - 1] = '\0';
	}
	free(tail);
}

static char *decide_title(const struct raw *r, struct impt_marks *m, struct impf_fields *f,
                          char **rest, int *state)
{
	char *title = r->text ? split_title(r->text, r->skip, rest) : xstrdup("");
	trailing_strong_state(r->text, title, state);
	todo_owner(title, f, state);
	leading_state(title, state);
	impf_state_markers(title, state);
	strip_leading_ref(title);
	impt_strip_markers(title, m);
	impt_strip_trailing_refs(title);
	strip_dangling(title);
	size_t tl = strlen(title);
	if (tl >= 2 && title[tl - 1] == '.' && title[tl - 2] == ')')
		title[tl - 1] = '\0';   /* "... (owner @rui, due 2024-03-20)." */
	impf_strip(title, f);
	impt_strip_markers(title, m);
	impt_strip_trailing_refs(title);
	strip_dangling(title);
	strip_trailing_urls(title);
	if (r->n_links > 0 || r->n_refs > 0 || r->n_bare > 0)
		strip_link_group(title);
	bool url_only = str_istarts(title, "http://") || str_istarts(title, "https://");
	if ((!title[0] || url_only) && r->n_refs > 0) {
		free(title);
		title = xasprintf("%s#%s", r->refs[0].target, r->refs[0].number);
	} else if ((!title[0] || url_only) && r->n_links > 0) {
		free(title);
		title = link_title(r->links[0]);
	}
	return title;
}

bool impi_build(const struct raw *r, struct imp_item *it)
{
	struct impt_marks m = { .state = -1 };
	struct impf_fields f = { .state = -1 };
	struct buf desc = { 0 }, tail = { 0 };
	char *rest = NULL;
	int col_state = -1, text_state = -1;
	bool ok = false;

	memset(it, 0, sizeof(*it));
	item_fields_init(&it->fields);
	it->line = r->line;
	it->title_col = r->title_col;
	it->ticket_col = r->ticket_col;
	it->markup = r->markup;
	char *title = decide_title(r, &m, &f, &rest, &text_state);
	it->explicit_id = leading_id(title);
	if (r->cols[COL_ID] && !impt_placeholder(r->cols[COL_ID])) {
		free(it->explicit_id);
		it->explicit_id = impt_collapse(r->cols[COL_ID]);
	}
	map_columns(r, it, &tail, &col_state);

	char *full = xstrdup(title);
	if (shorten_title(title))
		imp_add_part(&desc, "\n\n", full);   /* the whole text, full stop and all */
	free(full);
	strip_full_stop(title);
	if (rest) {
		/* "**Fix X**: owner @a, due 2026-01-01" / "— page at 5 min. Owner: @b" */
		impf_state_markers(rest, &text_state);
		if (!impf_line(rest, &f)) {
			impf_strip(rest, &f);
			imp_add_part(&desc, "\n\n", rest);
		}
	}
	if (r->cols[COL_DESC] && !impt_placeholder(r->cols[COL_DESC])) {
		char *d = impt_collapse(r->cols[COL_DESC]);
		imp_add_part(&desc, "\n\n", d);
		free(d);
	}
	struct buf nested = { 0 };
	nested_lines(r->nested.data, &f, &nested);
	imp_add_part(&desc, "\n\n", nested.data);
	buf_free(&nested);
	imp_add_part(&tail, "\n", r->extra.data);   /* "Header: value" lines together */
	for (size_t i = 0; i < r->n_links; i++) {
		char *l = xasprintf("Link: %s", r->links[i]);
		imp_add_part(&tail, "\n", l);
		free(l);
	}
	if (f.note)
		imp_add_part(&desc, "\n\n", f.note);
	if (f.ticket) {
		char *l = xasprintf("Ticket: %s", f.ticket);
		imp_add_part(&tail, "\n", l);
		free(l);
	}
	if (f.estimate) {
		it->estimate = xstrdup(f.estimate);
		char *l = xasprintf("Estimate: %s", f.estimate);
		imp_add_part(&tail, "\n", l);
		free(l);
	}
	if (f.due_md[0] && !f.due[0] && !it->fields.v[ITEM_F_DUE_DATE]) {
		memcpy(it->due_md, f.due_md, sizeof(it->due_md));
		char *l = xasprintf("Due: --%s (no year written)", f.due_md);
		imp_add_part(&tail, "\n", l);
		free(l);
	}
	if (f.due_days > 0 && !f.due[0]) {
		it->due_days = f.due_days;
		char *l = xasprintf("Due: %s", f.due_text ? f.due_text : "relative");
		imp_add_part(&tail, "\n", l);
		free(l);
	}
	if (r->horizon) {
		it->horizon = xstrdup(r->horizon);
		char *l = xasprintf("Horizon: %s", r->horizon);
		imp_add_part(&tail, "\n", l);
		free(l);
	}
	imp_add_part(&desc, "\n\n", tail.data);
	if (!title[0] || impt_placeholder(title) || !strcasecmp(title, "none.") ||
	    !strcasecmp(title, "n/a."))
		goto out;   /* "**Action items:** None." */
	if (impm_placeholder_title(title))
		goto out;   /* a template's "[Action item 1]", "{{ item.title }}" */

	int state = col_state;
	if (state < 0)
		state = text_state;
	if (state < 0)
		state = m.state;
	if (state < 0)
		state = cells_state(r);
	if (state < 0)
		state = f.state;
	if (state < 0 && r->task)
		state = r->task == 'x' ? ITEM_STATE_DONE : ITEM_STATE_OPEN;
	if (state < 0)
		state = r->grp_state;   /* "### Not doing": its struck items are dropped, not done */
	if (state < 0 && r->text && r->text->struck)
		state = ITEM_STATE_DONE;
	if (state < 0)
		state = ITEM_STATE_OPEN;
	item_fields_set(&it->fields, ITEM_F_TITLE, title);
	item_fields_set(&it->fields, ITEM_F_DESCRIPTION, desc.len ? desc.data : NULL);
	item_fields_set(&it->fields, ITEM_F_STATE, item_state_name((enum item_state)state));
	if (!it->fields.v[ITEM_F_TYPE])
		item_fields_set(&it->fields, ITEM_F_TYPE, r->grp_type ? r->grp_type : "other");
	if (!it->fields.v[ITEM_F_PRIORITY])
		item_fields_set(&it->fields, ITEM_F_PRIORITY, m.priority ? m.priority : f.priority);
	if (!it->fields.v[ITEM_F_OWNER])
		item_fields_set(&it->fields, ITEM_F_OWNER, m.owner ? m.owner : f.owner);
	if (!it->fields.v[ITEM_F_DUE_DATE] && (m.due[0] || f.due[0]))
		item_fields_set(&it->fields, ITEM_F_DUE_DATE, m.due[0] ? m.due : f.due);
	copy_refs(r, it);
	ok = true;
out:
	if (!ok) {
		item_fields_free(&it->fields);
		free(it->estimate);
		free(it->horizon);
		free(it->explicit_id);
		it->estimate = it->horizon = it->explicit_id = NULL;
	}
	free(title);
	free(rest);
	free(m.owner);
	impf_free(&f);
	buf_free(&desc);
	buf_free(&tail);
	return ok;
}
