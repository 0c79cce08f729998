"""Fine-tuning a GPT as a spam classifier: the model and its head, the loss, the loop, and classifying a message.

Built in notebooks/09_classification_finetuning.ipynb (book chapter 6): `load_base_model` in section 6.4
("Initializing a model with pretrained weights"), `add_classification_head` in 6.5, `calc_accuracy_loader`,
`calc_loss_batch` and `calc_loss_loader` in 6.6, `train_classifier` in 6.7 (on the loop of `helpers.train`), and
`classify_review` with `spam_probability` in 6.8. The data and its loaders are `helpers.spam`. Beyond the book, "A real
pretrained base, offline": `last_token_features`, what a frozen model (such as SmolLM2) hands a new head.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from helpers.checks import check_flag, check_int
from helpers.gpt import TINY_CONFIG, GPTModel
from helpers.gpt2_tokenizer import ENDOFTEXT_ID
from helpers.gpt2_weights import load_pretrained_gpt2
from helpers.llama import LlamaModel
from helpers.spam import CLASS_NAMES, check_message, encode_message
from helpers.train import average_loss, check_loop_args, evaluate_losses, optimizer_steps

__all__ = [
    "BOOK_RECIPE",
    "OFFLINE_CONFIG",
    "OFFLINE_RECIPE",
    "TRAINABLE_PARTS",
    "ClassifierHistory",
    "add_classification_head",
    "calc_accuracy_loader",
    "calc_loss_batch",
    "calc_loss_loader",
    "classify_review",
    "evaluate_model",
    "last_token_features",
    "load_base_model",
    "recipe",
    "spam_probability",
    "train_classifier",
    "trainable_parameters",
]

# The offline path's model (random weights, no download): the course's TINY_CONFIG with a context longer than any
# message, no dropout (the book fine-tunes with drop_rate 0.0) and the query/key/value biases of OpenAI's GPT-2.
OFFLINE_CONFIG: dict[str, Any] = {**TINY_CONFIG, "context_length": 256, "drop_rate": 0.0, "qkv_bias": True}

# The book's settings for GPT-2 small with OpenAI's weights (sections 6.7 and E.4). The book's LoRA layer scales
# its update by alpha; ours by alpha / rank (as the LoRA paper does), so the book's rank 16, alpha 16 is alpha 256.
BOOK_RECIPE: dict[str, Any] = {
    "lr": 5e-5,
    "weight_decay": 0.1,
    "num_epochs": 5,
    "eval_freq": 50,
    "eval_iter": 5,
    "lora_rank": 16,
    "lora_alpha": 256,
}
# A small model that starts from random weights needs larger steps to learn anything in a few epochs.
OFFLINE_RECIPE: dict[str, Any] = {
    "lr": 3e-3,
    "weight_decay": 0.1,
    "num_epochs": 3,
    "eval_freq": 50,
    "eval_iter": 5,
    "lora_rank": 4,
    "lora_alpha": 8,
}


def recipe(use_pretrained: bool) -> dict[str, Any]:
    """The training settings of a path: `BOOK_RECIPE` with OpenAI's GPT-2, `OFFLINE_RECIPE` for the small model."""
    check_flag(use_pretrained, "use_pretrained")
    return dict(BOOK_RECIPE if use_pretrained else OFFLINE_RECIPE)


# --- 6.4 and 6.5 the model: pretrained or small, with a classification head -------------------------------------


def load_base_model(use_pretrained: bool, source: str | os.PathLike = "gpt2") -> GPTModel:
    """The model to fine-tune, in eval mode and without dropout (the book's `drop_rate` 0.0 for fine-tuning).

    `use_pretrained=True`: OpenAI's GPT-2 from `source` through `helpers.gpt2_weights.load_pretrained_gpt2` (a Hub
    name, downloaded once, or a local folder or safetensors file). `False`: a `GPTModel(OFFLINE_CONFIG)` with random
    weights; seed torch first for the same weights every time.
    """
    check_flag(use_pretrained, "use_pretrained")
    if not use_pretrained:
        return GPTModel(OFFLINE_CONFIG).eval()
    loaded = load_pretrained_gpt2(source)
    model = GPTModel({**loaded.cfg, "drop_rate": 0.0})  # built whole: its causal masks are real tensors, not meta ones
    model.load_state_dict(loaded.state_dict())
    return model.eval()


