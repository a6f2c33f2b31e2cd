#!/usr/bin/env python3
"""Discovery over BENCH_DISCOVER_TICKETS (default 10,000) candidate tickets
in each tracker (docs/architecture.md "Discovery"), part of `make bench`
and alone as `make bench-discover`:

  - github: issues of BENCH_DISCOVER_TARGETS (default 10) repositories of
    the GitHub simulator, every one carrying the discovery label;
  - github-project: the same issues without the label, every one an item
    of its repository's Projects (v2) board, under the rule `project =
    "disc/N"` (one board per repository, read through GraphQL: a probe a
    listing, the board paged when it changed; the board as last read is
    kept in the ledger, so each new process's quiet cycle only probes);
  - jira: issues of as many Jira Cloud projects (tests/sim/jira_sim.py),
    every one carrying the label a JQL rule (`labels = "..."`) asks for;
  - servicenow: problems of as many assignment groups
    (tests/sim/servicenow_sim.py) under the rule `reported_by_incident =
    true; category = "software"`, every one reported by an incident of its
    own (first_reported_by_task) with that category;
  - servicenow-related: the same under `related_incident = true`, every
    problem pointed at by an incident of its own (the incident's
    problem_id), asked about with one incident query per listed page.

The worst case, every candidate adopted; one in ten names one of 500
postmortems in its description.  BENCH_DISCOVER=github,jira,... picks the
trackers (all by default).  For each tracker, cycles of `closeloop sync
--once`:

  - "first pass": adopts them all;
  - (Jira) "settle cycle": Jira's clock moved on past search_settle_ms
    (/_sim/clock), that cycle takes the validator the quiet cycles check;
  - "quiet cycle": nothing changed;
  - "quiet, no rule": the same quiet cycle with the discovery rules taken
    out of the configuration: the rule must cost nothing on a quiet cycle
    (the same requests, no more statements);
  - "rule taken off": one ticket stops matching (label taken off; taken
    off the board; category
    changed; the incident's problem_id cleared and the problem edited):
    the item is kept and flagged.

For each: wall time, the daemon's CPU and peak RSS (/usr/bin/time around
the daemon alone), PostgreSQL's CPU (every process of the cluster, from
/proc), the simulator's CPU, HTTP requests by kind (the simulator's
counts) and ledger statements (the daemon's summary line).  Figures are
reported, not asserted, except that a quiet cycle's requests with the
rule and without it are compared and the difference printed.  As in
tests/bench/bench.py the GitHub simulator's rate limits are raised;
nothing is created anywhere (the bench counts the tickets closeloop made).
"""

import base64
import http.client
import json
import os
import re
import sys
import time
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness as H  # noqa: E402
import bench as B  # noqa: E402

TICKETS = int(os.environ.get("BENCH_DISCOVER_TICKETS", "10000"))
TARGETS = int(os.environ.get("BENCH_DISCOVER_TARGETS", os.environ.get("BENCH_DISCOVER_REPOS", "10")))
LABEL = "postmortem-action"
POSTMORTEMS = 500


def description(n):
    """Every tenth ticket names a postmortem by its reference."""
    if n % 10 == 0:
        return "Raised in the review of PM-2026-%04d." % (n % POSTMORTEMS + 1)
    return "Raised by the team during the incident review."


class KeepAlive:
    """POSTs of JSON over one HTTP/1.1 connection (seeding 10,000 tickets
    one request each)."""

    def __init__(self, url, headers=None):
        u = urllib.parse.urlparse(url)
        self.c = http.client.HTTPConnection(u.hostname, u.port, timeout=60)
        self.headers = dict(headers or {}, **{"Content-Type": "application/json"})

    def post(self, path, body):
        self.c.request("POST", path, json.dumps(body), self.headers)
        r = self.c.getresponse()
        raw = r.read()
        if r.status >= 300:
            raise RuntimeError("POST %s: HTTP %d %s" % (path, r.status, raw[:300]))
        return json.loads(raw) if raw else None

    def close(self):
        self.c.close()


