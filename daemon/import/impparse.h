/* impparse.h — the importer's internal interface between its files:
 *   impclass.c  what a heading or bold label means (action section,
 *               excluded section, group horizon / state / type);
 *   impwalk.c   the document walk: sections, label lists, tables, inline
 *               "**Action item:**" paragraphs -> raw candidates;
 *   impitem.c   a raw candidate -> an imp_item (title, state, fields);
 *   impfield.c  inline fields in an item's text (owner, due, estimate);
 *   impmeta.c   postmortem metadata: front matter, "Key: value" lines,
 *               templated-file clean-up.
 * Nothing here is used outside daemon/import/.
 */
#ifndef CLOSELOOP_IMPPARSE_H
#define CLOSELOOP_IMPPARSE_H

#include <stdbool.h>
#include <stddef.h>
#include "importer.h"
#include "mdscan.h"
#include "util.h"

#define IMP_TITLE_MAX 200   /* bytes; longer titles are cut (impitem.c) */

/* ---- impclass.c ---- */

enum impc_class {
	IMPC_NONE = 0,   /* a heading that says nothing about action items */
	IMPC_ACTIONS,    /* "Action items", "Prevention", "Next steps", ... */
	IMPC_EXCLUDED,   /* "Lessons learned", "Follow-up timeline", "What went well" */
};

struct impc_info {
	enum impc_class cls;
	const char *horizon;   /* "Immediate", "Short-term", "Medium-term", "Long-term", NULL */
	int state;             /* enum item_state named by the text, -1 */
	const char *type;      /* "prevent", "detect", "mitigate", "process", NULL */
	bool weak;             /* EXCLUDED only as a heading of its own ("Meeting notes") */
};

/* Classify a heading or label text (any case, punctuation ignored). */
void impc_classify(const char *text, struct impc_info *out);
/* True when text is only group words ("Review actions", "Short-term",
 * "Immediate actions (completed)"): a container of items, not an item. */
bool impc_is_group(const char *text);

/* ---- impwalk.c / impitem.c ---- */

enum imp_col {
	COL_OTHER = 0,   /* unrecognised: kept as "Header: value" in the description */
	COL_TITLE,
	COL_DESC,
	COL_TYPE,
	COL_OWNER,
	COL_PRIORITY,
	COL_TICKET,
	COL_DUE,
	COL_STATUS,
	COL_ID,          /* an explicit item id ("AI-1"): the item's identity */
	COL__COUNT
};

enum raw_src {
	RAW_LIST,     /* a list item under an action heading */
	RAW_TABLE,    /* a row of an action-items table */
	RAW_LABEL,    /* a list item under a bold action label */
	RAW_INLINE,   /* "**Action item:** text" in a paragraph or list item */
};

/* One action item candidate before its fields are decided. */
struct raw {
	const struct mds_text *text;   /* the title source (list item / title cell) */
	size_t skip;                   /* leading bytes of text that are a label */
	char task;                     /* 0, ' ', 'x' */
	const char *cols[COL__COUNT];  /* cell texts of recognised columns */
	const struct mds_text *cells;  /* the row, for markers in any cell */
	size_t n_cells;
	struct buf extra;              /* "Header: value" lines of other columns */
	struct buf nested;             /* "- child" lines */
	struct imp_ticket_ref *refs;
	size_t n_refs;
	struct imp_ticket_ref *xrefs;  /* tickets in other trackers (impxref.h) */
	size_t n_xrefs;
	char **links;                  /* other link targets (kept in the description) */
	size_t n_links;
	char **bare;                   /* "123" of a bare "#123" when the document
	                                  names no repository (imp_resolve_bare) */
	size_t n_bare;
	int line;
	enum raw_src src;
	int grp_state;                 /* from the group heading or label, -1 */
	const char *horizon;           /* from the group, static, or NULL */
	const char *grp_type;          /* from the group, static, or NULL */
	bool label_only;               /* an ordered item whose text is a bold label */
	bool markup;                   /* an HTML table row or a front-matter entry */
	bool head_fields;              /* a sub-heading item: field bullets were read */
	int list, depth;               /* list ordinal and depth (list items) */
	int group;                     /* heading group it was found in */
	int title_col, ticket_col;     /* table rows: cell indexes, -1 */
};

void raw_free(struct raw *r);
/* Decide one item's fields (impitem.c).  Returns false for a candidate
 * with no title. */
bool impi_build(const struct raw *r, struct imp_item *it);

