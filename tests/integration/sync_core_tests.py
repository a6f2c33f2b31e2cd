"""Integration tests of the reconcile engine's cost and recovery (imported
by run.py): the real daemon, a real PostgreSQL and the GitHub simulator.

Each test uses run.py's per-test fixture (Ctx); run.py is imported inside
the tests, once it is fully loaded, since run.py imports this file."""

import calendar
import json
import os
import re
import time

import harness as H

REPO = "dfds/platform-backlog"


def _run():
    import run  # noqa: E402  (see the module comment)
    return run


def _list_requests(c, repo):
    o, r = repo.split("/")
    return [x for x in c.sim.call("GET", "/_sim/requests")
            if x["method"] == "GET" and re.match(r"^/repos/%s/%s/issues(\?|$)" % (o, r), x["path"])]


def test_relist_after_bulk_sync_lists_the_edit_not_the_overlap(cl):
    """A bulk sync creates 200 issues over two minutes (50 every 40 s).  The
    first edit on GitHub after it costs one listing page (plus the probe):
    GitHub's issue list is consistent, so the window overlaps the cursor by
    the connector's settle margin (5 s), not by the configured `overlap`
    (120 s), which would list the last 150 issues again (two pages more)."""
    R = _run()
    c = R.Ctx(cl, "relist_after_bulk", targets=[REPO], sim_args=H.SIM_RAISED_LIMITS,
              pacing=H.RAISED_PACING)
    try:
        files = H.write_postmortems(os.path.join(c.dir, "pm"), 200, per_pm=50)
        for f in files:
            c.imp(f)
            c.sync()
            c.sim.call("POST", "/_sim/clock", {"advance_s": 40})
        c.sync()
        R.assert_eq(R.managed_links(c), 200, "linked items")
        num = max(i["number"] for i in c.sim.live_issues(REPO))
        c.sim.call("POST", "/_sim/clock", {"advance_s": 10})
        c.sim.edit(REPO, num, {"title": "Edited on GitHub after the bulk sync"})
        c.sim.call("DELETE", "/_sim/requests")
        c.sync()
        R.assert_eq(c.one("SELECT i.title FROM action_item i JOIN external_link l ON l.action_item_id = i.id"
                          " WHERE l.kind = 'managed' AND l.remote_key = '%s#%d'" % (REPO, num)),
                    "Edited on GitHub after the bulk sync", "edit pulled")
        lists = _list_requests(c, REPO)
        R.assert_true(len(lists) <= 2, "the edit cost %d listing requests (probe + one page expected):\n%s"
                      % (len(lists), "\n".join(x["path"] for x in lists)))
    finally:
        c.close()


def _backend_pids(c):
    """The daemon's ledger sessions (every session on the test database but psql's own)."""
    return [r[0] for r in c.q("SELECT pid FROM pg_stat_activity WHERE datname = current_database()"
                              " AND pid <> pg_backend_pid() AND backend_type = 'client backend'")]


def test_stuck_create_refused_five_times_is_broken_not_creating(cl):
    """The tracker refuses one item's create five times (422).  The link
    then becomes 'broken' (reason 'refused', an item_event says so), is not
    created a sixth time, and no longer holds the listing back to its intent:
    the cycles after it are quiet again (one conditional request)."""
    R = _run()
    c = R.Ctx(cl, "stuck_create", targets=[REPO], extra="create_min_age = 0;\n")
    try:
        c.imp(*H.write_postmortems(os.path.join(c.dir, "pm"), 1))
        c.sim.fault({"method": "POST", "path_regex": "/issues$"},
                    {"status": 422, "body": {"message": "Validation Failed",
                                             "errors": [{"resource": "Issue", "code": "custom",
                                                         "message": "title is not allowed"}]}},
                    count=5)
        for _ in range(6):
            c.sync(check=False)  # exits 1: the refusal is an error of the cycle
        R.assert_eq(c.q("SELECT state, broken_reason, error_count FROM external_link WHERE kind = 'managed'"),
                    [["broken", "refused", "5"]], "link after five refusals")
        R.assert_eq(c.one("SELECT count(*) FROM item_event WHERE field = 'link'"
                          " AND new_value = 'broken: refused'"), "1", "history of the link")
        c.sync()
        c.sim.reset_stats()
        c.sync()
        st = c.sim.stats()
        R.assert_eq(st["create"], 0, "a sixth create")
        R.assert_true(st["total"] <= 1 and st["list"] <= 1, "quiet cycle after it: %r" % st)
        R.assert_eq(R.managed_links(c, "creating"), 0, "links left creating")
    finally:
        c.close()


