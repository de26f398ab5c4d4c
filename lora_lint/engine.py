"""files -> sources -> LoraSite -> rules -> findings. One engine behind the CLI, the hook and the LSP."""

from __future__ import annotations

import dataclasses
import os
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from .bounded_read import FileTooLarge, NotRegularFile, read_regular_file
from .model import Finding, LoraSite, Span
from .registry import REPOSITORY, Context, Rule, all_rules
from .settings import Settings
from .sources import SourceError, sites_for

#: Bytes that a file holding a LoRA config contains; an undecodable file without them is skipped.
LORA_MARKERS = (b"lora", b"LoRA", b"Lora", b"LORA", b"peft", b"get_peft_model")


def finding(code: str, message: str, path: str, span: Span) -> Finding:
    r = all_rules()[code]
    return Finding(r.code, r.name, r.severity, message, path, span)


def read_text(path: str, settings: Settings) -> str | Finding | None:
    """The file's text, an LL901 finding when it cannot be read, or None to skip it silently.
    (``read_bytes``, then ``decode``.)"""
    got = read_bytes(path, settings)
    return decode(got[0], path) if isinstance(got, tuple) else got


def read_bytes(path: str, settings: Settings) -> tuple[bytes, os.stat_result] | Finding | None:
    """The file's bytes and its status when it was opened, an LL901 finding when it cannot be
    read, or None to skip it silently (a directory).

    Never blocks and never reads more than ``max-file-size`` bytes (``bounded_read``): a FIFO, a
    device or a socket under a config's name is not read, and a file that grows while it is
    read is cut off at the limit."""
    start = Span.point(1, 1)
    try:
        return read_regular_file(path, settings.max_file_size)
    except NotRegularFile as e:
        if e.is_dir:
            return None
        return finding("LL901", "not a regular file (a pipe, device or socket): not read", path, start)
    except FileTooLarge as e:
        return too_large(path, e.limit, e.size)
    except OSError as e:
        if os.path.isdir(path):
            return None
        return finding("LL901", f"cannot read file: {e.strerror or e}", path, start)


def stream_bytes(stream, path: str, settings: Settings) -> bytes | str | Finding:
    """``read_bytes`` for a stream (stdin): its bytes (its text when it has no byte buffer: an
    embedding program, tests; ``decode`` the bytes), or an LL901 finding: above
    ``max-file-size``, or unreadable."""
    limit = settings.max_file_size
    raw = getattr(stream, "buffer", None)
    try:
        if raw is None:
            text = stream.read(limit + 1)
            return too_large(path, limit) if len(text) > limit else text
        data = raw.read(limit + 1)
    except OSError as e:
        return finding("LL901", f"cannot read stdin: {e.strerror or e}", path, Span.point(1, 1))
    except UnicodeDecodeError as e:
        return finding("LL901", f"stdin is not valid text ({e.reason})", path, Span.point(1, 1))
    return too_large(path, limit) if len(data) > limit else data


def too_large(path: str, limit: int, size: int | None = None) -> Finding:
    """LL901: a file above ``max-file-size`` (``size`` bytes when known), not read."""
    what = f"is {size:,} bytes," if size is not None else "is"
    return finding("LL901", f"file {what} above the {limit:,}-byte limit: not read"
                   " (raise `max-file-size` to lint it)", path, Span.point(1, 1))


#: Byte-order marks of the encodings no training framework reads a config in (UTF-32 first:
#: its little-endian mark starts with UTF-16's).
WIDE_BOMS = ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
             (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


def decode(data: bytes, path: str) -> str | Finding | None:
    """The text of a file's bytes, in its ``encoding.detect`` encoding: UTF-8 (a BOM is dropped),
    or the encoding a Python file declares (PEP 263). Undecodable bytes are LL901 when the file
    looks like a LoRA config, and skipped silently otherwise; so is UTF-16/32, which the
    frameworks cannot read."""
    from .encoding import UTF8_BOM, detect
    from .sources import PYTHON_SUFFIXES

    for bom, encoding in WIDE_BOMS:
        if data.startswith(bom):
            try:
                wide = data.decode(encoding)
            except UnicodeDecodeError:
                return None
            if not any(m.decode() in wide for m in LORA_MARKERS):
                return None
            return finding("LL901", f"file is {encoding.upper()} (it starts with a {encoding.upper()}"
                           " byte-order mark): training frameworks read configs as UTF-8; save it"
                           " as UTF-8", path, Span.point(1, 1))
    try:
        text = detect(data, path.lower().endswith(PYTHON_SUFFIXES)).decode(data)
    except UnicodeDecodeError as e:
        if not any(m in data for m in LORA_MARKERS):
            return None
        body = data[len(UTF8_BOM):] if data.startswith(UTF8_BOM) else data
        line = body.count(b"\n", 0, e.start) + 1
        col = e.start - (body.rfind(b"\n", 0, e.start) + 1) + 1
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
        f" Please report it at {REPOSITORY}/issues",
        path, span,
    )


