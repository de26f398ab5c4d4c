"""Jupyter notebooks and Python with IPython magics: the code cells read as one script, findings
in cell coordinates, suppressions in cells, fixes written back into the cells with every other
byte of the notebook kept, and the files that are not notebooks lora-lint can read."""

import json
from pathlib import Path

import pytest
from conftest import SHARED

from lora_lint.cli import main
from lora_lint.fixes.apply import fix_source
from lora_lint.pipeline import lint_file, lint_text
from lora_lint.settings import Settings
from lora_lint.source_file import SourceFile
from lora_lint.sources import presented

ROOT = Path(__file__).resolve().parent.parent
TINY_LLAMA = ROOT / "tests" / "fixtures" / "models" / "tiny-llama"
WILD = SHARED / "corpus-wild"
NOTEBOOKS = sorted((WILD / "notebooks").glob("*.ipynb"))
needs_corpus = pytest.mark.skipif(not NOTEBOOKS, reason="the shared corpus is not next to the repository")


def lines(text: str) -> list[str]:
    """nbformat's way of storing a cell's source: its lines, each with its line break."""
    out, start = [], 0
    for i, c in enumerate(text):
        if c == "\n":
            out.append(text[start:i + 1])
            start = i + 1
    if start < len(text):
        out.append(text[start:])
    return out


