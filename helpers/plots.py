"""Matplotlib figures used by the notebooks; each function returns a `Figure` and never saves a file.

Each section names the notebook that draws its figures.
"""

from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from helpers.dataset import num_windows

# --- 02_sliding_window ---


def plot_sliding_windows(
    token_ids: Sequence[int],
    max_length: int,
    stride: int,
    batch_size: int = 1,
    labels: Sequence[str] | None = None,
    n_tokens: int = 20,
    max_rows: int = 10,
) -> Figure:
    """The first windows over the first `n_tokens` tokens: inputs and next-token targets as spans, coloured by batch."""
    n_shown = min(n_tokens, len(token_ids))
    total = num_windows(len(token_ids), max_length, stride)
    # windows whose last target still lies inside the shown part of the stream
    starts = [i * stride for i in range(total) if i * stride + max_length < n_shown][:max_rows]
    colours = plt.get_cmap("tab10")
    fig, ax = plt.subplots(figsize=(max(6.0, 0.42 * n_shown), 1.3 + 0.42 * max(len(starts), 1)))
    for row, start in enumerate(starts):
        colour = colours((row // batch_size) % 10)
        y = -row - 1
        ax.add_patch(Rectangle((start, y + 0.05), max_length, 0.42, facecolor=colour, edgecolor="black", lw=0.6))
        ax.add_patch(
            Rectangle((start + 1, y - 0.45), max_length, 0.42, facecolor=colour, alpha=0.35, edgecolor="black",
                      lw=0.6, hatch="//")
        )
    for pos in range(n_shown):  # the token stream itself (ids), as the top row
        ax.add_patch(Rectangle((pos, 0.05), 1, 0.9, facecolor="0.92", edgecolor="0.5", lw=0.6))
        ax.text(pos + 0.5, 0.5, str(int(token_ids[pos])), ha="center", va="center", fontsize=6.5)
    ax.set_xlim(0, n_shown)
    ax.set_ylim(-len(starts) - 0.55, 1.0)
    ax.set_yticks([0.5] + [-r - 1 for r in range(len(starts))])
    rows = [f"window {r} (batch {r // batch_size})" for r in range(len(starts))]
    ax.set_yticklabels(["token ids", *rows], fontsize=8)
    ax.set_xticks([pos + 0.5 for pos in range(n_shown)])
    if labels is None:
        ax.set_xticklabels([str(pos) for pos in range(n_shown)], fontsize=7)
        ax.set_xlabel("position in the token stream")
    else:
        ax.set_xticklabels([f"{pos} {labels[pos]!r}" for pos in range(n_shown)], fontsize=7, rotation=90)
        ax.set_xlabel("position and token")
    ax.tick_params(axis="x", length=0)
    ax.set_title(
        f"max_length={max_length}, stride={stride}, batch_size={batch_size}: first {len(starts)} of {total} windows",
        fontsize=9,
        loc="left",
    )
    ax.legend(
        handles=[
            Patch(facecolor="0.6", edgecolor="black", label="input"),
            Patch(facecolor="0.6", alpha=0.35, edgecolor="black", hatch="//", label="target = input shifted by 1"),
        ],
        loc="lower right",
        bbox_to_anchor=(1.0, 1.0),
        ncol=2,
        fontsize=7,
        frameon=False,
    )
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    return fig
