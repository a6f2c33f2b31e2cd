/* directory.c — see directory.h.
 *
 * The file is parsed with libconfig and checked key by key: unknown keys
 * are errors (a typo such as "githb" must not silently drop a login), as
 * are duplicate handles / teams / platforms, duplicate GitHub logins
 * (GitHub logins are case-insensitive and person.github_login is unique
 * case-insensitively), teams naming an unknown platform, a team with a
 * connector but no target (or the reverse), a team's extra route
 * (also_to) without both connector and target or in a connector the team
 * already routes to, and a platform lead who is not a handle in the file.
 * Whether the connectors and targets exist is a question for the
 * configuration: dir_check_routes (check-config, directory load, daemon).  Messages are "FILE:LINE: what was expected".
 *
 * Storing: dir_store_sql is one statement of data-modifying CTEs that
 * upserts platforms, teams and people from $1::jsonb.  Existing rows are
 * updated only where a value IS DISTINCT FROM the file's, so loading the
 * same file twice writes nothing (no new row versions).  The file wins on
 * load: a team whose target was changed by SQL gets the file's target
 * back at the next load.  Nothing is deleted: people in the ledger but not
 * in the file get active = false; platforms and teams not in the file are
 * kept as they are.  A team's extra routes (table team_route) are the
 * file's: for a team in the file, routes it no longer names are removed
 * (the tickets already made stay linked).
 */
#include "directory.h"
#include "cfgfile.h"
#include "config.h"
#include "db.h"
#include "log.h"

#include <errno.h>
#include <json-c/json.h>
#include <libconfig.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

struct dctx {
	const char *path;
	char *err;
	size_t errlen;
};

/* Allowed keys per section, and which of them are required. */
struct dkey { const char *name; int type; bool required; };

static const struct dkey platform_keys[] = {
	{ "name", CONFIG_TYPE_STRING, true },
	{ "lead", CONFIG_TYPE_STRING, false },
};
static const struct dkey team_keys[] = {
	{ "name", CONFIG_TYPE_STRING, true },
	{ "platform", CONFIG_TYPE_STRING, true },
	{ "connector", CONFIG_TYPE_STRING, false },
	{ "target", CONFIG_TYPE_STRING, false },
	{ "also_to", CONFIG_TYPE_LIST, false },
};
static const struct dkey route_keys[] = {
	{ "connector", CONFIG_TYPE_STRING, true },
	{ "target", CONFIG_TYPE_STRING, true },
};
static const struct dkey person_keys[] = {
	{ "handle", CONFIG_TYPE_STRING, true },
	{ "name", CONFIG_TYPE_STRING, false },
	{ "email", CONFIG_TYPE_STRING, false },
	{ "github", CONFIG_TYPE_STRING, false },
	{ "jira_account_id", CONFIG_TYPE_STRING, false },
	{ "jira_username", CONFIG_TYPE_STRING, false },
	{ "servicenow_sys_id", CONFIG_TYPE_STRING, false },
	{ "active", CONFIG_TYPE_BOOL, false },
};

