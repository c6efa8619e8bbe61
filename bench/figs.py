#!/usr/bin/env python3
"""Figure store and RESULTS.md writer for bench/run.sh.

  figs.py add FIGS SECTION NAME UNIT OURS ORIG [NOTE]   one figure (ORIG may be "-"); load average recorded
  figs.py hf JSON [INDEX] [FIELD]                         median (ms) of a hyperfine --export-json result
  figs.py hfall JSON                                      "name<TAB>median_ms<TAB>mean_ms<TAB>min_ms" for every command
  figs.py json FILE KEY                                   last JSON object in FILE (one per line) -> value of KEY
  figs.py render FIGS[,FIGS2...] MACHINE OUT [EXTRA_MD ...]  write the Markdown report (later files' sections win)
UNIT ends in " up" (higher is better) or " down" (lower is better).
"""
import json, os, statistics, sys, time


def load():
    try:
        return open("/proc/loadavg").read().split()[0]
    except OSError:
        return "?"


def num(s):
    try:
        return float(s)
    except (TypeError, ValueError):
        return None


def cmd_add(a):
    figs, section, name, unit, ours, orig = a[:6]
    note = a[6] if len(a) > 6 else ""
    rec = dict(section=section, name=name, unit=unit, ours=num(ours), orig=num(orig), note=note,
               load=load(), time=time.strftime("%H:%M:%S", time.gmtime()))
    with open(figs, "a") as f:
        f.write(json.dumps(rec) + "\n")
    o = rec["orig"]
    r = f"{rec['ours'] / o:.2f}" if o and rec["ours"] is not None else "-"
    print(f"  [{section}] {name}: ours {fmt(rec['ours'])} | original {fmt(o)} | ours/orig {r} ({unit}; load {rec['load']})",
          flush=True)


def cmd_hf(a):
    r = json.load(open(a[0]))["results"][int(a[1]) if len(a) > 1 else 0]
    field = a[2] if len(a) > 2 else "median"
    v = r[field] if field in r else statistics.median(r["times"])
    print(f"{v * 1000:.3f}")


def cmd_hfall(a):
    for r in json.load(open(a[0]))["results"]:
        print(f"{r['command']}\t{r['median'] * 1000:.3f}\t{r['mean'] * 1000:.3f}\t{r['min'] * 1000:.3f}")


def cmd_json(a):
    last = None
    for line in open(a[0]):
        line = line.strip()
        if line.startswith("{"):
            last = json.loads(line)
    v = last.get(a[1]) if last else None
    print("" if v is None else v)


def fmt(v):
    if v is None:
        return "-"
    if v >= 1000:
        return f"{v:,.0f}"
    if v >= 100:
        return f"{v:.0f}"
    if v >= 10:
        return f"{v:.1f}"
    return f"{v:.2f}"


def cmd_render(a):
    figs, machine, out = a[:3]
    extra = a[3:]
    # FIGS may be several files joined with commas: a later file's sections replace an earlier one's
    recs = []
    for fp in figs.split(","):
        if not os.path.exists(fp):
            continue
        new = [json.loads(l) for l in open(fp) if l.strip()]
        secs = {r["section"] for r in new}
        recs = [r for r in recs if r["section"] not in secs] + new
    m = json.load(open(machine))
    L = []
    L.append("# Benchmarks: ours side by side with the originals")
    L.append("")
    L.append("Written by `make bench` (`bench/run.sh`); every figure below was measured in the run(s) described here, "
             "except rows marked *orientation only*. \"ours/orig\" divides our figure by the original's: above 1 "
             "means ours is higher (better for a rate, marked ↑; worse for a time or a size, marked ↓). "
             "Each figure is the median of the repeated runs listed in its note. \"load\" is the 1-minute load "
             "average when the figure was taken: on this 2-core machine anything above about 1 means other work "
             "was competing for the CPU, so the absolute figures are lower bounds; the ratios are fairer because "
             "both sides ran back to back, interleaved where the benchmark allows it.")
    L.append("")
    L.append("## Machine and run")
    L.append("")
    for k, v in m.items():
        if isinstance(v, list):
            L.append(f"- {k}:")
            L.extend(f"  - {x}" for x in v)
        else:
            L.append(f"- {k}: {v}")
    L.append("")
    sections = []
    for r in recs:
        if r["section"] not in sections:
            sections.append(r["section"])
    order = ["start-up", "tcpserver", "supervise", "multilog", "qmail", "qmail (C qmail measured)", "process tree at rest"]
    sections.sort(key=lambda x: order.index(x) if x in order else len(order))
    for s in sections:
        L.append(f"## {s}")
        L.append("")
        L.append("| figure | unit | ours | original | ours/orig | load | note |")
        L.append("|---|---|---:|---:|---:|---:|---|")
        for r in recs:
            if r["section"] != s:
                continue
            unit = r["unit"].replace(" up", " ↑").replace(" down", " ↓")
            o = r["orig"]
            ratio = f"{r['ours'] / o:.2f}" if o and r["ours"] is not None else "-"
            L.append(f"| {r['name']} | {unit} | {fmt(r['ours'])} | {fmt(o)} | {ratio} | {r['load']} | {r['note']} |")
        L.append("")
    for e in extra:
        if os.path.exists(e):
            L.append(open(e).read().rstrip())
            L.append("")
    open(out, "w").write("\n".join(L))


if __name__ == "__main__":
    cmd = sys.argv[1]
    {"add": cmd_add, "hf": cmd_hf, "hfall": cmd_hfall, "json": cmd_json, "render": cmd_render}[cmd](sys.argv[2:])
