"""Rule declaration: ``@rule(...)`` on a small function in its own module under ``lora_lint.rules``.

A rule function takes ``(site, ctx)`` and yields ``(where, message)`` pairs, where ``where`` is a
``Param`` (the finding points at its value) or the ``LoraSite`` itself, or ``(where, message, fix)``
triples: ``fix`` is a ``Fix``, None, or a function of no arguments returning either (built from
``ctx.document``; a fix that cannot be built, or raises, leaves the finding without one).
``Rule.run`` turns them into ``Finding``s, so rules never build spans.
"""

from __future__ import annotations

import inspect
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from .model import Finding, Fix, LoraSite, Param, Severity

DOCS_URL = "https://github.com/lora-lint/lora-lint/blob/main/rules/{code}.md"

_CODE = re.compile(r"^LL\d{3}$")
_NAME = re.compile(r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$")
SECTIONS = ("## What it does", "## Why is this bad?", "## Example", "Use instead:")

Example = str | tuple[str, str]
"""A rule example: Python source, or ``(filename, text)`` for YAML/JSON."""


@dataclass
class Context:
    """What a rule may know besides the site: its options and, for model rules, the model."""

    options: Mapping[str, Any] = field(default_factory=dict)
    model: Any = None  # a model inventory (lora_lint.inventory) when the rule needs one
    analysis: Any = None  # the matching result of the site against the model
    document: Any = None  # the file (a SourceFile), for building fixes

    def opt(self, name: str) -> Any:
        return self.options[name]


@dataclass(frozen=True)
class Rule:
    code: str
    name: str
    severity: Severity
    check: Callable[[LoraSite, Context], Iterable[tuple[Any, str]]]
    valid: tuple[Example, ...]
    invalid: tuple[Example, ...]
    options: Mapping[str, Any]
    needs_model: bool
    dialects: frozenset[str] | None  # None: every dialect
    uses_model: bool = False  # a config rule that also looks at the model when one is resolved

    @property
    def doc(self) -> str:
        return inspect.cleandoc(self.check.__doc__ or "")

    @property
    def summary(self) -> str:
        """The first sentence of 'What it does'."""
        body = self.doc.split("## What it does", 1)[-1].split("##", 1)[0]
        text = " ".join(body.split())
        return text.split(". ")[0].rstrip(".") + "."

    @property
    def url(self) -> str:
        return DOCS_URL.format(code=self.code)

    def run(self, site: LoraSite, ctx: Context) -> list[Finding]:
        """The rule's findings on ``site``: the dialect's notes for this code first, then the
        rule's own checks, except where a note already reports the same place (the framework's
        wording is the more specific one)."""
        out = [self._finding(site, note[1], note[2], note[3] if len(note) > 3 else None)
               for note in site.notes if note[0] == self.code]
        noted = {f.span for f in out}
        for found in self.check(site, ctx) or ():
            where, message = found[0], found[1]
            span = where.span if isinstance(where, (Param, LoraSite)) else where
            if span not in noted:
                out.append(self._finding(site, where, message, found[2] if len(found) > 2 else None))
        return out

    def _finding(self, site: LoraSite, where: Any, message: str, fix: Any) -> Finding:
        span = where.span if isinstance(where, (Param, LoraSite)) else where
        return Finding(self.code, self.name, self.severity, message, site.path, span, build_fix(fix))


def build_fix(fix: Any) -> Fix | None:
    """A rule's fix, built now; a builder that fails gives no fix, never a lost finding
    (``LORA_LINT_STRICT_FIXES=1``, set by the tests, lets the error through instead)."""
    if callable(fix):
        try:
            fix = fix()
        except Exception:  # a fix is a convenience: the finding stands without it
            if os.environ.get("LORA_LINT_STRICT_FIXES"):
                raise
            return None
    return fix if isinstance(fix, Fix) and fix.edits else None


#: code -> Rule, filled as the rule modules are imported (``lora_lint.rules``, whose ``all_rules``
#: is the complete registry). Process-wide by design: a rule is registered once.
RULES: dict[str, Rule] = {}


def rule(
    code: str,
    name: str,
    severity: Severity,
    *,
    valid: Iterable[Example] = (),
    invalid: Iterable[Example] = (),
    options: Mapping[str, Any] | None = None,
    needs_model: bool = False,
    dialects: Iterable[str] | None = None,
    uses_model: bool = False,
) -> Callable:
    """Register the decorated function as rule ``code``/``name``."""
    if not _CODE.match(code):
        raise ValueError(f"bad rule code {code!r}")
    if not _NAME.match(name):
        raise ValueError(f"bad rule name {name!r}")
    if code in RULES or any(r.name == name for r in RULES.values()):
        raise ValueError(f"duplicate rule {code} {name}")

    def register(fn: Callable) -> Callable:
        RULES[code] = Rule(
            code, name, Severity(severity), fn, tuple(valid), tuple(invalid),
            dict(options or {}), needs_model, frozenset(dialects) if dialects else None,
            uses_model,
        )
        return fn

    return register

