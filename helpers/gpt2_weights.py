"""Moving weights between our `GPTModel` and Hugging Face's GPT-2, and loading OpenAI's pretrained GPT-2.

Built in notebooks/06_gpt_model.ipynb, "Beyond the book: the same architecture as OpenAI's GPT-2"; in
notebooks/07_pretraining.ipynb, section 5.5, the learner writes the book's `load_weights_into_gpt`, proved there to
give `load_pretrained_gpt2`'s weights. `transformers` is imported only inside the functions that need it, so
`import helpers.gpt2_weights` stays fast. `save_random_gpt2` writes a small GPT-2 with random weights in OpenAI's
format, the offline stand-in for section 5.5 and the exercises of chapter 5.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import torch
from torch import nn

from helpers.checks import ShortTraceback, check_state_dict
from helpers.gpt import GPT2_SIZES, GPT_CONFIG_124M, TINY_CONFIG, GPTModel, check_config

if TYPE_CHECKING:
    from transformers import GPT2Config, GPT2LMHeadModel

__all__ = [
    "gpt_config_from_hf",
    "gpt_from_hf",
    "gpt_state_dict_from_hf",
    "hf_config_from_gpt",
    "hf_from_gpt",
    "hf_state_dict_from_gpt",
    "load_pretrained_gpt2",
    "load_state_dict_strict",
    "save_random_gpt2",
    "WeightsUnavailableError",
    "hub_unreachable",
]

# emb_dim -> n_heads of the four released GPT-2 sizes (a weights file stores shapes, not the number of heads)
GPT2_HEADS_BY_EMB_DIM = {size["emb_dim"]: size["n_heads"] for size in GPT2_SIZES.values()}
# our config keys -> the names of the same sizes in a `transformers.GPT2Config`
HF_CONFIG_NAMES = {"vocab_size": "vocab_size", "context_length": "n_positions", "emb_dim": "n_embd",
                   "n_heads": "n_head", "n_layers": "n_layer"}
# GPT-2's names of the per-block tensors that map one to one onto ours (Conv1D weights are stored transposed)
BLOCK_NAMES = {
    "attn.c_proj.weight": "att.out_proj.weight",
    "attn.c_proj.bias": "att.out_proj.bias",
    "mlp.c_fc.weight": "ff.layers.0.weight",
    "mlp.c_fc.bias": "ff.layers.0.bias",
    "mlp.c_proj.weight": "ff.layers.2.weight",
    "mlp.c_proj.bias": "ff.layers.2.bias",
    "ln_1.weight": "norm1.scale",
    "ln_1.bias": "norm1.shift",
    "ln_2.weight": "norm2.scale",
    "ln_2.bias": "norm2.shift",
}  # in the order of GPTModel's state dict
CONV1D_WEIGHTS = ("attn.c_proj.weight", "mlp.c_fc.weight", "mlp.c_proj.weight")


def load_state_dict_strict(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> None:
    """Copy `state_dict` into `model` only if every key and shape matches; otherwise raise, loading nothing.

    (`nn.Module.load_state_dict(strict=True)` also raises, but only after copying the tensors that fit.)
    """
    expected = {key: value.shape for key, value in model.state_dict().items()}
    check_state_dict(state_dict, expected, f"the state dict for {type(model).__name__}")
    with torch.no_grad():
        model.load_state_dict(state_dict, strict=True)


def strip_transformer_prefix(hf_state_dict: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """GPT-2 tensors named as in `GPT2Model` ("h.0.attn...", "wte.weight"), without HF's causal-mask buffers."""
    out = {}
    for key, value in hf_state_dict.items():
        name = key.removeprefix("transformer.")
        if name.endswith((".attn.bias", ".attn.masked_bias")) and value.dim() != 1:
            continue  # the causal mask that older GPT-2 checkpoints store as a buffer: not a weight
        out[name] = value
    return out


