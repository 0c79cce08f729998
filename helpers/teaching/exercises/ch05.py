"""Checks for the exercises of the book's chapter 5, pretraining on unlabeled data, asked in
notebooks/07_pretraining.ipynb: 5.1 and 5.2 (temperature and top-k sampling), 5.3 (deterministic settings of
generate), 5.4 (resume training from a checkpoint), 5.5 and 5.6 (OpenAI's GPT-2 weights, downloaded where there is
internet; `helpers.gpt2_weights.save_random_gpt2` makes a small random stand-in for trying them offline), and the
course's own 5.A (the learning-rate schedule of the book's appendix D).
Worked answers: notebooks/solutions/ch05_solutions.ipynb. Imported only when one of these exercises is checked.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from helpers.checks import plural
from helpers.datafiles import load_text
from helpers.generate import generate, generate_text_simple
from helpers.gpt import GPTModel
from helpers.gpt2_tokenizer import gpt2_encoding
from helpers.schedule import LRSchedule
from helpers.sliding_window import create_dataloader_v1
from helpers.teaching.exercises.registry import Wrong, exercise
from helpers.teaching.exercises.tools import as_mapping, as_number, as_whole, call, count_parameters, describe, name_of
from helpers.text import ENDOFTEXT, show_whitespace
from helpers.train import calc_loss_loader


def _sample_counts(probas: torch.Tensor, n: int = 1_000, seed: int = 123) -> torch.Tensor:
    """How often each id is drawn in `n` single draws from `probas` after seeding, as print_sampled_tokens does
    (the global random state is restored afterwards)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        draws = [torch.multinomial(probas, num_samples=1).item() for _ in range(n)]
    return torch.bincount(torch.tensor(draws), minlength=len(probas))


def _top_k_probas(logits: torch.Tensor, temperature: float, top_k: int | None) -> torch.Tensor:
    """softmax(logits / temperature) over the `top_k` largest logits (all of them for None)."""
    if top_k is not None:
        logits = logits.masked_fill(logits < torch.topk(logits, top_k).values[-1], -torch.inf)
    return torch.softmax(logits / temperature, dim=-1)


def _verdict_token_ids() -> list[int]:
    return gpt2_encoding().encode(load_text("the-verdict.txt"), allowed_special={ENDOFTEXT})


TEMPERATURES_5_1 = (1, 0.1, 5)


def _count_problem_5_1(count: Any, t: float, expected: int) -> str | None:
    """What is wrong with the learner's count of 'pizza' at temperature `t` (None when it is right)."""
    try:
        value = as_number(count, f"counts[{t}]")
    except Wrong as err:
        return str(err)
    if 0 < value < 1:
        return f"counts[{t}] = {value} looks like a fraction; give how many of the 1,000 draws are 'pizza'"
    if value != expected:
        return (f"at temperature {t}, 'pizza' is drawn another number of times than {value:g}: run "
                f"print_sampled_tokens on the probabilities at temperature {t} and read the 'pizza' line")
    return None


def _probability_problem_5_1(probability: Any, sampled_at_5: int, exact: Mapping[float, float]) -> str | None:
    """What is wrong with the learner's probability of 'pizza' at temperature 5 (None when it is right)."""
    try:
        given = as_number(probability, "`probability`")
    except Wrong as err:
        return str(err)
    if abs(given - sampled_at_5 / 1000) < 5e-5 and abs(given - exact[5]) > 5e-4:
        return (f"`probability` = {given:.4f} is the sampled frequency ({sampled_at_5} / 1,000), which changes with "
                "the seed; the exact probability is what the sampling draws from")
    if abs(given - exact[1]) < 5e-5:
        return f"`probability` = {given:.4g} is the probability at temperature 1; the question asks about temperature 5"
    if abs(given - exact[5]) > 5e-4:
        return (f"`probability` = {given:.4f} is not the probability of 'pizza' at temperature 5: compute it from "
                "next_token_logits, without sampling")
    return None


