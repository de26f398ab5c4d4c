"""Build ``data/peft_history.json``: what every peft release accepts, read from its source.

``python -m lora_lint.peft_history_build PEFT_CLONE [PEFT_PACKAGE_DIR ...]`` reads each release tag
of a git clone of huggingface/peft (``v0.0.1`` ... , release candidates left out), the ``peft/``
package directories given (unpacked wheels of releases the clone has no tag for) and the installed
peft's own source, and writes one row per release. Nothing is imported or run: each file is parsed with
``ast``. ``--check`` compares the installed peft's row with the table instead
(``tests/test_peft_history.py`` does the same, and fails when the installed peft is newer than
the table or reads differently).

A row holds, for that release:

* ``fields``: the keyword arguments ``LoraConfig(...)`` takes (its dataclass fields and those of
  ``PeftConfig``/``PeftConfigMixin``, leaving out ``init=False`` fields).
* ``init``: the ``init_lora_weights`` strings the LoRA code compares against: ``exact`` (``==``,
  ``in``, and the annotation's ``Literal``), ``lower`` (compared after ``.lower()``) and
  ``prefix`` (``.startswith(...)``). ``unknown_init``: what a string it does not know does:
  ``"raise"`` (``reset_lora_parameters`` raises ``ValueError: Unknown initialization``) or
  ``"default"`` (any true value starts the default initialisation).
* ``task_types``: the members of ``TaskType``.
* ``all_linear``: whether ``target_modules="all-linear"`` means every linear layer (before, the
  string is a regular expression that matches no module).
* ``load``: what loading a saved ``adapter_config.json`` with a key this release does not know
  does: ``"ignore"`` (``from_pretrained`` sets only the attributes the config has), ``"raise"``
  (``config_cls(**kwargs)``: ``TypeError``), ``"drop"`` (removed with a warning), None (the release
  cannot load a saved config).
"""

from __future__ import annotations

import ast
import json
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from .peft_history import DATA, parse

Reader = Callable[[str], "str | None"]

#: Where each piece lived over peft's history (paths under the package directory ``peft/``).
LORA_CONFIG = ("tuners/lora/config.py", "tuners/lora.py")
BASE_CONFIG = ("config.py", "utils/config.py")
TASK_TYPES = ("utils/peft_types.py", "utils/config.py")
ALL_LINEAR = ("utils/constants.py", "tuners/tuners_utils.py")
LORA_CODE = ("tuners/lora/config.py", "tuners/lora/layer.py", "tuners/lora/variants.py",
             "tuners/lora/model.py", "tuners/lora.py")


def _tree(read: Reader, paths) -> list[ast.Module]:
    out = []
    for p in paths:
        text = read(p)
        if text is not None:
            out.append(ast.parse(text))
    return out


def _class(trees, name: str) -> ast.ClassDef | None:
    for tree in trees:
        for node in ast.walk(tree):
            if isinstance(node, ast.ClassDef) and node.name == name:
                return node
    return None


def _init_false(value) -> bool:
    return isinstance(value, ast.Call) and any(
        k.arg == "init" and isinstance(k.value, ast.Constant) and k.value.value is False for k in value.keywords)


def _fields(cls: ast.ClassDef) -> list[str]:
    out = []
    for stmt in cls.body:
        if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
            ann = ast.unparse(stmt.annotation)
            if ann.startswith(("ClassVar", "typing.ClassVar")) or _init_false(stmt.value):
                continue
            out.append(stmt.target.id)
    return out


def fields(read: Reader) -> list[str]:
    """``LoraConfig``'s keyword arguments, base classes first (dataclass order)."""
    lora = _class(_tree(read, LORA_CONFIG), "LoraConfig")
    if lora is None:
        raise SystemExit("LoraConfig not found")
    base_trees = _tree(read, BASE_CONFIG)
    names: list[str] = []
    for base in ("PeftConfigMixin", "PeftConfig"):
        cls = _class(base_trees, base)
        if cls is not None:
            names += [n for n in _fields(cls) if n not in names]
    names += [n for n in _fields(lora) if n not in names]
    return names


def _is_init(node) -> bool:
    """``init_lora_weights`` or ``<x>.init_lora_weights``."""
    return (isinstance(node, ast.Name) and node.id == "init_lora_weights") or (
        isinstance(node, ast.Attribute) and node.attr == "init_lora_weights")


def _lowered(node) -> bool:
    """``init_lora_weights.lower()`` or ``str(init_lora_weights).lower()``."""
    if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "lower"):
        return False
    inner = node.func.value
    if isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name) and inner.func.id == "str" and inner.args:
        inner = inner.args[0]
    return _is_init(inner)


def _strings(node) -> list[str]:
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return [e.value for e in node.elts if isinstance(e, ast.Constant) and isinstance(e.value, str)]
    return []


