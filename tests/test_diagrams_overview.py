"""helpers.teaching.diagrams.overview, the diagrams of notebook 01_overview: what each one shows, that the notebooks it
names are the course's, and bad input. Every diagram's rendering, legibility and layout is checked with all the
others in tests/test_diagrams.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from test_diagrams import CASES, GPT2_PARAMETERS, NEW_TOKENS, PATH_IDS, PATH_TOKENS, all_text, texts_of

from helpers.teaching.diagrams import (
    draw_attention_masks,
    draw_course_path,
    draw_generation_strip,
    draw_model_sizes,
    draw_three_stages,
)
from helpers.teaching.diagrams.overview import STAGES

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = re.compile(r"\b\d\d_[a-z_]+\b")
# the course's notebooks after 01, in order (08_llama and 10_instruction_finetuning are added by their own issues)
COURSE = ["02_text_and_tokens", "03_sliding_window", "04_embeddings", "05_attention", "06_gpt_model",
          "07_pretraining", "08_llama", "09_classification_finetuning", "10_instruction_finetuning"]


def test_course_path_shows_the_notebooks_values_and_shapes():
    texts = [t.get_text() for t in texts_of(CASES["draw_course_path"]())]
    for expected in ("'Every effort moves you'", "'Every'", "' effort'", "6109", "345", "(1, 4)",
                     "input embeddings (1, 4, 32)", "context vectors (1, 4, 32)", "logits (1, 4, 50,257)", "'semble'",
                     "2 transformer blocks: masked multi-head attention, feed forward"):
        assert expected in texts, expected


def test_course_path_names_the_notebook_of_each_step_in_course_order():
    named = NOTEBOOK.findall(all_text(CASES["draw_course_path"]()))
    assert set(named) <= set(COURSE) and all((ROOT / "notebooks" / f"{n}.ipynb").is_file() for n in named)
    steps = [n for n in named if n not in ("03_sliding_window",)]  # 03 and 07 train: named in the closing line
    assert steps[:6] == ["02_text_and_tokens", "02_text_and_tokens", "04_embeddings", "05_attention", "06_gpt_model",
                         "06_gpt_model"]


def test_course_path_follows_the_config():
    text = all_text(draw_course_path(PATH_TOKENS, PATH_IDS, " forward"))
    assert "input embeddings (1, 4, 768)" in text and "12 transformer blocks" in text and "' forward'" in text


def test_model_sizes_show_counts_memory_and_a_log_axis():
    fig = CASES["draw_model_sizes"]()
    texts = [t.get_text() for t in texts_of(fig)]
    assert "124,439,808  ·  0.50 GB" in texts and "1,557,611,200  ·  6.23 GB" in texts
    assert "175 B  ·  700 GB  (quoted)" in texts
    assert [t for t in texts if t.endswith(("M", "B", "T")) and " " in t and len(t) <= 5] == [
        "10 M", "100 M", "1 B", "10 B", "100 B", "1 T"]
    bars = [p for p in fig.axes[0].patches if p.get_gid() and p.get_width() > 0.3]
    widths = [round(p.get_width(), 3) for p in bars]
    assert widths == sorted(widths) and len(widths) == 5  # longer for each larger model
    ratio = (widths[-1] - widths[0]) / (widths[3] - widths[0])  # log scale: lengths go with the log of the count
    assert ratio == pytest.approx((11.243 - 8.095) / (9.192 - 8.095), rel=1e-3)


def test_attention_masks_are_all_ones_and_lower_triangular():
    texts = [t.get_text() for t in texts_of(CASES["draw_attention_masks"]())]
    assert texts.count("0") == 6 and texts.count("1") == 16 + 10  # 4 x 4: full, and 10 below or on the diagonal
    assert "[MASK]" in texts and "predicts the hidden word: 'moves'" in texts
    assert "BERT-style encoder: every token sees every token" in texts
    assert "GPT-style decoder: each token sees only the past" in texts


def test_generation_strip_feeds_each_new_token_back():
    texts = [t.get_text() for t in texts_of(CASES["draw_generation_strip"]())]
    assert texts.count("'semble'") == 5  # predicted at step 1, then in the context of steps 2 to 4 and the result
    assert texts.count("' belief'") == 2 and texts.count("GPT") == 4
    assert "step 4" in texts and "result" in texts and "step 5" not in texts


def test_three_stages_name_every_notebook_of_the_course_in_order():
    text = all_text(draw_three_stages())
    assert NOTEBOOK.findall(text) == COURSE
    assert "Stage 1: build an LLM\nbook chapters 2–4" in text and "a foundation model" in text


def test_notebook_01_links_every_notebook_of_the_three_stages():
    cells = json.loads((ROOT / "notebooks" / "01_overview.ipynb").read_text(encoding="utf-8"))["cells"]
    markdown = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "markdown")
    for _, _, _, notebooks in STAGES:
        for name, _ in notebooks:
            assert f"[{name}]({name}.ipynb)" in markdown, name


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: draw_course_path(PATH_TOKENS, PATH_IDS[:3], "x"), "tokens and token_ids must be equally long"),
        (lambda: draw_course_path(PATH_TOKENS, PATH_IDS, "x", {"emb_dim": 8}), "missing keys"),
        (lambda: draw_course_path(["a very long token"] * 6, list(range(6)), "x"), "too long to draw"),
        (lambda: draw_model_sizes({}), "1 to 8 models, got 0"),
        (lambda: draw_model_sizes({"tiny": 3_000}), r"between 10 million and 1 trillion: tiny: 3,000"),
        (lambda: draw_model_sizes(GPT2_PARAMETERS, {f"m{i}": 10**9 for i in range(5)}), "1 to 8 models, got 9"),
        (lambda: draw_attention_masks(["one"]), "2 to 6 words, got 1"),
        (lambda: draw_attention_masks(["a", "b"], masked=2), "masked=2 is out of range for 2 words"),
        (lambda: draw_attention_masks(["a rather long word"] * 6), "too long to draw two masks"),
        (lambda: draw_generation_strip([], NEW_TOKENS), "need a prompt and 1 to 6 new tokens, got 0 and 4"),
        (lambda: draw_generation_strip(PATH_TOKENS, NEW_TOKENS * 2), "1 to 6 new tokens, got 4 and 8"),
        (lambda: draw_generation_strip(PATH_TOKENS, [" extraordinarily"] * 6), "too wide to draw"),
    ],
)
def test_bad_input_raises_a_clear_value_error(make, message):
    with pytest.raises(ValueError, match=message):
        make()