def notebook(*cells, indent=1, ensure_ascii=False, kernel="python", newline=True) -> str:
    """A notebook as Jupyter writes it: ``cells`` are ``(cell_type, text)``, or a text for a code cell."""
    out = []
    for cell in cells:
        kind, text = ("code", cell) if isinstance(cell, str) else cell
        c = {"cell_type": kind, "metadata": {}, "source": lines(text)}
        if kind == "code":
            c.update(execution_count=None, outputs=[{"name": "stdout", "output_type": "stream",
                                                     "text": ["LoraConfig(r=8) café\n"]}])
        out.append(c)
    nb = {"cells": out, "metadata": {"kernelspec": {"display_name": "Python 3", "language": kernel,
                                                    "name": "python3"}},
          "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(nb, indent=indent, ensure_ascii=ensure_ascii, sort_keys=True) + ("\n" if newline else "")


def found(path: str, text: str, select: str | None = None) -> list[tuple[str, int | None, int, int]]:
    source = presented(SourceFile.of_text(path, text))
    settings = Settings(select=[select]) if select else Settings()
    return [(f.code, *source.locate(f.span.line), f.span.col) for f in lint_text(path, text, settings)]


CONFIG = "from peft import LoraConfig\n\ncfg = LoraConfig(\n    r=64,\n    lora_alpha=16,\n)"


# -- reading ------------------------------------------------------------------------------------

def test_findings_carry_the_cell_and_the_line_within_it(tmp_path, capsys):
    path = tmp_path / "train.ipynb"
    path.write_text(notebook(("markdown", "# LoraConfig(r=64) in markdown is not read"), "import os",
                             CONFIG, ("raw", "LoraConfig(r=64)")))
    assert main(["check", "--isolated", "--select", "LL101", str(path)]) == 1
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith(f"{path}:cell 3:4:5: LL101 [warning] r=64 without use_rslora")
    assert out[1] == "Found 1 finding (1 warning)."


def test_a_model_loaded_in_one_cell_reaches_the_config_of_another():
    text = notebook(f'from transformers import AutoModelForCausalLM\nmodel = AutoModelForCausalLM.from_pretrained("{TINY_LLAMA}")',
                    "x = 1",
                    'from peft import LoraConfig, get_peft_model\nconfig = LoraConfig(target_modules=["query_key_value"])\n'
                    "model = get_peft_model(model, config)")
    assert found("nb.ipynb", text, "LL201") == [("LL201", 3, 2, 21)]


IPYTHON = [
    "!pip install -q peft transformers",
    "%%capture\n!pip install unsloth\n%pip install -U trl",
    "%time x = sum(range(3))\nfiles = !ls\nout = %sx echo hi",
    "LoraConfig?\n??LoraConfig\nnp.*load*?",
    "pip install -q peft\ncd /content\n%load_ext autoreload",
    "%%bash\nif [ -f x ]; then echo 'unbalanced (\nfi",
    "%%writefile train.py\nfrom peft import LoraConfig\nLoraConfig(r=-1",
    "if True:\n    !echo \"it's\"\nwhile False:\n    %time pass",
]


@pytest.mark.parametrize("cell", IPYTHON)
def test_ipython_syntax_is_skipped_not_a_syntax_error(cell):
    text = notebook(cell, CONFIG)
    assert found("nb.ipynb", text) == [("LL902", 2, 3, 7), ("LL101", 2, 4, 5)]


def test_a_broken_cell_breaks_only_itself_and_a_broken_lora_cell_is_ll901():
    assert found("nb.ipynb", notebook("def broken(:\n    pass", CONFIG), "LL101") == [("LL101", 2, 4, 5)]
    broken = "from peft import LoraConfig\nimport os import sys\nx = LoraConfig(r=-1)"
    got = found("nb.ipynb", notebook(broken, "cfg = LoraConfig(r=64)"), None)
    assert ("LL901", 1, 2, 11) in got and ("LL101", 2, 1, 18) in got  # (its import reaches cell 2)


@pytest.mark.parametrize("text,message", [
    ('{"cells": [{"source": "LoraConfig(r=8)"', "notebook is not valid JSON"),
    ('{"nbformat": 3, "worksheets": [{"cells": [{"input": "LoraConfig(r=8)"}]}]}', "notebook format 3 is not read"),
    ('["LoraConfig"]', "notebook is not valid JSON (a notebook is a JSON object)"),
    ('{"cells": [], "note": "LoraConfig"}', "not a Jupyter notebook"),
])
def test_a_file_that_is_not_a_notebook_is_ll901_when_it_holds_a_lora_marker(text, message):
    got = lint_text("nb.ipynb", text)
    assert [f.code for f in got] == ["LL901"] and got[0].message.startswith(message)
    assert lint_text("nb.ipynb", text.replace("LoraConfig", "Other")) == []


def test_a_notebook_of_another_language_is_not_read():
    assert lint_text("nb.ipynb", notebook(CONFIG, kernel="R")) == []


def test_suppressions_and_the_base_model_comment_work_in_cells():
    text = notebook("# lora-lint: ignore[LL101]\ncfg = LoraConfig(r=64)", "cfg2 = LoraConfig(r=64)  # noqa: LL101",
                    "from peft import LoraConfig")
    assert found("nb.ipynb", text, "LL101") == []
    text = notebook(f"# lora-lint: base-model={TINY_LLAMA}", CONFIG.replace("r=64", 'target_modules=["qkv"]'))
    assert [c for c, *_ in found("nb.ipynb", text)] == ["LL201"]


def test_a_notebook_without_a_lora_marker_is_not_parsed(monkeypatch):
    from lora_lint.sources import notebook as reader

    calls = []
    monkeypatch.setattr(reader, "view", lambda s: calls.append(s) or s)
    assert lint_text("nb.ipynb", notebook("import torch").replace("LoraConfig", "Config") + "not json") == []
    assert calls == []


# -- the wild corpus: every LoRA configuration is found --------------------------------------------

#: Counted by reading each file (each notebook's code cells in Jupyter): one site per
#: ``LoraConfig(...)`` / ``get_peft_model(...)`` of Unsloth / rapidfireai ``RFLoraConfig(...)``
#: call that runs, with the cell it is in. Not sites: ``LoraConfig(`` inside a string
#: (code-llm-single-gpu's ``prefix = \"\"\"...`` cells 38 and 40), a commented-out call
#: (granite-vision-sft), peft's ``get_peft_model(model, config)`` (it takes a config built
#: elsewhere). rapidfire-multiconfig's cell 24 has two ``RFLoraConfig`` grid entries; t5-story's
#: cell 6 does not parse (LL901 at it) and its config is in cell 30.
WILD_SITES = {
    "magics/ScientiaCapital__unsloth-mcp-server__colab-train-3b.py": [("unsloth", None)],
    "magics/Thibault-GAREL__PPE_LLM_LoRa_Smart_contract__colab-fine-tuning-complete.py": [("peft", None)],
    "magics/databricks__databricks-ml-examples__blip2-image-description.py": [("peft", None)],
    "magics/databricks__databricks-ml-examples__falcon-40b-qlora.py": [("peft", None)],
    "magics/databricks__databricks-ml-examples__llama2-70b-qlora.py": [("peft", None)],
    "magics/databricks__databricks-ml-examples__mistral-7b-qlora.py": [("peft", None)],
    "magics/databricks__databricks-ml-examples__mpt-7b-8k-qlora.py": [("peft", None)],
    "magics/yuanzhoulvpi2017__zero_nlp__chatglm6b-train-all.py": [("peft", None)],
    "notebooks/AidenGatani__Emotion-Classifier__emotion-classifier.ipynb": [("peft", 18)],
    "notebooks/Amirhosseinesbati__parsbert-ner-lora-binary__parsbert-ner-token-cls.ipynb": [("peft", 7)],
    "notebooks/HRF001__gemma-text-to-sql__gemma3-text-to-sql.ipynb": [("peft", 9)],
    "notebooks/Kartik87580__Text_Classification__roberta-fine-tuning.ipynb": [("peft", 10)],
    "notebooks/NielsRogge__Transformers-Tutorials__mistral-sft-trl.ipynb": [("peft", 26)],
    "notebooks/NielsRogge__Transformers-Tutorials__paligemma-json-qlora.ipynb": [("peft", 42)],
    "notebooks/NielsRogge__Transformers-Tutorials__timesfm-lora.ipynb": [("peft", 26)],
    "notebooks/anyscale__templates__ray-train-finetune.ipynb": [("peft", 20)],
    "notebooks/brevdev__notebooks__biomistral-finetune.ipynb": [("peft", 50)],
    "notebooks/brevdev__notebooks__mixtral-finetune-own-data.ipynb": [("peft", 47)],
    "notebooks/brevdev__notebooks__phi2-finetune-own-data.ipynb": [("peft", 43)],
    "notebooks/databricks__databricks-ml-examples__openllama-qlora.ipynb": [("peft", 7)],
    "notebooks/google-gemini__gemma-cookbook__gemma2-lora.ipynb": [("peft", 27)],
    "notebooks/google-gemini__gemma-cookbook__gemma2-unsloth.ipynb": [("unsloth", 21)],
    "notebooks/google-gemini__gemma-cookbook__gemma3-270m-emoji.ipynb": [("peft", 23)],
    "notebooks/huggingface__cookbook__code-llm-single-gpu.ipynb": [("peft", 24)],
    "notebooks/huggingface__cookbook__granite-vision-sft.ipynb": [("peft", 36)],
    "notebooks/huggingface__cookbook__rapidfire-multiconfig.ipynb": [("peft", 24), ("peft", 24)],
    "notebooks/huggingface__cookbook__xlam-function-calling.ipynb": [("peft", 23)],
    "notebooks/huggingface__smol-course__smollm2-sft-peft.ipynb": [("peft", 9)],
    "notebooks/huggingface__smol-course__smolvlm-sft.ipynb": [("peft", 9)],
    "notebooks/imperfect-abhi__medical-ner-lora__medical-ner-token-cls.ipynb": [("peft", 8)],
    "notebooks/liguodongiot__llm-action__finetune-bloom-bnb-peft.ipynb": [("peft", 3)],
    "notebooks/mnoumanhanif__multimodal-story-generation-T5-LoRA__t5-story-notebook.ipynb": [("peft", 30)],
    "notebooks/pmcavallo__CreditNLP__creditnlp-finetuning.ipynb": [("peft", 15)],
    "notebooks/rintaro-s__LAL-v2_NF4__rinna-neox-study.ipynb": [("peft", 1)],
}


@needs_corpus
def test_every_lora_config_of_the_wild_notebooks_and_exports_is_found():
    from lora_lint.files import read_file
    from lora_lint.sources import sites_for

    files = sorted(str(p.relative_to(WILD)) for folder in ("notebooks", "magics") for p in (WILD / folder).iterdir())
    assert files == sorted(WILD_SITES)
    for name, expected in WILD_SITES.items():
        read = read_file(str(WILD / name), Settings())
        assert read.problem is None, name
        got = [(s.dialect.name, read.source.locate(s.span.line)[0]) for s in sites_for(read.source)]
        assert got == expected, name


# -- writing back --------------------------------------------------------------------------------

@needs_corpus
@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.name[:40] for p in NOTEBOOKS])
def test_the_corpus_notebooks_round_trip_byte_for_byte(path):
    raw = path.read_bytes().decode("utf-8")
    view = presented(SourceFile.of_text(str(path), raw))
    assert view.file_text == raw