def model_context(site: LoraSite, settings: Settings, defer: bool = False):
    """``(inventory, analysis, None)`` for ``site``, or ``(None, None, finding)``: LL902 saying
    which model, why it could not be resolved and how to fix it (LL903 if that went wrong).
    With ``defer``, ``(None, None, DEFER_HUB or DEFER_BUILD)`` when only the Hub or a meta build
    can tell."""
    from .models.context import context_for, unresolved_message

    try:
        ctx = context_for(site, settings, defer=defer)
    except Exception as exc:  # resolution must never take the run down
        return None, None, internal_error("model resolution", site.path, site.span, exc)
    if ctx.deferred:
        return None, None, DEFER_BUILD if ctx.deferred == "build" else DEFER_HUB
    if ctx.problem is not None:
        return None, None, finding("LL902", unresolved_message(ctx), site.path, site.span)
    return ctx.inventory, ctx.analysis, None


class Deferred:
    """``model_context(..., defer=True)``: the site's model rules wait for the parent process,
    which asks the Hub (``DEFER_HUB``) or builds the model (``DEFER_BUILD``)."""

    def __init__(self, build: bool) -> None:
        self.build = build


DEFER_HUB, DEFER_BUILD = Deferred(False), Deferred(True)


#: How far the model rules go: ``all`` resolves, fetches and builds what it must; ``cached`` only
#: uses what is at hand (a cached or prebuilt inventory, no Hub); ``none`` defers every site.
MODELS = ("all", "cached", "none")


def _check(sites: list[LoraSite], settings: Settings, rules: Mapping[str, Rule], document=None,
           models: str = "all", model_only: bool = False) -> tuple[list[Finding], list[tuple[LoraSite, bool]]]:
    """Findings of ``rules`` on ``sites``, and the sites whose model rules (the rules that need or
    use the model) wait because ``models`` did not allow what their model takes, each with
    whether it needs a build; their other rules have run. ``model_only``: run the model rules
    only (the second half of a deferred site)."""
    out: list[Finding] = []
    deferred: list[tuple[LoraSite, bool]] = []  # (site, needs a build)
    model_rules = [r for r in rules.values() if r.needs_model or r.uses_model]
    for site in sites:
        model = analysis = None
        waiting = False
        # An inactive site's LoRA settings do not take effect (adapter switched off, adapter
        # resumed): only its dialect notes are reported, so there is no model to resolve.
        if model_rules and site.active:
            if models == "none":
                unresolved = DEFER_HUB  # not even looked at: the parent process will
            else:
                try:
                    model, analysis, unresolved = model_context(site, settings, models == "cached")
                except Exception as exc:  # a resolver or analysis bug must not take the run down
                    model, analysis, unresolved = None, None, internal_error(
                        "the model analysis", site.path, site.span, exc)
            if isinstance(unresolved, Deferred):
                deferred.append((site, unresolved.build))
                waiting = True
            elif unresolved is not None:
                out.append(unresolved)
        for r in rules.values():
            if r.dialects is not None and site.dialect.name not in r.dialects:
                continue
            if r.needs_model and model is None:
                continue
            about_model = r.needs_model or r.uses_model
            if (waiting and about_model) or (model_only and not about_model):
                continue
            ctx = Context(options=settings.options_for(r), model=model, analysis=analysis,
                          document=document)
            try:
                found = r.run(site, ctx)
                if about_model and model is not None and found:
                    facts = model_facts(model)
                    found = [dataclasses.replace(f, facts=facts) for f in found]
                out.extend(found)
            except Exception as exc:  # a rule bug must not take the run down
                out.append(internal_error(f"rule {r.code} ({r.name})", site.path, site.span, exc))
    return out, deferred


def model_facts(model) -> tuple[tuple[str, str], ...]:
    """The transformers and peft versions an inventory's facts (and our replay of peft) came from."""
    versions = getattr(model, "versions", None) or {}
    return tuple((k, str(versions[k])) for k in ("transformers", "peft") if versions.get(k))


@dataclass
class Partial:
    """One file on its way: ``deferred`` sites still need their model rules; until they have run
    ``findings`` are not final and ``text`` is kept for the suppression comments."""

    path: str
    findings: list[Finding]
    deferred: list[LoraSite] = field(default_factory=list)
    text: str | None = None
    builds: bool = False  # some deferred site needs a meta build (torch and transformers)


