"""The stored outputs hold on other CPUs: the notebooks of long computations re-run under narrower instruction sets.

The outputs were stored on one machine. Another CPU (a laptop's AVX2, an older SSE machine, Apple's arm64) adds in
another order, which can move a number in its last printed digit; nbval compares numbers within that
(tests/nbval_tolerance.py). Here PyTorch, MKL and oneDNN are held to narrower instruction sets on this machine, as
another CPU would compute, and the notebooks whose numbers come from the longest chains of floating-point work are
re-executed and compared. A failure names the cell whose number moved further than its tolerance allows.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

# The instruction sets of most laptops (AVX2), and of the oldest x86-64 CPUs PyTorch runs on, on one thread.
ENVIRONMENTS = {
    "avx2": {"ATEN_CPU_CAPABILITY": "avx2", "MKL_ENABLE_INSTRUCTIONS": "AVX2", "ONEDNN_MAX_CPU_ISA": "AVX2"},
    "sse-one-thread": {"ATEN_CPU_CAPABILITY": "default", "MKL_ENABLE_INSTRUCTIONS": "SSE4_2",
                       "ONEDNN_MAX_CPU_ISA": "SSE41", "OMP_NUM_THREADS": "1"},
}
# The notebooks whose numbers come out of the longest computations: the model, pretraining, the Llama, fine-tuning.
LONG_NOTEBOOKS = ["notebooks/06_gpt_model.ipynb", "notebooks/07_pretraining.ipynb", "notebooks/08_llama.ipynb",
                  "notebooks/09_classification_finetuning.ipynb", "notebooks/10_instruction_finetuning.ipynb"]


def command(environment: str) -> tuple[list[str], dict[str, str]]:
    """The pytest command (and its environment) that re-runs the long notebooks under `environment`."""
    env = {**os.environ, "OMP_NUM_THREADS": "2", **ENVIRONMENTS[environment]}
    return [sys.executable, "-m", "pytest", "-q", "-n", "0", "-p", "no:randomly", *LONG_NOTEBOOKS], env


def test_the_long_notebooks_exist():
    assert all((ROOT / path).is_file() for path in LONG_NOTEBOOKS)


@pytest.mark.slow
@pytest.mark.skipif(platform.machine().lower() not in ("x86_64", "amd64"),
                    reason="the instruction sets narrowed here are x86-64's")
@pytest.mark.parametrize("environment", sorted(ENVIRONMENTS))
def test_stored_outputs_hold_under_narrower_instruction_sets(environment):
    cmd, env = command(environment)
    done = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, timeout=3600)
    assert done.returncode == 0, (
        f"under {ENVIRONMENTS[environment]} the stored outputs do not hold:\n{done.stdout[-6000:]}{done.stderr[-2000:]}"
    )
