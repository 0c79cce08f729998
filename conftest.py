"""Project-wide pytest hooks: nbval runs every notebook in a kernel that reseeds its random generators, and compares
printed numbers within one unit in their last digit (tests/nbval_tolerance.py).

(Fixtures for the unit tests are in tests/conftest.py.)
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

import pytest

pytest_plugins = ["tests.nbval_tolerance", "tests.nbval_widgets"]

# IPython startup file for the notebooks' kernels: before each cell, move every random generator already in use to
# a state that no notebook sets. A cell that seeds itself prints what it stored; a cell that draws random numbers
# without seeding (relying on the state an earlier cell left behind) prints something else, and nbval names it.
# So the one nbval run of each notebook also checks that a learner can re-run any cell alone.
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
RESEED_NOTE = """\
A stored output differs from what the cell printed now. Three things can make it differ:
- a cell that draws random numbers without seeding itself: the kernel reseeds torch, numpy and random before every cell,
  so such a cell prints something else (seed it: torch.manual_seed(123) at its top);
- the CPU: another instruction set (AVX-512, AVX2, SSE, Apple's NEON) or thread count adds in another order, which can
  move a number past the last printed digit (print fewer digits, or state a wider tolerance in the cell's metadata:
  {"tolerance": {"abs": 0.01}});
- a real change in the code.
To tell which, run the notebook again on one thread and on the oldest instruction set; a difference that moves with
them is the CPU's arithmetic, one that stays is a missing seed or a real change:
  OMP_NUM_THREADS=1 pytest -n 0 NOTEBOOK
  ATEN_CPU_CAPABILITY=default MKL_ENABLE_INSTRUCTIONS=SSE4_2 ONEDNN_MAX_CPU_ISA=SSE41 OMP_NUM_THREADS=1 \\
    pytest -n 0 NOTEBOOK"""


RESEED_DIR = pytest.StashKey[Path]()


def reseeding_ipython_dir(folder: Path) -> Path:
    """Write an IPython folder whose startup file reseeds every random generator before each cell; return it."""
    startup = folder / "profile_default" / "startup"
    startup.mkdir(parents=True, exist_ok=True)
    (startup / "reseed.py").write_text(RESEED_BEFORE_EACH_CELL)
    return folder


def pytest_configure(config: pytest.Config) -> None:
    """Kernels started by nbval (they inherit this environment) reseed before every cell, on two threads.

    Two threads per process (unless OMP_NUM_THREADS is set): the tests' processes run side by side, and the big
    matrix products of notebook 06 still get a second core whenever a neighbour is idle. Idle threads sleep
    (OMP_WAIT_POLICY=PASSIVE) instead of spinning, so processes sharing a busy machine do not steal each other's
    cores. The stored outputs are rounded so that they come out the same on one thread or several
    (tools/run_notebooks.py stores them with the same settings).
    """
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    folder = reseeding_ipython_dir(Path(tempfile.mkdtemp(prefix="nbval-ipython-")))
    config.stash[RESEED_DIR] = folder
    os.environ["IPYTHONDIR"] = str(folder)


def pytest_unconfigure(config: pytest.Config) -> None:
    folder = config.stash.get(RESEED_DIR, None)
    if folder is not None:
        shutil.rmtree(folder, ignore_errors=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo):
    """A failing notebook cell says what can make an output differ, and the commands that tell which."""
    report = yield
    if report.failed and call.when == "call" and item.path.suffix == ".ipynb" and report.longrepr is not None:
        root = item.config.rootpath
        path = item.path.relative_to(root) if item.path.is_relative_to(root) else item.path
        report.longrepr = f"{report.longrepr}\n{RESEED_NOTE.replace('NOTEBOOK', str(path))}"
    return report




# --- pytest-xdist: the browser suite's timings, measured in a worker, printed by the main process ---------------

_worker_timings: list[str] = []


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node, error) -> None:
    """Collect the lines a worker's browser suite handed over (tests/test_browser.py, TimingReport)."""
    lines = getattr(node, "workeroutput", {}).get("browser_timings")
    if lines:
        _worker_timings.extend(json.loads(lines))


def pytest_terminal_summary(terminalreporter) -> None:
    if _worker_timings:
        terminalreporter.section("JupyterLab in the browser: timings")
        for line in _worker_timings:
            terminalreporter.write_line(line)


# The notebooks that take more than about 8 s under nbval on a 2-core CPU: `pytest -m "not slow"` leaves them out.
SLOW_NOTEBOOKS = {"06_gpt_model.ipynb", "07_pretraining.ipynb", "08_llama.ipynb", "09_classification_finetuning.ipynb",
                  "10_instruction_finetuning.ipynb", "ch05_solutions.ipynb", "ch06_solutions.ipynb",
                  "ch07_solutions.ipynb"}


def pytest_itemcollected(item: pytest.Item) -> None:
    """The cells of the slowest notebooks are marked `slow`.

    (pytest-xdist runs with --dist loadfile, so that the cells of one notebook run in order in one kernel.)
    """
    if item.path.suffix == ".ipynb" and item.path.name in SLOW_NOTEBOOKS:
        item.add_marker(pytest.mark.slow)
