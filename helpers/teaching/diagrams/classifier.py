"""The diagrams of notebook 09_classification_finetuning (book chapter 6, "Fine-tuning for classification").

`draw_finetuning_kinds` (section 6.1, "Different categories of fine-tuning"), `draw_classifier_head` (6.5, "Adding a
classification head"), `draw_last_token` (6.6, "Calculating the classification loss and accuracy") and `draw_lora`
(appendix E.1, "Introduction to LoRA").
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.figure import Figure

from helpers.teaching.diagrams import draw as d
from helpers.teaching.diagrams.draw import FS, FS_SMALL, INK, MUTED, WIDTH

__all__ = ["draw_classifier_head", "draw_finetuning_kinds", "draw_last_token", "draw_lora"]

# The notebook that does each kind of fine-tuning, and the book's chapter it follows (section 6.1's figure).
FINETUNING_NOTEBOOKS = {"classification": ("6", "09_classification_finetuning"),
                        "instruction": ("7", "10_instruction_finetuning")}


def _fit(text: str, width: float, size: float = FS_SMALL) -> tuple[str, str]:
    """The words of `text` that fit on one line `width` inches wide, and the rest."""
    words, line = text.split(), ""
    for i, word in enumerate(words):
        longer = f"{line} {word}" if line else word
        if line and d.text_width(longer, size) > width:
            return line, " ".join(words[i:])
        line = longer
    return line, ""


def _two_lines(text: str, width: float, size: float = FS_SMALL) -> str:
    """`text` on at most two lines `width` inches wide; what does not fit is cut, with "…" at the end."""
    first, rest = _fit(text, width, size)
    if not rest:
        return first
    second, cut = _fit(rest, width, size)
    while cut and second and d.text_width(second + " …", size) > width:
        second, cut = second.rsplit(" ", 1)[0] if " " in second else "", "…"
    return f"{first}\n{second} …" if cut else f"{first}\n{second}"


def draw_finetuning_kinds(
    message: str = "You are a winner you have been specially selected to receive $1000 cash or a $2000 award.",
    class_names: Sequence[str] = ("not spam", "spam"), answer: int = 1,
    instruction: str = "Is this text spam? Answer yes or no:", response: str = "Yes.",
) -> Figure:
    """The two kinds of fine-tuning, side by side: classification (a message in, one of a fixed set of classes out)
    and instruction fine-tuning (an instruction in, a response in words out), with the notebook of each.

    `message` is classified (its class: `class_names[answer]`) and, after `instruction`, answered in words
    (`response`)."""
    if not isinstance(message, str) or not message.strip():
        raise ValueError(f"message must be a non-empty text, got {message!r}")
    if not 2 <= len(class_names) <= 4 or len(set(class_names)) != len(class_names) or not all(class_names):
        raise ValueError(f"class_names must hold 2 to 4 different, non-empty names, got {list(class_names)}")
    if not 0 <= answer < len(class_names):
        raise ValueError(f"answer must index class_names (0 to {len(class_names) - 1}), got {answer}")
    for name, text, room in (("instruction", instruction, 3.8), ("response", response, 2.2)):
        if not text.strip() or "\n" in text or d.text_width(text, FS_SMALL) > room:
            raise ValueError(f"{name} must be one short line of text ({room} inches at most), got {text!r}")
    message, instruction, response = (t.replace("$", r"\$") for t in (message, instruction, response))  # not math
    class_names = [name.replace("$", r"\$") for name in class_names]
    fig, ax = d.canvas(WIDTH, 4.75)
    d.title(ax, "Two kinds of fine-tuning: a class out, or a response in words")
    w, gap, top = 4.15, 0.3, 0.7
    inner = w - 0.3
    quoted, cut = _fit(f"'{message}", inner - 0.25)
    columns = (
        ("classification", "Classification fine-tuning", _two_lines(message, inner),
         f"GPT with a new head: {len(class_names)} classes",
         "Answers only with the classes it was trained on.\nNeeds less data and compute."),
        ("instruction", "Instruction fine-tuning", f"{instruction}\n{quoted}{' …' if cut else ''}'",
         "GPT with its next-token head",
         "Answers many kinds of instructions, in words.\nNeeds more data and a larger model."),
    )
    for c, (kind, name, text_in, model_text, note) in enumerate(columns):
        x = 0.2 + c * (w + gap)
        chapter, notebook = FINETUNING_NOTEBOOKS[kind]
        d.box(ax, x, top, w, 0.46, name, kind="accent", bold=True)
        d.label(ax, x + w / 2, top + 0.68, f"book chapter {chapter} · notebook {notebook}")
        d.box(ax, x, top + 0.95, w, 0.68, text_in, kind="data", size=FS_SMALL)
        d.arrow(ax, [(x + w / 2, top + 1.63), (x + w / 2, top + 1.96)])
        d.box(ax, x + 0.45, top + 1.98, w - 0.9, 0.46, model_text, kind="layer", size=FS_SMALL)
        d.arrow(ax, [(x + w / 2, top + 2.44), (x + w / 2, top + 2.77)])
        if kind == "classification":
            cell = min(1.2, (w - 0.2) / len(class_names))
            x_cells = x + (w - cell * len(class_names)) / 2
            kinds = ["highlight" if i == answer else "data" for i in range(len(class_names))]
            d.cells_row(ax, x_cells, top + 2.79, class_names, 0.42, kinds, widths=[cell] * len(class_names))
        else:
            d.box(ax, x + 0.95, top + 2.79, w - 1.9, 0.42, response, kind="highlight", size=FS_SMALL, rounded=False,
                  lw=0.8)
        d.label(ax, x + 0.1, top + 3.6, note, ha="left")
    return d.closed(fig)


def _blocks(first: int, last: int) -> str:
    """'transformer block 1', 'transformer blocks 1 and 2' or 'transformer blocks 1 to 11'."""
    if first == last:
        return f"transformer block {first}"
    return f"transformer blocks {first} {'and' if last == first + 1 else 'to'} {last}"


def draw_classifier_head(
    emb_dim: int = 768, vocab_size: int = 50257, num_classes: int = 2, n_layers: int = 12,
    class_names: Sequence[str] = ("not spam", "spam"), model_name: str | None = None,
) -> Figure:
    """Fine-tuning for classification: the output head emb_dim -> vocab_size replaced by emb_dim -> num_classes.

    `model_name` heads the left column (the notebook passes its own: GPT-2 small with OpenAI's weights, or the offline
    path's small random GPT); without it the column is named by its sizes alone, which fit any model."""
    if len(class_names) != num_classes:
        raise ValueError(f"class_names must hold num_classes={num_classes} names, got {len(class_names)}")
    if min(emb_dim, vocab_size, num_classes, n_layers) < 1:
        raise ValueError(f"emb_dim, vocab_size, num_classes and n_layers must be >= 1, got emb_dim={emb_dim}, "
                         f"vocab_size={vocab_size}, num_classes={num_classes}, n_layers={n_layers}")
    if model_name is None:
        model_name = f"GPT: {n_layers} block{'s' if n_layers > 1 else ''}, emb_dim {emb_dim}"
    w, pitch, h, top = 3.35, 0.66, 0.46, 1.25
    stack = [("token + position embeddings", True)]
    if n_layers > 1:
        stack.append((_blocks(1, n_layers - 1), True))
    stack += [(f"transformer block {n_layers}", False), ("final LayerNorm", False)]
    fig, ax = d.canvas(WIDTH, 5.7 - (n_layers == 1) * pitch)
    d.title(ax, "From next-token prediction to classification: swap the output head")
    columns = ((0.45, model_name, False), (WIDTH - 0.45 - w, "classifier (fine-tuned)", True))
    for x, name, tuned in columns:
        d.label(ax, x + w / 2, top - 0.35, name, colour=INK, size=FS, bold=True)
        parts = [(text, "frozen" if tuned and frozen else "layer") for text, frozen in stack]
        parts += [(f"new out_head: Linear({emb_dim}, {num_classes})" if tuned else
                   f"out_head: Linear({emb_dim}, {vocab_size:,})", "accent" if tuned else "layer"),
                  (f"{num_classes} scores: {' / '.join(class_names)}" if tuned else
                   f"{vocab_size:,} scores: the next token", "data")]
        for k, (text, kind) in enumerate(parts):
            y = top + k * pitch
            if k:
                d.arrow(ax, [(x + w / 2, y - pitch + h), (x + w / 2, y - 0.02)])
            d.box(ax, x, y, w, h, text, kind=kind, size=FS_SMALL)
    y_head = top + len(stack) * pitch + h / 2
    d.arrow(ax, [(0.45 + w + 0.1, y_head), (WIDTH - 0.55 - w, y_head)], "replace", at=(WIDTH / 2, y_head - 0.2),
            ha="center")
    d.swatch(ax, 0.45, top + (len(stack) + 2) * pitch + 0.05, "frozen",
             "frozen: requires_grad = False; the rest is trained")
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
