"""Integration tests of one action item in several trackers (imported by
run.py): a team routed to Jira, GitHub and ServiceNow at once (the
directory's `also_to`), with the real `closeloop` binary, a real PostgreSQL
and the three tracker simulators (tests/sim/)."""

import json
import os
import re
import time

import harness as H
import jira_tests as J

GH = "github-test"
JIRA = "jira-test"
SN = "servicenow-itsm"
REPO = "acme/oss-platform"
PROJECT = "OPS"
GROUP = H.SN_GROUP


def _assert(cond, msg):
    if not cond:
        raise AssertionError(msg)


class MultiCtx:
    """A ledger, the three simulators and a configuration whose team
    'identity' routes to Jira project OPS and also to a public GitHub
    repository and a ServiceNow assignment group."""

    def __init__(self, cl, name, n_items, sn_args=(), also=None, poll=600, policy=None,
                 more_sn=()):
        self.wd = H.workdir(name + "-")
        self.dsn = cl.createdb(name)
        self.gh = H.Simulator(self.wd)
        self.jira = H.JiraSimulator(self.wd, ["--project", PROJECT, "--user", J.ALICE])
        self.sn = H.ServiceNowSimulator(self.wd, sn_args)
        self.directory = os.path.join(self.wd, "directory.conf")
        if also is None:
            also = [(GH, REPO), (SN, GROUP)]
        self.write_directory(also)
        self.config = os.path.join(self.wd, "closeloop.conf")
        more = H.jira_connector(JIRA, self.jira.url, [PROJECT]) + ", " + \
            ", ".join(H.servicenow_connector(n, self.sn.url, [g])
                      for n, g in [(SN, GROUP)] + list(more_sn))
        H.write_config(self.config, self.dsn, self.gh.url, [REPO], directory=self.directory,
                       connector=GH, poll=poll, more_connectors=more, policy=policy,
                       extra="create_min_age = 0;\n")
        H.closeloop("migrate", "-c", self.config)
        H.closeloop("directory", "load", "-c", self.config)
        H.psql(self.dsn, "INSERT INTO postmortem (reference, title, platform_id, published_date) "
                         "SELECT 'PM-MULTI', 'Login outage', id, current_date FROM platform")
        if n_items:
            H.psql(self.dsn, "INSERT INTO action_item (postmortem_id, title, priority, owner, team_id) "
                             "SELECT 1, 'Fix identity thing ' || g, 'P2', 'rf', t.id "
                             "FROM team t, generate_series(1, %d) g WHERE t.name = 'identity'"
                   % n_items)
        self.daemons = []

    def write_directory(self, also):
        routes = ", ".join('{ connector = "%s"; target = "%s"; }' % r for r in also)
        with open(self.directory, "w") as f:
            f.write('platforms = ( { name = "kubernetes"; lead = "lead"; } );\n'
                    'teams = ( { name = "identity"; platform = "kubernetes"; connector = "%s";'
                    ' target = "%s"; also_to = ( %s ); } );\n'
                    'people = ( { handle = "lead"; name = "Lea D."; email = "lead@example.com";'
                    ' active = true; },\n'
                    '  { handle = "rf"; name = "R. F."; email = "rf@example.com"; github = "rf-gh";'
                    ' active = true; } );\n' % (JIRA, PROJECT, routes))

    def one(self, sql):
        return H.scalar(self.dsn, sql)

    def daemon(self):
        d = H.Daemon(self.config, os.path.join(self.wd, "daemon-%d.log" % len(self.daemons)))
        self.daemons.append(d)
        return d

    def counts(self):
        """Tickets in each tracker: (GitHub, Jira, ServiceNow)."""
        return (len(self.gh.issues(REPO)), len(self.jira.issues(PROJECT)), len(self.sn.records()))

    def close(self):
        for d in self.daemons:
            d.stop()
        for s in (self.gh, self.jira, self.sn):
            s.stop()


def _no_duplicate_tokens(c):
    """Each create token appears on one ticket per tracker at most."""
    gh = [i["body"] for i in c.gh.issues(REPO)]
    tokens = [r[0] for r in H.psql(c.dsn, "SELECT create_token FROM external_link "
                                          "WHERE kind = 'managed' AND connector = '%s'" % GH)]
    for t in tokens:
        n = sum(1 for b in gh if t in (b or ""))
        _assert(n <= 1, "GitHub token %s on %d issues" % (t, n))
    sn = [r["correlation_id"] for r in c.sn.records()]
    dup = sorted(t for t in set(sn) if sn.count(t) > 1)
    _assert(dup == [], "duplicate ServiceNow problems for %r" % dup)


