#!/usr/bin/env python3
"""jira_sim.py - a stateful Jira Cloud REST v3 (and, with --flavor
datacenter, Jira Data Center REST v2) simulator for closeloop's tests
(Python 3 standard library only).

    python3 tests/sim/jira_sim.py --port 0 --port-file F
        [--email E --token T] [--project KEY ...] [--user ACCOUNTID ...]
        [--search-lag-ms N] [--latency-ms N] [--require-field ID ...] [--verbose]
        [--flavor cloud|datacenter] [--max-results N]

--flavor datacenter: the paths are /rest/api/2 (v3 answers 404), the token
is a personal access token sent as Bearer, descriptions and comments are
wiki markup strings, users are names (--user jdoe), and search is
/rest/api/2/search paged by startAt/maxResults/total with maxResults capped
at --max-results (short pages while more follow).  See tests/sim/jira_dc.py.

The endpoints closeloop's Jira connector uses, with the shapes of
Atlassian's OpenAPI description (the part closeloop uses is in
tests/sim/specs/jira-cloud-v3-subset.json; tests/sim/test_jira_sim.py
validates the answers against its schemas), and the inconvenient parts of Jira's documented behaviour:

  POST /rest/api/3/issue              201 CreatedIssue {id, key, self}
  GET  /rest/api/3/issue/{idOrKey}    200 IssueBean; an old key of a moved
                                      issue still resolves (same id);
                                      ?expand=changelog adds changelog
                                      (PageOfChangelogs, most recent first:
                                      every write's changed fields)
  PUT  /rest/api/3/issue/{idOrKey}    204; "fields", and "update" verbs (add,
                                      remove, set) for labels; status is not
                                      a field
  GET  /rest/api/3/issue/{id}/transitions   200 Transitions (the ones
                                      available from the current status)
  POST /rest/api/3/issue/{id}/transitions   204, or 400 when the
                                      transition is not available
  POST /rest/api/3/issue/{id}/comment 201 Comment (body in ADF)
  GET  /rest/api/3/issue/{id}/comment 200 PageOfComments (startAt, maxResults)
  GET|POST /rest/api/3/search/jql     200 SearchAndReconcileResults paged by
                                      nextPageToken; the JQL subset below
  GET|POST /rest/api/3/search         410 (removed by Atlassian, CHANGE-2046)

JQL: the subset tests/sim/jql.py parses and evaluates (AND, OR, NOT,
parentheses; project, updated, labels, component, key, id/issue,
issueLinkType, issue in linkedIssues(KEY[, "description"]); ORDER BY
updated, created or id).  Anything else is a 400 with errorMessages, so the
connector cannot rely on a feature the simulator fakes.  `updated` has
minute precision (the seconds of the operand do not exist) and is read in
the user's time zone (UTC here).

Who did what: an API request acts as --account (the account of --email and
--token; Cloud an accountId, Data Center a user name), the admin API as a
Jira user (--person).  The issue's "creator" field and each changelog
history's "author" (UserDetails) name that account, as Jira records them.

Search is eventually consistent (--search-lag-ms): for that long after a
write, search answers the issue as it was before the write (or not at all
after a create).  GET by id always reads its own writes.

Ratelimiting: an admin fault answers the next N API requests with 429 and
Retry-After (seconds).

Admin API (no auth), JSON in and out:
  POST /_sim/fault {"status": 429, "count": N, "retry_after": S, "after": false,
                    "method": M, "path": P, "hang": S, "truncate": false}
       with "after": true the request is carried out first and its answer is
       then replaced by the fault (a 5xx after a create: outcome unknown);
       method and path (optional, exact) limit it to those requests;
       "hang": S answers S seconds late (a client's time-out fires first;
       other requests are served meanwhile), after carrying the request out
       with "after"; "truncate": true carries the request out and sends its
       real answer cut in half (Content-Length of the cut body: JSON that
       ends early; an answer without a body is sent whole)
  POST /_sim/clock_after_search {"jql_regex": RE, "advance_s": S}
       once: right after answering the next search whose JQL matches RE,
       Jira's clock moves on S seconds (the index catches up between two
       searches of one closeloop operation)
  POST /_sim/refuse {"project": KEY, "to": "Done"}   transitions into that
       status are not available in that project (a workflow that refuses)
  POST /_sim/clock {"advance_s": S}                 Jira's clock moves on S seconds
       (stamps, the search lag and the Date header; time passing without
       waiting for it)
  GET  /_sim/stats, POST /_sim/stats/reset            API requests by kind
  POST /_sim/edit_after_page {"id": ID, "fields": {...}, "after_pages": N}
       once: a Jira user edits the issue right after the Nth (default 1st)
       search page from now that is not the last
  POST /_sim/resolution_screen {"project": KEY}    transitions into a done
       status in that project show a screen with a required Resolution
       (GET .../transitions?expand=transitions.fields lists its allowedValues;
       POST without fields.resolution is a 400 naming the field)
  POST /_sim/move {"id": ID, "project": KEY}          new key, same id
  POST /_sim/link {"type": "Problem/Incident", "outward": ID|KEY,
                   "inward": ID|KEY}       a Jira user links two issues (both
       updated; types: Blocks, Cloners, Duplicate, Relates, Problem/Incident)
       -> {"id": LINK}; DELETE /_sim/link/LINK takes it off again
  POST /_sim/edit {"id": ID, "fields": {...}, "status": NAME, "author": USER}
       a Jira user (--person, or USER) edits the issue (bumps updated; the
       changelog names that user)
  POST /_sim/issue {"fields": {...}}  a Jira user creates an issue (as POST
       /rest/api/3/issue does, outside the API: no fault taken, no request
       logged or counted; its creator is --person) -> {"id": ID, "key": KEY}
  DELETE /_sim/issue/ID                               the issue is deleted
  GET  /_sim/issues                                   every issue, raw, with
       "history": its changelog, oldest first ({"id", "created": epoch
       seconds, "items": [ChangeDetails], "author": ACCOUNT}; GET issue/ID?expand=changelog
       lists the latest 100, newest first)
  GET  /_sim/requests                                 every API request seen
"""

