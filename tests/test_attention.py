"""helpers.attention: the book's seeded numbers, equivalence with explicit and PyTorch attention, bad input."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from helpers.attention import CausalAttention, MultiHeadAttention, attention_weights

# "Your journey starts with one step", one 3-d embedding per word (the book's section 3.3.1)
INPUTS = torch.tensor(
    [[0.43, 0.15, 0.89], [0.55, 0.87, 0.66], [0.57, 0.85, 0.64], [0.22, 0.58, 0.33], [0.77, 0.25, 0.10],
     [0.05, 0.80, 0.55]]
)
BATCH = torch.stack((INPUTS, INPUTS))  # (2, 6, 3)

# The book's printed outputs (section 3.5.3 and 3.6.2), for each of the two identical batch rows
BOOK_CAUSAL = torch.tensor(
    [[-0.4519, 0.2216], [-0.5874, 0.0058], [-0.6300, -0.0632], [-0.5675, -0.0843], [-0.5526, -0.0981],
     [-0.5299, -0.1081]]
)
BOOK_MHA = torch.tensor(
    [[0.3190, 0.4858], [0.2943, 0.3897], [0.2856, 0.3593], [0.2693, 0.3873], [0.2639, 0.3928], [0.2575, 0.4028]]
)
# The book's attention weights of SelfAttention_v2 (seed 789), section 3.5.1: before and after the causal mask
BOOK_WEIGHTS = torch.tensor(
    [[0.1921, 0.1646, 0.1652, 0.1550, 0.1721, 0.1510], [0.2041, 0.1659, 0.1662, 0.1496, 0.1665, 0.1477],
     [0.2036, 0.1659, 0.1662, 0.1498, 0.1664, 0.1480], [0.1869, 0.1667, 0.1668, 0.1571, 0.1661, 0.1564],
     [0.1830, 0.1669, 0.1670, 0.1588, 0.1658, 0.1585], [0.1935, 0.1663, 0.1666, 0.1542, 0.1666, 0.1529]]
)
BOOK_CAUSAL_WEIGHTS = torch.tensor(
    [[1.0000, 0.0000, 0.0000, 0.0000, 0.0000, 0.0000], [0.5517, 0.4483, 0.0000, 0.0000, 0.0000, 0.0000],
     [0.3800, 0.3097, 0.3103, 0.0000, 0.0000, 0.0000], [0.2758, 0.2460, 0.2462, 0.2319, 0.0000, 0.0000],
     [0.2175, 0.1983, 0.1984, 0.1888, 0.1971, 0.0000], [0.1935, 0.1663, 0.1666, 0.1542, 0.1666, 0.1529]]
)


def explicit_attention(mha: MultiHeadAttention, x: torch.Tensor) -> torch.Tensor:
    """softmax(Q K^T / sqrt(d)) V head by head with a -inf causal mask, then out_proj: the reference."""
    num_tokens = x.shape[1]
    d = mha.head_dim
    future = torch.ones(num_tokens, num_tokens).triu(1).bool()
    q, k, v = mha.W_query(x), mha.W_key(x), mha.W_value(x)
    heads = []
    for h in range(mha.num_heads):
        cols = slice(h * d, (h + 1) * d)
        scores = q[..., cols] @ k[..., cols].transpose(-2, -1) / math.sqrt(d)
        weights = torch.softmax(scores.masked_fill(future, float("-inf")), dim=-1)
        heads.append(weights @ v[..., cols])
    return mha.out_proj(torch.cat(heads, dim=-1))


def torch_mha_with_weights_of(mha: MultiHeadAttention) -> nn.MultiheadAttention:
    """A torch.nn.MultiheadAttention holding the same weights as `mha`."""
    assert mha.d_in == mha.d_out, "nn.MultiheadAttention packs Q, K, V in one in_proj only when d_in == d_out"
    ref = nn.MultiheadAttention(mha.d_out, mha.num_heads, batch_first=True)
    with torch.no_grad():
        ref.in_proj_weight.copy_(torch.cat([mha.W_query.weight, mha.W_key.weight, mha.W_value.weight]))
        if mha.W_query.bias is None:
            ref.in_proj_bias.zero_()
        else:
            ref.in_proj_bias.copy_(torch.cat([mha.W_query.bias, mha.W_key.bias, mha.W_value.bias]))
        ref.out_proj.weight.copy_(mha.out_proj.weight)
        ref.out_proj.bias.copy_(mha.out_proj.bias)
    return ref.eval()


# --- the book's numbers ---


def test_causal_attention_reproduces_the_book():
    torch.manual_seed(123)
    ca = CausalAttention(3, 2, context_length=6, dropout=0.0)
    out = ca(BATCH)
    assert out.shape == (2, 6, 2)
    torch.testing.assert_close(out[0], BOOK_CAUSAL, atol=5e-5, rtol=0)
    torch.testing.assert_close(out[1], BOOK_CAUSAL, atol=5e-5, rtol=0)


def test_multi_head_attention_reproduces_the_book():
    torch.manual_seed(123)
    mha = MultiHeadAttention(3, 2, context_length=6, dropout=0.0, num_heads=2)
    out = mha(BATCH)
    assert out.shape == (2, 6, 2)
    torch.testing.assert_close(out[0], BOOK_MHA, atol=5e-5, rtol=0)
    torch.testing.assert_close(out[1], BOOK_MHA, atol=5e-5, rtol=0)


def test_gpt2_small_sized_attention_has_the_books_parameter_count():
    mha = MultiHeadAttention(768, 768, context_length=1024, dropout=0.0, num_heads=12)
    assert sum(p.numel() for p in mha.parameters()) == 2_360_064  # the book's exercise 3.3
    assert mha.head_dim == 64


def test_attention_weights_reproduce_the_book():
    torch.manual_seed(789)  # the same three nn.Linear layers, created in the same order, as SelfAttention_v2
    ca = CausalAttention(3, 2, context_length=6, dropout=0.0)
    x = INPUTS.unsqueeze(0)
    torch.testing.assert_close(attention_weights(ca, x, causal=False)[0, 0], BOOK_WEIGHTS, atol=5e-5, rtol=0)
    torch.testing.assert_close(attention_weights(ca, x)[0, 0], BOOK_CAUSAL_WEIGHTS, atol=5e-5, rtol=0)


# --- structure the later chapters rely on ---


def test_book_attribute_names_and_state_dict_keys():
    mha = MultiHeadAttention(4, 6, context_length=5, dropout=0.1, num_heads=3, qkv_bias=True)
    assert set(mha.state_dict()) == {
        "W_query.weight", "W_query.bias", "W_key.weight", "W_key.bias", "W_value.weight", "W_value.bias",
        "out_proj.weight", "out_proj.bias",
    }
    assert (mha.num_heads, mha.head_dim) == (3, 2)
    assert MultiHeadAttention(4, 6, 5, 0.0, num_heads=3).W_query.bias is None


@pytest.mark.parametrize("module", [CausalAttention(3, 2, 6, 0.0), MultiHeadAttention(3, 4, 6, 0.0, num_heads=2)])
def test_mask_is_a_non_persistent_causal_buffer(module):
    assert "mask" in dict(module.named_buffers())
    assert "mask" not in module.state_dict()
    expected = torch.tensor([[j > i for j in range(6)] for i in range(6)])
    torch.testing.assert_close(module.mask, expected)


@pytest.mark.parametrize("make", [lambda: CausalAttention(3, 2, 6, 0.0), lambda: MultiHeadAttention(3, 4, 6, 0.0, 2)])
def test_a_book_state_dict_with_its_persistent_mask_loads_strictly(make):
    """The book's classes save `mask`; ours rebuild it, and accept the saved one when it is the causal mask."""
    torch.manual_seed(8)
    source, target = make(), make()
    book_state = {**source.state_dict(), "mask": torch.triu(torch.ones(6, 6), diagonal=1)}  # the book's float mask
    target.load_state_dict(book_state)  # strict
    x = torch.randn(2, 5, 3)
    torch.testing.assert_close(target(x), source(x))
    assert "mask" not in target.state_dict()