struct parse {
	const char *name;
	struct imp_postmortem *pm;
	size_t items_cap;
	struct raw *raws;              /* the open context's candidates */
	size_t n_raws, raws_cap;
	int sec_level;                 /* 0: not in an action-items heading section */
	int sec_line;
	int first_empty_sec_line;      /* a section that yielded nothing */
	int n_sections;                /* action contexts seen (headings, labels, tables) */
	int sub_level;                 /* level of the open group heading inside it, 0 */
	bool sub_excluded;             /* ... which is not action items */
	int group;                     /* counts headings: candidates of one group */
	struct impc_info grp;          /* the open group's horizon / state / type */
	int base_depth;                /* list depth whose items are action items, -1 */
	int label_depth;               /* depth of the label item heading them, -1 */
	struct impc_info label_grp;    /* that label's group */
	bool label_excluded;           /* a "**What went well**" label: skip its list */
	int label_para;                /* 1: an action label paragraph, lists follow */
	int table;                     /* table ordinal being read, -1 */
	enum imp_col *cols;            /* its column kinds */
	const char **col_heads;        /* its header texts (borrowed) */
	size_t n_cols;
	bool action_table;
	bool table_ctx;                /* an action table outside any action section */
	struct mds_node *fm_nodes;     /* front matter action items as a table
	                                  (impmeta.c), put before the body */
	size_t n_fm_nodes, fm_nodes_cap;
	char *meta_reference;
	char *repo;                    /* owner/repo for bare #N, or NULL */
	long head_item;                /* raws[] index of a sub-heading that may be
	                                  an item ("### AI-1: Fix X" with "- Owner:"
	                                  bullets under it), -1 */
	long inline_item;              /* raws[] index of an inline item paragraph
	                                  ("Action point: X") that a status bullet
	                                  ("- This has been done.") may follow, -1 */
};

/* Walk the scanned document, filling p->pm->items (impwalk.c). */
void imp_walk(struct parse *p, const struct mds_doc *doc);
/* Append sep (when b is not empty) and s to b; aborts past the cap. */
void imp_add_part(struct buf *b, const char *sep, const char *s);

/* ---- impfield.c ---- */

/* Fields found in an item's text. */
struct impf_fields {
	char *owner;          /* heap, or NULL */
	char due[11];         /* YYYY-MM-DD or "" */
	char due_md[6];       /* "MM-DD" of a due day written without a year, or "" */
	int due_days;         /* relative due ("2 weeks" = 14), 0 when none */
	char *due_text;       /* the relative due as written, heap, or NULL */
	char *estimate;       /* "2d", "20m", heap, or NULL */
	const char *priority; /* static "P0".."P3", or NULL */
	int state;            /* enum item_state, -1 */
	char *ticket;         /* a tracker key "CHK-88" written among them, heap, or NULL */
	char *note;           /* free text after parenthesised fields, heap, or NULL */
};

void impf_free(struct impf_fields *f);
/* Cut the trailing run of field clauses off title, in place: "(@alice,
 * 2026-03-01, P1)", "- owner @maria, due 2026-09-30", "— @bob by
 * 2026-10-01", "Due: 2 weeks", "within 30 days", "[20m]", "(2d)".  A
 * leading estimate tag "[20m]" is cut too.  Stops at the first clause it
 * does not recognise, so ordinary words stay in the title. */
void impf_strip(char *title, struct impf_fields *f);
/* A whole "Key: value" line (a nested bullet, a description line) that is
 * only fields ("Owner: @x", "Due: 2026-09-30", "Status: done").  Returns
 * true and fills f when every part is a field. */
bool impf_line(const char *line, struct impf_fields *f);
/* Remove state markers found anywhere in s (✅ ✔️ ☑ 🚧, "[DONE]",
 * "(done)", upper-case DONE / FIXED / COMPLETED / RESOLVED words, a
 * trailing "- Done"), in place; sets *state when one is found. */
void impf_state_markers(char *s, int *state);

/* ---- impmeta.c ---- */

/* Blank out what is not Markdown, in place, keeping every newline so
 * that line numbers stay true: YAML front matter (read into p first; a
 * list under an action key such as "action_items:" or "follow_ups:"
 * becomes p->fm_nodes), ERB tags "<% ... %>" in .erb files. */
void impm_prepare(struct parse *p, char *text, size_t len);
/* A document that is a template to fill in, decided by its content (the
 * caller asks only when it yielded no action item): two or more kinds of
 * placeholder ("YYYY-MM-DD", "20xx-", "HH:MM", "[Name]", "[Date]",
 * "{Incident Title}", "XXX").  Returns the 1-based line of the first, 0
 * when it is not a template.  *what gets the placeholder (static). */
int impm_template_line(const char *text, size_t len, const char **what);
/* An item title that is a placeholder of a template: "[Action item 1]",
 * "{link to the issue}", "Action item 2", a Liquid / Jinja expression
 * "{{ item.title }}" or tag "{% endfor %}". */
bool impm_placeholder_title(const char *title);
/* Free nodes not handed to the document (mds_prepend). */
void impm_free_nodes(struct mds_node *nodes, size_t n);
/* Metadata from a block outside the action sections. */
void impm_block(struct parse *p, const struct mds_node *n);

#endif
