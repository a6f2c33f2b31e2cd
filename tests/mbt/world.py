"""world.py — the real things a model-based scenario runs against: one
PostgreSQL cluster, one GitHub simulator and the real `closeloop` binary
(tests/integration/harness.py), a fresh ledger per scenario copied from a
migrated template, and the readings of both sides the model is fed.

Standard library only."""

import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "integration"))
import harness as H  # noqa: E402
import model as M  # noqa: E402

CONN = "github-mbt"
BATCH = 10                                  # scenarios that share one daemon cycle
REPOS_PER = 3                               # repositories a scenario may use


def repo_name(k, j):
    return "mbt/s%d-r%d" % (k, j)


REPOS = [repo_name(k, j) for k in range(BATCH) for j in range(REPOS_PER)]
STATE_TABLES = ("postmortem, action_item, external_link, item_event, sync_cursor, "
                "connector_status, item_flag, escalation")
ELSEWHERE = "mbt/elsewhere"                 # a repository no connector serves
PEOPLE = {"rf": "rf-gh", "pw": "pw-gh"}     # handle -> GitHub login
LOGINS = {v.lower(): k for k, v in PEOPLE.items()}
BEGIN = "<!-- closeloop:begin"
END = "<!-- closeloop:end -->"
DUE_RE = re.compile(r"^\*\*Due date:\*\* *(\S+)[ \t]*$", re.M)
ITEM_RE = re.compile(r"<!-- closeloop:begin[^>]*\bitem=(\d+)")
TOKEN_RE = re.compile(r"<!-- closeloop:begin[^>]*\btoken=(\S+)")
DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
COLS = "id, title, description, state, priority, type, owner, due_date::text"


def sql_lit(v):
    return "NULL" if v is None else "'" + str(v).replace("'", "''") + "'"


class World:
    """Cluster + simulator for many batches of scenarios; the ledger is
    emptied (but keeps its schema and directory) for every batch."""

    def __init__(self, port, log):
        self.log = log
        self.dir = H.workdir("mbt-")
        self.port = port
        self.cluster = H.Cluster(self.dir, port)
        self.sim = H.Simulator(self.dir, H.SIM_RAISED_LIMITS)
        self.directory = os.path.join(self.dir, "directory.conf")
        self.names = {r: r for r in REPOS}      # repository -> its name now (renamed)
        self.pending = {}                       # renamed, routing not updated yet: old -> new
        self.renames = 0
        self.policy = {}
        self.write_directory()
        self.config = os.path.join(self.dir, "closeloop.conf")
        self.dsn = self.cluster.createdb("mbt")
        self.write_config({})
        H.closeloop("migrate", "-c", self.config)
        H.closeloop("directory", "load", "-c", self.config)
        self.team = {r[1]: int(r[0]) for r in H.psql(self.dsn, "SELECT id, target FROM team")}

    def write_directory(self):
        H.write_directory(self.directory,
                          [("team-%s" % r.split("/")[1], "plat", CONN, self.names[r]) for r in REPOS],
                          people=[(h, h.upper(), g) for h, g in PEOPLE.items()])

    def write_config(self, policy):
        self.policy = policy
        H.write_config(self.config, self.dsn, self.sim.url, [self.names[r] for r in REPOS],
                       directory=self.directory, connector=CONN, policy=policy, max_attempts=3,
                       request_timeout=2, max_inflight=4, pacing=H.RAISED_PACING,
                       extra="create_min_age = 0;\n")

    def new_ledger(self, policy):
        """An empty ledger (schema and directory kept) and an empty tracker."""
        self.q("TRUNCATE %s RESTART IDENTITY CASCADE" % STATE_TABLES)
        renamed = any(n != r for r, n in self.names.items())
        self.names = {r: r for r in REPOS}
        self.pending = {}
        self.write_config(policy)
        if renamed:
            self.write_directory()
            H.closeloop("directory", "load", "-c", self.config)
        self.sim.call("POST", "/_sim/reset", {})
        self.sim.seed({"repos": {r: {"issues": []} for r in REPOS + [ELSEWHERE]}})

    # ---- repositories renamed on GitHub -------------------------------------
    def rename(self, repo):
        """Rename repo (its original name) on the tracker (the simulator's
        control API: PATCH /repos/{o}/{r} {"name"}); returns the new name.
        The routing still names the old one until the daemon has re-pointed
        the links (route_renamed)."""
        old = self.names[repo]
        o, r = old.split("/")
        self.renames += 1
        new = "%s-v%d" % (repo, self.renames)
        self.sim.call("POST", "/_sim/repos/%s/%s/rename" % (o, r), {"name": new.split("/")[1]})
        self.names[repo] = new
        first = next((k for k, v in self.pending.items() if v == old), old)
        self.pending[first] = new
        return new

    def route_renamed(self):
        """The operator, told by the daemon ("... was renamed on the tracker
        to ...: update the routing") once it re-pointed the links (or when
        no link named the old name), updates the connector's targets and
        the directory's team targets.  Returns the renames routed."""
        done = []
        for old, new in list(self.pending.items()):
            n = self.q("SELECT count(*) FILTER (WHERE lower(target) = lower(%s)), "
                       "count(*) FILTER (WHERE lower(target) = lower(%s)) FROM external_link"
                       % (sql_lit(old), sql_lit(new)))[0]
            if int(n[0]) == 0 or int(n[1]) > 0:
                done.append((old, new))
                del self.pending[old]
        if done:
            self.write_config(self.policy)
            self.write_directory()
            H.closeloop("directory", "load", "-c", self.config)
        return done

    def q(self, sql):
        return H.psql(self.dsn, sql)

    def add_items(self, items):
        """items: list of (repo, {field: value}), inserted in that order;
        returns their ids in the same order."""
        stmts = ["INSERT INTO postmortem (reference, title) VALUES ('PM-MBT', 'Model-based scenarios')"]
        for repo, v in items:
            stmts.append("INSERT INTO action_item (postmortem_id, title, description, state, priority, "
                         "type, owner, due_date, team_id) SELECT p.id, %s, %s, %s, %s, %s, %s, %s, %d "
                         "FROM postmortem p WHERE p.reference = 'PM-MBT'"
                         % (sql_lit(v["title"]), sql_lit(v["description"]), sql_lit(v["state"]),
                            sql_lit(v["priority"]), sql_lit(v["type"]), sql_lit(v["owner"]),
                            sql_lit(v["due_date"]), self.team[repo]))
        self.q("BEGIN; %s; COMMIT" % "; ".join(stmts))
        return [int(r[0]) for r in self.q("SELECT id FROM action_item ORDER BY id")]

    # ---- cycles -----------------------------------------------------------
    def sync_args(self):
        return [H.BIN, "sync", "--once", "-c", self.config]

    def spawn(self):
        f = open(os.path.join(self.dir, "sync.log"), "a")
        return subprocess.Popen(self.sync_args(), stdout=f, stderr=subprocess.STDOUT, env=H.env()), f

    def sync(self, timeout=120):
        """One `closeloop sync --once`; returns its exit status (a crash is
        a negative signal number)."""
        p, f = self.spawn()
        try:
            return p.wait(timeout)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
            return "hung"
        finally:
            f.close()

    def sync_killed(self, after_s):
        p, f = self.spawn()
        time.sleep(after_s)
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
        rc = p.wait()
        f.close()
        return rc

    def sync_twice_at_once(self):
        a, fa = self.spawn()
        b, fb = self.spawn()
        ra, rb = a.wait(120), b.wait(120)
        fa.close()
        fb.close()
        return ra if ra not in (0, 1) else rb

    def sync_with_pg_restart(self, after_s):
        p, f = self.spawn()
        time.sleep(after_s)
        self.cluster.stop(keep=True)
        self.cluster = H.Cluster(self.dir, self.port)
        try:
            rc = p.wait(120)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = "hung"
        f.close()
        return rc

    def close(self):
        self.sim.stop()
        self.cluster.stop()

    # ---- readings ---------------------------------------------------------
    def ledger(self):
        rows = json.loads(self.q("SELECT coalesce(jsonb_agg(t ORDER BY id), '[]') FROM (SELECT %s "
                                 "FROM action_item) t" % COLS.replace("due_date::text", "due_date::text AS due_date"))[0][0])
        return {int(r["id"]): {k: r[k] for k in ("title", "description", "state", "priority", "type",
                                                 "owner", "due_date")} for r in rows}

    def tickets(self):
        """Every live issue in every repository, with the item id its block
        names: list of (repo, issue)."""
        allrep = self.sim.call("GET", "/_sim/issues")
        out = []
        for repo, issues in allrep.items():
            for i in issues:
                if i.get("deleted") or i.get("transferred_to") or i.get("pull_request"):
                    continue
                out.append((repo, i))
        return out