def test_cancelled_create_with_unknown_outcome_is_not_a_refusal(cl):
    """A stop cancels a create whose answer never came (the simulator holds
    it for 60 s; the request time-out is 90 s; the daemon's stop gives up
    after 20 s and cancels it).  Its outcome is
    unknown, so the link keeps error_count 0: it is not one of the five
    refusals that would end its create."""
    R = _run()
    c = R.Ctx(cl, "cancelled_create", targets=[REPO], request_timeout=90)
    try:
        c.imp(*H.write_postmortems(os.path.join(c.dir, "pm"), 1))
        c.sim.fault({"method": "POST", "path_regex": "/issues$"}, {"delay_ms": 60000}, count=1)
        d = c.daemon()
        R.assert_true(H.wait_for(lambda: c.sim.stats()["create"] >= 1 or
                                 any(r["method"] == "POST" for r in c.sim.call("GET", "/_sim/requests")),
                                 timeout=30), "create sent")
        R.assert_true(d.stop(timeout=60) == 0, "daemon stopped cleanly")
        R.assert_true("cancel" in d.log(), "the stop cancelled the create:\n" + d.log()[-2000:])
        R.assert_eq(c.q("SELECT state, error_count FROM external_link WHERE kind = 'managed'"),
                    [["creating", "0"]], "link after the cancelled create")
    finally:
        c.close()


def test_lock_handover_stops_queued_creates(cl):
    """A daemon works through 40 creates one every 300 ms.  Its ledger
    session is killed and another session takes the connector's lock at
    once.  From then on the first daemon sends no create (at most the one
    already in flight), though its queue still held dozens.  Once the lock
    is free again it takes it back, adopts the tickets it created (their
    links were not recorded) and -- without waiting create_min_age (300 s)
    -- creates the rest: a consistent listing that started 15 s after it
    took the lock (GitHub's 10 s processing limit + the 5 s settle margin)
    and does not show their tokens proves they never reached GitHub.  No
    token has two issues."""
    import subprocess
    import time
    R = _run()
    c = R.Ctx(cl, "lock_handover", targets=[REPO], pacing=(300, 80, 500))
    holder = None
    try:
        c.imp(*H.write_postmortems(os.path.join(c.dir, "pm"), 40))
        d = c.daemon()
        R.assert_true(H.wait_for(lambda: c.sim.stats()["create"] >= 3, timeout=60), "creates started")
        pids = _backend_pids(c)
        # waits for the lock, so it holds it the moment the daemon's session dies
        holder = subprocess.Popen(["psql", "-X", "-q", "-d", c.dsn, "-c",
                                   "SELECT pg_advisory_lock(hashtext('closeloop:connector:%s'))" % R.CONN,
                                   "-c", "SELECT pg_sleep(8)"], stdout=subprocess.DEVNULL)
        c.q("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid IN (%s)"
            % ",".join(pids))
        at_loss = c.sim.stats()["create"]
        time.sleep(5)
        after = c.sim.stats()["create"]
        R.assert_true(after - at_loss <= 1, "%d creates after the lock was lost (%d before)"
                      % (after - at_loss, at_loss))
        holder.wait(30)
        holder = None
        R.assert_true(H.wait_for(lambda: R.managed_links(c) == 40, timeout=90),
                      "all linked within 90 s of the lock coming back: %d, %d creating"
                      % (R.managed_links(c), R.managed_links(c, "creating")))
        R.assert_eq(sorted(set(R.token_counts(c, REPO).values())), [1], "issues per token")
        R.assert_true("ledger session lost" in d.log(), "log says why:\n" + d.log()[-2000:])
    finally:
        if holder:
            holder.kill()
        c.close()


