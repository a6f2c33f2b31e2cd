"""Integration tests of webhook deliveries (imported by run.py): a real
daemon with polling set to an hour, a real PostgreSQL and the GitHub
simulator; deliveries are signed the way GitHub signs them
(X-Hub-Signature-256: HMAC-SHA256 of the raw body with the secret)."""

import hashlib
import hmac
import json
import os
import re
import time
import urllib.error
import urllib.request
import uuid

import harness as H

CONN = "github-test"
REPO = "dfds/platform-backlog"
OTHER = "etcd-io/etcd"
SECRET = "hook secret with spaces & symbols"
DFDS = os.path.join(H.ROOT, "examples", "postmortems", "dfds")


def _assert(cond, msg):
    if not cond:
        raise AssertionError(msg)


class HookCtx:
    """A daemon polling hourly, with webhooks on their own port and
    /metrics on another."""

    def __init__(self, cl, name):
        self.wd = H.workdir(name + "-")
        self.dsn = cl.createdb(name)
        self.sim = H.Simulator(self.wd)
        directory = os.path.join(self.wd, "directory.conf")
        H.write_directory(directory, [("dfds-platform", "kubernetes", CONN, REPO)],
                          people=[("rf", "R. F.", "rf-gh")])
        self.config = os.path.join(self.wd, "closeloop.conf")
        self.hook_port, self.metrics_port = H.free_port(), H.free_port()
        H.write_config(self.config, self.dsn, self.sim.url, [REPO, OTHER], directory=directory,
                       connector=CONN, poll=3600,
                       extra='listen = "127.0.0.1:%d";\nwebhooks = { listen = "127.0.0.1:%d"; };\n'
                       % (self.metrics_port, self.hook_port))
        secret_file = os.path.join(self.wd, "hook.secret")
        with open(secret_file, "w") as f:
            f.write(SECRET + "\n")
        os.chmod(secret_file, 0o600)
        text = open(self.config).read().replace(
            'token_env = "CLOSELOOP_GITHUB_TOKEN";',
            'token_env = "CLOSELOOP_GITHUB_TOKEN"; webhook_secret_file = "hook.secret";')
        with open(self.config, "w") as f:
            f.write(text)
        H.closeloop("migrate", "-c", self.config)
        H.closeloop("directory", "load", "-c", self.config)
        files = sorted(f for f in os.listdir(DFDS) if f.startswith("PM20") and "template" not in f)
        H.closeloop("import", "-c", self.config, "--team", "dfds-platform", "--platform",
                    "kubernetes", os.path.join(DFDS, files[0]))
        self.daemons = []

    def daemon(self):
        d = H.Daemon(self.config, os.path.join(self.wd, "daemon-%d.log" % len(self.daemons)))
        self.daemons.append(d)
        _assert(d.wait_log("first reconcile cycle complete", 90), "first cycle:\n" + d.log()[-2000:])
        return d

    def one(self, sql):
        return H.scalar(self.dsn, sql)

    def post(self, body, event="issues", delivery=None, secret=SECRET, connector=CONN,
             signature=None, ctype="application/json"):
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        sig = signature if signature is not None else \
            "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()
        req = urllib.request.Request("http://127.0.0.1:%d/hooks/%s" % (self.hook_port, connector),
                                     data=raw, method="POST")
        for k, v in (("Content-Type", ctype), ("X-GitHub-Event", event),
                     ("X-GitHub-Delivery", delivery or str(uuid.uuid4())),
                     ("X-Hub-Signature-256", sig), ("User-Agent", "GitHub-Hookshot/abc")):
            if v:
                req.add_header(k, v)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    def metrics(self):
        url = "http://127.0.0.1:%d/metrics" % self.metrics_port
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.read().decode()

    def close(self):
        for d in self.daemons:
            d.stop()
        self.sim.stop()


def _issue_of(c, item):
    key = c.one("SELECT remote_key FROM external_link WHERE action_item_id=%d AND kind='managed'" % item)
    num = int(key.split("#")[1])
    return [i for i in c.sim.issues(REPO) if i["number"] == num][0]


