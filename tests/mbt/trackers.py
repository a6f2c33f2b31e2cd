"""trackers.py — the trackers a model-based scenario runs against, one
class per simulator (tests/sim/): how its tickets read as canonical
fields, how a person edits them, which faults it can inject, and which
fields it stores at all.

Each reading follows the tracker's documented mapping (docs/reconcile.md,
connectors/<type>.c header comments), written here on its own from the
tracker's raw record, so the model does not reuse the connector's code:

  GitHub      title, body above the closeloop block, state + state_reason
              (+ label "status: in progress"), labels "priority: P1" and
              "type: x", first assignee, the block's "**Due date:**" line;
  Jira Cloud  summary, ADF description (paragraph text), status + resolution
              (To Do open, In Progress in_progress, Done done unless the
              resolution is Won't Do), priority names Highest/High/Medium/Low
              = P0..P3, label closeloop-type-x, assignee accountId, duedate;
              the create token is the label closeloop-<token>;
  ServiceNow  short_description, description (plain), state 101-103 open,
              104-105 in_progress, 106-107 done unless resolution_code is
              risk_accepted or canceled (wont_do), impact/urgency 1/1, 1/2,
              2/2, 3/3 = P0..P3, assigned_to sys_id, due_date's date;
              the token is correlation_id; no type (not native: not compared).

A ticket reads as {"tracker", "target", "id", "key", "token", "item",
"fields", "updated_ms"}; "item" is the ledger id when the ticket names it
(GitHub's block), else None (the driver maps tokens through the ledger).

Standard library only."""

import base64
import calendar
import hashlib
import hmac
import json
import os
import re
import sys
import time
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import harness as H  # noqa: E402
import model as M  # noqa: E402

ALL_FIELDS = ("title", "description", "state", "priority", "type", "owner", "due_date")
BEGIN = "<!-- closeloop:begin"
END = "<!-- closeloop:end -->"
DUE_RE = re.compile(r"^\*\*Due date:\*\* *(\S+)[ \t]*$", re.M)
ITEM_RE = re.compile(r"<!-- closeloop:begin[^>]*\bitem=(\d+)")
TOKEN_RE = re.compile(r"<!-- closeloop:begin[^>]*\btoken=(\S+)")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
HANDLES = ("rf", "pw")
HOOK_SECRET = "mbt-hook:s3cret with spaces"   # every connector's webhook secret (user:password for ServiceNow)


def hmac_sha256(raw):
    return "sha256=" + hmac.new(HOOK_SECRET.encode(), raw, hashlib.sha256).hexdigest()
UNMANAGED = "customer-reported"
# the discovery rule of every target (docs/configuration.md "Discovery"):
# GitHub's label, Jira's JQL on that label, ServiceNow's category
FOUND = "pm-found"


def valid_date(d):
    try:
        time.strptime(d, "%Y-%m-%d")
        return True
    except ValueError:
        return False


def iso_ms(s, fmt="%Y-%m-%dT%H:%M:%SZ"):
    """A UTC time stamp -> ms since the epoch (None when unreadable)."""
    try:
        return calendar.timegm(time.strptime(s, fmt)) * 1000
    except (TypeError, ValueError):
        return None


class Tracker:
    """What every tracker offers the driver."""
    name = conn = None
    fields = ALL_FIELDS
    defaults = {}             # field -> what the tracker fills in when a create leaves it out
    http_faults = ()          # ({fault}, description) the simulator can inject

    def __init__(self, workdir):
        self.dir = workdir

    def targets(self, k, n):
        """The n targets of scenario k of a batch."""
        return [self.target(k, j) for j in range(n)]

    def person(self, ident):
        return self.people_rev.get((ident or "").lower()) if ident else None

    def norm(self, field, v):
        """v as it comes back from a round trip through the tracker (the
        connector's capability table declares such fields lossy)."""
        return v

    def made(self, field, v):
        """What the tracker's create request alone leaves in field when
        the create sent v (connector.h, conn_ops.created_as)."""
        return self.defaults.get(field) if v is None and field in self.defaults else v

    def found_ticket(self, target, title, description, owner, type_):
        """A person raises an action item in the tracker: a ticket of
        target matching the discovery rule (FOUND).  Returns its reading
        as tickets() gives it."""
        raise NotImplementedError

    def unfound(self, t):
        """The ticket stops matching the discovery rule."""
        raise NotImplementedError

    def doc_ref(self, t):
        """How a postmortem document names ticket t (docs/import.md)."""
        return t["key"]

    def reading(self, target, tid):
        """The ticket target/tid as tickets() reads it, or None."""
        return next((t for t in self.tickets() if t["id"] == str(tid) and
                     t["target"].lower() == target.lower()), None)


