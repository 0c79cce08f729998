"""The README's figure (docs/gpt-architecture.png) is what tools/make_readme_figures.py draws today."""

from __future__ import annotations

import importlib.util
from pathlib import Path

from PIL import Image, ImageChops

ROOT = Path(__file__).resolve().parent.parent
spec = importlib.util.spec_from_file_location("make_readme_figures", ROOT / "tools" / "make_readme_figures.py")
make_readme_figures = importlib.util.module_from_spec(spec)
spec.loader.exec_module(make_readme_figures)


def test_the_readme_shows_its_figures_and_they_are_up_to_date(tmp_path):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    make_readme_figures.main(tmp_path)
    for name in make_readme_figures.README_FIGURES:
        assert f"](docs/{name})" in readme, f"README.md does not show docs/{name}"
        stored, fresh = Image.open(ROOT / "docs" / name).convert("RGB"), Image.open(tmp_path / name).convert("RGB")
        assert stored.size == fresh.size, f"docs/{name} is out of date: run python tools/make_readme_figures.py"
        # a newer matplotlib may move a few antialiased pixels; a changed diagram changes many
        diff = ImageChops.difference(stored, fresh).convert("L").point(lambda v: 255 if v > 32 else 0)
        changed = diff.histogram()[255] / (diff.width * diff.height)
        assert changed < 0.005, f"docs/{name} differs from a fresh drawing in {changed:.1%} of its pixels: run the tool"
