"""Applying fixes: to a text until nothing more changes, then to files (atomically).

One pass lints the text, takes the applicable fixes in order of position, skips a fix whose edits
overlap one already taken (it is retried on the next pass, against the new text), and applies the
rest. A pass whose result no longer parses is undone fix by fix: only the fixes that keep the
file readable are kept. Passes repeat until no fix applies (at most ``MAX_PASSES``), so a second
``--fix`` finds nothing to do.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from ..files import Read
from ..model import Finding, Fix, Span
from ..settings import Settings
from ..source_file import Kind, SourceFile, ends_a_line, kind_of, lines_with_breaks

MAX_PASSES = 20


def applicable(f: Finding, unsafe: bool) -> bool:
    return f.fix is not None and (f.fix.safe or unsafe)


def apply_fixes(source: SourceFile, fixes: Iterable[Fix]) -> tuple[str, list[Fix]]:
    """The text with the non-overlapping ``fixes`` applied (in order of position), and the fixes
    applied. A fix identical to one applied counts as applied (two findings, one change)."""
    fixed, applied = _apply(source, fixes)
    return fixed.text, applied


def _apply(source: SourceFile, fixes: Iterable[Fix]) -> tuple[SourceFile, list[Fix]]:
    """``apply_fixes``, giving the fixed file (its rows moved with the edits)."""
    doc = source
    taken: list[tuple[int, int]] = []
    chosen: list[tuple[int, int, str]] = []
    done: dict[tuple, Fix] = {}
    applied: list[Fix] = []

    def order(fix: Fix):
        return min((e.span.line, e.span.col) for e in fix.edits)

    for fix in sorted((f for f in fixes if f.edits), key=order):
        try:
            ranges = [(*doc.bounds(e.span), e.text) for e in fix.edits]
        except ValueError:  # the fix was built for another text
            continue
        key = tuple(sorted(ranges))
        if key in done:
            applied.append(fix)
            continue
        if any(_overlap(r, t) for r in ranges for t in taken) or any(
                _overlap(a, b) for i, a in enumerate(ranges) for b in ranges[i + 1:]):
            continue
        done[key] = fix
        applied.append(fix)
        taken += [(s, e) for s, e, _ in ranges]
        chosen += ranges
    return source.edited(chosen), applied


def _overlap(a: tuple, b: tuple) -> bool:
    """Two edits touch the same text (or insert at the same place)."""
    return a[0] == b[0] or (a[0] < b[1] and b[0] < a[1])


def readable(path: str, before: str, after: str, kind: Kind | None = None) -> bool:
    """``after`` still parses (Python: libcst, and Python's compiler when ``before`` passed it too,
    which also refuses a repeated keyword; nothing is run; YAML/JSON: the composer). IPython's
    own lines are masked first, as the reader masks them. ``kind``: the text's kind (a notebook's
    script is Python), by default the file's."""
    kind = kind or kind_of(path)
    try:
        if kind is Kind.PYTHON:
            from ..ipython import masked
            from ..sources.python import parse

            parse(SourceFile(path, after, kind))
            if _compiles(masked(before), path) and not _compiles(masked(after), path):
                return False
        else:
            if kind is Kind.JSON:
                from ..sources.json_nodes import compose
            else:
                from ..sources.yaml_nodes import compose
            compose(SourceFile(path, after, kind))
    except Exception:
        return False
    return True


def _compiles(text: str, path: str) -> bool:
    """Python's compiler accepts ``text`` (compiled to a code object, never run)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # odd escapes in the user's strings: not our business
            compile(text, path, "exec", dont_inherit=True)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    return True


@dataclass
class Result:
    """What fixing one file did."""

    source: SourceFile  # the file as it was read
    text: str  # its fixed text
    fixed: list[Finding] = field(default_factory=list)  # findings whose fix was applied
    remaining: list[Finding] = field(default_factory=list)  # findings of the fixed text
    skipped: list[Finding] = field(default_factory=list)  # fixes dropped: they broke the file
    initial: list[Finding] = field(default_factory=list)  # findings of the original text
    #: fixes dropped because the file's encoding cannot write them, each with the first such character
    unencodable: list[tuple[Finding, str]] = field(default_factory=list)
    final: SourceFile | None = None  # the fixed file (its rows follow the edits)

    @property
    def path(self) -> str:
        return self.source.path

    @property
    def original(self) -> str:
        return self.source.text

    @property
    def changed(self) -> bool:
        return self.text != self.original

    @property
    def fixed_source(self) -> SourceFile:
        """The file as the fixes left it."""
        if not self.changed:
            return self.source
        if self.final is not None and self.final.text == self.text:
            return self.final
        return self.source.with_text(self.text)


Lint = Callable[[SourceFile], list[Finding]]


def fix_source(source: SourceFile, settings: Settings | None = None, unsafe: bool = False,
               lint: Lint | None = None) -> Result:
    """Apply the safe (and with ``unsafe`` the unsafe) fixes to ``source`` until none applies. A
    fix that the file's encoding cannot write is not applied (``Result.unencodable``)."""
    from ..pipeline import lint_source
    from ..sources import presented

    source = presented(source)  # (a notebook: its script; SourceError when it cannot be read)
    settings = settings or Settings()
    lint = lint or (lambda s: lint_source(s, settings))
    result = Result(source, source.text)
    current = source
    seen = {source.text}
    findings = result.initial = lint(source)
    path = source.path
    for _ in range(MAX_PASSES):
        todo = [f for f in findings if applicable(f, unsafe) and f not in result.skipped]
        if not todo:
            break
        fixed, applied = _apply(current, [f.fix for f in todo])
        if fixed.text != current.text and (not readable(path, current.text, fixed.text, current.kind)
                                           or _unencodable(fixed)):
            fixed, applied = _one_by_one(current, todo, result)
        if not applied or fixed.text in seen:
            break
        ids = {id(fx) for fx in applied}
        result.fixed += [f for f in todo if id(f.fix) in ids]
        result.text = fixed.text
        result.final = current = fixed
        seen.add(fixed.text)
        findings = lint(current)
    result.remaining = findings
    return result