def test_multi_team_routed_to_three_trackers_gets_one_ticket_in_each(cl):
    """A team routed to its Jira project and also to a GitHub repository and
    a ServiceNow group: each item gets exactly one ticket in each, through
    one create intent per link, even when the daemon is killed (-9) in the
    middle of creating; check-config names a route the configuration does
    not serve."""
    n = 12
    c = MultiCtx(cl, "multi_routes", n, sn_args=["--latency-ms", "80"])
    try:
        out = H.closeloop("check-config", "-c", c.config)
        _assert("ok (3 connector(s))" in out.stdout, out.stdout)
        d = c.daemon()
        ok = H.wait_for(lambda: len(c.sn.records()) >= 3, timeout=90, step=0.02)
        _assert(ok, "the daemon started creating problems:\n" + d.log()[-2000:])
        d.kill9(c.dsn)
        mid = c.counts()
        _assert(mid[2] < n, "killed before every problem was made: %r" % (mid,))
        for _ in range(3):
            H.closeloop("sync", "--once", "-c", c.config)
        _assert(c.counts() == (n, n, n), "one ticket per item in each tracker: %r" % (c.counts(),))
        _no_duplicate_tokens(c)
        rows = H.psql(c.dsn, "SELECT connector, count(*) FROM external_link WHERE kind = 'managed' "
                             "AND state = 'linked' GROUP BY connector ORDER BY connector")
        _assert(rows == [[GH, str(n)], [JIRA, str(n)], [SN, str(n)]], "links: %r" % rows)
        _assert(c.one("SELECT count(*) FROM external_link WHERE state = 'creating'") == "0",
                "no intent left")
        # a quiet cycle creates nothing more
        H.closeloop("sync", "--once", "-c", c.config)
        _assert(c.counts() == (n, n, n), "nothing more: %r" % (c.counts(),))

        # a route to a target no connector serves: check-config says where
        c.write_directory([(GH, "acme/nowhere")])
        bad = H.closeloop("check-config", "-c", c.config, check=False)
        _assert(bad.returncode == 1, "check-config fails:\n" + bad.stdout + bad.stderr)
        _assert("directory.conf:2: team 'identity': connector 'github-test' does not serve "
                "'acme/nowhere'" in bad.stderr, bad.stderr)
        c.write_directory([(JIRA, "OPS")])
        bad = H.closeloop("check-config", "-c", c.config, check=False)
        _assert(bad.returncode == 1 and "also_to names connector 'jira-test', the team's own"
                in bad.stderr, bad.stderr)
    finally:
        c.close()


def _jira_create(sim, summary):
    """An issue a Jira user made before the postmortem was written."""
    import base64
    import json
    import urllib.request
    body = json.dumps({"fields": {"project": {"key": PROJECT}, "summary": summary,
                                  "issuetype": {"name": "Task"}}}).encode()
    req = urllib.request.Request(sim.url + "/rest/api/3/issue", data=body, method="POST")
    req.add_header("Content-Type", "application/json")
    cred = base64.b64encode(("%s:%s" % (H.JIRA_EMAIL, H.JIRA_API_TOKEN)).encode()).decode()
    req.add_header("Authorization", "Basic " + cred)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


ADOPT_PM = """# Login outage

## Action items

| Action item | Owner | Ticket |
| --- | --- | --- |
| Rotate the identity signing keys, see [the Jira issue](https://jira.example.com/browse/%s) | rf | |
| Add an alert on token refresh failures | rf | |
| Shorten the session cache lifetime | rf | %s |
| Check the clock drift on the identity hosts | rf | SHA-256 |
"""


def _route_team_to_github(c):
    with open(c.directory) as f:
        text = f.read()
    text = text.replace('connector = "%s"; target = "%s"; also_to = (  );' % (JIRA, PROJECT),
                        'connector = "%s"; target = "%s";' % (GH, REPO))
    with open(c.directory, "w") as f:
        f.write(text)
    H.closeloop("directory", "load", "-c", c.config)


