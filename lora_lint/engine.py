"""files -> sources -> LoraSite -> rules -> findings. One engine behind the CLI, the hook and the LSP."""

from __future__ import annotations

import os
import traceback
from collections.abc import Iterable, Mapping

from .model import Finding, LoraSite, Span
from .registry import Context, Rule, all_rules
from .settings import Settings
from .sources import SourceError, sites_for

#: Bytes that a file holding a LoRA config contains; an undecodable file without them is skipped.
LORA_MARKERS = (b"lora", b"LoRA", b"Lora", b"LORA", b"peft", b"get_peft_model")


def finding(code: str, message: str, path: str, span: Span) -> Finding:
    r = all_rules()[code]
    return Finding(r.code, r.name, r.severity, message, path, span)


def read_text(path: str, settings: Settings) -> str | Finding | None:
    """The file's text, an LL901 finding when it cannot be read, or None to skip it silently."""
    start = Span.point(1, 1)
    try:
        size = os.path.getsize(path)
        if size > settings.max_file_size:
            return finding(
                "LL901",
                f"file is {size:,} bytes, above the {settings.max_file_size:,}-byte limit: not read"
                " (raise `max-file-size` to lint it)",
                path, start,
            )
        with open(path, "rb") as f:
            data = f.read()
    except IsADirectoryError:
        return None
    except OSError as e:
        return finding("LL901", f"cannot read file: {e.strerror or e}", path, start)
    return decode(data, path)


def decode(data: bytes, path: str) -> str | Finding | None:
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        if not any(m in data for m in LORA_MARKERS):
            return None
        line = data.count(b"\n", 0, e.start) + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        return finding("LL901", f"file is not valid UTF-8 ({e.reason} at byte {e.start})", path,
                       Span.point(line, col))
    if "\x00" in text and not any(m in data for m in LORA_MARKERS):
        return None
    return text


def internal_error(where: str, path: str, span: Span, exc: BaseException) -> Finding:
    last = traceback.extract_tb(exc.__traceback__)[-1:] if exc.__traceback__ else []
    at = f" at {os.path.basename(last[0].filename)}:{last[0].lineno}" if last else ""
    return finding(
        "LL903",
        f"internal error in {where} on this file: {type(exc).__name__}: {exc}{at}."
        " Please report it at https://github.com/lora-lint/lora-lint/issues",
        path, span,
    )


def model_context(site: LoraSite, settings: Settings):
    """The model inventory and matching analysis for ``site``, or an LL902 finding.

    Model-aware analysis plugs in here; until a base model can be resolved, model rules are
    skipped for the site.
    """
    return None, None, None


def check_sites(
    sites: list[LoraSite], settings: Settings, rules: Mapping[str, Rule]
) -> list[Finding]:
    out: list[Finding] = []
    model_rules = [r for r in rules.values() if r.needs_model]
    for site in sites:
        model = analysis = None
        # An inactive site's LoRA settings do not take effect (adapter switched off, adapter
        # resumed): only its dialect notes are reported, so there is no model to resolve.
        if model_rules and "inactive" not in site.features:
            model, analysis, unresolved = model_context(site, settings)
            if unresolved is not None and "LL902" in rules:
                out.append(unresolved)
        for r in rules.values():
            if r.dialects is not None and site.dialect not in r.dialects:
                continue
            if r.needs_model and model is None:
                continue
            ctx = Context(options=settings.options_for(r), model=model, analysis=analysis)
            try:
                out.extend(r.run(site, ctx))
            except Exception as exc:  # a rule bug must not take the run down
                out.append(internal_error(f"rule {r.code} ({r.name})", site.path, site.span, exc))
    return out


def lint_text(path: str, text: str, settings: Settings | None = None,
              rules: Mapping[str, Rule] | None = None) -> list[Finding]:
    settings = settings or Settings()
    rules = settings.selected() if rules is None else rules
    try:
        sites = sites_for(path, text)
    except SourceError as e:
        found = [finding("LL901", e.message, path, e.span)]
    except RecursionError as exc:
        found = [finding("LL901", "file is nested too deeply to parse", path, Span.point(1, 1))]
        del exc
    except Exception as exc:
        found = [internal_error("the source reader", path, Span.point(1, 1), exc)]
    else:
        found = check_sites(sites, settings, rules)
    return sorted((f for f in found if f.code in rules), key=lambda f: f.sort_key)


def lint_file(path: str, settings: Settings | None = None,
              rules: Mapping[str, Rule] | None = None) -> list[Finding]:
    settings = settings or Settings()
    rules = settings.selected() if rules is None else rules
    text = read_text(path, settings)
    if text is None:
        return []
    if isinstance(text, Finding):
        return [text] if text.code in rules else []
    return lint_text(path, text, settings, rules)


def lint_paths(paths: Iterable[str], settings: Settings | None = None) -> list[Finding]:
    from .discovery import iter_files

    settings = settings or Settings()
    rules = settings.selected()
    out: list[Finding] = []
    for path in iter_files(paths):
        out.extend(lint_file(path, settings, rules))
    return sorted(out, key=lambda f: f.sort_key)
