"""helpers.gpt: the book's numbers, the architecture's pieces, generation with and without the KV cache, bad input."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from helpers.attention import MultiHeadAttention, causal_mask
from helpers.generate import KVCache, generate, generate_text_simple, new_kv_caches, sample_next_token
from helpers.gpt import (
    GELU,
    GPT_CONFIG_124M,
    FeedForward,
    GPTModel,
    LayerNorm,
    TransformerBlock,
    check_config,
    parameter_counts,
)

# A GPT small enough for fast tests; the properties below do not depend on the size.
TINY = {"vocab_size": 97, "context_length": 12, "emb_dim": 16, "n_heads": 4, "n_layers": 2, "drop_rate": 0.1,
        "qkv_bias": False}

# "Every effort moves you" / "Every day holds a" and "Hello, I am" with GPT-2's tokenizer (the book's 4.1 and 4.7)
BOOK_BATCH = torch.tensor([[6109, 3626, 6100, 345], [6109, 1110, 6622, 257]])
HELLO = torch.tensor([[15496, 11, 314, 716]])
BOOK_GENERATED = [15496, 11, 314, 716, 27018, 24086, 47843, 30961, 42348, 7267]
# The first and last three logits of each row of the book's seeded GPTModel output (section 4.6, training mode)
BOOK_LOGITS_FIRST = torch.tensor([
    [[0.3613, 0.4222, -0.0711], [-0.1792, -0.5660, -0.9485], [0.7120, 0.0332, 0.1085], [-1.0076, 0.3418, -0.1190]],
    [[-0.2564, 0.0900, 0.0335], [0.1230, 0.3653, -0.2074], [1.0558, 1.0318, -0.2800], [-0.1565, 0.3926, 0.3288]],
])
BOOK_LOGITS_LAST = torch.tensor([
    [[0.3483, 0.4661, -0.2838], [0.0477, 0.5181, -0.3168], [0.1018, -0.4327, -0.2553], [0.7195, 0.4023, 0.0532]],
    [[0.2659, 0.4454, -0.6806], [0.7705, 0.2710, 0.2246], [0.6936, 0.3205, -0.3178], [1.2630, -0.1858, 0.0388]],
])


def book_state_dict(state_dict: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """A `GPTModel` state dict with the causal `mask` buffers the book's own GPTModel also saves."""
    mask = causal_mask(state_dict["pos_emb.weight"].shape[0])
    out = dict(state_dict)
    for key in state_dict:
        if key.endswith(".att.W_query.weight"):
            out[key.removesuffix("W_query.weight") + "mask"] = mask
    return out


def tiny_model(seed: int = 0, **changes: object) -> GPTModel:
    """A seeded GPTModel with the TINY config (changed by keyword), in eval mode."""
    torch.manual_seed(seed)
    return GPTModel({**TINY, **changes}).eval()


def reference_logits(model: GPTModel, idx: torch.Tensor) -> torch.Tensor:
    """The book's forward pass written out, with its explicit attention and nn.Dropout on the attention weights."""
    num_tokens = idx.shape[1]
    x = model.drop_emb(model.tok_emb(idx) + model.pos_emb(torch.arange(num_tokens)))
    future = torch.ones(num_tokens, num_tokens).triu(1).bool()
    for block in model.trf_blocks:
        att = block.att
        h = block.norm1(x)

        def heads(t: torch.Tensor, att: MultiHeadAttention = att) -> torch.Tensor:
            return t.view(t.shape[0], num_tokens, att.num_heads, att.head_dim).transpose(1, 2)

        q, k, v = heads(att.W_query(h)), heads(att.W_key(h)), heads(att.W_value(h))
        scores = (q @ k.transpose(2, 3)).masked_fill(future, -torch.inf)
        weights = att.dropout(torch.softmax(scores / att.head_dim**0.5, dim=-1))
        context = (weights @ v).transpose(1, 2).reshape(x.shape)
        x = x + block.drop_shortcut(att.out_proj(context))
        x = x + block.drop_shortcut(block.ff(block.norm2(x)))
    return model.out_head(model.final_norm(x))


