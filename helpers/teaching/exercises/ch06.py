"""Checks for the exercises of the book's chapter 6, fine-tuning for classification, asked in
notebooks/09_classification_finetuning.ipynb: 6.1 (pad the messages to the full context length), 6.2 (fine-tune the
whole model), 6.3 (classify with the first token instead of the last).
Worked answers: notebooks/solutions/ch06_solutions.ipynb. Imported only when one of these exercises is checked.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from helpers.checks import plural
from helpers.gpt import GPTModel
from helpers.gpt2_tokenizer import ENDOFTEXT_ID
from helpers.teaching.exercises.registry import Wrong, exercise
from helpers.teaching.exercises.tools import as_number, call, describe, name_of


def _spam_classifier(model: Any, what: str = "`model`") -> nn.Module:
    """`model` if it is a GPT with a two-class output head (section 6.5); a `Wrong` otherwise."""
    if not isinstance(model, nn.Module) or not hasattr(model, "pos_emb") or not hasattr(model, "out_head"):
        raise Wrong(f"{what} should be the fine-tuned GPTModel, got {describe(model)}")
    head = model.out_head
    outputs = getattr(head, "out_features", getattr(getattr(head, "linear", None), "out_features", None))
    if outputs != 2:
        raise Wrong(f"{what}'s output head has {outputs} outputs; a spam classifier has 2: replace it as in "
                    "section 6.5")
    return model


def _fine_tuned(model: nn.Module) -> None:
    """A `Wrong` if no trainable parameter of `model` holds a gradient: the last training step leaves one (the book's
    loop resets the gradients at the start of each step), a model that was never trained has none."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    if not any(p.grad is not None for p in trainable):
        raise Wrong("`model` was never fine-tuned: none of its trainable parameters holds a gradient from a training "
                    "step. Train it with train_classifier_simple and section 6.7's settings, then measure its accuracy")


def _fraction(value: Any, what: str) -> float:
    """An accuracy as a fraction from 0 to 1; a `Wrong` for a percentage or anything else."""
    number = as_number(value, what)
    if 1 < number <= 100:
        raise Wrong(f"{what} = {number:g} looks like a percentage; give the fraction (0 to 1) that "
                    "calc_accuracy_loader returns")
    if not 0 <= number <= 1:
        raise Wrong(f"{what} = {number:g} is no accuracy: an accuracy lies between 0 and 1")
    return number


def _accuracy(model: nn.Module, batches: Any, position: int) -> float:
    """The fraction of messages whose class, read at token `position`, is the label (every batch, eval mode)."""
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    correct, seen = 0, 0
    with torch.no_grad():
        for inputs, labels in batches:
            predicted = model(inputs.to(device))[:, position, :].argmax(dim=-1)
            correct += (predicted == labels.to(device)).sum().item()
            seen += labels.shape[0]
    model.train(was_training)
    return correct / seen


def _test_batches(test_loader: Any) -> list[Any]:
    """The batches of the learner's test loader (a shuffling loader leaves the global random state as it was)."""
    with torch.random.fork_rng(devices=[]):
        batches = call("iterating over `test_loader`", list, test_loader)
    if not batches or not all(isinstance(b, (list, tuple)) and len(b) == 2 for b in batches):
        raise Wrong("`test_loader` should yield batches of (token ids, labels), like the test loader of section 6.3")
    return batches


def _check_test_accuracy(model: nn.Module, test_loader: Any, test_accuracy: Any, position: int = -1) -> float:
    """The model's accuracy on the whole test loader; a `Wrong` if the learner's number is another one."""
    given = _fraction(test_accuracy, "`test_accuracy`")
    batches = _test_batches(test_loader)
    expected = _accuracy(model, batches, position)
    if abs(given - expected) > 1e-6:
        other = _accuracy(model, batches, -1 if position == 0 else 0)
        if position == 0 and abs(given - other) < 1e-6:
            raise Wrong("`test_accuracy` is read at the last token; the exercise reads the class at the first: use "
                        "your first-token calc_accuracy_loader")
        raise Wrong(f"`test_accuracy` = {given:.4f} is not the model's accuracy on `test_loader`: compute it over "
                    "every batch of the test loader (no num_batches), after training")
    return expected


