"""The CPU backend: generated C -> cffi extension (compiler.py) -> disk cache -> threads.

The second request for a kernel in a process touches no file: loaded kernels live in
``_loaded``.  A kernel's entry points are called through their address wrappers (rendered from
the op's parameter list), so a call passes tensor addresses as plain integers.
"""

from __future__ import annotations

import contextlib
import importlib.machinery
import importlib.util
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from .. import codegen
from ..codegen.kernels.base import Entry
from . import threads
from .cache import CacheEntry, CacheKey, EntryMeta, KernelCache
from .compiler import compile_extension, default_flags, platform_tag, toolchain, toolchain_or_none

cache = KernelCache()


class CpuKernel:
    """A loaded cffi kernel module: its spec, its entry points by name, where it came from."""

    def __init__(self, spec: codegen.KernelSpec, module: Any, entry: CacheEntry):
        self.spec = spec
        self.functions = {
            e.name: getattr(module.lib, f"sigcg_{e.name}_addr") for e in spec.kernel.entries
        }
        self.key = entry.path.name
        self.path = str(entry.path)
        self.lanes = spec.lanes
        self.fma = spec.kernel.op_counts(spec)["fma"]  # per row and step: the threading decision


def find_or_build(spec: codegen.KernelSpec) -> tuple[CacheEntry, bool]:
    """The cache entry of ``spec`` and whether this call had to build it.

    With a working compiler only the exact entry (same source, same compiler and flags) is
    used, else built.  Without one (a slim container reading a precompiled cache), an entry of
    the same source built for this platform with sigcg's default flags is accepted: never one
    built with extra flags (-ffast-math, sanitizers) that would change results or abort.  Either
    way the entry must be trusted and must define the module its key names (cache.py).
    """

    def module_of(key: CacheKey) -> str:
        return f"_sigcg_{key.source}_{key.toolchain}"

    source = codegen.source_key(spec)
    tc = toolchain_or_none()
    if tc is None:
        entry = cache.find_compatible(source, platform_tag(), default_flags(), module=module_of)
        if entry is not None:
            return entry, False
        tc = toolchain()  # raises the "install a C compiler" error
    key = CacheKey(source, tc.key)
    module_name = module_of(key)
    meta = EntryMeta(
        spec=spec_dict(spec),
        generator_version=codegen.GENERATOR_VERSION,
        module=module_name,
        platform=platform_tag(),
        compiler=tc.description,
        flags=tc.all_flags,
    )
    built = []

    def build(workdir):
        built.append(True)
        return compile_extension(
            module_name, codegen.render(spec), codegen.declarations(spec), workdir
        )

    return cache.get_or_build(key, build, meta), bool(built)


def spec_dict(spec: codegen.KernelSpec) -> dict:
    from dataclasses import asdict

    return asdict(spec)


def import_extension(module_name: str, library: Path | str) -> Any:
    """The cffi extension module ``module_name`` from the shared library ``library``."""
    loader = importlib.machinery.ExtensionFileLoader(module_name, str(library))
    module_spec = importlib.util.spec_from_file_location(module_name, library, loader=loader)
    if module_spec is None:
        raise ImportError(f"cannot load the kernel library {library}")
    module = importlib.util.module_from_spec(module_spec)
    loader.exec_module(module)
    return module


def load(spec: codegen.KernelSpec, make: Callable[..., Any] | None = None) -> Any:
    """Load ``spec``'s kernel as ``make(spec, module, entry)`` (a CpuKernel by default; the
    CUDA emulation makes its own).  An entry that passed the cache's checks but does not load
    (its library misses a symbol or a dependency) is rejected and rebuilt once."""
    make = make or CpuKernel

    def load_entry(entry: CacheEntry) -> Any:
        return make(spec, import_extension(entry.meta["module"], entry.library), entry)

    entry, _ = find_or_build(spec)
    try:
        return load_entry(entry)
    except (ImportError, OSError, AttributeError) as exc:
        cache.reject(entry, f"{type(exc).__name__}: {exc}")
    entry, _ = find_or_build(spec)
    return load_entry(entry)