import argparse
import base64
import datetime
import json
import re
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import jira_dc
import jql as jqlmod

KEY_RE = re.compile(r"^[A-Z][A-Z0-9_]{1,9}$")
PRIORITIES = ["Highest", "High", "Medium", "Low", "Lowest"]
ISSUE_TYPES = ["Task", "Bug", "Story"]
# The default workflow: (status, statusCategory key, category id, name)
STATUSES = {
    "To Do": ("new", 2, "To Do"),
    "In Progress": ("indeterminate", 4, "In Progress"),
    "Done": ("done", 3, "Done"),
}
STATUS_IDS = {"To Do": "10000", "In Progress": "3", "Done": "10001"}
# Global transitions: (id, name, to status, resolution set by the screen)
TRANSITIONS = [
    ("11", "To Do", "To Do", None),
    ("21", "In Progress", "In Progress", None),
    ("31", "Done", "Done", "Done"),
    ("41", "Won't Do", "Done", "Won't Do"),
]
RESOLUTIONS = {"Done": "10000", "Won't Do": "10001", "Duplicate": "10002"}
NAV_FIELDS = ["summary", "description", "status", "resolution", "priority", "labels",
              "duedate", "assignee", "issuetype", "project", "updated", "created",
              "creator", "components", "issuelinks"]
# The fields whose changes the issue's changelog keeps (GET issue
# ?expand=changelog: "a list of recent updates to an issue, sorted by date,
# starting from the most recent"; at most 100 histories).
HISTORY_FIELDS = ("summary", "description", "status", "resolution", "priority", "labels",
                  "duedate", "assignee", "issuetype", "components")
# Link types: name -> (outward description, inward description); Jira's
# defaults and Jira Service Management's Problem/Incident.
LINK_TYPES = {"Blocks": ("blocks", "is blocked by"), "Cloners": ("clones", "is cloned by"),
              "Duplicate": ("duplicates", "is duplicated by"),
              "Relates": ("relates to", "relates to"),
              "Problem/Incident": ("causes", "is caused by")}


