"""Input checks, all done before any kernel is generated or run."""

from __future__ import annotations

import os

import torch

from ..codegen import signature_channels

SUPPORTED_DTYPES = (torch.float32, torch.float64)


def _physical_memory() -> int:
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return 1 << 62


PHYSICAL_MEMORY = _physical_memory()  # read once: torch.compile cannot trace sysconf


def check_depth(depth) -> None:
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise ValueError(f"depth must be an integer >= 1, got {depth!r}")


def check_float(name: str, tensor: torch.Tensor) -> None:
    if tensor.dtype not in SUPPORTED_DTYPES:
        raise TypeError(f"{name} must be float32 or float64, got {tensor.dtype}")


def check_same(name: str, tensor: torch.Tensor, path: torch.Tensor) -> None:
    if tensor.dtype != path.dtype:
        raise TypeError(
            f"{name} has dtype {tensor.dtype} but path has {path.dtype}; they must match"
        )
    if tensor.device != path.device:
        raise ValueError(
            f"{name} is on {tensor.device} but path is on {path.device}; "
            f"they must be on the same device"
        )


def check_size(batch: int, rows: int, channels: int, depth: int, itemsize: int) -> int:
    """Signature width; raises if the output alone could not fit in this machine's memory."""
    width = signature_channels(channels, depth)
    nbytes = batch * rows * width * itemsize
    if nbytes > PHYSICAL_MEMORY:
        raise MemoryError(
            f"the signature of {batch} path(s) with {channels} channels at depth {depth} has "
            f"{width:,} terms per row and {batch * rows:,} row(s): {nbytes / 2**30:,.1f} GiB, "
            f"more than this machine's {PHYSICAL_MEMORY / 2**30:,.1f} GiB of memory. "
            f"Reduce the depth, the channels (e.g. project the path first) or the batch."
        )
    return width


def check_path(path: torch.Tensor, depth: int, basepoint) -> None:
    """path: (batch, length, channels) after the unbatched case has been given a batch axis."""
    if not isinstance(path, torch.Tensor):
        raise TypeError(f"path must be a torch.Tensor or numpy.ndarray, got {type(path).__name__}")
    check_float("path", path)
    check_depth(depth)
    if path.ndim != 3:
        raise ValueError(
            f"path must have shape (batch, length, channels) or (length, channels), "
            f"got {tuple(path.shape)}"
        )
    batch, length, channels = path.shape
    if channels < 1:
        raise ValueError(f"path must have at least one channel, got shape {tuple(path.shape)}")
    has_basepoint = basepoint is not False and basepoint is not None
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
                f"basepoint must have shape (batch, channels) = {(batch, channels)}, "
                f"got {tuple(basepoint.shape)}"
            )
    elif basepoint not in (True, False, None):
        raise TypeError(
            f"basepoint must be a bool or a (batch, channels) tensor, "
            f"got {type(basepoint).__name__}"
        )


def check_initial(initial: torch.Tensor, path: torch.Tensor, width: int) -> None:
    if not isinstance(initial, torch.Tensor):
        raise TypeError(f"initial must be a tensor, got {type(initial).__name__}")
    check_same("initial", initial, path)
    if tuple(initial.shape) != (path.shape[0], width):
        raise ValueError(
            f"initial must have shape (batch, signature_channels) = "
            f"{(path.shape[0], width)}, got {tuple(initial.shape)}"
        )
