"""The drawing primitives and the one palette that every concept diagram of `helpers.teaching.diagrams` is built from.

The diagrams of notebooks 01_overview to 10_instruction_finetuning all use them; no notebook draws with them
directly: the chapter modules (`overview`, `text`, `windows`, `embeddings`, `attention`, `gpt`, `pretraining`,
`llama`, `classifier`, `instruct`) import this module as `d` (`d.box(ax, ...)`) and its constants by name. A
diagram is a few boxes (`box`), arrows (`arrow`), free text (`label`, `title`) and tensors drawn as cells
(`cells_row`, `grid`, `slab`), in the fills of `FILLS`, which differ in lightness so the diagrams also read in
greyscale. `closed` ends every diagram function: the figure it returns is closed from pyplot, so a notebook cell
holding only the call shows it once.

Coordinates are inches, measured from the top-left corner of the figure (y grows downwards).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

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


def canvas(width: float, height: float) -> tuple[Figure, Axes]:
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


def text_width(text: str, size: float = FS) -> float:
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


def label(
    ax: Axes, x: float, y: float, text: str, size: float = FS_SMALL, colour: str = MUTED, ha: str = "center",
    va: str = "center", bold: bool = False, italic: bool = False,
) -> None:
    """Free text at (x, y)."""
    if va == "center":
        va, dy = _centring(text, size)
        y += dy
    ax.text(x, y, text, fontsize=size, color=colour, ha=ha, va=va, fontweight="bold" if bold else "normal",
            fontstyle="italic" if italic else "normal", linespacing=1.25, zorder=5)


def title(ax: Axes, text: str, x: float = 0.2, y: float = 0.3) -> None:
    """The diagram's title, top-left."""
    label(ax, x, y, text, size=FS_TITLE, colour=INK, ha="left", bold=True)


def box(
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


def arrow(
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
        label(ax, at[0], at[1], text, size=size, ha=ha)


def add(ax: Axes, cx: float, cy: float, r: float = 0.15, text: str = "+") -> None:
    """The circle of an addition (a shortcut or a sum) centred at (cx, cy)."""
    gid = f"box{len(ax.patches)}"
    ax.add_patch(Circle((cx, cy), r, facecolor=FILLS["op"], edgecolor=INK, lw=LINE, zorder=2, gid=gid))
    ax.text(cx, cy, text, fontsize=FS, color=INK, ha="center", va="center", fontweight="bold", zorder=4,
            gid=f"{gid}:label")


def grid(
    ax: Axes, x: float, y: float, cells: Sequence[Sequence[str]], cell_w: float, cell_h: float,
    kinds: Sequence[Sequence[str]] | str = "data", size: float = FS_SMALL,
) -> None:
    """A tensor drawn as a grid of square-cornered cells with their values, top-left corner at (x, y)."""
    for r, row in enumerate(cells):
        for c, value in enumerate(row):
            kind = kinds if isinstance(kinds, str) else kinds[r][c]
            box(ax, x + c * cell_w, y + r * cell_h, cell_w, cell_h, value, kind=kind, size=size, rounded=False,
                lw=0.8)


def slab(
    ax: Axes, x: float, y: float, w: float, h: float, text: str = "", kind: str = "data", layers: int = 3,
    step: float = 0.09, size: float = FS,
) -> None:
    """A 3-d tensor drawn as `layers` offset sheets, the front one at (x, y) with the label."""
    for i in range(layers - 1, 0, -1):
        box(ax, x + i * step, y - i * step, w, h, kind=kind, rounded=False, lw=0.8)
    box(ax, x, y, w, h, text, kind=kind, size=size, rounded=False)


def cells_row(
    ax: Axes, x: float, y: float, texts: Sequence[str], h: float, kinds: Sequence[str] | str = "data",
    size: float = FS_SMALL, widths: Sequence[float] | None = None,
) -> None:
    """A row of touching cells, each as wide as `widths` says or as its text needs."""
    for i, text in enumerate(texts):
        w = widths[i] if widths is not None else max(0.42, text_width(text, size) + 0.16)
        kind = kinds if isinstance(kinds, str) else kinds[i]
        box(ax, x, y, w, h, text, kind=kind, size=size, rounded=False, lw=0.8)
        x += w


def check_lengths(**named: Sequence[object]) -> None:
    """Raise a ValueError unless all the named sequences are equally long and not empty."""
    lengths = {name: len(values) for name, values in named.items()}
    if len(set(lengths.values())) != 1 or 0 in lengths.values():
        listed = ", ".join(f"{name} has {n}" for name, n in lengths.items())
        raise ValueError(f"{' and '.join(lengths)} must be equally long and not empty: {listed}")


def matrix(values: object, name: str) -> list[list[float]]:
    """`values` (nested sequences or a tensor) as a list of equally long rows of floats, or a ValueError."""
    rows = torch.as_tensor(values, dtype=torch.float32).detach()
    if rows.dim() != 2 or rows.numel() == 0:
        raise ValueError(f"{name} must be a non-empty 2-d table, got shape {tuple(rows.shape)}")
    return rows.tolist()


def fmt(value: float, digits: int = 4) -> str:
    """A number as the notebooks print it, with a true minus sign and −∞ for minus infinity."""
    if value == float("-inf"):
        return "−∞"
    return f"{value:.{digits}f}".replace("-", "−")


def frame(ax: Axes, x: float, y: float, w: float, h: float) -> None:
    """A dashed frame around a group of boxes (a loop, a zoomed-in part)."""
    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0,rounding_size=0.1", facecolor="white",
                                edgecolor=MUTED, lw=1.0, linestyle="--", zorder=1))


def closed(fig: Figure) -> Figure:
    """`fig`, closed from pyplot: IPython shows the returned figure once and the inline backend not again."""
    plt.close(fig)
    return fig


def fit_height(fig: Figure, ax: Axes, height: float) -> Figure:
    """Cut the canvas to `height` inches, for diagrams whose height depends on their data."""
    height = round(height, 2)
    fig.set_size_inches(fig.get_figwidth(), height)
    ax.set_ylim(height, 0)
    return fig


def swatch(ax: Axes, x: float, y: float, kind: str, text: str) -> None:
    """A legend entry: a small box of `kind` and its explanation to the right."""
    box(ax, x, y - 0.1, 0.3, 0.2, kind=kind, rounded=False, lw=0.8)
    label(ax, x + 0.42, y, text, ha="left")
