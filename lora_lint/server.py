"""``lora-lint server``: a language server (LSP over stdio, pygls) over the same engine.

* Diagnostics on open, change and save of Python, YAML and JSON documents: ``pipeline.lint_source``
  on the editor's text with the file's own settings (its nearest config file, as ``check`` uses).
  Linting runs on one worker thread, so the server keeps answering; a result for a version the
  editor has moved past is dropped.
* Code actions: a quick fix for each finding with a fix (the unsafe ones say so in their title),
  and ``source.fixAll.lora-lint``: every safe fix, as ``--fix`` would apply them.
* Hover on a ``LoraConfig(...)`` call or a YAML/JSON LoRA block: the ``report`` line (r, α,
  scaling, trainable parameters and their share of the base model, adapter size).
* Notebooks opened as notebook documents (LSP 3.17 ``notebookDocument/*``, advertised for
  ``jupyter-notebook`` with Python cells): the code cells are read as one script, as ``check``
  reads a ``.ipynb``; diagnostics are published per cell document, and quick fixes, fix-all and
  hover work in the cell's own coordinates. A ``.ipynb`` sent as a plain text document (its JSON)
  gets its diagnostics at the JSON text of the cells' source.

Positions: lora-lint counts characters; LSP columns are in the encoding the client negotiated
(UTF-16 unless it offers another), converted per line.
"""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from lsprotocol import types as t
from pygls.lsp.server import LanguageServer

from . import __version__
from .model import Finding, Fix, Severity, Span
from .source_file import Kind, SourceFile
from .sources import SourceError, is_source, presented

SEVERITY = {Severity.ERROR: t.DiagnosticSeverity.Error, Severity.WARNING: t.DiagnosticSeverity.Warning,
            Severity.INFO: t.DiagnosticSeverity.Information}
FIX_ALL = f"{t.CodeActionKind.SourceFixAll.value}.lora-lint"
NOTEBOOK_SYNC = t.NotebookDocumentSyncOptions(notebook_selector=[t.NotebookDocumentFilterWithCells(
    notebook="jupyter-notebook", cells=[t.NotebookCellLanguage(language="python")])], save=True)


class LoraLintServer(LanguageServer):
    def __init__(self, offline: bool = False, isolated: bool = False):
        super().__init__("lora-lint", __version__, text_document_sync_kind=t.TextDocumentSyncKind.Incremental,
                         notebook_document_sync=NOTEBOOK_SYNC)
        from .config import Overrides, Resolver

        self.resolver = Resolver(Overrides(offline=offline), isolated=isolated)
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lora-lint")
        self.results: dict[str, tuple[int | None, str, list[Finding]]] = {}
        self.running: set[str] = set()
        self.dirty: set[str] = set()
        self.cells: dict[str, set[str]] = {}  # notebook uri -> the cell documents given diagnostics

    # -- running the engine (on the worker thread) ------------------------------------------------

    def settings(self, path: str):
        return self.resolver.settings_for(path)

    def lint(self, source: SourceFile) -> list[Finding]:
        from .pipeline import lint_source

        settings = self.settings(source.path)
        if settings.exclude and settings.is_excluded(source.path):
            return []
        big = self.too_big(source)
        if big is not None:
            return [big] if big.code in settings.rules_for(source.path) else []
        # a finding in another file (a YAML file the script reads) is that document's to show
        return [f for f in lint_source(source, settings) if f.path == source.path]

    def too_big(self, source: SourceFile) -> Finding | None:
        """LL901 when the editor's text is above ``max-file-size`` in UTF-8 (as ``check`` refuses
        such a file without reading it), else None."""
        from .files import too_large

        settings = self.settings(source.path)
        limit, text = settings.max_file_size, source.text
        if len(text) <= limit // 4:  # (a character is 4 bytes at most)
            return None
        size = len(text) if len(text) > limit else len(text.encode("utf-8", "surrogatepass"))
        return too_large(source.path, settings, size) if size > limit else None

    async def run(self, fn, *args) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self.worker, fn, *args)

    def units(self, text: str) -> int:
        encoding = self.workspace.position_encoding
        if encoding == t.PositionEncodingKind.Utf8:
            return len(text.encode("utf-8", "surrogatepass"))
        if encoding == t.PositionEncodingKind.Utf32:
            return len(text)
        return len(text.encode("utf-16-le", "surrogatepass")) // 2

    def position(self, doc: SourceFile, line: int, col: int) -> t.Position:
        """An LSP position of a 1-based line and character column (the editor's text keeps its
        byte-order mark, which lora-lint's columns do not count)."""
        text = _editor_line(doc, line)
        col += len(text) - len(doc.line(line))
        return t.Position(line=max(line - 1, 0), character=self.units(text[:max(col - 1, 0)]))

    def range(self, doc: SourceFile, span: Span) -> t.Range:
        return t.Range(start=self.position(doc, span.line, span.col),
                       end=self.position(doc, span.end_line, span.end_col))

    def column(self, doc: SourceFile, pos: t.Position) -> tuple[int, int]:
        """A 1-based line and character column of an LSP position."""
        text = _editor_line(doc, pos.line + 1)
        col = 0
        while col < len(text) and self.units(text[:col + 1]) <= pos.character:
            col += 1
        return pos.line + 1, max(1, col + 1 - (len(text) - len(doc.line(pos.line + 1))))


