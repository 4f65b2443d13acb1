"""Words, Lyndon words and Lyndon brackets: the tables behind the log-signature bases.

Computed once per (channels, depth) in plain Python/NumPy and kept in memory.
"""
from __future__ import annotations

import functools

import numpy as np

from .codegen import signature_channels

Word = tuple[int, ...]


def _check(channels: int, depth: int) -> None:
    for name, value in (("channels", channels), ("depth", depth)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"{name} must be an integer >= 1, got {value!r}")


def logsignature_channels(channels: int, depth: int) -> int:
    """Size of the log-signature (the free Lie algebra truncated at ``depth``), Witt's formula:
    sum over k of (1/k) sum_{m | k} mu(m) channels^(k/m)."""
    _check(channels, depth)
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


@functools.lru_cache(maxsize=None)
def _lyndon(channels: int, depth: int) -> tuple[Word, ...]:
    """Lyndon words up to ``depth`` (Duval's generation), by length, then lexicographic."""
    words, w = [], [-1]
    while w:
        w[-1] += 1
        words.append(tuple(w))
        m = len(w)
        while len(w) < depth:
            w.append(w[len(w) - m])
        while w and w[-1] == channels - 1:
            w.pop()
    return tuple(sorted(words, key=lambda u: (len(u), u)))


def lyndon_words(channels: int, depth: int) -> list[list[int]]:
    """The Lyndon words in log-signature order ("words" and "brackets" modes)."""
    _check(channels, depth)
    return [list(w) for w in _lyndon(channels, depth)]


def all_words(channels: int, depth: int) -> list[list[int]]:
    """Every word of length 1..depth in signature order (level, then lexicographic)."""
    _check(channels, depth)
    return [list(np.unravel_index(i, (channels,) * k)) for k in range(1, depth + 1)
            for i in range(channels**k)]


def word_to_index(word, channels: int) -> int:
    """Position of ``word`` in a signature of ``channels`` channels (no scalar term)."""
    k = len(word)
    if k < 1 or any(not 0 <= c < channels for c in word):
        raise ValueError(f"{word!r} is not a word over {channels} letters")
    index = 0
    for c in word:
        index = index * channels + c
    return signature_channels(channels, k - 1) + index if k > 1 else index


def index_to_word(index: int, channels: int, depth: int) -> list[int]:
    """The word at position ``index`` of a signature (no scalar term): inverse of word_to_index."""
    if not 0 <= index < signature_channels(channels, depth):
        raise ValueError(f"index {index} is outside a signature of {channels} channels at depth "
                         f"{depth} ({signature_channels(channels, depth)} terms)")
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


Tree = object  # a letter (int) or a pair (left, right) of trees: the bracket [left, right]


def _lyndon_tree(w: Word) -> Tree:
    if len(w) == 1:
        return w[0]
    u, v = _standard_factorisation(w)
    return (_lyndon_tree(u), _lyndon_tree(v))


@functools.lru_cache(maxsize=None)
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
        return _hall_trees(channels, depth)
    return tuple(_lyndon_tree(w) for w in _lyndon(channels, depth))


def _as_lists(tree: Tree):
    return tree if isinstance(tree, int) else [_as_lists(tree[0]), _as_lists(tree[1])]


def lyndon_brackets(channels: int, depth: int):
    """The standard bracketing of each Lyndon word: a letter, or [left, right] nested lists."""
    _check(channels, depth)
    return [_as_lists(t) for t in _basis_trees(channels, depth, "lyndon")]


def hall_basis(channels: int, depth: int):
    """The Hall basis elements ("hall" mode), as nested [left, right] lists of letters."""
    _check(channels, depth)
    return [_as_lists(t) for t in _basis_trees(channels, depth, "hall")]


def _tree_degree(tree: Tree) -> int:
    return 1 if isinstance(tree, int) else _tree_degree(tree[0]) + _tree_degree(tree[1])


@functools.lru_cache(maxsize=None)
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


@functools.lru_cache(maxsize=None)
def words_index(channels: int, depth: int) -> np.ndarray:
    """Signature positions of the Lyndon words, in log-signature order."""
    return np.array([word_to_index(w, channels) for w in _lyndon(channels, depth)])


# Above this many basis elements in one level the dense inversion that builds the table is too
# large (it runs once per (channels, depth); the table itself is sparse).
MAX_BRACKETS_LEVEL = 4000


@functools.lru_cache(maxsize=None)
def words_to_basis(channels: int, depth: int, basis: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The sparse map from Lyndon-word coordinates ("words") to a bracket basis ("lyndon" for
    mode "brackets", or "hall") as triples (basis position, words position, coefficient).

    The coefficient of a Lyndon word u in a Lie element sum_h c_h P_h is sum_h c_h P_h[u] over the
    basis elements h of its degree (P_h: h expanded into words); that square integer matrix is
    invertible with an integer inverse (unitriangular for the Lyndon basis), in practice under
    1% dense.
    """
    words = _lyndon(channels, depth)
    trees = _basis_trees(channels, depth, basis)
    out_idx, in_idx, coef, start = [], [], [], 0
    for k in range(1, depth + 1):
        level = [w for w in words if len(w) == k]
        level_trees = [t for t in trees if _tree_degree(t) == k]
        if len(level) > MAX_BRACKETS_LEVEL:
            raise ValueError(
                f"the {basis} basis at channels={channels}, depth={depth} has {len(level)} "
                f"elements at level {k}; building its change of basis is not supported yet, use "
                f"mode='words' (same information, Lyndon-word coordinates)")
        pos = {w: i for i, w in enumerate(level)}
        m = np.zeros((len(level), len(level)))
        for j, tree in enumerate(level_trees):
            for u, c in _expand(tree).items():
                if u in pos:
                    m[pos[u], j] = c
        inverse = np.rint(np.linalg.inv(m))
        if not np.array_equal(inverse @ m, np.eye(len(level))):
            raise AssertionError(f"the {basis} change of basis at level {k} is not integral")
        rows, cols = np.nonzero(inverse)
        out_idx.append(start + rows)
        in_idx.append(start + cols)
        coef.append(inverse[rows, cols])
        start += len(level)
    return np.concatenate(out_idx), np.concatenate(in_idx), np.concatenate(coef)


@functools.lru_cache(maxsize=None)
def expanded_to_basis(channels: int, depth: int, basis: str):
    """Expanded log -> basis coordinates: (basis position, signature position, coefficient)."""
    out_idx, in_idx, coef = words_to_basis(channels, depth, basis)
    return out_idx, words_index(channels, depth)[in_idx], coef


@functools.lru_cache(maxsize=None)
def basis_to_expanded(channels: int, depth: int, basis: str):
    """Basis coordinates -> the expanded Lie element sum_h c_h P_h: (signature position, basis
    position, coefficient), every word of every P_h."""
    sig_idx, pos, coef = [], [], []
    for j, tree in enumerate(_basis_trees(channels, depth, basis)):
        for u, c in _expand(tree).items():
            sig_idx.append(word_to_index(u, channels))
            pos.append(j)
            coef.append(float(c))
    return np.array(sig_idx), np.array(pos), np.array(coef)
