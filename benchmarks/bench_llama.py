"""Benchmark SmolLM2-135M-Instruct in the course's Llama against `transformers`: generation, loading, peak memory.

What notebooks/08_llama.ipynb builds (helpers.llama, helpers.smollm2) against Hugging Face's LlamaForCausalLM loaded
by `transformers` from the same GGUF file, float32 on the CPU, in one run:
- generation with a KV cache: the chat prompt "What is the capital of France?" + 100 greedy tokens (the end-of-turn
  token switched off for both, so both write all 100), batch 1, a fixed number of threads, best of --repeats; ours is
  `helpers.generate.generate(use_cache=True)` with the default weight layout and with the opt-in
  `store_linear_weights_transposed()`, theirs `LlamaForCausalLM.generate`; all must give the same tokens;
- loading, from the GGUF file to a model ready to generate: `helpers.smollm2.load_smollm2(path)` against
  `AutoModelForCausalLM.from_pretrained(folder, gguf_file=...)`, each in a fresh Python process (so neither finds
  the other's imports or caches), with the peak memory of that process over what it held after its imports
  (ru_maxrss, Linux).

Run from the course folder:  python benchmarks/bench_llama.py --threads 1 --repeats 3
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import subprocess
import sys

import torch
import transformers
from bench_gpt import cpu_name, measure  # the same timing and memory measurements as the GPT-2 benchmark

from helpers.datafiles import fetch
from helpers.generate import generate
from helpers.smollm2 import SMOLLM2_FILE, chat_token_ids, load_smollm2, smollm2_tokenizer

# Each loader runs in its own process: the time from the GGUF file to a ready model, and the peak memory added.
LOADER = r"""
import json, resource, sys, time
import torch
torch.set_num_threads(int(sys.argv[3]))
kind, path = sys.argv[1], sys.argv[2]
if kind == "ours":
    from helpers.smollm2 import load_smollm2
    load = lambda: load_smollm2(path)
else:
    from pathlib import Path
    from transformers import AutoModelForCausalLM
    from transformers.utils import logging
    logging.disable_progress_bar()
    load = lambda: AutoModelForCausalLM.from_pretrained(str(Path(path).parent), gguf_file=Path(path).name).eval()
before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
model = load()
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"seconds": seconds, "peak_mib": (peak - before) / 1024, "total_mib": peak / 1024}))
"""


def load_in_fresh_process(kind: str, path: str, threads: int) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-c", LOADER, kind, path, str(threads)], capture_output=True, text=True,
                          check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    parser.add_argument("--repeats", type=int, default=3, help="timed repeats of each generation (best of)")
    parser.add_argument("--new-tokens", type=int, default=100, help="tokens to generate (default 100)")
    parser.add_argument("--skip-loading", action="store_true", help="measure generation only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    path = str(fetch(SMOLLM2_FILE))
    n = args.new_tokens

    print(f"machine: {cpu_name()}, {torch.get_num_threads()} torch thread(s); torch {torch.__version__}, "
          f"transformers {transformers.__version__}, Python {platform.python_version()}")
    if not args.skip_loading:
        loads = {"ours, `load_smollm2`": load_in_fresh_process("ours", path, args.threads),
                 "`transformers`, `from_pretrained(gguf_file=...)`": load_in_fresh_process("hf", path, args.threads)}
        print("\n| loading the GGUF file (98 MB) | seconds | peak memory (MiB over start) |")
        print("|---|---:|---:|")
        for name, result in loads.items():
            print(f"| {name} | {result['seconds']:.1f} | {result['peak_mib']:.0f} |")

    from transformers import AutoModelForCausalLM
    from transformers.utils import logging

    logging.disable_progress_bar()
    model = load_smollm2(path)
    transposed = copy.deepcopy(model).store_linear_weights_transposed()  # the opt-in layout, same weights
    gguf = fetch(SMOLLM2_FILE)
    hf_model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name).eval()
    hf_model.generation_config.eos_token_id = None  # always the full number of tokens
    hf_model.generation_config.pad_token_id = 2
    ids = chat_token_ids(smollm2_tokenizer(), [{"role": "user", "content": "What is the capital of France?"}])
    prompt = torch.tensor([ids])  # (1, 37)

    def ours(tokens: int = n) -> torch.Tensor:
        return generate(model, prompt, tokens, model.cfg["context_length"], use_cache=True)

    def ours_transposed(tokens: int = n) -> torch.Tensor:
        return generate(transposed, prompt, tokens, model.cfg["context_length"], use_cache=True)

    def theirs(tokens: int = n) -> torch.Tensor:
        with torch.no_grad():
            return hf_model.generate(prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=tokens,
                                     do_sample=False)

    ours(5), ours_transposed(5), theirs(5)  # warm-up
    runs: dict[str, tuple[float, float | None, torch.Tensor]] = {}
    for _ in range(args.repeats):  # taking turns, so that all see the same machine load
        for name, fn in [("ours, `generate(use_cache=True)`, default layout", ours),
                         ("ours, `store_linear_weights_transposed()`", ours_transposed),
                         ("`transformers` `generate`", theirs)]:
            seconds, peak, result = measure(fn, 1)
            best = runs.get(name)
            if best is None or seconds < best[0]:
                runs[name] = (seconds, max(peak or 0.0, best[1] or 0.0) if best else peak, result)
    (ours_s, _, ours_out), (transposed_s, _, transposed_out), (theirs_s, _, theirs_out) = runs.values()
    print(f"\nSmolLM2-135M-Instruct (134,515,008 parameters, float32), batch 1, a {prompt.shape[1]}-token chat prompt, "
          f"{n} new tokens, best of {args.repeats}\n")
    print(f"| generation, {n} new tokens | tokens/s | peak memory (MiB over start) |")
    print("|---|---:|---:|")
    for name, (seconds, peak, _) in runs.items():
        print(f"| {name} | {n / seconds:.1f} | {f'{peak:.0f}' if peak is not None else 'n/a'} |")
    print(f"\nours / transformers: default layout {theirs_s / ours_s:.2f}x, transposed layout "
          f"{theirs_s / transposed_s:.2f}x (speed ratios, > 1 = ours faster)")
    same = torch.equal(ours_out, theirs_out) and torch.equal(transposed_out, theirs_out)
    print(f"all produce the same {n} tokens: {'yes' if same else 'NO'}")


if __name__ == "__main__":
    main()
