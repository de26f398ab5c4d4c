"""Parsing peft pins out of dependency files: PEP 440, Poetry and conda specifiers, requirements
files (with ``-r``/``-c`` includes), pyproject.toml, setup.cfg, environment.yml and PEP 723 blocks.

Every parser answers "does it mention peft, and what is the newest version it allows" as
``(mentions, Bound | None)``; ``None`` means no upper bound. Used by ``lora_lint.project``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NamedTuple

from .peft_history import Version, parse

MAX_FILE = 1024 * 1024
MAX_INCLUDE_DEPTH = 5


class Bound(NamedTuple):
    """An upper bound on the version: ``<= version`` when inclusive, else ``< version``."""

    version: Version
    inclusive: bool

    def allows(self, since: Version) -> bool:
        a, b = _pad(since, self.version)
        return a <= b if self.inclusive else a < b

    def tighter(self, other: Bound | None) -> Bound:
        if other is None:
            return self
        a, b = _pad(self.version, other.version)
        if a != b:
            return self if a < b else other
        return self if not self.inclusive else other

    def __str__(self) -> str:
        v = ".".join(map(str, self.version))
        return v if self.inclusive else f"<{v}"


def _pad(a: Version, b: Version) -> tuple[Version, Version]:
    n = max(len(a), len(b))
    return a + (0,) * (n - len(a)), b + (0,) * (n - len(b))


def _bump(v: Version) -> Version:
    return v[:-1] + (v[-1] + 1,) if v else (1,)


def loosest(bounds: Iterable[Bound | None]) -> Bound | None:
    """The loosest of several alternatives: None (unbounded) wins."""
    out: Bound | None = None
    first = True
    for b in bounds:
        if b is None:
            return None
        if first:
            out, first = b, False
            continue
        assert out is not None
        out = out if out.tighter(b) is b else b
    return out


# specifiers -----------------------------------------------------------------------------------
_CLAUSE = r"^\s*(===|~=|==|!=|<=|>=|<|>|=|\^|~)?\s*(\S+?)\s*$"


def pep440_bound(spec: str) -> Bound | None:
    """Upper bound of a PEP 440 specifier set (``>=0.10,<0.14``); None when unbounded."""
    out: Bound | None = None
    for clause in spec.split(","):
        if not clause.strip():
            continue
        b = _clause_bound(clause, pep440=True)
        if b is not None:
            out = b.tighter(out)
    return out


def _clause_bound(clause: str, pep440: bool = False, conda: bool = False) -> Bound | None:
    m = re.match(_CLAUSE, clause)
    if not m:
        return None
    op, ver = m.group(1) or "", m.group(2)
    wildcard = ver.endswith(".*") or ver == "*"
    release = parse(ver.rstrip(".*")) if ver != "*" else None
    if release is None:
        return None
    if op in ("==", "===") or (op == "" and not pep440):
        if wildcard or (op == "" and conda):
            return Bound(_bump(release), False)
        return Bound(release, True)
    if op == "=":  # conda: prefix match
        return Bound(_bump(release), False)
    if op == "~=":
        return Bound(_bump(release[:-1]), False) if len(release) >= 2 else None
    if op == "<":
        return Bound(release, False)
    if op == "<=":
        return Bound(release, True)
    if op == "^":  # poetry caret
        i = next((k for k, x in enumerate(release) if x != 0), len(release) - 1)
        return Bound(_bump(release[: i + 1]), False)
    if op == "~":  # poetry tilde
        return Bound(_bump(release[:2] if len(release) >= 2 else release), False)
    return None  # >, >=, !=


_NAME = r"(?s)^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$"


def _is_peft(name: str) -> bool:
    return re.sub(r"[-_.]+", "-", name).lower() == "peft"


def requirement_bound(line: str) -> tuple[bool, Bound | None]:
    """``(mentions_peft, bound)`` for one PEP 508 requirement string."""
    m = re.match(_NAME, line)
    if not m or not _is_peft(m.group(1)):
        return False, None
    rest = m.group(3).strip()
    if rest.startswith("@") or ";" in rest:  # a URL, or markers we cannot evaluate
        return True, None
    rest = rest.strip("()")
    return True, pep440_bound(rest)


def combine(found: list[Bound | None]) -> tuple[bool, Bound | None]:
    """All of ``found`` apply together (one install): the tightest bound."""
    if not found:
        return False, None
    out: Bound | None = None
    for b in found:
        if b is not None:
            out = b.tighter(out)
    return True, out


# files ----------------------------------------------------------------------------------------
#: How the parsers below read a file: its text (at most ``MAX_FILE`` bytes), or None. The caller
#: (``project``) hands over one that reads without blocking and records what it read.
Reader = Callable[[Path], "str | None"]


def _read(path: Path) -> str | None:
    try:
        if path.stat().st_size > MAX_FILE:
            return None
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def requirements_file(path: Path, depth: int = 0, seen: frozenset[Path] = frozenset(),
                      read: Reader = _read) -> list[Bound | None]:
    """Bounds of every peft line in a requirements file and the files it includes (-r/-c)."""
    text = read(path)
    if text is None or depth > MAX_INCLUDE_DEPTH or path in seen:
        return []
    seen = seen | {path}
    out: list[Bound | None] = []
    for raw in text.replace("\\\n", " ").splitlines():
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if not line:
            continue
        inc = re.match(r"^(-r|-c|--requirement|--constraint)\s*=?\s*(\S+)", line)
        if inc:
            out += requirements_file(path.parent / inc.group(2), depth + 1, seen, read)
            continue
        if line.startswith("-"):
            continue
        line = re.sub(r"\s+--?[A-Za-z].*$", "", line)  # --hash=..., per-requirement options
        mentioned, bound = requirement_bound(line)
        if mentioned:
            out.append(bound)
    return out


def _poetry_bound(spec) -> tuple[bool, Bound | None]:
    if isinstance(spec, list):  # multiple constraints (with markers): any may apply
        results = [_poetry_bound(s) for s in spec]
        return True, loosest(b for _, b in results)
    if isinstance(spec, dict):
        if "version" not in spec:
            return True, None  # git/path/url dependency
        spec = spec["version"]
    if not isinstance(spec, str):
        return True, None
    alternatives = []
    for alt in spec.split("||"):
        out: Bound | None = None
        for clause in _clauses(alt):
            b = _clause_bound(clause)
            if b is not None:
                out = b.tighter(out)
        alternatives.append(out)
    return True, loosest(alternatives)


def _clauses(spec: str) -> list[str]:
    """``">= 0.10, < 0.12"`` -> [">=0.10", "<0.12"] (Poetry allows both commas and spaces)."""
    spec = re.sub(r"(===|~=|==|!=|<=|>=|<|>|=|\^|~)\s+", r"\1", spec.strip())
    return [c for c in re.split(r"[,\s]+", spec) if c and c != "*"]


def pyproject_groups(text: str) -> list[tuple[bool, Bound | None]]:
    """One ``(mentions_peft, bound)`` per dependency list in a pyproject.toml."""
    data = _toml(text)
    if data is None:
        return []
    groups: list[list] = []
    project = data.get("project") if isinstance(data.get("project"), dict) else {}
    groups.append(project.get("dependencies") or [])
    extras = project.get("optional-dependencies")
    if isinstance(extras, dict):
        groups += list(extras.values())
    dep_groups = data.get("dependency-groups")
    if isinstance(dep_groups, dict):
        groups += list(dep_groups.values())
    out = []
    for group in groups:
        if isinstance(group, list):
            out.append(combine([b for m, b in map(requirement_bound, strings(group)) if m]))
    poetry = data.get("tool", {}).get("poetry") if isinstance(data.get("tool"), dict) else None
    if isinstance(poetry, dict):
        tables = [poetry.get("dependencies"), poetry.get("dev-dependencies")]
        if isinstance(poetry.get("group"), dict):
            tables += [g.get("dependencies") for g in poetry["group"].values() if isinstance(g, dict)]
        for table in tables:
            if isinstance(table, dict):
                for name, spec in table.items():
                    if isinstance(name, str) and _is_peft(name):
                        out.append(_poetry_bound(spec))
    return out


def _toml(text: str) -> dict | None:
    """The TOML document, None when it does not parse. (The parser is imported here: only a
    project with a pyproject.toml or a PEP 723 block reads TOML.)"""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        return tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError):
        return None


def strings(items) -> list[str]:
    return [x for x in items if isinstance(x, str)]


def setup_cfg_groups(text: str) -> list[tuple[bool, Bound | None]]:
    import configparser  # (here: only a project with a setup.cfg reads one)

    cp = configparser.RawConfigParser()
    try:
        cp.read_string(text)
    except configparser.Error:
        return []
    values = []
    if cp.has_option("options", "install_requires"):
        values.append(cp.get("options", "install_requires"))
    if cp.has_section("options.extras_require"):
        values += [v for _, v in cp.items("options.extras_require")]
    out = []
    for v in values:
        lines = [x.strip() for x in re.split(r"[\n;]\s*(?=[A-Za-z])", v) if x.strip()]
        out.append(combine([b for m, b in map(requirement_bound, lines) if m]))
    return out


def environment_groups(text: str) -> list[tuple[bool, Bound | None]]:
    import yaml

    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return []
    deps = data.get("dependencies") if isinstance(data, dict) else None
    if not isinstance(deps, list):
        return []
    found: list[Bound | None] = []
    for dep in deps:
        if isinstance(dep, dict) and isinstance(dep.get("pip"), list):
            found += [b for m, b in map(requirement_bound, strings(dep["pip"])) if m]
        elif isinstance(dep, str):
            mentioned, bound = conda_bound(dep)
            if mentioned:
                found.append(bound)
    return [combine(found)]


def conda_bound(spec: str) -> tuple[bool, Bound | None]:
    """A conda match spec: ``peft``, ``peft=0.10``, ``peft==0.10.0``, ``conda-forge::peft >=0.10``."""
    spec = spec.split("::")[-1].strip()
    m = re.match(r"^([A-Za-z0-9][A-Za-z0-9._-]*)\s*(.*)$", spec)
    if not m or not _is_peft(m.group(1)):
        return False, None
    rest = m.group(2).strip()
    if not rest:
        return True, None
    if re.match(r"^=[^=]", rest):  # peft=0.10[=build]
        return True, _clause_bound("=" + rest[1:].split("=")[0], conda=True)
    if re.match(r"^\d", rest):  # peft 0.10.0 [build]
        return True, _clause_bound(rest.split()[0], conda=True)
    alternatives = []
    for alt in rest.split("|"):
        out: Bound | None = None
        for clause in alt.split(","):
            b = _clause_bound(clause, pep440=True)
            if b is not None:
                out = b.tighter(out)
        alternatives.append(out)
    return True, loosest(alternatives)


def file_groups(path: Path, read: Reader = _read) -> list[tuple[bool, Bound | None]]:
    name = path.name
    if name.startswith("requirements") and name.endswith(".txt"):
        return [combine(requirements_file(path, read=read))]
    text = read(path)
    if text is None:
        return []
    if name == "pyproject.toml":
        return pyproject_groups(text)
    if name == "setup.cfg":
        return setup_cfg_groups(text)
    if name in ("environment.yml", "environment.yaml"):
        return environment_groups(text)
    return []


# PEP 723 ---------------------------------------------------------------------------------------
_SCRIPT = r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$"
_COMMENT_LINE = r"#.*\n"


def script_metadata(lines: list[str]) -> tuple[list[str], int, int] | None:
    """The ``dependencies`` of a PEP 723 ``# /// script`` block, with its first and last line.

    ``lines`` are the script's lines (``SourceFile.lines``): PEP 723 reads the script with
    universal newlines, so a CRLF (Windows) or CR script has a block too."""
    text = "\n".join(lines) + "\n"
    if "# /// script" not in text:
        return None
    for m in re.finditer(_SCRIPT, text):
        if m.group("type") != "script":
            continue
        content = "".join(
            line[2:] if line.startswith("# ") else line[1:]
            for line in re.findall(_COMMENT_LINE, m.group("content"))
        )
        data = _toml(content)
        if data is None:
            return None
        deps = data.get("dependencies")
        if not isinstance(deps, list):
            return None
        first = text.count("\n", 0, m.start()) + 1
        last = text.count("\n", 0, m.end()) + 1
        return strings(deps), first, last
    return None
