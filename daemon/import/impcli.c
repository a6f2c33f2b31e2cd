/* impcli.c — `closeloop import PATH...`: files and directories.
 *
 * A directory is walked recursively (entries in name order, at most 32
 * levels, hidden entries — ".git" — not read); Markdown files are
 * imported (.md, .markdown, .mdx and their .erb templates), every other
 * file is reported as skipped with its reason.  A document without an id
 * of its own found under a directory gets the reference of its path
 * relative to that directory, without extension ("2019/2019-01-23"), so
 * two 2019-01-23.md in different folders are two postmortems.  With
 * write_back, each item's ticket link is written into the document after
 * it is stored (impwrite.c).
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include "config.h"
#include "db.h"
#include "importer.h"
#include "log.h"

#define IMP_MAX_DEPTH 32

bool imp_markdown_name(const char *name)
{
	static const char *const exts[] = { ".md", ".markdown", ".mdx", ".md.erb",
	                                    ".markdown.erb" };
	size_t n = strlen(name);
	for (size_t i = 0; i < ARRAY_SIZE(exts); i++) {
		size_t l = strlen(exts[i]);
		if (n > l && strcasecmp(name + n - l, exts[i]) == 0)
			return true;
	}
	return false;
}

/* "2019/2019-01-23" from root "pm" and path "pm/2019/2019-01-23.md". */
static char *relative_reference(const char *root, const char *path)
{
	size_t rl = strlen(root);
	while (rl > 1 && root[rl - 1] == '/')
		rl--;
	const char *rel = strncmp(path, root, rl) == 0 && path[rl] == '/' ? path + rl + 1 : path;
	char *r = xstrdup(rel);
	const char *base = strrchr(r, '/');
	base = base ? base + 1 : r;
	char *dot = strchr(base, '.');
	if (dot && dot != base)
		*dot = '\0';
	return r;
}

/* The GitHub repository ("owner/name") of the team the items go to: the
 * document's team when the ledger knows it, else opt->team; NULL when
 * neither has a target of that shape (ServiceNow and Jira targets have no
 * '/'). */
static char *team_repository(PGconn *c, const struct imp_postmortem *pm,
                             const struct imp_options *opt, FILE *errout)
{
	if (!c || (!pm->team && !opt->team))
		return NULL;
	const char *p[] = { pm->team ? pm->team : opt->team, opt->team ? opt->team : pm->team };
	char err[256];
	PGresult *res = db_sync_exec(c, "SELECT target FROM team"
	                             " WHERE lower(name) IN (lower($1), lower($2))"
	                             "   AND target ~ '^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$'"
	                             " ORDER BY lower(name) = lower($1) DESC LIMIT 1",
	                             2, p, err, sizeof(err));
	char *r = res && PQntuples(res) == 1 ? xstrdup(PQgetvalue(res, 0, 0)) : NULL;
	if (!res)
		fprintf(errout, "import: %s: the team's repository not read: %s\n",
		        pm->source_path, err);
	PQclear(res);
	return r;
}

/* Bare "#123": against the document's repository (done while parsing),
 * else its team's, else opt->repository; without any, each is reported
 * (file:line) and left out. */
static void resolve_bare(PGconn *c, struct imp_postmortem *pm, const struct imp_options *opt,
                         FILE *errout)
{
	size_t n = 0;
	for (size_t i = 0; i < pm->n_items; i++)
		n += pm->items[i].n_bare;
	if (n == 0)
		return;
	char *repo = team_repository(c, pm, opt, errout);
	if (!repo && opt->repository)
		repo = xstrdup(opt->repository);
	if (!repo) {
		for (size_t i = 0; i < pm->n_items; i++)
			if (pm->items[i].n_bare)
				fprintf(errout, "import: %s:%d: #%s names no repository: the "
				        "reference is left out (add \"repository: owner/name\" to the "
				        "front matter, a Repository: line, a GitHub target for the "
				        "team, or defaults.target)\n", pm->source_path,
				        pm->items[i].line, pm->items[i].bare[0]);
		return;
	}
	imp_resolve_bare(pm, repo);
	free(repo);
}

