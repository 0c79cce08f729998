"""Benchmark helpers.bpe.BPETokenizer: encoding against tiktoken, training against a recount trainer.

Run from the repository root (single thread; everything measured in this one run, ours and the reference
called in turn so that both see the same machine load; best of --repeats runs, 4x as many for warm encoding):

    python benchmarks/bench_bpe.py --repeats 5

Encoding: GPT-2's BPE, ours (`BPETokenizer.from_gpt2()`) against tiktoken (`gpt2_encoding()`), on
the-verdict (20 KB) and on the-verdict repeated to 1 MB. "Cold" is the first encode call of a freshly
built tokenizer (our per-piece cache empty); "warm" is a repeat call on the same tokenizer.

Training: `BPETokenizer.train` (incremental pair counts) against `recount_train` below, a straightforward
trainer that recounts every pair of every piece after each merge (as minbpe's RegexTokenizer does).
Both learn exactly the same merges (checked here and in tests/test_tokenizers_bpe.py).
"""

from __future__ import annotations

import os

os.environ.setdefault("RAYON_NUM_THREADS", "1")  # tiktoken's Rust core: one thread (before importing it)

import argparse
import platform
import time
from collections.abc import Callable, Sequence
from itertools import pairwise

import regex

from helpers.bpe import GPT2_PATTERN, BPETokenizer
from helpers.datafiles import fetch, load_text
from helpers.gpt2_tokenizer import gpt2_encoding
from helpers.merges import merge_pair
from helpers.text import ENDOFTEXT


def recount_train(
    text: str, vocab_size: int, special_tokens: Sequence[str] = (ENDOFTEXT,), max_merges: int | None = None
) -> dict[tuple[int, int], int]:
    """Reference BPE trainer: after every merge, count all pairs of all pieces again from scratch.

    Same rules as `BPETokenizer.train` (GPT-2 pre-tokenizing, special tokens cut out, the most frequent
    pair wins, ties to the smaller pair of ids); `max_merges` stops early for timing a few merges.
    """
    parts = regex.split("|".join(regex.escape(s) for s in special_tokens), text) if special_tokens else [text]
    pieces = [list(p.encode("utf-8")) for part in parts for p in regex.findall(GPT2_PATTERN, part)]
    n_merges = vocab_size - 256 - len(special_tokens)
    if max_merges is not None:
        n_merges = min(n_merges, max_merges)
    merges: dict[tuple[int, int], int] = {}
    for new_id in range(256, 256 + n_merges):
        counts: dict[tuple[int, int], int] = {}
        for ids in pieces:
            for pair in pairwise(ids):
                counts[pair] = counts.get(pair, 0) + 1
        if not counts:
            break
        best = min(counts, key=lambda pair: (-counts[pair], pair))
        merges[best] = new_id
        pieces = [merge_pair(ids, best, new_id) for ids in pieces]
    return merges


