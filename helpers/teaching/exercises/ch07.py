"""Checks for the exercises of the book's chapter 7, fine-tuning to follow instructions, asked in
notebooks/10_instruction_finetuning.ipynb: 7.1 (the Phi-3 prompt template), 7.2 (leave the instruction out of the
loss), 7.3 (more training data: offline, a larger slice of the training part), 7.4 (LoRA, counting the trainable
parameters as the book does).
Worked answers: notebooks/solutions/ch07_solutions.ipynb. Imported only when one of these exercises is checked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from helpers import instruct
from helpers.gpt import GPT2_SIZES, GPT_CONFIG_124M, GPTModel
from helpers.gpt2_tokenizer import gpt2_encoding
from helpers.instruct import IGNORE_INDEX, InstructionDataset, custom_collate_fn, load_instruction_data
from helpers.instruct_model import response_loss
from helpers.lora import replace_linear_with_lora
from helpers.teaching.exercises.registry import Wrong, exercise
from helpers.teaching.exercises.tools import as_mapping, as_number, as_whole, call, describe, name_of, on_meta

# The book's entries for exercise 7.1 (data[50], with an input; data[999], without) and 7.2 (its solution's three).
_SPELLING = {"instruction": "Identify the correct spelling of the following word.", "input": "Ocassion",
             "output": "The correct spelling is 'Occasion.'"}
_ANTONYM = {"instruction": "What is an antonym of 'complicated'?", "input": "",
            "output": "An antonym of 'complicated' is 'simple'."}
MASKING_SAMPLES = [
    _ANTONYM,
    {"instruction": "Sort the following list in alphabetical order.", "input": "Zebra, Elephant, Crocodile",
     "output": "Crocodile, Elephant, Zebra"},
    {"instruction": "Arrange the given numbers in descending order.", "input": "5, 12, 8, 3, 15",
     "output": "15, 12, 8, 5, 3."},
]


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str):
        raise Wrong(f"{what} should return a str, got {describe(value)}")
    return value


@exercise("7.1", "10_instruction_finetuning", "the Phi-3 prompt template")
def _check_7_1(format_input: Any, format_response: Any) -> str:
    prompt_name, response_name = name_of(format_input), name_of(format_response)
    prompts = {}
    for entry, expected in ((_SPELLING, "<|user|>\nIdentify the correct spelling of the following word.\nOcassion"),
                            (_ANTONYM, "<|user|>\nWhat is an antonym of 'complicated'?")):
        got = _text(call(f"{prompt_name}(entry)", format_input, dict(entry)), prompt_name)
        if "Below is an instruction" in got or "### Instruction" in got:
            raise Wrong(f"{prompt_name} still writes the Alpaca template ({got[:40]!r}...): Phi-3's prompt is "
                        "<|user|>, a newline, the instruction")
        if not got.startswith("<|user|>\n"):
            raise Wrong(f"{prompt_name} should start with '<|user|>' and a newline, got {got[:30]!r}")
        if got != expected:
            why = ("an entry without an input should add nothing after the instruction" if not entry["input"] else
                   "the input goes on its own line after the instruction")
            raise Wrong(f"{prompt_name} gives {got!r} for {entry['instruction']!r}, not the Phi-3 prompt: {why}")
        prompts[entry["instruction"]] = got
    response = _text(call(f"{response_name}(entry)", format_response, dict(_SPELLING)), response_name)
    answers = ("\n<|assistant|>\nThe correct spelling is 'Occasion.'", "\n<|assistant|>:\nThe correct spelling is "
               "'Occasion.'")
    if "### Response" in response:
        raise Wrong(f"{response_name} still writes '### Response:': Phi-3 marks the answer with <|assistant|>")
    if response not in answers:
        raise Wrong(f"{response_name} gives {response!r}; it should be a newline, <|assistant|>, a newline and the "
                    "entry's output, to follow the prompt directly")
    tokenizer = gpt2_encoding()
    train = load_instruction_data()[:935]
    alpaca = sum(len(tokenizer.encode(instruct.format_input(e) + instruct.format_response(e))) for e in train)
    phi3 = sum(len(tokenizer.encode(call(prompt_name, format_input, dict(e)) + call(response_name, format_response,
                                                                                  dict(e)))) for e in train)
    colon = (" (the book's solution writes '<|assistant|>:' with a colon, as you did; its exercise text has none)"
             if response == answers[1] else "")
    return (f"Phi-3's template{colon}. Over the 935 training entries (GPT-2's tokenizer) an example takes "
            f"{phi3 / len(train):.1f} tokens instead of {alpaca / len(train):.1f} with the Alpaca template, "
            f"{1 - phi3 / alpaca:.0%} fewer: every training step and every answer costs less. The book's GPT-2 medium "
            "fine-tuned with it scored 48.87 (Alpaca: 50.32). To train with it, build InstructionDataset's texts with "
            "these two functions, and strip '<|assistant|>' from the answers instead of '### Response:'.")


def _reference_batch(tokenizer: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The masked (exercise 7.2) and the plain targets of the three samples, and their inputs."""
    masked = InstructionDataset(MASKING_SAMPLES, tokenizer, mask_instructions=True)
    inputs, targets = custom_collate_fn([masked[i] for i in range(len(masked))])
    _, plain = custom_collate_fn([masked.encoded_texts[i] for i in range(len(masked))])
    return inputs, targets, plain


