"""Discovery by a GitHub Projects (v2) board on the GitHub simulator
(connectors/github_project.c, docs/configuration.md "Discovery"): the
issues of the target on the board are adopted once, across restarts and
two daemons; one taken off the board stays and is flagged; the single-
select field narrows the rule; a quiet cycle costs one GraphQL probe per
project; a project GitHub does not know fails the pass, not the listing."""

import json
import os
import re
import subprocess
import urllib.request

import harness as H
from discover_tests import DCtx

CONN = "github-test"
REPO = "acme/payments"
OWNER = "acme"
NUMBER = 7


def _assert(cond, what):
    if not cond:
        raise AssertionError(what)


class PCtx(DCtx):
    """A ledger, the GitHub simulator with board acme/7, and a connector
    whose rule for REPO is that board (rule: the members after target);
    sync, one, q, daemon and close as DCtx's."""

    def __init__(self, cluster, name, rule="", poll=10):  # pylint: disable=super-init-not-called
        self.dir = H.workdir(name + "-")
        self.dsn = cluster.createdb(re.sub(r"\W", "_", name))
        self.sim = H.Simulator(self.dir, repos=[REPO])
        self.directory = os.path.join(self.dir, "directory.conf")
        H.write_directory(self.directory, [("payments", "money", CONN, REPO)])
        self.config = os.path.join(self.dir, "closeloop.conf")
        self.metrics_port = H.free_port()
        H.write_config(self.config, self.dsn, self.sim.url, [REPO], directory=self.directory,
                       connector=CONN, poll=poll, extra='listen = "127.0.0.1:%d";\n'
                       % self.metrics_port)
        text = open(self.config).read()
        rule = rule or 'project = "%s/%d";' % (OWNER, NUMBER)
        text = text.replace('"%s" ];' % REPO, '"%s" ]; discover = ( { target = "%s"; %s } );'
                            % (REPO, REPO, rule), 1)
        with open(self.config, "w") as f:
            f.write(text)
        H.closeloop("check-config", self.config)
        H.closeloop("migrate", "-c", self.config)
        H.closeloop("directory", "load", "-c", self.config)
        self.sim.call("POST", "/_sim/projects", {"owner": OWNER, "number": NUMBER})
        self.daemons = []

    def board(self, method, number, **kw):
        body = {"owner": OWNER, "number": NUMBER, "repo": REPO, "issue": number}
        body.update(kw)
        return self.sim.call(method, "/_sim/projects/items", body)

    def seed_board(self, n):
        """Issues 1..n ("Item k") in REPO, every one on the board."""
        self.sim.seed({"repos": {REPO: {"issues": [{"number": k, "title": "Item %d" % k}
                                                   for k in range(1, n + 1)]}}})
        for k in range(1, n + 1):
            self.board("POST", k)

    def metrics(self):
        """The running daemon's /metrics samples of CONN: {name{labels}: value}."""
        url = "http://127.0.0.1:%d/metrics" % self.metrics_port
        with urllib.request.urlopen(url, timeout=5) as r:
            text = r.read().decode()
        return {ln.rsplit(" ", 1)[0]: int(ln.rsplit(" ", 1)[1]) for ln in text.splitlines()
                if ln.startswith("closeloop_connector_") and 'connector="%s"' % CONN in ln}

    def items_of(self, number):  # pylint: disable=arguments-renamed
        return DCtx.items_of(self, "%s#%d" % (REPO, number))


