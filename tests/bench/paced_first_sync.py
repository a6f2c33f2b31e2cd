#!/usr/bin/env python3
"""`BENCH_ITEMS=N python3 tests/bench/paced_first_sync.py`: RUN (not compute) a first sync of N action
items (default 1,000) under GitHub's real write limits, and report it.

The GitHub simulator runs with its defaults, which are GitHub's documented
limits (docs.github.com "Rate limits for the REST API"): 5,000 requests an
hour per token, about 80 content-creating requests a minute and 500 an hour,
one mutating request at a time (a second one in flight is answered with the
secondary-limit 403).  The daemon runs with the connector's default pacing
(write_spacing_ms = 1000, creates_per_minute = 80, creates_per_hour = 500)
as `closeloop run`, in real time: nothing is accelerated.  At 1,000 items the
run takes a little over an hour (the hour's budget of 500 creates is spent
after about 8.5 minutes; the 501st create waits for the first create's hour
to pass).

It reports: the wall time until every item is linked, the create arrival
times the simulator saw (first, 500th, last; the largest number in any
sliding 60 s and 3600 s window), secondary-limit and primary-limit answers
(both must be 0), issues per create token (must be 1), and the daemon's CPU.

What is relaxed, and said in the output: the simulator answers without
network latency (a real create takes a few hundred milliseconds, which the
one-second spacing hides), and the ledger is a local PostgreSQL.

Shortened runs (said in the output): BENCH_CREATES_PER_HOUR lowers the
hour's creation budget of the simulator and of the connector alike (a
tighter limit than GitHub's, so a short run meets the hour's budget), and
BENCH_MAX_S stops the run after that many seconds and reports what the
simulator saw until then.

A stopped run (BENCH_MAX_S) also reports the daemon's own estimate of the
whole first sync: before stopping it, the bench reads /metrics
(closeloop_connector_creates_waiting: the creates its last full cycle left
for lack of budget; closeloop_connector_backlog_drain_seconds: when the
queued writes and those creates will all have gone at the configured
pacing and budgets) and `closeloop status`, and prints

  paced first-sync time for N items: X h (daemon's estimate after M min,
  observed rate R/min)

with the elapsed time plus the daemon's drain time, and checks that the
creates it saw went at the pace that estimate assumes.  `make bench-paced`
(run by `make bench`) does this for 10,000 items stopped after
PACED_S seconds (default 600: the hour's budget of 500 creates is spent
after about 8.5 minutes, and the daemon's first cycle, which ends then,
counts the creates it leaves): a whole run would take about 19 hours.

Environment: BENCH_ITEMS (default 1000), BENCH_REPOS (default 4),
BENCH_PGPORT, BENCH_CREATES_PER_HOUR (default 500), BENCH_MAX_S (default 0:
until every item is linked)."""

import os
import re
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness as H  # noqa: E402

ITEMS = int(os.environ.get("BENCH_ITEMS", "1000"))
REPOS = int(os.environ.get("BENCH_REPOS", "4"))
CONN = "github-paced"
PER_HOUR = int(os.environ.get("BENCH_CREATES_PER_HOUR", "500"))
MAX_S = int(os.environ.get("BENCH_MAX_S", "0"))
GITHUB_PACING = (1000, 80, PER_HOUR)  # the connector's defaults (docs/configuration.md)
TICK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def max_in_window(ts, w):
    best, j = 0, 0
    for i in range(len(ts)):
        while ts[i] - ts[j] >= w:
            j += 1
        best = max(best, i - j + 1)
    return best


def free_port():
    import socket
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def daemon_estimate(port, conf):
    """What the running daemon says of its backlog: /metrics gauges and
    `closeloop status`."""
    import urllib.request
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        text = r.read().decode()
    out = {"status": H.closeloop("status", "-c", conf).stdout}
    for key, name in (("queued", "closeloop_connector_writes_queued"),
                      ("queue_drain_s", "closeloop_connector_write_queue_drain_seconds"),
                      ("waiting", "closeloop_connector_creates_waiting"),
                      ("backlog_drain_s", "closeloop_connector_backlog_drain_seconds"),
                      ("blocked_s", "closeloop_connector_blocked_seconds")):
        m = re.search(r'^%s\{connector="%s"\} (\d+)$' % (name, CONN), text, re.M)
        out[key] = int(m.group(1)) if m else None
    return out


