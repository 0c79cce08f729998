"""The terminal trainer: `python -m helpers.train` pretrains `GPTModel` on a text, on one process or several.

The program around notebooks/07_pretraining.ipynb's loop (section 5.2, "Training an LLM"): the `tiny` preset with its
recipe is the notebook's run, with the same loaders and seeds, so it prints the notebook's losses; the `124M` preset
is the book's run. `torchrun --nproc_per_node=N -m helpers.train ...` runs the same loop with
DistributedDataParallel (the notebook's "Beyond the book: the same loop on several processes"). `--schedule`,
`--warmup-steps`, `--initial-lr`, `--min-lr` and `--clip-grad-norm` add the notebook's part "Appendix D" (warmup,
cosine decay, gradient clipping); their defaults keep chapter 5's constant learning rate without clipping.

What goes wrong outside the options is one line, with no traceback: a missing data file (which file, how to restore
it), Ctrl-C (how far training got, and what was or was not saved). The checkpoint is written only when training ends,
and never over an earlier one unless `--overwrite` is given.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, NoReturn

import torch
import torch.distributed as dist
from torch import nn

from helpers.checkpoint import save_checkpoint
from helpers.checks import plural
from helpers.datafiles import DATA_FILES, DataFileError, load_text
from helpers.gpt import GPT_CONFIG_124M, TINY_CONFIG, GPTModel
from helpers.gpt2_tokenizer import gpt2_encoding
from helpers.schedule import SCHEDULE_KINDS, LRSchedule
from helpers.train import (
    NotEnoughDataError,
    TrainingHistory,
    TrainingInterrupted,
    evaluate_model,
    is_main_process,
    make_loaders,
    train_model,
)

__all__ = ["PRESETS", "RECIPES", "main"]


PRESETS: dict[str, dict[str, Any]] = {"tiny": TINY_CONFIG, "124M": {**GPT_CONFIG_124M, "context_length": 256}}
# Each preset's training recipe, the command's defaults: tiny is notebook 07's run, 124M the book's (section 5.2).
RECIPES: dict[str, dict[str, Any]] = {
    "tiny": {"epochs": 10, "batch_size": 4, "lr": 1e-2, "weight_decay": 0.1, "eval_freq": 12, "eval_iter": 2},
    "124M": {"epochs": 10, "batch_size": 2, "lr": 4e-4, "weight_decay": 0.1, "eval_freq": 5, "eval_iter": 5},
}

_EXAMPLES = """examples:
  python -m helpers.train --out runs/tiny             (notebook 07's run: the tiny preset and its recipe)
  python -m helpers.train --preset 124M --epochs 10 --batch-size 2 --lr 4e-4 --weight-decay 0.1 --out runs/verdict-124m
  python -m helpers.train --preset 124M --epochs 15 --lr 1e-3 --schedule cosine --warmup-steps 0.2 --initial-lr 1e-5 \\
      --min-lr 1e-5 --clip-grad-norm 1.0 --eval-iter 1 --out runs/verdict-124m-appendix-d   (the book's appendix D.4)
  OMP_NUM_THREADS=1 torchrun --nproc_per_node=2 -m helpers.train --preset tiny --batch-size 2
"""
DEFAULT_INITIAL_LR = 3e-05  # the book's appendix D train_model defaults
DEFAULT_MIN_LR = 1e-06
CHECKPOINT_FILES = ("model.safetensors", "config.json", "optimizer.pt", "losses.json")  # what --out receives
EXIT_INTERRUPTED = 130  # a shell's exit status for a program stopped by Ctrl-C (128 + SIGINT)


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Adds "(default: ...)" to the help of each option that takes a value, unless the help already says its default
    in words; a switch such as --no-progress gets none (it is off unless given)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.nargs == 0 or (action.help and "(default:" in action.help):
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
    p.add_argument("--schedule", choices=SCHEDULE_KINDS, default="constant",
                   help="the learning rate after the warmup: constant keeps --lr (chapter 5); cosine decays it from "
                        "--lr towards --min-lr along half a cosine (the book's appendix D.2)")
    p.add_argument("--warmup-steps", default="0", metavar="STEPS",
                   help="steps of linear warmup from --initial-lr up to --lr (appendix D.1): a whole number, or a "
                        "fraction of all steps such as 0.2 (the book: int(0.2 x 135 steps) = 27)")
    p.add_argument("--initial-lr", type=float,
                   help=f"the learning rate of the first warmup step (default: {DEFAULT_INITIAL_LR:g}, the book's "
                        "appendix D default; its D.4 run uses 1e-5)")
    p.add_argument("--min-lr", type=float,
                   help=f"where --schedule cosine ends (default: {DEFAULT_MIN_LR:g}, the book's appendix D default; "
                        "its D.4 run uses 1e-5)")
    p.add_argument("--clip-grad-norm", type=float, metavar="MAX_NORM",
                   help="scale the gradients down to this total L2 norm at most, from the step the warmup ends on "
                        "(appendix D.3; the book uses 1.0) (default: no clipping)")
    p.add_argument("--max-steps", type=int, help="stop after this many optimizer steps (default: no limit)")
    p.add_argument("--seed", type=int, default=123, help="seed of the initial weights and of the shuffling")
    p.add_argument("--threads", type=int,
                   help="torch threads per process (default: torch's choice: OMP_NUM_THREADS if set, which torchrun "
                        "sets to 1, else one per CPU core)")
    p.add_argument("--start-context", default="Every effort moves you",
                   help="the prompt continued (greedy, 50 tokens) after each epoch; ↵ in the output is a newline")
    p.add_argument("--out", metavar="FOLDER",
                   help="folder to save the checkpoint (model.safetensors, config.json, optimizer.pt) and losses.json "
                        "into when training ends; one that already holds a checkpoint needs --overwrite (default: "
                        "nothing is saved)")
    p.add_argument("--overwrite", action="store_true",
                   help="let --out replace the checkpoint its folder already holds (without it, the trainer stops "
                        "before training rather than replace it)")
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
    problems += _schedule_problems(args) + _text_problems(args) + _out_problems(args)
    if problems:
        parser.error("; ".join(problems))


def _text_problems(args: argparse.Namespace) -> list[str]:
    if args.text in DATA_FILES:
        return []
    text = Path(args.text)
    if text.is_dir():
        return [f"--text {args.text!r} is a folder; give a text file"]
    if not text.is_file():
        return [f"--text {args.text!r}: no such file; give a path to a UTF-8 text file or the name of a data file "
                f"({_text_files()})"]
    return []


def _checkpoint_files(folder: str | os.PathLike) -> list[str]:
    """The files of a checkpoint that `folder` already holds (none if it is not a folder)."""
    return [name for name in CHECKPOINT_FILES if (Path(folder) / name).exists()]


def _out_problems(args: argparse.Namespace) -> list[str]:
    """What is wrong with --out: a file in its way, a folder that cannot be written, or an earlier checkpoint that
    this run would replace without --overwrite."""
    if args.out is None:
        return ["--overwrite replaces the checkpoint in the --out folder: give --out too"] if args.overwrite else []
    out = Path(args.out)
    existing = next(folder for folder in (out, *out.absolute().parents) if folder.exists())
    if not existing.is_dir():
        return [f"--out {args.out!r}: {existing} is a file, not a folder"]
    if not os.access(existing, os.W_OK | os.X_OK):
        return [f"--out {args.out!r}: the folder {existing} is not writable"]
    earlier = _checkpoint_files(out)
    if earlier and not args.overwrite:
        return [f"--out {args.out!r} already holds a checkpoint ({', '.join(earlier)}) that this run would replace; "
                "give --overwrite to replace it, or choose another --out folder"]
    return []


def _warmup(value: str) -> int | float | None:
    """--warmup-steps as a whole number of steps, or a fraction of all steps in [0, 1); None if it is neither."""
    try:
        steps = int(value)
    except ValueError:
        try:
            fraction = float(value)
        except ValueError:
            return None
        return fraction if 0 <= fraction < 1 else None
    return steps if steps >= 0 else None


def _schedule_problems(args: argparse.Namespace) -> list[str]:
    """What is wrong with the options of the appendix D schedule and clipping (the messages name the options)."""
    warmup = _warmup(args.warmup_steps)
    if warmup is None:
        return [f"--warmup-steps must be a whole number of steps >= 0 or a fraction of all steps in [0, 1), got "
                f"{args.warmup_steps!r}"]
    problems = []
    rates = (("--initial-lr", args.initial_lr, DEFAULT_INITIAL_LR, warmup != 0, "--warmup-steps", "the warmup starts"),
             ("--min-lr", args.min_lr, DEFAULT_MIN_LR, args.schedule == "cosine", "--schedule cosine",
              "the cosine decay ends"))
    for flag, given, default, used, needs, what in rates:
        value = default if given is None else given
        if given is not None and not used:
            problems.append(f"{flag} is where {what}: give {needs} too")
        elif used and not (math.isfinite(value) and 0 <= value <= args.lr):
            shown = f"{given!r}" if given is not None else f"{default:g} (its default)"
            problems.append(f"{flag} must be a number >= 0 and <= --lr ({args.lr:g}), got {shown}")
    clip = args.clip_grad_norm
    if clip is not None and not (math.isfinite(clip) and clip > 0):
        problems.append(f"--clip-grad-norm must be a number > 0, got {clip!r}")
    return problems


def _schedule(parser: argparse.ArgumentParser, args: argparse.Namespace, total_steps: int) -> LRSchedule:
    """The learning rate of every step from the options (a constant --lr by default), checked against the steps."""
    warmup = _warmup(args.warmup_steps)
    warmup_steps = int(warmup * total_steps) if isinstance(warmup, float) else warmup
    if warmup_steps > total_steps:
        parser.error(f"--warmup-steps {args.warmup_steps} is more than the {plural(total_steps, 'step')} of this "
                     "training; use fewer, or a fraction such as 0.2")
    return LRSchedule(peak_lr=args.lr, total_steps=total_steps, warmup_steps=warmup_steps, kind=args.schedule,
                      initial_lr=DEFAULT_INITIAL_LR if args.initial_lr is None else args.initial_lr,
                      min_lr=DEFAULT_MIN_LR if args.min_lr is None else args.min_lr)


def _fail(parser: argparse.ArgumentParser, message: str) -> NoReturn:
    """Stop with one line in parser.error's form, without the usage (the options are fine): exit code 1."""
    parser.exit(1, f"{parser.prog}: error: {message}\n")


def _read_training_text(parser: argparse.ArgumentParser, name: str) -> str:
    try:
        if name in DATA_FILES:
            return load_text(name)
        return Path(name).read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        parser.error(f"--text {name!r} is not UTF-8 text (byte {err.start}: {err.reason})")
    except DataFileError as err:  # a course data file that is missing or damaged: its message says how to restore it
        _fail(parser, f"cannot read the training text {name!r} (--text): {err}")
    except OSError as err:  # removed since the options were checked, or not readable
        _fail(parser, f"cannot read the training text {name!r} (--text): {err.strerror or err}")


def _load_tokenizer(parser: argparse.ArgumentParser):
    try:
        return gpt2_encoding()
    except DataFileError as err:
        _fail(parser, f"cannot load GPT-2's tokenizer: {err}")


def _loader_problem(args: argparse.Namespace, context_length: int, world: int, err: ValueError) -> str:
    """Why `make_loaders` refused the text, in the command line's words (its options and their values)."""
    given = (f"--text {args.text!r} with --context-length {context_length} and --batch-size {args.batch_size} on "
             f"{plural(world, 'process')}")
    if not isinstance(err, NotEnoughDataError):
        return f"{given}: {err}"
    if err.unit == "token":
        share = "first 90%" if err.part == "train" else "last 10%"
        return (f"{given}: the {err.part} part of the text (its {share}) has {plural(err.available, 'token')}, "
                f"fewer than the {err.needed} that one window of --context-length {context_length} needs (one more "
                "token for the last target); use a longer text or a smaller --context-length")
    batch = f"{args.batch_size}" if world == 1 else f"{args.batch_size} on each of {world} processes ({err.needed})"
    most = err.available // world
    fix = f"--batch-size {most} or less" if most >= 1 else "fewer processes"
    return (f"{given}: the train part makes {plural(err.available, 'window')} of {context_length} tokens, fewer than "
            f"one batch of {batch}; use {fix}, or a smaller --context-length")


def _config(args: argparse.Namespace) -> dict[str, Any]:
    config = dict(PRESETS[args.preset])
    if args.context_length is not None:
        config["context_length"] = args.context_length
    if args.drop_rate is not None:
        config["drop_rate"] = args.drop_rate
    return config


@dataclass
class _Progress:
    """How far a run got, for the line that Ctrl-C prints: preparing, training, evaluating, saving, then saved."""

    stage: str = "preparing"


_WHEN = {"preparing": "before training started", "training": "as training started",
         "evaluating": "after training, during the final evaluation", "saving": "while saving the checkpoint",
         "saved": "after the checkpoint was saved"}


def _save(args: argparse.Namespace, model: nn.Module, config: dict[str, Any], optimizer: torch.optim.Optimizer,
          history: TrainingHistory, results: dict[str, Any]) -> None:
    out = save_checkpoint(args.out, model, config, optimizer, extra={"args": vars(args)})
    (out / "losses.json").write_text(json.dumps({**vars(history), **results}, indent=1) + "\n")
    print(f"saved the checkpoint (model.safetensors, config.json, optimizer.pt) and losses.json into {out.resolve()}")


def _say_where_it_saves(say, args: argparse.Namespace) -> None:
    """The line before training on what will be saved, and what it replaces."""
    if args.out is None:
        say("no --out folder given: the trained model will not be saved (add --out FOLDER to save it)")
    elif _checkpoint_files(args.out):
        say(f"--overwrite: the checkpoint in {Path(args.out).resolve()} will be replaced when training ends")


def _what_was_saved(args: argparse.Namespace, stage: str) -> str:
    """The end of the Ctrl-C line: what the stopped run left in --out."""
    if args.out is None:
        return "nothing was saved (no --out folder was given)"
    out = Path(args.out).resolve()
    if stage == "saving":
        return f"the checkpoint in {out} is incomplete: run the training again to save a whole one"
    if stage == "saved":
        return f"the checkpoint is in {out}"
    kept = f": {out} keeps its earlier checkpoint" if _checkpoint_files(out) else f" into {out}"
    why = "" if stage == "preparing" else (" (the checkpoint is written only when training ends; for a shorter run, "
                                           "give --max-steps or fewer --epochs)")
    return f"nothing was saved{kept}{why}"


def _stopped(args: argparse.Namespace, progress: _Progress, interrupt: KeyboardInterrupt) -> str:
    """The one line that Ctrl-C prints: when training stopped, and what was or was not saved."""
    if isinstance(interrupt, TrainingInterrupted):
        when = (f"after {interrupt.steps_done} of {plural(interrupt.total_steps, 'step')}, in epoch {interrupt.epoch} "
                f"of {interrupt.num_epochs}")
    else:
        when = _WHEN[progress.stage]
    return f"stopped by Ctrl-C {when}; {_what_was_saved(args, progress.stage)}"


def _run(parser: argparse.ArgumentParser, args: argparse.Namespace, config: dict[str, Any], device: torch.device,
         world: int, progress: _Progress) -> TrainingHistory:
    say = print if is_main_process() else (lambda *_: None)
    text = _read_training_text(parser, args.text)
    tokenizer = _load_tokenizer(parser)
    try:
        train_loader, val_loader = make_loaders(text, tokenizer, config["context_length"], args.batch_size,
                                                seed=args.seed)
    except ValueError as err:
        parser.error(_loader_problem(args, config["context_length"], world, err))
    steps = min(args.epochs * len(train_loader), args.max_steps or math.inf)
    schedule = _schedule(parser, args, steps)
    torch.manual_seed(args.seed)  # as the notebook: seed, then the model; the shuffling draws from the same generator
    model = GPTModel(config).to(device)
    n_params = sum(p.numel() for p in model.parameters())
    say(f"training {args.preset} ({n_params:,} parameters, context {config['context_length']}) on {args.text}: "
        f"{plural(world, 'process')} x {plural(torch.get_num_threads(), 'thread')}, "
        f"{plural(len(train_loader), 'step')} per epoch")
    _say_where_it_saves(say, args)
    if world > 1:
        model = nn.parallel.DistributedDataParallel(model, device_ids=[device.index] if device.type == "cuda" else None)
    if schedule.warmup_steps or schedule.kind != "constant" or args.clip_grad_norm is not None:
        clipping = "no clipping" if args.clip_grad_norm is None else (
            f"gradients clipped to norm {args.clip_grad_norm:g} from step {schedule.warmup_steps}")
        say(f"learning rate: {plural(schedule.warmup_steps, 'warmup step')} from {schedule.initial_lr:g} to "
            f"{schedule.peak_lr:g}, then {schedule.kind}; {clipping}")
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    progress.stage = "training"
    start = time.perf_counter()
    history = train_model(model, train_loader, val_loader, optimizer, device, args.epochs, args.eval_freq,
                          args.eval_iter, args.start_context, tokenizer, max_steps=args.max_steps,
                          progress=not args.no_progress, lr_schedule=schedule, clip_grad_norm=args.clip_grad_norm)
    seconds = time.perf_counter() - start
    progress.stage = "evaluating"
    # the periodic losses above cover --eval-iter batches at some earlier step; this is the final model on all
    everything = max(len(train_loader), len(val_loader))
    train_loss, val_loss = evaluate_model(model, train_loader, val_loader, device, eval_iter=everything)
    per_process = " per process" if world > 1 else ""
    say(f"trained {args.preset} on {plural(world, 'process')} in {seconds:.1f} s ({plural(steps, 'step')})")
    say(f"after training, on the full loaders ({plural(len(train_loader), 'train batch')}{per_process}, "
        f"{plural(len(val_loader), 'validation batch')}): train loss {train_loss:.3f}, val loss {val_loss:.3f}")
    if is_main_process():
        if args.out is not None:
            results = {"seconds": seconds, "final_train_loss": train_loss, "final_val_loss": val_loss,
                       "schedule": asdict(schedule), "clip_grad_norm": args.clip_grad_norm}
            progress.stage = "saving"
            _save(args, model, config, optimizer, history, results)
            progress.stage = "saved"
        else:
            say("nothing was saved: no --out folder was given (add --out FOLDER to save the checkpoint)")
    return history


def main(argv: list[str] | None = None) -> TrainingHistory:
    """Command-line entry point; see `python -m helpers.train --help`."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    _check_args(parser, _fill_recipe(args))
    config = _config(args)
    distributed = int(os.environ.get("WORLD_SIZE", "1")) > 1
    if distributed:
        dist.init_process_group(backend="nccl" if torch.cuda.is_available() else "gloo")
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    device = torch.device(f"cuda:{local_rank}" if torch.cuda.is_available() else "cpu")
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    progress = _Progress()
    try:
        return _run(parser, args, config, device, dist.get_world_size() if distributed else 1, progress)
    except KeyboardInterrupt as interrupt:  # Ctrl-C: one line on how far it got and what was saved, no traceback
        sys.stdout.flush()
        message = f"{parser.prog}: {_stopped(args, progress, interrupt)}\n" if is_main_process() else None
        parser.exit(EXIT_INTERRUPTED, message)
    finally:
        if distributed:
            dist.destroy_process_group()


if __name__ == "__main__":
    main()