def test_discover_project_adopts_board_issues_once_across_restarts_and_two_daemons(cl):
    c = PCtx(cl, "project_once")
    try:
        c.sim.seed({"repos": {REPO: {"issues": [
            {"number": 1, "title": "Add retry budget", "body": "From the review of PM-2026-014."},
            {"number": 2, "title": "Rotate the runbook owner"},
            {"number": 3, "title": "Unrelated bug"},
            {"number": 4, "title": "A pull request on the board", "pull_request": True},
        ]}}})
        c.sim.seed({"repos": {"acme/other": {"issues": [{"number": 1, "title": "other repo"}]}}})
        for n in (1, 2, 4):
            c.board("POST", n)
        c.sim.call("POST", "/_sim/projects/items", {"owner": OWNER, "number": NUMBER,
                                                    "repo": "acme/other", "issue": 1})
        out = c.sync()
        _assert("discovered 2" in out.stderr, out.stderr[-1500:])
        _assert(c.items_of(1) == 1 and c.items_of(2) == 1, "board issues adopted")
        _assert(c.items_of(3) == 0 and c.items_of(4) == 0, "not on the board / a pull request")
        _assert(int(c.one("SELECT count(*) FROM external_link WHERE remote_key LIKE 'acme/other%'"))
                == 0, "another repository's issue on the board is not this target's")
        n_items = int(c.one("SELECT count(*) FROM action_item"))
        # an old issue added to the board later, the cursor past it
        c.sim.seed({"repos": {REPO: {"issues": [{"number": 5, "title": "Old issue, boarded late"}]}}})
        c.sync()
        _assert(c.items_of(5) == 0, "not on the board yet")
        c.sim.call("POST", "/_sim/clock", {"advance_s": 3600})
        c.sim.edit(REPO, 3, {"title": "Unrelated bug (edited)"})
        c.sync()
        c.board("POST", 5)
        # each run is a new process (a restart): the board as the ledger keeps
        # it, so #5 is the one new member, adopted once
        c.sync()
        c.sync()
        _assert(c.items_of(5) == 1, "boarded later: adopted although not updated")
        _assert(int(c.one("SELECT count(*) FROM action_item")) == n_items + 1, "one more in all")
        # two daemons, the cursor gone, another issue boarded
        c.q("DELETE FROM sync_cursor")
        c.sim.seed({"repos": {REPO: {"issues": [{"number": 6, "title": "Cap the retry storm"}]}}})
        c.board("POST", 6)
        c.daemon(), c.daemon()
        _assert(H.wait_for(lambda: c.items_of(6) == 1, timeout=90), "adopted by a daemon")
        for n in (1, 2, 5, 6):
            _assert(c.items_of(n) == 1, "issue %d: one item" % n)
        _assert(int(c.one("SELECT count(*) FROM action_item")) == n_items + 2, "two more in all")
        _assert(int(c.one("SELECT count(*) FROM item_event WHERE field = 'link' AND new_value LIKE"
                          " 'discovered: %%'")) == 4, "one discovery event per ticket")
        _assert(c.one("SELECT p.reference FROM external_link l JOIN action_item i ON i.id ="
                      " l.action_item_id JOIN postmortem p ON p.id = i.postmortem_id WHERE"
                      " l.remote_key = '%s#1'" % REPO) == "unattached:payments",
                "no postmortem PM-2026-014 in this ledger: unattached")
        made = [i for i in c.sim.live_issues(REPO) if "closeloop:begin" in (i.get("body") or "")]
        _assert(not made, "no issue created")
    finally:
        c.close()


def test_discover_project_removed_from_board_flags_the_item(cl):
    c = PCtx(cl, "project_left")
    try:
        c.sim.seed({"repos": {REPO: {"issues": [{"number": 3, "title": "Tighten the deploy gate"}]}}})
        c.board("POST", 3)
        d = c.daemon()
        _assert(H.wait_for(lambda: c.items_of(3) == 1, timeout=60), "adopted")
        item = int(c.one("SELECT action_item_id FROM external_link WHERE remote_key = '%s#3'" % REPO))
        # taken off the board: the issue itself is not updated
        c.board("DELETE", 3)
        _assert(H.wait_for(lambda: c.one("SELECT discover_left_at IS NOT NULL FROM external_link"
                                         " WHERE action_item_id = %d" % item) == "t", timeout=60),
                "left the rule: %s" % d.log()[-2000:])
        H.closeloop("flags", "--once", "-c", c.config)
        _assert(int(c.one("SELECT count(*) FROM item_flag WHERE kind = 'discovery_left' AND"
                          " action_item_id = %d AND cleared_at IS NULL" % item)) == 1, "flagged")
        _assert(int(c.one("SELECT count(*) FROM action_item WHERE id = %d" % item)) == 1, "kept")
        c.board("POST", 3)
        _assert(H.wait_for(lambda: c.one("SELECT discover_left_at IS NULL FROM external_link"
                                         " WHERE action_item_id = %d" % item) == "t", timeout=60),
                "back on the board")
    finally:
        c.close()