TRAINABLE_PARTS = ("last_block", "head", "all")


def add_classification_head(model: GPTModel | LlamaModel, num_classes: int = 2,
                            trainable: str = "last_block") -> GPTModel | LlamaModel:
    """Replace the output head by a new `nn.Linear(emb_dim, num_classes)` and choose what training may change.

    `trainable`: "last_block" (the book: the last transformer block, the final LayerNorm and the new head),
    "head" (the new head only) or "all" (every parameter). The head's weights are random: seed torch first.
    Changes `model` in place and returns it. A `helpers.llama.LlamaModel` works too (notebooks/08_llama.ipynb): its tied
    output head is replaced, the token embedding stays.
    """
    if not isinstance(model, (GPTModel, LlamaModel)):
        raise TypeError(f"model must be a helpers.gpt.GPTModel or helpers.llama.LlamaModel, got {type(model).__name__}")
    check_int(num_classes, "num_classes")
    if num_classes < 2:
        raise ValueError(f"num_classes must be at least 2 (a classifier chooses between classes), got {num_classes}")
    if trainable not in TRAINABLE_PARTS:
        raise ValueError(f"trainable must be one of {list(TRAINABLE_PARTS)}, got {trainable!r}")
    for param in model.parameters():
        param.requires_grad = trainable == "all"
    model.out_head = nn.Linear(model.cfg["emb_dim"], num_classes)
    if trainable == "last_block":
        for param in [*model.trf_blocks[-1].parameters(), *model.final_norm.parameters()]:
            param.requires_grad = True
    return model


def trainable_parameters(model: nn.Module) -> int:
    """The number of parameters that training may change (requires_grad)."""
    return sum(param.numel() for param in model.parameters() if param.requires_grad)


# --- 6.6 loss and accuracy -------------------------------------------------------------------------------------------


def _batches_to_use(data_loader: Any, num_batches: int | None) -> int:
    check_int(num_batches, "num_batches", allow_none=True)
    available = len(data_loader)
    if available == 0:
        raise ValueError("the data loader yields no batches")
    return available if num_batches is None else min(num_batches, available)


def calc_accuracy_loader(data_loader: Any, model: nn.Module, device: Any, num_batches: int | None = None) -> float:
    """The fraction of messages in the first `num_batches` batches (all by default) whose last-token class is right.

    Switches the model to eval mode (and leaves it there, as the book does).
    """
    n = _batches_to_use(data_loader, num_batches)
    model.eval()
    correct, seen = 0, 0
    for i, (input_batch, target_batch) in enumerate(data_loader):
        if i == n:
            break
        with torch.no_grad():
            logits = model(input_batch.to(device))[:, -1, :]  # (batch, num_classes): the last token's scores
        predicted = torch.argmax(logits, dim=-1)
        seen += predicted.shape[0]
        correct += (predicted == target_batch.to(device)).sum().item()
    return correct / seen


def calc_loss_batch(
    input_batch: torch.Tensor, target_batch: torch.Tensor, model: nn.Module, device: Any
) -> torch.Tensor:
    """Cross-entropy of the last token's class scores against the labels of one batch."""
    logits = model(input_batch.to(device))[:, -1, :]  # (batch, num_classes)
    return F.cross_entropy(logits, target_batch.to(device))


def calc_loss_loader(data_loader: Any, model: nn.Module, device: Any, num_batches: int | None = None) -> float:
    """The average of `calc_loss_batch` over the first `num_batches` batches (all by default)."""
    return average_loss(calc_loss_batch, data_loader, model, device, num_batches)


