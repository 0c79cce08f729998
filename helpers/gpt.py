"""The GPT-2 architecture: its configurations, its layers and the model.

Built in notebooks/06_gpt_model.ipynb: `GPT_CONFIG_124M` in section 4.1 ("Coding an LLM architecture"),
`LayerNorm` in 4.2, `GELU` and `FeedForward` in 4.3, `TransformerBlock` in 4.5, `GPTModel` in 4.6, and
`parameter_counts` in "Beyond the book: parameters, strict loading, memory layout" ("Where the parameters live").
`TINY_CONFIG` is the small model trained in notebooks/07_pretraining.ipynb and, with a longer context, fine-tuned in
notebooks/09_classification_finetuning.ipynb. Text generation is `helpers.generate`.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from helpers.attention import KVCacheLike, MultiHeadAttention
from helpers.checks import check_flag, check_int
from helpers.embeddings import out_of_range_message

__all__ = [
    "CONFIG_KEYS",
    "GELU",
    "GPT2_SIZES",
    "GPT_CONFIG_124M",
    "TINY_CONFIG",
    "FeedForward",
    "GPTModel",
    "LayerNorm",
    "TransformerBlock",
    "check_config",
    "check_token_ids",
    "parameter_counts",
]

GPT_CONFIG_124M = {
    "vocab_size": 50257,  # vocabulary size of GPT-2's BPE tokenizer
    "context_length": 1024,  # longest input the model accepts (number of position embeddings)
    "emb_dim": 768,  # embedding dimension
    "n_heads": 12,  # attention heads per block
    "n_layers": 12,  # transformer blocks
    "drop_rate": 0.1,  # dropout rate
    "qkv_bias": False,  # bias in the query, key and value projections
}

CONFIG_KEYS = tuple(GPT_CONFIG_124M)

# The course's one small model: it trains on The Verdict in seconds per epoch on a 2-core CPU (notebook 07). Its
# 3.2 M parameters are almost all in the token embedding and the output head, which keep GPT-2's 50,257 rows.
TINY_CONFIG = {**GPT_CONFIG_124M, "context_length": 32, "emb_dim": 32, "n_heads": 2, "n_layers": 2}

# The sizes OpenAI released, as changes to GPT_CONFIG_124M (the book's exercise 4.2).
GPT2_SIZES = {
    "gpt2-small (124M)": {"emb_dim": 768, "n_layers": 12, "n_heads": 12},
    "gpt2-medium (355M)": {"emb_dim": 1024, "n_layers": 24, "n_heads": 16},
    "gpt2-large (774M)": {"emb_dim": 1280, "n_layers": 36, "n_heads": 20},
    "gpt2-xl (1558M)": {"emb_dim": 1600, "n_layers": 48, "n_heads": 25},
}


def check_config(cfg: Mapping[str, object]) -> None:
    """Raise a `ValueError` naming every missing, unknown or invalid key of a GPT config."""
    missing = [key for key in CONFIG_KEYS if key not in cfg]
    unknown = [key for key in cfg if key not in CONFIG_KEYS]
    if missing or unknown:
        raise ValueError(
            f"bad GPT config: missing keys {missing}, unknown keys {unknown}; the keys are {list(CONFIG_KEYS)}"
        )
    for key in ("vocab_size", "context_length", "emb_dim", "n_heads", "n_layers"):
        check_int(cfg[key], f"config key {key!r}")
    if cfg["emb_dim"] % cfg["n_heads"] != 0:
        raise ValueError(
            f"emb_dim={cfg['emb_dim']} must be divisible by n_heads={cfg['n_heads']} (each head gets emb_dim/n_heads)"
        )
    drop_rate = cfg["drop_rate"]
    if isinstance(drop_rate, bool) or not isinstance(drop_rate, (int, float)) or not 0.0 <= drop_rate < 1.0:
        raise ValueError(f"config key 'drop_rate' must be a number in [0, 1), got {drop_rate!r}")
    check_flag(cfg["qkv_bias"], "config key 'qkv_bias'")


class LayerNorm(nn.Module):
    """Layer normalization over the last dimension: zero mean, unit (biased) variance, then scale and shift."""

    def __init__(self, emb_dim: int) -> None:
        super().__init__()
        self.eps = 1e-5
        self.scale = nn.Parameter(torch.ones(emb_dim))
        self.shift = nn.Parameter(torch.zeros(emb_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(..., emb_dim) -> (..., emb_dim): scale * (x - mean) / sqrt(var + eps) + shift over the last dimension.

        PyTorch's fused kernel computes exactly this formula (biased variance) in one pass.
        """
        return F.layer_norm(x, self.scale.shape, self.scale, self.shift, self.eps)


