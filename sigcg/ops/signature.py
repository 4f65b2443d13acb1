"""The signature kernels as torch operators.

They work on the *raw* problem: a contiguous (batch, length, channels) path, an optional
(batch, sig) initial signature, no scalar term.  Basepoints, inverses and scalar terms are
composed around them in :mod:`sigcg.api.signature` with differentiable torch ops.
"""

from __future__ import annotations

from typing import Optional

from torch import Tensor

from ..codegen import signature_channels
from ..runtime import launch
from . import composite
from .base import TorchOp, contiguous, empty


def _forward(path: Tensor, initial: Optional[Tensor], depth: int, stream: bool) -> Tensor:
    """path (B, L, d) -> S (B, sig), or every prefix's signature (B, L-1, sig) with stream;
    initial (B, sig) multiplies on the left."""
    path, initial = contiguous(path), contiguous(initial)
    batch, length, d = path.shape
    width = signature_channels(d, depth)
    out = empty((batch, length - 1, width) if stream else (batch, width), path)
    launch(
        "signature_forward",
        "signature_forward",
        d,
        depth,
        dict(path=path, initial=initial, out=out, batch=batch, length=length, stream=int(stream)),
        like=path,
        steps=length - 1,
    )
    return out


def _forward_fake(path, initial, depth, stream):
    batch, length, d = path.shape
    width = signature_channels(d, depth)
    return path.new_empty((batch, length - 1, width) if stream else (batch, width))


def _backward_kernel(
    path: Tensor,
    initial: Optional[Tensor],
    sig: Tensor,
    grad: Tensor,
    depth: int,
    stream: bool,
    want_initial: bool,
) -> tuple[Tensor, Tensor]:
    """(grad_path (B, L, d), grad_initial (B, sig), or (0,) when not wanted)."""
    path, initial = contiguous(path), contiguous(initial)
    sig, grad = contiguous(sig), contiguous(grad)
    batch, length, d = path.shape
    grad_path = empty(path.shape, path)
    grad_initial = empty((batch, signature_channels(d, depth)) if want_initial else (0,), path)
    launch(
        "signature_backward",
        "signature_backward",
        d,
        depth,
        dict(
            path=path,
            initial=initial,
            sig=sig,
            grad_sig=grad,
            grad_path=grad_path,
            grad_initial=grad_initial if want_initial else None,
            batch=batch,
            length=length,
            stream=int(stream),
        ),
        like=path,
        steps=length - 1,
    )
    return grad_path, grad_initial


def _backward_kernel_fake(path, initial, sig, grad, depth, stream, want_initial):
    width = signature_channels(path.shape[2], depth)
    return (
        path.new_empty(path.shape),
        path.new_empty((path.shape[0], width) if want_initial else (0,)),
    )


signature_backward = TorchOp("signature_backward", _backward_kernel, _backward_kernel_fake)


def _backward(args, sig, grads, needs, compiled):
    path, initial, depth, stream = args
    want_initial = initial is not None and needs[1]
    grad_path, grad_initial = signature_backward.call(
        compiled, path, initial, sig, grads[0], depth, stream, want_initial
    )
    return grad_path, (grad_initial if want_initial else None), None, None


signature = TorchOp(
    "signature",
    _forward,
    _forward_fake,
    backward=_backward,
    save_output=True,
    composite=composite.signature,
)

__all__ = ["signature", "signature_backward"]
