"""The signature of a batch of paths, and its gradient (templates/{cpu,cuda}/signature_*)."""
from __future__ import annotations

from typing import Any

from .. import schedule
from ..counts import adjoint_fmas, horner_fmas
from .base import CudaLayout, Entry, KernelOp, params

SHOWCASE = (
    (2, 3, "float64", "cpu", "auto"), (3, 4, "float32", "cpu", "auto"),
    (4, 6, "float64", "cpu", "auto"),
    (3, 4, "float32", "cuda", "shared"), (4, 6, "float64", "cuda", "global"),
)


class _SignatureKernel(KernelOp):
    cpu_variants = ("auto", "loops", "unrolled")
    cuda_variants = ("shared", "global")
    stepped = True
    precompile = ("signature", "logsignature")
    showcase = SHOWCASE

    def code_shape(self, spec) -> list[str]:
        if spec.target == "cpu":
            return [f"unrolling: {schedule.plan_for(spec).describe()}",
                    f"top-level block (forward, no stream): {schedule.block_steps(spec)} step(s)"]
        return [f"threads per block: {schedule.cuda_threads(spec)}; one block per path"]

    def context(self, spec) -> dict[str, Any]:
        if spec.target == "cpu":
            return {"plan": schedule.plan_for(spec), "block": schedule.block_steps(spec)}
        return {"threads": schedule.cuda_threads(spec)}


class SignatureForward(_SignatureKernel):
    name = "signature_forward"
    summary = "S(path), or every prefix's signature with stream; optionally initial ⊗ S(path)"
    entries = (Entry("signature_forward", params(
        "in path", "in? initial", "out out", "int64 batch", "int64 length", "flag stream")),)
    templates = {"cpu": "cpu/signature_forward.c.j2", "cuda": "cuda/signature_forward.cu.j2"}

    def op_counts(self, spec) -> dict[str, int]:
        return {"fma": horner_fmas(spec.d, spec.N)}

    def cuda_layout(self, spec) -> CudaLayout:
        sig, item = spec.sig_channels, spec.itemsize
        static = (spec.N + 1) * spec.d * item  # dl
        if spec.variant == "shared":
            return CudaLayout(schedule.cuda_threads(spec), dynamic_smem=sig * item,
                              static_smem=static)
        return CudaLayout(schedule.cuda_threads(spec), static_smem=static,
                          scratch={"signature_forward": sig})


class SignatureBackward(_SignatureKernel):
    name = "signature_backward"
    summary = "gradient of signature_forward with respect to the path (and the initial signature)"
    entries = (Entry("signature_backward", params(
        "in path", "in? initial", "in sig", "in grad_sig", "out grad_path", "out? grad_initial",
        "int64 batch", "int64 length", "flag stream")),)
    templates = {"cpu": "cpu/signature_backward.c.j2", "cuda": "cuda/signature_backward.cu.j2"}

    def op_counts(self, spec) -> dict[str, int]:
        return {"fma": horner_fmas(spec.d, spec.N) + adjoint_fmas(spec.d, spec.N)}

    def cuda_layout(self, spec) -> CudaLayout:
        sig, item = spec.sig_channels, spec.itemsize
        static = (3 * (spec.N + 1) * spec.d + spec.d) * item  # dl, neg, gdl, gnext
        if spec.variant == "shared":
            return CudaLayout(schedule.cuda_threads(spec), dynamic_smem=2 * sig * item,
                              static_smem=static)
        return CudaLayout(schedule.cuda_threads(spec), static_smem=static,
                          scratch={"signature_backward": 2 * sig})


KERNELS = (SignatureForward(), SignatureBackward())
