"""Suppression comments, the same ``#`` syntax in Python and YAML.

* ``# lora-lint: ignore[LL101, rank-diminishing-returns]`` on the line of the finding, or alone on
  the line above it; ``# lora-lint: ignore`` without a list silences every rule there.
* ``# lora-lint: ignore-file[LL101]`` anywhere in the file, for the whole file
  (``# lora-lint: ignore-file`` alone: every rule).
* ``# noqa: LL101`` on the line, as a courtesy to flake8/ruff habits (codes only; a bare
  ``# noqa`` and other tools' codes are left to those tools).

Comments are found on the raw text without running anything: Python with ``tokenize`` (so a
``#`` inside a string never counts), YAML and JSON with a small scanner that knows quoted and block
scalars. Only files that hold findings (or when LL904 is on) are scanned.
"""

from __future__ import annotations

import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from .lines import split_lines
from .model import Finding, Span
from .registry import Rule, all_rules
from .sources import PYTHON_SUFFIXES

_DIRECTIVE = re.compile(
    r"#\s*(?:lora-lint:\s*(?P<kind>ignore-file|ignore)(?![\w-])(?:\[(?P<list>[^\]]*)\])?"
    r"|noqa:\s*(?P<noqa>[A-Za-z]+[0-9]+(?:\s*,?\s*[A-Za-z]+[0-9]+)*))",
    re.IGNORECASE,
)
_NOQA_CODE = re.compile(r"[A-Za-z]+[0-9]+")


@dataclass
class Directive:
    line: int
    col: int
    end_col: int
    file_level: bool
    entries: tuple[str, ...] | None  # None: every rule
    lines: frozenset[int] = frozenset()  # the lines a line-level directive covers
    used: set[str] = field(default_factory=set)  # entries (or "*") that suppressed something

    @property
    def span(self) -> Span:
        return Span(self.line, self.col, self.line, self.end_col)


# -- finding comments ------------------------------------------------------------------------

def python_comments(text: str) -> Iterator[tuple[int, int, str]]:
    """``(line, col0, comment)`` for each comment token; stops quietly where the file breaks."""
    import tokenize

    try:
        # newline=None: a lone \r ends a line, as it does for libcst
        for tok in tokenize.generate_tokens(io.StringIO(text, newline=None).readline):
            if tok.type == tokenize.COMMENT:
                yield tok.start[0], tok.start[1], tok.string
    except (tokenize.TokenError, SyntaxError):
        return


#: A line whose value is a block scalar (``key: |``, ``- >-``): its content lines follow.
_BLOCK_START = re.compile(r"(?:^\s*|[:-]\s+)[|>][0-9]?[+-]?[0-9]?$")


def _block_parent(line: str) -> int:
    """The column a block scalar's content lines must exceed: its key's, or its dash's."""
    i = len(line) - len(line.lstrip(" "))
    last_dash = None
    while line.startswith("-", i) and line[i + 1 : i + 2] in ("", " ", "\t"):
        last_dash = i
        i += 1
        while line[i : i + 1] in (" ", "\t"):
            i += 1
    if last_dash is not None and line[i : i + 1] in ("|", ">"):
        return last_dash
    return i


def yaml_comments(text: str, path: str = "x.yaml") -> Iterator[tuple[int, int, str]]:
    """``(line, col0, comment)`` for each YAML comment: a ``#`` at the start of a line or after
    whitespace, outside quoted and block scalars. JSON files simply have none."""
    quote: str | None = None
    block_parent: int | None = None  # the column a block scalar's content lines exceed
    for n, line in enumerate(split_lines(path, text), 1):
        if block_parent is not None:
            if not line.strip() or len(line) - len(line.lstrip(" ")) > block_parent:
                continue
            block_parent = None
        prev = ""  # the last non-blank character outside quotes, "" at the start of the line
        content_end = len(line)
        i = 0
        while i < len(line):
            c = line[i]
            if quote == '"':
                if c == "\\":
                    i += 1
                elif c == '"':
                    quote, prev = None, c
            elif quote == "'":
                if c == "'" and line[i + 1 : i + 2] == "'":
                    i += 1
                elif c == "'":
                    quote, prev = None, c
            elif c == "#" and (i == 0 or line[i - 1] in " \t"):
                content_end = i
                yield n, i, line[i:]
                break
            elif c in "\"'" and prev in ("", ":", "-", "[", "{", ",", "?") and (
                i == 0 or line[i - 1] in " \t[{,"
            ):
                quote = c
            elif not c.isspace():
                prev = c
            i += 1
        if quote is None and _BLOCK_START.search(line[:content_end].rstrip()):
            block_parent = _block_parent(line)