# ---- GitHub ------------------------------------------------------------------

class GitHub(Tracker):
    name, conn = "github", "github-mbt"
    people = {"rf": "rf-gh", "pw": "pw-gh"}
    people_rev = {v.lower(): k for k, v in people.items()}
    ELSEWHERE = "mbt/elsewhere"             # a repository no connector serves

    def __init__(self, workdir):
        super().__init__(workdir)
        self.sim = H.Simulator(workdir, H.SIM_RAISED_LIMITS)

    def target(self, k, j):
        return "mbt/s%d-r%d" % (k, j)

    def reset(self, targets):
        self.sim.call("POST", "/_sim/reset", {})
        self.sim.seed({"repos": {r: {"issues": []} for r in list(targets) + [self.ELSEWHERE]}})

    def connector(self, targets):
        return ('{ name = "%s"; type = "github"; base_url = "%s"; token_env = "CLOSELOOP_GITHUB_TOKEN"; webhook_secret_env = "CLOSELOOP_MBT_HOOK_SECRET"; '
                'targets = [ %s ]; max_inflight = 4; max_attempts = 3; request_timeout = 2; '
                'write_spacing_ms = %d; creates_per_minute = %d; creates_per_hour = %d; %s }'
                % ((self.conn, self.sim.url, ", ".join('"%s"' % t for t in targets)) + H.RAISED_PACING
                   + (discover_rules(targets, 'label = "%s";' % FOUND),)))

    def found_ticket(self, target, title, description, owner, type_):
        self.sim.seed({"repos": {target: {"issues": [{
            "title": title, "body": description, "labels": [FOUND, "type: " + type_],
            "assignees": [self.people[owner]] if owner else [], "user": "rf-gh"}]}}})
        return next(t for t in self.tickets() if t["target"].lower() == target.lower()
                    and t["fields"]["title"] == title)

    def unfound(self, t):
        self.patch(t, {"labels": [l for l in label_names(t["raw"]) if l.lower() != FOUND]})

    def stop(self):
        self.sim.stop()

    def tickets(self):
        out = []
        for repo, issues in self.sim.call("GET", "/_sim/issues").items():
            for i in issues:
                if i.get("deleted") or i.get("transferred_to") or i.get("pull_request"):
                    continue
                toks = TOKEN_RE.findall(i.get("body") or "")
                m = ITEM_RE.findall(i.get("body") or "")
                upd = i.get("updated_at")
                out.append({"tracker": self.name, "target": repo, "id": str(i["number"]),
                            "key": "%s#%d" % (repo, i["number"]), "token": toks[0] if toks else None,
                            "tokens": toks, "item": int(m[0]) if m else None,
                            "fields": self.read(i), "raw": i,
                            "updated_ms": upd * 1000 if isinstance(upd, int) else iso_ms(upd)})
        return out

    def read(self, issue):
        """docs/reconcile.md: description is the body above the first
        block, the due date the last block's that says one -- a valid date,
        or "none", which is no due date (connectors/github_block.c
        block_due; seed 764 of the soak: a copy of the block saying none
        read as the first block's date here) -- (no block at all: M.UNREAD,
        the block is restored with the ledger's due date)."""
        body = (issue.get("body") or "").replace("\r\n", "\n")
        k = body.find(BEGIN)
        desc = (body if k < 0 else body[:k]).strip() or None
        due = None if k >= 0 else M.UNREAD
        for blk in re.findall(re.escape(BEGIN) + r".*?(?:" + re.escape(END) + r"|\Z)", body, re.S):
            for d in DUE_RE.findall(blk):
                if d.lower() == "none":
                    due = None
                elif DATE_RE.match(d) and valid_date(d):
                    due = d
        labels = label_names(issue)
        if issue.get("state") == "closed":
            state = "wont_do" if issue.get("state_reason") == "not_planned" else "done"
        else:
            state = "in_progress" if "status: in progress" in labels else "open"
        pri = [l[len("priority: "):] for l in labels if l.startswith("priority: ")]
        typ = [l[len("type: "):] for l in labels if l.startswith("type: ")]
        ass = [a["login"] if isinstance(a, dict) else a for a in issue.get("assignees") or []]
        return {"title": issue.get("title"), "description": desc, "state": state,
                # two labels of one kind (a label change cut short between
                # adding the new one and taking the old one off): the last,
                # as connectors/github_body.c reads them
                "priority": pri[-1] if pri else None, "type": typ[-1] if typ else None,
                "owner": self.person(ass[0]) if ass else None, "due_date": due}

    def patch(self, t, fields):
        repo = t["target"]
        new = self.sim.edit(repo, int(t["id"]), dict(fields, actor="rf-gh"))
        t["raw"] = new

    def edit(self, t, field, v, rng):
        """A person edits one field of ticket t to v; False when the edit
        cannot be made (e.g. the due date with no block)."""
        issue = t["raw"]
        if field == "type" and v is None:
            return False
        labels = label_names(issue)
        body = issue.get("body") or ""
        k = body.find(BEGIN)
        if field == "title":
            patch = {"title": v}
        elif field == "description":
            patch = {"body": (v or "") + ("\n\n" + body[k:] if k >= 0 else "")}
        elif field == "due_date":
            if k < 0:
                return False
            # every block's due line: with a copy of the block lower in the
            # body, the last valid one is the ticket's due date
            patch = {"body": body[:k] + DUE_RE.sub("**Due date:** %s" % (v or "none"), body[k:])}
        elif field == "state":
            labels = [l for l in labels if l != "status: in progress"]
            if v == "in_progress":
                labels.append("status: in progress")
            patch = {"labels": labels, "state": "closed" if v in ("done", "wont_do") else "open"}
            if v in ("done", "wont_do"):
                patch["state_reason"] = "completed" if v == "done" else "not_planned"
        elif field == "priority":
            patch = {"labels": [l for l in labels if not l.startswith("priority: ")] +
                     (["priority: " + v] if v else [])}
        elif field == "type":
            patch = {"labels": [l for l in labels if not l.startswith("type: ")] + ["type: " + v]}
        elif field == "owner":
            patch = {"assignees": [self.people[v]] if v else []}
        self.patch(t, patch)
        return True

    def delivery(self, t, deleted=False):
        """A webhook delivery for ticket t as GitHub sends it: (headers,
        raw body); the delivery id is a header."""
        i = t["raw"]
        body = json.dumps({"action": "deleted" if deleted else "edited",
                           "issue": {"id": i.get("id"), "number": int(t["id"]), "title": i.get("title"),
                                     "state": i.get("state")},
                           "repository": {"full_name": t["target"], "name": t["target"].split("/")[1]},
                           "sender": {"login": "rf-gh"}}).encode()
        return {"X-GitHub-Event": "issues", "X-GitHub-Delivery": str(uuid.uuid4()),
                "X-Hub-Signature-256": hmac_sha256(body), "User-Agent": "GitHub-Hookshot/mbt"}, body

    def delete(self, t):
        o, r = t["target"].split("/")
        self.sim.call("POST", "/_sim/issues/%s/%s/%s/delete" % (o, r, t["id"]), {})

    def transfer(self, t):
        o, r = t["target"].split("/")
        self.sim.call("POST", "/_sim/issues/%s/%s/%s/transfer" % (o, r, t["id"]), {"to": self.ELSEWHERE})

    def rename(self, old, new):
        """The repository old ("o/r") renamed on GitHub to new (same owner):
        every ticket keeps its number and id, the old name answers 301/307."""
        o, r = old.split("/")
        self.sim.call("POST", "/_sim/repos/%s/%s/rename" % (o, r), {"name": new.split("/")[1]})

    def fault(self, rng, small):
        method, path = rng.choice((("POST", "/issues$"), ("PATCH", "/issues/[0-9]+$"),
                                   ("GET", "/issues$"), ("GET", "/issues/[0-9]+$"),
                                   ("GET", "/search/issues"), (None, None)))
        action, after = rng.choice((
            ({"status": 502}, False), ({"status": 500}, False), ({"status": 503}, False),
            ({"status": 502}, True), ({"drop": True}, False), ({"drop": True}, True),
            ({"malformed": True}, False), ({"malformed": True}, True),
            ({"status": 429, "headers": {"retry-after": "1"},
              "body": {"message": "API rate limit exceeded"}}, False),
            ({"status": 403, "headers": {"retry-after": "1"},
              "body": {"message": "You have exceeded a secondary rate limit. Please wait a "
                       "few minutes before you try again."}}, False),
            ({"delay_ms": 2300}, False)))
        match = {"method": method, "path_regex": path} if method else {}
        count = 1 if small or "delay_ms" in action else rng.randint(1, 3)
        self.sim.fault(match, action, count=count, after=after)
        return "github %s %s -> %s%s x%d" % (method or "*", path or "*", action,
                                             " after" if after else "", count)

    def clear_faults(self):
        self.sim.clear_faults()


