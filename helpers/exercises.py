"""Checks for the exercises: every exercise of the book's chapters 2-6, and a few of the course's own.

The notebooks ask them and call `check` on the learner's answer:
- notebooks/01_text_and_tokens.ipynb: the book's 2.1 and the course's 2.A; 02_sliding_window.ipynb: 2.2 and 2.B;
  03_embeddings.ipynb: 2.C (numbers with a letter are the course's own)
- notebooks/04_attention.ipynb: 3.1, 3.2, 3.3, and the course's 3.A, 3.B
- notebooks/05_gpt_model.ipynb: 4.1, 4.2, 4.3, and the course's 4.A
- notebooks/06_pretraining.ipynb: 5.1-5.6 (5.5 and 5.6 need OpenAI's GPT-2 weights, downloaded where there is
  internet; `save_random_gpt2` makes a small random stand-in for trying them offline)
- notebooks/07_classification_finetuning.ipynb: 6.1-6.3
Worked answers, each passed by its check: notebooks/solutions/ch02_solutions.ipynb ... ch06_solutions.ipynb.

`check("3.2", mha=mha_3_2, batch=batch)` prints one of three verdicts: passed (with what the answer shows), not right
yet (what is wrong, as a hint that does not give the answer away), or not answered yet (an argument is still the
starter's `...` or None, or the learner's function still raises NotImplementedError). It never raises for a wrong
answer, so a notebook whose exercises are unanswered runs clean. `evaluate` returns the same verdict as a `Result`
(for tests). Checks test behaviour: shapes, values on fixed seeds, equality with a reference computed here from
the final components in `helpers`.

Adding exercises (chapter 6's 6.1-6.3 were added so): write one function per exercise in a new section at the end,
decorated with `@exercise("6.1", "07_classification_finetuning", "a short title")`. It takes the notebook's arguments
by name, returns the text shown when the answer passes, and raises `Wrong("...")` otherwise. Call the learner's code
through `_call`, which turns its errors into a `Wrong` quoting the error (and a NotImplementedError into "not
answered"). Then add its tests to tests/test_exercises.py (the solution passes, two typical mistakes fail with their
message, the starter is "not answered yet"). That file also checks, for every registered exercise, that its notebook
has one `check("6.1", ...)` cell, stored unanswered, and that notebooks/solutions/ch06_solutions.ipynb (the chapter's
number) has one whose stored output is the pass.
"""

from __future__ import annotations

import copy
import inspect
import itertools
import math
import textwrap
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from helpers.attention import MultiHeadAttention
from helpers.data import load_text
from helpers.dataset import create_dataloader_v1
from helpers.gpt import (
    GPT2_SIZES,
    GPT_CONFIG_124M,
    GPTModel,
    TransformerBlock,
    check_config,
    generate,
    generate_text_simple,
)
from helpers.tokenizers import ENDOFTEXT, BPETokenizer, gpt2_encoding, plural, show_whitespace
from helpers.train import calc_loss_loader

__all__ = ["EXERCISES", "Exercise", "NotAnswered", "Result", "Wrong", "check", "evaluate", "exercise",
           "save_random_gpt2"]


# --- the machinery: a registry of checkers, and the three verdicts ----------------------------------------------


class Wrong(Exception):  # noqa: N818 (a verdict on an answer, not a program error)
    """Raised by a checker when an answer does not pass; its message says what is wrong, not what is right."""


class NotAnswered(Exception):  # noqa: N818 (a verdict, as Wrong)
    """Raised by a checker when (part of) an answer is still the starter's placeholder."""


@dataclass(frozen=True)
class Exercise:
    """One exercise: its number ("3.2" for the book's, "3.A" for the course's own), notebook, title and checker."""

    number: str
    notebook: str
    title: str
    checker: Callable[..., str]


EXERCISES: dict[str, Exercise] = {}


def exercise(number: str, notebook: str, title: str) -> Callable[[Callable[..., str]], Callable[..., str]]:
    """Register the decorated function as the checker of exercise `number`."""

    def register(checker: Callable[..., str]) -> Callable[..., str]:
        if number in EXERCISES:
            raise ValueError(f"exercise {number} is registered twice")
        EXERCISES[number] = Exercise(number, notebook, title, checker)
        return checker

    return register


@dataclass(frozen=True)
class Result:
    """The verdict on one answer: status "passed", "wrong" or "unanswered", and the message for the learner."""

    number: str
    status: str
    message: str

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def __str__(self) -> str:
        head = {"passed": "✓ Exercise {} passed:", "wrong": "✗ Exercise {}, not right yet:",
                "unanswered": "○ Exercise {}, not answered yet:"}[self.status].format(self.number)
        return _wrap(f"{head} {self.message}")


def _wrap(text: str, width: int = 100) -> str:
    """Wrap each line of `text` to `width` columns; lines starting with two spaces (tables) stay as they are."""
    return "\n".join(
        line if line.startswith("  ") else textwrap.fill(line, width, break_on_hyphens=False)
        for line in text.splitlines()
    )


def _placeholders(value: Any, name: str) -> Iterator[str]:
    """The names of the parts of an answer that are still placeholders: `...` anywhere, None at the top."""
    items = list(value.values()) if isinstance(value, Mapping) else value if isinstance(value, (list, tuple)) else []
    if value is Ellipsis or value is None or (items and all(item is Ellipsis for item in items)):
        yield f"`{name}`"
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if item is Ellipsis:
                yield f"`{name}[{key!r}]`"
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            if item is Ellipsis:
                yield f"`{name}[{i}]`"


def evaluate(number: str, /, *args: Any, **kwargs: Any) -> Result:
    """Check an answer to exercise `number` (the arguments are the checker's); return the verdict."""
    if number not in EXERCISES:
        raise KeyError(f"there is no exercise {number!r}; the exercises are {', '.join(EXERCISES)}")
    item = EXERCISES[number]
    signature = inspect.signature(item.checker)
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as err:
        raise TypeError(f'check("{number}", ...) takes the arguments {list(signature.parameters)}: {err}') from None
    missing = [part for name, value in bound.arguments.items() for part in _placeholders(value, name)]
    if missing:
        return Result(number, "unanswered", f"put your answer where the cell above still has `...` (passed here as "
                                            f"{', '.join(missing)}), then run this cell again.")
    try:
        message = item.checker(*bound.args, **bound.kwargs)
    except Wrong as err:
        return Result(number, "wrong", str(err))
    except NotAnswered as err:
        return Result(number, "unanswered", str(err))
    return Result(number, "passed", message)


def check(number: str, /, *args: Any, **kwargs: Any) -> None:
    """Check an answer to exercise `number` and print the verdict (it never raises for a wrong answer)."""
    print(evaluate(number, *args, **kwargs))


# --- small tools for the checkers -------------------------------------------------------------------------------


def _call(what: str, function: Callable[..., Any], *args: Any, hints: Mapping[str, str] | None = None,
          **kwargs: Any) -> Any:
    """Run the learner's code. A NotImplementedError means "not answered"; any other error becomes a `Wrong`
    that quotes it, with the hint of `hints` whose key occurs in the error message (if any)."""
    try:
        return function(*args, **kwargs)
    except NotImplementedError:
        raise NotAnswered(f"{what} still raises NotImplementedError: replace that line with your code, then run "
                          "that cell and this one again.") from None
    except Exception as err:  # the learner's code may raise anything: report it as a hint
        text = str(err).strip().splitlines()[0] if str(err).strip() else ""
        hint = next((h for key, h in (hints or {}).items() if key in f"{type(err).__name__}: {text}"), "")
        raise Wrong(f"{what} raised {type(err).__name__}: {text}" + (f" ({hint})" if hint else "")) from None


def _name(function: Any) -> str:
    """The name of the learner's function or class, for messages."""
    return getattr(function, "__name__", type(function).__name__)


