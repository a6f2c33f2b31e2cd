/* impfield.c — fields written inline in an action item's text.
 *
 * Forms read (any case), alone or several together, at the end of the
 * item text after a separator (" - ", " — ", ", ", "; ", " | ", " / ", "(", "[")
 * or as a whole line:
 *   owner     "@alice", "Owner: @x", "owner maria", "owned by x",
 *             "assignee: x", "assigned to x", "DRI: x"
 *   due       "2026-09-30", "due 2026-09-30", "by 2026-10-01",
 *             "Due: 2 weeks", "due in 30 days", "within 30 days" (relative
 *             to the postmortem's date, resolved by importer.c)
 *   priority  "P0".."P3", "priority: high"
 *   estimate  "20m", "4h", "2d", "1w", "3pt", "estimate: 2d", "effort 2d"
 *   state     "done", "in progress", "won't do", ... ("done 2026-11-04":
 *             the date it was done, not a due date)
 *   ticket    "[CHK-88]", "OPS-4471": a tracker key (kept in the description)
 *   due dates also as "30 Nov 2026", "November 20, 2026", "2026/12/15",
 *             and without a year, "by Mar 3", "due 15 March" (the first
 *             such day on or after the postmortem's date, importer.c);
 *             a quarter "Q3" / "Q3 2024" is read as a field but sets no
 *             due date (a quarter names no day);
 *   owner "Unassigned" / "none" / "TBD" says there is none; " · " separates
 * A clause that is none of these stops the match, so ordinary words stay
 * in the title ("Notify the service owner", "Migrate by region").
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "impparse.h"
#include "imptext.h"

#define MAX_TOK 48

void impf_free(struct impf_fields *f)
{
	free(f->owner);
	free(f->due_text);
	free(f->estimate);
	free(f->ticket);
	free(f->note);
	f->owner = f->due_text = f->estimate = f->ticket = f->note = NULL;
}

struct toks {
	char *v[MAX_TOK];   /* words; "," for any separator */
	size_t n;
	char *buf;
};

static bool sep_byte(char c)
{
	return strchr(",;|()[]{}", c) != NULL;
}

/* Split s into words and "," separators (punctuation, dashes). */
static bool tokenize(const char *s, struct toks *t)
{
	t->n = 0;
	t->buf = xmalloc(2 * strlen(s) + 2);
	char *o = t->buf;
	for (const char *p = s; *p;) {
		if (*p == ' ' || *p == '\t' || *p == '\n') {
			p++;
			continue;
		}
		if (t->n == MAX_TOK)
			return false;
		if (sep_byte(*p) || (*p == '-' && (p[1] == ' ' || !p[1])) ||
		    (*p == '/' && (p[1] == ' ' || !p[1]) && p > s && p[-1] == ' ') ||
		    str_istarts(p, "\xE2\x80\x94") || str_istarts(p, "\xE2\x80\x93") ||
		    str_istarts(p, "\xC2\xB7")) {
			p += (unsigned char)*p == 0xE2 ? 3 : (unsigned char)*p == 0xC2 ? 2 : 1;
			if (t->n == 0 || strcmp(t->v[t->n - 1], ",") != 0) {
				t->v[t->n++] = o;
				*o++ = ',';
				*o++ = '\0';
			}
			continue;
		}
		t->v[t->n++] = o;
		char *w0 = o;
		while (*p && *p != ' ' && *p != '\t' && *p != '\n' && !sep_byte(*p))
			*o++ = *p++;
		if (o - w0 > 1 && o[-1] == '.' && o[-2] != '.')
			o--;   /* "2026-02-05." ends a sentence */
		*o++ = '\0';
	}
	return true;
}

/* Lower-cased copy of a word without a trailing ':' or '.'; *colon says
 * whether it had a ':'. */
static void word(const char *w, char out[32], bool *colon)
{
	size_t n = strlen(w);
	*colon = n > 0 && w[n - 1] == ':';
	while (n > 0 && (w[n - 1] == ':' || w[n - 1] == '.'))
		n--;
	if (n > 31)
		n = 31;
	for (size_t i = 0; i < n; i++)
		out[i] = (char)tolower((unsigned char)w[i]);
	out[n] = '\0';
}

static bool is_any(const char *w, const char *const *list)
{
	for (; *list; list++)
		if (strcmp(w, *list) == 0)
			return true;
	return false;
}

