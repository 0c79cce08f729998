"""ipywidgets explorers used by the notebooks: thin wrappers around the figures of `helpers.plots`.

Sections are headed by the notebook that uses them.
"""

from __future__ import annotations

from collections.abc import Sequence

import ipywidgets as widgets
import matplotlib.pyplot as plt
import torch
import torch.nn.functional as F
from IPython.display import display

from helpers.attention import CausalAttention, MultiHeadAttention, attention_weights
from helpers.plots import plot_query_attention

# --- 04 attention (notebooks/04_attention.ipynb, section 3.6.4 "Looking at the attention weights") ---


def make_attention_explorer(
    module: MultiHeadAttention | CausalAttention,
    x: torch.Tensor,
    tokens: Sequence[str],
    dropout_rate: float = 0.5,
    seed: int = 123,
) -> widgets.interactive:
    """Pick a head, a query word, the causal mask and dropout; see that head's weights for the first input row.

    `x` is (1, num_tokens, d_in) with one word per token; the widget's `result` is the query's row of weights.
    Dropout (rate `dropout_rate`, seeded with `seed`) zeroes weights and scales the rest by 1 / (1 - rate),
    as `nn.Dropout` does in training.
    """
    if x.dim() != 3 or x.shape[0] != 1 or x.shape[1] != len(tokens):
        raise ValueError(
            f"expected x of shape (1, {len(tokens)}, d_in) for {len(tokens)} tokens, got shape {tuple(x.shape)}"
        )
    if not 0.0 <= dropout_rate < 1.0:
        raise ValueError(f"dropout_rate must be in [0, 1), got {dropout_rate}")
    with torch.no_grad():
        weights = {causal: attention_weights(module, x, causal=causal)[0] for causal in (True, False)}
    num_heads = weights[True].shape[0]

    def show(head: int, query: int, causal: bool, dropout: bool) -> torch.Tensor:
        head_weights = weights[causal][head]  # (num_tokens, num_tokens)
        if dropout:
            with torch.random.fork_rng():
                torch.manual_seed(seed)
                head_weights = F.dropout(head_weights, dropout_rate, training=True)
        title = f"head {head}, {'causal mask' if causal else 'no mask'}, {'dropout' if dropout else 'no dropout'}"
        fig = plot_query_attention(head_weights, tokens, query, title)
        plt.close(fig)  # shown once, below, not again by the inline backend
        display(fig)
        return head_weights[query]

    return widgets.interactive(
        show,
        head=widgets.Dropdown(options=[(f"head {h}", h) for h in range(num_heads)], value=0, description="head"),
        query=widgets.Dropdown(options=[(t, i) for i, t in enumerate(tokens)], value=0, description="query word"),
        causal=widgets.Checkbox(value=True, description="causal mask"),
        dropout=widgets.Checkbox(value=False, description=f"dropout {dropout_rate:g}"),
    )
