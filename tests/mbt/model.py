"""model.py — what the ledger and each ticket must hold, for the
model-based test (tests/mbt/run.py).  Pure: no I/O.

The model follows docs/reconcile.md "The merge" (daemon/reconcile/merge.c)
field by field.  For an item with one ticket it keeps, per synced field,

  L  the ledger's value, B  the value both sides last agreed on,
  R  the ticket's value (None when the item has no ticket yet).

The driver edits L (SQL) and R (the simulator's control API) between
cycles, and after every cycle -- clean or faulty, finished or killed --
observes both sides.  A cycle may have done all, some or none of its work,
so for each field the model allows exactly two outcomes:

  unchanged  L and R as before the cycle, or
  resolved   L = R = merge(L, B, R, policy)

and nothing else: any other observed value is a lost or invented edit.
When the two sides are seen equal they have agreed, and B becomes that
value (so a later one-sided edit is a push or a pull, never a conflict)
-- for the daemon too once a cycle has merged the item.  A cycle that
may have left items unmerged (cut short, under a fault, or a webhook
round where some deliveries were dropped) leaves the daemon's base
possibly at the older agreement: after it both are possible bases until
a clean cycle, and an outcome either allows is allowed (the ticket edited
back to the older agreement then reads to the daemon as unchanged, and
the ledger's edit is pushed: seed 25 of the soak, owner pw -> None on
both sides under two killed cycles, then back to pw on ServiceNow).
A resolution where both sides had changed to different values is a
conflict, which must be in item_event with both values.

Only the fields the ticket's tracker stores are merged (the connector's
capability table: ServiceNow has no type); a field it does not store
stays the ledger's alone.

newest_wins: the side whose last change is later wins (a tie goes to the
ticket).  The driver reads both sides' change times (the ledger's per
field: its latest item_event's changed_at, else action_item.updated_at;
the ticket's per field from Jira's changelog, else its updated time)
after its edits, just before each cycle; the
daemon merges on the same times.  Where no such reading exists, either
side's value is a valid resolution.

An item with several tickets (closeloop link) is merged link by link, in
an order the model does not fix, so for it the model keeps per field the
value all sides last agreed on and the edits made since (the latest per
side, and every value written): every value seen must be the agreed one
or one written since (a ticket first seen as its create request alone
left it -- Jira's To Do before the follow-up transition, as Item.made --
may hold that value until the daemon pushes the ledger's) -- an edit a later one on the same side superseded
may still be on its way to another ticket (seed 1039 of the soak: Jira
wont_do, then in_progress; ServiceNow, behind two faulty cycles, was
given wont_do from the ledger after that) --; when all sides agree
again, the value must be one of the latest edits (the only one when one
value was written).  A conflict must be in item_event when
the ledger and a ticket were edited to different values in the same round
after all sides had agreed, with no cycle cut short since the scenario
began (a cut cycle may leave a link's base behind, and pairwise merges in
an unknown order may then resolve other edit patterns without conflict).
"""

FIELDS = ("title", "description", "state", "priority", "type", "owner", "due_date")
# A ticket field that cannot be read: the due date of a ticket whose body
# has no closeloop block (deleted on the tracker, not restored yet because
# the cycle was cut short).  The block is closeloop's, deleting it is no
# edit: the ticket still holds what it held.
UNREAD = object()
POLICIES = ("remote_wins", "ledger_wins", "newest_wins")


def merge(l, b, r, has_base, policy, times=None):
    """(values allowed, conflict?) of one field: docs/reconcile.md "The
    merge"; times = (ledger ms, remote ms) for newest_wins."""
    if l == r:
        return (l,), False
    if has_base and l == b:
        return (r,), False
    if has_base and r == b:
        return (l,), False
    if policy == "remote_wins":
        return (r,), True
    if policy == "ledger_wins":
        return (l,), True
    if times is None or None in times:
        return (l, r), True
    return ((l,) if times[0] > times[1] else (r,)), True


