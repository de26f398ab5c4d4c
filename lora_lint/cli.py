"""Command line: ``lora-lint [check] PATH...``, ``lora-lint rule CODE|NAME``, ``lora-lint report``,
``lora-lint lock`` (the model lock), ``lora-lint clean`` (the cached results), ``lora-lint server``
(LSP). Exit 0/1/2 as ruff."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from . import __version__
from .settings import UsageError, resolve_selector, split_selectors

EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
OUTPUT_FORMATS = ("concise", "full", "grouped", "json", "json-lines", "sarif", "github", "gitlab", "junit",
                  "pylint", "rdjson", "azure")
COLOR_FORMATS = ("concise", "full", "grouped")


class _Parser(argparse.ArgumentParser):
    _adding = False

    def add_argument(self, *args, **kwargs):
        self._adding = True
        try:
            return super().add_argument(*args, **kwargs)
        finally:
            self._adding = False

    def _get_formatter(self):
        """argparse makes a help formatter for each argument added, only to check its metavar:
        that one needs no terminal width (asking for it imports shutil, 2 ms of a run)."""
        if self._adding:
            return self.formatter_class(prog=self.prog, width=80)
        return super()._get_formatter()

    def error(self, message: str):  # argparse exits 2 on usage errors, as ruff does
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"lora-lint: error: {message}\n")

    def _print_message(self, message: str, file=None) -> None:  # argparse ignores write errors
        if message:
            write_stream(file or sys.stderr, message)


def add_check_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", default=["."], metavar="PATH",
                   help="files or directories to lint (default: .); '-' reads stdin")
    sel = p.add_argument_group("rule selection (codes, code prefixes, names or ALL; comma-separated)")
    sel.add_argument("--select", action="append", metavar="RULES",
                     help="rules to enable (replaces the configured selection)")
    sel.add_argument("--extend-select", action="append", metavar="RULES",
                     help="rules to enable on top of the selection")
    sel.add_argument("--ignore", action="append", metavar="RULES", help="rules to disable")
    sel.add_argument("--per-file-ignores", action="append", metavar="GLOB:RULES",
                     help="rules to disable in matching files (replaces the configured table)")
    sel.add_argument("--extend-per-file-ignores", action="append", metavar="GLOB:RULES",
                     help="like --per-file-ignores, on top of the configured table")
    sel.add_argument("--report-unused-suppressions", action="store_true",
                     help="report suppression comments that silence nothing (rule LL904)")
    fix = p.add_argument_group("fixes")
    fix.add_argument("--fix", action="store_true", help="apply the safe fixes to the files in place")
    fix.add_argument("--unsafe-fixes", action="store_true",
                     help="also apply (with --fix) or show the fixes that change what is trained")
    fix.add_argument("--diff", action="store_true",
                     help="print the fixes as a unified diff instead of writing them (exit 1 if any)")
    fix.add_argument("--fix-only", action="store_true",
                     help="apply the fixes and report nothing else (exit 0 unless --exit-non-zero-on-fix)")
    fix.add_argument("--show-fixes", action="store_true", help="list the findings the fixes fixed, per file")
    fix.add_argument("--exit-non-zero-on-fix", action="store_true",
                     help="exit 1 when a fix was applied, even if no finding remains")
    fix.add_argument("--add-noqa", action="store_true",
                     help="add a `# lora-lint: ignore[CODE]` comment on the line of each finding")
    out = p.add_argument_group("output")
    out.add_argument("--output-format", default=os.environ.get("LORA_LINT_OUTPUT_FORMAT", "concise"),
                     metavar="FORMAT", help=f"{', '.join(OUTPUT_FORMATS)} (default: concise)")
    out.add_argument("-o", "--output-file", metavar="PATH", help="write the report to PATH")
    out.add_argument("--statistics", action="store_true",
                     help="print the number of findings per rule instead of the findings")
    out.add_argument("-q", "--quiet", action="store_true", help="print findings only, no summary")
    out.add_argument("-e", "--exit-zero", action="store_true",
                     help="exit 0 even when findings of severity warning or error are reported")
    out.add_argument("--color", choices=("auto", "always", "never"), default="auto",
                     help="colour in the human formats: auto (a terminal, unless NO_COLOR), always, never")
    out.add_argument("--column-unit", choices=("character", "byte"), default="character",
                     help="what the human formats' columns count: characters (as ruff; the default) or"
                          " UTF-8 bytes (what Vim's quickfix and nvim-lint expect)")
    files = p.add_argument_group("files and configuration")
    files.add_argument("--stdin-filename", metavar="PATH",
                       help="the name of the file read from stdin ('-'): its type, config and report name")
    files.add_argument("--exclude", action="append", metavar="GLOBS",
                       help="files and directories to skip (comma-separated globs; replaces `exclude`)")
    files.add_argument("--extend-exclude", action="append", metavar="GLOBS",
                       help="more files and directories to skip (comma-separated globs)")
    files.add_argument("--respect-gitignore", action="store_true", default=None,
                       help="skip what .gitignore files ignore when walking directories (the default)")
    files.add_argument("--no-respect-gitignore", action="store_false", dest="respect_gitignore",
                       help="walk into what .gitignore files ignore too")
    files.add_argument("--show-files", action="store_true", help="list the files that would be linted, then exit")
    files.add_argument("--show-settings", metavar="PATH",
                       help="print the configuration, rules and options that apply to PATH, then exit")
    files.add_argument("--watch", action="store_true", help="lint again whenever a file or a config changes")
    files.add_argument("--force-exclude", action="store_true",
                       help="apply exclusions to files named explicitly too (for pre-commit and editors)")
    files.add_argument("--config", action="append", metavar="FILE|KEY=VALUE",
                       help="use this config file for every file, or override one setting "
                            "(TOML: --config 'rslora-min-rank = 48')")
    files.add_argument("--isolated", action="store_true", help="ignore every config file")
    files.add_argument("--base-model", metavar="ID_OR_PATH",
                       help="base model to assume for every config (overrides what configs name)")
    files.add_argument("--offline", action="store_true", help="never contact the Hugging Face Hub")
    files.add_argument("--no-cache", action="store_true",
                       help="neither read nor write the cache (each file's results, the base models'"
                            " inventories; env LORA_LINT_NO_CACHE)")
    files.add_argument("--cache-dir", metavar="DIR",
                       help="the cache directory (default: env LORA_LINT_CACHE_DIR, else the user cache)")
    files.add_argument("--workers", type=_workers, default=os.environ.get("LORA_LINT_WORKERS", "auto"),
                       metavar="N", help="processes that lint, this one included: a number, or auto (default:"
                                         " 1 for a few LoRA configs, else one per idle core; env LORA_LINT_WORKERS)")


def _workers(value: str) -> int:
    """``auto`` (0) or a positive number of processes."""
    if value.strip().lower() in ("auto", "0", ""):
        return 0
    try:
        n = int(value)
    except ValueError:
        n = -1
    if n < 0:
        raise argparse.ArgumentTypeError(f"expected a number of processes or 'auto', got {value!r}")
    return n


def add_rule_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("rule", nargs="?", metavar="CODE|NAME")
    p.add_argument("--all", action="store_true", help="print every rule")
    p.add_argument("--output-format", default="text", choices=("text", "json"))


def add_report_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", default=["."], metavar="PATH")
    p.add_argument("--output-format", default="text", choices=("text", "json"))
    p.add_argument("--base-model", metavar="ID_OR_PATH", help="base model to assume for every config")
    p.add_argument("--offline", action="store_true", help="never contact the Hugging Face Hub")
    p.add_argument("--config", action="append", metavar="FILE|KEY=VALUE",
                   help="use this config file, or override one setting")
    p.add_argument("--isolated", action="store_true", help="ignore every config file")


def add_lock_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="files or directories to lock the models of (default: the whole repository)")
    p.add_argument("--check", action="store_true",
                   help="write nothing; exit 1 (with LL905 findings) when the lock is missing or stale")
    p.add_argument("-U", "--upgrade", action="store_true",
                   help="resolve locked Hub models again instead of keeping their locked config")
    p.add_argument("--offline", action="store_true", help="never contact the Hugging Face Hub")
    p.add_argument("--config", action="append", metavar="FILE|KEY=VALUE",
                   help="use this config file, or override one setting")
    p.add_argument("--isolated", action="store_true", help="ignore every config file")
    p.add_argument("--output-format", default="concise", choices=OUTPUT_FORMATS,
                   help="the format of --check's findings (default: concise)")
    p.add_argument("-q", "--quiet", action="store_true", help="print findings only, no summary")
    p.set_defaults(statistics=False, output_file=None, exit_zero=False, color="auto",
                   column_unit="character", show_fixes=False, exit_non_zero_on_fix=False)


def add_clean_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cache-dir", metavar="DIR",
                   help="the cache directory (default: env LORA_LINT_CACHE_DIR, else the user cache)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing")


def add_server_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--stdio", action="store_true", help="talk over stdin/stdout (the default)")
    p.add_argument("--offline", action="store_true", help="never contact the Hugging Face Hub")
    p.add_argument("--isolated", action="store_true", help="ignore every config file")


#: Each subcommand: its line in ``--help``, and what adds its arguments to its parser.
COMMANDS = {
    "check": ("lint files and directories (the default command)", add_check_args),
    "rule": ("print a rule's documentation", add_rule_args),
    "report": ("per LoRA config: base model, trainable parameters, adapter size", add_report_args),
    "lock": ("pin the base model of every config in .lora-lint/models/ (used by every run, with or without"
             " torch)", add_lock_args),
    "clean": ("remove the cached results of the project here (and of projects below)", add_clean_args),
    "server": ("run the language server (LSP over stdio) for editors", add_server_args),
}


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The command line's parser. With ``command``, only that subcommand gets its arguments (the
    others are there for ``--help``): a run builds the part of the parser it parses with."""
    parser = _Parser(prog="lora-lint", description="Lint LoRA fine-tuning configs before the weights download.")
    parser.add_argument("--version", action="version", version=f"lora-lint {__version__}")
    # (``prog`` as argparse would work it out, without a help formatter: see ``_Parser``)
    sub = parser.add_subparsers(dest="command", parser_class=_Parser, prog="lora-lint")
    for name, (text, add_args) in COMMANDS.items():
        p = sub.add_parser(name, help=text)
        if command is None or command == name:
            add_args(p)
    return parser


