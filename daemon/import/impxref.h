/* impxref.h — tickets in trackers other than GitHub named in a postmortem
 * (docs/import.md "Ticket references"): Jira issues, by browse URL
 * anywhere in an action item's text or by bare key (OPS-12) in a table's
 * ticket column; ServiceNow problems and problem tasks, by record URL or
 * by number (PRB0040002, PTASK0040001) anywhere in an item's text.  They are kept apart from the GitHub references
 * (imp_item.xrefs, not refs): the URL stays content of the description,
 * and the reconcile push pass adopts the ticket when a configured
 * connector of that type serves its target (sql/023_team_routes.sql). */
#ifndef CLOSELOOP_IMPXREF_H
#define CLOSELOOP_IMPXREF_H

#include <stdbool.h>
#include <stddef.h>
#include "importer.h"

/* A Jira issue URL: http(s)://HOST[/CONTEXT]/browse/KEY-N (Jira Cloud and
 * Data Center both serve /browse/{issueKey}), anything after N that is
 * not part of the key ignored.  Fills ref: kind "jira", target the
 * project key "OPS", number the issue key "OPS-12", url as written up to
 * the key.
 * Or a ServiceNow record URL of any host: .../problem.do?sys_id=ID or
 * .../problem_task.do?..., alone or inside nav_to.do?uri= or the Next
 * Experience's /now/nav/ui/classic/params/target/ (percent-encoded there;
 * ServiceNow's classic form URLs), ID a sys_id (32 lower-case hex digits)
 * or, as sysparm_query=number=..., the record's number.  Fills ref: kind
 * "servicenow", target the table ("problem", "problem_task": a number or
 * sys_id names no assignment group), number the sys_id or number, url as
 * written (without trailing sentence punctuation).
 * Returns 0, or -EINVAL when url is neither. */
int impx_ref_from_url(const char *url, struct imp_ticket_ref *ref) MUST_CHECK;

/* Add every Jira or ServiceNow URL (impx_ref_from_url) in free text s to
 * *v (n entries), every ServiceNow number standing alone (PRB or PTASK,
 * then 4 to 12 digits: kind "servicenow", target "problem" or
 * "problem_task", no url), and, when keys is true (a ticket column's
 * cell), every bare Jira issue key too: a project key (an upper-case
 * letter, then up to 19 upper-case letters, digits or '_'), '-', 1 to 12
 * digits.  Standing alone: not inside a word, a path or a longer dashed
 * token such as CVE-2024-1234. */
void impx_refs_from_text(const char *s, bool keys, struct imp_ticket_ref **v, size_t *n);

#endif