def _directives_possible(text: str) -> bool:
    return "lora-lint" in text or "noqa" in text.lower()


def lint_partial(path: str, text: str, settings: Settings,
                 rules: Mapping[str, Rule] | None = None, models: str = "all") -> Partial:
    """One file's text: sources, the rules that need no model, and the model rules of every
    site whose model ``models`` allows (see ``MODELS``); the others are left deferred."""
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
        if not sites and not _directives_possible(text):
            return Partial(path, [])  # the common case: no rule, not even the registry, is loaded
        from .fixes.document import Document

        rules = settings.rules_for(path) if rules is None else rules
        found, deferred = _check(sites, settings, rules, Document(path, text) if sites else None, models)
        if deferred:
            return Partial(path, found, [d[0] for d in deferred], text, any(d[1] for d in deferred))
    rules = settings.rules_for(path) if rules is None else rules
    return Partial(path, _final(path, text, found, rules))


def advance(partial: Partial, settings: Settings, rules: Mapping[str, Rule] | None = None,
            models: str = "cached") -> Partial:
    """The model rules of the deferred sites whose model ``models`` allows; the partial is final
    (suppressions applied) when none is left."""
    if not partial.deferred:
        return partial
    from .fixes.document import Document

    rules = settings.rules_for(partial.path) if rules is None else rules
    text = partial.text or ""
    more, still = _check(partial.deferred, settings, rules, Document(partial.path, text), models, model_only=True)
    found = partial.findings + more
    if still:
        return Partial(partial.path, found, [d[0] for d in still], partial.text, any(d[1] for d in still))
    return Partial(partial.path, _final(partial.path, text, found, rules))


def finish(partial: Partial, settings: Settings, rules: Mapping[str, Rule] | None = None) -> list[Finding]:
    """The last step: the remaining model rules (models resolved, fetched and built here, each
    once per process), then the suppressions."""
    return advance(partial, settings, rules, "all").findings


def _final(path: str, text: str, found: list[Finding], rules: Mapping[str, Rule]) -> list[Finding]:
    from .suppressions import apply as apply_suppressions

    found = [f for f in found if f.code in rules]
    try:
        found = apply_suppressions(path, text, found, rules)
    except Exception as exc:  # a bug there must not lose the findings
        if "LL903" in rules:
            found.append(internal_error("the suppression comments", path, Span.point(1, 1), exc))
    return sorted(found, key=lambda f: f.sort_key)


def lint_text(path: str, text: str, settings: Settings | None = None,
              rules: Mapping[str, Rule] | None = None) -> list[Finding]:
    """Findings for one file's text, after ``per-file-ignores`` and suppression comments."""
    settings = settings or Settings()
    return lint_partial(path, text, settings, rules).findings


def read_safely(path: str, settings: Settings) -> str | Finding | None:
    """``read_text``, with a bug in reading or decoding one file reported as LL903 for that file."""
    try:
        return read_text(path, settings)
    except Exception as exc:  # a bug reading one file must not take the run down
        return internal_error("reading the file", path, Span.point(1, 1), exc)


def lint_file(path: str, settings: Settings | None = None,
              rules: Mapping[str, Rule] | None = None) -> list[Finding]:
    settings = settings or Settings()
    text = read_safely(path, settings)
    if text is None:
        return []
    if isinstance(text, Finding):
        rules = settings.rules_for(path) if rules is None else rules
        return [text] if text.code in rules else []
    return lint_text(path, text, settings, rules)


def lint_each(paths: Iterable[str], settings_for: Callable[[str], Settings],
              force_exclude: bool = False, workers: int = 1) -> Iterator[tuple[str, list[Finding]]]:
    """``(path, findings)`` for each file to lint, in discovery order. ``settings_for(path)``
    gives each file its settings (its nearest config file); a file its ``exclude`` matches is
    skipped when found by walking a directory, and also when named explicitly if
    ``force_exclude``. ``workers``: processes for parsing (0: as many as pay; see ``pipeline``)."""
    from .pipeline import lint_each as run

    yield from run(paths, settings_for, force_exclude, workers)


def lint_paths(paths: Iterable[str], settings: Settings | None = None,
               settings_for: Callable[[str], Settings] | None = None,
               force_exclude: bool = False, workers: int = 1) -> list[Finding]:
    if settings_for is None:
        settings = settings or Settings()
        settings_for = lambda _path: settings  # noqa: E731
    out = [f for _, found in lint_each(paths, settings_for, force_exclude, workers) for f in found]
    return sorted(out, key=lambda f: f.sort_key)
