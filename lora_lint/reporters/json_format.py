"""One JSON array: ruff's JSON shape plus ``name`` and ``severity``."""

from __future__ import annotations

import json

from ..model import Finding
from ..registry import docs_url


def as_dict(f: Finding, info=None) -> dict:
    """ruff's shape. In a notebook, ``cell`` is the cell (1-based, counting every cell) and rows
    count within it, as ruff writes them; ``cell`` is null elsewhere."""
    span = f.span if info is None else info.in_cell(f.span, f.path)
    out = {
        "cell": None if info is None else info.cell(f),
        "code": f.code,
        "name": f.name,
        "severity": f.severity.value,
        "message": f.message,
        "filename": f.path,
        "location": {"row": span.line, "column": span.col},
        "end_location": {"row": span.end_line, "column": span.end_col},
        "url": docs_url(f.code),
        "fix": fix_dict(f.fix, None if info is None else lambda s: info.in_cell(s, f.path)),
        "noqa_row": span.line,
    }
    if f.facts:  # a finding about the base model says which libraries its facts came from
        out["facts"] = dict(f.facts)
    return out


def fix_dict(fix, where=None) -> dict | None:
    """ruff's shape: applicability, message, and the edits (``content`` replaces the text from
    ``location`` to ``end_location``, 1-based, the end exclusive; ``where`` maps a span)."""
    if fix is None:
        return None
    spans = [e.span if where is None else where(e.span) for e in fix.edits]
    return {
        "applicability": fix.applicability,
        "message": fix.message,
        "edits": [{"content": e.text, "location": {"row": s.line, "column": s.col},
                   "end_location": {"row": s.end_line, "column": s.end_col}}
                  for e, s in zip(fix.edits, spans, strict=True)],
    }


def render(findings: list[Finding], info) -> str:
    return json.dumps([as_dict(f, info) for f in findings], indent=2, ensure_ascii=False) + "\n"
