#!/usr/bin/env python3
"""run.py — the model-based randomized test of reconcile (issue 6).

Each scenario, from its own seed: a few dozen action items routed to 1-3
repositories; rounds of random edits on the ledger (plain SQL, as an SRE
edits) and on the tickets (the GitHub simulator's control API: title,
description, state with its reason, the in-progress label, priority and
type labels, assignees, the due date in the body block, the block deleted
or copied, the ticket deleted or transferred away, the repository renamed
-- the operator then updates the routing once the daemon has re-pointed
its links), each round followed
by one cycle of the real daemon (`closeloop sync --once`), clean or under
a fault: 429, 5xx, time-out, truncated body, connection dropped before or
after the tracker applied the request, GitHub's secondary limit, kill -9
of the daemon at a random moment, two daemons at once (the advisory
lock), PostgreSQL restarted under it.  After every cycle both sides are
read and folded into the model (model.py); then the faults stop and
cycles run until quiet, and the scenario is checked:

  converged   ledger = ticket on every field of every linked item, every
              open item has a ticket;
  duplicates  no item and no create token on two live tickets;
  lost edits  every outcome is one the merge allows (model.py);
  conflicts   every conflict the model saw is in item_event with both
              values;
  vanished    no item changed (closed) because its ticket went away.

  python3 tests/mbt/run.py [--scenarios N] [--seed S] [--ops all|core] [-v]

A failure prints its seed and the command that replays that scenario
alone.  Kills and restarts happen at a random moment of a real process,
so a replay repeats the edits and faults exactly but the moment a kill
lands only as closely as the machine's timing allows.
"""

import argparse
import os
import random
import signal
import sys
import time
import traceback

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as M  # noqa: E402
import world as W  # noqa: E402

STATES = ("open", "in_progress", "done", "wont_do")
TYPES = ("prevent", "detect", "mitigate", "process", "other")
PRIOS = (None, "P0", "P1", "P2", "P3")
OWNERS = (None, "rf", "pw")
WORDS = ("cache", "quota", "alert", "runbook", "failover", "probe", "timeout", "canary",
         "rollback", "dns", "lease", "backup")
UNMANAGED = "customer-reported"


def rand_value(rng, field, tag):
    if field == "title":
        return "%s %s %s" % (rng.choice(WORDS).capitalize(), rng.choice(WORDS), tag)
    if field == "description":
        return "Why: %s %s (%s)." % (rng.choice(WORDS), rng.choice(WORDS), tag)
    if field == "state":
        return rng.choice(STATES)
    if field == "priority":
        return rng.choice(PRIOS)
    if field == "type":
        return rng.choice(TYPES)
    if field == "owner":
        return rng.choice(OWNERS)
    if field == "due_date":
        return None if rng.random() < 0.15 else "2027-%02d-%02d" % (rng.randint(1, 12), rng.randint(1, 28))
    raise ValueError(field)


