#!/usr/bin/env python3
"""run.py — the model-based randomized test of reconcile (issue 6).

Each batch of scenarios runs against one tracker -- GitHub, Jira Cloud or
ServiceNow (tests/mbt/trackers.py) -- or, for a "multi" batch, against
all three with every item linked to 2-3 targets across trackers
(`closeloop link ITEM CONNECTOR TARGET`).  Each scenario, from its own
seed: a few dozen action items routed to 1-3 targets; rounds of random
edits on the ledger (plain SQL, as an SRE edits) and on the tickets (the
simulators' control APIs, each tracker's own fields: GitHub title, body,
state with its reason, labels, assignees, the due date in the body block,
the block deleted or copied, the ticket deleted or transferred away, the repository renamed
-- the operator then updates the routing once the daemon has re-pointed
its links; Jira
summary, ADF description, status through its workflow with a resolution,
priority, duedate, assignee accountId, labels, the issue deleted;
ServiceNow short_description, description, state 101-107 with close
codes, impact/urgency, assigned_to, due_date, the record deleted), and
in single-tracker batches tickets a person raises in the tracker matching
the targets' discovery rule (GitHub label, Jira JQL on that label,
ServiceNow category: adopted as items, never created, their fields
pulled), the rule taken off one (the item stays, its link marked left,
flagged discovery_left while open) and a postmortem document naming a
discovered ticket (`closeloop import`: the same item, never a second), each
round followed by one cycle of the real daemon (`closeloop sync --once`),
clean or under a fault the tracker's simulator offers (GitHub: 429, 5xx,
time-out, truncated body, connection dropped before or after the tracker
applied the request, the secondary limit; Jira: 429, 5xx; ServiceNow:
429, 5xx, a time-out, the answer lost after the record was written, a
truncated body), or
kill -9 of the daemon at a random moment, two daemons at once (the
advisory lock), PostgreSQL restarted under it.  After every cycle both sides are
read and folded into the model (model.py); then the faults stop and
cycles run until quiet, and the scenario is checked:

  converged   ledger = ticket on every field of every linked item, every
              open item has a ticket;
  duplicates  no item and no create token on two live tickets;
  lost edits  every outcome is one the merge allows (model.py);
  conflicts   every conflict the model saw is in item_event with both
              values;
  vanished    no item changed (closed) because its ticket went away;
  discovered  every ticket raised in the tracker adopted once, as
              discovered, into a new item; one whose ticket left the rule
              still there and flagged.

  python3 tests/mbt/run.py [--scenarios N] [--seed S] [--ops all|core]
                           [--trackers github:7,jira,servicenow,multi] [-v]

--trackers is the cycle of batch kinds: batch n of the run takes entry
n modulo its length (github:7 = seven GitHub batches).

A failure prints its seed and the command that replays that scenario
alone.  Kills and restarts happen at a random moment of a real process,
so a replay repeats the edits and faults exactly but the moment a kill
lands only as closely as the machine's timing allows.
"""

import argparse
import json
import os
import random
import selectors
import signal
import subprocess
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as M  # noqa: E402
import scenario as S  # noqa: E402
import world as W  # noqa: E402

