"""helpers.train: loss, loaders, the training loop, checkpoints, and training on two processes (DDP)."""

from __future__ import annotations

import io
import json
import math
import os
import re
import socket
import stat
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

import helpers.train as train_module
from helpers import datafiles, train_cli
from helpers.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
from helpers.datafiles import load_text
from helpers.generate import text_to_token_ids, token_ids_to_text
from helpers.gpt import TINY_CONFIG, GPTModel
from helpers.gpt2_tokenizer import gpt2_encoding
from helpers.schedule import LRSchedule
from helpers.sliding_window import create_dataloader_v1
from helpers.train import (
    NotEnoughDataError,
    TrainingInterrupted,
    calc_loss_batch,
    calc_loss_loader,
    make_loaders,
    train_model,
)
from helpers.train_cli import main

ROOT = Path(__file__).resolve().parent.parent
MICRO = {"vocab_size": 50257, "context_length": 16, "emb_dim": 16, "n_heads": 2, "n_layers": 1, "drop_rate": 0.0,
         "qkv_bias": False}


@pytest.fixture(scope="module")
def tokenizer():
    return gpt2_encoding()


@pytest.fixture(scope="module")
def verdict() -> str:
    return load_text("the-verdict.txt")


def micro_model(seed: int = 123, **overrides) -> GPTModel:
    torch.manual_seed(seed)
    return GPTModel({**MICRO, **overrides})


def test_text_ids_round_trip(tokenizer):
    ids = text_to_token_ids("Every effort moves you", tokenizer)
    assert ids.tolist() == [[6109, 3626, 6100, 345]]
    assert token_ids_to_text(ids, tokenizer) == "Every effort moves you"


def test_loss_equals_step_by_step_cross_entropy():
    model = micro_model().eval()
    inputs = torch.tensor([[16833, 3626, 6100], [40, 1107, 588]])
    targets = torch.tensor([[3626, 6100, 345], [1107, 588, 11311]])
    with torch.no_grad():
        probas = torch.softmax(model(inputs), dim=-1)  # (2, 3, vocab)
        target_probas = probas.gather(-1, targets.unsqueeze(-1)).squeeze(-1)  # (2, 3)
        by_hand = -torch.log(target_probas).mean()
        loss = calc_loss_batch(inputs, targets, model, "cpu")
    torch.testing.assert_close(loss, by_hand, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(torch.exp(loss), torch.exp(by_hand), rtol=1e-4, atol=0)


def test_loss_loader_averages_the_first_batches(verdict, tokenizer):
    model = micro_model().eval()
    _, val_loader = make_loaders(verdict, tokenizer, context_length=16, batch_size=2)
    batches = list(val_loader)[:3]
    with torch.no_grad():
        expected = sum(calc_loss_batch(x, y, model, "cpu").item() for x, y in batches) / 3
        assert calc_loss_loader(val_loader, model, "cpu", num_batches=3) == pytest.approx(expected)


def test_loss_loader_without_batches_raises():
    with pytest.raises(ValueError, match="no batches"):
        calc_loss_loader([], micro_model(), "cpu")


def test_split_is_ninety_ten_with_non_overlapping_windows(verdict, tokenizer):
    train_loader, val_loader = make_loaders(verdict, tokenizer, context_length=256, batch_size=2)
    # the book's numbers for the-verdict at context 256: 9 train batches of 2 x 256, 1 validation batch
    assert len(train_loader) == 9 and len(val_loader) == 1
    assert sum(x.numel() for x, _ in train_loader) == 4608
    assert sum(x.numel() for x, _ in val_loader) == 512
    x, y = next(iter(train_loader))
    assert x.shape == (2, 256) and torch.equal(x[:, 1:], y[:, :-1])


def test_too_short_text_names_the_sizes(tokenizer):
    with pytest.raises(ValueError, match=r"has \d+ tokens, fewer than the 257"):
        make_loaders("A short story. " * 20, tokenizer, context_length=256, batch_size=2)


def test_batch_larger_than_the_train_part_names_the_sizes(verdict, tokenizer):
    with pytest.raises(ValueError, match=r"18 windows of 256 tokens, fewer than one batch of 32 x 1 process = 32;"):
        make_loaders(verdict, tokenizer, context_length=256, batch_size=32)
    with pytest.raises(ValueError, match=r"fewer than one batch of 16 x 2 processes = 32;"):
        make_loaders(verdict, tokenizer, context_length=256, batch_size=16, num_replicas=2, rank=0)


def test_a_one_token_part_is_counted_in_the_singular(tokenizer):
    text = ("It was the best of times, it was the worst of times, it was the age of wisdom, it was " * 2)[:99]
    text += " everything"  # the last 10% of the characters: one token
    with pytest.raises(ValueError, match=r"the validation part of the text has 1 token, fewer than the 5 "):
        make_loaders(text, tokenizer, context_length=4, batch_size=1)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"num_epochs": 0}, "num_epochs"), ({"eval_freq": 0}, "eval_freq"), ({"eval_iter": 0}, "eval_iter"),
     ({"lr": 0.0}, "learning rate"), ({"lr": -1e-3}, "learning rate")],
)
def test_bad_training_arguments(verdict, tokenizer, kwargs, message):
    model = micro_model()
    train_loader, val_loader = make_loaders(verdict, tokenizer, context_length=16, batch_size=2)
    lr = kwargs.pop("lr", 1e-3)
    optimizer = torch.optim.SGD(model.parameters(), lr=1e-3)
    optimizer.param_groups[0]["lr"] = lr  # AdamW itself rejects a negative lr; SGD lets us reach our check
    args = {"num_epochs": 1, "eval_freq": 1, "eval_iter": 1, **kwargs}
    with pytest.raises(ValueError, match=message):
        train_model(model, train_loader, val_loader, optimizer, "cpu", start_context="Every", tokenizer=tokenizer,
                    progress=False, log=None, **args)


