"""Operation counts of the generated kernels, per path and per path step.

They go into every provenance header and into the benchmark's FLOP/s column, so they count what
the templates actually execute (one fused multiply-add = one op here; FLOP/s figures use 2).
"""
from __future__ import annotations

from .spec import KernelSpec


def horner_fmas(d: int, N: int) -> int:
    """Multiply-adds of one right multiplication by exp(Δ): level k costs d + ... + d^k."""
    return sum(d**j for k in range(1, N + 1) for j in range(1, k + 1))


def adjoint_fmas(d: int, N: int) -> int:
    """Multiply-adds of the adjoint step: the chain is recomputed (d^j per node), each node below
    the top accumulates three products on the way up and each top word two."""
    total = 0
    for k in range(1, N + 1):
        total += 2 * d**k  # top level: g_{k-1} and gdl
        total += sum(4 * d**j for j in range(1, k))  # recompute u_j, then G, g_{j-1}, gdl
    return total


def product_fmas(d: int, N: int) -> int:
    """Multiply-adds of one truncated tensor product: level k costs (k - 1) d^k."""
    return sum((k - 1) * d**k for k in range(2, N + 1))


def op_counts(spec: KernelSpec) -> dict[str, int]:
    if spec.op == "tensor_product":  # per path (the product is not stepped); backward costs 2x
        return {"fma": product_fmas(spec.d, spec.N)}
    if spec.op == "signature_words":  # per *word* per step: the table is a run-time input
        return {"fma": spec.N}
    if spec.op in ("tensor_log", "tensor_exp"):  # at most N products (Horner); backward ~3x
        return {"fma": spec.N * (product_fmas(spec.d, spec.N) + spec.sig_channels)}
    if spec.op == "logsignature_words":
        # levels < N, level N's chain, Lyndon top words only (the log adds a few % at the end)
        from .words import lyndon_words
        top = sum(1 for w in lyndon_words(spec.d, spec.N) if len(w) == spec.N)
        return {"fma": horner_fmas(spec.d, spec.N - 1) + sum(spec.d**j for j in range(1, spec.N))
                + top}
    fwd = horner_fmas(spec.d, spec.N)
    if spec.op == "signature_forward":
        return {"fma": fwd}
    return {"fma": fwd + adjoint_fmas(spec.d, spec.N)}
