"""Causal and multi-head attention.

Built in notebooks/05_attention.ipynb: `CausalAttention` in section 3.5 ("Hiding future words with causal
attention"), `MultiHeadAttention` in section 3.6 ("Multi-head attention"), `attention_weights` for the figures of
that notebook. The `kv_cache` argument of `MultiHeadAttention.forward` takes a `helpers.generate.KVCache`,
introduced in notebooks/06_gpt_model.ipynb, "Beyond the book: faster generation with a KV cache".
"""

from __future__ import annotations

from typing import Protocol

import torch
import torch.nn.functional as F
from torch import nn

from helpers.checks import check_int

__all__ = [
    "CausalAttention",
    "KVCacheLike",
    "MultiHeadAttention",
    "attention_weights",
    "causal_mask",
    "check_input",
]


def check_input(x: torch.Tensor, d_in: int, context_length: int, cached: int = 0) -> None:
    """Raise a `ValueError` unless `x` is (batch, num_tokens, d_in) and fits the context after `cached` tokens."""
    if not isinstance(x, torch.Tensor) or x.dim() != 3 or x.shape[-1] != d_in:
        got = f"shape {tuple(x.shape)}" if isinstance(x, torch.Tensor) else type(x).__name__
        raise ValueError(f"expected an input of shape (batch, num_tokens, d_in={d_in}), got {got}")
    num_tokens = x.shape[1]
    if cached + num_tokens > context_length:
        already = f" after {cached} cached tokens" if cached else ""
        raise ValueError(
            f"the input has {num_tokens} tokens{already} but context_length={context_length}: the causal mask "
            f"covers at most {context_length} tokens"
        )


def causal_mask(context_length: int) -> torch.Tensor:
    """(context_length, context_length) bool mask, True above the diagonal: the future a query may not see."""
    return torch.triu(torch.ones(context_length, context_length, dtype=torch.bool), diagonal=1)


def _accept_book_mask(module, state_dict, prefix, local_metadata, strict, missing, unexpected, errors) -> None:
    """load_state_dict pre-hook: take the book's persistent `mask` buffer if it is the causal mask, else refuse.

    The book's classes save their mask in the state dict; ours rebuild it, so a checkpoint of the book's model
    loads into ours with a plain `load_state_dict`.
    """
    key = prefix + "mask"
    if key not in state_dict:
        return
    saved = state_dict.pop(key)
    n = module.context_length
    if tuple(saved.shape) != (n, n) or not torch.equal(saved.to(torch.bool).cpu(), causal_mask(n)):
        errors.append(
            f"{key}: a mask of shape {tuple(saved.shape)} that is not the causal mask of context_length={n} "
            "(True above the diagonal)"
        )


