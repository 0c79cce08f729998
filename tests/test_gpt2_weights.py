"""helpers.gpt2_weights: our GPTModel is Hugging Face's GPT-2 (same weights, same logits), strict loading, bad input."""

from __future__ import annotations

import pytest
import torch
from safetensors.torch import save_file
from transformers import GPT2Config, GPT2LMHeadModel

from helpers.checks import check_state_dict
from helpers.generate import generate
from helpers.gpt import GPTModel
from helpers.gpt2_weights import (
    gpt_config_from_hf,
    gpt_from_hf,
    gpt_state_dict_from_hf,
    hf_config_from_gpt,
    hf_from_gpt,
    hf_state_dict_from_gpt,
    load_pretrained_gpt2,
    load_state_dict_strict,
    save_random_gpt2,
)

TINY = {"vocab_size": 97, "context_length": 12, "emb_dim": 16, "n_heads": 4, "n_layers": 2, "drop_rate": 0.1,
        "qkv_bias": True}


def random_hf_model(seed: int = 0, **changes: object) -> GPT2LMHeadModel:
    """A seeded GPT2LMHeadModel with random weights (no download), biases and norms randomized too, in eval mode."""
    torch.manual_seed(seed)
    hf_model = GPT2LMHeadModel(hf_config_from_gpt({**TINY, **changes}))
    with torch.no_grad():
        for name, param in hf_model.named_parameters():
            if name.endswith("bias") or ".ln_" in name:
                param.normal_(0.0, 0.5)
    return hf_model.eval()


def logits_of(hf_model: GPT2LMHeadModel, idx: torch.Tensor) -> torch.Tensor:
    with torch.no_grad():
        return hf_model(idx).logits


# --- same architecture: same logits ---


def test_hf_model_converted_to_ours_gives_the_same_logits():
    hf_model = random_hf_model(seed=1)
    model = gpt_from_hf(hf_model)
    assert not model.training
    idx = torch.randint(0, 97, (3, 12))
    with torch.no_grad():
        ours = model(idx)
    assert (ours - logits_of(hf_model, idx)).abs().max() < 1e-4


@pytest.mark.parametrize("qkv_bias", [False, True])
def test_our_model_converted_to_hf_gives_the_same_logits(qkv_bias):
    torch.manual_seed(2)
    model = GPTModel({**TINY, "qkv_bias": qkv_bias}).eval()
    hf_model = hf_from_gpt(model)
    assert not hf_model.training
    assert not hf_model.config.tie_word_embeddings  # GPTModel's head is its own matrix
    idx = torch.randint(0, 97, (2, 9))
    with torch.no_grad():
        ours = model(idx)
    assert (ours - logits_of(hf_model, idx)).abs().max() < 1e-4


def test_weights_survive_the_round_trip_exactly():
    hf_model = random_hf_model(seed=3)
    back = hf_from_gpt(gpt_from_hf(hf_model))
    assert back.config.tie_word_embeddings  # head == embedding: tied again
    assert back.lm_head.weight.data_ptr() == back.transformer.wte.weight.data_ptr()
    expected = hf_model.state_dict()
    assert set(back.state_dict()) == set(expected)
    for key, value in back.state_dict().items():
        assert torch.equal(value, expected[key]), key


def test_state_dict_conversion_is_a_bijection_on_our_names():
    torch.manual_seed(4)
    model = GPTModel(TINY)
    state_dict = model.state_dict()
    again = gpt_state_dict_from_hf(hf_state_dict_from_gpt(state_dict, TINY), TINY)
    assert list(again) == list(state_dict)
    for key in state_dict:
        assert torch.equal(again[key], state_dict[key]), key


def test_greedy_generation_equals_hf_generate():
    hf_model = random_hf_model(seed=5, vocab_size=97)
    hf_model.generation_config.eos_token_id = None
    hf_model.generation_config.pad_token_id = 0
    model = gpt_from_hf(hf_model)
    prompt = torch.randint(0, 96, (1, 4))
    with torch.no_grad():
        theirs = hf_model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=8, do_sample=False)
    assert torch.equal(generate(model, prompt, 8, context_size=12), theirs)


