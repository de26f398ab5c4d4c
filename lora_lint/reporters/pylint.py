"""pylint's parseable shape, as flake8's and ruff's ``pylint`` formats write it:
``path:line: [CODE] [severity] message`` (no column: pylint's parseable lines have none)."""

from __future__ import annotations

from ..model import Finding


def render(findings: list[Finding], info) -> str:
    return "".join(f"{f.path}:{f.span.line}: [{f.code}] [{f.severity}] {f.message}\n" for f in findings)
