"""Text shown as its tokens, for notebook 02_text_and_tokens ("Beyond the book: a tokenizer explorer", after book
section 2.5): `token_pieces` splits a text into token strings and ids with any of the course's tokenizers, and
`tokens_html` writes them as coloured boxes with each id beneath (`helpers.teaching.widgets.tokenizer_explorer`
shows it as you type).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import tiktoken
from IPython.display import HTML

from helpers.bpe import BPETokenizer
from helpers.text import SimpleTokenizerV1, show_whitespace

__all__ = ["TOKEN_COLOURS", "token_pieces", "tokens_html"]

# Light background colours for neighbouring tokens (a repeating cycle).
TOKEN_COLOURS = ("#fde2a7", "#c9e7f8", "#d5f0c4", "#f7cfe0", "#e2d6f5", "#fbd3c0")


def token_pieces(tokenizer: Any, text: str) -> tuple[list[str], list[int]]:
    """The token strings and ids of `text` for a simple (word) tokenizer, a `BPETokenizer` or a tiktoken encoding.

    Special tokens are allowed. A BPE token that is only part of a UTF-8 character shows its bytes (`\\xf0`).
    """
    if isinstance(tokenizer, SimpleTokenizerV1):
        words = tokenizer.tokenize(text)
        return words, tokenizer.encode(text)
    if isinstance(tokenizer, BPETokenizer):
        ids = tokenizer.encode(text, allowed_special="all")
        return [tokenizer.token_bytes(i).decode("utf-8", errors="backslashreplace") for i in ids], ids
    if isinstance(tokenizer, tiktoken.Encoding):
        ids = tokenizer.encode(text, allowed_special="all")
        pieces = [tokenizer.decode_single_token_bytes(i).decode("utf-8", errors="backslashreplace") for i in ids]
        return pieces, ids
    raise TypeError(
        "tokenizer must be a SimpleTokenizerV1/V2, a BPETokenizer or a tiktoken Encoding, "
        f"got {type(tokenizer).__name__}"
    )


def tokens_html(pieces: Sequence[str], ids: Sequence[int], spaced: bool = False, n_chars: int | None = None) -> HTML:
    """The text as coloured tokens with each id beneath (HTML; whitespace shown as `helpers.text.show_whitespace` does).

    `spaced` leaves a gap between tokens, for word tokenizers whose tokens do not carry their spaces;
    `n_chars`, the length of the text, adds the characters per token to the summary line.
    """
    if len(pieces) != len(ids):
        raise ValueError(f"pieces and ids must be equally long, got {len(pieces)} and {len(ids)}")
    gap = "0.5em" if spaced else "0"
    boxes = []
    for i, (piece, idx) in enumerate(zip(pieces, ids, strict=True)):
        colour = TOKEN_COLOURS[i % len(TOKEN_COLOURS)]
        boxes.append(
            f'<span style="display:inline-block;margin:0 {gap} 4px 0;text-align:center;vertical-align:top">'
            f'<span style="background:{colour};white-space:pre;padding:1px 0">{html.escape(show_whitespace(piece))}'
            f'</span><br><span style="font-size:70%;color:#555;padding:0 2px">{idx}</span></span>'
        )
    summary = f"{len(ids)} tokens"
    if n_chars is not None and ids:
        summary += f" for {n_chars} characters ({n_chars / len(ids):.2f} characters per token)"
    return HTML(
        f'<div style="font-family:monospace;line-height:1.3">{"".join(boxes)}</div>'
        f'<div style="font-size:85%;color:#555">{summary}</div>'
    )
