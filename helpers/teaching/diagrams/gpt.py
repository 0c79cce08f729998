"""The diagrams of notebook 06_gpt_model (book chapter 4, "Implementing a GPT model from scratch to generate text").

`draw_gpt_architecture` (section 4.1), `draw_layer_norm` (4.2), `draw_feed_forward` (4.3),
`draw_shortcut_connections` (4.4), `draw_transformer_block` (4.5) and `draw_generation_loop` (4.7). The two
architecture diagrams read their sizes from a GPT config (`helpers.gpt.GPT_CONFIG_124M` by default).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Circle

from helpers.gpt import GPT_CONFIG_124M, check_config
from helpers.teaching.diagrams import draw as d
from helpers.teaching.diagrams.draw import FS, FS_SMALL, FS_TITLE, INK, MUTED, WIDTH

__all__ = [
    "draw_feed_forward",
    "draw_generation_loop",
    "draw_gpt_architecture",
    "draw_layer_norm",
    "draw_shortcut_connections",
    "draw_transformer_block",
]


def _config(cfg: Mapping[str, object] | None) -> dict[str, object]:
    """`cfg` checked by `helpers.gpt.check_config`, or GPT-2 small's configuration when None."""
    if cfg is None:
        return dict(GPT_CONFIG_124M)
    check_config(cfg)
    return dict(cfg)


def _block_column(
    ax: Axes, x: float, y: float, w: float, h: float, gap: float, cfg: Mapping[str, object], size: float,
    loop_x: float, notes_x: float | None = None,
) -> float:
    """The layers of one transformer block from top to bottom, its two shortcuts drawn on the left at loop_x.

    Starts with an arrow into the block at y; returns the y where the block's output leaves. With `notes_x`,
    writes what each layer does to its right.
    """
    emb, heads, drop = cfg["emb_dim"], cfg["n_heads"], cfg["drop_rate"]
    hidden = 4 * int(emb)
    layers = (
        ("LayerNorm 1", "layer", "normalize each token's vector (pre-LayerNorm)"),
        ("Masked multi-head attention", "layer", f"{heads} heads × {int(emb) // int(heads)} = {emb}, causal mask"),
        (f"Dropout ({drop:g})", "op", "zero a random share in training"),
        ("+", "add", "shortcut: add this half's input"),
        ("LayerNorm 2", "layer", "normalize again"),
        ("Feed forward", "layer", f"Linear {emb} → {hidden:,}, GELU, Linear {hidden:,} → {emb}"),
        (f"Dropout ({drop:g})", "op", "zero a random share in training"),
        ("+", "add", "shortcut: add this half's input"),
    )
    cx, r = x + w / 2, 0.15
    split = y + gap / 2
    y += gap
    for text, kind, note in layers:
        if kind == "add":
            d.arrow(ax, [(cx, y - gap), (cx, y - 0.01)])
            d.add(ax, cx, y + r, r)
            ax.add_patch(Circle((cx, split), 0.035, color=INK, zorder=4))
            d.arrow(ax, [(cx, split), (loop_x, split), (loop_x, y + r), (cx - r - 0.01, y + r)])
            bottom = y + 2 * r
            split = bottom + gap / 2
        else:
            d.arrow(ax, [(cx, y - gap), (cx, y - 0.01)])
            d.box(ax, x, y, w, h, text, kind=kind, size=size)
            bottom = y + h
        if notes_x is not None and note:
            d.label(ax, notes_x, (y + bottom) / 2, note, ha="left")
        y = bottom + gap
    return y - gap


