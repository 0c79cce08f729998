"""helpers.sliding_window: the book's batches, the sliding-window rules for any input, and every bad-input error."""

from __future__ import annotations

import inspect

import matplotlib.pyplot as plt
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.datafiles import load_text
from helpers.gpt2_tokenizer import gpt2_encoding
from helpers.sliding_window import GPTDatasetV1, create_dataloader_v1, encode_text, num_windows, target_counts
from helpers.teaching.plots import plot_sliding_windows
from helpers.teaching.widgets import sliding_window_explorer
from helpers.text import ENDOFTEXT


class ListTokenizer:
    """A stand-in tokenizer whose encode ignores the text and returns fixed ids."""

    def __init__(self, ids: list[int]) -> None:
        self.ids = ids
        self.calls: list[str] = []

    def encode(self, text: str) -> list[int]:
        self.calls.append(text)
        return list(self.ids)


@pytest.fixture(scope="module")
def raw_text() -> str:
    return load_text("the-verdict.txt")


# --- the book's numbers ---


def test_next_token_pairs_from_enc_text_50(raw_text):
    enc = gpt2_encoding()
    enc_sample = enc.encode(raw_text)[50:]
    x, y = enc_sample[:4], enc_sample[1:5]
    assert x == [290, 4920, 2241, 287]
    assert y == [4920, 2241, 287, 257]
    assert [enc.decode([i]) for i in y] == [" established", " himself", " in", " a"]


def test_book_first_two_batches_stride_1(raw_text):
    loader = create_dataloader_v1(raw_text, batch_size=1, max_length=4, stride=1, shuffle=False)
    it = iter(loader)
    first, second = next(it), next(it)
    assert first[0].tolist() == [[40, 367, 2885, 1464]]
    assert first[1].tolist() == [[367, 2885, 1464, 1807]]
    assert second[0].tolist() == [[367, 2885, 1464, 1807]]
    assert second[1].tolist() == [[2885, 1464, 1807, 3619]]
    assert first[0].dtype == torch.long


def test_book_batch_of_8_stride_4(raw_text):
    inputs, targets = next(iter(create_dataloader_v1(raw_text, batch_size=8, max_length=4, stride=4, shuffle=False)))
    assert inputs.tolist() == [
        [40, 367, 2885, 1464], [1807, 3619, 402, 271], [10899, 2138, 257, 7026], [15632, 438, 2016, 257],
        [922, 5891, 1576, 438], [568, 340, 373, 645], [1049, 5975, 284, 502], [284, 3285, 326, 11],
    ]
    assert targets.tolist() == [
        [367, 2885, 1464, 1807], [3619, 402, 271, 10899], [2138, 257, 7026, 15632], [438, 2016, 257, 922],
        [5891, 1576, 438, 568], [340, 373, 645, 1049], [5975, 284, 502, 284], [3285, 326, 11, 287],
    ]


def test_defaults_are_the_books():
    params = inspect.signature(create_dataloader_v1).parameters
    defaults = {name: p.default for name, p in params.items() if p.default is not inspect.Parameter.empty}
    assert list(params)[:7] == ["txt", "batch_size", "max_length", "stride", "shuffle", "drop_last", "num_workers"]
    assert defaults == {"batch_size": 4, "max_length": 256, "stride": 128, "shuffle": True, "drop_last": True,
                        "num_workers": 0, "tokenizer": None, "generator": None}


def test_default_loader_on_the_verdict(raw_text):
    loader = create_dataloader_v1(raw_text, shuffle=False)
    assert len(loader.dataset) == 39 and len(loader) == 9  # 5145 tokens, windows of 256 every 128
    inputs, targets = next(iter(loader))
    assert inputs.shape == targets.shape == (4, 256)