def _editor_line(doc: SourceFile, line: int) -> str:
    """Line ``line`` as the editor has it."""
    text = doc.line(line)
    return "\ufeff" + text if doc.bom and line == 1 else text


def build(offline: bool = False, isolated: bool = False) -> LoraLintServer:
    ls = LoraLintServer(offline, isolated)

    @ls.feature(t.TEXT_DOCUMENT_DID_OPEN)
    async def did_open(ls: LoraLintServer, params: t.DidOpenTextDocumentParams):
        await refresh(ls, params.text_document.uri)

    @ls.feature(t.TEXT_DOCUMENT_DID_CHANGE)
    async def did_change(ls: LoraLintServer, params: t.DidChangeTextDocumentParams):
        await refresh(ls, params.text_document.uri)

    @ls.feature(t.TEXT_DOCUMENT_DID_SAVE)
    async def did_save(ls: LoraLintServer, params: t.DidSaveTextDocumentParams):
        await refresh(ls, params.text_document.uri)

    @ls.feature(t.TEXT_DOCUMENT_DID_CLOSE)
    def did_close(ls: LoraLintServer, params: t.DidCloseTextDocumentParams):
        ls.results.pop(params.text_document.uri, None)
        ls.text_document_publish_diagnostics(t.PublishDiagnosticsParams(uri=params.text_document.uri, diagnostics=[]))

    @ls.feature(t.NOTEBOOK_DOCUMENT_DID_OPEN)
    async def notebook_open(ls: LoraLintServer, params: t.DidOpenNotebookDocumentParams):
        await refresh(ls, params.notebook_document.uri, notebook=True)

    @ls.feature(t.NOTEBOOK_DOCUMENT_DID_CHANGE)
    async def notebook_change(ls: LoraLintServer, params: t.DidChangeNotebookDocumentParams):
        await refresh(ls, params.notebook_document.uri, notebook=True)

    @ls.feature(t.NOTEBOOK_DOCUMENT_DID_SAVE)
    async def notebook_save(ls: LoraLintServer, params: t.DidSaveNotebookDocumentParams):
        await refresh(ls, params.notebook_document.uri, notebook=True)

    @ls.feature(t.NOTEBOOK_DOCUMENT_DID_CLOSE)
    def notebook_close(ls: LoraLintServer, params: t.DidCloseNotebookDocumentParams):
        uris = ls.cells.pop(params.notebook_document.uri, set()) | {c.uri for c in params.cell_text_documents}
        for uri in sorted(uris):
            ls.text_document_publish_diagnostics(t.PublishDiagnosticsParams(uri=uri, diagnostics=[]))

    @ls.feature(t.TEXT_DOCUMENT_CODE_ACTION,
                t.CodeActionOptions(code_action_kinds=[t.CodeActionKind.QuickFix, FIX_ALL], resolve_provider=False))
    async def code_action(ls: LoraLintServer, params: t.CodeActionParams):
        return await code_actions(ls, params)

    @ls.feature(t.TEXT_DOCUMENT_HOVER)
    async def hover(ls: LoraLintServer, params: t.HoverParams):
        return await hover_at(ls, params)

    return ls


