"""Checkpoints: a model's weights (safetensors), its configuration (JSON) and, if asked, its optimizer's state.

Built in notebooks/07_pretraining.ipynb, section 5.4 ("Loading and saving model weights in PyTorch"); the book
saves with `torch.save`, the course with safetensors, which stores only tensors (no pickled code runs when loading).
`python -m helpers.train --out FOLDER` saves its trained model so.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file
from torch import nn

from helpers.checks import check_state_dict
from helpers.gpt import GPTModel
from helpers.train import unwrap

__all__ = ["CHECKPOINT_FORMAT", "CheckpointError", "load_checkpoint", "save_checkpoint"]



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
    for name, tensor in unwrap(model).state_dict().items():
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
    target = unwrap(model)
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
