"""Integration tests of discovery in Jira and ServiceNow (imported by
run.py): action items born in the tracker are adopted from the normal
incremental listing, once, across a restart and two daemons on one
ledger; an item whose ticket stops matching the rule stays and is flagged.

  - Jira: a JQL fragment rule; an issue carrying the label and one linked
    to the incident issue are adopted (the linked one attached to the
    postmortem that names the incident), an issue matching neither is not;
  - ServiceNow: a problem whose first_reported_by_task is an incident is
    adopted and attached to the postmortem that names that incident; a
    problem of the same group reported by nothing is not."""

import base64
import json
import os
import re
import time
import urllib.request

import harness as H

JIRA_CONN = "jira-disc"
SN_CONN = "servicenow-disc"
ALICE = "5b10a2844c20165700ede21g"


def _assert(cond, msg):
    if not cond:
        raise AssertionError(msg)


def _eq(a, b, what):
    if a != b:
        raise AssertionError("%s: expected %r, got %r" % (what, b, a))


def _jira_api(sim, method, path, body):
    """A Jira user's own request (Basic email:api_token) to the simulator."""
    req = urllib.request.Request(sim.url + path, data=json.dumps(body).encode(), method=method)
    req.add_header("Content-Type", "application/json")
    cred = "%s:%s" % (H.JIRA_EMAIL, H.JIRA_API_TOKEN)
    req.add_header("Authorization", "Basic " + base64.b64encode(cred.encode()).decode())
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def _jira_issue(sim, project, summary, labels=()):
    return _jira_api(sim, "POST", "/rest/api/3/issue", {"fields": {
        "project": {"key": project}, "issuetype": {"name": "Task"}, "summary": summary,
        "labels": list(labels), "assignee": {"accountId": ALICE}}})


def _write(path, text):
    with open(path, "w") as f:
        f.write(text)


def _config(path, dsn, directory, conn):
    _write(path, 'database = { dsn = "%s"; };\nlog_level = "info";\npoll_interval = 10;\n'
                 'notify_debounce_ms = 200;\noverlap = 120;\ndirectory = "%s";\n'
                 'connectors = ( %s );\n' % (dsn, directory, conn))


def _adopted(dsn, conn):
    """{remote_id: (item id, postmortem reference, team, links of that ticket)}"""
    rows = H.psql(dsn, "SELECT l.remote_id, i.id, p.reference, t.name, "
                       "(SELECT count(*) FROM external_link x WHERE x.connector = l.connector "
                       "AND x.remote_id = l.remote_id) "
                       "FROM external_link l JOIN action_item i ON i.id = l.action_item_id "
                       "JOIN postmortem p ON p.id = i.postmortem_id "
                       "LEFT JOIN team t ON t.id = i.team_id "
                       "WHERE l.connector = '%s' AND l.discovered_at IS NOT NULL" % conn)
    return {r[0]: (int(r[1]), r[2], r[3], int(r[4])) for r in rows}


def _items(dsn):
    return int(H.scalar(dsn, "SELECT count(*) FROM action_item"))


def _twice_with_two_daemons(wd, config, dsn, settle):
    """A restart (two sync --once runs) and then two daemons on the ledger
    for a few cycles: nothing may be adopted again."""
    H.closeloop("sync", "--once", "-c", config)
    n = _items(dsn)
    daemons = [H.Daemon(config, os.path.join(wd, "daemon-%d.log" % i)) for i in range(2)]
    try:
        H.wait_for(lambda: False, timeout=settle)
    finally:
        for d in daemons:
            _eq(d.stop(), 0, "daemon exit")
    _eq(_items(dsn), n, "items after a restart and two daemons")


def _flagged_left(config, dsn, item):
    H.closeloop("flags", "--once", "-c", config)
    return H.scalar(dsn, "SELECT count(*) FROM item_flag WHERE action_item_id = %d "
                         "AND kind = 'discovery_left' AND cleared_at IS NULL" % item)