def discover_rules(targets, rule):
    """A connector's discover list: rule on each of its targets."""
    return "discover = ( %s );" % ", ".join('{ target = "%s"; %s }' % (t, rule) for t in targets)


def label_names(issue):
    return [l["name"] if isinstance(l, dict) else l for l in issue.get("labels") or []]


# ---- Jira Cloud --------------------------------------------------------------

JIRA_PRIO = {"P0": "Highest", "P1": "High", "P2": "Medium", "P3": "Low"}
JIRA_PRIO_REV = {v: k for k, v in JIRA_PRIO.items()}
JIRA_STATUS = {"open": ("To Do", None), "in_progress": ("In Progress", None),
               "done": ("Done", "Done"), "wont_do": ("Done", "Won't Do")}


def adf_paragraphs(text):
    return {"type": "doc", "version": 1,
            "content": [{"type": "paragraph", "content": [{"type": "text", "text": p}]}
                        for p in (text or "").split("\n\n") if p]}


def adf_text(doc):
    """The text of an ADF document's paragraphs, blank-line separated
    (the scenarios write single-paragraph plain sentences)."""
    if not isinstance(doc, dict):
        return None
    paras = []
    for block in doc.get("content") or []:
        paras.append("".join(n.get("text", "") for n in block.get("content") or []
                             if isinstance(n, dict)))
    return "\n\n".join(p for p in paras if p) or None


