"""``lora-lint check --fix / --unsafe-fixes / --diff``, as ruff does them (``cli`` prints the outcome).

* ``--fix``: the files are rewritten (atomically); the report lists what remains and the summary
  says ``Found N findings (M fixed, K remaining).``
* ``--diff``: a unified diff on stdout, nothing written, ``Would fix N findings.`` on stderr;
  exit 1 when there is something to fix, else 0.
* stdin (``-``): the fixed text goes to stdout and the report to stderr (``--diff``: the diff).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..model import Finding
from ..settings import Settings
from ..source_file import SourceFile
from .apply import fix_each, fix_source, unified_diff


@dataclass
class FixRun:
    """What ``--fix`` or ``--diff`` did: the findings left, and the diffs (``--diff``)."""

    findings: list[Finding] = field(default_factory=list)
    diffs: list[str] = field(default_factory=list)
    would: int = 0  # findings the diffs fix
    text: str | None = None  # stdin: the fixed text
    data: bytes = b""  # stdin: the fixed text's bytes, in the input's encoding (BOM, PEP 263)


def fix_paths(args, resolver, info) -> FixRun:
    """Fix the files under ``args.paths`` (``--diff``: only say how)."""
    run = FixRun()
    info.fixing = not args.diff
    for read, result in fix_each(args.paths, resolver.settings_for, args.force_exclude,
                                 unsafe=args.unsafe_fixes, write=not args.diff):
        info.files_checked += 1
        path = read.path
        if result is None:
            continue
        if isinstance(result, Finding):
            if result.code in read.settings.rules_for(path):
                run.findings.append(result)
                if read.shown is not None:
                    info.sources[path] = read.shown
            continue
        run.findings.extend(result.remaining)
        if result.remaining:
            info.sources[path] = result.fixed_source
        info.fixed += len(result.fixed)
        if result.changed:
            run.would += len(result.fixed)
            run.diffs.append(unified_diff(result))
    run.findings.sort(key=lambda f: f.sort_key)
    return run


def fix_stdin(args, source: SourceFile, settings: Settings, info) -> FixRun:
    """Fix standard input: the fixed text (``--diff``: the diff) and what remains."""
    result = fix_source(source, settings, args.unsafe_fixes)
    if args.diff:
        return FixRun(diffs=[unified_diff(result)] if result.changed else [],
                      would=len(result.fixed) if result.changed else 0)
    info.fixing = True
    info.fixed = len(result.fixed)
    info.sources[source.path] = result.fixed_source
    fixed = result.fixed_source
    return FixRun(result.remaining, text=fixed.file_text, data=fixed.encoded())
