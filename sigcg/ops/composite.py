"""The kernel ops written again from ops differentiable to any order: torch arithmetic and the
tensor product (whose adjoint is made of itself, algebra.py).

Used only where a gradient must itself be differentiated (``create_graph=True``: gradient
penalties, Hessian-vector products), and as an independent formulation: they share no code with
the generated kernels.  Costs: the signature takes every increment's exponential at once and
multiplies them in a tree of log2(L) rounds (algebra.ordered_product; a prefix scan with
``stream``), so it holds O(L * sig) memory where the kernels hold O(sig).
"""

from __future__ import annotations

import math
from typing import Optional

import torch
from torch import Tensor


def _product(a: Tensor, b: Tensor, channels: int, depth: int) -> Tensor:
    from .algebra import tensor_product

    return tensor_product(a, b, channels, depth)


def mul(a: Tensor, b: Tensor, channels: int, depth: int) -> Tensor:
    """The truncated product of two tensors without scalar parts (their levels only)."""
    return _product(a, b, channels, depth) - a - b


def increment_exponentials(path: Tensor, depth: int) -> Tensor:
    """exp(Δ_t) - 1 for every step: (B, L, d) -> (B, L-1, sig), level k = Δ^{⊗k} / k!."""
    delta = path[:, 1:] - path[:, :-1]
    levels, power = [], torch.ones_like(delta[..., :1])
    for k in range(1, depth + 1):
        power = (power[..., :, None] * delta[..., None, :]).flatten(-2)
        levels.append(power / math.factorial(k))
    return torch.cat(levels, dim=-1)


def _scan(factors: Tensor, channels: int, depth: int) -> Tensor:
    """(B, n, sig) -> every prefix product (B, n, sig) (Hillis-Steele, log2(n) rounds)."""
    batch, n, width = factors.shape
    shift = 1
    while shift < n:
        left = factors[:, :-shift].reshape(-1, width)
        right = factors[:, shift:].reshape(-1, width)
        combined = _product(left, right, channels, depth).view(batch, n - shift, width)
        factors = torch.cat([factors[:, :shift], combined], dim=1)
        shift *= 2
    return factors


def signature(path: Tensor, initial: Optional[Tensor], depth: int, stream: bool) -> Tensor:
    """What the signature kernels compute (sigcg.ops.signature's raw problem)."""
    channels = path.shape[2]
    factors = increment_exponentials(path, depth)
    from .algebra import left_multiply, ordered_product

    result = (
        _scan(factors, channels, depth) if stream else ordered_product(factors, channels, depth)
    )
    return result if initial is None else left_multiply(initial, result, channels, depth)


def signature_vjp(path: Tensor, sig: Tensor, grad: Tensor, depth: int, stream: bool) -> Tensor:
    """J^T grad, the signature's (or its stream's) gradient (sigcg.ops.signature_vjp; ``sig`` is
    only the kernels' cache of S(path))."""
    with torch.enable_grad():
        x = path if path.requires_grad else path.detach().requires_grad_()
        out = signature(x, None, depth, stream)
        (result,) = torch.autograd.grad(out, x, grad, create_graph=True)
    return result


def signature_hvp(
    path: Tensor, sig: Tensor, grad: Tensor, tangent: Tensor, depth: int, stream: bool
) -> tuple[Tensor, Tensor]:
    """(H u, J u): the derivatives along u = tangent of J^T grad and of S (sigcg.ops.
    signature_hvp), by autograd through the composite signature."""
    with torch.enable_grad():
        x = path if path.requires_grad else path.detach().requires_grad_()
        g = grad if grad.requires_grad else grad.detach().requires_grad_()
        out = signature(x, None, depth, stream)
        (vjp,) = torch.autograd.grad(out, x, g, create_graph=True)
        hvp, jvp = torch.autograd.grad(vjp, (x, g), tangent, create_graph=True)
    return hvp, jvp


def signature_fused(
    path: Tensor,
    initial: Optional[Tensor],
    depth: int,
    stream: bool,
    lead_lag: bool,
    time_step: Optional[Tensor],
    lengths: Optional[Tensor],
    order: Optional[Tensor],
) -> Tensor:
    """What the fused signature kernels compute: the signature of the transformed, clamped path
    (``order`` only schedules the kernels' lanes)."""
    from .transforms import augment

    return signature(augment(path, lead_lag, time_step, lengths), initial, depth, stream)


def tensor_log(x: Tensor, channels: int, depth: int) -> Tensor:
    """log(1 + x) by Horner: log(1 + x) = x ⊗ t_1, t_N = 1/N, t_n = 1/n - x ⊗ t_{n+1}, each t_n
    kept as its scalar 1/n and its levels v_n (v_N = 0)."""
    v = torch.zeros_like(x)
    for n in range(depth - 1, 0, -1):
        v = -(x / (n + 1) + mul(x, v, channels, depth))  # x ⊗ t_{n+1} = x/(n+1) + mul(x, v)
    return x + mul(x, v, channels, depth)


def tensor_exp(x: Tensor, channels: int, depth: int) -> Tensor:
    """exp(x) - 1 = x (1 + x/2 (1 + x/3 (...))): r_N = x/N, r_n = (x + x ⊗ r_{n+1}) / n."""
    r = x / depth
    for n in range(depth - 1, 0, -1):
        r = (x + mul(x, r, channels, depth)) / n
    return r


def logsignature_words(path: Tensor, depth: int) -> tuple[Tensor, Tensor]:
    """(log-signature at the Lyndon words, the full signature): what the log-signature kernel
    returns (its signature output agrees at every entry the kernel writes)."""
    from ..algebra.lyndon import words_index

    channels = path.shape[2]
    sig = signature(path, None, depth, False)
    log = tensor_log(sig, channels, depth)
    index = torch.as_tensor(words_index(channels, depth), device=path.device)
    return log.index_select(-1, index), sig
