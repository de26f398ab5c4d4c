"""Findings grouped under their file, as ruff's ``grouped``:

```
train.py:
  3:7 LL101 [warning] r=64 without use_rslora ...
```
"""

from __future__ import annotations

from itertools import groupby

from ..model import Finding
from .style import SEVERITY_STYLE, paint, summary


def render(findings: list[Finding], info) -> str:
    color = info.color
    blocks = []
    for path, group in groupby(findings, key=lambda f: f.path):
        group = list(group)
        width = max(len(info.at(f)) for f in group)
        rows = [paint(f"{path}:", "bold", on=color)]
        for f in group:
            where = info.at(f).ljust(width)
            code = paint(f.code, "bold", SEVERITY_STYLE[f.severity], on=color)
            rows.append(f"  {where} {code} {info.mark(f)}[{f.severity}] {f.message}")
        blocks.append("\n".join(rows))
    tail = summary(findings, info)
    blocks += ["\n".join(tail)] if tail else []
    return "\n\n".join(blocks) + "\n" if blocks else ""