static const char *const owner_words[] = { "owner", "owners", "assignee", "dri", "who",
                                           "responsible", NULL };
static const char *const due_words[] = { "due", "deadline", "eta", "by", "target", "until",
                                         "before", NULL };

/* "20m", "4h", "2d", "1w", "3pt", "1.5d" */
static bool estimate_word(const char *w)
{
	size_t d = strspn(w, "0123456789.");
	if (d == 0 || d > 4 || !isdigit((unsigned char)w[0]))
		return false;
	static const char *const units[] = { "m", "min", "h", "hr", "hrs", "d", "w", "wk",
	                                     "pt", "pts", "sp", NULL };
	return is_any(w + d, units);
}

/* "2 weeks" at t->v[i]: days, and the words used; 0 when not. */
static int relative_days(const struct toks *t, size_t i, size_t *used)
{
	if (i + 1 >= t->n)
		return 0;
	char *end;
	long n = strtol(t->v[i], &end, 10);
	if (*end || n <= 0 || n > 3650)
		return 0;
	char u[32];
	bool colon;
	word(t->v[i + 1], u, &colon);
	static const struct { const char *u; int days; } units[] = {
		{ "day", 1 }, { "days", 1 }, { "week", 7 }, { "weeks", 7 }, { "month", 30 },
		{ "months", 30 }, { "sprint", 14 }, { "sprints", 14 },
	};
	for (size_t k = 0; k < ARRAY_SIZE(units); k++) {
		if (strcmp(u, units[k].u) == 0) {
			*used = 2;
			return (int)n * units[k].days;
		}
	}
	return 0;
}

/* A name after "owner": an @handle, or words up to a separator or a
 * keyword (at most three).  Returns the number of words used. */
static size_t owner_at(const struct toks *t, size_t i, char **owner)
{
	if (i < t->n && t->v[i][0] == '@') {
		const char *h = t->v[i] + 1;
		size_t hl = strlen(h);
		while (hl > 0 && strchr(".:!?", h[hl - 1]))   /* "@farid." ends a sentence */
			hl--;
		if (!hl)
			return 0;
		free(*owner);
		*owner = xstrndup(h, hl);
		return 1;
	}
	static const char *const nobody[] = { "unassigned", "none", "nobody", "tbd", "tba",
	                                      "n/a", "-", "?", NULL };
	char lw[32];
	bool lc;
	if (i < t->n) {
		word(t->v[i], lw, &lc);
		if (is_any(lw, nobody))
			return 1;   /* said, and no one: no owner */
	}
	size_t k = i;
	struct buf b = { 0 };
	while (k < t->n && k - i < 3 && strcmp(t->v[k], ",") != 0) {
		char w[32];
		bool colon;
		word(t->v[k], w, &colon);
		if (is_any(w, due_words) || !isalpha((unsigned char)t->v[k][0]) ||
		    impt_state(w, false) >= 0)
			break;
		imp_add_part(&b, " ", t->v[k]);
		k++;
	}
	if (k == i) {
		buf_free(&b);
		return 0;
	}
	free(*owner);
	*owner = buf_steal(&b);
	return k - i;
}

