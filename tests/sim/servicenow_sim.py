#!/usr/bin/env python3
"""A stateful ServiceNow Table API simulator for closeloop's ServiceNow
connector (connectors/servicenow*.c).  Python 3 standard library only.

    python3 tests/sim/servicenow_sim.py --port 0 --port-file F --user u --password p

It follows the published Table API behaviour (REST API reference, "Table
API"; checked December 2026) for the subset closeloop uses:

  GET   /api/now/table/{table}            sysparm_query, sysparm_fields,
                                          sysparm_limit, sysparm_offset;
                                          X-Total-Count and Link (first,
                                          prev, next, last) headers
  GET   /api/now/table/{table}/{sys_id}
  GET   /api/now/table/sys_journal_field      the journal entries a PATCH of
                                          work_notes / comments wrote
                                          (element_id, name, element, value,
                                          sys_created_on, sys_created_by)
  POST  /oauth_token.do                   OAuth 2.0 (form-encoded):
                                          grant_type password, refresh_token,
                                          client_credentials; answers
                                          access_token, refresh_token,
                                          token_type Bearer, expires_in
  POST  /api/now/table/{table}            201 with the record
  PATCH /api/now/table/{table}/{sys_id}   (PUT the same)

  - tables problem, problem_task and incident; every value is a string;
    sys_id is 32 hex digits; number PRB0040001 / PTASK0040001 /
    INC0040001; sys_class_name is the record's table; problem's
    first_reported_by_task (problem only: a problem_task or incident record
    has no such field) and category (a choice value: software, hardware, ...); sysparm_fields may dot-walk a reference
    ("first_reported_by_task.number", "first_reported_by_task.sys_class_name",
    "" when the reference is empty); a field the table does not have is
    left out of the answer, as the real API does; sys_updated_on UTC
    "yyyy-MM-dd HH:mm:ss", a later second for every write (the instance's
    clock moves ahead when writes come faster, and every Date header is
    read from that same clock); sys_mod_count counts updates;
  - sysparm_query: terms joined with "^"; operators = != > >= < <= LIKE
    STARTSWITH, IN (a comma-separated list: "problem_idIN<sys_id>,<sys_id>");
    ORDERBY / ORDERBYDESC; a term naming a field the table does not have
    is silently ignored, as the real API does;
  - an incident's problem_id (its Problem: the problem it is related to;
    incident only) is a reference to a problem;
  - errors: {"error": {"message", "detail"}, "status": "failure"}; 401
    without valid basic credentials or a live bearer token, 404 for an
    unknown record; OAuth errors {"error": "...", "error_description": ...}
    with 401 ("access_denied") for bad client or user credentials and an
    unknown or used refresh token;
  - access tokens live token_lifetime seconds (config; 1799 as the
    instance's default OAuth application); a bearer token that has expired
    answers 401 like any invalid credential;
  - a 429 carries Retry-After (seconds) and X-RateLimit-Limit,
    X-RateLimit-Reset (epoch seconds) and X-RateLimit-Rule, per "Inbound
    REST API rate limiting";
  - the inconvenient things, switched on through the admin API:
    short pages (the limit is applied before ACLs: every page drops its
    first record when hide_first is set, and records whose
    short_description starts with hidden_prefix are never shown), refuse_state ("newer release":
    a PATCH changing state answers 403 and changes nothing), faults (429
    with Retry-After, 5xx, a create made and then answered 504, or made
    with its connection closed before the answer, or an answer whose JSON
    body is cut in half: "truncate": true, the request served as usual);
  - problem_task follows its own state model (151 New, 152 Assess, 154
    Work in Progress, 157 Closed with close_code completed / canceled and
    close_notes; TASK_MOVES), through the API and the admin PATCH alike:
    a move it does not allow answers 403 "Operation Failed".

Admin API (no credentials): POST /_sim/reset, POST /_sim/oauth
{"client_id", "client_secret", "refresh_token"} (register a client; a
refresh token to hand out), POST /_sim/expire_tokens, POST /_sim/config {...},
POST /_sim/faults {"status": 429, "retry_after": 1, "method": "GET",
"count": 1, "apply": false} (or {"truncate": true, "method": ...}), GET /_sim/records, PATCH /_sim/records/{sys_id}
(an edit in the ServiceNow UI), POST /_sim/records/{table} (a record made in
the UI, e.g. the incident's problem), POST /_sim/users {"sys_id": ...},
GET /_sim/requests (counts: by method, JOURNAL, INCIDENT_QUERY a GET of
the incident table's records by a query).
"""

