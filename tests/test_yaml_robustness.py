"""Hostile and odd input: alias bombs, deep nesting, python tags, CRLF, BOM, broken files, JSON."""

import os
from pathlib import Path

import pytest
import yaml
from conftest import json_compose, yaml_analyze, yaml_sites
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from lora_lint.model import UNKNOWN
from lora_lint.pipeline import lint_text
from lora_lint.settings import Settings
from lora_lint.sources import SourceError, json_nodes, yaml_nodes, yaml_source

FIXTURES = Path(__file__).parent / "fixtures" / "yaml"
AXOLOTL = "base_model: m\nadapter: lora\nlora_r: 8\nlora_alpha: 16\nsequence_len: 1\n"


def bomb(levels=9, width=9):
    lines = [f"a0: &a0 [{', '.join(['lol'] * width)}]"]
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def test_billion_laughs_costs_a_bounded_number_of_node_visits():
    text = bomb() + AXOLOTL + (
        "lora_target_modules: *a9\npeft_layers_to_transform: [*a9, *a9]\nlora_modules_to_save: *a8\n"
        "extra:\n  lora: {r: *a9, alpha: *a9, target_modules: *a9}\n")
    sites, budget = yaml_analyze("bomb.yml", text)
    # 9**9 = 387,420,489 strings if expanded; each distinct alias costs at most VALUE_BUDGET visits
    assert budget.used <= 5 * yaml_nodes.VALUE_BUDGET < 9 ** 9
    (s,) = sites
    assert s.params["target_modules"].value is UNKNOWN
    assert s.params["layers_to_transform"].value is UNKNOWN
    assert s.params["r"].value == 8


def test_the_file_budget_stops_every_walk():
    """(An aliased value is converted once; a merge key is flattened in each mapping that uses it.)"""
    text = ("big: &big {" + ", ".join(f"k{j}: {j}" for j in range(1000)) + "}\n"
            + "\n".join(f"k{i}:\n  lora: {{<<: *big, r: {i}}}" for i in range(1100)) + "\n")
    _sites, budget = yaml_analyze("many.yml", text)
    assert budget.exhausted and budget.used == budget.limit + 1


def test_merge_key_bomb_is_merged_once_per_mapping():
    lines = ["m0: &m0 {lora_r: 1, lora_alpha: 2}"]
    lines += [f"m{i}: &m{i} {{<<: [{', '.join([f'*m{i - 1}'] * 9)}], k{i}: 1}}" for i in range(1, 12)]
    text = "\n".join(lines) + "\nbase_model: m\nadapter: lora\n<<: *m11\nsequence_len: 1\n"
    sites, budget = yaml_analyze("merge.yml", text)
    assert budget.used < 1_000  # 9**11 merges if each reference were expanded
    assert (sites[0].params["r"].value, sites[0].params["lora_alpha"].value) == (1, 2)  # as yaml.safe_load


def test_a_site_read_on_an_exhausted_budget_is_open():
    text = AXOLOTL + "".join(f"k{i}: {i}\n" for i in range(100)) + "lora_target_modules: [q_proj]\n"
    (s,), budget = yaml_analyze("big.yml", text, yaml_nodes.Budget(limit=40))
    assert budget.exhausted
    assert s.open and not s.missing("target_modules")


def test_recursive_alias_is_unknown_not_a_hang():
    text = AXOLOTL + "loop: &loop [*loop, q_proj]\nlora_target_modules: *loop\n"
    (s,) = yaml_sites("loop.yml", text)
    assert not s.params["target_modules"].known and s.get("target_modules") is None


