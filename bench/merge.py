#!/usr/bin/python3
"""bench/merge.py: merges lsce-bench's JSON and the PyTorch peer's JSON into the one bench JSON of
docs/cli.md "Data files" (Google Benchmark's schema; context: commit, machine, compiler, torch_version, beside
Google Benchmark's date and num_cpus) and prints the summary of the CPU speed targets: at 4096x32000
float32, the fastest exact-tier lsce row, PyTorch, their ratio and the row's fraction of the read
(fwd) or copy (fwdbwd) probe measured in the same run, and the exp ceilings (exp32 and exp64
probes / read probe); issue #12's targets, and per dtype and mode at 4096x32000 the fraction of rows
that took the accurate path for N(0,1) logits and for rows like a trained model's (fwd-trained,
fwdbwd-trained: 1.5 z + 10 at the target).

usage: merge.py --lsce L.json [--lsce L2.json ...] [--torch T.json] --out OUT.json [--grid quick|full]
                [--load-start "$(cat /proc/loadavg)"] [--load-end ...] [--wall-s S]
Several --lsce files (lsce-bench runs of one build over different filters) are concatenated; the
first one's context is kept and the others' go into the context as "more_runs".
The load averages (1, 5, 15 min, from /proc/loadavg at the start and end of scripts/bench) go into
the context as load_avg_start and load_avg_end, the run's wall time as bench_wall_s.
"""
import argparse
import json
import math
import os
import statistics
import sys

SHAPE = "float32/N:4096/K:32000"
UNIT_MS = {"ns": 1e-6, "us": 1e-3, "ms": 1.0, "s": 1e3}
TARGETS = {"fwd": ("read", 0.60), "fwdbwd": ("copy", 0.50)}
TORCH_RATIO_TARGET = 10.0
# issue #12's targets: (mode, dtype, shape, fraction of the read (fwd) or copy (fwdbwd) probe)
ISSUE12_TARGETS = [("fwd", "float32", "N:4096/K:32000", 0.45), ("fwd", "float32", "N:512/K:128256", 0.45),
                   ("fwdbwd", "float32", "N:4096/K:32000", 0.40), ("fwd", "bfloat16", "N:4096/K:32000", 0.30),
                   ("fwd", "float64", "N:4096/K:32000", 0.25)]


def load(path):
    with open(path) as f:
        return json.load(f)


def load_partial(path):
    """A Google Benchmark JSON that may have been cut off (lsce-bench stopped before its end: it
    writes each benchmark as it finishes and closes the list at exit). Keeps every complete
    benchmark object and records in the context how the file ended."""
    with open(path) as f:
        text = f.read()
    try:
        return json.loads(text)
    except ValueError:
        pass
    cut = text.rfind("\n    }")
    if cut >= 0:
        doc = json.loads(text[:cut + 6] + "\n  ]\n}\n")
    elif '"benchmarks": [' in text:
        doc = json.loads(text[:text.index('"benchmarks": [') + 15] + "]\n}\n")
    else:
        raise ValueError("%s: not a Google Benchmark JSON" % path)
    last = doc["benchmarks"][-1].get("name", "?") if doc.get("benchmarks") else "?"
    doc.setdefault("context", {})["partial"] = (
        "lsce-bench was stopped before the end of its list; the last complete benchmark is %s"
        % last)
    return doc


def finite_or_str(x):
    """docs/cli.md "Data files": a non-finite number is written as the string "inf", "-inf" or "nan"."""
    if isinstance(x, float) and not math.isfinite(x):
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    if isinstance(x, dict):
        return {k: finite_or_str(v) for k, v in x.items()}
    if isinstance(x, list):
        return [finite_or_str(v) for v in x]
    return x


def iteration_rows(benches, name):
    return [b for b in benches if b.get("run_name", b["name"]) == name
            and b.get("run_type", "iteration") == "iteration" and not b.get("error_occurred")]


def time_ms(benches, name):
    rows = iteration_rows(benches, name)
    if not rows:
        return None
    return statistics.median(b["real_time"] * UNIT_MS.get(b.get("time_unit", "ns"), 1e-6)
                             for b in rows)


def counter(benches, name, key):
    vals = [b[key] for b in iteration_rows(benches, name) if isinstance(b.get(key), (int, float))]
    return statistics.median(vals) if vals else None


