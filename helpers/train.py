"""Pretraining GPTModel: the loss, the training loop, checkpoints, and the same loop on several processes.

Built in notebooks/06_pretraining.ipynb. From a terminal, `python -m helpers.train --help` runs the book's
recipe, and `torchrun --nproc_per_node=N -m helpers.train ...` runs the same loop with
DistributedDataParallel (section 6 of the notebook).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import stat
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn
from torch.utils.data import DataLoader
from torch.utils.data.distributed import DistributedSampler
from tqdm.auto import tqdm

from helpers.data import DATA_FILES, load_text
from helpers.dataset import GPTDatasetV1
from helpers.gpt import GPT_CONFIG_124M, GPTModel, generate
from helpers.gpt2_weights import check_state_dict
from helpers.tokenizers import ENDOFTEXT, gpt2_encoding, plural, show_whitespace

__all__ = [
    "CheckpointError",
    "TINY_CONFIG",
    "TrainingHistory",
    "calc_loss_batch",
    "calc_loss_loader",
    "evaluate_model",
    "load_checkpoint",
    "make_loaders",
    "save_checkpoint",
    "text_to_token_ids",
    "token_ids_to_text",
    "train_model",
]

# A model small enough to train on the-verdict in a few seconds per epoch on a 2-core CPU (notebook 06). Its 3.2 M
# parameters are almost all in the token embedding and the output head, which keep GPT-2's 50,257 rows.
TINY_CONFIG: dict[str, Any] = {
    "vocab_size": 50257,
    "context_length": 32,
    "emb_dim": 32,
    "n_heads": 2,
    "n_layers": 2,
    "drop_rate": 0.1,
    "qkv_bias": False,
}


# --- 1. text <-> ids and the loss -------------------------------------------------------------------


def text_to_token_ids(text: str, tokenizer) -> torch.Tensor:
    """Encode `text` into a batch of one: shape (1, num_tokens)."""
    return torch.tensor(tokenizer.encode(text, allowed_special={ENDOFTEXT})).unsqueeze(0)


def token_ids_to_text(token_ids: torch.Tensor, tokenizer) -> str:
    """Decode a batch of one (or a flat tensor) of token ids back into text."""
    return tokenizer.decode(token_ids.reshape(-1).tolist())


def calc_loss_batch(input_batch: torch.Tensor, target_batch: torch.Tensor, model: nn.Module, device) -> torch.Tensor:
    """Mean cross-entropy of the model's next-token predictions over one batch."""
    logits = model(input_batch.to(device))  # (batch, num_tokens, vocab_size)
    return F.cross_entropy(logits.flatten(0, 1), target_batch.to(device).flatten())


def calc_loss_loader(data_loader: Iterable, model: nn.Module, device, num_batches: int | None = None) -> float:
    """Average batch loss over the first `num_batches` batches of a loader (all of them by default)."""
    available = len(data_loader)
    if available == 0:
        raise ValueError("the data loader yields no batches: the text is too short for one batch")
    n = available if num_batches is None else min(num_batches, available)
    total = 0.0
    for i, (inputs, targets) in enumerate(data_loader):
        if i >= n:
            break
        total += calc_loss_batch(inputs, targets, model, device).item()
    return total / n


