"""Matplotlib plots of the notebooks' data: each `plot_*` function returns a `Figure` and never saves a file.

Drawn in notebooks 02_text_and_tokens, 03_sliding_window, 04_embeddings, 05_attention, 06_gpt_model, 07_pretraining
and 09_classification_finetuning; each section below names its notebook and book section, and the explorers of
`helpers.teaching.widgets` redraw some of them. The figure comes back already closed from pyplot, so a notebook cell
holding only the call shows it once (IPython displays the returned figure; the inline backend does not show it again).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from matplotlib.patches import Patch, Rectangle

from helpers.embeddings import cosine_similarity_matrix, pca_2d
from helpers.sliding_window import num_windows


def _finished(fig: Figure, tight: bool = True) -> Figure:
    """`fig` laid out (unless it uses constrained layout) and closed from pyplot, so that a cell shows it once."""
    if tight:
        fig.tight_layout()
    plt.close(fig)
    return fig


def _line_chart_style(ax: Axes, xlabel: str, ylabel: str) -> None:
    """Label the axes, start the y axis at 0, add a light grid and the legend."""
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend()


# --- 02_text_and_tokens (beyond the book: "`BPETokenizer`, trained on the story", after section 2.5) ---


def plot_tokens_per_word(
    n_merges: Sequence[int],
    tokens_per_word: Sequence[float],
    reference: float | None = None,
    reference_label: str = "GPT-2",
) -> Figure:
    """Average tokens per word against the number of BPE merges learned, with an optional reference line."""
    if len(n_merges) != len(tokens_per_word) or not n_merges:
        raise ValueError(
            f"n_merges and tokens_per_word must be non-empty and equally long, got {len(n_merges)} and "
            f"{len(tokens_per_word)}"
        )
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(n_merges, tokens_per_word, marker=".", label="BPE trained here")
    if reference is not None:
        ax.axhline(reference, color="tab:red", linestyle="--", label=reference_label)
    _line_chart_style(ax, "merges learned", "tokens per word (average)")
    fig.suptitle("Tokens per word as the merges are learned", fontsize=10)
    return _finished(fig)


# --- 03_sliding_window (section 2.6, beyond the book: "The windows, drawn") ---


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
    return _finished(fig)


# --- 04_embeddings (beyond the book: "Fixed and learned positions", "A 2-D picture of a few token embeddings") ---


def plot_embedding_heatmaps(tables: dict[str, torch.Tensor], ylabel: str = "position") -> Figure:
    """Each (rows, dim) table as a heatmap, side by side: rows down, embedding dimensions across."""
    fig, axes = plt.subplots(1, len(tables), figsize=(4.2 * len(tables), 3.4), squeeze=False)
    for ax, (name, table) in zip(axes[0], tables.items(), strict=True):
        values = table.detach().float().numpy()
        limit = float(abs(values).max())
        image = ax.imshow(values, aspect="auto", cmap="RdBu_r", vmin=-limit, vmax=limit, interpolation="nearest")
        fig.colorbar(image, ax=ax, fraction=0.05)
        ax.set_title(f"{name} {tuple(values.shape)}", fontsize=9)
        ax.set_xlabel("embedding dimension")
        ax.set_ylabel(ylabel)
    return _finished(fig)


def plot_position_similarity(tables: dict[str, torch.Tensor], references: Sequence[int] = (8, 16, 24)) -> Figure:
    """Per table: the cosine similarity of every position with every other (top), and against the distance (bottom)."""
    fig, axes = plt.subplots(2, len(tables), figsize=(4.2 * len(tables), 6.4), squeeze=False)
    for col, (name, table) in enumerate(tables.items()):
        similarity = cosine_similarity_matrix(table)  # (positions, positions)
        top, bottom = axes[0, col], axes[1, col]
        image = top.imshow(similarity.numpy(), cmap="RdBu_r", vmin=-1, vmax=1, interpolation="nearest")
        fig.colorbar(image, ax=top, fraction=0.05)
        top.set_title(f"{name}: cosine similarity", fontsize=9)
        top.set_xlabel("position")
        top.set_ylabel("position")
        offsets = torch.arange(similarity.shape[0])
        for ref in references:
            if ref < similarity.shape[0]:
                distance = (offsets - ref).numpy()
                bottom.plot(distance, similarity[ref].numpy(), marker=".", ms=3, lw=1, label=f"from position {ref}")
        bottom.axhline(0, color="0.6", lw=0.6)
        bottom.set_ylim(-1.05, 1.05)
        bottom.set_xlabel("distance to the other position (q - p)")
        bottom.set_ylabel("cosine similarity")
        bottom.legend(fontsize=7)
    return _finished(fig)


def plot_embedding_pca(vectors: torch.Tensor, labels: Sequence[str], title: str = "") -> Figure:
    """The rows projected on their first two principal axes, each point labelled."""
    points = pca_2d(vectors)  # (n, 2)
    fig, ax = plt.subplots(figsize=(6, 4))
    ax.scatter(points[:, 0].numpy(), points[:, 1].numpy(), s=18)
    for (x, y), label in zip(points.tolist(), labels, strict=True):
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(4, 3), fontsize=8)
    ax.set_xlabel("first principal axis")
    ax.set_ylabel("second principal axis")
    ax.set_title(title, fontsize=9)
    ax.margins(0.15)
    return _finished(fig)


def plot_embedding_row(table: torch.Tensor, index: int, labels: Sequence[str] | None = None, name: str = "") -> Figure:
    """One row's vector (left) and its cosine similarity to every row of the table (right)."""
    values = table.detach().float()
    similarity = cosine_similarity_matrix(values)[index]  # (rows,)
    names = list(labels) if labels is not None else [str(i) for i in range(values.shape[0])]
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2))
    left.bar(range(values.shape[1]), values[index].numpy(), width=0.8, color="tab:blue")
    left.set_xlabel("embedding dimension")
    left.set_title(f"{name} row {names[index]!r}: its vector", fontsize=9)
    colours = ["tab:red" if i == index else "tab:gray" for i in range(values.shape[0])]
    right.bar(range(values.shape[0]), similarity.numpy(), color=colours)
    right.set_ylim(-1.05, 1.05)
    right.set_xlabel("row" if labels is None else "")
    if labels is not None:
        right.set_xticks(range(len(names)), names, rotation=90, fontsize=7)
    right.set_title("cosine similarity to every row", fontsize=9)
    return _finished(fig)


