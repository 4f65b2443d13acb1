"""Tensor product (Chen), tensor logarithm and exponential of (rows, sig) tensors without scalar
term, as torch operators.

The product P(a, b) = a + b + M(a, b) (M the truncated product of the levels) is bilinear up to
its linear part, so its adjoint is made of P and its adjoint again: both are differentiable to
any order through themselves, and every other op's double backward is built on them
(composite.py).
"""

from __future__ import annotations

import torch
from torch import Tensor

from ..runtime import launch
from . import composite
from .base import TorchOp, contiguous, empty


def _product(a: Tensor, b: Tensor, channels: int, depth: int) -> Tensor:
    """a ⊗ b (both (rows, sig) without scalar; the product's scalar 1 is implicit)."""
    a, b = contiguous(a), contiguous(b)
    out = empty(a.shape, a)
    launch(
        "tensor_product",
        "tensor_product",
        channels,
        depth,
        dict(a=a, b=b, out=out, batch=a.shape[0]),
        like=a,
    )
    return out


def _product_adjoint(
    a: Tensor, b: Tensor, grad: Tensor, channels: int, depth: int
) -> tuple[Tensor, Tensor]:
    """(dL/da, dL/db) given grad = dL/d(a ⊗ b)."""
    a, b, grad = contiguous(a), contiguous(b), contiguous(grad)
    grad_a, grad_b = empty(a.shape, a), empty(a.shape, a)
    launch(
        "tensor_product",
        "tensor_product_backward",
        channels,
        depth,
        dict(a=a, b=b, grad=grad, grad_a=grad_a, grad_b=grad_b, batch=a.shape[0]),
        like=a,
    )
    return grad_a, grad_b


def _same_shape(a, *rest):
    return a.new_empty(a.shape)


def _product_backward(args, _out, grads, needs, compiled):
    a, b, channels, depth = args
    grad_a, grad_b = tensor_product_backward.call(compiled, a, b, grads[0], channels, depth)
    return grad_a, grad_b, None, None


def _product_adjoint_backward(args, _out, grads, needs, compiled):
    """Cotangents (va, vb) of (grad_a, grad_b) = B(a, b, g) back to (a, b, g).  With
    M(x, y) = P(x, y) - x - y and B = (g + M_a*(b, g), g + M_b*(a, g)):
        d/dg = va + vb + M(va, b) + M(a, vb),  d/da = M_a*(vb, g),  d/db = M_b*(va, g)."""
    a, b, g, channels, depth = args
    va, vb = grads
    product = tensor_product.custom if compiled else tensor_product
    adjoint = tensor_product_backward.custom if compiled else tensor_product_backward
    grad_a = grad_b = grad_g = None
    if va is not None:
        grad_g = product(va, b, channels, depth) - b
        if needs[1]:
            grad_b = adjoint(va, b, g, channels, depth)[1] - g
    if vb is not None:
        term = product(a, vb, channels, depth) - a
        grad_g = term if grad_g is None else grad_g + term
        if needs[0]:
            grad_a = adjoint(a, vb, g, channels, depth)[0] - g
    return grad_a, grad_b, (grad_g if needs[2] else None), None, None


tensor_product_backward = TorchOp(
    "tensor_product_backward",
    _product_adjoint,
    lambda a, b, g, c, n: (a.new_empty(a.shape), a.new_empty(a.shape)),
    backward=_product_adjoint_backward,
    differentiable_backward=True,
)
tensor_product = TorchOp(
    "tensor_product",
    _product,
    _same_shape,
    backward=_product_backward,
    differentiable_backward=True,
)


def ordered_product(factors: Tensor, channels: int, depth: int) -> Tensor:
    """(B, n, sig) -> their ordered product (B, sig), log2(n) rounds of batched products (the
    pieces of a cut path, the increments of the composite signature).

    Pairs are split with view + unbind, whose backward is one stack, rather than strided
    slices, whose backward fills a zero tensor per slice: under create_graph the fills
    dominated the Hessian-vector product.  An odd round is padded with the zero row, which is
    the product's identity (the scalar 1 is implicit)."""
    batch, _, width = factors.shape
    while factors.shape[1] > 1:
        if factors.shape[1] % 2:
            factors = torch.cat([factors, factors.new_zeros(batch, 1, width)], dim=1)
        half = factors.shape[1] // 2
        left, right = factors.view(batch, half, 2, width).unbind(2)
        merged = tensor_product(left.reshape(-1, width), right.reshape(-1, width), channels, depth)
        factors = merged.view(batch, half, width)
    return factors[:, 0]


def left_multiply(initial: Tensor, result: Tensor, channels: int, depth: int) -> Tensor:
    """initial ⊗ each signature of ``result`` (Chen): initial (B, S), result (B, S) or
    (B, T, S), through the differentiable tensor product."""
    width = result.shape[-1]
    left = initial[:, None].expand(result.shape).reshape(-1, width) if result.ndim == 3 else initial
    product = tensor_product(left.contiguous(), result.reshape(-1, width), channels, depth)
    return product.view(result.shape)


def _unary(name: str):
    """The TorchOps of the row kernel ``name`` ("tensor_log" or "tensor_exp") and its adjoint."""

    def forward(x: Tensor, channels: int, depth: int) -> Tensor:
        x = contiguous(x)
        out = empty(x.shape, x)
        launch(name, name, channels, depth, dict(x=x, out=out, batch=x.shape[0]), like=x)
        return out

    def adjoint(x: Tensor, grad: Tensor, channels: int, depth: int) -> Tensor:
        x, grad = contiguous(x), contiguous(grad)
        grad_x = empty(x.shape, x)
        launch(
            name,
            f"{name}_backward",
            channels,
            depth,
            dict(x=x, grad=grad, grad_x=grad_x, batch=x.shape[0]),
            like=x,
        )
        return grad_x

    backward_op = TorchOp(f"{name}_backward", adjoint, _same_shape)

    def backward(args, _out, grads, needs, compiled):
        x, channels, depth = args
        return backward_op.call(compiled, x, grads[0], channels, depth), None, None

    op = TorchOp(name, forward, _same_shape, backward=backward, composite=getattr(composite, name))
    return op, backward_op


tensor_log, tensor_log_backward = _unary("tensor_log")  # log(1 + x)
tensor_exp, tensor_exp_backward = _unary("tensor_exp")  # exp(x) - 1

__all__ = [
    "left_multiply",
    "ordered_product",
    "tensor_exp",
    "tensor_exp_backward",
    "tensor_log",
    "tensor_log_backward",
    "tensor_product",
    "tensor_product_backward",
]
