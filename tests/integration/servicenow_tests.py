"""Integration tests of the ServiceNow connector (imported by run.py): the
real `closeloop` binary, a real PostgreSQL and tests/sim/servicenow_sim.py.

  - kill -9 of the daemon in the middle of creating problems: after a
    restart every item has exactly one problem (found again by its
    correlation_id), and no intent is left;
  - the escalation ladder writes one work note on a ServiceNow problem,
    mentioning the platform lead as @[sys_id:name], with two daemons on
    one ledger and after a restart;
  - OAuth from an environment variable: the daemon's log never shows a
    secret."""

import os
import re
import time

import harness as H

SN_USER, SN_PASSWORD = H.SN_USER, H.SN_PASSWORD
SN_CONN = "servicenow-itsm"
GROUP = H.SN_GROUP
LEAD_SYS_ID = "62826bf03710200044e0bfc8bcbe5df1"
SnSimulator = H.ServiceNowSimulator


def _assert(cond, msg):
    if not cond:
        raise AssertionError(msg)


def write_sn_directory(path):
    with open(path, "w") as f:
        f.write('platforms = ( { name = "payments"; lead = "lead-payments"; } );\n'
                'teams = ( { name = "payments-itsm"; platform = "payments"; connector = "%s";'
                ' target = "%s"; } );\n'
                'people = (\n'
                '  { handle = "lead-payments"; name = "Pat Lead"; email = "pat@example.com";'
                ' servicenow_sys_id = "%s"; active = true; },\n'
                '  { handle = "rf"; name = "R. F."; email = "rf@example.com"; active = true; }\n'
                ');\n' % (SN_CONN, GROUP, LEAD_SYS_ID))


def write_sn_config(path, dsn, url, directory, extra="", conn_extra="", secret_env=None):
    conn = H.servicenow_connector(SN_CONN, url, [GROUP], conn_extra)
    if secret_env:
        conn = conn.replace('"CLOSELOOP_SN_CREDENTIALS"', '"%s"' % secret_env)
    with open(path, "w") as f:
        f.write('database = { dsn = "%s"; };\nlog_level = "info";\npoll_interval = 600;\n'
                'notify_debounce_ms = 200;\noverlap = 120;\ndirectory = "%s";\n%s'
                'connectors = ( %s );\n' % (dsn, directory, extra, conn))


def _setup(cl, name, n_items, due_days_ago=None, extra="", sim_args=(), conn_extra="",
           secret_env=None):
    wd = H.workdir(name + "-")
    dsn = cl.createdb(name)
    sim = SnSimulator(wd, sim_args)
    directory = os.path.join(wd, "directory.conf")
    write_sn_directory(directory)
    config = os.path.join(wd, "closeloop.conf")
    write_sn_config(config, dsn, sim.url, directory, extra, conn_extra, secret_env)
    H.closeloop("migrate", "-c", config)
    H.closeloop("directory", "load", "-c", config)
    H.psql(dsn, "INSERT INTO postmortem (reference, title, platform_id, published_date) "
                "SELECT 'PM-SN1', 'Card payments declined', id, current_date - 60 FROM platform")
    due = "current_date - %d" % due_days_ago if due_days_ago is not None else "NULL"
    H.psql(dsn, "INSERT INTO action_item (postmortem_id, title, priority, owner, team_id, due_date) "
                "SELECT 1, 'Fix thing ' || g || ' ^ORDERBYnumber', 'P1', 'rf', t.id, %s "
                "FROM team t, generate_series(1, %d) g" % (due, n_items))
    return wd, dsn, sim, config


