"""Integration tests of delivery (daemon/deliver/, imported by run.py):
`closeloop deliver` against a real local SMTP server (aiosmtpd, with
STARTTLS and AUTH) and a local HTTP sink (tests/sim/sinks.py), and into a
directory.  Each test checks what arrived, byte for byte where it can,
and that the secret never reaches the output."""

import email
import email.policy
import glob
import json
import os
import re
import signal
import stat
import subprocess
import time

import harness as H

SINKS = os.path.join(H.ROOT, "tests", "sim", "sinks.py")
DEBIAN_PY = "/usr/bin/python3"  # python3-aiosmtpd is a Debian package
SECRET = "s3cr3t-hook-value-0123456789"
PASSWORD = "mail-pass-9876543210"


def _assert(cond, msg):
    if not cond:
        raise AssertionError(msg)


class Sink:
    """tests/sim/sinks.py KIND in the background; .port, .received()."""

    def __init__(self, wd, kind, *args):
        n = len(glob.glob(os.path.join(wd, kind + "-*.port")))
        self.out = os.path.join(wd, "%s-%d-in" % (kind, n))
        pf = os.path.join(wd, "%s-%d.port" % (kind, n))
        self.log = open(os.path.join(wd, "%s-%d-sink.log" % (kind, n)), "a")
        self.proc = subprocess.Popen([DEBIAN_PY, SINKS, kind, "--port-file", pf, "--out", self.out]
                                     + list(args), stdout=self.log, stderr=self.log)
        ok = H.wait_for(lambda: os.path.exists(pf) and open(pf).read().strip(), timeout=20)
        _assert(ok, "%s sink did not start, see %s" % (kind, self.log.name))
        self.port = int(open(pf).read())

    def received(self):
        return [json.load(open(p)) for p in sorted(glob.glob(os.path.join(self.out, "*.json")))]

    def kept(self):
        """The documents the sink kept: one per Idempotency-Key."""
        d = os.path.join(self.out, "kept")
        return [json.load(open(os.path.join(d, f))) for f in sorted(os.listdir(d))] if os.path.isdir(d) else []

    def eml(self, i):
        return open(os.path.join(self.out, "%03d.eml" % i), "rb").read()

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        self.log.close()


def _config(wd, destinations):
    path = os.path.join(wd, "closeloop.conf")
    with open(path, "w") as f:
        f.write('database = { dsn = "dbname=unused"; };\n')
        f.write("destinations = (\n%s\n);\n" % ",\n".join(destinations))
    return path


def _deliver(cfg, *args, env_extra=None):
    e = H.env()
    e.update(env_extra or {})
    out = subprocess.run([H.BIN, "deliver", "-v", "-c", cfg] + list(args), capture_output=True,
                         text=True, env=e, timeout=120)
    H.san_scan(out.stdout + out.stderr, "closeloop deliver " + " ".join(args))
    return out


def _files(wd):
    """A Markdown and an HTML document to send, with non-ASCII text."""
    md = os.path.join(wd, "2026Q3-payments.md")
    html = os.path.join(wd, "2026Q3-payments.html")
    with open(md, "w") as f:
        f.write("# Report 2026Q3 — payments\n\nclosure rate 60 %\n" + "x" * 300 + "\n")
    with open(html, "w") as f:
        f.write("<!doctype html><title>r</title><p>Schließquote 60 %</p>\n")
    return md, html