def run_micro_training(verdict, tokenizer, steps: int = 12):
    model = micro_model()
    train_loader, val_loader = make_loaders(verdict, tokenizer, context_length=16, batch_size=4)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3, weight_decay=0.1)
    lines: list[str] = []
    history = train_model(model, train_loader, val_loader, optimizer, "cpu", num_epochs=1, eval_freq=4,
                          eval_iter=2, start_context="Every effort moves you", tokenizer=tokenizer,
                          max_steps=steps, progress=False, log=lines.append)
    return model, history, lines


@pytest.mark.slow
def test_training_lowers_the_loss_and_records_history(verdict, tokenizer):
    _, history, lines = run_micro_training(verdict, tokenizer)
    assert history.steps == [0, 4, 8]
    assert history.tokens_seen == [64, 320, 576]  # 4 sequences x 16 tokens per step
    assert history.train_losses[-1] < history.train_losses[0]
    assert len(history.samples) == 1 and history.samples[0].startswith("Every effort moves you")
    assert lines[0].startswith("Ep 1 (Step 000000): Train loss ")


@pytest.mark.slow
def test_logged_samples_show_newlines_as_arrows(verdict, tokenizer):
    """A sample that continues with newlines must not look like a sample that stops (issue 15)."""
    model = micro_model()
    train_loader, val_loader = make_loaders(verdict, tokenizer, context_length=16, batch_size=4)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3)
    lines: list[str] = []
    history = train_model(model, train_loader, val_loader, optimizer, "cpu", num_epochs=1, eval_freq=100,
                          eval_iter=1, start_context="Every effort\n\tmoves you", tokenizer=tokenizer, max_steps=1,
                          progress=False, log=lines.append)
    assert history.samples[0].startswith("Every effort\n\tmoves you")  # the history keeps the text itself
    sample_line = lines[-1]
    assert sample_line.startswith("Every effort↵→moves you")
    assert "\n" not in sample_line and "\t" not in sample_line
    assert sample_line == history.samples[0].replace("\n", "↵").replace("\t", "→").replace("\r", "␍")


def test_logged_lines_never_share_a_line_with_the_progress_bar(verdict, tokenizer, monkeypatch):
    """Piped together (`python -m helpers.train 2>&1 | tee log`), the bar's redraws and the log lines interleave."""
    both = io.StringIO()  # stdout and stderr as one stream, as a terminal or `2>&1` shows them
    monkeypatch.setattr(sys, "stdout", both)
    monkeypatch.setattr(sys, "stderr", both)
    model = micro_model()
    train_loader, val_loader = make_loaders(verdict, tokenizer, context_length=16, batch_size=4)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3)
    train_model(model, train_loader, val_loader, optimizer, "cpu", num_epochs=1, eval_freq=2, eval_iter=1,
                start_context="Every effort", tokenizer=tokenizer, max_steps=5, progress=True, log=print)
    shown = [line.split("\r")[-1] for line in both.getvalue().split("\n")]  # what a terminal shows per line
    logged = [line for line in shown if "Train loss" in line]
    assert len(logged) == 3, both.getvalue()
    assert all(line.startswith("Ep 1 (Step 00000") for line in logged), logged
    assert any(line.startswith("Every effort") for line in shown), shown


@pytest.mark.slow
def test_training_is_deterministic(verdict, tokenizer):
    _, first, _ = run_micro_training(verdict, tokenizer, steps=5)
    _, second, _ = run_micro_training(verdict, tokenizer, steps=5)
    assert first.train_losses == second.train_losses and first.val_losses == second.val_losses


def test_checkpoint_round_trip_gives_identical_logits_and_optimizer(tmp_path, verdict, tokenizer):
    model, _, _ = run_micro_training(verdict, tokenizer, steps=3)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    model(torch.tensor([[1, 2, 3]])).sum().backward()
    optimizer.step()
    save_checkpoint(tmp_path / "ckpt", model, MICRO, optimizer)
    assert json.loads((tmp_path / "ckpt" / "config.json").read_text())["config"] == MICRO

    restored, config = load_checkpoint(tmp_path / "ckpt", MICRO)
    assert config == MICRO
    ids = torch.tensor([[40, 367, 2885, 1464]])
    model.eval()
    restored.eval()
    with torch.no_grad():
        assert torch.equal(model(ids), restored(ids))

    fresh_opt = torch.optim.AdamW(restored.parameters(), lr=1e-3)
    load_checkpoint(tmp_path / "ckpt", MICRO, optimizer=fresh_opt, model=restored)
    saved_state, loaded_state = optimizer.state_dict()["state"], fresh_opt.state_dict()["state"]
    assert saved_state.keys() == loaded_state.keys()
    for key in saved_state:
        assert torch.equal(saved_state[key]["exp_avg"], loaded_state[key]["exp_avg"])


def test_checkpoint_config_mismatch_lists_every_difference(tmp_path):
    save_checkpoint(tmp_path, micro_model(), MICRO)
    other = {**MICRO, "emb_dim": 32, "n_layers": 3}
    with pytest.raises(CheckpointError) as info:
        load_checkpoint(tmp_path, other)
    message = str(info.value)
    assert "emb_dim: checkpoint has 16, model has 32" in message
    assert "n_layers: checkpoint has 1, model has 3" in message


