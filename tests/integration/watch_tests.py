"""Integration tests of flags and the escalation ladder (imported by
run.py): a real daemon, a real PostgreSQL and the GitHub simulator.

An item 31 days overdue gets exactly one comment naming its platform lead,
with two daemons on one ledger, and still one after a restart and further
runs; the escalation is recorded in `escalation` and `item_event`."""

import json
import os
import re
import urllib.request

import harness as H

CONN = "github-test"
REPO = "dfds/platform-backlog"


def _assert(cond, msg):
    if not cond:
        raise AssertionError(msg)


def _comments(sim, number):
    o, r = REPO.split("/")
    return sim.call("GET", "/_sim/comments/%s/%s/%d" % (o, r, number))


def ledger_state(dsn):
    """Every table's row count, and a digest of the watch tables' rows:
    what a dry run must leave as it found it."""
    tables = [r[0] for r in H.psql(dsn, "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                                        "ORDER BY 1")]
    counts = H.psql(dsn, " UNION ALL ".join("SELECT '%s', count(*) FROM %s" % (t, t) for t in tables))
    digest = H.scalar(dsn, "SELECT md5(string_agg(x, '|' ORDER BY x)) FROM ("
                           "SELECT f::text AS x FROM item_flag f UNION ALL SELECT e::text FROM escalation e "
                           "UNION ALL SELECT t::text FROM ticket_label t UNION ALL SELECT w::text FROM ticket_write w "
                           "UNION ALL SELECT l::text FROM external_link l) s")
    return counts, digest


def dry_run(dsn, config, requests):
    """closeloop escalate --dry-run: its output; asserts it wrote nothing
    to the ledger and made no tracker request (requests() before and
    after: the simulator's request log or counters)."""
    before, req = ledger_state(dsn), requests()
    out = H.closeloop("escalate", "--dry-run", "-c", config).stdout
    _assert(ledger_state(dsn) == before, "the dry run left the ledger as it was")
    _assert(requests() == req, "the dry run made no tracker request: %r -> %r" % (req, requests()))
    return out


def _ledger(cl, name, extra, poll, debug=False):
    """Database, GitHub simulator, directory (rf, pw) and config with extra,
    migrated and the directory loaded.  Returns (workdir, dsn, sim, config)."""
    wd = H.workdir(name + "-")
    dsn = cl.createdb(name)
    sim = H.Simulator(wd)
    directory = os.path.join(wd, "directory.conf")
    H.write_directory(directory, [("dfds-platform", "kubernetes", CONN, REPO)],
                      people=[("rf", "R. F.", "rf-gh"), ("pw", "P. W.", "pw-gh")])
    config = os.path.join(wd, "closeloop.conf")
    H.write_config(config, dsn, sim.url, [REPO], directory=directory, connector=CONN, poll=poll,
                   extra=extra)
    if debug:
        text = open(config).read().replace('log_level = "info";', 'log_level = "debug";')
        with open(config, "w") as f:
            f.write(text)
    H.closeloop("migrate", "-c", config)
    H.closeloop("directory", "load", "-c", config)
    return wd, dsn, sim, config


def _setup(cl, name, flags="", extra=""):
    """Database, simulator, directory and config (flags every 10 s, debug
    log); one postmortem with one item 31 days overdue, synced to a ticket.
    Returns (workdir, dsn, sim, config, issue number)."""
    wd, dsn, sim, config = _ledger(cl, name, "flags = { interval = 10; %s};\n%s" % (flags, extra),
                                   poll=600, debug=True)
    H.psql(dsn, "INSERT INTO postmortem (reference, title, platform_id, published_date) "
                "SELECT 'PM-W1', 'Ingress outage', id, current_date - 60 FROM platform "
                "WHERE name = 'kubernetes'")
    H.psql(dsn, "INSERT INTO action_item (postmortem_id, title, priority, owner, team_id, due_date) "
                "SELECT 1, 'Alert on ingress 5xx', 'P1', 'rf', id, current_date - 31 FROM team "
                "WHERE name = 'dfds-platform'")
    H.closeloop("sync", "--once", "-c", config)
    key = H.scalar(dsn, "SELECT remote_key FROM external_link WHERE state = 'linked'")
    return wd, dsn, sim, config, int(key.split("#")[1])


def test_watch_escalates_31_days_overdue_once(cl):
    wd, dsn, sim, config, number = _setup(cl, "watch_escalation")
    daemons = []
    try:
        # the dry run says what would be sent, and writes nothing
        out = dry_run(dsn, config, sim.stats)
        _assert("would comment on %s (connector %s: github issue comment)" % (REPO + "#%d" % number, CONN)
                in out and "rung overdue-30 -> @lead-kubernetes-gh" in out, "dry run: %r" % out)
        _assert(H.scalar(dsn, "SELECT count(*) FROM escalation") == "0"
                and H.scalar(dsn, "SELECT count(*) FROM item_flag") == "0", "the dry run wrote nothing")
        _assert(_comments(sim, number) == [], "no comment from the dry run")

        # two daemons on one ledger: one comment
        for i in range(2):
            daemons.append(H.Daemon(config, os.path.join(wd, "daemon-%d.log" % i)))
        ok = H.wait_for(lambda: H.scalar(dsn, "SELECT count(*) FROM escalation WHERE state = 'sent'") == "1",
                        timeout=60)
        _assert(ok, "escalation sent:\n" + daemons[0].log()[-2000:] + daemons[1].log()[-2000:])
        for d in daemons:
            _assert(d.wait_log("watch: run finished", 30), "a run finished:\n" + d.log()[-1500:])
        for d in daemons:
            _assert(d.stop() == 0, "clean stop")
        daemons.clear()

        # restart: two more runs (interval 10 s), still one comment
        d = H.Daemon(config, os.path.join(wd, "daemon-restart.log"))
        daemons.append(d)
        ok = H.wait_for(lambda: d.log().count("watch: run finished") >= 2, timeout=60)
        _assert(ok, "two runs after the restart:\n" + d.log()[-2000:])
        _assert(d.stop() == 0, "clean stop after restart")

        comments = _comments(sim, number)
        _assert(len(comments) == 1, "exactly one comment, got %d" % len(comments))
        body = comments[0]["body"]
        _assert("@lead-kubernetes-gh" in body, "the platform lead is mentioned: %r" % body)
        _assert("31 days past its due date" in body, "the age is stated: %r" % body)
        _assert(re.search(r"<!-- closeloop:escalation esc-[0-9a-f]{32} -->$", body), "marker: %r" % body)
        row = H.psql(dsn, "SELECT rung, state, attempts, recipient, recipient_identity, remote_url, "
                          "channel FROM escalation")
        _assert(len(row) == 1, "one escalation row: %r" % row)
        rung, state, attempts, rcpt, ident, url, channel = row[0]
        _assert((rung, state, attempts, rcpt, ident, channel) ==
                ("overdue-30", "sent", "1", "lead-kubernetes", "@lead-kubernetes-gh", "comment:" + CONN),
                "escalation row: %r" % row)
        _assert(url == comments[0]["html_url"], "remote_url is the comment's: %r" % url)
        ev = H.psql(dsn, "SELECT new_value, source FROM item_event WHERE field = 'escalation'")
        _assert(ev == [["overdue-30: @lead-kubernetes-gh", "watch"]], "history: %r" % ev)
        fl = H.psql(dsn, "SELECT kind FROM v_item_flag_open WHERE action_item_id = 1 ORDER BY kind")
        _assert(["overdue"] in fl, "overdue flag open: %r" % fl)
        shown = H.closeloop("flags", "-c", config, "1").stdout
        _assert("overdue" in shown and '"days_overdue": 31' in shown, "closeloop flags ITEM: %r" % shown)
    finally:
        for d in daemons:
            d.stop()
        sim.stop()


def test_watch_unknown_comment_outcome_is_not_sent_twice(cl):
    """The comment is created but its answer is lost (502 after the fact):
    the escalation stays 'unknown', and the next run finds the comment by
    its marker instead of sending a second one."""
    wd, dsn, sim, config, number = _setup(cl, "watch_unknown")
    d = None
    try:
        sim.fault({"method": "POST", "path_regex": "/comments$"}, {"status": 502}, after=True)
        d = H.Daemon(config, os.path.join(wd, "daemon.log"))
        ok = H.wait_for(lambda: H.scalar(dsn, "SELECT state FROM escalation") == "unknown", timeout=60)
        _assert(ok, "unknown after the lost answer:\n" + d.log()[-2000:])
        ok = H.wait_for(lambda: H.scalar(dsn, "SELECT state FROM escalation") == "sent", timeout=60)
        _assert(ok, "sent on the next run:\n" + d.log()[-2000:])
        _assert(d.stop() == 0, "clean stop")
        _assert(len(_comments(sim, number)) == 1, "one comment despite the lost answer")
        row = H.psql(dsn, "SELECT attempts, outcome FROM escalation")
        _assert(row == [["2", "found the comment of an earlier attempt"]], "escalation: %r" % row)
        _assert(sim.stats().get("comment") == 1, "one comment POST: %r" % sim.stats())
    finally:
        if d:
            d.stop()
        sim.stop()


def _labels(sim, number):
    return [i for i in sim.issues(REPO) if i["number"] == number][0]["labels"]


def _label_names(sim, number):
    return sorted(lab["name"] for lab in _labels(sim, number))


def test_watch_flag_labels_follow_the_flags_and_spare_human_labels(cl):
    """flags.labels = overdue and the rung's "label" action: the overdue
    ticket gets closeloop:overdue and, once escalated, closeloop:escalated
    (at 25 days overdue only the overdue-20 rung, without the label
    action, has fired: no closeloop:escalated yet); labels a
    person set (one in closeloop's namespace too) stay; a restart writes
    nothing again; a later update of the ticket's labels by reconcile keeps
    them; moving the due date out takes both off again."""
    rungs = ('escalation = { rungs = (\n'
             ' { name = "overdue-30"; flag = "overdue"; days = 30; channels = [ "comment", "label" ]; },\n'
             ' { name = "overdue-20"; flag = "overdue"; days = 20; channels = [ "comment" ]; } ); };\n')
    wd, dsn, sim, config, number = _setup(cl, "watch_labels", flags='labels = [ "overdue" ]; ', extra=rungs)
    d = None
    try:
        sim.edit(REPO, number, {"labels": [lab["name"] for lab in _labels(sim, number)]
                                + ["team: sre", "closeloop:ownerless"]})
        human = ["closeloop:ownerless", "team: sre"]
        H.psql(dsn, "UPDATE action_item SET due_date = current_date - 25 WHERE id = 1")
        out = dry_run(dsn, config, sim.stats)
        _assert("1 escalation(s) would be sent, 1 ticket label(s) changed; nothing was written" in out
                and "closeloop:escalated" not in out, "overdue-20 does not label: %r" % out)
        d = H.Daemon(config, os.path.join(wd, "daemon-20.log"))
        ok = H.wait_for(lambda: H.scalar(dsn, "SELECT count(*) FROM ticket_label WHERE applied") == "1"
                        and H.scalar(dsn, "SELECT count(*) FROM escalation WHERE state = 'sent'") == "1",
                        timeout=60)
        _assert(ok, "overdue-20 sent, closeloop:overdue applied:\n" + d.log()[-2500:])
        _assert(_wait_runs([d], 1), "one more run")
        _assert(d.stop() == 0, "clean stop")
        _assert("closeloop:escalated" not in _label_names(sim, number), "no escalated label from overdue-20")
        H.psql(dsn, "UPDATE action_item SET due_date = current_date - 31 WHERE id = 1")
        # the dry run names the label writes too (escalated: as if the
        # comment it would send went out), and makes none
        out = dry_run(dsn, config, sim.stats)
        _assert("would put label closeloop:escalated on %s#%d (connector %s" % (REPO, number, CONN) in out,
                "dry run names closeloop:escalated: %r" % out)
        _assert("1 escalation(s) would be sent, 1 ticket label(s) changed; nothing was written" in out, out)
        d = H.Daemon(config, os.path.join(wd, "daemon.log"))
        ok = H.wait_for(lambda: H.scalar(dsn, "SELECT count(*) FROM ticket_label WHERE applied") == "2",
                        timeout=60)
        _assert(ok, "two labels applied:\n" + d.log()[-2500:])
        names = _label_names(sim, number)
        for want in ["closeloop:escalated", "closeloop:overdue"] + human:
            _assert(want in names, "%s on the ticket: %r" % (want, names))
        _assert(d.stop() == 0, "clean stop")
        writes = sim.stats().get("label")
        _assert(writes == 2, "two label writes: %r" % sim.stats())

        # restart: two more runs, no label write
        d = H.Daemon(config, os.path.join(wd, "daemon-restart.log"))
        ok = H.wait_for(lambda: d.log().count("watch: run finished") >= 2, timeout=60)
        _assert(ok, "two runs after the restart:\n" + d.log()[-2000:])
        _assert(sim.stats().get("label") == 2, "no label write after the restart: %r" % sim.stats())

        # reconcile rewrites the labels (priority is a label on GitHub):
        # the flag labels it did not pull yet are kept (remote_extra)
        H.psql(dsn, "UPDATE action_item SET priority = 'P0' WHERE id = 1")
        ok = H.wait_for(lambda: "priority: P0" in _label_names(sim, number), timeout=30)
        _assert(ok, "priority pushed:\n" + d.log()[-2000:])
        names = _label_names(sim, number)
        for want in ["closeloop:escalated", "closeloop:overdue"] + human:
            _assert(want in names, "%s kept by the update: %r" % (want, names))

        # the due date moves out: overdue clears, both labels come off
        H.psql(dsn, "UPDATE action_item SET due_date = current_date + 10 WHERE id = 1")
        ok = H.wait_for(lambda: H.scalar(dsn, "SELECT count(*) FROM ticket_label WHERE applied") == "0",
                        timeout=60)
        _assert(ok, "labels taken off:\n" + d.log()[-2500:])
        names = _label_names(sim, number)
        _assert(not any(n in names for n in ("closeloop:escalated", "closeloop:overdue")),
                "flag labels gone: %r" % names)
        _assert(all(n in names for n in human), "human labels stay: %r" % names)
        _assert(d.stop() == 0, "clean stop")
        d = None
        # the flag labels on and off (four), and the priority as reconcile
        # changes it: P0 added, the old priority label taken off (two)
        _assert(sim.stats().get("label") == 6, "six label writes in all: %r" % sim.stats())
    finally:
        if d:
            d.stop()
        sim.stop()


def test_watch_chat_and_mail_digest_once_per_rung(cl):
    """Two items past the overdue-30 rung: one digest per destination and
    lead, not one message per item.  A generic chat webhook that refuses
    the first digest (HTTP 500, one try per run) gets it on the next run;
    a Slack-format webhook and the mail to the lead's address from the
    directory, which took it the first time, get nothing more then or
    after a restart."""
    from deliver_tests import Sink
    wd = H.workdir("watch_chat-")
    metrics_port = H.free_port()
    ops = Sink(wd, "http", "--fail-first", "1", "--fail-status", "500")
    slack = Sink(wd, "http")
    mail = Sink(wd, "smtp")
    dests = ('destinations = (\n'
             ' { name = "ops-chat"; type = "webhook"; url = "http://127.0.0.1:%d/hook"; max_attempts = 1; },\n'
             ' { name = "slack-chat"; type = "webhook"; format = "slack"; url = "http://127.0.0.1:%d/s"; },\n'
             ' { name = "lead-mail"; type = "smtp"; url = "smtp://127.0.0.1:%d"; allow_insecure = true;'
             ' from = "closeloop@example.org"; to = [ "fallback@example.org" ]; }\n);\n'
             'escalation = { chat = [ "ops-chat", "slack-chat" ]; email = [ "lead-mail" ]; };\n'
             # the quarterly report goes to destinations too: not in this test
             'quarterly_report = { enabled = false; };\n'
             'listen = "127.0.0.1:%d";\n'
             % (ops.port, slack.port, mail.port, metrics_port))
    wd2, dsn, sim, config, number = _setup(cl, "watch_chat", extra=dests)
    H.psql(dsn, "INSERT INTO action_item (postmortem_id, title, priority, owner, team_id, due_date) "
                "SELECT 1, 'Runbook for cert expiry', 'P2', 'rf', id, current_date - 45 FROM team "
                "WHERE name = 'dfds-platform'")
    d = None
    try:
        d = H.Daemon(config, os.path.join(wd, "daemon.log"))
        chat_sent = "SELECT count(*) FROM escalation WHERE channel = 'chat:ops-chat' AND state = 'sent'"
        ok = H.wait_for(lambda: H.scalar(dsn, chat_sent) == "2", timeout=90)
        _assert(ok, "ops-chat digest sent on the second run:\n" + d.log()[-3000:])
        rows = H.psql(dsn, "SELECT channel, state, attempts FROM escalation "
                           "WHERE channel NOT LIKE 'comment:%' ORDER BY channel, id")
        _assert(rows == [["chat:ops-chat", "sent", "2"]] * 2 + [["chat:slack-chat", "sent", "1"]] * 2
                + [["email:lead-mail", "sent", "1"]] * 2, "escalation rows: %r" % rows)
        # /metrics counts them: 2 comments + 6 digest lines sent, the 2 lines
        # of the refused ops-chat digest failed once
        with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % metrics_port, timeout=5) as r:
            m = r.read().decode()
        for line in ('closeloop_escalations_total{outcome="armed"} 8',
                     'closeloop_escalations_total{outcome="sent"} 8',
                     'closeloop_escalations_total{outcome="failed"} 2'):
            _assert(line in m.splitlines(), "%s in /metrics:\n%s" % (line, m))
        _assert(d.stop() == 0, "clean stop")
        d = H.Daemon(config, os.path.join(wd, "daemon-restart.log"))
        ok = H.wait_for(lambda: d.log().count("watch: run finished") >= 2, timeout=60)
        _assert(ok, "two runs after the restart:\n" + d.log()[-2000:])
        _assert(d.stop() == 0, "clean stop after the restart")
        d = None

        got = ops.received()
        _assert(len(got) == 2, "ops-chat: one refused try, one digest: %r" % got)
        doc = json.loads(got[1]["body"])
        _assert(doc["kind"] == "escalation" and doc["platform"] == "kubernetes", doc)
        _assert("Alert on ingress 5xx" in doc["text"] and "Runbook for cert expiry" in doc["text"]
                and "2 action items escalated to Lead of kubernetes (lead-kubernetes)" in doc["subject"],
                "one digest for both items: %r" % doc)
        _assert(isinstance(doc.get("blocks"), list) and len(doc["blocks"]) == 4, "blocks: %r" % doc)
        keys = [g["headers"].get("Idempotency-Key") for g in got]
        _assert(keys[0] and keys[0] == keys[1], "the retry carries the same Idempotency-Key: %r" % keys)
        sl = slack.received()
        _assert(len(sl) == 1, "slack-chat: one message: %r" % sl)
        sdoc = json.loads(sl[0]["body"])
        _assert(sorted(sdoc) == ["blocks", "text"], "Slack payload is text + blocks: %r" % sdoc)
        _assert(sdoc["blocks"][1]["text"]["type"] == "mrkdwn", sdoc["blocks"])
        ml = mail.received()
        _assert(len(ml) == 1 and ml[0]["rcpt_tos"] == ["lead-kubernetes@example.com"],
                "one mail to the lead's address: %r" % ml)
        body = mail.eml(0).decode("utf-8", "replace")
        _assert("escalated to Lead of kubernetes" in body, body[:800])
        ev = H.scalar(dsn, "SELECT count(*) FROM item_event WHERE field = 'escalation'")
        _assert(ev == "8", "history: 2 comments + 6 digest lines: %r" % ev)
    finally:
        if d:
            d.stop()
        sim.stop()
        for k in (ops, slack, mail):
            k.stop()


def _adf_nodes(node):
    """Every node of an ADF document, depth first."""
    yield node
    for c in node.get("content") or []:
        yield from _adf_nodes(c)


def test_watch_escalation_on_jira_mentions_the_lead_by_account_id(cl):
    """The ladder is tracker-neutral: an item 31 days overdue whose ticket
    is a Jira issue gets one comment, in ADF, mentioning the platform lead
    with a mention node of their accountId (from the directory's
    jira_account_id), across a restart."""
    from jira_tests import ALICE, JiraCtx
    c = JiraCtx(cl, "watch_jira", extra="flags = { interval = 10; };\n"
                                          "quarterly_report = { enabled = false; };\n")
    text = open(c.config).read().replace('log_level = "info";', 'log_level = "debug";')
    with open(c.config, "w") as f:
        f.write(text)
    try:
        c.imp(1)
        item = int(c.one("SELECT min(id) FROM action_item"))
        c.q("UPDATE action_item SET due_date = current_date - 31, state = 'open' WHERE id = %d" % item)
        c.sync()
        out = dry_run(c.dsn, c.config, c.sim.requests)
        _assert("(connector jira-test: jira comment)" in out and "-> [~accountid:%s]" % ALICE in out
                and " -> @" not in out, "the dry run shows Jira's own mention: %r" % out)
        for i in range(2):
            d = H.Daemon(c.config, os.path.join(c.dir, "daemon-%d.log" % i))
            c.daemons.append(d)
            ok = H.wait_for(lambda: c.one("SELECT count(*) FROM escalation WHERE state = 'sent'") == "1"
                            and d.log().count("watch: run finished") >= 1, timeout=60)
            _assert(ok, "escalation sent: %r %r\n" % (
                c.q("SELECT kind FROM item_flag WHERE cleared_at IS NULL"),
                c.q("SELECT channel, state, outcome FROM escalation")) + d.log()[-2500:])
            _assert(d.stop() == 0, "clean stop")
        c.daemons.clear()
        comments = c.issue(item)["comments"]
        _assert(len(comments) == 1, "one comment on the Jira issue: %r" % comments)
        nodes = list(_adf_nodes(comments[0]["body"]))
        mentions = [n["attrs"]["id"] for n in nodes if n.get("type") == "mention"]
        _assert(mentions == [ALICE], "the lead mentioned by accountId: %r" % comments[0]["body"])
        text = "".join(n.get("text", "") for n in nodes)
        _assert("31 days past its due date" in text and "[~accountid:" not in text, text)
        row = H.psql(c.dsn, "SELECT channel, recipient, recipient_identity FROM escalation")
        _assert(row == [["comment:jira-test", "rf", "[~accountid:%s]" % ALICE]], "row: %r" % row)
    finally:
        c.close()


JIRA_LABEL_WATCH = ('flags = { interval = 10; labels = [ "overdue" ]; };\n'
                    'escalation = { rungs = ( { name = "overdue-30"; flag = "overdue"; days = 30; '
                    'channels = [ "comment", "label" ]; } ); };\n'
                    'quarterly_report = { enabled = false; };\n')


def jira_label_puts(sim):
    """The label writes the Jira simulator received: (path, the one verb
    and its label) of each PUT carrying "update"."""
    return [(r["path"], r["body"]["update"]["labels"]) for r in sim.requests()
            if r["method"] == "PUT" and isinstance(r["body"], dict) and "update" in r["body"]]


def test_watch_flag_labels_on_jira(cl):
    """Jira has labels: flags.labels = overdue and the rung's label action
    put closeloop:overdue and closeloop:escalated on the item's Jira issue
    by the edit's "update" verbs (one label each, never the whole set), a
    label a person put there stays, and moving the due date out takes
    both off (before, a Jira connector had no label operation, so no
    label was planned for its tickets)."""
    from jira_tests import JiraCtx
    c = JiraCtx(cl, "watch_jira_labels", extra=JIRA_LABEL_WATCH)
    try:
        c.imp(1)
        item = int(c.one("SELECT min(id) FROM action_item"))
        c.q("UPDATE action_item SET due_date = current_date - 31, state = 'open' WHERE id = %d" % item)
        c.sync()
        issue = c.issue(item)
        c.sim.call("POST", "/_sim/edit", {"id": issue["id"], "fields": {
            "labels": issue["fields"]["labels"] + ["team-sre"]}})
        d = H.Daemon(c.config, os.path.join(c.dir, "daemon.log"))
        c.daemons.append(d)
        ok = H.wait_for(lambda: c.one("SELECT count(*) FROM ticket_label WHERE applied") == "2",
                        timeout=60)
        _assert(ok, "two labels applied: %r\n" % c.q("SELECT * FROM ticket_label") + d.log()[-2500:])
        labels = c.issue(item)["fields"]["labels"]
        for want in ("closeloop:overdue", "closeloop:escalated", "team-sre"):
            _assert(want in labels, "%s on the Jira issue: %r" % (want, labels))
        _assert(any(lab.startswith("closeloop-") and len(lab) == 46 for lab in labels),
                "the create token label stays: %r" % labels)
        path = "/rest/api/3/issue/%s" % issue["id"]
        puts = sorted(json.dumps(p) for p in jira_label_puts(c.sim))
        _assert(puts == sorted(json.dumps([path, [{"add": lab}]])
                               for lab in ("closeloop:overdue", "closeloop:escalated")),
                "one add per label: %r" % puts)
        c.q("UPDATE action_item SET due_date = current_date + 10 WHERE id = %d" % item)
        ok = H.wait_for(lambda: c.one("SELECT count(*) FROM ticket_label WHERE applied") == "0",
                        timeout=60)
        _assert(ok, "labels taken off:\n" + d.log()[-2500:])
        labels = c.issue(item)["fields"]["labels"]
        _assert("team-sre" in labels and not any(lab in labels for lab in
                                                 ("closeloop:overdue", "closeloop:escalated")),
                "flag labels off, the person's label stays: %r" % labels)
        _assert(len(jira_label_puts(c.sim)) == 4, "four label writes: %r" % jira_label_puts(c.sim))
        _assert(d.stop() == 0, "clean stop")
        c.daemons.clear()
    finally:
        c.close()


def _chat_lines(sink, rung):
    """The digest lines of rung in every message sink received."""
    lines = []
    for got in sink.received():
        text = json.loads(got["body"])["text"]
        lines += [ln for ln in text.splitlines() if ln.startswith("• ") and ln.endswith(" — rung " + rung)]
    return lines


def _wait_runs(daemons, n, timeout=60):
    """Each daemon logged at least n more finished watch runs."""
    start = [d.log().count("watch: run finished") for d in daemons]
    return H.wait_for(lambda: all(d.log().count("watch: run finished") >= s + n
                                  for d, s in zip(daemons, start)), timeout=timeout)


def test_watch_two_daemons_one_comment_and_one_digest_line_per_rung(cl):
    """Two daemons on one ledger, started together, an item 61 days overdue
    and two rungs (overdue-30, overdue-60): each rung gives exactly one
    comment and exactly one digest line in the chat, however the claims
    fall between the daemons, and again none after both restart."""
    from deliver_tests import Sink
    wd = H.workdir("watch_two-")
    chat = Sink(wd, "http")
    extra = ('destinations = ( { name = "ops-chat"; type = "webhook"; '
             'url = "http://127.0.0.1:%d/hook"; } );\n'
             'escalation = { chat = [ "ops-chat" ]; rungs = (\n'
             ' { name = "overdue-30"; flag = "overdue"; days = 30; channels = [ "comment", "chat" ]; },\n'
             ' { name = "overdue-60"; flag = "overdue"; days = 60; channels = [ "comment", "chat" ]; } ); };\n'
             'quarterly_report = { enabled = false; };\n' % chat.port)
    wd2, dsn, sim, config, number = _setup(cl, "watch_two", extra=extra)
    H.psql(dsn, "UPDATE action_item SET due_date = current_date - 61 WHERE id = 1")
    daemons = []
    try:
        for rnd in range(2):
            daemons = [H.Daemon(config, os.path.join(wd, "daemon-%d-%d.log" % (rnd, i))) for i in range(2)]
            ok = H.wait_for(lambda: H.scalar(dsn, "SELECT count(*) FROM escalation WHERE state = 'sent'")
                            == "4", timeout=90)
            _assert(ok, "four escalations sent: %r\n" % H.psql(dsn, "SELECT rung, channel, state, outcome "
                                                              "FROM escalation")
                    + daemons[0].log()[-2000:] + daemons[1].log()[-2000:])
            _assert(_wait_runs(daemons, 1), "one more run each:\n" + daemons[0].log()[-1500:]
                    + daemons[1].log()[-1500:])
            for d in daemons:
                _assert(d.stop() == 0, "clean stop")
            daemons = []
        comments = _comments(sim, number)
        _assert(len(comments) == 2, "two comments, one per rung: %r" % [c["body"][:80] for c in comments])
        for rung in ("overdue-30", "overdue-60"):
            _assert(sum(1 for c in comments if "closeloop escalation (%s)" % rung in c["body"]) == 1,
                    "one comment for %s: %r" % (rung, [c["body"] for c in comments]))
            lines = _chat_lines(chat, rung)
            _assert(len(lines) == 1 and "Alert on ingress 5xx" in lines[0],
                    "one digest line for %s: %r" % (rung, lines))
        rows = H.psql(dsn, "SELECT rung, channel, state, attempts FROM escalation ORDER BY rung, channel")
        _assert(rows == [["overdue-30", "chat:ops-chat", "sent", "1"], ["overdue-30", "comment:" + CONN, "sent", "1"],
                         ["overdue-60", "chat:ops-chat", "sent", "1"], ["overdue-60", "comment:" + CONN, "sent", "1"]],
                "escalation rows: %r" % rows)
        by = H.psql(dsn, "SELECT count(DISTINCT claimed_by) FROM escalation")
        _assert(by[0][0] in ("1", "2"), "claimed by the daemons: %r" % by)
    finally:
        for d in daemons:
            d.stop()
        sim.stop()
        chat.stop()


def test_watch_rearms_after_the_due_date_moves_and_passes_again(cl):
    """An item escalated at 31 days overdue whose due date is moved out
    (the overdue flag clears) and that later is 31 days overdue again gets
    a second comment and a second digest line: the ladder re-armed, and
    the history keeps both raises and both escalations."""
    from deliver_tests import Sink
    wd = H.workdir("watch_rearm-")
    chat = Sink(wd, "http")
    extra = ('destinations = ( { name = "ops-chat"; type = "webhook"; '
             'url = "http://127.0.0.1:%d/hook"; } );\n'
             'escalation = { chat = [ "ops-chat" ]; };\n'
             'quarterly_report = { enabled = false; };\n' % chat.port)
    wd2, dsn, sim, config, number = _setup(cl, "watch_rearm", extra=extra)
    d = None
    sent = "SELECT count(*) FROM escalation WHERE state = 'sent'"
    try:
        d = H.Daemon(config, os.path.join(wd, "daemon.log"))
        ok = H.wait_for(lambda: H.scalar(dsn, sent) == "2", timeout=60)
        _assert(ok, "comment and digest sent:\n" + d.log()[-2000:])
        _assert(len(_comments(sim, number)) == 1 and len(_chat_lines(chat, "overdue-30")) == 1,
                "one comment and one digest line first")
        H.psql(dsn, "UPDATE action_item SET due_date = current_date + 14 WHERE id = 1")
        ok = H.wait_for(lambda: H.scalar(dsn, "SELECT count(*) FROM item_flag WHERE kind = 'overdue' "
                                              "AND cleared_at IS NOT NULL") == "1", timeout=60)
        _assert(ok, "overdue cleared:\n" + d.log()[-2000:])
        _assert(_wait_runs([d], 1), "a run after the clear")
        _assert(H.scalar(dsn, sent) == "2" and len(_comments(sim, number)) == 1,
                "nothing sent while not overdue")
        H.psql(dsn, "UPDATE action_item SET due_date = current_date - 31 WHERE id = 1")
        ok = H.wait_for(lambda: H.scalar(dsn, sent) == "4", timeout=60)
        _assert(ok, "re-armed and sent again: %r\n" % H.psql(dsn, "SELECT rung, channel, state FROM escalation")
                + d.log()[-2000:])
        _assert(_wait_runs([d], 1), "one more run")
        _assert(d.stop() == 0, "clean stop")
        d = None
        comments = _comments(sim, number)
        _assert(len(comments) == 2, "two comments: %r" % [c["body"][:80] for c in comments])
        _assert(comments[0]["body"] != comments[1]["body"], "each with its own marker")
        lines = _chat_lines(chat, "overdue-30")
        _assert(len(lines) == 2, "two digest lines in all: %r" % lines)
        flags = H.psql(dsn, "SELECT (cleared_at IS NULL)::text FROM item_flag WHERE kind = 'overdue' ORDER BY id")
        _assert(flags == [["false"], ["true"]], "raise/clear history keeps both raises: %r" % flags)
        esc = H.psql(dsn, "SELECT count(DISTINCT flag_id), count(*) FROM escalation WHERE state = 'sent'")
        _assert(esc == [["2", "4"]], "two escalations per channel, one per raise: %r" % esc)
        ev = H.scalar(dsn, "SELECT count(*) FROM item_event WHERE field = 'escalation'")
        _assert(ev == "4", "history: two comments, two digest lines: %r" % ev)
    finally:
        if d:
            d.stop()
        sim.stop()
        chat.stop()


def test_watch_link_broken_for_a_field_write_the_tracker_keeps_refusing(cl):
    """GitHub refuses to assign the owner's login (422, no access to the
    repository): reconcile holds the owner on the link and tries again
    after its back-off.  One refusal is a partial write, not a flag; the
    third in a row of the same value (flags.link_broken_refusals = 3)
    raises link_broken, whose detail names the field, the value and the
    tracker's reason, in the views, `closeloop flags ITEM` and the chat
    digest of a rung on link_broken.  Giving the item an owner GitHub takes
    clears it.  The back-off is moved past by the test (retry_ms in the
    past) rather than waited for."""
    from deliver_tests import Sink
    wd = H.workdir("watch_refused-")
    chat = Sink(wd, "http")
    extra = ('destinations = ( { name = "ops-chat"; type = "webhook"; '
             'url = "http://127.0.0.1:%d/hook"; } );\n'
             'escalation = { chat = [ "ops-chat" ]; rungs = (\n'
             ' { name = "link-broken"; flag = "link_broken"; days = 0; channels = [ "chat" ]; } ); };\n'
             'quarterly_report = { enabled = false; };\n' % chat.port)
    wd2, dsn, sim, config, number = _setup(cl, "watch_refused", flags="link_broken_refusals = 3; ", extra=extra)
    d = None
    try:
        sim.seed({"repos": {REPO: {"users": ["rf-gh", "lead-kubernetes-gh"]}}})
        H.psql(dsn, "UPDATE action_item SET owner = 'pw' WHERE id = 1")
        open_broken = "SELECT count(*) FROM v_item_flag_open WHERE kind = 'link_broken'"
        for n in (1, 2, 3):
            if n > 1:  # the back-off passed
                H.psql(dsn, "UPDATE external_link SET refused = jsonb_set(refused, '{owner,retry_ms}', "
                            "to_jsonb((extract(epoch FROM now()) * 1000)::bigint - 1000)), "
                            "refused_retry_at = now() - interval '1 second' WHERE action_item_id = 1")
            H.closeloop("sync", "--once", "-c", config, check=False)
            rec = H.psql(dsn, "SELECT refused->'owner'->>'value', refused->'owner'->>'count' "
                              "FROM external_link WHERE action_item_id = 1")
            _assert(rec == [["pw", str(n)]], "refusal %d of the owner held on the link: %r" % (n, rec))
            H.closeloop("flags", "--once", "-c", config)
            want = "1" if n == 3 else "0"
            _assert(H.scalar(dsn, open_broken) == want, "link_broken after refusal %d: %s" % (n, want))
        detail = json.loads(H.scalar(dsn, "SELECT detail::text FROM v_item_flag_open "
                                          "WHERE kind = 'link_broken'"))
        ref = detail["links"][0]["refused"]
        _assert(len(ref) == 1 and ref[0]["field"] == "owner" and ref[0]["value"] == "pw"
                and ref[0]["count"] == 3 and "refused to assign pw-gh" in ref[0]["reason"],
                "the detail names the field, value and reason: %r" % detail)
        shown = H.closeloop("flags", "-c", config, "1").stdout
        _assert("link_broken" in shown and "refused to assign pw-gh" in shown, "closeloop flags 1: %r" % shown)

        # the digest of a rung on link_broken
        d = H.Daemon(config, os.path.join(wd, "daemon.log"))
        ok = H.wait_for(lambda: H.scalar(dsn, "SELECT state FROM escalation") == "sent", timeout=60)
        _assert(ok, "digest sent:\n" + d.log()[-2000:])
        lines = _chat_lines(chat, "link-broken")
        _assert(len(lines) == 1 and "Alert on ingress 5xx" in lines[0] and "link_broken" in lines[0],
                "one digest line: %r" % lines)

        # an owner GitHub can assign: the write goes through, the flag clears
        H.psql(dsn, "UPDATE action_item SET owner = 'rf' WHERE id = 1")
        ok = H.wait_for(lambda: H.scalar(dsn, "SELECT refused IS NULL OR refused = '{}' FROM external_link "
                                              "WHERE action_item_id = 1") == "t", timeout=60)
        _assert(ok, "refusal gone after the owner change:\n" + d.log()[-2000:])
        _assert(d.stop() == 0, "clean stop")
        d = None
        H.closeloop("flags", "--once", "-c", config)
        _assert(H.scalar(dsn, open_broken) == "0", "link_broken cleared")
        _assert([a["login"] for a in [i for i in sim.issues(REPO) if i["number"] == number][0]["assignees"]]
                == ["rf-gh"], "assigned to rf-gh")
    finally:
        if d:
            d.stop()
        sim.stop()
        chat.stop()


def _flags_at(config, days):
    """closeloop flags --once --now (now + days): the flags computed at that
    instant, as a parameter of the SQL (the ledger's rows stay as they are)."""
    import datetime
    at = datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=days)
    H.closeloop("flags", "--once", "--now", at.strftime("%Y-%m-%dT%H:%M:%SZ"), "-c", config)


