"""The diagrams of notebook 01_overview (book chapter 1, "Understanding large language models").

`draw_course_path` (section 1.1): text -> tokens -> ids -> embeddings -> transformer blocks -> logits -> the next
token, each step with the notebook that builds it; `draw_model_sizes` (1.1): parameter counts on a log scale;
`draw_attention_masks` (1.4): what each token may attend to in an encoder (BERT) and in a decoder (GPT);
`draw_generation_strip` (1.6): one token at a time, each fed back; `draw_three_stages` (1.7): build, pretrain,
fine-tune, with the course's notebooks of each stage.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from matplotlib.figure import Figure

from helpers.gpt import GPT_CONFIG_124M, check_config
from helpers.teaching.diagrams import draw as d
from helpers.teaching.diagrams.draw import FS, FS_SMALL, INK, WIDTH

__all__ = ["draw_attention_masks", "draw_course_path", "draw_generation_strip", "draw_model_sizes",
           "draw_three_stages"]

NOTEBOOK_COLUMN = 6.2  # where draw_course_path writes the notebook of each step


def _cells(ax, x: float, y: float, texts: Sequence[str], h: float, kinds: Sequence[str] | str, limit: float) -> float:
    """A row of cells as wide as their texts; the x after it, or a ValueError when it would pass `limit`."""
    widths = [max(0.42, d.text_width(t, FS_SMALL) + 0.16) for t in texts]
    if x + sum(widths) > limit:
        raise ValueError(f"{len(texts)} tokens ({', '.join(texts)}) are too wide to draw; use fewer or shorter ones")
    d.cells_row(ax, x, y, texts, h, kinds, FS_SMALL, widths=widths)
    return x + sum(widths)


def draw_course_path(
    tokens: Sequence[str], token_ids: Sequence[int], next_token: str, cfg: Mapping[str, object] | None = None
) -> Figure:
    """One sentence through the model, step by step, with its real tokens, ids, shapes and next token, and the
    notebook that builds each step."""
    d.check_lengths(tokens=tokens, token_ids=token_ids)
    cfg = dict(GPT_CONFIG_124M if cfg is None else cfg)
    check_config(cfg)
    n, emb, vocab, layers = len(tokens), cfg["emb_dim"], cfg["vocab_size"], cfg["n_layers"]
    steps = [  # (what flows, its kind, the step that makes the next one, the notebook that builds that step)
        ([repr("".join(tokens))], "data", "split into tokens (byte pair encoding)", "02_text_and_tokens"),
        ([repr(t) for t in tokens], "data", "look up each token's id in the vocabulary", "02_text_and_tokens"),
        ([str(i) for i in token_ids], "plain", "token embedding + position embedding", "04_embeddings"),
        ([f"input embeddings (1, {n}, {emb})"], "data",
         f"{layers} transformer blocks: masked multi-head attention, feed forward", "05_attention, 06_gpt_model"),
        ([f"context vectors (1, {n}, {emb})"], "data", "final LayerNorm, linear output head", "06_gpt_model"),
        ([f"logits (1, {n}, {vocab:,})"], "data", "softmax at the last position, pick a token", "06_gpt_model, "
         "07_pretraining"),
        ([repr(next_token)], "accent", "", ""),
    ]
    h, gap, x0, top = 0.36, 0.46, 0.6, 1.0
    fig, ax = d.canvas(WIDTH, top + len(steps) * (h + gap) + 0.3)
    d.title(ax, "The path of this course: from text to the next token")
    d.label(ax, NOTEBOOK_COLUMN, 0.72, "built in notebook", colour=INK, ha="left", bold=True)
    y = top
    rows = []
    for texts, kind, step, notebook in steps:
        if len(texts) == 1:
            w = d.text_width(texts[0], FS_SMALL) + 0.3
            if x0 + w > NOTEBOOK_COLUMN - 0.1:
                raise ValueError(f"{texts[0]} is too long to draw; use a shorter sentence")
            d.box(ax, x0, y, w, h, texts[0], kind=kind, size=FS_SMALL, rounded=False, lw=0.8)
            end = x0 + w
        else:
            end = _cells(ax, x0, y, texts, h, kind, NOTEBOOK_COLUMN - 0.8)
            d.label(ax, end + 0.1, y + h / 2, f"(1, {n})" if kind == "plain" else f"{n} tokens", ha="left")
        if step:
            d.arrow(ax, [(x0 + 0.3, y + h + 0.02), (x0 + 0.3, y + h + gap - 0.02)], step,
                    at=(x0 + 0.45, y + h + gap / 2))
            d.label(ax, NOTEBOOK_COLUMN, y + h + gap / 2, notebook, colour=INK, ha="left")
        rows.append((y, end))
        y += h + gap
    (y_ids, _), (y_new, end_new) = rows[2], rows[-1]
    d.arrow(ax, [(x0 - 0.02, y_new + h / 2), (0.25, y_new + h / 2), (0.25, y_ids + h / 2), (x0 - 0.02, y_ids + h / 2)],
            dashed=True)
    d.label(ax, end_new + 0.15, y_new + h / 2, "append its id and go again: one token at a time", ha="left")
    d.label(ax, 0.25, y + 0.05, "Training: 03_sliding_window cuts a text into input/target windows, 07_pretraining "
            "learns the weights.", ha="left")
    return d.closed(fig)


def _tick(value: float) -> str:
    """10**k parameters as 10 M, 100 M, 1 B, ..."""
    for size, unit in ((1e12, "T"), (1e9, "B"), (1e6, "M")):
        if value >= size:
            return f"{value / size:g} {unit}"
    return f"{value:g}"


def draw_model_sizes(
    sizes: Mapping[str, int], quoted: Mapping[str, int] | None = None, bytes_per_parameter: int = 4
) -> Figure:
    """Parameter counts as bars on a log scale, each with its memory; `quoted` ones (not computed here) hatched."""
    entries = [(name, int(count), False) for name, count in sizes.items()]
    entries += [(name, int(count), True) for name, count in (quoted or {}).items()]
    if not 1 <= len(entries) <= 8:
        raise ValueError(f"draw_model_sizes takes 1 to 8 models, got {len(entries)}")
    low, high = 7, 12  # the axis: 10 million to 1 trillion parameters
    bad = [f"{name}: {count:,}" for name, count, _ in entries if not 10**low <= count < 10**high]
    if bad:
        raise ValueError(f"parameter counts must be between 10 million and 1 trillion: {'; '.join(bad)}")
    x0, decade, h = 2.35, 1.02, 0.36
    fig, ax = d.canvas(WIDTH, 0.85 + len(entries) * (h + 0.16) + 1.0)
    d.title(ax, "How large is large? Parameters on a log scale")
    y = 0.85
    for name, count, is_quoted in entries:
        w = (math.log10(count) - low) * decade
        d.label(ax, x0 - 0.12, y + h / 2, name, colour=INK, ha="right")
        d.box(ax, x0, y, w, h, kind="frozen" if is_quoted else "layer", rounded=False, lw=0.8)
        memory = count * bytes_per_parameter / 1e9
        size = f"{memory:,.{2 if memory < 100 else 0}f} GB"
        note = f"{_tick(count) if is_quoted else f'{count:,}'}  ·  {size}" + ("  (quoted)" if is_quoted else "")
        d.label(ax, x0 + w + 0.1, y + h / 2, note, ha="left")
        y += h + 0.16
    y += 0.05
    d.arrow(ax, [(x0, y), (x0 + (high - low) * decade, y)], head=False)
    for k in range(low, high + 1):
        x = x0 + (k - low) * decade
        d.arrow(ax, [(x, y), (x, y + 0.08)], head=False)
        d.label(ax, x, y + 0.25, _tick(10.0**k))
    d.label(ax, x0 + (high - low) * decade + 0.3, y + 0.25, "parameters", ha="left")
    d.label(ax, 0.25, y + 0.7, f"Each step to the right is 10 times more parameters. Memory: {bytes_per_parameter} "
            "bytes per parameter (float32), weights only.", ha="left")
    return d.closed(fig)


def draw_attention_masks(words: Sequence[str], masked: int = 2) -> Figure:
    """The attention masks of an encoder (every token sees every token; it fills in a masked word) and of a decoder
    (each token sees itself and the tokens before it; it continues the text)."""
    n = len(words)
    if not 2 <= n <= 6:
        raise ValueError(f"draw_attention_masks takes 2 to 6 words, got {n}")
    if not 0 <= masked < n:
        raise ValueError(f"masked={masked} is out of range for {n} words")
    hidden = [("[MASK]" if i == masked else w) for i, w in enumerate(words)]
    col = max(0.55, max(d.text_width(w, FS_SMALL) for w in [*words, *hidden]) + 0.14)
    left = max(d.text_width(w, FS_SMALL) for w in [*words, *hidden]) + 0.35
    if 2 * (left + n * col) + 0.6 > WIDTH:
        raise ValueError("the words are too long to draw two masks side by side; use shorter ones")
    h = 0.34
    fig, ax = d.canvas(WIDTH, 1.55 + n * h + 1.55)
    d.title(ax, "Who may attend to whom: the two attention masks")
    panels = (
        ("BERT-style encoder: every token sees every token", lambda r, c: True, hidden,
         f"predicts the hidden word: {words[masked]!r}"),
        ("GPT-style decoder: each token sees only the past", lambda r, c: c <= r, list(words),
         "predicts the word that comes next"),
    )
    for p, (heading, sees, example, task) in enumerate(panels):
        x = 0.25 + p * WIDTH / 2 + left
        d.label(ax, 0.25 + p * WIDTH / 2, 0.8, heading, colour=INK, size=FS, ha="left")
        for c, word in enumerate(example):
            d.label(ax, x + c * col + col / 2, 1.2, word)
        cells = [["1" if sees(r, c) else "0" for c in range(n)] for r in range(n)]
        kinds = [["highlight" if sees(r, c) else "masked" for c in range(n)] for r in range(n)]
        d.grid(ax, x, 1.42, cells, col, h, kinds)
        for r, word in enumerate(example):
            d.label(ax, x - 0.1, 1.42 + r * h + h / 2, word, ha="right")
        y = 1.42 + n * h + 0.35
        end = _cells(ax, x, y, example, h, ["accent" if p == 0 and i == masked else "data"
                                             for i in range(n)], (p + 1) * WIDTH / 2)
        if p == 1:
            d.box(ax, end + 0.1, y, 0.42, h, "?", kind="accent", size=FS_SMALL, rounded=False, lw=0.8)
        d.label(ax, x, y + h + 0.3, task, ha="left")
    d.label(ax, 0.25, 1.42 + n * h + 1.35, "Row: the token that attends; column: the token it may see (1) or not (0).",
            ha="left")
    return d.closed(fig)


def draw_generation_strip(prompt: Sequence[str], new_tokens: Sequence[str]) -> Figure:
    """Autoregressive generation as a strip of steps: the context, the model, the next token, appended each time."""
    if not prompt or not new_tokens or len(new_tokens) > 6:
        raise ValueError(f"need a prompt and 1 to 6 new tokens, got {len(prompt)} and {len(new_tokens)}")
    shown = [repr(t) for t in [*prompt, *new_tokens]]
    h, gap = 0.36, 0.2
    fig, ax = d.canvas(WIDTH, 1.05 + (len(new_tokens) + 1) * (h + gap) + 0.5)
    d.title(ax, "Generating text: one token at a time, each fed back")
    y, x0 = 0.9, 0.95
    for step in range(len(new_tokens)):
        n = len(prompt) + step
        kinds = ["data"] * len(prompt) + ["highlight"] * step
        d.label(ax, x0 - 0.12, y + h / 2, f"step {step + 1}", ha="right")
        end = _cells(ax, x0, y, shown[:n], h, kinds, WIDTH - 2.2)
        d.arrow(ax, [(end + 0.05, y + h / 2), (end + 0.3, y + h / 2)])
        d.box(ax, end + 0.32, y, 0.6, h, "GPT", kind="layer", size=FS_SMALL)
        d.arrow(ax, [(end + 0.94, y + h / 2), (end + 1.16, y + h / 2)])
        _cells(ax, end + 1.18, y, [shown[n]], h, "accent", WIDTH - 0.1)
        y += h + gap
    d.label(ax, x0 - 0.12, y + h / 2, "result", ha="right")
    _cells(ax, x0, y, shown, h, ["data"] * len(prompt) + ["highlight"] * len(new_tokens), WIDTH - 0.1)
    d.label(ax, 0.25, y + h + 0.3, "Dark: the token predicted at this step. Shaded: the tokens generated before it, "
            "now part of the context.", ha="left")
    return d.closed(fig)


STAGES = (
    ("Stage 1: build an LLM", "book chapters 2–4", "a GPT with random weights", (
        ("02_text_and_tokens", "text → tokens → token ids"), ("03_sliding_window", "input/target windows"),
        ("04_embeddings", "token + position embeddings"), ("05_attention", "self-attention, causal, multi-head"),
        ("06_gpt_model", "the GPT model; generating text"))),
    ("Stage 2: pretrain", "book chapter 5", "a foundation model", (
        ("07_pretraining", "training loop, loss, sampling"), ("08_llama", "beyond the book: GPT → Llama,\n"
                                                                          "a real pretrained model"))),
    ("Stage 3: fine-tune", "book chapters 6–7", "a classifier, an assistant", (
        ("09_classification_finetuning", "a spam classifier"),
        ("10_instruction_finetuning", "following instructions"))),
)


def draw_three_stages() -> Figure:
    """Build, pretrain, fine-tune: the three stages of the book, each with the course's notebooks and its result."""
    w, gap, top, bh = 2.7, 0.25, 0.7, 0.72
    fig, ax = d.canvas(WIDTH, top + 0.75 + 5 * (bh + 0.12) + 0.85)
    d.title(ax, "The three stages of building an LLM, and the notebooks of each")
    bottom = top + 0.75 + 5 * (bh + 0.12) + 0.15
    for s, (name, chapters, result, notebooks) in enumerate(STAGES):
        x = 0.2 + s * (w + gap)
        d.box(ax, x, top, w, 0.6, f"{name}\n{chapters}", kind="accent", size=FS_SMALL)
        if s:
            d.arrow(ax, [(x - gap + 0.01, top + 0.3), (x - 0.02, top + 0.3)])
        y = top + 0.75
        for notebook, what in notebooks:
            d.box(ax, x + 0.1, y, w - 0.2, bh, f"{notebook}\n{what}", kind="data", size=FS_SMALL)
            y += bh + 0.12
        d.arrow(ax, [(x + w / 2, y - 0.1), (x + w / 2, bottom - 0.02)])
        d.box(ax, x, bottom, w, 0.42, result, kind="layer", size=FS_SMALL)
    return d.closed(fig)
