"""The exercise registry: `Exercise` and the `exercise` decorator, the three verdicts (`Result`), `evaluate`, `check`.

Every notebook from 01_overview to 10_instruction_finetuning calls `check` on the learner's answer; the
checkers live in one module per chapter (ch01.py ... ch08.py). A chapter's module is imported only when one of
its exercises is checked, so the first check of notebook 02 does not load the training stack.

`check("3.2", mha=mha_3_2, batch=batch)` prints one of three verdicts: passed (with what the answer shows), not right
yet (what is wrong, as a hint that does not give the answer away), or not answered yet (an argument is still the
starter's `...` or None, or the learner's function still raises NotImplementedError). It never raises for a wrong
answer, so a notebook whose exercises are unanswered runs clean. `evaluate` returns the same verdict as a `Result`
(for tests). Checks test behaviour: shapes, values on fixed seeds, equality with a reference computed from the final
components in `helpers`.

Adding exercises (chapter 6's 6.1-6.3 were added so): write one function per exercise in its chapter's module (a new
chapter gets a new chNN.py and an entry in CHAPTER_MODULES), decorated with
`@exercise("6.1", "09_classification_finetuning", "a short title")`. It takes the notebook's arguments by name,
returns the text shown when the answer passes, and raises `Wrong("...")` otherwise. Call the learner's code through
`tools.call`, which turns its errors into a `Wrong` quoting the error (and a NotImplementedError into "not
answered"). Then add its tests to tests/test_exercises.py (the solution passes, two typical mistakes fail with their
message, the starter is "not answered yet"). That file also checks, for every registered exercise, that its notebook
has one `check("6.1", ...)` cell, stored unanswered, and that notebooks/solutions/ch06_solutions.ipynb (the chapter's
number) has one whose stored output is the pass.
"""

from __future__ import annotations

import importlib
import inspect
import sys
import textwrap
import traceback
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

__all__ = ["CHAPTER_MODULES", "Exercise", "NotAnswered", "Result", "Wrong", "all_exercises", "check", "evaluate",
           "exercise"]

# The module of each chapter's exercises, by the chapter number that starts an exercise's number ("3" for "3.2").
# Chapter 7 is the book's (notebook 10_instruction_finetuning); chapter 8 is 08_llama's, the course's own.
CHAPTER_MODULES = {str(chapter): f"{__package__}.ch{chapter:02d}" for chapter in range(1, 9)}


class Wrong(Exception):  # noqa: N818 (a verdict on an answer, not a program error)
    """Raised by a checker when an answer does not pass; its message says what is wrong, not what is right."""


class NotAnswered(Exception):  # noqa: N818 (a verdict, as Wrong)
    """Raised by a checker when (part of) an answer is still the starter's placeholder."""


@dataclass(frozen=True)
class Exercise:
    """One exercise: its number ("3.2" for the book's, "3.A" for the course's own), notebook, title and checker."""

    number: str
    notebook: str
    title: str
    checker: Callable[..., str]


_REGISTERED: dict[str, Exercise] = {}  # filled as the chapter modules are imported


def exercise(number: str, notebook: str, title: str) -> Callable[[Callable[..., str]], Callable[..., str]]:
    """Register the decorated function as the checker of exercise `number`."""

    def register(checker: Callable[..., str]) -> Callable[..., str]:
        if number in _REGISTERED:
            raise ValueError(f"exercise {number} is registered twice")
        _REGISTERED[number] = Exercise(number, notebook, title, checker)
        return checker

    return register


def all_exercises() -> dict[str, Exercise]:
    """Every exercise by number, in book order (this imports every chapter's module)."""
    for module in CHAPTER_MODULES.values():
        importlib.import_module(module)
    chapters = list(CHAPTER_MODULES)
    return dict(sorted(_REGISTERED.items(), key=lambda item: chapters.index(item[0].split(".")[0])))


