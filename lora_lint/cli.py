"""Command line: ``lora-lint [check] PATH...``, ``lora-lint rule CODE|NAME``. Exit 0/1/2 as ruff."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from . import __version__
from .settings import Settings, UsageError, resolve_selector, split_selectors

SUBCOMMANDS = ("check", "rule")
EXIT_OK, EXIT_FINDINGS, EXIT_ERROR = 0, 1, 2


class _Parser(argparse.ArgumentParser):
    def error(self, message: str):  # argparse exits 2 on usage errors, as ruff does
        self.print_usage(sys.stderr)
        self.exit(EXIT_ERROR, f"lora-lint: error: {message}\n")


def add_check_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("paths", nargs="*", default=["."], metavar="PATH",
                   help="files or directories to lint (default: .)")
    p.add_argument("--select", action="append", metavar="RULES",
                   help="comma-separated codes, code prefixes or names to enable (replaces the default)")
    p.add_argument("--extend-select", action="append", metavar="RULES",
                   help="codes, prefixes or names to enable on top of --select")
    p.add_argument("--ignore", action="append", metavar="RULES",
                   help="codes, prefixes or names to disable")
    p.add_argument("--output-format", default="concise", metavar="FORMAT",
                   help="concise (default) or json")
    p.add_argument("--exit-zero", action="store_true",
                   help="exit 0 even when findings of severity warning or error are reported")
    p.add_argument("--base-model", metavar="ID_OR_PATH",
                   help="base model to assume for every config (overrides what configs name)")
    p.add_argument("--offline", action="store_true", help="never contact the Hugging Face Hub")
    p.add_argument("-q", "--quiet", action="store_true", help="print findings only, no summary")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="lora-lint", description="Lint LoRA fine-tuning configs before the weights download.")
    parser.add_argument("--version", action="version", version=f"lora-lint {__version__}")
    sub = parser.add_subparsers(dest="command", parser_class=_Parser)
    add_check_args(sub.add_parser("check", help="lint files and directories (the default command)"))
    rule = sub.add_parser("rule", help="print a rule's documentation")
    rule.add_argument("rule", nargs="?", metavar="CODE|NAME")
    rule.add_argument("--all", action="store_true", help="print every rule")
    rule.add_argument("--output-format", default="text", choices=("text", "json"))
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


def settings_from_args(args: argparse.Namespace) -> Settings:
    s = Settings()
    if args.select:
        s.select = split_selectors(args.select)
    s.extend_select = split_selectors(args.extend_select)
    s.ignore = split_selectors(args.ignore)
    s.base_model = args.base_model
    s.offline = args.offline
    return s


def run_check(args: argparse.Namespace) -> int:
    from .engine import lint_paths
    from .reporters import FORMATS, RunInfo

    if args.output_format not in FORMATS:
        raise UsageError(
            f"unknown output format {args.output_format!r} (choose from {', '.join(FORMATS)})"
        )
    settings = settings_from_args(args)
    settings.selected()  # validate selectors before any work
    findings = lint_paths(args.paths, settings)
    text = FORMATS[args.output_format](findings, RunInfo())
    if args.quiet and args.output_format == "concise":
        text = "".join(line + "\n" for line in text.splitlines()[:-1])
    sys.stdout.write(text)
    failing = any(f.severity.value != "info" for f in findings)
    return EXIT_FINDINGS if failing and not args.exit_zero else EXIT_OK


def run_rule(args: argparse.Namespace) -> int:
    from .docs import HEADER, page
    from .registry import all_rules

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
        sys.stdout.write(json.dumps(data if args.all else data[0], indent=2) + "\n")
    else:
        sys.stdout.write("\n".join(page(r).removeprefix(HEADER) for r in chosen))
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(normalise_argv(argv))
    try:
        if args.command == "rule":
            return run_rule(args)
        return run_check(args)
    except UsageError as e:
        print(f"lora-lint: error: {e}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return EXIT_OK
    except Exception as e:  # an internal failure is exit 2, never a silent pass
        import traceback

        traceback.print_exc()
        print(f"lora-lint: internal error: {type(e).__name__}: {e}", file=sys.stderr)
        return EXIT_ERROR