def test_multi_postmortem_ticket_in_another_tracker_is_adopted(cl):
    """A team routed to GitHub only; its postmortem names two existing Jira
    issues (a browse URL and a bare key in the ticket column) in a project
    a Jira connector serves: those items are linked to those issues (no new
    Jira issue) and still get their GitHub issue; the other items get their
    GitHub issue only; a re-import adds nothing; 'SHA-256' in the ticket
    column names no project anyone serves and stays an inert reference."""
    c = MultiCtx(cl, "multi_adopt", 0, also=[])
    try:
        _route_team_to_github(c)  # the team routes to GitHub alone
        a = _jira_create(c.jira, "Signing keys rotation (filed during the incident)")
        b = _jira_create(c.jira, "Session cache too long")
        pm = os.path.join(c.wd, "PM2026-077 - login outage.md")
        with open(pm, "w") as f:
            f.write(ADOPT_PM % (a["key"], b["key"]))
        out = H.closeloop("import", "-c", c.config, "--team", "identity", "--platform",
                          "kubernetes", pm).stdout
        _assert("4 new" in out, out)
        refs = H.psql(c.dsn, "SELECT connector, target, remote_key FROM external_link "
                             "WHERE kind = 'reference' ORDER BY remote_key")
        _assert(refs == [["jira", PROJECT, a["key"]], ["jira", PROJECT, b["key"]],
                         ["jira", "SHA", "SHA-256"]], "references: %r" % refs)
        for _ in range(2):
            H.closeloop("sync", "--once", "-c", c.config)
        _assert(len(c.jira.issues(PROJECT)) == 2, "no new Jira issue: %r"
                % [i["key"] for i in c.jira.issues(PROJECT)])
        _assert(len(c.gh.issues(REPO)) == 4, "a GitHub issue for each item")
        rows = H.psql(c.dsn, "SELECT i.import_key IS NOT NULL, l.remote_key, l.state, i.title "
                             "FROM external_link l JOIN action_item i ON i.id = l.action_item_id "
                             "WHERE l.kind = 'managed' AND l.connector = '%s' ORDER BY 2" % JIRA)
        # adopted without a base: each differing field is settled by the
        # policy (the title: remote_wins by default), as for any adoption
        _assert(rows == [["t", a["key"], "linked",
                          "Signing keys rotation (filed during the incident)"],
                         ["t", b["key"], "linked", "Session cache too long"]],
                "Jira links: %r" % rows)
        ids = H.psql(c.dsn, "SELECT remote_id FROM external_link WHERE connector = '%s' "
                            "ORDER BY remote_key" % JIRA)
        _assert(ids == [[a["id"]], [b["id"]]], "the numeric ids are kept: %r" % ids)
        # the two linked items have one GitHub issue each, with the same title
        gh_titles = sorted(i["title"] for i in c.gh.issues(REPO))
        _assert("Session cache too long" in gh_titles or
                H.wait_for(lambda: H.closeloop("sync", "--once", "-c", c.config) and
                           "Session cache too long" in [i["title"] for i in c.gh.issues(REPO)],
                           timeout=30, step=1),
                "the adopted title reached GitHub: %r" % gh_titles)
        # re-import: no reference again, nothing new
        out = H.closeloop("import", "-c", c.config, "--team", "identity", "--platform",
                          "kubernetes", pm).stdout
        _assert(c.one("SELECT count(*) FROM external_link WHERE kind = 'reference'") == "1",
                "only the inert reference is left:\n" + out)
        H.closeloop("sync", "--once", "-c", c.config)
        _assert(c.counts()[:2] == (4, 2), "nothing more: %r" % (c.counts(),))
    finally:
        c.close()


SN_ADOPT_PM = """# Payment queue backlog

## Action items

| Action item | Owner | Ticket |
| --- | --- | --- |
| Alert on consumer lag (filed as PRB0040002 during the incident) | rf | PRB0040002 |
| Document the failover runbook | rf | |
| Load-test the standby broker | rf | PRB0049999 |
| Add a dead-letter queue, see [the problem](%s/nav_to.do?uri=problem.do?sys_id=%s) | rf | |
"""


