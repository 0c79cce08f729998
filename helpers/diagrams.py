"""Concept diagrams drawn with matplotlib: one function per diagram, each returns a `Figure` and never saves a file.

Drawn into the notebooks 01_text_and_tokens, 02_sliding_window, 03_embeddings, 04_attention, 05_gpt_model and
06_pretraining (and the classifier fine-tuning chapter, book chapter 6); each section below names its notebook.
Where a diagram shows numbers or words, they are arguments, so a notebook passes its own; the defaults are the
notebooks' values. Every diagram is built from the same few primitives (`_box`, `_arrow`, `_grid`, `_label`) and
one palette, `FILLS`, whose fills differ in lightness, so the diagrams also read in greyscale.

Coordinates are inches, measured from the top-left corner of the figure (y grows downwards).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import torch
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import Circle, FancyArrowPatch, FancyBboxPatch
from matplotlib.path import Path
from matplotlib.textpath import TextToPath

# --- the palette and the type sizes, shared by every diagram ---

INK = "#1d2733"  # text, outlines and arrows
MUTED = "#4a5561"  # secondary text: shapes, notes
FILLS = {  # CIE lightness in brackets: neighbours differ by at least 7, so the kinds stay apart in greyscale
    "data": "#fff8e6",  # (98) text, tokens, tensors
    "op": "#cfe8c6",  # (89) an operation without weights: softmax, add, dropout, crop
    "highlight": "#f2c46d",  # (82) what the diagram points at in the data
    "layer": "#8fb8de",  # (73) a layer with trainable weights
    "accent": "#2b5f8a",  # (39) the one result or step the diagram is about; white text
    "masked": "#ffffff",  # white with grey hatching: masked, dropped, unknown
    "frozen": "#c9d3dd",  # (84) with hatching: weights that are not trained
    "plain": "#ffffff",
}
HATCHES = {"masked": "//", "frozen": "\\\\"}
HATCH_COLOUR = "#a3adb8"
WHITE_TEXT = {"accent"}

FS = 11  # labels in boxes
FS_SMALL = 10  # shapes, notes and numbers in cells: the smallest text of any diagram
FS_TITLE = 13
LINE = 1.1  # outline width in points
WIDTH = 9.0  # inches: a notebook cell is about 900 pixels wide at 100 dpi

_TEXT_PATH = TextToPath()


# --- drawing primitives ---


def _canvas(width: float, height: float) -> tuple[Figure, Axes]:
    """A figure of width x height inches with one axes in inches, origin top-left, no ticks or frame.

    The width is rounded up to a quarter inch and the height to a hundredth, so that the size a notebook prints
    (`<Figure size 925x407 ...>`, compared by nbval) does not move with the last digits of a font's metrics.
    """
    width, height = math.ceil(width * 4 - 1e-6) / 4, round(height, 2)
    fig = plt.figure(figsize=(width, height), dpi=100)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.set_axis_off()
    return fig, ax


def _text_width(text: str, size: float = FS) -> float:
    """Width in inches of the widest line of `text` at `size` points."""
    prop = FontProperties(size=size)
    return max(_TEXT_PATH.get_text_width_height_descent(line, prop, ismath=False)[0] for line in text.split("\n")) / 72


def _centring(text: str, size: float) -> tuple[str, float]:
    """Vertical alignment and y offset (inches) that centre `text` at a point.

    One line of letters or digits is set on a baseline half a capital's height below the point, so neighbouring
    labels share one baseline whether or not they have descenders; anything else is centred on its extent.
    """
    if "\n" not in text and any(ch.isalnum() for ch in text):
        return "baseline", 0.73 * size / 72 / 2  # 0.73: DejaVu Sans's capital height, in ems
    return "center", 0.0


def _label(
    ax: Axes, x: float, y: float, text: str, size: float = FS_SMALL, colour: str = MUTED, ha: str = "center",
    va: str = "center", bold: bool = False, italic: bool = False,
) -> None:
    """Free text at (x, y)."""
    if va == "center":
        va, dy = _centring(text, size)
        y += dy
    ax.text(x, y, text, fontsize=size, color=colour, ha=ha, va=va, fontweight="bold" if bold else "normal",
            fontstyle="italic" if italic else "normal", linespacing=1.25, zorder=5)


def _title(ax: Axes, text: str, x: float = 0.2, y: float = 0.3) -> None:
    """The diagram's title, top-left."""
    _label(ax, x, y, text, size=FS_TITLE, colour=INK, ha="left", bold=True)


def _box(
    ax: Axes, x: float, y: float, w: float, h: float, text: str = "", kind: str = "layer", size: float = FS,
    bold: bool = False, rounded: bool = True, lw: float | None = None, mono: bool = False, vertical: bool = False,
) -> None:
    """A filled box with top-left corner (x, y) and its label centred inside (the tests check that it fits).

    `mono` writes the label in a monospaced font, as code; `vertical` turns it to read upwards.
    """
    gid = f"box{len(ax.patches)}"
    style = "round,pad=0,rounding_size=0.06" if rounded else "square,pad=0"
    patch = FancyBboxPatch((x, y), w, h, boxstyle=style, facecolor=FILLS[kind], edgecolor=INK, lw=lw or LINE,
                           hatch=HATCHES.get(kind), zorder=2, gid=gid)
    if kind in HATCHES:
        patch.set_hatchcolor(HATCH_COLOUR)
        patch.set_hatch_linewidth(0.7)
    ax.add_patch(patch)
    if text:
        colour = "white" if kind in WHITE_TEXT else INK
        va, dy = ("center", 0.0) if vertical else _centring(text, size)
        ax.text(x + w / 2, y + h / 2 + dy, text, fontsize=size, color=colour, ha="center", va=va, linespacing=1.25,
                fontweight="bold" if bold else "normal", family="monospace" if mono else None,
                rotation=90 if vertical else 0, zorder=4, gid=f"{gid}:label")


def _arrow(
    ax: Axes, points: Sequence[tuple[float, float]], text: str = "", at: tuple[float, float] | None = None,
    ha: str = "left", size: float = FS_SMALL, colour: str = INK, dashed: bool = False, head: bool = True,
) -> None:
    """An arrow along the polyline `points`, head at the last point; `text` at `at` (default: beside the first leg)."""
    codes = [Path.MOVETO] + [Path.LINETO] * (len(points) - 1)
    style = "-|>,head_length=0.45,head_width=0.22" if head else "-"
    ax.add_patch(FancyArrowPatch(path=Path(points, codes), arrowstyle=style, mutation_scale=14, lw=1.3, color=colour,
                                 linestyle="--" if dashed else "-", zorder=3, shrinkA=0, shrinkB=0))
    if text:
        if at is None:
            (x0, y0), (x1, y1) = points[0], points[1]
            at = ((x0 + x1) / 2 + 0.12, (y0 + y1) / 2)
        _label(ax, at[0], at[1], text, size=size, ha=ha)


def _add(ax: Axes, cx: float, cy: float, r: float = 0.15, text: str = "+") -> None:
    """The circle of an addition (a shortcut or a sum) centred at (cx, cy)."""
    gid = f"box{len(ax.patches)}"
    ax.add_patch(Circle((cx, cy), r, facecolor=FILLS["op"], edgecolor=INK, lw=LINE, zorder=2, gid=gid))
    ax.text(cx, cy, text, fontsize=FS, color=INK, ha="center", va="center", fontweight="bold", zorder=4,
            gid=f"{gid}:label")


def _grid(
    ax: Axes, x: float, y: float, cells: Sequence[Sequence[str]], cell_w: float, cell_h: float,
    kinds: Sequence[Sequence[str]] | str = "data", size: float = FS_SMALL,
) -> None:
    """A tensor drawn as a grid of square-cornered cells with their values, top-left corner at (x, y)."""
    for r, row in enumerate(cells):
        for c, value in enumerate(row):
            kind = kinds if isinstance(kinds, str) else kinds[r][c]
            _box(ax, x + c * cell_w, y + r * cell_h, cell_w, cell_h, value, kind=kind, size=size, rounded=False,
                 lw=0.8)


def _slab(
    ax: Axes, x: float, y: float, w: float, h: float, text: str = "", kind: str = "data", layers: int = 3,
    step: float = 0.09, size: float = FS,
) -> None:
    """A 3-d tensor drawn as `layers` offset sheets, the front one at (x, y) with the label."""
    for i in range(layers - 1, 0, -1):
        _box(ax, x + i * step, y - i * step, w, h, kind=kind, rounded=False, lw=0.8)
    _box(ax, x, y, w, h, text, kind=kind, size=size, rounded=False)


def _cells_row(
    ax: Axes, x: float, y: float, texts: Sequence[str], h: float, kinds: Sequence[str] | str = "data",
    size: float = FS_SMALL, widths: Sequence[float] | None = None,
) -> None:
    """A row of touching cells, each as wide as `widths` says or as its text needs."""
    for i, text in enumerate(texts):
        w = widths[i] if widths is not None else max(0.42, _text_width(text, size) + 0.16)
        kind = kinds if isinstance(kinds, str) else kinds[i]
        _box(ax, x, y, w, h, text, kind=kind, size=size, rounded=False, lw=0.8)
        x += w


def _wrap_columns(widths: Sequence[float], max_width: float, gap: float) -> list[list[int]]:
    """Indices of the columns that fit on each line of at most `max_width` inches."""
    lines: list[list[int]] = [[]]
    used = 0.0
    for i, w in enumerate(widths):
        if lines[-1] and used + w > max_width:
            lines.append([])
            used = 0.0
        lines[-1].append(i)
        used += w + gap
    return lines


def _check_lengths(**named: Sequence[object]) -> None:
    """Raise a ValueError unless all the named sequences are equally long and not empty."""
    lengths = {name: len(values) for name, values in named.items()}
    if len(set(lengths.values())) != 1 or 0 in lengths.values():
        listed = ", ".join(f"{name} has {n}" for name, n in lengths.items())
        raise ValueError(f"{' and '.join(lengths)} must be equally long and not empty: {listed}")


def _matrix(values: object, name: str) -> list[list[float]]:
    """`values` (nested sequences or a tensor) as a list of equally long rows of floats, or a ValueError."""
    rows = torch.as_tensor(values, dtype=torch.float32).detach()
    if rows.dim() != 2 or rows.numel() == 0:
        raise ValueError(f"{name} must be a non-empty 2-d table, got shape {tuple(rows.shape)}")
    return rows.tolist()


def _fmt(value: float, digits: int = 4) -> str:
    """A number as the notebooks print it, with a true minus sign and −∞ for minus infinity."""
    if value == float("-inf"):
        return "−∞"
    return f"{value:.{digits}f}".replace("-", "−")


