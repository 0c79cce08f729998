"""The terminal's instruction fine-tuning: `python -m helpers.instruct_cli` runs the whole recipe of chapter 7.

The full run of notebooks/10_instruction_finetuning.ipynb: the notebook fine-tunes on a slice of the training part
and scores a few test answers, to stay within its minutes; this program trains on every training entry (by default
for 2 epochs), answers all 110 test entries, writes them as the book's JSON file, and scores them: the loss on the
answers' tokens before and after, ROUGE-L against the reference answers, and a judge (Llama 3 through Ollama when a
server answers on localhost, else the offline SmolLM2 judge, labelled so). `--book` is the book's recipe with OpenAI's
GPT-2 medium (needs the weights: downloaded once, or a local folder). A progress bar shows each stage.
"""

from __future__ import annotations

import argparse
import json
import resource
import sys
import time
from pathlib import Path
from typing import Any

import torch

from helpers import instruct_model
from helpers.datafiles import data_dir
from helpers.evaluate_responses import (
    generate_model_scores,
    local_judge,
    ollama_running,
    pairwise_agreement,
    query_model,
    rouge_l,
)
from helpers.instruct import (
    InstructionSplits,
    create_instruction_loaders,
    load_instruction_data,
    split_instruction_data,
)

__all__ = ["main"]

_EXAMPLES = """examples:
  python -m helpers.instruct_cli                          (SmolLM2 with LoRA, every training entry, 2 epochs)
  python -m helpers.instruct_cli --train-entries 48 --epochs 1 --test-entries 10   (the notebook's run)
  python -m helpers.instruct_cli --book                   (the book's: GPT-2 medium, every weight trained)
"""


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m helpers.instruct_cli", description=__doc__.split("\n\n")[0],
        epilog=_EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--book", action="store_true", help="the book's path: OpenAI's GPT-2 medium and its recipe")
    parser.add_argument("--model", default="gpt2-medium", help="with --book: a Hub name, a folder or a safetensors "
                        "file of GPT-2 weights (default: gpt2-medium)")
    parser.add_argument("--train-entries", type=int, help="train on the first N training entries (default: all 935)")
    parser.add_argument("--test-entries", type=int, help="answer and score the first N test entries (default: all)")
    parser.add_argument("--epochs", type=int, help="epochs (default: the recipe's, 2)")
    parser.add_argument("--lr", type=float, help="learning rate (default: the recipe's)")
    parser.add_argument("--judge", choices=("auto", "ollama", "local", "none"), default="auto",
                        help="who scores the answers: auto (Ollama if a server answers, else the offline judge), "
                             "ollama (Llama 3, the book's), local (SmolLM2-135M-Instruct) or none (default: auto)")
    parser.add_argument("--ollama-model", default="llama3", help="the Ollama model that judges (default: llama3)")
    parser.add_argument("--out", type=Path, help="folder for the answers and scores (default: "
                        "data/instruction-finetuning)")
    parser.add_argument("--seed", type=int, default=123, help="torch's seed (default: 123)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bars")
    return parser


def _settings(parser: argparse.ArgumentParser, args: argparse.Namespace) -> dict[str, Any]:
    settings = instruct_model.recipe(args.book, full=True)
    for key, value in (("train_entries", args.train_entries), ("num_epochs", args.epochs), ("lr", args.lr)):
        if value is not None:
            if value <= 0:
                parser.error(f"--{key.replace('_', '-').replace('num-', '')} must be > 0, got {value}")
            settings[key] = value
    if args.test_entries is not None and args.test_entries < 1:
        parser.error(f"--test-entries must be >= 1, got {args.test_entries}")
    return settings


def _judge(args: argparse.Namespace, say) -> tuple[Any, str] | None:
    """(query function, label) of the judge to use, or None."""
    if args.judge == "none":
        return None
    if args.judge in ("auto", "ollama") and ollama_running():
        return (lambda prompt: query_model(prompt, model=args.ollama_model)), f"{args.ollama_model} through Ollama"
    if args.judge == "ollama":
        say("no Ollama server answers on localhost:11434: start one (`ollama serve`, `ollama pull llama3`) or use "
            "--judge local")
        sys.exit(2)
    say("no Ollama server answers on localhost:11434: judging with the offline SmolLM2-135M-Instruct (a weak judge)")
    judge = instruct_model.load_instruction_model(False)
    return local_judge(judge.model, judge.tokenizer), "SmolLM2-135M-Instruct (offline, 135M parameters)"


