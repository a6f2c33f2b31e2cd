#!/usr/bin/env python3
"""Tests for tests/sim/jira_sim.py: starts the simulator on port 0, talks
HTTP to it, and checks every request body sent and every answer received
against the schemas of Atlassian's OpenAPI description of Jira Cloud REST
v3 (tests/sim/specs/jira-cloud-v3-subset.json, cut from the published
description by specs/trim_jira_spec.py, or $JIRA_OPENAPI) with python3-jsonschema (tests/install-deps.sh).
Run: python3 tests/sim/test_jira_sim.py
"""

import base64
import http.client
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
SIM = os.path.join(HERE, "jira_sim.py")
# the paths the connector uses, cut from Atlassian's published description
# (Apache-2.0) by specs/trim_jira_spec.py, so every clone carries it
SPEC = os.environ.get("JIRA_OPENAPI") or os.path.join(HERE, "specs", "jira-cloud-v3-subset.json")
EMAIL, TOKEN = "bot@example.com", "secret-api-token"
# the unit test binary that writes the Jira connector's request bodies
# (tests/unit/test_jira.c, JIRA_REQUEST_DIR); make integration passes it
TEST_JIRA = os.environ.get("JIRA_TEST_BIN") or os.path.normpath(
    os.path.join(HERE, "..", "..", "build", "tests", "test_jira"))

try:
    import jsonschema
except ImportError:  # pragma: no cover - reported by the spec tests
    jsonschema = None

_SPEC = None


def spec():
    global _SPEC
    if _SPEC is None:
        with open(SPEC, encoding="utf-8") as f:
            _SPEC = json.load(f)
    return _SPEC


def op_schemas(method, path, status):
    """(request schema, response schema) of the spec's operation."""
    op = spec()["paths"][path][method.lower()]
    req = (op.get("requestBody", {}).get("content", {}).get("application/json", {})
           .get("schema"))
    resp = op["responses"].get(str(status), {}).get("content", {}) \
        .get("application/json", {}).get("schema")
    return req, resp


def validate(schema, value, what):
    """Validate value against a spec schema ($ref into components)."""
    if schema is None:
        return
    root = dict(schema)
    root["components"] = spec()["components"]
    try:
        jsonschema.Draft7Validator(root).validate(value)
    except jsonschema.ValidationError as e:
        raise AssertionError("%s does not follow the OpenAPI description: %s at %s"
                             % (what, e.message, "/".join(str(p) for p in e.absolute_path)))


