"""helpers.instruct: the shipped instruction data (checked by sha256), the book's prompt, split, collate function and
loaders, each against the book's printed values, and every bad input."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.data import DataLoader

from helpers import instruct
from helpers.datafiles import DataIntegrityError
from helpers.gpt2_tokenizer import gpt2_encoding
from helpers.instruct import (
    IGNORE_INDEX,
    InstructionDataset,
    InstructionSplits,
    check_entry,
    create_instruction_loaders,
    custom_collate_fn,
    format_input,
    format_response,
    load_book_responses,
    load_instruction_data,
    split_instruction_data,
)

TOY_BATCH = ([0, 1, 2, 3, 4], [5, 6], [7, 8, 9])  # the book's section 7.3


@pytest.fixture(scope="module")
def data() -> list[dict[str, str]]:
    return load_instruction_data()


@pytest.fixture(scope="module")
def tokenizer():
    return gpt2_encoding()


# --- the data ----------------------------------------------------------------------------------------------------


def test_the_shipped_data_is_the_books(data):
    assert len(data) == 1100 and sum(entry["input"] == "" for entry in data) == 775
    assert all(list(entry) == ["instruction", "input", "output"] for entry in data)
    assert data[50] == {"instruction": "Identify the correct spelling of the following word.", "input": "Ocassion",
                        "output": "The correct spelling is 'Occasion.'"}
    assert instruct.INSTRUCTION_DATA_FILE.stat().st_size == 203_524


def test_the_book_responses_are_its_110_test_entries_with_answers(data):
    responses = load_book_responses()
    assert len(responses) == 110 and instruct.BOOK_RESPONSES_FILE.stat().st_size == 29_279
    assert [{k: e[k] for k in ("instruction", "input", "output")} for e in responses] == data[935:1045]
    assert responses[0]["model_response"] == "The car is as fast as a bullet."


def test_an_edited_shipped_file_is_refused_with_the_command_that_restores_it(tmp_path, monkeypatch):
    folder = tmp_path / "checkout" / "datasets" / "instruction-data"
    folder.mkdir(parents=True)
    copy = folder / "instruction-data.json"
    shutil.copy(instruct.INSTRUCTION_DATA_FILE, copy)
    with open(copy, "a", encoding="utf-8") as f:
        f.write(" ")
    monkeypatch.setattr(instruct, "_CHECKOUT", tmp_path / "checkout")
    monkeypatch.setattr(instruct, "INSTRUCTION_DATA_FILE", copy)
    with pytest.raises(DataIntegrityError) as caught:
        load_instruction_data()
    message = str(caught.value)
    assert message.startswith("the data file datasets/instruction-data/instruction-data.json was edited or is damaged")
    assert "git checkout -- datasets/instruction-data/instruction-data.json" in message


def test_a_file_of_your_own_is_read_without_a_hash_and_checked_entry_by_entry(tmp_path):
    path = tmp_path / "mine.json"
    path.write_text(json.dumps([{"instruction": "Say hi.", "input": "", "output": "Hi."}]), encoding="utf-8")
    with pytest.raises(DataIntegrityError, match="use an unchanged copy, or pass sha256=None"):
        load_instruction_data(path)
    assert load_instruction_data(path, sha256=None) == [{"instruction": "Say hi.", "input": "", "output": "Hi."}]
    path.write_text("[{", encoding="utf-8")
    with pytest.raises(ValueError, match="mine.json is not valid JSON text"):
        load_instruction_data(path, sha256=None)
    path.write_text("{}", encoding="utf-8")
    with pytest.raises(ValueError, match="must hold a non-empty JSON list of entries"):
        load_instruction_data(path, sha256=None)
    with pytest.raises(FileNotFoundError, match="no file at .*missing.json; check the path"):
        load_instruction_data(tmp_path / "missing.json")


@pytest.mark.parametrize(
    ("entry", "error", "message"),
    [
        ({"instruction": "Name a colour.", "output": "Blue."}, ValueError,
         r"entry 3 lacks the field \['input'\] \(it has \['instruction', 'output'\]\); every entry needs"),
        ({"instruction": "Name a colour.", "input": "", "output": ""}, ValueError,
         r"entry 3 has an empty response \(its 'output'\)"),
        ({"instruction": " ", "input": "", "output": "Blue."}, ValueError, "entry 3 has an empty instruction"),
        ({"instruction": "Name a colour.", "input": None, "output": "Blue."}, TypeError,
         "entry 3: the field 'input' must be a str, got NoneType"),
        (["Name a colour.", "", "Blue."], TypeError, "entry 3 must be a dict with the fields"),
    ],
)
def test_bad_entries_are_named(entry, error, message):
    with pytest.raises(error, match=message):
        check_entry(entry, 3)


def test_format_input_writes_the_books_prompt(data):
    assert format_input(data[50]) + format_response(data[50]) == (
        "Below is an instruction that describes a task. Write a response that appropriately completes the request."
        "\n\n### Instruction:\nIdentify the correct spelling of the following word.\n\n### Input:\nOcassion"
        "\n\n### Response:\nThe correct spelling is 'Occasion.'"
    )
    assert "### Input:" not in format_input(data[999])
    with pytest.raises(ValueError, match="lacks the field"):
        format_input({"instruction": "x"})


def test_split_by_position_as_the_book(data):
    train, test, validation = split_instruction_data(data)
    assert (len(train), len(test), len(validation)) == (935, 110, 55)
    assert train == data[:935] and test == data[935:1045] and validation == data[1045:]
    with pytest.raises(ValueError, match="train_frac and test_frac must be fractions"):
        split_instruction_data(data, 0.9, 0.2)
    with pytest.raises(ValueError, match="3 entries leave the test part empty: use more data"):
        split_instruction_data(data[:3])


# --- the collate function ----------------------------------------------------------------------------------------


def test_collate_makes_the_books_toy_batch():
    inputs, targets = custom_collate_fn(TOY_BATCH)
    assert inputs.tolist() == [[0, 1, 2, 3, 4], [5, 6, 50256, 50256, 50256], [7, 8, 9, 50256, 50256]]
    assert targets.tolist() == [[1, 2, 3, 4, 50256], [6, 50256, -100, -100, -100], [8, 9, 50256, -100, -100]]
    assert inputs.dtype == targets.dtype == torch.int64


def book_collate(batch, pad_token_id=50256, ignore_index=-100, allowed_max_length=None):
    """The book's custom_collate_fn (section 7.3), as notebook 10 builds it."""
    batch_max_length = max(len(item) + 1 for item in batch)
    inputs_lst, targets_lst = [], []
    for item in batch:
        new_item = [*item, pad_token_id]
        padded = new_item + [pad_token_id] * (batch_max_length - len(new_item))
        inputs, targets = torch.tensor(padded[:-1]), torch.tensor(padded[1:])
        indices = torch.nonzero(targets == pad_token_id).squeeze()
        if indices.numel() > 1:
            targets[indices[1:]] = ignore_index
        if allowed_max_length is not None:
            inputs, targets = inputs[:allowed_max_length], targets[:allowed_max_length]
        inputs_lst.append(inputs)
        targets_lst.append(targets)
    return torch.stack(inputs_lst), torch.stack(targets_lst)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(0, 50255), min_size=1, max_size=12), min_size=1, max_size=5),
       st.one_of(st.none(), st.integers(1, 14)))
