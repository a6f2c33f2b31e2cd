#!/usr/bin/env python3
"""No two files of a daemon folder call each other both ways.

Reads the compiled objects (nm: what each defines, what it uses), so a call
through a header, a macro or a function pointer taken in another file counts
as well as a plain call.  Prints the calls between the folder's files and
fails on a cycle (of any length), naming the files and the symbols.

    python3 tests/callgraph.py build/daemon/reconcile [more folders]
"""
import glob
import os
import subprocess
import sys


def symbols(obj):
    out = subprocess.run(["nm", obj], capture_output=True, text=True, check=True).stdout
    defined, used = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 3 and parts[1] in "TDBR":
            defined.add(parts[2])
        elif len(parts) == 2 and parts[0] == "U":
            used.add(parts[1])
    return defined, used


def folder_edges(folder):
    objs = sorted(glob.glob(os.path.join(folder, "*.o")))
    if not objs:
        sys.exit("callgraph: no objects in %s (build first: make all)" % folder)
    syms = {os.path.basename(o)[:-2] + ".c": symbols(o) for o in objs}
    owner = {s: f for f, (d, _) in syms.items() for s in d}
    edges = {}
    for f, (_, used) in syms.items():
        for s in used:
            g = owner.get(s)
            if g and g != f:
                edges.setdefault(f, {}).setdefault(g, set()).add(s)
    return sorted(syms), edges


def find_cycle(nodes, edges):
    state = {}

    def visit(n, path):
        state[n] = 1
        for m in sorted(edges.get(n, {})):
            if state.get(m) == 1:
                return path[path.index(m):] + [m]
            if m not in state:
                c = visit(m, path + [m])
                if c:
                    return c
        state[n] = 2
        return None

    for n in nodes:
        if n not in state:
            c = visit(n, [n])
            if c:
                return c
    return None


def main():
    bad = 0
    for folder in sys.argv[1:] or ["build/daemon/reconcile"]:
        nodes, edges = folder_edges(folder)
        for f in nodes:
            for g, s in sorted(edges.get(f, {}).items()):
                print("%s: %s -> %s (%s)" % (folder, f, g, ", ".join(sorted(s))))
        cycle = find_cycle(nodes, edges)
        if cycle:
            bad = 1
            print("callgraph: %s: files call each other in a circle: %s; move the shared "
                  "part down into one file, or reach the caller through a pointer it hands "
                  "down" % (folder, " -> ".join(cycle)), file=sys.stderr)
    sys.exit(bad)


if __name__ == "__main__":
    main()
