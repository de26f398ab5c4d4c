"""Applying fixes: to a text until nothing more changes, then to files (atomically).

One pass lints the text, takes the applicable fixes in order of position, skips a fix whose edits
overlap one already taken (it is retried on the next pass, against the new text), and applies the
rest. A pass whose result no longer parses is undone fix by fix: only the fixes that keep the
file readable are kept. Passes repeat until no fix applies (at most ``MAX_PASSES``), so a second
``--fix`` finds nothing to do.
"""

from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from ..encoding import UTF8, Encoding
from ..model import Finding, Fix, Span
from ..settings import Settings
from .document import Document

MAX_PASSES = 20


def applicable(f: Finding, unsafe: bool) -> bool:
    return f.fix is not None and (f.fix.safe or unsafe)


def apply_fixes(path: str, text: str, fixes: Iterable[Fix]) -> tuple[str, list[Fix]]:
    """``text`` with the non-overlapping ``fixes`` applied (in order of position), and the fixes
    applied. A fix identical to one applied counts as applied (two findings, one change)."""
    doc = Document(path, text)
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
    out = text
    for start, end, new in sorted(chosen, key=lambda r: (r[0], r[1]), reverse=True):
        out = out[:start] + new + out[end:]
    return out, applied


def _overlap(a: tuple, b: tuple) -> bool:
    """Two edits touch the same text (or insert at the same place)."""
    return a[0] == b[0] or (a[0] < b[1] and b[0] < a[1])


def readable(path: str, before: str, after: str) -> bool:
    """``after`` still parses (Python: libcst, and Python's compiler when ``before`` passed it too,
    which also refuses a repeated keyword; nothing is run; YAML/JSON: the composer)."""
    kind = Document(path, after).kind
    try:
        if kind == "python":
            import libcst as cst

            cst.parse_module(after)
            if _compiles(before, path) and not _compiles(after, path):
                return False
        else:
            if kind == "json":
                from ..sources.json_nodes import compose
            else:
                from ..sources.yaml_nodes import compose
            compose(after)
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

    path: str
    original: str
    text: str
    fixed: list[Finding] = field(default_factory=list)  # findings whose fix was applied
    remaining: list[Finding] = field(default_factory=list)  # findings of the fixed text
    skipped: list[Finding] = field(default_factory=list)  # fixes dropped: they broke the file
    initial: list[Finding] = field(default_factory=list)  # findings of the original text
    #: fixes dropped because the file's encoding cannot write them, each with the first such character
    unencodable: list[tuple[Finding, str]] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return self.text != self.original


def fix_text(path: str, text: str, settings: Settings | None = None, unsafe: bool = False,
             lint: Callable[[str, str], list[Finding]] | None = None,
             encoding: Encoding = UTF8) -> Result:
    """Apply the safe (and with ``unsafe`` the unsafe) fixes to ``text`` until none applies. A
    fix that ``encoding`` (the file's) cannot write is not applied (``Result.unencodable``)."""
    from ..engine import lint_text

    settings = settings or Settings()
    lint = lint or (lambda p, t: lint_text(p, t, settings))
    result = Result(path, text, text)
    seen = {text}
    findings = result.initial = lint(path, text)
    for _ in range(MAX_PASSES):
        todo = [f for f in findings if applicable(f, unsafe) and f not in result.skipped]
        if not todo:
            break
        new, applied = apply_fixes(path, result.text, [f.fix for f in todo])
        if new != result.text and (not readable(path, result.text, new) or encoding.unencodable(new)):
            new, applied = _one_by_one(path, result.text, todo, result, encoding)
        if not applied or new in seen:
            break
        ids = {id(fx) for fx in applied}
        result.fixed += [f for f in todo if id(f.fix) in ids]
        result.text = new
        seen.add(new)
        findings = lint(path, new)
    result.remaining = findings
    return result


