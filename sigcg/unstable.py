"""Experimental API (Signatory's ``signatory.unstable``): may change without notice."""

from __future__ import annotations

from .algebra import lyndon
from .api import validation


def lyndon_words_to_basis_transform(channels: int, depth: int) -> list[list[tuple[int, int, int]]]:
    """The integer triangular transform from "words" to "brackets" log-signature coordinates.

    Returns one list per class of Lyndon words that are anagrams of each other, each a list of
    (source, target, coefficient) triples of indices into the log-signature (Lyndon words by
    length, then lexicographically).  Applied in order, ``logsig[..., target] -= coefficient *
    logsig[..., source]`` turns coefficients of the Lyndon words (mode "words") into coordinates
    in the Lyndon basis (mode "brackets"): the basis element of a Lyndon word w has coefficient
    1 at w and otherwise only at larger anagrams of w, so the coordinates follow by forward
    substitution within each class.  (Signatory's classes may come in another order; applying
    either gives the same coordinates.)
    """
    channels = validation.channels(channels)
    depth = validation.depth(depth)
    lyndon.check_basis("lyndon", channels, depth)
    words = [tuple(w) for w in lyndon.lyndon_words(channels, depth)]
    position = {w: i for i, w in enumerate(words)}
    # the expansion of each Lyndon basis element, read at the Lyndon words only
    out_idx, in_idx, coef = lyndon.basis_to_expanded(channels, depth, "lyndon")
    at_word = {lyndon.word_to_index(w, channels): i for i, w in enumerate(words)}
    expansion: dict[int, dict[int, int]] = {}
    for o, i, c in zip(out_idx.tolist(), in_idx.tolist(), coef.tolist()):
        if o in at_word and at_word[o] != i and c != 0:
            expansion.setdefault(i, {})[at_word[o]] = int(round(c))
    classes: dict[tuple[int, ...], list[int]] = {}
    for w in words:
        classes.setdefault(tuple(sorted(w)), []).append(position[w])
    transforms = []
    for members in classes.values():
        members.sort(key=lambda i: words[i])  # forward substitution: smallest word first
        triples = []
        for target in members:
            for source in members:
                c = expansion.get(source, {}).get(target, 0)
                if c and words[source] < words[target]:
                    triples.append((source, target, c))
        transforms.append(triples)
    return transforms


__all__ = ["lyndon_words_to_basis_transform"]
