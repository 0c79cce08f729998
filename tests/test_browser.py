"""The browser suite finds what it should: a missing browser, broken widgets, errors, pictures that do not render.

The machinery is in tests/browser_lab.py; tests/test_browser_notebooks.py runs the course's notebooks with it.
"""

from __future__ import annotations

import pytest
from browser_lab import (
    SETUP_CELL,
    check_notebook,
    failure_message,
    figures_in_lab,
    find_chromium,
    unavailable,
    write_notebook,
)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_no_browser_skips_or_fails_as_required(monkeypatch, tmp_path):
    monkeypatch.setenv("CHROMIUM_PATH", str(tmp_path / "no-such-chromium"))
    assert find_chromium() is None
    monkeypatch.delenv("REQUIRE_BROWSER", raising=False)
    with pytest.raises(pytest.skip.Exception, match="no browser here"):
        unavailable("no browser here")
    monkeypatch.setenv("REQUIRE_BROWSER", "1")
    with pytest.raises(pytest.fail.Exception, match="REQUIRE_BROWSER=1 but no browser here"):
        unavailable("no browser here")


def test_chromium_path_names_the_browser(monkeypatch, tmp_path):
    fake = tmp_path / "my-chromium"
    fake.write_text("#!/bin/sh\n")
    fake.chmod(0o755)
    monkeypatch.setenv("CHROMIUM_PATH", str(fake))
    assert find_chromium() == str(fake)


# --- throwaway notebooks (never stored in notebooks/) -----------------------------------------------------


EXPLORERS_NOTEBOOK = [
    SETUP_CELL,
    # a slider that changes a printed tensor
    "import torch\nfrom ipywidgets import interact, interactive\n\n\n"
    "def count(n=3):\n    print(torch.arange(n))\n\n\ninteractive(count, n=(1, 10))",
    # a dropdown that redraws a figure (interact displays the returned Figure)
    "import matplotlib.pyplot as plt\n\n\n"
    "def draw(kind='rising'):\n    fig, ax = plt.subplots(figsize=(3, 2))\n"
    "    ax.plot([0, 1], [0, 1] if kind == 'rising' else [1, 0])\n    plt.close(fig)\n    return fig\n\n\n"
    "_ = interact(draw, kind=['rising', 'falling'])",
    # a text box, with a button that runs the function (interact_manual)
    "interactive(lambda text='Hello': print(text.upper()), {'manual': True}, text='Hello')",
    # a progress bar is a widget but not an explorer
    "from tqdm.auto import tqdm\n\nfor _ in tqdm(range(3)):\n    pass",
    # an error on purpose is allowed where the cell says so
    ("raise ValueError('on purpose')", ["raises-exception"]),
    "print('done')",
]


def test_widget_explorers_respond(browser, lab, scratch):
    path = write_notebook(scratch / "explorers.ipynb", EXPLORERS_NOTEBOOK)
    result = check_notebook(browser, lab, path)
    assert result.problems == []
    assert result.explorers == [
        "cell 2: slider 3 -> ArrowRight",
        "cell 3: choice 'rising' -> 'falling'",
        "cell 4: text 'Hello' -> 'Hello again', then its button",
    ]


def test_problems_are_found_and_reported_with_a_screenshot(browser, lab, scratch):
    path = write_notebook(scratch / "broken.ipynb", [
        SETUP_CELL,
        "import warnings\n\nwarnings.warn('careful', stacklevel=1)",
        "from ipywidgets import IntSlider, interactive\n\nprint(repr(IntSlider(value=3)))",
        "interactive(lambda n=1: None, n=(1, 5))",  # shows nothing whatever n is
        "1 / 0",
        "print('never runs')",
    ], kernel="no-such-kernel")  # JupyterLab asks which kernel to start; the test accepts Python 3, as a learner would
    result = check_notebook(browser, lab, path, explorer_timeout_s=2)
    problems = "\n".join(result.problems)
    assert "broken.ipynb cell 2: prints to stderr: " in problems
    assert "broken.ipynb cell 3: shows a widget's text repr instead of the widget: 'IntSlider(value=3" in problems
    assert "broken.ipynb cell 5: shows an error: ZeroDivisionError: division by zero" in problems
    assert "broken.ipynb cell 6: did not run" in problems
    assert "broken.ipynb cell 4, explorer 0: its output did not change within 2 s (slider 1 -> ArrowRight; " in problems
    assert (lab.artifacts / "broken.png").stat().st_size > 0
    assert len(result.problems) == 6, problems


def test_a_picture_that_does_not_render_is_reported(browser, lab, scratch):
    import base64
    import io

    import matplotlib.pyplot as plt
    import nbformat

    fig, _ = plt.subplots(figsize=(2, 1))
    png = io.BytesIO()
    fig.savefig(png, format="png")
    plt.close(fig)
    path = write_notebook(scratch / "figures.ipynb", ["print('two pictures')"])
    nb = nbformat.read(path, as_version=4)
    nb.cells[1].execution_count = 1
    nb.cells[1].outputs = [
        nbformat.v4.new_output("display_data", {"image/png": base64.b64encode(png.getvalue()).decode()}),
        nbformat.v4.new_output("display_data", {"image/png": "bm90IGEgcGljdHVyZQ=="}),  # "not a picture"
    ]
    nbformat.write(nb, path)
    result = check_notebook(browser, lab, path, check=figures_in_lab)
    assert len(result.problems) == 2, result.problems  # the problem, then where the screenshot is
    assert result.problems[0].startswith("figures.ipynb cell 1: a picture did not render"), result.problems
    assert failure_message(result).splitlines()[0].endswith(f"[browser: {find_chromium()}]")


def test_the_first_line_of_a_failure_names_the_cause_and_the_browser(browser, lab, scratch):
    path = write_notebook(scratch / "nodata.ipynb", [
        "raise FileNotFoundError('data file the-verdict.txt is missing: download ... into data/')",
        "print('never runs')",
    ])
    result = check_notebook(browser, lab, path)
    first = failure_message(result).splitlines()[0]
    assert first.startswith("nodata.ipynb cell 1: the set-up cell is not silent, it says: FileNotFoundError: data file "
                            "the-verdict.txt is missing"), first
    assert first.endswith(f"[browser: {find_chromium()}]"), first