def draw_gpt_architecture(cfg: Mapping[str, object] | None = None) -> Figure:
    """GPT-2: token and position embeddings, dropout, n_layers transformer blocks, final LayerNorm, output head."""
    cfg = _config(cfg)
    vocab, ctx, emb, layers = (int(cfg[k]) for k in ("vocab_size", "context_length", "emb_dim", "n_layers"))
    fig, ax = d.canvas(WIDTH, 7.55)
    name = "GPT-2 small (124M)" if (vocab, ctx, emb, layers) == (50257, 1024, 768, 12) else "The GPT model"
    d.title(ax, f"{name}: the architecture")
    x, w = 0.55, 3.7
    cx = x + w / 2
    d.box(ax, x, 0.65, w, 0.42, "token ids: (batch, num_tokens)", kind="data")
    d.arrow(ax, [(cx - 0.95, 1.07), (cx - 0.95, 1.38)])
    d.arrow(ax, [(cx + 0.95, 1.07), (cx + 0.95, 1.38)])
    d.box(ax, x, 1.4, w / 2 - 0.08, 0.62, f"Token embedding\n{vocab:,} × {emb}", size=FS_SMALL)
    d.box(ax, x + w / 2 + 0.08, 1.4, w / 2 - 0.08, 0.62, f"Position embedding\n{ctx:,} × {emb}", size=FS_SMALL)
    d.arrow(ax, [(cx - 0.95, 2.02), (cx - 0.95, 2.4), (cx - 0.17, 2.4)])
    d.arrow(ax, [(cx + 0.95, 2.02), (cx + 0.95, 2.4), (cx + 0.17, 2.4)])
    d.add(ax, cx, 2.4)
    d.arrow(ax, [(cx, 2.55), (cx, 2.83)])
    d.box(ax, x, 2.85, w, 0.4, f"Dropout ({cfg['drop_rate']:g})", kind="op", size=FS_SMALL)
    d.arrow(ax, [(cx, 3.25), (cx, 3.57)], f"(batch, num_tokens, {emb})", at=(cx + 0.12, 3.4))
    top = 3.75
    for i in (2, 1):
        d.box(ax, x + i * 0.08, top - i * 0.08, w, 0.75, kind="layer")
    d.box(ax, x, top, w, 0.75, "Transformer block", kind="layer", size=FS, bold=True)
    d.label(ax, x + w + 0.3, top + 0.05, f"× {layers}", colour=INK, size=FS_TITLE, bold=True, ha="left")
    d.arrow(ax, [(cx, top + 0.75), (cx, top + 1.08)])
    d.box(ax, x, top + 1.1, w, 0.42, "Final LayerNorm", size=FS)
    d.arrow(ax, [(cx, top + 1.52), (cx, top + 1.83)])
    d.box(ax, x, top + 1.85, w, 0.62, f"Linear output head\n{emb} → {vocab:,}", size=FS)
    d.arrow(ax, [(cx, top + 2.47), (cx, top + 2.78)])
    d.box(ax, x, top + 2.8, w, 0.42, f"logits: (batch, num_tokens, {vocab:,})", kind="accent")
    d.label(ax, x, top + 3.5, "One row of logits per position: the scores of the next token.", ha="left")
    # the inside of a block, zoomed in on the right
    zx, zy, zw = 5.45, 0.65, 3.35
    d.frame(ax, zx, zy, zw, 6.32)
    for (ax0, ay0), (ax1, ay1) in (((x + w + 0.16, top - 0.16), (zx, zy + 0.02)), ((x + w, top + 0.75),
                                                                                      (zx, zy + 6.3))):
        d.arrow(ax, [(ax0, ay0), (ax1, ay1)], colour=MUTED, dashed=True, head=False)
    d.label(ax, zx + zw / 2 + 0.15, zy + 0.25, "inside each transformer block", colour=INK, size=FS)
    bottom = _block_column(ax, zx + 0.7, zy + 0.45, zw - 0.95, 0.42, 0.295, cfg, FS_SMALL, zx + 0.35)
    d.arrow(ax, [(zx + 0.7 + (zw - 0.95) / 2, bottom), (zx + 0.7 + (zw - 0.95) / 2, bottom + 0.3)])
    return d.closed(fig)


def draw_transformer_block(cfg: Mapping[str, object] | None = None) -> Figure:
    """One transformer block: pre-LayerNorm attention and feed-forward, each with dropout and a shortcut."""
    cfg = _config(cfg)
    emb = cfg["emb_dim"]
    fig, ax = d.canvas(WIDTH, 10)
    d.title(ax, "The transformer block (pre-LayerNorm, as in GPT-2)")
    x, w = 1.3, 3.1
    cx = x + w / 2
    d.box(ax, x, 0.65, w, 0.42, f"input: (batch, num_tokens, {emb})", kind="data", size=FS_SMALL)
    bottom = _block_column(ax, x, 1.07, w, 0.42, 0.3, cfg, FS, x - 0.55, notes_x=x + w + 0.3)
    d.arrow(ax, [(cx, bottom), (cx, bottom + 0.28)])
    d.box(ax, x, bottom + 0.3, w, 0.42, f"output: (batch, num_tokens, {emb})", kind="accent", size=FS_SMALL)
    d.label(ax, x + w + 0.3, bottom + 0.51, "same shape as the input, so blocks stack", ha="left")
    return d.closed(d.fit_height(fig, ax, bottom + 0.95))


