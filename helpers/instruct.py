"""Instruction data for fine-tuning: read it, write each entry as the book's prompt, split it, pad it into batches.

Built in notebooks/10_instruction_finetuning.ipynb (book chapter 7): `load_instruction_data`, `format_input` and
`split_instruction_data` in section 7.2 ("Preparing a dataset for supervised instruction fine-tuning"),
`InstructionDataset` and `custom_collate_fn` in 7.3 ("Organizing data into training batches"),
`create_instruction_loaders` in 7.4 ("Creating data loaders for an instruction dataset"). `mask_instructions=True`
is the book's exercise 7.2 (the prompt's tokens left out of the loss). The data ships with the course
(datasets/instruction-data/, from the book's repository, Apache-2.0): it is checked by sha256 when read and never
downloaded. `load_book_responses` reads the book's 110 test answers of its fine-tuned GPT-2 medium.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from functools import partial
from pathlib import Path
from typing import Any, NamedTuple

import torch
from torch.utils.data import DataLoader, Dataset

from helpers.checks import check_flag, check_int, plural
from helpers.datafiles import checked_shipped_file
from helpers.gpt2_tokenizer import ENDOFTEXT_ID

__all__ = [
    "BOOK_RESPONSES_FILE",
    "BOOK_RESPONSES_SHA256",
    "FIELDS",
    "IGNORE_INDEX",
    "INSTRUCTION_DATA_FILE",
    "INSTRUCTION_DATA_SHA256",
    "PROMPT_INTRO",
    "RESPONSE_HEADER",
    "InstructionDataset",
    "InstructionSplits",
    "check_entry",
    "create_instruction_loaders",
    "custom_collate_fn",
    "format_input",
    "format_response",
    "load_book_responses",
    "load_instruction_data",
    "split_instruction_data",
]

_CHECKOUT = Path(__file__).resolve().parent.parent
_FOLDER = _CHECKOUT / "datasets" / "instruction-data"
INSTRUCTION_DATA_FILE = _FOLDER / "instruction-data.json"
INSTRUCTION_DATA_SHA256 = "7e09a9af353722ca15c18bc580f093f9c39d3178335a75177319cb1e1d163944"
BOOK_RESPONSES_FILE = _FOLDER / "instruction-data-with-response.json"
BOOK_RESPONSES_SHA256 = "aced320504c77c98d957316eb9f3460945256226c36b5e9752bf7d49585eb943"

FIELDS = ("instruction", "input", "output")  # every entry's fields; "input" may be empty
PROMPT_INTRO = ("Below is an instruction that describes a task. Write a response that appropriately completes the "
                "request.")
RESPONSE_HEADER = "\n\n### Response:\n"  # between the prompt and the response
IGNORE_INDEX = -100  # the target that PyTorch's cross_entropy leaves out (its default ignore_index)


# --- 7.2 the data: read, check, format, split ---------------------------------------------------------------------


def _read_json(path: str | os.PathLike | None, default: Path, sha256: str | None) -> tuple[Any, str]:
    """The parsed JSON of the shipped file `default` (or of `path`), after checking its sha256; and its shown name."""
    file, shown = checked_shipped_file(path, default, sha256, "the instruction data",
                                       str(default.relative_to(_CHECKOUT)))
    try:
        return json.loads(file.read_text(encoding="utf-8")), shown
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ValueError(f"{shown} is not valid JSON text ({err}): it should hold a list of entries, each with "
                         f"the fields {list(FIELDS)}") from None


def check_entry(entry: object, index: int | None = None, fields: Sequence[str] = FIELDS) -> dict[str, str]:
    """`entry` as a dict if it has every field of `fields` as a string, with a non-empty instruction and output.

    A `TypeError` for an entry that is no dict or a field that is no string, a `ValueError` (naming the entry by
    `index` when given) for a missing field, an empty instruction or an empty response.
    """
    where = "the entry" if index is None else f"entry {index}"
    if not isinstance(entry, Mapping):
        raise TypeError(f"{where} must be a dict with the fields {list(fields)}, got {type(entry).__name__}")
    missing = [field for field in fields if field not in entry]
    if missing:
        raise ValueError(f"{where} lacks the field{'s' if len(missing) > 1 else ''} {missing} (it has "
                         f"{list(entry)}); every entry needs {list(fields)}, with an empty string for no input")
    for field in fields:
        if not isinstance(entry[field], str):
            raise TypeError(f"{where}: the field {field!r} must be a str, got {type(entry[field]).__name__}")
    for field, what in (("instruction", "instruction"), ("output", "response (its 'output')")):
        if field in fields and not entry[field].strip():
            raise ValueError(f"{where} has an empty {what}: {dict(entry)!r:.120}")
    return dict(entry)


def _entries(data: object, shown: str, fields: Sequence[str]) -> list[dict[str, str]]:
    if not isinstance(data, list) or not data:
        raise ValueError(f"{shown} must hold a non-empty JSON list of entries, got {type(data).__name__}")
    return [check_entry(entry, i, fields) for i, entry in enumerate(data)]


def load_instruction_data(
    path: str | os.PathLike | None = None, *, sha256: str | None = INSTRUCTION_DATA_SHA256
) -> list[dict[str, str]]:
    """The book's 1,100 instruction entries, each {"instruction", "input", "output"}, in the file's order.

    Reads the copy the course ships (`INSTRUCTION_DATA_FILE`) unless `path` is given, and first checks the file's
    sha256 (`sha256=None` skips the check, for a file of your own). Every entry is checked with `check_entry`.
    """
    data, shown = _read_json(path, INSTRUCTION_DATA_FILE, sha256)
    return _entries(data, shown, FIELDS)


def load_book_responses(
    path: str | os.PathLike | None = None, *, sha256: str | None = BOOK_RESPONSES_SHA256
) -> list[dict[str, str]]:
    """The book's 110 test entries with its fine-tuned GPT-2 medium's answer in "model_response" (section 7.7)."""
    data, shown = _read_json(path, BOOK_RESPONSES_FILE, sha256)
    return _entries(data, shown, (*FIELDS, "model_response"))


def format_input(entry: Mapping[str, str]) -> str:
    """The book's Alpaca-style prompt: the intro, "### Instruction:", and "### Input:" only when there is an input."""
    entry = check_entry(entry)
    instruction_text = f"{PROMPT_INTRO}\n\n### Instruction:\n{entry['instruction']}"
    input_text = f"\n\n### Input:\n{entry['input']}" if entry["input"] else ""
    return instruction_text + input_text


