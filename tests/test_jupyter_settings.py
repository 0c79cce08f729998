"""JupyterLab's defaults for the course (jupyter-settings/): no "Would you like to get notified about official
Jupyter news?" question.

requirements.txt installs the small package in jupyter-settings/, which puts llm-from-scratch.json into
<environment>/share/jupyter/lab/settings/overrides.d/, a folder JupyterLab reads as default settings (on a
learner's machine and on Binder, which installs requirements.txt too). The last test starts `jupyter lab` from the
course folder as a learner does and reads the effective setting back through JupyterLab's REST API.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "llm-from-scratch-jupyterlab-settings"
OVERRIDES = ROOT / "jupyter-settings" / "llm-from-scratch.json"
PLUGIN = "@jupyterlab/apputils-extension:notification"
# the server is on 127.0.0.1: never go through a proxy set in the environment
LOOPBACK = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def test_the_overrides_turn_the_news_question_off():
    from jupyterlab.labapp import LabApp

    overrides = json.loads(OVERRIDES.read_text(encoding="utf-8"))
    assert overrides == {PLUGIN: {"fetchNews": "false", "checkForUpdates": False}}
    plugin, name = PLUGIN.split(":")
    schema = json.loads((Path(LabApp().schemas_dir) / plugin / f"{name}.json").read_text(encoding="utf-8"))
    assert "false" in [choice["const"] for choice in schema["properties"]["fetchNews"]["oneOf"]]  # "Never"
    assert set(overrides[PLUGIN]) <= set(schema["properties"])


def test_requirements_install_the_settings_package():
    lines = [line.strip() for line in (ROOT / "requirements.txt").read_text().splitlines()]
    assert "./jupyter-settings" in lines
    pyproject = (ROOT / "jupyter-settings" / "pyproject.toml").read_text(encoding="utf-8")
    assert f'name = "{PACKAGE}"' in pyproject
    assert '"share/jupyter/lab/settings/overrides.d" = ["llm-from-scratch.json"]' in pyproject


def test_this_environment_has_the_overrides_where_jupyterlab_reads_them():
    try:
        dist = distribution(PACKAGE)
    except PackageNotFoundError:
        pytest.fail(f"{PACKAGE} is not installed: run  pip install -r requirements.txt", pytrace=False)
    [installed] = [f for f in dist.files or [] if f.name == OVERRIDES.name]
    path = Path(dist.locate_file(installed)).resolve()
    from jupyterlab.labapp import LabApp

    app_settings = Path(LabApp().app_settings_dir).resolve()
    assert path == app_settings / "overrides.d" / OVERRIDES.name
    assert path.is_file(), f"{path} is missing: run  pip install -r requirements.txt"
    assert path.read_text(encoding="utf-8") == OVERRIDES.read_text(encoding="utf-8"), (
        f"{path} is out of date: run  pip install -r requirements.txt"
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_jupyter_lab_started_in_the_course_folder_does_not_ask_about_news(tmp_path):
    # a learner's own Jupyter config and settings are left out (a clean user), the environment's are not
    env = dict(os.environ, JUPYTER_CONFIG_DIR=str(tmp_path / "config"), JUPYTER_DATA_DIR=str(tmp_path / "data"),
               JUPYTER_RUNTIME_DIR=str(tmp_path / "runtime"), IPYTHONDIR=str(tmp_path / "ipython"))
    token, port = secrets.token_hex(16), free_port()
    command = [
        sys.executable, "-m", "jupyterlab", "--no-browser", "--ServerApp.ip=127.0.0.1", f"--ServerApp.port={port}",
        "--ServerApp.port_retries=0", f"--IdentityProvider.token={token}",
        f"--LabApp.user_settings_dir={tmp_path / 'settings'}", f"--LabApp.workspaces_dir={tmp_path / 'workspaces'}",
    ]
    if hasattr(os, "geteuid") and os.geteuid() == 0:
        command.append("--allow-root")
    log = tmp_path / "jupyter-lab.log"
    with open(log, "w") as out:
        server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/lab/api/settings/{PLUGIN}",
                                         headers={"Authorization": f"token {token}"})
        started = time.monotonic()
        while True:
            assert server.poll() is None, f"jupyter lab exited with {server.returncode}:\n{log.read_text()[-3000:]}"
            try:
                with LOOPBACK.open(request, timeout=10) as response:
                    settings = json.loads(response.read())
                break
            except (urllib.error.URLError, ConnectionError):
                assert time.monotonic() - started < 120, f"jupyter lab did not answer within 120 s; log: {log}"
                time.sleep(0.2)
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait(timeout=10)
    # what the page computes (its "composite"): the schema's defaults, with the overrides applied, then the user's
    defaults = {key: spec.get("default") for key, spec in settings["schema"]["properties"].items()}
    effective = {**defaults, **(settings["settings"] or {})}
    assert effective["fetchNews"] == "false", effective
    assert defaults["fetchNews"] == "false"  # a default: a learner who turns the news on keeps that choice
    assert not settings["settings"], settings["settings"]  # nothing came from the (empty) user settings