@exercise("5.1", "07_pretraining", "how often is 'pizza' sampled?")
def _check_5_1(counts: Any, probability: Any, logits: torch.Tensor, vocab: Mapping[str, int]) -> str:
    pizza = vocab["pizza"]
    counts = as_mapping(counts, "`counts`", list(TEMPERATURES_5_1))
    expected = {t: int(_sample_counts(torch.softmax(logits / t, dim=0))[pizza]) for t in TEMPERATURES_5_1}
    exact = {t: torch.softmax(logits / t, dim=0)[pizza].item() for t in TEMPERATURES_5_1}
    problems = [_count_problem_5_1(counts[t], t, expected[t]) for t in TEMPERATURES_5_1]
    problems.append(_probability_problem_5_1(probability, expected[5], exact))
    problems = [problem for problem in problems if problem]  # every wrong field at once
    if problems:
        raise Wrong("; ".join(problems))
    return (f"'pizza' is drawn {expected[1]} times at temperature 1, {expected[0.1]} at 0.1 and {expected[5]} at 5. "
            f"Its exact probability at temperature 5 is {exact[5]:.4f}, so {1000 * exact[5]:.0f} in 1,000 on average; "
            "reading it from the softmax is faster than sampling, and exact.")


SETTINGS_5_2 = {"T=0.1": (0.1, None), "T=1": (1.0, None), "T=5": (5.0, None), "T=5, top-k=3": (5.0, 3)}
TASKS_5_2 = {"a": "completing a line of code or answering a factual question",
             "b": "inventing names and plots for a fantasy story"}


@exercise("5.2", "07_pretraining", "temperature and top-k: how varied is the text?")
def _check_5_2(distinct: Any, predictable_task: Any, logits: torch.Tensor) -> str:
    distinct = as_mapping(distinct, "`distinct`", list(SETTINGS_5_2))
    expected = {name: int((_sample_counts(_top_k_probas(logits, t, k)) > 0).sum())
                for name, (t, k) in SETTINGS_5_2.items()}
    for name, (t, k) in SETTINGS_5_2.items():
        value = as_whole(distinct[name], f"distinct[{name!r}]")
        nonzero = int((_top_k_probas(logits, t, k) > 0).sum())
        if value != expected[name] and value == nonzero:
            raise Wrong(f"distinct[{name!r}] = {value}: that many words have a probability above zero, but how many "
                        "of them are actually drawn in 1,000 samples?")
        if value != expected[name]:
            raise Wrong(f"with {name}, another number of different words than {value} is drawn: count the lines of "
                        "print_sampled_tokens that are not 0")
    if predictable_task not in TASKS_5_2:
        raise Wrong(f"`predictable_task` should be one of {list(TASKS_5_2)}, got {describe(predictable_task)}")
    if predictable_task != "a":
        raise Wrong("a low temperature and a small top-k make the text predictable: which task wants predictable "
                    "text, and which one surprises?")
    shown = ", ".join(f"{name}: {n}" for name, n in expected.items())
    return (f"different words in 1,000 draws: {shown}. A higher temperature spreads the draws over more words; top-k "
            "caps them at k, whatever the temperature ('pizza' is never drawn with top-k 3). Predictable settings "
            f"suit {TASKS_5_2['a']}, varied ones {TASKS_5_2['b']}.")