static int dfail(struct dctx *x, const config_setting_t *s, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int dfail(struct dctx *x, const config_setting_t *s, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	int rc = cfgfile_vfail(x->path, s, x->err, x->errlen, fmt, ap);
	va_end(ap);
	return rc;
}

static const char *dtype_name(int t)
{
	if (t == CONFIG_TYPE_LIST)
		return "a list ( { connector = \"...\"; target = \"...\"; }, ... )";
	return t == CONFIG_TYPE_BOOL ? "true or false" : "a string in double quotes";
}

/* Check the members of one entry (a group) against keys[]. */
static int check_entry(struct dctx *x, const config_setting_t *e, const char *section,
                       const struct dkey *keys, size_t n_keys)
{
	int n = config_setting_length(e);
	for (int i = 0; i < n; i++) {
		const config_setting_t *m = config_setting_get_elem(e, (unsigned)i);
		const char *name = config_setting_name(m);
		const struct dkey *k = NULL;
		for (size_t j = 0; j < n_keys; j++)
			if (strcmp(keys[j].name, name) == 0)
				k = &keys[j];
		if (!k) {
			char list[256] = "";
			size_t off = 0;
			for (size_t j = 0; j < n_keys && off < sizeof(list); j++)
				off += (size_t)snprintf(list + off, sizeof(list) - off, "%s%s",
				                        j ? ", " : "", keys[j].name);
			return dfail(x, m, "unknown key '%s' in %s (expected one of %s)", name,
			             section, list);
		}
		if (config_setting_type(m) != k->type)
			return dfail(x, m, "%s: '%s' must be %s", section, name, dtype_name(k->type));
		if (k->type == CONFIG_TYPE_STRING && !config_setting_get_string(m)[0])
			return dfail(x, m, "%s: '%s' must not be empty (leave the key out instead)",
			             section, name);
	}
	for (size_t j = 0; j < n_keys; j++)
		if (keys[j].required && !config_setting_get_member(e, keys[j].name))
			return dfail(x, e, "%s entry without '%s' (expected %s = \"...\";)", section,
			             keys[j].name, keys[j].name);
	return 0;
}

static char *member_str(const config_setting_t *e, const char *name)
{
	const char *v = NULL;
	if (config_setting_lookup_string(e, name, &v) != CONFIG_TRUE)
		return NULL;
	return xstrdup(v);
}

/* The list `name` at the top level: absent = empty; else a list of groups. */
static int section(struct dctx *x, const config_setting_t *root, const char *name,
                   const config_setting_t **out, int *n)
{
	const config_setting_t *s = config_setting_get_member(root, name);
	*out = s;
	*n = 0;
	if (!s)
		return 0;
	if (config_setting_type(s) != CONFIG_TYPE_LIST)
		return dfail(x, s, "'%s' must be a list ( { ... }, { ... } )", name);
	*n = config_setting_length(s);
	for (int i = 0; i < *n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		if (config_setting_type(e) != CONFIG_TYPE_GROUP)
			return dfail(x, e, "element %d of '%s' must be a group { ... }", i, name);
	}
	return 0;
}

static int parse_platforms(struct dctx *x, const config_setting_t *root, struct directory *d)
{
	const config_setting_t *s;
	int n, rc;
	if ((rc = section(x, root, "platforms", &s, &n)) < 0)
		return rc;
	d->platforms = xcalloc((size_t)n + 1, sizeof(*d->platforms));
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		if ((rc = check_entry(x, e, "platform", platform_keys, ARRAY_SIZE(platform_keys))) < 0)
			return rc;
		struct dir_platform *p = &d->platforms[d->n_platforms++];
		p->name = member_str(e, "name");
		p->lead = member_str(e, "lead");
		p->line = config_setting_source_line(e);
		for (size_t j = 0; j + 1 < d->n_platforms; j++)
			if (strcmp(d->platforms[j].name, p->name) == 0)
				return dfail(x, e, "duplicate platform '%s' (first at line %d; expected "
				             "unique names)", p->name, d->platforms[j].line);
	}
	return 0;
}

/* A team's also_to list: groups of connector + target, one per connector,
 * none in the team's own connector. */
static int parse_also(struct dctx *x, const config_setting_t *e, struct dir_team *t)
{
	const config_setting_t *l = config_setting_get_member(e, "also_to");
	int n = l ? config_setting_length(l) : 0, rc;
	t->also = xcalloc((size_t)n + 1, sizeof(*t->also));
	for (int i = 0; i < n; i++) {
		const config_setting_t *g = config_setting_get_elem(l, (unsigned)i);
		if (config_setting_type(g) != CONFIG_TYPE_GROUP)
			return dfail(x, g, "team '%s': element %d of 'also_to' must be a group "
			             "{ connector = \"...\"; target = \"...\"; }", t->name, i);
		if ((rc = check_entry(x, g, "also_to route", route_keys, ARRAY_SIZE(route_keys))) < 0)
			return rc;
		struct dir_route *r = &t->also[t->n_also++];
		r->connector = member_str(g, "connector");
		r->target = member_str(g, "target");
		r->line = config_setting_source_line(g);
		if (t->connector && strcmp(t->connector, r->connector) == 0)
			return dfail(x, g, "team '%s': also_to names connector '%s', the team's own "
			             "(an item has one ticket per connector; expected another "
			             "connector, or change the team's target; for a second target "
			             "in the same tracker, configure a second connector of its "
			             "type serving it and name that one)", t->name, r->connector);
		for (size_t j = 0; j + 1 < t->n_also; j++)
			if (strcmp(t->also[j].connector, r->connector) == 0)
				return dfail(x, g, "team '%s': connector '%s' twice in also_to (first at "
				             "line %d; an item has one ticket per connector: for a second "
				             "target in the same tracker, configure a second connector of "
				             "its type serving it and name that one)", t->name,
				             r->connector, t->also[j].line);
	}
	return 0;
}