def normalise_argv(argv: Sequence[str]) -> list[str]:
    """``lora-lint PATH...`` is ``lora-lint check PATH...``."""
    argv = list(argv)
    if not argv:
        return ["check"]
    first = argv[0]
    if first in COMMANDS or first in ("-h", "--help", "--version"):
        return argv
    return ["check", *argv]


def _per_file(values: list[str] | None, flag: str) -> list[tuple[str, list[str]]]:
    out = []
    for v in values or ():
        glob, sep, rules = v.rpartition(":")
        if not sep or not glob or not rules.strip():
            raise UsageError(f"{flag} expects GLOB:RULES, got {v!r}")
        out.append((glob, split_selectors([rules])))
    return out


def resolver_from_args(args: argparse.Namespace, **overrides):
    """The settings of a run: ``--config`` (one config file, and TOML ``key = value`` tables),
    ``--isolated``, and the command's own ``overrides`` (``Overrides`` fields). Bad selectors,
    keys and a bad config file fail here, before any work."""
    from .config import Overrides, Resolver, parse_inline

    config_file, inline = None, []
    for value in args.config or ():
        if os.path.isfile(value):
            if config_file:
                raise UsageError("--config FILE given twice")
            config_file = value
        else:
            inline.append(parse_inline(value))
    checked = Overrides(**overrides, inline=inline)
    checked.validate()
    resolver = Resolver(checked, config_file=config_file, isolated=args.isolated)
    if config_file:
        resolver.settings_for(config_file)
    return resolver