def _payload(action, issue, repo=REPO, **extra):
    p = {"action": action, "issue": {k: issue[k] for k in ("id", "number", "title", "state")},
         "repository": {"full_name": repo, "name": repo.split("/")[1]},
         "sender": {"login": "rf-gh"}}
    p.update(extra)
    return p


def _metric(text, outcome):
    m = re.search(r'closeloop_webhook_deliveries_total\{connector="%s",outcome="%s"\} (\d+)'
                  % (CONN, outcome), text)
    return int(m.group(1)) if m else None


def test_hook_signed_delivery_pulls_at_once_and_replays_do_nothing(cl):
    c = HookCtx(cl, "hook_pull")
    try:
        d = c.daemon()
        item = int(c.one("SELECT min(action_item_id) FROM external_link WHERE state='linked'"))
        issue = _issue_of(c, item)
        c.sim.edit(REPO, issue["number"], {"title": "Renamed on GitHub", "actor": "rf-gh"})
        t0 = time.time()
        delivery = str(uuid.uuid4())
        status, text = c.post(_payload("edited", issue), delivery=delivery)
        _assert(status == 202, "signed delivery: %d %s" % (status, text))
        got = H.wait_for(lambda: c.one("SELECT title FROM action_item WHERE id=%d" % item)
                         == "Renamed on GitHub", timeout=10, step=0.05)
        took = time.time() - t0
        _assert(got, "the delivery woke a pull (polling is hourly):\n" + d.log()[-2000:])
        print("  webhook: tracker edit in the ledger %.2f s after the delivery" % took)
        _assert(took < 10, "took %.2f s" % took)
        # the same delivery again (a replay or GitHub's redelivery): nothing
        c.sim.edit(REPO, issue["number"], {"title": "Changed again", "actor": "rf-gh"})
        status, text = c.post(_payload("edited", issue), delivery=delivery)
        _assert(status == 200 and "duplicate" in text, "replay: %d %s" % (status, text))
        time.sleep(2)
        _assert(c.one("SELECT title FROM action_item WHERE id=%d" % item) == "Renamed on GitHub",
                "a replayed delivery pulled nothing")
        _assert(c.one("SELECT count(*) FROM webhook_delivery") == "1", "one delivery recorded")
        # wrong signature: 401 and nothing changes
        status, _ = c.post(_payload("edited", issue), secret="not the secret")
        _assert(status == 401, "bad signature: %d" % status)
        status, _ = c.post(_payload("edited", issue), signature="")
        _assert(status == 401, "no signature: %d" % status)
        time.sleep(2)
        _assert(c.one("SELECT title FROM action_item WHERE id=%d" % item) == "Renamed on GitHub",
                "an unsigned delivery pulled nothing")
        # unknown connector, oversized body, wrong method, ping
        status, _ = c.post(_payload("edited", issue), connector="nope")
        _assert(status == 404, "unknown connector: %d" % status)
        status, _ = c.post(b"{" + b" " * (2 * 1024 * 1024) + b"}")
        _assert(status == 413, "oversized: %d" % status)
        status, text = c.post({"zen": "Design for failure.", "hook_id": 1}, event="ping")
        _assert(status == 200 and "pong" in text, "ping: %d %s" % (status, text))
        try:
            urllib.request.urlopen("http://127.0.0.1:%d/hooks/%s" % (c.hook_port, CONN), timeout=5)
            raise AssertionError("GET on a hook: 405 expected")
        except urllib.error.HTTPError as e:
            _assert(e.code == 405, "GET on a hook: %d" % e.code)
        # /metrics is not on the webhook address, and counts the outcomes
        try:
            urllib.request.urlopen("http://127.0.0.1:%d/metrics" % c.hook_port, timeout=5)
            raise AssertionError("/metrics on the webhook address: 404 expected")
        except urllib.error.HTTPError as e:
            _assert(e.code == 404, "/metrics on the webhook address: %d" % e.code)
        m = c.metrics()
        for outcome, n in (("accepted", 1), ("duplicate", 1), ("bad_signature", 2), ("ignored", 1)):
            _assert(_metric(m, outcome) == n, "%s: %r\n%s" % (outcome, _metric(m, outcome), m[-1500:]))
        st = H.closeloop("status", "-c", c.config).stdout
        _assert("last delivery" in st and "issues.edited" in st, "status shows the delivery:\n" + st)
        _assert(SECRET not in d.log(), "the secret is never logged")
        _assert(d.stop() == 0, "clean stop")
    finally:
        c.close()