def _source_spans(raw: str) -> list[tuple[int, int]]:
    view = presented(SourceFile.of_text("nb.ipynb", raw))
    return [c.value for c in view.rows.cells]


@needs_corpus
def test_fixes_on_the_corpus_notebooks_edit_only_the_cells_sources():
    fixed = 0
    for path in NOTEBOOKS:
        raw = path.read_bytes().decode("utf-8")
        result = fix_source(SourceFile.of_text(str(path), raw), Settings(offline=True), unsafe=True)
        if not result.changed:
            continue
        fixed += 1
        new = result.fixed_source.file_text
        before, after = json.loads(raw), json.loads(new)
        changed = [i for i, (a, b) in enumerate(zip(before["cells"], after["cells"], strict=True)) if a != b]
        for i in changed:
            assert {k: v for k, v in before["cells"][i].items() if k != "source"} == {
                k: v for k, v in after["cells"][i].items() if k != "source"}
        before["cells"] = after["cells"] = []
        assert before == after
        # byte for byte outside the edited source values
        spans = _source_spans(raw)
        first, last = min(a for a, _ in spans), max(b for _, b in spans)
        assert new[:first] == raw[:first] and new[len(new) - (len(raw) - last):] == raw[last:], path
        again = fix_source(SourceFile.of_text(str(path), new), Settings(offline=True), unsafe=True)
        assert not again.changed, path
    assert fixed >= 3