def _describe(value: Any) -> str:
    """A short description of a value for a message (never a repr with a memory address)."""
    if isinstance(value, (bool, int, float, str)) or value is None:
        return repr(value)
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    return f"a {type(value).__name__}"


def _number(value: Any, what: str) -> float:
    """`value` as a float (a one-element tensor counts); a `Wrong` if it is no number."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise Wrong(f"{what} should be a number, got {_describe(value)}")
    return float(value)


def _whole(value: Any, what: str) -> int:
    """`value` as an int; a `Wrong` if it is no whole number."""
    number = _number(value, what)
    if number != int(number):
        raise Wrong(f"{what} should be a whole number, got {number}")
    return int(number)


def _mapping(value: Any, what: str, keys: list[Any]) -> dict[Any, Any]:
    """`value` as a dict with exactly `keys` (numbers compare by value: 5 and 5.0 are the same key)."""
    if not isinstance(value, Mapping):
        raise Wrong(f"{what} should be a dict with the keys {keys}, got {_describe(value)}")
    out = {}
    for key in keys:
        found = [k for k in value if k == key]
        if not found:
            raise Wrong(f"{what} has no entry for {key!r}: it needs one for each of {keys}")
        out[key] = value[found[0]]
    extra = [k for k in value if k not in keys]
    if extra:
        raise Wrong(f"{what} has entries {extra} that the exercise does not ask for (the keys are {keys})")
    return out


def _count(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def _on_meta(build: Callable[[], nn.Module]) -> nn.Module:
    """Build a module on the meta device: every shape, no memory, no random numbers."""
    with torch.device("meta"):
        return build()


def _sample_counts(probas: torch.Tensor, n: int = 1_000, seed: int = 123) -> torch.Tensor:
    """How often each id is drawn in `n` single draws from `probas` after seeding, as print_sampled_tokens does
    (the global random state is restored afterwards)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        draws = [torch.multinomial(probas, num_samples=1).item() for _ in range(n)]
    return torch.bincount(torch.tensor(draws), minlength=len(probas))


def _top_k_probas(logits: torch.Tensor, temperature: float, top_k: int | None) -> torch.Tensor:
    """softmax(logits / temperature) over the `top_k` largest logits (all of them for None)."""
    if top_k is not None:
        logits = logits.masked_fill(logits < torch.topk(logits, top_k).values[-1], -torch.inf)
    return torch.softmax(logits / temperature, dim=-1)


def _verdict_token_ids() -> list[int]:
    return gpt2_encoding().encode(load_text("the-verdict.txt"), allowed_special={ENDOFTEXT})


# --- chapter 2: working with text data ---------------------------------------------------------------------------

UNKNOWN_WORDS = "Akwirw ier"


@exercise("2.1", "01_text_and_tokens", "unknown words in GPT-2's byte pair encoding")
def _check_2_1(ids: Any, pieces: Any, text: Any) -> str:
    tokenizer = gpt2_encoding()
    expected = tokenizer.encode(UNKNOWN_WORDS)
    if isinstance(ids, torch.Tensor):
        ids = ids.flatten().tolist()
    if not isinstance(ids, (list, tuple)) or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids):
        raise Wrong(f"`ids` should be a list of token ids (whole numbers), got {_describe(ids)}")
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
        raise Wrong(f"`pieces` should be a list of strings, one per id, got {_describe(pieces)}")
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


@exercise("2.2", "02_sliding_window", "data loaders with other window lengths and strides")
def _check_2_2(loader_2: Any, loader_8: Any, overlap_8: Any, text: str) -> str:
    token_ids = torch.tensor(gpt2_encoding().encode(text, allowed_special={ENDOFTEXT}))
    windows = {}
    for name, loader, max_length in (("loader_2", loader_2, 2), ("loader_8", loader_8, 8)):
        windows[name] = _first_windows(name, loader, max_length, token_ids)
    overlap = _whole(overlap_8, "`overlap_8`")
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
        batches = _call(f"iterating over {name}", lambda: list(itertools.islice(iter(loader), 3)))
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


@exercise("2.A", "01_text_and_tokens", "vocabulary size and text length")
def _check_2_a(token_counts: Any, reason: Any, text: str) -> str:
    counts = _mapping(token_counts, "`token_counts`", list(VOCAB_SIZES_2A))
    expected = {n: len(BPETokenizer.train(text, n).encode(text)) for n in VOCAB_SIZES_2A}
    gpt2 = len(gpt2_encoding().encode(text, allowed_special={ENDOFTEXT}))
    given = {n: _whole(counts[n], f"token_counts[{n}]") for n in VOCAB_SIZES_2A}
    if all(value == gpt2 for value in given.values()):
        raise Wrong(f"every count is {gpt2:,}, the length with GPT-2's tokenizer: train a tokenizer of each size on "
                    "the text (BPETokenizer.train) and encode the text with it")
    for n in VOCAB_SIZES_2A:
        if given[n] != expected[n]:
            raise Wrong(f"with vocab_size={n}, the text takes another number of tokens than {given[n]:,}: encode "
                        "`text` with the tokenizer trained on it, and count the ids")
    if reason not in REASONS_2A:
        raise Wrong(f"`reason` should be one of {list(REASONS_2A)}, got {_describe(reason)}")
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


@exercise("2.B", "02_sliding_window", "how many windows?")
def _check_2_b(num_windows: Any) -> str:
    cases = [(n, length, stride) for n in (1, 4, 5, 6, 7, 10, 101, 5145) for length in (1, 4, 100)
             for stride in (1, 2, 3, 30, 128)]
    for n, length, stride in cases:
        got = _call(f"{_name(num_windows)}({n}, {length}, {stride})", num_windows, n, length, stride)
        expected = len(range(0, n - length, stride))  # the book's loop: one window per start
        if isinstance(got, float) and got == expected:
            raise Wrong(f"{_name(num_windows)}({n}, {length}, {stride}) gives {got}, a float: a number of windows is "
                        "a whole number (Python's // divides and rounds down to an int)")
        if not isinstance(got, int) or isinstance(got, bool) or got != expected:
            hint = (": a window's last target is the token after the window" if got in (expected + 1, expected - 1)
                    else "")
            raise Wrong(f"{_name(num_windows)}({n}, {length}, {stride}) gives {_describe(got)}, but GPTDatasetV1 "
                        f"cuts {plural(expected, 'window')} from {plural(n, 'token')} with max_length={length}, "
                        f"stride={stride}{hint}")
    story = num_windows(5145, 100, 30)
    return (f"your formula gives the dataset's length in all {len(cases)} cases tried; for the story's 5,145 tokens "
            f"with max_length=100 and stride=30, {story} windows.")


@exercise("2.C", "03_embeddings", "the memory of one-hot inputs")
def _check_2_c(onehot_mib: Any, ids_kib: Any) -> str:
    entries = 8 * 1024 * 50257
    float32, int64 = torch.finfo(torch.float32).bits // 8, torch.iinfo(torch.int64).bits // 8
    expected_onehot = entries * float32 / 2**20
    expected_ids = 8 * 1024 * int64 / 2**10
    onehot = _number(onehot_mib, "`onehot_mib`")
    ids = _number(ids_kib, "`ids_kib`")
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


# --- chapter 3: coding attention mechanisms ----------------------------------------------------------------------

QKV = ("W_query", "W_key", "W_value")