def test_deliver_to_a_directory_is_atomic_and_0640(cl):
    wd = H.workdir("deliver-dir-")
    out = os.path.join(wd, "reports")
    os.makedirs(out)
    md, html = _files(wd)
    cfg = _config(wd, ['{ name = "archive"; type = "directory"; path = "reports"; }'])
    r = _deliver(cfg, "--to", "archive", md, html)
    _assert(r.returncode == 0, "deliver exit %d: %s" % (r.returncode, r.stderr))
    _assert(sorted(os.listdir(out)) == ["2026Q3-payments.html", "2026Q3-payments.md"],
            "files written, no temporary left: %r" % os.listdir(out))
    for name, src in (("2026Q3-payments.md", md), ("2026Q3-payments.html", html)):
        p = os.path.join(out, name)
        _assert(open(p, "rb").read() == open(src, "rb").read(), "%s byte for byte" % name)
        _assert(stat.S_IMODE(os.stat(p).st_mode) == 0o640, "%s mode %o" % (name, os.stat(p).st_mode))
    # a folder that cannot be written: failed, said where, nothing left over
    os.chmod(out, 0o500)
    try:
        if os.geteuid() != 0:  # root writes anyway
            r = _deliver(cfg, "--to", "archive", md)
            _assert(r.returncode == 1 and "reports" in r.stdout + r.stderr, "unwritable: %s" % r.stdout)
    finally:
        os.chmod(out, 0o700)
    # an unknown destination names what exists
    r = _deliver(cfg, "--to", "archiv", md)
    _assert(r.returncode == 1 and "no such destination" in r.stderr, r.stderr)


def test_deliver_webhook_retries_with_backoff_and_keeps_the_secret(cl):
    wd = H.workdir("deliver-hook-")
    sink = Sink(wd, "http", "--fail-first", "2", "--fail-status", "503")
    try:
        md, html = _files(wd)
        cfg = _config(wd, ['{ name = "chat"; type = "webhook"; url = "http://127.0.0.1:%d/hooks/x"; '
                           'secret_env = "HOOK_SECRET"; secret_header = "X-Hook-Token"; '
                           'max_attempts = 4; platforms = [ "payments" ]; }' % sink.port])
        t0 = time.time()
        r = _deliver(cfg, "--to", "chat", "--platform", "payments", "--subject", "Q3 report", md,
                     env_extra={"HOOK_SECRET": SECRET})
        took = time.time() - t0
        _assert(r.returncode == 0, "deliver exit %d: %s %s" % (r.returncode, r.stdout, r.stderr))
        got = sink.received()
        _assert(len(got) == 3, "two 503 answers, then 200: %d requests" % len(got))
        _assert(took >= 2.5, "back-off 1 s then 2 s between tries: took %.1f s" % took)
        _assert(all(g["headers"].get("X-Hook-Token") == SECRET for g in got), "secret header sent")
        keys = {g["headers"].get("Idempotency-Key") for g in got}
        _assert(len(keys) == 1 and None not in keys, "one Idempotency-Key for every try: %r" % keys)
        doc = json.loads(got[-1]["body"])
        _assert(doc["subject"] == "Q3 report" and doc["platform"] == "payments", doc)
        _assert(doc["attachments"][0]["filename"] == "2026Q3-payments.md", doc)
        _assert(doc["attachments"][0]["content"] == open(md).read(), "attachment content")
        _assert(SECRET not in r.stdout + r.stderr, "the secret is never logged")
        _assert("attempt 1 of 4 failed" in r.stderr, "retries are logged: %s" % r.stderr)
    finally:
        sink.stop()
    # a refusal (4xx) is final: one try, exit 1
    sink = Sink(wd, "http", "--fail-first", "9", "--fail-status", "403")
    try:
        cfg = _config(wd, ['{ name = "chat"; type = "webhook"; url = "http://127.0.0.1:%d/h"; }'
                           % sink.port])
        r = _deliver(cfg, "--to", "chat")
        _assert(r.returncode == 1 and len(sink.received()) == 1, "403: one try, failed")
        _assert("failed after 1 attempt" in r.stdout, r.stdout)
    finally:
        sink.stop()


def _cert(wd):
    key, crt = os.path.join(wd, "sink.key"), os.path.join(wd, "sink.crt")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", key, "-out", crt], check=True, capture_output=True)
    return crt, key


