"""Log-signatures in Lyndon coordinates straight from the path (templates/cpu/logsignature_words).

Level N of the tensor logarithm at a word is S_N there plus products of lower levels, so only
the Lyndon words of level N (about d^N / N of d^N) are computed, level N's Horner chain only over
their prefixes, and the logarithm and change of basis follow while the state is in cache.
"""

from __future__ import annotations

from itertools import accumulate
from typing import Any

from .. import schedule
from ..counts import horner_fmas
from ..words import (
    lyndon_positions_below_top,
    lyndon_words,
    top_lyndon_groups,
    top_lyndon_prefix_trie,
)
from .base import Entry, KernelOp, params


class LogSignatureWords(KernelOp):
    name = "logsignature_words"
    summary = (
        "log-signature at the Lyndon words (optionally in another basis), computing "
        "level N at its Lyndon words only; and the gradient of its signature part"
    )
    entries = (
        Entry(
            "logsignature_words",
            params(
                "in path",
                "out words_out",
                "out? out",
                "index? proj_out",
                "index? proj_in",
                "in? proj_coef",
                "int64 nnz",
                "int64 batch",
                "int64 length",
            ),
        ),
        Entry(
            "logsignature_words_backward",
            params(
                "in path", "in sig", "in grad_sig", "out grad_path", "int64 batch", "int64 length"
            ),
        ),
    )
    templates = {"cpu": "cpu/logsignature_words.c.j2"}
    cpu_variants = ("auto", "loops", "unrolled")
    stepped = True
    precompile = ("logsignature",)
    showcase = (
        (2, 3, "float64", "cpu", "auto"),
        (3, 4, "float32", "cpu", "auto"),
        (4, 6, "float64", "cpu", "auto"),
    )

    def check(self, spec) -> None:
        if spec.N < 2 or spec.d < 2:
            raise ValueError(
                f"{self.name} needs depth >= 2 and channels >= 2 (else the top "
                "level has no Lyndon words or only Lyndon words)"
            )

    def op_counts(self, spec) -> dict[str, int]:
        # levels < N, level N's chain, Lyndon top words only (the log adds a few % at the end)
        top = sum(1 for w in lyndon_words(spec.d, spec.N) if len(w) == spec.N)
        return {
            "fma": horner_fmas(spec.d, spec.N - 1) + sum(spec.d**j for j in range(1, spec.N)) + top
        }

    def code_shape(self, spec) -> list[str]:
        trie = top_lyndon_prefix_trie(spec.d, spec.N)
        nodes = sum(len(level) for level in trie)
        return [
            f"unrolling: {schedule.plan_for(spec).describe()}",
            f"top-level block: {schedule.block_steps(spec)} step(s)",
            f"prefix trie of the top Lyndon words: {nodes} nodes, "
            f"{'unrolled' if schedule.unroll_trie(nodes) else 'loops over tables'}",
        ]

    def context(self, spec) -> dict[str, Any]:
        d, N = spec.d, spec.N
        groups = top_lyndon_groups(d, N)
        trie = top_lyndon_prefix_trie(d, N)
        sizes = [len(level) for level in trie]
        return {
            "plan": schedule.plan_for(spec),
            "block": schedule.block_steps(spec),
            "offsets": dict(enumerate(spec.level_offsets, start=1)),
            "top_groups": groups,
            "top_count": sum(d - first for _, first in groups),  # Lyndon words of level N
            "top_trie": trie,
            # where the trie's level-j nodes begin in one flat array of all its nodes
            "trie_starts": [0, *accumulate(sizes)][:-1],
            "chain_nodes": sum(sizes[:-1]),  # nodes of levels 1..N-2
            "unroll_trie": schedule.unroll_trie(sum(sizes)),
            "low_words": lyndon_positions_below_top(d, N),
        }


KERNELS = (LogSignatureWords(),)