@exercise("3.1", "04_attention", "SelfAttention_v1 with SelfAttention_v2's weights")
def _check_3_1(copy_weights: Any, sa_v1: nn.Module, sa_v2: nn.Module, inputs: torch.Tensor) -> str:
    v1, v2 = copy.deepcopy(sa_v1), copy.deepcopy(sa_v2)  # the learner's modules stay as they are
    before = {name: p.detach().clone() for name, p in v2.named_parameters()}
    _call(f"{_name(copy_weights)}(sa_v1, sa_v2)", copy_weights, v1, v2, hints={
        "leaf Variable": "an in-place copy into a trainable parameter needs `with torch.no_grad():` around it",
        "must match the size": "sa_v1 stores each matrix as (d_in, d_out), nn.Linear stores its weight as "
                               "(d_out, d_in)",
    })
    for name, p in v2.named_parameters():
        if not torch.equal(p.detach(), before[name]):
            raise Wrong(f"{_name(copy_weights)} changed sa_v2's {name}: copy sa_v2's weights into sa_v1, not the "
                        "other way")
    shapes = ", ".join(f"{name} {tuple(getattr(v1, name).shape)}" for name in QKV)
    with torch.no_grad():
        out_v1 = _call("sa_v1(inputs)", v1, inputs, hints={
            "cannot be multiplied": f"sa_v1's matrices are now {shapes}, but x @ W needs W of shape (d_in, d_out); "
                                    "nn.Linear stores its weight as (d_out, d_in)",
        })
        out_v2 = v2(inputs)
    if torch.allclose(out_v1, out_v2, atol=1e-6):
        return ("sa_v1 now computes the same context vectors as sa_v2: each of its matrices holds the transpose of the "
                "nn.Linear weight of the same name, since x @ W equals x @ weight.T.")
    for name in QKV:
        mine, theirs = getattr(v1, name).detach(), getattr(v2, name).weight.detach()
        if mine.shape == theirs.T.shape and torch.allclose(mine, theirs.T):
            continue
        holds = [other for other in QKV if other != name and mine.shape == getattr(v2, other).weight.T.shape
                 and torch.allclose(mine, getattr(v2, other).weight.detach().T)]
        if holds:
            raise Wrong(f"sa_v1.{name} holds the weights of sa_v2.{holds[0]}: each matrix takes the weights of the "
                        "projection with the same name")
        if mine.shape == theirs.shape and torch.allclose(mine, theirs):
            raise Wrong(f"sa_v1.{name} holds sa_v2.{name}.weight as nn.Linear stores it, (d_out, d_in); sa_v1 "
                        "multiplies x @ W with W of shape (d_in, d_out)")
        raise Wrong(f"sa_v1.{name} does not hold the weights of sa_v2.{name}")
    raise Wrong("the weights match, but sa_v1 and sa_v2 still compute different context vectors")


@exercise("3.2", "04_attention", "a two-head wrapper with 2-dimensional context vectors")
def _check_3_2(mha: Any, batch: torch.Tensor) -> str:
    if not isinstance(mha, nn.Module):
        raise Wrong(f"`mha` should be a module (a MultiHeadAttentionWrapper), got {_describe(mha)}")
    heads = getattr(mha, "heads", None)
    if not isinstance(heads, nn.ModuleList):
        raise Wrong("`mha` has no list of `heads`: the exercise uses the MultiHeadAttentionWrapper of section 3.6.1, "
                    "which runs separate CausalAttention heads")
    with torch.no_grad():
        out = _call("mha(batch)", mha, batch)
    if len(heads) != 2:
        raise Wrong(f"`mha` has {len(heads)} head(s); the exercise asks for two")
    expected = (*batch.shape[:2], 2)
    if tuple(out.shape) != expected:
        raise Wrong(f"the context vectors have shape {tuple(out.shape)} but should be {expected}: the wrapper puts "
                    "its heads' outputs side by side, so their width is num_heads × d_out")
    return (f"two heads of one dimension each give context vectors of shape {expected}: each head contributes one "
            "column.")


@exercise("3.3", "04_attention", "a GPT-2-sized multi-head attention layer")
def _check_3_3(mha: Any, num_params: Any) -> str:
    reference = _on_meta(lambda: MultiHeadAttention(768, 768, context_length=1024, dropout=0.0, num_heads=12))
    expected = _count(reference)
    if not isinstance(mha, nn.Module) or not isinstance(getattr(mha, "W_query", None), nn.Linear):
        raise Wrong(f"`mha` should be a MultiHeadAttention module, got {_describe(mha)}")
    d_in, d_out = mha.W_query.in_features, mha.W_query.out_features
    if d_in != 768:
        raise Wrong(f"the layer takes {d_in}-dimensional inputs, but GPT-2 small's token vectors have 768")
    if d_out != 768:
        raise Wrong(f"d_out is {d_out} but should be 768: in MultiHeadAttention, d_out is the width of all heads "
                    "together, and each head gets d_out // num_heads of it")
    if getattr(mha, "num_heads", None) != 12:
        raise Wrong(f"the layer has {getattr(mha, 'num_heads', '?')} heads; GPT-2 small has 12")
    mask = getattr(mha, "mask", None)
    context = mask.shape[-1] if isinstance(mask, torch.Tensor) else getattr(mha, "context_length", None)
    if context != 1024:
        raise Wrong(f"the layer's context length is {context}; GPT-2 small reads up to 1,024 tokens")
    with torch.no_grad():
        out = _call("mha(x) on x of shape (1, 4, 768)", mha, torch.zeros(1, 4, 768))
    if tuple(out.shape) != (1, 4, 768):
        raise Wrong(f"on an input of shape (1, 4, 768) the layer returns shape {tuple(out.shape)}")
    if mha.W_query.bias is not None:
        raise Wrong("the layer has biases in its query, key and value projections (qkv_bias=True); the exercise keeps "
                    "the default qkv_bias=False")
    count = _whole(num_params, "`num_params`")
    if count == expected + 1024 * 1024:
        raise Wrong(f"{count:,} also counts the 1024 × 1024 causal mask: it is a buffer the layer keeps, not a "
                    "parameter it learns")
    if count == expected - 768:
        raise Wrong(f"{count:,} leaves out a bias: which of the layer's projections has one?")
    if count != expected:
        raise Wrong(f"the layer has another number of parameters than {count:,}: add up the elements of every "
                    "parameter of the module")
    return (f"{expected:,} parameters: the query, key, value and output projections are four 768 × 768 matrices "
            "(2,359,296), plus the 768 biases of out_proj. Each of the 12 heads works on 64 dimensions.")


@exercise("3.A", "04_attention", "why the scores are divided by √d_k")
def _check_3_a(peak_scaled: Any, peak_unscaled: Any, sa: nn.Module, x: torch.Tensor) -> str:
    with torch.no_grad():
        queries, keys = sa.W_query(x), sa.W_key(x)
        scores = queries @ keys.T  # (num_tokens, num_tokens)
        scaled = torch.softmax(scores / keys.shape[-1] ** 0.5, dim=-1).max(dim=-1).values.mean().item()
        unscaled = torch.softmax(scores, dim=-1).max(dim=-1).values.mean().item()
    given = {"peak_scaled": _number(peak_scaled, "`peak_scaled`"),
             "peak_unscaled": _number(peak_unscaled, "`peak_unscaled`")}
    if any(value > 1 for value in given.values()):
        raise Wrong("an attention weight is at most 1: take the largest *weight* of each row, after the softmax")
    if abs(given["peak_scaled"] - unscaled) < 2e-3 and abs(given["peak_unscaled"] - scaled) < 2e-3:
        raise Wrong("your two numbers are swapped: which softmax sees the larger scores?")
    for name, expected in (("peak_scaled", scaled), ("peak_unscaled", unscaled)):
        if abs(given[name] - expected) > 2e-3:
            raise Wrong(f"`{name}` is {given[name]:.4f}, not the mean over the six rows of each row's largest "
                        "attention weight")
    return (f"with the scaling, the largest weight of a row is {scaled:.2f} on average; without it, "
            f"{unscaled:.2f}: the scores of 768-d vectors are about √768 ≈ 28 times too large, and the softmax "
            "puts nearly all the weight on one token, where its gradients vanish.")