static int parse_teams(struct dctx *x, const config_setting_t *root, struct directory *d)
{
	const config_setting_t *s;
	int n, rc;
	if ((rc = section(x, root, "teams", &s, &n)) < 0)
		return rc;
	d->teams = xcalloc((size_t)n + 1, sizeof(*d->teams));
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		if ((rc = check_entry(x, e, "team", team_keys, ARRAY_SIZE(team_keys))) < 0)
			return rc;
		struct dir_team *t = &d->teams[d->n_teams++];
		t->name = member_str(e, "name");
		t->platform = member_str(e, "platform");
		t->connector = member_str(e, "connector");
		t->target = member_str(e, "target");
		t->line = config_setting_source_line(e);
		for (size_t j = 0; j + 1 < d->n_teams; j++)
			if (strcmp(d->teams[j].name, t->name) == 0)
				return dfail(x, e, "duplicate team '%s' (first at line %d; expected "
				             "unique names)", t->name, d->teams[j].line);
		bool known = false;
		for (size_t j = 0; j < d->n_platforms; j++)
			known |= strcmp(d->platforms[j].name, t->platform) == 0;
		if (!known)
			return dfail(x, config_setting_get_member(e, "platform"), "team '%s': unknown "
			             "platform '%s' (expected one of the platforms in this file)",
			             t->name, t->platform);
		if (!t->connector != !t->target)
			return dfail(x, e, "team '%s': connector and target go together (expected "
			             "both, e.g. connector = \"github-main\"; target = \"acme/k8s\";, "
			             "or neither)", t->name);
		if ((rc = parse_also(x, e, t)) < 0)
			return rc;
	}
	return 0;
}

static int parse_people(struct dctx *x, const config_setting_t *root, struct directory *d)
{
	const config_setting_t *s;
	int n, rc;
	if ((rc = section(x, root, "people", &s, &n)) < 0)
		return rc;
	d->people = xcalloc((size_t)n + 1, sizeof(*d->people));
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
		if ((rc = check_entry(x, e, "person", person_keys, ARRAY_SIZE(person_keys))) < 0)
			return rc;
		struct dir_person *p = &d->people[d->n_people++];
		int active = 1;
		p->handle = member_str(e, "handle");
		p->name = member_str(e, "name");
		p->email = member_str(e, "email");
		p->github = member_str(e, "github");
		p->jira_account_id = member_str(e, "jira_account_id");
		p->jira_username = member_str(e, "jira_username");
		p->servicenow_sys_id = member_str(e, "servicenow_sys_id");
		if (config_setting_lookup_bool(e, "active", &active) != CONFIG_TRUE)
			active = 1;
		p->active = active != 0;
		p->line = config_setting_source_line(e);
		for (size_t j = 0; j + 1 < d->n_people; j++) {
			const struct dir_person *q = &d->people[j];
			if (strcmp(q->handle, p->handle) == 0)
				return dfail(x, e, "duplicate handle '%s' (first at line %d; expected "
				             "unique handles)", p->handle, q->line);
			if (p->github && q->github && strcasecmp(p->github, q->github) == 0)
				return dfail(x, config_setting_get_member(e, "github"), "github login "
				             "'%s' of '%s' is already used by '%s' at line %d (GitHub "
				             "logins are case-insensitive; expected one person per login)",
				             p->github, p->handle, q->handle, q->line);
		}
	}
	return 0;
}