def test_multi_postmortem_servicenow_problem_is_adopted(cl):
    """A team routed to GitHub only; its postmortem names ServiceNow
    problems: PRB0040002 (twice in one item), a problem URL of the
    instance (nav_to.do), and PRB0049999, which does not exist.  The items
    naming existing problems are linked to their GitHub issue and to that
    problem (no new problem; the number looked up through the Table API);
    the unknown number breaks its reference with a per-item error (shown
    by `closeloop show`), and no problem is created for that item.  A
    restart, a re-import and two daemons at once link nothing twice."""
    c = MultiCtx(cl, "multi_snref", 0, also=[])
    try:
        _route_team_to_github(c)
        first = c.sn.call("POST", "/_sim/records/problem", {
            "short_description": "Broker failover lost its consumers",
            "assignment_group": "0" * 32})
        second = c.sn.call("POST", "/_sim/records/problem", {
            "short_description": "Consumer lag unnoticed for 55 minutes"})
        _assert(second["number"] == "PRB0040002", "the simulator numbers: %r" % second)
        pm = os.path.join(c.wd, "PM2026-118 - queue backlog.md")
        with open(pm, "w") as f:
            f.write(SN_ADOPT_PM % (c.sn.url, first["sys_id"]))
        out = H.closeloop("import", "-c", c.config, "--team", "identity", "--platform",
                          "kubernetes", pm).stdout
        _assert("4 new" in out, out)
        refs = sorted(H.psql(c.dsn, "SELECT connector, target, remote_key FROM external_link "
                                    "WHERE kind = 'reference'"))
        _assert(refs == sorted([["servicenow", "problem", first["sys_id"]],
                                ["servicenow", "problem", "PRB0040002"],
                                ["servicenow", "problem", "PRB0049999"]]), "references: %r" % refs)
        for _ in range(2):
            H.closeloop("sync", "--once", "-c", c.config)
        _assert(c.counts() == (4, 0, 2), "a GitHub issue each, no new problem: %r"
                % (c.counts(),))
        rows = H.psql(c.dsn, "SELECT l.target, l.remote_id, l.remote_key, l.state, i.title "
                             "FROM external_link l JOIN action_item i ON i.id = l.action_item_id "
                             "WHERE l.kind = 'managed' AND l.connector = '%s' ORDER BY 3" % SN)
        # adopted without a base: the title is the tracker's (remote_wins)
        _assert(rows == [[GROUP, first["sys_id"], first["number"], "linked",
                          "Broker failover lost its consumers"],
                         [GROUP, second["sys_id"], "PRB0040002", "linked",
                          "Consumer lag unnoticed for 55 minutes"]], "ServiceNow links: %r" % rows)
        broken = H.psql(c.dsn, "SELECT l.action_item_id, l.state, l.broken_reason, l.last_error "
                               "FROM external_link l WHERE l.remote_key = 'PRB0049999'")
        _assert(len(broken) == 1 and broken[0][1:3] == ["broken", "gone"] and
                "no problem numbered PRB0049999" in broken[0][3], "unknown number: %r" % broken)
        item = broken[0][0]
        _assert(c.one("SELECT count(*) FROM external_link WHERE action_item_id = %s AND "
                      "kind = 'managed' AND connector = '%s'" % (item, GH)) == "1",
                "the unknown number's item still has its GitHub issue")
        show = H.closeloop("show", "-c", c.config, item).stdout
        _assert("broken: gone" in show and "no problem numbered PRB0049999" in show, show)
        # the numbers reached the problems' GitHub twins: nothing more
        # after a restart, a re-import and two daemons at once
        H.closeloop("sync", "--once", "-c", c.config)
        out = H.closeloop("import", "-c", c.config, "--team", "identity", "--platform",
                          "kubernetes", pm).stdout
        _assert(c.one("SELECT count(*) FROM external_link WHERE kind = 'reference'") == "1",
                "only the broken reference is left:\n" + out)
        before = c.one("SELECT count(*) FROM external_link")
        d1, d2 = c.daemon(), c.daemon()
        time.sleep(6)
        for d in (d1, d2):
            _assert(d.stop() == 0, "clean stop")
        _assert(c.counts() == (4, 0, 2), "nothing more: %r" % (c.counts(),))
        _assert(c.one("SELECT count(*) FROM external_link") == before, "no new link")
        _assert(c.one("SELECT count(*) FROM external_link WHERE connector = '%s' AND "
                      "kind = 'managed'" % SN) == "2", "two ServiceNow links")
    finally:
        c.close()


def test_multi_postmortem_servicenow_number_of_no_instance_is_not_adopted(cl):
    """Two ServiceNow connectors on one instance and table (other
    assignment groups) and a GitHub-routed team: a bare PRB number names
    neither, so import says so (file:line) and nothing adopts it; a record
    URL of that instance is not adopted twice (nor once); no problem is
    created, each item still gets its GitHub issue."""
    c = MultiCtx(cl, "multi_snamb", 0, also=[],
                 more_sn=[("servicenow-b", "0123456789abcdef0123456789abcdef")])
    try:
        _route_team_to_github(c)
        first = c.sn.call("POST", "/_sim/records/problem", {"short_description": "one"})
        c.sn.call("POST", "/_sim/records/problem", {"short_description": "two"})
        pm = os.path.join(c.wd, "PM2026-119 - queue backlog.md")
        with open(pm, "w") as f:
            f.write(SN_ADOPT_PM.replace("PRB0049999", "") % (c.sn.url, first["sys_id"]))
        res = H.closeloop("import", "-c", c.config, "--team", "identity", "--platform",
                          "kubernetes", pm)
        _assert(":7: PRB0040002 names no ServiceNow instance and %s, servicenow-b serve "
                "ServiceNow while team identity routes to none of them" % SN in res.stderr,
                res.stderr)
        for _ in range(2):
            H.closeloop("sync", "--once", "-c", c.config)
        _assert(c.counts() == (4, 0, 2), "GitHub issues, no problem: %r" % (c.counts(),))
        rows = H.psql(c.dsn, "SELECT count(*) FILTER (WHERE kind = 'managed' AND connector "
                             "<> '%s'), count(*) FILTER (WHERE state = 'reference') "
                             "FROM external_link" % GH)
        _assert(rows == [["0", "2"]], "nothing adopted, both references inert: %r" % rows)
    finally:
        c.close()


SN_TWICE_PM = """# Broker failover

## Action items

| Action item | Owner | Ticket |
| --- | --- | --- |
| Page on consumer lag | rf | PRB0040001 |
| Alert on broker failover (the same problem as PRB0040001) | rf | |
| Document the failover runbook | rf | |
"""


