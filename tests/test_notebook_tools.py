"""helpers.teaching.notebook: showing an error on purpose."""

from __future__ import annotations

import pytest

from helpers.teaching.notebook import expect_error


def test_prints_the_error_as_its_last_traceback_line(capsys):
    with expect_error(ValueError):
        raise ValueError("d_out=5 must be divisible by num_heads=2")
    assert capsys.readouterr().out == "ValueError: d_out=5 must be divisible by num_heads=2\n"


def test_any_exception_when_no_type_is_given(capsys):
    with expect_error():
        {}["missing"]
    assert capsys.readouterr().out == "KeyError: 'missing'\n"


def test_a_block_without_an_error_fails():
    with pytest.raises(AssertionError, match=r"expected ValueError or TypeError, but the code ran without an error"):
        with expect_error(ValueError, TypeError):
            pass


def test_another_error_type_is_not_swallowed():
    with pytest.raises(KeyError):
        with expect_error(ValueError):
            raise KeyError("x")
