"""helpers.teaching.diagrams: every diagram renders, closed from pyplot, keeps its text legible, apart and inside,
shows its words; bad input."""

from __future__ import annotations

import functools
import importlib
import inspect
import io
import math

import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.text import Text
from PIL import Image

from helpers.bpe import BPETokenizer
from helpers.gpt import TINY_CONFIG
from helpers.gpt2_tokenizer import gpt2_bpe
from helpers.schedule import LRSchedule
from helpers.teaching import diagrams
from helpers.teaching.diagrams import (
    draw,
    draw_attention_dropout,
    draw_attention_masks,
    draw_bpe_merges,
    draw_causal_mask,
    draw_classifier_head,
    draw_collate_steps,
    draw_context_vector,
    draw_course_path,
    draw_cross_entropy,
    draw_embedding_lookup,
    draw_encoder_decoder,
    draw_feed_forward,
    draw_finetuning_kinds,
    draw_generation_loop,
    draw_generation_strip,
    draw_gpt_architecture,
    draw_gpt_to_llama,
    draw_grouped_query_attention,
    draw_input_embeddings,
    draw_last_token,
    draw_layer_norm,
    draw_lora,
    draw_lr_schedule,
    draw_model_sizes,
    draw_multihead_attention,
    draw_multihead_shapes,
    draw_multihead_wrapper,
    draw_next_token_pairs,
    draw_prompt_styles,
    draw_q4_1_block,
    draw_qkv_projections,
    draw_rope_row_order,
    draw_shortcut_connections,
    draw_special_tokens,
    draw_stride_windows,
    draw_temperature_top_k,
    draw_three_stages,
    draw_tokenization_pipeline,
    draw_training_loop,
    draw_training_runs,
    draw_transformer_block,
    draw_windows_to_batch,
)
from helpers.teaching.diagrams.draw import FILLS, FS_SMALL

# --- the notebooks' data (as printed in their stored outputs) ---

SENTENCE = '"It\'s the last he painted, you know," Mrs. Gisburn said with pardonable pride.'
SENTENCE_TOKENS = ['"', "It", "'", "s", "the", "last", "he", "painted", ",", "you", "know", ",", '"', "Mrs", ".",
                   "Gisburn", "said", "with", "pardonable", "pride", "."]
SENTENCE_IDS = [1, 56, 2, 850, 988, 602, 533, 746, 5, 1126, 596, 5, 1, 67, 7, 38, 851, 1108, 754, 793, 7]
TEXTS = ["Hello, do you like tea?", "In the sunlit terraces of the palace."]
SPECIAL_TOKENS = ["Hello", ",", "do", "you", "like", "tea", "?", "<|endoftext|>", "In", "the", "sunlit", "terraces",
                  "of", "the", "palace", "."]
SPECIAL_IDS = [1131, 5, 355, 1126, 628, 975, 10, 1130, 55, 988, 956, 984, 722, 988, 1131, 7]
STREAM = [40, 367, 2885, 1464, 1807, 3619, 402, 271, 10899, 2138, 257, 7026, 15632, 438, 2016, 257, 922, 5891, 1576,
          438, 568, 340, 373, 645, 1049, 5975, 284, 502, 284, 3285, 326, 11, 287]
INPUTS = [STREAM[4 * i:4 * i + 4] for i in range(8)]
TARGETS = [STREAM[4 * i + 1:4 * i + 5] for i in range(8)]
EMBEDDING = [[0.3374, -0.1778, -0.1690], [0.9178, 1.5810, 1.3010], [1.2753, -0.2010, -0.1606],
             [-0.4015, 0.9666, -1.1481], [-1.1589, 0.3255, -0.6315], [-2.8400, -0.7849, -1.4096]]
WORDS = ["Your", "journey", "starts", "with", "one", "step"]
SENTENCE_VECTORS = [[0.43, 0.15, 0.89], [0.55, 0.87, 0.66], [0.57, 0.85, 0.64], [0.22, 0.58, 0.33],
                    [0.77, 0.25, 0.10], [0.05, 0.80, 0.55]]
SCORES = [[0.2899, 0.0, 0.0, 0.0, 0.0, 0.0], [0.4656, 0.1723, 0.0, 0.0, 0.0, 0.0],
          [0.4594, 0.1703, 0.1731, 0.0, 0.0, 0.0], [0.2642, 0.1024, 0.1036, 0.0186, 0.0, 0.0],
          [0.2183, 0.0874, 0.0882, 0.0177, 0.0786, 0.0], [0.3408, 0.1270, 0.1290, 0.0198, 0.1290, 0.0078]]
CAUSAL_WEIGHTS = torch.softmax(torch.tensor(SCORES).masked_fill(torch.triu(torch.ones(6, 6), 1).bool(), -torch.inf)
                               / 2**0.5, dim=-1)
