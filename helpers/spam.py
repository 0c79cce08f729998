"""The SMS Spam Collection for fine-tuning a classifier: read it, balance it, split it, pad it into batches.

Built in notebooks/09_classification_finetuning.ipynb (book chapter 6): `load_sms_spam`, `create_balanced_dataset`,
`random_split` and `spam_splits` in section 6.2 ("Preparing the dataset"), `SpamDataset` and `create_spam_loaders`
in 6.3 ("Creating data loaders"). The data set ships with the course (datasets/sms-spam-collection/, CC BY 4.0): it
is checked by sha256 when loaded and never downloaded.
"""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from helpers.checks import check_int, check_text, plural
from helpers.datafiles import checked_shipped_file, data_dir
from helpers.gpt2_tokenizer import ENDOFTEXT_ID

__all__ = [
    "CLASS_NAMES",
    "LABELS",
    "SMS_SPAM_FILE",
    "SMS_SPAM_SHA256",
    "SPLIT_NAMES",
    "SpamDataset",
    "check_message",
    "create_balanced_dataset",
    "create_spam_loaders",
    "encode_message",
    "load_sms_spam",
    "random_split",
    "read_split_csv",
    "spam_splits",
    "write_split_csv",
]

_CHECKOUT = Path(__file__).resolve().parent.parent
SMS_SPAM_FILE = _CHECKOUT / "datasets" / "sms-spam-collection" / "SMSSpamCollection"
SMS_SPAM_SHA256 = "edc1f2ca36319ca36c6f80fede2f6ae5f81335289352485f3924df077ec20266"
_SHOWN_NAME = "datasets/sms-spam-collection/SMSSpamCollection"

LABELS = {"ham": 0, "spam": 1}  # the file's labels -> the class ids the model predicts
CLASS_NAMES = ("not spam", "spam")  # what the classifier answers for class 0 and class 1
SPLIT_NAMES = ("train", "validation", "test")


# --- 6.2 the data set: read, balance, split ------------------------------------------------------------------------


def load_sms_spam(
    path: str | os.PathLike | None = None, *, sha256: str | None = SMS_SPAM_SHA256
) -> list[tuple[str, str]]:
    """The SMS Spam Collection as (label, text) pairs, one per line of the file, in the file's order.

    Reads the copy the course ships (`SMS_SPAM_FILE`) unless `path` is given, and first checks the file's sha256
    (`sha256=None` skips the check, for a file of your own). Each line is `label<TAB>text`, split at the first tab:
    the file is not CSV, and a CSV reader would merge lines at a message's stray quote character.
    """
    file, shown = checked_shipped_file(path, SMS_SPAM_FILE, sha256, "the SMS Spam Collection", _SHOWN_NAME)
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

    The files go to `folder` (default: `sms-spam/` in the data folder of `helpers.datafiles`, which git ignores);
    returns {"train": path, "validation": path, "test": path}. Seeded: the same files on every run.
    """
    root = Path(folder) if folder is not None else data_dir() / "sms-spam"
    parts = random_split(create_balanced_dataset(load_sms_spam(), seed=seed), 0.7, 0.1, seed=seed)
    paths = {name: root / f"{name}.csv" for name in SPLIT_NAMES}
    for name, part in zip(SPLIT_NAMES, parts, strict=True):
        write_split_csv(part, paths[name])
    return paths


# --- 6.3 the padded dataset and its loaders ---------------------------------------------------------------------------


def check_message(text: object) -> str:
    """`text` if it is a non-empty message; a `TypeError` or `ValueError` saying what is wrong otherwise."""
    check_text(text, "the message")
    if not text.strip():
        raise ValueError(f"the message is empty ({text!r}): give some text to classify")
    return text


def encode_message(text: str, tokenizer: Any, max_length: int, pad_token_id: int = ENDOFTEXT_ID) -> list[int]:
    """The token ids of `text`, cut to `max_length` tokens if longer, padded with `pad_token_id` if shorter."""
    check_message(text)
    check_int(max_length, "max_length")
    ids = tokenizer.encode(text)[:max_length]
    return ids + [pad_token_id] * (max_length - len(ids))


class SpamDataset(Dataset):
    """The messages of a split CSV file as equally long token-id tensors, with their labels (0 ham, 1 spam).

    Each message is padded with `pad_token_id` (GPT-2's <|endoftext|>) to `max_length` tokens: by default the
    length of the longest message in the file; a given `max_length` also cuts longer messages to that length.
    """

    def __init__(
        self, csv_file: str | os.PathLike, tokenizer: Any, max_length: int | None = None,
        pad_token_id: int = ENDOFTEXT_ID,
    ) -> None:
        check_int(max_length, "max_length", allow_none=True)
        check_int(pad_token_id, "pad_token_id", minimum=0, why="a token id")
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
    pad_token_id: int = ENDOFTEXT_ID,
) -> tuple[DataLoader, DataLoader, DataLoader]:
    """Train, validation and test loaders of the split files (see `spam_splits`), as in the book.

    Every message is padded to the longest training message (or to `max_length`); the train loader shuffles and
    drops its last, incomplete batch. Seed torch before iterating the train loader for a reproducible order.
    """
    check_int(batch_size, "batch_size")
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
