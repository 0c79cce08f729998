"""Checks for the exercises of the book's chapter 2, working with text data (numbers with a letter are the course's).

- notebooks/02_text_and_tokens.ipynb: 2.1 (unknown words in GPT-2's BPE) and 2.A (vocabulary size and text length)
- notebooks/03_sliding_window.ipynb: 2.2 (loaders with other window lengths and strides) and 2.B (how many windows)
- notebooks/04_embeddings.ipynb: 2.C (the memory of one-hot inputs)
Worked answers: notebooks/solutions/ch02_solutions.ipynb. Imported only when one of these exercises is checked.
"""

from __future__ import annotations

import itertools
from typing import Any

import torch

from helpers.bpe import BPETokenizer
from helpers.checks import plural
from helpers.gpt2_tokenizer import gpt2_encoding
from helpers.teaching.exercises.registry import Wrong, exercise
from helpers.teaching.exercises.tools import as_mapping, as_number, as_whole, call, describe, name_of
from helpers.text import ENDOFTEXT

UNKNOWN_WORDS = "Akwirw ier"


@exercise("2.1", "02_text_and_tokens", "unknown words in GPT-2's byte pair encoding")
def _check_2_1(ids: Any, pieces: Any, text: Any) -> str:
    tokenizer = gpt2_encoding()
    expected = tokenizer.encode(UNKNOWN_WORDS)
    if isinstance(ids, torch.Tensor):
        ids = ids.flatten().tolist()
    if not isinstance(ids, (list, tuple)) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise Wrong(f"`ids` should be a list of token ids (whole numbers), got {describe(ids)}")
    ids = list(ids)
    if any(not 0 <= i < tokenizer.n_vocab for i in ids):
        raise Wrong(f"`ids` holds ids outside GPT-2's vocabulary (0 to {tokenizer.n_vocab - 1}): {ids}")
    if ids != expected:
        decoded = tokenizer.decode(ids)
        if decoded == UNKNOWN_WORDS:
            raise Wrong(f"your ids {ids} decode to {UNKNOWN_WORDS!r}, but they are not how the tokenizer encodes it: "
                        "let tokenizer.encode split the whole text")
        raise Wrong(f"your ids decode to {decoded!r}, not {UNKNOWN_WORDS!r}: encode exactly that text, space included")
    if not isinstance(pieces, (list, tuple)) or not all(isinstance(p, str) for p in pieces):
        raise Wrong(f"`pieces` should be a list of strings, one per id, got {describe(pieces)}")
    if len(pieces) != len(ids):
        raise Wrong(f"`pieces` has {len(pieces)} string(s) for {len(ids)} ids: decode each id on its own "
                    "(tokenizer.decode takes a list of ids)")
    for i, (piece, token_id) in enumerate(zip(pieces, ids, strict=True)):
        if piece != tokenizer.decode([token_id]):
            raise Wrong(f"piece {i} is {piece!r}, but id {token_id} decodes to another string")
    if text != UNKNOWN_WORDS:
        raise Wrong(f"your reassembled text is {text!r}, not {UNKNOWN_WORDS!r}: put the pieces back together "
                    "exactly as they are")
    shown = " | ".join(repr(p) for p in pieces)
    return (f"{UNKNOWN_WORDS!r} is {len(ids)} tokens: {shown}. Put together, they give the text back. BPE needs no "
            "unknown-word token: a word it has never seen is split into pieces it knows, single characters if need be.")


@exercise("2.2", "03_sliding_window", "data loaders with other window lengths and strides")
def _check_2_2(loader_2: Any, loader_8: Any, overlap_8: Any, text: str) -> str:
    token_ids = torch.tensor(gpt2_encoding().encode(text, allowed_special={ENDOFTEXT}))
    windows = {}
    for name, loader, max_length in (("loader_2", loader_2, 2), ("loader_8", loader_8, 8)):
        windows[name] = _first_windows(name, loader, max_length, token_ids)
    overlap = as_whole(overlap_8, "`overlap_8`")
    if overlap != 8 - 2:
        if overlap == 2:
            raise Wrong("2 is how far each window moves (the stride); how many of a window's 8 tokens does the next "
                        "window also hold?")
        raise Wrong(f"two consecutive windows of loader_8 do not share {overlap} tokens: compare its first two rows")
    first, second = windows["loader_8"][:2]
    return (f"loader_2's windows tile the text ({windows['loader_2'][0]} then {windows['loader_2'][1]}): each token "
            f"is an input once. loader_8's overlap by 6 tokens ({first} then {second}): each token is an input of up "
            "to 4 windows, so an epoch sees the text 4 times.")


