"""helpers.gpt2_tokenizer.gpt2_encoding: the same encoding as tiktoken's own "gpt2", without a download."""

from __future__ import annotations

import hashlib
import shutil

import pytest
import tiktoken

from helpers.datafiles import DATA_FILES, fetch, load_text
from helpers.gpt2_tokenizer import gpt2_encoding
from helpers.text import ENDOFTEXT

SENTENCE = "Hello, do you like tea? <|endoftext|> In the sunlit terraces of someunknownPlace."
BOOK_IDS = [15496, 11, 466, 345, 588, 8887, 30, 220, 50256, 554, 262, 4252, 18250, 8812, 2114, 286, 617, 34680, 27271,
            13]


@pytest.fixture(scope="module")
def tiktoken_gpt2(tmp_path_factory) -> tiktoken.Encoding:
    """tiktoken.get_encoding("gpt2") itself, offline: its cache is seeded with the verified files."""
    cache = tmp_path_factory.mktemp("tiktoken-cache")
    for name in ("gpt2/vocab.bpe", "gpt2/encoder.json"):
        key = hashlib.sha1(DATA_FILES[name].url.encode()).hexdigest()  # tiktoken's cache key
        shutil.copy(fetch(name), cache / key)
    mp = pytest.MonkeyPatch()
    mp.setenv("TIKTOKEN_CACHE_DIR", str(cache))
    tiktoken.registry.ENCODINGS.pop("gpt2", None)
    try:
        yield tiktoken.get_encoding("gpt2")
    finally:
        tiktoken.registry.ENCODINGS.pop("gpt2", None)
        mp.undo()


def test_book_sentence_ids():
    enc = gpt2_encoding()
    assert enc.encode(SENTENCE, allowed_special={ENDOFTEXT}) == BOOK_IDS
    assert enc.decode(BOOK_IDS) == SENTENCE


def test_the_verdict_has_5145_tokens():
    text = load_text("the-verdict.txt")
    assert len(text) == 20479
    assert len(gpt2_encoding().encode(text)) == 5145


def test_identical_to_tiktoken_gpt2(tiktoken_gpt2):
    ours = gpt2_encoding()
    assert ours.name == tiktoken_gpt2.name
    assert ours._pat_str == tiktoken_gpt2._pat_str
    assert ours._mergeable_ranks == tiktoken_gpt2._mergeable_ranks
    assert ours._special_tokens == tiktoken_gpt2._special_tokens == {ENDOFTEXT: 50256}
    assert ours.n_vocab == tiktoken_gpt2.n_vocab == 50257
    text = load_text("the-verdict.txt")
    assert ours.encode(text) == tiktoken_gpt2.encode(text)


def test_special_token_must_be_allowed():
    with pytest.raises(ValueError, match="endoftext"):
        gpt2_encoding().encode(SENTENCE)
