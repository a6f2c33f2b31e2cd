#!/usr/bin/env python3
"""`make bench [ITEMS=N]`: N action items (default 10,000) across 20
repositories in the GitHub simulator, synced by `closeloop sync --once`.

For each cycle (first full sync, the echo cycle that lists back what the
first one wrote, a quiet cycle, one edit on GitHub, one edit in the ledger,
the echo of that edit's push), and for quiet cycles of a running daemon, it
reports:
  - wall time;
  - the daemon's own CPU (user+system) and peak RSS, measured by
    /usr/bin/time around the daemon alone (the rusage of a child started by
    Python's subprocess would carry the Python driver's memory: a vfork'd
    child's peak RSS includes its parent's address space before exec);
  - PostgreSQL's CPU: utime+stime (+ reaped children) of every process of
    the benchmark's cluster (postmaster, backends, background workers), read
    from /proc before and after the cycle.  The bench waits for autovacuum
    workers to finish before each cycle so that one cycle is not charged
    with the clean-up of the one before;
  - the simulator's CPU (the same, for its process);
  - HTTP requests by kind (the simulator's counts) and ledger statements
    (the daemon's own count, from its summary line).
Figures are reported, not asserted.

What the benchmark relaxes, and says so in its output: the simulator's
primary rate limit (GitHub: 5,000 requests/hour per token) is raised so a
10,000-item first sync can run in seconds, and so are GitHub's secondary
limits (about 80 content-creating requests a minute, 500 an hour) in the
simulator and the connector's pacing (one write a second, 80 creates a
minute, 500 an hour) in the daemon.  The
time a first sync takes under GitHub's real limits is computed from those
limits and printed separately, labelled as computed.

Before the sync, `closeloop import DIR` of BENCH_IMPORT_FILES (default
10000; 0 skips it) small postmortem files into an empty ledger is timed.

Then the same number of items in Jira Cloud (tests/bench/bench_jira.py;
BENCH_JIRA=0 skips it, BENCH_JIRA_PROJECTS sets the projects, default 10),
and in ServiceNow as Problem records (tests/bench/bench_servicenow.py;
BENCH_SN=0 skips it, BENCH_SN_GROUPS sets the assignment groups, default 10).

Environment knobs: BENCH_ITEMS (default 10000), BENCH_REPOS (default 20),
BENCH_PGPORT, BENCH_PG_LOG (set: PostgreSQL logs every statement with
its duration, in the work directory's pg/postgres.log), BENCH_WRAP (a command prefix for the daemon of the first full
sync, e.g. "perf record -g -o build/perf.data --"; its CPU then includes the
wrapper's)."""

import os
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness as H  # noqa: E402
import bench_fill  # noqa: E402
import bench_jira  # noqa: E402
import bench_servicenow  # noqa: E402

ITEMS = int(os.environ.get("BENCH_ITEMS", "10000"))
REPOS = int(os.environ.get("BENCH_REPOS", "20"))
PER_PM = 20
CONN = "github-bench"
# fill mode (tests/bench/bench_fill.py): "1" always, "0" never, "auto"
# (default) above 20,000 items, where importing and creating every issue
# one by one takes most of an hour on this machine
FILL = os.environ.get("BENCH_FILL", "auto")
FILLED = FILL == "1" or (FILL == "auto" and ITEMS > 20000)
BATCH = int(os.environ.get("BENCH_BATCH", "100"))  # changes in the batched rows
TICK = os.sysconf("SC_CLK_TCK")

# What the bench relaxes (printed with the results).
SIM_RATE_LIMIT = 1000000          # GitHub: 5,000 requests per hour per token
GITHUB_CREATES_PER_MIN = 80       # GitHub secondary limits, "about" (docs, rate limits)
GITHUB_CREATES_PER_HOUR = 500
GITHUB_WRITE_SPACING_S = 1.0      # "at least one second between mutating requests"
BENCH_PACING = (0, 100000, 1000000)  # write_spacing_ms, creates_per_minute, creates_per_hour
RELAXED = [
    "simulator primary rate limit raised to %d requests/hour (GitHub: 5,000/hour per token)" % SIM_RATE_LIMIT,
    "simulator secondary limits raised to %s/minute and %s/hour content-creating requests"
    " (GitHub: ~80/minute, 500/hour); still one write in flight at a time, as GitHub asks"
    % (H.SIM_RAISED_LIMITS[1], H.SIM_RAISED_LIMITS[3]),
    "connector pacing raised: write_spacing_ms = %d (default 1000), creates_per_minute = %d"
    " (default 80), creates_per_hour = %d (default 500)" % BENCH_PACING,
    "max_inflight = 8 concurrent requests per connector (default 4)",
]