/* One clause at t->v[i]; returns the words used, 0 when not a field. */
static size_t clause(const struct toks *t, size_t i, struct impf_fields *f)
{
	char w[32], date[11];
	bool colon;
	size_t used = 0, n;
	int days;
	word(t->v[i], w, &colon);
	if (t->v[i][0] == '@')
		return owner_at(t, i, &f->owner);
	if (is_any(w, owner_words) || ((!strcmp(w, "assigned") || !strcmp(w, "owned")) &&
	                                i + 1 < t->n)) {
		size_t skip = 1;
		if (!strcmp(w, "assigned") || !strcmp(w, "owned"))
			skip = 2;   /* "assigned to", "owned by" */
		if (!colon && i + skip < t->n && !strcmp(t->v[i + skip], ","))
			skip++;     /* "Owner - @pia", "Owner — Tariq" */
		n = owner_at(t, i + skip, &f->owner);
		return n ? n + skip : 0;
	}
	if (is_any(w, due_words) || !strcmp(w, "within")) {
		size_t k = i + 1;
		if (k < t->n && (!strcasecmp(t->v[k], "date") || !strcasecmp(t->v[k], "date:") ||
		                 !strcasecmp(t->v[k], "in") || !strcasecmp(t->v[k], "on")))
			k++;
		if (k < t->n && strlen(t->v[k]) == 10 && impt_find_date(t->v[k], date)) {
			memcpy(f->due, date, sizeof(date));
			return k + 1 - i;
		}
		if (k < t->n && (n = (size_t)impt_words_date(t->v + k, t->n - k, date)) > 0) {
			memcpy(f->due, date, sizeof(date));
			return k + n - i;
		}
		if (k < t->n && (n = (size_t)impt_words_monthday(t->v + k, t->n - k, f->due_md)) > 0)
			return k + n - i;   /* "by Mar 3": the year from the postmortem's date */
		if (k < t->n && (days = relative_days(t, k, &used)) > 0 && strcmp(w, "by") != 0) {
			f->due_days = days;
			free(f->due_text);
			f->due_text = xasprintf("%s %s", t->v[k], t->v[k + 1]);
			return k + used - i;
		}
		return 0;
	}
	if (strlen(t->v[i]) == 10 && impt_find_date(t->v[i], date)) {
		memcpy(f->due, date, sizeof(date));
		return 1;
	}
	if ((n = (size_t)impt_words_date(t->v + i, t->n - i, date)) > 0) {
		memcpy(f->due, date, sizeof(date));
		return n;
	}
	if ((n = (size_t)impt_words_monthday(t->v + i, t->n - i, f->due_md)) > 0)
		return n;
	if ((!strcmp(w, "jira") || !strcmp(w, "ticket") || !strcmp(w, "issue") ||
	     !strcmp(w, "bug") || !strcmp(w, "tracker")) && i + 1 < t->n &&
	    impt_ticket_key(t->v[i + 1])) {   /* "(JIRA: SHOP-210, owner: kim)" */
		if (!f->ticket)
			f->ticket = xstrdup(t->v[i + 1]);
		return 2;
	}
	if (impt_ticket_key(t->v[i])) {   /* "[CHK-88]": a tracker key, kept by the caller */
		if (!f->ticket)
			f->ticket = xstrdup(t->v[i]);
		return 1;
	}
	if (w[0] == 'q' && w[1] >= '1' && w[1] <= '4' && !w[2]) {
		/* "Q3", "Q3 2024": a quarter, not a day; the words stay in the
		 * item's text (its description), no due date is set */
		return i + 1 < t->n && strlen(t->v[i + 1]) == 4 &&
		       strspn(t->v[i + 1], "0123456789") == 4 ? 2 : 1;
	}
	if ((w[0] == 'p') && w[1] >= '0' && w[1] <= '3' && !w[2]) {
		f->priority = impt_priority(w);
		return 1;
	}
	if ((!strcmp(w, "priority") || !strcmp(w, "prio")) && i + 1 < t->n &&
	    impt_priority(t->v[i + 1])) {
		f->priority = impt_priority(t->v[i + 1]);
		return 2;
	}
	if (estimate_word(w) || ((!strcmp(w, "estimate") || !strcmp(w, "effort")) &&
	                         i + 1 < t->n && estimate_word(t->v[i + 1]))) {
		const char *e = estimate_word(w) ? t->v[i] : t->v[i + 1];
		free(f->estimate);
		f->estimate = xstrdup(e);
		return estimate_word(w) ? 1 : 2;
	}
	if ((!strcmp(w, "status") || !strcmp(w, "state")) && i + 1 < t->n)
		i++, used = 1;
	for (size_t l = 3; l >= 1; l--) {   /* "won't do", "in progress", "done" */
		if (i + l > t->n)
			continue;
		struct buf b = { 0 };
		for (size_t k = i; k < i + l; k++)
			imp_add_part(&b, " ", t->v[k]);
		int st = impt_state(b.data, false);
		bool generic = !strcasecmp(b.data, "x") || !strcasecmp(b.data, "new");
		buf_free(&b);
		if (st >= 0 && !generic) {
			f->state = st;
			/* "done 2026-11-04": when it was done, not a due date */
			if (st == ITEM_STATE_DONE && i + l < t->n && strlen(t->v[i + l]) == 10 &&
			    impt_find_date(t->v[i + l], date))
				l++;
			return used + l;
		}
	}
	return 0;
}