def test_discover_project_field_value_narrows_the_rule(cl):
    c = PCtx(cl, "project_field", rule='project = "%s/%d"; project_field = "Type"; '
                                       'project_value = "Postmortem action";' % (OWNER, NUMBER))
    try:
        c.sim.seed({"repos": {REPO: {"issues": [{"number": 1, "title": "An action"},
                                                {"number": 2, "title": "A feature"},
                                                {"number": 3, "title": "No type yet"}]}}})
        c.board("POST", 1, fields={"Type": "postmortem ACTION"})
        c.board("POST", 2, fields={"Type": "Feature"})
        c.board("POST", 3)
        c.sync()
        _assert(c.items_of(1) == 1, "the option (any case) is adopted")
        _assert(c.items_of(2) == 0 and c.items_of(3) == 0, "another option, or none, is not")
    finally:
        c.close()


def test_discover_project_quiet_cycle_is_one_probe_per_project(cl):
    c = PCtx(cl, "project_quiet")
    try:
        c.seed_board(250)
        d = c.daemon()
        _assert(H.wait_for(lambda: int(c.one("SELECT count(*) FROM external_link")) == 250,
                           timeout=120), "250 adopted")
        H.wait_for(lambda: False, timeout=3)  # the cycle that adopted them ends
        c.sim.call("DELETE", "/_sim/graphql/queries")
        c.sim.reset_stats()
        H.wait_for(lambda: c.sim.stats()["list"] >= 3, timeout=60)  # three cycles
        s = c.sim.stats()
        queries = c.sim.call("GET", "/_sim/graphql/queries")["queries"]
        _assert(s["graphql"] > 0, "the board was probed: %r" % s)
        probes = [q for q in queries if "items(first:1)" in q["query"]]
        _assert(len(probes) == len(queries), "quiet cycles only probe, never page: %d of %d"
                % (len(probes), len(queries)))
        _assert(s["graphql"] <= s["not_modified"] + 1, "one probe per repository listing: %r" % s)
        _assert(s["create"] == 0 and s["update"] == 0, "nothing written: %r" % s)
        # one more item boarded: the next pass pages the board once (3 pages)
        c.sim.seed({"repos": {REPO: {"issues": [{"number": 251, "title": "Item 251"}]}}})
        c.board("POST", 251)
        _assert(H.wait_for(lambda: c.items_of(251) == 1, timeout=60), "the new one adopted")
        queries = c.sim.call("GET", "/_sim/graphql/queries")["queries"]
        pages = [q for q in queries if "items(first:100" in q["query"]]
        _assert(len(pages) == 3, "one paging of 251 items: %d pages" % len(pages))
    finally:
        c.close()


def _board_requests(c):
    """The GraphQL requests the simulator took since its list was emptied,
    by kind: the probe, a page of items, the issues that left (nodes)."""
    kinds = {"probe": 0, "items": 0, "nodes": 0}
    for q in c.sim.call("GET", "/_sim/graphql/queries")["queries"]:
        kinds["probe" if "items(first:1)" in q["query"] else
              "nodes" if "nodes(ids:" in q["query"] else "items"] += 1
    return kinds