def test_checkpoint_weights_that_do_not_fit_the_model_are_listed(tmp_path):
    save_checkpoint(tmp_path, micro_model(), MICRO)
    bigger = micro_model(emb_dim=32)
    with pytest.raises(CheckpointError, match=r"model.safetensors does not fit; nothing was loaded. mis-shaped keys .*"
                                              r"'final_norm.scale: got \(16,\), expected \(32,\)'"):
        load_checkpoint(tmp_path, model=bigger)


def test_missing_checkpoint_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="config.json"):
        load_checkpoint(tmp_path / "nowhere")
    save_checkpoint(tmp_path, micro_model(), MICRO)
    with pytest.raises(FileNotFoundError, match="optimizer.pt"):
        load_checkpoint(tmp_path, optimizer=torch.optim.AdamW(micro_model().parameters()))


def test_truncated_checkpoint_files(tmp_path):
    model = micro_model()
    optimizer = torch.optim.AdamW(model.parameters())
    model(torch.tensor([[1, 2]])).sum().backward()
    optimizer.step()
    save_checkpoint(tmp_path, model, MICRO, optimizer)
    weights = tmp_path / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_checkpoint(tmp_path)

    save_checkpoint(tmp_path, model, MICRO, optimizer)
    opt_file = tmp_path / "optimizer.pt"
    opt_file.write_bytes(opt_file.read_bytes()[:100])
    with pytest.raises(CheckpointError, match="optimizer.pt cannot be read"):
        load_checkpoint(tmp_path, optimizer=torch.optim.AdamW(micro_model().parameters()))


@pytest.fixture
def umask():
    """Set the process umask for one test, then put the old one back."""
    old = os.umask(0o022)
    yield os.umask
    os.umask(old)


def file_modes(folder: Path) -> dict[str, int]:
    return {path.name: stat.S_IMODE(path.stat().st_mode) for path in sorted(folder.iterdir())}


@pytest.mark.parametrize("mask", [0o022, 0o027, 0o077, 0o002])
def test_checkpoint_files_follow_the_umask(tmp_path, umask, mask):
    """safetensors writes model.safetensors as a 0600 temporary file; the checkpoint gives it the umask's mode."""
    model = micro_model()
    umask(mask)
    save_checkpoint(tmp_path, model, MICRO, torch.optim.AdamW(model.parameters()))
    expected = 0o666 & ~mask
    assert file_modes(tmp_path) == {"config.json": expected, "model.safetensors": expected, "optimizer.pt": expected}


def test_overwritten_checkpoint_files_keep_their_mode(tmp_path, umask):
    model = micro_model()
    save_checkpoint(tmp_path, model, MICRO)
    for path in tmp_path.iterdir():
        path.chmod(0o640)
    save_checkpoint(tmp_path, model, MICRO)  # as a plain write would, an existing file keeps its permissions
    assert file_modes(tmp_path) == {"config.json": 0o640, "model.safetensors": 0o640}


# --- the command line ---


def help_text(capsys, monkeypatch) -> str:
    monkeypatch.setenv("COLUMNS", "100")
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    return capsys.readouterr().out


def help_entries(out: str) -> dict[str, str]:
    """The options section of `--help` as {option: its help text}."""
    options = out.split("\noptions:\n", 1)[1].split("\n\n", 1)[0]
    entries: dict[str, str] = {}
    for block in re.split(r"\n(?=  -)", options):
        head, *rest = block.strip().split("\n")
        flag = re.match(r"(-\w, )?(--[\w-]+)", head).group(2)
        # argparse puts the help after the flag and metavar, on the same line or on the next ones
        after = re.sub(r"^(-\w, )?--[\w-]+( \{[^}]*\}| [A-Z_]+)?", "", head).strip()
        entries[flag] = " ".join([after, *(line.strip() for line in rest)]).strip()
    return entries


def test_help_shows_every_option_with_help_and_default(capsys, monkeypatch):
    entries = help_entries(help_text(capsys, monkeypatch))
    parser = train_cli._build_parser()
    flags = {action.option_strings[-1] for action in parser._actions}
    assert set(entries) == flags
    switches = {action.option_strings[-1] for action in parser._actions if action.nargs == 0}
    assert switches == {"--help", "--overwrite", "--no-progress"}
    for flag, text in entries.items():
        assert text, f"{flag} has no help text"
        if flag not in switches:
            assert "(default: " in text, f"{flag} shows no default: {text!r}"
    assert entries["--epochs"].endswith("(default: the preset's recipe: tiny 10, 124M 10)")
    assert entries["--lr"].endswith("(default: the preset's recipe: tiny 0.01, 124M 0.0004)")
    assert entries["--context-length"].endswith("(default: the preset's: tiny 32, 124M 256)")
    assert entries["--out"].endswith("one that already holds a checkpoint needs --overwrite (default: nothing is "
                                     "saved)")
    assert entries["--schedule"].endswith("(default: constant)")
    assert entries["--warmup-steps"].endswith("(default: 0)")
    assert entries["--initial-lr"].startswith("the learning rate of the first warmup step (default: 3e-05,")
    assert entries["--min-lr"].startswith("where --schedule cosine ends (default: 1e-06,")
    assert entries["--clip-grad-norm"].endswith("(default: no clipping)")


def test_help_shows_no_default_for_a_switch(capsys, monkeypatch):
    """A switch is off unless given: "(default: False)" would only puzzle (issue 24)."""
    out = help_text(capsys, monkeypatch)
    entries = help_entries(out)
    assert entries["--no-progress"] == "hide the progress bar"
    assert entries["--overwrite"].startswith("let --out replace the checkpoint its folder already holds")
    assert "(default: False)" not in out and "(default: None)" not in out
    assert "--out FOLDER" in out