def test_discover_jira_jql_adopts_once_and_flags_a_ticket_that_left(cl):
    wd = H.workdir("disc_jira-")
    dsn = cl.createdb("disc_jira")
    sim = H.JiraSimulator(wd, ["--project", "OPS", "--project", "INC", "--user", ALICE,
                               "--search-lag-ms", "200"])
    try:
        directory = os.path.join(wd, "directory.conf")
        _write(directory, 'platforms = ( { name = "shop"; lead = "rf"; } );\n'
                          'teams = ( { name = "ops-team"; platform = "shop"; connector = "%s"; '
                          'target = "OPS"; } );\n'
                          'people = ( { handle = "rf"; name = "R. F."; email = "rf@example.com"; '
                          'jira_account_id = "%s"; active = true; } );\n' % (JIRA_CONN, ALICE))
        rule = 'labels = \\"postmortem-action\\" OR issueLinkType = \\"is caused by\\"'
        conn = ('{ name = "%s"; type = "jira"; base_url = "%s"; '
                'token_env = "CLOSELOOP_JIRA_CREDENTIALS"; targets = [ "OPS" ]; '
                'max_inflight = 4; max_attempts = 5; request_timeout = 10; write_spacing_ms = 5; '
                'discover = ( { target = "OPS"; jql = "%s"; } ); }' % (JIRA_CONN, sim.url, rule))
        config = os.path.join(wd, "closeloop.conf")
        _config(config, dsn, directory, conn)
        H.closeloop("check-config", "-c", config)
        H.closeloop("migrate", "-c", config)
        H.closeloop("directory", "load", "-c", config)
        # the postmortem of incident INC-1 names it as its reference
        inc = _jira_issue(sim, "INC", "Checkout down for 40 minutes")
        _eq(inc["key"], "INC-1", "the incident issue")
        H.psql(dsn, "INSERT INTO postmortem (reference, title, platform_id, published_date) "
                    "SELECT 'INC-1', 'Checkout outage', id, current_date FROM platform")
        labelled = _jira_issue(sim, "OPS", "Alert on checkout error rate", ["postmortem-action"])
        linked = _jira_issue(sim, "OPS", "Add a retry budget to the payment client")
        sim.call("POST", "/_sim/link", {"type": "Problem/Incident", "outward": inc["key"],
                                        "inward": linked["key"]})
        other = _jira_issue(sim, "OPS", "Upgrade the build image", ["chore"])
        H.wait_for(lambda: False, timeout=0.5)  # the search lag
        out = H.closeloop("sync", "--once", "--dry-run", "-c", config).stdout
        _assert("adopt" in out and labelled["key"] in out and linked["key"] in out,
                "the dry run shows the adoptions:\n" + out)
        _eq(_items(dsn), 0, "a dry run adopts nothing")
        H.closeloop("sync", "--once", "-c", config)
        got = _adopted(dsn, JIRA_CONN)
        _eq(sorted(got), sorted([labelled["id"], linked["id"]]), "adopted issues")
        _eq(got[linked["id"]][1], "INC-1", "the linked issue joins the incident's postmortem")
        _assert(got[labelled["id"]][1].startswith("unattached"),
                "the labelled issue names no postmortem: %r" % (got[labelled["id"]],))
        _eq({v[2] for v in got.values()}, {"ops-team"}, "the team the directory routes OPS to")
        _eq({v[3] for v in got.values()}, {1}, "one link a ticket")
        _assert(other["id"] not in got, "an issue the rule does not take is not adopted")
        title = H.scalar(dsn, "SELECT title FROM action_item WHERE id = %d" % got[linked["id"]][0])
        _eq(title, "Add a retry budget to the payment client", "fields pulled")
        _eq(len(sim.issues("OPS")), 3, "no issue created")
        _twice_with_two_daemons(wd, config, dsn, 8)
        _eq(_adopted(dsn, JIRA_CONN), got, "adopted once")
        _eq(len(sim.issues("OPS")), 3, "still no issue created")
        # the label is taken off: the item stays, flagged
        sim.call("POST", "/_sim/edit", {"id": labelled["id"], "fields": {"labels": []}})
        H.wait_for(lambda: False, timeout=0.5)
        H.closeloop("sync", "--once", "-c", config)
        item = got[labelled["id"]][0]
        _eq(H.scalar(dsn, "SELECT count(*) FROM action_item WHERE id = %d" % item), "1", "item kept")
        _assert(H.scalar(dsn, "SELECT discover_left_at FROM external_link WHERE action_item_id = %d"
                              % item), "the link says the ticket left the rule")
        _eq(_flagged_left(config, dsn, item), "1", "flag discovery_left")
        _eq(_flagged_left(config, dsn, got[linked["id"]][0]), "0", "the linked issue still matches")
    finally:
        sim.stop()


