"""helpers.schedule and the appendix D options of helpers.train: the learning rate of every step against the book's
formula, gradient clipping from the step the warmup ends, the optimizer's peak, and every bad argument."""

from __future__ import annotations

import math

import pytest
import torch

from helpers.datafiles import load_text
from helpers.gpt import GPTModel
from helpers.gpt2_tokenizer import gpt2_encoding
from helpers.schedule import LRSchedule
from helpers.train import make_loaders, optimizer_steps, train_model

MICRO = {"vocab_size": 50257, "context_length": 16, "emb_dim": 16, "n_heads": 2, "n_layers": 1, "drop_rate": 0.0,
         "qkv_bias": False}
# The book's appendix D numbers: 15 epochs of 9 batches, 20% warmup, from 0.0001 to 0.01, cosine decay to 0.00001.
BOOK = {"peak_lr": 0.01, "total_steps": 135, "warmup_steps": 27, "initial_lr": 0.0001, "min_lr": 0.00001}


def book_formula(step: int, peak_lr: float, total_steps: int, warmup_steps: int, initial_lr: float, min_lr: float,
                 cosine: bool = True) -> float:
    """The learning rate of `step` as the book's appendix D loops compute it (D.1 with cosine=False, D.2 and D.4)."""
    if step < warmup_steps:
        return initial_lr + step * ((peak_lr - initial_lr) / warmup_steps)
    if not cosine:
        return peak_lr
    progress = (step - warmup_steps) / (total_steps - warmup_steps)
    return min_lr + (peak_lr - min_lr) * 0.5 * (1 + math.cos(math.pi * progress))


@pytest.mark.parametrize("kind", ["cosine", "constant"])
@pytest.mark.parametrize("numbers", [BOOK, {**BOOK, "warmup_steps": 20},
                                     {"peak_lr": 1e-3, "total_steps": 135, "warmup_steps": 27, "initial_lr": 1e-5,
                                      "min_lr": 1e-5}])
def test_every_step_follows_the_books_formula(numbers, kind):
    schedule = LRSchedule(**numbers, kind=kind)
    expected = [book_formula(step, **numbers, cosine=kind == "cosine") for step in range(numbers["total_steps"])]
    assert schedule.rates() == expected  # bit for bit: the same operations in the same order
    assert [schedule(step) for step in range(numbers["total_steps"])] == expected


def test_the_books_warmup_peak_and_end():
    schedule = LRSchedule(**BOOK)
    assert schedule(0) == 0.0001  # the warmup starts at initial_lr
    assert schedule(26) < 0.01 == schedule(27)  # the peak comes at the step the warmup ends, not before
    assert all(a < b for a, b in zip(schedule.rates()[:28], schedule.rates()[1:28], strict=False))  # rising
    assert all(a > b for a, b in zip(schedule.rates()[27:], schedule.rates()[28:], strict=False))  # then falling
    assert schedule(134) == pytest.approx(1.2113e-5, rel=1e-4)  # progress 107/108 at the last step: above min_lr
    assert schedule(81) == pytest.approx(0.005005)  # the cosine's midpoint: halfway between peak and min_lr


def test_no_warmup_and_constant_is_chapter_5s_constant_rate():
    assert LRSchedule(peak_lr=4e-4, total_steps=90, kind="constant").rates() == [4e-4] * 90
    assert LRSchedule(peak_lr=4e-4, total_steps=90)(0) == 4e-4  # a cosine without warmup starts at the peak


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"total_steps": 0}, ValueError, "total_steps must be a whole number >= 1, got 0"),
        ({"total_steps": 13.5}, TypeError, "total_steps must be a whole number >= 1, got 13.5"),
        ({"warmup_steps": -1}, ValueError, "warmup_steps must be a whole number >= 0, got -1"),
        ({"warmup_steps": 136}, ValueError, r"warmup_steps \(136\) must not exceed total_steps \(135\)"),
        ({"peak_lr": 0}, ValueError, "peak_lr must be > 0, got 0"),
        ({"peak_lr": float("nan")}, ValueError, "peak_lr must be a finite number >= 0, got nan"),
        ({"min_lr": -1e-5}, ValueError, "min_lr must be a finite number >= 0, got -1e-05"),
        ({"initial_lr": "0.1"}, ValueError, "initial_lr must be a finite number >= 0, got '0.1'"),
        ({"initial_lr": 0.1}, ValueError, r"initial_lr \(0.1\) must not exceed peak_lr \(0.01\)"),
        ({"min_lr": 0.1}, ValueError, r"min_lr \(0.1\) must not exceed peak_lr \(0.01\)"),
        ({"kind": "linear"}, ValueError, "kind must be one of constant, cosine, got 'linear'"),
    ],
)
def test_bad_schedules_name_the_argument(kwargs, error, message):
    with pytest.raises(error, match=message):
        LRSchedule(**{**BOOK, **kwargs})


