"""Token and position embeddings: a checked lookup, the lookup as a one-hot product, sinusoidal positions.

Built in notebooks/04_embeddings.ipynb, in its "Beyond the book" sections "a lookup is a one-hot vector times a
matrix" (`embedding_as_linear`), "ids that do not exist" (`embedding_lookup`) and "fixed and learned positions"
(`sinusoidal_encoding`, `cosine_similarity_matrix`).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from helpers.checks import check_int, plural

__all__ = [
    "cosine_similarity_matrix",
    "embedding_as_linear",
    "embedding_lookup",
    "out_of_range_message",
    "pca_2d",
    "sinusoidal_encoding",
]


def _check_embedding(embedding: object) -> nn.Embedding:
    if not isinstance(embedding, nn.Embedding):
        raise TypeError(f"embedding must be a torch.nn.Embedding, got {type(embedding).__name__}")
    return embedding


def out_of_range_message(ids: torch.Tensor, vocab_size: int) -> str | None:
    """Describe the first id outside 0..vocab_size-1, or None when there is none."""
    bad = (ids < 0) | (ids >= vocab_size)
    if not bool(bad.any()):
        return None
    where = tuple(int(i) for i in bad.nonzero()[0])  # index of the first bad id
    value = int(ids[where]) if where else int(ids)
    hint = " (negative ids do not count from the end here)" if value < 0 else ""
    n_bad = int(bad.sum())
    return (
        f"token id {value}{hint} at index {where} is out of range for an embedding with vocabulary size "
        f"{vocab_size}: valid ids are 0 to {vocab_size - 1} ({n_bad} of {plural(ids.numel(), 'id')} "
        f"{'is' if n_bad == 1 else 'are'} out of range)"
    )


def embedding_lookup(embedding: nn.Embedding, token_ids: torch.Tensor | Sequence[int] | int) -> torch.Tensor:
    """`embedding(token_ids)` with clear errors for float, negative or too-large ids; shape token_ids.shape + (dim,)."""
    _check_embedding(embedding)
    vocab_size = embedding.num_embeddings
    ids = torch.as_tensor(token_ids)
    if ids.dtype == torch.bool or ids.is_floating_point() or ids.is_complex():
        example = f", e.g. {ids.flatten()[0].item()!r} at index 0" if ids.numel() else ""
        raise TypeError(
            f"token ids must be integers, got dtype {ids.dtype}{example}; the vocabulary has size {vocab_size} "
            f"(ids 0 to {vocab_size - 1})"
        )
    if ids.dtype not in (torch.int64, torch.int32):
        ids = ids.long()
    try:
        if ids.device.type != "cpu":  # accelerators fail with a device-side assert, which cannot be caught
            message = out_of_range_message(ids, vocab_size)
            if message:
                raise IndexError(message)
        return embedding(ids)
    except IndexError as err:
        message = out_of_range_message(ids, vocab_size)
        if message is None:
            raise
        raise IndexError(message) from err


def embedding_as_linear(embedding: nn.Embedding) -> nn.Linear:
    """A bias-free `nn.Linear(vocab_size, dim)` with a copy of the table: `linear(one_hot(ids)) == embedding(ids)`."""
    _check_embedding(embedding)
    linear = nn.Linear(embedding.num_embeddings, embedding.embedding_dim, bias=False)
    with torch.no_grad():
        linear.weight.copy_(embedding.weight.T)  # Linear stores (out_features, in_features) = (dim, vocab_size)
    return linear


def sinusoidal_encoding(
    num_positions: int, dim: int, base: float = 10000.0, dtype: torch.dtype = torch.float32
) -> torch.Tensor:
    """The original transformer's fixed position encoding, shape (num_positions, dim).

    Column 2i holds sin(p / base**(2i/dim)) and column 2i+1 holds cos(p / base**(2i/dim)) for position p.
    """
    num_positions = check_int(num_positions, "num_positions")
    dim = check_int(dim, "dim")
    if not base > 1:
        raise ValueError(f"base must be a number > 1, got {base!r}")
    positions = torch.arange(num_positions, dtype=torch.float64).unsqueeze(1)  # (num_positions, 1)
    frequencies = base ** (-torch.arange(0, dim, 2, dtype=torch.float64) / dim)  # (ceil(dim / 2),)
    angles = positions * frequencies  # (num_positions, ceil(dim / 2))
    encoding = torch.empty(num_positions, dim, dtype=torch.float64)
    encoding[:, 0::2] = torch.sin(angles)
    encoding[:, 1::2] = torch.cos(angles[:, : dim // 2])
    return encoding.to(dtype)


def cosine_similarity_matrix(vectors: torch.Tensor) -> torch.Tensor:
    """Cosine similarity of every row with every row: (n, dim) -> (n, n)."""
    if vectors.ndim != 2:
        raise ValueError(f"vectors must be a 2-D (n, dim) tensor, got shape {tuple(vectors.shape)}")
    unit = F.normalize(vectors.detach().float(), dim=1)  # (n, dim), rows of length 1
    return unit @ unit.T


def pca_2d(vectors: torch.Tensor) -> torch.Tensor:
    """Coordinates of the rows on their first two principal axes, (n, dim) -> (n, 2), via an exact SVD."""
    if vectors.ndim != 2 or vectors.shape[0] < 2 or vectors.shape[1] < 2:
        raise ValueError(f"vectors must be a 2-D (n, dim) tensor with n >= 2 and dim >= 2, got {tuple(vectors.shape)}")
    centered = vectors.detach().double() - vectors.detach().double().mean(dim=0)  # (n, dim)
    _, _, vh = torch.linalg.svd(centered, full_matrices=False)  # rows of vh: principal axes
    axes = vh[:2]  # (2, dim)
    signs = torch.sign(axes.gather(1, axes.abs().argmax(dim=1, keepdim=True)))  # make each axis' largest entry > 0
    return (centered @ (axes * signs).T).float()  # (n, 2)