# --- the book's numbers (the one test that builds GPT-2 small) ---


@pytest.mark.slow
def test_gpt2_small_reproduces_the_book():
    torch.manual_seed(123)
    model = GPTModel(GPT_CONFIG_124M)
    assert sum(p.numel() for p in model.parameters()) == 163_009_536
    assert sum(p.numel() for p in model.parameters()) - model.out_head.weight.numel() == 124_412_160
    logits = model(BOOK_BATCH)  # training mode, dropout 0.1, as the book prints it
    assert logits.shape == (2, 4, 50257)
    torch.testing.assert_close(logits[..., :3], BOOK_LOGITS_FIRST, atol=5e-5, rtol=0)
    torch.testing.assert_close(logits[..., -3:], BOOK_LOGITS_LAST, atol=5e-5, rtol=0)
    model.eval()
    out = generate_text_simple(model, HELLO, max_new_tokens=6, context_size=1024)
    assert out.tolist() == [BOOK_GENERATED]
    assert generate(model, HELLO, max_new_tokens=6, context_size=1024).tolist() == [BOOK_GENERATED]
    assert generate(model, HELLO, max_new_tokens=6, context_size=1024, use_cache=False).tolist() == [BOOK_GENERATED]


def test_config_124m_is_the_books():
    assert GPT_CONFIG_124M == {"vocab_size": 50257, "context_length": 1024, "emb_dim": 768, "n_heads": 12,
                               "n_layers": 12, "drop_rate": 0.1, "qkv_bias": False}


def test_feed_forward_and_attention_parameter_counts_are_the_books():
    block = TransformerBlock(GPT_CONFIG_124M)
    assert sum(p.numel() for p in block.ff.parameters()) == 4_722_432  # the book's exercise 4.1
    assert sum(p.numel() for p in block.att.parameters()) == 2_360_064


# --- the pieces ---


@settings(max_examples=20, deadline=None)
@given(shape=st.lists(st.integers(1, 6), min_size=1, max_size=3), seed=st.integers(0, 2**16))
def test_layer_norm_equals_the_books_formula(shape, seed):
    torch.manual_seed(seed)
    x = torch.randn(*shape) * 3 + 1
    ln = LayerNorm(shape[-1])
    with torch.no_grad():
        ln.scale.normal_()
        ln.shift.normal_()
    mean = x.mean(dim=-1, keepdim=True)
    var = x.var(dim=-1, keepdim=True, unbiased=False)
    expected = ln.scale * (x - mean) / torch.sqrt(var + 1e-5) + ln.shift
    torch.testing.assert_close(ln(x), expected, atol=1e-5, rtol=1e-5)


def test_layer_norm_gives_zero_mean_unit_biased_variance():
    torch.manual_seed(123)
    out = LayerNorm(5)(torch.randn(2, 5))
    torch.testing.assert_close(out.mean(dim=-1), torch.zeros(2), atol=1e-6, rtol=0)
    torch.testing.assert_close(out.var(dim=-1, unbiased=False), torch.ones(2), atol=1e-4, rtol=0)
    assert [name for name, _ in LayerNorm(5).named_parameters()] == ["scale", "shift"]
    assert LayerNorm(5).eps == 1e-5


def test_gelu_is_the_tanh_approximation():
    x = torch.linspace(-6, 6, 1001)
    expected = 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)))
    torch.testing.assert_close(GELU()(x), expected, atol=1e-6, rtol=1e-6)
    assert not torch.allclose(GELU()(x), F.gelu(x), atol=1e-5, rtol=0)  # not the exact erf GELU


def test_feed_forward_layers_and_shapes():
    ff = FeedForward(GPT_CONFIG_124M)
    kinds = [type(layer) for layer in ff.layers]
    assert kinds == [nn.Linear, GELU, nn.Linear]
    assert (ff.layers[0].in_features, ff.layers[0].out_features, ff.layers[2].out_features) == (768, 3072, 768)
    assert ff(torch.rand(2, 3, 768)).shape == (2, 3, 768)


