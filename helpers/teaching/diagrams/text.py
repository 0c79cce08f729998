"""The diagrams of notebook 02_text_and_tokens (book chapter 2, "Working with text data").

`draw_tokenization_pipeline` (section 2.3, "Converting tokens into token IDs"): text -> tokens -> ids;
`draw_special_tokens` (section 2.4, "Adding special context tokens"): <|unk|> and <|endoftext|>;
`draw_bpe_merges` (beyond the book, "The merge loop" after section 2.5): one piece built merge by merge by
`BPETokenizer.merge_steps`, the loop the tokenizer itself runs.
"""

from __future__ import annotations

from collections.abc import Sequence

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from helpers.bpe import BPETokenizer, bytes_to_unicode, compile_pattern
from helpers.checks import check_text
from helpers.teaching.diagrams import draw as d
from helpers.teaching.diagrams.draw import FS, WIDTH

__all__ = ["draw_bpe_merges", "draw_special_tokens", "draw_tokenization_pipeline"]


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


def _aligned_rows(
    ax: Axes, y: float, rows: Sequence[tuple[str, Sequence[str], Sequence[str]]], x0: float = 1.25,
    right: float = WIDTH - 0.2, h: float = 0.34, size: float = FS,
) -> float:
    """Named rows of cells, one column per item (as wide as its widest text), wrapped over as many lines as needed.

    Each row is (name, texts, kinds); returns the y below the last line.
    """
    n = len(rows[0][1])
    widths = [max(0.42, *(d.text_width(texts[i], size) + 0.2 for _, texts, _ in rows)) for i in range(n)]
    for line in _wrap_columns(widths, right - x0, 0.0):
        for name, texts, kinds in rows:
            d.label(ax, x0 - 0.12, y + h / 2, name, ha="right")
            d.cells_row(ax, x0, y, [texts[i] for i in line], h, [kinds[i] for i in line], size,
                        widths=[widths[i] for i in line])
            y += h + 0.08
        y += 0.3
    return y


def draw_tokenization_pipeline(text: str, tokens: Sequence[str], ids: Sequence[int], vocab_size: int = 1130) -> Figure:
    """Text -> tokens (the book's regex split) -> token ids (each token's position in the sorted vocabulary)."""
    d.check_lengths(tokens=tokens, ids=ids)
    fig, ax = d.canvas(WIDTH, 12)
    d.title(ax, "From text to token ids")
    d.label(ax, 1.13, 0.85, "text", ha="right")
    d.box(ax, 1.25, 0.62, WIDTH - 1.45, 0.46, text, kind="data")
    d.arrow(ax, [(WIDTH / 2, 1.08), (WIDTH / 2, 1.52)], "split on whitespace and punctuation")
    rows = [("tokens", tokens, ["data"] * len(tokens)), ("token ids", [str(i) for i in ids], ["plain"] * len(ids))]
    y = _aligned_rows(ax, 1.58, rows)
    d.label(ax, 1.25, y - 0.05, f"Each id is the token's position in the vocabulary: the {vocab_size:,} distinct "
            "tokens of the story, sorted.", ha="left")
    return d.closed(d.fit_height(fig, ax, y + 0.25))


def draw_special_tokens(
    texts: Sequence[str], tokens: Sequence[str], ids: Sequence[int], unk_id: int = 1131, eot_id: int = 1130,
    unk: str = "<|unk|>", eot: str = "<|endoftext|>",
) -> Figure:
    """Two texts joined by <|endoftext|>, encoded by SimpleTokenizerV2: unknown words become <|unk|>."""
    d.check_lengths(tokens=tokens, ids=ids)
    if not texts:
        raise ValueError("texts must hold at least one text")
    needed = 1.25 + sum(d.text_width(t) + 0.42 for t in texts) + (len(texts) - 1) * (d.text_width(eot) + 0.42)
    if needed > WIDTH:
        raise ValueError(f"the texts are too long to draw on one line ({needed:.1f} of {WIDTH} inches); shorten them")
    fig, ax = d.canvas(WIDTH, 12)
    d.title(ax, f"Special tokens: {unk} and {eot}")
    x, y = 1.25, 0.65
    d.label(ax, x - 0.12, y + 0.21, "texts", ha="right")
    for i, part in enumerate(texts):
        if i:
            w = d.text_width(eot) + 0.3
            d.box(ax, x, y, w, 0.42, eot, kind="accent")
            x += w + 0.12
        w = d.text_width(part) + 0.3
        d.box(ax, x, y, w, 0.42, part, kind="data")
        x += w + 0.12
    d.arrow(ax, [(WIDTH / 2, y + 0.42), (WIDTH / 2, y + 0.86)], "SimpleTokenizerV2.encode")
    kinds = ["accent" if i == eot_id else "masked" if i == unk_id else "data" for i in ids]
    rows = [("tokens", tokens, kinds),
            ("token ids", [str(i) for i in ids], ["highlight" if i == unk_id else "plain" for i in ids])]
    y = _aligned_rows(ax, y + 0.92, rows)
    d.swatch(ax, 1.25, y, "masked", f"not in the vocabulary: encoded as {unk}, id {unk_id} (decoding gives {unk})")
    d.swatch(ax, 1.25, y + 0.34, "accent", f"{eot}, id {eot_id}: where one text ends and the next begins")
    return d.closed(d.fit_height(fig, ax, y + 0.65))


