#!/usr/bin/python3
"""tests/data/bench-compare/make.py: makes the inputs of tests/test_bench_compare.py from two real
runs of the same commit, e.g.
    scripts/bench --quick --filter 'float32/N:64/K:1000' --repetitions 9 --out A.json
    scripts/bench --quick --filter 'float32/N:64/K:1000' --repetitions 9 --out B.json
    /usr/bin/python3 tests/data/bench-compare/make.py A.json B.json
It keeps the per-repetition entries (and the fields Google Benchmark's compare tool reads), writes
old.json (A), new.json (B) and new-slow.json: B with every repetition of one row (INJECT) made
FACTOR times slower, the row and factor recorded in its context as "injected_slowdown"."""
import json
import os
import sys

INJECT = "fwd/cpu_avx2/float32/N:64/K:1000"
FACTOR = 1.25
KEEP = ("name", "run_name", "run_type", "repetitions", "repetition_index", "threads",
        "iterations", "real_time", "cpu_time", "time_unit", "family_index",
        "per_family_instance_index")


def trim(doc):
    ctx = {k: doc["context"][k] for k in ("date", "commit", "machine", "num_cpus", "load_avg",
                                          "load_avg_start", "load_avg_end") if k in doc["context"]}
    benches = [{k: b[k] for k in KEEP if k in b} for b in doc["benchmarks"]
               if b.get("run_type", "iteration") == "iteration" and not b.get("error_occurred")]
    return {"context": ctx, "benchmarks": benches}


def write(path, doc):
    with open(path, "w") as f:
        f.write(json.dumps(doc, indent=0, sort_keys=True) + "\n")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    a, b = (trim(json.load(open(p))) for p in sys.argv[1:3])
    write(os.path.join(here, "old.json"), a)
    write(os.path.join(here, "new.json"), b)
    slow = json.loads(json.dumps(b))
    hit = 0
    for e in slow["benchmarks"]:
        if e["name"] == INJECT:
            e["real_time"] *= FACTOR
            e["cpu_time"] *= FACTOR
            hit += 1
    assert hit >= 2, "the row to slow down is not in the run: %s" % INJECT
    slow["context"]["injected_slowdown"] = {"name": INJECT, "factor": FACTOR, "repetitions": hit}
    write(os.path.join(here, "new-slow.json"), slow)


if __name__ == "__main__":
    main()