def check_resolver(args: argparse.Namespace):
    """``check``'s settings: the config files under its command-line options."""
    return resolver_from_args(
        args,
        select=split_selectors(args.select) if args.select else None,
        extend_select=split_selectors(args.extend_select),
        ignore=split_selectors(args.ignore),
        per_file_ignores=_per_file(args.per_file_ignores, "--per-file-ignores") if args.per_file_ignores else None,
        extend_per_file_ignores=_per_file(args.extend_per_file_ignores, "--extend-per-file-ignores"),
        exclude=split_selectors(args.exclude) if args.exclude else None,
        extend_exclude=split_selectors(args.extend_exclude),
        respect_gitignore=args.respect_gitignore,
        base_model=args.base_model,
        offline=args.offline,
        report_unused_suppressions=args.report_unused_suppressions,
    )


def report_root(resolver, cwd: str | None = None) -> str:
    """What the CI formats' paths are relative to: the git top level of the working directory,
    else the directory of the config file that applies there, else the working directory. A
    workflow step with ``working-directory: sub`` then still names ``sub/train.py``."""
    from .source_file import repository_root

    cwd = os.path.abspath(cwd or os.getcwd())
    top = repository_root(cwd)
    if top is not None:
        return top
    config = resolver.config_for(os.path.join(cwd, "_"))
    return os.path.dirname(config) if config else cwd


