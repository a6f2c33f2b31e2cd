/* impmatch.c — match re-imported document items to ledger items (see
 * impmatch.h for the rules).  Ticket and key look-ups go through sorted
 * arrays (O(n log n)); the similarity pass compares only what is left. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "impmatch.h"

struct keyed {
	const char *key;
	size_t row;
};

static int keyed_cmp(const void *a, const void *b)
{
	const struct keyed *x = a, *y = b;
	int c = strcasecmp(x->key, y->key);
	return c ? c : (x->row > y->row) - (x->row < y->row);
}

/* First entry with key k in the sorted v, or NULL. */
static const struct keyed *find(const struct keyed *v, size_t n, const char *k)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (strcasecmp(v[mid].key, k) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < n && strcasecmp(v[lo].key, k) == 0 ? &v[lo] : NULL;
}

static int str_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted, de-duplicated lower-case words of s. */
static char **words(const char *s, size_t *n)
{
	char *c = xstrdup(s ? s : "");
	char **v = NULL, *save = NULL;
	*n = 0;
	for (char *p = c; *p; p++)
		*p = isalnum((unsigned char)*p) || (unsigned char)*p >= 0x80
		     ? (char)tolower((unsigned char)*p) : ' ';
	for (char *w = strtok_r(c, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
		v = xrealloc(v, (*n + 1) * sizeof(*v));
		v[(*n)++] = xstrdup(w);
	}
	free(c);
	if (*n)
		qsort(v, *n, sizeof(*v), str_cmp);
	size_t o = 0;
	for (size_t i = 0; i < *n; i++) {
		if (o > 0 && strcmp(v[o - 1], v[i]) == 0)
			free(v[i]);
		else
			v[o++] = v[i];
	}
	*n = o;
	return v;
}

static void words_free(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static double dice(char **a, size_t na, char **b, size_t nb)
{
	if (na + nb == 0)
		return 1.0;
	size_t i = 0, j = 0, both = 0;
	while (i < na && j < nb) {
		int c = strcmp(a[i], b[j]);
		both += c == 0;
		i += c <= 0;
		j += c >= 0;
	}
	return 2.0 * (double)both / (double)(na + nb);
}

double impm_similarity(const char *a, const char *b)
{
	size_t na, nb;
	char **wa = words(a, &na), **wb = words(b, &nb);
	double d = dice(wa, na, wb, nb);
	words_free(wa, na);
	words_free(wb, nb);
	return d;
}

static void by_ticket(const struct imp_postmortem *pm, const struct impm_row *rows,
                      size_t n_rows, long *match, bool *taken)
{
	size_t n = 0;
	for (size_t r = 0; r < n_rows; r++)
		n += rows[r].n_tickets;
	struct keyed *v = xcalloc(n ? n : 1, sizeof(*v));
	n = 0;
	for (size_t r = 0; r < n_rows; r++)
		for (size_t t = 0; t < rows[r].n_tickets; t++)
			v[n++] = (struct keyed){ rows[r].tickets[t], r };
	qsort(v, n, sizeof(*v), keyed_cmp);
	for (size_t i = 0; i < pm->n_items; i++) {
		const struct imp_item *it = &pm->items[i];
		for (size_t k = 0; k < it->n_refs && match[i] < 0; k++) {
			char *key = xasprintf("%s#%s", it->refs[k].target, it->refs[k].number);
			for (const struct keyed *e = find(v, n, key);
			     e && e < v + n && strcasecmp(e->key, key) == 0 && match[i] < 0; e++) {
				if (!taken[e->row]) {
					match[i] = (long)e->row;
					taken[e->row] = true;
				}
			}
			free(key);
		}
	}
	free(v);
}

static void by_key(const struct imp_postmortem *pm, const struct impm_row *rows,
                   size_t n_rows, long *match, bool *taken)
{
	struct keyed *v = xcalloc(n_rows ? n_rows : 1, sizeof(*v));
	size_t n = 0;
	for (size_t r = 0; r < n_rows; r++)
		if (rows[r].import_key && !taken[r])
			v[n++] = (struct keyed){ rows[r].import_key, r };
	qsort(v, n, sizeof(*v), keyed_cmp);
	for (size_t i = 0; i < pm->n_items; i++) {
		if (match[i] >= 0)
			continue;
		const struct keyed *e = find(v, n, pm->items[i].import_key);
		/* keys are case-sensitive hex / ids: require the exact key */
		for (; e && e < v + n && strcasecmp(e->key, pm->items[i].import_key) == 0; e++) {
			if (!taken[e->row] && strcmp(e->key, pm->items[i].import_key) == 0) {
				match[i] = (long)e->row;
				taken[e->row] = true;
				break;
			}
		}
	}
	free(v);
}

static void by_similarity(const struct imp_postmortem *pm, const struct impm_row *rows,
                          size_t n_rows, long *match, bool *taken)
{
	size_t left_items = 0, left_rows = 0;
	for (size_t i = 0; i < pm->n_items; i++)
		left_items += match[i] < 0;
	for (size_t r = 0; r < n_rows; r++)
		left_rows += !taken[r];
	if (left_items == 0 || left_rows == 0 || left_items * left_rows > IMPM_MAX_PAIRS)
		return;
	size_t *nw = xcalloc(n_rows, sizeof(*nw));
	char ***rw = xcalloc(n_rows, sizeof(*rw));
	for (size_t r = 0; r < n_rows; r++)
		if (!taken[r])
			rw[r] = words(rows[r].title, &nw[r]);
	for (size_t i = 0; i < pm->n_items; i++) {
		if (match[i] >= 0)
			continue;
		size_t ni;
		char **iw = words(pm->items[i].fields.v[ITEM_F_TITLE], &ni);
		long best = -1;
		double best_sim = 0;
		int best_dist = 0;
		for (size_t r = 0; r < n_rows; r++) {
			if (taken[r])
				continue;
			double s = dice(iw, ni, rw[r], nw[r]);
			int dist = abs(rows[r].position - pm->items[i].position);
			if (s >= IMPM_MIN_SIMILARITY &&
			    (best < 0 || s > best_sim || (s == best_sim && dist < best_dist))) {
				best = (long)r;
				best_sim = s;
				best_dist = dist;
			}
		}
		if (best >= 0) {
			match[i] = best;
			taken[best] = true;
		}
		words_free(iw, ni);
	}
	for (size_t r = 0; r < n_rows; r++)
		words_free(rw[r], nw[r]);
	free(rw);
	free(nw);
}

void impm_match(const struct imp_postmortem *pm, const struct impm_row *rows, size_t n_rows,
                long *match)
{
	bool *taken = xcalloc(n_rows ? n_rows : 1, sizeof(*taken));
	for (size_t i = 0; i < pm->n_items; i++)
		match[i] = -1;
	by_ticket(pm, rows, n_rows, match, taken);
	by_key(pm, rows, n_rows, match, taken);
	by_similarity(pm, rows, n_rows, match, taken);
	free(taken);
}

void impm_moves(const struct imp_postmortem *pm, const struct impm_row *rows, size_t n_rows,
                const long *match, bool *moves)
{
	struct keyed *v = xcalloc(pm->n_items ? pm->n_items : 1, sizeof(*v));
	for (size_t i = 0; i < pm->n_items; i++) {
		v[i] = (struct keyed){ pm->items[i].import_key, i };
		if (match[i] >= 0 && strcmp(rows[match[i]].import_key, pm->items[i].import_key) != 0)
			moves[match[i]] = true;
	}
	qsort(v, pm->n_items, sizeof(*v), keyed_cmp);
	for (size_t r = 0; r < n_rows; r++) {
		const struct keyed *e = find(v, pm->n_items, rows[r].import_key);
		for (; e && e < v + pm->n_items && !moves[r] &&
		       strcasecmp(e->key, rows[r].import_key) == 0; e++)
			moves[r] = strcmp(e->key, rows[r].import_key) == 0 && match[e->row] != (long)r;
	}
	free(v);
}