@pytest.mark.parametrize("loader", ["CSafeLoader", "SafeLoader"])
@pytest.mark.parametrize("depth", [10_000])
def test_deep_nesting_is_ll901_or_nothing(monkeypatch, loader, depth):
    if not hasattr(yaml, loader):
        pytest.skip(f"PyYAML without {loader}")
    monkeypatch.setattr(yaml_nodes, "Loader", getattr(yaml, loader))
    deep = "x: " + "[" * depth + "]" * depth + "\n"
    got = lint_text("deep.yml", AXOLOTL + deep)
    assert [f.code for f in got] == ["LL901"]
    assert lint_text("deep.yml", "stage: 1\n" + deep) == []
    block = "".join(" " * i + f"k{i}:\n" for i in range(depth)) + " " * depth + "1\n"
    assert [f.code for f in lint_text("deep.yml", "lora_r: 8\n" + block)] == ["LL901"]


def test_deep_json_is_ll901_or_nothing():
    deep = "[" * 10_000 + "]" * 10_000
    assert [f.code for f in lint_text("adapter_config.json", '{"peft_type": "LORA", "x": ' + deep + "}")] == ["LL901"]
    assert lint_text("data.json", deep) == []


def test_python_tags_are_never_constructed(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    text = (FIXTURES / "robustness" / "python_tag.yaml").read_text()
    marker = tmp_path / "lora_lint_pwned_marker"
    yaml.unsafe_load(text)  # the payload is live: an unsafe loader runs it
    assert marker.exists()
    marker.unlink()
    sites = yaml_sites("python_tag.yaml", text)
    got = lint_text("python_tag.yaml", text)
    assert not marker.exists()
    (s,) = sites
    assert s.params["r"].value is UNKNOWN and s.base_model is None
    assert [f for f in got if f.code in ("LL901", "LL903")] == []


@pytest.mark.parametrize("name", ["axolotl/wrong_keys.yml", "llama-factory/targets.yaml", "torchtune/qlora_mistakes.yaml"])
def test_crlf_and_bom_keep_positions(name):
    text = (FIXTURES / name).read_text()
    want = [(f.code, f.span, f.message) for f in lint_text(name, text)]
    assert want, "the fixture has findings to compare"
    for variant in (text.replace("\n", "\r\n"), "\ufeff" + text, "\ufeff" + text.replace("\n", "\r\n")):
        assert [(f.code, f.span, f.message) for f in lint_text(name, variant)] == want
    sites = yaml_sites(name, text.replace("\n", "\r\n"))
    for s, plain in zip(sites, yaml_sites(name, text), strict=True):
        assert {k: (p.span, [i.span for i in p.items]) for k, p in s.params.items()} == {
            k: (p.span, [i.span for i in p.items]) for k, p in plain.params.items()}


def test_bom_file_on_disk(tmp_path):
    from lora_lint.pipeline import lint_file

    path = tmp_path / "x.yml"
    path.write_bytes(b"\xef\xbb\xbf" + (FIXTURES / "axolotl" / "wrong_keys.yml").read_bytes())
    assert [(f.span.line, f.span.col) for f in lint_file(str(path), Settings(select=["LL001"]))] == [
        (3, 1), (5, 1), (6, 1)]


def test_yaml_11_numbers():
    text = AXOLOTL.replace("lora_r: 8", "lora_r: 8\nlora_dropout: 1e-1") + 'learning_rate: "2e-4"\n'
    (s,) = yaml_sites("n.yml", text)
    assert s.params["lora_dropout"].value == 0.1
    assert s.context["learning_rate"].value == "2e-4"  # quoted: stays a string


@pytest.mark.parametrize("written", ["${LORA_R}", "${oc.env:LORA_R,16}", "'{{ lora_r }}'", "???", "$LORA_R",
                                     "x-${RUN}-y", "!!python/object:os.system x", "!Ref Rank"])
def test_placeholders_and_tags_are_unknown(written):
    (s,) = yaml_sites("p.yml", AXOLOTL.replace("lora_r: 8", f"lora_r: {written}"))
    assert s.params["r"].value is UNKNOWN and s.get("r") is None


def test_huge_and_odd_scalars_do_not_crash():
    text = AXOLOTL.replace("lora_r: 8", "lora_r: " + "9" * 5000).replace("lora_alpha: 16", "lora_alpha: .nan")
    (s,) = yaml_sites("odd.yml", text)
    assert s.params["r"].value is UNKNOWN  # beyond Python's int-from-string limit
    lint_text("odd.yml", text)
    for odd in ("lora_r: [1, {a: b}]", "lora_r: {? [a]: b}", "lora_r: !!binary aGVsbG8=", "lora_r: 2001-12-14",
                "lora_r: !custom x", "lora_r: &x\nlora_alpha: *x", "<<: [1, 2]", "lora_r: 0x1F", "lora_r: 1_000"):
        lint_text("odd.yml", AXOLOTL + odd + "\n")


def test_broken_file_is_ll901_only_when_it_looks_like_lora():
    got = lint_text("b.yaml", (FIXTURES / "robustness" / "broken_lora.yaml").read_text())
    assert [(f.code, f.span.line, f.span.col) for f in got] == [("LL901", 4, 11)]
    assert "invalid YAML" in got[0].message
    assert lint_text("b.yaml", (FIXTURES / "robustness" / "broken_other.yaml").read_text()) == []
    assert [f.code for f in lint_text("adapter_config.json", '{"peft_type": "LORA", "r": 8,,}')] == ["LL901"]
    assert lint_text("package.json", '{"name": "x",, "version": 1}') == []
    assert lint_text("vocab.json", '{"lora": 5,, "r": 6}') == []
    with pytest.raises(SourceError):
        yaml_sites("b.yml", "lora_r: 8\n\tlora_alpha: [\n")


def test_text_from_an_editor_with_a_lone_surrogate():
    assert [(f.code, f.span.line, f.span.col) for f in lint_text("a.yml", "lora_r: 8\nx: \ud800\n")] == [
        ("LL901", 2, 4)]
    assert lint_text("x.yml", "stage: \ud800\n") == []


def test_json_nan_and_infinity_as_python_writes_them():
    (s,) = yaml_sites("adapter_config.json", '{"peft_type": "LORA", "r": 8, "lora_dropout": -Infinity}')
    assert s.params["lora_dropout"].value == float("-inf")


def test_control_characters_report_where():
    got = lint_text("c.yml", "lora_r: 8\nlora_alpha: 1\x07\n")
    assert [(f.code, f.span.line, f.span.col) for f in got] == [("LL901", 2, 14)]


def test_files_without_markers_are_not_parsed(monkeypatch):
    def boom(text):
        raise AssertionError("parsed")

    monkeypatch.setattr(yaml_nodes, "compose", boom)
    monkeypatch.setattr(json_nodes, "compose", boom)
    assert yaml_sites("ci.yml", "jobs:\n  test:\n    r: [1, 2]\n") == []
    assert yaml_sites("tokenizer.json", '{"vocab": {"lora": 5, "r": 6}}') == []


def test_big_data_files_are_not_composed(monkeypatch):
    def boom(text):
        raise AssertionError("parsed")

    monkeypatch.setattr(yaml_nodes, "compose", boom)
    data = "stage: 1\nitems:\n" + "".join(f"  - {{name: item{i}, lora: x{i}}}\n" for i in range(40_000))
    assert len(data) > yaml_source.LARGE
    assert yaml_sites("data.yml", data) == []
    with pytest.raises(AssertionError, match="parsed"):
        yaml_sites("data.yml", "lora_r: 8\n" + data)  # a big file that reads like LoRA is parsed


def test_json_reader():
    text = '{\n\t"a": 1e-4, "b": [1, "x\\/y", {"c": null}], "d": true,\r\n "e": -0, "f": "\\u00e9"}'
    (root,) = json_compose(text)
    m = yaml_nodes.Map.of(root, yaml_nodes.Budget())
    assert m.value("a") == 0.0001 and m.value("b") == [1, "x/y", {"c": None}]
    assert (m.value("d"), m.value("e"), m.value("f")) == (True, 0, "é")
    assert yaml_nodes.span(m.get("e").key_node) == yaml_nodes.Span(3, 2, 3, 5)
    for bad, where in (('{"a": }', (1, 7)), ('{"a": 1', (1, 8)), ("[1 2]", (1, 4)), ('{"a": 1} x', (1, 10)),
                       ('{"a": "\\q"}', (1, 7)), ("{'a': 1}", (1, 2))):
        with pytest.raises(yaml_nodes.ParseError) as e:
            json_compose(bad)
        assert (e.value.span.line, e.value.span.col) == where, bad
    assert json_compose("  ") == []


# --- fuzzing: whatever the values, no dialect raises ------------------------------------------------

KEYS = ["base_model", "adapter", "lora_r", "lora_alpha", "lora_dropout", "lora_target_modules", "lora_target_linear",
        "load_in_4bit", "load_in_8bit", "gptq", "merge_lora", "lora_model_dir", "peft", "tokens", "lora_rank",
        "lora_target", "finetuning_type", "stage", "do_train", "adapter_name_or_path", "quantization_bit",
        "pissa_init", "pissa_iter", "additional_target", "create_new_adapter", "use_peft", "model_name_or_path",
        "lora_task_type", "use_rslora", "use_dora", "task", "params", "training", "lora", "train_type",
        "target_modules", "peft_type", "r", "model", "_component_", "lora_attn_modules", "apply_lora_to_mlp",
        "apply_lora_to_output", "checkpointer", "peft_config", "name", "_target_", "sequence_len", "template",
        "use_loftq", "training_type", "lora_target_parameters", "lr_groups", "loraplus_lr_ratio", "rl",
        "lora_mlp_kernel", "unfrozen_parameters", "peft_layers_to_transform", "type_of_model", "reward_model"]
SCALARS = st.sampled_from([
    "lora", "qlora", "full", "all", "all-linear", "q_proj,v_proj", "q_proj, v_proj", "", "~", "true", "false", "0",
    "-1", "8", "16", "0.5", "1e-4", "'8'", "${X}", "!!python/object:os.system x", "peft.LoraConfig",
    "torchtune.models.llama3_2.lora_llama3_2_1b", "LORA", "llm-sft", "text_classification", "sft", "kto", "[]",
    "{}", "[q_proj]", "[o_proj, q_proj]", "{loftq_config: {loftq_bits: 4}}", "{backend: bnb, weight_dtype: nf4}",
    "{name: lora, r: 0, adapter_name_or_path: x}", "{training_type: full}", "{lora_r: 8, use_loftq: true}",
    "[1, 2]", "{checkpoint_dir: /d, model_type: LLAMA3}", "{loftq_config: [1]}", "{loftq_config: {loftq_bits: [1]}}",
    "[[a]]", "{_component_: [x]}", "{a: {b: {c: d}}}", "{model_type: [x], checkpoint_dir: [y]}", "[{r: 8}]",
    "{lora_r: [8], lora_alpha: {a: 1}, target_modules: [[q]]}", "{name: [lora]}", "{peft: [true]}", "*a", "&a [1]",
])


@st.composite
def documents(draw):
    keys = draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=12))
    lines = [f"{k}: {draw(SCALARS)}" for k in keys]
    if draw(st.booleans()):
        nested = draw(st.sampled_from(["model", "params", "lora", "peft_config", "training", "x"]))
        inner = draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=6))
        lines.append(f"{nested}:")
        lines += [f"  {k}: {draw(SCALARS)}" for k in inner]
    return "\n".join(lines) + "\n"


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents(), st.sampled_from(["c.yaml", "recipes/x/config_lora.yaml", "adapter_config.json"]))
def test_fuzzed_configs_never_raise(text, name):
    try:
        yaml_sites(name, text)
    except SourceError:
        pass
    found = lint_text(name, text)
    assert not [f for f in found if f.code == "LL903"], [f.message for f in found]


def test_fixture_dir_has_no_stray_marker_file():
    assert not os.path.exists(FIXTURES / "lora_lint_pwned_marker")