def _daemon_over_two_items(c):
    """Two items synced, then a running daemon past its first cycle:
    (daemon, first item id, its repository, its issue number)."""
    R = _run()
    c.imp(*H.write_postmortems(os.path.join(c.dir, "pm"), 2))
    c.sync()
    d = c.daemon()
    R.assert_true(d.wait_log("first reconcile cycle complete", timeout=60), "daemon up")
    item = int(c.one("SELECT min(id) FROM action_item"))
    repo, num, _ = R.issue_by_item(c, item)
    return d, item, repo, num


def test_edit_during_a_ledger_outage_is_pushed_on_reconnect(cl):
    """The daemon polls every 120 s.  Its ledger session is killed and an
    item is edited before it reconnects: the NOTIFY of that edit reached no
    one.  On reconnecting, the daemon pushes at once, not at the next poll."""
    import time
    R = _run()
    c = R.Ctx(cl, "outage_edit", targets=[REPO], poll=120)
    try:
        d, item, repo, num = _daemon_over_two_items(c)
        pids = _backend_pids(c)
        # one psql: the session dies, then the edit commits (the daemon
        # waits a second before reconnecting)
        c.q("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid IN (%s);"
            " UPDATE action_item SET title = 'Edited while the daemon was away' WHERE id = %d"
            % (",".join(pids), item))
        t0 = time.time()

        def pushed():
            return [i for i in c.sim.issues(repo) if i["number"] == num][0]["title"] == \
                "Edited while the daemon was away"
        R.assert_true(H.wait_for(pushed, timeout=30), "edit pushed within 30 s of the reconnect:\n"
                      + d.log()[-2000:])
        R.assert_true(time.time() - t0 < 30, "pushed on reconnect")
    finally:
        c.close()


def test_creates_waiting_for_the_budget_are_not_recovered(cl):
    """The hour's creation budget is 6 (the simulator's and the connector's:
    GitHub's 500 lowered so that a test sees it spent) and 20 items wait to
    be created; one create's answer is lost (GitHub made the issue, the
    answer never came).  Over four cycles of a daemon the 6 issues are made
    and linked (the lost one adopted from the listing by its token), and the
    14 items the budget cannot take this hour get no create intent: they are
    not left 'creating' for recovery to search for.  create_min_age = 0
    lets recovery search at once (as it does after 5 min in a long first
    sync): the simulator sees at most one token search -- only a create
    that was sent and lost its answer may need one -- no secondary limit,
    and no token on two issues.  /metrics shows the 14 creates waiting
    and when they will all have gone: 6 an hour, so about 3 hours from the
    first sends; `closeloop status` (text and --json), which reads the
    row the daemon writes in the ledger, shows the same."""
    import socket
    import time
    import urllib.request
    R = _run()
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    c = R.Ctx(cl, "budget_creates", targets=[REPO],
              extra='create_min_age = 0;\nlisten = "127.0.0.1:%d";\n' % port,
              sim_args=("--creates-per-hour", "6"), pacing=(20, 80, 6))
    try:
        c.imp(*H.write_postmortems(os.path.join(c.dir, "pm"), 20))
        c.sim.fault({"method": "POST", "path_regex": "/issues$"}, {"drop": True}, count=1, after=True)
        t0 = time.time()
        d = c.daemon()
        R.assert_true(H.wait_for(lambda: c.sim.stats()["create"] >= 6, timeout=60), "six creates")
        time.sleep(35)  # three more cycles (poll_interval 10 s)
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=5) as r:
            text = r.read().decode()
        person = H.closeloop("status", "-c", c.config).stdout
        status = [s for s in json.loads(H.closeloop("status", "--json", "-c", c.config).stdout)
                  if s["connector"] == R.CONN][0]
        d.stop()
        R.assert_true(re.search(r"^  creates      14 waiting for the creation budget; with the queue,"
                                r" all sent in about [23] h \d+ min \(\d{4}-\d\d-\d\d [\d:]+ UTC\)$",
                                person, re.M), "closeloop status:\n" + person)
        R.assert_eq(status["creates_waiting"], 14, "status --json: creates waiting")
        backlog = calendar.timegm(time.strptime(status["backlog_drains_at"], "%Y-%m-%d %H:%M:%S UTC"))
        R.assert_true(3 * 3600 - 120 <= backlog - t0 <= 3 * 3600 + 120,
                      "status --json: backlog drains about 3 h after the first sends: %r"
                      % status["backlog_drains_at"])
        R.assert_eq(R.metric(text, "closeloop_connector_creates_waiting"), 14,
                    "creates waiting:\n" + text[-2500:])
        drain = R.metric(text, "closeloop_connector_backlog_drain_seconds")
        gone = time.time() - t0
        R.assert_true(drain is not None and 3 * 3600 - gone - 60 <= drain <= 3 * 3600 + 60,
                      "backlog drains in about 3 h (6 an hour), %r s" % drain)
        R.assert_true(re.search(r'^closeloop_reconcile_total\{kind="create_deferred"\} (\d+)$', text, re.M)
                      and int(re.search(r'kind="create_deferred"\} (\d+)', text).group(1)) >= 14,
                      "deferred creates counted:\n" + text[-2500:])
        st = c.sim.stats()
        R.assert_eq(st["create"], 6, "creates (the hour's budget)")
        R.assert_eq(st["secondary_limited"], 0, "secondary-limit answers")
        R.assert_true(st["search"] <= 1, "%d token searches for creates never sent (at most the"
                      " lost answer's one expected): %r" % (st["search"], st))
        R.assert_eq(R.managed_links(c), 6, "linked")
        R.assert_eq(R.managed_links(c, "creating"), 0, "links left creating")
        R.assert_eq(sorted(set(R.token_counts(c, REPO).values())), [1], "issues per token")
    finally:
        c.close()