def test_collate_equals_the_books_function(batch, allowed_max_length):
    book = book_collate(batch, allowed_max_length=allowed_max_length)
    ours = custom_collate_fn(batch, allowed_max_length=allowed_max_length, truncate=True)
    assert all(torch.equal(a, b) for a, b in zip(book, ours, strict=True))
    if allowed_max_length is None or all(len(item) <= allowed_max_length for item in batch):
        final = custom_collate_fn(batch, allowed_max_length=allowed_max_length)
        assert all(torch.equal(a, b) for a, b in zip(book, final, strict=True))


def test_the_first_end_token_stays_a_target_even_where_the_text_holds_the_padding_id():
    _, targets = custom_collate_fn([[50256, 7], [1]])
    assert targets.tolist() == [[7, 50256], [50256, -100]]  # the book's function would mask the first row's end


def test_an_item_longer_than_allowed_is_refused_unless_cut_on_purpose():
    long_item = list(range(1, 13))
    with pytest.raises(ValueError, match=r"batch item 0 has 12 tokens, more than allowed_max_length=8: cut, it "
                                         r"would lose the end of its response .* pass truncate=True"):
        custom_collate_fn([long_item, [5, 6]], allowed_max_length=8)
    inputs, targets = custom_collate_fn([long_item, [5, 6]], allowed_max_length=8, truncate=True)
    assert inputs.shape == targets.shape == (2, 8) and 50256 not in targets[0].tolist()
    assert custom_collate_fn([long_item], allowed_max_length=12)[0].shape == (1, 12)


