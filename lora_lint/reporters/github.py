"""GitHub Actions workflow commands: one ``::error``/``::warning``/``::notice`` annotation a finding.

In a notebook the position is in the ``.ipynb`` file's own lines (what GitHub shows in a pull
request's diff), and the message starts with ``cell N:LINE:COL``, where Jupyter shows it.

Escaping follows actions/toolkit (``command.ts``): data ``%``, CR, LF; property values also
``:`` and ``,``.
"""

from __future__ import annotations

from ..model import Finding, Severity

COMMAND = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "notice"}


def escape_data(s: str) -> str:
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(s: str) -> str:
    return escape_data(s).replace(":", "%3A").replace(",", "%2C")


def annotation(f: Finding, info=None) -> str:
    span = f.span if info is None else info.in_file(f.span, f.path)
    props = {
        "title": f"lora-lint ({f.code} {f.name})",
        "file": f.path,
        "line": span.line,
        "col": span.col,
        "endLine": span.end_line,
        "endColumn": span.end_col,
    }
    body = ",".join(f"{k}={escape_property(str(v))}" for k, v in props.items())
    where = f"{info.at(f)}: " if info is not None and info.cell(f) is not None else ""
    return f"::{COMMAND[f.severity]} {body}::{escape_data(f'{where}{f.code} [{f.severity}] {f.message}')}"


def render(findings: list[Finding], info) -> str:
    return "".join(annotation(f, info) + "\n" for f in findings)
