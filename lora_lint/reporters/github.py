"""GitHub Actions workflow commands: one ``::error``/``::warning``/``::notice`` annotation a finding.

``file`` is relative to the repository's root (what GitHub resolves it against, whatever the
step's ``working-directory``), absolute for a file outside it. Escaping follows actions/toolkit (``command.ts``): data ``%``, CR, LF; property values also
``:`` and ``,``.
"""

from __future__ import annotations

from ..model import Finding, Severity

COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(s: str) -> str:
    return escape_data(s).replace(":", "%3A").replace(",", "%2C")


def annotation(f: Finding, info) -> str:
    props = {
        "title": f"lora-lint ({f.code} {f.name})",
        "file": info.report_path(f.path),
        "line": f.span.line,
        "col": f.span.col,
        "endLine": f.span.end_line,
        "endColumn": f.span.end_col,
    }
    body = ",".join(f"{k}={escape_property(str(v))}" for k, v in props.items())
    return f"::{COMMAND[f.severity]} {body}::{escape_data(f'{f.code} [{f.severity}] {f.message}')}"


def render(findings: list[Finding], info) -> str:
    return "".join(annotation(f, info) + "\n" for f in findings)