@exercise("5.3", "07_pretraining", "settings that make generate deterministic")
def _check_5_3(settings: Any, generate: Any) -> str:
    if not isinstance(settings, (list, tuple)) or not settings:
        raise Wrong(f"`settings` should be a list of dicts like {{'temperature': ..., 'top_k': ...}}, got "
                    f"{describe(settings)}")
    cfg = {"vocab_size": 100, "context_length": 16, "emb_dim": 16, "n_heads": 2, "n_layers": 1, "drop_rate": 0.0,
           "qkv_bias": False}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(123)
        model = GPTModel(cfg).eval()
        prompt = torch.tensor([[1, 2, 3]])
        greedy = generate_text_simple(model, prompt, 8, cfg["context_length"])
        kinds = set()
        for setting in settings:
            if not isinstance(setting, Mapping) or set(setting) != {"temperature", "top_k"}:
                raise Wrong(f"each setting should be a dict with the keys 'temperature' and 'top_k', got "
                            f"{describe(setting)}")
            shown = f"temperature={setting['temperature']}, top_k={setting['top_k']}"
            outputs = []
            for seed in (1, 2, 3):
                torch.manual_seed(seed)
                outputs.append(call(f"{name_of(generate)}(..., {shown})", generate, model, prompt, max_new_tokens=8,
                                    context_size=cfg["context_length"], **setting))
            if not all(torch.equal(out, outputs[0]) for out in outputs):
                raise Wrong(f"{shown} is not deterministic: with different seeds it generated different tokens")
            if not torch.equal(outputs[0], greedy):
                raise Wrong(f"{shown} always gives the same tokens, but not the greedy ones")
            kinds.add("temperature 0" if setting["temperature"] == 0 else "top_k=1")
    if kinds == {"temperature 0"}:
        raise Wrong("every setting you list is deterministic, but there is a second way that keeps the temperature "
                    "above 0: what could top_k do?")
    if kinds == {"top_k=1"}:
        raise Wrong("every setting you list is deterministic, but there is a second way, whatever top_k is: what "
                    "does generate do at temperature 0?")
    return ("generate is greedy, and so deterministic, at temperature 0 (whatever top_k), or with top_k=1 (whatever "
            "the temperature): then only one token can be drawn. Every other setting samples, and the text changes "
            "with the seed.")


@exercise("5.4", "07_pretraining", "resume training from a checkpoint")
def _check_5_4(resume: Any, checkpoint: Path, train_loader: Any) -> str:
    saved = torch.load(checkpoint, weights_only=True, map_location="cpu")  # saved from any device
    saved_step = max((int(s["step"]) for s in saved["optimizer_state_dict"]["state"].values()), default=0)
    result = call(f"{name_of(resume)}(checkpoint)", resume, checkpoint)
    if not (isinstance(result, tuple) and len(result) == 2 and isinstance(result[0], nn.Module)
            and isinstance(result[1], torch.optim.Optimizer)):
        raise Wrong(f"{name_of(resume)} should return (model, optimizer), got {describe(result)}")
    model, optimizer = result
    params = {id(p) for group in optimizer.param_groups for p in group["params"]}
    if params != {id(p) for p in model.parameters()}:
        raise Wrong("the optimizer does not update the returned model's parameters: create it from the new model")
    steps = max((int(s["step"]) for s in optimizer.state.values() if "step" in s), default=0)
    per_epoch = len(train_loader)
    if steps == per_epoch and saved_step:
        raise Wrong(f"the optimizer's step count is {steps}, one epoch counted from 0: the checkpoint's optimizer "
                    f"state (step {saved_step}) was not loaded")
    if steps == saved_step:
        raise Wrong("the optimizer has taken no step since the checkpoint: train one more epoch")
    if steps - saved_step != per_epoch:
        raise Wrong(f"the optimizer took {steps - saved_step} steps after the checkpoint's {saved_step}; one epoch of "
                    f"train_loader is {per_epoch}")
    # A token that never occurs in the text gets no gradient, so its embedding row only shrinks by AdamW's weight
    # decay, step after step: from the saved weights, it must now be saved_row * (1 - lr * weight_decay) ** steps.
    group = next(g for g in optimizer.param_groups if any(p is model.tok_emb.weight for p in g["params"]))
    factor = (1 - group["lr"] * group["weight_decay"]) ** per_epoch
    unseen = torch.ones(model.tok_emb.weight.shape[0], dtype=torch.bool)
    unseen[torch.tensor(sorted(set(_verdict_token_ids())))] = False
    before = saved["model_state_dict"]["tok_emb.weight"][unseen]
    if not torch.allclose(model.tok_emb.weight.detach().cpu()[unseen], before * factor, rtol=1e-4, atol=1e-6):
        raise Wrong("the model did not continue from the saved weights (its embedding rows of tokens that never occur "
                    "in the text are not the saved ones, shrunk by weight decay): load the saved model state")
    return (f"the optimizer went on from step {saved_step} to {steps} (one epoch of {per_epoch} steps), and the model "
            "from the saved weights: the embedding rows of tokens that never occur in the text only shrank by "
            f"AdamW's weight decay, by a factor {factor:.4f} in {per_epoch} steps.")