def test_help_shows_the_torchrun_command_without_its_thread_warning(capsys, monkeypatch):
    lines = help_text(capsys, monkeypatch).splitlines()
    torchrun_lines = [line.strip() for line in lines if "torchrun --nproc" in line]
    # torchrun prints a warning banner when OMP_NUM_THREADS is unset and it starts several processes
    assert torchrun_lines == [
        "OMP_NUM_THREADS=1 torchrun --nproc_per_node=2 -m helpers.train --preset tiny --batch-size 2"
    ]


@pytest.fixture
def no_work(monkeypatch):
    """Make loading a text, the tokenizer or building loaders or a model fail the test."""
    def forbidden(*args, **kwargs):
        raise AssertionError("the command line did work before it checked its options")

    for name in ("load_text", "gpt2_encoding", "make_loaders", "GPTModel"):
        monkeypatch.setattr(train_cli, name, forbidden)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--epochs", "0"], "--epochs must be >= 1, got 0"),
        (["--batch-size", "0"], "--batch-size must be >= 1, got 0"),
        (["--lr", "0"], "--lr must be a number > 0, got 0.0"),
        (["--lr=-1e-3"], "--lr must be a number > 0, got -0.001"),
        (["--lr", "nan"], "--lr must be a number > 0, got nan"),
        (["--weight-decay", "-0.1"], "--weight-decay must be a number >= 0, got -0.1"),
        (["--eval-freq", "0"], "--eval-freq must be >= 1, got 0"),
        (["--eval-iter", "0"], "--eval-iter must be >= 1, got 0"),
        (["--max-steps", "0"], "--max-steps must be >= 1, got 0"),
        (["--context-length", "0"], "--context-length must be >= 1, got 0"),
        (["--drop-rate", "1.5"], "--drop-rate must be in [0, 1), got 1.5"),
        (["--drop-rate", "1"], "--drop-rate must be in [0, 1), got 1.0"),
        (["--drop-rate", "-0.1"], "--drop-rate must be in [0, 1), got -0.1"),
        (["--threads", "0"], "--threads must be >= 1, got 0"),
        (["--start-context", ""], "--start-context must be a non-empty prompt, got ''"),
        (["--text", "no/such/story.txt"], "--text 'no/such/story.txt': no such file; give a path to a UTF-8 text file "
                                          "or the name of a data file (the-verdict.txt)"),
        (["--warmup-steps", "1.5"], "--warmup-steps must be a whole number of steps >= 0 or a fraction of all steps "
                                    "in [0, 1), got '1.5'"),
        (["--warmup-steps=-3"], "--warmup-steps must be a whole number of steps >= 0 or a fraction of all steps in "
                                "[0, 1), got '-3'"),
        (["--warmup-steps", "a fifth"], "--warmup-steps must be a whole number"),
        (["--initial-lr", "1e-5"], "--initial-lr is where the warmup starts: give --warmup-steps too"),
        (["--min-lr", "1e-5"], "--min-lr is where the cosine decay ends: give --schedule cosine too"),
        (["--warmup-steps", "3", "--initial-lr", "0.5"], "--initial-lr must be a number >= 0 and <= --lr (0.01), got "
                                                         "0.5"),
        (["--warmup-steps", "3", "--initial-lr", "nan"], "--initial-lr must be a number >= 0 and <= --lr (0.01), got "
                                                         "nan"),
        (["--warmup-steps", "0.2", "--lr", "1e-5"], "--initial-lr must be a number >= 0 and <= --lr (1e-05), got "
                                                    "3e-05 (its default)"),
        (["--schedule", "cosine", "--min-lr=-1e-5"], "--min-lr must be a number >= 0 and <= --lr (0.01), got -1e-05"),
        (["--schedule", "cosine", "--lr", "1e-7"], "--min-lr must be a number >= 0 and <= --lr (1e-07), got 1e-06 "
                                                   "(its default)"),
        (["--clip-grad-norm", "0"], "--clip-grad-norm must be a number > 0, got 0.0"),
        (["--clip-grad-norm", "inf"], "--clip-grad-norm must be a number > 0, got inf"),
        (["--schedule", "linear"], "argument --schedule: invalid choice: 'linear'"),
    ],
)
def test_bad_option_values_stop_before_any_work(no_work, capsys, argv, message):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: python -m helpers.train")
    assert f"error: {message}" in err


def test_bad_paths_stop_before_any_work(no_work, capsys, tmp_path):
    (tmp_path / "a-file").write_text("not a folder")
    with pytest.raises(SystemExit) as info:
        main(["--text", str(tmp_path), "--out", str(tmp_path / "a-file" / "run")])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert f"--text {str(tmp_path)!r} is a folder; give a text file" in err
    assert f"--out {str(tmp_path / 'a-file' / 'run')!r}: {tmp_path / 'a-file'} is a file, not a folder" in err


def test_every_bad_option_is_named_at_once(no_work, capsys):
    with pytest.raises(SystemExit):
        main(["--epochs", "0", "--batch-size", "-2", "--threads", "0"])
    err = capsys.readouterr().err
    assert ("error: --epochs must be >= 1, got 0; --batch-size must be >= 1, got -2; --threads must be >= 1, got 0"
            in err)


def schedule_of(argv: list[str], total_steps: int):
    """The LRSchedule that the command line builds from `argv` for a training of `total_steps` steps."""
    parser = train_cli._build_parser()
    args = train_cli._fill_recipe(parser.parse_args(argv))
    train_cli._check_args(parser, args)
    return train_cli._schedule(parser, args, total_steps), args


