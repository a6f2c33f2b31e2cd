#!/usr/bin/env python3
"""github_sim.py - a stateful GitHub Issues REST simulator for closeloop's
tests, demo, benchmark and conformance check.

Python 3.11 standard library only.  See tests/sim/README.md for the admin
API and for which documented GitHub behaviours it follows.

    python3 tests/sim/github_sim.py --port 0 --port-file F [--token T]
        [--creates-per-minute N] [--creates-per-hour N] [--concurrent-writes N]
        [--seed-file F] [--latency-ms N]
        [--rate-limit N] [--html-base URL] [--public-url URL]
        [--link-style repositories|repos] [--record FILE] [--verbose]
"""

import argparse
import base64
import collections
import datetime
import hashlib
import json
import math
import os
import re
import signal
import socket
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from github_graphql import Projects  # noqa: E402

API_VERSIONS = ("2022-11-28", "2026-03-10")
DEFAULT_API_VERSION = "2022-11-28"
DOCS = "https://docs.github.com/rest"
DOC_ISSUES = "https://docs.github.com/rest/issues/issues"
DOC_RATE = "https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api"
LOGIN_RE = re.compile(r"^[A-Za-z0-9-]+$")
STATE_REASONS = ("completed", "not_planned", "duplicate", "reopened")
TITLE_MAX = 256
BODY_MAX = 65536
RATE_WINDOW_S = 3600
# Secondary limits (docs "Rate limits for the REST API", "About secondary
# rate limits"): no more than 80 content-generating requests a minute and
# 500 an hour; "Best practices for using the REST API": make mutating
# requests serially, not concurrently.  Enforced by default.
CREATES_PER_MINUTE = 80
CREATES_PER_HOUR = 500
CONCURRENT_WRITES = 1
SECONDARY_MESSAGE = ("You have exceeded a secondary rate limit. Please wait a few minutes before "
                     "you try again. If you reach out to GitHub Support for help, please include "
                     "the request ID %s.")

ROUTES = [
    ("repo", re.compile(r"^/repos/([^/]+)/([^/]+)/?$")),
    ("rrepo", re.compile(r"^/repositories/(\d+)/?$")),
    ("issues", re.compile(r"^/repos/([^/]+)/([^/]+)/issues/?$")),
    ("issue", re.compile(r"^/repos/([^/]+)/([^/]+)/issues/(\d+)$")),
    ("rissues", re.compile(r"^/repositories/(\d+)/issues/?$")),
    ("rissue", re.compile(r"^/repositories/(\d+)/issues/(\d+)$")),
    ("comments", re.compile(r"^/repos/([^/]+)/([^/]+)/issues/(\d+)/comments$")),
    ("rcomments", re.compile(r"^/repositories/(\d+)/issues/(\d+)/comments$")),
    ("ilabels", re.compile(r"^/repos/([^/]+)/([^/]+)/issues/(\d+)/labels$")),
    ("ilabel", re.compile(r"^/repos/([^/]+)/([^/]+)/issues/(\d+)/labels/(.+)$")),
    ("rate_limit", re.compile(r"^/rate_limit$")),

    ("search_issues", re.compile(r"^/search/issues$")),
]
SEARCH_LIMIT = 30          # search requests a minute, authenticated (REST docs)
SEARCH_WINDOW_S = 60
DOC_SEARCH = "https://docs.github.com/rest/search/search#search-issues-and-pull-requests"
DOC_REDIRECTS = "https://docs.github.com/rest/guides/best-practices-for-using-the-rest-api#follow-redirects"
DOC_REPOS = "https://docs.github.com/rest/repos/repos"
REPO_PATH = re.compile(r"^/repos/([^/]+)/([^/]+)(/.*)?$")


def iso(ts):
    """Epoch seconds -> GitHub's "YYYY-MM-DDTHH:MM:SSZ"."""
    if ts is None:
        return None
    return datetime.datetime.fromtimestamp(int(ts), datetime.timezone.utc) \
        .strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_iso(text):
    """ISO 8601 text -> epoch seconds (float); ValueError when invalid."""
    t = text.strip()
    if t.endswith("Z") or t.endswith("z"):
        t = t[:-1] + "+00:00"
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", t):
        t += "T00:00:00+00:00"
    d = datetime.datetime.fromisoformat(t)
    if d.tzinfo is None:
        d = d.replace(tzinfo=datetime.timezone.utc)
    return d.timestamp()


def dumps(obj):
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def etag_of(body):
    return 'W/"%s"' % hashlib.sha256(body).hexdigest()


def etag_matches(header, tag):
    """If-None-Match comparison (weak, RFC 9110 section 13.1.2)."""
    want = tag[2:] if tag.startswith("W/") else tag
    for part in header.split(","):
        p = part.strip()
        if p == "*":
            return True
        if p.startswith("W/"):
            p = p[2:]
        if p == want:
            return True
    return False


class ApiError(Exception):
    """An answer other than success, raised from the handlers."""

    def __init__(self, status, message, errors=None, headers=None, extra=None, doc=DOCS):
        super().__init__(message)
        self.status = status
        self.body = {"message": message}
        if errors is not None:
            self.body["errors"] = errors
        if extra:
            self.body.update(extra)
        self.body["documentation_url"] = doc
        self.body["status"] = str(status)
        self.headers = headers or {}


def validation_failed(field, code="missing_field", message=None, doc=DOC_ISSUES):
    err = {"resource": "Issue", "code": code, "field": field}
    if message:
        err["message"] = message
    return ApiError(422, "Validation Failed", errors=[err], doc=doc)


def invalid_type(field, value, typ):
    return ApiError(422, "Invalid request.\n\nFor 'properties/%s', %s is not %s."
                    % (field, json.dumps(value), typ), doc=DOC_ISSUES)


class Response:
    def __init__(self, status, body=None, headers=None):
        self.status = status
        self.body = body          # bytes or None
        self.headers = dict(headers or {})
        self.drop = False


