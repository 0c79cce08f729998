"""The diagrams of notebook 05_attention (book chapter 3, "Coding attention mechanisms").

`draw_encoder_decoder` (sections 3.1-3.2): an RNN encoder-decoder without and with attention; `draw_context_vector`
(section 3.3.1): one query's scores, weights and context vector; `draw_qkv_projections`
(3.4.1): queries, keys and values; `draw_causal_mask` (3.5.1) and `draw_attention_dropout` (3.5.2); and
`draw_multihead_wrapper` (3.6.1): separate heads side by side; `draw_multihead_attention` and
`draw_multihead_shapes` (3.6.2): one projection split into heads, and the shapes through `MultiHeadAttention.forward`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from matplotlib.figure import Figure

from helpers.teaching.diagrams import draw as d
from helpers.teaching.diagrams.draw import FS, FS_SMALL, FS_TITLE, INK, MUTED, WIDTH

__all__ = [
    "draw_attention_dropout",
    "draw_encoder_decoder",
    "draw_causal_mask",
    "draw_context_vector",
    "draw_multihead_attention",
    "draw_multihead_wrapper",
    "draw_multihead_shapes",
    "draw_qkv_projections",
]


def draw_encoder_decoder(
    source: Sequence[str] = ("Kannst", "du", "mir", "helfen"), target: Sequence[str] = ("Can", "you", "help", "me"),
    attention: bool = False,
) -> Figure:
    """Sections 3.1-3.2: an RNN encoder-decoder translating `source` into `target`. Without attention the decoder sees
    only the encoder's last hidden state; with `attention`, each decoder step weighs every encoder state."""
    if not 1 <= len(source) <= 5 or not 1 <= len(target) <= 5:
        raise ValueError(f"give 1 to 5 words on each side, got {len(source)} and {len(target)}")
    n, m = len(source), len(target)
    step = min(1.25, 7.9 / (n + m))  # cell plus gap: the figure stays WIDTH wide
    cell = step - 0.2
    enc_x = [0.3 + i * step for i in range(n)]
    dec_x = [enc_x[-1] + cell + 0.6 + i * step for i in range(m)]
    fig, ax = d.canvas(WIDTH, 3.7)
    what = "with attention: each step sees every encoder state" if attention else (
        "without attention: one hidden state carries all")
    d.title(ax, f"An RNN encoder-decoder {what}")
    for i, word in enumerate(source):
        d.box(ax, enc_x[i], 2.75, cell, 0.42, word, kind="data", size=FS_SMALL)
        d.arrow(ax, [(enc_x[i] + cell / 2, 2.75), (enc_x[i] + cell / 2, 2.27)])
        d.box(ax, enc_x[i], 1.7, cell, 0.55, f"h{i + 1}", kind="layer", size=FS_SMALL)
        if i:
            d.arrow(ax, [(enc_x[i - 1] + cell, 1.97), (enc_x[i], 1.97)])
    last = n - 1
    d.label(ax, (enc_x[0] + enc_x[-1] + cell) / 2, 3.45, "encoder (reads the input)", size=FS_SMALL)
    for j, word in enumerate(target):
        d.box(ax, dec_x[j], 1.7, cell, 0.55, f"s{j + 1}", kind="layer", size=FS_SMALL)
        d.arrow(ax, [(dec_x[j] + cell / 2, 1.7), (dec_x[j] + cell / 2, 1.22)])
        d.box(ax, dec_x[j], 0.78, cell, 0.42, word, kind="data", size=FS_SMALL)
        start = (enc_x[last] + cell, 1.97) if j == 0 else (dec_x[j - 1] + cell, 1.97)
        d.arrow(ax, [start, (dec_x[j], 1.97)])
    d.label(ax, (dec_x[0] + dec_x[-1] + cell) / 2, 2.6, "decoder (writes the output)", size=FS_SMALL)
    if attention:
        j = min(2, m - 1)
        for i in range(n):
            lane, enter = 1.27 + 0.06 * i, dec_x[j] + 0.2 + 0.55 * i / max(n - 1, 1)
            d.arrow(ax, [(enc_x[i] + cell / 2, 1.7), (enc_x[i] + cell / 2, lane), (enter, lane), (enter, 1.7)],
                    colour=MUTED, dashed=True)
        d.label(ax, (enc_x[0] + enc_x[-1] + cell) / 2, 0.95, f"attention: step s{j + 1} weighs h1 … h{n}",
                size=FS_SMALL, colour=INK)
    else:
        d.label(ax, enc_x[last] + cell / 2, 1.4, f"h{n}: all the decoder gets", size=FS_SMALL, colour=INK)
    return d.closed(fig)


