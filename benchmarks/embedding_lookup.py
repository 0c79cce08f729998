"""Time an embedding lookup three ways in one run: PyTorch's nn.Embedding (the reference), the checked
helpers.embeddings.embedding_lookup, and the one-hot product it equals (notebooks/04_embeddings.ipynb, section 2).

Usage: python benchmarks/embedding_lookup.py [--threads 1] [--repeats 7]
Prints the best-of-N time per call of each and its ratio to nn.Embedding, for GPT-2's vocabulary of 50,257 ids.
"""

from __future__ import annotations

import argparse
import timeit

import torch
import torch.nn.functional as F
from torch import nn

from helpers.embeddings import embedding_as_linear, embedding_lookup


def best_seconds(fn, number: int, repeats: int) -> float:
    """Best of `repeats` runs of `number` calls, per call."""
    return min(timeit.repeat(fn, number=number, repeat=repeats)) / number


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    vocab_size, emb_dim = 50257, 256
    torch.manual_seed(123)
    embedding = nn.Embedding(vocab_size, emb_dim)
    linear = embedding_as_linear(embedding)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), best of {args.repeats}; "
          f"vocab {vocab_size}, emb_dim {emb_dim}")
    print("| ids (batch x tokens) | nn.Embedding | embedding_lookup | one-hot @ weight |")
    print("|---|---|---|---|")
    with torch.no_grad():
        for shape in [(8, 4), (8, 32)]:
            ids = torch.randint(0, vocab_size, shape)
            reference = best_seconds(lambda ids=ids: embedding(ids), 200, args.repeats)
            checked = best_seconds(lambda ids=ids: embedding_lookup(embedding, ids), 200, args.repeats)
            onehot = best_seconds(lambda ids=ids: linear(F.one_hot(ids, vocab_size).float()), 2, 3)
            print(f"| {shape[0]} x {shape[1]} | {reference * 1e6:.1f} µs (1.00) | {checked * 1e6:.1f} µs "
                  f"({checked / reference:.2f}) | {onehot * 1e3:.1f} ms ({onehot / reference:,.0f}) |")


if __name__ == "__main__":
    main()