def test_multi_servicenow_number_named_by_two_items_is_adopted_once(cl):
    """Two items of a postmortem name one problem, PRB0040001 (one in its
    ticket column, one in its text), for a team routed to GitHub: the
    first item adopts it; the second's claim is refused with one warning
    naming both items, the number and the connector, and its reference is
    broken ('claimed': an item_event, the reason shown by `closeloop
    show`); nothing is written to the problem for the second item, every
    item keeps its GitHub issue and syncs, and later cycles neither try
    the write again nor warn again.  Before: every cycle wrote the second
    adoption, which violated external_link_remote_key, and logged the raw
    database error."""
    c = MultiCtx(cl, "multi_sntwice", 0, also=[], poll=10)
    try:
        _route_team_to_github(c)
        prb = c.sn.call("POST", "/_sim/records/problem", {
            "short_description": "Broker failover lost its consumers"})
        _assert(prb["number"] == "PRB0040001", "the simulator numbers: %r" % prb)
        pm = os.path.join(c.wd, "PM2026-120 - broker failover.md")
        with open(pm, "w") as f:
            f.write(SN_TWICE_PM)
        out = H.closeloop("import", "-c", c.config, "--team", "identity", "--platform",
                          "kubernetes", pm).stdout
        _assert("3 new" in out, out)
        first, second, third = [int(r[0]) for r in
                                H.psql(c.dsn, "SELECT id FROM action_item ORDER BY id")]
        d = c.daemon()
        summary = "[connector=%s] %s: pulled" % (SN, GROUP)
        _assert(d.wait_log(summary, timeout=60), "a first cycle:\n" + d.log()[-3000:])
        patches = c.sn.call("GET", "/_sim/requests").get("PATCH", 0)
        _assert(H.wait_for(lambda: d.log().count(summary) >= 4, timeout=120, step=0.5),
                "four cycles:\n" + d.log()[-3000:])
        H.psql(c.dsn, "UPDATE action_item SET title = 'Write the failover runbook' "
                      "WHERE id = %d" % third)
        _assert(H.wait_for(lambda: _gh_issue(c, third)["title"] == "Write the failover runbook",
                           timeout=30, step=0.5), "the third item still syncs")
        _assert(d.stop() == 0, "clean stop")
        log = d.log()
        _assert("duplicate key" not in log and "external_link_remote_key" not in log,
                "no raw database error:\n" + log[-3000:])
        # whichever of the two is fetched first adopts it
        rows = H.psql(c.dsn, "SELECT action_item_id, remote_key FROM external_link WHERE "
                             "connector = '%s' AND kind = 'managed'" % SN)
        _assert(len(rows) == 1 and rows[0][1] == "PRB0040001" and
                int(rows[0][0]) in (first, second), "one item has the problem: %r" % rows)
        first, second = (first, second) if int(rows[0][0]) == first else (second, first)
        claims = [ln for ln in log.splitlines() if "PRB0040001" in ln and "claimed" in ln]
        _assert(len(claims) == 1 and " warn [" in claims[0] and
                "item=%d " % second in claims[0] and "item %d's" % first in claims[0] and
                SN in claims[0], "one warning naming both items:\n%s" % "\n".join(claims))
        _assert(c.counts()[0] == 3 and len(c.sn.records()) == 1,
                "a GitHub issue each, no new problem: %r" % (c.counts(),))
        _assert(c.sn.call("GET", "/_sim/requests").get("PATCH", 0) == patches,
                "nothing written to the problem after the first cycle")
        ref = H.psql(c.dsn, "SELECT state, broken_reason, last_error FROM external_link "
                            "WHERE action_item_id = %d AND kind = 'reference'" % second)
        _assert(len(ref) == 1 and ref[0][:2] == ["broken", "claimed"] and
                "item %d's" % first in ref[0][2], "the second's reference: %r" % ref)
        ev = H.psql(c.dsn, "SELECT count(*) FROM item_event WHERE action_item_id = %d AND "
                           "field = 'link' AND new_value = 'broken: claimed'" % second)
        _assert(ev == [["1"]], "one item_event: %r" % ev)
        show = H.closeloop("show", "-c", c.config, str(second)).stdout
        _assert("broken: claimed" in show and "item %d's" % first in show, show)
        # the SRE's view: the second item is flagged link_broken, its
        # detail naming the problem as claimed (before: no flag at all,
        # link_broken counted managed links only)
        H.closeloop("flags", "--once", "-c", c.config)
        fl = H.psql(c.dsn, "SELECT action_item_id, detail::text FROM v_item_flag_open "
                           "WHERE kind = 'link_broken' ORDER BY action_item_id")
        _assert(len(fl) == 1 and int(fl[0][0]) == second, "one link_broken flag: %r" % fl)
        links = json.loads(fl[0][1])["links"]
        ref_conn = H.scalar(c.dsn, "SELECT connector FROM external_link WHERE "
                                   "action_item_id = %d AND kind = 'reference'" % second)
        _assert(len(links) == 1 and links[0]["connector"] == ref_conn and
                links[0]["key"] == "PRB0040001" and links[0]["reason"] == "claimed" and
                "item %d's" % first in links[0]["error"], "the flag's detail: %r" % links)
    finally:
        c.close()