def draw_context_vector(inputs: object, words: Sequence[str], query: int = 1) -> Figure:
    """One query's context vector: dot-product scores, softmax weights, and the weighted sum of the inputs."""
    x = torch.as_tensor(inputs, dtype=torch.float32)
    if x.dim() != 2 or x.shape[0] != len(words) or not len(words):
        raise ValueError(f"inputs must be (num_words, dim) with one row per word: got shape {tuple(x.shape)} and "
                         f"{len(words)} words")
    if not 0 <= query < len(words):
        raise ValueError(f"query={query} is out of range for {len(words)} words (0 to {len(words) - 1})")
    if x.shape[0] > 8 or x.shape[1] > 4:
        raise ValueError(f"inputs of shape {tuple(x.shape)} are too large to draw; use at most 8 words of 4 numbers")
    scores = x @ x[query]  # (num_words,)
    weights = torch.softmax(scores, dim=0)
    context = weights @ x  # (dim,)
    n, dim = x.shape
    h, pitch, top = 0.34, 0.44, 1.45
    fig, ax = d.canvas(WIDTH, top + n * pitch + 0.7)
    q = words[query]
    d.title(ax, f"The context vector of the query {q!r}")
    vec_w, x_vec, x_score, x_soft, x_weight, x_bar, x_sum = 0.48, 1.2, 3.05, 4.1, 4.85, 5.7, 6.85
    bar_max = 0.75
    headers = ((x_vec + dim * vec_w / 2, "inputs x(i)"), (x_score + 0.4, f"score\nx(i) · x({query + 1})"),
               (x_weight + 0.4, "weight\nα(i)"))
    for xc, text in headers:
        d.label(ax, xc, top - 0.35, text, colour=INK)
    ctx_w = max(d.text_width(d.fmt(v)) for v in context.tolist()) + 0.2
    x_ctx = x_sum + 1.05
    y_ctx = top + n * pitch / 2 - dim * h / 2
    d.label(ax, x_ctx + ctx_w / 2, y_ctx - 0.38, f"context\nvector z({query + 1})", colour=INK)
    for x_box, text in ((x_soft, "softmax"), (x_sum, "weighted sum\nΣ α(i) x(i)")):
        d.box(ax, x_box, top - 0.02, 0.55 if "\n" in text else 0.42, n * pitch - 0.06, text, kind="op", size=FS_SMALL,
              vertical=True)
    for i in range(n):
        y = top + i * pitch
        d.label(ax, x_vec - 0.12, y + h / 2, words[i], colour=INK if i == query else MUTED, ha="right",
                bold=i == query, size=FS)
        d.cells_row(ax, x_vec, y, [f"{v:.2f}" for v in x[i].tolist()], h, "highlight" if i == query else "data",
                    widths=[vec_w] * dim)
        d.arrow(ax, [(x_vec + dim * vec_w + 0.05, y + h / 2), (x_score - 0.05, y + h / 2)])
        d.box(ax, x_score, y, 0.8, h, d.fmt(scores[i].item()), kind="data", size=FS_SMALL, rounded=False, lw=0.8)
        d.arrow(ax, [(x_score + 0.82, y + h / 2), (x_soft - 0.03, y + h / 2)])
        d.arrow(ax, [(x_soft + 0.45, y + h / 2), (x_weight - 0.03, y + h / 2)])
        d.box(ax, x_weight, y, 0.8, h, d.fmt(weights[i].item()), kind="data", size=FS_SMALL, rounded=False, lw=0.8)
        length = bar_max * weights[i].item() / weights.max().item()
        d.box(ax, x_bar, y + 0.07, length, h - 0.14, kind="highlight", rounded=False, lw=0.6)
        d.arrow(ax, [(x_bar + length + 0.04, y + h / 2), (x_sum - 0.03, y + h / 2)])
    for i, value in enumerate(context.tolist()):
        d.box(ax, x_ctx, y_ctx + i * h, ctx_w, h, d.fmt(value), kind="accent", size=FS, rounded=False, lw=0.8)
    d.arrow(ax, [(x_sum + 0.58, top + n * pitch / 2), (x_ctx - 0.03, top + n * pitch / 2)])
    d.label(ax, 0.2, top + n * pitch + 0.3, "Each score is the dot product of an input with the query; softmax turns "
            "the scores into weights that sum to 1.", ha="left")
    return d.closed(fig)


