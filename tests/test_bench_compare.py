#!/usr/bin/python3
"""tests/test_bench_compare.py: scripts/bench-compare (bench/compare.py over Google Benchmark's
compare tool) on committed runs (tests/data/bench-compare, made by its make.py from two real runs of
one commit with 9 repetitions each):
  - old vs new-slow (new with one row made slower in every repetition): exit 1 and exactly that row
    reported SLOWER;
  - old vs new (the same code twice): exit 0, nothing SLOWER;
  - usage errors: exit 2; a missing file: exit 3.
Skips (77) when libbenchmark-tools is not installed (scripts/setup installs it)."""
import json
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
DATA = os.path.join(HERE, "data", "bench-compare")
TOOL = os.path.join(ROOT, "scripts", "bench-compare")


def run(*args):
    p = subprocess.run([TOOL, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return p.returncode, p.stdout, p.stderr


def slower(out):
    return sorted(line.split()[1].rstrip(":") for line in out.splitlines()
                  if line.startswith("SLOWER "))


def main():
    if not os.path.isfile("/usr/share/benchmark/gbench/report.py") and \
            not os.environ.get("LSCE_GBENCH_TOOLS"):
        print("skip: libbenchmark-tools is not installed (scripts/setup)")
        return 77
    old, new, slow = (os.path.join(DATA, f) for f in ("old.json", "new.json", "new-slow.json"))
    injected = json.load(open(slow))["context"]["injected_slowdown"]["name"]
    fails = []
    rc, out, err = run(old, slow)
    if rc != 1 or slower(out) != [injected]:
        fails.append("old vs new-slow: exit %d, SLOWER %s, want exit 1 and [%s]\n%s%s" % (
            rc, slower(out), injected, out[-1500:], err))
    rc, out, err = run(old, new)
    if rc != 0 or slower(out):
        fails.append("old vs new: exit %d, SLOWER %s, want exit 0 and none\n%s%s" % (
            rc, slower(out), out[-1500:], err))
    rc, out, err = run(old)
    if rc != 2:
        fails.append("one argument: exit %d, want 2" % rc)
    rc, out, err = run(old, os.path.join(DATA, "missing.json"))
    if rc != 3 or not err.startswith("lsce: "):
        fails.append("missing file: exit %d, stderr %r, want 3 and one 'lsce: ' line" % (rc, err))
    for f in fails:
        print("FAIL " + f)
    print("%d of 4 checks passed" % (4 - len(fails)))
    return 1 if fails else 0


if __name__ == "__main__":
    sys.exit(main())
