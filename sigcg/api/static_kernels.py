"""Static kernels for the signature kernel: κ(a, b) between points of R^d, lifted to paths.

The signature kernel of two paths under a static kernel κ solves its PDE with, for the cell of
increments (s, t), the double difference of κ over the cell's corners,

    G_st = κ(x_{s+1}, y_{t+1}) - κ(x_s, y_{t+1}) - κ(x_{s+1}, y_t) + κ(x_s, y_t)

(for the linear kernel, G_st = <x_{s+1} - x_s, y_{t+1} - y_t>).  Formulas and parameter names are
pySigLib 4.0's, so the same parameters give the same kernel (note RBF's exp(-|a - b|^2 / sigma)).

Parameters may be Python floats or 0-dim tensors; tensors that require grad receive gradients
(every formula here is plain differentiable torch).  A kernel of your own: subclass
:class:`StaticKernel` and implement :meth:`StaticKernel.gram` (κ between points) or
:meth:`StaticKernel.increment_gram` (G directly), or pass any callable ``f(x, y)`` that returns
the increment Gram G of shape (batch, Lx - 1, Ly - 1).
"""

from __future__ import annotations

import math
from typing import Union

import numpy as np
import torch
from torch import Tensor

Param = Union[float, Tensor]


def _check_param(
    owner: str, name: str, value, minimum: float | None = None, strict: bool = True
) -> Param:
    """A float (NumPy floats too) or a 0-dim floating-point tensor; floats above (or at, when
    not ``strict``) ``minimum``."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(
        value, (int, float, np.integer, np.floating, Tensor)
    ):
        raise TypeError(
            f"{owner}: {name} must be a float or a 0-dim tensor, got {type(value).__name__}"
        )
    if isinstance(value, Tensor):
        if value.ndim != 0 or not value.is_floating_point():
            raise ValueError(
                f"{owner}: {name} must be a 0-dim floating-point tensor, "
                f"got shape {tuple(value.shape)} and dtype {value.dtype}"
            )
        return value
    value = float(value)
    if value != value or (
        minimum is not None and not (value > minimum or (not strict and value == minimum))
    ):
        bound = "> " if strict else ">= "
        raise ValueError(f"{owner}: {name} must be {bound}{minimum}, got {value}")
    return value


def _check_positive(owner: str, name: str, value, strict: bool = True) -> Param:
    return _check_param(owner, name, value, 0.0, strict)


def _squared_distances(x: Tensor, y: Tensor) -> Tensor:
    """|x_s - y_t|^2 for every pair of points: (B, Lx, Ly), clamped at 0 (rounding)."""
    x2 = (x * x).sum(-1)[:, :, None]
    y2 = (y * y).sum(-1)[:, None, :]
    return (x2 + y2 - 2 * torch.bmm(x, y.transpose(1, 2))).clamp_min(0)


def _distances(x: Tensor, y: Tensor) -> Tensor:
    """|x_s - y_t| with a finite (zero) gradient where points coincide."""
    d2 = _squared_distances(x, y)
    positive = d2 > 0
    return torch.where(
        positive, torch.sqrt(torch.where(positive, d2, torch.ones_like(d2))), torch.zeros_like(d2)
    )


def double_difference(k: Tensor) -> Tensor:
    """(B, Lx, Ly) point Gram -> (B, Lx - 1, Ly - 1) increment Gram."""
    return k[:, 1:, 1:] - k[:, :-1, 1:] - k[:, 1:, :-1] + k[:, :-1, :-1]


class StaticKernel:
    """Base class: implement ``gram(x, y)`` -> κ(x_s, y_t) of shape (B, Lx, Ly) for paths x
    (B, Lx, d) and y (B, Ly, d), or override ``increment_gram`` to give G directly."""

    def gram(self, x: Tensor, y: Tensor) -> Tensor:
        raise NotImplementedError(
            f"{type(self).__name__} must implement gram(x, y) or increment_gram(x, y)"
        )

    def increment_gram(self, x: Tensor, y: Tensor) -> Tensor:
        """G of shape (B, Lx - 1, Ly - 1): κ's double difference over every cell."""
        return double_difference(self.gram(x, y))

    def parameters(self) -> dict[str, Param]:
        """The kernel's parameters by name (tensors among them may require grad)."""
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.parameters().items())
        return f"{type(self).__name__}({args})"


class LinearKernel(StaticKernel):
    """κ(a, b) = <a, b>: the plain signature kernel <S(x), S(y)>.  Solved by the generated
    kernels straight from the increments (no Gram is stored, any path length)."""

    def scale(self) -> Param:
        return 1.0

    def gram(self, x: Tensor, y: Tensor) -> Tensor:
        return torch.bmm(x, y.transpose(1, 2))

    def increment_gram(self, x: Tensor, y: Tensor) -> Tensor:
        return torch.bmm(x.diff(dim=1), y.diff(dim=1).transpose(1, 2))