def _frame(ax: Axes, x: float, y: float, w: float, h: float) -> None:
    """A dashed frame around a group of boxes (a loop, a zoomed-in part)."""
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0,rounding_size=0.1", facecolor="white",
                                edgecolor=MUTED, lw=1.0, linestyle="--", zorder=1))


def _fit_height(fig: Figure, ax: Axes, height: float) -> Figure:
    """Cut the canvas to `height` inches, for diagrams whose height depends on their data."""
    height = round(height, 2)
    fig.set_size_inches(fig.get_figwidth(), height)
    ax.set_ylim(height, 0)
    return fig


def _aligned_rows(
    ax: Axes, y: float, rows: Sequence[tuple[str, Sequence[str], Sequence[str]]], x0: float = 1.25,
    right: float = WIDTH - 0.2, h: float = 0.34, size: float = FS,
) -> float:
    """Named rows of cells, one column per item (as wide as its widest text), wrapped over as many lines as needed.

    Each row is (name, texts, kinds); returns the y below the last line.
    """
    n = len(rows[0][1])
    widths = [max(0.42, *(_text_width(texts[i], size) + 0.2 for _, texts, _ in rows)) for i in range(n)]
    for line in _wrap_columns(widths, right - x0, 0.0):
        for name, texts, kinds in rows:
            _label(ax, x0 - 0.12, y + h / 2, name, ha="right")
            _cells_row(ax, x0, y, [texts[i] for i in line], h, [kinds[i] for i in line], size,
                       widths=[widths[i] for i in line])
            y += h + 0.08
        y += 0.3
    return y


def _swatch(ax: Axes, x: float, y: float, kind: str, text: str) -> None:
    """A legend entry: a small box of `kind` and its explanation to the right."""
    _box(ax, x, y - 0.1, 0.3, 0.2, kind=kind, rounded=False, lw=0.8)
    _label(ax, x + 0.42, y, text, ha="left")


# --- 01_text_and_tokens ---


def draw_tokenization_pipeline(text: str, tokens: Sequence[str], ids: Sequence[int], vocab_size: int = 1130) -> Figure:
    """Text -> tokens (the book's regex split) -> token ids (each token's position in the sorted vocabulary)."""
    _check_lengths(tokens=tokens, ids=ids)
    fig, ax = _canvas(WIDTH, 12)
    _title(ax, "From text to token ids")
    _label(ax, 1.13, 0.85, "text", ha="right")
    _box(ax, 1.25, 0.62, WIDTH - 1.45, 0.46, text, kind="data")
    _arrow(ax, [(WIDTH / 2, 1.08), (WIDTH / 2, 1.52)], "split on whitespace and punctuation")
    rows = [("tokens", tokens, ["data"] * len(tokens)), ("token ids", [str(i) for i in ids], ["plain"] * len(ids))]
    y = _aligned_rows(ax, 1.58, rows)
    _label(ax, 1.25, y - 0.05, f"Each id is the token's position in the vocabulary: the {vocab_size:,} distinct "
           "tokens of the story, sorted.", ha="left")
    return _fit_height(fig, ax, y + 0.25)


def draw_special_tokens(
    texts: Sequence[str], tokens: Sequence[str], ids: Sequence[int], unk_id: int = 1131, eot_id: int = 1130,
    unk: str = "<|unk|>", eot: str = "<|endoftext|>",
) -> Figure:
    """Two texts joined by <|endoftext|>, encoded by SimpleTokenizerV2: unknown words become <|unk|>."""
    _check_lengths(tokens=tokens, ids=ids)
    if not texts:
        raise ValueError("texts must hold at least one text")
    needed = 1.25 + sum(_text_width(t) + 0.42 for t in texts) + (len(texts) - 1) * (_text_width(eot) + 0.42)
    if needed > WIDTH:
        raise ValueError(f"the texts are too long to draw on one line ({needed:.1f} of {WIDTH} inches); shorten them")
    fig, ax = _canvas(WIDTH, 12)
    _title(ax, f"Special tokens: {unk} and {eot}")
    x, y = 1.25, 0.65
    _label(ax, x - 0.12, y + 0.21, "texts", ha="right")
    for i, part in enumerate(texts):
        if i:
            w = _text_width(eot) + 0.3
            _box(ax, x, y, w, 0.42, eot, kind="accent")
            x += w + 0.12
        w = _text_width(part) + 0.3
        _box(ax, x, y, w, 0.42, part, kind="data")
        x += w + 0.12
    _arrow(ax, [(WIDTH / 2, y + 0.42), (WIDTH / 2, y + 0.86)], "SimpleTokenizerV2.encode")
    kinds = ["accent" if i == eot_id else "masked" if i == unk_id else "data" for i in ids]
    rows = [("tokens", tokens, kinds),
            ("token ids", [str(i) for i in ids], ["highlight" if i == unk_id else "plain" for i in ids])]
    y = _aligned_rows(ax, y + 0.92, rows)
    _swatch(ax, 1.25, y, "masked", f"not in the vocabulary: encoded as {unk}, id {unk_id} (decoding gives {unk})")
    _swatch(ax, 1.25, y + 0.34, "accent", f"{eot}, id {eot_id}: where one text ends and the next begins")
    return _fit_height(fig, ax, y + 0.65)


# " terraces" as GPT-2's merge loop builds it (notebook 01, section 8.3): the pieces after each merge and its rank
TERRACES_STEPS = (
    ("Ġ", "t", "e", "r", "r", "a", "c", "e", "s"),
    ("Ġt", "e", "r", "r", "a", "c", "e", "s"),
    ("Ġt", "er", "r", "a", "c", "e", "s"),
    ("Ġt", "er", "r", "a", "c", "es"),
    ("Ġt", "er", "r", "ac", "es"),
    ("Ġter", "r", "ac", "es"),
    ("Ġter", "r", "aces"),
    ("Ġterr", "aces"),
)
TERRACES_RANKS = (0, 7, 18, 74, 803, 1858, 8556)
TERRACES_IDS = (8812, 2114)


def bpe_merge_steps(tokenizer: object, piece: str) -> tuple[list[list[str]], list[int], list[int]]:
    """A `BPETokenizer`'s pieces of `piece` after each merge (written as in GPT-2's files), the ranks, the final ids."""
    from helpers.tokenizers import BPETokenizer, bytes_to_unicode, merge_pair

    if not isinstance(tokenizer, BPETokenizer):
        raise TypeError(f"tokenizer must be a helpers.tokenizers.BPETokenizer, got {type(tokenizer).__name__}")
    if not piece:
        raise ValueError("piece must be a non-empty string")
    table = bytes_to_unicode()
    ranks = {pair: rank for rank, pair in enumerate(tokenizer.merges)}

    def shown(ids: list[int]) -> list[str]:
        return ["".join(table[b] for b in tokenizer.vocab[i]) for i in ids]

    ids = [tokenizer.byte_ids[b] for b in piece.encode("utf-8")]
    steps, used = [shown(ids)], []
    while len(ids) > 1:
        known = [pair for pair in zip(ids, ids[1:], strict=False) if pair in ranks]
        if not known:
            break
        best = min(known, key=ranks.__getitem__)
        ids = merge_pair(ids, best, tokenizer.merges[best])
        steps.append(shown(ids))
        used.append(ranks[best])
    return steps, used, ids


def draw_bpe_merges(
    steps: Sequence[Sequence[str]] = TERRACES_STEPS, ranks: Sequence[int] | None = TERRACES_RANKS,
    ids: Sequence[int] | None = TERRACES_IDS,
) -> Figure:
    """A word built up merge by merge: each row is the pieces after one more merge, the new piece highlighted."""
    if not steps or not all(steps):
        raise ValueError("steps must be a non-empty list of non-empty lists of pieces")
    word = "".join(steps[0])
    for k, step in enumerate(steps):
        if "".join(step) != word or not all(step):
            raise ValueError(f"step {k} joins to {''.join(step)!r}, but every step must join to {word!r}")
    if ranks is not None and len(ranks) != len(steps) - 1:
        raise ValueError(f"ranks must hold one rank per merge: {len(steps) - 1} merges but {len(ranks)} ranks")
    if ids is not None and len(ids) != len(steps[-1]):
        raise ValueError(f"ids must hold one id per final piece: {len(steps[-1])} pieces but {len(ids)} ids")
    col = max(0.42, max(_text_width(ch) for ch in word) + 0.22)
    x0 = WIDTH - 0.3 - col * len(word)
    if x0 < 3.6:
        raise ValueError(f"the word {word!r} has too many characters ({len(word)}) to draw; use a shorter one")
    h, gap = 0.34, 0.14
    height = 1.2 + len(steps) * (h + gap) + (0.6 if ids is not None else 0) + 0.45
    fig, ax = _canvas(WIDTH, height)
    _title(ax, f"Byte pair encoding of {word!r}, merge by merge")
    y = 0.8
    previous: list[tuple[int, str]] = []
    for k, step in enumerate(steps):
        spans, start = [], 0
        for piece in step:
            spans.append((start, piece))
            start += len(piece)
        new = [span for span in spans if k and span not in previous]
        if k == 0:
            name = "start: one piece per byte"
        else:
            first, piece = new[0]
            parts = [p for s, p in previous if first <= s < first + len(piece)]
            name = f"merge {' + '.join(repr(p) for p in parts)}" + (f" (rank {ranks[k - 1]:,})" if ranks else "")
        _label(ax, x0 - 0.15, y + h / 2, name, ha="right")
        kinds = ["highlight" if span in new else "data" for span in spans]
        _cells_row(ax, x0, y, step, h, kinds, FS, widths=[len(p) * col for p in step])
        previous = spans
        y += h + gap
    if ids is not None:
        _label(ax, x0 - 0.15, y + 0.1 + h / 2, "token ids", ha="right")
        _cells_row(ax, x0, y + 0.1, [str(i) for i in ids], h, "accent", FS, widths=[len(p) * col for p in steps[-1]])
        y += h + 0.1 + gap
    _label(ax, 0.2, y + 0.2, "Each step merges the neighbouring pair with the lowest rank (the line in vocab.bpe); "
           "Ġ is a space.", ha="left")
    return fig


# --- 02_sliding_window ---