class State:
    """Everything the simulator knows; one lock guards it."""

    def __init__(self, opts):
        self.opts = opts
        self.lock = threading.RLock()
        self.reset()

    def reset(self):
        with self.lock:
            self.repos = {}          # lower "o/r" -> repo dict
            self.repos_by_id = {}
            self.renamed = {}        # lower old "o/r" -> repo dict (renamed since)
            self.next_repo_id = 700000001
            self.next_issue_id = 3000000001
            self.next_label_id = 5000000001
            self.next_comment_id = 1000000001
            self.user_ids = {}       # lower login -> (login, id)
            self.next_user_id = 9000001
            self.users = None        # None = every LOGIN_RE login is known
            self.clock_offset = 0.0
            self.rate_limit = self.opts.rate_limit
            self.rate_used = 0
            self.rate_reset = 0
            self.search_used = collections.deque()   # times of search requests
            self.search_limit = SEARCH_LIMIT
            self.search_lag_s = 0.0  # the index lags changes by this much
            self.creates_log = collections.deque()   # send times of content creation
            self.creates_per_minute = self.opts.creates_per_minute
            self.creates_per_hour = self.opts.creates_per_hour
            self.concurrent_writes = self.opts.concurrent_writes
            self.writes_in_flight = 0
            self.latency_ms = self.opts.latency_ms
            self.faults = []
            self.list_hooks = []     # edits made right after a listing page is served
            self.requests = collections.deque(maxlen=100000)
            self.projects = Projects()   # Projects v2 boards, POST /graphql
            self.reset_stats()
            if self.opts.seed_file:
                with open(self.opts.seed_file, encoding="utf-8") as f:
                    self.seed(json.load(f))

    def reset_stats(self):
        self.stats = {"list": 0, "get": 0, "create": 0, "update": 0, "comment": 0, "search": 0, "label": 0,
                      "other": 0, "graphql": 0,
                      "not_modified": 0, "rate_limited": 0, "secondary_limited": 0, "faults": 0,
                      "by_status": {}, "total": 0}

    def now(self):
        return time.time() + self.clock_offset

    # ---- users, repos, labels -------------------------------------------
    def user_id(self, login):
        key = login.lower()
        if key not in self.user_ids:
            self.user_ids[key] = (login, self.next_user_id)
            self.next_user_id += 1
        return self.user_ids[key]

    def known_login(self, repo, login):
        """Canonical spelling of an assignable login, or None (dropped)."""
        if not isinstance(login, str) or not LOGIN_RE.match(login):
            return None
        allowed = repo["users"] if repo["users"] is not None else self.users
        if allowed is None:
            return self.user_id(login)[0]
        return allowed.get(login.lower())

    def repo_declared(self, owner, name):
        """True when --repos names owner/name or owner/* (the repositories
        the test's token can see); they exist from their first use."""
        for pat in self.opts.repos or ():
            o, _, n = pat.partition("/")
            if o in ("*", owner.lower()) and n in ("*", name.lower()):
                return True
        return False

    def repo(self, owner, name, create=True):
        """The repository, or None.  create=True (the admin API, seeds)
        creates it; create="declared" (the REST API) only when --repos
        declares it: GitHub answers 404 for a repository that does not
        exist, it never appears on first use."""
        key = ("%s/%s" % (owner, name)).lower()
        r = self.repos.get(key)
        if r is None and create == "declared":
            create = key not in self.renamed and self.repo_declared(owner, name)
        if r is None and create:
            r = {"id": self.next_repo_id, "owner": owner, "name": name,
                 "full": "%s/%s" % (owner, name), "issues": {}, "next_number": 1,
                 "labels": {}, "users": None, "created_at": int(self.now())}
            self.next_repo_id += 1
            self.repos[key] = r
            self.repos_by_id[r["id"]] = r
        return r

    def label(self, repo, name):
        key = name.lower()
        lab = repo["labels"].get(key)
        if lab is None:
            lid = self.next_label_id
            self.next_label_id += 1
            color = hashlib.sha1(key.encode()).hexdigest()[:6]
            lab = {"id": lid, "name": name, "color": color, "description": None,
                   "node_id": "LA_kwDO" + b64("%d:%d" % (repo["id"], lid))}
            repo["labels"][key] = lab
        return lab

    def label_names(self, repo, labels, field="labels"):
        if not isinstance(labels, list):
            raise invalid_type(field, labels, "an array")
        out = []
        for item in labels:
            if isinstance(item, dict):
                item = item.get("name")
            if not isinstance(item, str) or not item.strip():
                raise validation_failed(field, code="invalid")
            name = self.label(repo, item.strip())["name"]
            if name not in out:
                out.append(name)
        return out

    def logins(self, repo, logins, field="assignees"):
        """Canonical logins; a login that cannot be assigned refuses the
        whole create or update: 422 with {"resource": "Issue", "code":
        "invalid", "field": "assignees", "value": login} (GitHub does not
        drop it, octokit/fixtures and the REST docs "Create an issue":
        "422 Validation failed")."""
        if not isinstance(logins, list):
            raise invalid_type(field, logins, "an array")
        out = []
        for item in logins:
            if isinstance(item, dict):
                item = item.get("login")
            if not isinstance(item, str):
                raise invalid_type(field, item, "a string")
            login = self.known_login(repo, item)
            if login is None:
                raise ApiError(422, "Validation Failed", errors=[
                    {"value": item, "resource": "Issue", "field": "assignees", "code": "invalid"}],
                    doc=DOC_ISSUES + "#create-an-issue")
            if login not in out:
                out.append(login)
        return out[:10]

    # ---- issues ---------------------------------------------------------
    def new_issue(self, repo, fields, actor, number=None, ts=None):
        if number is None:
            number = repo["next_number"]
        if number in repo["issues"]:
            raise ApiError(422, "Validation Failed",
                           errors=[{"resource": "Issue", "code": "already_exists", "field": "number"}])
        repo["next_number"] = max(repo["next_number"], number + 1)
        iid = self.next_issue_id
        self.next_issue_id += 1
        now = int(ts if ts is not None else self.now())
        issue = {"id": iid, "node_id": "I_kwDO" + b64("%d:%d" % (repo["id"], iid)),
                 "repo": repo, "number": number, "title": "", "body": None,
                 "state": "open", "state_reason": None, "labels": [], "assignees": [],
                 "user": actor, "created_at": now, "updated_at": now, "closed_at": None,
                 "closed_by": None, "locked": False, "comments": 0, "pull": False,
                 "deleted": False, "moved_to": None, "comment_list": []}
        repo["issues"][number] = issue
        return issue

    def resolve(self, repo, number):
        """Issue by number, following transfers; raises 404 / 410 / 301."""
        issue = repo["issues"].get(number)
        if issue is None:
            raise ApiError(404, "Not Found", doc=DOC_ISSUES + "#get-an-issue")
        if issue["deleted"]:
            raise ApiError(410, "This issue was deleted", doc=DOC_ISSUES + "#get-an-issue")
        if issue["moved_to"] is not None:
            target = issue
            while target["moved_to"] is not None:
                target = target["moved_to"]
            raise Moved(target)
        return issue

    def apply_edit(self, issue, data, actor, api_version, creating=False):
        """Apply PATCH/create fields to issue; validates first, then writes.
        Returns True when something changed."""
        if not isinstance(data, dict):
            raise ApiError(400, "Problems parsing JSON", doc=DOC_ISSUES)
        repo = issue["repo"]
        new = {}
        if "title" in data or creating:
            t = data.get("title")
            if isinstance(t, int) and not isinstance(t, bool):
                t = str(t)
            if t is None or (isinstance(t, str) and not t.strip()):
                raise validation_failed("title")
            if not isinstance(t, str):
                raise invalid_type("title", t, "a string")
            if len(t) > TITLE_MAX:
                raise validation_failed("title", "custom", "title is too long (maximum is %d characters)" % TITLE_MAX)
            new["title"] = t
        if "body" in data:
            b = data["body"]
            if b is not None and not isinstance(b, str):
                raise invalid_type("body", b, "a string")
            if b is not None and len(b) > BODY_MAX:
                raise validation_failed("body", "custom", "body is too long (maximum is %d characters)" % BODY_MAX)
            new["body"] = b
        if "labels" in data:
            new["labels"] = self.label_names(repo, data["labels"])
        if "assignees" in data:
            new["assignees"] = self.logins(repo, data["assignees"])
        elif "assignee" in data and api_version == DEFAULT_API_VERSION:
            a = data["assignee"]
            if a is None:
                new["assignees"] = []
            elif isinstance(a, str):
                new["assignees"] = self.logins(repo, [a], "assignee")
            else:
                raise invalid_type("assignee", a, "a string")
        state = issue["state"]
        if "state" in data:
            if data["state"] not in ("open", "closed"):
                raise validation_failed("state", "invalid")
            state = data["state"]
        reason = data.get("state_reason")
        if "state_reason" in data and reason is not None:
            if reason not in STATE_REASONS:
                raise validation_failed("state_reason", "invalid")
            if (state == "open") != (reason == "reopened"):
                raise validation_failed("state_reason", "invalid",
                                        "state_reason %s is not valid for a %s issue" % (reason, state))
        # validated: write
        changed = False
        for k, v in new.items():
            if issue[k] != v:
                issue[k] = v
                changed = True
        now = int(self.now())
        if state != issue["state"]:
            issue["state"] = state
            changed = True
            if state == "closed":
                issue["state_reason"] = reason or "completed"
                issue["closed_at"] = now
                issue["closed_by"] = actor
            else:
                issue["state_reason"] = "reopened" if not creating else None
                issue["closed_at"] = None
                issue["closed_by"] = None
        elif reason is not None and "state_reason" in data and issue["state_reason"] != reason:
            issue["state_reason"] = reason
            changed = True
        if changed and not creating:
            issue["updated_at"] = max(now, issue["updated_at"])
        return changed

    def transfer(self, issue, target_repo):
        moved = self.new_issue(target_repo, {}, issue["user"])
        for k in ("title", "body", "state", "state_reason", "assignees", "user",
                  "created_at", "closed_at", "closed_by", "locked", "comments", "pull",
                  "comment_list"):
            moved[k] = issue[k]
        # a new id, node id and number in the new repository (webhook
        # "issues" action "transferred": changes.new_issue has its own id)
        moved["labels"] = [self.label(target_repo, n)["name"] for n in issue["labels"]]
        moved["updated_at"] = max(int(self.now()), issue["updated_at"])
        issue["moved_to"] = moved
        return moved

    def rename(self, repo, new_name):
        """Rename a repository (PATCH /repos/{o}/{r} {"name": ...}): the old
        name answers with a redirect to /repositories/{id}/... from then on."""
        if not isinstance(new_name, str) or not re.fullmatch(r"[A-Za-z0-9._-]+", new_name):
            raise validation_failed("name", "invalid", doc=DOC_REPOS + "#update-a-repository")
        old_key = repo["full"].lower()
        new_key = ("%s/%s" % (repo["owner"], new_name)).lower()
        if new_key == old_key:
            repo["name"] = new_name
            repo["full"] = "%s/%s" % (repo["owner"], new_name)
            return repo
        if new_key in self.repos:
            raise validation_failed("name", "custom", "name already exists on this account",
                                    doc=DOC_REPOS + "#update-a-repository")
        del self.repos[old_key]
        self.renamed.pop(new_key, None)
        self.renamed[old_key] = repo
        repo["name"] = new_name
        repo["full"] = "%s/%s" % (repo["owner"], new_name)
        self.repos[new_key] = repo
        return repo

    # ---- seed -----------------------------------------------------------
    def seed(self, doc):
        with self.lock:
            if "users" in doc:
                self.users = {u.lower(): u for u in doc["users"]}
                for u in doc["users"]:
                    self.user_id(u)
            for full, spec in (doc.get("repos") or {}).items():
                owner, name = full.split("/", 1)
                repo = self.repo(owner, name)
                if "users" in spec:
                    repo["users"] = {u.lower(): u for u in spec["users"]}
                    for u in spec["users"]:
                        self.user_id(u)
                for item in spec.get("issues") or []:
                    self.seed_issue(repo, item)
                for k in range(int(spec.get("pulls") or 0)):
                    self.seed_issue(repo, {"title": "Seeded pull request %d" % (k + 1),
                                           "pull_request": True})

    def seed_issue(self, repo, item):
        now = self.now()
        created = parse_iso(item["created_at"]) if item.get("created_at") else now
        actor = item.get("user") or self.opts.login
        number = int(item["number"]) if item.get("number") is not None else None
        issue = self.new_issue(repo, item, actor, number=number, ts=created)
        data = {k: item[k] for k in ("title", "body", "labels", "assignees", "state",
                                     "state_reason") if k in item}
        self.apply_edit(issue, data, actor, DEFAULT_API_VERSION, creating=True)
        issue["pull"] = bool(item.get("pull_request"))
        issue["comments"] = int(item.get("comments") or 0)
        issue["locked"] = bool(item.get("locked"))
        if item.get("closed_at") and issue["state"] == "closed":
            issue["closed_at"] = int(parse_iso(item["closed_at"]))
        upd = parse_iso(item["updated_at"]) if item.get("updated_at") else created
        issue["updated_at"] = int(max(upd, created))
        return issue


