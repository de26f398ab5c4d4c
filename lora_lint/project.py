"""Which peft version a project uses: its pin, or failing that the installed peft (for LL002).

The pin is searched from the linted file's directory upward, stopping at the repository root
(a directory holding ``.git``) or the filesystem root. The first directory whose
``requirements*.txt``, ``pyproject.toml`` (PEP 621 dependencies and optional dependencies, PEP 735
dependency groups, Poetry dependencies), ``setup.cfg`` (``install_requires``, ``extras_require``)
or ``environment.yml`` mentions peft decides. A PEP 723 ``# /// script`` block in the file itself
comes first. The result is the *newest* version the pin allows: ``peft==0.13.2`` -> 0.13.2,
``peft<0.14`` -> anything below 0.14, ``peft>=0.10`` -> no upper bound. When several files or
dependency groups in the directory mention peft, the loosest wins, so a rule never fires on a
version the project may in fact run. Nothing here imports peft.
"""

from __future__ import annotations

import configparser
import os
import re
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from .peft_history import Version, parse

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

MAX_FILE = 1024 * 1024
MAX_INCLUDE_DEPTH = 5


@dataclass(frozen=True)
class Bound:
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


@dataclass(frozen=True)
class PeftVersion:
    """The newest peft a project may run: ``bound`` None means no upper bound."""

    bound: Bound | None
    spec: str  # as written: "peft==0.13.2", or the installed version
    source: str | None  # the file that pins it; None for the installed peft

    def allows(self, since: str) -> bool:
        v = parse(since)
        return self.bound is None or v is None or self.bound.allows(v)

    def older_than(self, version: str) -> bool:
        """True when every version the project may run is older than ``version``."""
        return not self.allows(version)

    def describe(self) -> str:
        if self.source is None:
            return f"the installed peft is {self.spec} (no peft pin found in the project)"
        where = _display(self.source) if os.path.isabs(self.source) else self.source
        return f"your project pins {self.spec} ({where})"


def _pad(a: Version, b: Version) -> tuple[Version, Version]:
    n = max(len(a), len(b))
    return a + (0,) * (n - len(a)), b + (0,) * (n - len(b))


def _bump(v: Version) -> Version:
    return v[:-1] + (v[-1] + 1,) if v else (1,)


def _display(path: str) -> str:
    try:
        rel = os.path.relpath(path)
    except ValueError:
        return path
    return path if rel.startswith("..") else rel


def _loosest(bounds: Iterable[Bound | None]) -> Bound | None:
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
_CLAUSE = re.compile(r"^\s*(===|~=|==|!=|<=|>=|<|>|=|\^|~)?\s*(\S+?)\s*$")


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
    m = _CLAUSE.match(clause)
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


_NAME = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*(.*)$", re.S)


def _is_peft(name: str) -> bool:
    return re.sub(r"[-_.]+", "-", name).lower() == "peft"


def requirement_bound(line: str) -> tuple[bool, Bound | None]:
    """``(mentions_peft, bound)`` for one PEP 508 requirement string."""
    m = _NAME.match(line)
    if not m or not _is_peft(m.group(1)):
        return False, None
    rest = m.group(3).strip()
    if rest.startswith("@") or ";" in rest:  # a URL, or markers we cannot evaluate
        return True, None
    rest = rest.strip("()")
    return True, pep440_bound(rest)


def _combine(found: list[Bound | None]) -> tuple[bool, Bound | None]:
    """All of ``found`` apply together (one install): the tightest bound."""
    if not found:
        return False, None
    out: Bound | None = None
    for b in found:
        if b is not None:
            out = b.tighter(out)
    return True, out


# files ----------------------------------------------------------------------------------------
def _read(path: Path) -> str | None:
    try:
        if path.stat().st_size > MAX_FILE:
            return None
        return path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None


def requirements_file(path: Path, depth: int = 0, seen: frozenset[Path] = frozenset()) -> list[Bound | None]:
    """Bounds of every peft line in a requirements file and the files it includes (-r/-c)."""
    text = _read(path)
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
            out += requirements_file(path.parent / inc.group(2), depth + 1, seen)
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
        return True, _loosest(b for _, b in results)
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
    return True, _loosest(alternatives)


def _clauses(spec: str) -> list[str]:
    """``">= 0.10, < 0.12"`` -> [">=0.10", "<0.12"] (Poetry allows both commas and spaces)."""
    spec = re.sub(r"(===|~=|==|!=|<=|>=|<|>|=|\^|~)\s+", r"\1", spec.strip())
    return [c for c in re.split(r"[,\s]+", spec) if c and c != "*"]


def pyproject_groups(text: str) -> list[tuple[bool, Bound | None]]:
    """One ``(mentions_peft, bound)`` per dependency list in a pyproject.toml."""
    try:
        data = tomllib.loads(text)
    except (tomllib.TOMLDecodeError, ValueError):
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
            out.append(_combine([b for m, b in map(requirement_bound, _strings(group)) if m]))
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


