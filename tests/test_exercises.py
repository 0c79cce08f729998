"""helpers.teaching.exercises: for every exercise, the check passes the solution, rejects typical mistakes with a
helpful message, and calls an unanswered starter "not answered yet"; the notebooks ask every exercise and the solution
notebooks pass every one; checking an exercise imports only its chapter's module."""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from torch import nn

from helpers.attention import CausalAttention, MultiHeadAttention
from helpers.bpe import BPETokenizer
from helpers.datafiles import load_text
from helpers.generate import generate
from helpers.gpt import GPT2_SIZES, GPT_CONFIG_124M, TINY_CONFIG, GPTModel
from helpers.gpt2_tokenizer import gpt2_encoding
from helpers.gpt2_weights import load_pretrained_gpt2, save_random_gpt2
from helpers.sliding_window import create_dataloader_v1
from helpers.teaching.exercises import Result, all_exercises, check, evaluate
from helpers.train import calc_loss_loader

ROOT = Path(__file__).resolve().parent.parent
EXERCISES = all_exercises()


def passes(number: str, *args, **kwargs) -> Result:
    result = evaluate(number, *args, **kwargs)
    assert result.status == "passed", result.message
    assert str(result).startswith(f"✓ Exercise {number} passed: ")
    return result


def wrong(number: str, *args, **kwargs) -> str:
    result = evaluate(number, *args, **kwargs)
    assert result.status == "wrong", (result.status, result.message)
    assert str(result).startswith(f"✗ Exercise {number}, not right yet: ")
    return result.message


def unanswered(number: str, *args, **kwargs) -> str:
    result = evaluate(number, *args, **kwargs)
    assert result.status == "unanswered", (result.status, result.message)
    assert str(result).startswith(f"○ Exercise {number}, not answered yet: ")
    return result.message


def stub(*args, **kwargs):
    raise NotImplementedError("your code here")


# --- the machinery -----------------------------------------------------------------------------------------------


def test_every_exercise_of_the_book_chapters_2_to_5_is_registered():
    book = ["2.1", "2.2", "3.1", "3.2", "3.3", "4.1", "4.2", "4.3", "5.1", "5.2", "5.3", "5.4", "5.5", "5.6"]
    assert [n for n in EXERCISES if n[0] in "2345" and n[-1].isdigit()] == book


def test_unknown_exercise_and_wrong_arguments_say_what_exists():
    with pytest.raises(KeyError, match="there is no exercise '9.9'; the exercises are 1.A, 1.B, 2.1, 2.2"):
        evaluate("9.9")
    with pytest.raises(TypeError, match=r"takes the arguments \['mha', 'batch'\]"):
        evaluate("3.2", mha=None, batches=None)


def test_placeholders_anywhere_in_an_answer_are_named():
    message = unanswered("4.2", configs=..., params={"gpt2-medium": 1, "gpt2-large": ...}, mib=None)
    assert message == ("put your answer where the cell above still has `...` (passed here as `configs`, "
                       "`params['gpt2-large']`, `mib`), then run this cell again.")


def test_check_prints_the_verdict_and_returns_nothing(capsys):
    assert check("3.2", mha=..., batch=torch.ones(2, 6, 3)) is None
    assert capsys.readouterr().out.startswith("○ Exercise 3.2, not answered yet: put your answer where")


def test_a_stub_that_raises_not_implemented_is_not_answered():
    message = unanswered("3.1", copy_weights=stub, sa_v1=SelfAttentionV1(3, 2), sa_v2=SelfAttentionV2(3, 2),
                         inputs=INPUTS)
    assert message.startswith("stub(sa_v1, sa_v2) still raises NotImplementedError: replace that line")


