"""tests/test_ptx_fma.py NVCC SRCROOT -- NVCC_FLAGS...: the device code has no contracted FMA (suite
quick; needs nvcc). The double-double routines of lsce/dd.h (two_sum, fast_two_sum, the low parts of
dd_mul, the k ln2 reduction of dd_exp, ...) are exact only when every product and sum is rounded as
written. nvcc's default --fmad=true lets NVVM fuse a*b+c into fma.rn.f64 and leaves the other
products as mul.f64 without a rounding modifier, which ptxas may fuse later; --fmad=false emits
every operation with .rn, which neither may fuse (PTX ISA: "add/sub/mul with .rn are not
contracted").

With the build's own nvcc flags (NVCC_FLAGS, the -gencode pairs replaced by -arch=compute_NN of
the first), the test compiles to PTX and checks:
  1. impls/cuda/rowblock.cu: no f64 add/sub/mul without .rn anywhere (nothing ptxas may contract);
  2. tests/ptx_dd.cu, a kernel per double-double and combiner routine in which the explicit fma()
     calls (and libdevice's exp and log1p, which use fma inside) are out-of-line functions: no
     fma.rn.f64 in any kernel body (every fma left is a contraction) and no f64 add/sub/mul
     without .rn;
  3. the same two files with --fmad=true in place of the build's --fmad=false: the checks must
     find contractions (so they are not blind: this is what the build did before issue 19).
Exit 0 when all hold, 1 otherwise, 77 without nvcc."""
import os
import re
import subprocess
import sys
import tempfile

PLAIN = re.compile(r"\b(add|sub|mul)\.f64\b")   # no rounding modifier: contractible
FMA = re.compile(r"\bfma\.rn\.f64\b")


def bodies(ptx, kind):
    """(name, body) of every `.entry` (kind 'entry') or `.func` in the PTX, braces matched."""
    out = []
    for m in re.finditer(r"\.%s\s+(?:\.param\s+\.\w+\s+\w+\s+)?\(?\s*([A-Za-z_$][\w$]*)" % kind, ptx):
        name, i = m.group(1), ptx.find("{", m.end())
        depth, j = 0, i
        while j < len(ptx):
            if ptx[j] == "{":
                depth += 1
            elif ptx[j] == "}":
                depth -= 1
                if depth == 0:
                    break
            j += 1
        out.append((name, ptx[i:j + 1]))
    return out


def ptx_flags(flags, fmad):
    out, i, arch = [], 0, None
    while i < len(flags):
        f = flags[i]
        if f == "-gencode":
            a = re.search(r"compute_(\w+)", flags[i + 1])
            arch = arch or a.group(1)
            i += 2
            continue
        if f.startswith("--fmad="):
            f = "--fmad=" + fmad if fmad else f
        if f == "-Xcompiler":  # host flags do not matter for PTX
            i += 2
            continue
        out.append(f)
        i += 1
    if fmad and not any(f.startswith("--fmad=") for f in out):
        out.append("--fmad=" + fmad)
    return out + ["-arch=compute_" + (arch or "90")]


def compile_ptx(nvcc, flags, src, tmp, tag):
    dst = os.path.join(tmp, tag + ".ptx")
    r = subprocess.run([nvcc, "-ptx"] + flags + [src, "-o", dst], capture_output=True, text=True)
    if r.returncode:
        sys.exit("test_ptx_fma: nvcc failed on %s:\n%s" % (src, r.stderr))
    return open(dst).read()


def findings(ptx, marked):
    """Contractions in the PTX: [(function, what)]."""
    found = []
    kinds = ["entry"] if marked else ["entry", "func"]
    for kind in kinds:
        for name, body in bodies(ptx, kind):
            n_plain = len(PLAIN.findall(body))
            if n_plain:
                found.append((name, "%d f64 add/sub/mul without .rn (contractible by ptxas)" % n_plain))
            if marked and FMA.search(body):
                found.append((name, "%d fma.rn.f64 that no fma() call wrote (contracted)" % len(FMA.findall(body))))
    return found


def main():
    if "--" not in sys.argv:
        sys.exit("usage: test_ptx_fma.py NVCC SRCROOT -- NVCC_FLAGS...")
    k = sys.argv.index("--")
    nvcc, root, flags = sys.argv[1], sys.argv[2], sys.argv[k + 1:]
    if not os.path.exists(nvcc):
        print("no nvcc: skipped")
        return 77
    rowblock = os.path.join(root, "impls", "cuda", "rowblock.cu")
    dd = os.path.join(root, "tests", "ptx_dd.cu")
    bad = 0
    with tempfile.TemporaryDirectory() as tmp:
        for fmad, expect_clean in [(None, True), ("true", False)]:
            fl = ptx_flags(flags, fmad)
            for src, marked in [(rowblock, False), (dd, True)]:
                ptx = compile_ptx(nvcc, fl, src, tmp, "%s-%s" % (os.path.basename(src), fmad or "build"))
                kernels = [n for n, _ in bodies(ptx, "entry")]
                found = findings(ptx, marked)
                where = "%s with %s" % (os.path.basename(src), "the build's flags" if expect_clean else "--fmad=true")
                if expect_clean:
                    for name, what in found:
                        print("FAIL %s: %s: %s" % (where, name, what))
                    bad += len(found)
                    if not kernels:
                        print("FAIL %s: no kernels found in the PTX" % where)
                        bad += 1
                    print("%s: %d kernels, %d contractions" % (where, len(kernels), len(found)))
                elif not found:
                    print("FAIL %s: the check finds no contraction: it is blind" % where)
                    bad += 1
                else:
                    print("%s: %d contractions found, as expected (e.g. %s: %s)" % (where, len(found), *found[0]))
    print("ptx_fma: %s" % ("FAIL" if bad else "ok"))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