def draw_next_token_pairs(
    token_ids: Sequence[int], words: Sequence[str] | None = None, context_size: int = 4
) -> Figure:
    """An input x and its target y (x shifted by one token), and the context_size prediction tasks they hold."""
    if context_size < 1 or len(token_ids) < context_size + 1:
        raise ValueError(f"need context_size >= 1 and at least context_size + 1 = {context_size + 1} token ids, "
                         f"got context_size={context_size} and {len(token_ids)} ids")
    if words is not None:
        _check_lengths(token_ids=token_ids, words=words)
    n = context_size + 1
    texts = [str(i) if words is None else f"{i}\n{words[k].strip() or repr(words[k])}" for k, i in
             enumerate(token_ids[:n])]
    col = max(0.8, max(_text_width(t) for t in texts) + 0.25)
    x0, h = 1.55, 0.36 if words is None else 0.62
    if x0 + n * col + 0.3 > WIDTH - 0.2:
        raise ValueError(f"context_size={context_size} is too large to draw; use at most 5")
    height = 1.25 + h + 0.35 + context_size * (h + 0.16) + 0.45
    fig, ax = _canvas(WIDTH, height)
    _title(ax, f"One input/target pair holds {context_size} prediction tasks")
    y = 1.25
    _label(ax, x0 - 0.15, y + h / 2, "token stream", ha="right")
    _cells_row(ax, x0, y, texts, h, "data", widths=[col] * n)
    for name, first, level in (("x: input", 0, 0.78), ("y: target = x shifted by one", 1, 0.42)):
        left, right = x0 + first * col + 0.06, x0 + (first + context_size) * col - 0.06
        top = y - level + 0.3
        _arrow(ax, [(left, y - 0.05), (left, top), (right, top), (right, y - 0.05)], head=False)
        _label(ax, (left + right) / 2, top - 0.13, name, colour=INK)
    y += h + 0.35
    for i in range(1, context_size + 1):
        _label(ax, x0 - 0.15, y + h / 2, f"task {i}: context", ha="right")
        _cells_row(ax, x0, y, texts[:i], h, "data", widths=[col] * i)
        _arrow(ax, [(x0 + i * col + 0.03, y + h / 2), (x0 + i * col + 0.27, y + h / 2)])
        _box(ax, x0 + i * col + 0.3, y, col, h, texts[i], kind="accent", size=FS_SMALL, rounded=False, lw=0.8)
        y += h + 0.16
    _label(ax, x0, y + 0.12, "Dark: the token to predict from the context before it.", ha="left")
    return fig


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
    col = max(0.5, max(_text_width(t, FS_SMALL) for t in texts) + 0.12)
    x0, h = 1.0, 0.27
    if x0 + n * col > WIDTH - 0.1:
        raise ValueError(f"{n} tokens do not fit across the figure; use fewer windows or a smaller stride")
    panel = 0.3 + h + 0.2 + n_windows * (2 * h + 0.12) + 0.15
    fig, ax = _canvas(WIDTH, 0.7 + len(strides) * panel + 0.3)
    _title(ax, f"Sliding windows of max_length = {max_length}: inputs and their targets")
    y = 0.7
    for stride in strides:
        overlap = max(0, max_length - stride)
        how = (f"neighbouring windows share {overlap} of their {max_length} tokens" if overlap else
               "the windows tile the text, no overlap" if stride == max_length else
               f"{stride - max_length} token(s) skipped between windows")
        _label(ax, 0.2, y + 0.1, f"stride = {stride}: {how}", colour=INK, ha="left", size=FS)
        y += 0.3
        shown = (n_windows - 1) * stride + max_length + 1
        _label(ax, x0 - 0.12, y + h / 2, "token ids", ha="right")
        _cells_row(ax, x0, y, texts[:shown], h, "plain", FS_SMALL, widths=[col] * shown)
        y += h + 0.2
        for k in range(n_windows):
            start = k * stride
            _label(ax, x0 - 0.12, y + h / 2, f"input {k}", ha="right")
            _cells_row(ax, x0 + start * col, y, texts[start:start + max_length], h, "highlight", FS_SMALL,
                       widths=[col] * max_length)
            _label(ax, x0 - 0.12, y + 1.5 * h, f"target {k}", ha="right")
            _cells_row(ax, x0 + (start + 1) * col, y + h, texts[start + 1:start + max_length + 1], h, "op",
                       FS_SMALL, widths=[col] * max_length)
            y += 2 * h + 0.12
        y += 0.15
    _label(ax, 0.2, y + 0.05, "Each target row is its input row shifted one token to the right.", ha="left")
    return fig


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
    fig, ax = _canvas(WIDTH, 2.4 + batch_size * h + 0.55)
    _title(ax, f"Windows become a batch: two tensors of shape ({batch_size}, {max_length})")
    left, right = 1.3, 5.2
    stream = [str(v) for row in inputs[:n_stream] for v in row] + ["…"]
    step = min(col, (WIDTH - 0.2 - left) / len(stream))
    y = 0.95
    _label(ax, left - 0.12, y + h / 2, "token ids", ha="right")
    _cells_row(ax, left, y, stream, h, "plain", FS_SMALL, widths=[step] * len(stream))
    for r in range(n_stream):
        a, b = left + r * max_length * step + 0.05, left + (r + 1) * max_length * step - 0.05
        _arrow(ax, [(a, y - 0.04), (a, y - 0.16), (b, y - 0.16), (b, y - 0.04)], head=False)
        _label(ax, (a + b) / 2, y - 0.3, f"window {r}", colour=INK)
    y += h + 0.4
    for x, name, rows, kind in ((left, "inputs", inputs, "highlight"), (right, "targets", targets, "op")):
        _label(ax, x + col * max_length / 2, y + 0.15, f"{name}: (batch_size, max_length)", colour=INK, size=FS)
        _grid(ax, x, y + 0.4, [[str(v) for v in row] for row in rows], col, h, kind)
    y += 0.4
    for r in range(batch_size):
        _label(ax, left - 0.12, y + r * h + h / 2, f"window {r}", ha="right")
    mid = y + batch_size * h / 2
    _arrow(ax, [(left + col * max_length + 0.2, mid), (right - 0.2, mid)], "shifted by one",
           at=((left + col * max_length + right) / 2, mid - 0.2), ha="center")
    _label(ax, right + col * max_length + 0.15, mid, f"{batch_size} rows\n{max_length} columns", ha="left")
    _label(ax, 0.2, y + batch_size * h + 0.3, "Row r of both tensors is window r: the batch holds "
           f"{batch_size} × {max_length} = {batch_size * max_length} next-token predictions.", ha="left")
    return fig


# --- 03_embeddings ---


def draw_embedding_lookup(weight: object, ids: Sequence[int]) -> Figure:
    """An embedding lookup picks rows of the weight matrix, the same as one-hot rows times the matrix."""
    table = _matrix(weight, "weight")
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
    num_w = max(_text_width(_fmt(v), FS_SMALL) for row in table for v in row) + 0.14
    x_ids, x_onehot = 0.35, 1.1
    x_weight = x_onehot + vocab_size * one_w + 0.7
    x_out = x_weight + dim * num_w + 0.55
    top = 1.4
    fig, ax = _canvas(max(WIDTH, x_out + dim * num_w + 0.75), top + max(vocab_size, len(ids)) * h + 0.75)
    _title(ax, "An embedding lookup picks rows: the same as one-hot vectors times the weight")
    headers = ((x_ids + 0.25, "ids"), (x_onehot + vocab_size * one_w / 2, f"one-hot ({len(ids)}, {vocab_size})"),
               (x_weight + dim * num_w / 2, f"weight ({vocab_size}, {dim})"),
               (x_out + dim * num_w / 2, f"output ({len(ids)}, {dim})"))
    for x, text in headers:
        _label(ax, x, top - 0.5, text, colour=INK, size=FS)
    for c in range(vocab_size):
        _label(ax, x_onehot + (c + 0.5) * one_w, top - 0.17, str(c))
    for k, i in enumerate(ids):
        y = top + k * h
        _box(ax, x_ids, y, 0.5, h, str(i), kind="data", size=FS, rounded=False, lw=0.8)
        _arrow(ax, [(x_ids + 0.52, y + h / 2), (x_onehot - 0.04, y + h / 2)])
        _cells_row(ax, x_onehot, y, ["1" if c == i else "0" for c in range(vocab_size)], h,
                   ["accent" if c == i else "plain" for c in range(vocab_size)], widths=[one_w] * vocab_size)
        _cells_row(ax, x_out, y, [_fmt(v) for v in table[i]], h, "highlight", FS_SMALL, widths=[num_w] * dim)
        _label(ax, x_out + dim * num_w + 0.1, y + h / 2, f"row {i}", ha="left")
    for r in range(vocab_size):
        _label(ax, x_weight - 0.1, top + r * h + h / 2, str(r), ha="right")
        _cells_row(ax, x_weight, top + r * h, [_fmt(v) for v in table[r]], h,
                   "highlight" if r in ids else "data", FS_SMALL, widths=[num_w] * dim)
    mid = top + len(ids) * h / 2
    _label(ax, x_weight - 0.42, mid, "@", colour=INK, size=FS_TITLE)
    _label(ax, x_out - 0.27, mid, "=", colour=INK, size=FS_TITLE)
    _label(ax, 0.35, top + max(vocab_size, len(ids)) * h + 0.35, "The lookup embedding(ids) skips the "
           "multiplication: output row k is weight row ids[k].", ha="left")
    return fig


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
    fig, ax = _canvas(WIDTH, 8)
    _title(ax, "Token embeddings + position embeddings = input embeddings")
    col, h = 0.52, 0.25
    grid_top = 1.15
    _label(ax, 0.35 + num_tokens * col / 2, grid_top - 0.2, f"token ids ({batch}, {num_tokens})", colour=INK, size=FS)
    kinds = [["accent" if (r, c) == (r0, c0) else "data" for c in range(num_tokens)] for r in range(batch)]
    _grid(ax, 0.35, grid_top, [[str(v) for v in row] for row in ids], col, h, kinds)
    a_mid = grid_top + batch * h / 2
    _box(ax, 2.7, a_mid - 0.35, 2.2, 0.7, f"tok_emb\nnn.Embedding({vocab_size:,}, {emb_dim})", size=FS_SMALL)
    _slab(ax, 5.3, a_mid - 0.35, 1.75, 0.7, f"token embeddings\n({batch}, {num_tokens}, {emb_dim})", size=FS_SMALL)
    _arrow(ax, [(0.4 + num_tokens * col, a_mid), (2.68, a_mid)])
    _arrow(ax, [(4.9, a_mid), (5.28, a_mid)])
    b_top = grid_top + batch * h + 0.65
    _label(ax, 0.35 + num_tokens * col / 2, b_top - 0.2, f"torch.arange({num_tokens})", colour=INK, size=FS)
    _cells_row(ax, 0.35, b_top, [str(p) for p in range(num_tokens)], 0.3,
               ["accent" if p == c0 else "data" for p in range(num_tokens)], FS_SMALL, widths=[col] * num_tokens)
    b_mid = b_top + 0.15
    _box(ax, 2.7, b_mid - 0.35, 2.2, 0.7, f"pos_emb\nnn.Embedding({num_tokens}, {emb_dim})", size=FS_SMALL)
    _box(ax, 5.3, b_mid - 0.35, 1.75, 0.7, f"position embeddings\n({num_tokens}, {emb_dim})", kind="data",
         size=FS_SMALL, rounded=False)
    _arrow(ax, [(0.4 + num_tokens * col, b_mid), (2.68, b_mid)])
    _arrow(ax, [(4.9, b_mid), (5.28, b_mid)])
    _label(ax, 2.7, b_mid + 0.58, f"The ({num_tokens}, {emb_dim}) table is added to each of the {batch} windows "
           "(broadcast).", ha="left")
    plus_x = 7.7
    _add(ax, plus_x, b_mid, 0.2)
    _arrow(ax, [(7.1, a_mid), (plus_x, a_mid), (plus_x, b_mid - 0.22)])
    _arrow(ax, [(7.07, b_mid), (plus_x - 0.22, b_mid)])
    out_top = b_mid + 0.95
    _arrow(ax, [(plus_x, b_mid + 0.2), (plus_x, out_top - 0.2)])
    _slab(ax, plus_x - 1.0, out_top, 2.0, 0.7, f"input embeddings\n({batch}, {num_tokens}, {emb_dim})", kind="accent",
          size=FS_SMALL)
    _label(ax, 0.35, out_top + 0.35, f"input_embeddings[{r0}, {c0}]\n= tok_emb.weight[{ids[r0][c0]}]\n"
           f"+ pos_emb.weight[{c0}]", ha="left", colour=INK)
    return _fit_height(fig, ax, out_top + 0.95)


