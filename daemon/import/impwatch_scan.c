/* impwatch_scan.c — see impwatch_scan.h.  Runs on a libuv thread-pool
 * thread: no libuv calls, no logging (messages go into the job's memory
 * streams and are logged by the loop). */
#include "impwatch_scan.h"
#include "db.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define IW_MAX_DEPTH 32
#define IW_MAX_DIRS 4096     /* directories given an fs event (rescans see all) */

struct walk {
	struct iw_file *files;   /* found this scan */
	char **roots_of;         /* parallel: the root each was found under (borrowed) */
	size_t n, cap;
	char **dirs;
	size_t n_dirs, dirs_cap;
};

static void add_dir(struct walk *wk, const char *dir)
{
	if (wk->n_dirs >= IW_MAX_DIRS)
		return;
	if (wk->n_dirs == wk->dirs_cap) {
		wk->dirs_cap = wk->dirs_cap ? 2 * wk->dirs_cap : 16;
		wk->dirs = xrealloc(wk->dirs, wk->dirs_cap * sizeof(*wk->dirs));
	}
	wk->dirs[wk->n_dirs++] = xstrdup(dir);
}

static void add_file(struct walk *wk, char *path, char *root, const struct stat *sb)
{
	if (wk->n == wk->cap) {
		wk->cap = wk->cap ? 2 * wk->cap : 64;
		wk->files = xrealloc(wk->files, wk->cap * sizeof(*wk->files));
		wk->roots_of = xrealloc(wk->roots_of, wk->cap * sizeof(*wk->roots_of));
	}
	wk->files[wk->n] = (struct iw_file){
		.path = path,
		.mtime_ns = (int64_t)sb->st_mtim.tv_sec * 1000000000 + sb->st_mtim.tv_nsec,
		.size = (int64_t)sb->st_size,
		.ino = (uint64_t)sb->st_ino,
	};
	wk->roots_of[wk->n++] = root;
}

/* Walk dir (under root) recursively; hidden entries are not read.
 * Returns 0 or -errno when dir itself cannot be read. */
static int walk(struct walk *wk, const char *dir, char *root, int depth, FILE *err)
{
	DIR *d = opendir(dir);
	if (!d)
		return -errno;
	add_dir(wk, dir);
	for (struct dirent *e; (e = readdir(d));) {
		if (e->d_name[0] == '.')
			continue;
		char *path = xasprintf("%s/%s", dir, e->d_name);
		struct stat sb;
		if (stat(path, &sb) < 0) {
			free(path);   /* removed meanwhile, or a dangling link */
			continue;
		}
		if (S_ISDIR(sb.st_mode)) {
			int rc = depth + 1 >= IW_MAX_DEPTH ? 0 : walk(wk, path, root, depth + 1, err);
			if (rc < 0)
				fprintf(err, "import: watched directory %s: cannot read %s: %s\n", root,
				        path, strerror(-rc));
			free(path);
		} else if (S_ISREG(sb.st_mode) && imp_markdown_name(e->d_name)) {
			add_file(wk, path, root, &sb);
		} else {
			free(path);
		}
	}
	closedir(d);
	return 0;
}

static int cmp_path(const void *a, const void *b)
{
	return strcmp(((const struct iw_file *)a)->path, ((const struct iw_file *)b)->path);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static const struct iw_file *known_find(const struct iw_known *k, const char *path)
{
	struct iw_file key = { .path = (char *)path };
	return k->n ? bsearch(&key, k->v, k->n, sizeof(*k->v), cmp_path) : NULL;
}

static bool unchanged(const struct iw_file *old, const struct iw_file *now)
{
	return old && old->mtime_ns != INT64_MIN && old->mtime_ns == now->mtime_ns &&
	       old->size == now->size && old->ino == now->ino;
}

/* The ledger connection, (re)opened when needed; NULL with a message. */
static PGconn *ledger(struct iw_job *job, FILE *err)
{
	PGconn **c = job->conn;
	if (*c && PQstatus(*c) == CONNECTION_OK)
		return *c;
	if (*c)
		PQfinish(*c);
	char e[512];
	*c = db_sync_connect(job->dsn, e, sizeof(e));
	if (!*c)
		fprintf(err, "import: ledger: %s; changed postmortems are imported at the next "
		        "scan\n", e);
	return *c;
}

/* Sort the found files, keep the index order of their roots. */
static void sort_found(struct walk *wk)
{
	struct { struct iw_file f; char *root; } *pairs = xcalloc(wk->n ? wk->n : 1, sizeof(*pairs));
	for (size_t i = 0; i < wk->n; i++) {
		pairs[i].f = wk->files[i];
		pairs[i].root = wk->roots_of[i];
	}
	qsort(pairs, wk->n, sizeof(*pairs), cmp_path);   /* f is the first member */
	for (size_t i = 0; i < wk->n; i++) {
		wk->files[i] = pairs[i].f;
		wk->roots_of[i] = pairs[i].root;
	}
	free(pairs);
}

/* Import the files that changed since the last scan; the found list
 * becomes the known table. */
static void import_changed(struct iw_job *job, struct walk *wk, FILE *out, FILE *err)
{
	struct imp_options opt = { .platform = job->platform, .team = job->team,
	                           .repository = job->repository,
	                           .sn_connectors = job->sn_connectors };
	PGconn *c = NULL;
	bool down = false;
	for (size_t i = 0; i < wk->n; i++) {
		struct iw_file *f = &wk->files[i];
		const struct iw_file *old = known_find(job->known, f->path);
		if (unchanged(old, f))
			continue;
		if (down || atomic_load(&job->cancel) || (!c && !(c = ledger(job, err)))) {
			down = true;
			f->mtime_ns = INT64_MIN;   /* not looked at: next scan */
			continue;
		}
		int rc = imp_import_file(c, f->path, wk->roots_of[i], &opt, out, err, &job->st);
		if (rc == -EIO) {
			f->mtime_ns = INT64_MIN;
			down = PQstatus(c) != CONNECTION_OK;
		}
	}
	iw_known_free(job->known);
	job->known->v = wk->files;
	job->known->n = wk->n;
	wk->files = NULL;
}

void iw_scan(struct iw_job *job)
{
	struct walk wk = { 0 };
	char *eb = NULL, *ob = NULL;
	FILE *err = open_memstream(&eb, &job->log_err_len);
	FILE *out = open_memstream(&ob, &job->log_out_len);
	if (!err || !out)
		abort();   /* out of memory, as xmalloc */
	job->root_errno = xcalloc(job->n_roots ? job->n_roots : 1, sizeof(*job->root_errno));
	for (size_t r = 0; r < job->n_roots; r++) {
		int rc = walk(&wk, job->roots[r], job->roots[r], 0, err);
		job->root_errno[r] = rc < 0 ? -rc : 0;
	}
	sort_found(&wk);
	import_changed(job, &wk, out, err);
	if (wk.n_dirs > 1)   /* no root read: wk.dirs is NULL, which qsort may not take */
		qsort(wk.dirs, wk.n_dirs, sizeof(*wk.dirs), cmp_str);
	job->dirs = wk.dirs;
	job->n_dirs = wk.n_dirs;
	free(wk.roots_of);
	fclose(err);
	fclose(out);
	job->log_err = eb;
	job->log_out = ob;
}

void iw_known_free(struct iw_known *k)
{
	for (size_t i = 0; i < k->n; i++)
		free(k->v[i].path);
	free(k->v);
	k->v = NULL;
	k->n = 0;
}
