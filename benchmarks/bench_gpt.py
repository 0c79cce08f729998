"""Benchmark GPT-2 small: generation with and without the KV cache, and the forward pass, ours vs `transformers`.

What notebooks/06_gpt_model.ipynb builds (helpers.gpt) against Hugging Face's GPT2LMHeadModel holding the same
random weights (seed 123, float32, CPU, a fixed number of threads), all in one run, best of --repeats:
- generation: "Hello, I am" + 200 greedy tokens, batch 1: `generate_text_simple` (recomputes everything each
  step), our `generate(use_cache=True)` with the default weight layout (as `nn.Linear` stores it) and with the
  opt-in `store_linear_weights_transposed()` layout, and `transformers`' `generate` (its own KV cache); all
  must produce the same tokens;
- forward pass of a 1 x 1024 sequence: tokens per second (both layouts);
- peak memory of each generation: the highest resident set size during the call minus the one before it
  (Linux: /proc/self/status VmHWM, reset through /proc/self/clear_refs).

Run from the course folder:  python benchmarks/bench_gpt.py --threads 1 --repeats 3
"""

from __future__ import annotations

import argparse
import copy
import ctypes
import platform
import re
import time
from collections.abc import Callable
from pathlib import Path

import torch
import transformers

from helpers.generate import generate, generate_text_simple
from helpers.gpt import GPT_CONFIG_124M, GPTModel
from helpers.gpt2_tokenizer import gpt2_encoding
from helpers.gpt2_weights import hf_from_gpt


def rss_kib(field: str) -> int | None:
    """VmRSS or VmHWM of this process in KiB, or None where /proc is not available."""
    try:
        status = Path("/proc/self/status").read_text()
    except OSError:
        return None
    match = re.search(rf"{field}:\s+(\d+) kB", status)
    return int(match.group(1)) if match else None


def reset_peak() -> bool:
    """Return freed heap memory to the system and reset the peak RSS; False where Linux's interface is missing."""
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def measure(fn: Callable[[], object], repeats: int) -> tuple[float, float | None, object]:
    """Best wall time (s) over `repeats` calls, the largest peak RSS increase (MiB) seen, and the last result."""
    best, peak, result = float("inf"), None, None
    for _ in range(repeats):
        can_reset = reset_peak()
        before = rss_kib("VmRSS")
        start = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - start)
        after = rss_kib("VmHWM")
        if can_reset and before is not None and after is not None:
            peak = max(peak or 0.0, (after - before) / 1024)
    return best, peak, result


def cpu_name() -> str:
    """The CPU's model name (Linux), else what `platform` knows."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


CACHED = "ours, `generate(use_cache=True)`, default layout"
TRANSPOSED = "ours, `generate(use_cache=True)`, `store_linear_weights_transposed()`"
HF = "`transformers` `generate` (its KV cache)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats of the fast measurements (best of)")
    parser.add_argument("--slow-repeats", type=int, default=2, help="timed repeats of generate_text_simple")
    parser.add_argument("--new-tokens", type=int, default=200, help="tokens to generate (default 200)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)

    torch.manual_seed(123)
    model = GPTModel(GPT_CONFIG_124M).eval()
    transposed = copy.deepcopy(model).store_linear_weights_transposed()  # the opt-in layout, same weights
    hf_model = hf_from_gpt(model).eval()
    hf_model.generation_config.eos_token_id = None  # always generate the full number of tokens
    hf_model.generation_config.pad_token_id = 50256
    prompt = torch.tensor([gpt2_encoding().encode("Hello, I am")])  # (1, 4)
    context_size = GPT_CONFIG_124M["context_length"]
    n = args.new_tokens

    def ours_simple(tokens: int = n) -> torch.Tensor:
        return generate_text_simple(model, prompt, tokens, context_size)

    def ours_cached(tokens: int = n) -> torch.Tensor:
        return generate(model, prompt, tokens, context_size, use_cache=True)

    def ours_transposed(tokens: int = n) -> torch.Tensor:
        return generate(transposed, prompt, tokens, context_size, use_cache=True)

    def theirs(tokens: int = n) -> torch.Tensor:
        with torch.no_grad():
            return hf_model.generate(
                prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=tokens, do_sample=False
            )

    for fn in (ours_simple, ours_cached, ours_transposed, theirs):  # warm-up
        fn(5)

    print(f"machine: {cpu_name()}, {torch.get_num_threads()} torch thread(s); torch {torch.__version__}, "
          f"transformers {transformers.__version__}, Python {platform.python_version()}")
    print(f"GPT-2 small (163,009,536 parameters, random weights, float32), batch 1, prompt 'Hello, I am', "
          f"{n} new tokens, best of {args.repeats} ({args.slow_repeats} without cache)\n", flush=True)

    runs = {"`generate_text_simple` (no cache)": measure(ours_simple, args.slow_repeats)}
    for _ in range(args.repeats):  # the three cached generators take turns, so that they see the same machine load
        for name, fn in [(CACHED, ours_cached), (TRANSPOSED, ours_transposed), (HF, theirs)]:
            seconds, peak, result = measure(fn, 1)
            best = runs.get(name)
            if best is None or seconds < best[0]:
                runs[name] = (seconds, max(peak or 0.0, best[1] or 0.0) if best else peak, result)
    outputs = [result for _, _, result in runs.values()]
    same = all(torch.equal(outputs[0], other) for other in outputs[1:])

    with torch.no_grad():
        x = torch.randint(0, GPT_CONFIG_124M["vocab_size"], (1, context_size))
        model(x), transposed(x), hf_model(x)  # warm-up
        fwd_ours, _, _ = measure(lambda: model(x), args.repeats)
        fwd_transposed, _, _ = measure(lambda: transposed(x), args.repeats)
        fwd_theirs, _, _ = measure(lambda: hf_model(x), args.repeats)

    base = runs["`generate_text_simple` (no cache)"][0]
    print(f"| generation, {n} new tokens | tokens/s | vs no cache | peak memory (MiB over start) |")
    print("|---|---:|---:|---:|")
    for name, (seconds, peak, _) in runs.items():
        peak_text = f"{peak:.0f}" if peak is not None else "n/a"
        print(f"| {name} | {n / seconds:.1f} | {base / seconds:.2f}x | {peak_text} |")
    hf_gen = runs[HF][0]
    print(f"\nours with cache / transformers generate: default layout {hf_gen / runs[CACHED][0]:.2f}x, "
          f"transposed layout {hf_gen / runs[TRANSPOSED][0]:.2f}x (speed ratios, > 1 = ours faster)")
    print(f"all produce the same {n} tokens: {'yes' if same else 'NO'}\n")
    print("| forward pass, 1 x 1024 tokens | tokens/s | ours / transformers |")
    print("|---|---:|---:|")
    print(f"| ours, `GPTModel` (default layout) | {context_size / fwd_ours:.0f} | {fwd_theirs / fwd_ours:.2f}x |")
    print(f"| ours, `store_linear_weights_transposed()` | {context_size / fwd_transposed:.0f} | "
          f"{fwd_theirs / fwd_transposed:.2f}x |")
    print(f"| `transformers` `GPT2LMHeadModel` | {context_size / fwd_theirs:.0f} | 1.00x |")


if __name__ == "__main__":
    main()
