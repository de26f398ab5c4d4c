"""``lora-lint server`` driven by pygls's real LanguageClient over stdio, as an editor would.

The client opens a Python file and a YAML file, receives their diagnostics, asks for code
actions on a finding, applies the returned WorkspaceEdit to its text, sends the change and sees
the finding gone; ``source.fixAll`` gives the ``--fix`` result; a hover on the ``LoraConfig`` call
and on a YAML LoRA key shows the ``report`` line (the base model is a bundled catalog model, so
nothing is downloaded or built).
"""

import asyncio
import os
import sys
from pathlib import Path

import pytest
from lsprotocol import types as t
from pygls.lsp.client import LanguageClient

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
PY = ("# lora-lint: base-model=meta-llama/Llama-3.2-1B\n"
      "from peft import LoraConfig\n"
      "cfg = LoraConfig(\n"
      "    r=8,  # the rank\n"
      "    lora_aplha=16,\n"
      "    target_modules=['q_proj', 'v_proj'],\n"
      ")\n")
YAML = ("base_model: meta-llama/Llama-3.2-1B\nadapter: lora\nlora_r: 8\nlora_alpha: 16\n"
        "lora_target_modules: [all-linear]\nsequence_len: 2048\n")
LIMIT = 120  # seconds: a guard against a hung server, not a timing assertion


def apply(text: str, edits: list[t.TextEdit]) -> str:
    """Apply LSP edits (UTF-16 columns; ASCII text here) to ``text``."""
    lines = text.splitlines(keepends=True)

    def offset(p: t.Position) -> int:
        return sum(len(x) for x in lines[:p.line]) + p.character

    for e in sorted(edits, key=lambda e: offset(e.range.start), reverse=True):
        text = text[:offset(e.range.start)] + e.new_text + text[offset(e.range.end):]
    return text