class Part:
    """One tracker's part of the bench; the driver (run_part) does the rest.

    name, conn   the part's name and its connector's
    columns      the request kinds printed, in order: (key, heading)"""
    name = conn = None
    columns = ()
    settle = None             # a callable run before the settle cycle, or None (no such cycle)

    def targets(self):
        raise NotImplementedError

    def start(self, wd):
        """Start the simulator."""
        raise NotImplementedError

    def people(self):
        """The directory's people lines (identities on this tracker)."""
        raise NotImplementedError

    def connector(self, rules):
        """The connector group; rules: with the discovery rules."""
        raise NotImplementedError

    def seed(self, n):
        """n candidate tickets, spread evenly over the targets."""
        raise NotImplementedError

    def reset_stats(self):
        raise NotImplementedError

    def stats(self):
        """{kind: requests} since reset_stats, "total" among them."""
        raise NotImplementedError

    def take_rule_off(self):
        """One adopted ticket stops matching the rule."""
        raise NotImplementedError

    def created(self):
        """Tickets closeloop created (must be 0)."""
        raise NotImplementedError

    def stop(self):
        self.sim.stop()


class GitHub(Part):
    name, conn = "github", "github-bench"
    columns = (("list", "list"), ("get", "get"), ("create", "create"), ("update", "update"),
               ("not_modified", "304"))
    relaxed = "the GitHub simulator's rate limits raised, as tests/bench/bench.py"

    def targets(self):
        return ["disc/repo%02d" % i for i in range(TARGETS)]

    def start(self, wd):
        self.sim = H.Simulator(wd, ["--rate-limit", str(B.SIM_RATE_LIMIT)] + list(H.SIM_RAISED_LIMITS),
                               repos=self.targets())

    def people(self):
        return ['github = "user%d-gh";' % i for i in range(7)]

    def connector(self, rules):
        disc = " discover = ( %s );" % ", ".join('{ target = "%s"; label = "%s"; }' % (t, LABEL)
                                                 for t in self.targets()) if rules else ""
        return ('{ name = "%s"; type = "github"; base_url = "%s"; token_env = "CLOSELOOP_GITHUB_TOKEN"; '
                'targets = [ %s ]; max_inflight = 8; max_attempts = 5; request_timeout = 10; '
                'write_spacing_ms = %d; creates_per_minute = %d; creates_per_hour = %d;%s }'
                % ((self.conn, self.sim.url, ", ".join('"%s"' % t for t in self.targets()))
                   + B.BENCH_PACING + (disc,)))

    def seed(self, n):
        per = n // TARGETS
        for r, repo in enumerate(self.targets()):
            for b in range(0, per, 1000):
                self.sim.seed({"repos": {repo: {"issues": [
                    {"title": "Discovered action item %d" % (r * per + k), "body": description(r * per + k),
                     "labels": [LABEL, "team-work"], "assignees": ["user%d-gh" % (k % 7)]}
                    for k in range(b, min(per, b + 1000))]}}})
        return per * TARGETS

    def reset_stats(self):
        self.sim.reset_stats()

    def stats(self):
        return self.sim.stats()

    def take_rule_off(self):
        self.sim.edit(self.targets()[0], 1, {"labels": ["team-work"]})

    def created(self):
        return sum(1 for r in self.targets() for i in self.sim.live_issues(r)
                   if "closeloop:begin" in (i.get("body") or ""))


class GitHubProject(GitHub):
    """The issues of each repository on a board of its own (disc/1, ...)."""
    name = "github-project"
    columns = GitHub.columns + (("graphql", "GraphQL"),)

    def connector(self, rules):
        text = GitHub.connector(self, False)
        if not rules:
            return text
        disc = " discover = ( %s );" % ", ".join('{ target = "%s"; project = "disc/%d"; }'
                                                 % (t, i + 1) for i, t in enumerate(self.targets()))
        return text[:-1] + disc + " }"

    def seed(self, n):
        per = n // TARGETS
        for r, repo in enumerate(self.targets()):
            for b in range(0, per, 1000):
                self.sim.seed({"repos": {repo: {"issues": [
                    {"number": k + 1, "title": "Discovered action item %d" % (r * per + k),
                     "body": description(r * per + k), "labels": ["team-work"],
                     "assignees": ["user%d-gh" % (k % 7)]}
                    for k in range(b, min(per, b + 1000))]}}})
        admin = KeepAlive(self.sim.url)
        try:
            for r, repo in enumerate(self.targets()):
                admin.post("/_sim/projects", {"owner": "disc", "number": r + 1})
                for k in range(per):
                    admin.post("/_sim/projects/items", {"owner": "disc", "number": r + 1,
                                                        "repo": repo, "issue": k + 1})
        finally:
            admin.close()
        return per * TARGETS

    def take_rule_off(self):
        self.sim.call("DELETE", "/_sim/projects/items", {"owner": "disc", "number": 1,
                                                        "repo": self.targets()[0], "issue": 1})


JIRA_USERS = ["5b10a2844c201657%08d" % i for i in range(7)]


