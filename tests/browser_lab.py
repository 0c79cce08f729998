"""The browser suite's machinery: JupyterLab as learners use it, driven in headless Chromium (no tests here).

tests/test_browser_notebooks.py runs the course's notebooks with it, tests/test_browser.py checks that it finds
what it should (two files, so that pytest-xdist can run them side by side, each with its own JupyterLab).

Starts `jupyter lab` on 127.0.0.1 (a free port, token auth, the repository as root folder, throwaway Jupyter
config/data/runtime/settings folders, autosave off so no notebook file changes) and drives headless Chromium
through Playwright:
- every notebook (solutions included) is opened as stored, without running it, and every stored picture (figures,
  concept diagrams) must show as an image of non-zero size at its place;
- the notebooks that display widgets, and the set-up check 00, are run with Run > Run All Cells after clearing
  their outputs: no cell may show an error or a widget's text repr, the set-up cell must stay silent, and each
  widget explorer (a widget with a control and an output) must redraw when one control changes. The kernel side of
  the other notebooks is what nbval already runs (every notebook, once per `pytest`), so they are not run twice.
A failing notebook leaves a screenshot in the folder its message names; the first line of the message names the
cause and the browser used, so that pytest's short summary shows them.

The browser is the system's Chromium (Debian's `chromium` package, or $CHROMIUM_PATH); nothing is downloaded.
Without Chromium or Playwright these tests skip, unless REQUIRE_BROWSER=1 (set by .ci/run): then they fail.
Waits have limits only to stop a hung run; they are far above the slowest times measured on a busy 2-core machine,
and a message says so when one is reached. Timings are printed at the end of the run.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from helpers.teaching import setup_check

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted(p for p in (ROOT / "notebooks").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts)
SETUP_CELL = setup_check.SETUP_CELL
# Flags for Chromium on a machine with no display and no network but loopback (Playwright adds --headless).
CHROMIUM_FLAGS = [
    "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-proxy-server",
]
CHROMIUM_NAMES = ["chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome"]
# Limits that only stop a hung run: each is several times the slowest time measured under load (Run All of a notebook
# with widgets took at most about 60 s with two CPU-bound processes beside the suite on 2 cores).
RUN_TIMEOUT_S = float(os.environ.get("BROWSER_RUN_TIMEOUT", "1800"))  # Run All of one notebook
EXPLORER_TIMEOUT_S = 120.0  # for an explorer to redraw after its control changed
PAGE_TIMEOUT_S = 300.0  # for one element of the page to appear, the kernel to start, the server to answer
HANG = "a limit that only stops a hung run, far above the slowest time measured on a busy machine"
# Jupyter settings for the test server: no autosave (the stored notebooks must not change), no news check.
LAB_SETTINGS = {
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false", "checkForUpdates": False,
    },
}

# the server is on 127.0.0.1: never go through a proxy set in the environment
LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))


# --- the server and the browser ---------------------------------------------------------------------------


@dataclass
class Lab:
    """A running JupyterLab server and the timings measured against it."""

    url: str
    token: str
    started: float  # time.monotonic() when the server process was started
    log: Path
    artifacts: Path
    checkpoints: Path  # where the server keeps the notebooks' checkpoints (not .ipynb_checkpoints/ beside them)
    timings: dict[str, float] = field(default_factory=dict)

    def api(self, method: str, path: str) -> object:
        """Call the Jupyter REST API; return the decoded JSON answer (None when empty)."""
        request = urllib.request.Request(
            f"{self.url}/api/{path}", method=method, headers={"Authorization": f"token {self.token}"}
        )
        with LOOPBACK.open(request, timeout=10) as response:
            body = response.read()
        return json.loads(body) if body else None

    def shut_down_kernel_of(self, path: str) -> None:
        """Shut down the kernel session of the notebook at `path` (relative to the root folder), if any."""
        for session in self.api("GET", "sessions") or []:
            if session.get("path") == path:
                self.api("DELETE", f"sessions/{session['id']}")


def unavailable(reason: str) -> None:
    """Skip for lack of a browser; a failure instead when REQUIRE_BROWSER=1 (CI must not skip)."""
    if os.environ.get("REQUIRE_BROWSER") == "1":
        pytest.fail(f"REQUIRE_BROWSER=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def find_chromium() -> str | None:
    """Path of the browser: $CHROMIUM_PATH if set, else the system's Chromium or Chrome; None if there is none."""
    if "CHROMIUM_PATH" in os.environ:
        candidates = [os.environ["CHROMIUM_PATH"]]
    else:
        candidates = [shutil.which(name) or "" for name in CHROMIUM_NAMES]
        candidates.append("/Applications/Google Chrome.app/Contents/MacOS/Google Chrome")
    return next((c for c in candidates if c and os.path.isfile(c) and os.access(c, os.X_OK)), None)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class TimingReport:
    """A pytest plugin that prints the browser timings in the terminal summary.

    Under pytest-xdist a worker's summary is not shown: the worker hands its lines to the main process instead
    (`workeroutput["browser_timings"]`), whose conftest.py prints them.
    """

    def __init__(self, lab: Lab) -> None:
        self.lab = lab

    def lines(self) -> list[str]:
        lines = [f"{name}: {seconds:.1f} s" for name, seconds in self.lab.timings.items()]
        return lines + [f"(screenshots of failures and the server log: {self.lab.artifacts})"] if lines else []

    def pytest_sessionfinish(self, session) -> None:
        workeroutput = getattr(session.config, "workeroutput", None)
        if workeroutput is not None:
            workeroutput["browser_timings"] = json.dumps(self.lines())

    def pytest_terminal_summary(self, terminalreporter) -> None:
        if self.lines() and not hasattr(terminalreporter.config, "workeroutput"):
            terminalreporter.section("JupyterLab in the browser: timings")
            for line in self.lines():
                terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory) -> Path:
    """Folder for screenshots of failing notebooks, the server log and the timings."""
    return tmp_path_factory.mktemp("browser")


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    """Headless Chromium driven by Playwright; closed at the end of the session, also after failures."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        unavailable("Playwright is not installed (pip install -r requirements.txt)")
    executable = find_chromium()
    if executable is None:
        unavailable(
            "no Chromium found: install it (Debian/Ubuntu: apt-get install chromium) or set $CHROMIUM_PATH "
            f"(now {os.environ.get('CHROMIUM_PATH', 'unset')})"
        )
    playwright = sync_playwright().start()
    try:
        try:
            chromium = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_FLAGS)
        except Exception as err:  # Playwright raises its own Error type for a browser that does not start
            unavailable(f"Chromium at {executable} did not start: {err}")
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()


@pytest.fixture(scope="session")
def lab(artifacts: Path, request) -> Iterator[Lab]:
    """`jupyter lab` on 127.0.0.1 with the repository as root folder; stopped at the end, also after failures."""
    home = artifacts / "jupyter"
    for folder in ("config", "data", "runtime", "ipython", "workspaces"):
        (home / folder).mkdir(parents=True)
    for name, values in LAB_SETTINGS.items():
        path = home / "settings" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))
    env = dict(
        os.environ,
        JUPYTER_CONFIG_DIR=str(home / "config"), JUPYTER_DATA_DIR=str(home / "data"),
        JUPYTER_RUNTIME_DIR=str(home / "runtime"), IPYTHONDIR=str(home / "ipython"),
        PATH=os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")]),
    )
    token = secrets.token_hex(24)
    port = free_port()
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={ROOT}",
        f"--LabApp.user_settings_dir={home / 'settings'}", f"--LabApp.workspaces_dir={home / 'workspaces'}",
        "--LabApp.news_url=None", "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        f"--FileCheckpoints.checkpoint_dir={home / 'checkpoints'}",  # an absolute folder: none in the course's
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log_path = artifacts / "jupyter-lab.log"
    with open(log_path, "w") as log:
        started = time.monotonic()
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT,
                                  start_new_session=True)
        try:
            url = f"http://127.0.0.1:{port}"
            lab = Lab(url=url, token=token, started=started, log=log_path, artifacts=artifacts,
                      checkpoints=home / "checkpoints")
            while True:
                if server.poll() is not None:
                    pytest.fail(f"jupyter lab exited with {server.returncode}:\n{log_path.read_text()[-3000:]}")
                try:
                    lab.api("GET", "status")
                    break
                except (urllib.error.URLError, ConnectionError):
                    if time.monotonic() - started > PAGE_TIMEOUT_S:
                        pytest.fail(f"jupyter lab did not answer within {PAGE_TIMEOUT_S:g} s ({HANG}); log: {log_path}")
                    time.sleep(0.2)
            request.config.pluginmanager.register(TimingReport(lab), "browser-timings")
            yield lab
            (artifacts / "timings.json").write_text(json.dumps(lab.timings, indent=1))
        finally:
            stop(server)


def stop(server: subprocess.Popen) -> None:
    """Stop the server (SIGTERM shuts its kernels down); kill its process group if it does not stop in time."""
    if server.poll() is None:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            if hasattr(os, "killpg"):
                os.killpg(server.pid, signal.SIGKILL)  # its own session: the server and what it started
            else:
                server.kill()
            server.wait(timeout=10)


# --- driving a notebook -----------------------------------------------------------------------------------

# Every cell of the open notebook: its index, input prompt, number of outputs, the text of each (also nested,
# e.g. inside a widget's output area) with its MIME type, and how many widget views it holds.
SCAN_CELLS = """() => [...document.querySelectorAll('.jp-NotebookPanel .jp-Notebook .jp-Cell')].map(cell => ({
  index: Number(cell.dataset.windowedListIndex),
  code: cell.classList.contains('jp-CodeCell'),
  prompt: (cell.querySelector('.jp-Cell-inputWrapper .jp-InputArea-prompt') || {textContent: ''}).textContent.trim(),
  hidden: cell.querySelector('.jp-Cell-inputWrapper .jp-InputPlaceholder') !== null,
  outputs: cell.querySelectorAll('.jp-Cell-outputArea > .jp-OutputArea-child').length,
  texts: [...cell.querySelectorAll('.jp-OutputArea-output[data-mime-type]')]
    .map(o => [o.dataset.mimeType, o.textContent]),
  widgets: cell.querySelectorAll('.jupyter-widgets').length,
  broken: cell.textContent.includes('Error displaying widget'),
}))"""
# Run All has started: some code cell waits, runs ([*]) or has run ([1]).
RUN_STARTED = """() => [...document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell .jp-InputPrompt')]
  .some(p => /\\[(\\*|\\d+)\\]/.test(p.textContent))"""
# Run All has finished: the kernel is idle, no cell waits or runs ([*]), and the first code cell whose source is
# shown has a number, or a cell shows an error (a collapsed cell, e.g. the set-up cell, shows no prompt).
RUN_FINISHED = """() => {
  const status = document.querySelector('.jp-NotebookPanel .jp-Notebook-ExecutionIndicator');
  const prompts = [...document.querySelectorAll('.jp-NotebookPanel .jp-CodeCell .jp-InputArea-prompt')]
    .map(p => p.textContent.trim());
  const failed = document.querySelector(
    '.jp-NotebookPanel .jp-CodeCell .jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]') !== null;
  return status !== null && status.dataset.status === 'idle' && prompts.length > 0
    && (/^\\[\\d+\\]/.test(prompts[0]) || failed) && !prompts.some(p => p.includes('*'));
}"""
CONTROLS = (".widget-slider, .widget-dropdown, .widget-select, .widget-text, .widget-textarea, .widget-checkbox, "
            ".widget-toggle-buttons, .widget-radio-box")
DISPLAYS = ".widget-output, .widget-html, .widget-htmlmath, .widget-image"
# Marks each explorer (a top-level widget view holding a control and something that displays a result) with
# data-explorer="<n>" and returns their cells' indices.
MARK_EXPLORERS = f"""() => {{
  const roots = document.querySelectorAll(
    '.jp-NotebookPanel .jp-Cell-outputArea > .jp-OutputArea-child > .jp-OutputArea-output > .jupyter-widgets');
  const cells = [];
  for (const root of roots) {{
    if (root.querySelector('{CONTROLS}') && root.querySelector('{DISPLAYS}')) {{
      root.dataset.explorer = cells.length;
      cells.push(Number(root.closest('.jp-Cell').dataset.windowedListIndex));
    }}
  }}
  return cells;
}}"""
# What an explorer displays: the text, images and vector drawings of its output parts.
EXPLORER_VIEW = f"""el => [...el.querySelectorAll('{DISPLAYS}')].map(o => o.textContent
  + [...o.querySelectorAll('img')].map(i => i.getAttribute('src')).join('|')
  + [...o.querySelectorAll('svg')].map(s => s.outerHTML).join('|')).join('\\n')"""
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\w*(Error|Exception)\b", re.MULTILINE)


def widget_repr_pattern() -> re.Pattern:
    """A widget's text repr (`IntSlider(value=3, ...)`, `interactive(children=...)`): shown when it did not render."""
    import ipywidgets

    names = [n for n, obj in vars(ipywidgets).items() if isinstance(obj, type) and issubclass(obj, ipywidgets.Widget)]
    return re.compile(r"\b(?:interactive|" + "|".join(sorted(names)) + r")\(\w+=")


@dataclass
class NotebookRun:
    """What one notebook did in the browser."""

    problems: list[str] = field(default_factory=list)
    explorers: list[str] = field(default_factory=list)  # one line per explorer: its cell and what changed
    pictures: list[str] = field(default_factory=list)  # one line per cell with stored pictures: how many showed
    run_all_s: float = 0.0


def cell_marks(path: Path) -> list[dict]:
    """Per cell of the stored notebook: may it raise / may it print to stderr (as nbval's markers say)."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    marks = []
    for cell in cells:
        source = "".join(cell.get("source", ""))
        tags = cell.get("metadata", {}).get("tags", [])
        comments = [line for line in source.splitlines() if line.strip().startswith("#")]
        marks.append({
            "raises": "raises-exception" in tags or any("NBVAL_RAISES_EXCEPTION" in c for c in comments),
            "ignored": "nbval-ignore-output" in tags or any("NBVAL_IGNORE_OUTPUT" in c for c in comments),
            "empty": cell["cell_type"] != "code" or not source.strip(),
        })
    return marks


def wait_for_kernel(page, lab: Lab, relative: str, timeout_s: float = PAGE_TIMEOUT_S) -> None:
    """Wait until the notebook's kernel is idle and the page shows it; accept a "Select Kernel" dialog.

    JupyterLab asks for the kernel when the list of kernels was not loaded in time (a busy machine); a learner
    then clicks Select, on the Python 3 kernel it proposes.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        dialog = page.locator(".jp-Dialog")
        if dialog.count() and "Select Kernel" in (dialog.first.text_content() or ""):
            dialog.first.locator(".jp-Dialog-button.jp-mod-accept").click()
        sessions = [s for s in lab.api("GET", "sessions") or [] if s.get("path") == relative]
        ready = sessions and (sessions[0].get("kernel") or {}).get("execution_state") == "idle"
        if ready and page.locator('.jp-NotebookPanel .jp-Notebook-ExecutionIndicator[data-status="idle"]').count():
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"the kernel of {relative} was not ready within {timeout_s:g} s ({HANG})")
        page.wait_for_timeout(250)


