"""Resolved settings: which rules run, with which options. CLI flags and config files feed this."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .registry import Rule, all_rules


class UsageError(Exception):
    """A bad selector, option or configuration: exit 2."""


def resolve_selector(selector: str, rules: Mapping[str, Rule], origin: str = "") -> set[str]:
    """Codes selected by ``selector``: ``ALL``, a code, a code prefix (``LL1``) or a rule name."""
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


@dataclass
class Settings:
    select: list[str] | None = None  # None: the default set (every rule)
    extend_select: list[str] = field(default_factory=list)
    ignore: list[str] = field(default_factory=list)
    rule_options: dict[str, Any] = field(default_factory=dict)  # option name -> value
    base_model: str | None = None  # the `base-model` setting (per path: base_model_for)
    base_model_override: str | None = None  # --base-model: overrides everything
    offline: bool = False
    hub_timeout: float = 5.0  # seconds for one Hub lookup, when online lookups are allowed
    max_file_size: int = 10 * 1024 * 1024

    def selected(self, rules: Mapping[str, Rule] | None = None) -> dict[str, Rule]:
        rules = rules if rules is not None else all_rules()
        codes: set[str] = set()
        if self.select is None:
            codes = set(rules)
        else:
            for s in self.select:
                codes |= resolve_selector(s, rules, "'select'")
        for s in self.extend_select:
            codes |= resolve_selector(s, rules, "'extend-select'")
        for s in self.ignore:
            codes -= resolve_selector(s, rules, "'ignore'")
        return {c: rules[c] for c in sorted(codes)}

    def base_model_for(self, path: str) -> str | None:
        """The `base-model` setting that applies to ``path`` (per-path settings come later)."""
        return self.base_model

    def options_for(self, rule: Rule) -> dict[str, Any]:
        return {name: self.rule_options.get(name, default) for name, default in rule.options.items()}
