"""helpers.text, the word level: split_words, join_words, SimpleTokenizerV1, SimpleTokenizerV2 (the book's 2.2-2.4)."""

from __future__ import annotations

import pytest

from helpers.datafiles import load_text
from helpers.text import ENDOFTEXT, UNK, SimpleTokenizerV1, SimpleTokenizerV2, join_words, split_words

BOOK_TEXT_V1 = """"It's the last he painted, you know," Mrs. Gisburn said with pardonable pride."""
BOOK_IDS_V1 = [1, 56, 2, 850, 988, 602, 533, 746, 5, 1126, 596, 5, 1, 67, 7, 38, 851, 1108, 754, 793, 7]
BOOK_TEXT_V2 = "Hello, do you like tea? <|endoftext|> In the sunlit terraces of the palace."
BOOK_IDS_V2 = [1131, 5, 355, 1126, 628, 975, 10, 1130, 55, 988, 956, 984, 722, 988, 1131, 7]


@pytest.fixture(scope="module")
def words() -> list[str]:
    return split_words(load_text("the-verdict.txt"))


@pytest.fixture(scope="module")
def vocab(words) -> dict[str, int]:
    return {word: i for i, word in enumerate(sorted(set(words)))}


@pytest.fixture(scope="module")
def vocab_v2(vocab) -> dict[str, int]:
    all_tokens = [*vocab, ENDOFTEXT, UNK]
    return {token: i for i, token in enumerate(all_tokens)}


def test_the_book_split_examples():
    assert split_words("Hello, world. This, is a test.") == ["Hello", ",", "world", ".", "This", ",", "is", "a",
                                                             "test", "."]
    assert split_words("Hello, world. Is this-- a test?") == ["Hello", ",", "world", ".", "Is", "this", "--", "a",
                                                              "test", "?"]


def test_the_verdict_has_4690_tokens_and_1130_words(words, vocab):
    assert len(load_text("the-verdict.txt")) == 20479
    assert len(words) == 4690
    assert words[:10] == ["I", "HAD", "always", "thought", "Jack", "Gisburn", "rather", "a", "cheap", "genius"]
    assert len(vocab) == 1130
    assert list(vocab.items())[:3] == [("!", 0), ('"', 1), ("'", 2)]
    assert list(vocab.items())[49:51] == [("Her", 49), ("Hermia", 50)]


def test_v1_book_round_trip(vocab):
    tokenizer = SimpleTokenizerV1(vocab)
    ids = tokenizer.encode(BOOK_TEXT_V1)
    assert ids == BOOK_IDS_V1
    assert tokenizer.decode(ids) == BOOK_TEXT_V1  # the book's decoder printed '" It\' s the last ...'


def test_v1_unknown_word_is_a_key_error_naming_it(vocab):
    with pytest.raises(KeyError, match="'Hello' is not in the vocabulary"):
        SimpleTokenizerV1(vocab).encode("Hello, do you like tea?")


def test_v2_vocabulary_has_1132_entries(vocab_v2):
    assert len(vocab_v2) == 1132
    assert list(vocab_v2.items())[-2:] == [(ENDOFTEXT, 1130), (UNK, 1131)]


def test_v2_book_example(vocab_v2):
    tokenizer = SimpleTokenizerV2(vocab_v2)
    ids = tokenizer.encode(BOOK_TEXT_V2)
    assert ids == BOOK_IDS_V2
    assert tokenizer.decode(ids) == "<|unk|>, do you like tea? <|endoftext|> In the sunlit terraces of the <|unk|>."


def test_v2_special_token_needs_no_surrounding_spaces(vocab_v2):
    tokenizer = SimpleTokenizerV2(vocab_v2)
    assert tokenizer.encode("tea?<|endoftext|>In the") == [975, 10, 1130, 55, 988]


@pytest.mark.parametrize(
    "words, text",
    [
        (["genius", "--", "though", "a"], "genius--though a"),
        (["Yes", ",", "he", "said", ";", "why", "?", "!"], "Yes, he said; why?!"),
        (["(", "Though", "I", "thought", ")", "."], "(Though I thought)."),
        (["I", "don", "'", "t", "know", "it", "'", "s", "Jack", "'", "s"], "I don't know it's Jack's"),
        (['"', "Hi", ",", '"', "he", "said", ".", '"', "Bye", '"'], '"Hi," he said. "Bye"'),
        (["he", "doesn", "'", "t", "_", "have", "_", "to"], "he doesn't _have_ to"),
        ([], ""),
    ],
)
def test_join_words_adds_no_space_the_stream_rules_out(words, text):
    assert join_words(words) == text
    assert split_words(text) == words


def test_decode_of_the_verdict_only_loses_what_words_cannot_tell(vocab):
    text = load_text("the-verdict.txt")
    tokenizer = SimpleTokenizerV1(vocab)
    decoded = tokenizer.decode(tokenizer.encode(text))
    assert split_words(decoded) == split_words(text)
    assert "\n" not in decoded and "  " not in decoded  # newlines and runs of spaces are gone
    assert decoded.startswith("I HAD always thought Jack Gisburn rather a cheap genius--though a good fellow")


@pytest.mark.parametrize("cls", [SimpleTokenizerV1, SimpleTokenizerV2])
def test_text_must_be_a_str(cls, vocab_v2):
    with pytest.raises(TypeError, match="text must be a str, got bytes"):
        cls(vocab_v2).encode(b"Hello")


@pytest.mark.parametrize("cls", [SimpleTokenizerV1, SimpleTokenizerV2])
def test_decode_unknown_id_names_it(cls, vocab_v2):
    with pytest.raises(KeyError, match="token id 5000 is not in the vocabulary"):
        cls(vocab_v2).decode([1, 5000])
    with pytest.raises(TypeError, match="token ids must be integers, got str"):
        cls(vocab_v2).decode(["the"])


def test_vocab_must_be_a_str_to_unique_int_mapping():
    with pytest.raises(TypeError, match="vocab must be a mapping"):
        SimpleTokenizerV1(["a", "b"])
    with pytest.raises(TypeError, match="vocab must map str to int"):
        SimpleTokenizerV1({"a": "0"})
    with pytest.raises(ValueError, match="gives the id 0 to both 'a' and 'b'"):
        SimpleTokenizerV1({"a": 0, "b": 0})


def test_v2_needs_an_unk_token(vocab):
    with pytest.raises(ValueError, match=r"needs '<\|unk\|>'"):
        SimpleTokenizerV2(vocab)
