"""helpers.embeddings: the book's seeded embedding, lookup = one-hot product, sinusoidal positions, bad ids."""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from helpers.datafiles import load_text
from helpers.embeddings import (
    cosine_similarity_matrix,
    embedding_as_linear,
    embedding_lookup,
    pca_2d,
    sinusoidal_encoding,
)
from helpers.sliding_window import create_dataloader_v1
from helpers.teaching.plots import (
    plot_embedding_heatmaps,
    plot_embedding_pca,
    plot_embedding_row,
    plot_position_similarity,
)
from helpers.teaching.widgets import embedding_explorer

BOOK_WEIGHT = [
    [0.3374, -0.1778, -0.1690],
    [0.9178, 1.5810, 1.3010],
    [1.2753, -0.2010, -0.1606],
    [-0.4015, 0.9666, -1.1481],
    [-1.1589, 0.3255, -0.6315],
    [-2.8400, -0.7849, -1.4096],
]


@pytest.fixture
def book_embedding() -> nn.Embedding:
    torch.manual_seed(123)
    return nn.Embedding(6, 3)


# --- the book's numbers ---


def test_seeded_weight_is_the_books(book_embedding):
    torch.testing.assert_close(book_embedding.weight.detach(), torch.tensor(BOOK_WEIGHT), rtol=0, atol=5e-5)


def test_lookups_of_3_and_of_2_3_5_1(book_embedding):
    torch.testing.assert_close(embedding_lookup(book_embedding, torch.tensor([3])).detach(),
                               torch.tensor([BOOK_WEIGHT[3]]), rtol=0, atol=5e-5)
    out = embedding_lookup(book_embedding, torch.tensor([2, 3, 5, 1]))
    torch.testing.assert_close(out.detach(), torch.tensor([BOOK_WEIGHT[i] for i in [2, 3, 5, 1]]), rtol=0, atol=5e-5)
    assert out.grad_fn is not None  # the lookup stays differentiable


def test_lookup_accepts_lists_ints_and_int32(book_embedding):
    assert embedding_lookup(book_embedding, [2, 3]).shape == (2, 3)
    assert embedding_lookup(book_embedding, 4).shape == (3,)
    torch.testing.assert_close(embedding_lookup(book_embedding, torch.tensor([5, 0], dtype=torch.int32)),
                               book_embedding(torch.tensor([5, 0])))


def test_batch_shapes_of_token_and_position_embeddings():
    loader = create_dataloader_v1(load_text("the-verdict.txt"), batch_size=8, max_length=4, stride=4, shuffle=False)
    inputs, _ = next(iter(loader))
    torch.manual_seed(123)
    token_embedding_layer = nn.Embedding(50257, 256)
    pos_embedding_layer = nn.Embedding(4, 256)
    token_embeddings = embedding_lookup(token_embedding_layer, inputs)
    pos_embeddings = embedding_lookup(pos_embedding_layer, torch.arange(4))
    input_embeddings = token_embeddings + pos_embeddings
    assert inputs.shape == (8, 4)
    assert token_embeddings.shape == (8, 4, 256)
    assert pos_embeddings.shape == (4, 256)
    assert input_embeddings.shape == (8, 4, 256)
    # broadcasting adds position p's vector to the token at position p of every row
    torch.testing.assert_close(input_embeddings[5, 2], token_embedding_layer.weight[inputs[5, 2]] + pos_embeddings[2])


# --- lookup = one-hot product ---


@pytest.mark.parametrize("vocab_size, dim", [(6, 3), (50, 7), (257, 16)])
def test_one_hot_product_equals_lookup_values_and_gradients(vocab_size, dim):
    torch.manual_seed(0)
    embedding = nn.Embedding(vocab_size, dim)
    linear = embedding_as_linear(embedding)
    assert isinstance(linear, nn.Linear) and linear.bias is None
    assert linear.weight.shape == (dim, vocab_size)
    ids = torch.randint(0, vocab_size, (4, 5))
    ids[0, :3] = 1  # a repeated id: its gradient rows must add up
    upstream = torch.randn(4, 5, dim)

    looked_up = embedding(ids)
    multiplied = linear(F.one_hot(ids, vocab_size).float())
    torch.testing.assert_close(multiplied, looked_up)

    (looked_up * upstream).sum().backward()
    (multiplied * upstream).sum().backward()
    torch.testing.assert_close(linear.weight.grad, embedding.weight.grad.T)
    unused = sorted(set(range(vocab_size)) - set(ids.flatten().tolist()))
    assert torch.count_nonzero(embedding.weight.grad[unused]) == 0


