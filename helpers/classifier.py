"""Fine-tuning a GPT as a spam classifier: the data, the dataset, the classification head, the loop, classifying.

Built in notebooks/07_classification_finetuning.ipynb (book chapter 6): `load_sms_spam`,
`create_balanced_dataset`, `random_split` and `spam_splits` in section 6.2 ("Preparing the dataset"),
`SpamDataset` and `create_spam_loaders` in 6.3, `load_base_model` in 6.4, `add_classification_head` in 6.5,
`calc_accuracy_loader`, `calc_loss_batch` and `calc_loss_loader` in 6.6, `train_classifier` in 6.7, and
`classify_review` with `spam_probability` in 6.8. The data set ships with the course
(datasets/sms-spam-collection/, CC BY 4.0): it is checked by sha256 when loaded and never downloaded.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm.auto import tqdm

from helpers.data import DataIntegrityError, data_dir, sha256_of
from helpers.gpt import GPTModel
from helpers.gpt2_weights import load_pretrained_gpt2
from helpers.tokenizers import plural

__all__ = [
    "BOOK_RECIPE",
    "CLASS_NAMES",
    "LABELS",
    "OFFLINE_CONFIG",
    "OFFLINE_RECIPE",
    "SMS_SPAM_FILE",
    "SMS_SPAM_SHA256",
    "ClassifierHistory",
    "SpamDataset",
    "add_classification_head",
    "calc_accuracy_loader",
    "calc_loss_batch",
    "calc_loss_loader",
    "classify_review",
    "create_balanced_dataset",
    "create_spam_loaders",
    "encode_message",
    "evaluate_model",
    "load_base_model",
    "load_sms_spam",
    "random_split",
    "read_split_csv",
    "recipe",
    "spam_probability",
    "spam_splits",
    "train_classifier",
    "trainable_parameters",
    "write_split_csv",
]

_CHECKOUT = Path(__file__).resolve().parent.parent
SMS_SPAM_FILE = _CHECKOUT / "datasets" / "sms-spam-collection" / "SMSSpamCollection"
SMS_SPAM_SHA256 = "edc1f2ca36319ca36c6f80fede2f6ae5f81335289352485f3924df077ec20266"
_SHOWN_NAME = "datasets/sms-spam-collection/SMSSpamCollection"

LABELS = {"ham": 0, "spam": 1}  # the file's labels -> the class ids the model predicts
CLASS_NAMES = ("not spam", "spam")  # what `classify_review` answers for class 0 and class 1
PAD_TOKEN_ID = 50256  # GPT-2's <|endoftext|>
SPLIT_NAMES = ("train", "validation", "test")

# A GPT small enough to fine-tune in seconds on a CPU, for the offline path of notebook 07 (random weights: no
# download). It keeps GPT-2's vocabulary, so GPT-2's tokenizer fits, and a context longer than any message.
OFFLINE_CONFIG: dict[str, Any] = {
    "vocab_size": 50257,
    "context_length": 256,
    "emb_dim": 32,
    "n_heads": 2,
    "n_layers": 2,
    "drop_rate": 0.0,
    "qkv_bias": True,
}

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
    _check_flag("use_pretrained", use_pretrained)
    return dict(BOOK_RECIPE if use_pretrained else OFFLINE_RECIPE)


def _check_flag(name: str, value: object) -> None:
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")


def _check_count(name: str, value: object, allow_none: bool = False) -> None:
    """Raise unless `value` is a whole number >= 1 (or None when allowed)."""
    if value is None and allow_none:
        return
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a whole number >= 1{' or None' if allow_none else ''}, got {value!r}")


# --- 6.2 the data set: read, balance, split ------------------------------------------------------------------------


def load_sms_spam(
    path: str | os.PathLike | None = None, *, sha256: str | None = SMS_SPAM_SHA256
) -> list[tuple[str, str]]:
    """The SMS Spam Collection as (label, text) pairs, one per line of the file, in the file's order.

    Reads the copy the course ships (`SMS_SPAM_FILE`) unless `path` is given, and first checks the file's sha256
    (`sha256=None` skips the check, for a file of your own). Each line is `label<TAB>text`, split at the first tab:
    the file is not CSV, and a CSV reader would merge lines at a message's stray quote character.
    """
    file = Path(path) if path is not None else SMS_SPAM_FILE
    shown = _SHOWN_NAME if path is None else str(path)
    if not file.is_file():
        where = ("it ships with the course repository: clone the repository (or download it again) and install it "
                 "with `pip install -e .`") if path is None else "check the path"
        raise FileNotFoundError(f"the SMS Spam Collection is missing: no file at {shown}; {where}")
    if sha256 is not None:
        actual = sha256_of(file)
        if actual != sha256:
            fix = (f"restore the original with `git checkout -- {_SHOWN_NAME}` (or download the course again)"
                   if path is None else "use an unchanged copy, or pass sha256=None to read an edited file")
            raise DataIntegrityError(
                f"the data file {shown} was edited or is damaged: its sha256 is {actual}, expected {sha256}. Fix: "
                f"{fix}.", name=_SHOWN_NAME, target=file, cause=f"sha256 {actual[:12]}…, expected {sha256[:12]}…",
            )
    lines = file.read_text(encoding="utf-8").split("\n")
    if lines[-1] == "":
        lines.pop()  # a newline after the last line
    rows = []
    for number, line in enumerate(lines, start=1):
        label, tab, text = line.rstrip("\r").partition("\t")
        if not tab:
            raise ValueError(f"{shown}, line {number}: no tab between label and text in {line[:60]!r}")
        if label not in LABELS:
            raise ValueError(
                f"{shown}, line {number}: the label {label!r} is not one of {sorted(LABELS)} (text {text[:40]!r})"
            )
        if not text.strip():
            raise ValueError(f"{shown}, line {number}: the {label} message is empty")
        rows.append((label, text))
    if not rows:
        raise ValueError(f"{shown} holds no messages")
    return rows


def _permutation(n: int, seed: int) -> list[int]:
    """A seeded random order of range(n), drawn from its own generator (the global random state is left alone)."""
    return torch.randperm(n, generator=torch.Generator().manual_seed(seed)).tolist()


def create_balanced_dataset(rows: Sequence[tuple[str, str]], seed: int = 123) -> list[tuple[str, str]]:
    """As many randomly chosen ham messages as there are spam messages (seeded), followed by all spam messages."""
    spam = [row for row in rows if row[0] == "spam"]
    ham = [row for row in rows if row[0] == "ham"]
    if len(spam) + len(ham) != len(rows):
        raise ValueError(f"every row must be a (label, text) pair with label 'ham' or 'spam'; {rows!r:.80}")
    if not spam or len(ham) < len(spam):
        raise ValueError(
            f"cannot balance {plural(len(ham), 'ham message')} against {plural(len(spam), 'spam message')}"
        )
    keep = _permutation(len(ham), seed)[: len(spam)]
    return [ham[i] for i in keep] + spam


def random_split(
    rows: Sequence[Any], train_frac: float = 0.7, validation_frac: float = 0.1, seed: int = 123
) -> tuple[list[Any], list[Any], list[Any]]:
    """Shuffle `rows` (seeded) and cut them into train, validation and test parts (the rest)."""
    if not (0 < train_frac < 1 and 0 <= validation_frac < 1 and train_frac + validation_frac < 1):
        raise ValueError(
            f"train_frac and validation_frac must be fractions with train_frac > 0 and a sum below 1 (the rest is "
            f"the test part), got {train_frac} and {validation_frac}"
        )
    shuffled = [rows[i] for i in _permutation(len(rows), seed)]
    train_end = int(len(shuffled) * train_frac)
    validation_end = train_end + int(len(shuffled) * validation_frac)
    return shuffled[:train_end], shuffled[train_end:validation_end], shuffled[validation_end:]


def write_split_csv(rows: Iterable[tuple[str, str]], path: str | os.PathLike) -> None:
    """Write (label, text) pairs as a CSV file with the book's columns `Label,Text`, labels as 0 (ham) and 1 (spam).

    Written to a temporary file first and then renamed, so an interrupted write never leaves half a file.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".part")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as f:
            writer = csv.writer(f)
            writer.writerow(["Label", "Text"])
            writer.writerows([LABELS[label], text] for label, text in rows)
        os.replace(tmp_name, path)
    finally:
        Path(tmp_name).unlink(missing_ok=True)


