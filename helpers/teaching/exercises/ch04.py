"""Checks for the exercises of the book's chapter 4, implementing a GPT model, asked in notebooks/06_gpt_model.ipynb:
4.1 (parameters of attention and feed-forward), 4.2 (the larger GPT-2 models), 4.3 (separate dropout rates), and the
course's 4.A (tokens through the model, with and without a KV cache).
Worked answers: notebooks/solutions/ch04_solutions.ipynb. Imported only when one of these exercises is checked.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from helpers.generate import generate
from helpers.gpt import GPT2_SIZES, GPT_CONFIG_124M, GPTModel, TransformerBlock, check_config
from helpers.teaching.exercises.registry import Wrong, exercise
from helpers.teaching.exercises.tools import (
    as_mapping,
    as_number,
    as_whole,
    call,
    count_parameters,
    describe,
    name_of,
    on_meta,
)


@exercise("4.1", "06_gpt_model", "parameters of the attention and feed-forward modules")
def _check_4_1(attention: Any, feed_forward: Any) -> str:
    block = on_meta(lambda: TransformerBlock(GPT_CONFIG_124M))
    expected = {"attention": count_parameters(block.att), "feed_forward": count_parameters(block.ff)}
    weights = {"attention": sum(p.numel() for n, p in block.att.named_parameters() if n.endswith("weight")),
               "feed_forward": sum(p.numel() for n, p in block.ff.named_parameters() if n.endswith("weight"))}
    given = {"attention": as_whole(attention, "`attention`"), "feed_forward": as_whole(feed_forward, "`feed_forward`")}
    if given == {"attention": expected["feed_forward"], "feed_forward": expected["attention"]}:
        raise Wrong("your two counts are swapped: which module has the wider matrices?")
    problems = []  # every wrong count at once
    for name in ("attention", "feed_forward"):
        if given[name] == weights[name]:
            problems.append(f"`{name}` counts the weight matrices only: the module's biases are parameters too")
        elif name == "attention" and given[name] == expected[name] + 1024 * 1024:
            problems.append("`attention` also counts the causal mask: a buffer, not a parameter")
        elif given[name] != expected[name]:
            problems.append(f"`{name}` is {given[name]:,}, not the number of parameters of the block's "
                            f"{'att' if name == 'attention' else 'ff'} module")
    if problems:
        raise Wrong("; ".join(problems))
    ratio = expected["feed_forward"] / expected["attention"]
    return (f"attention {expected['attention']:,}, feed-forward {expected['feed_forward']:,}: the feed-forward module "
            f"holds {ratio:.1f} times as many. Its two 768 × 3,072 matrices have 4,718,592 weights, attention's four "
            "768 × 768 matrices 2,359,296.")


GPT2_LARGER = {"gpt2-medium": "gpt2-medium (355M)", "gpt2-large": "gpt2-large (774M)", "gpt2-xl": "gpt2-xl (1558M)"}


@exercise("4.2", "06_gpt_model", "the larger GPT-2 models: configurations, parameters, memory")
def _check_4_2(configs: Any, params: Any, mib: Any) -> str:
    names = list(GPT2_LARGER)
    configs = as_mapping(configs, "`configs`", names)
    params = as_mapping(params, "`params`", names)
    mib = as_mapping(mib, "`mib`", names)
    lines = []
    for name in names:
        size = GPT2_SIZES[GPT2_LARGER[name]]
        cfg = configs[name]
        if not isinstance(cfg, Mapping):
            raise Wrong(f"configs[{name!r}] should be a config dict, got {describe(cfg)}")
        for key, value in size.items():
            if key in cfg and cfg[key] != value:
                raise Wrong(f"configs[{name!r}] has {key}={cfg[key]}, but {name} has {key}={value}")
        try:
            check_config(cfg)
        except ValueError as err:
            raise Wrong(f"configs[{name!r}]: {err}") from None
        others = [key for key in GPT_CONFIG_124M if key not in size and cfg[key] != GPT_CONFIG_124M[key]]
        if others:
            raise Wrong(f"configs[{name!r}] changes {others}: only emb_dim, n_layers and n_heads differ from "
                        "GPT_CONFIG_124M")
        model = on_meta(lambda cfg=cfg: GPTModel(cfg))
        total = count_parameters(model)
        tied = total - model.out_head.weight.numel()
        count = as_whole(params[name], f"params[{name!r}]")
        if count == tied:
            raise Wrong(f"params[{name!r}] = {count:,} leaves out the output head (the count with weight tying); "
                        "count every parameter of the GPTModel")
        if count != total:
            raise Wrong(f"params[{name!r}] = {count:,} is not the number of parameters of GPTModel(configs[{name!r}])")
        size_mib = total * 4 / 1024**2
        given_mib = as_number(mib[name], f"mib[{name!r}]")
        if abs(given_mib - total * 4 / 1e6) < 0.01:
            raise Wrong(f"mib[{name!r}] = {given_mib:.2f} is in MB (10^6 bytes); a MiB is 1024 × 1024 bytes")
        if abs(given_mib - total / 1024**2) < 0.01:
            raise Wrong(f"mib[{name!r}] = {given_mib:.2f} counts one byte per parameter; float32 takes 4")
        if abs(given_mib - size_mib) > 0.01:
            raise Wrong(f"mib[{name!r}] = {given_mib:.2f} is not the float32 size of {total:,} parameters in MiB")
        lines.append(f"  {name:12s} {total:>14,} parameters {tied:>14,} with weight tying {size_mib:9.2f} MiB")
    return "the three larger GPT-2 models, without and with weight tying, and their float32 size:\n" + "\n".join(lines)


DROPOUT_RATES = ("drop_rate_emb", "drop_rate_shortcut", "drop_rate_attn")
DROPOUT_PLACES = {"drop_rate_emb": "the embeddings' dropout (drop_emb)",
                  "drop_rate_shortcut": "a block's shortcut dropout (trf_blocks[i].drop_shortcut)",
                  "drop_rate_attn": "a block's attention dropout (trf_blocks[i].att.dropout)"}


@exercise("4.3", "06_gpt_model", "separate dropout rates for embeddings, shortcuts and attention")
def _check_4_3(model_class: Any) -> str:
    base = {"vocab_size": 64, "context_length": 8, "emb_dim": 16, "n_heads": 2, "n_layers": 2, "qkv_bias": False}
    rates = {"drop_rate_emb": 0.1, "drop_rate_shortcut": 0.2, "drop_rate_attn": 0.3}
    hints = {"KeyError: 'drop_rate'": "the config has three rates and no 'drop_rate': which line still reads it?"}
    build = f"{name_of(model_class)}(cfg)"
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(123)
        model = call(build, model_class, {**base, **rates}, hints=hints)
        ids = torch.randint(0, base["vocab_size"], (2, base["context_length"]))
        reference = GPTModel({**base, "drop_rate": 0.0}).eval()
    if not isinstance(model, nn.Module):
        raise Wrong(f"{build} should be a module, got {describe(model)}")
    try:
        reference.load_state_dict(model.state_dict())
    except RuntimeError:
        raise Wrong("your model's parameters are not GPTModel's (their names or shapes differ): keep the book's "
                    "classes as they are and change only the dropout rates") from None
    with torch.no_grad():
        logits = call("your model, in eval mode", model.eval(), ids)
        if not torch.allclose(logits, reference(ids), atol=1e-5):
            raise Wrong("in eval mode (dropout off) your model computes other logits than GPTModel with the same "
                        "weights: only the dropout rates should change")
    places = {"drop_rate_emb": [("drop_emb", getattr(model, "drop_emb", None))]}
    blocks = getattr(model, "trf_blocks", [])
    places["drop_rate_shortcut"] = [(f"trf_blocks[{i}].drop_shortcut", getattr(b, "drop_shortcut", None))
                                    for i, b in enumerate(blocks)]
    places["drop_rate_attn"] = [(f"trf_blocks[{i}].att.dropout", getattr(getattr(b, "att", None), "dropout", None))
                                for i, b in enumerate(blocks)]
    for rate, found in places.items():
        for path, module in found:
            if not isinstance(module, nn.Dropout):
                raise Wrong(f"your model has no dropout module {path}: keep the book's names (drop_emb, "
                            "drop_shortcut, att.dropout), so that the rates can be checked")
            if module.p != rates[rate]:
                source = [r for r in DROPOUT_RATES if rates[r] == module.p]
                what = f"the {source[0]} of the config" if source else "no rate of the config"
                raise Wrong(f"{path} has p={module.p}, {what}; {DROPOUT_PLACES[rate]} should use {rate}")
    for rate in DROPOUT_RATES:  # each rate alone must make training-mode outputs random
        if not _dropout_acts(model_class, {**base, **dict.fromkeys(DROPOUT_RATES, 0.0), rate: 0.5}, ids):
            raise Wrong(f"with only {rate}=0.5, the training-mode outputs are the same from call to call: is "
                        f"{DROPOUT_PLACES[rate]} applied in forward?")
    if _dropout_acts(model_class, {**base, **dict.fromkeys(DROPOUT_RATES, 0.0)}, ids):
        raise Wrong("with all three rates 0, the training-mode outputs still change from call to call")
    return ("each dropout layer takes its own rate: drop_emb the embeddings' rate, each block's drop_shortcut the "
            "shortcut rate and its attention the attention rate; in eval mode the model is the book's GPTModel.")


def _dropout_acts(model_class: Callable[..., nn.Module], cfg: dict[str, Any], ids: torch.Tensor) -> bool:
    """Whether two training-mode forward passes of model_class(cfg) differ (dropout makes them random)."""
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(123)
        model = call(f"{name_of(model_class)}(cfg)", model_class, cfg).train()
        return not torch.equal(model(ids), model(ids))


@exercise("4.A", "06_gpt_model", "tokens through the model, with and without a KV cache")
def _check_4_a(without_cache: Any, with_cache: Any) -> str:
    prompt_tokens, new_tokens = 4, 100
    cfg = {"vocab_size": 32, "context_length": 128, "emb_dim": 8, "n_heads": 2, "n_layers": 1, "drop_rate": 0.0,
           "qkv_bias": False}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(123)
        model = GPTModel(cfg).eval()
    fed: list[int] = []
    hook = model.register_forward_pre_hook(lambda module, args: fed.append(args[0].shape[1]))
    expected = {}
    prompt = torch.zeros(1, prompt_tokens, dtype=torch.long)
    for use_cache in (False, True):
        fed.clear()
        generate(model, prompt, new_tokens, cfg["context_length"], use_cache=use_cache)
        expected[use_cache] = sum(fed)
    hook.remove()
    given = {False: as_whole(without_cache, "`without_cache`"), True: as_whole(with_cache, "`with_cache`")}
    final = prompt_tokens + new_tokens
    if given[False] == new_tokens * final:
        raise Wrong(f"{given[False]:,} feeds all {final} tokens at every step; at the first step the text is only the "
                    "prompt, and it grows by one token per step")
    if given[False] == expected[False] + new_tokens:
        raise Wrong(f"{given[False]:,} is one token per step too many: how long is the text at the first step?")
    if given[False] != expected[False]:
        raise Wrong(f"without the cache, the steps feed another number of positions than {given[False]:,} in all: "
                    "write down how many tokens each step feeds, then add them up")
    if given[True] == final:
        raise Wrong(f"{given[True]} counts the last new token too: it comes out of the last step, it is never fed in")
    if given[True] == new_tokens:
        raise Wrong(f"{given[True]} counts one position per step; how many does the first step feed?")
    if given[True] != expected[True]:
        raise Wrong(f"with the cache, the steps feed another number of positions than {given[True]:,} in all: the "
                    "first step feeds the prompt, every later one only the newest token")
    return (f"{expected[False]:,} positions without the cache, {expected[True]:,} with it, about "
            f"{expected[False] / expected[True]:.0f} times fewer: without the cache the work grows with the square "
            "of the text's length, with it linearly (only the attention over the cached keys still grows).")
