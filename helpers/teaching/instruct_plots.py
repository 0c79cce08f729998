"""Matplotlib plots of notebook 10_instruction_finetuning's evaluation (book section 7.8): each returns a closed
`Figure` and never saves a file.

`plot_finetuning_losses` draws section 7.6's losses (each training batch's, and the evaluations'),
`plot_response_scores` every answer's score (ROUGE-L) for several models side by side, `plot_judge_vs_overlap` a
judge's scores against the overlap scores of the same answers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from helpers.evaluate_responses import pairwise_agreement

__all__ = ["plot_finetuning_losses", "plot_judge_vs_overlap", "plot_response_scores"]


def _finished(fig: Figure) -> Figure:
    fig.tight_layout()
    plt.close(fig)
    return fig


def plot_finetuning_losses(steps: Sequence[int], train_losses: Sequence[float], val_losses: Sequence[float],
                           batch_losses: Sequence[float]) -> Figure:
    """The loss of each training batch (a thin line) and the evaluations' training and validation losses (points)
    against the step."""
    if not len(steps) == len(train_losses) == len(val_losses) or not steps or not batch_losses:
        raise ValueError(f"steps, train_losses and val_losses must be equally long and not empty, and batch_losses "
                         f"not empty, got {len(steps)}, {len(train_losses)}, {len(val_losses)}, {len(batch_losses)}")
    if max(steps) >= len(batch_losses):
        raise ValueError(f"an evaluation at step {max(steps)}, but only {len(batch_losses)} training steps")
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.plot(range(len(batch_losses)), batch_losses, color="#8fb8de", lw=1.2, label="Training batch (before its step)")
    ax.plot(steps, train_losses, "o-", color="#2b5f8a", label="Training loss (evaluation)")
    ax.plot(steps, val_losses, "s-.", color="#b5651d", label="Validation loss (evaluation)")
    ax.set_xlabel("Step")
    ax.set_ylabel("Loss")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.suptitle("Instruction fine-tuning: training and validation loss", fontsize=10)
    return _finished(fig)


def plot_response_scores(scores: Mapping[str, Sequence[float]], label: str = "ROUGE-L F1") -> Figure:
    """One row per model: each answer's score as a dot, the average as a bar (scores from 0 to 1)."""
    if not 1 <= len(scores) <= 6 or not all(len(values) for values in scores.values()):
        raise ValueError(f"scores must map 1 to 6 names to non-empty lists of scores, got {len(scores)} names")
    if any(not 0 <= v <= 1 for values in scores.values() for v in values):
        raise ValueError(f"every {label} score must lie between 0 and 1")
    fig, ax = plt.subplots(figsize=(7, 0.75 + 0.6 * len(scores)))
    for row, values in enumerate(scores.values()):
        mean = sum(values) / len(values)
        ax.barh(row, mean, height=0.55, color="#8fb8de", edgecolor="#1d2733", lw=0.8)
        ax.scatter(values, [row] * len(values), s=18, color="#1d2733", zorder=3)
        ax.text(1.02, row, f"{mean:.2f} ({len(values)})", va="center", fontsize=9)
    ax.set_yticks(range(len(scores)), list(scores))
    ax.invert_yaxis()
    ax.set_xlim(0, 1.18)
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.set_xlabel(f"{label} against the reference answer (bar: the average; in brackets: how many answers)")
    ax.grid(axis="x", alpha=0.3)
    return _finished(fig)


def plot_judge_vs_overlap(judge_scores: Sequence[float | None], overlap_scores: Sequence[float],
                          judge: str = "judge") -> Figure:
    """Each answer as a point: the judge's score (0-100) against its overlap score (0-1); unscored ones left out."""
    if len(judge_scores) != len(overlap_scores) or not judge_scores:
        raise ValueError(f"judge_scores and overlap_scores must be equally long and not empty, got "
                         f"{len(judge_scores)} and {len(overlap_scores)}")
    pairs = [(j, o) for j, o in zip(judge_scores, overlap_scores, strict=True) if j is not None]
    if len(pairs) < 2:
        raise ValueError("the judge scored fewer than 2 answers: nothing to compare")
    fig, ax = plt.subplots(figsize=(6, 3.5))
    ax.scatter([o for _, o in pairs], [j for j, _ in pairs], s=24, color="#2b5f8a")
    ax.set_xlim(-0.03, 1.03)
    ax.set_ylim(-3, 103)
    ax.set_xlabel("ROUGE-L F1 against the reference")
    ax.set_ylabel("the judge's score")
    ax.grid(alpha=0.3)
    try:
        share = pairwise_agreement([j for j, _ in pairs], [o for _, o in pairs])
        agreement = f"they order {share:.0%} of the pairs alike"
    except ValueError:
        agreement = "no pair told apart by both"
    fig.suptitle(f"{judge} against ROUGE-L: {agreement}", fontsize=10)
    return _finished(fig)
