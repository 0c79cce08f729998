"""helpers.instruct_model and helpers.instruct_cli: the book's path tested offline on a small random GPT-2 in OpenAI's
file layout (load, LoRA, the training loop, answers, saving, the response loss, the terminal run), the offline path's
SmolLM2 and its end token, and every bad input."""

from __future__ import annotations

import json
import re
from functools import partial

import pytest
import torch
from torch.utils.data import DataLoader

from helpers.gpt import GPTModel
from helpers.gpt2_weights import save_random_gpt2
from helpers.instruct import (
    InstructionDataset,
    InstructionSplits,
    create_instruction_loaders,
    custom_collate_fn,
    format_input,
    load_instruction_data,
    split_instruction_data,
)
from helpers.instruct_model import (
    BOOK_RECIPE,
    FULL_OFFLINE_RECIPE,
    OFFLINE_RECIPE,
    add_lora,
    extract_response,
    generate_response,
    generate_responses,
    load_instruction_model,
    recipe,
    response_loss,
    save_responses,
    train_instruction_model,
)
from helpers.lora import LinearWithLoRA
from helpers.train import calc_loss_loader


@pytest.fixture(scope="module")
def gpt2_folder(tmp_path_factory):
    """A small GPT-2 with random weights, saved as OpenAI's are: the book's path without a download."""
    return save_random_gpt2(tmp_path_factory.mktemp("gpt2-random"))


@pytest.fixture(scope="module")
def splits():
    return split_instruction_data(load_instruction_data())


def small_loaders(splits, tokenizer, end_token_id, n_train=16):
    part = InstructionSplits(splits.train[:n_train], splits.test[:8], splits.validation[:8])
    return create_instruction_loaders(part, tokenizer, batch_size=8, pad_token_id=end_token_id, allowed_max_length=256)


def test_recipes():
    assert recipe(True) == BOOK_RECIPE and BOOK_RECIPE["lr"] == 5e-5 and BOOK_RECIPE["num_epochs"] == 2
    assert BOOK_RECIPE["lora_rank"] is None and BOOK_RECIPE["train_entries"] is None
    assert recipe(False) == OFFLINE_RECIPE and OFFLINE_RECIPE["train_entries"] == 48
    assert recipe(False, full=True) == FULL_OFFLINE_RECIPE and FULL_OFFLINE_RECIPE["train_entries"] is None
    assert recipe(True) is not BOOK_RECIPE  # a copy: changing it changes no default
    with pytest.raises(TypeError, match="use_pretrained must be True or False, got 1"):
        recipe(1)


def test_the_books_path_loads_gpt2_with_its_tokenizer_and_end_token(gpt2_folder):
    loaded = load_instruction_model(True, gpt2_folder)
    assert isinstance(loaded.model, GPTModel) and not loaded.model.training
    assert loaded.model.cfg["drop_rate"] == 0.0 and loaded.end_token_id == 50256
    assert loaded.tokenizer.decode([50256]) == "<|endoftext|>"


def test_add_lora_freezes_the_model_and_wraps_the_blocks_linear_layers(gpt2_folder):
    model = load_instruction_model(True, gpt2_folder).model
    torch.manual_seed(123)
    trainable = add_lora(model, rank=4, alpha=8)
    wrapped = [m for m in model.modules() if isinstance(m, LinearWithLoRA)]
    assert len(wrapped) == 2 * 6  # two blocks: query, key, value, out_proj and the feed-forward's two layers
    assert trainable == sum(p.numel() for m in wrapped for p in m.lora.parameters())
    assert not isinstance(model.out_head, LinearWithLoRA)
    model = load_instruction_model(True, gpt2_folder).model
    assert add_lora(model, 4, 8, last_blocks=1) == trainable // 2
    with pytest.raises(ValueError, match="last_blocks=3, but the model has 2 transformer blocks"):
        add_lora(load_instruction_model(True, gpt2_folder).model, 4, 8, last_blocks=3)
    with pytest.raises(TypeError, match="model must have transformer blocks in `trf_blocks`"):
        add_lora(torch.nn.Linear(2, 2), 4, 8)


def test_training_logs_as_the_book_and_changes_only_lora(gpt2_folder, splits, capsys):
    loaded = load_instruction_model(True, gpt2_folder)
    model, tokenizer, end = loaded.model, loaded.tokenizer, loaded.end_token_id
    frozen = {k: v.clone() for k, v in model.state_dict().items()}
    torch.manual_seed(123)
    add_lora(model, 4, 8)
    train_loader, val_loader, _ = small_loaders(splits, tokenizer, end)
    torch.manual_seed(123)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.1)
    history = train_instruction_model(model, train_loader, val_loader, optimizer, "cpu", num_epochs=2, eval_freq=3,
                                      eval_iter=1, start_context=splits.validation[0], tokenizer=tokenizer,
                                      end_token_id=end, max_new_tokens=3, progress=False)
    lines = capsys.readouterr().out.splitlines()
    assert re.fullmatch(r"Ep 1 \(Step 000000\): Train loss \d+\.\d{3}, Val loss \d+\.\d{3}", lines[0])
    assert lines[1].startswith("Below is an instruction that describes a task.") and "↵↵### Response:↵" in lines[1]
    assert history.steps == [0, 3] and len(history.batch_losses) == 4 and len(history.samples) == 2
    assert 0 < history.tokens_seen[0] < history.tokens_seen[1] and len(history.epochs) == 2
    state = model.state_dict()
    for key, value in frozen.items():
        name = key if key in state else key.replace(".weight", ".linear.weight").replace(".bias", ".linear.bias")
        assert torch.equal(state[name], value), key


