#!/usr/bin/env python3
"""`make bench-hooks`: how fast a tracker edit reaches the ledger and the
other trackers, with webhook deliveries and without, and how many
deliveries a second the listener takes while the daemon syncs.

Setup: BENCH_HOOK_ITEMS (default 50) action items routed to the GitHub
simulator, each also linked by hand to the Jira simulator (`closeloop
link`), a daemon with `poll_interval` 3600 s and webhooks on.  Then:

  1. with webhooks: BENCH_HOOK_EDITS (default 1000) title edits on GitHub,
     each followed by a signed issues.edited delivery; per edit the time
     from the delivery to the new title in the ledger, and (every 10th
     edit) to the new summary in the Jira issue (the fan-out);
  2. without: BENCH_HOOK_POLL_EDITS (default 30) edits with no delivery and
     the daemon polling every 10 s (the shortest poll_interval allowed);
  3. listener throughput: BENCH_HOOK_FLOOD (default 2000) signed deliveries
     from 8 threads while a full sync of the other items runs; accepted
     deliveries a second and answers other than 202.

Median and p99 are printed; nothing is asserted.  What it relaxes: the
simulators' rate limits and GitHub's secondary limits are raised (the
edits come faster than GitHub would allow one token to make them), the
connector's pacing with them.  The ledger is polled through one psql
session every 10 ms, so figures carry up to that much of resolution."""

import hashlib
import hmac
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness as H  # noqa: E402

ITEMS = int(os.environ.get("BENCH_HOOK_ITEMS", "50"))
EDITS = int(os.environ.get("BENCH_HOOK_EDITS", "1000"))
POLL_EDITS = int(os.environ.get("BENCH_HOOK_POLL_EDITS", "30"))
FLOOD = int(os.environ.get("BENCH_HOOK_FLOOD", "2000"))
CONN, JCONN = "github-bench", "jira-bench"
REPO = "bench/hooks"
SECRET = "bench webhook secret"
ALICE = "5b10a2844c20165700ede21g"


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


class Ledger:
    """One psql session, for polling without a process per query."""

    def __init__(self, dsn):
        self.p = subprocess.Popen(["psql", "-X", "-q", "-A", "-t", "-d", dsn], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, bufsize=1)

    def one(self, sql):
        self.p.stdin.write(sql.rstrip(";") + ";\n")
        self.p.stdin.flush()
        return self.p.stdout.readline().rstrip("\n")

    def close(self):
        self.p.stdin.close()
        self.p.wait()


def post(port, body, delivery=None):
    raw = json.dumps(body).encode()
    req = urllib.request.Request("http://127.0.0.1:%d/hooks/%s" % (port, CONN), data=raw, method="POST")
    req.add_header("Content-Type", "application/json")
    req.add_header("X-GitHub-Event", "issues")
    req.add_header("X-GitHub-Delivery", delivery or str(uuid.uuid4()))
    req.add_header("X-Hub-Signature-256",
                   "sha256=" + hmac.new(SECRET.encode(), raw, hashlib.sha256).hexdigest())
    try:
        with urllib.request.urlopen(req, timeout=30) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return 0


def payload(issue):
    return {"action": "edited", "issue": {"id": issue["id"], "number": issue["number"]},
            "repository": {"full_name": REPO}}


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def report(name, xs):
    if not xs:
        print("%-52s no samples" % name)
        return
    print("%-52s n=%4d  median %7.3f s  p99 %7.3f s  max %7.3f s"
          % (name, len(xs), statistics.median(xs), pct(xs, 99), max(xs)), flush=True)


def wait_value(led, sql, want, timeout):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if led.one(sql) == want:
            return time.time()
        time.sleep(0.01)
    return None


