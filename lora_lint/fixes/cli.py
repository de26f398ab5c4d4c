"""``lora-lint check --fix / --unsafe-fixes / --diff``, as ruff does them.

* ``--fix``: the files are rewritten (atomically); the report lists what remains and the summary
  says ``Found N findings (M fixed, K remaining).``
* ``--diff``: a unified diff on stdout, nothing written, ``Would fix N findings.`` on stderr;
  exit 1 when there is something to fix, else 0.
* stdin (``-``): the fixed text goes to stdout and the report to stderr (``--diff``: the diff).
"""

from __future__ import annotations

import sys

from ..cli import EXIT_FINDINGS, EXIT_OK, write_report, write_stream
from ..model import Finding
from .apply import fix_each, fix_text, unified_diff


def fix_paths(args, resolver, info) -> list[Finding] | int:
    """Fix the files under ``args.paths``: the findings left (``--fix``) or the exit code (``--diff``)."""
    findings: list[Finding] = []
    diffs: list[str] = []
    would = 0
    info.fixing = not args.diff
    for path, result in fix_each(args.paths, resolver.settings_for, args.force_exclude,
                                 unsafe=args.unsafe_fixes, write=not args.diff):
        info.files_checked += 1
        if result is None:
            continue
        if isinstance(result, Finding):
            if result.code in resolver.settings_for(path).rules_for(path):
                findings.append(result)
            continue
        findings.extend(result.remaining)
        info.fixed += len(result.fixed)
        if result.changed:
            would += len(result.fixed)
            diffs.append(unified_diff(result))
    if args.diff:
        return _diff_out(diffs, would, args)
    findings.sort(key=lambda f: f.sort_key)
    return findings


def _diff_out(diffs: list[str], would: int, args) -> int:
    write_stream(sys.stdout, "".join(diffs))
    if not args.quiet:
        if would:
            print(f"Would fix {would} finding{'s' if would != 1 else ''}.", file=sys.stderr)
        else:
            print("No fixes to apply.", file=sys.stderr)
    return EXIT_FINDINGS if diffs else EXIT_OK


def fix_stdin(args, name: str, text: str, settings, info, raw: bytes | str = "") -> int:
    """The fixed text on stdout: in the input's encoding (its BOM, a PEP 263 encoding) when
    stdin gave bytes (``raw``) and stdout takes them."""
    from ..encoding import UTF8, detect
    from ..sources import PYTHON_SUFFIXES

    encoding = detect(raw, name.lower().endswith(PYTHON_SUFFIXES)) if isinstance(raw, bytes) else UTF8
    result = fix_text(name, text, settings, args.unsafe_fixes, encoding=encoding)
    if args.diff:
        return _diff_out([unified_diff(result)] if result.changed else [], len(result.fixed) if result.changed else 0, args)
    stdout_takes_bytes = getattr(sys.stdout, "buffer", None) is not None
    write_stream(sys.stdout, encoding.encode(result.text) if stdout_takes_bytes and isinstance(raw, bytes)
                 else result.text)
    info.fixing = True
    info.fixed = len(result.fixed)
    info.sources[name] = result.text
    return write_report(args, result.remaining, info, sys.stderr)