def test_the_default_schedule_is_chapter_5s_constant_rate_without_clipping():
    schedule, args = schedule_of([], 180)
    assert schedule.rates() == [1e-2] * 180 and args.clip_grad_norm is None
    schedule, _ = schedule_of(["--preset", "124M"], 90)
    assert schedule.rates() == [4e-4] * 90


def test_the_books_appendix_d_run_from_the_command_line():
    argv = ["--preset", "124M", "--epochs", "15", "--lr", "1e-3", "--schedule", "cosine", "--warmup-steps", "0.2",
            "--initial-lr", "1e-5", "--min-lr", "1e-5", "--clip-grad-norm", "1.0", "--eval-iter", "1"]
    schedule, args = schedule_of(argv, 135)
    assert schedule == LRSchedule(peak_lr=1e-3, total_steps=135, warmup_steps=27, initial_lr=1e-5, min_lr=1e-5)
    assert args.clip_grad_norm == 1.0 and (args.eval_freq, args.batch_size, args.weight_decay) == (5, 2, 0.1)
    whole, _ = schedule_of([*argv[:9], "27", *argv[10:]], 135)  # --warmup-steps 27: the same as the fraction 0.2
    assert whole == schedule


def test_a_warmup_longer_than_the_training_is_named_before_the_model_is_built(capsys, monkeypatch):
    monkeypatch.setattr(train_cli, "GPTModel", None)
    with pytest.raises(SystemExit) as info:
        main(["--epochs", "1", "--max-steps", "10", "--warmup-steps", "20"])
    assert info.value.code == 2
    assert "error: --warmup-steps 20 is more than the 10 steps of this training; use fewer, or a fraction such as " \
           "0.2" in capsys.readouterr().err


def test_a_context_of_one_token_is_allowed():
    parser = train_cli._build_parser()
    args = train_cli._fill_recipe(parser.parse_args(["--context-length", "1"]))
    train_cli._check_args(parser, args)  # valid, if weak


def test_a_text_that_is_not_utf8_is_named(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(train_cli, "GPTModel", None)
    (tmp_path / "latin1.txt").write_bytes("caf\u00e9 ".encode("latin-1") * 100)
    with pytest.raises(SystemExit) as info:
        main(["--text", str(tmp_path / "latin1.txt")])
    assert info.value.code == 2
    assert "latin1.txt' is not UTF-8 text (byte 3: invalid continuation byte)" in capsys.readouterr().err


def error_line(err: str) -> str:
    """The line of parser.error's output that holds the message (the usage comes before it)."""
    return next(line for line in err.splitlines() if line.startswith("python -m helpers.train: error: "))


def test_a_text_too_short_for_the_options_names_them(capsys, tmp_path, monkeypatch):
    monkeypatch.setattr(train_cli, "GPTModel", None)
    (tmp_path / "short.txt").write_text("A short story. " * 20)
    with pytest.raises(SystemExit) as info:
        main(["--text", str(tmp_path / "short.txt"), "--context-length", "256"])
    assert info.value.code == 2
    line = error_line(capsys.readouterr().err)
    assert "short.txt' with --context-length 256 and --batch-size 4 on 1 process: the train part" in line
    assert line.endswith("tokens, fewer than the 257 that one window of --context-length 256 needs (one more token "
                         "for the last target); use a longer text or a smaller --context-length")
    assert "context_length" not in line  # the command line's flags, not make_loaders' parameter names (issue 24)


def test_a_batch_larger_than_the_text_names_the_flags_and_the_largest_that_fits(capsys, monkeypatch):
    monkeypatch.setattr(train_cli, "GPTModel", None)
    with pytest.raises(SystemExit) as info:
        main(["--batch-size", "200"])
    assert info.value.code == 2
    line = error_line(capsys.readouterr().err)
    assert line == ("python -m helpers.train: error: --text 'the-verdict.txt' with --context-length 32 and "
                    "--batch-size 200 on 1 process: the train part makes 144 windows of 32 tokens, fewer than one "
                    "batch of 200; use --batch-size 144 or less, or a smaller --context-length")
    assert "batch_size" not in line and "context_length" not in line


def test_a_batch_too_large_for_several_processes_names_the_flags(verdict, tokenizer):
    parser = train_cli._build_parser()
    args = train_cli._fill_recipe(parser.parse_args(["--preset", "124M", "--batch-size", "16"]))
    for replicas, fix in [(2, "use --batch-size 9 or less"), (32, "use fewer processes")]:
        with pytest.raises(NotEnoughDataError) as info:
            make_loaders(verdict, tokenizer, 256, 16, num_replicas=replicas, rank=0)
        assert (info.value.part, info.value.unit, info.value.available) == ("train", "window", 18)
        message = train_cli._loader_problem(args, 256, replicas, info.value)
        assert message == (f"--text 'the-verdict.txt' with --context-length 256 and --batch-size 16 on {replicas} "
                           f"processes: the train part makes 18 windows of 256 tokens, fewer than one batch of 16 on "
                           f"each of {replicas} processes ({16 * replicas}); {fix}, or a smaller --context-length")


def shipped_only(monkeypatch, folder: Path, *names: str) -> None:
    """Make `datasets/` the folder `folder`, holding only the shipped files `names` (copied from the real one)."""
    real = datafiles.datasets_dir()
    for name in names:
        target = folder / datafiles.DATA_FILES[name].shipped
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes((real / datafiles.DATA_FILES[name].shipped).read_bytes())
    monkeypatch.setattr(datafiles, "datasets_dir", lambda: folder)
    monkeypatch.setattr(train_cli, "gpt2_encoding", gpt2_encoding.__wrapped__)  # past its cache of the real files


@pytest.mark.parametrize(
    ("present", "message"),
    [((), "cannot read the training text 'the-verdict.txt' (--text): the data file "
          "datasets/the-verdict/the-verdict.txt is missing (it ships with the course repository). Restore it with "
          "`git checkout -- datasets/the-verdict/the-verdict.txt` in the course folder"),
     (("the-verdict.txt",), "cannot load GPT-2's tokenizer: the data file datasets/gpt2/vocab.bpe is missing (it "
                            "ships with the course repository). Restore it with `git checkout -- "
                            "datasets/gpt2/vocab.bpe`")],
)
def test_a_missing_data_file_is_one_line_that_says_how_to_restore_it(capsys, tmp_path, monkeypatch, present,
                                                                      message):
    """No traceback and no usage (the options are fine): one line, in parser.error's form, exit code 1 (issue 24)."""
    shipped_only(monkeypatch, tmp_path, *present)
    monkeypatch.setattr(train_cli, "GPTModel", None)
    with pytest.raises(SystemExit) as info:
        main(["--no-progress"])
    assert info.value.code == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"python -m helpers.train: error: {message}")


