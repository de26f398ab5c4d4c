"""The snippets in README.md, tried: each block marked ``<!-- tested: NAME -->`` is
extracted and its commands are run on a project with findings.

* pre-commit: the config snippet passes ``pre-commit validate-config``; the hook itself runs in
  tests/test_hook.py.
* GitHub Actions / GitLab CI: the workflow's ``lora-lint`` commands run as written; the annotations
  are well formed, the SARIF file that upload-sarif is pointed at validates, the Code Quality
  report named in ``artifacts`` has GitLab's required fields.
* VS Code: the problem matcher's regexp runs in node's JavaScript RegExp (VS Code's engine) over
  real output.
* Vim: the errorformat is given to the real vim (when installed), which parses real output into
  the quickfix list.
* Neovim (nvim-lint, the Vim snippet in Neovim, the LSP snippets): tests/test_neovim.py, in a real
  headless Neovim.
"""

import json
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml
from test_formats import parse_github, sarif_schema

ROOT = Path(__file__).resolve().parent.parent
DOC = (ROOT / "README.md").read_text()
HEAD = "from peft import LoraConfig\n"
WARN = HEAD + "cfg = LoraConfig(r=64, lora_alpha=16)\n"
ERROR = HEAD + "cfg = LoraConfig(\n    r=8,\n    lora_aplha=16,\n)\n"


def snippet(name: str) -> str:
    m = re.search(rf"<!-- tested: {re.escape(name)} -->\n```\w*\n(.*?)\n```", DOC, re.S)
    assert m, f"no tested snippet {name!r} in README.md"
    return m[1]


def command(line: str) -> list[str]:
    """A documented ``lora-lint ...`` command line, run with this checkout's interpreter."""
    args = shlex.split(line)
    assert args[0] == "lora-lint"
    return [sys.executable, "-m", "lora_lint", *args[1:]]


def run(args, cwd, stdin=None):
    return subprocess.run(args, cwd=cwd, input=stdin, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "HOME": str(cwd),
                               "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"})


@pytest.fixture
def project(tmp_path):
    (tmp_path / "lora-lint.toml").write_text('ignore = ["LL902"]  # no base model named here\n')
    (tmp_path / "warn.py").write_text(WARN)
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "error.py").write_text(ERROR)
    return tmp_path


def expected(cwd, *paths, safe_fix=False):
    """(path, line, col, code, severity, message) from the JSON format: the reference (with
    ``safe_fix``, only the findings with a safe fix, which the human formats mark ``[*]``)."""
    p = run([sys.executable, "-m", "lora_lint", "--output-format", "json", *paths], cwd)
    return sorted((d["filename"], d["location"]["row"], d["location"]["column"], d["code"], d["severity"],
                   d["message"]) for d in json.loads(p.stdout)
                  if not safe_fix or (d["fix"] or {}).get("applicability") == "safe")


def test_pre_commit_snippet_is_a_valid_config_using_the_hook(tmp_path):
    config = yaml.safe_load(snippet("pre-commit"))
    (tmp_path / ".pre-commit-config.yaml").write_text(snippet("pre-commit"))
    p = subprocess.run([sys.executable, "-m", "pre_commit", "validate-config", ".pre-commit-config.yaml"],
                       cwd=tmp_path, capture_output=True, text=True)
    assert p.returncode == 0, p.stdout + p.stderr
    manifest = {h["id"] for h in yaml.safe_load((ROOT / ".pre-commit-hooks.yaml").read_text())}
    assert [h["id"] for h in config["repos"][0]["hooks"]] == ["lora-lint"]
    assert {"lora-lint"} <= manifest


def test_github_actions_workflow(project):
    wf = yaml.safe_load(snippet("github-actions"))
    job = wf["jobs"]["lora-lint"]
    assert job["permissions"]["security-events"] == "write"
    steps = job["steps"]
    runs = [s["run"] for s in steps if str(s.get("run", "")).startswith("lora-lint")]
    assert len(runs) == 2
    annotate = run(command(runs[0]), project)
    assert annotate.returncode == 1  # findings fail the step, as they should
    assert {(p, line, col, code) for p, line, col, code in parse_github(annotate.stdout)} == {
        (p, line, col, code) for p, line, col, code, *_ in expected(project, ".")}
    sarif = run(command(runs[1]), project)
    assert sarif.returncode == 0 and sarif.stdout == ""  # --exit-zero: the upload still happens
    upload = next(s for s in steps if s.get("uses", "").startswith("github/codeql-action/upload-sarif"))
    assert upload["if"] == "always()"
    log = json.loads((project / upload["with"]["sarif_file"]).read_text())
    jsonschema.Draft7Validator(sarif_schema()).validate(log)
    assert len(log["runs"][0]["results"]) == 2


