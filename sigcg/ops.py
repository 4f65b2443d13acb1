"""The signature kernels as torch operators: ``torch.library`` custom ops with fake (meta)
implementations and registered autograd, so eager mode, autograd and ``torch.compile`` all see
one operator.

The ops work on the *raw* problem: a contiguous (batch, length, channels) path, an optional
(batch, sig) initial signature, no scalar term.  Basepoints, inverses and scalar terms are
composed around them in :mod:`sigcg.signature` with differentiable torch ops.
"""
from __future__ import annotations

import os
from typing import Optional

import torch
from torch import Tensor

from . import dispatch
from .codegen import signature_channels
from .lyndon import logsignature_channels, words_index

# Tests set this to fill every output with NaN before a kernel runs, so an entry the kernel
# forgets to write fails loudly instead of holding stale memory that happens to look right.
POISON = os.environ.get("SIGCG_POISON", "0") == "1"

_DTYPE_NAMES = {torch.float32: "float32", torch.float64: "float64"}


def _empty(shape, like: Tensor) -> Tensor:
    if POISON:
        return torch.full(shape, float("nan"), dtype=like.dtype, device=like.device)
    return torch.empty(shape, dtype=like.dtype, device=like.device)


def _contiguous(t: Optional[Tensor]) -> Optional[Tensor]:
    """Kernels index raw pointers with C-contiguous strides; views are copied first."""
    return t if t is None or t.is_contiguous() else t.contiguous()


def needs_autograd(*tensors: Tensor) -> bool:
    """Whether a call must go through a custom op (autograd or torch.compile will see it)."""
    return torch.compiler.is_compiling() or (
        torch.is_grad_enabled() and any(t.requires_grad for t in tensors))


def _cuda_or_cpu(t: Tensor):
    """The CUDA backend module for a CUDA tensor (imported on first use), None for the CPU."""
    if t.device.type == "cuda":
        from . import cuda_backend
        return cuda_backend
    if t.device.type != "cpu":
        raise NotImplementedError(f"sigcg has kernels for CPU and CUDA tensors, not for "
                                  f"{t.device.type!r}")
    return None


def signature_forward_impl(path: Tensor, initial: Optional[Tensor], depth: int,
                           stream: bool, variant: str = "auto", target: str = "cpu") -> Tensor:
    path, initial = _contiguous(path), _contiguous(initial)
    batch, length, d = path.shape
    width = signature_channels(d, depth)
    out = _empty((batch, length - 1, width) if stream else (batch, width), path)
    gpu = _cuda_or_cpu(path)
    if gpu is not None:
        gpu.signature_forward(path, initial, depth, stream, out)
        return out
    kernel = dispatch.get_kernel("signature_forward", d, depth, _DTYPE_NAMES[path.dtype],
                                 variant, target)
    lib, ptr = kernel.lib, kernel.ptr
    p_path, p_init, p_out = ptr(path), ptr(initial), ptr(out)
    dispatch.run_over_batch(
        lambda b0, b1: lib.sigcg_signature_forward(p_path, p_init, p_out, batch, length,
                                                   int(stream), b0, b1),
        batch, kernel.spec.lanes, kernel.fma_per_step * batch * (length - 1))
    return out


def signature_backward_impl(path: Tensor, initial: Optional[Tensor], sig: Tensor,
                            grad: Tensor, depth: int, stream: bool, want_initial: bool,
                            variant: str = "auto",
                            target: str = "cpu") -> tuple[Tensor, Optional[Tensor]]:
    path, initial, sig, grad = map(_contiguous, (path, initial, sig, grad))
    batch, length, d = path.shape
    grad_path = _empty(path.shape, path)
    grad_initial = _empty((batch, signature_channels(d, depth)), path) if want_initial else None
    gpu = _cuda_or_cpu(path)
    if gpu is not None:
        gpu.signature_backward(path, initial, sig, grad, depth, stream, grad_path, grad_initial)
        return grad_path, grad_initial
    kernel = dispatch.get_kernel("signature_backward", d, depth, _DTYPE_NAMES[path.dtype],
                                 variant, target)
    lib, ptr = kernel.lib, kernel.ptr
    args = (ptr(path), ptr(initial), ptr(sig), ptr(grad), ptr(grad_path), ptr(grad_initial))
    dispatch.run_over_batch(
        lambda b0, b1: lib.sigcg_signature_backward(*args, batch, length, int(stream), b0, b1),
        batch, kernel.spec.lanes, 3 * kernel.fma_per_step * batch * (length - 1))
    return grad_path, grad_initial


