"""Checks of a learner's environment, and the set-up cell that runs them first in every notebook.

Built in notebooks/00_setup_check.ipynb ("Python and package versions"). `SETUP_CELL` is the canonical text of the
shared first cell of every notebook (kept in setup_cell.txt beside this module): on Colab it installs the course,
everywhere it runs `check_course_setup` once `helpers` imports.
"""

from __future__ import annotations

import sys
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from packaging.version import Version

from helpers.checks import ShortTraceback
from helpers.datafiles import MissingDataError, ensure_data

__all__ = [
    "MINIMUM_VERSIONS",
    "NOTEBOOK_PACKAGES",
    "SETUP_CELL",
    "SETUP_CELL_FILE",
    "CourseSetupError",
    "check_course_setup",
    "check_requirements",
]

SETUP_CELL_FILE = Path(__file__).with_name("setup_cell.txt")
SETUP_CELL = SETUP_CELL_FILE.read_text(encoding="utf-8")

# The same lower bounds as requirements.txt (a unit test keeps the two in step).
MINIMUM_VERSIONS: dict[str, str] = {
    "torch": "2.4",
    "tiktoken": "0.7",
    "regex": "2022.1.18",
    "numpy": "1.26",
    "matplotlib": "3.8",
    "ipywidgets": "8.1",
    "jupyterlab": "4.2",
    "tqdm": "4.66",
    "safetensors": "0.4",
    "transformers": "4.44",
    "gguf": "0.10.0",
    "accelerate": "1.1.0",
    "rouge-score": "0.1.2",
    "pytest": "8.0",
    "nbval": "0.11",
    "pytest-xdist": "3.6",
    "hypothesis": "6.100",
    "playwright": "1.50",
}

# What a notebook's kernel imports (not the tools around it: JupyterLab, pytest, ...), so the set-up cell also
# passes on Colab, which runs its own front end and installs only the `helpers` package with its dependencies.
NOTEBOOK_PACKAGES = ("torch", "tiktoken", "regex", "numpy", "matplotlib", "ipywidgets", "tqdm", "safetensors",
                     "transformers", "gguf", "rouge-score")


class CourseSetupError(ShortTraceback, RuntimeError):
    """The kernel's Python lacks a package the notebooks need (and perhaps data files too)."""


def check_requirements(minimum: dict[str, str] | None = None) -> list[str]:
    """Return one line per package that is missing or older than its minimum (empty when all is well)."""
    problems = []
    for package, lowest in (minimum or MINIMUM_VERSIONS).items():
        try:
            installed = version(package)
        except PackageNotFoundError:
            problems.append(f"{package} is not installed: run  pip install -r requirements.txt")
            continue
        if Version(installed) < Version(lowest):
            problems.append(f"{package} {installed} is older than {lowest}: run  pip install -U '{package}>={lowest}'")
    return problems


def check_course_setup() -> None:
    """The set-up cell's check: return quietly when the notebooks' packages and every data file are in place.

    The files the course ships are checked in `datasets/`; one it cannot ship is downloaded once (and verified).
    Otherwise raise one error that says what to do: a `CourseSetupError` naming each missing or outdated package (and
    any data file problem), or a `MissingDataError` listing every data file that could not be had, and how to fix it.
    """
    problems = check_requirements({name: MINIMUM_VERSIONS[name] for name in NOTEBOOK_PACKAGES})
    try:
        ensure_data()
    except MissingDataError as err:
        if not problems:
            raise err.with_traceback(None) from None
        data_problem = f"\n\n{err}"
    else:
        data_problem = ""
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise CourseSetupError(
            f"This kernel's Python ({sys.executable}) lacks what the notebooks need:\n{lines}\n"
            f"In a terminal, in the course folder, run:  {sys.executable} -m pip install -r requirements.txt  "
            "then restart the kernel (Kernel > Restart Kernel) and run this cell again." + data_problem
        )
