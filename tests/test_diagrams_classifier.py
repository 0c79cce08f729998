"""helpers.teaching.diagrams.classifier, the diagrams of notebook 09_classification_finetuning: what each one shows,
that it fits the model it is drawn for, and bad input. Every diagram's rendering, legibility and layout at its
default arguments is checked with all the others in tests/test_diagrams.py."""

from __future__ import annotations

import re
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
from matplotlib.colors import to_hex
from test_diagrams import all_text, layout_problems, texts_of

from helpers.teaching.diagrams import draw_classifier_head, draw_finetuning_kinds, draw_last_token, draw_lora
from helpers.teaching.diagrams.draw import FILLS

ROOT = Path(__file__).resolve().parent.parent
LONG = "You are a winner you have been specially selected to receive $1000 cash or a $2000 award."


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def fills_behind(fig, text: str) -> list[str]:
    """The fills of the boxes labelled `text`, left to right."""
    patches = {p.get_gid(): p for p in fig.axes[0].patches if p.get_gid()}
    labels = sorted((t for t in texts_of(fig) if t.get_text() == text), key=lambda t: t.get_position()[0])
    return [to_hex(patches[t.get_gid().removesuffix(":label")].get_facecolor()) for t in labels]


# --- 6.1: the two kinds of fine-tuning ---


def test_finetuning_kinds_name_each_kind_its_chapter_and_its_notebook():
    fig = draw_finetuning_kinds()
    text = all_text(fig)
    assert "Classification fine-tuning" in text and "Instruction fine-tuning" in text
    assert "book chapter 6 · notebook 09_classification_finetuning" in text
    assert "book chapter 7 · notebook 10_instruction_finetuning" in text
    named = re.findall(r"notebook (\d\d_[a-z_]+)", text)
    assert len(named) == 2 and all((ROOT / "notebooks" / f"{n}.ipynb").is_file() for n in named)


def test_finetuning_kinds_show_a_class_out_and_a_response_out():
    fig = draw_finetuning_kinds()
    texts = [t.get_text() for t in texts_of(fig)]
    assert "GPT with a new head: 2 classes" in texts and "GPT with its next-token head" in texts
    assert fills_behind(fig, "spam") == [FILLS["highlight"]] and fills_behind(fig, "not spam") == [FILLS["data"]]
    assert fills_behind(fig, "Yes.") == [FILLS["highlight"]]
    message = next(t for t in texts if t.startswith("You are a winner"))
    assert message == "You are a winner you have been specially selected to\nreceive \\$1000 cash or a \\$2000 award."
    instruction = next(t for t in texts if t.startswith("Is this text spam?"))
    assert instruction.startswith("Is this text spam? Answer yes or no:\n'You are a winner")
    assert instruction.endswith(" …'")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"message": "Ok lar"},
        {"message": LONG * 3},
        {"message": "Great film", "class_names": ("positive", "negative", "neutral"), "answer": 0,
         "instruction": "Is this review positive?", "response": "Yes, it is."},
        {"class_names": ("ham", "spam", "phishing", "advert"), "answer": 3},
    ],
    ids=["short", "cut", "three classes", "four classes"],
)
def test_finetuning_kinds_fit_other_messages_and_classes(kwargs):
    fig = draw_finetuning_kinds(**kwargs)
    assert layout_problems(fig) == []
    texts = [t.get_text() for t in texts_of(fig)]
    assert all(name in texts for name in kwargs.get("class_names", ("not spam", "spam")))
    if "message" in kwargs and len(kwargs["message"]) > 200:
        assert any(t.endswith(" …") and t.count("\n") == 1 for t in texts)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"message": "  "}, "message must be a non-empty text"),
        ({"class_names": ("spam",), "answer": 0}, "2 to 4 different, non-empty names"),
        ({"class_names": ("spam", "spam")}, "2 to 4 different, non-empty names"),
        ({"answer": 2}, r"answer must index class_names \(0 to 1\), got 2"),
        ({"response": ""}, "response must be one short line"),
        ({"instruction": "Is this text spam?\nAnswer yes or no:"}, "instruction must be one short line"),
    ],
)
def test_finetuning_kinds_refuse_bad_input(kwargs, message):
    with pytest.raises(ValueError, match=message):
        draw_finetuning_kinds(**kwargs)


# --- 6.5: the head swap, for the model beside it ---


def test_classifier_head_for_gpt2_small():
    text = all_text(draw_classifier_head(model_name="GPT-2 small, OpenAI's weights"))
    assert "out_head: Linear(768, 50,257)" in text and "new out_head: Linear(768, 2)" in text
    assert "GPT-2 small, OpenAI's weights" in text and "transformer blocks 1 to 11" in text
    assert "transformer block 12" in text


@pytest.mark.parametrize(
    ("n_layers", "frozen", "trained"),
    [
        (1, None, "transformer block 1"),
        (2, "transformer block 1", "transformer block 2"),
        (3, "transformer blocks 1 and 2", "transformer block 3"),
        (12, "transformer blocks 1 to 11", "transformer block 12"),
    ],
)
def test_classifier_head_reads_right_for_any_number_of_blocks(n_layers, frozen, trained):
    fig = draw_classifier_head(emb_dim=32, n_layers=n_layers, model_name="small GPT, random weights")
    assert layout_problems(fig) == []
    texts = [t.get_text() for t in texts_of(fig)]
    assert "small GPT, random weights" in texts and "pretrained" not in all_text(fig)
    assert "out_head: Linear(32, 50,257)" in texts and "new out_head: Linear(32, 2)" in texts
    assert not any(re.search(r"blocks (\d+) (to|and) \1\b", t) for t in texts)  # never "blocks 1 to 1"
    layer, frozen_fill = FILLS["layer"], FILLS["frozen"]
    assert fills_behind(fig, trained) == fills_behind(fig, "final LayerNorm") == [layer, layer]
    assert fills_behind(fig, "token + position embeddings") == [layer, frozen_fill]
    if frozen is None:
        assert not any(t.startswith("transformer blocks") for t in texts) and texts.count("transformer block 1") == 2
    else:
        assert fills_behind(fig, frozen) == [layer, frozen_fill]


def test_classifier_head_without_a_name_names_the_sizes_only():
    text = all_text(draw_classifier_head(emb_dim=32, n_layers=2))
    assert "GPT: 2 blocks, emb_dim 32" in text and "GPT-2" not in text and "pretrained" not in text
    assert "GPT: 1 block, emb_dim 8" in all_text(draw_classifier_head(emb_dim=8, n_layers=1))


def test_classifier_head_refuses_bad_sizes():
    with pytest.raises(ValueError, match="n_layers must be >= 1.*n_layers=0"):
        draw_classifier_head(n_layers=0)
    with pytest.raises(ValueError, match="class_names must hold num_classes=3 names"):
        draw_classifier_head(num_classes=3)


# --- 6.6 and appendix E ---


def test_last_token_and_lora():
    assert "position 3: sees all" in all_text(draw_last_token())
    text = all_text(draw_lora(768, 768, rank=8, alpha=16))
    assert "× alpha / r = 16 / 8 = 2" in text and "12,288" in text and "589,824" in text
