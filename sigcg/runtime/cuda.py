"""The CUDA backend: generated CUDA source -> NVRTC (CuPy's bindings) -> cubin in the kernel
cache -> launched with CuPy on torch's current stream, tensors passed by pointer (zero copy),
scratch from torch's caching allocator.

Imported only for CUDA tensors, so CPU users never import CuPy.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .. import codegen
from ..codegen.kernels.base import Entry
from . import cuda_launch
from .cache import CacheEntry, CacheKey, EntryMeta
from .compiler import CompileError


class CudaUnavailableError(RuntimeError):
    pass


def nvrtc():
    try:
        from cupy_backends.cuda.libs import nvrtc as bindings
    except ImportError as exc:
        raise CudaUnavailableError(
            "sigcg needs CuPy for CUDA tensors: pip install 'sigcg[cuda]' (CUDA 13 drivers; "
            "with CUDA 12 drivers: pip install cupy-cuda12x nvidia-cuda-nvrtc-cu12)"
        ) from exc
    return bindings


def nvrtc_version() -> str:
    major, minor = nvrtc().getVersion()
    return f"{major}.{minor}"


NVRTC_OPTIONS = ("-std=c++17",)


def compile_cuda(
    spec: codegen.KernelSpec, arch: str, options: tuple[str, ...] = ()
) -> tuple[bytes, str]:
    """(cubin, compiler log) for ``spec`` (target "cuda") on ``arch`` (e.g. "sm_90"), with
    NVRTC ``options`` beyond sigcg's.  Works without a GPU: only the NVRTC library is needed."""
    bindings = nvrtc()
    source = codegen.render(spec)
    prog = bindings.createProgram(source, f"{spec.name}.cu", [], [])
    try:
        try:
            bindings.compileProgram(prog, [f"--gpu-architecture={arch}", *NVRTC_OPTIONS, *options])
        except bindings.NVRTCError as exc:
            raise CompileError(
                f"NVRTC ({nvrtc_version()}) could not compile {spec.name} for "
                f"{arch}: {exc}\n{bindings.getProgramLog(prog)}"
            ) from None
        # the log ends in a NUL: left there it would count as a (warning) line
        return bindings.getCUBIN(prog), bindings.getProgramLog(prog).rstrip("\x00").strip()
    finally:
        bindings.destroyProgram(prog)


def find_or_build_cubin(spec: codegen.KernelSpec, arch: str) -> tuple[CacheEntry, bool]:
    """The cache entry of ``spec``'s cubin for ``arch`` and whether this call compiled it.  Needs
    NVRTC only, no GPU: `sigcg precompile --device cuda --arch sm_90` uses it."""
    from .cpu import cache

    platform = f"cuda-{arch}-nvrtc{nvrtc_version()}"
    # a cubin for one architecture or NVRTC never loads for another: both are in the key
    key = CacheKey(codegen.source_key(spec), hashlib.sha256(platform.encode()).hexdigest()[:12])
    meta = EntryMeta(
        spec=asdict(spec),
        generator_version=codegen.GENERATOR_VERSION,
        module=",".join(f"sigcg_{e.name}_cuda" for e in spec.kernel.entries),
        platform=platform,
        compiler=f"NVRTC {nvrtc_version()}",
        flags=(f"--gpu-architecture={arch}", *NVRTC_OPTIONS),
    )
    built = []

    def build(workdir: Path) -> Path:
        built.append(True)
        cubin, _ = compile_cuda(spec, arch)
        (workdir / "kernel.cu").write_text(codegen.render(spec))
        target = workdir / "kernel.cubin"
        target.write_bytes(cubin)
        return target

    return cache.get_or_build(key, build, meta), bool(built)


@functools.cache
def device_info(index: int) -> cuda_launch.DeviceInfo:
    import cupy

    props = torch.cuda.get_device_properties(index)
    with cupy.cuda.Device(index) as dev:
        attributes = dev.attributes
    default = cuda_launch.DeviceInfo("", "", 0, 0)
    return cuda_launch.DeviceInfo(
        props.name,
        f"sm_{props.major}{props.minor}",
        attributes["MaxSharedMemoryPerBlockOptin"],
        props.multi_processor_count,
        smem_per_sm=attributes.get("MaxSharedMemoryPerMultiprocessor", default.smem_per_sm),
        regs_per_sm=attributes.get("MaxRegistersPerMultiprocessor", default.regs_per_sm),
        max_threads_per_sm=attributes.get(
            "MaxThreadsPerMultiProcessor", default.max_threads_per_sm
        ),
        max_blocks_per_sm=attributes.get("MaxBlocksPerMultiprocessor", default.max_blocks_per_sm),
    )


class _StreamRef:
    """What CuPy's Function.__call__ reads of a stream: its handle (torch's current stream)."""

    __slots__ = ("ptr",)

    def __init__(self, ptr: int):
        self.ptr = ptr