def test_conflict_survives_kill9_between_tracker_and_ledger_write(cl):
    """A conflict on the title (ledger and GitHub both edited it) is
    resolved by the policy ledger_wins: the issue gets the ledger's title.
    The daemon is killed (-9) after GitHub took that update and before the
    merge's ledger write (a session holds the link's row, so the write
    waits).  The conflict, with both values, is in item_event all the same:
    it was committed before the update went out.  The next cycle finds both
    sides equal, records nothing twice, and the history holds exactly one
    conflict event.  The dead daemon's session ends within seconds though
    its statement waits for the row (the daemon sets
    client_connection_check_interval), so the next cycles take the
    connector's lock and work it; before, that session waited on for the
    row with the lock held, and they skipped the connector."""
    import time
    R = _run()
    c = R.Ctx(cl, "conflict_kill9", targets=[REPO], policy={"title": "ledger_wins"})
    holder = None
    try:
        c.imp(*H.write_postmortems(os.path.join(c.dir, "pm"), 1))
        c.sync()
        item = int(c.one("SELECT action_item_id FROM external_link WHERE state = 'linked'"))
        repo, num, _ = R.issue_by_item(c, item)
        c.q("UPDATE action_item SET title = 'Ledger title' WHERE id = %d" % item)
        c.sim.edit(repo, num, {"title": "Remote title"})
        # holds the link's row: the merge's write (closeloop_rec_apply locks
        # it) waits until the daemon is dead
        holder = H.RowHolder(c.dsn, "SELECT 1 FROM external_link WHERE action_item_id = %d"
                                    " FOR UPDATE" % item)
        time.sleep(0.5)
        c.sim.reset_stats()
        d = c.daemon()
        R.assert_true(H.wait_for(lambda: c.sim.stats()["update"] >= 1, timeout=60),
                      "the update of the issue went out")
        time.sleep(1)
        d.kill9(c.dsn)
        holder.release()
        R.assert_eq(R.issue_by_item(c, item)[2]["title"], "Ledger title", "the ledger's title won")
        rows = c.q("SELECT old_value, new_value, detail->>'remote' FROM item_event"
                   " WHERE action_item_id = %d AND field = 'conflict'" % item)
        R.assert_eq(rows, [["Ledger title", "Ledger title", "Remote title"]],
                    "the conflict in item_event after the kill")
        for _ in range(2):
            err = c.sync().stderr
            R.assert_true("another daemon works this connector" not in err and
                          "pulled" in err, "a cycle that worked the connector:\n" + err[-2000:])
        R.assert_eq(int(c.one("SELECT count(*) FROM item_event WHERE action_item_id = %d"
                              " AND field = 'conflict'" % item)), 1, "conflict events after two cycles")
        R.assert_eq(c.one("SELECT title FROM action_item WHERE id = %d" % item), "Ledger title", "ledger")
    finally:
        if holder:
            holder.release()
        c.close()