def test_training_mode_is_kept():
    hf_model = random_hf_model().train()
    assert gpt_from_hf(hf_model).training
    assert hf_from_gpt(gpt_from_hf(hf_model)).training


def test_config_conversion():
    assert gpt_config_from_hf(hf_config_from_gpt(TINY)) == TINY
    hf_cfg = hf_config_from_gpt({**TINY, "vocab_size": 50257})
    assert (hf_cfg.eos_token_id, hf_cfg.activation_function, hf_cfg.layer_norm_epsilon) == (50256, "gelu_new", 1e-5)


# --- the one-call loader, offline with local files ---


def test_load_pretrained_from_a_save_pretrained_folder(tmp_path):
    hf_model = random_hf_model(seed=6)
    hf_model.save_pretrained(tmp_path)
    model = load_pretrained_gpt2(tmp_path)
    assert not model.training
    idx = torch.randint(0, 97, (1, 10))
    with torch.no_grad():
        assert (model(idx) - logits_of(hf_model, idx)).abs().max() < 1e-4


@pytest.mark.parametrize("prefix", ["", "transformer."])
def test_load_pretrained_from_a_safetensors_file(tmp_path, prefix):
    """As the Hub's gpt2 model.safetensors: GPT2Model names, no lm_head (tied); heads read from the width 768."""
    hf_model = random_hf_model(seed=7, emb_dim=768, n_heads=12, n_layers=1)
    state_dict = hf_model.state_dict()
    tensors = {prefix + k.removeprefix("transformer."): v for k, v in state_dict.items() if "lm_head" not in k}
    tensors["h.0.attn.bias"] = torch.ones(1, 1, 12, 12).tril()  # the causal-mask buffer old checkpoints carry
    path = tmp_path / "model.safetensors"
    save_file(tensors, str(path))
    model = load_pretrained_gpt2(path)
    assert model.cfg == {**TINY, "emb_dim": 768, "n_heads": 12, "n_layers": 1}
    idx = torch.randint(0, 97, (2, 7))
    with torch.no_grad():
        assert (model(idx) - logits_of(hf_model, idx)).abs().max() < 1e-4


def test_load_pretrained_safetensors_with_explicit_heads(tmp_path):
    hf_model = random_hf_model(seed=8)
    path = tmp_path / "tiny.safetensors"
    save_file({k: v.clone() for k, v in hf_model.state_dict().items()}, str(path))  # lm_head kept, untied on disk
    with pytest.raises(ValueError, match=r"emb_dim=16 is not one of GPT-2's sizes \[768, 1024, 1280, 1600\]"):
        load_pretrained_gpt2(path)
    assert load_pretrained_gpt2(path, n_heads=4).cfg == TINY


def test_save_random_gpt2_draws_biases_and_norms_only_when_asked(tmp_path, capsys):
    """The offline stand-in for OpenAI's file: GPT-2's initial zeros and ones by default, every tensor random with
    all_random (so that a loader mixing up two biases or norms gives other logits), and no progress bar."""
    plain = load_pretrained_gpt2(save_random_gpt2(tmp_path / "plain") / "model.safetensors", n_heads=2)
    folder = save_random_gpt2(tmp_path / "random", all_random=True)
    assert "Writing model shards" not in capsys.readouterr().err
    model = load_pretrained_gpt2(folder / "model.safetensors", n_heads=2)
    for name, value in plain.state_dict().items():
        if name.endswith(("bias", "scale", "shift")):
            assert len(value.unique()) == 1, name  # zeros or ones
            assert len(model.state_dict()[name].unique()) == value.numel(), name  # all different
        else:  # the weight matrices are the same draws
            assert torch.equal(value, model.state_dict()[name]), name
    hf_model = GPT2LMHeadModel.from_pretrained(folder).eval()
    idx = torch.randint(0, 50257, (2, 9))
    with torch.no_grad():
        torch.testing.assert_close(model(idx), logits_of(hf_model, idx))


def test_load_pretrained_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no safetensors file at .*nothing\.safetensors"):
        load_pretrained_gpt2(tmp_path / "nothing.safetensors")


# --- strict loading and bad input ---