def draw_shortcut_connections(
    without_shortcut: Sequence[float], with_shortcut: Sequence[float], layer_sizes: Sequence[int] = (3, 3, 3, 3, 3, 1)
) -> Figure:
    """The book's five-layer network without and with shortcuts, and the mean gradient each layer's weights get."""
    d.check_lengths(without_shortcut=without_shortcut, with_shortcut=with_shortcut)
    n = len(without_shortcut)
    if len(layer_sizes) != n + 1:
        raise ValueError(f"layer_sizes must hold one more size than there are layers: {n} layers but "
                         f"{len(layer_sizes)} sizes")
    if n > 6:
        raise ValueError(f"{n} layers are too many to draw; use at most 6")
    box_w, plus, gap = 0.85, 0.28, 0.17
    pitch = box_w + plus + 2 * gap
    x0 = 1.35
    fig, ax = d.canvas(WIDTH, 4.85)
    d.title(ax, "Shortcut connections: add each layer's input to its output")
    for row, (name, grads, top) in enumerate((("without shortcuts: each layer's output replaces its input",
                                               without_shortcut, 0.95),
                                              ("with shortcuts: output = x + layer(x), where the shapes match",
                                               with_shortcut, 2.75))):
        d.label(ax, 0.2, top, name, colour=INK, size=FS, ha="left")
        y = top + (0.35 if row == 0 else 0.7)
        mid = y + 0.27
        x = x0
        d.arrow(ax, [(x - 0.45, mid), (x - 0.02, mid)], "x", at=(x - 0.5, mid), ha="right")
        for i in range(n):
            d.box(ax, x, y, box_w, 0.54, f"layer {i + 1}\n{layer_sizes[i]} → {layer_sizes[i + 1]}", size=FS_SMALL)
            d.label(ax, x + box_w / 2, y + 0.74, f"{grads[i]:.4g}", colour=INK)
            after = x + box_w
            shortcut = row == 1 and layer_sizes[i] == layer_sizes[i + 1]
            if shortcut:
                cx = after + gap + plus / 2
                d.arrow(ax, [(after, mid), (cx - plus / 2 - 0.01, mid)])
                d.add(ax, cx, mid, plus / 2)
                split = x - gap / 2 if i else x - 0.25
                ax.add_patch(Circle((split, mid), 0.035, color=INK, zorder=4))
                d.arrow(ax, [(split, mid), (split, y - 0.3), (cx, y - 0.3), (cx, mid - plus / 2 - 0.01)])
                d.arrow(ax, [(cx + plus / 2, mid), (x + pitch - 0.02, mid)] if i < n - 1 else
                        [(cx + plus / 2, mid), (cx + plus / 2 + 0.4, mid)])
            else:
                d.arrow(ax, [(after, mid), (x + pitch - 0.02, mid)] if i < n - 1 else
                        [(after, mid), (after + 0.4, mid)])
            x += pitch
        d.label(ax, x0 - 0.12, y + 0.74, "mean |gradient|", ha="right")
    d.label(ax, 0.2, 4.6, "With shortcuts the gradient reaches the first layers undiminished; without them it "
            "shrinks layer by layer.", ha="left")
    return d.closed(fig)


