"""One JSON array: ruff's JSON shape plus ``name`` and ``severity``."""

from __future__ import annotations

import json

from ..model import Finding
from ..registry import docs_url


def as_dict(f: Finding) -> dict:
    out = {
        "code": f.code,
        "name": f.name,
        "severity": f.severity.value,
        "message": f.message,
        "filename": f.path,
        "location": {"row": f.span.line, "column": f.span.col},
        "end_location": {"row": f.span.end_line, "column": f.span.end_col},
        "url": docs_url(f.code),
        "fix": fix_dict(f.fix),
        "noqa_row": f.span.line,
    }
    if f.facts:  # a finding about the base model says which libraries its facts came from
        out["facts"] = dict(f.facts)
    return out


def fix_dict(fix) -> dict | None:
    """ruff's shape: applicability, message, and the edits (``content`` replaces the text from
    ``location`` to ``end_location``, 1-based, the end exclusive)."""
    if fix is None:
        return None
    return {
        "applicability": fix.applicability,
        "message": fix.message,
        "edits": [{"content": e.text, "location": {"row": e.span.line, "column": e.span.col},
                   "end_location": {"row": e.span.end_line, "column": e.span.end_col}} for e in fix.edits],
    }


def render(findings: list[Finding], info) -> str:
    return json.dumps([as_dict(f) for f in findings], indent=2, ensure_ascii=False) + "\n"
