"""``lora-lint check --add-noqa``: a ``# lora-lint: ignore[CODE]`` comment on the line of each
finding, as ruff's ``--add-noqa`` adds ``# noqa: CODE``, so a project can adopt lora-lint (or a
stricter selection) and fix what it reports over time.

Comments go at the end of the finding's line, two spaces after the code; a line that already has
a ``# lora-lint: ignore[...]`` gets the new codes added to its list. Every kind whose comments the
one scanner reads (``directives.SCANNERS``: Python, YAML, shell, and the kinds registered there) is
handled, and a notebook's code cells (the comment goes into the cell's ``source``, the rest of the
notebook kept byte for byte). JSON has no comments and is left alone. In a shell script a command
continued over several lines (each ending in a backslash) cannot take a comment on those lines
(it would end the command), so its codes go on a line of their own above the command, which
covers the whole command; an existing directive there gets them added. A file is written only
when the result is certain: each comment is read back by the scanner as a comment on its line
(not inside a string, a block scalar or a quoted word), the file's findings are all silenced by
them and nothing new appears; the file is written atomically, with its byte-order mark.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from ..directives import comments, suppressions
from ..settings import Settings
from ..source_file import SourceFile, kind_of

#: Findings no comment should silence: the comments' own rule and lora-lint's internal errors.
SKIP = frozenset({"LL904", "LL903"})
UTF8_BOM = b"\xef\xbb\xbf"


def _command_start(source: SourceFile, line: int) -> int | None:
    """In a shell script, the first line of the command ``line`` belongs to when that command is
    continued over several lines (``\\`` at a line's end); None for a line that stands alone."""
    lines = source.lines

    def continues(n: int) -> bool:
        return 1 <= n <= len(lines) and lines[n - 1].endswith("\\") and not lines[n - 1].lstrip().startswith("#")

    if not continues(line) and not continues(line - 1):
        return None
    while continues(line - 1):
        line -= 1
    return line


def with_noqa(source: SourceFile, codes_by_line: dict[int, list[str]]) -> tuple[str, list[tuple[int, int]]]:
    """The text with the comments added, and where each comment starts (line, 0-based col) in it."""
    from ..source_file import Kind

    above: dict[int, list[str]] = {}  # a continued shell command's first line -> codes for the line above
    at_end: dict[int, list[str]] = {}
    for line, codes in codes_by_line.items():
        start = _command_start(source, line) if source.kind is Kind.SHELL else None
        target = at_end if start is None else above
        merged = target.setdefault(line if start is None else start, [])
        merged.extend(c for c in codes if c not in merged)
    ours = {d.line: d for d in suppressions(source)
            if not d.file_level and d.entries is not None
            and source.slice(d.span).lstrip("#").strip().lower().startswith("lora-lint")}
    lines = source.lines
    own_line_before = {}  # command line -> the ignore directive alone on the line above it
    for start in above:
        d = ours.get(start - 1)
        if d is not None and not lines[start - 2][:d.col - 1].strip():
            own_line_before[start] = d
    # edits: (line, is_insertion, codes); applied from the bottom so offsets stay valid
    text = source.text
    placed: list[tuple[int, int]] = []  # in the original line numbers; shifted below
    inserted: list[int] = []  # original lines a new line was inserted above
    edits = [(line, False, codes) for line, codes in at_end.items()]
    for start, codes in above.items():
        d = own_line_before.get(start)
        if d is not None:
            edits.append((d.line, False, codes))
        else:
            edits.append((start, True, codes))
    merged_edits: dict[tuple[int, bool], list[str]] = {}
    for line, insert, codes in edits:
        got = merged_edits.setdefault((line, insert), [])
        got.extend(c for c in codes if c not in got)
    for (line, insert), codes in sorted(merged_edits.items(), reverse=True):
        if insert:
            body = lines[line - 1]
            indent = body[:len(body) - len(body.lstrip(" \t"))]
            at = source.offset(line, 1)
            text = text[:at] + f"{indent}# lora-lint: ignore[{', '.join(codes)}]{source.newline}" + text[at:]
            placed.append((line, len(indent)))
            inserted.append(line)
            continue
        d = ours.get(line)
        if d is not None:
            start, end = source.offset(d.line, d.col), source.offset(d.line, d.end_col)
            listed = list(d.entries or ())
            new = f"# lora-lint: ignore[{', '.join([*listed, *(c for c in codes if c not in listed)])}]"
            text = text[:start] + new + text[end:]
            placed.append((line, d.col - 1))
            continue
        end = source.line_end(line)
        body = source.line(line)
        gap = "" if body.endswith((" ", "\t")) or not body.strip() else "  "
        text = text[:end] + f"{gap}# lora-lint: ignore[{', '.join(codes)}]" + text[end:]
        placed.append((line, len(body) + len(gap)))
    # each placed comment's line in the new text: one more for every line inserted at or above it
    # (an inserted comment is itself at the line it was inserted above)
    final = []
    for (line, col), insert in zip(placed, [k[1] for k in sorted(merged_edits, reverse=True)], strict=True):
        shift = sum(1 for i in inserted if i < line or (i == line and not insert))
        final.append((line + shift, col))
    return text, final


def add_noqa(paths: Iterable[str], settings_for: Callable[[str], Settings],
             force_exclude: bool = False) -> tuple[int, int]:
    """Add the comments to every file ``check`` would lint; ``(comments added, files changed)``."""
    from ..directives import SCANNERS
    from ..files import each_file
    from ..pipeline import lint_source
    from ..sources import SourceError, presented
    from .write import write_atomic

    added = files = 0
    for read in each_file(paths, settings_for, force_exclude, stamp=True):
        source = read.source
        if source is None or source.kind not in SCANNERS or source.encoding != "utf-8":
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
        if source.rows is None:
            after = SourceFile(source.path, text, source.kind, encoding=source.encoding, bom=source.bom)
        else:  # a notebook: the comments go into its cells; read back as the reader reads the file
            if len(source.lines) != len(SourceFile("", text).lines):
                continue  # (a comment on a line of its own would need the cells' rows moved)
            try:
                after = presented(SourceFile(source.path, source.with_text(text).file_text, kind_of(source.path),
                                             encoding=source.encoding, bom=source.bom))
            except SourceError:
                continue
            if after.text != text:
                continue
        seen = {(c.line, c.col0) for c in comments(after)}
        if not all(p in seen for p in placed):
            continue  # a comment would land inside a string or a block scalar: not certain
        after_found = lint_source(after, read.settings)
        if any(f.code not in SKIP for f in after_found) or \
                len(after_found) > sum(1 for f in before if f.code in SKIP):
            continue  # not every finding is silenced, or the text now means something else
        write_atomic(source.path, (UTF8_BOM if source.bom else b"") + after.file_text.encode("utf-8"))
        added += len(placed)
        files += 1
    return added, files
