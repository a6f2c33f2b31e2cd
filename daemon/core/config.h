/* config.h — the daemon's configuration (libconfig syntax).
 *
 * One table of options (config.c: cfg_options[]) gives every option its
 * name, type, default, and whether SIGHUP may change it; docs/configuration.md
 * and examples/closeloop.conf list the same options and a unit test fails
 * when one is missing from either.  cfg_load parses into a new struct and
 * validates it; the daemon swaps it in only when it is valid, so a bad new
 * file keeps the old configuration.
 *
 * Secrets: a connector's token comes from token_file or token_env (never
 * inline in the file); cfg_load reads it and registers it with
 * log_add_secret() so it can never be logged.
 */
#ifndef CLOSELOOP_CONFIG_H
#define CLOSELOOP_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>
#include "item.h"
#include "util.h"

enum cfg_policy {
	CFG_POLICY_REMOTE_WINS = 0,  /* the tracker's value wins a conflict */
	CFG_POLICY_LEDGER_WINS,      /* the ledger's value wins */
	CFG_POLICY_NEWEST_WINS,      /* the side edited last wins (by time stamp) */
};
const char *cfg_policy_name(enum cfg_policy p);

/* One discovery rule (connectors.[].discover, cfg_discover.c): which
 * tickets of a target are action items born in the tracker
 * (connectors/connector.h "discovery", docs/architecture.md "Discovery"). */
struct cfg_discover {
	char *target;          /* the connector's spelling of one of its targets */
	char *team;            /* team adopted items join, or NULL: the team the
	                          directory routes to (connector, target) */
	char **values;         /* the type's discover_options as text, in its
	                          order; NULL = not set */
	size_t n_values;
	int line;
};

struct cfg_connector {
	char *name;            /* unique, e.g. "github-main" */
	char *type;            /* a registered type (connector.h), "github" */
	char *base_url;        /* e.g. "https://api.github.com" */
	char **type_opts;      /* the type's own options as text, in the order of
	                          its conn_type.options; NULL = not set */
	size_t n_type_opts;
	char *token_file;      /* path, or NULL */
	char *token_env;       /* environment variable name, or NULL */
	char *token;           /* the secret, loaded by cfg_load; never logged */
	char **targets;        /* what this connector serves (GitHub: repositories
	                          "owner/name", checked by the type's
	                          target_check); teams route into these */
	size_t n_targets;
	int poll_interval_s;   /* per connector, default = global */
	int max_attempts;      /* per request, default 5 */
	int request_timeout_s; /* default 30 */
	int max_inflight;      /* default 4 */
	char *ca_file;         /* PEM CA bundle for a private CA, or NULL;
	                          relative to the config file's folder */
	bool allow_insecure_http; /* http:// base_url to a non-loopback host */
	char *webhook_secret_file; /* path, or NULL (no deliveries) */
	char *webhook_secret_env;  /* environment variable name, or NULL */
	char *webhook_secret;      /* loaded by cfg_load; never logged */
	struct cfg_discover *discover; /* discovery rules, at most one a target */
	size_t n_discover;
	int line;              /* where it was defined, for messages */
};

/* Flags and the escalation ladder (daemon/watch/, sql/012_watch.sql). */
extern const char *const cfg_flag_kinds[];  /* "ownerless", "undated", ... */
extern const size_t cfg_n_flag_kinds;

struct cfg_rung {
	char *name;     /* unique, e.g. "overdue-30"; stored in escalation.rung */
	char *flag;     /* the flag kind that arms it, default "overdue" */
	int days;       /* days past the due date (overdue), else days since
	                   the flag was raised */
	char *notify;   /* "platform_lead" or a person handle */
	bool comment, chat, email; /* its channels (default all three) */
	bool label;     /* action "label": closeloop:escalated on the item's tickets
	                   (trackers with labels) while a sent escalation of this
	                   rung stands; default off (sql/035) */
	int line;
};

struct cfg_watch {
	int interval_s;              /* seconds between flag runs, default 300 */
	char **disable;              /* flag kinds not computed */
	size_t n_disable;
	int ownerless_grace_days;    /* 2 */
	int undated_grace_days;      /* 2 */
	int stale_days;              /* 30 */
	int needs_decision_days;     /* 180 */
	int link_broken_errors;      /* 5: failed calls on a link in a row */
	int link_broken_refusals;    /* 3: refusals in a row of one field value (sql/033) */
	int no_action_items_grace_days; /* 2 */
	int long_horizon_days;       /* 30 */
	char **labels;               /* flag kinds shown as closeloop:<kind> labels
	                                on tickets; none = off ("escalated" is the
	                                rungs' "label" action) */
	size_t n_labels;
	bool escalation_enabled;     /* true */
	struct cfg_rung *rungs;      /* default: one rung overdue-30 -> platform_lead */
	size_t n_rungs;
	char **chat;                 /* webhook destinations for escalation digests */
	size_t n_chat;
	char **email;                /* smtp destinations (to the lead's address) */
	size_t n_email;
};

/* Where documents and messages go (daemon/deliver/): the quarterly
 * report to each platform, escalations to chat or mail. */
enum cfg_dest_type {
	CFG_DEST_DIRECTORY = 0,  /* files in a folder, written atomically */
	CFG_DEST_WEBHOOK,        /* HTTP POST of a JSON document */
	CFG_DEST_SMTP,           /* one mail (RFC 5322, MIME) over SMTP */
};
const char *cfg_dest_type_name(enum cfg_dest_type t);

