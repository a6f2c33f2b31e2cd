/* imptext.h — the importer's small string rules: how a cell or a list
 * item's text maps to a canonical field value, which status markers are
 * recognised, and how GitHub ticket references are read.  Pure functions
 * over UTF-8 strings; no Markdown here (mdscan.c) and no database
 * (impstore.c).
 *
 * Mappings (see also importer.h):
 *   state     done:        done fixed closed completed complete resolved
 *                          finished merged x
 *             in_progress: in progress wip ongoing started doing in review
 *             wont_do:     won't do / wont do / won't fix / wontfix dropped
 *                          cancelled canceled rejected not doing abandoned
 *             open:        todo to do open new not started planned pending
 *                          backlog, and an empty cell
 *   type      prevent(ion/ive) detect(ion) mitigate/mitigation process
 *             other — anything else is "other" and the text is kept in the
 *             description by the caller
 *   priority  P0..P3; critical/urgent/highest/blocker -> P0, high -> P1,
 *             medium/normal -> P2, low/lowest -> P3
 */
#ifndef CLOSELOOP_IMPTEXT_H
#define CLOSELOOP_IMPTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "importer.h"

/* New string: runs of white space (incl. newlines) become one space,
 * both ends trimmed.  s may be NULL (returns ""). */
char *impt_collapse(const char *s);
/* "", "-", "—", "n/a", "none", "tbd", "?" (any case): a cell that says
 * nothing. */
bool impt_placeholder(const char *s);
/* Status text -> enum item_state, or -1 when not recognised.  With
 * prefix_ok, "Done (in v3.6)" counts as done (a recognised phrase followed
 * by a non-letter); without, the whole text must be the phrase. */
int impt_state(const char *s, bool prefix_ok);
/* Type text -> canonical type, or NULL when not recognised. */
const char *impt_type(const char *s);
/* Priority text -> "P0".."P3", or NULL when not recognised. */
const char *impt_priority(const char *s);
/* First valid calendar date YYYY-MM-DD (or YYYY/MM/DD) inside s into
 * out; false if none. */
bool impt_find_date(const char *s, char out[11]);
/* A date written with the month's name at words w[0..n): "30 Nov 2026",
 * "November 20 , 2026" (a "," word allowed before the year), "Sept 3rd
 * 2026" -> out YYYY-MM-DD; returns the words used, 0 when not a date
 * (a year is required: "Oct 14" alone is ambiguous). */
int impt_words_date(char *const *w, size_t n, char out[11]);
/* The same in free text ("Oct 30, 2026" in a Due cell); false if none. */
bool impt_text_date(const char *s, char out[11]);
/* A day written without a year at w[0..n): "Mar 3", "3 March",
 * "March 29th" -> "MM-DD" in out (a day of a leap year); returns the words
 * used (2), 0 when w does not start with one or a year follows it (that is
 * impt_words_date's).  The year comes from the postmortem's date
 * (impt_resolve_monthday). */
int impt_words_monthday(char *const *w, size_t n, char out[6]);
/* The same anywhere in s (a table cell "Dec 13"), true when found. */
bool impt_text_monthday(const char *s, char out[6]);
/* The first day "MM-DD" on or after the date base "YYYY-MM-DD": the same
 * year when MM-DD is not before base's, else the next.  Writes
 * "YYYY-MM-DD" to out; false when base is not a date or the day does not
 * exist that year (29 February). */
bool impt_resolve_monthday(const char *base, const char *md, char out[11]);

/* Byte offset of the first invalid UTF-8 sequence in text, or -1
 * (RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF). */
long impt_utf8_invalid_at(const char *text, size_t len);

/* What impt_strip_markers found in an item's text. */
struct impt_marks {
	int state;        /* enum item_state, -1 when no marker */
	char *owner;      /* from "(@alice, due 2026-03-01)", or NULL */
	char due[11];     /* "" when none */
	const char *priority; /* static "P0".."P3", or NULL */
};

/* Remove status markers from a collapsed item text, in place: leading
 * "[x]", "[ ]", "(done)", "DONE:", "TODO -", bare upper-case DONE/TODO/WIP;
 * trailing "(done)", "- DONE", and a trailing parenthesised group made
 * only of recognised parts: a status word, @handle, "owner: x", "due[:]
 * YYYY-MM-DD", a bare date, P0..P3.  m->owner is heap (caller frees). */
void impt_strip_markers(char *s, struct impt_marks *m);
/* Remove trailing ticket references (URLs, owner/repo#N, #N, Phabricator
 * tasks T1234, tracker keys in brackets or parentheses "(OPS-12)", and
 * those in parentheses) and the separators before them, in place. */
void impt_strip_trailing_refs(char *s);
/* "CHK-88", "OPS-4471": a tracker's issue key (2-10 capitals or digits
 * starting with a capital, '-', 1-7 digits), the whole of w. */
bool impt_ticket_key(const char *w);

/* Parse a GitHub issue or pull request URL
 * (https://github.com/OWNER/REPO/issues/N or /pull/N, anything after N
 * ignored).  Returns 0 and fills ref (heap strings), or -EINVAL. */
int impt_ref_from_url(const char *url, struct imp_ticket_ref *ref) MUST_CHECK;
/* Add ref to *v (n entries) unless the same target#number is there; a
 * duplicate marks the kept entry pull when the new one is.  Takes
 * ownership of ref's strings. */
void impt_ref_add(struct imp_ticket_ref **v, size_t *n, struct imp_ticket_ref *ref);
/* Add every owner/repo#N and GitHub URL found in free text. */
void impt_refs_from_text(const char *s, struct imp_ticket_ref **v, size_t *n);
void impt_ref_free(struct imp_ticket_ref *ref);

/* Normalised title for the import key: ASCII lower case, collapsed white
 * space, trailing ".:;!" removed.  New string. */
char *impt_key_text(const char *title);
/* FNV-1a 64-bit (http://www.isthe.com/chongo/tech/comp/fnv/) as 16 hex
 * digits into out. */
void impt_fnv1a_hex(const char *s, char out[17]);

#endif