def test_deliver_smtp_starttls_auth_mime(cl):
    wd = H.workdir("deliver-smtp-")
    crt, key = _cert(wd)
    sink = Sink(wd, "smtp", "--cert", crt, "--key", key, "--user", "closeloop",
                "--password", PASSWORD, "--refuse-rcpt", "nobody@example.com")
    try:
        md, html = _files(wd)
        pwfile = os.path.join(wd, "smtp-password")
        with open(pwfile, "w") as f:
            f.write(PASSWORD + "\n")
        os.chmod(pwfile, 0o400)
        base = ('url = "smtp://127.0.0.1:%d"; ca_file = "%s"; from = "closeloop@example.org"; '
                'username = "closeloop"; secret_file = "smtp-password";' % (sink.port, crt))
        cfg = _config(wd, ['{ name = "mail"; type = "smtp"; %s to = [ "lead@example.com", '
                           '"sre@example.com" ]; }' % base,
                           '{ name = "bad"; type = "smtp"; %s to = [ "nobody@example.com" ]; '
                           'max_attempts = 3; }' % base])
        r = _deliver(cfg, "--to", "mail", "--subject", "Rapport Q3 — paiements", md, html)
        _assert(r.returncode == 0, "deliver exit %d: %s %s" % (r.returncode, r.stdout, r.stderr))
        got = sink.received()
        _assert(len(got) == 1, "one mail: %r" % got)
        _assert(got[0]["tls"] and got[0]["login"] == "closeloop", "STARTTLS and AUTH: %r" % got[0])
        _assert(got[0]["mail_from"] == "closeloop@example.org", got[0])
        _assert(sorted(got[0]["rcpt_tos"]) == ["lead@example.com", "sre@example.com"], got[0])
        msg = email.message_from_bytes(sink.eml(0), policy=email.policy.default)
        _assert(msg["Subject"] == "Rapport Q3 — paiements", "RFC 2047 subject: %r" % msg["Subject"])
        _assert(msg["Date"] is not None and msg["Date"].datetime is not None, "Date header")
        _assert(msg["Message-ID"].endswith("@example.org>"), msg["Message-ID"])
        _assert(msg.get_content_type() == "multipart/mixed", msg.get_content_type())
        parts = list(msg.iter_parts())
        _assert(parts[0].get_content_type() == "text/plain", "text first")
        atts = {p.get_filename(): p.get_payload(decode=True) for p in parts[1:]}
        _assert(atts == {"2026Q3-payments.md": open(md, "rb").read(),
                         "2026Q3-payments.html": open(html, "rb").read()}, "attachments: %r" % list(atts))
        _assert(all(len(line) <= 78 for line in sink.eml(0).split(b"\r\n")), "lines <= 78")
        _assert(PASSWORD not in r.stdout + r.stderr, "the password is never logged")
        # a recipient the server refuses (550): failed at once, nothing sent
        r = _deliver(cfg, "--to", "bad")
        _assert(r.returncode == 1 and "failed after 1 attempt" in r.stdout, r.stdout + r.stderr)
        _assert(len(sink.received()) == 1, "nothing more arrived")
    finally:
        sink.stop()
    # STARTTLS is required on smtp://: a server without it is refused
    plain = Sink(wd, "smtp")
    try:
        cfg = _config(wd, ['{ name = "m"; type = "smtp"; url = "smtp://127.0.0.1:%d"; '
                           'from = "c@example.org"; to = [ "a@example.com" ]; }' % plain.port])
        r = _deliver(cfg, "--to", "m")
        _assert(r.returncode == 1 and not plain.received(), "no STARTTLS: refused, nothing sent")
    finally:
        plain.stop()


# ------------------------------------------------ the quarterly report, delivered

CONN = "github-test"
REPO = "dfds/platform-backlog"


