"""files -> sources -> LoraSite -> rules -> findings. One engine behind the CLI, the hook and the LSP."""

from __future__ import annotations

import os
import stat
import traceback
from collections.abc import Callable, Iterable, Iterator, Mapping

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
    """The file's text, an LL901 finding when it cannot be read, or None to skip it silently.

    Never blocks and never reads more than ``max-file-size`` bytes: a FIFO, a device or a socket
    under a config's name is not read (opened non-blocking, then checked), and a file that grows
    while it is read is cut off at the limit."""
    start = Span.point(1, 1)
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except OSError as e:
        if os.path.isdir(path):
            return None
        return finding("LL901", f"cannot read file: {e.strerror or e}", path, start)
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            return None
        if not stat.S_ISREG(st.st_mode):
            return finding("LL901", "not a regular file (a pipe, device or socket): not read", path, start)
        limit = settings.max_file_size
        if st.st_size > limit:
            return _too_big(path, limit, st.st_size)
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            return _too_big(path, limit)  # it grew while being read
        data = b"".join(chunks)
    except OSError as e:
        return finding("LL901", f"cannot read file: {e.strerror or e}", path, start)
    finally:
        os.close(fd)
    return decode(data, path)


def read_stream(stream, path: str, settings: Settings) -> str | Finding | None:
    """``read_text`` for a stream (stdin): the same size limit and decoding (a BOM, UTF-16, a
    PEP 263 line, invalid UTF-8 as LL901), whatever the console's encoding."""
    limit = settings.max_file_size
    raw = getattr(stream, "buffer", None)
    try:
        if raw is None:  # a text stream (an embedding program, tests)
            text = stream.read(limit + 1)
            return _too_big(path, limit) if len(text) > limit else text
        data = raw.read(limit + 1)
    except OSError as e:
        return finding("LL901", f"cannot read stdin: {e.strerror or e}", path, Span.point(1, 1))
    except UnicodeDecodeError as e:
        return finding("LL901", f"stdin is not valid text ({e.reason})", path, Span.point(1, 1))
    if len(data) > limit:
        return _too_big(path, limit)
    return decode(data, path)


def _too_big(path: str, limit: int, size: int | None = None) -> Finding:
    what = f"is {size:,} bytes," if size is not None else "is"
    return finding("LL901", f"file {what} above the {limit:,}-byte limit: not read"
                   " (raise `max-file-size` to lint it)", path, Span.point(1, 1))


#: Byte-order marks of the encodings no training framework reads a config in (UTF-32 first:
#: its little-endian mark starts with UTF-16's).
WIDE_BOMS = ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
             (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))


def decode(data: bytes, path: str) -> str | Finding | None:
    """The text of a file's bytes: UTF-8 (a BOM is dropped), or the encoding a Python file
    declares (PEP 263). Undecodable bytes are LL901 when the file looks like a LoRA config, and
    skipped silently otherwise; so is UTF-16/32, which the frameworks cannot read."""
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
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        declared = declared_text(data, path)
        if declared is not None:
            return declared
        if not any(m in data for m in LORA_MARKERS):
            return None
        line = data.count(b"\n", 0, e.start) + 1
        col = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        return finding("LL901", f"file is not valid UTF-8 ({e.reason} at byte {e.start})", path,
                       Span.point(line, col))
    if "\x00" in text and not any(m in data for m in LORA_MARKERS):
        return None
    return text


def declared_text(data: bytes, path: str) -> str | None:
    """A Python file in the encoding its ``# -*- coding: ... -*-`` line declares, else None."""
    from .sources import PYTHON_SUFFIXES

    if not path.lower().endswith(PYTHON_SUFFIXES):
        return None
    import codecs
    import io
    import tokenize

    try:
        encoding, _ = tokenize.detect_encoding(io.BytesIO(data).readline)
        if codecs.lookup(encoding).name == "utf-8":
            return None
        return data.decode(encoding)
    except (SyntaxError, LookupError, UnicodeError, ValueError):
        return None


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
    """``(inventory, analysis, None)`` for ``site``, or ``(None, None, finding)``: LL902 saying
    which model, why it could not be resolved and how to fix it (LL903 if that went wrong)."""
    from .models.context import context_for, unresolved_message

    try:
        ctx = context_for(site, settings)
    except Exception as exc:  # resolution must never take the run down
        return None, None, internal_error("model resolution", site.path, site.span, exc)
    if ctx.problem is not None:
        return None, None, finding("LL902", unresolved_message(ctx), site.path, site.span)
    return ctx.inventory, ctx.analysis, None


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
            try:
                model, analysis, unresolved = model_context(site, settings)
            except Exception as exc:  # a resolver or analysis bug must not take the run down
                model, analysis, unresolved = None, None, internal_error(
                    "the model analysis", site.path, site.span, exc)
            if unresolved is not None:
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
    """Findings for one file's text, after ``per-file-ignores`` and suppression comments."""
    from .suppressions import apply as apply_suppressions

    settings = settings or Settings()
    rules = settings.rules_for(path) if rules is None else rules
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
    found = [f for f in found if f.code in rules]
    try:
        found = apply_suppressions(path, text, found, rules)
    except Exception as exc:  # a bug there must not lose the findings
        if "LL903" in rules:
            found.append(internal_error("the suppression comments", path, Span.point(1, 1), exc))
    return sorted(found, key=lambda f: f.sort_key)


def lint_file(path: str, settings: Settings | None = None,
              rules: Mapping[str, Rule] | None = None) -> list[Finding]:
    settings = settings or Settings()
    rules = settings.rules_for(path) if rules is None else rules
    try:
        text = read_text(path, settings)
    except Exception as exc:  # a bug reading one file must not take the run down
        text = internal_error("reading the file", path, Span.point(1, 1), exc)
    if text is None:
        return []
    if isinstance(text, Finding):
        return [text] if text.code in rules else []
    return lint_text(path, text, settings, rules)


def lint_each(paths: Iterable[str], settings_for: Callable[[str], Settings],
              force_exclude: bool = False) -> Iterator[tuple[str, list[Finding]]]:
    """``(path, findings)`` for each file to lint. ``settings_for(path)`` gives each file its
    settings (its nearest config file); a file its ``exclude`` matches is skipped when found by
    walking a directory, and also when named explicitly if ``force_exclude``."""
    from .discovery import iter_files

    paths = list(paths)
    explicit = set(paths)
    for path in iter_files(paths):
        s = settings_for(path)
        if s.exclude and (force_exclude or path not in explicit) and s.is_excluded(path):
            continue
        yield path, lint_file(path, s)


def lint_paths(paths: Iterable[str], settings: Settings | None = None,
               settings_for: Callable[[str], Settings] | None = None,
               force_exclude: bool = False) -> list[Finding]:
    if settings_for is None:
        settings = settings or Settings()
        settings_for = lambda _path: settings  # noqa: E731
    out = [f for _, found in lint_each(paths, settings_for, force_exclude) for f in found]
    return sorted(out, key=lambda f: f.sort_key)