# --- 2. data: a train/validation split of one text --------------------------------------------------


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
    """Split `text` into train/validation parts and build a loader for each (non-overlapping windows).

    The train loader shuffles with a `DistributedSampler` seeded by `seed`: with one process it is an
    ordinary seeded shuffle; under torchrun each process gets its own share of every global batch.
    """
    if not 0.0 < train_ratio < 1.0:
        raise ValueError(f"train_ratio must be between 0 and 1 (exclusive), got {train_ratio}")
    if batch_size < 1 or context_length < 1:
        raise ValueError(f"batch_size and context_length must be >= 1, got {batch_size} and {context_length}")
    split = int(train_ratio * len(text))
    parts = {"train": text[:split], "validation": text[split:]}
    needed = context_length + 1
    for name, part in parts.items():
        n_tokens = len(tokenizer.encode(part, allowed_special={ENDOFTEXT}))
        if n_tokens < needed:
            raise ValueError(
                f"the {name} part of the text has {plural(n_tokens, 'token')}, fewer than the {needed} "
                f"(context_length + 1) that one training window needs; use a longer text or a shorter context"
            )
    train_set = GPTDatasetV1(parts["train"], tokenizer, max_length=context_length, stride=context_length)
    val_set = GPTDatasetV1(parts["validation"], tokenizer, max_length=context_length, stride=context_length)
    replicas = num_replicas if num_replicas is not None else (dist.get_world_size() if dist.is_initialized() else 1)
    this_rank = rank if rank is not None else (dist.get_rank() if dist.is_initialized() else 0)
    per_step = batch_size * replicas
    if len(train_set) < per_step:
        raise ValueError(
            f"the train part makes {plural(len(train_set), 'window')} of {plural(context_length, 'token')}, fewer "
            f"than one batch of {batch_size} x {plural(replicas, 'process')} = {per_step}; use a smaller batch_size "
            f"or context_length"
        )
    sampler = DistributedSampler(train_set, num_replicas=replicas, rank=this_rank, shuffle=True, seed=seed,
                                 drop_last=True)
    train_loader = DataLoader(train_set, batch_size=batch_size, sampler=sampler, drop_last=True)
    val_loader = DataLoader(val_set, batch_size=batch_size, shuffle=False, drop_last=False)
    return train_loader, val_loader


# --- 3. the training loop ---------------------------------------------------------------------------


@dataclass
class TrainingHistory:
    """What `train_model` measured: losses at each evaluation, and the text sampled after each epoch."""

    steps: list[int] = field(default_factory=list)
    train_losses: list[float] = field(default_factory=list)
    val_losses: list[float] = field(default_factory=list)
    tokens_seen: list[int] = field(default_factory=list)
    epochs: list[float] = field(default_factory=list)
    samples: list[str] = field(default_factory=list)


def _is_main_process() -> bool:
    return not dist.is_initialized() or dist.get_rank() == 0


def _unwrap(model: nn.Module) -> nn.Module:
    return model.module if isinstance(model, nn.parallel.DistributedDataParallel) else model


def evaluate_model(model: nn.Module, train_loader, val_loader, device, eval_iter: int) -> tuple[float, float]:
    """Train and validation loss over `eval_iter` batches each, in eval mode (averaged over processes)."""
    model.eval()
    with torch.no_grad():
        train_loss = calc_loss_loader(train_loader, model, device, num_batches=eval_iter)
        val_loss = calc_loss_loader(val_loader, model, device, num_batches=eval_iter)
    model.train()
    if dist.is_initialized():
        losses = torch.tensor([train_loss, val_loss], dtype=torch.float64, device=device)
        dist.all_reduce(losses)
        train_loss, val_loss = (losses / dist.get_world_size()).tolist()
    return train_loss, val_loss