def hf_state_dict_from_gpt(
    state_dict: Mapping[str, torch.Tensor], cfg: Mapping[str, object]
) -> dict[str, torch.Tensor]:
    """Our `GPTModel` state dict in `GPT2LMHeadModel`'s names and layouts (zero qkv biases if qkv_bias is False)."""
    check_config(cfg)
    expected = {key: value.shape for key, value in gpt_meta_model(cfg).state_dict().items()}
    check_state_dict(state_dict, expected, "the GPTModel state dict")
    hf = {
        "transformer.wte.weight": state_dict["tok_emb.weight"],
        "transformer.wpe.weight": state_dict["pos_emb.weight"],
    }
    for i in range(cfg["n_layers"]):
        ours, theirs = f"trf_blocks.{i}.", f"transformer.h.{i}."
        qkv = [state_dict[f"{ours}att.{name}.weight"] for name in ("W_query", "W_key", "W_value")]
        hf[f"{theirs}attn.c_attn.weight"] = torch.cat(qkv, dim=0).T  # Conv1D: (emb_dim, 3 emb_dim)
        if cfg["qkv_bias"]:
            biases = [state_dict[f"{ours}att.{name}.bias"] for name in ("W_query", "W_key", "W_value")]
            hf[f"{theirs}attn.c_attn.bias"] = torch.cat(biases)
        else:
            hf[f"{theirs}attn.c_attn.bias"] = qkv[0].new_zeros(3 * cfg["emb_dim"])
        for hf_name, our_name in BLOCK_NAMES.items():
            value = state_dict[ours + our_name]
            hf[theirs + hf_name] = value.T if hf_name in CONV1D_WEIGHTS else value
    hf["transformer.ln_f.weight"] = state_dict["final_norm.scale"]
    hf["transformer.ln_f.bias"] = state_dict["final_norm.shift"]
    hf["lm_head.weight"] = state_dict["out_head.weight"]
    return {key: value.contiguous() for key, value in hf.items()}


def gpt_state_dict_from_hf(
    hf_state_dict: Mapping[str, torch.Tensor], cfg: Mapping[str, object]
) -> dict[str, torch.Tensor]:
    """A GPT-2 state dict (with or without the "transformer." prefix and lm_head) in our `GPTModel`'s names.

    Without "lm_head.weight" the output head gets a copy of the token embedding, as GPT-2 ties the two.
    Raises a `ValueError` listing every missing, unexpected or mis-shaped tensor.
    """
    check_config(cfg)
    if not cfg["qkv_bias"]:
        raise ValueError("GPT-2 has biases in its query/key/value projections: use a config with qkv_bias=True")
    given = strip_transformer_prefix(hf_state_dict)
    expected = strip_transformer_prefix(hf_state_dict_from_gpt(gpt_meta_model(cfg).state_dict(), cfg))
    if "lm_head.weight" not in given:
        expected.pop("lm_head.weight")
    check_state_dict(given, {key: value.shape for key, value in expected.items()}, "the GPT-2 state dict")

    ours = {"tok_emb.weight": given["wte.weight"], "pos_emb.weight": given["wpe.weight"]}
    for i in range(cfg["n_layers"]):
        theirs, mine = f"h.{i}.", f"trf_blocks.{i}."
        q_w, k_w, v_w = given[f"{theirs}attn.c_attn.weight"].T.chunk(3, dim=0)  # each (emb_dim, emb_dim)
        q_b, k_b, v_b = given[f"{theirs}attn.c_attn.bias"].chunk(3)
        for name, weight, bias in (("W_query", q_w, q_b), ("W_key", k_w, k_b), ("W_value", v_w, v_b)):
            ours[f"{mine}att.{name}.weight"] = weight
            ours[f"{mine}att.{name}.bias"] = bias
        for hf_name, our_name in BLOCK_NAMES.items():
            value = given[theirs + hf_name]
            ours[mine + our_name] = value.T if hf_name in CONV1D_WEIGHTS else value
    ours["final_norm.scale"] = given["ln_f.weight"]
    ours["final_norm.shift"] = given["ln_f.bias"]
    ours["out_head.weight"] = given.get("lm_head.weight", given["wte.weight"])
    return {key: value.contiguous() for key, value in ours.items()}


def gpt_meta_model(cfg: Mapping[str, object]) -> GPTModel:
    """A `GPTModel` on the meta device: names and shapes only, no memory, no random numbers drawn."""
    with torch.device("meta"):
        return GPTModel(cfg)


def hf_config_from_gpt(cfg: Mapping[str, object], tie_word_embeddings: bool = True) -> GPT2Config:
    """The `transformers.GPT2Config` of our config (GPT-2's tanh GELU and LayerNorm eps 1e-5 are its defaults)."""
    from transformers import GPT2Config

    check_config(cfg)
    return GPT2Config(
        **{hf_name: cfg[ours] for ours, hf_name in HF_CONFIG_NAMES.items()},
        **{dropout: cfg["drop_rate"] for dropout in ("resid_pdrop", "embd_pdrop", "attn_pdrop")},
        activation_function="gelu_new",
        layer_norm_epsilon=1e-5,
        bos_token_id=cfg["vocab_size"] - 1,  # <|endoftext|> is GPT-2's last token id (50256)
        eos_token_id=cfg["vocab_size"] - 1,
        tie_word_embeddings=tie_word_embeddings,
    )


