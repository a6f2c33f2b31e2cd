/* impmatch.h — which ledger item a re-imported document item is.
 *
 * An item keeps its identity when its wording changes.  Rules, in order
 * (each only between items not matched yet):
 *   1. ticket: the document item names a ticket (owner/repo#N) that one
 *      of the postmortem's ledger items is linked to (reference or
 *      managed link);
 *   2. key: the same import key (the normalised title's hash, or "id:AI-1"
 *      when the document gives the item an explicit id);
 *   3. similarity: the ledger item whose imported title shares the most
 *      words with the new title (Dice coefficient of the word sets, at
 *      least IMPM_MIN_SIMILARITY), ties to the nearest position — so
 *      editing a word updates the item and reordering does not swap
 *      items.  Skipped when more than IMPM_MAX_PAIRS pairs would have to
 *      be compared (those items are then new / removed).
 * Pure: no database (impstore.c reads the ledger rows and applies it).
 */
#ifndef CLOSELOOP_IMPMATCH_H
#define CLOSELOOP_IMPMATCH_H

#include <stdbool.h>
#include <stddef.h>
#include "importer.h"

#define IMPM_MIN_SIMILARITY 0.5
#define IMPM_MAX_PAIRS 4000000

/* One item of the postmortem as the ledger has it. */
struct impm_row {
	const char *import_key;
	const char *title;      /* the title the document had at the last import */
	int position;
	const char *const *tickets;   /* "owner/repo#N" of its links */
	size_t n_tickets;
};

/* Dice coefficient of the lower-cased word sets of a and b, 0..1. */
double impm_similarity(const char *a, const char *b);
/* For each document item i, match[i] = index of its ledger row, or -1. */
void impm_match(const struct imp_postmortem *pm, const struct impm_row *rows, size_t n_rows,
                long *match);

/* moves[r] = true for every ledger row whose key must change: matched to
 * a document item with another key, or holding a key that another
 * document item takes (n_rows entries, zeroed by the caller). */
void impm_moves(const struct imp_postmortem *pm, const struct impm_row *rows, size_t n_rows,
                const long *match, bool *moves);

#endif
