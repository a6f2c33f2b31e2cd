#!/usr/bin/env python3
"""check_requests.py SPEC RECORD.jsonl

Check the requests the GitHub simulator recorded (github_sim.py --record)
against GitHub's OpenAPI description (ideally the trim_spec.py output):
operation (method + path template), query parameter names, types and
enums, request body against its JSON schema (type, properties, required,
enum, items, oneOf/anyOf, nullable, additionalProperties), and the
headers GitHub asks for (Authorization, Accept, X-GitHub-Api-Version).

This is stricter than Prism in two places, both because GitHub silently
ignores what it does not know (so a typo would otherwise go unnoticed):
an unknown query parameter and an unknown body property are violations.

Prints one line per violation; exit status 1 when there is any, 0 when
every request conforms, 2 on usage errors.
"""
import json
import re
import sys

KNOWN_VERSIONS = ("2022-11-28", "2026-03-10")


class Checker:
    def __init__(self, spec):
        self.spec = spec
        self.ops = []
        for tmpl, item in spec["paths"].items():
            rx = re.compile("^" + re.sub(r"\\\{[^}]+\\\}", "[^/]+", re.escape(tmpl)) + "$")
            shared = item.get("parameters", [])
            for method, op in item.items():
                if method in ("get", "post", "patch", "put", "delete"):
                    params = [self.deref(p) for p in shared + op.get("parameters", [])]
                    self.ops.append((rx, method.upper(), tmpl, op, params))

    def deref(self, node):
        seen = 0
        while isinstance(node, dict) and "$ref" in node:
            _, _, kind, name = node["$ref"].split("/", 3)
            node = self.spec["components"][kind][name]
            seen += 1
            if seen > 50:
                raise ValueError("$ref loop")
        return node

    # ---- JSON schema subset -------------------------------------------------
    def validate(self, value, schema, where, out):
        schema = self.deref(schema)
        if schema is True or schema == {}:
            return
        if value is None:
            if schema.get("nullable") or schema.get("type") == "null":
                return
            if "anyOf" in schema or "oneOf" in schema:
                alts = schema.get("anyOf") or schema.get("oneOf")
                if any(self.ok(None, a) for a in alts):
                    return
            if "type" in schema or "anyOf" in schema or "oneOf" in schema:
                out.append("%s: null is not allowed" % where)
            return
        for key in ("oneOf", "anyOf"):
            if key in schema:
                alts = schema[key]
                if not any(self.ok(value, a) for a in alts):
                    out.append("%s: %s matches none of the %d allowed shapes" % (
                        where, json.dumps(value)[:80], len(alts)))
                    return
        for sub in schema.get("allOf", []):
            self.validate(value, sub, where, out)
        t = schema.get("type")
        if t and not self.type_ok(value, t):
            out.append("%s: %s is not of type %s" % (where, json.dumps(value)[:80], t))
            return
        if "enum" in schema and value not in schema["enum"]:
            out.append("%s: %s is not one of %s" % (where, json.dumps(value), schema["enum"]))
        if isinstance(value, dict) and (t == "object" or "properties" in schema):
            props = schema.get("properties", {})
            for req in schema.get("required", []):
                if req not in value:
                    out.append("%s: required property %r is missing" % (where, req))
            for k, v in value.items():
                if k in props:
                    self.validate(v, props[k], "%s.%s" % (where, k), out)
                elif schema.get("additionalProperties") is False or props:
                    out.append("%s: property %r is not in GitHub's description" % (where, k))
        if isinstance(value, list) and "items" in schema:
            for i, v in enumerate(value):
                self.validate(v, schema["items"], "%s[%d]" % (where, i), out)

    def ok(self, value, schema):
        errs = []
        self.validate(value, schema, "", errs)
        return not errs

    @staticmethod
    def type_ok(value, t):
        if isinstance(t, list):
            return any(Checker.type_ok(value, x) for x in t)
        return {
            "string": isinstance(value, str),
            "integer": isinstance(value, int) and not isinstance(value, bool),
            "number": isinstance(value, (int, float)) and not isinstance(value, bool),
            "boolean": isinstance(value, bool),
            "array": isinstance(value, list),
            "object": isinstance(value, dict),
            "null": value is None,
        }.get(t, True)

    # ---- one request ---------------------------------------------------------
    def check(self, req):
        out = []
        method, path = req["method"], req["path"]
        cand = [o for o in self.ops if o[0].match(path)]
        op = next((o for o in cand if o[1] == method), None)
        if op is None:
            what = "method %s not allowed" % method if cand else "no such path"
            return ["%s %s: %s in GitHub's description" % (method, path, what)]
        _, _, tmpl, spec_op, params = op
        tag = "%s %s" % (method, tmpl)
        query = {p["name"]: p for p in params if p.get("in") == "query"}
        for name, values in (req.get("query") or {}).items():
            p = query.get(name)
            if p is None:
                out.append("%s: query parameter %r is not in GitHub's description" % (tag, name))
                continue
            sch = self.deref(p.get("schema", {}))
            for v in values:
                if sch.get("type") == "integer":
                    if not re.fullmatch(r"-?\d+", v):
                        out.append("%s: query %s=%r is not an integer" % (tag, name, v))
                        continue
                    if name == "per_page" and not 1 <= int(v) <= 100:
                        out.append("%s: query per_page=%s is outside 1..100" % (tag, v))
                if "enum" in sch and v not in sch["enum"]:
                    out.append("%s: query %s=%r is not one of %s" % (tag, name, v, sch["enum"]))
                if sch.get("format") == "date-time" and not re.fullmatch(
                        r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)", v):
                    out.append("%s: query %s=%r is not an ISO 8601 date-time" % (tag, name, v))
        for p in params:
            if p.get("in") == "query" and p.get("required") and p["name"] not in (req.get("query") or {}):
                out.append("%s: required query parameter %r is missing" % (tag, p["name"]))
        rb = self.deref(spec_op["requestBody"]) if "requestBody" in spec_op else None
        body = req.get("body")
        if rb is not None:
            if body is None and rb.get("required"):
                out.append("%s: request body is required" % tag)
            elif body is not None:
                if isinstance(body, str):
                    out.append("%s: request body is not JSON: %r" % (tag, body[:60]))
                else:
                    sch = rb.get("content", {}).get("application/json", {}).get("schema", {})
                    self.validate(body, sch, tag + " body", out)
        elif body is not None:
            out.append("%s: has a body, but the operation takes none" % tag)
        h = req.get("headers") or {}
        if not (h.get("authorization") or "").lower().startswith(("bearer ", "token ")):
            out.append("%s: no Authorization: Bearer header" % tag)
        if "application/vnd.github+json" not in (h.get("accept") or "") and \
                "application/json" not in (h.get("accept") or ""):
            out.append("%s: Accept is %r, GitHub recommends application/vnd.github+json" % (tag, h.get("accept")))
        v = h.get("x-github-api-version")
        if v is None:
            out.append("%s: no X-GitHub-Api-Version header" % tag)
        elif v not in KNOWN_VERSIONS:
            out.append("%s: X-GitHub-Api-Version %r is not a known version" % (tag, v))
        if method in ("POST", "PATCH") and body is not None and \
                "application/json" not in (h.get("content-type") or ""):
            out.append("%s: Content-Type is %r, not application/json" % (tag, h.get("content-type")))
        return out


def main(argv):
    if len(argv) != 3:
        sys.stderr.write(__doc__)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        checker = Checker(json.load(f))
    n = bad = 0
    with open(argv[2], encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            n += 1
            req = json.loads(line)
            for v in checker.check(req):
                bad += 1
                print("request %d: %s" % (lineno, v))
    print("check_requests: %d requests, %d violations" % (n, bad))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