def _open_flags(dsn):
    """(kind, postmortem reference, item title or '') of every open flag."""
    return sorted(tuple(r) for r in H.psql(
        dsn, "SELECT f.kind, p.reference, coalesce(ai.title, '') FROM item_flag f "
             "JOIN postmortem p ON p.id = f.postmortem_id "
             "LEFT JOIN action_item ai ON ai.id = f.action_item_id WHERE f.cleared_at IS NULL"))


def _flag_state(dsn):
    """The rows a flags run writes (item_flag, escalation), as text."""
    return H.psql(dsn, "SELECT x FROM (SELECT f::text AS x FROM item_flag f UNION ALL "
                       "SELECT e::text FROM escalation e) s ORDER BY x")


def test_watch_each_flag_raised_and_cleared_by_the_right_edit(cl):
    """Every flag kind but overdue and link_broken (tested above) raised and
    cleared end to end: a daemon syncing with the GitHub simulator, the
    flags computed by `closeloop flags --once --now` at an instant days
    ahead (the simulator's clock moved as far, so a tracker-side edit is
    activity at that instant), the edits made where a person makes them:
    ownerless cleared by an assignee set on GitHub, undated and long_horizon
    by due dates, stale raised after 30 quiet days and cleared by an edit of
    the ticket on GitHub, needs_decision
    by closing the item, owner_inactive raised by the directory and by a
    GitHub assignee that maps to nobody (cleared when the owner is back and
    the assignee known), no_action_items and
    no_high_priority by the postmortem's items; overdue is turned off and
    never raised although an item is past its due date."""
    wd, dsn, sim, config = _ledger(cl, "watch_each", 'flags = { interval = 3600; disable = [ "overdue" ]; };\n'
                                   'escalation = { enabled = false; };\n'
                                   'quarterly_report = { enabled = false; };\n', poll=10)
    directory = os.path.join(wd, "directory.conf")
    pm = ("INSERT INTO postmortem (reference, title, platform_id, published_date) "
          "SELECT '%s', '%s', id, current_date FROM platform WHERE name = 'kubernetes'")
    item = ("INSERT INTO action_item (postmortem_id, title, priority, owner, team_id, due_date) "
            "SELECT (SELECT id FROM postmortem WHERE reference = '%s'), '%s', '%s', %s, id, %s "
            "FROM team WHERE name = 'dfds-platform'")
    for ref in ("PM-A", "PM-B", "PM-C"):
        H.psql(dsn, pm % (ref, ref + " outage"))
    for args in (("PM-A", "Nobody owns me", "P1", "NULL", "NULL"),
                 ("PM-A", "Far away", "P1", "'rf'", "current_date + 100"),
                 ("PM-A", "Past due", "P1", "'rf'", "current_date - 5"),
                 ("PM-A", "Leaving owner", "P2", "'pw'", "current_date + 10"),
                 ("PM-C", "Low only", "P2", "'rf'", "current_date + 10")):
        H.psql(dsn, item % args)
    H.closeloop("sync", "--once", "-c", config)
    num = dict(H.psql(dsn, "SELECT ai.title, split_part(l.remote_key, '#', 2) FROM external_link l "
                           "JOIN action_item ai ON ai.id = l.action_item_id WHERE l.state = 'linked'"))
    _assert(len(num) == 5, "five tickets: %r" % num)
    d = H.Daemon(config, os.path.join(wd, "daemon.log"))
    try:
        ok = H.wait_for(lambda: "info flags: " in d.log(), timeout=60)
        _assert(ok and _open_flags(dsn) == [("long_horizon", "PM-A", "Far away"),
                                            ("no_high_priority", "PM-C", "")],
                "the daemon's run at the real time: no grace period is over yet: %r\n"
                % _open_flags(dsn) + d.log()[-2000:])
        # three days on: the grace periods of two days are over; the what-if
        # (--now without --once) says so and writes nothing
        import datetime
        at = (datetime.datetime.now(datetime.timezone.utc)
              + datetime.timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
        # the daemon polls meanwhile (its cycles write cursors and sync
        # times), so compare what a flags run writes, not every table
        before = _flag_state(dsn)
        out = H.closeloop("flags", "--now", at, "-c", config).stdout
        _assert(_flag_state(dsn) == before, "the what-if wrote nothing")
        _assert("what if at %s (nothing written): 3 raised, 2 staying open, 0 cleared" % at in out
                and re.search(r"raise +\d+ +PM-A +ownerless ", out), "what-if: %r" % out)
        _flags_at(config, 3)
        want = {("ownerless", "PM-A", "Nobody owns me"), ("undated", "PM-A", "Nobody owns me"),
                ("long_horizon", "PM-A", "Far away"), ("no_action_items", "PM-B", ""),
                ("no_high_priority", "PM-C", "")}
        _eq_flags(dsn, want, "three days on")
        # the edits, each where a person makes it
        sim.edit(REPO, int(num["Nobody owns me"]), {"assignees": ["rf-gh"], "actor": "rf-gh"})
        ok = H.wait_for(lambda: H.scalar(dsn, "SELECT owner FROM action_item WHERE title = "
                                              "'Nobody owns me'") == "rf", timeout=60)
        _assert(ok, "the GitHub assignee pulled as the owner:\n" + d.log()[-2000:])
        H.psql(dsn, "UPDATE action_item SET due_date = current_date + 20 WHERE title IN "
                    "('Nobody owns me', 'Far away')")
        H.psql(dsn, item % ("PM-B", "Now it has one", "P1", "'rf'", "current_date + 10"))
        H.psql(dsn, "UPDATE action_item SET priority = 'P1' WHERE title = 'Low only'")
        # owner_inactive: pw leaves (the directory), and a GitHub assignee
        # nobody in the directory has
        text = open(directory).read().replace('github = "pw-gh"; active = true;',
                                              'github = "pw-gh"; active = false;')
        with open(directory, "w") as f:
            f.write(text)
        H.closeloop("directory", "load", "-c", config)
        sim.edit(REPO, int(num["Far away"]), {"assignees": ["ghost-gh"], "actor": "ghost-gh"})
        ok = H.wait_for(lambda: H.scalar(dsn, "SELECT owner FROM action_item WHERE title = "
                                              "'Far away'") != "rf", timeout=60)
        _assert(ok, "the unknown assignee pulled:\n" + d.log()[-2000:])
        _flags_at(config, 3)
        _eq_flags(dsn, {("owner_inactive", "PM-A", "Leaving owner"), ("owner_inactive", "PM-A", "Far away")},
                  "after the edits")
        reasons = H.psql(dsn, "SELECT kind, clear_reason FROM item_flag WHERE cleared_at IS NOT NULL "
                              "ORDER BY kind")
        _assert([r[0] for r in reasons] == sorted(k for k, _, _ in want), "cleared: %r" % reasons)
        # 31 days on: every open item is stale (nothing happened for 30 days)
        sim.call("POST", "/_sim/clock", {"offset_s": 30 * 86400})
        sim.edit(REPO, int(num["Low only"]), {"body": "Still on it, see the runbook PR.", "actor": "rf-gh"})
        ok = H.wait_for(lambda: H.scalar(dsn, "SELECT count(*) FROM external_link WHERE remote_updated_at "
                                              "> now() + interval '29 days'") == "1", timeout=60)
        _assert(ok, "the edit on GitHub pulled:\n" + d.log()[-2000:])
        _flags_at(config, 31)
        stale = {f[2] for f in _open_flags(dsn) if f[0] == "stale"}
        _assert(stale == {"Nobody owns me", "Far away", "Past due", "Leaving owner", "Now it has one"},
                "stale but the item edited on GitHub at that time: %r" % stale)
        # and cleared: a stale item edited on GitHub then; pw back in the
        # directory and a known assignee on the other ticket clear
        # owner_inactive
        sim.edit(REPO, int(num["Past due"]), {"body": "Picked up again.", "actor": "rf-gh"})
        ok = H.wait_for(lambda: H.scalar(dsn, "SELECT count(*) FROM external_link WHERE remote_updated_at "
                                              "> now() + interval '29 days'") == "2", timeout=60)
        _assert(ok, "the second edit on GitHub pulled:\n" + d.log()[-2000:])
        with open(directory, "w") as f:
            f.write(text.replace('github = "pw-gh"; active = false;', 'github = "pw-gh"; active = true;'))
        H.closeloop("directory", "load", "-c", config)
        sim.edit(REPO, int(num["Far away"]), {"assignees": ["rf-gh"], "actor": "rf-gh"})
        ok = H.wait_for(lambda: H.scalar(dsn, "SELECT owner FROM action_item WHERE title = "
                                              "'Far away'") == "rf", timeout=60)
        _assert(ok, "the known assignee pulled:\n" + d.log()[-2000:])
        _flags_at(config, 31)
        open_now = _open_flags(dsn)
        _assert(not any(f[0] == "stale" and f[2] == "Past due" for f in open_now)
                and not any(f[0] == "owner_inactive" for f in open_now),
                "stale and owner_inactive cleared: %r" % open_now)
        _assert(H.scalar(dsn, "SELECT count(*) FROM item_flag f JOIN action_item ai ON ai.id = "
                              "f.action_item_id WHERE f.kind = 'stale' AND ai.title = 'Past due' "
                              "AND f.cleared_at IS NOT NULL") == "1", "the stale flag's clear is kept")
        # 181 days on: needs_decision; closing an item clears all its flags
        _flags_at(config, 181)
        decide = {f[2] for f in _open_flags(dsn) if f[0] == "needs_decision"}
        _assert(decide == {"Nobody owns me", "Far away", "Past due", "Leaving owner", "Low only",
                           "Now it has one"}, "needs_decision: %r" % decide)
        H.psql(dsn, "UPDATE action_item SET state = 'wont_do' WHERE title = 'Past due'")
        _flags_at(config, 181)
        _assert(not any(f[2] == "Past due" for f in _open_flags(dsn)), "closed: no flag left")
        _assert(H.scalar(dsn, "SELECT count(*) FROM item_flag WHERE kind = 'overdue'") == "0",
                "overdue is turned off: never raised")
        _assert(d.stop() == 0, "clean stop")
        d = None
    finally:
        if d:
            d.stop()
        sim.stop()


def _eq_flags(dsn, want, when):
    got = set(_open_flags(dsn))
    _assert(got == set(want), "%s: open flags %r, want %r" % (when, sorted(got), sorted(want)))
