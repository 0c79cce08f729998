"""Pretraining: the loss, the loaders of a train/validation split, and the training loop.

Built in notebooks/07_pretraining.ipynb: `calc_loss_batch`, `calc_loss_loader` and the loaders in section 5.1.3
("Calculating the training and validation set losses"), `evaluate_model` and `train_model` (the book's
`train_model_simple`, proved equal) in 5.2 ("Training an LLM").
Its part "Appendix D" adds a learning-rate schedule (`helpers.schedule.LRSchedule`: warmup, then cosine decay) and
gradient clipping: the book's D.4 `train_model` is `train_model(..., lr_schedule=..., clip_grad_norm=1.0)`, proved
equal there. `optimizer_steps` and `average_loss` are the loop and the loss average that the classifier of
notebooks/09_classification_finetuning.ipynb reuses. The terminal program is `helpers.train_cli`
(`python -m helpers.train --help`); the notebook's run and the terminal's build their loaders the same way, so the
same recipe gives the same losses in both.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler
from tqdm.auto import tqdm

from helpers.checks import check_int, plural
from helpers.generate import generate, text_to_token_ids, token_ids_to_text
from helpers.sliding_window import GPTDatasetV1, create_dataloader_v1
from helpers.text import ENDOFTEXT, show_whitespace

__all__ = [
    "LossOfBatch",
    "NotEnoughDataError",
    "TrainingHistory",
    "TrainingInterrupted",
    "average_loss",
    "calc_loss_batch",
    "calc_loss_loader",
    "evaluate_losses",
    "evaluate_model",
    "is_main_process",
    "make_loaders",
    "optimizer_steps",
    "sample_text",
    "set_learning_rate",
    "train_model",
    "unwrap",
]

LossOfBatch = Callable[[torch.Tensor, torch.Tensor, nn.Module, object], torch.Tensor]


def calc_loss_batch(input_batch: torch.Tensor, target_batch: torch.Tensor, model: nn.Module, device) -> torch.Tensor:
    """Mean cross-entropy of the model's next-token predictions over one batch."""
    logits = model(input_batch.to(device))  # (batch, num_tokens, vocab_size)
    return F.cross_entropy(logits.flatten(0, 1), target_batch.to(device).flatten())


def average_loss(
    loss_batch: LossOfBatch, data_loader: Iterable, model: nn.Module, device, num_batches: int | None = None
) -> float:
    """The average of `loss_batch` over the first `num_batches` batches of a loader (all of them by default)."""
    check_int(num_batches, "num_batches", allow_none=True)
    available = len(data_loader)
    if available == 0:
        raise ValueError("the data loader yields no batches: the text is too short for one batch")
    n = available if num_batches is None else min(num_batches, available)
    total = 0.0
    for i, (inputs, targets) in enumerate(data_loader):
        if i >= n:
            break
        total += loss_batch(inputs, targets, model, device).item()
    return total / n


def calc_loss_loader(data_loader: Iterable, model: nn.Module, device, num_batches: int | None = None) -> float:
    """Average next-token loss over the first `num_batches` batches of a loader (all of them by default)."""
    return average_loss(calc_loss_batch, data_loader, model, device, num_batches)


class NotEnoughDataError(ValueError):
    """`make_loaders`' text is too short for its sizes: the `part` ("train" or "validation") has `available` tokens
    (`unit` "token") or windows (`unit` "window"), fewer than the `needed` for one window or one batch.

    The message names `make_loaders`' arguments; the terminal trainer words its own from these numbers.
    """

    def __init__(self, message: str, *, part: str, unit: str, available: int, needed: int) -> None:
        super().__init__(message)
        self.part, self.unit, self.available, self.needed = part, unit, available, needed


