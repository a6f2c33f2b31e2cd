"""model.py — what the ledger and each ticket must hold, for the
model-based test (tests/mbt/run.py).  Pure: no I/O.

The model follows docs/reconcile.md "The merge" (daemon/reconcile/merge.c)
field by field.  For every item and synced field it keeps

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
value (so a later one-sided edit is a push or a pull, never a conflict).
A resolution where both sides had changed to different values is a
conflict, which must be in item_event with both values.

newest_wins is not modelled: it compares item-level change times, which
the driver cannot order against the daemon's own writes.
"""

FIELDS = ("title", "description", "state", "priority", "type", "owner", "due_date")
# A ticket field that cannot be read: the due date of a ticket whose body
# has no closeloop block (deleted on the tracker, not restored yet because
# the cycle was cut short).  The block is closeloop's, deleting it is no
# edit: the ticket still holds what it held.
UNREAD = object()
POLICIES = ("remote_wins", "ledger_wins")


def merge(l, b, r, has_base, policy):
    """(value, conflict?) of one field: docs/reconcile.md "The merge"."""
    if l == r:
        return l, False
    if has_base and l == b:
        return r, False
    if has_base and r == b:
        return l, False
    return (r if policy == "remote_wins" else l), True


class Field:
    __slots__ = ("l", "b", "r", "has_base", "edited_l", "edited_r")

    def __init__(self, value):
        self.l = value
        self.b = None
        self.r = None
        self.has_base = False
        self.edited_l = False   # an edit since the last agreement, per side
        self.edited_r = False


class Item:
    """One action item as the model sees it."""

    def __init__(self, item_id, repo, values):
        self.id = item_id
        self.repo = repo
        self.f = {k: Field(values[k]) for k in FIELDS}
        self.ticket = None        # (repo, number) once the ticket has been seen
        self.vanished = None      # 'deleted' / 'transferred' when the driver removed the ticket
        self.conflicts = []       # (field, ledger value, remote value, cut) the daemon must log

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

    def expect(self, field, policy):
        fv = self.f[field]
        return merge(fv.l, fv.b, fv.r, fv.has_base, policy)


def observe(item, policy, led, rem, problems, cut=False):
    """Fold one observation of both sides after a cycle into the model.

    led: the ledger row as {field: value}; rem: the ticket as {field: value}
    or None when no ticket carries the item; cut: the cycle was cut short
    (kill -9, PostgreSQL restarted).  Appends human-readable
    findings to problems as (kind, text), kind one of 'lost' (an outcome
    the merge does not allow) and 'model' (the ledger moved without a
    ticket)."""
    for k in FIELDS:
        fv = item.f[k]
        lo = led[k]
        if item.ticket is None or item.vanished:
            # no ticket to merge with: the ledger keeps what the SRE wrote
            if lo != fv.l:
                problems.append(("lost", "item %d %s: ledger holds %r, the model %r (no live ticket)"
                                 % (item.id, k, lo, fv.l)))
                fv.l = lo
            continue
        ro = rem[k] if rem is not None else None
        if ro is UNREAD:
            ro = fv.r
        if fv.r is None and not fv.has_base:
            # first sight of the ticket: it was created from the ledger's
            # value at the time of the create, which is the agreement
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
        want, conflict = merge(fv.l, fv.b, fv.r, fv.has_base, policy[k])
        if (lo, ro) == (fv.l, fv.r):
            pass                                    # unchanged
        elif lo == ro == want:
            if conflict:
                item.conflicts.append((k, fv.l, fv.r, cut))
            fv.l = fv.r = lo
        else:
            kind = "lost"
            problems.append((kind, "item %d %s: ledger %r / ticket %r after a cycle; before it "
                             "ledger %r, ticket %r, agreed %r; the merge allows only unchanged "
                             "or both = %r (%s)" % (item.id, k, lo, ro, fv.l, fv.r, fv.b, want, policy[k])))
            fv.l, fv.r = lo, ro
        if fv.l == fv.r:
            fv.b = fv.l
            fv.has_base = True
            fv.edited_l = fv.edited_r = False


def settled(item):
    """True when both sides agree on every field (or the ticket is gone)."""
    if item.vanished or item.ticket is None:
        return True
    return all(fv.l == fv.r for fv in item.f.values())