class GELU(nn.Module):
    """The GELU activation in GPT-2's tanh approximation."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Elementwise 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))), computed by PyTorch's fused kernel."""
        return F.gelu(x, approximate="tanh")


class FeedForward(nn.Module):
    """The position-wise feed-forward network: emb_dim -> 4 emb_dim -> GELU -> emb_dim."""

    def __init__(self, cfg: Mapping[str, object]) -> None:
        super().__init__()
        self.layers = nn.Sequential(
            nn.Linear(cfg["emb_dim"], 4 * cfg["emb_dim"]),
            GELU(),
            nn.Linear(4 * cfg["emb_dim"], cfg["emb_dim"]),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(batch, num_tokens, emb_dim) -> (batch, num_tokens, emb_dim)."""
        return self.layers(x)


class TransformerBlock(nn.Module):
    """One GPT-2 block: pre-LayerNorm multi-head attention and feed-forward, each with dropout and a shortcut."""

    def __init__(self, cfg: Mapping[str, object]) -> None:
        super().__init__()
        self.att = MultiHeadAttention(
            d_in=cfg["emb_dim"],
            d_out=cfg["emb_dim"],
            context_length=cfg["context_length"],
            num_heads=cfg["n_heads"],
            dropout=cfg["drop_rate"],
            qkv_bias=cfg["qkv_bias"],
        )
        self.ff = FeedForward(cfg)
        self.norm1 = LayerNorm(cfg["emb_dim"])
        self.norm2 = LayerNorm(cfg["emb_dim"])
        self.drop_shortcut = nn.Dropout(cfg["drop_rate"])

    def forward(self, x: torch.Tensor, kv_cache: KVCacheLike | None = None) -> torch.Tensor:
        """(batch, num_tokens, emb_dim) -> same shape; with `kv_cache`, x holds only the tokens not yet cached."""
        shortcut = x
        x = self.norm1(x)
        x = self.att(x, kv_cache)
        x = self.drop_shortcut(x)
        x = x + shortcut

        shortcut = x
        x = self.norm2(x)
        x = self.ff(x)
        x = self.drop_shortcut(x)
        return x + shortcut


def check_token_ids(idx: object, vocab_size: int | None, context_length: int | None, cached: int = 0,
                    what: str = "input") -> None:
    """Raise unless `idx` is a non-empty (batch, num_tokens) integer tensor that fits the vocabulary and context.

    A `ValueError` for the wrong kind of tensor or too many tokens, an `IndexError` for an id outside
    [0, vocab_size) (`vocab_size`/`context_length` None: not checked).
    """
    if not isinstance(idx, torch.Tensor) or idx.dim() != 2 or idx.dtype.is_floating_point or idx.dtype == torch.bool:
        got = f"shape {tuple(idx.shape)}, dtype {idx.dtype}" if isinstance(idx, torch.Tensor) else type(idx).__name__
        raise ValueError(
            f"the {what} must be integer token ids of shape (batch, num_tokens), got {got} "
            "(a single sequence needs a batch dimension: ids.unsqueeze(0))"
        )
    if idx.shape[0] == 0 or idx.shape[1] == 0:
        raise ValueError(f"the {what} is empty (shape {tuple(idx.shape)}): give at least one token per sequence")
    if context_length is not None and cached + idx.shape[1] > context_length:
        with_cache = f" (with {cached} cached)" if cached else ""
        raise ValueError(
            f"{cached + idx.shape[1]} tokens{with_cache} exceed context_length={context_length}; "
            f"crop the input to its last {context_length} tokens"
        )
    if vocab_size is not None:
        message = out_of_range_message(idx, vocab_size)
        if message:
            raise IndexError(message)


class GPTModel(nn.Module):
    """GPT-2: token + position embeddings, `n_layers` transformer blocks, a final LayerNorm, the output head.

    The book's class with input checks and an optional KV cache (`forward(..., kv_caches)`, one cache per block:
    `helpers.generate.new_kv_caches`). Its state dict has the book's keys; a state dict saved from the book's own
    model, whose attention layers also store their causal `mask`, loads with `load_state_dict` as it is (the masks
    are checked, not stored).
    `store_linear_weights_transposed()` is an opt-in memory layout for faster generation on a CPU.
    """

    def __init__(self, cfg: Mapping[str, object]) -> None:
        super().__init__()
        check_config(cfg)
        self.cfg = dict(cfg)
        self.tok_emb = nn.Embedding(cfg["vocab_size"], cfg["emb_dim"])
        self.pos_emb = nn.Embedding(cfg["context_length"], cfg["emb_dim"])
        self.drop_emb = nn.Dropout(cfg["drop_rate"])
        self.trf_blocks = nn.Sequential(*[TransformerBlock(cfg) for _ in range(cfg["n_layers"])])
        self.final_norm = LayerNorm(cfg["emb_dim"])
        self.out_head = nn.Linear(cfg["emb_dim"], cfg["vocab_size"], bias=False)

    def forward(self, in_idx: torch.Tensor, kv_caches: list[KVCacheLike] | None = None) -> torch.Tensor:
        """Next-token logits (batch, num_tokens, vocab_size) for token ids (batch, num_tokens).

        With `kv_caches` (`helpers.generate.new_kv_caches`), `in_idx` holds only the tokens that follow the cached ones:
        they get the positions after them, and their keys and values are added to the caches.
        """
        if kv_caches is not None and len(kv_caches) != len(self.trf_blocks):
            raise ValueError(f"expected {len(self.trf_blocks)} KV caches (one per block), got {len(kv_caches)}")
        start = 0 if kv_caches is None else kv_caches[0].num_tokens
        check_token_ids(in_idx, self.cfg["vocab_size"], self.cfg["context_length"], start)
        num_tokens = in_idx.shape[1]
        tok_embeds = self.tok_emb(in_idx)  # (batch, num_tokens, emb_dim)
        positions = torch.arange(start, start + num_tokens, device=in_idx.device)
        pos_embeds = self.pos_emb(positions)  # (num_tokens, emb_dim)
        x = tok_embeds + pos_embeds
        x = self.drop_emb(x)
        if kv_caches is None:
            x = self.trf_blocks(x)
        else:
            for block, kv_cache in zip(self.trf_blocks, kv_caches, strict=True):
                x = block(x, kv_cache)
        x = self.final_norm(x)
        return self.out_head(x)  # (batch, num_tokens, vocab_size)

    def store_linear_weights_transposed(self) -> GPTModel:
        """Opt-in speed trick: keep every linear weight's values and shape, but store it in memory as (in, out) rows.

        That is how GPT-2's own Conv1D layers store it. Generating one token multiplies a single vector with each
        weight, and BLAS libraries (MKL on x86 CPUs) can do that faster reading the matrix as (in, out) rows
        (benchmarks/bench_gpt.py measures both layouts). The numbers are the same; the weights become
        non-contiguous tensors, so `w.view(-1)` fails and `safetensors` needs `.contiguous()` copies
        (`helpers.checkpoint.save_checkpoint` makes them). Returns the model.
        """
        for module in self.modules():
            if isinstance(module, nn.Linear):
                weight = module.weight
                module.weight = nn.Parameter(weight.detach().t().contiguous().t(), requires_grad=weight.requires_grad)
        return self


def parameter_counts(model: GPTModel) -> dict[str, int]:
    """The number of parameters of a `GPTModel` by where they live (works on the meta device too)."""
    groups = {"token embedding": 0, "position embedding": 0, "attention": 0, "feed-forward": 0, "layer norms": 0,
              "output head": 0}
    for name, param in model.named_parameters():
        if name.startswith("tok_emb."):
            group = "token embedding"
        elif name.startswith("pos_emb."):
            group = "position embedding"
        elif ".att." in name:
            group = "attention"
        elif ".ff." in name:
            group = "feed-forward"
        elif name.startswith("final_norm.") or ".norm1." in name or ".norm2." in name:
            group = "layer norms"
        elif name.startswith("out_head."):
            group = "output head"
        else:
            raise ValueError(f"parameter {name!r} is not part of a GPTModel")
        groups[group] += param.numel()
    return groups
