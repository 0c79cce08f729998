"""Checks for the course's exercises of notebooks/08_llama.ipynb (beyond the book: from GPT to Llama): 8.A (the
memory of a KV cache, with and without grouped-query attention) and 8.B (how wide SwiGLU must be to match GPT-2's
feed-forward parameters).
Worked answers: notebooks/solutions/ch08_solutions.ipynb. Imported only when one of these exercises is checked.
"""

from __future__ import annotations

from typing import Any

from helpers.checks import plural
from helpers.llama import SMOLLM2_CONFIG
from helpers.llama import kv_cache_bytes as reference_kv_cache_bytes
from helpers.teaching.exercises.registry import Wrong, exercise
from helpers.teaching.exercises.tools import as_whole, call, name_of

# configurations the check tries: SmolLM2-135M, a Llama 3.2 1B-like one, and one without grouping (multi-head)
_CONFIGS = {
    "SmolLM2-135M": SMOLLM2_CONFIG,
    "Llama 3.2 1B": {**SMOLLM2_CONFIG, "vocab_size": 128256, "emb_dim": 2048, "n_heads": 32, "n_kv_groups": 8,
                     "n_layers": 16, "hidden_dim": 8192, "rope_base": 500000.0},
    "multi-head": {**SMOLLM2_CONFIG, "n_kv_groups": 9, "n_layers": 2},
}


@exercise("8.A", "08_llama", "the memory of a KV cache")
def _check_8_a(kv_cache_bytes: Any) -> str:
    what = f"`{name_of(kv_cache_bytes)}`"
    for name, cfg in _CONFIGS.items():
        for num_tokens, width in ((1, 4), (1000, 2)):
            expected = reference_kv_cache_bytes(cfg, num_tokens, width)
            got = as_whole(call(what, kv_cache_bytes, cfg, num_tokens, width),
                           f"{what}({name} config, {num_tokens}, {width})")
            head_dim = cfg["emb_dim"] // cfg["n_heads"]
            hints = {
                expected // 2: "counts the keys only: the cache keeps the values too",
                expected // cfg["n_layers"]: "counts one layer: every block has its own cache",
                expected // cfg["n_kv_groups"] * cfg["n_heads"]: "counts every query head: the cache keeps only "
                "the n_kv_groups key/value heads",
                expected // width: "counts numbers, not bytes: multiply by bytes_per_number",
                expected // head_dim: "counts heads, not numbers: each head holds head_dim numbers",
            }
            if got != expected:
                detail = (f"it {hints[got]}" if got in hints else
                          "compare it with the picture: 2 × layers × key/value heads × head_dim × tokens × bytes")
                raise Wrong(f"for the {name} config with {plural(num_tokens, 'token')} of {width} bytes, {what} gives "
                            f"{got:,}; {detail}")
    smol = reference_kv_cache_bytes(SMOLLM2_CONFIG, 8192)
    return (f"{what} gives {smol / 2**20:,.0f} MiB for SmolLM2's 8,192 tokens in float32, and works for the Llama "
            "3.2 1B config and for multi-head attention too.")


@exercise("8.B", "08_llama", "how wide SwiGLU must be")
def _check_8_b(hidden_dim: Any) -> str:
    given = as_whole(hidden_dim, "`hidden_dim`")
    emb_dim = 768
    gpt2 = 2 * emb_dim * 4 * emb_dim  # GPT-2's two matrices, emb_dim x 4 emb_dim
    if given == 4 * emb_dim:
        raise Wrong("3072 is GPT-2's width; SwiGLU has three matrices of emb_dim × hidden_dim, GPT-2's two")
    if 3 * emb_dim * given != gpt2:
        raise Wrong(f"a SwiGLU of width {given:,} has 3 × 768 × {given:,} = {3 * emb_dim * given:,} weights; GPT-2 "
                    f"small's feed-forward has {gpt2:,} (leave the biases out)")
    return (f"3 × 768 × {given:,} = {gpt2:,} weights, as GPT-2's 2 × 768 × 3,072: 8/3 of emb_dim, as SmolLM2's "
            "1,536 = 8/3 × 576.")