def test_transformer_block_names_and_pre_layer_norm_shortcuts():
    torch.manual_seed(1)
    block = TransformerBlock(TINY).eval()
    assert [name for name, _ in block.named_children()] == ["att", "ff", "norm1", "norm2", "drop_shortcut"]
    x = torch.randn(2, 5, 16)
    h = x + block.att(block.norm1(x))
    torch.testing.assert_close(block(x), h + block.ff(block.norm2(h)))


def test_gpt_model_names_and_parameter_order():
    model = GPTModel(TINY)
    assert [name for name, _ in model.named_children()] == [
        "tok_emb", "pos_emb", "drop_emb", "trf_blocks", "final_norm", "out_head"]
    names = [name for name, _ in model.named_parameters()]
    assert names[:2] == ["tok_emb.weight", "pos_emb.weight"]
    assert names[2:6] == ["trf_blocks.0.att.W_query.weight", "trf_blocks.0.att.W_key.weight",
                          "trf_blocks.0.att.W_value.weight", "trf_blocks.0.att.out_proj.weight"]
    assert names[-3:] == ["final_norm.scale", "final_norm.shift", "out_head.weight"]
    assert model.out_head.bias is None
    assert model.cfg == TINY and model.cfg is not TINY


def test_linear_weights_are_stored_as_nn_linear_stores_them(tmp_path):
    from safetensors.torch import save_file

    model = GPTModel(TINY)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 1 + TINY["n_layers"] * 6
    for linear in linears:
        assert linear.weight.shape == (linear.out_features, linear.in_features)
        assert linear.weight.is_contiguous()
        linear.weight.view(-1)
    save_file(model.state_dict(), tmp_path / "model.safetensors")  # safetensors refuses non-contiguous tensors


def test_transposed_storage_is_an_opt_in_with_the_same_numbers():
    model = tiny_model(seed=5, qkv_bias=True)
    idx = torch.randint(0, 97, (2, 7))
    before = model(idx)
    generated = generate(model, idx[:, :3], 8, 12)
    keys = list(model.state_dict())
    assert model.store_linear_weights_transposed() is model
    for linear in (m for m in model.modules() if isinstance(m, nn.Linear)):
        out_features, in_features = linear.weight.shape
        assert (out_features, in_features) == (linear.out_features, linear.in_features)
        assert linear.weight.stride() == (1, out_features)  # (in, out) rows in memory, as GPT-2's Conv1D
    assert list(model.state_dict()) == keys
    torch.testing.assert_close(model(idx), before, atol=1e-6, rtol=1e-5)
    assert torch.equal(generate(model, idx[:, :3], 8, 12), generated)
    model.train()
    model(idx).sum().backward()
    assert model.out_head.weight.grad.shape == model.out_head.weight.shape


def test_state_dict_round_trips_through_torch_save_and_safetensors(tmp_path):
    from safetensors.torch import load_file, save_file

    model = tiny_model(seed=12)
    idx = torch.randint(0, 97, (1, 6))
    torch.save(model.state_dict(), tmp_path / "model.pt")
    save_file(model.state_dict(), tmp_path / "model.safetensors")
    for state_dict in (torch.load(tmp_path / "model.pt", weights_only=True), load_file(tmp_path / "model.safetensors")):
        other = tiny_model(seed=13)
        other.load_state_dict(state_dict)
        assert torch.equal(other(idx), model(idx))


def book_layout(model: GPTModel) -> GPTModel:
    """The model with the book's state-dict layout: each attention layer saves its causal `mask` buffer.

    (Like the book's class, it then also expects `mask` when loading: our hook that accepts it is removed.)
    """
    for block in model.trf_blocks:
        block.att.register_buffer("mask", block.att.mask.clone(), persistent=True)
        block.att._load_state_dict_pre_hooks.clear()
    return model


def test_a_book_checkpoint_with_mask_buffers_loads_with_load_state_dict(tmp_path):
    book = book_layout(tiny_model(seed=21))
    assert "trf_blocks.1.att.mask" in book.state_dict()
    torch.save(book.state_dict(), tmp_path / "model.pth")  # what the book's chapter 5 saves
    ours = tiny_model(seed=22)
    ours.load_state_dict(torch.load(tmp_path / "model.pth", weights_only=True))  # strict
    idx = torch.randint(0, 97, (2, 8))
    assert torch.equal(ours(idx), book(idx))
    assert not any(key.endswith(".mask") for key in ours.state_dict())