def test_checking_a_chapter_2_exercise_imports_neither_the_training_stack_nor_other_chapters():
    # `import torch` itself loads parts of torch.distributed: what counts is what the check adds to that.
    script = """
import sys
import torch
before = set(sys.modules)
from helpers.teaching.exercises import evaluate
result = evaluate("2.B", lambda n, length, stride: max(0, (n - length - 1) // stride + 1))
assert result.passed, result
added = set(sys.modules) - before
print(sorted(m for m in added if m.startswith(("torch.distributed", "helpers.train", "helpers.teaching.exercises.ch"))))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, cwd=ROOT, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "['helpers.teaching.exercises.ch02']"


def test_long_messages_are_wrapped_and_tables_kept():
    text = str(Result("9.9", "passed", "word " * 40 + "\n  a table row " + "x" * 120))
    lines = text.splitlines()
    assert all(len(line) <= 100 for line in lines[:-1]) and lines[-1].startswith("  a table row")


# --- chapter 1 ---------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def story_ids() -> list[int]:
    return gpt2_encoding().encode(load_text("the-verdict.txt"))


def test_1_a(story_ids):
    x, y = story_ids[1000:1008], story_ids[1001:1009]
    result = passes("1.A", x=x, y=y)
    assert "x = ' and eighteenth-century pictures with a discrimination' and y = ' eighteenth" in result.message
    passes("1.A", x=torch.tensor(x), y=torch.tensor([y]))  # a tensor, of one row or none, counts too
    assert wrong("1.A", x, x).startswith("`y` is `x` itself")
    assert "shifted the wrong way" in wrong("1.A", x, story_ids[999:1007])
    assert "`x` starts one token off: token number 1000 is ids[1000]" in wrong("1.A", story_ids[1001:1009], y)
    assert "`x` holds 7 token ids; the window is 8 tokens long" in wrong("1.A", story_ids[1000:1007], y)
    assert "`y` holds 7 token ids" in wrong("1.A", x, y[:7])
    assert "`x` should be a list of token ids" in wrong("1.A", "text", y)
    assert "`y` is not `x` shifted by one token" in wrong("1.A", x, story_ids[1002:1010])
    assert "(passed here as `x`, `y`)" in unanswered("1.A", x=..., y=...)


def greedy_1b(model, idx, max_new_tokens, position=-1):
    """Greedy generation, reading the logits at `position` (-1 is the right answer)."""
    for _ in range(max_new_tokens):
        next_id = model(idx)[:, position, :].argmax(dim=-1, keepdim=True)  # (batch, 1)
        idx = torch.cat([idx, next_id], dim=1)
    return idx


def test_1_b():
    torch.manual_seed(123)
    model = GPTModel(TINY_CONFIG)  # in training mode: the check turns dropout off, and back on
    result = passes("1.B", generate_greedy=greedy_1b, model=model)
    assert model.training
    assert "'Every effort moves yousemble midst graphics belief sacks' and 'I had always thought" in result.message
    model.eval()
    only_new = wrong("1.B", lambda m, idx, n: greedy_1b(m, idx, n)[:, idx.shape[1]:], model)
    assert only_new.startswith("<lambda>(model, idx, 5) returns only the 5 new tokens: return idx with them appended")
    assert "logits of the first position" in wrong("1.B", lambda m, idx, n: greedy_1b(m, idx, n, position=0), model)

    def no_feedback(m, idx, n):
        return torch.cat([idx, m(idx)[:, -1, :].argmax(dim=-1, keepdim=True).repeat(1, n)], dim=1)

    assert "every new token is the same: each step must feed" in wrong("1.B", no_feedback, model)
    zeros = wrong("1.B", lambda m, idx, n: torch.cat([idx, torch.zeros(2, n, dtype=torch.long)], dim=1), model)
    assert zeros.startswith("the new tokens are not the most likely ones")
    assert "returned shape (2, 4) for idx of shape (2, 4)" in wrong("1.B", lambda m, idx, n: idx, model)
    assert "should return a tensor of token ids, got a list" in wrong("1.B", lambda m, idx, n: idx.tolist(), model)
    assert "the first 4 columns" in wrong("1.B", lambda m, idx, n: greedy_1b(m, idx.flip(1), n), model)
    assert "`model` should be the notebook's GPTModel, got 'model'" in wrong("1.B", greedy_1b, "model")
    assert "raised ZeroDivisionError" in wrong("1.B", lambda m, idx, n: 1 / 0, model)
    assert "stub(model, idx, 5) still raises NotImplementedError" in unanswered("1.B", stub, model)


# --- chapter 2 ---------------------------------------------------------------------------------------------------


def test_2_1():
    tokenizer = gpt2_encoding()
    ids = tokenizer.encode("Akwirw ier")
    pieces = [tokenizer.decode([i]) for i in ids]
    result = passes("2.1", ids=ids, pieces=pieces, text="".join(pieces))
    assert "'Akwirw ier' is 6 tokens: 'Ak' | 'w' | 'ir' | 'w' | ' ' | 'ier'" in result.message
    assert "not 'Akwirw ier': encode exactly that text" in wrong("2.1", tokenizer.encode("Akwirw"), pieces, "x")
    message = wrong("2.1", ids, [tokenizer.decode(ids)], "Akwirw ier")
    assert message.startswith("`pieces` has 1 string(s) for 6 ids: decode each id on its own")
    assert "your reassembled text is 'Ak w ir w   ier'" in wrong("2.1", ids, pieces, " ".join(pieces))
    bytewise = [tokenizer.encode(c)[0] for c in "Akwirw ier"]
    assert "are not how the tokenizer encodes it" in wrong("2.1", bytewise, pieces, "Akwirw ier")
    assert "(passed here as `ids`, `pieces`, `text`)" in unanswered("2.1", ids=..., pieces=..., text=...)


@pytest.fixture(scope="module")
def verdict() -> str:
    return load_text("the-verdict.txt")


def test_2_a(verdict):
    counts = {n: len(BPETokenizer.train(verdict, n).encode(verdict)) for n in (300, 2000, 2700)}
    assert counts == {300: 14093, 2000: 5555, 2700: 4855}
    result = passes("2.A", token_counts=counts, reason="a", text=verdict)
    assert "tokens for the story by vocabulary size: 300: 14,093, 2,000: 5,555, 2,700: 4,855" in result.message
    assert wrong("2.A", dict.fromkeys(counts, 5145), "a", verdict).startswith(
        "every count is 5,145, the length with GPT-2's tokenizer")
    assert "with vocab_size=2000, the text takes another number of tokens than 2,000" in wrong(
        "2.A", {**counts, 2000: 2000}, "a", verdict)
    assert "the 300-token tokenizer would win" in wrong("2.A", counts, "b", verdict)
    assert "`reason` should be one of ['a', 'b', 'c']" in wrong("2.A", counts, "d", verdict)
    assert "`token_counts`" in unanswered("2.A", token_counts={300: ..., 2000: ..., 2700: ...}, reason=...,
                                          text=verdict)


def test_2_b():
    def right(n_tokens, max_length, stride):
        return max(0, (n_tokens - max_length - 1) // stride + 1)

    assert "for the story's 5,145 tokens with max_length=100 and stride=30, 169 windows" in passes(
        "2.B", right).message
    assert wrong("2.B", lambda n, length, stride: (n - length) // stride + 1) == (
        "<lambda>(1, 1, 1) gives 1, but GPTDatasetV1 cuts 0 windows from 1 token with max_length=1, stride=1: a "
        "window's last target is the token after the window")
    assert "gives 0.0, a float: a number of windows is a whole number" in wrong(
        "2.B", lambda n, length, stride: float(right(n, length, stride)))
    assert "raised ZeroDivisionError" in wrong("2.B", lambda n, length, stride: n // 0)
    unanswered("2.B", stub)


def test_2_c():
    onehot = 8 * 1024 * 50257 * 4 / 2**20
    assert passes("2.C", onehot_mib=round(onehot, 2), ids_kib=64).message.startswith(
        "the one-hot input takes 1,570.53 MiB, the ids 64 KiB")
    assert "is in MB (10^6 bytes)" in wrong("2.C", 8 * 1024 * 50257 * 4 / 1e6, 64)
    assert "counts 8 bytes per entry (F.one_hot makes int64)" in wrong("2.C", 2 * onehot, 64)
    assert wrong("2.C", onehot, 32) == "`ids_kib` counts 4 bytes per id; token ids are int64, 8 bytes"
    unanswered("2.C", onehot_mib=..., ids_kib=...)


def loader(text: str, max_length: int, stride: int, **kwargs):
    return create_dataloader_v1(text, batch_size=kwargs.pop("batch_size", 8), max_length=max_length, stride=stride,
                                shuffle=kwargs.pop("shuffle", False), **kwargs)


def test_2_2(verdict):
    right = {"loader_2": loader(verdict, 2, 2), "loader_8": loader(verdict, 8, 2), "text": verdict}
    result = passes("2.2", **right, overlap_8=6)
    assert "loader_8's overlap by 6 tokens" in result.message
    assert "start 1 token(s) apart, but the exercise moves them by 2" in wrong(
        "2.2", **{**right, "loader_8": loader(verdict, 8, 1)}, overlap_8=6)
    shuffled = loader(verdict, 2, 2, shuffle=True, generator=torch.Generator().manual_seed(1))
    assert "not at the start of the text: does it shuffle?" in wrong("2.2", **{**right, "loader_2": shuffled},
                                                                    overlap_8=6)
    assert "the windows of loader_8 hold 2 tokens, but should hold 8" in wrong(
        "2.2", **{**right, "loader_8": loader(verdict, 2, 8)}, overlap_8=6)
    assert wrong("2.2", **right, overlap_8=2).startswith("2 is how far each window moves (the stride)")
    assert "`loader_2`, `loader_8`, `overlap_8`" in unanswered("2.2", loader_2=..., loader_8=..., overlap_8=...,
                                                              text=verdict)


# --- chapter 3 ---------------------------------------------------------------------------------------------------

INPUTS = torch.tensor([[0.43, 0.15, 0.89], [0.55, 0.87, 0.66], [0.57, 0.85, 0.64], [0.22, 0.58, 0.33],
                       [0.77, 0.25, 0.10], [0.05, 0.80, 0.55]])


class SelfAttentionV1(nn.Module):
    """The book's SelfAttention_v1 (section 3.4.2)."""

    def __init__(self, d_in, d_out):
        super().__init__()
        self.W_query, self.W_key, self.W_value = (nn.Parameter(torch.rand(d_in, d_out)) for _ in range(3))

    def forward(self, x):
        q, k, v = x @ self.W_query, x @ self.W_key, x @ self.W_value
        return torch.softmax(q @ k.T / k.shape[-1] ** 0.5, dim=-1) @ v


