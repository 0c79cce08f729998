"""Every cell that draws random numbers seeds itself, so a learner can re-run any cell, or run cells out of order.

Each notebook is re-executed by nbval in a kernel that reseeds torch, numpy and `random` with an unusual seed
before every cell. A cell that seeds itself prints what it stored; a cell that relies on the random state an
earlier cell left behind prints something else, and nbval names it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "notebooks").glob("solutions/*.ipynb"))

# IPython startup file for the kernel: before each cell, move every random generator already in use to a
# state that no notebook sets.
RESEED_BEFORE_EACH_CELL = """
import sys


def _reseed_before_cell(info):
    if "torch" in sys.modules:
        sys.modules["torch"].manual_seed(97531)
    if "numpy" in sys.modules:
        sys.modules["numpy"].random.seed(97531)
    if "random" in sys.modules:
        sys.modules["random"].seed(97531)


get_ipython().events.register("pre_run_cell", _reseed_before_cell)
"""


def test_reseeding_changes_an_unseeded_cell(tmp_path):
    """The check itself: an unseeded draw is caught, a seeded one passes."""
    import nbformat
    from nbclient import NotebookClient
    from nbformat.v4 import new_code_cell, new_notebook

    cells = ["import torch", "torch.manual_seed(123)\nprint(torch.rand(2))", "print(torch.rand(2))"]
    nb = new_notebook(cells=[new_code_cell(c) for c in cells])
    nb.metadata["kernelspec"] = {"display_name": "Python 3", "language": "python", "name": "python3"}
    path = tmp_path / "draws.ipynb"
    NotebookClient(nb, timeout=120).execute()  # stored outputs as a plain top-to-bottom run leaves them
    nbformat.write(nb, path)
    done = run_nbval_reseeded(path, tmp_path)
    assert "1 failed, 2 passed" in done.stdout, done.stdout[-2000:]
    assert "Cell 2" in done.stdout or "cell 2" in done.stdout.lower(), done.stdout[-2000:]


def run_nbval_reseeded(path: Path, tmp_path: Path) -> subprocess.CompletedProcess:
    """Run nbval on one notebook in a kernel that reseeds every random generator before each cell."""
    startup = tmp_path / "ipython" / "profile_default" / "startup"
    startup.mkdir(parents=True)
    (startup / "reseed.py").write_text(RESEED_BEFORE_EACH_CELL)
    config = tmp_path / "pytest.ini"  # this run's own settings, not the project's (which also collect tests/)
    config.write_text("[pytest]\n")
    env = {**os.environ, "IPYTHONDIR": str(tmp_path / "ipython")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-c", str(config), "-p", "no:cacheprovider", "--nbval",
         "--nbval-sanitize-with", str(ROOT / "tests" / "nbval_sanitize.cfg"), str(path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=900,
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_random_cell_seeds_itself(path, tmp_path):
    done = run_nbval_reseeded(path, tmp_path)
    assert done.returncode == 0, (
        f"{path.name}: with the random generators reseeded before every cell, these cells print something "
        "else than stored: they draw random numbers without seeding in the same cell "
        f"(add torch.manual_seed(123) to each)\n{done.stdout[-4000:]}"
    )
