"""Matplotlib figures used by the notebooks; each function returns a `Figure` and never saves a file.

Each section names the notebook that draws its figures.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import matplotlib.pyplot as plt
from IPython.display import HTML
from matplotlib.figure import Figure

# --- 01_text_and_tokens ---


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
    ax.set_xlabel("merges learned")
    ax.set_ylabel("tokens per word (average)")
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    return fig


# Light background colours for neighbouring tokens (a repeating cycle).
TOKEN_COLOURS = ("#fde2a7", "#c9e7f8", "#d5f0c4", "#f7cfe0", "#e2d6f5", "#fbd3c0")
_VISIBLE = str.maketrans({"\n": "↵", "\t": "→", "\r": "␍"})


def tokens_html(pieces: Sequence[str], ids: Sequence[int], spaced: bool = False, n_chars: int | None = None) -> HTML:
    """The text as coloured tokens with each id beneath (HTML; newlines shown as ↵, tabs as →).

    `spaced` leaves a gap between tokens, for word tokenizers whose tokens do not carry their spaces;
    `n_chars`, the length of the text, adds the characters per token to the summary line.
    """
    if len(pieces) != len(ids):
        raise ValueError(f"pieces and ids must be equally long, got {len(pieces)} and {len(ids)}")
    gap = "0.5em" if spaced else "0"
    boxes = []
    for i, (piece, idx) in enumerate(zip(pieces, ids, strict=True)):
        colour = TOKEN_COLOURS[i % len(TOKEN_COLOURS)]
        boxes.append(
            f'<span style="display:inline-block;margin:0 {gap} 4px 0;text-align:center;vertical-align:top">'
            f'<span style="background:{colour};white-space:pre;padding:1px 0">{html.escape(piece.translate(_VISIBLE))}'
            f'</span><br><span style="font-size:70%;color:#555;padding:0 2px">{idx}</span></span>'
        )
    summary = f"{len(ids)} tokens"
    if n_chars is not None and ids:
        summary += f" for {n_chars} characters ({n_chars / len(ids):.2f} characters per token)"
    return HTML(
        f'<div style="font-family:monospace;line-height:1.3">{"".join(boxes)}</div>'
        f'<div style="font-size:85%;color:#555">{summary}</div>'
    )
