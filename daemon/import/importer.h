/* importer.h — read postmortem documents (Markdown, parsed with md4c) and
 * upsert their action items into the ledger.
 *
 * Parsing (imp_parse_*) is pure: no database.  It finds action items in
 *   - a table under an "Action items"-like heading (Action Items, Follow-ups,
 *     Corrective actions, Remediation, Review actions, Next steps ...), with
 *     columns recognised by name in any order, any subset, empty cells:
 *     Action Item / Action / Item / Task / Description, Type, Owner / Who /
 *     Assignee, Priority, Bug / Ticket / Issue / Link, Due / Due Date,
 *     Status / State;
 *   - bullet, numbered or checkbox lists under such a heading (nested
 *     bullets belong to their parent item's description);
 * status markers (DONE, TODO, [x], [ ], "(done)", ~~struck~~) map to state;
 * ticket references (GitHub issue/PR URLs, owner/repo#N) become
 * imp_ticket_ref entries — links to existing tickets, never new tickets.
 *
 * The postmortem reference is the document's own id when it has one
 * (DFDS "PM2021-004" from the file name, a "Reference:"/"ID:" line),
 * else the file name without extension.  Platform and team come from the
 * document ("Platform:", "Team:" lines/table rows) when it says them.
 *
 * Each item gets an import_key: a stable key within the postmortem —
 * "id:AI-1" when the document gives the item an explicit id, else the
 * normalised title's hash plus a counter for repeated titles — so that
 * re-importing changes nothing and editing a row's other cells updates
 * that item.  impstore.c also matches re-worded items by ticket and by
 * similarity (impmatch.h) before it uses the key.
 */
#ifndef CLOSELOOP_IMPORTER_H
#define CLOSELOOP_IMPORTER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <libpq-fe.h>
#include "item.h"
#include "util.h"

struct imp_ticket_ref {
	char *kind;     /* "github"; "jira" in imp_item.xrefs (impxref.h) */
	char *target;   /* "etcd-io/etcd" */
	char *number;   /* "14045" */
	char *url;      /* "https://github.com/etcd-io/etcd/issues/14045" */
	bool pull;      /* a pull request */
};

struct imp_item {
	char *import_key;
	int position;                 /* 1-based order in the document */
	struct item_fields fields;    /* owner = as written; state default "open" */
	struct imp_ticket_ref *refs;
	size_t n_refs;
	struct imp_ticket_ref *xrefs; /* tickets in other trackers (impxref.h) */
	size_t n_xrefs;
	int line;                     /* source line, for messages */
	char *horizon;                /* "Immediate" / "Short-term" / "Medium-term" / "Long-term" or NULL */
	char *estimate;               /* effort as written ("2d", "20m") or NULL */
	int due_days;                 /* "Due: 2 weeks" = 14 (resolved against the date), 0 */
	char due_md[6];               /* "MM-DD" of "by Mar 3" (resolved against the date), "" */
	char *explicit_id;            /* "AI-1" from an ID column or a leading "AI-1:", or NULL */
	int title_col, ticket_col;    /* table rows: 0-based cells of the title / ticket, -1 */
	bool markup;                  /* from an HTML table or front matter: links are
	                                 not written back there (impwrite.c) */
	char **bare;                  /* "123" of each bare "#123" the item names while
	                                 the document names no repository; references
	                                 once imp_resolve_bare knows one */
	size_t n_bare;
};

struct imp_postmortem {
	char *reference;     /* e.g. "PM2021-004" */
	char *title;         /* first H1, else file name */
	char *source_path;   /* as given */
	char *document_url;  /* may be NULL */
	char *platform;      /* from the document, or NULL */
	char *team;          /* from the document, or NULL */
	char *severity;      /* may be NULL */
	char *published_date;/* YYYY-MM-DD or NULL */
	char *incident_start;/* RFC 3339 or NULL */
	char *status;        /* front matter / "Status:" as written, or NULL */
	char *repository;    /* owner/repo that bare "#123" refers to, or NULL */
	char *problem_ref;   /* the incident's ServiceNow problem (number or
	                        sys_id; "problem:"), or NULL */
	bool reference_from_path; /* no id in the document: reference = file stem */
	struct imp_item *items;
	size_t n_items;
};

/* Parse Markdown text.  name is used for the reference fallback and in
 * messages.  Returns 0 with *out, or -EINVAL with err: "NAME: reason"
 * (e.g. "PMyyyy-nnn - Postmortem template.md: a template, not a
 * postmortem", "x.md: no action items found under any action-items
 * heading"). */
int imp_parse_text(const char *name, const char *text, size_t len,
                   struct imp_postmortem **out, char *err, size_t errlen) MUST_CHECK;
