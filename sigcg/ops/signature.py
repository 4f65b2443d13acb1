"""The signature kernels as torch operators.

They work on the *raw* problem: a contiguous (batch, length, channels) path, an optional
(batch, sig) initial signature, no scalar term.  Basepoints, inverses and scalar terms are
composed around them in :mod:`sigcg.api.signature` with differentiable torch ops.
"""

from __future__ import annotations

from typing import Optional

from torch import Tensor

from ..codegen import signature_channels
from ..runtime import has_kernel, launch
from . import composite
from .base import TorchOp, contiguous, empty
from .transforms import transformed_channels


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


# ---- second derivatives: create_graph=True through the plain signature ----------------------


def _hvp(
    path: Tensor, sig: Tensor, grad: Tensor, tangent: Tensor, depth: int, stream: bool
) -> tuple[Tensor, Tensor]:
    """(H u (B, L, d), J u (shaped as sig)) for u = tangent, g = grad (see SignatureHvp)."""
    path, grad, tangent = contiguous(path), contiguous(grad), contiguous(tangent)
    batch, length, d = path.shape
    hvp, jvp = empty(path.shape, path), empty(sig.shape, path)
    launch(
        "signature_hvp",
        "signature_hvp",
        d,
        depth,
        dict(
            path=path,
            grad_sig=grad,
            tangent=tangent,
            hvp=hvp,
            jvp=jvp,
            batch=batch,
            length=length,
            stream=int(stream),
        ),
        like=path,
        steps=length - 1,
    )
    return hvp, jvp


def _hvp_fake(path, sig, grad, tangent, depth, stream):
    return path.new_empty(path.shape), sig.new_empty(sig.shape)


def _hvp_backward(args, _out, grads, needs, compiled):
    # third derivatives: autograd through the composite formulation
    return signature_hvp.grad_through(composite.signature_hvp, args, grads, needs)


signature_hvp = TorchOp(
    "signature_hvp",
    _hvp,
    _hvp_fake,
    backward=_hvp_backward,
    differentiable_backward=True,
    composite=composite.signature_hvp,
)


def _vjp(path: Tensor, sig: Tensor, grad: Tensor, depth: int, stream: bool) -> Tensor:
    return _backward_kernel(path, None, sig, grad, depth, stream, False)[0]


def _vjp_backward(args, _out, grads, needs, compiled):
    """The cotangent u of J^T g gives H u to the path and J u to g (sig is S(path), a cache)."""
    path, sig, grad, depth, stream = args
    hvp, jvp = signature_hvp.call(compiled, path, sig, grad, grads[0], depth, stream)
    return hvp, None, jvp, None, None


# J^T g as a differentiable op: the signature's backward under create_graph=True
signature_vjp = TorchOp(
    "signature_vjp",
    _vjp,
    lambda path, sig, grad, depth, stream: path.new_empty(path.shape),
    backward=_vjp_backward,
    differentiable_backward=True,
    composite=composite.signature_vjp,
)


def _graph_backward(args, sig, grads, needs):
    """create_graph=True: second-order kernels where the device has them (an initial
    signature multiplies on the left through the tensor product, itself differentiable to any
    order); None (the composite) elsewhere."""
    path, initial, depth, stream = args
    if not has_kernel("signature_hvp", path):
        return None
    if initial is None:
        return signature_vjp(path, sig.detach(), grads[0], depth, stream), None, None, None
    return signature.grad_through(_with_initial, args, grads, needs)


def _with_initial(path: Tensor, initial: Tensor, depth: int, stream: bool) -> Tensor:
    from .algebra import left_multiply

    return left_multiply(initial, signature(path, None, depth, stream), path.shape[2], depth)


signature = TorchOp(
    "signature",
    _forward,
    _forward_fake,
    backward=_backward,
    save_output=True,
    composite=composite.signature,
    graph_backward=_graph_backward,
)


# ---- transformed and ragged batches (CPU kernels: codegen/kernels/signature_fused.py) ------


def _fused_shape(path: Tensor, depth: int, stream: bool, lead_lag: bool, time: bool):
    """(transformed channels, transformed steps, output shape)."""
    batch, length, channels = path.shape
    d = transformed_channels(channels, lead_lag, time)
    steps = (length - 1) * (2 if lead_lag else 1)
    width = signature_channels(d, depth)
    return d, steps, ((batch, steps, width) if stream else (batch, width))