class Batch:
    """W.BATCH scenarios run through the same daemon cycles: the faults of
    a cycle (and the conflict policy) are the batch's, everything else is
    each scenario's own.  Seeded by its first scenario's seed."""

    def __init__(self, world, seed, n, ops, verbose, small, strict, kind):
        self.w = world
        self.seed = seed
        self.rng = random.Random(seed * 7919 + 17)
        self.verbose = verbose
        self.small = small
        self.kind = kind
        self.kinds = list(W.T.KINDS) if kind == "multi" else [kind]
        self.policy = {f: self.rng.choice(M.POLICIES) for f in M.FIELDS}
        self.sc = [S.Scenario(world, k, seed + k, self.policy, ops, verbose, strict, kind)
                   for k in range(n)]
        self.trace = []
        self.cut = False          # the last cycle was killed or lost its ledger
        self.partial = False      # the last cycle may have left items unmerged (model.observe)

    def note(self, s):
        self.trace.append(s)
        if self.verbose:
            print("  [batch %d] %s" % (self.seed, s), flush=True)
        for sc in self.sc:
            sc.trace.append("(batch) " + s)

    # ---- cycles -------------------------------------------------------------
    def fault_cycle(self):
        kind = self.rng.choices(("http", "kill", "two", "pg"), (55, 28, 14, 3))[0]
        self.partial = True
        if kind == "http":
            for _ in range(self.rng.randint(1, 2 if self.small else 3)):
                tr = self.w.trackers[self.rng.choice(self.kinds)]
                self.note("fault: " + tr.fault(self.rng, self.small))
            rc = self.w.sync()
            for k in self.kinds:
                self.w.trackers[k].clear_faults()
        elif kind == "kill":
            t = self.rng.uniform(0.0, 0.5)
            self.note("fault: kill -9 after %.3f s" % t)
            rc = self.w.sync_killed(t)
            self.cut = True
            rc = 0 if rc == -9 else rc
        elif kind == "two":
            self.note("fault: two daemons at once")
            rc = self.w.sync_twice_at_once()
        else:
            t = self.rng.uniform(0.0, 0.4)
            self.note("fault: PostgreSQL restarted after %.3f s" % t)
            rc = self.w.sync_with_pg_restart(t)
            self.cut = True
        self.check_rc(rc)

    def check_rc(self, rc):
        for sc in self.sc:
            if rc == "hung":
                sc.problems.append(("crash", "sync --once did not finish in 120 s"))
            elif rc == "sessions":
                sc.problems.append(("crash", "the ledger sessions of a sync --once killed -9 were still "
                                    "there 30 s later (client_connection_check_interval: 5 s)"))
            elif rc not in (0, 1):
                sc.problems.append(("crash", "sync --once exited %r (see %s/sync.log)" % (rc, self.w.dir)))

    def clean_cycle(self):
        self.note("cycle")
        self.check_rc(self.w.sync())

    def before_cycle(self):
        """newest_wins decides on both sides' change times: read them."""
        if "newest_wins" not in self.policy.values():
            return
        led, tickets = self.w.ledger(), self.w.tickets(self.kinds)
        for sc in self.sc:
            sc.times(led, tickets)

    def hook_round(self):
        """A daemon taking webhook deliveries: its first cycle, the round's
        edits while it runs, a delivery for each ticket a person changed
        -- some dropped, some sent twice (the same delivery again, or the
        same event as a new delivery), all in a shuffled order -- then,
        once its log is quiet, a clean stop."""
        self.note("webhooks: closeloop run")
        self.before_cycle()
        d = self.w.start_daemon()
        if d is None:
            for sc in self.sc:
                sc.problems.append(("crash", "closeloop run: no first cycle (see %s/run.log)" % self.w.dir))
            return
        self.observe()
        self.edit_round()
        out = []
        for sc in self.sc:
            for kind, t, deleted in sc.touched:
                hd = self.w.trackers[kind].delivery(t, deleted)
                r = self.rng.random()
                if r < 0.2:
                    continue                                      # dropped
                out.append((kind, hd))
                if r < 0.4:
                    out.append((kind, hd))                        # redelivered
                elif r < 0.55:
                    out.append((kind, self.w.trackers[kind].delivery(t, deleted)))  # the event twice
        self.rng.shuffle(out)
        answers = [self.w.post(kind, *hd) for kind, hd in out]
        self.note("webhooks: %d deliveries, answers %s" % (len(out), sorted(set(answers))))
        self.w.wait_quiet(d)
        rc = d.stop()
        self.check_rc(rc)
        for sc in self.sc:
            if any(a not in (200, 202) for a in answers):
                sc.problems.append(("crash", "webhook deliveries answered %r" % sorted(set(answers))))
        self.partial = True       # dropped deliveries: their tickets wait for the next poll
        self.observe()

    def edit_round(self):
        for sc in self.sc:
            sc.edits()
        stmts = [q for sc in self.sc for q in sc.sql]
        for sc in self.sc:
            sc.sql = []
        if stmts:
            self.w.q("BEGIN; %s; COMMIT" % "; ".join(stmts))

    def route_renamed(self):
        for old, new in self.w.route_renamed():
            self.note("routing: %s -> %s (the daemon re-pointed its links)" % (old, new))

    def observe(self):
        self.route_renamed()
        led, tickets = self.w.ledger(), self.w.tickets(self.kinds)
        for sc in self.sc:
            sc.observe(led, tickets, self.cut, self.partial)
        self.cut = self.partial = False

    def setup(self):
        self.w.new_ledger(self.policy)
        self.note("kind %s" % self.kind)
        spec, owner = [], []
        lo, hi = (4, 12) if self.small else (8, 30)
        if self.kind == "multi":
            lo, hi = (3, 6) if self.small else (4, 12)
        for sc in self.sc:
            part = sc.plan_items(lo, hi)
            spec += part
            owner += [sc] * len(part)
        ids = self.w.add_items(spec)
        for sc in self.sc:
            mine = [(i, sp) for i, sp, o in zip(ids, spec, owner) if o is sc]
            sc.add([i for i, _ in mine], [sp for _, sp in mine])
        self.w.link_all([ln for sc in self.sc for ln in sc.links])

    def run(self):
        self.setup()
        for _ in range(self.rng.randint(2, 3 if self.small else 6)):
            x = self.rng.random()
            if x < 0.2:
                self.hook_round()
                continue
            self.before_cycle()
            if x < 0.6:
                self.fault_cycle()
            else:
                self.clean_cycle()
            self.observe()
            self.edit_round()
        for k in self.kinds:
            self.w.trackers[k].clear_faults()
        self.note("quiescence")
        for _ in range(8):
            self.before_cycle()
            self.clean_cycle()
            self.observe()
            if all(sc.quiet() for sc in self.sc):
                break
        if any(sc.left for sc in self.sc):
            self.w.flags_once()               # discovery_left (scenario.check_found)
        tickets = self.w.tickets(self.kinds)
        return [sc.check(tickets) for sc in self.sc]