def _one_by_one(path: str, text: str, todo: list[Finding], result: Result,
                encoding: Encoding = UTF8) -> tuple[str, list[Fix]]:
    """The fixes applied one at a time, each kept only if the file still parses after it and its
    encoding can write it."""
    applied: list[Fix] = []
    for f in todo:
        new, done = apply_fixes(path, text, [f.fix])
        bad = encoding.unencodable(new) if done else None
        if done and bad is None and readable(path, text, new):
            text = new
            applied += done
        else:
            result.skipped.append(f)
            if bad is not None:
                result.unencodable.append((f, bad))
        # later fixes were built for the original text: stop after the first kept one
        if applied:
            break
    return text, applied


# -- files --------------------------------------------------------------------------------------

def fix_file(path: str, settings: Settings, unsafe: bool = False, write: bool = True) -> Result | Finding | None:
    """Fix one file in place (``write``) or only compute the result. The fixed text is written
    in the file's own encoding (``encoding.detect``: its BOM, a PEP 263 encoding) over the very
    file that was read (``write.write_atomic``). When it is not written, the result reports the
    file's findings unfixed, with an LL901 saying why; a fix the encoding cannot write is left
    out, with an LL901 at its finding."""
    from ..encoding import detect
    from ..engine import decode, read_bytes
    from ..sources import PYTHON_SUFFIXES

    got = read_bytes(path, settings)
    if not isinstance(got, tuple):
        return got
    data, st = got
    text = decode(data, path)
    if text is None or isinstance(text, Finding):
        return text
    encoding = detect(data, path.lower().endswith(PYTHON_SUFFIXES))
    result = fix_text(path, text, settings, unsafe, encoding=encoding)
    report = "LL901" in settings.rules_for(path)
    if report:
        result.remaining += [_ll901(path, f"the fix for {f.code} is not applied: {ch!r} cannot be written in"
                                    f" {encoding.codec}, the file's encoding", f.span)
                             for f, ch in result.unencodable]
    if not (write and result.changed):
        return result
    from .write import NotWritten, Snapshot, write_atomic

    try:
        if encoding.encode(text) != data:  # a codec that does not read back byte for byte
            raise NotWritten(f"the file's bytes do not read back unchanged in {encoding.codec}: not fixed")
        write_atomic(path, encoding.encode(result.text), Snapshot.of(data, st))
    except (NotWritten, OSError) as e:
        why = str(e) if isinstance(e, NotWritten) else f"cannot write the fixed file: {e.strerror or e}"
        return Result(path, text, text, remaining=[*result.initial, *([_ll901(path, why)] if report else [])],
                      initial=result.initial)
    return result


def _ll901(path: str, message: str, span: Span | None = None) -> Finding:
    from ..engine import finding

    return finding("LL901", message, path, span or Span.point(1, 1))


def fix_each(paths: Iterable[str], settings_for: Callable[[str], Settings], force_exclude: bool = False,
             unsafe: bool = False, write: bool = True) -> Iterator[tuple[str, Result | Finding | None]]:
    """``(path, result)`` for each file ``lint_each`` would lint (same discovery and exclusions)."""
    from ..discovery import iter_files

    paths = list(paths)
    explicit = set(paths)
    for path in iter_files(paths):
        s = settings_for(path)
        if s.exclude and (force_exclude or path not in explicit) and s.is_excluded(path):
            continue
        yield path, fix_file(path, s, unsafe, write)


_LINE = re.compile(r"[^\r\n]*(?:\r\n|\r|\n)|[^\r\n]+\Z")


def unified_diff(result: Result) -> str:
    """``--diff``'s output for one file (lines split at line breaks only, as editors split them)."""
    import difflib

    name = result.path.replace(os.sep, "/")
    lines = difflib.unified_diff(_LINE.findall(result.original), _LINE.findall(result.text),
                                 fromfile=name, tofile=name)
    out = []
    for line in lines:
        out.append(line if line.endswith(("\n", "\r")) else line + "\n\\ No newline at end of file\n")
    return "".join(out)