def start_sim(*extra):
    tmp = tempfile.mkdtemp(prefix="jirasim-")
    port_file = os.path.join(tmp, "port")
    proc = subprocess.Popen([sys.executable, SIM, "--port", "0", "--port-file", port_file,
                             "--email", EMAIL, "--token", TOKEN] + list(extra),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 10
    while time.time() < deadline:
        if os.path.exists(port_file):
            with open(port_file, encoding="utf-8") as f:
                return proc, int(f.read())
        if proc.poll() is not None:
            raise RuntimeError("simulator exited: %s" % proc.stderr.read().decode())
        time.sleep(0.02)
    proc.kill()
    raise RuntimeError("simulator did not write its port file")


def adf(text):
    return {"type": "doc", "version": 1,
            "content": [{"type": "paragraph", "content": [{"type": "text", "text": text}]}]}


class JiraSimTest(unittest.TestCase):
    def setUp(self):
        self.proc, self.port = start_sim("--project", "OPS", "--project", "PLAT",
                                         "--user", "5b10a2844c20165700ede21g",
                                         "--search-lag-ms", "300")

    def tearDown(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=10)
        self.proc.stderr.close()

    def call(self, method, path, body=None, auth=True, spec_path=None):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if auth:
            headers["Authorization"] = "Basic " + base64.b64encode(
                ("%s:%s" % (EMAIL, TOKEN)).encode()).decode()
        if spec_path and jsonschema:
            validate(op_schemas(method, spec_path, 200)[0], body, "request %s %s" % (method, path))
        c.request(method, path, body=json.dumps(body) if body is not None else None,
                  headers=headers)
        r = c.getresponse()
        raw = r.read()
        out = json.loads(raw) if raw else None
        if spec_path and jsonschema:
            validate(op_schemas(method, spec_path, r.status)[1], out,
                     "answer %d to %s %s" % (r.status, method, path))
        c.close()
        return r.status, out, r

    def create(self, summary="Add alert", labels=("closeloop-tok1",), project="OPS"):
        st, out, _ = self.call("POST", "/rest/api/3/issue", {"fields": {
            "project": {"key": project}, "issuetype": {"name": "Task"}, "summary": summary,
            "description": adf("why"), "priority": {"name": "High"},
            "labels": list(labels), "duedate": "2026-12-24",
            "assignee": {"accountId": "5b10a2844c20165700ede21g"}}},
            spec_path="/rest/api/3/issue")
        self.assertEqual(st, 201, out)
        return out

    def search(self, jql, token=None, method="POST"):
        body = {"jql": jql, "fields": ["summary", "status", "updated", "labels"],
                "maxResults": 2}
        if token:
            body["nextPageToken"] = token
        if method == "POST":
            return self.call("POST", "/rest/api/3/search/jql", body,
                             spec_path="/rest/api/3/search/jql")
        q = "jql=%s&fields=summary,updated&maxResults=2" % __import__("urllib.parse").parse.quote(jql)
        return self.call("GET", "/rest/api/3/search/jql?" + q, spec_path="/rest/api/3/search/jql")

    def test_spec_tooling_present(self):
        self.assertIsNotNone(jsonschema, "python3-jsonschema is missing: run tests/install-deps.sh")
        self.assertTrue(os.path.exists(SPEC), "the Jira OpenAPI description is missing: %s" % SPEC)

    def test_auth_required(self):
        st, out, _ = self.call("GET", "/rest/api/3/issue/OPS-1", auth=False)
        self.assertEqual(st, 401)
        self.assertTrue(out["errorMessages"])

    def test_create_get_update(self):
        c = self.create()
        self.assertEqual(c["key"], "OPS-1")
        st, got, _ = self.call("GET", "/rest/api/3/issue/%s" % c["id"],
                               spec_path="/rest/api/3/issue/{issueIdOrKey}")
        self.assertEqual(st, 200)
        f = got["fields"]
        self.assertEqual(f["summary"], "Add alert")
        self.assertEqual(f["status"]["statusCategory"]["key"], "new")
        self.assertEqual(f["priority"]["name"], "High")
        self.assertEqual(f["duedate"], "2026-12-24")
        self.assertEqual(f["assignee"]["accountId"], "5b10a2844c20165700ede21g")
        self.assertRegex(f["updated"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000$")
        st, _, _ = self.call("PUT", "/rest/api/3/issue/%s" % c["id"],
                             {"fields": {"summary": "Add paging alert", "duedate": None}},
                             spec_path="/rest/api/3/issue/{issueIdOrKey}")
        self.assertEqual(st, 204)
        _, got, _ = self.call("GET", "/rest/api/3/issue/%s?fields=summary,duedate" % c["id"])
        self.assertEqual(got["fields"], {"summary": "Add paging alert", "duedate": None})

    def test_changelog_keeps_each_fields_change_time(self):
        """GET issue?expand=changelog: the writes' changed fields, most
        recent first (IssueBean.changelog, PageOfChangelogs), each with
        the time of its write; a create is no history."""
        c = self.create()
        path = "/rest/api/3/issue/%s?fields=summary,updated&expand=changelog" % c["id"]
        sp = "/rest/api/3/issue/{issueIdOrKey}"
        _, got, _ = self.call("GET", path, spec_path=sp)
        self.assertEqual(got["changelog"]["histories"], [])
        self.call("PUT", "/rest/api/3/issue/%s" % c["id"], {"fields": {"summary": "Add paging alert"}})
        time.sleep(0.01)
        self.call("PUT", "/rest/api/3/issue/%s" % c["id"], {"fields": {"labels": ["sre"]}})
        _, got, _ = self.call("GET", path, spec_path=sp)
        h = got["changelog"]["histories"]
        self.assertEqual([[i["field"] for i in x["items"]] for x in h], [["labels"], ["summary"]])
        self.assertEqual(h[1]["items"][0]["fromString"], "Add alert")
        self.assertEqual(h[1]["items"][0]["toString"], "Add paging alert")
        self.assertEqual(h[0]["items"][0]["toString"], "sre")
        self.assertEqual(h[0]["created"], got["fields"]["updated"])
        self.assertLess(h[1]["created"], h[0]["created"])
        self.assertEqual(got["changelog"]["total"], 2)
        _, plain, _ = self.call("GET", "/rest/api/3/issue/%s" % c["id"])
        self.assertNotIn("changelog", plain)

    def test_creator_and_changelog_authors_name_the_account(self):
        """fields.creator and each history's author (Changelog.author,
        UserDetails): the API caller's account for its create and its
        writes, a Jira user's for an edit made in Jira -- what tells
        closeloop's own changes from a person's."""
        c = self.create()
        path = "/rest/api/3/issue/%s?fields=creator&expand=changelog" % c["id"]
        sp = "/rest/api/3/issue/{issueIdOrKey}"
        self.call("POST", "/rest/api/3/issue/%s/transitions" % c["id"], {"transition": {"id": "21"}})
        self.call("POST", "/_sim/edit", {"id": c["id"], "fields": {}, "status": "To Do"}, auth=False)
        _, got, _ = self.call("GET", path, spec_path=sp)
        self.assertEqual(got["fields"]["creator"]["accountId"], "557058:closeloop-api")
        self.assertEqual([h["author"]["accountId"] for h in got["changelog"]["histories"]],
                         ["5b10a2844c20165700ede21g", "557058:closeloop-api"])
        self.assertEqual([h["items"][0]["toString"] for h in got["changelog"]["histories"]],
                         ["To Do", "In Progress"])
        _, made, _ = self.call("POST", "/_sim/issue", {"fields": {
            "project": {"key": "OPS"}, "issuetype": {"name": "Task"}, "summary": "by hand"}},
            auth=False)
        _, got, _ = self.call("GET", "/rest/api/3/issue/%s?fields=creator" % made["id"], spec_path=sp)
        self.assertEqual(got["fields"]["creator"]["accountId"], "5b10a2844c20165700ede21g")

    def test_400_names_the_field(self):
        st, out, _ = self.call("POST", "/rest/api/3/issue", {"fields": {
            "project": {"key": "OPS"}, "issuetype": {"name": "Task"}, "summary": "x",
            "priority": {"name": "Urgent"}, "assignee": {"accountId": "nobody"}}},
            spec_path="/rest/api/3/issue")
        self.assertEqual(st, 400)
        self.assertEqual(sorted(out["errors"]), ["assignee", "priority"])
        st, out, _ = self.call("PUT", "/rest/api/3/issue/OPS-1", {"fields": {"summary": "x"}})
        self.assertEqual(st, 404)
        c = self.create()
        st, out, _ = self.call("PUT", "/rest/api/3/issue/%s" % c["id"],
                               {"fields": {"status": {"name": "Done"}}})
        self.assertEqual(st, 400)
        self.assertIn("status", out["errors"])

    def test_labels_by_update_verbs(self):
        """Edit issue's "update": add and remove one label, leaving the
        others (a person's) as they are; idempotent; a label with a space
        and a field in both "fields" and "update" are 400s."""
        c = self.create(labels=("closeloop-tok1", "team-pick"))
        path = "/rest/api/3/issue/%s" % c["id"]
        spec = "/rest/api/3/issue/{issueIdOrKey}"
        for _ in range(2):
            st, _, _ = self.call("PUT", path, {"update": {"labels": [{"add": "closeloop:ownerless"}]}},
                                 spec_path=spec)
            self.assertEqual(st, 204)
        _, got, _ = self.call("GET", path + "?fields=labels")
        self.assertEqual(got["fields"]["labels"], ["closeloop-tok1", "team-pick", "closeloop:ownerless"])
        for _ in range(2):
            st, _, _ = self.call("PUT", path, {"update": {"labels": [{"remove": "team-pick"}]}},
                                 spec_path=spec)
            self.assertEqual(st, 204)
        _, got, _ = self.call("GET", path + "?fields=labels")
        self.assertEqual(got["fields"]["labels"], ["closeloop-tok1", "closeloop:ownerless"])
        st, out, _ = self.call("PUT", path, {"update": {"labels": [{"add": "needs owner"}]}},
                               spec_path=spec)
        self.assertEqual((st, list(out["errors"])), (400, ["labels"]))
        st, out, _ = self.call("PUT", path, {"fields": {"labels": []},
                                             "update": {"labels": [{"add": "x"}]}})
        self.assertEqual((st, list(out["errors"])), (400, ["labels"]))
        _, got, _ = self.call("GET", path + "?fields=labels")
        self.assertEqual(got["fields"]["labels"], ["closeloop-tok1", "closeloop:ownerless"])

    def test_transitions_and_refusal(self):
        c = self.create()
        path = "/rest/api/3/issue/%s/transitions" % c["id"]
        sp = "/rest/api/3/issue/{issueIdOrKey}/transitions"
        st, out, _ = self.call("GET", path, spec_path=sp)
        self.assertEqual(st, 200)
        done = [t for t in out["transitions"] if t["to"]["statusCategory"]["key"] == "done"]
        self.assertEqual([t["name"] for t in done], ["Done", "Won't Do"])
        st, _, _ = self.call("POST", path, {"transition": {"id": "41"}}, spec_path=sp)
        self.assertEqual(st, 204)
        _, got, _ = self.call("GET", "/rest/api/3/issue/%s?fields=status,resolution" % c["id"])
        self.assertEqual(got["fields"]["status"]["statusCategory"]["key"], "done")
        self.assertEqual(got["fields"]["resolution"]["name"], "Won't Do")
        self.call("POST", "/_sim/refuse", {"project": "OPS", "to": "In Progress"}, auth=False)
        _, out, _ = self.call("GET", path, spec_path=sp)
        self.assertNotIn("In Progress", [t["to"]["name"] for t in out["transitions"]])
        st, out, _ = self.call("POST", path, {"transition": {"id": "21"}}, spec_path=sp)
        self.assertEqual(st, 400)
        self.assertIn("not valid", out["errorMessages"][0])

    def test_search_paging_lag_and_minute_precision(self):
        ids = [self.create("item %d" % i, ("closeloop-t%d" % i,))["id"] for i in range(3)]
        jql = 'project = OPS AND updated >= "2000/01/01 00:00" ORDER BY updated ASC'
        st, out, _ = self.search(jql)
        self.assertEqual((st, out["issues"]), (200, []), "search shows issues before the index lag")
        time.sleep(0.35)
        seen, token = [], None
        while True:
            st, out, _ = self.search(jql, token)
            self.assertEqual(st, 200, out)
            seen += [i["id"] for i in out["issues"]]
            if out["isLast"]:
                break
            token = out["nextPageToken"]
        self.assertEqual(seen, ids)
        st, out, _ = self.search(jql, method="GET")
        self.assertEqual(len(out["issues"]), 2)
        # an edit: search keeps the old copy for the lag, GET reads it at once
        self.call("PUT", "/rest/api/3/issue/%s" % ids[0], {"fields": {"summary": "edited"}})
        _, out, _ = self.search('project = OPS AND labels = "closeloop-t0"')
        self.assertEqual(out["issues"][0]["fields"]["summary"], "item 0")
        time.sleep(0.35)
        _, out, _ = self.search('project = OPS AND labels = "closeloop-t0"')
        self.assertEqual(out["issues"][0]["fields"]["summary"], "edited")
        # minute precision: seconds are not part of the JQL operand
        st, out, _ = self.search('project = OPS AND updated >= "2000/01/01 00:00:30"')
        self.assertEqual(st, 400)
        future = time.strftime("%Y/%m/%d %H:%M", time.gmtime(time.time() + 120))
        _, out, _ = self.search('project = OPS AND updated >= "%s"' % future)
        self.assertEqual(out["issues"], [])

    def test_jql_outside_subset_and_removed_search(self):
        for jql in ('project = OPS AND status = Done', 'text ~ "alert"', 'project = OPS AND (labels = a',
                    'project = OPS AND labels = a ORDER BY id AND id > 1', 'labels != a', 'updated >= "2000/01/01 00:00"',
                    'project = OPS ORDER BY priority ASC', 'project = OPS AND updated > "2000/01/01 00:00"'):
            st, out, _ = self.search(jql)
            self.assertEqual(st, 400, jql)
            self.assertTrue(out["errorMessages"], jql)
        st, _, _ = self.call("POST", "/rest/api/3/search", {"jql": "project = OPS"})
        self.assertEqual(st, 410)

    def test_discovery_jql_labels_components_links(self):
        """The discovery rule's JQL: labels, component, issueLinkType and
        issue in linkedIssues(KEY[, description]), with OR, NOT and
        parentheses, ANDed after a listing's own terms."""
        inc = self.create("Incident: checkout down", labels=(), project="PLAT")
        a = self.create("Add checkout alert", labels=("postmortem-action",))
        b = self.create("Runbook for failover", labels=())
        c = self.create("Unrelated chore", labels=("chore",))
        self.call("POST", "/_sim/edit", {"id": b["id"], "fields": {"components": [{"name": "SRE"}]}},
                  auth=False)
        st, out, _ = self.call("POST", "/_sim/link", {"type": "Problem/Incident", "outward": c["key"],
                                                      "inward": inc["key"]}, auth=False)
        self.assertEqual(st, 200, out)
        link_id = out["id"]
        time.sleep(0.35)  # the search lag

        def keys(jql):
            body = {"jql": jql, "fields": ["issuelinks", "components"], "maxResults": 50}
            st, out, _ = self.call("POST", "/rest/api/3/search/jql", body,
                                   spec_path="/rest/api/3/search/jql")
            self.assertEqual(st, 200, (jql, out))
            return sorted(i["key"] for i in out["issues"]), out
        ids = ",".join(x["id"] for x in (a, b, c))
        self.assertEqual(keys('project = OPS AND id in (%s) AND (labels = "postmortem-action")' % ids)[0],
                         ["OPS-1"])
        self.assertEqual(keys('project = OPS AND (component = SRE OR labels in ("postmortem-action"))')[0],
                         ["OPS-1", "OPS-2"])
        self.assertEqual(keys('project = OPS AND (issue in linkedIssues("%s", "is caused by"))'
                              % inc["key"])[0], ["OPS-3"])
        self.assertEqual(keys('project = OPS AND (issue in linkedIssues(%s, "causes"))' % inc["key"])[0], [])
        self.assertEqual(keys('project = OPS AND (issueLinkType = "causes")')[0], ["OPS-3"])
        got, out = keys('project = OPS AND (issueLinkType = "causes" OR component = "SRE") AND NOT labels = chore')
        self.assertEqual(got, ["OPS-2"])
        # the link as Jira shows it on the issue: the incident is its inwardIssue
        _, out = keys('key = %s' % c["key"])
        link = out["issues"][0]["fields"]["issuelinks"][0]
        self.assertEqual((link["type"]["name"], link["type"]["outward"], link["inwardIssue"]["key"]),
                         ("Problem/Incident", "causes", inc["key"]))
        # an OR without parentheses widens the query: Jira reads AND first
        self.assertEqual(keys('project = OPS AND labels = chore OR project = PLAT')[0],
                         ["OPS-3", "PLAT-1"])
        self.call("DELETE", "/_sim/link/%s" % link_id, auth=False)
        time.sleep(0.35)
        self.assertEqual(keys('project = OPS AND (issueLinkType = "causes")')[0], [])

    def test_rate_limit_retry_after(self):
        self.call("POST", "/_sim/fault", {"status": 429, "count": 2, "retry_after": 3}, auth=False)
        for _ in range(2):
            st, out, r = self.call("GET", "/rest/api/3/issue/OPS-1")
            self.assertEqual(st, 429)
            self.assertEqual(r.getheader("Retry-After"), "3")
        st, _, _ = self.call("GET", "/rest/api/3/issue/OPS-1")
        self.assertEqual(st, 404)

    def test_time_out_and_truncated_answer_faults(self):
        # a time-out after the create: the client gives up, the issue exists
        self.call("POST", "/_sim/fault", {"status": 504, "hang": 1.5, "after": True,
                                          "method": "POST", "path": "/rest/api/3/issue"}, auth=False)
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=0.5)
        hdr = {"Content-Type": "application/json", "Authorization": "Basic " + base64.b64encode(
            ("%s:%s" % (EMAIL, TOKEN)).encode()).decode()}
        c.request("POST", "/rest/api/3/issue", body=json.dumps({"fields": {
            "project": {"key": "OPS"}, "issuetype": {"name": "Task"}, "summary": "Timed out"}}),
            headers=hdr)
        with self.assertRaises(OSError):
            c.getresponse()
        c.close()
        st, got, _ = self.call("GET", "/rest/api/3/issue/OPS-1")
        self.assertEqual((st, got["fields"]["summary"]), (200, "Timed out"), "made before the time-out")
        # a truncated answer: the real status, half of its JSON, the request carried out
        self.call("POST", "/_sim/fault", {"truncate": True, "method": "PUT"}, auth=False)
        st, _, _ = self.call("PUT", "/rest/api/3/issue/OPS-1", {"fields": {"summary": "Cut"}})
        self.assertEqual(st, 204, "no body: sent whole")
        self.call("POST", "/_sim/fault", {"truncate": True, "method": "GET"}, auth=False)
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        c.request("GET", "/rest/api/3/issue/OPS-1", headers=hdr)
        r = c.getresponse()
        raw = r.read()
        c.close()
        self.assertEqual(r.status, 200)
        self.assertEqual(int(r.getheader("Content-Length")), len(raw))
        with self.assertRaises(ValueError):
            json.loads(raw)
        st, got, _ = self.call("GET", "/rest/api/3/issue/OPS-1")
        self.assertEqual(got["fields"]["summary"], "Cut", "the PUT was carried out")
        # a time-out before: nothing done, the fault's status late
        self.call("POST", "/_sim/fault", {"status": 503, "hang": 0.3, "method": "PUT"}, auth=False)
        t0 = time.time()
        st, _, _ = self.call("PUT", "/rest/api/3/issue/OPS-1", {"fields": {"summary": "Not done"}})
        self.assertEqual(st, 503)
        self.assertGreaterEqual(time.time() - t0, 0.3)
        self.assertEqual(self.call("GET", "/rest/api/3/issue/OPS-1")[1]["fields"]["summary"], "Cut")

    def test_move_keeps_id_and_old_key(self):
        c = self.create()
        st, out, _ = self.call("POST", "/_sim/move", {"id": c["id"], "project": "PLAT"}, auth=False)
        self.assertEqual((out["id"], out["key"]), (c["id"], "PLAT-1"))
        _, got, _ = self.call("GET", "/rest/api/3/issue/OPS-1?fields=project",
                              spec_path="/rest/api/3/issue/{issueIdOrKey}")
        self.assertEqual((got["id"], got["key"], got["fields"]["project"]["key"]),
                         (c["id"], "PLAT-1", "PLAT"))
        self.call("DELETE", "/_sim/issue/%s" % c["id"], auth=False)
        st, _, _ = self.call("GET", "/rest/api/3/issue/%s" % c["id"])
        self.assertEqual(st, 404)

    def test_connector_requests(self):
        """The bodies the C mapping (connectors/jira_fields.h) builds follow
        the OpenAPI schemas and the simulator accepts them."""
        self.assertTrue(os.path.exists(TEST_JIRA),
                        "%s is missing: run make build/tests/test_jira first" % TEST_JIRA)
        out = tempfile.mkdtemp(prefix="jirareq-")
        run = subprocess.run([TEST_JIRA], env=dict(os.environ, JIRA_REQUEST_DIR=out),
                             cwd=os.path.join(HERE, "..", ".."),
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, check=False)
        self.assertEqual(run.returncode, 0, run.stdout.decode(errors="replace"))

        def body(name):
            with open(os.path.join(out, name + ".json"), encoding="utf-8") as f:
                return json.load(f)
        st, created, _ = self.call("POST", "/rest/api/3/issue", body("create"),
                                   spec_path="/rest/api/3/issue")
        self.assertEqual(st, 201, created)
        iid = created["id"]
        _, got, _ = self.call("GET", "/rest/api/3/issue/%s" % iid)
        f = got["fields"]
        self.assertEqual(f["description"]["content"][0]["type"], "heading")
        self.assertIn("closeloop-0f8b6c1e-8a44-4b55-9e0c-3d2f1a7b9c10", f["labels"])
        st, out_, _ = self.call("PUT", "/rest/api/3/issue/%s" % iid, body("update"),
                                spec_path="/rest/api/3/issue/{issueIdOrKey}")
        self.assertEqual(st, 204, out_)
        st, out_, _ = self.call("POST", "/rest/api/3/issue/%s/transitions" % iid, body("transition"),
                                spec_path="/rest/api/3/issue/{issueIdOrKey}/transitions")
        self.assertEqual(st, 204, out_)
        _, got, _ = self.call("GET", "/rest/api/3/issue/%s" % iid)
        self.assertEqual(got["fields"]["summary"], "Add paging alert (edited)")
        self.assertIsNone(got["fields"]["duedate"])
        # a label write keeps the token and postmortem labels (PUT replaces)
        self.assertEqual(got["fields"]["labels"], ["closeloop-type-detect",
                                                   "closeloop-0f8b6c1e-8a44-4b55-9e0c-3d2f1a7b9c10",
                                                   "postmortem-PM2026-004", "sre"])
        self.assertEqual(got["fields"]["status"]["statusCategory"]["key"], "done")
        st, out_, _ = self.call("POST", "/rest/api/3/search/jql", body("search-minute"),
                                spec_path="/rest/api/3/search/jql")
        self.assertEqual(st, 200, out_)
        self.assertEqual([x["id"] for x in out_["issues"]], [])  # ids above 10042 in that minute
        validate(op_schemas("POST", "/rest/api/3/issue/{issueIdOrKey}/transitions", 200)[0],
                 body("transition-resolution"), "request transition-resolution")
        for name in ("search", "search-next"):
            b = body(name)
            validate(op_schemas("POST", "/rest/api/3/search/jql", 200)[0], b, "request " + name)
        st, res, _ = self.call("POST", "/rest/api/3/search/jql", body("search"),
                               spec_path="/rest/api/3/search/jql")
        self.assertEqual(st, 200, res)
        st, c, _ = self.call("POST", "/rest/api/3/issue/%s/comment" % iid, body("comment"),
                             spec_path="/rest/api/3/issue/{issueIdOrKey}/comment")
        self.assertEqual(st, 201, c)

    def test_comment_in_adf(self):
        c = self.create()
        sp = "/rest/api/3/issue/{issueIdOrKey}/comment"
        st, out, _ = self.call("POST", "/rest/api/3/issue/%s/comment" % c["id"],
                               {"body": adf("overdue")}, spec_path=sp)
        self.assertEqual(st, 201)
        self.assertEqual(out["body"], adf("overdue"))
        st, out, _ = self.call("POST", "/rest/api/3/issue/%s/comment" % c["id"], {"body": "plain"})
        self.assertEqual(st, 400)
        st, out, _ = self.call("GET", "/rest/api/3/issue/%s/comment?startAt=0&maxResults=100" % c["id"],
                               spec_path=sp)
        self.assertEqual(st, 200)
        self.assertEqual((out["total"], out["comments"][0]["body"]), (1, adf("overdue")))

    def test_resolution_screen(self):
        """A done transition whose screen asks for a Resolution: listed with
        expand=transitions.fields, refused without it (400 naming it)."""
        self.call("POST", "/_sim/resolution_screen", {"project": "OPS"}, auth=False)
        c = self.create()
        path = "/rest/api/3/issue/%s/transitions" % c["id"]
        sp = "/rest/api/3/issue/{issueIdOrKey}/transitions"
        _, out, _ = self.call("GET", path + "?expand=transitions.fields", spec_path=sp)
        done = [t for t in out["transitions"] if t["id"] == "31"][0]
        self.assertTrue(done["fields"]["resolution"]["required"])
        self.assertIn("Won't Do", [v["name"] for v in done["fields"]["resolution"]["allowedValues"]])
        st, out, _ = self.call("POST", path, {"transition": {"id": "31"}}, spec_path=sp)
        self.assertEqual((st, out["errors"]), (400, {"resolution": "Resolution is required."}))
        st, _, _ = self.call("POST", path, {"transition": {"id": "31"},
                                            "fields": {"resolution": {"name": "Won't Do"}}}, spec_path=sp)
        self.assertEqual(st, 204)
        _, got, _ = self.call("GET", "/rest/api/3/issue/%s?fields=resolution" % c["id"])
        self.assertEqual(got["fields"]["resolution"]["name"], "Won't Do")

    def test_order_by_created(self):
        a, b = self.create(summary="first"), self.create(summary="second")
        self.call("POST", "/_sim/edit", {"id": a["id"], "fields": {"summary": "first, edited"}}, auth=False)
        time.sleep(0.35)
        _, out, _ = self.search("project = OPS ORDER BY created DESC")
        self.assertEqual([i["key"] for i in out["issues"]], [b["key"], a["key"]])


class RequiredFieldTest(unittest.TestCase):
    """A create screen with a required custom field (--require-field)."""

    def setUp(self):
        self.proc, self.port = start_sim("--project", "OPS", "--require-field", "customfield_10050")

    tearDown = JiraSimTest.tearDown
    call = JiraSimTest.call

    def test_required_custom_field(self):
        body = {"fields": {"project": {"key": "OPS"}, "issuetype": {"name": "Task"},
                           "summary": "x"}}
        st, out, _ = self.call("POST", "/rest/api/3/issue", body, spec_path="/rest/api/3/issue")
        self.assertEqual(st, 400)
        self.assertEqual(out["errors"], {"customfield_10050": "customfield_10050 is required."})
        body["fields"]["customfield_10050"] = {"value": "SRE"}
        st, out, _ = self.call("POST", "/rest/api/3/issue", body, spec_path="/rest/api/3/issue")
        self.assertEqual(st, 201, out)



class DataCenterTest(unittest.TestCase):
    """--flavor datacenter (tests/sim/jira_dc.py): REST v2 paths, a Bearer
    personal access token, wiki markup strings, users by name, search
    paged by startAt/maxResults/total with the server's cap."""

    def setUp(self):
        self.proc, self.port = start_sim("--flavor", "datacenter", "--project", "OPS",
                                         "--user", "jdoe", "--max-results", "2")

    tearDown = JiraSimTest.tearDown

    def call(self, method, path, body=None, auth="Bearer " + TOKEN):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        headers = {"Content-Type": "application/json", "Authorization": auth}
        c.request(method, path, body=json.dumps(body) if body is not None else None,
                  headers=headers)
        r = c.getresponse()
        raw = r.read()
        c.close()
        return r.status, json.loads(raw) if raw else None

    def test_v2_bearer_wiki_names_and_paging(self):
        basic = "Basic " + base64.b64encode(("%s:%s" % (EMAIL, TOKEN)).encode()).decode()
        self.assertEqual(self.call("GET", "/rest/api/2/issue/1", auth=basic)[0], 401)
        fields = {"project": {"key": "OPS"}, "issuetype": {"name": "Task"}, "summary": "x",
                  "description": adf("ADF is Cloud's")}
        st, out = self.call("POST", "/rest/api/2/issue", {"fields": fields})
        self.assertEqual((st, out["errors"]), (400, {"description": "Operation value must be a string"}))
        fields["description"] = "h2. Why\n*bold*"
        fields["assignee"] = {"name": "nobody"}
        st, out = self.call("POST", "/rest/api/2/issue", {"fields": fields})
        self.assertEqual((st, out["errors"]), (400, {"assignee": "User 'nobody' does not exist."}))
        fields["assignee"] = {"name": "jdoe"}
        for _ in range(5):
            st, out = self.call("POST", "/rest/api/2/issue", {"fields": fields})
            self.assertEqual(st, 201, out)
        self.assertEqual(self.call("POST", "/rest/api/3/issue", {"fields": fields})[0], 404)
        st, issue = self.call("GET", "/rest/api/2/issue/%s" % out["id"])
        self.assertEqual(issue["fields"]["description"], "h2. Why\n*bold*")
        self.assertEqual(issue["fields"]["assignee"]["name"], "jdoe")
        seen, start = [], 0
        while True:  # asked 100, the server gives 2 a page; total says when it ends
            st, page = self.call("POST", "/rest/api/2/search", {
                "jql": "project = OPS ORDER BY id ASC", "startAt": start, "maxResults": 100,
                "fields": ["summary"]})
            self.assertEqual(st, 200, page)
            self.assertEqual((page["startAt"], page["maxResults"], page["total"]), (start, 2, 5))
            seen += [i["key"] for i in page["issues"]]
            start += len(page["issues"])
            if start >= page["total"]:
                break
        self.assertEqual(seen, ["OPS-%d" % n for n in range(1, 6)])
        st, _ = self.call("PUT", "/rest/api/2/issue/OPS-1", {"update": {"labels": [{"add": "closeloop:undated"}]}})
        self.assertEqual(st, 204)
        self.assertEqual(self.call("GET", "/rest/api/2/issue/OPS-1")[1]["fields"]["labels"], ["closeloop:undated"])
        st, refused = self.call("PUT", "/rest/api/2/issue/OPS-1", {"update": {"labels": [{"add": "a b"}]}})
        self.assertEqual((st, list(refused["errors"])), (400, ["labels"]))
        st, c = self.call("POST", "/rest/api/2/issue/%s/comment" % out["id"], {"body": "cc [~jdoe]"})
        self.assertEqual((st, c["body"]), (201, "cc [~jdoe]"))


if __name__ == "__main__":
    unittest.main()
