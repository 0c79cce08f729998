"""The comparison of stored notebook outputs within a stated tolerance (tests/nbval_tolerance.py)."""

from __future__ import annotations

import json
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nbval_tolerance import cell_tolerance, last_digit_unit, split_numbers, text_agrees

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(("stored", "computed"), [
    ("Ep 5 (Step 000110): Train loss 6.414, Val loss 6.325", "Ep 5 (Step 000110): Train loss 6.413, Val loss 6.325"),
    ("tensor([1.6754, 0.2210])", "tensor([1.6755, 0.2209])"),
    ("tensor([-0.0000, 0.5000])", "tensor([0.0000, 0.5000])"),
    ("tensor([[-0.0000],\n        [ 0.0000]])", "tensor([[0.0000],\n        [0.0000]])"),  # columns padded to widths
    ("-0.0", "0.0"),
    ("9.99", "10.00"),  # the last digit rolls over
    ("accuracy 90.60%", "accuracy 90.61%"),
    ("1.25e-05", "1.26e-05"),
    ("the same text, no numbers", "the same text, no numbers"),
])
def test_a_last_digit_flip_is_accepted(stored, computed):
    assert text_agrees(stored, computed)


@pytest.mark.parametrize(("stored", "computed"), [
    ("Train loss 6.414", "Train cost 6.414"),  # a changed word
    ("loss 6.414 ", "loss 6.414"),  # spaces after the last number are text
    ("Train loss 6.414", "Train loss 6.412"),  # two units in the last digit
    ("loss 6.414\nloss 5.100\n", "loss 6.414\n"),  # a missing line
    ("loss 6.414\n", "loss 6.414\nloss 5.100\n"),  # an extra line
    ("tensor([1.0, 2.0])", "tensor([1.0, 2.0, 3.0])"),  # another count of numbers
    ("torch.Size([2, 4])", "torch.Size([2, 5])"),  # another shape: whole numbers are exact
    ("5,145 tokens", "5,146 tokens"),
    ("[6109, 3626, 6100, 345]", "[6109, 3626, 6100, 346]"),  # token ids
])
def test_a_real_difference_is_rejected(stored, computed):
    assert not text_agrees(stored, computed)


def test_fewer_printed_digits_compare_at_the_coarser_unit():
    assert text_agrees("6.414", "6.41")  # 0.004 apart, within 0.01
    assert not text_agrees("6.414", "6.40")


def test_a_stated_tolerance_widens_decimals_only():
    assert not text_agrees("Step 000110: loss 6.414", "Step 000110: loss 6.404")
    assert text_agrees("Step 000110: loss 6.414", "Step 000110: loss 6.404", tolerance=0.01)
    assert not text_agrees("Step 000110: loss 6.414", "Step 000110: loss 6.394", tolerance=0.01)
    assert not text_agrees("Step 000110: loss 6.414", "Step 000111: loss 6.414", tolerance=0.01)


def test_numbers_inside_names_are_text():
    pieces, numbers = split_numbers("gpt2 W_1 v1.5 ch05 has 3 heads and 0.25 dropout")
    assert numbers == ["3", "0.25"]
    assert pieces[0] == "gpt2 W_1 v1.5 ch05 has "


def test_last_digit_units():
    assert last_digit_unit("6.414") == Decimal("0.001")
    assert last_digit_unit("-0.0000") == Decimal("0.0001")
    assert last_digit_unit("1.25e-05") == Decimal("1e-7")
    assert last_digit_unit("123") is None


@given(st.floats(-1e4, 1e4, allow_nan=False), st.integers(1, 6))
def test_a_number_agrees_with_itself_rounded_one_unit_away(x, digits):
    printed = f"{x:.{digits}f}"
    neighbour = f"{float(printed) + 10.0 ** -digits:.{digits}f}"
    assert text_agrees(f"value {printed}!", f"value {neighbour}!")
    two_away = f"{float(printed) + 2.5 * 10.0 ** -digits:.{digits}f}"
    assert not text_agrees(f"value {printed}!", f"value {two_away}!")


@pytest.mark.parametrize("metadata", [{"tolerance": 0.01}, {"tolerance": {"abs": -1}}, {"tolerance": {"rel": 0.1}},
                                      {"tolerance": {"abs": True}}])
def test_a_malformed_tolerance_in_metadata_is_refused(metadata):
    with pytest.raises(ValueError, match="tolerance"):
        cell_tolerance(metadata)


def test_cell_tolerance_reads_the_metadata():
    assert cell_tolerance({}) == 0.0
    assert cell_tolerance({"tolerance": {"abs": 0.02}}) == 0.02


def notebook(cells: list[tuple[str, str, dict]]) -> dict:
    """A notebook whose code cells print `printed` now and store `stored` as their output."""
    return {
        "nbformat": 4, "nbformat_minor": 5,
        "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
        "cells": [
            {"cell_type": "code", "id": f"c{i}", "metadata": metadata, "execution_count": i + 1,
             "source": f"print({printed!r})",
             "outputs": [{"output_type": "stream", "name": "stdout", "text": stored + "\n"}]}
            for i, (printed, stored, metadata) in enumerate(cells)
        ],
    }


def run_nbval(tmp_path: Path, cells: list[tuple[str, str, dict]]) -> subprocess.CompletedProcess:
    path = tmp_path / "check.ipynb"
    path.write_text(json.dumps(notebook(cells)))
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "conftest", "--rootdir", str(ROOT),
         "-c", str(ROOT / "pyproject.toml"), str(path)],  # -p conftest: the course's conftest.py, as for notebooks/
        cwd=ROOT, capture_output=True, text=True, timeout=600,
    )


@pytest.mark.slow
def test_nbval_uses_the_tolerance_and_explains_a_failure(tmp_path):
    done = run_nbval(tmp_path, [
        ("loss 6.413", "loss 6.414", {}),
        ("loss 6.404", "loss 6.414", {"tolerance": {"abs": 0.01}}),
        ("loss 6.411", "loss 6.414", {}),
    ])
    assert "2 passed" in done.stdout and "1 failed" in done.stdout, done.stdout[-3000:]
    assert "check.ipynb::Cell 2 FAILED" in done.stdout or "Cell 2" in done.stdout
    assert "allowed for one unit in the last printed digit" in done.stdout
    assert "ATEN_CPU_CAPABILITY=default" in done.stdout
