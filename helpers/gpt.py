"""The GPT-2 architecture and text generation.

Built in notebooks/05_gpt_model.ipynb: `GPT_CONFIG_124M` in section 4.1 ("Coding an LLM architecture"),
`LayerNorm` in 4.2, `GELU` and `FeedForward` in 4.3, `TransformerBlock` in 4.5, `GPTModel` in 4.6,
`parameter_groups` in 4.6, `generate_text_simple` in 4.7, and `generate` with a KV cache in the notebook's
section 4.9 ("Faster generation with a KV cache"; its sampling options are the book's chapter 5 `generate`).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from torch import nn

from helpers.attention import KVCache, MultiHeadAttention, causal_mask
from helpers.embeddings import out_of_range_message

__all__ = [
    "CONFIG_KEYS",
    "GELU",
    "GPT2_SIZES",
    "GPT_CONFIG_124M",
    "FeedForward",
    "GPTModel",
    "LayerNorm",
    "TransformerBlock",
    "check_config",
    "generate",
    "generate_text_simple",
    "parameter_groups",
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
        value = cfg[key]
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise ValueError(f"config key {key!r} must be a positive integer, got {value!r}")
    if cfg["emb_dim"] % cfg["n_heads"] != 0:
        raise ValueError(
            f"emb_dim={cfg['emb_dim']} must be divisible by n_heads={cfg['n_heads']} (each head gets emb_dim/n_heads)"
        )
    drop_rate = cfg["drop_rate"]
    if isinstance(drop_rate, bool) or not isinstance(drop_rate, (int, float)) or not 0.0 <= drop_rate < 1.0:
        raise ValueError(f"config key 'drop_rate' must be a number in [0, 1), got {drop_rate!r}")
    if not isinstance(cfg["qkv_bias"], bool):
        raise ValueError(f"config key 'qkv_bias' must be True or False, got {cfg['qkv_bias']!r}")


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

    def forward(self, x: torch.Tensor, kv_cache: KVCache | None = None) -> torch.Tensor:
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

    The book's class with input checks and an optional KV cache (`new_kv_caches`, `forward(..., kv_caches)`).
    Its state dict has the book's keys; a state dict saved from the book's own model, whose attention layers
    also store their causal `mask`, loads with `load_state_dict` as it is (the masks are checked, not stored),
    and `book_state_dict(model.state_dict())` adds the masks back for the book's model.
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

    def new_kv_caches(self, max_tokens: int | None = None) -> list[KVCache]:
        """One empty `KVCache` per transformer block, to pass to `forward` during generation.

        `max_tokens` (at most context_length) lets each cache allocate its storage once instead of growing it.
        """
        return [KVCache(max_tokens) for _ in self.trf_blocks]

    def forward(self, in_idx: torch.Tensor, kv_caches: list[KVCache] | None = None) -> torch.Tensor:
        """Next-token logits (batch, num_tokens, vocab_size) for token ids (batch, num_tokens).

        With `kv_caches` (from `new_kv_caches`), `in_idx` holds only the tokens that follow the cached ones:
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
        (`helpers.train.save_checkpoint` makes them). Returns the model.
        """
        for module in self.modules():
            if isinstance(module, nn.Linear):
                weight = module.weight
                module.weight = nn.Parameter(weight.detach().t().contiguous().t(), requires_grad=weight.requires_grad)
        return self


def book_state_dict(state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A `GPTModel` state dict with the causal `mask` buffers the book's own GPTModel also saves.

    `book_model.load_state_dict(book_state_dict(model.state_dict()))` then loads strictly into the book's class.
    """
    if "pos_emb.weight" not in state_dict:
        raise ValueError("not a GPTModel state dict: 'pos_emb.weight' is missing")
    mask = causal_mask(state_dict["pos_emb.weight"].shape[0])
    out = dict(state_dict)
    for key in state_dict:
        if key.endswith(".att.W_query.weight"):
            out[key.removesuffix("W_query.weight") + "mask"] = mask
    return out


def parameter_groups(model: GPTModel) -> dict[str, int]:
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


def check_generation_args(
    model: nn.Module, idx: torch.Tensor, max_new_tokens: int, context_size: int
) -> None:
    """Raise for an empty or malformed prompt, a negative token budget or a bad context size, before any work."""
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int) or max_new_tokens < 0:
        raise ValueError(f"max_new_tokens must be an integer >= 0, got {max_new_tokens!r}")
    if isinstance(context_size, bool) or not isinstance(context_size, int) or context_size < 1:
        raise ValueError(f"context_size must be a positive integer, got {context_size!r}")
    cfg = getattr(model, "cfg", None)
    cfg = cfg if isinstance(cfg, Mapping) else {}
    if "context_length" in cfg and context_size > cfg["context_length"]:
        raise ValueError(f"context_size={context_size} exceeds the model's context_length={cfg['context_length']}")
    check_token_ids(idx, cfg.get("vocab_size"), None, what="prompt")