def test_book_state_dict_loads_strictly_into_the_books_layout():
    ours = tiny_model(seed=23)
    book = book_layout(tiny_model(seed=24))
    state = book_state_dict(ours.state_dict())
    assert set(state) == set(book.state_dict())
    book.load_state_dict(state)  # strict
    idx = torch.randint(0, 97, (1, 12))
    assert torch.equal(book(idx), ours(idx))


@pytest.mark.parametrize("train", [False, True])
def test_forward_equals_the_books_explicit_forward_including_dropout(train):
    """In training mode both draw the same dropout masks from the same seed: SDPA's dropout uses the RNG alike."""
    model = tiny_model(seed=3, drop_rate=0.3, qkv_bias=True).train(train)
    idx = torch.randint(0, 97, (3, 9))
    torch.manual_seed(11)
    ours = model(idx)
    torch.manual_seed(11)
    expected = reference_logits(model, idx)
    torch.testing.assert_close(ours, expected, atol=1e-5, rtol=1e-5)


def test_logits_do_not_depend_on_later_tokens():
    model = tiny_model(seed=4)
    idx = torch.randint(0, 97, (1, 10))
    changed = idx.clone()
    changed[0, 6:] = (changed[0, 6:] + 1) % 97
    torch.testing.assert_close(model(idx)[:, :6], model(changed)[:, :6])


# --- the KV cache ---


@settings(max_examples=25, deadline=None)
@given(chunks=st.lists(st.integers(1, 5), min_size=1, max_size=6), batch=st.integers(1, 3), seed=st.integers(0, 999))
def test_cached_forward_in_chunks_equals_the_full_forward(chunks, batch, seed):
    total = min(sum(chunks), TINY["context_length"])
    model = tiny_model(seed=seed, qkv_bias=True)
    idx = torch.randint(0, 97, (batch, total))
    full = model(idx)
    kv_caches = new_kv_caches(model)
    pieces, start = [], 0
    for size in chunks:
        if start >= total:
            break
        pieces.append(model(idx[:, start : start + size], kv_caches))
        start += size
    assert kv_caches[0].num_tokens == total
    torch.testing.assert_close(torch.cat(pieces, dim=1), full, atol=1e-5, rtol=1e-5)


def test_kv_cache_grows_and_refuses_more_than_context_length():
    model = tiny_model()
    kv_caches = new_kv_caches(model)
    assert len(kv_caches) == TINY["n_layers"] and all(isinstance(c, KVCache) for c in kv_caches)
    model(torch.zeros(1, 7, dtype=torch.long), kv_caches)
    model(torch.zeros(1, 5, dtype=torch.long), kv_caches)
    assert [c.num_tokens for c in kv_caches] == [12, 12]
    assert kv_caches[0].keys.shape == (1, 4, 12, 4)  # (batch, n_heads, capacity <= context_length, head_dim)
    with pytest.raises(ValueError, match=r"13 tokens \(with 12 cached\) exceed context_length=12"):
        model(torch.zeros(1, 1, dtype=torch.long), kv_caches)
    with pytest.raises(ValueError, match=r"1 tokens after 12 cached tokens but context_length=12"):
        model.trf_blocks[0].att(torch.zeros(1, 1, 16), kv_caches[0])
    with pytest.raises(ValueError, match=r"holds 12 tokens; 1 more would exceed its limit of 12 tokens"):
        kv_caches[0].append(torch.zeros(1, 4, 1, 4), torch.zeros(1, 4, 1, 4), 12)


def test_kv_cache_with_max_tokens_allocates_once():
    model = tiny_model()
    kv_caches = new_kv_caches(model, max_tokens=9)
    model(torch.zeros(1, 3, dtype=torch.long), kv_caches)
    storage = kv_caches[0].keys
    assert storage.shape == (1, 4, 9, 4)
    for _ in range(6):
        model(torch.zeros(1, 1, dtype=torch.long), kv_caches)
    assert kv_caches[0].keys is storage and kv_caches[0].num_tokens == 9
    with pytest.raises(ValueError, match=r"holds 9 tokens; 1 more would exceed its limit of 9 tokens"):
        model(torch.zeros(1, 1, dtype=torch.long), kv_caches)


