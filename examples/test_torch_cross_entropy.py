"""examples/test_torch_cross_entropy.py: checking PyTorch's label smoothing with lsce, as a pytest.

torch.nn.functional.cross_entropy(z, t, label_smoothing=0.1) computes the catalog's variant `k`
(q_y = 1 - e + e/K, q_c = e/K; mean over the rows): lsce.check measures its loss and gradient in
ulps of float32 against the certified reference and raises (an AssertionError) when they are
outside check's bounds (1 ulp for the loss, 2 for the gradient). The same values claimed as `k1`
(the K-1 form) fail: check tells the two formulations apart.

    PYTHONPATH=python LSCE_LIBRARY=build/lib/liblsce.so python3 -m pytest examples/test_torch_cross_entropy.py
    PYTHONPATH=python LSCE_LIBRARY=build/lib/liblsce.so python3 examples/test_torch_cross_entropy.py"""
import sys

import lsce

try:
    import torch
except ImportError:
    torch = None


def problem(seed=0, N=8, K=10):
    g = torch.Generator().manual_seed(seed)
    z = torch.randn(N, K, generator=g, dtype=torch.float32).requires_grad_()
    t = torch.randint(0, K, (N,), generator=g)
    loss = torch.nn.functional.cross_entropy(z, t, label_smoothing=0.1)
    loss.backward()
    return z, t, loss


def test_torch_label_smoothing_is_k():
    z, t, loss = problem()
    r = lsce.check(z, t, loss, grad=z.grad, variant="k", smoothing="0.1")
    assert r.loss_ulp <= 1 and r.grad_ulp <= 2


def test_torch_label_smoothing_is_not_k1():
    z, t, loss = problem()
    try:
        lsce.check(z, t, loss, variant="k1", smoothing="0.1")
    except AssertionError as e:
        assert "FAIL" in str(e)
    else:
        raise AssertionError("k1 accepted PyTorch's k loss")


def test_reference_value():
    z, t, loss = problem()
    ref = lsce.reference(z, t, variant="k", smoothing="0.1")  # the correctly rounded float64
    r = lsce.measure(z, t, loss, variant="k", smoothing="0.1")  # check's figures, whatever the verdict
    assert r.loss_ref == ref and r.loss_got == loss.item()


if __name__ == "__main__":
    if torch is None:
        print("skip: no torch"); sys.exit(77)
    for name, f in list(globals().items()):
        if name.startswith("test_"):
            f()
            print("ok", name)