/* Every token of s is a field clause (or a separator): fill f. */
static bool all_fields(const char *s, struct impf_fields *f)
{
	struct toks t;
	bool ok = tokenize(s, &t), any = false;
	struct impf_fields tmp = { .state = -1 };
	for (size_t i = 0; ok && i < t.n;) {
		if (!strcmp(t.v[i], ",") || !strcasecmp(t.v[i], "and") || !strcmp(t.v[i], "-")) {
			i++;
			continue;
		}
		size_t used = clause(&t, i, &tmp);
		ok = used > 0;
		any = any || ok;
		i += used;
	}
	free(t.buf);
	if (!(ok && any)) {
		impf_free(&tmp);
		return false;
	}
	if (tmp.owner && !f->owner)
		f->owner = tmp.owner, tmp.owner = NULL;
	if (tmp.due[0] && !f->due[0])
		memcpy(f->due, tmp.due, sizeof(f->due));
	if (tmp.due_md[0] && !f->due_md[0])
		memcpy(f->due_md, tmp.due_md, sizeof(f->due_md));
	if (tmp.due_days && !f->due_days) {
		f->due_days = tmp.due_days;
		f->due_text = tmp.due_text;
		tmp.due_text = NULL;
	}
	if (tmp.estimate && !f->estimate)
		f->estimate = tmp.estimate, tmp.estimate = NULL;
	if (tmp.ticket && !f->ticket)
		f->ticket = tmp.ticket, tmp.ticket = NULL;
	if (tmp.priority && !f->priority)
		f->priority = tmp.priority;
	if (tmp.state >= 0 && f->state < 0)
		f->state = tmp.state;
	impf_free(&tmp);
	return true;
}

bool impf_line(const char *line, struct impf_fields *f)
{
	char *c = impt_collapse(line);
	bool ok = c[0] && all_fields(c, f);
	free(c);
	return ok;
}

/* "expires within 14 days" is a condition, not a due date: the word
 * before "within" is one of these verbs. */
static bool condition_within(const char *s, size_t i)
{
	static const char *const verbs[] = {
		"expire", "expires", "expiring", "expired", "fail", "fails", "failing", "happen",
		"happens", "occur", "occurs", "respond", "responds", "complete", "completes",
		"finish", "finishes", "recover", "recovers", "restart", "restarts", "alert",
		"alerts", "page", "pages", "run", "runs", "return", "returns", "reply", "replies",
		"resolve", "resolves", "rotate", "rotates", "renew", "renews", "is", "are", "be",
	};
	size_t b = i;
	while (b > 0 && s[b - 1] != ' ')
		b--;
	for (size_t k = 0; k < ARRAY_SIZE(verbs); k++)
		if (i - b == strlen(verbs[k]) && strncasecmp(s + b, verbs[k], i - b) == 0)
			return true;
	return false;
}

/* Where a field run may start in s: after a separator or at a keyword. */
static size_t clause_start(const char *s, size_t i)
{
	static const char *const seps[] = { " - ", " \xE2\x80\x94 ", " \xE2\x80\x93 ", ", ",
	                                    "; ", " | ", ". ", " \xC2\xB7 ", " / " };
	if (s[i] == '(' || s[i] == '[')
		return i + 1;
	for (size_t k = 0; k < ARRAY_SIZE(seps); k++)
		if (strncmp(s + i, seps[k], strlen(seps[k])) == 0)
			return i + strlen(seps[k]);
	static const char *const keys[] = { " @", " owner", " owned by", " assignee", " due ",
	                                    " due:", " by 20", " within ", " eta", " deadline",
	                                    " dri" };
	for (size_t k = 0; k < ARRAY_SIZE(keys); k++)
		if (strncasecmp(s + i, keys[k], strlen(keys[k])) == 0)
			return k == 7 && condition_within(s, i) ? 0 : i + 1;
	return 0;
}

/* "Purge the queue (P2, @greta) — blocked on the migration": fields in
 * parentheses, then a note.  The fields are read, the note goes to
 * f->note, the title ends before "(".  Returns true when cut. */
