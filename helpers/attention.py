"""Causal and multi-head attention.

Built in notebooks/04_attention.ipynb: `CausalAttention` in section 3.5 ("Hiding future words with causal
attention"), `MultiHeadAttention` in section 3.6 ("Extending single-head attention to multi-head attention").
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["CausalAttention", "MultiHeadAttention"]


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
    attention weights only in training), which equals softmax(Q K^T / sqrt(head_dim)) V per head.
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
        # The book's mask, kept out of the state_dict; the causal attention below uses the same pattern.
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
