"""helpers.bpe.BPETokenizer: GPT-2's BPE from scratch equals tiktoken; training, save/load, bad input."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from helpers.bpe import GPT2_PATTERN, BPETokenizer, bytes_to_unicode
from helpers.datafiles import load_text
from helpers.gpt2_tokenizer import gpt2_bpe, gpt2_encoding
from helpers.text import ENDOFTEXT

ROOT = Path(__file__).resolve().parent.parent
BOOK_SENTENCE = "Hello, do you like tea? <|endoftext|> In the sunlit terraces of someunknownPlace."
BOOK_IDS = [15496, 11, 466, 345, 588, 8887, 30, 220, 50256, 554, 262, 4252, 18250, 8812, 2114, 286, 617, 34680, 27271,
            13]

HARD_CASES = {
    "runs of spaces": "a  b   c    d",
    "newlines": "line one\nline two\n\n\nline five\r\n",
    "spaces and newlines": "x \n \n  y\n   \n",
    "tabs": "\tcol1\tcol2\t\t col3 \t",
    "digits": "1 22 333 4444 55555 3.14159 2024-11-28 +1(555)0100",
    "contractions": "it's don't we're I've I'm you'll he'd IT'S DON'T 's 't 're 've 'm 'll 'd ''",
    "punctuation runs": "Wait!!! What?!?... (yes) -- [no] {maybe}; ...,,,'\"'",
    "accented letters": "café naïve résumé Ångström Dvořák Łódź",
    "CJK": "日本語のテキストを分割する。中文分词，한국어 텍스트",
    "emoji": "👋🏽 hi 🎉🎉 👨‍👩‍👧 ❤️",
    "ends in spaces": "trailing spaces   ",
    "only spaces": "     ",
    "empty": "",
    "special token as text": "a <|endoftext|> b",
}


@pytest.fixture(scope="module")
def gpt2() -> BPETokenizer:
    return gpt2_bpe()


@pytest.fixture(scope="module")
def verdict() -> str:
    return load_text("the-verdict.txt")


@pytest.fixture(scope="module")
def trained(verdict) -> BPETokenizer:
    return BPETokenizer.train(verdict, 1000)


def load_benchmark():
    """benchmarks/bench_bpe.py as a module: its `recount_train` is the reference trainer."""
    spec = importlib.util.spec_from_file_location("bench_bpe", ROOT / "benchmarks" / "bench_bpe.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- GPT-2's BPE from its files ---


def test_bytes_to_unicode_is_gpt2s_table():
    table = bytes_to_unicode()
    assert list(table) == list(range(256))
    assert len(set(table.values())) == 256
    assert table[ord("A")] == "A" and table[ord(" ")] == "Ġ" and table[ord("\n")] == "Ċ"
    assert all(ch.isprintable() and not ch.isspace() for ch in table.values())


def test_book_sentence_and_5145_tokens(gpt2, verdict):
    assert gpt2.encode(BOOK_SENTENCE, allowed_special={ENDOFTEXT}) == BOOK_IDS
    assert gpt2.decode(BOOK_IDS) == BOOK_SENTENCE
    assert len(gpt2.encode(verdict)) == 5145
    assert gpt2.n_vocab == 50257


def test_unknown_word_splits_into_subwords(gpt2):
    ids = gpt2.encode("Akwirw ier")
    assert ids == [33901, 86, 343, 86, 220, 959]
    assert [gpt2.decode([i]) for i in ids] == ["Ak", "w", "ir", "w", " ", "ier"]


def test_the_verdict_ids_equal_tiktoken(gpt2, verdict):
    assert gpt2.encode(verdict) == gpt2_encoding().encode(verdict)


@pytest.mark.parametrize("text", HARD_CASES.values(), ids=HARD_CASES.keys())
def test_hard_cases_equal_tiktoken(gpt2, text):
    enc = gpt2_encoding()
    assert gpt2.encode_ordinary(text) == enc.encode_ordinary(text)
    assert gpt2.encode(text, allowed_special="all") == enc.encode(text, allowed_special="all")
    assert gpt2.encode(text, disallowed_special=()) == enc.encode(text, disallowed_special=())
    assert gpt2.decode(gpt2.encode_ordinary(text)) == text


def test_endoftext_allowed_and_disallowed(gpt2):
    enc = gpt2_encoding()
    text = "first story<|endoftext|>second story"
    assert gpt2.encode(text, allowed_special={ENDOFTEXT}) == enc.encode(text, allowed_special={ENDOFTEXT})
    assert 50256 in gpt2.encode(text, allowed_special={ENDOFTEXT})
    assert 50256 not in gpt2.encode(text, disallowed_special=())
    with pytest.raises(ValueError, match=r"special token '<\|endoftext\|>'"):
        gpt2.encode(text)
    with pytest.raises(ValueError):  # tiktoken does the same
        enc.encode(text)


def test_lone_surrogates_are_replaced_as_tiktoken_does(gpt2):
    text = "a\ud800b"
    assert gpt2.encode(text) == gpt2_encoding().encode(text)
    assert gpt2.decode(gpt2.encode(text)) == "a\ufffdb"


def test_decode_of_partial_utf8_uses_replacement_like_tiktoken(gpt2):
    ids = gpt2.encode("🎉")
    assert len(ids) > 1
    assert gpt2.decode(ids[:1]) == gpt2_encoding().decode(ids[:1])
    assert gpt2.decode_bytes(ids) == "🎉".encode()


# Characters that Unicode 14 (Python's own unicodedata) had assigned; see the note in the notebook, section 8:
# the `regex` module and tiktoken's Rust regex may know different Unicode versions for later characters.
ASSIGNED = st.characters(exclude_categories=("Cs", "Cn"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=ASSIGNED, max_size=60))
def test_equals_tiktoken_on_any_text(gpt2, text):
    assert gpt2.encode_ordinary(text) == gpt2_encoding().encode_ordinary(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(alphabet=st.sampled_from(" \t\n\r'sdmtlvreAa1!é中🎉"), max_size=40))
def test_equals_tiktoken_on_whitespace_and_contraction_soup(gpt2, text):
    assert gpt2.encode_ordinary(text) == gpt2_encoding().encode_ordinary(text)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(text=st.text(max_size=60))
def test_decode_encode_round_trip(gpt2, trained, text):
    assert gpt2.decode(gpt2.encode_ordinary(text)) == text
    assert trained.decode(trained.encode_ordinary(text)) == text


# --- training ---


def test_trained_sizes_and_round_trip(trained, verdict):
    assert trained.n_vocab == 1000
    assert len(trained.merges) == 1000 - 256 - 1
    assert trained.special_tokens == {ENDOFTEXT: 999}
    ids = trained.encode(verdict)
    assert trained.decode(ids) == verdict
    assert len(ids) < len(verdict.encode("utf-8")) / 2
    assert max(ids) < 999


def test_training_equals_the_recount_reference():
    recount_train = load_benchmark().recount_train
    text = load_text("the-verdict.txt")[:4000] + ENDOFTEXT + "aaaa aaa aa a aaaaaaa abab ababab"
    assert BPETokenizer.train(text, 420).merges == recount_train(text, 420)


def test_merged_tokens_are_the_concatenation_of_their_parts(trained):
    for (left, right), new in trained.merges.items():
        assert trained.vocab[new] == trained.vocab[left] + trained.vocab[right]


def test_more_merges_never_give_more_tokens(verdict):
    lengths = [len(BPETokenizer.train(verdict, size, ()).encode(verdict)) for size in (256, 300, 500, 900)]
    assert lengths[0] == len(verdict.encode("utf-8"))
    assert lengths == sorted(lengths, reverse=True) and len(set(lengths)) == 4


def test_special_tokens_in_training_text_are_not_learned():
    text = "ab<|endoftext|>ab<|endoftext|>ab<|endoftext|>"
    tokenizer = BPETokenizer.train(text, 258)
    assert [tokenizer.vocab[i] for i in tokenizer.merges.values()] == [b"ab"]
    assert tokenizer.encode(text, allowed_special="all") == [256, 257] * 3


def test_training_special_tokens_get_the_last_ids():
    tokenizer = BPETokenizer.train("hello hello", 262, special_tokens=("<|endoftext|>", "<|pad|>"))
    assert tokenizer.special_tokens == {"<|endoftext|>": 260, "<|pad|>": 261}
    assert tokenizer.encode("hello<|pad|>", allowed_special={"<|pad|>"})[-1] == 261


# --- save / load ---


def test_save_load_round_trip(trained, verdict, tmp_path):
    path = tmp_path / "verdict-1000.json"
    trained.save(path)
    loaded = BPETokenizer.load(path)
    assert loaded.merges == trained.merges
    assert list(loaded.merges) == list(trained.merges)  # merge order is the rank order
    assert loaded.special_tokens == trained.special_tokens
    assert loaded.pattern == trained.pattern == GPT2_PATTERN
    assert loaded.encode(verdict) == trained.encode(verdict)
    assert json.loads(path.read_text())["format"] == "helpers.tokenizers.BPETokenizer"


def test_save_load_gpt2(gpt2, verdict, tmp_path):
    gpt2.save(tmp_path / "gpt2.json")
    loaded = BPETokenizer.load(tmp_path / "gpt2.json")
    assert loaded.encode(verdict) == gpt2.encode(verdict)
    assert loaded.byte_ids == gpt2.byte_ids


@pytest.mark.parametrize(
    "content, message",
    [
        ("{not json", "invalid JSON"),
        ("[1, 2, 3]", "is not a saved BPETokenizer"),
        ('{"format": "something else"}', "is not a saved BPETokenizer"),
        ('{"format": "helpers.tokenizers.BPETokenizer", "version": 99}', "unsupported BPETokenizer file version 99"),
        ('{"format": "helpers.tokenizers.BPETokenizer", "version": 1}', "corrupt BPETokenizer file: missing entry"),
    ],
)
def test_corrupt_files_raise_a_clear_error(tmp_path, content, message):
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        BPETokenizer.load(path)


def test_truncated_or_edited_file_raises_a_clear_error(trained, tmp_path):
    path = tmp_path / "tok.json"
    trained.save(path)
    text = path.read_text()
    (tmp_path / "cut.json").write_text(text[: len(text) // 2])
    with pytest.raises(ValueError, match="cut.json is not a saved BPETokenizer: invalid JSON"):
        BPETokenizer.load(tmp_path / "cut.json")
    state = json.loads(text)
    first = state["merges"][0]
    state["merges"][0] = [998, 997, 256]  # uses ids that no earlier merge defines
    (tmp_path / "edited.json").write_text(json.dumps(state))
    with pytest.raises(ValueError, match="corrupt BPETokenizer file: merge .* uses id 998"):
        BPETokenizer.load(tmp_path / "edited.json")
    state["merges"][0] = first
    state["special_tokens"] = ["<|endoftext|>"]
    (tmp_path / "specials.json").write_text(json.dumps(state))
    with pytest.raises(ValueError, match="corrupt BPETokenizer file: special_tokens must map strings to ids, got list"):
        BPETokenizer.load(tmp_path / "specials.json")
    state["special_tokens"] = {ENDOFTEXT: 999}
    state["merges"][0:1] = [first, first]
    (tmp_path / "twice.json").write_text(json.dumps(state))
    with pytest.raises(ValueError, match=r"corrupt BPETokenizer file: the pair \[\d+, \d+\] is merged twice"):
        BPETokenizer.load(tmp_path / "twice.json")
    state["merges"][0] = [1, 2]
    (tmp_path / "short.json").write_text(json.dumps(state))
    with pytest.raises(ValueError, match=r"corrupt BPETokenizer file: each merge must be a list \[left, right, new\]"):
        BPETokenizer.load(tmp_path / "short.json")


def test_gpt2_bpe_rejects_mismatched_files(tmp_path):
    encoder = json.loads((ROOT / "datasets" / "gpt2" / "encoder.json").read_text(encoding="utf-8"))
    (tmp_path / "encoder.json").write_text(json.dumps(encoder))
    (tmp_path / "vocab.bpe").write_text("#version: 0.2\nĠ t\nĠ nosuchtoken\n", encoding="utf-8")
    with pytest.raises(ValueError, match="vocab.bpe, line 3: token 'nosuchtoken' is not in"):
        gpt2_bpe(tmp_path / "encoder.json", tmp_path / "vocab.bpe")
    (tmp_path / "vocab.bpe").write_text("#version: 0.2\nĠ t\n", encoding="utf-8")  # too few merges for encoder.json
    with pytest.raises(ValueError, match="does not match the merges"):
        gpt2_bpe(tmp_path / "encoder.json", tmp_path / "vocab.bpe")
    (tmp_path / "broken.json").write_text("{")
    with pytest.raises(ValueError, match="broken.json is not valid JSON"):
        gpt2_bpe(tmp_path / "broken.json", tmp_path / "vocab.bpe")


# --- bad input ---


@pytest.mark.parametrize("method", ["encode", "encode_ordinary"])
@pytest.mark.parametrize("bad", [b"bytes", None, ["a", "list"], 42])
def test_text_must_be_a_str(gpt2, method, bad):
    with pytest.raises(TypeError, match=f"text must be a str, got {type(bad).__name__}"):
        getattr(gpt2, method)(bad)


def test_train_text_must_be_a_str():
    with pytest.raises(TypeError, match="text must be a str, got bytes"):
        BPETokenizer.train(b"some bytes", 300)


def test_decode_unknown_id_names_it(gpt2, trained):
    with pytest.raises(KeyError, match="token id 50257 is not in this tokenizer's vocabulary"):
        gpt2.decode([15496, 50257])
    with pytest.raises(KeyError, match="token id -1 is not in"):
        gpt2.decode([-1])
    with pytest.raises(KeyError, match="token id 1000 is not in"):
        trained.decode([1000])
    with pytest.raises(TypeError, match="token ids must be integers, got str"):
        gpt2.decode(["Hello"])
    with pytest.raises(TypeError, match="token ids must be integers, got float"):
        gpt2.decode([1.0])
    with pytest.raises(TypeError, match="ids must be a sequence of token ids, got str"):
        gpt2.decode("15496")


def test_decode_accepts_numpy_and_torch_integers(gpt2):
    import numpy as np
    import torch

    assert gpt2.decode(np.array(BOOK_IDS)) == BOOK_SENTENCE
    assert gpt2.decode(torch.tensor(BOOK_IDS)) == BOOK_SENTENCE


def test_disallowed_special_token_is_named(gpt2):
    with pytest.raises(ValueError, match=r"contains the special token '<\|endoftext\|>', which is not allowed"):
        gpt2.encode("end<|endoftext|>")
    with pytest.raises(ValueError, match="endoftext"):
        gpt2.encode("end<|endoftext|>", allowed_special=set(), disallowed_special={ENDOFTEXT})
    with pytest.raises(TypeError, match="allowed_special must be 'all' or a set"):
        gpt2.encode("end", allowed_special=ENDOFTEXT)


@pytest.mark.parametrize("vocab_size, specials", [(256, ("<|endoftext|>",)), (255, ()), (0, ()), (257, ("a", "b"))])
def test_vocab_size_below_bytes_plus_specials(vocab_size, specials):
    with pytest.raises(ValueError, match=f"vocab_size must be at least {256 + len(specials)}"):
        BPETokenizer.train("some text", vocab_size, specials)


def test_train_rejects_bad_arguments():
    with pytest.raises(TypeError, match=r"vocab_size must be a whole number, got 300.0 \(float\)"):
        BPETokenizer.train("text", 300.0)
    with pytest.raises(TypeError, match="special_tokens must be a sequence of strings"):
        BPETokenizer.train("text", 300, ENDOFTEXT)
    with pytest.raises(ValueError, match="special_tokens has duplicates"):
        BPETokenizer.train("text", 300, (ENDOFTEXT, ENDOFTEXT))
    with pytest.raises(ValueError, match="special tokens must be non-empty strings"):
        BPETokenizer.train("text", 300, ("",))
    with pytest.raises(ValueError, match="is not a valid regex"):
        BPETokenizer.train("text", 300, pattern="(unclosed")


def test_progress_bar_counts_the_merges(capsys):
    BPETokenizer.train("the cat sat on the mat", 262, progress=True)
    err = capsys.readouterr().err
    assert "merges" in err and "5/5" in err
    BPETokenizer.train("the cat sat on the mat", 262)
    assert capsys.readouterr().err == ""


def test_train_says_when_the_text_is_too_small():
    with pytest.raises(ValueError, match=r"too few distinct byte pairs for vocab_size=300: it allows at most 261"):
        BPETokenizer.train("hello", 300)  # 256 bytes + 4 merges make h-e-l-l-o one token + <|endoftext|>


def test_constructor_validates_merges():
    with pytest.raises(ValueError, match="uses id 300, which no earlier merge or byte defines"):
        BPETokenizer({(1, 300): 256})
    with pytest.raises(ValueError, match="id 5 is already in use"):
        BPETokenizer({(1, 2): 5})
    with pytest.raises(ValueError, match="special token '<|x|>': id 256 is already in use"):
        BPETokenizer({(1, 2): 256}, {"<|x|>": 256})
    with pytest.raises(ValueError, match="byte_ids must be 256 distinct ids"):
        BPETokenizer({}, byte_ids=[0] * 256)
    with pytest.raises(ValueError, match="is not a valid regex"):
        BPETokenizer({}, pattern="(unclosed")
