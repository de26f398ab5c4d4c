"""The language server's bounds (issue 12, item 9): ``max-file-size`` applies to the documents
an editor sends (a 50 MB didOpen took 6.5 GB and stopped the diagnostics of every document),
and a URI the client has not opened is never read from disk (a FIFO there hung the event loop
for good). Driven by pygls's real client over stdio, the server under a memory limit."""

import asyncio
import os
import sys

import pytest
from lsprotocol import types as t
from test_server import LIMIT, PY, ROOT, Editor, by_code

pytestmark = pytest.mark.slow

MEMORY_MB = 1500  # the server's address space: a 50 MB document must fit in it many times over


class LimitedEditor(Editor):
    async def start(self):
        env = {**os.environ, "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1"}
        boot = ("import resource, runpy, sys; "
                f"resource.setrlimit(resource.RLIMIT_AS, ({MEMORY_MB << 20}, {MEMORY_MB << 20})); "
                "sys.argv = ['lora-lint', 'server']; runpy.run_module('lora_lint', run_name='__main__')")
        await self.client.start_io(sys.executable, "-c", boot, env=env, cwd=str(self.tmp))
        result = await asyncio.wait_for(self.client.initialize_async(t.InitializeParams(
            capabilities=t.ClientCapabilities(), root_uri=self.tmp.as_uri(), process_id=os.getpid())), LIMIT)
        self.client.initialized(t.InitializedParams())
        return result


async def session(tmp_path):
    editor = LimitedEditor(tmp_path)
    await editor.start()
    try:
        # a FIFO under a Python name, never opened by the client: saving it, asking for its code
        # actions and hovering on it must not read it
        fifo = tmp_path / "pipe.py"
        os.mkfifo(fifo)
        furi = fifo.as_uri()
        editor.client.text_document_did_save(t.DidSaveTextDocumentParams(text_document=t.TextDocumentIdentifier(uri=furi)))
        assert await editor.hover(furi, 0, 0) is None
        everything = t.Range(start=t.Position(line=0, character=0), end=t.Position(line=1, character=0))
        assert not await editor.actions(furi, everything, [])

        # a 50 MB document: one LL901 at 1:1, nothing else, and no hover work
        big = "from peft import LoraConfig\n" + "x = [" + "1, " * ((50 << 20) // 3) + "]\n"
        buri, bdiags = await editor.open("big.py", big, "python")
        (too_big,) = bdiags
        assert too_big.code == "LL901" and "above the 10,485,760-byte limit" in too_big.message
        assert too_big.range.start == t.Position(line=0, character=0)
        assert await editor.hover(buri, 0, 0) is None

        # the other documents still get their diagnostics
        uri, diags = await editor.open("train.py", PY, "python")
        assert by_code(diags, "LL001")
    finally:
        await editor.stop()


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_big_documents_and_unopened_uris(tmp_path):
    asyncio.run(session(tmp_path))