class ScaledLinearKernel(LinearKernel):
    """κ(a, b) = <scale a, scale b> = scale^2 <a, b>."""

    def __init__(self, scale: Param = 1.0):
        self.scale_ = _check_positive("ScaledLinearKernel", "scale", scale, strict=False)

    def scale(self) -> Param:
        return self.scale_

    def parameters(self) -> dict[str, Param]:
        return {"scale": self.scale_}

    def gram(self, x: Tensor, y: Tensor) -> Tensor:
        return super().gram(x, y) * (self.scale_ * self.scale_)

    def increment_gram(self, x: Tensor, y: Tensor) -> Tensor:
        return super().increment_gram(x, y) * (self.scale_ * self.scale_)


class RBFKernel(StaticKernel):
    """κ(a, b) = exp(-|a - b|^2 / sigma) (pySigLib's convention: sigma, not 2 sigma^2)."""

    def __init__(self, sigma: Param = 1.0):
        self.sigma = _check_positive("RBFKernel", "sigma", sigma)

    def gram(self, x: Tensor, y: Tensor) -> Tensor:
        return torch.exp(-_squared_distances(x, y) / self.sigma)


class PolynomialKernel(StaticKernel):
    """κ(a, b) = scale (<a, b> + gamma)^degree."""

    def __init__(self, degree: Param = 3.0, gamma: Param = 1.0, scale: Param = 1.0):
        self.degree = _check_positive("PolynomialKernel", "degree", degree, strict=False)
        self.gamma = _check_param("PolynomialKernel", "gamma", gamma)
        self.scale = _check_positive("PolynomialKernel", "scale", scale, strict=False)

    def gram(self, x: Tensor, y: Tensor) -> Tensor:
        base = torch.bmm(x, y.transpose(1, 2)) + self.gamma
        if isinstance(self.degree, float) and self.degree.is_integer():
            return self.scale * base ** int(self.degree)
        return self.scale * base.clamp_min(0) ** self.degree


class Matern12Kernel(StaticKernel):
    """κ(a, b) = exp(-|a - b| / sigma)."""

    def __init__(self, sigma: Param = 1.0):
        self.sigma = _check_positive("Matern12Kernel", "sigma", sigma)

    def gram(self, x: Tensor, y: Tensor) -> Tensor:
        return torch.exp(-_distances(x, y) / self.sigma)


class Matern32Kernel(StaticKernel):
    """κ(a, b) = (1 + sqrt(3) r / sigma) exp(-sqrt(3) r / sigma), r = |a - b|."""

    def __init__(self, sigma: Param = 1.0):
        self.sigma = _check_positive("Matern32Kernel", "sigma", sigma)

    def gram(self, x: Tensor, y: Tensor) -> Tensor:
        u = _distances(x, y) * (math.sqrt(3.0) / self.sigma)
        return (1 + u) * torch.exp(-u)


class Matern52Kernel(StaticKernel):
    """κ(a, b) = (1 + sqrt(5) r / sigma + 5 r^2 / (3 sigma^2)) exp(-sqrt(5) r / sigma)."""

    def __init__(self, sigma: Param = 1.0):
        self.sigma = _check_positive("Matern52Kernel", "sigma", sigma)

    def gram(self, x: Tensor, y: Tensor) -> Tensor:
        u = _distances(x, y) * (math.sqrt(5.0) / self.sigma)
        return (1 + u + u * u / 3) * torch.exp(-u)


class RationalQuadraticKernel(StaticKernel):
    """κ(a, b) = (1 + |a - b|^2 / (2 alpha sigma^2))^(-alpha)."""

    def __init__(self, sigma: Param = 1.0, alpha: Param = 1.0):
        self.sigma = _check_positive("RationalQuadraticKernel", "sigma", sigma)
        self.alpha = _check_positive("RationalQuadraticKernel", "alpha", alpha)

    def gram(self, x: Tensor, y: Tensor) -> Tensor:
        base = 1 + _squared_distances(x, y) / (2 * self.alpha * self.sigma * self.sigma)
        return base ** (-self.alpha)


__all__ = [
    "LinearKernel",
    "Matern12Kernel",
    "Matern32Kernel",
    "Matern52Kernel",
    "PolynomialKernel",
    "RBFKernel",
    "RationalQuadraticKernel",
    "ScaledLinearKernel",
    "StaticKernel",
    "double_difference",
]
