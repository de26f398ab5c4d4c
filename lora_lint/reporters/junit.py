"""JUnit XML, as ruff writes it: a test suite per file, a test case per finding.

Errors and warnings are ``<failure>``s (they fail the run); info findings are passing test cases
with their severity in ``<properties>``, matching the exit code.
"""

from __future__ import annotations

import os
from itertools import groupby
from xml.etree import ElementTree as ET

from ..model import Finding, Severity


def render(findings: list[Finding], info) -> str:
    failures = sum(1 for f in findings if f.severity is not Severity.INFO)
    root = ET.Element("testsuites", name="lora-lint", tests=str(max(1, len(findings))),
                      failures=str(failures), errors="0", skipped="0")
    if not findings:
        suite = ET.SubElement(root, "testsuite", name="lora-lint", tests="1", failures="0",
                              errors="0", skipped="0")
        ET.SubElement(suite, "testcase", name="No findings", classname="lora-lint")
    for path, group in groupby(findings, key=lambda f: f.path):
        group = list(group)
        n_fail = sum(1 for f in group if f.severity is not Severity.INFO)
        suite = ET.SubElement(root, "testsuite", name=path, tests=str(len(group)), skipped="0",
                              errors="0", failures=str(n_fail), package="lora-lint")
        classname = os.path.splitext(path)[0].replace(os.sep, ".").replace("/", ".")
        for f in group:
            span = info.in_file(f.span, f.path)  # (a notebook: the .ipynb's own lines)
            case = ET.SubElement(suite, "testcase", name=f"lora-lint.{f.code}", classname=classname,
                                 line=str(span.line), column=str(span.col))
            props = ET.SubElement(case, "properties")
            ET.SubElement(props, "property", name="severity", value=f.severity.value)
            ET.SubElement(props, "property", name="rule", value=f.name)
            if f.severity is not Severity.INFO:
                fail = ET.SubElement(case, "failure", message=f.message, type=f.code)
                cell = info.cell(f)
                if cell is None:
                    fail.text = f"line {f.span.line}, col {f.span.col}, {f.message}"
                else:  # (ruff's words for a notebook)
                    line = info.in_cell(f.span, f.path).line
                    fail.text = f"cell {cell}, line {line}, col {f.span.col}, {f.message}"
    ET.indent(root, space="    ")
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