def click_menu(page, menu: str, command: str) -> None:
    """Open a menu of the menu bar and click the item that runs `command` (as a learner does)."""
    page.locator(".lm-MenuBar-item", has_text=re.compile(f"^{menu}$")).click()
    page.locator(f'.lm-Menu-item[data-command="{command}"]').click()


def nudge(explorer) -> str:
    """Change the explorer's first control by one step; return what was changed."""
    handle = explorer.locator('.noUi-handle[role="slider"]')  # ipywidgets 8 sliders
    if handle.count():
        handle = handle.first
        now, top = float(handle.get_attribute("aria-valuenow")), float(handle.get_attribute("aria-valuemax"))
        key = "ArrowLeft" if now >= top else "ArrowRight"
        handle.focus()
        handle.press(key)
        return f"slider {now:g} -> {key}"
    for select in explorer.locator("select").all():  # the first drop-down that offers a choice
        values = select.locator("option").evaluate_all("options => options.map(o => o.value)")
        current = select.input_value()
        others = [v for v in values if v != current]
        if others:
            select.select_option(others[0])
            return f"choice {current!r} -> {others[0]!r}"
    toggle = explorer.locator(".widget-toggle-button:not(.mod-active), .widget-radio-box input:not(:checked)")
    if toggle.count():
        toggle.first.click()
        return "toggle button"
    checkbox = explorer.locator('input[type="checkbox"]')
    if checkbox.count():
        checkbox.first.click()
        return "checkbox"
    box = explorer.locator('input[type="text"], input[type="number"], textarea')
    if box.count():
        box = box.first
        before = box.input_value()
        after = str(float(before) + 1) if box.get_attribute("type") == "number" else before + " again"
        box.fill(after)
        box.press("Enter")
        return f"text {before!r} -> {after!r}"
    raise AssertionError("no control found that the test knows how to change")


