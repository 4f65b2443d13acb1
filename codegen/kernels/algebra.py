"""Truncated tensor algebra on rows of signatures: product (Chen), logarithm, exponential.

Each module holds its backward too; the rows are independent, so CPU kernels take a range of
rows and CUDA kernels run one block per row with one thread per output coefficient.
"""

from __future__ import annotations

from typing import Any

from .. import schedule
from ..counts import product_fmas
from .base import CudaLayout, Entry, KernelOp, params

SHOWCASE = (
    (2, 3, "float64", "cpu", "auto"),
    (3, 4, "float32", "cpu", "auto"),
    (4, 6, "float64", "cpu", "auto"),
    (3, 4, "float32", "cuda", "global"),
)


class _RowKernel(KernelOp):
    showcase = SHOWCASE

    def scratch_rows(self, spec) -> dict[str, int]:
        """Signature-sized rows of global scratch each entry needs per row (CUDA)."""
        return {}

    def context(self, spec) -> dict[str, Any]:
        return {
            "offsets": dict(enumerate(spec.level_offsets, start=1)),
            "threads": schedule.cuda_threads(spec),
            "scratch_rows": self.scratch_rows(spec),
        }

    def code_shape(self, spec) -> list[str]:
        if spec.target == "cpu":
            return []
        return [
            f"threads per block: {schedule.cuda_threads(spec)}; one block per row, one "
            f"thread per output coefficient"
        ]

    def cuda_layout(self, spec) -> CudaLayout:
        return CudaLayout(
            schedule.cuda_threads(spec),
            scratch={
                entry: rows * spec.sig_channels for entry, rows in self.scratch_rows(spec).items()
            },
        )


class TensorProduct(_RowKernel):
    name = "tensor_product"
    summary = "a ⊗ b of signatures without scalar term (Chen's identity), and its adjoint"
    entries = (
        Entry("tensor_product", params("in a", "in b", "out out", "int64 batch")),
        Entry(
            "tensor_product_backward",
            params("in a", "in b", "in grad", "out grad_a", "out grad_b", "int64 batch"),
        ),
    )
    templates = {"cpu": "cpu/tensor_product.c.j2", "cuda": "cuda/tensor_product.cu.j2"}
    precompile = ("combine", "signature")  # signature: small batches multiply their pieces

    def op_counts(self, spec) -> dict[str, int]:
        return {"fma": product_fmas(spec.d, spec.N)}  # backward costs 2x


class _HornerRowKernel(_RowKernel):
    """log and exp: Horner recursions t <- c + x ⊗ t over N tensors kept in scratch."""

    def op_counts(self, spec) -> dict[str, int]:  # at most N products; backward ~3x
        return {"fma": spec.N * (product_fmas(spec.d, spec.N) + spec.sig_channels)}

    def scratch_rows(self, spec) -> dict[str, int]:
        # the N Horner tensors, plus two cotangent rows (dL/dt_n, dL/dt_{n+1}) in the backward
        return {self.name: spec.N, f"{self.name}_backward": spec.N + 2}


class TensorLog(_HornerRowKernel):
    name = "tensor_log"
    summary = "log(1 + x) truncated (x without scalar term), and its adjoint"
    entries = (
        Entry("tensor_log", params("in x", "out out", "int64 batch")),
        Entry("tensor_log_backward", params("in x", "in grad", "out grad_x", "int64 batch")),
    )
    templates = {"cpu": "cpu/tensor_log.c.j2", "cuda": "cuda/tensor_log.cu.j2"}
    precompile = ("logsignature",)

    def scratch_rows(self, spec) -> dict[str, int]:
        # t_1..t_{N-1} (t_N = 1/N has no levels); the backward's two cotangent rows
        return {self.name: max(1, spec.N - 1), f"{self.name}_backward": spec.N + 1}


class TensorExp(_HornerRowKernel):
    name = "tensor_exp"
    summary = "exp(x) - 1 truncated (x without scalar term), and its adjoint"
    entries = (
        Entry("tensor_exp", params("in x", "out out", "int64 batch")),
        Entry("tensor_exp_backward", params("in x", "in grad", "out grad_x", "int64 batch")),
    )
    templates = {"cpu": "cpu/tensor_exp.c.j2", "cuda": "cuda/tensor_exp.cu.j2"}
    precompile = ("logsignature_to_signature",)


KERNELS = (TensorProduct(), TensorLog(), TensorExp())