# --- 04_attention ---


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
    fig, ax = _canvas(WIDTH, top + n * pitch + 0.7)
    q = words[query]
    _title(ax, f"The context vector of the query {q!r}")
    vec_w, x_vec, x_score, x_soft, x_weight, x_bar, x_sum = 0.48, 1.2, 3.05, 4.1, 4.85, 5.7, 6.85
    bar_max = 0.75
    headers = ((x_vec + dim * vec_w / 2, "inputs x(i)"), (x_score + 0.4, f"score\nx(i) · x({query + 1})"),
               (x_weight + 0.4, "weight\nα(i)"))
    for xc, text in headers:
        _label(ax, xc, top - 0.35, text, colour=INK)
    ctx_w = max(_text_width(_fmt(v)) for v in context.tolist()) + 0.2
    x_ctx = x_sum + 1.05
    y_ctx = top + n * pitch / 2 - dim * h / 2
    _label(ax, x_ctx + ctx_w / 2, y_ctx - 0.38, f"context\nvector z({query + 1})", colour=INK)
    for x_box, text in ((x_soft, "softmax"), (x_sum, "weighted sum\nΣ α(i) x(i)")):
        _box(ax, x_box, top - 0.02, 0.55 if "\n" in text else 0.42, n * pitch - 0.06, text, kind="op", size=FS_SMALL,
             vertical=True)
    for i in range(n):
        y = top + i * pitch
        _label(ax, x_vec - 0.12, y + h / 2, words[i], colour=INK if i == query else MUTED, ha="right",
               bold=i == query, size=FS)
        _cells_row(ax, x_vec, y, [f"{v:.2f}" for v in x[i].tolist()], h, "highlight" if i == query else "data",
                   widths=[vec_w] * dim)
        _arrow(ax, [(x_vec + dim * vec_w + 0.05, y + h / 2), (x_score - 0.05, y + h / 2)])
        _box(ax, x_score, y, 0.8, h, _fmt(scores[i].item()), kind="data", size=FS_SMALL, rounded=False, lw=0.8)
        _arrow(ax, [(x_score + 0.82, y + h / 2), (x_soft - 0.03, y + h / 2)])
        _arrow(ax, [(x_soft + 0.45, y + h / 2), (x_weight - 0.03, y + h / 2)])
        _box(ax, x_weight, y, 0.8, h, _fmt(weights[i].item()), kind="data", size=FS_SMALL, rounded=False, lw=0.8)
        length = bar_max * weights[i].item() / weights.max().item()
        _box(ax, x_bar, y + 0.07, length, h - 0.14, kind="highlight", rounded=False, lw=0.6)
        _arrow(ax, [(x_bar + length + 0.04, y + h / 2), (x_sum - 0.03, y + h / 2)])
    for d, value in enumerate(context.tolist()):
        _box(ax, x_ctx, y_ctx + d * h, ctx_w, h, _fmt(value), kind="accent", size=FS, rounded=False, lw=0.8)
    _arrow(ax, [(x_sum + 0.58, top + n * pitch / 2), (x_ctx - 0.03, top + n * pitch / 2)])
    _label(ax, 0.2, top + n * pitch + 0.3, "Each score is the dot product of an input with the query; softmax turns "
           "the scores into weights that sum to 1.", ha="left")
    return fig


def draw_qkv_projections(
    num_tokens: int = 6, d_in: int = 3, d_out: int = 2, words: Sequence[str] | None = None
) -> Figure:
    """Queries, keys and values as three trainable projections of the same inputs, and how they make the context."""
    if min(num_tokens, d_in, d_out) < 1:
        raise ValueError(f"num_tokens, d_in and d_out must be >= 1, got {num_tokens}, {d_in}, {d_out}")
    if words is not None and len(words) != num_tokens:
        raise ValueError(f"words must hold one word per token: {num_tokens} tokens but {len(words)} words")
    fig, ax = _canvas(WIDTH, 4.75)
    _title(ax, "Queries, keys and values: three projections of the same inputs")
    n_rows = min(num_tokens, 8)
    cell = 0.26
    x_in, top = 1.05, 1.3
    _label(ax, x_in + min(d_in, 6) * cell / 2, top - 0.3, f"inputs X ({num_tokens}, {d_in})", colour=INK, size=FS)
    _grid(ax, x_in, top, [[""] * min(d_in, 6) for _ in range(n_rows)], cell, 0.3)
    for r in range(n_rows if words is not None else 0):
        _label(ax, x_in - 0.1, top + r * 0.3 + 0.15, words[r], ha="right")
    x_mid = top + n_rows * 0.3 / 2
    rows = (("query", "Q", "what each token\nlooks for", 1.55), ("key", "K", "what each token\noffers", 2.65),
            ("value", "V", "what each token\npasses on", 3.75))
    for name, letter, role, yc in rows:
        _arrow(ax, [(x_in + min(d_in, 6) * cell + 0.05, x_mid), (2.45, yc)])
        _box(ax, 2.5, yc - 0.3, 1.35, 0.6, f"W_{name}\n({d_in}, {d_out})", size=FS_SMALL)
        _arrow(ax, [(3.87, yc), (4.2, yc)])
        _box(ax, 4.25, yc - 0.4, 1.55, 0.8, f"{letter} ({num_tokens}, {d_out})\n{role}", kind="data",
             size=FS_SMALL)
    _box(ax, 6.45, 1.75, 2.3, 0.6, f"scores = Q Kᵀ\n({num_tokens}, {num_tokens})", kind="op", size=FS_SMALL)
    _arrow(ax, [(5.82, 1.55), (6.1, 1.55), (6.1, 1.95), (6.43, 1.95)])
    _arrow(ax, [(5.82, 2.65), (6.1, 2.65), (6.1, 2.15), (6.43, 2.15)])
    _box(ax, 6.45, 2.65, 2.3, 0.6, f"weights = softmax(scores / √{d_out})\n({num_tokens}, {num_tokens})", kind="op",
         size=FS_SMALL)
    _arrow(ax, [(7.6, 2.35), (7.6, 2.63)])
    _box(ax, 6.45, 3.5, 2.3, 0.6, f"context = weights V\n({num_tokens}, {d_out})", kind="accent", size=FS_SMALL)
    _arrow(ax, [(7.6, 3.25), (7.6, 3.48)])
    _arrow(ax, [(5.82, 3.8), (6.43, 3.8)])
    _label(ax, 0.2, 4.5, "Training tunes the three weight matrices; the attention itself has no weights of its own.",
           ha="left")
    return fig


def _square_table(values: object, name: str) -> list[list[float]]:
    """A (n, n) table of floats, or a ValueError naming its shape."""
    table = _matrix(values, name)
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
    col = max(0.6, max(_text_width(w, FS_SMALL) for w in words) + 0.06, _text_width("0.0000", FS_SMALL) + 0.14)
    h, x_left, top = 0.32, 0.95, 1.45
    x_right = x_left + n * col + 0.75
    fig, ax = _canvas(max(WIDTH, x_right + n * col + 0.2), top + n * h + 0.75)
    _title(ax, "The causal mask: no word may attend to the words after it")
    for x, header, table_, zero in ((x_left, "masked scores: −∞ above the diagonal", masked, "−∞"),
                                    (x_right, "attention weights: each row sums to 1", weights, "0")):
        _label(ax, x + n * col / 2, top - 0.55, header, colour=INK, size=FS)
        for c in range(n):
            _label(ax, x + (c + 0.5) * col, top - 0.18, words[c])
        cells = [[zero if c > r else _fmt(table_[r, c].item()) for c in range(n)] for r in range(n)]
        kinds = [["masked" if c > r else "data" for c in range(n)] for r in range(n)]
        _grid(ax, x, top, cells, col, h, kinds)
    for r in range(n):
        _label(ax, x_left - 0.1, top + r * h + h / 2, words[r], ha="right")
    mid = top + n * h / 2
    _arrow(ax, [(x_left + n * col + 0.1, mid), (x_right - 0.1, mid)])
    _label(ax, (x_left + n * col + x_right) / 2, mid - 0.38, f"softmax\nper row\n(÷ √{d_k})", colour=INK)
    _label(ax, 0.2, top + n * h + 0.4, "Rows are queries, columns keys; exp(−∞) = 0, so the softmax itself zeroes the "
           "future and renormalizes.", ha="left")
    return fig


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
    mask_col = max(0.4, _text_width(f"×{scale:g}", FS_SMALL) + 0.1)
    x1 = 0.3
    x2 = x1 + n * col + 0.5
    x3 = x2 + n * mask_col + 0.5
    fig, ax = _canvas(max(WIDTH, x3 + n * col + 0.2), top + n * h + 0.8)
    _title(ax, f"Dropout on the attention weights (p = {p:g}, in training only)")
    weight_cells = [[f"{table[r][c]:.2f}" if table[r][c] else "0" for c in range(n)] for r in range(n)]
    mask_cells = [[f"×{scale:g}" if mask[r][c] else "0" for c in range(n)] for r in range(n)]
    out = [[table[r][c] * scale if mask[r][c] else 0.0 for c in range(n)] for r in range(n)]
    out_cells = [[f"{out[r][c]:.2f}" if out[r][c] else "0" for c in range(n)] for r in range(n)]
    _grid(ax, x1, top, weight_cells, col, h, [["data" if v else "plain" for v in row] for row in table])
    _grid(ax, x2, top, mask_cells, mask_col, h, [["op" if v else "masked" for v in row] for row in mask])
    _grid(ax, x3, top, out_cells, col, h,
          [["masked" if table[r][c] and not mask[r][c] else "data" if out[r][c] else "plain" for c in range(n)]
           for r in range(n)])
    for x, width, header in ((x1, n * col, "attention weights"), (x2, n * mask_col, f"random mask:\n0 or ×{scale:g}"),
                             (x3, n * col, "after dropout")):
        _label(ax, x + width / 2, top - 0.35, header, colour=INK, size=FS)
    mid = top + n * h / 2
    _label(ax, x2 - 0.25, mid, "×", colour=INK, size=FS_TITLE)
    _label(ax, x3 - 0.25, mid, "=", colour=INK, size=FS_TITLE)
    _label(ax, 0.3, top + n * h + 0.4, f"Kept weights are scaled by 1 / (1 − p) = {scale:g}, so a row keeps its "
           "expected sum; model.eval() turns dropout off.", ha="left")
    return fig


