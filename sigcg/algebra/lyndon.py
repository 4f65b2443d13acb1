"""Words, Lyndon words and Lyndon brackets: the tables behind the log-signature bases.

Computed once per (channels, depth) in plain Python/NumPy, kept in memory, and the change-of-basis
tables also on disk in the kernel cache (they take seconds to build for large bases).
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from ..codegen import signature_channels
from ..codegen import words as codegen_words

Word = tuple[int, ...]


# Tables of words are Python lists: a request beyond this many words is refused at once, with
# its size, instead of running for minutes into a MemoryError (20 channels at depth 8 would be
# 3.2e9 Lyndon words).
MAX_WORDS = 5_000_000


# Sizes are computed exactly for any depth up to this (Witt's formula costs O(depth^2) here).
MAX_COUNTED_DEPTH = 1000


def _check(channels: int, depth: int) -> tuple[int, int]:
    from ..api import validation

    return (validation.channels(channels), validation.integer("depth", depth, 1, MAX_COUNTED_DEPTH))


def _count(n: int) -> str:
    """A (possibly astronomically large) count in words."""
    if n < 10**15:
        return f"{n:,}"
    return f"about 10^{int(n.bit_length() * 0.30103)}"


# Bracket bases are built in Python (bracket trees and their expansions), so requests beyond
# these sizes are refused at once rather than after minutes and gigabytes: the Hall
# construction is quadratic in the basis size (8 channels at depth 6: 51,360 elements), the
# Lyndon one about linear.
MAX_HALL_BASIS = 10_000
MAX_LYNDON_BASIS = 400_000


def check_basis(basis: str, channels: int, depth: int) -> None:
    """Raise ValueError, before building anything, for a basis ("lyndon" or "hall") too large
    to build here."""
    size = logsignature_channels(channels, depth)
    limit = MAX_HALL_BASIS if basis == "hall" else MAX_LYNDON_BASIS
    if size > limit:
        raise ValueError(
            f"the {basis} basis at {channels} channels and depth {depth} has {_count(size)} "
            f"elements, "
            f"more than the {limit:,} sigcg builds"
            + (
                "; the Lyndon basis (mode 'words' or 'brackets') reaches further"
                if basis == "hall"
                else ""
            )
        )


def _check_table(what: str, count: int, channels: int, depth: int) -> None:
    if count > MAX_WORDS:
        raise ValueError(
            f"{what} at {channels} channels and depth {depth} would list "
            f"{_count(count)} words, more than the {MAX_WORDS:,} sigcg builds"
        )


def logsignature_channels(channels: int, depth: int) -> int:
    """Size of the log-signature (the free Lie algebra truncated at ``depth``), Witt's formula:
    sum over k of (1/k) sum_{m | k} mu(m) channels^(k/m)."""
    channels, depth = _check(channels, depth)
    return sum(_witt(channels, k) for k in range(1, depth + 1))


def _mobius(n: int) -> int:
    result, p = 1, 2
    while p * p <= n:
        if n % p == 0:
            n //= p
            if n % p == 0:
                return 0
            result = -result
        p += 1
    return -result if n > 1 else result


def _witt(d: int, k: int) -> int:
    return sum(_mobius(m) * d ** (k // m) for m in range(1, k + 1) if k % m == 0) // k


def _lyndon(channels: int, depth: int) -> tuple[Word, ...]:
    """Lyndon words up to ``depth``, by length, then lexicographic (the generator's list, which
    also decides the top-level coordinates of the Lyndon signature kernel)."""
    return codegen_words.lyndon_words(channels, depth)


def lyndon_words(channels: int, depth: int) -> list[list[int]]:
    """The Lyndon words in log-signature order ("words" and "brackets" modes)."""
    channels, depth = _check(channels, depth)
    _check_table("lyndon_words", logsignature_channels(channels, depth), channels, depth)
    return [list(w) for w in _lyndon(channels, depth)]


def all_words(channels: int, depth: int) -> list[list[int]]:
    """Every word of length 1..depth in signature order (level, then lexicographic)."""
    channels, depth = _check(channels, depth)
    _check_table("all_words", signature_channels(channels, depth), channels, depth)
    return [
        [int(c) for c in np.unravel_index(i, (channels,) * k)]
        for k in range(1, depth + 1)
        for i in range(channels**k)
    ]


def word_to_index(word, channels: int) -> int:
    """Position of ``word`` in a signature of ``channels`` channels (no scalar term)."""
    from ..api import validation

    channels = validation.channels(channels)
    return _word_index(check_word(word, channels), channels)


def check_word(word, channels: int, name: str = "word") -> tuple[int, ...]:
    """``word`` as a tuple of ints, after checking it is a non-empty sequence of integers in
    [0, channels) (a ValueError or TypeError naming ``name`` otherwise)."""
    from ..api import validation

    if isinstance(word, (str, bytes)) or not hasattr(word, "__len__") or len(word) < 1:
        raise ValueError(
            f"{name}: {word!r} is not a word over {channels} letters (a non-empty "
            f"sequence of integers in [0, {channels}))"
        )
    try:
        return tuple(validation.integer(name, c, 0, channels - 1) for c in word)
    except (TypeError, ValueError) as exc:
        raise type(exc)(f"{name}: {word!r} is not a word over {channels} letters ({exc})") from None


def _word_index(word, channels: int) -> int:
    """word_to_index for a word of ints in [0, channels) (the tables built here, and words the
    public functions have checked): no checks, on the path of every table entry."""
    index = 0
    for c in word:
        index = index * channels + c
    return signature_channels(channels, len(word) - 1) + index if len(word) > 1 else index


def index_to_word(index: int, channels: int, depth: int) -> list[int]:
    """The word at position ``index`` of a signature (no scalar term): inverse of word_to_index."""
    from ..api import validation

    channels, depth = _check(channels, depth)
    index = validation.integer("index", index)
    if not 0 <= index < signature_channels(channels, depth):
        raise ValueError(
            f"index {index} is outside a signature of {channels} channels at depth "
            f"{depth} ({signature_channels(channels, depth)} terms)"
        )
    k = 1
    while index >= channels**k:
        index -= channels**k
        k += 1
    return [int(c) for c in np.unravel_index(index, (channels,) * k)]


def _standard_factorisation(w: Word) -> tuple[Word, Word]:
    """w = u v with v the longest proper suffix of w that is a Lyndon word."""
    for i in range(1, len(w)):
        v = w[i:]
        if all(v < v[j:] for j in range(1, len(v))):
            return w[:i], v
    raise AssertionError(f"{w} has no proper Lyndon suffix")


Tree = Any  # a letter (int) or a pair (left, right) of trees: the bracket [left, right]


def _lyndon_tree(w: Word) -> Tree:
    if len(w) == 1:
        return w[0]
    u, v = _standard_factorisation(w)
    return (_lyndon_tree(u), _lyndon_tree(v))


@functools.cache
def _hall_trees(channels: int, depth: int) -> tuple[Tree, ...]:
    """The Hall basis used by esig/RoughPy/iisignature's "H": degree by degree, [h_i, h_j] for
    every earlier element h_i and later h_j of complementary degree with h_j a letter or its left
    factor no later than h_i, in order of i, then j."""
    trees: list[Tree] = list(range(channels))
    degree = [1] * channels
    for n in range(2, depth + 1):
        count = len(trees)
        for i in range(count):
            for j in range(i + 1, count):
                if degree[i] + degree[j] != n:
                    continue
                right = trees[j]
                if isinstance(right, tuple) and trees.index(right[0]) > i:
                    continue
                trees.append((trees[i], right))
                degree.append(n)
    return tuple(trees)


def _basis_trees(channels: int, depth: int, basis: str) -> tuple[Tree, ...]:
    if basis == "hall":
        check_basis("hall", channels, depth)
        return _hall_trees(channels, depth)
    check_basis("lyndon", channels, depth)
    return tuple(_lyndon_tree(w) for w in _lyndon(channels, depth))


def _as_lists(tree: Tree):
    return tree if isinstance(tree, int) else [_as_lists(tree[0]), _as_lists(tree[1])]


def lyndon_brackets(channels: int, depth: int):
    """The standard bracketing of each Lyndon word: a letter, or [left, right] nested lists."""
    channels, depth = _check(channels, depth)
    return [_as_lists(t) for t in _basis_trees(channels, depth, "lyndon")]


def hall_basis(channels: int, depth: int):
    """The Hall basis elements ("hall" mode), as nested [left, right] lists of letters."""
    channels, depth = _check(channels, depth)
    return [_as_lists(t) for t in _basis_trees(channels, depth, "hall")]


def _tree_degree(tree: Tree) -> int:
    return 1 if isinstance(tree, int) else _tree_degree(tree[0]) + _tree_degree(tree[1])


@functools.cache
def _expand(tree: Tree) -> dict[Word, int]:
    """The bracket polynomial [P_u, P_v] = P_u P_v - P_v P_u of a tree as {word: coefficient}."""
    if isinstance(tree, int):
        return {(tree,): 1}
    pu, pv = _expand(tree[0]), _expand(tree[1])
    out: dict[Word, int] = {}
    for a, ca in pu.items():
        for b, cb in pv.items():
            out[a + b] = out.get(a + b, 0) + ca * cb
            out[b + a] = out.get(b + a, 0) - ca * cb
    return {k: c for k, c in out.items() if c}


@functools.cache
def words_index(channels: int, depth: int) -> np.ndarray:
    """Signature positions of the Lyndon words, in log-signature order."""
    return np.array([_word_index(w, channels) for w in _lyndon(channels, depth)])


# Above this many elements in the part of one level that substitution cannot solve (see
# _invert_level) the dense inversion of that part is too large.  The Lyndon basis never has
# such a part; the Hall basis has 3570 of 6552 at channels=8, depth=5.
MAX_DENSE_CORE = 4000


def _invert_level(columns: list[dict[int, int]], n: int, what: str) -> list[dict[int, int]]:
    """Rows of M^{-1} for the integer n x n matrix M given by its columns ({row: value}).

    Substitution first: a row of M with one unknown left gives that unknown, which may leave
    other rows with one unknown, and so on.  For the Lyndon basis M is unitriangular (the
    bracket of a Lyndon word w is w plus lexicographically greater words), so this solves
    everything in about nnz(M^{-1}) steps.  What is left (the Hall basis has such a part) is
    square and invertible; it is inverted densely, in float64 on integers, and checked exact.
    """
    rows: list[dict[int, int]] = [{} for _ in range(n)]
    for j, col in enumerate(columns):
        for u, c in col.items():
            rows[u][j] = c
    unknown = [set(r) for r in rows]
    inverse: dict[int, dict[int, int]] = {}  # column j of M^-1, once solved
    used = [False] * n
    queue = [u for u in range(n) if len(unknown[u]) == 1]
    while queue:
        u = queue.pop()
        if used[u] or len(unknown[u]) != 1:
            continue
        (j,) = unknown[u]
        pivot = rows[u][j]
        if abs(pivot) != 1:
            break  # not integral this way; the dense part handles it
        combo = {u: 1}  # c_j = (l_u - sum_h M[u, h] c_h) / pivot over the solved h
        for h, m in rows[u].items():
            if h != j:
                for v, a in inverse[h].items():
                    combo[v] = combo.get(v, 0) - m * a
        inverse[j] = {v: a * pivot for v, a in combo.items() if a}
        used[u] = True
        for v in columns[j]:
            unknown[v].discard(j)
            if len(unknown[v]) == 1 and not used[v]:
                queue.append(v)
    left_cols = [j for j in range(n) if j not in inverse]
    if not left_cols:
        return [inverse[j] for j in range(n)]
    left_rows = [u for u in range(n) if not used[u]]
    if len(left_cols) > MAX_DENSE_CORE:
        raise ValueError(
            f"{what}: {len(left_cols)} elements of one level need a dense inversion "
            f"(more than {MAX_DENSE_CORE}); use mode='words' or 'brackets' (the "
            f"Lyndon basis has no such limit)"
        )
    col_pos = {j: i for i, j in enumerate(left_cols)}
    core = np.zeros((len(left_rows), len(left_cols)))
    rhs = np.zeros((len(left_rows), n))  # row u: e_u - sum over solved h of M[u, h] c_h
    for r, u in enumerate(left_rows):
        rhs[r, u] = 1
        for h, m in rows[u].items():
            if h in col_pos:
                core[r, col_pos[h]] = m
            else:
                for v, a in inverse[h].items():
                    rhs[r, v] -= m * a
    core_inverse = np.rint(np.linalg.inv(core))
    if not np.array_equal(core_inverse @ core, np.eye(len(left_cols))):
        raise AssertionError(f"{what}: the change of basis is not integral")
    solved = np.rint(core_inverse @ rhs)
    for i, j in enumerate(left_cols):
        (nonzero,) = np.nonzero(solved[i])
        inverse[j] = dict(zip(nonzero.tolist(), solved[i, nonzero].tolist()))
    return [inverse[j] for j in range(n)]


def words_to_basis(
    channels: int, depth: int, basis: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sparse map from Lyndon-word coordinates ("words") to a bracket basis ("lyndon" for
    mode "brackets", or "hall") as triples (basis position, words position, coefficient).

    The coefficient of a Lyndon word u in a Lie element sum_h c_h P_h is sum_h c_h P_h[u] over the
    basis elements h of its degree (P_h: h expanded into words); that square integer matrix M is
    invertible with an integer inverse, and the map is M^{-1}, level by level.
    """
    return _table("words_to_basis", channels, depth, basis)


