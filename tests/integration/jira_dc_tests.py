"""Integration tests of the Jira connector against Jira Data Center /
Server (REST v2; flavor = "datacenter"; imported by run.py): the real
`closeloop` binary, a real PostgreSQL ledger and tests/sim/jira_sim.py
--flavor datacenter, which answers as Data Center does: /rest/api/2 paths
only, a personal access token as Bearer, descriptions and comments as wiki
markup strings, users by name, /rest/api/2/search paged by startAt with
short pages while more follow (--max-results)."""

import os
import re

import harness as H
from jira_tests import JiraCtx, kill9_during_create, token_counts, _assert, _eq

CONN = "jira-test"
JDOE = "jdoe"           # rf's Data Center user name, known to the site
GHOST = "ghost.user"    # pw's, unknown to the site
LEAD = "pat.lead"       # the platform lead's
DESC = ("## Why\n\nThe **pager** did not fire; see `page.sh` and "
        "[the runbook](https://wiki.example.com/RB-1).\n\n- check the route\n- add a test")


def write_dc_directory(path):
    with open(path, "w") as f:
        f.write('''platforms = ( { name = "kubernetes"; lead = "lead"; } );
teams = (
  { name = "ops-team"; platform = "kubernetes"; connector = "%s"; target = "OPS"; },
  { name = "plat-team"; platform = "kubernetes"; connector = "%s"; target = "PLAT"; }
);
people = (
  { handle = "rf"; name = "R. F."; email = "rf@example.com"; jira_username = "%s"; active = true; },
  { handle = "pw"; name = "P. W."; email = "pw@example.com"; jira_username = "%s"; active = true; },
  { handle = "lead"; name = "Pat Lead"; email = "pat@example.com"; jira_username = "%s"; active = true; }
);
''' % (CONN, CONN, JDOE, GHOST, LEAD))


class JiraDcCtx(JiraCtx):
    """JiraCtx with the simulator and the connector as Jira Data Center."""

    def __init__(self, cluster, name, sim_args=(), extra=""):
        super().__init__(cluster, name, ["--flavor", "datacenter", "--user", JDOE,
                                         "--user", LEAD] + list(sim_args), extra)
        write_dc_directory(self.directory)
        text = open(self.config).read()
        text = text.replace('token_env = "CLOSELOOP_JIRA_CREDENTIALS";',
                            'flavor = "datacenter"; token_env = "CLOSELOOP_JIRA_DC_PAT";')
        with open(self.config, "w") as f:
            f.write(text)
        H.closeloop("directory", "load", "-c", self.config)


def test_jira_dc_create_pull_push_in_wiki_markup(cl):
    c = JiraDcCtx(cl, "jira_dc_basic")
    try:
        c.imp(4)
        c.q("UPDATE action_item SET description = $d$%s$d$" % DESC)
        c.q("UPDATE action_item SET owner = 'pw' WHERE id = (SELECT max(id) FROM action_item)")
        c.sync()
        _eq(len(c.sim.issues("OPS")), 4, "one issue per item")
        _eq(set(token_counts(c.sim).values()), {1}, "each token once")
        paths = {r["path"] for r in c.sim.requests()}
        _eq(sorted(p for p in paths if not p.startswith("/rest/api/2/")), [], "v3 paths")
        item = c.first_item()
        i = c.issue(item)
        d = i["fields"]["description"]
        _assert(isinstance(d, str) and d.startswith("h2. Why\n\nThe *pager* did not fire; see "
                                                     "{{page.sh}} and [the runbook|https://wiki"
                                                     ".example.com/RB-1].\n\n* check the route"),
                "the description is wiki markup: %r" % d)
        _eq(i["fields"]["assignee"], JDOE, "assignee by user name from jira_username")
        last = int(c.one("SELECT max(id) FROM action_item"))
        _eq(c.issue(last)["fields"]["assignee"], None, "an unknown user name: created unassigned")
        held = c.one("SELECT refused::text FROM external_link WHERE action_item_id=%d" % last)
        _assert("jira_username" in (held or ""), "the refusal names jira_username: %r" % held)
        # a quiet cycle after Jira's index settles writes nothing: the wiki
        # round trip of the description is not a change
        c.sim.call("POST", "/_sim/clock", {"advance_s": 120})
        c.sync()
        n = len(c.sim.requests())
        c.sync()
        reqs = c.requests_since(n)
        _eq([(r["method"], r["path"], r["body"]["maxResults"], r["body"]["startAt"]) for r in reqs],
            [("POST", "/rest/api/2/search", 1, 0)] * 2, "a quiet cycle's requests")
        # pull: a Jira user edits the description in wiki markup
        c.sim.call("POST", "/_sim/edit", {"id": i["id"], "fields": {
            "summary": "Edited in Jira DC", "description": "h3. Now\n# one\n# two _em_"}})
        c.sync()
        row = c.q("SELECT title, replace(description, E'\\n', '|') FROM action_item "
                  "WHERE id=%d" % item)[0]  # psql rows are lines
        _eq(row, ["Edited in Jira DC", "### Now||1. one|2. two *em*"], "pulled as Markdown")
        # push: the ledger edits the description and the due date
        c.q("UPDATE action_item SET description = 'Use **strong** words', due_date = '2027-11-30' "
            "WHERE id=%d" % item)
        c.sync()
        i = c.issue(item)
        _eq((i["fields"]["description"], i["fields"]["duedate"]),
            ("Use *strong* words", "2027-11-30"), "pushed as wiki markup")
        # reading it back is no edit either way
        n = len(c.sim.requests())
        c.sync()
        _eq([r["path"] for r in c.requests_since(n) if r["method"] == "PUT"], [], "writes after")
        _eq(c.one("SELECT description FROM action_item WHERE id=%d" % item), "Use **strong** words",
            "the ledger keeps its Markdown")
    finally:
        c.close()


