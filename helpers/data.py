"""Hash-verified download and cache of the course's data files.

Built in notebooks/00_setup_check.ipynb ("Data files"); every later notebook loads its text through it.

A file is looked up in the cache folder first (see `data_dir`). When it is missing, or its content does
not match the known sha256, it is downloaded from its public URL into a temporary file beside the
target, verified, and only then renamed into place, so an interrupted or corrupt download never leaves
a bad file behind.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "DATA_FILES",
    "DataFile",
    "DataDownloadError",
    "DataFolderError",
    "DataIntegrityError",
    "UnknownDataFileError",
    "data_dir",
    "fetch",
    "load_text",
    "sha256_of",
]

ENV_VAR = "LLM_DATA_DIR"
_GPT2_BASE = "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main"
_BOOK_BASE = "https://raw.githubusercontent.com/rasbt/LLMs-from-scratch/main"


@dataclass(frozen=True)
class DataFile:
    """A public file the notebooks need: where it comes from and what it must hash to."""

    url: str
    sha256: str
    size: int


DATA_FILES: dict[str, DataFile] = {
    "the-verdict.txt": DataFile(
        url=f"{_BOOK_BASE}/ch02/01_main-chapter-code/the-verdict.txt",
        sha256="b41e41a68f0398a3154ae69e2e4c0e2694e17fe0d66730536837f1b01935b31f",
        size=20479,
    ),
    "gpt2/encoder.json": DataFile(
        url=f"{_GPT2_BASE}/encoder.json",
        sha256="196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
        size=1042301,
    ),
    "gpt2/vocab.bpe": DataFile(
        url=f"{_GPT2_BASE}/vocab.bpe",
        sha256="1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
        size=456318,
    ),
}


class UnknownDataFileError(KeyError):
    """The name is not one of the files in `DATA_FILES`."""

    def __str__(self) -> str:  # KeyError would print the message in quotes
        return str(self.args[0])


class DataDownloadError(ConnectionError):
    """The file is not cached and could not be downloaded (offline, refused, cut short)."""


class DataIntegrityError(ValueError):
    """The downloaded bytes do not hash to the known sha256."""


class DataFolderError(PermissionError):
    """The cache folder cannot be created or written."""


def data_dir() -> Path:
    """The cache folder: `$LLM_DATA_DIR` if set, else `data/` in the checkout, else a user cache folder."""
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


def fetch(name: str, *, folder: str | os.PathLike | None = None, url: str | None = None, timeout: float = 30.0) -> Path:
    """Return the verified local path of data file `name`, downloading it once if needed.

    `folder` overrides the cache folder and `url` the download address (both for tests and mirrors).
    """
    spec = _spec(name)
    root = Path(folder) if folder is not None else data_dir()
    target = root / name
    if _is_verified(target, spec.sha256):
        return target
    stale = target.is_file()
    source = url or spec.url
    _download(source, target, spec.sha256, name=name, timeout=timeout, stale=stale)
    return target


def _download(url: str, target: Path, expected_sha256: str, *, name: str, timeout: float, stale: bool) -> None:
    by_hand = (
        f"To install it by hand, download {url} and save it as {target} "
        f"(or point ${ENV_VAR} at a folder that holds {name})."
    )
    if stale:
        by_hand = f"The cached {target} does not match its sha256 {expected_sha256}. " + by_hand
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        handle, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    except OSError as err:
        raise DataFolderError(
            f"cannot write data file {name!r} into {target.parent}: {err.strerror or err}. "
            f"Set ${ENV_VAR} to a writable folder, or make this one writable."
        ) from err
    tmp = Path(tmp_name)
    try:
        digest = hashlib.sha256()
        received = 0
        try:
            with os.fdopen(handle, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as response:
                expected_len = response.headers.get("Content-Length")
                for chunk in iter(lambda: response.read(1 << 16), b""):
                    out.write(chunk)
                    digest.update(chunk)
                    received += len(chunk)
            if expected_len is not None and received != int(expected_len):
                raise DataDownloadError(
                    f"download of {name!r} from {url} was cut short: got {received} of {expected_len} bytes. "
                    + by_hand
                )
        except DataDownloadError:
            raise
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as err:
            reason = getattr(err, "reason", None) or err
            raise DataDownloadError(f"could not download data file {name!r} from {url}: {reason}. " + by_hand) from err
        actual = digest.hexdigest()
        if actual != expected_sha256:
            raise DataIntegrityError(
                f"downloaded {name!r} from {url} but its sha256 is {actual}, expected {expected_sha256}; "
                "the file was discarded. The server may be serving a different version. " + by_hand
            )
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


def load_text(name: str, encoding: str = "utf-8") -> str:
    """Read a cached (downloaded if needed) text data file."""
    return fetch(name).read_text(encoding=encoding)