def report_estimate(est, ts, wall, items):
    """The daemon's estimate of the whole first sync, and whether the
    creates seen went at the pace it assumes (one write a second until the
    hour's budget is spent)."""
    if est is None or est["backlog_drain_s"] is None:
        print("the daemon's /metrics had no backlog estimate")
        return False
    print("daemon's /metrics when stopped: %s writes queued (drain in %s s), %s creates waiting for"
          " the budget, backlog drains in %s s, blocked %s s"
          % (est["queued"], est["queue_drain_s"], est["waiting"], est["backlog_drain_s"],
             est["blocked_s"]))
    print("`closeloop status` then:")
    for line in est["status"].splitlines():
        print("  " + line)
    total = wall + est["backlog_drain_s"]
    span_min = (ts[-1] - ts[0]) / 60.0 if len(ts) > 1 else 0.0
    rate = (len(ts) - 1) / span_min if span_min > 0 else 0.0
    # the pace the estimate assumes for the first hour's creates: spacing,
    # capped by the minute's budget
    assumed = min(60.0 / (GITHUB_PACING[0] / 1000.0), GITHUB_PACING[1])
    print("creates seen: %d in %.1f min after the first, %.1f a minute; the estimate assumes %.0f a"
          " minute until the hour's %d are spent, then %d an hour"
          % (len(ts), span_min, rate, assumed, PER_HOUR, PER_HOUR))
    accounted = len(ts) + (est["waiting"] or 0) + (est["queued"] or 0)
    print("creates made + queued + waiting: %d of %d items" % (accounted, items))
    if accounted < items:
        # the first cycle hands creates to the queue while the budgets have
        # room; it ends, and counts what it left, once the hour's is spent
        print("the daemon's first cycle has not ended (it ends when the hour's budget of %d is"
              " spent, after about %.0f min): it does not know its backlog yet; run longer"
              " (PACED_S / BENCH_MAX_S)" % (PER_HOUR, PER_HOUR / assumed))
        return False
    ok = rate >= 0.9 * assumed and rate <= 1.05 * assumed
    print("observed rate %s the estimate's pace (within -10%%/+5%%)" % ("matches" if ok else "DOES NOT match"))
    print("paced first-sync time for %d items: %.1f h (daemon's estimate after %.0f min, observed rate"
          " %.1f/min)" % (items, total / 3600.0, wall / 60.0, rate))
    return ok


