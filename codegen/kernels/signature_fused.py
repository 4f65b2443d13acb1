"""The signature of transformed and ragged batches without materialising anything
(templates/cpu/signature_fused_*).

The kernels read the original (batch, length, channels) points and build each step's increment
of the transformed path in registers: the lead-lag path of L points has 2L - 1 points [lag,
lead] (the lead moves first), the time channel (last) grows by a per-row step.  Each row may
hold fewer valid points than ``length`` (a ragged batch, padding after them): a lane group is
advanced only as far as its longest row, rows are taken in an order that groups similar lengths
(``order``), and no work or gradient reaches a row's padding.  The channel count of the spec,
``d``, is the transformed one: channels * (1 + lead_lag) + (time channel).

CPU only: on CUDA the API transforms with torch ops and runs the signature kernels
(sigcg/api/transforms.py).
"""

from __future__ import annotations

from ..counts import adjoint_fmas, horner_fmas
from .base import Entry, SteppedCpuKernel, params

# what both entries add to the plain signature kernels' parameters
TRANSFORM_PARAMS = ("flag lead_lag", "in? time_step", "index? lengths", "index? order")


class _FusedKernel(SteppedCpuKernel):
    showcase = ((3, 4, "float32", "cpu", "auto"),)


class SignatureFusedForward(_FusedKernel):
    name = "signature_fused_forward"
    summary = (
        "S(transform(path[:lengths])), or every prefix's signature with stream; optionally "
        "initial ⊗ S"
    )
    entries = (
        Entry(
            "signature_fused_forward",
            params(
                "in path",
                "in? initial",
                "out out",
                "int64 batch",
                "int64 length",
                "flag stream",
                *TRANSFORM_PARAMS,
            ),
        ),
    )
    templates = {"cpu": "cpu/signature_fused_forward.c.j2"}

    def op_counts(self, spec) -> dict[str, int]:
        return {"fma": horner_fmas(spec.d, spec.N)}


class SignatureFusedBackward(_FusedKernel):
    name = "signature_fused_backward"
    summary = "gradient of signature_fused_forward with respect to the original points"
    entries = (
        Entry(
            "signature_fused_backward",
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
                *TRANSFORM_PARAMS,
            ),
        ),
    )
    templates = {"cpu": "cpu/signature_fused_backward.c.j2"}

    def op_counts(self, spec) -> dict[str, int]:
        return {"fma": horner_fmas(spec.d, spec.N) + adjoint_fmas(spec.d, spec.N)}


KERNELS = (SignatureFusedForward(), SignatureFusedBackward())
