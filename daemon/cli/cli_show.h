/* cli_show.h — `closeloop show` and `closeloop list` (rows of the
 * subcommand table in daemon/main.c). */
#ifndef CLOSELOOP_CLI_SHOW_H
#define CLOSELOOP_CLI_SHOW_H

#include "cli.h"

/* show ITEM [--json]: one action item (ledger id or ticket key such as
 * "acme/payments#12") with its links and its item_event history.
 * Returns CLI_OK, CLI_FAIL (no such item, ledger trouble) or CLI_USAGE. */
int cli_cmd_show(const struct cli *cli);

/* list [--platform P] [--team T] [--state S] [--overdue] [--json]: action
 * items ordered by due date.  Returns CLI_OK, CLI_FAIL or CLI_USAGE. */
int cli_cmd_list(const struct cli *cli);

/* Resolve ITEM (a ledger id, or a ticket key such as "acme/payments#12")
 * to one action item id, as text into idbuf.  Returns 0, -ENOENT (none),
 * -EEXIST (a key naming several items) or -EIO, with the reason logged. */
int cli_find_item(PGconn *c, const char *item, char *idbuf, size_t idlen) MUST_CHECK;

#endif
