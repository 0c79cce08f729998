"""Checks for the exercises of the book's chapter 3, coding attention mechanisms, asked in notebooks/05_attention.ipynb:
3.1 (SelfAttention_v1 with SelfAttention_v2's weights), 3.2 (a two-head wrapper), 3.3 (a GPT-2-sized attention
layer), and the course's 3.A (why the scores are divided by √d_k) and 3.B (MultiHeadAttention as separate heads).
Worked answers: notebooks/solutions/ch03_solutions.ipynb. Imported only when one of these exercises is checked.
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn

from helpers.attention import MultiHeadAttention
from helpers.teaching.exercises.registry import Wrong, exercise
from helpers.teaching.exercises.tools import as_number, as_whole, call, count_parameters, describe, name_of, on_meta

QKV = ("W_query", "W_key", "W_value")


@exercise("3.1", "05_attention", "SelfAttention_v1 with SelfAttention_v2's weights")
def _check_3_1(copy_weights: Any, sa_v1: nn.Module, sa_v2: nn.Module, inputs: torch.Tensor) -> str:
    v1, v2 = copy.deepcopy(sa_v1), copy.deepcopy(sa_v2)  # the learner's modules stay as they are
    before = {name: p.detach().clone() for name, p in v2.named_parameters()}
    call(f"{name_of(copy_weights)}(sa_v1, sa_v2)", copy_weights, v1, v2, hints={
        "leaf Variable": "an in-place copy into a trainable parameter needs `with torch.no_grad():` around it",
        "must match the size": "sa_v1 stores each matrix as (d_in, d_out), nn.Linear stores its weight as "
                               "(d_out, d_in)",
    })
    for name, p in v2.named_parameters():
        if not torch.equal(p.detach(), before[name]):
            raise Wrong(f"{name_of(copy_weights)} changed sa_v2's {name}: copy sa_v2's weights into sa_v1, not the "
                        "other way")
    shapes = ", ".join(f"{name} {tuple(getattr(v1, name).shape)}" for name in QKV)
    with torch.no_grad():
        out_v1 = call("sa_v1(inputs)", v1, inputs, hints={
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


@exercise("3.2", "05_attention", "a two-head wrapper with 2-dimensional context vectors")
def _check_3_2(mha: Any, batch: torch.Tensor) -> str:
    if not isinstance(mha, nn.Module):
        raise Wrong(f"`mha` should be a module (a MultiHeadAttentionWrapper), got {describe(mha)}")
    heads = getattr(mha, "heads", None)
    if not isinstance(heads, nn.ModuleList):
        raise Wrong("`mha` has no list of `heads`: the exercise uses the MultiHeadAttentionWrapper of section 3.6.1, "
                    "which runs separate CausalAttention heads")
    with torch.no_grad():
        out = call("mha(batch)", mha, batch)
    if len(heads) != 2:
        raise Wrong(f"`mha` has {len(heads)} head(s); the exercise asks for two")
    expected = (*batch.shape[:2], 2)
    if tuple(out.shape) != expected:
        raise Wrong(f"the context vectors have shape {tuple(out.shape)} but should be {expected}: the wrapper puts "
                    "its heads' outputs side by side, so their width is num_heads × d_out")
    return (f"two heads of one dimension each give context vectors of shape {expected}: each head contributes one "
            "column.")


@exercise("3.3", "05_attention", "a GPT-2-sized multi-head attention layer")
def _check_3_3(mha: Any, num_params: Any) -> str:
    reference = on_meta(lambda: MultiHeadAttention(768, 768, context_length=1024, dropout=0.0, num_heads=12))
    expected = count_parameters(reference)
    if not isinstance(mha, nn.Module) or not isinstance(getattr(mha, "W_query", None), nn.Linear):
        raise Wrong(f"`mha` should be a MultiHeadAttention module, got {describe(mha)}")
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
        out = call("mha(x) on x of shape (1, 4, 768)", mha, torch.zeros(1, 4, 768))
    if tuple(out.shape) != (1, 4, 768):
        raise Wrong(f"on an input of shape (1, 4, 768) the layer returns shape {tuple(out.shape)}")
    if mha.W_query.bias is not None:
        raise Wrong("the layer has biases in its query, key and value projections (qkv_bias=True); the exercise keeps "
                    "the default qkv_bias=False")
    count = as_whole(num_params, "`num_params`")
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


@exercise("3.A", "05_attention", "why the scores are divided by √d_k")
def _check_3_a(peak_scaled: Any, peak_unscaled: Any, sa: nn.Module, x: torch.Tensor) -> str:
    with torch.no_grad():
        queries, keys = sa.W_query(x), sa.W_key(x)
        scores = queries @ keys.T  # (num_tokens, num_tokens)
        scaled = torch.softmax(scores / keys.shape[-1] ** 0.5, dim=-1).max(dim=-1).values.mean().item()
        unscaled = torch.softmax(scores, dim=-1).max(dim=-1).values.mean().item()
    given = {"peak_scaled": as_number(peak_scaled, "`peak_scaled`"),
             "peak_unscaled": as_number(peak_unscaled, "`peak_unscaled`")}
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


@exercise("3.B", "05_attention", "MultiHeadAttention as a wrapper of separate heads")
def _check_3_b(load_heads: Any, wrapper_class: Any) -> str:
    d_in, num_heads, head_dim, context_length = 4, 3, 2, 5
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(123)
        mha = MultiHeadAttention(d_in, num_heads * head_dim, context_length, 0.0, num_heads=num_heads)
        wrapper = call(f"{name_of(wrapper_class)}({d_in}, {head_dim}, {context_length}, 0.0, num_heads={num_heads})",
                       wrapper_class, d_in, head_dim, context_length, 0.0, num_heads=num_heads)
        x = torch.randn(2, context_length, d_in)
    before = copy.deepcopy(mha.state_dict())
    call(f"{name_of(load_heads)}(wrapper, mha)", load_heads, wrapper, mha, hints={
        "leaf Variable": "an in-place copy into a trainable parameter needs `with torch.no_grad():` around it",
        "size": f"each head's projections are ({head_dim}, {d_in}), mha's ({num_heads * head_dim}, {d_in})",
    })
    if any(not torch.equal(value, mha.state_dict()[key]) for key, value in before.items()):
        raise Wrong(f"{name_of(load_heads)} changed mha: copy mha's weights into the wrapper's heads, not the other "
                    "way")
    with torch.no_grad():
        expected = mha(x)
        combined = call("wrapper(x)", wrapper, x)
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
