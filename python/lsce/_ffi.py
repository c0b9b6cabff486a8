"""lsce._ffi: liblsce through ctypes: finding the shared object, the C structures of
include/lsce/lsce.h, and arrays handed to C in place (no copy when the array is C-contiguous, native
byte order and of a dtype liblsce reads). Nothing is computed here."""
import ctypes
import os

import numpy as np

# lsce_dtype (include/lsce/types.h)
DT_F64, DT_F32, DT_F16, DT_BF16, DT_I32, DT_I64 = range(6)
DTYPE_NAMES = ["float64", "float32", "float16", "bfloat16", "int32", "int64"]
_NUMPY_DT = {np.dtype(np.float64): DT_F64, np.dtype(np.float32): DT_F32, np.dtype(np.float16): DT_F16,
             np.dtype(np.uint16): DT_BF16,  # bfloat16 bit patterns, as in the .npy files lsce reads
             np.dtype(np.int32): DT_I32, np.dtype(np.int64): DT_I64}
OK, EFAIL, EINPUT, EINCOMPLETE = 0, 1, 2, 3


class Array(ctypes.Structure):
    _fields_ = [("data", ctypes.c_void_p), ("dtype", ctypes.c_int), ("ndim", ctypes.c_int),
                ("shape", ctypes.c_int64 * 2)]


class Error(ctypes.Structure):
    _fields_ = [("code", ctypes.c_int), ("message", ctypes.c_char * 1024)]


class Options(ctypes.Structure):
    _fields_ = [("variant", ctypes.c_char_p), ("smoothing", ctypes.c_char_p), ("reduction", ctypes.c_char_p),
                ("ignore_index", ctypes.c_int64), ("pad_index", ctypes.c_int64),
                ("tp", ctypes.c_int64), ("rank", ctypes.c_int64)]


class CheckResult(ctypes.Structure):
    _fields_ = [("pass_", ctypes.c_int), ("loss_ulp", ctypes.c_double), ("loss_row", ctypes.c_int64),
                ("loss_ref", ctypes.c_double), ("loss_got", ctypes.c_double), ("has_grad", ctypes.c_int),
                ("grad_ulp", ctypes.c_double), ("grad_row", ctypes.c_int64), ("grad_col", ctypes.c_int64),
                ("grad_ref", ctypes.c_double), ("grad_got", ctypes.c_double),
                ("loss_dtype", ctypes.c_int), ("grad_dtype", ctypes.c_int),
                ("has_diagnosis", ctypes.c_int), ("diagnosis", ctypes.c_char * 2048)]


_lib = None


# In a source checkout (python/lsce/ here), the library `scripts/build build` makes.
_CHECKOUT_LIB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "build", "lib", "liblsce.so")


def _load():
    path = os.environ.get("LSCE_LIBRARY")
    if path:
        return ctypes.CDLL(path)
    try:
        return ctypes.CDLL("liblsce.so.0")
    except OSError:
        if os.path.exists(_CHECKOUT_LIB):
            return ctypes.CDLL(os.path.normpath(_CHECKOUT_LIB))
        raise


def lib():
    """liblsce: $LSCE_LIBRARY (a path to the shared object) when set, else the dynamic loader's
    liblsce.so.0 (LD_LIBRARY_PATH, the ld.so cache, an installed lsce), else in a source checkout
    the build tree's build/lib/liblsce.so."""
    global _lib
    if _lib is not None:
        return _lib
    try:
        h = _load()
    except OSError as e:
        raise ImportError(f"lsce: cannot load liblsce: {e}; set LSCE_LIBRARY to the path of liblsce.so "
                          "(build/lib/liblsce.so in a build tree) or install lsce (meson install)") from e
    P, D, E = ctypes.c_void_p, ctypes.POINTER(ctypes.c_double), ctypes.POINTER(Error)
    A = ctypes.POINTER(Array)
    sig = {
        "lsce_options_default": (None, [ctypes.POINTER(Options)]),
        "lsce_problem_create": (ctypes.c_int, [ctypes.POINTER(P), A, A, A, ctypes.POINTER(Options), E]),
        "lsce_problem_destroy": (None, [P]),
        "lsce_problem_rows": (ctypes.c_int64, [P]),
        "lsce_problem_classes": (ctypes.c_int64, [P]),
        "lsce_problem_nloss": (ctypes.c_int64, [P]),
        "lsce_reference_compute": (ctypes.c_int, [P, D, D, E]),
        "lsce_run": (ctypes.c_int, [P, ctypes.c_char_p, D, D, E]),
        "lsce_impl_count": (ctypes.c_int, []),
        "lsce_impl_name": (ctypes.c_char_p, [ctypes.c_int]),
        "lsce_check": (ctypes.c_int, [P, A, A, ctypes.c_int, ctypes.c_int, ctypes.c_double, ctypes.c_double,
                                      ctypes.POINTER(CheckResult), E]),
        "lsce_library_version": (ctypes.c_char_p, []),
        "lsce_library_commit": (ctypes.c_char_p, []),
    }
    for name, (res, args) in sig.items():
        f = getattr(h, name)
        f.restype, f.argtypes = res, args
    _lib = h
    return h


def as_numpy(x):
    """A numpy view of x (numpy array, PyTorch tensor, list, scalar) and its lsce dtype, or None for
    a dtype liblsce does not read. PyTorch tensors are detached and brought to the CPU; bfloat16 is
    viewed as its uint16 bit patterns. A copy is made only when x is not C-contiguous, not in the
    host's byte order, or not in host memory."""
    bf16 = False
    if type(x).__module__.split(".")[0] == "torch":
        import torch
        t = x.detach()
        if t.device.type != "cpu":
            t = t.cpu()
        t = t.contiguous()
        if t.dtype == torch.bfloat16:
            t, bf16 = t.view(torch.int16), True
        a = t.numpy()
        if bf16:
            a = a.view(np.uint16)
    else:
        a = np.asarray(x)
    if not a.dtype.isnative:
        a = a.astype(a.dtype.newbyteorder("="))
    if not a.flags.c_contiguous:  # (np.ascontiguousarray would also turn a 0-d array into 1-d)
        a = np.ascontiguousarray(a)
    return a, _NUMPY_DT.get(a.dtype)


def c_array(a, dt):
    """An lsce_array describing numpy array a in place (a must outlive every use of the result)."""
    s = Array()
    s.data = a.ctypes.data if a.size else None
    s.dtype = dt
    s.ndim = a.ndim
    for k in range(min(a.ndim, 2)):
        s.shape[k] = a.shape[k]
    return s