class CausalAttention(nn.Module):
    """Single-head causal self-attention with dropout on the attention weights (the book's section 3.5.3)."""

    def __init__(self, d_in: int, d_out: int, context_length: int, dropout: float, qkv_bias: bool = False) -> None:
        super().__init__()
        self.d_in = d_in
        self.d_out = d_out
        self.context_length = context_length
        self.num_heads = 1
        self.head_dim = d_out
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("mask", causal_mask(context_length), persistent=False)
        self.register_load_state_dict_pre_hook(_accept_book_mask)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Context vectors (batch, num_tokens, d_out) for inputs x (batch, num_tokens, d_in)."""
        check_input(x, self.d_in, self.context_length)
        num_tokens = x.shape[1]
        queries = self.W_query(x)  # (batch, num_tokens, d_out)
        keys = self.W_key(x)
        values = self.W_value(x)

        attn_scores = queries @ keys.transpose(1, 2)  # (batch, num_tokens, num_tokens)
        attn_scores = attn_scores.masked_fill(self.mask[:num_tokens, :num_tokens], -torch.inf)
        attn_weights = torch.softmax(attn_scores / keys.shape[-1] ** 0.5, dim=-1)
        attn_weights = self.dropout(attn_weights)
        return attn_weights @ values  # (batch, num_tokens, d_out)


class KVCacheLike(Protocol):
    """What `MultiHeadAttention.forward` needs of a KV cache (`helpers.generate.KVCache` is the course's)."""

    num_tokens: int

    def append(self, keys: torch.Tensor, values: torch.Tensor, limit: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Add the new keys/values; return all of them so far."""
        ...


class MultiHeadAttention(nn.Module):
    """Multi-head causal self-attention: one projection split into `num_heads` heads (the book's section 3.6.2).

    The attention itself is `torch.nn.functional.scaled_dot_product_attention` (causal, dropout on the
    attention weights only in training), which equals softmax(Q K^T / sqrt(head_dim)) V per head. On a CPU
    PyTorch's fused kernel has no dropout: in training with dropout > 0 it computes the weights explicitly.
    With a KV cache, `forward` takes only the tokens that follow the cached ones (fast generation).
    """

    def __init__(
        self, d_in: int, d_out: int, context_length: int, dropout: float, num_heads: int, qkv_bias: bool = False
    ) -> None:
        super().__init__()
        check_int(num_heads, "num_heads")
        if d_out % num_heads != 0:
            raise ValueError(f"d_out={d_out} must be divisible by num_heads={num_heads}")
        self.d_in = d_in
        self.d_out = d_out
        self.context_length = context_length
        self.num_heads = num_heads
        self.head_dim = d_out // num_heads
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.out_proj = nn.Linear(d_out, d_out)  # combines the heads' outputs
        self.dropout = nn.Dropout(dropout)
        # The book's mask, kept out of the state_dict (a book checkpoint's mask is accepted when loading):
        # is_causal=True below applies the same pattern; queries that follow cached keys need rows of it.
        self.register_buffer("mask", causal_mask(context_length), persistent=False)
        self.register_load_state_dict_pre_hook(_accept_book_mask)

    def forward(self, x: torch.Tensor, kv_cache: KVCacheLike | None = None) -> torch.Tensor:
        """Context vectors (batch, num_tokens, d_out) for inputs x (batch, num_tokens, d_in).

        With `kv_cache`, x holds only the tokens after the cached ones; their keys and values are added to it.
        """
        cached = 0 if kv_cache is None else kv_cache.num_tokens
        check_input(x, self.d_in, self.context_length, cached)
        batch, num_tokens, _ = x.shape
        queries, keys, values = project_heads(self, x)  # each (batch, num_heads, num_tokens, head_dim)
        if kv_cache is not None:
            keys, values = kv_cache.append(keys, values, self.context_length)  # (batch, num_heads, all, head_dim)
        # is_causal aligns the mask with the top-left corner: right without cached keys. One new token may see
        # every key (no mask); several new tokens after cached ones need the mask's rows at their positions.
        is_causal = cached == 0 and num_tokens > 1
        attn_mask = None
        if cached and num_tokens > 1:
            attn_mask = ~self.mask[cached : cached + num_tokens, : cached + num_tokens]  # True = may attend
        context = F.scaled_dot_product_attention(
            queries, keys, values, attn_mask=attn_mask, dropout_p=self.dropout.p if self.training else 0.0,
            is_causal=is_causal,
        )  # (batch, num_heads, num_tokens, head_dim)
        context = context.transpose(1, 2).reshape(batch, num_tokens, self.d_out)  # heads side by side again
        return self.out_proj(context)


def project_heads(
    module: CausalAttention | MultiHeadAttention, x: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Queries, keys and values of x (batch, num_tokens, d_in), each (batch, num_heads, num_tokens, head_dim)."""
    batch, num_tokens, _ = x.shape
    shape = (batch, num_tokens, module.num_heads, module.head_dim)
    return tuple(
        proj(x).view(shape).transpose(1, 2) for proj in (module.W_query, module.W_key, module.W_value)
    )


def attention_weights(
    module: CausalAttention | MultiHeadAttention, x: torch.Tensor, causal: bool = True
) -> torch.Tensor:
    """Each head's weights softmax(Q K^T / sqrt(head_dim)) as (batch, num_heads, num_tokens, num_tokens).

    For looking inside: the weights before dropout, with the causal mask applied when `causal` is True.
    A `CausalAttention` counts as one head.
    """
    check_input(x, module.d_in, module.context_length)
    num_tokens = x.shape[1]
    queries, keys, _ = project_heads(module, x)
    scores = queries @ keys.transpose(2, 3) / module.head_dim**0.5  # (batch, num_heads, num_tokens, num_tokens)
    if causal:
        scores = scores.masked_fill(module.mask[:num_tokens, :num_tokens], -torch.inf)
    return torch.softmax(scores, dim=-1)
