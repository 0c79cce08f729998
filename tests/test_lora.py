"""helpers.lora (notebook 07, appendix E): the update starts at zero, only A and B train, the book's parameter count,
merging gives the same outputs, and bad ranks, alphas and models are refused."""

from __future__ import annotations

import copy
import math

import pytest
import torch
from torch import nn

from helpers.gpt import GPT_CONFIG_124M, GPTModel
from helpers.lora import LinearWithLoRA, LoRALayer, merge_lora, replace_linear_with_lora

SMALL = {"vocab_size": 101, "context_length": 16, "emb_dim": 16, "n_heads": 2, "n_layers": 2, "drop_rate": 0.0,
         "qkv_bias": True}


def small_classifier(seed: int = 0) -> GPTModel:
    torch.manual_seed(seed)
    model = GPTModel(SMALL).eval()
    model.out_head = nn.Linear(SMALL["emb_dim"], 2)
    for param in model.parameters():
        param.requires_grad = False
    return model


def test_lora_layer_starts_at_zero_with_a_random_a():
    torch.manual_seed(123)
    layer = LoRALayer(8, 4, rank=2, alpha=4)
    assert layer.A.shape == (8, 2) and layer.B.shape == (2, 4)
    assert torch.count_nonzero(layer.B) == 0 and torch.count_nonzero(layer.A) == 16
    bound = 1 / math.sqrt(2)  # kaiming_uniform_ with a=sqrt(5): U(-1/sqrt(fan_in), 1/sqrt(fan_in)), fan_in = rank
    assert layer.A.abs().max() <= bound
    x = torch.randn(3, 5, 8)
    assert torch.equal(layer(x), torch.zeros(3, 5, 4))


def test_the_update_is_scaled_by_alpha_over_rank():
    layer = LoRALayer(6, 3, rank=2, alpha=6)
    with torch.no_grad():
        layer.B.normal_()
    x = torch.randn(4, 6)
    torch.testing.assert_close(layer(x), 3.0 * (x @ layer.A @ layer.B))
    torch.testing.assert_close(x @ layer.delta_weight().T, layer(x))


def test_a_wrapped_layer_computes_what_it_did_and_only_a_and_b_train():
    torch.manual_seed(0)
    linear = nn.Linear(8, 5)
    x = torch.randn(2, 8)
    expected = linear(x)
    linear.requires_grad_(False)
    wrapped = LinearWithLoRA(linear, rank=3, alpha=6)
    assert torch.equal(wrapped(x), expected)
    wrapped(x).sum().backward()
    assert linear.weight.grad is None
    assert wrapped.lora.B.grad is not None and wrapped.lora.B.grad.abs().sum() > 0


def test_replace_wraps_every_linear_layer_and_keeps_the_logits():
    model = small_classifier()
    ids = torch.randint(0, 101, (2, 10))
    with torch.no_grad():
        before = model(ids)
    count = replace_linear_with_lora(model, rank=4, alpha=8)
    assert count == 2 * 6 + 1  # per block: query, key, value, out_proj and two feed-forward layers; plus the head
    assert not any(isinstance(m, nn.Linear) and not isinstance(p, LinearWithLoRA)
                   for p in model.modules() for m in p.children())
    with torch.no_grad():
        assert torch.equal(model(ids), before)
    trainable = [name for name, p in model.named_parameters() if p.requires_grad]
    assert trainable and all(name.endswith(("lora.A", "lora.B")) for name in trainable)


def test_the_books_count_for_gpt2_small_at_rank_16():
    with torch.device("meta"):
        model = GPTModel({**GPT_CONFIG_124M, "drop_rate": 0.0, "qkv_bias": True})
        model.out_head = nn.Linear(768, 2)
        assert sum(p.numel() for p in model.parameters() if p.requires_grad) == 124_441_346
        for param in model.parameters():
            param.requires_grad = False
        assert replace_linear_with_lora(model, rank=16, alpha=16) == 12 * 6 + 1
        assert sum(p.numel() for p in model.parameters() if p.requires_grad) == 2_666_528


