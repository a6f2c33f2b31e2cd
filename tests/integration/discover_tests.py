"""Discovery on the GitHub simulator (docs/architecture.md "Discovery"):
issues a team labelled on GitHub become action items once, across
restarts and two daemons; a document that links one makes no second item;
a label taken off flags the item; a dry run writes nothing."""

import os
import re
import time

import harness as H

CONN = "github-test"
REPO = "acme/payments"
OTHER = "acme/platform"
LABEL = "postmortem-action"
PM_REF = "PM-2026-014"


def _assert(cond, what):
    if not cond:
        raise AssertionError(what)


class DCtx:
    """A ledger, the GitHub simulator and a configuration whose connector
    discovers issues labelled LABEL in REPO (OTHER has no rule)."""

    def __init__(self, cluster, name, poll=10):
        self.dir = H.workdir(name + "-")
        self.dsn = cluster.createdb(re.sub(r"\W", "_", name))
        self.sim = H.Simulator(self.dir, repos=[REPO, OTHER])
        self.directory = os.path.join(self.dir, "directory.conf")
        H.write_directory(self.directory, [("payments", "money", CONN, REPO),
                                           ("platform", "money", CONN, OTHER)],
                          people=[("rf", "R. F.", "rf-gh")])
        self.config = os.path.join(self.dir, "closeloop.conf")
        H.write_config(self.config, self.dsn, self.sim.url, [REPO, OTHER],
                       directory=self.directory, connector=CONN, poll=poll)
        text = open(self.config).read()
        rule = ' discover = ( { target = "%s"; label = "%s"; } );' % (REPO, LABEL.upper())
        text = text.replace('"%s" ];' % OTHER, '"%s" ];%s' % (OTHER, rule), 1)
        with open(self.config, "w") as f:
            f.write(text)
        H.closeloop("check-config", self.config)
        H.closeloop("migrate", "-c", self.config)
        H.closeloop("directory", "load", "-c", self.config)
        self.daemons = []

    def seed(self, repo, issues):
        self.sim.seed({"repos": {repo: {"issues": issues}}})

    def sync(self, *extra):
        return H.closeloop("sync", "--once", "-c", self.config, *extra)

    def one(self, sql):
        return H.scalar(self.dsn, sql)

    def q(self, sql):
        return H.psql(self.dsn, sql)

    def items_of(self, key):
        return int(self.one("SELECT count(DISTINCT action_item_id) FROM external_link "
                            "WHERE remote_key = '%s'" % key))

    def daemon(self):
        d = H.Daemon(self.config, os.path.join(self.dir, "daemon-%d.log" % len(self.daemons)))
        self.daemons.append(d)
        return d

    def close(self):
        for d in self.daemons:
            d.stop()
        self.sim.stop()


def _import(c, body, name="pm.md"):
    path = os.path.join(c.dir, name)
    with open(path, "w") as f:
        f.write(body)
    return H.closeloop("import", "-c", c.config, "--team", "payments", "--platform", "money", path)


PM_DOC = """---
id: %s
title: Payments queue stalled
---
# Payments queue stalled

## Action items

- Alert on queue depth over 10,000 for 5 minutes
- Document the failover runbook
""" % PM_REF