def draw_qkv_projections(
    num_tokens: int = 6, d_in: int = 3, d_out: int = 2, words: Sequence[str] | None = None
) -> Figure:
    """Queries, keys and values as three trainable projections of the same inputs, and how they make the context."""
    if min(num_tokens, d_in, d_out) < 1:
        raise ValueError(f"num_tokens, d_in and d_out must be >= 1, got {num_tokens}, {d_in}, {d_out}")
    if words is not None and len(words) != num_tokens:
        raise ValueError(f"words must hold one word per token: {num_tokens} tokens but {len(words)} words")
    fig, ax = d.canvas(WIDTH, 4.75)
    d.title(ax, "Queries, keys and values: three projections of the same inputs")
    n_rows = min(num_tokens, 8)
    cell = 0.26
    x_in, top = 1.05, 1.3
    d.label(ax, x_in + min(d_in, 6) * cell / 2, top - 0.3, f"inputs X ({num_tokens}, {d_in})", colour=INK, size=FS)
    d.grid(ax, x_in, top, [[""] * min(d_in, 6) for _ in range(n_rows)], cell, 0.3)
    for r in range(n_rows if words is not None else 0):
        d.label(ax, x_in - 0.1, top + r * 0.3 + 0.15, words[r], ha="right")
    x_mid = top + n_rows * 0.3 / 2
    rows = (("query", "Q", "what each token\nlooks for", 1.55), ("key", "K", "what each token\noffers", 2.65),
            ("value", "V", "what each token\npasses on", 3.75))
    for name, letter, role, yc in rows:
        d.arrow(ax, [(x_in + min(d_in, 6) * cell + 0.05, x_mid), (2.45, yc)])
        d.box(ax, 2.5, yc - 0.3, 1.35, 0.6, f"W_{name}\n({d_in}, {d_out})", size=FS_SMALL)
        d.arrow(ax, [(3.87, yc), (4.2, yc)])
        d.box(ax, 4.25, yc - 0.4, 1.55, 0.8, f"{letter} ({num_tokens}, {d_out})\n{role}", kind="data",
              size=FS_SMALL)
    d.box(ax, 6.45, 1.75, 2.3, 0.6, f"scores = Q Kᵀ\n({num_tokens}, {num_tokens})", kind="op", size=FS_SMALL)
    d.arrow(ax, [(5.82, 1.55), (6.1, 1.55), (6.1, 1.95), (6.43, 1.95)])
    d.arrow(ax, [(5.82, 2.65), (6.1, 2.65), (6.1, 2.15), (6.43, 2.15)])
    d.box(ax, 6.45, 2.65, 2.3, 0.6, f"weights = softmax(scores / √{d_out})\n({num_tokens}, {num_tokens})", kind="op",
          size=FS_SMALL)
    d.arrow(ax, [(7.6, 2.35), (7.6, 2.63)])
    d.box(ax, 6.45, 3.5, 2.3, 0.6, f"context = weights V\n({num_tokens}, {d_out})", kind="accent", size=FS_SMALL)
    d.arrow(ax, [(7.6, 3.25), (7.6, 3.48)])
    d.arrow(ax, [(5.82, 3.8), (6.43, 3.8)])
    d.label(ax, 0.2, 4.5, "Training tunes the three weight matrices; the attention itself has no weights of its own.",
            ha="left")
    return d.closed(fig)


def _square_table(values: object, name: str) -> list[list[float]]:
    """A (n, n) table of floats, or a ValueError naming its shape."""
    table = d.matrix(values, name)
    if len(table) != len(table[0]):
        raise ValueError(f"{name} must be square (num_tokens, num_tokens), got shape ({len(table)}, {len(table[0])})")
    return table