def test_discover_jira_datacenter_uses_the_v2_search_past_short_pages(cl):
    """A Data Center connector's discovery asks REST v2's search as its
    listing does (/rest/api/2/search, startAt, the server's cap on
    maxResults): 45 issues, the server serving at most 10 a page, 23
    labelled and 2 linked to the incident: every one the rule takes is
    adopted once, no other, and no request goes to a v3 path."""
    wd = H.workdir("disc_jira_dc-")
    dsn = cl.createdb("disc_jira_dc")
    sim = H.JiraSimulator(wd, ["--flavor", "datacenter", "--project", "OPS", "--project", "INC",
                               "--user", "jdoe", "--max-results", "10", "--search-lag-ms", "200"])
    try:
        directory = os.path.join(wd, "directory.conf")
        _write(directory, 'platforms = ( { name = "shop"; lead = "rf"; } );\n'
                          'teams = ( { name = "ops-team"; platform = "shop"; connector = "%s"; '
                          'target = "OPS"; } );\n'
                          'people = ( { handle = "rf"; name = "R. F."; email = "rf@example.com"; '
                          'jira_username = "jdoe"; active = true; } );\n' % JIRA_CONN)
        rule = 'labels = \\"postmortem-action\\" OR issueLinkType = \\"is caused by\\"'
        conn = ('{ name = "%s"; type = "jira"; flavor = "datacenter"; base_url = "%s"; '
                'token_env = "CLOSELOOP_JIRA_DC_PAT"; targets = [ "OPS" ]; '
                'max_inflight = 4; max_attempts = 5; request_timeout = 10; write_spacing_ms = 5; '
                'discover = ( { target = "OPS"; jql = "%s"; } ); }' % (JIRA_CONN, sim.url, rule))
        config = os.path.join(wd, "closeloop.conf")
        _config(config, dsn, directory, conn)
        H.closeloop("check-config", "-c", config)
        H.closeloop("migrate", "-c", config)
        H.closeloop("directory", "load", "-c", config)

        def issue(project, summary, labels=()):
            return _jira_api_dc(sim, {"fields": {
                "project": {"key": project}, "issuetype": {"name": "Task"},
                "summary": summary, "labels": list(labels), "assignee": {"name": "jdoe"}}})
        inc = issue("INC", "Checkout down for 40 minutes")
        H.psql(dsn, "INSERT INTO postmortem (reference, title, platform_id, published_date) "
                    "SELECT '%s', 'Checkout outage', id, current_date FROM platform" % inc["key"])
        want, linked = set(), set()
        for k in range(45):
            if k % 2 == 0:
                want.add(issue("OPS", "Action %d" % k, ["postmortem-action"])["id"])
            elif k in (7, 31):
                i = issue("OPS", "Linked action %d" % k)
                sim.call("POST", "/_sim/link", {"type": "Problem/Incident", "outward": inc["key"],
                                                "inward": i["key"]})
                want.add(i["id"])
                linked.add(i["id"])
            else:
                issue("OPS", "Chore %d" % k, ["chore"])
        H.wait_for(lambda: False, timeout=0.5)  # the search lag
        n = len(sim.requests())
        H.closeloop("sync", "--once", "-c", config)
        got = _adopted(dsn, JIRA_CONN)
        _eq(sorted(got), sorted(want), "adopted issues")
        _eq({v[3] for v in got.values()}, {1}, "one link a ticket")
        _eq({got[i][1] for i in linked}, {inc["key"]}, "the linked issues join the incident's postmortem")
        reqs = sim.requests()[n:]
        _eq(sorted({r["path"] for r in reqs if not r["path"].startswith("/rest/api/2/")}), [],
            "paths outside REST v2")
        disc = [r for r in reqs if r["method"] == "POST" and r["path"] == "/rest/api/2/search"
                and " AND id in (" in r["body"]["jql"]]
        _assert(len(disc) >= 5, "one discovery search a listed page of at most 10: %d" % len(disc))
        _eq({r["body"].get("startAt") for r in disc}, {0}, "the discovery search's startAt")
        _eq(_items(dsn), len(want), "items")
        _twice_with_two_daemons(wd, config, dsn, 6)
        _eq(_adopted(dsn, JIRA_CONN), got, "adopted once")
        _eq(len(sim.issues("OPS")), 45, "no issue created")
    finally:
        sim.stop()