def gen_postmortems(outdir, n_items=ITEMS, n_targets=REPOS):
    """Postmortems holding n_items action items in all, spread over
    n_targets teams; returns [(team index, path)]."""
    files = []
    n = 0
    pm = 0
    while n < n_items:
        repo = pm % n_targets
        path = os.path.join(outdir, "team%02d" % repo, "PM2026-%05d - bench incident %d.md" % (pm, pm))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        k = min(PER_PM, n_items - n)
        with open(path, "w") as f:
            f.write("# Bench incident %d\n\n## Summary\n\nSynthetic postmortem for the benchmark.\n\n" % pm)
            f.write("## Action Items\n\n| Action Item | Type | Owner | Priority | Due Date |\n")
            f.write("| --- | --- | --- | --- | --- |\n")
            for i in range(k):
                f.write("| Fix thing %d of incident %d | Prevent | user%d | P%d | 2027-0%d-1%d |\n"
                        % (i, pm, i % 7, i % 4, 1 + i % 9, i % 10))
        files.append((repo, path))
        n += k
        pm += 1
    return files


def proc_cpu(pid, children=True):
    """utime+stime (+cutime+cstime) of pid in seconds, 0 if it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    # fields[0] is state (field 3); utime is field 14 -> index 11
    t = int(fields[11]) + int(fields[12])
    if children:
        t += int(fields[13]) + int(fields[14])
    return t / TICK


def cluster_cpu(pm_pid):
    """CPU seconds of the postmaster and all its children, live or reaped."""
    total = proc_cpu(pm_pid)
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % d) as f:
                rest = f.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(rest[1]) == pm_pid:
            total += proc_cpu(int(d))
    return total


def postmaster_pid(dsn):
    with open(os.path.join(H.scalar(dsn, "SHOW data_directory"), "postmaster.pid")) as f:
        return int(f.readline().strip())


def wait_autovacuum(dsn, limit_s=120):
    deadline = time.time() + limit_s
    while time.time() < deadline:
        n = H.scalar(dsn, "SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'autovacuum worker'")
        if n == "0":
            return
        time.sleep(0.5)


def run_daemon(args, wrap=()):
    """Run closeloop under /usr/bin/time; return wall, cpu, peak RSS (KB), stderr."""
    fd, tf = tempfile.mkstemp(prefix="bench-time-")
    os.close(fd)
    cmd = ["/usr/bin/time", "-o", tf, "-f", "%U %S %M"] + list(wrap) + [H.BIN] + args
    t0 = time.time()
    p = subprocess.run(cmd, capture_output=True, text=True, env=H.env())
    wall = time.time() - t0
    with open(tf) as f:
        last = f.read().strip().splitlines()[-1].split()
    os.unlink(tf)
    if p.returncode != 0:
        print("closeloop exited %d:\n%s" % (p.returncode, p.stderr[-2000:]))
    return wall, float(last[0]) + float(last[1]), int(last[2]), p.stderr


def metrics(port):
    import urllib.request
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
        text = r.read().decode()
    out = {}
    for key, pat in (("cycles", r'closeloop_reconcile_total\{kind="cycle"\} (\d+)'),
                     ("statements", r'closeloop_ledger_statements_total (\d+)')):
        m = re.search(pat, text)
        out[key] = int(m.group(1)) if m else 0
    return out


def rows_written(dsn):
    """{table: rows inserted + updated + deleted} of the ledger's tables so
    far (pg_stat_user_tables: the system catalogs, which ANALYZE writes,
    are not in it; a backend reports its counts when it ends or goes
    idle)."""
    return {r[0]: int(r[1]) for r in H.psql(dsn, "SELECT relname, n_tup_ins + n_tup_upd + n_tup_del"
                                                 " FROM pg_stat_user_tables")}


def written_since(before, after):
    """(total, 'table n, ...') of the rows written between two rows_written."""
    d = {k: v - before.get(k, 0) for k, v in after.items() if v != before.get(k, 0)}
    return sum(d.values()), ", ".join("%s %d" % kv for kv in sorted(d.items(), key=lambda kv: -kv[1]))


def vm_hwm_kb(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return 0


def steady_quiet(wd, dsn, sim, repos, directory, pm_pid, n=3):
    """Quiet cycles of a running daemon (`closeloop run`, poll_interval 10 s):
    its session, statements and plans are warm, as in production.  Returns
    per-cycle averages over n cycles after two warm-up cycles."""
    import socket
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    conf = os.path.join(wd, "closeloop-run.conf")
    H.write_config(conf, dsn, sim.url, repos, directory=directory, connector=CONN, max_inflight=8,
                   pacing=BENCH_PACING, extra='listen = "127.0.0.1:%d";\n' % port)
    d = H.Daemon(conf, os.path.join(wd, "daemon-run.log"))
    try:
        def cycles():
            try:
                return metrics(port)["cycles"]
            except OSError:
                return -1
        if not H.wait_for(lambda: cycles() >= 2, timeout=120, step=0.1):
            raise RuntimeError("daemon did not complete two cycles:\n" + d.log()[-2000:])
        wait_autovacuum(dsn)
        backend = int(H.scalar(dsn, "SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                                    " AND backend_type = 'client backend' AND pid <> pg_backend_pid()"
                                    " ORDER BY backend_start LIMIT 1"))
        k = cycles()
        H.wait_for(lambda: cycles() > k, timeout=30, step=0.05)
        m0 = metrics(port)
        w0 = rows_written(dsn)
        sim.reset_stats()
        pg0, sim0, d0 = cluster_cpu(pm_pid), proc_cpu(sim.proc.pid), proc_cpu(d.proc.pid, False)
        be0 = proc_cpu(backend)
        H.wait_for(lambda: cycles() >= m0["cycles"] + n, timeout=30 * n, step=0.05)
        pg1, sim1, d1 = cluster_cpu(pm_pid), proc_cpu(sim.proc.pid), proc_cpu(d.proc.pid, False)
        be1 = proc_cpu(backend)
        m1 = metrics(port)
        st = sim.stats()
        time.sleep(1.5)  # the daemon's backend reports its counts when idle
        w1 = rows_written(dsn)
        got = m1["cycles"] - m0["cycles"]
        per = {k2: v / got for k2, v in st.items() if isinstance(v, (int, float))}
        return ("quiet, running*", (d1 - d0) / got, vm_hwm_kb(d.proc.pid), (pg1 - pg0) / got,
                (sim1 - sim0) / got, per, (m1["statements"] - m0["statements"]) / got,
                (be1 - be0) / got, written_since(w0, w1), got)
    finally:
        d.stop()


def count_issues(sim, repos):
    """Issues in the simulator, or -1 when its whole-repository dump does
    not answer in time (it renders every issue: 5,000 a repository at
    100,000 items, slow on a loaded machine)."""
    try:
        return sum(len(sim.live_issues(r)) for r in repos)
    except (OSError, RuntimeError) as e:
        print("issues not counted: %s" % e)
        return -1


def req_text(st, fmt="%d"):
    """'total (list/get/create/update/label/304)' of one cycle's simulator counts."""
    return (fmt + " (" + "/".join([fmt] * 6) + ")") % tuple(
        st.get(k, 0) for k in ("total", "list", "get", "create", "update", "label", "not_modified"))