def make_loaders(
    text: str,
    tokenizer,
    context_length: int,
    batch_size: int,
    train_ratio: float = 0.9,
    *,
    seed: int = 123,
    num_replicas: int | None = None,
    rank: int | None = None,
) -> tuple[DataLoader, DataLoader]:
    """Split `text` into train/validation parts and build a loader for each (windows that do not overlap).

    On one process these are the notebook's loaders: `create_dataloader_v1` with `shuffle=True, drop_last=True`
    for training (shuffled by torch's global generator, as in the book) and neither for validation. Under torchrun,
    or when `num_replicas` is given, the train loader uses a `DistributedSampler` seeded by `seed`: each of the
    `num_replicas` processes gets its share of every global batch (one process with it sees the global batches).
    """
    if not 0.0 < train_ratio < 1.0:
        raise ValueError(f"train_ratio must be between 0 and 1 (exclusive), got {train_ratio}")
    check_int(batch_size, "batch_size")
    check_int(context_length, "context_length")
    split = int(train_ratio * len(text))
    parts = {"train": text[:split], "validation": text[split:]}
    for name, part in parts.items():
        n_tokens = len(tokenizer.encode(part, allowed_special={ENDOFTEXT}))
        if n_tokens < context_length + 1:
            raise NotEnoughDataError(
                f"the {name} part of the text has {plural(n_tokens, 'token')}, fewer than the {context_length + 1} "
                f"(context_length + 1) that one training window needs; use a longer text or a shorter context",
                part=name, unit="token", available=n_tokens, needed=context_length + 1,
            )
    distributed = num_replicas is not None or dist.is_initialized()
    replicas = num_replicas if num_replicas is not None else (dist.get_world_size() if dist.is_initialized() else 1)
    this_rank = rank if rank is not None else (dist.get_rank() if dist.is_initialized() else 0)
    windows = dict(max_length=context_length, stride=context_length, tokenizer=tokenizer)
    val_loader = create_dataloader_v1(parts["validation"], batch_size, drop_last=False, shuffle=False, **windows)
    train_set = GPTDatasetV1(parts["train"], tokenizer, max_length=context_length, stride=context_length)
    if len(train_set) < batch_size * replicas:
        raise NotEnoughDataError(
            f"the train part makes {plural(len(train_set), 'window')} of {plural(context_length, 'token')}, fewer "
            f"than one batch of {batch_size} x {plural(replicas, 'process')} = {batch_size * replicas}; use a "
            f"smaller batch_size or context_length",
            part="train", unit="window", available=len(train_set), needed=batch_size * replicas,
        )
    if not distributed:
        train_loader = create_dataloader_v1(parts["train"], batch_size, drop_last=True, shuffle=True, **windows)
    else:
        sampler = DistributedSampler(train_set, num_replicas=replicas, rank=this_rank, shuffle=True, seed=seed,
                                     drop_last=True)
        train_loader = DataLoader(train_set, batch_size=batch_size, sampler=sampler, drop_last=True)
    return train_loader, val_loader


