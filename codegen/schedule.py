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

import functools
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
# Row kernels (tensor product, log, exp): one block per row; its threads stride over the words
# of a level.  A warp covers the small shapes, 128 threads the rest.
#
# Signature kernels (forward and backward): see SignatureBlocking below.
# Resident blocks per SM wanted in flight on a GPU (several hide memory latency): the target
# of the CUDA launcher's strategies and of the API's cutting of long paths alike.
BLOCKS_PER_SM = 4


def cuda_threads(spec: KernelSpec) -> int:
    """Threads per block of the CUDA kernels (and of their emulation)."""
    if spec.op in ("signature_forward", "signature_backward"):
        return signature_blocking(spec).threads
    return 128 if spec.d**spec.N >= 128 else 32


# The CUDA signature kernels' blocks
# ----------------------------------
# A block owns the words of one *subtree* of one path: the words that start with a prefix P of
# `split` letters (split = 0: the whole signature), plus P's proper prefixes, its "ancestors"
# (one word on each level below `split`, recomputed by every block that needs them).  That set
# is closed under taking prefixes, and the Horner step of a word reads only its prefixes, so a
# block advances its words through the whole path without ever hearing from another block.
# (The backward's cotangents flow the other way, from words to their prefixes: the blocks of
# one path then add their shares of the ancestors' cotangents and of dL/dΔ with global atomics.)
#
# Inside a block, the thread owning word w of level j in the forward phases is always the same
# (item i = tid + r * THREADS), and so is the thread owning the children of a parent in the
# backward's reverse phases: every coefficient of the state is read and written by one thread
# only.  The state can therefore live in that thread's registers ("registers", "splitS"), or in
# shared memory ("shared") or global scratch ("global") when it is too large for registers.
#
# Registers: ptxas must see constant indices, so the per-thread item loops are unrolled; a
# thread holds R_j = ceil(items_j / THREADS) coefficients of level j (S in the forward phases'
# mapping; G, d per parent, in the reverse phases' mapping).  Thread counts are multiples of 32
# between 32 and 1024, about TOP_ITEMS_PER_THREAD top-level words per thread, and a register
# variant exists only where its modelled register count fits (register_model).
MAX_SPLIT = 7
SPLIT_VARIANTS = tuple(f"split{s}" for s in range(1, MAX_SPLIT + 1))
REGISTER_VARIANTS = ("registers",) + SPLIT_VARIANTS
MEMORY_THREADS_MAX = 512  # "shared"/"global": d^N / 8 top-level words per thread, at most 512
TOP_ITEMS_PER_THREAD = 4  # register variants: top-level words per thread wanted
REGISTER_FILE = 65536  # 32-bit registers per SM (sm_80, sm_90): a block may use all of them
MAX_REGISTERS = 255  # per thread
# Registers a thread needs besides its coefficients (pointers, indices, loop counters, the
# loaded partial products): fitted to ptxas -v (sm_90, NVRTC 13) over 200 register variants
# (d 1..10, N 3..8, both dtypes), rounded up so that a variant the model fits does not spill:
#     registers ~ REGISTER_BASE + words * (1.5 coefficients + 2 N)
# (measured: 50 + words * (1.3 coefficients + 1.6 N), within 17 registers for 90% of them).
# tests/test_cuda_compile.py checks that the register variants it builds keep their arrays in
# registers.
REGISTER_BASE = 56
# Thread counts of the register variants: ptxas allocates registers per 128 threads, so above
# 128 a block's thread count is a multiple of 128 (and a thread gets at most
# 65536 / threads registers, rounded down to a multiple of 8).
REGISTER_THREADS = (32, 64, 96) + tuple(range(128, 1025, 128))


