"""The CUDA launcher's decisions, shared by the GPU and by its CPU emulation.

Given a kernel op, a device's limits and the number of rows, it chooses the variant, the grid and
block shape, the dynamic shared memory (and whether the kernel must opt in above the default
48 KiB), the global scratch to allocate and the outputs to zero first.  The CUDA backend
launches the plan on a GPU; the emulation backend runs the same plan on the CPU with buffers of
exactly the planned sizes under its race and bounds checker, so CI exercises every decision
here.  :func:`describe` prints a decision with the occupancy it models.

Strategy table of the signature kernels (forward and backward alike)
--------------------------------------------------------------------
A block owns one subtree of one path's words: all of them (split 0) or those with a given
prefix of `split` letters (codegen/schedule.py, SignatureBlocking); a path then has d^split
blocks.  FILL = BLOCKS_PER_SM * SMs blocks keep every SM busy with several resident blocks
(528 on an H100).

  batch >= FILL:
      "registers"   state in registers, one block per path, when it fits there (the modelled
                    register count of codegen/schedule.py; small d^N)
      "shared"      else state in shared memory, when it fits the opt-in limit (227 KiB)
      "splitS"      else registers in blocks of the smallest split S that fits (the backward
                    then adds its blocks' shares with atomics)
      "global"      else state in global scratch
  batch < FILL:
      "splitS"      S = the smallest split with batch * d^S >= FILL, capped at
                    min(N - 1, MAX_SPLIT) letters (d = 1 cannot split: "registers"), deepened
                    while the block's state does not fit in registers; if no split fits, the
                    batch >= FILL choice.

Why: the per-step work of a block is N barrier-separated phases (2N in the backward), each a
few shared-memory round trips, so a block's step has a latency floor of roughly 0.4-1 us on an
H100 whatever its size; throughput comes from many resident blocks, not from bigger ones.  A
split costs little (a path's blocks recompute its split-1 ancestor words, and the backward adds
2 d atomics per block and step to grad_path), so small batches split until the device is full.

H100 timings (sigcg.signature, forward / forward+backward through autograd, ms, medians).
Measured on one H100 80GB HBM3 in one session, the previous kernels rerun there as the
baseline; "new" is this design before Δ/m lost its divisions (below):
                          previous            new              strategy (per kernel call)
  (128, 256, 4, 6) f64    0.80 / 103.7        0.57 / 2.84      split2, 2048 blocks
  (32, 128, 8, 5) f32     2.33 / 257.8        0.30 / 1.52      split2, 2048 blocks
  (32, 128, 4, 6) f64     0.53 / 75.7         0.24 / 1.07      split3, 2048 blocks
  (256, 1000, 4, 3) f32   0.33 / 3.83         0.34 / 1.73      split1, 1024 blocks
  (1024, 64, 2, 8) f64    0.29 / 12.7         0.20 / 0.66      registers, 1024 blocks
  (128, 100, 3, 4) f32    0.16 / 2.26         0.16 / 0.69      split2 (API floor ~0.15 ms)
  (256, 10000, 4, 3) f32  2.19 / 25.1         1.67 / 4.82      3 pieces: registers, 768 blocks
  (4, 4096, 3, 6) f32     0.64 / 10.3         0.74 / 4.73      63 pieces: split1, 756 blocks
  (8, 256, 4, 6) f64      0.47 / 52.5         0.69 / 2.25      split4, 2048 blocks
  (8, 256, 4, 6) f32      0.49 / 60.1         0.38 / 1.88      split4, 2048 blocks
The backward is 20-170x faster: the previous one's shared-memory atomics (2k per word of level
k, onto the N d addresses of dL/dΔ and onto the parents of every word) serialised; here each
cotangent has one writer and dL/dΔ is summed once per step by shuffles.  The forward does
horner_fmas multiply-adds per step (4.3x fewer than recomputing every word's chain at d=4,
N=6), but a step is N - 1 barrier-separated phases of shared-memory round trips, so it is
latency and issue bound rather than FLOP bound: a step of a small block costs ~0.4-1 us
whatever its size, and throughput comes from many resident blocks.  Where the split is deep
(split4 at batch 8: 256 blocks of 21 words per path) the blocks' fixed per-step work dominates:
every block formed Δ/m for all N x d (m, letter) pairs with divisions, ~40 instructions each in
float64, as much as the rest of its step; they are now d loads and constant multiplies, so
expect those forwards near 0.35-0.45 ms (f64) and the others unchanged or slightly faster --
to be measured (benchmarks/gpu_check.py; tests/test_gpu.py prints describe() for batch 8).
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass

from .. import codegen
from ..codegen import schedule
from ..codegen.kernels.base import Entry

# Per-block shared memory available without opting in.
DEFAULT_SMEM = 48 * 1024
BLOCKS_PER_SM = schedule.BLOCKS_PER_SM

SIGNATURE_OPS = ("signature_forward", "signature_backward")


@dataclass(frozen=True)
class DeviceInfo:
    """What the launcher needs to know of a GPU (defaults: sm_80/sm_90 limits)."""

    name: str
    arch: str  # e.g. "sm_90"
    smem_optin: int  # bytes of shared memory a block may use after opting in
    sm_count: int
    smem_per_sm: int = 228 * 1024
    regs_per_sm: int = 65536
    max_threads_per_sm: int = 2048
    max_blocks_per_sm: int = 32
    smem_reserved_per_block: int = 1024  # the runtime's own, per resident block

    @property
    def fill(self) -> int:
        """Blocks that keep every SM busy with BLOCKS_PER_SM resident blocks."""
        return BLOCKS_PER_SM * self.sm_count


# The emulation's default stand-in: an H100's limits.
H100 = DeviceInfo("H100 (emulated)", "sm_90", 227 * 1024, 132)


@dataclass(frozen=True)
class LaunchPlan:
    spec: codegen.KernelSpec
    entry: str
    rows: int
    blocks: int  # grid size
    threads: int
    dynamic_smem: int  # bytes
    static_smem: int  # bytes
    scratch_elements: int  # elements of the kernel's dtype, for all blocks
    zero_outputs: tuple[str, ...] = ()  # outputs the blocks add into: zeroed before the launch

    @property
    def needs_optin(self) -> bool:
        return self.dynamic_smem + self.static_smem > DEFAULT_SMEM


_forced = threading.local()


@contextlib.contextmanager
def forced_variant(variant: str | None):
    """Launch the signature kernels in ``variant`` in this thread, whatever the strategy says
    (tests cover every variant; None restores the strategy)."""
    previous = getattr(_forced, "variant", None)
    _forced.variant = variant
    try:
        yield
    finally:
        _forced.variant = previous


def _spec(op, d, N, dtype, variant, target="cuda") -> codegen.KernelSpec | None:
    """The spec, or None where the variant cannot be generated (a split too deep, a state too
    large for registers)."""
    try:
        return codegen.KernelSpec(op, d, N, dtype, target, variant)
    except ValueError:
        return None


def fits_shared(spec: codegen.KernelSpec, device: DeviceInfo) -> bool:
    layout = spec.kernel.cuda_layout(spec)
    return layout.dynamic_smem + layout.static_smem <= device.smem_optin


def max_split(d: int, N: int) -> int:
    return 0 if d < 2 else min(N - 1, schedule.MAX_SPLIT)


def _register_variant(op, d, N, dtype, split: int) -> str | None:
    """The first register variant from ``split`` letters on that can be generated."""
    for s in range(split, max_split(d, N) + 1):
        variant = "registers" if s == 0 else f"split{s}"
        if _spec(op, d, N, dtype, variant) is not None:
            return variant
    return None


def choose_variant(
    op: str, d: int, N: int, dtype: str, device: DeviceInfo, batch: int | None = None
) -> str:
    """The variant of ``op`` for ``batch`` rows (None: a batch that fills the device) by the
    strategy table of this module's docstring.  Ops without shared/register forms: "global"."""
    kernel = codegen.REGISTRY[op]
    forced = getattr(_forced, "variant", None)
    if forced is not None and forced in kernel.cuda_variants:
        return forced
    if "registers" not in kernel.cuda_variants:
        return (
            "shared"
            if "shared" in kernel.cuda_variants
            and fits_shared(codegen.KernelSpec(op, d, N, dtype, "cuda", "shared"), device)
            else "global"
        )
    if batch is not None and batch < device.fill and max_split(d, N) > 0:
        split = 0
        while batch * d**split < device.fill and split < max_split(d, N):
            split += 1
        variant = _register_variant(op, d, N, dtype, split)
        if variant is not None:
            return variant
    if _spec(op, d, N, dtype, "registers") is not None:
        return "registers"
    if fits_shared(codegen.KernelSpec(op, d, N, dtype, "cuda", "shared"), device):
        return "shared"
    return _register_variant(op, d, N, dtype, 1) or "global"


