"""helpers.classifier (notebook 07): the shipped data set, splits, the padded dataset, the head, the loop, classifying;
the GPT-2 path on a small random model saved in Hugging Face's format; the spam explorer driven headless."""

from __future__ import annotations

import copy
from pathlib import Path

import matplotlib.pyplot as plt
import pytest
import torch
from torch.utils.data import DataLoader

from helpers import classifier, spam
from helpers.classifier import (
    OFFLINE_CONFIG,
    add_classification_head,
    calc_accuracy_loader,
    calc_loss_batch,
    calc_loss_loader,
    classify_review,
    last_token_features,
    load_base_model,
    recipe,
    spam_probability,
    train_classifier,
    trainable_parameters,
)
from helpers.datafiles import DataIntegrityError
from helpers.gpt import GPTModel
from helpers.gpt2_tokenizer import gpt2_encoding
from helpers.spam import (
    SMS_SPAM_FILE,
    SpamDataset,
    create_balanced_dataset,
    create_spam_loaders,
    encode_message,
    load_sms_spam,
    random_split,
    read_split_csv,
    spam_splits,
    write_split_csv,
)
from helpers.teaching.plots import plot_accuracies, plot_spam_probabilities, plot_values
from helpers.teaching.widgets import spam_explorer

SMALL = {**OFFLINE_CONFIG, "context_length": 64, "emb_dim": 16, "n_heads": 2, "n_layers": 2}


@pytest.fixture(scope="module")
def tokenizer():
    return gpt2_encoding()


@pytest.fixture(scope="module")
def split_paths(tmp_path_factory) -> dict[str, Path]:
    return spam_splits(tmp_path_factory.mktemp("sms-spam"))


