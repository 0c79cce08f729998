"""Causal and multi-head attention, with an optional KV cache for generation.

Built in notebooks/04_attention.ipynb: `CausalAttention` in section 3.5 ("Hiding future words with causal
attention"), `MultiHeadAttention` in section 3.6 ("Extending single-head attention to multi-head attention").
The KV cache (`KVCache`, the `kv_cache` argument of `MultiHeadAttention.forward`) is introduced in
notebooks/05_gpt_model.ipynb, section 4.9 ("Faster generation with a KV cache").
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


class KVCache:
    """The keys and values one attention layer has computed so far, so each generation step adds only the new ones.

    With `max_tokens` the storage for that many tokens is allocated once, at the first `append`; without it, the
    storage grows by doubling (up to the layer's context_length). `append` returns views of the filled part.
    For inference: use it under `torch.no_grad()`.
    """

    def __init__(self, max_tokens: int | None = None) -> None:
        if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int)
                                       or max_tokens < 1):
            raise ValueError(f"max_tokens must be None or a positive integer, got {max_tokens!r}")
        self.max_tokens = max_tokens
        self.keys: torch.Tensor | None = None  # (batch, num_heads, capacity, head_dim); the first num_tokens used
        self.values: torch.Tensor | None = None
        self.num_tokens = 0

    def append(self, keys: torch.Tensor, values: torch.Tensor, limit: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Add keys/values (batch, num_heads, new_tokens, head_dim); return all of them so far, the new ones last.

        `limit` is the layer's context_length: the cache never holds more tokens than that.
        """
        start, end = self.num_tokens, self.num_tokens + keys.shape[2]
        limit = min(limit, self.max_tokens or limit)
        if end > limit:
            raise ValueError(
                f"the KV cache holds {start} tokens; {keys.shape[2]} more would exceed its limit of {limit} tokens"
            )
        if self.keys is None:
            capacity = limit if self.max_tokens else min(limit, max(end, 16))
            self.keys, self.values = self._storage(keys, capacity), self._storage(values, capacity)
        elif keys.shape[:2] != self.keys.shape[:2] or keys.shape[3] != self.keys.shape[3]:
            raise ValueError(
                f"keys of shape {tuple(keys.shape)} do not fit a cache of (batch, num_heads, _, head_dim) = "
                f"{tuple(self.keys.shape)}"
            )
        elif end > self.keys.shape[2]:
            capacity = min(limit, max(end, 2 * start))
            self.keys = torch.cat([self.keys[:, :, :start], self._storage(keys, capacity - start)], dim=2)
            self.values = torch.cat([self.values[:, :, :start], self._storage(values, capacity - start)], dim=2)
        self.keys[:, :, start:end] = keys
        self.values[:, :, start:end] = values
        self.num_tokens = end
        return self.keys[:, :, :end], self.values[:, :, :end]

    def crop(self, num_tokens: int) -> None:
        """Forget every token after the first `num_tokens` (their storage is reused by later `append`s)."""
        if isinstance(num_tokens, bool) or not isinstance(num_tokens, int) or not 0 <= num_tokens <= self.num_tokens:
            raise ValueError(f"num_tokens must be an integer in [0, {self.num_tokens}], got {num_tokens!r}")
        self.num_tokens = num_tokens

    @staticmethod
    def _storage(like: torch.Tensor, capacity: int) -> torch.Tensor:
        batch, num_heads, _, head_dim = like.shape
        return like.new_empty(batch, num_heads, capacity, head_dim)


class MultiHeadAttention(nn.Module):
    """Multi-head causal self-attention: one projection split into `num_heads` heads (the book's section 3.6.2).

    The attention itself is `torch.nn.functional.scaled_dot_product_attention` (causal, dropout on the
    attention weights only in training), which equals softmax(Q K^T / sqrt(head_dim)) V per head. On a CPU
    PyTorch's fused kernel has no dropout: in training with dropout > 0 it computes the weights explicitly.
    With a `KVCache`, `forward` takes only the tokens that follow the cached ones (fast generation).
    """

    def __init__(
        self, d_in: int, d_out: int, context_length: int, dropout: float, num_heads: int, qkv_bias: bool = False
    ) -> None:
        super().__init__()
        if isinstance(num_heads, bool) or not isinstance(num_heads, int) or num_heads < 1:
            raise ValueError(f"num_heads must be a positive integer, got num_heads={num_heads!r}")
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

    def forward(self, x: torch.Tensor, kv_cache: KVCache | None = None) -> torch.Tensor:
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
