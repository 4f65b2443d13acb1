"""Signature coefficients of a chosen, prefix-closed set of words (templates/cpu/signature_words).

The words are a run-time table, so one kernel per (d, longest word) serves every word set.
"""

from __future__ import annotations

from .base import Entry, KernelOp, params


class SignatureWords(KernelOp):
    name = "signature_words"
    summary = "signature coefficients of a prefix-closed table of words, longest first"
    entries = (
        Entry(
            "signature_words",
            params(
                "in path",
                "out out",
                "int64 batch",
                "int64 length",
                "int64 nodes",
                "index len",
                "index letter",
                "index prefix",
            ),
        ),
    )
    templates = {"cpu": "cpu/signature_words.c.j2"}
    precompile = ("coefficient",)
    showcase = (
        (2, 3, "float64", "cpu", "auto"),
        (3, 4, "float32", "cpu", "auto"),
        (4, 6, "float64", "cpu", "auto"),
    )

    def op_counts(self, spec) -> dict[str, int]:
        return {"fma": spec.N}  # per *word* per step: the table is a run-time input

    def count_unit(self) -> str:
        return "word per path step"


KERNELS = (SignatureWords(),)