def test_an_out_folder_with_a_checkpoint_needs_overwrite(no_work, capsys, tmp_path):
    """An earlier checkpoint is never replaced without a word: the command stops before any work (issue 24)."""
    run = tmp_path / "run"
    save_checkpoint(run, micro_model(), MICRO)
    with pytest.raises(SystemExit) as info:
        main(["--out", str(run)])
    assert info.value.code == 2
    assert error_line(capsys.readouterr().err) == (
        f"python -m helpers.train: error: --out {str(run)!r} already holds a checkpoint (model.safetensors, "
        "config.json) that this run would replace; give --overwrite to replace it, or choose another --out folder")
    parser = train_cli._build_parser()
    for argv in (["--out", str(run), "--overwrite"], ["--out", str(tmp_path)]):  # a folder with no checkpoint is fine
        train_cli._check_args(parser, train_cli._fill_recipe(parser.parse_args(argv)))


def test_overwrite_without_out_is_named(no_work, capsys):
    with pytest.raises(SystemExit) as info:
        main(["--overwrite"])
    assert info.value.code == 2
    assert "error: --overwrite replaces the checkpoint in the --out folder: give --out too" in capsys.readouterr().err


CLI_RUN = ["--preset", "tiny", "--context-length", "16", "--drop-rate", "0", "--batch-size", "8", "--epochs", "1",
           "--max-steps", "2", "--eval-freq", "100", "--eval-iter", "1", "--no-progress"]


def interrupt_after(monkeypatch, steps: int) -> None:
    """Make the training loop raise KeyboardInterrupt, as Ctrl-C does, once `steps` optimizer steps are done."""
    real = train_module.optimizer_steps

    def stopping(*args, **kwargs):
        done = 0
        for item in real(*args, **kwargs):
            yield item
            done += item[1] is not None
            if done == steps:
                raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "optimizer_steps", stopping)


def stopped_by_ctrl_c(capsys, argv: list[str]) -> tuple[str, str]:
    """Run the command, which Ctrl-C stops: its exit code is 130 and its last line the one that says why."""
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 130
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "KeyboardInterrupt" not in captured.err
    return captured.out, captured.err.splitlines()[-1]


def test_ctrl_c_in_train_model_says_how_far_it_got(verdict, tokenizer, monkeypatch):
    interrupt_after(monkeypatch, 3)
    model = micro_model()
    train_loader, val_loader = make_loaders(verdict, tokenizer, context_length=16, batch_size=4)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3)
    with pytest.raises(TrainingInterrupted) as info:
        train_model(model, train_loader, val_loader, optimizer, "cpu", num_epochs=2, eval_freq=2, eval_iter=1,
                    start_context="Every", tokenizer=tokenizer, max_steps=5, progress=False, log=None)
    stopped = info.value
    assert isinstance(stopped, KeyboardInterrupt)  # code that stops on Ctrl-C still does
    assert (stopped.steps_done, stopped.total_steps, stopped.epoch, stopped.num_epochs) == (3, 5, 1, 1)
    assert stopped.history.steps == [0, 2] and len(stopped.history.learning_rates) == 3
    assert str(stopped) == "training stopped by Ctrl-C after 3 of 5 steps, in epoch 1 of 1"


def test_ctrl_c_during_training_says_where_it_stopped_and_that_nothing_was_saved(capsys, tmp_path, monkeypatch):
    interrupt_after(monkeypatch, 2)
    monkeypatch.chdir(tmp_path)
    _, last = stopped_by_ctrl_c(capsys, [*CLI_RUN, "--max-steps", "6"])
    assert last == ("python -m helpers.train: stopped by Ctrl-C after 2 of 6 steps, in epoch 1 of 1; nothing was "
                    "saved (no --out folder was given)")
    assert list(tmp_path.iterdir()) == []

    interrupt_after(monkeypatch, 1)
    _, last = stopped_by_ctrl_c(capsys, [*CLI_RUN, "--max-steps", "6", "--out", "run"])
    assert last == (f"python -m helpers.train: stopped by Ctrl-C after 1 of 6 steps, in epoch 1 of 1; nothing was "
                    f"saved into {tmp_path.resolve() / 'run'} (the checkpoint is written only when training ends; "
                    "for a shorter run, give --max-steps or fewer --epochs)")
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_with_overwrite_keeps_the_earlier_checkpoint(capsys, tmp_path, monkeypatch):
    run = tmp_path / "run"
    save_checkpoint(run, micro_model(), MICRO)
    before = {path.name: path.read_bytes() for path in run.iterdir()}
    interrupt_after(monkeypatch, 2)
    out, last = stopped_by_ctrl_c(capsys, [*CLI_RUN, "--max-steps", "6", "--out", str(run), "--overwrite"])
    assert f"--overwrite: the checkpoint in {run.resolve()} will be replaced when training ends" in out.splitlines()
    assert last == (f"python -m helpers.train: stopped by Ctrl-C after 2 of 6 steps, in epoch 1 of 1; nothing was "
                    f"saved: {run.resolve()} keeps its earlier checkpoint (the checkpoint is written only when "
                    "training ends; for a shorter run, give --max-steps or fewer --epochs)")
    assert {path.name: path.read_bytes() for path in run.iterdir()} == before


