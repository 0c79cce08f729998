"""Multi-head causal attention on CPU: the book's explicit formulation, the stacked-heads wrapper, ours, PyTorch's.

Times the forward pass and forward + backward of four attention layers side by side in one run (best of
`--repeats`, the variants taking turns so that a busy machine slows them alike, a fixed thread count), and
measures the extra peak memory of one pass of each in a fresh subprocess: after a warm-up pass, the peak
resident set size during a second pass minus the resident size just before it, when the model, its input
and the output gradient are already in memory (Linux: the peak `VmHWM` is reset through
/proc/self/clear_refs and read with `VmRSS` from /proc/self/status).

    python benchmarks/bench_attention.py                       # batch 8 x 1024 tokens x 768 dims, 12 heads
    python benchmarks/bench_attention.py --batch 2 --repeats 3 --no-memory   # quicker

Times are the process's CPU time by default (`--clock cpu`, `time.process_time`): with one thread that is
the work done, and time the CPU spends on other processes of a shared machine is not counted (they still
share caches and memory bandwidth). `--clock wall` measures elapsed time. Ratios are "time of this
variant / time of ours": above 1 means ours is faster.
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

from helpers.attention import CausalAttention, MultiHeadAttention

ROOT = Path(__file__).resolve().parent.parent
VARIANTS = ["explicit", "wrapper", "ours", "torch"]
DESCRIPTIONS = {
    "explicit": "book-style `MultiHeadAttention`: softmax(QK^T/sqrt(d)) materialized, masked_fill, dropout",
    "wrapper": "`MultiHeadAttentionWrapper`: 12 `CausalAttention` heads of 64 dims, concatenated",
    "ours": "`helpers.attention.MultiHeadAttention` (`scaled_dot_product_attention`, is_causal)",
    "torch": "`torch.nn.MultiheadAttention(need_weights=False)`, causal mask",
}


class ExplicitMultiHeadAttention(MultiHeadAttention):
    """The book's MultiHeadAttention forward pass: the full (tokens x tokens) weight matrix of every head."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, num_tokens, _ = x.shape
        shape = (batch, num_tokens, self.num_heads, self.head_dim)
        queries = self.W_query(x).view(shape).transpose(1, 2)  # (batch, num_heads, num_tokens, head_dim)
        keys = self.W_key(x).view(shape).transpose(1, 2)
        values = self.W_value(x).view(shape).transpose(1, 2)
        attn_scores = queries @ keys.transpose(2, 3)  # (batch, num_heads, num_tokens, num_tokens)
        attn_scores.masked_fill_(self.mask[:num_tokens, :num_tokens], -torch.inf)
        attn_weights = self.dropout(torch.softmax(attn_scores / keys.shape[-1] ** 0.5, dim=-1))
        context = (attn_weights @ values).transpose(1, 2).contiguous().view(batch, num_tokens, self.d_out)
        return self.out_proj(context)


class MultiHeadAttentionWrapper(nn.Module):
    """The book's first multi-head layer: independent `CausalAttention` heads, outputs concatenated."""

    def __init__(self, d_in: int, d_out: int, context_length: int, dropout: float, num_heads: int) -> None:
        super().__init__()
        self.heads = nn.ModuleList(CausalAttention(d_in, d_out, context_length, dropout) for _ in range(num_heads))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat([head(x) for head in self.heads], dim=-1)