KEPT = [[1, 1, 0, 1, 1, 0], [0, 0, 0, 1, 0, 1], [1, 1, 1, 1, 0, 1], [0, 1, 1, 0, 0, 1], [0, 1, 0, 1, 0, 1],
        [0, 1, 1, 1, 1, 0]]
GRADS_WITHOUT = [0.0002017, 0.0001201, 0.0007152, 0.001399, 0.00505]
GRADS_WITH = [0.2217, 0.2069, 0.329, 0.2666, 1.326]
VOCAB = ["closer", "every", "effort", "forward", "inches", "moves", "pizza", "toward", "you"]
LOGITS = [4.51, 0.89, -1.90, 6.75, 1.63, -1.62, -1.89, 6.28, 1.79]
CE_INPUTS = [["every", " effort", " moves"], ["I", " really", " like"]]
CE_TARGETS = [[" effort", " moves", " you"], [" really", " like", " chocolate"]]
# the learning rates of notebook 07's appendix D.1 and D.2 (135 steps, warmup 27), and two runs of D.4
LRS_CONSTANT = LRSchedule(0.01, 135, 27, 0.0001, 0.00001, kind="constant").rates()
LRS_COSINE = LRSchedule(0.01, 135, 27, 0.0001, 0.00001).rates()
RUN_SIMPLE = ([10.914, 7.355, 6.588, 6.066], [10.919, 7.570, 6.860, 6.637], [0.01] * 37)
RUN_D4 = ([11.019, 10.179, 6.671, 6.028], [10.997, 10.309, 6.905, 6.743], LRSchedule(0.01, 37, 7, 0.0001).rates())
CE_PROBAS = [[7.4540e-05, 3.1061e-05, 1.1563e-05], [1.0337e-05, 5.6776e-05, 4.7559e-06]]
# " terraces" as GPT-2's merge loop builds it (notebook 02, "The merge loop"): the pieces after each merge, the ranks
TERRACES_STEPS = (
    ("Ġ", "t", "e", "r", "r", "a", "c", "e", "s"),
    ("Ġt", "e", "r", "r", "a", "c", "e", "s"),
    ("Ġt", "er", "r", "a", "c", "e", "s"),
    ("Ġt", "er", "r", "a", "c", "es"),
    ("Ġt", "er", "r", "ac", "es"),
    ("Ġter", "r", "ac", "es"),
    ("Ġter", "r", "aces"),
    ("Ġterr", "aces"),
)
TERRACES_RANKS = (0, 7, 18, 74, 803, 1858, 8556)
TERRACES_IDS = (8812, 2114)


@functools.cache
def gpt2() -> BPETokenizer:
    """GPT-2's tokenizer as our BPETokenizer, read once for the whole module."""
    return gpt2_bpe()


# notebook 01_overview: its sentence, the seeded random GPT's next tokens, GPT-2's sizes (tied, qkv biases), GPT-3's
PATH_TOKENS = ["Every", " effort", " moves", " you"]
PATH_IDS = [6109, 3626, 6100, 345]
NEW_TOKENS = ["semble", " midst", " graphics", " belief"]
GPT2_PARAMETERS = {"gpt2-small (124M)": 124_439_808, "gpt2-medium (355M)": 354_823_168,
                   "gpt2-large (774M)": 774_030_080, "gpt2-xl (1558M)": 1_557_611_200}
GPT3_PARAMETERS = {"GPT-3": 175_000_000_000}


# notebook 08_llama: the first Q4_1 block of SmolLM2's blk.0.attn_q.weight (d, m as float16, then 16 bytes of q)
Q4_1_BLOCK = [0x0F, 0x30, 0xD8, 0xB9, 0x45, 0x87, 0x65, 0x40, 0x6F, 0x65, 0x16, 0x4B, 0x67, 0x76, 0x64, 0x50, 0x22,
              0x67, 0x65, 0x5A]


