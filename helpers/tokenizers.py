"""Tokenizers: from raw text to token ids.

Built in notebooks/01_text_and_tokens.ipynb: `split_words` in section 2.2, `SimpleTokenizerV1` and
`SimpleTokenizerV2` in sections 2.3-2.4, `join_words` in "Beyond the book: decoding without invented spaces",
`bytes_to_unicode`, `GPT2_PATTERN`, `merge_pair`, `learn_merges` and `BPETokenizer` in "Beyond the book: byte pair
encoding from scratch".
`gpt2_encoding` is first used in notebooks/00_setup_check.ipynb ("The GPT-2 tokenizer").
"""

from __future__ import annotations

import heapq
import json
import operator
import os
import re
from collections import Counter
from collections.abc import Collection, Iterable, Mapping, Sequence
from functools import lru_cache
from itertools import pairwise
from pathlib import Path
from typing import Literal

import regex
import tiktoken
from tiktoken.load import data_gym_to_mergeable_bpe_ranks
from tqdm.auto import tqdm

from helpers.data import DATA_FILES, fetch

__all__ = [
    "ENDOFTEXT",
    "GPT2_PATTERN",
    "UNK",
    "BPETokenizer",
    "SimpleTokenizerV1",
    "SimpleTokenizerV2",
    "bytes_to_unicode",
    "gpt2_encoding",
    "join_words",
    "learn_merges",
    "merge_pair",
    "plural",
    "show_whitespace",
    "split_words",
]

ENDOFTEXT = "<|endoftext|>"
UNK = "<|unk|>"

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


def plural(count: int, noun: str, plural_noun: str | None = None) -> str:
    """`count` and `noun`, the noun in the plural unless count is 1: "1 window", "2 windows", "3 batches".

    The plural adds "es" after s, x, z, ch and sh, else "s"; pass `plural_noun` for any other form.
    Every helpers module that builds a message around a count uses this (it imports nothing from helpers).
    """
    if count == 1:
        return f"{count} {noun}"
    if plural_noun is None:
        plural_noun = noun + ("es" if noun.endswith(("s", "x", "z", "ch", "sh")) else "s")
    return f"{count} {plural_noun}"


# How a printed text shows whitespace that would otherwise look like nothing (helpers.plots shows tokens so too).
_VISIBLE_WHITESPACE = str.maketrans({"\n": "↵", "\t": "→", "\r": "␍"})


def compile_pattern(pattern: object) -> regex.Pattern:
    """The pre-tokenizer regex `pattern`, compiled; a `TypeError`/`ValueError` naming it when it is not one."""
    if not isinstance(pattern, str):
        raise TypeError(f"pattern must be a regex string, got {type(pattern).__name__}")
    try:
        return regex.compile(pattern)
    except regex.error as err:
        raise ValueError(f"pattern {pattern!r} is not a valid regex: {err}") from None


def show_whitespace(text: str) -> str:
    """`text` on one line, with newlines shown as ↵, tabs as → and carriage returns as ␍."""
    return _check_text(text).translate(_VISIBLE_WHITESPACE)


def _check_text(text: object, name: str = "text") -> str:
    if not isinstance(text, str):
        raise TypeError(f"{name} must be a str, got {type(text).__name__}")
    return text


