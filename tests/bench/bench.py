#!/usr/bin/env python3
"""`make bench`: 10,000 action items across 20 repositories in the GitHub
simulator.  Reports, for the first full sync, the echo cycle (the one that
lists back what the first one wrote) and a quiet cycle: wall time, daemon
CPU time (user+system, from wait4), HTTP requests by kind (simulator
counts), PostgreSQL statements (the daemon's own count) and peak RSS.

Figures are reported, not asserted.  Environment knobs: BENCH_ITEMS
(default 10000), BENCH_REPOS (default 20), BENCH_WRAP (a command prefix for
the first full sync, e.g. "perf record -g -o build/perf.data --"; its CPU
then includes the wrapper's)."""

import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness as H  # noqa: E402

ITEMS = int(os.environ.get("BENCH_ITEMS", "10000"))
REPOS = int(os.environ.get("BENCH_REPOS", "20"))
PER_PM = 20
CONN = "github-bench"


def gen_postmortems(outdir):
    files = []
    n = 0
    pm = 0
    while n < ITEMS:
        repo = pm % REPOS
        path = os.path.join(outdir, "team%02d" % repo, "PM2026-%04d - bench incident %d.md" % (pm, pm))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        k = min(PER_PM, ITEMS - n)
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


def run_timed(args, wrap=()):
    t0 = time.time()
    p = subprocess.Popen(list(wrap) + [H.BIN] + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=H.env())
    _, _, ru = os.wait4(p.pid, 0)
    wall = time.time() - t0
    out, err = p.communicate()
    if p.returncode not in (0, None) and p.returncode != 0:
        pass
    return wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss, out, err


def statements(err):
    m = re.findall(r"ledger statements (\d+)", err)
    return int(m[-1]) if m else -1


def main():
    wd = H.workdir("bench-")
    cluster = H.Cluster(wd, int(os.environ.get("BENCH_PGPORT", "54393")))
    sim = H.Simulator(wd, ["--rate-limit", "1000000"])
    rows = []
    try:
        dsn = cluster.createdb("closeloop_bench")
        repos = ["bench/repo%02d" % i for i in range(REPOS)]
        directory = os.path.join(wd, "directory.conf")
        H.write_directory(directory, [("team%02d" % i, "bench", CONN, repos[i]) for i in range(REPOS)],
                          people=[("user%d" % i, "User %d" % i, "user%d-gh" % i) for i in range(7)])
        conf = os.path.join(wd, "closeloop.conf")
        H.write_config(conf, dsn, sim.url, repos, directory=directory, connector=CONN, max_inflight=8)
        H.closeloop("migrate", "-c", conf)
        H.closeloop("directory", "load", "-c", conf)
        files = gen_postmortems(os.path.join(wd, "pm"))
        t0 = time.time()
        for repo in range(REPOS):
            mine = [f for r, f in files if r == repo]
            H.closeloop("import", "-c", conf, "--platform", "bench", "--team", "team%02d" % repo, *mine)
        imp = time.time() - t0
        items = int(H.scalar(dsn, "SELECT count(*) FROM action_item"))
        print("imported %d action items from %d postmortems in %.1f s" % (items, len(files), imp), flush=True)
        for name in ("first full sync", "echo cycle", "quiet cycle"):
            sim.reset_stats()
            wrap = os.environ.get("BENCH_WRAP", "").split() if name == "first full sync" else []
            wall, cpu, rss, out, err = run_timed(["sync", "--once", "-c", conf], wrap)
            st = sim.stats()
            rows.append((name, wall, cpu, rss, st, statements(err)))
            print("%s done in %.1f s" % (name, wall), flush=True)
            if "error" in err and "errors 0" not in err:
                print(err[-2000:])
        issues = sum(len(sim.live_issues(r)) for r in repos)
        print()
        print("closeloop benchmark: %d action items, %d repositories, %d issues in the simulator" % (items, REPOS, issues))
        print("%-16s %8s %9s %11s %8s  %-46s %10s" % ("cycle", "wall s", "CPU s", "CPU us/item", "RSS MB",
                                                    "HTTP requests (list/get/create/update/304)", "SQL stmts"))
        for name, wall, cpu, rss, st, stm in rows:
            req = "%d (%d/%d/%d/%d/%d)" % (st.get("total", 0), st.get("list", 0), st.get("get", 0),
                                           st.get("create", 0), st.get("update", 0), st.get("not_modified", 0))
            print("%-16s %8.2f %9.3f %11.1f %8.1f  %-46s %10s" % (name, wall, cpu, cpu * 1e6 / max(items, 1),
                                                               rss / 1024.0, req, stm))
    finally:
        sim.stop()
        cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
