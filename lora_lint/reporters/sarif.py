"""SARIF 2.1.0 for GitHub code scanning and other viewers (one run, every rule described).

Every registered rule is listed (not only those that fired) so the driver is stable across runs;
each carries its page as ``helpUri`` and its documentation as ``fullDescription`` and
``help.markdown``. Paths under the working directory are relative URIs against ``%SRCROOT%``;
columns count Unicode code points (``columnKind``), 1-based, the end exclusive.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import quote

from .. import __version__
from ..model import Finding, Severity
from ..registry import REPOSITORY
from ..rules import all_rules
from .gitlab import fingerprints

LEVEL = {Severity.ERROR: "error", Severity.WARNING: "warning", Severity.INFO: "note"}
SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def descriptor(r) -> dict:
    return {
        "id": r.code,
        "name": r.name,
        "shortDescription": {"text": r.summary},
        "fullDescription": {"text": r.doc, "markdown": r.doc},
        "help": {"text": f"{r.summary} See {r.url}", "markdown": f"{r.doc}\n\n[{r.code} ({r.name})]({r.url})"},
        "helpUri": r.url,
        "defaultConfiguration": {"level": LEVEL[r.severity]},
        "properties": {
            "tags": ["lora", "peft"] + (["model-aware"] if r.needs_model else []),
            "precision": "very-high",
            "problem.severity": {"error": "error", "warning": "warning"}.get(r.severity.value, "recommendation"),
        },
    }


def artifact(path: str, info) -> dict:
    rel = info.relpath(path)
    if rel is not None:
        return {"uri": quote(rel, errors="surrogateescape"), "uriBaseId": "%SRCROOT%"}
    return {"uri": Path(os.path.abspath(path)).as_uri()}


def sarif_fix(f: Finding, info) -> dict:
    fix = f.fix
    return {
        "description": {"text": fix.message + ("" if fix.safe else " (unsafe: changes training)")},
        "artifactChanges": [{
            "artifactLocation": artifact(f.path, info),
            "replacements": [{
                "deletedRegion": {"startLine": e.span.line, "startColumn": e.span.col,
                                  "endLine": e.span.end_line, "endColumn": e.span.end_col},
                "insertedContent": {"text": e.text},
            } for e in fix.edits],
        }],
    }


def render(findings: list[Finding], info) -> str:
    rules = all_rules()
    index = {code: i for i, code in enumerate(rules)}
    prints = fingerprints(findings, info)
    results = []
    for f, fp in zip(findings, prints, strict=True):
        span = info.in_file(f.span, f.path)
        region = {"startLine": span.line, "startColumn": span.col, "endLine": span.end_line, "endColumn": span.end_col}
        cell = info.cell(f)
        if cell is not None:  # a notebook: the region is in the .ipynb's own text; where Jupyter shows it
            within = info.in_cell(f.span, f.path)
            region["properties"] = {"cell": cell, "cellLine": within.line, "cellColumn": within.col,
                                    "cellEndLine": within.end_line, "cellEndColumn": within.end_col}
        result = {
            "ruleId": f.code,
            "level": LEVEL[f.severity],
            "message": {"text": f.message},
            "locations": [{"physicalLocation": {
                "artifactLocation": artifact(f.path, info),
                "region": region,
            }}],
            "partialFingerprints": {"loraLintFinding/v1": fp},
        }
        if f.code in index:
            result["ruleIndex"] = index[f.code]
        if f.fix is not None and cell is None:  # (a notebook's fix edits its cells' JSON strings: `--fix`)
            result["fixes"] = [sarif_fix(f, info)]
        results.append(result)
    root = Path(info.root).resolve().as_uri().rstrip("/") + "/"
    log = {
        "$schema": SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {
                "name": "lora-lint",
                "version": __version__,
                "semanticVersion": __version__,
                "informationUri": REPOSITORY,
                "rules": [descriptor(r) for r in rules.values()],
            }},
            "originalUriBaseIds": {"%SRCROOT%": {"uri": root}},
            "columnKind": "unicodeCodePoints",
            "results": results,
        }],
    }
    return json.dumps(log, indent=2, ensure_ascii=False) + "\n"