def _message_lengths(dataset: Any) -> list[int]:
    """The number of tokens of each message of a padded dataset (its ids without the padding at the end)."""
    lengths = []
    for ids in dataset.encoded_texts:
        ids = list(ids)
        while ids and ids[-1] == ENDOFTEXT_ID:
            ids.pop()
        lengths.append(len(ids))
    return lengths


@exercise("6.1", "09_classification_finetuning", "pad the messages to the full context length")
def _check_6_1(train_dataset: Any, model: Any, test_loader: Any, test_accuracy: Any) -> str:
    model = _spam_classifier(model)
    context = model.pos_emb.weight.shape[0]
    max_length = getattr(train_dataset, "max_length", None)
    if not isinstance(max_length, int) or not hasattr(train_dataset, "encoded_texts"):
        raise Wrong(f"`train_dataset` should be a SpamDataset of the training split, got {describe(train_dataset)}")
    lengths = _message_lengths(train_dataset)
    if max_length != context:
        if max_length == max(lengths):
            raise Wrong(f"`train_dataset` pads to {max_length} tokens, the longest training message, as in section "
                        f"6.3; the exercise pads to the model's context length, {context} tokens: which argument of "
                        "SpamDataset sets the length?")
        raise Wrong(f"`train_dataset` pads to {max_length} tokens, but the model's context length is {context}")
    first = call("train_dataset[0]", train_dataset.__getitem__, 0)
    if tuple(first[0].shape) != (context,):
        raise Wrong(f"train_dataset[0] holds {tuple(first[0].shape)} token ids, not {context}")
    batches = _test_batches(test_loader)
    if batches[0][0].shape[-1] != context:
        raise Wrong(f"the test loader's messages are {batches[0][0].shape[-1]} tokens long: pad the test set to the "
                    f"same {context} tokens (max_length=train_dataset.max_length)")
    _fine_tuned(model)
    accuracy = _check_test_accuracy(model, test_loader, test_accuracy)
    padding = 1 - sum(lengths) / (len(lengths) * context)
    return (f"every message is padded to {context} tokens, the whole context (the longest training message has "
            f"{max(lengths)}): {padding:.0%} of the training tokens are now padding, and each message's last position "
            f"lies far behind its last word. Test accuracy {accuracy:.2%}: compare it with section 6.7's, where the "
            "padding was as short as it could be.")


@exercise("6.2", "09_classification_finetuning", "fine-tune the whole model")
def _check_6_2(model: Any, optimizer: Any, test_loader: Any, test_accuracy: Any) -> str:
    model = _spam_classifier(model)
    named = list(model.named_parameters())
    total = sum(p.numel() for _, p in named)
    frozen = [(name, p) for name, p in named if not p.requires_grad]
    if frozen:
        count = sum(p.numel() for _, p in frozen)
        raise Wrong(f"{count:,} of the model's {total:,} parameters are still frozen (`{frozen[0][0]}` is one): make "
                    "every parameter trainable, not only the last block, the final norm and the head")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise Wrong(f"`optimizer` should be the AdamW optimizer that trained the model, got {describe(optimizer)}")
    held = {id(p) for group in optimizer.param_groups for p in group["params"]}
    missing = [name for name, p in named if id(p) not in held]
    if missing:
        raise Wrong(f"the optimizer does not hold `{missing[0]}` (nor {plural(len(missing) - 1, 'other parameter')}): "
                    "create it from this model's parameters()")
    never = [name for name, p in named if not optimizer.state.get(p)]
    if never:
        raise Wrong(f"`{never[0]}` (and {plural(len(never) - 1, 'other parameter')}) never took a training step: "
                    "set requires_grad = True before training, not after")
    accuracy = _check_test_accuracy(model, test_loader, test_accuracy)
    book = sum(p.numel() for part in (model.trf_blocks[-1], model.final_norm, model.out_head)
               for p in part.parameters())
    return (f"all {total:,} parameters were trained, {total / book:.0f} times as many as the book's recipe trains "
            f"({book:,}: the last block, the final norm and the head). Test accuracy {accuracy:.2%}: compare it with "
            "section 6.7's. Each step now computes gradients for every parameter, and AdamW keeps two more numbers "
            "for each: training everything pays most where the frozen layers know little, as random ones.")