def _find(number: str) -> Exercise:
    """Exercise `number`, importing its chapter's module on first use; a KeyError naming the exercises if none."""
    if number not in _REGISTERED:
        module = CHAPTER_MODULES.get(number.split(".")[0]) if isinstance(number, str) else None
        if module is not None:
            importlib.import_module(module)
    if number not in _REGISTERED:
        raise KeyError(f"there is no exercise {number!r}; the exercises are {', '.join(all_exercises())}")
    return _REGISTERED[number]


@dataclass(frozen=True)
class Result:
    """The verdict on one answer: status "passed", "wrong" or "unanswered", and the message for the learner."""

    number: str
    status: str
    message: str

    @property
    def passed(self) -> bool:
        return self.status == "passed"

    def __str__(self) -> str:
        head = {"passed": "✓ Exercise {} passed:", "wrong": "✗ Exercise {}, not right yet:",
                "unanswered": "○ Exercise {}, not answered yet:"}[self.status].format(self.number)
        return _wrap(f"{head} {self.message}")


def _wrap(text: str, width: int = 100) -> str:
    """Wrap each line of `text` to `width` columns; lines starting with two spaces (tables) stay as they are."""
    return "\n".join(
        line if line.startswith("  ") else textwrap.fill(line, width, break_on_hyphens=False)
        for line in text.splitlines()
    )


def _placeholders(value: Any, name: str) -> Iterator[str]:
    """The names of the parts of an answer that are still placeholders: `...` anywhere, None at the top."""
    items = list(value.values()) if isinstance(value, Mapping) else value if isinstance(value, (list, tuple)) else []
    if value is Ellipsis or value is None or (items and all(item is Ellipsis for item in items)):
        yield f"`{name}`"
    elif isinstance(value, Mapping):
        for key, item in value.items():
            if item is Ellipsis:
                yield f"`{name}[{key!r}]`"
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            if item is Ellipsis:
                yield f"`{name}[{i}]`"


def answer_cell_error() -> str | None:
    """The error the cell run just before this one raised, as its last line ("ValueError: ..."); None when it did not
    raise, or outside IPython."""
    shell = _ipython()
    error = getattr(sys, "last_value", None)
    if shell is None or error is None or shell.execution_count < 2:
        return None
    previous = shell.history_manager.input_hist_raw[-2]  # the current cell is the last one
    name = shell.compile.get_code_name(previous, shell.transform_cell(previous), shell.execution_count - 1)
    if not any(frame.filename == name for frame in traceback.extract_tb(error.__traceback__)):
        return None
    return traceback.format_exception_only(type(error), error)[-1].strip()


def _ipython() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:  # IPython is not installed: no cells
        return None
    return get_ipython()


def evaluate(number: str, /, *args: Any, **kwargs: Any) -> Result:
    """Check an answer to exercise `number` (the arguments are the checker's); return the verdict."""
    item = _find(number)
    signature = inspect.signature(item.checker)
    try:
        bound = signature.bind(*args, **kwargs)
    except TypeError as err:
        raise TypeError(f'check("{number}", ...) takes the arguments {list(signature.parameters)}: {err}') from None
    missing = [part for name, value in bound.arguments.items() for part in _placeholders(value, name)]
    raised = answer_cell_error() if missing else None
    if raised:
        return Result(number, "unanswered", f"the cell above raised {raised}, so your answer was never stored: fix "
                                            "that cell, run it again, then run this cell.")
    if missing:
        return Result(number, "unanswered", f"put your answer where the cell above still has `...` (passed here as "
                                            f"{', '.join(missing)}), then run this cell again.")
    try:
        message = item.checker(*bound.args, **bound.kwargs)
    except Wrong as err:
        return Result(number, "wrong", str(err))
    except NotAnswered as err:
        return Result(number, "unanswered", str(err))
    return Result(number, "passed", message)


def check(number: str, /, *args: Any, **kwargs: Any) -> None:
    """Check an answer to exercise `number` and print the verdict (it never raises for a wrong answer)."""
    print(evaluate(number, *args, **kwargs))