/* Read a whole file (at most 8 MiB) into *text (heap, NUL-terminated;
 * *len bytes).  Returns 0, or -errno / -EFBIG with err naming the path. */
int imp_read_file(const char *path, char **text, size_t *len, char *err,
                  size_t errlen) MUST_CHECK;
/* Read and parse a file (errors name the path). */
int imp_parse_file(const char *path, struct imp_postmortem **out,
                   char *err, size_t errlen) MUST_CHECK;
void imp_postmortem_free(struct imp_postmortem *pm);

struct imp_options {
	const char *platform;   /* --platform, else config default; may be NULL */
	const char *team;       /* --team, else config default; may be NULL */
	bool dry_run;
	bool write_back;        /* write each item's ticket link into the document */
	const char *repository; /* owner/name a bare "#123" refers to when neither the
	                           document nor its team's GitHub target names one
	                           (config defaults.target); may be NULL */
	const char *sn_connectors; /* "a, b": the ServiceNow connectors when more
	                              than one is configured (imp_sn_connectors),
	                              else NULL: a bare PRB number then needs the
	                              team routed to one of them */
};

struct config;
/* The names of cfg's ServiceNow connectors joined by ", " when there are
 * two or more (a bare number in a postmortem names none of them), else
 * NULL.  Heap string. */
char *imp_sn_connectors(const struct config *cfg);

struct imp_counts {
	int postmortems_new, postmortems_updated;
	int items_new, items_updated, items_unchanged;
	int refs_new;
};

/* Upsert one parsed postmortem in one transaction (blocking libpq).
 * Platform/team: the document's, else opt's.  Unknown owners are stored as
 * written.  Ticket references become external_link rows of kind
 * 'reference' (connector "github", target owner/repo, remote key
 * owner/repo#N) — never duplicated on re-import; reconcile later adopts a
 * reference whose repository a connector covers instead of creating a new
 * ticket.  Sets closeloop.source = 'import' so history names the importer.
 * With dry_run, prints what would be stored to out and writes nothing.
 * Returns 0 or -EIO with err. */
int imp_store(PGconn *c, const struct imp_postmortem *pm,
              const struct imp_options *opt, struct imp_counts *counts,
              FILE *out, char *err, size_t errlen) MUST_CHECK;

/* Write the ticket links of pm's items (managed links the ledger has, not
 * yet in the document) into the Markdown file at path, next to each item:
 * appended to a list item's first line as " ([owner/repo#N](URL))", into
 * an empty ticket cell of a table row, else after the title cell.  text
 * and len are the bytes pm was parsed from: when the file no longer has
 * exactly those bytes it is not written (-EAGAIN: changed since it was
 * read).  The file is replaced atomically (same directory, rename) with
 * its mode kept.  Returns the number of links written (0: nothing to
 * do, the file untouched) or a negative errno with err. */
int imp_write_back(PGconn *c, const char *path, const char *text, size_t len,
                   const struct imp_postmortem *pm, FILE *out, char *err,
                   size_t errlen) MUST_CHECK;

struct imp_run_stats {
	int files, skipped, failed;   /* read, not parsed (with the reason), not stored */
	int links_written;
	struct imp_counts total;
};

/* `closeloop import PATH...` (impcli.c): import files and directories
 * (walked recursively; non-Markdown files reported as skipped), print
 * one line per file and a summary on out, reasons for skipped files on
 * stderr.  Documents without an id of their own found in a directory
 * get the reference of their path relative to it. */
/* Is name a postmortem file name (.md, .markdown, .mdx, their .erb)? */
bool imp_markdown_name(const char *name);

/* Resolve every item's bare "#N" (imp_item.bare) against repo
 * ("owner/name") into references; the bare lists are emptied.  Returns
 * the number of references added. */
int imp_resolve_bare(struct imp_postmortem *pm, const char *repo);

/* Import one file (imp_run's step, also the daemon's watcher): read,
 * parse, name it relative to root (may be NULL), resolve bare "#N" (the
 * document's repository, else its team's GitHub target, else
 * opt->repository), store, write links back when asked.  One line per
 * outcome on out ("imported REF (PATH): ..."), reasons on errout
 * ("import: skipped PATH: ...", "import: PATH: not stored: ...").
 * Returns 0, -EINVAL (not a postmortem / unreadable: skipped) or -EIO
 * (not stored, or links not written: worth retrying); st counts it
 * either way. */
int imp_import_file(PGconn *c, const char *path, const char *root,
                    const struct imp_options *opt, FILE *out, FILE *errout,
                    struct imp_run_stats *st);

void imp_run(PGconn *c, char *const *paths, int n, const struct imp_options *opt, FILE *out,
             struct imp_run_stats *st);

#endif
