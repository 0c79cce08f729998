"""Importing `helpers` lets idle OpenMP threads sleep (OMP_WAIT_POLICY=PASSIVE), unless the user chose otherwise."""

from __future__ import annotations

import os
import subprocess
import sys


def wait_policy_after_import(**env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"} | env
    code = "import helpers, os; print(os.environ['OMP_WAIT_POLICY'])"
    return subprocess.run([sys.executable, "-c", code], env=clean, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_kernels_and_the_trainer_get_the_passive_wait_policy():
    assert wait_policy_after_import() == "PASSIVE"


def test_a_wait_policy_the_user_set_is_kept():
    assert wait_policy_after_import(OMP_WAIT_POLICY="ACTIVE") == "ACTIVE"
