"""helpers.teaching.instruct_plots: each plot of notebook 10 returns a figure already closed from pyplot, shows its
data, and refuses bad input with a clear message."""

from __future__ import annotations

import matplotlib.pyplot as plt
import pytest
from matplotlib.figure import Figure

from helpers.teaching.instruct_plots import plot_finetuning_losses, plot_judge_vs_overlap, plot_response_scores

CASES = {
    "plot_finetuning_losses": lambda: plot_finetuning_losses([0, 5], [1.67, 0.65], [1.78, 0.94],
                                                             [2.48, 1.66, 1.2, 1.0, 0.77, 0.7]),
    "plot_response_scores": lambda: plot_response_scores({"before": [0.0, 0.2, 0.5], "after": [0.4, 1.0, 0.6]}),
    "plot_judge_vs_overlap": lambda: plot_judge_vs_overlap([90, None, 40, 85], [0.8, 0.1, 0.2, 0.9], judge="a judge"),
}


@pytest.mark.parametrize("name", CASES)
def test_returns_a_figure_already_closed(name):
    plt.close("all")
    fig = CASES[name]()
    assert isinstance(fig, Figure) and plt.get_fignums() == []


def test_the_plots_show_their_numbers():
    texts = [t.get_text() for t in CASES["plot_response_scores"]().axes[0].texts]
    assert texts == ["0.23 (3)", "0.67 (3)"]
    title = CASES["plot_judge_vs_overlap"]()._suptitle.get_text()
    assert title == "a judge against ROUGE-L: they order 67% of the pairs alike"


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: plot_finetuning_losses([0, 5], [1.0], [1.0, 2.0], [1.0] * 6), "equally long"),
        (lambda: plot_finetuning_losses([0, 6], [1.0, 2.0], [1.0, 2.0], [1.0] * 6), "an evaluation at step 6"),
        (lambda: plot_response_scores({}), "1 to 6 names"),
        (lambda: plot_response_scores({"a": [1.5]}), "between 0 and 1"),
        (lambda: plot_judge_vs_overlap([1, 2], [0.5]), "equally long"),
        (lambda: plot_judge_vs_overlap([None, 50], [0.5, 0.4]), "fewer than 2 answers"),
    ],
)
def test_bad_input(make, message):
    with pytest.raises(ValueError, match=message):
        make()
