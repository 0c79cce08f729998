"""The diagrams of notebook 04_embeddings (book chapter 2, sections 2.7 and 2.8).

`draw_embedding_lookup` (beyond the book, "A lookup is a one-hot vector times a matrix", after section 2.7
"Creating token embeddings"): a lookup picks rows of the weight; `draw_input_embeddings` (section 2.8, "Encoding
word positions"): token embeddings plus position embeddings, broadcast over the batch.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from matplotlib.figure import Figure

from helpers.teaching.diagrams import draw as d
from helpers.teaching.diagrams.draw import FS, FS_SMALL, FS_TITLE, INK, WIDTH

__all__ = ["draw_embedding_lookup", "draw_input_embeddings"]


def draw_embedding_lookup(weight: object, ids: Sequence[int]) -> Figure:
    """An embedding lookup picks rows of the weight matrix, the same as one-hot rows times the matrix."""
    table = d.matrix(weight, "weight")
    vocab_size, dim = len(table), len(table[0])
    ids = [int(i) for i in ids]
    if not ids:
        raise ValueError("ids must hold at least one token id")
    bad = [i for i in ids if not 0 <= i < vocab_size]
    if bad:
        raise ValueError(f"ids {bad} are out of range for a weight of {vocab_size} rows (ids 0 to {vocab_size - 1})")
    if vocab_size > 8 or dim > 4 or len(ids) > 8:
        raise ValueError(f"a ({vocab_size}, {dim}) weight and {len(ids)} ids are too large to draw; use at most "
                         "8 rows, 4 columns and 8 ids")
    h, one_w = 0.32, 0.3
    num_w = max(d.text_width(d.fmt(v), FS_SMALL) for row in table for v in row) + 0.14
    x_ids, x_onehot = 0.35, 1.1
    x_weight = x_onehot + vocab_size * one_w + 0.7
    x_out = x_weight + dim * num_w + 0.55
    top = 1.4
    fig, ax = d.canvas(max(WIDTH, x_out + dim * num_w + 0.75), top + max(vocab_size, len(ids)) * h + 0.75)
    d.title(ax, "An embedding lookup picks rows: the same as one-hot vectors times the weight")
    headers = ((x_ids + 0.25, "ids"), (x_onehot + vocab_size * one_w / 2, f"one-hot ({len(ids)}, {vocab_size})"),
               (x_weight + dim * num_w / 2, f"weight ({vocab_size}, {dim})"),
               (x_out + dim * num_w / 2, f"output ({len(ids)}, {dim})"))
    for x, text in headers:
        d.label(ax, x, top - 0.5, text, colour=INK, size=FS)
    for c in range(vocab_size):
        d.label(ax, x_onehot + (c + 0.5) * one_w, top - 0.17, str(c))
    for k, i in enumerate(ids):
        y = top + k * h
        d.box(ax, x_ids, y, 0.5, h, str(i), kind="data", size=FS, rounded=False, lw=0.8)
        d.arrow(ax, [(x_ids + 0.52, y + h / 2), (x_onehot - 0.04, y + h / 2)])
        d.cells_row(ax, x_onehot, y, ["1" if c == i else "0" for c in range(vocab_size)], h,
                    ["accent" if c == i else "plain" for c in range(vocab_size)], widths=[one_w] * vocab_size)
        d.cells_row(ax, x_out, y, [d.fmt(v) for v in table[i]], h, "highlight", FS_SMALL, widths=[num_w] * dim)
        d.label(ax, x_out + dim * num_w + 0.1, y + h / 2, f"row {i}", ha="left")
    for r in range(vocab_size):
        d.label(ax, x_weight - 0.1, top + r * h + h / 2, str(r), ha="right")
        d.cells_row(ax, x_weight, top + r * h, [d.fmt(v) for v in table[r]], h,
                    "highlight" if r in ids else "data", FS_SMALL, widths=[num_w] * dim)
    mid = top + len(ids) * h / 2
    d.label(ax, x_weight - 0.42, mid, "@", colour=INK, size=FS_TITLE)
    d.label(ax, x_out - 0.27, mid, "=", colour=INK, size=FS_TITLE)
    d.label(ax, 0.35, top + max(vocab_size, len(ids)) * h + 0.35, "The lookup embedding(ids) skips the "
            "multiplication: output row k is weight row ids[k].", ha="left")
    return d.closed(fig)


def draw_input_embeddings(
    token_ids: Sequence[Sequence[int]], emb_dim: int = 256, vocab_size: int = 50257, example: tuple[int, int] = (5, 2)
) -> Figure:
    """Token embeddings (batch, num_tokens, emb_dim) + position embeddings (num_tokens, emb_dim), broadcast."""
    ids = [[int(v) for v in row] for row in torch.as_tensor(token_ids).tolist()]
    if not ids or not ids[0] or any(len(row) != len(ids[0]) for row in ids):
        raise ValueError("token_ids must be a non-empty (batch, num_tokens) table")
    batch, num_tokens = len(ids), len(ids[0])
    if batch > 8 or num_tokens > 6:
        raise ValueError(f"a batch of {batch} x {num_tokens} ids is too large to draw; use at most 8 x 6")
    r0, c0 = example
    if not (0 <= r0 < batch and 0 <= c0 < num_tokens):
        raise ValueError(f"example={example} is outside the ({batch}, {num_tokens}) batch")
    fig, ax = d.canvas(WIDTH, 8)
    d.title(ax, "Token embeddings + position embeddings = input embeddings")
    col, h = 0.52, 0.25
    grid_top = 1.15
    d.label(ax, 0.35 + num_tokens * col / 2, grid_top - 0.2, f"token ids ({batch}, {num_tokens})", colour=INK, size=FS)
    kinds = [["accent" if (r, c) == (r0, c0) else "data" for c in range(num_tokens)] for r in range(batch)]
    d.grid(ax, 0.35, grid_top, [[str(v) for v in row] for row in ids], col, h, kinds)
    a_mid = grid_top + batch * h / 2
    d.box(ax, 2.7, a_mid - 0.35, 2.2, 0.7, f"tok_emb\nnn.Embedding({vocab_size:,}, {emb_dim})", size=FS_SMALL)
    d.slab(ax, 5.3, a_mid - 0.35, 1.75, 0.7, f"token embeddings\n({batch}, {num_tokens}, {emb_dim})", size=FS_SMALL)
    d.arrow(ax, [(0.4 + num_tokens * col, a_mid), (2.68, a_mid)])
    d.arrow(ax, [(4.9, a_mid), (5.28, a_mid)])
    b_top = grid_top + batch * h + 0.65
    d.label(ax, 0.35 + num_tokens * col / 2, b_top - 0.2, f"torch.arange({num_tokens})", colour=INK, size=FS)
    d.cells_row(ax, 0.35, b_top, [str(p) for p in range(num_tokens)], 0.3,
                ["accent" if p == c0 else "data" for p in range(num_tokens)], FS_SMALL, widths=[col] * num_tokens)
    b_mid = b_top + 0.15
    d.box(ax, 2.7, b_mid - 0.35, 2.2, 0.7, f"pos_emb\nnn.Embedding({num_tokens}, {emb_dim})", size=FS_SMALL)
    d.box(ax, 5.3, b_mid - 0.35, 1.75, 0.7, f"position embeddings\n({num_tokens}, {emb_dim})", kind="data",
          size=FS_SMALL, rounded=False)
    d.arrow(ax, [(0.4 + num_tokens * col, b_mid), (2.68, b_mid)])
    d.arrow(ax, [(4.9, b_mid), (5.28, b_mid)])
    d.label(ax, 2.7, b_mid + 0.58, f"The ({num_tokens}, {emb_dim}) table is added to each of the {batch} windows "
            "(broadcast).", ha="left")
    plus_x = 7.7
    d.add(ax, plus_x, b_mid, 0.2)
    d.arrow(ax, [(7.1, a_mid), (plus_x, a_mid), (plus_x, b_mid - 0.22)])
    d.arrow(ax, [(7.07, b_mid), (plus_x - 0.22, b_mid)])
    out_top = b_mid + 0.95
    d.arrow(ax, [(plus_x, b_mid + 0.2), (plus_x, out_top - 0.2)])
    d.slab(ax, plus_x - 1.0, out_top, 2.0, 0.7, f"input embeddings\n({batch}, {num_tokens}, {emb_dim})", kind="accent",
           size=FS_SMALL)
    d.label(ax, 0.35, out_top + 0.35, f"input_embeddings[{r0}, {c0}]\n= tok_emb.weight[{ids[r0][c0]}]\n"
            f"+ pos_emb.weight[{c0}]", ha="left", colour=INK)
    return d.closed(d.fit_height(fig, ax, out_top + 0.95))
