"""A Llama's weights from a GGUF file into `helpers.llama.LlamaModel`, and to and from `transformers`' Llama.

Built in notebooks/08_llama.ipynb, "Beyond the book: the weights in the GGUF file" (`llama_config_from_gguf`,
`unpermute_rope_rows`, `llama_state_dict_from_gguf`, `load_llama_gguf`) and "Beyond the book: the same logits as
transformers" (`hf_from_llama`, `llama_state_dict_from_hf`). `transformers` is imported only inside the functions that
need it.

llama.cpp turns the pairs (0, 1), (2, 3), ... of each head for RoPE; `helpers.llama.compute_rope`, as Hugging Face,
turns (i, i + head_dim/2). The converter that wrote the GGUF file reordered the rows of each head's query and key
weights so that its pairs hold what Hugging Face's do; `unpermute_rope_rows` puts them back.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING

import torch

from helpers.checks import check_state_dict
from helpers.gguf_file import GGUFFile, read_gguf
from helpers.llama import LlamaModel, check_llama_config, precompute_rope_params

if TYPE_CHECKING:
    from transformers import LlamaConfig, LlamaForCausalLM

__all__ = [
    "BLOCK_TENSORS",
    "hf_config_from_llama",
    "hf_from_llama",
    "hf_names",
    "hf_state_dict_from_llama",
    "llama_config_from_gguf",
    "llama_meta_model",
    "llama_state_dict_from_gguf",
    "llama_state_dict_from_hf",
    "load_llama_gguf",
    "permute_rope_rows",
    "unpermute_rope_rows",
]

# The GGUF names of one block's tensors -> ours (and Hugging Face's), in the order of LlamaModel's state dict
BLOCK_TENSORS = {
    "attn_q": ("att.W_query", "self_attn.q_proj"),
    "attn_k": ("att.W_key", "self_attn.k_proj"),
    "attn_v": ("att.W_value", "self_attn.v_proj"),
    "attn_output": ("att.out_proj", "self_attn.o_proj"),
    "ffn_gate": ("ff.fc1", "mlp.gate_proj"),
    "ffn_up": ("ff.fc2", "mlp.up_proj"),
    "ffn_down": ("ff.fc3", "mlp.down_proj"),
    "attn_norm": ("norm1", "input_layernorm"),
    "ffn_norm": ("norm2", "post_attention_layernorm"),
}
# GGUF metadata keys of a Llama's sizes -> our config keys
_GGUF_SIZES = {
    "context_length": "context_length", "embedding_length": "emb_dim", "attention.head_count": "n_heads",
    "block_count": "n_layers", "feed_forward_length": "hidden_dim",
}
# options our LlamaModel does not implement: a file that sets them holds another kind of model
_UNSUPPORTED = ("rope.scaling.type", "expert_count", "attention.sliding_window", "rope.scaling.factor")


def _open(source: str | os.PathLike | GGUFFile) -> GGUFFile:
    return source if isinstance(source, GGUFFile) else read_gguf(source)


def llama_config_from_gguf(source: str | os.PathLike | GGUFFile) -> dict[str, object]:
    """Our Llama config from a GGUF file's metadata; a `ValueError` for a file of another architecture."""
    gguf = _open(source)
    meta = gguf.metadata
    arch = meta.get("general.architecture")
    if arch != "llama":
        raise ValueError(f"{gguf.path.name} holds a {arch!r} model, not a 'llama' one: LlamaModel implements only "
                         "the Llama architecture (a Qwen, Gemma or Phi model differs in more than its weights)")
    used = [key for key in _UNSUPPORTED if f"llama.{key}" in meta]
    if used:
        raise ValueError(f"{gguf.path.name} is a Llama with options LlamaModel does not implement: {used}")
    lacking = [f"llama.{key}" for key in _GGUF_SIZES if f"llama.{key}" not in meta]
    if lacking:
        raise ValueError(f"{gguf.path.name} lacks the metadata {lacking}: it is not a complete Llama GGUF file")
    cfg = {ours: int(meta[f"llama.{key}"]) for key, ours in _GGUF_SIZES.items()}
    n_heads = cfg["n_heads"]
    cfg["n_kv_groups"] = int(meta.get("llama.attention.head_count_kv", n_heads))
    rope_dims = int(meta.get("llama.rope.dimension_count", cfg["emb_dim"] // n_heads))
    if rope_dims != cfg["emb_dim"] // n_heads:
        raise ValueError(f"{gguf.path.name} rotates {rope_dims} of each head's {cfg['emb_dim'] // n_heads} numbers; "
                         "LlamaModel rotates all of them")
    tokens = meta.get("tokenizer.ggml.tokens")
    embedding = gguf.tensors.get("token_embd.weight")
    vocab_size = embedding.shape[0] if embedding is not None else len(tokens or [])
    cfg = {
        "vocab_size": int(meta.get("llama.vocab_size", vocab_size)),
        "context_length": cfg["context_length"],
        "emb_dim": cfg["emb_dim"],
        "n_heads": n_heads,
        "n_kv_groups": cfg["n_kv_groups"],
        "n_layers": cfg["n_layers"],
        "hidden_dim": cfg["hidden_dim"],
        "rope_base": float(meta.get("llama.rope.freq_base", 10000.0)),
        # stored as float32 (9.9999997e-06 for 1e-5): the shortest decimal that rounds to it
        "rms_norm_eps": float(f"{meta.get('llama.attention.layer_norm_rms_epsilon', 1e-5):.7g}"),
        "tie_weights": "output.weight" not in gguf.tensors,
    }
    check_llama_config(cfg)
    return cfg


def unpermute_rope_rows(weight: torch.Tensor, n_heads: int) -> torch.Tensor:
    """Undo llama.cpp's reordering of a query or key weight (n_heads * head_dim, d_in): in each head, rows
    0, 1, 2, 3, ... (the pairs llama.cpp turns together) go back to rows 0, h, 1, h + 1, ... (h = head_dim / 2)."""
    rows, cols = weight.shape
    head_dim = rows // n_heads
    return weight.reshape(n_heads, head_dim // 2, 2, cols).transpose(1, 2).reshape(rows, cols)


def permute_rope_rows(weight: torch.Tensor, n_heads: int) -> torch.Tensor:
    """llama.cpp's reordering of a query or key weight (what a GGUF file stores); `unpermute_rope_rows` undoes it."""
    rows, cols = weight.shape
    head_dim = rows // n_heads
    return weight.reshape(n_heads, 2, head_dim // 2, cols).transpose(1, 2).reshape(rows, cols)


def llama_meta_model(cfg: Mapping[str, object]) -> LlamaModel:
    """A `LlamaModel` on the meta device: names and shapes only, no memory, no random numbers drawn."""
    with torch.device("meta"):
        return LlamaModel(cfg)


def _expected_shapes(cfg: Mapping[str, object]) -> dict[str, tuple[int, ...]]:
    return {key: tuple(value.shape) for key, value in llama_meta_model(cfg).state_dict().items()}


def llama_state_dict_from_gguf(source: str | os.PathLike | GGUFFile,
                               cfg: Mapping[str, object] | None = None) -> dict[str, torch.Tensor]:
    """Every tensor of a Llama GGUF file, dequantized to float32, under our `LlamaModel`'s names.

    The query and key weights are un-permuted; without an `output.weight` the head is the token embedding.
    """
    gguf = _open(source)
    cfg = llama_config_from_gguf(gguf) if cfg is None else cfg
    ours = {"tok_emb.weight": gguf.tensor("token_embd.weight")}
    for i in range(cfg["n_layers"]):
        for name, (our_name, _) in BLOCK_TENSORS.items():
            weight = gguf.tensor(f"blk.{i}.{name}.weight")
            if name == "attn_q":
                weight = unpermute_rope_rows(weight, cfg["n_heads"])
            elif name == "attn_k":
                weight = unpermute_rope_rows(weight, cfg["n_kv_groups"])
            ours[f"trf_blocks.{i}.{our_name}.weight"] = weight
    ours["final_norm.weight"] = gguf.tensor("output_norm.weight")
    tied = "output.weight" not in gguf.tensors
    ours["out_head.weight"] = ours["tok_emb.weight"] if tied else gguf.tensor("output.weight")
    check_state_dict(ours, _expected_shapes(cfg), f"the weights in {gguf.path.name}")
    return ours


def load_llama_gguf(path: str | os.PathLike) -> LlamaModel:
    """The Llama stored in a GGUF file as our `LlamaModel` (float32) in eval mode; its config is `model.cfg`."""
    gguf = read_gguf(path)
    cfg = llama_config_from_gguf(gguf)
    state_dict = llama_state_dict_from_gguf(gguf, cfg)
    model = llama_meta_model(cfg)  # no random weights drawn: every tensor is assigned below
    model.load_state_dict(state_dict, assign=True)
    if cfg["tie_weights"]:
        model.out_head.weight = model.tok_emb.weight  # assign=True gave the two keys a Parameter each: one again
    model.cos, model.sin = precompute_rope_params(cfg["emb_dim"] // cfg["n_heads"], cfg["rope_base"],
                                                  cfg["context_length"])  # buffers: not in the state dict
    return model.eval()


# --- Hugging Face's LlamaForCausalLM -------------------------------------------------------------------------------


def hf_config_from_llama(cfg: Mapping[str, object]) -> LlamaConfig:
    """The `transformers.LlamaConfig` of our config."""
    from transformers import LlamaConfig

    check_llama_config(cfg)
    return LlamaConfig(
        vocab_size=cfg["vocab_size"], hidden_size=cfg["emb_dim"], intermediate_size=cfg["hidden_dim"],
        num_hidden_layers=cfg["n_layers"], num_attention_heads=cfg["n_heads"],
        num_key_value_heads=cfg["n_kv_groups"], max_position_embeddings=cfg["context_length"],
        rms_norm_eps=cfg["rms_norm_eps"], rope_theta=cfg["rope_base"], tie_word_embeddings=cfg["tie_weights"],
        hidden_act="silu", attention_bias=False, mlp_bias=False, attention_dropout=0.0,
    )


def hf_names(cfg: Mapping[str, object]) -> dict[str, str]:
    """Our `LlamaModel`'s state-dict keys -> the same tensors' keys in `LlamaForCausalLM` (the same layouts)."""
    names = {"tok_emb.weight": "model.embed_tokens.weight"}
    for i in range(cfg["n_layers"]):
        for our_name, hf_name in BLOCK_TENSORS.values():
            names[f"trf_blocks.{i}.{our_name}.weight"] = f"model.layers.{i}.{hf_name}.weight"
    names["final_norm.weight"] = "model.norm.weight"
    names["out_head.weight"] = "lm_head.weight"
    return names


def hf_state_dict_from_llama(state_dict: Mapping[str, torch.Tensor],
                             cfg: Mapping[str, object]) -> dict[str, torch.Tensor]:
    """Our `LlamaModel` state dict in `LlamaForCausalLM`'s names."""
    check_state_dict(state_dict, _expected_shapes(cfg), "the LlamaModel state dict")
    return {hf: state_dict[ours] for ours, hf in hf_names(cfg).items()}


def llama_state_dict_from_hf(hf_state_dict: Mapping[str, torch.Tensor],
                             cfg: Mapping[str, object]) -> dict[str, torch.Tensor]:
    """A `LlamaForCausalLM` state dict in our `LlamaModel`'s names (a missing lm_head: the tied embedding)."""
    check_llama_config(cfg)
    names = hf_names(cfg)
    given = dict(hf_state_dict)
    given.setdefault("lm_head.weight", given.get("model.embed_tokens.weight"))
    expected = {names[key]: shape for key, shape in _expected_shapes(cfg).items()}
    check_state_dict(given, expected, "the LlamaForCausalLM state dict")
    return {ours: given[hf] for ours, hf in names.items()}


def hf_from_llama(model: LlamaModel) -> LlamaForCausalLM:
    """A `transformers.LlamaForCausalLM` holding a copy of our model's weights, in eval mode."""
    from transformers import LlamaForCausalLM

    if not isinstance(model, LlamaModel):
        raise TypeError(f"hf_from_llama needs a helpers.llama.LlamaModel, got {type(model).__name__}")
    try:
        from transformers.initialization import no_init_weights
    except ImportError:  # transformers < 5
        from transformers.modeling_utils import no_init_weights

    with no_init_weights():  # every weight is overwritten below: skip drawing random ones
        hf_model = LlamaForCausalLM(hf_config_from_llama(model.cfg))
    hf_model.load_state_dict(hf_state_dict_from_llama(model.state_dict(), model.cfg))
    if model.cfg["tie_weights"]:
        hf_model.tie_weights()
    return hf_model.eval()
