#!/usr/bin/python3
"""Write the committed .npy corpus: tests/corpus/bad_npy/ (malformed or unsupported files, with
EXPECTED.txt giving, per file, the message the reader must print after "lsce: <path>: ") and
tests/corpus/good_npy/ (small valid seeds). Stdlib only, deterministic: rerunning rewrites the
same bytes. Usage: make_bad_npy.py [CORPUS_DIR]  (default: tests/corpus next to this script)."""
import os
import struct
import sys

MAGIC = b"\x93NUMPY"


def npy(header, data=b"", version=(1, 0), hlen=None, pad=True, growth=0):
    """A .npy file from header text, padded as numpy pads (spaces, '\\n', 64-byte alignment)."""
    h = header.encode("latin1") + b" " * growth
    pre = 10 if version[0] == 1 else 12
    if pad:
        padlen = 64 - ((pre + len(h) + 1) % 64)
        h = h + b" " * padlen + b"\n"
    n = len(h) if hlen is None else hlen
    size = struct.pack("<H", n) if version[0] == 1 else struct.pack("<I", n)
    return MAGIC + bytes(version) + size + h + data


def hdr(descr, shape, fortran="False"):
    return "{'descr': '%s', 'fortran_order': %s, 'shape': %s, }" % (descr, fortran, shape)


def f8(*vals):
    return struct.pack("<%dd" % len(vals), *vals)


GOOD3 = hdr("<f8", "(3,)")

# (file name, bytes, message after "lsce: <path>: ")
BAD = [
    ("empty.npy", b"", "not a .npy file (file is empty)"),
    ("bad_magic.npy", b"\x93NUMPZ" + npy(GOOD3, f8(1, 2, 3))[6:], "not a .npy file (bad magic)"),
    ("zip_not_npy.npy", b"PK\x03\x04" + bytes(60), "not a .npy file (bad magic)"),
    ("truncated_preamble.npy", MAGIC + b"\x01\x00\x76",
     "bad header: file ends inside the preamble (9 bytes)"),
    ("truncated_header.npy", npy(GOOD3, f8(1, 2, 3))[:40],
     "bad header: header length 118 runs past the end of the file (40 bytes)"),
    ("version_4_0.npy", npy(GOOD3, f8(1, 2, 3), version=(4, 0)),
     "unsupported .npy format version 4.0"),
    ("zero_length_header.npy", MAGIC + b"\x01\x00\x00\x00" + f8(1),
     "bad header: header length is 0"),
    ("header_len_past_end.npy", npy(GOOD3, f8(1, 2, 3), hlen=0xFFFF),
     "bad header: header length 65535 runs past the end of the file (152 bytes)"),
    ("header_len_past_end_v2.npy", npy(GOOD3, f8(1, 2, 3), version=(2, 0), hlen=0x7FFFFFFF),
     "bad header: header length 2147483647 runs past the end of the file (152 bytes)"),
    ("non_ascii_header_v3.npy",
     npy("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), 'x\u00e9': 1}"
         .encode("utf-8").decode("latin1"), f8(1, 2, 3), version=(3, 0)),
     "bad header: byte 0xc3 at header offset 58 is not printable ASCII"),
    ("shape_absurd.npy", npy(hdr("<f8", "(4611686018427387904, 4611686018427387904)"), f8(1)),
     "bad header: shape (4611686018427387904, 4611686018427387904) is too large"),
    ("shape_overflow_int64.npy", npy(hdr("<f8", "(9223372036854775808,)"), f8(1)),
     "bad header: dimension in 'shape' overflows int64"),
    ("shape_negative.npy", npy(hdr("<f8", "(-3,)"), f8(1, 2, 3)),
     "bad header: negative dimension in 'shape'"),
    ("shape_3d.npy", npy(hdr("<f8", "(2, 2, 2)"), f8(*range(8))),
     "unsupported shape with 3 dimensions (at most 2 are supported)"),
    ("shape_not_tuple.npy", npy(hdr("<f8", "(3)"), f8(1, 2, 3)),
     "bad header: 'shape' must be a tuple (a 1-tuple needs a trailing comma)"),
    ("dtype_i1.npy", npy(hdr("|i1", "(4,)"), bytes([1, 2, 0xFF, 0x80])),
     "unsupported dtype '|i1'"),
    ("dtype_object.npy",
     npy(hdr("|O", "(1,)"), b"\x80\x04\x95\x05\x00\x00\x00\x00\x00\x00\x00K\x01\x85\x94."),
     "unsupported dtype '|O'"),
    ("dtype_c16.npy", npy(hdr("<c16", "(1,)"), f8(1, 0)), "unsupported dtype '<c16'"),
    ("dtype_S3.npy", npy(hdr("|S3", "(2,)"), b"abcdef"), "unsupported dtype '|S3'"),
    ("dtype_U4.npy", npy(hdr("<U4", "(1,)"), "abcd".encode("utf-32-le")),
     "unsupported dtype '<U4'"),
    ("dtype_structured.npy", npy("{'descr': [('a', '<f8'), ('b', '<i4')], "
                                 "'fortran_order': False, 'shape': (1,), }", f8(1) + bytes(4)),
     "unsupported dtype (structured arrays are not supported)"),
    ("fortran_order_true.npy", npy(hdr("<f8", "(2, 3)", "True"), f8(*range(6))),
     "Fortran order is not supported"),
    ("missing_key.npy", npy("{'descr': '<f8', 'shape': (3,), }", f8(1, 2, 3)),
     "bad header: missing key 'fortran_order'"),
    ("duplicate_key.npy",
     npy("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), 'shape': (3,), }", f8(1, 2, 3)),
     "bad header: duplicate key 'shape'"),
    ("unknown_key.npy",
     npy("{'descr': '<f8', 'fortran_order': False, 'shape': (3,), 'extra': 0, }", f8(1, 2, 3)),
     "bad header: unknown key 'extra'"),
    ("bad_literal_paren.npy", npy("{'descr': '<f8', 'fortran_order': False, 'shape': (3,}",
                                  f8(1, 2, 3)),
     "bad header: expected a dimension in 'shape' at header offset 53, found '}'"),
    ("bad_literal_bool.npy", npy(hdr("<f8", "(3,)", "Flase"), f8(1, 2, 3)),
     "bad header: 'fortran_order' must be True or False"),
    ("bad_literal_not_dict.npy", npy("descr='<f8', fortran_order=False, shape=(3,)", f8(1, 2, 3)),
     "bad header: expected '{' at header offset 0, found 'd'"),
    ("truncated_data.npy", npy(hdr("<f8", "(3, 5)"), f8(*range(15))[:60]),
     "data is truncated: expected 120 bytes, found 60"),
    ("data_too_long.npy", npy(GOOD3, f8(1, 2, 3, 4)),
     "data is longer than the header says: expected 24 bytes, found 32"),
]


