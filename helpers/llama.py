"""The Llama architecture: GPT-2 with RMSNorm, a SwiGLU feed-forward, rotary positions and grouped-query attention.

Built in notebooks/08_llama.ipynb, one change to the `GPTModel` of notebooks/06_gpt_model.ipynb at a time (the
book's bonus material "Converting GPT to Llama"): `RMSNorm` ("LayerNorm becomes RMSNorm"), `SiLU` and `FeedForward`
("GELU becomes SwiGLU"), `precompute_rope_params` and `compute_rope` ("Learned positions become rotary ones (RoPE)"),
`GroupedQueryAttention` ("Multi-head becomes grouped-query attention"), `TransformerBlock` and `LlamaModel` ("The
Llama model"). The weights of SmolLM2 are read by `helpers.llama_weights`; chatting is `helpers.smollm2`.

`LlamaModel` keeps the names the book's chapters use for GPT (`tok_emb`, `trf_blocks`, `final_norm`, `out_head`),
so chapter 6's head swap applies unchanged, and takes one `helpers.generate.KVCache` per block, as `GPTModel` does:
`helpers.generate.generate(..., use_cache=True)` works with either. Its caches hold `n_kv_groups` heads per layer,
not `n_heads`: grouped-query attention is what makes them small.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from helpers.attention import KVCacheLike, causal_mask, check_input
from helpers.checks import check_flag, check_int
from helpers.gpt import check_token_ids

__all__ = [
    "LLAMA_CONFIG_KEYS",
    "SDPA_SHARES_HEADS",
    "SMOLLM2_CONFIG",
    "FeedForward",
    "GroupedQueryAttention",
    "LlamaModel",
    "RMSNorm",
    "SiLU",
    "TransformerBlock",
    "check_llama_config",
    "compute_rope",
    "kv_cache_bytes",
    "precompute_rope_params",
]

# PyTorch 2.5 and later let scaled_dot_product_attention share key/value heads itself (enable_gqa), without copies
SDPA_SHARES_HEADS = tuple(int(part) for part in torch.__version__.split(".")[:2]) >= (2, 5)

# SmolLM2-135M (Hugging Face, 2024), as its GGUF file describes it (helpers.llama_weights reads the same numbers there)
SMOLLM2_CONFIG = {
    "vocab_size": 49152,  # its own byte-level BPE vocabulary
    "context_length": 8192,  # longest input (rotary positions have no table of their own: any length would run)
    "emb_dim": 576,  # embedding dimension
    "n_heads": 9,  # query heads per block
    "n_kv_groups": 3,  # key/value heads per block, each shared by n_heads / n_kv_groups = 3 query heads
    "n_layers": 30,  # transformer blocks
    "hidden_dim": 1536,  # width of the SwiGLU feed-forward network
    "rope_base": 100000.0,  # the base of the rotary frequencies (theta)
    "rms_norm_eps": 1e-5,  # added to the mean square before the square root
    "tie_weights": True,  # the output head is the token embedding
}
LLAMA_CONFIG_KEYS = tuple(SMOLLM2_CONFIG)


def check_llama_config(cfg: Mapping[str, object]) -> None:
    """Raise a `ValueError` (a `TypeError` for a value of the wrong kind) naming what is wrong with a Llama config."""
    if not isinstance(cfg, Mapping):
        raise TypeError(f"a Llama config is a dict with the keys {list(LLAMA_CONFIG_KEYS)}, got {type(cfg).__name__}")
    missing = [key for key in LLAMA_CONFIG_KEYS if key not in cfg]
    unknown = [key for key in cfg if key not in LLAMA_CONFIG_KEYS]
    if missing or unknown:
        raise ValueError(f"bad Llama config: missing keys {missing}, unknown keys {unknown}; the keys are "
                         f"{list(LLAMA_CONFIG_KEYS)}")
    for key in ("vocab_size", "context_length", "emb_dim", "n_heads", "n_kv_groups", "n_layers", "hidden_dim"):
        check_int(cfg[key], f"config key {key!r}")
    emb_dim, n_heads, n_kv_groups = cfg["emb_dim"], cfg["n_heads"], cfg["n_kv_groups"]
    if emb_dim % n_heads or (emb_dim // n_heads) % 2:
        raise ValueError(f"emb_dim={emb_dim} must split into n_heads={n_heads} heads of an even size (RoPE turns "
                         "pairs of numbers)")
    if n_heads % n_kv_groups:
        raise ValueError(f"n_heads={n_heads} must be a multiple of n_kv_groups={n_kv_groups} (each key/value head "
                         "serves the same number of query heads)")
    for key in ("rope_base", "rms_norm_eps"):
        value = cfg[key]
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"config key {key!r} must be a number > 0, got {value!r}")
    check_flag(cfg["tie_weights"], "config key 'tie_weights'")


class RMSNorm(nn.Module):
    """Root-mean-square normalization: x / sqrt(mean(x^2) + eps) times a trainable `weight`; no mean, no shift."""

    def __init__(self, emb_dim: int, eps: float = 1e-5) -> None:
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(emb_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., emb_dim) -> same shape, with PyTorch's fused kernel of the same formula."""
        return F.rms_norm(x, self.weight.shape, self.weight, self.eps)