char *imp_sn_connectors(const struct config *cfg)
{
	struct buf b = { 0 };
	size_t n = 0;
	for (size_t i = 0; i < cfg->n_connectors; i++) {
		const struct cfg_connector *cc = &cfg->connectors[i];
		if (!cc->type || strcmp(cc->type, "servicenow") != 0)
			continue;
		if (n++ && buf_append(&b, ", ", 2) < 0)
			abort();
		if (buf_append(&b, cc->name, strlen(cc->name)) < 0)
			abort();
	}
	char *s = b.data ? buf_steal(&b) : NULL;
	if (n < 2) {
		free(s);
		return NULL;
	}
	return s;
}

/* A bare ServiceNow number (no URL naming the instance) while several
 * ServiceNow connectors are configured is adopted only by the one the
 * team routes to (docs/reconcile.md); with none, say so for each such
 * item (file:line): the reference is stored, nothing adopts it. */
static void check_sn_bare(PGconn *c, const struct imp_postmortem *pm,
                          const struct imp_options *opt, FILE *errout)
{
	if (!c || !opt->sn_connectors)
		return;
	const char *team = pm->team ? pm->team : opt->team;
	const char *p[] = { team ? team : "", opt->sn_connectors };
	char err[256];
	PGresult *res = db_sync_exec(c, "SELECT count(*) FROM team t WHERE lower(t.name) = lower($1)"
	                             " AND (t.connector = ANY(string_to_array($2, ', '))"
	                             "  OR EXISTS (SELECT 1 FROM team_route r WHERE r.team_id = t.id"
	                             "   AND r.connector = ANY(string_to_array($2, ', '))))",
	                             2, p, err, sizeof(err));
	if (!res) {
		fprintf(errout, "import: %s: the team's ServiceNow routes not read: %s\n",
		        pm->source_path, err);
		return;
	}
	bool routed = strcmp(PQgetvalue(res, 0, 0), "0") != 0;
	PQclear(res);
	if (routed)
		return;
	for (size_t i = 0; i < pm->n_items; i++)
		for (size_t r = 0; r < pm->items[i].n_xrefs; r++) {
			const struct imp_ticket_ref *x = &pm->items[i].xrefs[r];
			if (strcmp(x->kind, "servicenow") != 0 || x->url)
				continue;
			fprintf(errout, "import: %s:%d: %s names no ServiceNow instance and %s serve "
			        "ServiceNow while team %s routes to none of them: nothing adopts it "
			        "(name the record by its URL, https://INSTANCE/%s.do?sys_id=..., or "
			        "route the team to one connector with also_to)\n", pm->source_path,
			        pm->items[i].line, x->number, opt->sn_connectors,
			        team ? team : "(none)", x->target);
		}
}

