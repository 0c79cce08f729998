"""The input checks every module shares, and the messages they raise.

No notebook builds these: they are what the final versions in `helpers` add to the learner's code (clear errors on
bad input). Each check raises the natural exception type (`TypeError` for a value of the wrong kind,
`ValueError` for one out of range) with a message that names the argument, the value and what is allowed.
`plural` writes a count with its noun for those messages. The "bad input" cells of every notebook, from
notebooks/02_text_and_tokens.ipynb on, show these messages.
"""

from __future__ import annotations

import numbers
import operator
from collections.abc import Mapping

import torch

__all__ = [
    "ShortTraceback",
    "as_token_id",
    "check_flag",
    "check_int",
    "check_state_dict",
    "check_text",
    "plural",
]


def plural(count: int, noun: str, plural_noun: str | None = None) -> str:
    """`count` and `noun`, the noun in the plural unless count is 1: "1 window", "2 windows", "3 batches".

    The plural adds "es" after s, x, z, ch and sh, else "s"; pass `plural_noun` for any other form.
    """
    if count == 1:
        return f"{count} {noun}"
    if plural_noun is None:
        plural_noun = noun + ("es" if noun.endswith(("s", "x", "z", "ch", "sh")) else "s")
    return f"{count} {plural_noun}"


def check_int(
    value: object, name: str, *, minimum: int | None = 1, allow_none: bool = False, why: str = ""
) -> int | None:
    """`value` as an int if it is a whole number >= `minimum` (or None when `allow_none`), else raise naming `name`.

    `True` and `2.0` are refused: a count is an `int` (numpy and torch integers count too); `minimum=None` checks the
    type only. `why`, when given, is added in brackets after the rule, e.g. "rank must be a whole number >= 1 (the
    inner size of A and B), got 0".
    """
    if value is None and allow_none:
        return None
    rule = "a whole number" + (f" >= {minimum}" if minimum is not None else "")
    rule += (" or None" if allow_none else "") + (f" ({why})" if why else "")
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be {rule}, got {value!r} ({type(value).__name__})")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be {rule}, got {value!r}")
    return int(value)


def check_flag(value: object, name: str) -> bool:
    """`value` if it is True or False, else a `TypeError` naming `name` (1 and "yes" are not flags)."""
    if not isinstance(value, bool):
        raise TypeError(f"{name} must be True or False, got {value!r}")
    return value


def check_text(value: object, name: str = "text") -> str:
    """`value` if it is a `str`, else a `TypeError` naming `name`."""
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    return value


def as_token_id(value: object) -> int:
    """An integer token id from an int-like value (int, numpy or 0-d torch integer); `TypeError` otherwise."""
    if isinstance(value, (bool, float, str, bytes)):
        raise TypeError(f"token ids must be integers, got {type(value).__name__} {value!r}")
    try:
        return operator.index(value)
    except TypeError:
        raise TypeError(f"token ids must be integers, got {type(value).__name__} {value!r}") from None


def check_state_dict(
    given: Mapping[str, torch.Tensor], expected: Mapping[str, torch.Size | tuple[int, ...]], what: str
) -> None:
    """Raise a `ValueError` listing every missing, unexpected and mis-shaped key of `given` against `expected`."""
    missing = [key for key in expected if key not in given]
    unexpected = [key for key in given if key not in expected]
    misshaped = [
        f"{key}: got {tuple(given[key].shape)}, expected {tuple(expected[key])}"
        for key in expected
        if key in given and tuple(given[key].shape) != tuple(expected[key])
    ]
    if missing or unexpected or misshaped:
        problems = [
            f"{title} ({len(keys)}): {keys}" for title, keys in
            [("missing keys", missing), ("unexpected keys", unexpected), ("mis-shaped keys", misshaped)] if keys
        ]
        raise ValueError(f"{what} does not fit; nothing was loaded. " + "; ".join(problems))


class ShortTraceback:
    """Mixin for errors whose message says everything: IPython and Jupyter show the message without the frames.

    For errors raised by a set-up step (missing data, missing packages), where a stack of library frames would
    only hide the one line a learner needs.
    """

    def _render_traceback_(self) -> list[str]:
        return [f"\x1b[0;31m{type(self).__name__}\x1b[0m: {self}"]