def statistics(findings, info, as_json: bool) -> str:
    """ruff's ``--statistics``: the count per rule, most frequent first, ``[*]`` where ``--fix``
    would fix the rule's findings, and the fixable total."""
    counts: dict[tuple[str, str], list[int]] = {}
    for f in findings:
        row = counts.setdefault((f.code, f.name), [0, 0])
        row[0] += 1
        row[1] += info.fixable(f)
    rows = sorted(counts.items(), key=lambda kv: (-kv[1][0], kv[0][0]))
    if as_json:
        data = [{"code": c, "name": n, "count": k, "fixable": fixable > 0, "fixable_count": fixable}
                for (c, n), (k, fixable) in rows]
        return json.dumps(data, indent=2) + "\n"
    width = max((len(str(k)) for _, (k, _) in rows), default=1)
    any_fixable = any(fixable for _, (_, fixable) in rows)
    mark = (lambda fixable: "[*] " if fixable else "[ ] ") if any_fixable else (lambda fixable: "")
    out = "".join(f"{str(k).rjust(width)}\t{c}\t{mark(fixable)}{n}\n" for (c, n), (k, fixable) in rows)
    total = sum(fixable for _, (_, fixable) in rows)
    if total and info.summary:
        out += f"[*] {total} fixable with `--fix`.\n"
    return out


def run_check(args: argparse.Namespace) -> int:
    """``check`` with its flags: the cache flags for the run, ``--watch`` around it."""
    if args.fix_only:
        args.fix = True
    saved = {k: os.environ.get(k) for k in (CACHE_DIR_ENV, NO_CACHE_ENV)}
    try:
        if args.cache_dir:  # the inventory cache's directory (models.cache), inherited by workers
            os.environ[CACHE_DIR_ENV] = os.path.abspath(args.cache_dir)
        if args.no_cache:
            os.environ[NO_CACHE_ENV] = "1"
        if args.watch:
            from .watch import watch

            return watch(args, check_once)
        return check_once(args)
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


#: The cache's environment: its directory, and "do not use it" (``--cache-dir``, ``--no-cache``).
CACHE_DIR_ENV, NO_CACHE_ENV = "LORA_LINT_CACHE_DIR", "LORA_LINT_NO_CACHE"


def results_cache():
    """The results cache of this run (its project: the git top level here, else this directory),
    or None with ``--no-cache``."""
    from .result_cache import ResultCache, enabled

    if not enabled():
        return None
    from .source_file import repository_root

    cwd = os.getcwd()
    return ResultCache.open(root=repository_root(cwd) or cwd)


def run_clean(args: argparse.Namespace) -> int:
    """``lora-lint clean``: the cached results of this project and of the projects below it."""
    from .result_cache import clean
    from .source_file import repository_root

    cwd = os.getcwd()
    removed = clean(repository_root(cwd) or cwd, args.cache_dir and os.path.abspath(args.cache_dir))
    if not args.quiet:
        n = len(removed)
        print(f"Removed {n} cached result file{'s' if n != 1 else ''}." if n else "No cached results to remove.",
              file=sys.stderr)
    return EXIT_OK


