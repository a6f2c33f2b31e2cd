"""Integration tests of the reconcile engine's cost and recovery (imported
by run.py): the real daemon, a real PostgreSQL and the GitHub simulator.

Each test uses run.py's per-test fixture (Ctx); run.py is imported inside
the tests, once it is fully loaded, since run.py imports this file."""

import os
import re

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