def test_hook_transfer_repoints_and_delete_breaks_the_link(cl):
    c = HookCtx(cl, "hook_move")
    try:
        c.daemon()
        ids = [int(r[0]) for r in H.psql(c.dsn, "SELECT action_item_id FROM external_link "
                                               "WHERE state='linked' ORDER BY 1")]
        a, b = _issue_of(c, ids[0]), _issue_of(c, ids[1])
        o, r = REPO.split("/")
        moved = c.sim.call("POST", "/_sim/issues/%s/%s/%d/transfer" % (o, r, a["number"]), {"to": OTHER})
        status, text = c.post(_payload("transferred", a, changes={
            "new_issue": {"id": moved["id"], "number": moved["number"]},
            "new_repository": {"full_name": OTHER}}))
        _assert(status == 202, "transfer delivery: %d %s" % (status, text))
        want = "%s#%d" % (OTHER, moved["number"])
        ok = H.wait_for(lambda: c.one("SELECT remote_key || ' ' || target FROM external_link "
                                      "WHERE action_item_id=%d" % ids[0]) == want + " " + OTHER,
                        timeout=10)
        _assert(ok, "link follows the transfer to a served repository")
        c.sim.call("POST", "/_sim/issues/%s/%s/%d/delete" % (o, r, b["number"]), {})
        status, _ = c.post(_payload("deleted", b))
        _assert(status == 202, "delete delivery")
        ok = H.wait_for(lambda: c.one("SELECT state || ' ' || broken_reason FROM external_link "
                                      "WHERE action_item_id=%d" % ids[1]) == "broken gone", timeout=10)
        _assert(ok, "a deleted ticket breaks the link")
        _assert(c.one("SELECT state FROM action_item WHERE id=%d" % ids[1]) == "open",
                "the item is not closed for it")
        # the re-pointed link keeps syncing: a ledger edit reaches the moved issue
        H.psql(c.dsn, "UPDATE action_item SET title='Edited after the move' WHERE id=%d" % ids[0])
        ok = H.wait_for(lambda: [i for i in c.sim.issues(OTHER) if i["number"] == moved["number"]]
                        [0]["title"] == "Edited after the move", timeout=15)
        _assert(ok, "the moved issue takes pushes")
    finally:
        c.close()


def test_hook_delivery_to_a_standby_daemon_reaches_the_lock_holder(cl):
    """Two daemons on one ledger: the delivery may land on either; the one
    holding the connector's lock pulls (NOTIFY closeloop_hook)."""
    c = HookCtx(cl, "hook_two")
    try:
        c.daemon()
        # a second daemon: its own ports for webhooks and metrics
        second = c.config + ".2"
        p2, m2 = H.free_port(), H.free_port()
        text = open(c.config).read()
        text = text.replace('listen = "127.0.0.1:%d";\nwebhooks' % c.metrics_port,
                            'listen = "127.0.0.1:%d";\nwebhooks' % m2)
        text = text.replace('webhooks = { listen = "127.0.0.1:%d"; }' % c.hook_port,
                            'webhooks = { listen = "127.0.0.1:%d"; }' % p2)
        with open(second, "w") as f:
            f.write(text)
        d2 = H.Daemon(second, os.path.join(c.wd, "daemon-second.log"))
        c.daemons.append(d2)
        _assert(d2.wait_log("running", 60), "second daemon:\n" + d2.log()[-1500:])
        item = int(c.one("SELECT min(action_item_id) FROM external_link WHERE state='linked'"))
        issue = _issue_of(c, item)
        c.sim.edit(REPO, issue["number"], {"title": "Via the standby", "actor": "rf-gh"})
        first_port, c.hook_port = c.hook_port, p2
        status, _ = c.post(_payload("edited", issue))
        c.hook_port = first_port
        _assert(status == 202, "delivery to the second daemon")
        ok = H.wait_for(lambda: c.one("SELECT title FROM action_item WHERE id=%d" % item)
                        == "Via the standby", timeout=10)
        _assert(ok, "the change arrived whichever daemon got the delivery")
    finally:
        c.close()


