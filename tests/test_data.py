"""helpers.datafiles: the shipped files (read from datasets/, verified, never downloaded), and the download path of
what cannot be shipped (cache, hash verification, atomic download, every error a learner can hit), tested against a
local HTTP server with stand-in entries."""

from __future__ import annotations

import hashlib
import shutil
import socket
import traceback
import urllib.error
from pathlib import Path

import pytest

from helpers import datafiles as data
from helpers.datafiles import (
    DATA_FILES,
    CorruptDataFileError,
    DataDownloadError,
    DataFile,
    DataFolderError,
    DataIntegrityError,
    MissingDataError,
    ShippedFileError,
    UnknownDataFileError,
    datasets_dir,
    ensure_data,
    fetch,
)

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = {name: spec for name, spec in DATA_FILES.items() if spec.shipped is not None}
# Stand-ins for what is downloaded (the shipped files' bytes under other names, on two hosts that do not exist): the
# download tests fetch them from the local HTTP server of conftest.py, or find the network refused; none goes online.
NAME = "story.txt"
DOWNLOADED = {
    NAME: DataFile(url="https://books.invalid/story.txt", sha256=SHIPPED["the-verdict.txt"].sha256,
                   size=SHIPPED["the-verdict.txt"].size),
    "tokens/encoder.json": DataFile(url="https://tokens.invalid/encoder.json",
                                    sha256=SHIPPED["gpt2/encoder.json"].sha256, size=SHIPPED["gpt2/encoder.json"].size),
    "tokens/vocab.bpe": DataFile(url="https://tokens.invalid/vocab.bpe", sha256=SHIPPED["gpt2/vocab.bpe"].sha256,
                                 size=SHIPPED["gpt2/vocab.bpe"].size),
}


@pytest.fixture(autouse=True)
def registry(monkeypatch) -> None:
    """The shipped files and the stand-ins for downloads, in place of the course's registry."""
    monkeypatch.setattr(data, "DATA_FILES", {**SHIPPED, **DOWNLOADED})


@pytest.fixture
def verdict_bytes() -> bytes:
    """The bytes of the stand-in download NAME: The Verdict, as shipped."""
    return fetch("the-verdict.txt").read_bytes()


# --- what the course ships -------------------------------------------------------------------------------------


def test_the_verdict_and_gpt2s_tokenizer_files_ship_with_the_course():
    assert {"the-verdict.txt", "gpt2/encoder.json", "gpt2/vocab.bpe"} <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_file_is_read_from_datasets_and_verified(name):
    spec = SHIPPED[name]
    path = fetch(name)
    assert path == ROOT / "datasets" / spec.shipped == datasets_dir() / spec.shipped
    assert path.stat().st_size == spec.size
    assert data.sha256_of(path) == spec.sha256


@pytest.mark.parametrize("name", SHIPPED)
def test_a_shipped_file_has_a_readme_with_its_source_license_and_hash_and_keeps_its_bytes_in_git(name):
    spec = SHIPPED[name]
    folder = (ROOT / "datasets" / spec.shipped).parent
    readme = (folder / "README.md").read_text(encoding="utf-8")
    assert spec.sha256 in readme and "## Source and license" in readme
    assert spec.url in readme  # where the copy came from
    attributes = (ROOT / "datasets" / ".gitattributes").read_text(encoding="utf-8").splitlines()
    assert f"{spec.shipped} -text" in attributes  # no line-ending conversion, which would change the hash


def test_the_gpt2_files_ship_with_openais_license():
    license_text = (ROOT / "datasets" / "gpt2" / "LICENSE").read_text(encoding="utf-8")
    assert license_text.startswith("Modified MIT License") and "Copyright (c) 2019 OpenAI" in license_text
    assert "public domain" in (ROOT / "datasets" / "the-verdict" / "README.md").read_text(encoding="utf-8")