class Jira(Part):
    name, conn = "jira", "jira-bench"
    columns = (("list", "search"), ("rule", "rule search"), ("get", "get"), ("create", "create"),
               ("edit", "edit"))
    relaxed = "none (the Jira simulator enforces no rate limit unless asked)"

    def targets(self):
        return ["DISC%02d" % i for i in range(TARGETS)]

    def start(self, wd):
        args = ["--search-lag-ms", "1000"]
        for p in self.targets():
            args += ["--project", p]
        for u in JIRA_USERS:
            args += ["--user", u]
        self.sim = H.JiraSimulator(wd, args)
        self.mark = 0
        self.settle = lambda: self.sim.call("POST", "/_sim/clock", {"advance_s": 150})

    def people(self):
        return ['jira_account_id = "%s";' % u for u in JIRA_USERS]

    def connector(self, rules):
        disc = " discover = ( %s );" % ", ".join(
            '{ target = "%s"; jql = "labels = \\"%s\\""; }' % (t, LABEL) for t in self.targets()) if rules else ""
        return ('{ name = "%s"; type = "jira"; base_url = "%s"; token_env = "CLOSELOOP_JIRA_CREDENTIALS"; '
                'targets = [ %s ]; max_inflight = 8; max_attempts = 5; request_timeout = 10; '
                'write_spacing_ms = 0;%s }'
                % (self.conn, self.sim.url, ", ".join('"%s"' % t for t in self.targets()), disc))

    def seed(self, n):
        per = n // TARGETS
        cred = "%s:%s" % (H.JIRA_EMAIL, H.JIRA_API_TOKEN)
        c = KeepAlive(self.sim.url, {"Authorization": "Basic " + base64.b64encode(cred.encode()).decode()})
        try:
            for r, p in enumerate(self.targets()):
                for k in range(per):
                    n = r * per + k
                    c.post("/rest/api/3/issue", {"fields": {
                        "project": {"key": p}, "issuetype": {"name": "Task"},
                        "summary": "Discovered action item %d" % n,
                        "description": {"type": "doc", "version": 1, "content": [
                            {"type": "paragraph", "content": [{"type": "text", "text": description(n)}]}]},
                        "labels": [LABEL, "team-work"], "assignee": {"accountId": JIRA_USERS[k % 7]}}})
        finally:
            c.close()
        return per * TARGETS

    def reset_stats(self):
        self.mark = len(self.sim.requests())

    def stats(self):
        """Searches split: the listing's and the rule's (`id in (...)`,
        connectors/jira_discover.c)."""
        out = {"total": 0}
        for r in self.sim.requests()[self.mark:]:
            path = r["path"]
            jql = (r.get("body") or {}).get("jql") if isinstance(r.get("body"), dict) else None
            jql = jql or urllib.parse.parse_qs(r.get("query") or "").get("jql", [""])[0]
            kind = ("rule" if " id in (" in jql.lower() else "list") if "/search" in path else \
                "create" if path.endswith("/issue") and r["method"] == "POST" else \
                "edit" if r["method"] in ("PUT", "POST") else "get"
            out[kind] = out.get(kind, 0) + 1
            out["total"] += 1
        return out

    def take_rule_off(self):
        first = min(self.sim.issues(self.targets()[0]), key=lambda i: int(i["id"]))
        self.sim.call("POST", "/_sim/edit", {"id": first["id"], "fields": {"labels": ["team-work"]}})

    def created(self):
        return sum(1 for i in self.sim.issues() for lb in i["fields"].get("labels") or []
                   if lb.startswith("closeloop-") and not lb.startswith("closeloop-type-"))


SN_USERS = ["62826bf037102000%016d" % i for i in range(7)]


