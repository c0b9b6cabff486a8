"""Writes the committed seed corpus of the fuzz targets (tests/fuzz/corpus/): npy/ holds valid and
nearly valid .npy files that tests/corpus/{good,bad}_npy do not already cover (header spellings,
specials, byte orders); cli/ holds fuzz_cli inputs (argv lines, then "\\n%%\\n"-separated sections with
the bytes of @L, @T, @W; see fuzz_cli.c). Deterministic: rerunning rewrites the same bytes.
Usage: /usr/bin/python3 tests/fuzz/make_seeds.py [OUTDIR]   (default: tests/fuzz/corpus)"""
import io, os, struct, sys

import numpy as np

OUT = sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def npy(a):
    b = io.BytesIO()
    np.save(b, a, allow_pickle=False)
    return b.getvalue()


def raw(header, data=b"", version=1):
    """A .npy with the header text exactly as given (padded with spaces to a 64-byte boundary)."""
    pre = 10 if version == 1 else 12
    h = header.encode("latin-1")
    h = h + b" " * ((64 - (pre + len(h) + 1) % 64) % 64) + b"\n"
    if version == 1:
        head = b"\x93NUMPY\x01\x00" + struct.pack("<H", len(h))
    else:
        head = b"\x93NUMPY" + bytes([version, 0]) + struct.pack("<I", len(h))
    return head + h + data


def write(sub, name, data):
    d = os.path.join(OUT, sub)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


f8 = lambda xs: struct.pack("<%dd" % len(xs), *xs)
inf, nan = float("inf"), float("nan")

# ---- npy/ ----------------------------------------------------------------------------------------
write("npy", "v1_no_trailing_comma.npy", raw("{'descr': '<f8', 'fortran_order': False, 'shape': (2,)}", f8([1, 2])))
write("npy", "v1_keys_reordered.npy", raw("{'shape': (1, 2), 'descr': '<f8', 'fortran_order': False}", f8([1, -2])))
write("npy", "v1_double_quotes_tabs.npy", raw('{"descr":\t"<i8",\t"fortran_order": False, "shape": (2,), }', struct.pack("<2q", -100, 7)))
write("npy", "v1_long_suffix.npy", raw("{'descr': '<f8', 'fortran_order': False, 'shape': (1L, 2L), }", f8([0.5, 0.25])))
write("npy", "v2_scalar_i8.npy", raw("{'descr': '<i8', 'fortran_order': False, 'shape': (), }", struct.pack("<q", 3), version=2))
write("npy", "v3_native_f8.npy", raw("{'descr': '=f8', 'fortran_order': False, 'shape': (1, 3), }", f8([inf, -inf, nan]), version=3))
write("npy", "f8_specials_2x4.npy", npy(np.array([[0.0, -0.0, 5e-324, 1.7976931348623157e308], [-inf, inf, nan, -1e-300]])))
write("npy", "f2_specials_be_2x3.npy", npy(np.array([[0, 6e-8, 65504], [-np.inf, np.nan, -0.0]], dtype=">f2")))
write("npy", "bf16_specials_1x6.npy", npy(np.array([[0x0000, 0x0001, 0x7f7f, 0xff80, 0x7fc0, 0x8000]], dtype="<u2")))
write("npy", "f4_be_3x2.npy", npy(np.array([[1, 2], [3, 4], [-1e38, 1e-45]], dtype=">f4")))
write("npy", "i4_be_targets.npy", npy(np.array([0, -100, 2, 2147483647], dtype=">i4")))
write("npy", "i8_extremes.npy", npy(np.array([-(2**63), 2**63 - 1, -1, 0], dtype="<i8")))
write("npy", "shape_0x0.npy", npy(np.zeros((0, 0))))
write("npy", "shape_1x0_f4.npy", npy(np.zeros((1, 0), dtype=np.float32)))
write("npy", "header_64k_limit.npy", raw("{'descr': '<f8', 'fortran_order': False, 'shape': (1,), }" + " " * 65400, f8([1]), version=2))

# ---- cli/ ----------------------------------------------------------------------------------------
def cli(name, tokens, *sections):
    """fuzz_cli's form: argv lines, then each file's bytes after a "\\n%%\\n" separator."""
    b = "\n".join(tokens).encode()
    for s in sections:
        b += b"\n%%\n" + s
    write("cli", name, b)


SEED = ["--logits", "@l", "--targets", "@t"]
cli("ref_k_mean", ["reference"] + SEED + ["--variant", "k", "--smoothing", "0.1"])
cli("ref_ktw_none_grad", ["reference"] + SEED + ["--weights", "@w", "--variant", "k-torch-weighted",
    "--smoothing", "0.1", "--reduction", "none", "--grad-out", "g.npy", "--out", "o.npy"])