class Field:
    __slots__ = ("l", "b", "older", "r", "has_base", "edited_l", "edited_r")

    def __init__(self, value):
        self.l = value
        self.b = None
        self.older = ()         # older agreements the daemon's base may still hold
        self.r = None
        self.has_base = False
        self.edited_l = False   # an edit since the last agreement, per side
        self.edited_r = False


class Item:
    """One action item with one ticket, as the model sees it."""

    multi = False

    def __init__(self, item_id, kind, target, values, synced=FIELDS, made=None):
        self.id = item_id
        # (field, value sent) -> what the tracker's create request alone
        # leaves in the field: its default for a value left out, its first
        # state before the create's follow-up step (trackers.py, made)
        self.made = made or (lambda k, v: v)
        self.kind = kind          # the tracker
        self.repo = target
        self.synced = synced      # the fields the tracker stores
        self.f = {k: Field(values[k]) for k in FIELDS}
        self.ticket = None        # (target, ticket id) once the ticket has been seen
        self.vanished = None      # 'deleted' / 'transferred' when the driver removed the ticket
        self.conflicts = []       # (field, ledger value, remote value, cut) the daemon must log
        self.times = None         # ({field: ledger ms}, ticket ms) read just before the cycle

    def ledger(self):
        return {k: fv.l for k, fv in self.f.items()}

    def edit_ledger(self, field, value):
        fv = self.f[field]
        fv.l = value
        fv.edited_l = True

    def edit_remote(self, field, value):
        fv = self.f[field]
        fv.r = value
        fv.edited_r = True


def observe(item, policy, led, rem, problems, cut=False, partial=None):
    """Fold one observation of both sides after a cycle into the model.

    led: the ledger row as {field: value}; rem: the ticket as {field: value}
    or None when no ticket carries the item; cut: the cycle was cut short
    (kill -9, PostgreSQL restarted); partial: the cycle may have left
    items unmerged (cut, faults, webhook deliveries dropped; default:
    cut).  Appends human-readable
    findings to problems as (kind, text), kind 'lost' (an outcome
    the merge does not allow)."""
    times, item.times = item.times, None
    partial = cut if partial is None else partial
    for k in FIELDS:
        fv = item.f[k]
        lo = led[k]
        if item.ticket is None or item.vanished or k not in item.synced:
            # no ticket to merge with: the ledger keeps what the SRE wrote
            if lo != fv.l:
                problems.append(("lost", "item %d %s: ledger holds %r, the model %r (%s)"
                                 % (item.id, k, lo, fv.l, "not stored by " + item.kind
                                    if k not in item.synced else "no live ticket")))
                fv.l = lo
            continue
        ro = rem[k] if rem is not None else None
        if ro is UNREAD:
            ro = fv.r
        if fv.r is None and not fv.has_base:
            # first sight of the ticket: it was created from the ledger's
            # value at the time of the create, which is the agreement
            if ro != fv.l and ro is not None and ro == item.made(k, fv.l):
                # the create left the field out and the tracker filled in
                # its default (Jira: the default priority), or its
                # follow-up step has not run (the create's answer was
                # lost, or the cycle cut short: Jira's issue still in its
                # first status); the daemon's base is the ticket as the
                # create request left it, so it pushes the ledger's value
                # next
                fv.r = fv.b = ro
                fv.has_base = True
                if lo != fv.l:
                    problems.append(("lost", "item %d %s: ledger moved to %r on create, had %r"
                                     % (item.id, k, lo, fv.l)))
                continue
            if ro != fv.l:
                problems.append(("lost", "item %d %s: new ticket holds %r, the ledger had %r"
                                 % (item.id, k, ro, fv.l)))
            if lo != fv.l:
                problems.append(("lost", "item %d %s: ledger moved to %r on create, had %r"
                                 % (item.id, k, lo, fv.l)))
            fv.l = fv.r = fv.b = lo if lo == ro else fv.l
            fv.has_base = True
            fv.edited_l = fv.edited_r = False
            continue
        # the ticket's time: the field's own where the daemon reads the
        # tracker's history (Jira's changelog), else the ticket's updated
        rt = (times[1].get(k) if isinstance(times[1], dict) else times[1]) if times else None
        # one outcome per base the daemon may hold; a conflict it must
        # log is one on every such base
        ways = [merge(fv.l, b, fv.r, fv.has_base, policy[k], (times[0][k], rt) if times else None)
                for b in (fv.b,) + fv.older]
        wants = tuple(dict.fromkeys(w for ws, _ in ways for w in ws))
        conflict = all(c for _, c in ways)
        if (lo, ro) == (fv.l, fv.r):
            pass                                    # unchanged
        elif lo == ro and lo in wants:
            if conflict:
                item.conflicts.append((k, fv.l, fv.r, cut))
            fv.l = fv.r = lo
        else:
            problems.append(("lost", "item %d %s: ledger %r / ticket %r after a cycle; before it "
                             "ledger %r, ticket %r, agreed %r; the merge allows only unchanged "
                             "or both = %s (%s%s)" % (item.id, k, lo, ro, fv.l, fv.r, fv.b,
                                                     " or ".join(repr(w) for w in wants), policy[k],
                                                     ", change times ledger %s ms, ticket %s ms"
                                                     % (times[0][k], rt)
                                                     if times and policy[k] == "newest_wins" else "")))
            fv.l, fv.r = lo, ro
        if fv.l == fv.r:
            if not partial:
                fv.older = ()
            elif fv.has_base and fv.l != fv.b:
                fv.older = tuple(dict.fromkeys(x for x in (fv.b,) + fv.older if x != fv.l))
            else:
                fv.older = tuple(x for x in fv.older if x != fv.l)
            fv.b = fv.l
            fv.has_base = True
            fv.edited_l = fv.edited_r = False


