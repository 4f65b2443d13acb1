"""From a kernel spec to a callable kernel: memory registry -> disk cache -> generate + compile.

The second request for a spec in a process touches no file: loaded kernels live in ``_registry``.
"""
from __future__ import annotations

import importlib.machinery
import importlib.util
import threading
from collections.abc import Callable
from dataclasses import asdict

from . import codegen, threads
from .cache import CacheEntry, KernelCache
from .compiler import compile_extension, platform_tag, toolchain, toolchain_or_none


class Kernel:
    """A loaded kernel: its spec, its cffi ``ffi`` and ``lib``, and where it came from."""

    def __init__(self, spec: codegen.KernelSpec, module, key: str, path: str):
        self.spec = spec
        self.ffi = module.ffi
        self.lib = module.lib
        self.key = key
        self.path = path
        self.pointer_type = f"{spec.ctype} *"
        self.fma_per_step = codegen.op_counts(spec)["fma"]  # per path, for the threading decision

    def ptr(self, tensor):
        """A C pointer to a contiguous tensor's data, or NULL for None."""
        if tensor is None:
            return self.ffi.NULL
        return self.ffi.cast(self.pointer_type, tensor.data_ptr())


cache = KernelCache()
_registry: dict[tuple, Kernel] = {}
_build_lock = threading.Lock()


def get_kernel(op: str, d: int, N: int, dtype: str, variant: str = "auto",
               target: str = "cpu") -> Kernel:
    """A loaded cffi kernel: ``target`` "cpu", or "cuda_emulated" (the CUDA kernel run on the CPU
    by the emulation harness, for tests)."""
    fast_key = (op, d, N, dtype, variant, target)
    kernel = _registry.get(fast_key)
    if kernel is not None:
        return kernel
    with _build_lock:
        kernel = _registry.get(fast_key)
        if kernel is None:
            kernel = _load(codegen.KernelSpec(op, d, N, dtype, target=target, variant=variant))
            _registry[fast_key] = kernel
    return kernel


def find_or_build(spec: codegen.KernelSpec) -> tuple[CacheEntry, bool]:
    """The cache entry of ``spec`` and whether this call had to build it.

    Exact entry (same source, same compiler) -> any entry of the same source built for this
    platform (e.g. a precompiled cache on a machine without a compiler) -> build.
    """
    source_key = codegen.source_key(spec)
    tc = toolchain_or_none()
    entry = cache.lookup(f"{source_key}-{tc.key}") if tc is not None else None
    if entry is None:
        entry = cache.find_compatible(source_key, platform_tag())
    if entry is not None:
        return entry, False
    tc = toolchain()  # raises the "install a C compiler" error when there is none
    key = f"{source_key}-{tc.key}"
    module_name = f"_sigcg_{source_key}_{tc.key}"
    source, cdef = codegen.render(spec), codegen.declarations(spec)
    meta = {"spec": asdict(spec), "generator_version": codegen.GENERATOR_VERSION,
            "module": module_name, "platform": platform_tag(),
            "compiler": tc.description, "flags": list(tc.flags)}
    built = []

    def build(workdir):
        built.append(True)
        return compile_extension(module_name, source, cdef, workdir)
    entry = cache.get_or_build(key, build, meta)
    return entry, bool(built)


def _load(spec: codegen.KernelSpec) -> Kernel:
    entry, _ = find_or_build(spec)
    module_name = entry.meta["module"]
    loader = importlib.machinery.ExtensionFileLoader(module_name, str(entry.library))
    module_spec = importlib.util.spec_from_file_location(module_name, entry.library,
                                                          loader=loader)
    module = importlib.util.module_from_spec(module_spec)
    loader.exec_module(module)
    return Kernel(spec, module, entry.path.name, str(entry.path))


# Below this many multiply-adds a call is not worth handing to other threads.
_PARALLEL_MIN_WORK = 2_000_000


def run_over_batch(call: Callable[[int, int], int], batch: int, lanes: int, work: int) -> None:
    """Run ``call(b_begin, b_end)`` over [0, batch), split over threads in lane-aligned chunks.

    ``call`` returns the kernel's status; non-zero means it could not allocate working memory.
    cffi releases the GIL during the call, so the chunks really run in parallel.
    """
    groups = -(-batch // lanes)
    n = 1 if work < _PARALLEL_MIN_WORK or groups < 2 else min(threads.get_num_threads(), groups)
    if n == 1:
        statuses = [call(0, batch)]
    else:
        per = -(-groups // n) * lanes
        bounds = [(b, min(b + per, batch)) for b in range(0, batch, per)]
        statuses = list(threads.executor(n).map(lambda be: call(*be), bounds))
    if any(statuses):
        raise MemoryError("sigcg: a kernel could not allocate its working memory")