def report(rows, steady, items, issues):
    """The table of cycles, the running daemon's quiet cycle, and what one
    change costs in the batched rows."""
    print()
    print("closeloop benchmark: %d action items, %d repositories, %d issues in the simulator"
          % (items, REPOS, issues))
    print("%-28s %7s %7s %7s %7s %7s  %-40s %6s %7s" % (
        "cycle", "wall s", "daemon", "RSS MB", "PG CPU", "simCPU",
        "HTTP requests (list/get/crt/upd/lbl/304)", "stmts", "rows"))
    print("%-28s %7s %7s %7s %7s %7s  %-40s %6s %7s" % ("", "", "CPU s", "daemon", "s", "s", "", "",
                                                       "written"))
    by = {}
    for name, wall, cpu, rss, pgc, simc, st, stm, wr in rows:
        by[name] = (stm, st, wr)
        print("%-28s %7.2f %7.3f %7.1f %7.3f %7.3f  %-40s %6s %7d" % (
            name, wall, cpu, rss / 1024.0, pgc, simc, req_text(st), stm, wr))
    name, cpu, rss, pgc, simc, st, stm, be, (wr, wr_tables), got = steady
    print("%-28s %7s %7.3f %7.1f %7.3f %7.3f  %-40s %6g %7g" % (
        name, "-", cpu, rss / 1024.0, pgc, simc, req_text(st, "%g"), stm, wr / float(got)))
    print()
    print("Each `sync --once` row is one process: its PostgreSQL CPU includes starting a session")
    print("(catalog caches, first plans); PG CPU is the whole cluster's, background processes too.")
    if FILLED:
        print("first cycle after the fill: lists every issue back, as the echo cycle after a first sync"
              " does; it must write nothing but the cursors.")
    print("rows written: inserted + updated + deleted rows of the ledger's tables over the cycle")
    print("(pg_stat_user_tables), history and trigger-kept tables included.")
    print("* quiet, running: `closeloop run`, average of 3 quiet cycles after 2 warm-up cycles; RSS")
    print("  is the daemon's peak (VmHWM) then.  PG CPU of the daemon's own backend alone: %.1f ms"
          " per quiet cycle (the rest of the row's PG CPU is the cluster's background work over"
          " the 10 s poll interval)." % (be * 1000))
    print("  Rows written over its %d cycles: %s." % (got, wr_tables or "none"))
    quiet = by.get("quiet cycle")
    if quiet:
        print("What one change costs, from the batched rows against the quiet cycle (%d statements):"
              % quiet[0])
        for label, one, many in (("pulled", "edit on GitHub", "%d edits on GitHub" % BATCH),
                                 ("pushed", "edit in ledger", "%d edits in ledger" % BATCH)):
            if one in by and many in by:
                print("  %s: 1 change %d statements (%s requests), %d changes %d statements (%s requests):"
                      " %.2f statements per change"
                      % (label, by[one][0], req_text(by[one][1]), BATCH, by[many][0],
                         req_text(by[many][1]), (by[many][0] - quiet[0]) / float(BATCH)))