def test_discover_project_restart_with_a_quiet_board_only_probes(cl):
    """The board as last read is in the ledger (discover_board): a new
    process (sync --once, a daemon started again) probes the board and,
    finding it as stored, pages nothing."""
    c = PCtx(cl, "project_restart")
    try:
        c.seed_board(150)
        c.sync()
        _assert(int(c.one("SELECT count(*) FROM external_link")) == 150, "150 adopted")
        c.sim.call("DELETE", "/_sim/graphql/queries")
        out = c.sync()  # a new process
        kinds = _board_requests(c)
        _assert(kinds == {"probe": 1, "items": 0, "nodes": 0},
                "a restart with a quiet board: one probe, no page: %r\n%s" % (kinds, out.stderr[-1500:]))
        # a daemon started afterwards: its first cycles probe only
        c.sim.reset_stats()
        c.daemon()
        _assert(H.wait_for(lambda: c.sim.stats()["list"] >= 2, timeout=60), "two cycles")
        kinds = _board_requests(c)
        _assert(kinds["probe"] >= 2 and kinds["items"] == 0 and kinds["nodes"] == 0,
                "the daemon's cycles only probe: %r" % kinds)
        # /metrics counts them by document, with GraphQL's points left
        m = c.metrics()
        g = 'closeloop_connector_graphql_requests_total{connector="%s",kind="%%s"}' % CONN
        _assert(m.get(g % "probe", 0) >= 2 and m.get(g % "items") == 0 and m.get(g % "nodes") == 0,
                "graphql requests by document: %r" % m)
        left = m.get('closeloop_connector_graphql_points_remaining{connector="%s"}' % CONN)
        _assert(left is not None and 4900 <= left < 5000, "points left as GitHub said: %r" % m)
        _assert(m.get('closeloop_connector_graphql_points_reset_seconds{connector="%s"}' % CONN, 0)
                > 1700000000, "the budget's reset: %r" % m)
        _assert(int(c.one("SELECT count(*) FROM discover_board_member")) == 150, "the members kept")
        _assert(int(c.one("SELECT count(*) FROM external_link")) == 150, "nothing adopted again")
        # only the daemon holding the connector's lock writes the board
        try:
            c.q("SELECT closeloop_discover_board_save('%s', '%s', 'x', 0, 0, 0, '[]')" % (CONN, REPO))
            refused = ""
        except RuntimeError as e:
            refused = str(e)
        _assert("does not hold the connector's lock" in refused,
                "a session without the lock is refused: %r" % refused)
        _assert(int(c.one("SELECT count(*) FROM discover_board_member")) == 150, "unchanged")
    finally:
        c.close()


def test_discover_project_removed_while_stopped_is_flagged_on_the_first_cycle(cl):
    """An issue taken off the board (and another put on it) while no daemon
    ran: the first cycle after the start pages the board once, flags the
    one that left and adopts the new one; the next one only probes."""
    c = PCtx(cl, "project_stopped")
    try:
        c.sim.seed({"repos": {REPO: {"issues": [{"number": n, "title": "Item %d" % n}
                                                for n in range(1, 5)]}}})
        for n in (1, 2, 3):
            c.board("POST", n)
        c.sync()
        _assert(all(c.items_of(n) == 1 for n in (1, 2, 3)), "adopted")
        # nothing runs: #2 leaves the board, #4 (an old issue) joins it
        c.sim.call("POST", "/_sim/clock", {"advance_s": 60})
        c.board("DELETE", 2)
        c.board("POST", 4)
        c.sim.call("DELETE", "/_sim/graphql/queries")
        out = c.sync()
        left = c.one("SELECT discover_left_at IS NOT NULL FROM external_link WHERE remote_key = "
                     "'%s#2'" % REPO)
        _assert(left == "t", "taken off the board while stopped: flagged on the first cycle "
                "(discover_left_at set: %s)\n%s" % (left, out.stderr[-1500:]))
        _assert(c.items_of(4) == 1, "boarded while stopped: adopted on the first cycle")
        kinds = _board_requests(c)
        _assert(kinds == {"probe": 1, "items": 1, "nodes": 1},
                "paged once, the one that left read by its node id: %r" % kinds)
        _assert(int(c.one("SELECT count(*) FROM external_link WHERE discover_left_at IS NOT NULL"))
                == 1, "only #2 left")
        c.sim.call("DELETE", "/_sim/graphql/queries")
        c.sync()
        _assert(_board_requests(c) == {"probe": 1, "items": 0, "nodes": 0}, "then quiet again")
        _assert(c.one("SELECT discover_left_at IS NOT NULL FROM external_link WHERE remote_key = "
                      "'%s#2'" % REPO) == "t", "still flagged")
    finally:
        c.close()