# Below this many multiply-adds a call is not worth handing to other threads.
PARALLEL_MIN_WORK = 2_000_000
_NO_MEMORY = "sigcg: a kernel could not allocate its working memory"


def run_over_rows(fn: Callable[..., int], values: list, rows: int, lanes: int) -> None:
    """Run ``fn(*values, b_begin, b_end)`` over [0, rows), split over threads in lane-aligned
    chunks (the caller runs calls below PARALLEL_MIN_WORK itself, in one piece).

    ``fn`` returns the kernel's status; non-zero means it could not allocate working memory.
    cffi releases the GIL during the call, so the chunks really run in parallel.
    """
    groups = -(-rows // lanes)
    n = min(threads.get_num_threads(), groups)
    if n <= 1:
        statuses: list[int] = [fn(*values, 0, rows)]
    else:
        per = -(-groups // n) * lanes
        bounds = [(b, min(b + per, rows)) for b in range(0, rows, per)]
        statuses = threads.run_parallel(lambda be: fn(*values, *be), bounds)
    if any(statuses):
        raise MemoryError(_NO_MEMORY)


def parameter_order(entry: Entry) -> tuple[tuple[str, bool], ...]:
    """(name, is pointer) per parameter of ``entry``, in declaration order."""
    return tuple((p.name, p.is_pointer) for p in entry.params)


def addresses(order: tuple[tuple[str, bool], ...], args: dict[str, Any]) -> list:
    """The arguments in ``order`` (parameter_order), tensors as addresses (0 for None)."""
    return [
        (0 if v is None else v.data_ptr()) if pointer else v
        for name, pointer in order
        for v in (args[name],)
    ]


class CpuBackend:
    target = "cpu"

    def __init__(self) -> None:
        self._loaded: dict[tuple, CpuKernel] = {}
        self._lock = threading.Lock()
        self.variant = "auto"  # code shape of the kernels it builds (tests: forced_variant)

    def kernel(self, op: str, d: int, N: int, dtype: str) -> CpuKernel:
        key = (op, d, N, dtype, self.variant)
        kernel = self._loaded.get(key)
        if kernel is None:
            with self._lock:
                kernel = self._loaded.get(key)
                if kernel is None:
                    kernel = load(codegen.KernelSpec(op, d, N, dtype, variant=self.variant))
                    self._loaded[key] = kernel
        return kernel

    @contextlib.contextmanager
    def forced_variant(self, variant: str):
        """Build and run CPU kernels in code shape ``variant`` ("loops", "unrolled") while the
        context lasts, process-wide: tests check every shape computes the same."""
        from .backend import forget_bindings

        previous, self.variant = self.variant, variant
        forget_bindings()
        try:
            yield
        finally:
            self.variant = previous
            forget_bindings()

    def bind(
        self, spec_args: tuple, entry: Entry, device: torch.device
    ) -> Callable[[dict[str, Any], int], None]:
        """A closure running ``entry`` of this kernel on checked arguments: everything that
        does not change from call to call (the loaded function, lanes, op count, the parameter
        order) is looked up once."""
        kernel = self.kernel(*spec_args)
        fn = kernel.functions[entry.name]
        lanes, fma, rows_name = kernel.lanes, kernel.fma, entry.rows
        order = parameter_order(entry)

        def run(args: dict[str, Any], steps: int) -> None:
            values = addresses(order, args)
            rows = args[rows_name]
            if fma * rows * steps < PARALLEL_MIN_WORK:  # the common small call: no pool
                if fn(*values, 0, rows):
                    raise MemoryError(_NO_MEMORY)
                return
            run_over_rows(fn, values, rows, lanes)

        return run


BACKEND = CpuBackend()
