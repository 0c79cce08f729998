"""The diagrams of notebook 09_classification_finetuning (book chapter 6, "Fine-tuning for classification").

`draw_classifier_head` (section 6.5, "Adding a classification head"), `draw_last_token` (6.6, "Calculating the
classification loss and accuracy") and `draw_lora` (appendix E.1, "Introduction to LoRA").
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure

from helpers.teaching.diagrams import draw as d
from helpers.teaching.diagrams.draw import FS, FS_SMALL, INK, MUTED, WIDTH

__all__ = ["draw_classifier_head", "draw_last_token", "draw_lora"]


def draw_classifier_head(
    emb_dim: int = 768, vocab_size: int = 50257, num_classes: int = 2, n_layers: int = 12,
    class_names: Sequence[str] = ("not spam", "spam"), model_name: str = "pretrained GPT-2",
) -> Figure:
    """Fine-tuning for classification: the output head emb_dim -> vocab_size replaced by emb_dim -> num_classes.

    `model_name` and the sizes say which model is drawn (the notebook passes its own: GPT-2 small with OpenAI's
    weights, or the offline path's small random GPT)."""
    if len(class_names) != num_classes:
        raise ValueError(f"class_names must hold num_classes={num_classes} names, got {len(class_names)}")
    if min(emb_dim, vocab_size, num_classes, n_layers) < 1 or n_layers < 2:
        raise ValueError("emb_dim, vocab_size and num_classes must be >= 1 and n_layers >= 2")
    fig, ax = d.canvas(WIDTH, 5.7)
    d.title(ax, "From next-token prediction to classification: swap the output head")
    w, pitch, h, top = 3.35, 0.66, 0.46, 1.25
    columns = ((0.45, model_name, False), (WIDTH - 0.45 - w, "classifier (fine-tuned)", True))
    frozen_blocks = "transformer block 1" if n_layers == 2 else f"transformer blocks 1 to {n_layers - 1}"
    for x, name, tuned in columns:
        d.label(ax, x + w / 2, top - 0.35, name, colour=INK, size=FS, bold=True)
        parts = (("token + position embeddings", "frozen" if tuned else "layer"),
                 (frozen_blocks, "frozen" if tuned else "layer"),
                 (f"transformer block {n_layers}", "layer"), ("final LayerNorm", "layer"),
                 (f"new out_head: Linear({emb_dim}, {num_classes})" if tuned else
                  f"out_head: Linear({emb_dim}, {vocab_size:,})", "accent" if tuned else "layer"),
                 (f"{num_classes} scores: {' / '.join(class_names)}" if tuned else
                  f"{vocab_size:,} scores: the next token", "data"))
        for k, (text, kind) in enumerate(parts):
            y = top + k * pitch
            if k:
                d.arrow(ax, [(x + w / 2, y - pitch + h), (x + w / 2, y - 0.02)])
            d.box(ax, x, y, w, h, text, kind=kind, size=FS_SMALL)
    y_head = top + 4 * pitch + h / 2
    d.arrow(ax, [(0.45 + w + 0.1, y_head), (WIDTH - 0.55 - w, y_head)], "replace", at=(WIDTH / 2, y_head - 0.2),
            ha="center")
    d.swatch(ax, 0.45, top + 6 * pitch + 0.05, "frozen", "frozen: requires_grad = False; the rest is trained")
    return d.closed(fig)


def draw_last_token(
    tokens: Sequence[str] = ("Do", " you", " have", " time"), emb_dim: int = 768, num_classes: int = 2
) -> Figure:
    """Why a classifier reads the last token: under the causal mask only the last position has seen every token."""
    n = len(tokens)
    if not 2 <= n <= 8:
        raise ValueError(f"tokens must hold 2 to 8 tokens, got {n}")
    shown = [t.strip() or repr(t) for t in tokens]
    col = max(0.55, max(d.text_width(t, FS_SMALL) for t in shown) + 0.12)
    h, top = 0.36, 1.45
    x_grid = 0.3 + max(d.text_width(t, FS_SMALL) for t in shown) + 0.15
    fig, ax = d.canvas(WIDTH, top + n * h + 0.85)
    d.title(ax, "Classify with the last token: the only one that has seen the whole text")
    d.label(ax, x_grid + n * col / 2, top - 0.5, "causal attention: who sees whom", colour=INK, size=FS)
    for c in range(n):
        d.label(ax, x_grid + (c + 0.5) * col, top - 0.2, shown[c])
    for r in range(n):
        d.label(ax, x_grid - 0.1, top + r * h + h / 2, shown[r], ha="right", colour=INK if r == n - 1 else MUTED)
        kinds = ["masked" if c > r else "accent" if r == n - 1 else "op" for c in range(n)]
        d.cells_row(ax, x_grid, top + r * h, [""] * n, h, kinds, widths=[col] * n)
    x_out = x_grid + n * col + 0.45
    d.label(ax, x_out + 0.9, top - 0.2, f"outputs (num_tokens, {emb_dim})", colour=INK)
    for r in range(n):
        y = top + r * h
        last = r == n - 1
        d.arrow(ax, [(x_grid + n * col + 0.05, y + h / 2), (x_out - 0.02, y + h / 2)], colour=INK if last else MUTED)
        d.box(ax, x_out, y + 0.03, 1.8, h - 0.06, f"position {r}" + (": sees all" if last else ""),
              kind="accent" if last else "data", size=FS_SMALL, rounded=False, lw=0.8)
    y_last = top + (n - 1) * h + h / 2
    x_head = x_out + 2.3
    d.arrow(ax, [(x_out + 1.82, y_last), (x_head - 0.02, y_last)], "[:, -1, :]", at=(x_out + 2.03, y_last + 0.32),
            ha="center")
    d.box(ax, x_head, y_last - 0.3, 1.45, 0.6, f"out_head\n{emb_dim} → {num_classes}", size=FS_SMALL)
    d.arrow(ax, [(x_head + 1.45, y_last), (x_head + 1.73, y_last)])
    d.box(ax, x_head + 1.75, y_last - 0.3, WIDTH - 0.2 - x_head - 1.75, 0.6, f"{num_classes}\nscores", kind="accent",
          size=FS_SMALL)
    d.label(ax, 0.3, top + n * h + 0.45, "Each row shows which tokens a position attends to (hatched: masked). The "
            "loss uses only the last position's scores.", ha="left")
    return d.closed(fig)


def draw_lora(d_in: int = 768, d_out: int = 768, rank: int = 8, alpha: float = 16) -> Figure:
    """LoRA: a frozen weight W beside a trainable low-rank update A B scaled by alpha / rank."""
    if min(d_in, d_out, rank) < 1 or rank > min(d_in, d_out):
        raise ValueError(f"need d_in, d_out >= 1 and 1 <= rank <= min(d_in, d_out), got d_in={d_in}, d_out={d_out}, "
                         f"rank={rank}")
    scale = alpha / rank
    w_params, lora_params = d_in * d_out, rank * (d_in + d_out)
    fig, ax = d.canvas(WIDTH, 5.95)
    d.title(ax, "LoRA: train a small low-rank update beside the frozen weight")
    cx = WIDTH / 2
    d.box(ax, cx - 2.0, 0.65, 4.0, 0.42, f"x: (batch, num_tokens, {d_in})", kind="data")
    side = 2.1
    wx, top = 0.9, 1.55
    d.box(ax, wx, top, side, side, f"W\n{d_in} × {d_out}\nfrozen\n{w_params:,} weights", kind="frozen", size=FS)
    ax_x = 4.6
    a_w = max(0.55, side * rank / d_out)
    d.box(ax, ax_x, top, a_w + 0.45, side, f"A\n{d_in}\n×\n{rank}", kind="layer", size=FS)
    bx = ax_x + a_w + 0.85
    b_h = max(0.55, side * rank / d_in)
    d.box(ax, bx, top, side, b_h + 0.1, f"B: {rank} × {d_out}", kind="layer", size=FS)
    d.arrow(ax, [(ax_x + a_w + 0.47, top + 0.33), (bx - 0.02, top + 0.33)])
    d.box(ax, bx, top + 1.15, side, 0.5, f"× alpha / r = {alpha:g} / {rank} = {scale:g}", kind="op", size=FS_SMALL)
    d.arrow(ax, [(bx + side / 2, top + b_h + 0.1), (bx + side / 2, top + 1.13)])
    d.arrow(ax, [(cx - 1.0, 1.07), (cx - 1.0, 1.3), (wx + side / 2, 1.3), (wx + side / 2, top - 0.02)])
    d.arrow(ax, [(cx + 1.0, 1.07), (cx + 1.0, 1.3), (ax_x + (a_w + 0.45) / 2, 1.3), (ax_x + (a_w + 0.45) / 2,
                                                                                      top - 0.02)])
    y_add = top + side + 0.55
    d.add(ax, cx, y_add, 0.17)
    d.arrow(ax, [(wx + side / 2, top + side), (wx + side / 2, y_add), (cx - 0.19, y_add)], "x W",
            at=(wx + side / 2 + 0.12, top + side + 0.28))
    d.arrow(ax, [(bx + side / 2, top + 1.65), (bx + side / 2, y_add), (cx + 0.19, y_add)], "(alpha / r) x A B",
            at=(bx + side / 2 + 0.12, top + side + 0.28))
    d.arrow(ax, [(cx, y_add + 0.17), (cx, y_add + 0.5)])
    d.box(ax, cx - 2.6, y_add + 0.52, 5.2, 0.42, f"x W + (alpha / r) x A B: (batch, num_tokens, {d_out})",
          kind="accent", size=FS_SMALL)
    d.label(ax, 0.3, y_add + 1.3, f"Trained: A and B, {lora_params:,} numbers ({lora_params / w_params:.1%} of W). "
            "B starts at zero, so training starts from W exactly.", ha="left")
    return d.closed(fig)
