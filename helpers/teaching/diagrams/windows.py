"""The diagrams of notebook 03_sliding_window (book chapter 2, section 2.6, "Data sampling with a sliding window").

`draw_next_token_pairs` (section 2.6): an input, its target shifted by one, and the prediction tasks they hold;
`draw_windows_to_batch` (2.6, "A data loader of batches"): windows stacked into the inputs and targets tensors;
`draw_stride_windows` (beyond the book, "The windows, drawn"): overlapping and tiling windows for each stride.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from matplotlib.figure import Figure

from helpers.teaching.diagrams import draw as d
from helpers.teaching.diagrams.draw import FS, FS_SMALL, INK, WIDTH

__all__ = ["draw_next_token_pairs", "draw_stride_windows", "draw_windows_to_batch"]


def draw_next_token_pairs(
    token_ids: Sequence[int], words: Sequence[str] | None = None, context_size: int = 4
) -> Figure:
    """An input x and its target y (x shifted by one token), and the context_size prediction tasks they hold."""
    if context_size < 1 or len(token_ids) < context_size + 1:
        raise ValueError(f"need context_size >= 1 and at least context_size + 1 = {context_size + 1} token ids, "
                         f"got context_size={context_size} and {len(token_ids)} ids")
    if words is not None:
        d.check_lengths(token_ids=token_ids, words=words)
    n = context_size + 1
    texts = [str(i) if words is None else f"{i}\n{words[k].strip() or repr(words[k])}" for k, i in
             enumerate(token_ids[:n])]
    col = max(0.8, max(d.text_width(t) for t in texts) + 0.25)
    x0, h = 1.55, 0.36 if words is None else 0.62
    if x0 + n * col + 0.3 > WIDTH - 0.2:
        raise ValueError(f"context_size={context_size} is too large to draw; use at most 5")
    height = 1.25 + h + 0.35 + context_size * (h + 0.16) + 0.45
    fig, ax = d.canvas(WIDTH, height)
    d.title(ax, f"One input/target pair holds {context_size} prediction tasks")
    y = 1.25
    d.label(ax, x0 - 0.15, y + h / 2, "token stream", ha="right")
    d.cells_row(ax, x0, y, texts, h, "data", widths=[col] * n)
    for name, first, level in (("x: input", 0, 0.78), ("y: target = x shifted by one", 1, 0.42)):
        left, right = x0 + first * col + 0.06, x0 + (first + context_size) * col - 0.06
        top = y - level + 0.3
        d.arrow(ax, [(left, y - 0.05), (left, top), (right, top), (right, y - 0.05)], head=False)
        d.label(ax, (left + right) / 2, top - 0.13, name, colour=INK)
    y += h + 0.35
    for i in range(1, context_size + 1):
        d.label(ax, x0 - 0.15, y + h / 2, f"task {i}: context", ha="right")
        d.cells_row(ax, x0, y, texts[:i], h, "data", widths=[col] * i)
        d.arrow(ax, [(x0 + i * col + 0.03, y + h / 2), (x0 + i * col + 0.27, y + h / 2)])
        d.box(ax, x0 + i * col + 0.3, y, col, h, texts[i], kind="accent", size=FS_SMALL, rounded=False, lw=0.8)
        y += h + 0.16
    d.label(ax, x0, y + 0.12, "Dark: the token to predict from the context before it.", ha="left")
    return d.closed(fig)


def draw_stride_windows(
    token_ids: Sequence[int], max_length: int = 4, strides: Sequence[int] = (1, 4), n_windows: int = 3
) -> Figure:
    """Input and target windows over the token stream for each stride: overlapping (stride < max_length) or tiling."""
    if max_length < 1 or n_windows < 1 or not strides or min(strides) < 1:
        raise ValueError(f"max_length, n_windows and every stride must be >= 1, got max_length={max_length}, "
                         f"n_windows={n_windows}, strides={list(strides)}")
    n = (n_windows - 1) * max(strides) + max_length + 1
    if len(token_ids) < n:
        raise ValueError(f"{n_windows} windows of {max_length} tokens with stride {max(strides)} need {n} token "
                         f"ids, got {len(token_ids)}")
    texts = [str(i) for i in token_ids[:n]]
    col = max(0.5, max(d.text_width(t, FS_SMALL) for t in texts) + 0.12)
    x0, h = 1.0, 0.27
    if x0 + n * col > WIDTH - 0.1:
        raise ValueError(f"{n} tokens do not fit across the figure; use fewer windows or a smaller stride")
    panel = 0.3 + h + 0.2 + n_windows * (2 * h + 0.12) + 0.15
    fig, ax = d.canvas(WIDTH, 0.7 + len(strides) * panel + 0.3)
    d.title(ax, f"Sliding windows of max_length = {max_length}: inputs and their targets")
    y = 0.7
    for stride in strides:
        overlap = max(0, max_length - stride)
        how = (f"neighbouring windows share {overlap} of their {max_length} tokens" if overlap else
               "the windows tile the text, no overlap" if stride == max_length else
               f"{stride - max_length} token(s) skipped between windows")
        d.label(ax, 0.2, y + 0.1, f"stride = {stride}: {how}", colour=INK, ha="left", size=FS)
        y += 0.3
        shown = (n_windows - 1) * stride + max_length + 1
        d.label(ax, x0 - 0.12, y + h / 2, "token ids", ha="right")
        d.cells_row(ax, x0, y, texts[:shown], h, "plain", FS_SMALL, widths=[col] * shown)
        y += h + 0.2
        for k in range(n_windows):
            start = k * stride
            d.label(ax, x0 - 0.12, y + h / 2, f"input {k}", ha="right")
            d.cells_row(ax, x0 + start * col, y, texts[start:start + max_length], h, "highlight", FS_SMALL,
                        widths=[col] * max_length)
            d.label(ax, x0 - 0.12, y + 1.5 * h, f"target {k}", ha="right")
            d.cells_row(ax, x0 + (start + 1) * col, y + h, texts[start + 1:start + max_length + 1], h, "op",
                        FS_SMALL, widths=[col] * max_length)
            y += 2 * h + 0.12
        y += 0.15
    d.label(ax, 0.2, y + 0.05, "Each target row is its input row shifted one token to the right.", ha="left")
    return d.closed(fig)


def draw_windows_to_batch(inputs: Sequence[Sequence[int]], targets: Sequence[Sequence[int]]) -> Figure:
    """Windows stacked into the two tensors of a batch, inputs and targets, each (batch_size, max_length)."""
    inputs = [[int(v) for v in row] for row in torch.as_tensor(inputs).tolist()]
    targets = [[int(v) for v in row] for row in torch.as_tensor(targets).tolist()]
    if not inputs or len(inputs) != len(targets) or any(len(r) != len(inputs[0]) for r in inputs + targets):
        raise ValueError(f"inputs and targets must be two tables of the same shape, got {len(inputs)} and "
                         f"{len(targets)} rows")
    if any(i[1:] != t[:-1] for i, t in zip(inputs, targets, strict=True)):
        raise ValueError("each target row must be its input row shifted by one token")
    batch_size, max_length = len(inputs), len(inputs[0])
    if batch_size > 12 or max_length > 6:
        raise ValueError(f"a batch of {batch_size} x {max_length} is too large to draw; use at most 12 x 6")
    # the windows of an unshuffled loader with stride = max_length follow each other in the token stream
    most = max(1, min(3, batch_size, 12 // max_length))
    n_stream = next((r for r in range(1, most) if inputs[r][0] != targets[r - 1][-1]), most)
    col, h = 0.62, 0.28
    fig, ax = d.canvas(WIDTH, 2.4 + batch_size * h + 0.55)
    d.title(ax, f"Windows become a batch: two tensors of shape ({batch_size}, {max_length})")
    left, right = 1.3, 5.2
    stream = [str(v) for row in inputs[:n_stream] for v in row] + ["…"]
    step = min(col, (WIDTH - 0.2 - left) / len(stream))
    y = 0.95
    d.label(ax, left - 0.12, y + h / 2, "token ids", ha="right")
    d.cells_row(ax, left, y, stream, h, "plain", FS_SMALL, widths=[step] * len(stream))
    for r in range(n_stream):
        a, b = left + r * max_length * step + 0.05, left + (r + 1) * max_length * step - 0.05
        d.arrow(ax, [(a, y - 0.04), (a, y - 0.16), (b, y - 0.16), (b, y - 0.04)], head=False)
        d.label(ax, (a + b) / 2, y - 0.3, f"window {r}", colour=INK)
    y += h + 0.4
    for x, name, rows, kind in ((left, "inputs", inputs, "highlight"), (right, "targets", targets, "op")):
        d.label(ax, x + col * max_length / 2, y + 0.15, f"{name}: (batch_size, max_length)", colour=INK, size=FS)
        d.grid(ax, x, y + 0.4, [[str(v) for v in row] for row in rows], col, h, kind)
    y += 0.4
    for r in range(batch_size):
        d.label(ax, left - 0.12, y + r * h + h / 2, f"window {r}", ha="right")
    mid = y + batch_size * h / 2
    d.arrow(ax, [(left + col * max_length + 0.2, mid), (right - 0.2, mid)], "shifted by one",
            at=((left + col * max_length + right) / 2, mid - 0.2), ha="center")
    d.label(ax, right + col * max_length + 0.15, mid, f"{batch_size} rows\n{max_length} columns", ha="left")
    d.label(ax, 0.2, y + batch_size * h + 0.3, "Row r of both tensors is window r: the batch holds "
            f"{batch_size} × {max_length} = {batch_size * max_length} next-token predictions.", ha="left")
    return d.closed(fig)