def format_response(entry: Mapping[str, str]) -> str:
    """What follows the prompt in a training example: "### Response:" and the entry's output."""
    return RESPONSE_HEADER + check_entry(entry)["output"]


class InstructionSplits(NamedTuple):
    """The three parts of the data, in the book's order of the file: training, test, validation."""

    train: list[dict[str, str]]
    test: list[dict[str, str]]
    validation: list[dict[str, str]]


def split_instruction_data(
    data: Sequence[Mapping[str, str]], train_frac: float = 0.85, test_frac: float = 0.1
) -> InstructionSplits:
    """Cut the data by position, without shuffling (as the book): the first 85% to train, the next 10% to test, the
    rest to validate. 1,100 entries give 935, 110 and 55."""
    if not (0 < train_frac < 1 and 0 < test_frac < 1 and train_frac + test_frac < 1):
        raise ValueError(f"train_frac and test_frac must be fractions > 0 with a sum below 1 (the rest validates), "
                         f"got {train_frac} and {test_frac}")
    entries = [check_entry(entry, i) for i, entry in enumerate(data)]
    train_end = int(len(entries) * train_frac)
    test_end = train_end + int(len(entries) * test_frac)
    splits = InstructionSplits(entries[:train_end], entries[train_end:test_end], entries[test_end:])
    empty = [name for name, part in splits._asdict().items() if not part]
    if empty:
        raise ValueError(f"{plural(len(entries), 'entry', 'entries')} leave the {' and '.join(empty)} part empty: "
                         "use more data")
    return splits


# --- 7.3 the dataset and the collate function -------------------------------------------------------------------


class InstructionDataset(Dataset):
    """The entries as token ids of the whole example: prompt (`format_input`) and response (`format_response`).

    Tokenized once, here. `instruction_lengths` holds each prompt's own length in tokens; with
    `mask_instructions=True` (the book's exercise 7.2) an item is the pair (instruction length, token ids), which
    `custom_collate_fn` reads to leave the prompt out of the targets.
    """

    def __init__(self, data: Sequence[Mapping[str, str]], tokenizer: Any, mask_instructions: bool = False) -> None:
        check_flag(mask_instructions, "mask_instructions")
        self.data = [check_entry(entry, i) for i, entry in enumerate(data)]
        if not self.data:
            raise ValueError("the data holds no entries")
        self.mask_instructions = mask_instructions
        self.encoded_texts = [tokenizer.encode(format_input(entry) + format_response(entry)) for entry in self.data]
        self.instruction_lengths = [len(tokenizer.encode(format_input(entry))) for entry in self.data]

    def __getitem__(self, index: int) -> list[int] | tuple[int, list[int]]:
        if self.mask_instructions:
            return self.instruction_lengths[index], self.encoded_texts[index]
        return self.encoded_texts[index]

    def __len__(self) -> int:
        return len(self.data)


def _check_item(item: object, position: int) -> tuple[int | None, list[int]]:
    """(instruction length or None, token ids) of one batch item; a clear error for anything else."""
    length = None
    if isinstance(item, tuple) and len(item) == 2 and not isinstance(item[1], int):
        length, item = item
        check_int(length, f"the instruction length of batch item {position}")
    if isinstance(item, torch.Tensor):
        item = item.tolist()
    if not isinstance(item, (list, tuple)) or not all(isinstance(i, int) and not isinstance(i, bool) for i in item):
        raise TypeError(f"batch item {position} must be a list of token ids (or a pair (instruction length, ids)), "
                        f"got {type(item).__name__}")
    if not item:
        raise ValueError(f"batch item {position} holds no tokens")
    return length, list(item)