class TorchCausalAttention(nn.Module):
    """`torch.nn.MultiheadAttention` as causal self-attention, without returning the weights."""

    def __init__(self, dim: int, context_length: int, num_heads: int) -> None:
        super().__init__()
        self.attn = nn.MultiheadAttention(dim, num_heads, dropout=0.0, batch_first=True)
        self.register_buffer("mask", torch.ones(context_length, context_length).triu(1).bool(), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[1]
        out, _ = self.attn(x, x, x, attn_mask=self.mask[:n, :n], need_weights=False, is_causal=True)
        return out


def build(variant: str, dim: int, tokens: int, heads: int) -> nn.Module:
    """One attention layer of the given variant, dim -> dim, dropout 0."""
    torch.manual_seed(123)
    if variant == "explicit":
        return ExplicitMultiHeadAttention(dim, dim, tokens, 0.0, heads)
    if variant == "wrapper":
        return MultiHeadAttentionWrapper(dim, dim // heads, tokens, 0.0, heads)
    if variant == "ours":
        return MultiHeadAttention(dim, dim, tokens, 0.0, heads)
    if variant == "torch":
        return TorchCausalAttention(dim, tokens, heads)
    raise ValueError(f"unknown variant {variant!r}; choose from {VARIANTS}")


def make_steps(variant: str, args: argparse.Namespace) -> tuple[Callable[[], None], Callable[[], None]]:
    """(forward, forward + backward) closures for one variant on a seeded input."""
    model = build(variant, args.dim, args.tokens, args.heads)
    torch.manual_seed(0)
    x = torch.randn(args.batch, args.tokens, args.dim)
    x_grad = x.clone().requires_grad_(True)
    grad_out = torch.randn(args.batch, args.tokens, args.dim)

    def forward() -> None:
        model.eval()
        with torch.no_grad():
            model(x)

    def forward_backward() -> None:
        model.train()
        model.zero_grad(set_to_none=True)
        x_grad.grad = None
        model(x_grad).backward(grad_out)

    return forward, forward_backward


def status_kib(field: str) -> int:
    """A memory figure (KiB) of this process from Linux's /proc/self/status, e.g. VmRSS or VmHWM."""
    text = Path("/proc/self/status").read_text()
    return int(re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE).group(1))


def peak_growth_mib(step: Callable[[], None]) -> float:
    """How far a (second) call of `step` lifts the resident set size above what it was before (MiB, Linux)."""
    step()  # warm-up: one-time allocations are not the pass's own
    gc.collect()
    Path("/proc/self/clear_refs").write_text("5")  # resets the peak (VmHWM) to the current size
    before = status_kib("VmRSS")
    step()
    return (status_kib("VmHWM") - before) / 1024


def peak_memory_mib(variant: str, mode: str, args: argparse.Namespace) -> float:
    """`peak_growth_mib` of one pass (mode "forward" or "forward_backward"), in a fresh Python process."""
    code = (
        "import json, sys, torch\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "import benchmarks.bench_attention as b\n"
        "a = b.parse_args(json.loads(sys.argv[1]))\n"
        "torch.set_num_threads(a.threads)\n"
        f"steps = dict(zip(['forward', 'forward_backward'], b.make_steps({variant!r}, a)))\n"
        f"print(b.peak_growth_mib(steps[{mode!r}]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, json.dumps(args.raw)], capture_output=True, text=True)
    if out.returncode:
        raise RuntimeError(f"memory measurement of {variant} {mode} failed:\n{out.stderr[-2000:]}")
    return float(out.stdout.split()[-1])


CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}


def best_times(steps: dict[str, Callable[[], None]], repeats: int, clock: str) -> dict[str, float]:
    """Best time of each step over `repeats` rounds; the steps take turns within a round."""
    now = CLOCKS[clock]
    for step in steps.values():  # warm-up
        step()
    best = dict.fromkeys(steps, float("inf"))
    for _ in range(repeats):
        for name, step in steps.items():
            gc.collect()
            start = now()
            step()
            best[name] = min(best[name], now() - start)
    return best


def check_same_outputs(args: argparse.Namespace) -> None:
    """Ours and the explicit formulation agree on this input size (same weights)."""
    ours = build("ours", args.dim, args.tokens, args.heads).eval()
    explicit = build("explicit", args.dim, args.tokens, args.heads).eval()
    explicit.load_state_dict(ours.state_dict())
    torch.manual_seed(0)
    x = torch.randn(1, args.tokens, args.dim)
    with torch.no_grad():
        torch.testing.assert_close(ours(x), explicit(x), atol=1e-5, rtol=1e-5)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; `raw` keeps them for the memory subprocesses."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--batch", type=int, default=8)
    p.add_argument("--tokens", type=int, default=1024)
    p.add_argument("--dim", type=int, default=768)
    p.add_argument("--heads", type=int, default=12)
    p.add_argument("--repeats", type=int, default=5, help="best of this many rounds")
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    p.add_argument("--clock", choices=list(CLOCKS), default="cpu",
                   help="cpu: the process's CPU time (what other processes on a shared machine take is not counted); "
                   "wall: elapsed time")
    p.add_argument("--variants", nargs="+", default=VARIANTS, choices=VARIANTS)
    p.add_argument("--no-memory", action="store_true", help="skip the peak-memory subprocesses")
    args = p.parse_args(argv)
    args.raw = list(sys.argv[1:] if argv is None else argv)
    return args


def main() -> None:
    """Run the benchmark and print a Markdown table."""
    args = parse_args()
    torch.set_num_threads(args.threads)
    check_same_outputs(args)
    steps = {v: make_steps(v, args) for v in args.variants}
    forward = best_times({v: s[0] for v, s in steps.items()}, args.repeats, args.clock)
    backward = best_times({v: s[1] for v, s in steps.items()}, args.repeats, args.clock)
    del steps
    memory = {}
    if not args.no_memory and not Path("/proc/self/clear_refs").exists():
        print("peak memory is measured on Linux only (/proc/self/clear_refs); skipped\n")
    elif not args.no_memory:
        memory = {(v, m): peak_memory_mib(v, m, args) for v in args.variants for m in ("forward", "forward_backward")}

    print(f"batch {args.batch} x {args.tokens} tokens x {args.dim} dims, {args.heads} heads, causal, float32; "
          f"torch {torch.__version__}, {args.threads} thread(s), best of {args.repeats} ({args.clock} time); "
          f"{platform.machine()} {platform.processor() or ''}".rstrip())
    ref_f, ref_b = forward.get("ours"), backward.get("ours")
    print("\n| variant | forward (s) | / ours | forward+backward (s) | / ours | peak memory fwd / fwd+bwd (MiB) |")
    print("|---|---:|---:|---:|---:|---:|")
    for v in args.variants:
        rf = f"{forward[v] / ref_f:.2f}x" if ref_f else "-"
        rb = f"{backward[v] / ref_b:.2f}x" if ref_b else "-"
        mem = f"{memory[v, 'forward']:.0f} / {memory[v, 'forward_backward']:.0f}" if memory else "-"
        print(f"| {v} | {forward[v]:.3f} | {rf} | {backward[v]:.3f} | {rb} | {mem} |")
    print()
    for v in args.variants:
        print(f"- {v}: {DESCRIPTIONS[v]}")


if __name__ == "__main__":
    main()
