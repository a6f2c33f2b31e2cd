"""The bench's fill mode (tests/bench/bench.py, BENCH_FILL): the state a
finished first sync leaves, loaded in bulk, for the sizes where importing
and creating every ticket one by one is impractical here (at 100,000 items
the import took 36 min and the relaxed first sync 38 min on this shared
2-core machine).

What it loads, all of it the same items bench.py's gen_postmortems writes as
Markdown (its postmortem numbers, titles, owners, priorities, due dates):
  - the ledger: postmortems and action items by INSERT ... SELECT in one
    transaction (the ledger's triggers run as for any insert: history rows,
    tallies; the history's source is 'bench fill'; the per-item spans of
    sql/034 are rebuilt once at the end, as report_bench.sh does), and one linked
    external_link per item with the base snapshot, ticket id, number and
    updated-at a first sync would have recorded;
  - the GitHub simulator: one issue per item (POST /_sim/seed), as closeloop
    creates it: title, labels (closeloop, priority, type), assignee, and
    the body block with the item's create token.  Issues are stamped as a
    first sync creating FILL_RATE issues a second (round-robin over the
    repositories) would have stamped them, ending 10 minutes ago.
No sync cursor is written: the first cycle after the fill lists every
issue back (as the echo cycle after a real first sync does) and must find
nothing to write."""

import hashlib
import os
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "integration"))
import harness as H  # noqa: E402

FILL_RATE = 100   # issues a second the stamped "first sync" created
FIRST_ID = 3000000001  # the simulator's first issue id (github_sim.py State.next_issue_id)
PER_PM = 20
# the body block closeloop writes (daemon: connectors/github body block)
BODY = ("<!-- closeloop:begin token=%s item=%d -->\n---\n**Postmortem:** %s \u2014 %s\n"
        "**Due date:** %s\n_Managed by closeloop: edit the due date here; the rest of this"
        " block is rewritten._\n<!-- closeloop:end -->\n")


def token(item_id):
    """The fill's create token of item_id: md5('bench-fill-<id>') as a
    UUID, the same in Python and in SQL (md5(...)::uuid)."""
    h = hashlib.md5(("bench-fill-%d" % item_id).encode()).hexdigest()
    return "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:])


def item_fields(n):
    """Fields of the n-th generated item (0-based), as gen_postmortems
    writes them: (postmortem number, index in it, title, owner, priority,
    due date)."""
    pm, i = divmod(n, PER_PM)
    return (pm, i, "Fix thing %d of incident %d" % (i, pm), "user%d" % (i % 7), "P%d" % (i % 4),
            "2027-0%d-1%d" % (1 + i % 9, i % 10))


def layout(n_items, n_repos):
    """[(n, repo index, issue number, simulator id)] in the simulator's
    seeding order (repository by repository, items in postmortem order)."""
    per_repo = [[] for _ in range(n_repos)]
    for n in range(n_items):
        per_repo[(n // PER_PM) % n_repos].append(n)
    out = []
    for r, ns in enumerate(per_repo):
        for k, n in enumerate(ns):
            out.append((n, r, k + 1, FIRST_ID + len(out)))
    return out


def iso(t):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))


def stamp(n, t0):
    """Second at which the stamped first sync created item n."""
    return int(t0 + n / FILL_RATE)


def seed_simulator(sim, repos, rows, t0):
    users = sorted({"user%d-gh" % k for k in range(7)})
    by_repo = {}
    for n, r, num, _ in rows:
        pm, _, title, owner, prio, due = item_fields(n)
        ts = iso(stamp(n, t0))
        body = BODY % (token(n + 1), n + 1, "PM2026-%05d" % pm, "Bench incident %d" % pm, due)
        by_repo.setdefault(repos[r], []).append({
            "number": num, "title": title, "body": body, "user": "closeloop-bot",
            "labels": ["closeloop", "priority: %s" % prio, "type: prevent"],
            "assignees": [owner + "-gh"], "created_at": ts, "updated_at": ts})
    for repo in repos:  # one repository a request: the seeding order is the id order
        sim.seed({"users": users, "repos": {repo: {"issues": by_repo.get(repo, [])}}})


def check_ids(sim, repos, rows):
    """The ids the links record must be the simulator's: read the first
    and the last issue of every repository back."""
    import json
    import urllib.request
    firsts, lasts = {}, {}
    for n, r, num, iid in rows:
        firsts.setdefault(r, (num, iid))
        lasts[r] = (num, iid)
    for r in firsts:
        for num, iid in (firsts[r], lasts[r]):
            req = urllib.request.Request("%s/repos/%s/issues/%d" % (sim.url, repos[r], num),
                                         headers={"Authorization": "token " + H.TOKEN})
            with urllib.request.urlopen(req, timeout=30) as resp:
                got = json.loads(resp.read())["id"]
            if got != iid:
                raise RuntimeError("fill: %s#%d has id %d in the simulator, the fill expected %d"
                                   % (repos[r], num, got, iid))