def _words_to_basis(channels: int, depth: int, basis: str):
    words = _lyndon(channels, depth)
    trees = _basis_trees(channels, depth, basis)
    out_idx, in_idx, coef, start = [], [], [], 0
    for k in range(1, depth + 1):
        level = [w for w in words if len(w) == k]
        level_trees = [t for t in trees if _tree_degree(t) == k]
        pos = {w: i for i, w in enumerate(level)}
        columns = [
            {pos[u]: c for u, c in _expand(tree).items() if u in pos} for tree in level_trees
        ]
        inverse = _invert_level(
            columns, len(level), f"the {basis} basis at channels={channels}, depth={depth}"
        )
        for j, row in enumerate(inverse):
            for u, c in sorted(row.items()):
                out_idx.append(start + j)
                in_idx.append(start + u)
                coef.append(float(c))
        start += len(level)
    return np.array(out_idx, dtype=np.int64), np.array(in_idx, dtype=np.int64), np.array(coef)


def expanded_to_basis(channels: int, depth: int, basis: str):
    """Expanded log -> basis coordinates: (basis position, signature position, coefficient)."""
    out_idx, in_idx, coef = words_to_basis(channels, depth, basis)
    return out_idx, words_index(channels, depth)[in_idx], coef


def basis_to_expanded(channels: int, depth: int, basis: str):
    """Basis coordinates -> the expanded Lie element sum_h c_h P_h: (signature position, basis
    position, coefficient), every word of every P_h."""
    return _table("basis_to_expanded", channels, depth, basis)