def kinds_cycle(spec):
    """"github:7,jira,servicenow,multi" -> the list of batch kinds."""
    out = []
    for part in spec.split(","):
        name, _, n = part.partition(":")
        if name not in list(W.T.KINDS) + ["multi"]:
            raise SystemExit("--trackers: unknown kind %r (github, jira, servicenow, multi)" % name)
        out += [name] * int(n or 1)
    return out


KEYS = ("converged", "duplicates", "lost", "conflicts", "conflicts_logged", "crash",
        "conflicts_github", "conflicts_jira", "conflicts_servicenow", "conflicts_multi", "held", "found")


def plan(seed, scenarios, cycle):
    """The run's batches, [(index, first seed, scenarios, kind)]: batch b
    starts at seed + b * W.BATCH and is of kind cycle[b mod len(cycle)],
    whichever worker runs it, so every scenario meets the same edits and
    faults as in a serial run (and as in its replay)."""
    out, s, b = [], seed, 0
    while s < seed + scenarios:
        n = min(W.BATCH, seed + scenarios - s)
        out.append((b, s, n, cycle[b % len(cycle)]))
        s, b = s + n, b + 1
    return out


SAN_SEEN = set()   # the sanitizer reports this process has counted (harness.san_reports)


def run_batch(world, s, n, kind, a):
    """One batch on world: (the text to print, [per-scenario result])."""
    lines = []
    b = Batch(world, s, n, a.ops, a.v, a.small, a.strict, kind)
    try:
        results = b.run()
    except Exception:
        results = [{"ok": False, "converged": False}] * n
        for sc in b.sc:
            sc.problems.append(("error", traceback.format_exc()))
    # a sanitizer report of any process of the batch (its daemon cycles
    # share the scenarios) fails each of its scenarios
    world.scan_sync_log()
    reports = W.H.san_reports(SAN_SEEN)
    if reports:
        results = [dict(res, ok=False) for res in results]
        for sc in b.sc:
            sc.problems.append(("sanitizer", ", ".join(os.path.join(W.H.SAN_DIR, f) for f, _ in reports)))
        for f, text in reports:
            lines.append("sanitizer report %s (batch %d):\n%s" % (os.path.join(W.H.SAN_DIR, f), s, text))
    out = []
    for sc, res in zip(b.sc, results):
        for text in sc.held_notes:
            lines.append("HELD seed %d: %s" % (sc.seed, text))
        for text in sc.known:
            lines.append("KNOWN seed %d: %s (replay: python3 tests/mbt/run.py --seed %d --scenarios %d "
                         "--trackers %s --strict -v)" % (sc.seed, text, s, n, kind))
        r = {k: int(res.get(k, 0)) for k in KEYS}
        r.update(seed=sc.seed, kind=kind, batch=s, ok=bool(res["ok"]),
                 problems=sorted({p for p, _ in sc.problems}))
        out.append(r)
        if res["ok"]:
            continue
        lines.append("FAIL seed %d (%s batch %d, %d problems):" % (sc.seed, kind, s, len(sc.problems)))
        for pk, text in sc.problems[:12]:
            lines.append("  %s: %s" % (pk, text))
        if not a.v:
            lines.append("  trace:\n    " + "\n    ".join(sc.trace[-40:]))
        lines.append("  replay: python3 tests/mbt/run.py --seed %d --scenarios %d --trackers %s --ops %s%s%s -v"
                     % (s, n, kind, a.ops, " --small" if a.small else "", " --strict" if a.strict else ""))
    return "\n".join(lines), out


