/* mdscan.h — flatten a Markdown document (parsed by md4c) into the few
 * blocks the postmortem importer reads: headings, paragraphs, list items
 * and table rows, in document order, each with its plain text, the link
 * targets inside it and the source line it starts on.
 *
 * md4c (https://github.com/mity/md4c) is a SAX-like parser: it calls back
 * on block and span enter/leave and on text.  mdscan keeps only inline
 * text (emphasis dropped, code spans kept verbatim, entities decoded, soft
 * and hard line breaks as '\n', inline HTML dropped except <br> as '\n'),
 * which is all the importer needs to recognise action items.  A <table>
 * written as HTML gives table rows as a Markdown table would (cells as
 * plain text, <a href> targets as links, its first row the header).  Parsed with
 * MD_FLAG_TABLES | MD_FLAG_TASKLISTS | MD_FLAG_STRIKETHROUGH |
 * MD_FLAG_PERMISSIVEURLAUTOLINKS, so bare URLs become links too.
 */
#ifndef CLOSELOOP_MDSCAN_H
#define CLOSELOOP_MDSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include "util.h"

enum mds_kind {
	MDS_HEADING,    /* level 1..6, text */
	MDS_PARA,       /* a paragraph outside list items and tables */
	MDS_LIST_ITEM,  /* depth 0 = top level; task = 0 | ' ' | 'x' */
	MDS_TABLE_ROW,  /* cells; table = ordinal of its table; header row first */
	MDS_CODE,       /* a fenced or indented code block outside list items and
	                   tables: its text verbatim (read for metadata only) */
};

/* Inline text with what the importer needs to know about its spans. */
struct mds_text {
	char *text;          /* plain text, never NULL after a scan ("" if empty) */
	size_t lead_strong;  /* length of a **strong** span that opens the text, else 0 */
	size_t trail_strong; /* bytes from the start of a **strong** span that closes
	                        the text (not the opening one) to the end, else 0 */
	bool struck;         /* every non-blank character is inside ~~strikethrough~~
	                        (or an unstruck link after it: "~~X~~ [T1](url)") */
	char **hrefs;        /* link targets (MD_SPAN_A href), in order */
	size_t n_hrefs;
};

struct mds_node {
	enum mds_kind kind;
	int line;            /* 1-based source line of the first text, 0 if unknown */
	int level;           /* MDS_HEADING */
	int depth;           /* MDS_LIST_ITEM */
	char task;           /* MDS_LIST_ITEM: 0 (not a task), ' ' or 'x' */
	bool ordered;        /* MDS_LIST_ITEM: in a numbered list */
	int list;            /* MDS_LIST_ITEM: ordinal of its list block, 0-based */
	int table;           /* MDS_TABLE_ROW: table ordinal, 0-based */
	bool header;         /* MDS_TABLE_ROW: the header row */
	bool markup;         /* MDS_TABLE_ROW: from an HTML <table> or front matter,
	                        not a Markdown table line */
	struct mds_text t;   /* HEADING, PARA, LIST_ITEM */
	struct mds_text *cells;  /* TABLE_ROW */
	size_t n_cells;
};

struct mds_doc {
	struct mds_node *nodes;
	size_t n_nodes;
};

/* Scan len bytes of Markdown (UTF-8; the caller validates the encoding).
 * Returns 0 with *out (free with mds_doc_free), or -EINVAL when md4c
 * reports a parse failure, -ENOSPC when a block's text exceeds the
 * buffer cap (16 MiB). */
int mds_scan(const char *text, size_t len, struct mds_doc **out) MUST_CHECK;
void mds_doc_free(struct mds_doc *doc);
/* Put n nodes (heap array, contents owned) before the document's first
 * node; doc takes the nodes' contents, the array itself is freed. */
void mds_prepend(struct mds_doc *doc, struct mds_node *nodes, size_t n);

#endif