def check_once(args: argparse.Namespace) -> int:
    from .files import read_stream
    from .pipeline import at_severity, lint_each, lint_source
    from .reporters import FORMATS, RunInfo

    if args.output_format not in FORMATS:
        raise UsageError(
            f"unknown output format {args.output_format!r} (choose from {', '.join(FORMATS)})"
        )
    resolver = check_resolver(args)
    if args.show_settings:
        from .show import show_settings

        sys.stdout.write(show_settings(args.show_settings, resolver))
        return EXIT_OK
    if args.show_files:
        from .files import file_paths

        paths = sorted(path for path, _ in file_paths(args.paths, resolver.settings_for, args.force_exclude))
        write_stream(sys.stdout, "".join(p + "\n" for p in paths))
        return EXIT_OK
    if args.add_noqa:
        from .fixes.noqa import add_noqa

        if "-" in args.paths:
            raise UsageError("--add-noqa writes files: it cannot read stdin ('-')")
        added, files = add_noqa(args.paths, resolver.settings_for, args.force_exclude)
        if not args.quiet:
            print(f"Added {added} noqa directive{'s' if added != 1 else ''} in {files}"
                  f" file{'s' if files != 1 else ''}." if added else "No noqa directives added.")
        return EXIT_OK
    info = RunInfo(summary=not args.quiet, unsafe_fixes=args.unsafe_fixes, root=report_root(resolver))
    findings = []
    if "-" in args.paths:
        if args.paths != ["-"]:
            raise UsageError("'-' (stdin) cannot be mixed with other paths")
        if not args.stdin_filename:
            raise UsageError("reading stdin ('-') needs --stdin-filename, e.g. --stdin-filename train.py")
        name = args.stdin_filename
        settings = resolver.settings_for(name)
        if not (args.force_exclude and settings.is_excluded(name)):
            read = read_stream(sys.stdin, name, settings)
            info.files_checked = 1
            if read.shown is not None:
                info.sources[name] = read.shown
            if read.source is not None:
                if args.fix or args.diff:
                    from .fixes.cli import fix_stdin

                    run = fix_stdin(args, read.source, settings, info)
                    if args.diff:
                        return diff_out(run, args)
                    # the user's text, never escaped: in its own encoding (BOM, PEP 263) when stdout takes bytes
                    write_stream(sys.stdout, run.data if getattr(sys.stdout, "buffer", None) else run.text or "")
                    if args.fix_only:
                        return fix_only_out(args, info, sys.stderr)
                    return write_report(args, run.findings, info, sys.stderr)
                findings = lint_source(read.source, settings)
            elif read.problem is not None and read.problem.code in (rules := settings.rules_for(name)):
                findings = at_severity([read.problem], rules)
    elif args.fix or args.diff:
        from .fixes.cli import fix_paths

        run = fix_paths(args, resolver, info)
        if args.diff:  # the diff is the output
            return diff_out(run, args)
        if args.fix_only:
            return fix_only_out(args, info, sys.stdout)
        findings = run.findings
    else:
        cache = results_cache()
        for one in lint_each(args.paths, resolver.settings_for, args.force_exclude, args.workers, cache):
            info.files_checked += 1
            if one.findings and one.shown is not None:
                info.sources[one.path] = one.shown
            findings.extend(one.findings)
        findings.sort(key=lambda f: f.sort_key)
    return write_report(args, findings, info, sys.stdout)


def fix_only_out(args: argparse.Namespace, info, stream) -> int:
    """``--fix-only``: how many findings were fixed (and which, with ``--show-fixes``), nothing
    about what remains; exit 0, or 1 with ``--exit-non-zero-on-fix`` when something was fixed."""
    if args.show_fixes:
        write_stream(stream, fixed_list(info))
    elif not args.quiet:
        n = info.fixed
        write_stream(stream, f"Fixed {n} finding{'s' if n != 1 else ''}.\n" if n else "No findings fixed.\n")
    return EXIT_FINDINGS if args.exit_non_zero_on_fix and info.fixed else EXIT_OK