def test_multi_team_routed_to_two_servicenow_connectors_adopts_a_number_once(cl):
    """A team routed to two ServiceNow connectors of one instance and
    table (two assignment groups) whose postmortem names PRB0040001 by
    number: both connectors take the bare number, and the cycle runs them
    at once.  Exactly one adopts the problem (whichever fetches it first;
    the other's adoption waits a pass, then finds the reference taken and
    creates the item's ticket in its own group, as the route asks); before,
    both adopted it in the same cycle, the later ledger write took the
    link from the first connector, which had already merged and written
    the problem, and which then created a second problem for the item."""
    other = "0123456789abcdef0123456789abcdef"
    c = MultiCtx(cl, "multi_sntwo", 0, also=[(SN, GROUP), ("servicenow-b", other)],
                 more_sn=[("servicenow-b", other)])
    try:
        prb = c.sn.call("POST", "/_sim/records/problem", {"short_description": "Lag unnoticed",
                                                          "assignment_group": other})
        _assert(prb["number"] == "PRB0040001", "the simulator numbers: %r" % prb)
        pm = os.path.join(c.wd, "PM2026-121 - consumer lag.md")
        with open(pm, "w") as f:
            f.write("# Consumer lag\n\n## Action items\n\n| Action item | Owner | Ticket |\n"
                    "| --- | --- | --- |\n| Page on consumer lag | rf | PRB0040001 |\n"
                    "| Write the failover runbook | rf | |\n")
        H.closeloop("import", "-c", c.config, "--team", "identity", "--platform", "kubernetes", pm)
        adopted = 0
        for _ in range(3):
            err = H.closeloop("sync", "--once", "-c", c.config).stderr
            adopted += sum(int(m) for m in re.findall(
                r"\[connector=servicenow-[a-z]+\] [0-9a-f]{32}: .*adopted (\d+)", err))
            bad = [ln for ln in err.splitlines() if ln.startswith(("warn", "error"))]
            _assert(not bad, "no warning or error:\n" + "\n".join(bad))
        _assert(adopted == 1, "adopted once across both connectors and cycles: %d" % adopted)
        rows = H.psql(c.dsn, "SELECT action_item_id, connector, remote_key FROM external_link "
                             "WHERE kind = 'managed' AND connector LIKE 'servicenow%' ORDER BY 1, 2")
        items = sorted(set(int(r[0]) for r in rows))
        _assert(len(rows) == 4 and len(items) == 2, "one problem per item and group: %r" % rows)
        named = [r for r in rows if r[2] == "PRB0040001"]
        _assert(len(named) == 1 and int(named[0][0]) == items[0],
                "PRB0040001 linked once, to the item naming it: %r" % rows)
        _assert(len(c.sn.records()) == 4, "three new problems and the named one: %r"
                % [r["number"] for r in c.sn.records()])
    finally:
        c.close()


def _gh_issue(c, item):
    num = int(c.one("SELECT split_part(remote_key, '#', 2) FROM external_link WHERE "
                    "action_item_id = %d AND connector = '%s'" % (item, GH)))
    return [i for i in c.gh.issues(REPO) if i["number"] == num][0]


def _jira_issue(c, item):
    jid = c.one("SELECT remote_id FROM external_link WHERE action_item_id = %d AND connector = '%s'"
                % (item, JIRA))
    return [i for i in c.jira.issues(PROJECT) if i["id"] == jid][0]