def draw_multihead_attention(num_heads: int = 12, d_in: int = 768, d_out: int = 768) -> Figure:
    """Multi-head attention: each head attends with its own slice of the projections; the heads are joined, mixed."""
    if num_heads < 1 or d_out < 1 or d_out % num_heads:
        raise ValueError(f"d_out={d_out} must be a positive multiple of num_heads={num_heads}")
    head_dim = d_out // num_heads
    shown: list[int | None] = list(range(num_heads)) if num_heads <= 3 else [0, 1, None, num_heads - 1]
    col_w, dots_w, gap = 2.35, 0.45, 0.22
    total = sum(dots_w if h is None else col_w for h in shown) + gap * (len(shown) - 1)
    fig, ax = _canvas(WIDTH, 6.75)
    _title(ax, f"Multi-head attention: {num_heads} heads of {head_dim} dimensions")
    _box(ax, 0.5, 0.65, WIDTH - 1.0, 0.42, f"inputs x: (batch, num_tokens, {d_in})", kind="data")
    rows = ((1.45, 0.7), (2.55, 0.62), (3.55, 0.5))
    x = (WIDTH - total) / 2
    for h in shown:
        if h is None:
            for top, height in rows:
                _label(ax, x + dots_w / 2, top + height / 2, "…", colour=INK, size=FS_TITLE)
            x += dots_w + gap
            continue
        cx = x + col_w / 2
        _arrow(ax, [(cx, 1.08), (cx, rows[0][0] - 0.02)])
        _box(ax, x, rows[0][0], col_w, rows[0][1], f"W_query, W_key, W_value:\ncolumns {h * head_dim}–"
             f"{(h + 1) * head_dim - 1}", size=FS_SMALL)
        _arrow(ax, [(cx, rows[0][0] + rows[0][1]), (cx, rows[1][0] - 0.02)])
        _box(ax, x, rows[1][0], col_w, rows[1][1], f"causal attention\nsoftmax(Q Kᵀ / √{head_dim}) V", kind="op",
             size=FS_SMALL)
        _arrow(ax, [(cx, rows[1][0] + rows[1][1]), (cx, rows[2][0] - 0.02)])
        _box(ax, x, rows[2][0], col_w, rows[2][1], f"head {h}\n(batch, num_tokens, {head_dim})", kind="data",
             size=FS_SMALL)
        _arrow(ax, [(cx, rows[2][0] + rows[2][1]), (cx, 4.43)])
        x += col_w + gap
    _box(ax, 0.5, 4.45, WIDTH - 1.0, 0.45, f"concatenate the heads: (batch, num_tokens, {num_heads} × {head_dim} = "
         f"{d_out})", kind="op", size=FS_SMALL)
    _arrow(ax, [(WIDTH / 2, 4.9), (WIDTH / 2, 5.18)])
    _box(ax, 2.0, 5.2, WIDTH - 4.0, 0.45, f"out_proj: Linear({d_out}, {d_out}) mixes the heads", size=FS_SMALL)
    _arrow(ax, [(WIDTH / 2, 5.65), (WIDTH / 2, 5.93)])
    _box(ax, 2.0, 5.95, WIDTH - 4.0, 0.45, f"context vectors: (batch, num_tokens, {d_out})", kind="accent",
         size=FS_SMALL)
    return fig


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
    fig, ax = _canvas(WIDTH, top + len(steps) * pitch + 0.2)
    _title(ax, "The shapes through multi-head attention")
    _label(ax, 0.2, 0.62, f"b = {b}, num_tokens = {t}, d_in = {d_in}, d_out = {d_out}: {nh} heads of head_dim = {hd}",
           colour=INK, size=FS, ha="left")
    for x, text in ((0.3, "code"), (4.25, "shape"), (5.65, "dimensions, and what the step does")):
        _label(ax, x, top - 0.3, text, colour=INK, ha="left")
    for k, (code, shape, names, kind, note) in enumerate(steps):
        y = top + k * pitch
        _box(ax, 0.3, y, 3.75, h, code, kind=kind, size=FS_SMALL, mono=True)
        if k:
            _arrow(ax, [(2.175, y - pitch + h), (2.175, y - 0.01)])
        _label(ax, 4.25, y + h / 2, str(shape), colour=INK, ha="left")
        _label(ax, 5.65, y + h / 2 - 0.09, names, ha="left")
        _label(ax, 5.65, y + h / 2 + 0.11, note, ha="left", italic=True)
    return fig


# --- 05_gpt_model ---

_CONFIG_KEYS = ("vocab_size", "context_length", "emb_dim", "n_heads", "n_layers", "drop_rate")


def _config(cfg: Mapping[str, object] | None) -> dict[str, object]:
    """`cfg`, or GPT-2 small's configuration when None; a ValueError names missing keys."""
    if cfg is None:
        from helpers.gpt import GPT_CONFIG_124M

        cfg = GPT_CONFIG_124M
    missing = [key for key in _CONFIG_KEYS if key not in cfg]
    if missing:
        raise ValueError(f"the GPT config lacks the keys {missing}; it needs {list(_CONFIG_KEYS)}")
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
            _arrow(ax, [(cx, y - gap), (cx, y - 0.01)])
            _add(ax, cx, y + r, r)
            ax.add_patch(Circle((cx, split), 0.035, color=INK, zorder=4))
            _arrow(ax, [(cx, split), (loop_x, split), (loop_x, y + r), (cx - r - 0.01, y + r)])
            bottom = y + 2 * r
            split = bottom + gap / 2
        else:
            _arrow(ax, [(cx, y - gap), (cx, y - 0.01)])
            _box(ax, x, y, w, h, text, kind=kind, size=size)
            bottom = y + h
        if notes_x is not None and note:
            _label(ax, notes_x, (y + bottom) / 2, note, ha="left")
        y = bottom + gap
    return y - gap


def draw_gpt_architecture(cfg: Mapping[str, object] | None = None) -> Figure:
    """GPT-2: token and position embeddings, dropout, n_layers transformer blocks, final LayerNorm, output head."""
    cfg = _config(cfg)
    vocab, ctx, emb, layers = (int(cfg[k]) for k in ("vocab_size", "context_length", "emb_dim", "n_layers"))
    fig, ax = _canvas(WIDTH, 7.55)
    name = "GPT-2 small (124M)" if (vocab, ctx, emb, layers) == (50257, 1024, 768, 12) else "The GPT model"
    _title(ax, f"{name}: the architecture")
    x, w = 0.55, 3.7
    cx = x + w / 2
    _box(ax, x, 0.65, w, 0.42, "token ids: (batch, num_tokens)", kind="data")
    _arrow(ax, [(cx - 0.95, 1.07), (cx - 0.95, 1.38)])
    _arrow(ax, [(cx + 0.95, 1.07), (cx + 0.95, 1.38)])
    _box(ax, x, 1.4, w / 2 - 0.08, 0.62, f"Token embedding\n{vocab:,} × {emb}", size=FS_SMALL)
    _box(ax, x + w / 2 + 0.08, 1.4, w / 2 - 0.08, 0.62, f"Position embedding\n{ctx:,} × {emb}", size=FS_SMALL)
    _arrow(ax, [(cx - 0.95, 2.02), (cx - 0.95, 2.4), (cx - 0.17, 2.4)])
    _arrow(ax, [(cx + 0.95, 2.02), (cx + 0.95, 2.4), (cx + 0.17, 2.4)])
    _add(ax, cx, 2.4)
    _arrow(ax, [(cx, 2.55), (cx, 2.83)])
    _box(ax, x, 2.85, w, 0.4, f"Dropout ({cfg['drop_rate']:g})", kind="op", size=FS_SMALL)
    _arrow(ax, [(cx, 3.25), (cx, 3.57)], f"(batch, num_tokens, {emb})", at=(cx + 0.12, 3.4))
    top = 3.75
    for i in (2, 1):
        _box(ax, x + i * 0.08, top - i * 0.08, w, 0.75, kind="layer")
    _box(ax, x, top, w, 0.75, "Transformer block", kind="layer", size=FS, bold=True)
    _label(ax, x + w + 0.3, top + 0.05, f"× {layers}", colour=INK, size=FS_TITLE, bold=True, ha="left")
    _arrow(ax, [(cx, top + 0.75), (cx, top + 1.08)])
    _box(ax, x, top + 1.1, w, 0.42, "Final LayerNorm", size=FS)
    _arrow(ax, [(cx, top + 1.52), (cx, top + 1.83)])
    _box(ax, x, top + 1.85, w, 0.62, f"Linear output head\n{emb} → {vocab:,}", size=FS)
    _arrow(ax, [(cx, top + 2.47), (cx, top + 2.78)])
    _box(ax, x, top + 2.8, w, 0.42, f"logits: (batch, num_tokens, {vocab:,})", kind="accent")
    _label(ax, x, top + 3.5, "One row of logits per position: the scores of the next token.", ha="left")
    # the inside of a block, zoomed in on the right
    zx, zy, zw = 5.45, 0.65, 3.35
    _frame(ax, zx, zy, zw, 6.32)
    for (ax0, ay0), (ax1, ay1) in (((x + w + 0.16, top - 0.16), (zx, zy + 0.02)), ((x + w, top + 0.75),
                                                                                      (zx, zy + 6.3))):
        _arrow(ax, [(ax0, ay0), (ax1, ay1)], colour=MUTED, dashed=True, head=False)
    _label(ax, zx + zw / 2 + 0.15, zy + 0.25, "inside each transformer block", colour=INK, size=FS)
    bottom = _block_column(ax, zx + 0.7, zy + 0.45, zw - 0.95, 0.42, 0.295, cfg, FS_SMALL, zx + 0.35)
    _arrow(ax, [(zx + 0.7 + (zw - 0.95) / 2, bottom), (zx + 0.7 + (zw - 0.95) / 2, bottom + 0.3)])
    return fig


