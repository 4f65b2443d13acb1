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
from collections.abc import Callable
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

    def bind(
        self, spec_args: tuple, entry: Entry, device: torch.device
    ) -> Callable[[dict[str, Any], int], None]:
        """``run(args, steps)``: ``entry`` of the kernel (op, d, N, dtype) = ``spec_args`` on
        checked ``args`` (``steps``: path steps per row, for estimating the work).  What does
        not change from call to call is looked up here, once per binding."""
        ...


class _State(threading.local):
    # a class attribute: reading it never raises (getattr's default costs ~0.5 us a call, on
    # every kernel launch)
    emulated_device: Any = None


_state = _State()


@contextlib.contextmanager
def emulate_cuda(device: Any = None):
    """Route CPU tensors through the CUDA kernels' CPU emulation and the real CUDA launcher,
    with ``device`` (a ``cuda_launch.DeviceInfo``; default: an H100's limits) standing in for the
    GPU.  For tests: production code never selects the emulation."""
    from .cuda_launch import H100

    previous = _state.emulated_device
    _state.emulated_device = device or H100
    try:
        yield
    finally:
        _state.emulated_device = previous


def emulated_device():
    return _state.emulated_device


def has_kernel(op: str, like: torch.Tensor) -> bool:
    """Whether kernel op ``op`` has a form for the backend ``like`` would run on (the API picks
    strategies by this, e.g. the CPU-only log-signature kernel)."""
    target = {
        "cpu": "cuda_emulated" if emulated_device() is not None else "cpu",
        "cuda": "cuda",
    }.get(like.device.type)
    return target is not None and codegen.REGISTRY[op].has_target(target)


_backends: dict[str, Backend] = {}


def _backend(device: torch.device) -> Backend:
    kind = (
        "cuda_emulated" if device.type == "cpu" and emulated_device() is not None else device.type
    )
    backend = _backends.get(kind)
    if backend is None:
        if kind == "cpu":
            from .cpu import BACKEND as cpu

            backend = cpu
        elif kind == "cuda_emulated":
            from .emulation import BACKEND as emulation

            backend = emulation
        elif kind == "cuda":
            from .cuda import BACKEND as cuda

            backend = cuda
        else:
            raise NotImplementedError(
                f"sigcg has kernels for CPU and CUDA tensors, not for {device.type!r} tensors"
            )
        _backends[kind] = backend
    return backend


def _argument_error(
    kernel: KernelOp, entry: Entry, args: dict[str, Any], device: torch.device, dtype: torch.dtype
) -> KernelArgumentError:
    """The first thing wrong with ``args`` (check_args found something), in words."""
    where = f"{kernel.name}.{entry.name}"
    names = {p.name for p in entry.params}
    if set(args) != names:
        return KernelArgumentError(
            f"{where}: missing {sorted(names - set(args))}, unexpected {sorted(set(args) - names)}"
        )
    for p in entry.params:
        value = args[p.name]
        if not p.is_pointer:
            if not isinstance(value, int):
                return KernelArgumentError(
                    f"{where}: {p.name} must be an int, got {type(value).__name__}"
                )
        elif value is None:
            if not p.optional:
                return KernelArgumentError(f"{where}: {p.name} is required")
        elif not isinstance(value, torch.Tensor):
            return KernelArgumentError(
                f"{where}: {p.name} must be a tensor, got {type(value).__name__}"
            )
        elif value.dtype != (torch.int32 if p.kind == "index" else dtype):
            return KernelArgumentError(
                f"{where}: {p.name} has dtype {value.dtype}, expected "
                f"{torch.int32 if p.kind == 'index' else dtype}"
            )
        elif value.device != device:
            return KernelArgumentError(
                f"{where}: {p.name} is on {value.device}, the kernel runs on {device}"
            )
        elif not value.is_contiguous():
            return KernelArgumentError(f"{where}: {p.name} is not contiguous")
        elif value.is_neg():
            return KernelArgumentError(
                f"{where}: {p.name} is a lazily negated view (neg bit set): its memory holds "
                f"the negatives of its values"
            )
    return KernelArgumentError(f"{where}: invalid arguments")