@pytest.mark.parametrize("style", [dict(indent=1), dict(indent=2, ensure_ascii=True), dict(indent=1, newline=False)])
def test_fix_and_diff_on_a_notebook(tmp_path, capsys, style):
    path = tmp_path / "train.ipynb"
    original = notebook(("markdown", "Fine-tune"), "!pip install peft", CONFIG.replace("lora_alpha", "lora_aplha"), **style)
    path.write_text(original, encoding="utf-8")
    assert main(["check", "--isolated", "--select", "LL001,LL101", "--unsafe-fixes", "--diff", str(path)]) == 1
    diff = capsys.readouterr().out
    assert diff.startswith(f"--- {path}:cell 3\n+++ {path}:cell 3\n")
    assert "+    use_rslora=True,\n" in diff and "+    lora_alpha=16,\n" in diff
    assert path.read_text(encoding="utf-8") == original
    assert main(["check", "--isolated", "--select", "LL001,LL101", "--unsafe-fixes", "--fix", str(path)]) == 0
    fixed = path.read_text(encoding="utf-8")
    expected = json.loads(original)
    expected["cells"][2]["source"] = lines(CONFIG.replace("r=64,\n", "r=64,\n    use_rslora=True,\n"))
    assert json.loads(fixed) == expected
    assert fixed == notebook(("markdown", "Fine-tune"), "!pip install peft",
                             CONFIG.replace("r=64,\n", "r=64,\n    use_rslora=True,\n"), **style)


def test_crlf_json_and_a_one_string_source_are_kept(tmp_path, capsys):
    nb = json.loads(notebook("x = 1", CONFIG.replace("lora_alpha", "lora_aplha")))
    nb["cells"][1]["source"] = "".join(nb["cells"][1]["source"])
    raw = json.dumps(nb, indent=2).replace("\n", "\r\n")
    path = tmp_path / "nb.ipynb"
    path.write_bytes(raw.encode())
    assert main(["check", "--isolated", "--select", "LL001", "--fix", str(path)]) == 0
    nb["cells"][1]["source"] = CONFIG
    assert path.read_bytes() == json.dumps(nb, indent=2).replace("\n", "\r\n").encode()


def test_stdin_fix_prints_the_notebook(capsys, monkeypatch):
    import io

    text = notebook(CONFIG.replace("lora_alpha", "lora_aplha"))
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(text.encode())))
    main(["check", "--isolated", "--select", "LL001", "--fix", "--stdin-filename", "nb.ipynb", "-"])
    assert capsys.readouterr().out == notebook(CONFIG)


# -- Python with IPython magics -----------------------------------------------------------------