static int check_leads(struct dctx *x, const config_setting_t *root, const struct directory *d)
{
	const config_setting_t *s = config_setting_get_member(root, "platforms");
	for (size_t i = 0; i < d->n_platforms; i++) {
		const struct dir_platform *p = &d->platforms[i];
		if (!p->lead)
			continue;
		bool known = false;
		for (size_t j = 0; j < d->n_people; j++)
			known |= strcmp(d->people[j].handle, p->lead) == 0;
		if (!known) {
			const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
			return dfail(x, config_setting_get_member(e, "lead"), "platform '%s': lead '%s' "
			             "is not a handle in people (expected the handle of a person in "
			             "this file)", p->name, p->lead);
		}
	}
	return 0;
}

int dir_load_file(const char *path, struct directory **out, char *err, size_t errlen)
{
	struct dctx x = { .path = path, .err = err, .errlen = errlen };
	struct directory *d = NULL;
	config_t lc;
	int rc = 0;
	config_init(&lc);
	if (cfgfile_read(&lc, path, "directory file", err, errlen) < 0) {
		rc = -EINVAL; /* directory.h: every failure is -EINVAL */
		goto out;
	}
	const config_setting_t *root = config_root_setting(&lc);
	for (int i = 0; i < config_setting_length(root); i++) {
		const config_setting_t *m = config_setting_get_elem(root, (unsigned)i);
		const char *name = config_setting_name(m);
		if (strcmp(name, "platforms") && strcmp(name, "teams") && strcmp(name, "people")) {
			rc = dfail(&x, m, "unknown section '%s' (expected platforms, teams or people)",
			           name);
			goto out;
		}
	}
	d = xcalloc(1, sizeof(*d));
	if ((rc = parse_platforms(&x, root, d)) < 0 ||
	    (rc = parse_people(&x, root, d)) < 0 ||
	    (rc = parse_teams(&x, root, d)) < 0 ||
	    (rc = check_leads(&x, root, d)) < 0)
		goto out;
	*out = d;
	d = NULL;
out:
	dir_free(d);
	config_destroy(&lc);
	return rc;
}

void dir_free(struct directory *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n_platforms; i++) {
		free(d->platforms[i].name);
		free(d->platforms[i].lead);
	}
	for (size_t i = 0; i < d->n_teams; i++) {
		free(d->teams[i].name);
		free(d->teams[i].platform);
		free(d->teams[i].connector);
		free(d->teams[i].target);
		for (size_t j = 0; j < d->teams[i].n_also; j++) {
			free(d->teams[i].also[j].connector);
			free(d->teams[i].also[j].target);
		}
		free(d->teams[i].also);
	}
	for (size_t i = 0; i < d->n_people; i++) {
		struct dir_person *p = &d->people[i];
		free(p->handle);
		free(p->name);
		free(p->email);
		free(p->github);
		free(p->jira_account_id);
		free(p->jira_username);
		free(p->servicenow_sys_id);
	}
	free(d->platforms);
	free(d->teams);
	free(d->people);
	free(d);
}

/* One route of team t: connector configured and serving target. */
static int check_route(const struct config *cfg, const char *path, const struct dir_team *t,
                       const char *conn, const char *target, int line, char *err,
                       size_t errlen)
{
	const struct cfg_connector *cc = cfg_find_connector(cfg, conn);
	if (!cc) {
		snprintf(err, errlen, "%s:%d: team '%s': connector '%s' is not in %s (expected the "
		         "name of one of its connectors)", path, line, t->name, conn, cfg->path);
		return -EINVAL;
	}
	const char *spelt = cfg_connector_target(cc, target);
	if (spelt && strcmp(spelt, target) == 0)
		return 0;
	if (spelt) {
		snprintf(err, errlen, "%s:%d: team '%s': target '%s' is spelt '%s' in %s (expected "
		         "the configuration's spelling: routes compare targets exactly)", path, line,
		         t->name, target, spelt, cfg->path);
		return -EINVAL;
	}
	snprintf(err, errlen, "%s:%d: team '%s': connector '%s' does not serve '%s' (expected "
	         "one of its targets; add it to connectors.[].targets in %s)", path, line,
	         t->name, conn, target, cfg->path);
	return -EINVAL;
}

