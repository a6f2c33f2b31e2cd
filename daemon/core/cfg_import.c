/* cfg_import.c — the `import` option group (config.h struct cfg_import):
 * the postmortem directories the daemon watches.  Rows, defaults and
 * ranges are in config.c's cfg_options[] / cfg_ranges[]; this file reads
 * them and checks the list: each entry a non-empty string, no directory
 * twice.  Whether a directory exists is not checked here: it may be
 * created later, and the watcher reports it on every rescan until it is. */
#include "config.h"
#include "config_internal.h"

#include <stdlib.h>
#include <string.h>

static int parse_watch(struct ctx *x, const config_setting_t *g, struct cfg_import *im)
{
	const config_setting_t *l = g ? config_setting_get_member(g, "watch") : NULL;
	int n = l ? config_setting_length(l) : 0;
	if (n <= 0)
		return 0;
	im->watch = xcalloc((size_t)n, sizeof(*im->watch));
	for (int i = 0; i < n; i++) {
		const config_setting_t *e = config_setting_get_elem(l, (unsigned)i);
		const char *v = config_setting_get_string(e);
		if (!v || !v[0])
			return cfg_fail(x, e, "import.watch[%d] is empty (expected a directory of "
			                "postmortems, e.g. \"/srv/postmortems\")", i);
		char *abs = cfg_resolve_relative(x->path, v);
		for (size_t k = 0; k < im->n_watch; k++)
			if (strcmp(im->watch[k], abs) == 0) {
				free(abs);
				return cfg_fail(x, e, "import.watch lists \"%s\" twice (expected each "
				                "directory once)", v);
			}
		im->watch[im->n_watch++] = abs;
	}
	return 0;
}

int cfg_parse_import(struct ctx *x, const config_setting_t *root, struct config *c)
{
	const config_setting_t *g = config_setting_get_member(root, "import");
	int rc;
	if ((rc = cfg_get_int(x, g, "import.debounce_ms", "import.debounce_ms",
	                      &c->import.debounce_ms)) < 0 ||
	    (rc = cfg_get_int(x, g, "import.rescan_interval", "import.rescan_interval",
	                      &c->import.rescan_interval_s)) < 0)
		return rc;
	return parse_watch(x, g, &c->import);
}

void cfg_import_free(struct cfg_import *im)
{
	for (size_t i = 0; i < im->n_watch; i++)
		free(im->watch[i]);
	free(im->watch);
	memset(im, 0, sizeof(*im));
}