@exercise("7.2", "10_instruction_finetuning", "leave the instruction out of the loss")
def _check_7_2(dataset_class: Any, collate_fn: Any) -> str:
    tokenizer = gpt2_encoding()
    dataset = call(f"{name_of(dataset_class)}(data, tokenizer)", dataset_class, MASKING_SAMPLES, tokenizer)
    items = [call(f"dataset[{i}]", dataset.__getitem__, i) for i in range(len(MASKING_SAMPLES))]
    if not all(isinstance(item, (tuple, list)) and len(item) == 2 and isinstance(item[0], int) for item in items):
        raise Wrong(f"each item of {name_of(dataset_class)} should be a pair (instruction length, token ids), as the "
                    f"book's solution returns; item 0 is {describe(items[0])}")
    inputs, targets, plain = _reference_batch(tokenizer)
    lengths = [len(tokenizer.encode(instruct.format_input(entry))) for entry in MASKING_SAMPLES]
    if [item[0] for item in items] != lengths:
        raise Wrong(f"the instruction lengths are {[item[0] for item in items]}, not the number of tokens of each "
                    f"entry's format_input(entry) ({lengths})")
    batch = call(f"{name_of(collate_fn)}(batch)", collate_fn, items)
    if not isinstance(batch, (tuple, list)) or len(batch) != 2 or not all(isinstance(t, torch.Tensor) for t in batch):
        raise Wrong(f"{name_of(collate_fn)} should return (inputs, targets), two tensors; got {describe(batch)}")
    got_inputs, got_targets = (t.cpu() for t in batch)
    if got_inputs.shape != inputs.shape or not torch.equal(got_inputs, inputs):
        raise Wrong("the inputs differ from section 7.3's: masking changes the targets only")
    if torch.equal(got_targets, plain):
        raise Wrong("the targets still hold the instruction's tokens: set the targets before the response to -100")
    if not torch.equal(got_targets, targets):
        kept, expected = (got_targets != IGNORE_INDEX).sum().item(), (targets != IGNORE_INDEX).sum().item()
        how = ("one too many per entry: the target at position i is the token at i + 1, so the first "
               "instruction_length - 1 targets are the instruction's" if kept == expected - len(items) else
               "mask the first instruction_length - 1 targets of each entry, and keep section 7.3's padding mask")
        raise Wrong(f"{kept} targets count in the loss, not {expected}: {how}")
    counted, total = (targets != IGNORE_INDEX).sum().item(), (plain != IGNORE_INDEX).sum().item()
    return (f"the loss now counts {counted} of the batch's {total} target tokens ({counted / total:.0%}): the "
            "response, its '### Response:' header and the end-of-text token. The book found slightly lower judged "
            "scores with it (47.73 against 50.32); the notebook's section 7.8 uses the same masking to measure the "
            "loss on the answers alone.")


def _lora_matrices(model: nn.Module) -> list[nn.Module]:
    """The LoRA layers inside `model`: the modules that hold two matrices A and B (the book's LoRALayer)."""
    return [m for m in model.modules() if isinstance(getattr(m, "A", None), torch.Tensor)
            and isinstance(getattr(m, "B", None), torch.Tensor)]