def _verdict_loaders(context_length: int = 256) -> tuple[Any, Any]:
    """The train and validation loaders of the book's section 5.1.3 (90/10 split, batch 2, stride = context)."""
    text = load_text("the-verdict.txt")
    split = int(0.9 * len(text))
    common = {"batch_size": 2, "max_length": context_length, "stride": context_length, "shuffle": False}
    return (create_dataloader_v1(text[:split], drop_last=True, **common),
            create_dataloader_v1(text[split:], drop_last=False, **common))


def _describe_model(model: nn.Module) -> str:
    cfg = getattr(model, "cfg", {})
    layers = plural(cfg.get("n_layers", 0), "layer")
    return f"{count_parameters(model):,} parameters, emb_dim {cfg.get('emb_dim', '?')}, {layers}"


@exercise("5.5", "07_pretraining", "the losses of OpenAI's GPT-2 on The Verdict")
def _check_5_5(model: Any, train_loss: Any, val_loss: Any) -> str:
    if not isinstance(model, GPTModel):
        raise Wrong(f"`model` should be the GPTModel of load_pretrained_gpt2, got {describe(model)}")
    train_loader, val_loader = _verdict_loaders()
    was_training = model.training
    model.eval()
    device = model.tok_emb.weight.device  # wherever the learner put the model (cpu, cuda, mps)
    with torch.no_grad():
        expected = {"train_loss": calc_loss_loader(train_loader, model, device),
                    "val_loss": calc_loss_loader(val_loader, model, device)}
    model.train(was_training)
    given = {"train_loss": as_number(train_loss, "`train_loss`"), "val_loss": as_number(val_loss, "`val_loss`")}
    close = {name: abs(given[name] - expected[name]) < 6e-3 for name in given}
    if not any(close.values()) and all(abs(given[a] - expected[b]) < 6e-3 for a, b in
                                      (("train_loss", "val_loss"), ("val_loss", "train_loss"))):
        raise Wrong("your two losses are swapped")
    for name in ("train_loss", "val_loss"):
        if close[name]:
            continue
        if given[name] > 0 and abs(math.log(given[name]) - expected[name]) < 6e-3:
            raise Wrong(f"`{name}` = {given[name]:.2f} is the perplexity, exp(loss); give the loss")
        if abs(given[name] - expected[name]) < 0.3:
            raise Wrong(f"`{name}` is close but not equal: was the model in eval mode (dropout off), and the loss "
                        "averaged over every batch of the loader?")
        raise Wrong(f"`{name}` is not the model's loss on the {'training' if name == 'train_loss' else 'validation'} "
                    "loader of section 5.1.3 (context 256, batch 2, stride 256)")
    note = (" These are the losses of an untrained model (a uniform guess scores ln(50257) = 10.8): with OpenAI's "
            "weights they are far lower." if expected["train_loss"] > 9 else "")
    return (f"training loss {expected['train_loss']:.3f}, validation loss {expected['val_loss']:.3f} for this model "
            f"({_describe_model(model)}).{note}")


PROMPT_5_6 = "Every effort moves you"
NEW_TOKENS_5_6 = 25


