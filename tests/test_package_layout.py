"""The layout of the `helpers` package, read from its source: one idea per module, in the order the course builds them.

Core modules import only modules before them in `BOOK_ORDER` and never `helpers.teaching`; no module imports another
module's private name; no import cycle; no module over 450 lines; each module's docstring names a notebook that exists.
Only imports at a module's top level count (an import inside a function or under `if __name__ == "__main__"` runs
late and cannot make a cycle at import time).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "helpers"
NOTEBOOKS = ROOT / "notebooks"

# The course's model code in the order the course builds it: each module may import only those before it.
BOOK_ORDER = [
    "helpers.checks",
    "helpers.downloads",
    "helpers.datafiles",
    "helpers.text",
    "helpers.merges",
    "helpers.bpe",
    "helpers.gpt2_tokenizer",
    "helpers.sliding_window",
    "helpers.embeddings",
    "helpers.attention",
    "helpers.gpt",
    "helpers.generate",
    "helpers.train",
    "helpers.schedule",
    "helpers.checkpoint",
    "helpers.train_cli",
    "helpers.gpt2_weights",
    "helpers.gguf_file",
    "helpers.llama",
    "helpers.llama_weights",
    "helpers.smollm2",
    "helpers.spam",
    "helpers.lora",
    "helpers.classifier",
    "helpers.instruct",
    "helpers.instruct_model",
    "helpers.evaluate_responses",
    "helpers.instruct_cli",
]
MAX_LINES = 450


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def top_level_imports(path: Path) -> list[tuple[str, list[str]]]:
    """(module, names) of each `import x` / `from x import names` at the module's top level (not in functions, not
    under `if __name__ == "__main__"`)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.module, [alias.name for alias in node.names]))
        elif isinstance(node, ast.Import):
            found.extend((alias.name, []) for alias in node.names)
    return found


def helpers_imports(name: str) -> set[str]:
    """The helpers modules that `name` imports at its top level (`from package import module` counts as the module)."""
    targets = set()
    for module, names in top_level_imports(MODULES[name]):
        if not module.startswith("helpers"):
            continue
        submodules = {f"{module}.{n}" for n in names if f"{module}.{n}" in MODULES}
        targets |= submodules or {module}
    return targets - {name}


def test_every_core_module_is_in_the_book_order_and_every_listed_one_exists():
    core = {name for name in MODULES if name.count(".") == 1 and not name.startswith("helpers.teaching")}
    assert core == set(BOOK_ORDER), f"add new modules to BOOK_ORDER at their place: {sorted(core ^ set(BOOK_ORDER))}"


@pytest.mark.parametrize("name", BOOK_ORDER)
def test_a_core_module_imports_only_modules_before_it(name):
    allowed = set(BOOK_ORDER[: BOOK_ORDER.index(name)]) | {"helpers"}
    imported = helpers_imports(name)
    teaching = sorted(m for m in imported if m.startswith("helpers.teaching"))
    assert not teaching, f"{name} imports the notebooks' tools {teaching}: the model code never needs them"
    later = sorted(imported - allowed)
    assert not later, f"{name} imports {later}, which come later in the course (BOOK_ORDER): move the shared code down"


def test_no_import_cycle():
    graph = {name: helpers_imports(name) & set(MODULES) for name in MODULES}
    state: dict[str, str] = {}

    def visit(node: str, path: list[str]) -> None:
        state[node] = "open"
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycle = path[path.index(nxt):] + [nxt] if nxt in path else [node, nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt, [*path, nxt])
        state[node] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])


@pytest.mark.parametrize("name", sorted(MODULES))
def test_no_private_name_is_imported_from_another_module(name):
    private = [
        f"{module}.{n}" for module, names in top_level_imports(MODULES[name]) if module.startswith("helpers")
        for n in names if n.startswith("_")
    ]
    assert not private, f"{name} imports private names {private}: make them public where they are defined"


@pytest.mark.parametrize("name", sorted(MODULES))
def test_modules_stay_small(name):
    lines = len(MODULES[name].read_text(encoding="utf-8").splitlines())
    assert lines <= MAX_LINES, f"{name} has {lines} lines, more than {MAX_LINES}: split it by idea"


@pytest.mark.parametrize("name", sorted(n for n in MODULES if n not in ("helpers", "helpers.teaching")))
def test_each_module_docstring_names_a_notebook_that_exists(name):
    doc = ast.get_docstring(ast.parse(MODULES[name].read_text(encoding="utf-8")))
    assert doc, f"{name} has no docstring: say what it holds and which notebook builds or uses it"
    named = set(re.findall(r"\b(\d\d_[a-z0-9_]+)\b", doc))
    assert named, f"{name}'s docstring names no notebook (as notebooks/NN_name.ipynb)"
    missing = sorted(n for n in named if not (NOTEBOOKS / f"{n}.ipynb").exists())
    assert not missing, f"{name}'s docstring names notebooks that do not exist: {missing}"


def test_the_helpers_of_the_layout_test_see_real_imports():
    # the graph above is not empty: gpt imports attention, train imports generate, teaching imports core
    assert "helpers.attention" in helpers_imports("helpers.gpt")
    assert "helpers.generate" in helpers_imports("helpers.train")
    assert any(not m.startswith("helpers.teaching") for m in helpers_imports("helpers.teaching.widgets"))