@exercise("7.3", "10_instruction_finetuning", "a larger slice of the training data")
def _check_7_3(train_data: Any, model: Any, test_loss: Any, train_part: Any, notebook_entries: int,
               test_entries: Any, tokenizer: Any, end_token_id: int, notebook_loss: float) -> str:
    if not isinstance(train_data, list) or not train_data or not all(isinstance(e, Mapping) for e in train_data):
        raise Wrong(f"`train_data` should be a list of entries (dicts), got {describe(train_data)}")
    held = [e for e in train_data if e in test_entries]
    if held:
        raise Wrong(f"`train_data` holds {len(held)} of the test entries: a model scored on what it learned says "
                    "nothing about new instructions; take more entries of the training part only")
    outside = [e for e in train_data if e not in train_part]
    if outside and notebook_entries < len(train_part):  # the book's path trains on all of it: more comes from outside
        raise Wrong(f"`train_data` holds entries that are not in the training part, such as {outside[0]!r:.70}: "
                    "slice train_data")
    if len(train_data) <= notebook_entries:
        raise Wrong(f"`train_data` has {len(train_data)} entries; the notebook trained on {notebook_entries}: take "
                    "more")
    if not isinstance(model, nn.Module):
        raise Wrong(f"`model` should be the fine-tuned model, got {describe(model)}")
    loras = _lora_matrices(model)
    if loras and all(not layer.B.detach().any() for layer in loras):
        raise Wrong("every LoRA matrix B of `model` is still zero: it was never trained (run the training loop)")
    given = as_number(test_loss, "`test_loss`")
    expected = call("response_loss(model, test_entries, ...)", response_loss, model, test_entries, tokenizer,
                    end_token_id, next(model.parameters()).device)
    if abs(given - expected) > 1e-3:
        raise Wrong(f"`test_loss` = {given:.4f}, but the response loss of `model` on the notebook's test entries is "
                    f"{expected:.4f}: compute it with response_loss after training")
    change = "lower" if expected < notebook_loss else "not lower"
    return (f"{len(train_data)} training entries ({len(train_data) / notebook_entries:.1f} times the notebook's "
            f"{notebook_entries}): the loss on the answers of the {len(test_entries)} test entries is {expected:.3f}, "
            f"{change} than the notebook's {notebook_loss:.3f}. More examples of the book's style, more steps: the "
            "book's exercise goes further, to the 52,000 entries of Stanford's Alpaca data set (its GPT-2 medium "
            "then scored 48.16, on harder test entries; 3 hours of training on a GPU).")


def _gpt2_medium_counts() -> dict[str, int]:
    """The book's three counts for GPT-2 medium: all trainable, all frozen, LoRA of rank 16 on every linear layer."""
    model = on_meta(lambda: GPTModel({**GPT_CONFIG_124M, **GPT2_SIZES["gpt2-medium (355M)"], "drop_rate": 0.0,
                                      "qkv_bias": True}))
    counts = {"before": sum(p.numel() for p in model.parameters() if p.requires_grad)}
    for param in model.parameters():
        param.requires_grad = False
    counts["after"] = 0
    with torch.device("meta"):
        replace_linear_with_lora(model, rank=16, alpha=16)
    counts["lora"] = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return counts


@exercise("7.4", "10_instruction_finetuning", "LoRA, counting the trainable parameters as the book does")
def _check_7_4(model: Any, counts: Any) -> str:
    if not isinstance(model, GPTModel) or model.cfg.get("emb_dim") != 1024 or model.cfg.get("n_layers") != 24:
        raise Wrong(f"`model` should be GPT-2 medium, a GPTModel of emb_dim 1024 and 24 layers (built on the meta "
                    f"device), got {describe(model)}")
    wrapped = {f"{name}.linear" for name, m in model.named_modules()
               if isinstance(getattr(m, "linear", None), nn.Linear) and hasattr(m, "lora")}
    plain = [name for name, m in model.named_modules() if isinstance(m, nn.Linear) and name not in wrapped]
    if plain:
        raise Wrong(f"`{plain[0]}` (and {len(plain) - 1} more) is a plain nn.Linear: wrap every linear layer, the "
                    "output head included, with replace_linear_with_lora")
    ranks = {layer.A.shape[1] for layer in _lora_matrices(model)}
    if ranks != {16}:
        raise Wrong(f"the LoRA matrices have rank {sorted(ranks)}; the book's exercise uses rank 16")
    trainable = [name for name, p in model.named_parameters() if p.requires_grad and not name.endswith((".A", ".B"))]
    if trainable:
        raise Wrong(f"`{trainable[0]}` is still trainable: freeze the model's own parameters before adding LoRA")
    book = _gpt2_medium_counts()
    given = {key: as_whole(value, f"counts[{key!r}]") for key, value in
             as_mapping(counts, "`counts`", list(book)).items()}
    wrong = [f"counts[{key!r}] = {given[key]:,}, expected {book[key]:,}" for key in book if given[key] != book[key]]
    if wrong:
        raise Wrong("; ".join(wrong) + ": count sum(p.numel() for p in model.parameters() if p.requires_grad) "
                    "before freezing, after freezing and after adding LoRA")
    total = book["before"] + book["lora"]
    return (f"the book's numbers: {book['before']:,} trainable before, {book['after']} after freezing, "
            f"{book['lora']:,} in the LoRA matrices, {book['lora'] / total:.1%} of the {total:,} parameters. The "
            "book's LoRA run took 1.30 minutes on its GPU against 1.80 for training every weight, and scored 50.23 "
            "(50.32 without LoRA). The offline path of this notebook trains LoRA matrices only, for the same reason.")