def _strings(items) -> list[str]:
    return [x for x in items if isinstance(x, str)]


def setup_cfg_groups(text: str) -> list[tuple[bool, Bound | None]]:
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
        out.append(_combine([b for m, b in map(requirement_bound, lines) if m]))
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
            found += [b for m, b in map(requirement_bound, _strings(dep["pip"])) if m]
        elif isinstance(dep, str):
            mentioned, bound = conda_bound(dep)
            if mentioned:
                found.append(bound)
    return [_combine(found)]


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
    return True, _loosest(alternatives)


def _file_groups(path: Path) -> list[tuple[bool, Bound | None]]:
    name = path.name
    if name.startswith("requirements") and name.endswith(".txt"):
        return [_combine(requirements_file(path))]
    text = _read(path)
    if text is None:
        return []
    if name == "pyproject.toml":
        return pyproject_groups(text)
    if name == "setup.cfg":
        return setup_cfg_groups(text)
    if name in ("environment.yml", "environment.yaml"):
        return environment_groups(text)
    return []


def _candidates(directory: Path) -> list[Path]:
    try:
        names = sorted(os.listdir(directory))
    except OSError:
        return []
    wanted = ("pyproject.toml", "setup.cfg", "environment.yml", "environment.yaml")
    return [
        directory / n for n in names
        if n in wanted or (n.startswith("requirements") and n.endswith(".txt"))
    ]


@lru_cache(maxsize=1024)
def directory_pin(directory: str) -> PeftVersion | None:
    """The peft pin of the files in ``directory`` itself (not its parents), or None."""
    found: list[tuple[Bound | None, str, str]] = []
    for path in _candidates(Path(directory)):
        for mentioned, bound in _file_groups(path):
            if mentioned:
                found.append((bound, str(path), _spec_text(bound)))
    if not found:
        return None
    loose = _loosest(b for b, _, _ in found)
    for bound, source, spec in found:
        if bound == loose:
            return PeftVersion(bound, spec, source)
    return None  # pragma: no cover


def _spec_text(bound: Bound | None) -> str:
    if bound is None:
        return "peft (no upper bound)"
    return f"peft=={bound}" if bound.inclusive else f"peft{bound}"


@lru_cache(maxsize=1024)
def find_pin(directory: str) -> PeftVersion | None:
    """The nearest peft pin from ``directory`` up to the repository root."""
    d = Path(directory)
    while True:
        pin = directory_pin(str(d))
        if pin is not None:
            return pin
        if (d / ".git").exists() or d.parent == d:
            return None
        d = d.parent


@lru_cache(maxsize=1)
def installed() -> PeftVersion | None:
    """The installed peft's version, read from its metadata (peft is never imported)."""
    from importlib import metadata

    try:
        version = metadata.version("peft")
    except metadata.PackageNotFoundError:
        return None
    v = parse(version)
    return PeftVersion(Bound(v, True), version, None) if v else None


def script_bound(dependencies) -> PeftVersion | None:
    """The pin in a PEP 723 ``dependencies`` list, if it mentions peft."""
    if not isinstance(dependencies, (list, tuple)):
        return None
    found = [b for m, b in map(requirement_bound, _strings(dependencies)) if m]
    mentioned, bound = _combine(found)
    if not mentioned:
        return None
    return PeftVersion(bound, _spec_text(bound), "the script's `# /// script` block")


def peft_version(path: str, script_dependencies=None) -> PeftVersion | None:
    """The newest peft the project of ``path`` may run: its pin, else the installed one."""
    pin = script_bound(script_dependencies)
    if pin is not None:
        return pin
    directory = os.path.dirname(os.path.abspath(path)) if path else os.getcwd()
    return find_pin(directory) or installed()


def clear_cache() -> None:
    directory_pin.cache_clear()
    find_pin.cache_clear()
    installed.cache_clear()


# PEP 723 ---------------------------------------------------------------------------------------
_SCRIPT = re.compile(
    r"(?m)^# /// (?P<type>[a-zA-Z0-9-]+)$\s(?P<content>(^#(| .*)$\s)+)^# ///$"
)


def script_metadata(text: str) -> tuple[list[str], int, int] | None:
    """The ``dependencies`` of a PEP 723 ``# /// script`` block, with its first and last line."""
    if "# /// script" not in text:
        return None
    for m in _SCRIPT.finditer(text):
        if m.group("type") != "script":
            continue
        content = "".join(
            line[2:] if line.startswith("# ") else line[1:]
            for line in m.group("content").splitlines(keepends=True)
        )
        try:
            data = tomllib.loads(content)
        except (tomllib.TOMLDecodeError, ValueError):
            return None
        deps = data.get("dependencies")
        if not isinstance(deps, list):
            return None
        first = text.count("\n", 0, m.start()) + 1
        last = text.count("\n", 0, m.end()) + 1
        return _strings(deps), first, last
    return None