def first_token_task() -> tuple[nn.Module, list[tuple[torch.Tensor, torch.Tensor]]]:
    """A small seeded classifier and three batches whose labels are its first-token predictions (so reading the
    first token is right for every message, and reading the last is not)."""
    cfg = {"vocab_size": 100, "context_length": 8, "emb_dim": 16, "n_heads": 2, "n_layers": 1, "drop_rate": 0.0,
           "qkv_bias": False}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(123)
        model = GPTModel(cfg).eval()
        model.out_head = nn.Linear(cfg["emb_dim"], 2)
        ids = torch.randint(0, cfg["vocab_size"], (12, 8))
    with torch.no_grad():
        labels = model(ids)[:, 0, :].argmax(dim=-1)
    return model, [(ids[i:i + 4], labels[i:i + 4]) for i in (0, 4, 8)]


@exercise("6.3", "09_classification_finetuning", "classify with the first token instead of the last")
def _check_6_3(calc_loss_batch: Any, calc_accuracy_loader: Any, model: Any, test_loader: Any,
               test_accuracy: Any) -> str:
    loss_name, accuracy_name = name_of(calc_loss_batch), name_of(calc_accuracy_loader)
    reference, batches = first_token_task()
    inputs, labels = batches[0]
    with torch.no_grad():
        logits = reference(inputs)  # (4, 8, 2)
        losses = {position: torch.nn.functional.cross_entropy(logits[:, position, :], labels).item()
                  for position in (0, -1)}
        loss = call(f"{loss_name}(input_batch, target_batch, model, device)", calc_loss_batch, inputs, labels,
                    reference, "cpu")
    loss = as_number(loss, f"the loss of {loss_name}")
    if abs(loss - losses[-1]) < 1e-5:
        raise Wrong(f"{loss_name} still reads the last token: which index of the token dimension is the "
                    "first token?")
    if abs(loss - losses[0]) > 1e-5:
        raise Wrong(f"{loss_name} gives {loss:.4f}, not the cross-entropy of the first token's scores "
                    "against the labels")
    accuracies = {position: _accuracy(reference, batches, position) for position in (0, -1)}
    given = as_number(call(f"{accuracy_name}(data_loader, model, device)", calc_accuracy_loader, batches, reference,
                           "cpu"), f"the accuracy of {accuracy_name}")
    if abs(given - accuracies[-1]) < 1e-9:
        raise Wrong(f"{accuracy_name} still reads the last token: read the class where the loss reads it")
    if abs(given - accuracies[0]) > 1e-9:
        raise Wrong(f"{accuracy_name} gives {given:.4f}, not the fraction of messages whose first-token "
                    "class is the label")
    model = _spam_classifier(model)
    _fine_tuned(model)
    accuracy = _check_test_accuracy(model, test_loader, test_accuracy, position=0)
    return (f"both functions read the first token. Test accuracy {accuracy:.2%}: under the causal mask the first "
            "position attends to nothing but the first token, so the class can depend on the message's first word "
            "alone (a word like 'FREE' or 'URGENT' still says a lot). Compare it with section 6.7's: the last token "
            "has seen the whole message.")
