"""``sigcg demo``: compute signatures of an embedded path and check them by identities whose two
sides come from different kernels (or from plain torch arithmetic), so a wrong kernel fails."""

from __future__ import annotations

import math
import time


def demo() -> int:
    import torch

    import sigcg
    from sigcg.runtime.cpu import cache

    path = torch.tensor([[1.0, 1.0], [3.0, 4.0], [5.0, 2.0], [8.0, 6.0]], dtype=torch.float64)
    t0 = time.perf_counter()
    sig = sigcg.signature(path, 2)
    t1 = time.perf_counter()
    expected = torch.tensor([7.0, 5.0, 24.5, 19.0, 16.0, 12.5], dtype=torch.float64)
    print(
        f"signature of {path.tolist()} at depth 2:\n  {sig.tolist()}  "
        f"({(t1 - t0) * 1e3:.0f} ms; a first call on a new shape includes building its kernel)"
    )
    checks = {"known value [7, 5, 24.5, 19, 16, 12.5]": torch.allclose(sig, expected)}

    g = torch.Generator().manual_seed(0)
    x = torch.randn(8, 50, 3, generator=g, dtype=torch.float64).cumsum(1) / 7
    depth, channels = 4, 3
    s = sigcg.signature(x, depth)
    # the product kernel (Chen's identity) against the path kernel
    chen = sigcg.signature_combine(
        sigcg.signature(x[:, :26], depth), sigcg.signature(x[:, 25:], depth), channels, depth
    )
    checks["Chen: S(x[:26]) ⊗ S(x[25:]) = S(x) (product kernel vs path kernel)"] = torch.allclose(
        chen, s
    )
    # a straight line against Δ^{⊗k}/k! in plain torch
    delta = torch.tensor([0.3, -1.2, 0.7], dtype=torch.float64)
    line = torch.linspace(0, 1, 11, dtype=torch.float64)[:, None] * delta
    levels, power = [], torch.ones(1, dtype=torch.float64)
    for k in range(1, depth + 1):
        power = torch.outer(power, delta).flatten()
        levels.append(power / math.factorial(k))
    checks["straight line = tensor exponential exp(Δ)"] = torch.allclose(
        sigcg.signature(line, depth), torch.cat(levels)
    )
    inv = sigcg.signature(x, depth, inverse=True)
    roundtrip = sigcg.signature_combine(s, inv, channels, depth)
    checks["S(x) ⊗ S(x)^-1 = 1"] = bool(roundtrip.abs().max() < 1e-10)
    checks["inverse = signature of the reversed path"] = torch.allclose(
        inv, sigcg.signature(x.flip(1), depth)
    )
    stream = sigcg.signature(x, depth, stream=True)
    checks["last stream row = signature"] = torch.allclose(stream[:, -1], s)
    # the backward kernel against a central finite difference along a random direction
    xg = x.clone().requires_grad_()
    weights = torch.randn(s.shape, generator=g, dtype=torch.float64)
    (grad,) = torch.autograd.grad((sigcg.signature(xg, depth) * weights).sum(), xg)
    direction = torch.randn(x.shape, generator=g, dtype=torch.float64)
    eps = 1e-6
    numeric = (
        (sigcg.signature(x + eps * direction, depth) * weights).sum()
        - (sigcg.signature(x - eps * direction, depth) * weights).sum()
    ) / (2 * eps)
    checks["gradient = finite difference along a direction"] = math.isclose(
        float((grad * direction).sum()), float(numeric), rel_tol=1e-6, abs_tol=1e-8
    )

    # the second-order kernel: a Hessian-vector product against a central difference of the
    # backward kernel's gradients
    def gradient(points):
        points = points.clone().requires_grad_()
        return torch.autograd.grad((sigcg.signature(points, depth) * weights).sum(), points)[0]

    (first,) = torch.autograd.grad(
        (sigcg.signature(xg, depth) * weights).sum(), xg, create_graph=True
    )
    (hvp,) = torch.autograd.grad((first * direction).sum(), xg)
    eps = 1e-5
    numeric_hvp = (gradient(x + eps * direction) - gradient(x - eps * direction)) / (2 * eps)
    checks["Hessian-vector product = finite difference of gradients"] = torch.allclose(
        hvp, numeric_hvp, rtol=1e-5, atol=1e-7
    )
    for name, ok in checks.items():
        print(f"  [{'ok' if ok else 'FAILED'}] {name}")
    print(f"kernel cache: {cache.root}")
    return 0 if all(checks.values()) else 1