# ---- torch.library registration ------------------------------------------------------------

@torch.library.custom_op("sigcg::signature", mutates_args=())
def signature_op(path: Tensor, initial: Optional[Tensor], depth: int, stream: bool) -> Tensor:
    """Raw signature: path (B, L, d) contiguous -> (B, sig) or (B, L-1, sig) with stream."""
    return signature_forward_impl(path, initial, depth, stream)


@signature_op.register_fake
def _signature_fake(path, initial, depth, stream):
    batch, length, d = path.shape
    width = signature_channels(d, depth)
    return path.new_empty((batch, length - 1, width) if stream else (batch, width))


@torch.library.custom_op("sigcg::signature_backward", mutates_args=())
def signature_backward_op(path: Tensor, initial: Optional[Tensor], sig: Tensor, grad: Tensor,
                          depth: int, stream: bool, want_initial: bool) -> tuple[Tensor, Tensor]:
    grad_path, grad_initial = signature_backward_impl(path, initial, sig, grad, depth, stream,
                                                      want_initial)
    if grad_initial is None:  # custom ops return tensors, never None
        grad_initial = path.new_empty((0,))
    return grad_path, grad_initial


@signature_backward_op.register_fake
def _signature_backward_fake(path, initial, sig, grad, depth, stream, want_initial):
    width = signature_channels(path.shape[2], depth)
    return (path.new_empty(path.shape),
            path.new_empty((path.shape[0], width) if want_initial else (0,)))


def _setup_context(ctx, inputs, output):
    path, initial, depth, stream = inputs
    ctx.save_for_backward(path, initial, output)
    ctx.depth, ctx.stream = depth, stream
    ctx.want_initial = initial is not None and ctx.needs_input_grad[1]


def _gradients(backward, ctx, grad):
    """Autograd's backward for both routes; ``backward`` is the custom op (traceable by
    torch.compile) or its plain implementation (eager, no dispatcher)."""
    path, initial, sig = ctx.saved_tensors
    grad_path, grad_initial = backward(path, initial, sig, grad, ctx.depth, ctx.stream,
                                       ctx.want_initial)
    return grad_path, (grad_initial if ctx.want_initial else None), None, None


def _backward(ctx, grad):
    return _gradients(signature_backward_op, ctx, grad)


signature_op.register_autograd(_backward, setup_context=_setup_context)


class EagerSignature(torch.autograd.Function):
    """The same forward and backward as ``signature_op`` without the custom-op dispatcher, whose
    ~12 us per call dominates small problems.  Used in eager mode only; ``torch.compile`` sees
    ``signature_op``."""

    @staticmethod
    def forward(ctx, path, initial, depth, stream):
        out = signature_forward_impl(path, initial, depth, stream)
        _setup_context(ctx, (path, initial, depth, stream), out)
        return out

    @staticmethod
    def backward(ctx, grad):
        return _gradients(signature_backward_impl, ctx, grad)


def signature(path: Tensor, initial: Optional[Tensor], depth: int, stream: bool) -> Tensor:
    """Raw signature through the cheapest route that keeps autograd and torch.compile working."""
    if torch.compiler.is_compiling():
        return signature_op(path, initial, depth, stream)
    if torch.is_grad_enabled() and (path.requires_grad or
                                    (initial is not None and initial.requires_grad)):
        return EagerSignature.apply(path, initial, depth, stream)
    return signature_forward_impl(path, initial, depth, stream)


# ---- log-signatures in Lyndon coordinates, straight from the path -----------------------