def _fused_forward(
    path: Tensor,
    initial: Optional[Tensor],
    depth: int,
    stream: bool,
    lead_lag: bool,
    time_step: Optional[Tensor],
    lengths: Optional[Tensor],
    order: Optional[Tensor],
) -> Tensor:
    """The signature of ``transforms.augment(path, lead_lag, time_step, lengths)`` without
    making it.  path (B, L, C); time_step (B,) or None; lengths, order (B,) int32 or None (order:
    the rows in the order SIMD lanes take them, similar lengths together).  Returns (B, S) or,
    with stream, (B, (L - 1)(1 + lead_lag), S), S the signature size of the transformed
    channels."""
    path, initial = contiguous(path), contiguous(initial)
    d, steps, shape = _fused_shape(path, depth, stream, lead_lag, time_step is not None)
    out = empty(shape, path)
    launch(
        "signature_fused_forward",
        "signature_fused_forward",
        d,
        depth,
        dict(
            path=path,
            initial=initial,
            out=out,
            batch=path.shape[0],
            length=path.shape[1],
            stream=int(stream),
            lead_lag=int(lead_lag),
            time_step=contiguous(time_step),
            lengths=contiguous(lengths),
            order=contiguous(order),
        ),
        like=path,
        steps=steps,
    )
    return out


def _fused_forward_fake(path, initial, depth, stream, lead_lag, time_step, lengths, order):
    return path.new_empty(_fused_shape(path, depth, stream, lead_lag, time_step is not None)[2])


def _fused_backward_kernel(
    path: Tensor,
    initial: Optional[Tensor],
    sig: Tensor,
    grad: Tensor,
    depth: int,
    stream: bool,
    lead_lag: bool,
    time_step: Optional[Tensor],
    lengths: Optional[Tensor],
    order: Optional[Tensor],
    want_initial: bool,
) -> tuple[Tensor, Tensor]:
    """(grad_path (B, L, C), exactly 0 on padding; grad_initial (B, S), or (0,) when not
    wanted)."""
    path, initial = contiguous(path), contiguous(initial)
    sig, grad = contiguous(sig), contiguous(grad)
    d, steps, _ = _fused_shape(path, depth, stream, lead_lag, time_step is not None)
    batch = path.shape[0]
    grad_path = empty(path.shape, path)
    grad_initial = empty((batch, signature_channels(d, depth)) if want_initial else (0,), path)
    launch(
        "signature_fused_backward",
        "signature_fused_backward",
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
            length=path.shape[1],
            stream=int(stream),
            lead_lag=int(lead_lag),
            time_step=contiguous(time_step),
            lengths=contiguous(lengths),
            order=contiguous(order),
        ),
        like=path,
        steps=steps,
    )
    return grad_path, grad_initial


def _fused_backward_kernel_fake(
    path, initial, sig, grad, depth, stream, lead_lag, time_step, lengths, order, want_initial
):
    width = sig.shape[-1]
    return (
        path.new_empty(path.shape),
        path.new_empty((path.shape[0], width) if want_initial else (0,)),
    )


signature_fused_backward = TorchOp(
    "signature_fused_backward", _fused_backward_kernel, _fused_backward_kernel_fake
)


def _fused_backward(args, sig, grads, needs, compiled):
    path, initial, depth, stream, lead_lag, time_step, lengths, order = args
    want_initial = initial is not None and needs[1]
    grad_path, grad_initial = signature_fused_backward.call(
        compiled,
        path,
        initial,
        sig,
        grads[0],
        depth,
        stream,
        lead_lag,
        time_step,
        lengths,
        order,
        want_initial,
    )
    return (grad_path, grad_initial if want_initial else None) + (None,) * 6


def _fused_graph_backward(args, sig, grads, needs):
    """create_graph=True: the transformed path in differentiable torch ops, then the plain
    signature op (and its second-order kernels) on it; None (the composite) where the device
    has no such kernels or a gradient beyond the path's and initial's is asked for."""
    if any(needs[2:]) or not has_kernel("signature_hvp", args[0]):
        return None
    return signature_fused.grad_through(_fused_through_signature, args, grads, needs)


def _fused_through_signature(
    path, initial, depth, stream, lead_lag, time_step, lengths, order
) -> Tensor:
    from .transforms import augment

    augmented = augment(path, lead_lag, time_step, lengths).contiguous()
    return signature(augmented, initial, depth, stream)


signature_fused = TorchOp(
    "signature_fused",
    _fused_forward,
    _fused_forward_fake,
    backward=_fused_backward,
    save_output=True,
    composite=composite.signature_fused,
    graph_backward=_fused_graph_backward,
)

__all__ = [
    "signature",
    "signature_backward",
    "signature_fused",
    "signature_fused_backward",
    "signature_hvp",
    "signature_vjp",
]