def test_multi_conflict_is_settled_by_the_trackers_own_change_times(cl):
    """Two trackers change one field between cycles, policy newest_wins: the
    later change on the trackers wins whichever tracker the ledger hears
    from first (the ledger's value carries its tracker's change time, not
    the time the ledger learned it), and the conflict event holds both
    values and both change times."""
    c = MultiCtx(cl, "multi_newest", 2, also=[(GH, REPO)], policy={"title": "newest_wins"})
    try:
        for _ in range(2):
            H.closeloop("sync", "--once", "-c", c.config)
        _assert(c.counts()[:2] == (2, 2), "linked in both: %r" % (c.counts(),))
        one, two = [int(r[0]) for r in H.psql(c.dsn, "SELECT id FROM action_item ORDER BY id")]

        def title(item):
            return c.one("SELECT title FROM action_item WHERE id = %d" % item)

        def sync_until(conn, item, want):
            def step():
                H.closeloop("sync", "--once", "--connector", conn, "-c", c.config)
                return title(item) == want
            return H.wait_for(step, timeout=60, step=0.5)

        # item one: Jira changed first, GitHub two seconds later; the ledger
        # hears Jira first, then meets GitHub's newer title as a conflict
        c.jira.call("POST", "/_sim/edit", {"id": _jira_issue(c, one)["id"],
                                          "fields": {"summary": "Older, from Jira"}})
        time.sleep(2.2)  # GitHub's updated_at has whole seconds
        c.gh.edit(REPO, _gh_issue(c, one)["number"], {"title": "Newer, from GitHub",
                                                      "actor": "rf-gh"})
        _assert(sync_until(JIRA, one, "Older, from Jira"), "Jira's edit of item one pulled")
        _assert(sync_until(GH, one, "Newer, from GitHub"),
                "GitHub's newer title wins item one: %r" % title(one))
        # item two: GitHub first, Jira later; the ledger hears GitHub first
        c.gh.edit(REPO, _gh_issue(c, two)["number"], {"title": "Older, from GitHub",
                                                      "actor": "rf-gh"})
        time.sleep(2.2)
        c.jira.call("POST", "/_sim/edit", {"id": _jira_issue(c, two)["id"],
                                          "fields": {"summary": "Newer, from Jira"}})
        _assert(sync_until(GH, two, "Older, from GitHub"), "GitHub's edit of item two pulled")
        _assert(sync_until(JIRA, two, "Newer, from Jira"),
                "Jira's newer title wins item two: %r" % title(two))
        # both trackers converge on the newer titles
        ok = H.wait_for(lambda: H.closeloop("sync", "--once", "-c", c.config) and
                        _jira_issue(c, one)["fields"]["summary"] == "Newer, from GitHub" and
                        _gh_issue(c, two)["title"] == "Newer, from Jira", timeout=60, step=0.5)
        _assert(ok, "converged: %r / %r" % (_jira_issue(c, one)["fields"]["summary"],
                                            _gh_issue(c, two)["title"]))
        ev = H.psql(c.dsn, "SELECT action_item_id, old_value, new_value, detail->>'chosen', "
                           "detail->>'policy', (detail->>'ledger_changed_at')::timestamptz < "
                           "(detail->>'remote_changed_at')::timestamptz, detail->>'remote' "
                           "FROM item_event WHERE field = 'conflict' ORDER BY id")
        _assert(ev == [[str(one), "Older, from Jira", "Newer, from GitHub", "remote", "newest_wins",
                        "t", "Newer, from GitHub"],
                       [str(two), "Older, from GitHub", "Newer, from Jira", "remote", "newest_wins",
                        "t", "Newer, from Jira"]], "conflict events: %r" % ev)
    finally:
        c.close()


def test_multi_conflict_takes_the_fields_own_change_time_from_jiras_changelog(cl):
    """newest_wins on a title both trackers changed: Jira's title first,
    GitHub's later, then Jira's ticket touched again on another field.
    The ticket's updated-at makes Jira's title look newest; its changelog
    says when the title itself changed, so GitHub's later title wins,
    both values are in the conflict event, and the changelog is read only
    for that conflict (a pull of the other field, and a quiet cycle, read
    none)."""
    c = MultiCtx(cl, "multi_field", 1, also=[(GH, REPO)], policy={"title": "newest_wins"})
    try:
        for _ in range(2):
            H.closeloop("sync", "--once", "-c", c.config)
        _assert(c.counts()[:2] == (1, 1), "linked in both: %r" % (c.counts(),))
        item = int(c.one("SELECT id FROM action_item"))
        jid = _jira_issue(c, item)["id"]

        def changelog_reads():
            return sum(1 for r in c.jira.call("GET", "/_sim/requests")
                       if "changelog" in (r.get("query") or ""))

        c.jira.call("POST", "/_sim/edit", {"id": jid, "fields": {"summary": "Older, from Jira"}})
        time.sleep(2.2)  # GitHub's updated_at has whole seconds
        c.gh.edit(REPO, _gh_issue(c, item)["number"], {"title": "Newer, from GitHub",
                                                       "actor": "rf-gh"})
        time.sleep(2.2)
        c.jira.call("POST", "/_sim/edit", {"id": jid, "fields": {"duedate": "2027-03-01"}})
        # the ledger hears GitHub first, then meets Jira's older title
        H.closeloop("sync", "--once", "--connector", GH, "-c", c.config)
        _assert(c.one("SELECT title FROM action_item WHERE id = %d" % item) == "Newer, from GitHub",
                "GitHub's title pulled")
        _assert(changelog_reads() == 0, "no changelog read for a GitHub pull")
        H.closeloop("sync", "--once", "--connector", JIRA, "-c", c.config)
        row = H.psql(c.dsn, "SELECT title, due_date FROM action_item WHERE id = %d" % item)
        _assert(row == [["Newer, from GitHub", "2027-03-01"]],
                "the title's own change time decides; the due date is pulled: %r" % row)
        _assert(changelog_reads() == 1, "one changelog read, for the conflict: %d" % changelog_reads())
        _assert(_jira_issue(c, item)["fields"]["summary"] == "Newer, from GitHub", "Jira takes it")
        ev = H.psql(c.dsn, "SELECT old_value, new_value, detail->>'remote', detail->>'chosen', "
                           "detail->>'remote_time', (detail->>'ledger_changed_at')::timestamptz > "
                           "(detail->>'remote_changed_at')::timestamptz "
                           "FROM item_event WHERE field = 'conflict' ORDER BY id")
        _assert(ev == [["Newer, from GitHub", "Newer, from GitHub", "Older, from Jira", "ledger",
                        "field", "t"]], "conflict event: %r" % ev)
        # quiet now: no read of the changelog, nothing written
        for _ in range(2):
            H.closeloop("sync", "--once", "-c", c.config)
        _assert(changelog_reads() == 1, "quiet cycles read no changelog: %d" % changelog_reads())
    finally:
        c.close()


