/* jira_adf.h — the description of an action item (Markdown, item.h) as
 * Jira Cloud's Atlassian Document Format (ADF) and back, and the normaliser
 * the Jira connector declares for its lossy description field.
 *
 * ADF facts (Atlassian, "Atlassian Document Format", developer.atlassian.com
 * /cloud/jira/platform/apis/document/structure/): a document is
 * {"type":"doc","version":1,"content":[block...]}; blocks used here are
 * paragraph, heading (attrs.level 1..6), bulletList / orderedList
 * (attrs.order) of listItem, codeBlock (attrs.language), blockquote and
 * rule; inline nodes are text (with marks strong, em, code, link
 * attrs.href) and hardBreak.  REST v3 takes and returns `description` and
 * comment bodies in this form.
 *
 * What survives a round trip: headings, paragraphs, emphasis, strong,
 * inline code, links, bullet and ordered lists (nested), fenced code with
 * its language, block quotes, rules.  What does not (hence CONN_CAP_LOSSY):
 * loose lists become tight, hard and soft line breaks become one kind,
 * setext headings become ATX, indented code becomes fenced, raw HTML is
 * text, and Markdown escapes are written where the text needs them.  ADF
 * nodes closeloop does not write (mentions, emoji, panels, tables, media)
 * come back as their text.
 */
#ifndef CLOSELOOP_JIRA_ADF_H
#define CLOSELOOP_JIRA_ADF_H

#include <json-c/json.h>
#include "util.h"

/* Markdown text md (NUL-terminated, may be NULL = empty) as an ADF
 * document.  Returns 0 with *out (caller puts), -EFBIG for text over 4 GiB,
 * or -EINVAL when md4c gives up. */
int jira_adf_from_markdown(const char *md, struct json_object **out) MUST_CHECK;

/* An ADF document as Markdown.  Returns 0 with *out (heap, "" for an
 * empty document), or -EINVAL with *err a static phrase saying what is
 * not ADF ("not an ADF document: type is not \"doc\""). */
int jira_adf_to_markdown(struct json_object *doc, char **out, const char **err) MUST_CHECK;

/* Append text s[0..len) with marks (an ADF "marks" array or NULL; taken
 * over) to the inline content array, joined to the previous text node
 * when that one has the same marks (md4c splits text at entities and
 * escapes; jira_wiki_read.c builds the same shape). */
void jira_adf_add_text(struct json_object *content, const char *s, size_t len,
                       struct json_object *marks);

/* The description as it reads after a round trip through Jira: md -> ADF
 * -> Markdown.  NULL for NULL or a text that comes back empty.  Heap. */
char *jira_description_normalise(const char *md);

#endif
