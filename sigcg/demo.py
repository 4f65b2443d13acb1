"""``python -m sigcg demo``: compute signatures of an embedded path and check them."""
from __future__ import annotations

import time


def demo() -> int:
    import torch

    import sigcg

    path = torch.tensor([[1.0, 1.0], [3.0, 4.0], [5.0, 2.0], [8.0, 6.0]], dtype=torch.float64)
    t0 = time.perf_counter()
    sig = sigcg.signature(path, 2)
    t1 = time.perf_counter()
    expected = torch.tensor([7.0, 5.0, 24.5, 19.0, 16.0, 12.5], dtype=torch.float64)
    print(f"signature of {path.tolist()} at depth 2:\n  {sig.tolist()}  "
          f"({(t1 - t0) * 1e3:.0f} ms; a first call on a new shape includes building its kernel)")
    checks = {"known value [7, 5, 24.5, 19, 16, 12.5]": torch.allclose(sig, expected)}

    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 50, 3, generator=g, dtype=torch.float64).cumsum(1).requires_grad_()
    depth = 4
    s = sigcg.signature(x, depth)
    chen = sigcg.signature(x[:, 25:], depth, initial=sigcg.signature(x[:, :26], depth))
    checks["Chen: S(x[:26]) ⊗ S(x[25:]) = S(x)"] = torch.allclose(chen, s)
    inv = sigcg.signature(x, depth, inverse=True)
    checks["inverse = signature of the reversed path"] = torch.allclose(
        inv, sigcg.signature(x.flip(1), depth))
    roundtrip = sigcg.signature(x.flip(1), depth, initial=s)
    checks["S(x) ⊗ S(reversed x) = 1"] = bool(roundtrip.abs().max() < 1e-8)
    stream = sigcg.signature(x, depth, stream=True)
    checks["last stream row = signature"] = torch.allclose(stream[:, -1], s)
    s.pow(2).sum().backward()
    checks["backward gives a finite gradient"] = bool(torch.isfinite(x.grad).all())
    for name, ok in checks.items():
        print(f"  [{'ok' if ok else 'FAILED'}] {name}")
    print(f"kernel cache: {sigcg.dispatch.cache.root}")
    return 0 if all(checks.values()) else 1
