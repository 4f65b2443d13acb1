"""The signature of a batch of paths, and its gradient (templates/{cpu,cuda}/signature_*)."""

from __future__ import annotations

from typing import Any

from .. import schedule
from ..counts import (
    adjoint_fmas,
    adjoint_tangent_fmas,
    horner_fmas,
    horner_tangent_fmas,
)
from .base import CudaLayout, Entry, KernelOp, SteppedCpuKernel, params

SHOWCASE = (
    (2, 3, "float64", "cpu", "auto"),
    (3, 4, "float32", "cpu", "auto"),
    (4, 6, "float64", "cpu", "auto"),
    (3, 4, "float32", "cuda", "shared"),
    (4, 6, "float64", "cuda", "global"),
    (3, 4, "float32", "cuda", "registers"),
    (4, 6, "float64", "cuda", "split2"),
)


def cuda_backward_fmas(d: int, N: int) -> int:
    """Multiply-adds per step of the CUDA backward (one block per path, no stream): the rebuild
    S <- S (x) exp(-Δ) fused with the recomputed chains (2 (N - j) per word of level j < N),
    then the reverse phases: per word of level j, N - j + 1 products into the parent's
    cotangents, as many into dL/dΔ and N - j additions into G; per parent, N - j + 1 scalings
    of its partial products by 1/m."""
    rebuild = sum(2 * (N - j) * d**j for j in range(1, N))
    reverse = sum((3 * (N - j) + 2) * d**j for j in range(1, N + 1))
    scale = sum((N - j + 1) * d ** (j - 1) for j in range(2, N + 1))
    return rebuild + reverse + scale


def ancestor_fmas(d: int, N: int, split: int, backward: bool) -> int:
    """What a path's split blocks recompute beyond one copy: every block of a path does its
    ancestors' steps (levels 1..split-1, one word each)."""
    per_word = (
        (lambda j: 2 * (N - j) + 3 * (N - j) + 2 + (N - j + 1))
        if backward
        else (lambda j: N - j + 1)
    )
    return (d**split - 1) * sum(per_word(j) for j in range(1, split))


class _SignatureKernel(SteppedCpuKernel):
    # one block per path with the state in shared memory or global scratch; in registers, one
    # block per path or per (path, prefix of 1..MAX_SPLIT letters): codegen/schedule.py
    cuda_variants = ("shared", "global") + schedule.REGISTER_VARIANTS
    precompile = ("signature", "logsignature")
    showcase = SHOWCASE

    def check(self, spec) -> None:
        if spec.target == "cpu":
            return
        split = schedule.split_of(spec.variant)
        if split and (spec.d < 2 or split > spec.N - 1):
            raise ValueError(
                f"{spec.op} variant {spec.variant}: a split needs d >= 2 and at "
                f"most N - 1 = {spec.N - 1} letters"
            )
        blocking = schedule.signature_blocking(spec)
        if blocking.storage == "registers" and not blocking.registers_fit():
            raise ValueError(
                f"{spec.op} variant {spec.variant} for d={spec.d}, N={spec.N}, "
                f"{spec.dtype}: the state does not fit in registers "
                f"({blocking.register_model()} modelled per thread)"
            )

    def code_shape(self, spec) -> list[str]:
        if spec.target == "cpu":
            return self.cpu_code_shape(spec)
        blocking = schedule.signature_blocking(spec)
        lines = [f"blocking: {blocking.describe()}"]
        if blocking.storage == "registers":
            lines.append(
                f"registers: {blocking.coefficients_per_thread()} coefficients per "
                f"thread, {blocking.register_model()} registers modelled"
            )
        return lines

    def context(self, spec) -> dict[str, Any]:
        if spec.target == "cpu":
            return self.cpu_context(spec)
        blocking = schedule.signature_blocking(spec)
        return {
            "threads": blocking.threads,
            "geo": blocking,
            "offsets": dict(enumerate(spec.level_offsets, start=1)),
        }

    def cuda_layout(self, spec) -> CudaLayout:
        blocking = schedule.signature_blocking(spec)
        work = blocking.work_elements() * spec.itemsize
        static = blocking.static_elements() * spec.itemsize
        if blocking.storage == "global":
            return CudaLayout(
                blocking.threads,
                static_smem=static,
                scratch={self.entries[0].name: blocking.work_elements()},
            )
        return CudaLayout(blocking.threads, dynamic_smem=work, static_smem=static)


class SignatureForward(_SignatureKernel):
    name = "signature_forward"
    summary = "S(path), or every prefix's signature with stream; optionally initial ⊗ S(path)"
    entries = (
        Entry(
            "signature_forward",
            params(
                "in path", "in? initial", "out out", "int64 batch", "int64 length", "flag stream"
            ),
        ),
    )
    templates = {"cpu": "cpu/signature_forward.c.j2", "cuda": "cuda/signature_forward.cu.j2"}

    def op_counts(self, spec) -> dict[str, int]:
        # the CUDA forward runs the same Horner scheme level by level: the same count (plus the
        # ancestors the blocks of a split recompute)
        split = schedule.split_of(spec.variant) if spec.target != "cpu" else 0
        return {"fma": horner_fmas(spec.d, spec.N) + ancestor_fmas(spec.d, spec.N, split, False)}


class SignatureBackward(_SignatureKernel):
    name = "signature_backward"
    summary = "gradient of signature_forward with respect to the path (and the initial signature)"
    entries = (
        Entry(
            "signature_backward",
            params(
                "in path",
                "in? initial",
                "in sig",
                "in grad_sig",
                "out grad_path",
                "out? grad_initial",
                "int64 batch",
                "int64 length",
                "flag stream",
            ),
        ),
    )
    templates = {"cpu": "cpu/signature_backward.c.j2", "cuda": "cuda/signature_backward.cu.j2"}

    def op_counts(self, spec) -> dict[str, int]:
        if spec.target != "cpu":
            split = schedule.split_of(spec.variant)
            return {
                "fma": cuda_backward_fmas(spec.d, spec.N)
                + ancestor_fmas(spec.d, spec.N, split, True)
            }
        return {"fma": horner_fmas(spec.d, spec.N) + adjoint_fmas(spec.d, spec.N)}


class SignatureHvp(KernelOp):
    """Second derivatives of the signature (or its stream) for ``create_graph=True`` (gradient
    penalties, Hessian-vector products): the derivative along a path direction u of the
    signature (J u) and of its gradient (H u).  CPU only; other devices differentiate the
    composite signature (sigcg/ops/composite.py)."""

    name = "signature_hvp"
    summary = "J u and H u: the signature's and its gradient's derivatives along a path direction"
    entries = (
        Entry(
            "signature_hvp",
            params(
                "in path",
                "in grad_sig",
                "in tangent",
                "out hvp",
                "out jvp",
                "int64 batch",
                "int64 length",
                "flag stream",
            ),
        ),
    )
    templates = {"cpu": "cpu/signature_hvp.c.j2"}
    stepped = True
    precompile = ("double_backward",)
    showcase = ((3, 4, "float64", "cpu", "auto"),)

    def context(self, spec) -> dict[str, Any]:
        return {"plan": schedule.plan_for(spec)}

    def code_shape(self, spec) -> list[str]:
        return [f"unrolling: {schedule.plan_for(spec).describe()}"]

    def op_counts(self, spec) -> dict[str, int]:
        # the forward sweep, then per step the rebuild and the adjoint, all with tangents
        d, N = spec.d, spec.N
        return {"fma": 2 * horner_tangent_fmas(d, N) + adjoint_tangent_fmas(d, N)}


KERNELS = (SignatureForward(), SignatureBackward(), SignatureHvp())
