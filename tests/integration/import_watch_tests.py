"""Integration tests of the daemon's postmortem directory watcher
(daemon/import/impwatch.h; imported by run.py): a real daemon, a real
PostgreSQL and the GitHub simulator.

A postmortem dropped into a watched directory (or a new folder under it)
is in the ledger within seconds; an edit re-words an item in place; a
broken file is reported by name and the others keep being imported; a
directory that appears after the start is found by the rescan; a large
file imports on the worker thread while the daemon keeps answering."""

import os
import time
import urllib.error
import urllib.request

import harness as H

CONN = "github-test"
REPO = "acme/platform"


def _assert(cond, msg):
    if not cond:
        raise AssertionError(msg)


def _setup(cl, name, import_group, listen=None, team="sre"):
    wd = H.workdir(name + "-")
    dsn = cl.createdb(name)
    sim = H.Simulator(wd)
    directory = os.path.join(wd, "directory.conf")
    H.write_directory(directory, [("sre", "core", CONN, REPO)])
    config = os.path.join(wd, "closeloop.conf")
    extra = 'defaults = { team = "%s"; platform = "core"; };\n' % team + import_group
    if listen:
        extra += 'listen = "127.0.0.1:%d";\n' % listen
    H.write_config(config, dsn, sim.url, [REPO], directory=directory, connector=CONN,
                   poll=600, extra=extra)
    H.closeloop("migrate", "-c", config)
    H.closeloop("directory", "load", "-c", config)
    return wd, dsn, sim, config


def _write(path, text):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".tmp~"   # not a Markdown name: the watcher ignores it
    with open(tmp, "w") as f:
        f.write(text)
    os.rename(tmp, path)


def _titles(dsn, ref):
    rows = H.psql(dsn, "SELECT a.title FROM action_item a JOIN postmortem p ON p.id = "
                       "a.postmortem_id WHERE p.reference = '%s' AND "
                       "a.removed_from_document_at IS NULL ORDER BY a.title"
                       % ref.replace("'", "''"))
    return [r[0] for r in rows]


PM_A = """# Queue backlog after the broker upgrade

## Action items

- [ ] Add an alert on queue lag (@kim, 2026-12-01) #7
- [x] Pin the broker version in the base image
"""


def test_import_watch_drop_edit_and_broken_file(cl):
    wd, dsn, sim, config = _setup(cl, "import_watch", 'import = { watch = [ "pm" ]; '
                                   'debounce_ms = 200; rescan_interval = 3600; };\n')
    pm = os.path.join(wd, "pm")
    os.makedirs(pm)
    d = H.Daemon(config, os.path.join(wd, "daemon.log"))
    try:
        _assert(d.wait_log("import watch: 1 postmortem directory", 30), d.log()[-3000:])
        time.sleep(0.5)   # the first scan (an empty folder) is done
        # a new file: imported from its file-system event (no rescan for an hour)
        t0 = time.time()
        _write(os.path.join(pm, "2026-11-02-queue.md"), PM_A)
        got = H.wait_for(lambda: len(_titles(dsn, "2026-11-02-queue")) == 2, 15)
        _assert(got, "dropped postmortem imported:\n" + d.log()[-3000:])
        print("  dropped file in the ledger after %.1f s" % (time.time() - t0))
        # the bare #7 resolved against the team's repository (no repository in the file)
        key = H.scalar(dsn, "SELECT remote_key FROM external_link WHERE kind = 'reference'")
        _assert(key == REPO + "#7", "bare #7 -> %s#7, got %r" % (REPO, key))
        first_id = H.scalar(dsn, "SELECT id FROM action_item WHERE title LIKE 'Add an alert%'")
        # an edit re-words the item in place (same row) and adds one
        _write(os.path.join(pm, "2026-11-02-queue.md"),
               PM_A.replace("Add an alert on queue lag", "Add a paging alert on queue lag") +
               "- [ ] Document the broker upgrade runbook\n")
        got = H.wait_for(lambda: "Add a paging alert on queue lag" in
                         _titles(dsn, "2026-11-02-queue"), 15)
        _assert(got, "edit imported:\n" + d.log()[-3000:])
        _assert(len(_titles(dsn, "2026-11-02-queue")) == 3, _titles(dsn, "2026-11-02-queue"))
        same_id = H.scalar(dsn, "SELECT id FROM action_item WHERE title LIKE 'Add a paging%'")
        _assert(same_id == first_id, "the re-worded item kept its row")
        # a broken file is reported by name; the daemon and the others go on
        with open(os.path.join(pm, "broken.md"), "wb") as f:
            f.write(b"# Broken\n\x00\x01binary")
        _assert(d.wait_log("broken.md: a binary file", 15), d.log()[-3000:])
        # a new folder under the root gets its own events
        _write(os.path.join(pm, "2025", "db-failover.md"),
               "# DB failover\n\n## Follow-ups\n\n- Rehearse the failover quarterly\n")
        got = H.wait_for(lambda: _titles(dsn, "2025/db-failover") ==
                         ["Rehearse the failover quarterly"], 15)
        _assert(got, "file in a new sub-folder imported:\n" + d.log()[-3000:])
        _assert(d.proc.poll() is None, "the daemon is still running")
        _assert(d.log().count("broken.md: a binary file") == 1,
                "a broken file is reported once per version")
    finally:
        rc = d.stop()
        sim.stop()
    _assert(rc == 0, "clean stop, exit %s" % rc)


