"""Binder builds the repository with repo2docker's Python build pack and opens JupyterLab on the first notebook.

What repo2docker reads is checked here; .ci/check-binder installs the repository its way into a fresh
environment and runs the first notebook in the browser.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

ROOT = Path(__file__).resolve().parent.parent
BINDER_LINK = re.compile(r"\]\((https://mybinder\.org/v2/gh/[^)\s]+)\)")


def test_repo2docker_uses_runtime_txt_and_requirements_txt():
    # a binder/ folder would hide the files at the top; the others select another build pack
    others = ["binder", ".binder", "environment.yml", "Pipfile", "Pipfile.lock", "setup.py"]
    assert [name for name in others if (ROOT / name).exists()] == []
    assert (ROOT / "runtime.txt").read_text().strip() == "python-3.11"
    lines = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    lines = [line for line in lines if line and not line.startswith("#")]
    assert lines[-1] == "-e .", "requirements.txt must install the course package (`-e .`) for Binder"


def test_binder_badge_opens_jupyterlab_on_the_first_notebook():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    links = BINDER_LINK.findall(readme)
    assert len(links) == 1, f"README should hold exactly one Binder link (the badge), found {links}"
    url = urlsplit(links[0])
    assert re.fullmatch(r"/v2/gh/[\w.-]+/[\w.-]+/main", url.path), url.path
    [urlpath] = parse_qs(url.query)["urlpath"]
    first = sorted((ROOT / "notebooks").glob("*.ipynb"))[0]
    assert urlpath == f"lab/tree/{first.relative_to(ROOT).as_posix()}"