def test_discover_project_unknown_project_fails_the_pass_not_the_listing(cl):
    c = PCtx(cl, "project_unknown", rule='project = "%s/99"; label = "postmortem-action";' % OWNER)
    try:
        c.sim.seed({"repos": {REPO: {"issues": [{"number": 1, "title": "Labelled",
                                                 "labels": ["postmortem-action"]},
                                                {"number": 2, "title": "Not labelled"}]}}})
        out = c.sync()
        _assert("Could not resolve to a ProjectV2 with the number 99" in out.stderr, out.stderr[-1500:])
        _assert(c.items_of(1) == 1, "the label still discovers")
        _assert(c.items_of(2) == 0, "nothing else")
        # GraphQL's own budget spent: RATE_LIMITED, the REST listing goes on
        c.sim.call("POST", "/_sim/graphql/budget", {"used": 5000})
        c.sim.edit(REPO, 2, {"labels": ["postmortem-action"]})
        out = c.sync()
        _assert("RATE_LIMITED" in out.stderr, out.stderr[-1500:])
        _assert(c.items_of(2) == 1, "the listing went on")
    finally:
        c.close()


def test_discover_project_check_config_errors(cl):
    d = H.workdir("project_cfg-")
    config = os.path.join(d, "c.conf")
    cases = [
        ('project = "acme";', "OWNER/NUMBER"),
        ('project = "acme/0";', "OWNER/NUMBER"),
        ('project = "-acme/7";', "OWNER/NUMBER"),
        ('project_field = "Type"; project_value = "x";', "only with a project"),
        ('project = "acme/7"; project_field = "Type";', "together"),
        ('project = "acme/7"; project_rescan = 10;', "project_rescan"),
        ('team = "payments";', "a label, a project, or both"),
    ]
    for rule, phrase in cases:
        H.write_config(config, "dbname=nothing", "http://127.0.0.1:9", [REPO], connector=CONN)
        text = open(config).read()
        text = text.replace('"%s" ];' % REPO, '"%s" ];\n  discover = ( { target = "%s";\n    %s } );'
                            % (REPO, REPO, rule), 1)
        with open(config, "w") as f:
            f.write(text)
        line = text.splitlines().index([ln for ln in text.splitlines() if rule in ln][0]) + 1
        r = H.closeloop("check-config", "-c", config, check=False)
        _assert(r.returncode == 1, "check-config refuses %r: %s" % (rule, r.stderr))
        _assert(phrase in r.stderr and ("%s:%d: " % (config, line) in r.stderr or
                                        "%s:%d: " % (config, line - 1) in r.stderr),
                "FILE:LINE and %r in: %s" % (phrase, r.stderr))