# every diagram, drawn with the data its notebook passes
CASES = {
    "draw_course_path": lambda: draw_course_path(PATH_TOKENS, PATH_IDS, NEW_TOKENS[0], TINY_CONFIG),
    "draw_model_sizes": lambda: draw_model_sizes(GPT2_PARAMETERS, GPT3_PARAMETERS),
    "draw_attention_masks": lambda: draw_attention_masks([t.strip() for t in PATH_TOKENS], masked=2),
    "draw_generation_strip": lambda: draw_generation_strip(PATH_TOKENS, NEW_TOKENS),
    "draw_three_stages": lambda: draw_three_stages(),
    "draw_tokenization_pipeline": lambda: draw_tokenization_pipeline(SENTENCE, SENTENCE_TOKENS, SENTENCE_IDS),
    "draw_special_tokens": lambda: draw_special_tokens(TEXTS, SPECIAL_TOKENS, SPECIAL_IDS),
    "draw_bpe_merges": lambda: draw_bpe_merges(gpt2(), " terraces"),
    "draw_next_token_pairs": lambda: draw_next_token_pairs([290, 4920, 2241, 287, 257],
                                                           [" and", " established", " himself", " in", " a"]),
    "draw_stride_windows": lambda: draw_stride_windows(STREAM),
    "draw_windows_to_batch": lambda: draw_windows_to_batch(INPUTS, TARGETS),
    "draw_embedding_lookup": lambda: draw_embedding_lookup(EMBEDDING, [2, 3, 5, 1]),
    "draw_input_embeddings": lambda: draw_input_embeddings(INPUTS),
    "draw_context_vector": lambda: draw_context_vector(SENTENCE_VECTORS, WORDS, query=1),
    "draw_qkv_projections": lambda: draw_qkv_projections(words=WORDS),
    "draw_causal_mask": lambda: draw_causal_mask(SCORES, WORDS, d_k=2),
    "draw_attention_dropout": lambda: draw_attention_dropout(CAUSAL_WEIGHTS, KEPT, p=0.5),
    "draw_multihead_attention": lambda: draw_multihead_attention(),
    "draw_multihead_wrapper": lambda: draw_multihead_wrapper(),
    "draw_encoder_decoder": lambda: draw_encoder_decoder(attention=True),
    "draw_multihead_shapes": lambda: draw_multihead_shapes(),
    "draw_gpt_architecture": lambda: draw_gpt_architecture(),
    "draw_transformer_block": lambda: draw_transformer_block(),
    "draw_shortcut_connections": lambda: draw_shortcut_connections(GRADS_WITHOUT, GRADS_WITH),
    "draw_feed_forward": lambda: draw_feed_forward(),
    "draw_layer_norm": lambda: draw_layer_norm([0.2260, 0.3470, 0.0, 0.2216, 0.0, 0.0], eps=0.0, unbiased=True),
    "draw_generation_loop": lambda: draw_generation_loop([15496, 11, 314, 716],
                                                         [27018, 24086, 47843, 30961, 42348, 7267], 1024,
                                                         "Hello, I am Featureiman Byeswickattribute argue"),
    "draw_training_loop": lambda: draw_training_loop(),
    "draw_cross_entropy": lambda: draw_cross_entropy(CE_INPUTS, CE_TARGETS, CE_PROBAS),
    "draw_temperature_top_k": lambda: draw_temperature_top_k(LOGITS, VOCAB),
    "draw_lr_schedule": lambda: draw_lr_schedule({"D.1: warmup, then constant": LRS_CONSTANT,
                                                  "D.2: warmup, then cosine decay": LRS_COSINE}, 27),
    "draw_training_runs": lambda: draw_training_runs({"train_model_simple": RUN_SIMPLE, "train_model": RUN_D4}, 12),
    "draw_finetuning_kinds": lambda: draw_finetuning_kinds(),
    "draw_classifier_head": lambda: draw_classifier_head(),
    "draw_last_token": lambda: draw_last_token(),
    "draw_lora": lambda: draw_lora(),
    "draw_gpt_to_llama": lambda: draw_gpt_to_llama(gpt_layers=12, llama_layers=30),
    "draw_grouped_query_attention": lambda: draw_grouped_query_attention(n_heads=9, n_kv_groups=3),
    "draw_rope_row_order": lambda: draw_rope_row_order(head_dim=8),
    "draw_q4_1_block": lambda: draw_q4_1_block(Q4_1_BLOCK),
    "draw_prompt_styles": lambda: draw_prompt_styles(),
    "draw_collate_steps": lambda: draw_collate_steps(),
}


@pytest.fixture(autouse=True)
def close_figures():
    yield
    plt.close("all")


def texts_of(fig: Figure) -> list[Text]:
    """The visible, non-empty texts of a figure."""
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def all_text(fig: Figure) -> str:
    return "\n".join(t.get_text() for t in texts_of(fig))


