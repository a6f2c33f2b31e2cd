/* item.h — the canonical action item fields that reconcile keeps equal
 * between the ledger and every tracker.
 *
 * Every synced field is carried as a string (NULL = unset), so that the
 * three-way merge, the base snapshot (jsonb in external_link.base) and
 * the connectors all speak one shape.  Canonical values:
 *
 *   title        free text, never NULL for a real item
 *   description  free text (Markdown), may be NULL
 *   state        "open" | "in_progress" | "done" | "wont_do"
 *   priority     "P0" | "P1" | "P2" | "P3" | NULL
 *   type         "prevent" | "detect" | "mitigate" | "process" | "other"
 *   owner        ledger side: person handle from the directory (or the
 *                owner as written when the directory does not know it);
 *                in a connector's struct conn_remote: the tracker identity
 *                (GitHub login).  reconcile.c maps between the two.
 *   due_date     "YYYY-MM-DD" (a calendar date, no time zone) | NULL
 */
#ifndef CLOSELOOP_ITEM_H
#define CLOSELOOP_ITEM_H

#include <stdbool.h>
#include <stdint.h>
#include <json-c/json.h>
#include "util.h"

enum item_field {
	ITEM_F_TITLE = 0,
	ITEM_F_DESCRIPTION,
	ITEM_F_STATE,
	ITEM_F_PRIORITY,
	ITEM_F_TYPE,
	ITEM_F_OWNER,
	ITEM_F_DUE_DATE,
	ITEM_F__COUNT
};

#define ITEM_FIELD_BIT(f) (1u << (f))
#define ITEM_FIELDS_ALL ((1u << ITEM_F__COUNT) - 1u)

enum item_state {
	ITEM_STATE_OPEN = 0,
	ITEM_STATE_IN_PROGRESS,
	ITEM_STATE_DONE,
	ITEM_STATE_WONT_DO,
};

struct item_fields {
	char *v[ITEM_F__COUNT]; /* owned strings, NULL = unset */
};

/* "title", "description", "state", "priority", "type", "owner", "due_date"
 * — also the column names in action_item and the keys of base snapshots. */
const char *item_field_name(enum item_field f);
/* Returns the field or -1. */
int item_field_from_name(const char *name);

const char *item_state_name(enum item_state s);
/* Returns the state or -1 (accepts exactly the canonical names). */
int item_state_parse(const char *s);
/* True for done and wont_do. */
bool item_state_closed(const char *canonical_state);

/* Validation of canonical values; NULL is valid where the field allows it. */
bool item_priority_valid(const char *p);
bool item_type_valid(const char *t);
/* Returns 0 or -EINVAL and (if err) a static message naming the field. */
int item_fields_validate(const struct item_fields *f, const char **err) MUST_CHECK;

void item_fields_init(struct item_fields *f);
void item_fields_free(struct item_fields *f);
/* Copies v (NULL allowed). */
void item_fields_set(struct item_fields *f, enum item_field which, const char *v);
void item_fields_copy(struct item_fields *dst, const struct item_fields *src);
/* Bit mask of the fields where a and b differ (str_eq semantics). */
unsigned item_fields_diff(const struct item_fields *a, const struct item_fields *b);

/* JSON object {"title": ..., "due_date": null, ...}: all seven keys.
 * The caller owns the returned object (json_object_put). */
struct json_object *item_fields_to_json(const struct item_fields *f);
/* From such an object (missing keys = NULL).  Returns 0 or -EINVAL. */
int item_fields_from_json(struct item_fields *f, struct json_object *obj) MUST_CHECK;

#endif