def _first_windows(name: str, loader: Any, max_length: int, token_ids: torch.Tensor) -> list[list[int]]:
    """The first three windows of a loader over `token_ids` with the exercise's stride 2; a `Wrong` if they are not."""
    with torch.random.fork_rng(devices=[]):  # a shuffling loader draws from the global generator
        batches = call(f"iterating over {name}", lambda: list(itertools.islice(iter(loader), 3)))
    inputs, targets = [], []
    for batch in batches:
        if not (isinstance(batch, (list, tuple)) and len(batch) == 2 and all(t.dim() == 2 for t in batch)):
            raise Wrong(f"{name} should yield batches of (inputs, targets), each of shape (batch_size, max_length)")
        inputs += batch[0].tolist()
        targets += batch[1].tolist()
    if not inputs:
        raise Wrong(f"{name} yields no batches")
    if len(inputs[0]) != max_length:
        raise Wrong(f"the windows of {name} hold {len(inputs[0])} tokens, but should hold {max_length}: which argument "
                    "sets a window's length?")
    all_windows = token_ids.unfold(0, max_length, 1)  # (n, max_length): every window, at every start
    starts = []
    for row in inputs[:3]:
        found = (all_windows == torch.tensor(row)).all(dim=1).nonzero().flatten().tolist()
        if not found:
            raise Wrong(f"the inputs of {name} are not windows of `text`'s GPT-2 token ids: build the loader from "
                        "`text` with GPT-2's tokenizer")
        starts.append(found[0])
    if starts[0] != 0:
        raise Wrong(f"the first window of {name} starts at token {starts[0]}, not at the start of the text: does it "
                    "shuffle? Compare windows in the text's order (shuffle=False)")
    if len(starts) > 1 and starts[1] - starts[0] != 2:
        raise Wrong(f"consecutive windows of {name} start {starts[1] - starts[0]} token(s) apart, but the exercise "
                    "moves them by 2: which argument sets that?")
    for target, start in zip(targets, starts, strict=False):
        if target != token_ids[start + 1 : start + 1 + max_length].tolist():
            raise Wrong(f"the targets of {name} are not its inputs shifted by one token")
    return inputs[:3]


VOCAB_SIZES_2A = (300, 2000, 2700)
REASONS_2A = {"a": "its merges were learned from this very story",
              "b": "a smaller vocabulary always encodes a text in fewer tokens",
              "c": "it drops the characters it has not seen"}


@exercise("2.A", "02_text_and_tokens", "vocabulary size and text length")
def _check_2_a(token_counts: Any, reason: Any, text: str) -> str:
    counts = as_mapping(token_counts, "`token_counts`", list(VOCAB_SIZES_2A))
    expected = {n: len(BPETokenizer.train(text, n).encode(text)) for n in VOCAB_SIZES_2A}
    gpt2 = len(gpt2_encoding().encode(text, allowed_special={ENDOFTEXT}))
    given = {n: as_whole(counts[n], f"token_counts[{n}]") for n in VOCAB_SIZES_2A}
    if all(value == gpt2 for value in given.values()):
        raise Wrong(f"every count is {gpt2:,}, the length with GPT-2's tokenizer: train a tokenizer of each size on "
                    "the text (BPETokenizer.train) and encode the text with it")
    for n in VOCAB_SIZES_2A:
        if given[n] != expected[n]:
            raise Wrong(f"with vocab_size={n}, the text takes another number of tokens than {given[n]:,}: encode "
                        "`text` with the tokenizer trained on it, and count the ids")
    if reason not in REASONS_2A:
        raise Wrong(f"`reason` should be one of {list(REASONS_2A)}, got {describe(reason)}")
    if reason == "b":
        raise Wrong("if a smaller vocabulary gave fewer tokens, the 300-token tokenizer would win: look at your counts")
    if reason == "c":
        raise Wrong("byte pair encoding drops nothing: every byte is a token, so decode(encode(text)) gives the text "
                    "back")
    shown = ", ".join(f"{n:,}: {expected[n]:,}" for n in VOCAB_SIZES_2A)
    return (f"tokens for the story by vocabulary size: {shown}; GPT-2's 50,257 tokens need {gpt2:,}. A larger "
            "vocabulary has longer tokens, so fewer of them; a tokenizer trained on the story itself has merges for "
            "exactly its words, and beats GPT-2's general-purpose one with 2,700 tokens (and would do worse on "
            "other texts).")


