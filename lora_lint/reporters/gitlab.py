"""GitLab Code Quality report: a JSON array of Code Climate issues.

``location.path`` is relative to ``CI_PROJECT_DIR`` when set (else the working directory) with no
``./``; ``fingerprint`` hashes the path, the rule and the text the finding points at, not the line
number, so a finding keeps its identity when lines above it move.
"""

from __future__ import annotations

import hashlib
import json
import os

from ..model import Finding, Severity

SEVERITY = {Severity.ERROR: "major", Severity.WARNING: "minor", Severity.INFO: "info"}


def fingerprints(findings: list[Finding], info, root: str | None = None) -> list[str]:
    """A stable, unique id per finding (re-salted on collision)."""
    seen: set[str] = set()
    out = []
    for f in findings:
        path = info.relpath(f.path, root) or f.path
        base = "\0".join((path, f.code, info.snippet(f).strip(), f.message))
        salt = 0
        while True:
            fp = hashlib.sha256(f"{base}\0{salt}".encode("utf-8", "surrogateescape")).hexdigest()[:16]
            if fp not in seen:
                break
            salt += 1
        seen.add(fp)
        out.append(fp)
    return out


def render(findings: list[Finding], info) -> str:
    root = os.environ.get("CI_PROJECT_DIR") or info.root
    issues = []
    for f, fp in zip(findings, fingerprints(findings, info, root), strict=True):
        span = info.in_file(f.span, f.path)  # (a notebook: the .ipynb's own lines; the cell is named)
        where = f"{info.at(f)}: " if info.cell(f) is not None else ""
        issues.append({
            "description": f"{where}{f.code}: {f.message}",
            "check_name": f.code,
            "fingerprint": fp,
            "severity": SEVERITY[f.severity],
            "location": {
                "path": info.relpath(f.path, root) or f.path,
                "positions": {
                    "begin": {"line": span.line, "column": span.col},
                    "end": {"line": span.end_line, "column": span.end_col},
                },
            },
        })
    return json.dumps(issues, indent=2, ensure_ascii=False) + "\n"
