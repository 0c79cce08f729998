"""Exercises 7.1-7.4 (notebook 10): each check passes the worked answer, names typical mistakes without giving the
answer away, and calls an unanswered starter "not answered yet". (tests/test_exercises.py checks, for every
exercise, that notebook 10 asks it unanswered and that ch07_solutions passes it.)"""

from __future__ import annotations

import copy
from functools import partial

import pytest
import torch
from torch import nn
from torch.utils.data import DataLoader, Dataset

from helpers.gpt import GPT2_SIZES, GPT_CONFIG_124M, GPTModel
from helpers.gpt2_weights import save_random_gpt2
from helpers.instruct import InstructionDataset, custom_collate_fn, format_input, load_instruction_data
from helpers.instruct_model import add_lora, load_instruction_model, response_loss
from helpers.lora import replace_linear_with_lora
from helpers.teaching.exercises import evaluate


def passes(number, *args, **kwargs) -> str:
    result = evaluate(number, *args, **kwargs)
    assert result.status == "passed", result.message
    return result.message


def wrong(number, *args, **kwargs) -> str:
    result = evaluate(number, *args, **kwargs)
    assert result.status == "wrong", (result.status, result.message)
    return result.message


def unanswered(number, *args, **kwargs) -> str:
    result = evaluate(number, *args, **kwargs)
    assert result.status == "unanswered", (result.status, result.message)
    return result.message


def stub(*args, **kwargs):
    raise NotImplementedError("your code here")


# --- 7.1 ----------------------------------------------------------------------------------------------------------


def phi3_input(entry):
    return f"<|user|>\n{entry['instruction']}" + (f"\n{entry['input']}" if entry["input"] else "")


def phi3_response(entry):
    return f"\n<|assistant|>\n{entry['output']}"


def test_7_1():
    message = passes("7.1", phi3_input, phi3_response)
    assert message.startswith("Phi-3's template. Over the 935 training entries (GPT-2's tokenizer) an example takes")
    assert "fewer: every training step" in message
    colon = passes("7.1", phi3_input, lambda e: f"\n<|assistant|>:\n{e['output']}")
    assert "the book's solution writes '<|assistant|>:' with a colon" in colon
    assert "still writes the Alpaca template" in wrong("7.1", format_input, phi3_response)
    assert "should start with '<|user|>' and a newline" in wrong("7.1", lambda e: phi3_input(e)[9:], phi3_response)
    assert "an entry without an input should add nothing" in wrong(
        "7.1", lambda e: f"<|user|>\n{e['instruction']}\n{e['input']}", phi3_response)
    assert "still writes '### Response:'" in wrong("7.1", phi3_input, lambda e: f"\n\n### Response:\n{e['output']}")
    assert "a newline, <|assistant|>, a newline and the entry's output" in wrong(
        "7.1", phi3_input, lambda e: f"<|assistant|>{e['output']}")
    assert "should return a str, got a list" in wrong("7.1", lambda e: [phi3_input(e)], phi3_response)
    assert "still raises NotImplementedError" in unanswered("7.1", stub, stub)


# --- 7.2 ----------------------------------------------------------------------------------------------------------


class PairsDataset(Dataset):
    """The book's solution: (instruction length, token ids) per entry."""

    def __init__(self, data, tokenizer):
        self.encoded = [tokenizer.encode(format_input(e) + f"\n\n### Response:\n{e['output']}") for e in data]
        self.lengths = [len(tokenizer.encode(format_input(e))) for e in data]

    def __getitem__(self, index):
        return self.lengths[index], self.encoded[index]

    def __len__(self):
        return len(self.encoded)


def masked_collate(batch, shift=1):
    """Section 7.3's collate function, then the first `instruction_length - shift` targets set to -100."""
    inputs, targets = custom_collate_fn([item for _, item in batch])
    for row, (length, _) in enumerate(batch):
        targets[row, : length - shift] = -100
    return inputs, targets


def test_7_2():
    message = passes("7.2", PairsDataset, masked_collate)
    assert message.startswith("the loss now counts 53 of the batch's 180 target tokens (29%)")
    passes("7.2", partial(InstructionDataset, mask_instructions=True), custom_collate_fn)
    assert "the targets still hold the instruction's tokens" in wrong(
        "7.2", PairsDataset, lambda batch: custom_collate_fn([item for _, item in batch]))
    assert "one too many per entry: the target at position i is the token at i + 1" in wrong(
        "7.2", PairsDataset, partial(masked_collate, shift=0))
    assert "each item of InstructionDataset should be a pair" in wrong("7.2", InstructionDataset, masked_collate)

    class Lengths(PairsDataset):
        def __getitem__(self, index):
            return self.lengths[index] + 1, self.encoded[index]

    assert "not the number of tokens of each entry's format_input(entry)" in wrong("7.2", Lengths, masked_collate)

    def shifted_inputs(batch):
        inputs, targets = masked_collate(batch)
        return inputs + 1, targets

    assert "the inputs differ from section 7.3's" in wrong("7.2", PairsDataset, shifted_inputs)
    assert "should return (inputs, targets)" in wrong("7.2", PairsDataset, lambda batch: masked_collate(batch)[1])
    assert "still raises NotImplementedError" in unanswered("7.2", stub, masked_collate)