def _graphql(sim, query, variables):
    """One POST /graphql to the simulator as closeloop sends it."""
    req = urllib.request.Request(sim.url + "/graphql", method="POST", data=json.dumps(
        {"query": query, "variables": variables}).encode(), headers={
        "Authorization": "Bearer " + H.TOKEN, "Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read())


def test_discover_project_queries_and_answers_fit_githubs_schema(cl):
    """closeloop's GraphQL documents, as the binary sent them, and the
    simulator's answers to them, checked with graphql-js against GitHub's
    published schema (tests/sim/graphql_check.js); the check itself is
    shown to refuse a document and an answer that do not fit."""
    modules = os.path.join(H.ROOT, "build", "sim-recorded", "node_modules")
    subprocess.run(["sh", os.path.join(H.ROOT, "tests", "sim", "recorded", "install.sh"),
                    os.path.dirname(modules)], check=True, stdout=subprocess.DEVNULL)
    c = PCtx(cl, "project_schema", rule='project = "%s/%d"; project_field = "Type"; '
                                        'project_value = "Postmortem action";' % (OWNER, NUMBER))
    try:
        c.sim.seed({"repos": {REPO: {"issues": [
            {"number": n, "title": "Item %d" % n, "labels": ["ops"], "assignees": ["rf-gh"]}
            for n in range(1, 106)] + [{"number": 106, "title": "PR", "pull_request": True}]}}})
        for n in range(1, 107):
            c.board("POST", n, fields={"Type": "Postmortem action"} if n % 2 else {"Type": "Bug"})
        c.sync()
        c.sim.edit(REPO, 1, {"state": "closed", "state_reason": "not_planned"})
        c.board("DELETE", 1)
        c.sync()  # a new process: the stored board, #1 gone (read by nodes(ids:))
        cases = []
        for i, q in enumerate(c.sim.call("GET", "/_sim/graphql/queries")["queries"]):
            kind = ("probe" if "items(first:1)" in q["query"] else
                    "nodes" if "nodes(ids:" in q["query"] else "items")
            cases.append({"name": "%s %d" % (kind, i), "query": q["query"],
                          "variables": q["variables"],
                          "answer": _graphql(c.sim, q["query"], q["variables"])})
        item_doc = [x for x in cases if x["name"].startswith("items")][0]
        node_id = [i["node_id"] for i in c.sim.live_issues(REPO) if i["number"] == 1][0]
        nodes_doc = 'query($ids:[ID!]!){nodes(ids:$ids){__typename ...CloseloopIssue}}' + \
            item_doc["query"][item_doc["query"].index("fragment CloseloopIssue"):]
        cases.append({"name": "nodes of an issue taken off the board", "query": nodes_doc,
                      "variables": {"ids": [node_id]},
                      "answer": _graphql(c.sim, nodes_doc, {"ids": [node_id]})})
        probe = [x for x in cases if x["name"].startswith("probe")][0]
        for owner, num in (("acme", 99), ("nobody-here", 7)):
            v = {"owner": owner, "number": num}
            cases.append({"name": "probe of %s/%d" % (owner, num), "query": probe["query"],
                          "variables": v, "answer": _graphql(c.sim, probe["query"], v)})
        _assert(sum(1 for x in cases if x["name"].startswith("items")) >= 2, "a second page was read")
        _assert(cases[-1]["answer"] == {"data": {"repositoryOwner": None}}, cases[-1]["answer"])
        _assert(cases[-2]["answer"]["errors"][0]["type"] == "NOT_FOUND", cases[-2]["answer"])
        bad = [dict(probe, name="BAD document", query=probe["query"].replace("updatedAt", "updated_at")),
               dict(probe, name="BAD answer", answer=json.loads(json.dumps(probe["answer"]).replace(
                   '"updatedAt"', '"updatedAtX"')))]
        path = os.path.join(c.dir, "graphql-cases.json")
        with open(path, "w") as f:
            json.dump(cases + bad, f)
        r = subprocess.run(["node", os.path.join(H.ROOT, "tests", "sim", "graphql_check.js"), modules,
                            path], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        lines = r.stdout.splitlines()
        _assert(lines[-1] == "%d passed, 2 failed" % len(cases), r.stdout[-3000:])
        _assert(all(ln.startswith("FAIL BAD") for ln in lines if ln.startswith("FAIL")), r.stdout[-3000:])
    finally:
        c.close()
