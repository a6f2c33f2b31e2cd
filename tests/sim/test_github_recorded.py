#!/usr/bin/env python3
"""Replay responses recorded from the real GitHub API against the simulator.

The simulator was written from the same reading of GitHub's documentation
as the connector, so its own tests cannot catch what both misread.  This
test takes scenarios recorded against api.github.com (npm
@octokit/fixtures, the "normalized" fixtures: ids and times rewritten to
fixed values) and GitHub's own webhook examples (@octokit/webhooks-examples),
sets the simulator up with the same data, sends it each recorded request
and compares with the recorded answer:

  - the status;
  - the headers that matter to a client: Location, Link (repository ids
    rewritten), Content-Type, ETag present, the x-ratelimit-* set and its
    resource;
  - the JSON shape: every member GitHub sent is there with the same JSON
    type (null matches any type), and the simulator sends no member GitHub
    did not, except those GitHub added after the recording (NEWER, each
    named with its source); a repository is a subset (the simulator
    renders the members a client reads);
  - the values the scenario is about (numbers, titles, order, counts).

Scenarios the simulator does not serve (endpoints closeloop never calls:
labels, lock, ...) are listed as not served, never silently skipped.

    python3 tests/sim/test_github_recorded.py [FIXTURES_NODE_MODULES]

The packages are installed by tests/sim/recorded/install.sh (make
integration does) into build/sim-recorded/node_modules.
"""

import json
import os
import re
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from test_github_sim import Client, start_sim, stop_sim  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(HERE))
MODULES = os.environ.get("CLOSELOOP_RECORDED_MODULES") or os.path.join(ROOT, "build", "sim-recorded",
                                                                      "node_modules")
FIXTURES = os.path.join(MODULES, "@octokit", "fixtures", "scenarios", "api.github.com")
WEBHOOKS = os.path.join(MODULES, "@octokit", "webhooks-examples", "api.github.com", "index.json")
TOKEN = "0000000000000000000000000000000000000001"   # the fixtures' normalised token
LOGIN = "octokit-fixture-user-a"
ORG = "octokit-fixture-org"

# Members GitHub added to these objects after the fixtures were recorded;
# the simulator renders the current API (OpenAPI description of
# api.github.com, components/schemas/issue and simple-user).
NEWER = {
    "issue": {"sub_issues_summary", "type", "closed_by", "draft", "pull_request"},
    "user": {"user_view_type"},
    "label": set(),
}
# The scenarios the simulator serves, and the ones it does not (endpoints
# closeloop never calls); every scenario in the package must be in one.
SERVED = ("paginate-issues", "search-issues", "add-labels-to-issue", "rename-repository")
# Members of a webhook payload's issue that the REST answer for an issue
# does not have (the REST fixtures paginate-issues and add-labels-to-issue
# carry no "draft" on an issue that is not a pull request).
WEBHOOK_ONLY = {"draft"}
RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset",
                "x-ratelimit-used", "x-ratelimit-resource")


def load(name):
    with open(os.path.join(FIXTURES, name, "normalized-fixture.json"), encoding="utf-8") as f:
        return json.load(f)


def kind_of(obj):
    """Which NEWER set applies to a JSON object, by its members."""
    if "number" in obj and "title" in obj and "labels_url" in obj:
        return "issue"
    if "login" in obj and "avatar_url" in obj:
        return "user"
    if "color" in obj and "name" in obj and "default" in obj:
        return "label"
    if "full_name" in obj and "owner" in obj:
        return "repository"
    return None


def jtype(v):
    if isinstance(v, bool):
        return "boolean"
    if isinstance(v, (int, float)):
        return "number"
    if isinstance(v, str):
        return "string"
    if isinstance(v, list):
        return "array"
    if isinstance(v, dict):
        return "object"
    return "null"


def shape_diff(rec, sim, where="$", subset=False, covers=False):
    """Differences in JSON shape between a recorded value and the
    simulator's; [] when they agree.  covers=True only asks that every
    recorded member be there (the webhook examples are older than the
    REST fixtures and lack members the REST answers have)."""
    if rec is None or sim is None:
        return []
    if jtype(rec) != jtype(sim):
        return ["%s: GitHub sent %s, the simulator %s" % (where, jtype(rec), jtype(sim))]
    out = []
    if isinstance(rec, dict):
        k = kind_of(rec)
        sub = subset or k == "repository"
        missing = [] if sub else sorted(set(rec) - set(sim) - (WEBHOOK_ONLY if covers else set()))
        extra = [] if covers else sorted(set(sim) - set(rec) - NEWER.get(k, set()))
        out += ["%s.%s: GitHub sends it, the simulator does not" % (where, m) for m in missing]
        out += ["%s.%s: the simulator sends it, GitHub did not" % (where, m) for m in extra]
        for m in sorted(set(rec) & set(sim)):
            out += shape_diff(rec[m], sim[m], "%s.%s" % (where, m), sub and k != "user", covers)
    elif isinstance(rec, list):
        for i, (a, b) in enumerate(zip(rec, sim)):
            out += shape_diff(a, b, "%s[%d]" % (where, i), subset, covers)
    return out