def best_of(fn: Callable[[], object], repeats: int) -> float:
    """Smallest wall time of `repeats` calls of `fn`, in seconds."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def side_by_side(fns: Sequence[Callable[[], float]], repeats: int) -> list[float]:
    """Best time of each timing function, calling them in turn `repeats` times (so they share the same load)."""
    best = [float("inf")] * len(fns)
    for _ in range(repeats):
        for i, fn in enumerate(fns):
            best[i] = min(best[i], fn())
    return best


def timed(fn: Callable[[], object]) -> Callable[[], float]:
    """A function that calls `fn` once and returns the wall time."""
    def run() -> float:
        start = time.perf_counter()
        fn()
        return time.perf_counter() - start
    return run


def timed_cold(build: Callable[[], object], text: str) -> Callable[[], float]:
    """A function that builds a fresh tokenizer and returns the time of its first `encode_ordinary(text)`."""
    def run() -> float:
        tokenizer = build()
        start = time.perf_counter()
        tokenizer.encode_ordinary(text)
        return time.perf_counter() - start
    return run


def ms(seconds: float) -> str:
    """A duration in readable units."""
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="runs per measurement; the best is reported")
    args = parser.parse_args()
    r = args.repeats

    verdict = load_text("the-verdict.txt")
    mb_verdict = verdict * (1_000_000 // len(verdict) + 1)  # the-verdict repeated: 1.02 MB
    encoder_json = fetch("gpt2/encoder.json").read_text(encoding="utf-8")  # a 1 MB text with many distinct words

    print(f"machine: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} CPUs, "
          f"Python {platform.python_version()}, 1 thread, best of {r}")

    # -- encoding --
    tiktoken_enc = gpt2_encoding()
    ours = BPETokenizer.from_gpt2()
    for text in (verdict, mb_verdict):
        assert ours.encode_ordinary(text) == tiktoken_enc.encode_ordinary(text)
    build_tiktoken, build_ours = side_by_side([timed(gpt2_encoding.__wrapped__), timed(BPETokenizer.from_gpt2)], r)
    print(f"\nbuilding the GPT-2 tokenizer from its files: ours {ms(build_ours)}, tiktoken {ms(build_tiktoken)}")
    print("\n| encode (GPT-2 BPE) | tiktoken | ours | ours / tiktoken |")
    print("|---|---:|---:|---:|")
    for name, text in (("the-verdict, 20 KB", verdict), (f"the-verdict x{len(mb_verdict) // len(verdict)}, "
                                                          f"{len(mb_verdict) / 1e6:.2f} MB", mb_verdict)):
        t_cold, o_cold = side_by_side([timed_cold(gpt2_encoding.__wrapped__, text),
                                       timed_cold(BPETokenizer.from_gpt2, text)], r)
        t_warm, o_warm = side_by_side([timed(lambda text=text: tiktoken_enc.encode_ordinary(text)),
                                       timed(lambda text=text: ours.encode_ordinary(text))], 4 * r)
        print(f"| {name}, cold | {ms(t_cold)} | {ms(o_cold)} | {o_cold / t_cold:.2f}x |")
        print(f"| {name}, warm | {ms(t_warm)} | {ms(o_warm)} | {o_warm / t_warm:.2f}x |")

    # -- training --
    print("\n| train | merges | reference (recount) | ours (incremental) | ours per merge | reference / ours |")
    print("|---|---:|---:|---:|---:|---:|")
    ref_merges = recount_train(verdict, 1000)
    ours_merges = BPETokenizer.train(verdict, 1000).merges
    assert ref_merges == ours_merges, "the two trainers disagree"
    ref_time, ours_time = side_by_side([timed(lambda: recount_train(verdict, 1000)),
                                        timed(lambda: BPETokenizer.train(verdict, 1000))], min(r, 3))
    n = len(ours_merges)
    print(f"| the-verdict, vocab 1000 | {n} | {ms(ref_time)} | {ms(ours_time)} | {ms(ours_time / n)} | "
          f"{ref_time / ours_time:.0f}x |")

    first = 20  # the reference is too slow for whole 1 MB runs: time its first merges, per merge
    # The-verdict repeated has only ~1260 distinct pieces; once each is a single token no pair is left, so
    # vocab 5000 is out of reach there (train raises ValueError saying so). Train it to its maximum, and to
    # vocab 5000 on a 1 MB text with many distinct words: GPT-2's own encoder.json.
    max_vocab = 2774
    try:
        BPETokenizer.train(mb_verdict, 5000)
    except ValueError as err:
        print(f"\nthe-verdict x{len(mb_verdict) // len(verdict)}, vocab 5000: ValueError: {err}")
    for name, text, vocab_size in (
        (f"the-verdict x{len(mb_verdict) // len(verdict)}, vocab {max_vocab} (its maximum)", mb_verdict, max_vocab),
        ("encoder.json (1.04 MB), vocab 5000", encoder_json, 5000),
    ):
        trained = BPETokenizer.train(text, vocab_size)
        start = time.perf_counter()
        ref_first = recount_train(text, vocab_size, max_merges=first)
        ref_per_merge = (time.perf_counter() - start) / first
        assert ref_first == dict(list(trained.merges.items())[:first]), "the two trainers disagree"
        ours_time = best_of(lambda text=text, vocab_size=vocab_size: BPETokenizer.train(text, vocab_size), min(r, 3))
        n = len(trained.merges)
        print(f"| {name} | {n} | {ms(ref_per_merge)} per merge (first {first}) | {ms(ours_time)} | "
              f"{ms(ours_time / n)} | {ref_per_merge * n / ours_time:.0f}x (estimated) |")


if __name__ == "__main__":
    main()