def test_ledger_edit_pushed_at_once_meets_an_unlisted_tracker_edit_as_a_conflict(cl):
    """A running daemon pushes a ledger edit at once (NOTIFY), long before
    its next listing.  When a person changed the same field on the ticket
    since the last listing, that push must not overwrite the person's value
    unseen: the push reads the ticket first, so both edits meet in the
    merge as a conflict, decided by the policy and logged with both values.
    (Found by the model-based test, tests/mbt, in a webhook round: the
    GitHub edit was lost and no conflict recorded.)"""
    R = _run()
    c = R.Ctx(cl, "push_meets_edit", targets=[REPO], poll=3600, policy={"title": "remote_wins"})
    try:
        d, item, repo, num = _daemon_over_two_items(c)
        c.sim.edit(repo, num, {"title": "Renamed on GitHub", "actor": "rf-gh"})
        c.q("UPDATE action_item SET title = 'Renamed in the ledger', priority = 'P0' WHERE id = %d" % item)

        def settled():
            issue = [i for i in c.sim.issues(repo) if i["number"] == num][0]
            return issue["title"] == c.one("SELECT title FROM action_item WHERE id = %d" % item) and \
                any(l["name"] == "priority: P0" for l in issue["labels"]) and issue
        issue = H.wait_for(settled, timeout=30)
        R.assert_true(issue, "both sides agree within 30 s:\n" + d.log()[-2000:])
        R.assert_eq(issue["title"], "Renamed on GitHub", "the person's title wins (remote_wins)")
        detail = c.one("SELECT detail::text FROM item_event WHERE action_item_id = %d "
                       "AND field = 'conflict'" % item)
        R.assert_true(detail and "Renamed on GitHub" in detail and "Renamed in the ledger" in detail,
                      "the conflict is logged with both values: %r" % detail)
    finally:
        c.close()


def test_create_not_sent_goes_back_to_pending(cl):
    """GitHub answers the first of five creates with its secondary limit
    and `retry-after: 120` (longer than the connector's back-off allows):
    that create and the four queued behind it never reach GitHub (the
    connector hands them back "not sent").  Their create intents go back:
    no link is left 'creating' (none needs recovery's listing back to its
    intent or a token search), and the next cycle creates the five items
    with new intents, with no token search and one issue per token."""
    R = _run()
    c = R.Ctx(cl, "create_not_sent", targets=[REPO], extra="create_min_age = 0;\n")
    try:
        c.imp(*H.write_postmortems(os.path.join(c.dir, "pm"), 5))
        c.sim.fault({"method": "POST", "path_regex": "/issues$"},
                    {"status": 403, "headers": {"Retry-After": "120"},
                     "body": {"message": "You have exceeded a secondary rate limit. Please wait a few"
                                         " minutes before you try again.",
                              "documentation_url": "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api"}},
                    count=1)
        c.sync(check=False)
        R.assert_eq(len(c.sim.live_issues(REPO)), 0, "issues created in the limited cycle")
        R.assert_eq(R.managed_links(c, "creating"), 0, "links left 'creating' by creates never sent")
        R.assert_eq(int(c.one("SELECT count(*) FROM external_link WHERE kind = 'managed'")), 0,
                    "managed links after the limited cycle")
        c.sim.reset_stats()
        c.sync()
        st = c.sim.stats()
        R.assert_eq(st["search"], 0, "token searches")
        R.assert_eq(len(c.sim.live_issues(REPO)), 5, "issues after the next cycle")
        R.assert_eq(R.managed_links(c), 5, "linked")
        R.assert_eq(sorted(set(R.token_counts(c, REPO).values())), [1], "issues per token")
    finally:
        c.close()