import argparse
import base64
import email.utils
import json
import os
import re
import signal
import sys
import threading
import time
import urllib.parse
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

TABLES = {"problem": "PRB", "problem_task": "PTASK", "incident": "INC"}
FIELDS = ["sys_id", "number", "short_description", "description", "state", "resolution_code",
          "close_code", "close_notes", "impact", "urgency", "priority", "assigned_to", "assignment_group",
          "due_date", "correlation_id", "correlation_display", "work_notes", "comments",
          "sys_created_on", "sys_updated_on", "sys_mod_count", "problem",
          "first_reported_by_task", "category", "sys_class_name", "problem_id"]
# fields only problems have (problem_task and incident records lack them)
PROBLEM_ONLY = ("first_reported_by_task",)
# fields only incidents have: problem_id, the incident's Problem (the
# problem it is related to; many incidents may point at one problem)
INCIDENT_ONLY = ("problem_id",)
# reference fields and the tables (task and its extensions) they point into
REFERENCES = {"first_reported_by_task": tuple(TABLES), "problem": ("problem",),
              "problem_id": ("problem",)}


def table_fields(table):
    """The fields a record of table has."""
    return [f for f in FIELDS if (table == "problem" or f not in PROBLEM_ONLY)
            and (table == "incident" or f not in INCIDENT_ONLY)]
JOURNAL = "sys_journal_field"
JOURNAL_FIELDS = ["sys_id", "element_id", "name", "element", "value", "sys_created_on",
                  "sys_created_by"]
OPS = ["!=", ">=", "<=", "=", ">", "<", "LIKE", "STARTSWITH", "IN"]
# The problem task state model (ServiceNow docs, Problem Management: "Life
# cycle of a problem task", "Assess a problem task", "Complete a problem
# task"; ProblemTaskStateSNC: 151 New, 152 Assess, 154 Work in Progress,
# 157 Closed): New -> Assess -> Work in Progress -> Closed (Complete);
# Work in Progress -> Assess (Re-assess); Assess or Work in Progress ->
# Closed (Cancel); Closed -> Assess (Re-assess).  Closing needs a close
# code (completed / canceled; Complete only from Work in Progress) and
# close notes; a task is created New.
TASK_MOVES = {("151", "152"), ("152", "154"), ("154", "152"), ("152", "157"), ("154", "157"),
              ("157", "152")}
TASK_CLOSE_CODES = ("completed", "canceled")


def task_refusal(rec, data, created=False):
    """Why the problem task state model refuses data on rec, or None."""
    if "state" not in data:
        return None
    want, have = str(data["state"]), rec.get("state", "151")
    if created:
        return None if want == "151" else "a problem task is created in state 151 (New)"
    if want == have:
        return None
    if (have, want) not in TASK_MOVES:
        return "Invalid state transition from %s to %s" % (have, want)
    if want == "157":
        code = str(data.get("close_code", rec.get("close_code", "")))
        notes = str(data.get("close_notes", rec.get("close_notes", "")))
        if code not in TASK_CLOSE_CODES or not notes:
            return ("Data Policy Exception: the following fields are mandatory: Close code, "
                    "Close notes")
        if code == "completed" and have != "154":
            return "a problem task is completed from Work in Progress (154) only"
    return None


def now_text(clock):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(clock))


