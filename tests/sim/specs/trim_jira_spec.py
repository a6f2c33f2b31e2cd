#!/usr/bin/env python3
"""trim_jira_spec.py FULL.json OUT.json — keep from Atlassian's OpenAPI
description of Jira Cloud REST v3 only the paths closeloop's Jira connector
and simulator use, and every component schema they reference (transitively),
so the repository carries the part of the published description its tests
check against (tests/sim/test_jira_sim.py) without depending on a copy
outside the checkout.  The description is Atlassian's, under Apache-2.0
(its info.license); info is kept as published."""
import json
import sys

PATHS = [
    "/rest/api/3/issue",
    "/rest/api/3/issue/{issueIdOrKey}",
    "/rest/api/3/issue/{issueIdOrKey}/transitions",
    "/rest/api/3/issue/{issueIdOrKey}/comment",
    "/rest/api/3/search/jql",
    "/rest/api/3/search",
]


def refs(node, out):
    if isinstance(node, dict):
        r = node.get("$ref")
        if isinstance(r, str) and r.startswith("#/components/"):
            out.add(tuple(r[len("#/components/"):].split("/", 1)))
        for v in node.values():
            refs(v, out)
    elif isinstance(node, list):
        for v in node:
            refs(v, out)


def main(src, dst):
    full = json.load(open(src, encoding="utf-8"))
    keep = {"openapi": full["openapi"], "info": full["info"],
            "paths": {p: full["paths"][p] for p in PATHS if p in full["paths"]},
            "components": {}}
    todo, seen = set(), set()
    refs(keep["paths"], todo)
    while todo:
        kind, name = todo.pop()
        if (kind, name) in seen:
            continue
        seen.add((kind, name))
        node = full["components"][kind][name]
        keep["components"].setdefault(kind, {})[name] = node
        refs(node, todo)
    if "securitySchemes" in full["components"]:
        keep["components"]["securitySchemes"] = full["components"]["securitySchemes"]
    with open(dst, "w", encoding="utf-8") as f:
        json.dump(keep, f, indent=1, sort_keys=True)
        f.write("\n")
    print("%s: %d paths, %d component schemas" % (dst, len(keep["paths"]), len(seen)))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