def settled(item):
    """True when both sides agree on every field (or the ticket is gone)."""
    if item.multi:
        return item.settled()
    if item.vanished or item.ticket is None:
        return True
    return all(fv.l == fv.r for k, fv in item.f.items() if k in item.synced)


class Link:
    """One ticket of an item with several."""

    def __init__(self, kind, target, synced, made=None):
        self.kind, self.target, self.synced = kind, target, synced
        self.ticket = None        # (target, ticket id) once seen
        self.r = None             # {field: value} last seen
        # (field, value sent) -> what the tracker's create request alone
        # leaves in the field (trackers.py, made), as Item.made
        self.made = made or (lambda k, v: v)
        # field -> the value the ticket was first seen holding that only
        # the create request left there (Jira: To Do before the create's
        # follow-up transition), while it still holds it
        self.as_made = {}


class MultiItem:
    """An action item with tickets in several trackers (closeloop link)."""

    multi = True

    def __init__(self, item_id, values, links):
        self.id = item_id
        self.l = dict(values)
        self.agreed = dict(values)
        self.edits = {k: {} for k in FIELDS}     # field -> {side: (value, round)} written by a person
        self.written = {k: set() for k in FIELDS}  # field -> every value written since the agreement
        # field -> the agreement before the last, while a link's base may
        # still hold it: all sides were seen agreeing after a cycle that
        # may have left links unmerged (cut short, faulty), and no clean
        # cycle has merged every link since (the base of Item, Field.older)
        self.older = {k: None for k in FIELDS}
        self.links = [Link(*x) for x in links]
        self.kind, self.repo = self.links[0].kind, self.links[0].target
        self.vanished = None
        self.ticket = None
        self.conflicts = []       # (field, values) the daemon must log as a conflict

    def edit_ledger(self, field, value, rnd):
        self.l[field] = value
        self.edits[field]["ledger"] = (value, rnd)
        self.written[field].add(value)

    def edit_remote(self, j, field, value, rnd):
        self.links[j].r[field] = value
        self.links[j].as_made.pop(field, None)
        self.edits[field][j] = (value, rnd)
        self.written[field].add(value)

    def sides(self, k):
        out = [("ledger", self.l[k])]
        for j, ln in enumerate(self.links):
            if ln.r is not None and k in ln.synced:
                out.append((j, ln.r[k]))
        return out

    def settled(self):
        if any(ln.r is None for ln in self.links) and self.l["state"] not in ("done", "wont_do"):
            return False
        return all(len({v for _, v in self.sides(k)}) == 1 for k in FIELDS)