class State:
    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        self.records = {t: {} for t in TABLES}
        self.counter = {t: 0 for t in TABLES}
        self.users = set()
        self.journal = []
        self.clients = {}      # client_id -> {"secret", "refresh"}
        self.refresh = {}      # refresh token -> client_id
        self.access = {}       # access token -> expiry (epoch seconds)
        self.config = {"refuse_state": False, "hide_first": False, "token_lifetime": 1799}
        self.faults = []
        self.requests = {"GET": 0, "POST": 0, "PATCH": 0, "PUT": 0, "TOKEN": 0, "JOURNAL": 0}
        self.offset = 0.0      # how far the instance's clock runs ahead of this host's
        self.last = None       # the last second a write was stamped with

    def now(self):
        """The instance's clock: its Date headers and its stamps."""
        return time.time() + self.offset

    def tick(self):
        """A strictly later second than any record's (ServiceNow keeps
        whole seconds; tests tell writes apart by it): writes faster than
        one a second move the instance's clock ahead, and it runs on from
        there, so a Date header is never earlier than a stamp it follows."""
        t = self.now()
        if self.last is not None and int(t) <= self.last:
            self.offset += self.last + 1 - t
            t = float(self.last + 1)
        self.last = int(t)
        return now_text(t)

    def priority(self, rec):
        try:
            return str(int(rec["impact"]) + int(rec["urgency"]) - 1)
        except (KeyError, ValueError):
            return "5"


STATE = State()


def parse_query(q, fields=None):
    """Terms [(field, op, value)] and order [(field, desc)]; unknown fields dropped."""
    fields = fields or FIELDS
    terms, order = [], []
    for part in (q or "").split("^"):
        if not part:
            continue
        if part.startswith("ORDERBYDESC"):
            order.append((part[len("ORDERBYDESC"):], True))
            continue
        if part.startswith("ORDERBY"):
            order.append((part[len("ORDERBY"):], False))
            continue
        m = re.match(r"^([a-z_]+)(.*)$", part)
        if not m:
            continue
        field, rest = m.group(1), m.group(2)
        for op in OPS:
            if rest.startswith(op):
                if field in fields:  # an unknown field: silently ignored
                    terms.append((field, op, rest[len(op):]))
                break
    return terms, [o for o in order if o[0] in fields]


def matches(rec, terms):
    for field, op, value in terms:
        v = rec.get(field, "")
        ok = {"=": v == value, "!=": v != value, ">": v > value, ">=": v >= value,
              "<": v < value, "<=": v <= value, "LIKE": value in v,
              "STARTSWITH": v.startswith(value), "IN": v in value.split(",")}[op]
        if not ok:
            return False
    return True