def test_load_text_reads_the_verdict():
    text = data.load_text("the-verdict.txt")
    assert len(text) == 20479
    assert text.startswith("I HAD always thought Jack Gisburn")


def test_shipped_files_need_no_network_and_no_cache_folder(tmp_path, monkeypatch):
    calls: list[str] = []
    no_network(monkeypatch, calls)
    monkeypatch.setenv("LLM_DATA_DIR", str(tmp_path / "data"))
    paths = ensure_data(list(SHIPPED))
    assert paths == {name: fetch(name) for name in SHIPPED}
    assert calls == [] and not (tmp_path / "data").exists()


@pytest.fixture
def datasets_copy(tmp_path, monkeypatch) -> Path:
    """A copy of datasets/ that the test may damage, in place of the real one."""
    copy = tmp_path / "datasets"
    shutil.copytree(ROOT / "datasets", copy)
    monkeypatch.setattr(data, "datasets_dir", lambda: copy)
    return copy


def test_a_missing_shipped_file_says_how_to_restore_it(datasets_copy):
    (datasets_copy / "the-verdict" / "the-verdict.txt").unlink()
    with pytest.raises(ShippedFileError) as info:
        data.load_text("the-verdict.txt")
    message = str(info.value)
    shown = "datasets/the-verdict/the-verdict.txt"
    assert message.startswith(f"the data file {shown} is missing (it ships with the course repository). Restore it "
                              f"with `git checkout -- {shown}`")
    assert "pip install -e ." in message
    assert str(datasets_copy) not in message  # no path of the machine it ran on


def test_an_edited_shipped_file_is_refused_with_both_hashes(datasets_copy):
    vocab = datasets_copy / "gpt2" / "vocab.bpe"
    vocab.write_bytes(vocab.read_bytes().replace(b"\n", b"\r\n"))  # what a line-ending conversion does
    with pytest.raises(ShippedFileError) as info:
        fetch("gpt2/vocab.bpe")
    message = str(info.value)
    spec = DATA_FILES["gpt2/vocab.bpe"]
    assert message.startswith("the data file datasets/gpt2/vocab.bpe was edited or is damaged: its sha256 is ")
    assert data.sha256_of(vocab) in message and spec.sha256 in message
    assert "git checkout -- datasets/gpt2/vocab.bpe" in message
    assert info.value.target == vocab and info.value.name == "gpt2/vocab.bpe"


def test_ensure_data_lists_every_damaged_shipped_file_and_how_to_restore_them(datasets_copy):
    (datasets_copy / "gpt2" / "encoder.json").unlink()
    (datasets_copy / "gpt2" / "vocab.bpe").write_text("#version: 0.2\n")
    with pytest.raises(MissingDataError) as info:
        ensure_data(list(SHIPPED))
    message = str(info.value)
    assert message.startswith(f"2 of the course's {len(SHIPPED)} data files could not be had:\n")
    assert "  - gpt2/encoder.json: datasets/gpt2/encoder.json is missing (it ships with the course repository)\n" in (
        message)
    assert "  - gpt2/vocab.bpe: datasets/gpt2/vocab.bpe was edited or is damaged (sha256 " in message
    assert message.count("git checkout -- datasets/") == 1 and "connect to the internet" not in message
    assert [e.name for e in info.value.errors] == ["gpt2/encoder.json", "gpt2/vocab.bpe"]


def test_a_shipped_file_is_never_downloaded():
    with pytest.raises(ValueError, match="ships with the course .datasets/the-verdict/the-verdict.txt. and is never "
                                         "downloaded"):
        fetch("the-verdict.txt", url="http://127.0.0.1:9/the-verdict.txt")
    with pytest.raises(ValueError, match="'gpt2/vocab.bpe' ships with the course and is never downloaded"):
        ensure_data(urls={"gpt2/vocab.bpe": "http://127.0.0.1:9/vocab.bpe"})


