/* cli_link.h — `closeloop link` (a row of the subcommand table in
 * daemon/main.c). */
#ifndef CLOSELOOP_CLI_LINK_H
#define CLOSELOOP_CLI_LINK_H

#include "cli.h"

/* link ITEM CONNECTOR TARGET [KEY]: keep action item ITEM (ledger id or
 * ticket key) in one more tracker besides its team's route — a new ticket
 * in TARGET of CONNECTOR, or the existing ticket KEY there, adopted (its
 * fields merged as on any adoption).  Recorded in item_route
 * (sql/017_item_routes.sql); the daemon's push pass does the rest, and
 * from then on a change from any of the item's trackers reaches the
 * others.  Returns CLI_OK, CLI_FAIL (unknown connector or target, the item
 * already has a ticket in that connector, ledger trouble) or CLI_USAGE. */
int cli_cmd_link(const struct cli *cli);

#endif