def _jira_api_dc(sim, body):
    """A Jira Data Center user's own create (Bearer personal access token)."""
    req = urllib.request.Request(sim.url + "/rest/api/2/issue", data=json.dumps(body).encode(),
                                 method="POST")
    req.add_header("Content-Type", "application/json")
    req.add_header("Authorization", "Bearer " + H.JIRA_API_TOKEN)
    with urllib.request.urlopen(req, timeout=30) as r:
        return json.loads(r.read() or b"null")


def _sn_ledger(wd, dsn, sim, extra):
    """A ledger, a directory routing the payments-itsm team to H.SN_GROUP
    and a ServiceNow connector with extra (its discover rules): the
    configuration file, checked, migrated and loaded."""
    directory = os.path.join(wd, "directory.conf")
    _write(directory, 'platforms = ( { name = "payments"; lead = "rf"; } );\n'
                      'teams = ( { name = "payments-itsm"; platform = "payments"; '
                      'connector = "%s"; target = "%s"; } );\n'
                      'people = ( { handle = "rf"; name = "R. F."; email = "rf@example.com"; '
                      'active = true; } );\n' % (SN_CONN, H.SN_GROUP))
    config = os.path.join(wd, "closeloop.conf")
    _config(config, dsn, directory, H.servicenow_connector(SN_CONN, sim.url, [H.SN_GROUP], extra))
    H.closeloop("check-config", "-c", config)
    H.closeloop("migrate", "-c", config)
    H.closeloop("directory", "load", "-c", config)
    return config


def test_discover_servicenow_problem_reported_by_an_incident_adopted_once(cl):
    wd = H.workdir("disc_sn-")
    dsn = cl.createdb("disc_sn")
    sim = H.ServiceNowSimulator(wd)
    group = H.SN_GROUP
    try:
        config = _sn_ledger(wd, dsn, sim, ' discover = ( { target = "%s"; '
                                          'reported_by_incident = true; } );' % group)
        inc = sim.call("POST", "/_sim/records/incident", {"short_description": "Card payments declined"})
        H.psql(dsn, "INSERT INTO postmortem (reference, title, platform_id, published_date) "
                    "SELECT '%s', 'Card payments declined', id, current_date FROM platform"
                    % inc["number"])
        reported = sim.call("POST", "/_sim/records/problem", {
            "short_description": "Card gateway retries exhaust the pool", "assignment_group": group,
            "first_reported_by_task": inc["sys_id"], "category": "software"})
        plain = sim.call("POST", "/_sim/records/problem", {
            "short_description": "Printer queue stuck", "assignment_group": group,
            "category": "hardware"})
        H.closeloop("sync", "--once", "-c", config)
        got = _adopted(dsn, SN_CONN)
        _eq(sorted(got), [reported["sys_id"]], "adopted problems")
        _eq(got[reported["sys_id"]][1], inc["number"], "attached to the incident's postmortem")
        _eq(got[reported["sys_id"]][3], 1, "one link")
        _assert(plain["sys_id"] not in got, "a problem reported by nothing is not adopted")
        title = H.scalar(dsn, "SELECT title FROM action_item WHERE id = %d" % got[reported["sys_id"]][0])
        _eq(title, "Card gateway retries exhaust the pool", "fields pulled")
        n_problems = len([r for r in sim.records() if r["number"].startswith("PRB")])
        _eq(n_problems, 2, "no problem created")
        _twice_with_two_daemons(wd, config, dsn, 8)
        _eq(_adopted(dsn, SN_CONN), got, "adopted once")
        _eq(len([r for r in sim.records() if r["number"].startswith("PRB")]), 2,
            "still no problem created")
        # a postmortem document that names the problem by its number is
        # the same item (its reference's target is the table, the link's
        # the group: found by the model-based test, a second item was made
        # and its adoption of the problem wrote the document's empty
        # fields over the discovered item's)
        doc = os.path.join(wd, "pm.md")
        _write(doc, "---\nid: PM-2026-077\ntitle: Card gateway\n---\n# Card gateway\n\n"
                    "## Action items\n\n| Action Item | Ticket |\n| --- | --- |\n"
                    "| Card gateway retries exhaust the pool | %s |\n" % reported["number"])
        out = H.closeloop("import", "-c", config, "--platform", "payments", "--team", "payments-itsm", doc)
        _assert("found in its tracker (discovered)" in out.stdout, out.stdout)
        _eq(H.psql(dsn, "SELECT i.id, i.title FROM action_item i JOIN postmortem p ON p.id = "
                        "i.postmortem_id WHERE p.reference = 'PM-2026-077'"),
            [[str(got[reported["sys_id"]][0]), "Card gateway retries exhaust the pool"]],
            "the document's one item is the discovered one")
        H.closeloop("sync", "--once", "-c", config)
        _eq(_items(dsn), 1, "one item")
        # the origin is cleared in ServiceNow: the item stays, flagged
        sim.call("PATCH", "/_sim/records/" + reported["sys_id"], {"first_reported_by_task": ""})
        H.closeloop("sync", "--once", "-c", config)
        item = got[reported["sys_id"]][0]
        _eq(H.scalar(dsn, "SELECT count(*) FROM action_item WHERE id = %d" % item), "1", "item kept")
        _eq(_flagged_left(config, dsn, item), "1", "flag discovery_left")
    finally:
        sim.stop()