def test_item_in_github_and_jira_converges_both_ways(cl):
    """An item routed to GitHub and linked by hand to Jira (closeloop link):
    a GitHub edit (delivered by webhook) reaches the Jira issue within
    seconds through the fan-out NOTIFY, and a Jira edit reaches GitHub."""
    import jira_tests as J
    c = HookCtx(cl, "multi")
    jsim = H.JiraSimulator(c.wd, ["--project", "OPS", "--user", J.ALICE])
    try:
        text = open(c.config).read()
        _assert(text.rstrip().endswith("} );"), "config ends with the connectors list")
        text = text.rstrip()[:-len("} );")] + (
            '}, { name = "jira-test"; type = "jira"; base_url = "%s"; '
            'token_env = "CLOSELOOP_JIRA_CREDENTIALS"; targets = [ "OPS" ]; '
            'max_attempts = 5; request_timeout = 10; write_spacing_ms = 5; } );\n' % jsim.url)
        with open(c.config, "w") as f:
            f.write(text)
        H.closeloop("sync", "--once", "-c", c.config)
        item = int(c.one("SELECT min(action_item_id) FROM external_link WHERE state='linked'"))
        title = c.one("SELECT title FROM action_item WHERE id=%d" % item)
        bad = H.closeloop("link", "-c", c.config, str(item), "jira-test", "NOPE", check=False)
        _assert(bad.returncode == 1 and "does not serve 'NOPE'" in bad.stderr, bad.stderr)
        # a project key in another case is the configured one (Jira keys are
        # case-insensitive); the link keeps the configured spelling
        out = H.closeloop("link", "-c", c.config, str(item), "jira-test", "ops").stdout
        _assert("gets a ticket in jira-test/OPS" in out, out)
        H.closeloop("sync", "--once", "-c", c.config)
        issues = jsim.issues("OPS")
        _assert(len(issues) == 1, "one Jira issue for the linked item: %r" % issues)
        _assert(issues[0]["fields"]["summary"] == title, "its summary: %r" % issues[0]["fields"])
        again = H.closeloop("link", "-c", c.config, str(item), "jira-test", "OPS", check=False)
        _assert(again.returncode == 1 and "already has a ticket" in again.stderr, again.stderr)
        # a GitHub edit, by webhook: the ledger and then Jira, within seconds
        d = c.daemon()
        gh = _issue_of(c, item)
        c.sim.edit(REPO, gh["number"], {"title": "Renamed on GitHub", "actor": "rf-gh"})
        t0 = time.time()
        status, _ = c.post(_payload("edited", gh))
        _assert(status == 202, "delivery")
        ok = H.wait_for(lambda: jsim.issues("OPS")[0]["fields"]["summary"] == "Renamed on GitHub",
                        timeout=15, step=0.1)
        _assert(ok, "the GitHub edit reached Jira without a poll:\n" + d.log()[-2500:])
        print("  fan-out: GitHub edit in the Jira issue %.2f s after the delivery" % (time.time() - t0))
        _assert(d.stop() == 0, "clean stop")
        # a Jira edit reaches GitHub (Jira's search lags: a few cycles)
        jsim.call("POST", "/_sim/edit", {"id": issues[0]["id"], "fields": {"summary": "From Jira"}})

        def github_title():
            H.closeloop("sync", "--once", "-c", c.config)
            return _issue_of(c, item)["title"] == "From Jira"
        _assert(H.wait_for(github_title, timeout=90, step=1), "the Jira edit reached GitHub")
        _assert(c.one("SELECT title FROM action_item WHERE id=%d" % item) == "From Jira", "ledger")
        _assert(c.one("SELECT count(*) FROM external_link WHERE action_item_id=%d AND kind='managed'"
                      % item) == "2", "two managed links")
    finally:
        jsim.stop()
        c.close()