class Editor:
    def __init__(self, tmp_path: Path):
        self.tmp = tmp_path
        self.client = LanguageClient("test-editor", "1")
        self.published: dict[str, asyncio.Queue] = {}

        @self.client.feature(t.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def diagnostics(params: t.PublishDiagnosticsParams):
            self.queue(params.uri).put_nowait(params)

    def queue(self, uri: str) -> asyncio.Queue:
        return self.published.setdefault(uri, asyncio.Queue())

    async def start(self, capabilities: t.ClientCapabilities | None = None):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
        await self.client.start_io(sys.executable, "-m", "lora_lint", "server", env=env, cwd=str(self.tmp))
        result = await asyncio.wait_for(self.client.initialize_async(t.InitializeParams(
            capabilities=capabilities or t.ClientCapabilities(), root_uri=self.tmp.as_uri(),
            process_id=os.getpid())), LIMIT)
        self.client.initialized(t.InitializedParams())
        return result

    async def diagnostics(self, uri: str) -> t.PublishDiagnosticsParams:
        return await asyncio.wait_for(self.queue(uri).get(), LIMIT)

    async def open(self, name: str, text: str, language: str) -> tuple[str, list[t.Diagnostic]]:
        path = self.tmp / name
        path.write_text(text)
        uri = path.as_uri()
        self.client.text_document_did_open(t.DidOpenTextDocumentParams(
            text_document=t.TextDocumentItem(uri=uri, language_id=language, version=1, text=text)))
        return uri, (await self.diagnostics(uri)).diagnostics

    async def change(self, uri: str, version: int, text: str) -> list[t.Diagnostic]:
        self.client.text_document_did_change(t.DidChangeTextDocumentParams(
            text_document=t.VersionedTextDocumentIdentifier(uri=uri, version=version),
            content_changes=[t.TextDocumentContentChangeWholeDocument(text=text)]))
        got = await self.diagnostics(uri)
        assert got.version == version
        return got.diagnostics

    async def actions(self, uri: str, rng: t.Range, diagnostics, only=None):
        return await asyncio.wait_for(self.client.text_document_code_action_async(t.CodeActionParams(
            text_document=t.TextDocumentIdentifier(uri=uri), range=rng,
            context=t.CodeActionContext(diagnostics=diagnostics, only=only))), LIMIT)

    async def hover(self, uri: str, line: int, character: int):
        return await asyncio.wait_for(self.client.text_document_hover_async(t.HoverParams(
            text_document=t.TextDocumentIdentifier(uri=uri), position=t.Position(line=line, character=character))),
            LIMIT)

    async def stop(self):
        await asyncio.wait_for(self.client.shutdown_async(None), LIMIT)
        self.client.exit(None)
        await self.client.stop()


def by_code(diagnostics, code):
    return [d for d in diagnostics if d.code == code]


async def session(tmp_path: Path) -> None:
    editor = Editor(tmp_path)
    init = await editor.start()
    assert init.server_info.name == "lora-lint"
    caps = init.capabilities
    assert caps.hover_provider and caps.code_action_provider
    try:
        # Python: diagnostics on open, with the rule page and 0-based ranges
        uri, diags = await editor.open("train.py", PY, "python")
        (typo,) = by_code(diags, "LL001")
        assert typo.range == t.Range(start=t.Position(line=4, character=4), end=t.Position(line=4, character=17))
        assert typo.severity == t.DiagnosticSeverity.Error and typo.source == "lora-lint"
        assert typo.code_description.href.endswith("/rules/LL001.md")
        assert typo.message.startswith("`lora_aplha` is not a field of peft's LoraConfig")

        # the quick fix for it, applied as the editor would
        actions = await editor.actions(uri, typo.range, [typo], only=[t.CodeActionKind.QuickFix])
        (rename,) = [a for a in actions if a.diagnostics and a.diagnostics[0].code == "LL001"]
        assert rename.title == "Rename `lora_aplha` to `lora_alpha` (LL001)" and rename.is_preferred
        fixed = apply(PY, rename.edit.changes[uri])
        assert fixed == PY.replace("lora_aplha", "lora_alpha")
        diags = await editor.change(uri, 2, fixed)
        assert by_code(diags, "LL001") == []

        # hover on the call: the report line, counted on the catalog's Llama-3.2-1B
        hover = await editor.hover(uri, 2, 9)
        assert hover.contents.value == (
            "**LoRA** r=8 · α=16 · scaling 2 (α/r) · 851,968 trainable parameters (0.0689% of 1.24B)"
            " · adapter 3.25 MiB fp32, 1.62 MiB bf16 · base model meta-llama/Llama-3.2-1B (catalog)")
        assert await editor.hover(uri, 1, 3) is None  # the import line holds no LoRA config

        # YAML: diagnostics, source.fixAll, and a hover on a key of the LoRA block
        yuri, ydiags = await editor.open("sft.yaml", YAML, "yaml")
        (item,) = by_code(ydiags, "LL011")
        assert item.range.start == t.Position(line=4, character=22)
        everything = t.Range(start=t.Position(line=0, character=0), end=t.Position(line=6, character=0))
        (fix_all,) = await editor.actions(yuri, everything, [], only=[t.CodeActionKind.SourceFixAll])
        assert fix_all.kind == "source.fixAll.lora-lint"
        fixed = apply(YAML, fix_all.edit.changes[yuri])
        assert fixed == YAML.replace("[all-linear]", "all-linear")
        assert by_code(await editor.change(yuri, 2, fixed), "LL011") == []
        hover = await editor.hover(yuri, 2, 2)  # on `lora_r`
        assert hover.contents.value.startswith("**LoRA** r=8 · α=16 · scaling 2 (α/r) · ")
        assert "trainable parameters" in hover.contents.value and "% of 1.24B" in hover.contents.value

        # save: linted again; columns are UTF-16 units (the llama is two of them)
        line = 'x = "\U0001f999"; cfg = LoraConfig(r=8, lora_aplha=16)'
        luri, ldiags = await editor.open("llama.py", "from peft import LoraConfig\n" + line + "\n", "python")
        (typo,) = by_code(ldiags, "LL001")
        assert typo.range.start == t.Position(line=1, character=line.index("lora_aplha") + 1)
        editor.client.text_document_did_save(t.DidSaveTextDocumentParams(
            text_document=t.TextDocumentIdentifier(uri=luri)))
        assert by_code((await editor.diagnostics(luri)).diagnostics, "LL001") == [typo]

        # close: the file's diagnostics are cleared
        editor.client.text_document_did_close(t.DidCloseTextDocumentParams(
            text_document=t.TextDocumentIdentifier(uri=luri)))
        assert list((await editor.diagnostics(luri)).diagnostics) == []
    finally:
        await editor.stop()


def test_language_server_over_stdio(tmp_path):
    asyncio.run(session(tmp_path))


# -- notebooks ----------------------------------------------------------------------------

CELLS = [
    (t.NotebookCellKind.Markup, "markdown", "# Fine-tune"),
    (t.NotebookCellKind.Code, "python", "%%capture\n!pip install peft"),
    (t.NotebookCellKind.Code, "python", "# lora-lint: base-model=meta-llama/Llama-3.2-1B\nfrom peft import LoraConfig"),
    (t.NotebookCellKind.Code, "python", "cfg = LoraConfig(\n    r=8,\n    lora_aplha=16,\n    target_modules=['q_proj'],\n)"),
]


async def notebook_session(tmp_path: Path) -> None:
    import json

    editor = Editor(tmp_path)
    init = await editor.start(t.ClientCapabilities(notebook_document=t.NotebookDocumentClientCapabilities(
        synchronization=t.NotebookDocumentSyncClientCapabilities())))
    sync = init.capabilities.notebook_document_sync
    assert sync.notebook_selector[0].notebook == "jupyter-notebook"
    assert [c.language for c in sync.notebook_selector[0].cells] == ["python"]
    try:
        nb_path = tmp_path / "train.ipynb"
        nb_uri = nb_path.as_uri()
        cells = [f"vscode-notebook-cell:{nb_path}#cell{i}" for i in range(len(CELLS))]
        editor.client.notebook_document_did_open(t.DidOpenNotebookDocumentParams(
            notebook_document=t.NotebookDocument(uri=nb_uri, notebook_type="jupyter-notebook", version=1, cells=[
                t.NotebookCell(kind=kind, document=uri) for (kind, _, _), uri in zip(CELLS, cells, strict=True)]),
            cell_text_documents=[t.TextDocumentItem(uri=uri, language_id=lang, version=1, text=text)
                                 for (_, lang, text), uri in zip(CELLS, cells, strict=True)]))
        got = await editor.diagnostics(cells[3])
        (typo,) = by_code(got.diagnostics, "LL001")
        assert typo.range == t.Range(start=t.Position(line=2, character=4), end=t.Position(line=2, character=17))

        # the quick fix, in the cell's coordinates
        actions = await editor.actions(cells[3], typo.range, [typo], only=[t.CodeActionKind.QuickFix])
        (rename,) = [a for a in actions if a.diagnostics and a.diagnostics[0].code == "LL001"]
        fixed = apply(CELLS[3][2], rename.edit.changes[cells[3]])
        assert fixed == CELLS[3][2].replace("lora_aplha", "lora_alpha")
        everything = t.Range(start=t.Position(line=0, character=0), end=t.Position(line=5, character=0))
        (fix_all,) = await editor.actions(cells[3], everything, [], only=[t.CodeActionKind.SourceFixAll])
        assert apply(CELLS[3][2], fix_all.edit.changes[cells[3]]) == fixed

        # hover on the call (the model named in another cell)
        hover = await editor.hover(cells[3], 0, 8)
        assert hover.contents.value.startswith("**LoRA** r=8 · α=8 · scaling 1 (α/r) · 524,288 trainable parameters")
        assert hover.range.start == t.Position(line=0, character=6)

        # the cell changes: its diagnostics follow
        editor.client.notebook_document_did_change(t.DidChangeNotebookDocumentParams(
            notebook_document=t.VersionedNotebookDocumentIdentifier(uri=nb_uri, version=2),
            change=t.NotebookDocumentChangeEvent(cells=t.NotebookDocumentCellChanges(text_content=[
                t.NotebookDocumentCellContentChanges(
                    document=t.VersionedTextDocumentIdentifier(uri=cells[3], version=2),
                    changes=[t.TextDocumentContentChangeWholeDocument(text=fixed)])]))))
        got = await editor.diagnostics(cells[3])
        assert by_code(got.diagnostics, "LL001") == []

        editor.client.notebook_document_did_close(t.DidCloseNotebookDocumentParams(
            notebook_document=t.NotebookDocumentIdentifier(uri=nb_uri),
            cell_text_documents=[t.TextDocumentIdentifier(uri=u) for u in cells]))

        # the same notebook as a plain text document: diagnostics at its JSON text
        def source(text):
            return [line + "\n" for line in text.split("\n")[:-1]] + [text.split("\n")[-1]]

        raw = json.dumps({"cells": [{"cell_type": "markdown" if kind == t.NotebookCellKind.Markup else "code",
                                     "metadata": {}, "source": source(text)} for kind, _, text in CELLS],
                          "metadata": {}, "nbformat": 4, "nbformat_minor": 5}, indent=1)
        juri, jdiags = await editor.open("plain.ipynb", raw, "json")
        (typo,) = by_code(jdiags, "LL001")
        line = raw.split("\n")[typo.range.start.line]
        assert line[typo.range.start.character:].startswith("lora_aplha=16,")
    finally:
        await editor.stop()


def test_notebook_documents_over_stdio(tmp_path):
    asyncio.run(notebook_session(tmp_path))


# -- the editor set-ups in README.md -------------------------------------------

DOC = (ROOT / "README.md").read_text()


def snippet(name: str) -> str:
    import re

    m = re.search(rf"<!-- tested: {re.escape(name)} -->\n```\w*\n(.*?)\n```", DOC, re.S)
    assert m, f"no tested snippet {name!r} in README.md"
    return m[1]


def test_neovim_snippet_in_luajit_starts_this_server():
    lupa = pytest.importorskip("lupa")
    runtime = getattr(lupa, "luajit21", None) or lupa.lua54
    lua = runtime.LuaRuntime(unpack_returned_tuples=True)
    recorded = lua.table()
    lua.execute("""
      local recorded = ...
      vim = { lsp = {
        config = function(name, cfg) recorded.name = name; recorded.cfg = cfg end,
        enable = function(name) recorded.enabled = name end,
      } }
    """, recorded)
    lua.execute(snippet("nvim-lsp"))
    assert recorded.name == recorded.enabled == "lora_lint"
    assert list(recorded.cfg.cmd.values()) == ["lora-lint", "server"]
    assert set(recorded.cfg.filetypes.values()) == {"python", "yaml", "json"}


def test_vscode_snippet_starts_this_server():
    import json

    settings = json.loads(snippet("vscode-lsp"))
    assert [settings["glspc.server.command"], *settings["glspc.server.commandArguments"]] == ["lora-lint", "server"]
    assert set(settings["glspc.server.languageId"]) == {"python", "yaml", "json"}


def test_fix_hook_snippet_is_a_valid_config_naming_the_hook(tmp_path):
    import subprocess

    import yaml

    (tmp_path / ".pre-commit-config.yaml").write_text(snippet("pre-commit-fix"))
    p = subprocess.run([sys.executable, "-m", "pre_commit", "validate-config", ".pre-commit-config.yaml"],
                       cwd=tmp_path, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    hooks = yaml.safe_load(snippet("pre-commit-fix"))["repos"][0]["hooks"]
    manifest = {h["id"] for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert [h["id"] for h in hooks] == ["lora-lint-fix"] and "lora-lint-fix" in manifest


def test_console_session_in_the_docs(tmp_path):
    """The documented ``check`` output, then each documented fixing command on the same file."""
    import subprocess

    (tmp_path / "train.py").write_text(snippet("train.py") + "\n")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    lines = snippet("console").splitlines()
    command, shown = lines[0], [x for x in lines[1:] if not x.startswith("$")]
    args = command.removeprefix("$ lora-lint ").split()
    out = subprocess.run([sys.executable, "-m", "lora_lint", *args, "--isolated"], cwd=tmp_path, env=env,
                         capture_output=True, text=True).stdout
    assert out.splitlines() == shown
    for line in (x for x in lines[1:] if x.startswith("$")):
        args = line.removeprefix("$ lora-lint ").split("#")[0].split()
        p = subprocess.run([sys.executable, "-m", "lora_lint", *args, "--isolated", "--select", "LL001,LL101"],
                           cwd=tmp_path, env=env, capture_output=True, text=True)
        assert p.returncode in (0, 1), p.stderr
    assert (tmp_path / "train.py").read_text() == (
        "from peft import LoraConfig\ncfg = LoraConfig(\n    r=64,\n    use_rslora=True,\n    lora_alpha=128,\n)\n")
