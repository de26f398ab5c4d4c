"""Command line: ``lora-lint [check] PATH...``, ``lora-lint rule CODE|NAME``, ``lora-lint report``,
``lora-lint lock`` (the model lock), ``lora-lint server`` (LSP). Exit 0/1/2 as ruff."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence

from . import __version__
from .settings import UsageError, resolve_selector, split_selectors

SUBCOMMANDS = ("check", "rule", "report", "lock", "server")
EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2
OUTPUT_FORMATS = ("concise", "full", "grouped", "json", "json-lines", "sarif", "github", "gitlab", "junit")
COLOR_FORMATS = ("concise", "full", "grouped")


class _Parser(argparse.ArgumentParser):
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
    out = p.add_argument_group("output")
    out.add_argument("--output-format", default=os.environ.get("LORA_LINT_OUTPUT_FORMAT", "concise"),
                     metavar="FORMAT", help=f"{', '.join(OUTPUT_FORMATS)} (default: concise)")
    out.add_argument("-o", "--output-file", metavar="PATH", help="write the report to PATH")
    out.add_argument("--statistics", action="store_true",
                     help="print the number of findings per rule instead of the findings")
    out.add_argument("-q", "--quiet", action="store_true", help="print findings only, no summary")
    out.add_argument("--exit-zero", action="store_true",
                     help="exit 0 even when findings of severity warning or error are reported")
    files = p.add_argument_group("files and configuration")
    files.add_argument("--stdin-filename", metavar="PATH",
                       help="the name of the file read from stdin ('-'): its type, config and report name")
    files.add_argument("--extend-exclude", action="append", metavar="GLOBS",
                       help="more files and directories to skip (comma-separated globs)")
    files.add_argument("--force-exclude", action="store_true",
                       help="apply exclusions to files named explicitly too (for pre-commit and editors)")
    files.add_argument("--config", action="append", metavar="FILE|KEY=VALUE",
                       help="use this config file for every file, or override one setting "
                            "(TOML: --config 'rslora-min-rank = 48')")
    files.add_argument("--isolated", action="store_true", help="ignore every config file")
    files.add_argument("--base-model", metavar="ID_OR_PATH",
                       help="base model to assume for every config (overrides what configs name)")
    files.add_argument("--offline", action="store_true", help="never contact the Hugging Face Hub")
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


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="lora-lint", description="Lint LoRA fine-tuning configs before the weights download.")
    parser.add_argument("--version", action="version", version=f"lora-lint {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    add_check_args(sub.add_parser("check", help="lint files and directories (the default command)"))
    rule = sub.add_parser("rule", help="print a rule's documentation")
    rule.add_argument("rule", nargs="?", metavar="CODE|NAME")
    rule.add_argument("--all", action="store_true", help="print every rule")
    rule.add_argument("--output-format", default="text", choices=("text", "json"))
    report = sub.add_parser("report", help="per LoRA config: base model, trainable parameters, adapter size")
    report.add_argument("paths", nargs="*", default=["."], metavar="PATH")
    report.add_argument("--output-format", default="text", choices=("text", "json"))
    report.add_argument("--base-model", metavar="ID_OR_PATH", help="base model to assume for every config")
    report.add_argument("--offline", action="store_true", help="never contact the Hugging Face Hub")
    report.add_argument("--config", action="append", metavar="FILE|KEY=VALUE",
                        help="use this config file, or override one setting")
    report.add_argument("--isolated", action="store_true", help="ignore every config file")
    lock = sub.add_parser("lock", help="pin the base model of every config in .lora-lint/models/ (used by every"
                                       " run, with or without torch)")
    lock.add_argument("paths", nargs="*", metavar="PATH",
                      help="files or directories to lock the models of (default: the whole repository)")
    lock.add_argument("--check", action="store_true",
                      help="write nothing; exit 1 (with LL905 findings) when the lock is missing or stale")
    lock.add_argument("-U", "--upgrade", action="store_true",
                      help="resolve locked Hub models again instead of keeping their locked config")
    lock.add_argument("--offline", action="store_true", help="never contact the Hugging Face Hub")
    lock.add_argument("--config", action="append", metavar="FILE|KEY=VALUE",
                      help="use this config file, or override one setting")
    lock.add_argument("--isolated", action="store_true", help="ignore every config file")
    lock.add_argument("--output-format", default="concise", choices=OUTPUT_FORMATS,
                      help="the format of --check's findings (default: concise)")
    lock.add_argument("-q", "--quiet", action="store_true", help="print findings only, no summary")
    lock.set_defaults(statistics=False, output_file=None, exit_zero=False)
    server = sub.add_parser("server", help="run the language server (LSP over stdio) for editors")
    server.add_argument("--stdio", action="store_true", help="talk over stdin/stdout (the default)")
    server.add_argument("--offline", action="store_true", help="never contact the Hugging Face Hub")
    server.add_argument("--isolated", action="store_true", help="ignore every config file")
    return parser


def normalise_argv(argv: Sequence[str]) -> list[str]:
    """``lora-lint PATH...`` is ``lora-lint check PATH...``."""
    argv = list(argv)
    if not argv:
        return ["check"]
    first = argv[0]
    if first in SUBCOMMANDS or first in ("-h", "--help", "--version"):
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
        extend_exclude=split_selectors(args.extend_exclude),
        base_model=args.base_model,
        offline=args.offline,
        report_unused_suppressions=args.report_unused_suppressions,
    )


def statistics(findings, as_json: bool) -> str:
    """ruff's ``--statistics``: the count per rule, most frequent first."""
    counts: dict[tuple[str, str], int] = {}
    for f in findings:
        counts[(f.code, f.name)] = counts.get((f.code, f.name), 0) + 1
    rows = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0][0]))
    if as_json:
        data = [{"code": c, "name": n, "count": k} for (c, n), k in rows]
        return json.dumps(data, indent=2) + "\n"
    width = max((len(str(k)) for _, k in rows), default=1)
    return "".join(f"{str(k).rjust(width)}\t{c}\t{n}\n" for (c, n), k in rows)


