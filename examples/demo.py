#!/usr/bin/env python3
"""The closeloop demo (`make demo`).

1. starts a throwaway PostgreSQL cluster (tests/pgtmp.sh: the highest
   installed major version, Unix socket only, data in a mktemp directory
   under /tmp, as the unprivileged postgres account when run as root) and
   the local GitHub simulator, seeded
   with the etcd issues the etcd postmortem names, and the Jira Cloud
   simulator (one example team, dfds-identity, keeps its backlog in Jira
   project IDM);
2. migrates the ledger, loads examples/directory.conf, imports the real
   postmortems in examples/postmortems (etcd's table, DFDS's 40 files);
   the DFDS ingress team's three 503 outages go to a ServiceNow instance
   (the Table API simulator) as Problem records (examples/demo_servicenow.py);
3. runs `closeloop run` until the first reconcile cycle completes, then
   shows what happened;
4. shows a round trip: an issue closed on the simulator arrives in the
   ledger as done; a due date changed in the ledger (plain SQL) arrives
   on the issue through LISTEN/NOTIFY; the same both ways in Jira (a
   Won't Do resolution read through its status category and resolution,
   a ledger edit pushed to the Jira issue); then the flags raised on the real
   postmortems, and one escalation end to end (an item moved 31 days past
   its due date gets one comment mentioning its platform lead in the
   tracker's own way, the closeloop:escalated label, and one line in the
   digest that a local chat receiver, started here, takes as a Slack
   incoming webhook would);
5. runs one more cycle to show that nothing is created twice;
6. writes the quarterly closure report (HTML and Markdown, under
   build/demo-report/) on a second ledger with a generated history of the
   same postmortems, and runs the Grafana dashboard's queries on it
   (examples/demo_report.py); then stops everything and removes its work
   directory.
"""

import glob
import json
import os
import re
import shutil
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness as H  # noqa: E402
from deliver_tests import Sink  # noqa: E402  (tests/sim/sinks.py in the background)
import demo_report  # noqa: E402
import demo_servicenow as SN  # noqa: E402

EX = os.path.join(H.ROOT, "examples")
CONN = "github-demo"
JIRA_CONN, JIRA_PROJECT = "jira-demo", "IDM"
# the Jira accountIds examples/directory.conf gives platform-lead and rf
JIRA_USERS = ("5b10a2844c20165700ede21g", "712020:3c1c1e2a-6a8b-4c3e-9a51-rfaber00001")
# DFDS postmortems of the identity team (ADSync/ADFS): routed to Jira
IDENTITY = ("ADSync", "ADFS")
# The etcd issues the postmortem's table names, seeded into the simulator
# as existing upstream issues (titles from the postmortem's rows).
ETCD_ISSUES = {
    14045: "etcd testing can reproduce historical data inconsistency issues",
    14039: "etcd detects data corruption by default",
    13637: "etcd testing is high quality, easy to maintain and expand",
    13775: "Critical etcd features are not abandoned when contributors move on",
    13973: "etcd checks consistency of snapshots sent between leader and followers",
    13839: "etcd can imminently detect and recover from data corruption (implement Merkle root)",
}


# flags and the ladder once an hour (and at start: the demo restarts the
# daemon to run them when it wants, so the dry run it shows first is what
# the run then does); the first rung's actions: the comment, the
# closeloop:escalated label on escalated tickets and the escalation digest
# to the chat receiver (a Slack-format webhook); the quarterly report is
# shown on its own ledger at the end, not delivered
CHAT_CONFIG = ('flags = { interval = 3600; };\n'
               'destinations = ( { name = "lead-chat"; type = "webhook"; format = "slack";'
               ' url = "http://127.0.0.1:%d/hook"; } );\n'
               'escalation = { chat = [ "lead-chat" ]; rungs = ( { name = "overdue-30"; flag = "overdue";'
               ' days = 30; notify = "platform_lead"; channels = [ "comment", "label", "chat" ]; } ); };\n'
               'quarterly_report = { enabled = false; };\n')


def say(s=""):
    print(s, flush=True)


def head(s):
    say()
    say("== " + s)


def table(dsn, sql):
    for row in H.psql(dsn, sql):
        say("   " + "  ".join(x if x else "-" for x in row))