def plan(spec: codegen.KernelSpec, entry: Entry, rows: int, device: DeviceInfo) -> LaunchPlan:
    """The grid of ``entry`` for ``rows`` rows with the op's declared resources."""
    layout = spec.kernel.cuda_layout(spec)
    if layout.dynamic_smem + layout.static_smem > device.smem_optin:
        raise RuntimeError(
            f"{spec.name} needs {layout.dynamic_smem + layout.static_smem} bytes "
            f"of shared memory per block; {device.name} has {device.smem_optin}"
        )
    per_row = 1
    zero: tuple[str, ...] = ()
    if spec.op in SIGNATURE_OPS:
        per_row = schedule.signature_blocking(spec).blocks_per_path
        if per_row > 1 and spec.op == "signature_backward":
            zero = ("grad_path", "grad_initial")  # the blocks of a path add their shares
    blocks = rows * per_row
    return LaunchPlan(
        spec,
        entry.name,
        rows,
        blocks=blocks,
        threads=layout.threads,
        dynamic_smem=layout.dynamic_smem,
        static_smem=layout.static_smem,
        scratch_elements=blocks * layout.scratch.get(entry.name, 0),
        zero_outputs=zero,
    )


def prepare(
    op: str,
    d: int,
    N: int,
    dtype: str,
    entry: Entry,
    rows: int,
    device: DeviceInfo,
    target: str = "cuda",
) -> LaunchPlan:
    """Everything a launch needs, for the GPU (target "cuda") or its emulation."""
    variant = choose_variant(op, d, N, dtype, device, rows)
    return plan(codegen.KernelSpec(op, d, N, dtype, target, variant), entry, rows, device)