@exercise("2.B", "03_sliding_window", "how many windows?")
def _check_2_b(num_windows: Any) -> str:
    cases = [(n, length, stride) for n in (1, 4, 5, 6, 7, 10, 101, 5145) for length in (1, 4, 100)
             for stride in (1, 2, 3, 30, 128)]
    for n, length, stride in cases:
        got = call(f"{name_of(num_windows)}({n}, {length}, {stride})", num_windows, n, length, stride)
        expected = len(range(0, n - length, stride))  # the book's loop: one window per start
        if isinstance(got, float) and got == expected:
            raise Wrong(f"{name_of(num_windows)}({n}, {length}, {stride}) gives {got}, a float: a number of windows is "
                        "a whole number (Python's // divides and rounds down to an int)")
        if not isinstance(got, int) or isinstance(got, bool) or got != expected:
            hint = (": a window's last target is the token after the window" if got in (expected + 1, expected - 1)
                    else "")
            raise Wrong(f"{name_of(num_windows)}({n}, {length}, {stride}) gives {describe(got)}, but GPTDatasetV1 "
                        f"cuts {plural(expected, 'window')} from {plural(n, 'token')} with max_length={length}, "
                        f"stride={stride}{hint}")
    story = num_windows(5145, 100, 30)
    return (f"your formula gives the dataset's length in all {len(cases)} cases tried; for the story's 5,145 tokens "
            f"with max_length=100 and stride=30, {story} windows.")


@exercise("2.C", "04_embeddings", "the memory of one-hot inputs")
def _check_2_c(onehot_mib: Any, ids_kib: Any) -> str:
    entries = 8 * 1024 * 50257
    float32, int64 = torch.finfo(torch.float32).bits // 8, torch.iinfo(torch.int64).bits // 8
    expected_onehot = entries * float32 / 2**20
    expected_ids = 8 * 1024 * int64 / 2**10
    onehot = as_number(onehot_mib, "`onehot_mib`")
    ids = as_number(ids_kib, "`ids_kib`")
    if abs(onehot - entries * float32 / 1e6) < 0.01:
        raise Wrong(f"`onehot_mib` = {onehot:.2f} is in MB (10^6 bytes); a MiB is 1024 × 1024 bytes")
    if abs(onehot - entries * int64 / 2**20) < 0.01:
        raise Wrong(f"`onehot_mib` = {onehot:.2f} counts 8 bytes per entry (F.one_hot makes int64); the one-hot "
                    "input of a linear layer is float32")
    if abs(onehot - expected_onehot) > 0.01:
        raise Wrong(f"`onehot_mib` = {onehot:.2f} is not the size of the one-hot input: how many entries has it, "
                    "and how many bytes each?")
    if abs(ids - 8 * 1024 * 4 / 2**10) < 1e-6:
        raise Wrong("`ids_kib` counts 4 bytes per id; token ids are int64, 8 bytes")
    if abs(ids - expected_ids) > 1e-3:
        raise Wrong(f"`ids_kib` = {ids:g} is not the size of the 8 × 1,024 token ids in KiB (1 KiB = 1,024 bytes)")
    return (f"the one-hot input takes {expected_onehot:,.2f} MiB, the ids {expected_ids:g} KiB, "
            f"{expected_onehot * 1024 / expected_ids:,.0f} times less; and where the linear layer multiplies every "
            "one of those mostly-zero rows with the whole table, the lookup just copies one row per id.")
