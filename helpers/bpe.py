"""Byte pair encoding from scratch: GPT-2's byte table, its pre-tokenizing regex, and `BPETokenizer`.

Built in notebooks/02_text_and_tokens.ipynb, "Beyond the book: byte pair encoding from scratch": `bytes_to_unicode`
("Bytes, and GPT-2's byte-to-unicode table"), `GPT2_PATTERN` ("The pre-tokenizing regex"), the merge loop
(`merge_steps`, "The merge loop") and `BPETokenizer` ("`BPETokenizer`, trained on the story"). Merging one pair and
learning merges are in `helpers.merges`; GPT-2's own files are read by `helpers.gpt2_tokenizer`.
"""

from __future__ import annotations

import json
import operator
import os
from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping, Sequence
from itertools import pairwise
from pathlib import Path
from typing import Literal

import regex

from helpers.checks import as_token_id, check_int, check_text, plural
from helpers.merges import learn_merges, merge_pair
from helpers.text import ENDOFTEXT

__all__ = ["GPT2_PATTERN", "BPETokenizer", "bytes_to_unicode", "compile_pattern", "count_pieces", "read_text_file"]

# GPT-2's pre-tokenizer: contractions, then runs of letters, digits or other symbols (each optionally
# preceded by one space), then whitespace. Possessive quantifiers (`++`) need no backtracking.
GPT2_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""


def compile_pattern(pattern: object) -> regex.Pattern:
    """The pre-tokenizer regex `pattern`, compiled; a `TypeError`/`ValueError` naming it when it is not one."""
    if not isinstance(pattern, str):
        raise TypeError(f"pattern must be a regex string, got {type(pattern).__name__}")
    try:
        return regex.compile(pattern)
    except regex.error as err:
        raise ValueError(f"pattern {pattern!r} is not a valid regex: {err}") from None


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


_FORMAT = "helpers.tokenizers.BPETokenizer"  # the module's first name: files saved since then stay readable
_FORMAT_VERSION = 1
_CACHE_MAX = 100_000  # pieces remembered by the encoder before its cache is cleared
_CACHE_MAX_PIECE = 64  # longer pieces (long runs of spaces, long words) are not remembered