def diff_out(run, args: argparse.Namespace) -> int:
    """``--diff``: the diffs on stdout, what they would fix on stderr; exit 1 when there are any."""
    write_stream(sys.stdout, "".join(run.diffs))
    if not args.quiet:
        if run.would:
            print(f"Would fix {run.would} finding{'s' if run.would != 1 else ''}.", file=sys.stderr)
        else:
            print("No fixes to apply.", file=sys.stderr)
    return EXIT_FINDINGS if run.diffs else EXIT_OK


def write_report(args: argparse.Namespace, findings, info, stream) -> int:
    """The report of ``findings`` to ``--output-file`` or ``stream``; the exit code."""
    from .reporters import FORMATS, output_errors
    from .reporters.style import use_color

    if args.statistics:
        text = statistics(findings, info, args.output_format == "json")
    else:
        info.color = args.output_format in COLOR_FORMATS and not args.output_file and (
            use_color(stream) if args.color == "auto" else args.color == "always")
        info.byte_columns = args.column_unit == "byte"
        text = FORMATS[args.output_format](findings, info)
        if args.show_fixes and info.fixing and args.output_format in COLOR_FORMATS:
            text += fixed_list(info)
    if args.output_file:
        try:
            os.makedirs(os.path.dirname(args.output_file) or ".", exist_ok=True)
            with open(args.output_file, "w", encoding="utf-8", newline="\n",
                      errors=output_errors(args.output_format)) as f:
                f.write(text)
        except OSError as e:
            raise UsageError(f"cannot write {args.output_file}: {e.strerror or e}") from None
    else:
        write_stream(stream, text, output_errors(args.output_format))
    return exit_code(findings, args, info.fixed)


def exit_code(findings, args: argparse.Namespace, fixed: int = 0) -> int:
    """1 for a finding of severity warning or error (unless ``--exit-zero``), or for an applied
    fix with ``--exit-non-zero-on-fix``; else 0."""
    failing = any(f.severity.value != "info" for f in findings)
    if args.exit_non_zero_on_fix and fixed:
        return EXIT_FINDINGS
    return EXIT_FINDINGS if failing and not args.exit_zero else EXIT_OK


class OutputError(UsageError):
    """The output could not be written (a full disk, a closed pipe, a closed stream): exit 2."""


def fixed_list(info) -> str:
    """``--show-fixes``: what the fixes fixed, per file, as ruff lists it."""
    if not info.fixed_findings:
        return "No findings fixed.\n" if info.summary else ""
    n = len(info.fixed_findings)
    out = [f"Fixed {n} finding{'s' if n != 1 else ''}:"]
    by_file: dict[str, dict[tuple[str, str], int]] = {}
    for f in info.fixed_findings:
        rows = by_file.setdefault(f.path, {})
        rows[(f.code, f.name)] = rows.get((f.code, f.name), 0) + 1
    for path, rows in by_file.items():
        out.append(f"- {path}:")
        out += [f"    {k} × {code} ({name})" for (code, name), k in sorted(rows.items())]
    return "".join(x + "\n" for x in out)


def write_stream(stream, text: str | bytes, errors: str = "backslashreplace") -> None:
    """Write the report whatever the console's encoding: a character it cannot show (a file
    name's undecodable bytes, a non-ASCII path on an ASCII console) is written as an escape.
    Bytes go to the stream's buffer as they are. Raises ``OutputError`` when the stream fails."""
    try:
        if stream is None:
            raise OSError("the stream is closed")
        if isinstance(text, bytes):
            stream.flush()
            stream.buffer.write(text)
        else:
            try:
                stream.write(text)
            except UnicodeEncodeError:
                encoding = getattr(stream, "encoding", None) or "utf-8"
                stream.write(text.encode(encoding, errors).decode(encoding))
        stream.flush()
    except (OSError, ValueError) as e:  # ValueError: a closed file
        name = {1: "standard output", 2: "standard error"}.get(_fileno(stream), "the output")
        raise OutputError(f"cannot write to {name}: {getattr(e, 'strerror', None) or e}") from None


def _fileno(stream) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None


