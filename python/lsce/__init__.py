"""lsce: the certified label-smoothing cross-entropy reference and `lsce check`, from Python.

    import lsce
    lsce.check(logits, targets, loss, variant="k", smoothing="0.1")   # raises lsce.CheckFailed
    lsce.reference(logits, targets, variant="k", smoothing="0.1")     # the correctly rounded float64

A thin ctypes binding over liblsce (include/lsce/lsce.h): nothing is compiled for it and nothing is
computed here, so every value is the one `lsce reference` / `lsce check` gives on the same arrays
(docs/cli.md, docs/accuracy.md). liblsce is loaded from $LSCE_LIBRARY when set, else through the
dynamic loader (an installed lsce), else from build/lib/ when this is a source checkout. Arrays may be numpy arrays or PyTorch tensors (any device; bfloat16 too) and are
read in place when C-contiguous and of a dtype liblsce reads (float64, float32, float16, uint16 as
bfloat16 bits; int32, int64 targets). The smoothing is a decimal string, taken exactly ("0.1" is
1/10, not the double nearest it); a Python float is written as its shortest repr first.
Errors raise lsce.InputError (bad input: the CLI's exit 2, with its message) or
lsce.IncompleteError (could not complete: exit 3)."""
import ctypes

import numpy as np

from . import _ffi

__all__ = ["reference", "run", "check", "measure", "impls", "CheckResult", "CheckFailed",
           "LsceError", "InputError", "IncompleteError", "version"]


class LsceError(Exception):
    """An lsce error line (without "lsce: "); .code is the CLI's exit code (2 or 3)."""
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class InputError(LsceError, ValueError):
    pass


class IncompleteError(LsceError, RuntimeError):
    pass


def _raise(err):
    msg = err.message.decode("utf-8", "replace")
    raise (InputError if err.code == _ffi.EINPUT else IncompleteError)(err.code, msg)


def _str(x, name):
    if x is None:
        return None
    if isinstance(x, bool):
        raise TypeError(f"lsce: {name} must be a string")
    if isinstance(x, (int, float)):
        return repr(x).encode()
    return str(x).encode()


class _Problem:
    """An lsce_problem_t over the caller's arrays (kept alive here as long as the problem is)."""
    def __init__(self, logits, targets, weights, variant, smoothing, reduction, ignore_index, pad_index,
                 tp=None, rank=0):
        self.lib = _ffi.lib()
        self.h = ctypes.c_void_p()
        self.keep = []
        arrs = []
        for x, name in ((logits, "logits"), (targets, "targets"), (weights, "weights")):
            arrs.append(None if x is None else ctypes.byref(self.array(x, name)))
        o = _ffi.Options()
        self.lib.lsce_options_default(ctypes.byref(o))
        o.variant, o.smoothing = _str(variant, "variant"), _str(smoothing, "smoothing")
        o.reduction = _str(reduction, "reduction")
        o.ignore_index = int(ignore_index)
        o.pad_index = -1 if pad_index is None else int(pad_index)
        o.tp = 0 if tp is None else int(tp)  # k1-megatron's --tp and --rank
        o.rank = int(rank)
        err = _ffi.Error()
        if self.lib.lsce_problem_create(ctypes.byref(self.h), *arrs, ctypes.byref(o), ctypes.byref(err)):
            _raise(err)
        self.N = self.lib.lsce_problem_rows(self.h)
        self.K = self.lib.lsce_problem_classes(self.h)
        self.nloss = self.lib.lsce_problem_nloss(self.h)
        self.none = reduction == "none"

    def array(self, x, name):
        a, dt = _ffi.as_numpy(x)
        if dt is None:
            raise InputError(_ffi.EINPUT, f"{name}: unsupported dtype {a.dtype}")
        self.keep.append(a)
        s = _ffi.c_array(a, dt)
        self.keep.append(s)
        return s

    def __del__(self):
        if getattr(self, "h", None):
            self.lib.lsce_problem_destroy(self.h)
            self.h = None

    def outputs(self, fn, want_grad):
        loss = np.empty(max(self.nloss, 1), dtype=np.float64)
        grad = np.empty((self.N, self.K), dtype=np.float64) if want_grad else None
        err = _ffi.Error()
        D = ctypes.POINTER(ctypes.c_double)
        if fn(loss.ctypes.data_as(D), grad.ctypes.data_as(D) if want_grad else None, ctypes.byref(err)):
            _raise(err)
        out = loss[:self.nloss] if self.none else float(loss[0])
        return (out, grad) if want_grad else out


def reference(logits, targets, *, variant, smoothing, weights=None, reduction="mean", ignore_index=-100,
              pad_index=None, tp=None, rank=0, grad=False):
    """The certified reference: the correctly rounded float64 loss (a float; a float64 array of N
    for reduction="none"), and with grad=True also the (N, K) float64 gradient: (loss, grad).
    Bit for bit what `lsce reference` prints and writes for the same arrays and options."""
    p = _Problem(logits, targets, weights, variant, smoothing, reduction, ignore_index, pad_index, tp, rank)
    return p.outputs(lambda l, g, e: p.lib.lsce_reference_compute(p.h, l, g, e), grad)