class SelfAttentionV2(nn.Module):
    """The book's SelfAttention_v2 (section 3.4.2)."""

    def __init__(self, d_in, d_out):
        super().__init__()
        self.W_query, self.W_key, self.W_value = (nn.Linear(d_in, d_out, bias=False) for _ in range(3))

    def forward(self, x):
        q, k, v = self.W_query(x), self.W_key(x), self.W_value(x)
        return torch.softmax(q @ k.T / k.shape[-1] ** 0.5, dim=-1) @ v


class MultiHeadAttentionWrapper(nn.Module):
    """The book's wrapper of separate causal heads (section 3.6.1)."""

    def __init__(self, d_in, d_out, context_length, dropout, num_heads, qkv_bias=False):
        super().__init__()
        self.heads = nn.ModuleList(CausalAttention(d_in, d_out, context_length, dropout, qkv_bias)
                                   for _ in range(num_heads))

    def forward(self, x):
        return torch.cat([head(x) for head in self.heads], dim=-1)


def self_attention_pair():
    torch.manual_seed(123)
    sa_v1 = SelfAttentionV1(3, 2)
    torch.manual_seed(789)
    return sa_v1, SelfAttentionV2(3, 2)


def copy_transposed(sa_v1, sa_v2):
    with torch.no_grad():
        for name in ("W_query", "W_key", "W_value"):
            getattr(sa_v1, name).copy_(getattr(sa_v2, name).weight.T)


def test_3_1():
    sa_v1, sa_v2 = self_attention_pair()
    before = sa_v1.W_query.detach().clone()
    passes("3.1", copy_weights=copy_transposed, sa_v1=sa_v1, sa_v2=sa_v2, inputs=INPUTS)
    assert torch.equal(sa_v1.W_query, before)  # the check works on copies

    def untransposed(v1, v2):
        with torch.no_grad():
            v1.W_query.copy_(v2.W_query.weight)

    assert wrong("3.1", untransposed, sa_v1, sa_v2, INPUTS).endswith(
        "(sa_v1 stores each matrix as (d_in, d_out), nn.Linear stores its weight as (d_out, d_in))")

    def without_no_grad(v1, v2):
        v1.W_query.copy_(v2.W_query.weight.T)

    assert "needs `with torch.no_grad():` around it" in wrong("3.1", without_no_grad, sa_v1, sa_v2, INPUTS)

    def assigned_untransposed(v1, v2):  # replaces the parameter's data: the shape changes, the product fails
        v1.W_query.data = v2.W_query.weight.detach().clone()

    message = wrong("3.1", assigned_untransposed, sa_v1, sa_v2, INPUTS)
    assert "x @ W needs W of shape (d_in, d_out); nn.Linear stores its weight as (d_out, d_in)" in message

    def swapped(v1, v2):
        with torch.no_grad():
            v1.W_query.copy_(v2.W_key.weight.T)
            v1.W_key.copy_(v2.W_query.weight.T)
            v1.W_value.copy_(v2.W_value.weight.T)

    assert wrong("3.1", swapped, sa_v1, sa_v2, INPUTS).startswith("sa_v1.W_query holds the weights of sa_v2.W_key")

    def backwards(v1, v2):
        with torch.no_grad():
            for name in ("W_query", "W_key", "W_value"):
                getattr(v2, name).weight.copy_(getattr(v1, name).T)

    assert wrong("3.1", backwards, sa_v1, sa_v2, INPUTS).startswith("backwards changed sa_v2's W_query.weight")


def test_3_2():
    batch = torch.stack((INPUTS, INPUTS))
    torch.manual_seed(123)
    assert "shape (2, 6, 2)" in passes("3.2", MultiHeadAttentionWrapper(3, 1, 6, 0.0, num_heads=2), batch).message
    message = wrong("3.2", MultiHeadAttentionWrapper(3, 2, 6, 0.0, num_heads=2), batch)
    assert message == ("the context vectors have shape (2, 6, 4) but should be (2, 6, 2): the wrapper puts its heads' "
                       "outputs side by side, so their width is num_heads × d_out")
    assert wrong("3.2", MultiHeadAttentionWrapper(3, 2, 6, 0.0, num_heads=1), batch) == (
        "`mha` has 1 head(s); the exercise asks for two")
    assert "has no list of `heads`" in wrong("3.2", MultiHeadAttention(3, 2, 6, 0.0, num_heads=2), batch)
    unanswered("3.2", mha=..., batch=batch)