def test_a_cropped_cache_continues_as_if_the_later_tokens_never_came():
    model = tiny_model(seed=6, qkv_bias=True)
    idx = torch.randint(0, 97, (2, 10))
    kv_caches = new_kv_caches(model, 12)
    model(idx, kv_caches)
    for cache in kv_caches:
        cache.crop(4)
    torch.testing.assert_close(model(idx[:, 4:7], kv_caches), model(idx[:, :7])[:, 4:], atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match=r"num_tokens must be at most the 7 cached tokens, got 8"):
        kv_caches[0].crop(8)
    with pytest.raises(ValueError, match=r"num_tokens must be a whole number >= 0, got -1"):
        kv_caches[0].crop(-1)
    with pytest.raises(TypeError, match=r"num_tokens must be a whole number >= 0, got 2.0 \(float\)"):
        kv_caches[0].crop(2.0)


@pytest.mark.parametrize(("max_tokens", "error"), [(0, ValueError), (-3, ValueError), (2.5, TypeError),
                                                   (True, TypeError)])
def test_kv_cache_max_tokens_must_be_positive(max_tokens, error):
    with pytest.raises(error, match=r"max_tokens must be a whole number >= 1 or None, got"):
        KVCache(max_tokens)


def test_new_kv_caches_needs_a_gpt_model():
    with pytest.raises(TypeError, match=r"new_kv_caches needs a helpers.gpt.GPTModel .*got Linear"):
        new_kv_caches(nn.Linear(2, 2))


def test_kv_cache_rejects_a_different_batch():
    model = tiny_model()
    kv_caches = new_kv_caches(model)
    model(torch.zeros(2, 3, dtype=torch.long), kv_caches)
    with pytest.raises(ValueError, match=r"do not fit a cache"):
        model(torch.zeros(1, 1, dtype=torch.long), kv_caches)


def test_wrong_number_of_kv_caches():
    model = tiny_model()
    with pytest.raises(ValueError, match=r"expected 2 KV caches \(one per block\), got 1"):
        model(torch.zeros(1, 2, dtype=torch.long), [KVCache()])


# --- generation ---


@settings(max_examples=30, deadline=None)
@given(
    prompt_len=st.integers(1, 15),
    max_new_tokens=st.integers(0, 20),
    context_size=st.integers(1, 12),
    batch=st.integers(1, 2),
    seed=st.integers(0, 999),
)
def test_greedy_generate_with_cache_equals_generate_text_simple(prompt_len, max_new_tokens, context_size, batch, seed):
    """Token for token, also when the prompt is longer than the window and when the window slides."""
    model = tiny_model(seed=seed)
    idx = torch.randint(0, 97, (batch, prompt_len))
    expected = generate_text_simple(model, idx, max_new_tokens, context_size)
    assert expected.shape == (batch, prompt_len + max_new_tokens)
    assert torch.equal(generate(model, idx, max_new_tokens, context_size), expected)
    assert torch.equal(generate(model, idx, max_new_tokens, context_size, use_cache=False), expected)


def test_generation_runs_far_past_context_length():
    model = tiny_model(seed=8)
    idx = torch.randint(0, 97, (1, 3))
    expected = generate_text_simple(model, idx, 40, context_size=12)
    torch.testing.assert_close(generate(model, idx, 40, context_size=12), expected, rtol=0, atol=0)


def test_generate_text_simple_crops_the_context():
    model = tiny_model(seed=2)
    idx = torch.randint(0, 97, (2, 6))
    out = generate_text_simple(model, idx, 1, context_size=4)
    assert torch.equal(out[:, :6], idx)
    assert torch.equal(out[:, 6], model(idx[:, -4:])[:, -1].argmax(dim=-1))