def _silence_stdout() -> None:
    """After a failed write, point standard output at the null device, so that the interpreter's
    own flush at exit does not fail again (with a traceback of its own)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):
        pass


def _say(message: str) -> None:
    try:
        print(message, file=sys.stderr)
    except (AttributeError, OSError, ValueError):  # stderr is gone too: the exit code says it
        pass


def run_rule(args: argparse.Namespace) -> int:
    from .docs import HEADER, page
    from .rules import all_rules

    rules = all_rules()
    if args.all:
        chosen = list(rules.values())
    elif args.rule:
        codes = resolve_selector(args.rule, rules)
        if len(codes) != 1:
            raise UsageError(f"{args.rule!r} names {len(codes)} rules; give one code or name")
        chosen = [rules[codes.pop()]]
    else:
        raise UsageError("give a rule code or name, or --all")
    if args.output_format == "json":
        data = [
            {"code": r.code, "name": r.name, "severity": r.severity.value, "summary": r.summary,
             "explanation": r.doc, "url": r.url, "needs_model": r.needs_model, "options": dict(r.options)}
            for r in chosen
        ]
        write_stream(sys.stdout, json.dumps(data if args.all else data[0], indent=2) + "\n")
    else:
        write_stream(sys.stdout, "\n".join(page(r).removeprefix(HEADER) for r in chosen))
    return EXIT_OK


def run_report(args: argparse.Namespace) -> int:
    from .report import collect, render

    resolver = resolver_from_args(args, base_model=args.base_model, offline=args.offline)
    rows, errors = collect(args.paths, resolver.settings_for)
    from .reporters import output_errors

    write_stream(sys.stdout, render(rows, args.output_format), output_errors(args.output_format))
    for e in errors:
        print(f"lora-lint: {e}", file=sys.stderr)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    argv = normalise_argv(sys.argv[1:] if argv is None else argv)
    parser = build_parser(argv[0] if argv[0] in COMMANDS else None)
    try:
        args = parser.parse_args(argv)
        if args.command == "rule":
            return run_rule(args)
        if args.command == "report":
            return run_report(args)
        if args.command == "lock":
            from .lock import run as run_lock

            return run_lock(args, resolver_from_args(args, offline=args.offline), write_report)
        if args.command == "clean":
            return run_clean(args)
        if args.command == "server":
            try:
                from .server import serve
            except ImportError as e:
                raise UsageError(f"the language server needs pygls ({e}): pip install 'lora-lint[lsp]'") from None
            return serve(args)
        return run_check(args)
    except OutputError as e:  # (a closed pipe included: the reader missed findings)
        _silence_stdout()
        _say(f"lora-lint: error: {e}")
        return EXIT_ERROR
    except UsageError as e:
        _say(f"lora-lint: error: {e}")
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except Exception as e:  # an internal failure is exit 2, never a silent pass
        import traceback

        traceback.print_exc()
        print(f"lora-lint: internal error: {type(e).__name__}: {e}", file=sys.stderr)
        return EXIT_ERROR


def entry() -> int:
    """The ``lora-lint`` program (``main`` is the in-process API). When a run imported torch to
    build a model, the interpreter's teardown of torch and transformers would add most of a
    second after the report is out: with the output flushed and the inventories already on disk,
    the process ends without it. The young-generation collections are made rarer: parsing
    allocates many short-lived objects and few cycles (a few percent of a run). What is loaded
    when it starts (the modules) stays until the exit, and is frozen: no collection walks it
    again. At the end every object is frozen: the collector's last pass at exit would walk all of
    them (the results cache's table, the findings, the modules) to free nothing the exit does not
    free anyway (7 ms of a 1,000-file run whose files are all in the results cache)."""
    import gc

    gc.freeze()
    gc.set_threshold(10_000, 10, 10)
    try:
        code = main()
    except SystemExit as e:  # argparse: --help, --version, a usage error
        code = e.code if isinstance(e.code, int) else EXIT_OK if e.code is None else EXIT_ERROR
    try:  # what is still buffered (argparse's output): a full disk shows here
        if sys.stdout is not None:
            sys.stdout.flush()
    except (OSError, ValueError) as e:
        _silence_stdout()
        _say(f"lora-lint: error: cannot write to standard output: {getattr(e, 'strerror', None) or e}")
        code = EXIT_ERROR
    if "torch" in sys.modules:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        except (OSError, ValueError):
            pass
        os._exit(code)
    gc.freeze()
    return code