def test_3_3():
    mha = MultiHeadAttention(768, 768, context_length=1024, dropout=0.0, num_heads=12)
    assert passes("3.3", mha, 2_360_064).message.startswith("2,360,064 parameters")
    assert wrong("3.3", mha, 2_360_064 + 1024 * 1024).startswith("3,408,640 also counts the 1024 × 1024 causal mask")
    assert wrong("3.3", MultiHeadAttention(768, 64, 1024, 0.0, num_heads=1), 1).startswith(
        "d_out is 64 but should be 768: in MultiHeadAttention, d_out is the width of all heads together")
    assert "qkv_bias=True" in wrong("3.3", MultiHeadAttention(768, 768, 1024, 0.0, 12, qkv_bias=True), 2_362_368)
    assert "context length is 256" in wrong("3.3", MultiHeadAttention(768, 768, 256, 0.0, 12), 2_360_064)
    unanswered("3.3", mha=..., num_params=...)


def peaks(sa, x):
    with torch.no_grad():
        scores = sa.W_query(x) @ sa.W_key(x).T
        return [torch.softmax(s, dim=-1).max(dim=-1).values.mean().item() for s in (scores / 768**0.5, scores)]


def test_3_a():
    torch.manual_seed(123)
    x, sa = torch.randn(6, 768), SelfAttentionV2(768, 768)
    scaled, unscaled = peaks(sa, x)
    assert unscaled > 0.9 and scaled < 0.5
    assert "on average; without it" in passes("3.A", round(scaled, 4), round(unscaled, 4), sa=sa, x=x).message
    assert wrong("3.A", unscaled, scaled, sa=sa, x=x) == (
        "your two numbers are swapped: which softmax sees the larger scores?")
    with torch.no_grad():
        top_score = (sa.W_query(x) @ sa.W_key(x).T).max(dim=-1).values.mean().item()
    assert "take the largest *weight* of each row" in wrong("3.A", scaled, top_score, sa=sa, x=x)
    assert "not the mean over the six rows" in wrong("3.A", scaled, 1.0, sa=sa, x=x)
    unanswered("3.A", peak_scaled=..., peak_unscaled=..., sa=sa, x=x)


def load_heads(wrapper, mha, rows=lambda i, n, h: slice(i * h, (i + 1) * h)):
    with torch.no_grad():
        for i, head in enumerate(wrapper.heads):
            for name in ("W_query", "W_key", "W_value"):
                getattr(head, name).weight.copy_(getattr(mha, name).weight[rows(i, mha.num_heads, mha.head_dim)])


def test_3_b():
    assert "mha.out_proj(wrapper(x)) == mha(x)" in passes("3.B", load_heads, MultiHeadAttentionWrapper).message

    def interleaved(wrapper, mha):
        load_heads(wrapper, mha, rows=lambda i, n, h: slice(i, None, n))

    assert wrong("3.B", interleaved, MultiHeadAttentionWrapper).startswith(
        "head 0's W_query differs from the part of mha.W_query that computes head 0: which rows of "
        "mha.W_query.weight (shape (6, 4))")

    def whole(wrapper, mha):
        with torch.no_grad():
            wrapper.heads[0].W_query.weight.copy_(mha.W_query.weight)

    assert "each head's projections are (2, 4), mha's (6, 4)" in wrong("3.B", whole, MultiHeadAttentionWrapper)
    def backwards(wrapper, mha):
        with torch.no_grad():
            mha.W_query.weight.zero_()

    assert "backwards changed mha" in wrong("3.B", backwards, MultiHeadAttentionWrapper)
    unanswered("3.B", stub, MultiHeadAttentionWrapper)


# --- chapter 4 ---------------------------------------------------------------------------------------------------


def test_4_1():
    assert passes("4.1", attention=2_360_064, feed_forward=4_722_432).message.startswith(
        "attention 2,360,064, feed-forward 4,722,432: the feed-forward module holds 2.0 times as many")
    assert wrong("4.1", 4_722_432, 2_360_064) == "your two counts are swapped: which module has the wider matrices?"
    assert wrong("4.1", 2_359_296, 4_722_432).startswith("`attention` counts the weight matrices only")
    assert wrong("4.1", 2_360_064, 4_718_592).startswith("`feed_forward` counts the weight matrices only")
    assert wrong("4.1", 2_360_064 + 1024**2, 4_722_432) == (
        "`attention` also counts the causal mask: a buffer, not a parameter")
    unanswered("4.1", attention=..., feed_forward=...)


def test_4_1_names_every_wrong_count_at_once():
    message = wrong("4.1", 2_359_296, 4_718_592)
    assert "`attention` counts the weight matrices only" in message
    assert "`feed_forward` counts the weight matrices only" in message
    message = wrong("4.1", 2_360_064 + 1024**2, 4_722_433)
    assert "`attention` also counts the causal mask" in message
    assert "`feed_forward` is 4,722,433, not the number of parameters of the block's ff module" in message
    message = wrong("4.1", 2_360_064, 1)
    assert "`attention`" not in message and "`feed_forward` is 1," in message  # the right count is not named


def gpt2_answers(**changes):
    names = {"gpt2-medium": "gpt2-medium (355M)", "gpt2-large": "gpt2-large (774M)", "gpt2-xl": "gpt2-xl (1558M)"}
    configs = {name: {**GPT_CONFIG_124M, **GPT2_SIZES[size]} for name, size in names.items()}
    params = {"gpt2-medium": 406_212_608, "gpt2-large": 838_220_800, "gpt2-xl": 1_637_792_000}
    mib = {name: n * 4 / 1024**2 for name, n in params.items()}
    return {"configs": configs, "params": params, "mib": mib, **changes}