def write_rows(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


# --- the shipped data set ------------------------------------------------------------------------------------------


def test_the_shipped_file_has_all_5574_messages_in_order():
    rows = load_sms_spam()
    assert len(rows) == 5574
    assert sum(label == "ham" for label, _ in rows) == 4827
    assert sum(label == "spam" for label, _ in rows) == 747
    assert rows[0] == ("ham", "Go until jurong point, crazy.. Available only in bugis n great world la e buffet... "
                              "Cine there got amore wat...")
    assert rows[-1] == ("ham", "Rofl. Its true to its name")


def test_a_message_with_a_stray_quote_stays_one_message():
    rows = load_sms_spam()
    quoted = [text for _, text in rows if text.startswith('"Keep ur problems')]
    assert len(quoted) == 1 and "\n" not in quoted[0]


def test_an_edited_copy_is_refused_naming_the_file_and_the_fix(tmp_path):
    copy_path = tmp_path / "SMSSpamCollection"
    copy_path.write_text(SMS_SPAM_FILE.read_text(encoding="utf-8").replace("ham\t", "spam\t", 1), encoding="utf-8")
    with pytest.raises(DataIntegrityError, match=r"SMSSpamCollection was edited or is damaged.*Fix: use an unchanged"):
        load_sms_spam(copy_path)
    assert len(load_sms_spam(copy_path, sha256=None)) == 5574  # a file of one's own, read without the check


def test_a_damaged_shipped_file_names_the_git_command_that_restores_it(tmp_path, monkeypatch):
    damaged = tmp_path / "SMSSpamCollection"
    damaged.write_bytes(SMS_SPAM_FILE.read_bytes()[:-10])
    monkeypatch.setattr(spam, "SMS_SPAM_FILE", damaged)
    with pytest.raises(DataIntegrityError) as info:
        load_sms_spam()
    message = str(info.value)
    assert "datasets/sms-spam-collection/SMSSpamCollection" in message
    assert "git checkout -- datasets/sms-spam-collection/SMSSpamCollection" in message
    assert str(tmp_path) not in message  # the course's own name for the file, not this machine's path


def test_a_missing_shipped_file_says_it_comes_with_the_repository(tmp_path, monkeypatch):
    monkeypatch.setattr(spam, "SMS_SPAM_FILE", tmp_path / "nothing-here")
    with pytest.raises(FileNotFoundError, match="ships with the course repository"):
        load_sms_spam()


def test_a_label_other_than_ham_or_spam_names_its_line(tmp_path):
    path = write_rows(tmp_path / "messages.txt", ["ham\tHello", "spam\tWIN NOW", "hma\tsee you"])
    with pytest.raises(ValueError, match=r"line 3: the label 'hma' is not one of \['ham', 'spam'\]"):
        load_sms_spam(path, sha256=None)


def test_a_line_without_tab_or_with_an_empty_message_names_its_line(tmp_path):
    with pytest.raises(ValueError, match="line 2: no tab"):
        load_sms_spam(write_rows(tmp_path / "a.txt", ["ham\tHello", "spam WIN NOW"]), sha256=None)
    with pytest.raises(ValueError, match="line 1: the spam message is empty"):
        load_sms_spam(write_rows(tmp_path / "b.txt", ["spam\t  ", "ham\tHello"]), sha256=None)


def test_windows_line_endings_and_a_final_newline_are_read_as_lines(tmp_path):
    path = tmp_path / "crlf.txt"
    path.write_bytes(b"ham\tHello\r\nspam\tWIN\r\n")
    assert load_sms_spam(path, sha256=None) == [("ham", "Hello"), ("spam", "WIN")]


# --- balancing and splitting ---------------------------------------------------------------------------------------


def test_balanced_and_split_as_in_the_book():
    balanced = create_balanced_dataset(load_sms_spam())
    assert [label for label, _ in balanced].count("ham") == 747
    assert [label for label, _ in balanced].count("spam") == 747
    train, validation, test = random_split(balanced, 0.7, 0.1)
    assert (len(train), len(validation), len(test)) == (1045, 149, 300)
    assert sorted(train + validation + test) == sorted(balanced)


def test_splits_are_seeded_and_leave_the_global_random_state_alone():
    rows = load_sms_spam()
    torch.manual_seed(0)
    state = torch.get_rng_state()
    first = random_split(create_balanced_dataset(rows), 0.7, 0.1)
    assert torch.equal(torch.get_rng_state(), state)
    assert random_split(create_balanced_dataset(rows), 0.7, 0.1) == first
    assert random_split(create_balanced_dataset(rows, seed=1), 0.7, 0.1, seed=1) != first


@pytest.mark.parametrize(("train_frac", "validation_frac"), [(0.0, 0.1), (0.7, 0.3), (1.2, 0.0), (0.5, -0.1)])
def test_bad_split_fractions_are_refused(train_frac, validation_frac):
    with pytest.raises(ValueError, match="train_frac and validation_frac"):
        random_split(list(range(10)), train_frac, validation_frac)


def test_balancing_needs_labelled_rows():
    with pytest.raises(ValueError, match="label 'ham' or 'spam'"):
        create_balanced_dataset([("ham", "a"), ("maybe", "b")])
    with pytest.raises(ValueError, match="cannot balance 1 ham message against 0 spam messages"):
        create_balanced_dataset([("ham", "a")])


def test_split_files_round_trip_with_quotes_and_commas(tmp_path):
    rows = [("ham", 'He said "hi", then left'), ("spam", "WIN, WIN, WIN")]
    write_split_csv(rows, tmp_path / "part.csv")
    assert read_split_csv(tmp_path / "part.csv") == [(0, 'He said "hi", then left'), (1, "WIN, WIN, WIN")]
    assert not list(tmp_path.glob(".*.part"))  # the temporary file is gone


def test_spam_splits_writes_three_files_and_the_same_bytes_each_time(split_paths, tmp_path):
    assert sorted(split_paths) == ["test", "train", "validation"]
    assert [len(read_split_csv(split_paths[n])) for n in ("train", "validation", "test")] == [1045, 149, 300]
    again = spam_splits(tmp_path)
    assert all(again[name].read_bytes() == split_paths[name].read_bytes() for name in split_paths)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("Text,Label\n0,hi\n", "header"),
        ("Label,Text\n2,hi\n", r"line 2: the label '2' is not 0 \(ham, not spam\) or 1 \(spam\)"),
        ("Label,Text\nspam,hi\n", "line 2: the label 'spam'"),
        ("Label,Text\n0,hello\n1,\n", "line 3: the message is empty"),
        ("Label,Text\n0,hi,extra\n", "expected 2 columns"),
    ],
)
def test_a_bad_split_file_is_refused_with_its_line(tmp_path, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(ValueError, match=message):
        read_split_csv(path)


# --- the padded dataset and the loaders ----------------------------------------------------------------------------


def test_dataset_pads_to_the_longest_training_message(split_paths, tokenizer):
    dataset = SpamDataset(split_paths["train"], tokenizer)
    assert dataset.max_length == 188  # the book's sample: 120
    lengths = {len(ids) for ids in dataset.encoded_texts}
    assert lengths == {188}
    ids, label = dataset[0]
    assert ids.dtype == torch.long and ids.shape == (188,) and label.dtype == torch.long and label.shape == ()
    text = read_split_csv(split_paths["train"])[0][1]
    n = len(tokenizer.encode(text))
    assert ids[:n].tolist() == tokenizer.encode(text) and set(ids[n:].tolist()) <= {50256}


def test_dataset_cuts_messages_longer_than_max_length(split_paths, tokenizer):
    dataset = SpamDataset(split_paths["train"], tokenizer, max_length=10)
    texts = [text for _, text in read_split_csv(split_paths["train"])]
    assert all(len(ids) == 10 for ids in dataset.encoded_texts)
    long_one = next(i for i, t in enumerate(texts) if len(tokenizer.encode(t)) > 10)
    assert dataset.encoded_texts[long_one] == tokenizer.encode(texts[long_one])[:10]


@pytest.mark.parametrize(("max_length", "error"), [(0, ValueError), (-3, ValueError), (2.5, TypeError),
                                                   (True, TypeError)])
def test_dataset_refuses_a_bad_max_length(split_paths, tokenizer, max_length, error):
    with pytest.raises(error, match="max_length must be a whole number >= 1"):
        SpamDataset(split_paths["validation"], tokenizer, max_length=max_length)


def test_dataset_refuses_an_empty_message_and_an_empty_file(tmp_path, tokenizer):
    write_rows(tmp_path / "empty-message.csv", ["Label,Text", "0,hello", '1,""'])
    with pytest.raises(ValueError, match="line 3: the message is empty"):
        SpamDataset(tmp_path / "empty-message.csv", tokenizer)
    write_rows(tmp_path / "no-rows.csv", ["Label,Text"])
    with pytest.raises(ValueError, match="holds no messages"):
        SpamDataset(tmp_path / "no-rows.csv", tokenizer)
    with pytest.raises(FileNotFoundError, match="spam_splits"):
        SpamDataset(tmp_path / "missing.csv", tokenizer)


def test_loaders_have_the_books_batch_counts(split_paths, tokenizer):
    train_loader, val_loader, test_loader = create_spam_loaders(split_paths, tokenizer)
    assert (len(train_loader), len(val_loader), len(test_loader)) == (130, 19, 38)
    assert val_loader.dataset.max_length == test_loader.dataset.max_length == 188
    torch.manual_seed(123)
    inputs, labels = next(iter(train_loader))
    assert inputs.shape == (8, 188) and labels.shape == (8,)
    with pytest.raises(KeyError, match="lacks"):
        create_spam_loaders({"train": split_paths["train"]}, tokenizer)


def test_encode_message_pads_cuts_and_refuses_an_empty_message(tokenizer):
    assert encode_message("Hi there", tokenizer, 5) == tokenizer.encode("Hi there") + [50256] * 3
    assert encode_message("one two three four five six", tokenizer, 3) == tokenizer.encode("one two three")
    for empty in ("", "   \n"):
        with pytest.raises(ValueError, match="the message is empty"):
            encode_message(empty, tokenizer, 5)
    with pytest.raises(TypeError, match="the message must be a str, got NoneType"):
        encode_message(None, tokenizer, 5)


# --- the model: both paths, the head ---------------------------------------------------------------------------------


def test_offline_base_model_is_the_small_config_in_eval_mode():
    torch.manual_seed(123)
    model = load_base_model(False)
    assert model.cfg == OFFLINE_CONFIG and not model.training
    assert OFFLINE_CONFIG["context_length"] >= 188  # the longest training message fits
    with pytest.raises(TypeError, match="True or False"):
        load_base_model("yes")


def test_gpt2_path_loads_a_hugging_face_folder_without_dropout(tmp_path):
    """The USE_PRETRAINED path, offline: a small random GPT-2 saved as Hugging Face saves OpenAI's."""
    from transformers import GPT2LMHeadModel

    from helpers.gpt2_weights import hf_config_from_gpt

    torch.manual_seed(0)
    hf_model = GPT2LMHeadModel(hf_config_from_gpt({**SMALL, "drop_rate": 0.1})).eval()
    hf_model.save_pretrained(tmp_path)
    model = load_base_model(True, tmp_path)
    assert model.cfg["drop_rate"] == 0.0 and model.cfg["qkv_bias"] is True and not model.training
    assert all(module.p == 0.0 for module in model.modules() if isinstance(module, torch.nn.Dropout))
    assert all(p.requires_grad and p.device.type == "cpu" for p in model.parameters())
    assert all(b.device.type == "cpu" for b in model.buffers())  # no meta tensor left: the masks are real
    model.to("cpu")  # a meta buffer made this fail: "Cannot copy out of meta tensor"
    ids = torch.randint(0, 50257, (2, 12))
    with torch.no_grad():
        assert (model(ids) - hf_model(ids).logits).abs().max() < 1e-4

    # the book's recipe on it: the head, the frozen layers, a few steps of the loop
    torch.manual_seed(123)
    add_classification_head(model)
    labels = torch.tensor([0, 1])
    loader = DataLoader(list(zip(ids, labels, strict=True)), batch_size=2)
    optimizer = torch.optim.AdamW(model.parameters(), **{k: recipe(True)[k] for k in ("lr", "weight_decay")})
    history = train_classifier(model, loader, loader, optimizer, "cpu", num_epochs=2, eval_freq=1, eval_iter=1,
                               progress=False, log=None)
    assert len(history.train_losses) == 2 and len(history.train_accs) == 2 and history.examples_seen == 4


def test_recipes_are_the_books_and_the_offline_ones():
    book = recipe(True)
    assert (book["lr"], book["weight_decay"], book["num_epochs"], book["eval_freq"], book["eval_iter"]) == (
        5e-5, 0.1, 5, 50, 5)
    assert book["lora_alpha"] / book["lora_rank"] == 16  # the book's LoRA update: alpha 16, not divided by rank 16
    assert recipe(False) == classifier.OFFLINE_RECIPE
    recipe(False)["lr"] = 1.0
    assert classifier.OFFLINE_RECIPE["lr"] != 1.0  # a copy


@pytest.mark.parametrize(("trainable", "expected"), [("last_block", None), ("head", 16 * 2 + 2), ("all", "all")])
def test_classification_head_and_what_trains(trainable, expected):
    torch.manual_seed(123)
    model = add_classification_head(GPTModel(SMALL), num_classes=2, trainable=trainable)
    assert isinstance(model.out_head, torch.nn.Linear) and model.out_head.out_features == 2
    assert model.out_head.bias is not None
    if expected == "all":
        assert trainable_parameters(model) == sum(p.numel() for p in model.parameters())
    elif expected is None:
        parts = [model.trf_blocks[-1], model.final_norm, model.out_head]
        assert trainable_parameters(model) == sum(p.numel() for part in parts for p in part.parameters())
        assert not any(p.requires_grad for p in model.trf_blocks[0].parameters())
    else:
        assert trainable_parameters(model) == expected


def test_classification_head_refuses_bad_arguments():
    model = GPTModel(SMALL)
    with pytest.raises(ValueError, match="trainable must be one of"):
        add_classification_head(model, trainable="last_layer")
    with pytest.raises(ValueError, match="num_classes must be at least 2"):
        add_classification_head(model, num_classes=1)
    with pytest.raises(TypeError, match="GPTModel"):
        add_classification_head(torch.nn.Linear(3, 3))


# --- loss, accuracy, the loop -------------------------------------------------------------------------------------


@pytest.fixture()
def tiny_task():
    """A small classifier and a loader of 12 sequences whose label is whether token 7 occurs."""
    torch.manual_seed(0)
    model = add_classification_head(GPTModel(SMALL), trainable="all")
    ids = torch.randint(0, 50, (12, 6))
    ids[::2, 2] = 7
    labels = (ids == 7).any(dim=1).long()
    loader = DataLoader(list(zip(ids, labels, strict=True)), batch_size=4)
    return model, ids, labels, loader


def test_loss_and_accuracy_read_the_last_token(tiny_task):
    model, ids, labels, loader = tiny_task
    model.eval()
    with torch.no_grad():
        last = model(ids)[:, -1, :]
        expected_loss = torch.nn.functional.cross_entropy(last[:4], labels[:4])
        torch.testing.assert_close(calc_loss_batch(ids[:4], labels[:4], model, "cpu"), expected_loss)
        batch_losses = [torch.nn.functional.cross_entropy(last[i:i + 4], labels[i:i + 4]).item() for i in (0, 4, 8)]
        assert calc_loss_loader(loader, model, "cpu") == pytest.approx(sum(batch_losses) / 3)
        assert calc_loss_loader(loader, model, "cpu", num_batches=1) == pytest.approx(batch_losses[0])
    expected_accuracy = (last.argmax(dim=-1) == labels).float().mean().item()
    assert calc_accuracy_loader(loader, model, "cpu") == pytest.approx(expected_accuracy)
    assert calc_accuracy_loader(loader, model, "cpu", num_batches=99) == pytest.approx(expected_accuracy)


def test_loss_and_accuracy_refuse_an_empty_loader_and_bad_num_batches(tiny_task):
    model, _, _, loader = tiny_task
    with pytest.raises(ValueError, match="yields no batches"):
        calc_accuracy_loader([], model, "cpu")
    with pytest.raises(ValueError, match="num_batches must be a whole number >= 1 or None"):
        calc_loss_loader(loader, model, "cpu", num_batches=0)


def test_training_learns_a_simple_rule_and_records_the_history(tiny_task):
    model, _, _, loader = tiny_task
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    lines = []
    history = train_classifier(model, loader, loader, optimizer, "cpu", num_epochs=15, eval_freq=5, eval_iter=3,
                               progress=False, log=lines.append)
    train_losses, val_losses, train_accs, val_accs, examples_seen = history  # unpacks as the book's return value
    assert len(train_losses) == len(val_losses) == 9 and examples_seen == 15 * 12  # steps 0, 5, ..., 40
    assert len(train_accs) == len(val_accs) == 15
    assert history.train_losses[-1] < history.train_losses[0]
    assert calc_accuracy_loader(loader, model, "cpu") == 1.0
    assert lines[0].startswith("Ep 1 (Step 000000): Train loss ")
    assert lines[-1].startswith("Training accuracy: 100.00% | Validation accuracy: ")


def test_the_loop_takes_the_same_steps_as_the_books_loop(tiny_task):
    model, _, _, loader = tiny_task
    twin = copy.deepcopy(model)
    torch.manual_seed(1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)
    history = train_classifier(model, loader, loader, optimizer, "cpu", 2, 2, 1, progress=False, log=None)
    torch.manual_seed(1)
    twin_optimizer = torch.optim.AdamW(twin.parameters(), lr=1e-3)
    losses = []
    for step, (x, y) in enumerate([batch for _ in range(2) for batch in loader]):
        twin.train()
        twin_optimizer.zero_grad()
        loss = calc_loss_batch(x, y, twin, "cpu")
        loss.backward()
        twin_optimizer.step()
        if step % 2 == 0:
            losses.append(loss)
    assert len(history.train_losses) == len(losses) == 3
    for a, b in zip(model.state_dict().values(), twin.state_dict().values(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.parametrize(
    ("changes", "message"),
    [({"num_epochs": 0}, "num_epochs"), ({"eval_freq": 0}, "eval_freq"), ({"eval_iter": -1}, "eval_iter")],
)
def test_the_loop_refuses_bad_arguments(tiny_task, changes, message):
    model, _, _, loader = tiny_task
    args = {"num_epochs": 1, "eval_freq": 1, "eval_iter": 1, **changes}
    with pytest.raises(ValueError, match=message):
        train_classifier(model, loader, loader, torch.optim.AdamW(model.parameters()), "cpu", **args, log=None)


def test_the_loop_refuses_an_optimizer_with_nothing_to_train(tiny_task):
    model, _, _, loader = tiny_task
    for param in model.parameters():
        param.requires_grad = False
    with pytest.raises(ValueError, match="no trainable parameter"):
        train_classifier(model, loader, loader, torch.optim.AdamW(model.parameters()), "cpu", 1, 1, 1, log=None)


# --- classifying -----------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spam_model(tokenizer):
    """A small classifier trained for a moment on the words 'WIN' and 'FREE' (enough to give different answers)."""
    torch.manual_seed(123)
    model = add_classification_head(GPTModel(SMALL), trainable="all")
    texts = ["WIN a FREE prize now", "FREE cash WIN", "see you at lunch", "call me later ok"] * 4
    labels = torch.tensor([1, 1, 0, 0] * 4)
    ids = torch.tensor([encode_message(t, tokenizer, 8) for t in texts])
    loader = DataLoader(list(zip(ids, labels, strict=True)), batch_size=4, shuffle=True)
    optimizer = torch.optim.AdamW(model.parameters(), lr=5e-3)
    train_classifier(model, loader, loader, optimizer, "cpu", 20, 100, 1, progress=False, log=None)
    return model.eval()


def test_classify_review_agrees_with_the_probability(spam_model, tokenizer):
    for text in ["WIN a FREE prize", "see you at lunch"]:
        p = spam_probability(text, spam_model, tokenizer, "cpu", max_length=8)
        assert 0.0 <= p <= 1.0
        assert classify_review(text, spam_model, tokenizer, "cpu", max_length=8) == ("spam" if p > 0.5 else "not spam")
    assert classify_review("WIN a FREE prize", spam_model, tokenizer, max_length=8) == "spam"
    assert classify_review("see you at lunch", spam_model, tokenizer, max_length=8) == "not spam"


def test_a_message_longer_than_the_context_is_cut_to_its_start(spam_model, tokenizer):
    start = "WIN a FREE prize"
    long_text = start + " and more" * 200  # far longer than SMALL's context of 64 tokens
    assert len(tokenizer.encode(long_text)) > SMALL["context_length"]
    first_8 = tokenizer.decode(tokenizer.encode(long_text)[:8])
    assert tokenizer.encode(first_8) == tokenizer.encode(long_text)[:8]
    assert spam_probability(long_text, spam_model, tokenizer, max_length=8) == pytest.approx(
        spam_probability(first_8, spam_model, tokenizer, max_length=8))
    # a max_length beyond the context is cut to the context
    assert spam_probability(long_text, spam_model, tokenizer, max_length=1000) == pytest.approx(
        spam_probability(long_text, spam_model, tokenizer, max_length=SMALL["context_length"]))


def test_classify_review_refuses_an_empty_message_and_a_missing_max_length(spam_model, tokenizer):
    for empty in ("", "  "):
        with pytest.raises(ValueError, match="the message is empty"):
            classify_review(empty, spam_model, tokenizer, max_length=8)
    with pytest.raises(ValueError, match="give max_length"):
        classify_review("hello", spam_model, tokenizer)
    with pytest.raises(ValueError, match="max_length must be"):
        spam_probability("hello", spam_model, tokenizer, max_length=0)


def test_spam_probability_needs_a_two_class_head(tokenizer):
    with pytest.raises(ValueError, match="output classes"):
        spam_probability("hello", GPTModel(SMALL), tokenizer, max_length=4)


# --- figures and the explorer ---------------------------------------------------------------------------------------


def test_figures_of_notebook_07():
    figures = [
        plot_values([0, 1, 2], [0, 8, 16], [0.7, 0.4, 0.3], [0.7, 0.5, 0.4]),
        plot_values([0, 1], [0, 8], [0.5, 0.9], [0.5, 0.8], label="accuracy"),
        plot_spam_probabilities(["WIN", "hello " * 30], [0.9, 0.1]),
        plot_accuracies({"frozen": [0.9, 0.8, 0.8], "all": [1.0, 0.9, 0.9]}),
    ]
    assert figures[1].axes[0].get_ylabel() == "Accuracy"
    for fig in figures:
        plt.close(fig)
    with pytest.raises(ValueError, match="equally long"):
        plot_values([0, 1], [0], [1, 2], [1, 2])
    with pytest.raises(ValueError, match="lie in"):
        plot_spam_probabilities(["a"], [1.5])
    with pytest.raises(ValueError, match="3 accuracies"):
        plot_accuracies({"frozen": [0.9]})


def test_explorer_shows_the_probability_of_a_typed_message(spam_model, tokenizer):
    w = spam_explorer(spam_model, tokenizer, max_length=8)
    box = w.children[0]
    box.value = "WIN a FREE prize"
    w.update()
    assert w.result == pytest.approx(spam_probability("WIN a FREE prize", spam_model, tokenizer, max_length=8))
    assert w.result > 0.5
    box.value = "see you at lunch"
    w.update()
    assert w.result < 0.5
    box.value = "   "
    w.update()
    assert w.result is None  # an empty box asks for a message instead of raising
    with pytest.raises(ValueError, match="max_length"):
        spam_explorer(spam_model, tokenizer, max_length=0)
    plt.close("all")


# --- beyond the book: last_token_features ----------------------------------------------------------------------------


class ByteTokenizer:
    """Token ids from the text's bytes, folded into a small vocabulary (enough to feed a small model)."""

    def __init__(self, vocab_size: int) -> None:
        self.vocab_size = vocab_size

    def encode(self, text: str) -> list[int]:
        return [1 + byte % (self.vocab_size - 1) for byte in text.encode("utf-8")]


def small_llama() -> torch.nn.Module:
    from helpers.llama import SMOLLM2_CONFIG, LlamaModel

    torch.manual_seed(0)
    return LlamaModel({**SMOLLM2_CONFIG, "vocab_size": 101, "context_length": 32, "emb_dim": 24, "n_heads": 6,
                       "n_kv_groups": 2, "n_layers": 2, "hidden_dim": 40})


MESSAGES = ["Call now to win a prize!", "ok", "See you at the station at six, and bring the book you promised me"]


@pytest.mark.parametrize("architecture", ["llama", "gpt"])
def test_last_token_features_are_each_messages_own_last_hidden_state(architecture):
    """Batched with right padding, each message gets the hidden state it gets alone, at its end token."""
    model = (small_llama() if architecture == "llama" else GPTModel({**SMALL, "context_length": 32})).eval()
    tokenizer = ByteTokenizer(model.cfg["vocab_size"])
    head = model.out_head
    features = last_token_features(model, tokenizer, MESSAGES, max_tokens=20, batch_size=2)
    assert features.shape == (3, model.cfg["emb_dim"]) and not features.requires_grad
    assert model.out_head is head and not model.training  # the head is back; the model is as it was
    for text, row in zip(MESSAGES, features, strict=True):
        ids = torch.tensor([tokenizer.encode(text)[:20] + [0]])
        model.out_head = torch.nn.Identity()
        with torch.no_grad():
            alone = model(ids)[0, -1]
        model.out_head = head
        torch.testing.assert_close(row, alone, atol=1e-5, rtol=1e-5)
    model.train()
    last_token_features(model, tokenizer, MESSAGES[:1])
    assert model.training  # a model in training mode stays in it


def test_last_token_features_cut_messages_to_max_tokens_and_the_context():
    model = small_llama()
    tokenizer = ByteTokenizer(model.cfg["vocab_size"])
    long_text = MESSAGES[2] * 3  # 201 bytes, far beyond the context of 32
    cut = last_token_features(model, tokenizer, [long_text], max_tokens=200)  # cut to 31 tokens + the end token
    same = last_token_features(model, tokenizer, [long_text[:31]], max_tokens=200)
    torch.testing.assert_close(cut, same)


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"texts": "one message"}, ValueError, "non-empty list of messages"),
    ({"texts": []}, ValueError, "non-empty list of messages"),
    ({"texts": ["fine", "  "]}, ValueError, "the message is empty"),
    ({"max_tokens": 0}, ValueError, "max_tokens"),
    ({"batch_size": 0}, ValueError, "batch_size"),
    ({"end_token_id": -1}, ValueError, "end_token_id"),
    ({"end_token_id": 101}, ValueError, "end_token_id 101 is not a token of the model"),
    ({"model": torch.nn.Linear(2, 2)}, TypeError, "model must be"),
])
def test_last_token_features_refuses_bad_input(kwargs, error, match):
    model = small_llama()
    arguments = {"model": model, "tokenizer": ByteTokenizer(101), "texts": MESSAGES, **kwargs}
    with pytest.raises(error, match=match):
        last_token_features(**arguments)