def test_servicenow_kill9_during_create_leaves_one_problem_per_item(cl):
    n = 24
    wd, dsn, sim, config, = _setup(cl, "sn_kill9", n, extra="create_min_age = 0;\n",
                                   sim_args=["--latency-ms", "60"])
    try:
        d = H.Daemon(config, os.path.join(wd, "daemon.log"))
        ok = H.wait_for(lambda: len(sim.records()) >= 5, timeout=60, step=0.02)
        _assert(ok, "the daemon started creating problems:\n" + d.log()[-1500:])
        d.kill9(dsn)
        mid = len(sim.records())
        _assert(mid < n, "killed before all %d were created (had %d)" % (n, mid))
        creating = H.scalar(dsn, "SELECT count(*) FROM external_link WHERE state = 'creating'")
        H.closeloop("sync", "--once", "-c", config)
        H.closeloop("sync", "--once", "-c", config)
        recs = sim.records()
        tokens = [r["correlation_id"] for r in recs]
        dup = sorted(t for t in set(tokens) if tokens.count(t) > 1)
        _assert(dup == [], "duplicate problems for tokens %r" % dup)
        _assert(len(recs) == n, "one problem per item: %d for %d" % (len(recs), n))
        _assert(all(r["short_description"].endswith(" ^ORDERBYnumber") for r in recs),
                "a title with ^ is stored as it is")
        linked = H.scalar(dsn, "SELECT count(*) FROM external_link WHERE state = 'linked'")
        _assert(linked == str(n), "every item linked (%s)" % linked)
        left = H.scalar(dsn, "SELECT count(*) FROM external_link WHERE state = 'creating'")
        _assert(left == "0", "no intent left (had %s after the kill)" % creating)
    finally:
        sim.stop()


def test_servicenow_escalation_writes_one_work_note_naming_the_lead(cl):
    wd, dsn, sim, config = _setup(cl, "sn_escalation", 1, due_days_ago=31,
                                  extra="flags = { interval = 10; };\n")
    text = open(config).read().replace('log_level = "info";', 'log_level = "debug";')
    with open(config, "w") as f:
        f.write(text)  # "watch: run finished" is a debug line
    daemons = []
    try:
        H.closeloop("sync", "--once", "-c", config)
        sys_id = H.scalar(dsn, "SELECT remote_id FROM external_link WHERE state = 'linked'")
        _assert(sys_id and len(sys_id) == 32, "linked to a problem: %r" % sys_id)
        from watch_tests import dry_run
        out = dry_run(dsn, config, lambda: (sim.call("GET", "/_sim/requests"), sim.journal()))
        _assert("(connector %s: servicenow work note)" % SN_CONN in out
                and "-> @[%s:Pat Lead]" % LEAD_SYS_ID in out, "the dry run shows the work note: %r" % out)
        for i in range(2):
            daemons.append(H.Daemon(config, os.path.join(wd, "daemon-%d.log" % i)))
        ok = H.wait_for(lambda: H.scalar(dsn, "SELECT count(*) FROM escalation "
                                              "WHERE state = 'sent'") == "1", timeout=60)
        _assert(ok, "escalation sent:\n" + daemons[0].log()[-2000:] + daemons[1].log()[-2000:])
        for d in daemons:
            _assert(d.stop() == 0, "clean stop")
        daemons.clear()
        d = H.Daemon(config, os.path.join(wd, "daemon-restart.log"))
        daemons.append(d)
        ok = H.wait_for(lambda: d.log().count("watch: run finished") >= 2, timeout=60)
        _assert(ok, "two runs after the restart:\n" + d.log()[-2000:])
        _assert(d.stop() == 0, "clean stop after restart")
        notes = [e for e in sim.journal() if e["element_id"] == sys_id]
        _assert(len(notes) == 1, "exactly one journal entry, got %r" % notes)
        note = notes[0]
        _assert(note["element"] == "work_notes", "a work note: %r" % note)
        _assert("@[%s:Pat Lead]" % LEAD_SYS_ID in note["value"], "the lead is mentioned: %r" % note)
        _assert("31 days past its due date" in note["value"], "the age: %r" % note)
        _assert(re.search(r"\[closeloop:escalation esc-[0-9a-f]{32}\]$", note["value"]),
                "the marker, as text: %r" % note["value"])
        _assert("**" not in note["value"] and "<!--" not in note["value"], "plain text")
        row = H.psql(dsn, "SELECT state, recipient_identity, channel FROM escalation")
        _assert(row == [["sent", "@[%s:Pat Lead]" % LEAD_SYS_ID, "comment:" + SN_CONN]],
                "escalation row: %r" % row)
    finally:
        for d in daemons:
            d.stop()
        sim.stop()


