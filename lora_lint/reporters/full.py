"""ruff's ``full`` layout: the finding, a frame of the source with the span underlined, the fix hint.

```
LL101 [warning] r=64 without use_rslora: scaling α/r = 16/64 = 0.25
 --> train.py:3:7
  |
2 | cfg = LoraConfig(
3 |     r=64,
  |       ^^
4 |     lora_alpha=16,
  |
help: set use_rslora=True
  = rule rslora-recommended: https://.../rules/LL101.md
```
The hint is the message's last ``; ``-clause when it says what to write (``did you mean ...``,
``set ...``, ``give ...``): rule messages end that way by convention.
"""

from __future__ import annotations

import re

from ..model import Finding
from ..registry import docs_url
from .style import SEVERITY_STYLE, paint, summary

_REMEDY = re.compile(
    r"(?:did you mean|set|use|give|write|remove|add|drop|raise|lower|pass|rename|replace|choose|"
    r"move|pin|upgrade|target|list|keep|make|put|enable|disable|turn|switch|install|delete|"
    r"change|name|specify|select|train|save|reduce|increase|decrease)\b",
    re.IGNORECASE,
)


def split_hint(message: str) -> tuple[str, str | None]:
    """``(what is wrong, what to do)``: the remedy clause after the last ``; ``, if there is one."""
    head, sep, tail = message.rpartition("; ")
    if sep and head and _REMEDY.match(tail):
        return head, tail
    return message, None


def frame(f: Finding, lines: list[str] | None, color: bool, source=None) -> list[str]:
    """The finding's line and its neighbours, numbered as the file's user counts them (in a
    notebook: the lines of the finding's cell, counted within it)."""
    if not lines or not 1 <= f.span.line <= len(lines):
        return []
    first, last = max(1, f.span.line - 1), min(len(lines), f.span.line + 1)
    number = {n: n for n in range(first, last + 1)}
    if source is not None and source.rows is not None:
        cell = source.locate(f.span.line)[0]
        number = {n: source.locate(n)[1] for n in number if source.locate(n)[0] == cell}
    width = len(str(max(number.values())))
    gutter = paint(" " * width + " |", "cyan", on=color)
    out = [gutter]
    for n, label in number.items():
        text = lines[n - 1].replace("\t", " ")
        out.append(f"{paint(str(label).rjust(width) + ' |', 'cyan', on=color)} {text}")
        if n == f.span.line:
            end = f.span.end_col if f.span.end_line == n else len(text) + 1
            carets = "^" * max(1, end - f.span.col)
            out.append(f"{gutter} {' ' * (f.span.col - 1)}{paint(carets, 'bold', SEVERITY_STYLE[f.severity], on=color)}")
    out.append(gutter)
    return out


def render_one(f: Finding, info) -> list[str]:
    color = info.color
    what, hint = split_hint(f.message)
    head = paint(f.code, "bold", SEVERITY_STYLE[f.severity], on=color)
    out = [f"{head} {info.mark(f)}[{f.severity}] {paint(what, 'bold', on=color)}",
           f"{paint(' -->', 'cyan', on=color)} {f.path}:{info.at(f)}"]
    out += frame(f, info.lines(f.path), color, info.sources.get(f.path))
    if hint:
        out.append(f"{paint('help', 'bold', 'cyan', on=color)}: {hint}")
    if f.fix is not None:
        safety = "" if f.fix.safe else " (unsafe)"
        out.append(f"{paint('fix', 'bold', 'cyan', on=color)}{safety}: {f.fix.message}")
    out.append(f"  = rule {f.name}: {docs_url(f.code)}")
    return out


def render(findings: list[Finding], info) -> str:
    blocks = ["\n".join(render_one(f, info)) for f in findings]
    tail = summary(findings, info)
    blocks += ["\n".join(tail)] if tail else []
    return "\n\n".join(blocks) + "\n" if blocks else ""
