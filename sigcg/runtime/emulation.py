"""The emulated CUDA backend: the CUDA kernels rendered as C (target "cuda_emulated"), built
like CPU kernels, and launched by the real CUDA launcher's plan (cuda_launch.py) with a stand-in
device: global scratch and dynamic shared memory of exactly the planned sizes, blocks run one
after another.  Selected by tests (backend.emulate_cuda), never by production code.
"""
from __future__ import annotations

import threading
from typing import Any

import torch

from .. import codegen
from ..codegen.kernels.base import Entry
from . import cuda_launch
from .backend import emulated_device
from .cpu import CpuKernel, addresses, load


class EmulatedCudaBackend:
    target = "cuda_emulated"

    def __init__(self) -> None:
        self._loaded: dict[codegen.KernelSpec, CpuKernel] = {}
        self._lock = threading.Lock()
        self.last_plan: cuda_launch.LaunchPlan | None = None  # what the launcher decided

    def kernel(self, spec: codegen.KernelSpec) -> CpuKernel:
        kernel = self._loaded.get(spec)
        if kernel is None:
            with self._lock:
                kernel = self._loaded.get(spec) or load(spec)
                self._loaded[spec] = kernel
        return kernel

    def launch(self, spec_args: tuple, entry: Entry, args: dict[str, Any], device: torch.device,
               steps: int) -> None:
        gpu = emulated_device() or cuda_launch.H100
        op, d, N, dtype = spec_args
        variant = cuda_launch.choose_variant(op, d, N, dtype, gpu)
        spec = codegen.KernelSpec(op, d, N, dtype, target="cuda_emulated", variant=variant)
        plan = cuda_launch.plan(spec, entry, args[entry.rows], gpu)
        self.last_plan = plan
        torch_dtype = torch.float32 if dtype == "float32" else torch.float64
        scratch = torch.empty(plan.scratch_elements, dtype=torch_dtype) \
            if plan.scratch_elements else None
        smem = torch.empty(plan.dynamic_smem, dtype=torch.uint8) if plan.dynamic_smem else None
        fn = self.kernel(spec).functions[entry.name]
        status = fn(*addresses(entry, args), 0 if scratch is None else scratch.data_ptr(),
                    0 if smem is None else smem.data_ptr(), 0, plan.blocks)
        if status:
            raise MemoryError(f"sigcg: the emulated {spec.name} failed (status {status})")


BACKEND = EmulatedCudaBackend()
