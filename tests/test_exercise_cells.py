"""Exercise checks in a real kernel: an answer cell that raised is named as the cause, not "not answered yet"."""

from __future__ import annotations

import nbformat
import pytest
from nbclient import NotebookClient


def run_cells(sources: list[str]) -> list[str]:
    """Run `sources` as the cells of one notebook (errors allowed); return each cell's printed text."""
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source) for source in sources])
    NotebookClient(nb, timeout=600, kernel_name="python3", allow_errors=True).execute()
    return ["".join(out.get("text", "") for out in cell.outputs) for cell in nb.cells]


@pytest.mark.slow
def test_a_check_names_the_error_of_the_answer_cell():
    printed = run_cells([
        "from helpers.teaching.exercises import check\nnum_windows_2b = ...",
        "num_windows_2b = 1 // 0",  # the learner's answer raises: the variable is still `...`
        'check("2.B", num_windows=num_windows_2b)',
        "unrelated = 1",
        'check("2.B", num_windows=num_windows_2b)',
    ])
    assert printed[2].startswith("○ Exercise 2.B, not answered yet: the cell above raised ZeroDivisionError: integer")
    assert "fix that cell, run it again" in printed[2]
    assert "raised" not in printed[4] and "put your answer where the cell above still has `...`" in printed[4]


def test_a_check_reports_every_wrong_field_at_once():
    from helpers.teaching.exercises import evaluate

    result = evaluate("4.1", attention=2_359_296, feed_forward=4_718_592)
    assert result.status == "wrong"
    assert "`attention` counts the weight matrices only" in result.message
    assert "`feed_forward` counts the weight matrices only" in result.message