@exercise("3.B", "04_attention", "MultiHeadAttention as a wrapper of separate heads")
def _check_3_b(load_heads: Any, wrapper_class: Any) -> str:
    d_in, num_heads, head_dim, context_length = 4, 3, 2, 5
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(123)
        mha = MultiHeadAttention(d_in, num_heads * head_dim, context_length, 0.0, num_heads=num_heads)
        wrapper = _call(f"{_name(wrapper_class)}({d_in}, {head_dim}, {context_length}, 0.0, num_heads={num_heads})",
                        wrapper_class, d_in, head_dim, context_length, 0.0, num_heads=num_heads)
        x = torch.randn(2, context_length, d_in)
    before = copy.deepcopy(mha.state_dict())
    _call(f"{_name(load_heads)}(wrapper, mha)", load_heads, wrapper, mha, hints={
        "leaf Variable": "an in-place copy into a trainable parameter needs `with torch.no_grad():` around it",
        "size": f"each head's projections are ({head_dim}, {d_in}), mha's ({num_heads * head_dim}, {d_in})",
    })
    if any(not torch.equal(value, mha.state_dict()[key]) for key, value in before.items()):
        raise Wrong(f"{_name(load_heads)} changed mha: copy mha's weights into the wrapper's heads, not the other way")
    with torch.no_grad():
        expected = mha(x)
        combined = _call("wrapper(x)", wrapper, x)
        if tuple(combined.shape) != (2, context_length, num_heads * head_dim):
            raise Wrong(f"the wrapper's output has shape {tuple(combined.shape)}, expected "
                        f"{(2, context_length, num_heads * head_dim)}")
        got = mha.out_proj(combined)
    if torch.allclose(got, expected, atol=1e-6):
        return ("mha.out_proj(wrapper(x)) == mha(x): head i's query, key and value projections are rows "
                "i·head_dim to (i+1)·head_dim of mha's, since .view splits the last dimension into (num_heads, "
                "head_dim). The wrapper lacks only the output projection that mixes the heads.")
    for i, head in enumerate(wrapper.heads):
        rows = slice(i * head_dim, (i + 1) * head_dim)
        for name in QKV:
            if not torch.allclose(getattr(head, name).weight, getattr(mha, name).weight[rows]):
                raise Wrong(f"head {i}'s {name} differs from the part of mha.{name} that computes head {i}: which "
                            f"rows of mha.{name}.weight (shape {tuple(getattr(mha, name).weight.shape)}) make the "
                            f"columns of head {i}?")
    raise Wrong("every head holds its part of mha's weights, yet mha.out_proj(wrapper(x)) differs from mha(x)")


# --- chapter 4: implementing a GPT model -------------------------------------------------------------------------


@exercise("4.1", "05_gpt_model", "parameters of the attention and feed-forward modules")
def _check_4_1(attention: Any, feed_forward: Any) -> str:
    block = _on_meta(lambda: TransformerBlock(GPT_CONFIG_124M))
    expected = {"attention": _count(block.att), "feed_forward": _count(block.ff)}
    weights = {"attention": sum(p.numel() for n, p in block.att.named_parameters() if n.endswith("weight")),
               "feed_forward": sum(p.numel() for n, p in block.ff.named_parameters() if n.endswith("weight"))}
    given = {"attention": _whole(attention, "`attention`"), "feed_forward": _whole(feed_forward, "`feed_forward`")}
    if given == {"attention": expected["feed_forward"], "feed_forward": expected["attention"]}:
        raise Wrong("your two counts are swapped: which module has the wider matrices?")
    for name in ("attention", "feed_forward"):
        if given[name] == weights[name]:
            raise Wrong(f"`{name}` counts the weight matrices only: the module's biases are parameters too")
        if name == "attention" and given[name] == expected[name] + 1024 * 1024:
            raise Wrong("`attention` also counts the causal mask: a buffer, not a parameter")
        if given[name] != expected[name]:
            raise Wrong(f"`{name}` is {given[name]:,}, not the number of parameters of the block's "
                        f"{'att' if name == 'attention' else 'ff'} module")
    ratio = expected["feed_forward"] / expected["attention"]
    return (f"attention {expected['attention']:,}, feed-forward {expected['feed_forward']:,}: the feed-forward module "
            f"holds {ratio:.1f} times as many. Its two 768 × 3,072 matrices have 4,718,592 weights, attention's four "
            "768 × 768 matrices 2,359,296.")


GPT2_LARGER = {"gpt2-medium": "gpt2-medium (355M)", "gpt2-large": "gpt2-large (774M)", "gpt2-xl": "gpt2-xl (1558M)"}


@exercise("4.2", "05_gpt_model", "the larger GPT-2 models: configurations, parameters, memory")
def _check_4_2(configs: Any, params: Any, mib: Any) -> str:
    names = list(GPT2_LARGER)
    configs = _mapping(configs, "`configs`", names)
    params = _mapping(params, "`params`", names)
    mib = _mapping(mib, "`mib`", names)
    lines = []
    for name in names:
        size = GPT2_SIZES[GPT2_LARGER[name]]
        cfg = configs[name]
        if not isinstance(cfg, Mapping):
            raise Wrong(f"configs[{name!r}] should be a config dict, got {_describe(cfg)}")
        for key, value in size.items():
            if key in cfg and cfg[key] != value:
                raise Wrong(f"configs[{name!r}] has {key}={cfg[key]}, but {name} has {key}={value}")
        try:
            check_config(cfg)
        except ValueError as err:
            raise Wrong(f"configs[{name!r}]: {err}") from None
        others = [key for key in GPT_CONFIG_124M if key not in size and cfg[key] != GPT_CONFIG_124M[key]]
        if others:
            raise Wrong(f"configs[{name!r}] changes {others}: only emb_dim, n_layers and n_heads differ from "
                        "GPT_CONFIG_124M")
        model = _on_meta(lambda cfg=cfg: GPTModel(cfg))
        total = _count(model)
        tied = total - model.out_head.weight.numel()
        count = _whole(params[name], f"params[{name!r}]")
        if count == tied:
            raise Wrong(f"params[{name!r}] = {count:,} leaves out the output head (the count with weight tying); "
                        "count every parameter of the GPTModel")
        if count != total:
            raise Wrong(f"params[{name!r}] = {count:,} is not the number of parameters of GPTModel(configs[{name!r}])")
        size_mib = total * 4 / 1024**2
        given_mib = _number(mib[name], f"mib[{name!r}]")
        if abs(given_mib - total * 4 / 1e6) < 0.01:
            raise Wrong(f"mib[{name!r}] = {given_mib:.2f} is in MB (10^6 bytes); a MiB is 1024 × 1024 bytes")
        if abs(given_mib - total / 1024**2) < 0.01:
            raise Wrong(f"mib[{name!r}] = {given_mib:.2f} counts one byte per parameter; float32 takes 4")
        if abs(given_mib - size_mib) > 0.01:
            raise Wrong(f"mib[{name!r}] = {given_mib:.2f} is not the float32 size of {total:,} parameters in MiB")
        lines.append(f"  {name:12s} {total:>14,} parameters {tied:>14,} with weight tying {size_mib:9.2f} MiB")
    return "the three larger GPT-2 models, without and with weight tying, and their float32 size:\n" + "\n".join(lines)


DROPOUT_RATES = ("drop_rate_emb", "drop_rate_shortcut", "drop_rate_attn")
DROPOUT_PLACES = {"drop_rate_emb": "the embeddings' dropout (drop_emb)",
                  "drop_rate_shortcut": "a block's shortcut dropout (trf_blocks[i].drop_shortcut)",
                  "drop_rate_attn": "a block's attention dropout (trf_blocks[i].att.dropout)"}


