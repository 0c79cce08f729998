"""The chapter notebooks follow one template, read from the stored files.

A title naming the book chapter and sections (and an appendix it covers) and the run time; section headings that use
the book's numbers only for the book's sections and appendices and mark everything else "Beyond the book"; a summary
before the exercises; no helper source printed (the learner builds, the package proves); errors shown on purpose with
`expect_error`, not as a stored traceback; every widget explorer after a static figure of the same view, with a word
that it needs a kernel.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
CHAPTERS = sorted(p for p in NOTEBOOKS.glob("*.ipynb") if p.name[:2] != "00")  # 00 checks the set-up, no chapter

TITLE = re.compile(r"# (\d\d) · \S.*")
SUBTITLE = re.compile(  # a notebook beyond the book names the book's part it extends: "Beyond the book: its bonus ..."
    r"\*(Book chapter \d+, sections? \d+\.\d+(–\d+\.\d+)?(, and appendix [A-E])?|Beyond the book: [^*]+)\. "
    r"Runs in about \d+ seconds on a laptop CPU\.\*"
)
HEADING = re.compile(r"## (\d+\.\d+(–\d+\.\d+)? \S.*|Appendix [A-E]: \S.*|Beyond the book: \S.*|Summary|Exercises)")


def cells(path: Path) -> list[dict]:
    return json.loads(path.read_text(encoding="utf-8"))["cells"]


def source(cell: dict) -> str:
    return "".join(cell["source"])


def headings(path: Path) -> list[str]:
    return [line for c in cells(path) if c["cell_type"] == "markdown" for line in source(c).splitlines()
            if line.startswith("## ")]


def test_there_are_chapter_notebooks():
    assert CHAPTERS


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_title_names_the_book_chapter_and_the_run_time(path):
    lines = [line for line in source(cells(path)[0]).splitlines() if line.strip()]
    title = TITLE.fullmatch(lines[0])
    assert title and title.group(1) == path.name[:2], f"{path.name}: title {lines[0]!r}"
    assert SUBTITLE.fullmatch(lines[1]), f"{path.name}: second line {lines[1]!r}"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_headings_are_book_sections_or_beyond_the_book(path):
    found = headings(path)
    bad = [h for h in found if not HEADING.fullmatch(h)]
    assert not bad, f"{path.name}: headings that are neither a book section nor 'Beyond the book': {bad}"
    assert "## Summary" in found and "## Exercises" in found, f"{path.name}: {found}"
    assert found.index("## Summary") < found.index("## Exercises"), f"{path.name}: the summary goes first"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_no_helper_source_is_printed(path):
    shown = [i for i, c in enumerate(cells(path)) if c["cell_type"] == "code" and "getsource" in source(c)]
    assert not shown, f"{path.name}: cells {shown} print a helper's source; build the piece in the notebook instead"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_errors_are_shown_with_expect_error(path):
    for i, cell in enumerate(cells(path)):
        tags = cell.get("metadata", {}).get("tags", [])
        marked = "raises-exception" in tags or "NBVAL_RAISES_EXCEPTION" in source(cell)
        stored = any(out["output_type"] == "error" for out in cell.get("outputs", []))
        assert not (marked or stored), (
            f"{path.name} cell {i}: show the error with helpers.teaching.notebook.expect_error")


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.name)
def test_every_explorer_follows_a_static_figure(path):
    all_cells = cells(path)
    for i, cell in enumerate(all_cells):
        if cell["cell_type"] != "code" or "_explorer(" not in source(cell):
            continue
        note, figure = all_cells[i - 1], all_cells[i - 2]
        assert note["cell_type"] == "markdown" and "running kernel" in source(note), (
            f"{path.name} cell {i}: the markdown before an explorer says that it needs a running kernel"
        )
        shown = {mime for out in figure.get("outputs", []) for mime in out.get("data", {})}
        assert shown & {"image/png", "text/html"}, f"{path.name} cell {i}: no static figure before the explorer"