def jira_ts(t):
    """Epoch seconds -> "2014-03-19T18:45:42.967+0000" (Jira's format)."""
    d = datetime.datetime.fromtimestamp(t, datetime.timezone.utc)
    return d.strftime("%Y-%m-%dT%H:%M:%S.") + "%03d+0000" % (d.microsecond // 1000)


class ApiError(Exception):
    def __init__(self, status, messages=(), errors=None, headers=None):
        super().__init__(status)
        self.status, self.headers = status, headers or {}
        self.body = {"errorMessages": list(messages), "errors": errors or {}}


class State:
    def __init__(self, opts):
        self.lock = threading.RLock()
        self.opts = opts
        self.projects = {k: str(10000 + i) for i, k in enumerate(opts.project)}
        self.users = set(opts.user)
        self.issues = {}      # id -> issue dict
        self.keys = {}        # every key ever given -> id
        self.counters = {}    # project -> last number
        self.next_id = 10000
        self.faults = []      # [status, count, retry_after, after, method, path, {hang, truncate}]
        self.refused = set()  # (project, to status)
        self.resolution_screens = set()  # projects whose done transitions ask for one
        self.requests = []
        self.comment_id = 10000
        self.link_id = 10000
        self.history_id = 10000
        self.acting = opts.person  # the account of the request being served
        self.clock_offset = 0.0
        self.stats = {}
        self.clock_after_search = None  # /_sim/clock_after_search: (regex, seconds)
        self.edit_after_page = None  # /_sim/edit_after_page  # /_sim/clock: Jira's time runs ahead of the host's

    def now(self):
        """Jira's clock (epoch seconds): stamps, the search lag, Date."""
        return time.time() + self.clock_offset

    def resolve(self, id_or_key):
        iid = id_or_key if id_or_key in self.issues else self.keys.get(id_or_key)
        if iid is None or iid not in self.issues:
            raise ApiError(404, ["Issue does not exist or you do not have permission to see it."])
        return self.issues[iid]

    def snapshot(self, issue, new=False):
        """Record a write: search shows the copy it showed before (none
        after a create) until the lag passes; the fields it changed go
        into the issue's changelog (a create is no history)."""
        now = self.now()
        issue["fields"]["updated"] = now
        self.log_changes(issue, now, new)
        prev = None if new else self.searchable(issue)
        issue["indexed"] = (now + self.opts.search_lag_ms / 1000.0, prev,
                            json.loads(json.dumps(issue["fields"])))

    def log_changes(self, issue, now, new):
        """One Changelog entry (created, items[] of ChangeDetails: field,
        fieldtype, fieldId, from, fromString, to, toString) for the
        HISTORY_FIELDS the write changed, as Jira keeps it."""
        cur = {k: json.loads(json.dumps(issue["fields"].get(k))) for k in HISTORY_FIELDS}
        if new or "logged" not in issue:
            issue["logged"], issue["history"] = cur, []
            return
        items = []
        for k in HISTORY_FIELDS:
            old, val = issue["logged"][k], cur[k]
            if old == val:
                continue
            ids = {"status": lambda v: v and STATUS_IDS[v], "assignee": lambda v: v,
                   "priority": lambda v: v and str(PRIORITIES.index(v) + 1)}
            text = (lambda v: " ".join(v) if isinstance(v, list) else v)
            item = {"field": k, "fieldtype": "jira", "fieldId": k,
                    "from": ids[k](old) if k in ids else None, "fromString": text(old),
                    "to": ids[k](val) if k in ids else None, "toString": text(val)}
            # the OpenAPI description has them strings: an empty side is left out
            items.append({n: v for n, v in item.items() if v is not None})
        issue["logged"] = cur
        if items:
            self.history_id += 1
            issue["history"].append({"id": str(self.history_id), "created": now, "items": items,
                                     "author": self.acting})

    def searchable(self, issue):
        """The copy of issue's fields search sees now, or None."""
        visible_at, prev, current = issue["indexed"]
        return current if self.now() >= visible_at else prev

    def check_fields(self, fields, creating):
        errors = {}
        if creating:
            proj = (fields.get("project") or {}).get("key") or (fields.get("project") or {}).get("id")
            if proj not in self.projects and proj not in self.projects.values():
                errors["project"] = "valid project is required"
            it = (fields.get("issuetype") or {}).get("name")
            if it not in ISSUE_TYPES:
                errors["issuetype"] = "Specify a valid issue type"
            if not fields.get("summary"):
                errors["summary"] = "You must specify a summary of the issue."
            for req in self.opts.require_field:
                if fields.get(req) in (None, "", [], {}):
                    errors[req] = "%s is required." % req
        if "summary" in fields and (not isinstance(fields["summary"], str) or len(fields["summary"]) > 255):
            errors["summary"] = "Summary must be less than 255 characters."
        derr = jira_dc.description_error(self.opts.flavor, fields.get("description"))
        if derr:
            errors["description"] = derr
        if fields.get("priority") is not None and (fields["priority"] or {}).get("name") not in PRIORITIES:
            errors["priority"] = "Specify the Priority (name) in the string format"
        if fields.get("duedate") is not None:
            try:
                datetime.date.fromisoformat(fields["duedate"])
            except (TypeError, ValueError):
                errors["duedate"] = "Error parsing date string: %s" % fields["duedate"]
        if fields.get("assignee") is not None:
            acc = jira_dc.assignee_of(self.opts.flavor, fields["assignee"])
            if acc not in self.users:
                errors["assignee"] = jira_dc.assignee_error(self.opts.flavor, acc)
        if "labels" in fields:
            labels = fields["labels"]
            if not isinstance(labels, list) or any(not isinstance(x, str) or " " in x or not x for x in labels):
                errors["labels"] = "The label must not contain spaces."
        if "components" in fields:
            comps = fields["components"]
            if not isinstance(comps, list) or any(not isinstance(c, dict) or not isinstance(c.get("name"), str)
                                                  for c in comps):
                errors["components"] = "Component name is not valid."
        if errors:
            raise ApiError(400, [], errors)

    def update_labels(self, issue, fields, update):
        """The labels after an edit's "update" verbs (Edit issue:
        IssueUpdateDetails.update, FieldUpdateOperation add/remove/set),
        None when it has none.  Only "labels" takes verbs here; a field
        in both "fields" and "update" is a 400 ("Fields included in here
        cannot be included in update"); a label with a space is refused
        as in "fields"; adding a label the issue has or removing one it
        lacks changes nothing."""
        if update is None:
            return None
        if not isinstance(update, dict):
            raise ApiError(400, ["Can not deserialize the update: not an object."])
        errors = {}
        for k in update:
            if k in fields:
                errors[k] = "Field '%s' cannot be set in both 'fields' and 'update'." % k
            elif k != "labels":
                errors[k] = "Field '%s' cannot be set. It is not on the appropriate screen, or unknown." % k
        ops = update.get("labels")
        if not errors and not isinstance(ops, list):
            errors["labels"] = "The operations of labels must be a list."
        if errors:
            raise ApiError(400, [], errors)
        labels = list(issue["fields"]["labels"])
        for op in ops:
            if not isinstance(op, dict) or len(op) != 1 or next(iter(op)) not in ("add", "remove", "set"):
                raise ApiError(400, [], {"labels": "Unsupported operation: %s" % json.dumps(op)})
            verb, v = next(iter(op.items()))
            vals = v if verb == "set" else [v]
            if not isinstance(vals, list) or any(not isinstance(x, str) or not x or " " in x
                                                 or len(x) > 255 for x in vals):
                raise ApiError(400, [], {"labels": "The label must not contain spaces."})
            if verb == "set":
                labels = list(vals)
            elif verb == "add" and v not in labels:
                labels.append(v)
            elif verb == "remove":
                labels = [x for x in labels if x != v]
        return labels

    def apply(self, issue, fields):
        f = issue["fields"]
        for k in ("summary", "description", "duedate", "labels"):
            if k in fields:
                f[k] = fields[k]
        if "components" in fields:
            f["components"] = [c["name"] for c in fields["components"]]
        if "priority" in fields:
            f["priority"] = fields["priority"] and fields["priority"]["name"]
        if "assignee" in fields:
            f["assignee"] = fields["assignee"] and jira_dc.assignee_of(self.opts.flavor,
                                                                       fields["assignee"])
        if "issuetype" in fields:
            f["issuetype"] = fields["issuetype"]["name"]

    def create(self, fields):
        self.check_fields(fields, True)
        proj = fields["project"].get("key") or {v: k for k, v in self.projects.items()}[fields["project"]["id"]]
        self.counters[proj] = self.counters.get(proj, 0) + 1
        iid = str(self.next_id)
        self.next_id += 1
        key = "%s-%d" % (proj, self.counters[proj])
        now = self.now()
        issue = {"id": iid, "key": key, "project": proj, "comments": [],
                 "fields": {"summary": None, "description": None, "status": "To Do",
                            "resolution": None, "priority": "Medium", "labels": [],
                            "duedate": None, "assignee": None, "issuetype": "Task",
                            "components": [], "issuelinks": [],
                            "creator": self.acting, "created": now, "updated": now}}
        self.apply(issue, fields)
        self.snapshot(issue, new=True)
        self.issues[iid] = issue
        self.keys[key] = iid
        return issue

    def transitions(self, issue):
        out = []
        for tid, name, to, _res in TRANSITIONS:
            if to == issue["fields"]["status"] and name == to:
                continue
            if (issue["project"], to) in self.refused:
                continue
            out.append((tid, name, to))
        return out

    def screen_asks_resolution(self, issue, to):
        """A transition screen with a required Resolution field: the
        transition sets no resolution by itself (Jira's screens)."""
        return issue["project"] in self.resolution_screens and STATUSES[to][0] == "done"

    def transition(self, issue, tid, resolution=None):
        for t, _name, to in self.transitions(issue):
            if t == tid:
                res = dict((x[0], x[3]) for x in TRANSITIONS)[tid]
                if self.screen_asks_resolution(issue, to):
                    if resolution not in RESOLUTIONS:
                        raise ApiError(400, [], {"resolution": "Resolution is required."})
                    res = resolution
                elif resolution is not None:
                    raise ApiError(400, [], {"resolution": "Field 'resolution' cannot be set. "
                                             "It is not on the appropriate screen, or unknown."})
                issue["fields"]["status"] = to
                issue["fields"]["resolution"] = res
                self.snapshot(issue)
                return
        raise ApiError(400, ["Transition id '%s' is not valid for this issue." % tid])

    def link(self, type_name, outward, inward):
        """outward <type's outward description> inward (Jira's issueLink:
        "outwardIssue" causes "inwardIssue"); both issues are updated."""
        if type_name not in LINK_TYPES:
            raise ApiError(404, ["No issue link type with name '%s' found." % type_name])
        out_desc, in_desc = LINK_TYPES[type_name]
        a, b = self.resolve(str(outward)), self.resolve(str(inward))
        self.link_id += 1
        lid = str(self.link_id)
        a["fields"].setdefault("issuelinks", []).append(
            {"id": lid, "type": type_name, "desc": out_desc, "anchor_desc": in_desc, "other": b["id"]})
        b["fields"].setdefault("issuelinks", []).append(
            {"id": lid, "type": type_name, "desc": in_desc, "anchor_desc": out_desc, "other": a["id"]})
        self.snapshot(a)
        self.snapshot(b)
        return lid

    def unlink(self, lid):
        for issue in self.issues.values():
            links = issue["fields"].get("issuelinks", [])
            if any(l["id"] == lid for l in links):
                issue["fields"]["issuelinks"] = [l for l in links if l["id"] != lid]
                self.snapshot(issue)

    def move(self, issue, proj):
        self.counters[proj] = self.counters.get(proj, 0) + 1
        issue["project"] = proj
        issue["key"] = "%s-%d" % (proj, self.counters[proj])
        self.keys[issue["key"]] = issue["id"]
        self.snapshot(issue)


class Render:
    def __init__(self, base, state):
        self.base, self.state = base, state
        self.api = jira_dc.API[state.opts.flavor]

    def issue(self, issue, fields, want=None):
        f = fields
        out = {}
        st = f["status"]
        cat = STATUSES[st]
        full = {
            "summary": f["summary"],
            "description": f["description"],
            "status": {"self": "%s%s/status/%s" % (self.base, self.api, STATUS_IDS[st]),
                       "id": STATUS_IDS[st], "name": st,
                       "statusCategory": {"id": cat[1], "key": cat[0], "name": cat[2],
                                          "self": "%s%s/statuscategory/%d" % (self.base, self.api, cat[1])}},
            "resolution": f["resolution"] and {"id": RESOLUTIONS[f["resolution"]], "name": f["resolution"]},
            "priority": f["priority"] and {"id": str(PRIORITIES.index(f["priority"]) + 1), "name": f["priority"]},
            "labels": f["labels"],
            "duedate": f["duedate"],
            "assignee": jira_dc.render_assignee(self.state.opts.flavor, f["assignee"]),
            "issuetype": {"id": str(10001 + ISSUE_TYPES.index(f["issuetype"])), "name": f["issuetype"]},
            "project": {"id": self.state.projects[issue["project"]], "key": issue["project"]},
            "creator": jira_dc.render_assignee(self.state.opts.flavor, f.get("creator")),
            "created": jira_ts(f["created"]),
            "updated": jira_ts(f["updated"]),
            "components": [{"id": str(10000 + i), "name": c,
                            "self": "%s%s/component/%d" % (self.base, self.api, 10000 + i)}
                           for i, c in enumerate(f.get("components", []))],
            "issuelinks": [self.link(l) for l in f.get("issuelinks", [])],
        }
        for k in (want or NAV_FIELDS):
            if k in full:
                out[k] = full[k]
        return {"id": issue["id"], "key": issue["key"],
                "self": "%s%s/issue/%s" % (self.base, self.api, issue["id"]), "fields": out}


    def link(self, l):
        """One IssueLink as Jira shows it on an issue: the other issue is
        the inwardIssue when this one is the outward side."""
        out_desc, in_desc = LINK_TYPES[l["type"]]
        other = self.state.issues.get(l["other"])
        ref = {"id": l["other"], "key": other["key"] if other else l["other"],
               "self": "%s%s/issue/%s" % (self.base, self.api, l["other"])}
        side = "inwardIssue" if l["desc"] == out_desc and l["anchor_desc"] == in_desc else "outwardIssue"
        return {"id": l["id"], "self": "%s%s/issueLink/%s" % (self.base, self.api, l["id"]),
                "type": {"id": str(10000 + sorted(LINK_TYPES).index(l["type"])), "name": l["type"],
                         "inward": in_desc, "outward": out_desc}, side: ref}


class IssueView:
    """What jql.evaluate reads of one issue: its search copy of the fields."""

    def __init__(self, state, issue, fields):
        self.id, self.key, self.project = issue["id"], issue["key"], issue["project"]
        self.fields, self.state = fields, state

    def resolve(self, id_or_key):
        iid = id_or_key if id_or_key in self.state.issues else self.state.keys.get(id_or_key)
        return iid if iid in self.state.issues else None


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY (socketserver.StreamRequestHandler): the headers and the body
    # go in two writes, and with Nagle's algorithm the body waited for the
    # client's delayed ACK of the headers, 40 ms a request on Linux
    disable_nagle_algorithm = True
    state = None
    opts = None

    def date_time_string(self, timestamp=None):
        """The Date header in Jira's clock (/_sim/clock)."""
        return super().date_time_string(self.state.now() if timestamp is None else timestamp)

    def log_message(self, fmt, *args):
        if self.opts.verbose:
            sys.stderr.write("jira_sim: " + fmt % args + "\n")

    def send(self, status, body=None, headers=None, truncate=False):
        data = b"" if body is None else json.dumps(body).encode()
        if truncate and data:
            data = data[:max(1, len(data) // 2)]
        self.send_response(status)
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        if body is not None:
            self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        self.dispatch("GET")

    def do_POST(self):
        self.dispatch("POST")

    def do_PUT(self):
        self.dispatch("PUT")

    def do_DELETE(self):
        self.dispatch("DELETE")

    def dispatch(self, method):
        if self.opts.latency_ms and not self.path.startswith("/_sim/"):
            time.sleep(self.opts.latency_ms / 1000.0)
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            self.send(400, {"errorMessages": ["Unexpected character in the JSON body."], "errors": {}})
            return
        with self.state.lock:
            try:
                self.state.acting = self.opts.person
                if url.path.startswith("/_sim/"):
                    status, body = self.admin(method, url.path, data)
                    self.send(status, body)
                    return
                if not self.opts.no_request_log:
                    self.state.requests.append({"method": method, "path": url.path,
                                                "query": url.query, "body": data})
                self.count(method, url.path)
                self.check_auth()
                self.state.acting = self.opts.account
                fault = self.take_fault(method, url.path)
                if fault and not fault[3] and not fault[6].get("truncate"):
                    self.hang(fault)
                    raise self.fault_error(fault)
                status, body = self.api(method, url.path, query, data)
                if fault:
                    self.hang(fault)
                    if fault[6].get("truncate"):
                        self.send(status, body, truncate=True)
                        return
                    raise self.fault_error(fault)
                self.send(status, body)
            except ApiError as e:
                self.send(e.status, e.body, e.headers)

    def count(self, method, path):
        """/_sim/stats: total and by kind (search, get, create, edit,
        transition, comment)."""
        kind = ("search" if "/search" in path else "create" if path.endswith("/issue") else
                "transition" if path.endswith("/transitions") and method == "POST" else
                "comment" if path.endswith("/comment") and method == "POST" else
                "edit" if method == "PUT" else "get")
        st = self.state.stats
        st["total"] = st.get("total", 0) + 1
        st[kind] = st.get(kind, 0) + 1

    def check_auth(self):
        want = "Basic " + base64.b64encode(
            ("%s:%s" % (self.opts.email, self.opts.token)).encode()).decode()
        if self.opts.flavor == "datacenter":  # a personal access token
            want = "Bearer " + self.opts.token
        if self.headers.get("Authorization") != want:
            raise ApiError(401, ["You are not authenticated. Authentication required to perform this operation."])

    def take_fault(self, method, path):
        """The next fault that matches the request (taken), or None."""
        hits = [f for f in self.state.faults if f[4] in (None, method) and f[5] in (None, path)]
        if not hits:
            return None
        f = hits[0]
        f[1] -= 1
        if f[1] <= 0:
            self.state.faults.remove(f)
        return f

    @staticmethod
    def fault_error(f):
        return ApiError(f[0], ["Rate limit exceeded."] if f[0] == 429 else ["Internal server error"],
                        headers={"Retry-After": str(f[2])} if f[0] == 429 else {})

    def hang(self, f):
        """A fault with "hang": S answers S seconds late; the state lock is
        let go meanwhile, so other requests are served."""
        if f[6].get("hang"):
            self.state.lock.release()
            try:
                time.sleep(float(f[6]["hang"]))
            finally:
                self.state.lock.acquire()

    def base(self):
        return "http://%s" % self.headers.get("Host", "localhost")

    def api(self, method, path, query, data):
        st = self.state
        r = Render(self.base(), st)
        dc = self.opts.flavor == "datacenter"
        if not path.startswith(r.api + "/"):
            raise ApiError(404, ["No such API: %s %s" % (method, path)])
        if not dc and path in ("/rest/api/3/search", "/rest/api/2/search"):
            raise ApiError(410, ["The requested API has been removed. Please migrate to the "
                                 "/rest/api/3/search/jql API."])
        if path == r.api + ("/search" if dc else "/search/jql") and method in ("GET", "POST"):
            return 200, self.search(r, jira_dc.search_query(method, query, data))
        if path == r.api + "/issue" and method == "POST":
            if not isinstance(data, dict) or not isinstance(data.get("fields"), dict):
                raise ApiError(400, ["Field 'fields' is required."])
            issue = st.create(data["fields"])
            return 201, {"id": issue["id"], "key": issue["key"],
                         "self": "%s%s/issue/%s" % (r.base, r.api, issue["id"])}
        m = re.match(r"^/rest/api/[23]/issue/([^/]+)(/transitions|/comment)?$", path)
        if not m:
            raise ApiError(404, ["No such API: %s %s" % (method, path)])
        issue = st.resolve(m.group(1))
        sub = m.group(2)
        if sub is None and method == "GET":
            want = query.get("fields", [",".join(NAV_FIELDS)])[0].split(",")
            out = r.issue(issue, issue["fields"], want)
            if "changelog" in query.get("expand", [""])[0].split(","):
                hist = [dict(h, created=jira_ts(h["created"]),
                             author=jira_dc.render_assignee(self.opts.flavor, h["author"]))
                        for h in reversed(issue["history"])]
                out["changelog"] = {"startAt": 0, "maxResults": min(len(hist), 100),
                                    "total": len(hist), "histories": hist[:100]}
            return 200, out
        if sub is None and method == "PUT":
            fields = (data or {}).get("fields", {} if "update" in (data or {}) else None)
            if not isinstance(fields, dict):
                raise ApiError(400, ["Field 'fields' is required."])
            if "status" in fields or "resolution" in fields:
                raise ApiError(400, [], {k: "Field '%s' cannot be set. It is not on the appropriate "
                                           "screen, or unknown." % k for k in ("status", "resolution")
                                     if k in fields})
            labels = st.update_labels(issue, fields, (data or {}).get("update"))
            if labels is not None:
                fields = dict(fields, labels=labels)
            st.check_fields(fields, False)
            st.apply(issue, fields)
            st.snapshot(issue)
            return 204, None
        if sub == "/transitions" and method == "GET":
            expand = "transitions.fields" in query.get("expand", [""])[0].split(",")
            out = []
            for tid, name, to in st.transitions(issue):
                screen = st.screen_asks_resolution(issue, to)
                t = {"id": tid, "name": name, "hasScreen": screen, "isAvailable": True,
                     "to": {"id": STATUS_IDS[to], "name": to,
                            "statusCategory": {"id": STATUSES[to][1], "key": STATUSES[to][0],
                                               "name": STATUSES[to][2]}}}
                if expand:
                    t["fields"] = {} if not screen else {"resolution": {
                        "required": True, "name": "Resolution", "key": "resolution",
                        "schema": {"type": "resolution", "system": "resolution"},
                        "operations": ["set"],
                        "allowedValues": [{"id": rid, "name": rn} for rn, rid in RESOLUTIONS.items()]}}
                out.append(t)
            return 200, {"transitions": out}
        if sub == "/transitions" and method == "POST":
            tid = ((data or {}).get("transition") or {}).get("id")
            if not isinstance(tid, str):
                raise ApiError(400, ["Missing 'transition' identifier"])
            res = (((data or {}).get("fields") or {}).get("resolution") or {}).get("name")
            st.transition(issue, tid, res)
            return 204, None
        if sub == "/comment" and method == "GET":
            start = int(query.get("startAt", ["0"])[0])
            limit = max(1, min(int(query.get("maxResults", ["100"])[0]), 100))
            cs = issue["comments"]
            return 200, {"startAt": start, "maxResults": limit, "total": len(cs),
                         "comments": cs[start:start + limit]}
        if sub == "/comment" and method == "POST":
            body = (data or {}).get("body")
            cerr = jira_dc.comment_error(self.opts.flavor, body)
            if cerr:
                raise ApiError(400, [], {"comment": cerr})
            st.comment_id += 1
            now = jira_ts(st.now())
            c = {"id": str(st.comment_id), "body": body, "created": now, "updated": now,
                 "self": "%s%s/issue/%s/comment/%d" % (r.base, r.api, issue["id"], st.comment_id)}
            issue["comments"].append(c)
            return 201, c
        raise ApiError(405, ["Method %s is not allowed here." % method])

    def search(self, r, q):
        st = self.state
        jql = q.get("jql")
        if not isinstance(jql, str) or not jql.strip():
            raise ApiError(400, ["Unbounded JQL queries are not allowed here. Please add a search "
                                 "restriction to your query."])
        try:
            node, order = jqlmod.parse(jql)
        except jqlmod.JqlError as e:
            raise ApiError(400, [str(e)])
        hook = st.clock_after_search
        if hook and hook[0].search(jql):  # the answer below is computed first
            st.clock_after_search = None
            out = self.search_answer(r, q, jql, node, order)
            st.clock_offset += hook[1]
            return out
        return self.search_answer(r, q, jql, node, order)

    def search_answer(self, r, q, jql, node, order):
        st = self.state
        if not jqlmod.bounded(node):
            raise ApiError(400, ["Unbounded JQL queries are not allowed here."])
        want = q.get("fields") or ["id"]
        limit = max(1, min(int(q.get("maxResults") or 50), 5000))
        start = 0
        dc = self.opts.flavor == "datacenter"
        if dc:
            start, limit = jira_dc.search_window(q, self.opts.max_results)
        elif q.get("nextPageToken"):
            try:
                start = int(base64.b64decode(q["nextPageToken"]).decode().split(":")[1])
            except (ValueError, IndexError):
                raise ApiError(400, ["The provided next page token is invalid or expired."])
        hits = []
        for issue in st.issues.values():
            f = st.searchable(issue)
            try:
                if f is None or not jqlmod.evaluate(node, IssueView(st, issue, f)):
                    continue
            except jqlmod.JqlError as e:
                raise ApiError(400, [str(e)])
            by = order[0] if order else "updated"
            hits.append((int(issue["id"]) if by == "id" else f[by], int(issue["id"]), issue, f))
        hits.sort(key=lambda h: h[:2], reverse=(order is not None and order[1] == "DESC"))
        page = hits[start:start + limit]
        issues = [r.issue(i, f, [w for w in want if w != "id"]) for _, _, i, f in page]
        last = start + limit >= len(hits)
        if dc:
            out = jira_dc.search_envelope(start, limit, len(hits), issues)
        else:
            out = {"issues": issues, "isLast": last}
        if not last:
            if not dc:
                out["nextPageToken"] = base64.b64encode(("p:%d" % (start + limit)).encode()).decode()
            edit = st.edit_after_page
            if edit:
                edit["after_pages"] = int(edit.get("after_pages", 1)) - 1
            if edit and edit["after_pages"] <= 0:  # a Jira user edits between pages
                st.edit_after_page = None
                st.acting = self.opts.person
                issue = st.resolve(str(edit["id"]))
                st.apply(issue, edit.get("fields") or {})
                st.snapshot(issue)
        return out

    def admin(self, method, path, data):
        st = self.state
        data = data or {}
        if path == "/_sim/fault" and method == "POST":
            st.faults.append([int(data.get("status", 429)), int(data.get("count", 1)),
                              int(data.get("retry_after", 1)), bool(data.get("after")),
                              data.get("method"), data.get("path"),
                              {"hang": float(data.get("hang") or 0),
                               "truncate": bool(data.get("truncate"))}])
            return 200, {}
        if path == "/_sim/clock_after_search" and method == "POST":
            st.clock_after_search = (re.compile(data["jql_regex"]), float(data["advance_s"]))
            return 200, {}
        if path == "/_sim/refuse" and method == "POST":
            st.refused.add((data["project"], data["to"]))
            return 200, {}
        if path == "/_sim/edit_after_page" and method == "POST":
            st.edit_after_page = data
            return 200, {}
        if path == "/_sim/clock" and method == "POST":
            st.clock_offset += float(data.get("advance_s", 0))
            return 200, {"offset_s": st.clock_offset}
        if path == "/_sim/stats" and method == "GET":
            return 200, st.stats
        if path == "/_sim/stats/reset" and method == "POST":
            st.stats = {}
            return 200, {}
        if path == "/_sim/resolution_screen" and method == "POST":
            st.resolution_screens.add(data["project"])
            return 200, {}
        if path == "/_sim/link" and method == "POST":
            return 200, {"id": st.link(data["type"], data["outward"], data["inward"])}
        m = re.match(r"^/_sim/link/(\d+)$", path)
        if m and method == "DELETE":
            st.unlink(m.group(1))
            return 200, {}
        if path == "/_sim/move" and method == "POST":
            issue = st.resolve(str(data["id"]))
            if data["project"] not in st.projects:
                st.projects[data["project"]] = str(10000 + len(st.projects))
            st.move(issue, data["project"])
            return 200, {"id": issue["id"], "key": issue["key"]}
        if path == "/_sim/edit" and method == "POST":
            issue = st.resolve(str(data["id"]))
            fields = data.get("fields") or {}
            st.check_fields(fields, False)
            st.apply(issue, fields)
            st.acting = data.get("author") or self.opts.person
            if data.get("status"):
                issue["fields"]["status"] = data["status"]
                issue["fields"]["resolution"] = data.get("resolution") or (
                    "Done" if data["status"] == "Done" else None)
            st.snapshot(issue)
            return 200, {}
        if path == "/_sim/issue" and method == "POST":
            issue = st.create(data.get("fields") or {})
            return 200, {"id": issue["id"], "key": issue["key"]}
        m = re.match(r"^/_sim/issue/(\w+)$", path)
        if m and method == "DELETE":
            st.issues.pop(st.resolve(m.group(1))["id"])
            return 200, {}
        if path == "/_sim/issues" and method == "GET":
            return 200, [{"id": i["id"], "key": i["key"], "project": i["project"],
                          "comments": i["comments"], "history": i.get("history") or [],
                          "fields": {k: v for k, v in i["fields"].items()}}
                         for i in st.issues.values()]
        if path == "/_sim/requests" and method == "GET":
            return 200, st.requests
        raise ApiError(404, ["No such admin call: %s %s" % (method, path)])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--port-file")
    ap.add_argument("--email", default="closeloop@example.com")
    ap.add_argument("--token", default="jira-token")
    ap.add_argument("--project", action="append", default=[])
    ap.add_argument("--user", action="append", default=[])
    ap.add_argument("--account", help="the API caller's account (default: Cloud "
                    "557058:closeloop-api, Data Center closeloop)")
    ap.add_argument("--person", help="the Jira user of the admin API's edits (default: Cloud "
                    "5b10a2844c20165700ede21g, Data Center jira-user)")
    ap.add_argument("--search-lag-ms", type=int, default=0)
    ap.add_argument("--latency-ms", type=int, default=0,
                    help="every API answer waits this long (outside the state lock)")
    ap.add_argument("--require-field", action="append", default=[],
                    help="a field the create screen requires (e.g. customfield_10050)")
    ap.add_argument("--no-request-log", action="store_true",
                    help="keep no /_sim/requests log (benchmarks); /_sim/stats still counts")
    ap.add_argument("--flavor", choices=("cloud", "datacenter"), default="cloud",
                    help="datacenter: Jira Data Center REST v2 (tests/sim/jira_dc.py)")
    ap.add_argument("--max-results", type=int, default=1000,
                    help="datacenter: the server's cap on a search page's maxResults")
    ap.add_argument("--verbose", action="store_true")
    opts = ap.parse_args()
    dc = opts.flavor == "datacenter"
    opts.account = opts.account or ("closeloop" if dc else "557058:closeloop-api")
    opts.person = opts.person or ("jira-user" if dc else "5b10a2844c20165700ede21g")
    for k in opts.project:
        if not KEY_RE.match(k):
            ap.error("--project %s: not a Jira project key (A-Z, then A-Z, 0-9, _)" % k)
    Handler.state = State(opts)
    Handler.opts = opts
    srv = ThreadingHTTPServer(("127.0.0.1", opts.port), Handler)
    srv.daemon_threads = True
    if opts.port_file:
        with open(opts.port_file + ".tmp", "w", encoding="utf-8") as f:
            f.write("%d\n" % srv.server_address[1])
        import os
        os.replace(opts.port_file + ".tmp", opts.port_file)
    import signal
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=srv.shutdown).start())
    srv.serve_forever()


if __name__ == "__main__":
    main()