MAGICS_PY = """%%capture
!pip install unsloth
!pip uninstall unsloth -y && pip install --upgrade \\
    --no-deps unsloth
%pip install peft
from peft import LoraConfig
files = !ls
LoraConfig?
ok = (1
      != 2)
ok = 1 \\
     != 2
cfg = LoraConfig(r=64)
"""


def test_a_python_export_with_magics_is_linted():
    assert [(f.code, f.span.line) for f in lint_text("colab.py", MAGICS_PY, Settings(select=["LL101", "LL901"]))] == [
        ("LL101", 13)]


@pytest.mark.parametrize("text,line", [
    ("!pip install peft\nfrom peft import LoraConfig\ncfg = LoraConfig(r=8\n", 4),
    ("from peft import LoraConfig\nx = [1,\n!= 2]\ncfg = LoraConfig(r=8)\n", 3),
    ("from peft import LoraConfig\ns = '''\n'''\nx = 1 +\n!ls\ncfg = LoraConfig(r=8)\n", 5),
])
def test_real_syntax_errors_are_still_reported(text, line):
    got = lint_text("colab.py", text)
    assert [(f.code, f.span.line) for f in got] == [("LL901", line)]


@needs_corpus
def test_a_magic_line_alone_never_makes_the_corpus_exports_unreadable():
    for path in sorted((WILD / "magics").glob("*.py")):
        assert not [f for f in lint_file(str(path)) if f.code in ("LL901", "LL903")], path


# -- output formats ------------------------------------------------------------------------------

def _formats(tmp_path, capsys, fmt):
    path = tmp_path / "nb.ipynb"
    path.write_text(notebook(("markdown", "intro"), "import os", CONFIG), encoding="utf-8")
    main(["check", "--isolated", "--select", "LL101", "--output-format", fmt, str(path)])
    return path, capsys.readouterr().out


def _at_in_json(path, line, col):
    return path.read_text(encoding="utf-8").split("\n")[line - 1][col - 1:]


@pytest.mark.parametrize("fmt", ["concise", "full", "grouped"])
def test_human_formats_print_the_cell(tmp_path, capsys, fmt):
    path, out = _formats(tmp_path, capsys, fmt)
    assert "cell 3:4:5" in out
    if fmt == "full":  # the code frame counts the cell's lines
        assert "3 | cfg = LoraConfig(\n4 |     r=64,\n" in out.replace("  |", " |")


def test_json_formats_carry_the_cell_and_rows_within_it(tmp_path, capsys):
    for fmt in ("json", "json-lines"):
        path, out = _formats(tmp_path, capsys, fmt)
        got = json.loads(out)[0] if fmt == "json" else json.loads(out.splitlines()[0])
        assert (got["cell"], got["location"], got["noqa_row"]) == (3, {"row": 4, "column": 5}, 4)
        assert got["fix"]["edits"][0]["location"]["row"] == 5  # (use_rslora=True inserted before line 5)
    py = tmp_path / "train.py"
    py.write_text(CONFIG)
    main(["check", "--isolated", "--select", "LL101", "--output-format", "json", str(py)])
    assert json.loads(capsys.readouterr().out)[0]["cell"] is None


def test_sarif_github_gitlab_junit_point_into_the_notebook_file(tmp_path, capsys):
    path, out = _formats(tmp_path, capsys, "sarif")
    result = json.loads(out)["runs"][0]["results"][0]
    region = result["locations"][0]["physicalLocation"]["region"]
    assert _at_in_json(path, region["startLine"], region["startColumn"]).startswith('r=64,\\n"')
    assert region["properties"] == {"cell": 3, "cellLine": 4, "cellColumn": 5, "cellEndLine": 4, "cellEndColumn": 9}
    assert "fixes" not in result
    import jsonschema

    schema = json.loads((ROOT / "tests" / "fixtures" / "sarif-schema-2.1.0.json").read_text())
    jsonschema.validate(json.loads(out), schema)
    path, out = _formats(tmp_path, capsys, "github")
    import re

    m = re.search(r"line=(\d+),col=(\d+)", out)
    assert _at_in_json(path, int(m[1]), int(m[2])).startswith("r=64")
    assert "::cell 3%3A4%3A5: LL101" in out or "::cell 3:4:5: LL101" in out
    path, out = _formats(tmp_path, capsys, "gitlab")
    issue = json.loads(out)[0]
    begin = issue["location"]["positions"]["begin"]
    assert _at_in_json(path, begin["line"], begin["column"]).startswith("r=64")
    assert issue["description"].startswith("cell 3:4:5: LL101")
    path, out = _formats(tmp_path, capsys, "junit")
    assert "cell 3, line 4, col 5, r=64 without use_rslora" in out
    m = re.search(r'line="(\d+)" column="(\d+)"', out)
    assert _at_in_json(path, int(m[1]), int(m[2])).startswith("r=64")


