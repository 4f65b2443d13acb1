"""The emulated CUDA backend: the CUDA kernels rendered as C (target "cuda_emulated"), built
like CPU kernels, and launched by the real CUDA launcher's plan (cuda_launch.py) with a stand-in
device: global scratch and dynamic shared memory of exactly the planned sizes, blocks run one
after another.  Selected by tests (backend.emulate_cuda), never by production code.

The checker (templates/cuda/emulation.h.j2), on unless SIGCG_EMULATION_CHECK=0 or
``checking(False)``:
  * registers every buffer of the launch with its exact size: the tensors (inputs read-only),
    the scratch and the dynamic shared memory of the plan; static __shared__ arrays register
    themselves, and their total must be the plan's static_smem;
  * bounds-checks every access and records it per thread and phase, failing the launch on a
    race (within a block's phase, or between blocks), an uninitialised read of shared memory or
    scratch, or a write of an input (KernelCheckError, with the line of the rendered source);
  * runs the kernel with its threads in several orders (forward, reverse, shuffled with a
    seed), scratch and shared memory refilled with NaN and outputs restored between runs, and
    requires bit-identical outputs.
Unchecked launches run the same build once, each access behind one predictable branch.
"""

from __future__ import annotations

import contextlib
import ctypes
import hashlib
import os
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from .. import codegen
from ..codegen.kernels.base import Entry
from . import cpu, cuda_launch
from .backend import emulated_device
from .cpu import addresses, parameter_order

# Kinds of buffers the checker knows (templates/cuda/emulation.h.j2).
_IN, _OUT, _SCRATCH, _SHARED = 0, 1, 2, 3
# (name, order code) of the thread orders a checked launch runs; the shuffle takes the seed.
ORDERS = (("forward", 0), ("reverse", 1), ("shuffled", 2))


class KernelCheckError(RuntimeError):
    """An emulated kernel raced, went out of bounds, read uninitialised memory or gave results
    that depend on the order of its threads."""


class EmulatedKernel:
    """A loaded emulated module: its entry points and the checker's control functions."""

    def __init__(self, spec: codegen.KernelSpec, module: Any, library: str):
        self.spec = spec
        self.functions = {
            e.name: getattr(module.lib, f"sigcg_{e.name}_addr") for e in spec.kernel.entries
        }
        lib = ctypes.CDLL(library)  # the module's own handle: same globals
        self.configure = lib.sigcg_emu_configure
        self.configure.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_uint64)
        self.region = lib.sigcg_emu_region
        self.region.argtypes = (
            ctypes.c_void_p,
            ctypes.c_int64,
            ctypes.c_int64,
            ctypes.c_int,
            ctypes.c_char_p,
        )
        self.error = lib.sigcg_emu_error
        self.error.restype = ctypes.c_char_p
        self.static_bytes = lib.sigcg_emu_static_bytes
        self.static_bytes.restype = ctypes.c_int64


def load(spec: codegen.KernelSpec) -> EmulatedKernel:
    """As cpu.load (an entry that does not load is rejected and rebuilt once)."""
    return cpu.load(
        spec, lambda spec, module, entry: EmulatedKernel(spec, module, str(entry.library))
    )


def build_source(spec: codegen.KernelSpec, source: str) -> EmulatedKernel:
    """An emulated module built from ``source`` instead of ``spec``'s rendering (tests build
    mutated kernels with it), outside the kernel cache."""
    from .compiler import compile_extension

    name = f"_sigcg_emutest_{hashlib.sha256(source.encode()).hexdigest()[:16]}"
    workdir = Path(tempfile.mkdtemp(prefix="sigcg-emulated-"))
    library = compile_extension(name, source, codegen.declarations(spec), workdir)
    return EmulatedKernel(spec, cpu.import_extension(name, library), str(library))


_config = threading.local()


def _check_default() -> bool:
    """Checked unless SIGCG_EMULATION_CHECK=0: the checker costs little on test shapes."""
    return os.environ.get("SIGCG_EMULATION_CHECK", "1") != "0"


@contextlib.contextmanager
def checking(enabled: bool = True, seed: int = 12345):
    """Run emulated launches in this thread under the checker (or not)."""
    previous = getattr(_config, "check", None)
    _config.check = (enabled, seed)
    try:
        yield
    finally:
        _config.check = previous


@contextlib.contextmanager
def source_override(mutate: Callable[[codegen.KernelSpec, str], str]):
    """Build every emulated kernel launched in this thread from ``mutate(spec, rendered
    source)`` (tests: a kernel with a barrier removed must fail the checker)."""
    previous = getattr(_config, "mutate", None)
    _config.mutate = mutate
    try:
        yield
    finally:
        _config.mutate = previous


def _bits(t: torch.Tensor) -> torch.Tensor:
    return t.view(torch.int64 if t.element_size() == 8 else torch.int32)