def logsignature_words_impl(path: Tensor, depth: int, want_signature: bool,
                            projection=None) -> tuple[Tensor, Optional[Tensor]]:
    """path (batch, length, d) -> the log-signature at the Lyndon words (batch, words), and,
    when asked, the signature it came from, exact below the top level and at the Lyndon words of
    the top level, zero elsewhere (all the backward needs).  ``projection``:
    optional (out, in, coef) triples of a change of basis from Lyndon-word coordinates
    (sigcg.lyndon.words_to_basis), applied in the kernel.  CPU only."""
    path = _contiguous(path)
    batch, length, d = path.shape
    words = _empty((batch, logsignature_channels(d, depth)), path)
    sig = _empty((batch, signature_channels(d, depth)), path) if want_signature else None
    kernel = dispatch.get_kernel("logsignature_words", d, depth, _DTYPE_NAMES[path.dtype])
    lib, ptr, ffi = kernel.lib, kernel.ptr, kernel.ffi
    p_path, p_words, p_sig = ptr(path), ptr(words), ptr(sig)
    if projection is None:
        tables, nnz = (ffi.NULL, ffi.NULL, ffi.NULL), 0
    else:
        out_idx, in_idx, coef = projection
        tables = (ffi.from_buffer("int32_t[]", out_idx), ffi.from_buffer("int32_t[]", in_idx),
                  ffi.from_buffer(f"{kernel.spec.ctype}[]", coef))
        nnz = len(coef)
    dispatch.run_over_batch(
        lambda b0, b1: lib.sigcg_logsignature_words(p_path, p_words, p_sig, *tables, nnz, batch,
                                                    length, b0, b1),
        batch, kernel.spec.lanes, kernel.fma_per_step * batch * (length - 1))
    return words, sig


@torch.library.custom_op("sigcg::logsignature_words", mutates_args=())
def logsignature_words_op(path: Tensor, depth: int) -> tuple[Tensor, Tensor]:
    """(log-signature at the Lyndon words, the signature kept for the backward)."""
    return logsignature_words_impl(path, depth, want_signature=True)


@logsignature_words_op.register_fake
def _logsignature_words_fake(path, depth):
    batch, _, d = path.shape
    return (path.new_empty((batch, logsignature_channels(d, depth))),
            path.new_empty((batch, signature_channels(d, depth))))


def logsignature_words_backward_impl(path: Tensor, sig: Tensor, grad_sig: Tensor,
                                     depth: int) -> Tensor:
    """Gradient with respect to the path of the signature part of ``logsignature_words_impl``
    (its ``sig`` output), given that part's cotangent ``grad_sig`` (batch, sig); only the
    entries the forward computed are read."""
    path, sig, grad_sig = _contiguous(path), _contiguous(sig), _contiguous(grad_sig)
    batch, length, d = path.shape
    grad_path = _empty(path.shape, path)
    kernel = dispatch.get_kernel("logsignature_words", d, depth, _DTYPE_NAMES[path.dtype])
    lib, ptr = kernel.lib, kernel.ptr
    args = (ptr(path), ptr(sig), ptr(grad_sig), ptr(grad_path))
    dispatch.run_over_batch(
        lambda b0, b1: lib.sigcg_logsignature_words_backward(*args, batch, length, b0, b1),
        batch, kernel.spec.lanes, 3 * kernel.fma_per_step * batch * (length - 1))
    return grad_path


@torch.library.custom_op("sigcg::logsignature_words_backward", mutates_args=())
def logsignature_words_backward_op(path: Tensor, sig: Tensor, grad_sig: Tensor,
                                   depth: int) -> Tensor:
    return logsignature_words_backward_impl(path, sig, grad_sig, depth)


@logsignature_words_backward_op.register_fake
def _logsignature_words_backward_fake(path, sig, grad_sig, depth):
    return path.new_empty(path.shape)


def _logsignature_words_setup_context(ctx, inputs, output):
    path, depth = inputs
    ctx.save_for_backward(path, output[1])
    ctx.depth = depth
    ctx.mark_non_differentiable(output[1])


def _logsignature_words_backward(ctx, grad_words, _grad_sig):
    """Through the tensor log's backward (cotangent at the Lyndon words only), then the
    signature part's own backward kernel, which like the forward skips level N's other words."""
    path, sig = ctx.saved_tensors
    d, depth = path.shape[2], ctx.depth
    positions = torch.from_numpy(words_index(d, depth)).to(grad_words.device)
    grad_log = grad_words.new_zeros(sig.shape).index_copy(1, positions, grad_words)
    grad_sig = tensor_log_backward_op(sig, grad_log, d, depth)
    return logsignature_words_backward_op(path, sig, grad_sig, depth), None


