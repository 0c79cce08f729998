"""Training throughput: our GPTModel vs Hugging Face's GPT2LMHeadModel, same weights, batch and optimizer.

    python benchmarks/bench_train.py                 # tiny and 124M configs, context 256, 2 threads
    python benchmarks/bench_train.py --quick         # tiny config only

Each training step is forward + cross-entropy + backward + AdamW step, float32 on the CPU. Both models
run side by side in one process, alternating, best of several repeats. Also reports the achieved GFLOP/s
(6 x matmul parameters x tokens/s, plus 12 x layers x context x emb_dim per token for attention) against
a float32 matrix multiplication measured in the same run.
"""

from __future__ import annotations

import argparse
import platform
import time

import torch
import torch.nn.functional as F

from helpers.gpt import GPT_CONFIG_124M, TINY_CONFIG, GPTModel
from helpers.gpt2_weights import hf_from_gpt


def step_ours(model, optimizer, x, y):
    optimizer.zero_grad()
    logits = model(x)
    F.cross_entropy(logits.flatten(0, 1), y.flatten()).backward()
    optimizer.step()


def step_hf(model, optimizer, x, y):
    optimizer.zero_grad()
    logits = model(input_ids=x).logits
    F.cross_entropy(logits.flatten(0, 1), y.flatten()).backward()
    optimizer.step()


def matmul_gflops(n: int = 2048, repeats: int = 5) -> float:
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    best = min(_timed(lambda: a @ b) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def bench(name: str, cfg: dict, batch: int, steps: int, repeats: int, matmul: float) -> None:
    torch.manual_seed(123)
    ours = GPTModel(cfg)
    theirs = hf_from_gpt(ours)  # the same weights, converted (untied output head, as in ours)
    x = torch.randint(0, cfg["vocab_size"], (batch, cfg["context_length"]))
    y = torch.randint(0, cfg["vocab_size"], (batch, cfg["context_length"]))
    runs = {
        "ours (GPTModel)": (ours, torch.optim.AdamW(ours.parameters(), lr=4e-4, weight_decay=0.1), step_ours),
        "transformers GPT2LMHeadModel": (theirs, torch.optim.AdamW(theirs.parameters(), lr=4e-4, weight_decay=0.1),
                                         step_hf),
    }
    best = {k: float("inf") for k in runs}
    for model, opt, step in runs.values():  # warm-up: allocate optimizer state, pick kernels
        model.train()
        step(model, opt, x, y)
    for _ in range(repeats):
        for key, (model, opt, step) in runs.items():
            def run(model=model, opt=opt, step=step) -> None:
                for _ in range(steps):
                    step(model, opt, x, y)

            best[key] = min(best[key], _timed(run) / steps)
    tokens = batch * cfg["context_length"]
    lookup = cfg["vocab_size"] * cfg["emb_dim"] + cfg["context_length"] * cfg["emb_dim"]
    matmul_params = sum(p.numel() for p in ours.parameters()) - lookup
    flops_per_token = 6 * matmul_params + 12 * cfg["n_layers"] * cfg["context_length"] * cfg["emb_dim"]
    print(f"\n### {name}: batch {batch} x context {cfg['context_length']}, "
          f"{sum(p.numel() for p in ours.parameters()) / 1e6:.1f} M parameters (ours), qkv_bias={cfg['qkv_bias']}")
    print("| model | s/step | tokens/s | GFLOP/s | share of matmul peak | ours is faster by |")
    print("|---|---|---|---|---|---|")
    for key, seconds in best.items():
        tps = tokens / seconds
        gflops = flops_per_token * tps / 1e9
        print(f"| {key} | {seconds:.3f} | {tps:,.0f} | {gflops:.1f} | {gflops / matmul:.0%} | "
              f"{seconds / best['ours (GPTModel)']:.2f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="tiny config only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {platform.machine()}, {args.threads} threads, best of {args.repeats}")
    matmul = matmul_gflops()
    print(f"float32 matmul 2048x2048: {matmul:.1f} GFLOP/s")
    tiny = {**TINY_CONFIG, "context_length": 256, "qkv_bias": True}
    bench("tiny config", tiny, batch=8, steps=5, repeats=args.repeats, matmul=matmul)
    if not args.quick:
        big = {**GPT_CONFIG_124M, "context_length": 256, "qkv_bias": True}
        bench("GPT-2 124M", big, batch=2, steps=2, repeats=args.repeats, matmul=matmul)


if __name__ == "__main__":
    main()