def is_main_process() -> bool:
    """True on one process, and on rank 0 under torchrun: the process that prints and saves."""
    return not dist.is_initialized() or dist.get_rank() == 0


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside a `DistributedDataParallel` wrapper (the model itself otherwise)."""
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def evaluate_losses(
    loss_batch: LossOfBatch, model: nn.Module, train_loader, val_loader, device, eval_iter: int
) -> tuple[float, float]:
    """Train and validation `average_loss` over `eval_iter` batches each, in eval mode (averaged over processes)."""
    model.eval()
    with torch.no_grad():
        train_loss = average_loss(loss_batch, train_loader, model, device, num_batches=eval_iter)
        val_loss = average_loss(loss_batch, val_loader, model, device, num_batches=eval_iter)
    model.train()
    if dist.is_initialized():
        losses = torch.tensor([train_loss, val_loss], dtype=torch.float64, device=device)
        dist.all_reduce(losses)
        train_loss, val_loss = (losses / dist.get_world_size()).tolist()
    return train_loss, val_loss


def evaluate_model(model: nn.Module, train_loader, val_loader, device, eval_iter: int) -> tuple[float, float]:
    """Train and validation next-token loss over `eval_iter` batches each, in eval mode; then back to train mode."""
    return evaluate_losses(calc_loss_batch, model, train_loader, val_loader, device, eval_iter)


def sample_text(model: nn.Module, tokenizer, start_context: str, device, max_new_tokens: int = 50) -> str:
    """Greedy continuation of `start_context` (as the book prints after each epoch)."""
    model = unwrap(model)
    was_training = model.training
    model.eval()
    idx = text_to_token_ids(start_context, tokenizer).to(device)
    out = generate(model, idx, max_new_tokens=max_new_tokens, context_size=model.cfg["context_length"])
    model.train(was_training)
    return token_ids_to_text(out, tokenizer)


def set_learning_rate(optimizer: torch.optim.Optimizer, lr: float) -> None:
    """Give every parameter group of `optimizer` the learning rate `lr` (for its next step)."""
    for group in optimizer.param_groups:
        group["lr"] = lr


def optimizer_steps(
    model: nn.Module,
    train_loader: Iterable,
    optimizer: torch.optim.Optimizer,
    device,
    num_epochs: int,
    loss_batch: LossOfBatch = calc_loss_batch,
    max_steps: int | None = None,
    *,
    lr_schedule: Callable[[int], float] | None = None,
    clip_grad_norm: float | None = None,
    clip_from_step: int = 0,
) -> Iterator[tuple[int, int | None, torch.Tensor | None]]:
    """The loop that pretraining and fine-tuning share: per epoch and batch, zero the gradients, compute the loss,
    backpropagate, step the optimizer.

    Yields (epoch, step, inputs) after every step (step counts from 0 over all epochs), and (epoch, None, None) at
    the end of each epoch, so the caller evaluates and logs in between. Stops after `max_steps` steps if given
    (ending that epoch early). Opt-in, as the book's appendix D: `lr_schedule(step)` sets every parameter group's
    learning rate before each step, and from step `clip_from_step` on the gradients are scaled down to a total L2
    norm of at most `clip_grad_norm` before the optimizer uses them. Without them, the loop is chapter 5's.
    """
    step = -1
    for epoch in range(num_epochs):
        sampler = getattr(train_loader, "sampler", None)
        if isinstance(sampler, DistributedSampler):
            sampler.set_epoch(epoch)
        model.train()  # dropout on (an evaluation after the last epoch may have left eval mode)
        for inputs, targets in train_loader:
            step += 1
            optimizer.zero_grad()  # reset the gradients of the previous step
            if lr_schedule is not None:
                set_learning_rate(optimizer, lr_schedule(step))
            loss = loss_batch(inputs, targets, model, device)
            loss.backward()
            if clip_grad_norm is not None and step >= clip_from_step:
                nn.utils.clip_grad_norm_(model.parameters(), max_norm=clip_grad_norm)
            optimizer.step()
            yield epoch, step, inputs
            if max_steps is not None and step + 1 == max_steps:
                break
        yield epoch, None, None
        if max_steps is not None and step + 1 == max_steps:
            return


def check_loop_args(optimizer: torch.optim.Optimizer, train_loader, num_epochs: object, eval_freq: object,
                    eval_iter: object, max_steps: object = None) -> None:
    """Raise before any work for a bad count, an empty train loader or an optimizer with nothing to train."""
    check_int(num_epochs, "num_epochs")
    check_int(eval_freq, "eval_freq", why="evaluate every eval_freq steps")
    check_int(eval_iter, "eval_iter", why="batches per evaluation")
    check_int(max_steps, "max_steps", allow_none=True)
    for group in optimizer.param_groups:
        if not group["lr"] > 0:
            raise ValueError(f"the learning rate must be > 0, got {group['lr']}")
    if not any(p.requires_grad for group in optimizer.param_groups for p in group["params"]):
        raise ValueError("the optimizer holds no trainable parameter: nothing would change (requires_grad is False)")
    if len(train_loader) == 0:
        raise ValueError("the train loader yields no batches: the text is too short for one training batch")


def check_schedule_args(optimizer: torch.optim.Optimizer, lr_schedule: object, clip_grad_norm: object,
                        clip_from_step: object, total_steps: int) -> None:
    """Raise before any work for a schedule that does not cover the training or does not start from the optimizer's
    learning rate, or a bad clipping norm or first clipped step."""
    if clip_grad_norm is not None and (isinstance(clip_grad_norm, bool) or not isinstance(clip_grad_norm, (int, float))
                                       or not math.isfinite(clip_grad_norm) or clip_grad_norm <= 0):
        raise ValueError(f"clip_grad_norm must be a number > 0 (or None: no clipping), got {clip_grad_norm!r}")
    check_int(clip_from_step, "clip_from_step", minimum=0, allow_none=True)
    if lr_schedule is None:
        return
    if not callable(lr_schedule):
        raise TypeError(f"lr_schedule must be a function of the step, such as an LRSchedule, got "
                        f"{type(lr_schedule).__name__}")
    covered = getattr(lr_schedule, "total_steps", total_steps)
    if covered < total_steps:
        raise ValueError(f"the schedule covers {covered} steps, but training takes {total_steps}: give it "
                         f"total_steps={total_steps} (num_epochs x len(train_loader), or max_steps)")
    peak = getattr(lr_schedule, "peak_lr", None)
    lrs = {group["lr"] for group in optimizer.param_groups}
    if peak is not None and lrs != {peak}:
        raise ValueError(f"the optimizer's learning rate ({', '.join(map(str, sorted(lrs)))}) is not the schedule's "
                         f"peak_lr ({peak}): create the optimizer with lr=peak_lr (the print book's D.4 left AdamW at "
                         "its default, an error its repository fixed)")


@dataclass
class TrainingHistory:
    """What `train_model` measured: losses at each evaluation, the text sampled after each epoch, and the learning
    rate of every step (`learning_rates[step]`, the book's `track_lrs`)."""

    steps: list[int] = field(default_factory=list)
    train_losses: list[float] = field(default_factory=list)
    val_losses: list[float] = field(default_factory=list)
    tokens_seen: list[int] = field(default_factory=list)
    epochs: list[float] = field(default_factory=list)
    samples: list[str] = field(default_factory=list)
    learning_rates: list[float] = field(default_factory=list)


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C stopped `train_model`: after `steps_done` of its `total_steps` optimizer steps, in epoch `epoch` (from 1)
    of the `num_epochs` it runs (fewer than asked when max_steps ends it sooner); `history` holds what it measured
    until then. A `KeyboardInterrupt`, so code that stops on Ctrl-C still does."""

    def __init__(self, *, steps_done: int, total_steps: int, epoch: int, num_epochs: int,
                 history: TrainingHistory) -> None:
        super().__init__(f"training stopped by Ctrl-C after {steps_done} of {total_steps} steps, in epoch {epoch} of "
                         f"{num_epochs}")
        self.steps_done, self.total_steps, self.epoch, self.num_epochs = steps_done, total_steps, epoch, num_epochs
        self.history = history


def train_model(
    model: nn.Module,
    train_loader: DataLoader,
    val_loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    device,
    num_epochs: int,
    eval_freq: int,
    eval_iter: int,
    start_context: str,
    tokenizer,
    *,
    max_steps: int | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = print,
    lr_schedule: Callable[[int], float] | None = None,
    clip_grad_norm: float | None = None,
    clip_from_step: int | None = None,
) -> TrainingHistory:
    """The book's pretraining loop (`train_model_simple`): AdamW steps, an evaluation every `eval_freq` steps, a
    sample per epoch; with `lr_schedule` and `clip_grad_norm`, the book's appendix D `train_model`.

    Prints one line per evaluation (with the step's learning rate when there is a schedule) and the sample of each
    epoch, its whitespace made visible (↵ for a newline), on the main process only (`log=None` keeps it quiet), and
    shows a tqdm bar. `lr_schedule(step)` (an `LRSchedule`, whose peak_lr must be the optimizer's lr) sets every
    step's learning rate; gradients are clipped to a total norm of `clip_grad_norm` from step `clip_from_step` on
    (default: the step the schedule's warmup ends, as the book's appendix D; step 0 without a schedule).
    Ctrl-C raises a `TrainingInterrupted` (a `KeyboardInterrupt`) that says how far training got.
    """
    check_loop_args(optimizer, train_loader, num_epochs, eval_freq, eval_iter, max_steps)
    main = is_main_process()
    world = dist.get_world_size() if dist.is_initialized() else 1
    per_epoch = len(train_loader)
    total_steps = num_epochs * per_epoch if max_steps is None else min(max_steps, num_epochs * per_epoch)
    check_schedule_args(optimizer, lr_schedule, clip_grad_norm, clip_from_step, total_steps)
    if clip_from_step is None:
        clip_from_step = getattr(lr_schedule, "warmup_steps", 0)
    history = TrainingHistory()
    tokens_seen = 0
    bar = tqdm(total=total_steps, desc="training", unit="step", disable=not (progress and main))
    if log is print and not bar.disable:
        log = bar.write  # prints the line above the bar, which then redraws below it (no line glued to the bar)
    steps = optimizer_steps(model, train_loader, optimizer, device, num_epochs, max_steps=max_steps,
                            lr_schedule=lr_schedule, clip_grad_norm=clip_grad_norm, clip_from_step=clip_from_step)
    try:
        for epoch, step, inputs in steps:
            if step is None:  # the end of an epoch
                if main:
                    history.samples.append(sample_text(model, tokenizer, start_context, device))
                    if log:
                        log(show_whitespace(history.samples[-1]))
                continue
            tokens_seen += inputs.numel() * world
            history.learning_rates.append(optimizer.param_groups[0]["lr"])
            bar.update(1)
            if step % eval_freq == 0:
                train_loss, val_loss = evaluate_model(model, train_loader, val_loader, device, eval_iter)
                history.steps.append(step)
                history.train_losses.append(train_loss)
                history.val_losses.append(val_loss)
                history.tokens_seen.append(tokens_seen)
                history.epochs.append(epoch + (step % per_epoch + 1) / per_epoch)
                if log and main:
                    lr = "" if lr_schedule is None else f", lr {history.learning_rates[-1]:.3g}"
                    log(f"Ep {epoch + 1} (Step {step:06d}): Train loss {train_loss:.3f}, Val loss {val_loss:.3f}{lr}")
    except KeyboardInterrupt:
        done = len(history.learning_rates)  # the steps the loop saw finish
        epochs = math.ceil(total_steps / per_epoch)
        raise TrainingInterrupted(steps_done=done, total_steps=total_steps, epoch=min(done // per_epoch + 1, epochs),
                                  num_epochs=epochs, history=history) from None
    finally:
        bar.close()  # a bar left open would share its line with what is printed next
    return history


if __name__ == "__main__":  # `python -m helpers.train` is the terminal program of helpers.train_cli
    from helpers.train_cli import main

    main()
