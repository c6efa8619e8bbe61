#!/usr/bin/env python3
"""Aggregate Bun --cpu-prof profiles (.cpuprofile JSON) of many short runs of one program.

  BUN_OPTIONS="--cpu-prof --cpu-prof-dir=DIR --cpu-prof-interval=100" bin/PROG ...   (repeat K times)
  python3 bench/prof.py DIR [TOP=25]

Prints, averaged per run: total sampled time, then the functions with the most inclusive time
(a sample counts once for every distinct function on its stack) and the most self time.
Module bodies show up under their module name (node:net, internal:streams/..., bun:ffi);
our own code under /$bunfs/root/... with the function name the bundle kept.
"""
import collections, glob, json, os, sys

d = sys.argv[1]
top = int(sys.argv[2]) if len(sys.argv) > 2 else 25
under = sys.argv[3] if len(sys.argv) > 3 else None  # also list the direct callees of functions named so
callee = collections.Counter()
files = sorted(glob.glob(os.path.join(d, "*.cpuprofile")))
incl = collections.Counter()
self_ = collections.Counter()
total = 0.0
for f in files:
    p = json.load(open(f))
    nodes = {n["id"]: n for n in p["nodes"]}
    parent = {}
    for n in p["nodes"]:
        for c in n.get("children", []):
            parent[c] = n["id"]
    def key(n):
        cf = n["callFrame"]
        url = cf.get("url", "")
        if url.startswith("/$bunfs/"):
            url = "ours"
        return f"{cf.get('functionName') or '(anonymous)'} [{url or 'native'}]"
    deltas = p.get("timeDeltas", [])
    for i, s in enumerate(p.get("samples", [])):
        dt = (deltas[i + 1] if i + 1 < len(deltas) else 0) / 1000.0  # us -> ms, time until the next sample
        n = nodes[s]
        k = key(n)
        if k.startswith("(idle)") or k.startswith("(program)") or k.startswith("(root)"):
            self_[k] += dt
            total += dt
            continue
        total += dt
        self_[k] += dt
        seen = set()
        x = s
        if under:
            chain = []
            y = s
            while y in nodes:
                chain.append(y)
                y = parent.get(y)
                if y is None:
                    break
            cs = set()
            for j in range(1, len(chain)):
                if nodes[chain[j]]["callFrame"].get("functionName") == under:
                    cs.add(key(nodes[chain[j - 1]]))
            for c in cs:
                callee[c] += dt
        while x in nodes:
            kk = key(nodes[x])
            if kk not in seen and not kk.startswith("(root)"):
                incl[kk] += dt
                seen.add(kk)
            x = parent.get(x)
            if x is None:
                break
K = max(len(files), 1)
print(f"{len(files)} profiles; sampled time per run {total / K:.2f} ms")
print("\ninclusive ms/run  function [module]")
for k, v in incl.most_common(top):
    print(f"  {v / K:7.2f}  {k}")
if under:
    print(f"\ndirect callees of {under}, inclusive ms/run")
    for k, v in callee.most_common(top):
        print(f"  {v / K:7.2f}  {k}")
print("\nself ms/run  function [module]")
for k, v in self_.most_common(top):
    print(f"  {v / K:7.2f}  {k}")