def test_training_refuses_an_optimizer_with_nothing_to_train(gpt2_folder, splits):
    loaded = load_instruction_model(True, gpt2_folder)
    for param in loaded.model.parameters():
        param.requires_grad = False
    train_loader, val_loader, _ = small_loaders(splits, loaded.tokenizer, loaded.end_token_id)
    optimizer = torch.optim.AdamW(loaded.model.parameters(), lr=1e-3)
    with pytest.raises(ValueError, match="the optimizer holds no trainable parameter"):
        train_instruction_model(loaded.model, train_loader, val_loader, optimizer, "cpu", 1, 1, 1, splits.validation[0],
                                loaded.tokenizer, loaded.end_token_id, progress=False)


def test_answers_are_the_books_extraction_and_are_saved_whole(gpt2_folder, splits, tmp_path):
    loaded = load_instruction_model(True, gpt2_folder)
    model, tokenizer, end = loaded.model, loaded.tokenizer, loaded.end_token_id
    entry = splits.test[0]
    answer = generate_response(model, tokenizer, entry, end, max_new_tokens=5)
    from helpers.generate import generate, text_to_token_ids, token_ids_to_text

    input_text = format_input(entry)
    ids = generate(model, text_to_token_ids(input_text, tokenizer), 5, model.cfg["context_length"], eos_id=end)
    assert answer == token_ids_to_text(ids, tokenizer)[len(input_text):].replace("### Response:", "").strip()
    assert extract_response("\n\n### Response:\nBlue.") == "Blue."
    answered = generate_responses(model, tokenizer, splits.test[:2], end, max_new_tokens=3, progress=False)
    assert [set(e) for e in answered] == [{"instruction", "input", "output", "model_response"}] * 2
    assert "model_response" not in splits.test[0]  # copies: the data is left alone
    path = save_responses(answered, tmp_path / "out" / "responses.json")
    assert json.loads(path.read_text(encoding="utf-8")) == answered
    assert path.read_text(encoding="utf-8").startswith('[\n    {\n        "instruction"')  # the book's indent=4
    assert [p.name for p in path.parent.iterdir()] == ["responses.json"]  # no temporary file left


def test_response_loss_counts_only_the_answers(gpt2_folder, splits):
    loaded = load_instruction_model(True, gpt2_folder)
    model, tokenizer, end = loaded.model, loaded.tokenizer, loaded.end_token_id
    entries = splits.test[:5]
    dataset = InstructionDataset(entries, tokenizer, mask_instructions=True)
    loader = DataLoader(dataset, batch_size=8, collate_fn=partial(custom_collate_fn, pad_token_id=end))
    with torch.no_grad():
        expected = calc_loss_loader(loader, model, "cpu")
        whole = calc_loss_loader(DataLoader(InstructionDataset(entries, tokenizer), batch_size=8,
                                            collate_fn=custom_collate_fn), model, "cpu")
    assert response_loss(model, entries, tokenizer, end) == pytest.approx(expected, abs=1e-6)
    assert abs(expected - whole) > 1e-3


@pytest.mark.slow
def test_the_offline_path_is_smollm2_with_its_own_end_token():
    loaded = load_instruction_model(False)
    assert loaded.name == "SmolLM2-135M-Instruct" and loaded.end_token_id == 2
    assert loaded.tokenizer.decode([2]) == "<|im_end|>" and not loaded.model.training
    assert sum(p.numel() for p in loaded.model.parameters()) == 134_515_008
    torch.manual_seed(123)
    assert add_lora(loaded.model, 8, 16) == 2_442_240  # the notebook's LoRA: rank 8 in all 30 blocks


@pytest.mark.slow
def test_the_terminal_runs_the_books_path_on_a_small_gpt2(gpt2_folder, tmp_path, capsys):
    from helpers.instruct_cli import main

    results = main(["--book", "--model", str(gpt2_folder), "--train-entries", "8", "--test-entries", "2",
                    "--epochs", "1", "--judge", "none", "--out", str(tmp_path), "--no-progress"])
    out = capsys.readouterr().out
    assert results["train_entries"] == 8 and results["test_entries"] == 2
    answers = json.loads((tmp_path / f"{gpt2_folder.name}-responses.json").read_text(encoding="utf-8"))
    assert len(answers) == 2 and all("model_response" in a for a in answers)
    scores = json.loads((tmp_path / f"{gpt2_folder.name}-scores.json").read_text(encoding="utf-8"))
    assert scores["response_loss_after"] == pytest.approx(results["response_loss_after"])
    assert "Ep 1 (Step 000000): Train loss" in out and "peak memory" in out and "ROUGE-L" in out


def test_the_terminal_refuses_bad_counts(capsys):
    from helpers.instruct_cli import main

    with pytest.raises(SystemExit):
        main(["--train-entries", "0"])
    assert "--train-entries must be > 0, got 0" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["--test-entries", "0"])
    assert "--test-entries must be >= 1, got 0" in capsys.readouterr().err