def test_discover_servicenow_problem_an_incident_points_at_adopted_once(cl):
    """related_incident: a problem that incidents point at through their
    problem_id is adopted (one incident query per listed page, paged: 55
    incidents point at one problem, the page size is 50) and attached to
    the postmortem one of those incidents names; a problem only an
    incident of another problem, or no incident, relates to is not; the
    reported_by_incident condition still takes its problem (either
    condition)."""
    wd = H.workdir("disc_sn_rel-")
    dsn = cl.createdb("disc_sn_rel")
    sim = H.ServiceNowSimulator(wd)
    group = H.SN_GROUP
    try:
        config = _sn_ledger(wd, dsn, sim, ' discover = ( { target = "%s"; reported_by_incident '
                                          '= true; related_incident = true; } );' % group)

        def problem(title, **f):
            return sim.call("POST", "/_sim/records/problem", dict(
                {"short_description": title, "assignment_group": group}, **f))
        many = problem("Card gateway retries exhaust the pool")
        one = problem("Token service clock skew")
        reporter = sim.call("POST", "/_sim/records/incident", {"short_description": "Login down"})
        reported = problem("Session store evicts under load", first_reported_by_task=reporter["sys_id"])
        plain = problem("Printer queue stuck", category="hardware")
        other = sim.call("POST", "/_sim/records/problem", {"short_description": "Not our group"})
        incs = [sim.call("POST", "/_sim/records/incident", {
            "short_description": "Card payments declined %d" % k, "problem_id": many["sys_id"]})
            for k in range(55)]
        sim.call("POST", "/_sim/records/incident", {"short_description": "Logins fail",
                                                    "problem_id": one["sys_id"]})
        sim.call("POST", "/_sim/records/incident", {"short_description": "Elsewhere",
                                                    "problem_id": other["sys_id"]})
        H.psql(dsn, "INSERT INTO postmortem (reference, title, platform_id, published_date) "
                    "SELECT '%s', 'Card payments declined', id, current_date FROM platform"
                    % incs[40]["number"])
        sim.call("POST", "/_sim/requests/reset", {})
        H.closeloop("sync", "--once", "-c", config)
        got = _adopted(dsn, SN_CONN)
        _eq(sorted(got), sorted([many["sys_id"], one["sys_id"], reported["sys_id"]]),
            "adopted problems")
        _eq(got[many["sys_id"]][1], incs[40]["number"],
            "attached to the postmortem an incident that points at it names")
        _assert(got[one["sys_id"]][1].startswith("unattached"), "one names no postmortem")
        _assert(plain["sys_id"] not in got, "a problem no incident relates to is not adopted")
        _eq(sim.call("GET", "/_sim/requests").get("INCIDENT_QUERY"), 2,
            "one incident query for the listed page, in two pages of 50")
        _twice_with_two_daemons(wd, config, dsn, 6)
        _eq(_adopted(dsn, SN_CONN), got, "adopted once")
        _eq(len([r for r in sim.records() if r["number"].startswith("PRB")]), 5, "no problem created")
        # a quiet cycle reads the window's one page and asks the incident
        # table nothing: the listing's validator (connectors/servicenow.h
        # "A quiet listing"), taken by a listing two seconds of the
        # instance's clock after the newest write
        time.sleep(2)
        H.closeloop("sync", "--once", "-c", config)
        sim.call("POST", "/_sim/requests/reset", {})
        H.closeloop("sync", "--once", "-c", config)
        quiet = sim.call("GET", "/_sim/requests")
        _eq((quiet.get("GET"), quiet.get("INCIDENT_QUERY", 0)), (1, 0),
            "a quiet cycle's GETs and incident queries")
    finally:
        sim.stop()


