"""Checks for the exercises of the book's chapter 1, understanding large language models (the course's own: the
chapter has none), asked in notebooks/01_overview.ipynb: 1.A (a window of The Verdict and its targets) and 1.B
(generating text one token at a time). Worked answers: notebooks/solutions/ch01_solutions.ipynb. Imported only when
one of these exercises is checked.
"""

from __future__ import annotations

from typing import Any

import torch

from helpers.datafiles import load_text
from helpers.generate import generate_text_simple
from helpers.gpt import GPTModel
from helpers.gpt2_tokenizer import gpt2_encoding
from helpers.teaching.exercises.registry import Wrong, exercise
from helpers.teaching.exercises.tools import call, describe, name_of

START_1A, LENGTH_1A = 1000, 8  # the window of exercise 1.A: The Verdict's tokens 1000 to 1007
PROMPTS_1B = ("Every effort moves you", "I had always thought")  # two prompts of four tokens each, one batch
NEW_TOKENS_1B = 5


def _token_ids(value: Any, what: str) -> list[int]:
    """`value` (a list of ints, or a tensor of one row) as a list of token ids; a `Wrong` if it is not."""
    if isinstance(value, torch.Tensor):
        if value.dim() == 2 and value.shape[0] == 1:
            value = value[0]
        if value.dim() != 1 or value.is_floating_point():
            raise Wrong(f"{what} should be a list (or a 1-d tensor) of token ids, got {describe(value)}")
        return [int(v) for v in value.tolist()]
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise Wrong(f"{what} should be a list of token ids (whole numbers), got {describe(value)}")
    return list(value)


@exercise("1.A", "01_overview", "a window of The Verdict and its targets")
def _check_1_a(x: Any, y: Any) -> str:
    tokenizer = gpt2_encoding()
    ids = tokenizer.encode(load_text("the-verdict.txt"))
    start, length = START_1A, LENGTH_1A
    x, y = _token_ids(x, "`x`"), _token_ids(y, "`y`")
    if x != ids[start:start + length]:
        if len(x) != length:
            raise Wrong(f"`x` holds {len(x)} token ids; the window is {length} tokens long")
        if x in (ids[start - 1:start - 1 + length], ids[start + 1:start + 1 + length]):
            raise Wrong(f"`x` starts one token off: token number {start} is ids[{start}], counting from 0")
        raise Wrong(f"`x` is not The Verdict's tokens {start} to {start + length - 1}: encode the whole story with "
                    "the GPT-2 tokenizer, then take a slice of the ids")
    if y == x:
        raise Wrong("`y` is `x` itself: the target of each input token is the token that follows it")
    if y == ids[start - 1:start - 1 + length]:
        raise Wrong("`y` is shifted the wrong way: the target of a token is the one after it, not the one before")
    if len(y) != length:
        raise Wrong(f"`y` holds {len(y)} token ids: a window of {length} inputs has {length} targets, one per input")
    if y != ids[start + 1:start + 1 + length]:
        raise Wrong("`y` is not `x` shifted by one token: it is the same window, moved one token further")
    return (f"x = {tokenizer.decode(x)!r} and y = {tokenizer.decode(y)!r}: the same text, one token apart. The pair "
            f"holds {length} prediction tasks (the first token predicts the second, the first two the third, ...), "
            "and the story itself supplies every label: that is self-supervised learning.")


def _greedy_at(model: GPTModel, idx: torch.Tensor, new: int, position: int) -> torch.Tensor:
    """Greedy generation that reads the logits at `position` (a mistake when it is not -1)."""
    for _ in range(new):
        next_id = model(idx)[:, position, :].argmax(dim=-1, keepdim=True)  # (batch, 1)
        idx = torch.cat([idx, next_id], dim=1)
    return idx


@exercise("1.B", "01_overview", "generating text one token at a time")
def _check_1_b(generate_greedy: Any, model: Any) -> str:
    if not isinstance(model, GPTModel):
        raise Wrong(f"`model` should be the notebook's GPTModel, got {describe(model)}")
    tokenizer = gpt2_encoding()
    idx = torch.tensor([tokenizer.encode(prompt) for prompt in PROMPTS_1B])  # (2, 4)
    n, new = idx.shape[1], NEW_TOKENS_1B
    what = f"{name_of(generate_greedy)}(model, idx, {new})"
    training = model.training
    model.eval()  # no dropout: greedy generation is deterministic
    try:
        with torch.no_grad():
            got = call(what, generate_greedy, model, idx.clone(), new)
            expected = generate_text_simple(model, idx, new, model.cfg["context_length"])
            first = _greedy_at(model, idx, new, position=0)
    finally:
        model.train(training)
    if not isinstance(got, torch.Tensor):
        raise Wrong(f"{what} should return a tensor of token ids, got {describe(got)}")
    if tuple(got.shape) == (2, new):
        raise Wrong(f"{what} returns only the {new} new tokens: return idx with them appended, shape (2, {n + new})")
    if tuple(got.shape) != tuple(expected.shape):
        raise Wrong(f"{what} returned shape {tuple(got.shape)} for idx of shape (2, {n}): append {new} token ids to "
                    f"each row, for a shape of (2, {n + new})")
    if not torch.equal(got[:, :n], idx):
        raise Wrong(f"the first {n} columns of the result should be the prompt idx, unchanged")
    if not torch.equal(got, expected):
        if torch.equal(got, first):
            raise Wrong("the new tokens come from the logits of the first position: the next token is predicted at "
                        "the last position, logits[:, -1, :]")
        if torch.equal(got[:, n:], expected[:, n:n + 1].expand(-1, new)):
            raise Wrong("every new token is the same: each step must feed the sequence so far, with the tokens "
                        "appended, back into the model")
        raise Wrong("the new tokens are not the most likely ones: at each step, run the model on the whole sequence "
                    "so far, take the argmax of logits[:, -1, :], and append it")
    texts = " and ".join(repr(tokenizer.decode(row.tolist())) for row in got)
    return (f"{texts}: each new token is the model's most likely next token, appended and fed back, as "
            "helpers.generate.generate_text_simple does (which also crops the context to the model's context length). "
            "The words are noise because the weights are random: notebook 07 trains them.")
