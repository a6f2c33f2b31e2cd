#!/usr/bin/env python3
"""Tests for tests/sim/servicenow_sim.py: starts it on port 0 and talks
HTTP/1.1 to it.  Run: python3 tests/sim/test_servicenow_sim.py
"""

import base64
import http.client
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
SIM = os.path.join(HERE, "servicenow_sim.py")
AUTH = "Basic " + base64.b64encode(b"closeloop:s3cret").decode()
GROUP = "8a4dde73c6112278017a6a4baf547aa7"


class SimTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="snsim-")
        pf = os.path.join(cls.tmp, "port")
        cls.proc = subprocess.Popen([sys.executable, SIM, "--port", "0", "--port-file", pf,
                                     "--user", "closeloop", "--password", "s3cret"],
                                    stdout=subprocess.DEVNULL)
        for _ in range(200):
            if os.path.exists(pf):
                break
            time.sleep(0.05)
        with open(pf) as f:
            cls.port = int(f.read())

    @classmethod
    def tearDownClass(cls):
        cls.proc.terminate()
        cls.proc.wait(10)

    def call(self, method, path, body=None, auth=AUTH):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        h = {"Content-Type": "application/json", "Accept": "application/json"}
        if auth:
            h["Authorization"] = auth
        c.request(method, path, json.dumps(body) if body is not None else None, h)
        r = c.getresponse()
        data = r.read()
        c.close()
        return r.status, dict(r.getheaders()), json.loads(data) if data else None

    def setUp(self):
        self.call("POST", "/_sim/reset", {})

    def make(self, title):
        st, _, b = self.call("POST", "/api/now/table/problem",
                             {"short_description": title, "assignment_group": GROUP,
                              "correlation_id": "tok-" + title, "impact": 2, "bogus": "x"})
        self.assertEqual(st, 201)
        return b["result"]

    def test_create_strings_and_mod_count(self):
        r = self.make("a")
        self.assertEqual(r["impact"], "2")
        self.assertEqual(r["sys_mod_count"], "0")
        self.assertEqual(len(r["sys_id"]), 32)
        self.assertNotIn("bogus", r)
        st, _, b = self.call("PATCH", "/api/now/table/problem/" + r["sys_id"], {"urgency": "1"})
        self.assertEqual(st, 200)
        self.assertEqual(b["result"]["sys_mod_count"], "1")
        self.assertEqual(b["result"]["priority"], "2")

    def test_auth_and_error_shape(self):
        st, _, b = self.call("GET", "/api/now/table/problem", auth=None)
        self.assertEqual(st, 401)
        self.assertEqual(b["status"], "failure")
        self.assertIn("message", b["error"])
        st, _, b = self.call("GET", "/api/now/table/problem/" + "0" * 32)
        self.assertEqual(st, 404)

    def test_query_ignores_unknown_terms_and_pages(self):
        for t in ("a", "b", "c"):
            self.make(t)
        q = urllib.parse.quote("no_such_field=1^correlation_id=tok-b^ORDERBYsys_updated_on")
        st, h, b = self.call("GET", "/api/now/table/problem?sysparm_query=" + q)
        self.assertEqual([r["short_description"] for r in b["result"]], ["b"])
        q = urllib.parse.quote("assignment_group=%s^ORDERBYsys_updated_on" % GROUP)
        st, h, b = self.call("GET", "/api/now/table/problem?sysparm_limit=2&sysparm_query=" + q)
        self.assertEqual(h["X-Total-Count"], "3")
        self.assertIn('rel="next"', h["Link"])
        self.assertEqual(len(b["result"]), 2)
        self.call("POST", "/_sim/config", {"hide_first": True})
        st, h, b = self.call("GET", "/api/now/table/problem?sysparm_limit=2&sysparm_query=" + q)
        self.assertEqual(len(b["result"]), 1)  # short page, more behind it
        self.assertIn('rel="next"', h["Link"])

    def test_query_by_number(self):
        """A number named in a postmortem, looked up as the Table API
        does: number=PRB... answers that record alone, an unknown number
        an empty result (200), not an error."""
        self.make("a")
        b = self.make("b")
        self.assertTrue(b["number"].startswith("PRB"))
        q = urllib.parse.quote("number=" + b["number"])
        st, _, res = self.call("GET", "/api/now/table/problem?sysparm_limit=2&sysparm_query=" + q)
        self.assertEqual((st, [r["sys_id"] for r in res["result"]]), (200, [b["sys_id"]]))
        q = urllib.parse.quote("number=PRB0049999")
        st, _, res = self.call("GET", "/api/now/table/problem?sysparm_limit=2&sysparm_query=" + q)
        self.assertEqual((st, res["result"]), (200, []))

    def test_problem_reported_by_an_incident_dot_walked(self):
        """first_reported_by_task and category on problems; sysparm_fields
        dot-walks a reference; a field the table lacks is left out."""
        st, _, inc = self.call("POST", "/_sim/records/incident", {"short_description": "down"})
        self.assertEqual(st, 201)
        self.assertTrue(inc["number"].startswith("INC"))
        self.assertEqual(inc["sys_class_name"], "incident")
        p = self.make("a")
        self.make("b")
        st, _, _ = self.call("PATCH", "/_sim/records/" + p["sys_id"],
                             {"first_reported_by_task": inc["sys_id"], "category": "software"})
        self.assertEqual(st, 200)
        fields = ("sys_id,short_description,first_reported_by_task,first_reported_by_task.number,"
                  "first_reported_by_task.sys_class_name,category,u_no_such_field,"
                  "u_nothing.number")
        q = urllib.parse.quote("assignment_group=%s^ORDERBYshort_description" % GROUP)
        st, _, b = self.call("GET", "/api/now/table/problem?sysparm_fields=%s&sysparm_query=%s"
                             % (urllib.parse.quote(fields), q))
        self.assertEqual(st, 200)
        a_rec, b_rec = b["result"]
        self.assertEqual((a_rec["first_reported_by_task"], a_rec["first_reported_by_task.number"],
                          a_rec["first_reported_by_task.sys_class_name"], a_rec["category"]),
                         (inc["sys_id"], inc["number"], "incident", "software"))
        self.assertEqual((b_rec["first_reported_by_task"], b_rec["first_reported_by_task.number"],
                          b_rec["first_reported_by_task.sys_class_name"], b_rec["category"]),
                         ("", "", "", ""))
        for rec in (a_rec, b_rec):
            self.assertNotIn("u_no_such_field", rec)
            self.assertNotIn("u_nothing.number", rec)

    def test_problem_task_state_model(self):
        st, _, b = self.call("POST", "/api/now/table/problem_task",
                             {"short_description": "t", "state": "154"})
        self.assertEqual(st, 403)  # a task is created New
        st, _, b = self.call("POST", "/api/now/table/problem_task", {"short_description": "t"})
        self.assertEqual((st, b["result"]["state"]), (201, "151"))
        path = "/api/now/table/problem_task/" + b["result"]["sys_id"]
        for body, want in (({"state": "157", "close_code": "canceled", "close_notes": "x"}, 403),
                           ({"state": "152"}, 200), ({"state": "157"}, 403),
                           ({"state": "157", "close_code": "completed", "close_notes": "x"}, 403),
                           ({"state": "154"}, 200), ({"state": "151"}, 403),
                           ({"state": "157", "close_code": "completed", "close_notes": "x"}, 200),
                           ({"state": "154"}, 403), ({"state": "152"}, 200)):
            st, _, b = self.call("PATCH", path, body)
            self.assertEqual(st, want, "%r" % (body,))
            if st == 403:
                self.assertEqual(b["error"]["message"], "Operation Failed")

    def test_truncate_fault(self):
        r = self.make("a")
        self.call("POST", "/_sim/faults", {"truncate": True, "method": "GET"})
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        c.request("GET", "/api/now/table/problem/" + r["sys_id"], None, {"Authorization": AUTH})
        resp = c.getresponse()
        data = resp.read()
        c.close()
        self.assertEqual(resp.status, 200)
        self.assertEqual(int(resp.getheader("Content-Length")), len(data))
        self.assertRaises(ValueError, json.loads, data)
        st, _, b = self.call("GET", "/api/now/table/problem/" + r["sys_id"])
        self.assertEqual(b["result"]["sys_id"], r["sys_id"])  # the next one whole

    def test_refused_state_and_faults(self):
        r = self.make("a")
        self.call("POST", "/_sim/config", {"refuse_state": True})
        st, _, b = self.call("PATCH", "/api/now/table/problem/" + r["sys_id"], {"state": "106"})
        self.assertEqual(st, 403)
        self.assertIn("not allowed", b["error"]["detail"])
        self.call("POST", "/_sim/faults", {"status": 429, "retry_after": 2, "method": "GET"})
        st, h, _ = self.call("GET", "/api/now/table/problem")
        self.assertEqual((st, h["Retry-After"]), (429, "2"))
        st, _, _ = self.call("GET", "/api/now/table/problem")
        self.assertEqual(st, 200)

    def test_rate_limit_headers(self):
        self.call("POST", "/_sim/faults", {"status": 429, "retry_after": 3, "method": "GET"})
        st, h, b = self.call("GET", "/api/now/table/problem")
        self.assertEqual(st, 429)
        self.assertEqual(h["X-RateLimit-Limit"], "1000")
        self.assertTrue(int(h["X-RateLimit-Reset"]) >= int(time.time()))
        self.assertIn("X-RateLimit-Rule", h)

    def test_journal_entries(self):
        r = self.make("a")
        st, _, _ = self.call("PATCH", "/api/now/table/problem/" + r["sys_id"],
                             {"work_notes": "first [closeloop:escalation m1]"})
        self.assertEqual(st, 200)
        self.call("PATCH", "/api/now/table/problem/" + r["sys_id"], {"comments": "seen"})
        q = urllib.parse.quote("element_id=%s^element=work_notes^valueLIKEm1" % r["sys_id"])
        st, _, b = self.call("GET", "/api/now/table/sys_journal_field?sysparm_query=" + q)
        self.assertEqual(st, 200)
        self.assertEqual([e["value"] for e in b["result"]], ["first [closeloop:escalation m1]"])
        self.assertEqual(b["result"][0]["name"], "problem")
        st, _, _ = self.call("GET", "/api/now/table/sys_journal_field", auth=None)
        self.assertEqual(st, 401)

    def oauth(self, form, ctype="application/x-www-form-urlencoded"):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=10)
        c.request("POST", "/oauth_token.do", urllib.parse.urlencode(form), {"Content-Type": ctype})
        r = c.getresponse()
        data = json.loads(r.read())
        c.close()
        return r.status, data

    def test_oauth_grants_and_expiry(self):
        self.call("POST", "/_sim/oauth", {"client_id": "cl", "client_secret": "cs",
                                          "refresh_token": "rt"})
        st, b = self.oauth({"grant_type": "refresh_token", "client_id": "cl",
                            "client_secret": "cs", "refresh_token": "rt"}, "application/json")
        self.assertEqual(st, 400)  # the endpoint takes a form, not JSON
        st, b = self.oauth({"grant_type": "refresh_token", "client_id": "cl",
                            "client_secret": "cs", "refresh_token": "nope"})
        self.assertEqual((st, b["error"]), (401, "access_denied"))
        st, b = self.oauth({"grant_type": "password", "client_id": "cl", "client_secret": "cs",
                            "username": "closeloop", "password": "s3cret"})
        self.assertEqual((st, b["token_type"], b["expires_in"]), (200, "Bearer", 1799))
        self.assertIn("refresh_token", b)
        bearer = "Bearer " + b["access_token"]
        st, _, _ = self.call("GET", "/api/now/table/problem", auth=bearer)
        self.assertEqual(st, 200)
        self.call("POST", "/_sim/expire_tokens", {})
        st, _, b = self.call("GET", "/api/now/table/problem", auth=bearer)
        self.assertEqual(st, 401)
        st, b = self.oauth({"grant_type": "client_credentials", "client_id": "cl",
                            "client_secret": "cs"})
        self.assertEqual(st, 200)
        self.assertNotIn("refresh_token", b)


if __name__ == "__main__":
    unittest.main()