@exercise("4.3", "05_gpt_model", "separate dropout rates for embeddings, shortcuts and attention")
def _check_4_3(model_class: Any) -> str:
    base = {"vocab_size": 64, "context_length": 8, "emb_dim": 16, "n_heads": 2, "n_layers": 2, "qkv_bias": False}
    rates = {"drop_rate_emb": 0.1, "drop_rate_shortcut": 0.2, "drop_rate_attn": 0.3}
    hints = {"KeyError: 'drop_rate'": "the config has three rates and no 'drop_rate': which line still reads it?"}
    build = f"{_name(model_class)}(cfg)"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(123)
        model = _call(build, model_class, {**base, **rates}, hints=hints)
        ids = torch.randint(0, base["vocab_size"], (2, base["context_length"]))
        reference = GPTModel({**base, "drop_rate": 0.0}).eval()
    if not isinstance(model, nn.Module):
        raise Wrong(f"{build} should be a module, got {_describe(model)}")
    try:
        reference.load_state_dict(model.state_dict())
    except RuntimeError:
        raise Wrong("your model's parameters are not GPTModel's (their names or shapes differ): keep the book's "
                    "classes as they are and change only the dropout rates") from None
    with torch.no_grad():
        logits = _call("your model, in eval mode", model.eval(), ids)
        if not torch.allclose(logits, reference(ids), atol=1e-5):
            raise Wrong("in eval mode (dropout off) your model computes other logits than GPTModel with the same "
                        "weights: only the dropout rates should change")
    places = {"drop_rate_emb": [("drop_emb", getattr(model, "drop_emb", None))]}
    blocks = getattr(model, "trf_blocks", [])
    places["drop_rate_shortcut"] = [(f"trf_blocks[{i}].drop_shortcut", getattr(b, "drop_shortcut", None))
                                    for i, b in enumerate(blocks)]
    places["drop_rate_attn"] = [(f"trf_blocks[{i}].att.dropout", getattr(getattr(b, "att", None), "dropout", None))
                                for i, b in enumerate(blocks)]
    for rate, found in places.items():
        for path, module in found:
            if not isinstance(module, nn.Dropout):
                raise Wrong(f"your model has no dropout module {path}: keep the book's names (drop_emb, "
                            "drop_shortcut, att.dropout), so that the rates can be checked")
            if module.p != rates[rate]:
                source = [r for r in DROPOUT_RATES if rates[r] == module.p]
                what = f"the {source[0]} of the config" if source else "no rate of the config"
                raise Wrong(f"{path} has p={module.p}, {what}; {DROPOUT_PLACES[rate]} should use {rate}")
    for rate in DROPOUT_RATES:  # each rate alone must make training-mode outputs random
        if not _dropout_acts(model_class, {**base, **dict.fromkeys(DROPOUT_RATES, 0.0), rate: 0.5}, ids):
            raise Wrong(f"with only {rate}=0.5, the training-mode outputs are the same from call to call: is "
                        f"{DROPOUT_PLACES[rate]} applied in forward?")
    if _dropout_acts(model_class, {**base, **dict.fromkeys(DROPOUT_RATES, 0.0)}, ids):
        raise Wrong("with all three rates 0, the training-mode outputs still change from call to call")
    return ("each dropout layer takes its own rate: drop_emb the embeddings' rate, each block's drop_shortcut the "
            "shortcut rate and its attention the attention rate; in eval mode the model is the book's GPTModel.")


def _dropout_acts(model_class: Callable[..., nn.Module], cfg: dict[str, Any], ids: torch.Tensor) -> bool:
    """Whether two training-mode forward passes of model_class(cfg) differ (dropout makes them random)."""
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(123)
        model = _call(f"{_name(model_class)}(cfg)", model_class, cfg).train()
        return not torch.equal(model(ids), model(ids))


@exercise("4.A", "05_gpt_model", "tokens through the model, with and without a KV cache")
def _check_4_a(without_cache: Any, with_cache: Any) -> str:
    prompt_tokens, new_tokens = 4, 100
    cfg = {"vocab_size": 32, "context_length": 128, "emb_dim": 8, "n_heads": 2, "n_layers": 1, "drop_rate": 0.0,
           "qkv_bias": False}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(123)
        model = GPTModel(cfg).eval()
    fed: list[int] = []
    hook = model.register_forward_pre_hook(lambda module, args: fed.append(args[0].shape[1]))
    expected = {}
    prompt = torch.zeros(1, prompt_tokens, dtype=torch.long)
    for use_cache in (False, True):
        fed.clear()
        generate(model, prompt, new_tokens, cfg["context_length"], use_cache=use_cache)
        expected[use_cache] = sum(fed)
    hook.remove()
    given = {False: _whole(without_cache, "`without_cache`"), True: _whole(with_cache, "`with_cache`")}
    final = prompt_tokens + new_tokens
    if given[False] == new_tokens * final:
        raise Wrong(f"{given[False]:,} feeds all {final} tokens at every step; at the first step the text is only the "
                    "prompt, and it grows by one token per step")
    if given[False] == expected[False] + new_tokens:
        raise Wrong(f"{given[False]:,} is one token per step too many: how long is the text at the first step?")
    if given[False] != expected[False]:
        raise Wrong(f"without the cache, the steps feed another number of positions than {given[False]:,} in all: "
                    "write down how many tokens each step feeds, then add them up")
    if given[True] == final:
        raise Wrong(f"{given[True]} counts the last new token too: it comes out of the last step, it is never fed in")
    if given[True] == new_tokens:
        raise Wrong(f"{given[True]} counts one position per step; how many does the first step feed?")
    if given[True] != expected[True]:
        raise Wrong(f"with the cache, the steps feed another number of positions than {given[True]:,} in all: the "
                    "first step feeds the prompt, every later one only the newest token")
    return (f"{expected[False]:,} positions without the cache, {expected[True]:,} with it, about "
            f"{expected[False] / expected[True]:.0f} times fewer: without the cache the work grows with the square "
            "of the text's length, with it linearly (only the attention over the cached keys still grows).")


# --- chapter 5: pretraining on unlabeled data --------------------------------------------------------------------

TEMPERATURES_5_1 = (1, 0.1, 5)


@exercise("5.1", "06_pretraining", "how often is 'pizza' sampled?")
def _check_5_1(counts: Any, probability: Any, logits: torch.Tensor, vocab: Mapping[str, int]) -> str:
    pizza = vocab["pizza"]
    counts = _mapping(counts, "`counts`", list(TEMPERATURES_5_1))
    expected = {t: int(_sample_counts(torch.softmax(logits / t, dim=0))[pizza]) for t in TEMPERATURES_5_1}
    for t in TEMPERATURES_5_1:
        value = _number(counts[t], f"counts[{t}]")
        if 0 < value < 1:
            raise Wrong(f"counts[{t}] = {value} looks like a fraction; give how many of the 1,000 draws are 'pizza'")
        if value != expected[t]:
            raise Wrong(f"at temperature {t}, 'pizza' is drawn another number of times than {value:g}: run "
                        f"print_sampled_tokens on the probabilities at temperature {t} and read the 'pizza' line")
    exact = {t: torch.softmax(logits / t, dim=0)[pizza].item() for t in TEMPERATURES_5_1}
    given = _number(probability, "`probability`")
    if abs(given - expected[5] / 1000) < 5e-5 and abs(given - exact[5]) > 5e-4:
        raise Wrong(f"{given:.4f} is the sampled frequency ({expected[5]} / 1,000), which changes with the seed; the "
                    "exact probability is what the sampling draws from")
    if abs(given - exact[1]) < 5e-5:
        raise Wrong(f"{given:.4g} is the probability at temperature 1; the question asks about temperature 5")
    if abs(given - exact[5]) > 5e-4:
        raise Wrong(f"{given:.4f} is not the probability of 'pizza' at temperature 5: compute it from "
                    "next_token_logits, without sampling")
    return (f"'pizza' is drawn {expected[1]} times at temperature 1, {expected[0.1]} at 0.1 and {expected[5]} at 5. "
            f"Its exact probability at temperature 5 is {exact[5]:.4f}, so {1000 * exact[5]:.0f} in 1,000 on average; "
            "reading it from the softmax is faster than sampling, and exact.")