def test_ctrl_c_before_training_says_so(capsys, tmp_path, monkeypatch):
    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(train_cli, "gpt2_encoding", interrupted)
    _, last = stopped_by_ctrl_c(capsys, [*CLI_RUN, "--out", str(tmp_path / "run")])
    assert last == (f"python -m helpers.train: stopped by Ctrl-C before training started; nothing was saved into "
                    f"{(tmp_path / 'run').resolve()}")


@pytest.mark.slow
def test_ctrl_c_while_saving_says_the_checkpoint_is_incomplete(capsys, tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(train_cli, "save_checkpoint", interrupted)
    _, last = stopped_by_ctrl_c(capsys, [*CLI_RUN, "--out", str(tmp_path / "run")])
    assert last == (f"python -m helpers.train: stopped by Ctrl-C while saving the checkpoint; the checkpoint in "
                    f"{(tmp_path / 'run').resolve()} is incomplete: run the training again to save a whole one")


@pytest.mark.slow
def test_cli_without_out_says_that_nothing_is_saved(capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    main(CLI_RUN)
    out = capsys.readouterr().out
    assert "no --out folder given: the trained model will not be saved (add --out FOLDER to save it)" in out
    last = out.splitlines()[-1]
    assert last == "nothing was saved: no --out folder was given (add --out FOLDER to save the checkpoint)"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.slow
def test_cli_reports_the_final_loss_over_the_full_loaders_and_where_it_saved(capsys, tmp_path, umask, verdict,
                                                                            tokenizer):
    umask(0o027)
    history = main([*CLI_RUN, "--out", str(tmp_path / "run")])
    out = capsys.readouterr().out
    last = out.splitlines()[-1]
    assert last == ("saved the checkpoint (model.safetensors, config.json, optimizer.pt) and losses.json into "
                    f"{(tmp_path / 'run').resolve()}")
    assert file_modes(tmp_path / "run") == dict.fromkeys(
        ["config.json", "losses.json", "model.safetensors", "optimizer.pt"], 0o640)
    assert history.steps == [0]  # one periodic evaluation, at step 0, over --eval-iter 1 batch

    # the last line before saving: the trained model's loss over every batch of both loaders
    model, config = load_checkpoint(tmp_path / "run")
    train_loader, val_loader = make_loaders(verdict, tokenizer, config["context_length"], batch_size=8)
    model.eval()
    with torch.no_grad():
        train_loss = calc_loss_loader(train_loader, model, "cpu")
        val_loss = calc_loss_loader(val_loader, model, "cpu")
    line = next(line for line in out.splitlines() if line.startswith("after training"))
    assert line == (f"after training, on the full loaders ({len(train_loader)} train batches, {len(val_loader)} "
                    f"validation batches): train loss {train_loss:.3f}, val loss {val_loss:.3f}")
    losses = json.loads((tmp_path / "run" / "losses.json").read_text())
    assert math.isclose(losses["final_train_loss"], train_loss, rel_tol=1e-5)
    assert math.isclose(losses["final_val_loss"], val_loss, rel_tol=1e-5)
    assert losses["final_train_loss"] != history.train_losses[-1]  # not the periodic (1-batch, step 0) one
    assert "trained tiny on 1 process in " in out and "s (2 steps)" in out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(out: Path, nproc: int, batch_size: int, extra: tuple[str, ...] = ()) -> dict[str, torch.Tensor]:
    """Train the tiny preset for a few steps with torchrun on `nproc` CPU processes (with the options `extra`);
    return the saved weights."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}", "--nnodes=1",
           f"--rdzv-endpoint=127.0.0.1:{free_port()}", "--rdzv-backend=c10d",
           "-m", "helpers.train", "--preset", "tiny", "--context-length", "32", "--drop-rate", "0",
           "--batch-size", str(batch_size), "--lr", "4e-4", "--epochs", "1", "--max-steps", "3", "--eval-freq", "100",
           "--eval-iter", "1", "--threads", "1", "--no-progress", "--out", str(out), *extra]
    # the timeout only stops a hung run (this takes seconds)
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=1800)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return load_file(out / "model.safetensors")


def one_process_with_the_distributed_sampler(batch_size: int, **schedule_and_clipping) -> dict[str, torch.Tensor]:
    """What `run_cli` trains, on this process, with the global batches of a `DistributedSampler` of one replica."""
    text = load_text("the-verdict.txt")
    config = {**TINY_CONFIG, "context_length": 32, "drop_rate": 0.0}
    train_loader, val_loader = make_loaders(text, gpt2_encoding(), 32, batch_size, num_replicas=1, rank=0)
    torch.manual_seed(123)
    model = GPTModel(config)
    optimizer = torch.optim.AdamW(model.parameters(), lr=4e-4, weight_decay=0.1)
    with torch.random.fork_rng(devices=[]):
        train_model(model, train_loader, val_loader, optimizer, "cpu", 1, 100, 1, "Every effort moves you",
                    gpt2_encoding(), max_steps=3, progress=False, log=None, **schedule_and_clipping)
    return model.state_dict()


@pytest.mark.slow
def test_two_processes_match_one_process_with_the_same_global_batch(tmp_path):
    one = one_process_with_the_distributed_sampler(batch_size=4)
    two = run_cli(tmp_path / "two", nproc=2, batch_size=2)
    assert one.keys() == two.keys()
    for name in one:
        torch.testing.assert_close(two[name], one[name], atol=1e-5, rtol=0, msg=name)
    torch.manual_seed(123)
    initial = GPTModel({**TINY_CONFIG, "context_length": 32, "drop_rate": 0.0}).state_dict()
    assert not torch.equal(one["out_head.weight"], initial["out_head.weight"])  # training moved the weights


@pytest.mark.slow
def test_two_processes_match_one_process_with_the_schedule_and_clipping(tmp_path):
    """Under DDP every process sets the same learning rate and clips the same averaged gradients."""
    schedule = LRSchedule(peak_lr=4e-4, total_steps=3, warmup_steps=1, initial_lr=1e-5, min_lr=1e-5)
    one = one_process_with_the_distributed_sampler(batch_size=4, lr_schedule=schedule, clip_grad_norm=0.05)
    options = ("--schedule", "cosine", "--warmup-steps", "1", "--initial-lr", "1e-5", "--min-lr", "1e-5",
               "--clip-grad-norm", "0.05")
    two = run_cli(tmp_path / "two", nproc=2, batch_size=2, extra=options)
    for name in one:
        torch.testing.assert_close(two[name], one[name], atol=1e-5, rtol=0, msg=name)
    saved = json.loads((tmp_path / "two" / "losses.json").read_text())
    assert saved["learning_rates"] == schedule.rates() and saved["clip_grad_norm"] == 0.05
    plain = one_process_with_the_distributed_sampler(batch_size=4)
    assert not torch.equal(plain["out_head.weight"], one["out_head.weight"])  # the schedule changed the steps


@pytest.mark.slow
def test_cli_with_a_schedule_logs_and_saves_the_learning_rate_of_every_step(capsys, tmp_path):
    argv = ["--context-length", "16", "--drop-rate", "0", "--batch-size", "8", "--epochs", "1", "--max-steps", "6",
            "--eval-freq", "2", "--eval-iter", "1", "--no-progress", "--schedule", "cosine", "--warmup-steps", "0.5",
            "--initial-lr", "1e-4", "--min-lr", "1e-5", "--clip-grad-norm", "1.0", "--out", str(tmp_path / "run")]
    history = main(argv)
    schedule = LRSchedule(peak_lr=1e-2, total_steps=6, warmup_steps=3, initial_lr=1e-4, min_lr=1e-5)
    out = capsys.readouterr().out
    assert "learning rate: 3 warmup steps from 0.0001 to 0.01, then cosine; gradients clipped to norm 1 from step 3" \
        in out
    logged = [line for line in out.splitlines() if "Train loss" in line]
    assert [line.rsplit(", lr ", 1)[1] for line in logged] == [f"{schedule(step):.3g}" for step in (0, 2, 4)]
    assert history.learning_rates == schedule.rates()
    saved = json.loads((tmp_path / "run" / "losses.json").read_text())
    assert saved["learning_rates"] == schedule.rates()
    assert saved["schedule"] == {"peak_lr": 0.01, "total_steps": 6, "warmup_steps": 3, "initial_lr": 0.0001,
                                 "min_lr": 1e-05, "kind": "cosine"}
    assert saved["clip_grad_norm"] == 1.0


def test_cross_entropy_matches_functional(verdict, tokenizer):
    model = micro_model().eval()
    train_loader, _ = make_loaders(verdict, tokenizer, context_length=16, batch_size=2)
    x, y = next(iter(train_loader))
    with torch.no_grad():
        logits = model(x)
        expected = F.cross_entropy(logits.flatten(0, 1), y.flatten())
        assert torch.equal(calc_loss_batch(x, y, model, "cpu"), expected)


@pytest.mark.slow
def test_the_terminal_trainer_gives_the_notebooks_losses(verdict, tokenizer, capsys):
    """`python -m helpers.train` (tiny preset, its recipe) builds the loaders and seeds as notebook 07 does."""
    split = int(0.9 * len(verdict))
    torch.manual_seed(123)
    model = GPTModel(TINY_CONFIG)
    windows = dict(batch_size=4, max_length=32, stride=32)
    train_loader = create_dataloader_v1(verdict[:split], drop_last=True, shuffle=True, **windows)
    val_loader = create_dataloader_v1(verdict[split:], drop_last=False, shuffle=False, **windows)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.1)
    notebook = train_model(model, train_loader, val_loader, optimizer, "cpu", num_epochs=2, eval_freq=12, eval_iter=2,
                           start_context="Every effort moves you", tokenizer=tokenizer, progress=False, log=None)
    terminal = main(["--epochs", "2", "--no-progress"])
    assert len(notebook.train_losses) > 2
    assert terminal.train_losses == notebook.train_losses and terminal.val_losses == notebook.val_losses
    assert terminal.samples == notebook.samples
    last = f"Train loss {notebook.train_losses[-1]:.3f}, Val loss {notebook.val_losses[-1]:.3f}"
    assert last in capsys.readouterr().out
