"""Write the figures the README shows, from helpers.teaching.diagrams (for maintainers). Run from the course folder:

    python tools/make_readme_figures.py

It writes docs/gpt-architecture.png (the same picture as notebook 06 shows, at 100 dpi). The diagrams use few
colours, so the PNG is stored with a palette of 128 colours: about a third of the size, with no visible change.
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no window: this script only writes files

from matplotlib.figure import Figure  # noqa: E402 (after choosing the backend)
from PIL import Image  # noqa: E402

from helpers.teaching.diagrams import draw_gpt_architecture  # noqa: E402

DOCS = Path(__file__).resolve().parent.parent / "docs"
README_FIGURES = {"gpt-architecture.png": draw_gpt_architecture}


def save_png(fig: Figure, path: Path, colours: int = 128) -> None:
    """Write `fig` as a PNG at 100 dpi, reduced to a palette of `colours` colours without dithering."""
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100)
    image = Image.open(buffer).convert("RGB")
    image.quantize(colours, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(path, optimize=True)


def main(folder: Path = DOCS) -> None:
    """Draw each README figure and write it into `folder`."""
    for name, draw in README_FIGURES.items():
        save_png(draw(), folder / name)  # the diagram comes back closed from pyplot
        print(f"wrote {folder / name} ({(folder / name).stat().st_size / 1024:.0f} KB)")


if __name__ == "__main__":
    main()
