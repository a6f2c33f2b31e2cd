"""scenario.py — one model-based scenario (tests/mbt/run.py): its items on
its own targets of one tracker (or, for a "multi" batch, linked to 2-3
targets across trackers with `closeloop link`), its random edits on both
sides, its observations folded into the model (model.py) and its checks."""

import json
import random

import model as M
import trackers as T
import world as W

STATES = ("open", "in_progress", "done", "wont_do")
TYPES = ("prevent", "detect", "mitigate", "process", "other")
PRIOS = (None, "P0", "P1", "P2", "P3")
OWNERS = (None, "rf", "pw")
WORDS = ("cache", "quota", "alert", "runbook", "failover", "probe", "timeout", "canary",
         "rollback", "dns", "lease", "backup")
UNMANAGED = T.UNMANAGED


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
    """One scenario: its own items on its own targets, its own edits and
    checks; the daemon cycles (and their faults) are its batch's."""

    def __init__(self, world, k, seed, policy, ops, verbose, strict, kind):
        self.w = world
        self.k = k
        self.seed = seed
        self.rng = random.Random(seed)
        self.ops = ops
        self.verbose = verbose
        self.kind = kind          # "github", "jira", "servicenow" or "multi"
        self.items = {}
        self.live = {}            # item id -> [ticket or None per link]
        self.problems = []        # (kind, text)
        self.trace = []
        self.tag = 0
        self.unmanaged = set()    # items whose ticket carries a label closeloop does not manage
        self.policy = policy
        self.sql = []             # this round's ledger edits, sent in one batch
        self.links = []           # (item id, tracker, target) to link by hand
        self.strict = strict
        self.known = []           # findings of a known, reported defect (not failures unless strict)
        self.had_cut = False      # a cycle of this scenario was killed or lost its ledger
        self.round = 0
        self.touched = []         # (tracker, ticket, deleted?) a person changed this round
        self.held_notes = []      # fields a tracker refused, held on the link at the end
        # discovery (docs/configuration.md "Discovery"): tickets raised in
        # the tracker matching the rule, not adopted yet: (target, id) ->
        # (key, their fields when raised); the items adopted from them;
        # those whose ticket left the rule; those a document then named
        self.found = {}
        self.found_items = set()
        self.left = set()
        self.documented = set()

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

    def tracker(self, kind):
        return self.w.trackers[kind]

    def mine(self):
        """{tracker: set of this scenario's targets} (as named now)."""
        return {k: {self.w.names.get(x, x) for x in t.targets(self.k, W.TARGETS_PER)}
                for k, t in self.w.trackers.items()}

    # ---- set-up -------------------------------------------------------------
    def plan_items(self, lo, hi):
        """The scenario's items, as (tracker, target, values) to insert;
        for a multi scenario also the extra links (self.plan)."""
        kinds = list(T.KINDS) if self.kind == "multi" else [self.kind]
        targets = {k: self.tracker(k).targets(self.k, self.rng.randint(1, W.TARGETS_PER)) for k in kinds}
        spec, self.plan = [], []
        for _ in range(self.rng.randint(lo, hi)):
            v = {f: self.fresh(f, None) for f in M.FIELDS}
            v["state"] = self.rng.choice(("open", "open", "open", "in_progress", "done"))
            if self.kind == "multi":
                v["state"] = self.rng.choice(("open", "open", "in_progress"))
                order = self.rng.sample(kinds, self.rng.randint(2, 3))
            else:
                order = kinds
            ln = [(k, self.rng.choice(targets[k])) for k in order]
            spec.append((ln[0][0], ln[0][1], v))
            self.plan.append(ln)
        self.note("%d items on %s; policy %s" % (len(spec), ";".join(
            "%s:%s" % (k, ",".join(t)) for k, t in targets.items()),
            ",".join("%s=%s" % (k, p[0] if p != "newest_wins" else "n") for k, p in self.policy.items())))
        return spec

    def add(self, ids, spec):
        for i, (kind, target, v), ln in zip(ids, spec, self.plan):
            if len(ln) == 1:
                self.items[i] = M.Item(i, kind, target, v, self.tracker(kind).fields,
                                       self.tracker(kind).made)
            else:
                self.items[i] = M.MultiItem(i, v, [(k, t, self.tracker(k).fields, self.tracker(k).made)
                                                   for k, t in ln])
                for k, t in ln[1:]:
                    self.links.append((i, k, t))
                    self.note("link item %d %s %s" % (i, k, t))

    # ---- observation ------------------------------------------------------
    def by_item(self, tickets, ledger_tokens=None):
        """{item id: [(tracker, ticket), ...]} of this scenario's tickets."""
        mine = self.mine()
        known = {}
        for i, it in self.items.items():
            if not it.multi and it.ticket:
                known[(it.kind,) + it.ticket] = i
        out = {}
        for t in tickets:
            if t["target"] not in mine[t["tracker"]]:
                continue
            i = t["item"]
            if i is None:
                # a ticket whose block was deleted is still known by its place
                i = known.get((t["tracker"], t["target"], t["id"]))
            if i in self.items:
                out.setdefault(i, []).append(t)
        return out

    def times(self, led, tickets):
        """Both sides' change times just before a cycle (newest_wins)."""
        grouped = self.by_item(tickets)
        for i, it in self.items.items():
            if it.multi:
                continue
            tk = [t for t in grouped.get(i, []) if t["tracker"] == it.kind]
            if len(tk) == 1:
                it.times = (led[i]["_ms"], tk[0].get("field_ms") or tk[0]["updated_ms"])

    def as_merged(self, kind, rem, candidates):
        """The ticket's fields as the merge compares them: a lossy value
        that is one of the candidates (ledger, agreed) after the round
        trip reads as that candidate (daemon/reconcile/plan.c)."""
        tr = self.tracker(kind)
        out = dict(rem)
        for k, v in rem.items():
            for c in candidates(k):
                if tr.norm(k, v) == tr.norm(k, c):
                    out[k] = c
                    break
        return out

    def as_read(self, it):
        """The ticket's values the model holds from before the cycle as the
        daemon's merge read them (daemon/reconcile/plan.c
        rec_plan_remote): a lossy value that is the ledger's, else the
        agreed one, after the round trip is that value.  Seed 5045 of the
        soak: the ledger's priority P1 -> None, then the ServiceNow ticket's
        P1 -> P3 (newer) under newest_wins; None is written as P3, so the
        daemon rightly saw both sides at the same value and changed
        nothing, where the model wanted both at P3."""
        tr = self.tracker(it.kind)
        for k, fv in it.f.items():
            if not fv.has_base or k not in it.synced or fv.r in (fv.l, fv.b):
                continue
            for c in (fv.l, fv.b):
                if tr.norm(k, fv.r) == tr.norm(k, c):
                    fv.r = c
                    break

    def adopt_found(self, led):
        """The found tickets the daemon adopted since: each becomes a
        model item with the ticket's fields on both sides and as the base
        (linked from the start, fields pulled, never created); a ticket
        linked twice, linked but not as discovered, or adopted into an
        item that already existed is a finding."""
        if not self.found:
            return
        conn = self.tracker(self.kind).conn
        keys = {k.lower(): tg for tg, (k, _) in self.found.items()}
        rows = self.w.q("SELECT remote_id, lower(remote_key), action_item_id, discovered_at IS NOT NULL "
                        "FROM external_link WHERE connector = %s AND (remote_id IN (%s) OR "
                        "lower(remote_key) IN (%s))" % (
                            W.sql_lit(conn), ", ".join(W.sql_lit(i) for _, i in self.found),
                            ", ".join(W.sql_lit(k) for k in keys)))
        seen = {}
        for rid, rkey, item, disc in rows:
            tg = keys.get(rkey) or next((x for x in self.found if x[1] == rid), None)
            if tg is not None:
                seen.setdefault(tg, []).append((int(item), disc == "t"))
        for tg, links in seen.items():
            key, values = self.found.pop(tg)
            i, disc = links[0]
            if len(links) > 1:
                self.problems.append(("duplicate", "ticket %s raised in the tracker has %d links: %r"
                                      % (key, len(links), links)))
            if not disc or i in self.items or i not in led:
                self.problems.append(("lost", "ticket %s raised in the tracker: linked to item %d %s"
                                      % (key, i, "not as discovered" if not disc else
                                         "that existed before" if i in self.items else
                                         "that is not in the ledger")))
                continue
            tr = self.tracker(self.kind)
            v = {k: (None if x is M.UNREAD else x) for k, x in values.items()}
            # a field the tracker does not store is the ledger's default
            v.update({k: ("other" if k == "type" else None) for k in M.FIELDS if k not in tr.fields})
            it = M.Item(i, self.kind, tg[0], v, tr.fields, tr.made)
            it.ticket = tg
            for k, fv in it.f.items():
                if k in tr.fields:
                    fv.r = fv.b = fv.l
                    fv.has_base = True
            self.items[i] = it
            self.found_items.add(i)
            self.note("adopted: ticket %s is item %d" % (key, i))

    def observe(self, led, tickets, cut, partial=False):
        self.had_cut = self.had_cut or cut
        self.adopt_found(led)
        grouped = self.by_item(tickets)
        self.live = {}
        for i, it in self.items.items():
            if i not in led:
                self.problems.append(("lost", "item %d is no longer in the ledger" % i))
                continue
            tk = grouped.get(i, [])
            if it.multi:
                self.observe_multi(it, led[i], tk, cut or partial)
                continue
            tk = [t for t in tk if t["tracker"] == it.kind]
            if len(tk) > 1:
                self.problems.append(("duplicate", "item %d has %d live tickets: %s" % (
                    i, len(tk), ", ".join(t["key"] for t in tk))))
            if it.vanished:
                M.observe(it, self.policy, led[i], None, self.problems, cut)
                continue
            if tk:
                t = tk[0]
                if it.ticket is None:
                    it.ticket = (t["target"], t["id"])
                self.live[i] = [t]
                self.as_read(it)
                rem = self.as_merged(it.kind, t["fields"], lambda k: (led[i][k], it.f[k].b, it.f[k].r))
                M.observe(it, self.policy, led[i], rem, self.problems, cut, cut or partial)
            else:
                if it.ticket is not None:
                    self.problems.append(("lost", "item %d: its ticket %s/%s vanished without "
                                          "being deleted" % ((i,) + it.ticket)))
                M.observe(it, self.policy, led[i], None, self.problems, cut)

    def observe_multi(self, it, led, tk, partial=False):
        rems, live = [], []
        for ln in it.links:
            mine = [t for t in tk if t["tracker"] == ln.kind]
            if len(mine) > 1:
                self.problems.append(("duplicate", "item %d has %d live tickets in %s: %s" % (
                    it.id, len(mine), ln.kind, ", ".join(t["key"] for t in mine))))
            if mine and mine[0]["target"] != ln.target:
                self.problems.append(("lost", "item %d: its %s ticket %s is in %s, linked to %s" % (
                    it.id, ln.kind, mine[0]["key"], mine[0]["target"], ln.target)))
            # every value written since the agreement may be on its way
            # through a lossy field (seed 3289 of the soak: the ledger's
            # None in ServiceNow, read back as P3, while the ledger already
            # held Jira's P1)
            rems.append(self.as_merged(ln.kind, mine[0]["fields"], lambda k: (
                led[k], it.agreed[k]) + tuple(sorted(it.written[k], key=repr))) if mine else None)
            live.append(mine[0] if mine else None)
        self.live[it.id] = live
        M.observe_multi(it, led, rems, self.problems, self.had_cut, partial)

    # ---- edits --------------------------------------------------------------
    def ledger_edit(self, it, field):
        cur = it.l[field] if it.multi else it.f[field].l
        v = self.fresh(field, cur)
        self.sql.append("UPDATE action_item SET %s = %s WHERE id = %d" % (field, W.sql_lit(v), it.id))
        if it.multi:
            it.edit_ledger(field, v, self.round)
        else:
            it.edit_ledger(field, v)
        self.note("ledger: item %d %s := %r" % (it.id, field, v))

    def remote_edit(self, it, field):
        if it.multi:
            choices = [j for j, t in enumerate(self.live[it.id]) if t is not None]
            if not choices:
                return
            j = self.rng.choice(choices)
            t, kind = self.live[it.id][j], it.links[j].kind
            if field not in it.links[j].synced:
                return
            v = self.fresh(field, it.links[j].r[field])
        else:
            j, t, kind = 0, self.live[it.id][0], it.kind
            if field not in it.synced:
                return
            v = self.fresh(field, it.f[field].r)
        cur = it.links[j].r[field] if it.multi else it.f[field].r
        if self.tracker(kind).norm(field, v) == self.tracker(kind).norm(field, cur):
            return            # no change once through the tracker
        if not self.tracker(kind).edit(t, field, v, self.rng):
            return
        if it.multi:
            it.edit_remote(j, field, v, self.round)
        else:
            it.edit_remote(field, v)
        self.touched.append((kind, t, False))
        self.note("ticket %s %s: item %d %s := %r" % (kind, t["key"], it.id, field, v))

    def structural(self, it):
        if it.multi:
            return
        t = self.live[it.id][0]
        tr = self.tracker(it.kind)
        pending_r = any(fv.edited_r for fv in it.f.values())
        choices = ["unmanaged_label"] if it.kind == "github" else []
        if it.id in self.found_items and it.id not in self.left:
            choices.append("unfound")
        if not pending_r:
            choices += ["delete"] + (["transfer"] if tr.transfer else [])
        if self.ops == "all" and it.kind == "github":
            choices += ["block_copy", "rename"]
            if not it.f["due_date"].edited_r:
                # deleting the block also deletes a due date written in
                # it (or in a copy below it) since the last cycle
                choices.append("block_delete")
        if not choices:
            return
        op = self.rng.choice(choices)
        body = t["raw"].get("body") or ""
        k = body.find(T.BEGIN)
        if op == "unfound":
            # the rule taken off (label, category): the item stays, flagged
            tr.unfound(t)
            self.left.add(it.id)
        elif op == "unmanaged_label":
            tr.patch(t, {"labels": T.label_names(t["raw"]) + [UNMANAGED]})
            self.unmanaged.add(it.id)
        elif op == "delete":
            tr.delete(t)
            it.vanished = "deleted"
            del self.live[it.id]
        elif op == "transfer":
            tr.transfer(t)
            it.vanished = "transferred"
            del self.live[it.id]
        elif op == "block_delete" and k >= 0:
            # the block is closeloop's: deleting it is no edit of any field
            tr.patch(t, {"body": body[:k].rstrip()})
        elif op == "rename":
            self.rename(t["target"])
            return
        elif op == "block_copy" and k >= 0:
            # a copy of the block lower in the body with another due date:
            # the last valid value is the ticket's due date
            v = self.fresh("due_date", it.f["due_date"].r)
            # the block alone (to its end marker): body[k:] would also take
            # the copies an earlier block_copy appended, the last of which,
            # with its older date, would stay the last block (seed 803 of
            # the soak: two copies in one round, the model expected the
            # second's date, the daemon rightly took the last block's)
            e = body.find(T.END, k)
            block = body[k:e + len(T.END)] if e >= 0 else body[k:]
            copy = T.DUE_RE.sub("**Due date:** %s" % (v or "none"), block, count=1)
            tr.patch(t, {"body": body.rstrip() + "\n\n" + copy})
            it.edit_remote("due_date", v)
        else:
            return
        self.touched.append((it.kind, t, op == "delete"))
        self.note("ticket %s: item %d %s" % (t["key"], it.id, op))

    def rename(self, repo):
        """The repository renamed on GitHub (every ticket in it keeps its
        number and id); the daemon follows the redirects, re-points the
        links and tells the operator, who then updates the routing."""
        orig = next(r for r, n in self.w.names.items() if n.lower() == repo.lower())
        new, routed = self.w.rename(orig)
        for tk in self.live.values():
            for t in tk:
                if t is not None and t["target"].lower() == repo.lower():
                    t["target"] = new
        for other in self.items.values():
            if not other.multi and other.ticket and other.ticket[0].lower() == repo.lower():
                other.ticket = (new, other.ticket[1])
        for (tg, tid) in list(self.found):
            if tg.lower() == repo.lower():
                key, values = self.found.pop((tg, tid))
                self.found[(new, tid)] = ("%s#%s" % (new, tid), values)
        self.note("ticket: repository %s renamed to %s%s" % (
            repo, new, " (the operator routes to it at once)" if routed else ""))

    def raise_found(self):
        """A person raises an action item in the tracker: a ticket matching
        the discovery rule in one of the scenario's targets (not one whose
        repository was renamed: the routing may not follow it yet)."""
        tr = self.tracker(self.kind)
        targets = [x for x in tr.targets(self.k, W.TARGETS_PER) if self.w.names.get(x, x) == x]
        if not targets:
            return
        t = tr.found_ticket(self.rng.choice(targets), self.fresh("title", None),
                            self.fresh("description", None), self.rng.choice(OWNERS),
                            self.rng.choice(TYPES))
        self.found[(t["target"], t["id"])] = (t["key"], dict(t["fields"]))
        self.note("ticket %s raised in the tracker, matching the rule: %r" % (t["key"], t["fields"]))

    def document(self, it):
        """A postmortem document names the discovered ticket of item it:
        the import makes the document's item that item (one item, its
        fields as they are), never a second one."""
        t = self.live[it.id][0]
        target = it.ticket[0]
        # not a ticket of a renamed repository (as raise_found): the ledger
        # knows it by the old name until the daemon re-points the link, so
        # the import cannot tell the new name's ticket is this item's.  The
        # ticket holds the new name, which names maps to from the original
        # (seed 2211 of the soak: the check compared the new name with itself)
        if any(o != n and n.lower() == target.lower() for o, n in self.w.names.items()):
            return
        ref = "PM-MBT-%d-%d" % (self.seed, it.id)
        path = "%s/%s.md" % (self.w.dir, ref)
        with open(path, "w") as f:
            f.write("---\nid: %s\ntitle: Raised in the tracker\n---\n# Raised in the tracker\n\n"
                    "## Action items\n\n| Action Item | Ticket |\n| --- | --- |\n| %s | %s |\n"
                    % (ref, it.f["title"].l, self.tracker(it.kind).doc_ref(t)))
        self.w.import_doc(path, self.w.team_name(it.kind, target))
        got = [int(r[0]) for r in self.w.q(
            "SELECT i.id FROM action_item i JOIN postmortem p ON p.id = i.postmortem_id "
            "WHERE p.reference = %s ORDER BY i.id" % W.sql_lit(ref))]
        self.documented.add(it.id)
        self.note("document %s names ticket %s (item %d): items %r" % (ref, t["key"], it.id, got))
        if got != [it.id]:
            self.problems.append(("duplicate", "document %s naming the discovered ticket %s of item %d "
                                  "holds items %r" % (ref, t["key"], it.id, got)))

    def edits(self):
        self.round += 1
        self.touched = []
        if self.kind != "multi":
            # a few of each per scenario: make mbt keeps about its time
            for _ in range(self.rng.choice((0, 0, 0, 1, 1))):
                self.raise_found()
            doc = [i for i in sorted(self.found_items) if i in self.live and not self.documented
                   and not self.items[i].vanished]
            if doc and self.rng.random() < 0.3:
                self.document(self.items[self.rng.choice(doc)])
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
        if self.found:
            return False          # a ticket raised in the tracker is not adopted yet
        for it in self.items.values():
            if not M.settled(it):
                return False
            if not it.multi and it.ticket is None and not it.vanished and \
                    it.f["state"].l not in ("done", "wont_do"):
                return False
        return True

    # ---- checks -------------------------------------------------------------
    def refusals(self):
        """{(item id, tracker): {field: value}} the trackers refused and the
        links hold (docs/reconcile.md "Partial writes")."""
        conn = {t.conn: k for k, t in self.w.trackers.items()}
        out = {}
        for r in self.w.q("SELECT action_item_id, connector, refused::text FROM external_link "
                          "WHERE refused IS NOT NULL AND action_item_id BETWEEN %d AND %d"
                          % (min(self.items), max(self.items))):
            doc = json.loads(r[2]) if r[2] else {}
            out[(int(r[0]), conn.get(r[1]))] = {k: (v or {}).get("value") for k, v in doc.items()}
        return out

    def held(self, it, k, value, res):
        """A field the tracker refused (e.g. Jira: no transition from a
        done status to the same status with another resolution) is held
        on the link, its value recorded: not a divergence, counted."""
        if self._refused.get((it.id, it.kind), {}).get(k, "\0") == value:
            res["held"] += 1
            self.held_notes.append("item %d %s: the ledger's %r is held, refused by %s (the ticket holds %r)"
                                   % (it.id, k, value, it.kind, it.f[k].r))
            return True
        return False

    def diverged(self, res):
        self._refused = self.refusals()
        for it in self.items.values():
            if it.multi:
                if not it.settled():
                    self.problems.append(("diverged", "item %d: %s" % (it.id, "; ".join(
                        "%s %s" % (k, ", ".join("%s=%r" % (s if s == "ledger" else it.links[s].kind, v)
                                                for s, v in it.sides(k)))
                        for k in M.FIELDS if len({v for _, v in it.sides(k)}) > 1) or
                        "a link has no ticket")))
                continue
            bad = [k for k, fv in it.f.items() if fv.l != fv.r and k in it.synced
                   and not self.held(it, k, fv.l, res)] if not it.vanished and it.ticket else []
            if bad or (it.ticket is None and not it.vanished and it.f["state"].l not in ("done", "wont_do")):
                self.problems.append(("diverged", "item %d (%s): %s" % (
                    it.id, it.kind, ", ".join("%s ledger %r ticket %r" % (k, it.f[k].l, it.f[k].r)
                                              for k in bad) or "open, no ticket")))

    def check_tickets(self, tickets):
        mine = self.mine()
        tokens = {}
        for t in tickets:
            if t["target"] not in mine[t["tracker"]]:
                continue
            for tok in set(t["tokens"]):
                tokens[tok] = tokens.get(tok, 0) + 1
            if t["tracker"] != "github":
                continue
            issue = t["raw"]
            if T.ITEM_RE.findall(issue.get("body") or "") and (issue.get("body") or "").count(T.BEGIN) != 1:
                self.problems.append(("block", "%s holds %d closeloop blocks" % (
                    t["key"], (issue.get("body") or "").count(T.BEGIN))))
            if t["item"] in self.unmanaged and UNMANAGED not in T.label_names(issue):
                # closeloop changes only its own labels (the label
                # endpoints), never the whole set from a stale pull
                self.problems.append(("lost", "%s lost its label %r" % (t["key"], UNMANAGED)))
        for tok, n in tokens.items():
            if n > 1:
                self.problems.append(("duplicate", "token %s is on %d live tickets" % (tok, n)))

    def check_conflicts(self, res):
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
                res["conflicts_" + ("multi" if it.multi else it.kind)] += 1
                rvs = rv if isinstance(rv, list) else [rv]
                if any(k in leaves and (lv in leaves or it.multi) and any(x in leaves for x in rvs)
                       for leaves in logged.get(it.id, [])):
                    res["conflicts_logged"] += 1
                else:
                    hist = self.w.q("SELECT id, changed_at, source, old_value, new_value FROM item_event "
                                    "WHERE action_item_id = %d AND (field = %s OR detail->>'field' = %s) "
                                    "ORDER BY id" % (it.id, W.sql_lit(k), W.sql_lit(k)))
                    self.problems.append(("conflict", "item %d: conflict on %s (ledger %r, ticket %r) "
                                          "is not in item_event; its events on %s: %r"
                                          % (it.id, k, lv, rv, k, hist)))

    def check_found(self, res):
        """Discovery: every ticket raised in the tracker was adopted; an
        item whose ticket left the rule is still there, its link marked,
        and flagged discovery_left (the batch ran the flags) while it is
        open or in progress: the flag is for open items (sql/033
        closeloop_flags_current; a closed item's is cleared, "item
        closed"), and seeds 59, 184, 287 and 371 of the soak closed the
        item around when its ticket left the rule."""
        res["found"] = len(self.found_items) + len(self.found)
        for key, _ in self.found.values():
            self.problems.append(("diverged", "ticket %s raised in the tracker was never adopted" % key))
        conn = self.tracker(self.kind).conn if self.kind != "multi" else None
        for i in sorted(self.left):
            if self.items[i].vanished:
                continue
            row = self.w.q("SELECT l.discover_left_at IS NOT NULL, (SELECT count(*) FROM item_flag f "
                           "WHERE f.action_item_id = l.action_item_id AND f.kind = 'discovery_left' "
                           "AND f.cleared_at IS NULL) FROM external_link l WHERE l.action_item_id = %d "
                           "AND l.connector = %s" % (i, W.sql_lit(conn)))
            want = ["t", "1" if self.items[i].f["state"].l in ("open", "in_progress") else "0"]
            if not row or row[0] != want:
                self.problems.append(("lost", "item %d (%s): its ticket left the discovery rule, but its "
                                      "link reads (left, open discovery_left flags) %r, not %r"
                                      % (i, self.items[i].f["state"].l, row, [want])))

    def check(self, tickets):
        res = {"converged": self.quiet(), "duplicates": 0, "lost": 0, "conflicts": 0,
               "conflicts_logged": 0, "crash": 0, "held": 0}
        for k in list(T.KINDS) + ["multi"]:
            res["conflicts_" + k] = 0
        if not res["converged"]:
            self.diverged(res)
            res["converged"] = not any(k == "diverged" for k, _ in self.problems)
        self.check_tickets(tickets)
        self.check_conflicts(res)
        self.check_found(res)
        for kind, _ in self.problems:
            if kind == "duplicate":
                res["duplicates"] += 1
            elif kind in ("lost", "block"):
                res["lost"] += 1
            elif kind == "crash":
                res["crash"] += 1
        res["ok"] = not self.problems and res["converged"]
        return res