def test_drop_last_numbers(raw_text):
    kept = create_dataloader_v1(raw_text, batch_size=8, max_length=4, stride=4, shuffle=False, drop_last=False)
    dropped = create_dataloader_v1(raw_text, batch_size=8, max_length=4, stride=4, shuffle=False)
    assert len(kept.dataset) == 1286
    assert (len(kept), len(dropped)) == (161, 160)
    assert [b[0].shape[0] for b in kept][-1] == 6


# --- tokenizers ---


def test_endoftext_is_allowed_for_tiktoken():
    enc = gpt2_encoding()
    text = "the first story ends." + ENDOFTEXT + " The second story begins here."
    ds = GPTDatasetV1(text, enc, max_length=4, stride=1)
    assert 50256 in ds.token_ids.tolist()
    assert ds.token_ids.tolist() == enc.encode(text, allowed_special={ENDOFTEXT})


def test_any_tokenizer_with_encode_is_called_with_the_text_only():
    tok = ListTokenizer(list(range(10)))
    loader = create_dataloader_v1("ignored", batch_size=2, max_length=3, stride=3, shuffle=False, tokenizer=tok)
    assert tok.calls == ["ignored"]
    inputs, targets = next(iter(loader))
    assert inputs.tolist() == [[0, 1, 2], [3, 4, 5]]
    assert targets.tolist() == [[1, 2, 3], [4, 5, 6]]


def test_items_are_copies():
    ds = GPTDatasetV1("x", ListTokenizer(list(range(10))), max_length=4, stride=2)
    x, y = ds[0]
    x[1] = 99
    assert ds[0][0].tolist() == [0, 1, 2, 3]
    assert ds.token_ids.tolist() == list(range(10))


# --- shuffling ---


def test_seeded_generator_repeats_the_shuffle(raw_text):
    def first_batches(seed: int) -> list[list[list[int]]]:
        gen = torch.Generator().manual_seed(seed)
        loader = create_dataloader_v1(raw_text, batch_size=8, max_length=4, stride=4, generator=gen)
        return [batch[0].tolist() for batch, _ in zip(loader, range(3), strict=False)]

    assert first_batches(123) == first_batches(123)
    assert first_batches(123) != first_batches(124)
    unshuffled = next(iter(create_dataloader_v1(raw_text, batch_size=8, max_length=4, stride=4, shuffle=False)))
    assert first_batches(123)[0] != unshuffled[0].tolist()


def test_shuffled_epoch_is_a_permutation_of_the_windows():
    ds_ids = list(range(50))
    gen = torch.Generator().manual_seed(0)
    loader = create_dataloader_v1("x", batch_size=3, max_length=4, stride=2, drop_last=False,
                                  tokenizer=ListTokenizer(ds_ids), generator=gen)
    rows = sorted(tuple(row) for inputs, _ in loader for row in inputs.tolist())
    expected = sorted(tuple(row) for row in loader.dataset.input_ids.tolist())
    assert rows == expected and len(rows) == num_windows(50, 4, 2)


# --- properties for any token list ---

token_lists = st.lists(st.integers(min_value=0, max_value=50256), min_size=2, max_size=120)


@st.composite
def stream_and_window(draw, distinct: bool = False, stride_at_most_max_length: bool = False):
    if distinct:
        n = draw(st.integers(min_value=2, max_value=120))
        tokens = list(range(n))
    else:
        tokens = draw(token_lists)
    max_length = draw(st.integers(min_value=1, max_value=len(tokens) - 1))
    stride = draw(st.integers(min_value=1, max_value=max_length if stride_at_most_max_length else 2 * max_length + 3))
    return tokens, max_length, stride