def run_in_lab(page, lab: Lab, path: Path, explorer_timeout_s: float = EXPLORER_TIMEOUT_S) -> NotebookRun:
    """Open the notebook, clear its outputs, Run All, and check what the browser shows."""
    result = NotebookRun()
    relative = path.relative_to(ROOT).as_posix()
    marks = cell_marks(path)
    open_notebook(page, lab, relative)
    check_stored_pictures(page, path, result)  # as stored, before the run replaces them
    wait_for_kernel(page, lab, relative)
    result.run_all_s = run_all(page)
    lab.timings[f"Run All {path.name}"] = result.run_all_s
    check_cells(page, path, marks, result)
    try_explorers(page, path, result, explorer_timeout_s)
    return result


def run_all(page) -> float:
    """Clear every output, Run All from the menu, and wait until the run has finished; the seconds it took."""
    click_menu(page, "Edit", "editmenu:clear-all")  # what the checks see afterwards comes from this run only
    start = time.monotonic()
    click_menu(page, "Run", "runmenu:run-all")
    page.wait_for_function(RUN_STARTED, timeout=PAGE_TIMEOUT_S * 1000, polling=200)
    try:
        page.wait_for_function(RUN_FINISHED, timeout=RUN_TIMEOUT_S * 1000, polling=500)
    except Exception as err:
        raise AssertionError(f"Run All did not finish within {RUN_TIMEOUT_S:g} s ({HANG}; BROWSER_RUN_TIMEOUT "
                             "changes it)") from err
    seconds = time.monotonic() - start
    page.wait_for_timeout(300)  # widget views render just after their cell finished
    page.wait_for_function(RUN_FINISHED, timeout=PAGE_TIMEOUT_S * 1000)
    return seconds