def test_push_reads_cost_nothing_against_the_rate_limit(cl):
    """What a pushed ledger edit costs GitHub.  In a full cycle (listing,
    then pushes) a push needs no read first: the cycle's own listing, a
    moment old, did not show the ticket, so nobody edited it since the
    base -- five edits cost five PATCHes and no GET.  A push woken at once
    by the edit (NOTIFY, no listing) reads the ticket first, conditionally
    on the link's ETag: the unchanged ticket answers 304, which GitHub does
    not count against the primary rate limit ("Best practices for using the
    REST API": conditional requests)."""
    R = _run()
    c = R.Ctx(cl, "push_reads", targets=[REPO], poll=3600)
    try:
        c.imp(*H.write_postmortems(os.path.join(c.dir, "pm"), 10, per_pm=10))
        c.sync()
        c.sync()
        items = [int(r[0]) for r in c.q("SELECT action_item_id FROM external_link"
                                         " WHERE state = 'linked' ORDER BY 1")]
        R.assert_eq(len(items), 10, "linked")
        c.q("UPDATE action_item SET title = title || ' (full cycle)' WHERE id IN (%s)"
            % ",".join(str(i) for i in items[:5]))
        c.sim.reset_stats()
        c.sync()
        st = c.sim.stats()
        R.assert_eq(st["update"], 5, "PATCHes in the full cycle")
        R.assert_eq(st["get"], 0, "reads of single issues in the full cycle: %r" % st)
        d = c.daemon()
        R.assert_true(d.wait_log("first reconcile cycle complete", timeout=60), "daemon up")
        c.sim.reset_stats()
        c.q("UPDATE action_item SET title = title || ' (woken)' WHERE id IN (%s)"
            % ",".join(str(i) for i in items[5:]))

        def pushed():
            return sum(1 for i in c.sim.live_issues(REPO) if i["title"].endswith(" (woken)")) == 5
        R.assert_true(H.wait_for(pushed, timeout=30), "woken pushes landed:\n" + d.log()[-2000:])
        st = c.sim.stats()
        R.assert_eq(st["update"], 5, "PATCHes of the woken pushes")
        R.assert_eq(st["not_modified"], 5, "conditional reads answered 304: %r" % st)
        for i in c.sim.live_issues(REPO):
            R.assert_true(i["title"].endswith(" (full cycle)") or i["title"].endswith(" (woken)"),
                          "issue title %r" % i["title"])
    finally:
        c.close()


def _statements(out):
    """The ledger statements a `sync --once` sent (its summary line)."""
    m = re.findall(r"ledger statements (\d+)", out.stderr)
    if not m:
        raise AssertionError("no statement count in the summary:\n" + out.stderr[-2000:])
    return int(m[-1])


def _pushed_in_sync(c, items, title, log=""):
    """Every item of items has its ticket at title, and its link records
    it: the base holds that title, synced_version the item's version."""
    R = _run()
    for i in items:
        R.assert_eq(R.issue_by_item(c, i)[2]["title"], title % i, "issue of item %d" % i)
    behind = c.q("SELECT l.id, l.state, l.synced_version, i.version, l.base->>'title', i.title"
                 " FROM external_link l JOIN action_item i ON i.id = l.action_item_id"
                 " WHERE l.kind = 'managed' AND l.action_item_id IN (%s)"
                 " AND (l.synced_version IS DISTINCT FROM i.version"
                 "      OR l.base->>'title' IS DISTINCT FROM i.title)"
                 % ",".join(str(i) for i in items))
    R.assert_eq(behind, [], "links whose base or synced_version do not record the push"
                " (id, state, synced_version, version, base title, title)" + log)


