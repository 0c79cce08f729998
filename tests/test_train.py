"""helpers.train: loss, loaders, the training loop, checkpoints, and training on two processes (DDP)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from helpers.data import load_text
from helpers.gpt import GPTModel
from helpers.tokenizers import gpt2_encoding
from helpers.train import (
    TINY_CONFIG,
    CheckpointError,
    calc_loss_batch,
    calc_loss_loader,
    load_checkpoint,
    make_loaders,
    save_checkpoint,
    text_to_token_ids,
    token_ids_to_text,
    train_model,
)

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
    with pytest.raises(ValueError, match=r"18 windows of 256 tokens, fewer than one batch of 32"):
        make_loaders(verdict, tokenizer, context_length=256, batch_size=32)


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


def test_training_lowers_the_loss_and_records_history(verdict, tokenizer):
    _, history, lines = run_micro_training(verdict, tokenizer)
    assert history.steps == [0, 4, 8]
    assert history.tokens_seen == [64, 320, 576]  # 4 sequences x 16 tokens per step
    assert history.train_losses[-1] < history.train_losses[0]
    assert len(history.samples) == 1 and history.samples[0].startswith("Every effort moves you")
    assert lines[0].startswith("Ep 1 (Step 000000): Train loss ")


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
    with pytest.raises(CheckpointError, match=r"mis-shaped \['final_norm.scale: checkpoint \(16,\), model \(32,\)"):
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_cli(out: Path, nproc: int, batch_size: int) -> dict[str, torch.Tensor]:
    """Train the tiny preset for a few steps with torchrun on `nproc` CPU processes; return the saved weights."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}", "--nnodes=1",
           f"--rdzv-endpoint=127.0.0.1:{free_port()}", "--rdzv-backend=c10d",
           "-m", "helpers.train", "--preset", "tiny", "--context-length", "32", "--drop-rate", "0",
           "--batch-size", str(batch_size), "--epochs", "1", "--max-steps", "3", "--eval-freq", "100",
           "--eval-iter", "1", "--threads", "1", "--no-progress", "--out", str(out)]
    result = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-4000:]
    return load_file(out / "model.safetensors")


def test_two_processes_match_one_process_with_the_same_global_batch(tmp_path):
    one = run_cli(tmp_path / "one", nproc=1, batch_size=4)
    two = run_cli(tmp_path / "two", nproc=2, batch_size=2)
    assert one.keys() == two.keys()
    for name in one:
        torch.testing.assert_close(two[name], one[name], atol=1e-5, rtol=0, msg=name)
    torch.manual_seed(123)
    initial = GPTModel({**TINY_CONFIG, "context_length": 32, "drop_rate": 0.0}).state_dict()
    assert not torch.equal(one["out_head.weight"], initial["out_head.weight"])  # training moved the weights


def test_cross_entropy_matches_functional(verdict, tokenizer):
    model = micro_model().eval()
    train_loader, _ = make_loaders(verdict, tokenizer, context_length=16, batch_size=2)
    x, y = next(iter(train_loader))
    with torch.no_grad():
        logits = model(x)
        expected = F.cross_entropy(logits.flatten(0, 1), y.flatten())
        assert torch.equal(calc_loss_batch(x, y, model, "cpu"), expected)