def _is_open(ls: LoraLintServer, uri: str) -> bool:
    from urllib.parse import unquote

    return unquote(uri) in ls.workspace.text_documents or uri in ls.workspace.text_documents


def _opened(ls: LoraLintServer, uri: str):
    """The document the client opened at ``uri``, or None. (pygls's ``get_text_document`` reads a
    URI the client has not opened from disk, on the event loop: a FIFO there hangs the server.)"""
    return ls.workspace.get_text_document(uri) if _is_open(ls, uri) else None


def _path(uri: str, doc) -> str:
    return doc.path if uri.startswith("file:") else uri.rpartition("/")[2]


def _source(uri: str, doc) -> SourceFile | None:
    """The editor's document as a ``SourceFile``, None for a kind lora-lint does not read."""
    path = _path(uri, doc)
    return SourceFile.of_text(path, doc.source) if is_source(path) else None


# -- notebook documents ---------------------------------------------------------------------------

def _notebook_path(uri: str) -> str:
    if uri.startswith("file:"):
        from pygls.uris import to_fs_path

        return to_fs_path(uri) or uri
    return uri.rpartition("/")[2]


def _notebook(ls: LoraLintServer, uri: str) -> tuple[SourceFile, dict[int, str]] | None:
    """The script of an open notebook document (its Python code cells, as ``check`` reads a
    ``.ipynb``), and each cell's number -> its document's uri."""
    from .sources.notebook import CodeCell, script

    nb = ls.workspace.get_notebook_document(notebook_uri=uri)
    if nb is None:
        return None
    path = _notebook_path(nb.uri)
    code, uris = [], {}
    for number, cell in enumerate(nb.cells, 1):
        uris[number] = cell.document
        if cell.kind != t.NotebookCellKind.Code:
            continue
        doc = ls.workspace.get_text_document(cell.document)
        if doc.language_id not in (None, "python"):
            continue
        code.append(CodeCell(number, doc.source, (0, 0), (), False))
    return script(SourceFile(path, "", Kind.NOTEBOOK), code), uris


def _in_cell(source: SourceFile, span: Span) -> tuple[int | None, Span]:
    """``(cell, span within it)`` of a span of a notebook's script."""
    cell, line = source.locate(span.line)
    end_cell, end_line = source.locate(span.end_line)
    if end_cell != cell:  # (ends past its cell's text: at the end of its last line)
        return cell, Span(line, span.col, line, span.col)
    return cell, Span(line, span.col, end_line, span.end_col)


def _cell_doc(ls: LoraLintServer, uri: str) -> SourceFile:
    return SourceFile(uri, ls.workspace.get_text_document(uri).source, Kind.PYTHON)


def _cell_findings(source: SourceFile, findings: list[Finding], number: int) -> list[Finding]:
    """The findings in cell ``number``, their spans and fix edits within the cell."""
    from dataclasses import replace

    out = []
    for f in findings:
        cell, span = _in_cell(source, f.span)
        if cell != number:
            continue
        fix = f.fix
        if fix is not None:
            fix = replace(fix, edits=tuple(replace(e, span=_in_cell(source, e.span)[1]) for e in fix.edits))
        out.append(replace(f, span=span, fix=fix))
    return out


