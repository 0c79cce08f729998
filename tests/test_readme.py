"""The README is for learners: short, with the chapter table naming every notebook, and links to the rest."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_readme_stays_short_and_links_what_it_left_out():
    assert len(README.splitlines()) < 200
    for target in ("CONTRIBUTING.md", "benchmarks/README.md"):
        assert f"]({target})" in README and (ROOT / target).is_file()


def test_the_chapter_table_names_every_notebook():
    linked = set(re.findall(r"\]\(notebooks/(\d\d_[a-z_]+)\.ipynb\)", README))
    notebooks = {p.stem for p in (ROOT / "notebooks").glob("*.ipynb")}
    assert linked == notebooks