def sample_text(model: nn.Module, tokenizer, start_context: str, device, max_new_tokens: int = 50) -> str:
    """Greedy continuation of `start_context` (as the book prints after each epoch)."""
    model = _unwrap(model)
    was_training = model.training
    model.eval()
    context_size = model.pos_emb.weight.shape[0]
    idx = text_to_token_ids(start_context, tokenizer).to(device)
    with torch.no_grad():
        out = generate(model, idx, max_new_tokens=max_new_tokens, context_size=context_size)
    model.train(was_training)
    return token_ids_to_text(out, tokenizer)


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
) -> TrainingHistory:
    """The book's pretraining loop: AdamW steps, an evaluation every `eval_freq` steps, a sample per epoch.

    Prints one line per evaluation and the sample of each epoch, its whitespace made visible (↵ for a newline),
    on the main process only (`log=None` keeps it quiet), and shows a tqdm bar.
    """
    if num_epochs < 1:
        raise ValueError(f"num_epochs must be >= 1, got {num_epochs}")
    if eval_freq < 1:
        raise ValueError(f"eval_freq must be >= 1 (evaluate every eval_freq steps), got {eval_freq}")
    if eval_iter < 1:
        raise ValueError(f"eval_iter must be >= 1 (batches per evaluation), got {eval_iter}")
    for group in optimizer.param_groups:
        if not group["lr"] > 0:
            raise ValueError(f"the learning rate must be > 0, got {group['lr']}")
    if len(train_loader) == 0:
        raise ValueError("the train loader yields no batches: the text is too short for one training batch")
    if max_steps is not None and max_steps < 1:
        raise ValueError(f"max_steps must be >= 1 or None, got {max_steps}")

    main = _is_main_process()
    world = dist.get_world_size() if dist.is_initialized() else 1
    total_steps = num_epochs * len(train_loader)
    if max_steps is not None:
        total_steps = min(max_steps, total_steps)
    history = TrainingHistory()
    tokens_seen, step = 0, 0
    bar = tqdm(total=total_steps, desc="training", unit="step", disable=not (progress and main))
    if log is print and not bar.disable:
        log = bar.write  # prints the line above the bar, which then redraws below it (no line glued to the bar)
    model.train()
    for epoch in range(num_epochs):
        sampler = getattr(train_loader, "sampler", None)
        if isinstance(sampler, DistributedSampler):
            sampler.set_epoch(epoch)
        for inputs, targets in train_loader:
            optimizer.zero_grad()
            loss = calc_loss_batch(inputs, targets, model, device)
            loss.backward()
            optimizer.step()
            tokens_seen += inputs.numel() * world
            step += 1
            bar.update(1)
            if (step - 1) % eval_freq == 0:
                train_loss, val_loss = evaluate_model(model, train_loader, val_loader, device, eval_iter)
                history.steps.append(step - 1)
                history.train_losses.append(train_loss)
                history.val_losses.append(val_loss)
                history.tokens_seen.append(tokens_seen)
                history.epochs.append(epoch + _epoch_fraction(step, train_loader))
                if log and main:
                    log(f"Ep {epoch + 1} (Step {step - 1:06d}): Train loss {train_loss:.3f}, Val loss {val_loss:.3f}")
            if step == total_steps:
                break
        if main:
            history.samples.append(sample_text(model, tokenizer, start_context, device))
            if log:
                log(show_whitespace(history.samples[-1]))
        if step == total_steps:
            break
    bar.close()
    return history


def _epoch_fraction(step: int, train_loader) -> float:
    """How far into its epoch a global step is (1-based step, 0 < fraction <= 1)."""
    per_epoch = len(train_loader)
    return ((step - 1) % per_epoch + 1) / per_epoch


# --- 4. checkpoints: safetensors for tensors, JSON for the configuration ------------------------------


class CheckpointError(ValueError):
    """A checkpoint folder is incomplete, corrupt, or does not fit the model."""


CHECKPOINT_FORMAT = "llm-from-scratch-checkpoint/1"