def statements(err):
    m = re.findall(r"ledger statements (\d+)", err)
    return int(m[-1]) if m else -1


def paced_first_sync_s(n):
    """Seconds for n creates one at a time under GitHub's secondary limits:
    spacing between writes, at most 80 in any minute and 500 in any hour
    (sliding windows)."""
    t = []
    for k in range(n):
        at = t[-1] + GITHUB_WRITE_SPACING_S if t else 0.0
        if k >= GITHUB_CREATES_PER_MIN:
            at = max(at, t[k - GITHUB_CREATES_PER_MIN] + 60.0)
        if k >= GITHUB_CREATES_PER_HOUR:
            at = max(at, t[k - GITHUB_CREATES_PER_HOUR] + 3600.0)
        t.append(at)
    return t[-1] if t else 0.0


def fmt_h(s):
    return "%d h %02d min" % (int(s // 3600), int(s % 3600 // 60))


IMPORT_FILES = int(os.environ.get("BENCH_IMPORT_FILES", "10000"))


def gen_import_tree(outdir, n):
    """n small postmortems in 100 folders, in the styles the importer reads
    (action table, checkbox list, bold-label list, front matter)."""
    for k in range(n):
        d = os.path.join(outdir, "%02d" % (k % 100))
        os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, "incident-%05d.md" % k), "w") as f:
            f.write("---\ntitle: Incident %d\ndate: 2026-0%d-1%d\nseverity: SEV%d\n---\n\n"
                    % (k, 1 + k % 9, k % 10, 1 + k % 3))
            f.write("# Incident %d\n\n## Summary\n\nA synthetic incident.\n\n" % k)
            style = k % 3
            if style == 0:
                f.write("## Action items\n\n| Action Item | Type | Owner | Bug |\n|---|---|---|---|\n")
                for i in range(3):
                    f.write("| Fix thing %d of %d | prevent | @u%d | n/a **DONE** |\n" % (i, k, i))
            elif style == 1:
                f.write("## Follow-ups\n\n")
                for i in range(3):
                    f.write("- [%s] Fix thing %d of %d (@u%d, due 2026-12-0%d)\n"
                            % ("x" if i == 0 else " ", i, k, i, 1 + i))
            else:
                f.write("## Lessons learned\n\n- **What went well**:\n  - the pager\n"
                        "- **Review actions**:\n")
                for i in range(3):
                    f.write("  - Fix thing %d of %d. Owner: @u%d\n" % (i, k, i))