def book_sampling_step(logits: torch.Tensor, temperature: float, top_k: int | None) -> torch.Tensor:
    """One sampling step as the book's chapter 5 `generate` describes it: top-k, temperature, multinomial."""
    if top_k is not None:
        kth = torch.topk(logits, top_k).values[:, -1:]
        logits = torch.where(logits < kth, torch.tensor(float("-inf")), logits)
    return torch.multinomial(torch.softmax(logits / temperature, dim=-1), num_samples=1)


@pytest.mark.parametrize(("temperature", "top_k"), [(1.0, None), (1.4, 25), (0.5, 3)])
@pytest.mark.parametrize("use_cache", [False, True])
def test_sampling_follows_the_global_rng_like_the_book(temperature, top_k, use_cache):
    model = tiny_model(seed=5)
    prompt = torch.randint(0, 97, (1, 3))
    torch.manual_seed(123)
    idx = prompt
    for _ in range(15):
        with torch.no_grad():
            logits = model(idx[:, -12:])[:, -1]
        idx = torch.cat((idx, book_sampling_step(logits, temperature, top_k)), dim=1)
    torch.manual_seed(123)
    out = generate(model, prompt, 15, 12, temperature=temperature, top_k=top_k, use_cache=use_cache)
    assert torch.equal(out, idx)


def test_top_k_one_is_greedy_at_any_temperature():
    model = tiny_model(seed=6)
    prompt = torch.randint(0, 97, (2, 4))
    torch.manual_seed(0)
    assert torch.equal(generate(model, prompt, 10, 12, temperature=2.0, top_k=1), generate(model, prompt, 10, 12))


def test_top_k_keeps_only_the_k_most_likely_tokens():
    model = tiny_model(seed=6)
    prompt = torch.randint(0, 97, (1, 4))
    allowed = set(torch.topk(model(prompt)[0, -1], 3).indices.tolist())
    torch.manual_seed(0)
    seen = {generate(model, prompt, 1, 12, temperature=5.0, top_k=3)[0, -1].item() for _ in range(60)}
    assert seen <= allowed and len(seen) > 1


def test_eos_stops_generation_without_appending_it():
    model = tiny_model(seed=7)
    prompt = torch.randint(0, 97, (1, 3))
    free = generate(model, prompt, 10, 12)
    eos = free[0, 6].item()  # the 4th generated token
    first = free[0, 3:].tolist().index(eos) + 3
    out = generate(model, prompt, 10, 12, eos_id=eos)
    assert torch.equal(out, free[:, :first])
    assert torch.equal(generate(model, prompt, 10, 12, eos_id=eos, use_cache=False), out)


def test_eos_in_a_batch_pads_finished_rows_until_all_finish():
    model = tiny_model(seed=7)
    prompts = torch.randint(0, 97, (2, 3))
    free = generate(model, prompts, 10, 12)
    eos = free[0, 5].item()
    out = generate(model, prompts, 10, 12, eos_id=eos)
    for row in range(2):
        generated = free[row, 3:].tolist()
        end = generated.index(eos) if eos in generated else len(generated)
        assert out[row, 3 : 3 + end].tolist() == generated[:end]
        assert all(token == eos for token in out[row, 3 + end :].tolist())


def test_zero_new_tokens_returns_the_prompt():
    model = tiny_model()
    prompt = torch.randint(0, 97, (2, 5))
    assert torch.equal(generate(model, prompt, 0, 12), prompt)
    assert torch.equal(generate_text_simple(model, prompt, 0, 12), prompt)


def test_generate_works_for_any_model_and_the_cache_is_opt_in():
    """Without the cache (the default, as the book's generate) any model runs, for example the notebook's own; the
    cache is an opt-in that needs a GPTModel, and a clear error says so for any other model."""
    model = tiny_model(seed=9)

    def plain(idx: torch.Tensor) -> torch.Tensor:
        return model(idx)

    prompt = torch.randint(0, 97, (1, 4))
    assert torch.equal(generate(plain, prompt, 8, 12), generate(model, prompt, 8, 12, use_cache=True))
    with pytest.raises(TypeError, match=r"use_cache=True needs a helpers.gpt.GPTModel .*got function"):
        generate(plain, prompt, 8, 12, use_cache=True)