def observe_multi(item, led, rems, problems, cut_ever, partial=False):
    """rems: per link, the ticket's fields or None (not created yet);
    cut_ever: a cycle of the scenario was cut short; partial: the cycle
    just observed may have left links unmerged (as for observe)."""
    item.l = {k: led[k] for k in FIELDS}
    allowed = {k: {item.agreed[k]} | {v for v, _ in item.edits[k].values()} | item.written[k]
               for k in FIELDS}
    for ln, rem in zip(item.links, rems):
        if rem is None and ln.r is not None:
            problems.append(("lost", "item %d: its ticket in %s/%s vanished" % (item.id, ln.kind, ln.target)))
        if rem is not None:
            first = ln.r is None
            ln.r = {k: (ln.r or {}).get(k) if v is UNREAD else v for k, v in rem.items()}
            if first:
                # first sight of the ticket: created from a value allowed
                # now, it may hold what the create request alone left
                # (its follow-up step not run yet: the answer lost, the
                # cycle cut short -- seed 4121, Jira's issue in To Do for
                # an item in_progress); the daemon's base is the ticket
                # as the create left it (rec_link.c adopt_base), so it
                # pushes the ledger's value next, as for an Item
                ln.as_made = {k: v for k, v in ln.r.items() if k in ln.synced and v not in allowed[k]
                              and any(v == ln.made(k, x) for x in allowed[k])}
            ln.as_made = {k: v for k, v in ln.as_made.items() if ln.r.get(k) == v}
    for k in FIELDS:
        for side, v in item.sides(k):
            if v not in allowed[k] and (side == "ledger" or item.links[side].as_made.get(k) != v):
                problems.append(("lost", "item %d %s: %s holds %r; agreed %r, edits since %r"
                                 % (item.id, k, side if side == "ledger" else
                                    "%s/%s" % (item.links[side].kind, item.links[side].target),
                                    v, item.agreed[k], item.edits[k])))
        vals = {v for _, v in item.sides(k)}
        if len(vals) != 1 or any(ln.r is None for ln in item.links):
            continue
        v = vals.pop()
        written = {x for x, _ in item.edits[k].values()}
        if written and v not in written and v == item.agreed[k] and item.older[k] is not None:
            # the last agreement was seen after a cycle that may have left
            # a link's base at the one before (an update carried out by
            # the tracker, its daemon killed before the merge write: the
            # link's base is the older value, the value sent is only
            # unconfirmed): an edit of one side since reads to the daemon
            # as a change on both, a conflict its policy may resolve to
            # the other side's value -- the agreed one.  Allowed as for
            # Item (two bases), and it must be logged with the edited
            # values (seed 1752 of the soak: Jira's wont_do pushed by a
            # killed cycle, a person's To Do after it, ledger_wins)
            item.conflicts.append((k, v, sorted(written - {v}, key=repr), True))
        elif written and v not in written:
            problems.append(("lost", "item %d %s: all sides agree on %r, but the edits since the "
                             "last agreement were %r" % (item.id, k, v, item.edits[k])))
        rounds = {r for _, r in item.edits[k].values()}
        # an edit back to the agreed value (a ticket edited twice in the
        # round, X then back) is no change to the daemon, which sees only
        # the value at the end of the round: the merge pushes or pulls
        # the other side's value without a conflict
        lv = item.edits[k].get("ledger", (item.agreed[k], None))[0]
        others = [x for s, (x, _) in item.edits[k].items()
                  if s != "ledger" and x not in (item.agreed[k], lv)]
        if lv != item.agreed[k] and others and len(rounds) == 1 and not cut_ever:
            item.conflicts.append((k, lv, others, False))
        if not partial:
            item.older[k] = None
        elif v != item.agreed[k]:
            item.older[k] = item.agreed[k]
        item.agreed[k] = v
        item.edits[k] = {}
        item.written[k] = set()
        for ln in item.links:
            ln.as_made.pop(k, None)
