#!/usr/bin/python3
"""tests/test_nccl_build.py OBJ LSCE NVCC SRCROOT NCCL_INC NCCL_LIBDIR -- NVCC_FLAGS...: the NCCL row
(impls/cuda/nccl_vocab.cu, cuda_nccl_vocab) builds; nothing here runs it (no GPU on these machines).
  1. the object the build made defines the row's entry points and its three kernels' launch stubs,
     and carries device code (a .nv_fatbin section; its sm_NN images where cuobjdump exists);
  2. its PTX under the build's nvcc flags has no f64 add/sub/mul without .rn (nothing ptxas may
     contract: the double-double merge and combiner need every operation rounded as written, as
     tests/test_ptx_fma.py checks for rowblock.cu) and at least the three kernels;
  3. `lsce impls --json` lists cuda_nccl_vocab, unavailable here with the reason lsce run gives;
  4. libnccl.so.2, which the row dlopens, loads from NCCL_LIBDIR and reports its version.
Exit 0 when all hold, 1 otherwise, 77 when the row was not built (no nccl.h, -Dnccl=disabled)."""
import ctypes
import json
import os
import subprocess
import sys
import tempfile

sys.dont_write_bytecode = True
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import test_ptx_fma as P  # noqa: E402  (PTX parsing and the build flags' PTX form)


def main():
    if len(sys.argv) < 2 or sys.argv[1] == "--skip":
        print("the NCCL row was not built (no nccl.h in the toolkit, or -Dnccl=disabled): skipped")
        return 77
    k = sys.argv.index("--")
    obj, lsce, nvcc, root, inc, libdir = sys.argv[1:7]
    flags = sys.argv[k + 1:]
    bad = []
    # 1. the object
    nm = subprocess.run(["nm", "-C", obj], capture_output=True, text=True).stdout
    for sym in ("lsce_cuda_nccl_vocab", "lsce_nccl_available", "lsce_isa_nccl", "shard_stats_kernel",
                "rank_merge_kernel", "shard_grad_kernel"):
        if sym not in nm:
            bad.append("%s does not define %s" % (os.path.basename(obj), sym))
    # the fat binary: its section, and (cuobjdump, where the toolkit has it) the sm_ images
    heads = subprocess.run(["objdump", "-h", obj], capture_output=True, text=True).stdout
    if ".nv_fatbin" not in heads:
        bad.append("no .nv_fatbin section (device code) in %s" % obj)
    cuobjdump = os.path.join(os.path.dirname(nvcc), "cuobjdump")
    elf = ""
    if os.path.exists(cuobjdump):
        elf = subprocess.run([cuobjdump, "--list-elf", obj], capture_output=True, text=True).stdout
        if "sm_" not in elf:
            bad.append("no sm_ device code in %s (cuobjdump --list-elf: %r)" % (obj, elf[:200]))
    print("object: %s, device code: %s" % (obj, " ".join(l.split()[-1] for l in elf.splitlines())
                                            or ".nv_fatbin (no cuobjdump to list it)"))
    # 2. the PTX under the build's flags
    with tempfile.TemporaryDirectory() as tmp:
        ptx = P.compile_ptx(nvcc, P.ptx_flags(flags, None) + ["-I" + inc],
                            os.path.join(root, "impls", "cuda", "nccl_vocab.cu"), tmp, "nccl_vocab")
    kernels = [n for n, _ in P.bodies(ptx, "entry")]
    found = P.findings(ptx, False)
    for name, what in found:
        bad.append("nccl_vocab.cu: %s: %s" % (name, what))
    if len(kernels) < 3:
        bad.append("nccl_vocab.cu: %d kernels in the PTX, want at least 3" % len(kernels))
    print("PTX: %d kernels, %d contractions" % (len(kernels), len(found)))
    # 3. the registry
    doc = json.loads(subprocess.run([lsce, "impls", "--json"], capture_output=True, text=True).stdout)
    rows = doc["impls"] if isinstance(doc, dict) else doc
    row = [r for r in rows if r.get("name") == "cuda_nccl_vocab"]
    if not row:
        bad.append("lsce impls --json has no cuda_nccl_vocab")
    else:
        print("lsce impls: cuda_nccl_vocab available=%s isa=%s" % (row[0].get("available"), row[0].get("isa")))
    # 4. the library the row loads
    try:
        lib = ctypes.CDLL(os.path.join(libdir, "libnccl.so.2"))
        v = ctypes.c_int(0)
        if lib.ncclGetVersion(ctypes.byref(v)) != 0 or v.value < 20000:
            bad.append("ncclGetVersion: %d" % v.value)
        print("libnccl.so.2 from %s: version %d" % (libdir, v.value))
    except OSError as exc:
        bad.append("libnccl.so.2 does not load from %s: %s" % (libdir, exc))
    for b in bad:
        print("FAIL " + b)
    print("%d passed, %d failed, 0 skipped" % (4 - min(4, len(bad)), len(bad)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