# --- the download path, for what cannot be shipped -------------------------------------------------------------


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*") if p.is_file())


def test_cached_files_are_verified_and_read(tmp_path, monkeypatch, local_server, verdict_bytes):
    monkeypatch.setenv("LLM_DATA_DIR", str(tmp_path))
    local_server.routes[NAME] = verdict_bytes
    fetch(NAME, url=local_server.url(NAME))  # into $LLM_DATA_DIR
    no_network(monkeypatch)
    path = fetch(NAME)  # from the cache, verified: no download
    assert path == tmp_path / NAME and data.sha256_of(path) == DOWNLOADED[NAME].sha256
    assert data.load_text(NAME).startswith("I HAD always thought Jack Gisburn")


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
    path = fetch("tokens/vocab.bpe", folder=tmp_path, url=local_server.url("vocab.bpe"))
    assert path == tmp_path / "tokens" / "vocab.bpe"
    assert path.read_bytes() == body


def test_hash_mismatch_raises_and_leaves_nothing(tmp_path, local_server, verdict_bytes):
    local_server.routes[NAME] = verdict_bytes.replace(b"Jack", b"Jake")
    with pytest.raises(DataIntegrityError) as info:
        fetch(NAME, folder=tmp_path, url=local_server.url(NAME))
    message = str(info.value)
    assert DOWNLOADED[NAME].sha256 in message
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