def test_4_2():
    result = passes("4.2", **gpt2_answers())
    assert "  gpt2-xl       1,637,792,000 parameters  1,557,380,800 with weight tying   6247.68 MiB" in result.message
    answers = gpt2_answers()
    answers["configs"]["gpt2-medium"] = {**answers["configs"]["gpt2-medium"], "n_layers": 16, "n_heads": 24}
    assert wrong("4.2", **answers) == "configs['gpt2-medium'] has n_layers=16, but gpt2-medium has n_layers=24"
    tied = {"gpt2-medium": 354_749_440, "gpt2-large": 773_891_840, "gpt2-xl": 1_557_380_800}
    assert "leaves out the output head (the count with weight tying)" in wrong("4.2", **gpt2_answers(params=tied))
    in_mb = {name: n * 4 / 1e6 for name, n in gpt2_answers()["params"].items()}
    assert "is in MB (10^6 bytes); a MiB is 1024 × 1024 bytes" in wrong("4.2", **gpt2_answers(mib=in_mb))
    assert "has no entry for 'gpt2-xl'" in wrong("4.2", **gpt2_answers(mib={"gpt2-medium": 1, "gpt2-large": 2}))
    unanswered("4.2", **gpt2_answers(params={"gpt2-medium": ..., "gpt2-large": ..., "gpt2-xl": ...}))


def separate_dropout(attn_key="drop_rate_attn", shortcut=True):
    """A GPTModel with three dropout rates, as a subclass of the final GPTModel."""

    class GPTModelSeparateDropout(GPTModel):
        def __init__(self, cfg):
            super().__init__({**{k: v for k, v in cfg.items() if not k.startswith("drop_rate")},
                              "drop_rate": cfg["drop_rate_emb"]})
            for block in self.trf_blocks:
                if shortcut:
                    block.drop_shortcut = nn.Dropout(cfg["drop_rate_shortcut"])
                block.att.dropout = nn.Dropout(cfg[attn_key])

    return GPTModelSeparateDropout


def test_4_3():
    assert "each dropout layer takes its own rate" in passes("4.3", separate_dropout()).message
    assert wrong("4.3", separate_dropout(attn_key="drop_rate_shortcut")) == (
        "trf_blocks[0].att.dropout has p=0.2, the drop_rate_shortcut of the config; a block's attention dropout "
        "(trf_blocks[i].att.dropout) should use drop_rate_attn")
    assert wrong("4.3", separate_dropout(shortcut=False)).startswith(
        "trf_blocks[0].drop_shortcut has p=0.1, the drop_rate_emb of the config")
    assert wrong("4.3", GPTModel).startswith(
        "GPTModel(cfg) raised ValueError: bad GPT config: missing keys ['drop_rate']")
    assert "which line still reads it?" in wrong("4.3", lambda cfg: nn.Dropout(cfg["drop_rate"]))

    class Unused(separate_dropout()):
        def forward(self, in_idx):  # the shortcut dropout is never applied
            x = self.drop_emb(self.tok_emb(in_idx) + self.pos_emb(torch.arange(in_idx.shape[1])))
            for block in self.trf_blocks:
                x = x + block.att(block.norm1(x))
                x = x + block.ff(block.norm2(x))
            return self.out_head(self.final_norm(x))

    assert wrong("4.3", Unused).startswith("with only drop_rate_shortcut=0.5, the training-mode outputs are the same")
    unanswered("4.3", stub)


def test_4_a():
    assert passes("4.A", without_cache=5350, with_cache=103).message.startswith(
        "5,350 positions without the cache, 103 with it")
    assert wrong("4.A", 10_400, 103).startswith("10,400 feeds all 104 tokens at every step")
    assert wrong("4.A", 5450, 103).startswith("5,450 is one token per step too many")
    assert wrong("4.A", 5350, 104).startswith("104 counts the last new token too")
    unanswered("4.A", without_cache=..., with_cache=...)


# --- chapter 5 ---------------------------------------------------------------------------------------------------

VOCAB = {"closer": 0, "every": 1, "effort": 2, "forward": 3, "inches": 4, "moves": 5, "pizza": 6, "toward": 7, "you": 8}
LOGITS = torch.tensor([4.51, 0.89, -1.90, 6.75, 1.63, -1.62, -1.89, 6.28, 1.79])


def test_5_1():
    exact = torch.softmax(LOGITS / 5, dim=0)[6].item()
    result = passes("5.1", counts={1: 0, 0.1: 0, 5: 32}, probability=round(exact, 4), logits=LOGITS, vocab=VOCAB)
    assert "is drawn 0 times at temperature 1, 0 at 0.1 and 32 at 5" in result.message
    assert "is the sampled frequency (32 / 1,000)" in wrong("5.1", {1: 0, 0.1: 0, 5: 32}, 0.032, LOGITS, VOCAB)
    assert "looks like a fraction" in wrong("5.1", {1: 0, 0.1: 0, 5: 0.032}, exact, LOGITS, VOCAB)
    assert wrong("5.1", {1: 0, 0.1: 0, 5: 43}, exact, LOGITS, VOCAB).startswith(
        "at temperature 5, 'pizza' is drawn another number of times than 43")
    at_1 = torch.softmax(LOGITS, dim=0)[6].item()
    assert "is the probability at temperature 1" in wrong("5.1", {1: 0, 0.1: 0, 5: 32}, at_1, LOGITS, VOCAB)
    assert "`counts[5]`" in unanswered("5.1", {1: 0, 0.1: 0, 5: ...}, ..., LOGITS, VOCAB)


def test_5_1_names_every_wrong_field_at_once():
    exact = torch.softmax(LOGITS / 5, dim=0)[6].item()
    message = wrong("5.1", {1: 3, 0.1: 0, 5: 43}, 0.5, LOGITS, VOCAB)
    assert "at temperature 1, 'pizza' is drawn another number of times than 3" in message
    assert "at temperature 5, 'pizza' is drawn another number of times than 43" in message
    assert "`probability` = 0.5000 is not the probability of 'pizza' at temperature 5" in message
    assert "temperature 0.1" not in message  # the right count is not named
    message = wrong("5.1", {1: 0, 0.1: 0, 5: 0.032}, round(exact, 4) + 0.01, LOGITS, VOCAB)
    assert "counts[5] = 0.032 looks like a fraction" in message and "`probability` =" in message


