#!/usr/bin/env python3
"""Prints the core crate's module graph (top-level modules under core/src) and fails on a cycle.

An edge A -> B means a file of module A names `crate::B` (in a `use` or a path). Test-only files
(`tests.rs`, `*_tests.rs`, `tests/`, `test_fake.rs`) and `#[cfg(test)] mod tests { ... }` blocks
at the end of a file are left out: tests may reach across. Usage: scripts/module-graph.py [--dot]
"""
import os, re, sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "core", "src")

def top_module(path):
    rel = os.path.relpath(path, ROOT)
    first = rel.split(os.sep)[0]
    return first[:-3] if first.endswith(".rs") else first

def is_test_file(path):
    rel = os.path.relpath(path, ROOT)
    name = os.path.basename(rel)
    return (name in ("tests.rs", "test_fake.rs") or name.endswith("_tests.rs")
            or f"{os.sep}tests{os.sep}" in rel)

def strip_test_blocks(text):
    m = re.search(r"^#\[cfg\(test\)\]\s*\n\s*mod tests\s*\{", text, re.M)
    return text[:m.start()] if m else text

def strip_comments(text):
    return "\n".join(l.split("//")[0] for l in text.splitlines())

edges = {}
for dirpath, _, files in os.walk(ROOT):
    for f in files:
        if not f.endswith(".rs"):
            continue
        path = os.path.join(dirpath, f)
        if is_test_file(path):
            continue
        mod = top_module(path)
        if mod in ("lib", "main"):
            continue
        text = strip_comments(strip_test_blocks(open(path).read()))
        targets = set(re.findall(r"crate::([a-z_][a-z0-9_]*)", text))
        # `use crate::{a, b::c}` groups
        for group in re.findall(r"crate::\{([^}]*)\}", text, re.S):
            targets |= set(re.findall(r"(?:^|,)\s*([a-z_][a-z0-9_]*)", group))
        edges.setdefault(mod, set()).update(t for t in targets if t != mod)

if "--dot" in sys.argv:
    print("digraph core {")
    for a in sorted(edges):
        for b in sorted(edges[a]):
            print(f'  "{a}" -> "{b}";')
    print("}")

# Tarjan's strongly connected components: any component with more than one module is a cycle.
index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]
def visit(v):
    index[v] = low[v] = counter[0]; counter[0] += 1
    stack.append(v); on.add(v)
    for w in edges.get(v, ()):
        if w not in index:
            visit(w); low[v] = min(low[v], low[w])
        elif w in on:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        comp = []
        while True:
            w = stack.pop(); on.discard(w); comp.append(w)
            if w == v: break
        sccs.append(comp)
sys.setrecursionlimit(10000)
for v in sorted(edges):
    if v not in index:
        visit(v)
cycles = [sorted(c) for c in sccs if len(c) > 1]
if not "--dot" in sys.argv:
    for a in sorted(edges):
        print(f"{a:14} -> {', '.join(sorted(edges[a])) or '-'}")
if cycles:
    for c in cycles:
        print("CYCLE among:", ", ".join(c))
        for a in c:
            print(f"   {a} -> {', '.join(sorted(edges[a] & set(c)))}")
    sys.exit(1)
print(f"no cycle among {len(edges)} modules")