def fix_text(path: str, text: str, settings: Settings | None = None, unsafe: bool = False,
             lint: Lint | None = None) -> Result:
    """``fix_source`` for a text handed over as text (an editor, a test)."""
    return fix_source(SourceFile.of_text(path, text), settings, unsafe, lint)


def _one_by_one(source: SourceFile, todo: list[Finding], result: Result) -> tuple[SourceFile, list[Fix]]:
    """The fixes applied one at a time, each kept only if the file still parses after it and its
    encoding can write it."""
    kept = source
    applied: list[Fix] = []
    for f in todo:
        new, done = _apply(source, [f.fix])
        bad = _unencodable(new) if done else None
        if done and bad is None and readable(source.path, source.text, new.text, source.kind):
            kept = new
            applied += done
        else:
            result.skipped.append(f)
            if bad is not None:
                result.unencodable.append((f, bad))
        # later fixes were built for the original text: stop after the first kept one
        if applied:
            break
    return kept, applied


def _unencodable(source: SourceFile) -> str | None:
    """The first character of the fixed file ``source`` (its ``file_text``) its encoding cannot write."""
    try:
        source.file_text.encode(source.encoding)
    except UnicodeEncodeError as e:
        return e.object[e.start:e.end][:1]
    return None


# -- files --------------------------------------------------------------------------------------

def fix_read(read: Read, unsafe: bool = False, write: bool = True) -> Result | Finding | None:
    """Fix one file the reading loop read, in place (``write``) or only compute the result. The
    fixed text is written in the file's own encoding (its BOM, a PEP 263 encoding) over the very
    file that was read (``write.write_atomic`` checks its ``stamp``). When it is not written,
    the result reports the file's findings unfixed, with an LL901 saying why; a fix the encoding
    cannot write is left out, with an LL901 at its finding."""
    if read.problem is not None or read.source is None:
        return read.problem
    source = read.source
    result = fix_source(source, read.settings, unsafe)
    report = "LL901" in read.settings.rules_for(read.path)
    if report:
        result.remaining += [_ll901(read.path, f"the fix for {f.code} is not applied: {ch!r} cannot be"
                                    f" written in {source.encoding}, the file's encoding", f.span)
                             for f, ch in result.unencodable]
    if not (write and result.changed):
        return result
    from ..source_file import stamp_of
    from .write import NotWritten, write_atomic

    try:
        stamp = source.stamp
        if stamp is not None and stamp_of(source.encoded(), stamp.mtime_ns) != stamp:
            raise NotWritten(f"the file's bytes do not read back unchanged in {source.encoding}: not fixed")
        write_atomic(source.path, result.fixed_source.encoded(), stamp)
    except (NotWritten, OSError) as e:
        why = str(e) if isinstance(e, NotWritten) else f"cannot write the fixed file: {e.strerror or e}"
        shown = result.source  # (a notebook: its script, which the findings' positions refer to)
        return Result(shown, shown.text, remaining=[*result.initial, *([_ll901(read.path, why)] if report else [])],
                      initial=result.initial)
    return result


def _ll901(path: str, message: str, span: Span | None = None) -> Finding:
    from ..rules import finding

    return finding("LL901", message, path, span or Span.point(1, 1))


def fix_each(paths: Iterable[str], settings_for: Callable[[str], Settings], force_exclude: bool = False,
             unsafe: bool = False, write: bool = True) -> Iterator[tuple[Read, Result | Finding | None]]:
    """``(read, result)`` for each file ``check`` would lint (the same reading loop)."""
    from ..files import each_file

    for read in each_file(paths, settings_for, force_exclude, stamp=write):
        yield read, fix_read(read, unsafe, write)


def unified_diff(result: Result) -> str:
    """``--diff``'s output for one file (lines split at line breaks only, as editors split them)."""
    name = result.path.replace(os.sep, "/")
    before, after = result.source, result.fixed_source
    if before.rows is not None and after.rows is not None:  # a notebook: each changed cell, as ruff
        return "".join(_diff(f"{name}:cell {n}", old, new)
                       for (n, old), (_, new) in zip(before.rows.parts(before.text), after.rows.parts(after.text),
                                                     strict=True)
                       if old != new)
    return _diff(name, result.original, result.text)


def _diff(name: str, before: str, after: str) -> str:
    import difflib

    lines = difflib.unified_diff(lines_with_breaks(before), lines_with_breaks(after), fromfile=name, tofile=name)
    out = []
    for line in lines:
        out.append(line if ends_a_line(line) else line + "\n\\ No newline at end of file\n")
    return "".join(out)
