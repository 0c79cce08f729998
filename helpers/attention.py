"""Causal and multi-head attention.

Built in notebooks/04_attention.ipynb: `CausalAttention` in section 3.5 ("Hiding future words with causal
attention"), `MultiHeadAttention` in section 3.6 ("Extending single-head attention to multi-head attention").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = [
    "CausalAttention",
    "KVCache",
    "MultiHeadAttention",
    "attention_weights",
    "cached_attention",
    "causal_mask",
    "check_input",
]


def check_input(x: torch.Tensor, d_in: int, context_length: int) -> None:
    """Raise a `ValueError` unless `x` is (batch, num_tokens, d_in) with num_tokens <= context_length."""
    if x.dim() != 3 or x.shape[-1] != d_in:
        raise ValueError(
            f"expected an input of shape (batch, num_tokens, d_in={d_in}), got shape {tuple(x.shape)}"
        )
    num_tokens = x.shape[1]
    if num_tokens > context_length:
        raise ValueError(
            f"the input has {num_tokens} tokens but context_length={context_length}: the causal mask covers "
            f"at most {context_length} tokens"
        )


def causal_mask(context_length: int) -> torch.Tensor:
    """(context_length, context_length) bool mask, True above the diagonal: the future a query may not see."""
    return torch.triu(torch.ones(context_length, context_length, dtype=torch.bool), diagonal=1)


def attention_weights(
    module: CausalAttention | MultiHeadAttention, x: torch.Tensor, causal: bool = True
) -> torch.Tensor:
    """Each head's weights softmax(Q K^T / sqrt(head_dim)) as (batch, num_heads, num_tokens, num_tokens).

    For looking inside: the weights before dropout, with the causal mask applied when `causal` is True.
    A `CausalAttention` counts as one head.
    """
    check_input(x, module.d_in, module.context_length)
    batch, num_tokens, _ = x.shape
    num_heads = getattr(module, "num_heads", 1)
    head_dim = module.d_out // num_heads
    queries = module.W_query(x).view(batch, num_tokens, num_heads, head_dim).transpose(1, 2)
    keys = module.W_key(x).view(batch, num_tokens, num_heads, head_dim).transpose(1, 2)
    scores = queries @ keys.transpose(2, 3) / head_dim**0.5  # (batch, num_heads, num_tokens, num_tokens)
    if causal:
        scores = scores.masked_fill(module.mask[:num_tokens, :num_tokens], -torch.inf)
    return torch.softmax(scores, dim=-1)


class CausalAttention(nn.Module):
    """Single-head causal self-attention with dropout on the attention weights (the book's section 3.5.3)."""

    def __init__(self, d_in: int, d_out: int, context_length: int, dropout: float, qkv_bias: bool = False) -> None:
        super().__init__()
        self.d_in = d_in
        self.d_out = d_out
        self.context_length = context_length
        self.W_query = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_key = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.W_value = nn.Linear(d_in, d_out, bias=qkv_bias)
        self.dropout = nn.Dropout(dropout)
        self.register_buffer("mask", causal_mask(context_length), persistent=False)

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


class MultiHeadAttention(nn.Module):
    """Multi-head causal self-attention: one projection split into `num_heads` heads (the book's section 3.6.2).

    The attention itself is `torch.nn.functional.scaled_dot_product_attention` (causal, dropout on the
    attention weights only in training), which equals softmax(Q K^T / sqrt(head_dim)) V per head. On a CPU
    PyTorch's fused kernel has no dropout: in training with dropout > 0 it computes the weights explicitly.
    """

    def __init__(
        self, d_in: int, d_out: int, context_length: int, dropout: float, num_heads: int, qkv_bias: bool = False
    ) -> None:
        super().__init__()
        if num_heads < 1:
            raise ValueError(f"num_heads must be a positive integer, got num_heads={num_heads}")
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
        # The book's mask, kept out of the state_dict: is_causal=True below applies the same pattern; code that
        # needs it explicitly (queries offset from the keys, as with a KV cache) slices it.
        self.register_buffer("mask", causal_mask(context_length), persistent=False)

    def split_heads(self, t: torch.Tensor) -> torch.Tensor:
        """(batch, num_tokens, d_out) -> (batch, num_heads, num_tokens, head_dim)."""
        batch, num_tokens, _ = t.shape
        return t.view(batch, num_tokens, self.num_heads, self.head_dim).transpose(1, 2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Context vectors (batch, num_tokens, d_out) for inputs x (batch, num_tokens, d_in)."""
        check_input(x, self.d_in, self.context_length)
        batch, num_tokens, _ = x.shape
        queries = self.split_heads(self.W_query(x))  # (batch, num_heads, num_tokens, head_dim)
        keys = self.split_heads(self.W_key(x))
        values = self.split_heads(self.W_value(x))

        context = F.scaled_dot_product_attention(
            queries, keys, values, dropout_p=self.dropout.p if self.training else 0.0, is_causal=True
        )  # (batch, num_heads, num_tokens, head_dim)
        context = context.transpose(1, 2).reshape(batch, num_tokens, self.d_out)  # heads side by side again
        return self.out_proj(context)


# --- KV cache for generation (notebooks/05_gpt_model.ipynb, section 4.9) ---


class KVCache:
    """The keys and values one attention layer has computed so far, so each generation step adds only the new ones.

    Storage grows by doubling (up to the layer's context_length); `append` returns views of the filled part.
    For inference: use it under `torch.no_grad()`.
    """

    def __init__(self) -> None:
        self.keys: torch.Tensor | None = None  # (batch, num_heads, capacity, head_dim); the first num_tokens are used
        self.values: torch.Tensor | None = None
        self.num_tokens = 0

    def append(
        self, keys: torch.Tensor, values: torch.Tensor, max_tokens: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Add keys/values (batch, num_heads, new_tokens, head_dim); return all of them so far, the new ones last."""
        start, end = self.num_tokens, self.num_tokens + keys.shape[2]
        if end > max_tokens:
            raise ValueError(
                f"the KV cache holds {start} tokens; {keys.shape[2]} more would exceed context_length={max_tokens}"
            )
        if self.keys is not None and (
            keys.shape[:2] != self.keys.shape[:2] or keys.shape[3] != self.keys.shape[3]
        ):
            raise ValueError(
                f"keys of shape {tuple(keys.shape)} do not fit a cache of (batch, num_heads, _, head_dim) = "
                f"{tuple(self.keys.shape)}"
            )
        if self.keys is None or end > self.keys.shape[2]:
            capacity = min(max_tokens, max(end, 2 * start, 16))
            self.keys = self.grow(self.keys, keys, capacity)
            self.values = self.grow(self.values, values, capacity)
        self.keys[:, :, start:end] = keys
        self.values[:, :, start:end] = values
        self.num_tokens = end
        return self.keys[:, :, :end], self.values[:, :, :end]

    def grow(self, old: torch.Tensor | None, like: torch.Tensor, capacity: int) -> torch.Tensor:
        """A (batch, num_heads, capacity, head_dim) buffer holding the first num_tokens entries of `old`."""
        batch, num_heads, _, head_dim = like.shape
        new = like.new_empty(batch, num_heads, capacity, head_dim)
        if old is not None:
            new[:, :, : self.num_tokens] = old[:, :, : self.num_tokens]
        return new


def cached_attention(mha: MultiHeadAttention, x: torch.Tensor, kv_cache: KVCache) -> torch.Tensor:
    """`mha`'s context vectors (batch, num_tokens, d_out) for new tokens x that follow the tokens in `kv_cache`.

    The new tokens' keys and values are added to the cache; their queries attend to the cached keys and to
    themselves, so the result equals the rows of `mha(all tokens)` that belong to the new tokens.
    """
    check_input(x, mha.d_in, mha.context_length)
    batch, num_tokens, _ = x.shape
    start = kv_cache.num_tokens  # tokens seen before x
    queries = mha.split_heads(mha.W_query(x))  # (batch, num_heads, num_tokens, head_dim)
    keys, values = kv_cache.append(
        mha.split_heads(mha.W_key(x)), mha.split_heads(mha.W_value(x)), max_tokens=mha.context_length
    )  # (batch, num_heads, start + num_tokens, head_dim)
    # SDPA's is_causal aligns the mask top-left, right only when there is no cache (start == 0). One new token
    # may see every key; several new tokens after cached ones need the rows of the causal mask at their positions.
    causal = start == 0 and num_tokens > 1
    attn_mask = None if causal or num_tokens == 1 else ~mha.mask[start : start + num_tokens, : start + num_tokens]
    context = F.scaled_dot_product_attention(
        queries, keys, values, attn_mask=attn_mask, dropout_p=mha.dropout.p if mha.training else 0.0,
        is_causal=causal,
    )  # (batch, num_heads, num_tokens, head_dim)
    context = context.transpose(1, 2).reshape(batch, num_tokens, mha.d_out)
    return mha.out_proj(context)
