#!/usr/bin/env python3
"""Discovery over BENCH_DISCOVER_TICKETS (default 10,000) candidate issues
(docs/architecture.md "Discovery"), part of `make bench`:

  - the GitHub simulator holds that many issues in BENCH_DISCOVER_REPOS
    (default 10) repositories, every one carrying the discovery label (the
    worst case: every candidate is adopted), one in ten naming one of 500
    postmortems by reference in its body;
  - "first pass": one `closeloop sync --once` adopts them all;
  - "quiet cycle": the next one, nothing changed;
  - "quiet, no rule": the same quiet cycle with the discovery rules taken
    out of the configuration, to show the rule costs nothing on a quiet
    cycle;
  - "label taken off": one issue loses its label (the item is kept and
    flagged).

For each: wall time, the daemon's CPU and peak RSS (/usr/bin/time around
the daemon alone), PostgreSQL's CPU (every process of the cluster, from
/proc), the simulator's CPU, HTTP requests by kind and ledger statements
(the daemon's summary line).  Figures are reported, not asserted.  As in
tests/bench/bench.py the simulator's rate limits are raised (a listing of
10,000 issues is 100 pages, well inside GitHub's 5,000 requests an hour
anyway; nothing is created).
"""

import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness as H  # noqa: E402
import bench as B  # noqa: E402

TICKETS = int(os.environ.get("BENCH_DISCOVER_TICKETS", "10000"))
REPOS = int(os.environ.get("BENCH_DISCOVER_REPOS", "10"))
LABEL = "postmortem-action"
CONN = "github-bench"


def write_conf(path, dsn, sim, repos, directory, rules):
    H.write_config(path, dsn, sim.url, repos, directory=directory, connector=CONN, max_inflight=8,
                   pacing=B.BENCH_PACING)
    if rules:
        text = open(path).read()
        rule = " discover = ( %s );" % ", ".join(
            '{ target = "%s"; label = "%s"; }' % (r, LABEL) for r in repos)
        last = '"%s" ];' % repos[-1]
        text = text.replace(last, last + rule, 1)
        with open(path, "w") as f:
            f.write(text)


def main():
    if not os.access("/usr/bin/time", os.X_OK):
        print("bench: /usr/bin/time is needed (Debian package 'time')")
        return 1
    wd = H.workdir("bench-discover-")
    cluster = H.Cluster(wd, int(os.environ.get("BENCH_PGPORT", "54393")))
    repos = ["disc/repo%02d" % i for i in range(REPOS)]
    sim = H.Simulator(wd, ["--rate-limit", str(B.SIM_RATE_LIMIT)] + list(H.SIM_RAISED_LIMITS),
                      repos=repos)
    rows = []
    try:
        dsn = cluster.createdb("closeloop_bench_discover")
        pm_pid = B.postmaster_pid(dsn)
        directory = os.path.join(wd, "directory.conf")
        H.write_directory(directory, [("team%02d" % i, "bench", CONN, repos[i]) for i in range(REPOS)],
                          people=[("user%d" % i, "User %d" % i, "user%d-gh" % i) for i in range(7)])
        conf = os.path.join(wd, "closeloop.conf")
        bare = os.path.join(wd, "closeloop-norule.conf")
        write_conf(conf, dsn, sim, repos, directory, True)
        write_conf(bare, dsn, sim, repos, directory, False)
        H.closeloop("migrate", "-c", conf)
        H.closeloop("directory", "load", "-c", conf)
        H.psql(dsn, "INSERT INTO postmortem (reference, title) SELECT 'PM-2026-' || lpad(g::text, 4, '0'),"
                    " 'Bench postmortem ' || g FROM generate_series(1, 500) g")
        per = TICKETS // REPOS
        t0 = time.time()
        for r, repo in enumerate(repos):
            for b in range(0, per, 1000):
                issues = []
                for k in range(b, min(per, b + 1000)):
                    n = r * per + k
                    body = "Raised in the review of PM-2026-%04d." % (n % 500 + 1) if n % 10 == 0 else \
                        "Raised by the team during the incident review."
                    issues.append({"title": "Discovered action item %d" % n, "body": body,
                                   "labels": [LABEL, "team-work"],
                                   "assignees": ["user%d-gh" % (n % 7)]})
                sim.seed({"repos": {repo: {"issues": issues}}})
        print("seeded %d labelled issues in %d repositories in %.1f s" % (per * REPOS, REPOS,
                                                                         time.time() - t0), flush=True)

        def take_label_off():
            sim.edit(repos[0], 1, {"labels": ["team-work"]})

        cycles = [("first pass", conf, None), ("quiet cycle", conf, None),
                  ("quiet, no rule", bare, None), ("label taken off", conf, take_label_off)]
        for name, cf, prep in cycles:
            if prep:
                prep()
            H.psql(dsn, "CHECKPOINT")
            B.wait_autovacuum(dsn)
            time.sleep(0.5)
            sim.reset_stats()
            pg0, sim0 = B.cluster_cpu(pm_pid), B.proc_cpu(sim.proc.pid)
            wall, cpu, rss, err = B.run_daemon(["sync", "--once", "-c", cf])
            time.sleep(0.5)
            pg1, sim1 = B.cluster_cpu(pm_pid), B.proc_cpu(sim.proc.pid)
            st = sim.stats()
            rows.append((name, wall, cpu, rss, pg1 - pg0, sim1 - sim0, st, B.statements(err)))
            print("%s done in %.1f s" % (name, wall), flush=True)
        items = int(H.scalar(dsn, "SELECT count(*) FROM action_item"))
        attached = int(H.scalar(dsn, "SELECT count(*) FROM action_item i JOIN postmortem p ON"
                                     " p.id = i.postmortem_id WHERE p.kind = 'document'"))
        left = int(H.scalar(dsn, "SELECT count(*) FROM external_link WHERE discover_left_at IS NOT NULL"))
        made = sum(1 for r in repos for i in sim.live_issues(r) if "closeloop:begin" in (i.get("body") or ""))
        print()
        print("closeloop discovery benchmark: %d candidate issues in %d repositories, all labelled;"
              " %d adopted (%d attached to the postmortem they name, the rest to their team's"
              " unattached bucket), %d issues created, %d flagged as no longer matching"
              % (per * REPOS, REPOS, items, attached, made, left))
        print("%-16s %7s %8s %8s %8s %8s  %-40s %6s" % (
            "cycle", "wall s", "daemon", "RSS MB", "PG CPU", "sim CPU",
            "HTTP requests (list/get/create/update/304)", "stmts"))
        for name, wall, cpu, rss, pgc, simc, st, stm in rows:
            req = "%d (%d/%d/%d/%d/%d)" % (st.get("total", 0), st.get("list", 0), st.get("get", 0),
                                           st.get("create", 0), st.get("update", 0),
                                           st.get("not_modified", 0))
            print("%-16s %7.2f %8.3f %8.1f %8.3f %8.3f  %-42s %6s" % (
                name, wall, cpu, rss / 1024.0, pgc, simc, req, stm))
        print("Relaxed: the simulator's rate limits (as tests/bench/bench.py); nothing is created.")
    finally:
        sim.stop()
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
