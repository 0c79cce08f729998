"""The shared first cell of every notebook (helpers/teaching/setup_cell.txt): silent when all is in place, a clear
message when `helpers` or the data files are missing, and an idempotent install on Colab."""

from __future__ import annotations

import json
import os
import re
import shutil
import site
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from helpers.teaching.setup_check import SETUP_CELL_FILE

ROOT = Path(__file__).resolve().parent.parent
CELL = SETUP_CELL_FILE  # helpers/teaching/setup_cell.txt
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb")) + sorted((ROOT / "notebooks").glob("solutions/*.ipynb"))

# Runs the cell (argv[1]) `times` times in one fresh interpreter and prints what each run raised. In "colab"
# mode it fakes Colab: a `google.colab` module, and a pip that records its command instead of installing; it
# makes the course's dependencies importable (the folders of argv[4]), as a real `pip install -e` would.
RUNNER = r"""
import json, subprocess, sys, types
cell_file, mode, times, dependencies = sys.argv[1], sys.argv[2], int(sys.argv[3]), json.loads(sys.argv[4])
cell = open(cell_file, encoding="utf-8").read()
commands = []
if mode == "colab":
    sys.modules["google.colab"] = types.ModuleType("google.colab")
    real_run = subprocess.run
    def fake_run(command, **kwargs):
        commands.append(command)
        if command[1:4] == ["-m", "pip", "install"]:
            sys.path.extend(d for d in dependencies if d not in sys.path)
            return subprocess.CompletedProcess(command, 0, "", "")
        return real_run(command, **kwargs)
    subprocess.run = fake_run
runs = []
for _ in range(times):
    try:
        exec(compile(cell, "setup-cell", "exec"), {})
        runs.append(None)
    except Exception as err:
        runs.append([type(err).__name__, str(err)])
helpers = sys.modules.get("helpers")
print("RESULT " + json.dumps({"runs": runs, "commands": commands, "helpers": getattr(helpers, "__file__", None)}))
"""


def run_cell(tmp_path: Path, *, cell: str | None = None, mode: str = "local", times: int = 1,
             hide_helpers: bool = False, env: dict[str, str] | None = None) -> tuple[dict, str]:
    """Run the setup cell in a fresh interpreter (cwd `tmp_path`); return its result and everything it printed.

    `hide_helpers` starts Python without site-packages (-I -S), so the installed `helpers` is not found:
    a kernel whose Python lacks the course package.
    """
    cell_file = tmp_path / "cell.py"
    cell_file.write_text(cell if cell is not None else CELL.read_text(encoding="utf-8"), encoding="utf-8")
    runner = tmp_path / "runner.py"
    runner.write_text(RUNNER, encoding="utf-8")
    flags = ["-I", "-S"] if hide_helpers else []
    done = subprocess.run(
        [sys.executable, *flags, str(runner), str(cell_file), mode, str(times), json.dumps(site.getsitepackages())],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env,
    )
    assert done.returncode == 0, done.stderr
    printed, _, result = done.stdout.rpartition("RESULT ")
    return json.loads(result), printed + done.stderr


def environment(**changes: str) -> dict[str, str]:
    """This process's environment with `changes`, and no proxy settings unless given."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in ("http_proxy", "https_proxy", "no_proxy")}
    env.update(changes)
    return env


def closed_port() -> int:
    """A port on 127.0.0.1 that nothing listens on (connections are refused)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_notebook_starts_with_the_setup_cell(path):
    nb = json.loads(path.read_text(encoding="utf-8"))
    first = next(c for c in nb["cells"] if c["cell_type"] == "code")
    assert "".join(first["source"]).rstrip() == CELL.read_text(encoding="utf-8").rstrip(), (
        f"{path.name}: the first code cell differs from helpers/teaching/setup_cell.txt; rebuild the notebook"
    )
    assert first["outputs"] == [], f"{path.name}: the setup cell must print nothing"
    # collapsed: its source hidden in JupyterLab, a form showing only its title on Colab
    assert first["metadata"].get("jupyter", {}).get("source_hidden") is True, f"{path.name}: source not hidden"
    assert first["metadata"].get("cellView") == "form", f"{path.name}: not a form cell on Colab"


def test_the_cell_is_short_titled_and_leaves_the_checks_to_helpers():
    lines = CELL.read_text(encoding="utf-8").rstrip().splitlines()
    assert lines[0] == "# @title Course set-up (run me first)"  # what Colab's form and a collapsed cell show
    assert len(lines) <= 30
    assert max(len(line) for line in lines) <= 120
    assert lines[-1] == "check_course_setup()"
    assert "from helpers.teaching.setup_check import check_course_setup" in lines


def test_silent_and_repeatable_when_helpers_and_data_are_in_place(tmp_path):
    result, printed = run_cell(tmp_path, times=2)
    assert result["runs"] == [None, None]
    assert printed == ""
    assert result["commands"] == []


def test_helpers_missing_says_what_to_run(tmp_path):
    result, printed = run_cell(tmp_path, hide_helpers=True)
    [[kind, message]] = result["runs"]
    assert kind == "ModuleNotFoundError"
    assert "The course package `helpers` is not installed" in message
    assert f"{sys.executable} -m pip install -r requirements.txt" in message
    assert "restart the kernel" in message


def course_copy(tmp_path: Path) -> Path:
    """A copy of the course's package and shipped data in `tmp_path`, where the cell's interpreter imports it."""
    shutil.copytree(ROOT / "helpers", tmp_path / "helpers", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "datasets", tmp_path / "datasets")
    return tmp_path


def damage_the_data(course: Path) -> None:
    (course / "datasets" / "the-verdict" / "the-verdict.txt").unlink()
    vocab = course / "datasets" / "gpt2" / "vocab.bpe"
    vocab.write_bytes(vocab.read_bytes()[:-10])


def test_missing_or_damaged_shipped_data_lists_every_file_at_once(tmp_path):
    course = course_copy(tmp_path)
    damage_the_data(course)
    result, printed = run_cell(tmp_path)
    [[kind, message]] = result["runs"]
    assert kind == "MissingDataError"
    assert "  - the-verdict.txt: datasets/the-verdict/the-verdict.txt is missing" in message
    assert "  - gpt2/vocab.bpe: datasets/gpt2/vocab.bpe was edited or is damaged" in message
    assert "encoder.json" not in message  # the intact file is not named
    assert message.count("git checkout -- datasets/") == 1
    assert printed == ""
    assert not (tmp_path / "data").exists()  # nothing is downloaded or written


def test_damaged_data_shows_the_message_without_a_traceback_in_ipython(tmp_path):
    damage_the_data(course_copy(tmp_path))
    env = environment(IPYTHONDIR=str(tmp_path / "ipython"), PYTHONPATH=str(tmp_path))
    done = subprocess.run(
        [sys.executable, "-m", "IPython", "--quick", "--no-banner", "--colors=nocolor", "-c", CELL.read_text()],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, env=env,
    )
    shown = done.stdout + done.stderr
    assert shown.startswith("\x1b[0;31mMissingDataError\x1b[0m: 2 of the course's"), shown
    assert "Traceback" not in shown


def colab_cell(content: Path, repo_url: str) -> str:
    """The setup cell with Colab's /content folder and the repository address replaced for a test."""
    text = CELL.read_text(encoding="utf-8")
    address = re.search(r'^COURSE_REPO = ("https://github\.com/[^"]+")', text, re.MULTILINE).group(1)
    assert text.count('"/content/"') == 1 and text.count(address) == 1
    return text.replace('"/content/"', repr(f"{content}/")).replace(address, repr(repo_url))


@pytest.fixture
def course_repo(tmp_path: Path) -> str:
    """A git repository holding the course package, as a file:// URL (stands in for the GitHub repository)."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    src = tmp_path / "course"
    shutil.copytree(ROOT / "helpers", src / "helpers", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "datasets", src / "datasets")
    shutil.copy(ROOT / "pyproject.toml", src)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.invalid", "-C", str(src)]
    for args in (["init", "--quiet"], ["add", "."], ["commit", "--quiet", "-m", "course"]):
        subprocess.run([*git, *args], check=True, capture_output=True)
    return src.as_uri()


def test_colab_installs_the_course_once(tmp_path, course_repo):
    content = tmp_path / "content"
    content.mkdir()
    course = content / "course"
    cell = colab_cell(content, course_repo)
    env = environment(LLM_DATA_DIR=str(ROOT / "data"))
    # first run on a fresh Colab runtime: clone, pip install -e, import from the clone; the second run in the
    # same kernel does nothing
    result, printed = run_cell(tmp_path, cell=cell, mode="colab", times=2, hide_helpers=True, env=env)
    assert result["runs"] == [None, None], result["runs"]
    clone, pip = result["commands"]
    assert clone[:2] == ["git", "clone"] and clone[-2:] == [course_repo, str(course)]
    assert pip[1:] == ["-m", "pip", "install", "--quiet", "--editable", str(course)]
    assert Path(result["helpers"]).parent == course / "helpers"
    assert printed == ""
    # a new kernel after a clone whose install did not finish: no second clone, pip again
    result, _ = run_cell(tmp_path, cell=cell, mode="colab", hide_helpers=True, env=env)
    assert result["runs"] == [None]
    assert [c[1:4] for c in result["commands"]] == [["-m", "pip", "install"]]


def test_colab_clone_failure_names_the_command_and_git_error(tmp_path, course_repo):
    content = tmp_path / "content"
    content.mkdir()
    cell = colab_cell(content, course_repo + "-missing")
    result, _ = run_cell(tmp_path, cell=cell, mode="colab", hide_helpers=True)
    [[kind, message]] = result["runs"]
    assert kind == "RuntimeError"
    assert message.startswith(f"course set-up failed: git clone --quiet --depth=1 {course_repo}-missing")
    assert "does not exist" in message or "not found" in message or "fatal" in message


def test_readme_links_and_setup_cell_name_the_same_repository():
    cell_repo = re.search(r'COURSE_REPO = "https://github\.com/([^"/]+/[^"/]+)"', CELL.read_text()).group(1)
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = re.findall(r"mybinder\.org/v2/gh/([^/\s)]+/[^/\s)]+)/", readme)
    assert links, "README has no Binder link"
    assert set(links) == {cell_repo}, f"README's Binder link names {set(links)}, the setup cell {cell_repo}"