@settings(max_examples=200, deadline=None)
@given(stream_and_window())
def test_windows_follow_the_rules(case):
    tokens, max_length, stride = case
    ds = GPTDatasetV1("x", ListTokenizer(tokens), max_length, stride)
    n = len(tokens)
    # the closed formula, in the book's form: one window per start in range(0, n - max_length, stride)
    assert len(ds) == len(range(0, n - max_length, stride)) == -(-(n - max_length) // stride) == num_windows(
        n, max_length, stride)
    for i in range(len(ds)):
        x, y = ds[i]
        start = i * stride
        assert x.tolist() == tokens[start : start + max_length]  # window i starts at i * stride
        assert y.tolist() == tokens[start + 1 : start + max_length + 1]  # the target is the input shifted by one
        assert x.shape == y.shape == (max_length,)  # no window is cut short at the end...
    assert (len(ds) - 1) * stride + max_length <= n - 1  # ...because none reads past the last token


@settings(max_examples=200, deadline=None)
@given(stream_and_window(distinct=True, stride_at_most_max_length=True))
def test_every_token_but_the_first_is_a_target_up_to_a_short_tail(case):
    """With stride <= max_length the targets leave no gap: positions 1..last are all targets, and the tail of
    the stream that no window reaches is shorter than one stride (the book's windows stop where a whole
    window no longer fits)."""
    tokens, max_length, stride = case
    ds = GPTDatasetV1("x", ListTokenizer(tokens), max_length, stride)
    seen = set(ds.target_ids.flatten().tolist())  # the tokens are their own positions
    last = max(seen)
    assert seen == set(range(1, last + 1))
    assert 0 not in seen
    assert len(tokens) - 1 - last < stride
    if stride == 1:
        assert last == len(tokens) - 1
    counts = target_counts(ds)
    assert counts.tolist() == torch.bincount(ds.target_ids.flatten(), minlength=len(tokens)).tolist()


@settings(max_examples=50, deadline=None)
@given(stream_and_window(), st.integers(min_value=1, max_value=6))
def test_loader_batches_are_the_windows_in_order(case, batch_size):
    tokens, max_length, stride = case
    loader = create_dataloader_v1("x", batch_size=batch_size, max_length=max_length, stride=stride, shuffle=False,
                                  drop_last=False, tokenizer=ListTokenizer(tokens))
    inputs = torch.cat([x for x, _ in loader])
    targets = torch.cat([y for _, y in loader])
    assert torch.equal(inputs, loader.dataset.input_ids)
    assert torch.equal(targets, loader.dataset.target_ids)


def test_num_windows_of_too_short_streams_is_zero():
    assert num_windows(4, 4, 1) == 0
    assert num_windows(5, 4, 100) == 1


# --- bad input ---


def test_text_too_short_names_both_counts():
    with pytest.raises(ValueError, match=r"has 3 tokens, but max_length=4 needs at least 5"):
        GPTDatasetV1("x", ListTokenizer([1, 2, 3]), max_length=4, stride=1)
    with pytest.raises(ValueError, match=r"has 4 tokens, but max_length=4 needs at least 5"):
        create_dataloader_v1("one two three four", max_length=4, tokenizer=gpt2_encoding())


def test_empty_text():
    with pytest.raises(ValueError, match=r"has 0 tokens"):
        create_dataloader_v1("", max_length=4)


@pytest.mark.parametrize("name", ["max_length", "stride"])
@pytest.mark.parametrize("value", [0, -3])
def test_window_sizes_below_one(name, value):
    kwargs = {"max_length": 4, "stride": 2, name: value}
    with pytest.raises(ValueError, match=rf"{name} must be a whole number >= 1, got {value}"):
        GPTDatasetV1("x", ListTokenizer(list(range(10))), **kwargs)


@pytest.mark.parametrize("value", [0, -1])
def test_batch_size_below_one(value):
    with pytest.raises(ValueError, match=rf"batch_size must be a whole number >= 1, got {value}"):
        create_dataloader_v1("x", batch_size=value, max_length=2, stride=1, tokenizer=ListTokenizer(list(range(10))))


@pytest.mark.parametrize("value", [2.0, "4", True, None])
def test_window_sizes_must_be_whole_numbers(value):
    with pytest.raises(TypeError, match="max_length must be a whole number"):
        GPTDatasetV1("x", ListTokenizer(list(range(10))), max_length=value, stride=1)


