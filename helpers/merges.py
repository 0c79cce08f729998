"""Byte pair merges: apply one merge to a list of ids (`merge_pair`), learn many from a text's pieces.

Built in notebooks/02_text_and_tokens.ipynb, "Beyond the book: byte pair encoding from scratch": `merge_pair` in
"The merge loop" and `learn_merges` in "Learning merges" (the notebook's version recounts every pair after
each merge; this one updates the counts of the pieces a merge changes). `helpers.bpe.BPETokenizer` uses both.
"""

from __future__ import annotations

import heapq
from itertools import pairwise

from tqdm.auto import tqdm

from helpers.checks import check_int

__all__ = ["learn_merges", "merge_pair"]


def merge_pair(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """`ids` with every occurrence of `pair`, scanned left to right, replaced by `new_id`."""
    left, right = pair
    merged, i, n = [], 0, len(ids)
    while i < n:
        if ids[i] == left and i + 1 < n and ids[i + 1] == right:
            merged.append(new_id)
            i += 2
        else:
            merged.append(ids[i])
            i += 1
    return merged


def learn_merges(
    words: list[list[int]], freqs: list[int], n_merges: int, progress: bool = False
) -> dict[tuple[int, int], int]:
    """Learn up to `n_merges` merges from the distinct pieces `words` (lists of byte ids) and their frequencies.

    Each merge joins the most frequent neighbouring pair (ties: the smaller pair of ids) into the next new id, from
    256 on. Keeps pair counts, the set of pieces each pair occurs in, and a max-heap of (count, pair) entries; a
    heap entry whose count is no longer current is skipped when it surfaces. `words` is left as it is.
    """
    check_int(n_merges, "n_merges", minimum=0)
    words = [list(word) for word in words]  # merged below, piece by piece: the caller's lists stay as they were
    pair_counts: dict[tuple[int, int], int] = {}
    where: dict[tuple[int, int], set[int]] = {}
    for w, (word, freq) in enumerate(zip(words, freqs, strict=True)):
        for pair in pairwise(word):
            pair_counts[pair] = pair_counts.get(pair, 0) + freq
            where.setdefault(pair, set()).add(w)
    heap = [(-count, pair) for pair, count in pair_counts.items()]
    heapq.heapify(heap)

    merges: dict[tuple[int, int], int] = {}
    new_id = 256
    bar = tqdm(total=n_merges, desc="merges", disable=not progress)
    while len(merges) < n_merges and heap:
        neg_count, pair = heapq.heappop(heap)
        if pair_counts.get(pair) != -neg_count:
            continue  # stale entry
        merges[pair] = new_id
        delta = _merge_everywhere(words, freqs, where, pair, new_id)
        _update_counts(pair_counts, heap, delta)
        pair_counts.pop(pair, None)
        new_id += 1
        bar.update()
    bar.close()
    return merges


def _merge_everywhere(
    words: list[list[int]], freqs: list[int], where: dict[tuple[int, int], set[int]], pair: tuple[int, int],
    new_id: int,
) -> dict[tuple[int, int], int]:
    """Merge `pair` in every piece that holds it (in place); return how each pair's count changes."""
    delta: dict[tuple[int, int], int] = {}
    get = delta.get
    for w in where.pop(pair):
        word = words[w]
        merged = merge_pair(word, pair, new_id)
        if len(merged) == len(word):
            continue  # this piece no longer holds the pair (the index is not pruned)
        freq = freqs[w]
        for old in pairwise(word):
            delta[old] = get(old, 0) - freq
        for new in pairwise(merged):
            delta[new] = get(new, 0) + freq
            if new_id in new:
                where.setdefault(new, set()).add(w)
        words[w] = merged
    return delta


def _update_counts(
    pair_counts: dict[tuple[int, int], int], heap: list[tuple[int, tuple[int, int]]], delta: dict[tuple[int, int], int]
) -> None:
    """Apply the count changes of one merge; each changed pair gets a fresh heap entry."""
    for changed, d in delta.items():
        if d:
            count = pair_counts.get(changed, 0) + d
            if count > 0:
                pair_counts[changed] = count
                heapq.heappush(heap, (-count, changed))
            else:
                del pair_counts[changed]
