"""Signatures of many windows of each path in one pass (templates/cpu/signature_windows_*):
the kernels behind ``signature(..., window=/windows=)`` (sigcg/api/windows.py).

Let b be the fewest steps of any window: every window [s, e) then holds an *anchor*, a multiple
m of b with s <= m <= e - 1, and S(x[s..e-1]) = S(x[s..m]) ⊗ S(x[m..e-1]).  From each anchor
the kernel walks backwards through its windows' starts (the reversed path's signature, whose
antipode is each S(x[s..m]), kept in scratch) and forwards through their ends, where it writes
each window's product.  For windows of one size every point is walked twice whatever the
number of windows, only the windows are written, and no long prefix is ever inverted.  The
backward recomputes both walks, then walks each back (rebuilding states by exp(-Δ)) with the
cotangents of the products.  All paths share the window table, one path per SIMD lane.

CPU only: elsewhere the API signs the windows as a batch of slices or from prefix signatures.
"""

from __future__ import annotations

from typing import Any

from ..counts import adjoint_fmas, horner_fmas
from .base import Entry, SteppedCpuKernel, params

# anchor a: point anchor[a], windows window_offset[a] .. window_offset[a + 1] - 1, listed by
# start descending in by_start and by end ascending in by_end; window w: points window_start[w]
# .. window_last[w], output row window_row[w]; per_anchor: the most windows of one anchor (the
# scratch the kernels allocate)
WINDOW_PARAMS = (
    "int64 anchors",
    "index anchor",
    "index window_offset",
    "int64 windows",
    "index window_start",
    "index window_last",
    "index by_start",
    "index by_end",
    "index window_row",
    "int64 per_anchor",
)


class _WindowKernel(SteppedCpuKernel):
    showcase = ((3, 4, "float32", "cpu", "auto"),)
    blocked_walk = "forward walks"

    def context(self, spec) -> dict[str, Any]:
        return self.cpu_context(spec) | {"offsets": dict(enumerate(spec.level_offsets, start=1))}


class SignatureWindowsForward(_WindowKernel):
    name = "signature_windows_forward"
    summary = "signatures of a table of windows of each path, two walks per anchor"
    entries = (
        Entry(
            "signature_windows_forward",
            params("in path", "out out", "int64 batch", "int64 length", *WINDOW_PARAMS),
        ),
    )
    templates = {"cpu": "cpu/signature_windows_forward.c.j2"}

    def op_counts(self, spec) -> dict[str, int]:
        # per step walked (each point about twice for windows of one size)
        return {"fma": horner_fmas(spec.d, spec.N)}


class SignatureWindowsBackward(_WindowKernel):
    name = "signature_windows_backward"
    summary = "gradient of signature_windows_forward with respect to the path"
    entries = (
        Entry(
            "signature_windows_backward",
            params(
                "in path",
                "in grad_out",
                "out grad_path",
                "int64 batch",
                "int64 length",
                *WINDOW_PARAMS,
            ),
        ),
    )
    templates = {"cpu": "cpu/signature_windows_backward.c.j2"}

    def op_counts(self, spec) -> dict[str, int]:
        return {"fma": 3 * horner_fmas(spec.d, spec.N) + adjoint_fmas(spec.d, spec.N)}


KERNELS = (SignatureWindowsForward(), SignatureWindowsBackward())