def _basis_to_expanded(channels: int, depth: int, basis: str):
    sig_idx, pos, coef = [], [], []
    for j, tree in enumerate(_basis_trees(channels, depth, basis)):
        for u, c in _expand(tree).items():
            sig_idx.append(_word_index(u, channels))
            pos.append(j)
            coef.append(float(c))
    return np.array(sig_idx, dtype=np.int64), np.array(pos, dtype=np.int64), np.array(coef)


_TABLE_BUILDERS = {"words_to_basis": _words_to_basis, "basis_to_expanded": _basis_to_expanded}


@functools.cache
def _table(name: str, channels: int, depth: int, basis: str):
    """A change-of-basis table (``name`` in _TABLE_BUILDERS) of (channels, depth, basis) as
    three arrays: computed once, then kept in memory and in the kernel cache on disk (same atomic
    publish and checksum as kernels; the key hashes this file and the generator's Lyndon words,
    so a changed construction never reads old tables)."""
    from ..runtime.cache import CacheKey, EntryMeta
    from ..runtime.cpu import cache

    source = hashlib.sha256(Path(__file__).read_bytes())
    source.update(Path(codegen_words.__file__).read_bytes())  # the Lyndon words themselves
    source.update(f"{name} {channels} {depth} {basis}".encode())
    key = CacheKey(f"tables{source.hexdigest()[:24]}", "numpy")
    computed: list[np.ndarray] = []

    def build(workdir: Path) -> Path:
        computed[:] = _TABLE_BUILDERS[name](channels, depth, basis)  # a retried build replaces
        target = workdir / "table.npz"
        np.savez(target, *computed)
        return target

    meta = EntryMeta(
        spec={"op": f"{basis} {name}", "d": channels, "N": depth, "dtype": "-"},
        generator_version="-",
        module="-",
        platform="any",
        compiler="none (NumPy)",
    )
    entry = cache.get_or_build(key, build, meta)
    if computed:
        return tuple(computed)
    with np.load(entry.library) as data:
        return tuple(data[f"arr_{i}"] for i in range(3))
