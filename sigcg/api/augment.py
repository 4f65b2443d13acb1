"""``Augment``: Signatory's learnable augmentation of a stream before its signature (Bonnier et
al. 2019, "Deep Signature Transforms"), with Signatory 1.2's arguments and semantics."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Union

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from . import validation


class Augment(nn.Module):
    """Sweep a small network over windows of ``kernel_size`` points of a stream.

    The first layer is a 1-D convolution (``in_channels`` -> ``layer_sizes[0]``, with the
    ``kernel_size``, ``stride``, ``padding``, ``dilation`` and ``bias`` of torch.nn.Conv1d), every
    further layer a pointwise one, with ``activation`` between layers (not after the last).  The
    output stream (batch, L - kernel_size + 1, out_channels) concatenates along channels, in
    this order: the original stream without its first kernel_size - 1 points
    (``include_original``), a time channel running from 0 to 1 (``include_time``), and the
    network's output; out_channels = layer_sizes[-1] + in_channels * include_original +
    include_time.  ``layer_sizes`` may be an int (one layer) or empty (no network).

    The parameters live in ``convs`` (a ModuleList of Conv1d), as in Signatory, so its state
    dicts load.  With ``stride``, ``padding`` or ``dilation`` such that the network's output is
    not L - kernel_size + 1 long, the original stream and time cannot be concatenated to it (a
    ValueError at the call, where Signatory fails inside torch.cat).
    """

    def __init__(
        self,
        in_channels: int,
        layer_sizes: Union[int, tuple[int, ...]],
        kernel_size: int,
        stride: int = 1,
        padding: int = 0,
        dilation: int = 1,
        bias: bool = True,
        activation: Callable[[Tensor], Tensor] = F.relu,
        include_original: bool = True,
        include_time: bool = True,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.in_channels = validation.integer("in_channels", in_channels, 1)
        if isinstance(layer_sizes, (int,)) and not isinstance(layer_sizes, bool):
            layer_sizes = (layer_sizes,)
        if not isinstance(layer_sizes, (tuple, list)):
            raise TypeError(
                f"layer_sizes must be an int or a tuple of ints, got "
                f"{type(layer_sizes).__name__} {layer_sizes!r}"
            )
        self.layer_sizes = tuple(validation.integer("layer_sizes", v, 1) for v in layer_sizes)
        self.kernel_size = validation.integer("kernel_size", kernel_size, 1)
        self.stride = validation.integer("stride", stride, 1)
        self.padding = validation.integer("padding", padding, 0)
        self.dilation = validation.integer("dilation", dilation, 1)
        self.bias = validation.boolean("bias", bias)
        if not callable(activation):
            raise TypeError(f"activation must be callable, got {type(activation).__name__}")
        self.activation = activation
        self.include_original = validation.boolean("include_original", include_original)
        self.include_time = validation.boolean("include_time", include_time)
        self.convs = nn.ModuleList()
        previous = self.in_channels
        for i, size in enumerate(self.layer_sizes):
            first = i == 0
            self.convs.append(
                nn.Conv1d(
                    previous,
                    size,
                    kernel_size=self.kernel_size if first else 1,
                    stride=self.stride if first else 1,
                    padding=self.padding if first else 0,
                    dilation=self.dilation if first else 1,
                    bias=self.bias,
                )
            )
            previous = size

    def forward(self, x: Tensor) -> Tensor:
        """x (batch, L, in_channels) -> (batch, L - kernel_size + 1, out_channels)."""
        if not isinstance(x, Tensor):
            raise TypeError(f"x must be a torch.Tensor, got {type(x).__name__}")
        if x.ndim != 3 or x.shape[2] != self.in_channels:
            raise ValueError(
                f"x must have shape (batch, stream, in_channels) with in_channels = "
                f"{self.in_channels}, got {tuple(x.shape)}"
            )
        length = x.shape[1] - self.kernel_size + 1
        if length < 1 and (self.include_original or self.include_time):
            raise ValueError(
                f"x has {x.shape[1]} points, fewer than kernel_size = {self.kernel_size} "
                f"(the original stream and time keep its last L - kernel_size + 1 points)"
            )
        reach = self.dilation * (self.kernel_size - 1) + 1
        if self.convs and x.shape[1] + 2 * self.padding < reach:
            raise ValueError(
                f"x has {x.shape[1]} points: with padding={self.padding} and "
                f"dilation={self.dilation} the first convolution needs at least "
                f"{reach - 2 * self.padding}"
            )
        pieces = []
        if self.include_original:
            pieces.append(x[:, self.kernel_size - 1 :])
        if self.include_time:
            time = torch.linspace(0, 1, length, dtype=x.dtype, device=x.device)
            pieces.append(time[None, :, None].expand(x.shape[0], length, 1))
        if self.convs:
            y = self.convs[0](x.transpose(1, 2))
            for conv in self.convs[1:]:
                y = conv(self.activation(y))
            y = y.transpose(1, 2)
            if pieces and y.shape[1] != length:
                raise ValueError(
                    f"with stride={self.stride}, padding={self.padding}, dilation={self.dilation} "
                    f"the network's output has {y.shape[1]} points but the original stream and "
                    f"time have {length}; they cannot be concatenated (set include_original and "
                    f"include_time to False)"
                )
            pieces.append(y)
        if not pieces:
            raise ValueError(
                "Augment with no layers, include_original and include_time all off "
                "has no output channels"
            )
        return torch.cat(pieces, dim=2)

    def extra_repr(self) -> str:
        return (
            f"activation={self.activation}, include_original={self.include_original}, "
            f"include_time={self.include_time}"
        )