def gpt_config_from_hf(hf_config: GPT2Config) -> dict[str, object]:
    """Our config dict for a `transformers.GPT2Config`; raises a `ValueError` for options our model lacks."""
    unsupported = []
    if hf_config.activation_function != "gelu_new":
        unsupported.append(f"activation_function={hf_config.activation_function!r} (ours: 'gelu_new')")
    if hf_config.n_inner not in (None, 4 * hf_config.n_embd):
        unsupported.append(f"n_inner={hf_config.n_inner} (ours: 4 * n_embd)")
    if hf_config.layer_norm_epsilon != 1e-5:
        unsupported.append(f"layer_norm_epsilon={hf_config.layer_norm_epsilon} (ours: 1e-5)")
    for flag in ("scale_attn_by_inverse_layer_idx", "reorder_and_upcast_attn"):
        if getattr(hf_config, flag, False):
            unsupported.append(f"{flag}=True")
    if not getattr(hf_config, "scale_attn_weights", True):
        unsupported.append("scale_attn_weights=False")
    if unsupported:
        raise ValueError(f"this GPT-2 config has options GPTModel does not implement: {unsupported}")
    sizes = {ours: getattr(hf_config, hf_name) for ours, hf_name in HF_CONFIG_NAMES.items()}
    return {**sizes, "drop_rate": hf_config.resid_pdrop, "qkv_bias": True}  # the keys in GPT_CONFIG_124M's order


def gpt_from_hf(hf_model: GPT2LMHeadModel) -> GPTModel:
    """A `GPTModel` holding a copy of a `transformers.GPT2LMHeadModel`'s weights, in the same train/eval mode."""
    cfg = gpt_config_from_hf(hf_model.config)
    model = GPTModel(cfg)
    load_state_dict_strict(model, gpt_state_dict_from_hf(hf_model.state_dict(), cfg))
    return model.train(hf_model.training)


def hf_from_gpt(model: GPTModel) -> GPT2LMHeadModel:
    """A `transformers.GPT2LMHeadModel` holding a copy of our model's weights, in the same train/eval mode.

    Its output head is tied to the token embedding (as in GPT-2) when the two are equal, separate otherwise.
    """
    from transformers import GPT2LMHeadModel

    try:
        from transformers.initialization import no_init_weights
    except ImportError:  # transformers < 5
        from transformers.modeling_utils import no_init_weights

    tied = torch.equal(model.out_head.weight, model.tok_emb.weight)
    with no_init_weights():  # every weight is overwritten below: skip drawing random ones (a second at GPT-2's size)
        hf_model = GPT2LMHeadModel(hf_config_from_gpt(model.cfg, tie_word_embeddings=tied))
    if tied:
        hf_model.tie_weights()  # no_init_weights skips the tying too
    state_dict = hf_state_dict_from_gpt(model.state_dict(), model.cfg)
    load_state_dict_strict(hf_model, state_dict)
    return hf_model.train(model.training)


def load_pretrained_gpt2(source: str | Path = "gpt2", n_heads: int | None = None) -> GPTModel:
    """OpenAI's pretrained GPT-2 as our `GPTModel`, in eval mode: one call, from the Hub or from local files.

    `source` is one of
    - a Hugging Face Hub name ("gpt2", "gpt2-medium", "gpt2-large", "gpt2-xl"): downloaded and cached by
      `transformers.GPT2LMHeadModel.from_pretrained` (needs internet the first time);
    - a local folder written by `save_pretrained` (or a downloaded Hub snapshot): read by `from_pretrained`;
    - a `.safetensors` file of GPT-2's tensors (such as the Hub's `model.safetensors`): read with `safetensors`;
      the sizes come from the tensors' shapes, the number of heads from the width (12, 16, 20 or 25 for the
      four GPT-2 sizes) unless `n_heads` is given.
    """
    path = Path(source)
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        if not path.is_file():
            raise FileNotFoundError(f"no safetensors file at {path}")
        hf_state_dict = strip_transformer_prefix(load_file(str(path)))
        cfg = config_from_gpt2_tensors(hf_state_dict, n_heads)
        model = GPTModel(cfg)
        load_state_dict_strict(model, gpt_state_dict_from_hf(hf_state_dict, cfg))
        return model.eval()
    from transformers import GPT2LMHeadModel

    if path.is_dir():
        return gpt_from_hf(GPT2LMHeadModel.from_pretrained(str(path))).eval()
    try:  # downloaded before: no network needed
        return gpt_from_hf(GPT2LMHeadModel.from_pretrained(str(source), local_files_only=True)).eval()
    except OSError:
        pass
    unreachable = hub_unreachable()
    if unreachable:
        raise WeightsUnavailableError(f"{source!r}: {unreachable}")
    try:
        hf_model = GPT2LMHeadModel.from_pretrained(str(source))
    except OSError as err:
        raise WeightsUnavailableError(f"{source!r}: {str(err).splitlines()[0]}") from None
    return gpt_from_hf(hf_model).eval()