def comments(path: str, text: str) -> Iterator[tuple[int, int, str]]:
    if path.lower().endswith(PYTHON_SUFFIXES):
        return python_comments(text)
    return yaml_comments(text, path)


def directives(path: str, text: str) -> list[Directive]:
    text = text.removeprefix("\ufeff")  # columns on line 1 do not count a BOM (as the readers)
    lines = split_lines(path, text)
    out: list[Directive] = []
    for line, col0, comment in comments(path, text):
        own_line = not lines[line - 1][:col0].strip()
        for m in _DIRECTIVE.finditer(comment):
            start, end = col0 + m.start() + 1, col0 + m.end() + 1
            if m["noqa"]:
                entries = tuple(c.upper() for c in _NOQA_CODE.findall(m["noqa"]) if c.upper().startswith("LL"))
                if not entries:
                    continue
                out.append(Directive(line, start, end, False, entries, frozenset({line})))
                continue
            raw = m["list"]
            entries = None if raw is None else tuple(e.strip() for e in raw.split(",") if e.strip())
            file_level = m["kind"].lower() == "ignore-file"
            covered = {line}
            if own_line and not file_level:
                nxt = _next_code_line(lines, line)
                if nxt:
                    covered.add(nxt)
            out.append(Directive(line, start, end, file_level, entries, frozenset(covered)))
    return out


def _next_code_line(lines: list[str], line: int) -> int | None:
    for n in range(line + 1, len(lines) + 1):
        s = lines[n - 1].strip()
        if s and not s.startswith("#"):
            return n
    return None


# -- applying them ---------------------------------------------------------------------------

def _code_of(entry: str, rules: Mapping[str, Rule]) -> str | None:
    up = entry.upper()
    if up in rules:
        return up
    for code, r in rules.items():
        if r.name == entry.lower():
            return code
    return None


def _matches(d: Directive, f: Finding, rules: Mapping[str, Rule]) -> str | None:
    """The entry of ``d`` that silences ``f`` ("*" for a blanket directive), or None."""
    if not d.file_level and f.span.line not in d.lines:
        return None
    if d.entries is None:
        return "*"
    for e in d.entries:
        if _code_of(e, rules) == f.code:
            return e
    return None


def apply(path: str, text: str, findings: list[Finding], selected: Mapping[str, Rule]) -> list[Finding]:
    """``findings`` minus those a comment suppresses; plus LL904 findings when LL904 is selected."""
    report_unused = "LL904" in selected
    if not findings and not report_unused:
        return findings
    if "lora-lint" not in text and "noqa" not in text.lower():
        return findings
    found = directives(path, text)
    if not found:
        return findings
    rules = all_rules()
    kept = []
    for f in findings:
        hit = False
        for d in found:
            entry = _matches(d, f, rules)
            if entry is not None:
                d.used.add(entry)
                hit = True
        if not hit:
            kept.append(f)
    if report_unused:
        extra = [u for d in found for u in unused(path, d, rules, selected)]
        kept += [u for u in extra if not any(_matches(d, u, rules) for d in found)]
    return kept


def unused(path: str, d: Directive, rules: Mapping[str, Rule], selected: Mapping[str, Rule]) -> list[Finding]:
    r = rules["LL904"]

    def finding(message: str) -> Finding:
        return Finding(r.code, r.name, r.severity, message, path, d.span)

    where = "file" if d.file_level else "line"
    if d.entries is None:
        return [] if d.used else [finding(f"blanket suppression silences nothing on this {where}; remove it")]
    out = []
    for e in d.entries:
        code = _code_of(e, rules)
        if code == "LL904" or e in d.used:
            continue
        if code is None:
            out.append(finding(f"unknown rule `{e}` in suppression comment; use a code such as LL101 or a name such as rslora-recommended"))
        elif code not in selected:
            out.append(finding(f"suppression of {code} ({rules[code].name}) has no effect: the rule is not enabled for this file; remove it"))
        else:
            out.append(finding(f"unused suppression: {code} ({rules[code].name}) reports nothing on this {where}; remove it"))
    return out