async def refresh_notebook(ls: LoraLintServer, uri: str) -> bool:
    """Lint an open notebook document and publish each code cell's diagnostics; False when it
    is not open."""
    got = _notebook(ls, uri)
    if got is None:
        return False
    source, uris = got
    findings = await ls.run(ls.lint, source)
    if uri in ls.dirty or ls.workspace.get_notebook_document(notebook_uri=uri) is None:
        return True
    published = set()
    for number, cell_uri in uris.items():
        found = _cell_findings(source, findings, number)
        if not found and cell_uri not in ls.cells.get(uri, set()):
            continue
        doc = _cell_doc(ls, cell_uri)
        version = ls.workspace.get_text_document(cell_uri).version
        ls.text_document_publish_diagnostics(t.PublishDiagnosticsParams(
            uri=cell_uri, version=version, diagnostics=[diagnostic(ls, doc, f) for f in found]))
        if found:
            published.add(cell_uri)
    for gone in ls.cells.get(uri, set()) - set(uris.values()):
        ls.text_document_publish_diagnostics(t.PublishDiagnosticsParams(uri=gone, diagnostics=[]))
    ls.cells[uri] = published
    return True


def _in_notebook(ls: LoraLintServer, uri: str) -> tuple[SourceFile, dict[int, str], int] | None:
    """For a cell document of an open notebook: the notebook's script, its cells' uris and the
    cell's number."""
    nb = ls.workspace.get_notebook_document(cell_uri=uri)
    if nb is None:
        return None
    got = _notebook(ls, nb.uri)
    if got is None:
        return None
    source, uris = got
    number = next((n for n, u in uris.items() if u == uri), None)
    return None if number is None else (source, uris, number)


def _shown(source: SourceFile) -> SourceFile:
    """What the findings of ``source`` point into: its reader's text (a notebook's script), or
    the file itself when it cannot be read that way (their LL901 points into the file)."""
    try:
        return presented(source)
    except SourceError:
        return source


def _in_file(shown: SourceFile, f: Finding) -> Finding:
    """A finding of a reader's own text moved to the file's text (a notebook's JSON)."""
    if shown.rows is None:
        return f
    from dataclasses import replace

    span = Span(*shown.file_position(f.span.line, f.span.col), *shown.file_position(f.span.end_line, f.span.end_col))
    return replace(f, span=span, fix=None)  # (a fix edits the cells' text, not the JSON's)


async def current(ls: LoraLintServer, uri: str) -> tuple[SourceFile, list[Finding]] | None:
    """``(source, findings)`` for the document as the editor has it now."""
    doc = _opened(ls, uri)
    source = _source(uri, doc) if doc is not None else None
    if source is None:
        return None
    have = ls.results.get(uri)
    if have is not None and have[0] == doc.version and have[1] == doc.source:
        return source, have[2]
    findings = await ls.run(ls.lint, source)
    return source, findings


async def refresh(ls: LoraLintServer, uri: str, notebook: bool = False) -> None:
    """Lint the document (``notebook``: the notebook document) and publish its diagnostics; a
    change during the run lints again."""
    if uri in ls.running:
        ls.dirty.add(uri)
        return
    ls.running.add(uri)
    try:
        while True:
            ls.dirty.discard(uri)
            if notebook:
                if not await refresh_notebook(ls, uri) or uri not in ls.dirty:
                    return
                continue
            doc = _opened(ls, uri)
            if doc is None:  # never opened (a save notification alone), or closed
                return
            version, text = doc.version, doc.source
            source = _source(uri, doc)
            if source is None:
                return
            findings = await ls.run(ls.lint, source)
            if uri in ls.dirty:
                continue
            if not _is_open(ls, uri):  # closed while it was linted: nothing to show
                return
            ls.results[uri] = (version, text, findings)
            shown = _shown(source) if source.kind is Kind.NOTEBOOK else source
            ls.text_document_publish_diagnostics(t.PublishDiagnosticsParams(
                uri=uri, version=version, diagnostics=[diagnostic(ls, source, _in_file(shown, f)) for f in findings]))
            return
    finally:
        ls.running.discard(uri)


