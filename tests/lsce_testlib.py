"""tests/lsce_testlib.py: what the Python tests share: running lsce, a check() that records into a
Tally (tests/test_oracle.py), and the variant catalog as `lsce variants --json` prints it
(include/lsce/variants.inc), so no test keeps its own list of variants."""
import json
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_oracle import Tally  # noqa: E402,F401  (re-exported)


def runner(lsce, timeout=300):
    """lsce(args) -> the CompletedProcess of `lsce ARGS` (text, output captured)."""
    def run(args):
        return subprocess.run([lsce] + list(args), capture_output=True, text=True, timeout=timeout)
    return run


def checker(tally):
    """check(name, cond, detail="") recording into tally."""
    def check(name, cond, detail=""):
        tally.ok(cond, f"{name}: {detail}")
    return check


def catalog(lsce):
    """The catalog in catalog order: a list of the rows of `lsce variants --json`."""
    return json.loads(subprocess.run([lsce, "variants", "--json"], capture_output=True, text=True,
                                     check=True, timeout=60).stdout)
