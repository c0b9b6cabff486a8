#!/usr/bin/python3
"""bench/peers/torch_bench.py: the PyTorch CPU peer of lsce-bench, on the same grid.

Times F.cross_entropy(logits, targets, label_smoothing=0.1) (mean) with torch.set_num_threads(2):
forward on logits without requires_grad (`fwd/torch/<dtype>/N:<n>/K:<k>`), and forward plus
backward through autograd, the gradient written into logits.grad (`fwdbwd/torch/...`). Logits are
N(0,1) and targets uniform, from a fixed seed. Timing follows Google Benchmark: each repetition
runs 1, then more iterations until it lasts at least --min-time seconds (time.perf_counter around
the iterations), and reports the mean per iteration; with several repetitions the aggregates mean,
median, stddev and min follow. A call slower than $LSCE_BENCH_MAX_CALL_S (default 30 s) ends the
repetitions of its shape. Output: Google Benchmark's JSON schema, real_time in ms, and
torch_version in the context.

usage: torch_bench.py [--quick] [--shapes FILE] [--filter REGEX] [--out FILE] [--min-time S]
                      [--repetitions R]
--shapes FILE: the shapes to time, one "fwd|fwdbwd float32|bfloat16 N K" a line (scripts/bench
writes it from lsce-bench's own list, so the peer and the rows share one grid); without it the
built-in grid below (or --quick's subset).
"""
import argparse
import datetime
import json
import math
import os
import platform
import re
import socket
import statistics
import sys
import time

GRID_N = [1, 64, 4096, 65536]
GRID_K = [10, 1000, 32000, 128256, 256000]
FIT_BYTES = 8 << 30  # logits, targets and gradient must fit this, as in lsce-bench
QUICK = [("float32", 0, 64, 1000), ("float32", 1, 64, 1000),
         ("float32", 0, 4096, 32000), ("float32", 1, 4096, 32000),
         ("bfloat16", 0, 4096, 32000)]
SMOOTHING = 0.1
SEED = 0x6C736365
# Peak memory of the composite, in logits-sized tensors (log_softmax output, gradient, autograd
# intermediates); a shape above the memory budget is reported as skipped, not run.
TORCH_COPIES = {0: 3, 1: 6}


def mem_available():
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 16 << 30


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def grid(quick):
    if quick:
        return list(QUICK)
    rows = []
    for dt in ("float32", "bfloat16"):
        size = 4 if dt == "float32" else 2
        for bwd in (0, 1):
            for n in GRID_N:
                for k in GRID_K:
                    if n * k * 2 * size + n * 8 <= FIT_BYTES:
                        rows.append((dt, bwd, n, k))
    return rows


def read_shapes(path):
    rows = []
    with open(path) as f:
        for line in f:
            if line.strip():
                mode, dt, n, k = line.split()
                rows.append((dt, 1 if mode == "fwdbwd" else 0, int(n), int(k)))
    order = {"float32": 0, "bfloat16": 1}
    return sorted(rows, key=lambda r: (order.get(r[0], 2), r[1], r[2], r[3]))


def name_of(dt, bwd, n, k):
    return "%s/torch/%s/N:%d/K:%d" % ("fwdbwd" if bwd else "fwd", dt, n, k)


def run_once(torch, F, x, t, bwd, iters):
    """Wall and process CPU seconds of `iters` calls."""
    c0 = time.process_time()
    t0 = time.perf_counter()
    for _ in range(iters):
        if bwd:
            x.grad = None
            loss = F.cross_entropy(x, t, label_smoothing=SMOOTHING)
            loss.backward()
        else:
            loss = F.cross_entropy(x, t, label_smoothing=SMOOTHING)
    t1 = time.perf_counter()
    c1 = time.process_time()
    if not math.isfinite(float(loss)):
        raise RuntimeError("non-finite loss %r" % float(loss))
    return t1 - t0, c1 - c0


def measure(torch, F, x, t, bwd, min_time):
    """Google Benchmark's sizing: grow the iteration count until a run lasts min_time."""
    iters = 1
    while True:
        wall, cpu = run_once(torch, F, x, t, bwd, iters)
        if wall >= min_time or iters >= 1_000_000_000:
            return iters, wall, cpu
        mult = min_time * 1.4 / max(wall, 1e-9)
        nxt = int(iters * mult) + 1 if wall / min_time > 0.1 else iters * 10
        iters = max(iters + 1, min(nxt, iters * 10))