def check_cells(page, path: Path, marks: list[dict], result: NotebookRun) -> None:
    """After Run All: every code cell ran, the set-up cell is silent, no cell shows an unexpected error or stderr."""
    widget_repr = widget_repr_pattern()
    first_code = next(i for i, m in enumerate(marks) if not m["empty"])
    for cell in page.evaluate(SCAN_CELLS):
        i, mark = cell["index"], marks[cell["index"]]
        if not cell["code"] or mark["empty"]:
            continue
        where = f"{path.name} cell {i}"
        if not cell["hidden"] and not re.fullmatch(r"\[\d+\]:?", cell["prompt"]):
            result.problems.append(f"{where}: did not run (prompt {cell['prompt']!r}); Run All stopped before it")
        if i == first_code and cell["outputs"]:
            said = " / ".join(line for _, text in cell["texts"] for line in text.strip().splitlines()[-1:])
            result.problems.append(f"{where}: the set-up cell is not silent, it says: {said[:300]}")
        if cell["broken"]:
            result.problems.append(f"{where}: a widget did not render ('Error displaying widget')")
        for mime, text in cell["texts"]:
            last = text.strip().splitlines()[-1] if text.strip() else ""
            if mime == "application/vnd.jupyter.stderr" and TRACEBACK.search(text) and not mark["raises"]:
                result.problems.append(f"{where}: shows an error: {last}")
            elif mime == "application/vnd.jupyter.stderr" and not (mark["raises"] or mark["ignored"]):
                result.problems.append(f"{where}: prints to stderr: {last}")
            elif mime in ("application/vnd.jupyter.stdout", "text/plain") and widget_repr.search(text):
                result.problems.append(f"{where}: shows a widget's text repr instead of the widget: {text[:80]!r}")


