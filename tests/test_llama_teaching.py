"""What notebook 08_llama shows beside the model: its plots, diagrams' numbers, the chat explorer driven headless, the
exercises 8.A and 8.B, and the nbval plugin that keeps an explorer's first view in its widget."""

from __future__ import annotations

import functools

import matplotlib.pyplot as plt
import pytest
import torch
from matplotlib.figure import Figure
from nbval_widgets import capture_change, get_kernel_message

from helpers.llama import SMOLLM2_CONFIG, kv_cache_bytes, precompute_rope_params
from helpers.smollm2 import load_smollm2, smollm2_tokenizer
from helpers.teaching.diagrams import draw_grouped_query_attention, draw_q4_1_block, draw_rope_row_order
from helpers.teaching.exercises import evaluate
from helpers.teaching.llama_plots import plot_next_token_probabilities, plot_rope_rotation, plot_silu_gelu
from helpers.teaching.widgets import EXPLORER_TEXT, chat_explorer

BLOCK = [0x0F, 0x30, 0xD8, 0xB9, *range(16)]  # d = 0.12683, m = -0.7305; q 0, 1, ... in the low halves


@functools.cache
def smollm2():
    return load_smollm2()


@pytest.fixture(autouse=True)
def close_figures():
    plt.close("all")
    yield
    plt.close("all")


def texts(fig: Figure) -> str:
    return "\n".join(t.get_text() for t in fig.findobj(lambda a: hasattr(a, "get_text")) if t.get_text())


# --- plots ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("make", [
    plot_silu_gelu,
    lambda: plot_rope_rotation(*precompute_rope_params(64, 100_000.0, 16), pairs=[0, 4, 12]),
    lambda: plot_next_token_probabilities(["The", " Paris"], [0.9, 0.05], "first token"),
])
def test_plots_return_a_closed_figure(make):
    fig = make()
    assert isinstance(fig, Figure) and plt.get_fignums() == []


def test_the_rope_plot_names_each_pairs_angle():
    fig = plot_rope_rotation(*precompute_rope_params(64, 100_000.0, 16), pairs=[0, 4], positions=3)
    assert "pair 0: 1 rad per position" in texts(fig) and "pair 4: 0.237 rad per position" in texts(fig)


@pytest.mark.parametrize(("call", "message"), [
    (lambda: plot_rope_rotation(torch.ones(4, 8), torch.ones(4, 6), [0]), "cos and sin must be"),
    (lambda: plot_rope_rotation(torch.ones(4, 8), torch.ones(4, 8), [4]), r"pairs must be in 0..3"),
    (lambda: plot_next_token_probabilities(["a"], [0.5, 0.5]), "equally long"),
])
def test_plots_refuse_bad_input(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# --- diagrams: the numbers they show -------------------------------------------------------------------------------


def test_the_q4_1_block_shows_its_scale_minimum_and_weights():
    shown = texts(draw_q4_1_block(BLOCK))
    assert "d = 0.12683" in shown and "m = −0.7305" in shown
    assert "−0.7305" in shown and "0.1573" in shown  # q = 0 and q = 7: m and 7 d + m
    with pytest.raises(ValueError, match="a Q4_1 block is 20 bytes"):
        draw_q4_1_block(BLOCK[:19])


def test_the_grouped_query_picture_counts_the_cache():
    shown = texts(draw_grouped_query_attention(9, 3, 64, 30))
    assert f"{kv_cache_bytes(SMOLLM2_CONFIG, 1):,} bytes per token" in shown and "1,080 MiB → 360 MiB" in shown
    with pytest.raises(ValueError, match="must be a multiple of n_kv_groups"):
        draw_grouped_query_attention(9, 4)
    with pytest.raises(ValueError, match="head_dim must be even"):
        draw_rope_row_order(7)


# --- the chat explorer ---------------------------------------------------------------------------------------------


def test_the_chat_explorer_answers_and_follows_the_temperature():
    explorer = chat_explorer(smollm2(), smollm2_tokenizer(), max_new_tokens=8)
    assert repr(explorer) == EXPLORER_TEXT
    assert explorer.result == "The capital of France is Paris."
    box, slider = explorer.children[0], explorer.children[1]
    slider.value = 1.5
    hot = explorer.result
    slider.value = 0.0
    slider.value = 1.5
    assert explorer.result == hot  # seeded: the same settings, the same answer
    box.value = "   "
    assert explorer.result is None


# --- exercises -----------------------------------------------------------------------------------------------------


def solution_8a(cfg, num_tokens, bytes_per_number):
    return 2 * cfg["n_layers"] * cfg["n_kv_groups"] * cfg["emb_dim"] // cfg["n_heads"] * num_tokens * bytes_per_number


def test_8_a():
    assert evaluate("8.A", kv_cache_bytes=solution_8a).status == "passed"
    keys_only = evaluate("8.A", kv_cache_bytes=lambda cfg, n, b: solution_8a(cfg, n, b) // 2)
    assert keys_only.status == "wrong" and "counts the keys only" in keys_only.message
    every_head = evaluate("8.A", kv_cache_bytes=lambda cfg, n, b: solution_8a({**cfg, "n_kv_groups": cfg["n_heads"]},
                                                                              n, b))
    assert every_head.status == "wrong" and "counts every query head" in every_head.message

    def stub(cfg, num_tokens, bytes_per_number):
        raise NotImplementedError

    assert evaluate("8.A", kv_cache_bytes=stub).status == "unanswered"


def test_8_b():
    assert evaluate("8.B", hidden_dim=2048).status == "passed"
    assert "3072 is GPT-2's width" in evaluate("8.B", hidden_dim=3072).message
    assert "has 3 × 768 × 2,000 = 4,608,000 weights" in evaluate("8.B", hidden_dim=2000).message
    assert evaluate("8.B", hidden_dim=...).status == "unanswered"


# --- the nbval plugin ----------------------------------------------------------------------------------------------


def message(msg_type: str, **content) -> dict:
    return {"msg_type": msg_type, "content": content, "parent_header": {"msg_id": "cell"}}


def test_outputs_captured_by_an_output_widget_are_left_to_the_widget():
    start = message("comm_msg", comm_id="w", data={"method": "update", "state": {"msg_id": "cell"}})
    stop = message("comm_msg", comm_id="w", data={"method": "update", "state": {"msg_id": ""}})
    queue = [start, message("stream", name="stdout", text="captured"), stop, message("execute_result", data={}),
             message("status", execution_state="idle")]
    assert capture_change(start) == ("w", True) and capture_change(stop) == ("w", False)

    class Cell:
        def kernel_get(self, stream, timeout=None):
            return queue.pop(0)

    import nbval_widgets

    original = nbval_widgets._get_kernel_message
    nbval_widgets._get_kernel_message = lambda self, timeout=None, stream="iopub": self.kernel_get(stream, timeout)
    try:
        cell = Cell()
        seen = [get_kernel_message(cell)["msg_type"] for _ in range(4)]
    finally:
        nbval_widgets._get_kernel_message = original
    assert seen == ["comm_msg", "comm_msg", "execute_result", "status"]  # the captured stdout was skipped
