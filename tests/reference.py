"""Independent, obviously-correct signature arithmetic in plain torch (float64, dense tensors).

Nothing here shares code with sigcg: levels are explicit (batch, d, ..., d) tensors, products are
outer products, the exponential is Δ^{⊗k}/k!.  Slow, and only meant for small shapes.
"""

from __future__ import annotations

import math

import torch


def tensor_exp(delta: torch.Tensor, depth: int) -> list[torch.Tensor]:
    """Levels 1..depth of exp(Δ) for Δ of shape (batch, d): flat (batch, d^k) tensors."""
    levels, power = [], torch.ones(delta.shape[0], 1, dtype=delta.dtype)
    for k in range(1, depth + 1):
        power = (power[:, :, None] * delta[:, None, :]).reshape(delta.shape[0], -1)
        levels.append(power / math.factorial(k))
    return levels


def chen(a: list[torch.Tensor], b: list[torch.Tensor]) -> list[torch.Tensor]:
    """(1 + a) ⊗ (1 + b) truncated, levels 1..depth, flat."""
    depth = len(a)
    out = []
    for k in range(1, depth + 1):
        level = a[k - 1] + b[k - 1]
        for i in range(1, k):
            level = level + (a[i - 1][:, :, None] * b[k - i - 1][:, None, :]).reshape(
                a[0].shape[0], -1
            )
        out.append(level)
    return out


def split(sig: torch.Tensor, d: int, depth: int) -> list[torch.Tensor]:
    out, offset = [], 0
    for k in range(1, depth + 1):
        out.append(sig[:, offset : offset + d**k])
        offset += d**k
    return out


def flat(levels: list[torch.Tensor]) -> torch.Tensor:
    return torch.cat(levels, dim=1)


def signature(path: torch.Tensor, depth: int, stream: bool = False) -> torch.Tensor:
    """path (batch, length, d) -> (batch, sig) or (batch, length-1, sig)."""
    path = path.double()
    batch, length, d = path.shape
    levels = [torch.zeros(batch, d**k, dtype=torch.float64) for k in range(1, depth + 1)]
    rows = []
    for t in range(1, length):
        levels = chen(levels, tensor_exp(path[:, t] - path[:, t - 1], depth))
        rows.append(flat(levels))
    return torch.stack(rows, 1) if stream else rows[-1]


def inverse(sig: torch.Tensor, d: int, depth: int) -> torch.Tensor:
    """Inverse in the truncated tensor algebra by the series 1 - x + x^2 - ... (x = sig - 1)."""
    x = split(sig, d, depth)
    result = [-lvl for lvl in x]
    power = x
    for n in range(2, depth + 1):
        power = chen_product_only(power, x)
        result = [r + (-1) ** n * p for r, p in zip(result, power)]
    return flat(result)


def chen_product_only(a: list[torch.Tensor], b: list[torch.Tensor]) -> list[torch.Tensor]:
    """a ⊗ b for tensors with no scalar part, truncated."""
    depth = len(a)
    out = []
    for k in range(1, depth + 1):
        level = torch.zeros_like(a[k - 1])
        for i in range(1, k):
            level = level + (a[i - 1][:, :, None] * b[k - i - 1][:, None, :]).reshape(
                a[0].shape[0], -1
            )
        out.append(level)
    return out


def log(sig: torch.Tensor, d: int, depth: int) -> torch.Tensor:
    """log(1 + x) = sum_n (-1)^(n+1) x^n / n (x = sig without its scalar), flat."""
    x = split(sig, d, depth)
    total, power = [lvl.clone() for lvl in x], x
    for n in range(2, depth + 1):
        power = chen_product_only(power, x)
        total = [t + (-1) ** (n + 1) * p / n for t, p in zip(total, power)]
    return flat(total)


def exp(x: torch.Tensor, d: int, depth: int) -> torch.Tensor:
    """exp(x) - 1 = sum_n x^n / n! for x without scalar, flat."""
    xs = split(x, d, depth)
    total, power = [lvl.clone() for lvl in xs], xs
    for n in range(2, depth + 1):
        power = chen_product_only(power, xs)
        total = [t + p / math.factorial(n) for t, p in zip(total, power)]
    return flat(total)


def transform(path: torch.Tensor, time_aug: bool, lead_lag: bool, end_time: float = 1.0):
    """pySigLib's transform_path, point by point: lead-lag point t = (x_{t//2}, x_{(t+1)//2})
    (lag channels first), then a time channel end_time * i / (L' - 1)."""
    batch, length, d = path.shape
    points = []
    for t in range(2 * length - 1 if lead_lag else length):
        if lead_lag:
            points.append(torch.cat([path[:, t // 2], path[:, (t + 1) // 2]], dim=1))
        else:
            points.append(path[:, t])
    out = torch.stack(points, 1)
    if time_aug:
        steps = out.shape[1] - 1
        times = torch.tensor([end_time * i / steps for i in range(out.shape[1])], dtype=out.dtype)
        out = torch.cat([out, times[None, :, None].expand(batch, -1, 1)], dim=2)
    return out
