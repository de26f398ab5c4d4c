"""``path:line:col: CODE [severity] message``, one finding a line (flake8/ruff compatible)."""

from __future__ import annotations

from ..model import Finding, Severity


def line(f: Finding) -> str:
    return f"{f.path}:{f.span.line}:{f.span.col}: {f.code} [{f.severity}] {f.message}"


def render(findings: list[Finding], info) -> str:
    lines = [line(f) for f in findings]
    counts = {s: sum(1 for f in findings if f.severity is s) for s in Severity}
    if findings:
        parts = [f"{n} {s.value}{'s' if n != 1 else ''}" for s, n in counts.items() if n]
        lines.append(f"Found {len(findings)} finding{'s' if len(findings) != 1 else ''} ({', '.join(parts)}).")
    else:
        lines.append("All checks passed!")
    return "\n".join(lines) + "\n"