int dir_check_routes(const struct directory *d, const struct config *cfg, const char *path,
                     char *err, size_t errlen)
{
	for (size_t i = 0; i < d->n_teams; i++) {
		const struct dir_team *t = &d->teams[i];
		int rc = 0;
		if (t->connector)
			rc = check_route(cfg, path, t, t->connector, t->target, t->line, err, errlen);
		for (size_t j = 0; rc == 0 && j < t->n_also; j++) {
			const struct dir_route *r = &t->also[j];
			if (!t->connector && cfg->default_connector &&
			    strcmp(cfg->default_connector, r->connector) == 0) {
				snprintf(err, errlen, "%s:%d: team '%s': also_to names connector '%s', "
				         "where the team's items go already (the default route of %s; an "
				         "item has one ticket per connector; expected another connector: "
				         "for a second target in the same tracker, configure a second "
				         "connector of its type serving it and name that one)",
				         path, r->line, t->name, r->connector, cfg->path);
				return -EINVAL;
			}
			rc = check_route(cfg, path, t, r->connector, r->target, r->line, err, errlen);
		}
		if (rc < 0)
			return rc;
	}
	return 0;
}

static void jput(struct json_object *o, const char *k, const char *v)
{
	json_object_object_add(o, k, v ? json_object_new_string(v) : NULL);
}

char *dir_to_json(const struct directory *d)
{
	struct json_object *root = json_object_new_object();
	struct json_object *pl = json_object_new_array();
	struct json_object *tm = json_object_new_array();
	struct json_object *pe = json_object_new_array();
	for (size_t i = 0; i < d->n_platforms; i++) {
		struct json_object *o = json_object_new_object();
		jput(o, "name", d->platforms[i].name);
		jput(o, "lead", d->platforms[i].lead);
		json_object_array_add(pl, o);
	}
	for (size_t i = 0; i < d->n_teams; i++) {
		struct json_object *o = json_object_new_object();
		jput(o, "name", d->teams[i].name);
		jput(o, "platform", d->teams[i].platform);
		jput(o, "connector", d->teams[i].connector);
		jput(o, "target", d->teams[i].target);
		struct json_object *also = json_object_new_array();
		for (size_t j = 0; j < d->teams[i].n_also; j++) {
			struct json_object *r = json_object_new_object();
			jput(r, "connector", d->teams[i].also[j].connector);
			jput(r, "target", d->teams[i].also[j].target);
			json_object_array_add(also, r);
		}
		json_object_object_add(o, "also_to", also);
		json_object_array_add(tm, o);
	}
	for (size_t i = 0; i < d->n_people; i++) {
		const struct dir_person *p = &d->people[i];
		struct json_object *o = json_object_new_object();
		jput(o, "handle", p->handle);
		jput(o, "name", p->name);
		jput(o, "email", p->email);
		jput(o, "github", p->github);
		jput(o, "jira_account_id", p->jira_account_id);
		jput(o, "jira_username", p->jira_username);
		jput(o, "servicenow_sys_id", p->servicenow_sys_id);
		json_object_object_add(o, "active", json_object_new_boolean(p->active));
		json_object_array_add(pe, o);
	}
	json_object_object_add(root, "platforms", pl);
	json_object_object_add(root, "teams", tm);
	json_object_object_add(root, "people", pe);
	char *s = xstrdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN));
	json_object_put(root);
	return s;
}

