"""KernelSpec: the one description of a generated kernel.

Everything that changes the generated source is a field here, so the rendered source (and
therefore the cache key) is a pure function of the spec and the generator version.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .kernels.base import KernelOp

DTYPES = {"float32": "float", "float64": "double"}
# "cuda" renders CUDA C for NVRTC; "cuda_emulated" renders the *same* CUDA kernel body as C that
# runs every thread of a block in turn (templates/cuda/grid.j2), driven by the CUDA launcher.
TARGETS = ("cpu", "cuda", "cuda_emulated")

# Bytes per SIMD vector.  Paths are processed in lockstep, one per vector lane, so every
# arithmetic statement of the kernel is a vector operation whatever d is.  32 bytes (AVX2 width)
# gives the same FMA throughput as 64 on Zen 4 (512-bit ops are double-pumped) and halves the
# per-group state, which keeps d^N up to ~10^4 inside L2.
DEFAULT_VECTOR_BYTES = 32

# Generated source grows like d^N statements in places and the state like d^N elements: specs
# beyond these are refused before anything is rendered (a typo like depth=300 must not hang).
MAX_DEPTH = 64
MAX_SIGNATURE_TERMS = 1 << 28


@dataclass(frozen=True)
class KernelSpec:
    """One kernel: op (a registered kernel op's name), channels ``d``, depth ``N``, dtype,
    target and variant.

    ``variant`` selects code shape, not semantics.  CPU: "auto" lets the generator choose
    unrolling by the measured policy in :mod:`codegen.schedule`; "loops" and "unrolled" force one
    shape (tests check all agree).  CUDA and its emulation: "shared" keeps a block's state in
    shared memory, "global" in a scratch buffer (for states too large for shared memory).
    """

    op: str
    d: int
    N: int
    dtype: str = "float64"
    target: str = "cpu"
    variant: str = "auto"
    vector_bytes: int = DEFAULT_VECTOR_BYTES

    def __post_init__(self) -> None:
        from .kernels import REGISTRY

        if self.op not in REGISTRY:
            raise ValueError(f"unknown op {self.op!r}; expected one of {tuple(REGISTRY)}")
        if self.dtype not in DTYPES:
            raise ValueError(f"unsupported dtype {self.dtype!r}; expected one of {tuple(DTYPES)}")
        if self.target not in TARGETS:
            raise ValueError(f"unsupported target {self.target!r}; expected one of {TARGETS}")
        kernel = REGISTRY[self.op]
        variants = kernel.variants(self.target)
        if not variants:
            raise ValueError(f"{self.op} has no {self.target} form")
        if self.variant not in variants:
            raise ValueError(
                f"unknown variant {self.variant!r} of {self.op} for target "
                f"{self.target!r}; expected one of {variants}"
            )
        if isinstance(self.d, bool) or not isinstance(self.d, int) or self.d < 1:
            raise ValueError(f"channels d must be an integer >= 1, got {self.d!r}")
        if isinstance(self.N, bool) or not isinstance(self.N, int) or self.N < 1:
            raise ValueError(f"depth N must be an integer >= 1, got {self.N!r}")
        if self.N > MAX_DEPTH:
            raise ValueError(f"depth N = {self.N} is above the generator's limit of {MAX_DEPTH}")
        if signature_channels(self.d, self.N) > MAX_SIGNATURE_TERMS:
            terms = signature_channels(self.d, self.N)
            raise ValueError(
                f"d = {self.d}, N = {self.N} gives {terms:,} signature terms, above "
                f"the generator's limit of {MAX_SIGNATURE_TERMS:,}"
            )
        if self.vector_bytes % self.itemsize or self.vector_bytes < self.itemsize:
            raise ValueError(f"vector_bytes {self.vector_bytes} is not a multiple of the item size")
        kernel.check(self)

    # ---- derived ---------------------------------------------------------------------------
    @property
    def kernel(self) -> KernelOp:
        from .kernels import REGISTRY

        return REGISTRY[self.op]

    @property
    def ctype(self) -> str:
        return DTYPES[self.dtype]

    @property
    def itemsize(self) -> int:
        return 4 if self.dtype == "float32" else 8

    @property
    def emulated(self) -> bool:
        return self.target == "cuda_emulated"

    @property
    def lanes(self) -> int:
        """Rows one CPU kernel call advances in lockstep (1: kernels that work row by row)."""
        return self.kernel.lanes(self)

    @property
    def level_sizes(self) -> list[int]:
        """d^k for k = 1..N."""
        return [self.d**k for k in range(1, self.N + 1)]

    @property
    def level_offsets(self) -> list[int]:
        """Offset of level k (k = 1..N) in the flat signature; index k-1 of the list."""
        offsets, acc = [], 0
        for size in self.level_sizes:
            offsets.append(acc)
            acc += size
        return offsets

    @property
    def sig_channels(self) -> int:
        return signature_channels(self.d, self.N)

    @property
    def name(self) -> str:
        """A C-identifier-safe name, unique per spec."""
        return (
            f"{self.op}_{self.target}_d{self.d}_n{self.N}_{self.dtype}"
            f"_{self.variant}_v{self.vector_bytes}"
        )


def signature_channels(d: int, N: int) -> int:
    """d + d^2 + ... + d^N without building a spec (closed form: no loop over N)."""
    if d == 1:
        return N
    return (d ** (N + 1) - d) // (d - 1)