def register_cap(threads: int) -> int:
    """The most registers a thread of a block of ``threads`` can get (__launch_bounds__)."""
    allocated = -(-threads // 128) * 128
    return min(MAX_REGISTERS, REGISTER_FILE // allocated // 8 * 8)


def split_of(variant: str) -> int:
    """The prefix length a variant splits paths at (0: one block per path)."""
    return int(variant[5:]) if variant.startswith("split") else 0


@dataclass(frozen=True)
class SignatureBlocking:
    """The work decomposition of one CUDA signature kernel (see the comment above)."""

    d: int
    N: int
    split: int
    storage: str  # "registers", "shared" or "global": where the state (S, and G) lives
    backward: bool
    itemsize: int
    threads: int

    @property
    def blocks_per_path(self) -> int:
        return self.d**self.split

    @property
    def warps(self) -> int:
        return self.threads // 32

    def items(self, j: int) -> int:
        """Words of level j (0..N) the block owns: one ancestor below the split level."""
        return 1 if j < self.split else self.d ** (j - self.split)

    def per_thread(self, j: int) -> int:
        """Forward phase j: items of level j per thread (R_j)."""
        return -(-self.items(j) // self.threads)

    def children(self, j: int) -> int:
        """Reverse phase j: in-block children per parent (level j - 1 -> j)."""
        return self.d if j > self.split else 1

    def parents_per_thread(self, j: int) -> int:
        """Reverse phase j: parents (level j - 1 items) per thread."""
        return -(-self.items(j - 1) // self.threads)

    # The partial Horner products u^(k)_j (k = j+1..N) passed from phase j to phase j+1, for
    # j = 1..N-2: level N-1's, u^(N)_{N-1}, stays in a register (the top phase fuses levels N-1
    # and N).  The backward's cotangents dL/du^(k)_j go from reverse phase j+1 to j, j = 1..N-1.
    def u_offsets(self, cotangents: bool = False) -> dict[int, int]:
        out, acc = {}, 0
        for j in range(1, self.N if cotangents else self.N - 1):
            out[j] = acc
            acc += (self.N - j) * self.items(j)
        return out

    @property
    def u_size(self) -> int:
        return sum((self.N - j) * self.items(j) for j in range(1, self.N - 1))

    @property
    def ub_size(self) -> int:
        return sum((self.N - j) * self.items(j) for j in range(1, self.N))

    @property
    def chain_elements(self) -> int:
        """u (forward); u, the rebuild chain's and the cotangents (backward)."""
        return 2 * self.u_size + self.ub_size if self.backward else self.u_size

    @property
    def state_elements(self) -> int:
        """Memory variants: S (the backward keeps levels 1..N-1) and G, per block."""
        sig = sum(self.d**k for k in range(1, self.N + 1))
        if not self.backward:
            return sig
        return sig - self.d**self.N + sig

    def work_elements(self) -> int:
        """Per-block elements of T in dynamic shared memory or scratch (state when in memory,
        then the u arrays)."""
        state = 0 if self.storage == "registers" else self.state_elements
        return state + self.chain_elements

    def static_elements(self) -> int:
        """__shared__ arrays: Δ/m for two steps; the backward's per-warp sums of dL/dΔ (two
        steps' too)."""
        return 2 * self.N * self.d + (2 * self.warps * self.d if self.backward else 0)

    def coefficients_per_thread(self) -> int:
        """Register variants: coefficients of T a thread keeps across the time loop."""
        # S_1..S_{N-1} by item, S_N by parent (the forward's top phase); the backward never
        # needs S_N
        count = sum(self.per_thread(j) for j in range(1, self.N))
        if not self.backward:
            count += self.parents_per_thread(self.N) * self.children(self.N)
        if self.backward:
            count += sum(
                self.parents_per_thread(j) * self.children(j) for j in range(1, self.N + 1)
            )
            count += self.d + 1  # dL/dΔ partial sums, the previous step's
        return count

    def register_model(self) -> int:
        """Modelled 32-bit registers per thread of a register variant."""
        words = self.itemsize // 4
        return REGISTER_BASE + words * (3 * self.coefficients_per_thread() // 2 + 2 * self.N)

    def registers_fit(self) -> bool:
        return self.register_model() <= register_cap(self.threads)

    def describe(self) -> str:
        where = {"registers": "registers", "shared": "shared memory", "global": "global scratch"}[
            self.storage
        ]
        unit = "path" if self.split == 0 else f"(path, {self.split}-letter prefix)"
        return (
            f"one block per {unit} ({self.blocks_per_path} per path), {self.threads} "
            f"threads; state in {where}; partial products: {self.chain_elements} "
            f"elements in {'global scratch' if self.storage == 'global' else 'shared memory'}"
        )


def _round32(n: int) -> int:
    return max(32, -(-n // 32) * 32)


@functools.cache  # on every CUDA launch's path (variant choice, plan), and specs are frozen
def signature_blocking(spec: KernelSpec) -> SignatureBlocking:
    """The blocking of a CUDA signature spec ("shared", "global", "registers", "splitS")."""
    backward = spec.op == "signature_backward"
    split = split_of(spec.variant)
    storage = spec.variant if spec.variant in ("shared", "global") else "registers"
    top = spec.d ** (spec.N - split)

    def blocking(threads: int) -> SignatureBlocking:
        return SignatureBlocking(spec.d, spec.N, split, storage, backward, spec.itemsize, threads)

    if storage != "registers":
        return blocking(min(MEMORY_THREADS_MAX, _round32(-(-top // 8))))
    wanted = min(1024, _round32(-(-top // TOP_ITEMS_PER_THREAD)))
    # the fitting thread count nearest the wanted one (more threads first: fewer registers each)
    for threads in sorted(REGISTER_THREADS, key=lambda t: (abs(t - wanted), -t)):
        if blocking(threads).registers_fit():
            return blocking(threads)
    return blocking(wanted)  # check() rejects it: registers_fit() is False


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
    return (plan_for(spec).describe(), block_steps(spec), cuda_threads(spec), UNROLL_TRIE_BUDGET)