@pytest.mark.parametrize("bad_mask", [torch.ones(6, 6), torch.triu(torch.ones(5, 5), diagonal=1)])
def test_a_mask_that_is_not_the_causal_mask_is_refused(bad_mask):
    mha = MultiHeadAttention(3, 4, 6, 0.0, 2)
    with pytest.raises(RuntimeError, match=r"mask: a mask of shape .* that is not the causal mask of context_length=6"):
        mha.load_state_dict({**mha.state_dict(), "mask": bad_mask})


# --- equivalence ---


@settings(max_examples=25, deadline=None)
@given(
    batch=st.integers(1, 3),
    num_tokens=st.integers(1, 9),
    num_heads=st.integers(1, 4),
    head_dim=st.integers(1, 5),
    d_in=st.integers(1, 7),
    qkv_bias=st.booleans(),
    seed=st.integers(0, 2**16),
)
def test_equals_explicit_softmax_attention(batch, num_tokens, num_heads, head_dim, d_in, qkv_bias, seed):
    torch.manual_seed(seed)
    mha = MultiHeadAttention(d_in, num_heads * head_dim, 9, dropout=0.5, num_heads=num_heads, qkv_bias=qkv_bias)
    mha.eval()  # no dropout
    x = torch.randn(batch, num_tokens, d_in)
    torch.testing.assert_close(mha(x), explicit_attention(mha, x), atol=1e-5, rtol=1e-5)