def test_servicenow_oauth_daemon_never_logs_a_secret(cl):
    secret = "client_id=closeloop-cl&client_secret=oauth-s3cret-x&refresh_token=rt-s3cret-y"
    os.environ["CLOSELOOP_SN_OAUTH"] = secret
    wd, dsn, sim, config = _setup(cl, "sn_oauth", 3, conn_extra=' auth = "oauth";',
                                  secret_env="CLOSELOOP_SN_OAUTH")
    try:
        sim.call("POST", "/_sim/oauth", {"client_id": "closeloop-cl",
                                         "client_secret": "oauth-s3cret-x",
                                         "refresh_token": "rt-s3cret-y"})
        sim.call("POST", "/_sim/config", {"token_lifetime": 2})
        d = H.Daemon(config, os.path.join(wd, "daemon.log"))
        ok = H.wait_for(lambda: len(sim.records()) == 3, timeout=60)
        _assert(ok, "three problems created:\n" + d.log()[-1500:])
        time.sleep(2.5)  # the token expired: the next writes fetch another
        H.psql(dsn, "UPDATE action_item SET title = 'Renamed' WHERE id = 1")
        ok = H.wait_for(lambda: any(r["short_description"] == "Renamed" for r in sim.records()),
                        timeout=30)
        _assert(ok, "the SQL edit pushed with a new token:\n" + d.log()[-1500:])
        _assert(d.stop() == 0, "clean stop")
        tokens = sim.call("GET", "/_sim/requests")["TOKEN"]
        _assert(tokens >= 2, "the token was fetched again (%d)" % tokens)
        log = d.log()
        for s in ("oauth-s3cret-x", "rt-s3cret-y", SN_PASSWORD):
            _assert(s not in log, "a secret in the log: %s" % s)
    finally:
        sim.stop()


def _task(sim):
    tasks = [r for r in sim.records() if r["number"].startswith("PTASK")]
    _assert(len(tasks) == 1, "one problem task: %r" % [t["number"] for t in tasks])
    return tasks[0]