class WeightsUnavailableError(ShortTraceback, OSError):
    """OpenAI's weights cannot be had: not downloaded before, and the Hugging Face Hub cannot be reached."""

    def __init__(self, detail: str) -> None:
        super().__init__(
            f"OpenAI's GPT-2 weights cannot be had here: {detail}. They are downloaded once from the Hugging Face Hub "
            "(about 500 MiB for gpt2), which needs internet; the offline path needs none: set USE_PRETRAINED = False "
            "and run the notebook again. Or download the weights elsewhere (a folder written by save_pretrained, or "
            "the Hub's model.safetensors) and pass its path."
        )


def hub_unreachable(timeout: float = 5.0) -> str | None:
    """Why the Hugging Face Hub cannot be reached (one quick connection attempt), or None when it can."""
    host = urlsplit(os.environ.get("HF_ENDPOINT", "https://huggingface.co")).hostname or "huggingface.co"
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes"):
        return "HF_HUB_OFFLINE is set, so nothing is downloaded"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError as err:
        return f"not downloaded before, and {host} cannot be reached ({err.strerror or err})"
    return None


def config_from_gpt2_tensors(hf_state_dict: Mapping[str, torch.Tensor], n_heads: int | None) -> dict[str, object]:
    """Our config for a GPT-2 state dict (GPT2Model names), read from the shapes of its tensors."""
    if "wte.weight" not in hf_state_dict or "wpe.weight" not in hf_state_dict:
        raise ValueError(
            f"not a GPT-2 state dict: 'wte.weight' or 'wpe.weight' is missing (keys start {list(hf_state_dict)[:5]})"
        )
    vocab_size, emb_dim = hf_state_dict["wte.weight"].shape
    context_length = hf_state_dict["wpe.weight"].shape[0]
    blocks = {int(key.split(".")[1]) for key in hf_state_dict if key.startswith("h.")}
    if n_heads is None:
        if emb_dim not in GPT2_HEADS_BY_EMB_DIM:
            raise ValueError(
                f"emb_dim={emb_dim} is not one of GPT-2's sizes {sorted(GPT2_HEADS_BY_EMB_DIM)}: pass n_heads"
            )
        n_heads = GPT2_HEADS_BY_EMB_DIM[emb_dim]
    return {
        **GPT_CONFIG_124M,
        "vocab_size": vocab_size,
        "context_length": context_length,
        "emb_dim": emb_dim,
        "n_heads": n_heads,
        "n_layers": max(blocks, default=-1) + 1,
        "qkv_bias": True,
    }


def save_random_gpt2(folder: str | Path, emb_dim: int = 32, n_layers: int = 2, n_heads: int = 2,
                     context_length: int = 256, seed: int = 123, all_random: bool = False) -> Path:
    """Save a small GPT-2 with random weights in the Hugging Face format (as OpenAI's are): `load_pretrained_gpt2`
    reads it like the real one, without internet. `TINY_CONFIG` by default, with GPT-2's query/key/value biases and a
    context of 256. Its biases and LayerNorm scales and shifts are GPT-2's initial zeros and ones, unless
    `all_random` draws them too (then a loader that mixes up two of them gives other logits). Returns the folder."""
    from transformers import GPT2LMHeadModel
    from transformers.utils import logging as hf_logging

    cfg = {**TINY_CONFIG, "emb_dim": emb_dim, "n_layers": n_layers, "n_heads": n_heads,
           "context_length": context_length, "qkv_bias": True}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = GPT2LMHeadModel(hf_config_from_gpt(cfg))
        if all_random:
            with torch.no_grad():
                for name, param in model.named_parameters():
                    if name.endswith("bias") or ".ln_" in name:
                        param.normal_(0.0, 0.5)
    shown = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # one small file: no "Writing model shards" bar
    try:
        model.save_pretrained(folder)
    finally:
        if shown:
            hf_logging.enable_progress_bar()
    return Path(folder)