def layout_problems(fig: Figure) -> list[str]:
    """Texts outside the figure, overlapping each other, or running out of the box they label."""
    canvas = FigureCanvasAgg(fig)  # a closed figure keeps only a base canvas, which cannot measure text
    canvas.draw()
    renderer = canvas.get_renderer()
    extents = [(t, t.get_window_extent(renderer)) for t in texts_of(fig)]
    problems = []
    inside = fig.bbox.padded(0.5)
    for text, box in extents:
        if not (inside.x0 <= box.x0 and box.x1 <= inside.x1 and inside.y0 <= box.y0 and box.y1 <= inside.y1):
            problems.append(f"outside the figure: {text.get_text()!r}")
    for i, (a, box_a) in enumerate(extents):
        for b, box_b in extents[i + 1:]:
            if box_a.padded(-1).overlaps(box_b.padded(-1)):  # 1 pixel of tolerance: touching is not overlapping
                problems.append(f"overlap: {a.get_text()!r} and {b.get_text()!r}")
    patches = {p.get_gid(): p for p in fig.axes[0].patches if p.get_gid()}
    for text, box in extents:
        gid = text.get_gid() or ""
        if gid.endswith(":label"):
            frame = patches[gid.removesuffix(":label")].get_window_extent(renderer).padded(-1)
            if not (frame.x0 <= box.x0 and box.x1 <= frame.x1 and frame.y0 <= box.y0 and box.y1 <= frame.y1):
                problems.append(f"runs out of its box: {text.get_text()!r}")
        else:  # a free label must not lie on a box
            for patch in patches.values():
                if box.padded(-1).overlaps(patch.get_window_extent(renderer)):
                    problems.append(f"lies on a box: {text.get_text()!r}")
                    break
    return problems


def png_of(fig: Figure) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


def lightness(colour: str) -> float:
    """CIE L* of an sRGB colour: what a greyscale print keeps."""
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in to_rgb(colour)]
    y = 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]
    return 116 * y ** (1 / 3) - 16 if y > 0.008856 else 903.3 * y


# --- every diagram ---


# each chapter module of helpers.teaching.diagrams and the notebook that shows its diagrams
CHAPTERS = {"overview": "01_overview", "text": "02_text_and_tokens", "windows": "03_sliding_window",
            "embeddings": "04_embeddings", "attention": "05_attention", "gpt": "06_gpt_model",
            "pretraining": "07_pretraining", "llama": "08_llama", "classifier": "09_classification_finetuning",
            "instruct": "10_instruction_finetuning"}


def test_every_diagram_function_has_a_case():
    public = {name for name, _ in inspect.getmembers(diagrams, inspect.isfunction) if name.startswith("draw_")}
    assert public == set(CASES) == set(diagrams.__all__)
    assert len(public) >= 20


def test_each_chapter_module_names_its_notebook_and_is_reexported():
    drawn = set()
    for name, notebook in CHAPTERS.items():
        module = importlib.import_module(f"helpers.teaching.diagrams.{name}")
        assert f"notebook {notebook}" in module.__doc__, name
        functions = {f for f, _ in inspect.getmembers(module, inspect.isfunction) if f.startswith("draw_")}
        assert functions == set(module.__all__) and all(getattr(diagrams, f) is getattr(module, f) for f in functions)
        drawn |= functions
    assert drawn == set(CASES)


@pytest.mark.parametrize("name", CASES)
def test_returns_a_figure_already_closed_from_pyplot(name):
    plt.close("all")
    fig = CASES[name]()
    assert fig not in [plt.figure(n) for n in plt.get_fignums()]  # so a notebook cell shows it once
    assert plt.get_fignums() == []


@pytest.mark.parametrize("name", CASES)
def test_renders_to_a_small_png_of_notebook_width(name):
    fig = CASES[name]()
    assert isinstance(fig, Figure)
    data = png_of(fig)
    assert data.startswith(b"\x89PNG\r\n\x1a\n")
    width, height = Image.open(io.BytesIO(data)).size
    assert 850 <= width <= 950  # 8.5 to 9.5 inches at 100 dpi: the width of a notebook cell
    assert 300 <= height <= 800
    assert len(data) < 100_000  # a notebook with its figures stays well under 2 MiB


@pytest.mark.parametrize("name", CASES)
def test_text_is_legible_apart_and_inside(name):
    fig = CASES[name]()
    assert all(t.get_fontsize() >= FS_SMALL for t in texts_of(fig))
    assert layout_problems(fig) == []


@pytest.mark.parametrize("name", CASES)
def test_has_a_title_larger_than_its_text(name):
    fig = CASES[name]()
    sizes = [t.get_fontsize() for t in texts_of(fig)]
    assert max(sizes) > FS_SMALL + 2