def _quarterly_setup(cl, name, sink_port):
    """Ledger with two platforms (kubernetes, etcd) and one postmortem;
    destinations: a directory for every platform, a webhook for kubernetes
    only; the report checked every 10 s; debug log."""
    wd = H.workdir(name + "-")
    dsn = cl.createdb(name)
    sim = H.Simulator(wd)
    directory = os.path.join(wd, "directory.conf")
    H.write_directory(directory, [("dfds-platform", "kubernetes", CONN, REPO),
                                  ("etcd-maintainers", "etcd", CONN, "etcd-io/etcd")],
                      people=[("rf", "R. F.", "rf-gh")])
    config = os.path.join(wd, "closeloop.conf")
    extra = ('quarterly_report = { enabled = true; check_interval = 10; };\n'
             'destinations = (\n'
             ' { name = "archive"; type = "directory"; path = "reports"; },\n'
             ' { name = "k8s-chat"; type = "webhook"; url = "http://127.0.0.1:%d/hook"; '
                            'platforms = [ "kubernetes" ]; secret_file = "hook-secret"; }\n);\n' % sink_port)
    H.write_config(config, dsn, sim.url, [REPO, "etcd-io/etcd"], directory=directory,
                   connector=CONN, poll=600, extra=extra)
    text = open(config).read().replace('log_level = "info";', 'log_level = "debug";')
    with open(config, "w") as f:
        f.write(text)
    os.makedirs(os.path.join(wd, "reports"))
    with open(os.path.join(wd, "hook-secret"), "w") as f:
        f.write(SECRET + "\n")
    os.chmod(os.path.join(wd, "hook-secret"), 0o400)
    H.closeloop("migrate", "-c", config)
    H.closeloop("directory", "load", "-c", config)
    H.psql(dsn, "INSERT INTO postmortem (reference, title, platform_id, published_date) "
                "SELECT 'PM-Q1', 'Ingress outage', id, DATE '2026-08-10' FROM platform "
                "WHERE name = 'kubernetes'")
    H.psql(dsn, "INSERT INTO action_item (postmortem_id, title, priority, owner, team_id, due_date) "
                "SELECT 1, 'Alert on ingress 5xx', 'P1', 'rf', id, DATE '2026-09-01' FROM team "
                "WHERE name = 'dfds-platform'")
    return wd, dsn, sim, config


def _daemon(wd, config, name, now):
    return H.Daemon(config, os.path.join(wd, name + ".log"),
                    {"CLOSELOOP_TEST_NOW": now})