class Worlds:
    """A worker's world, made anew every a.batches_per_world batches."""

    def __init__(self, port, per):
        self.port, self.per, self.world, self.n = port, per, None, 0

    def get(self):
        if self.world is None or self.n % self.per == 0:
            self.close()
            self.world = W.World(self.port, None)
        self.n += 1
        return self.world

    def close(self):
        if self.world:
            self.world.close()
            self.world = None


def worker(a, port):
    """--worker: batches by index from stdin, one line each, until EOF or
    a stop signal; for each, one JSON line on the original stdout (the
    text to print and the scenarios' results).  Everything else the
    driver prints (-v) goes to stderr."""
    proto = os.fdopen(os.dup(1), "w")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, signal.SIG_IGN)       # the parent decides when to stop
    batches = {b[0]: b for b in plan(a.seed, a.scenarios, kinds_cycle(a.trackers))}
    worlds = Worlds(port, a.batches_per_world)
    try:
        while not stop:
            line = sys.stdin.readline()
            if not line:
                break
            _, s, n, kind = batches[int(line)]
            text, res = run_batch(worlds.get(), s, n, kind, a)
            proto.write(json.dumps({"batch": int(line), "text": text, "results": res}) + "\n")
            proto.flush()
    finally:
        worlds.close()
    return 0


def serial(a, port, todo, done):
    """JOBS=1: every batch in this process."""
    worlds = Worlds(port, a.batches_per_world)
    try:
        for b, s, n, kind in todo:
            if a.stop:
                break
            done(*run_batch(worlds.get(), s, n, kind, a))
    finally:
        worlds.close()