static bool fields_then_note(char *title, struct impf_fields *f)
{
	for (char *o = strstr(title, " ("); o; o = strstr(o + 1, " (")) {
		char *c = strchr(o + 2, ')');
		if (!c || c - o > 80)
			continue;
		const char *a = c + 1;
		static const char *const seps[] = { " \xE2\x80\x94 ", " \xE2\x80\x93 ", " - ", "; ",
		                                    ". ", ", " };
		size_t sl = 0;
		for (size_t k = 0; k < ARRAY_SIZE(seps) && !sl; k++)
			if (strncmp(a, seps[k], strlen(seps[k])) == 0)
				sl = strlen(seps[k]);
		if (!sl || !a[sl])
			continue;
		char *inner = xstrndup(o + 2, (size_t)(c - o - 2));
		struct impf_fields tmp = { .state = -1 };
		bool ok = all_fields(inner, &tmp);
		free(inner);
		if (!ok) {
			impf_free(&tmp);
			continue;
		}
		impf_free(&tmp);
		inner = xstrndup(o + 2, (size_t)(c - o - 2));
		(void)all_fields(inner, f);
		free(inner);
		free(f->note);
		f->note = xstrdup(a + sl);
		*o = '\0';
		return true;
	}
	return false;
}

void impf_strip(char *title, struct impf_fields *f)
{
	size_t n = strlen(title);
	/* a leading estimate tag: "[20m] Add ..." */
	if (title[0] == '[' || title[0] == '(') {
		const char *e = strchr(title, title[0] == '[' ? ']' : ')');
		if (e && e - title < 12) {
			char *inner = xstrndup(title + 1, (size_t)(e - title - 1));
			const char *prio = impt_priority(inner);
			if (prio && (inner[0] == 'P' || inner[0] == 'p') && e[1]) {
				f->priority = prio;   /* "[P1] Drain the nodes" */
				memmove(title, e + 1, strlen(e + 1) + 1);
				while (title[0] == ' ')
					memmove(title, title + 1, strlen(title));
				n = strlen(title);
			} else if (estimate_word(inner) && e[1]) {
				free(f->estimate);
				f->estimate = inner;
				inner = NULL;
				memmove(title, e + 1, strlen(e + 1) + 1);
				while (title[0] == ' ')
					memmove(title, title + 1, strlen(title));
				n = strlen(title);
			}
			free(inner);
		}
	}
	for (size_t i = 1; i < n; i++) {
		size_t start = clause_start(title, i);
		if (!start || !all_fields(title + start, f))
			continue;
		title[i] = '\0';
		n = i;
		while (n > 0 && (strchr(" ,;:-|(", title[n - 1])))
			title[--n] = '\0';
		while (n >= 3 && (str_istarts(title + n - 3, "\xE2\x80\x94") ||
		                  str_istarts(title + n - 3, "\xE2\x80\x93"))) {
			n -= 3;
			title[n] = '\0';
			while (n > 0 && title[n - 1] == ' ')
				title[--n] = '\0';
		}
		return;
	}
	(void)fields_then_note(title, f);
}

/* ---- state markers anywhere ---- */

static const struct { const char *mark; int state; } emoji[] = {
	{ "\xE2\x9C\x85", ITEM_STATE_DONE },            /* ✅ U+2705 */
	{ "\xE2\x9C\x94\xEF\xB8\x8F", ITEM_STATE_DONE },/* ✔️ */
	{ "\xE2\x9C\x94", ITEM_STATE_DONE },            /* ✔ U+2714 */
	{ "\xE2\x98\x91\xEF\xB8\x8F", ITEM_STATE_DONE },/* ☑️ */
	{ "\xE2\x98\x91", ITEM_STATE_DONE },            /* ☑ U+2611 */
	{ "\xE2\x9C\x93", ITEM_STATE_DONE },            /* ✓ U+2713 */
	{ "\xF0\x9F\x9A\xA7", ITEM_STATE_IN_PROGRESS }, /* 🚧 U+1F6A7 */
	{ "\xE2\x8F\xB3", ITEM_STATE_IN_PROGRESS },     /* ⏳ U+23F3 */
};

static const char *const upper_marks[] = { "DONE", "FIXED", "COMPLETED", "COMPLETE",
                                           "RESOLVED", "WONTFIX", "WIP", "TODO", NULL };

static void cut(char *s, size_t at, size_t len)
{
	memmove(s + at, s + at + len, strlen(s + at + len) + 1);
}

static void set_state(int *state, int st)
{
	if (*state < 0)
		*state = st;
}