def draw_causal_mask(scores: object, words: Sequence[str], d_k: int = 2) -> Figure:
    """Scores with -inf above the diagonal, then a softmax per row: each word attends to itself and earlier words."""
    table = _square_table(scores, "scores")
    n = len(table)
    if len(words) != n:
        raise ValueError(f"scores cover {n} tokens but {len(words)} words were given")
    if n > 8:
        raise ValueError(f"{n} tokens are too many to draw; use at most 8")
    masked = torch.tensor(table).masked_fill(torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1), -torch.inf)
    weights = torch.softmax(masked / d_k**0.5, dim=-1)
    col = max(0.6, max(d.text_width(w, FS_SMALL) for w in words) + 0.06, d.text_width("0.0000", FS_SMALL) + 0.14)
    h, x_left, top = 0.32, 0.95, 1.45
    x_right = x_left + n * col + 0.75
    fig, ax = d.canvas(max(WIDTH, x_right + n * col + 0.2), top + n * h + 0.75)
    d.title(ax, "The causal mask: no word may attend to the words after it")
    for x, header, table_, zero in ((x_left, "masked scores: −∞ above the diagonal", masked, "−∞"),
                                    (x_right, "attention weights: each row sums to 1", weights, "0")):
        d.label(ax, x + n * col / 2, top - 0.55, header, colour=INK, size=FS)
        for c in range(n):
            d.label(ax, x + (c + 0.5) * col, top - 0.18, words[c])
        cells = [[zero if c > r else d.fmt(table_[r, c].item()) for c in range(n)] for r in range(n)]
        kinds = [["masked" if c > r else "data" for c in range(n)] for r in range(n)]
        d.grid(ax, x, top, cells, col, h, kinds)
    for r in range(n):
        d.label(ax, x_left - 0.1, top + r * h + h / 2, words[r], ha="right")
    mid = top + n * h / 2
    d.arrow(ax, [(x_left + n * col + 0.1, mid), (x_right - 0.1, mid)])
    d.label(ax, (x_left + n * col + x_right) / 2, mid - 0.38, f"softmax\nper row\n(÷ √{d_k})", colour=INK)
    d.label(ax, 0.2, top + n * h + 0.4, "Rows are queries, columns keys; exp(−∞) = 0, so the softmax itself zeroes the "
            "future and renormalizes.", ha="left")
    return d.closed(fig)


def draw_attention_dropout(weights: object, kept: object, p: float = 0.5) -> Figure:
    """Dropout on attention weights: a random mask zeroes some weights and scales the rest by 1 / (1 - p)."""
    table = _square_table(weights, "weights")
    mask = _square_table(kept, "kept")
    n = len(table)
    if len(mask) != n:
        raise ValueError(f"weights and kept must have the same shape, got ({n}, {n}) and ({len(mask)}, {len(mask)})")
    if not 0 <= p < 1:
        raise ValueError(f"p must be in [0, 1), got {p}")
    if n > 8:
        raise ValueError(f"{n} tokens are too many to draw; use at most 8")
    scale = 1 / (1 - p)
    col, h, top = 0.44, 0.3, 1.5
    mask_col = max(0.4, d.text_width(f"×{scale:g}", FS_SMALL) + 0.1)
    x1 = 0.3
    x2 = x1 + n * col + 0.5
    x3 = x2 + n * mask_col + 0.5
    fig, ax = d.canvas(max(WIDTH, x3 + n * col + 0.2), top + n * h + 0.8)
    d.title(ax, f"Dropout on the attention weights (p = {p:g}, in training only)")
    weight_cells = [[f"{table[r][c]:.2f}" if table[r][c] else "0" for c in range(n)] for r in range(n)]
    mask_cells = [[f"×{scale:g}" if mask[r][c] else "0" for c in range(n)] for r in range(n)]
    out = [[table[r][c] * scale if mask[r][c] else 0.0 for c in range(n)] for r in range(n)]
    out_cells = [[f"{out[r][c]:.2f}" if out[r][c] else "0" for c in range(n)] for r in range(n)]
    d.grid(ax, x1, top, weight_cells, col, h, [["data" if v else "plain" for v in row] for row in table])
    d.grid(ax, x2, top, mask_cells, mask_col, h, [["op" if v else "masked" for v in row] for row in mask])
    d.grid(ax, x3, top, out_cells, col, h,
           [["masked" if table[r][c] and not mask[r][c] else "data" if out[r][c] else "plain" for c in range(n)]
            for r in range(n)])
    for x, width, header in ((x1, n * col, "attention weights"), (x2, n * mask_col, f"random mask:\n0 or ×{scale:g}"),
                             (x3, n * col, "after dropout")):
        d.label(ax, x + width / 2, top - 0.35, header, colour=INK, size=FS)
    mid = top + n * h / 2
    d.label(ax, x2 - 0.25, mid, "×", colour=INK, size=FS_TITLE)
    d.label(ax, x3 - 0.25, mid, "=", colour=INK, size=FS_TITLE)
    d.label(ax, 0.3, top + n * h + 0.4, f"Kept weights are scaled by 1 / (1 − p) = {scale:g}, so a row keeps its "
            "expected sum; model.eval() turns dropout off.", ha="left")
    return d.closed(fig)


