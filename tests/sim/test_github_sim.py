#!/usr/bin/env python3
"""Tests for tests/sim/github_sim.py: starts the simulator on port 0 and
talks HTTP/1.1 to it with http.client.  Run: python3 tests/sim/test_github_sim.py
"""

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
SIM = os.path.join(HERE, "github_sim.py")
TOKEN = "test-token-123"
# the repositories that exist (github_sim.py --repos); others answer 404
REPOS = "a/b,c/d,acme/*,etcd-io/etcd,o/r"


def start_sim(*extra):
    """Start a simulator; returns (process, port, tmpdir)."""
    tmp = tempfile.mkdtemp(prefix="ghsim-")
    port_file = os.path.join(tmp, "port")
    proc = subprocess.Popen([sys.executable, SIM, "--port", "0", "--port-file", port_file,
                             "--token", TOKEN, "--repos", REPOS] + list(extra),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 10
    while time.time() < deadline:
        if os.path.exists(port_file):
            with open(port_file, encoding="utf-8") as f:
                text = f.read().strip()
            if text:
                return proc, int(text), tmp
        if proc.poll() is not None:
            raise RuntimeError("simulator exited: %s" % proc.stderr.read().decode())
        time.sleep(0.02)
    proc.kill()
    raise RuntimeError("simulator did not write its port file")


def stop_sim(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=10)
    finally:
        if proc.stderr:
            proc.stderr.close()


class Client:
    """Tiny keep-alive HTTP/1.1 client."""

    def __init__(self, port, token=TOKEN, version="2022-11-28"):
        self.port, self.token, self.version = port, token, version
        self.conn = None

    def request(self, method, url, body=None, headers=None, auth=True):
        parts = urllib.parse.urlsplit(url)
        path = parts.path + ("?" + parts.query if parts.query else "") if parts.scheme else url
        h = {"Accept": "application/vnd.github+json"}
        if auth and self.token:
            h["Authorization"] = "Bearer " + self.token
        if self.version and not path.startswith("/_sim"):
            h["X-GitHub-Api-Version"] = self.version
        h.update(headers or {})
        data = None
        if body is not None:
            data = body if isinstance(body, bytes) else json.dumps(body).encode()
            h["Content-Type"] = "application/json"
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=20)
            try:
                self.conn.request(method, path, body=data, headers=h)
                resp = self.conn.getresponse()
                raw = resp.read()
                break
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = None
                if attempt == 1:
                    raise
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
        try:
            obj = json.loads(raw) if raw else None
        except ValueError:
            obj = ValueError
        return resp.status, hdrs, obj, raw

    def close(self):
        if self.conn is not None:
            self.conn.close()


def parse_link(value):
    out = {}
    for part in (value or "").split(","):
        m = re.match(r'\s*<([^>]+)>;\s*rel="(\w+)"', part)
        if m:
            out[m.group(2)] = m.group(1)
    return out


class SimTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.proc, cls.port, cls.tmp = start_sim()

    @classmethod
    def tearDownClass(cls):
        rc = stop_sim(cls.proc)
        assert rc == 0, "simulator exit status %r" % rc

    def setUp(self):
        self.c = Client(self.port)
        st, _, _, _ = self.c.request("POST", "/_sim/reset", {})
        self.assertEqual(st, 200)

    def tearDown(self):
        self.c.close()

    def admin(self, method, path, body=None):
        st, _, obj, _ = self.c.request(method, path, body if body is not None else
                                       ({} if method == "POST" else None))
        self.assertLess(st, 300, "%s %s -> %s %s" % (method, path, st, obj))
        return obj

    def create(self, repo, **fields):
        st, h, obj, _ = self.c.request("POST", "/repos/%s/issues" % repo, fields)
        self.assertEqual(st, 201, obj)
        return obj, h

    # ---- auth, versions ---------------------------------------------------
    def test_auth_and_api_version(self):
        st, h, obj, _ = self.c.request("GET", "/repos/a/b/issues", auth=False)
        self.assertEqual(st, 401)
        self.assertEqual(obj["message"], "Bad credentials")
        self.assertIn("documentation_url", obj)
        bad = Client(self.port, token="wrong")
        st, _, _, _ = bad.request("GET", "/repos/a/b/issues")
        bad.close()
        self.assertEqual(st, 401)
        st, _, _, _ = self.c.request("GET", "/repos/a/b/issues",
                                     headers={"Authorization": "token " + TOKEN})
        self.assertEqual(st, 200)
        st, _, obj, _ = self.c.request("GET", "/repos/a/b/issues",
                                       headers={"X-GitHub-Api-Version": "2021-01-01"})
        self.assertEqual(st, 400)
        self.assertIn("X-GitHub-Api-Version", obj["message"])

    def test_api_version_2026_drops_singular_assignee(self):
        issue, _ = self.create("a/b", title="x", assignees=["alice"])
        self.assertEqual(issue["assignee"]["login"], "alice")
        c26 = Client(self.port, version="2026-03-10")
        st, h, obj, _ = c26.request("GET", "/repos/a/b/issues/%d" % issue["number"])
        c26.close()
        self.assertEqual(st, 200)
        self.assertNotIn("assignee", obj)
        self.assertEqual([a["login"] for a in obj["assignees"]], ["alice"])
        self.assertEqual(h["x-github-api-version-selected"], "2026-03-10")

    # ---- create, get, validation --------------------------------------------
    def test_create_shape_and_location(self):
        issue, h = self.create("Acme/K8s", title="Add alert", body="text",
                               labels=["P1", {"name": "type:detect"}], assignees=["alice"])
        self.assertEqual(issue["number"], 1)
        self.assertEqual(issue["state"], "open")
        self.assertIsNone(issue["state_reason"])
        self.assertIsNone(issue["closed_at"])
        self.assertEqual(issue["html_url"], "https://github.com/Acme/K8s/issues/1")
        self.assertTrue(h["location"].endswith("/repos/Acme/K8s/issues/1"))
        self.assertEqual(issue["url"], h["location"])
        self.assertRegex(issue["created_at"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual([l["name"] for l in issue["labels"]], ["P1", "type:detect"])
        for lab in issue["labels"]:
            self.assertEqual(set(lab), {"id", "node_id", "url", "name", "color", "default", "description"})
        self.assertEqual([a["login"] for a in issue["assignees"]], ["alice"])
        self.assertEqual(issue["assignee"]["login"], "alice")
        self.assertEqual(issue["user"]["login"], "closeloop-bot")
        other, _ = self.create("acme/other", title="second repo")
        self.assertEqual(other["number"], 1)
        self.assertNotEqual(other["id"], issue["id"])
        # labels are reused case-insensitively
        again, _ = self.create("acme/k8s", title="y", labels=["p1"])
        self.assertEqual(again["labels"][0]["name"], "P1")
        self.assertEqual(again["labels"][0]["id"], issue["labels"][0]["id"])

    def test_search_issues_by_token(self):
        tok = "0b6f1c1e-93aa-4e0d-9d0c-5a2f4f2b8e11"
        body = "Steps\n\n<!-- closeloop:begin token=%s item=7 -->\n<!-- closeloop:end -->" % tok
        hit, _ = self.create("acme/k8s", title="Alert on etcd latency", body=body)
        self.create("acme/k8s", title="Other", body="no token here")
        self.create("acme/other", title="Elsewhere", body=body)
        q = urllib.parse.quote('"%s" repo:acme/k8s is:issue in:body' % tok)
        st, h, obj, _ = self.c.request("GET", "/search/issues?q=%s&per_page=10" % q)
        self.assertEqual(st, 200, obj)
        self.assertEqual(obj["total_count"], 1)
        self.assertFalse(obj["incomplete_results"])
        self.assertEqual([i["number"] for i in obj["items"]], [hit["number"]])
        self.assertEqual(obj["items"][0]["id"], hit["id"])
        self.assertIn("score", obj["items"][0])
        # its own rate limit resource, not the core one
        self.assertEqual(h["x-ratelimit-resource"], "search")
        self.assertEqual(h["x-ratelimit-limit"], "30")
        self.assertEqual(h["x-ratelimit-remaining"], "29")
        # in:title does not look at the body; an unknown repository is a 422
        q2 = urllib.parse.quote('"%s" repo:acme/k8s in:title' % tok)
        self.assertEqual(self.c.request("GET", "/search/issues?q=" + q2)[2]["total_count"], 0)
        st, _, obj, _ = self.c.request("GET", "/search/issues?q=repo:acme/nope")
        self.assertEqual(st, 422)
        self.assertEqual(self.c.request("GET", "/search/issues")[0], 422)
        # the index lags: a change younger than the lag is not found yet
        self.admin("POST", "/_sim/search", {"lag_s": 3600})
        self.assertEqual(self.c.request("GET", "/search/issues?q=%s" % q)[2]["total_count"], 0)
        self.admin("POST", "/_sim/search", {"lag_s": 0})
        self.assertEqual(self.admin("GET", "/_sim/stats")["search"], 5)

    def test_search_rate_limit(self):
        self.admin("POST", "/_sim/search", {"limit": 2})
        for _ in range(2):
            self.assertEqual(self.c.request("GET", "/search/issues?q=x")[0], 200)
        st, h, obj, _ = self.c.request("GET", "/search/issues?q=x")
        self.assertEqual(st, 403)
        self.assertEqual(h["x-ratelimit-remaining"], "0")
        self.assertEqual(h["x-ratelimit-resource"], "search")
        self.assertIn("rate limit", obj["message"])
        # the core limit is untouched
        st, h, _, _ = self.c.request("GET", "/repos/acme/k8s/issues")
        self.assertEqual(st, 200)
        self.assertEqual(h["x-ratelimit-resource"], "core")

    def test_issue_comments(self):
        issue, _ = self.create("acme/k8s", title="x")
        n = issue["number"]
        st, _, obj, _ = self.c.request("POST", "/repos/acme/k8s/issues/%d/comments" % n, {"body": " "})
        self.assertEqual(st, 422)
        st, h, c1, _ = self.c.request("POST", "/repos/acme/k8s/issues/%d/comments" % n,
                                      {"body": "cc @alice <!-- m1 -->"})
        self.assertEqual(st, 201, c1)
        self.assertEqual(h["location"], c1["url"])
        self.assertEqual(c1["body"], "cc @alice <!-- m1 -->")
        self.assertEqual(c1["user"]["login"], "closeloop-bot")
        self.assertTrue(c1["html_url"].endswith("/acme/k8s/issues/%d#issuecomment-%d" % (n, c1["id"])))
        for k in range(2, 5):
            st, _, _, _ = self.c.request("POST", "/repos/acme/k8s/issues/%d/comments" % n,
                                         {"body": "c%d" % k})
            self.assertEqual(st, 201)
        st, _, got, _ = self.c.request("GET", "/repos/acme/k8s/issues/%d" % n)
        self.assertEqual(got["comments"], 4)
        st, h, page, _ = self.c.request("GET", "/repos/acme/k8s/issues/%d/comments?per_page=3" % n)
        self.assertEqual(st, 200)
        self.assertEqual([c["body"] for c in page], ["cc @alice <!-- m1 -->", "c2", "c3"])
        nxt = parse_link(h["link"])["next"]
        st, h, page, _ = self.c.request("GET", nxt)
        self.assertEqual([c["body"] for c in page], ["c4"])
        self.assertEqual(len(self.admin("GET", "/_sim/comments/acme/k8s/%d" % n)), 4)
        st, _, _, _ = self.c.request("POST", "/repos/acme/k8s/issues/99/comments", {"body": "x"})
        self.assertEqual(st, 404)
        self.assertEqual(self.admin("GET", "/_sim/stats")["comment"], 6)  # 422 and 404 included

    def test_issue_labels_add_and_remove_one(self):
        issue, _ = self.create("acme/k8s", title="x", labels=["bug"])
        n = issue["number"]
        path = "/repos/acme/k8s/issues/%d/labels" % n
        st, _, got, _ = self.c.request("POST", path, {"labels": ["closeloop:overdue"]})
        self.assertEqual(st, 200, got)
        self.assertEqual([l["name"] for l in got], ["bug", "closeloop:overdue"])
        st, _, got, _ = self.c.request("POST", path, {"labels": ["CLOSELOOP:overdue"]})
        self.assertEqual([l["name"] for l in got], ["bug", "closeloop:overdue"])  # already there
        st, _, got, _ = self.c.request("DELETE", path + "/closeloop%3Aoverdue")
        self.assertEqual((st, [l["name"] for l in got]), (200, ["bug"]))
        st, _, got, _ = self.c.request("DELETE", path + "/closeloop%3Aoverdue")
        self.assertEqual((st, got["message"]), (404, "Label does not exist"))
        st, _, got, _ = self.c.request("DELETE", "/repos/acme/k8s/issues/99/labels/bug")
        self.assertEqual((st, got["message"]), (404, "Not Found"))
        st, _, got, _ = self.c.request("POST", path, {"nolabels": []})
        self.assertEqual(st, 422)
        self.assertEqual(self.admin("GET", "/_sim/stats")["label"], 6)

    def test_unassignable_login_refuses_the_whole_write(self):
        """GitHub refuses a create or update naming a login it cannot assign
        with 422 (Issue.assignees invalid) and writes nothing; it does not
        drop the login and keep the rest."""
        self.admin("POST", "/_sim/seed", {"users": ["alice", "Bob"]})
        issue, _ = self.create("a/b", title="x", assignees=["bob"])
        self.assertEqual([a["login"] for a in issue["assignees"]], ["Bob"])
        for bad in (["bob", "mallory"], ["no such login!"]):
            st, _, obj, _ = self.c.request("POST", "/repos/a/b/issues", {"title": "y", "assignees": bad})
            self.assertEqual(st, 422, obj)
            self.assertEqual(obj["errors"], [{"value": bad[-1], "resource": "Issue",
                                              "field": "assignees", "code": "invalid"}])
        st, _, obj, _ = self.c.request("PATCH", "/repos/a/b/issues/1",
                                       {"title": "changed", "assignees": ["mallory"]})
        self.assertEqual(st, 422, obj)
        self.assertEqual(obj["errors"][0]["field"], "assignees")
        st, _, obj, _ = self.c.request("GET", "/repos/a/b/issues/1")
        self.assertEqual((obj["title"], [a["login"] for a in obj["assignees"]]), ("x", ["Bob"]))
        st, _, obj, _ = self.c.request("GET", "/repos/a/b/issues?state=all")
        self.assertEqual(len(obj), 1, "a refused create made no issue")

    def test_unknown_repository_is_404(self):
        for method, path, body in (("GET", "/repos/nobody/missing/issues", None),
                                   ("POST", "/repos/nobody/missing/issues", {"title": "x"}),
                                   ("GET", "/repos/nobody/missing/issues/1", None),
                                   ("GET", "/repos/nobody/missing", None),
                                   ("GET", "/repositories/1/issues", None)):
            st, _, obj, _ = self.c.request(method, path, body)
            self.assertEqual((st, obj["message"]), (404, "Not Found"), (method, path))
        st, _, obj, _ = self.c.request("GET", "/_sim/issues?repo=nobody/missing")
        self.assertEqual(obj, [], "a 404 created nothing")
        # seeded (or declared with --repos) it exists
        self.admin("POST", "/_sim/seed", {"repos": {"nobody/missing": {}}})
        st, _, obj, _ = self.c.request("GET", "/repos/nobody/missing/issues")
        self.assertEqual((st, obj), (200, []))

    def test_renamed_repository_redirects(self):
        """octokit/fixtures rename-repository: after a rename the old name
        answers 301 (GET) or 307 (PATCH, POST) to /repositories/{id}/...,
        the query kept; the new name and the id serve the same issues."""
        self.create("a/b", title="one")
        st, _, repo, _ = self.c.request("GET", "/repos/a/b")
        self.assertEqual((st, repo["full_name"]), (200, "a/b"))
        st, _, obj, _ = self.c.request("PATCH", "/repos/a/b", {"name": "b2"})
        self.assertEqual((st, obj["full_name"], obj["id"]), (200, "a/b2", repo["id"]))
        rid = repo["id"]
        for method, path, body, code in (
                ("GET", "/repos/a/b/issues/1", None, 301),
                ("GET", "/repos/a/b/issues?state=all&per_page=5", None, 301),
                ("GET", "/repos/a/b", None, 301),
                ("PATCH", "/repos/a/b/issues/1", {"title": "z"}, 307),
                ("POST", "/repos/a/b/issues", {"title": "new"}, 307)):
            st, h, obj, _ = self.c.request(method, path, body)
            self.assertEqual(st, code, (method, path, obj))
            suffix = path[len("/repos/a/b"):]
            self.assertTrue(h["location"].endswith("/repositories/%d%s" % (rid, suffix)), h["location"])
            self.assertEqual(obj["url"], h["location"])
            self.assertEqual(obj["message"], "Moved Permanently")
        st, _, obj, _ = self.c.request("GET", "/repos/a/b2/issues/1")
        self.assertEqual((st, obj["title"]), (200, "one"), "a redirect changed nothing")
        self.assertTrue(obj["url"].endswith("/repos/a/b2/issues/1"))
        st, _, obj, _ = self.c.request("PATCH", "/repositories/%d/issues/1" % rid, {"title": "z"})
        self.assertEqual((st, obj["title"]), (200, "z"))
        self.admin("POST", "/_sim/repos/a/b2/rename", {"name": "b3"})
        st, h, _, _ = self.c.request("GET", "/repos/a/b/issues/1")
        self.assertEqual(st, 301, "the first old name still redirects after a second rename")

    def test_pull_request_through_issues_endpoint(self):
        self.admin("POST", "/_sim/seed", {"repos": {"a/b": {"pulls": 1}}})
        st, _, obj, _ = self.c.request("GET", "/repos/a/b/issues/1")
        self.assertEqual(st, 200)
        self.assertIn("pull_request", obj)
        self.assertTrue(obj["pull_request"]["url"].endswith("/repos/a/b/pulls/1"))
        self.assertTrue(obj["html_url"].endswith("/a/b/pull/1"))

    def test_validation_errors(self):
        st, _, obj, _ = self.c.request("POST", "/repos/a/b/issues", {"body": "no title"})
        self.assertEqual(st, 422)
        self.assertEqual(obj["message"], "Validation Failed")
        self.assertEqual(obj["errors"], [{"resource": "Issue", "code": "missing_field", "field": "title"}])
        self.assertIn("documentation_url", obj)
        st, _, obj, _ = self.c.request("POST", "/repos/a/b/issues", b"{not json")
        self.assertEqual(st, 400)
        self.assertEqual(obj["message"], "Problems parsing JSON")
        st, _, obj, _ = self.c.request("POST", "/repos/a/b/issues", {"title": "t", "labels": "P1"})
        self.assertEqual(st, 422)
        st, _, obj, _ = self.c.request("POST", "/repos/a/b/issues", {"title": "t" * 300})
        self.assertEqual(st, 422)
        # nothing was created by the refused requests
        st, _, obj, _ = self.c.request("GET", "/repos/a/b/issues?state=all")
        self.assertEqual(obj, [])
        issue, _ = self.create("a/b", title="ok")
        self.assertEqual(issue["number"], 1)

    def test_get_etag_304_is_free(self):
        issue, _ = self.create("a/b", title="x")
        url = "/repos/a/b/issues/%d" % issue["number"]
        st, h, obj, _ = self.c.request("GET", url)
        self.assertEqual(st, 200)
        tag = h["etag"]
        self.assertTrue(tag.startswith('W/"'))
        remaining = int(h["x-ratelimit-remaining"])
        for _ in range(3):
            st, h2, obj2, raw = self.c.request("GET", url, headers={"If-None-Match": tag})
            self.assertEqual(st, 304)
            self.assertEqual(raw, b"")
            self.assertEqual(int(h2["x-ratelimit-remaining"]), remaining)
            self.assertEqual(h2["etag"], tag)
        for k in ("x-ratelimit-limit", "x-ratelimit-used", "x-ratelimit-reset", "x-ratelimit-resource"):
            self.assertIn(k, h2)
        self.assertEqual(h2["x-ratelimit-resource"], "core")
        # a change makes the old tag stale; the list has its own tag
        self.admin("POST", "/_sim/issues/a/b/1/edit", {"title": "changed", "actor": "alice"})
        st, h3, obj3, _ = self.c.request("GET", url, headers={"If-None-Match": tag})
        self.assertEqual(st, 200)
        self.assertEqual(obj3["title"], "changed")
        self.assertEqual(int(h3["x-ratelimit-remaining"]), remaining - 1)
        st, hl, _, _ = self.c.request("GET", "/repos/a/b/issues?state=all")
        st, _, _, _ = self.c.request("GET", "/repos/a/b/issues?state=all",
                                     headers={"If-None-Match": hl["etag"]})
        self.assertEqual(st, 304)

    # ---- listing ------------------------------------------------------------
    def test_pagination_link_250(self):
        self.admin("POST", "/_sim/seed",
                   {"repos": {"acme/big": {"issues": [{"title": "seed %d" % i} for i in range(240)]}}})
        for i in range(10):
            self.create("acme/big", title="made %d" % i)
        url = "/repos/acme/big/issues?state=all&sort=updated&direction=asc&per_page=100"
        seen, pages = [], 0
        while url:
            st, h, obj, _ = self.c.request("GET", url)
            self.assertEqual(st, 200)
            pages += 1
            seen.extend(i["number"] for i in obj)
            links = parse_link(h.get("link"))
            if pages == 1:
                self.assertEqual(set(links), {"next", "last"})
                self.assertRegex(h["link"], r'^<http://127\.0\.0\.1:\d+/repositories/\d+/issues\?'
                                 r'state=all&sort=updated&direction=asc&per_page=100&page=2>; rel="next", '
                                 r'<[^>]+page=3>; rel="last"$')
            elif pages == 2:
                self.assertEqual(list(links), ["prev", "next", "last", "first"])
            else:
                self.assertEqual(list(links), ["prev", "first"])
            url = links.get("next")
        self.assertEqual(pages, 3)
        self.assertEqual(len(seen), 250)
        self.assertEqual(len(set(seen)), 250)
        # default per_page 30, max 100
        st, h, obj, _ = self.c.request("GET", "/repos/acme/big/issues")
        self.assertEqual(len(obj), 30)
        self.assertTrue(parse_link(h["link"])["last"].endswith("page=9"))
        st, h, obj, _ = self.c.request("GET", "/repos/acme/big/issues?per_page=500")
        self.assertEqual(len(obj), 100)
        # a single page has no Link header
        st, h, obj, _ = self.c.request("GET", "/repos/acme/small/issues")
        self.assertEqual(obj, [])
        self.assertNotIn("link", h)

    def test_state_sort_direction(self):
        a, _ = self.create("a/b", title="first")
        b, _ = self.create("a/b", title="second")
        st, _, _, _ = self.c.request("PATCH", "/repos/a/b/issues/1", {"state": "closed"})
        self.assertEqual(st, 200)
        st, _, obj, _ = self.c.request("GET", "/repos/a/b/issues")
        self.assertEqual([i["number"] for i in obj], [2])
        st, _, obj, _ = self.c.request("GET", "/repos/a/b/issues?state=closed")
        self.assertEqual([i["number"] for i in obj], [1])
        st, _, obj, _ = self.c.request("GET", "/repos/a/b/issues?state=all&sort=created&direction=asc")
        self.assertEqual([i["number"] for i in obj], [1, 2])
        st, _, obj, _ = self.c.request("GET", "/repos/a/b/issues?state=all")
        self.assertEqual([i["number"] for i in obj], [2, 1])
        st, _, obj, _ = self.c.request("GET", "/repos/a/b/issues?state=bogus")
        self.assertEqual(st, 422)
        st, _, obj, _ = self.c.request("GET", "/repos/a/b/issues?state=all&labels=nothere")
        self.assertEqual(obj, [])

    def test_pull_requests_are_listed(self):
        self.admin("POST", "/_sim/seed", {"repos": {"a/b": {"issues": [{"title": "i1"}], "pulls": 3}}})
        st, _, obj, _ = self.c.request("GET", "/repos/a/b/issues?state=all&per_page=100")
        self.assertEqual(len(obj), 4)
        prs = [i for i in obj if "pull_request" in i]
        self.assertEqual(len(prs), 3)
        self.assertIn("/pull/", prs[0]["html_url"])
        self.assertTrue(prs[0]["pull_request"]["url"].endswith("/pulls/%d" % prs[0]["number"]))

    def test_since_filter_and_clock(self):
        self.admin("POST", "/_sim/seed", {"repos": {"etcd-io/etcd": {"issues": [
            {"number": 14045, "title": "old", "created_at": "2022-05-01T10:00:00Z",
             "updated_at": "2022-06-01T10:00:00Z"},
            {"number": 14046, "title": "newer", "created_at": "2022-05-01T10:00:00Z",
             "updated_at": "2023-01-01T00:00:00Z", "state": "closed", "state_reason": "not_planned",
             "closed_at": "2023-01-01T00:00:00Z"}]}}})
        base = "/repos/etcd-io/etcd/issues?state=all&sort=updated&direction=asc&since="
        st, _, obj, _ = self.c.request("GET", base + "2022-06-01T10:00:00Z")
        self.assertEqual([i["number"] for i in obj], [14045, 14046])   # inclusive
        st, _, obj, _ = self.c.request("GET", base + "2022-06-01T10:00:01Z")
        self.assertEqual([i["number"] for i in obj], [14046])
        self.assertEqual(obj[0]["state_reason"], "not_planned")
        self.assertEqual(obj[0]["closed_at"], "2023-01-01T00:00:00Z")
        st, _, obj, _ = self.c.request("GET", base + "not-a-date")
        self.assertEqual(st, 422)
        # next number after an explicit seeded number
        issue, _ = self.create("etcd-io/etcd", title="new")
        self.assertEqual(issue["number"], 14047)
        # a user edit an hour "later" shows up in a since window
        self.admin("POST", "/_sim/clock", {"offset_s": 3600})
        edited = self.admin("POST", "/_sim/issues/etcd-io/etcd/14045/edit",
                            {"body": "edited on GitHub", "actor": "alice"})
        cut = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 1800))
        st, _, obj, _ = self.c.request("GET", base + cut)
        self.assertEqual([i["number"] for i in obj], [14045])
        self.assertEqual(obj[0]["updated_at"], edited["updated_at"])
        st, _, obj, _ = self.c.request("POST", "/_sim/clock", {"offset_s": 10})
        self.assertEqual(st, 400)

    # ---- update -------------------------------------------------------------
    def test_patch_close_reopen(self):
        issue, _ = self.create("a/b", title="x", labels=["a", "b"], assignees=["alice"])
        self.admin("POST", "/_sim/clock", {"advance_s": 5})
        url = "/repos/a/b/issues/1"
        st, _, obj, _ = self.c.request("PATCH", url, {"state": "closed", "state_reason": "not_planned",
                                                      "labels": ["c"], "assignees": [], "body": "new"})
        self.assertEqual(st, 200, obj)
        self.assertEqual(obj["state"], "closed")
        self.assertEqual(obj["state_reason"], "not_planned")
        self.assertIsNotNone(obj["closed_at"])
        self.assertEqual(obj["closed_by"]["login"], "closeloop-bot")
        self.assertEqual([l["name"] for l in obj["labels"]], ["c"])
        self.assertEqual(obj["assignees"], [])
        self.assertIsNone(obj["assignee"])
        self.assertEqual(obj["body"], "new")
        self.assertGreater(obj["updated_at"], issue["updated_at"])
        st, _, obj, _ = self.c.request("PATCH", url, {"state": "open"})
        self.assertEqual(obj["state"], "open")
        self.assertEqual(obj["state_reason"], "reopened")
        self.assertIsNone(obj["closed_at"])
        st, _, obj, _ = self.c.request("PATCH", url, {"state": "closed"})
        self.assertEqual(obj["state_reason"], "completed")
        # invalid values
        for bad in ({"state_reason": "because"}, {"state": "open", "state_reason": "not_planned"},
                    {"state": "shut"}, {"title": ""}, {"assignees": "alice"}):
            st, _, obj, _ = self.c.request("PATCH", url, bad)
            self.assertEqual(st, 422, bad)
            self.assertIn("message", obj)
        st, _, obj, _ = self.c.request("GET", url)
        self.assertEqual((obj["state"], obj["state_reason"]), ("closed", "completed"))

    def test_moved_deleted_missing(self):
        self.create("a/b", title="one")
        self.create("a/b", title="two")
        self.create("c/d", title="there")
        st, _, old, _ = self.c.request("GET", "/repos/a/b/issues/1")
        moved = self.admin("POST", "/_sim/issues/a/b/1/transfer", {"to": "c/d"})
        self.assertEqual(moved["number"], 2)
        # a new id and node id in the new repository (webhook issues
        # "transferred": changes.new_issue.id differs from issue.id)
        self.assertNotEqual(moved["id"], old["id"])
        self.assertNotEqual(moved["node_id"], old["node_id"])
        for method, body in (("GET", None), ("PATCH", {"title": "z"})):
            st, h, obj, _ = self.c.request(method, "/repos/a/b/issues/1", body)
            self.assertEqual(st, 301)
            self.assertEqual(obj["message"], "Moved Permanently")
            self.assertEqual(obj["url"], h["location"])
        st, _, obj, _ = self.c.request("GET", h["location"])
        self.assertEqual(st, 200)
        self.assertEqual(obj["title"], "one")
        self.assertEqual(obj["html_url"], "https://github.com/c/d/issues/2")
        st, _, obj, _ = self.c.request("GET", "/repos/a/b/issues?state=all")
        self.assertEqual([i["number"] for i in obj], [2])
        self.admin("POST", "/_sim/issues/a/b/2/delete")
        st, _, obj, _ = self.c.request("GET", "/repos/a/b/issues/2")
        self.assertEqual(st, 410)
        self.assertEqual(obj["message"], "This issue was deleted")
        st, _, obj, _ = self.c.request("GET", "/repos/a/b/issues/99")
        self.assertEqual(st, 404)
        self.assertEqual(obj["message"], "Not Found")
        markers = self.admin("GET", "/_sim/issues?repo=a/b")
        self.assertEqual(markers[0]["transferred_to"], "c/d#2")
        self.assertTrue(markers[1]["deleted"])

    # ---- rate limits --------------------------------------------------------
    def test_primary_rate_limit(self):
        self.admin("POST", "/_sim/ratelimit", {"remaining": 1})
        st, h, _, _ = self.c.request("GET", "/repos/a/b/issues")
        self.assertEqual((st, h["x-ratelimit-remaining"]), (200, "0"))
        st, h, obj, _ = self.c.request("GET", "/repos/a/b/issues")
        self.assertEqual(st, 403)
        self.assertEqual(h["x-ratelimit-remaining"], "0")
        self.assertTrue(obj["message"].startswith("API rate limit exceeded for"))
        self.assertGreater(int(h["x-ratelimit-reset"]), time.time())

    def test_secondary_rate_limit(self):
        """Content creation over the limit is answered as GitHub does: 403,
        the documented message, no retry-after, primary budget left."""
        self.admin("POST", "/_sim/ratelimit", {"creates_per_minute": 3})
        for i in range(3):
            self.create("a/b", title="t%d" % i)
        st, h, obj, _ = self.c.request("POST", "/repos/a/b/issues", {"title": "too many"})
        self.assertEqual(st, 403)
        self.assertTrue(obj["message"].startswith("You have exceeded a secondary rate limit"))
        self.assertTrue(obj["documentation_url"].endswith("#about-secondary-rate-limits"))
        self.assertNotIn("retry-after", h)
        self.assertGreater(int(h["x-ratelimit-remaining"]), 0)
        st, _, _, _ = self.c.request("PATCH", "/repos/a/b/issues/1", {"title": "z"})
        self.assertEqual(st, 200)   # an edit is not content creation
        st, _, obj, _ = self.c.request("GET", "/repos/a/b/issues")   # reads are not limited
        self.assertEqual((st, len(obj)), (200, 3))
        stats = self.admin("GET", "/_sim/stats")
        self.assertEqual((stats["rate_limited"], stats["secondary_limited"]), (1, 1))
        # the hourly budget, on its own
        self.admin("POST", "/_sim/ratelimit", {"creates_per_minute": 0, "creates_per_hour": 2})
        self.create("a/b", title="h1")
        self.create("a/b", title="h2")
        st, h, _, _ = self.c.request("POST", "/repos/a/b/issues", {"title": "h3"})
        self.assertEqual(st, 403)
        self.assertNotIn("retry-after", h)

    def test_concurrent_writes_refused(self):
        """Two mutating requests in flight at once: the second is refused
        with the secondary limit (GitHub asks for them one at a time)."""
        self.create("a/b", title="first")
        self.admin("POST", "/_sim/faults", {"match": {"method": "PATCH"}, "count": 1,
                                            "action": {"delay_ms": 600}})
        out = {}

        def slow():
            c2 = Client(self.port)
            out["slow"] = c2.request("PATCH", "/repos/a/b/issues/1", {"title": "slow"})[0]
            c2.close()
        t = threading.Thread(target=slow)
        t.start()
        time.sleep(0.2)
        st, h, obj, _ = self.c.request("POST", "/repos/a/b/issues", {"title": "meanwhile"})
        t.join()
        self.assertEqual((out["slow"], st), (200, 403))
        self.assertTrue(obj["message"].startswith("You have exceeded a secondary rate limit"))
        self.assertNotIn("retry-after", h)
        st, _, _, _ = self.c.request("GET", "/repos/a/b/issues")   # reads are never refused
        self.assertEqual(st, 200)
        self.create("a/b", title="afterwards")

    # ---- faults -------------------------------------------------------------
    def test_fault_429_then_ok(self):
        self.admin("POST", "/_sim/faults", {"match": {"method": "GET", "path_regex": "/issues$"},
                                            "count": 2, "action": {"status": 429, "headers": {"retry-after": "1"},
                                                                   "body": {"message": "slow down"}}})
        for _ in range(2):
            st, h, obj, _ = self.c.request("GET", "/repos/a/b/issues")
            self.assertEqual((st, h["retry-after"], obj["message"]), (429, "1", "slow down"))
        st, _, _, _ = self.c.request("GET", "/repos/a/b/issues")
        self.assertEqual(st, 200)
        stats = self.admin("GET", "/_sim/stats")
        self.assertEqual(stats["by_status"], {"429": 2, "200": 1})
        self.assertEqual(stats["faults"], 2)

    def test_fault_malformed_and_502(self):
        self.create("a/b", title="x")
        self.admin("POST", "/_sim/faults", {"match": {"path_regex": "^/repos/a/b/issues$"}, "count": 1,
                                            "action": {"malformed": True}, "after": True})
        st, h, obj, raw = self.c.request("GET", "/repos/a/b/issues")
        self.assertEqual(st, 200)
        self.assertIs(obj, ValueError)
        self.assertTrue(raw.startswith(b"[{"))
        self.admin("POST", "/_sim/faults", {"match": {"method": "PATCH"}, "count": 1,
                                            "action": {"status": 502}})
        st, _, _, _ = self.c.request("PATCH", "/repos/a/b/issues/1", {"title": "never"})
        self.assertEqual(st, 502)
        st, _, obj, _ = self.c.request("GET", "/repos/a/b/issues/1")
        self.assertEqual(obj["title"], "x")

    def test_fault_drop_and_after(self):
        self.admin("POST", "/_sim/faults", {"match": {"method": "POST"}, "count": 1,
                                            "action": {"drop": True}})
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        conn.request("POST", "/repos/a/b/issues", body=json.dumps({"title": "lost"}),
                     headers={"Authorization": "Bearer " + TOKEN, "Content-Type": "application/json"})
        with self.assertRaises((http.client.RemoteDisconnected, ConnectionResetError)):
            conn.getresponse()
        conn.close()
        st, _, obj, _ = self.c.request("GET", "/repos/a/b/issues")
        self.assertEqual(obj, [])            # dropped before it was applied
        self.admin("POST", "/_sim/faults", {"match": {"method": "POST"}, "count": 1,
                                            "action": {"status": 502}, "after": True})
        st, _, _, _ = self.c.request("POST", "/repos/a/b/issues", {"title": "applied"})
        self.assertEqual(st, 502)
        st, _, obj, _ = self.c.request("GET", "/repos/a/b/issues")
        self.assertEqual([i["title"] for i in obj], ["applied"])   # ...but it was created

    def test_fault_delay(self):
        self.admin("POST", "/_sim/faults", {"match": {"method": "GET"}, "count": 1,
                                            "action": {"delay_ms": 300}})
        t0 = time.monotonic()
        st, _, _, _ = self.c.request("GET", "/repos/a/b/issues")
        self.assertEqual(st, 200)
        self.assertGreaterEqual(time.monotonic() - t0, 0.29)
        self.assertEqual(self.admin("GET", "/_sim/faults")["faults"], [])
        self.admin("POST", "/_sim/faults", {"match": {"method": "GET"}, "count": 5,
                                            "action": {"status": 500}})
        self.admin("DELETE", "/_sim/faults")
        st, _, _, _ = self.c.request("GET", "/repos/a/b/issues")
        self.assertEqual(st, 200)

    # ---- stats, requests, concurrency ----------------------------------------
    def test_stats(self):
        self.create("a/b", title="x")
        st, h, _, _ = self.c.request("GET", "/repos/a/b/issues/1")
        self.c.request("GET", "/repos/a/b/issues/1", headers={"If-None-Match": h["etag"]})
        self.c.request("PATCH", "/repos/a/b/issues/1", {"body": "b"})
        self.c.request("GET", "/repos/a/b/issues?state=all")
        self.c.request("GET", "/repos/a/b/issues", auth=False)
        stats = self.admin("GET", "/_sim/stats")
        self.assertEqual({k: stats[k] for k in ("list", "get", "create", "update", "not_modified", "total")},
                         {"list": 2, "get": 2, "create": 1, "update": 1, "not_modified": 1, "total": 6})
        self.assertEqual(stats["by_status"], {"201": 1, "200": 3, "304": 1, "401": 1})
        reqs = self.admin("GET", "/_sim/requests")
        self.assertEqual(reqs[0]["method"], "POST")
        self.assertEqual(reqs[0]["body"], {"title": "x"})
        self.assertEqual(reqs[0]["headers"]["authorization"], "Bearer ***")
        self.assertEqual(reqs[4]["query"], {"state": ["all"]})
        self.admin("POST", "/_sim/stats/reset")
        self.assertEqual(self.admin("GET", "/_sim/stats")["total"], 0)

    def test_concurrent_keepalive(self):
        self.create("a/b", title="x")
        errors = []

        def worker():
            cl = Client(self.port)
            try:
                for _ in range(25):
                    st, _, obj, _ = cl.request("GET", "/repos/a/b/issues?per_page=100")
                    if st != 200 or len(obj) != 1:
                        errors.append(st)
            except Exception as e:  # noqa: BLE001 - reported below
                errors.append(repr(e))
            finally:
                cl.close()

        threads = [threading.Thread(target=worker) for _ in range(20)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(errors, [])
        self.assertEqual(self.admin("GET", "/_sim/stats")["list"], 500)


class CliTest(unittest.TestCase):
    """Options that need their own process: seed file, record, link style,
    secondary limit, public URL, and a clean SIGTERM exit."""

    def test_cli_options(self):
        tmp = tempfile.mkdtemp(prefix="ghsim-cli-")
        seed = os.path.join(tmp, "seed.json")
        rec = os.path.join(tmp, "record.jsonl")
        with open(seed, "w", encoding="utf-8") as f:
            json.dump({"repos": {"o/r": {"issues": [{"number": 7, "title": "seeded"}], "pulls": 1}}}, f)
        proc, port, _ = start_sim("--seed-file", seed, "--record", rec, "--creates-per-minute", "1",
                                  "--link-style", "repos", "--public-url", "http://proxy.test:9",
                                  "--html-base", "https://ghe.test", "--latency-ms", "50")
        try:
            c = Client(port)
            t0 = time.monotonic()
            st, _, _, _ = c.request("GET", "/repos/o/r/issues/7")
            self.assertEqual(st, 200)
            self.assertGreaterEqual(time.monotonic() - t0, 0.05)
            st, h, obj, _ = c.request("GET", "/repos/o/r/issues?state=all&per_page=1")
            self.assertEqual([i["number"] for i in obj], [8])
            self.assertEqual(parse_link(h["link"])["next"],
                             "http://proxy.test:9/repos/o/r/issues?state=all&per_page=1&page=2")
            self.assertEqual(obj[0]["html_url"], "https://ghe.test/o/r/pull/8")
            st, _, _, _ = c.request("POST", "/repos/o/r/issues", {"title": "one"})
            self.assertEqual(st, 201)
            st, h, _, _ = c.request("POST", "/repos/o/r/issues", {"title": "two"})
            self.assertEqual(st, 403)
            self.assertNotIn("retry-after", h)
            c.close()
        finally:
            self.assertEqual(stop_sim(proc), 0)
        with open(rec, encoding="utf-8") as f:
            lines = [json.loads(x) for x in f]
        self.assertEqual([(x["method"], x["path"]) for x in lines],
                         [("GET", "/repos/o/r/issues/7"), ("GET", "/repos/o/r/issues"),
                          ("POST", "/repos/o/r/issues"),
                          ("POST", "/repos/o/r/issues")])
        self.assertEqual(lines[2]["body"], {"title": "one"})
        self.assertEqual(lines[1]["headers"]["x-github-api-version"], "2022-11-28")


if __name__ == "__main__":
    unittest.main(verbosity=2)