def bench_import(cluster, wd):
    """`closeloop import DIR` of IMPORT_FILES postmortem files into an empty ledger."""
    if IMPORT_FILES <= 0:
        return
    dsn = cluster.createdb("closeloop_bench_import")
    conf = os.path.join(wd, "import.conf")
    H.write_config(conf, dsn, "http://127.0.0.1:9", ["bench/repo00"])
    H.closeloop("migrate", "-c", conf)
    tree = os.path.join(wd, "pm-import")
    gen_import_tree(tree, IMPORT_FILES)
    # its per-file lines go to a file: a pipe nobody reads would fill up
    log = os.path.join(wd, "import.log")
    t0 = time.time()
    with open(log, "w") as lf:
        p = subprocess.Popen([H.BIN, "import", "-c", conf, "--team", "bench", tree],
                             stdout=lf, stderr=subprocess.STDOUT, env=H.env())
        _, _, ru = os.wait4(p.pid, 0)
    wall, cpu, rss = time.time() - t0, ru.ru_utime + ru.ru_stime, ru.ru_maxrss
    with open(log) as lf:
        err = lf.read()
    items = int(H.scalar(dsn, "SELECT count(*) FROM action_item"))
    pms = int(H.scalar(dsn, "SELECT count(*) FROM postmortem"))
    print("import of %d postmortem files (one directory walk): %d postmortems, %d action items in "
          "%.1f s wall, %.1f s CPU (%.0f files/s)"
          % (IMPORT_FILES, pms, items, wall, cpu, IMPORT_FILES / max(wall, 1e-9)), flush=True)
    if pms != IMPORT_FILES:
        print(err[-2000:])