def test_unused_rates_are_not_checked_against_the_peak():
    LRSchedule(peak_lr=1e-5, total_steps=10, initial_lr=3e-5)  # no warmup: initial_lr is not used
    LRSchedule(peak_lr=1e-5, total_steps=10, min_lr=1e-3, kind="constant")  # no decay: min_lr is not used


def test_steps_outside_the_schedule_are_refused():
    schedule = LRSchedule(**BOOK)
    with pytest.raises(ValueError, match=r"step 135 is past the schedule's 135 steps \(0 to 134\)"):
        schedule(135)
    with pytest.raises(ValueError, match="step must be a whole number >= 0, got -1"):
        schedule(-1)


# --- the loop: the rate of each step, clipping from the warmup's end ---


@pytest.fixture(scope="module")
def loaders():
    return make_loaders(load_text("the-verdict.txt"), gpt2_encoding(), context_length=16, batch_size=4)


def micro_model() -> GPTModel:
    torch.manual_seed(123)
    return GPTModel(MICRO)


def clipped_steps(model, train_loader, schedule, clip_from_step, monkeypatch) -> list[int]:
    """The steps at which optimizer_steps called clip_grad_norm_, over the whole schedule."""
    seen: list[int] = []
    current = {"step": None}
    real = torch.nn.utils.clip_grad_norm_

    def spy(parameters, max_norm, *args, **kwargs):
        seen.append(current["step"])
        return real(parameters, max_norm, *args, **kwargs)

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spy)
    optimizer = torch.optim.AdamW(model.parameters(), lr=schedule.peak_lr)
    steps = optimizer_steps(model, train_loader, optimizer, "cpu", 1, max_steps=schedule.total_steps,
                            lr_schedule=lambda step: current.update(step=step) or schedule(step),
                            clip_grad_norm=1.0, clip_from_step=clip_from_step)
    for _ in steps:
        pass
    return seen


def test_clipping_starts_at_the_step_the_warmup_ends(loaders, monkeypatch):
    schedule = LRSchedule(peak_lr=5e-3, total_steps=8, warmup_steps=3, initial_lr=1e-4, min_lr=1e-5)
    seen = clipped_steps(micro_model(), loaders[0], schedule, schedule.warmup_steps, monkeypatch)
    assert seen == [3, 4, 5, 6, 7]  # not from step 4, as the print book's `global_step > warmup_steps` did


def test_train_model_clips_from_the_schedules_warmup_and_records_every_rate(loaders):
    """The gradients the optimizer sees at each step: clipped to norm 0.25 from the warmup's end on, not before."""
    train_loader, val_loader = loaders
    schedule = LRSchedule(peak_lr=5e-3, total_steps=6, warmup_steps=2, initial_lr=1e-4, min_lr=1e-5)
    model = micro_model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3)
    norms: list[float] = []

    def record(optimizer, args, kwargs):
        grads = [p.grad for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
        norms.append(torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(g) for g in grads])).item())

    optimizer.register_step_pre_hook(record)
    history = train_model(model, train_loader, val_loader, optimizer, "cpu", 1, 100, 1, "Every", gpt2_encoding(),
                          max_steps=6, progress=False, log=None, lr_schedule=schedule, clip_grad_norm=0.25)
    assert history.learning_rates == schedule.rates()
    assert all(norm > 0.4 for norm in norms[:2])  # the warmup's steps: as computed (this model's norms are about 0.55)
    assert norms[2:] == pytest.approx([0.25] * 4, rel=1e-5)  # from step 2 = warmup_steps on: clipped to 0.25