def generate_text_simple(model: nn.Module, idx: torch.Tensor, max_new_tokens: int, context_size: int) -> torch.Tensor:
    """Append `max_new_tokens` greedy tokens to idx (batch, num_tokens), each from the last `context_size` tokens."""
    check_generation_args(model, idx, max_new_tokens, context_size)
    for _ in range(max_new_tokens):
        idx_cond = idx[:, -context_size:]  # crop the context to what the model accepts
        with torch.no_grad():
            logits = model(idx_cond)  # (batch, num_tokens, vocab_size)
        logits = logits[:, -1, :]  # (batch, vocab_size): the prediction for the next token
        probas = torch.softmax(logits, dim=-1)
        idx_next = torch.argmax(probas, dim=-1, keepdim=True)  # (batch, 1)
        idx = torch.cat((idx, idx_next), dim=1)
    return idx


def generate(
    model: nn.Module,
    idx: torch.Tensor,
    max_new_tokens: int,
    context_size: int,
    temperature: float = 0.0,
    top_k: int | None = None,
    eos_id: int | None = None,
    use_cache: bool = True,
) -> torch.Tensor:
    """Append up to `max_new_tokens` tokens to idx (batch, num_tokens): greedy, or sampled with temperature/top-k.

    temperature 0 picks the most likely token; temperature > 0 samples from softmax(logits / temperature)
    with `torch.multinomial` (seed the global RNG for reproducible text), after keeping only the `top_k`
    largest logits when `top_k` is given. Generation stops early once every sequence has produced `eos_id`,
    which is not appended; a sequence that stopped earlier than the others is padded with `eos_id`.
    With `use_cache` (and a model with `new_kv_caches`, like `GPTModel`), each step feeds only the new token
    and reuses the keys and values of the tokens before it; once the text is longer than `context_size`, the
    window slides and every position changes, so the window is recomputed as without the cache. The tokens
    are the same either way; call `model.eval()` first to switch dropout off.
    """
    check_generation_args(model, idx, max_new_tokens, context_size)
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature >= 0.0:
        raise ValueError(f"temperature must be a number >= 0 (0 = greedy), got {temperature!r}")
    vocab_size = model.cfg["vocab_size"] if isinstance(getattr(model, "cfg", None), Mapping) else None
    if top_k is not None and (
        isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1
        or (vocab_size is not None and top_k > vocab_size)
    ):
        raise ValueError(f"top_k must be None or an integer in [1, vocab_size={vocab_size}], got {top_k!r}")
    cached = use_cache and hasattr(model, "new_kv_caches")
    cache_tokens = min(context_size, idx.shape[1] + max_new_tokens)  # what the caches will hold at most
    kv_caches = None
    finished = torch.zeros(idx.shape[0], 1, dtype=torch.bool, device=idx.device)
    for _ in range(max_new_tokens):
        with torch.no_grad():
            if not cached:
                logits = model(idx[:, -context_size:])
            elif kv_caches is None or idx.shape[1] > context_size:
                # (re)fill the caches with the whole window: at the start, and at every step once it slides
                kv_caches = model.new_kv_caches(cache_tokens)
                logits = model(idx[:, -context_size:], kv_caches)
            else:
                logits = model(idx[:, -1:], kv_caches)  # only the newest token; the others are cached
        logits = logits[:, -1, :]  # (batch, vocab_size)
        if top_k is not None:
            top_logits, _ = torch.topk(logits, top_k)  # (batch, top_k), largest first
            logits = logits.masked_fill(logits < top_logits[:, -1:], float("-inf"))
        if temperature > 0.0:
            probs = torch.softmax(logits / temperature, dim=-1)
            idx_next = torch.multinomial(probs, num_samples=1)  # (batch, 1)
        else:
            idx_next = torch.argmax(logits, dim=-1, keepdim=True)  # (batch, 1)
        if eos_id is not None:
            finished = finished | (idx_next == eos_id)
            if bool(finished.all()):
                break
            idx_next = idx_next.masked_fill(finished, eos_id)
        idx = torch.cat((idx, idx_next), dim=1)
    return idx