cli("ref_k2pad_sum_eq", ["reference", "--logits=@l", "--targets=@t", "--variant=k2-pad-kl",
    "--smoothing=0.3", "--pad-index=4", "--reduction=sum", "--precision=16", "--grad-out=g.npy"])
cli("ref_k1kl_p2048", ["reference"] + SEED + ["--variant", "k1-kl", "--smoothing", "1", "--precision", "2048"])
cli("ref_knll_ignore", ["reference"] + SEED + ["--weights", "@w", "--variant", "k-nll-weighted",
    "--smoothing", "0.25", "--ignore-index", "1", "--grad-out", "g.npy"])
cli("compare_seed", ["compare"] + SEED + ["--weights", "@w", "--smoothing", "0.1", "--pad-index", "4"])
cli("compare_json_sum", ["compare"] + SEED + ["--weights", "@w", "--smoothing", "0.3", "--reduction", "sum",
    "--ignore-index", "0", "--json"])
cli("variants_json", ["variants", "--json"])
cli("usage_errors", ["reference", "--smoothing", "1.5", "--variant", "nope", "--logits"])
cli("help", ["reference", "--help"])
cli("sections_f8_extremes",
    ["reference", "--logits", "@L", "--targets", "@T", "--variant", "k1-kl", "--smoothing", "0.1",
     "--reduction", "none", "--grad-out", "g.npy", "--precision", "16"],
    npy(np.array([[1e308, -1e308, 0.0], [-inf, 0.0, -inf], [5e-324, -5e-324, 0.0]])),
    npy(np.array([0, 1, 2], dtype=np.int64)))
cli("sections_f16_weights",
    ["compare", "--logits", "@L", "--targets", "@T", "--weights", "@W", "--smoothing", "0.5", "--pad-index", "1"],
    npy(np.array([[0.5, -2, 3, 65504], [-np.inf, 1, 1, 1]], dtype=np.float16)),
    npy(np.array([-100, 3], dtype=np.int32)),
    npy(np.array([0, 0, 1, 2], dtype=np.float64)))
cli("sections_bf16_nll",
    ["reference", "--logits", "@L", "--targets", "@T", "--weights", "@W", "--variant", "k-nll-weighted",
     "--smoothing", "0.1", "--grad-out", "g.npy"],
    npy(np.array([[0x3f80, 0x4000, 0xff80], [0x0001, 0x8000, 0x7f7f]], dtype="<u2")),
    npy(np.array([1, 0], dtype=np.int64)),
    npy(np.array([1, 0.5, 2], dtype=np.float32)))
cli("sections_nan_in_V",
    ["reference", "--logits", "@L", "--targets", "@T", "--variant", "k", "--smoothing", "0.1"],
    npy(np.array([[0.0, nan], [nan, nan]])), npy(np.array([-100, 0], dtype=np.int64)))
cli("sections_empty_mean",
    ["reference", "--logits", "@L", "--targets", "@T", "--variant", "k", "--smoothing", "0.1", "--grad-out", "g.npy"],
    npy(np.zeros((0, 3), dtype=np.float32)), npy(np.zeros((0,), dtype=np.int64)))
cli("sections_all_ignored_torch_mean",
    ["reference", "--logits", "@L", "--targets", "@T", "--weights", "@W", "--variant", "k-torch-weighted",
     "--smoothing", "0.1", "--grad-out", "g.npy"],
    npy(np.ones((2, 2))), npy(np.array([-100, -100], dtype=np.int64)), npy(np.array([1.0, 1.0])))
cli("sections_be_targets_mismatch",
    ["reference", "--logits", "@L", "--targets", "@T", "--variant", "k1", "--smoothing", "1e-3"],
    npy(np.array([[1, 2], [3, 4]], dtype=">f8")), npy(np.array([1, 0, 1], dtype=">i8")))
cli("sections_bad_header", ["compare", "--logits", "@L", "--targets", "@t", "--smoothing", "0"],
    raw("{'descr': '<f8', 'fortran_order': False, 'shape': (1, 5), }", f8([1, 2, 3])))

# diff_wide/: fuzz_diff inputs for its wide mode (LSCE_FUZZ_WIDE=1, issue #12: K up to min_K + 69,
# logits mostly inside the float32 single pass's guard): random bytes from a fixed generator, each
# dtype with the reference rung on and off, K byte 66-69 (the widest) or random
_rng = np.random.default_rng(20261130)
for _i in range(48):
    _b = bytearray(_rng.integers(0, 256, size=900, dtype=np.uint8).tobytes())
    _b[0] = (_i % 8) | (_b[0] & 0xF0)  # bit 0: reference rung off; bits 1-2: dtype
    if _i % 2 == 0:
        _b[3] = 66 + (_i // 2) % 4  # K = min_K + 66..69
    write("diff_wide", "wide_%02d" % _i, bytes(_b))
