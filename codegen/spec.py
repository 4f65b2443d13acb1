"""KernelSpec: the one description of a generated kernel.

Everything that changes the generated source is a field here, so the rendered source (and
therefore the cache key) is a pure function of the spec and the generator version.
"""
from __future__ import annotations

from dataclasses import dataclass

OPS = ("signature_forward", "signature_backward", "tensor_product", "tensor_log", "tensor_exp",
       "signature_words", "logsignature_words")
PATHWISE_OPS = ("tensor_product", "tensor_log", "tensor_exp", "signature_words")  # one signature in, one out: no time steps
# Kernels that compute the top level at its Lyndon words only (templates/logsignature_words.c.j2)
LYNDON_TOP_OPS = ("logsignature_words",)
DTYPES = {"float32": "float", "float64": "double"}
# "cuda" renders CUDA C for NVRTC; "cuda_emulated" renders the *same* CUDA kernel body as C that
# runs every thread of a block in turn (see templates/cuda_grid.j2), with the CPU entry point.
TARGETS = ("cpu", "cuda", "cuda_emulated")
VARIANTS = {"cpu": ("auto", "loops", "unrolled"),  # code shape
            "cuda": ("shared", "global"),          # where a block keeps its path's state
            "cuda_emulated": ("auto",)}

# Bytes per SIMD vector.  Paths are processed in lockstep, one per vector lane, so every
# arithmetic statement of the kernel is a vector operation whatever d is.  32 bytes (AVX2 width)
# gives the same FMA throughput as 64 on Zen 4 (512-bit ops are double-pumped) and halves the
# per-group state, which keeps d^N up to ~10^4 inside L2.
DEFAULT_VECTOR_BYTES = 32


@dataclass(frozen=True)
class KernelSpec:
    """One kernel: operation, channels ``d``, depth ``N``, dtype, target and variant.

    ``variant`` selects code shape, not semantics.  CPU: "auto" lets the generator choose
    unrolling by the measured policy in :mod:`codegen.schedule`; "loops" and "unrolled" force one
    shape (tests check all agree).  CUDA: "shared" keeps a block's state in shared memory,
    "global" in a scratch buffer (for states too large for shared memory).
    """

    op: str
    d: int
    N: int
    dtype: str = "float64"
    target: str = "cpu"
    variant: str = "auto"
    vector_bytes: int = DEFAULT_VECTOR_BYTES

    def __post_init__(self) -> None:
        if self.op not in OPS:
            raise ValueError(f"unknown op {self.op!r}; expected one of {OPS}")
        if self.dtype not in DTYPES:
            raise ValueError(f"unsupported dtype {self.dtype!r}; expected one of {tuple(DTYPES)}")
        if self.target not in TARGETS:
            raise ValueError(f"unsupported target {self.target!r}; expected one of {TARGETS}")
        if (self.target == "cuda" and self.op in PATHWISE_OPS and self.variant != "global"):
            raise ValueError(f"{self.op} on CUDA keeps its (Horner) scratch in global memory: "
                             f"variant must be 'global', got {self.variant!r}")
        if self.variant not in VARIANTS[self.target]:
            raise ValueError(f"unknown variant {self.variant!r} for target {self.target!r}; "
                             f"expected one of {VARIANTS[self.target]}")
        if not (isinstance(self.d, int) and self.d >= 1):
            raise ValueError(f"channels d must be an integer >= 1, got {self.d!r}")
        if not (isinstance(self.N, int) and self.N >= 1):
            raise ValueError(f"depth N must be an integer >= 1, got {self.N!r}")
        if self.op in LYNDON_TOP_OPS and (self.N < 2 or self.d < 2):
            raise ValueError(f"{self.op} needs depth >= 2 and channels >= 2 (else "
                             "the top level has no Lyndon words or only Lyndon words)")
        if self.vector_bytes % self.itemsize or self.vector_bytes < self.itemsize:
            raise ValueError(f"vector_bytes {self.vector_bytes} is not a multiple of the item size")

    # ---- derived sizes -------------------------------------------------------------------
    @property
    def ctype(self) -> str:
        return DTYPES[self.dtype]

    @property
    def itemsize(self) -> int:
        return 4 if self.dtype == "float32" else 8

    @property
    def lanes(self) -> int:
        """Paths one kernel call advances in lockstep (1: kernels that work path by path)."""
        if self.target != "cpu" or self.op in PATHWISE_OPS:
            return 1
        return self.vector_bytes // self.itemsize

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
        return sum(self.level_sizes)

    @property
    def name(self) -> str:
        """A C-identifier-safe name, unique per spec."""
        return (f"{self.op}_{self.target}_d{self.d}_n{self.N}_{self.dtype}"
                f"_{self.variant}_v{self.vector_bytes}")


def signature_channels(d: int, N: int) -> int:
    """d + d^2 + ... + d^N without building a spec."""
    return sum(d**k for k in range(1, N + 1))