def test_gitlab_ci_code_quality_job(project):
    job = yaml.safe_load(snippet("gitlab-ci"))["lora-lint"]
    (line,) = [s for s in job["script"] if s.startswith("lora-lint")]
    p = run(command(line), project)
    assert p.returncode == 1
    report = json.loads((project / job["artifacts"]["reports"]["codequality"]).read_text())
    assert job["artifacts"]["when"] == "always"
    assert len(report) == 2
    for issue in report:
        assert {"description", "check_name", "fingerprint", "severity"} <= set(issue)
        assert issue["location"]["path"] in ("warn.py", "sub/error.py")
        assert issue["location"]["positions"]["begin"]["line"] >= 1


NODE_MATCHER = r"""
const fs = require("fs");
const [regexp, lines] = JSON.parse(fs.readFileSync(0, "utf8"));
const re = new RegExp(regexp);
console.log(JSON.stringify(lines.map((l) => { const m = re.exec(l); return m ? Array.from(m) : null; })));
"""


def test_vscode_problem_matcher_on_real_output(project):
    task = json.loads(snippet("vscode"))["tasks"][0]
    matcher = task["problemMatcher"]
    pattern = matcher["pattern"]
    out = run(command(task["command"]), project)
    assert out.returncode == 1
    lines = out.stdout.splitlines()
    assert lines  # --quiet: findings only
    node = shutil.which("node")
    if node:  # VS Code's own regex engine
        p = subprocess.run([node, "-e", NODE_MATCHER], input=json.dumps([pattern["regexp"], lines]),
                           capture_output=True, text=True, check=True)
        matches = json.loads(p.stdout)
    else:  # the same regexp is valid Python syntax with the same meaning
        matches = [(lambda m: [m[0], *m.groups()] if m else None)(re.match(pattern["regexp"], line)) for line in lines]
    assert None not in matches, "every output line is a problem"
    got = sorted((m[pattern["file"]], int(m[pattern["line"]]), int(m[pattern["column"]]), m[pattern["code"]],
                  m[pattern["severity"]], m[pattern["message"]]) for m in matches)
    assert got == expected(project, ".")
    assert {g[4] for g in got} <= {"error", "warning", "info"}  # VS Code's severity words
    assert matcher["fileLocation"][0] in ("relative", "autoDetect")


@pytest.mark.skipif(not shutil.which("vim"), reason="vim is not installed")
def test_vim_errorformat_with_real_vim(project):
    text = snippet("vim")
    makeprg = re.search(r"^set makeprg=(.*)$", text, re.M)[1].replace("\\ ", " ")
    efm = re.search(r"^set errorformat=(.*)$", text, re.M)[1]
    out = run(command(makeprg), project)
    assert out.returncode == 1
    (project / "out.txt").write_text(out.stdout)
    qf = project / "qf.txt"
    subprocess.run(
        ["vim", "-es", "-N", "-u", "NONE", "-i", "NONE",
         "-c", f"set errorformat={efm}", "-c", "cgetfile out.txt",
         "-c", 'call writefile(map(getqflist(), {_, e -> e.valid . "|" . bufname(e.bufnr) . "|" . e.lnum . "|" . e.col . "|" . e.text}), "qf.txt")',
         "-c", "qa!"],
        cwd=project, check=True, capture_output=True, timeout=60,
    )
    rows = [r.split("|", 4) for r in qf.read_text().splitlines()]
    assert rows and all(r[0] == "1" for r in rows)
    got = sorted((r[1], int(r[2]), int(r[3]), r[4]) for r in rows)
    fixable = {(p, line, col, code) for p, line, col, code, *_ in expected(project, ".", safe_fix=True)}
    want = sorted((p, line, col, f"{code} {'[*] ' * ((p, line, col, code) in fixable)}[{sev}] {msg}")
                  for p, line, col, code, sev, msg in expected(project, "."))
    assert fixable  # the `[*]` mark is in the output the errorformat reads
    assert got == want