def test_offline_error_puts_the_plain_cause_first_and_no_library_traceback(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/{NAME}"
    with pytest.raises(DataDownloadError) as info:
        fetch(NAME, folder=tmp_path, url=url, timeout=5)
    err = info.value
    assert str(err).startswith("no network connection (the connection to 127.0.0.1 was refused): could not download")
    assert err.cause == "no network connection (the connection to 127.0.0.1 was refused)"
    assert err.offline and (err.name, err.url, err.target) == (NAME, url, tmp_path / NAME)
    assert isinstance(err.original, urllib.error.URLError)  # the low-level error stays reachable
    shown = "".join(traceback.format_exception(err))
    assert "During handling" not in shown and "direct cause" not in shown
    assert "urllib" not in shown and "socket" not in shown
    assert len(shown.splitlines()) < 20, shown


def no_network(monkeypatch, calls: list[str] | None = None) -> None:
    """Make every download fail as on a machine without network: the host name cannot be looked up."""

    def refuse(url, timeout):
        if calls is not None:
            calls.append(url)
        raise urllib.error.URLError(socket.gaierror(socket.EAI_NONAME, "Name or service not known"))

    monkeypatch.setattr(data, "_open", refuse)


def test_no_network_names_the_host_it_could_not_look_up(tmp_path, monkeypatch):
    no_network(monkeypatch)
    with pytest.raises(DataDownloadError) as info:
        fetch(NAME, folder=tmp_path)
    host = "books.invalid"
    assert str(info.value).startswith(f"no network connection (cannot look up {host}: Name or service not known): ")
    assert DOWNLOADED[NAME].url in str(info.value)


def test_a_proxy_that_refuses_is_named(tmp_path, monkeypatch):
    proxy = f"http://127.0.0.1:{free_port()}"
    for var in ("no_proxy", "NO_PROXY", "http_proxy", "HTTP_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("http_proxy", proxy)
    with pytest.raises(DataDownloadError) as info:
        fetch(NAME, folder=tmp_path, url="http://example.invalid/story.txt", timeout=5)
    expected = f"no network connection (the connection to example.invalid through the proxy {proxy} was refused)"
    assert info.value.cause == expected


def test_a_server_that_never_answers_times_out_with_a_plain_cause(tmp_path):
    with socket.socket() as silent:  # accepts connections (backlog) but never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/{NAME}"
        with pytest.raises(DataDownloadError) as info:
            fetch(NAME, folder=tmp_path, url=url, timeout=0.5)
    assert info.value.cause == "no network connection (no answer from 127.0.0.1 within 0.5 s)"
    assert leftovers(tmp_path) == []


def test_http_error_says_what_the_server_answered(tmp_path, local_server):
    with pytest.raises(DataDownloadError) as info:
        fetch(NAME, folder=tmp_path, url=local_server.url("missing.txt"))
    assert str(info.value).startswith("the server answered HTTP 404 Not Found: could not download data file")
    assert not info.value.offline


def test_a_failed_download_removes_the_folders_it_created(tmp_path):
    url = f"http://127.0.0.1:{free_port()}/vocab.bpe"
    root = tmp_path / "fresh" / "data"
    with pytest.raises(DataDownloadError):
        fetch("tokens/vocab.bpe", folder=root, url=url, timeout=5)
    assert list(tmp_path.iterdir()) == []  # neither data/tokens/ nor data/ nor fresh/ is left behind
    (tmp_path / "data").mkdir()  # a folder that was there before stays
    with pytest.raises(DataDownloadError):
        fetch("tokens/vocab.bpe", folder=tmp_path / "data", url=url, timeout=5)
    assert [p.name for p in tmp_path.rglob("*")] == ["data"]


def test_a_folder_that_holds_other_files_is_kept(tmp_path, local_server, verdict_bytes):
    local_server.routes[NAME] = verdict_bytes.replace(b"Jack", b"Jake")
    (tmp_path / "tokens").mkdir()
    (tmp_path / "tokens" / "notes.txt").write_text("mine")
    with pytest.raises(DataIntegrityError):
        fetch("tokens/vocab.bpe", folder=tmp_path, url=local_server.url(NAME))
    assert leftovers(tmp_path) == ["notes.txt"]


def test_ensure_data_returns_every_path(tmp_path, local_server):
    for name, spec in DOWNLOADED.items():
        local_server.routes[name] = fetch(next(n for n, s in SHIPPED.items() if s.sha256 == spec.sha256)).read_bytes()
    paths = ensure_data(folder=tmp_path, urls={name: local_server.url(name) for name in DOWNLOADED})
    assert list(paths) == [*SHIPPED, *DOWNLOADED]
    assert [paths[name] for name in DOWNLOADED] == [tmp_path / name for name in DOWNLOADED]
    assert all(paths[name] == fetch(name) for name in SHIPPED)


def test_ensure_data_offline_lists_every_missing_file_at_once(tmp_path, monkeypatch):
    calls: list[str] = []
    no_network(monkeypatch, calls)
    root = tmp_path / "data"
    with pytest.raises(MissingDataError) as info:
        ensure_data(folder=root)
    message = str(info.value)
    assert message.startswith(f"3 of the course's {len(SHIPPED) + 3} data files could not be fetched into {root}:")
    for name, spec in DOWNLOADED.items():
        assert f"  - {name}: no network connection (cannot look up " in message
        assert f"download {spec.url}" in message
        assert f"save as  {root / name}" in message
    assert message.count("What to do") == 1
    assert "connect to the internet" in message and "$LLM_DATA_DIR" in message
    assert [e.name for e in info.value.errors] == list(DOWNLOADED)  # the shipped files are there
    assert isinstance(info.value, FileNotFoundError)
    assert len(calls) == 2  # one try per host: the second tokens/ file was not asked of a host found unreachable
    assert list(tmp_path.iterdir()) == []  # nothing left behind


def test_ensure_data_offline_with_a_corrupt_file_reports_each_file_with_its_own_cause(tmp_path, monkeypatch):
    calls: list[str] = []
    no_network(monkeypatch, calls)
    (tmp_path / "tokens").mkdir()
    (tmp_path / "tokens" / "encoder.json").write_bytes(b"{}")
    with pytest.raises(MissingDataError) as info:
        ensure_data(["tokens/encoder.json", "tokens/vocab.bpe"], folder=tmp_path)
    corrupt, missing = info.value.errors
    assert isinstance(corrupt, CorruptDataFileError) and corrupt.cause.startswith("the cached file is corrupt")
    assert missing.cause.startswith("no network connection (cannot look up tokens.invalid")
    assert len(calls) == 1  # the host found unreachable for the first file was not asked again


def test_ensure_data_reports_each_cause_and_keeps_what_it_got(tmp_path, local_server, verdict_bytes):
    encoder, vocab = "tokens/encoder.json", "tokens/vocab.bpe"
    local_server.routes[NAME] = verdict_bytes
    (tmp_path / "tokens").mkdir()
    (tmp_path / encoder).write_bytes(b"{}")  # a corrupt cached copy
    urls = {NAME: local_server.url(NAME), encoder: local_server.url("gone"),
            vocab: f"http://127.0.0.1:{free_port()}/vocab.bpe"}
    with pytest.raises(MissingDataError) as info:
        ensure_data(folder=tmp_path, urls=urls, timeout=5)
    message = str(info.value)
    assert message.startswith(f"2 of the course's {len(SHIPPED) + 3} data files could not be fetched")
    assert f"  - {encoder}: the cached file is corrupt (sha256 " in message
    assert "delete it; a fresh download failed too: the server answered HTTP 404 Not Found" in message
    assert f"  - {vocab}: no network connection (the connection to 127.0.0.1 was refused)" in message
    assert "delete each corrupt file shown above" in message
    assert (tmp_path / NAME).read_bytes() == verdict_bytes  # the file it could get is kept
    assert leftovers(tmp_path) == sorted([NAME, "encoder.json"])


def test_ensure_data_unwritable_folder_says_so_once(tmp_path):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the data folder should be")
    with pytest.raises(MissingDataError) as info:
        ensure_data(folder=blocker / "data")
    message = str(info.value)
    assert message.count("cannot write into") == 3
    assert "set $LLM_DATA_DIR to a writable folder" in message


def test_ensure_data_checks_names_before_downloading(tmp_path, monkeypatch):
    calls: list[str] = []
    no_network(monkeypatch, calls)
    with pytest.raises(UnknownDataFileError):
        ensure_data([NAME, "stroy.txt"], folder=tmp_path)
    assert calls == []


def test_missing_data_shows_only_its_message_in_jupyter(tmp_path, monkeypatch):
    no_network(monkeypatch)
    with pytest.raises(MissingDataError) as info:
        ensure_data([NAME], folder=tmp_path)
    [shown] = info.value._render_traceback_()  # IPython's hook: what a notebook shows instead of the frames
    assert shown == f"\x1b[0;31mMissingDataError\x1b[0m: {info.value}"
    assert str(info.value).startswith("The course's data file could not be fetched")


def test_offline_with_corrupt_cache_says_first_that_the_cached_file_is_corrupt(tmp_path):
    (tmp_path / NAME).write_bytes(b"truncated")
    url = f"http://127.0.0.1:{free_port()}/{NAME}"
    with pytest.raises(CorruptDataFileError) as info:
        fetch(NAME, folder=tmp_path, url=url, timeout=5)
    message = str(info.value)
    assert message.startswith(f"the cached data file {tmp_path / NAME} is corrupt: its sha256 is ")
    assert message.index("Delete it") < message.index("A fresh download failed too: no network connection (")
    assert url in message  # where a good copy comes from
    assert isinstance(info.value, DataIntegrityError) and isinstance(info.value, ValueError)
    assert isinstance(info.value.original, DataDownloadError)
    assert (tmp_path / NAME).read_bytes() == b"truncated"  # the user's file is not deleted behind their back


def test_unknown_name_lists_known_names():
    with pytest.raises(UnknownDataFileError) as info:
        fetch("the-verdikt.txt")
    message = str(info.value)
    assert "the-verdikt.txt" in message
    for name in [*SHIPPED, *DOWNLOADED]:
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