def hang_outside_lock(fault):
    """A fault with "hang": N answers N seconds late (the client's time-out
    fires first); other requests are served meanwhile."""
    if fault.get("hang"):
        STATE.lock.release()
        try:
            time.sleep(float(fault["hang"]))
        finally:
            STATE.lock.acquire()


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # TCP_NODELAY (socketserver.StreamRequestHandler): the headers and the body
    # go in two writes, and with Nagle's algorithm the body waited for the
    # client's delayed ACK of the headers, 40 ms a request on Linux
    disable_nagle_algorithm = True

    def date_time_string(self, timestamp=None):
        """The Date header, from the instance's clock (State.now)."""
        return email.utils.formatdate(STATE.now() if timestamp is None else timestamp, usegmt=True)

    def log_message(self, fmt, *args):
        if self.server.verbose:
            sys.stderr.write("sim: " + fmt % args + "\n")

    def send_json(self, status, obj, headers=None):
        body = json.dumps(obj).encode()
        if getattr(self, "truncate", False):  # a "truncate" fault: half of the body
            self.truncate = False
            body = body[:max(1, len(body) // 2)]
        self.send_response(status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def error(self, status, message, detail=""):
        self.send_json(status, {"error": {"message": message, "detail": detail},
                                "status": "failure"})

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n) if n else b""
        try:
            return json.loads(raw or b"{}")
        except ValueError:
            return None

    def authorised(self):
        got = self.headers.get("Authorization", "")
        if got.startswith("Bearer "):
            with STATE.lock:
                exp = STATE.access.get(got[len("Bearer "):])
            return exp is not None and exp > time.time()
        want = self.server.credentials
        if want is None:
            return True
        return got == "Basic " + base64.b64encode(want.encode()).decode()

    def oauth_error(self, status, error, description):
        self.send_json(status, {"error": error, "error_description": description})

    def oauth_token(self):
        """POST /oauth_token.do: form-encoded, as the OAuth API reference says."""
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n).decode() if n else ""
        if not (self.headers.get("Content-Type") or "").startswith(
                "application/x-www-form-urlencoded"):
            return self.oauth_error(400, "server_error", "Content-Type must be "
                                    "application/x-www-form-urlencoded")
        f = dict(urllib.parse.parse_qsl(raw, keep_blank_values=True))
        with STATE.lock:
            STATE.requests["TOKEN"] += 1
            fault = self.take_fault("TOKEN")
            if fault:
                return self.oauth_error(fault["status"], "server_error", "simulated")
            cl = STATE.clients.get(f.get("client_id"))
            if not cl or cl["secret"] != f.get("client_secret"):
                return self.oauth_error(401, "access_denied", "invalid client credentials")
            grant = f.get("grant_type")
            if grant == "password":
                if self.server.credentials != "%s:%s" % (f.get("username"), f.get("password")):
                    return self.oauth_error(401, "access_denied", "invalid user credentials")
            elif grant == "refresh_token":
                if STATE.refresh.get(f.get("refresh_token")) != f.get("client_id"):
                    return self.oauth_error(401, "access_denied", "invalid refresh token")
            elif grant != "client_credentials":
                return self.oauth_error(400, "unsupported_grant_type", str(grant))
            access = uuid.uuid4().hex + uuid.uuid4().hex
            life = int(STATE.config.get("token_lifetime", 1799))
            STATE.access[access] = time.time() + life
            refresh = f.get("refresh_token") if grant == "refresh_token" else None
            if grant == "password":
                refresh = uuid.uuid4().hex
                STATE.refresh[refresh] = f.get("client_id")
            out = {"access_token": access, "scope": "useraccount", "token_type": "Bearer",
                   "expires_in": life}
            if refresh:
                out["refresh_token"] = refresh
            return self.send_json(200, out)

    def take_fault(self, method):
        for f in STATE.faults:
            if f.get("method", method) == method and f.get("count", 1) > 0:
                f["count"] = f.get("count", 1) - 1
                return dict(f)
        return None

    def route(self, method):
        url = urllib.parse.urlsplit(self.path)
        parts = url.path.strip("/").split("/")
        qs = dict(urllib.parse.parse_qsl(url.query, keep_blank_values=True))
        if parts[0] == "_sim":
            return self.admin(method, parts[1:], url)
        if parts == ["oauth_token.do"] and method == "POST":
            return self.oauth_token()
        if parts[:4] == ["api", "now", "table", JOURNAL] and len(parts) == 4 and method == "GET":
            if not self.authorised():
                return self.error(401, "User Not Authenticated",
                                  "Required to provide Auth information")
            with STATE.lock:
                STATE.requests["GET"] += 1
                STATE.requests["JOURNAL"] += 1
                fault = self.take_fault("GET")
                self.truncate = bool(fault and fault.get("truncate"))
                if fault and not self.truncate:
                    return self.send_fault(fault)
                return self.list(JOURNAL, qs, url)
        if parts[:3] != ["api", "now", "table"] or len(parts) not in (4, 5) or \
                parts[3] not in TABLES:
            return self.error(400, "Invalid table", "No such table " + "/".join(parts[3:4]))
        if not self.authorised():
            return self.error(401, "User Not Authenticated", "Required to provide Auth information")
        table, sys_id = parts[3], parts[4] if len(parts) == 5 else None
        with STATE.lock:
            STATE.requests[method] = STATE.requests.get(method, 0) + 1
            if method == "GET" and table == "incident" and sys_id is None:
                STATE.requests["INCIDENT_QUERY"] = STATE.requests.get("INCIDENT_QUERY", 0) + 1
            fault = self.take_fault(method)
            self.truncate = bool(fault and fault.get("truncate"))
            if self.truncate:  # served as usual, the body cut short
                fault = None
            if fault and not fault.get("apply"):
                return self.send_fault(fault)
            if method == "GET" and sys_id is None:
                return self.list(table, qs, url)
            if method == "GET":
                rec = STATE.records[table].get(sys_id)
                if not rec:
                    return self.error(404, "No Record found",
                                      "Record doesn't exist or ACL restricts the record retrieval")
                return self.send_json(200, {"result": self.shape(rec, qs)})
            data = self.body()
            if not isinstance(data, dict):
                return self.error(400, "Exception while reading request",
                                  "The payload is not valid JSON.")
            if method == "POST" and sys_id is None:
                why = task_refusal({}, data, created=True) if table == "problem_task" else None
                if why:
                    return self.error(403, "Operation Failed", why)
                rec = self.create(table, data)
                if fault and fault["status"]:  # made, then a gateway time-out
                    hang_outside_lock(fault)  # or a time-out: the client gave up
                    return self.error(fault["status"], "Gateway Timeout", "simulated")
                if fault:  # made, but the answer is lost with the connection
                    self.close_connection = True
                    return None
                return self.send_json(201, {"result": self.shape(rec, qs)},
                                      {"Location": "/api/now/table/%s/%s" % (table, rec["sys_id"])})
            if method in ("PATCH", "PUT") and sys_id:
                rec = STATE.records[table].get(sys_id)
                if not rec:
                    return self.error(404, "No Record found",
                                      "Record doesn't exist or ACL restricts the record retrieval")
                if STATE.config["refuse_state"] and "state" in data and \
                        data["state"] != rec["state"]:
                    return self.error(403, "Operation Failed",
                                      "State transition to %s is not allowed through the Table "
                                      "API; use the Problem form or its workflow" % data["state"])
                why = task_refusal(rec, data) if table == "problem_task" else None
                if why:
                    return self.error(403, "Operation Failed", why)
                self.apply(rec, data)
                if fault and fault["status"]:  # applied, then a gateway time-out
                    hang_outside_lock(fault)
                    return self.error(fault["status"], "Gateway Timeout", "simulated")
                if fault:  # applied, but the answer is lost with the connection
                    self.close_connection = True
                    return None
                return self.send_json(200, {"result": self.shape(rec, qs)})
            return self.error(405, "Method not Supported", method)

    def send_fault(self, fault):
        n = int(self.headers.get("Content-Length") or 0)
        if n:  # read the body, or it would be taken for the next request
            self.rfile.read(n)
        hdr = {}
        if "retry_after" in fault:
            hdr["Retry-After"] = str(fault["retry_after"])
        if fault["status"] == 429:
            hdr.update({"X-RateLimit-Limit": "1000",
                        "X-RateLimit-Reset": str(int(time.time()) + int(fault.get(
                            "retry_after", 60))),
                        "X-RateLimit-Rule": "a1b2c3d4e5f60718293a4b5c6d7e8f90"})
        hang_outside_lock(fault)
        return self.send_json(fault["status"], {"error": {
            "message": {429: "Too many requests",
                        403: "Operation Failed"}.get(fault["status"], "Server error"),
            "detail": fault.get("detail", "simulated")}, "status": "failure"}, hdr)

    def create(self, table, data):
        STATE.counter[table] += 1
        ts = STATE.tick()
        rec = {f: "" for f in table_fields(table)}
        first = {"problem": "101", "problem_task": "151"}.get(table, "1")  # New
        rec.update({"sys_id": uuid.uuid4().hex, "state": first, "sys_class_name": table,
                    "impact": "3", "urgency": "3",
                    "number": "%s%07d" % (TABLES[table], 40000 + STATE.counter[table]),
                    "sys_created_on": ts, "sys_updated_on": ts, "sys_mod_count": "0"})
        self.apply(rec, data, created=True)
        STATE.records[table][rec["sys_id"]] = rec
        return rec

    def apply(self, rec, data, created=False):
        for k, v in data.items():
            if k not in FIELDS or k.startswith("sys_") or k == "number" or \
                    (k in PROBLEM_ONLY + INCIDENT_ONLY and k not in rec):
                continue  # unknown fields are ignored, as the real API does
            v = "" if v is None else str(v)
            if k == "assigned_to" and v and v not in STATE.users:
                v = ""  # not a sys_user: the reference stays empty
            if k in ("work_notes", "comments"):
                if v:  # an empty journal value writes no entry
                    STATE.journal.append({
                        "sys_id": uuid.uuid4().hex, "element_id": rec["sys_id"],
                        "name": self.table_of(rec), "element": k, "value": v,
                        "sys_created_on": now_text(STATE.now()),
                        "sys_created_by": self.server.user or "admin"})
                continue
            rec[k] = v
        rec["priority"] = STATE.priority(rec)
        if not created:
            rec["sys_updated_on"] = STATE.tick()
            rec["sys_mod_count"] = str(int(rec["sys_mod_count"]) + 1)

    def table_of(self, rec):
        return rec.get("sys_class_name") or "problem"

    @staticmethod
    def dot_walk(rec, name):
        """sysparm_fields "first_reported_by_task.number": the field of the
        record a reference field points to ("" when it is empty); None for
        a name that is not a reference and a field (left out, as the real
        API leaves out unknown fields)."""
        ref, _, field = name.partition(".")
        if ref not in REFERENCES or ref not in rec or field not in FIELDS:
            return None
        target = rec.get(ref, "")
        for t in REFERENCES[ref]:
            other = STATE.records[t].get(target)
            if other is not None:
                return other.get(field, "")
        return ""

    def shape(self, rec, qs):
        want = [f for f in (qs.get("sysparm_fields") or "").split(",") if f]
        out = {k: v for k, v in rec.items()
               if not k.startswith("_") and (not want or k in want)}
        for name in want:
            if "." in name:
                v = self.dot_walk(rec, name)
                if v is not None:
                    out[name] = v
        return out

    def list(self, table, qs, url):
        journal = table == JOURNAL
        terms, order = parse_query(qs.get("sysparm_query"),
                                   JOURNAL_FIELDS if journal else table_fields(table))
        recs = [r for r in (STATE.journal if journal else STATE.records[table].values())
                if matches(r, terms)]
        for field, desc in reversed(order):
            recs.sort(key=lambda r, f=field: r.get(f, ""), reverse=desc)
        limit = int(qs.get("sysparm_limit") or 10000)
        offset = int(qs.get("sysparm_offset") or 0)
        page = recs[offset:offset + limit]
        if STATE.config["hide_first"] and page:
            page = page[1:]  # the limit comes before ACLs: a short page
        hidden = STATE.config.get("hidden_prefix")
        if hidden and not journal:  # an ACL hides these records, after the limit
            page = [r for r in page if not r["short_description"].startswith(hidden)]
        headers = {"X-Total-Count": str(len(recs))}
        base = "%s?%s" % (url.path, "&".join("%s=%s" % (k, urllib.parse.quote(v, safe=""))
                                            for k, v in qs.items() if k != "sysparm_offset"))
        links = ['<%s&sysparm_offset=0>;rel="first"' % base]
        if offset > 0:
            links.append('<%s&sysparm_offset=%d>;rel="prev"' % (base, max(0, offset - limit)))
        if offset + limit < len(recs):
            links.append('<%s&sysparm_offset=%d>;rel="next"' % (base, offset + limit))
        links.append('<%s&sysparm_offset=%d>;rel="last"' %
                     (base, max(0, (len(recs) - 1) // limit * limit)))
        headers["Link"] = ",".join(links)
        return self.send_json(200, {"result": [self.shape(r, qs) for r in page]}, headers)

    def admin(self, method, parts, url):
        with STATE.lock:
            if parts == ["reset"] and method == "POST":
                STATE.reset()
                return self.send_json(200, {"ok": True})
            if parts == ["config"] and method == "POST":
                STATE.config.update(self.body() or {})
                return self.send_json(200, STATE.config)
            if parts == ["faults"] and method == "POST":
                STATE.faults.append(self.body() or {})
                return self.send_json(201, {"ok": True})
            if parts == ["oauth"] and method == "POST":
                b = self.body() or {}
                STATE.clients[b.get("client_id")] = {"secret": b.get("client_secret")}
                if b.get("refresh_token"):
                    STATE.refresh[b["refresh_token"]] = b.get("client_id")
                return self.send_json(201, {"ok": True})
            if parts == ["expire_tokens"] and method == "POST":
                for k in STATE.access:
                    STATE.access[k] = 0
                return self.send_json(200, {"expired": len(STATE.access)})
            if parts == ["journal"] and method == "GET":
                return self.send_json(200, list(STATE.journal))
            if parts == ["users"] and method == "POST":
                STATE.users.add((self.body() or {}).get("sys_id", ""))
                return self.send_json(201, {"ok": True})
            if parts == ["requests", "reset"] and method == "POST":
                STATE.requests = {k: 0 for k in STATE.requests}
                return self.send_json(200, STATE.requests)
            if parts == ["requests"] and method == "GET":
                return self.send_json(200, STATE.requests)
            if parts == ["records"] and method == "GET":
                return self.send_json(200, [dict(r) for t in TABLES
                                            for r in STATE.records[t].values()])
            if len(parts) == 2 and parts[0] == "records" and method == "POST" and parts[1] in TABLES:
                return self.send_json(201, self.create(parts[1], self.body() or {}))
            if len(parts) == 2 and parts[0] == "records" and method == "DELETE":
                for t in TABLES:
                    if STATE.records[t].pop(parts[1], None):
                        return self.send_json(200, {"deleted": parts[1]})
                return self.send_json(404, {"error": "no such record"})
            if len(parts) == 2 and parts[0] == "records" and method == "PATCH":
                for t in TABLES:
                    rec = STATE.records[t].get(parts[1])
                    if rec:
                        data = self.body() or {}
                        why = task_refusal(rec, data) if t == "problem_task" else None
                        if why:
                            return self.send_json(403, {"error": why})
                        self.apply(rec, data)
                        return self.send_json(200, rec)
                return self.send_json(404, {"error": "no such record"})
        return self.send_json(404, {"error": "unknown admin call"})

    def do_GET(self):
        self.delay()
        self.route("GET")

    def delay(self):
        if self.server.latency and not self.path.startswith("/_sim"):
            time.sleep(self.server.latency)

    def do_POST(self):
        self.delay()
        self.route("POST")

    def do_PATCH(self):
        self.delay()
        self.route("PATCH")

    def do_DELETE(self):
        self.route("DELETE")

    def do_PUT(self):
        self.route("PUT")


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def handle_error(self, request, client_address):
        if isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            return  # the client gave up first (a simulated time-out)
        super().handle_error(request, client_address)


def main():
    p = argparse.ArgumentParser(description="ServiceNow Table API simulator")
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file")
    p.add_argument("--user", default=None)
    p.add_argument("--password", default="")
    p.add_argument("--verbose", action="store_true")
    p.add_argument("--latency-ms", type=int, default=0,
                   help="answer every Table API request this much later (outside the lock)")
    a = p.parse_args()
    srv = Server(("127.0.0.1", a.port), Handler)
    srv.credentials = None if a.user is None else "%s:%s" % (a.user, a.password)
    srv.user = a.user
    srv.latency = a.latency_ms / 1000.0
    srv.verbose = a.verbose
    signal.signal(signal.SIGTERM, lambda *_: threading.Thread(target=srv.shutdown).start())
    if a.port_file:
        tmp = a.port_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % srv.server_address[1])
        os.replace(tmp, a.port_file)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
