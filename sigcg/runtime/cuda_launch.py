"""The CUDA launcher's decisions, shared by the GPU and by its CPU emulation.

Given a kernel op, a device's limits and the number of rows, it chooses the variant (state in
shared memory when it fits, else in global scratch), the block size, the dynamic shared memory
(and whether the kernel must opt in above the default 48 KiB) and the global scratch to
allocate.  The CUDA backend launches the plan on a GPU; the emulation backend runs the same plan
on the CPU with buffers of exactly the planned sizes, so CI exercises every decision here.
"""
from __future__ import annotations

from dataclasses import dataclass

from .. import codegen
from ..codegen.kernels.base import Entry

# Per-block shared memory available without opting in.
DEFAULT_SMEM = 48 * 1024


@dataclass(frozen=True)
class DeviceInfo:
    """What the launcher needs to know of a GPU."""

    name: str
    arch: str  # e.g. "sm_90"
    smem_optin: int  # bytes of shared memory a block may use after opting in
    sm_count: int


# The emulation's default stand-in: an H100's limits.
H100 = DeviceInfo("H100 (emulated)", "sm_90", 227 * 1024, 132)


@dataclass(frozen=True)
class LaunchPlan:
    spec: codegen.KernelSpec
    blocks: int
    threads: int
    dynamic_smem: int  # bytes
    static_smem: int  # bytes
    scratch_elements: int  # elements of the kernel's dtype, for all blocks

    @property
    def needs_optin(self) -> bool:
        return self.dynamic_smem + self.static_smem > DEFAULT_SMEM


def choose_variant(op: str, d: int, N: int, dtype: str, device: DeviceInfo) -> str:
    """"shared" when the block's state fits the device's shared memory (opting in above
    48 KiB), else "global"; ops whose state is always global have only "global"."""
    kernel = codegen.REGISTRY[op]
    if "shared" in kernel.cuda_variants:
        layout = kernel.cuda_layout(codegen.KernelSpec(op, d, N, dtype, "cuda", "shared"))
        if layout.dynamic_smem + layout.static_smem <= device.smem_optin:
            return "shared"
    return "global"


def plan(spec: codegen.KernelSpec, entry: Entry, rows: int, device: DeviceInfo) -> LaunchPlan:
    """One block per row of ``entry``, with the op's declared resources."""
    layout = spec.kernel.cuda_layout(spec)
    if layout.dynamic_smem + layout.static_smem > device.smem_optin:
        raise RuntimeError(f"{spec.name} needs {layout.dynamic_smem + layout.static_smem} bytes "
                           f"of shared memory per block; {device.name} has {device.smem_optin}")
    return LaunchPlan(spec, blocks=rows, threads=layout.threads,
                      dynamic_smem=layout.dynamic_smem, static_smem=layout.static_smem,
                      scratch_elements=rows * layout.scratch.get(entry.name, 0))