def test_5_2():
    right = {"T=0.1": 2, "T=1": 4, "T=5": 9, "T=5, top-k=3": 3}
    result = passes("5.2", distinct=right, predictable_task="a", logits=LOGITS)
    assert "T=0.1: 2, T=1: 4, T=5: 9, T=5, top-k=3: 3" in result.message
    nonzero = {**right, "T=0.1": 9}
    assert "that many words have a probability above zero" in wrong("5.2", nonzero, "a", LOGITS)
    assert "which task wants predictable text" in wrong("5.2", right, "b", LOGITS)
    assert "count the lines of print_sampled_tokens" in wrong("5.2", {**right, "T=5, top-k=3": 4}, "a", LOGITS)
    unanswered("5.2", distinct={name: ... for name in right}, predictable_task=..., logits=LOGITS)


def test_5_3():
    both = [{"temperature": 0.0, "top_k": None}, {"temperature": 1.4, "top_k": 1}]
    assert "at temperature 0 (whatever top_k), or with top_k=1" in passes("5.3", both, generate).message
    assert wrong("5.3", [{"temperature": 1.0, "top_k": None}], generate) == (
        "temperature=1.0, top_k=None is not deterministic: with different seeds it generated different tokens")
    assert "a second way that keeps the temperature above 0" in wrong("5.3", both[:1], generate)
    assert "a second way, whatever top_k is" in wrong("5.3", both[1:], generate)
    assert "raised ValueError: top_k must be None or an integer" in wrong(
        "5.3", [{"temperature": 1.0, "top_k": 0}], generate)
    unanswered("5.3", settings=[...], generate=generate)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, verdict):
    """The book's checkpoint of a TINY_CONFIG model trained for two epochs on the start of the story."""
    text = verdict[:4000]
    train_loader = create_dataloader_v1(text, batch_size=4, max_length=32, stride=32, shuffle=False)
    torch.manual_seed(123)
    model = GPTModel(TINY_CONFIG)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    for _ in range(2):
        train_epoch(model, optimizer, train_loader)
    path = tmp_path_factory.mktemp("checkpoint") / "model_and_optimizer.pth"
    torch.save({"model_state_dict": model.state_dict(), "optimizer_state_dict": optimizer.state_dict()}, path)
    return path, train_loader


def train_epoch(model, optimizer, train_loader):
    model.train()
    for inputs, targets in train_loader:
        optimizer.zero_grad()
        logits = model(inputs)
        torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten()).backward()
        optimizer.step()


def resumer(train_loader, load_model=True, load_optimizer=True, epochs=1):
    def resume(path):
        saved = torch.load(path, weights_only=True)
        torch.manual_seed(123)
        model = GPTModel(TINY_CONFIG)
        if load_model:
            model.load_state_dict(saved["model_state_dict"])
        optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
        if load_optimizer:
            optimizer.load_state_dict(saved["optimizer_state_dict"])
        for _ in range(epochs):
            train_epoch(model, optimizer, train_loader)
        return model, optimizer

    return resume


@pytest.mark.slow
def test_5_4(checkpoint):
    path, train_loader = checkpoint
    steps = len(train_loader)
    result = passes("5.4", resume=resumer(train_loader), checkpoint=path, train_loader=train_loader)
    assert f"the optimizer went on from step {2 * steps} to {3 * steps} (one epoch of {steps} steps)" in result.message
    assert f"the checkpoint's optimizer state (step {2 * steps}) was not loaded" in wrong(
        "5.4", resumer(train_loader, load_optimizer=False), path, train_loader)
    assert wrong("5.4", resumer(train_loader, load_model=False), path, train_loader).startswith(
        "the model did not continue from the saved weights")
    assert f"the optimizer took {2 * steps} steps after the checkpoint's" in wrong(
        "5.4", resumer(train_loader, epochs=2), path, train_loader)
    assert "<lambda> should return (model, optimizer)" in wrong("5.4", lambda p: None, path, train_loader)
    unanswered("5.4", stub, path, train_loader)


@pytest.fixture(scope="module")
def stand_ins(tmp_path_factory):
    """Two small random GPT-2 models saved in the Hugging Face format, loaded as OpenAI's weights would be."""
    folder = tmp_path_factory.mktemp("gpt2")
    small = load_pretrained_gpt2(save_random_gpt2(folder / "small", emb_dim=32, n_layers=1))
    larger = load_pretrained_gpt2(save_random_gpt2(folder / "larger", emb_dim=48, n_layers=2, n_heads=4))
    return small, larger


def verdict_losses(model, num_batches=None):
    """The model's train and validation losses on the story, as in the book's section 5.1.3."""
    text = load_text("the-verdict.txt")
    split = int(0.9 * len(text))
    losses = []
    for part, drop_last in ((text[:split], True), (text[split:], False)):
        part_loader = create_dataloader_v1(part, batch_size=2, max_length=256, stride=256, shuffle=False,
                                           drop_last=drop_last)
        with torch.no_grad():
            losses.append(calc_loss_loader(part_loader, model.eval(), "cpu", num_batches=num_batches))
    return losses


def unigram_model(model: GPTModel) -> GPTModel:
    """A copy of `model` that predicts, at every position, how often each token occurs in the story's training part
    (its train and validation losses differ, unlike a random model's)."""
    text = load_text("the-verdict.txt")
    counts = torch.bincount(torch.tensor(gpt2_encoding().encode(text[: int(0.9 * len(text))])), minlength=50257)
    model = copy.deepcopy(model)
    with torch.no_grad():
        model.final_norm.scale.zero_()
        model.final_norm.shift.zero_()
        model.final_norm.shift[0] = 1.0  # every position's vector is (1, 0, 0, ...)
        model.out_head.weight.zero_()
        model.out_head.weight[:, 0] = (counts.float() + 0.1).log()
    return model


