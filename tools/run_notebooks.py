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
from queue import Empty

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellExecutionError, CellTimeoutError

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


# No cell of the course runs for minutes: a cell that does is stuck, and stops the run with its number and source.
CELL_TIMEOUT = 900


class SlicedPollClient(NotebookClient):
    """A `NotebookClient` that waits for each cell's reply in one-second slices instead of one blocking wait.

    A cell that opens widgets (the explorers) sends many messages; a single blocking wait on the shell channel has
    been seen to miss the reply and leave the run waiting on an idle kernel (jupyter/nbclient#312). Waiting in
    slices asks the channel again each second, up to the same deadline.
    """

    async def async_start_new_kernel_client(self):
        kc = await super().async_start_new_kernel_client()
        wait = kc.shell_channel.get_msg

        async def get_msg(timeout: float | None = None, **kwargs):
            deadline = None if timeout is None else time.monotonic() + timeout
            while True:
                left = 1.0 if deadline is None else min(1.0, max(deadline - time.monotonic(), 0.0))
                try:
                    return await wait(timeout=left, **kwargs)
                except Empty:
                    if deadline is not None and time.monotonic() >= deadline:
                        raise

        kc.shell_channel.get_msg = get_msg
        return kc


def run(path: Path) -> float:
    """Execute one notebook in place; return the seconds it took."""
    nb = nbformat.read(path, as_version=4)
    client = SlicedPollClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                              resources={"metadata": {"path": str(path.parent)}})
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
        except CellTimeoutError as err:
            print(f"{path}: a cell ran for over {CELL_TIMEOUT} s and was stopped; the outputs up to it are stored\n"
                  f"{str(err)[-2000:]}", file=sys.stderr)
            return 1
        except CellExecutionError as err:
            print(f"{path}: a cell raised; the outputs up to it are stored\n{str(err)[-2000:]}", file=sys.stderr)
            return 1
        print(f"{path}: {seconds:.1f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