class SiLU(nn.Module):
    """The SiLU (swish) activation x * sigmoid(x)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.silu(x)


class FeedForward(nn.Module):
    """The SwiGLU feed-forward network: fc3(SiLU(fc1(x)) * fc2(x)), emb_dim -> hidden_dim -> emb_dim, no biases."""

    def __init__(self, cfg: Mapping[str, object]) -> None:
        super().__init__()
        self.fc1 = nn.Linear(cfg["emb_dim"], cfg["hidden_dim"], bias=False)  # the gate
        self.fc2 = nn.Linear(cfg["emb_dim"], cfg["hidden_dim"], bias=False)  # the values it lets through
        self.fc3 = nn.Linear(cfg["hidden_dim"], cfg["emb_dim"], bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, num_tokens, emb_dim) -> (batch, num_tokens, emb_dim)."""
        return self.fc3(F.silu(self.fc1(x)) * self.fc2(x))


def precompute_rope_params(
    head_dim: int, theta_base: float = 10_000.0, context_length: int = 4096
) -> tuple[torch.Tensor, torch.Tensor]:
    """cos and sin of every position's rotation angles, each (context_length, head_dim).

    The pair (i, i + head_dim/2) of a head's numbers turns by position * theta_base^(-2i/head_dim): fast turns for
    the first pairs, slow ones for the last.
    """
    check_int(head_dim, "head_dim")
    check_int(context_length, "context_length")
    if head_dim % 2:
        raise ValueError(f"head_dim must be even (RoPE turns pairs of numbers), got {head_dim}")
    inv_freq = 1.0 / theta_base ** (torch.arange(0, head_dim, 2, dtype=torch.float32) / head_dim)  # (head_dim/2,)
    angles = torch.arange(context_length, dtype=torch.float32)[:, None] * inv_freq[None, :]  # (positions, head_dim/2)
    angles = torch.cat([angles, angles], dim=1)  # (positions, head_dim): pair i and i + head_dim/2 share an angle
    return torch.cos(angles), torch.sin(angles)