def test_strict_loading_lists_every_problem_and_loads_nothing():
    torch.manual_seed(9)
    model = GPTModel(TINY)
    before = {key: value.clone() for key, value in model.state_dict().items()}
    torch.manual_seed(10)
    state_dict = GPTModel(TINY).state_dict()
    del state_dict["final_norm.shift"]
    state_dict["trf_blocks.0.att.extra"] = torch.zeros(3)
    state_dict["pos_emb.weight"] = torch.zeros(13, 16)
    pattern = (r"missing keys \(1\): \['final_norm.shift'\]; unexpected keys \(1\): \['trf_blocks.0.att.extra'\]; "
               r"mis-shaped keys \(1\): \['pos_emb.weight: got \(13, 16\), expected \(12, 16\)'\]")
    with pytest.raises(ValueError, match=pattern):
        load_state_dict_strict(model, state_dict)
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key]), f"{key} was changed by a failed load"


def test_hf_state_dict_problems_are_listed_in_gpt2_names():
    state_dict = random_hf_model().state_dict()
    del state_dict["transformer.h.1.mlp.c_fc.bias"]
    state_dict["transformer.h.2.ln_1.weight"] = torch.ones(16)
    state_dict["transformer.h.0.attn.c_attn.weight"] = torch.zeros(16, 45)
    with pytest.raises(ValueError, match=r"GPT-2 state dict does not fit") as info:
        gpt_state_dict_from_hf(state_dict, TINY)
    message = str(info.value)
    assert "missing keys (1): ['h.1.mlp.c_fc.bias']" in message
    assert "unexpected keys (1): ['h.2.ln_1.weight']" in message
    assert "h.0.attn.c_attn.weight: got (16, 45), expected (16, 48)" in message


def test_our_state_dict_problems_are_listed_before_converting_to_hf():
    state_dict = GPTModel(TINY).state_dict()
    del state_dict["out_head.weight"]
    with pytest.raises(ValueError, match=r"missing keys \(1\): \['out_head.weight'\]"):
        hf_state_dict_from_gpt(state_dict, TINY)


def test_gpt2_weights_need_qkv_bias():
    with pytest.raises(ValueError, match=r"qkv_bias=True"):
        gpt_state_dict_from_hf(random_hf_model().state_dict(), {**TINY, "qkv_bias": False})


@pytest.mark.parametrize(
    ("change", "message"),
    [({"activation_function": "relu"}, "activation_function='relu'"), ({"n_inner": 20}, "n_inner=20"),
     ({"layer_norm_epsilon": 1e-6}, "layer_norm_epsilon=1e-06"),
     ({"scale_attn_by_inverse_layer_idx": True}, "scale_attn_by_inverse_layer_idx=True")],
)
def test_hf_options_our_model_lacks(change, message):
    hf_cfg = GPT2Config(n_embd=16, n_head=4, n_layer=1, n_positions=8, vocab_size=97, **change)
    with pytest.raises(ValueError, match=r"options GPTModel does not implement: .*" + message.replace("(", r"\(")):
        gpt_config_from_hf(hf_cfg)


def test_check_state_dict_accepts_a_perfect_fit():
    check_state_dict({"a": torch.zeros(2, 3)}, {"a": (2, 3)}, "x")


def test_conversion_draws_no_random_numbers():
    """The expected names and shapes come from a model on the meta device, so seeded notebook cells stay seeded."""
    state_dict = GPTModel(TINY).state_dict()
    rng = torch.get_rng_state()
    gpt_state_dict_from_hf(hf_state_dict_from_gpt(state_dict, TINY), TINY)
    assert torch.equal(torch.get_rng_state(), rng)


def test_without_internet_the_pretrained_weights_fail_at_once_with_one_clear_message(monkeypatch):
    import socket

    from helpers import gpt2_weights

    def no_network(*args, **kwargs):
        raise OSError(101, "Network is unreachable")

    monkeypatch.setattr(socket, "create_connection", no_network)
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    with pytest.raises(gpt2_weights.WeightsUnavailableError) as info:
        gpt2_weights.load_pretrained_gpt2("gpt2-not-downloaded-here")
    message = str(info.value)
    assert "huggingface.co cannot be reached (Network is unreachable)" in message
    assert "set USE_PRETRAINED = False" in message
    assert info.value._render_traceback_() == [f"\x1b[0;31mWeightsUnavailableError\x1b[0m: {message}"]