int imp_import_file(PGconn *c, const char *path, const char *root,
                    const struct imp_options *opt, FILE *out, FILE *errout,
                    struct imp_run_stats *st)
{
	char err[1024];
	char *text = NULL;
	size_t len = 0;
	struct imp_postmortem *pm = NULL;
	int rc = 0;
	st->files++;
	if (imp_read_file(path, &text, &len, err, sizeof(err)) < 0 ||
	    imp_parse_text(path, text, len, &pm, err, sizeof(err)) < 0) {
		fprintf(errout, "import: skipped %s\n", err);
		st->skipped++;
		rc = -EINVAL;
		goto out;
	}
	if (root && pm->reference_from_path) {
		free(pm->reference);
		pm->reference = relative_reference(root, path);
	}
	resolve_bare(c, pm, opt, errout);
	check_sn_bare(c, pm, opt, errout);
	struct imp_counts n = { 0 };
	if (imp_store(c, pm, opt, &n, out, err, sizeof(err)) < 0) {
		fprintf(errout, "import: %s: not stored: %s\n", path, err);
		st->failed++;
		rc = -EIO;
		goto out;
	}
	if (!opt->dry_run) {
		fprintf(out, "imported %s (%s): %d new, %d updated, %d unchanged item(s)\n",
		        pm->reference, path, n.items_new, n.items_updated, n.items_unchanged);
		st->total.postmortems_new += n.postmortems_new;
		st->total.postmortems_updated += n.postmortems_updated;
		st->total.items_new += n.items_new;
		st->total.items_updated += n.items_updated;
		st->total.items_unchanged += n.items_unchanged;
		st->total.refs_new += n.refs_new;
	}
	if (opt->write_back && !opt->dry_run) {
		int w = imp_write_back(c, path, text, len, pm, out, err, sizeof(err));
		if (w < 0) {
			fprintf(errout, "import: %s: links not written back: %s\n", path, err);
			st->failed++;
			rc = -EIO;
		} else {
			st->links_written += w;
		}
	}
out:
	imp_postmortem_free(pm);
	free(text);
	return rc;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void walk_dir(PGconn *c, const char *dir, const char *root, int depth,
                     const struct imp_options *opt, FILE *out, struct imp_run_stats *st)
{
	DIR *d = opendir(dir);
	if (!d) {
		fprintf(stderr, "import: skipped %s: cannot read the directory: %s\n", dir,
		        strerror(errno));
		st->skipped++;
		return;
	}
	char **names = NULL;
	size_t n = 0;
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;   /* ".", "..", ".git", editor files */
		names = xrealloc(names, (n + 1) * sizeof(*names));
		names[n++] = xstrdup(e->d_name);
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), by_name);
	for (size_t i = 0; i < n; i++) {
		char *path = xasprintf("%s%s%s", dir, dir[strlen(dir) - 1] == '/' ? "" : "/",
		                       names[i]);
		struct stat sb;
		if (stat(path, &sb) < 0) {
			fprintf(stderr, "import: skipped %s: %s\n", path, strerror(errno));
			st->skipped++;
		} else if (S_ISDIR(sb.st_mode)) {
			if (depth + 1 >= IMP_MAX_DEPTH) {
				fprintf(stderr, "import: skipped %s: deeper than %d directories\n", path,
				        IMP_MAX_DEPTH);
				st->skipped++;
			} else {
				walk_dir(c, path, root, depth + 1, opt, out, st);
			}
		} else if (!S_ISREG(sb.st_mode)) {
			fprintf(stderr, "import: skipped %s: not a regular file\n", path);
			st->skipped++;
		} else if (!imp_markdown_name(names[i])) {
			fprintf(stderr, "import: skipped %s: not a Markdown file (.md, .markdown, .mdx, "
			        ".md.erb)\n", path);
			st->skipped++;
		} else {
			imp_import_file(c, path, root, opt, out, stderr, st);
		}
		free(path);
		free(names[i]);
	}
	free(names);
}

void imp_run(PGconn *c, char *const *paths, int n, const struct imp_options *opt, FILE *out,
             struct imp_run_stats *st)
{
	memset(st, 0, sizeof(*st));
	for (int i = 0; i < n; i++) {
		struct stat sb;
		if (stat(paths[i], &sb) == 0 && S_ISDIR(sb.st_mode))
			walk_dir(c, paths[i], paths[i], 0, opt, out, st);
		else
			imp_import_file(c, paths[i], NULL, opt, out, stderr, st);
	}
	if (!opt->dry_run)
		fprintf(out, "import: %d file(s) read, %d skipped, %d not stored; postmortems %d new, "
		        "%d updated; action items %d new, %d updated, %d unchanged; "
		        "%d ticket reference(s) new\n", st->files, st->skipped, st->failed,
		        st->total.postmortems_new, st->total.postmortems_updated,
		        st->total.items_new, st->total.items_updated, st->total.items_unchanged,
		        st->total.refs_new);
	if (opt->write_back && !opt->dry_run)
		fprintf(out, "import: %d ticket link(s) written back into the documents\n",
		        st->links_written);
}