def test_servicenow_problem_task_states_both_ways(cl):
    """table = "problem_task": the task's own state model (151 New, 152
    Assess, 154 Work in Progress, 157 Closed with close_code completed or
    canceled and close notes), which the simulator enforces move by move as
    the instance does: created New under the postmortem's problem, closed
    as done and as wont_do, reopened, and a person's re-assess and cancel
    reach the ledger."""
    wd, dsn, sim, config = _setup(cl, "sn_task", 1, extra="create_min_age = 0;\n",
                                  conn_extra=' table = "problem_task";')
    try:
        prb = sim.call("POST", "/_sim/records/problem", {"short_description": "Card payments"})
        H.psql(dsn, "UPDATE postmortem SET problem_ref = '%s'" % prb["number"])

        def sync():
            H.closeloop("sync", "--once", "-c", config)
            return _task(sim)

        def ledger_state():
            return H.scalar(dsn, "SELECT state FROM action_item WHERE id = 1")

        t = sync()
        _assert(t["state"] == "151" and t["problem"] == prb["sys_id"],
                "created New under %s: %r" % (prb["number"], t))
        for want, state, code in (("done", "157", "completed"), ("open", "152", None),
                                  ("wont_do", "157", "canceled"), ("in_progress", "154", None),
                                  ("done", "157", "completed")):
            H.psql(dsn, "UPDATE action_item SET state = '%s' WHERE id = 1" % want)
            t = sync()
            _assert(t["state"] == state, "%s: task state %s, want %s" % (want, t["state"], state))
            if code:
                _assert(t["close_code"] == code and t["close_notes"],
                        "%s: close_code %r and close notes %r" % (want, t["close_code"],
                                                                t["close_notes"]))
            _assert(ledger_state() == want, "the ledger keeps %s" % want)
        refused = H.scalar(dsn, "SELECT count(*) FROM external_link WHERE refused ? 'state'")
        _assert(refused == "0", "no state held as refused")
        # a person re-assesses the closed task, starts work, then cancels it
        for patch, want in (({"state": "152"}, "open"), ({"state": "154"}, "in_progress"),
                            ({"state": "157", "close_code": "canceled",
                              "close_notes": "Superseded by the new gateway"}, "wont_do")):
            sim.call("PATCH", "/_sim/records/%s" % t["sys_id"], patch)
            t = sync()
            _assert(ledger_state() == want, "the person's %r reached the ledger as %s (it is %s)"
                    % (patch, want, ledger_state()))
            _assert(t["state"] == patch["state"], "the person's state stands: %r" % t)
        _assert(len(sim.records()) == 2, "the problem and its one task")
    finally:
        sim.stop()


def test_servicenow_truncated_answers_lose_nothing(cl):
    """Answers whose JSON body is cut in half (the simulator's truncate
    fault): a create made and answered short, a listing page and an update
    answered short.  Each is an error of that cycle, never a second record:
    the lost create is found again by its correlation_id, and everything
    converges."""
    wd, dsn, sim, config = _setup(cl, "sn_trunc", 3, extra="create_min_age = 0;\n")
    try:
        sim.call("POST", "/_sim/faults", {"truncate": True, "method": "POST", "count": 1})
        out = H.closeloop("sync", "--once", "-c", config, check=False).stderr
        _assert(len(sim.records()) == 3, "three problems, one made behind a cut answer")
        _assert("truncated JSON" in out and "outcome unknown" in out,
                "the cut create is said as such:\n" + out[-1500:])
        # the next listing answered short; the one after it adopts the lost create
        sim.call("POST", "/_sim/faults", {"truncate": True, "method": "GET", "count": 1})
        for _ in range(2):
            H.closeloop("sync", "--once", "-c", config, check=False)
        recs = sim.records()
        tokens = sorted(r["correlation_id"] for r in recs)
        _assert(len(recs) == 3 and len(set(tokens)) == 3, "one problem per item: %r" % tokens)
        linked = H.scalar(dsn, "SELECT count(*) FROM external_link WHERE state = 'linked'")
        _assert(linked == "3", "every item linked (%s)" % linked)
        # an update answered short, and a person's edit behind a cut listing
        H.psql(dsn, "UPDATE action_item SET title = 'Renamed in the ledger' WHERE id = 1")
        sim.call("POST", "/_sim/faults", {"truncate": True, "method": "PATCH", "count": 1})
        H.closeloop("sync", "--once", "-c", config, check=False)
        other = H.scalar(dsn, "SELECT remote_id FROM external_link WHERE action_item_id = 2")
        sim.call("PATCH", "/_sim/records/%s" % other, {"short_description": "Renamed in ServiceNow"})
        sim.call("POST", "/_sim/faults", {"truncate": True, "method": "GET", "count": 1})
        for _ in range(2):
            H.closeloop("sync", "--once", "-c", config, check=False)
        titles = sorted(r["short_description"] for r in sim.records())
        _assert("Renamed in the ledger" in titles, "the update arrived: %r" % titles)
        _assert(H.scalar(dsn, "SELECT title FROM action_item WHERE id = 2") == "Renamed in ServiceNow",
                "the person's edit arrived")
        _assert(len(sim.records()) == 3, "still one problem per item")
    finally:
        sim.stop()


