"""The registry of kernel ops: every module of this package contributes its ``KERNELS``.

Nothing else in sigcg lists ops: precompile, ``sigcg show``, the cffi declarations, the CUDA
function names and ``generated/`` all read this registry.
"""

from __future__ import annotations

import importlib
import pkgutil

from .base import CudaLayout, Entry, KernelOp, Param, params

REGISTRY: dict[str, KernelOp] = {}

for _info in sorted(pkgutil.iter_modules(__path__), key=lambda m: m.name):
    if _info.name == "base":
        continue
    for _kernel in importlib.import_module(f"{__name__}.{_info.name}").KERNELS:
        if _kernel.name in REGISTRY:
            raise RuntimeError(f"kernel op {_kernel.name!r} is declared twice")
        REGISTRY[_kernel.name] = _kernel


def get(name: str) -> KernelOp:
    try:
        return REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown kernel op {name!r}; expected one of {tuple(REGISTRY)}") from None


__all__ = ["REGISTRY", "CudaLayout", "Entry", "KernelOp", "Param", "get", "params"]
