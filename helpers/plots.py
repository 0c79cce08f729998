"""Matplotlib figures used by the notebooks; each function returns a Figure and saves nothing."""

from __future__ import annotations

from collections.abc import Sequence

import torch
from matplotlib.figure import Figure

# --- 06 pretraining ---


def plot_losses(
    epochs_seen: Sequence[float], tokens_seen: Sequence[int], train_losses: Sequence[float], val_losses: Sequence[float]
) -> Figure:
    """Training and validation loss against epochs, with tokens seen on a second x-axis."""
    fig = Figure(figsize=(6, 3.5))
    ax = fig.add_subplot()
    ax.plot(epochs_seen, train_losses, label="Training loss")
    ax.plot(epochs_seen, val_losses, linestyle="-.", label="Validation loss")
    ax.set_xlabel("Epochs")
    ax.set_ylabel("Loss")
    ax.legend(loc="upper right")
    top = ax.twiny()
    top.plot(tokens_seen, train_losses, alpha=0)  # invisible: only aligns the tokens axis with the epochs axis
    top.set_xlabel("Tokens seen")
    fig.tight_layout()
    return fig


def plot_temperatures(logits: torch.Tensor, labels: Sequence[str], temperatures: Sequence[float]) -> Figure:
    """Bar chart of softmax(logits / T) for each temperature T, one group of bars per token."""
    fig = Figure(figsize=(6, 3.5))
    ax = fig.add_subplot()
    positions = torch.arange(len(labels), dtype=torch.float32)
    width = 0.8 / len(temperatures)
    for i, t in enumerate(temperatures):
        probas = torch.softmax(logits / t, dim=0)
        ax.bar(positions + i * width, probas, width, label=f"Temperature = {t}")
    ax.set_ylabel("Probability")
    ax.set_xticks(positions + width * (len(temperatures) - 1) / 2, labels, rotation=90)
    ax.legend()
    fig.tight_layout()
    return fig
