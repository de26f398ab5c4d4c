"""The house's layering (ARCHITECTURE.md's table), no import cycles, and one home for file kinds
and line breaks. Imports are read with ``ast`` from every module: function-level imports and
``if TYPE_CHECKING:`` imports count as much as the ones at the top."""

import ast
import re
from collections import defaultdict
from functools import cache
from pathlib import Path

import pytest
from conftest import ROOT

from lora_lint.source_file import SUFFIXES

PACKAGE = ROOT / "lora_lint"
DOC = ROOT / "ARCHITECTURE.md"

#: Cycles other branches are removing (each with who removes it). The test fails when one of
#: them is gone too, so this list only shrinks. None is left: the package has no import cycle.
PENDING_CYCLES: set[frozenset[str]] = set()


# -- the import graph ----------------------------------------------------------------------------

@cache
def modules() -> dict[str, Path]:
    """Module name (relative to lora_lint; the package itself is ``lora_lint``) -> file."""
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts) or "lora_lint"] = path
    return out


def _absolute(module: str, is_package: bool, node: ast.ImportFrom) -> str:
    here = [] if module == "lora_lint" else module.split(".")
    base = here if is_package else here[:-1]
    if node.level > 1:
        base = base[:len(base) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


@cache
def graph() -> dict[str, set[str]]:
    """Module -> the modules of the package it imports."""
    mods = modules()

    def known(name: str) -> str | None:
        name = name or "lora_lint"
        while name not in mods and "." in name:
            name = name.rsplit(".", 1)[0]
        return name if name in mods else None

    edges: dict[str, set[str]] = {}
    for name, path in mods.items():
        is_package = path.name == "__init__.py"
        found = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name.removeprefix("lora_lint").removeprefix(".") for a in node.names
                           if a.name == "lora_lint" or a.name.startswith("lora_lint.")]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = _absolute(name, is_package, node)
                elif node.module == "lora_lint" or (node.module or "").startswith("lora_lint."):
                    base = node.module.removeprefix("lora_lint").removeprefix(".")
                else:
                    continue
                targets = [f"{base}.{a.name}" if f"{base}.{a.name}".strip(".") in mods else base
                           for a in node.names]
            for t in targets:
                target = known(t.strip("."))
                if target is not None and target != name:
                    found.add(target)
        edges[name] = found
    return edges