def _head_columns(
    ax, num_heads: int, d_in: int, head_dim: int, projections: Callable[[int], str], join: tuple[str, str]
) -> None:
    """One column per head (at most four drawn: 0, 1, ..., last) below the inputs: `projections(h)`, causal
    attention, the head's `head_dim` outputs; then the box at y=4.45 that joins the heads, `join` being its
    (text before the joined shape, kind)."""
    shown: list[int | None] = list(range(num_heads)) if num_heads <= 3 else [0, 1, None, num_heads - 1]
    col_w, dots_w, gap = 2.35, 0.45, 0.22
    total = sum(dots_w if h is None else col_w for h in shown) + gap * (len(shown) - 1)
    d.box(ax, 0.5, 0.65, WIDTH - 1.0, 0.42, f"inputs x: (batch, num_tokens, {d_in})", kind="data")
    rows = ((1.45, 0.7), (2.55, 0.62), (3.55, 0.5))
    x = (WIDTH - total) / 2
    for h in shown:
        if h is None:
            for top, height in rows:
                d.label(ax, x + dots_w / 2, top + height / 2, "…", colour=INK, size=FS_TITLE)
            x += dots_w + gap
            continue
        boxes = ((projections(h), "layer"), (f"causal attention\nsoftmax(Q Kᵀ / √{head_dim}) V", "op"),
                 (f"head {h}\n(batch, num_tokens, {head_dim})", "data"))
        cx = x + col_w / 2
        d.arrow(ax, [(cx, 1.08), (cx, rows[0][0] - 0.02)])
        for i, ((top, height), (text, kind)) in enumerate(zip(rows, boxes, strict=True)):
            d.box(ax, x, top, col_w, height, text, kind=kind, size=FS_SMALL)
            bottom = rows[i + 1][0] - 0.02 if i + 1 < len(rows) else 4.43
            d.arrow(ax, [(cx, top + height), (cx, bottom)])
        x += col_w + gap
    text, kind = join
    d.box(ax, 0.5, 4.45, WIDTH - 1.0, 0.45, f"{text} (batch, num_tokens, {num_heads} × {head_dim} = "
          f"{num_heads * head_dim})", kind=kind, size=FS_SMALL)


def _check_heads(num_heads: int, *sizes: int) -> None:
    if num_heads < 1 or min(sizes) < 1:
        raise ValueError(f"num_heads and the sizes must be >= 1, got num_heads={num_heads} and sizes {sizes}")


def draw_multihead_wrapper(num_heads: int = 12, d_in: int = 768, d_out: int = 64) -> Figure:
    """Section 3.6.1's design: `num_heads` separate `CausalAttention` heads, each with its own three (d_in, d_out)
    projections; their outputs are concatenated, and nothing mixes them."""
    _check_heads(num_heads, d_in, d_out)
    fig, ax = d.canvas(WIDTH, 5.5)
    d.title(ax, f"MultiHeadAttentionWrapper: {num_heads} separate CausalAttention heads")
    _head_columns(ax, num_heads, d_in, d_out,
                  lambda h: f"CausalAttention {h}: its own\nW_query, W_key, W_value\n({d_in} × {d_out} each)",
                  ("torch.cat: context vectors", "accent"))
    d.label(ax, WIDTH / 2, 5.2, "no weights after the concatenation: each head's columns come from that head alone",
            size=FS_SMALL)
    return d.closed(fig)


