"""Text generation: from a prompt's token ids to new tokens, one at a time, and the KV cache that makes it fast.

Built in notebooks/06_gpt_model.ipynb: `generate_text_simple` in section 4.7 ("Generating text"), `KVCache`,
`new_kv_caches` and `generate(..., use_cache=True)` in "Beyond the book: faster generation with a KV cache". Built in
notebooks/07_pretraining.ipynb: `text_to_token_ids`/`token_ids_to_text` in section 5.1.1 ("Using GPT to generate
text"), and `sample_next_token` (temperature and top-k, the book's section 5.3, "Decoding strategies to control
randomness") with the sampling options of `generate`.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from helpers.checks import check_int
from helpers.gpt import GPTModel, check_token_ids
from helpers.text import ENDOFTEXT

__all__ = [
    "KVCache",
    "check_generation_args",
    "generate",
    "generate_text_simple",
    "new_kv_caches",
    "sample_next_token",
    "takes_kv_caches",
    "text_to_token_ids",
    "token_ids_to_text",
]


def text_to_token_ids(text: str, tokenizer) -> torch.Tensor:
    """Encode `text` into a batch of one: shape (1, num_tokens)."""
    return torch.tensor(tokenizer.encode(text, allowed_special={ENDOFTEXT})).unsqueeze(0)


def token_ids_to_text(token_ids: torch.Tensor, tokenizer) -> str:
    """Decode a batch of one (or a flat tensor) of token ids back into text."""
    return tokenizer.decode(token_ids.reshape(-1).tolist())


def check_generation_args(model: nn.Module, idx: torch.Tensor, max_new_tokens: int, context_size: int) -> None:
    """Raise for an empty or malformed prompt, a negative token budget or a bad context size, before any work."""
    check_int(max_new_tokens, "max_new_tokens", minimum=0)
    check_int(context_size, "context_size")
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


class KVCache:
    """The keys and values one attention layer has computed so far, so each generation step adds only the new ones.

    With `max_tokens` the storage for that many tokens is allocated once, at the first `append`; without it, the
    storage grows by doubling (up to the layer's context_length). `append` returns views of the filled part.
    For inference: use it under `torch.no_grad()`.
    """

    def __init__(self, max_tokens: int | None = None) -> None:
        self.max_tokens = check_int(max_tokens, "max_tokens", allow_none=True)
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
        num_tokens = check_int(num_tokens, "num_tokens", minimum=0)
        if num_tokens > self.num_tokens:
            raise ValueError(f"num_tokens must be at most the {self.num_tokens} cached tokens, got {num_tokens}")
        self.num_tokens = num_tokens

    @staticmethod
    def _storage(like: torch.Tensor, capacity: int) -> torch.Tensor:
        batch, num_heads, _, head_dim = like.shape
        return like.new_empty(batch, num_heads, capacity, head_dim)



def takes_kv_caches(model: nn.Module) -> bool:
    """Whether `model(ids, kv_caches)` works: a `helpers.gpt.GPTModel`, or a model that says so (`takes_kv_caches =
    True`, as `helpers.llama.LlamaModel` in notebooks/08_llama.ipynb)."""
    return isinstance(model, GPTModel) or getattr(model, "takes_kv_caches", False) is True


def new_kv_caches(model: GPTModel, max_tokens: int | None = None) -> list[KVCache]:
    """One empty `KVCache` per transformer block of `model`, to pass to `model(ids, kv_caches)` while generating.

    `max_tokens` (at most context_length) lets each cache allocate its storage once instead of growing it.
    """
    if not takes_kv_caches(model):
        raise TypeError(
            f"new_kv_caches needs a helpers.gpt.GPTModel (its forward takes kv_caches), got {type(model).__name__}"
        )
    return [KVCache(max_tokens) for _ in model.trf_blocks]


def _check_sampling(temperature: object, top_k: object, vocab_size: int | None) -> None:
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature >= 0.0:
        raise ValueError(f"temperature must be a number >= 0 (0 = greedy), got {temperature!r}")
    if top_k is not None and (
        isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1
        or (vocab_size is not None and top_k > vocab_size)
    ):
        raise ValueError(f"top_k must be None or an integer in [1, vocab_size={vocab_size}], got {top_k!r}")


def sample_next_token(
    logits: torch.Tensor,
    temperature: float = 0.0,
    top_k: int | None = None,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """The next token of each sequence, (batch, 1), from its last logits (batch, vocab_size).

    `top_k` keeps only the k largest logits; temperature 0 then picks the largest (greedy), temperature > 0
    samples from softmax(logits / temperature) with `torch.multinomial`, drawing from `generator` (a seeded
    `torch.Generator` gives the same text on every run; None draws from the global generator, as the book does).
    """
    if not isinstance(logits, torch.Tensor) or logits.dim() != 2 or not logits.is_floating_point():
        got = f"shape {tuple(logits.shape)}, dtype {logits.dtype}" if isinstance(logits, torch.Tensor) else type(logits)
        raise ValueError(f"logits must be a float tensor of shape (batch, vocab_size), got {got}")
    _check_sampling(temperature, top_k, logits.shape[-1])
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    if top_k is not None:
        top_logits, _ = torch.topk(logits, top_k)  # (batch, top_k), largest first
        logits = logits.masked_fill(logits < top_logits[:, -1:], float("-inf"))
    if temperature > 0.0:
        probs = torch.softmax(logits / temperature, dim=-1)
        return torch.multinomial(probs, num_samples=1, generator=generator)  # (batch, 1)
    return torch.argmax(logits, dim=-1, keepdim=True)  # (batch, 1)


def generate(
    model: nn.Module,
    idx: torch.Tensor,
    max_new_tokens: int,
    context_size: int,
    temperature: float = 0.0,
    top_k: int | None = None,
    eos_id: int | None = None,
    use_cache: bool = False,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Append up to `max_new_tokens` tokens to idx (batch, num_tokens): greedy, or sampled with temperature/top-k.

    Each step is `sample_next_token` on the last position's logits. Generation stops early once every sequence has
    produced `eos_id`, which is not appended; a sequence that stopped earlier than the others is padded with
    `eos_id`. `use_cache=True` (opt-in, for a `GPTModel` or a `LlamaModel`) feeds each step only the new token and
    reuses the keys and values of the tokens before it; once the text is longer than `context_size`, the window
    slides and every position changes, so the window is recomputed as without the cache. The tokens are the same
    either way; call `model.eval()` first to switch dropout off.
    """
    check_generation_args(model, idx, max_new_tokens, context_size)
    _check_sampling(temperature, top_k, model.cfg["vocab_size"] if isinstance(getattr(model, "cfg", None), Mapping)
                    else None)
    if use_cache and not takes_kv_caches(model):
        raise TypeError(
            f"use_cache=True needs a helpers.gpt.GPTModel (its forward takes KV caches), got {type(model).__name__}; "
            "generate without the cache (use_cache=False)"
        )
    cache_tokens = min(context_size, idx.shape[1] + max_new_tokens)  # what the caches will hold at most
    kv_caches = None
    finished = torch.zeros(idx.shape[0], 1, dtype=torch.bool, device=idx.device)
    for _ in range(max_new_tokens):
        with torch.no_grad():
            if not use_cache:
                logits = model(idx[:, -context_size:])
            elif kv_caches is None or idx.shape[1] > context_size:
                # (re)fill the caches with the whole window: at the start, and at every step once it slides
                kv_caches = new_kv_caches(model, cache_tokens)
                logits = model(idx[:, -context_size:], kv_caches)
            else:
                logits = model(idx[:, -1:], kv_caches)  # only the newest token; the others are cached
        idx_next = sample_next_token(logits[:, -1, :], temperature, top_k, generator)  # (batch, 1)
        if eos_id is not None:
            finished = finished | (idx_next == eos_id)
            if bool(finished.all()):
                break
            idx_next = idx_next.masked_fill(finished, eos_id)
        idx = torch.cat((idx, idx_next), dim=1)
    return idx
