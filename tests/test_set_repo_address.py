"""tools/set_repo_address.py: one command sets the repository address in every place that holds it."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TOOL = ROOT / "tools" / "set_repo_address.py"
ADDRESS = re.compile(r'^COURSE_REPO = "https://github\.com/([^"/]+/[^"/]+)"', re.MULTILINE)

spec = importlib.util.spec_from_file_location("set_repo_address", TOOL)
tool = importlib.util.module_from_spec(spec)
spec.loader.exec_module(tool)


@pytest.fixture
def course(tmp_path: Path) -> Path:
    """A copy of the files that hold the address (and the tool itself), with a notebook in a subfolder too."""
    copy = tmp_path / "course"
    (copy / "helpers" / "teaching").mkdir(parents=True)
    shutil.copy(ROOT / "README.md", copy)
    shutil.copy(ROOT / "helpers" / "teaching" / "setup_cell.txt", copy / "helpers" / "teaching")
    shutil.copytree(ROOT / "notebooks", copy / "notebooks", ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
    (copy / "notebooks" / "solutions").mkdir(exist_ok=True)
    shutil.copy(sorted((ROOT / "notebooks").glob("*.ipynb"))[0], copy / "notebooks" / "solutions" / "extra.ipynb")
    shutil.copytree(ROOT / "tools", copy / "tools", ignore=shutil.ignore_patterns("__pycache__"))
    return copy


def run_tool(course: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(course / "tools" / "set_repo_address.py"), "--", *args],
                          capture_output=True, text=True, timeout=60)


def snapshot(course: Path) -> dict[str, str]:
    return {str(p.relative_to(course)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(course.rglob("*")) if p.is_file() and "__pycache__" not in p.parts}


def first_code_cell(path: Path) -> str:
    nb = json.loads(path.read_text(encoding="utf-8"))
    return "".join(next(c for c in nb["cells"] if c["cell_type"] == "code")["source"])


def test_sets_the_address_everywhere_and_changes_nothing_else(course):
    old = ADDRESS.search((course / "helpers" / "teaching" / "setup_cell.txt").read_text()).group(1)
    before = {p: p.read_text(encoding="utf-8") for p in course.rglob("*") if p.suffix in (".md", ".txt", ".ipynb")}
    done = run_tool(course, "alice/llm-course")
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("repository address: https://github.com/alice/llm-course (")

    cell = (course / "helpers" / "teaching" / "setup_cell.txt").read_text(encoding="utf-8")
    assert ADDRESS.search(cell).group(1) == "alice/llm-course"
    readme = (course / "README.md").read_text(encoding="utf-8")
    assert "https://mybinder.org/v2/gh/alice/llm-course/main?urlpath=" in readme
    notebooks = sorted((course / "notebooks").rglob("*.ipynb"))
    ours = [p for p in (ROOT / "notebooks").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts]
    assert len(notebooks) == len(ours) + 1  # the course's notebooks (solutions/ included) and the extra one
    for path in notebooks:
        assert 'COURSE_REPO = "https://github.com/alice/llm-course"' in first_code_cell(path), path.name
    # the old address is left in no URL, and nothing but the address changed
    for path, text in before.items():
        after = path.read_text(encoding="utf-8")
        assert not tool.in_urls(old).search(after), path
        assert after.replace("alice/llm-course", old) == text, path
    # the README's links and the set-up cell agree, as tests/test_setup_cell.py requires
    assert set(re.findall(r"mybinder\.org/v2/gh/([^/\s)]+/[^/\s)]+)/", readme)) == {"alice/llm-course"}


def test_reads_the_current_address_so_it_can_be_changed_again(course):
    assert run_tool(course, "alice/llm-course").returncode == 0
    done = run_tool(course, "https://github.com/bob/other-course.git")
    assert done.returncode == 0, done.stderr
    for path in sorted((course / "notebooks").rglob("*.ipynb")):
        assert 'COURSE_REPO = "https://github.com/bob/other-course"' in first_code_cell(path)
    assert "alice/llm-course" not in (course / "README.md").read_text(encoding="utf-8")
    again = run_tool(course, "bob/other-course")
    assert again.returncode == 0 and "0 files changed: nothing to change" in again.stdout


@pytest.mark.parametrize("address", [
    "", "alice", "alice/", "/course", "alice/course/extra", "-alice/course", "alice-/course", "al--ice/course",
    "a" * 40 + "/course", "alice/..", "alice/my course", "http://github.com/alice/course",
    "https://gitlab.com/alice/course", "alice/course;rm -rf /", "OWNER/REPO\nx",
])
def test_refuses_a_malformed_address_and_changes_nothing(course, address):
    before = snapshot(course)
    done = run_tool(course, address)
    assert done.returncode == 2
    assert "not a GitHub repository address" in done.stderr
    assert snapshot(course) == before


@pytest.mark.parametrize(("given", "slug"), [
    ("alice/llm-course", "alice/llm-course"),
    ("https://github.com/alice/llm-course", "alice/llm-course"),
    ("https://github.com/alice/llm-course.git", "alice/llm-course"),
    ("https://github.com/alice/llm-course/", "alice/llm-course"),
    ("Alice-2/LLMs_from.scratch", "Alice-2/LLMs_from.scratch"),
])
def test_accepts_the_usual_forms(given, slug):
    assert tool.parse_address(given) == slug


def test_only_whole_addresses_in_urls_are_replaced():
    pattern = tool.in_urls("alice/course")
    text = ("https://github.com/alice/course x github.com/alice/course.git mybinder.org/v2/gh/alice/course/main "
            "colab.research.google.com/github/alice/course/blob/main/a.ipynb alice/course "
            "github.com/alice/course2 github.com/alice/course.txt github.com/malice/course")
    assert len(pattern.findall(text)) == 4
