"""Suppression comments applied: ``# lora-lint: ignore[...]``, ``ignore-file[...]`` and
``# noqa: LL101`` (found by ``directives``) silence findings, and LL904 reports those that silence
nothing. Only files that hold findings (or when LL904 is on) are scanned.
"""

from __future__ import annotations

from collections.abc import Mapping

from .directives import Suppression, suppressions
from .model import Finding
from .registry import Rule
from .source_file import SourceFile

# -- applying them ---------------------------------------------------------------------------

def _code_of(entry: str, rules: Mapping[str, Rule]) -> str | None:
    up = entry.upper()
    if up in rules:
        return up
    for code, r in rules.items():
        if r.name == entry.lower():
            return code
    return None


def _matches(d: Suppression, f: Finding, rules: Mapping[str, Rule]) -> str | None:
    """The entry of ``d`` that silences ``f`` ("*" for a blanket directive), or None."""
    if not d.file_level and f.span.line not in d.lines:
        return None
    if d.entries is None:
        return "*"
    for e in d.entries:
        if _code_of(e, rules) == f.code:
            return e
    return None


def apply(source: SourceFile, findings: list[Finding], selected: Mapping[str, Rule]) -> list[Finding]:
    """``findings`` minus those a comment suppresses; plus LL904 findings when LL904 is selected."""
    from .rules import all_rules

    report_unused = "LL904" in selected
    if not findings and not report_unused:
        return findings
    text = source.text
    if "lora-lint" not in text and "noqa" not in text.lower():
        return findings
    found = suppressions(source)
    if not found:
        return findings
    path = source.path
    rules = all_rules()
    kept = []
    for f in findings:
        hit = False
        for d in found:
            entry = _matches(d, f, rules)
            if entry is not None:
                d.used.add(entry)
                hit = True
        if not hit:
            kept.append(f)
    if report_unused:
        extra = [u for d in found for u in unused(path, d, rules, selected)]
        kept += [u for u in extra if not any(_matches(d, u, rules) for d in found)]
    return kept


def unused(path: str, d: Suppression, rules: Mapping[str, Rule], selected: Mapping[str, Rule]) -> list[Finding]:
    r = rules["LL904"]

    def finding(message: str) -> Finding:
        return Finding(r.code, r.name, r.severity, message, path, d.span)

    where = "file" if d.file_level else "line"
    if d.shared:  # a bare noqa comment serves every linter: never ours to call unused
        return []
    if d.entries is None:
        return [] if d.used else [finding(f"blanket suppression silences nothing on this {where}; remove it")]
    out = []
    for e in d.entries:
        code = _code_of(e, rules)
        if code == "LL904" or e in d.used:
            continue
        if code is None:
            out.append(finding(f"unknown rule `{e}` in suppression comment; use a code such as LL101 or a name such as rslora-recommended"))
        elif code not in selected:
            out.append(finding(f"suppression of {code} ({rules[code].name}) has no effect: the rule is not enabled for this file; remove it"))
        else:
            out.append(finding(f"unused suppression: {code} ({rules[code].name}) reports nothing on this {where}; remove it"))
    return out
