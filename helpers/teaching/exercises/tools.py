"""Shared tools for the exercise checkers of ch01.py ... ch08.py: run the learner's code (`call`), describe a value
for a message, read an answer as a number, a whole number or a dict, count a module's parameters, build a module on
the meta device. Used by every notebook with exercises, 01_overview to 10_instruction_finetuning."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch
from torch import nn

from helpers.teaching.exercises.registry import NotAnswered, Wrong

__all__ = ["as_mapping", "as_number", "as_whole", "call", "count_parameters", "describe", "name_of", "on_meta"]


def call(what: str, function: Callable[..., Any], *args: Any, hints: Mapping[str, str] | None = None,
         **kwargs: Any) -> Any:
    """Run the learner's code. A NotImplementedError means "not answered"; any other error becomes a `Wrong`
    that quotes it, with the hint of `hints` whose key occurs in the error message (if any)."""
    try:
        return function(*args, **kwargs)
    except NotImplementedError:
        raise NotAnswered(f"{what} still raises NotImplementedError: replace that line with your code, then run "
                          "that cell and this one again.") from None
    except Exception as err:  # the learner's code may raise anything: report it as a hint
        text = str(err).strip().splitlines()[0] if str(err).strip() else ""
        hint = next((h for key, h in (hints or {}).items() if key in f"{type(err).__name__}: {text}"), "")
        raise Wrong(f"{what} raised {type(err).__name__}: {text}" + (f" ({hint})" if hint else "")) from None


def name_of(function: Any) -> str:
    """The name of the learner's function or class, for messages."""
    return getattr(function, "__name__", type(function).__name__)


def describe(value: Any) -> str:
    """A short description of a value for a message (never a repr with a memory address)."""
    if isinstance(value, (bool, int, float, str)) or value is None:
        return repr(value)
    if isinstance(value, torch.Tensor):
        return f"a tensor of shape {tuple(value.shape)}"
    return f"a {type(value).__name__}"


def as_number(value: Any, what: str) -> float:
    """`value` as a float (a one-element tensor counts); a `Wrong` if it is no number."""
    if isinstance(value, torch.Tensor) and value.numel() == 1:
        value = value.item()
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value):
        raise Wrong(f"{what} should be a number, got {describe(value)}")
    return float(value)


def as_whole(value: Any, what: str) -> int:
    """`value` as an int; a `Wrong` if it is no whole number."""
    number = as_number(value, what)
    if number != int(number):
        raise Wrong(f"{what} should be a whole number, got {number}")
    return int(number)


def as_mapping(value: Any, what: str, keys: list[Any]) -> dict[Any, Any]:
    """`value` as a dict with exactly `keys` (numbers compare by value: 5 and 5.0 are the same key)."""
    if not isinstance(value, Mapping):
        raise Wrong(f"{what} should be a dict with the keys {keys}, got {describe(value)}")
    out = {}
    for key in keys:
        found = [k for k in value if k == key]
        if not found:
            raise Wrong(f"{what} has no entry for {key!r}: it needs one for each of {keys}")
        out[key] = value[found[0]]
    extra = [k for k in value if k not in keys]
    if extra:
        raise Wrong(f"{what} has entries {extra} that the exercise does not ask for (the keys are {keys})")
    return out


def count_parameters(module: nn.Module) -> int:
    """The number of parameters of `module` (its buffers, such as a causal mask, not included)."""
    return sum(p.numel() for p in module.parameters())


def on_meta(build: Callable[[], nn.Module]) -> nn.Module:
    """Build a module on the meta device: every shape, no memory, no random numbers."""
    with torch.device("meta"):
        return build()