def cycles(edges: dict[str, set[str]]) -> set[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: set[frozenset[str]] = set()

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(edges.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            if len(component) > 1:
                out.add(frozenset(component))

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


# -- the table in ARCHITECTURE.md ------------------------------------------------------------------

@cache
def parts() -> dict[str, tuple[list[str], set[str] | None]]:
    """Part -> (module patterns, the parts it may import; None: any)."""
    text = DOC.read_text(encoding="utf-8")
    section = text.split("## Parts and what they may import", 1)[1].split("\n## ", 1)[0]
    out = {}
    for row in section.splitlines():
        cells = [c.strip() for c in row.strip().strip("|").split("|")]
        if len(cells) != 4 or cells[0] in ("part", "---"):
            continue
        name, mods, allowed, _job = cells
        patterns = re.findall(r"`([^`]+)`", mods)
        may = None if allowed == "any" else set() if allowed == "—" else {a.strip() for a in allowed.split(",")}
        out[name] = (patterns, may)
    return out


def part_of(module: str) -> list[str]:
    found = []
    for name, (patterns, _) in parts().items():
        for p in patterns:
            if module == p or (p.endswith(".*") and (module == p[:-2] or module.startswith(p[:-1]))):
                found.append(name)
                break
    return found


def test_the_table_is_read():
    assert {"core", "readers", "rules", "engine", "pipeline", "reporters", "commands"} <= set(parts())
    for name, (_, may) in parts().items():
        assert may is None or may <= set(parts()), f"{name} may import an unknown part: {may - set(parts())}"


def test_every_module_is_in_exactly_one_part():
    wrong = {m: part_of(m) for m in modules() if len(part_of(m)) != 1}
    assert not wrong, f"place these modules in ARCHITECTURE.md's table (exactly once): {wrong}"


def test_the_parts_are_layered():
    """The parts' "may import" relation has no cycle: each part stands above what it imports."""
    edges = {name: (may or set()) - {name} for name, (_, may) in parts().items()}
    assert cycles(edges) == set()


def test_every_import_keeps_the_layering():
    broken = defaultdict(list)
    for module, targets in graph().items():
        (here,) = part_of(module)
        may = parts()[here][1]
        for target in sorted(targets):
            (there,) = part_of(target)
            if there != here and may is not None and there not in may:
                broken[f"{here} -> {there}"].append(f"{module} imports {target}")
    assert not broken, dict(broken)


def test_no_import_cycle():
    found = cycles(graph())
    new = found - PENDING_CYCLES
    assert not new, f"import cycles: {[sorted(c) for c in new]}"
    gone = PENDING_CYCLES - found
    assert not gone, f"these cycles are gone: remove them from PENDING_CYCLES: {[sorted(c) for c in gone]}"


def test_the_checks_catch_what_they_claim():
    """The graph reader sees function-level and TYPE_CHECKING imports, and the cycle finder finds."""
    g = graph()
    assert "rules" in g["settings"]  # `from .rules import all_rules` inside a function
    assert "models.inventory" in g["registry"]  # under `if TYPE_CHECKING:`
    assert "sources.python" in g["sources"]  # `from . import python` inside a function
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == {frozenset("abc")}


# -- file kinds and line breaks: one home (source_file) ------------------------------------------

#: Modules that read files lora-lint does not lint, with their own formats: a .gitignore
#: (discovery), dependency files (pins), model configs and library messages (models).
NOT_LINTED = ("discovery", "pins", "models")
#: Still splitting a linted file's text by itself, with who removes it.
PENDING_SPLITS: set[str] = set()
_REGEX_CALLS = {"compile", "split", "finditer", "findall", "sub", "search", "match", "fullmatch"}


def _outside(module: str, exempt: tuple[str, ...]) -> bool:
    return module != "source_file" and not any(module == e or module.startswith(e + ".") for e in exempt)


def _line_break_pattern(pattern: str) -> bool:
    """A regular expression that matches a line break (CR) outside a character class."""
    bare = re.sub(r"\[(?:\\.|[^\]])*\]", "", pattern.replace("\r", "\\r"))
    return "\\r" in bare


@pytest.mark.parametrize("module", sorted(modules()))
def test_only_source_file_knows_kinds_and_line_breaks(module):
    tree = ast.parse(modules()[module].read_text(encoding="utf-8"))
    suffixes = set(SUFFIXES)
    for node in ast.walk(tree):
        if _outside(module, ("models",)) and isinstance(node, ast.Constant) and isinstance(node.value, str):
            assert node.value.lower() not in suffixes, (
                f"{module}:{node.lineno} tests the extension {node.value!r}: ask source_file.kind_of")
        if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Attribute):
            continue
        if not _outside(module, NOT_LINTED) or module in PENDING_SPLITS:
            continue
        assert node.func.attr != "splitlines", (
            f"{module}:{node.lineno} splits lines itself: use SourceFile.lines (str.splitlines also"
            " breaks at form feeds)")
        owner = node.func.value
        if isinstance(owner, ast.Name) and owner.id == "re" and node.func.attr in _REGEX_CALLS and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and isinstance(first.value, str):
                assert not _line_break_pattern(first.value), (
                    f"{module}:{node.lineno} matches line breaks itself: use source_file's line table")


def test_the_line_break_check_tells_patterns_apart():
    assert _line_break_pattern(r"\r\n|\r|\n") and _line_break_pattern("\r\n|\r|\n")
    assert not _line_break_pattern(r"[ \t\n\r]*") and not _line_break_pattern(r"\s+")


def test_pending_splits_are_still_there():
    for module in PENDING_SPLITS:
        assert ".splitlines(" in modules()[module].read_text(encoding="utf-8"), (
            f"{module} no longer splits lines: remove it from PENDING_SPLITS")