def test_discover_adopts_labelled_issues_once_across_restarts_and_two_daemons(cl):
    c = DCtx(cl, "discover_once")
    try:
        _import(c, PM_DOC)
        c.seed(REPO, [
            {"number": 1, "title": "Add retry budget to the payments client",
             "body": "Follow-up of %s (see the review)." % PM_REF, "labels": [LABEL]},
            {"number": 2, "title": "Rotate the on-call runbook owner", "labels": [LABEL, "ops"],
             "assignees": ["rf-gh"]},
            {"number": 3, "title": "Unrelated bug", "labels": ["bug"]},
            {"number": 4, "title": "A labelled pull request", "labels": [LABEL], "pull_request": True},
        ])
        c.seed(OTHER, [{"number": 1, "title": "labelled where no rule is", "labels": [LABEL]}])
        out = c.sync()
        _assert("discovered 2" in out.stderr, "the pass says it discovered 2: %s" % out.stderr[-1500:])
        _assert(c.items_of(REPO + "#1") == 1 and c.items_of(REPO + "#2") == 1, "each adopted once")
        _assert(c.items_of(REPO + "#3") == 0, "an unlabelled issue is not adopted")
        _assert(c.items_of(OTHER + "#1") == 0, "a target without a rule adopts nothing")
        row = c.q("SELECT p.reference, p.kind, i.owner, t.name, l.state, l.create_token IS NULL,"
                  " l.discovered_at IS NOT NULL FROM external_link l JOIN action_item i ON i.id ="
                  " l.action_item_id JOIN postmortem p ON p.id = i.postmortem_id LEFT JOIN team t"
                  " ON t.id = i.team_id WHERE l.remote_key = '%s#1'" % REPO)[0]
        _assert(row[0] == PM_REF and row[1] == "document", "named postmortem: %r" % (row,))
        _assert(row[3] == "payments" and row[4] == "linked" and row[5] == "t" and row[6] == "t",
                "linked from the start, never created: %r" % (row,))
        row = c.q("SELECT p.reference, p.kind, i.owner FROM external_link l JOIN action_item i"
                  " ON i.id = l.action_item_id JOIN postmortem p ON p.id = i.postmortem_id"
                  " WHERE l.remote_key = '%s#2'" % REPO)[0]
        _assert(row == ["unattached:payments", "unattached", "rf"], "unattached bucket, owner mapped: %r"
                % (row,))
        # no ticket was created for them, and their issues were not rewritten
        issues = {i["number"]: i for i in c.sim.live_issues(REPO)}
        _assert("closeloop:begin" not in (issues[1].get("body") or ""), "discovered issue untouched")
        n_items = int(c.one("SELECT count(*) FROM action_item"))
        # the listing starts over (cursor gone), twice: nothing adopted again
        c.q("DELETE FROM sync_cursor")
        c.sync()
        c.sync()
        _assert(int(c.one("SELECT count(*) FROM action_item")) == n_items, "nothing adopted twice")
        # two daemons on one ledger, a new labelled issue and a fresh listing
        c.q("DELETE FROM sync_cursor")
        c.seed(REPO, [{"title": "Cap the retry storm", "labels": [LABEL]}])
        new = [i["number"] for i in c.sim.live_issues(REPO) if i["title"] == "Cap the retry storm"][0]
        d1, _ = c.daemon(), c.daemon()
        _assert(H.wait_for(lambda: c.items_of("%s#%d" % (REPO, new)) == 1, timeout=90),
                "adopted by a daemon")
        time.sleep(1)
        d1.stop()
        c.q("DELETE FROM sync_cursor")
        c.daemon()
        # a cursor is written again only by a listing that started over
        _assert(H.wait_for(lambda: int(c.one("SELECT count(*) FROM sync_cursor WHERE target = '%s'"
                                             % REPO)) == 1, timeout=90),
                "a daemon listed the repository from the start again")
        for k in (1, 2, new):
            _assert(c.items_of("%s#%d" % (REPO, k)) == 1, "issue %d: one item" % k)
        _assert(int(c.one("SELECT count(*) FROM action_item")) == n_items + 1, "one more item in all")
        _assert(int(c.one("SELECT count(*) FROM item_event WHERE field = 'link' AND new_value LIKE"
                          " 'discovered: %%'")) == 3, "one discovery event per ticket")
        made = [i for i in c.sim.live_issues(REPO) if "closeloop:begin" in (i.get("body") or "")]
        _assert(len(made) == 2, "issues created only for the document's two items: %d" % len(made))
    finally:
        c.close()