class Scenario:
    """One scenario: its own items on its own repositories, its own edits
    and checks; the daemon cycles (and their faults) are its batch's."""

    def __init__(self, world, k, seed, policy, ops, verbose, strict):
        self.w = world
        self.k = k
        self.seed = seed
        self.rng = random.Random(seed)
        self.ops = ops
        self.verbose = verbose
        self.items = {}
        self.live = {}
        self.problems = []        # (kind, text)
        self.trace = []
        self.tag = 0
        self.unmanaged = set()    # items whose ticket carries a label closeloop does not manage
        self.policy = policy
        self.sql = []             # this round's ledger edits, sent in one batch
        self.strict = strict
        self.known = []           # findings of a known, reported defect (not failures unless strict)
        self.had_cut = False      # a cycle of this scenario was killed or lost its ledger

    def note(self, s):
        self.trace.append(s)
        if self.verbose:
            print("  [%d] %s" % (self.seed, s), flush=True)

    def fresh(self, field, current):
        for _ in range(20):
            self.tag += 1
            v = rand_value(self.rng, field, "s%d.%d" % (self.seed, self.tag))
            if v != current:
                return v
        return current

    # ---- set-up -------------------------------------------------------------
    def plan_items(self, lo, hi):
        """The scenario's items, as (repo, values) to insert."""
        repos = [W.repo_name(self.k, j) for j in range(self.rng.randint(1, W.REPOS_PER))]
        spec = []
        for _ in range(self.rng.randint(lo, hi)):
            v = {f: self.fresh(f, None) for f in M.FIELDS}
            v["state"] = self.rng.choice(("open", "open", "open", "in_progress", "done"))
            spec.append((self.rng.choice(repos), v))
        self.note("%d items on %s; policy %s" % (len(spec), ",".join(repos),
                                               ",".join("%s=%s" % (k, p[0]) for k, p in self.policy.items())))
        return spec

    def add(self, ids, spec):
        for i, (repo, v) in zip(ids, spec):
            self.items[i] = M.Item(i, repo, v)

    # ---- observation ------------------------------------------------------
    def observe(self, led, tickets, cut):
        self.had_cut = self.had_cut or cut
        by_item = {}
        self.live = {}
        known = {it.ticket: i for i, it in self.items.items() if it.ticket}
        for repo, issue in tickets:
            # a ticket whose block was deleted is still known by its place
            i = W.item_of(issue)
            if i is None:
                i = known.get((repo, issue["number"]))
            if i in self.items:
                by_item.setdefault(i, []).append((repo, issue))
        for i, it in self.items.items():
            tk = by_item.get(i, [])
            if len(tk) > 1:
                self.problems.append(("duplicate", "item %d has %d live tickets: %s" % (
                    i, len(tk), ", ".join("%s#%d" % (r, x["number"]) for r, x in tk))))
            if it.vanished:
                M.observe(it, self.policy, led[i], None, self.problems, cut)
                continue
            if tk:
                repo, issue = tk[0]
                if it.ticket is None:
                    it.ticket = (repo, issue["number"])
                self.live[i] = (repo, issue)
                M.observe(it, self.policy, led[i], W.remote_fields(issue), self.problems, cut)
            else:
                if it.ticket is not None:
                    self.problems.append(("lost", "item %d: its ticket %s#%d vanished without "
                                          "being deleted" % ((i,) + it.ticket)))
                M.observe(it, self.policy, led[i], None, self.problems, cut)

    # ---- edits --------------------------------------------------------------
    def ledger_edit(self, it, field):
        v = self.fresh(field, it.f[field].l)
        col = field
        self.sql.append("UPDATE action_item SET %s = %s WHERE id = %d" % (col, W.sql_lit(v), it.id))
        it.edit_ledger(field, v)
        self.note("ledger: item %d %s := %r" % (it.id, field, v))

    def remote_patch(self, it, fields):
        repo, issue = self.live[it.id]
        new = self.w.sim.edit(repo, issue["number"], dict(fields, actor="rf-gh"))
        self.live[it.id] = (repo, new)

    def remote_edit(self, it, field):
        repo, issue = self.live[it.id]
        v = self.fresh(field, it.f[field].r)
        if field == "type" and v is None:
            return
        labels = W.label_names(issue)
        body = issue.get("body") or ""
        k = body.find(W.BEGIN)
        if field == "title":
            patch = {"title": v}
        elif field == "description":
            patch = {"body": (v or "") + ("\n\n" + body[k:] if k >= 0 else "")}
        elif field == "due_date":
            if k < 0:
                return
            # every block's due line: with a copy of the block lower in the
            # body, the last valid one is the ticket's due date
            patch = {"body": body[:k] + W.DUE_RE.sub("**Due date:** %s" % (v or "none"), body[k:])}
        elif field == "state":
            labels = [l for l in labels if l != "status: in progress"]
            if v == "in_progress":
                labels.append("status: in progress")
            patch = {"labels": labels, "state": "closed" if v in ("done", "wont_do") else "open"}
            if v in ("done", "wont_do"):
                patch["state_reason"] = "completed" if v == "done" else "not_planned"
        elif field == "priority":
            patch = {"labels": [l for l in labels if not l.startswith("priority: ")] +
                     (["priority: " + v] if v else [])}
        elif field == "type":
            patch = {"labels": [l for l in labels if not l.startswith("type: ")] + ["type: " + v]}
        elif field == "owner":
            patch = {"assignees": [W.PEOPLE[v]] if v else []}
        self.remote_patch(it, patch)
        it.edit_remote(field, v)
        self.note("ticket: item %d %s := %r" % (it.id, field, v))

    def structural(self, it):
        repo, issue = self.live[it.id]
        pending_r = any(fv.edited_r for fv in it.f.values())
        choices = ["unmanaged_label"]
        if not pending_r:
            choices += ["delete", "transfer"]
        if self.ops == "all":
            choices += ["block_copy", "rename"]
            if not it.f["due_date"].edited_r:
                # deleting the block also deletes a due date written in
                # it (or in a copy below it) since the last cycle
                choices.append("block_delete")
        op = self.rng.choice(choices)
        body = issue.get("body") or ""
        k = body.find(W.BEGIN)
        if op == "unmanaged_label":
            self.remote_patch(it, {"labels": W.label_names(issue) + [UNMANAGED]})
            self.unmanaged.add(it.id)
        elif op == "delete":
            o, r = repo.split("/")
            self.w.sim.call("POST", "/_sim/issues/%s/%s/%d/delete" % (o, r, issue["number"]), {})
            it.vanished = "deleted"
            del self.live[it.id]
        elif op == "transfer":
            o, r = repo.split("/")
            self.w.sim.call("POST", "/_sim/issues/%s/%s/%d/transfer" % (o, r, issue["number"]),
                            {"to": W.ELSEWHERE})
            it.vanished = "transferred"
            del self.live[it.id]
        elif op == "block_delete" and k >= 0:
            # the block is closeloop's: deleting it is no edit of any field
            self.remote_patch(it, {"body": body[:k].rstrip()})
        elif op == "rename":
            # the repository renamed on GitHub (every ticket in it keeps its
            # number and id); the daemon follows the redirects, re-points
            # the links and tells the operator, who then updates the routing
            new = self.w.rename(it.repo)
            for i, (r, x) in list(self.live.items()):
                if r.lower() == repo.lower():
                    self.live[i] = (new, x)
            for other in self.items.values():
                if other.ticket and other.ticket[0].lower() == repo.lower():
                    other.ticket = (new, other.ticket[1])
            self.note("ticket: repository %s renamed to %s" % (repo, new))
            return
        elif op == "block_copy" and k >= 0:
            # a copy of the block lower in the body with another due date:
            # the last valid value is the ticket's due date
            v = self.fresh("due_date", it.f["due_date"].r)
            copy = W.DUE_RE.sub("**Due date:** %s" % (v or "none"), body[k:], count=1)
            self.remote_patch(it, {"body": body.rstrip() + "\n\n" + copy})
            it.edit_remote("due_date", v)
        else:
            return
        self.note("ticket: item %d %s" % (it.id, op))

    def edits(self):
        ids = list(self.items)
        for _ in range(self.rng.randint(1, 8)):
            it = self.items[self.rng.choice(ids)]
            field = self.rng.choice(M.FIELDS)
            side = self.rng.random()
            if side < 0.45 or it.id not in self.live:
                if not it.vanished or side < 0.9:
                    self.ledger_edit(it, field)
            elif side < 0.93:
                self.remote_edit(it, field)
            else:
                self.structural(it)

    def quiet(self):
        for it in self.items.values():
            if not M.settled(it):
                return False
            if it.ticket is None and not it.vanished and it.f["state"].l not in ("done", "wont_do"):
                return False
        return True

    def check(self, tickets):
        res = {"converged": self.quiet(), "duplicates": 0, "lost": 0, "conflicts": 0,
               "conflicts_logged": 0, "crash": 0}
        if not res["converged"]:
            for it in self.items.values():
                bad = [k for k, fv in it.f.items() if fv.l != fv.r] if not it.vanished and it.ticket else []
                if bad or (it.ticket is None and not it.vanished and it.f["state"].l not in ("done", "wont_do")):
                    self.problems.append(("diverged", "item %d: %s" % (
                        it.id, ", ".join("%s ledger %r ticket %r" % (k, it.f[k].l, it.f[k].r) for k in bad)
                        or "open, no ticket")))
        tokens = {}
        mine = {self.w.names[W.repo_name(self.k, j)] for j in range(W.REPOS_PER)}
        for repo, issue in tickets:
            if repo not in mine:
                continue
            for t in set(W.tokens_of(issue)):
                tokens[t] = tokens.get(t, 0) + 1
            if W.item_of(issue) is not None and (issue.get("body") or "").count(W.BEGIN) != 1:
                self.problems.append(("block", "%s#%d holds %d closeloop blocks" % (
                    repo, issue["number"], (issue.get("body") or "").count(W.BEGIN))))
            i = W.item_of(issue)
            if i in self.unmanaged and UNMANAGED not in W.label_names(issue):
                # closeloop changes only its own labels (the label
                # endpoints), never the whole set from a stale pull
                self.problems.append(("lost", "%s#%d lost its label %r"
                                      % (repo, issue["number"], UNMANAGED)))
        for t, n in tokens.items():
            if n > 1:
                self.problems.append(("duplicate", "token %s is on %d live tickets" % (t, n)))
        rows = self.w.q("SELECT action_item_id, detail::text FROM item_event WHERE field = 'conflict' "
                        "AND action_item_id BETWEEN %d AND %d" % (min(self.items), max(self.items)))
        logged = {}
        for r in rows:
            logged.setdefault(int(r[0]), []).append(W.json_leaves(r[1]))
        for it in self.items.values():
            # a conflict resolved by a cycle cut short (kill -9) is logged
            # too: it is committed before the tracker write (sql/031)
            for (k, lv, rv, _cut) in it.conflicts:
                res["conflicts"] += 1
                if any(k in leaves and lv in leaves and rv in leaves for leaves in logged.get(it.id, [])):
                    res["conflicts_logged"] += 1
                else:
                    self.problems.append(("conflict", "item %d: conflict on %s (ledger %r, ticket %r) "
                                          "is not in item_event" % (it.id, k, lv, rv)))
        for kind, _ in self.problems:
            if kind == "duplicate":
                res["duplicates"] += 1
            elif kind in ("lost", "block"):
                res["lost"] += 1
            elif kind == "crash":
                res["crash"] += 1
        res["ok"] = not self.problems and res["converged"]
        return res


