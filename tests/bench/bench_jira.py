"""The Jira part of `make bench` (imported by bench.py): BENCH_ITEMS action
items (default 10,000) across BENCH_JIRA_PROJECTS projects (default 10) of
the Jira Cloud simulator (tests/sim/jira_sim.py, search lagging writes by
1 s as Jira Cloud's does), synced by `closeloop sync --once`.

Cycles: the first full sync; the echo cycle right after it (the window
still holds the writes: search_settle_ms has not passed); the settle cycle
after Jira's clock has moved on past search_settle_ms (/_sim/clock: time
passing without waiting for it), which takes a validator; then a quiet
cycle, whose target is one search request per project; then one edit in
Jira and its pull.  For each: wall time, the daemon's own CPU (per item)
and peak RSS (/usr/bin/time around the daemon alone), the cluster's
PostgreSQL CPU, and the simulator's request counts by kind (per item).

Relaxed, and said in the output: write_spacing_ms = 0 (default 100) and
max_inflight = 8 (default 4).  The simulator enforces no rate limit unless
a test asks for 429s (Jira Cloud's limits are cost-based and not published
as numbers), so none is relaxed there."""

import os
import time

import harness as H

PROJECTS = int(os.environ.get("BENCH_JIRA_PROJECTS", "10"))
CONN = "jira-bench"
USERS = ["5b10a2844c201657%08d" % i for i in range(7)]


def write_directory(path, projects):
    lines = ['platforms = ( { name = "bench"; lead = "user0"; } );', "teams = ("]
    lines.append(",\n".join('  { name = "jteam%02d"; platform = "bench"; connector = "%s"; '
                            'target = "%s"; }' % (i, CONN, p) for i, p in enumerate(projects)))
    lines.append(");")
    lines.append("people = (")
    lines.append(",\n".join('  { handle = "user%d"; name = "User %d"; email = "user%d@example.com"; '
                            'jira_account_id = "%s"; active = true; }' % (i, i, i, u)
                            for i, u in enumerate(USERS)))
    lines.append(");")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def run(cluster, wd, items, gen_postmortems, run_daemon, cluster_cpu, proc_cpu, postmaster_pid,
        wait_autovacuum):
    """Run the Jira cycles; print their table.  The helpers are bench.py's."""
    jwd = os.path.join(wd, "jira")
    os.makedirs(jwd, exist_ok=True)
    projects = ["BEN%02d" % i for i in range(PROJECTS)]
    args = ["--search-lag-ms", "1000", "--no-request-log"]
    for p in projects:
        args += ["--project", p]
    for u in USERS:
        args += ["--user", u]
    sim = H.JiraSimulator(jwd, args)
    rows = []
    try:
        dsn = cluster.createdb("closeloop_bench_jira")
        pm_pid = postmaster_pid(dsn)
        directory = os.path.join(jwd, "directory.conf")
        write_directory(directory, projects)
        conf = os.path.join(jwd, "closeloop.conf")
        H.write_jira_config(conf, dsn, sim.url, projects, directory, name=CONN, spacing_ms=0,
                            max_inflight=8)
        H.closeloop("migrate", "-c", conf)
        H.closeloop("directory", "load", "-c", conf)
        files = gen_postmortems(os.path.join(jwd, "pm"), items, PROJECTS)
        for k in range(PROJECTS):
            mine = [f for r, f in files if r == k]
            for i in range(0, len(mine), 500):
                H.closeloop("import", "-c", conf, "--platform", "bench", "--team", "jteam%02d" % k,
                            *mine[i:i + 500], timeout=1800)
        n_items = int(H.scalar(dsn, "SELECT count(*) FROM action_item"))

        def settle():
            sim.call("POST", "/_sim/clock", {"advance_s": 150})

        def edit():
            first = sim.issues(projects[0])[0]
            sim.call("POST", "/_sim/edit", {"id": first["id"], "fields": {"summary": "Edited in Jira"}})

        cycles = [("first full sync", None), ("echo cycle", None), ("settle cycle", settle),
                  ("quiet cycle", None), ("edit in Jira", edit)]
        for name, prep in cycles:
            if prep:
                prep()
            H.psql(dsn, "CHECKPOINT")
            wait_autovacuum(dsn)
            time.sleep(0.5)
            sim.call("POST", "/_sim/stats/reset", {})
            pg0, sim0 = cluster_cpu(pm_pid), proc_cpu(sim.proc.pid)
            wall, cpu, rss, err = run_daemon(["sync", "--once", "-c", conf])
            time.sleep(0.5)
            pg1, sim1 = cluster_cpu(pm_pid), proc_cpu(sim.proc.pid)
            rows.append((name, wall, cpu, rss, pg1 - pg0, sim1 - sim0, sim.call("GET", "/_sim/stats")))
            print("jira: %s done in %.1f s" % (name, wall), flush=True)
            if "errors 0" not in err:
                print(err[-2000:])
        issues = len(sim.issues())
        linked = int(H.scalar(dsn, "SELECT count(*) FROM external_link WHERE state='linked'"))
    finally:
        sim.stop()
    print()
    print("closeloop benchmark, Jira Cloud: %d action items, %d projects, %d issues in the simulator,"
          " %d links" % (n_items, PROJECTS, issues, linked))
    print("%-16s %7s %8s %9s %8s %8s %8s  %-44s %8s" % (
        "cycle", "wall s", "daemon", "daemon", "RSS MB", "PG CPU", "sim CPU",
        "HTTP requests (search/get/create/edit/transition)", "requests"))
    print("%-16s %7s %8s %9s %8s %8s %8s  %-44s %8s" % ("", "", "CPU s", "ms/item", "(daemon)", "s", "s",
                                                     "", "per item"))
    for name, wall, cpu, rss, pgc, simc, st in rows:
        req = "%d (%d/%d/%d/%d/%d)" % (st.get("total", 0), st.get("search", 0), st.get("get", 0),
                                       st.get("create", 0), st.get("edit", 0), st.get("transition", 0))
        print("%-16s %7.2f %8.3f %9.3f %8.1f %8.3f %8.3f  %-50s %8.3f" % (
            name, wall, cpu, cpu * 1000.0 / max(n_items, 1), rss / 1024.0, pgc, simc, req,
            st.get("total", 0) / max(n_items, 1)))
    print()
    print("settle cycle: Jira's clock moved on 150 s (search_settle_ms is 90 s) before it; that cycle")
    print("lists the window once more and takes the validator the quiet cycle then checks with one")
    print("search per project.  Relaxed for this run: write_spacing_ms = 0 (default 100),")
    print("max_inflight = 8 (default 4).")
