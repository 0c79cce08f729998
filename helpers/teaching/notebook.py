"""Small tools the notebooks use to show things, not course content.

`expect_error` shows a mistake's error message on purpose: the "bad input" cells of every notebook, from
notebooks/02_text_and_tokens.ipynb on.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["expect_error"]


@contextmanager
def expect_error(*error_types: type[BaseException]) -> Iterator[None]:
    """Run the block, which must raise one of `error_types`; print the error's last line as Python shows it.

    The message is what a learner needs; the traceback through library code (and the paths of the machine
    that ran it) is left out. A block that raises nothing, or another error type, is a bug: it raises.
    """
    expected = error_types or (Exception,)
    try:
        yield
    except expected as err:
        print(f"{type(err).__name__}: {err}")
    else:
        names = " or ".join(t.__name__ for t in expected)
        raise AssertionError(f"expected {names}, but the code ran without an error")