def read_split_csv(path: str | os.PathLike) -> list[tuple[int, str]]:
    """The (label id, text) pairs of a CSV file written by `write_split_csv`; a bad header, label or text raises."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no CSV file at {path}; `spam_splits()` writes train.csv, validation.csv and test.csv")
    with open(path, encoding="utf-8", newline="") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header != ["Label", "Text"]:
            raise ValueError(f"{path.name}: the first row must be the header ['Label', 'Text'], got {header}")
        rows = []
        for row in reader:
            line = reader.line_num
            if len(row) != 2:
                raise ValueError(f"{path.name}, line {line}: expected 2 columns (Label, Text), got {len(row)}")
            label, text = row
            if label not in ("0", "1"):
                raise ValueError(f"{path.name}, line {line}: the label {label!r} is not 0 (ham, not spam) or 1 (spam)")
            if not text.strip():
                raise ValueError(f"{path.name}, line {line}: the message is empty")
            rows.append((int(label), text))
    return rows


def spam_splits(folder: str | os.PathLike | None = None, seed: int = 123) -> dict[str, Path]:
    """Balance and split the shipped SMS Spam Collection 70/10/20 and write train/validation/test CSV files.

    The files go to `folder` (default: `sms-spam/` in the data folder of `helpers.data`, which git ignores);
    returns {"train": path, "validation": path, "test": path}. Seeded: the same files on every run.
    """
    root = Path(folder) if folder is not None else data_dir() / "sms-spam"
    parts = random_split(create_balanced_dataset(load_sms_spam(), seed=seed), 0.7, 0.1, seed=seed)
    paths = {name: root / f"{name}.csv" for name in SPLIT_NAMES}
    for name, part in zip(SPLIT_NAMES, parts, strict=True):
        write_split_csv(part, paths[name])
    return paths


# --- 6.3 the padded dataset and its loaders ---------------------------------------------------------------------------


def _check_message(text: object) -> str:
    if not isinstance(text, str):
        raise TypeError(f"the message must be a string, got {type(text).__name__}")
    if not text.strip():
        raise ValueError(f"the message is empty ({text!r}): give some text to classify")
    return text


def encode_message(text: str, tokenizer: Any, max_length: int, pad_token_id: int = PAD_TOKEN_ID) -> list[int]:
    """The token ids of `text`, cut to `max_length` tokens if longer, padded with `pad_token_id` if shorter."""
    _check_message(text)
    _check_count("max_length", max_length)
    ids = tokenizer.encode(text)[:max_length]
    return ids + [pad_token_id] * (max_length - len(ids))


class SpamDataset(Dataset):
    """The messages of a split CSV file as equally long token-id tensors, with their labels (0 ham, 1 spam).

    Each message is padded with `pad_token_id` (GPT-2's <|endoftext|>) to `max_length` tokens: by default the
    length of the longest message in the file; a given `max_length` also cuts longer messages to that length.
    """

    def __init__(
        self, csv_file: str | os.PathLike, tokenizer: Any, max_length: int | None = None,
        pad_token_id: int = PAD_TOKEN_ID,
    ) -> None:
        _check_count("max_length", max_length, allow_none=True)
        if isinstance(pad_token_id, bool) or not isinstance(pad_token_id, int) or pad_token_id < 0:
            raise ValueError(f"pad_token_id must be a token id (an integer >= 0), got {pad_token_id!r}")
        rows = read_split_csv(csv_file)
        if not rows:
            raise ValueError(f"{Path(csv_file).name} holds no messages")
        self.data = rows
        self.labels = [label for label, _ in rows]
        self.encoded_texts = [tokenizer.encode(text) for _, text in rows]
        if max_length is None:
            self.max_length = self._longest_encoded_length()
        else:
            self.max_length = max_length
            self.encoded_texts = [ids[:max_length] for ids in self.encoded_texts]
        self.encoded_texts = [ids + [pad_token_id] * (self.max_length - len(ids)) for ids in self.encoded_texts]

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(token ids (max_length,), label ()) of message `index`, both int64."""
        return (torch.tensor(self.encoded_texts[index], dtype=torch.long),
                torch.tensor(self.labels[index], dtype=torch.long))

    def __len__(self) -> int:
        return len(self.data)

    def _longest_encoded_length(self) -> int:
        return max(len(ids) for ids in self.encoded_texts)


def create_spam_loaders(
    paths: dict[str, Path], tokenizer: Any, batch_size: int = 8, max_length: int | None = None,
    pad_token_id: int = PAD_TOKEN_ID,
) -> tuple[DataLoader, DataLoader, DataLoader]:
    """Train, validation and test loaders of the split files (see `spam_splits`), as in the book.

    Every message is padded to the longest training message (or to `max_length`); the train loader shuffles and
    drops its last, incomplete batch. Seed torch before iterating the train loader for a reproducible order.
    """
    _check_count("batch_size", batch_size)
    missing = [name for name in SPLIT_NAMES if name not in paths]
    if missing:
        raise KeyError(f"paths lacks {missing}; give the dict that spam_splits() returns")
    train_set = SpamDataset(paths["train"], tokenizer, max_length, pad_token_id)
    val_set = SpamDataset(paths["validation"], tokenizer, train_set.max_length, pad_token_id)
    test_set = SpamDataset(paths["test"], tokenizer, train_set.max_length, pad_token_id)
    if len(train_set) < batch_size:
        raise ValueError(f"the train split has {plural(len(train_set), 'message')}, fewer than one batch of "
                         f"{batch_size}")
    return (DataLoader(train_set, batch_size=batch_size, shuffle=True, drop_last=True, num_workers=0),
            DataLoader(val_set, batch_size=batch_size, shuffle=False, drop_last=False, num_workers=0),
            DataLoader(test_set, batch_size=batch_size, shuffle=False, drop_last=False, num_workers=0))


# --- 6.4 and 6.5 the model: pretrained or small, with a classification head -------------------------------------


def load_base_model(use_pretrained: bool, source: str | os.PathLike = "gpt2") -> GPTModel:
    """The model to fine-tune, in eval mode and without dropout (the book's `drop_rate` 0.0 for fine-tuning).

    `use_pretrained=True`: OpenAI's GPT-2 from `source` through `helpers.gpt2_weights.load_pretrained_gpt2` (a Hub
    name, downloaded once, or a local folder or safetensors file). `False`: a `GPTModel(OFFLINE_CONFIG)` with random
    weights; seed torch first for the same weights every time.
    """
    _check_flag("use_pretrained", use_pretrained)
    if not use_pretrained:
        return GPTModel(OFFLINE_CONFIG).eval()
    loaded = load_pretrained_gpt2(source)
    with torch.device("meta"):  # names and shapes only: the weights come from the loaded model
        model = GPTModel({**loaded.cfg, "drop_rate": 0.0})
    model.load_state_dict(loaded.state_dict(), assign=True)
    return model.eval()


TRAINABLE_PARTS = ("last_block", "head", "all")


def add_classification_head(model: GPTModel, num_classes: int = 2, trainable: str = "last_block") -> GPTModel:
    """Replace the output head by a new `nn.Linear(emb_dim, num_classes)` and choose what training may change.

    `trainable`: "last_block" (the book: the last transformer block, the final LayerNorm and the new head),
    "head" (the new head only) or "all" (every parameter). The head's weights are random: seed torch first.
    Changes `model` in place and returns it.
    """
    if not isinstance(model, GPTModel):
        raise TypeError(f"model must be a helpers.gpt.GPTModel, got {type(model).__name__}")
    _check_count("num_classes", num_classes)
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
    _check_count("num_batches", num_batches, allow_none=True)
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
    n = _batches_to_use(data_loader, num_batches)
    total = 0.0
    for i, (input_batch, target_batch) in enumerate(data_loader):
        if i == n:
            break
        total += calc_loss_batch(input_batch, target_batch, model, device).item()
    return total / n


def evaluate_model(
    model: nn.Module, train_loader: Any, val_loader: Any, device: Any, eval_iter: int
) -> tuple[float, float]:
    """Train and validation classification loss over `eval_iter` batches each, in eval mode; then back to train."""
    model.eval()
    with torch.no_grad():
        losses = [calc_loss_loader(loader, model, device, eval_iter) for loader in (train_loader, val_loader)]
    model.train()
    return losses[0], losses[1]


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
    _check_count("num_epochs", num_epochs)
    _check_count("eval_freq", eval_freq)
    _check_count("eval_iter", eval_iter)
    if len(train_loader) == 0:
        raise ValueError("the train loader yields no batches")
    if not any(p.requires_grad for group in optimizer.param_groups for p in group["params"]):
        raise ValueError("the optimizer holds no trainable parameter: nothing would change (requires_grad is False)")
    train_losses, val_losses, train_accs, val_accs = [], [], [], []
    examples_seen, step = 0, -1
    bar = tqdm(total=num_epochs * len(train_loader), desc="fine-tuning", unit="step", disable=not progress)
    for epoch in range(num_epochs):
        model.train()
        for input_batch, target_batch in train_loader:
            optimizer.zero_grad()
            loss = calc_loss_batch(input_batch, target_batch, model, device)
            loss.backward()
            optimizer.step()
            examples_seen += input_batch.shape[0]
            step += 1
            bar.update(1)
            if step % eval_freq == 0:
                train_loss, val_loss = evaluate_model(model, train_loader, val_loader, device, eval_iter)
                train_losses.append(train_loss)
                val_losses.append(val_loss)
                if log:
                    log(f"Ep {epoch + 1} (Step {step:06d}): Train loss {train_loss:.3f}, Val loss {val_loss:.3f}")
        train_accs.append(calc_accuracy_loader(train_loader, model, device, num_batches=eval_iter))
        val_accs.append(calc_accuracy_loader(val_loader, model, device, num_batches=eval_iter))
        if log:
            log(f"Training accuracy: {train_accs[-1] * 100:.2f}% | Validation accuracy: {val_accs[-1] * 100:.2f}%")
    bar.close()
    return ClassifierHistory(train_losses, val_losses, train_accs, val_accs, examples_seen)


# --- 6.8 using the classifier ----------------------------------------------------------------------------------------


def _last_token_logits(text: str, model: nn.Module, tokenizer: Any, device: Any, max_length: int | None,
                       pad_token_id: int) -> torch.Tensor:
    """The class scores (num_classes,) at the last token of the message, padded or cut to `max_length` tokens."""
    _check_message(text)
    if max_length is None:
        raise ValueError("give max_length: the length the training messages were padded to (train_dataset.max_length); "
                         "the last token's position must be the one the model was trained on")
    _check_count("max_length", max_length)
    ids = encode_message(text, tokenizer, min(max_length, model.pos_emb.weight.shape[0]), pad_token_id)
    model.eval()
    with torch.no_grad():
        return model(torch.tensor([ids], device=device))[0, -1, :]


def spam_probability(
    text: str, model: nn.Module, tokenizer: Any, device: Any = "cpu", max_length: int | None = None,
    pad_token_id: int = PAD_TOKEN_ID,
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
    pad_token_id: int = PAD_TOKEN_ID,
) -> str:
    """ "spam" or "not spam": the class with the larger score at the last token of the padded message.

    `max_length` is the length the training messages were padded to. A longer message is cut to its first
    `max_length` tokens (at most the model's context length), as the book's function does.
    """
    logits = _last_token_logits(text, model, tokenizer, device, max_length, pad_token_id)
    return "spam" if torch.argmax(logits).item() == 1 else "not spam"