def test_tokenizer_without_encode():
    with pytest.raises(TypeError, match=r"tokenizer must have an encode\(text\) method.*got dict"):
        GPTDatasetV1("some text", {"a": 1}, max_length=2, stride=1)
    with pytest.raises(TypeError, match=r"got the str 'gpt2'; for GPT-2's BPE pass helpers.gpt2_tokenizer.gpt2_enc"):
        create_dataloader_v1("some text", max_length=2, tokenizer="gpt2")


def test_text_must_be_a_string():
    with pytest.raises(TypeError, match="txt must be a str, got list"):
        GPTDatasetV1([1, 2, 3], gpt2_encoding(), max_length=2, stride=1)


def test_encode_must_return_integer_ids():
    with pytest.raises(TypeError, match="integer token ids"):
        encode_text("x", ListTokenizer([0.5, 1.5, 2.5]))
    with pytest.raises(TypeError, match="integer token ids"):
        encode_text("x", ListTokenizer(["a", "b"]))


def test_generator_must_be_a_generator():
    with pytest.raises(TypeError, match="generator must be a torch.Generator or None, got int"):
        create_dataloader_v1("x", max_length=2, stride=1, tokenizer=ListTokenizer(list(range(10))), generator=123)


def test_drop_last_that_would_leave_no_batch():
    with pytest.raises(ValueError, match=r"gives 3 windows .* fewer than batch_size=4"):
        create_dataloader_v1("x", batch_size=4, max_length=2, stride=3, tokenizer=ListTokenizer(list(range(10))))
    loader = create_dataloader_v1("x", batch_size=4, max_length=2, stride=3, drop_last=False,
                                  tokenizer=ListTokenizer(list(range(10))))
    assert len(loader) == 1


def test_counts_of_one_are_singular():
    with pytest.raises(ValueError, match=r"the text has 1 token, but max_length=1 needs at least 2 \(a window of 1 "
                                         r"input plus one more token"):
        GPTDatasetV1("x", ListTokenizer([7]), max_length=1, stride=1)
    with pytest.raises(ValueError, match=r"the text gives 1 window \(max_length=2, stride=3\), fewer than batch_size"):
        create_dataloader_v1("x", batch_size=2, max_length=2, stride=3, tokenizer=ListTokenizer(list(range(4))))


# --- figure and explorer ---


def test_window_figure_draws_the_first_windows():
    fig = plot_sliding_windows(list(range(100)), max_length=4, stride=4, batch_size=2, n_tokens=20)
    try:
        labels = [t.get_text() for t in fig.axes[0].get_yticklabels()]
        # windows start at 0, 4, 8, 12 and need their last target (start + 4) inside the 20 shown tokens
        assert labels == ["token ids", "window 0 (batch 0)", "window 1 (batch 0)", "window 2 (batch 1)",
                          "window 3 (batch 1)"]
        assert "first 4 of 24 windows" in fig.axes[0].get_title(loc="left")
    finally:
        plt.close(fig)


def test_explorer_shows_the_books_first_batch(raw_text):
    before = plt.get_fignums()
    w = sliding_window_explorer(raw_text)
    sliders = {c.description: c for c in w.children[:3]}
    sliders["max_length"].value, sliders["stride"].value, sliders["batch_size"].value = 4, 1, 1
    w.update()
    inputs, targets = w.result
    assert inputs.tolist() == [[40, 367, 2885, 1464]]
    assert targets.tolist() == [[367, 2885, 1464, 1807]]
    sliders["stride"].value, sliders["batch_size"].value = 4, 3
    w.update()
    assert w.result[0].tolist() == [[40, 367, 2885, 1464], [1807, 3619, 402, 271], [10899, 2138, 257, 7026]]
    assert plt.get_fignums() == before  # every redraw closes its figure
