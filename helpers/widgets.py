"""ipywidgets explorers used by the notebooks: thin wrappers around the figures in `helpers.plots`.

Each section names the notebook that shows its explorer. Every explorer returns the `ipywidgets.interactive`
object, whose `.result` holds what the wrapped function returned (so tests can drive it without a browser).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import ipywidgets as widgets
import tiktoken
from IPython.display import HTML

from helpers.plots import tokens_html
from helpers.tokenizers import BPETokenizer, SimpleTokenizerV1

# --- 01_text_and_tokens ---


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


def tokenizer_explorer(tokenizers: Mapping[str, Any], text: str = "Hello, do you like tea?") -> widgets.interactive:
    """Type text, pick a tokenizer, and see the text coloured by token with the ids beneath."""
    if not tokenizers:
        raise ValueError("tokenizers must name at least one tokenizer, e.g. {'GPT-2': gpt2_encoding()}")
    for name, tokenizer in tokenizers.items():
        try:
            token_pieces(tokenizer, "")  # a wrong type fails now rather than inside the widget
        except TypeError as err:
            raise TypeError(f"tokenizers[{name!r}]: {err}") from None
    names = list(tokenizers)

    def show(text: str = text, tokenizer: str = names[0]) -> HTML:
        try:
            pieces, ids = token_pieces(tokenizers[tokenizer], text)
        except KeyError as err:  # SimpleTokenizerV1 meets a word outside its vocabulary
            return HTML(f"<pre>KeyError: {err}</pre>")
        spaced = isinstance(tokenizers[tokenizer], SimpleTokenizerV1)
        return tokens_html(pieces, ids, spaced=spaced, n_chars=len(text))

    return widgets.interactive(
        show,
        text=widgets.Textarea(value=text, description="text", layout=widgets.Layout(width="95%")),
        tokenizer=widgets.Dropdown(options=names, value=names[0], description="tokenizer"),
    )