class ServiceNow(Part):
    """rule: the discover members; related: problems are pointed at by an
    incident's problem_id (else reported by it, first_reported_by_task)."""
    name, conn = "servicenow", "servicenow-bench"
    columns = (("list", "problem GET"), ("INCIDENT_QUERY", "incident query"), ("POST", "POST"),
               ("PATCH", "PATCH"))
    relaxed = "none (the ServiceNow simulator enforces no rate limit)"
    rule = 'reported_by_incident = true; category = "software";'
    related = False

    def targets(self):
        return ["%032x" % (0x8a4dde73c6112278017a6a4baf547b00 + i) for i in range(TARGETS)]

    def start(self, wd):
        self.sim = H.ServiceNowSimulator(wd)
        for u in SN_USERS:
            self.sim.call("POST", "/_sim/users", {"sys_id": u})

    def people(self):
        return ['servicenow_sys_id = "%s";' % u for u in SN_USERS]

    def connector(self, rules):
        disc = " discover = ( %s );" % ", ".join('{ target = "%s"; %s }' % (t, self.rule)
                                                 for t in self.targets()) if rules else ""
        return ('{ name = "%s"; type = "servicenow"; base_url = "%s"; token_env = "CLOSELOOP_SN_CREDENTIALS"; '
                'targets = [ %s ]; max_inflight = 8; max_attempts = 5; request_timeout = 10; '
                'write_spacing_ms = 0;%s }'
                % (self.conn, self.sim.url, ", ".join('"%s"' % t for t in self.targets()), disc))

    def seed(self, n):
        per = n // TARGETS
        c = KeepAlive(self.sim.url)
        self.first = None
        try:
            for r, g in enumerate(self.targets()):
                for k in range(per):
                    n = r * per + k
                    prb = {"short_description": "Discovered action item %d" % n,
                           "description": description(n), "assignment_group": g,
                           "assigned_to": SN_USERS[k % 7], "category": "software"}
                    inc = {"short_description": "Incident behind item %d" % n}
                    if self.related:
                        p = c.post("/_sim/records/problem", prb)
                        inc["problem_id"] = p["sys_id"]
                        i = c.post("/_sim/records/incident", inc)
                    else:
                        i = c.post("/_sim/records/incident", inc)
                        prb["first_reported_by_task"] = i["sys_id"]
                        p = c.post("/_sim/records/problem", prb)
                    if self.first is None:
                        self.first = (p["sys_id"], i["sys_id"])
        finally:
            c.close()
        return per * TARGETS

    def reset_stats(self):
        self.sim.call("POST", "/_sim/requests/reset", {})

    def stats(self):
        """GETs split: the incident queries and the rest (the problem
        listing, a record read)."""
        st = dict(self.sim.call("GET", "/_sim/requests"))
        st["list"] = st.get("GET", 0) - st.get("INCIDENT_QUERY", 0)
        st["total"] = st.get("GET", 0) + st.get("POST", 0) + st.get("PATCH", 0)
        return st

    def take_rule_off(self):
        prb, inc = self.first
        if self.related:
            # the incident no longer points at the problem; the problem is
            # listed again when it changes (docs/configuration.md)
            self.sim.call("PATCH", "/_sim/records/" + inc, {"problem_id": ""})
            self.sim.call("PATCH", "/_sim/records/" + prb, {"description": "Edited in ServiceNow."})
        else:
            self.sim.call("PATCH", "/_sim/records/" + prb, {"category": "hardware"})

    def created(self):
        return sum(1 for r in self.sim.records() if r.get("correlation_id"))


class ServiceNowRelated(ServiceNow):
    name = "servicenow-related"
    rule = "related_incident = true;"
    related = True


PARTS = {p.name: p for p in (GitHub, GitHubProject, Jira, ServiceNow, ServiceNowRelated)}


def write_conf(path, dsn, directory, part, rules):
    with open(path, "w") as f:
        f.write('database = { dsn = "%s"; };\nlog_level = "info";\npoll_interval = 10;\n'
                'overlap = 120;\ndirectory = "%s";\nconnectors = ( %s );\n'
                % (dsn, directory, part.connector(rules)))


def write_directory(path, part):
    teams = ['  { name = "team%02d"; platform = "bench"; connector = "%s"; target = "%s"; }'
             % (i, part.conn, t) for i, t in enumerate(part.targets())]
    people = ['  { handle = "user%d"; name = "User %d"; email = "user%d@example.com"; %s active = true; }'
              % (i, i, i, ident) for i, ident in enumerate(part.people())]
    with open(path, "w") as f:
        f.write('platforms = ( { name = "bench"; lead = "user0"; } );\nteams = (\n%s\n);\n'
                'people = (\n%s\n);\n' % (",\n".join(teams), ",\n".join(people)))


