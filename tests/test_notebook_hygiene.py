"""Stored notebooks must be fit to be nbval references: one clean run, no stray errors or warnings."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("*.ipynb")) + sorted(NOTEBOOK_DIR.glob("solutions/*.ipynb"))  # with the solutions
ADDRESS = re.compile(r"\b0x[0-9a-fA-F]{6,16}\b")


def is_marked(cell: dict, comment: str, tag: str) -> bool:
    source = "".join(cell["source"])
    in_comment = any(line.strip().startswith("#") and comment in line for line in source.splitlines())
    return in_comment or tag in cell.get("metadata", {}).get("tags", [])


def code_cells(path: Path) -> list[dict]:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return [c for c in nb["cells"] if c["cell_type"] == "code" and "".join(c["source"]).strip()]


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks found"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_kernelspec_is_plain_python3(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    assert nb["metadata"]["kernelspec"]["name"] == "python3"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_executed_top_to_bottom_in_one_kernel(path):
    counts = [c["execution_count"] for c in code_cells(path)]
    assert counts == list(range(1, len(counts) + 1)), f"{path.name}: execution counts {counts}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_unexpected_errors_stderr_or_addresses(path):
    for i, cell in enumerate(code_cells(path)):
        raises = is_marked(cell, "NBVAL_RAISES_EXCEPTION", "raises-exception")
        ignored = is_marked(cell, "NBVAL_IGNORE_OUTPUT", "nbval-ignore-output")
        for out in cell.get("outputs", []):
            kind = out["output_type"]
            assert kind != "error" or raises, f"{path.name} cell {i}: error {out.get('ename')}: {out.get('evalue')}"
            if kind == "stream" and out["name"] == "stderr":
                assert ignored, f"{path.name} cell {i}: stderr {''.join(out['text'])[:200]!r}"
            text = "".join(out.get("text", "")) + "".join(out.get("data", {}).get("text/plain", ""))
            assert ignored or not ADDRESS.search(text), f"{path.name} cell {i}: memory address in output"
        if raises:
            assert any(o["output_type"] == "error" for o in cell.get("outputs", [])), (
                f"{path.name} cell {i} is marked to raise but stored no error"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_nbval_markers_are_tags_not_comments_the_learner_reads(path):
    for i, cell in enumerate(code_cells(path)):
        text = "".join(cell["source"])
        assert "NBVAL_" not in text, f"{path.name} cell {i}: mark the cell with a tag (nbval-ignore-output, ...)"
        assert "# noqa" not in text, f"{path.name} cell {i}: a linter's comment; set the rule in pyproject.toml"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_stored_widget_shows_its_raw_text_form(path):
    """What GitHub, Colab's preview and a notebook opened without a kernel show of a widget is its text form."""
    for i, cell in enumerate(code_cells(path)):
        for out in cell.get("outputs", []):
            text = "".join(out.get("data", {}).get("text/plain", ""))
            assert "interactive(children=" not in text and "Box(children=" not in text, (
                f"{path.name} cell {i}: a widget stored as its raw text form; return a teaching.widgets.Explorer"
            )


# Cells whose output is not compared at all (package versions, timings, live widgets): tolerance on numbers
# (tests/nbval_tolerance.py) replaces masking, so this count must not grow.
MOST_UNCOMPARED = 6  # timing and version cells


def test_uncompared_cells_stay_few():
    uncompared = [
        f"{path.name} cell {i}" for path in NOTEBOOKS for i, cell in enumerate(code_cells(path))
        if {"nbval-ignore-output", "nbval-skip"} & set(cell.get("metadata", {}).get("tags", []))
    ]
    assert len(uncompared) <= MOST_UNCOMPARED, f"{len(uncompared)} cells are not compared: {uncompared}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_printed_line_is_stored_whole(path):
    """A print split over two stored pieces of one stream reads as two lines once exported (tools/run_notebooks.py
    joins them)."""
    for i, cell in enumerate(code_cells(path)):
        outputs = cell.get("outputs", [])
        for first, second in itertools.pairwise(outputs):
            split = first["output_type"] == "stream" == second["output_type"] and first["name"] == second["name"]
            assert not split, (
                f"{path.name} cell {i}: its {first['name']} is stored in pieces ({first['text'][-40:]!r} | "
                f"{second['text'][:40]!r}); store the notebook with python tools/run_notebooks.py {path.name}"
            )