def draw_transformer_block(cfg: Mapping[str, object] | None = None) -> Figure:
    """One transformer block: pre-LayerNorm attention and feed-forward, each with dropout and a shortcut."""
    cfg = _config(cfg)
    emb = cfg["emb_dim"]
    fig, ax = _canvas(WIDTH, 10)
    _title(ax, "The transformer block (pre-LayerNorm, as in GPT-2)")
    x, w = 1.3, 3.1
    cx = x + w / 2
    _box(ax, x, 0.65, w, 0.42, f"input: (batch, num_tokens, {emb})", kind="data", size=FS_SMALL)
    bottom = _block_column(ax, x, 1.07, w, 0.42, 0.3, cfg, FS, x - 0.55, notes_x=x + w + 0.3)
    _arrow(ax, [(cx, bottom), (cx, bottom + 0.28)])
    _box(ax, x, bottom + 0.3, w, 0.42, f"output: (batch, num_tokens, {emb})", kind="accent", size=FS_SMALL)
    _label(ax, x + w + 0.3, bottom + 0.51, "same shape as the input, so blocks stack", ha="left")
    return _fit_height(fig, ax, bottom + 0.95)


def draw_shortcut_connections(
    without_shortcut: Sequence[float], with_shortcut: Sequence[float], layer_sizes: Sequence[int] = (3, 3, 3, 3, 3, 1)
) -> Figure:
    """The book's five-layer network without and with shortcuts, and the mean gradient each layer's weights get."""
    _check_lengths(without_shortcut=without_shortcut, with_shortcut=with_shortcut)
    n = len(without_shortcut)
    if len(layer_sizes) != n + 1:
        raise ValueError(f"layer_sizes must hold one more size than there are layers: {n} layers but "
                         f"{len(layer_sizes)} sizes")
    if n > 6:
        raise ValueError(f"{n} layers are too many to draw; use at most 6")
    box_w, plus, gap = 0.85, 0.28, 0.17
    pitch = box_w + plus + 2 * gap
    x0 = 1.35
    fig, ax = _canvas(WIDTH, 4.85)
    _title(ax, "Shortcut connections: add each layer's input to its output")
    for row, (name, grads, top) in enumerate((("without shortcuts: each layer's output replaces its input",
                                               without_shortcut, 0.95),
                                              ("with shortcuts: output = x + layer(x), where the shapes match",
                                               with_shortcut, 2.75))):
        _label(ax, 0.2, top, name, colour=INK, size=FS, ha="left")
        y = top + (0.35 if row == 0 else 0.7)
        mid = y + 0.27
        x = x0
        _arrow(ax, [(x - 0.45, mid), (x - 0.02, mid)], "x", at=(x - 0.5, mid), ha="right")
        for i in range(n):
            _box(ax, x, y, box_w, 0.54, f"layer {i + 1}\n{layer_sizes[i]} → {layer_sizes[i + 1]}", size=FS_SMALL)
            _label(ax, x + box_w / 2, y + 0.74, f"{grads[i]:.4g}", colour=INK)
            after = x + box_w
            shortcut = row == 1 and layer_sizes[i] == layer_sizes[i + 1]
            if shortcut:
                cx = after + gap + plus / 2
                _arrow(ax, [(after, mid), (cx - plus / 2 - 0.01, mid)])
                _add(ax, cx, mid, plus / 2)
                split = x - gap / 2 if i else x - 0.25
                ax.add_patch(Circle((split, mid), 0.035, color=INK, zorder=4))
                _arrow(ax, [(split, mid), (split, y - 0.3), (cx, y - 0.3), (cx, mid - plus / 2 - 0.01)])
                _arrow(ax, [(cx + plus / 2, mid), (x + pitch - 0.02, mid)] if i < n - 1 else
                       [(cx + plus / 2, mid), (cx + plus / 2 + 0.4, mid)])
            else:
                _arrow(ax, [(after, mid), (x + pitch - 0.02, mid)] if i < n - 1 else [(after, mid), (after + 0.4, mid)])
            x += pitch
        _label(ax, x0 - 0.12, y + 0.74, "mean |gradient|", ha="right")
    _label(ax, 0.2, 4.6, "With shortcuts the gradient reaches the first layers undiminished; without them it "
           "shrinks layer by layer.", ha="left")
    return fig


def draw_feed_forward(emb_dim: int = 768, hidden_dim: int | None = None) -> Figure:
    """The feed-forward network of a block: each token's vector widened 4 times, GELU, and narrowed back."""
    hidden = 4 * emb_dim if hidden_dim is None else hidden_dim
    if emb_dim < 1 or hidden < 1:
        raise ValueError(f"emb_dim and hidden_dim must be >= 1, got {emb_dim} and {hidden}")
    params = 2 * emb_dim * hidden + hidden + emb_dim
    big = 3.0
    unit = big / max(hidden, emb_dim)
    fig, ax = _canvas(WIDTH, big + 1.9)
    _title(ax, f"The feed-forward network: {emb_dim} → {hidden:,} → {emb_dim}, for each token on its own")
    mid = 0.75 + big / 2 + 0.1
    bars = ((0.6, emb_dim, "x", "data"), (3.3, hidden, "hidden", "highlight"), (5.6, hidden, "after GELU", "highlight"),
            (8.3, emb_dim, "output", "accent"))
    for x, size, name, kind in bars:
        height = max(size * unit, 0.3)
        _box(ax, x, mid - height / 2, 0.4, height, kind=kind, rounded=False)
        _label(ax, x + 0.2, mid + big / 2 + 0.3, f"{name}\n{size:,}", colour=INK)
    layers = ((1.4, f"Linear\n{emb_dim} → {hidden:,}", "layer"), (1.1, "GELU", "op"),
              (1.5, f"Linear\n{hidden:,} → {emb_dim}", "layer"))
    for (w, text, kind), (left, _, _, _), (right, _, _, _) in zip(layers, bars, bars[1:], strict=False):
        centre = (left + 0.4 + right) / 2
        _arrow(ax, [(left + 0.43, mid), (centre - w / 2 - 0.02, mid)])
        _box(ax, centre - w / 2, mid - 0.35, w, 0.7, text, kind=kind, size=FS_SMALL)
        _arrow(ax, [(centre + w / 2, mid), (right - 0.03, mid)])
    _label(ax, 0.2, mid + big / 2 + 0.8, f"Bar heights are to scale. Shape (batch, num_tokens, {emb_dim}) in and out; "
           f"{params:,} parameters per block.", ha="left")
    return fig


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
    fig, ax = _canvas(WIDTH, 3.55)
    _title(ax, "Layer normalization of one token's vector")
    how = "n − 1" if unbiased else "n"
    rows = ((0.85, "input x", row, "data"), (2.25, "normalized", norm, "accent"))
    for y, name, vec, kind in rows:
        _label(ax, x0 - 0.12, y + h / 2, name, ha="right", colour=INK, size=FS)
        _cells_row(ax, x0, y, [_fmt(v) for v in vec.tolist()], h, kind, FS_SMALL, widths=[col] * n)
        stats = f"mean {_fmt(vec.mean().item())}\nvariance {_fmt(vec.var(unbiased=unbiased).item())}"
        _label(ax, x0 + n * col + 0.2, y + h / 2, stats.replace("−0.0000", "0.0000"), ha="left")
    _arrow(ax, [(x0 + n * col / 2, 0.85 + h + 0.02), (x0 + n * col / 2, 2.23)],
           f"(x − mean) / √(variance + ε)\nε = {eps:g}; the variance divides by {how}",
           at=(x0 + n * col / 2 + 0.15, (0.85 + h + 2.25) / 2))
    _label(ax, 0.2, 3.2, "Then × scale + shift, two trainable vectors that start at 1 and 0: training may undo the "
           "normalization where it helps.", ha="left")
    return fig


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
    col = max(0.6, max(_text_width(str(i), FS_SMALL) for i in everything) + 0.14)
    fig, ax = _canvas(WIDTH, 4.85 if text else 4.5)
    _title(ax, "Generating text one token at a time (greedy decoding)")
    y1, h = 1.3, 0.36
    _label(ax, 0.35 + n * col / 2, y1 - 0.22, f"token ids (1, {n})", colour=INK)
    _cells_row(ax, 0.35, y1, [str(i) for i in prompt_ids], h, "data", FS_SMALL, widths=[col] * n)
    x_model = 0.35 + n * col + 0.45
    _arrow(ax, [(x_model - 0.43, y1 + h / 2), (x_model - 0.02, y1 + h / 2)])
    _box(ax, x_model, y1 - 0.12, 1.2, 0.6, "GPTModel", size=FS)
    x_logits = x_model + 1.7
    _arrow(ax, [(x_model + 1.2, y1 + h / 2), (x_logits - 0.02, y1 + h / 2)])
    lw, lh = 0.42, 0.24
    grid_top = y1 + h / 2 - n * lh / 2
    _label(ax, x_logits + 2.5 * lw, grid_top - 0.2, f"logits (1, {n}, {vocab_size:,})", colour=INK)
    cells = [["", "", "…", "", ""] for _ in range(n)]
    kinds = [["highlight" if r == n - 1 else "data"] * 5 for r in range(n)]
    _grid(ax, x_logits, grid_top, cells, lw, lh, kinds)
    _label(ax, x_logits + 5 * lw + 0.12, grid_top + (n - 0.5) * lh, "last position", ha="left")
    y2 = grid_top + n * lh + 0.75
    x_arg = x_logits + 0.5
    _arrow(ax, [(x_arg + 0.6, grid_top + n * lh + 0.02), (x_arg + 0.6, y2 - 0.02)],
           f"logits[:, -1, :]  (1, {vocab_size:,})", at=(x_arg + 0.72, (grid_top + n * lh + y2) / 2))
    _box(ax, x_arg, y2, 1.2, h, "argmax", kind="op", size=FS)
    x_new = x_arg - 0.3 - col
    _box(ax, x_new, y2, col, h, str(new_ids[0]), kind="accent", size=FS_SMALL, rounded=False, lw=0.8)
    _arrow(ax, [(x_arg - 0.01, y2 + h / 2), (x_new + col + 0.02, y2 + h / 2)])
    _cells_row(ax, 0.35, y2, [str(i) for i in everything[:n + 1]], h, ["data"] * n + ["accent"], FS_SMALL,
               widths=[col] * (n + 1))
    _arrow(ax, [(x_new - 0.02, y2 + h / 2), (0.35 + (n + 1) * col + 0.02, y2 + h / 2)], "append",
           at=((x_new + 0.35 + (n + 1) * col) / 2, y2 - 0.15), ha="center")
    _arrow(ax, [(0.25, y2 + h / 2), (0.12, y2 + h / 2), (0.12, y1 + h / 2), (0.33, y1 + h / 2)])
    _label(ax, 0.35, (y1 + h + y2) / 2, f"crop to the last context_size = {context_size:,} tokens, then repeat",
           ha="left")
    _label(ax, x_new + col / 2, y2 - 0.15, "next id")
    y3 = y2 + 1.0
    _label(ax, 0.2, y3 - 0.25, f"after {len(new_ids)} steps", colour=INK, size=FS, ha="left")
    _cells_row(ax, 0.35, y3, [str(i) for i in everything], h, ["data"] * n + ["accent"] * len(new_ids), FS_SMALL,
               widths=[col] * len(everything))
    if text:
        _label(ax, 0.35, y3 + h + 0.3, f"decoded: {text!r}", ha="left", colour=INK)
    return fig