def _writes(c):
    """Writes each tracker received so far: (GitHub updates, Jira edits and
    transitions, ServiceNow PATCHes)."""
    j = c.jira.call("GET", "/_sim/stats")
    jw = sum(v for k, v in j.items() if k in ("edit", "transition")) if isinstance(j, dict) else 0
    return (c.gh.stats().get("update", 0), jw, c.sn.call("GET", "/_sim/requests")["PATCH"])


def test_multi_item_in_github_jira_and_servicenow_converges_with_two_daemons(cl):
    """An item linked to GitHub, Jira and ServiceNow (its team's three
    routes), two daemons on one ledger (each connector worked by one of
    them): an edit on each tracker in turn reaches the ledger and the two
    other trackers, and once they agree nothing more is written anywhere
    (no echo between the daemons or the trackers)."""
    c = MultiCtx(cl, "multi_sn", 1, poll=10)
    try:
        for _ in range(2):
            H.closeloop("sync", "--once", "-c", c.config)
        _assert(c.counts() == (1, 1, 1), "one ticket in each: %r" % (c.counts(),))
        item = int(c.one("SELECT id FROM action_item"))
        sys_id = c.one("SELECT remote_id FROM external_link WHERE connector = '%s'" % SN)
        for _ in range(2):
            c.daemon()
        for d in c.daemons:
            _assert(d.wait_log("first reconcile cycle complete", 90), "first cycle:\n" + d.log()[-2000:])

        def titles():
            return (c.one("SELECT title FROM action_item WHERE id = %d" % item),
                    _gh_issue(c, item)["title"], _jira_issue(c, item)["fields"]["summary"],
                    c.sn.records()[0]["short_description"])

        def converge(want, what):
            t0 = time.time()
            ok = H.wait_for(lambda: titles() == (want,) * 4, timeout=90, step=0.5)
            _assert(ok, "%s: ledger, GitHub, Jira, ServiceNow = %r\n%s" % (
                what, titles(), "\n".join(d.log()[-1500:] for d in c.daemons)))
            print("  %s: everywhere after %.1f s" % (what, time.time() - t0))

        c.gh.edit(REPO, _gh_issue(c, item)["number"], {"title": "Edited on GitHub", "actor": "rf-gh"})
        converge("Edited on GitHub", "a GitHub edit")
        c.jira.call("POST", "/_sim/edit", {"id": _jira_issue(c, item)["id"],
                                          "fields": {"summary": "Edited in Jira"}})
        converge("Edited in Jira", "a Jira edit")
        c.sn.call("PATCH", "/_sim/records/" + sys_id, {"short_description": "Edited in ServiceNow"})
        converge("Edited in ServiceNow", "a ServiceNow edit")
        # an edit in the ledger (SQL) reaches all three
        H.psql(c.dsn, "UPDATE action_item SET priority = 'P1' WHERE id = %d" % item)

        def p1_everywhere():
            rec = c.sn.records()[0]
            labels = [l["name"] if isinstance(l, dict) else l
                      for l in _gh_issue(c, item).get("labels", [])]
            jp = _jira_issue(c, item)["fields"].get("priority")
            jp = jp.get("name") if isinstance(jp, dict) else jp
            return (rec.get("impact"), rec.get("urgency")) == ("1", "2") and \
                "priority: P1" in labels and jp == "High"
        _assert(H.wait_for(p1_everywhere, timeout=60, step=0.5),
                "a ledger edit reached the three trackers: %r" % (c.sn.records()[0],))
        # quiet: a poll interval (10 s) and more of each daemon without a
        # write anywhere
        time.sleep(2)
        before, events = _writes(c), c.one("SELECT count(*) FROM item_event")
        time.sleep(13)
        _assert(_writes(c) == before, "no writes once they agree: %r -> %r" % (before, _writes(c)))
        _assert(c.one("SELECT count(*) FROM item_event") == events, "no history once they agree")
        held = H.psql(c.dsn, "SELECT count(DISTINCT connector) FROM external_link "
                             "WHERE kind = 'managed' AND state = 'linked'")
        _assert(held == [["3"]], "three links: %r" % held)
        for d in c.daemons:
            _assert(d.stop() == 0, "clean stop")
    finally:
        c.close()