def fill_ledger(dsn, conn, repos, n_items, t0):
    """Postmortems, items and linked links in one transaction (SQL below
    mirrors item_fields, layout, token and stamp)."""
    n_repos = len(repos)
    repo_list = "ARRAY[%s]" % ",".join("'%s'" % r for r in repos)
    sql = """
BEGIN;
SELECT set_config('closeloop.source', 'bench fill', true);
-- the spans (sql/034) are computed once at the end, not once per history
-- statement: one per item here, which took most of an hour at 100,000
ALTER TABLE item_event DISABLE TRIGGER item_event_item_span;
CREATE TEMP TABLE fill ON COMMIT DROP AS
SELECT n, n / {per} AS pm, n % {per} AS i, (n / {per}) % {nr} AS r FROM generate_series(0, {items} - 1) n;
INSERT INTO postmortem (id, reference, title, platform_id, team_id, kind)
SELECT pm + 1, format('PM2026-%s', lpad(pm::text, 5, '0')), format('Bench incident %s', pm),
       (SELECT id FROM platform WHERE name = 'bench'),
       (SELECT id FROM team WHERE name = format('team%s', lpad(r::text, 2, '0'))), 'document'
  FROM (SELECT DISTINCT pm, r FROM fill) p ORDER BY pm;
INSERT INTO action_item (id, postmortem_id, import_key, position, title, type, priority, owner,
                         team_id, due_date, state, imported)
SELECT n + 1, pm + 1, left(md5(format('bench-fill-key-%s', n)), 16), i + 1,
       format('Fix thing %s of incident %s', i, pm), 'prevent', format('P%s', i % 4),
       format('user%s', i % 7), t.id, format('2027-0%s-1%s', 1 + i % 9, i % 10)::date, 'open',
       jsonb_build_object('type', 'prevent', 'owner', format('user%s', i % 7), 'state', 'open',
                          'title', format('Fix thing %s of incident %s', i, pm), 'team_id', t.id::text,
                          'due_date', format('2027-0%s-1%s', 1 + i % 9, i % 10),
                          'priority', format('P%s', i % 4), 'description', NULL)
  FROM fill JOIN team t ON t.name = format('team%s', lpad(r::text, 2, '0'));
INSERT INTO external_link (action_item_id, connector, target, kind, state, create_token, remote_id,
                           remote_key, url, base, remote_updated_at, remote_extra, synced_version,
                           item_version, intent_at)
SELECT n + 1, '{conn}', repo, 'managed', 'linked', md5(format('bench-fill-%s', n + 1))::uuid::text,
       ({first} + seq - 1)::text, format('%s#%s', repo, num),
       format('https://github.com/%s/issues/%s', repo, num),
       jsonb_build_object('type', 'prevent', 'owner', format('user%s', i % 7), 'state', 'open',
                          'title', format('Fix thing %s of incident %s', i, pm),
                          'due_date', format('2027-0%s-1%s', 1 + i % 9, i % 10),
                          'priority', format('P%s', i % 4), 'description', NULL),
       to_timestamp(floor({t0} + n::float8 / {rate})), '{{"labels": [], "assignees": []}}', 1, 1,
       to_timestamp(floor({t0} + n::float8 / {rate}))
  FROM (SELECT f.*, ({repos})[r + 1] AS repo,
               row_number() OVER (PARTITION BY r ORDER BY n) AS num,
               row_number() OVER (ORDER BY r, n) AS seq FROM fill f) x;
ALTER TABLE item_event ENABLE TRIGGER item_event_item_span;
SELECT closeloop_item_span_rebuild();
SELECT setval(pg_get_serial_sequence('postmortem', 'id'), (SELECT max(id) FROM postmortem));
SELECT setval(pg_get_serial_sequence('action_item', 'id'), (SELECT max(id) FROM action_item));
COMMIT;
""".format(per=PER_PM, nr=n_repos, items=n_items, conn=conn, repos=repo_list, first=FIRST_ID,
           t0=t0, rate=FILL_RATE)
    H.psql(dsn, sql)
    H.psql(dsn, "VACUUM ANALYZE")


def fill(dsn, sim, conn, repos, n_items):
    """Load n_items linked items into the ledger and their issues into the
    simulator; returns the seconds it took.  Prints what it did."""
    t_start = time.time()
    t0 = int(time.time()) - 600 - n_items // FILL_RATE
    rows = layout(n_items, len(repos))
    seed_simulator(sim, repos, rows, t0)
    check_ids(sim, repos, rows)
    fill_ledger(dsn, conn, repos, n_items, t0)
    took = time.time() - t_start
    print("FILL MODE: %d action items in %d postmortems and their %d linked issues loaded in bulk"
          " (ledger by SQL, simulator by /_sim/seed) in %.1f s, instead of `closeloop import` and a"
          " first sync that creates every issue; issues stamped as a first sync creating %d a"
          " second would have (tests/bench/bench_fill.py)"
          % (n_items, (n_items + PER_PM - 1) // PER_PM, n_items, took, FILL_RATE), flush=True)
    return took