def try_explorers(page, path: Path, result: NotebookRun, explorer_timeout_s: float) -> None:
    """Change one control of every explorer on the page and check that its output redraws without an error."""
    for n, i in enumerate(page.evaluate(MARK_EXPLORERS)):
        explorer = page.locator(f'[data-explorer="{n}"]')
        explorer.scroll_into_view_if_needed()
        before = explorer.evaluate(EXPLORER_VIEW)
        change = nudge(explorer)
        run_button = explorer.locator("button.widget-button")  # interact_manual: its "Run Interact" button
        if run_button.count():
            run_button.first.click()
            change += ", then its button"
        deadline = time.monotonic() + explorer_timeout_s
        while (after := explorer.evaluate(EXPLORER_VIEW)) == before and time.monotonic() < deadline:
            page.wait_for_timeout(200)
        page.wait_for_function(RUN_FINISHED, timeout=PAGE_TIMEOUT_S * 1000)
        after = explorer.evaluate(EXPLORER_VIEW)
        where = f"{path.name} cell {i}, explorer {n}"
        if after == before:
            result.problems.append(f"{where}: its output did not change within {explorer_timeout_s:g} s ({change}; "
                                   f"{HANG})")
        elif TRACEBACK.search(explorer.evaluate("el => el.textContent")):
            result.problems.append(f"{where}: shows an error after {change}")
        else:
            result.explorers.append(f"cell {i}: {change}")