class Jira(Tracker):
    name, conn = "jira", "jira-mbt"
    people = {"rf": "5b10a2844c20165700ede21g", "pw": "5b10ac8d82e05b22cc7d4ef5"}
    people_rev = {v.lower(): k for k, v in people.items()}
    http_faults = (429, 500, 502, 503)
    defaults = {"priority": "P2"}     # the project's default priority, Medium

    def made(self, field, v):
        # the issue is made in the workflow's first status (To Do); another
        # state is the create's follow-up transition
        if field == "state" and v is not None:
            return "open"
        return super().made(field, v)

    def __init__(self, workdir):
        super().__init__(workdir)
        self.sim = None
        self.projects = []

    def target(self, k, j):
        return "MB%dR%d" % (k, j)

    def reset(self, targets):
        """The simulator has no reset: a fresh one per batch (its URL goes
        into the configuration written after this)."""
        if self.sim:
            self.sim.stop()
        args = []
        for p in targets:
            args += ["--project", p]
        for a in self.people.values():
            args += ["--user", a]
        self.sim = H.JiraSimulator(self.dir, args)

    def connector(self, targets):
        return ('{ name = "%s"; type = "jira"; base_url = "%s"; token_env = "CLOSELOOP_JIRA_CREDENTIALS"; webhook_secret_env = "CLOSELOOP_MBT_HOOK_SECRET"; '
                'targets = [ %s ]; max_inflight = 4; max_attempts = 3; request_timeout = 2; '
                'write_spacing_ms = 5; %s }'
                % (self.conn, self.sim.url if self.sim else "http://127.0.0.1:9",
                   ", ".join('"%s"' % t for t in targets),
                   discover_rules(targets, 'jql = "labels = \\"%s\\"";' % FOUND)))

    def found_ticket(self, target, title, description, owner, type_):
        """A Jira user creates the issue: through the simulator's admin
        call, not the API, whose faults are the daemon's (seeds 1011-1020
        and 1091-1100 of the soak: a fault left for the daemon's next
        create, or its next requests, answered the person's create)."""
        fields = {"project": {"key": target}, "issuetype": {"name": "Task"}, "summary": title,
                  "description": adf_paragraphs(description),
                  "labels": [FOUND, "closeloop-type-" + type_]}
        if owner:
            fields["assignee"] = {"accountId": self.people[owner]}
        made = self.sim.call("POST", "/_sim/issue", {"fields": fields})
        return self.reading(target, made["id"])

    def unfound(self, t):
        labels = [l for l in t["raw"]["fields"].get("labels") or [] if l != FOUND]
        self.sim.call("POST", "/_sim/edit", {"id": t["id"], "fields": {"labels": labels}})
        t["raw"]["fields"]["labels"] = labels     # a later label edit this round keeps it off

    def stop(self):
        if self.sim:
            self.sim.stop()

    def tickets(self):
        out = []
        for i in self.sim.call("GET", "/_sim/issues"):
            f = i["fields"]
            toks = [l[len("closeloop-"):] for l in f.get("labels") or []
                    if l.startswith("closeloop-") and not l.startswith("closeloop-type-")]
            out.append({"tracker": self.name, "target": i["project"], "id": i["id"], "key": i["key"],
                        "token": toks[0] if toks else None, "tokens": toks, "item": None,
                        "fields": self.read(f), "raw": i,
                        "updated_ms": int(float(f["updated"]) * 1000)
                        if isinstance(f.get("updated"), (int, float)) else
                        iso_ms((f.get("updated") or "")[:19], "%Y-%m-%dT%H:%M:%S")})
            out[-1]["field_ms"] = self.field_ms(i, out[-1]["updated_ms"])
        return out

    # the changelog's fields -> the synced field whose time they give
    # (connectors/jira_fields.c read_changelog)
    HISTORY = {"summary": "title", "description": "description", "status": "state",
               "resolution": "state", "priority": "priority", "labels": "type",
               "assignee": "owner", "duedate": "due_date"}

    def field_ms(self, issue, updated_ms):
        """{field: ms} as the daemon decides newest_wins on a Jira ticket:
        the field's latest change in the issue's changelog (the latest 100
        entries, as GET issue/ID?expand=changelog lists them), else the
        issue's updated time.  The changelog is /_sim/issues' "history":
        before it was there every field took the updated time, and a later
        edit of another field made the field look newer than it was (seed
        5433 of the soak: the description edited on the ticket, then in
        the ledger, then the ticket's type; the model wanted the ticket's
        older description, the daemon rightly kept the ledger's)."""
        out = {}
        for h in (issue.get("history") or [])[-100:]:
            for item in h["items"]:
                k = self.HISTORY.get(item["field"])
                if k:
                    out[k] = max(out.get(k, 0), int(float(h["created"]) * 1000))
        return {k: out.get(k, updated_ms) for k in set(self.HISTORY.values())}

    def read(self, f):
        status, res = f.get("status"), f.get("resolution")
        if status == "Done":
            state = "wont_do" if res in ("Won't Do", "Declined") else "done"
        else:
            state = "in_progress" if status == "In Progress" else "open"
        typ = [l[len("closeloop-type-"):] for l in f.get("labels") or [] if l.startswith("closeloop-type-")]
        return {"title": f.get("summary"), "description": adf_text(f.get("description")),
                "state": state, "priority": JIRA_PRIO_REV.get(f.get("priority")),
                "type": typ[0] if typ else None, "owner": self.person(f.get("assignee")),
                "due_date": f.get("duedate")}

    def edit(self, t, field, v, rng):
        f = t["raw"]["fields"]
        body = {"id": t["id"], "fields": {}}
        if field == "type" and v is None:
            return False
        if field == "title":
            body["fields"]["summary"] = v
        elif field == "description":
            body["fields"]["description"] = adf_paragraphs(v) if v else None
        elif field == "due_date":
            body["fields"]["duedate"] = v
        elif field == "state":
            body["status"], body["resolution"] = JIRA_STATUS[v]
        elif field == "priority":
            body["fields"]["priority"] = {"name": JIRA_PRIO[v]} if v else None
        elif field == "type":
            # the whole set, kept in the ticket as read: the rule taken off
            # later in the round (unfound) starts from it (seed 411 of the
            # soak: it started from the labels read before, and put the
            # old type back)
            f["labels"] = [l for l in f.get("labels") or []
                           if not l.startswith("closeloop-type-")] + ["closeloop-type-" + v]
            body["fields"]["labels"] = f["labels"]
        elif field == "owner":
            body["fields"]["assignee"] = {"accountId": self.people[v]} if v else None
        self.sim.call("POST", "/_sim/edit", body)
        return True

    def delivery(self, t, deleted=False):
        """An admin webhook's delivery (connectors/jira_hook.c)."""
        body = json.dumps({"timestamp": int(time.time() * 1000),
                           "webhookEvent": "jira:issue_deleted" if deleted else "jira:issue_updated",
                           "issue": {"id": t["id"], "key": t["key"],
                                     "fields": {"project": {"key": t["target"]}}}}).encode()
        return {"X-Hub-Signature": hmac_sha256(body),
                "X-Atlassian-Webhook-Identifier": str(uuid.uuid4())}, body

    def delete(self, t):
        self.sim.call("DELETE", "/_sim/issue/%s" % t["id"])

    transfer = None

    def fault(self, rng, small):
        n = 1 if small else rng.randint(1, 3)
        x = rng.random()
        if x < 0.5:
            st = rng.choice(self.http_faults)
            self.sim.call("POST", "/_sim/fault", {"status": st, "count": n, "retry_after": 1})
            return "jira next %d API requests -> %d" % (n, st)
        # a time-out (the connector's request_timeout is 2 s) before or
        # after the request was carried out, or an answer cut in half
        method, path = rng.choice((("POST", "/rest/api/3/issue"), ("PUT", None), ("GET", None),
                                   ("POST", None), (None, None)))
        f = rng.choice(({"status": 504, "hang": 2.5}, {"status": 504, "hang": 2.5, "after": True},
                        {"truncate": True}))
        f = dict(f, count=1 if small or "hang" in f else n)
        if method:
            f["method"] = method
        if path:
            f["path"] = path
        self.sim.call("POST", "/_sim/fault", f)
        return "jira %s %s -> %s" % (method or "*", path or "*", f)

    def clear_faults(self):
        pass                  # a fault is consumed by the next requests