@pytest.mark.parametrize(
    ("batch", "kwargs", "error", "message"),
    [
        ([], {}, ValueError, "the batch must be a non-empty list of items"),
        ([[1, 2], []], {}, ValueError, "batch item 1 holds no tokens"),
        ([[1, 2], "ab"], {}, TypeError, "batch item 1 must be a list of token ids"),
        ([[1, 2.5]], {}, TypeError, "batch item 0 must be a list of token ids"),
        ([[1, 2]], {"pad_token_id": -1}, ValueError, "pad_token_id must be a whole number >= 0"),
        ([[1, 2]], {"allowed_max_length": 0}, ValueError, "allowed_max_length must be a whole number >= 1"),
        ([(0, [1, 2])], {}, ValueError, "the instruction length of batch item 0 must be a whole number >= 1"),
    ],
)
def test_bad_batches_raise_clear_errors(batch, kwargs, error, message):
    with pytest.raises(error, match=message):
        custom_collate_fn(batch, **kwargs)


def test_instruction_masking_is_the_books_exercise_7_2(tokenizer, data):
    dataset = InstructionDataset(data[:3], tokenizer, mask_instructions=True)
    length, ids = dataset[1]
    assert length == len(tokenizer.encode(format_input(data[1]))) and ids == dataset.encoded_texts[1]
    _, targets = custom_collate_fn([dataset[i] for i in range(3)])
    _, plain = custom_collate_fn(dataset.encoded_texts)
    for row, (n, item) in enumerate(dataset[i] for i in range(3)):
        assert (targets[row, : n - 1] == IGNORE_INDEX).all()
        assert torch.equal(targets[row, n - 1 : len(item)], plain[row, n - 1 : len(item)])
    response = tokenizer.decode([t for t in targets[1].tolist() if t != IGNORE_INDEX])
    assert response == format_response(data[1]) + "<|endoftext|>"


# --- the dataset and the loaders ---------------------------------------------------------------------------------


def test_the_dataset_encodes_prompt_and_response(tokenizer, data):
    dataset = InstructionDataset(data[:2], tokenizer)
    assert len(dataset) == 2 and dataset[0] == tokenizer.encode(format_input(data[0]) + format_response(data[0]))
    with pytest.raises(ValueError, match="the data holds no entries"):
        InstructionDataset([], tokenizer)
    with pytest.raises(ValueError, match="entry 1 lacks the field"):
        InstructionDataset([data[0], {"instruction": "x"}], tokenizer)


def test_the_loaders_make_the_books_batches(tokenizer, data):
    splits = split_instruction_data(data)
    train_loader, val_loader, test_loader = create_instruction_loaders(splits, tokenizer)
    assert (len(train_loader), len(val_loader), len(test_loader)) == (116, 7, 14)
    torch.manual_seed(123)
    widths = [inputs.shape[1] for inputs, _ in train_loader]
    assert widths[:16] == [61, 76, 73, 68, 65, 72, 80, 67, 62, 75, 62, 68, 67, 77, 69, 79] and widths[-2:] == [74, 69]
    inputs, targets = next(iter(val_loader))
    assert inputs.shape == targets.shape and inputs.shape[0] == 8


def test_the_loaders_check_their_arguments(tokenizer, data):
    splits = split_instruction_data(data)
    with pytest.raises(ValueError, match="the train part has 3 entries, fewer than one batch of 8"):
        create_instruction_loaders(InstructionSplits(data[:3], splits.test, splits.validation), tokenizer)
    with pytest.raises(TypeError, match="splits must be the \\(train, test, validation\\)"):
        create_instruction_loaders(data, tokenizer)
    with pytest.raises(ValueError, match="batch_size must be a whole number >= 1"):
        create_instruction_loaders(splits, tokenizer, batch_size=0)


def test_a_loader_with_masking_yields_masked_targets(tokenizer, data):
    splits = InstructionSplits(data[:8], data[8:10], data[10:12])
    train_loader, _, _ = create_instruction_loaders(splits, tokenizer, mask_instructions=True)
    _, targets = next(iter(DataLoader(train_loader.dataset, batch_size=8, collate_fn=custom_collate_fn)))
    assert (targets[:, :20] == IGNORE_INDEX).all()  # every prompt is longer than 20 tokens


def test_the_data_folder_keeps_its_license_and_attribution():
    folder = Path(instruct.INSTRUCTION_DATA_FILE).parent
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert "Apache License" in (folder / "LICENSE.txt").read_text(encoding="utf-8")
    for fact in ("rasbt/LLMs-from-scratch", "Sebastian Raschka", instruct.INSTRUCTION_DATA_SHA256,
                 instruct.BOOK_RESPONSES_SHA256, "203,524 bytes", "29,279 bytes"):
        assert fact in readme
