"""The ServiceNow part of `make demo` (examples/demo.py): one team, the
DFDS ingress team, keeps its action items as Problem records in a
ServiceNow instance (tests/sim/servicenow_sim.py, the Table API simulator)
instead of GitHub issues.

The demo's directory is examples/directory.conf plus that team and the
platform lead's ServiceNow sys_user id; its configuration gets a second
connector.  The team's postmortems are the three "all services returning
503" outages of examples/postmortems/dfds."""

import os
import re

import harness as H

CONN = "servicenow-demo"
TEAM = "dfds-ingress"
LEAD_SYS_ID = "62826bf03710200044e0bfc8bcbe5df1"   # Pia Lindqvist's sys_user
FILES = ("PM2021-005", "PM2021-006", "PM2021-007")   # all services returning 503


def is_team_postmortem(path):
    return os.path.basename(path).startswith(FILES)


def start(wd):
    sim = H.ServiceNowSimulator(wd)
    sim.call("POST", "/_sim/users", {"sys_id": LEAD_SYS_ID})
    return sim


def directory(wd, src):
    """examples/directory.conf with the ingress team routed to ServiceNow."""
    text = open(src).read()
    text, n = re.subn(r'(teams = \(\n)', r'\1    { name = "%s"; platform = "kubernetes";\n'
                      r'      connector = "%s"; target = "%s"; },\n' % (TEAM, CONN, H.SN_GROUP), text)
    text, m = re.subn(r'(github = "pia-lindqvist";)', r'\1 servicenow_sys_id = "%s";' % LEAD_SYS_ID,
                      text)
    if n != 1 or m != 1:
        raise RuntimeError("examples/directory.conf changed shape: cannot add the ServiceNow team")
    path = os.path.join(wd, "directory.conf")
    with open(path, "w") as f:
        f.write(text)
    return path


def add_connector(conf, url):
    """Append the ServiceNow connector to the configuration's list."""
    text = open(conf).read()
    i = text.rindex("} );")
    text = text[:i] + "}, " + H.servicenow_connector(CONN, url, [H.SN_GROUP]) + " );" + text[i + 4:]
    with open(conf, "w") as f:
        f.write(text)


def show_sync(dsn, sim, say, head, table):
    head("ServiceNow: the ingress team's items are Problem records (Table API simulator)")
    recs = sorted(sim.records(), key=lambda r: r["number"])
    for r in recs:
        say("   %s  state %s  impact/urgency %s/%s  %-9s  %s"
            % (r["number"], r["state"], r["impact"], r["urgency"],
               "assigned" if r["assigned_to"] else "unassigned", r["short_description"][:60]))
    links = H.scalar(dsn, "SELECT count(*) FROM external_link WHERE connector = '%s' "
                          "AND state = 'linked'" % CONN)
    say("   %d problem(s), %s linked item(s); each carries its closeloop token in correlation_id"
        % (len(recs), links))
    say("   (owners without a sys_user on the instance stay in the ledger; ServiceNow gets the"
        " problem unassigned)")
    if not recs:
        return False
    head("ServiceNow round trip: a problem resolved in ServiceNow")
    r = recs[0]
    item = H.scalar(dsn, "SELECT action_item_id FROM external_link WHERE remote_id = '%s'"
                         % r["sys_id"])
    sim.call("PATCH", "/_sim/records/" + r["sys_id"],
             {"state": "106", "resolution_code": "fix_applied", "close_notes": "Fixed."})
    say("   %s (item %s) set to 106 Resolved / fix_applied in ServiceNow; one closeloop sync"
        % (r["number"], item))
    return item, r["number"]


def after_round_trip(dsn, conf, say, table, item):
    H.closeloop("sync", "--once", "-c", conf)
    state = H.scalar(dsn, "SELECT state FROM action_item WHERE id = %s" % item)
    say("   ledger state of item %s: %s" % (item, state))
    table(dsn, "SELECT '   history:', field, coalesce(old_value,'-') || ' -> ' || new_value, source "
               "FROM item_event WHERE action_item_id=%s AND field='state' ORDER BY id DESC LIMIT 1"
               % item)
    return state == "done"


def overdue_item(dsn, say):
    """Move one open identity item 31 days past its due date (SQL)."""
    row = H.psql(dsn, "SELECT l.action_item_id, l.remote_key FROM external_link l "
                      "JOIN action_item i ON i.id = l.action_item_id WHERE l.connector = '%s' "
                      "AND l.state = 'linked' AND i.state NOT IN ('done', 'wont_do') "
                      "ORDER BY 1 LIMIT 1" % CONN)
    if not row:
        return None
    item, key = row[0]
    H.psql(dsn, "UPDATE action_item SET due_date = current_date - 31 WHERE id=%s" % item)
    say("   and item %s (%s, ServiceNow) too" % (item, key))
    return item, key


def show_escalation(dsn, sim, say, table, item_key):
    if not item_key:
        return False
    item, key = item_key
    sent = H.wait_for(lambda: H.scalar(dsn, "SELECT count(*) FROM escalation WHERE action_item_id=%s "
                                            "AND channel LIKE 'comment:%%' AND state='sent'" % item)
                      == "1", 60)
    sys_id = H.scalar(dsn, "SELECT remote_id FROM external_link WHERE action_item_id=%s "
                           "AND connector='%s'" % (item, CONN))
    notes = [e for e in sim.journal() if e["element_id"] == sys_id]
    say("   %s has %d work note(s)%s; the first one:" % (key, len(notes), "" if sent else
                                                       " (the escalation was not sent in 60 s)"))
    for line in (notes[0]["value"] if notes else "").splitlines():
        say("     | " + line)
    table(dsn, "SELECT '   escalation:', rung, channel, state, recipient_identity FROM escalation "
               "WHERE action_item_id=%s ORDER BY id" % item)
    return sent and len(notes) == 1