def save_checkpoint(
    folder: str | os.PathLike,
    model: nn.Module,
    config: dict[str, Any],
    optimizer: torch.optim.Optimizer | None = None,
    extra: dict[str, Any] | None = None,
) -> Path:
    """Save weights (model.safetensors), config (config.json) and optionally the optimizer (optimizer.pt)."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    seen: set[int] = set()
    tensors = {}
    for name, tensor in _unwrap(model).state_dict().items():
        # safetensors stores each tensor once; a tied weight (shared storage) gets its own copy
        t = tensor.detach()
        t = t.clone() if t.data_ptr() in seen else t
        seen.add(t.data_ptr())
        tensors[name] = t.contiguous()
    weights = folder / "model.safetensors"
    mode = _plain_write_mode(weights)
    save_file(tensors, weights)
    # safetensors writes a private (0600) temporary file and renames it into place: give it the mode that the
    # other files of the checkpoint get from an ordinary write (the umask's for a new file, else the old file's)
    os.chmod(weights, mode)
    if optimizer is not None:
        torch.save(optimizer.state_dict(), folder / "optimizer.pt")
    meta = {"format": CHECKPOINT_FORMAT, "config": dict(config), "optimizer": optimizer is not None,
            "extra": extra or {}}
    (folder / "config.json").write_text(json.dumps(meta, indent=2) + "\n")
    return folder


def _plain_write_mode(path: Path) -> int:
    """The permission bits `open(path, "w")` leaves: those of the existing file, else 0o666 less the umask."""
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        umask = os.umask(0)  # the only portable way to read the umask is to set it, then put it back
        os.umask(umask)
        return 0o666 & ~umask


def _config_differences(saved: dict[str, Any], expected: dict[str, Any]) -> list[str]:
    lines = []
    for key in sorted(set(saved) | set(expected)):
        if key not in saved:
            lines.append(f"{key}: missing in the checkpoint, model has {expected[key]!r}")
        elif key not in expected:
            lines.append(f"{key}: checkpoint has {saved[key]!r}, missing in the model's config")
        elif saved[key] != expected[key]:
            lines.append(f"{key}: checkpoint has {saved[key]!r}, model has {expected[key]!r}")
    return lines


def load_checkpoint(
    folder: str | os.PathLike,
    config: dict[str, Any] | None = None,
    optimizer: torch.optim.Optimizer | None = None,
    device: str | torch.device = "cpu",
    model: nn.Module | None = None,
) -> tuple[nn.Module, dict[str, Any]]:
    """Load a checkpoint saved by `save_checkpoint`; returns (model, config).

    `config` (or the config `model` was built with) must match the saved one, else a `CheckpointError`
    lists every difference. With `model`, its weights are replaced in place; else a new `GPTModel` is built.
    """
    folder = Path(folder)
    meta_path, weights_path = folder / "config.json", folder / "model.safetensors"
    for path in (meta_path, weights_path):
        if not path.is_file():
            raise FileNotFoundError(f"checkpoint file {path} not found (expected config.json and model.safetensors)")
    try:
        meta = json.loads(meta_path.read_text())
        saved_config = meta["config"]
    except (json.JSONDecodeError, KeyError, TypeError) as err:
        raise CheckpointError(f"{meta_path} is not a valid checkpoint config: {err}") from err
    if config is not None:
        differences = _config_differences(saved_config, dict(config))
        if differences:
            raise CheckpointError("the checkpoint's config does not match the model:\n  " + "\n  ".join(differences))
    try:
        state = load_file(weights_path, device=str(device))
    except (SafetensorError, OSError, ValueError) as err:
        raise CheckpointError(f"{weights_path} cannot be read (truncated or corrupt?): {err}") from err
    if model is None:
        model = GPTModel(saved_config)
    target = _unwrap(model)
    expected = {key: value.shape for key, value in target.state_dict().items()}
    try:
        check_state_dict(state, expected, str(weights_path))
    except ValueError as err:
        raise CheckpointError(str(err)) from None
    target.load_state_dict(state)
    target.to(device)
    if optimizer is not None:
        opt_path = folder / "optimizer.pt"
        if not opt_path.is_file():
            raise FileNotFoundError(f"{opt_path} not found: the checkpoint was saved without an optimizer")
        try:
            optimizer.load_state_dict(torch.load(opt_path, map_location=device, weights_only=True))
        except (RuntimeError, EOFError, OSError, ValueError) as err:
            raise CheckpointError(f"{opt_path} cannot be read (truncated or corrupt?): {err}") from err
    return model, saved_config


# --- 5. the command line, on one process or several (torchrun) -----------------------------------------

PRESETS: dict[str, dict[str, Any]] = {"tiny": TINY_CONFIG, "124M": {**GPT_CONFIG_124M, "context_length": 256}}
# Each preset's training recipe, the command's defaults: tiny is notebook 06's run, 124M the book's (section 5.2).
RECIPES: dict[str, dict[str, Any]] = {
    "tiny": {"epochs": 5, "batch_size": 4, "lr": 1e-2, "weight_decay": 0.1, "eval_freq": 12, "eval_iter": 2},
    "124M": {"epochs": 10, "batch_size": 2, "lr": 4e-4, "weight_decay": 0.1, "eval_freq": 5, "eval_iter": 5},
}

_EXAMPLES = """examples:
  python -m helpers.train --out runs/tiny             (notebook 06's run: the tiny preset and its recipe)
  python -m helpers.train --preset 124M --epochs 10 --batch-size 2 --lr 4e-4 --weight-decay 0.1 --out runs/verdict-124m
  OMP_NUM_THREADS=1 torchrun --nproc_per_node=2 -m helpers.train --preset tiny --batch-size 2
"""


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Adds "(default: ...)" to each option's help, unless the help already says its default in words."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.help and "(default:" in action.help:
            return action.help
        return super()._get_help_string(action)


def _preset_values(key: str, table: dict[str, dict[str, Any]] = PRESETS) -> str:
    return ", ".join(f"{name} {values[key]}" for name, values in table.items())


def _recipe_default(key: str) -> str:
    """The help's note on a default that comes from the preset's recipe."""
    return f"(default: the preset's recipe: {_preset_values(key, RECIPES)})"


def _build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m helpers.train",
        description="Pretrain GPTModel on a text (the-verdict by default), on one process or several (torchrun).",
        epilog=_EXAMPLES,
        formatter_class=_HelpFormatter,
    )
    p.add_argument("--preset", choices=sorted(PRESETS), default="tiny",
                   help="model configuration: tiny is the notebook's TINY_CONFIG, 124M is GPT-2 small at context 256")
    p.add_argument("--context-length", type=int,
                   help=f"tokens per training window (default: the preset's: {_preset_values('context_length')})")
    p.add_argument("--drop-rate", type=float,
                   help=f"dropout probability, 0 <= p < 1 (default: the preset's: {_preset_values('drop_rate')})")
    p.add_argument("--text", default="the-verdict.txt",
                   help="a data file name or a path to a UTF-8 text file; its first 90%% trains, the rest validates")
    p.add_argument("--epochs", type=int, help=f"passes over the train part {_recipe_default('epochs')}")
    p.add_argument("--batch-size", type=int,
                   help=f"sequences per step and process {_recipe_default('batch_size')}")
    p.add_argument("--lr", type=float, help=f"AdamW's learning rate {_recipe_default('lr')}")
    p.add_argument("--weight-decay", type=float, help=f"AdamW's weight decay {_recipe_default('weight_decay')}")
    p.add_argument("--eval-freq", type=int,
                   help=f"print the train and validation loss every this many steps {_recipe_default('eval_freq')}")
    p.add_argument("--eval-iter", type=int,
                   help="batches per loader in those evaluations (the one after training uses all of them) "
                        f"{_recipe_default('eval_iter')}")
    p.add_argument("--max-steps", type=int, help="stop after this many optimizer steps (default: no limit)")
    p.add_argument("--seed", type=int, default=123, help="seed of the initial weights and of the shuffling")
    p.add_argument("--threads", type=int,
                   help="torch threads per process (default: torch's choice: OMP_NUM_THREADS if set, which torchrun "
                        "sets to 1, else one per CPU core)")
    p.add_argument("--start-context", default="Every effort moves you",
                   help="the prompt continued (greedy, 50 tokens) after each epoch; ↵ in the output is a newline")
    p.add_argument("--out",
                   help="folder to save the final checkpoint (model.safetensors, config.json, optimizer.pt) and "
                        "losses.json into (default: nothing is saved)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    return p


def _text_files() -> str:
    return ", ".join(name for name in DATA_FILES if name.endswith(".txt"))


def _fill_recipe(args: argparse.Namespace) -> argparse.Namespace:
    """The parsed options, with what the command line left out taken from the preset's recipe (`RECIPES`)."""
    for key, value in RECIPES[args.preset].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    return args


def _check_args(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """Stop with a usage error (exit code 2) naming every bad option, before any text, tokenizer or model is loaded."""
    problems = []

    def need(ok: bool, flag: str, rule: str, value: Any) -> None:
        if not ok:
            problems.append(f"{flag} must be {rule}, got {value!r}")

    need(args.epochs >= 1, "--epochs", ">= 1", args.epochs)
    need(args.batch_size >= 1, "--batch-size", ">= 1", args.batch_size)
    need(math.isfinite(args.lr) and args.lr > 0, "--lr", "a number > 0", args.lr)
    need(math.isfinite(args.weight_decay) and args.weight_decay >= 0, "--weight-decay", "a number >= 0",
         args.weight_decay)
    need(args.eval_freq >= 1, "--eval-freq", ">= 1", args.eval_freq)
    need(args.eval_iter >= 1, "--eval-iter", ">= 1", args.eval_iter)
    need(args.max_steps is None or args.max_steps >= 1, "--max-steps", ">= 1", args.max_steps)
    need(args.context_length is None or args.context_length >= 1, "--context-length", ">= 1", args.context_length)
    need(args.drop_rate is None or 0 <= args.drop_rate < 1, "--drop-rate", "in [0, 1)", args.drop_rate)
    need(args.threads is None or args.threads >= 1, "--threads", ">= 1", args.threads)
    need(args.start_context != "", "--start-context", "a non-empty prompt", args.start_context)
    if args.text not in DATA_FILES:
        text = Path(args.text)
        if text.is_dir():
            problems.append(f"--text {args.text!r} is a folder; give a text file")
        elif not text.is_file():
            problems.append(f"--text {args.text!r}: no such file; give a path to a UTF-8 text file or the name of a "
                            f"data file ({_text_files()})")
    if args.out is not None:
        out = Path(args.out)
        existing = next(folder for folder in (out, *out.absolute().parents) if folder.exists())
        if not existing.is_dir():
            problems.append(f"--out {args.out!r}: {existing} is a file, not a folder")
        elif not os.access(existing, os.W_OK | os.X_OK):
            problems.append(f"--out {args.out!r}: the folder {existing} is not writable")
    if problems:
        parser.error("; ".join(problems))


def _read_training_text(parser: argparse.ArgumentParser, name: str) -> str:
    if name in DATA_FILES:
        return load_text(name)
    try:
        return Path(name).read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        parser.error(f"--text {name!r} is not UTF-8 text (byte {err.start}: {err.reason})")


def main(argv: list[str] | None = None) -> TrainingHistory:
    """Command-line entry point; see `python -m helpers.train --help`."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    _check_args(parser, _fill_recipe(args))
    config = dict(PRESETS[args.preset])
    if args.context_length is not None:
        config["context_length"] = args.context_length
    if args.drop_rate is not None:
        config["drop_rate"] = args.drop_rate

    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if distributed:
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    world = dist.get_world_size() if distributed else 1
    say = print if _is_main_process() else (lambda *_: None)
    try:
        text = _read_training_text(parser, args.text)
        tokenizer = gpt2_encoding()
        try:
            train_loader, val_loader = make_loaders(text, tokenizer, config["context_length"], args.batch_size,
                                                    seed=args.seed)
        except ValueError as err:
            parser.error(f"--text {args.text!r} with --context-length {config['context_length']} and --batch-size "
                         f"{args.batch_size} on {plural(world, 'process')}: {err}")
        torch.manual_seed(args.seed)
        model = GPTModel(config).to(device)
        n_params = sum(p.numel() for p in model.parameters())
        say(f"training {args.preset} ({n_params:,} parameters, context {config['context_length']}) on {args.text}: "
            f"{plural(world, 'process')} x {plural(torch.get_num_threads(), 'thread')}, "
            f"{plural(len(train_loader), 'step')} per epoch")
        if args.out is None:
            say("no --out folder given: the trained model will not be saved (add --out FOLDER to save it)")
        if distributed:
            device_ids = [local_rank] if device.type == "cuda" else None
            model = nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
        optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
        start = time.perf_counter()
        history = train_model(model, train_loader, val_loader, optimizer, device, args.epochs, args.eval_freq,
                              args.eval_iter, args.start_context, tokenizer, max_steps=args.max_steps,
                              progress=not args.no_progress)
        seconds = time.perf_counter() - start
        steps = min(args.epochs * len(train_loader), args.max_steps or math.inf)
        # the periodic losses above cover --eval-iter batches at some earlier step; this is the final model on all
        everything = max(len(train_loader), len(val_loader))
        train_loss, val_loss = evaluate_model(model, train_loader, val_loader, device, eval_iter=everything)
        per_process = " per process" if world > 1 else ""
        say(f"trained {args.preset} on {plural(world, 'process')} in {seconds:.1f} s ({plural(steps, 'step')})")
        say(f"after training, on the full loaders ({plural(len(train_loader), 'train batch')}{per_process}, "
            f"{plural(len(val_loader), 'validation batch')}): train loss {train_loss:.3f}, val loss {val_loss:.3f}")
        if _is_main_process():
            if args.out is not None:
                out = save_checkpoint(args.out, model, config, optimizer, extra={"args": vars(args)})
                losses = {**vars(history), "seconds": seconds, "final_train_loss": train_loss,
                          "final_val_loss": val_loss}
                (out / "losses.json").write_text(json.dumps(losses, indent=1) + "\n")
                say(f"saved the checkpoint (model.safetensors, config.json, optimizer.pt) and losses.json into "
                    f"{out.resolve()}")
            else:
                say("nothing was saved: no --out folder was given (add --out FOLDER to save the checkpoint)")
        return history
    finally:
        if distributed:
            dist.destroy_process_group()


if __name__ == "__main__":
    main()
