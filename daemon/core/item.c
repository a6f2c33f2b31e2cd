/* item.c — see item.h */
#include "item.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

static const char *const field_names[ITEM_F__COUNT] = {
	"title", "description", "state", "priority", "type", "owner", "due_date",
};
static const char *const state_names[] = { "open", "in_progress", "done", "wont_do" };
static const char *const type_names[] = { "prevent", "detect", "mitigate", "process", "other" };

const char *item_field_name(enum item_field f)
{
	if ((unsigned)f >= ITEM_F__COUNT)
		abort();
	return field_names[f];
}

int item_field_from_name(const char *name)
{
	for (int i = 0; name && i < ITEM_F__COUNT; i++)
		if (strcmp(name, field_names[i]) == 0)
			return i;
	return -1;
}

const char *item_state_name(enum item_state s)
{
	if ((unsigned)s >= ARRAY_SIZE(state_names))
		abort();
	return state_names[s];
}

int item_state_parse(const char *s)
{
	for (size_t i = 0; s && i < ARRAY_SIZE(state_names); i++)
		if (strcmp(s, state_names[i]) == 0)
			return (int)i;
	return -1;
}

bool item_state_closed(const char *s)
{
	return str_eq(s, "done") || str_eq(s, "wont_do");
}

bool item_priority_valid(const char *p)
{
	return !p || (strlen(p) == 2 && p[0] == 'P' && p[1] >= '0' && p[1] <= '3');
}

bool item_type_valid(const char *t)
{
	for (size_t i = 0; t && i < ARRAY_SIZE(type_names); i++)
		if (strcmp(t, type_names[i]) == 0)
			return true;
	return false;
}

int item_fields_validate(const struct item_fields *f, const char **err)
{
	const char *e = NULL;
	if (!f->v[ITEM_F_TITLE] || !f->v[ITEM_F_TITLE][0])
		e = "title: must not be empty";
	else if (item_state_parse(f->v[ITEM_F_STATE]) < 0)
		e = "state: expected open, in_progress, done or wont_do";
	else if (!item_priority_valid(f->v[ITEM_F_PRIORITY]))
		e = "priority: expected P0, P1, P2 or P3";
	else if (f->v[ITEM_F_TYPE] && !item_type_valid(f->v[ITEM_F_TYPE]))
		e = "type: expected prevent, detect, mitigate, process or other";
	else if (f->v[ITEM_F_DUE_DATE] && !date_valid(f->v[ITEM_F_DUE_DATE]))
		e = "due_date: expected a date YYYY-MM-DD";
	if (err)
		*err = e;
	return e ? -EINVAL : 0;
}

void item_fields_init(struct item_fields *f)
{
	memset(f, 0, sizeof(*f));
}

void item_fields_free(struct item_fields *f)
{
	for (int i = 0; i < ITEM_F__COUNT; i++) {
		free(f->v[i]);
		f->v[i] = NULL;
	}
}

void item_fields_set(struct item_fields *f, enum item_field which, const char *v)
{
	str_replace(&f->v[which], v);
}

void item_fields_copy(struct item_fields *dst, const struct item_fields *src)
{
	for (int i = 0; i < ITEM_F__COUNT; i++)
		str_replace(&dst->v[i], src->v[i]);
}

unsigned item_fields_diff(const struct item_fields *a, const struct item_fields *b)
{
	unsigned m = 0;
	for (int i = 0; i < ITEM_F__COUNT; i++)
		if (!str_eq(a->v[i], b->v[i]))
			m |= ITEM_FIELD_BIT(i);
	return m;
}

struct json_object *item_fields_to_json(const struct item_fields *f)
{
	struct json_object *o = json_object_new_object();
	for (int i = 0; i < ITEM_F__COUNT; i++)
		json_object_object_add(o, field_names[i],
		                       f->v[i] ? json_object_new_string(f->v[i]) : NULL);
	return o;
}

int item_fields_from_json(struct item_fields *f, struct json_object *obj)
{
	if (!obj || !json_object_is_type(obj, json_type_object))
		return -EINVAL;
	for (int i = 0; i < ITEM_F__COUNT; i++) {
		struct json_object *v = NULL;
		if (!json_object_object_get_ex(obj, field_names[i], &v) || !v) {
			str_replace(&f->v[i], NULL);
			continue;
		}
		if (!json_object_is_type(v, json_type_string))
			return -EINVAL;
		str_replace(&f->v[i], json_object_get_string(v));
	}
	return 0;
}