logsignature_words_op.register_autograd(_logsignature_words_backward,
                                        setup_context=_logsignature_words_setup_context)


def logsignature_words(path: Tensor, depth: int) -> Tensor:
    """The log-signature at the Lyndon words ("words" mode), whole paths, CPU: the cheapest route
    that keeps autograd and torch.compile working."""
    if needs_autograd(path):
        return logsignature_words_op(path, depth)[0]
    return logsignature_words_impl(path, depth, want_signature=False)[0]


# ---- tensor product (Chen's identity), for combining signatures -----------------------------

def tensor_product_impl(a: Tensor, b: Tensor, channels: int, depth: int,
                        target: str = "cpu") -> Tensor:
    """a (x) b for (batch, sig) signatures of the same shape (no scalar term).  ``target``
    "cuda_emulated" runs the CUDA kernel's emulation on CPU tensors (tests)."""
    a, b = _contiguous(a), _contiguous(b)
    out = _empty(a.shape, a)
    gpu = _cuda_or_cpu(a)
    if gpu is not None:
        gpu.rows("tensor_product", False, channels, depth, a, b, out)
        return out
    batch = a.shape[0]
    kernel = dispatch.get_kernel("tensor_product", channels, depth, _DTYPE_NAMES[a.dtype],
                                 target=target)
    lib, ptr = kernel.lib, kernel.ptr
    pa, pb, po = ptr(a), ptr(b), ptr(out)
    dispatch.run_over_batch(lambda b0, b1: lib.sigcg_tensor_product(pa, pb, po, batch, b0, b1),
                            batch, 1, kernel.fma_per_step * batch)
    return out


def tensor_product_backward_impl(a: Tensor, b: Tensor, grad: Tensor, channels: int,
                                 depth: int, target: str = "cpu") -> tuple[Tensor, Tensor]:
    a, b, grad = _contiguous(a), _contiguous(b), _contiguous(grad)
    grad_a, grad_b = _empty(a.shape, a), _empty(a.shape, a)
    gpu = _cuda_or_cpu(a)
    if gpu is not None:
        gpu.rows("tensor_product", True, channels, depth, a, b, grad, grad_a, grad_b)
        return grad_a, grad_b
    batch = a.shape[0]
    kernel = dispatch.get_kernel("tensor_product", channels, depth, _DTYPE_NAMES[a.dtype],
                                 target=target)
    lib, ptr = kernel.lib, kernel.ptr
    args = (ptr(a), ptr(b), ptr(grad), ptr(grad_a), ptr(grad_b))
    dispatch.run_over_batch(
        lambda b0, b1: lib.sigcg_tensor_product_backward(*args, batch, b0, b1),
        batch, 1, 2 * kernel.fma_per_step * batch)
    return grad_a, grad_b


@torch.library.custom_op("sigcg::tensor_product", mutates_args=())
def tensor_product_op(a: Tensor, b: Tensor, channels: int, depth: int) -> Tensor:
    """a (x) b: (batch, sig) signatures without scalar term, contiguous -> (batch, sig)."""
    return tensor_product_impl(a, b, channels, depth)


@tensor_product_op.register_fake
def _tensor_product_fake(a, b, channels, depth):
    return a.new_empty(a.shape)


@torch.library.custom_op("sigcg::tensor_product_backward", mutates_args=())
def tensor_product_backward_op(a: Tensor, b: Tensor, grad: Tensor, channels: int,
                               depth: int) -> tuple[Tensor, Tensor]:
    return tensor_product_backward_impl(a, b, grad, channels, depth)


@tensor_product_backward_op.register_fake
def _tensor_product_backward_fake(a, b, grad, channels, depth):
    return a.new_empty(a.shape), a.new_empty(a.shape)


def _product_setup_context(ctx, inputs, output):
    a, b, channels, depth = inputs
    ctx.save_for_backward(a, b)
    ctx.channels, ctx.depth = channels, depth


def _product_backward(ctx, grad):
    a, b = ctx.saved_tensors
    grad_a, grad_b = tensor_product_backward_op(a, b, grad, ctx.channels, ctx.depth)
    return grad_a, grad_b, None, None


