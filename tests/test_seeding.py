"""Every cell that draws random numbers seeds itself, so a learner can re-run any cell, or run cells out of order.

The check costs no extra run of the notebooks: the project's conftest.py makes nbval run every notebook in a kernel
that reseeds torch, numpy and `random` with an unusual seed before every cell. A cell that seeds itself prints what
it stored; a cell that relies on the random state an earlier cell left behind prints something else, and nbval
fails on it with a note about the reseeding. This file shows that the mechanism catches such a cell.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def stored_notebook(path: Path, cells: list[str], monkeypatch) -> Path:
    """A notebook with the outputs of a plain top-to-bottom run (no reseeding), as a maintainer stores it."""
    import nbformat
    from nbclient import NotebookClient
    from nbformat.v4 import new_code_cell, new_notebook

    nb = new_notebook(cells=[new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    with monkeypatch.context() as patch:
        patch.setenv("IPYTHONDIR", str(path.parent / "plain-ipython"))  # this process's kernels reseed: not this one
        NotebookClient(nb, timeout=600, kernel_name="python3").execute()
    nbformat.write(nb, path)
    return path


def test_nbval_fails_on_a_cell_that_draws_random_numbers_without_seeding(monkeypatch):
    # inside the repository, so that pytest uses the project's conftest.py, as for the course's notebooks
    folder = Path(tempfile.mkdtemp(prefix="seeding-test-", dir=ROOT))
    try:
        path = stored_notebook(folder / "draws.ipynb", [
            "import torch",
            "torch.manual_seed(123)\nprint(torch.rand(2))",  # seeds itself: the same output when reseeded
            "print(torch.rand(2))",  # continues the previous cell's random state: another output when reseeded
        ], monkeypatch)
        done = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(path.relative_to(ROOT))],
            cwd=ROOT, capture_output=True, text=True, timeout=1800,  # a hang guard only: this takes seconds
        )
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    assert "1 failed, 2 passed" in done.stdout, done.stdout[-3000:]
    assert "draws.ipynb::Cell 2" in done.stdout, done.stdout[-3000:]
    assert "reseeds torch, numpy and random before every cell" in done.stdout, done.stdout[-3000:]
