"""ipywidgets explorers used by the notebooks: thin wrappers around the plots of `helpers.teaching.plots` and the
token view of `helpers.teaching.tokens`.

Shown in notebooks 02_text_and_tokens, 03_sliding_window, 04_embeddings, 05_attention, 08_llama and
09_classification_finetuning, each after a static figure of the same view; each section below names its notebook and
book section. Every explorer returns an `Explorer`, an `ipywidgets.interactive` whose `.result` holds what the wrapped
function returned (so tests can drive it without a browser), and whose text form, what a notebook shows where no
kernel runs (GitHub, Colab's preview, a stored output), is one line that says to run the cell.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import ipywidgets as widgets
import torch
import torch.nn.functional as F
from IPython.display import HTML, display

from helpers.attention import CausalAttention, MultiHeadAttention, attention_weights
from helpers.checks import check_int
from helpers.classifier import spam_probability
from helpers.embeddings import cosine_similarity_matrix
from helpers.gpt2_tokenizer import gpt2_encoding
from helpers.sliding_window import create_dataloader_v1, encode_text
from helpers.smollm2 import chat, chat_token_ids
from helpers.teaching.llama_plots import plot_next_token_probabilities
from helpers.teaching.plots import (
    plot_embedding_row,
    plot_query_attention,
    plot_sliding_windows,
    plot_spam_probabilities,
)
from helpers.teaching.tokens import token_pieces, tokens_html
from helpers.text import SimpleTokenizerV1

__all__ = ["EXPLORER_TEXT", "Explorer", "attention_explorer", "chat_explorer", "embedding_explorer",
           "sliding_window_explorer", "spam_explorer", "tokenizer_explorer"]

# at most 110 characters: ipywidgets cuts a longer text form
EXPLORER_TEXT = "An explorer: run this cell in JupyterLab or Colab to move its controls."


class Explorer(widgets.interactive):
    """`ipywidgets.interactive` with a one-line text form instead of `interactive(children=(Dropdown(...`."""

    def __repr__(self) -> str:
        return EXPLORER_TEXT


# --- 02_text_and_tokens (beyond the book: "A tokenizer explorer", after section 2.5) ---


def tokenizer_explorer(tokenizers: Mapping[str, Any], text: str = "Hello, do you like tea?") -> Explorer:
    """Type text, pick a tokenizer, and see the text coloured by token with the ids beneath."""
    if not tokenizers:
        raise ValueError("tokenizers must name at least one tokenizer, e.g. {'GPT-2': gpt2_encoding()}")
    for name, tokenizer in tokenizers.items():
        try:
            token_pieces(tokenizer, "")  # a wrong type fails now rather than inside the widget
        except TypeError as err:
            raise TypeError(f"tokenizers[{name!r}]: {err}") from None
    names = list(tokenizers)

    def render(text: str, tokenizer: str) -> HTML:
        try:
            pieces, ids = token_pieces(tokenizers[tokenizer], text)
        except KeyError as err:  # SimpleTokenizerV1 meets a word outside its vocabulary
            return HTML(f"<pre>KeyError: {err}</pre>")
        spaced = isinstance(tokenizers[tokenizer], SimpleTokenizerV1)
        return tokens_html(pieces, ids, spaced=spaced, n_chars=len(text))

    def show(text: str = text, tokenizer: str = names[0]) -> HTML:
        html = render(text, tokenizer)
        display(html)  # `interactive` does not display a returned value by itself
        return html

    return Explorer(
        show,
        text=widgets.Textarea(value=text, description="text", layout=widgets.Layout(width="95%")),
        tokenizer=widgets.Dropdown(options=names, value=names[0], description="tokenizer"),
    )


# --- 03_sliding_window (section 2.6, beyond the book: "The windows, drawn") ---


def sliding_window_explorer(txt: str, tokenizer: Any = None, n_tokens: int = 20) -> Explorer:
    """Sliders for max_length, stride and batch_size that redraw the windows and print the first batch."""
    tokenizer = gpt2_encoding() if tokenizer is None else tokenizer
    token_ids = encode_text(txt, tokenizer).tolist()
    decode = getattr(tokenizer, "decode", None)
    labels = [decode([i]) for i in token_ids[:n_tokens]] if callable(decode) else None

    def show(max_length: int = 4, stride: int = 4, batch_size: int = 2) -> tuple[Any, Any]:
        loader = create_dataloader_v1(
            txt, batch_size=batch_size, max_length=max_length, stride=stride, shuffle=False, drop_last=False,
            tokenizer=tokenizer,
        )
        inputs, targets = next(iter(loader))
        display(plot_sliding_windows(token_ids, max_length, stride, batch_size, labels=labels, n_tokens=n_tokens))
        print(f"{len(loader.dataset)} windows -> {len(loader)} batches; the first batch:")
        print("inputs:\n", inputs)
        print("targets:\n", targets)
        return inputs, targets

    return Explorer(
        show,
        max_length=widgets.IntSlider(value=4, min=1, max=8, description="max_length"),
        stride=widgets.IntSlider(value=4, min=1, max=8, description="stride"),
        batch_size=widgets.IntSlider(value=2, min=1, max=4, description="batch_size"),
    )


# --- 04_embeddings (beyond the book: "Fixed and learned positions") ---


def embedding_explorer(tables: dict[str, torch.Tensor], labels: Sequence[str] | None = None) -> Explorer:
    """Pick a table and a row (a position, or a word when `labels` are given): see its vector and similarities."""
    names = list(tables)
    rows = {tuple(table.shape[:1]) for table in tables.values()}
    if len(rows) != 1:
        raise ValueError(f"all tables must have the same number of rows, got {sorted(r[0] for r in rows)}")
    (n_rows,) = rows.pop()
    if labels is not None and len(labels) != n_rows:
        raise ValueError(f"got {len(labels)} labels for tables of {n_rows} rows")

    def show(table: str = names[0], row: int = 0) -> torch.Tensor:
        values = tables[table].detach().float()
        display(plot_embedding_row(values, row, labels=labels, name=table))
        similarity = cosine_similarity_matrix(values)[row]  # (n_rows,)
        nearest = [int(i) for i in similarity.argsort(descending=True) if int(i) != row][:3]
        shown = [labels[i] if labels is not None else i for i in nearest]
        print(f"most similar to {labels[row] if labels is not None else row!r}: "
              + ", ".join(f"{s!r} ({similarity[i]:.3f})" for s, i in zip(shown, nearest, strict=True)))
        return similarity

    if labels is None:
        chooser = widgets.IntSlider(value=0, min=0, max=n_rows - 1, description="position")
    else:
        chooser = widgets.Dropdown(options=[(label, i) for i, label in enumerate(labels)], value=0, description="word")
    return Explorer(show, table=widgets.Dropdown(options=names, value=names[0], description="table"),
                               row=chooser)


# --- 05_attention (after section 3.6, beyond the book: "Looking at the attention weights") ---


def attention_explorer(
    module: MultiHeadAttention | CausalAttention,
    x: torch.Tensor,
    tokens: Sequence[str],
    dropout_rate: float = 0.5,
    seed: int = 123,
) -> Explorer:
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
        display(plot_query_attention(head_weights, tokens, query, title))
        return head_weights[query]

    return Explorer(
        show,
        head=widgets.Dropdown(options=[(f"head {h}", h) for h in range(num_heads)], value=0, description="head"),
        query=widgets.Dropdown(options=[(t, i) for i, t in enumerate(tokens)], value=0, description="query word"),
        causal=widgets.Checkbox(value=True, description="causal mask"),
        dropout=widgets.Checkbox(value=False, description=f"dropout {dropout_rate:g}"),
    )


# --- 09_classification_finetuning (beyond the book: "A spam-probability explorer", after the exercises) ---


def spam_explorer(
    model: torch.nn.Module, tokenizer: Any, max_length: int,
    text: str = "Congratulations! You have won a free cruise. Text CLAIM to 80086 now!",
    device: Any = "cpu",
) -> Explorer:
    """Type a message, see the classifier's spam probability as a bar and its answer.

    The message is padded or cut to `max_length` tokens, as in training. The widget's `result` is the probability
    (None while the box is empty). It updates on Enter (or when the box loses focus), not at every key.
    """
    check_int(max_length, "max_length", why="train_dataset.max_length")

    def show(text: str = text) -> float | None:
        if not text.strip():
            print("Type a message to classify.")
            return None
        probability = spam_probability(text, model, tokenizer, device, max_length)
        display(plot_spam_probabilities([text], [probability]))
        n_tokens, length = len(tokenizer.encode(text)), min(max_length, model.cfg["context_length"])
        kept = f", cut to the first {length}" if n_tokens > length else f", padded to {length}"
        answer = "spam" if probability > 0.5 else "not spam"
        print(f"{n_tokens} tokens{kept}: {answer} (spam probability {probability:.3f})")
        return probability

    box = widgets.Text(value=text, description="message", continuous_update=False, layout=widgets.Layout(width="95%"))
    return Explorer(show, text=box)


# --- 08_llama (beyond the book: "A chat explorer", in "It talks") ---


def chat_explorer(model: torch.nn.Module, tokenizer: Any, question: str = "What is the capital of France?",
                  max_new_tokens: int = 40, seed: int = 123) -> Explorer:
    """Type a question and move the temperature: see the ten likeliest first tokens of the answer at that temperature
    (temperature 0: greedy, all on the likeliest) and an answer sampled with it (seeded with `seed`: the same settings
    give the same answer). The widget's `result` is the answer (None while the box is empty)."""
    check_int(max_new_tokens, "max_new_tokens")

    def show(question: str = question, temperature: float = 0.0) -> str | None:
        if not question.strip():
            print("Type a question.")
            return None
        messages = [{"role": "user", "content": question}]
        with torch.no_grad():
            logits = model(torch.tensor([chat_token_ids(tokenizer, messages)]))[0, -1]  # (vocab_size,)
        if temperature > 0:
            probs = torch.softmax(logits / temperature, dim=-1)
        else:
            probs = F.one_hot(logits.argmax(), logits.shape[0]).float()
        top = torch.topk(probs, 10)
        tokens = [tokenizer.decode([int(i)]) for i in top.indices]
        display(plot_next_token_probabilities(tokens, top.values.tolist(),
                                              f"the answer's first token at temperature {temperature:g}"))
        answer = chat(model, tokenizer, messages, max_new_tokens, temperature=temperature,
                      generator=torch.Generator().manual_seed(seed))
        print(answer)
        return answer

    box = widgets.Text(value=question, description="question", continuous_update=False,
                       layout=widgets.Layout(width="95%"))
    slider = widgets.FloatSlider(value=0.0, min=0.0, max=2.0, step=0.1, description="temperature",
                                 continuous_update=False)
    return Explorer(show, question=box, temperature=slider)