# ---- ServiceNow --------------------------------------------------------------

SN_PRIO = {"P0": ("1", "1"), "P1": ("1", "2"), "P2": ("2", "2"), "P3": ("3", "3")}
SN_PRIO_REV = {v: k for k, v in SN_PRIO.items()}
# raw (state, resolution_code) a person may set, per canonical state
SN_STATES = {"open": [("101", ""), ("102", ""), ("103", "")],
             "in_progress": [("104", ""), ("105", "")],
             "done": [("106", "fix_applied"), ("107", "fix_applied"), ("107", "duplicate")],
             "wont_do": [("106", "risk_accepted"), ("107", "canceled"), ("107", "risk_accepted")]}


class ServiceNow(Tracker):
    name, conn = "servicenow", "sn-mbt"
    fields = tuple(f for f in ALL_FIELDS if f != "type")       # type is not native
    people = {"rf": "5137153cc611227c000bbd1bd8cd2005", "pw": "6816f79cc0a8016401c5a33be04be441"}
    people_rev = {v.lower(): k for k, v in people.items()}

    def __init__(self, workdir):
        super().__init__(workdir)
        self.sim = H.ServiceNowSimulator(workdir)

    def norm(self, field, v):
        # a problem always has an impact and an urgency: no priority is
        # written as P3's pair (connectors/servicenow.c, sn_normalise)
        return (v or "P3") if field == "priority" else v

    def target(self, k, j):
        return "%032x" % (0xa5a5a5a5000 + 16 * k + j)

    def reset(self, targets):
        self.sim.call("POST", "/_sim/reset", {})
        for s in self.people.values():
            self.sim.call("POST", "/_sim/users", {"sys_id": s})

    def connector(self, targets):
        return ('{ name = "%s"; type = "servicenow"; base_url = "%s"; token_env = "CLOSELOOP_SN_CREDENTIALS"; webhook_secret_env = "CLOSELOOP_MBT_HOOK_SECRET"; '
                'targets = [ %s ]; max_inflight = 4; max_attempts = 3; request_timeout = 2; '
                'write_spacing_ms = 0; page_size = 50; %s }'
                % (self.conn, self.sim.url, ", ".join('"%s"' % t for t in targets),
                   discover_rules(targets, 'category = "%s";' % FOUND)))

    def found_ticket(self, target, title, description, owner, type_):
        rec = self.sim.call("POST", "/_sim/records/problem", {
            "short_description": title, "description": description, "assignment_group": target,
            "category": FOUND, "assigned_to": self.people[owner] if owner else ""})
        return self.reading(target, rec["sys_id"])

    def unfound(self, t):
        self.sim.call("PATCH", "/_sim/records/%s" % t["id"], {"category": "software"})

    def stop(self):
        self.sim.stop()

    def tickets(self):
        out = []
        for r in self.sim.records():
            out.append({"tracker": self.name, "target": r.get("assignment_group"), "id": r["sys_id"],
                        "key": r.get("number"), "token": r.get("correlation_id") or None,
                        "tokens": [r["correlation_id"]] if r.get("correlation_id") else [],
                        "item": None, "fields": self.read(r), "raw": r,
                        "updated_ms": iso_ms(r.get("sys_updated_on"), "%Y-%m-%d %H:%M:%S")})
        return out

    def read(self, r):
        n = int(r.get("state") or 0)
        wont = r.get("resolution_code") in ("risk_accepted", "canceled")
        state = ("wont_do" if wont else "done") if n >= 106 else "in_progress" if n >= 104 else "open"
        due = (r.get("due_date") or "")[:10]
        return {"title": r.get("short_description") or None, "description": r.get("description") or None,
                "state": state, "priority": SN_PRIO_REV.get((r.get("impact"), r.get("urgency"))),
                "type": None, "owner": self.person(r.get("assigned_to")),
                "due_date": due if DATE_RE.match(due) and valid_date(due) else None}

    def edit(self, t, field, v, rng):
        if field == "type":
            return False
        if field == "title":
            patch = {"short_description": v}
        elif field == "description":
            patch = {"description": v or ""}
        elif field == "due_date":
            patch = {"due_date": "%s 00:00:00" % v if v else ""}
        elif field == "state":
            st, code = rng.choice(SN_STATES[v])
            patch = {"state": st, "resolution_code": code}
            if code:
                patch["close_notes"] = "Closed in the ServiceNow UI."
        elif field == "priority":
            if v is None:
                return False      # a problem always has an impact and an urgency
            patch = dict(zip(("impact", "urgency"), SN_PRIO[v]))
        elif field == "owner":
            patch = {"assigned_to": self.people[v] if v else ""}
        self.sim.call("PATCH", "/_sim/records/%s" % t["id"], patch)
        return True

    def delivery(self, t, deleted=False):
        """The outbound REST message of docs/configuration.md "Webhooks"."""
        body = json.dumps({"table": "problem", "sys_id": t["id"], "number": t["key"],
                           "assignment_group": t["target"], "operation": "delete" if deleted else "update",
                           "delivery": uuid.uuid4().hex}).encode()
        return {"Authorization": "Basic " + base64.b64encode(HOOK_SECRET.encode()).decode()}, body

    def delete(self, t):
        self.sim.call("DELETE", "/_sim/records/%s" % t["id"])

    transfer = None

    def fault(self, rng, small):
        method = rng.choice(("GET", "POST", "PATCH", None))
        f = rng.choice(({"status": 429, "retry_after": 1}, {"status": 500}, {"status": 502},
                        {"status": 503}, {"status": 504, "apply": True},
                        {"status": 0, "apply": True}, {"status": 504, "hang": 2.5},
                        {"truncate": True}))
        if f.get("apply") and method in ("GET", None):
            method = rng.choice(("POST", "PATCH"))
        f = dict(f, count=1 if small else rng.randint(1, 2))
        if method:
            f["method"] = method
        self.sim.call("POST", "/_sim/faults", f)
        return "servicenow %s -> %s" % (method or "*", f)

    def clear_faults(self):
        pass                  # a fault is consumed by the next requests


KINDS = {"github": GitHub, "jira": Jira, "servicenow": ServiceNow}
