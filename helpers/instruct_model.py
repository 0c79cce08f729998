"""The model that learns to follow instructions, on either path, and what it does with them: train, answer, save.

Built in notebooks/10_instruction_finetuning.ipynb (book chapter 7): `load_instruction_model` in section 7.5
("Loading a pretrained LLM"), `recipe`, `add_lora` and `train_instruction_model` in 7.6 ("Fine-tuning the LLM on
instruction data"), `generate_response`, `generate_responses` and `save_responses` in 7.7 ("Extracting and saving
responses"), `response_loss` in 7.8 ("Evaluating the fine-tuned LLM"). The book's path fine-tunes OpenAI's GPT-2
medium (`helpers.gpt2_weights`, downloaded once); the offline path fine-tunes SmolLM2-135M-Instruct (`helpers.smollm2`,
built in notebooks/08_llama.ipynb) with LoRA (`helpers.lora`). The terminal program is `helpers.instruct_cli`.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from helpers.checks import check_flag, check_int
from helpers.generate import generate, takes_kv_caches
from helpers.gpt2_tokenizer import ENDOFTEXT_ID, gpt2_encoding
from helpers.gpt2_weights import load_pretrained_gpt2
from helpers.instruct import InstructionDataset, check_entry, custom_collate_fn, format_input
from helpers.lora import replace_linear_with_lora
from helpers.smollm2 import IM_END, load_smollm2, smollm2_tokenizer
from helpers.text import show_whitespace
from helpers.train import (
    TrainingHistory,
    calc_loss_batch,
    calc_loss_loader,
    check_loop_args,
    evaluate_model,
    optimizer_steps,
)

__all__ = [
    "BOOK_RECIPE",
    "FULL_OFFLINE_RECIPE",
    "OFFLINE_RECIPE",
    "FinetuningHistory",
    "InstructionModel",
    "add_lora",
    "extract_response",
    "generate_response",
    "generate_responses",
    "load_instruction_model",
    "recipe",
    "response_loss",
    "save_responses",
    "train_instruction_model",
]

# The book's settings (sections 7.5 to 7.7): GPT-2 medium, every weight trained, 2 epochs over all 935 entries.
BOOK_RECIPE: dict[str, Any] = {
    "model": "gpt2-medium", "train_entries": None, "num_epochs": 2, "batch_size": 8, "lr": 5e-5,
    "weight_decay": 0.1, "eval_freq": 5, "eval_iter": 5, "lora_rank": None, "lora_alpha": None, "lora_blocks": None,
    "max_new_tokens": 256, "test_entries": None,
}
# The offline path as the notebook runs it: SmolLM2 with LoRA in every block, on the first training entries only,
# so that the notebook runs in minutes on a CPU (the notebook says why each choice).
OFFLINE_RECIPE: dict[str, Any] = {
    "model": "SmolLM2-135M-Instruct", "train_entries": 48, "num_epochs": 1, "batch_size": 8, "lr": 5e-4,
    "weight_decay": 0.1, "eval_freq": 5, "eval_iter": 1, "lora_rank": 8, "lora_alpha": 16, "lora_blocks": None,
    "max_new_tokens": 48, "test_entries": 10,
}
# The offline path's full run, the terminal's `python -m helpers.instruct_cli`: every training entry, 2 epochs.
FULL_OFFLINE_RECIPE: dict[str, Any] = {**OFFLINE_RECIPE, "train_entries": None, "num_epochs": 2, "eval_freq": 20,
                                       "eval_iter": 5, "test_entries": None}


def recipe(use_pretrained: bool, full: bool = False) -> dict[str, Any]:
    """The settings of a path: `BOOK_RECIPE` for GPT-2 medium, else `OFFLINE_RECIPE` (`FULL_OFFLINE_RECIPE` with
    `full=True`, the terminal's run)."""
    check_flag(use_pretrained, "use_pretrained")
    check_flag(full, "full")
    return dict(BOOK_RECIPE if use_pretrained else FULL_OFFLINE_RECIPE if full else OFFLINE_RECIPE)


# --- 7.5 the model -----------------------------------------------------------------------------------------------


class InstructionModel(NamedTuple):
    """A path's model (eval mode, no dropout), its tokenizer, and the token that ends a response and pads a batch."""

    model: nn.Module
    tokenizer: Any
    end_token_id: int  # GPT-2's <|endoftext|> (50256); SmolLM2's <|im_end|> (2), its end-of-text and padding token
    name: str


def load_instruction_model(use_pretrained: bool, source: str | os.PathLike = "gpt2-medium") -> InstructionModel:
    """The model to fine-tune: OpenAI's GPT-2 medium (`use_pretrained=True`; `source` a Hub name, a folder or a
    safetensors file, downloaded once) with GPT-2's tokenizer, or offline SmolLM2-135M-Instruct with its own."""
    check_flag(use_pretrained, "use_pretrained")
    if use_pretrained:
        model = load_pretrained_gpt2(source)
        for module in model.modules():  # the book fine-tunes without dropout (its drop_rate 0.0)
            if isinstance(module, nn.Dropout):
                module.p = 0.0
        model.cfg["drop_rate"] = 0.0
        return InstructionModel(model.eval(), gpt2_encoding(), ENDOFTEXT_ID, Path(source).name)
    tokenizer = smollm2_tokenizer()
    return InstructionModel(load_smollm2(), tokenizer, tokenizer.special_tokens[IM_END], "SmolLM2-135M-Instruct")


def add_lora(model: nn.Module, rank: int, alpha: float, last_blocks: int | None = None) -> int:
    """Freeze `model` and wrap every linear layer of its last `last_blocks` transformer blocks (all of them with
    None) in a LoRA layer (`helpers.lora`); return the number of trainable parameters. Seed torch first: A is random.

    The output head is left alone: SmolLM2's shares its matrix with the token embedding.
    """
    blocks = getattr(model, "trf_blocks", None)
    if not isinstance(blocks, (nn.ModuleList, nn.Sequential)) or not len(blocks):
        raise TypeError(f"model must have transformer blocks in `trf_blocks`, as GPTModel and LlamaModel do, got "
                        f"{type(model).__name__}")
    check_int(last_blocks, "last_blocks", allow_none=True)
    if last_blocks is not None and last_blocks > len(blocks):
        raise ValueError(f"last_blocks={last_blocks}, but the model has {len(blocks)} transformer blocks")
    for param in model.parameters():
        param.requires_grad = False
    for block in blocks[len(blocks) - (last_blocks or len(blocks)):]:
        replace_linear_with_lora(block, rank=rank, alpha=alpha)
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


# --- 7.7 answers ----------------------------------------------------------------------------------------------------


def extract_response(generated_text: str) -> str:
    """The answer in the text a model wrote after the prompt: without the "### Response:" header (as the book)."""
    return generated_text.replace("### Response:", "").strip()


def generate_response(
    model: nn.Module, tokenizer: Any, entry: Mapping[str, str], end_token_id: int, max_new_tokens: int = 256,
    device: str | torch.device = "cpu",
) -> str:
    """The model's greedy answer to `entry`: up to `max_new_tokens` tokens after `format_input(entry)`, until it
    writes `end_token_id`. With a KV cache (the tokens are the same without it); in eval mode."""
    check_int(end_token_id, "end_token_id", minimum=0, why="a token id")
    ids = tokenizer.encode(format_input(entry))
    was_training = model.training
    model.eval()
    prompt = torch.tensor([ids], device=device)  # (1, num_tokens)
    out = generate(model, prompt, max_new_tokens, model.cfg["context_length"], eos_id=end_token_id,
                   use_cache=takes_kv_caches(model))
    model.train(was_training)
    return extract_response(tokenizer.decode(out[0, len(ids):].tolist()))


def generate_responses(
    model: nn.Module, tokenizer: Any, entries: Sequence[Mapping[str, str]], end_token_id: int,
    max_new_tokens: int = 256, device: str | torch.device = "cpu", *, json_key: str = "model_response",
    progress: bool = True,
) -> list[dict[str, str]]:
    """A copy of each entry with the model's answer added as `json_key` (the book's "model_response")."""
    return [{**check_entry(entry, i), json_key: generate_response(model, tokenizer, entry, end_token_id,
                                                                 max_new_tokens, device)}
            for i, entry in enumerate(tqdm(entries, desc="Generating responses", disable=not progress))]


def save_responses(entries: Sequence[Mapping[str, str]], path: str | os.PathLike) -> Path:
    """Write the entries as the book's JSON file (indent 4), through a temporary file: never half a file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as f:
            json.dump(list(entries), f, indent=4)
        os.replace(tmp_name, path)
    finally:
        Path(tmp_name).unlink(missing_ok=True)
    return path


# --- 7.6 training ----------------------------------------------------------------------------------------------------


@dataclass
class FinetuningHistory(TrainingHistory):
    """`helpers.train.TrainingHistory` and the loss of every training batch, taken before its step (free: the step
    computes it anyway)."""

    batch_losses: list[float] = field(default_factory=list)

    def add_evaluation(self, step: int, epoch: float, tokens_seen: int, train_loss: float, val_loss: float) -> None:
        """Keep one evaluation's losses, with when it happened: its step, epoch (a fraction) and tokens seen."""
        for values, value in ((self.steps, step), (self.epochs, epoch), (self.tokens_seen, tokens_seen),
                              (self.train_losses, train_loss), (self.val_losses, val_loss)):
            values.append(value)



def train_instruction_model(
    model: nn.Module,
    train_loader: DataLoader,
    val_loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    device: str | torch.device,
    num_epochs: int,
    eval_freq: int,
    eval_iter: int,
    start_context: Mapping[str, str],
    tokenizer: Any,
    end_token_id: int,
    *,
    max_new_tokens: int = 35,
    max_steps: int | None = None,
    progress: bool = True,
    log: Callable[[str], None] | None = print,
) -> FinetuningHistory:
    """Chapter 5's training loop (`helpers.train.optimizer_steps`), as the book's section 7.6 runs it.

    An evaluation every `eval_freq` steps (the loss over `eval_iter` batches of each loader), logged as the book
    prints it, and after each epoch the model's answer to the entry `start_context` (with a KV cache, until the end
    token), its whitespace shown (↵ a newline). Returns the losses and samples as a `FinetuningHistory`.
    """
    check_loop_args(optimizer, train_loader, num_epochs, eval_freq, eval_iter, max_steps)
    prompt = format_input(start_context)
    per_epoch = len(train_loader)
    total = num_epochs * per_epoch if max_steps is None else min(max_steps, num_epochs * per_epoch)
    history, tokens_seen = FinetuningHistory(), 0
    bar = tqdm(total=total, desc="fine-tuning", unit="step", disable=not progress)
    if log is print and not bar.disable:
        log = bar.write

    def loss_batch(inputs: torch.Tensor, targets: torch.Tensor, model: nn.Module, device: Any) -> torch.Tensor:
        loss = calc_loss_batch(inputs, targets, model, device)
        history.batch_losses.append(loss.item())
        return loss

    for epoch, step, inputs in optimizer_steps(model, train_loader, optimizer, device, num_epochs, loss_batch,
                                               max_steps=max_steps):
        if step is None:  # the end of an epoch
            answer = generate_response(model, tokenizer, start_context, end_token_id, max_new_tokens, device)
            history.samples.append(answer)
            if log:
                log(show_whitespace(f"{prompt}\n\n### Response:\n{answer}"))
            continue
        tokens_seen += inputs.numel()
        history.learning_rates.append(optimizer.param_groups[0]["lr"])
        bar.update(1)
        if step % eval_freq == 0 or step + 1 == total:
            train_loss, val_loss = evaluate_model(model, train_loader, val_loader, device, eval_iter)
            history.add_evaluation(step, epoch + (step % per_epoch + 1) / per_epoch, tokens_seen, train_loss, val_loss)
            if log:
                log(f"Ep {epoch + 1} (Step {step:06d}): Train loss {train_loss:.3f}, Val loss {val_loss:.3f}")
    bar.close()
    return history


# --- 7.8 the loss on the response tokens -------------------------------------------------------------------------


def response_loss(
    model: nn.Module, entries: Sequence[Mapping[str, str]], tokenizer: Any, end_token_id: int,
    device: str | torch.device = "cpu", batch_size: int = 8,
) -> float:
    """The mean next-token loss over the answers of `entries` only: the prompts are left out of the targets (as the
    book's exercise 7.2 does), batches of `batch_size` averaged. In eval mode, without gradients."""
    check_int(batch_size, "batch_size")
    dataset = InstructionDataset(entries, tokenizer, mask_instructions=True)
    loader = DataLoader(dataset, batch_size=batch_size, shuffle=False,
                        collate_fn=partial(custom_collate_fn, pad_token_id=end_token_id, device=device))
    was_training = model.training
    model.eval()
    with torch.no_grad():
        loss = calc_loss_loader(loader, model, device)
    model.train(was_training)
    return loss