class Moved(Exception):
    def __init__(self, target):
        super().__init__("moved")
        self.target = target


def b64(text):
    return base64.b64encode(text.encode()).decode().rstrip("=")


class Renderer:
    """GitHub JSON shapes (components/schemas/issue, simple-user, label)."""

    def __init__(self, opts, state, base, api_version):
        self.opts, self.state, self.base, self.version = opts, state, base, api_version
        self.users = {}

    def user(self, login):
        if login is None:
            return None
        u = self.users.get(login)
        if u is None:
            login, uid = self.state.user_id(login)
            a = "%s/users/%s" % (self.base, login)
            u = {"login": login, "id": uid, "node_id": "U_kgDO" + b64(str(uid)),
                 "avatar_url": "https://avatars.githubusercontent.com/u/%d?v=4" % uid,
                 "gravatar_id": "", "url": a, "html_url": "%s/%s" % (self.opts.html_base, login),
                 "followers_url": a + "/followers", "following_url": a + "/following{/other_user}",
                 "gists_url": a + "/gists{/gist_id}", "starred_url": a + "/starred{/owner}{/repo}",
                 "subscriptions_url": a + "/subscriptions", "organizations_url": a + "/orgs",
                 "repos_url": a + "/repos", "events_url": a + "/events{/privacy}",
                 "received_events_url": a + "/received_events", "type": "User",
                 "user_view_type": "public", "site_admin": False}
            self.users[login] = u
        return u

    def repository(self, repo):
        """A subset of components/schemas/full-repository: the members a
        client reads (id, names, owner, URLs, visibility, issue settings)."""
        api = self.repo_api(repo)
        html = "%s/%s" % (self.opts.html_base, repo["full"])
        return {"id": repo["id"], "node_id": "R_kgDO" + b64(str(repo["id"])),
                "name": repo["name"], "full_name": repo["full"], "private": False,
                "owner": self.user(repo["owner"]), "html_url": html, "description": None,
                "fork": False, "url": api, "issues_url": api + "/issues{/number}",
                "labels_url": api + "/labels{/name}", "created_at": iso(repo["created_at"]),
                "updated_at": iso(repo["created_at"]), "has_issues": True, "archived": False,
                "disabled": False, "open_issues_count": sum(
                    1 for i in repo["issues"].values()
                    if i["state"] == "open" and not i["deleted"] and i["moved_to"] is None),
                "default_branch": "main", "visibility": "public"}

    def repo_api(self, repo):
        return "%s/repos/%s/%s" % (self.base, repo["owner"], repo["name"])

    def issue_api(self, issue):
        return "%s/issues/%d" % (self.repo_api(issue["repo"]), issue["number"])

    def moved_url(self, issue):
        if self.opts.link_style == "repositories":
            return "%s/repositories/%d/issues/%d" % (self.base, issue["repo"]["id"], issue["number"])
        return self.issue_api(issue)

    def label(self, repo, name):
        lab = repo["labels"][name.lower()]
        return {"id": lab["id"], "node_id": lab["node_id"],
                "url": "%s/labels/%s" % (self.repo_api(repo), urllib.parse.quote(lab["name"])),
                "name": lab["name"], "color": lab["color"], "default": False,
                "description": lab["description"]}

    def issue(self, issue, full=True):
        repo = issue["repo"]
        api = self.issue_api(issue)
        html = "%s/%s/%s/%s/%d" % (self.opts.html_base, repo["owner"], repo["name"],
                                   "pull" if issue["pull"] else "issues", issue["number"])
        assignees = [self.user(a) for a in issue["assignees"]]
        out = {"url": api, "repository_url": self.repo_api(repo),
               "labels_url": api + "/labels{/name}", "comments_url": api + "/comments",
               "events_url": api + "/events", "html_url": html, "id": issue["id"],
               "node_id": issue["node_id"], "number": issue["number"], "title": issue["title"],
               "user": self.user(issue["user"]),
               "labels": [self.label(repo, n) for n in issue["labels"]],
               "state": issue["state"], "locked": issue["locked"]}
        if self.version == DEFAULT_API_VERSION:
            out["assignee"] = assignees[0] if assignees else None
        out.update({"assignees": assignees, "milestone": None, "comments": issue["comments"],
                    "created_at": iso(issue["created_at"]), "updated_at": iso(issue["updated_at"]),
                    "closed_at": iso(issue["closed_at"]), "author_association": "NONE",
                    "type": None, "active_lock_reason": None,
                    "sub_issues_summary": {"total": 0, "completed": 0, "percent_completed": 0}})
        if issue["pull"]:
            pr = "%s/pulls/%d" % (self.repo_api(repo), issue["number"])
            out["draft"] = False
            out["pull_request"] = {"url": pr, "html_url": html, "diff_url": html + ".diff",
                                   "patch_url": html + ".patch"}
            if self.version == DEFAULT_API_VERSION:
                # 2026-03-10 made the pull_request members non-nullable
                # (changeset deprecate_beta_media_type): unmerged -> absent
                out["pull_request"]["merged_at"] = None
        out["body"] = issue["body"]
        if full:
            out["closed_by"] = self.user(issue["closed_by"])
        out["reactions"] = {"url": api + "/reactions", "total_count": 0, "+1": 0, "-1": 0,
                            "laugh": 0, "hooray": 0, "confused": 0, "heart": 0,
                            "rocket": 0, "eyes": 0}
        out["timeline_url"] = api + "/timeline"
        out["performed_via_github_app"] = None
        out["state_reason"] = issue["state_reason"]
        return out

    def marker(self, issue):
        """Admin view: the issue plus its deleted/transferred marker."""
        if issue["deleted"]:
            return {"number": issue["number"], "id": issue["id"], "deleted": True}
        out = self.issue(issue)
        if issue["moved_to"] is not None:
            t = issue["moved_to"]
            out = {"number": issue["number"], "id": issue["id"],
                   "transferred_to": "%s#%d" % (t["repo"]["full"], t["number"])}
        return out


def list_issues(state, repo, query):
    """Filter/sort a repository's issues per GET /repos/{o}/{r}/issues."""
    def q(name, default=None):
        v = query.get(name)
        return v[-1] if v else default

    st = q("state", "open")
    sort = q("sort", "created")
    direction = q("direction", "desc")
    if st not in ("open", "closed", "all"):
        raise validation_failed("state", "invalid")
    if sort not in ("created", "updated", "comments"):
        raise validation_failed("sort", "invalid")
    if direction not in ("asc", "desc"):
        raise validation_failed("direction", "invalid")
    since = None
    if q("since"):
        try:
            since = parse_iso(q("since"))
        except ValueError:
            raise validation_failed("since", "invalid")
    labels = [x.strip().lower() for x in (q("labels") or "").split(",") if x.strip()]
    assignee = q("assignee")
    creator = q("creator")
    out = []
    for issue in repo["issues"].values():
        if issue["deleted"] or issue["moved_to"] is not None:
            continue
        if st != "all" and issue["state"] != st:
            continue
        if since is not None and issue["updated_at"] < math.floor(since):
            continue
        if labels and not set(labels) <= {n.lower() for n in issue["labels"]}:
            continue
        if assignee == "none" and issue["assignees"]:
            continue
        if assignee == "*" and not issue["assignees"]:
            continue
        if assignee not in (None, "none", "*") and \
                assignee.lower() not in [a.lower() for a in issue["assignees"]]:
            continue
        if creator and (issue["user"] or "").lower() != creator.lower():
            continue
        out.append(issue)
    key = {"created": "created_at", "updated": "updated_at", "comments": "comments"}[sort]
    out.sort(key=lambda i: (i[key], i["id"]), reverse=(direction == "desc"))
    return out