def test_import_watch_rescan_finds_a_late_directory(cl):
    """A watched directory missing at the start has no file-system events;
    the periodic rescan reports it and imports it once it exists."""
    wd, dsn, sim, config = _setup(cl, "import_rescan", 'import = { watch = [ "late" ]; '
                                  'debounce_ms = 100; rescan_interval = 5; };\n')
    d = H.Daemon(config, os.path.join(wd, "daemon.log"))
    try:
        _assert(d.wait_log("late: cannot read the directory", 30), d.log()[-3000:])
        _write(os.path.join(wd, "late", "PM2026-007 - Late.md"),
               "# PM2026-007: Late\n\n**Action items:**\n\n1. Raise the disk alert threshold\n")
        got = H.wait_for(lambda: _titles(dsn, "PM2026-007") ==
                         ["Raise the disk alert threshold"], 20)
        _assert(got, "imported by a rescan:\n" + d.log()[-3000:])
        _assert(d.wait_log("late: readable again", 5), d.log()[-3000:])
    finally:
        rc = d.stop()
        sim.stop()
    _assert(rc == 0, "clean stop, exit %s" % rc)


def test_import_watch_large_file_does_not_stall_the_loop(cl):
    """A postmortem of 2,000 table rows imports on the worker thread: the
    listener (on the loop) answers /healthz quickly the whole time."""
    port = H.free_port()
    wd, dsn, sim, config = _setup(cl, "import_large", 'import = { watch = [ "pm" ]; '
                                  'debounce_ms = 100; rescan_interval = 3600; };\n', listen=port,
                                  team="bulk")   # no tracker target: no 2,000 creates
    os.makedirs(os.path.join(wd, "pm"))
    d = H.Daemon(config, os.path.join(wd, "daemon.log"))
    try:
        _assert(d.wait_log("import watch: 1 postmortem directory", 30), d.log()[-3000:])
        url = "http://127.0.0.1:%d/healthz" % port
        H.wait_for(lambda: _get(url) is not None, 20)
        rows = "".join("| Fix thing %d | Prevent | rf |\n" % i for i in range(2000))
        _write(os.path.join(wd, "pm", "big.md"),
               "# Big\n\n## Action Items\n\n| Action Item | Type | Owner |\n|---|---|---|\n" + rows)
        slowest, probes, t0 = 0.0, 0, time.time()
        while time.time() - t0 < 120:
            t = time.time()
            _assert(_get(url) is not None, "healthz answered during the import")
            slowest = max(slowest, time.time() - t)
            probes += 1
            if "imported big" in d.log():
                break
            time.sleep(0.05)
        n = int(H.scalar(dsn, "SELECT count(*) FROM action_item"))
        _assert(n == 2000, "all rows imported, got %d" % n)
        print("  2,000 rows imported in %.1f s; %d /healthz probes meanwhile, slowest %.3f s"
              % (time.time() - t0, probes, slowest))
        _assert(probes >= 5, "the import took a while (%d probes)" % probes)
        _assert(slowest < 2.0, "the loop was not stalled (slowest /healthz %.3f s)" % slowest)
    finally:
        rc = d.stop()
        sim.stop()
    _assert(rc == 0, "clean stop, exit %s" % rc)


def _get(url):
    try:
        with urllib.request.urlopen(url, timeout=5) as r:
            return r.read().decode()
    except (urllib.error.URLError, OSError):
        return None
