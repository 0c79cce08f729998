"""benchmarks/bench_attention.py: its variants agree, its memory probe measures, it runs end to end (tiny size).

The timings themselves are never checked.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "benchmarks" / "bench_attention.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_attention", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_explicit_variant_equals_ours(bench):
    ours = bench.build("ours", 24, 16, 3).eval()
    explicit = bench.build("explicit", 24, 16, 3).eval()
    explicit.load_state_dict(ours.state_dict())
    x = torch.randn(2, 16, 24)
    torch.testing.assert_close(explicit(x), ours(x), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("variant", ["explicit", "wrapper", "ours", "torch"])
def test_every_variant_maps_dim_to_dim_causally(bench, variant):
    model = bench.build(variant, 24, 16, 3).eval()
    x = torch.randn(1, 16, 24)
    changed = x.clone()
    changed[:, 10:] = 0.0
    with torch.no_grad():
        out, out_changed = model(x), model(changed)
    assert out.shape == (1, 16, 24)
    torch.testing.assert_close(out[:, :10], out_changed[:, :10])


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="Linux only")
def test_peak_growth_sees_a_temporary_allocation():
    # In a fresh process, as the benchmark measures: a long-lived test process may free or touch memory meanwhile.
    code = (
        "import sys, torch\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "import benchmarks.bench_attention as b\n"
        "print(b.peak_growth_mib(lambda: torch.ones(200 * 2**20 // 4).sum()))\n"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    assert 190 <= float(run.stdout.split()[-1]) < 400, run.stdout


@pytest.mark.slow
def test_benchmark_prints_a_row_per_variant():
    args = ["--batch", "1", "--tokens", "16", "--dim", "24", "--heads", "3", "--repeats", "1", "--no-memory"]
    run = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr
    rows = [line for line in run.stdout.splitlines() if line.startswith("| ") and not line.startswith("| variant")]
    assert [row.split("|")[1].strip() for row in rows] == ["explicit", "wrapper", "ours", "torch"]
    assert "| ours | " in run.stdout and "1.00x" in rows[2]
