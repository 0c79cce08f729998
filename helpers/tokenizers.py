"""Tokenizers: from raw text to token ids.

Built in notebooks/01_text_and_tokens.ipynb; `gpt2_encoding` is first used in
notebooks/00_setup_check.ipynb ("The GPT-2 tokenizer").
"""

from __future__ import annotations

from functools import lru_cache

import tiktoken
from tiktoken.load import data_gym_to_mergeable_bpe_ranks

from helpers.data import DATA_FILES, fetch

__all__ = ["ENDOFTEXT", "GPT2_PATTERN", "gpt2_encoding"]

ENDOFTEXT = "<|endoftext|>"

# GPT-2's pre-tokenizer: contractions, then runs of letters, digits or other symbols (each optionally
# preceded by one space), then whitespace. Possessive quantifiers (`++`) need no backtracking.
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""


@lru_cache(maxsize=1)
def gpt2_encoding() -> tiktoken.Encoding:
    """GPT-2's BPE as a tiktoken `Encoding`, read from the cached encoder.json/vocab.bpe (no download by tiktoken)."""
    ranks = data_gym_to_mergeable_bpe_ranks(
        vocab_bpe_file=str(fetch("gpt2/vocab.bpe")),
        encoder_json_file=str(fetch("gpt2/encoder.json")),
        vocab_bpe_hash=DATA_FILES["gpt2/vocab.bpe"].sha256,
        encoder_json_hash=DATA_FILES["gpt2/encoder.json"].sha256,
    )
    return tiktoken.Encoding(
        name="gpt2",
        explicit_n_vocab=50257,
        pat_str=GPT2_PATTERN,
        mergeable_ranks=ranks,
        special_tokens={ENDOFTEXT: 50256},
    )
