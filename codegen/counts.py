"""Multiply-add counts of the tensor-algebra building blocks the kernels execute.

The kernel descriptors combine these into op counts for the provenance headers and the
benchmarks' FLOP/s columns (one fused multiply-add = one op here; FLOP/s figures use 2), so they
count what the templates actually execute; tests/test_codegen.py checks them against the
rendered code.
"""

from __future__ import annotations


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


def horner_tangent_fmas(d: int, N: int) -> int:
    """Multiply-adds of a right multiplication by exp(Δ) carried with its tangent: each node of
    the chain adds its tangent's two products to its own one."""
    return 3 * horner_fmas(d, N)


def adjoint_tangent_fmas(d: int, N: int) -> int:
    """Multiply-adds of the adjoint step carried with its tangent, cotangents of the increments'
    tangents only: a top word 5 (g, h: 2, gdl': 2) instead of 2, a node below 10 (u, v: 2, G,
    G', g, h: 2, gdl': 2) instead of 4."""
    return adjoint_fmas(d, N) * 5 // 2


def product_fmas(d: int, N: int) -> int:
    """Multiply-adds of one truncated tensor product: level k costs (k - 1) d^k."""
    return sum((k - 1) * d**k for k in range(2, N + 1))