# --- 05_attention (after section 3.6, beyond the book: "Looking at the attention weights") ---


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
    ax.set_xticks(range(n), tokens, rotation=60, ha="right", fontsize=9)
    ax.set_yticks(range(n), tokens, fontsize=9)
    ax.set_title(title, fontsize=10)
    if n <= 8:
        for i in range(n):
            for j in range(n):
                value = weights[i, j]
                ax.text(j, i, f"{value:.2f}", ha="center", va="center", fontsize=8,
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
    fig, axes = plt.subplots(rows, num_heads, squeeze=False, figsize=(3.6 * num_heads + 0.8, 3.4 * rows),
                             layout="constrained")
    image = None
    for r, (label, array) in enumerate(arrays.items()):
        for h in range(num_heads):
            image = _draw_weights(axes[r, h], array[h], tokens, f"{label}, head {h}")
    fig.colorbar(image, ax=axes, shrink=0.8, label="attention weight")
    fig.supxlabel("key (the word attended to)", fontsize=8)
    fig.supylabel("query (the word being updated)", fontsize=8)
    return _finished(fig, tight=False)  # constrained layout


def plot_query_attention(weights: torch.Tensor, tokens: Sequence[str], query: int, title: str = "") -> Figure:
    """One head's (num_tokens, num_tokens) weights with the query's row framed, and that row as bars."""
    array = _attention_array(weights, 2, "weights")
    n = array.shape[0]
    if n != len(tokens):
        raise ValueError(f"the weights cover {n} tokens but {len(tokens)} tokens were given")
    if not 0 <= query < n:
        raise IndexError(f"query={query} is out of range for {n} tokens (0 to {n - 1})")

    fig, (heat, bars) = plt.subplots(1, 2, figsize=(8.5, 3.9), width_ratios=[1, 1.2], layout="constrained")
    _draw_weights(heat, array, tokens, title or "attention weights")
    heat.add_patch(Rectangle((-0.5, query - 0.5), n, 1, fill=False, edgecolor="red", linewidth=2))  # the query row
    bars.bar(range(n), array[query], color="tab:blue")
    bars.set_xticks(range(n), tokens, rotation=60, ha="right", fontsize=7)
    bars.set_ylim(0, max(1.0, float(array[query].max()) * 1.1))
    bars.set_ylabel("weight", fontsize=8)
    bars.set_title(f"how much {tokens[query]!r} attends to each word (row sum {array[query].sum():.2f})", fontsize=8)
    return _finished(fig, tight=False)  # constrained layout


# --- 06_gpt_model (sections 4.3 and 4.4; beyond the book: "Faster generation with a KV cache") ---


def plot_gelu_relu(gelu: Callable[[torch.Tensor], torch.Tensor], x_min: float = -3.0, x_max: float = 3.0) -> Figure:
    """`gelu` (the learner's GELU module) and ReLU side by side, as in the book's figure 4.8."""
    if not callable(gelu):
        raise TypeError(f"gelu must be a GELU module (or a function of a tensor), got {type(gelu).__name__}")
    x = torch.linspace(x_min, x_max, 100)
    fig, axes = plt.subplots(1, 2, figsize=(7, 3))
    with torch.no_grad():
        curves = [("GELU", gelu(x)), ("ReLU", torch.relu(x))]
    for ax, (label, y) in zip(axes, curves, strict=True):
        ax.plot(x.numpy(), y.numpy())
        ax.set_title(f"{label} activation function", fontsize=9)
        ax.set_xlabel("x")
        ax.set_ylabel(f"{label}(x)")
        ax.grid(True)
    return _finished(fig)


def plot_gradient_magnitudes(gradients: dict[str, Sequence[float]]) -> Figure:
    """Mean absolute weight gradient per layer (log scale), one line per network."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for label, values in gradients.items():
        ax.plot(range(len(values)), list(values), marker="o", label=label)
    ax.set_yscale("log")
    ax.set_xticks(range(max(len(v) for v in gradients.values())))
    ax.set_xlabel("layer (0 = next to the input)")
    ax.set_ylabel("mean |gradient| of the weights")
    ax.legend(fontsize=8)
    ax.grid(True, which="both", alpha=0.3)
    fig.suptitle("Gradient size in each layer", fontsize=10)
    return _finished(fig)


def plot_generation_step_times(
    positions: Sequence[int], with_cache_ms: Sequence[float], without_cache_ms: Sequence[float]
) -> Figure:
    """Time to generate one token against the number of tokens before it, with and without a KV cache."""
    if not len(positions) == len(with_cache_ms) == len(without_cache_ms) or not positions:
        raise ValueError(
            f"positions and both timings must be non-empty and equally long, got {len(positions)}, "
            f"{len(with_cache_ms)} and {len(without_cache_ms)}"
        )
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(positions, without_cache_ms, marker="o", label="without cache: the whole text again")
    ax.plot(positions, with_cache_ms, marker="s", linestyle="--", label="with KV cache: the new token only")
    _line_chart_style(ax, "tokens before the new one", "ms for one new token")
    fig.suptitle("Time to generate one token", fontsize=10)
    return _finished(fig)


# --- 07_pretraining (sections 5.2 and 5.3.1) ---


def _plot_train_and_validation(
    epochs_seen: Sequence[float], counts_seen: Sequence[float], train_values: Sequence[float],
    val_values: Sequence[float], label: str, count_label: str, legend_loc: str,
) -> Figure:
    """Training and validation values against epochs, with a count (tokens, examples) on a second x-axis."""
    if not len(epochs_seen) == len(counts_seen) == len(train_values) == len(val_values) or not len(epochs_seen):
        raise ValueError(
            f"epochs, counts and both value lists must be non-empty and equally long, got {len(epochs_seen)}, "
            f"{len(counts_seen)}, {len(train_values)} and {len(val_values)}"
        )
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(epochs_seen, train_values, label=f"Training {label}")
    ax.plot(epochs_seen, val_values, linestyle="-.", label=f"Validation {label}")
    ax.set_xlabel("Epochs")
    ax.set_ylabel(label.capitalize())
    ax.legend(loc=legend_loc)
    top = ax.twiny()
    top.plot(counts_seen, train_values, alpha=0)  # invisible: only aligns the count axis with the epochs axis
    top.set_xlabel(count_label)
    fig.suptitle(f"Training and validation {label}", fontsize=10)
    return _finished(fig)


def plot_losses(
    epochs_seen: Sequence[float], tokens_seen: Sequence[int], train_losses: Sequence[float], val_losses: Sequence[float]
) -> Figure:
    """Training and validation loss against epochs, with tokens seen on a second x-axis."""
    return _plot_train_and_validation(epochs_seen, tokens_seen, train_losses, val_losses, "loss", "Tokens seen",
                                      "upper right")


def plot_temperatures(
    logits: torch.Tensor, labels: Sequence[str], temperatures: Sequence[float],
    softmax_with_temperature: Callable[[torch.Tensor, float], torch.Tensor] | None = None,
) -> Figure:
    """Bar chart of softmax(logits / T) for each temperature T, one group of bars per token; computed by the
    learner's `softmax_with_temperature(logits, T)` when given."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    positions = torch.arange(len(labels), dtype=torch.float32)
    width = 0.8 / len(temperatures)
    for i, t in enumerate(temperatures):
        probas = (softmax_with_temperature(logits, t) if softmax_with_temperature is not None
                  else torch.softmax(logits / t, dim=0))
        ax.bar((positions + i * width).numpy(), probas.numpy(), width, label=f"Temperature = {t}")
    ax.set_ylabel("Probability")
    ax.set_xticks((positions + width * (len(temperatures) - 1) / 2).numpy(), labels, rotation=90)
    ax.legend()
    fig.suptitle("Next-token probabilities at each temperature", fontsize=10)
    return _finished(fig)


# --- 09_classification_finetuning (section 6.7, appendix E.4; beyond the book: "A spam-probability explorer") ---


def plot_values(
    epochs_seen: Sequence[float], examples_seen: Sequence[float], train_values: Sequence[float],
    val_values: Sequence[float], label: str = "loss",
) -> Figure:
    """The book's `plot_values`: training and validation `label` (loss, accuracy) against epochs and examples seen."""
    return _plot_train_and_validation(epochs_seen, examples_seen, train_values, val_values, label, "Examples seen",
                                      "best")


def _shorten(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "…"


def plot_spam_probabilities(texts: Sequence[str], probabilities: Sequence[float], width: int = 48) -> Figure:
    """One bar per message: the classifier's spam probability, red above the 0.5 line (spam), blue below."""
    if len(texts) != len(probabilities) or not texts:
        raise ValueError(f"texts and probabilities must be non-empty and equally long, got {len(texts)} and "
                         f"{len(probabilities)}")
    if any(not 0.0 <= p <= 1.0 for p in probabilities):
        raise ValueError(f"probabilities must lie in [0, 1], got {list(probabilities)}")
    fig, ax = plt.subplots(figsize=(7, 0.9 + 0.45 * len(texts)))
    rows = np.arange(len(texts))[::-1]  # the first message on top
    colours = ["tab:red" if p > 0.5 else "tab:blue" for p in probabilities]
    ax.barh(rows, probabilities, color=colours, height=0.6)
    for row, p in zip(rows, probabilities, strict=True):
        ax.text(min(p, 0.86) + 0.02, row, f"{p:.2f}", va="center", fontsize=8)
    ax.axvline(0.5, color="grey", linestyle="--", linewidth=1)
    ax.set_yticks(rows, [_shorten(t, width) for t in texts], fontsize=8)
    ax.set_xlim(0, 1)
    ax.set_xlabel("spam probability (softmax of the last token's two scores)")
    ax.legend(handles=[Patch(color="tab:red", label="spam"), Patch(color="tab:blue", label="not spam")],
              loc="lower right", fontsize=8)
    fig.suptitle("The classifier's spam probability of each message", fontsize=10)
    return _finished(fig)


def plot_accuracies(results: Mapping[str, Sequence[float]], parts: Sequence[str] = ("train", "validation", "test")
                    ) -> Figure:
    """Grouped bars: the accuracy (0 to 1) of each run on each part of the data, with 50% (guessing) marked."""
    if not results or any(len(values) != len(parts) for values in results.values()):
        raise ValueError(f"results must map each run to {len(parts)} accuracies ({', '.join(parts)})")
    fig, ax = plt.subplots(figsize=(7, 3.5))
    width = 0.8 / len(parts)
    positions = np.arange(len(results))
    for i, part in enumerate(parts):
        values = [100 * run[i] for run in results.values()]
        bars = ax.bar(positions + (i - (len(parts) - 1) / 2) * width, values, width, label=part)
        ax.bar_label(bars, fmt="%.1f", fontsize=7, padding=2)
    ax.axhline(50, color="grey", linestyle="--", linewidth=1, label="guessing")
    ax.set_xticks(positions, list(results), fontsize=8)
    ax.set_ylim(0, 108)
    ax.set_ylabel("accuracy (%)")
    ax.legend(loc="lower right", fontsize=8)
    fig.suptitle("Accuracy on each part of the data", fontsize=10)
    return _finished(fig)