def test_servicenow_problem_task_lost_create_is_walked_on_not_pulled_back(cl):
    """table = "problem_task": an item in progress.  The task is created New
    (151) and then walked on to Work in Progress (154); the create's answer
    is cut in half, so the walk never runs.  The next cycle finds the task
    by its correlation_id and adopts it with the task as created (New) as
    its base: the ledger's in_progress is walked onto it.  Before, the
    intent's in_progress was the base, the task's New read as a person's
    change, and the ledger was set back to open."""
    wd, dsn, sim, config = _setup(cl, "sn_task_lost", 1, extra="create_min_age = 0;\n",
                                  conn_extra=' table = "problem_task";')
    try:
        prb = sim.call("POST", "/_sim/records/problem", {"short_description": "Card payments"})
        H.psql(dsn, "UPDATE postmortem SET problem_ref = '%s'" % prb["number"])
        H.psql(dsn, "UPDATE action_item SET state = 'in_progress' WHERE id = 1")
        sim.call("POST", "/_sim/faults", {"truncate": True, "method": "POST", "count": 1})
        H.closeloop("sync", "--once", "-c", config, check=False)
        _assert(_task(sim)["state"] == "151", "the task was made New behind the cut answer")
        _assert(H.scalar(dsn, "SELECT state FROM external_link WHERE action_item_id = 1") ==
                "creating", "its link is still 'creating'")
        for _ in range(2):
            H.closeloop("sync", "--once", "-c", config)
        t = _task(sim)
        _assert(len(sim.records()) == 2, "the problem and its one task")
        _assert(H.scalar(dsn, "SELECT state FROM action_item WHERE id = 1") == "in_progress",
                "the ledger keeps in_progress")
        _assert(t["state"] == "154", "the task walked on to Work in Progress: %r" % t)
        _assert(H.scalar(dsn, "SELECT count(*) FROM item_event WHERE field = 'state'"
                              " AND source LIKE 'reconcile:%'") == "0", "nothing pulled")
    finally:
        sim.stop()


def test_servicenow_created_without_priority_then_set_on_the_problem_is_pulled(cl):
    """An item with no priority is created as a problem with P3's impact
    and urgency (3/3: a problem always has both).  A person then sets the
    problem to P1 (1/2); under ledger_wins the ledger has not changed
    since the create, so the person's P1 is pulled, no conflict.  Before,
    the link's base after the create was the problem as read (P3), which
    the ledger's empty priority differed from: a conflict the ledger won,
    and P3 written over the person's P1 (seed 6501 of the soak)."""
    wd, dsn, sim, config = _setup(cl, "sn_nopri", 1, extra='create_min_age = 0;\n'
                                  'conflict_policy = { priority = "ledger_wins"; };\n')
    try:
        H.psql(dsn, "UPDATE action_item SET priority = NULL")
        H.closeloop("sync", "--once", "-c", config)
        rec = sim.records()[0]
        _assert((rec["impact"], rec["urgency"]) == ("3", "3"), "created as P3: %r" % rec)
        sim.call("PATCH", "/_sim/records/%s" % rec["sys_id"], {"impact": "1", "urgency": "2"})
        H.closeloop("sync", "--once", "-c", config)
        rec = sim.records()[0]
        _assert((rec["impact"], rec["urgency"]) == ("1", "2"),
                "the person's P1 stands on the problem: %r" % ((rec["impact"], rec["urgency"]),))
        pri = H.scalar(dsn, "SELECT coalesce(priority, 'none') FROM action_item")
        _assert(pri == "P1", "the ledger took the person's P1: %s" % pri)
        conflicts = H.psql(dsn, "SELECT detail::text FROM item_event WHERE field = 'conflict'")
        _assert(conflicts == [], "no conflict: the ledger had not changed: %r" % conflicts)
    finally:
        sim.stop()