def main():
    wd = H.workdir("bench-hooks-")
    cluster = H.Cluster(wd, int(os.environ.get("BENCH_PGPORT", "54393")))
    sim = H.Simulator(wd, ["--rate-limit", "100000000"] + list(H.SIM_RAISED_LIMITS))
    jsim = H.JiraSimulator(wd, ["--project", "OPS", "--user", ALICE])
    daemon = None
    led = None
    try:
        dsn = cluster.createdb("closeloop_hooks")
        directory = os.path.join(wd, "directory.conf")
        H.write_directory(directory, [("team", "bench", CONN, REPO)], people=[("rf", "R. F.", "rf-gh")])
        conf = os.path.join(wd, "closeloop.conf")
        hook_port, poll = free_port(), 3600
        secret_file = os.path.join(wd, "hook.secret")
        with open(secret_file, "w") as f:
            f.write(SECRET)
        os.chmod(secret_file, 0o600)

        def write_conf(poll_s):
            H.write_config(conf, dsn, sim.url, [REPO], directory=directory, connector=CONN, poll=poll_s,
                           pacing=H.RAISED_PACING,
                           extra='webhooks = { listen = "127.0.0.1:%d"; };\n' % hook_port)
            text = open(conf).read().replace(
                'token_env = "CLOSELOOP_GITHUB_TOKEN";',
                'token_env = "CLOSELOOP_GITHUB_TOKEN"; webhook_secret_file = "hook.secret";')
            text = text.rstrip()[:-len("} );")] + (
                '}, { name = "%s"; type = "jira"; base_url = "%s"; '
                'token_env = "CLOSELOOP_JIRA_CREDENTIALS"; targets = [ "OPS" ]; '
                'write_spacing_ms = 0; } );\n' % (JCONN, jsim.url))
            with open(conf, "w") as f:
                f.write(text)
        write_conf(poll)
        H.closeloop("migrate", "-c", conf)
        H.closeloop("directory", "load", "-c", conf)
        files = H.write_postmortems(os.path.join(wd, "pm"), ITEMS, prefix="Hooks")
        H.closeloop("import", "-c", conf, "--team", "team", "--platform", "bench", *files)
        H.closeloop("sync", "--once", "-c", conf, timeout=1800)
        ids = [int(r[0]) for r in H.psql(dsn, "SELECT action_item_id FROM external_link "
                                              "WHERE connector='%s' ORDER BY 1" % CONN)]
        for i in ids:
            H.closeloop("link", "-c", conf, str(i), JCONN, "OPS")
        H.closeloop("sync", "--once", "-c", conf, timeout=1800)
        print("hooks bench: %d items in GitHub and Jira; relaxed: simulators' rate limits, GitHub's "
              "secondary limits and the connector's pacing (raised)" % len(ids), flush=True)
        key_of = dict((int(a), k) for a, k in H.psql(
            dsn, "SELECT action_item_id, remote_key FROM external_link WHERE connector='%s'" % CONN))
        jid_of = dict((int(a), k) for a, k in H.psql(
            dsn, "SELECT action_item_id, remote_id FROM external_link WHERE connector='%s'" % JCONN))
        issues = dict((i["number"], i) for i in sim.issues(REPO))
        led = Ledger(dsn)

        def jira_summary(rid):
            for i in jsim.issues("OPS"):
                if str(i["id"]) == str(rid):
                    return i["fields"]["summary"]
            return None

        # 1. with webhooks
        daemon = H.Daemon(conf, os.path.join(wd, "daemon-hooks.log"))
        if not daemon.wait_log("first reconcile cycle complete", 300):
            raise RuntimeError("daemon did not start:\n" + daemon.log()[-2000:])
        to_ledger, to_jira = [], []
        for n in range(EDITS):
            item = ids[n % len(ids)]
            num = int(key_of[item].split("#")[1])
            title = "hook edit %d" % n
            sim.edit(REPO, num, {"title": title, "actor": "rf-gh"})
            t0 = time.time()
            if post(hook_port, payload(issues[num])) != 202:
                raise RuntimeError("delivery refused")
            t1 = wait_value(led, "SELECT title FROM action_item WHERE id=%d" % item, title, 60)
            if t1 is None:
                raise RuntimeError("edit %d never reached the ledger" % n)
            to_ledger.append(t1 - t0)
            if n % 10 == 0:
                deadline = time.time() + 60
                while time.time() < deadline and jira_summary(jid_of[item]) != title:
                    time.sleep(0.02)
                to_jira.append(time.time() - t0)
        report("GitHub edit -> ledger, webhook", to_ledger)
        report("GitHub edit -> Jira issue (fan-out), webhook", to_jira)

        # 3. listener throughput while a sync runs
        H.psql(dsn, "UPDATE action_item SET priority='P2' WHERE id = ANY(ARRAY[%s])"
               % ",".join(str(i) for i in ids))
        codes = []
        lock = threading.Lock()

        def flood(k):
            mine = []
            for n in range(k):
                num = int(key_of[ids[n % len(ids)]].split("#")[1])
                mine.append(post(hook_port, payload(issues[num])))
            with lock:
                codes.extend(mine)
        threads = [threading.Thread(target=flood, args=(FLOOD // 8,)) for _ in range(8)]
        t0 = time.time()
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        took = time.time() - t0
        ok = sum(1 for c in codes if c == 202)
        print("%-52s %d deliveries in %.2f s: %.0f a second accepted, %d other answers"
              % ("listener while syncing (8 senders)", len(codes), took, ok / took,
                 len(codes) - ok), flush=True)
        daemon.stop()

        # 2. without webhooks: polling every 10 s
        write_conf(10)
        daemon = H.Daemon(conf, os.path.join(wd, "daemon-poll.log"))
        if not daemon.wait_log("first reconcile cycle complete", 300):
            raise RuntimeError("daemon did not start:\n" + daemon.log()[-2000:])
        polled = []
        for n in range(POLL_EDITS):
            item = ids[n % len(ids)]
            num = int(key_of[item].split("#")[1])
            title = "polled edit %d" % n
            sim.edit(REPO, num, {"title": title, "actor": "rf-gh"})
            t0 = time.time()
            t1 = wait_value(led, "SELECT title FROM action_item WHERE id=%d" % item, title, 60)
            if t1 is None:
                raise RuntimeError("polled edit %d never reached the ledger" % n)
            polled.append(t1 - t0)
        report("GitHub edit -> ledger, polling every 10 s", polled)
        daemon.stop()
        daemon = None
        return 0
    finally:
        if led:
            led.close()
        if daemon:
            daemon.stop()
        jsim.stop()
        sim.stop()
        cluster.stop()


if __name__ == "__main__":
    sys.exit(main())