def _run(args: argparse.Namespace, settings: dict[str, Any]) -> dict[str, Any]:
    say, progress = print, not args.no_progress
    splits = split_instruction_data(load_instruction_data())
    train = splits.train[: settings["train_entries"]] if settings["train_entries"] else splits.train
    test = splits.test[: args.test_entries] if args.test_entries else splits.test
    loaded = instruct_model.load_instruction_model(args.book, args.model)
    model, tokenizer, end = loaded.model, loaded.tokenizer, loaded.end_token_id
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model.to(device)
    say(f"{loaded.name}: fine-tuning on {len(train)} training entries for {settings['num_epochs']} epochs, "
        f"answering {len(test)} test entries, on {device} ({torch.get_num_threads()} threads)")
    loss_before = instruct_model.response_loss(model, test, tokenizer, end, device)
    if settings["lora_rank"]:
        torch.manual_seed(args.seed)
        trainable = instruct_model.add_lora(model, settings["lora_rank"], settings["lora_alpha"],
                                            settings["lora_blocks"])
        model.to(device)
        say(f"LoRA of rank {settings['lora_rank']}: {trainable:,} trainable parameters")
    train_loader, val_loader, _ = create_instruction_loaders(
        InstructionSplits(train, test, splits.validation), tokenizer, settings["batch_size"], end, device=device)
    torch.manual_seed(args.seed)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=settings["lr"],
                                  weight_decay=settings["weight_decay"])
    start = time.perf_counter()
    history = instruct_model.train_instruction_model(
        model, train_loader, val_loader, optimizer, device, settings["num_epochs"], settings["eval_freq"],
        settings["eval_iter"], splits.validation[0], tokenizer, end, progress=progress)
    train_seconds = time.perf_counter() - start
    answered = instruct_model.generate_responses(model, tokenizer, test, end, settings["max_new_tokens"], device,
                                                 progress=progress)
    out = args.out if args.out is not None else data_dir() / "instruction-finetuning"
    path = instruct_model.save_responses(answered, out / f"{loaded.name}-responses.json")
    results = {"model": loaded.name, "train_entries": len(train), "test_entries": len(test),
               "train_seconds": round(train_seconds, 1), "response_loss_before": loss_before,
               "response_loss_after": instruct_model.response_loss(model, test, tokenizer, end, device),
               "rouge_l": sum(rouge_l(e["output"], e["model_response"]).fmeasure for e in answered) / len(answered),
               "train_losses": history.train_losses, "val_losses": history.val_losses}
    say(f"answers saved to {path}")
    judge = _judge(args, say)
    if judge is not None:
        query, label = judge
        scores = generate_model_scores(answered, "model_response", query, progress=progress)
        parsed = [s for s in scores if s is not None]
        rouge = [rouge_l(e["output"], e["model_response"]).fmeasure for e, s in zip(answered, scores, strict=True)
                 if s is not None]
        results.update(judge=label, scores=scores, judged=len(parsed),
                       average_score=sum(parsed) / len(parsed) if parsed else None,
                       judge_rouge_agreement=pairwise_agreement(parsed, rouge) if len(parsed) > 1 else None)
    (out / f"{loaded.name}-scores.json").write_text(json.dumps(results, indent=1) + "\n")
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Command-line entry point; see `python -m helpers.instruct_cli --help`."""
    parser = _build_parser()
    args = parser.parse_args(argv)
    settings = _settings(parser, args)
    start = time.perf_counter()
    results = _run(args, settings)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / (1 << 20 if sys.platform == "darwin" else 1 << 10)
    print(f"response loss on the test answers: {results['response_loss_before']:.3f} before, "
          f"{results['response_loss_after']:.3f} after; ROUGE-L {results['rouge_l']:.3f}")
    if "judge" in results:
        print(f"judge {results['judge']}: {results['judged']} of {results['test_entries']} scored, average "
              f"{results['average_score']:.2f}")
    print(f"done in {seconds / 60:.1f} minutes (training {results['train_seconds'] / 60:.1f}); peak memory "
          f"{peak:,.0f} MiB")
    return results


if __name__ == "__main__":
    main()