def test_the_print_books_clipping_differs_by_one_step(loaders, monkeypatch):
    schedule = LRSchedule(peak_lr=5e-3, total_steps=6, warmup_steps=2)
    assert clipped_steps(micro_model(), loaders[0], schedule, 3, monkeypatch) == [3, 4, 5]


def test_without_schedule_and_clipping_the_loop_is_chapter_5s(loaders):
    train_loader, val_loader = loaders
    runs = []
    for extra in ({}, {"lr_schedule": LRSchedule(peak_lr=5e-3, total_steps=5, kind="constant")}):
        model = micro_model()
        optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3, weight_decay=0.1)
        history = train_model(model, train_loader, val_loader, optimizer, "cpu", 1, 2, 1, "Every", gpt2_encoding(),
                              max_steps=5, progress=False, log=None, **extra)
        runs.append((history, model.state_dict()))
    (plain, plain_weights), (constant, constant_weights) = runs
    assert plain.learning_rates == constant.learning_rates == [5e-3] * 5
    assert plain.train_losses == constant.train_losses
    assert all(torch.equal(plain_weights[name], constant_weights[name]) for name in plain_weights)


def test_the_log_shows_the_rate_of_the_evaluated_step(loaders):
    train_loader, val_loader = loaders
    model = micro_model()
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3)
    lines: list[str] = []
    schedule = LRSchedule(peak_lr=5e-3, total_steps=4, warmup_steps=2, initial_lr=1e-3)
    train_model(model, train_loader, val_loader, optimizer, "cpu", 1, 2, 1, "Every", gpt2_encoding(), max_steps=4,
                progress=False, log=lines.append, lr_schedule=schedule)
    assert lines[0].startswith("Ep 1 (Step 000000): Train loss ") and lines[0].endswith(", lr 0.001")
    assert lines[1].startswith("Ep 1 (Step 000002): ") and lines[1].endswith(", lr 0.005")


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"clip_grad_norm": 0.0}, ValueError, r"clip_grad_norm must be a number > 0 \(or None: no clipping\), got 0.0"),
        ({"clip_grad_norm": float("inf")}, ValueError, "clip_grad_norm must be a number > 0"),
        ({"clip_grad_norm": True}, ValueError, "clip_grad_norm must be a number > 0"),
        ({"clip_grad_norm": 1.0, "clip_from_step": -1}, ValueError, "clip_from_step must be a whole number >= 0"),
        ({"lr_schedule": 0.01}, TypeError, "lr_schedule must be a function of the step, such as an LRSchedule, got "
                                           "float"),
        ({"lr_schedule": LRSchedule(peak_lr=5e-3, total_steps=3)}, ValueError,
         r"the schedule covers 3 steps, but training takes 4: give it total_steps=4"),
        ({"lr_schedule": LRSchedule(peak_lr=1e-3, total_steps=4)}, ValueError,
         r"the optimizer's learning rate \(0.005\) is not the schedule's peak_lr \(0.001\): create the optimizer "
         "with lr=peak_lr"),
    ],
)
def test_bad_schedule_and_clipping_arguments_stop_before_any_step(loaders, kwargs, error, message):
    train_loader, val_loader = loaders
    model = micro_model()
    before = {name: value.clone() for name, value in model.state_dict().items()}
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3)
    with pytest.raises(error, match=message):
        train_model(model, train_loader, val_loader, optimizer, "cpu", 1, 2, 1, "Every", gpt2_encoding(), max_steps=4,
                    progress=False, log=None, **kwargs)
    assert all(torch.equal(before[name], value) for name, value in model.state_dict().items())
