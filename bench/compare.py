#!/usr/bin/python3
"""bench/compare.py: which benchmarks got slower between two bench JSONs, by Google Benchmark's own
compare tool (Debian's libbenchmark-tools: /usr/share/benchmark/gbench, the library behind
compare.py): its difference report and its Mann-Whitney U test over the repetitions of each
benchmark (two-sided, on real time and on CPU time, as compare.py's --utest).

A benchmark is reported SLOWER when all of these hold, on the clock --clock names (cpu, the
default; real; or both):
  - both files hold at least 2 repetitions of it (the U test's minimum; 9 or more make it reliable,
    compare.py warns below that),
  - the U test rejects "same distribution" at --alpha (default 0.05),
  - the median grew by more than --min-change (default 0.05, 5 %).
Why CPU time by default: on a shared machine the wall time also measures the other jobs. The two
runs of one commit in tests/data/bench-compare (this 2-core machine, load average about 10) show
it: cpu_avx2's float32 64x1000 forward took 0.63 and 0.52 ms of wall time per call (median) but
0.108 and 0.109 ms of CPU time, and cpu_sharded's wall time moved +7.6 % at p = 0.034 while its CPU
time did not move (p = 0.66). CPU time counts every thread of the process, so a loss of thread
scaling shows on the real clock only: such rows are printed ("real time only"), not counted; on a
quiet machine, --clock real or both judges them.
The verdict covers the implementation rows (fwd/..., fwdbwd/... except PyTorch's, reference/...).
The probes (bandwidth/...) and the PyTorch peer measure the machine and the libraries, not this
code: their changes are printed as context, never counted.

usage: compare.py OLD.json NEW.json [--alpha A] [--min-change F] [--clock cpu|real|both]
                  [--tools DIR] [--no-table]
Exit status: 0 when no row got slower, 1 when one did, 2 on usage errors, 3 when the compare tool
or a file could not be read.
"""
import argparse
import json
import os
import statistics
import sys

DEFAULT_TOOLS = "/usr/share/benchmark"  # libbenchmark-tools (scripts/setup installs it)


def load_tools(path):
    """Google Benchmark's gbench package (report.py, util.py) from libbenchmark-tools."""
    if not os.path.isfile(os.path.join(path, "gbench", "report.py")):
        raise ImportError("%s/gbench/report.py missing (apt-get install libbenchmark-tools)" % path)
    sys.path.insert(0, path)
    from gbench import report, util  # noqa: E402
    return report, util


def timed_entries(doc):
    """The benchmarks the compare tool can use: no errors, a time (skipped rows have none)."""
    out = dict(doc)
    out["benchmarks"] = [b for b in doc.get("benchmarks", [])
                         if not b.get("error_occurred") and b.get("real_time", 0) > 0]
    return out


def is_row(name):
    parts = name.split("/")
    return (parts[0] in ("fwd", "fwdbwd") and len(parts) > 1 and parts[1] != "torch") or \
        parts[0] == "reference"


def median_change(ms, key):
    old = [m[key] for m in ms]
    new = [m[key + "_other"] for m in ms]
    return statistics.median(new) / statistics.median(old) - 1 if old and new and \
        statistics.median(old) > 0 else 0.0


def verdicts(diff, alpha, min_change, clock):
    """(name, real-time change, real p, CPU change, CPU p, reps old, reps new, slower) per
    iteration benchmark; p is None without the U test."""
    out = []
    for d in diff:
        if d.get("run_type") == "aggregate" or d["name"] == "OVERALL_GEOMEAN":
            continue
        ms = d["measurements"]
        change, cchange = median_change(ms, "real_time"), median_change(ms, "cpu_time")
        u = d.get("utest") or {}
        p, cp = u.get("time_pvalue"), u.get("cpu_pvalue")
        real_slower = p is not None and p < alpha and change > min_change
        cpu_slower = cp is not None and cp < alpha and cchange > min_change
        slower = {"cpu": cpu_slower, "real": real_slower,
                  "both": cpu_slower and real_slower}[clock]
        out.append((d["name"], change, p, cchange, cp, u.get("nr_of_repetitions", len(ms)),
                    u.get("nr_of_repetitions_other", len(ms)), slower))
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("old")
    ap.add_argument("new")
    ap.add_argument("--alpha", type=float, default=0.05)
    ap.add_argument("--min-change", type=float, default=0.05)
    ap.add_argument("--clock", choices=("cpu", "real", "both"), default="cpu")
    ap.add_argument("--tools", default=os.environ.get("LSCE_GBENCH_TOOLS", DEFAULT_TOOLS))
    ap.add_argument("--no-table", action="store_true", help="skip the compare tool's table")
    try:
        a = ap.parse_args(argv)
    except SystemExit as e:
        return 2 if e.code else 0
    if not (0 < a.alpha < 1) or a.min_change < 0:
        print("lsce: bench-compare: --alpha must be in (0, 1) and --min-change >= 0",
              file=sys.stderr)
        return 2
    try:
        report, util = load_tools(a.tools)
    except ImportError as e:
        print("lsce: bench-compare: cannot load Google Benchmark's compare tool: %s" % e,
              file=sys.stderr)
        return 3
    docs = []
    for path in (a.old, a.new):
        try:
            docs.append(timed_entries(util.sort_benchmark_results(
                util.load_benchmark_results(path))))
        except (OSError, ValueError, KeyError) as e:
            print("lsce: %s: %s" % (path, e), file=sys.stderr)
            return 3
    diff = report.get_difference_report(docs[0], docs[1], utest=True)
    if not a.no_table:
        for line in report.print_difference_report(diff, utest=True, utest_alpha=a.alpha,
                                                   use_color=False):
            print(line)
        print()
    res = verdicts(diff, a.alpha, a.min_change, a.clock)
    rows = [r for r in res if is_row(r[0])]
    context = [r for r in res if not is_row(r[0])]
    untested = [r for r in rows if r[2] is None]
    slower = [r for r in rows if r[-1]]
    print("bench-compare: %s -> %s: %d rows compared; SLOWER = the U test rejects at alpha %g and "
          "the median grew by more than %g %%, on %s" % (
              a.old, a.new, len(rows), a.alpha, 100 * a.min_change,
              {"cpu": "CPU time", "real": "real time", "both": "real and CPU time"}[a.clock]))
    for name, change, p, cchange, cp, r0, r1, _ in context:
        if p is not None and p < a.alpha and abs(change) > a.min_change:
            print("  context (machine or peer, not counted): %s real time %+.1f %% (p = %.3g)" % (
                name, 100 * change, p))
    for name, change, p, cchange, cp, r0, r1, slow in rows:
        if a.clock == "cpu" and not slow and p is not None and p < a.alpha and \
                change > a.min_change:
            print("  real time only (load or thread scaling; not counted with --clock cpu): %s "
                  "real %+.1f %% (p = %.3g), CPU %+.1f %% (p = %.3g)" % (
                      name, 100 * change, p, 100 * cchange, cp))
    if untested:
        print("  %d rows without the U test (fewer than 2 repetitions on a side), not judged: "
              "run scripts/bench with --repetitions 9" % len(untested))
    for name, change, p, cchange, cp, r0, r1, _ in slower:
        print("SLOWER %s: median real time %+.1f %% (U test p = %.3g), CPU time %+.1f %% (p = %.3g), "
              "%d vs %d repetitions" % (name, 100 * change, p, 100 * cchange, cp, r0, r1))
    print("bench-compare: %d slower" % len(slower))
    return 1 if slower else 0


if __name__ == "__main__":
    sys.exit(main())