def entry(fam, inst, name, reps, idx, iters, real_ms, cpu_ms, bytes_per_iter, n, label,
          aggregate=None):
    e = {"name": name if aggregate is None else name + "_" + aggregate,
         "family_index": fam, "per_family_instance_index": inst, "run_name": name,
         "run_type": "iteration" if aggregate is None else "aggregate",
         "repetitions": reps, "threads": 1}
    if aggregate is None:
        e["repetition_index"] = idx
    else:
        e["aggregate_name"] = aggregate
        e["aggregate_unit"] = "time"
    e.update({"iterations": iters, "real_time": real_ms, "cpu_time": cpu_ms, "time_unit": "ms"})
    if real_ms > 0 and aggregate in (None, "mean", "median", "min"):
        e["bytes_per_second"] = bytes_per_iter / (real_ms * 1e-3)
        e["items_per_second"] = n / (real_ms * 1e-3)
    e["n_threads"] = 2.0
    e["label"] = label
    return e


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--shapes")
    ap.add_argument("--filter", default="")
    ap.add_argument("--out", default="-")
    ap.add_argument("--min-time", type=float, default=None)
    ap.add_argument("--repetitions", type=int, default=None)
    a = ap.parse_args()
    min_time = a.min_time if a.min_time is not None else (0.2 if a.quick else 0.5)
    reps = a.repetitions if a.repetitions is not None else (1 if a.quick else 3)
    pat = re.compile(a.filter) if a.filter else None
    try:
        max_call_s = float(os.environ.get("LSCE_BENCH_MAX_CALL_S", "30"))
    except ValueError:
        max_call_s = 30.0

    import torch
    import torch.nn.functional as F
    torch.set_num_threads(2)
    dtypes = {"float32": torch.float32, "bfloat16": torch.bfloat16}
    label = "torch %s F.cross_entropy(label_smoothing=%g), %d threads" % (
        torch.__version__, SMOOTHING, torch.get_num_threads())
    benches = []
    fam = -1
    last_family = None
    todo = [r for r in (read_shapes(a.shapes) if a.shapes else grid(a.quick))
            if not pat or pat.search(name_of(*r))]
    for i_row, (dt, bwd, n, k) in enumerate(todo):
        name = name_of(dt, bwd, n, k)
        progress = "[%d/%d]" % (i_row + 1, len(todo))
        family = name.rsplit("/N:", 1)[0]
        if family != last_family:
            fam, inst, last_family = fam + 1, 0, family
        else:
            inst += 1
        esize = 4 if dt == "float32" else 2
        bytes_per_iter = n * k * esize * (2 if bwd else 1)
        need = TORCH_COPIES[bwd] * n * k * esize
        base = {"name": name, "family_index": fam, "per_family_instance_index": inst,
                "run_name": name, "run_type": "iteration", "repetitions": reps,
                "repetition_index": 0, "threads": 1, "iterations": 0, "real_time": 0,
                "cpu_time": 0, "time_unit": "ms", "error_occurred": True}
        if need > 0.6 * mem_available():
            base["error_message"] = "skipped: needs about %.1f GiB, %.1f GiB available" % (
                need / 2**30, mem_available() / 2**30)
            benches.append(base)
            print("torch_bench: %s %s: %s" % (progress, name, base["error_message"]),
                  file=sys.stderr)
            continue
        x = t = None
        try:
            g = torch.Generator().manual_seed(SEED)
            x = torch.randn(n, k, generator=g).to(dtypes[dt])
            t = torch.randint(0, k, (n,), generator=g)
            if bwd:
                x.requires_grad_(True)
            runs = []
            for r in range(reps):
                iters, wall, cpu = measure(torch, F, x, t, bwd, min_time)
                runs.append((iters, wall / iters * 1e3, cpu / iters * 1e3))
                if wall / iters > max_call_s:
                    break  # one slow call is the measurement; more would not fit the budget
            for r, (iters, real_ms, cpu_ms) in enumerate(runs):
                benches.append(entry(fam, inst, name, len(runs), r, iters, real_ms, cpu_ms,
                                     bytes_per_iter, n, label))
            print("torch_bench: %s %s: %.4g ms" % (progress, name,
                                                   statistics.median(r[1] for r in runs)),
                  file=sys.stderr)
            if len(runs) > 1:
                real = [r[1] for r in runs]
                cpu = [r[2] for r in runs]
                for agg, fn in (("mean", statistics.mean), ("median", statistics.median),
                                ("stddev", statistics.stdev), ("min", min)):
                    benches.append(entry(fam, inst, name, len(runs), None, len(runs), fn(real),
                                         fn(cpu), bytes_per_iter, n, label, aggregate=agg))
        except Exception as ex:  # bfloat16 kernels missing, out of memory, ...
            first = (str(ex).splitlines() or [""])[0][:300]
            base["error_message"] = "%s: %s" % (type(ex).__name__, first)
            benches.append(base)
            print("torch_bench: %s %s: %s" % (progress, name, base["error_message"]),
                  file=sys.stderr)
        finally:
            del x, t

    ctx = {
        "date": datetime.datetime.now(datetime.timezone.utc).astimezone().isoformat(
            timespec="seconds"),
        "host_name": socket.gethostname(),
        "executable": os.path.abspath(__file__),
        "num_cpus": os.cpu_count(),
        "machine": cpu_model(),
        "torch_version": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "python": sys.version.split()[0],
        "load_avg": list(os.getloadavg()),
        "library_build_type": "release",
    }
    doc = {"context": ctx, "benchmarks": benches}
    text = json.dumps(doc, indent=2, allow_nan=False) + "\n"
    if a.out == "-":
        sys.stdout.write(text)
    else:
        tmp = a.out + ".tmp"
        with open(tmp, "w") as f:
            f.write(text)
        os.replace(tmp, a.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
