#!/usr/bin/env python3
"""Draw the losses and learning rates of a terminal training run from its losses.json (for maintainers and learners).

    python tools/plot_training_run.py runs/verdict-124m-appendix-d            (writes training_run.png beside it)
    python tools/plot_training_run.py runs/a runs/b --out docs/runs.png        (two runs side by side)

`python -m helpers.train ... --out FOLDER` saves losses.json into FOLDER: the losses of every evaluation and the
learning rate of every step. The figure is notebook 07's `draw_training_runs` (appendix D.4), one run per folder (or
losses.json file) given, each named by its folder; their evaluations must come at the same interval (--eval-freq).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no window: this script only writes a file

from helpers.teaching.diagrams import draw_training_runs  # noqa: E402 (after choosing the backend)

KEYS = ("steps", "train_losses", "val_losses", "learning_rates")


def read_run(path: Path) -> tuple[list[float], list[float], list[float], int]:
    """(train losses, validation losses, learning rates, evaluation interval) from a run's folder or losses.json."""
    file = path / "losses.json" if path.is_dir() else path
    if not file.is_file():
        raise SystemExit(f"{file}: no such file; give a folder that `python -m helpers.train --out` wrote, or its "
                         "losses.json")
    try:
        run = json.loads(file.read_text(encoding="utf-8"))
    except json.JSONDecodeError as err:
        raise SystemExit(f"{file} is not JSON ({err})") from None
    missing = [key for key in KEYS if key not in run]
    if missing:
        raise SystemExit(f"{file} has no {', '.join(missing)}: it was written by an older helpers.train; run the "
                         "training again")
    steps = run["steps"]
    interval = steps[1] - steps[0] if len(steps) > 1 else max(len(run["learning_rates"]), 1)
    return run["train_losses"], run["val_losses"], run["learning_rates"], interval


def main(argv: list[str] | None = None) -> Path:
    parser = argparse.ArgumentParser(prog="python tools/plot_training_run.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("runs", nargs="+", type=Path, help="run folders (or their losses.json), 1 to 4")
    parser.add_argument("--out", type=Path, help="the PNG to write (default: training_run.png in the first run's "
                                                 "folder)")
    args = parser.parse_args(argv)
    if len(args.runs) > 4:
        parser.error(f"at most 4 runs fit one figure, got {len(args.runs)}")
    runs = {}
    intervals = set()
    for path in args.runs:
        train, val, rates, interval = read_run(path)
        name = (path if path.is_dir() else path.parent).resolve().name
        runs[name if name not in runs else str(path)] = (train, val, rates)
        intervals.add(interval)
    if len(intervals) > 1:
        parser.error(f"the runs were evaluated at different intervals ({sorted(intervals)} steps): draw them apart")
    first = args.runs[0] if args.runs[0].is_dir() else args.runs[0].parent
    out = args.out or first / "training_run.png"
    fig = draw_training_runs(runs, eval_freq=intervals.pop())
    fig.savefig(out, dpi=100)
    print(f"wrote {out}")
    return out


if __name__ == "__main__":
    main()
