#!/usr/bin/python3
"""report/make_report.py: writes report/REPORT.md and its SVG figures from lsce's data files.

It runs `lsce variants`, `lsce impls`, `lsce compare` (the seed example and a generated K = 32000
case) and `lsce check` (the article's misprint) itself and saves what they print in the data
folder; it reads verify-*.json, peers-*.json, bench-*.json and gpu/*.json when they exist. Every
number in the report is read from one of those files (each section names its file) or computed
from them; the only typed numbers are the targets of docs/accuracy.md and the article's quotations.
Same inputs, same bytes out (no dates of its own, SVG ids salted, files sorted).

usage: make_report.py [--data report/data] [--out report/REPORT.md] [--lsce build/cli/lsce]
                      [--offline]
  --offline  do not run lsce: use the compare/check/variants/impls JSONs already in --data
"""
import argparse
import glob
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.dont_write_bytecode = True          # importing fixtures/golden.py must not write into the tree
sys.path.insert(0, os.path.join(ROOT, "fixtures"))  # golden (the fixtures' own SHA-256 helper)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # lsce_report/ and speed.py
from lsce_report.data import produce  # noqa: E402
from lsce_report.fmt import rel  # noqa: E402
from lsce_report.report import Report  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default=os.path.join(ROOT, "report", "data"))
    ap.add_argument("--out", default=os.path.join(ROOT, "report", "REPORT.md"))
    ap.add_argument("--lsce", default=os.path.join(ROOT, "build", "cli", "lsce"))
    ap.add_argument("--offline", action="store_true",
                    help="do not run lsce; use the JSONs it saved in --data before")
    a = ap.parse_args()
    os.makedirs(a.data, exist_ok=True)
    if not a.offline:
        if not os.access(a.lsce, os.X_OK):
            print("make_report: %s not found or not executable (build it: ninja -C build; or pass "
                  "--offline to use the saved JSONs)" % a.lsce, file=sys.stderr)
            return 3
        produce(os.path.abspath(a.lsce), os.path.abspath(a.data))
    rep = Report(a)
    text = rep.build()
    # Drop figures of an earlier run that this run did not make.
    for old in sorted(glob.glob(os.path.join(rep.figdir, "*.svg"))):
        if os.path.basename(old) not in rep.made:
            os.remove(old)
    tmp = rep.out + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, rep.out)
    print("make_report: wrote %s and %d figures in %s" % (rel(rep.out), len(rep.made),
                                                           rel(rep.figdir)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