/* "(done)", "[DONE]", "(in progress)" anywhere: removed. */
static bool bracket_marker(char *s, int *state)
{
	for (char *p = s; *p; p++) {
		if (*p != '(' && *p != '[')
			continue;
		const char *e = strchr(p + 1, *p == '(' ? ')' : ']');
		if (!e || e - p > 24 || e == p + 1)
			continue;
		char *inner = xstrndup(p + 1, (size_t)(e - p - 1));
		char *c = impt_collapse(inner);
		int st = impt_state(c, false);
		/* "(Done in #123)", "(completed 2026-03-01)": the first one or
		 * two words */
		for (size_t words = 1; st < 0 && words <= 2; words++) {
			char *sp = c;
			for (size_t k = 0; k < words && sp; k++)
				sp = strchr(sp + (k > 0), ' ');
			if (!sp)
				break;
			char *head = xstrndup(c, (size_t)(sp - c));
			st = impt_state(head, false);
			free(head);
		}
		bool generic = !strcasecmp(c, "x") || !strcasecmp(c, "new") ||
		               !strcasecmp(c, "open") || !c[0];
		free(inner);
		free(c);
		if (st >= 0 && !generic) {
			set_state(state, st);
			cut(s, (size_t)(p - s), (size_t)(e - p + 1));
			return true;
		}
	}
	return false;
}

static bool upper_marker(char *s, int *state)
{
	for (size_t i = 0; upper_marks[i]; i++) {
		size_t l = strlen(upper_marks[i]);
		for (char *p = strstr(s, upper_marks[i]); p; p = strstr(p + 1, upper_marks[i])) {
			bool left = p == s || (!isalnum((unsigned char)p[-1]) && p[-1] != '-' &&
			                       p[-1] != '_');
			bool right = !isalnum((unsigned char)p[l]) && p[l] != '-' && p[l] != '_';
			if (!left || !right)
				continue;
			set_state(state, impt_state(upper_marks[i], false));
			cut(s, (size_t)(p - s), l);
			return true;
		}
	}
	return false;
}

/* A trailing "- Done", ", completed", ": Fixed" (any case). */
static bool trailing_marker(char *s, int *state)
{
	size_t n = strlen(s);
	for (size_t i = n; i > 0; i--) {
		char c = s[i - 1];
		if (c != '-' && c != ',' && c != ':' && c != ';' && (unsigned char)c != 0x94 &&
		    (unsigned char)c != 0x93)
			continue;
		char *tail = impt_collapse(s + i);
		int st = tail[0] ? impt_state(tail, false) : -1;
		bool generic = !strcasecmp(tail, "x") || !strcasecmp(tail, "new") ||
		               !strcasecmp(tail, "open");
		free(tail);
		if (st < 0 || generic || i < 2)
			return false;
		bool dash = (unsigned char)c >= 0x80;
		if (dash && !(i >= 3 && (unsigned char)s[i - 3] == 0xE2 &&
		              (unsigned char)s[i - 2] == 0x80))
			return false;
		size_t at = dash ? i - 3 : i - 1;
		if (s[at > 0 ? at - 1 : 0] != ' ' && c != ':' && c != ',')
			return false;
		set_state(state, st);
		s[at] = '\0';
		/* "... Due: 2026-02-03. Status: closed": the key goes too */
		size_t e = strlen(s);
		while (e > 0 && s[e - 1] == ' ')
			e--;
		if ((e >= 6 && strncasecmp(s + e - 6, "status", 6) == 0 &&
		     (e == 6 || s[e - 7] == ' ')) ||
		    (e >= 5 && strncasecmp(s + e - 5, "state", 5) == 0 && (e == 5 || s[e - 6] == ' ')))
			s[e - (tolower((unsigned char)s[e - 1]) == 's' ? 6 : 5)] = '\0';
		return true;
	}
	return false;
}

void impf_state_markers(char *s, int *state)
{
	bool any = false;
	for (size_t k = 0; k < ARRAY_SIZE(emoji); k++) {
		char *p;
		while ((p = strstr(s, emoji[k].mark))) {
			set_state(state, emoji[k].state);
			cut(s, (size_t)(p - s), strlen(emoji[k].mark));
			any = true;
		}
	}
	for (int guard = 0; guard < 4 && (bracket_marker(s, state) || upper_marker(s, state));
	     guard++)
		any = true;
	any = trailing_marker(s, state) || any;
	if (any) {
		/* "DONE: Revoke keys" -> "Revoke keys" */
		size_t lead = strspn(s, " :;-|");
		memmove(s, s + lead, strlen(s + lead) + 1);
		char *c = impt_collapse(s);
		memcpy(s, c, strlen(c) + 1);   /* collapsing never lengthens */
		free(c);
	}
}