def test_quarterly_report_delivered_once_across_restart_and_two_daemons(cl):
    """The first day of 2026Q4 (a fake clock): two daemons on one ledger
    deliver 2026Q3's report once per platform and destination; a restart
    sends nothing more; a daemon started on 2027-01-02 (down on the first
    day) catches up with 2026Q4, once."""
    wd0 = H.workdir("quarterly-sink-")
    sink = Sink(wd0, "http")
    daemons = []
    wd, dsn, sim, config = _quarterly_setup(cl, "quarterly_once", sink.port)
    rows = lambda: H.psql(dsn, "SELECT quarter, platform, destination, state, attempts "  # noqa: E731
                               "FROM v_report_delivery ORDER BY quarter, platform, destination")
    try:
        now = "2026-10-01T00:05:00Z"
        for i in range(2):
            daemons.append(_daemon(wd, config, "daemon-%d" % i, now))
        done = lambda: H.scalar(dsn, "SELECT count(*) FROM report_delivery WHERE state = 'sent'") == "3"  # noqa: E731
        _assert(H.wait_for(done, timeout=90), "three deliveries sent: %r\n%s" % (rows(), daemons[0].log()[-2000:]))
        # both daemons have run (the first run is 1 s after the start)
        for d in daemons:
            _assert(H.wait_for(lambda: d.log().count("quarterly report: run finished") >= 1, timeout=60),
                    "a run:\n" + d.log()[-1500:])
        for d in daemons:
            _assert(d.stop() == 0, "clean stop")
        daemons.clear()
        _assert(rows() == [["2026Q3", "etcd", "archive", "sent", "1"],
                           ["2026Q3", "kubernetes", "archive", "sent", "1"],
                           ["2026Q3", "kubernetes", "k8s-chat", "sent", "1"]], "rows: %r" % rows())
        got = sink.received()
        _assert(len(got) == 1, "one webhook POST, got %d" % len(got))
        doc = json.loads(got[0]["body"])
        _assert(doc["kind"] == "quarterly-report" and doc["platform"] == "kubernetes", doc)
        _assert(doc["text"].startswith("# Action item closure report — 2026Q3"), doc["text"][:80])
        _assert(got[0]["headers"].get("X-Closeloop-Secret") == SECRET, "secret header")
        files = sorted(os.listdir(os.path.join(wd, "reports")))
        _assert(files == ["closure-report-2026Q3-etcd.html", "closure-report-2026Q3-etcd.md",
                          "closure-report-2026Q3-kubernetes.html", "closure-report-2026Q3-kubernetes.md"],
                "report files: %r" % files)
        # the delivered Markdown is what `closeloop report` prints
        md = open(os.path.join(wd, "reports", "closure-report-2026Q3-kubernetes.md")).read()
        cli = H.closeloop("report", "-c", config, "--quarter", "2026Q3", "--platform", "kubernetes").stdout
        strip = lambda t: re.sub(r"generated \d{4}-\d\d-\d\d \d\d:\d\d UTC", "", t)  # noqa: E731
        _assert(strip(md) == strip(cli), "delivered report = closeloop report")

        # restart on the same day: a run, nothing sent again
        d = _daemon(wd, config, "daemon-restart", now)
        daemons.append(d)
        _assert(H.wait_for(lambda: d.log().count("quarterly report: run finished") >= 1, timeout=60),
                "a run after the restart:\n" + d.log()[-1500:])
        _assert(d.stop() == 0, "clean stop")
        daemons.clear()
        _assert(len(sink.received()) == 1, "still one POST after the restart")
        _assert(H.scalar(dsn, "SELECT sum(attempts) FROM report_delivery") == "3", "no new attempt")

        # down on 2027-01-01, started on the 2nd: catches up with 2026Q4, once
        d = _daemon(wd, config, "daemon-catch-up", "2027-01-02T09:00:00Z")
        daemons.append(d)
        done = lambda: H.scalar(dsn, "SELECT count(*) FROM report_delivery WHERE quarter = '2026Q4' "  # noqa: E731
                                     "AND state = 'sent'") == "3"
        _assert(H.wait_for(done, timeout=90), "2026Q4 delivered: %r\n%s" % (rows(), d.log()[-2000:]))
        _assert(H.wait_for(lambda: d.log().count("quarterly report: run finished") >= 1, timeout=60), "runs")
        _assert(d.stop() == 0, "clean stop")
        got = sink.received()
        _assert(len(got) == 2, "one more POST for 2026Q4, got %d" % len(got))
        _assert(got[0]["headers"]["Idempotency-Key"] != got[1]["headers"]["Idempotency-Key"], "two messages")
        _assert(SECRET not in "".join(open(os.path.join(wd, f)).read() for f in os.listdir(wd)
                                      if f.endswith(".log")), "the secret is in no log")
    finally:
        for d in daemons:
            d.stop()
        sim.stop()
        sink.stop()