def page_params(query):
    def num(name, default):
        try:
            return int(query.get(name, [default])[-1])
        except (TypeError, ValueError):
            return default
    per_page = num("per_page", 30)
    per_page = 30 if per_page < 1 else min(per_page, 100)
    page = max(num("page", 1), 1)
    return per_page, page


def link_header(base_url, raw_query, page, last):
    """GitHub's Link header: prev, next, last, first (omitted on one page)."""
    if last <= 1 and page <= 1:
        return None
    pairs = urllib.parse.parse_qsl(raw_query, keep_blank_values=True)

    def url(p):
        out, seen = [], False
        for k, v in pairs:
            if k == "page":
                if not seen:
                    out.append(("page", str(p)))
                    seen = True
                continue
            out.append((k, v))
        if not seen:
            out.append(("page", str(p)))
        return "<%s?%s>" % (base_url, urllib.parse.urlencode(out, safe=",:"))

    parts = []
    if page > 1:
        parts.append('%s; rel="prev"' % url(min(page - 1, max(last, 1))))
    if page < last:
        parts.append('%s; rel="next"' % url(page + 1))
        parts.append('%s; rel="last"' % url(last))
    if page > 1:
        parts.append('%s; rel="first"' % url(1))
    return ", ".join(parts)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 300

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def version_string(self):
        return "github-sim/1.0"

    # ---- plumbing -------------------------------------------------------
    def log_message(self, fmt, *args):
        if self.server.opts.verbose:
            sys.stderr.write("github_sim: %s %s\n" % (self.address_string(), fmt % args))

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n > 0 else b""

    def send(self, resp):
        self.release_slot()
        if resp.drop:
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        self.send_response(resp.status)
        for k, v in resp.headers.items():
            self.send_header(k, v)
        body = b""
        if resp.status != 304:
            body = resp.body or b""
            self.send_header("Content-Length", str(len(body)))
        # headers and body in one write: no Nagle/delayed-ACK stall
        self._headers_buffer.append(b"\r\n" + (body if self.command != "HEAD" else b""))
        self.flush_headers()

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PATCH(self):
        self.dispatch("PATCH")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def dispatch(self, method):
        st = self.server.state
        url = urllib.parse.urlsplit(self.path)
        path = urllib.parse.unquote(url.path)
        query = urllib.parse.parse_qs(url.query, keep_blank_values=True)
        try:
            raw = self.read_body()
        except (ValueError, OSError):
            self.close_connection = True
            return
        if path.startswith("/_sim/") or path == "/_sim":
            self.send(self.admin(method, path, query, raw))
            return
        kind = self.kind(method, path)
        self.server.record(method, path, url.query, self.headers, raw)
        if path == "/graphql" and method == "POST":
            # a query is a read: not one of the writes GitHub wants one at a time
            self.send(self.dispatch_api(method, path, url, query, raw, "graphql"))
            return
        slot = self.write_begin(method, path)
        if slot is None:
            # another mutating request is in flight: GitHub asks for them
            # one at a time and answers a burst with its secondary limit
            e = self.secondary_error()
            resp = Response(e.status, dumps(e.body), {"Content-Type": "application/json; charset=utf-8"})
            with st.lock:
                self.rate_headers(resp)
            self.count(kind, resp)
            self.send(resp)
            return
        # the slot is given back before the answer goes out (send), as a
        # request is over for GitHub once it answers: a client that sends
        # its next write the moment it reads this answer must not find it
        # still "in flight" (a thread race that refused it under load)
        self.slot = slot
        try:
            resp = self.dispatch_api(method, path, url, query, raw, kind)
        finally:
            self.release_slot()
        self.send(resp)

    def release_slot(self):
        if getattr(self, "slot", None):
            self.slot = None
            self.write_end()

    def dispatch_api(self, method, path, url, query, raw, kind):
        """The answer to one API request (faults applied), counted."""
        st = self.server.state
        if st.latency_ms > 0:
            time.sleep(st.latency_ms / 1000.0)
        fault = self.take_fault(method, path)
        if fault is not None and not fault.get("after"):
            action = fault.get("action") or {}
            if "delay_ms" in action:
                time.sleep(float(action["delay_ms"]) / 1000.0)
                fault = None
            else:
                resp = self.fault_response(action, None)
                self.count(kind, resp, faulted=True)
                return resp
        resp = self.api(method, path, url.query, query, raw)
        if fault is not None:
            action = fault.get("action") or {}
            if "delay_ms" in action:
                time.sleep(float(action["delay_ms"]) / 1000.0)
            else:
                resp = self.fault_response(action, resp)
        self.count(kind, resp, faulted=fault is not None)
        return resp

    @staticmethod
    def kind(method, path):
        for name, rx in ROUTES:
            if rx.match(path):
                if name in ("issues", "rissues"):
                    return {"GET": "list", "POST": "create"}.get(method, "other")
                if name in ("issue", "rissue"):
                    return {"GET": "get", "PATCH": "update"}.get(method, "other")
                if name in ("comments", "rcomments"):
                    return {"GET": "list", "POST": "comment"}.get(method, "other")
                if name == "search_issues":
                    return "search" if method == "GET" else "other"
                if name in ("ilabels", "ilabel"):
                    return "label" if method in ("POST", "DELETE") else "other"
        return "other"

    def count(self, kind, resp, faulted=False):
        st = self.server.state
        with st.lock:
            s = st.stats
            s["total"] += 1
            s[kind] += 1
            key = "drop" if resp.drop else str(resp.status)
            s["by_status"][key] = s["by_status"].get(key, 0) + 1
            if resp.status == 304:
                s["not_modified"] += 1
            hdr = {k.lower(): v for k, v in resp.headers.items()}
            if not resp.drop and (resp.status == 429 or (resp.status == 403 and (
                    "retry-after" in hdr or hdr.get("x-ratelimit-remaining") == "0"
                    or b"secondary rate limit" in (resp.body or b"")))):
                s["rate_limited"] += 1
            if faulted:
                s["faults"] += 1

    def take_fault(self, method, path):
        st = self.server.state
        with st.lock:
            for f in st.faults:
                m = f.get("match") or {}
                if m.get("method") and m["method"].upper() != method:
                    continue
                if m.get("path_regex") and not re.search(m["path_regex"], path):
                    continue
                f["count"] -= 1
                if f["count"] <= 0:
                    st.faults.remove(f)
                return f
        return None

    def fault_response(self, action, resp):
        if action.get("drop"):
            r = Response(0)
            r.drop = True
            return r
        if action.get("malformed"):
            body = resp.body if resp is not None and resp.body else b'[{"id":1,"node_id":"I_x","title":"trunc'
            r = Response(200, body[:max(1, len(body) // 2)],
                         {"Content-Type": "application/json; charset=utf-8"})
            if resp is not None:
                for k, v in resp.headers.items():
                    if k.lower().startswith("x-ratelimit") or k.lower() == "link":
                        r.headers[k] = v
            return r
        status = int(action.get("status", 500))
        body = action.get("body")
        if body is None:
            body = dumps({"message": self.responses.get(status, ("Error",))[0],
                          "documentation_url": DOCS, "status": str(status)})
        elif isinstance(body, (dict, list)):
            body = dumps(body)
        else:
            body = str(body).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8"}
        if resp is not None:
            headers.update({k: v for k, v in resp.headers.items() if k.lower().startswith("x-ratelimit")})
        headers.update({k: str(v) for k, v in (action.get("headers") or {}).items()})
        return Response(status, body, headers)

    # ---- the REST API -----------------------------------------------------
    def base(self):
        if self.server.opts.public_url:
            return self.server.opts.public_url.rstrip("/")
        host = self.headers.get("Host") or "127.0.0.1:%d" % self.server.server_address[1]
        return "http://" + host

    def api(self, method, path, raw_query, query, raw):
        st = self.server.state
        version = self.headers.get("X-GitHub-Api-Version") or DEFAULT_API_VERSION
        extra = {"Content-Type": "application/json; charset=utf-8",
                 "X-GitHub-Media-Type": "github.v3; format=json",
                 "X-GitHub-Request-Id": "%08X" % (hash((time.time(), threading.get_ident())) & 0xFFFFFFFF)}
        with st.lock:
            counted = False
            self.roll_window()
            try:
                if version not in API_VERSIONS:
                    version = DEFAULT_API_VERSION
                    raise ApiError(400, "Unsupported 'X-GitHub-Api-Version' header value '%s'. "
                                   "Supported values are: %s." % (
                                       self.headers.get("X-GitHub-Api-Version"), ", ".join(API_VERSIONS)),
                                   doc="https://docs.github.com/rest/about-the-rest-api/api-versions")
                self.check_auth()
                if path == "/graphql" and method == "POST":
                    return self.graphql(raw, version, extra)
                if path == "/rate_limit" and method == "GET":
                    resp = Response(200, dumps(self.rate_doc(version)))
                elif path == "/search/issues":
                    return self.search_issues(method, query, version, extra)
                else:
                    if st.rate_used >= st.rate_limit:
                        raise ApiError(403, "API rate limit exceeded for user ID %d. If you reach out to "
                                       "GitHub Support for help, please include the request ID %s."
                                       % (st.user_id(self.server.opts.login)[1], extra["X-GitHub-Request-Id"]),
                                       doc=DOC_RATE + "#about-the-primary-rate-limit")
                    counted = True
                    resp = self.route(method, path, raw_query, query, raw, version)
            except ApiError as e:
                resp = Response(e.status, dumps(e.body), e.headers)
            except Moved as m:
                r = Renderer(self.server.opts, st, self.base(), version)
                url = r.moved_url(m.target)
                resp = Response(301, dumps({"message": "Moved Permanently", "url": url,
                                            "documentation_url": "https://docs.github.com/rest/guides/best-practices-for-using-the-rest-api#follow-redirects",
                                            "status": "301"}), {"Location": url})
            if counted and resp.status != 304:
                st.rate_used += 1
            for k, v in extra.items():
                resp.headers.setdefault(k, v)
            if resp.status == 304:
                resp.headers.pop("Content-Type", None)
            resp.headers["X-GitHub-Api-Version-Selected"] = version
            self.rate_headers(resp)
            return resp

    # ---- GraphQL (its own points budget, not the core one) ----------------
    def graphql(self, raw, version, extra):
        """POST /graphql: the Projects v2 queries (github_graphql.py); lock held."""
        st = self.server.state
        r = Renderer(self.server.opts, st, self.base(), version)

        def by_node(node_id):
            for repo in st.repos.values():
                for issue in repo["issues"].values():
                    if issue["node_id"] == node_id:
                        return issue
            return None
        status, body, headers = st.projects.answer(raw, lambda i: r.issue(i, full=False), by_node,
                                                   st.now())
        headers.update({k: v for k, v in extra.items() if k != "X-GitHub-Media-Type"})
        return Response(status, dumps(body), headers)

    def project_admin(self, method, path, data):
        """/_sim/projects (POST: make a board {owner, number, user: a user's
        rather than an organization's}) and
        /_sim/projects/items (POST: add {owner, number, repo, issue, fields,
        touch}; DELETE: remove; PATCH: set {field, value} of the issue's
        item); the board's updatedAt moves with touch (default: on for
        add/remove, off for a field value)."""
        st = self.server.state
        pj = st.projects
        now = st.now()
        if path == "/_sim/projects" and method == "POST":
            b = pj.create(data["owner"], data["number"], now, bool(data.get("user")))
            return self.admin_json(201, {"id": b["id"], "items": len(b["items"])})
        board = pj.board(data.get("owner", ""), int(data.get("number", 0)))
        if board is None:
            return self.admin_json(404, {"message": "no such project"})
        if path == "/_sim/projects/items" and method == "GET":
            return self.admin_json(200, {"updated_at": board["updated_at"], "items": [
                {"repo": "%s/%s" % (it["issue"]["repo"]["owner"], it["issue"]["repo"]["name"]),
                 "issue": it["issue"]["number"], "fields": it["fields"]} for it in board["items"]]})
        o, _, n = data["repo"].partition("/")
        repo = st.repo(o, n, create=False)
        issue = repo["issues"].get(int(data["issue"])) if repo else None
        if issue is None:
            return self.admin_json(404, {"message": "no such issue"})
        if method == "POST":
            pj.add(board, issue, data.get("fields"), now, data.get("touch", True))
            return self.admin_json(201, {"items": len(board["items"])})
        if method == "DELETE":
            return self.admin_json(200, {"removed": pj.remove(board, issue, now, data.get("touch", True))})
        if method == "PATCH":
            return self.admin_json(200, {"set": pj.set_field(board, issue, data["field"], data["value"],
                                                            now, data.get("touch", False))})
        return self.admin_json(405, {"message": "method"})

    # ---- search (its own rate limit, not the core one) ---------------------
    def search_issues(self, method, query, version, extra):
        """GET /search/issues?q=...: free-text terms and "quoted phrases"
        (case-insensitive) plus the qualifiers repo:O/R, is:issue, is:pr,
        in:title, in:body; answers {total_count, incomplete_results, items}
        with issue objects and a score.  30 requests a minute (rolling);
        past that 403 with x-ratelimit-remaining: 0, as GitHub answers.
        Changes younger than search_lag_s are not in the index yet."""
        st = self.server.state
        now = time.time()
        while st.search_used and st.search_used[0] <= now - SEARCH_WINDOW_S:
            st.search_used.popleft()
        reset = int((st.search_used[0] if st.search_used else now) + SEARCH_WINDOW_S)
        try:
            if method != "GET":
                raise ApiError(404, "Not Found", doc=DOCS)
            if len(st.search_used) >= st.search_limit:
                raise ApiError(403, "API rate limit exceeded for user ID %d."
                               % st.user_id(self.server.opts.login)[1],
                               doc=DOC_RATE + "#about-secondary-rate-limits")
            st.search_used.append(now)
            resp = Response(200, dumps(self.search_result(query, version)))
        except ApiError as e:
            resp = Response(e.status, dumps(e.body), e.headers)
        for k, v in extra.items():
            resp.headers.setdefault(k, v)
        resp.headers["X-GitHub-Api-Version-Selected"] = version
        resp.headers.update({"x-ratelimit-limit": str(st.search_limit),
                             "x-ratelimit-remaining": str(max(st.search_limit - len(st.search_used), 0)),
                             "x-ratelimit-reset": str(reset),
                             "x-ratelimit-used": str(len(st.search_used)),
                             "x-ratelimit-resource": "search"})
        return resp

    def search_result(self, query, version):
        st = self.server.state
        q = (query.get("q") or [""])[0]
        if not q.strip():
            raise ApiError(422, "Validation Failed", errors=[
                {"resource": "Search", "field": "q", "code": "missing"}], doc=DOC_SEARCH)
        phrases = [p.lower() for p in re.findall(r'"([^"]*)"', q)]
        rest = re.sub(r'"[^"]*"', " ", q).split()
        repos, kinds, where, terms = [], set(), set(), list(phrases)
        for w in rest:
            key, _, val = w.partition(":")
            if val and key == "repo":
                repos.append(val.lower())
            elif val and key == "is":
                kinds.add(val)
            elif val and key == "in":
                where.update(val.split(","))
            else:
                terms.append(w.lower())
        for full in repos:
            if full not in st.repos:
                raise ApiError(422, "Validation Failed", errors=[{
                    "message": "The listed users and repositories cannot be searched either "
                               "because the resources do not exist or you do not have permission "
                               "to view them.", "resource": "Search", "field": "q",
                    "code": "invalid"}], doc=DOC_SEARCH)
        where = where or {"title", "body"}
        horizon = st.now() - st.search_lag_s
        r = Renderer(self.server.opts, st, self.base(), version)
        items = []
        for key in (repos or sorted(st.repos)):
            for num in sorted(st.repos[key]["issues"]):
                issue = st.repos[key]["issues"][num]
                if issue.get("moved_to") or issue.get("deleted") or issue["updated_at"] > horizon:
                    continue
                if ("pr" in kinds and not issue["pull"]) or ("issue" in kinds and issue["pull"]):
                    continue
                text = " ".join(str(issue[f] or "") for f in ("title", "body") if f in where).lower()
                if all(t in text for t in terms):
                    o = r.issue(issue, full=False)
                    o["score"] = 1.0
                    items.append(o)
        per_page, page = page_params(query)
        chunk = items[(page - 1) * per_page: page * per_page]
        return {"total_count": len(items), "incomplete_results": False, "items": chunk}

    def rate_headers(self, resp):
        """The primary limit's headers, on every API answer (lock held)."""
        st = self.server.state
        remaining = max(st.rate_limit - st.rate_used, 0)
        resp.headers.update({"x-ratelimit-limit": str(st.rate_limit),
                             "x-ratelimit-remaining": str(remaining),
                             "x-ratelimit-reset": str(int(st.rate_reset)),
                             "x-ratelimit-used": str(st.rate_used),
                             "x-ratelimit-resource": "core"})

    def check_auth(self):
        token = self.server.opts.token
        if not token:
            return
        auth = self.headers.get("Authorization") or ""
        scheme, _, value = auth.partition(" ")
        if scheme.lower() not in ("bearer", "token") or value.strip() != token:
            raise ApiError(401, "Bad credentials", doc=DOCS)

    def roll_window(self):
        st = self.server.state
        now = time.time()
        if now >= st.rate_reset:
            st.rate_used = 0
            st.rate_reset = int(now) + RATE_WINDOW_S

    def rate_doc(self, version):
        st = self.server.state
        core = {"limit": st.rate_limit, "used": st.rate_used,
                "remaining": max(st.rate_limit - st.rate_used, 0), "reset": int(st.rate_reset)}
        doc = {"resources": {"core": core}}
        if version == DEFAULT_API_VERSION:
            doc["rate"] = dict(core)
        return doc

    def secondary_error(self):
        """GitHub's secondary-limit answer: 403, the documented message, no
        retry-after, and x-ratelimit-remaining above zero (the primary
        budget is untouched), so a client cannot mistake it for either."""
        st = self.server.state
        with st.lock:
            st.stats["secondary_limited"] += 1
        rid = "%08X" % (hash((time.time(), threading.get_ident())) & 0xFFFFFFFF)
        return ApiError(403, SECONDARY_MESSAGE % rid, doc=DOC_RATE + "#about-secondary-rate-limits")

    def secondary_check(self):
        """Content creation (a new issue, a comment): at most
        creates_per_minute in any 60 s and creates_per_hour in any hour."""
        st = self.server.state
        now = time.time()
        while st.creates_log and st.creates_log[0] <= now - 3600:
            st.creates_log.popleft()
        last_minute = sum(1 for t in st.creates_log if t > now - 60)
        if (st.creates_per_minute > 0 and last_minute >= st.creates_per_minute) or \
                (st.creates_per_hour > 0 and len(st.creates_log) >= st.creates_per_hour):
            raise self.secondary_error()
        st.creates_log.append(now)

    def write_begin(self, method, path):
        """A mutating API request arrives.  Returns None when another one is
        in flight beyond concurrent_writes (refused), True when it holds a
        slot (write_end gives it back), False for other requests."""
        if method not in ("POST", "PATCH", "PUT", "DELETE"):
            return False
        st = self.server.state
        with st.lock:
            if st.concurrent_writes > 0 and st.writes_in_flight >= st.concurrent_writes:
                return None
            st.writes_in_flight += 1
            return True

    def write_end(self):
        st = self.server.state
        with st.lock:
            st.writes_in_flight -= 1

    def repo_from(self, name, groups):
        """The route's repository (404 when it does not exist) and the rest
        of the route's groups."""
        st = self.server.state
        if name in ("rissues", "rissue", "rcomments", "rrepo"):
            repo = st.repos_by_id.get(int(groups[0]))
            rest = groups[1:]
        else:
            repo = st.repo(groups[0], groups[1], create="declared")
            rest = groups[2:]
        if repo is None:
            raise ApiError(404, "Not Found", doc=DOC_ISSUES if name != "repo" else
                           DOC_REPOS + "#get-a-repository")
        return repo, rest

    def renamed_redirect(self, method, path, raw_query):
        """A request naming a renamed repository by its old name: GitHub
        answers 301 (GET, HEAD) or 307 (other methods, so the client sends
        the same method and body again) to /repositories/{id}/...
        (octokit/fixtures "rename-repository"); None when not renamed."""
        st = self.server.state
        m = REPO_PATH.match(path)
        if not m:
            return None
        key = ("%s/%s" % (m.group(1), m.group(2))).lower()
        repo = st.renamed.get(key)
        if repo is None or key in st.repos:
            return None
        url = "%s/repositories/%d%s" % (self.base(), repo["id"], m.group(3) or "")
        if raw_query:
            url += "?" + raw_query
        body = {"message": "Moved Permanently", "url": url, "documentation_url": DOC_REDIRECTS}
        return Response(301 if method in ("GET", "HEAD") else 307, dumps(body), {"Location": url})

    def route(self, method, path, raw_query, query, raw, version):
        st = self.server.state
        for name, rx in ROUTES:
            m = rx.match(path)
            if m:
                break
        else:
            raise ApiError(404, "Not Found", doc=DOCS)
        redirect = self.renamed_redirect(method, path, raw_query)
        if redirect is not None:
            return redirect
        repo, rest = self.repo_from(name, m.groups())
        r = Renderer(self.server.opts, st, self.base(), version)
        if name in ("repo", "rrepo"):
            if method == "PATCH":
                data = self.parse_json(raw)
                if not isinstance(data, dict):
                    raise ApiError(400, "Problems parsing JSON", doc=DOC_REPOS)
                if "name" in data:
                    st.rename(repo, data["name"])
                return Response(200, dumps(r.repository(repo)))
            if method != "GET":
                raise ApiError(404, "Not Found", doc=DOCS)
            return self.conditional(r.repository(repo))
        if name in ("issues", "rissues") and method == "GET":
            return self.get_list(r, repo, path, raw_query, query)
        if method in ("POST", "PATCH"):
            data = self.parse_json(raw)
        if name in ("issues", "rissues") and method == "POST":
            if not isinstance(data, dict):
                raise ApiError(400, "Problems parsing JSON", doc=DOC_ISSUES + "#create-an-issue")
            if data.get("title") is None or (isinstance(data.get("title"), str) and not data["title"].strip()):
                raise validation_failed("title", doc=DOC_ISSUES + "#create-an-issue")
            self.secondary_check()
            issue = st.new_issue(repo, data, self.server.opts.login)
            try:
                st.apply_edit(issue, data, self.server.opts.login, version, creating=True)
            except ApiError:
                del repo["issues"][issue["number"]]
                repo["next_number"] -= 1
                raise
            body = dumps(r.issue(issue))
            return Response(201, body, {"Location": r.issue_api(issue), "ETag": etag_of(body)})
        if name in ("comments", "rcomments"):
            return self.comments(r, repo, int(rest[0]), method, raw_query, query,
                                 data if method == "POST" else None)
        if name in ("ilabels", "ilabel"):
            return self.issue_labels(r, repo, int(rest[0]), method,
                                     rest[1] if name == "ilabel" else None,
                                     data if method == "POST" else None)
        if name in ("issue", "rissue") and method in ("GET", "PATCH"):
            issue = st.resolve(repo, int(rest[0]))
            if method == "PATCH":
                st.apply_edit(issue, data, self.server.opts.login, version)
            return self.conditional(r.issue(issue))
        raise ApiError(404, "Not Found", doc=DOCS)

    def comments(self, r, repo, number, method, raw_query, query, data):
        """GET/POST /repos/{o}/{r}/issues/{n}/comments (docs: "REST API
        endpoints for issue comments"): a list oldest first, paged like
        issues; a create needs a non-empty string body (422 otherwise),
        counts as content creation (secondary limit), answers 201 with the
        comment and Location, and bumps the issue's comments and updated_at."""
        st = self.server.state
        issue = st.resolve(repo, number)
        doc = "https://docs.github.com/rest/issues/comments"
        if method == "POST":
            if not isinstance(data, dict):
                raise ApiError(400, "Problems parsing JSON", doc=doc + "#create-an-issue-comment")
            body = data.get("body")
            if not isinstance(body, str) or not body.strip():
                raise validation_failed("body", doc=doc + "#create-an-issue-comment")
            if len(body) > 65536:
                raise ApiError(422, "Validation Failed", errors=[{
                    "resource": "IssueComment", "code": "custom", "field": "body",
                    "message": "body is too long (maximum is 65536 characters)"}],
                    doc=doc + "#create-an-issue-comment")
            self.secondary_check()
            now = int(st.now())
            c = {"id": st.next_comment_id, "body": body, "user": self.server.opts.login,
                 "created_at": now, "updated_at": now}
            st.next_comment_id += 1
            issue["comment_list"].append(c)
            issue["comments"] += 1
            issue["updated_at"] = now
            out = self.comment_json(r, issue, c)
            return Response(201, dumps(out), {"Location": out["url"], "ETag": etag_of(dumps(out))})
        if method != "GET":
            raise ApiError(404, "Not Found", doc=DOCS)
        items = issue["comment_list"]
        if "since" in query:
            try:
                t = parse_iso(query["since"][-1])
            except ValueError:
                raise ApiError(422, "Validation Failed", errors=[{"resource": "IssueComment",
                               "code": "invalid", "field": "since"}], doc=doc)
            items = [c for c in items if c["updated_at"] >= t]
        per_page, page = page_params(query)
        last = max(1, (len(items) + per_page - 1) // per_page)
        body = [self.comment_json(r, issue, c) for c in items[(page - 1) * per_page: page * per_page]]
        base_url = "%s/comments" % r.issue_api(issue)
        headers = {}
        link = link_header(base_url, raw_query, page, last)
        if link:
            headers["Link"] = link
        return self.conditional(body, headers)

    def issue_labels(self, r, repo, number, method, name, data):
        """The labels of one issue (docs: "REST API endpoints for labels"):
        GET lists them; POST {"labels": [...]} adds (a repository label is
        made for an unknown name; names match case-insensitively; a label
        already there changes nothing) and answers 200 with every label of
        the issue; DELETE .../labels/{name} takes one off and answers 200
        with the rest, or 404 "Label does not exist" when the issue lacks
        it.  A change bumps the issue's updated_at."""
        st = self.server.state
        issue = st.resolve(repo, number)
        doc = "https://docs.github.com/rest/issues/labels"
        now = int(st.now())
        if method == "POST" and name is None:
            if not isinstance(data, dict) or "labels" not in data:
                raise ApiError(422, "Invalid request.\n\n\"labels\" wasn't supplied.",
                               doc=doc + "#add-labels-to-an-issue")
            have = {n.lower() for n in issue["labels"]}
            for n in st.label_names(repo, data["labels"]):
                if n.lower() not in have:
                    issue["labels"].append(n)
                    issue["updated_at"] = max(now, issue["updated_at"])
        elif method == "DELETE" and name is not None:
            keep = [n for n in issue["labels"] if n.lower() != name.lower()]
            if len(keep) == len(issue["labels"]):
                raise ApiError(404, "Label does not exist", doc=doc + "#remove-a-label-from-an-issue")
            issue["labels"] = keep
            issue["updated_at"] = max(now, issue["updated_at"])
        elif method != "GET" or name is not None:
            raise ApiError(404, "Not Found", doc=DOCS)
        return Response(200, dumps([r.label(repo, n) for n in issue["labels"]]),
                        {"Content-Type": "application/json; charset=utf-8"})

    @staticmethod
    def comment_json(r, issue, c):
        api = "%s/issues/comments/%d" % (r.repo_api(issue["repo"]), c["id"])
        html = "%s/%s/issues/%d#issuecomment-%d" % (r.opts.html_base, issue["repo"]["full"],
                                                    issue["number"], c["id"])
        return {"id": c["id"], "node_id": "IC_kwDO" + b64(str(c["id"])), "url": api,
                "html_url": html, "body": c["body"], "user": r.user(c["user"]),
                "created_at": iso(c["created_at"]), "updated_at": iso(c["updated_at"]),
                "issue_url": r.issue_api(issue), "author_association": "NONE",
                "performed_via_github_app": None,
                "reactions": {"url": api + "/reactions", "total_count": 0, "+1": 0, "-1": 0,
                              "laugh": 0, "hooray": 0, "confused": 0, "heart": 0,
                              "rocket": 0, "eyes": 0}}

    def parse_json(self, raw):
        if not raw.strip():
            return {}
        try:
            return json.loads(raw.decode("utf-8"))
        except (ValueError, UnicodeDecodeError):
            raise ApiError(400, "Problems parsing JSON", doc=DOCS)

    def conditional(self, obj, headers=None):
        body = dumps(obj)
        tag = etag_of(body)
        h = dict(headers or {})
        h["ETag"] = tag
        h["Cache-Control"] = "private, max-age=60, s-maxage=60"
        h["Vary"] = "Accept, Authorization, Cookie, X-GitHub-OTP"
        inm = self.headers.get("If-None-Match")
        if inm and etag_matches(inm, tag) and self.command == "GET":
            return Response(304, None, h)
        return Response(200, body, h)

    def get_list(self, r, repo, path, raw_query, query):
        issues = list_issues(self.server.state, repo, query)
        per_page, page = page_params(query)
        last = max(1, (len(issues) + per_page - 1) // per_page)
        chunk = issues[(page - 1) * per_page: page * per_page]
        body = [r.issue(i, full=False) for i in chunk]
        self.run_list_hooks(repo, query, page, chunk)
        if self.server.opts.link_style == "repositories":
            base_url = "%s/repositories/%d/issues" % (r.base, repo["id"])
        else:
            base_url = "%s/repos/%s/%s/issues" % (r.base, repo["owner"], repo["name"])
        headers = {}
        link = link_header(base_url, raw_query, page, last)
        if link:
            headers["Link"] = link
        return self.conditional(body, headers)

    def run_list_hooks(self, repo, query, page, chunk):
        """Edits that land between two pages of a listing, as an engineer's
        (or closeloop's own) edit does on GitHub: the page already served
        is not changed, the following pages are computed afresh."""
        st = self.server.state
        direction = (query.get("direction") or ["desc"])[-1]
        for hook in list(st.list_hooks):
            m = hook["match"]
            if m.get("repo") and m["repo"].lower() != repo["full"].lower():
                continue
            if m.get("direction") and m["direction"] != direction:
                continue
            if m.get("page") and int(m["page"]) != page:
                continue
            if not chunk and hook.get("number") is None:
                continue
            hook["count"] -= 1
            if hook["count"] <= 0:
                st.list_hooks.remove(hook)
            number = hook.get("number")
            issue = st.resolve(repo, int(number)) if number is not None else chunk[0]
            st.clock_offset += float(hook.get("advance_s", 0))
            st.apply_edit(issue, dict(hook["fields"]), hook.get("actor") or "octocat", DEFAULT_API_VERSION)

    # ---- admin API ----------------------------------------------------------
    def admin(self, method, path, query, raw):
        st = self.server.state
        try:
            data = json.loads(raw.decode("utf-8")) if raw.strip() else {}
        except (ValueError, UnicodeDecodeError):
            return self.admin_json(400, {"message": "Problems parsing JSON"})
        try:
            with st.lock:
                return self.admin_route(method, path, query, data)
        except ApiError as e:
            return self.admin_json(e.status, e.body)
        except Moved as m:
            return self.admin_json(301, {"message": "Moved Permanently",
                                         "to": "%s#%d" % (m.target["repo"]["full"], m.target["number"])})
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            return self.admin_json(400, {"message": "bad admin request: %s" % e})

    @staticmethod
    def admin_json(status, obj):
        return Response(status, dumps(obj), {"Content-Type": "application/json; charset=utf-8"})

    def admin_route(self, method, path, query, data):
        st = self.server.state
        r = Renderer(self.server.opts, st, self.base(), DEFAULT_API_VERSION)
        if path in ("/_sim/projects", "/_sim/projects/items"):
            return self.project_admin(method, path, data)
        if path == "/_sim/graphql/queries" and method == "GET":
            return self.admin_json(200, {"queries": [{"query": q, "variables": v}
                                                      for q, v in st.projects.queries]})
        if path == "/_sim/graphql/queries" and method == "DELETE":
            st.projects.queries.clear()
            return self.admin_json(200, {"queries": []})
        if path == "/_sim/graphql/budget" and method == "POST":
            st.projects.points_limit = int(data.get("limit", st.projects.points_limit))
            st.projects.points_used = int(data.get("used", st.projects.points_used))
            return self.admin_json(200, {"limit": st.projects.points_limit})
        if path == "/_sim/faults" and method == "POST":
            fault = {"match": data.get("match") or {}, "count": int(data.get("count", 1)),
                     "action": data.get("action") or {}, "after": bool(data.get("after"))}
            if fault["match"].get("path_regex"):
                re.compile(fault["match"]["path_regex"])
            st.faults.append(fault)
            return self.admin_json(201, fault)
        if path == "/_sim/faults" and method == "DELETE":
            st.faults.clear()
            return self.admin_json(200, {"faults": []})
        if path == "/_sim/faults" and method == "GET":
            return self.admin_json(200, {"faults": st.faults})
        if path == "/_sim/list_hooks" and method == "POST":
            hook = {"match": data.get("match") or {}, "count": int(data.get("count", 1)),
                    "number": data.get("number"), "fields": data.get("fields") or {},
                    "advance_s": float(data.get("advance_s", 0)), "actor": data.get("actor")}
            st.list_hooks.append(hook)
            return self.admin_json(201, hook)
        if path == "/_sim/list_hooks" and method == "DELETE":
            st.list_hooks.clear()
            return self.admin_json(200, {"list_hooks": []})
        if path == "/_sim/stats" and method == "GET":
            return self.admin_json(200, st.stats)
        if path == "/_sim/stats/reset" and method == "POST":
            st.reset_stats()
            return self.admin_json(200, st.stats)
        if path == "/_sim/requests" and method == "GET":
            return self.admin_json(200, list(st.requests))
        if path == "/_sim/requests" and method == "DELETE":
            st.requests.clear()
            return self.admin_json(200, [])
        if path == "/_sim/reset" and method == "POST":
            st.reset()
            return self.admin_json(200, {"reset": True})
        m = re.match(r"^/_sim/repos/([^/]+)/([^/]+)/rename$", path)
        if m and method == "POST":
            repo = st.repo(m.group(1), m.group(2), create=False)
            if repo is None:
                return self.admin_json(404, {"message": "Not Found"})
            st.rename(repo, data["name"])
            return self.admin_json(200, {"full_name": repo["full"], "id": repo["id"]})
        if path == "/_sim/seed" and method == "POST":
            st.seed(data)
            return self.admin_json(200, {"repos": sorted(x["full"] for x in st.repos.values())})
        if path == "/_sim/clock" and method == "POST":
            off = float(data["offset_s"]) if "offset_s" in data else st.clock_offset + float(data.get("advance_s", 0))
            if off < st.clock_offset:
                raise ApiError(400, "the clock only moves forward")
            st.clock_offset = off
            return self.admin_json(200, {"offset_s": st.clock_offset, "now": iso(st.now())})
        if path == "/_sim/search" and method == "POST":
            if "limit" in data:
                st.search_limit = int(data["limit"])
                st.search_used.clear()
            if "lag_s" in data:
                st.search_lag_s = float(data["lag_s"])
            return self.admin_json(200, {"limit": st.search_limit, "lag_s": st.search_lag_s})
        if path == "/_sim/ratelimit" and method == "POST":
            self.roll_window()
            if "limit" in data:
                st.rate_limit = int(data["limit"])
            if "remaining" in data:
                st.rate_used = max(st.rate_limit - int(data["remaining"]), 0)
            if "reset_in_s" in data:
                st.rate_reset = int(time.time()) + int(data["reset_in_s"])
            for k in ("creates_per_minute", "creates_per_hour", "concurrent_writes"):
                if k in data:
                    setattr(st, k, int(data[k]))
            if "creates_per_minute" in data or "creates_per_hour" in data:
                st.creates_log.clear()
            return self.admin_json(200, self.rate_doc(DEFAULT_API_VERSION)["resources"]["core"])
        if path == "/_sim/latency" and method == "POST":
            st.latency_ms = int(data.get("ms", 0))
            return self.admin_json(200, {"ms": st.latency_ms})
        if path == "/_sim/issues" and method == "GET":
            repos = [st.repo(*query["repo"][-1].split("/", 1), create=False)] if "repo" in query \
                else list(st.repos.values())
            out = {x["full"]: [r.marker(i) for i in sorted(x["issues"].values(), key=lambda i: i["number"])]
                   for x in repos if x is not None}
            if "repo" in query:
                return self.admin_json(200, next(iter(out.values()), []))
            return self.admin_json(200, out)
        m = re.match(r"^/_sim/comments/([^/]+)/([^/]+)/(\d+)$", path)
        if m and method == "GET":
            repo = st.repo(m.group(1), m.group(2), create=False)
            issue = repo["issues"].get(int(m.group(3))) if repo else None
            if issue is None:
                return self.admin_json(404, {"message": "Not Found"})
            return self.admin_json(200, [self.comment_json(r, issue, c) for c in issue["comment_list"]])
        m = re.match(r"^/_sim/issues/([^/]+)/([^/]+)/(?:(\d+)/)?(edit|transfer|delete|create)$", path)
        if m and method == "POST":
            return self.admin_issue(r, m.group(1), m.group(2), m.group(3), m.group(4), data)
        return self.admin_json(404, {"message": "Not Found"})

    def admin_issue(self, r, owner, name, number, verb, data):
        st = self.server.state
        repo = st.repo(owner, name)
        actor = data.pop("actor", None) or "octocat"
        if verb == "create":
            if data.get("title") is None:
                raise validation_failed("title")
            number = int(data["number"]) if data.get("number") is not None else None
            issue = st.new_issue(repo, data, actor, number=number)
            st.apply_edit(issue, data, actor, DEFAULT_API_VERSION, creating=True)
            issue["pull"] = bool(data.get("pull_request"))
            return self.admin_json(201, r.issue(issue))
        if number is None:
            return self.admin_json(404, {"message": "Not Found"})
        issue = st.resolve(repo, int(number))
        if verb == "edit":
            st.apply_edit(issue, data, actor, DEFAULT_API_VERSION)
            return self.admin_json(200, r.issue(issue))
        if verb == "transfer":
            owner2, name2 = data["to"].split("/", 1)
            moved = st.transfer(issue, st.repo(owner2, name2))
            return self.admin_json(200, r.issue(moved))
        issue["deleted"] = True
        return self.admin_json(200, {"deleted": True, "number": issue["number"]})


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(self, opts):
        self.opts = opts
        self.state = State(opts)
        self.record_lock = threading.Lock()
        self.record_file = open(opts.record, "a", encoding="utf-8") if opts.record else None
        super().__init__(("127.0.0.1", opts.port), Handler)

    def record(self, method, path, raw_query, headers, raw):
        keep = ("accept", "content-type", "user-agent", "x-github-api-version",
                "if-none-match", "if-modified-since")
        hdrs = {k.lower(): v for k, v in headers.items() if k.lower() in keep}
        auth = headers.get("Authorization")
        if auth:
            hdrs["authorization"] = auth.split(" ", 1)[0] + " ***"
        try:
            body = json.loads(raw.decode("utf-8")) if raw.strip() else None
        except (ValueError, UnicodeDecodeError):
            body = raw.decode("utf-8", "replace")
        entry = {"ts": round(time.time(), 3), "method": method, "path": path,
                 "query": urllib.parse.parse_qs(raw_query, keep_blank_values=True),
                 "raw_query": raw_query, "headers": hdrs, "body": body}
        with self.state.lock:
            self.state.requests.append(entry)
        if self.record_file is not None:
            line = json.dumps(entry, ensure_ascii=False)
            with self.record_lock:
                self.record_file.write(line + "\n")
                self.record_file.flush()

    def handle_error(self, request, client_address):
        if self.opts.verbose:
            super().handle_error(request, client_address)


def parse_args(argv):
    p = argparse.ArgumentParser(description="GitHub Issues REST simulator")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--token", default=None, help="required bearer token (default: any)")
    p.add_argument("--creates-per-minute", type=int, default=CREATES_PER_MINUTE,
                   help="content-creating requests (issues, comments) allowed in any 60 s "
                        "before a secondary-limit 403 (GitHub: 80; 0 = off)")
    p.add_argument("--creates-per-hour", type=int, default=CREATES_PER_HOUR,
                   help="the same in any hour (GitHub: 500; 0 = off)")
    p.add_argument("--concurrent-writes", type=int, default=CONCURRENT_WRITES,
                   help="mutating requests allowed in flight at once; one more is refused "
                        "with a secondary-limit 403 (GitHub asks for one at a time; 0 = off)")
    p.add_argument("--rate-limit", type=int, default=5000, help="primary limit per hour")
    p.add_argument("--seed-file")
    p.add_argument("--repos", type=lambda v: [x.strip().lower() for x in v.split(",") if x.strip()],
                   default=[], help="comma-separated owner/name or owner/* that exist from their "
                                    "first API use (others: 404 until seeded or created by the admin API)")
    p.add_argument("--latency-ms", type=int, default=0)
    p.add_argument("--html-base", default="https://github.com")
    p.add_argument("--public-url", default=None,
                   help="base for URLs in answers (default: http://<Host header>)")
    p.add_argument("--link-style", choices=("repositories", "repos"), default="repositories",
                   help="Link/301 URLs as /repositories/{id}/... (GitHub) or /repos/{o}/{r}/...")
    p.add_argument("--login", default="closeloop-bot", help="login of the token's user")
    p.add_argument("--record", help="append one JSON line per API request to this file")
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--tls-cert", help="serve HTTPS with this PEM certificate (needs --tls-key)")
    p.add_argument("--tls-key", help="PEM private key of --tls-cert")
    return p.parse_args(argv)


def main(argv=None):
    opts = parse_args(sys.argv[1:] if argv is None else argv)
    server = Server(opts)
    if opts.tls_cert:
        import ssl
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(opts.tls_cert, opts.tls_key)
        # a client that rejects the certificate fails the handshake in
        # accept(); socketserver drops that connection (an OSError)
        server.socket = ctx.wrap_socket(server.socket, server_side=True)
    port = server.server_address[1]
    if opts.port_file:
        tmp = opts.port_file + ".tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            f.write("%d\n" % port)
        os.replace(tmp, opts.port_file)
    if opts.verbose:
        sys.stderr.write("github_sim: listening on 127.0.0.1:%d\n" % port)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    t = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True)
    t.start()
    while not stop.wait(0.5):
        pass
    server.shutdown()
    server.server_close()
    if server.record_file is not None:
        server.record_file.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