@pytest.mark.slow
def test_5_5(stand_ins):
    model = stand_ins[0]
    train_loss, val_loss = verdict_losses(model)
    result = passes("5.5", model=model, train_loss=round(train_loss, 3), val_loss=round(val_loss, 3))
    assert "for this model (3,237,408 parameters, emb_dim 32, 1 layer)" in result.message
    assert "These are the losses of an untrained model" in result.message
    unigram = unigram_model(model)
    train_loss, val_loss = verdict_losses(unigram)
    assert val_loss - train_loss > 0.1
    assert "untrained" not in passes("5.5", unigram, train_loss, val_loss).message
    assert wrong("5.5", unigram, val_loss, train_loss) == "your two losses are swapped"
    assert "is the perplexity, exp(loss)" in wrong("5.5", unigram, math.exp(train_loss), val_loss)
    first_batches, _ = verdict_losses(unigram, num_batches=3)
    assert "close but not equal: was the model in eval mode" in wrong("5.5", unigram, first_batches, val_loss)
    unanswered("5.5", model=..., train_loss=..., val_loss=...)


@pytest.mark.slow
def test_5_6(stand_ins):
    small, larger = stand_ins
    tokenizer = gpt2_encoding()
    prompt = torch.tensor([tokenizer.encode("Every effort moves you")])
    texts = {name: tokenizer.decode(generate(m, prompt, 25, 256)[0].tolist())
             for name, m in (("small", small), ("larger", larger))}
    models = {"small": small, "larger": larger}
    result = passes("5.6", models=models, texts=texts)
    assert result.message.startswith("each text is its model's greedy continuation; side by side, smallest first:")
    swapped = {"small": texts["larger"], "larger": texts["small"]}
    assert wrong("5.6", models, swapped) == "texts['small'] is what 'larger' generates"
    assert "have the same size" in wrong("5.6", {"a": small, "b": small}, {"a": texts["small"], "b": texts["small"]})
    torch.manual_seed(123)
    sampled = tokenizer.decode(generate(small, prompt, 25, 256, temperature=1.0)[0].tolist())
    assert "is not what models['small'] generates greedily" in wrong("5.6", models, {**texts, "small": sampled})
    unanswered("5.6", models=models, texts={"small": ..., "larger": ...})


def test_5_a():
    result = passes("5.A", first_below_half=82, steps_above_half=68)
    assert result.message.startswith("the rate first falls below half the peak at step 82 (0.004860); at step 81")
    assert "steps 14 to 81, 13 of them in the warmup" in result.message
    assert "still above half the peak (0.005): the decay ends at min_lr, not at 0" in wrong("5.A", 81, 68)
    assert "not the first such step (steps count from 0" in wrong("5.A", 83, 68)
    assert "is in the warmup, where the rate is still rising" in wrong("5.A", 10, 68)
    assert wrong("5.A", 90, 68).startswith("not step 90: its rate is 0.003712")
    assert wrong("5.A", 82, 55).startswith("55 counts the steps from the peak on only")
    assert "count them over all 135 steps" in wrong("5.A", 82, 67)
    assert "should be a whole number" in wrong("5.A", 82.5, 68)
    unanswered("5.A", first_below_half=..., steps_above_half=...)


# --- chapter 6 ---------------------------------------------------------------------------------------------------

CLASSIFIER = {**TINY_CONFIG, "context_length": 192, "emb_dim": 16, "n_heads": 2, "n_layers": 2, "drop_rate": 0.0,
              "qkv_bias": True}  # a context longer than the longest training message (188 tokens)


def spam_classifier(trainable: str = "last_block") -> GPTModel:
    from helpers.classifier import add_classification_head

    torch.manual_seed(123)
    model = GPTModel(CLASSIFIER)
    torch.manual_seed(123)
    return add_classification_head(model, num_classes=2, trainable=trainable)


def fine_tune(model: GPTModel, loader, steps: int = 4, position: int = -1) -> torch.optim.Optimizer:
    """A few AdamW steps on the classification loss read at token `position` (enough to change every weight)."""
    torch.manual_seed(123)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
    model.train()
    for (inputs, labels), _ in zip(loader, range(steps), strict=False):
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(inputs)[:, position, :], labels).backward()
        optimizer.step()
    return optimizer


def accuracy_at(model: GPTModel, loader, position: int = -1, num_batches: int | None = None) -> float:
    model.eval()
    correct = seen = 0
    with torch.no_grad():
        for i, (inputs, labels) in enumerate(loader):
            if num_batches is not None and i == num_batches:
                break
            correct += (model(inputs)[:, position, :].argmax(-1) == labels).sum().item()
            seen += len(labels)
    return correct / seen


@pytest.fixture(scope="module")
def spam_data(tmp_path_factory):
    """Notebook 09's split files, datasets padded to the longest message and to the model's context, loaders."""
    from helpers.spam import SpamDataset, create_spam_loaders, spam_splits

    tokenizer = gpt2_encoding()
    paths = spam_splits(tmp_path_factory.mktemp("sms-spam"))
    loaders = create_spam_loaders(paths, tokenizer)
    padded = {name: SpamDataset(paths[name], tokenizer, max_length=192) for name in ("train", "test")}
    test_192 = torch.utils.data.DataLoader(padded["test"], batch_size=8)
    return loaders, padded, test_192


def test_6_1(spam_data):
    (train_loader, _, test_loader), padded, test_192 = spam_data
    model = spam_classifier()
    fine_tune(model, torch.utils.data.DataLoader(padded["train"], batch_size=8))
    accuracy = accuracy_at(model, test_192)
    result = passes("6.1", train_dataset=padded["train"], model=model, test_loader=test_192, test_accuracy=accuracy)
    assert "every message is padded to 192 tokens, the whole context (the longest training message has 188)" in (
        result.message)
    assert f"Test accuracy {accuracy:.2%}" in result.message
    assert "pads to 188 tokens, the longest training message, as in section 6.3" in wrong(
        "6.1", train_loader.dataset, model, test_192, accuracy)
    assert "looks like a percentage" in wrong("6.1", padded["train"], model, test_192, 100 * accuracy)
    few_batches = accuracy_at(model, test_192, num_batches=3)
    assert few_batches != accuracy
    assert "compute it over every batch of the test loader" in wrong("6.1", padded["train"], model, test_192,
                                                                     few_batches)
    assert "the test loader's messages are 188 tokens long" in wrong("6.1", padded["train"], model, test_loader,
                                                                     accuracy)
    untrained = spam_classifier()
    assert "`model` was never fine-tuned" in wrong("6.1", padded["train"], untrained, test_192,
                                                   accuracy_at(untrained, test_192))
    unanswered("6.1", train_dataset=..., model=..., test_loader=..., test_accuracy=...)


