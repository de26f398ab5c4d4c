"""Configuration files: ``[tool.lora-lint]`` in pyproject.toml, ``lora-lint.toml``, ``.lora-lint.toml``.

The nearest file to each linted file wins (in one directory: ``.lora-lint.toml`` >
``lora-lint.toml`` > a pyproject.toml that has a ``[tool.lora-lint]`` table); nothing is merged
implicitly, ``extend = "../pyproject.toml"`` inherits explicitly. Paths in a file are relative to
its directory. Every key, rule code, rule name and option is checked: a mistake is a
``ConfigError`` naming the file and the key (exit 2). The command line overrides the files.
"""

from __future__ import annotations

import copy
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field

from .settings import Layer, PathPattern, Settings, UsageError, resolve_selector

TYPE_CHECKING = False  # typing is not imported at run time (a warm run needs none of it)
if TYPE_CHECKING:
    from typing import Any

CONFIG_NAMES = (".lora-lint.toml", "lora-lint.toml", "pyproject.toml")
SELECTION_KEYS = ("select", "extend-select", "ignore")
CORE_KEYS = (
    "extend", *SELECTION_KEYS, "per-file-ignores", "extend-per-file-ignores", "exclude",
    "extend-exclude", "base-model", "offline", "hub-timeout", "max-file-size",
    "report-unused-suppressions", "gpu-memory", "respect-gitignore", "severity",
)
SEVERITY_LEVELS = ("error", "warning", "info")


class ConfigError(UsageError):
    """A configuration file (or ``--config`` value) that cannot be used: exit 2."""


def known_rules() -> dict[str, Any]:
    """The rules configuration is checked against, code -> (anything with a ``name`` and
    ``options``): the rule index (so that reading a configuration file loads no rule; it equals
    the registry, tests/test_docs.py), and any rule registered since (at run time, in a test).
    A rule is registered by importing the registry: until something has, it holds none (and a
    run whose files are all in the results cache never imports it)."""
    from . import rule_index

    registry = sys.modules.get(f"{__package__}.registry")
    return {**rule_index.rules(), **(registry.RULES if registry is not None else {})}


def rule_option_defaults() -> dict[str, Any]:
    """Every option a rule declares, with its default (kebab-case names)."""
    out: dict[str, Any] = {}
    for r in known_rules().values():
        out.update(r.options)
    return out


def _toml():
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    return tomllib


def read_toml(path: str) -> dict:
    tomllib = _toml()
    try:
        with open(path, "rb") as f:
            return tomllib.load(f)
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: invalid TOML: not UTF-8 ({e.reason} at byte {e.start})") from None
    except ValueError as e:  # TOMLDecodeError, or an integer longer than Python converts
        raise ConfigError(f"{path}: invalid TOML: {_toml_reason(e)}") from None
    except RecursionError:
        raise ConfigError(f"{path}: invalid TOML: nested too deeply") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read: {e.strerror or e}") from None


def _toml_reason(e: ValueError) -> str:
    if "integer string conversion" in str(e):  # Python's int-str limit (4,300 digits)
        return f"an integer of more than {sys.get_int_max_str_digits():,} digits"
    return str(e)


def lora_table(path: str, data: dict) -> dict | None:
    """The lora-lint table of a parsed file: the whole file, or pyproject's ``[tool.lora-lint]``."""
    if os.path.basename(path) == "pyproject.toml":
        tool = data.get("tool")
        table = tool.get("lora-lint") if isinstance(tool, dict) else None
        if table is not None and not isinstance(table, dict):
            raise ConfigError(f"{path}: [tool.lora-lint] must be a table")
        return table
    return data


def find_config(directory: str, seen: dict[str, str | None] | None = None) -> str | None:
    """The config file that governs files in ``directory``: the nearest one up the tree.

    ``seen`` memoises the answer for every directory walked (a run asks once per directory)."""
    d = os.path.abspath(directory)
    seen = {} if seen is None else seen
    walked = []
    while d not in seen:
        walked.append(d)
        found = config_in(d)
        parent = os.path.dirname(d)
        if found or parent == d:
            seen[d] = found
            break
        d = parent
    result = seen[d]
    for w in walked:
        seen[w] = result
    return result


def config_in(directory: str) -> str | None:
    for name in CONFIG_NAMES:
        p = os.path.join(directory, name)
        if not os.path.isfile(p):
            continue
        if name != "pyproject.toml" or lora_table(p, read_toml(p)) is not None:
            return p
    return None


