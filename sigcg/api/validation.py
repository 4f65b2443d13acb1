"""Argument checks for the public functions, all done before any kernel is generated or run.

Every check names the argument and what it expected: a wrong *kind* of value (a string where an
integer goes, an integer where a bool goes) is a TypeError, a wrong *value* of the right kind
(depth 0, a tensor of the wrong shape) a ValueError, and a request too large for this machine a
MemoryError with the numbers.  NumPy scalars are accepted where Python ones are.
"""

from __future__ import annotations

import os
from typing import Any, TypeVar

import numpy as np
import torch

from ..codegen import signature_channels
from ..codegen.spec import MAX_DEPTH

SUPPORTED_DTYPES = (torch.float32, torch.float64)

# The public functions return what they are given: torch tensors for torch tensors, NumPy arrays
# for NumPy arrays.
ArrayT = TypeVar("ArrayT", torch.Tensor, np.ndarray)


def like_input(result: torch.Tensor, numpy_out: bool) -> Any:
    """``result`` as the caller's kind of array (NumPy for NumPy input)."""
    return result.detach().numpy() if numpy_out else result


def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 62


PHYSICAL_MEMORY = _physical_memory()  # read once: torch.compile cannot trace sysconf


def _kind(value: Any) -> str:
    return type(value).__name__


def boolean(name: str, value: Any) -> bool:
    """A flag: bool or numpy.bool_ (not 0/1, which are too easily a mistyped argument)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be a bool, got {_kind(value)} {value!r}")


def integer(name: str, value: Any, minimum: int | None = None, maximum: int | None = None) -> int:
    """An integer (Python or NumPy, not bool) within [minimum, maximum]."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {_kind(value)} {value!r}")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be at most {maximum}, got {value}")
    return value


def depth(value: Any, name: str = "depth") -> int:
    """A truncation depth; kernels are generated for depths up to MAX_DEPTH."""
    return integer(name, value, 1, MAX_DEPTH)


def channels(value: Any, name: str = "channels") -> int:
    return integer(name, value, 1)


def tensor(name: str, value: Any) -> tuple[torch.Tensor, bool]:
    """(a tensor, whether the caller gets NumPy back) from a torch.Tensor, a numpy.ndarray or a
    nested list/tuple of numbers (converted as ``np.asarray(value, dtype=float64)`` would: a
    NumPy user's array-like; the result is NumPy).  NumPy arrays of integers are refused rather
    than silently converted: their dtype is the caller's choice, and float32 vs float64 matters
    here."""
    if isinstance(value, torch.Tensor):
        return value, False
    if isinstance(value, np.ndarray):
        if value.dtype.kind not in "f":
            raise TypeError(
                f"{name} must hold floating-point numbers, got a NumPy array of dtype "
                f"{value.dtype} (convert it with {name}.astype(numpy.float64))"
            )
        return torch.from_numpy(np.ascontiguousarray(value)), True
    if isinstance(value, (list, tuple)):
        try:
            array = np.asarray(value)
        except ValueError as exc:  # ragged nesting
            raise ValueError(f"{name} is not a rectangular array of numbers ({exc})") from None
        if array.dtype.kind not in "iufb" or array.dtype.kind == "b" and array.ndim == 0:
            raise TypeError(f"{name} must be an array of numbers, got {_kind(value)} {value!r}")
        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float64)), True
    raise TypeError(
        f"{name} must be a torch.Tensor, a numpy.ndarray or a nested list of numbers, got "
        f"{_kind(value)}"
    )


def float_tensor(name: str, value: Any) -> tuple[torch.Tensor, bool]:
    """As :func:`tensor`, float32 or float64 only."""
    t, from_numpy = tensor(name, value)
    check_float(name, t)
    return t, from_numpy


def check_float(name: str, t: torch.Tensor) -> None:
    if t.dtype not in SUPPORTED_DTYPES:
        raise TypeError(f"{name} must be float32 or float64, got {t.dtype}")


def check_same(name: str, t: torch.Tensor, path: torch.Tensor, other: str = "path") -> None:
    if t.dtype != path.dtype:
        raise TypeError(f"{name} has dtype {t.dtype} but {other} has {path.dtype}; they must match")
    if t.device != path.device:
        raise ValueError(
            f"{name} is on {t.device} but {other} is on {path.device}; they must "
            f"be on the same device"
        )


def choice(name: str, value: Any, options: tuple[str, ...]) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name} must be one of {options}, got {_kind(value)} {value!r}")
    if value not in options:
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value


def basepoint(value: Any) -> bool | torch.Tensor:
    """False/None (no basepoint), True (the origin) or a (batch, channels) point."""
    if value is None:
        return False
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (torch.Tensor, np.ndarray, list, tuple)):
        return tensor("basepoint", value)[0]
    raise TypeError(
        f"basepoint must be a bool or a (batch, channels) tensor or array, got "
        f"{_kind(value)} {value!r}"
    )


def check_size(batch: int, rows: int, width: int, what: str, itemsize: int = 8) -> None:
    """Raise before allocating if the output alone could not fit in this machine's memory
    (``what`` describes one row, e.g. "the signature of 4 channels at depth 6")."""
    nbytes = batch * rows * width * itemsize
    if nbytes > PHYSICAL_MEMORY:
        raise MemoryError(
            f"{what} has {width:,} terms per row and {batch * rows:,} row(s): "
            f"{nbytes / 2**30:,.1f} GiB, more than this machine's "
            f"{PHYSICAL_MEMORY / 2**30:,.1f} GiB of memory. Reduce the depth, the channels "
            f"(e.g. project the path first) or the batch."
        )


def signature_width(batch: int, rows: int, channels: int, depth: int, itemsize: int = 8) -> int:
    """The signature's width, after checking the output fits in memory."""
    width = signature_channels(channels, depth)
    check_size(
        batch, rows, width, f"the signature of {channels} channels at depth {depth}", itemsize
    )
    return width


def check_path(path: torch.Tensor, basepoint: bool | torch.Tensor) -> None:
    """path: a float (batch, length, channels) tensor after the unbatched case has been given a
    batch axis; basepoint as returned by :func:`basepoint` (also batched)."""
    check_float("path", path)
    if path.ndim != 3:
        raise ValueError(
            f"path must have shape (batch, length, channels) or (length, "
            f"channels), got {tuple(path.shape)}"
        )
    batch, length, channels = path.shape
    if channels < 1:
        raise ValueError(f"path must have at least one channel, got shape {tuple(path.shape)}")
    has_basepoint = basepoint is not False
    minimum = 1 if has_basepoint else 2
    if length < minimum:
        raise ValueError(
            f"path must have length >= {minimum}{' with a basepoint' if has_basepoint else ''} "
            f"(a signature needs at least one increment), got shape {tuple(path.shape)}"
        )
    if isinstance(basepoint, torch.Tensor):
        check_same("basepoint", basepoint, path)
        if tuple(basepoint.shape) != (batch, channels):
            raise ValueError(
                f"basepoint must have shape (batch, channels) = "
                f"{(batch, channels)}, got {tuple(basepoint.shape)}"
            )


def check_initial(initial: torch.Tensor, path: torch.Tensor, width: int) -> None:
    check_same("initial", initial, path)
    if tuple(initial.shape) != (path.shape[0], width):
        raise ValueError(
            f"initial must have shape (batch, signature_channels) = "
            f"{(path.shape[0], width)}, got {tuple(initial.shape)}"
        )