def diagnostic(ls: LoraLintServer, doc: SourceFile, f: Finding) -> t.Diagnostic:
    from .registry import docs_url

    return t.Diagnostic(
        range=ls.range(doc, f.span), message=f.message, severity=SEVERITY[f.severity], code=f.code,
        code_description=t.CodeDescription(href=docs_url(f.code)), source="lora-lint",
        data={"name": f.name, "fix": None if f.fix is None else f.fix.applicability},
    )


def _edit(ls: LoraLintServer, uri: str, doc: SourceFile, fix: Fix) -> t.WorkspaceEdit:
    return t.WorkspaceEdit(changes={uri: [t.TextEdit(range=ls.range(doc, e.span), new_text=e.text) for e in fix.edits]})


def _touches(a: t.Range, b: t.Range) -> bool:
    def key(p: t.Position):
        return (p.line, p.character)

    return key(a.start) <= key(b.end) and key(b.start) <= key(a.end)


async def code_actions(ls: LoraLintServer, params: t.CodeActionParams) -> list[t.CodeAction]:
    uri = params.text_document.uri
    cell = _in_notebook(ls, uri)
    if cell is not None:
        return await _cell_actions(ls, params, *cell)
    got = await current(ls, uri)
    if got is None or got[0].kind is Kind.NOTEBOOK:  # (a notebook's JSON as text: no edits)
        return []
    doc, findings = got
    only = params.context.only
    actions: list[t.CodeAction] = []
    if not only or any(k.startswith(t.CodeActionKind.QuickFix) for k in only):
        actions += _quick_fixes(ls, uri, doc, findings, params.range)
    if not only or any(FIX_ALL.startswith(k) for k in only):
        fixed = await ls.run(_fix_all, ls, doc)
        if fixed is not None and fixed != doc.text:
            end = ls.position(doc, len(doc.starts), len(doc.line(len(doc.starts))) + 1)
            fixed = "\ufeff" + fixed if doc.bom else fixed
            edit = t.TextEdit(range=t.Range(start=t.Position(line=0, character=0), end=end), new_text=fixed)
            actions.append(t.CodeAction(title="Fix all safe lora-lint findings", kind=FIX_ALL,
                                        edit=t.WorkspaceEdit(changes={uri: [edit]})))
    return actions


def _quick_fixes(ls: LoraLintServer, uri: str, doc, findings, where: t.Range) -> list[t.CodeAction]:
    """One quick fix per finding with a fix whose range touches ``where``."""
    out = []
    for f in findings:
        if f.fix is None:
            continue
        diag = diagnostic(ls, doc, f)
        if not _touches(diag.range, where):
            continue
        title = f"{f.fix.message} ({f.code})" if f.fix.safe else f"{f.fix.message} ({f.code}, unsafe: changes training)"
        out.append(t.CodeAction(title=title, kind=t.CodeActionKind.QuickFix, diagnostics=[diag],
                                is_preferred=f.fix.safe, edit=_edit(ls, uri, doc, f.fix)))
    return out


async def _cell_actions(ls: LoraLintServer, params: t.CodeActionParams, source: SourceFile,
                        uris: dict[int, str], number: int) -> list[t.CodeAction]:
    """Code actions in a notebook's cell: its findings' fixes, and the fix-all of the notebook's
    script as it changes this cell."""
    uri = params.text_document.uri
    findings = await ls.run(ls.lint, source)
    doc = _cell_doc(ls, uri)
    only = params.context.only
    actions: list[t.CodeAction] = []
    if not only or any(k.startswith(t.CodeActionKind.QuickFix) for k in only):
        actions += _quick_fixes(ls, uri, doc, _cell_findings(source, findings, number), params.range)
    if not only or any(FIX_ALL.startswith(k) for k in only):
        fixed = await ls.run(_fix_all_source, ls, source)
        cells = {c.number: c for c in source.rows.cells}
        new = dict(fixed.rows.parts(fixed.text)) if fixed is not None and fixed.rows is not None else {}
        if number in new and cells[number].stub is None and new[number] != doc.text:
            end = ls.position(doc, len(doc.starts), len(doc.line(len(doc.starts))) + 1)
            edit = t.TextEdit(range=t.Range(start=t.Position(line=0, character=0), end=end), new_text=new[number])
            actions.append(t.CodeAction(title="Fix all safe lora-lint findings", kind=FIX_ALL,
                                        edit=t.WorkspaceEdit(changes={uri: [edit]})))
    return actions