def compute_rope(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor, offset: int = 0) -> torch.Tensor:
    """Rotate x (batch, heads, num_tokens, head_dim) by the angles of positions offset, offset + 1, ..."""
    num_tokens, head_dim = x.shape[-2:]
    x1, x2 = x[..., : head_dim // 2], x[..., head_dim // 2 :]
    rotated = torch.cat((-x2, x1), dim=-1)  # each pair (a, b) -> (-b, a): the same pair turned by 90 degrees
    cos, sin = cos[offset : offset + num_tokens], sin[offset : offset + num_tokens]  # (num_tokens, head_dim)
    return x * cos + rotated * sin


class GroupedQueryAttention(nn.Module):
    """Causal attention with `num_heads` query heads that share `num_kv_groups` key/value heads, and RoPE.

    Each key/value head serves num_heads / num_kv_groups query heads (`group_size`); with num_kv_groups ==
    num_heads it is multi-head attention. No biases, no dropout. With a KV cache, `forward` takes only the tokens
    after the cached ones, and the cache stores num_kv_groups heads (rotated keys, values).
    """

    def __init__(self, d_in: int, d_out: int, num_heads: int, num_kv_groups: int, context_length: int) -> None:
        super().__init__()
        check_int(num_heads, "num_heads")
        check_int(num_kv_groups, "num_kv_groups")
        if d_out % num_heads or num_heads % num_kv_groups:
            raise ValueError(f"d_out={d_out} must be divisible by num_heads={num_heads}, and num_heads by "
                             f"num_kv_groups={num_kv_groups}")
        self.d_in, self.d_out, self.context_length = d_in, d_out, context_length
        self.num_heads, self.num_kv_groups = num_heads, num_kv_groups
        self.head_dim = d_out // num_heads
        self.group_size = num_heads // num_kv_groups
        self.W_query = nn.Linear(d_in, d_out, bias=False)
        self.W_key = nn.Linear(d_in, num_kv_groups * self.head_dim, bias=False)
        self.W_value = nn.Linear(d_in, num_kv_groups * self.head_dim, bias=False)
        self.out_proj = nn.Linear(d_out, d_out, bias=False)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                kv_cache: KVCacheLike | None = None) -> torch.Tensor:
        """Context vectors (batch, num_tokens, d_out) for x (batch, num_tokens, d_in); cos/sin from
        `precompute_rope_params`, indexed from the first new token's position."""
        cached = 0 if kv_cache is None else kv_cache.num_tokens
        check_input(x, self.d_in, self.context_length, cached)
        batch, num_tokens, _ = x.shape
        queries = self.W_query(x).view(batch, num_tokens, self.num_heads, self.head_dim).transpose(1, 2)
        keys = self.W_key(x).view(batch, num_tokens, self.num_kv_groups, self.head_dim).transpose(1, 2)
        values = self.W_value(x).view(batch, num_tokens, self.num_kv_groups, self.head_dim).transpose(1, 2)
        queries = compute_rope(queries, cos, sin, cached)  # (batch, num_heads, num_tokens, head_dim)
        keys = compute_rope(keys, cos, sin, cached)  # (batch, num_kv_groups, num_tokens, head_dim)
        if kv_cache is not None:
            keys, values = kv_cache.append(keys, values, self.context_length)  # (batch, num_kv_groups, all, head_dim)
        share = {"enable_gqa": self.group_size > 1} if SDPA_SHARES_HEADS else {}
        if not SDPA_SHARES_HEADS:
            keys = keys.repeat_interleave(self.group_size, dim=1)  # (batch, num_heads, all, head_dim)
            values = values.repeat_interleave(self.group_size, dim=1)
        attn_mask = None  # as in helpers.attention.MultiHeadAttention: new queries after cached keys need mask rows
        if cached and num_tokens > 1:
            attn_mask = ~causal_mask(cached + num_tokens)[cached:].to(x.device)  # True = may attend
        context = F.scaled_dot_product_attention(queries, keys, values, attn_mask=attn_mask,
                                                 is_causal=cached == 0 and num_tokens > 1, **share)
        return self.out_proj(context.transpose(1, 2).reshape(batch, num_tokens, self.d_out))


class TransformerBlock(nn.Module):
    """One Llama block: RMSNorm, grouped-query attention and a shortcut; RMSNorm, SwiGLU and a shortcut."""

    def __init__(self, cfg: Mapping[str, object]) -> None:
        super().__init__()
        self.att = GroupedQueryAttention(
            d_in=cfg["emb_dim"], d_out=cfg["emb_dim"], num_heads=cfg["n_heads"], num_kv_groups=cfg["n_kv_groups"],
            context_length=cfg["context_length"],
        )
        self.ff = FeedForward(cfg)
        self.norm1 = RMSNorm(cfg["emb_dim"], eps=cfg["rms_norm_eps"])
        self.norm2 = RMSNorm(cfg["emb_dim"], eps=cfg["rms_norm_eps"])

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor,
                kv_cache: KVCacheLike | None = None) -> torch.Tensor:
        """(batch, num_tokens, emb_dim) -> same shape."""
        x = x + self.att(self.norm1(x), cos, sin, kv_cache)
        return x + self.ff(self.norm2(x))


