"""The diagrams of notebook 10_instruction_finetuning (book chapter 7, "Fine-tuning to follow instructions").

`draw_prompt_styles` (section 7.2, "Preparing a dataset for supervised instruction fine-tuning", and exercise 7.1:
one entry in the Alpaca and the Phi-3 template) and `draw_collate_steps` (7.3, "Organizing data into training
batches": pad, shift, and -100 for the padding the loss should skip).
"""

from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence

from matplotlib.figure import Figure

from helpers.teaching.diagrams import draw as d
from helpers.teaching.diagrams.draw import FS, FS_SMALL, INK, WIDTH

__all__ = ["draw_collate_steps", "draw_prompt_styles"]

_ENTRY = {"instruction": "Identify the correct spelling of the following word.", "input": "Ocassion",
          "output": "The correct spelling is 'Occasion.'"}  # the book's data[50]
_INTRO = "Below is an instruction that describes a task. Write a response that appropriately completes the request."


def _wrapped(text: str, width: int) -> str:
    return "\n".join(textwrap.wrap(text, width)) or " "


def draw_prompt_styles(entry: Mapping[str, str] = _ENTRY) -> Figure:
    """One entry written in the Alpaca template (this chapter's) and in the Phi-3 template (exercise 7.1).

    The prompt is what the model reads; the response (highlighted) is what it learns to write."""
    if not all(isinstance(entry.get(f), str) for f in ("instruction", "input", "output")) or not entry["output"]:
        raise ValueError(f"entry must have the str fields 'instruction', 'input' and 'output', got {entry!r:.80}")
    if max(len(entry["instruction"]), len(entry["input"]), len(entry["output"])) > 120:
        raise ValueError("the entry's fields are too long to draw (at most 120 characters each)")
    alpaca = [(_INTRO, "data"), ("### Instruction:\n" + _wrapped(entry["instruction"], 42), "data")]
    if entry["input"]:
        alpaca.append(("### Input:\n" + _wrapped(entry["input"], 42), "data"))
    alpaca.append(("### Response:\n" + _wrapped(entry["output"], 42), "highlight"))
    user = _wrapped(entry["instruction"], 42) + ("\n" + _wrapped(entry["input"], 42) if entry["input"] else "")
    phi3 = [("<|user|>\n" + user, "data"), ("<|assistant|>\n" + _wrapped(entry["output"], 42), "highlight")]
    line_h, gap, top, w = 0.21, 0.14, 1.05, 4.05
    heights = {id(part): (part[0].count("\n") + 1) * line_h + 0.2 for part in alpaca + phi3}
    alpaca[0] = (_wrapped(_INTRO, 42), "data")
    heights[id(alpaca[0])] = (alpaca[0][0].count("\n") + 1) * line_h + 0.2
    bottom = top
    fig, ax = d.canvas(WIDTH, 5.0)
    d.title(ax, "One entry, two prompt templates: the model learns to write the response")
    for x, name, parts in ((0.3, "Alpaca (this chapter)", alpaca), (WIDTH - 0.3 - w, "Phi-3 (exercise 7.1)", phi3)):
        d.label(ax, x + w / 2, top - 0.3, name, colour=INK, size=FS, bold=True)
        y = top
        for part in parts:
            h = heights[id(part)]
            d.box(ax, x, y, w, h, part[0], kind=part[1], size=FS_SMALL, rounded=False, lw=0.8)
            y += h + gap
        bottom = max(bottom, y)
    d.swatch(ax, 0.3, bottom + 0.15, "data", "prompt: format_input(entry)")
    d.swatch(ax, 4.2, bottom + 0.15, "highlight", "response: what the model learns to write")
    return d.closed(d.fit_height(fig, ax, bottom + 0.45))


def _cells(values: Sequence[int], pad: int, masked: int, width: int) -> tuple[list[str], list[str]]:
    texts = [str(v).replace("-", "−") for v in values] + [""] * (width - len(values))
    kinds = ["masked" if v == masked else "highlight" if v == pad else "data" for v in values]
    return texts, kinds + ["plain"] * (width - len(values))


def draw_collate_steps(
    batch: Sequence[Sequence[int]] = ((0, 1, 2, 3, 4), (5, 6), (7, 8, 9)), pad_token_id: int = 50256,
    ignore_index: int = -100,
) -> Figure:
    """The book's collate function in three steps, on its toy batch: pad every item with the end-of-text token to
    the longest + 1, take inputs and targets shifted by one, and replace every padding target but the first by -100."""
    items = [list(item) for item in batch]
    if not 1 <= len(items) <= 4 or not all(1 <= len(item) <= 6 for item in items):
        raise ValueError(f"batch must hold 1 to 4 items of 1 to 6 token ids each, got {[len(i) for i in items]}")
    longest = max(len(item) for item in items) + 1
    padded = [item + [pad_token_id] * (longest - len(item)) for item in items]
    inputs = [row[:-1] for row in padded]
    targets = [row[1:] for row in padded]
    masked = [row[: len(item)] + [ignore_index] * (len(row) - len(item)) for row, item in zip(targets, items,
                                                                                            strict=True)]
    cell, h, gap = 0.52, 0.34, 0.42
    panel = (longest - 1) * cell
    top = 1.1 + len(items) * h + 0.8
    fig, ax = d.canvas(WIDTH, top + len(items) * h + 0.8)
    d.title(ax, "custom_collate_fn: pad, shift, and mask the padding with −100")
    d.label(ax, 0.3, 0.85, "the items (token ids), each one row:", ha="left", colour=INK, size=FS)
    for r, item in enumerate(items):
        d.cells_row(ax, 0.3, 1.1 + r * h, [str(v) for v in item], h, "data", widths=[cell] * len(item))
    x0 = (WIDTH - 3 * panel - 2 * gap) / 2
    minus = str(ignore_index).replace("-", "−")
    steps = (("1. inputs: + end-of-text, padded", inputs), ("2. targets: shifted by one", targets),
             (f"3. targets: {minus} after the first", masked))
    for k, (name, rows) in enumerate(steps):
        x = x0 + k * (panel + gap)
        d.label(ax, x + panel / 2, top - 0.3, name, colour=INK)
        for r, row in enumerate(rows):
            texts, kinds = _cells(row, pad_token_id, ignore_index, longest - 1)
            d.cells_row(ax, x, top + r * h, texts, h, kinds, widths=[cell] * (longest - 1))
    y = top + len(items) * h + 0.4
    d.swatch(ax, 0.3, y, "highlight", f"{pad_token_id}: <|endoftext|>, the padding")
    d.swatch(ax, 4.6, y, "masked", f"{minus}: cross_entropy leaves it out")
    return d.closed(fig)