class BPETokenizer:
    """Byte-level byte pair encoding, as GPT-2 does it: train it, or load GPT-2's own merges.

    `merges` maps a pair of token ids to the id of the merged token, in merge order (earlier merges are
    applied first). `byte_ids[b]` is the id of the single byte `b` (GPT-2 orders its bytes differently from
    0..255; None for a byte that has no token, as in SmolLM2's vocabulary (notebooks/08_llama.ipynb): such a byte
    is left out before merging, as Hugging Face's tokenizers do). `special_tokens` maps strings such as
    `<|endoftext|>` to their ids. `pattern` is the pre-tokenizing regex (the `regex` module's syntax): text is split
    into pieces first, and merges never cross a piece boundary.
    """

    def __init__(
        self,
        merges: Mapping[tuple[int, int], int],
        special_tokens: Mapping[str, int] | None = None,
        *,
        pattern: str = GPT2_PATTERN,
        byte_ids: Sequence[int] | None = None,
    ) -> None:
        byte_ids = list(range(256)) if byte_ids is None else [b if b is None else as_token_id(b) for b in byte_ids]
        present = [b for b in byte_ids if b is not None]
        if len(byte_ids) != 256 or len(set(present)) != len(present) or min(present, default=-1) < 0:
            raise ValueError(f"byte_ids must be 256 distinct ids >= 0 (None for a byte without a token), one per "
                             f"byte value, got {plural(len(byte_ids), 'id')}")
        vocab: dict[int, bytes] = {idx: bytes([b]) for b, idx in enumerate(byte_ids) if idx is not None}
        checked_merges = _check_merges(merges, vocab)  # adds each merged token's bytes to vocab
        specials = _check_specials(special_tokens, vocab)
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

    def merge_steps(self, piece: str) -> Iterator[tuple[list[int], int | None]]:
        """The merge loop on one pre-token piece, step by step: yields its byte ids first (with rank None), then the
        ids after each merge with that merge's rank. Each step merges the present pair of lowest rank (the pair
        learned earliest), everywhere it occurs; the loop ends when no present pair has a merge."""
        ids = [self.byte_ids[b] for b in piece.encode("utf-8")]
        if None in ids:  # bytes without a token are left out
            ids = [i for i in ids if i is not None]
        yield ids, None
        ranks, merges = self._ranks, self.merges
        while len(ids) > 1:
            best_rank, best = None, None
            for pair in pairwise(ids):
                rank = ranks.get(pair)
                if rank is not None and (best_rank is None or rank < best_rank):
                    best_rank, best = rank, pair
            if best is None:
                return
            ids = merge_pair(ids, best, merges[best])
            yield ids, best_rank

    def _merge_piece(self, piece: str) -> list[int]:
        """Ids of one pre-token piece: the last step of `merge_steps`."""
        *_, (ids, _rank) = self.merge_steps(piece)
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
        check_text(text)
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
        check_text(text)
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
                idx = as_token_id(value)
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
        check_text(text)
        check_int(vocab_size, "vocab_size", minimum=None)
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
        words, freqs = count_pieces(text, pattern, specials)
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
        text = read_text_file(path, expects)
        try:
            state = json.loads(text)
        except json.JSONDecodeError as err:
            raise ValueError(f"{path} is not a saved BPETokenizer: invalid JSON ({err}); {expects}") from None
        if not isinstance(state, dict) or state.get("format") != _FORMAT:
            raise ValueError(
                f"{path} is not a saved BPETokenizer (no \"format\": {_FORMAT!r} entry); {expects}; GPT-2's own "
                f"encoder.json and vocab.bpe load with helpers.gpt2_tokenizer.gpt2_bpe"
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


def read_text_file(path: str | os.PathLike, expects: str) -> str:
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


def count_pieces(
    text: str, pattern: str = GPT2_PATTERN, specials: Collection[str] = ()
) -> tuple[list[list[int]], list[int]]:
    """The distinct pre-token pieces of `text` as byte lists, and how often each occurs (what `learn_merges` takes).

    Special-token strings are cut out first, so that no piece spans one.
    """
    pat = compile_pattern(pattern)
    parts = regex.split("|".join(regex.escape(s) for s in specials), text) if specials else [text]
    counts = Counter(piece for part in parts for piece in pat.findall(part))
    return [list(piece.encode("utf-8")) for piece in counts], list(counts.values())


def _check_merges(merges: object, vocab: dict[int, bytes]) -> dict[tuple[int, int], int]:
    """The merges as {(left, right): new} of plain ints, each built from ids defined before it; adds to `vocab`."""
    if not isinstance(merges, Mapping):
        raise TypeError(f"merges must map (id, id) pairs to new ids, got {type(merges).__name__}")
    checked: dict[tuple[int, int], int] = {}
    for pair, new in merges.items():
        if not (isinstance(pair, tuple) and len(pair) == 2):
            raise TypeError(f"merges must map (id, id) pairs to new ids, got the key {pair!r}")
        left, right, new = as_token_id(pair[0]), as_token_id(pair[1]), as_token_id(new)
        for part in (left, right):
            if part not in vocab:
                raise ValueError(f"merge {pair!r} -> {new} uses id {part}, which no earlier merge or byte defines")
        if new in vocab or new < 0:
            raise ValueError(f"merge {pair!r} -> {new}: id {new} is already in use (or negative)")
        vocab[new] = vocab[left] + vocab[right]
        checked[(left, right)] = new
    return checked


def _check_specials(special_tokens: object, vocab: Mapping[int, bytes]) -> dict[str, int]:
    """The special tokens as {text: id}, each a non-empty string with an id no other token uses."""
    if special_tokens is not None and not isinstance(special_tokens, Mapping):
        raise TypeError(f"special_tokens must map strings to ids, got {type(special_tokens).__name__}")
    specials: dict[str, int] = {}
    for text, idx in (special_tokens or {}).items():
        idx = as_token_id(idx)
        if not isinstance(text, str) or not text:
            raise ValueError(f"special tokens must be non-empty strings, got {text!r}")
        if idx in vocab or idx in specials.values() or idx < 0:
            raise ValueError(f"special token {text!r}: id {idx} is already in use (or negative)")
        specials[text] = idx
    return specials
