"""The diagrams of notebook 08_llama (beyond the book: from GPT to Llama, and a pretrained chat model).

`draw_gpt_to_llama` (the changes, side by side), `draw_grouped_query_attention` (query heads sharing key/value heads,
and the KV cache they save), `draw_rope_row_order` (why the query and key rows in a GGUF file come permuted) and
`draw_q4_1_block` (one block of 32 weights in Q4_1, with the file's own bytes).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from helpers.checks import check_int
from helpers.teaching.diagrams import draw as d
from helpers.teaching.diagrams.draw import FS, FS_SMALL, INK, WIDTH

__all__ = ["draw_gpt_to_llama", "draw_grouped_query_attention", "draw_q4_1_block", "draw_rope_row_order"]

# (GPT-2, Llama) row by row, from the input to the output
_CHANGES = (
    ("token embedding + position embedding", "token embedding only (positions: RoPE)"),
    ("dropout", "(no dropout)"),
    ("LayerNorm: mean, variance, scale, shift", "RMSNorm: root mean square, weight"),
    ("multi-head attention, biases in GPT-2", "grouped-query attention, RoPE, no biases"),
    ("dropout, + shortcut", "+ shortcut"),
    ("LayerNorm", "RMSNorm"),
    ("feed forward: Linear, GELU, Linear", "SwiGLU: fc3(SiLU(fc1 x) · fc2 x)"),
    ("dropout, + shortcut", "+ shortcut"),
    ("final LayerNorm", "final RMSNorm"),
    ("output head (Linear)", "output head = token embedding (tied)"),
)


def draw_gpt_to_llama(gpt_layers: int = 12, llama_layers: int = 30) -> Figure:
    """GPT-2's layers beside a Llama's, from the input to the output: each row one change."""
    check_int(gpt_layers, "gpt_layers")
    check_int(llama_layers, "llama_layers")
    h, pitch, top, w, gap = 0.42, 0.56, 1.05, 3.85, 0.45  # gap: room below the blocks for their count
    left, right = 0.3, WIDTH - 0.3 - w
    height = top + len(_CHANGES) * pitch + gap + 0.2
    fig, ax = d.canvas(WIDTH, height)
    d.title(ax, "From GPT-2 to Llama, one change at a time")
    d.label(ax, left + w / 2, top - 0.25, "GPT-2 (notebook 06)", colour=INK, size=FS)
    d.label(ax, right + w / 2, top - 0.25, "Llama (this notebook)", colour=INK, size=FS)
    for k, (gpt, llama) in enumerate(_CHANGES):
        y = top + k * pitch + (gap if k >= 8 else 0.0)
        d.box(ax, left, y, w, h, gpt, kind="layer", size=FS_SMALL)
        d.box(ax, right, y, w, h, llama, kind="highlight", size=FS_SMALL)
        d.arrow(ax, [(left + w + 0.05, y + h / 2), (right - 0.05, y + h / 2)])
    y0, y1 = top + 2 * pitch - 0.07, top + 7 * pitch + h + 0.07
    d.frame(ax, left - 0.12, y0, w + 0.24, y1 - y0)
    d.frame(ax, right - 0.12, y0, w + 0.24, y1 - y0)
    d.label(ax, left + w / 2, y1 + 0.2, f"a block: × {gpt_layers} in GPT-2 small", italic=True)
    d.label(ax, right + w / 2, y1 + 0.2, f"a block: × {llama_layers} in SmolLM2-135M", italic=True)
    return d.closed(fig)


def draw_grouped_query_attention(n_heads: int = 9, n_kv_groups: int = 3, head_dim: int = 64, n_layers: int = 30,
                                 bytes_per_number: int = 4) -> Figure:
    """`n_heads` query heads sharing `n_kv_groups` key/value heads, and the KV cache per token with and without."""
    for name, value in (("n_heads", n_heads), ("n_kv_groups", n_kv_groups), ("head_dim", head_dim),
                        ("n_layers", n_layers), ("bytes_per_number", bytes_per_number)):
        check_int(value, name)
    if n_heads % n_kv_groups or n_heads > 16:
        raise ValueError(f"n_heads={n_heads} must be a multiple of n_kv_groups={n_kv_groups}, and at most 16 to draw")
    group = n_heads // n_kv_groups
    fig, ax = d.canvas(WIDTH, 4.6)
    d.title(ax, f"Grouped-query attention: {n_heads} query heads share {n_kv_groups} key/value heads")
    pitch = (WIDTH - 0.6) / n_heads
    w = pitch - 0.12
    for q in range(n_heads):
        x = 0.3 + q * pitch
        d.box(ax, x, 0.85, w, 0.5, f"Q{q}", kind="layer", size=FS_SMALL)
        kv = q // group
        kx = 0.3 + (kv * group + (group - 1) / 2) * pitch + w / 2
        d.arrow(ax, [(x + w / 2, 1.35), (kx, 2.08)], head=False)
    for kv in range(n_kv_groups):
        x = 0.3 + kv * group * pitch
        d.box(ax, x + 0.1, 2.1, group * pitch - 0.32, 0.55, f"K{kv}, V{kv}: shared by {group} query heads",
              kind="highlight", size=FS_SMALL)
    per_token = 2 * n_layers * head_dim * bytes_per_number
    gqa, mha = per_token * n_kv_groups, per_token * n_heads
    lines = (
        f"KV cache per token: 2 (K and V) × {n_layers} layers × heads × {head_dim} numbers × {bytes_per_number} bytes",
        f"multi-head attention, {n_heads} K/V heads: {mha:,} bytes per token",
        f"grouped-query attention, {n_kv_groups} K/V heads: {gqa:,} bytes per token ({n_heads // n_kv_groups}× less)",
        f"for 8,192 tokens: {mha * 8192 / 2**20:,.0f} MiB → {gqa * 8192 / 2**20:,.0f} MiB",
    )
    for k, line in enumerate(lines):
        d.label(ax, 0.3, 3.1 + k * 0.34, line, colour=INK if k else INK, size=FS_SMALL, ha="left", bold=k == 2)
    return d.closed(fig)


def draw_rope_row_order(head_dim: int = 8) -> Figure:
    """The rows of one head's query weight: the pairs RoPE turns together in Hugging Face's order and in llama.cpp's."""
    check_int(head_dim, "head_dim", minimum=2)
    if head_dim % 2 or head_dim > 16:
        raise ValueError(f"head_dim must be even and at most 16 to draw, got {head_dim}")
    half = head_dim // 2
    kinds = ("layer", "highlight", "op", "data", "frozen", "accent", "plain", "masked")
    fig, ax = d.canvas(WIDTH, 3.95)
    d.title(ax, "Which rows RoPE turns together, in one head")
    cell = min(0.62, (WIDTH - 3.0) / head_dim)
    x0 = 2.7
    rows = ((1.0, "ours, Hugging Face:", list(range(head_dim)), "pair i: rows i and i + head_dim/2"),
            (2.25, "GGUF, llama.cpp:", [r for i in range(half) for r in (i, i + half)], "pair i: rows 2i and 2i + 1"))
    for y, name, order, note in rows:
        d.label(ax, 0.3, y + cell / 2, name, colour=INK, size=FS_SMALL, ha="left")
        for k, row in enumerate(order):
            pair = row % half
            d.box(ax, x0 + k * cell, y, cell, cell, f"{row}", kind=kinds[pair % len(kinds)], rounded=False,
                  size=FS_SMALL)
        d.label(ax, x0, y + cell + 0.22, note, ha="left", italic=True)
    d.label(ax, 0.3, 3.4, "The numbers are the rows of the original weight; one colour is one pair.", ha="left")
    d.label(ax, 0.3, 3.7, "The GGUF converter moved the rows; un-permuting moves them back.", ha="left")
    return d.closed(fig)