def draw_feed_forward(emb_dim: int = 768, hidden_dim: int | None = None) -> Figure:
    """The feed-forward network of a block: each token's vector widened 4 times, GELU, and narrowed back."""
    hidden = 4 * emb_dim if hidden_dim is None else hidden_dim
    if emb_dim < 1 or hidden < 1:
        raise ValueError(f"emb_dim and hidden_dim must be >= 1, got {emb_dim} and {hidden}")
    big = 3.0
    unit = big / max(hidden, emb_dim)
    fig, ax = d.canvas(WIDTH, big + 1.9)
    d.title(ax, f"The feed-forward network: {emb_dim} → {hidden:,} → {emb_dim}, for each token on its own")
    mid = 0.75 + big / 2 + 0.1
    bars = ((0.6, emb_dim, "x", "data"), (3.3, hidden, "hidden", "highlight"), (5.6, hidden, "after GELU", "highlight"),
            (8.3, emb_dim, "output", "accent"))
    for x, size, name, kind in bars:
        height = max(size * unit, 0.3)
        d.box(ax, x, mid - height / 2, 0.4, height, kind=kind, rounded=False)
        d.label(ax, x + 0.2, mid + big / 2 + 0.3, f"{name}\n{size:,}", colour=INK)
    layers = ((1.4, f"Linear\n{emb_dim} → {hidden:,}", "layer"), (1.1, "GELU", "op"),
              (1.5, f"Linear\n{hidden:,} → {emb_dim}", "layer"))
    for (w, text, kind), (left, _, _, _), (right, _, _, _) in zip(layers, bars, bars[1:], strict=False):
        centre = (left + 0.4 + right) / 2
        d.arrow(ax, [(left + 0.43, mid), (centre - w / 2 - 0.02, mid)])
        d.box(ax, centre - w / 2, mid - 0.35, w, 0.7, text, kind=kind, size=FS_SMALL)
        d.arrow(ax, [(centre + w / 2, mid), (right - 0.03, mid)])
    d.label(ax, 0.2, mid + big / 2 + 0.8, f"Bar heights are to scale. Shape (batch, num_tokens, {emb_dim}) in and out; "
            "the same weights for every token.", ha="left")
    return d.closed(fig)


def draw_layer_norm(values: Sequence[float], eps: float = 1e-5, unbiased: bool = False) -> Figure:
    """Layer normalization of one vector: subtract its mean, divide by its standard deviation, then scale and shift."""
    row = torch.as_tensor(values, dtype=torch.float32).detach().flatten()
    if row.numel() < 2 or row.numel() > 8:
        raise ValueError(f"values must hold 2 to 8 numbers, got {row.numel()}")
    mean = row.mean()
    var = row.var(unbiased=unbiased)
    norm = (row - mean) / torch.sqrt(var + eps)
    n = row.numel()
    col, h, x0 = 0.78, 0.36, 2.2
    fig, ax = d.canvas(WIDTH, 3.55)
    d.title(ax, "Layer normalization of one token's vector")
    how = "n − 1" if unbiased else "n"
    rows = ((0.85, "input x", row, "data"), (2.25, "normalized", norm, "accent"))
    for y, name, vec, kind in rows:
        d.label(ax, x0 - 0.12, y + h / 2, name, ha="right", colour=INK, size=FS)
        d.cells_row(ax, x0, y, [d.fmt(v) for v in vec.tolist()], h, kind, FS_SMALL, widths=[col] * n)
        stats = f"mean {d.fmt(vec.mean().item())}\nvariance {d.fmt(vec.var(unbiased=unbiased).item())}"
        d.label(ax, x0 + n * col + 0.2, y + h / 2, stats.replace("−0.0000", "0.0000"), ha="left")
    d.arrow(ax, [(x0 + n * col / 2, 0.85 + h + 0.02), (x0 + n * col / 2, 2.23)],
            f"(x − mean) / √(variance + ε)\nε = {eps:g}; the variance divides by {how}",
            at=(x0 + n * col / 2 + 0.15, (0.85 + h + 2.25) / 2))
    d.label(ax, 0.2, 3.2, "Then × scale + shift, two trainable vectors that start at 1 and 0: training may undo the "
            "normalization where it helps.", ha="left")
    return d.closed(fig)