def _as_id(value: object) -> int:
    """An integer token id from an int-like value (int, numpy or 0-d torch integer); TypeError otherwise."""
    if isinstance(value, (bool, float, str, bytes)):
        raise TypeError(f"token ids must be integers, got {type(value).__name__} {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"token ids must be integers, got {type(value).__name__} {value!r}") from None


# --- word-level tokenizers (the book's section 2.3-2.4) ---

# The book's splitting rule: punctuation marks, the double dash `--` and whitespace separate words.
BOOK_SPLIT = r'([,.:;?_!"()\']|--|\s)'
_BOOK_SPLIT = re.compile(BOOK_SPLIT)
_SPECIAL_FORM = re.compile(r"<\|[^|<>\s]+\|>")  # <|endoftext|>, <|unk|>

# What the spacing rules of `join_words` know about punctuation.
_NO_SPACE_BEFORE = frozenset(",.:;?!)")
_NO_SPACE_AFTER = frozenset("(")
_DASH = "--"
_PAIRED = frozenset('"_')  # marks that come in open/close pairs: quotes and _italics_
_SUFFIXES = frozenset({"s", "t", "d", "m", "ll", "re", "ve"})  # after an apostrophe: it's, don't, I'd, ...


def split_words(text: str, specials: Collection[str] = ()) -> list[str]:
    """The book's word split: punctuation and `--` become tokens, whitespace is dropped; `specials` stay whole."""
    _check_text(text)
    if not specials:
        return [item.strip() for item in _BOOK_SPLIT.split(text) if item.strip()]
    specials_re = "(" + "|".join(re.escape(s) for s in sorted(specials, key=len, reverse=True)) + ")"
    words = []
    for i, part in enumerate(re.split(specials_re, text)):
        if i % 2:  # re.split puts the captured specials at odd positions
            words.append(part)
        else:
            words.extend(item.strip() for item in _BOOK_SPLIT.split(part) if item.strip())
    return words


def join_words(words: Sequence[str]) -> str:
    """Join word tokens with one space, except where the token stream shows that the text had none.

    No space before `, . : ; ? ! )`, after `(`, or around `--`; an apostrophe followed by a contraction
    suffix (`s t d m ll re ve`) joins both neighbours (`It's`, `don't`); quotes `"` and italics marks `_`
    alternate between opening (joined to the next word) and closing (joined to the previous one).
    """
    pieces: list[str] = []
    open_marks: set[str] = set()
    glue_next = True  # no space before the first word
    n = len(words)
    for i, word in enumerate(words):
        glue_before = word in _NO_SPACE_BEFORE or word == _DASH
        glue_after = word in _NO_SPACE_AFTER or word == _DASH
        if word in _PAIRED:
            if word in open_marks:  # a closing mark
                open_marks.discard(word)
                glue_before = True
            else:
                open_marks.add(word)
                glue_after = True
        elif word == "'" and 0 < i < n - 1 and words[i + 1].lower() in _SUFFIXES and words[i - 1][-1:].isalpha():
            glue_before = glue_after = True
        if not (glue_before or glue_next):
            pieces.append(" ")
        pieces.append(word)
        glue_next = glue_after
    return "".join(pieces)


def _check_vocab(vocab: object) -> dict[str, int]:
    if not isinstance(vocab, Mapping):
        raise TypeError(f"vocab must be a mapping from word (str) to id (int), got {type(vocab).__name__}")
    checked: dict[str, int] = {}
    seen: dict[int, str] = {}
    for word, idx in vocab.items():
        if not isinstance(word, str) or not isinstance(idx, int) or isinstance(idx, bool):
            raise TypeError(f"vocab must map str to int, got {word!r}: {idx!r}")
        if idx in seen:
            raise ValueError(f"vocab gives the id {idx} to both {seen[idx]!r} and {word!r}; ids must be unique")
        seen[idx] = word
        checked[word] = idx
    return checked


class SimpleTokenizerV1:
    """The book's word-level tokenizer: a fixed vocabulary of words and punctuation, one id each."""

    def __init__(self, vocab: Mapping[str, int]) -> None:
        self.str_to_int = _check_vocab(vocab)
        self.int_to_str = {i: s for s, i in self.str_to_int.items()}
        self._specials = tuple(s for s in self.str_to_int if _SPECIAL_FORM.fullmatch(s))

    def tokenize(self, text: str) -> list[str]:
        """The words of `text` (the book's split; special tokens such as `<|endoftext|>` stay whole)."""
        return split_words(text, self._specials)

    def _lookup(self, word: str) -> int:
        try:
            return self.str_to_int[word]
        except KeyError:
            raise KeyError(
                f"{word!r} is not in the vocabulary ({plural(len(self.str_to_int), 'word')}); "
                f"SimpleTokenizerV2 maps unknown words to {UNK}"
            ) from None

    def encode(self, text: str) -> list[int]:
        """Token ids of `text`; an unknown word raises `KeyError` naming it."""
        return [self._lookup(word) for word in self.tokenize(text)]

    def decode(self, ids: Iterable[int]) -> str:
        """The words of `ids`, spaced as the token stream allows (see `join_words`)."""
        words = []
        for value in ids:
            idx = _as_id(value)
            if idx not in self.int_to_str:
                raise KeyError(f"token id {idx} is not in the vocabulary (ids 0..{len(self.int_to_str) - 1})")
            words.append(self.int_to_str[idx])
        return join_words(words)


class SimpleTokenizerV2(SimpleTokenizerV1):
    """The book's tokenizer with special tokens: unknown words become `<|unk|>`; `<|endoftext|>` separates texts."""

    def __init__(self, vocab: Mapping[str, int]) -> None:
        super().__init__(vocab)
        if UNK not in self.str_to_int:
            raise ValueError(f"SimpleTokenizerV2 needs {UNK!r} in its vocabulary (add it after the words)")
        self._unk_id = self.str_to_int[UNK]

    def _lookup(self, word: str) -> int:
        return self.str_to_int.get(word, self._unk_id)


# --- byte pair encoding (the book's section 2.5, built from scratch) ---


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's table from each byte 0..255 to a printable character (printable bytes keep their own)."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in printable}
    shifted = 0
    for b in range(256):
        if b not in table:  # control characters, space, DEL, NBSP, soft hyphen: moved past U+00FF in order
            table[b] = chr(256 + shifted)
            shifted += 1
    return dict(sorted(table.items()))


_FORMAT = "helpers.tokenizers.BPETokenizer"
_FORMAT_VERSION = 1
_CACHE_MAX = 100_000  # pieces remembered by the encoder before its cache is cleared
_CACHE_MAX_PIECE = 64  # longer pieces (long runs of spaces, long words) are not remembered


class BPETokenizer:
    """Byte-level byte pair encoding, as GPT-2 does it: train it, or load GPT-2's own merges.

    `merges` maps a pair of token ids to the id of the merged token, in merge order (earlier merges are
    applied first). `byte_ids[b]` is the id of the single byte `b` (GPT-2 orders its bytes differently from
    0..255). `special_tokens` maps strings such as `<|endoftext|>` to their ids. `pattern` is the
    pre-tokenizing regex (the `regex` module's syntax): text is split into pieces first, and merges never
    cross a piece boundary.
    """

    def __init__(
        self,
        merges: Mapping[tuple[int, int], int],
        special_tokens: Mapping[str, int] | None = None,
        *,
        pattern: str = GPT2_PATTERN,
        byte_ids: Sequence[int] | None = None,
    ) -> None:
        byte_ids = list(range(256)) if byte_ids is None else [_as_id(b) for b in byte_ids]
        if len(byte_ids) != 256 or len(set(byte_ids)) != 256 or min(byte_ids) < 0:
            raise ValueError(
                f"byte_ids must be 256 distinct ids >= 0, one per byte value, got {plural(len(byte_ids), 'id')}"
            )
        vocab: dict[int, bytes] = {idx: bytes([b]) for b, idx in enumerate(byte_ids)}
        checked_merges: dict[tuple[int, int], int] = {}
        if not isinstance(merges, Mapping):
            raise TypeError(f"merges must map (id, id) pairs to new ids, got {type(merges).__name__}")
        for pair, new in merges.items():
            if not (isinstance(pair, tuple) and len(pair) == 2):
                raise TypeError(f"merges must map (id, id) pairs to new ids, got the key {pair!r}")
            left, right, new = _as_id(pair[0]), _as_id(pair[1]), _as_id(new)
            for part in (left, right):
                if part not in vocab:
                    raise ValueError(f"merge {pair!r} -> {new} uses id {part}, which no earlier merge or byte defines")
            if new in vocab or new < 0:
                raise ValueError(f"merge {pair!r} -> {new}: id {new} is already in use (or negative)")
            vocab[new] = vocab[left] + vocab[right]
            checked_merges[(left, right)] = new
        if special_tokens is not None and not isinstance(special_tokens, Mapping):
            raise TypeError(f"special_tokens must map strings to ids, got {type(special_tokens).__name__}")
        specials: dict[str, int] = {}
        for text, idx in (special_tokens or {}).items():
            idx = _as_id(idx)
            if not isinstance(text, str) or not text:
                raise ValueError(f"special tokens must be non-empty strings, got {text!r}")
            if idx in vocab or idx in specials.values() or idx < 0:
                raise ValueError(f"special token {text!r}: id {idx} is already in use (or negative)")
            specials[text] = idx
        self._pat = compile_pattern(pattern)

        self.merges = checked_merges
        self.special_tokens = specials
        self.pattern = pattern
        self.byte_ids = tuple(byte_ids)
        self.vocab = vocab  # id -> the bytes it stands for (special tokens excluded)
        self._ranks = {pair: rank for rank, pair in enumerate(checked_merges)}
        self._id_bytes = {**vocab, **{idx: text.encode("utf-8") for text, idx in specials.items()}}
        self._special_re = (
            regex.compile("|".join(regex.escape(s) for s in sorted(specials, key=len, reverse=True)))
            if specials else None
        )
        self._cache: dict[str, list[int]] = {}

    # -- sizes and names --

    @property
    def n_vocab(self) -> int:
        """One more than the largest id (tiktoken's name): the size an embedding table needs."""
        return max(self._id_bytes) + 1

    def __repr__(self) -> str:
        return f"BPETokenizer(n_vocab={self.n_vocab}, merges={len(self.merges)}, special_tokens={self.special_tokens})"

    # -- encoding --

    def _merge_piece(self, piece: str) -> list[int]:
        """Ids of one pre-token piece: start from its bytes, then apply the lowest-ranked merge until none applies."""
        byte_ids = self.byte_ids
        ids = [byte_ids[b] for b in piece.encode("utf-8")]
        ranks, merges = self._ranks, self.merges
        while len(ids) > 1:
            best_rank, best = None, None
            for pair in pairwise(ids):
                rank = ranks.get(pair)
                if rank is not None and (best_rank is None or rank < best_rank):
                    best_rank, best = rank, pair
            if best is None:
                break
            ids = merge_pair(ids, best, merges[best])
        return ids

    def _encode_chunk(self, text: str, out: list[int]) -> None:
        cache = self._cache
        for piece in self._pat.findall(text):
            ids = cache.get(piece)
            if ids is None:
                ids = self._merge_piece(piece)
                if len(piece) <= _CACHE_MAX_PIECE:
                    if len(cache) >= _CACHE_MAX:
                        cache.clear()
                    cache[piece] = ids
            out += ids

    def encode_ordinary(self, text: str) -> list[int]:
        """Token ids of `text`, treating special-token strings as ordinary text (tiktoken's `encode_ordinary`)."""
        _check_text(text)
        out: list[int] = []
        try:
            self._encode_chunk(text, out)
        except UnicodeEncodeError:  # lone surrogates: replaced by U+FFFD, as tiktoken does
            out = []
            self._encode_chunk(_fix_surrogates(text), out)
        return out

    def encode(
        self,
        text: str,
        allowed_special: Collection[str] | Literal["all"] = frozenset(),
        disallowed_special: Collection[str] | Literal["all"] = "all",
    ) -> list[int]:
        """Token ids of `text`. Special tokens in `allowed_special` become their ids; by default any other
        special token found in the text raises `ValueError` (as tiktoken does); `disallowed_special=()` encodes
        them as ordinary text instead."""
        _check_text(text)
        allowed = self._special_set(allowed_special, "allowed_special")
        disallowed = (
            set(self.special_tokens) - allowed if disallowed_special == "all"
            else self._special_set(disallowed_special, "disallowed_special")
        )
        if disallowed:
            found = [s for s in sorted(disallowed) if s in text]
            if found:
                raise ValueError(
                    f"the text contains the special token {found[0]!r}, which is not allowed here. To encode it as "
                    f"its special id, pass allowed_special={{{found[0]!r}}} (or 'all'); to encode it as ordinary "
                    f"text, pass disallowed_special=()"
                )
        if not allowed or self._special_re is None:
            return self.encode_ordinary(text)
        try:
            return self._encode_with_specials(text, allowed)
        except UnicodeEncodeError:
            return self._encode_with_specials(_fix_surrogates(text), allowed)

    def _special_set(self, value: object, name: str) -> set[str]:
        if value == "all":
            return set(self.special_tokens)
        if isinstance(value, (str, bytes)) or not isinstance(value, Collection):
            raise TypeError(f"{name} must be 'all' or a set of special-token strings, got {value!r}")
        return {s for s in value if s in self.special_tokens}  # tiktoken, too, ignores strings that are not special

    def _encode_with_specials(self, text: str, allowed: set[str]) -> list[int]:
        out: list[int] = []
        start = 0
        for match in self._special_re.finditer(text):
            if match.group() not in allowed:
                continue
            self._encode_chunk(text[start:match.start()], out)
            out.append(self.special_tokens[match.group()])
            start = match.end()
        self._encode_chunk(text[start:], out)
        return out

    # -- decoding --

    def decode_bytes(self, ids: Iterable[int]) -> bytes:
        """The bytes that `ids` stand for, concatenated."""
        id_bytes = self._id_bytes
        if isinstance(ids, (str, bytes)):
            raise TypeError(f"ids must be a sequence of token ids, got {type(ids).__name__}")
        ids = list(ids)
        try:
            return b"".join([id_bytes[i] for i in map(operator.index, ids)])
        except (KeyError, TypeError):  # find and name the culprit (or accept int-likes such as torch ints)
            parts = []
            for value in ids:
                idx = _as_id(value)
                if idx not in id_bytes:
                    raise KeyError(
                        f"token id {idx} is not in this tokenizer's vocabulary (n_vocab={self.n_vocab})"
                    ) from None
                parts.append(id_bytes[idx])
            return b"".join(parts)

    def decode(self, ids: Iterable[int]) -> str:
        """The text of `ids`; byte sequences that are not valid UTF-8 become U+FFFD (as tiktoken's `decode`)."""
        return self.decode_bytes(ids).decode("utf-8", errors="replace")

    def token_bytes(self, idx: int) -> bytes:
        """The bytes of a single token id."""
        return self.decode_bytes([idx])

    # -- training --

    @classmethod
    def train(
        cls,
        text: str,
        vocab_size: int,
        special_tokens: Sequence[str] = (ENDOFTEXT,),
        *,
        pattern: str = GPT2_PATTERN,
        progress: bool = False,
    ) -> BPETokenizer:
        """Learn `vocab_size - 256 - len(special_tokens)` merges from `text`; special tokens get the last ids.

        The text is split into pieces with `pattern` (special-token strings are cut out first); each distinct
        piece is counted once with its frequency. Pair counts are updated incrementally: a merge only revisits
        the pieces that contain the merged pair. Ties between equally frequent pairs go to the smaller pair of ids.
        `progress=True` shows a progress bar over the merges (for large texts or vocabularies).
        """
        _check_text(text)
        if not isinstance(vocab_size, int) or isinstance(vocab_size, bool):
            raise TypeError(f"vocab_size must be an int, got {type(vocab_size).__name__}")
        if isinstance(special_tokens, str) or not isinstance(special_tokens, Sequence):
            raise TypeError(f"special_tokens must be a sequence of strings, got {special_tokens!r}")
        specials = list(special_tokens)
        for s in specials:
            if not isinstance(s, str) or not s:
                raise ValueError(f"special tokens must be non-empty strings, got {s!r}")
        if len(set(specials)) != len(specials):
            raise ValueError(f"special_tokens has duplicates: {specials!r}")
        smallest = 256 + len(specials)
        if vocab_size < smallest:
            raise ValueError(
                f"vocab_size must be at least {smallest} (256 bytes + {plural(len(specials), 'special token')}), "
                f"got {vocab_size}"
            )
        n_merges = vocab_size - smallest
        pat = compile_pattern(pattern)
        parts = regex.split("|".join(regex.escape(s) for s in specials), text) if specials else [text]
        counts = Counter(piece for part in parts for piece in pat.findall(part))
        words = [list(piece.encode("utf-8")) for piece in counts]
        freqs = list(counts.values())

        merges = learn_merges(words, freqs, n_merges, progress=progress)
        if len(merges) < n_merges:
            raise ValueError(
                f"the text has too few distinct byte pairs for vocab_size={vocab_size}: it allows at most "
                f"{smallest + len(merges)}"
            )
        first_special = 256 + n_merges
        return cls(
            merges,
            {s: first_special + i for i, s in enumerate(specials)},
            pattern=pattern,
        )

    # -- GPT-2's files --

    @classmethod
    def from_gpt2_files(cls, encoder_json: str | os.PathLike, vocab_bpe: str | os.PathLike) -> BPETokenizer:
        """GPT-2's tokenizer from its `encoder.json` (token -> id) and `vocab.bpe` (the merges in order)."""
        byte_decoder = {ch: b for b, ch in bytes_to_unicode().items()}
        expects = "from_gpt2_files expects GPT-2's encoder.json and vocab.bpe (from_gpt2() uses the cached ones)"
        try:
            encoder = json.loads(_read_text(encoder_json, expects))
        except json.JSONDecodeError as err:
            raise ValueError(f"{encoder_json} is not valid JSON: {err}") from None
        if not isinstance(encoder, dict):
            raise ValueError(f"{encoder_json} must hold a JSON object mapping tokens to ids")
        lines = _read_text(vocab_bpe, expects).splitlines()
        if lines and lines[0].startswith("#version"):
            lines = lines[1:]
        try:
            byte_ids = [encoder[byte_char] for byte_char in bytes_to_unicode().values()]
        except KeyError as err:
            raise ValueError(f"{encoder_json} lacks the single-byte token {err.args[0]!r}") from None
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
        specials = {tok: idx for tok, idx in encoder.items() if _SPECIAL_FORM.fullmatch(tok)}
        tokenizer = cls(merges, specials, byte_ids=byte_ids)
        for tok, idx in encoder.items():  # every entry of encoder.json must be what the merges build
            if tok in specials:
                continue
            expected = bytes(byte_decoder[c] for c in tok) if all(c in byte_decoder for c in tok) else None
            if expected is None or tokenizer.vocab.get(idx) != expected:
                raise ValueError(f"{encoder_json}: token {tok!r} (id {idx}) does not match the merges of {vocab_bpe}")
        return tokenizer

    @classmethod
    def from_gpt2(cls) -> BPETokenizer:
        """GPT-2's tokenizer from the cached files of `helpers.data` (downloaded once if missing)."""
        return cls.from_gpt2_files(fetch("gpt2/encoder.json"), fetch("gpt2/vocab.bpe"))

    # -- saving and loading --

    def save(self, path: str | os.PathLike) -> None:
        """Write the tokenizer as JSON: pattern, byte ids, merges in order, special tokens."""
        state = {
            "format": _FORMAT,
            "version": _FORMAT_VERSION,
            "pattern": self.pattern,
            "byte_ids": list(self.byte_ids),
            "merges": [[left, right, new] for (left, right), new in self.merges.items()],
            "special_tokens": self.special_tokens,
        }
        Path(path).write_text(json.dumps(state, ensure_ascii=False), encoding="utf-8")

    @classmethod
    def load(cls, path: str | os.PathLike) -> BPETokenizer:
        """Read a tokenizer written by `save`; a file that is not one raises `ValueError` saying what is wrong."""
        expects = "BPETokenizer.load expects a JSON file written by BPETokenizer.save"
        text = _read_text(path, expects)
        try:
            state = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not a saved BPETokenizer: invalid JSON ({err}); {expects}") from None
        if not isinstance(state, dict) or state.get("format") != _FORMAT:
            raise ValueError(
                f"{path} is not a saved BPETokenizer (no \"format\": {_FORMAT!r} entry); {expects}; GPT-2's own "
                f"encoder.json and vocab.bpe load with BPETokenizer.from_gpt2_files"
            )
        if state.get("version") != _FORMAT_VERSION:
            raise ValueError(f"{path}: unsupported BPETokenizer file version {state.get('version')!r}")
        try:
            merges: dict[tuple[int, int], int] = {}
            for entry in state["merges"]:
                if not isinstance(entry, list) or len(entry) != 3:
                    raise ValueError(f"each merge must be a list [left, right, new], got {entry!r}")
                if (entry[0], entry[1]) in merges:
                    raise ValueError(f"the pair {entry[:2]} is merged twice")
                merges[(entry[0], entry[1])] = entry[2]
            return cls(
                merges, state["special_tokens"], pattern=state["pattern"], byte_ids=state["byte_ids"],
            )
        except (KeyError, TypeError, ValueError) as err:
            detail = f"missing entry {err}" if isinstance(err, KeyError) else str(err)
            raise ValueError(f"{path} is a corrupt BPETokenizer file: {detail}") from None


def _read_text(path: str | os.PathLike, expects: str) -> str:
    """The UTF-8 text of a file; a missing file, a folder or a binary file raises an error naming it and `expects`."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} does not exist; {expects}") from None
    except IsADirectoryError:
        raise IsADirectoryError(f"{path} is a folder, not a file; {expects}") from None
    except UnicodeDecodeError as err:
        raise ValueError(f"{path} is not UTF-8 text (byte {err.start}: {err.reason}); {expects}") from None


def _fix_surrogates(text: str) -> str:
    """Replace lone surrogates (which UTF-8 cannot encode) by U+FFFD."""
    return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")


def merge_pair(ids: list[int], pair: tuple[int, int], new_id: int) -> list[int]:
    """`ids` with every occurrence of `pair`, scanned left to right, replaced by `new_id`."""
    left, right = pair
    merged, i, n = [], 0, len(ids)
    while i < n:
        if ids[i] == left and i + 1 < n and ids[i + 1] == right:
            merged.append(new_id)
            i += 2
        else:
            merged.append(ids[i])
            i += 1
    return merged


def learn_merges(
    words: list[list[int]], freqs: list[int], n_merges: int, progress: bool = False
) -> dict[tuple[int, int], int]:
    """BPE training on distinct pieces `words` (byte lists, changed in place) with their frequencies.

    Keeps pair counts, the set of pieces each pair occurs in, and a max-heap of (count, pair) entries;
    a heap entry whose count is no longer current is skipped when it surfaces.
    """
    pair_counts: dict[tuple[int, int], int] = {}
    where: dict[tuple[int, int], set[int]] = {}
    for w, (word, freq) in enumerate(zip(words, freqs, strict=True)):
        for pair in pairwise(word):
            pair_counts[pair] = pair_counts.get(pair, 0) + freq
            where.setdefault(pair, set()).add(w)
    heap = [(-count, pair) for pair, count in pair_counts.items()]
    heapq.heapify(heap)

    merges: dict[tuple[int, int], int] = {}
    new_id = 256
    bar = tqdm(total=n_merges, desc="merges", disable=not progress)
    while len(merges) < n_merges and heap:
        neg_count, pair = heapq.heappop(heap)
        if pair_counts.get(pair) != -neg_count:
            continue  # stale entry
        merges[pair] = new_id
        delta: dict[tuple[int, int], int] = {}
        get = delta.get
        for w in where.pop(pair):
            word = words[w]
            merged = merge_pair(word, pair, new_id)
            if len(merged) == len(word):
                continue  # this piece no longer holds the pair (the index is not pruned)
            freq = freqs[w]
            for old in pairwise(word):
                delta[old] = get(old, 0) - freq
            for new in pairwise(merged):
                delta[new] = get(new, 0) + freq
                if new_id in new:
                    where.setdefault(new, set()).add(w)
            words[w] = merged
        for changed, d in delta.items():
            if d:
                count = pair_counts.get(changed, 0) + d
                if count > 0:
                    pair_counts[changed] = count
                    heapq.heappush(heap, (-count, changed))
                else:
                    del pair_counts[changed]
        pair_counts.pop(pair, None)
        new_id += 1
        bar.update()
    bar.close()
    return merges