/* One statement; every data-modifying CTE runs exactly once and all of
 * them see the snapshot taken before the statement, so:
 *   - new rows are inserted by ins_* (ON CONFLICT DO NOTHING covers a
 *     concurrent loader), existing rows are changed by upd_* only where a
 *     value differs — a repeated load creates no row versions;
 *   - teams find their platform's id among the rows that existed before
 *     (platform) or were just inserted (ins_platform RETURNING);
 *   - the foreign key team.platform_id is checked at the end of the
 *     statement, after ins_platform has run.
 *   - a team's extra routes (team_route) are upserted by put_route (only
 *     where the target differs) and those the file no longer names for a
 *     team in the file are deleted by off_route (different rows: a route
 *     is either named or not);
 * The result is one row of counts: platforms_added, platforms_changed,
 * teams_added, teams_changed, routes_changed, people_added, people_changed,
 * people_deactivated. */
const char dir_store_sql[] =
	"WITH src_platform AS (\n"
	"  SELECT * FROM jsonb_to_recordset(coalesce($1::jsonb->'platforms', '[]'))\n"
	"    AS s(name text, lead text)),\n"
	"src_team AS (\n"
	"  SELECT * FROM jsonb_to_recordset(coalesce($1::jsonb->'teams', '[]'))\n"
	"    AS s(name text, platform text, connector text, target text)),\n"
	"src_person AS (\n"
	"  SELECT * FROM jsonb_to_recordset(coalesce($1::jsonb->'people', '[]'))\n"
	"    AS s(handle text, name text, email text, github text, jira_account_id text,\n"
	"         jira_username text, servicenow_sys_id text, active boolean)),\n"
	"ins_platform AS (\n"
	"  INSERT INTO platform (name, lead_handle)\n"
	"  SELECT s.name, s.lead FROM src_platform s\n"
	"   WHERE NOT EXISTS (SELECT 1 FROM platform p WHERE p.name = s.name)\n"
	"  ON CONFLICT (name) DO NOTHING\n"
	"  RETURNING id, name),\n"
	"upd_platform AS (\n"
	"  UPDATE platform p SET lead_handle = s.lead, updated_at = now()\n"
	"    FROM src_platform s\n"
	"   WHERE p.name = s.name AND p.lead_handle IS DISTINCT FROM s.lead\n"
	"  RETURNING p.id),\n"
	"all_platform AS (\n"
	"  SELECT id, name FROM platform UNION ALL SELECT id, name FROM ins_platform),\n"
	"src_team_ids AS (\n"
	"  SELECT s.name, ap.id AS platform_id, s.connector, s.target\n"
	"    FROM src_team s LEFT JOIN all_platform ap ON ap.name = s.platform),\n"
	"ins_team AS (\n"
	"  INSERT INTO team (name, platform_id, connector, target)\n"
	"  SELECT s.name, s.platform_id, s.connector, s.target FROM src_team_ids s\n"
	"   WHERE NOT EXISTS (SELECT 1 FROM team t WHERE t.name = s.name)\n"
	"  ON CONFLICT (name) DO NOTHING\n"
	"  RETURNING id, name),\n"
	"upd_team AS (\n"
	"  UPDATE team t SET platform_id = s.platform_id, connector = s.connector,\n"
	"         target = s.target, updated_at = now()\n"
	"    FROM src_team_ids s\n"
	"   WHERE t.name = s.name\n"
	"     AND (t.platform_id, t.connector, t.target)\n"
	"         IS DISTINCT FROM (s.platform_id, s.connector, s.target)\n"
	"  RETURNING t.id),\n"
	"src_route AS (\n"
	"  SELECT s.name AS team, r.connector, r.target\n"
	"    FROM jsonb_to_recordset(coalesce($1::jsonb->'teams', '[]')) AS s(name text, also_to jsonb)\n"
	"   CROSS JOIN LATERAL jsonb_to_recordset(coalesce(s.also_to, '[]')) AS r(connector text,\n"
	"         target text)),\n"
	"all_team AS (\n"
	"  SELECT id, name FROM team UNION ALL SELECT id, name FROM ins_team),\n"
	"put_route AS (\n"
	"  INSERT INTO team_route AS tr (team_id, connector, target)\n"
	"  SELECT t.id, s.connector, s.target FROM src_route s JOIN all_team t ON t.name = s.team\n"
	"  ON CONFLICT (team_id, connector) DO UPDATE SET target = EXCLUDED.target, added_at = now()\n"
	"   WHERE tr.target IS DISTINCT FROM EXCLUDED.target\n"
	"  RETURNING tr.team_id),\n"
	"off_route AS (\n"
	"  DELETE FROM team_route tr USING team t, src_team s\n"
	"   WHERE t.id = tr.team_id AND s.name = t.name\n"
	"     AND NOT EXISTS (SELECT 1 FROM src_route r WHERE r.team = t.name\n"
	"                      AND r.connector = tr.connector)\n"
	"  RETURNING tr.team_id),\n"
	"ins_person AS (\n"
	"  INSERT INTO person (handle, display_name, email, github_login, jira_account_id,\n"
	"                      jira_username, servicenow_sys_id, active)\n"
	"  SELECT s.handle, s.name, s.email, s.github, s.jira_account_id, s.jira_username,\n"
	"         s.servicenow_sys_id, coalesce(s.active, true) FROM src_person s\n"
	"   WHERE NOT EXISTS (SELECT 1 FROM person p WHERE p.handle = s.handle)\n"
	"  ON CONFLICT (handle) DO NOTHING\n"
	"  RETURNING id),\n"
	"upd_person AS (\n"
	"  UPDATE person p SET display_name = s.name, email = s.email, github_login = s.github,\n"
	"         jira_account_id = s.jira_account_id, jira_username = s.jira_username,\n"
	"         servicenow_sys_id = s.servicenow_sys_id, active = coalesce(s.active, true),\n"
	"         updated_at = now()\n"
	"    FROM src_person s\n"
	"   WHERE p.handle = s.handle\n"
	"     AND (p.display_name, p.email, p.github_login, p.jira_account_id, p.jira_username,\n"
	"          p.servicenow_sys_id, p.active)\n"
	"         IS DISTINCT FROM (s.name, s.email, s.github, s.jira_account_id, s.jira_username,\n"
	"          s.servicenow_sys_id, coalesce(s.active, true))\n"
	"  RETURNING p.id),\n"
	"off_person AS (\n"
	"  UPDATE person p SET active = false, updated_at = now()\n"
	"   WHERE p.active AND NOT EXISTS (SELECT 1 FROM src_person s WHERE s.handle = p.handle)\n"
	"  RETURNING p.id)\n"
	"SELECT (SELECT count(*) FROM ins_platform) AS platforms_added,\n"
	"       (SELECT count(*) FROM upd_platform) AS platforms_changed,\n"
	"       (SELECT count(*) FROM ins_team) AS teams_added,\n"
	"       (SELECT count(*) FROM upd_team) AS teams_changed,\n"
	"       (SELECT count(*) FROM put_route) + (SELECT count(*) FROM off_route)\n"
	"         AS routes_changed,\n"
	"       (SELECT count(*) FROM ins_person) AS people_added,\n"
	"       (SELECT count(*) FROM upd_person) AS people_changed,\n"
	"       (SELECT count(*) FROM off_person) AS people_deactivated";

int dir_store(PGconn *c, const struct directory *d, char *err, size_t errlen)
{
	char *json = dir_to_json(d);
	const char *params[1] = { json };
	int rc = 0;
	PGresult *res = db_sync_exec(c, dir_store_sql, 1, params, err, errlen);
	if (!res) {
		rc = -EIO;
		goto out;
	}
	if (PQntuples(res) == 1 && PQnfields(res) == 8)
		log_info("directory: platforms +%s ~%s, teams +%s ~%s, extra routes ~%s, "
		         "people +%s ~%s -%s (+ added, ~ changed, - deactivated)",
		         PQgetvalue(res, 0, 0), PQgetvalue(res, 0, 1), PQgetvalue(res, 0, 2),
		         PQgetvalue(res, 0, 3), PQgetvalue(res, 0, 4), PQgetvalue(res, 0, 5),
		         PQgetvalue(res, 0, 6), PQgetvalue(res, 0, 7));
	PQclear(res);
out:
	free(json);
	return rc;
}
