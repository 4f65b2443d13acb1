"""Code shape decisions: which letter loops are unrolled, how many steps share a top-level pass.

Unrolling
---------

The kernels are nested loops over letters (one loop per tensor level inside the Horner chain).
Unrolling them removes index arithmetic and lets the compiler keep every partial product in
registers, but the unrolled body of a level grows like d^k statements, and gcc's compile time
grows super-linearly with body size (an 11k-statement kernel took 25 s at -O3 here).

Policy (measured with benchmarks/schedule_experiments.py on this project's 2-core Zen 4 machine):
  * the innermost loop of every level (length d, a pure multiply-add run) is always unrolled;
  * a whole level is unrolled when its unrolled body stays below ``FULL_UNROLL_BUDGET``
    statements;
  * everything else stays a constant-bound loop, which gcc vectorises just as well because the
    arithmetic is already vector-wide (one path per SIMD lane).

  forward (128, 256, 4, 6) float64, measured before top-level blocking:
                                     compile   run
  all loops rolled ("loops")          0.6 s    22.4 ms
  this policy ("auto")                0.4 s    17.7 ms
  everything unrolled ("unrolled")   40.3 s    41.9 ms   (i-cache misses as well as compile time)

Lowering the budget from 256 to 64 statements (re-measured with top-level blocking) took the
(1024, 64, 2, 8) float64 forward from 5.1 to 4.4 ms and left the other grid shapes unchanged
within noise; 1024 and 4096 were slower everywhere (deep unrolled nests spill registers).
With it every kernel of the reference grid compiles in under 2 s (forward and backward).
"""
from __future__ import annotations

from dataclasses import dataclass

from .spec import KernelSpec

FULL_UNROLL_BUDGET = 64


def level_statements(d: int, k: int) -> int:
    """Statements in the fully unrolled Horner chain of level k: d + d^2 + ... + d^k."""
    return sum(d**j for j in range(1, k + 1))


@dataclass(frozen=True)
class UnrollPlan:
    d: int
    full_levels: frozenset[int]
    innermost: bool

    def unroll(self, k: int, j: int) -> bool:
        """Whether loop j (1-based letter position) of level k's chain is unrolled."""
        return k in self.full_levels or (self.innermost and j == k)

    def describe(self) -> str:
        full = ",".join(str(k) for k in sorted(self.full_levels)) or "none"
        return f"fully unrolled levels: {full}; innermost loops unrolled: {self.innermost}"


def plan_for(spec: KernelSpec) -> UnrollPlan:
    levels = range(1, spec.N + 1)
    if spec.variant == "loops":
        return UnrollPlan(spec.d, frozenset(), innermost=False)
    if spec.variant == "unrolled":
        return UnrollPlan(spec.d, frozenset(levels), innermost=True)
    full = frozenset(k for k in levels if level_statements(spec.d, k) <= FULL_UNROLL_BUDGET)
    return UnrollPlan(spec.d, full, innermost=True)


# Blocking the top level
# ----------------------
# Level N holds most of the signature (d^N of its terms), and updating it one step at a time
# costs one load, one multiply-add and one *store* per term: the store port, not the FMA units,
# sets the pace.  So the forward accumulates the top-level contributions of BLOCK steps, each a
# rank-one product U_t (x) Δ_t, and applies them in one pass: S_N += sum_t U_t (x) Δ_t, a small
# matrix product with BLOCK multiply-adds per store.  (Levels below N still advance step by
# step: each step's U_t depends on them.)  Streams write every step and do not block.
BLOCK_STEPS = 4


def block_steps(spec: KernelSpec) -> int:
    """Steps per top-level pass of the forward kernel; 1 means no blocking."""
    return BLOCK_STEPS if spec.N >= 2 else 1


# CUDA thread mapping
# -------------------
# One block per path; its threads stride over the words of a level.  A warp covers the small
# shapes, 128 threads the rest (level N of d^N >= 128 words keeps all of them busy).
def cuda_threads(spec: KernelSpec) -> int:
    """Threads per block of the CUDA kernels (and of their emulation)."""
    return 128 if spec.d**spec.N >= 128 else 32


# The log-signature kernel's prefix trie
# --------------------------------------
# Level N's adjoint walks the trie of the Lyndon words' prefixes.  As loops over tables, its
# cotangent updates make chains of loads and stores through memory; unrolled, every index is a
# constant and they stay in registers, at the price of compile time.  (The top level's loop has
# its letters unrolled in every case.)  Backward kernel alone, single thread, this machine:
#     (128, 256, 3, 5) f64, trie 48 nodes:   all loops 3.75 ms, trie unrolled 1.46-1.60 ms
#     (32, 128, 8, 4) f32, trie 238 nodes:   all loops 1.39 ms, trie and top fully unrolled
#                                             1.16 ms, trie unrolled + top letters 0.71 ms
#     (32, 128, 4, 6) f64, trie 394 nodes:   trie loops 4.45 ms, unrolled 4.30 ms (noise level),
#                                             compile 1.6 s -> 2.9 s
#     d=8, N=5 (1428 nodes): 42 s to compile with trie and top fully unrolled.
UNROLL_TRIE_BUDGET = 300


def unroll_trie(nodes: int) -> bool:
    """Whether the log-signature kernel unrolls its prefix trie of ``nodes`` nodes."""
    return nodes <= UNROLL_TRIE_BUDGET


def decisions(spec: KernelSpec) -> tuple:
    """Every schedule value that can shape ``spec``'s source, for its cache key: a tuning
    experiment that changes one at run time never meets a kernel built with another."""
    return (plan_for(spec).describe(), block_steps(spec), cuda_threads(spec),
            UNROLL_TRIE_BUDGET)
