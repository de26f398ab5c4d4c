"""``lora-lint check --add-noqa``: a ``# lora-lint: ignore[CODE]`` comment on the line of each
finding, as ruff's ``--add-noqa`` adds ``# noqa: CODE``, so a project can adopt lora-lint (or a
stricter selection) and fix what it reports over time.

Comments go at the end of the finding's line, two spaces after the code; a line that already has
a ``# lora-lint: ignore[...]`` gets the new codes added to its list. Every kind whose comments the
one scanner reads (``directives.SCANNERS``: Python, YAML, and the kinds registered there) is
handled; JSON has no comments and is left alone, and so is a file whose reader shows it through a
text of its own (a notebook's joined cells). A file is written only when the result is certain:
each comment is read back by the scanner as a comment on its line (not inside a string or a block
scalar), the file's findings are all silenced by them and nothing new appears; the file is written
atomically, with its byte-order mark.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..directives import comments, suppressions
from ..settings import Settings
from ..source_file import SourceFile

#: Findings no comment should silence: the comments' own rule and lora-lint's internal errors.
SKIP = frozenset({"LL904", "LL903"})
UTF8_BOM = b"\xef\xbb\xbf"


def with_noqa(source: SourceFile, codes_by_line: dict[int, list[str]]) -> tuple[str, list[tuple[int, int]]]:
    """The text with the comments added, and where each new comment starts (line, 0-based col)."""
    text = source.text
    existing = {d.line: d for d in suppressions(source)
                if not d.file_level and d.entries is not None and d.line in codes_by_line
                and source.slice(d.span).lstrip("#").strip().lower().startswith("lora-lint")}
    placed: list[tuple[int, int]] = []
    for line in sorted(codes_by_line, reverse=True):
        codes = codes_by_line[line]
        d = existing.get(line)
        if d is not None:
            start, end = source.offset(d.line, d.col), source.offset(d.line, d.end_col)
            listed = list(d.entries or ())
            new = f"# lora-lint: ignore[{', '.join([*listed, *(c for c in codes if c not in listed)])}]"
            text = text[:start] + new + text[end:]
            placed.append((line, d.col - 1))
            continue
        end = source.line_end(line)
        body = source.line(line)
        gap = "" if body.endswith((" ", "\t")) else "  "
        if not body.strip():
            gap = ""
        text = text[:end] + f"{gap}# lora-lint: ignore[{', '.join(codes)}]" + text[end:]
        placed.append((line, len(body) + len(gap)))
    return text, placed


def add_noqa(paths: Iterable[str], settings_for: Callable[[str], Settings],
             force_exclude: bool = False) -> tuple[int, int]:
    """Add the comments to every file ``check`` would lint; ``(comments added, files changed)``."""
    from ..directives import SCANNERS
    from ..files import each_file
    from ..pipeline import lint_source
    from .write import write_atomic

    added = files = 0
    for read in each_file(paths, settings_for, force_exclude, stamp=True):
        source = read.source
        if source is None or source.kind not in SCANNERS or source.rows is not None or source.encoding != "utf-8":
            continue
        before = lint_source(source, read.settings)
        found = [f for f in before if f.code not in SKIP]
        if not found:
            continue
        by_line: dict[int, list[str]] = {}
        for f in found:
            codes = by_line.setdefault(f.span.line, [])
            if f.code not in codes:
                codes.append(f.code)
        text, placed = with_noqa(source, by_line)
        after = SourceFile(source.path, text, source.kind, encoding=source.encoding, bom=source.bom)
        seen = {(c.line, c.col0) for c in comments(after)}
        if not all(p in seen for p in placed):
            continue  # a comment would land inside a string or a block scalar: not certain
        after_found = lint_source(SourceFile(source.path, text, source.kind), read.settings)
        if any(f.code not in SKIP for f in after_found) or \
                len(after_found) > sum(1 for f in before if f.code in SKIP):
            continue  # not every finding is silenced, or the text now means something else
        write_atomic(source.path, (UTF8_BOM if source.bom else b"") + text.encode("utf-8"))
        added += len(placed)
        files += 1
    return added, files