def test_jira_dc_listing_goes_on_past_short_pages(cl):
    """The server caps a search page at 20 issues although closeloop asks
    for 100: every page is short while more follow (total).  Stopping at a
    short page would miss 40 of the 60 edits."""
    c = JiraDcCtx(cl, "jira_dc_pages", sim_args=["--max-results", "20"])
    try:
        c.imp(60, per_pm=30)
        c.sync()
        issues = c.sim.issues("OPS")
        _eq(len(issues), 60, "issues created")
        c.sim.call("POST", "/_sim/clock", {"advance_s": 120})
        for i in issues:
            c.sim.call("POST", "/_sim/edit", {"id": i["id"], "fields": {"summary": "DC %s" % i["key"]}})
        n = len(c.sim.requests())
        c.sync()
        got = {r[0]: r[1] for r in c.q("SELECT l.remote_id, i.title FROM external_link l JOIN "
                                       "action_item i ON i.id = l.action_item_id")}
        missed = sorted(i["key"] for i in issues if got.get(i["id"]) != "DC %s" % i["key"])
        _eq(missed, [], "issues whose Jira edit was not pulled")
        pages = [r for r in c.requests_since(n) if r["path"] == "/rest/api/2/search"
                 and r["body"]["maxResults"] == 100]
        _assert(len(pages) >= 3, "the listing went on past short pages: %d pages" % len(pages))
    finally:
        c.close()


def test_jira_dc_kill9_during_create_leaves_one_issue_per_item(cl):
    """As on Cloud (kill9_during_create), through /rest/api/2 and a
    search index that lags 3 s (a cluster's index replication)."""
    c = JiraDcCtx(cl, "jira_dc_kill9", sim_args=["--latency-ms", "40", "--search-lag-ms", "3000"],
                  extra="create_min_age = 0;\n")
    try:
        kill9_during_create(c, "/rest/api/2", "/rest/api/2/search")
    finally:
        c.close()


def test_jira_dc_escalation_comment_mentions_the_lead_by_user_name(cl):
    """... and the rung's label action puts closeloop:escalated (and
    flags.labels closeloop:overdue) on the issue through REST v2's edit
    "update" verbs."""
    from watch_tests import JIRA_LABEL_WATCH, jira_label_puts
    c = JiraDcCtx(cl, "jira_dc_escalation", extra=JIRA_LABEL_WATCH)
    try:
        c.imp(1)
        c.q("UPDATE action_item SET due_date = current_date - 31")
        c.sync()
        item = c.first_item()
        d = H.Daemon(c.config, os.path.join(c.dir, "daemon.log"))
        c.daemons.append(d)
        ok = H.wait_for(lambda: c.one("SELECT count(*) FROM escalation WHERE state = 'sent'") == "1"
                        and c.one("SELECT count(*) FROM ticket_label WHERE applied") == "2",
                        timeout=60)
        _assert(ok, "escalation sent, two labels applied:\n" + d.log()[-2000:])
        _eq(d.stop(), 0, "clean stop")
        labels = c.issue(item)["fields"]["labels"]
        _assert("closeloop:escalated" in labels and "closeloop:overdue" in labels, labels)
        _eq(sorted(p[0] for p in jira_label_puts(c.sim)),
            ["/rest/api/2/issue/%s" % c.link(item)[0]] * 2, "two label writes on v2")
        c.daemons.clear()
        comments = c.issue(item)["comments"]
        _eq(len(comments), 1, "one comment")
        body = comments[0]["body"]
        _assert(isinstance(body, str) and "[~%s]" % LEAD in body,
                "a wiki markup comment mentioning [~%s]: %r" % (LEAD, body))
        _assert("*closeloop escalation" in body and "**" not in body, "wiki strong: %r" % body)
        _assert(re.search(r"closeloop:escalation esc-[0-9a-f]{32}", body), "the marker: %r" % body)
        row = c.q("SELECT recipient_identity, channel FROM escalation")
        _eq(row, [["[~%s]" % LEAD, "comment:" + CONN]], "escalation row")
    finally:
        c.close()