def draw_generation_loop(
    prompt_ids: Sequence[int], new_ids: Sequence[int], context_size: int = 1024, text: str | None = None,
    vocab_size: int = 50257,
) -> Figure:
    """Greedy generation: logits of the last position -> argmax -> append -> crop to the context -> repeat."""
    if not prompt_ids or not new_ids:
        raise ValueError(f"prompt_ids and new_ids must not be empty, got {len(prompt_ids)} and {len(new_ids)} ids")
    if context_size < 1:
        raise ValueError(f"context_size must be >= 1, got {context_size}")
    n = len(prompt_ids)
    everything = [*prompt_ids, *new_ids]
    if n > 6 or len(everything) > 12:
        raise ValueError(f"{n} prompt ids and {len(new_ids)} new ids are too many to draw; use at most 6 and 12 in all")
    col = max(0.6, max(d.text_width(str(i), FS_SMALL) for i in everything) + 0.14)
    fig, ax = d.canvas(WIDTH, 4.85 if text else 4.5)
    d.title(ax, "Generating text one token at a time (greedy decoding)")
    y1, h = 1.3, 0.36
    d.label(ax, 0.35 + n * col / 2, y1 - 0.22, f"token ids (1, {n})", colour=INK)
    d.cells_row(ax, 0.35, y1, [str(i) for i in prompt_ids], h, "data", FS_SMALL, widths=[col] * n)
    x_model = 0.35 + n * col + 0.45
    d.arrow(ax, [(x_model - 0.43, y1 + h / 2), (x_model - 0.02, y1 + h / 2)])
    d.box(ax, x_model, y1 - 0.12, 1.2, 0.6, "GPTModel", size=FS)
    x_logits = x_model + 1.7
    d.arrow(ax, [(x_model + 1.2, y1 + h / 2), (x_logits - 0.02, y1 + h / 2)])
    lw, lh = 0.42, 0.24
    grid_top = y1 + h / 2 - n * lh / 2
    d.label(ax, x_logits + 2.5 * lw, grid_top - 0.2, f"logits (1, {n}, {vocab_size:,})", colour=INK)
    cells = [["", "", "…", "", ""] for _ in range(n)]
    kinds = [["highlight" if r == n - 1 else "data"] * 5 for r in range(n)]
    d.grid(ax, x_logits, grid_top, cells, lw, lh, kinds)
    d.label(ax, x_logits + 5 * lw + 0.12, grid_top + (n - 0.5) * lh, "last position", ha="left")
    y2 = grid_top + n * lh + 0.75
    x_arg = x_logits + 0.5
    d.arrow(ax, [(x_arg + 0.6, grid_top + n * lh + 0.02), (x_arg + 0.6, y2 - 0.02)],
            f"logits[:, -1, :]  (1, {vocab_size:,})", at=(x_arg + 0.72, (grid_top + n * lh + y2) / 2))
    d.box(ax, x_arg, y2, 1.2, h, "argmax", kind="op", size=FS)
    x_new = x_arg - 0.3 - col
    d.box(ax, x_new, y2, col, h, str(new_ids[0]), kind="accent", size=FS_SMALL, rounded=False, lw=0.8)
    d.arrow(ax, [(x_arg - 0.01, y2 + h / 2), (x_new + col + 0.02, y2 + h / 2)])
    d.cells_row(ax, 0.35, y2, [str(i) for i in everything[:n + 1]], h, ["data"] * n + ["accent"], FS_SMALL,
                widths=[col] * (n + 1))
    d.arrow(ax, [(x_new - 0.02, y2 + h / 2), (0.35 + (n + 1) * col + 0.02, y2 + h / 2)], "append",
            at=((x_new + 0.35 + (n + 1) * col) / 2, y2 - 0.15), ha="center")
    d.arrow(ax, [(0.25, y2 + h / 2), (0.12, y2 + h / 2), (0.12, y1 + h / 2), (0.33, y1 + h / 2)])
    d.label(ax, 0.35, (y1 + h + y2) / 2, f"crop to the last context_size = {context_size:,} tokens, then repeat",
            ha="left")
    d.label(ax, x_new + col / 2, y2 - 0.15, "next id")
    y3 = y2 + 1.0
    d.label(ax, 0.2, y3 - 0.25, f"after {len(new_ids)} steps", colour=INK, size=FS, ha="left")
    d.cells_row(ax, 0.35, y3, [str(i) for i in everything], h, ["data"] * n + ["accent"] * len(new_ids), FS_SMALL,
                widths=[col] * len(everything))
    if text:
        d.label(ax, 0.35, y3 + h + 0.3, f"decoded: {text!r}", ha="left", colour=INK)
    return d.closed(fig)
