#!/usr/bin/env python3
"""Set the course's GitHub repository address everywhere it is written, in one command (for maintainers).

    python tools/set_repo_address.py alice/llm-from-scratch      (or https://github.com/alice/llm-from-scratch)

The address is kept in one place, `COURSE_REPO` in the shared set-up cell (helpers/teaching/setup_cell.txt).
Copies of it must stand where nothing can be looked up: the first cell of every notebook (Colab clones the
repository from there) and the links of the README (the Binder badge, Colab links). This command reads the current
address from the set-up cell and replaces it, in URLs only (github.com/..., mybinder.org/v2/gh/...,
colab.research.google.com/github/...), in helpers/teaching/setup_cell.txt, README.md and every notebook under
notebooks/. It changes nothing else in those files, and nothing at all when the new address is malformed.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CELL = Path("helpers/teaching/setup_cell.txt")
PLACES = [CELL, Path("README.md")]  # and every notebook under notebooks/
CURRENT = re.compile(r'^COURSE_REPO = "https://github\.com/([^"/]+/[^"/]+)"', re.MULTILINE)
# GitHub's rules: an owner is 1-39 letters, digits or single inner hyphens; a repository name is letters, digits,
# '.', '-' and '_' (not "." or "..")
OWNER = re.compile(r"[A-Za-z0-9](?:-?[A-Za-z0-9]){0,38}")
NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")
URL_FORM = re.compile(r"https://github\.com/([^/]+/[^/]+?)(?:\.git)?/?")


def parse_address(text: str) -> str:
    """Return `owner/name` from `owner/name` or `https://github.com/owner/name`; raise ValueError if malformed."""
    match = URL_FORM.fullmatch(text.strip())
    slug = match.group(1) if match else text.strip()
    owner, _, name = slug.partition("/")
    if name.endswith(".git"):
        name = name[: -len(".git")]
    if not (OWNER.fullmatch(owner) and NAME.fullmatch(name) and name not in (".", "..")):
        raise ValueError(
            f"not a GitHub repository address: {text!r}; expected OWNER/NAME (e.g. alice/llm-from-scratch) or "
            "https://github.com/OWNER/NAME"
        )
    return f"{owner}/{name}"


def files(root: Path) -> list[Path]:
    """Every file that may hold the address: the set-up cell's canonical text, the README, the notebooks."""
    notebooks = [p for p in sorted((root / "notebooks").rglob("*.ipynb")) if ".ipynb_checkpoints" not in p.parts]
    return [root / p for p in PLACES if (root / p).is_file()] + notebooks


def in_urls(slug: str) -> re.Pattern:
    """`slug` where it is the repository of a GitHub, Binder or Colab URL (not `slug2`, not `slug.txt`)."""
    after = r"(?:(?<=github\.com/)|(?<=/v2/gh/)|(?<=/github/))"
    return re.compile(after + re.escape(slug) + r"(?=\.git\b|[^\w.-]|$)")


def set_address(root: Path, new: str) -> list[Path]:
    """Replace the current address by `new` (OWNER/NAME) in every file; return the files that changed."""
    cell = (root / CELL).read_text(encoding="utf-8")
    found = CURRENT.search(cell)
    if found is None:
        raise ValueError(f"no `COURSE_REPO = \"https://github.com/OWNER/NAME\"` line in {root / CELL}")
    old = found.group(1)
    pattern = in_urls(old)
    changed = []
    for path in files(root):
        text = path.read_text(encoding="utf-8")
        updated = pattern.sub(new, text)
        if updated != text:
            path.write_text(updated, encoding="utf-8")
            changed.append(path)
    return changed


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("address", help="OWNER/NAME or https://github.com/OWNER/NAME")
    parser.add_argument("--root", type=Path, default=ROOT, help="the course folder (default: %(default)s)")
    args = parser.parse_args(argv)
    try:
        new = parse_address(args.address)
        changed = set_address(args.root, new)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    names = ", ".join(str(p.relative_to(args.root)) for p in changed) or "nothing to change"
    print(f"repository address: https://github.com/{new} ({len(changed)} files changed: {names})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