SETTINGS_5_2 = {"T=0.1": (0.1, None), "T=1": (1.0, None), "T=5": (5.0, None), "T=5, top-k=3": (5.0, 3)}
TASKS_5_2 = {"a": "completing a line of code or answering a factual question",
             "b": "inventing names and plots for a fantasy story"}


@exercise("5.2", "06_pretraining", "temperature and top-k: how varied is the text?")
def _check_5_2(distinct: Any, predictable_task: Any, logits: torch.Tensor) -> str:
    distinct = _mapping(distinct, "`distinct`", list(SETTINGS_5_2))
    expected = {name: int((_sample_counts(_top_k_probas(logits, t, k)) > 0).sum())
                for name, (t, k) in SETTINGS_5_2.items()}
    for name, (t, k) in SETTINGS_5_2.items():
        value = _whole(distinct[name], f"distinct[{name!r}]")
        nonzero = int((_top_k_probas(logits, t, k) > 0).sum())
        if value != expected[name] and value == nonzero:
            raise Wrong(f"distinct[{name!r}] = {value}: that many words have a probability above zero, but how many "
                        "of them are actually drawn in 1,000 samples?")
        if value != expected[name]:
            raise Wrong(f"with {name}, another number of different words than {value} is drawn: count the lines of "
                        "print_sampled_tokens that are not 0")
    if predictable_task not in TASKS_5_2:
        raise Wrong(f"`predictable_task` should be one of {list(TASKS_5_2)}, got {_describe(predictable_task)}")
    if predictable_task != "a":
        raise Wrong("a low temperature and a small top-k make the text predictable: which task wants predictable "
                    "text, and which one surprises?")
    shown = ", ".join(f"{name}: {n}" for name, n in expected.items())
    return (f"different words in 1,000 draws: {shown}. A higher temperature spreads the draws over more words; top-k "
            "caps them at k, whatever the temperature ('pizza' is never drawn with top-k 3). Predictable settings "
            f"suit {TASKS_5_2['a']}, varied ones {TASKS_5_2['b']}.")


@exercise("5.3", "06_pretraining", "settings that make generate deterministic")
def _check_5_3(settings: Any, generate: Any) -> str:
    if not isinstance(settings, (list, tuple)) or not settings:
        raise Wrong(f"`settings` should be a list of dicts like {{'temperature': ..., 'top_k': ...}}, got "
                    f"{_describe(settings)}")
    cfg = {"vocab_size": 100, "context_length": 16, "emb_dim": 16, "n_heads": 2, "n_layers": 1, "drop_rate": 0.0,
           "qkv_bias": False}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(123)
        model = GPTModel(cfg).eval()
        prompt = torch.tensor([[1, 2, 3]])
        greedy = generate_text_simple(model, prompt, 8, cfg["context_length"])
        kinds = set()
        for setting in settings:
            if not isinstance(setting, Mapping) or set(setting) != {"temperature", "top_k"}:
                raise Wrong(f"each setting should be a dict with the keys 'temperature' and 'top_k', got "
                            f"{_describe(setting)}")
            shown = f"temperature={setting['temperature']}, top_k={setting['top_k']}"
            outputs = []
            for seed in (1, 2, 3):
                torch.manual_seed(seed)
                outputs.append(_call(f"{_name(generate)}(..., {shown})", generate, model, prompt, max_new_tokens=8,
                                     context_size=cfg["context_length"], **setting))
            if not all(torch.equal(out, outputs[0]) for out in outputs):
                raise Wrong(f"{shown} is not deterministic: with different seeds it generated different tokens")
            if not torch.equal(outputs[0], greedy):
                raise Wrong(f"{shown} always gives the same tokens, but not the greedy ones")
            kinds.add("temperature 0" if setting["temperature"] == 0 else "top_k=1")
    if kinds == {"temperature 0"}:
        raise Wrong("every setting you list is deterministic, but there is a second way that keeps the temperature "
                    "above 0: what could top_k do?")
    if kinds == {"top_k=1"}:
        raise Wrong("every setting you list is deterministic, but there is a second way, whatever top_k is: what "
                    "does generate do at temperature 0?")
    return ("generate is greedy, and so deterministic, at temperature 0 (whatever top_k), or with top_k=1 (whatever "
            "the temperature): then only one token can be drawn. Every other setting samples, and the text changes "
            "with the seed.")


@exercise("5.4", "06_pretraining", "resume training from a checkpoint")
def _check_5_4(resume: Any, checkpoint: Path, train_loader: Any) -> str:
    saved = torch.load(checkpoint, weights_only=True)
    saved_step = max((int(s["step"]) for s in saved["optimizer_state_dict"]["state"].values()), default=0)
    result = _call(f"{_name(resume)}(checkpoint)", resume, checkpoint)
    if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], nn.Module)
            and isinstance(result[1], torch.optim.Optimizer)):
        raise Wrong(f"{_name(resume)} should return (model, optimizer), got {_describe(result)}")
    model, optimizer = result
    params = {id(p) for group in optimizer.param_groups for p in group["params"]}
    if params != {id(p) for p in model.parameters()}:
        raise Wrong("the optimizer does not update the returned model's parameters: create it from the new model")
    steps = max((int(s["step"]) for s in optimizer.state.values() if "step" in s), default=0)
    per_epoch = len(train_loader)
    if steps == per_epoch and saved_step:
        raise Wrong(f"the optimizer's step count is {steps}, one epoch counted from 0: the checkpoint's optimizer "
                    f"state (step {saved_step}) was not loaded")
    if steps == saved_step:
        raise Wrong("the optimizer has taken no step since the checkpoint: train one more epoch")
    if steps - saved_step != per_epoch:
        raise Wrong(f"the optimizer took {steps - saved_step} steps after the checkpoint's {saved_step}; one epoch of "
                    f"train_loader is {per_epoch}")
    # A token that never occurs in the text gets no gradient, so its embedding row only shrinks by AdamW's weight
    # decay, step after step: from the saved weights, it must now be saved_row * (1 - lr * weight_decay) ** steps.
    group = next(g for g in optimizer.param_groups if any(p is model.tok_emb.weight for p in g["params"]))
    factor = (1 - group["lr"] * group["weight_decay"]) ** per_epoch
    unseen = torch.ones(model.tok_emb.weight.shape[0], dtype=torch.bool)
    unseen[torch.tensor(sorted(set(_verdict_token_ids())))] = False
    before = saved["model_state_dict"]["tok_emb.weight"][unseen]
    if not torch.allclose(model.tok_emb.weight.detach()[unseen], before * factor, rtol=1e-4, atol=1e-6):
        raise Wrong("the model did not continue from the saved weights (its embedding rows of tokens that never occur "
                    "in the text are not the saved ones, shrunk by weight decay): load the saved model state")
    return (f"the optimizer went on from step {saved_step} to {steps} (one epoch of {per_epoch} steps), and the model "
            "from the saved weights: the embedding rows of tokens that never occur in the text only shrank by "
            f"AdamW's weight decay, by a factor {factor:.4f} in {per_epoch} steps.")


def _verdict_loaders(context_length: int = 256) -> tuple[Any, Any]:
    """The train and validation loaders of the book's section 5.1.3 (90/10 split, batch 2, stride = context)."""
    text = load_text("the-verdict.txt")
    split = int(0.9 * len(text))
    common = {"batch_size": 2, "max_length": context_length, "stride": context_length, "shuffle": False}
    return (create_dataloader_v1(text[:split], drop_last=True, **common),
            create_dataloader_v1(text[split:], drop_last=False, **common))


