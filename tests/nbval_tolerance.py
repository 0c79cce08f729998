"""Numbers in notebook outputs compared within a stated tolerance: an nbval plugin, loaded by the root conftest.py.

nbval compares each stored output with what a fresh run prints, character for character. A number computed by a long
chain of floating-point work can come out one unit different in its last printed digit on another CPU: another
instruction set (AVX-512, AVX2, SSE, Apple's NEON) or another BLAS adds in another order. Where nbval finds a
difference, this plugin looks again, and the outputs still agree when

- the text between the numbers is identical (but for the spaces that pad a tensor's columns to its widest number),
  and both hold as many numbers;
- every whole number (no decimal point: a count, a shape, a token id, a step) is the same;
- every decimal number agrees within one unit in its last printed digit (0.001 for `6.414`, 0.0001 for `1.6754`),
  `-0.0` and `0.0` included;
- or, for a cell whose numbers come out of a long computation (a training log), within the wider tolerance its
  metadata states: `{"tolerance": {"abs": 0.01}}` (whole numbers stay exact there too).

Everything else stays as strict as nbval: a changed word, a missing line, another count of numbers, another shape.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from decimal import Decimal

import pytest

# A number that stands alone: not part of a name (`gpt2`, `W_1`) or of a dotted version (`v1.5`, `3.6.1` is read as
# 3.6 then text). A sign directly before the digits belongs to the number.
NUMBER = re.compile(r"(?<![\w.])[-+]?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w])")


def split_numbers(text: str) -> tuple[list[str], list[str]]:
    """The text between numbers (one more piece than numbers) and the numbers as printed."""
    pieces, numbers, start = [], [], 0
    for match in NUMBER.finditer(text):
        pieces.append(text[start : match.start()])
        numbers.append(match.group())
        start = match.end()
    pieces.append(text[start:])
    return pieces, numbers


def last_digit_unit(number: str) -> Decimal | None:
    """One unit in the last printed digit of a decimal number (0.001 for "6.414", 1E-7 for "1.25e-05"); None for a
    whole number, which must match exactly."""
    mantissa, _, exponent = number.lower().partition("e")
    if "." not in mantissa and not exponent:
        return None
    decimals = len(mantissa.partition(".")[2])
    return Decimal(1).scaleb(int(exponent or 0) - decimals)


def numbers_agree(stored: str, computed: str, tolerance: float = 0.0) -> bool:
    """Whether two printed numbers agree: whole numbers exactly, decimals within one unit of the coarser last digit
    (or within `tolerance`, if that is wider)."""
    units = [last_digit_unit(stored), last_digit_unit(computed)]
    if units[0] is None or units[1] is None:
        return stored.lstrip("+") == computed.lstrip("+")
    allowed = max(*units, Decimal(repr(float(tolerance))))
    return abs(Decimal(stored) - Decimal(computed)) <= allowed  # in decimal: exactly the printed digits


def padded(pieces: list[str]) -> list[str]:
    """The pieces of text with the spaces before each number dropped: PyTorch pads a tensor's columns to its widest
    number, so `[ 0.0000]` beside `-0.0000` is `[0.0000]` where no number is negative."""
    return [piece.rstrip(" ") for piece in pieces[:-1]] + pieces[-1:]


def text_agrees(stored: str, computed: str, tolerance: float = 0.0) -> bool:
    """Whether two outputs are the same text with the same count of numbers, each pair of numbers agreeing."""
    stored_pieces, stored_numbers = split_numbers(stored)
    computed_pieces, computed_numbers = split_numbers(computed)
    if len(stored_numbers) != len(computed_numbers) or padded(stored_pieces) != padded(computed_pieces):
        return False
    return all(numbers_agree(a, b, tolerance) for a, b in zip(stored_numbers, computed_numbers, strict=True))


def cell_tolerance(metadata: Mapping) -> float:
    """The absolute tolerance a cell states in its metadata ({"tolerance": {"abs": 0.01}}), else 0."""
    stated = metadata.get("tolerance", {})
    if not isinstance(stated, Mapping) or set(stated) - {"abs"}:
        raise ValueError(f'a cell\'s "tolerance" metadata must be {{"abs": number}}, got {stated!r}')
    value = stated.get("abs", 0.0)
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
        raise ValueError(f'a cell\'s "tolerance": {{"abs": ...}} must be a number >= 0, got {value!r}')
    return float(value)


def values_by_key(item, outputs: Sequence[Mapping], skip: Sequence[str]) -> dict[str, list]:
    """The outputs' values grouped by output field and MIME type, sanitized as nbval compares them."""
    grouped: dict[str, list] = defaultdict(list)
    for output in outputs:
        for key, value in output.items():
            if key in skip:
                continue
            if key == "data":
                for mime, content in value.items():
                    if mime not in skip:
                        grouped[mime].append(item.sanitize(content))
            else:
                grouped[key].append(item.sanitize(value))
    return grouped


def outputs_agree(stored: Mapping[str, list], computed: Mapping[str, list], tolerance: float) -> bool:
    if set(stored) != set(computed):
        return False
    for key, stored_values in stored.items():
        computed_values = computed[key]
        if len(stored_values) != len(computed_values):
            return False
        for a, b in zip(stored_values, computed_values, strict=True):
            same = text_agrees(a, b, tolerance) if isinstance(a, str) and isinstance(b, str) else a == b
            if not same:
                return False
    return True


TOLERANCE_NOTE = (
    "nbval's plugin tests/nbval_tolerance.py allowed for one unit in the last printed digit of each decimal number "
    "{wider}and the outputs still differ"
)


def pytest_configure(config: pytest.Config) -> None:
    """Wrap nbval's comparison of a cell's outputs: where it finds a difference, compare again with the tolerance."""
    try:
        from nbval.plugin import IPyNbCell, transform_streams_for_comparison
    except ImportError:  # nbval not installed: nothing to wrap
        return
    if getattr(IPyNbCell.compare_outputs, "with_tolerance", False):
        return
    exact = IPyNbCell.compare_outputs

    def compare_outputs(self, test, ref, skip_compare=None):
        if exact(self, test, ref, skip_compare):
            return True
        skip = skip_compare or self.parent.skip_compare
        tolerance = cell_tolerance(self.cell.get("metadata", {}))
        stored = values_by_key(self, transform_streams_for_comparison(ref), skip)
        computed = values_by_key(self, transform_streams_for_comparison(test), skip)
        if outputs_agree(stored, computed, tolerance):
            self.comparison_traceback = []
            return True
        wider = f"(or {tolerance:g}, this cell's stated tolerance) " if tolerance else ""
        self.comparison_traceback.append(TOLERANCE_NOTE.format(wider=wider))
        return False

    compare_outputs.with_tolerance = True
    IPyNbCell.compare_outputs = compare_outputs
