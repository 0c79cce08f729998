"""tools/run_notebooks.py: the maintainers' way to store a notebook's outputs from one clean run."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook, new_output

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("run_notebooks", ROOT / "tools" / "run_notebooks.py")
run_notebooks = importlib.util.module_from_spec(spec)
spec.loader.exec_module(run_notebooks)


def notebook(path: Path, cells: list[str]) -> Path:
    nb = new_notebook(cells=[new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    nbformat.write(nb, path)
    return path


def test_pieces_of_one_stream_are_joined_and_others_kept_apart():
    outputs = [new_output("stream", name="stdout", text="5145"), new_output("stream", name="stdout", text=" True\n"),
               new_output("stream", name="stderr", text="careful\n"), new_output("stream", name="stdout", text="x\n")]
    joined = run_notebooks.join_streams(outputs)
    assert [(o["name"], o["text"]) for o in joined] == [("stdout", "5145 True\n"), ("stderr", "careful\n"),
                                                       ("stdout", "x\n")]


def test_stores_the_outputs_of_a_clean_run_without_timestamps(tmp_path, capsys):
    path = notebook(tmp_path / "nb.ipynb", ["import sys\nx = 6 * 7", "print(x)\nsys.stdout.flush()\nprint('again')"])
    assert run_notebooks.main([str(path)]) == 0
    cells = nbformat.read(path, as_version=4).cells
    assert [c.execution_count for c in cells] == [1, 2]
    assert [o["text"] for o in cells[1].outputs] == ["42\nagain\n"]
    assert all("execution" not in c.metadata for c in cells)
    assert "nb.ipynb: " in capsys.readouterr().out


def test_a_failing_cell_is_named_and_the_outputs_before_it_kept(tmp_path, capsys):
    path = notebook(tmp_path / "broken.ipynb", ["print('before')", "1 / 0", "print('after')"])
    assert run_notebooks.main([str(path)]) == 1
    assert "broken.ipynb: a cell raised" in capsys.readouterr().err
    cells = nbformat.read(path, as_version=4).cells
    assert cells[0].outputs[0]["text"] == "before\n" and cells[2].execution_count is None


def test_refuses_what_is_not_a_notebook(tmp_path, capsys):
    assert run_notebooks.main([str(tmp_path / "missing.ipynb")]) == 2
    assert "not a notebook file" in capsys.readouterr().err


EXPLORER_CELLS = [
    "import torch\n"
    "from helpers.gpt2_tokenizer import gpt2_encoding\n"
    "from helpers.datafiles import load_text\n"
    "from helpers.attention import MultiHeadAttention\n"
    "from helpers.teaching import widgets\n"
    "enc = gpt2_encoding()",
    "widgets.tokenizer_explorer({'GPT-2': enc})",
    "widgets.sliding_window_explorer(load_text('the-verdict.txt')[:2000], enc)",
    "widgets.embedding_explorer({'random': torch.randn(6, 4, generator=torch.Generator().manual_seed(1))})",
    "torch.manual_seed(1)\nmha = MultiHeadAttention(4, 4, 6, 0.0, num_heads=2)\n"
    "widgets.attention_explorer(mha, torch.randn(1, 6, 4), ['a', 'b', 'c', 'd', 'e', 'f'])",
    "print('done')",
]


@pytest.mark.slow
def test_notebooks_with_explorers_run_to_the_end_every_time(tmp_path):
    """Scripted runs of cells that open widgets finish (each run stores its outputs; none waits forever)."""
    path = notebook(tmp_path / "explorers.ipynb", EXPLORER_CELLS)
    for _ in range(3):
        assert run_notebooks.main([str(path)]) == 0
        cells = nbformat.read(path, as_version=4).cells
        assert cells[-1].outputs[0]["text"] == "done\n"
        shown = [c.outputs[0]["data"]["text/plain"] for c in cells[1:5]]
        assert all(text.startswith("An explorer: run this cell") for text in shown), shown


def test_a_stuck_cell_is_stopped_with_its_number(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(run_notebooks, "CELL_TIMEOUT", 3)
    path = notebook(tmp_path / "stuck.ipynb", ["print('before')", "import time\ntime.sleep(60)"])
    assert run_notebooks.main([str(path)]) == 1
    err = capsys.readouterr().err
    assert "a cell ran for over 3 s and was stopped" in err
    assert nbformat.read(path, as_version=4).cells[0].outputs[0]["text"] == "before\n"
