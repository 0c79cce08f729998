"""Word-level tokenizers: from raw text to words, and from words to token ids with a fixed vocabulary.

Built in notebooks/02_text_and_tokens.ipynb: `split_words` in section 2.2 ("Tokenizing text"), `SimpleTokenizerV1`
in 2.3 ("Converting tokens into token IDs"), `SimpleTokenizerV2` with `<|unk|>` and `<|endoftext|>` in 2.4 ("Adding
special context tokens"), and `join_words` in "Beyond the book: decoding without invented spaces".
`show_whitespace` prints a text on one line with its newlines visible (the samples of the training loops use it).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping, Sequence

from helpers.checks import as_token_id, check_text, plural

__all__ = [
    "BOOK_SPLIT",
    "SPECIAL_FORM",
    "ENDOFTEXT",
    "UNK",
    "SimpleTokenizerV1",
    "SimpleTokenizerV2",
    "join_words",
    "show_whitespace",
    "split_words",
]

ENDOFTEXT = "<|endoftext|>"
UNK = "<|unk|>"

# How a printed text shows whitespace that would otherwise look like nothing (helpers.teaching shows tokens so too).
VISIBLE_WHITESPACE = str.maketrans({"\n": "↵", "\t": "→", "\r": "␍"})


def show_whitespace(text: str) -> str:
    """`text` on one line, with newlines shown as ↵, tabs as → and carriage returns as ␍."""
    return check_text(text).translate(VISIBLE_WHITESPACE)


# The book's splitting rule: punctuation marks, the double dash `--` and whitespace separate words.
BOOK_SPLIT = r'([,.:;?_!"()\']|--|\s)'
_BOOK_SPLIT = re.compile(BOOK_SPLIT)
SPECIAL_FORM = re.compile(r"<\|[^|<>\s]+\|>")  # <|endoftext|>, <|unk|>

# What the spacing rules of `join_words` know about punctuation.
_NO_SPACE_BEFORE = frozenset(",.:;?!)")
_NO_SPACE_AFTER = frozenset("(")
_DASH = "--"
_PAIRED = frozenset('"_')  # marks that come in open/close pairs: quotes and _italics_
_SUFFIXES = frozenset({"s", "t", "d", "m", "ll", "re", "ve"})  # after an apostrophe: it's, don't, I'd, ...


def split_words(text: str, specials: Collection[str] = ()) -> list[str]:
    """The book's word split: punctuation and `--` become tokens, whitespace is dropped; `specials` stay whole."""
    check_text(text)
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
        self._specials = tuple(s for s in self.str_to_int if SPECIAL_FORM.fullmatch(s))

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
            idx = as_token_id(value)
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