class EmulatedCudaBackend:
    target = "cuda_emulated"

    def __init__(self) -> None:
        self._loaded: dict[codegen.KernelSpec, EmulatedKernel] = {}
        self._mutated: dict[str, EmulatedKernel] = {}
        self._lock = threading.RLock()  # one launch at a time: the checker's state is global
        self.last_plan: cuda_launch.LaunchPlan | None = None  # what the launcher decided

    def kernel(self, spec: codegen.KernelSpec) -> EmulatedKernel:
        mutate = getattr(_config, "mutate", None)
        if mutate is not None:
            source = mutate(spec, codegen.render(spec))
            if source not in self._mutated:
                self._mutated[source] = build_source(spec, source)
            return self._mutated[source]
        kernel = self._loaded.get(spec)
        if kernel is None:
            kernel = self._loaded[spec] = load(spec)
        return kernel

    def bind(
        self, spec_args: tuple, entry: Entry, device: torch.device
    ) -> Callable[[dict[str, Any], int], None]:
        # the launch plan depends on each call's rows: cuda_launch.prepare decides it per call
        return lambda args, steps: self.launch(spec_args, entry, args, device, steps)

    def launch(
        self, spec_args: tuple, entry: Entry, args: dict[str, Any], device: torch.device, steps: int
    ) -> None:
        gpu = emulated_device() or cuda_launch.H100
        op, d, N, dtype = spec_args
        plan = cuda_launch.prepare(
            op, d, N, dtype, entry, args[entry.rows], gpu, target="cuda_emulated"
        )
        self.last_plan = plan
        with self._lock:
            self.run(plan, entry, args)

    def run(self, plan: cuda_launch.LaunchPlan, entry: Entry, args: dict[str, Any]) -> None:
        """Run ``plan`` on ``args``, checked when asked (see the module docstring)."""
        kernel = self.kernel(plan.spec)
        for name in plan.zero_outputs:
            if args.get(name) is not None:
                args[name].zero_()
        check, seed = getattr(_config, "check", None) or (_check_default(), 12345)
        outputs = [p.name for p in entry.params if p.kind == "out" and args[p.name] is not None]
        if not check:
            self._run_once(kernel, plan, entry, args, 0, 0, 0)
            return
        before = {name: args[name].clone() for name in outputs}
        results = []
        for order_name, order in ORDERS:
            for name in outputs:
                args[name].copy_(before[name])
            self._run_once(kernel, plan, entry, args, 1, order, seed, order_name)
            results.append({name: args[name].clone() for name in outputs})
        for (order_name, _), result in zip(ORDERS[1:], results[1:]):
            for name in outputs:
                if not torch.equal(_bits(result[name]), _bits(results[0][name])):
                    raise KernelCheckError(
                        f"{plan.spec.name}.{entry.name}: output {name} differs between the "
                        f"forward and the {order_name} thread order"
                    )

    def _run_once(
        self,
        kernel: EmulatedKernel,
        plan: cuda_launch.LaunchPlan,
        entry: Entry,
        args: dict[str, Any],
        check: int,
        order: int,
        seed: int,
        order_name: str = "forward",
    ) -> None:
        spec = plan.spec
        torch_dtype = torch.float32 if spec.dtype == "float32" else torch.float64
        # scratch and shared memory hold NaN: a value read before it is written shows
        scratch = (
            torch.full((plan.scratch_elements,), float("nan"), dtype=torch_dtype)
            if plan.scratch_elements
            else None
        )
        smem = (
            torch.full((plan.dynamic_smem,), 0xFF, dtype=torch.uint8) if plan.dynamic_smem else None
        )
        kernel.configure(check, order, seed)
        if check:
            regions = []
            for p in entry.params:
                value = args[p.name]
                if p.is_pointer and value is not None:
                    regions.append((value, _IN if p.kind in ("in", "index") else _OUT, p.name))
            if scratch is not None:
                regions.append((scratch, _SCRATCH, "scratch"))
            for tensor, kind, name in regions:
                self._register(
                    kernel,
                    tensor.data_ptr(),
                    tensor.numel() * tensor.element_size(),
                    tensor.element_size(),
                    kind,
                    name,
                )
            if smem is not None:
                self._register(
                    kernel, smem.data_ptr(), plan.dynamic_smem, spec.itemsize, _SHARED, "dynamic"
                )
        fn = kernel.functions[entry.name]
        status = fn(
            *addresses(parameter_order(entry), args),
            0 if scratch is None else scratch.data_ptr(),
            0 if smem is None else smem.data_ptr(),
            0,
            plan.blocks,
        )
        if status:
            message = kernel.error().decode() or f"status {status}"
            raise KernelCheckError(
                f"{spec.name}.{entry.name} ({order_name} thread order, "
                f"grid {plan.blocks} x {plan.threads}): {message}"
            )
        if check and plan.blocks and kernel.static_bytes() != plan.static_smem:
            raise KernelCheckError(
                f"{spec.name}.{entry.name}: the kernel declares {kernel.static_bytes()} bytes of "
                f"static shared memory, the launcher planned {plan.static_smem}"
            )

    @staticmethod
    def _register(kernel, base, nbytes, unit, kind, name) -> None:
        if kernel.region(base, nbytes, unit, kind, name.encode()):
            raise MemoryError("sigcg: the emulation's checker could not register a buffer")


BACKEND = EmulatedCudaBackend()
