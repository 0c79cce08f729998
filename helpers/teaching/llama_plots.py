"""Matplotlib plots of notebooks/08_llama.ipynb: SiLU beside GELU, RoPE's rotations, a next-token distribution.

Each `plot_*` function returns a `Figure` already closed from pyplot (a notebook cell holding only the call shows it
once) and never saves a file. `helpers.teaching.widgets.chat_explorer` redraws `plot_next_token_probabilities`.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from matplotlib.figure import Figure

__all__ = ["plot_next_token_probabilities", "plot_rope_rotation", "plot_silu_gelu"]


def _closed(fig: Figure) -> Figure:
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_silu_gelu() -> Figure:
    """SiLU (x sigmoid(x), Llama's activation) beside GELU (GPT-2's) from -4 to 4."""
    x = torch.linspace(-4, 4, 161)
    fig, ax = plt.subplots(figsize=(7, 3))
    ax.plot(x, F.silu(x), label="SiLU(x) = x · sigmoid(x)  (Llama)")
    ax.plot(x, F.gelu(x, approximate="tanh"), "--", label="GELU(x)  (GPT-2)")
    ax.axhline(0, color="grey", lw=0.6)
    ax.set_xlabel("x")
    ax.grid(alpha=0.3)
    ax.legend()
    return _closed(fig)


def plot_rope_rotation(cos: torch.Tensor, sin: torch.Tensor, pairs: Sequence[int], positions: int = 8) -> Figure:
    """Where RoPE turns the vector (1, 0) of each pair in `pairs` at positions 0 .. positions - 1.

    `cos`/`sin` are the tables of `precompute_rope_params` (positions, head_dim); pair i is numbers i and
    i + head_dim/2 of a head, turned by position * theta_i.
    """
    if cos.dim() != 2 or cos.shape != sin.shape:
        raise ValueError(f"cos and sin must be (positions, head_dim) tables of one shape, got {tuple(cos.shape)} and "
                         f"{tuple(sin.shape)}")
    half = cos.shape[1] // 2
    if not pairs or any(not 0 <= p < half for p in pairs) or not 1 <= positions <= cos.shape[0]:
        raise ValueError(f"pairs must be in 0..{half - 1} and positions in 1..{cos.shape[0]}, got {list(pairs)} and "
                         f"{positions}")
    fig, axes = plt.subplots(1, len(pairs), figsize=(3 * len(pairs), 3.2))
    axes = [axes] if len(pairs) == 1 else list(axes)
    circle = torch.linspace(0, 2 * torch.pi, 200)
    colours = plt.cm.viridis(torch.linspace(0, 0.9, positions).numpy())
    for ax, pair in zip(axes, pairs, strict=True):
        ax.plot(torch.cos(circle), torch.sin(circle), color="lightgrey", lw=0.8)
        for p in range(positions):
            x, y = float(cos[p, pair]), float(sin[p, pair])
            ax.annotate("", xy=(x, y), xytext=(0, 0), arrowprops={"arrowstyle": "->", "color": colours[p]})
            ax.text(1.15 * x, 1.15 * y, str(p), ha="center", va="center", fontsize=9, color=colours[p])
        theta = float(torch.atan2(sin[1, pair], cos[1, pair]))
        ax.set_title(f"pair {pair}: {theta:.3g} rad per position", fontsize=10)
        ax.set_xlim(-1.35, 1.35)
        ax.set_ylim(-1.35, 1.35)
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    fig.suptitle(f"RoPE turns each pair of numbers by position × its angle (positions 0 to {positions - 1})",
                 fontsize=11)
    return _closed(fig)


def plot_next_token_probabilities(tokens: Sequence[str], probabilities: Sequence[float], title: str = "") -> Figure:
    """A horizontal bar per candidate next token (most likely at the top) with its probability."""
    if len(tokens) != len(probabilities) or not tokens:
        raise ValueError(f"tokens and probabilities must be equally long and not empty, got {len(tokens)} and "
                         f"{len(probabilities)}")
    fig, ax = plt.subplots(figsize=(7, 0.35 * len(tokens) + 1.0))
    labels = [repr(t) for t in tokens]
    ax.barh(range(len(tokens)), [float(p) for p in probabilities], color="#2b5f8a")
    ax.set_yticks(range(len(tokens)), labels)
    ax.invert_yaxis()
    ax.set_xlim(0, 1)
    ax.set_xlabel("probability of the next token")
    for i, p in enumerate(probabilities):
        ax.text(float(p) + 0.01, i, f"{float(p):.2f}", va="center", fontsize=9)
    if title:
        ax.set_title(title, fontsize=11)
    ax.grid(axis="x", alpha=0.3)
    return _closed(fig)
