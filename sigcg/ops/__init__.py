"""The kernels as torch operators (one module per op family), each a :class:`base.TorchOp`:
custom op under torch.compile, autograd.Function in eager mode, double backward declared.
``REGISTRY`` holds every one of them by name."""

from .algebra import (
    left_multiply,
    ordered_product,
    tensor_exp,
    tensor_exp_backward,
    tensor_log,
    tensor_log_backward,
    tensor_product,
    tensor_product_backward,
)
from .base import REGISTRY, TorchOp, needs_autograd
from .coefficient import signature_words
from .logsignature import logsignature_in_basis, logsignature_words, logsignature_words_backward
from .signature import (
    signature,
    signature_backward,
    signature_fused,
    signature_fused_backward,
    signature_hvp,
    signature_vjp,
)
from .windows import signature_windows, signature_windows_backward

__all__ = [
    "REGISTRY",
    "TorchOp",
    "left_multiply",
    "logsignature_in_basis",
    "logsignature_words",
    "logsignature_words_backward",
    "needs_autograd",
    "ordered_product",
    "signature",
    "signature_backward",
    "signature_fused",
    "signature_fused_backward",
    "signature_hvp",
    "signature_vjp",
    "signature_windows",
    "signature_windows_backward",
    "signature_words",
    "tensor_exp",
    "tensor_exp_backward",
    "tensor_log",
    "tensor_log_backward",
    "tensor_product",
    "tensor_product_backward",
]