def norm_link(v):
    return re.sub(r"/repositories/\d+", "/repositories/ID", v or "")


class Recorded(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        if not os.path.isdir(FIXTURES):
            raise RuntimeError("%s is missing: run sh tests/sim/recorded/install.sh build/sim-recorded"
                               % FIXTURES)
        cls.proc, cls.port, cls.tmp = start_sim("--token", TOKEN, "--login", LOGIN,
                                                "--public-url", "https://api.github.com",
                                                "--repos", "")

    @classmethod
    def tearDownClass(cls):
        assert stop_sim(cls.proc) == 0

    def setUp(self):
        self.c = Client(self.port, token=None)
        self.assertEqual(self.c.request("POST", "/_sim/reset", {})[0], 200)

    def tearDown(self):
        self.c.close()

    def admin(self, method, path, body):
        st, _, obj, _ = self.c.request(method, path, body)
        self.assertLess(st, 300, "%s %s -> %s %s" % (method, path, st, obj))
        return obj

    def send(self, rec, path=None):
        """Send a recorded request as octokit did (its token scheme, its
        Accept), to path when given (a repository id rewritten)."""
        h = {"Authorization": rec["reqheaders"].get("authorization", "token " + TOKEN),
             "Accept": rec["reqheaders"].get("accept", "application/vnd.github.v3+json")}
        body = rec.get("body")
        return self.c.request(rec["method"].upper(), path or rec["path"], body, headers=h)

    def compare(self, rec, got, what):
        st, hdrs, obj, _ = got
        self.assertEqual(st, rec["status"], "%s: status (simulator answered %s)" % (what, obj))
        rh = rec["headers"]
        if rh.get("content-type"):
            self.assertEqual(hdrs.get("content-type"), rh["content-type"], what)
        for h in RATE_HEADERS:
            if h in rh:
                self.assertIn(h, hdrs, "%s: %s missing" % (what, h))
        if "x-ratelimit-resource" in rh:
            self.assertEqual(hdrs["x-ratelimit-resource"], rh["x-ratelimit-resource"], what)
        if "etag" in rh and rec["method"] == "get":
            self.assertIn("etag", hdrs, what)
        for h in ("location", "link"):
            self.assertEqual(norm_link(hdrs.get(h)), norm_link(rh.get(h)), "%s: %s" % (what, h))
        diff = shape_diff(rec["response"], obj)
        self.assertEqual(diff, [], "%s: JSON shape differs from the recorded answer" % what)
        return obj

    # ---- scenarios --------------------------------------------------------
    def test_every_scenario_is_accounted_for(self):
        names = sorted(os.listdir(FIXTURES))
        self.assertTrue(set(SERVED) <= set(names), "a served scenario left the package")
        print("\n  recorded scenarios: %d; replayed: %s" % (len(names), ", ".join(SERVED)), file=sys.stderr)
        print("  not served (endpoints closeloop never calls): %s" % ", ".join(
            n for n in names if n not in SERVED), file=sys.stderr)

    def test_paginate_issues(self):
        """13 issues, per_page=3: five pages, Link with next/last/prev/first
        as /repositories/{id}/issues URLs, newest first."""
        rec = load("paginate-issues")
        repo = "%s/paginate-issues" % ORG
        self.admin("POST", "/_sim/seed", {"repos": {repo: {"issues": [
            {"title": "Test issue %d" % i, "user": LOGIN} for i in range(1, 14)]}}})
        rid = self.admin("GET", "/_sim/issues?repo=" + repo, None)
        self.assertEqual(len(rid), 13)
        st, _, r, _ = self.c.request("GET", "/repos/" + repo, headers={"Authorization": "token " + TOKEN})
        self.assertEqual(st, 200)
        for i, step in enumerate(rec):
            path = re.sub(r"/repositories/\d+/", "/repositories/%d/" % r["id"], step["path"])
            obj = self.compare(step, self.send(step, path), "paginate-issues request %d" % (i + 1))
            self.assertEqual([x["number"] for x in obj], [x["number"] for x in step["response"]])
            self.assertEqual([x["title"] for x in obj], [x["title"] for x in step["response"]])

    def test_search_issues(self):
        rec = load("search-issues")[0]
        repo = "%s/search-issues" % ORG
        items = sorted(rec["response"]["items"], key=lambda x: x["number"])
        self.admin("POST", "/_sim/seed", {"repos": {repo: {"issues": [
            {"number": x["number"], "title": x["title"], "body": x["body"], "user": LOGIN}
            for x in items]}}})
        obj = self.compare(rec, self.send(rec), "search-issues")
        self.assertEqual(obj["total_count"], rec["response"]["total_count"])
        self.assertEqual(sorted(x["number"] for x in obj["items"]), [x["number"] for x in items])
        self.assertEqual(self.send(rec)[1]["x-ratelimit-limit"], rec["headers"]["x-ratelimit-limit"])

    def test_create_issue_and_add_labels(self):
        rec = load("add-labels-to-issue")
        self.admin("POST", "/_sim/seed", {"repos": {"%s/add-labels-to-issue" % ORG: {}}})
        create = rec[0]
        obj = self.compare(create, self.send(create), "add-labels-to-issue create")
        self.assertEqual((obj["number"], obj["title"], obj["labels"]), (1, create["body"]["title"], []))
        add = rec[1]  # POST .../issues/1/labels (the flag labels of sql/013)
        obj = self.compare(add, self.send(add), "add-labels-to-issue labels")
        self.assertEqual([x["name"] for x in obj], [x["name"] for x in add["response"]])

    def test_rename_repository(self):
        """PATCH name -> 200; the old name: GET 301 and PATCH 307 to
        /repositories/{id}, which answer 200."""
        rec = load("rename-repository")
        self.admin("POST", "/_sim/seed", {"repos": {"%s/rename-repository" % ORG: {}}})
        rid = None
        for i, step in enumerate(rec):
            path = step["path"]
            if rid is not None:
                path = re.sub(r"^/repositories/\d+", "/repositories/%d" % rid, path)
            obj = self.compare(step, self.send(step, path), "rename-repository request %d" % (i + 1))
            if step["status"] == 200:
                rid = obj["id"]
                self.assertEqual(obj["full_name"], step["response"]["full_name"])

    def test_unknown_repository(self):
        """GitHub answers 404 for a repository that does not exist (the
        fixtures' scenarios create theirs first; a request before that is
        the "errors" family's 404 Not Found)."""
        st, _, obj, _ = self.c.request("GET", "/repos/%s/never-created/issues" % ORG,
                                       headers={"Authorization": "token " + TOKEN})
        self.assertEqual((st, obj["message"]), (404, "Not Found"))

    def test_webhook_transferred_issue_gets_new_id_and_number(self):
        """webhooks-examples issues.transferred: changes.new_issue is the
        issue in the new repository with its own id; the simulator's
        transfer answers the same way, and the old URL answers 301 there."""
        with open(WEBHOOKS, encoding="utf-8") as f:
            events = json.load(f)
        ex = [e for ev in events if ev["name"] == "issues" for e in ev["examples"]
              if e.get("action") == "transferred"]
        self.assertTrue(ex, "no issues.transferred example in the package")
        old, new = ex[0]["issue"], ex[0]["changes"]["new_issue"]
        self.assertNotEqual(old["id"], new["id"])
        self.assertNotEqual(old["repository_url"], new["repository_url"])
        self.admin("POST", "/_sim/seed", {"repos": {"o/a": {"issues": [{"title": "x"}]},
                                                    "o/b": {"issues": [{"title": "y"}]}}})
        h = {"Authorization": "token " + TOKEN}
        st, _, before, _ = self.c.request("GET", "/repos/o/a/issues/1", headers=h)
        moved = self.admin("POST", "/_sim/issues/o/a/1/transfer", {"to": "o/b"})
        self.assertNotEqual(moved["id"], before["id"])
        self.assertEqual(moved["number"], 2)
        self.assertEqual(shape_diff(new, moved, "new_issue", covers=True), [])
        st, hdrs, obj, _ = self.c.request("GET", "/repos/o/a/issues/1", headers=h)
        self.assertEqual(st, 301)
        self.assertEqual(hdrs["location"], obj["url"])
        st, _, obj, _ = self.c.request("GET", hdrs["location"].replace("https://api.github.com", ""),
                                       headers=h)
        self.assertEqual((st, obj["id"], obj["number"]), (200, moved["id"], 2))

    def test_webhook_issue_shape(self):
        """The issue object of GitHub's issues.opened example has the
        members the simulator renders (a webhook issue is the REST one)."""
        with open(WEBHOOKS, encoding="utf-8") as f:
            events = json.load(f)
        opened = [e for ev in events if ev["name"] == "issues" for e in ev["examples"]
                  if e.get("action") == "opened"][0]["issue"]
        self.admin("POST", "/_sim/seed", {"repos": {"o/a": {"issues": [{"title": "x"}]}}})
        st, _, obj, _ = self.c.request("GET", "/repos/o/a/issues/1",
                                       headers={"Authorization": "token " + TOKEN})
        self.assertEqual(st, 200)
        self.assertEqual(shape_diff(opened, obj, "issue", covers=True), [])


if __name__ == "__main__":
    if len(sys.argv) > 1 and not sys.argv[1].startswith("-"):
        MODULES = sys.argv.pop(1)
        FIXTURES = os.path.join(MODULES, "@octokit", "fixtures", "scenarios", "api.github.com")
        WEBHOOKS = os.path.join(MODULES, "@octokit", "webhooks-examples", "api.github.com", "index.json")
    unittest.main(verbosity=2)
