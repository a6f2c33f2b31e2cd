#!/usr/bin/env python3
"""test_model.py — unit tests of the model-based test's model
(tests/mbt/model.py), pure and quick: run by `make mbt` before the
scenarios.  Each case is a finding the model got wrong once."""

import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import model as M  # noqa: E402

VALUES = {"title": "T", "description": "D", "state": "open", "priority": "P2",
          "type": "process", "owner": "pw", "due_date": None}


def multi_item():
    """An item with tickets in GitHub and Jira, all sides agreed on VALUES."""
    it = M.MultiItem(58, VALUES, [("github", "o/r", M.FIELDS), ("jira", "MB", M.FIELDS)])
    problems = []
    M.observe_multi(it, dict(VALUES), [dict(VALUES), dict(VALUES)], problems, False)
    assert not problems, problems
    return it


class MultiConflicts(unittest.TestCase):
    def settle(self, it, value, field="type"):
        """All sides reach value after the round's cycle."""
        led = dict(VALUES, **{field: value})
        problems = []
        M.observe_multi(it, led, [dict(led), dict(led)], problems, False)
        self.assertEqual(problems, [])

    def test_ticket_edited_back_to_the_agreed_value_is_no_conflict(self):
        # seed 3198 of the multi soak: the GitHub ticket's type went
        # process -> prevent -> process in one round while the ledger's
        # went to prevent; the daemon sees the ticket unchanged and pushes
        # the ledger's value, without a conflict
        it = multi_item()
        it.edit_remote(0, "type", "prevent", 1)
        it.edit_remote(0, "type", "process", 1)
        it.edit_ledger("type", "prevent", 1)
        self.settle(it, "prevent")
        self.assertEqual(it.conflicts, [])

    def test_ledger_edited_back_to_the_agreed_value_is_no_conflict(self):
        it = multi_item()
        it.edit_ledger("owner", "rf", 1)
        it.edit_ledger("owner", "pw", 1)
        it.edit_remote(1, "owner", None, 1)
        self.settle(it, None, "owner")
        self.assertEqual(it.conflicts, [])

    def test_both_sides_edited_in_one_round_is_a_conflict(self):
        it = multi_item()
        it.edit_remote(0, "type", "detect", 1)
        it.edit_ledger("type", "prevent", 1)
        self.settle(it, "prevent")
        self.assertEqual(it.conflicts, [("type", "prevent", ["detect"], False)])

    def test_a_ticket_edited_to_the_ledgers_value_is_no_conflict_with_it(self):
        # Jira to the ledger's new value, GitHub back and forth: nothing
        # differs from the ledger's value but the agreed one
        it = multi_item()
        it.edit_ledger("type", "prevent", 1)
        it.edit_remote(1, "type", "prevent", 1)
        it.edit_remote(0, "type", "detect", 1)
        it.edit_remote(0, "type", "process", 1)
        self.settle(it, "prevent")
        self.assertEqual(it.conflicts, [])


if __name__ == "__main__":
    unittest.main()