class Batch:
    """W.BATCH scenarios run through the same daemon cycles: the faults of
    a cycle (and the conflict policy) are the batch's, everything else is
    each scenario's own.  Seeded by its first scenario's seed."""

    def __init__(self, world, seed, n, ops, verbose, small, strict):
        self.w = world
        self.seed = seed
        self.rng = random.Random(seed * 7919 + 17)
        self.verbose = verbose
        self.small = small
        self.policy = {f: self.rng.choice(M.POLICIES) for f in M.FIELDS}
        self.sc = [Scenario(world, k, seed + k, self.policy, ops, verbose, strict) for k in range(n)]
        self.trace = []
        self.cut = False          # the last cycle was killed or lost its ledger

    def note(self, s):
        self.trace.append(s)
        if self.verbose:
            print("  [batch %d] %s" % (self.seed, s), flush=True)
        for sc in self.sc:
            sc.trace.append("(batch) " + s)

    # ---- cycles -------------------------------------------------------------
    def fault_cycle(self):
        kind = self.rng.choices(("http", "kill", "two", "pg"), (55, 28, 14, 3))[0]
        if kind == "http":
            for _ in range(self.rng.randint(1, 2 if self.small else 3)):
                method, path = self.rng.choice((("POST", "/issues$"), ("PATCH", "/issues/[0-9]+$"),
                                                ("GET", "/issues$"), ("GET", "/issues/[0-9]+$"),
                                                ("GET", "/search/issues"), (None, None)))
                action, after = self.rng.choice((
                    ({"status": 502}, False), ({"status": 500}, False), ({"status": 503}, False),
                    ({"status": 502}, True), ({"drop": True}, False), ({"drop": True}, True),
                    ({"malformed": True}, False), ({"malformed": True}, True),
                    ({"status": 429, "headers": {"retry-after": "1"},
                      "body": {"message": "API rate limit exceeded"}}, False),
                    ({"status": 403, "headers": {"retry-after": "1"},
                      "body": {"message": "You have exceeded a secondary rate limit. Please wait a "
                               "few minutes before you try again."}}, False),
                    ({"delay_ms": 2300}, False)))
                match = {}
                if method:
                    match = {"method": method, "path_regex": path}
                count = 1 if self.small or "delay_ms" in action else self.rng.randint(1, 3)
                self.w.sim.fault(match, action, count=count, after=after)
                self.note("fault: %s %s -> %s%s x%d" % (method or "*", path or "*", action,
                                                          " after" if after else "", count))
            rc = self.w.sync()
            self.w.sim.clear_faults()
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
            elif rc not in (0, 1):
                sc.problems.append(("crash", "sync --once exited %r (see %s/sync.log)" % (rc, self.w.dir)))

    def clean_cycle(self):
        self.note("cycle")
        self.check_rc(self.w.sync())

    def route_renamed(self):
        for old, new in self.w.route_renamed():
            self.note("routing: %s -> %s (the daemon re-pointed its links)" % (old, new))

    def observe(self):
        self.route_renamed()
        led, tickets = self.w.ledger(), self.w.tickets()
        for sc in self.sc:
            sc.observe(led, tickets, self.cut)
        self.cut = False

    def run(self):
        self.w.new_ledger(self.policy)
        spec, owner = [], []
        lo, hi = (4, 12) if self.small else (8, 30)
        for sc in self.sc:
            part = sc.plan_items(lo, hi)
            spec += part
            owner += [sc] * len(part)
        ids = self.w.add_items(spec)
        for sc in self.sc:
            mine = [(i, sp) for i, sp, o in zip(ids, spec, owner) if o is sc]
            sc.add([i for i, _ in mine], [sp for _, sp in mine])
        for _ in range(self.rng.randint(2, 3 if self.small else 6)):
            if self.rng.random() < 0.45:
                self.fault_cycle()
            else:
                self.clean_cycle()
            self.observe()
            for sc in self.sc:
                sc.edits()
            stmts = [q for sc in self.sc for q in sc.sql]
            for sc in self.sc:
                sc.sql = []
            if stmts:
                self.w.q("BEGIN; %s; COMMIT" % "; ".join(stmts))
        self.w.sim.clear_faults()
        self.note("quiescence")
        for _ in range(6):
            self.clean_cycle()
            self.observe()
            if all(sc.quiet() for sc in self.sc):
                break
        tickets = self.w.tickets()
        return [sc.check(tickets) for sc in self.sc]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenarios", type=int, default=int(os.environ.get("SCENARIOS", "100")))
    ap.add_argument("--seed", type=int, default=int(os.environ.get("MBT_SEED", "1")))
    ap.add_argument("--ops", choices=("all", "core"), default=os.environ.get("MBT_OPS", "all"),
                    help="core leaves out the body-block edits (block deleted, block copied) "
                    "and the repository renamed")
    ap.add_argument("--small", action="store_true", help="fewer items and rounds (make check)")
    ap.add_argument("--batches-per-world", type=int, default=100,
                    help="batches per PostgreSQL cluster and simulator")
    ap.add_argument("--strict", action="store_true",
                    help="a finding of a known, reported defect (printed as KNOWN) fails the scenario")
    ap.add_argument("--progress", action="store_true", help="a line after every batch")
    ap.add_argument("-v", action="store_true")
    a = ap.parse_args()
    if not os.path.exists(W.H.BIN):
        print("build/closeloop missing: run make first", file=sys.stderr)
        return 2
    port = int(os.environ.get("PGPORT_MBT") or os.environ.get("PGPORT_INTEGRATION") or "54392")
    keys = ("converged", "duplicates", "lost", "conflicts", "conflicts_logged", "crash")
    tot = dict.fromkeys(keys + ("scenarios", "failed"), 0)
    t0 = time.time()
    world, nb = None, 0
    stop = []
    # SIGINT/SIGTERM: finish the batch under way, then print the figures
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    signal.signal(signal.SIGINT, lambda *_: stop.append(1))
    try:
        s = a.seed
        while s < a.seed + a.scenarios and not stop:
            n = min(W.BATCH, a.seed + a.scenarios - s)
            if world is None or nb % a.batches_per_world == 0:
                if world:
                    world.close()
                world = W.World(port, None)
            nb += 1
            b = Batch(world, s, n, a.ops, a.v, a.small, a.strict)
            try:
                results = b.run()
            except Exception:
                results = [{"ok": False, "converged": False}] * n
                for sc in b.sc:
                    sc.problems.append(("error", traceback.format_exc()))
            for sc, res in zip(b.sc, results):
                for text in sc.known:
                    print("KNOWN seed %d: %s (replay: python3 tests/mbt/run.py --seed %d --scenarios %d "
                          "--strict -v)" % (sc.seed, text, s, n))
                tot["scenarios"] += 1
                for k in keys:
                    tot[k] += int(res.get(k, 0))
                if res["ok"]:
                    continue
                tot["failed"] += 1
                print("FAIL seed %d (batch %d, %d problems):" % (sc.seed, s, len(sc.problems)))
                for kind, text in sc.problems[:12]:
                    print("  %s: %s" % (kind, text))
                if not a.v:
                    print("  trace:\n    " + "\n    ".join(sc.trace[-40:]))
                print("  replay: python3 tests/mbt/run.py --seed %d --scenarios %d --ops %s%s%s -v"
                      % (s, n, a.ops, " --small" if a.small else "", " --strict" if a.strict else ""),
                      flush=True)
            s += n
            if a.progress:
                print("mbt: %d scenarios, %d failed so far (%.0f s)" % (tot["scenarios"], tot["failed"],
                                                                     time.time() - t0), flush=True)
    finally:
        if world:
            world.close()
    print("mbt: seeds %d..%d, %d scenarios in %.0f s: %d converged, %d duplicates, %d lost edits, "
          "%d conflicts (%d logged), %d daemon crashes"
          % (a.seed, a.seed + tot["scenarios"] - 1, tot["scenarios"], time.time() - t0, tot["converged"],
             tot["duplicates"], tot["lost"], tot["conflicts"], tot["conflicts_logged"], tot["crash"]))
    print("mbt: %d passed, %d failed" % (tot["scenarios"] - tot["failed"], tot["failed"]))
    return 1 if tot["failed"] else 0


if __name__ == "__main__":
    sys.exit(main())