def open_notebook(page, lab: Lab, relative: str) -> None:
    """Open a notebook as the README's Binder link does; `reset` starts from an empty workspace."""
    page.goto(f"{lab.url}/lab/tree/{relative}?reset&token={lab.token}")
    page.locator(".jp-NotebookPanel .jp-Notebook .jp-Cell").first.wait_for(state="visible")
    lab.timings.setdefault("jupyter lab start -> first notebook rendered", time.monotonic() - lab.started)


def stored_images(path: Path) -> dict[int, int]:
    """Cell index -> number of pictures (PNG/JPEG/SVG outputs) stored in that cell."""
    cells = json.loads(path.read_text(encoding="utf-8"))["cells"]
    counts = {}
    for i, cell in enumerate(cells):
        n = sum(1 for out in cell.get("outputs", []) for mime in out.get("data", {})
                if mime in ("image/png", "image/jpeg", "image/svg+xml"))
        if n:
            counts[i] = n
    return counts


# Scrolls cell `index` into view, waits until it holds `n` pictures, and decodes each: [decoded, natural width,
# shown width, shown height] per picture (a picture that cannot be decoded gives [false, 0, 0, 0]).
CELL_PICTURES = """async ([index, n]) => {
  const selector = `.jp-NotebookPanel .jp-Notebook .jp-Cell[data-windowed-list-index="${index}"]`;
  const pictures = () => [...(document.querySelector(selector)?.querySelectorAll('.jp-OutputArea-output img') ?? [])];
  while (pictures().length < n) {
    document.querySelector(selector)?.scrollIntoView();
    await new Promise(resolve => setTimeout(resolve, 100));
  }
  document.querySelector(selector).scrollIntoView();
  return Promise.all(pictures().map(img => img.decode().then(() => {
    const box = img.getBoundingClientRect();
    return [true, img.naturalWidth, box.width, box.height];
  }, () => [false, 0, 0, 0])));
}"""
# Cell indices whose outputs show a picture.
CELLS_WITH_PICTURES = """() => [...document.querySelectorAll('.jp-NotebookPanel .jp-Notebook .jp-Cell')]
  .filter(cell => cell.querySelector('.jp-OutputArea-output img'))
  .map(cell => Number(cell.dataset.windowedListIndex))"""