def test_pushed_changes_share_one_ledger_statement(cl):
    """40 items edited in the ledger, pushed by one `sync --once`: each push's
    ledger write (the link's base, synced_version, the ticket's updated-at
    and etag, after GitHub took the update) joins one batched statement, as
    the pulls of a listed page do, instead of one statement each.  The cycle
    costs at most 5 statements more than a quiet one (the push selection
    that finds rows, what the updates send -- committed before they go
    out, rec_send_write --, the merge writes' batch, a cursor write);
    before, 40 or more (a statement per push).  Every link records its push, and nothing is
    written twice."""
    R = _run()
    n = 40
    c = R.Ctx(cl, "push_batch", targets=[REPO], pacing=H.RAISED_PACING)
    try:
        c.imp(*H.write_postmortems(os.path.join(c.dir, "pm"), n, per_pm=n))
        c.sync()
        c.sync()
        R.assert_eq(R.managed_links(c), n, "linked")
        quiet = _statements(c.sync())
        items = [int(r[0]) for r in c.q("SELECT id FROM action_item ORDER BY id")]
        c.q("UPDATE action_item SET title = 'Pushed title of item ' || id")
        c.sim.reset_stats()
        push = _statements(c.sync())
        R.assert_eq(c.sim.stats()["update"], n, "PATCHes")
        _pushed_in_sync(c, items, "Pushed title of item %d")
        print("  %d pushed changes: %d ledger statements, a quiet cycle %d" % (n, push, quiet))
        R.assert_true(push - quiet <= 5, "%d pushed changes cost %d statements more than a quiet cycle"
                      " (%d against %d): each push's ledger write went alone"
                      % (n, push - quiet, push, quiet))
        R.assert_eq(int(c.one("SELECT count(*) FROM item_event WHERE field = 'conflict'")), 0,
                    "conflicts")
        c.sim.reset_stats()
        again = _statements(c.sync())
        R.assert_eq(c.sim.stats()["update"], 0, "PATCHes in the echo cycle")
        R.assert_true(again <= quiet + 2, "the echo cycle cost %d statements (quiet %d)" % (again, quiet))
    finally:
        c.close()


def test_pushes_survive_kill9_before_their_batched_ledger_write(cl):
    """30 items edited in the ledger; a running daemon pushes them, GitHub
    takes every update, and the daemon is killed (-9) while their batched
    ledger write waits (a session holds one link's row, taken once what
    the updates send is committed before them, rec_link.c
    op_before_update, and while the first update's answer is held back,
    which the batch waits for).  Nothing is lost:
    the next cycle finds each ticket equal to its item, merges them as the
    same (no conflict, no second PATCH) and records the base and version
    the killed write would have."""
    import time
    R = _run()
    n = 30
    c = R.Ctx(cl, "push_batch_kill9", targets=[REPO], pacing=H.RAISED_PACING)
    holder = None
    try:
        c.imp(*H.write_postmortems(os.path.join(c.dir, "pm"), n, per_pm=n))
        c.sync()
        c.sync()
        items = [int(r[0]) for r in c.q("SELECT id FROM action_item ORDER BY id")]
        c.q("UPDATE action_item SET title = 'Title pushed before the kill, item ' || id")
        c.sim.fault({"method": "PATCH", "path_regex": "/issues/[0-9]+$"}, {"delay_ms": 4000},
                    count=1, after=True)
        c.sim.reset_stats()
        d = c.daemon()
        R.assert_true(H.wait_for(lambda: c.one("SELECT count(*) FROM external_link"
                                               " WHERE unconfirmed IS NOT NULL") == str(n), timeout=60),
                      "what the updates send was committed:\n" + d.log()[-2000:])
        holder = H.RowHolder(c.dsn, "SELECT 1 FROM external_link WHERE action_item_id = %d"
                                    " FOR UPDATE" % items[-1])
        R.assert_true(H.wait_for(lambda: c.sim.stats()["update"] >= n, timeout=60),
                      "the updates went out:\n" + d.log()[-2000:])
        time.sleep(1)
        # the dead daemon's sessions end too, before the row is free: its
        # waiting statement would otherwise run on and commit
        d.kill9(c.dsn)
        holder.release()
        left = int(c.one("SELECT count(*) FROM external_link l JOIN action_item i ON i.id = l.action_item_id"
                         " WHERE l.kind = 'managed' AND l.synced_version < i.version"))
        R.assert_true(left > 0, "the kill came before the batched write (%d links behind)" % left)
        c.sim.reset_stats()
        out = c.sync()
        R.assert_eq(c.sim.stats()["update"], 0, "PATCHes after the kill")
        _pushed_in_sync(c, items, "Title pushed before the kill, item %d", "\n" + out.stderr[-3000:])
        R.assert_eq(int(c.one("SELECT count(*) FROM item_event WHERE field = 'conflict'")), 0,
                    "conflicts")
    finally:
        if holder:
            holder.release()
        c.close()
