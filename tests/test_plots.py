"""helpers.teaching.plots: every plot returns a Figure already closed from pyplot, so a notebook cell shows it once.

What each plot draws is tested beside the notebook's other code (test_tokenizers_explorer, test_dataset,
test_embeddings, test_attention_plots, test_gpt, test_classifier); here every plot is drawn once on small data.
"""

from __future__ import annotations

import inspect

import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.figure import Figure

from helpers.teaching import plots

TOKENS = ["Your", "journey", "starts", "with"]


def attention_rows(*shape: int) -> torch.Tensor:
    torch.manual_seed(123)
    return torch.softmax(torch.randn(*shape), dim=-1)


# every plot, drawn on small data
CASES = {
    "plot_tokens_per_word": lambda: plots.plot_tokens_per_word([0, 100, 200], [5.6, 2.5, 2.0], reference=1.4),
    "plot_sliding_windows": lambda: plots.plot_sliding_windows(list(range(30)), max_length=4, stride=2, batch_size=2),
    "plot_embedding_heatmaps": lambda: plots.plot_embedding_heatmaps({"learned": torch.ones(8, 4)}),
    "plot_position_similarity": lambda: plots.plot_position_similarity({"learned": torch.eye(32, 4) + 0.1}),
    "plot_embedding_pca": lambda: plots.plot_embedding_pca(torch.eye(5, 4), list("abcde"), title="five"),
    "plot_embedding_row": lambda: plots.plot_embedding_row(torch.eye(5, 4), 1, labels=list("abcde"), name="t"),
    "plot_attention_heads": lambda: plots.plot_attention_heads({"causal": attention_rows(2, 4, 4)}, TOKENS),
    "plot_query_attention": lambda: plots.plot_query_attention(attention_rows(4, 4), TOKENS, query=2),
    "plot_gelu_relu": lambda: plots.plot_gelu_relu(torch.nn.GELU(approximate="tanh")),
    "plot_gradient_magnitudes": lambda: plots.plot_gradient_magnitudes({"plain": [1e-4, 1e-3], "shortcut": [0.2, 1.3]}),
    "plot_generation_step_times": lambda: plots.plot_generation_step_times([4, 8], [1.0, 1.1], [2.0, 3.5]),
    "plot_losses": lambda: plots.plot_losses([0.5, 1.0], [512, 1024], [9.8, 7.2], [9.9, 7.8]),
    "plot_temperatures": lambda: plots.plot_temperatures(torch.tensor([1.0, 2.0, 0.5]), list("abc"), [1, 0.1, 5]),
    "plot_values": lambda: plots.plot_values([0, 1], [0, 8], [0.5, 0.9], [0.5, 0.8], label="accuracy"),
    "plot_spam_probabilities": lambda: plots.plot_spam_probabilities(["WIN a prize", "see you"], [0.9, 0.1]),
    "plot_accuracies": lambda: plots.plot_accuracies({"frozen": [0.9, 0.8, 0.8], "all": [1.0, 0.9, 0.9]}),
}


@pytest.fixture(autouse=True)
def close_figures():
    plt.close("all")
    yield
    plt.close("all")


def test_every_plot_function_has_a_case():
    public = {name for name, _ in inspect.getmembers(plots, inspect.isfunction) if name.startswith("plot_")}
    assert public == set(CASES)
    everything = {name for name, value in vars(plots).items() if inspect.isfunction(value)
                  and value.__module__ == plots.__name__ and not name.startswith("_")}
    assert everything == public  # the module holds only functions that return Figures


@pytest.mark.parametrize("name", CASES)
def test_returns_a_figure_already_closed_from_pyplot(name):
    fig = CASES[name]()
    assert isinstance(fig, Figure)
    assert fig not in [plt.figure(n) for n in plt.get_fignums()]  # so a notebook cell shows it once
    assert plt.get_fignums() == []


def test_plot_temperatures_draws_the_learners_softmax():
    """Given the learner's `softmax_with_temperature`, the bars are its probabilities, called once per temperature."""
    calls = []

    def halves(logits, temperature):
        calls.append(temperature)
        return torch.full_like(logits, 0.5)

    fig = plots.plot_temperatures(torch.tensor([1.0, 2.0, 0.5]), list("abc"), [1, 0.1], halves)
    assert calls == [1, 0.1]
    heights = [bar.get_height() for bar in fig.axes[0].patches]
    assert heights == [0.5] * 6
