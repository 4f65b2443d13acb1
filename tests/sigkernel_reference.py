"""Independent, obviously-correct signature kernels in plain torch (float64, slow, small shapes).

Nothing here shares code with sigcg: the static kernels are their textbook formulas between
explicit point differences, the increment Gram is the double difference over every cell, and the
PDE is the scheme written cell by cell on the refined grid (a double loop, vectorised over
pairs only).
"""

from __future__ import annotations

import math

import torch


def point_kernel(kind: str, a: torch.Tensor, b: torch.Tensor, **p) -> torch.Tensor:
    """κ(a_s, b_t) for a (B, La, d), b (B, Lb, d) -> (B, La, Lb)."""
    diff = a[:, :, None, :] - b[:, None, :, :]
    r2 = (diff * diff).sum(-1)
    r = torch.sqrt(r2)
    inner = (a[:, :, None, :] * b[:, None, :, :]).sum(-1)
    if kind == "linear":
        return inner
    if kind == "scaled_linear":
        return p["scale"] ** 2 * inner
    if kind == "rbf":
        return torch.exp(-r2 / p["sigma"])
    if kind == "polynomial":
        return p["scale"] * (inner + p["gamma"]) ** p["degree"]
    if kind == "matern12":
        return torch.exp(-r / p["sigma"])
    if kind == "matern32":
        u = math.sqrt(3) * r / p["sigma"]
        return (1 + u) * torch.exp(-u)
    if kind == "matern52":
        u = math.sqrt(5) * r / p["sigma"]
        return (1 + u + 5 * r2 / (3 * p["sigma"] ** 2)) * torch.exp(-u)
    if kind == "rational_quadratic":
        return (1 + r2 / (2 * p["alpha"] * p["sigma"] ** 2)) ** (-p["alpha"])
    raise ValueError(kind)


def increment_gram(kind: str, x: torch.Tensor, y: torch.Tensor, **p) -> torch.Tensor:
    k = point_kernel(kind, x, y, **p)
    n1, n2 = x.shape[1] - 1, y.shape[1] - 1
    out = torch.empty(x.shape[0], n1, n2, dtype=k.dtype)
    for s in range(n1):
        for t in range(n2):
            out[:, s, t] = k[:, s + 1, t + 1] - k[:, s, t + 1] - k[:, s + 1, t] + k[:, s, t]
    return out


def solve(gram: torch.Tensor, lam1: int, lam2: int) -> torch.Tensor:
    """The whole PDE solution (B, R1 + 1, R2 + 1) by the second-order scheme, cell by cell."""
    batch, n1, n2 = gram.shape
    r1, r2 = n1 * 2**lam1, n2 * 2**lam2
    k = [[torch.ones(batch, dtype=gram.dtype) for _ in range(r2 + 1)] for _ in range(r1 + 1)]
    for i in range(r1):
        for j in range(r2):
            g = gram[:, i // 2**lam1, j // 2**lam2] / (2**lam1 * 2**lam2)
            a = 1 + g / 2 + g * g / 12
            b = 1 - g * g / 12
            k[i + 1][j + 1] = (k[i + 1][j] + k[i][j + 1]) * a - k[i][j] * b
    return torch.stack([torch.stack(row, -1) for row in k], 1)


def sig_kernel(x, y, lam1=0, lam2=0, kind="linear", return_grid=False, **p):
    grid = solve(increment_gram(kind, x, y, **p), lam1, lam2)
    return grid if return_grid else grid[:, -1, -1]


def gram_matrix(x, y, lam1=0, lam2=0, kind="linear", **p):
    bx, by = x.shape[0], y.shape[0]
    xs = x.repeat_interleave(by, 0)
    ys = y.repeat(bx, 1, 1)
    return sig_kernel(xs, ys, lam1, lam2, kind, **p).view(bx, by)


def mmd(x, y, lam1=0, lam2=0, kind="linear", unbiased=True, **p):
    kxx = gram_matrix(x, x, lam1, lam2, kind, **p)
    kyy = gram_matrix(y, y, lam1, lam2, kind, **p)
    kxy = gram_matrix(x, y, lam1, lam2, kind, **p)
    m, n = x.shape[0], y.shape[0]
    if unbiased:
        return (
            (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1))
            + (kyy.sum() - kyy.diagonal().sum()) / (n * (n - 1))
            - 2 * kxy.mean()
        )
    return kxx.mean() + kyy.mean() - 2 * kxy.mean()


def score(sample, y, lam=1.0, lam1=0, lam2=0, kind="linear", **p):
    m = sample.shape[0]
    kxx = gram_matrix(sample, sample, lam1, lam2, kind, **p)
    kxy = gram_matrix(sample, y, lam1, lam2, kind, **p)
    return lam * (kxx.sum() - kxx.diagonal().sum()) / (m * (m - 1)) - 2 * kxy.mean(0)