@exercise("5.6", "07_pretraining", "GPT-2 models of other sizes")
def _check_5_6(models: Any, texts: Any) -> str:
    if not isinstance(models, Mapping) or len(models) < 2:
        raise Wrong(f"`models` should be a dict of at least two models by name, got {describe(models)}")
    texts = as_mapping(texts, "`texts`", list(models))
    tokenizer = gpt2_encoding()
    prompt = torch.tensor([tokenizer.encode(PROMPT_5_6)])
    greedy = {}
    for name, model in models.items():
        if not isinstance(model, GPTModel):
            raise Wrong(f"models[{name!r}] should be a GPTModel (from load_pretrained_gpt2), got {describe(model)}")
        was_training = model.training
        idx = prompt.to(model.tok_emb.weight.device)  # wherever the learner put the model
        out = generate(model.eval(), idx, NEW_TOKENS_5_6, model.cfg["context_length"])
        model.train(was_training)
        greedy[name] = tokenizer.decode(out[0].tolist())
    sizes = {name: count_parameters(model) for name, model in models.items()}
    if len(set(sizes.values())) < len(sizes):
        raise Wrong(f"some of your models have the same size ({', '.join(f'{n}: {s:,}' for n, s in sizes.items())}): "
                    "compare models of different sizes")
    for name in models:
        if not isinstance(texts[name], str):
            raise Wrong(f"texts[{name!r}] should be the generated text, got {describe(texts[name])}")
        if texts[name] != greedy[name]:
            other = [n for n in models if n != name and texts[name] == greedy[n]]
            if other:
                raise Wrong(f"texts[{name!r}] is what {other[0]!r} generates")
            raise Wrong(f"texts[{name!r}] is not what models[{name!r}] generates greedily (temperature 0) in "
                        f"{NEW_TOKENS_5_6} new tokens from {PROMPT_5_6!r}")
    lines = [f"  {name} ({_describe_model(models[name])}):\n    \"{show_whitespace(texts[name])}\""
             for name in sorted(models, key=sizes.get)]
    return "each text is its model's greedy continuation; side by side, smallest first:\n" + "\n".join(lines)


# The book's appendix D.2 schedule: 15 epochs of 9 batches, 20% warmup from 0.0001 to 0.01, cosine decay to 0.00001.
SCHEDULE_5_A = LRSchedule(peak_lr=0.01, total_steps=135, warmup_steps=27, initial_lr=0.0001, min_lr=0.00001)


@exercise("5.A", "07_pretraining", "when does the learning rate fall below half its peak?")
def _check_5_a(first_below_half: Any, steps_above_half: Any) -> str:
    rates, half, warmup = SCHEDULE_5_A.rates(), SCHEDULE_5_A.peak_lr / 2, SCHEDULE_5_A.warmup_steps
    first = next(step for step in range(warmup, len(rates)) if rates[step] < half)
    above = [step for step, rate in enumerate(rates) if rate > half]
    given = as_whole(first_below_half, "`first_below_half`")
    if given < warmup:
        raise Wrong(f"step {given} is in the warmup, where the rate is still rising; the question asks when it falls "
                    f"below half the peak after the peak (step {warmup})")
    if given == first - 1:
        raise Wrong(f"at step {given} the cosine is exactly halfway, but the rate is {rates[given]:.6f}, still above "
                    f"half the peak ({half:g}): the decay ends at min_lr, not at 0")
    if given == first + 1:
        raise Wrong(f"step {given} is below half the peak, but it is not the first such step (steps count from 0, as "
                    "global_step does)")
    if given != first:
        where = f"its rate is {rates[given]:.6f}" if given < len(rates) else f"the schedule has only {len(rates)} steps"
        raise Wrong(f"not step {given}: {where}; compare the rates around it with half the peak, {half:g}")
    count = as_whole(steps_above_half, "`steps_above_half`")
    after_peak = sum(rate > half for rate in rates[warmup:])
    if count == after_peak:
        raise Wrong(f"{count} counts the steps from the peak on only; on its way up the warmup passes half the peak "
                    "too")
    if count != len(above):
        raise Wrong(f"another number of steps than {count} has a rate above half the peak ({half:g}): count them over "
                    f"all {len(rates)} steps, 0 to {len(rates) - 1}")
    return (f"the rate first falls below half the peak at step {first} ({rates[first]:.6f}); at step {first - 1}, "
            f"where the cosine is exactly halfway, min_lr still lifts it to {rates[first - 1]:.6f}. {len(above)} of "
            f"the {len(rates)} steps run above half the peak: steps {above[0]} to {above[-1]}, "
            f"{warmup - above[0]} of them in the warmup.")
