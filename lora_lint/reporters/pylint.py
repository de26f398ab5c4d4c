"""pylint's parseable shape, as flake8's and ruff's ``pylint`` formats write it:
``path:line: [CODE] [severity] message`` (no column: pylint's parseable lines have none).

In a notebook the line is in the ``.ipynb`` file's own text (where an editor opening the file
finds it), and the message starts with ``cell N:LINE:COL``, where Jupyter shows it.
"""

from __future__ import annotations

from ..model import Finding


def line(f: Finding, info) -> str:
    where = f"{info.at(f)}: " if info.cell(f) is not None else ""
    return f"{f.path}:{info.in_file(f.span, f.path).line}: [{f.code}] [{f.severity}] {where}{f.message}"


def render(findings: list[Finding], info) -> str:
    return "".join(line(f, info) + "\n" for f in findings)