def registers_per_thread(spec: codegen.KernelSpec) -> int:
    """Modelled registers per thread (codegen/schedule.py; the row kernels: a typical 40)."""
    if spec.op not in SIGNATURE_OPS:
        return 40
    blocking = schedule.signature_blocking(spec)
    if blocking.storage == "registers":
        return blocking.register_model()
    words = spec.itemsize // 4
    return schedule.REGISTER_BASE + words * (
        2 * spec.N + (spec.N + spec.d + 1 if blocking.backward else 0)
    )


def occupancy(launch: LaunchPlan, device: DeviceInfo, registers: int | None = None) -> dict:
    """Resident blocks per SM by the occupancy rules (threads, registers allocated per warp in
    units of 256, shared memory with the per-block reservation, the block limit), and the
    blocks per SM the launch actually gives (its grid over the SMs)."""
    warps = -(-launch.threads // 32)
    regs = registers or registers_per_thread(launch.spec)
    regs_per_warp = -(-regs * 32 // 256) * 256
    smem = launch.dynamic_smem + launch.static_smem
    limits = {
        "threads": device.max_threads_per_sm // (warps * 32),
        "registers": (device.regs_per_sm // regs_per_warp) // warps,
        "shared memory": (
            device.smem_per_sm // (smem + device.smem_reserved_per_block)
            if smem
            else device.max_blocks_per_sm
        ),
        "blocks": device.max_blocks_per_sm,
    }
    limiter = min(limits, key=lambda name: limits[name])
    resident = limits[limiter]
    per_sm = launch.blocks / device.sm_count
    return {
        "limits": limits,
        "limited_by": limiter,
        "resident_limit": resident,
        "grid_blocks_per_sm": per_sm,
        "resident_blocks_per_sm": min(resident, per_sm),
        "registers_per_thread": regs,
    }


def describe(
    op: str,
    d: int,
    N: int,
    dtype: str,
    batch: int,
    device: DeviceInfo = H100,
    registers: int | None = None,
) -> dict:
    """The launcher's decision for ``batch`` rows of ``op`` at (d, N, dtype) on ``device``, with
    its modelled occupancy; ``summary`` is one readable line.  ``registers``: the per-thread
    count to model with (e.g. ptxas's, from cuda.ptxas_resources) instead of the estimate."""
    kernel = codegen.REGISTRY[op]
    entry = kernel.entries[0]
    launch = prepare(op, d, N, dtype, entry, batch, device)
    occ = occupancy(launch, device, registers)
    spec = launch.spec
    blocking = schedule.signature_blocking(spec) if op in SIGNATURE_OPS else None
    out = {
        "op": op,
        "d": d,
        "N": N,
        "dtype": dtype,
        "batch": batch,
        "device": device.name,
        "variant": spec.variant,
        "split": blocking.split if blocking else 0,
        "blocks_per_row": launch.blocks // max(1, batch),
        "blocks": launch.blocks,
        "threads": launch.threads,
        "dynamic_smem": launch.dynamic_smem,
        "static_smem": launch.static_smem,
        "needs_optin": launch.needs_optin,
        "scratch_bytes": launch.scratch_elements * spec.itemsize,
        "zero_outputs": launch.zero_outputs,
        **occ,
    }
    out["summary"] = (
        f"{op} d={d} N={N} {dtype} batch={batch} on {device.name}: {spec.variant}"
        + (f" ({blocking.describe()})" if blocking else "")
        + f"; grid {launch.blocks} x {launch.threads} threads, shared "
        f"{launch.dynamic_smem + launch.static_smem} B{' (opt-in)' if launch.needs_optin else ''}"
        f", scratch {out['scratch_bytes']} B; {occ['registers_per_thread']} registers/thread; "
        f"resident limit {occ['resident_limit']} blocks/SM ({occ['limited_by']}), "
        f"{occ['grid_blocks_per_sm']:.1f} blocks/SM in the grid -> modelled occupancy "
        f"{occ['resident_blocks_per_sm']:.1f} resident blocks per SM"
    )
    return out