def test_diagrams_neither_show_nor_save(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("a diagram function must not show or save")

    monkeypatch.setattr(plt, "show", refuse)
    monkeypatch.setattr(Figure, "savefig", refuse)
    monkeypatch.setattr(Figure, "show", refuse)
    for make in CASES.values():
        plt.close(make())


def test_fills_differ_in_lightness_for_greyscale():
    solid = {kind: lightness(colour) for kind, colour in FILLS.items() if kind not in ("plain", "masked", "frozen")}
    values = sorted(solid.values())
    assert all(b - a >= 7 for a, b in zip(values, values[1:], strict=False)), solid
    assert draw.HATCHES.keys() == {"masked", "frozen"}  # the two white or near-grey kinds carry a hatch


def test_the_layout_check_catches_overlaps_and_overflow():
    fig, ax = draw.canvas(4, 2)
    draw.box(ax, 0.1, 0.1, 0.3, 0.3, "far too long a label for this box")
    draw.label(ax, 2, 1, "one")
    draw.label(ax, 2.05, 1, "one")
    draw.label(ax, 3.95, 1.9, "off the edge", ha="left")
    problems = layout_problems(fig)
    assert any(p.startswith("runs out of its box") for p in problems)
    assert any(p.startswith("overlap: 'one'") for p in problems)
    assert any(p.startswith("outside the figure") for p in problems)


# --- what each diagram shows ---


def test_gpt_architecture_shows_gpt2_small():
    text = all_text(draw_gpt_architecture())
    for expected in ("× 12", "Final LayerNorm", "Token embedding\n50,257 × 768", "Position embedding\n1,024 × 768",
                     "Linear output head\n768 → 50,257", "Transformer block", "Masked multi-head attention",
                     "Dropout (0.1)", "logits: (batch, num_tokens, 50,257)"):
        assert expected in text


def test_gpt_architecture_follows_the_config():
    text = all_text(draw_gpt_architecture({"vocab_size": 1000, "context_length": 64, "emb_dim": 128, "n_heads": 4,
                                           "n_layers": 2, "drop_rate": 0.0, "qkv_bias": False}))
    assert "× 2" in text and "1,000 × 128" in text and "64 × 128" in text and "GPT-2 small" not in text


def test_transformer_block_shows_pre_layernorm_and_two_shortcuts():
    fig = draw_transformer_block()
    texts = [t.get_text() for t in texts_of(fig)]
    order = [t for t in texts if t in ("LayerNorm 1", "Masked multi-head attention", "Dropout (0.1)", "+",
                                       "LayerNorm 2", "Feed forward")]
    assert order == ["LayerNorm 1", "Masked multi-head attention", "Dropout (0.1)", "+", "LayerNorm 2",
                     "Feed forward", "Dropout (0.1)", "+"]
    assert "Linear 768 → 3,072, GELU, Linear 3,072 → 768" in texts
    assert "12 heads × 64 = 768, causal mask" in texts


def test_tokenization_pipeline_shows_every_token_and_id():
    texts = [t.get_text() for t in texts_of(draw_tokenization_pipeline(SENTENCE, SENTENCE_TOKENS, SENTENCE_IDS))]
    assert SENTENCE in texts
    for token, idx in zip(SENTENCE_TOKENS, SENTENCE_IDS, strict=True):
        assert token in texts and str(idx) in texts
    assert "1,130" in all_text(draw_tokenization_pipeline(SENTENCE, SENTENCE_TOKENS, SENTENCE_IDS))


def test_special_tokens_mark_unknown_words_and_the_boundary():
    texts = [t.get_text() for t in texts_of(draw_special_tokens(TEXTS, SPECIAL_TOKENS, SPECIAL_IDS))]
    assert "Hello, do you like tea?" in texts and "In the sunlit terraces of the palace." in texts
    assert texts.count("1131") == 2 and texts.count("1130") == 1 and texts.count("<|endoftext|>") == 2
    assert "<|unk|>" in all_text(draw_special_tokens(TEXTS, SPECIAL_TOKENS, SPECIAL_IDS))


def merge_rows(fig: Figure) -> tuple[list[tuple[str, ...]], list[str]]:
    """The pieces of each row of a BPE merges diagram, top to bottom, and the names of the merges."""
    texts = texts_of(fig)
    names = [t.get_text() for t in texts if t.get_text().startswith("merge ")]
    cells = [t for t in texts if (t.get_gid() or "").endswith(":label")]
    rows: dict[float, list[Text]] = {}
    for t in cells:
        rows.setdefault(round(t.get_position()[1], 3), []).append(t)
    by_x = [sorted(row, key=lambda t: t.get_position()[0]) for _, row in sorted(rows.items())]
    pieces = [tuple(t.get_text() for t in row) for row in by_x]
    return pieces, names


def test_bpe_merges_show_what_gpt2_does_to_terraces():
    pieces, names = merge_rows(draw_bpe_merges(gpt2(), " terraces"))
    assert pieces == [*TERRACES_STEPS, tuple(str(i) for i in TERRACES_IDS)]
    assert [int(n.rsplit("rank ", 1)[1].rstrip(")").replace(",", "")) for n in names] == list(TERRACES_RANKS)
    assert names[0] == "merge 'Ġ' + 't' (rank 0)" and names[-1] == "merge 'Ġter' + 'r' (rank 8,556)"
    assert TERRACES_IDS == tuple(gpt2().encode(" terraces"))


def test_bpe_merges_are_the_tokenizers_own_merge_loop():
    """The rows are `BPETokenizer.merge_steps`, the loop `encode` runs; it stops where no merge applies."""
    pieces, names = merge_rows(draw_bpe_merges(gpt2(), "Akwirw"))
    steps = list(gpt2().merge_steps("Akwirw"))
    assert len(pieces) == len(steps) + 1 and len(names) == len(steps) - 1
    assert pieces[-2] == ("Ak", "w", "ir", "w") and pieces[-1] == tuple(str(i) for i in gpt2().encode("Akwirw"))
    assert [n.rsplit("(", 1)[1] for n in names] == [f"rank {rank:,})" for _, rank in steps[1:]]


def test_next_token_pairs_show_the_four_tasks():
    text = all_text(CASES["draw_next_token_pairs"]())
    assert "4 prediction tasks" in text and "4920\nestablished" in text and "task 4: context" in text


def test_stride_windows_describe_overlap_and_tiling():
    text = all_text(draw_stride_windows(STREAM))
    assert "stride = 1: neighbouring windows share 3 of their 4 tokens" in text
    assert "stride = 4: the windows tile the text, no overlap" in text and "15632" in text


def test_windows_to_batch_shows_the_batch():
    text = all_text(draw_windows_to_batch(INPUTS, TARGETS))
    assert "(8, 4)" in text and "window 7" in text and "3285" in text and "287" in text


def test_embedding_lookup_picks_the_rows():
    texts = [t.get_text() for t in texts_of(draw_embedding_lookup(EMBEDDING, [2, 3, 5, 1]))]
    assert texts.count("−2.8400") == 2 and texts.count("1") >= 4 and "row 5" in texts


def test_input_embeddings_show_the_shapes_and_the_example():
    text = all_text(draw_input_embeddings(INPUTS))
    assert "(8, 4, 256)" in text and "(4, 256)" in text and "tok_emb.weight[373]" in text


def test_context_vector_has_the_notebooks_numbers():
    text = all_text(draw_context_vector(SENTENCE_VECTORS, WORDS, query=1))
    for number in ("0.9544", "1.4950", "0.1385", "0.2379", "0.4419", "0.6515", "0.5683"):
        assert number in text


def test_causal_mask_masks_the_future():
    texts = [t.get_text() for t in texts_of(draw_causal_mask(SCORES, WORDS, d_k=2))]
    assert texts.count("−∞") == 15 and "0.5517" in texts and "0.1529" in texts


def test_attention_dropout_zeroes_and_doubles():
    texts = [t.get_text() for t in texts_of(draw_attention_dropout(CAUSAL_WEIGHTS, KEPT, p=0.5))]
    assert texts.count("×2") == 21 and "2.00" in texts


def test_the_wrapper_draws_separate_heads_and_no_mixing_layer():
    text = all_text(draw_multihead_wrapper(num_heads=12, d_in=768, d_out=64))
    assert "CausalAttention 11" in text and "768 × 64 each" in text and "12 × 64 = 768" in text
    assert "mixes the heads" not in text and "columns 0–63" not in text


def test_encoder_decoder_without_and_with_attention():
    plain = all_text(draw_encoder_decoder(["a", "b", "c"], ["x", "y"]))
    assert "h3: all the decoder gets" in plain and "weighs" not in plain
    assert "step s2 weighs h1 … h3" in all_text(draw_encoder_decoder(["a", "b", "c"], ["x", "y"], attention=True))
    with pytest.raises(ValueError, match="1 to 5 words"):
        draw_encoder_decoder([], [])


def test_multihead_diagrams_show_the_split():
    text = all_text(draw_multihead_attention())
    assert "columns 704–767" in text and "12 × 64 = 768" in text and "head 11" in text
    text = all_text(draw_multihead_shapes(batch=2, num_tokens=6, d_in=3, d_out=4, num_heads=2))
    assert "(2, 2, 6, 2)" in text and ".transpose(1, 2)" in text and "self.out_proj(context)" in text


def test_shortcut_feed_forward_layer_norm_and_generation():
    assert "0.0002017" in all_text(draw_shortcut_connections(GRADS_WITHOUT, GRADS_WITH))
    text = all_text(draw_feed_forward())
    assert "3,072 → 768" in text and "parameters" not in text  # exercise 4.1 asks for the count: not given away
    text = all_text(draw_layer_norm([0.2260, 0.3470, 0.0, 0.2216, 0.0, 0.0], eps=0.0, unbiased=True))
    assert "1.4126" in text and "variance 1.0000" in text and "mean 0.0000" in text
    text = all_text(CASES["draw_generation_loop"]())
    assert "27018" in text and "argmax" in text and "1,024" in text


def test_pretraining_diagrams():
    assert "every 12 steps" in all_text(draw_training_loop(num_epochs=6, eval_freq=12))
    text = all_text(draw_training_loop())
    assert "every eval_freq steps" in text and "each epoch (num_epochs of them)" in text
    text = all_text(draw_cross_entropy(CE_INPUTS, CE_TARGETS, CE_PROBAS))
    assert "loss\n10.7940" in text and "−9.5042" in text
    texts = [t.get_text() for t in texts_of(draw_temperature_top_k(LOGITS, VOCAB))]
    for expected in ("T = 1", "T = 0.1", "T = 5", "top-k = 3", "0.58", "0.99", "forward", "pizza"):
        assert expected in texts
    assert texts.count("0") == 6  # top-3 leaves six tokens at probability 0


def test_lr_schedule_writes_the_formulas_of_the_phases_it_draws():
    text = all_text(draw_lr_schedule({"warmup, then constant": LRS_CONSTANT}, 27))
    assert "warmup, then constant" in text and "warmup ends: step 27" in text and "lr = peak_lr" in text
    assert "cos(π × progress)" not in text  # no decay drawn, no decay written
    assert "warmup_steps = 27 of total_steps = 135, from initial_lr = 0.0001 to peak_lr = 0.01" in text
    text = all_text(CASES["draw_lr_schedule"]())
    assert "lr = min_lr + (peak_lr − min_lr) × ½ × (1 + cos(π × progress))" in text
    assert "lr = initial_lr + step × (peak_lr − initial_lr) / warmup_steps" in text


def test_training_runs_show_each_runs_losses_and_rates():
    fig = CASES["draw_training_runs"]()
    text = all_text(fig)
    assert "train_model_simple: training" in text and "train_model: validation" in text
    assert "Losses measured every 12 steps" in text
    losses, rates = fig.axes[1], fig.axes[2]
    assert [list(line.get_xdata()) for line in losses.lines[:2]] == [[0, 12, 24, 36]] * 2
    assert list(rates.lines[1].get_ydata()) == RUN_D4[2]


def test_instruction_diagrams():
    text = all_text(draw_prompt_styles())
    assert "### Input:\nOcassion" in text and "<|assistant|>\nThe correct spelling is 'Occasion.'" in text
    assert "### Input:" not in all_text(draw_prompt_styles({"instruction": "Name a colour.", "input": "",
                                                             "output": "Blue."}))
    text = all_text(draw_collate_steps())
    # inputs 5, targets 8, masked targets 3, the legend 1; -100: 5 masked targets, the title, a label, the legend
    assert text.count("50256") == 5 + 8 + 3 + 1 and text.count("−100") == 5 + 3


# --- bad input ---


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: draw_tokenization_pipeline(SENTENCE, SENTENCE_TOKENS, SENTENCE_IDS[:-1]),
         "tokens and ids must be equally long.*tokens has 21, ids has 20"),
        (lambda: draw_special_tokens(TEXTS, SPECIAL_TOKENS[:3], SPECIAL_IDS), "tokens and ids must be equally long"),
        (lambda: draw_special_tokens([], SPECIAL_TOKENS, SPECIAL_IDS), "at least one text"),
        (lambda: draw_special_tokens(["a very long text " * 6, "x"], ["a"], [1]), "too long to draw"),
        (lambda: draw_bpe_merges(BPETokenizer({}), ""), "non-empty"),
        (lambda: draw_bpe_merges(BPETokenizer({}), " terraces of"), r"one pre-token piece .* \[' terraces', ' of'\]"),
        (lambda: draw_bpe_merges(BPETokenizer({}), " internationalization"), "too many characters \\(21\\)"),
        (lambda: draw_next_token_pairs([1, 2, 3], context_size=4), "at least context_size \\+ 1 = 5"),
        (lambda: draw_next_token_pairs([1, 2, 3, 4, 5], ["a", "b"]), "token_ids and words must be equally long"),
        (lambda: draw_stride_windows(STREAM[:10]), "need 13 token ids, got 10"),
        (lambda: draw_stride_windows(STREAM, strides=(0, 4)), "must be >= 1"),
        (lambda: draw_windows_to_batch(INPUTS, TARGETS[:7]), "same shape"),
        (lambda: draw_windows_to_batch(INPUTS, INPUTS), "shifted by one"),
        (lambda: draw_embedding_lookup(EMBEDDING, [2, 6]), r"ids \[6\] are out of range .* 6 rows"),
        (lambda: draw_embedding_lookup([1.0, 2.0], [0]), "2-d table"),
        (lambda: draw_input_embeddings(INPUTS, example=(8, 0)), "outside the \\(8, 4\\) batch"),
        (lambda: draw_context_vector(SENTENCE_VECTORS, WORDS[:5]), "one row per word.*5 words"),
        (lambda: draw_context_vector(SENTENCE_VECTORS, WORDS, query=6), "query=6 is out of range"),
        (lambda: draw_qkv_projections(6, 3, 2, WORDS[:2]), "one word per token: 6 tokens but 2 words"),
        (lambda: draw_causal_mask(SCORES, WORDS[:4]), "6 tokens but 4 words"),
        (lambda: draw_causal_mask([[1.0, 2.0, 3.0]], WORDS[:1]), "must be square"),
        (lambda: draw_attention_dropout(CAUSAL_WEIGHTS, KEPT[:5], 0.5), "square|same shape"),
        (lambda: draw_attention_dropout(CAUSAL_WEIGHTS, KEPT, 1.0), r"p must be in \[0, 1\)"),
        (lambda: draw_multihead_attention(num_heads=5, d_out=768), "d_out=768 must be a positive multiple of "
                                                                   "num_heads=5"),
        (lambda: draw_multihead_shapes(d_out=5, num_heads=2), "d_out=5 a multiple of num_heads=2"),
        (lambda: draw_gpt_architecture({"vocab_size": 10}), "missing keys"),
        (lambda: draw_transformer_block({"emb_dim": 8}), "missing keys"),
        (lambda: draw_shortcut_connections(GRADS_WITHOUT, GRADS_WITH[:4]),
         "without_shortcut and with_shortcut must be equally long"),
        (lambda: draw_shortcut_connections(GRADS_WITHOUT, GRADS_WITH, (3, 3)), "one more size than there are layers"),
        (lambda: draw_feed_forward(0), "must be >= 1"),
        (lambda: draw_layer_norm([1.0]), "2 to 8 numbers"),
        (lambda: draw_generation_loop([], [1]), "must not be empty"),
        (lambda: draw_generation_loop([1], [2], context_size=0), "context_size must be >= 1"),
        (lambda: draw_training_loop(eval_freq=0), "must be >= 1 \\(or None\\)"),
        (lambda: draw_cross_entropy(CE_INPUTS, CE_TARGETS[:1], CE_PROBAS), "target_tokens must be a 2 x 3 table"),
        (lambda: draw_cross_entropy(CE_INPUTS, CE_TARGETS, [[0.5, 0.0, 0.1], [0.1, 0.1, 0.1]]), "probabilities"),
        (lambda: draw_temperature_top_k(LOGITS, VOCAB[:8]), "logits and vocab must be equally long"),
        (lambda: draw_temperature_top_k(LOGITS, VOCAB, temperatures=(1, 0)), "temperatures must be > 0"),
        (lambda: draw_temperature_top_k(LOGITS, VOCAB, top_k=10), "top_k must be between 1 and 9"),
        (lambda: draw_lr_schedule({}, 0), "rates must map 1 to 4 names to non-empty lists"),
        (lambda: draw_lr_schedule({"a": LRS_COSINE}, 136), "warmup_steps must be between 0 and the 135 steps drawn"),
        (lambda: draw_training_runs({"a": ([1.0, 2.0], [1.0], [0.1])}, 12), "the two loss lists equally long"),
        (lambda: draw_training_runs({"a": RUN_D4}, 0), "eval_freq must be >= 1, got 0"),
        (lambda: draw_classifier_head(num_classes=3), "class_names must hold num_classes=3 names"),
        (lambda: draw_last_token(["only"]), "2 to 8 tokens"),
        (lambda: draw_lora(rank=0), "rank"),
        (lambda: draw_prompt_styles({"instruction": "x", "input": ""}), "must have the str fields"),
        (lambda: draw_prompt_styles({"instruction": "x" * 121, "input": "", "output": "y"}), "too long to draw"),
        (lambda: draw_collate_steps([[1] * 7]), "1 to 4 items of 1 to 6 token ids"),
    ],
)
def test_bad_input_raises_a_clear_value_error(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_bpe_merges_need_a_bpe_tokenizer_and_a_text():
    with pytest.raises(TypeError, match="tokenizer must be a helpers.bpe.BPETokenizer, got object"):
        draw_bpe_merges(object(), " terraces")
    with pytest.raises(TypeError, match="piece must be a str, got bytes"):
        draw_bpe_merges(BPETokenizer({}), b" terraces")


def test_numbers_are_written_with_true_minus_signs():
    assert draw.fmt(-0.5) == "−0.5000" and draw.fmt(-math.inf) == "−∞"