def test_embedding_as_linear_copies_the_table(book_embedding):
    linear = embedding_as_linear(book_embedding)
    with torch.no_grad():
        linear.weight.zero_()
    torch.testing.assert_close(book_embedding.weight.detach(), torch.tensor(BOOK_WEIGHT), rtol=0, atol=5e-5)


# --- sinusoidal positions ---


@pytest.mark.parametrize("position", [0, 1, 7, 100, 1023])
@pytest.mark.parametrize("dim", [8, 768, 9])
def test_sinusoidal_matches_its_closed_form(position, dim):
    encoding = sinusoidal_encoding(1024, dim)
    assert encoding.shape == (1024, dim) and encoding.dtype == torch.float32
    for column in range(dim):
        i = column // 2
        angle = position / 10000 ** (2 * i / dim)
        expected = math.sin(angle) if column % 2 == 0 else math.cos(angle)
        assert encoding[position, column].item() == pytest.approx(expected, abs=1e-6)


def test_sinusoidal_similarity_depends_only_on_distance():
    encoding = sinusoidal_encoding(64, 32, dtype=torch.float64)
    dots = encoding @ encoding.T  # (64, 64)
    for distance in range(0, 10):
        diagonal = torch.diagonal(dots, offset=distance)
        torch.testing.assert_close(diagonal, torch.full_like(diagonal, diagonal[0].item()))
    torch.testing.assert_close(torch.diagonal(dots), torch.full((64,), 16.0, dtype=torch.float64))  # |PE_p|^2 = dim/2


def test_sinusoidal_base_and_dtype():
    torch.testing.assert_close(sinusoidal_encoding(3, 4, base=100.0, dtype=torch.float64)[2, 2],
                               torch.tensor(math.sin(2 / 100 ** 0.5), dtype=torch.float64))


# --- similarity and projection ---


def test_cosine_similarity_matrix():
    vectors = torch.tensor([[1.0, 0.0], [0.0, 2.0], [-3.0, 0.0], [1.0, 1.0]])
    sim = cosine_similarity_matrix(vectors)
    torch.testing.assert_close(sim[0], torch.tensor([1.0, 0.0, -1.0, 1 / math.sqrt(2)]))
    torch.testing.assert_close(sim, sim.T)


def test_pca_2d_recovers_a_plane():
    torch.manual_seed(1)
    plane = torch.randn(20, 2) * torch.tensor([5.0, 1.0])  # most variance along the first coordinate
    basis = torch.linalg.qr(torch.randn(6, 2)).Q.T  # (2, 6) orthonormal rows
    points = plane @ basis + 3.0  # (20, 6), shifted away from the origin
    coords = pca_2d(points)
    assert coords.shape == (20, 2)
    # the projection keeps all distances of points that lie in a plane
    torch.testing.assert_close(torch.cdist(coords, coords), torch.cdist(plane, plane), atol=1e-4, rtol=1e-4)
    assert coords[:, 0].var() > coords[:, 1].var()
    torch.testing.assert_close(coords.mean(dim=0), torch.zeros(2), atol=1e-5, rtol=0)


# --- bad input ---


@pytest.mark.parametrize("bad, value", [([6], 6), ([1, 2, 50], 50), ([-1], -1), (torch.tensor([[0, 1], [7, 2]]), 7)])
def test_out_of_range_ids_name_the_id_and_vocab_size(book_embedding, bad, value):
    with pytest.raises(IndexError, match=rf"token id {value}\b.*vocabulary size 6: valid ids are 0 to 5") as info:
        embedding_lookup(book_embedding, bad)
    assert isinstance(info.value.__cause__, IndexError)  # PyTorch's own error, wrapped


def test_negative_ids_say_they_do_not_count_from_the_end(book_embedding):
    message = r"token id -2 \(negative ids do not count from the end here\) at index \(1,\)"
    with pytest.raises(IndexError, match=message):
        embedding_lookup(book_embedding, [3, -2])