def _merge_rows(tokenizer: BPETokenizer, piece: str) -> tuple[list[list[str]], list[int], list[int]]:
    """The pieces after each step of `tokenizer.merge_steps` (as GPT-2's files write them), the ranks, the ids."""
    if not isinstance(tokenizer, BPETokenizer):
        raise TypeError(f"tokenizer must be a helpers.bpe.BPETokenizer, got {type(tokenizer).__name__}")
    if not check_text(piece, "piece"):
        raise ValueError("piece must be a non-empty string")
    pieces = compile_pattern(tokenizer.pattern).findall(piece)
    if pieces != [piece]:
        raise ValueError(f"piece must be one pre-token piece (merges never cross pieces), but the tokenizer's "
                         f"pattern splits {piece!r} into {pieces}")
    table = bytes_to_unicode()
    steps, ranks = [], []
    for ids, rank in tokenizer.merge_steps(piece):
        steps.append(["".join(table[b] for b in tokenizer.token_bytes(i)) for i in ids])
        if rank is not None:
            ranks.append(rank)
    return steps, ranks, ids


def draw_bpe_merges(tokenizer: BPETokenizer, piece: str) -> Figure:
    """One pre-token piece built up merge by merge: a row per merge, the new piece highlighted, then the ids."""
    steps, ranks, ids = _merge_rows(tokenizer, piece)
    word = "".join(steps[0])
    col = max(0.42, max(d.text_width(ch) for ch in word) + 0.22)
    x0 = WIDTH - 0.3 - col * len(word)
    if x0 < 3.6:
        raise ValueError(f"the word {word!r} has too many characters ({len(word)}) to draw; use a shorter one")
    h, gap = 0.34, 0.14
    height = 1.2 + len(steps) * (h + gap) + 0.6 + 0.45
    fig, ax = d.canvas(WIDTH, height)
    d.title(ax, f"Byte pair encoding of {word!r}, merge by merge")
    y = 0.8
    previous: list[tuple[int, str]] = []
    for k, step in enumerate(steps):
        spans, start = [], 0
        for part in step:
            spans.append((start, part))
            start += len(part)
        new = [span for span in spans if k and span not in previous]
        if k == 0:
            name = "start: one piece per byte"
        else:
            first, merged = new[0]
            parts = [p for s, p in previous if first <= s < first + len(merged)]
            name = f"merge {' + '.join(repr(p) for p in parts)} (rank {ranks[k - 1]:,})"
        d.label(ax, x0 - 0.15, y + h / 2, name, ha="right")
        kinds = ["highlight" if span in new else "data" for span in spans]
        d.cells_row(ax, x0, y, step, h, kinds, FS, widths=[len(p) * col for p in step])
        previous = spans
        y += h + gap
    d.label(ax, x0 - 0.15, y + 0.1 + h / 2, "token ids", ha="right")
    d.cells_row(ax, x0, y + 0.1, [str(i) for i in ids], h, "accent", FS, widths=[len(p) * col for p in steps[-1]])
    y += h + 0.1 + gap
    d.label(ax, 0.2, y + 0.2, "Each step merges the neighbouring pair with the lowest rank (the line in vocab.bpe); "
            "Ġ is a space.", ha="left")
    return d.closed(fig)