# -- validation ------------------------------------------------------------------------------

def _where(origin: str, key: str) -> str:
    return f"{origin}: '{key}'"


def _str_list(value: Any, origin: str, key: str, what: str = "strings") -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{_where(origin, key)} must be a list of {what}, got {value!r}")
    return value


def _selectors(value: Any, origin: str, key: str) -> list[str]:
    items = _str_list(value, origin, key, "rule codes or names")
    rules = known_rules()
    for s in items:
        resolve_selector(s, rules, f"'{key}' in {origin}")
    return items


def _per_file(value: Any, origin: str, key: str, base: str) -> list[tuple[PathPattern, tuple[str, ...]]]:
    if not isinstance(value, dict):
        raise ConfigError(f"{_where(origin, key)} must be a table of glob = [rule codes or names]")
    return [(PathPattern.make(glob, base), tuple(_selectors(sel, origin, f"{key}.{glob}")))
            for glob, sel in value.items()]


def _patterns(value: Any, origin: str, key: str, base: str) -> list[PathPattern]:
    return [PathPattern.make(p, base) for p in _str_list(value, origin, key, "glob patterns")]


def _severity(value: Any, origin: str) -> list[tuple[str, str]]:
    """``[tool.lora-lint.severity]``: rule (code, prefix, name or ALL) = "error" | "warning" | "info"."""
    if not isinstance(value, dict):
        raise ConfigError(f"{_where(origin, 'severity')} must be a table of rule = \"error\" | \"warning\" |"
                          f" \"info\", got {value!r}")
    from .rules import all_rules

    rules = all_rules()
    out = []
    for selector, level in value.items():
        resolve_selector(selector, rules, f"'severity'{' from ' + origin if origin else ''}")
        if level not in SEVERITY_LEVELS:
            raise ConfigError(f"{_where(origin, 'severity')}: {selector} = {level!r} is not one of"
                              f" {', '.join(repr(x) for x in SEVERITY_LEVELS)}")
        out.append((selector, level))
    return out


def _option(name: str, value: Any, default: Any, origin: str) -> Any:
    """A rule option's value, checked against its default's type (any number for a number)."""
    if isinstance(default, bool):
        ok, kind = isinstance(value, bool), "true or false"
    elif isinstance(default, (int, float)):
        ok, kind = _finite(value), "a number"
    else:
        ok, kind = default is None or isinstance(value, type(default)), type(default).__name__
    if not ok:
        raise ConfigError(f"{_where(origin, name)} must be {kind} (default {default!r}), got {_shown(value)}"
                          f"{_why_not_finite(value)}")
    return value