def main():
    if not os.access("/usr/bin/time", os.X_OK):
        print("bench: /usr/bin/time is needed to measure the daemon alone (Debian package 'time')")
        return 1
    wd = H.workdir("bench-")
    cluster = H.Cluster(wd, int(os.environ.get("BENCH_PGPORT", "54393")))
    sim = H.Simulator(wd, ["--rate-limit", str(SIM_RATE_LIMIT)] + list(H.SIM_RAISED_LIMITS))
    rows = []
    try:
        dsn = cluster.createdb("closeloop_bench")
        pm_pid = postmaster_pid(dsn)
        repos = ["bench/repo%02d" % i for i in range(REPOS)]
        directory = os.path.join(wd, "directory.conf")
        H.write_directory(directory, [("team%02d" % i, "bench", CONN, repos[i]) for i in range(REPOS)],
                          people=[("user%d" % i, "User %d" % i, "user%d-gh" % i) for i in range(7)])
        conf = os.path.join(wd, "closeloop.conf")
        H.write_config(conf, dsn, sim.url, repos, directory=directory, connector=CONN, max_inflight=8,
                       pacing=BENCH_PACING)
        H.closeloop("migrate", "-c", conf)
        if os.environ.get("BENCH_PG_LOG"):
            H.psql(dsn, "ALTER DATABASE closeloop_bench SET log_min_duration_statement = 0")
        H.closeloop("directory", "load", "-c", conf)
        bench_import(cluster, wd)
        if FILLED:
            bench_fill.fill(dsn, sim, CONN, repos, ITEMS)
        else:
            files = gen_postmortems(os.path.join(wd, "pm"))
            t0 = time.time()
            for repo in range(REPOS):
                mine = [f for r, f in files if r == repo]
                for i in range(0, len(mine), 500):
                    H.closeloop("import", "-c", conf, "--platform", "bench", "--team", "team%02d" % repo,
                                *mine[i:i + 500], timeout=1800)
            imp = time.time() - t0
            print("imported %d action items from %d postmortems in %.1f s" % (ITEMS, len(files), imp),
                  flush=True)
        items = int(H.scalar(dsn, "SELECT count(*) FROM action_item"))

        def before_edit_remote():
            sim.edit(repos[0], 1, {"title": "Edited on GitHub by the bench"})

        def before_edit_ledger():
            H.psql(dsn, "UPDATE action_item SET priority = 'P0' WHERE id = (SELECT min(id) FROM action_item"
                        " WHERE priority IS DISTINCT FROM 'P0')")

        def before_batch_remote():
            # BATCH issues, spread over every repository, issues 2, 3, ... of each
            for k in range(BATCH):
                sim.edit(repos[k % REPOS], 2 + k // REPOS, {"title": "Batch edit %d on GitHub" % k})

        def before_batch_ledger():
            # BATCH items drawn at random (fixed seed) from the whole ledger
            import random
            ids = random.Random(5).sample(range(1, items + 1), min(BATCH, items))
            H.psql(dsn, "UPDATE action_item SET priority = CASE WHEN priority = 'P3' THEN 'P2' ELSE 'P3' END"
                        " WHERE id IN (%s)" % ",".join(map(str, ids)))

        first = [("first cycle after the fill", None)] if FILLED else \
            [("first full sync", None), ("echo cycle", None)]
        cycles = first + [
            ("quiet cycle", None),
            ("edit on GitHub", before_edit_remote), ("edit in ledger", before_edit_ledger),
            ("echo of the push", None),
            ("%d edits on GitHub" % BATCH, before_batch_remote),
            ("%d edits in ledger" % BATCH, before_batch_ledger),
            ("echo of the pushes", None)]
        for name, prep in cycles:
            if prep:
                prep()
            H.psql(dsn, "CHECKPOINT")
            wait_autovacuum(dsn)
            time.sleep(0.5)  # let the postmaster reap the psql backends above
            sim.reset_stats()
            wrap = os.environ.get("BENCH_WRAP", "").split() if name == "first full sync" else []
            pg0, sim0, w0 = cluster_cpu(pm_pid), proc_cpu(sim.proc.pid), rows_written(dsn)
            wall, cpu, rss, err = run_daemon(["sync", "--once", "-c", conf], wrap)
            time.sleep(0.5)  # the daemon's backend ends after the daemon
            pg1, sim1 = cluster_cpu(pm_pid), proc_cpu(sim.proc.pid)
            st = sim.stats()
            rows.append((name, wall, cpu, rss, pg1 - pg0, sim1 - sim0, st, statements(err),
                         written_since(w0, rows_written(dsn))[0]))
            print("%s done in %.1f s" % (name, wall), flush=True)
            if re.search(r"errors [1-9]", err):
                print(err[-2000:])
        steady = steady_quiet(wd, dsn, sim, repos, directory, pm_pid)
        issues = count_issues(sim, repos)
        report(rows, steady, items, issues)
        print("Relaxed for this run (the real limits would make the first sync take hours):")
        for r in RELAXED:
            print("  - " + r)
        if FILLED:
            print("  - FILL MODE: the ledger and the simulator were loaded in bulk (bench_fill.py), so"
                  " there is no import and no first sync that creates issues in this run; BENCH_FILL=0"
                  " runs them")
        n = ITEMS
        print("Paced first sync under GitHub's real limits (COMPUTED from the documented limits; a run at"
              " 1,000 items: tests/bench/paced_first_sync.py):")
        print("  %d creates, one at a time, >= %.0f s apart, <= %d per minute, <= %d per hour: %s"
              % (n, GITHUB_WRITE_SPACING_S, GITHUB_CREATES_PER_MIN, GITHUB_CREATES_PER_HOUR,
                 fmt_h(paced_first_sync_s(n))))
        if os.environ.get("BENCH_JIRA", "1") != "0":
            bench_jira.run(cluster, wd, ITEMS, gen_postmortems, run_daemon, cluster_cpu, proc_cpu,
                           postmaster_pid, wait_autovacuum)
        if os.environ.get("BENCH_SN", "1") != "0":
            bench_servicenow.run(cluster, wd, ITEMS, gen_postmortems, run_daemon, cluster_cpu,
                                 proc_cpu, postmaster_pid, wait_autovacuum)
    finally:
        sim.stop()
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
