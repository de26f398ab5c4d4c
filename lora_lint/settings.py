"""Resolved settings: which rules run on which file, with which options.

Config files (``lora_lint.config``) and CLI flags feed this. Rule selection works in layers, as
in ruff: each layer's ``select`` (when given) replaces the set so far, then ``extend-select`` adds
and ``ignore`` removes. The config file is the first layer, the command line the last, so
``--select LL101`` enables LL101 even where the config ignores it.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from .globs import Glob
from .model import Severity

TYPE_CHECKING = False  # typing is not imported at run time (a warm run needs none of it)
if TYPE_CHECKING:
    from typing import Any

    from .registry import Rule

#: Rules that run only when selected explicitly (by code, prefix, name or ``ALL``).
DEFAULT_OFF = frozenset({"LL904"})


class UsageError(Exception):
    """A bad selector, option or configuration: exit 2."""


def resolve_selector(selector: str, rules: Mapping[str, Any], origin: str = "") -> set[str]:
    """Codes selected by ``selector``: ``ALL``, a code, a code prefix (``LL1``) or a rule name.
    ``rules``: code -> anything with a ``name`` (a ``Rule``, or a ``rule_index`` entry)."""
    s = selector.strip()
    if s.upper() == "ALL":
        return set(rules)
    by_name = {r.name: c for c, r in rules.items()}
    if s in by_name:
        return {by_name[s]}
    up = s.upper()
    if up.startswith("LL"):
        codes = {c for c in rules if c.startswith(up)}
        if codes:
            return codes
    where = f" in {origin}" if origin else ""
    raise UsageError(f"Unknown rule selector {selector!r}{where}")


def split_selectors(values: Iterable[str] | None) -> list[str]:
    out: list[str] = []
    for v in values or ():
        out.extend(x for x in (p.strip() for p in v.split(",")) if x)
    return out


@dataclass(frozen=True)
class PathPattern:
    """A path glob from a config file, relative to ``base`` (the config file's directory).

    ``*`` stays inside one component, ``**`` crosses them (``globs``: read like a .gitignore
    line, matched in bounded time). A pattern without ``/`` matches a file or directory of that
    name anywhere (``test_*.py``, ``data``); with a ``/`` it is anchored to ``base``
    (``configs/*.yaml``). A match on a directory covers everything under it.
    """

    pattern: str
    base: str
    anchored: bool
    glob: Glob = field(compare=False, repr=False)

    @classmethod
    def make(cls, pattern: str, base: str | None = None) -> PathPattern:
        p = pattern.strip().replace("\\", "/")
        anchored = "/" in p.rstrip("/")
        try:
            glob = Glob.compile(("" if anchored else "**/") + p.strip("/"))
        except re.error as e:
            raise UsageError(f"invalid path pattern {pattern!r}: {e}") from None
        return cls(pattern, os.path.abspath(base or os.getcwd()), anchored, glob)

    def matches(self, path: str) -> bool:
        """Matched against the path relative to ``base``; an unanchored pattern also matches a
        name in a file outside ``base``."""
        full = os.path.abspath(path)
        rel = os.path.relpath(full, self.base).replace(os.sep, "/")
        if rel == ".." or rel.startswith("../"):
            if self.anchored:
                return False
            rel = full.replace(os.sep, "/").lstrip("/")
        return self.glob.match(rel, prefix=True)


@dataclass(frozen=True)
class Layer:
    """One step of rule selection, with where it came from (for error messages)."""

    select: tuple[str, ...] | None = None
    extend_select: tuple[str, ...] = ()
    ignore: tuple[str, ...] = ()
    origin: str = ""


@dataclass
class Settings:
    select: list[str] | None = None  # None: the default set (every rule but DEFAULT_OFF)
    extend_select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    rule_options: dict[str, Any] = field(default_factory=dict)  # option name -> value
    base_model: str | None = None  # the `base-model` setting (per path: base_model_for)
    base_model_override: str | None = None  # --base-model: overrides everything
    offline: bool = False
    hub_timeout: float = 5.0  # seconds for one Hub lookup, when online lookups are allowed
    max_file_size: int = 10 * 1024 * 1024
    #: More selection layers applied after select/extend_select/ignore (the command line's).
    layers: list[Layer] = field(default_factory=list)
    #: ``(pattern, selectors)``: rules not run on files the pattern matches.
    per_file_ignores: list[tuple[PathPattern, tuple[str, ...]]] = field(default_factory=list)
    #: ``(pattern, model)``: the base model for files the pattern matches; the first match wins.
    per_file_base_model: list[tuple[PathPattern, str]] = field(default_factory=list)
    gpu_memory: int | None = None  # the `gpu-memory` setting, bytes per GPU (per path: gpu_memory_for)
    #: ``(pattern, bytes)``: the GPU memory for files the pattern matches; the first match wins.
    per_file_gpu_memory: list[tuple[PathPattern, int]] = field(default_factory=list)
    exclude: list[PathPattern] = field(default_factory=list)
    #: Walking a directory skips what its repository's .gitignore files ignore.
    respect_gitignore: bool = True
    #: ``(selector, level)``, from ``[tool.lora-lint.severity]``: a rule's findings reported at
    #: ``level`` (error, warning, info) instead of the rule's own; the most specific selector wins
    #: (a code or name, then the longest code prefix, then ``ALL``), among equals the last.
    severity: list[tuple[str, str]] = field(default_factory=list)
    report_unused_suppressions: bool = False
    #: The config file these settings came from (None: defaults and the command line only).
    config_path: str | None = None

    def _layers(self) -> list[Layer]:
        origin = f" from {self.config_path}" if self.config_path else ""
        first = Layer(
            None if self.select is None else tuple(self.select), tuple(self.extend_select),
            tuple(self.ignore), origin,
        )
        return [first, *self.layers]

    def selected(self, rules: Mapping[str, Rule] | None = None) -> dict[str, Rule]:
        rules = rules if rules is not None else _all_rules()
        codes = set(rules) - DEFAULT_OFF
        for layer in self._layers():
            if layer.select is not None:
                codes = set()
                for s in layer.select:
                    codes |= resolve_selector(s, rules, f"'select'{layer.origin}")
            for s in layer.extend_select:
                codes |= resolve_selector(s, rules, f"'extend-select'{layer.origin}")
            for s in layer.ignore:
                codes -= resolve_selector(s, rules, f"'ignore'{layer.origin}")
        if self.report_unused_suppressions and "LL904" in rules:
            codes.add("LL904")
        return {c: rules[c] for c in sorted(codes)}

    def rules_for(self, path: str, rules: Mapping[str, Rule] | None = None) -> dict[str, Rule]:
        """The selected rules minus those ``per-file-ignores`` turns off for ``path``, each at
        the severity the configuration gives it."""
        rules = rules if rules is not None else _all_rules()
        selected = self.selected(rules)
        for pattern, selectors in self.per_file_ignores:
            if pattern.matches(path):
                for s in selectors:
                    for code in resolve_selector(s, rules, "'per-file-ignores'"):
                        selected.pop(code, None)
        if self.severity:
            levels = self.severities(rules)
            selected = {c: replace(r, severity=levels[c]) if c in levels and levels[c] is not r.severity else r
                        for c, r in selected.items()}
        return selected

    def severities(self, rules: Mapping[str, Rule] | None = None) -> dict[str, Severity]:
        """Rule code -> the severity ``[tool.lora-lint.severity]`` sets for it (rules it does not
        name are absent)."""
        rules = rules if rules is not None else _all_rules()
        best: dict[str, tuple[int, Severity]] = {}
        for selector, level in self.severity:
            rank = _specificity(selector, rules)
            for code in resolve_selector(selector, rules, "'severity'"):
                if code not in best or rank >= best[code][0]:
                    best[code] = (rank, Severity(level))
        return {code: level for code, (_, level) in best.items()}

    def is_excluded(self, path: str) -> bool:
        return any(p.matches(path) for p in self.exclude)

    def base_model_for(self, path: str) -> str | None:
        """The `base-model` setting that applies to ``path``: the first matching per-path entry,
        else the global one. (``--base-model`` is ``base_model_override``, which beats both.)"""
        for pattern, model in self.per_file_base_model:
            if pattern.matches(path):
                return model
        return self.base_model

    def gpu_memory_for(self, path: str) -> int | None:
        """The `gpu-memory` setting that applies to ``path`` (bytes): the first matching per-path
        entry, else the global one."""
        for pattern, size in self.per_file_gpu_memory:
            if pattern.matches(path):
                return size
        return self.gpu_memory

    def options_for(self, rule: Rule, path: str | None = None) -> dict[str, Any]:
        """``rule``'s options; ``gpu-memory`` is the setting for ``path`` (a per-path setting)."""
        out = {name: self.rule_options.get(name, default) for name, default in rule.options.items()}
        if "gpu-memory" in out:
            out["gpu-memory"] = self.gpu_memory_for(path) if path is not None else self.gpu_memory
        return out


def _specificity(selector: str, rules: Mapping[str, Rule]) -> int:
    """How narrowly ``selector`` names rules: ``ALL`` 0, a code prefix its length, a code or a
    rule name more than any prefix."""
    s = selector.strip()
    if s.upper() == "ALL":
        return 0
    if s.upper() in rules or any(r.name == s.lower() for r in rules.values()):
        return 100
    return len(s)


def _all_rules() -> dict[str, Rule]:
    from .rules import all_rules  # loaded when first asked: a run with nothing to lint never is

    return all_rules()