# --- 7.3 ----------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_run(tmp_path_factory):
    """A small random GPT-2 (the book's path, offline) with LoRA, trained a few steps on 16 entries."""
    loaded = load_instruction_model(True, save_random_gpt2(tmp_path_factory.mktemp("gpt2")))
    data = load_instruction_data()
    train_part, test_entries = data[:935], data[935:939]
    model = copy.deepcopy(loaded.model)
    torch.manual_seed(123)
    add_lora(model, 4, 8)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    loader = DataLoader(InstructionDataset(train_part[:16], loaded.tokenizer), batch_size=8,
                        collate_fn=custom_collate_fn)
    for inputs, targets in loader:
        optimizer.zero_grad()
        torch.nn.functional.cross_entropy(model(inputs).flatten(0, 1), targets.flatten()).backward()
        optimizer.step()
    loss = response_loss(model, test_entries, loaded.tokenizer, 50256)
    context = dict(train_part=train_part, notebook_entries=8, test_entries=test_entries,
                   tokenizer=loaded.tokenizer, end_token_id=50256)
    return loaded, model, loss, context


def test_7_3(small_run):
    loaded, model, loss, context = small_run
    train_part = context["train_part"]
    message = passes("7.3", train_part[:16], model, loss, **context, notebook_loss=loss + 1)
    assert message.startswith(f"16 training entries (2.0 times the notebook's 8): the loss on the answers of the 4 "
                              f"test entries is {loss:.3f}, lower than the notebook's")
    leaked = [*train_part[:16], context["test_entries"][0]]
    assert "holds 1 of the test entries" in wrong("7.3", leaked, model, loss, **context, notebook_loss=loss)
    other = [{"instruction": "Say hi.", "input": "", "output": "Hi."}] * 9
    assert "entries that are not in the training part" in wrong("7.3", other, model, loss, **context,
                                                                 notebook_loss=loss)
    assert "the notebook trained on 8: take more" in wrong("7.3", train_part[:8], model, loss, **context,
                                                           notebook_loss=loss)
    # the book's path trains on the whole training part: a larger data set comes from outside it (the book's Alpaca)
    book_path = {**context, "train_part": train_part[:8]}
    passes("7.3", [*train_part[:8], *other], model, loss, **book_path, notebook_loss=loss)
    untrained = copy.deepcopy(loaded.model)
    torch.manual_seed(123)
    add_lora(untrained, 4, 8)
    assert "every LoRA matrix B of `model` is still zero" in wrong("7.3", train_part[:16], untrained, loss, **context,
                                                                    notebook_loss=loss)
    assert "compute it with response_loss after training" in wrong("7.3", train_part[:16], model, loss + 0.5,
                                                                   **context, notebook_loss=loss)
    assert "should be a list of entries" in wrong("7.3", "data", model, loss, **context, notebook_loss=loss)
    assert "(passed here as `train_data`, `model`, `test_loss`)" in unanswered(
        "7.3", ..., ..., ..., **context, notebook_loss=loss)


# --- 7.4 ----------------------------------------------------------------------------------------------------------


def gpt2_medium(rank=16, freeze=True, head=True) -> GPTModel:
    with torch.device("meta"):
        model = GPTModel({**GPT_CONFIG_124M, **GPT2_SIZES["gpt2-medium (355M)"], "drop_rate": 0.0, "qkv_bias": True})
        for param in model.parameters():
            param.requires_grad = not freeze
        if head:
            replace_linear_with_lora(model, rank=rank, alpha=16)
        else:
            replace_linear_with_lora(model.trf_blocks, rank=rank, alpha=16)
    return model


BOOK_COUNTS = {"before": 406_286_336, "after": 0, "lora": 7_898_384}


def test_7_4():
    message = passes("7.4", gpt2_medium(), BOOK_COUNTS)
    assert message.startswith("the book's numbers: 406,286,336 trainable before, 0 after freezing, 7,898,384 in the "
                              "LoRA matrices, 1.9% of the 414,184,720 parameters")
    assert "`out_head` (and 0 more) is a plain nn.Linear" in wrong("7.4", gpt2_medium(head=False), BOOK_COUNTS)
    assert "have rank [8]; the book's exercise uses rank 16" in wrong("7.4", gpt2_medium(rank=8), BOOK_COUNTS)
    assert "`tok_emb.weight` is still trainable: freeze" in wrong("7.4", gpt2_medium(freeze=False), BOOK_COUNTS)
    assert "counts['lora'] = 7,077,888, expected 7,898,384" in wrong("7.4", gpt2_medium(),
                                                                    {**BOOK_COUNTS, "lora": 7_077_888})
    assert "has no entry for 'after'" in wrong("7.4", gpt2_medium(), {"before": 1, "lora": 2})
    assert "should be GPT-2 medium" in wrong("7.4", nn.Linear(2, 2), BOOK_COUNTS)
    assert "(passed here as `model`, `counts`)" in unanswered("7.4", ..., ...)