def item_of(issue):
    m = ITEM_RE.findall(issue.get("body") or "")
    return int(m[0]) if m else None


def tokens_of(issue):
    return TOKEN_RE.findall(issue.get("body") or "")


def remote_fields(issue):
    """The ticket read the way docs/reconcile.md maps it: description is
    the body above the first block, the due date the last valid date of a
    block (no block at all: M.UNREAD, the block is restored with the
    ledger's due date)."""
    body = (issue.get("body") or "").replace("\r\n", "\n")
    k = body.find(BEGIN)
    desc = (body if k < 0 else body[:k]).strip() or None
    due = None if k >= 0 else M.UNREAD
    for blk in re.findall(re.escape(BEGIN) + r".*?(?:" + re.escape(END) + r"|\Z)", body, re.S):
        for d in DUE_RE.findall(blk):
            if DATE_RE.match(d) and valid_date(d):
                due = d
    labels = [l["name"] if isinstance(l, dict) else l for l in issue.get("labels") or []]
    if issue.get("state") == "closed":
        state = "wont_do" if issue.get("state_reason") == "not_planned" else "done"
    else:
        state = "in_progress" if "status: in progress" in labels else "open"
    pri = [l[len("priority: "):] for l in labels if l.startswith("priority: ")]
    typ = [l[len("type: "):] for l in labels if l.startswith("type: ")]
    ass = [a["login"] if isinstance(a, dict) else a for a in issue.get("assignees") or []]
    return {"title": issue.get("title"), "description": desc, "state": state,
            # two labels of one kind (a label change cut short between
            # adding the new one and taking the old one off): the last, as
            # connectors/github_body.c reads them
            "priority": pri[-1] if pri else None, "type": typ[-1] if typ else None,
            "owner": LOGINS.get(ass[0].lower()) if ass else None, "due_date": due}


def valid_date(d):
    try:
        time.strptime(d, "%Y-%m-%d")
        return True
    except ValueError:
        return False


def label_names(issue):
    return [l["name"] if isinstance(l, dict) else l for l in issue.get("labels") or []]


def json_leaves(s):
    try:
        doc = json.loads(s)
    except ValueError:
        return set()
    out = set()

    def walk(x):
        if isinstance(x, dict):
            for v in x.values():
                walk(v)
        elif isinstance(x, list):
            for v in x:
                walk(v)
        else:
            out.add(x)
    walk(doc)
    return out
