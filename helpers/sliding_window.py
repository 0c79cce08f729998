"""Sliding-window dataset and data loader: one long token stream -> (input, target) pairs for next-token prediction.

Built in notebooks/03_sliding_window.ipynb (section 2.6, "Data sampling with a sliding window"); chapter 5's
training loop imports `create_dataloader_v1` from here.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from helpers.checks import check_int, check_text, plural
from helpers.gpt2_tokenizer import gpt2_encoding
from helpers.text import ENDOFTEXT

__all__ = ["GPTDatasetV1", "create_dataloader_v1", "encode_text", "num_windows", "target_counts"]


def _accepts_allowed_special(encode: Callable[..., Any]) -> bool:
    """True when `encode` has a parameter named `allowed_special` (tiktoken's, and tokenizers that copy it)."""
    try:
        return "allowed_special" in inspect.signature(encode).parameters
    except (TypeError, ValueError):  # builtins without a signature
        return False


def encode_text(txt: str, tokenizer: Any) -> torch.Tensor:
    """Token ids of `txt` as a 1-D int64 tensor; `<|endoftext|>` is allowed for tokenizers that ask (tiktoken)."""
    if isinstance(tokenizer, (str, bytes)):  # str.encode exists but turns text into bytes, not token ids
        raise TypeError(
            f"tokenizer must be a tokenizer object with an encode(text) method, got the {type(tokenizer).__name__} "
            f"{tokenizer!r}; for GPT-2's BPE pass helpers.gpt2_tokenizer.gpt2_encoding()"
        )
    encode = getattr(tokenizer, "encode", None)
    if not callable(encode):
        raise TypeError(
            f"tokenizer must have an encode(text) method that returns token ids, "
            f"got {type(tokenizer).__name__} without one"
        )
    check_text(txt, "txt")
    if _accepts_allowed_special(encode):
        ids = encode(txt, allowed_special={ENDOFTEXT})  # the stories are separated by <|endoftext|>
    else:
        ids = encode(txt)
    name = type(tokenizer).__name__
    try:
        ids = ids if isinstance(ids, torch.Tensor) else list(ids)
        token_ids = torch.as_tensor(ids) if len(ids) else torch.empty(0, dtype=torch.long)
    except (TypeError, ValueError, RuntimeError) as err:
        raise TypeError(f"{name}.encode must return a sequence of integer token ids: {err}") from err
    if token_ids.dtype == torch.bool or token_ids.is_floating_point() or token_ids.is_complex() or token_ids.ndim != 1:
        raise TypeError(
            f"{name}.encode must return a flat sequence of integer token ids, "
            f"got a {token_ids.dtype} tensor of shape {tuple(token_ids.shape)}"
        )
    return token_ids.to(torch.long)


def num_windows(n_tokens: int, max_length: int, stride: int) -> int:
    """How many windows `GPTDatasetV1` cuts from `n_tokens` tokens (0 when there are fewer than max_length + 1)."""
    if n_tokens <= max_length:
        return 0
    return (n_tokens - max_length - 1) // stride + 1


class GPTDatasetV1(Dataset):
    """Windows of `max_length` token ids starting every `stride` tokens, each paired with its next-token targets.

    Window i holds tokens [i*stride, i*stride + max_length) as input and the same span shifted by one token as
    target. A window starts only where its last target still exists, so no window reads past the end.
    """

    def __init__(self, txt: str, tokenizer: Any, max_length: int, stride: int) -> None:
        self.max_length = check_int(max_length, "max_length")
        self.stride = check_int(stride, "stride")
        self.token_ids = encode_text(txt, tokenizer)  # (n_tokens,)
        n_tokens = len(self.token_ids)
        if n_tokens < self.max_length + 1:
            raise ValueError(
                f"the text has {plural(n_tokens, 'token')}, but max_length={self.max_length} needs at least "
                f"{self.max_length + 1} (a window of {plural(self.max_length, 'input')} plus one more token for the "
                f"last target); use a longer text or a smaller max_length"
            )
        # unfold makes views, not copies: row i is token_ids[i*stride : i*stride + max_length]
        self.input_ids = self.token_ids[:-1].unfold(0, self.max_length, self.stride)  # (n_windows, max_length)
        self.target_ids = self.token_ids[1:].unfold(0, self.max_length, self.stride)  # (n_windows, max_length)

    def __len__(self) -> int:
        return self.input_ids.shape[0]

    def __getitem__(self, idx: int) -> tuple[torch.Tensor, torch.Tensor]:
        # copies, so that a caller who edits a sample in place cannot change the token stream under other windows
        return self.input_ids[idx].clone(), self.target_ids[idx].clone()


def target_counts(dataset: GPTDatasetV1) -> torch.Tensor:
    """How often each position of the token stream is a target in one epoch over `dataset`; shape (n_tokens,)."""
    counts = torch.zeros(len(dataset.token_ids), dtype=torch.long)
    for i in range(len(dataset)):
        start = i * dataset.stride + 1
        counts[start : start + dataset.max_length] += 1
    return counts


def create_dataloader_v1(
    txt: str,
    batch_size: int = 4,
    max_length: int = 256,
    stride: int = 128,
    shuffle: bool = True,
    drop_last: bool = True,
    num_workers: int = 0,
    *,
    tokenizer: Any = None,
    generator: torch.Generator | None = None,
) -> DataLoader:
    """Batches of (inputs, targets), each (batch_size, max_length), from `txt` tokenized with GPT-2's BPE.

    `tokenizer` replaces GPT-2's encoding with any object that has `encode(text)`; `generator` (a seeded
    `torch.Generator`) makes the shuffled order the same on every run.
    """
    batch_size = check_int(batch_size, "batch_size")
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
    dataset = GPTDatasetV1(txt, gpt2_encoding() if tokenizer is None else tokenizer, max_length, stride)
    if drop_last and len(dataset) < batch_size:
        raise ValueError(
            f"the text gives {plural(len(dataset), 'window')} (max_length={dataset.max_length}, "
            f"stride={dataset.stride}), fewer than batch_size={batch_size}, so drop_last=True would leave no batch at "
            f"all; use a smaller batch_size, a smaller stride, or drop_last=False"
        )
    return DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=shuffle,
        drop_last=drop_last,
        num_workers=num_workers,
        generator=generator,
    )