def test_merging_gives_the_same_outputs_and_plain_linear_layers():
    model = small_classifier()
    torch.manual_seed(1)
    replace_linear_with_lora(model, rank=4, alpha=8)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, LoRALayer):
                module.B.normal_(0.0, 0.1)  # as after training
    ids = torch.randint(0, 101, (3, 12))
    with torch.no_grad():
        expected = model(ids)
    assert merge_lora(model) == 13
    assert not any(isinstance(m, (LinearWithLoRA, LoRALayer)) for m in model.modules())
    assert sum(p.numel() for p in model.parameters()) == sum(p.numel() for p in small_classifier().parameters())
    with torch.no_grad():
        torch.testing.assert_close(model(ids), expected, atol=1e-5, rtol=1e-4)
        assert not torch.allclose(model(ids), small_classifier()(ids))  # the update is really in the weights


def test_the_update_takes_the_dtype_of_its_layer_and_the_same_numbers():
    torch.manual_seed(5)
    wrapped = LinearWithLoRA(nn.Linear(4, 3).double(), rank=2, alpha=2)
    torch.manual_seed(5)
    plain = LinearWithLoRA(nn.Linear(4, 3), rank=2, alpha=2)
    assert wrapped.lora.A.dtype == wrapped.lora.B.dtype == torch.float64
    assert torch.equal(wrapped.lora.A.float(), plain.lora.A)  # drawn in float32 as the book draws it, then converted
    assert wrapped(torch.ones(2, 4, dtype=torch.float64)).dtype == torch.float64


def test_state_dict_names_are_the_books():
    layer = LinearWithLoRA(nn.Linear(4, 3), rank=2, alpha=2)
    assert list(layer.state_dict()) == ["linear.weight", "linear.bias", "lora.A", "lora.B"]


@pytest.mark.parametrize(("rank", "error"), [(0, ValueError), (-1, ValueError), (2.0, TypeError), (True, TypeError),
                                             (None, TypeError)])
def test_a_rank_below_one_or_not_whole_is_refused(rank, error):
    with pytest.raises(error, match="rank must be a whole number >= 1"):
        LoRALayer(8, 8, rank=rank, alpha=16)
    with pytest.raises(error, match="rank must be"):
        replace_linear_with_lora(small_classifier(), rank=rank, alpha=16)


@pytest.mark.parametrize("alpha", [0, -2.0, float("nan"), float("inf"), "16", None])
def test_an_alpha_that_is_not_positive_is_refused(alpha):
    with pytest.raises(ValueError, match="alpha must be a number > 0"):
        LoRALayer(8, 8, rank=4, alpha=alpha)
    with pytest.raises(ValueError, match="alpha must be"):
        LinearWithLoRA(nn.Linear(8, 8), rank=4, alpha=alpha)


def test_bad_models_and_layers_are_refused():
    with pytest.raises(TypeError, match="wraps an nn.Linear"):
        LinearWithLoRA(nn.Conv1d(3, 3, 1), rank=2, alpha=2)
    with pytest.raises(ValueError, match="in_dim must be"):
        LoRALayer(0, 4, rank=2, alpha=2)
    with pytest.raises(ValueError, match="no nn.Linear layer"):
        replace_linear_with_lora(nn.Sequential(nn.ReLU()), rank=2, alpha=2)
    with pytest.raises(TypeError, match="itself an nn.Linear"):
        replace_linear_with_lora(nn.Linear(3, 3), rank=2, alpha=2)
    with pytest.raises(TypeError, match="torch.nn.Module"):
        replace_linear_with_lora("model", rank=2, alpha=2)
    model = small_classifier()
    replace_linear_with_lora(model, rank=2, alpha=2)
    snapshot = copy.deepcopy(model.state_dict())
    with pytest.raises(ValueError, match="already has LoRA layers"):
        replace_linear_with_lora(model, rank=2, alpha=2)
    assert list(model.state_dict()) == list(snapshot)  # nothing was wrapped twice
    with pytest.raises(TypeError, match="merge the model"):
        merge_lora(model.out_head)