def test_sample_next_token_draws_from_the_generator_it_is_given():
    logits = torch.randn(3, 97, generator=torch.Generator().manual_seed(1))
    first = sample_next_token(logits, temperature=1.5, top_k=10, generator=torch.Generator().manual_seed(5))
    torch.manual_seed(0)  # the global generator plays no part
    again = sample_next_token(logits, temperature=1.5, top_k=10, generator=torch.Generator().manual_seed(5))
    assert first.shape == (3, 1) and torch.equal(first, again)
    assert all(logits[row, first[row, 0]] >= logits[row].topk(10).values[-1] for row in range(3))
    assert torch.equal(sample_next_token(logits), logits.argmax(dim=-1, keepdim=True))  # temperature 0: greedy


def test_generate_with_a_generator_repeats_its_text():
    model, prompt = tiny_model(seed=4), torch.randint(0, 97, (2, 3))
    runs = [generate(model, prompt, 10, 12, temperature=1.0, generator=torch.Generator().manual_seed(7))
            for _ in range(2)]
    assert torch.equal(runs[0], runs[1])


@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"logits": torch.zeros(97)}, ValueError, r"logits must be a float tensor of shape \(batch, vocab_size\)"),
    ({"logits": torch.zeros(1, 97), "generator": 3}, TypeError, r"generator must be a torch.Generator or None"),
    ({"logits": torch.zeros(1, 97), "top_k": 98}, ValueError, r"top_k must be None or an integer in \[1, vocab"),
])
def test_sample_next_token_bad_input(kwargs, error, message):
    with pytest.raises(error, match=message):
        sample_next_token(**kwargs)


# --- bad input ---


def test_config_missing_and_unknown_keys_are_listed():
    cfg = {key: value for key, value in GPT_CONFIG_124M.items() if key not in ("n_heads", "qkv_bias")}
    cfg["num_heads"] = 12
    with pytest.raises(ValueError, match=r"missing keys \['n_heads', 'qkv_bias'\], unknown keys \['num_heads'\]"):
        GPTModel(cfg)


def test_emb_dim_not_divisible_by_n_heads():
    with pytest.raises(ValueError, match=r"emb_dim=768 must be divisible by n_heads=5"):
        GPTModel({**GPT_CONFIG_124M, "n_heads": 5})


@pytest.mark.parametrize(
    ("key", "value"),
    [("n_layers", 0), ("emb_dim", 7.5), ("vocab_size", True), ("drop_rate", 1.0), ("drop_rate", -0.1),
     ("qkv_bias", 1)],
)
def test_invalid_config_values(key, value):
    with pytest.raises((ValueError, TypeError), match=rf"'{key}' must be"):
        check_config({**TINY, key: value})


@pytest.mark.parametrize("bad", [97, 1000, -1])
def test_token_ids_out_of_range(bad):
    model = tiny_model()
    idx = torch.tensor([[1, 2, bad]])
    message = rf"token id {bad}.* at index \(0, 2\) is out of range .* vocabulary size 97: valid ids are 0 to 96"
    with pytest.raises(IndexError, match=message):
        model(idx)
    with pytest.raises(IndexError, match=message):
        generate(model, idx, 1, 12)
    with pytest.raises(IndexError, match=message):
        generate_text_simple(model, idx, 1, 12)


def test_sequence_longer_than_context_length():
    with pytest.raises(ValueError, match=r"13 tokens exceed context_length=12; crop the input to its last 12"):
        tiny_model()(torch.zeros(1, 13, dtype=torch.long))


@pytest.mark.parametrize("idx", [torch.zeros(4, dtype=torch.long), torch.zeros(1, 3), [[1, 2]]])
def test_malformed_token_ids(idx):
    with pytest.raises(ValueError, match=r"shape \(batch, num_tokens\)"):
        tiny_model()(idx)
    with pytest.raises(ValueError, match=r"shape \(batch, num_tokens\)"):
        generate(tiny_model(), idx, 1, 12)


