"""helpers.setup_check: the environment check of notebook 00."""

from __future__ import annotations

import re
from pathlib import Path

from helpers.setup_check import MINIMUM_VERSIONS, check_requirements

ROOT = Path(__file__).resolve().parent.parent


def test_minimum_versions_match_requirements_txt():
    pins = {}
    for line in (ROOT / "requirements.txt").read_text().splitlines():
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)>=([0-9.]+)", line.strip())
        if match:
            pins[match.group(1).lower()] = match.group(2)
    assert pins == MINIMUM_VERSIONS


def test_this_environment_passes():
    assert check_requirements() == []


def test_missing_and_old_packages_are_reported_with_the_fix():
    problems = check_requirements({"no-such-package-xyz": "1.0", "pytest": "999.0"})
    assert len(problems) == 2
    assert "no-such-package-xyz is not installed" in problems[0]
    assert "pip install -r requirements.txt" in problems[0]
    assert "pytest" in problems[1] and "older than 999.0" in problems[1]
