"""The message helpers `plural` (helpers.checks) and `show_whitespace` (helpers.text); errors that name the file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.bpe import BPETokenizer
from helpers.checks import plural
from helpers.gpt2_tokenizer import gpt2_bpe
from helpers.text import ENDOFTEXT, SimpleTokenizerV1, show_whitespace

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "count, noun, expected",
    [(0, "window", "0 windows"), (1, "window", "1 window"), (2, "window", "2 windows"), (1, "batch", "1 batch"),
     (3, "batch", "3 batches"), (2, "process", "2 processes"), (2, "box", "2 boxes"), (2, "wish", "2 wishes"),
     (1, "special token", "1 special token"), (256, "special token", "256 special tokens"), (-1, "step", "-1 steps")],
)
def test_plural(count, noun, expected):
    assert plural(count, noun) == expected


def test_plural_with_an_irregular_form():
    assert plural(1, "child", "children") == "1 child"
    assert plural(2, "child", "children") == "2 children"


def test_show_whitespace_makes_newlines_and_tabs_visible():
    assert show_whitespace("Every effort moves you\n\n\tto\r\n") == "Every effort moves you↵↵→to␍↵"
    assert show_whitespace("no whitespace but spaces") == "no whitespace but spaces"
    with pytest.raises(TypeError, match="text must be a str, got bytes"):
        show_whitespace(b"bytes")


# --- counts in messages ---


def test_one_word_vocabulary_is_singular():
    with pytest.raises(KeyError, match=r"'b' is not in the vocabulary \(1 word\)"):
        SimpleTokenizerV1({"a": 0}).encode("b")
    with pytest.raises(KeyError, match=r"'c' is not in the vocabulary \(2 words\)"):
        SimpleTokenizerV1({"a": 0, "b": 1}).encode("c")


def test_byte_ids_count_is_singular_for_one():
    with pytest.raises(ValueError, match=r"one per byte value, got 1 id$"):
        BPETokenizer({}, byte_ids=[0])
    with pytest.raises(ValueError, match=r"one per byte value, got 2 ids$"):
        BPETokenizer({}, byte_ids=[0, 1])


def test_vocab_size_message_counts_special_tokens():
    with pytest.raises(ValueError, match=r"at least 257 \(256 bytes \+ 1 special token\), got 256"):
        BPETokenizer.train("some text", 256)
    with pytest.raises(ValueError, match=r"at least 258 \(256 bytes \+ 2 special tokens\), got 257"):
        BPETokenizer.train("some text", 257, (ENDOFTEXT, "<|pad|>"))


# --- files that are missing or are not what `load` and `gpt2_bpe` read ---

LOAD_EXPECTS = "BPETokenizer.load expects a JSON file written by BPETokenizer.save"


def test_load_of_a_missing_file_names_it_and_what_load_expects(tmp_path):
    with pytest.raises(FileNotFoundError) as info:
        BPETokenizer.load(tmp_path / "no-such-file.json")
    assert str(info.value) == f"{tmp_path / 'no-such-file.json'} does not exist; {LOAD_EXPECTS}"
    with pytest.raises(FileNotFoundError, match=f"^no-such-file.json does not exist; {LOAD_EXPECTS}$"):
        BPETokenizer.load("no-such-file.json")


def test_load_of_a_folder_names_it(tmp_path):
    with pytest.raises(IsADirectoryError, match=f"is a folder, not a file; {LOAD_EXPECTS}"):
        BPETokenizer.load(tmp_path)


def test_load_of_a_binary_file_is_a_value_error(tmp_path):
    path = tmp_path / "weights.bin"
    path.write_bytes(bytes([0x80, 0xFF, 0x00, 0x01]) * 10)
    with pytest.raises(ValueError, match=f"weights.bin is not UTF-8 text \\(byte 0: invalid start byte\\); "
                                         f"{LOAD_EXPECTS}"):
        BPETokenizer.load(path)


def test_load_of_other_json_says_what_load_expects(tmp_path):
    (tmp_path / "notes.txt").write_text("just some notes")
    with pytest.raises(ValueError, match=f"notes.txt is not a saved BPETokenizer: invalid JSON .*; {LOAD_EXPECTS}"):
        BPETokenizer.load(tmp_path / "notes.txt")
    # GPT-2's encoder.json is JSON, but not a saved BPETokenizer: the message points to the loader for it
    encoder = {"!": 0, "\"": 1, "hello": 2}
    (tmp_path / "encoder.json").write_text(json.dumps(encoder))
    with pytest.raises(ValueError, match=f"encoder.json is not a saved BPETokenizer .*; {LOAD_EXPECTS}; GPT-2's own "
                                         f"encoder.json and vocab.bpe load with helpers.gpt2_tokenizer.gpt2_bpe"):
        BPETokenizer.load(tmp_path / "encoder.json")


def test_gpt2_bpe_names_a_missing_file(tmp_path):
    encoder_json = ROOT / "datasets" / "gpt2" / "encoder.json"
    with pytest.raises(FileNotFoundError, match=r"vocab.bpe does not exist; gpt2_bpe expects GPT-2's encoder.json "
                                                r"and vocab.bpe \(gpt2_bpe\(\) reads the course's copies\)"):
        gpt2_bpe(encoder_json, tmp_path / "vocab.bpe")
    with pytest.raises(FileNotFoundError, match=r"nothing.json does not exist; gpt2_bpe expects"):
        gpt2_bpe(tmp_path / "nothing.json", tmp_path / "vocab.bpe")
