"""Matplotlib figures used by the notebooks; each function returns a `Figure` and saves nothing.

Figures are made with pyplot so that Jupyter's inline backend renders them; the caller closes them
(`plt.close(fig)`) and shows them once.

Sections are headed by the notebook that uses them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.patches import Rectangle

# --- 04 attention (notebooks/04_attention.ipynb, section 3.6.4 "Looking at the attention weights") ---


def _attention_array(weights: torch.Tensor | np.ndarray, ndim: int, what: str) -> np.ndarray:
    """Attention weights as a float numpy array of `ndim` dimensions, or a `ValueError` naming the shape."""
    array = np.asarray(torch.as_tensor(weights).detach().cpu(), dtype=float)
    if array.ndim != ndim or array.shape[-1] != array.shape[-2]:
        raise ValueError(f"{what} must be {ndim}-d with two equal last dimensions, got shape {array.shape}")
    return array


def _draw_weights(ax: Axes, weights: np.ndarray, tokens: Sequence[str], title: str) -> AxesImage:
    """One (queries x keys) heatmap on `ax`, values written in the cells when there are few of them."""
    image = ax.imshow(weights, cmap="viridis", vmin=0.0, vmax=max(1.0, float(weights.max())))
    n = len(tokens)
    ax.set_xticks(range(n), tokens, rotation=60, ha="right", fontsize=7)
    ax.set_yticks(range(n), tokens, fontsize=7)
    ax.set_title(title, fontsize=8)
    if n <= 8:
        for i in range(n):
            for j in range(n):
                value = weights[i, j]
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=5.5,
                        color="black" if value > 0.6 else "white")
    return image


def plot_attention_heads(weights_by_label: Mapping[str, torch.Tensor], tokens: Sequence[str]) -> Figure:
    """Heatmaps of attention weights: a row per label (e.g. no mask / causal), a column per head.

    Each value of `weights_by_label` is (num_heads, num_tokens, num_tokens); rows are queries, columns keys.
    """
    if not weights_by_label:
        raise ValueError("weights_by_label is empty: give at least one label -> (num_heads, n, n) weights")
    arrays = {label: _attention_array(w, 3, f"weights[{label!r}]") for label, w in weights_by_label.items()}
    shapes = {a.shape for a in arrays.values()}
    if len(shapes) != 1:
        raise ValueError(f"all weights need the same shape, got {sorted(shapes)}")
    num_heads, n, _ = shapes.pop()
    if n != len(tokens):
        raise ValueError(f"the weights cover {n} tokens but {len(tokens)} tokens were given")

    rows = len(arrays)
    fig, axes = plt.subplots(rows, num_heads, squeeze=False, figsize=(2.7 * num_heads + 0.8, 2.6 * rows),
                             layout="constrained")
    image = None
    for r, (label, array) in enumerate(arrays.items()):
        for h in range(num_heads):
            image = _draw_weights(axes[r, h], array[h], tokens, f"{label}, head {h}")
    fig.colorbar(image, ax=axes, shrink=0.8, label="attention weight")
    fig.supxlabel("key (the word attended to)", fontsize=8)
    fig.supylabel("query (the word being updated)", fontsize=8)
    return fig


def plot_query_attention(weights: torch.Tensor, tokens: Sequence[str], query: int, title: str = "") -> Figure:
    """One head's (num_tokens, num_tokens) weights with the query's row framed, and that row as bars."""
    array = _attention_array(weights, 2, "weights")
    n = array.shape[0]
    if n != len(tokens):
        raise ValueError(f"the weights cover {n} tokens but {len(tokens)} tokens were given")
    if not 0 <= query < n:
        raise IndexError(f"query={query} is out of range for {n} tokens (0 to {n - 1})")

    fig, (heat, bars) = plt.subplots(1, 2, figsize=(7, 3.2), width_ratios=[1, 1.2], layout="constrained")
    _draw_weights(heat, array, tokens, title or "attention weights")
    heat.add_patch(Rectangle((-0.5, query - 0.5), n, 1, fill=False, edgecolor="red", linewidth=2))  # the query row
    bars.bar(range(n), array[query], color="tab:blue")
    bars.set_xticks(range(n), tokens, rotation=60, ha="right", fontsize=7)
    bars.set_ylim(0, max(1.0, float(array[query].max()) * 1.1))
    bars.set_ylabel("weight", fontsize=8)
    bars.set_title(f"how much {tokens[query]!r} attends to each word (row sum {array[query].sum():.2f})", fontsize=8)
    return fig