def test_6_2(spam_data):
    (train_loader, _, test_loader), _, _ = spam_data
    model = spam_classifier()
    for param in model.parameters():
        param.requires_grad = True
    optimizer = fine_tune(model, train_loader)
    accuracy = accuracy_at(model, test_loader)
    result = passes("6.2", model=model, optimizer=optimizer, test_loader=test_loader, test_accuracy=accuracy)
    assert result.message.startswith(f"all {sum(p.numel() for p in model.parameters()):,} parameters were trained")
    # the book's recipe: only the last block, the final norm and the head
    recipe_model = spam_classifier()
    recipe_optimizer = fine_tune(recipe_model, train_loader)
    message = wrong("6.2", recipe_model, recipe_optimizer, test_loader, accuracy_at(recipe_model, test_loader))
    assert "parameters are still frozen (`tok_emb.weight` is one): make every parameter trainable" in message
    # unfrozen only after training: the optimizer never stepped the embeddings
    late = spam_classifier()
    late_optimizer = fine_tune(late, train_loader)
    for param in late.parameters():
        param.requires_grad = True
    message = wrong("6.2", late, late_optimizer, test_loader, accuracy_at(late, test_loader))
    assert message.startswith("`tok_emb.weight` (and ") and "set requires_grad = True before training" in message
    other = torch.optim.AdamW(spam_classifier("all").parameters())
    assert "the optimizer does not hold `tok_emb.weight`" in wrong("6.2", model, other, test_loader, accuracy)
    unanswered("6.2", model=model, optimizer=optimizer, test_loader=test_loader, test_accuracy=...)


def first_token_functions():
    def calc_loss_batch(input_batch, target_batch, model, device):
        logits = model(input_batch.to(device))[:, 0, :]
        return torch.nn.functional.cross_entropy(logits, target_batch.to(device))

    def calc_accuracy_loader(data_loader, model, device, num_batches=None):
        return accuracy_at(model, data_loader, position=0, num_batches=num_batches)

    return calc_loss_batch, calc_accuracy_loader


def test_6_3(spam_data):
    from helpers.classifier import calc_accuracy_loader as last_token_accuracy
    from helpers.classifier import calc_loss_batch as last_token_loss
    from helpers.teaching.exercises.ch06 import first_token_task

    reference, batches = first_token_task()
    assert accuracy_at(reference, batches, 0) == 1.0 and accuracy_at(reference, batches, -1) < 1.0
    (train_loader, _, test_loader), _, _ = spam_data
    model = spam_classifier()
    fine_tune(model, train_loader, position=0)
    accuracy = accuracy_at(model, test_loader, position=0)
    loss_fn, accuracy_fn = first_token_functions()
    result = passes("6.3", calc_loss_batch=loss_fn, calc_accuracy_loader=accuracy_fn, model=model,
                    test_loader=test_loader, test_accuracy=accuracy)
    assert result.message.startswith(f"both functions read the first token. Test accuracy {accuracy:.2%}")
    assert "calc_loss_batch still reads the last token" in wrong("6.3", last_token_loss, accuracy_fn, model,
                                                                 test_loader, accuracy)
    assert "calc_accuracy_loader still reads the last token" in wrong("6.3", loss_fn, last_token_accuracy, model,
                                                                      test_loader, accuracy)

    def second_token_loss(input_batch, target_batch, model, device):
        return torch.nn.functional.cross_entropy(model(input_batch)[:, 1, :], target_batch)

    assert "not the cross-entropy of the first token's scores" in wrong("6.3", second_token_loss, accuracy_fn, model,
                                                                       test_loader, accuracy)
    last = accuracy_at(model, test_loader, position=-1)
    assert last != accuracy
    assert "`test_accuracy` is read at the last token" in wrong("6.3", loss_fn, accuracy_fn, model, test_loader, last)
    assert "raised ValueError" in wrong("6.3", loss_fn, lambda *args: int("x"), model, test_loader, accuracy)
    untrained = spam_classifier()
    assert "`model` was never fine-tuned" in wrong("6.3", loss_fn, accuracy_fn, untrained, test_loader,
                                                   accuracy_at(untrained, test_loader, position=0))
    unanswered("6.3", calc_loss_batch=stub, calc_accuracy_loader=stub, model=model, test_loader=test_loader,
               test_accuracy=accuracy)
    unanswered("6.3", calc_loss_batch=loss_fn, calc_accuracy_loader=accuracy_fn, model=..., test_loader=test_loader,
               test_accuracy=...)


# --- the notebooks ask every exercise, and the solution notebooks pass every one ---------------------------------



def code_cells(path: Path) -> list[dict]:
    return [c for c in json.loads(path.read_text(encoding="utf-8"))["cells"] if c["cell_type"] == "code"]


def printed(cell: dict) -> str:
    return "".join("".join(o.get("text", "")) for o in cell.get("outputs", []) if o["output_type"] == "stream")


@pytest.mark.parametrize("number", list(EXERCISES))
def test_the_notebook_asks_it_unanswered_and_the_solution_passes_it(number):
    asked = [c for c in code_cells(ROOT / "notebooks" / f"{EXERCISES[number].notebook}.ipynb")
             if f'check("{number}"' in "".join(c["source"])]
    assert len(asked) == 1, f"exercise {number}: {len(asked)} check cells in {EXERCISES[number].notebook}"
    assert printed(asked[0]).startswith(f"○ Exercise {number}, not answered yet: ")
    solutions = ROOT / "notebooks" / "solutions" / f"ch{int(number.split('.')[0]):02d}_solutions.ipynb"
    solved = [c for c in code_cells(solutions) if f'check("{number}"' in "".join(c["source"])]
    assert len(solved) == 1, f"exercise {number}: {len(solved)} check cells in {solutions.name}"
    assert printed(solved[0]).startswith(f"✓ Exercise {number} passed: ")
