"""GPT-2's tokenizer, read from its two files: as tiktoken's `Encoding`, and as the course's own `BPETokenizer`.

`gpt2_encoding` is first used in notebooks/00_setup_check.ipynb ("The GPT-2 tokenizer, offline") and is the
tokenizer of every later notebook (book section 2.5, "Byte pair encoding"). `gpt2_bpe` loads the same files into the
BPE built from scratch in notebooks/02_text_and_tokens.ipynb ("Beyond the book: byte pair encoding from scratch"),
which encodes exactly as tiktoken does. `ENDOFTEXT_ID` is the id of `<|endoftext|>`, also the padding of the classifier.
"""

from __future__ import annotations

import json
import os
from functools import lru_cache

import tiktoken
from tiktoken.load import data_gym_to_mergeable_bpe_ranks

from helpers.bpe import GPT2_PATTERN, BPETokenizer, bytes_to_unicode, read_text_file
from helpers.datafiles import DATA_FILES, fetch
from helpers.text import ENDOFTEXT, SPECIAL_FORM

__all__ = ["ENDOFTEXT_ID", "GPT2_VOCAB_SIZE", "gpt2_bpe", "gpt2_encoding"]

ENDOFTEXT_ID = 50256  # the id of <|endoftext|>, GPT-2's last token
GPT2_VOCAB_SIZE = ENDOFTEXT_ID + 1


@lru_cache(maxsize=1)
def gpt2_encoding() -> tiktoken.Encoding:
    """GPT-2's BPE as a tiktoken `Encoding`, from the course's encoder.json/vocab.bpe (no download)."""
    ranks = data_gym_to_mergeable_bpe_ranks(
        vocab_bpe_file=str(fetch("gpt2/vocab.bpe")),
        encoder_json_file=str(fetch("gpt2/encoder.json")),
        vocab_bpe_hash=DATA_FILES["gpt2/vocab.bpe"].sha256,
        encoder_json_hash=DATA_FILES["gpt2/encoder.json"].sha256,
    )
    return tiktoken.Encoding(
        name="gpt2",
        explicit_n_vocab=GPT2_VOCAB_SIZE,
        pat_str=GPT2_PATTERN,
        mergeable_ranks=ranks,
        special_tokens={ENDOFTEXT: ENDOFTEXT_ID},
    )


def _read_encoder(encoder_json: str | os.PathLike, expects: str) -> dict[str, int]:
    try:
        encoder = json.loads(read_text_file(encoder_json, expects))
    except json.JSONDecodeError as err:
        raise ValueError(f"{encoder_json} is not valid JSON: {err}") from None
    if not isinstance(encoder, dict):
        raise ValueError(f"{encoder_json} must hold a JSON object mapping tokens to ids")
    return encoder


def _read_merges(vocab_bpe: str | os.PathLike, encoder: dict[str, int], encoder_json: object, expects: str):
    lines = read_text_file(vocab_bpe, expects).splitlines()
    if lines and lines[0].startswith("#version"):
        lines = lines[1:]
    merges: dict[tuple[int, int], int] = {}
    for number, line in enumerate(lines, start=2):
        if not line.strip():
            continue
        parts = line.split(" ")
        if len(parts) != 2 or not all(parts):
            raise ValueError(f"{vocab_bpe}, line {number}: expected two tokens separated by a space, got {line!r}")
        left, right = parts
        for token in (left, right, left + right):
            if token not in encoder:
                raise ValueError(f"{vocab_bpe}, line {number}: token {token!r} is not in {encoder_json}")
        merges[(encoder[left], encoder[right])] = encoder[left + right]
    return merges


def gpt2_bpe(encoder_json: str | os.PathLike | None = None, vocab_bpe: str | os.PathLike | None = None) -> BPETokenizer:
    """GPT-2's tokenizer as the course's `BPETokenizer`, from `encoder.json` (token -> id) and `vocab.bpe` (merges).

    Without arguments, the course's own copies of the two files are read.
    """
    if encoder_json is None and vocab_bpe is None:
        encoder_json, vocab_bpe = fetch("gpt2/encoder.json"), fetch("gpt2/vocab.bpe")
    elif encoder_json is None or vocab_bpe is None:
        raise TypeError("gpt2_bpe takes both encoder_json and vocab_bpe, or neither (the course's copies)")
    expects = "gpt2_bpe expects GPT-2's encoder.json and vocab.bpe (gpt2_bpe() reads the course's copies)"
    encoder = _read_encoder(encoder_json, expects)
    merges = _read_merges(vocab_bpe, encoder, encoder_json, expects)
    try:
        byte_ids = [encoder[byte_char] for byte_char in bytes_to_unicode().values()]
    except KeyError as err:
        raise ValueError(f"{encoder_json} lacks the single-byte token {err.args[0]!r}") from None
    specials = {tok: idx for tok, idx in encoder.items() if SPECIAL_FORM.fullmatch(tok)}
    tokenizer = BPETokenizer(merges, specials, byte_ids=byte_ids)
    byte_decoder = {ch: b for b, ch in bytes_to_unicode().items()}
    for tok, idx in encoder.items():  # every entry of encoder.json must be what the merges build
        if tok in specials:
            continue
        expected = bytes(byte_decoder[c] for c in tok) if all(c in byte_decoder for c in tok) else None
        if expected is None or tokenizer.vocab.get(idx) != expected:
            raise ValueError(f"{encoder_json}: token {tok!r} (id {idx}) does not match the merges of {vocab_bpe}")
    return tokenizer
