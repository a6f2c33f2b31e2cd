/* jira_wiki.h — the description of an action item (Markdown, item.h) as
 * Jira Data Center's wiki markup and back, and the normaliser the Jira
 * connector declares for its lossy description field on Data Center.
 *
 * REST v2 (Jira Server / Data Center) takes and returns `description` and
 * comment bodies as a string of wiki markup (Atlassian, "Text Formatting
 * Notation Help", jira.atlassian.com/secure/WikiRendererHelpAction.jspa;
 * "JIRA REST API v2 examples", developer.atlassian.com/server/jira/
 * platform/jira-rest-api-examples/: "description": "Creating of an issue
 * using ids for projects and issue types using the REST API").  The
 * notation used here:
 *   hN. heading (N 1..6)          *strong*  _emphasis_  {{monospace}}
 *   * bullet / # numbered items, nested by repeating (** , ##, *#)
 *   {code:lang} ... {code}        {noformat} ... {noformat}
 *   {quote} ... {quote}, bq. one paragraph quoted
 *   ----  a rule                   [text|url], [url] links
 *   [~username]  a mention (kept as it is, both ways)
 *   {*}strong{*} (and {_}..{_}) inside a word; \x: x taken literally;
 *   a newline inside a paragraph: a line break; a blank line: a new one.
 * Both directions go through the ADF tree of jira_adf.h (Markdown -> ADF
 * -> wiki, wiki -> ADF -> Markdown), so the Markdown side is the one the
 * Cloud path already writes and reads.
 *
 * What survives a round trip: headings, paragraphs, emphasis, strong,
 * inline code, links, bullet and numbered lists (nested), code with its
 * language, quotes, rules.  What does not (hence CONN_CAP_LOSSY): what
 * the ADF path loses (jira_adf.h), plus: a list item holds one paragraph
 * (further paragraphs join it with a line break; code or quotes inside an
 * item follow the list), quotes do not nest, an ordered list starts at 1,
 * '|' and ']' in a link's URL are percent-encoded.  Wiki notation
 * closeloop does not write (tables, colours, panels, images, -strike-,
 * +underline+, ^sup^, ~sub~, ??citation??, macros) reads as its text.
 */
#ifndef CLOSELOOP_JIRA_WIKI_H
#define CLOSELOOP_JIRA_WIKI_H

#include <json-c/json.h>
#include "util.h"

/* An ADF document (jira_adf.h's shape) as wiki markup.  Returns 0 with
 * *out (heap, "" for an empty document), or -ENOSPC when it outgrows the
 * buffer cap (16 MiB). */
int jira_wiki_from_adf(struct json_object *doc, char **out) MUST_CHECK;

/* Wiki markup (NUL-terminated; NULL = empty) as an ADF document.  Never
 * fails: text that is not notation is text.  Caller puts. */
struct json_object *jira_wiki_to_adf(const char *wiki);

/* Markdown md -> wiki markup (heap), or NULL when md4c gives up or the
 * text outgrows the cap. */
char *jira_wiki_from_markdown(const char *md);

/* Wiki markup -> Markdown (heap, "" for nothing), or NULL when the text
 * outgrows the cap. */
char *jira_wiki_to_markdown(const char *wiki);

/* The description as it reads after round trips through Jira Data
 * Center (md -> wiki -> Markdown), repeated until it stops changing (at
 * most 8): a fixed point, so a value and its own round trip normalise
 * alike.  NULL for NULL or a text that comes back empty.  Heap. */
char *jira_wiki_description_normalise(const char *md);

/* Shared by jira_wiki.c and jira_wiki_read.c: the length of a mention
 * "[~name]" at s (name: letters, digits, . _ @ - :), else 0; and whether
 * c belongs to a word (letters, digits, any UTF-8 byte), which decides
 * where *strong* and _emphasis_ may open and close. */
size_t jira_wiki_mention_len(const char *s, size_t len);
bool jira_wiki_word_char(char c);

#endif