def evaluate_model(
    model: nn.Module, train_loader: Any, val_loader: Any, device: Any, eval_iter: int
) -> tuple[float, float]:
    """Train and validation classification loss over `eval_iter` batches each, in eval mode; then back to train."""
    return evaluate_losses(calc_loss_batch, model, train_loader, val_loader, device, eval_iter)


# --- 6.7 the training loop -------------------------------------------------------------------------------------------


class ClassifierHistory(NamedTuple):
    """What `train_classifier` measured, in the order of the book's return value (so it unpacks the same way):
    the losses at each evaluation, the accuracies after each epoch, and how many examples training saw."""

    train_losses: list[float]
    val_losses: list[float]
    train_accs: list[float]
    val_accs: list[float]
    examples_seen: int


def train_classifier(
    model: nn.Module,
    train_loader: DataLoader,
    val_loader: DataLoader,
    optimizer: torch.optim.Optimizer,
    device: Any,
    num_epochs: int,
    eval_freq: int,
    eval_iter: int,
    *,
    progress: bool = True,
    log: Callable[[str], None] | None = print,
) -> ClassifierHistory:
    """The book's `train_classifier_simple`: AdamW steps on the last-token loss, the losses every `eval_freq` steps,
    the train and validation accuracy (over `eval_iter` batches) after each epoch.

    Takes the same steps as the book's loop from the same seed and returns the same five values, as a
    `ClassifierHistory`; adds checks and a tqdm bar. `log` receives the book's printed lines (None: quiet).
    """
    check_loop_args(optimizer, train_loader, num_epochs, eval_freq, eval_iter)
    history = ClassifierHistory([], [], [], [], 0)
    examples_seen = 0
    bar = tqdm(total=num_epochs * len(train_loader), desc="fine-tuning", unit="step", disable=not progress)
    for epoch, step, inputs in optimizer_steps(model, train_loader, optimizer, device, num_epochs, calc_loss_batch):
        if step is None:  # the end of an epoch
            history.train_accs.append(calc_accuracy_loader(train_loader, model, device, num_batches=eval_iter))
            history.val_accs.append(calc_accuracy_loader(val_loader, model, device, num_batches=eval_iter))
            if log:
                log(f"Training accuracy: {history.train_accs[-1] * 100:.2f}% | "
                    f"Validation accuracy: {history.val_accs[-1] * 100:.2f}%")
            continue
        examples_seen += inputs.shape[0]
        bar.update(1)
        if step % eval_freq == 0:
            train_loss, val_loss = evaluate_model(model, train_loader, val_loader, device, eval_iter)
            history.train_losses.append(train_loss)
            history.val_losses.append(val_loss)
            if log:
                log(f"Ep {epoch + 1} (Step {step:06d}): Train loss {train_loss:.3f}, Val loss {val_loss:.3f}")
    bar.close()
    return history._replace(examples_seen=examples_seen)


# --- 6.8 using the classifier ----------------------------------------------------------------------------------------


def _last_token_logits(text: str, model: nn.Module, tokenizer: Any, device: Any, max_length: int | None,
                       pad_token_id: int) -> torch.Tensor:
    """The class scores (num_classes,) at the last token of the message, padded or cut to `max_length` tokens."""
    check_message(text)
    if max_length is None:
        raise ValueError("give max_length: the length the training messages were padded to (train_dataset.max_length); "
                         "the last token's position must be the one the model was trained on")
    check_int(max_length, "max_length")
    ids = encode_message(text, tokenizer, min(max_length, model.cfg["context_length"]), pad_token_id)
    model.eval()
    with torch.no_grad():
        return model(torch.tensor([ids], device=device))[0, -1, :]


