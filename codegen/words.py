"""Lyndon words, for kernels that compute only the Lyndon coordinates of a top level.

Pure Python (the generator imports no numpy or torch); sigcg.lyndon builds its bases on it.
"""

from __future__ import annotations

import functools


@functools.cache
def lyndon_words(d: int, N: int) -> tuple[tuple[int, ...], ...]:
    """Lyndon words over d letters of length 1..N (Duval's generation), ordered by length, then
    lexicographically: the log-signature order."""
    words, w = [], [-1]
    while w:
        w[-1] += 1
        words.append(tuple(w))
        m = len(w)
        while len(w) < N:
            w.append(w[len(w) - m])
        while w and w[-1] == d - 1:
            w.pop()
    return tuple(sorted(words, key=lambda u: (len(u), u)))


def top_lyndon_groups(d: int, N: int) -> list[tuple[int, int]]:
    """The Lyndon words of length N as (prefix index, first letter) groups, in Lyndon order: the
    words p c for c = first..d-1, with p's index among the (N-1)-letter words.  Raising the last
    letter of a Lyndon word keeps it Lyndon, so each prefix's letters form such a range."""
    groups: dict[int, int] = {}
    for w in lyndon_words(d, N):
        if len(w) == N:
            prefix = 0
            for c in w[:-1]:
                prefix = prefix * d + c
            groups.setdefault(prefix, w[-1])
    top = [w for w in lyndon_words(d, N) if len(w) == N]
    assert sum(d - first for first in groups.values()) == len(top), "letter ranges not contiguous"
    return sorted(groups.items())


def top_lyndon_prefix_trie(d: int, N: int) -> list[list[tuple[int, int, int]]]:
    """The prefixes of the Lyndon words of length N, level by level (lengths 1..N-1): each a
    (word index within its level, parent's position in the level above, last letter), sorted
    by word.  The last level lists exactly the prefixes of top_lyndon_groups, in its order."""
    words = {N - 1: sorted(p for p, _ in top_lyndon_groups(d, N))}
    for j in range(N - 2, 0, -1):
        words[j] = sorted({p // d for p in words[j + 1]})
    trie = []
    for j in range(1, N):
        position = {p: i for i, p in enumerate(words[j - 1])} if j > 1 else None
        trie.append([(p, position[p // d] if position else -1, p % d) for p in words[j]])
    return trie


def lyndon_positions_below_top(d: int, N: int) -> list[int]:
    """Signature positions (levels flat, no scalar) of the Lyndon words shorter than N, in
    log-signature order."""
    positions, offset, level = [], 0, 1
    for w in lyndon_words(d, N - 1):
        while len(w) > level:
            offset += d**level
            level += 1
        index = 0
        for c in w:
            index = index * d + c
        positions.append(offset + index)
    return positions
