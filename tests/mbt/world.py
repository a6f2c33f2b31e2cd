"""world.py — the real things a model-based scenario runs against: one
PostgreSQL cluster, the tracker simulators (tests/mbt/trackers.py:
GitHub, Jira Cloud, ServiceNow) and the real `closeloop` binary
(tests/integration/harness.py), a fresh ledger per batch copied from a
migrated template, and the readings of both sides the model is fed.

Standard library only."""

import concurrent.futures
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import trackers as T  # noqa: E402
from trackers import H  # noqa: E402

BATCH = 10                                  # scenarios that share one daemon cycle
TARGETS_PER = 3                             # targets a scenario may use per tracker
STATE_TABLES = ("postmortem, action_item, external_link, item_event, sync_cursor, "
                "connector_status, item_flag, escalation, item_route")
COLS = "id, title, description, state, priority, type, owner, due_date::text"


def sql_lit(v):
    return "NULL" if v is None else "'" + str(v).replace("'", "''") + "'"


class Session:
    """One psql session kept open for a world's ledger statements: a
    statement costs a round trip instead of a psql start-up and a new
    connection (about 0.3 s each at load 9, a quarter of a scenario's wall
    time when each reading started its own psql).  Same output as
    harness.psql (rows of strings split on \\x1f, '' for NULL); an error
    ends the session (ON_ERROR_STOP) and raises with psql's message; the
    next statement starts a new one."""

    END = "--mbt-statement-done--"

    def __init__(self, dsn):
        self.dsn = dsn
        self.proc = None

    def start(self):
        self.err = tempfile.TemporaryFile(mode="w+")
        self.proc = subprocess.Popen([H.PSQL, "-X", "-q", "-A", "-t", "-F", "\x1f", "-v", "ON_ERROR_STOP=1",
                                      "-d", self.dsn], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.err, text=True)

    def q(self, sql):
        if self.proc is None or self.proc.poll() is not None:
            self.start()
        rows = []
        try:
            self.proc.stdin.write("%s;\n\\echo %s\n" % (sql, self.END))
            self.proc.stdin.flush()
            for line in iter(self.proc.stdout.readline, ""):
                line = line.rstrip("\n")
                if line == self.END:
                    return rows
                if line:
                    rows.append(line.split("\x1f"))
        except BrokenPipeError:
            pass
        self.proc.wait()
        self.err.seek(0)
        msg = self.err.read()
        self.close()
        raise RuntimeError("psql failed: %s\n%s" % (sql, msg))

    def close(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.stdin.close()
                self.proc.wait()
            self.err.close()
            self.proc = None


class World:
    """Cluster + simulators for many batches of scenarios; the ledger is
    emptied (but keeps its schema and directory) for every batch."""

    def __init__(self, port, log):
        self.log = log
        self.dir = H.workdir("mbt-")
        self.sync_log_at = None   # sync.log read up to here (scan_sync_log)
        self.port = port
        self.cluster = H.Cluster(self.dir, port)
        os.environ["CLOSELOOP_MBT_HOOK_SECRET"] = T.HOOK_SECRET     # H.env() passes it on
        self.hook_port = H.free_port()
        self.trackers = {k: cls(self.dir) for k, cls in T.KINDS.items()}
        self.targets = {k: [t.target(s, j) for s in range(BATCH) for j in range(TARGETS_PER)]
                        for k, t in self.trackers.items()}
        self.trackers["jira"].reset(self.targets["jira"])
        # GitHub repositories renamed on the tracker: original -> name now,
        # and the renames the routing does not follow yet (old -> new)
        self.names = {r: r for r in self.targets["github"]}
        self.pending = {}
        self.renames = 0
        self.policy = {}
        self.directory = os.path.join(self.dir, "directory.conf")
        self.write_directory()
        self.config = os.path.join(self.dir, "closeloop.conf")
        self.dsn = self.cluster.createdb("mbt")
        self.db = Session(self.dsn)
        self.write_config({})
        H.closeloop("migrate", "-c", self.config)
        H.closeloop("directory", "load", "-c", self.config)
        self.team = {(r[1], r[2]): int(r[0]) for r in self.q("SELECT id, connector, target FROM team")}

    def write_directory(self):
        teams = []
        for k, t in self.trackers.items():
            for tg in self.targets[k]:
                teams.append('  { name = "%s"; platform = "plat"; connector = "%s"; target = "%s"; }'
                             % (self.team_name(k, tg), t.conn, self.names.get(tg, tg)))
        gh, ji, sn = (self.trackers[k].people for k in ("github", "jira", "servicenow"))
        people = ['  { handle = "lead-plat"; name = "Lead"; email = "lead@example.com"; active = true; }']
        for h in T.HANDLES:
            people.append('  { handle = "%s"; name = "%s"; email = "%s@example.com"; github = "%s"; '
                          'jira_account_id = "%s"; servicenow_sys_id = "%s"; active = true; }'
                          % (h, h.upper(), h, gh[h], ji[h], sn[h]))
        with open(self.directory, "w") as f:
            f.write('platforms = ( { name = "plat"; lead = "lead-plat"; } );\nteams = (\n%s\n);\n'
                    'people = (\n%s\n);\n' % (",\n".join(teams), ",\n".join(people)))

    def write_config(self, policy):
        """closeloop.conf for the cycles (sync --once, which takes no
        deliveries) and closeloop-run.conf for a daemon taking webhook
        deliveries (debug log: the driver waits for it to go quiet; polling
        every hour, as the issue's webhook tests run it: a poll cycle
        landing between a round's ticket edits and its ledger edits would
        see them one after the other, the ticket's pulled before the
        ledger's, where the model takes a round's edits as simultaneous
        and expects their conflict in item_event -- seed 3200 of the
        multi soak, owner; the round's cycles are the ones its deliveries
        and its ledger edits wake, after both sides' edits)."""
        self.policy = policy
        pol = "".join('  %s = "%s";\n' % kv for kv in sorted(policy.items()))
        text = ('database = { dsn = "%s"; };\nlog_level = "@LEVEL@";\npoll_interval = 10;\n'
                'notify_debounce_ms = 200;\noverlap = 120;\ndirectory = "%s";\ncreate_min_age = 0;\n'
                'webhooks = { listen = "127.0.0.1:%d"; };\n'
                % (self.dsn if hasattr(self, "dsn") else "", self.directory, self.hook_port))
        if pol:
            text += "conflict_policy = {\n%s};\n" % pol
        text += "connectors = ( %s );\n" % ", ".join(
            t.connector([self.names.get(x, x) for x in self.targets[k]]) for k, t in self.trackers.items())
        with open(self.config, "w") as f:
            f.write(text.replace("@LEVEL@", "info"))
        with open(self.config.replace(".conf", "-run.conf"), "w") as f:
            f.write(text.replace("@LEVEL@", "debug").replace("poll_interval = 10;", "poll_interval = 3600;"))

    def new_ledger(self, policy):
        """An empty ledger (schema and directory kept) and empty trackers."""
        self.q("TRUNCATE %s RESTART IDENTITY CASCADE" % STATE_TABLES)
        renamed = any(n != r for r, n in self.names.items())
        self.names = {r: r for r in self.targets["github"]}
        self.pending = {}
        self.renames = 0          # a batch names its renamed repositories as in its replay
        for k, t in self.trackers.items():
            t.reset(self.targets[k])
        self.write_config(policy)
        if renamed:
            self.write_directory()
            H.closeloop("directory", "load", "-c", self.config)

    # ---- repositories renamed on GitHub -------------------------------------
    def rename(self, repo):
        """Rename repo (its original name) on GitHub; returns (the new
        name, routed at once?).  The routing still names the old one until
        the daemon has re-pointed the links (route_renamed) -- but every
        third rename of a batch the operator routes to the new name at
        once, before any cycle met the old name's redirect (the links then
        name a target no longer configured: reconcile.c on_stranded)."""
        old = self.names[repo]
        self.renames += 1
        new = "%s-v%d" % (repo, self.renames)
        self.trackers["github"].rename(old, new)
        self.names[repo] = new
        if self.renames % 3 == 0:
            self.pending = {}     # the rewrite routes every rename so far
            self.write_config(self.policy)
            self.write_directory()
            H.closeloop("directory", "load", "-c", self.config)
            return new, True
        first = next((k for k, v in self.pending.items() if v == old), old)
        self.pending[first] = new
        return new, False

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
        return self.db.q(sql)

    def add_items(self, items):
        """items: list of (tracker, target, {field: value}), inserted in
        that order; returns their ids in the same order."""
        stmts = ["INSERT INTO postmortem (reference, title) VALUES ('PM-MBT', 'Model-based scenarios')"]
        for kind, target, v in items:
            stmts.append("INSERT INTO action_item (postmortem_id, title, description, state, priority, "
                         "type, owner, due_date, team_id) SELECT p.id, %s, %s, %s, %s, %s, %s, %s, %d "
                         "FROM postmortem p WHERE p.reference = 'PM-MBT'"
                         % (sql_lit(v["title"]), sql_lit(v["description"]), sql_lit(v["state"]),
                            sql_lit(v["priority"]), sql_lit(v["type"]), sql_lit(v["owner"]),
                            sql_lit(v["due_date"]), self.team[(self.trackers[kind].conn, target)]))
        self.q("BEGIN; %s; COMMIT" % "; ".join(stmts))
        return [int(r[0]) for r in self.q("SELECT id FROM action_item ORDER BY id")]

    def import_doc(self, path, team):
        """`closeloop import` of one postmortem document for team."""
        return H.closeloop("import", "-c", self.config, "--platform", "plat", "--team", team, path)

    def flags_once(self):
        """One run of the flags (`closeloop flags --once`)."""
        H.closeloop("flags", "--once", "-c", self.config)

    def team_name(self, kind, target):
        return "team-%s-%s" % (kind, target.replace("/", "-").lower())

    def link(self, item, kind, target):
        """`closeloop link ITEM CONNECTOR TARGET`: one more ticket for the item."""
        H.closeloop("link", "-c", self.config, str(item), self.trackers[kind].conn, target)

    def link_all(self, links):
        """link() for each (item, tracker, target), four at a time: each
        writes its own item_route row (one per item and connector), so the
        order they land in does not matter, and a batch of multi scenarios
        has a hundred of them."""
        with concurrent.futures.ThreadPoolExecutor(4) as ex:
            list(ex.map(lambda x: self.link(*x), links))

    # ---- cycles -----------------------------------------------------------
    def sync_args(self):
        return [H.BIN, "sync", "--once", "-c", self.config]

    spawned = 0                             # sync processes started (their session names)

    def spawn(self):
        """One `closeloop sync --once` writing to sync.log: (process, log
        file).  Its ledger sessions are named after it (libpq's PGAPPNAME;
        the daemon sets no application_name), process.appname, for
        sessions_gone()."""
        f = open(os.path.join(self.dir, "sync.log"), "a")
        if self.sync_log_at is None:
            self.sync_log_at = f.tell()
        self.spawned += 1
        name = "closeloop-mbt-%d-%d" % (os.getpid(), self.spawned)
        p = subprocess.Popen(self.sync_args(), stdout=f, stderr=subprocess.STDOUT,
                             env=dict(H.env(), PGAPPNAME=name))
        p.appname = name
        return p, f

    def sessions_gone(self, appname, timeout=30):
        """Wait until no ledger session is named appname; False if one
        still is after timeout seconds.  A daemon killed -9 while its
        statement ran leaves that backend running: the statement ends,
        commits, and only then does the backend find its client gone (or
        within client_connection_check_interval, which the daemon sets to
        5 s: daemon/ledger/db.c).  Seed 22 of the soak: the adoption of two
        tickets raised in ServiceNow, sent just before the kill, committed
        between the driver's reading of the ledger and its reading of the
        links, so the links named items the reading had not seen ("linked
        to item 158 that is not in the ledger")."""
        deadline = time.time() + timeout
        while True:
            n = self.q("SELECT count(*) FROM pg_stat_activity WHERE application_name = %s" % sql_lit(appname))
            if int(n[0][0]) == 0:
                return True
            if time.time() >= deadline:
                return False
            time.sleep(0.05)

    def scan_sync_log(self):
        """Copy the sanitizer reports the cycles since the last call wrote
        into sync.log to the harness's SAN_DIR (harness.san_scan)."""
        if self.sync_log_at is None:
            return
        with open(os.path.join(self.dir, "sync.log"), "rb") as f:
            f.seek(self.sync_log_at)
            text = f.read()
        self.sync_log_at += len(text)
        H.san_scan(text.decode(errors="replace"), "closeloop sync --once (%s/sync.log)" % self.dir)

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
        """A `closeloop sync --once` killed -9 after after_s seconds; once
        its ledger sessions have ended too (sessions_gone): the cycle is
        over only when nothing it sent can still commit.  Its exit status,
        or "sessions" when they were still there 30 s after the kill."""
        p, f = self.spawn()
        time.sleep(after_s)
        if p.poll() is None:
            p.send_signal(signal.SIGKILL)
        rc = p.wait()
        f.close()
        return rc if self.sessions_gone(p.appname) else "sessions"

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
        self.db.close()
        self.cluster.stop(keep=True)
        self.cluster = H.Cluster(self.dir, self.port)
        try:
            rc = p.wait(120)
        except subprocess.TimeoutExpired:
            p.kill()
            rc = "hung"
        f.close()
        return rc

    def start_daemon(self):
        """`closeloop run` taking webhook deliveries, once its first cycle
        is complete and its log has gone quiet; None when it failed."""
        d = H.Daemon(self.config.replace(".conf", "-run.conf"), os.path.join(self.dir, "run.log"))
        if not d.wait_log("first reconcile cycle complete", 120, start=self.log_size()):
            d.stop()
            return None
        self.wait_quiet(d)
        return d

    def log_size(self):
        try:
            return os.path.getsize(os.path.join(self.dir, "run.log"))
        except OSError:
            return 0

    def wait_quiet(self, d, quiet_s=1.5, timeout=30):
        """Until the daemon's debug log has not grown for quiet_s."""
        deadline = time.time() + timeout
        size, since = self.log_size(), time.time()
        while time.time() < deadline and d.proc.poll() is None:
            time.sleep(0.1)
            n = self.log_size()
            if n != size:
                size, since = n, time.time()
            elif time.time() - since >= quiet_s:
                return True
        return False

    def post(self, kind, headers, body):
        """POST /hooks/<connector>: the answer's status."""
        req = urllib.request.Request("http://127.0.0.1:%d/hooks/%s" % (self.hook_port, self.trackers[kind].conn),
                                     data=body, method="POST")
        req.add_header("Content-Type", "application/json")
        for k, v in headers.items():
            req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code

    def close(self):
        for t in self.trackers.values():
            t.stop()
        self.db.close()
        self.cluster.stop()

    # ---- readings ---------------------------------------------------------
    def ledger(self):
        """{item id: {field: value, "_ms": {field: ms}}}: "_ms" is when each
        field's value was set at its source, as newest_wins reads it
        (docs/reconcile.md "Change times"): the latest item_event.changed_at
        of the field, else the item's updated_at."""
        rows = json.loads(self.q(
            "SELECT coalesce(jsonb_agg(t ORDER BY id), '[]') FROM (SELECT %s, "
            "floor(extract(epoch FROM updated_at) * 1000)::bigint AS ms, "
            "(SELECT jsonb_object_agg(e.field, floor(extract(epoch FROM e.t) * 1000)::bigint) "
            " FROM (SELECT ev.field, max(ev.changed_at) AS t FROM item_event ev "
            "  WHERE ev.action_item_id = a.id GROUP BY ev.field) e) AS field_ms "
            "FROM action_item a) t" % COLS.replace("due_date::text", "due_date::text AS due_date"))[0][0])
        out = {}
        for r in rows:
            row = {k: r[k] for k in T.ALL_FIELDS}
            fms = r["field_ms"] or {}
            row["_ms"] = {k: fms.get(k, r["ms"]) for k in T.ALL_FIELDS}
            out[int(r["id"])] = row
        return out

    def tokens(self):
        """{create token: item id} of every link."""
        return {r[0]: int(r[1]) for r in self.q("SELECT create_token, action_item_id FROM external_link "
                                                "WHERE create_token IS NOT NULL")}

    def tickets(self, kinds):
        """Every live ticket of the trackers named in kinds; a ticket's
        item is the one its block names, else its token's link's."""
        toks = self.tokens()
        out = []
        for k in kinds:
            for t in self.trackers[k].tickets():
                if t["item"] is None and t["token"] in toks:
                    t["item"] = toks[t["token"]]
                out.append(t)
        return out


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
