"""The ServiceNow part of `make bench` (imported by bench.py): BENCH_ITEMS
action items (default 10,000) across BENCH_SN_GROUPS assignment groups
(default 10) of the ServiceNow Table API simulator
(tests/sim/servicenow_sim.py), as Problem records, synced by
`closeloop sync --once`.

Cycles: the first full sync; the echo cycle right after it (the listing
window still holds the writes); a quiet cycle once the window has moved
past them (the target: one listing request per group); then one edit in
ServiceNow and its pull.  For each: wall time, the daemon's own CPU (per
item) and peak RSS (/usr/bin/time around the daemon alone), the cluster's
PostgreSQL CPU, and the simulator's request counts by method (per item).

Relaxed, and said in the output: write_spacing_ms = 0 (default 200),
max_inflight = 8 (default 4), page_size = 1000 (default 100) and
overlap = 2 s (default 120 s: with it, every cycle within two minutes of
the first would list all 10,000 records again, which is what a daemon
does only in its first two minutes).  The simulator enforces no rate
limit (instance rules are set by each administrator and not published as
numbers)."""

import os
import time

import harness as H

GROUPS = int(os.environ.get("BENCH_SN_GROUPS", "10"))
CONN = "servicenow-bench"
USERS = ["62826bf037102000%016d" % i for i in range(7)]


def write_directory(path, groups):
    lines = ['platforms = ( { name = "bench"; lead = "user0"; } );', "teams = ("]
    lines.append(",\n".join('  { name = "steam%02d"; platform = "bench"; connector = "%s"; '
                            'target = "%s"; }' % (i, CONN, g) for i, g in enumerate(groups)))
    lines.append(");")
    lines.append("people = (")
    lines.append(",\n".join('  { handle = "user%d"; name = "User %d"; email = "user%d@example.com"; '
                            'servicenow_sys_id = "%s"; active = true; }' % (i, i, i, u)
                            for i, u in enumerate(USERS)))
    lines.append(");")
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def write_config(path, dsn, url, groups, directory):
    conn = H.servicenow_connector(CONN, url, groups, " page_size = 1000; max_inflight = 8;")
    conn = conn.replace(" max_inflight = 2;", "").replace(" page_size = 50;", "")
    with open(path, "w") as f:
        f.write('database = { dsn = "%s"; };\nlog_level = "info";\npoll_interval = 600;\n'
                'overlap = 2;\ndirectory = "%s";\nconnectors = ( %s );\n' % (dsn, directory, conn))


def run(cluster, wd, items, gen_postmortems, run_daemon, cluster_cpu, proc_cpu, postmaster_pid,
        wait_autovacuum):
    """Run the ServiceNow cycles; print their table.  The helpers are bench.py's."""
    swd = os.path.join(wd, "servicenow")
    os.makedirs(swd, exist_ok=True)
    groups = ["%032x" % (0x8a4dde73c6112278017a6a4baf547a00 + i) for i in range(GROUPS)]
    sim = H.ServiceNowSimulator(swd)
    rows = []
    try:
        for u in USERS:
            sim.call("POST", "/_sim/users", {"sys_id": u})
        dsn = cluster.createdb("closeloop_bench_servicenow")
        pm_pid = postmaster_pid(dsn)
        directory = os.path.join(swd, "directory.conf")
        write_directory(directory, groups)
        conf = os.path.join(swd, "closeloop.conf")
        write_config(conf, dsn, sim.url, groups, directory)
        H.closeloop("migrate", "-c", conf)
        H.closeloop("directory", "load", "-c", conf)
        files = gen_postmortems(os.path.join(swd, "pm"), items, GROUPS)
        for k in range(GROUPS):
            mine = [f for r, f in files if r == k]
            for i in range(0, len(mine), 500):
                H.closeloop("import", "-c", conf, "--platform", "bench", "--team", "steam%02d" % k,
                            *mine[i:i + 500], timeout=1800)
        n_items = int(H.scalar(dsn, "SELECT count(*) FROM action_item"))

        def settle():
            time.sleep(3.5)  # the window (overlap 2 s) moves past the writes

        def edit():
            rec = sim.records()[0]
            sim.call("PATCH", "/_sim/records/" + rec["sys_id"],
                     {"short_description": "Edited in ServiceNow"})

        cycles = [("first full sync", None), ("echo cycle", None), ("quiet cycle", settle),
                  ("edit in SN", edit)]
        for name, prep in cycles:
            if prep:
                prep()
            H.psql(dsn, "CHECKPOINT")
            wait_autovacuum(dsn)
            time.sleep(0.5)
            sim.call("POST", "/_sim/requests/reset", {})
            pg0, sim0 = cluster_cpu(pm_pid), proc_cpu(sim.proc.pid)
            wall, cpu, rss, err = run_daemon(["sync", "--once", "-c", conf])
            time.sleep(0.5)
            pg1, sim1 = cluster_cpu(pm_pid), proc_cpu(sim.proc.pid)
            rows.append((name, wall, cpu, rss, pg1 - pg0, sim1 - sim0,
                         sim.call("GET", "/_sim/requests")))
            print("servicenow: %s done in %.1f s" % (name, wall), flush=True)
            if "errors 0" not in err:
                print(err[-2000:])
        problems = len(sim.records())
        linked = int(H.scalar(dsn, "SELECT count(*) FROM external_link WHERE state='linked'"))
        edited = H.scalar(dsn, "SELECT count(*) FROM action_item WHERE title = "
                               "'Edited in ServiceNow'")
    finally:
        sim.stop()
    print()
    print("closeloop benchmark, ServiceNow: %d action items, %d assignment groups, %d problems in"
          " the simulator, %d links; the edit pulled: %s" % (n_items, GROUPS, problems, linked,
                                                            edited == "1"))
    print("%-16s %7s %8s %9s %8s %8s %8s  %-28s %8s" % (
        "cycle", "wall s", "daemon", "daemon", "RSS MB", "PG CPU", "sim CPU",
        "HTTP requests (GET/POST/PATCH)", "requests"))
    print("%-16s %7s %8s %9s %8s %8s %8s  %-28s %8s" % ("", "", "CPU s", "ms/item", "(daemon)", "s",
                                                     "s", "", "per item"))
    for name, wall, cpu, rss, pgc, simc, st in rows:
        total = st.get("GET", 0) + st.get("POST", 0) + st.get("PATCH", 0)
        req = "%d (%d/%d/%d)" % (total, st.get("GET", 0), st.get("POST", 0), st.get("PATCH", 0))
        print("%-16s %7.2f %8.3f %9.3f %8.1f %8.3f %8.3f  %-28s %8.3f" % (
            name, wall, cpu, cpu * 1000.0 / max(n_items, 1), rss / 1024.0, pgc, simc, req,
            total / max(n_items, 1)))
    print()
    print("Relaxed for this run: write_spacing_ms = 0 (default 200), max_inflight = 8 (default 4),")
    print("page_size = 1000 (default 100), overlap = 2 s (default 120 s; see the module's comment).")