def init_values(read: Reader) -> dict[str, list[str]]:
    exact: set[str] = set()
    lower: set[str] = set()
    prefix: set[str] = set()
    for tree in _tree(read, LORA_CODE):
        for node in ast.walk(tree):
            if isinstance(node, ast.Compare) and all(isinstance(op, (ast.Eq, ast.NotEq, ast.In, ast.NotIn))
                                                     for op in node.ops):
                sides = [node.left, *node.comparators]
                found = [s for c in sides for s in _strings(c)]
                if any(_is_init(s) for s in sides):
                    exact.update(found)
                elif any(_lowered(s) for s in sides):
                    lower.update(found)
            elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                  and node.func.attr == "startswith" and _is_init(node.func.value)):
                for a in node.args:
                    prefix.update(_strings(a))
            elif (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                  and node.target.id == "init_lora_weights"):
                for sub in ast.walk(node.annotation):
                    if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and "[" not in sub.value:
                        exact.add(sub.value)
    return {"exact": sorted(exact), "lower": sorted(lower), "prefix": sorted(prefix)}


def unknown_init(read: Reader) -> str:
    for p in LORA_CODE:
        text = read(p)
        if text is not None and "Unknown initialization" in text:
            return "raise"
    return "default"


def task_types(read: Reader) -> list[str]:
    cls = _class(_tree(read, TASK_TYPES), "TaskType")
    if cls is None:
        return []
    return [t.id for stmt in cls.body if isinstance(stmt, ast.Assign) for t in stmt.targets
            if isinstance(t, ast.Name)]


def all_linear(read: Reader) -> bool:
    return any((text := read(p)) is not None and '"all-linear"' in text for p in ALL_LINEAR)


def load(read: Reader) -> str | None:
    """What loading a saved config with an unknown key does (see the module)."""
    text = next((t for p in BASE_CONFIG if (t := read(p)) is not None), "")
    if "_check_and_remove_unused_kwargs" in text:
        return "drop"
    if re.search(r"config_cls\(\*\*\w+\)", text) and not re.search(r"setattr\(config, key, value\)", text):
        return "raise"
    if re.search(r"if hasattr\(config, key\):\s*\n\s*setattr\(config, key, value\)", text):
        return "ignore"
    if "def from_pretrained" not in text:
        return None
    raise SystemExit("unrecognised config loading code: read it and extend peft_history_build.load")


def row(read: Reader) -> dict:
    return {
        "fields": fields(read),
        "init": init_values(read),
        "unknown_init": unknown_init(read),
        "task_types": task_types(read),
        "all_linear": all_linear(read),
        "load": load(read),
    }


def git_reader(clone: Path, tag: str) -> Reader:
    def read(path: str) -> str | None:
        r = subprocess.run(["git", "-C", str(clone), "show", f"{tag}:src/peft/{path}"],
                           capture_output=True, text=True)
        return r.stdout if r.returncode == 0 else None
    return read


def dir_reader(package: Path) -> Reader:
    def read(path: str) -> str | None:
        f = package / path
        return f.read_text(encoding="utf-8") if f.is_file() else None
    return read


def installed() -> tuple[str, Reader]:
    """The installed peft's version and a reader of its source (found without importing it)."""
    from importlib import metadata, util

    spec = util.find_spec("peft")
    if spec is None or not spec.submodule_search_locations:
        raise SystemExit("peft is not installed")
    return metadata.version("peft"), dir_reader(Path(next(iter(spec.submodule_search_locations))))


def releases(clone: Path) -> list[str]:
    tags = subprocess.run(["git", "-C", str(clone), "tag"], capture_output=True, text=True, check=True).stdout
    out = [t for t in tags.split() if re.fullmatch(r"v\d+\.\d+\.\d+", t)]
    return sorted(out, key=lambda t: parse(t) or ())


def package_version(package: Path) -> str:
    m = re.search(r'^__version__ = "([^"]+)"', (package / "__init__.py").read_text(encoding="utf-8"), re.M)
    if m is None:
        raise SystemExit(f"no __version__ in {package}/__init__.py")
    return m.group(1)


def build(clone: Path, packages: list[Path]) -> dict:
    rows = {tag.removeprefix("v"): row(git_reader(clone, tag)) for tag in releases(clone)}
    for package in packages:
        rows[package_version(package)] = row(dir_reader(package))
    version, read = installed()
    rows[version] = row(read)
    ordered = dict(sorted(rows.items(), key=lambda kv: parse(kv[0]) or ()))
    return {"source": "huggingface/peft release tags and the installed peft, read with ast", "releases": ordered}


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args == ["--check"]:
        version, read = installed()
        have = json.loads(DATA.read_text(encoding="utf-8"))["releases"].get(version)
        if have != row(read):
            print(f"data/peft_history.json has no up-to-date row for the installed peft {version}: rebuild it")
            return 1
        return 0
    if not args or args[0].startswith("-"):
        print("usage: python -m lora_lint.peft_history_build PEFT_GIT_CLONE [PEFT_PACKAGE_DIR ...] | --check",
              file=sys.stderr)
        return 2
    table = build(Path(args[0]), [Path(a) for a in args[1:]])
    DATA.write_text(json.dumps(table, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {DATA} ({len(table['releases'])} releases)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
