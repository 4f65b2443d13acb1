"""From a kernel spec to a callable kernel: memory registry -> disk cache -> generate + compile.

The second request for a spec in a process touches no file: loaded kernels live in ``_registry``.
"""
from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import threading
from collections.abc import Callable
from dataclasses import asdict

from . import codegen, threads
from .cache import KernelCache
from .compiler import compile_extension, toolchain


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


def kernel_key(source: str, cdef: str) -> str:
    text = "\0".join([codegen.GENERATOR_VERSION, source, cdef, toolchain().fingerprint])
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def get_kernel(op: str, d: int, N: int, dtype: str, variant: str = "auto") -> Kernel:
    fast_key = (op, d, N, dtype, variant)
    kernel = _registry.get(fast_key)
    if kernel is not None:
        return kernel
    with _build_lock:
        kernel = _registry.get(fast_key)
        if kernel is None:
            kernel = _load(codegen.KernelSpec(op, d, N, dtype, variant=variant))
            _registry[fast_key] = kernel
    return kernel


def _load(spec: codegen.KernelSpec) -> Kernel:
    source = codegen.render(spec)
    cdef = codegen.declarations(spec)
    key = kernel_key(source, cdef)
    module_name = f"_sigcg_{key}"
    meta = {"spec": asdict(spec), "generator_version": codegen.GENERATOR_VERSION,
            "compiler": toolchain().description, "flags": list(toolchain().flags)}
    entry = cache.get_or_build(
        key, lambda workdir: compile_extension(module_name, source, cdef, workdir), meta)
    loader = importlib.machinery.ExtensionFileLoader(module_name, str(entry.library))
    module_spec = importlib.util.spec_from_file_location(module_name, entry.library,
                                                          loader=loader)
    module = importlib.util.module_from_spec(module_spec)
    loader.exec_module(module)
    return Kernel(spec, module, key, str(entry.path))


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