tensor_product_op.register_autograd(_product_backward, setup_context=_product_setup_context)


def tensor_product(a: Tensor, b: Tensor, channels: int, depth: int) -> Tensor:
    """a (x) b through the custom op when autograd or torch.compile needs it, else straight to
    the kernel (the dispatcher costs ~12 us a call)."""
    if needs_autograd(a, b):
        return tensor_product_op(a, b, channels, depth)
    return tensor_product_impl(a, b, channels, depth)


# ---- tensor log and exp, for log-signatures --------------------------------------------------

def unary_impl(name: str, x: Tensor, channels: int, depth: int, target: str = "cpu") -> Tensor:
    """``name`` ("tensor_log": log(1 + x); "tensor_exp": exp(x) - 1) of (rows, sig) tensors
    without scalar term."""
    x = _contiguous(x)
    out = _empty(x.shape, x)
    gpu = _cuda_or_cpu(x)
    if gpu is not None:
        gpu.rows(name, False, channels, depth, x, out)
        return out
    rows = x.shape[0]
    kernel = dispatch.get_kernel(name, channels, depth, _DTYPE_NAMES[x.dtype], target=target)
    fn, px, po = getattr(kernel.lib, f"sigcg_{name}"), kernel.ptr(x), kernel.ptr(out)
    dispatch.run_over_batch(lambda b0, b1: fn(px, po, rows, b0, b1), rows, 1,
                            kernel.fma_per_step * rows)
    return out


def unary_backward_impl(name: str, x: Tensor, grad: Tensor, channels: int, depth: int,
                        target: str = "cpu") -> Tensor:
    x, grad = _contiguous(x), _contiguous(grad)
    grad_x = _empty(x.shape, x)
    gpu = _cuda_or_cpu(x)
    if gpu is not None:
        gpu.rows(name, True, channels, depth, x, grad, grad_x)
        return grad_x
    rows = x.shape[0]
    kernel = dispatch.get_kernel(name, channels, depth, _DTYPE_NAMES[x.dtype], target=target)
    fn, ptr = getattr(kernel.lib, f"sigcg_{name}_backward"), kernel.ptr
    args = (ptr(x), ptr(grad), ptr(grad_x))
    dispatch.run_over_batch(lambda b0, b1: fn(*args, rows, b0, b1), rows, 1,
                            3 * kernel.fma_per_step * rows)
    return grad_x


def _register_unary(name: str):
    """The custom op ``sigcg::<name>`` (+ its backward op, fake impls and autograd)."""

    @torch.library.custom_op(f"sigcg::{name}", mutates_args=())
    def op(x: Tensor, channels: int, depth: int) -> Tensor:
        return unary_impl(name, x, channels, depth)

    @torch.library.custom_op(f"sigcg::{name}_backward", mutates_args=())
    def backward_op(x: Tensor, grad: Tensor, channels: int, depth: int) -> Tensor:
        return unary_backward_impl(name, x, grad, channels, depth)

    op.register_fake(lambda x, channels, depth: x.new_empty(x.shape))
    backward_op.register_fake(lambda x, grad, channels, depth: x.new_empty(x.shape))

    def setup_context(ctx, inputs, output):
        x, channels, depth = inputs
        ctx.save_for_backward(x)
        ctx.channels, ctx.depth = channels, depth

    def backward(ctx, grad):
        (x,) = ctx.saved_tensors
        return backward_op(x, grad, ctx.channels, ctx.depth), None, None

    op.register_autograd(backward, setup_context=setup_context)
    return op


tensor_log_op = _register_unary("tensor_log")  # log(1 + x): (rows, sig) -> (rows, sig)
tensor_log_backward_op = torch.ops.sigcg.tensor_log_backward
tensor_exp_op = _register_unary("tensor_exp")  # exp(x) - 1: (rows, sig) -> (rows, sig)


__all__ = ["tensor_product", "tensor_exp_op", "tensor_log_op", "tensor_product_op", "tensor_product_impl",
           "tensor_product_backward_impl", "unary_impl", "unary_backward_impl", "signature", "signature_op", "signature_backward_op", "signature_forward_impl",
           "signature_backward_impl"]
