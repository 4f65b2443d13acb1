"""The log-signature kernel (Lyndon coordinates straight from the path) as torch operators."""

from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor

from ..algebra.lyndon import logsignature_channels, words_index
from ..algebra.tensor import compile_constant
from ..codegen import signature_channels
from ..runtime import has_kernel, launch
from . import composite
from .algebra import tensor_log_backward
from .base import TorchOp, contiguous, empty


def _run(
    path: Tensor,
    depth: int,
    want_signature: bool,
    proj_out: Optional[Tensor],
    proj_in: Optional[Tensor],
    proj_coef: Optional[Tensor],
) -> tuple[Tensor, Tensor]:
    path = contiguous(path)
    batch, length, d = path.shape
    words = empty((batch, logsignature_channels(d, depth)), path)
    sig = empty((batch, signature_channels(d, depth)) if want_signature else (0,), path)
    launch(
        "logsignature_words",
        "logsignature_words",
        d,
        depth,
        dict(
            path=path,
            words_out=words,
            out=sig if want_signature else None,
            proj_out=proj_out,
            proj_in=proj_in,
            proj_coef=proj_coef,
            nnz=0 if proj_coef is None else proj_coef.shape[0],
            batch=batch,
            length=length,
        ),
        like=path,
        steps=length - 1,
    )
    return words, sig


def _forward(path: Tensor, depth: int) -> tuple[Tensor, Tensor]:
    """(log-signature at the Lyndon words (B, words), the signature it came from (B, sig):
    exact below the top level and at the Lyndon words of the top level, zero elsewhere -- all
    the backward reads)."""
    return _run(path, depth, True, None, None, None)


def _forward_fake(path, depth):
    batch, d = path.shape[0], int(path.shape[2])  # kernels are specialised per channel count
    return (
        path.new_empty((batch, logsignature_channels(d, depth))),
        path.new_empty((batch, signature_channels(d, depth))),
    )


def _in_basis(
    path: Tensor, depth: int, proj_out: Tensor, proj_in: Tensor, proj_coef: Tensor
) -> Tensor:
    """The log-signature in the basis whose change from Lyndon-word coordinates is the sparse
    (out, in, coef) triples (sigcg.algebra.lyndon.words_to_basis), applied inside the kernel."""
    return _run(path, depth, False, proj_out, proj_in, proj_coef)[0]


def _in_basis_fake(path, depth, proj_out, proj_in, proj_coef):
    return path.new_empty((path.shape[0], logsignature_channels(int(path.shape[2]), depth)))


def _signature_part_backward(path: Tensor, sig: Tensor, grad_sig: Tensor, depth: int) -> Tensor:
    """Gradient with respect to the path of the forward's signature output, given its cotangent
    (only the entries the forward computed are read)."""
    path, sig, grad_sig = contiguous(path), contiguous(sig), contiguous(grad_sig)
    batch, length, d = path.shape
    grad_path = empty(path.shape, path)
    launch(
        "logsignature_words",
        "logsignature_words_backward",
        d,
        depth,
        dict(
            path=path, sig=sig, grad_sig=grad_sig, grad_path=grad_path, batch=batch, length=length
        ),
        like=path,
        steps=length - 1,
    )
    return grad_path


logsignature_words_backward = TorchOp(
    "logsignature_words_backward",
    _signature_part_backward,
    lambda path, sig, grad, depth: path.new_empty(path.shape),
)

_positions: dict = {}


@compile_constant
def _lyndon_positions(d: int, depth: int, device: torch.device) -> Tensor:
    key = (d, depth, device)
    if key not in _positions:
        _positions[key] = torch.as_tensor(words_index(d, depth), device=device)
    return _positions[key]


def _backward(args, outputs, grads, needs, compiled):
    """Through the tensor log's adjoint (cotangent at the Lyndon words only), then the signature
    part's own backward kernel, which like the forward skips level N's other words."""
    path, depth = args
    sig = outputs[1]
    d = path.shape[2]
    if compiled:  # AOT autograd traces this: a tensor made here must not outlive the trace
        positions = torch.as_tensor(words_index(d, depth), device=path.device)
    else:
        positions = _lyndon_positions(d, depth, path.device)
    grad_log = grads[0].new_zeros(sig.shape).index_copy(1, positions, grads[0])
    grad_sig = tensor_log_backward.call(compiled, sig, grad_log, d, depth)
    return logsignature_words_backward.call(compiled, path, sig, grad_sig, depth), None


def _graph_backward(args, outputs, grads, needs):
    """create_graph=True: through _words_from_signature, whose ops have fast second
    derivatives; None (the composite) where the device has no second-order kernels."""
    if not has_kernel("signature_hvp", args[0]):
        return None
    return logsignature_words.grad_through(_words_from_signature, args, grads, needs)


def _words_from_signature(path: Tensor, depth: int) -> tuple[Tensor, Tensor]:
    """The forward's outputs from the signature op (second-order kernels) and the tensor log
    over rows."""
    from .algebra import tensor_log
    from .signature import signature

    d = path.shape[2]
    sig = signature(path, None, depth, False)
    return tensor_log(sig, d, depth).index_select(1, _lyndon_positions(d, depth, path.device)), sig


logsignature_words = TorchOp(
    "logsignature_words",
    _forward,
    _forward_fake,
    backward=_backward,
    save_output=True,
    composite=composite.logsignature_words,
    graph_backward=_graph_backward,
    non_differentiable_outputs=(1,),
)
logsignature_in_basis = TorchOp("logsignature_in_basis", _in_basis, _in_basis_fake)

__all__ = ["logsignature_in_basis", "logsignature_words", "logsignature_words_backward"]
