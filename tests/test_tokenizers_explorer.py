"""The tokenizer explorer of notebook 02 (helpers.teaching.widgets.tokenizer_explorer), the token view it shows
(helpers.teaching.tokens) and the BPE figure of that notebook, driven headless."""

from __future__ import annotations

import pytest

from helpers.bpe import BPETokenizer
from helpers.datafiles import load_text
from helpers.gpt2_tokenizer import gpt2_bpe, gpt2_encoding
from helpers.teaching.plots import plot_tokens_per_word
from helpers.teaching.tokens import token_pieces, tokens_html
from helpers.teaching.widgets import tokenizer_explorer
from helpers.text import ENDOFTEXT, UNK, SimpleTokenizerV2, split_words


@pytest.fixture(scope="module")
def tokenizers() -> dict:
    text = load_text("the-verdict.txt")
    words = sorted(set(split_words(text))) + [ENDOFTEXT, UNK]
    return {
        "simple V2": SimpleTokenizerV2({w: i for i, w in enumerate(words)}),
        "GPT-2": gpt2_encoding(),
        "GPT-2 (ours)": gpt2_bpe(),
        "trained here": BPETokenizer.train(text, 1000),
    }


def test_explorer_shows_gpt2_ids_for_typed_text(tokenizers):
    w = tokenizer_explorer(tokenizers)
    text_box, chooser = w.children[0], w.children[1]
    text_box.value = "Hello, do you like tea? <|endoftext|> In"
    chooser.value = "GPT-2"
    w.update()
    html = w.result.data
    for idx in (15496, 11, 466, 345, 588, 8887, 30, 220, 50256, 554):
        assert f">{idx}</span>" in html
    assert "&lt;|endoftext|&gt;" in html
    assert "10 tokens for 40 characters" in html


def test_explorer_switches_tokenizer(tokenizers):
    w = tokenizer_explorer(tokenizers, text="Hello, do you like tea?")
    w.children[1].value = "simple V2"
    w.update()
    assert ">1131</span>" in w.result.data  # Hello is not in the-verdict: <|unk|>
    assert "&lt;|unk|&gt;" not in w.result.data  # the word itself is shown, its id says unknown
    w.children[1].value = "GPT-2 (ours)"
    w.update()
    assert ">15496</span>" in w.result.data


def test_pieces_of_each_tokenizer_rebuild_the_text(tokenizers):
    text = "It's 2024: cafe, tea\n\tdone  "
    for name in ("GPT-2", "GPT-2 (ours)", "trained here"):
        pieces, ids = token_pieces(tokenizers[name], text)
        assert len(pieces) == len(ids)
        assert "".join(pieces) == text, name
    words, ids = token_pieces(tokenizers["simple V2"], text)
    assert words == ["It", "'", "s", "2024", ":", "cafe", ",", "tea", "done"] and len(ids) == 9


def test_a_token_that_is_part_of_a_character_shows_its_bytes(tokenizers):
    assert "🎉".encode() == b"\xf0\x9f\x8e\x89"
    pieces, ids = token_pieces(tokenizers["trained here"], "🎉")
    assert pieces == ["\\xf0", "\\x9f", "\\x8e", "\\x89"] and ids == list("🎉".encode())
    pieces, _ = token_pieces(tokenizers["GPT-2"], "🎉")
    assert "".join(pieces) == "\\xf0\\x9f\\x8e\\x89"


def test_newlines_and_tabs_are_made_visible():
    html = tokens_html(["a", "\n", "\t", "\r", "<b>"], [1, 2, 3, 4, 5]).data
    assert "↵" in html and "→" in html and "␍" in html and "&lt;b&gt;" in html


def test_explorer_rejects_what_is_not_a_tokenizer():
    with pytest.raises(TypeError, match="tokenizers\\['words'\\]: tokenizer must be a SimpleTokenizerV1/V2"):
        tokenizer_explorer({"words": str.split})
    with pytest.raises(ValueError, match="at least one tokenizer"):
        tokenizer_explorer({})


def test_tokens_html_needs_one_id_per_piece():
    with pytest.raises(ValueError, match="equally long, got 2 and 1"):
        tokens_html(["a", "b"], [1])


def test_tokens_per_word_figure():
    ax = plot_tokens_per_word([0, 100, 200], [5.6, 2.5, 2.0], reference=1.4).axes[0]
    assert list(ax.lines[0].get_xdata()) == [0, 100, 200]
    assert list(ax.lines[1].get_ydata()) == [1.4, 1.4]
    assert ax.get_xlabel() == "merges learned"
    with pytest.raises(ValueError, match="equally long"):
        plot_tokens_per_word([0, 1], [1.0])