def test_discover_servicenow_rule_field_unknown_to_the_instance_is_an_error(cl):
    """An instance without first_reported_by_task leaves it out of its
    answer: the listing fails, saying so, and nothing is adopted."""
    wd = H.workdir("disc_sn_bad-")
    dsn = cl.createdb("disc_sn_bad")
    sim = H.ServiceNowSimulator(wd)
    group = H.SN_GROUP
    try:
        directory = os.path.join(wd, "directory.conf")
        _write(directory, 'platforms = ( { name = "payments"; lead = "rf"; } );\n'
                          'teams = ( { name = "payments-itsm"; platform = "payments"; '
                          'connector = "%s"; target = "%s"; } );\n'
                          'people = ( { handle = "rf"; name = "R. F."; email = "rf@example.com"; '
                          'active = true; } );\n' % (SN_CONN, group))
        conn = H.servicenow_connector(SN_CONN, sim.url, [group],
                                      ' table = "problem_task"; discover = ( { target = "%s"; '
                                      'reported_by_incident = true; } );' % group)
        config = os.path.join(wd, "closeloop.conf")
        _config(config, dsn, directory, conn)
        H.closeloop("migrate", "-c", config)
        H.closeloop("directory", "load", "-c", config)
        sim.call("POST", "/_sim/records/problem_task", {
            "short_description": "A task", "assignment_group": group})
        r = H.closeloop("sync", "--once", "-c", config, check=False)
        text = r.stdout + r.stderr
        _assert(re.search(r"first_reported_by_task", text),
                "the error names the field:\n" + text)
        _eq(_items(dsn), 0, "nothing adopted")
    finally:
        sim.stop()


def test_discover_check_config_refuses_a_rule_that_could_widen_the_listing(cl):
    """check-config names FILE:LINE and what is expected for a Jira fragment
    that would reach out of its parentheses or carry an ORDER BY, and for a
    ServiceNow category that would add a term (a "^")."""
    wd = H.workdir("disc_check-")
    directory = os.path.join(wd, "directory.conf")
    _write(directory, 'platforms = ( { name = "shop"; lead = "rf"; } );\nteams = ( );\n'
                      'people = ( { handle = "rf"; name = "R. F."; active = true; } );\n')
    config = os.path.join(wd, "closeloop.conf")
    cases = [
        ('{ name = "j"; type = "jira"; base_url = "http://127.0.0.1:9"; '
         'token_env = "CLOSELOOP_JIRA_CREDENTIALS"; targets = [ "OPS" ];\n'
         '  discover = ( { target = "OPS";\n    jql = "labels = a) OR (project = OTHER"; } ); }',
         9, "parentheses are balanced"),
        ('{ name = "j"; type = "jira"; base_url = "http://127.0.0.1:9"; '
         'token_env = "CLOSELOOP_JIRA_CREDENTIALS"; targets = [ "OPS" ];\n'
         '  discover = ( { target = "OPS";\n    jql = "labels = a ORDER BY created"; } ); }',
         9, "without ORDER BY"),
        (H.servicenow_connector("s", "http://127.0.0.1:9", [H.SN_GROUP], "\n  discover = ( { target = "
                                '"%s";\n    category = "software^ORcategory=hardware"; } );'
                                % H.SN_GROUP),
         9, "choice value"),
        (H.servicenow_connector("s", "http://127.0.0.1:9", [H.SN_GROUP], "\n  discover = ( "
                                '{ target = "%s"; reported_by_incident = false; } );' % H.SN_GROUP),
         8, "reported_by_incident = true, related_incident = true, a category, or several of them"),
    ]
    for conn, line, phrase in cases:
        _config(config, "dbname=nothing", directory, conn)
        r = H.closeloop("check-config", "-c", config, check=False)
        _eq(r.returncode, 1, "check-config exit for %r" % phrase)
        _assert("%s:%d: " % (config, line) in r.stderr and phrase in r.stderr,
                "FILE:LINE and %r in:\n%s" % (phrase, r.stderr))
