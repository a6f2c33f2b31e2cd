"""The demo's last step (imported by examples/demo.py): the quarterly
closure report a platform lead reads, and the Grafana dashboard's queries.

The demo's own ledger has no history yet (everything was imported a minute
ago), so this step builds a second ledger from the same real postmortems
with a GENERATED history spanning several quarters (examples/demo-history.sql
says how), writes the report as HTML and Markdown under build/demo-report/
and runs every panel of examples/grafana against it as closeloop_reader.
"""

import datetime
import glob
import json
import os
import shutil
import subprocess

import harness as H

EX = os.path.join(H.ROOT, "examples")
OUT = os.path.join(H.ROOT, "build", "demo-report")


def _quarter_start(d):
    return datetime.datetime(d.year, 3 * ((d.month - 1) // 3) + 1, 1, tzinfo=datetime.timezone.utc)


def build_history(cluster, wd, write_config):
    """A ledger with the real postmortems, published (generated) over the
    five quarters before the current one; write_config(path, dsn) writes
    its configuration.  Returns (dsn, config path)."""
    dsn = cluster.createdb("closeloop_history")
    conf = os.path.join(wd, "history.conf")
    write_config(conf, dsn)
    H.closeloop("migrate", "-c", conf)
    H.closeloop("directory", "load", "-c", conf)
    now = datetime.datetime.now(datetime.timezone.utc)
    start = _quarter_start(now) - datetime.timedelta(days=456)   # about five quarters back
    span = (_quarter_start(now) - start).total_seconds()
    docs = [("etcd", "etcd-maintainers", os.path.join(EX, "postmortems", "etcd", "v3.5-data-inconsistency.md"))]
    docs += [("kubernetes", "dfds-platform", f)
             for f in sorted(glob.glob(os.path.join(EX, "postmortems", "dfds", "PM20*")))]
    for k, (platform, team, path) in enumerate(docs):
        at = start + datetime.timedelta(seconds=span * (k + 0.5) / len(docs))
        env = dict(H.env(), PGOPTIONS="-c closeloop.changed_at=%s" % at.isoformat())
        out = subprocess.run([H.BIN, "import", "-c", conf, "--platform", platform, "--team", team, path],
                             capture_output=True, text=True, env=env)
        if out.returncode != 0:
            raise RuntimeError("import %s: %s" % (path, out.stderr))
        H.psql(dsn, "UPDATE postmortem SET published_date = '%s' WHERE source_path = '%s'"
               % (at.date().isoformat(), path.replace("'", "''")))
    out = subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dsn, "-f",
                          os.path.join(EX, "demo-history.sql")], capture_output=True, text=True)
    if out.returncode != 0:
        raise RuntimeError("demo-history.sql: " + out.stderr)
    return dsn, conf


def write_report(conf, say):
    os.makedirs(OUT, exist_ok=True)
    html = os.path.join(OUT, "closure-report.html")
    md = os.path.join(OUT, "closure-report.md")
    H.closeloop("report", "-c", conf, "--format", "html", "-o", html)
    H.closeloop("report", "-c", conf, "-o", md)
    text = open(md).read()
    say("   " + text.split("\n", 1)[0])
    # the all-platforms table, as a lead sees it
    block = text.split("## All platforms\n\n", 1)[1].split("\n\n", 1)[0]
    for line in block.splitlines():
        say("   " + line)
    say("   open the report:  file://%s" % html)
    say("   Markdown:         %s" % md)
    shot = screenshot(html)
    if shot:
        say("   screenshot:       %s" % shot)


def screenshot(html):
    """build/report.png: the HTML report as Debian's headless chromium
    renders it, kept as a build artefact (None when chromium is missing)."""
    chromium = shutil.which("chromium")
    if not chromium:
        return None
    shot = os.path.join(H.ROOT, "build", "report.png")
    subprocess.run([chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    "--window-size=1000,2600", "--screenshot=" + shot, "file://" + html],
                   capture_output=True, text=True, timeout=120)
    return shot if os.path.exists(shot) and os.path.getsize(shot) > 10000 else None


def grafana_panels(dsn, say):
    dash = json.load(open(os.path.join(EX, "grafana", "closeloop-dashboard.json")))
    platforms = [r[0] for r in H.psql(dsn, "SET ROLE closeloop_reader; " + dash["templating"]["list"][0]["query"])]
    now = datetime.datetime.now(datetime.timezone.utc)
    t_from = (now - datetime.timedelta(days=730)).strftime("%Y-%m-%dT%H:%M:%SZ")
    t_to = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    for panel in dash["panels"]:
        sql = H.grafana_expand(panel["targets"][0]["rawSql"], platforms, t_from, t_to)
        out = subprocess.run(["psql", "-X", "-q", "--csv", "-v", "ON_ERROR_STOP=1", "-d", dsn,
                              "-c", "SET ROLE closeloop_reader", "-c", sql], capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError("panel %r: %s" % (panel["title"], out.stderr))
        lines = out.stdout.splitlines()
        say("   %s (%d row(s)):" % (panel["title"], len(lines) - 1))
        for line in lines[:3]:
            say("     " + line[:110])