def numpy_save(descr, shape, data, version=(1, 0)):
    """Byte for byte what numpy.save writes (including the growth padding of numpy >= 1.23)."""
    if len(shape) == 0:
        s, growth = "()", 0
    else:
        s = "(%d,)" % shape[0] if len(shape) == 1 else "(%s)" % ", ".join(str(d) for d in shape)
        growth = 21 - len(str(shape[0]))
    return npy(hdr(descr, s), data, version=version, growth=growth)


def bf16(x):
    return struct.unpack("<I", struct.pack("<f", x))[0] >> 16  # exact for these values


GOOD = [
    ("f8_2x3.npy", numpy_save("<f8", (2, 3), f8(1.5, -2, 0.1, 1e300, -0.0, 6))),
    ("f4_scalar.npy", numpy_save("<f4", (), struct.pack("<f", 3.25))),
    ("f2_be_4.npy", numpy_save(">f2", (4,), struct.pack(">4e", 1.0, -0.5, 65504.0, 2.0 ** -24))),
    ("bf16_3.npy", numpy_save("<u2", (3,), struct.pack("<3H", *(bf16(v) for v in (1.0, -3.0, 0.5))))),
    ("i4_2x2.npy", numpy_save("<i4", (2, 2), struct.pack("<4i", -1, 2, 2**31 - 1, -2**31))),
    ("i8_v2_2.npy", numpy_save(">i8", (2,), struct.pack(">2q", -5, 2**63 - 1), version=(2, 0))),
    ("f8_empty_0x3.npy", numpy_save("<f8", (0, 3), b"")),
]


def main():
    root = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        os.path.dirname(os.path.abspath(__file__)), "corpus")
    bad_dir, good_dir = os.path.join(root, "bad_npy"), os.path.join(root, "good_npy")
    os.makedirs(bad_dir, exist_ok=True)
    os.makedirs(good_dir, exist_ok=True)
    names = [n for n, _, _ in BAD]
    assert len(set(names)) == len(names)
    for name, data, _ in BAD:
        with open(os.path.join(bad_dir, name), "wb") as f:
            f.write(data)
    with open(os.path.join(bad_dir, "EXPECTED.txt"), "w", newline="\n") as f:
        f.write("# file\tmessage after 'lsce: <path>: ' (generated by tests/make_bad_npy.py)\n")
        for name, _, msg in BAD:
            assert "\t" not in msg and "\n" not in msg
            f.write("%s\t%s\n" % (name, msg))
    for name, data in GOOD:
        with open(os.path.join(good_dir, name), "wb") as f:
            f.write(data)
    print("wrote %d bad and %d good files under %s" % (len(BAD), len(GOOD), root))


if __name__ == "__main__":
    main()
