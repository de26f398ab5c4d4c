"""``path:line:col: CODE [severity] message``, one finding a line (flake8/ruff compatible);
``CODE [*] [severity]`` when ``--fix`` would fix it (ruff's mark, after the code)."""

from __future__ import annotations

from ..model import Finding
from .style import SEVERITY_STYLE, paint, summary


def line(f: Finding, info) -> str:
    where = paint(f"{f.path}:{info.at(f)}:", "bold", on=info.color)
    code = paint(f.code, "bold", SEVERITY_STYLE[f.severity], on=info.color)
    return f"{where} {code} {info.mark(f)}[{f.severity}] {f.message}"


def render(findings: list[Finding], info) -> str:
    lines = [line(f, info) for f in findings]
    lines += summary(findings, info)
    return "".join(x + "\n" for x in lines)