def probe_best(benches, kind, threads):
    """Best bytes/s of a probe; for read and copy the higher of the project's loop and the outside
    figure of the same run (numpy's sum at 1 thread, memcpy at these threads: bench/probes.h)."""
    names = ["bandwidth/%s/threads:%d" % (kind, threads)]
    if kind == "read":
        names.append("bandwidth/numpy_sum/threads:1")
    elif kind == "copy":
        names.append("bandwidth/memcpy/threads:%d" % threads)
    vals = [b["bytes_per_second"] for n in names for b in iteration_rows(benches, n) if "bytes_per_second" in b]
    return max(vals) if vals else None


def label_field(b, key):
    for tok in b.get("label", "").split():
        if tok.startswith(key + "="):
            return tok[len(key) + 1:]
    return None


def fastest_exact(benches, mode, rest):
    """(name, ms) of the fastest exact-tier lsce row named mode/<impl>/rest, or None"""
    best = None
    for b in benches:
        n = b.get("run_name", b["name"])
        parts = n.split("/", 2)
        if (len(parts) < 3 or parts[0] != mode or parts[1] == "torch" or parts[2] != rest
                or b.get("run_type", "iteration") != "iteration" or b.get("error_occurred")
                or label_field(b, "tier") != "exact"):
            continue
        t = time_ms(benches, n)
        if t is not None and (best is None or t < best[1]):
            best = (n, t)
    return best