def test_quarterly_report_resent_with_the_same_key_after_a_kill(cl):
    """The daemon is killed (-9) after its webhook POST went out and before
    it could record the answer: the row stays 'sending', its claim's lock
    goes with the killed daemon's connection, and the next daemon sends it
    again at once with the same Idempotency-Key.  The sink (which
    de-duplicates by that key) sees the key twice and keeps one report;
    the ledger records 'sent' (sql/022_report_delivery_resend.sql)."""
    wd0 = H.workdir("quarterly-kill-sink-")
    pidfile = os.path.join(wd0, "daemon.pid")
    sink = Sink(wd0, "http", "--kill-first", pidfile)
    daemons = []
    wd, dsn, sim, config = _quarterly_setup(cl, "quarterly_kill", sink.port)
    rows = lambda: H.psql(dsn, "SELECT platform, destination, state, attempts "  # noqa: E731
                               "FROM v_report_delivery ORDER BY platform, destination")
    try:
        now = "2026-10-01T00:05:00Z"
        d = _daemon(wd, config, "daemon-killed", now)
        daemons.append(d)
        with open(pidfile, "w") as f:
            f.write(str(d.proc.pid))
        _assert(H.wait_for(lambda: d.proc.poll() is not None, timeout=90),
                "the sink killed the daemon at its POST:\n" + d.log()[-1500:])
        _assert(d.proc.returncode == -signal.SIGKILL, "killed by SIGKILL: %r" % d.proc.returncode)
        hook = H.psql(dsn, "SELECT state, attempts FROM report_delivery WHERE destination = 'k8s-chat'")
        _assert(hook == [["sending", "1"]], "the webhook row is left 'sending': %r" % hook)
        _assert(len(sink.received()) == 1, "one POST before the kill")
        daemons.clear()
        d.stop()

        d = _daemon(wd, config, "daemon-after", now)
        daemons.append(d)
        done = lambda: H.scalar(dsn, "SELECT count(*) FROM report_delivery WHERE state = 'sent'") == "3"  # noqa: E731
        _assert(H.wait_for(done, timeout=90), "three deliveries sent: %r\n%s" % (rows(), d.log()[-2000:]))
        _assert(H.wait_for(lambda: d.log().count("quarterly report: run finished") >= 1, timeout=60),
                "a run:\n" + d.log()[-1500:])
        _assert(d.stop() == 0, "clean stop")
        daemons.clear()
        r = rows()
        _assert(r[-1] == ["kubernetes", "k8s-chat", "sent", "2"], "sent on the second attempt: %r" % r)
        got = sink.received()
        keys = [g["headers"].get("Idempotency-Key") for g in got]
        _assert(len(got) == 2 and keys[0] and keys[0] == keys[1],
                "the same Idempotency-Key twice, no more: %r" % keys)
        _assert([g["repeat"] for g in got] == [False, True], "the second is a repeat")
        strip = lambda t: re.sub(r"generated \d{4}-\d\d-\d\d \d\d:\d\d UTC", "", t)  # noqa: E731
        _assert(strip(got[0]["body"]) == strip(got[1]["body"]), "the same report both times")
        kept = sink.kept()
        _assert(len(kept) == 1 and json.loads(kept[0]["body"])["platform"] == "kubernetes",
                "the sink keeps one report: %d" % len(kept))
        _assert("quarterly report 2026Q3 of platform 'kubernetes' to 'k8s-chat': sent" in d.log(),
                "the resend is logged as sent")
    finally:
        for x in daemons:
            x.stop()
        sim.stop()
        sink.stop()


# ------------------------------------------------ stored figures, stored again

