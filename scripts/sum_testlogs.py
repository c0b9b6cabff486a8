"""Sums meson's test logs (every <builddir>/meson-logs/*.json) into the closing line
"N passed, M failed, S skipped": OK and EXPECTEDFAIL pass; FAIL, TIMEOUT, ERROR and UNEXPECTEDPASS
fail; SKIP skips. Exit 1 when something failed or no test ran. Stdlib only."""
import glob, json, os, sys

PASS = {"OK", "EXPECTEDFAIL"}
FAIL = {"FAIL", "TIMEOUT", "ERROR", "UNEXPECTEDPASS"}
SKIP = {"SKIP"}

def main(dirs):
    p = f = s = 0
    for d in dirs:
        for path in sorted(glob.glob(os.path.join(d, "meson-logs", "*.json"))):
            with open(path) as fh:
                for line in fh:
                    line = line.strip()
                    if not line:
                        continue
                    r = json.loads(line).get("result")
                    if r in PASS: p += 1
                    elif r in FAIL: f += 1
                    elif r in SKIP: s += 1
    print(f"{p} passed, {f} failed, {s} skipped")
    return 0 if f == 0 and p + s > 0 else 1

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["build"]))