def main():
    wd = H.workdir("paced-")
    cluster = H.Cluster(wd, int(os.environ.get("BENCH_PGPORT", "54393")))
    # GitHub's limits: the simulator's defaults (the hour's budget lowered
    # when BENCH_CREATES_PER_HOUR says so)
    repos = ["paced/repo%d" % i for i in range(REPOS)]
    # (the repositories the simulator's token sees: github_sim.py --repos)
    sim = H.Simulator(wd, ("--creates-per-hour", str(PER_HOUR)) if PER_HOUR != 500 else (),
                      repos=repos)
    d = None
    try:
        dsn = cluster.createdb("closeloop_paced")
        directory = os.path.join(wd, "directory.conf")
        H.write_directory(directory, [("team%d" % i, "paced", CONN, repos[i]) for i in range(REPOS)])
        conf = os.path.join(wd, "closeloop.conf")
        port = free_port()
        H.write_config(conf, dsn, sim.url, repos, directory=directory, connector=CONN,
                       poll=10, pacing=GITHUB_PACING, extra='listen = "127.0.0.1:%d";\n' % port)
        H.closeloop("migrate", "-c", conf)
        H.closeloop("directory", "load", "-c", conf)
        # one postmortem of 20 items at a time, numbered across repositories
        # (the importer knows a postmortem by its PM number)
        pm = 0
        for r in range(REPOS):
            files = []
            outdir = os.path.join(wd, "pm%d" % r)
            os.makedirs(outdir)
            n = ITEMS // REPOS + (ITEMS % REPOS if r == 0 else 0)
            while n > 0:
                k = min(20, n)
                path = os.path.join(outdir, "PM2026-%05d - paced incident %d.md" % (pm, pm))
                with open(path, "w") as f:
                    f.write("# Paced incident %d\n\n## Action Items\n\n"
                            "| Action Item | Type | Owner | Priority | Due Date |\n| --- | --- | --- | --- | --- |\n" % pm)
                    for i in range(k):
                        f.write("| Fix thing %d of incident %d | Prevent | rf | P%d | 2027-0%d-1%d |\n"
                                % (i, pm, i % 4, 1 + i % 9, i % 10))
                files.append(path)
                n -= k
                pm += 1
            H.closeloop("import", "-c", conf, "--platform", "paced", "--team", "team%d" % r, *files,
                        timeout=600)
        items = int(H.scalar(dsn, "SELECT count(*) FROM action_item"))
        print("paced first sync: %d action items, %d repositories, real GitHub limits" % (items, REPOS),
              flush=True)
        t0 = time.time()
        d = H.Daemon(conf, os.path.join(wd, "daemon.log"))
        linked = 0
        while True:
            linked = int(H.scalar(dsn, "SELECT count(*) FROM external_link WHERE kind = 'managed'"
                                       " AND state = 'linked'"))
            if linked >= items or (MAX_S and time.time() - t0 >= MAX_S):
                break
            if d.proc.poll() is not None:
                print("daemon exited %s; see %s/daemon.log" % (d.proc.returncode, wd))
                return 1
            if int(time.time() - t0) % 300 < 10:
                print("  %5.0f s: %d of %d linked" % (time.time() - t0, linked, items), flush=True)
            time.sleep(10)
        wall = time.time() - t0
        estimate_ok = True
        cpu = proc_cpu(d.proc.pid)
        scraped = daemon_estimate(port, conf) if linked < items else None
        d.stop()
        st = sim.stats()
        # the request log is large (every token search is in it): read it
        # with a long time-out (harness.Simulator.call allows 30 s)
        import json
        import urllib.request
        with urllib.request.urlopen(sim.url + "/_sim/requests", timeout=600) as resp:
            log = json.loads(resp.read())
        ts = sorted(r["ts"] for r in log if r["method"] == "POST" and re.search(r"/issues$", r["path"]))
        tokens = {}
        for repo in repos:
            for i in sim.live_issues(repo):
                m = re.search(r"closeloop:begin token=(\S+)", i.get("body") or "")
                if m:
                    tokens[m.group(1)] = tokens.get(m.group(1), 0) + 1
        print()
        print("items linked:                %d of %d" % (linked, items))
        print("wall time until all linked:  %.0f s (%d h %02d min)" % (wall, wall // 3600, wall % 3600 // 60))
        if ts:
            print("creates the simulator saw:   %d (first at +0 s, 500th at +%.0f s, last at +%.0f s)"
                  % (len(ts), ts[min(499, len(ts) - 1)] - ts[0], ts[-1] - ts[0]))
        print("most creates in any 60 s:    %d (GitHub: about 80)" % max_in_window(ts, 60))
        print("most creates in any 3600 s:  %d (GitHub: 500)" % max_in_window(ts, 3600))
        print("smallest gap between creates: %.3f s (configured spacing 1.000 s)"
              % min([b - a for a, b in zip(ts, ts[1:])] or [0]))
        print("secondary-limit answers:     %d; primary-limit answers: %d"
              % (st["secondary_limited"], st["rate_limited"]))
        print("issues per create token:     %s" % sorted(set(tokens.values())))
        print("requests by kind:            list %d, get %d, search %d, create %d, update %d, 304 %d"
              % (st["list"], st["get"], st["search"], st["create"], st["update"], st["not_modified"]))
        gets = sum(1 for r in log if r["method"] == "GET")
        searches = [r for r in log if r["method"] == "GET" and r["path"].startswith("/search/")]
        print("GET requests:                %d, of them token searches %d; POST requests %d; 403 answers"
              " (the search limit's) %d" % (gets, len(searches),
                                            sum(1 for r in log if r["method"] == "POST"),
                                            st["by_status"].get("403", 0)))
        print("answers by status:           %s" % st["by_status"])
        print("daemon CPU (user+system):    %.2f s" % cpu)
        print("Relaxed: the simulator answers without network latency; nothing else (real time,"
              " GitHub's documented limits in the simulator, the connector's default pacing).")
        if PER_HOUR != 500:
            print("Changed: the hour's creation budget is %d, not GitHub's 500, in the simulator and"
                  " the connector alike (BENCH_CREATES_PER_HOUR)." % PER_HOUR)
        if linked < items:
            print("Stopped after %d s (BENCH_MAX_S) with %d of %d items linked." % (MAX_S, linked, items))
            estimate_ok = report_estimate(scraped, ts, wall, items)
        # a stopped run counted its links before the daemon stopped
        ok = ((linked == items or MAX_S) and (len(ts) == linked or (MAX_S and len(ts) >= linked))
              and estimate_ok and st["secondary_limited"] == 0
              and st["rate_limited"] == 0 and set(tokens.values()) <= {1})
        return 0 if ok else 1
    finally:
        if d:
            d.stop()
        sim.stop()
        cluster.stop()


if __name__ == "__main__":
    sys.exit(main())
