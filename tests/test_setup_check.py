"""helpers.teaching.setup_check: the environment check of notebook 00 and the check of every notebook's set-up cell."""

from __future__ import annotations

import re
import socket
import sys
from pathlib import Path

import pytest

from helpers import datafiles
from helpers.datafiles import DATA_FILES, DataFile, MissingDataError
from helpers.teaching import setup_check
from helpers.teaching.setup_check import (
    MINIMUM_VERSIONS,
    NOTEBOOK_PACKAGES,
    CourseSetupError,
    check_course_setup,
    check_requirements,
)

ROOT = Path(__file__).resolve().parent.parent


def test_minimum_versions_match_requirements_txt():
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9.]+)", line.strip())
        if match:
            pins[match.group(1).lower()] = match.group(2)
    assert pins == MINIMUM_VERSIONS


def test_this_environment_passes():
    assert check_requirements() == []


def test_missing_and_old_packages_are_reported_with_the_fix():
    problems = check_requirements({"no-such-package-xyz": "1.0", "pytest": "999.0"})
    assert len(problems) == 2
    assert "no-such-package-xyz is not installed" in problems[0]
    assert "pip install -r requirements.txt" in problems[0]
    assert "pytest" in problems[1] and "older than 999.0" in problems[1]


def test_contributor_requirements_add_the_linter_to_the_course_requirements():
    lines = [line.strip() for line in (ROOT / "requirements-dev.txt").read_text().splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    assert lines[0] == "-r requirements.txt"
    assert [line for line in lines[1:] if line.startswith("ruff")] == ["ruff>=0.17"]


def test_notebook_packages_are_the_ones_the_kernel_needs():
    assert set(NOTEBOOK_PACKAGES) <= set(MINIMUM_VERSIONS)
    assert not {"jupyterlab", "pytest", "nbval", "hypothesis", "playwright"} & set(NOTEBOOK_PACKAGES)
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    dependencies = re.search(r"^dependencies = \[(.*)\]$", pyproject, re.MULTILINE).group(1)
    names = {re.split(r"[<>=!~ ]", d.strip().strip('"'), maxsplit=1)[0] for d in dependencies.split(",")}
    assert names - {"packaging"} <= set(NOTEBOOK_PACKAGES)  # what `pip install -e` gives Colab is checked


def test_course_setup_is_silent_when_all_is_in_place(capsys):
    assert check_course_setup() is None
    assert capsys.readouterr() == ("", "")


def offline(monkeypatch, tmp_path: Path) -> Path:
    """An empty download cache, and every download refused by a proxy on 127.0.0.1; return the (absent) cache."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        proxy = f"http://127.0.0.1:{s.getsockname()[1]}"
    for var in ("no_proxy", "NO_PROXY", "HTTP_PROXY", "HTTPS_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("http_proxy", proxy)
    monkeypatch.setenv("https_proxy", proxy)
    monkeypatch.setenv("LLM_DATA_DIR", str(tmp_path / "data"))
    return tmp_path / "data"


def test_a_fresh_clone_passes_offline_with_no_data_folder(monkeypatch, tmp_path):
    folder = offline(monkeypatch, tmp_path)
    assert check_course_setup() is None  # the files it needs ship in datasets/
    assert not folder.exists()


SHIPPED = {name: spec for name, spec in DATA_FILES.items() if spec.shipped is not None}
# stand-ins for files that cannot be shipped (downloaded on first use), on hosts that do not exist
DOWNLOADED = {f"weights/part{i}.bin": DataFile(url=f"http://weights.invalid/part{i}.bin", sha256="0" * 64, size=1)
              for i in (1, 2)}


def test_course_setup_reports_every_missing_data_file_at_once(monkeypatch, tmp_path):
    folder = offline(monkeypatch, tmp_path)
    monkeypatch.setattr(datafiles, "DATA_FILES", {**SHIPPED, **DOWNLOADED})
    with pytest.raises(MissingDataError) as info:
        check_course_setup()
    message = str(info.value)
    assert message.startswith(f"2 of the course's {len(SHIPPED) + 2} data files could not be fetched into {folder}:")
    assert [e.name for e in info.value.errors] == list(DOWNLOADED)
    assert info.value.__suppress_context__ and info.value.__cause__ is None
    assert not folder.exists()


def test_course_setup_names_a_missing_package_and_what_to_run(monkeypatch):
    monkeypatch.setattr(setup_check, "NOTEBOOK_PACKAGES", ("torch", "no-such-package-xyz"))
    monkeypatch.setitem(setup_check.MINIMUM_VERSIONS, "no-such-package-xyz", "1.0")
    with pytest.raises(CourseSetupError) as info:
        check_course_setup()
    message = str(info.value)
    assert message.startswith(f"This kernel's Python ({sys.executable}) lacks what the notebooks need:\n")
    assert "  - no-such-package-xyz is not installed" in message and "torch" not in message
    assert f"run:  {sys.executable} -m pip install -r requirements.txt  then restart the kernel" in message
    assert "data files" not in message
    assert info.value._render_traceback_() == [f"\x1b[0;31mCourseSetupError\x1b[0m: {message}"]


def test_course_setup_reports_packages_and_data_together(monkeypatch, tmp_path):
    offline(monkeypatch, tmp_path)
    monkeypatch.setattr(datafiles, "DATA_FILES", {**SHIPPED, **DOWNLOADED})
    monkeypatch.setattr(setup_check, "NOTEBOOK_PACKAGES", ("no-such-package-xyz",))
    monkeypatch.setitem(setup_check.MINIMUM_VERSIONS, "no-such-package-xyz", "1.0")
    with pytest.raises(CourseSetupError) as info:
        check_course_setup()
    message = str(info.value)
    data_problem = f"2 of the course's {len(SHIPPED) + 2} data files could not be fetched"
    assert message.index("no-such-package-xyz") < message.index(data_problem)
