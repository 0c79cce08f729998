"""tools/plot_training_run.py: the figure of a terminal run's losses.json, and the runs it refuses."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from PIL import Image

from helpers.schedule import LRSchedule

ROOT = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("plot_training_run", ROOT / "tools" / "plot_training_run.py")
tool = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tool)


def write_run(folder: Path, eval_freq: int = 5, evaluations: int = 4) -> Path:
    """A run folder with a losses.json as `python -m helpers.train --out` writes it (the keys the tool reads)."""
    folder.mkdir(parents=True)
    rates = LRSchedule(peak_lr=1e-3, total_steps=eval_freq * evaluations, warmup_steps=3).rates()
    run = {"steps": list(range(0, eval_freq * evaluations, eval_freq)),
           "train_losses": [10.0 - i for i in range(evaluations)],
           "val_losses": [10.5 - i / 2 for i in range(evaluations)], "learning_rates": rates}
    (folder / "losses.json").write_text(json.dumps(run))
    return folder


def test_draws_a_run_beside_its_losses_json(tmp_path, capsys):
    run = write_run(tmp_path / "verdict-124m-appendix-d")
    out = tool.main([str(run)])
    assert out == run / "training_run.png"
    assert Image.open(out).size == (900, 645)
    assert capsys.readouterr().out.strip() == f"wrote {out}"


def test_two_runs_into_one_file(tmp_path):
    a, b = write_run(tmp_path / "a"), write_run(tmp_path / "b")
    out = tool.main([str(a / "losses.json"), str(b), "--out", str(tmp_path / "both.png")])
    assert out.is_file()


def test_a_missing_run_is_named(tmp_path):
    with pytest.raises(SystemExit, match=r"nowhere: no such file; give a folder that"):
        tool.main([str(tmp_path / "nowhere")])


def test_a_losses_json_without_learning_rates_is_named(tmp_path):
    (tmp_path / "losses.json").write_text(json.dumps({"steps": [0], "train_losses": [1.0], "val_losses": [1.0]}))
    with pytest.raises(SystemExit, match="has no learning_rates: it was written by an older helpers.train"):
        tool.main([str(tmp_path / "losses.json")])


def test_runs_evaluated_at_different_intervals_are_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        tool.main([str(write_run(tmp_path / "a", eval_freq=5)), str(write_run(tmp_path / "b", eval_freq=2))])
    assert info.value.code == 2
    assert "the runs were evaluated at different intervals ([2, 5] steps)" in capsys.readouterr().err