class LlamaModel(nn.Module):
    """A Llama: token embedding, `n_layers` blocks, a final RMSNorm and the output head (no position embedding).

    With `tie_weights` the output head shares the token embedding's matrix. `forward(ids, kv_caches)` as
    `helpers.gpt.GPTModel`'s: `helpers.generate.new_kv_caches(model)` gives the caches.
    """

    takes_kv_caches = True  # helpers.generate may pass it one KVCache per block

    def __init__(self, cfg: Mapping[str, object]) -> None:
        super().__init__()
        check_llama_config(cfg)
        self.cfg = dict(cfg)
        self.tok_emb = nn.Embedding(cfg["vocab_size"], cfg["emb_dim"])
        self.trf_blocks = nn.ModuleList([TransformerBlock(cfg) for _ in range(cfg["n_layers"])])
        self.final_norm = RMSNorm(cfg["emb_dim"], eps=cfg["rms_norm_eps"])
        self.out_head = nn.Linear(cfg["emb_dim"], cfg["vocab_size"], bias=False)
        if cfg["tie_weights"]:
            self.out_head.weight = self.tok_emb.weight
        cos, sin = precompute_rope_params(cfg["emb_dim"] // cfg["n_heads"], cfg["rope_base"], cfg["context_length"])
        self.register_buffer("cos", cos, persistent=False)  # computed, not learned: kept out of the state dict
        self.register_buffer("sin", sin, persistent=False)

    def forward(self, in_idx: torch.Tensor, kv_caches: list[KVCacheLike] | None = None) -> torch.Tensor:
        """Next-token logits (batch, num_tokens, vocab_size) for token ids (batch, num_tokens)."""
        if kv_caches is not None and len(kv_caches) != len(self.trf_blocks):
            raise ValueError(f"expected {len(self.trf_blocks)} KV caches (one per block), got {len(kv_caches)}")
        start = 0 if kv_caches is None else kv_caches[0].num_tokens
        check_token_ids(in_idx, self.cfg["vocab_size"], self.cfg["context_length"], start)
        x = self.tok_emb(in_idx)  # (batch, num_tokens, emb_dim): positions enter inside attention, through RoPE
        for i, block in enumerate(self.trf_blocks):
            x = block(x, self.cos, self.sin, None if kv_caches is None else kv_caches[i])
        return self.out_head(self.final_norm(x))  # (batch, num_tokens, vocab_size)

    def store_linear_weights_transposed(self) -> LlamaModel:
        """Opt-in speed trick, as `helpers.gpt.GPTModel`'s: the same weights, stored in memory as (in, out) rows.

        One generation step multiplies one vector with every weight, which BLAS libraries do faster in that layout
        (benchmarks/bench_llama.py measures both). A tied head stays tied. Returns the model.
        """
        for module in self.modules():
            if isinstance(module, nn.Linear):
                weight = module.weight
                module.weight = nn.Parameter(weight.detach().t().contiguous().t(), requires_grad=weight.requires_grad)
        if self.cfg["tie_weights"]:
            self.tok_emb.weight = self.out_head.weight
        return self


def kv_cache_bytes(cfg: Mapping[str, object], num_tokens: int, bytes_per_number: int = 4) -> int:
    """Bytes a KV cache of `num_tokens` tokens takes for a Llama config: keys and values of n_kv_groups heads in every
    layer (with n_kv_groups = n_heads, what multi-head attention would need)."""
    check_llama_config(cfg)
    check_int(num_tokens, "num_tokens", minimum=0)
    check_int(bytes_per_number, "bytes_per_number")
    head_dim = cfg["emb_dim"] // cfg["n_heads"]
    return 2 * cfg["n_layers"] * cfg["n_kv_groups"] * head_dim * num_tokens * bytes_per_number
