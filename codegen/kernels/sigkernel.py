"""Signature kernels k(x, y) = <S(x), S(y)> by the Goursat PDE, and their exact adjoints.

The scheme (Salvi et al. 2021, second order, as sigkernel and pySigLib solve it) on the grid of
increments refined 2^lam1 times along x and 2^lam2 times along y (R1 = (Lx-1) 2^lam1 cell rows,
R2 = (Ly-1) 2^lam2 cell columns): with g the static kernel's increment inner product of the cell
divided by 2^(lam1 + lam2),

    k[i+1][j+1] = (k[i+1][j] + k[i][j+1]) A(g) - k[i][j] B(g),   A = 1 + g/2 + g^2/12,
    B = 1 - g^2/12,  k[0][.] = k[.][0] = 1,  k(x, y) = k[R1][R2].

Two static-kernel families, one op each (their entry points take different arrays):

  * ``sig_kernel_linear``: g from the increments themselves, <dx_s, dy_t> over D channels, never
    stored (nothing of size Lx * Ly exists, so paths of any length fit in O(L) memory).  Covers
    the linear and scaled linear static kernels (the scale multiplies the increments in torch).
  * ``sig_kernel_from_gram``: g read from a (pairs, Lx-1, Ly-1) increment Gram that torch computed
    (any static kernel, user-defined ones included, differentiable in its parameters).

Spec fields, reinterpreted: ``d`` = channels D of the increments (1 for the Gram family), ``N`` =
1 (unused).  The dyadic orders are runtime arguments: no inner loop depends on them (a
coefficient row is expanded to the refined columns once per original row, see the templates), so
generating per dyadic order would only multiply compiles.

The pair p of a call uses x row pairs[2p] and y row pairs[2p+1] when an index table is given (a
Gram matrix without copying paths), else x row p and y row p.

CPU (templates/cpu/sig_kernel.c.j2): one SIMD lane per pair, rows of the refined grid swept in
place (O(R2) state per pair).  The backward recomputes rows from checkpoints (a recursion whose
depth is chosen so the stored rows fit ``row_budget``) and runs the discrete adjoint backwards.

CUDA (templates/cuda/sig_kernel.cu.j2): ``ROWS`` threads per pair, each owning one cell row of a
strip of ROWS rows, sweeping anti-diagonals kept in shared memory (three rotating diagonals);
the strip's boundary row lives in a global workspace, so there is no length limit;
``PAIRS_PER_BLOCK`` pairs per block.  One block per ``PAIRS_PER_BLOCK`` pairs: the ``units``
argument counts pairs on the CPU and blocks on CUDA.
"""

from __future__ import annotations

from typing import Any, ClassVar

from .base import CudaLayout, Entry, KernelOp, params

ROWS = 32  # CUDA: cell rows per strip = threads per pair (one warp)
PAIRS_PER_BLOCK = 4  # CUDA: pairs per block (128 threads)
MAX_CHANNELS = 4096  # the linear family unrolls its dot products over D
SWEEP_ROWS = 4  # CPU: rows advanced together as a wavefront (independent FMA chains)

_COMMON = ("int64 units", "int64 count", "int64 n1", "int64 n2", "int64 lam1", "int64 lam2")