def draw_q4_1_block(block: Sequence[int]) -> Figure:
    """One Q4_1 block of a GGUF file: its 20 bytes (float16 d and m, 16 bytes of 4-bit numbers q), the 32 numbers q,
    and the 32 weights d q + m."""
    block = [int(b) for b in block]
    if len(block) != 20 or any(not 0 <= b <= 255 for b in block):
        raise ValueError(f"a Q4_1 block is 20 bytes (each 0 to 255), got {len(block)} values")
    scale, minimum = (float(v) for v in np.frombuffer(bytes(block[:4]), dtype="<f2"))
    q = [b & 0x0F for b in block[4:]] + [b >> 4 for b in block[4:]]
    weights = [float(np.float32(scale) * np.float32(v) + np.float32(minimum)) for v in q]
    fig, ax = d.canvas(WIDTH, 6.35)
    d.title(ax, "One Q4_1 block: 32 weights in 20 bytes (5 bits per weight)")
    cell = (WIDTH - 0.6) / 20
    kinds = ["highlight"] * 2 + ["op"] * 2 + ["data"] * 16
    d.cells_row(ax, 0.3, 0.85, [f"{b:02x}" for b in block], 0.36, kinds=kinds, widths=[cell] * 20)
    d.label(ax, 0.3, 1.42, f"bytes 0–1: d = {d.fmt(scale, 5)},  2–3: m = {d.fmt(minimum, 4)}", colour=INK,
            ha="left")
    d.label(ax, WIDTH - 0.3, 1.42, "16 bytes, two 4-bit numbers q (0 to 15) in each", ha="right")
    wide = (WIDTH - 0.6) / 16
    d.label(ax, 0.3, 1.85, "low 4 bits of each byte: q of weights 0–15", colour=INK, ha="left")
    d.cells_row(ax, 0.3, 2.02, [str(v) for v in q[:16]], 0.34, widths=[wide] * 16)
    d.label(ax, 0.3, 2.58, "high 4 bits: q of weights 16–31", colour=INK, ha="left")
    d.cells_row(ax, 0.3, 2.75, [str(v) for v in q[16:]], 0.34, widths=[wide] * 16)
    d.label(ax, 0.3, 3.42, "each weight is d · q + m (weights 0–7, 8–15, 16–23, 24–31):", colour=INK, ha="left")
    for row in range(4):
        d.cells_row(ax, 0.3, 3.6 + row * 0.4, [d.fmt(w, 4) for w in weights[8 * row : 8 * row + 8]], 0.34,
                    kinds="accent", widths=[2 * wide] * 8)
    d.label(ax, 0.3, 5.55, f"16 levels from m = {d.fmt(minimum, 4)} to m + 15 d = {d.fmt(minimum + 15 * scale, 4)}; "
            "float32 would take 128 bytes for these 32 weights, Q4_1 takes 20.", size=FS_SMALL, ha="left")
    d.label(ax, 0.3, 5.95, "Each block has its own d and m, so a few large weights elsewhere do not coarsen this one.",
            size=FS_SMALL, ha="left")
    return d.closed(fig)
