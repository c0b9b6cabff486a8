#!/usr/bin/python3
"""report/history.py: one small summary per commit of a bench JSON (scripts/bench's output), kept in
report/data/history/<date>-<commit>.json so the report can plot speed across commits.

A summary holds fractions, not raw times: each row's GB/s over the bandwidth probe of the same run
(read for fwd, copy for fwdbwd, at the row's thread count; lsce-bench's own probe_fraction), at the
shapes every grid has (float32 64x1000 and 4096x32000, bfloat16 4096x32000), PyTorch's the same way
at 2 threads, the exp ceilings (exp32 and exp64 probes over the read probe), and the context that
says how far the machine can be trusted (machine, date, load average, grid). Times of different
machines or loads do not compare; fractions of a probe measured in the same run compare better.

usage: history.py BENCH.json [--out-dir report/data/history] [--source NAME]
Prints the path written. Exit 0, 2 on usage, 3 when the bench JSON cannot be read or has no rows.
"""
import argparse
import json
import os
import re
import statistics
import sys

ROW_RE = re.compile(r"^(fwd|fwdbwd)/([^/]+)/([^/]+)/N:(\d+)/K:(\d+)$")
PROBE_RE = re.compile(r"^bandwidth/(.+?)/threads:(\d+)$")
# The shapes of the quick grid, which the full sweep contains too.
SHAPES = {("float32", 64, 1000), ("float32", 4096, 32000), ("bfloat16", 4096, 32000)}
SCHEMA = 1


def _iters(doc):
    for b in doc.get("benchmarks", []) or []:
        if b.get("error_occurred") or b.get("run_type", "iteration") != "iteration":
            continue
        name = re.sub(r"/(manual_time|real_time)$", "", b.get("run_name") or b.get("name", ""))
        yield name, b


def probes(doc):
    """(kind, threads) -> best bytes_per_second over the repetitions, in GB/s."""
    out = {}
    for name, b in _iters(doc):
        m = PROBE_RE.match(name)
        bps = b.get("bytes_per_second")
        if m and isinstance(bps, (int, float)):
            key = (m.group(1), int(m.group(2)))
            out[key] = max(out.get(key, 0.0), bps / 1e9)
    return out


def summarize(doc, source):
    """The summary dict of one bench JSON (see the module's docstring)."""
    pr = probes(doc)
    groups = {}
    for name, b in _iters(doc):
        m = ROW_RE.match(name)
        if not m or (m.group(3), int(m.group(4)), int(m.group(5))) not in SHAPES:
            continue
        groups.setdefault(name, []).append(b)
    fractions = {}
    for name, bs in sorted(groups.items()):
        mode, impl = ROW_RE.match(name).group(1, 2)
        fr = [b["probe_fraction"] for b in bs if isinstance(b.get("probe_fraction"), (int, float))]
        if not fr and impl == "torch":
            kind = "read" if mode == "fwd" else "copy"
            threads = int(bs[0].get("n_threads") or 2)
            probe = pr.get((kind, threads))
            bps = [b["bytes_per_second"] for b in bs if isinstance(b.get("bytes_per_second"),
                                                                    (int, float))]
            fr = [v / 1e9 / probe for v in bps] if probe else []
        if fr:
            fractions[name] = round(statistics.median(fr), 6)
    ceilings = {}
    for t in (1, 2):
        rd = pr.get(("read", t))
        for kind in ("exp32", "exp64"):
            if rd and pr.get((kind, t)):
                ceilings["%s/threads:%d" % (kind, t)] = round(pr[(kind, t)] / rd, 6)
    ctx = doc.get("context", {}) or {}
    return {
        "schema": SCHEMA,
        "source": source,
        "commit": ctx.get("commit", "unknown"),
        "date": ctx.get("date", ""),
        "machine": ctx.get("machine", "?"),
        "num_cpus": ctx.get("num_cpus"),
        "grid": ctx.get("lsce_grid", "?"),
        "load_avg_start": ctx.get("load_avg_start", ctx.get("load_avg")),
        "load_avg_end": ctx.get("load_avg_end"),
        "probes_gbs": {"%s/threads:%d" % k: round(v, 3) for k, v in sorted(pr.items())},
        "exp_ceilings": ceilings,
        "fractions": fractions,
    }


def out_name(summary):
    commit = re.sub(r"[^0-9A-Za-z_.-]", "_", str(summary["commit"]))
    return "%s-%s.json" % (str(summary["date"])[:10] or "undated", commit)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("bench")
    ap.add_argument("--out-dir", default=os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                      "data", "history"))
    ap.add_argument("--source", help="the name recorded as the source (default: the path given)")
    a = ap.parse_args(argv)
    try:
        with open(a.bench) as f:
            doc = json.load(f)
    except (OSError, ValueError) as e:
        print("lsce: %s: %s" % (a.bench, e), file=sys.stderr)
        return 3
    s = summarize(doc, a.source or a.bench)
    if not s["fractions"]:
        print("lsce: %s: no row at the history's shapes (float32 64x1000 or 4096x32000, "
              "bfloat16 4096x32000)" % a.bench, file=sys.stderr)
        return 3
    os.makedirs(a.out_dir, exist_ok=True)
    path = os.path.join(a.out_dir, out_name(s))
    with open(path + ".tmp", "w") as f:
        f.write(json.dumps(s, indent=1, sort_keys=True) + "\n")
    os.replace(path + ".tmp", path)
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
