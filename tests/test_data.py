"""helpers.data: cache, hash verification, atomic download, and every error a learner can hit."""

from __future__ import annotations

import hashlib
import socket
from pathlib import Path

import pytest

from helpers import data
from helpers.data import (
    DATA_FILES,
    DataDownloadError,
    DataFolderError,
    DataIntegrityError,
    UnknownDataFileError,
    fetch,
)

NAME = "the-verdict.txt"


@pytest.fixture
def verdict_bytes() -> bytes:
    """The real file, from the project's cache (CI copies it there before the tests)."""
    return fetch(NAME).read_bytes()


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


def test_cached_files_are_verified():
    for name, spec in DATA_FILES.items():
        path = fetch(name)
        assert path.is_file()
        assert path.stat().st_size == spec.size
        assert data.sha256_of(path) == spec.sha256


def test_load_text_reads_the_verdict():
    text = data.load_text(NAME)
    assert len(text) == 20479
    assert text.startswith("I HAD always thought Jack Gisburn")


def test_good_download_is_saved_and_then_served_from_cache(tmp_path, local_server, verdict_bytes):
    local_server.routes[NAME] = verdict_bytes
    path = fetch(NAME, folder=tmp_path, url=local_server.url(NAME))
    assert path == tmp_path / NAME
    assert path.read_bytes() == verdict_bytes
    assert leftovers(tmp_path) == [NAME]  # no temporary file left behind
    fetch(NAME, folder=tmp_path, url=local_server.url(NAME))
    assert local_server.hits == [NAME]  # the second call did not download again


def test_nested_names_create_their_folder(tmp_path, local_server):
    body = fetch("gpt2/vocab.bpe").read_bytes()
    local_server.routes["vocab.bpe"] = body
    path = fetch("gpt2/vocab.bpe", folder=tmp_path, url=local_server.url("vocab.bpe"))
    assert path == tmp_path / "gpt2" / "vocab.bpe"
    assert path.read_bytes() == body


def test_hash_mismatch_raises_and_leaves_nothing(tmp_path, local_server, verdict_bytes):
    local_server.routes[NAME] = verdict_bytes.replace(b"Jack", b"Jake")
    with pytest.raises(DataIntegrityError) as info:
        fetch(NAME, folder=tmp_path, url=local_server.url(NAME))
    message = str(info.value)
    assert DATA_FILES[NAME].sha256 in message
    assert hashlib.sha256(local_server.routes[NAME]).hexdigest() in message
    assert leftovers(tmp_path) == []


def test_corrupt_cached_file_is_replaced(tmp_path, local_server, verdict_bytes):
    (tmp_path / NAME).write_bytes(b"not the verdict")
    local_server.routes[NAME] = verdict_bytes
    path = fetch(NAME, folder=tmp_path, url=local_server.url(NAME))
    assert path.read_bytes() == verdict_bytes


def test_interrupted_download_raises_and_leaves_nothing(tmp_path, local_server, verdict_bytes):
    local_server.routes[NAME] = verdict_bytes
    local_server.truncated.add(NAME)
    with pytest.raises(DataDownloadError) as info:
        fetch(NAME, folder=tmp_path, url=local_server.url(NAME))
    assert NAME in str(info.value)
    assert leftovers(tmp_path) == []


def test_http_error_names_the_url(tmp_path, local_server):
    url = local_server.url("missing.txt")
    with pytest.raises(DataDownloadError) as info:
        fetch(NAME, folder=tmp_path, url=url)
    assert url in str(info.value)
    assert leftovers(tmp_path) == []


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_offline_error_names_file_url_and_folder(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/{NAME}"  # nothing listens there: connection refused
    with pytest.raises(DataDownloadError) as info:
        fetch(NAME, folder=tmp_path, url=url, timeout=5)
    message = str(info.value)
    assert NAME in message
    assert url in message
    assert str(tmp_path / NAME) in message  # where to put it by hand
    assert "LLM_DATA_DIR" in message
    assert leftovers(tmp_path) == []


def test_offline_with_corrupt_cache_says_so(tmp_path):
    (tmp_path / NAME).write_bytes(b"truncated")
    url = f"http://127.0.0.1:{free_port()}/{NAME}"
    with pytest.raises(DataDownloadError, match="does not match its sha256"):
        fetch(NAME, folder=tmp_path, url=url, timeout=5)
    assert (tmp_path / NAME).read_bytes() == b"truncated"  # the user's file is not deleted behind their back


def test_unknown_name_lists_known_names():
    with pytest.raises(UnknownDataFileError) as info:
        fetch("the-verdikt.txt")
    message = str(info.value)
    assert "the-verdikt.txt" in message
    for name in DATA_FILES:
        assert name in message
    assert isinstance(info.value, KeyError)


def test_unwritable_data_folder(tmp_path, local_server, verdict_bytes):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be")
    local_server.routes[NAME] = verdict_bytes
    with pytest.raises(DataFolderError) as info:
        fetch(NAME, folder=blocker / "data", url=local_server.url(NAME))
    assert "LLM_DATA_DIR" in str(info.value)
    assert local_server.hits == []  # it did not even start a download it could not save


def test_data_dir_follows_environment_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("LLM_DATA_DIR", str(tmp_path))
    assert data.data_dir() == tmp_path


def test_default_data_dir_is_the_checkout_data_folder(monkeypatch):
    monkeypatch.delenv("LLM_DATA_DIR", raising=False)
    assert data.data_dir() == Path(data.__file__).resolve().parent.parent / "data"