def custom_collate_fn(
    batch: Sequence[Sequence[int] | tuple[int, Sequence[int]]],
    pad_token_id: int = ENDOFTEXT_ID,
    ignore_index: int = IGNORE_INDEX,
    allowed_max_length: int | None = None,
    device: str | torch.device = "cpu",
    *,
    truncate: bool = False,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The book's collate function: (inputs, targets), each (batch, longest item + 1), on `device`.

    Each item gets one `pad_token_id` (the end-of-text token the model learns to write) and is padded with it to
    the batch's longest item + 1; inputs are all tokens but the last, targets all but the first. Every target after
    the first end-of-text token is `ignore_index`, and so is every prompt token after the first when an item is a
    pair (instruction length, ids) (exercise 7.2). An item longer than `allowed_max_length` tokens is refused with a
    `ValueError` (cut, it would lose its end, and the end-of-text token the model should learn); `truncate=True`
    cuts the batch to `allowed_max_length` positions, as the book does.
    """
    if not isinstance(batch, Sequence) or isinstance(batch, (str, bytes)) or not batch:
        raise ValueError(f"the batch must be a non-empty list of items, got {batch!r:.60}")
    check_int(pad_token_id, "pad_token_id", minimum=0, why="a token id")
    check_int(ignore_index, "ignore_index", minimum=None)
    check_int(allowed_max_length, "allowed_max_length", allow_none=True)
    check_flag(truncate, "truncate")
    items = [_check_item(item, i) for i, item in enumerate(batch)]
    if allowed_max_length is not None and not truncate:
        for i, (_, ids) in enumerate(items):
            if len(ids) > allowed_max_length:
                raise ValueError(
                    f"batch item {i} has {plural(len(ids), 'token')}, more than allowed_max_length="
                    f"{allowed_max_length}: cut, it would lose the end of its response and the end-of-text token; "
                    "shorten the entry, raise allowed_max_length (up to the model's context length) or pass "
                    "truncate=True to cut it as the book does"
                )
    batch_max_length = max(len(ids) + 1 for _, ids in items)
    inputs_lst, targets_lst = [], []
    for instruction_length, ids in items:
        padded = ids + [pad_token_id] * (batch_max_length - len(ids))  # one end-of-text token, then the padding
        inputs = torch.tensor(padded[:-1])
        targets = torch.tensor(padded[1:])
        targets[len(ids):] = ignore_index  # targets[len(ids) - 1] is the end-of-text token: it stays
        if instruction_length is not None:
            targets[: instruction_length - 1] = ignore_index  # the prompt's tokens, as the book's exercise 7.2
        if allowed_max_length is not None:
            inputs, targets = inputs[:allowed_max_length], targets[:allowed_max_length]
        inputs_lst.append(inputs)
        targets_lst.append(targets)
    return torch.stack(inputs_lst).to(device), torch.stack(targets_lst).to(device)


# --- 7.4 the data loaders ---------------------------------------------------------------------------------------------


def create_instruction_loaders(
    splits: InstructionSplits,
    tokenizer: Any,
    batch_size: int = 8,
    pad_token_id: int = ENDOFTEXT_ID,
    allowed_max_length: int | None = 1024,
    device: str | torch.device = "cpu",
    mask_instructions: bool = False,
) -> tuple[DataLoader, DataLoader, DataLoader]:
    """Train, validation and test loaders of the three parts, as in the book's section 7.4.

    Batches of `batch_size` entries, padded by `custom_collate_fn` to their longest entry + 1 and moved to `device`.
    The train loader shuffles (by torch's global generator: seed torch before each pass for a reproducible order)
    and drops its last, incomplete batch.
    """
    if not isinstance(splits, tuple) or len(splits) != 3:
        raise TypeError(f"splits must be the (train, test, validation) of split_instruction_data, got "
                        f"{type(splits).__name__}")
    check_int(batch_size, "batch_size")
    train_data, test_data, val_data = splits
    if len(train_data) < batch_size:
        raise ValueError(f"the train part has {plural(len(train_data), 'entry', 'entries')}, fewer than one batch of "
                         f"{batch_size}")
    collate = partial(custom_collate_fn, pad_token_id=pad_token_id, allowed_max_length=allowed_max_length,
                      device=device)
    datasets = [InstructionDataset(part, tokenizer, mask_instructions) for part in (train_data, val_data, test_data)]
    train_loader = DataLoader(datasets[0], batch_size=batch_size, collate_fn=collate, shuffle=True, drop_last=True)
    val_loader = DataLoader(datasets[1], batch_size=batch_size, collate_fn=collate, shuffle=False, drop_last=False)
    test_loader = DataLoader(datasets[2], batch_size=batch_size, collate_fn=collate, shuffle=False, drop_last=False)
    return train_loader, val_loader, test_loader