# --- 06_pretraining ---


def draw_training_loop(
    num_epochs: int | None = None, eval_freq: int | None = None, start_context: str = "Every effort moves you"
) -> Figure:
    """The training loop: forward, loss, backward, step per batch; evaluation every eval_freq steps; epoch samples."""
    if any(n is not None and n < 1 for n in (num_epochs, eval_freq)):
        raise ValueError(f"num_epochs and eval_freq must be >= 1 (or None), got {num_epochs} and {eval_freq}")
    epochs = "each epoch (num_epochs of them)" if num_epochs is None else f"each of the {num_epochs} epochs"
    every = "every eval_freq steps" if eval_freq is None else f"every {eval_freq} steps"
    fig, ax = _canvas(WIDTH, 5.25)
    _title(ax, "The training loop")
    _frame(ax, 0.25, 0.65, WIDTH - 0.5, 4.2)
    _label(ax, 0.45, 0.9, f"for {epochs}", colour=INK, size=FS, ha="left")
    _frame(ax, 0.45, 1.2, WIDTH - 0.9, 2.05)
    _label(ax, 0.65, 1.45, "for each batch of the training loader", colour=INK, size=FS, ha="left")
    steps = (("batch\ninputs, targets\n(shifted by one)", "data"), ("model(inputs)\n→ logits", "layer"),
             ("cross-entropy of\nlogits vs targets\n→ loss", "op"), ("zero_grad()\nloss.backward()\n→ gradients", "op"),
             ("optimizer.step()\nupdate the\nweights", "accent"))
    w, gap, top, h = 1.42, 0.22, 1.75, 0.85
    x = (WIDTH - len(steps) * w - (len(steps) - 1) * gap) / 2
    centres = []
    for k, (text, kind) in enumerate(steps):
        _box(ax, x, top, w, h, text, kind=kind, size=FS_SMALL)
        if k:
            _arrow(ax, [(x - gap + 0.01, top + h / 2), (x - 0.02, top + h / 2)])
        centres.append(x + w / 2)
        x += w + gap
    back = top + h + 0.32
    _arrow(ax, [(centres[-1], top + h), (centres[-1], back), (centres[0], back), (centres[0], top + h + 0.02)])
    _label(ax, (centres[0] + centres[-1]) / 2, back - 0.15, "next batch")
    side = ((0.7, f"{every}: train and validation loss\n(eval mode, no gradients), printed and kept"),
            (WIDTH / 2 + 0.15, f"after each epoch: print a sample\ncontinuing {start_context!r}"))
    for x, text in side:
        _box(ax, x, 3.7, WIDTH / 2 - 0.85, 0.75, text, kind="op", size=FS_SMALL)
        _arrow(ax, [(x + (WIDTH / 2 - 0.85) / 2, 3.25), (x + (WIDTH / 2 - 0.85) / 2, 3.68)], dashed=True)
    _label(ax, 0.25, 5.05, "The loop returns the losses and the tokens seen, which plot_losses draws.", ha="left")
    return fig


def draw_cross_entropy(
    input_tokens: Sequence[Sequence[str]], target_tokens: Sequence[Sequence[str]], target_probas: object
) -> Figure:
    """The cross-entropy loss step by step: each target's probability, its log, the mean, and the minus sign."""
    probas = torch.as_tensor(target_probas, dtype=torch.float32).detach()
    if probas.dim() != 2:
        raise ValueError(f"target_probas must be (batch, num_tokens), got shape {tuple(probas.shape)}")
    shape = tuple(probas.shape)
    for name, tokens in (("input_tokens", input_tokens), ("target_tokens", target_tokens)):
        if (len(tokens), len(tokens[0]) if tokens else 0) != shape or any(len(r) != shape[1] for r in tokens):
            raise ValueError(f"{name} must be a {shape[0]} x {shape[1]} table like target_probas")
    if probas.numel() > 8:
        raise ValueError(f"{probas.numel()} predictions are too many to draw; use at most 8")
    if (probas <= 0).any() or (probas > 1).any():
        raise ValueError("target_probas must be probabilities in (0, 1]")
    logs = torch.log(probas)
    loss = -logs.mean()
    pitch, h, top = 0.42, 0.32, 1.45
    rows = [(r, c) for r in range(shape[0]) for c in range(shape[1])]
    height = top + len(rows) * pitch + (shape[0] - 1) * 0.15 + 0.85
    fig, ax = _canvas(WIDTH, height)
    _title(ax, "The cross-entropy loss, step by step")
    cols = ((0.3, 1.3, "input\ntoken"), (1.95, 1.3, "target\n(next token)"), (3.6, 1.3, "probability\nof the target"),
            (5.2, 1.0, "log of the\nprobability"))
    for x, w, text in cols:
        _label(ax, x + w / 2, top - 0.38, text, colour=INK)
    y = top
    centres = []
    for k, (r, c) in enumerate(rows):
        if k and c == 0:
            y += 0.15
        _box(ax, 0.3, y, 1.3, h, input_tokens[r][c].strip() or repr(input_tokens[r][c]), kind="data", size=FS_SMALL,
             rounded=False, lw=0.8)
        _arrow(ax, [(1.62, y + h / 2), (1.93, y + h / 2)])
        _box(ax, 1.95, y, 1.3, h, target_tokens[r][c].strip() or repr(target_tokens[r][c]), kind="highlight",
             size=FS_SMALL, rounded=False, lw=0.8)
        _box(ax, 3.6, y, 1.3, h, f"{probas[r, c].item():.4e}", kind="data", size=FS_SMALL, rounded=False, lw=0.8)
        _box(ax, 5.2, y, 1.0, h, _fmt(logs[r, c].item()), kind="data", size=FS_SMALL, rounded=False, lw=0.8)
        centres.append(y + h / 2)
        y += pitch
    mid = (centres[0] + centres[-1]) / 2
    _box(ax, 6.65, mid - 0.35, 1.0, 0.7, f"mean\n{_fmt(logs.mean().item())}", kind="op", size=FS_SMALL)
    for cy in centres:
        _arrow(ax, [(6.22, cy), (6.63, mid)], colour=MUTED)
    _arrow(ax, [(7.67, mid), (7.93, mid)], "× −1", at=(7.8, mid - 0.5), ha="center")
    _box(ax, 7.95, mid - 0.35, 0.95, 0.7, f"loss\n{loss.item():.4f}", kind="accent", size=FS_SMALL)
    _label(ax, 0.3, y + 0.3, f"Perplexity = exp(loss) = {torch.exp(loss).item():,.1f}. Training raises the targets' "
           "probabilities, which lowers the loss.", ha="left")
    return fig


def draw_temperature_top_k(
    logits: Sequence[float], vocab: Sequence[str], temperatures: Sequence[float] = (1, 0.1, 5), top_k: int = 3
) -> Figure:
    """How temperature (softmax of logits / T) and top-k (keep the k largest logits) reshape the next-token odds."""
    _check_lengths(logits=logits, vocab=vocab)
    if any(t <= 0 for t in temperatures):
        raise ValueError(f"temperatures must be > 0, got {list(temperatures)}")
    if not 1 <= top_k <= len(logits):
        raise ValueError(f"top_k must be between 1 and {len(logits)}, got {top_k}")
    if len(temperatures) + 1 > 5 or len(logits) > 12:
        raise ValueError("too much to draw: use at most 4 temperatures and 12 tokens")
    values = torch.tensor([float(v) for v in logits])
    columns = [(f"T = {t:g}", f"softmax(logits / {t:g})", torch.softmax(values / t, dim=0), None) for t in temperatures]
    threshold = torch.topk(values, top_k).values[-1]
    kept = values >= threshold
    columns.append((f"top-k = {top_k}", "others −∞, then softmax",
                    torch.softmax(values.masked_fill(~kept, -torch.inf), dim=0), kept))
    word_w = max(_text_width(w) for w in vocab) + 0.25
    x_logit = 0.2 + word_w
    x0 = x_logit + 0.85
    col_w = (WIDTH - 0.15 - x0) / len(columns)
    pitch, h, top = 0.32, 0.22, 2.1
    fig, ax = _canvas(WIDTH, top + len(vocab) * pitch + 0.7)
    _title(ax, "Temperature and top-k reshape the next-token distribution")
    x = 0.2
    chain = (("logits", "data"), ("÷ T", "op"), ("softmax", "op"), ("probabilities", "data"), ("logits", "data"),
             (f"keep the top {top_k}, others −∞", "op"), ("softmax", "op"))
    for k, (text, kind) in enumerate(chain):
        if k == 4:
            x += 0.25
        elif k:
            _arrow(ax, [(x + 0.02, 0.86), (x + 0.26, 0.86)])
            x += 0.28
        w = _text_width(text, FS_SMALL) + 0.24
        _box(ax, x, 0.7, w, 0.32, text, kind=kind, size=FS_SMALL)
        x += w
    _label(ax, x_logit + 0.33, top - 0.38, "logit", colour=INK)
    argmax = int(values.argmax())
    for i, word in enumerate(vocab):
        y = top + i * pitch
        _label(ax, x_logit - 0.1, y + h / 2, word, colour=INK, ha="right", size=FS, bold=i == argmax)
        _box(ax, x_logit, y - 0.02, 0.66, h + 0.04, _fmt(values[i].item(), 2), kind="data", size=FS_SMALL,
             rounded=False, lw=0.8)
    bar_max = col_w - 0.75
    for k, (name, how, probas, mask) in enumerate(columns):
        x = x0 + k * col_w
        _label(ax, x + col_w / 2 - 0.05, top - 0.5, name, colour=INK, size=FS, bold=True)
        _label(ax, x + col_w / 2 - 0.05, top - 0.25, how)
        for i in range(len(vocab)):
            y = top + i * pitch
            p = probas[i].item()
            if mask is not None and not mask[i]:
                _box(ax, x, y, 0.3, h, kind="masked", rounded=False, lw=0.6)
                _label(ax, x + 0.38, y + h / 2, "0", ha="left")
                continue
            length = max(bar_max * p, 0.02)
            _box(ax, x, y, length, h, kind="accent" if i == argmax else "highlight", rounded=False, lw=0.6)
            _label(ax, x + length + 0.08, y + h / 2, f"{p:.2f}" if p >= 0.005 else "<0.01", ha="left")
    _label(ax, 0.2, top + len(vocab) * pitch + 0.3, "Bars: probabilities. Low T sharpens towards the argmax (greedy); "
           "high T flattens; top-k allows only the k most likely.", ha="left")
    return fig