def parallel(a, ports, todo, done):
    """JOBS=N: N worker processes (this script with --worker), each with
    its own PostgreSQL cluster on its own port, simulators and daemons;
    the next batch goes to the first worker free, and its text is printed
    whole when it is done."""
    me = os.path.abspath(__file__)
    args = [sys.executable, me, "--worker", "--seed", str(a.seed), "--scenarios", str(a.scenarios),
            "--ops", a.ops, "--trackers", a.trackers, "--batches-per-world", str(a.batches_per_world)]
    args += (["--small"] if a.small else []) + (["--strict"] if a.strict else []) + (["-v"] if a.v else [])
    procs = []
    for p in ports:
        e = dict(os.environ, PGPORT_MBT=str(p))
        procs.append(subprocess.Popen(args, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=e,
                                      start_new_session=True))
    sel = selectors.DefaultSelector()
    queue = list(todo)
    out = {}                  # worker -> the batch it runs (None: idle, its stdin closed)

    def deal(p):
        if queue and not a.stop:
            out[p] = queue.pop(0)
            p.stdin.write("%d\n" % out[p][0])
            p.stdin.flush()
        else:
            out[p] = None
            p.stdin.close()
    try:
        for p in procs:
            sel.register(p.stdout, selectors.EVENT_READ, p)
            deal(p)
        while sel.get_map():
            for key, _ in sel.select(timeout=1.0):
                p = key.data
                line = p.stdout.readline()
                if line:
                    msg = json.loads(line)
                    done(msg["text"], msg["results"])
                    deal(p)
                    continue
                sel.unregister(p.stdout)
                if p.wait() != 0 or out.get(p):
                    b, s, n, kind = out.get(p) or (None, 0, 0, "")
                    print("mbt: worker on port %s exited %r%s" % (
                        ports[procs.index(p)], p.returncode,
                        "" if b is None else " in batch %d (seeds %d..%d, not counted)" % (s, s, s + n - 1)),
                        flush=True)
                    a.failed_workers = getattr(a, "failed_workers", 0) + 1
    finally:
        for p in procs:
            if not p.stdin.closed:
                p.stdin.close()
        for p in procs:
            p.wait()

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenarios", type=int, default=int(os.environ.get("SCENARIOS", "100")))
    ap.add_argument("--seed", type=int, default=int(os.environ.get("MBT_SEED", "1")))
    ap.add_argument("--ops", choices=("all", "core"), default=os.environ.get("MBT_OPS", "all"),
                    help="core leaves out the body-block edits (block deleted, block copied) "
                    "and the repository renamed")
    ap.add_argument("--trackers", default=os.environ.get("MBT_TRACKERS", "github,jira,servicenow,multi"),
                    help="the cycle of batch kinds, e.g. github:7,jira,servicenow,multi")
    ap.add_argument("--small", action="store_true", help="fewer items and rounds (make check)")
    ap.add_argument("--batches-per-world", type=int, default=100,
                    help="batches per PostgreSQL cluster and simulator")
    ap.add_argument("--strict", action="store_true",
                    help="a finding of a known, reported defect (printed as KNOWN) fails the scenario")
    ap.add_argument("--progress", action="store_true", help="a line after every batch")
    ap.add_argument("-v", action="store_true")
    ap.add_argument("--jobs", type=int, default=int(os.environ.get("JOBS") or "1"),
                    help="worker processes, each with its own PostgreSQL cluster (on --ports), "
                    "simulators and daemons; the batches are dealt out by index, so every "
                    "scenario runs as it does in a serial run")
    ap.add_argument("--ports", default=os.environ.get("MBT_PORTS", ""),
                    help="the workers' PostgreSQL ports, comma-separated (default: PGPORT_MBT, "
                    "PGPORT_MBT+1, ...)")
    ap.add_argument("--results", metavar="FILE",
                    help="write each scenario's result as a JSON line (seed, kind, ok, counts, "
                    "problem kinds), in seed order")
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    a = ap.parse_args()
    if not os.path.exists(W.H.BIN):
        print("build/closeloop missing: run make first", file=sys.stderr)
        return 2
    port = int(os.environ.get("PGPORT_MBT") or os.environ.get("PGPORT_INTEGRATION") or "54392")
    if a.worker:
        return worker(a, port)
    ports = [int(x) for x in a.ports.split(",") if x.strip()] or [port + j for j in range(a.jobs)]
    if a.jobs < 1 or len(ports) < a.jobs:
        print("--jobs %d needs as many --ports (have %r)" % (a.jobs, ports), file=sys.stderr)
        return 2
    todo = plan(a.seed, a.scenarios, kinds_cycle(a.trackers))
    per_kind = {}
    tot = dict.fromkeys(KEYS + ("scenarios", "failed"), 0)
    every = []
    t0 = time.time()
    a.stop = []
    # SIGINT/SIGTERM: finish the batches under way, then print the figures
    signal.signal(signal.SIGTERM, lambda *_: a.stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: a.stop.append(1))

    def done(text, results):
        if text:
            print(text, flush=True)
        for r in results:
            every.append(r)
            tot["scenarios"] += 1
            pk = per_kind.setdefault(r["kind"], dict.fromkeys(KEYS + ("scenarios", "failed"), 0))
            pk["scenarios"] += 1
            for k in KEYS:
                tot[k] += r[k]
                pk[k] += r[k]
            if not r["ok"]:
                tot["failed"] += 1
                pk["failed"] += 1
        if a.progress:
            el = time.time() - t0
            print("mbt: %d scenarios, %d failed so far (%.0f s, %.0f an hour, load %s)"
                  % (tot["scenarios"], tot["failed"], el, tot["scenarios"] * 3600 / max(el, 1),
                     " ".join("%.1f" % x for x in os.getloadavg())), flush=True)

    if a.jobs == 1:
        serial(a, ports[0], todo, done)
    else:
        parallel(a, ports[:a.jobs], todo, done)
    every.sort(key=lambda r: r["seed"])
    if a.results:
        with open(a.results, "w") as f:
            for r in every:
                f.write(json.dumps(r, sort_keys=True) + "\n")
    seeds = [r["seed"] for r in every]
    print("mbt: seeds %s, %d scenarios in %.0f s (%d worker%s): %d converged, %d duplicates, %d lost edits, "
          "%d conflicts (%d logged), %d daemon crashes"
          % ("%d..%d" % (seeds[0], seeds[-1]) if seeds else "none", tot["scenarios"], time.time() - t0,
             a.jobs, "s" if a.jobs > 1 else "", tot["converged"], tot["duplicates"], tot["lost"],
             tot["conflicts"], tot["conflicts_logged"], tot["crash"]))
    if seeds and seeds[-1] - seeds[0] + 1 != len(seeds):
        print("mbt: seeds not run (stopped): %s" % ", ".join(
            str(x) for x in sorted(set(range(seeds[0], seeds[-1] + 1)) - set(seeds))))
    for kind, pk in sorted(per_kind.items()):
        print("mbt: %s: %d scenarios, %d converged, %d failed, %d duplicates, %d lost edits, %d conflicts "
              "(%d logged), %d fields held as refused, %d tickets raised in the tracker"
              % (kind, pk["scenarios"], pk["converged"], pk["failed"], pk["duplicates"], pk["lost"],
                 pk["conflicts"], pk["conflicts_logged"], pk["held"], pk["found"]))
    print("mbt: %d passed, %d failed" % (tot["scenarios"] - tot["failed"], tot["failed"]))
    return 1 if tot["failed"] else 0

if __name__ == "__main__":
    sys.exit(main())
