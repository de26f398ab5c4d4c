"""reviewdog's Diagnostic Format, the ``rdjson`` wire form: one ``DiagnosticResult`` object.

Columns are 1-based UTF-8 byte offsets, as the format defines them (``'a𐐀b'``: ``b`` is column
6), the end exclusive; a fix becomes ``suggestions`` (its edits, in the same units). Severity is
``ERROR``, ``WARNING`` or ``INFO``; ``code`` carries the rule's page.

In a notebook the range is in the ``.ipynb`` file's own text (what reviewdog matches against a
pull request's diff), the message starts with ``cell N:LINE:COL``, where Jupyter shows it, and
no suggestion is given (a fix edits the cells' JSON strings: ``lora-lint --fix``), as in SARIF.
"""

from __future__ import annotations

import json

from ..model import Finding, Severity
from ..registry import REPOSITORY, docs_url

SEVERITY = {Severity.ERROR: "ERROR", Severity.WARNING: "WARNING", Severity.INFO: "INFO"}


def _range(info, path: str, span) -> dict:
    """``span`` of the presented text as a range of the file's own text, in byte columns."""
    span = info.in_file(span, path)
    return {"start": {"line": span.line, "column": info.byte_col(path, span.line, span.col, in_file=True)},
            "end": {"line": span.end_line, "column": info.byte_col(path, span.end_line, span.end_col, in_file=True)}}


def diagnostic(f: Finding, info) -> dict:
    cell = info.cell(f)
    out = {
        "message": f.message if cell is None else f"{info.at(f)}: {f.message}",
        "location": {"path": info.report_path(f.path), "range": _range(info, f.path, f.span)},
        "severity": SEVERITY[f.severity],
        "source": {"name": "lora-lint", "url": REPOSITORY},
        "code": {"value": f.code, "url": docs_url(f.code)},
    }
    if f.fix is not None and info.fixable(f) and cell is None:
        out["suggestions"] = [{"range": _range(info, f.path, e.span), "text": e.text} for e in f.fix.edits]
    return out


def render(findings: list[Finding], info) -> str:
    result = {"source": {"name": "lora-lint", "url": REPOSITORY},
              "diagnostics": [diagnostic(f, info) for f in findings]}
    return json.dumps(result, indent=2, ensure_ascii=False) + "\n"
