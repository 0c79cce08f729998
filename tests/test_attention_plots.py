"""Notebook 05's attention figures (helpers.teaching.plots) and its attention explorer (helpers.teaching.widgets),
driven headless."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from helpers.attention import CausalAttention, MultiHeadAttention, attention_weights
from helpers.teaching.plots import plot_attention_heads, plot_query_attention
from helpers.teaching.widgets import attention_explorer

TOKENS = "Your journey starts with one step".split()
INPUTS = torch.tensor(
    [[0.43, 0.15, 0.89], [0.55, 0.87, 0.66], [0.57, 0.85, 0.64], [0.22, 0.58, 0.33], [0.77, 0.25, 0.10],
     [0.05, 0.80, 0.55]]
).unsqueeze(0)  # (1, 6, 3)


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


@pytest.fixture
def mha() -> MultiHeadAttention:
    torch.manual_seed(123)
    return MultiHeadAttention(3, 6, context_length=6, dropout=0.0, num_heads=3)


def heatmap_values(ax) -> torch.Tensor:
    return torch.as_tensor(ax.images[0].get_array().data)


# --- plot_attention_heads ---


def test_heads_figure_has_a_heatmap_per_label_and_head(mha):
    causal = attention_weights(mha, INPUTS)[0]
    plain = attention_weights(mha, INPUTS, causal=False)[0]
    fig = plot_attention_heads({"no mask": plain, "causal": causal}, TOKENS)
    assert isinstance(fig, Figure)
    maps = [ax for ax in fig.axes if ax.images]
    assert len(maps) == 2 * 3
    assert [ax.get_title() for ax in maps[:3]] == ["no mask, head 0", "no mask, head 1", "no mask, head 2"]
    torch.testing.assert_close(heatmap_values(maps[4]), causal[1].double())
    assert [t.get_text() for t in maps[0].get_xticklabels()] == TOKENS


@pytest.mark.parametrize(
    ("weights", "tokens", "message"),
    [
        ({}, TOKENS, "empty"),
        ({"a": torch.ones(2, 6, 6), "b": torch.ones(3, 6, 6)}, TOKENS, "same shape"),
        ({"a": torch.ones(2, 6, 6)}, TOKENS[:5], "6 tokens but 5"),
        ({"a": torch.ones(6, 6)}, TOKENS, r"3-d .* got shape \(6, 6\)"),
    ],
)
def test_heads_figure_rejects_inconsistent_weights(weights, tokens, message):
    with pytest.raises(ValueError, match=message):
        plot_attention_heads(weights, tokens)


# --- plot_query_attention ---


def test_query_figure_frames_the_query_row_and_draws_its_weights(mha):
    weights = attention_weights(mha, INPUTS)[0, 2]
    fig = plot_query_attention(weights, TOKENS, query=3, title="head 2")
    heat, bars = fig.axes[0], fig.axes[1]
    frame = [p for p in heat.patches if isinstance(p, Rectangle)]
    assert len(frame) == 1 and frame[0].get_y() == pytest.approx(2.5)
    heights = torch.tensor([b.get_height() for b in bars.patches])
    torch.testing.assert_close(heights, weights[3].double())
    assert "'with'" in bars.get_title()


def test_query_figure_bad_input():
    with pytest.raises(IndexError, match="query=6 .* 6 tokens"):
        plot_query_attention(torch.eye(6), TOKENS, query=6)
    with pytest.raises(ValueError, match="6 tokens but 4"):
        plot_query_attention(torch.eye(6), TOKENS[:4], query=0)
    with pytest.raises(ValueError, match="2-d"):
        plot_query_attention(torch.ones(6, 5), TOKENS, query=0)


# --- attention_explorer ---


def controls(w) -> dict:
    return {c.description: c for c in w.children[:4]}


def test_explorer_shows_the_chosen_head_and_query(mha):
    w = attention_explorer(mha, INPUTS, TOKENS)
    c = controls(w)
    assert list(c) == ["head", "query word", "causal mask", "dropout 0.5"]
    c["head"].value = 2
    c["query word"].value = 4
    w.update()
    expected = attention_weights(mha, INPUTS)[0, 2, 4]
    torch.testing.assert_close(w.result, expected)
    assert torch.count_nonzero(w.result[5:]) == 0  # "one" cannot see "step"
    c["causal mask"].value = False
    w.update()
    torch.testing.assert_close(w.result, attention_weights(mha, INPUTS, causal=False)[0, 2, 4])
    assert torch.count_nonzero(w.result) == 6


def test_explorer_dropout_zeroes_and_rescales_reproducibly(mha):
    w = attention_explorer(mha, INPUTS, TOKENS, dropout_rate=0.5, seed=1)
    c = controls(w)
    c["causal mask"].value = False
    c["query word"].value = 1
    w.update()
    plain = w.result.clone()
    c["dropout 0.5"].value = True
    w.update()
    dropped = w.result.clone()
    kept = dropped != 0
    assert 0 < int(kept.sum()) < 6
    torch.testing.assert_close(dropped[kept], 2 * plain[kept])
    w.update()
    torch.testing.assert_close(w.result, dropped)  # the same seed, the same dropout pattern


def test_explorer_displays_the_figure_of_its_choice(mha, monkeypatch):
    shown = []
    monkeypatch.setattr("helpers.teaching.widgets.display", shown.append)
    w = attention_explorer(mha, INPUTS, TOKENS)
    controls(w)["head"].value = 1
    controls(w)["dropout 0.5"].value = True
    w.update()
    assert isinstance(shown[-1], Figure)
    assert shown[-1].axes[0].get_title() == "head 1, causal mask, dropout"


def test_explorer_works_with_a_single_head():
    torch.manual_seed(0)
    w = attention_explorer(CausalAttention(3, 2, 6, 0.0), INPUTS, TOKENS)
    assert [o[1] for o in controls(w)["head"].options] == [0]
    w.update()
    assert w.result.shape == (6,)


def test_explorer_bad_input(mha):
    with pytest.raises(ValueError, match=r"\(1, 6, d_in\) for 6 tokens, got shape \(2, 6, 3\)"):
        attention_explorer(mha, torch.cat([INPUTS, INPUTS]), TOKENS)
    with pytest.raises(ValueError, match="dropout_rate must be in"):
        attention_explorer(mha, INPUTS, TOKENS, dropout_rate=1.0)