def run_part(cluster, wd, part):
    """The cycles of one tracker; returns its report (lines)."""
    pwd = os.path.join(wd, part.name)
    os.makedirs(pwd, exist_ok=True)
    part.start(pwd)
    rows = []
    try:
        dsn = cluster.createdb("bench_discover_" + part.name.replace("-", "_"))
        pm_pid = B.postmaster_pid(dsn)
        directory = os.path.join(pwd, "directory.conf")
        write_directory(directory, part)
        conf, bare = os.path.join(pwd, "closeloop.conf"), os.path.join(pwd, "closeloop-norule.conf")
        write_conf(conf, dsn, directory, part, True)
        write_conf(bare, dsn, directory, part, False)
        H.closeloop("check-config", "-c", conf)
        H.closeloop("migrate", "-c", conf)
        H.closeloop("directory", "load", "-c", conf)
        H.psql(dsn, "INSERT INTO postmortem (reference, title) SELECT 'PM-2026-' || lpad(g::text, 4, '0'),"
                    " 'Bench postmortem ' || g FROM generate_series(1, %d) g" % POSTMORTEMS)
        t0 = time.time()
        n = part.seed(TICKETS)
        print("%s: seeded %d candidate tickets in %d targets in %.1f s" % (part.name, n, TARGETS,
                                                                          time.time() - t0), flush=True)
        cycles = [("first pass", conf, None)]
        if part.settle:
            cycles.append(("settle cycle", conf, part.settle))
        cycles += [("quiet cycle", conf, None), ("quiet, no rule", bare, None),
                   ("rule taken off", conf, part.take_rule_off)]
        for name, cf, prep in cycles:
            if prep:
                prep()
            H.psql(dsn, "CHECKPOINT")
            B.wait_autovacuum(dsn)
            time.sleep(0.5)
            part.reset_stats()
            pg0, sim0 = B.cluster_cpu(pm_pid), B.proc_cpu(part.sim.proc.pid)
            wall, cpu, rss, err = B.run_daemon(["sync", "--once", "-c", cf])
            time.sleep(0.5)
            pg1, sim1 = B.cluster_cpu(pm_pid), B.proc_cpu(part.sim.proc.pid)
            rows.append((name, wall, cpu, rss, pg1 - pg0, sim1 - sim0, part.stats(), B.statements(err)))
            print("%s: %s done in %.1f s (load %s)" % (part.name, name, wall, load()), flush=True)
            if re.search(r"errors [1-9]", err):
                print(err[-1500:])
        items = int(H.scalar(dsn, "SELECT count(*) FROM action_item"))
        attached = int(H.scalar(dsn, "SELECT count(*) FROM action_item i JOIN postmortem p ON"
                                     " p.id = i.postmortem_id WHERE p.kind = 'document'"))
        left = int(H.scalar(dsn, "SELECT count(*) FROM external_link WHERE discover_left_at IS NOT NULL"))
        made = part.created()
    finally:
        part.stop()
    out = ["closeloop discovery benchmark, %s: %d candidate tickets in %d targets, all matching;"
           " %d adopted (%d attached to the postmortem they name, the rest to their team's"
           " unattached bucket), %d tickets created, %d flagged as no longer matching"
           % (part.name, n, TARGETS, items, attached, made, left)]
    heads = "/".join(h for _, h in part.columns)
    out.append("%-16s %7s %8s %8s %8s %8s  %-44s %6s" % (
        "cycle", "wall s", "daemon", "RSS MB", "PG CPU", "sim CPU", "HTTP requests (%s)" % heads, "stmts"))
    for name, wall, cpu, rss, pgc, simc, st, stm in rows:
        req = "%d (%s)" % (st.get("total", 0), "/".join(str(st.get(k, 0)) for k, _ in part.columns))
        out.append("%-16s %7.2f %8.3f %8.1f %8.3f %8.3f  %-44s %6s" % (
            name, wall, cpu, rss / 1024.0, pgc, simc, req, stm))
    quiet = {r[0]: r for r in rows}
    q, b = quiet["quiet cycle"], quiet["quiet, no rule"]
    out.append("quiet cycle, the rule's cost: %+d requests, %+d statements, %+.3f s PostgreSQL CPU"
               % (q[6].get("total", 0) - b[6].get("total", 0), q[7] - b[7], q[4] - b[4]))
    out.append("Relaxed: %s; nothing is created." % part.relaxed)
    return out


def load():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def main():
    if not os.access("/usr/bin/time", os.X_OK):
        print("bench: /usr/bin/time is needed (Debian package 'time')")
        return 1
    names = [x for x in os.environ.get("BENCH_DISCOVER", ",".join(PARTS)).split(",") if x]
    for x in names:
        if x not in PARTS:
            print("BENCH_DISCOVER: unknown tracker %r (%s)" % (x, ", ".join(PARTS)))
            return 2
    wd = H.workdir("bench-discover-")
    cluster = H.Cluster(wd, int(os.environ.get("BENCH_PGPORT", "54393")))
    reports = []
    try:
        for x in names:
            reports.append(run_part(cluster, wd, PARTS[x]()))
    finally:
        cluster.stop()
    for rep in reports:
        print()
        print("\n".join(rep))
    return 0


if __name__ == "__main__":
    sys.exit(main())