struct cfg_destination {
	char *name;            /* unique, e.g. "payments-mail" */
	enum cfg_dest_type type;
	char **platforms;      /* platforms whose reports it receives; NULL = every one */
	size_t n_platforms;
	char *path;            /* directory: the folder (absolute, or relative to
	                          the config file's folder when loaded) */
	char *url;             /* webhook: http(s)://...; smtp: smtp:// or smtps:// */
	char *secret_file;     /* webhook: the header value; smtp: the password */
	char *secret_env;
	char *secret;          /* loaded by cfg_load, never logged; NULL = none */
	char *secret_header;   /* webhook: "X-Closeloop-Secret" */
	bool slack;            /* webhook: format = "slack" ({"text", "blocks"}
	                          only), else "closeloop" (deliver.h's document) */
	char *username;        /* smtp: AUTH user, NULL = no AUTH */
	char *from;            /* smtp: the sender address */
	char **to;             /* smtp: recipient addresses */
	size_t n_to;
	char *ca_file;         /* PEM bundle for a private CA, or NULL */
	bool allow_insecure;   /* webhook: http:// to a non-loopback host;
	                          smtp://: STARTTLS tried, not required */
	int max_attempts;      /* webhook and smtp, 1..20, default 5 */
	int timeout_s;         /* per attempt, 1..600, default 30 */
	int line;
};

/* Postmortem directories the daemon watches (daemon/import/impwatch.h). */
struct cfg_import {
	char **watch;                /* directories, absolute or relative to the
	                                config file's folder (resolved), may be 0 */
	size_t n_watch;
	int debounce_ms;             /* quiet time after a file event, 1000 */
	int rescan_interval_s;       /* full rescan (missed events), 60 */
};

struct config {
	char *path;                  /* file it was loaded from */
	char *database_dsn;          /* libpq conninfo/URI */
	char *directory_file;        /* people/teams/platforms, may be NULL;
	                                relative paths are relative to the
	                                config file's folder */
	char *log_level;             /* "info" */
	int poll_interval_s;         /* default 300 */
	int notify_debounce_ms;      /* wait after a NOTIFY before a push pass, 500 */
	int overlap_s;               /* incremental window overlap, default 120 */
	int refusal_backoff_s;       /* a field the tracker refused is not pushed
	                                again for this long (unless the ledger value
	                                changes), default 86400 */
	int create_min_age_s;        /* a link left 'creating' is created again only
	                                this long after its intent, default 300 */
	char *default_platform;      /* for imports that name none, may be NULL */
	char *default_team;          /* likewise */
	char *default_connector;     /* route for teams with no tracker target */
	char *default_target;
	enum cfg_policy policy[ITEM_F__COUNT]; /* per-field conflict policy,
	                                          default remote_wins except
	                                          due_date: ledger_wins */
	struct cfg_connector *connectors;
	size_t n_connectors;
	char *listen_address;        /* metrics/health listener, may be NULL */
	char *webhook_listen;        /* POST /hooks/<connector> listener, may be NULL */
	int webhook_max_body;        /* bytes a delivery may have, 1048576 */
	struct cfg_watch watch;      /* flags and escalation */
	struct cfg_destination *destinations;
	size_t n_destinations;
	struct cfg_import import;    /* watched postmortem directories */
	bool quarterly_enabled;      /* quarterly_report.enabled, true */
	int quarterly_check_s;       /* quarterly_report.check_interval, 3600 */
	int quarterly_store_debounce_ms; /* quarterly_report.store_debounce_ms, 30000 */
};

/* Load and validate path.  On success returns 0 and *out.  On failure
 * returns -EINVAL (or -ENOENT / -EIO) and writes into err one sentence
 * "FILE:LINE: what was expected" (line 0 when the problem is not at a
 * line, e.g. a missing required option or an unreadable token file). */
int cfg_load(const char *path, struct config **out, char *err, size_t errlen) MUST_CHECK;
void cfg_free(struct config *c);

const struct cfg_connector *cfg_find_connector(const struct config *c, const char *name);
/* The configured spelling of target among cc's targets, compared without
 * regard to ASCII case (GitHub's owner/repo, Jira's project keys and
 * ServiceNow's group names are all case-insensitive to their trackers),
 * or NULL when cc does not serve it (or cc is NULL). */
const char *cfg_connector_target(const struct cfg_connector *cc, const char *target);
/* The destination called name, or NULL. */
const struct cfg_destination *cfg_find_destination(const struct config *c, const char *name);
/* Does destination d receive what concerns platform (its `platforms`
 * list names it, or has no list)? */
bool cfg_destination_serves(const struct cfg_destination *d, const char *platform);

/* Which options a running daemon cannot change on SIGHUP (database_dsn,
 * listen_address, the number of connectors and each connector's name,
 * type, base_url and token — the rows of cfg_options[] with reloadable =
 * false — and each connector type's own options marked not reloadable):
 * returns the option name of the first one that differs between old and
 * new ("database.dsn", "listen", "connectors", "connectors.[].base_url",
 * "connectors.[github].api_version", ...), or NULL when new may be applied
 * as it is. */
const char *cfg_reload_blocker(const struct config *old, const struct config *new_);

/* The option table, exported for the documentation check. */
struct cfg_option_doc {
	const char *name;    /* e.g. "database.dsn", "connectors.[].base_url" */
	const char *type;    /* "string", "int", "bool", "list", "group" */
	const char *def;     /* default as text, or NULL when required */
	bool reloadable;
};
extern const struct cfg_option_doc cfg_options[];
extern const size_t cfg_n_options;

#endif