def workspace_elements(
    family: str, target: str, backward: bool, n1: int, n2: int, lam1: int, lam2: int, d: int
) -> int:
    """Elements of T of the CUDA workspace per pair (0 on the CPU, whose kernels allocate
    their own O(R2) rows): the strip's boundary row (forward); the strip boundary rows
    (checkpoints), the strip's cells, the adjoint's boundary row and the gradient accumulators:
    per refined row and column (linear family, (R1 + R2) D), or per refined row and original
    column (Gram family, R1 n2) (backward)."""
    if target == "cpu":
        return 0
    r1, r2 = n1 << lam1, n2 << lam2
    width = r2 + 1
    if not backward:
        return width
    strips = -(-r1 // ROWS)
    accumulators = (r1 + r2) * d if family == "linear" else r1 * n2
    return strips * width + ROWS * width + width + accumulators


class _SigKernelPDE(KernelOp):
    family: ClassVar[str]
    cpu_variants = ("auto",)
    cuda_variants = ("global",)
    stepped = True  # one pair per SIMD lane on the CPU
    precompile = ("sig_kernel",)

    def check(self, spec) -> None:
        if spec.N != 1:
            raise ValueError(
                f"{self.name}: N is unused and must be 1 (the dyadic orders are "
                f"runtime arguments), got {spec.N}"
            )
        if spec.d > MAX_CHANNELS:
            raise ValueError(f"{self.name}: at most {MAX_CHANNELS} channels, got {spec.d}")

    def count_unit(self) -> str:
        return "refined PDE cell"

    def op_counts(self, spec) -> dict[str, int]:
        # the sweep (one FMA chain, one multiply, one FMA per cell); the linear family's
        # increment inner product costs D more at dyadic order 0 (shared by 4^lam cells)
        return {"fma": 3 + (spec.d if self.family == "linear" else 0)}

    def context(self, spec) -> dict[str, Any]:
        return {
            "family": self.family,
            "rows": ROWS,
            "sweep_rows": SWEEP_ROWS,
            "pairs_per_block": PAIRS_PER_BLOCK,
            "threads": ROWS * PAIRS_PER_BLOCK,
        }

    def code_shape(self, spec) -> list[str]:
        if spec.target == "cpu":
            return [
                f"one pair per SIMD lane ({spec.lanes} lanes); rows swept in place; "
                f"backward: checkpointed recomputation within a row budget"
            ]
        return [
            f"{ROWS} threads per pair (one cell row each, anti-diagonal wavefront over "
            f"strips of {ROWS} rows), {PAIRS_PER_BLOCK} pairs per block"
        ]

    def cuda_layout(self, spec) -> CudaLayout:
        threads = ROWS * PAIRS_PER_BLOCK
        return CudaLayout(threads, static_smem=3 * threads * spec.itemsize)


class SigKernelLinear(_SigKernelPDE):
    name = "sig_kernel_linear"
    family = "linear"
    summary = (
        "signature kernel PDE with g = <dx_s, dy_t> / 2^(lam1+lam2) computed on the fly "
        "(linear static kernel), and its exact adjoint"
    )
    entries = (
        Entry(
            "sig_kernel_linear",
            params("in dx", "in dy", "index? pairs", "out out", "out? grid", "out? work", *_COMMON),
            rows="units",
        ),
        Entry(
            "sig_kernel_linear_backward",
            params(
                "in dx",
                "in dy",
                "index? pairs",
                "in? grad",
                "in? grad_grid",
                "out grad_dx",
                "out grad_dy",
                "out? work",
                *_COMMON,
                "int64 row_budget",
            ),
            rows="units",
        ),
    )
    templates = {"cpu": "cpu/sig_kernel.c.j2", "cuda": "cuda/sig_kernel.cu.j2"}
    showcase = ((3, 1, "float64", "cpu", "auto"), (3, 1, "float32", "cuda", "global"))


class SigKernelFromGram(_SigKernelPDE):
    name = "sig_kernel_from_gram"
    family = "gram"
    summary = (
        "signature kernel PDE reading g from a static kernel's increment Gram "
        "(pairs, n1, n2), and its exact adjoint"
    )
    entries = (
        Entry(
            "sig_kernel_from_gram",
            params("in gram", "out out", "out? grid", "out? work", *_COMMON),
            rows="units",
        ),
        Entry(
            "sig_kernel_from_gram_backward",
            params(
                "in gram",
                "in? grad",
                "in? grad_grid",
                "out grad_gram",
                "out? work",
                *_COMMON,
                "int64 row_budget",
            ),
            rows="units",
        ),
    )
    templates = {"cpu": "cpu/sig_kernel.c.j2", "cuda": "cuda/sig_kernel.cu.j2"}
    showcase = ((1, 1, "float64", "cpu", "auto"), (1, 1, "float64", "cuda", "global"))

    def check(self, spec) -> None:
        super().check(spec)
        if spec.d != 1:
            raise ValueError(f"{self.name} reads a Gram of increments: d must be 1, got {spec.d}")


KERNELS = (SigKernelLinear(), SigKernelFromGram())