def test_quarterly_store_restored_after_a_late_change(cl):
    """A late change (written with SQL, dated in 2026Q3, an ended quarter)
    drops 2026Q3's stored figures; the daemon, told by the trigger's NOTIFY
    (sql/043_report_store_notify.sql), stores them again after
    quarterly_report.store_debounce_ms (2 s here), not at its next check
    (an hour here), and with the change in them.  That store run delivers
    nothing: a 'pending' delivery row stays pending and no check runs
    again.  Failed before: the figures came back only at the next check."""
    wd0 = H.workdir("quarterly-store-sink-")
    sink = Sink(wd0, "http")
    daemons = []
    wd, dsn, sim, config = _quarterly_setup(cl, "quarterly_store", sink.port)
    text = open(config).read().replace("check_interval = 10;",
                                       "check_interval = 3600; store_debounce_ms = 2000;")
    with open(config, "w") as f:
        f.write(text)
    key = ("SELECT count(*) FROM report_store_key WHERE kind = 'figures' AND quarter = '%s' "
           "AND f_platform = '' AND f_team = '' AND NOT snapshot")
    closed = ("SELECT closed_done FROM report_figures_store s JOIN report_store_key k ON k.id = s.key_id "
              "WHERE k.kind = 'figures' AND k.quarter = '2026Q3' AND NOT k.snapshot AND s.level = 'all'")
    try:
        # history in two ended quarters: an item opened on 2026-05-04 (2026Q2)
        H.psql(dsn, "SELECT set_config('closeloop.changed_at', '2026-05-04 09:00+00', true); "
                    "INSERT INTO action_item (postmortem_id, title, priority, team_id) "
                    "SELECT 1, 'Backfilled runbook', 'P2', id FROM team WHERE name = 'dfds-platform'")
        d = _daemon(wd, config, "daemon", time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()))
        daemons.append(d)
        _assert(H.wait_for(lambda: d.log().count("quarterly report: run finished") >= 1, timeout=90),
                "the check at start:\n" + d.log()[-2000:])
        _assert(H.scalar(dsn, key % "2026Q2") == "1" and H.scalar(dsn, key % "2026Q3") == "1",
                "the check stored the ended quarters: %r" % H.psql(dsn, "SELECT kind, quarter, snapshot "
                                                                  "FROM report_store_key"))
        _assert(H.scalar(dsn, closed) == "0", "nothing closed in 2026Q3 yet")
        attempts = H.scalar(dsn, "SELECT sum(attempts) FROM report_delivery")
        # a delivery a check would claim and send (2026Q2 to the archive)
        H.psql(dsn, "INSERT INTO report_delivery (quarter, platform_id, destination, dest_type, armed_by) "
                    "SELECT '2026Q2', id, 'archive', 'directory', 'test' FROM platform WHERE name = 'etcd'")

        # closed on 2026-08-20, learned today
        H.psql(dsn, "SELECT set_config('closeloop.changed_at', '2026-08-20 12:00+00', true); "
                    "UPDATE action_item SET state = 'done' WHERE title = 'Backfilled runbook'")
        t0 = time.time()
        _assert(H.scalar(dsn, key % "2026Q3") == "0", "the late change dropped 2026Q3")
        _assert(H.scalar(dsn, key % "2026Q2") == "1", "2026Q2 ended before the change: kept")
        _assert(H.scalar(dsn, "SELECT count(*) FROM report_store_key WHERE snapshot") == "1",
                "the current quarter's snapshot is kept")
        _assert(H.wait_for(lambda: H.scalar(dsn, key % "2026Q3") == "1", timeout=30, step=0.2),
                "2026Q3 stored again within the debounce and a margin:\n" + d.log()[-2000:])
        took = time.time() - t0
        _assert(took >= 1.0, "after the 2 s debounce, not at once: %.1f s" % took)
        _assert(H.scalar(dsn, closed) == "1", "the stored figures hold the late change")
        _assert(H.wait_for(lambda: "after stored figures were dropped" in d.log(), timeout=10),
                "the store run is logged:\n" + d.log()[-2000:])
        _assert(d.log().count("quarterly report: run finished") == 1, "no second check ran")
        _assert(H.psql(dsn, "SELECT state, attempts FROM report_delivery WHERE quarter = '2026Q2'")
                == [["pending", "0"]], "the store run delivered nothing")
        _assert(H.scalar(dsn, "SELECT sum(attempts) FROM report_delivery") == attempts,
                "no delivery attempted again")
        _assert(not any("2026Q2" in f for f in os.listdir(os.path.join(wd, "reports"))),
                "no 2026Q2 report written")
        _assert(d.stop() == 0, "clean stop")
        daemons.clear()
    finally:
        for x in daemons:
            x.stop()
        sim.stop()
        sink.stop()
