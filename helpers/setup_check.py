"""Checks of a learner's environment.

Built in notebooks/00_setup_check.ipynb ("Python and package versions").
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from packaging.version import Version

__all__ = ["MINIMUM_VERSIONS", "check_requirements"]

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
    "pytest": "8.0",
    "nbval": "0.11",
    "hypothesis": "6.100",
    "playwright": "1.50",
}


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
