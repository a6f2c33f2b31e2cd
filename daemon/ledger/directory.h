/* directory.h — platforms (with their lead), teams (with their platform and
 * tracker target) and people (handle, name, email, tracker identities,
 * active), from a directory file in libconfig syntax:
 *
 *   platforms = ( { name = "kubernetes"; lead = "rf"; } );
 *   teams = ( { name = "k8s"; platform = "kubernetes";
 *               connector = "github-main"; target = "dfds/k8s";
 *               also_to = ( { connector = "jira-cloud"; target = "K8S"; } ); } );
 *   people = ( { handle = "rf"; name = "R. F."; email = "rf@example.com";
 *                github = "rf-gh"; jira_account_id = "5b10..";
 *                jira_username = "rf"; servicenow_sys_id = "..";
 *                active = true; } );
 *
 * Loaded into the ledger (tables platform, team, person) by `closeloop
 * directory load`, at daemon start and on SIGHUP.  Loading upserts by name
 * / handle and never deletes: a person missing from the file is marked
 * active = false, so history that names them stays readable.  Rows added
 * by SQL are kept.
 */
#ifndef CLOSELOOP_DIRECTORY_H
#define CLOSELOOP_DIRECTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <libpq-fe.h>
#include "util.h"

struct dir_platform { char *name; char *lead; int line; };
/* One more target of a team (also_to): its items get a ticket there too. */
struct dir_route { char *connector; char *target; int line; };
struct dir_team {
	char *name; char *platform; char *connector; char *target; int line;
	struct dir_route *also; size_t n_also;  /* extra routes, each in its own connector */
};
struct dir_person {
	char *handle, *name, *email;
	char *github, *jira_account_id, *jira_username, *servicenow_sys_id;
	bool active;
	int line;
};

struct directory {
	struct dir_platform *platforms; size_t n_platforms;
	struct dir_team *teams; size_t n_teams;
	struct dir_person *people; size_t n_people;
};

/* Parse and validate (unique names, teams name known platforms, handles
 * are non-empty).  Errors: "FILE:LINE: what was expected".  0 or -EINVAL. */
int dir_load_file(const char *path, struct directory **out, char *err, size_t errlen) MUST_CHECK;
void dir_free(struct directory *d);

struct config;
/* Check the teams' routes against the configuration: every connector is
 * configured and serves the target named with it; an extra route (also_to)
 * is in a connector other than the team's own one (the configured default
 * connector for a team without one), as an item has at most one ticket per
 * connector.  path is the directory file (for messages).  Errors
 * "FILE:LINE: what was expected".  0 or -EINVAL. */
int dir_check_routes(const struct directory *d, const struct config *cfg, const char *path,
                     char *err, size_t errlen) MUST_CHECK;

/* Upsert into the ledger in one transaction (blocking libpq; used by the
 * CLI and by the daemon at start/reload before the loop's work begins).
 * Returns 0 or -EIO with err. */
int dir_store(PGconn *c, const struct directory *d, char *err, size_t errlen) MUST_CHECK;

/* SQL text that dir_store runs, exported so the daemon can run the same
 * upsert through the async db API: one statement taking $1 = the directory
 * as JSON (see dir_to_json). */
extern const char dir_store_sql[];
/* The directory as JSON text {"platforms":[..],"teams":[..],"people":[..]}
 * (a team's extra routes as "also_to": [{"connector", "target"}, ..]);
 * caller frees. */
char *dir_to_json(const struct directory *d);

#endif