def test_discover_document_linking_a_discovered_issue_is_the_same_item(cl):
    c = DCtx(cl, "discover_doc")
    try:
        c.seed(REPO, [{"number": 7, "title": "Alert on queue depth", "labels": [LABEL],
                       "body": "raised in the review"}])
        c.sync()
        item = int(c.one("SELECT action_item_id FROM external_link WHERE remote_key = '%s#7'" % REPO))
        _assert(c.one("SELECT p.kind FROM action_item i JOIN postmortem p ON p.id = i.postmortem_id"
                      " WHERE i.id = %d" % item) == "unattached", "first unattached")
        doc = PM_DOC.replace("- Alert on queue depth over 10,000 for 5 minutes",
                             "- Alert on queue depth over 10,000 for 5 minutes (%s#7)" % REPO)
        out = _import(c, doc)
        _assert("found in its tracker (discovered)" in out.stdout, out.stdout)
        _assert(c.items_of(REPO + "#7") == 1, "one item for the ticket")
        row = c.q("SELECT p.reference, i.title, i.import_key IS NOT NULL FROM action_item i"
                  " JOIN postmortem p ON p.id = i.postmortem_id WHERE i.id = %d" % item)[0]
        _assert(row == [PM_REF, "Alert on queue depth", "t"], "the document's item now: %r" % (row,))
        _assert(int(c.one("SELECT count(*) FROM action_item i JOIN postmortem p ON p.id ="
                          " i.postmortem_id WHERE p.reference = '%s'" % PM_REF)) == 2,
                "the document has its two items, not three")
        # a sync and a re-import change nothing more
        c.sync()
        _import(c, doc)
        _assert(c.items_of(REPO + "#7") == 1, "still one item")
        issues = [i for i in c.sim.live_issues(REPO) if i["number"] != 7]
        _assert(len(issues) == 1, "one issue created, for the other document item: %d" % len(issues))
        # the other way round: a document names an issue, then it is labelled
        c.seed(REPO, [{"number": 9, "title": "Runbook", "labels": []}])
        doc2 = doc.replace("- Document the failover runbook",
                           "- Document the failover runbook (%s#9)" % REPO)
        _import(c, doc2)
        c.sim.edit(REPO, 9, {"labels": [LABEL]})
        c.sync()
        _assert(c.items_of(REPO + "#9") == 1, "the labelled issue the document names is one item")
    finally:
        c.close()


def test_discover_label_removed_flags_the_item(cl):
    c = DCtx(cl, "discover_left")
    try:
        c.seed(REPO, [{"number": 3, "title": "Tighten the deploy gate", "labels": [LABEL]}])
        c.sync()
        item = int(c.one("SELECT action_item_id FROM external_link WHERE remote_key = '%s#3'" % REPO))
        c.sim.edit(REPO, 3, {"labels": ["bug"]})
        out = c.sync()
        _assert("no longer matches the discovery rule" in out.stderr, out.stderr[-1500:])
        _assert(c.one("SELECT discover_left_at IS NOT NULL FROM external_link WHERE action_item_id"
                      " = %d" % item) == "t", "left the rule")
        H.closeloop("flags", "--once", "-c", c.config)
        _assert(int(c.one("SELECT count(*) FROM item_flag WHERE kind = 'discovery_left' AND"
                          " action_item_id = %d AND cleared_at IS NULL" % item)) == 1, "flagged")
        _assert(int(c.one("SELECT count(*) FROM action_item WHERE id = %d" % item)) == 1, "kept")
        c.sim.edit(REPO, 3, {"labels": [LABEL]})
        c.sync()
        H.closeloop("flags", "--once", "-c", c.config)
        _assert(c.one("SELECT clear_reason FROM item_flag WHERE kind = 'discovery_left' AND"
                      " action_item_id = %d" % item) == "the ticket matches the discovery rule again",
                "cleared when the label is back")
    finally:
        c.close()


def test_discover_dry_run_writes_nothing(cl):
    c = DCtx(cl, "discover_dry")
    try:
        c.seed(REPO, [{"number": 1, "title": "Shorter DNS TTLs", "labels": [LABEL]}])
        before = c.q("SELECT (SELECT count(*) FROM action_item), (SELECT count(*) FROM external_link),"
                     " (SELECT count(*) FROM postmortem), (SELECT count(*) FROM item_event)")
        out = c.sync("--dry-run")
        _assert('adopt   %s#1 "Shorter DNS TTLs" -> unattached:payments  (discovered)' % REPO
                in out.stdout, out.stdout[-1500:])
        after = c.q("SELECT (SELECT count(*) FROM action_item), (SELECT count(*) FROM external_link),"
                    " (SELECT count(*) FROM postmortem), (SELECT count(*) FROM item_event)")
        _assert(before == after, "nothing written: %r -> %r" % (before, after))
        c.sync()
        _assert(c.items_of(REPO + "#1") == 1, "adopted by the real run")
    finally:
        c.close()