def draw_multihead_attention(num_heads: int = 12, d_in: int = 768, d_out: int = 768) -> Figure:
    """Section 3.6.2's design: one W_query/W_key/W_value each, split into heads by columns; the heads are joined,
    then `out_proj` mixes them."""
    _check_heads(num_heads, d_in, d_out)
    if d_out % num_heads:
        raise ValueError(f"d_out={d_out} must be a positive multiple of num_heads={num_heads}")
    head_dim = d_out // num_heads
    fig, ax = d.canvas(WIDTH, 6.75)
    d.title(ax, f"Multi-head attention: {num_heads} heads of {head_dim} dimensions")
    _head_columns(ax, num_heads, d_in, head_dim,
                  lambda h: f"W_query, W_key, W_value:\ncolumns {h * head_dim}–{(h + 1) * head_dim - 1}",
                  ("concatenate the heads:", "op"))
    d.arrow(ax, [(WIDTH / 2, 4.9), (WIDTH / 2, 5.18)])
    d.box(ax, 2.0, 5.2, WIDTH - 4.0, 0.45, f"out_proj: Linear({d_out}, {d_out}) mixes the heads", size=FS_SMALL)
    d.arrow(ax, [(WIDTH / 2, 5.65), (WIDTH / 2, 5.93)])
    d.box(ax, 2.0, 5.95, WIDTH - 4.0, 0.45, f"context vectors: (batch, num_tokens, {d_out})", kind="accent",
          size=FS_SMALL)
    return d.closed(fig)


def draw_multihead_shapes(
    batch: int = 2, num_tokens: int = 6, d_in: int = 3, d_out: int = 4, num_heads: int = 2
) -> Figure:
    """The shapes through MultiHeadAttention.forward: split into heads, attend per head, join, project."""
    if min(batch, num_tokens, d_in, d_out, num_heads) < 1 or d_out % num_heads:
        raise ValueError(f"all sizes must be >= 1 and d_out={d_out} a multiple of num_heads={num_heads}")
    head_dim = d_out // num_heads
    b, t, nh, hd = batch, num_tokens, num_heads, head_dim
    steps = (
        ("x", (b, t, d_in), "(b, num_tokens, d_in)", "data", "the inputs"),
        ("queries = self.W_query(x)", (b, t, d_out), "(b, num_tokens, d_out)", "layer", "keys, values alike"),
        (".view(b, num_tokens, num_heads, head_dim)", (b, t, nh, hd), "(b, num_tokens, num_heads, head_dim)", "op",
         "split d_out into heads"),
        (".transpose(1, 2)", (b, nh, t, hd), "(b, num_heads, num_tokens, head_dim)", "op", "heads next to the batch"),
        ("softmax(Q Kᵀ / √head_dim, masked) V", (b, nh, t, hd), "(b, num_heads, num_tokens, head_dim)", "op",
         "every head attends at once"),
        (".transpose(1, 2)", (b, t, nh, hd), "(b, num_tokens, num_heads, head_dim)", "op", "tokens first again"),
        (".contiguous().view(b, num_tokens, d_out)", (b, t, d_out), "(b, num_tokens, d_out)", "op",
         "join: concatenate the heads"),
        ("self.out_proj(context)", (b, t, d_out), "(b, num_tokens, d_out)", "accent", "mix the heads"),
    )
    h, pitch, top = 0.4, 0.6, 1.4
    fig, ax = d.canvas(WIDTH, top + len(steps) * pitch + 0.2)
    d.title(ax, "The shapes through multi-head attention")
    d.label(ax, 0.2, 0.62, f"b = {b}, num_tokens = {t}, d_in = {d_in}, d_out = {d_out}: {nh} heads of head_dim = {hd}",
            colour=INK, size=FS, ha="left")
    for x, text in ((0.3, "code"), (4.25, "shape"), (5.65, "dimensions, and what the step does")):
        d.label(ax, x, top - 0.3, text, colour=INK, ha="left")
    for k, (code, shape, names, kind, note) in enumerate(steps):
        y = top + k * pitch
        d.box(ax, 0.3, y, 3.75, h, code, kind=kind, size=FS_SMALL, mono=True)
        if k:
            d.arrow(ax, [(2.175, y - pitch + h), (2.175, y - 0.01)])
        d.label(ax, 4.25, y + h / 2, str(shape), colour=INK, ha="left")
        d.label(ax, 5.65, y + h / 2 - 0.09, names, ha="left")
        d.label(ax, 5.65, y + h / 2 + 0.11, note, ha="left", italic=True)
    return d.closed(fig)