def _fix_all_source(ls: LoraLintServer, source: SourceFile) -> SourceFile | None:
    from .fixes.apply import fix_source

    return fix_source(source, ls.settings(source.path), unsafe=False, lint=ls.lint).fixed_source


def _fix_all(ls: LoraLintServer, source: SourceFile) -> str | None:
    from .fixes.apply import fix_source

    return fix_source(source, ls.settings(source.path), unsafe=False, lint=ls.lint).text


async def hover_at(ls: LoraLintServer, params: t.HoverParams) -> t.Hover | None:
    uri = params.text_document.uri
    cell = _in_notebook(ls, uri)
    if cell is not None:  # a notebook's cell: the script's site at that place
        source, _, number = cell
        doc = _cell_doc(ls, uri)
        line, col = ls.column(doc, params.position)
        first = next(c.first for c in source.rows.cells if c.number == number) if any(
            c.number == number for c in source.rows.cells) else None
        if first is None:
            return None
        found = await ls.run(_report_at, ls, source, first + line - 1, col)
        if found is None:
            return None
        span, line_text = found
        return t.Hover(contents=t.MarkupContent(kind=t.MarkupKind.Markdown, value=f"**LoRA** {line_text}"),
                       range=ls.range(doc, _in_cell(source, span)[1]))
    doc = _opened(ls, uri)
    source = _source(uri, doc) if doc is not None else None
    if source is None or source.kind is Kind.NOTEBOOK or ls.too_big(source):
        return None
    line, col = ls.column(source, params.position)
    found = await ls.run(_report_at, ls, source, line, col)
    if found is None:
        return None
    span, line_text = found
    return t.Hover(contents=t.MarkupContent(kind=t.MarkupKind.Markdown, value=f"**LoRA** {line_text}"),
                   range=ls.range(source, span))


def _inside(span: Span, line: int, col: int) -> bool:
    return (span.line, span.col) <= (line, col) < (span.end_line, span.end_col) or (
        (span.line, span.col) == (span.end_line, span.end_col) == (line, col))


def _report_at(ls: LoraLintServer, source: SourceFile, line: int, col: int) -> tuple[Span, str] | None:
    """The ``report`` line of the site at ``line``/``col`` (in a Python call, or on a line of a
    YAML/JSON block's LoRA settings), and its training memory per GPU when it is known."""
    from .models.context import context_for, unresolved_message
    from .report import Row, as_dict, memory_line, summary_line
    from .sources import sites_for

    try:
        sites = sites_for(source)
    except Exception:
        return None
    finally:
        source.forget()
    python = source.kind is Kind.PYTHON
    for site in sites:
        if python:  # anywhere in the call
            hit = site.span if _inside(site.span, line, col) else None
        else:  # any line of the block's settings (the key or the value)
            where = [site.span, *(p.span for p in site.params.values() if not p.implicit)]
            hit = next((s for s in where if s.line <= line <= s.end_line), None)
        if hit is None:
            continue
        settings = ls.settings(source.path)
        ctx = context_for(site, settings, where=source.where)
        row = Row(site, ctx, unresolved_message(ctx) if ctx.problem else None)
        d = as_dict(row)
        memory = memory_line(d)  # a paragraph of its own: will it fit?
        return hit, summary_line(d) + (f"\n\n**Memory** {memory}" if memory else "")
    return None


def serve(args) -> int:
    """Run the server over stdin/stdout until the client says exit."""
    build(offline=getattr(args, "offline", False), isolated=getattr(args, "isolated", False)).start_io()
    return 0
