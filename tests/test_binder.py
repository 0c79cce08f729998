"""Binder builds the repository with repo2docker's Python build pack and opens JupyterLab on the first notebook.

With a binder/ folder, repo2docker reads only that folder: the Python of binder/runtime.txt, then, in the
repository's root folder with the whole checkout there (a `-r` line is a local reference, so it installs after
copying the repository),  pip install --no-cache-dir -r binder/requirements.txt . What it reads is checked here,
following pip's rules: a nested `-r` file is relative to the file that names it, a local path such as `-e .` is
relative to the folder pip runs in. .ci/check-binder installs the repository that way into a fresh environment and
runs the first notebook in the browser.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parent.parent
BINDER = ROOT / "binder"
BINDER_LINK = re.compile(r"\]\((https://mybinder\.org/v2/gh/[^)\s]+)\)")
CPU_INDEX = "https://download.pytorch.org/whl/cpu"


def lines_of(path: Path) -> list[str]:
    """The lines pip reads: no comments, no blank lines."""
    lines = [line.split(" #", 1)[0].strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if line and not line.startswith("#")]


def requirements(path: Path) -> list[tuple[str, Path]]:
    """Every requirement line of `path`, with nested `-r` files read in place, and the file each comes from."""
    found = []
    for line in lines_of(path):
        if line.startswith(("-r ", "--requirement ")):
            found += requirements((path.parent / line.split(None, 1)[1]).resolve())
        else:
            found.append((line, path))
    return found


def test_binder_folder_holds_what_the_python_build_pack_reads():
    # .binder/ beside binder/ is an error for repo2docker; other files in binder/ would select another build pack
    assert not (ROOT / ".binder").exists()
    assert sorted(p.name for p in BINDER.iterdir()) == ["requirements.txt", "runtime.txt"]
    assert (BINDER / "runtime.txt").read_text().strip() == "python-3.11"
    assert not (ROOT / "runtime.txt").exists(), "Binder reads binder/runtime.txt only: one runtime.txt, not two"


def test_binder_takes_torch_from_the_cpu_index_and_installs_the_course_requirements():
    lines = lines_of(BINDER / "requirements.txt")
    assert lines == [f"--extra-index-url {CPU_INDEX}", "-r ../requirements.txt"]
    assert (BINDER / ".." / "requirements.txt").resolve() == ROOT / "requirements.txt"
    index, *resolved = requirements(BINDER / "requirements.txt")
    assert index == (f"--extra-index-url {CPU_INDEX}", BINDER / "requirements.txt")
    assert all(source == ROOT / "requirements.txt" for _, source in resolved)
    names = [re.split(r"[<>=!~ ]", line, maxsplit=1)[0] for line, _ in resolved]
    assert "torch" in names  # found in the CPU index as well as on PyPI; its +cpu build ranks first


def test_binder_installs_helpers_editable_and_the_jupyterlab_defaults():
    resolved = [line for line, _ in requirements(BINDER / "requirements.txt")]
    assert resolved[-1] == "-e ."  # relative to the root folder, where repo2docker runs pip
    assert "./jupyter-settings" in resolved
    assert (ROOT / "pyproject.toml").is_file() and 'include = ["helpers*"]' in (ROOT / "pyproject.toml").read_text()
    assert (ROOT / "jupyter-settings" / "pyproject.toml").is_file()


def test_check_binder_installs_from_the_binder_folder():
    script = (ROOT / ".ci" / "check-binder").read_text(encoding="utf-8")
    assert "binder/runtime.txt" in script
    assert "install -q --no-cache-dir -r binder/requirements.txt" in script
    assert "torch.version.cuda is None" in script


def test_binder_badge_opens_jupyterlab_on_the_first_notebook():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = BINDER_LINK.findall(readme)
    assert len(links) == 1, f"README should hold exactly one Binder link (the badge), found {links}"
    url = urlsplit(links[0])
    assert re.fullmatch(r"/v2/gh/[\w.-]+/[\w.-]+/main", url.path), url.path
    [urlpath] = parse_qs(url.query)["urlpath"]
    first = sorted((ROOT / "notebooks").glob("*.ipynb"))[0]
    assert urlpath == f"lab/tree/{first.relative_to(ROOT).as_posix()}"


def test_check_binder_selects_a_browser_test_that_exists():
    """.ci/check-binder's `-k` selection matches a test of tests/test_browser_notebooks.py (a rename breaks it)."""
    import ast

    script = (ROOT / ".ci" / "check-binder").read_text()
    selection = re.search(r'tests/test_browser_notebooks\.py -k "([^"]+)"', script).group(1)
    tree = ast.parse((ROOT / "tests" / "test_browser_notebooks.py").read_text())
    tests = [node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")]
    assert selection in tests, f".ci/check-binder selects -k {selection!r}, which names none of {tests}"