def run(impl, logits, targets, *, variant, smoothing, weights=None, reduction="mean", ignore_index=-100,
        pad_index=None, tp=None, rank=0, grad=False):
    """Registry row `impl` (see impls()) on the same problem, as `lsce run` does: its outputs
    converted exactly to float64."""
    p = _Problem(logits, targets, weights, variant, smoothing, reduction, ignore_index, pad_index, tp, rank)
    name = _str(impl, "impl")
    return p.outputs(lambda l, g, e: p.lib.lsce_run(p.h, name, l, g, e), grad)


def impls():
    """The registry rows' names (`lsce impls`)."""
    lib = _ffi.lib()
    return [lib.lsce_impl_name(i).decode() for i in range(lib.lsce_impl_count())]


class CheckResult:
    """What `lsce check` measures: loss_ulp (and its row, -1 for mean/sum, ref, got), grad_ulp (row,
    col, ref, got; None without a gradient), the dtypes judged in, passed (check's verdict), and
    diagnosis (check's `match` and `cause` lines after a FAIL, else None)."""
    def __init__(self, r, max_ulp, max_grad_ulp):
        self.passed = bool(r.pass_)
        self.loss_ulp, self.loss_row, self.loss_ref, self.loss_got = r.loss_ulp, r.loss_row, r.loss_ref, r.loss_got
        g = bool(r.has_grad)
        self.grad_ulp = r.grad_ulp if g else None
        self.grad_row, self.grad_col = (r.grad_row, r.grad_col) if g else (None, None)
        self.grad_ref, self.grad_got = (r.grad_ref, r.grad_got) if g else (None, None)
        self.loss_dtype, self.grad_dtype = _ffi.DTYPE_NAMES[r.loss_dtype], _ffi.DTYPE_NAMES[r.grad_dtype]
        self.max_ulp, self.max_grad_ulp = max_ulp, max_grad_ulp
        self.diagnosis = r.diagnosis.decode() if r.has_diagnosis else None

    def __bool__(self):
        return self.passed

    def __str__(self):
        s = [f"loss ulp={self.loss_ulp:.3g} row={self.loss_row} ref={self.loss_ref.hex()} got={self.loss_got.hex()}"]
        if self.grad_ulp is not None:
            s.append(f"grad ulp={self.grad_ulp:.3g} row={self.grad_row} col={self.grad_col} "
                     f"ref={self.grad_ref.hex()} got={self.grad_got.hex()}")
        s.append(f"{'PASS' if self.passed else 'FAIL'} max_ulp={self.max_ulp:g} max_grad_ulp={self.max_grad_ulp:g}")
        if self.diagnosis:
            s.append(self.diagnosis.rstrip("\n"))
        return "\n".join(s)

    __repr__ = __str__


class CheckFailed(AssertionError):
    """check() on values outside the ulp bounds; .result is the CheckResult."""
    def __init__(self, result):
        super().__init__("lsce check FAIL\n" + str(result))
        self.result = result


def _dtype_arg(x):
    if x is None:
        return -1
    name = str(x).replace("torch.", "")
    if name not in _ffi.DTYPE_NAMES[:4]:
        raise InputError(_ffi.EINPUT, f"--loss-dtype: must be float64, float32, float16 or bfloat16, got '{x}'")
    return _ffi.DTYPE_NAMES.index(name)


def measure(logits, targets, loss, *, variant, smoothing, grad=None, weights=None, reduction="mean",
            ignore_index=-100, pad_index=None, tp=None, rank=0, loss_dtype=None, grad_dtype=None, max_ulp=1.0,
            max_grad_ulp=2.0):
    """`lsce check` on in-memory values: loss (a scalar for mean/sum, N values for none) and an
    optional (N, K) gradient, judged in loss_dtype / grad_dtype (default: the logits' dtype, as
    check's). Returns the CheckResult whatever the verdict."""
    p = _Problem(logits, targets, weights, variant, smoothing, reduction, ignore_index, pad_index, tp, rank)
    L = p.array(loss, "loss")
    G = p.array(grad, "grad") if grad is not None else None
    r, err = _ffi.CheckResult(), _ffi.Error()
    if p.lib.lsce_check(p.h, ctypes.byref(L), ctypes.byref(G) if G is not None else None,
                        _dtype_arg(loss_dtype), _dtype_arg(grad_dtype), float(max_ulp), float(max_grad_ulp),
                        ctypes.byref(r), ctypes.byref(err)):
        _raise(err)
    return CheckResult(r, float(max_ulp), float(max_grad_ulp))


def check(logits, targets, loss, **kw):
    """measure(), for tests: returns the CheckResult on PASS, raises CheckFailed (an
    AssertionError) on FAIL."""
    r = measure(logits, targets, loss, **kw)
    if not r.passed:
        raise CheckFailed(r)
    return r


def version():
    """(liblsce's version, the commit it was built from)."""
    lib = _ffi.lib()
    return lib.lsce_library_version().decode(), lib.lsce_library_commit().decode()