def test_gradients_equal_explicit_softmax_attention():
    torch.manual_seed(0)
    mha = MultiHeadAttention(8, 12, 10, dropout=0.0, num_heads=3, qkv_bias=True)
    x = torch.randn(2, 10, 8, requires_grad=True)
    grads = torch.autograd.grad(mha(x).square().sum(), [x, *mha.parameters()])
    ref_grads = torch.autograd.grad(explicit_attention(mha, x).square().sum(), [x, *mha.parameters()])
    for g, ref in zip(grads, ref_grads, strict=True):
        torch.testing.assert_close(g, ref, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("qkv_bias", [False, True])
@pytest.mark.parametrize(("d_out", "num_heads", "num_tokens"), [(2, 2, 6), (12, 3, 7), (768, 12, 16)])
def test_equals_torch_multihead_attention_with_copied_weights(d_out, num_heads, num_tokens, qkv_bias):
    torch.manual_seed(123)
    mha = MultiHeadAttention(d_out, d_out, 16, dropout=0.0, num_heads=num_heads, qkv_bias=qkv_bias)
    ref = torch_mha_with_weights_of(mha)
    x = torch.randn(2, num_tokens, d_out)
    future = torch.ones(num_tokens, num_tokens).triu(1).bool()  # True = may not attend
    expected, _ = ref(x, x, x, attn_mask=future, need_weights=False)
    torch.testing.assert_close(mha(x), expected, atol=1e-5, rtol=1e-5)


def test_causal_attention_equals_one_head_of_explicit_attention():
    torch.manual_seed(1)
    ca = CausalAttention(5, 4, 8, dropout=0.0, qkv_bias=True)
    mha = MultiHeadAttention(5, 4, 8, dropout=0.0, num_heads=1, qkv_bias=True)
    mha.load_state_dict({**ca.state_dict(), "out_proj.weight": torch.eye(4), "out_proj.bias": torch.zeros(4)})
    x = torch.randn(3, 8, 5)
    torch.testing.assert_close(ca(x), mha(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("make", [lambda: CausalAttention(4, 6, 8, 0.0), lambda: MultiHeadAttention(4, 6, 8, 0.0, 3)])
def test_outputs_do_not_depend_on_future_tokens(make):
    torch.manual_seed(5)
    module = make()
    x = torch.randn(1, 8, 4)
    changed = x.clone()
    changed[:, 5:] = torch.randn(1, 3, 4)  # new tokens 5, 6, 7
    torch.testing.assert_close(module(x)[:, :5], module(changed)[:, :5])
    assert not torch.allclose(module(x)[:, 5:], module(changed)[:, 5:])


def test_attention_weights_give_the_forward_pass():
    torch.manual_seed(2)
    mha = MultiHeadAttention(5, 6, 8, dropout=0.0, num_heads=3, qkv_bias=True)
    x = torch.randn(2, 7, 5)
    weights = attention_weights(mha, x)  # (2, 3, 7, 7)
    assert weights.shape == (2, 3, 7, 7)
    values = mha.W_value(x).view(2, 7, 3, 2).transpose(1, 2)  # (2, 3, 7, 2)
    merged = (weights @ values).transpose(1, 2).reshape(2, 7, 6)
    torch.testing.assert_close(mha.out_proj(merged), mha(x), atol=1e-5, rtol=1e-5)
    ca = CausalAttention(5, 4, 8, dropout=0.0)
    torch.testing.assert_close(attention_weights(ca, x)[:, 0] @ ca.W_value(x), ca(x), atol=1e-5, rtol=1e-5)


def test_attention_weights_rows_are_distributions_masked_only_when_causal():
    torch.manual_seed(4)
    mha = MultiHeadAttention(3, 4, 6, dropout=0.0, num_heads=2)
    x = torch.randn(1, 6, 3)
    future = torch.ones(6, 6).triu(1).bool()
    for causal in (True, False):
        weights = attention_weights(mha, x, causal=causal)
        torch.testing.assert_close(weights.sum(-1), torch.ones(1, 2, 6))
        assert bool((weights[..., future] == 0).all()) is causal


# --- dropout only in training ---


@pytest.mark.parametrize("make", [lambda: CausalAttention(4, 6, 8, 0.5), lambda: MultiHeadAttention(4, 6, 8, 0.5, 3)])
def test_dropout_acts_in_training_only(make):
    torch.manual_seed(7)
    module = make()
    x = torch.randn(2, 8, 4)
    module.eval()
    evaluated = module(x)
    torch.testing.assert_close(module(x), evaluated)  # deterministic in eval mode
    module.train()
    torch.manual_seed(0)
    trained = module(x)
    assert not torch.allclose(trained, evaluated)
    torch.manual_seed(0)
    torch.testing.assert_close(module(x), trained)  # seeded dropout is reproducible


def test_no_dropout_means_train_equals_eval():
    torch.manual_seed(3)
    mha = MultiHeadAttention(4, 6, 8, 0.0, num_heads=3)
    x = torch.randn(2, 8, 4)
    torch.testing.assert_close(mha.train()(x), mha.eval()(x))


# --- bad input ---


@pytest.mark.parametrize(("d_out", "num_heads"), [(10, 4), (768, 5)])
def test_d_out_not_divisible_by_num_heads(d_out, num_heads):
    with pytest.raises(ValueError, match=rf"d_out={d_out}.*num_heads={num_heads}"):
        MultiHeadAttention(8, d_out, 16, 0.0, num_heads=num_heads)


@pytest.mark.parametrize("num_heads", [0, -2])
def test_num_heads_must_be_positive(num_heads):
    with pytest.raises(ValueError, match=rf"num_heads must be a whole number >= 1, got {num_heads}"):
        MultiHeadAttention(8, 8, 16, 0.0, num_heads=num_heads)


MODULES = [lambda: CausalAttention(3, 2, 6, 0.0), lambda: MultiHeadAttention(3, 2, 6, 0.0, num_heads=2)]


@pytest.mark.parametrize("make", MODULES)
@pytest.mark.parametrize("shape", [(2, 6, 4), (2, 6, 2), (6, 3), (1, 2, 6, 3), (3,)])
def test_wrong_input_shape_names_the_expected_shape(make, shape):
    with pytest.raises(ValueError, match=r"\(batch, num_tokens, d_in=3\), got shape " + re_shape(shape)):
        make()(torch.zeros(shape))


@pytest.mark.parametrize("make", MODULES)
def test_sequence_longer_than_context_length(make):
    with pytest.raises(ValueError, match=r"7 tokens but context_length=6"):
        make()(torch.zeros(1, 7, 3))


@pytest.mark.parametrize("make", MODULES)
def test_attention_weights_check_the_input_too(make):
    with pytest.raises(ValueError, match=r"d_in=3\), got shape \(6, 3\)"):
        attention_weights(make(), torch.zeros(6, 3))
    with pytest.raises(ValueError, match=r"7 tokens but context_length=6"):
        attention_weights(make(), torch.zeros(1, 7, 3))


def re_shape(shape: tuple[int, ...]) -> str:
    """The regex for a shape printed as a Python tuple."""
    return r"\(" + r",\s*".join(map(str, shape)) + (r",\)" if len(shape) == 1 else r"\)")