def _describe_model(model: nn.Module) -> str:
    cfg = getattr(model, "cfg", {})
    return f"{_count(model):,} parameters, emb_dim {cfg.get('emb_dim', '?')}, {plural(cfg.get('n_layers', 0), 'layer')}"


@exercise("5.5", "06_pretraining", "the losses of OpenAI's GPT-2 on The Verdict")
def _check_5_5(model: Any, train_loss: Any, val_loss: Any) -> str:
    if not isinstance(model, GPTModel):
        raise Wrong(f"`model` should be the GPTModel of load_pretrained_gpt2, got {_describe(model)}")
    train_loader, val_loader = _verdict_loaders()
    was_training = model.training
    model.eval()
    with torch.no_grad():
        expected = {"train_loss": calc_loss_loader(train_loader, model, "cpu"),
                    "val_loss": calc_loss_loader(val_loader, model, "cpu")}
    model.train(was_training)
    given = {"train_loss": _number(train_loss, "`train_loss`"), "val_loss": _number(val_loss, "`val_loss`")}
    close = {name: abs(given[name] - expected[name]) < 6e-3 for name in given}
    if not any(close.values()) and all(abs(given[a] - expected[b]) < 6e-3 for a, b in
                                      (("train_loss", "val_loss"), ("val_loss", "train_loss"))):
        raise Wrong("your two losses are swapped")
    for name in ("train_loss", "val_loss"):
        if close[name]:
            continue
        if given[name] > 0 and abs(math.log(given[name]) - expected[name]) < 6e-3:
            raise Wrong(f"`{name}` = {given[name]:.2f} is the perplexity, exp(loss); give the loss")
        if abs(given[name] - expected[name]) < 0.3:
            raise Wrong(f"`{name}` is close but not equal: was the model in eval mode (dropout off), and the loss "
                        "averaged over every batch of the loader?")
        raise Wrong(f"`{name}` is not the model's loss on the {'training' if name == 'train_loss' else 'validation'} "
                    "loader of section 5.1.3 (context 256, batch 2, stride 256)")
    note = (" These are the losses of an untrained model (a uniform guess scores ln(50257) = 10.8): with OpenAI's "
            "weights they are far lower." if expected["train_loss"] > 9 else "")
    return (f"training loss {expected['train_loss']:.3f}, validation loss {expected['val_loss']:.3f} for this model "
            f"({_describe_model(model)}).{note}")


PROMPT_5_6 = "Every effort moves you"
NEW_TOKENS_5_6 = 25


@exercise("5.6", "06_pretraining", "GPT-2 models of other sizes")
def _check_5_6(models: Any, texts: Any) -> str:
    if not isinstance(models, Mapping) or len(models) < 2:
        raise Wrong(f"`models` should be a dict of at least two models by name, got {_describe(models)}")
    texts = _mapping(texts, "`texts`", list(models))
    tokenizer = gpt2_encoding()
    prompt = torch.tensor([tokenizer.encode(PROMPT_5_6)])
    greedy = {}
    for name, model in models.items():
        if not isinstance(model, GPTModel):
            raise Wrong(f"models[{name!r}] should be a GPTModel (from load_pretrained_gpt2), got {_describe(model)}")
        was_training = model.training
        out = generate(model.eval(), prompt, NEW_TOKENS_5_6, model.cfg["context_length"])
        model.train(was_training)
        greedy[name] = tokenizer.decode(out[0].tolist())
    sizes = {name: _count(model) for name, model in models.items()}
    if len(set(sizes.values())) < len(sizes):
        raise Wrong(f"some of your models have the same size ({', '.join(f'{n}: {s:,}' for n, s in sizes.items())}): "
                    "compare models of different sizes")
    for name in models:
        if not isinstance(texts[name], str):
            raise Wrong(f"texts[{name!r}] should be the generated text, got {_describe(texts[name])}")
        if texts[name] != greedy[name]:
            other = [n for n in models if n != name and texts[name] == greedy[n]]
            if other:
                raise Wrong(f"texts[{name!r}] is what {other[0]!r} generates")
            raise Wrong(f"texts[{name!r}] is not what models[{name!r}] generates greedily (temperature 0) in "
                        f"{NEW_TOKENS_5_6} new tokens from {PROMPT_5_6!r}")
    lines = [f"  {name} ({_describe_model(models[name])}):\n    \"{show_whitespace(texts[name])}\""
             for name in sorted(models, key=sizes.get)]
    return "each text is its model's greedy continuation; side by side, smallest first:\n" + "\n".join(lines)


def save_random_gpt2(folder: str | Path, emb_dim: int = 32, n_layers: int = 2, n_heads: int = 2,
                     context_length: int = 256, seed: int = 123) -> Path:
    """Save a small GPT-2 with random weights in the Hugging Face format (as OpenAI's are), for exercises 5.5
    and 5.6 without internet: `load_pretrained_gpt2(folder)` reads it like the real one. Returns the folder."""
    from transformers import GPT2LMHeadModel

    from helpers.gpt2_weights import hf_config_from_gpt

    cfg = {**GPT_CONFIG_124M, "emb_dim": emb_dim, "n_layers": n_layers, "n_heads": n_heads,
           "context_length": context_length, "qkv_bias": True}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(hf_config_from_gpt(cfg))
    model.save_pretrained(folder)
    return Path(folder)


# --- chapter 6: fine-tuning for classification -------------------------------------------------------------------

PAD_ID = 50256  # GPT-2's <|endoftext|>, the padding of SpamDataset


def _spam_classifier(model: Any, what: str = "`model`") -> nn.Module:
    """`model` if it is a GPT with a two-class output head (section 6.5); a `Wrong` otherwise."""
    if not isinstance(model, nn.Module) or not hasattr(model, "pos_emb") or not hasattr(model, "out_head"):
        raise Wrong(f"{what} should be the fine-tuned GPTModel, got {_describe(model)}")
    head = model.out_head
    outputs = getattr(head, "out_features", getattr(getattr(head, "linear", None), "out_features", None))
    if outputs != 2:
        raise Wrong(f"{what}'s output head has {outputs} outputs; a spam classifier has 2: replace it as in "
                    "section 6.5")
    return model


def _fraction(value: Any, what: str) -> float:
    """An accuracy as a fraction from 0 to 1; a `Wrong` for a percentage or anything else."""
    number = _number(value, what)
    if 1 < number <= 100:
        raise Wrong(f"{what} = {number:g} looks like a percentage; give the fraction (0 to 1) that "
                    "calc_accuracy_loader returns")
    if not 0 <= number <= 1:
        raise Wrong(f"{what} = {number:g} is no accuracy: an accuracy lies between 0 and 1")
    return number


def _accuracy(model: nn.Module, batches: Any, position: int) -> float:
    """The fraction of messages whose class, read at token `position`, is the label (every batch, eval mode)."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    correct, seen = 0, 0
    with torch.no_grad():
        for inputs, labels in batches:
            predicted = model(inputs.to(device))[:, position, :].argmax(dim=-1)
            correct += (predicted == labels.to(device)).sum().item()
            seen += labels.shape[0]
    model.train(was_training)
    return correct / seen


def _test_batches(test_loader: Any) -> list[Any]:
    """The batches of the learner's test loader (a shuffling loader leaves the global random state as it was)."""
    with torch.random.fork_rng(devices=[]):
        batches = _call("iterating over `test_loader`", list, test_loader)
    if not batches or not all(isinstance(b, (list, tuple)) and len(b) == 2 for b in batches):
        raise Wrong("`test_loader` should yield batches of (token ids, labels), like the test loader of section 6.3")
    return batches