def test_messages_and_report_name_lines_in_cells(tmp_path, capsys):
    text = notebook('import random\nbase = random.choice(["a", "b"])',
                    "from peft import LoraConfig\nfrom transformers import AutoModelForCausalLM\n"
                    "model = AutoModelForCausalLM.from_pretrained(base)\ncfg = LoraConfig(r=8)")
    got = [f.message for f in lint_text("nb.ipynb", text) if f.code == "LL902"]
    assert got and "the base model (cell 2, line 3) is computed at run time" in got[0]
    path = tmp_path / "nb.ipynb"
    path.write_text(text)
    main(["report", "--isolated", "--output-format", "json", str(path)])
    row = json.loads(capsys.readouterr().out)[0]
    assert (row["cell"], row["location"]["row"]) == (2, 4)


def test_a_name_set_again_to_the_same_value_in_a_later_cell_is_known():
    text = notebook(f'base_model_id = "{TINY_LLAMA}"\nfrom transformers import AutoModelForCausalLM\n'
                    "model = AutoModelForCausalLM.from_pretrained(base_model_id)",
                    'from peft import LoraConfig\ncfg = LoraConfig(target_modules=["Wqkv"])',
                    f'base_model_id = "{TINY_LLAMA}"')
    assert [c for c, *_ in found("nb.ipynb", text)] == ["LL201"]
    other = notebook(*json.loads(text)["cells"][0]["source"][:0], "".join(json.loads(text)["cells"][0]["source"]),
                     'from peft import LoraConfig\ncfg = LoraConfig(target_modules=["Wqkv"])',
                     'base_model_id = "elsewhere"')
    assert [c for c, *_ in found("nb.ipynb", other)] == ["LL201"]  # (set after its use: not in effect there)


def test_the_model_in_effect_where_the_config_is_applied_is_the_one_tied():
    load = 'from transformers import AutoModelForCausalLM\nmodel = AutoModelForCausalLM.from_pretrained("{}")'
    apply = ('from peft import LoraConfig, get_peft_model, prepare_model_for_kbit_training\n'
             'model = prepare_model_for_kbit_training(model)\n'
             'config = LoraConfig(target_modules=["Wqkv"])\nmodel = get_peft_model(model, config)')
    # the notebook loads its fine-tuned model again in a later cell: that load is not the base model
    text = notebook(load.format(TINY_LLAMA), apply, load.format("outputs/checkpoint-500"))
    assert [c for c, *_ in found("nb.ipynb", text)] == ["LL201"]
    # a conditional load between the base model's and the config's could be in effect: not known
    maybe = notebook(load.format(TINY_LLAMA), "if False:\n    " + load.format("elsewhere").replace("\n", "\n    "), apply)
    assert [c for c, *_ in found("nb.ipynb", maybe)] == ["LL902"]


def test_a_name_rebound_in_order_is_read_where_it_is_used():
    """Databricks' exports: ``model = "ID"`` then ``model = AutoModel...from_pretrained(model)``."""
    text = (f'model = "{TINY_LLAMA}"\nfrom transformers import AutoModelForCausalLM\n'
            "model = AutoModelForCausalLM.from_pretrained(model)\n"
            'from peft import LoraConfig, get_peft_model\nconfig = LoraConfig(target_modules=["Wqkv"])\n'
            "model = get_peft_model(model, config)\n")
    assert [f.code for f in lint_text("train.py", text)] == ["LL201"]
    looped = text.replace("model = AutoModelForCausalLM", "for _ in range(1):\n    model = AutoModelForCausalLM")
    assert [f.code for f in lint_text("train.py", looped)] == ["LL902"]
