#!/usr/bin/env python3
"""report_bench.py DSN ROOT — the timing half of report_bench.sh: every
Grafana panel's SQL (macros expanded, every platform, the last two
years), as closeloop_reader, then `closeloop report` cold and warm.
Figures are printed, not asserted."""

import json
import os
import re
import subprocess
import sys
import time

dsn, root = sys.argv[1], sys.argv[2]
sys.path.insert(0, os.path.join(root, "tests", "integration"))
import harness as H  # noqa: E402
import bench as B  # noqa: E402


def psql(sql, role=True):
    args = ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", dsn]
    if role:
        args += ["-c", "SET ROLE closeloop_reader"]
    t0 = time.time()
    out = subprocess.run(args + ["-c", sql], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit("query failed: %s\n%s" % (sql[:200], out.stderr))
    return out.stdout, time.time() - t0


def pg_cpu():
    """CPU seconds of this cluster's server processes so far (bench.py's
    cluster_cpu: the postmaster and its children, live or reaped)."""
    return B.cluster_cpu(B.postmaster_pid(dsn))


def main():
    platforms = [l for l in psql("SELECT name FROM platform ORDER BY 1", role=False)[0].split("\n") if l]
    dash = json.load(open(os.path.join(root, "examples", "grafana", "closeloop-dashboard.json")))
    t_to = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    t_from = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() - 2 * 365 * 86400))
    var = dash["templating"]["list"][0]["query"]
    queries = [("template variable $platform", var)]
    for p in dash["panels"]:
        for t in p["targets"]:
            queries.append((p["title"], H.grafana_expand(t["rawSql"], platforms, t_from, t_to)))
    binp = os.path.join(root, "build", "closeloop")

    def report(what):
        pg0 = pg_cpu()
        t0 = time.time()
        out = subprocess.run(["/usr/bin/time", "-f", "%U %S %M", binp, "report", "--dsn", dsn],
                             capture_output=True, text=True)
        took = time.time() - t0
        pg = pg_cpu() - pg0
        if out.returncode != 0:
            raise SystemExit("closeloop report failed: %s" % out.stderr)
        user, sys_, rss = out.stderr.strip().split("\n")[-1].split()
        print("closeloop report (all platforms, last quarter, %s): %.1f s wall, %d lines;"
              " closeloop CPU %.2f s, peak RSS %d KiB; PostgreSQL CPU %.1f s"
              % (what, took, out.stdout.count("\n"), float(user) + float(sys_), int(rss), pg),
              flush=True)
        return out.stdout

    cold = report("cold: computed from the item spans, then stored")
    t0 = time.time()
    n = psql("SELECT closeloop_report_store_warm()", role=False)[0].strip()
    print("closeloop_report_store_warm() (the daemon's, each check): %.1f s, %s ended quarters"
          % (time.time() - t0, n), flush=True)
    print("%-42s %10s %10s %14s" % ("panel", "wall ms", "pg exec ms", "buffers hit/read"))
    for title, sql in queries:
        walls = []
        for _ in range(3):  # the best of three (wall and PostgreSQL's): the machine is shared
            walls.append(psql(sql)[1] * 1000)
        best = None
        for _ in range(3):
            plan, _ = psql("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) " + sql)
            pj = json.loads(plan)[0]
            if best is None or pj["Execution Time"] < best["Execution Time"]:
                best = pj
        ex = best["Execution Time"]
        top = best["Plan"]
        print("%-42s %10.0f %10.1f %7d/%d" % (title[:42], min(walls), ex,
                                             top.get("Shared Hit Blocks", 0), top.get("Shared Read Blocks", 0)),
              flush=True)
    warm = report("warm: read from the store")
    strip = lambda t: re.sub(r"generated \d{4}-\d\d-\d\d \d\d:\d\d UTC", "", t)  # noqa: E731
    print("cold and warm reports identical: %s" % (strip(cold) == strip(warm)))
    st, _ = psql("SELECT to_regclass('report_figures_store') IS NOT NULL", role=False)
    if st.strip() == "t":
        st, _ = psql("SELECT count(*) FROM report_figures_store", role=False)
        print("figures stored for ended quarters: %s rows" % st.strip())


if __name__ == "__main__":
    main()
