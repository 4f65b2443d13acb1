"""The backend protocol and the one call path into every kernel.

    launch(op, entry, d, N, args, like=tensor, steps=...)

picks the backend for ``like``'s device (CPU tensors: the CPU backend, or the emulated CUDA
backend while tests select it with :func:`emulate_cuda`; CUDA tensors: the CUDA backend), checks
every argument against the entry's parameter list (the op descriptor's, codegen/kernels) --
device, dtype, contiguity, presence -- before any pointer is taken, poisons the outputs when
asked, and hands over to the backend, which builds or loads the kernel (memory, then the disk
cache, then generate + compile) and launches it.
"""
from __future__ import annotations

import contextlib
import os
import threading
from typing import Any, Protocol

import torch

from .. import codegen
from ..codegen.kernels.base import Entry, KernelOp

# Tests set this to fill every output with NaN before a kernel runs, so an entry the kernel
# forgets to write fails loudly instead of holding stale memory that happens to look right.
POISON = os.environ.get("SIGCG_POISON", "0") == "1"

DTYPE_NAMES = {torch.float32: "float32", torch.float64: "float64"}


class KernelArgumentError(ValueError):
    """A kernel was called with an argument that does not match its declared parameter."""


class Backend(Protocol):
    """Builds (or finds in the cache), loads and launches the kernels of one target."""

    target: str

    def launch(self, spec_args: tuple, entry: Entry, args: dict[str, Any], device: torch.device,
               steps: int) -> None:
        """Run ``entry`` of the kernel (op, d, N, dtype) = ``spec_args`` on checked ``args``
        (``steps``: path steps per row, for estimating the work)."""
        ...


_state = threading.local()


@contextlib.contextmanager
def emulate_cuda(device: Any = None):
    """Route CPU tensors through the CUDA kernels' CPU emulation and the real CUDA launcher,
    with ``device`` (a ``cuda_launch.DeviceInfo``; default: an H100's limits) standing in for the
    GPU.  For tests: production code never selects the emulation."""
    from .cuda_launch import H100

    previous = getattr(_state, "emulated_device", None)
    _state.emulated_device = device or H100
    try:
        yield
    finally:
        _state.emulated_device = previous


def emulated_device():
    return getattr(_state, "emulated_device", None)


def has_kernel(op: str, like: torch.Tensor) -> bool:
    """Whether kernel op ``op`` has a form for the backend ``like`` would run on (the API picks
    strategies by this, e.g. the CPU-only log-signature kernel)."""
    target = {"cpu": "cuda_emulated" if emulated_device() is not None else "cpu",
              "cuda": "cuda"}.get(like.device.type)
    return target is not None and codegen.REGISTRY[op].has_target(target)


def _backend(device: torch.device) -> Backend:
    if device.type == "cpu":
        if emulated_device() is not None:
            from .emulation import BACKEND as emulation
            return emulation
        from .cpu import BACKEND as cpu
        return cpu
    if device.type == "cuda":
        from .cuda import BACKEND as cuda
        return cuda
    raise NotImplementedError(f"sigcg has kernels for CPU and CUDA tensors, not for "
                              f"{device.type!r} tensors")


def check_args(kernel: KernelOp, entry: Entry, args: dict[str, Any], device: torch.device,
               dtype: torch.dtype) -> None:
    """Every declared parameter present, nothing else; pointers are contiguous tensors of the
    right dtype on ``device`` (or None where the parameter is optional)."""
    if len(args) != len(entry.params):
        names = {p.name for p in entry.params}
        raise KernelArgumentError(
            f"{kernel.name}.{entry.name}: missing {sorted(names - set(args))}, "
            f"unexpected {sorted(set(args) - names)}")
    for p in entry.params:
        try:
            value = args[p.name]
        except KeyError:
            raise KernelArgumentError(f"{kernel.name}.{entry.name}: missing argument "
                                      f"{p.name!r}") from None
        if not p.is_pointer:
            if not isinstance(value, int):
                raise KernelArgumentError(f"{kernel.name}.{entry.name}: {p.name} must be an int, "
                                          f"got {type(value).__name__}")
            continue
        if value is None:
            if not p.optional:
                raise KernelArgumentError(f"{kernel.name}.{entry.name}: {p.name} is required")
            continue
        if not isinstance(value, torch.Tensor):
            raise KernelArgumentError(f"{kernel.name}.{entry.name}: {p.name} must be a tensor, "
                                      f"got {type(value).__name__}")
        want = torch.int32 if p.kind == "index" else dtype
        if value.dtype != want:
            raise KernelArgumentError(f"{kernel.name}.{entry.name}: {p.name} has dtype "
                                      f"{value.dtype}, expected {want}")
        if value.device != device:
            raise KernelArgumentError(f"{kernel.name}.{entry.name}: {p.name} is on "
                                      f"{value.device}, the kernel runs on {device}")
        if not value.is_contiguous():
            raise KernelArgumentError(f"{kernel.name}.{entry.name}: {p.name} is not contiguous")


def launch(op: str, entry_name: str, d: int, N: int, args: dict[str, Any], *,
           like: torch.Tensor, steps: int = 1) -> None:
    """Run kernel ``op``'s entry point ``entry_name`` for (d, N) in ``like``'s dtype and on its
    device.  ``args`` maps every declared parameter to a value; ``steps`` is the number of path
    steps per row (1 for row kernels), with which the CPU backend estimates the work of the
    call from the op's counts and splits large calls over threads."""
    kernel = codegen.REGISTRY[op]
    entry = kernel.entry(entry_name)
    device, dtype = like.device, like.dtype
    if dtype not in DTYPE_NAMES:
        raise TypeError(f"{op}: sigcg kernels take float32 or float64 tensors, got {dtype}")
    check_args(kernel, entry, args, device, dtype)
    if POISON:
        for p in entry.params:
            if p.kind == "out" and args[p.name] is not None:
                args[p.name].fill_(float("nan"))
    if args[entry.rows] == 0:
        return
    _backend(device).launch((op, d, N, DTYPE_NAMES[dtype]), entry, args, device, steps)