def show_digest(dsn, chat, item):
    """Wait for the digest line of item to reach the chat receiver; print
    every message it took.  True when exactly one message named the item."""
    q = ("SELECT count(*) FROM escalation WHERE action_item_id=%s AND channel='chat:lead-chat' "
         "AND state='sent'" % item)
    sent = H.wait_for(lambda: H.scalar(dsn, q) == "1", 60)
    got = chat.received()
    say("   the chat receiver took %d message(s)%s:" % (len(got), "" if sent else
                                                       " (the digest was not sent in 60 s)"))
    named = 0
    for m in got:
        doc = json.loads(m["body"])
        say("     %s %s  Content-Type: %s  keys: %s, %d block(s)"
            % (m["method"], m["path"], m["headers"].get("Content-Type"), sorted(doc),
               len(doc.get("blocks", []))))
        for line in doc.get("text", "").splitlines():
            say("     | " + line)
        named += 1 if '"%s"' % H.scalar(dsn, "SELECT title FROM action_item WHERE id=%s" % item) \
            in doc.get("text", "") else 0
    return sent and named == 1


def main():
    wd = os.path.join(H.ROOT, "build", "demo")
    if os.path.exists(wd):
        shutil.rmtree(wd, ignore_errors=True)
    os.makedirs(wd)
    os.chmod(wd, 0o755)
    cluster = sim = jsim = daemon = sn = chat = None
    ok = False
    try:
        head("starting a throwaway PostgreSQL cluster, the GitHub and the Jira Cloud simulators")
        cluster = H.Cluster(wd, int(os.environ.get("DEMO_PGPORT", "54390")))
        dsn = cluster.createdb("closeloop_demo")
        sim = H.Simulator(wd)
        sim.seed({"repos": {"etcd-io/etcd": {"issues": [
            {"number": n, "title": t, "state": "open"} for n, t in sorted(ETCD_ISSUES.items())]}}})
        say("   ledger: %s" % dsn)
        say("   simulator: %s (etcd-io/etcd seeded with issues %s)" % (sim.url, ", ".join(map(str, sorted(ETCD_ISSUES)))))
        jargs = ["--project", JIRA_PROJECT, "--search-lag-ms", "1000"]
        for u in JIRA_USERS:
            jargs += ["--user", u]
        jsim = H.JiraSimulator(wd, jargs)
        say("   Jira Cloud simulator: %s (project %s; search lags writes by 1 s, as Jira Cloud's does)"
            % (jsim.url, JIRA_PROJECT))
        sn = SN.start(wd)
        say("   ServiceNow simulator: %s (team %s, assignment group %s)"
            % (sn.url, SN.TEAM, H.SN_GROUP))
        chat = Sink(wd, "http")
        say("   chat receiver: http://127.0.0.1:%d/hook (takes Slack incoming-webhook JSON; "
            "the escalation digests go there)" % chat.port)
        conf = os.path.join(wd, "closeloop.conf")
        H.write_config(conf, dsn, sim.url, ["dfds/platform-backlog", "etcd-io/etcd"],
                       directory=SN.directory(wd, os.path.join(EX, "directory.conf")), poll=10, connector=CONN,
                       extra=CHAT_CONFIG % chat.port,
                       more_connectors=H.jira_connector(JIRA_CONN, jsim.url, [JIRA_PROJECT], 100)
                       + ", " + H.servicenow_connector(SN.CONN, sn.url, [H.SN_GROUP]))

        head("closeloop migrate / directory load / check-config")
        say("   " + H.closeloop("migrate", "-c", conf).stdout.strip())
        say("   " + H.closeloop("directory", "load", "-c", conf).stdout.strip())
        say("   " + H.closeloop("check-config", conf).stdout.strip())

        head("closeloop import: etcd's v3.5 data inconsistency postmortem (action-items table)")
        out = H.closeloop("import", "-c", conf, "--platform", "etcd", "--team", "etcd-maintainers",
                          os.path.join(EX, "postmortems", "etcd", "v3.5-data-inconsistency.md"))
        say("   " + out.stdout.strip().splitlines()[-1])
        head("closeloop import: DFDS platform postmortems (bullet lists; template and README included on purpose)")
        files = sorted(glob.glob(os.path.join(EX, "postmortems", "dfds", "*")))
        files = [f for f in files if not f.endswith("LICENSE")]
        identity = [f for f in files if any(w in os.path.basename(f) for w in IDENTITY)]
        files = [f for f in files if f not in identity]
        ingress = [f for f in files if SN.is_team_postmortem(f)]
        files = [f for f in files if f not in ingress]
        out = H.closeloop("import", "-c", conf, "--platform", "kubernetes", "--team", "dfds-platform",
                          *files, check=False)
        for line in out.stderr.strip().splitlines():
            say("   " + line)
        say("   " + out.stdout.strip().splitlines()[-1])
        head("closeloop import: DFDS identity postmortems (ADSync, ADFS) for team dfds-identity, "
             "whose backlog is Jira project %s" % JIRA_PROJECT)
        out = H.closeloop("import", "-c", conf, "--platform", "kubernetes", "--team", "dfds-identity",
                          *identity)
        say("   " + out.stdout.strip().splitlines()[-1])
        head("closeloop import: DFDS's three 503 outages for team %s, whose backlog is a "
             "ServiceNow instance (Problem records)" % SN.TEAM)
        out = H.closeloop("import", "-c", conf, "--platform", "kubernetes", "--team", SN.TEAM,
                          *ingress)
        say("   " + out.stdout.strip().splitlines()[-1])

        head("closeloop run: until the first reconcile cycle completes")
        daemon = H.Daemon(conf, os.path.join(wd, "daemon.log"))
        t0 = time.time()
        if not daemon.wait_log("first reconcile cycle complete", 180):
            say(daemon.log()[-3000:])
            raise RuntimeError("the first cycle did not complete")
        say("   first cycle complete in %.1f s; the daemon's summary lines:" % (time.time() - t0))
        say("   (the simulator keeps GitHub's limit of 80 new issues a minute, and closeloop's write"
            " queue waits for it rather than be refused: see `closeloop status`)")
        for line in daemon.log().splitlines():
            if "] " in line and ("pulled" in line or "created" in line):
                say("   " + line)

        head("what happened")
        table(dsn, "SELECT 'postmortems: ' || count(*) FROM postmortem")
        table(dsn, "SELECT 'action items: ' || count(*) || ' (' || count(*) FILTER (WHERE state IN ('done','wont_do')) "
                   "|| ' already done in the documents)' FROM action_item")
        say("   issues per repository (simulator):")
        for repo in ("dfds/platform-backlog", "etcd-io/etcd"):
            say("     %-24s %d issue(s)" % (repo, len(sim.live_issues(repo))))
        jissues = jsim.issues(JIRA_PROJECT)
        say("     %-24s %d issue(s), e.g.:" % ("Jira " + JIRA_PROJECT, len(jissues)))
        for i in jissues[:4]:
            f = i["fields"]
            say("       %-7s %-11s %-7s %-24s %s" % (i["key"], f["status"], f["priority"] or "-",
                                                     f["assignee"] or "unassigned", (f["summary"] or "")[:50]))
        say("   links by connector, kind and state (ledger):")
        table(dsn, "SELECT '    ', connector, kind, state, count(*) FROM external_link "
                   "GROUP BY 2, 3, 4 ORDER BY 2, 3, 4")
        say("   links by kind and state (ledger):")
        table(dsn, "SELECT '    ', kind, state, count(*) FROM external_link GROUP BY 2, 3 ORDER BY 2, 3")
        say("   links adopted (existing etcd issues named in the postmortem, no new issue created):")
        table(dsn, "SELECT '    ', remote_key, left(i.title, 60) FROM external_link l JOIN action_item i "
                   "ON i.id = l.action_item_id WHERE l.kind = 'managed' AND l.create_token IS NULL ORDER BY 2")
        say("   errors on links:")
        table(dsn, "SELECT '    ' || coalesce(string_agg(remote_key || ': ' || last_error, '; '), 'none') "
                   "FROM external_link WHERE last_error IS NOT NULL")

        sn_trip = SN.show_sync(dsn, sn, say, head, table)

        head("round trip 1: an engineer closes an issue on GitHub")
        item, key = H.psql(dsn, "SELECT action_item_id, remote_key FROM external_link WHERE state='linked' "
                                "AND target='dfds/platform-backlog' ORDER BY action_item_id LIMIT 1")[0]
        num = int(key.split("#")[1])
        say("   closing %s (item %s) on the simulator as completed" % (key, item))
        sim.edit("dfds/platform-backlog", num, {"state": "closed", "state_reason": "completed"})
        got = H.wait_for(lambda: H.scalar(dsn, "SELECT state FROM action_item WHERE id=%s" % item) == "done", 30)
        say("   ledger state of item %s: %s%s" % (item, H.scalar(dsn, "SELECT state FROM action_item WHERE id=%s" % item),
                                               "" if got else "  (did not arrive in 30 s)"))
        table(dsn, "SELECT '   history:', field, coalesce(old_value,'-') || ' -> ' || new_value, source "
                   "FROM item_event WHERE action_item_id=%s AND field='state' ORDER BY id DESC LIMIT 1" % item)

        sn_ok = bool(sn_trip)
        if sn_trip:
            head("ServiceNow round trip, continued")
            sn_ok = SN.after_round_trip(dsn, conf, say, table, sn_trip[0])

        head("round trip 2: an SRE sets a due date in the ledger with plain SQL")
        item2, key2 = H.psql(dsn, "SELECT action_item_id, remote_key FROM external_link WHERE state='linked' "
                                  "AND target='dfds/platform-backlog' ORDER BY action_item_id OFFSET 1 LIMIT 1")[0]
        num2 = int(key2.split("#")[1])
        t0 = time.time()
        H.psql(dsn, "UPDATE action_item SET due_date = '2027-01-31', owner = 'rf' WHERE id=%s" % item2)

        def body():
            for i in sim.issues("dfds/platform-backlog"):
                if i["number"] == num2:
                    return i
            return None
        got = H.wait_for(lambda: "2027-01-31" in (body() or {}).get("body", ""), 30)
        b = body() or {}
        m = re.search(r"\*\*Due date:\*\* (\S+)", b.get("body", ""))
        say("   %s due date on the issue: %s, assignees: %s  (%.1f s after the UPDATE%s)"
            % (key2, m.group(1) if m else "?", [a["login"] for a in b.get("assignees", [])], time.time() - t0,
               "" if got else ", did not arrive"))

        head("round trip 3: Jira — an engineer resolves an issue as Won't Do; the ledger edits another")
        jitem, jkey, jid = H.psql(dsn, "SELECT action_item_id, remote_key, remote_id FROM external_link "
                                       "WHERE state='linked' AND connector='%s' ORDER BY action_item_id "
                                       "LIMIT 1" % JIRA_CONN)[0]
        say("   resolving %s (item %s) in Jira: status Done, resolution Won't Do" % (jkey, jitem))
        jsim.call("POST", "/_sim/edit", {"id": jid, "status": "Done", "resolution": "Won't Do"})
        got_j = H.wait_for(lambda: H.scalar(dsn, "SELECT state FROM action_item WHERE id=%s" % jitem)
                           == "wont_do", 60)
        say("   ledger state of item %s: %s%s (statusCategory done + resolution Won't Do)"
            % (jitem, H.scalar(dsn, "SELECT state FROM action_item WHERE id=%s" % jitem),
               "" if got_j else "  (did not arrive in 60 s)"))
        jitem2, jkey2, jid2 = H.psql(dsn, "SELECT action_item_id, remote_key, remote_id FROM external_link "
                                          "WHERE state='linked' AND connector='%s' ORDER BY action_item_id "
                                          "OFFSET 1 LIMIT 1" % JIRA_CONN)[0]
        t0 = time.time()
        H.psql(dsn, "UPDATE action_item SET state='in_progress', due_date='2027-02-28' WHERE id=%s" % jitem2)

        def jissue():
            return [i for i in jsim.issues() if i["id"] == jid2][0]["fields"]
        got_j2 = H.wait_for(lambda: jissue()["duedate"] == "2027-02-28" and
                            jissue()["status"] == "In Progress", 30)
        say("   %s after the ledger UPDATE: duedate %s, status %s (a transition)  (%.1f s%s)"
            % (jkey2, jissue()["duedate"], jissue()["status"], time.time() - t0,
               "" if got_j2 else ", did not arrive"))

        head("flags on the real postmortems (closeloop flags --once)")
        say("   (the daemon computed them at start and does every hour here; `open` is what stands now)")
        for line in H.closeloop("flags", "--once", "-c", conf).stdout.splitlines():
            if line.startswith("item ") or line.startswith("no open flags"):
                break
            say("   " + line)
        say("   examples (v_item_flag_open):")
        table(dsn, "SELECT DISTINCT ON (kind) '    ', kind, postmortem, left(coalesce(title, ''), 50), "
                   "detail::text FROM v_item_flag_open ORDER BY kind, postmortem, action_item_id")

        head("escalation: an item 31 days overdue -> one comment mentioning the platform lead")
        item3, key3 = H.psql(dsn, "SELECT action_item_id, remote_key FROM external_link WHERE state='linked' "
                                  "AND target='dfds/platform-backlog' ORDER BY action_item_id OFFSET 2 LIMIT 1")[0]
        num3 = int(key3.split("#")[1])
        say("   the demo moves item %s (%s) 31 days past its due date, with plain SQL" % (item3, key3))
        H.psql(dsn, "UPDATE action_item SET due_date = current_date - 31 WHERE id=%s" % item3)
        sn_item = SN.overdue_item(dsn, say)
        say("   nothing is sent before the daemon's next run (flags.interval = 3600 here)")
        say("   closeloop escalate --dry-run (what the next run would send, to whom, where):")
        for line in H.closeloop("escalate", "--dry-run", "-c", conf).stdout.splitlines():
            say("     " + line)
        say("   restarting the daemon: its first run, at start, computes the flags and sends the escalations")
        rc0 = daemon.stop()
        daemon = H.Daemon(conf, os.path.join(wd, "daemon-2.log"))
        q3 = ("SELECT count(*) FROM escalation WHERE action_item_id=%s AND channel LIKE 'comment:%%' "
              "AND state='sent'" % item3)
        sent = rc0 == 0 and H.wait_for(lambda: H.scalar(dsn, q3) == "1", 60)
        o, r = "dfds/platform-backlog".split("/")
        comments = sim.call("GET", "/_sim/comments/%s/%s/%d" % (o, r, num3))
        say("   %s has %d comment(s)%s; the first one:" % (key3, len(comments), "" if sent else
                                                         " (the escalation was not sent in 60 s)"))
        for line in (comments[0]["body"] if comments else "").splitlines():
            say("     | " + line)
        table(dsn, "SELECT '   escalation:', rung, channel, state, recipient_identity, remote_url "
                   "FROM escalation WHERE action_item_id=%s ORDER BY id" % item3)
        table(dsn, "SELECT '   all escalations by state:', state, count(*) FROM escalation GROUP BY 2 ORDER BY 2")
        def labels3():
            return [lab["name"] for i in sim.issues("dfds/platform-backlog") if i["number"] == num3
                    for lab in i["labels"]]
        labelled = H.wait_for(lambda: "closeloop:escalated" in labels3(), 60)
        say("   labels on %s: %s%s" % (key3, ", ".join(labels3()), "" if labelled else
                                       "  (closeloop:escalated did not arrive in 60 s)"))
        ok_escalation = sent and len(comments) == 1 and labelled and show_digest(dsn, chat, item3)
        say("   ServiceNow: the escalation is a work note on the problem, mentioning the lead by"
            " sys_id")
        sn_ok = SN.show_escalation(dsn, sn, say, table, sn_item) and sn_ok

        head("no duplicates: stop the daemon, run one more cycle")
        rc = daemon.stop()
        say("   daemon stopped with status %d" % rc)
        before = {r: len(sim.live_issues(r)) for r in ("dfds/platform-backlog", "etcd-io/etcd")}
        before["Jira " + JIRA_PROJECT] = len(jsim.issues(JIRA_PROJECT))
        before["ServiceNow"] = len(sn.records())
        sim.reset_stats()
        H.closeloop("sync", "--once", "-c", conf)
        H.closeloop("sync", "--once", "-c", conf)
        after = {r: len(sim.live_issues(r)) for r in before
                 if not r.startswith("Jira") and r != "ServiceNow"}
        after["Jira " + JIRA_PROJECT] = len(jsim.issues(JIRA_PROJECT))
        after["ServiceNow"] = len(sn.records())
        st = sim.stats()
        say("   issues before %s, after %s; the last two cycles made %d request(s), %d create(s)"
            % (before, after, st.get("total", 0), st.get("create", 0)))
        ok = rc == 0 and got and before == after and ok_escalation and got_j and got_j2 and sn_ok

        head("the quarterly closure report (on a GENERATED history, see examples/demo-history.sql)")
        say("   a second ledger: the same real postmortems, published over the last five quarters,")
        say("   with generated closes, won't-dos, reopenings and moved due dates")
        hdsn, hconf = demo_report.build_history(cluster, wd, lambda path, d: H.write_config(
            path, d, sim.url, ["dfds/platform-backlog", "etcd-io/etcd"],
            directory=os.path.join(EX, "directory.conf"), connector=CONN))
        demo_report.write_report(hconf, say)
        head("the Grafana dashboard's queries (examples/grafana), as closeloop_reader, first rows")
        demo_report.grafana_panels(hdsn, say)
    finally:
        if daemon:
            daemon.stop()
        if sim:
            sim.stop()
        if jsim:
            jsim.stop()
        if sn:
            sn.stop()
        if chat:
            chat.stop()
        if cluster:
            cluster.stop()
        if ok:
            shutil.rmtree(wd, ignore_errors=True)
        else:
            say("\ndemo work directory kept for inspection: %s" % wd)
    head("demo %s" % ("complete" if ok else "FAILED"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