@pytest.mark.parametrize("bad, count", [
    ([6], "(1 of 1 id is out of range)"),
    ([0, 9, 1], "(1 of 3 ids is out of range)"),
    ([6, 2, -1], "(2 of 3 ids are out of range)"),
    (torch.tensor(7), "(1 of 1 id is out of range)"),
])
def test_out_of_range_count_is_plural_only_when_it_should_be(book_embedding, bad, count):
    with pytest.raises(IndexError) as info:
        embedding_lookup(book_embedding, bad)
    assert str(info.value).endswith(count)


@pytest.mark.parametrize("bad", [[2.5], torch.tensor([1.0, 2.0]), torch.tensor([True])])
def test_float_or_bool_ids(book_embedding, bad):
    with pytest.raises(TypeError, match=r"token ids must be integers, got dtype torch\.\w+, e\.g\. .* vocabulary has "
                                        r"size 6"):
        embedding_lookup(book_embedding, bad)


def test_lookup_needs_an_embedding():
    with pytest.raises(TypeError, match="embedding must be a torch.nn.Embedding, got Linear"):
        embedding_lookup(nn.Linear(3, 3), [0])
    with pytest.raises(TypeError, match="got Tensor"):
        embedding_as_linear(torch.zeros(3, 3))


@pytest.mark.parametrize("kwargs, error, message", [
    ({"num_positions": 0, "dim": 4}, ValueError, "num_positions must be a whole number >= 1, got 0"),
    ({"num_positions": 4, "dim": -2}, ValueError, "dim must be a whole number >= 1, got -2"),
    ({"num_positions": 4.0, "dim": 4}, TypeError, "num_positions must be a whole number"),
    ({"num_positions": 4, "dim": 4, "base": 1.0}, ValueError, "base must be a number > 1, got 1.0"),
])
def test_sinusoidal_bad_arguments(kwargs, error, message):
    with pytest.raises(error, match=message):
        sinusoidal_encoding(**kwargs)


def test_projection_and_similarity_need_2d():
    with pytest.raises(ValueError, match=r"got shape \(3,\)"):
        cosine_similarity_matrix(torch.ones(3))
    with pytest.raises(ValueError, match=r"n >= 2 and dim >= 2, got \(1, 4\)"):
        pca_2d(torch.ones(1, 4))


# --- figures and explorer ---


def test_figures_have_one_panel_per_table():
    tables = {"sinusoidal": sinusoidal_encoding(16, 8), "random": torch.randn(16, 8)}
    figs = [plot_embedding_heatmaps(tables), plot_position_similarity(tables),
            plot_embedding_pca(torch.randn(5, 8), list("abcde")), plot_embedding_row(tables["random"], 3)]
    try:
        assert len(figs[0].axes) == 4  # two heatmaps and their colour bars
        assert len(figs[1].axes) == 2 * 2 + 2  # similarity heatmaps (+ colour bars) over distance plots
        assert [t.get_text() for t in figs[2].axes[0].texts] == list("abcde")
        assert len(figs[3].axes) == 2
    finally:
        for fig in figs:
            plt.close(fig)


def test_explorer_returns_the_similarities_of_the_chosen_row():
    before = plt.get_fignums()
    tables = {"sinusoidal": sinusoidal_encoding(12, 16), "random": torch.randn(12, 16)}
    w = embedding_explorer(tables)
    table, row = w.children[0], w.children[1]
    table.value, row.value = "random", 5
    w.update()
    torch.testing.assert_close(w.result, cosine_similarity_matrix(tables["random"])[5])
    table.value = "sinusoidal"
    w.update()
    assert w.result[5].item() == pytest.approx(1.0)
    assert w.result[4].item() == pytest.approx(w.result[6].item())  # one step back or forward: same similarity
    assert plt.get_fignums() == before


def test_explorer_with_word_labels():
    words = ["the", "cat", "sat", "on"]
    w = embedding_explorer({"tokens": torch.randn(4, 6)}, labels=words)
    assert [label for label, _ in w.children[1].options] == words
    w.children[1].value = 2
    w.update()
    assert w.result.shape == (4,) and w.result[2].item() == pytest.approx(1.0)
    with pytest.raises(ValueError, match="got 3 labels for tables of 4 rows"):
        embedding_explorer({"tokens": torch.randn(4, 6)}, labels=words[:3])
    with pytest.raises(ValueError, match=r"same number of rows, got \[3, 4\]"):
        embedding_explorer({"a": torch.randn(4, 6), "b": torch.randn(3, 6)})