def summary(doc):
    benches = doc["benchmarks"]
    ctx = doc["context"]
    out = ["lsce bench: %s, commit %s, %s, torch %s" % (
        ctx.get("machine", "?"), ctx.get("commit", "?"), ctx.get("compiler", "?"),
        ctx.get("torch_version", "?"))]
    out.append("shape 4096x32000 float32, variant k, e = 0.1, mean")
    out.append("%-7s %-24s %10s %10s %10s  %s" % (
        "mode", "fastest exact lsce row", "lsce ms", "torch ms", "torch/lsce",
        "fraction of probe"))
    for mode in ("fwd", "fwdbwd"):
        kind, frac_target = TARGETS[mode]
        best = fastest_exact(benches, mode, SHAPE)
        tt = time_ms(benches, "%s/torch/%s" % (mode, SHAPE))
        if best is None:
            row = "%-7s %-24s %10s" % (mode, "(none)", "-")
            row += " %10s %10s  %s" % ("%.4g" % tt if tt else "-", "-", "-")
            out.append(row)
            continue
        name, t = best
        impl = name.split("/")[1]
        threads = int(counter(benches, name, "n_threads") or 1)
        frac = counter(benches, name, "probe_fraction")
        bw = probe_best(benches, kind, threads)
        fr = ("%.3f of %s/threads:%d (%.1f GB/s)" % (frac, kind, threads, bw / 1e9)
              if frac is not None and bw else "- (probe %s/threads:%d not run)" % (kind, threads))
        out.append("%-7s %-24s %10.4g %10s %10s  %s" % (
            mode, "%s (%d thr)" % (impl, threads), t, "%.4g" % tt if tt else "-",
            "%.2fx" % (tt / t) if tt else "-", fr))
    out.append("issue #12 targets (fastest exact row; fraction of the probe on the row's own bytes; rows "
               "the first pass could not vouch for):")
    for mode, dtype, shape, want in ISSUE12_TARGETS:
        best = fastest_exact(benches, mode, dtype + "/" + shape)
        if best is None:
            out.append("  %-7s %-8s %-16s (not run)" % (mode, dtype, shape))
            continue
        frac = counter(benches, best[0], "probe_fraction")
        acc = counter(benches, best[0], "rows_accurate")
        tt = time_ms(benches, "%s/torch/%s/%s" % (mode, dtype, shape))
        out.append("  %-7s %-8s %-16s %-12s %9.4g ms  fraction %s (target >= %.2f)  torch/lsce %s  accurate rows %s" % (
            mode, dtype, shape, best[0].split("/")[1], best[1], "%.3f" % frac if frac is not None else "-",
            want, "%.2fx" % (tt / best[1]) if tt else "-", "%.4f" % acc if acc is not None else "-"))
    trained = []
    for dtype in ("float32", "bfloat16", "float16", "float64"):
        for mode in ("fwd", "fwdbwd"):
            tb = fastest_exact(benches, mode + "-trained", dtype + "/N:4096/K:32000")
            if tb is None:
                continue
            nb = fastest_exact(benches, mode, dtype + "/N:4096/K:32000")
            acc, fr = counter(benches, tb[0], "rows_accurate"), counter(benches, tb[0], "probe_fraction")
            nacc = counter(benches, nb[0], "rows_accurate") if nb else None
            trained.append("  %-7s %-8s %-12s %9.4g ms  fraction %s  accurate rows %s (N(0,1) rows: %s)" % (
                mode, dtype, tb[0].split("/")[1], tb[1], "%.3f" % fr if fr is not None else "-",
                "%.4f" % acc if acc is not None else "-", "%.4f" % nacc if nacc is not None else "-"))
    if trained:
        out.append("rows like a trained model's (1.5 z + 10 at the target) at 4096x32000, fastest exact row:")
        out += trained
    out.append("targets: torch/lsce >= %gx; fraction >= %.2f (fwd, read) / %.2f (fwdbwd, copy)" % (
        TORCH_RATIO_TARGET, TARGETS["fwd"][1], TARGETS["fwdbwd"][1]))
    probes = []
    for kind in ("read", "copy", "exp32", "exp64", "expf64"):
        for t in (1, 2):
            bw = probe_best(benches, kind, t)
            if bw:
                probes.append("%s/%d %.1f" % (kind, t, bw / 1e9))
    if probes:
        out.append("probes (best, GB/s): " + ", ".join(probes))
    for t in (2, 1):
        ce, c64, rd = (probe_best(benches, k, t) for k in ("exp32", "exp64", "read"))
        if ce and rd:
            out.append("exp ceilings at %d threads: a float32 exp per logit (exp32) reads at %.3f of the "
                       "read probe, the exact rows' double exp (exp64) at %s" % (
                           t, ce / rd, "%.3f" % (c64 / rd) if c64 else "-"))
            break
    nl = sum(1 for b in benches if b.get("run_type", "iteration") == "iteration"
             and "/torch/" not in b["name"])
    nt = sum(1 for b in benches if b.get("run_type", "iteration") == "iteration"
             and "/torch/" in b["name"])
    errs = [b for b in benches if b.get("error_occurred")]
    out.append("%d runs (lsce-bench %d, torch %d), %d with errors" % (nl + nt, nl, nt, len(errs)))
    for b in errs:
        out.append("  error: %s: %s" % (b["name"], b.get("error_message", "")[:200]))
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lsce", required=True, action="append")
    ap.add_argument("--torch")
    ap.add_argument("--out", required=True)
    ap.add_argument("--grid", choices=("quick", "full"))
    ap.add_argument("--load-start")
    ap.add_argument("--load-end")
    ap.add_argument("--wall-s", type=float)
    ap.add_argument("--note", action="append", default=[],
                    help="a line for the context's notes (how the run went)")
    a = ap.parse_args()
    doc = load_partial(a.lsce[0])
    ctx = doc.setdefault("context", {})
    for path in a.lsce[1:]:
        more = load_partial(path)
        ctx.setdefault("more_runs", []).append(dict(more.get("context", {}), file=path))
        base = 1 + max((b.get("family_index", -1) for b in doc.get("benchmarks", [])), default=-1)
        for b in more.get("benchmarks", []):
            doc.setdefault("benchmarks", []).append(
                dict(b, family_index=base + b.get("family_index", 0)))
    if a.grid:
        ctx["lsce_grid"] = a.grid
    for key, text in (("load_avg_start", a.load_start), ("load_avg_end", a.load_end)):
        if text:
            ctx[key] = [float(v) for v in text.split()[:3]]
    if a.wall_s is not None:
        ctx["bench_wall_s"] = a.wall_s
    if a.note:
        ctx["notes"] = a.note
    benches = doc.setdefault("benchmarks", [])
    if a.torch and os.path.exists(a.torch):
        peer = load(a.torch)
        pctx = peer.get("context", {})
        for key in ("torch_version", "torch_threads"):
            if key in pctx:
                ctx[key] = pctx[key]
        base = 1 + max((b.get("family_index", -1) for b in benches), default=-1)
        for b in peer.get("benchmarks", []):
            b = dict(b)
            b["family_index"] = base + b.get("family_index", 0)
            benches.append(b)
    elif a.torch:
        print("merge: %s missing: the PyTorch peer did not run" % a.torch, file=sys.stderr)
    doc = finite_or_str(doc)
    os.makedirs(os.path.dirname(os.path.abspath(a.out)), exist_ok=True)
    tmp = a.out + ".tmp"
    with open(tmp, "w") as f:
        f.write(json.dumps(doc, indent=2, allow_nan=False) + "\n")
    os.replace(tmp, a.out)
    print(summary(doc))
    print("wrote %s" % a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
