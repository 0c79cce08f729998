#!/usr/bin/env python3
"""Re-execute notebooks top to bottom in a fresh kernel and store their outputs, as the tests expect (for maintainers).

    python tools/run_notebooks.py notebooks/05_attention.ipynb [more notebooks ...]
    python tools/run_notebooks.py                  (every notebook under notebooks/)

Does what *Kernel > Restart Kernel and Run All Cells*, then *Save* does in JupyterLab, plus two clean-ups that keep
the stored outputs fit for nbval and for readers: it drops the per-cell execution timestamps that would change on
every run, and it joins the pieces of a printed stream that the kernel happened to send separately (a line split
between two pieces reads as two lines in an exported notebook; tests/test_notebook_hygiene.py checks for them).
Kernels compute on two threads with idle threads sleeping (OMP_NUM_THREADS=2, OMP_WAIT_POLICY=PASSIVE unless
they are set), as under `pytest`. Stops at the first cell that raises, leaving the outputs up to that
cell stored, and says which notebook failed.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError

ROOT = Path(__file__).resolve().parent.parent


def join_streams(outputs: list[dict]) -> list[dict]:
    """The outputs with consecutive pieces of the same stream (stdout, stderr) joined into one."""
    joined: list[dict] = []
    for out in outputs:
        previous = joined[-1] if joined else None
        if (previous is not None and out.get("output_type") == "stream" == previous.get("output_type")
                and out.get("name") == previous.get("name")):
            previous["text"] += out["text"]
        else:
            joined.append(out)
    return joined


def run(path: Path) -> float:
    """Execute one notebook in place; return the seconds it took."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(nb, timeout=None, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}})
    start = time.perf_counter()
    try:
        client.execute()
    finally:
        for cell in nb.cells:
            cell.get("metadata", {}).pop("execution", None)
            if cell.cell_type == "code":
                cell.outputs = join_streams(cell.outputs)
        nbformat.write(nb, path)
    return time.perf_counter() - start


def main(argv: list[str]) -> int:
    os.environ.setdefault("OMP_NUM_THREADS", "2")  # inherited by the kernels, as in conftest.py
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    paths = [Path(a) for a in argv] or sorted(p for p in (ROOT / "notebooks").rglob("*.ipynb")
                                              if ".ipynb_checkpoints" not in p.parts)
    for path in paths:
        if path.suffix != ".ipynb" or not path.is_file():
            print(f"not a notebook file: {path}", file=sys.stderr)
            return 2
    for path in paths:
        try:
            seconds = run(path)
        except CellExecutionError as err:
            print(f"{path}: a cell raised; the outputs up to it are stored\n{str(err)[-2000:]}", file=sys.stderr)
            return 1
        print(f"{path}: {seconds:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