# --- fine-tuning a classifier (book chapter 6) ---


def draw_classifier_head(
    emb_dim: int = 768, vocab_size: int = 50257, num_classes: int = 2, n_layers: int = 12,
    class_names: Sequence[str] = ("not spam", "spam"),
) -> Figure:
    """Fine-tuning for classification: the output head 768 -> 50,257 replaced by 768 -> num_classes."""
    if len(class_names) != num_classes:
        raise ValueError(f"class_names must hold num_classes={num_classes} names, got {len(class_names)}")
    if min(emb_dim, vocab_size, num_classes, n_layers) < 1 or n_layers < 2:
        raise ValueError("emb_dim, vocab_size and num_classes must be >= 1 and n_layers >= 2")
    fig, ax = _canvas(WIDTH, 5.7)
    _title(ax, "From next-token prediction to classification: swap the output head")
    w, pitch, h, top = 3.35, 0.66, 0.46, 1.25
    columns = ((0.45, "pretrained GPT-2", False), (WIDTH - 0.45 - w, "classifier (fine-tuned)", True))
    for x, name, tuned in columns:
        _label(ax, x + w / 2, top - 0.35, name, colour=INK, size=FS, bold=True)
        parts = (("token + position embeddings", "frozen" if tuned else "layer"),
                 (f"transformer blocks 1 to {n_layers - 1}", "frozen" if tuned else "layer"),
                 (f"transformer block {n_layers}", "layer"), ("final LayerNorm", "layer"),
                 (f"new out_head: Linear({emb_dim}, {num_classes})" if tuned else
                  f"out_head: Linear({emb_dim}, {vocab_size:,})", "accent" if tuned else "layer"),
                 (f"{num_classes} scores: {' / '.join(class_names)}" if tuned else
                  f"{vocab_size:,} scores: the next token", "data"))
        for k, (text, kind) in enumerate(parts):
            y = top + k * pitch
            if k:
                _arrow(ax, [(x + w / 2, y - pitch + h), (x + w / 2, y - 0.02)])
            _box(ax, x, y, w, h, text, kind=kind, size=FS_SMALL)
    y_head = top + 4 * pitch + h / 2
    _arrow(ax, [(0.45 + w + 0.1, y_head), (WIDTH - 0.55 - w, y_head)], "replace", at=(WIDTH / 2, y_head - 0.2),
           ha="center")
    _swatch(ax, 0.45, top + 6 * pitch + 0.05, "frozen", "frozen: requires_grad = False; the rest is trained")
    return fig


def draw_last_token(
    tokens: Sequence[str] = ("Do", " you", " have", " time"), emb_dim: int = 768, num_classes: int = 2
) -> Figure:
    """Why a classifier reads the last token: under the causal mask only the last position has seen every token."""
    n = len(tokens)
    if not 2 <= n <= 8:
        raise ValueError(f"tokens must hold 2 to 8 tokens, got {n}")
    shown = [t.strip() or repr(t) for t in tokens]
    col = max(0.55, max(_text_width(t, FS_SMALL) for t in shown) + 0.12)
    h, top = 0.36, 1.45
    x_grid = 0.3 + max(_text_width(t, FS_SMALL) for t in shown) + 0.15
    fig, ax = _canvas(WIDTH, top + n * h + 0.85)
    _title(ax, "Classify with the last token: the only one that has seen the whole text")
    _label(ax, x_grid + n * col / 2, top - 0.5, "causal attention: who sees whom", colour=INK, size=FS)
    for c in range(n):
        _label(ax, x_grid + (c + 0.5) * col, top - 0.2, shown[c])
    for r in range(n):
        _label(ax, x_grid - 0.1, top + r * h + h / 2, shown[r], ha="right", colour=INK if r == n - 1 else MUTED)
        kinds = ["masked" if c > r else "accent" if r == n - 1 else "op" for c in range(n)]
        _cells_row(ax, x_grid, top + r * h, [""] * n, h, kinds, widths=[col] * n)
    x_out = x_grid + n * col + 0.45
    _label(ax, x_out + 0.9, top - 0.2, f"outputs (num_tokens, {emb_dim})", colour=INK)
    for r in range(n):
        y = top + r * h
        last = r == n - 1
        _arrow(ax, [(x_grid + n * col + 0.05, y + h / 2), (x_out - 0.02, y + h / 2)], colour=INK if last else MUTED)
        _box(ax, x_out, y + 0.03, 1.8, h - 0.06, f"position {r}" + (": sees all" if last else ""),
             kind="accent" if last else "data", size=FS_SMALL, rounded=False, lw=0.8)
    y_last = top + (n - 1) * h + h / 2
    x_head = x_out + 2.3
    _arrow(ax, [(x_out + 1.82, y_last), (x_head - 0.02, y_last)], "[:, -1, :]", at=(x_out + 2.03, y_last + 0.32),
           ha="center")
    _box(ax, x_head, y_last - 0.3, 1.45, 0.6, f"out_head\n{emb_dim} → {num_classes}", size=FS_SMALL)
    _arrow(ax, [(x_head + 1.45, y_last), (x_head + 1.73, y_last)])
    _box(ax, x_head + 1.75, y_last - 0.3, WIDTH - 0.2 - x_head - 1.75, 0.6, f"{num_classes}\nscores", kind="accent",
         size=FS_SMALL)
    _label(ax, 0.3, top + n * h + 0.45, "Each row shows which tokens a position attends to (hatched: masked). The "
           "loss uses only the last position's scores.", ha="left")
    return fig


def draw_lora(d_in: int = 768, d_out: int = 768, rank: int = 8, alpha: float = 16) -> Figure:
    """LoRA: a frozen weight W beside a trainable low-rank update A B scaled by alpha / rank."""
    if min(d_in, d_out, rank) < 1 or rank > min(d_in, d_out):
        raise ValueError(f"need d_in, d_out >= 1 and 1 <= rank <= min(d_in, d_out), got d_in={d_in}, d_out={d_out}, "
                         f"rank={rank}")
    scale = alpha / rank
    w_params, lora_params = d_in * d_out, rank * (d_in + d_out)
    fig, ax = _canvas(WIDTH, 5.95)
    _title(ax, "LoRA: train a small low-rank update beside the frozen weight")
    cx = WIDTH / 2
    _box(ax, cx - 2.0, 0.65, 4.0, 0.42, f"x: (batch, num_tokens, {d_in})", kind="data")
    side = 2.1
    wx, top = 0.9, 1.55
    _box(ax, wx, top, side, side, f"W\n{d_in} × {d_out}\nfrozen\n{w_params:,} weights", kind="frozen", size=FS)
    ax_x = 4.6
    a_w = max(0.55, side * rank / d_out)
    _box(ax, ax_x, top, a_w + 0.45, side, f"A\n{d_in}\n×\n{rank}", kind="layer", size=FS)
    bx = ax_x + a_w + 0.85
    b_h = max(0.55, side * rank / d_in)
    _box(ax, bx, top, side, b_h + 0.1, f"B: {rank} × {d_out}", kind="layer", size=FS)
    _arrow(ax, [(ax_x + a_w + 0.47, top + 0.33), (bx - 0.02, top + 0.33)])
    _box(ax, bx, top + 1.15, side, 0.5, f"× alpha / r = {alpha:g} / {rank} = {scale:g}", kind="op", size=FS_SMALL)
    _arrow(ax, [(bx + side / 2, top + b_h + 0.1), (bx + side / 2, top + 1.13)])
    _arrow(ax, [(cx - 1.0, 1.07), (cx - 1.0, 1.3), (wx + side / 2, 1.3), (wx + side / 2, top - 0.02)])
    _arrow(ax, [(cx + 1.0, 1.07), (cx + 1.0, 1.3), (ax_x + (a_w + 0.45) / 2, 1.3), (ax_x + (a_w + 0.45) / 2,
                                                                                      top - 0.02)])
    y_add = top + side + 0.55
    _add(ax, cx, y_add, 0.17)
    _arrow(ax, [(wx + side / 2, top + side), (wx + side / 2, y_add), (cx - 0.19, y_add)], "x W",
           at=(wx + side / 2 + 0.12, top + side + 0.28))
    _arrow(ax, [(bx + side / 2, top + 1.65), (bx + side / 2, y_add), (cx + 0.19, y_add)], "(alpha / r) x A B",
           at=(bx + side / 2 + 0.12, top + side + 0.28))
    _arrow(ax, [(cx, y_add + 0.17), (cx, y_add + 0.5)])
    _box(ax, cx - 2.6, y_add + 0.52, 5.2, 0.42, f"x W + (alpha / r) x A B: (batch, num_tokens, {d_out})",
         kind="accent", size=FS_SMALL)
    _label(ax, 0.3, y_add + 1.3, f"Trained: A and B, {lora_params:,} numbers ({lora_params / w_params:.1%} of W). "
           "B starts at zero, so training starts from W exactly.", ha="left")
    return fig