def run_check(args: argparse.Namespace) -> int:
    from .files import read_stream
    from .pipeline import lint_each, lint_source
    from .reporters import FORMATS, RunInfo

    if args.output_format not in FORMATS:
        raise UsageError(
            f"unknown output format {args.output_format!r} (choose from {', '.join(FORMATS)})"
        )
    resolver = check_resolver(args)
    info = RunInfo(summary=not args.quiet, unsafe_fixes=args.unsafe_fixes)
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
                    return write_report(args, run.findings, info, sys.stderr)
                findings = lint_source(read.source, settings)
            elif read.problem is not None and read.problem.code in settings.rules_for(name):
                findings = [read.problem]
    elif args.fix or args.diff:
        from .fixes.cli import fix_paths

        run = fix_paths(args, resolver, info)
        if args.diff:  # the diff is the output
            return diff_out(run, args)
        findings = run.findings
    else:
        for one in lint_each(args.paths, resolver.settings_for, args.force_exclude, args.workers):
            info.files_checked += 1
            if one.findings and one.shown is not None:
                info.sources[one.path] = one.shown
            findings.extend(one.findings)
        findings.sort(key=lambda f: f.sort_key)
    return write_report(args, findings, info, sys.stdout)


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
        text = statistics(findings, args.output_format == "json")
    else:
        info.color = (args.output_format in COLOR_FORMATS and not args.output_file
                      and use_color(stream))
        text = FORMATS[args.output_format](findings, info)
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
    return exit_code(findings, args)


def exit_code(findings, args: argparse.Namespace) -> int:
    failing = any(f.severity.value != "info" for f in findings)
    return EXIT_FINDINGS if failing and not args.exit_zero else EXIT_OK


class OutputError(UsageError):
    """The output could not be written (a full disk, a closed pipe, a closed stream): exit 2."""


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
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    try:
        args = parser.parse_args(normalise_argv(argv))
        if args.command == "rule":
            return run_rule(args)
        if args.command == "report":
            return run_report(args)
        if args.command == "lock":
            from .lock import run as run_lock

            return run_lock(args, resolver_from_args(args, offline=args.offline), write_report)
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
    allocates many short-lived objects and few cycles (a few percent of a run)."""
    import gc

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
    return code