def spam_probability(
    text: str, model: nn.Module, tokenizer: Any, device: Any = "cpu", max_length: int | None = None,
    pad_token_id: int = ENDOFTEXT_ID,
) -> float:
    """The model's probability that `text` is spam: the softmax of the last token's two class scores, class 1.

    The message is padded (or cut) to `max_length` tokens, as in training, and never longer than the model's
    context: a longer message is cut to its first tokens.
    """
    logits = _last_token_logits(text, model, tokenizer, device, max_length, pad_token_id)
    if logits.shape[-1] != len(CLASS_NAMES):
        raise ValueError(f"the model has {logits.shape[-1]} output classes, a spam classifier 2: add the head first")
    return torch.softmax(logits, dim=-1)[1].item()


def classify_review(
    text: str, model: nn.Module, tokenizer: Any, device: Any = "cpu", max_length: int | None = None,
    pad_token_id: int = ENDOFTEXT_ID,
) -> str:
    """ "spam" or "not spam": the class with the larger score at the last token of the padded message.

    `max_length` is the length the training messages were padded to. A longer message is cut to its first
    `max_length` tokens (at most the model's context length), as the book's function does.
    """
    logits = _last_token_logits(text, model, tokenizer, device, max_length, pad_token_id)
    return "spam" if torch.argmax(logits).item() == 1 else "not spam"


# --- beyond the book: a frozen pretrained model's features, computed once ---------------------------------------------


def _check_feature_args(model: Any, texts: Any, max_tokens: Any, end_token_id: Any, batch_size: Any) -> None:
    if not isinstance(model, (GPTModel, LlamaModel)):
        raise TypeError(f"model must be a helpers.gpt.GPTModel or helpers.llama.LlamaModel, got {type(model).__name__}")
    if isinstance(texts, str) or not isinstance(texts, (list, tuple)) or not texts:
        raise ValueError(f"texts must be a non-empty list of messages, got {texts!r:.60}")
    for text in texts:
        check_message(text)
    check_int(max_tokens, "max_tokens")
    check_int(batch_size, "batch_size")
    check_int(end_token_id, "end_token_id", minimum=0, why="a token id")
    if end_token_id >= model.cfg["vocab_size"]:
        raise ValueError(f"end_token_id {end_token_id} is not a token of the model "
                         f"(vocab_size {model.cfg['vocab_size']})")


def last_token_features(
    model: GPTModel | LlamaModel, tokenizer: Any, texts: list[str], max_tokens: int = 32, end_token_id: int = 0,
    batch_size: int = 8,
) -> torch.Tensor:
    """(len(texts), emb_dim): each message's final hidden state (after the final norm) at its last token.

    Each message is cut to its first `max_tokens` tokens and ends with `end_token_id` (SmolLM2's <|endoftext|> is 0),
    whose hidden state, under the causal mask, has seen the whole message. Messages go through the model
    `batch_size` at a time, padded on the right with `end_token_id`: padding after a token never changes that token's
    hidden state, so every message gets what it would get alone. The model's output head is skipped (and left as it
    was); no gradients are kept. A frozen model's features never change, so they are computed once.
    """
    _check_feature_args(model, texts, max_tokens, end_token_id, batch_size)
    max_tokens = min(max_tokens, model.cfg["context_length"] - 1)  # room for the end token
    head, model.out_head = model.out_head, nn.Identity()  # the model now returns its final hidden states
    was_training = model.training
    model.eval()
    features = []
    try:
        device = next(model.parameters()).device
        for start in range(0, len(texts), batch_size):
            encoded = [tokenizer.encode(text)[:max_tokens] + [end_token_id] for text in texts[start:start + batch_size]]
            longest = max(len(ids) for ids in encoded)
            batch = torch.tensor([ids + [end_token_id] * (longest - len(ids)) for ids in encoded], device=device)
            with torch.no_grad():
                hidden = model(batch)  # (batch, longest, emb_dim)
            last = torch.tensor([len(ids) - 1 for ids in encoded], device=device)
            features.append(hidden[torch.arange(len(encoded), device=device), last])
    finally:
        model.out_head = head
        model.train(was_training)
    return torch.cat(features)