def _check_test_accuracy(model: nn.Module, test_loader: Any, test_accuracy: Any, position: int = -1) -> float:
    """The model's accuracy on the whole test loader; a `Wrong` if the learner's number is another one."""
    given = _fraction(test_accuracy, "`test_accuracy`")
    batches = _test_batches(test_loader)
    expected = _accuracy(model, batches, position)
    if abs(given - expected) > 1e-6:
        other = _accuracy(model, batches, -1 if position == 0 else 0)
        if position == 0 and abs(given - other) < 1e-6:
            raise Wrong("`test_accuracy` is read at the last token; the exercise reads the class at the first: use "
                        "your first-token calc_accuracy_loader")
        raise Wrong(f"`test_accuracy` = {given:.4f} is not the model's accuracy on `test_loader`: compute it over "
                    "every batch of the test loader (no num_batches), after training")
    return expected


def _message_lengths(dataset: Any) -> list[int]:
    """The number of tokens of each message of a padded dataset (its ids without the padding at the end)."""
    lengths = []
    for ids in dataset.encoded_texts:
        ids = list(ids)
        while ids and ids[-1] == PAD_ID:
            ids.pop()
        lengths.append(len(ids))
    return lengths


@exercise("6.1", "07_classification_finetuning", "pad the messages to the full context length")
def _check_6_1(train_dataset: Any, model: Any, test_loader: Any, test_accuracy: Any) -> str:
    model = _spam_classifier(model)
    context = model.pos_emb.weight.shape[0]
    max_length = getattr(train_dataset, "max_length", None)
    if not isinstance(max_length, int) or not hasattr(train_dataset, "encoded_texts"):
        raise Wrong(f"`train_dataset` should be a SpamDataset of the training split, got {_describe(train_dataset)}")
    lengths = _message_lengths(train_dataset)
    if max_length != context:
        if max_length == max(lengths):
            raise Wrong(f"`train_dataset` pads to {max_length} tokens, the longest training message, as in section "
                        f"6.3; the exercise pads to the model's context length, {context} tokens: which argument of "
                        "SpamDataset sets the length?")
        raise Wrong(f"`train_dataset` pads to {max_length} tokens, but the model's context length is {context}")
    first = _call("train_dataset[0]", train_dataset.__getitem__, 0)
    if tuple(first[0].shape) != (context,):
        raise Wrong(f"train_dataset[0] holds {tuple(first[0].shape)} token ids, not {context}")
    batches = _test_batches(test_loader)
    if batches[0][0].shape[-1] != context:
        raise Wrong(f"the test loader's messages are {batches[0][0].shape[-1]} tokens long: pad the test set to the "
                    f"same {context} tokens (max_length=train_dataset.max_length)")
    accuracy = _check_test_accuracy(model, test_loader, test_accuracy)
    padding = 1 - sum(lengths) / (len(lengths) * context)
    return (f"every message is padded to {context} tokens, the whole context (the longest training message has "
            f"{max(lengths)}): {padding:.0%} of the training tokens are now padding, and each message's last position "
            f"lies far behind its last word. Test accuracy {accuracy:.2%}: compare it with section 6.7's, where the "
            "padding was as short as it could be.")


@exercise("6.2", "07_classification_finetuning", "fine-tune the whole model")
def _check_6_2(model: Any, optimizer: Any, test_loader: Any, test_accuracy: Any) -> str:
    model = _spam_classifier(model)
    named = list(model.named_parameters())
    total = sum(p.numel() for _, p in named)
    frozen = [(name, p) for name, p in named if not p.requires_grad]
    if frozen:
        count = sum(p.numel() for _, p in frozen)
        raise Wrong(f"{count:,} of the model's {total:,} parameters are still frozen (`{frozen[0][0]}` is one): make "
                    "every parameter trainable, not only the last block, the final norm and the head")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise Wrong(f"`optimizer` should be the AdamW optimizer that trained the model, got {_describe(optimizer)}")
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    missing = [name for name, p in named if id(p) not in held]
    if missing:
        raise Wrong(f"the optimizer does not hold `{missing[0]}` (nor {plural(len(missing) - 1, 'other parameter')}): "
                    "create it from this model's parameters()")
    never = [name for name, p in named if not optimizer.state.get(p)]
    if never:
        raise Wrong(f"`{never[0]}` (and {plural(len(never) - 1, 'other parameter')}) never took a training step: "
                    "set requires_grad = True before training, not after")
    accuracy = _check_test_accuracy(model, test_loader, test_accuracy)
    book = sum(p.numel() for part in (model.trf_blocks[-1], model.final_norm, model.out_head)
               for p in part.parameters())
    return (f"all {total:,} parameters were trained, {total / book:.0f} times as many as the book's recipe trains "
            f"({book:,}: the last block, the final norm and the head). Test accuracy {accuracy:.2%}: compare it with "
            "section 6.7's. Each step now computes gradients for every parameter, and AdamW keeps two more numbers "
            "for each: training everything pays most where the frozen layers know little, as random ones.")


def _first_token_task() -> tuple[nn.Module, list[tuple[torch.Tensor, torch.Tensor]]]:
    """A small seeded classifier and three batches whose labels are its first-token predictions (so reading the
    first token is right for every message, and reading the last is not)."""
    cfg = {"vocab_size": 100, "context_length": 8, "emb_dim": 16, "n_heads": 2, "n_layers": 1, "drop_rate": 0.0,
           "qkv_bias": False}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(123)
        model = GPTModel(cfg).eval()
        model.out_head = nn.Linear(cfg["emb_dim"], 2)
        ids = torch.randint(0, cfg["vocab_size"], (12, 8))
    with torch.no_grad():
        labels = model(ids)[:, 0, :].argmax(dim=-1)
    return model, [(ids[i:i + 4], labels[i:i + 4]) for i in (0, 4, 8)]


@exercise("6.3", "07_classification_finetuning", "classify with the first token instead of the last")
def _check_6_3(calc_loss_batch: Any, calc_accuracy_loader: Any, model: Any, test_loader: Any,
               test_accuracy: Any) -> str:
    reference, batches = _first_token_task()
    inputs, labels = batches[0]
    with torch.no_grad():
        logits = reference(inputs)  # (4, 8, 2)
        losses = {position: torch.nn.functional.cross_entropy(logits[:, position, :], labels).item()
                  for position in (0, -1)}
        loss = _call(f"{_name(calc_loss_batch)}(input_batch, target_batch, model, device)", calc_loss_batch, inputs,
                     labels, reference, "cpu")
    loss = _number(loss, f"the loss of {_name(calc_loss_batch)}")
    if abs(loss - losses[-1]) < 1e-5:
        raise Wrong(f"{_name(calc_loss_batch)} still reads the last token: which index of the token dimension is the "
                    "first token?")
    if abs(loss - losses[0]) > 1e-5:
        raise Wrong(f"{_name(calc_loss_batch)} gives {loss:.4f}, not the cross-entropy of the first token's scores "
                    "against the labels")
    accuracies = {position: _accuracy(reference, batches, position) for position in (0, -1)}
    given = _number(_call(f"{_name(calc_accuracy_loader)}(data_loader, model, device)", calc_accuracy_loader, batches,
                          reference, "cpu"), f"the accuracy of {_name(calc_accuracy_loader)}")
    if abs(given - accuracies[-1]) < 1e-9:
        raise Wrong(f"{_name(calc_accuracy_loader)} still reads the last token: read the class where the loss reads it")
    if abs(given - accuracies[0]) > 1e-9:
        raise Wrong(f"{_name(calc_accuracy_loader)} gives {given:.4f}, not the fraction of messages whose first-token "
                    "class is the label")
    model = _spam_classifier(model)
    accuracy = _check_test_accuracy(model, test_loader, test_accuracy, position=0)
    return (f"both functions read the first token. Test accuracy {accuracy:.2%}: under the causal mask the first "
            "position attends to nothing but the first token, so the class can depend on the message's first word "
            "alone (a word like 'FREE' or 'URGENT' still says a lot). Compare it with section 6.7's: the last token "
            "has seen the whole message.")
