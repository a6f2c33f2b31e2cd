#!/usr/bin/env python3
"""trim_spec.py [--api-version V] IN OUT [PATH_REGEX...]

Copy GitHub's OpenAPI description keeping only the paths that match one of
the regular expressions (default: the endpoints closeloop's GitHub
connector may call) and every component they reference.  Prism loads the
13 MB full description slowly; the trimmed one has the same definitions,
with two changes:

  * the description's own "x-github-breaking-changes" patches for every
    API version up to V (default 2022-11-28, i.e. none) are applied, so
    that e.g. version 2026-03-10's removal of the singular "assignee" is
    what gets checked (Prism knows nothing of those patches);
  * nullable compositions are rewritten for Prism (see fix_nullable).
"""
import json
import re
import sys

DEFAULT = [r"^/repos/\{owner\}/\{repo\}/issues",
           r"^/repos/\{owner\}/\{repo\}/labels",
           r"^/repos/\{owner\}/\{repo\}/assignees",
           r"^/search/issues$",
           r"^/rate_limit$"]


def fix_nullable(node):
    """Rewrite {"oneOf"/"anyOf"/"allOf": [...], "nullable": true} (no "type")
    as {"anyOf": [{...without nullable}, {"type": "null"}]}.  Prism 5.14.2
    turns such a schema into one its validator cannot compile and then
    silently skips validating the whole request or response body (a POST
    /repos/{owner}/{repo}/issues without "title" passes: the "milestone"
    property has this shape).  The rewrite accepts exactly the same values.
    Returns how many schemas were rewritten."""
    n = 0
    if isinstance(node, dict):
        for v in list(node.values()):
            n += fix_nullable(v)
        if node.get("nullable") is True and "type" not in node and \
                any(k in node for k in ("oneOf", "anyOf", "allOf")):
            inner = {k: v for k, v in node.items() if k != "nullable"}
            for k in list(node):
                del node[k]
            node["anyOf"] = [inner, {"type": "null"}]
            n += 1
    elif isinstance(node, list):
        for v in node:
            n += fix_nullable(v)
    return n


def merge_patch(node, patch):
    """RFC 7386 JSON merge patch, in place (null deletes a member)."""
    for k, v in patch.items():
        if v is None:
            node.pop(k, None)
        elif isinstance(v, dict) and isinstance(node.get(k), dict):
            merge_patch(node[k], v)
        else:
            node[k] = v


def json_patch(node, ops):
    """RFC 6902 JSON patch (add / remove / replace), in place."""
    for op in ops:
        parts = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        parent = node
        for p in parts[:-1]:
            parent = parent[int(p)] if isinstance(parent, list) else parent[p]
        last = parts[-1]
        if isinstance(parent, list):
            idx = len(parent) if last == "-" else int(last)
            if op["op"] == "remove":
                del parent[idx]
            elif op["op"] == "add":
                parent.insert(idx, op["value"])
            elif op["op"] == "replace":
                parent[idx] = op["value"]
            else:
                raise ValueError("unsupported JSON patch op %r" % op["op"])
        elif op["op"] == "remove":
            del parent[last]
        elif op["op"] in ("add", "replace"):
            parent[last] = op["value"]
        else:
            raise ValueError("unsupported JSON patch op %r" % op["op"])


def apply_breaking(node, version):
    """Apply x-github-breaking-changes patches up to version; drop the keys.
    Returns how many patches were applied."""
    n = 0
    if isinstance(node, dict):
        changes = node.pop("x-github-breaking-changes", None) or []
        for v in list(node.values()):
            n += apply_breaking(v, version)
        for ch in sorted(changes, key=lambda c: c.get("version", "")):
            if ch.get("version", "9999") <= version:
                patch = ch.get("patch") or {}
                if isinstance(patch, list):
                    json_patch(node, patch)
                else:
                    merge_patch(node, patch)
                n += 1
    elif isinstance(node, list):
        for v in node:
            n += apply_breaking(v, version)
    return n


def refs(node, out):
    if isinstance(node, dict):
        r = node.get("$ref")
        if isinstance(r, str) and r.startswith("#/components/"):
            out.add(r)
        for v in node.values():
            refs(v, out)
    elif isinstance(node, list):
        for v in node:
            refs(v, out)


def main(argv):
    version = "2022-11-28"
    if len(argv) > 2 and argv[1] == "--api-version":
        version = argv[2]
        argv = argv[:1] + argv[3:]
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    with open(argv[1], encoding="utf-8") as f:
        spec = json.load(f)
    patched = apply_breaking(spec, version)
    pats = [re.compile(p) for p in (argv[3:] or DEFAULT)]
    paths = {p: v for p, v in spec["paths"].items() if any(x.search(p) for x in pats)}
    if not paths:
        sys.stderr.write("trim_spec: no path matched\n")
        return 1
    todo, seen = set(), set()
    refs(paths, todo)
    comps = {}
    while todo:
        r = todo.pop()
        if r in seen:
            continue
        seen.add(r)
        _, _, kind, name = r.split("/", 3)
        node = spec["components"][kind][name]
        comps.setdefault(kind, {})[name] = node
        refs(node, todo)
    out = {k: spec[k] for k in ("openapi", "info", "servers", "tags", "externalDocs") if k in spec}
    out["paths"] = paths
    out["components"] = comps
    fixed = fix_nullable(out)
    with open(argv[2], "w", encoding="utf-8") as f:
        json.dump(out, f)
    sys.stderr.write("trim_spec: API version %s (%d breaking-change patches applied to the whole "
                     "description), %d paths, %d components, %d nullable compositions rewritten\n"
                     % (version, patched, len(paths), len(seen), fixed))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