def _finite(value: Any) -> bool:
    """An int or a float that is neither infinite nor NaN (nor too large to be a float)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    import math

    try:
        return math.isfinite(value)
    except OverflowError:  # an int beyond float's range
        return False


def _why_not_finite(value: Any) -> str:
    number = isinstance(value, (int, float)) and not isinstance(value, bool)
    return " (not a finite number)" if number and not _finite(value) else ""


def _shown(value: Any) -> str:
    """``repr`` of a config value, cut short (a 4,000-digit integer is not echoed whole)."""
    text = repr(value) if not isinstance(value, int) or value.bit_length() < 256 else f"an integer of {len(str(value)):,} digits"
    return text if len(text) <= 80 else text[:77] + "..."


def _unknown_key(key: str, origin: str, options: Mapping[str, Any]) -> ConfigError:
    import difflib

    known = [*CORE_KEYS, *options]
    close = difflib.get_close_matches(key, known, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return ConfigError(
        f"{origin}: unknown key '{key}'{hint} (settings: {', '.join(CORE_KEYS)}; "
        f"rule options: {', '.join(sorted(options)) or 'none'})"
    )


def apply_table(settings: Settings, table: Mapping[str, Any], origin: str, base: str) -> Settings:
    """A copy of ``settings`` with one config table applied on top; ``base`` resolves its globs."""
    options = rule_option_defaults()
    s = copy.deepcopy(settings)
    for key in table:
        if key not in CORE_KEYS and key not in options:
            raise _unknown_key(key, origin, options)
    if any(k in table for k in SELECTION_KEYS):
        s.layers.append(Layer(
            tuple(_selectors(table["select"], origin, "select")) if "select" in table else None,
            tuple(_selectors(table.get("extend-select", []), origin, "extend-select")),
            tuple(_selectors(table.get("ignore", []), origin, "ignore")),
            f" from {origin}",
        ))
    if "per-file-ignores" in table:
        s.per_file_ignores = _per_file(table["per-file-ignores"], origin, "per-file-ignores", base)
    if "extend-per-file-ignores" in table:
        s.per_file_ignores += _per_file(table["extend-per-file-ignores"], origin,
                                        "extend-per-file-ignores", base)
    if "exclude" in table:
        s.exclude = _patterns(table["exclude"], origin, "exclude", base)
    if "extend-exclude" in table:
        s.exclude += _patterns(table["extend-exclude"], origin, "extend-exclude", base)
    if "base-model" in table:
        value = table["base-model"]
        if isinstance(value, str):
            s.base_model, s.per_file_base_model = value, []
        elif isinstance(value, dict) and all(isinstance(v, str) for v in value.values()):
            s.per_file_base_model = [(PathPattern.make(g, base), m) for g, m in value.items()]
        else:
            raise ConfigError(
                f"{_where(origin, 'base-model')} must be a model id or path, or a table of "
                f"glob = model, got {value!r}"
            )
    if "gpu-memory" in table:
        s.gpu_memory, s.per_file_gpu_memory = _gpu_memory(table["gpu-memory"], origin, base, s)
    if "severity" in table:
        s.severity = s.severity + _severity(table["severity"], origin)
    for key, attr in (("offline", "offline"), ("report-unused-suppressions", "report_unused_suppressions"),
                      ("respect-gitignore", "respect_gitignore")):
        if key in table:
            if not isinstance(table[key], bool):
                raise ConfigError(f"{_where(origin, key)} must be true or false, got {table[key]!r}")
            setattr(s, attr, table[key])
    if "hub-timeout" in table:
        t = table["hub-timeout"]
        if not _finite(t) or not t > 0:  # (inf and nan are floats in TOML)
            raise ConfigError(f"{_where(origin, 'hub-timeout')} must be a positive number of seconds,"
                              f" got {_shown(t)}{_why_not_finite(t)}")
        s.hub_timeout = float(t)
    if "max-file-size" in table:
        size = table["max-file-size"]
        if not isinstance(size, int) or isinstance(size, bool) or size <= 0:
            raise ConfigError(f"{_where(origin, 'max-file-size')} must be a positive number of bytes, got {size!r}")
        s.max_file_size = size
    for key, value in table.items():
        if key in options and key not in CORE_KEYS:
            s.rule_options[key] = _option(key, value, options[key], origin)
    return s


def _size(value: Any, origin: str, key: str) -> int:
    from .training import parse_size

    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise ConfigError(f"{_where(origin, key)} must be a memory size such as \"24GiB\" or \"80GB\", got {value!r}")
    try:
        return parse_size(value)
    except ValueError as e:
        raise ConfigError(f"{_where(origin, key)}: {e}") from None


def _gpu_memory(value: Any, origin: str, base: str, s: Settings) -> tuple[int | None, list]:
    """``gpu-memory = "24GiB"`` (every file), or a table of glob = size (first match wins; the
    global value stays for the files no glob matches)."""
    if isinstance(value, dict):
        return s.gpu_memory, [(PathPattern.make(g, base), _size(v, origin, f"gpu-memory.{g}")) for g, v in value.items()]
    return _size(value, origin, "gpu-memory"), []


def load_config(path: str, _chain: tuple[str, ...] = ()) -> Settings:
    """The settings of one config file, following ``extend`` (its target first)."""
    path = os.path.abspath(path)
    if path in _chain:
        raise ConfigError(f"{path}: 'extend' loops: {' -> '.join((*_chain, path))}")
    table = lora_table(path, read_toml(path))
    if table is None:
        raise ConfigError(f"{path}: no [tool.lora-lint] table")
    base = os.path.dirname(path)
    settings = Settings()
    if "extend" in table:
        target = table["extend"]
        if not isinstance(target, str):
            raise ConfigError(f"{_where(path, 'extend')} must be a path, got {target!r}")
        target = os.path.join(base, os.path.expanduser(target))
        if not os.path.isfile(target):
            raise ConfigError(f"{_where(path, 'extend')}: no such file {target}")
        settings = load_config(target, (*_chain, path))
    settings = apply_table(settings, table, path, base)
    settings.config_path = path
    return settings


# -- the command line on top -----------------------------------------------------------------

@dataclass
class Overrides:
    """What the command line says; it beats every config file."""

    select: list[str] | None = None
    extend_select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    per_file_ignores: list[tuple[str, list[str]]] | None = None  # replaces the files' table
    extend_per_file_ignores: list[tuple[str, list[str]]] = field(default_factory=list)
    exclude: list[str] | None = None  # replaces the files' `exclude` (the defaults stay)
    extend_exclude: list[str] = field(default_factory=list)
    respect_gitignore: bool | None = None
    base_model: str | None = None
    offline: bool = False
    report_unused_suppressions: bool = False
    inline: list[dict] = field(default_factory=list)  # `--config 'key = value'` tables

    def validate(self) -> None:
        if not (self.select or self.extend_select or self.ignore or self.per_file_ignores
                or self.extend_per_file_ignores or self.inline):
            return  # nothing to check
        rules = known_rules()
        for key, values in (("select", self.select or []), ("extend-select", self.extend_select),
                            ("ignore", self.ignore)):
            for s in values:
                resolve_selector(s, rules, f"'{key}' from the command line")
        for _, sel in [*(self.per_file_ignores or []), *self.extend_per_file_ignores]:
            for s in sel:
                resolve_selector(s, rules, "'per-file-ignores' from the command line")
        for table in self.inline:
            apply_table(Settings(), table, "--config", os.getcwd())

    def apply(self, settings: Settings) -> Settings:
        cwd = os.getcwd()
        s = settings
        for table in self.inline:
            s = apply_table(s, table, "--config", cwd)
        s = copy.deepcopy(s) if s is settings else s
        if self.select is not None or self.extend_select or self.ignore:
            s.layers.append(Layer(
                None if self.select is None else tuple(self.select), tuple(self.extend_select),
                tuple(self.ignore), " from the command line",
            ))
        if self.per_file_ignores is not None:
            s.per_file_ignores = []
        for glob, sel in [*(self.per_file_ignores or []), *self.extend_per_file_ignores]:
            s.per_file_ignores.append((PathPattern.make(glob, cwd), tuple(sel)))
        if self.exclude is not None:
            s.exclude = [PathPattern.make(p, cwd) for p in self.exclude]
        s.exclude += [PathPattern.make(p, cwd) for p in self.extend_exclude]
        if self.respect_gitignore is not None:
            s.respect_gitignore = self.respect_gitignore
        if self.base_model is not None:
            s.base_model_override = self.base_model
        s.offline = s.offline or self.offline
        s.report_unused_suppressions = s.report_unused_suppressions or self.report_unused_suppressions
        return s


def parse_inline(value: str) -> dict:
    """``--config 'rslora-min-rank = 48'``: one TOML assignment, as ruff's ``--config``."""
    tomllib = _toml()
    try:
        return tomllib.loads(value)
    except (ValueError, RecursionError) as e:  # (ValueError: TOMLDecodeError, a 5,000-digit integer)
        why = _toml_reason(e) if isinstance(e, ValueError) else e
        raise ConfigError(f"--config {value[:80]!r} is neither a file nor a TOML `key = value`: {why}") from None


class Resolver:
    """Settings per linted file: its nearest config file (or ``--config FILE``) plus overrides."""

    def __init__(self, overrides: Overrides | None = None, config_file: str | None = None,
                 isolated: bool = False):
        self.overrides = overrides or Overrides()
        self.config_file = os.path.abspath(config_file) if config_file else None
        self.isolated = isolated
        self._dirs: dict[str, str | None] = {}
        self._settings: dict[str | None, Settings] = {}
        self._by_dir: dict[str, Settings] = {}  # a path's directory as given -> its settings

    def config_for(self, path: str) -> str | None:
        if self.isolated:
            return None
        if self.config_file:
            return self.config_file
        return find_config(os.path.dirname(os.path.abspath(path)), self._dirs)

    def settings_for(self, path: str) -> Settings:
        directory = os.path.dirname(path)
        known = self._by_dir.get(directory)
        if known is None:
            known = self._by_dir[directory] = self._settings_for(path)
        return known

    def _settings_for(self, path: str) -> Settings:
        config = self.config_for(path)
        if config not in self._settings:
            base = load_config(config) if config else Settings()
            self._settings[config] = self.overrides.apply(base)
        return self._settings[config]