class CudaModule:
    """A loaded CUDA module: its spec and its ``__global__`` functions by entry name."""

    def __init__(self, spec: codegen.KernelSpec, module: Any):
        self.spec = spec
        self.functions = {
            e.name: module.get_function(f"sigcg_{e.name}_cuda") for e in spec.kernel.entries
        }
        self._optin: dict[str, int] = {}

    def function(self, plan: cuda_launch.LaunchPlan):
        """The entry's function, opted in to the plan's dynamic shared memory above 48 KiB."""
        fn = self.functions[plan.entry]
        if plan.needs_optin and self._optin.get(plan.entry, 0) < plan.dynamic_smem:
            fn.max_dynamic_shared_size_bytes = plan.dynamic_smem
            self._optin[plan.entry] = plan.dynamic_smem
        return fn


def ptxas_resources(spec: codegen.KernelSpec, arch: str = "sm_90") -> dict[str, dict[str, int]]:
    """Per entry point: registers, spill stores and loads (bytes), stack frame (bytes) as ptxas
    reports them (NVRTC with -Xptxas -v; no GPU needed).  cuda_launch.describe can model the
    occupancy with these instead of its estimate.  A warning raises CompileError."""
    import re

    _, log = compile_cuda(spec, arch, ("-Xptxas=-v",))
    other = [line for line in log.splitlines() if line.strip() and not line.startswith("ptxas")]
    if other:
        raise CompileError(f"NVRTC warned compiling {spec.name} for {arch}:\n{log}")
    out: dict[str, dict[str, int]] = {}
    # one chunk per function: "Compiling entry function 'f'" (or "Function properties for f")
    marker = (
        "Compiling entry function '"
        if "Compiling entry function" in log
        else ("Function properties for ")
    )
    for chunk in log.split(marker)[1:]:
        name = re.match(r"sigcg_(\w+?)_cuda", chunk)
        spill = re.search(
            r"(\d+) bytes stack frame, (\d+) bytes spill stores, (\d+) bytes spill loads", chunk
        )
        registers = re.search(r"Used (\d+) registers", chunk)
        if name and spill and registers:
            stack, stores, loads = map(int, spill.groups())
            out[name.group(1)] = {
                "registers": int(registers.group(1)),
                "spill_stores": stores,
                "spill_loads": loads,
                "stack": stack,
            }
    return out


class CudaBackend:
    target = "cuda"

    def __init__(self) -> None:
        self._loaded: dict[tuple, CudaModule] = {}
        self._lock = threading.Lock()

    def module(self, spec: codegen.KernelSpec, index: int) -> CudaModule:
        key = (spec, index)
        loaded = self._loaded.get(key)
        if loaded is None:
            with self._lock:
                loaded = self._loaded.get(key)
                if loaded is None:
                    import cupy

                    entry, _ = find_or_build_cubin(spec, device_info(index).arch)
                    with cupy.cuda.Device(index):
                        loaded = CudaModule(spec, cupy.RawModule(path=str(entry.library)))
                    self._loaded[key] = loaded
        return loaded

    def bind(
        self, spec_args: tuple, entry: Entry, device: torch.device
    ) -> Callable[[dict[str, Any], int], None]:
        # the launch plan depends on each call's rows: cuda_launch.prepare decides it per call
        return lambda args, steps: self.launch(spec_args, entry, args, device, steps)

    def launch(
        self, spec_args: tuple, entry: Entry, args: dict[str, Any], device: torch.device, steps: int
    ) -> None:
        """Launch the launcher's plan (cuda_launch.prepare, the emulation's too) on torch's
        current stream: zero the outputs it names, allocate its scratch, opt in, launch."""
        import cupy

        index = device.index if device.index is not None else torch.cuda.current_device()
        op, d, N, dtype = spec_args
        plan = cuda_launch.prepare(op, d, N, dtype, entry, args[entry.rows], device_info(index))
        for name in plan.zero_outputs:
            if args.get(name) is not None:
                args[name].zero_()  # on the current stream, before the kernel
        fn = self.module(plan.spec, index).function(plan)
        scratch = self.scratch(plan, device)
        values = []
        for p in entry.params:
            value = args[p.name]
            if p.is_pointer:
                values.append(np.uint64(0 if value is None else value.data_ptr()))
            else:
                values.append(np.int32(value) if p.kind == "flag" else np.int64(value))
        values.append(np.uint64(0 if scratch is None else scratch.data_ptr()))
        stream = torch.cuda.current_stream(device)
        with cupy.cuda.Device(index):
            fn.kernel(
                (plan.blocks,),
                (plan.threads,),
                tuple(values),
                shared_mem=plan.dynamic_smem,
                stream=_StreamRef(stream.cuda_stream),
            )

    @staticmethod
    def scratch(plan: cuda_launch.LaunchPlan, device: torch.device) -> torch.Tensor | None:
        """The plan's global scratch, from torch's caching allocator on ``device``."""
        if not plan.scratch_elements:
            return None
        dtype = torch.float32 if plan.spec.dtype == "float32" else torch.float64
        return torch.empty(plan.scratch_elements, dtype=dtype, device=device)


BACKEND = CudaBackend()
