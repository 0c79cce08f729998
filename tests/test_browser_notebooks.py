"""The course in JupyterLab: the stored notebooks show every picture, the set-up check runs, every explorer responds.

What a notebook's kernel does is what nbval already runs once per `pytest` (every cell, every output compared), so
the browser does not run the course's notebooks a second time. It checks what only a browser shows:
- every notebook with pictures (figures, concept diagrams), opened as stored without running it: each picture
  renders at its place with a size;
- the set-up check (00), run with Run All: the set-up cell stays silent, the checks pass in JupyterLab's kernel;
- every explorer of `helpers.teaching.widgets` that a notebook shows, in one notebook of its own (small inputs, so
  that it runs in seconds), run with Run All: each renders as a widget, and redraws when one of its controls changes.
The machinery is in tests/browser_lab.py.
"""

from __future__ import annotations

import json
import re

import pytest
from browser_lab import (
    NOTEBOOKS,
    PICTURES_ONLY,
    ROOT,
    SETUP_CELL,
    check_notebook,
    failure_message,
    figures_in_lab,
    stored_images,
    write_notebook,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]

# One cell per explorer of helpers.teaching.widgets, on small inputs.
COURSE_EXPLORERS = {
    "tokenizer_explorer": """
from helpers.gpt2_tokenizer import gpt2_encoding
from helpers.teaching.widgets import tokenizer_explorer

tokenizer_explorer({"GPT-2 BPE": gpt2_encoding()}, text="Hello, do you like tea?")""",
    "sliding_window_explorer": """
from helpers.datafiles import load_text
from helpers.teaching.widgets import sliding_window_explorer

sliding_window_explorer(load_text("the-verdict.txt")[:2000])""",
    "embedding_explorer": """
import torch
from helpers.embeddings import sinusoidal_encoding
from helpers.teaching.widgets import embedding_explorer

torch.manual_seed(123)
embedding_explorer({"sinusoidal": sinusoidal_encoding(16, 8), "learned": torch.randn(16, 8)})""",
    "attention_explorer": """
import torch
from helpers.attention import MultiHeadAttention
from helpers.teaching.widgets import attention_explorer

torch.manual_seed(123)
mha = MultiHeadAttention(3, 4, context_length=6, dropout=0.0, num_heads=2)
attention_explorer(mha, torch.rand(1, 6, 3), ["Your", "journey", "starts", "with", "one", "step"])""",
    "spam_explorer": """
import torch
from helpers.classifier import add_classification_head, load_base_model
from helpers.gpt2_tokenizer import gpt2_encoding
from helpers.teaching.widgets import spam_explorer

torch.manual_seed(123)
classifier = add_classification_head(load_base_model(False))
spam_explorer(classifier, gpt2_encoding(), max_length=64)""",
    "chat_explorer": """
from helpers.smollm2 import load_smollm2, smollm2_tokenizer
from helpers.teaching.widgets import chat_explorer

chat_explorer(load_smollm2(), smollm2_tokenizer(), max_new_tokens=5)""",
}


def explorers_shown_by_notebooks() -> set[str]:
    """The names of the `helpers.teaching.widgets` explorers that the course's notebooks show."""
    shown = set()
    for path in NOTEBOOKS:
        for cell in json.loads(path.read_text(encoding="utf-8"))["cells"]:
            source = "".join(cell["source"])
            for names in re.findall(r"from helpers\.teaching\.widgets import ([\w, ]+)", source):
                shown |= {name.strip() for name in names.split(",") if name.strip() in source.split("import", 1)[1]
                          and re.search(rf"\b{name.strip()}\(", source)}
    return shown


def test_every_explorer_a_notebook_shows_is_tried():
    shown = explorers_shown_by_notebooks()
    assert shown, "no notebook shows an explorer of helpers.teaching.widgets: is the scan still right?"
    assert shown <= set(COURSE_EXPLORERS), f"add these to COURSE_EXPLORERS: {sorted(shown - set(COURSE_EXPLORERS))}"


def test_every_course_explorer_responds(browser, lab, scratch):
    cells = [SETUP_CELL, *(source.strip() for source in COURSE_EXPLORERS.values())]
    path = write_notebook(scratch / "course-explorers.ipynb", cells)
    result = check_notebook(browser, lab, path)
    if result.problems:
        pytest.fail(failure_message(result), pytrace=False)
    assert len(result.explorers) == len(COURSE_EXPLORERS), result.explorers


def test_the_setup_check_runs_in_jupyterlab(browser, lab):
    result = check_notebook(browser, lab, ROOT / "notebooks" / "00_setup_check.ipynb")
    if result.problems:
        pytest.fail(failure_message(result), pytrace=False)
    # JupyterLab checkpoints a notebook it opens; the server keeps that outside the course's folders
    assert (lab.checkpoints / "00_setup_check-checkpoint.ipynb").is_file(), sorted(lab.checkpoints.glob("*"))


@pytest.mark.parametrize("path", PICTURES_ONLY, ids=lambda p: p.relative_to(ROOT / "notebooks").as_posix())
def test_stored_notebook_shows_every_picture(browser, lab, path):
    result = check_notebook(browser, lab, path, check=figures_in_lab)
    if result.problems:
        pytest.fail(failure_message(result), pytrace=False)
    assert len(result.pictures) == len(stored_images(path))