def check_stored_pictures(page, path: Path, result: NotebookRun) -> None:
    """Every picture stored in the open notebook shows, at its place, with a size; nothing else shows a picture."""
    expected = stored_images(path)
    for i, n in expected.items():
        pictures = page.evaluate(CELL_PICTURES, [i, n])
        for decoded, natural, width, height in pictures:
            if not (decoded and natural and width > 0 and height > 0):
                result.problems.append(f"{path.name} cell {i}: a picture did not render ({width} x {height} pixels)")
        result.pictures.append(f"cell {i}: {len(pictures)}")
    for i in sorted(set(page.evaluate(CELLS_WITH_PICTURES)) - set(expected)):
        result.problems.append(f"{path.name} cell {i}: shows a picture the stored notebook does not hold")


def figures_in_lab(page, lab: Lab, path: Path) -> NotebookRun:
    """Open the stored notebook without running it and check its pictures."""
    result = NotebookRun()
    open_notebook(page, lab, path.relative_to(ROOT).as_posix())
    check_stored_pictures(page, path, result)
    return result


def check_notebook(browser, lab: Lab, path: Path, check=None, **options) -> NotebookRun:
    """Check one notebook in a fresh page (Run All by default); screenshot it on any problem; shut its kernel down."""
    check = check or run_in_lab
    content = path.read_bytes()
    context = browser.new_context(viewport={"width": 1280, "height": 1400})
    page = context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT_S * 1000)
    try:
        try:
            result = check(page, lab, path, **options)
        except Exception as err:  # a timeout or a missing element: report it like any other problem
            message = (str(err).splitlines() or ["(no message)"])[0]
            result = NotebookRun(problems=[f"{path.name}: {type(err).__name__}: {message}"])
        if path.read_bytes() != content:
            result.problems.append(f"{path.name}: the file changed on disk while it was open in JupyterLab")
        if result.problems:
            shot = lab.artifacts / f"{path.stem}.png"
            page.screenshot(path=str(shot))
            result.problems.append(f"screenshot: {shot}; server log: {lab.log}")
        return result
    finally:
        context.close()
        lab.shut_down_kernel_of(path.relative_to(ROOT).as_posix())


@pytest.fixture(scope="session")
def scratch() -> Iterator[Path]:
    """A folder inside the repository (so JupyterLab can open it) for throwaway notebooks; removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix="browser-test-", dir=ROOT))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def write_notebook(path: Path, cells: list[str | tuple[str, list[str]]], kernel: str = "python3") -> Path:
    """Write a notebook of code cells (a source, or a source with tags) after a title cell."""
    import nbformat
    from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

    code = [new_code_cell(c) if isinstance(c, str) else new_code_cell(c[0], metadata={"tags": c[1]}) for c in cells]
    nb = new_notebook(cells=[new_markdown_cell(f"# {path.stem}"), *code])
    nb.metadata["kernelspec"] = {"display_name": "Python 3 (ipykernel)", "language": "python", "name": kernel}
    nbformat.write(nb, path)
    return path


def failure_message(result: NotebookRun) -> str:
    """The problems, the first line naming the first cause and the browser (pytest's short summary shows it)."""
    return f"{result.problems[0]} [browser: {find_chromium()}]\n" + "\n".join(result.problems[1:])


# The notebooks whose stored pictures are checked, opened without running them.
PICTURES_ONLY = [p for p in NOTEBOOKS if stored_images(p)]