@pytest.mark.parametrize("fn", [generate, generate_text_simple])
def test_negative_max_new_tokens(fn):
    with pytest.raises(ValueError, match=r"max_new_tokens must be a whole number >= 0, got -1"):
        fn(tiny_model(), torch.zeros(1, 2, dtype=torch.long), -1, 12)


@pytest.mark.parametrize("fn", [generate, generate_text_simple])
@pytest.mark.parametrize("shape", [(1, 0), (0, 3)])
def test_empty_prompt(fn, shape):
    with pytest.raises(ValueError, match=r"the prompt is empty"):
        fn(tiny_model(), torch.zeros(shape, dtype=torch.long), 3, 12)


@pytest.mark.parametrize("context_size", [0, 13])
def test_bad_context_size(context_size):
    with pytest.raises(ValueError, match=rf"context_size(={context_size} exceeds| must be a whole number >= 1).*"):
        generate(tiny_model(), torch.zeros(1, 2, dtype=torch.long), 3, context_size)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"temperature": -0.5}, r"temperature must be a number >= 0"),
    ({"temperature": math.nan}, r"temperature must be a number >= 0"),
    ({"top_k": 0}, r"top_k must be None or an integer in \[1, vocab_size=97\], got 0"),
    ({"top_k": 98}, r"top_k must be None or an integer in \[1, vocab_size=97\], got 98"),
])
def test_bad_sampling_options(kwargs, message):
    with pytest.raises(ValueError, match=message):
        generate(tiny_model(), torch.zeros(1, 2, dtype=torch.long), 3, 12, **kwargs)


# --- parameter counts ---


def test_parameter_counts_add_up_and_follow_the_architecture():
    model = GPTModel(TINY)
    groups = parameter_counts(model)
    assert sum(groups.values()) == sum(p.numel() for p in model.parameters())
    d, v, n = TINY["emb_dim"], TINY["vocab_size"], TINY["n_layers"]
    assert groups == {
        "token embedding": v * d,
        "position embedding": TINY["context_length"] * d,
        "attention": n * (3 * d * d + d * d + d),
        "feed-forward": n * (d * 4 * d + 4 * d + 4 * d * d + d),
        "layer norms": (2 * n + 1) * 2 * d,
        "output head": v * d,
    }


def test_parameter_counts_on_the_meta_device():
    with torch.device("meta"):
        model = GPTModel({**GPT_CONFIG_124M, "emb_dim": 1600, "n_layers": 48, "n_heads": 25})
    assert sum(parameter_counts(model).values()) == 1_637_792_000  # GPT-2 XL without weight tying


# --- figures ---


def test_gelu_relu_figure_plots_both_functions():
    import matplotlib.pyplot as plt

    from helpers.teaching.plots import plot_gelu_relu

    fig = plot_gelu_relu(GELU(), -2.0, 2.0)
    try:
        gelu_line, relu_line = (ax.lines[0] for ax in fig.axes)
        x = torch.tensor(gelu_line.get_xdata(), dtype=torch.float32)
        torch.testing.assert_close(torch.tensor(gelu_line.get_ydata()), GELU()(x))
        torch.testing.assert_close(torch.tensor(relu_line.get_ydata()), torch.relu(x))
        assert (x.min().item(), x.max().item()) == (-2.0, 2.0)
    finally:
        plt.close(fig)


def test_gradient_figure_has_one_line_per_network():
    import matplotlib.pyplot as plt

    from helpers.teaching.plots import plot_gradient_magnitudes

    fig = plot_gradient_magnitudes({"a": [1e-4, 1e-3, 1e-2], "b": [0.2, 0.3, 1.3]})
    try:
        (ax,) = fig.axes
        assert [line.get_label() for line in ax.lines] == ["a", "b"]
        assert list(ax.lines[1].get_ydata()) == [0.2, 0.3, 1.3]
        assert ax.get_yscale() == "log"
    finally:
        plt.close(fig)


def test_gelu_relu_figure_refuses_what_is_not_a_function():
    from helpers.teaching.plots import plot_gelu_relu

    with pytest.raises(TypeError, match="gelu must be a GELU module"):
        plot_gelu_relu(3)