def check_args(
    kernel: KernelOp,
    entry: Entry,
    args: dict[str, Any],
    device: torch.device,
    dtype: torch.dtype,
    checks: tuple[tuple[str, bool, bool, bool], ...],
) -> None:
    """Every declared parameter present, nothing else; pointers are contiguous tensors of the
    right dtype on ``device`` (or None where the parameter is optional).  On the path of every
    kernel call, so the happy path is one pass of cheap tests over ``checks`` (the entry's
    :func:`check_table`, kept by the binding); the message is built only when something is
    wrong."""
    on_cpu = device.type == "cpu"  # `is_cpu` is a plain flag; `.device` builds an object
    if len(args) == len(checks):
        for name, pointer, optional, index in checks:
            value = args.get(name, args)  # `args` itself marks a missing name
            if pointer:
                if value is None:
                    if optional:
                        continue
                elif (
                    isinstance(value, torch.Tensor)
                    and value.dtype is (torch.int32 if index else dtype)
                    and (value.is_cpu if on_cpu else value.device == device)
                    and value.is_contiguous()
                    and not value.is_neg()
                ):
                    continue
            elif type(value) is int:
                continue
            break
        else:
            return
    raise _argument_error(kernel, entry, args, device, dtype)


def check_table(entry: Entry) -> tuple[tuple[str, bool, bool, bool], ...]:
    """(name, is pointer, optional, int32 table) per parameter of ``entry``."""
    return tuple((p.name, p.is_pointer, p.optional, p.kind == "index") for p in entry.params)


# (op, entry, d, N, dtype, device) -> a closure that checks and runs the call (see launch)
_bindings: dict[tuple, Any] = {}


def forget_bindings() -> None:
    """Drop every bound call (after a test changes how kernels are built)."""
    _bindings.clear()


def _bind(
    op: str,
    entry_name: str,
    d: int,
    N: int,
    dtype: torch.dtype,
    device: torch.device,
    emulated: bool,
):
    kernel = codegen.REGISTRY[op]
    entry = kernel.entry(entry_name)
    name = DTYPE_NAMES.get(dtype)
    if name is None:
        raise TypeError(f"{op}: sigcg kernels take float32 or float64 tensors, got {dtype}")
    outputs = tuple(p.name for p in entry.params if p.kind == "out")
    spec_args = (op, d, N, name)
    rows_name = entry.rows
    checks = check_table(entry)  # computed once: hashing the Entry per call costs ~1 us
    run = None

    def checked(args: dict[str, Any], steps: int) -> None:
        nonlocal run
        check_args(kernel, entry, args, device, dtype, checks)
        if POISON:
            for out in outputs:
                if args[out] is not None:
                    args[out].fill_(float("nan"))
        if args[rows_name]:
            if run is None:  # after the first arguments passed: never build for bad ones
                run = _backend(device).bind(spec_args, entry, device)
            run(args, steps)

    if not emulated:
        _bindings[op, entry_name, d, N, dtype, device] = checked
    return checked


def launch(
    op: str,
    entry_name: str,
    d: int,
    N: int,
    args: dict[str, Any],
    *,
    like: torch.Tensor,
    steps: int = 1,
) -> None:
    """Run kernel ``op``'s entry point ``entry_name`` for (d, N) in ``like``'s dtype and on its
    device.  ``args`` maps every declared parameter to a value; ``steps`` is the number of path
    steps per row (1 for row kernels), with which the CPU backend estimates the work of the
    call from the op's counts and splits large calls over threads.

    The first call of a (kernel, entry, d, N, dtype, device) binds it (loading or building the
    kernel); later calls look the binding up and only check the arguments and run."""
    dtype, device = like.dtype, like.device
    emulated = _state.emulated_device is not None
    bound = None if emulated else _bindings.get((op, entry_name, d, N, dtype, device))
    if bound is None:
        bound = _bind(op, entry_name, d, N, dtype, device, emulated)
    bound(args, steps)
