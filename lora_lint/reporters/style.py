"""ANSI colour for the human formats, only when asked (a TTY with NO_COLOR unset)."""

from __future__ import annotations

import os

from ..model import Severity

TYPE_CHECKING = False  # typing is not imported at run time (a warm run needs none of it)
if TYPE_CHECKING:
    from typing import TextIO

_CODES = {"bold": "1", "dim": "2", "red": "31", "yellow": "33", "blue": "34", "cyan": "36"}
SEVERITY_STYLE = {Severity.ERROR: "red", Severity.WARNING: "yellow", Severity.INFO: "blue"}


def use_color(stream: TextIO, environ=os.environ) -> bool:
    """NO_COLOR (any value) turns colour off, FORCE_COLOR on; otherwise only on a terminal."""
    if environ.get("NO_COLOR"):
        return False
    if environ.get("FORCE_COLOR"):
        return True
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def paint(text: str, *styles: str, on: bool = True) -> str:
    if not on or not styles:
        return text
    return f"\x1b[{';'.join(_CODES[s] for s in styles)}m{text}\x1b[0m"


def summary(findings, info) -> list[str]:
    """``Found 3 findings (1 error, 2 warnings).`` or ``All checks passed!`` (none with -q)."""
    if not info.summary:
        return []
    fixed = getattr(info, "fixed", 0)
    if not findings and not fixed:
        return [paint("All checks passed!", "bold", on=info.color)]
    counts = {s: sum(1 for f in findings if f.severity is s) for s in Severity}
    parts = [f"{n} {s.value}{'s' if n != 1 else ''}" for s, n in counts.items() if n]
    n = len(findings) + fixed
    if getattr(info, "fixing", False):
        left = f": {', '.join(parts)}" if parts else ""
        out = [f"Found {n} finding{'s' if n != 1 else ''} ({fixed} fixed, {len(findings)} remaining{left})."]
    else:
        out = [f"Found {n} finding{'s' if n != 1 else ''} ({', '.join(parts)})."]
    return out + fix_hints(findings, info)


def fix_hints(findings, info) -> list[str]:
    """ruff's lines about fixes: how many ``--fix`` would fix, how many more ``--unsafe-fixes``."""
    fixable = sum(1 for f in findings if info.fixable(f))
    hidden = sum(1 for f in findings if f.fix is not None and not info.fixable(f))
    more = f"{hidden} unsafe fix{'es' if hidden != 1 else ''} available with `--fix --unsafe-fixes`"
    if fixable:
        return [f"[*] {fixable} fixable with `--fix`" + (f" ({more})." if hidden else ".")]
    if hidden:
        return [f"{more[0].upper()}{more[1:]}."]
    return []
