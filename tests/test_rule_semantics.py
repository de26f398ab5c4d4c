"""Rule behaviour that the Python examples cannot show: other dialects, implicit params, odd values."""

import math

import pytest

from lora_lint import project
from lora_lint.dialects import named
from lora_lint.model import UNKNOWN, LoraSite, Param, Span
from lora_lint.peft_facts import lora_fields
from lora_lint.registry import Context
from lora_lint.rules import all_rules

RULES = all_rules()
CONFIG_RULES = {c: r for c, r in RULES.items() if not r.needs_model and c < "LL900"}
HERE = Span(1, 1, 1, 2)


def site(dialect="peft", open_=False, implicit=(), **values):
    params = {}
    for i, (k, v) in enumerate(values.items(), start=2):
        params[k] = Param(k, v, Span(i, 1, i, 5), implicit=k in implicit)
    return LoraSite(path="x.yaml", dialect=named(dialect), span=HERE, params=params, open=open_)


def run(code, s, **options):
    r = RULES[code]
    ctx = Context(options={**r.options, **options})
    return r.run(s, ctx)


def codes(s, **options):
    return sorted({f.code for c in CONFIG_RULES for f in run(c, s, **options)})


ODD = [UNKNOWN, None, True, False, 0, -1, 10**100, -(10**100), 1e308, float("nan"), float("inf"),
       -float("inf"), "", "x", "${LORA_R}", [], [UNKNOWN], {}, {"q": UNKNOWN}, {UNKNOWN: 1},
       {"q_proj": float("nan")}, [1, "a", None], ("q",), {1, 2}, 2**4096, object()]


@pytest.mark.parametrize("dialect", ["peft", "axolotl", "adapter_config", "unsloth"])
@pytest.mark.parametrize("field", sorted(lora_fields()))
def test_no_rule_raises_on_odd_values(field, dialect):
    for value in ODD:
        for with_r in ({}, {"r": 10**100}, {"r": 3, "lora_alpha": 1e308, "use_rslora": True}):
            values = {**with_r, field: value}
            s = site(dialect, **values)
            for code in CONFIG_RULES:
                run(code, s, **{"peft-version": "0.5.0"})  # must not raise


@pytest.mark.parametrize("field", sorted(lora_fields()))
def test_unknown_values_never_fire(field):
    s = site("peft", **{field: UNKNOWN})
    assert codes(s) == []


def test_open_sites_do_not_fire_on_missing_fields():
    assert codes(site("peft", open_=True, init_lora_weights="loftq", r=256, task_type="CAUSAL_LM")) == ["LL102", "LL103"]
    assert codes(site("peft", open_=True, task_type="CAUSAL_LM", layers_pattern="layers", lora_alpha=0.1)) == []


def test_adapter_config_inference_mode_is_normal():
    assert run("LL012", site("saved-adapter", inference_mode=True)) == []
    assert run("LL012", site("axolotl", inference_mode=True))


@pytest.mark.parametrize("dialect,fires", [("axolotl", False), ("peft", True), ("adapter_config", True)])
def test_numeric_strings_are_numbers_in_yaml_frameworks(dialect, fires):
    s = site(dialect, r="16", lora_dropout="5e-2", lora_alpha="32")
    assert bool(run("LL005", s)) == fires
    assert bool(run("LL006", s)) == fires
    assert bool(run("LL007", s)) == fires


def test_yaml_numeric_strings_are_still_checked_for_range():
    s = site("axolotl", r="0", lora_dropout="1.5", lora_alpha="-2")
    assert [f.code for c in ("LL005", "LL006", "LL007") for f in run(c, s)] == ["LL005", "LL006", "LL007"]
    assert run("LL104", site("axolotl", r="256", lora_alpha="16"))


def test_null_in_yaml_means_default_but_none_in_python_is_passed_on():
    for field in ("r", "bias", "lora_dropout", "lora_alpha", "init_lora_weights"):
        assert codes(site("axolotl", **{field: None})) == [], field
        assert codes(site("peft", **{field: None})) != [], field


def test_yaml_frameworks_do_not_get_peft_defaults():
    # LLaMA-Factory's alpha defaults to 2r: without an implicit param alpha is unknown, not peft's 8.
    assert run("LL104", site("llama-factory", r=256)) == []
    assert run("LL104", site("peft", r=256))
    assert run("LL104", site("llama-factory", r=256, lora_alpha=512, implicit=("lora_alpha",))) == []


def test_implicit_params_may_fire_but_explicit_ones_are_preferred():
    s = site("trl", implicit=("lora_dropout",), lora_dropout=0.05, target_parameters=["mlp.experts.down_proj"])
    (f,) = run("LL009", s)
    assert f.span == s.params["target_parameters"].span
    s = site("trl", implicit=("r",), r=256, lora_alpha=16)
    (f,) = run("LL104", s)
    assert f.span == s.params["lora_alpha"].span
    s = site("llama-factory", implicit=("r",), r=8, task_type="CAUSAL_LM")
    (f,) = run("LL103", s)
    assert f.span == s.params["task_type"].span and "(the default)" in f.message


def test_no_rslora_feature_suppresses_rslora_advice():
    s = LoraSite("x.yaml", named("torchtune"), HERE,
                 {"r": Param("r", 64, HERE), "lora_alpha": Param("lora_alpha", 4, HERE)})
    assert not s.dialect.can_set("use_rslora")
    assert run("LL101", s) == []
    (f,) = run("LL104", s)
    assert "use_rslora" not in f.message


def test_rslora_sized_alpha_message():
    (f,) = run("LL104", site("peft", r=256, lora_alpha=512, use_rslora=True))
    assert "α/√r = 512/√256 = 32.0" in f.message and "lora_alpha=32 " in f.message


def test_scaling_options_are_honoured():
    s = site("peft", r=16, lora_alpha=256)  # 16
    assert run("LL104", s) and not run("LL104", s, **{"max-scaling": 20})
    assert run("LL102", site("peft", r=256)) and not run("LL102", site("peft", r=256), **{"max-rank": 256})


def test_variant_rules_handle_saved_adapter_configs():
    saved = {name: default for name, default in lora_fields().items() if isinstance(default, (bool, type(None), dict, int, str, float))}
    saved.update(r=32, lora_alpha=64, target_modules=["q_proj", "v_proj"], task_type="CAUSAL_LM",
                 inference_mode=True, use_bdlora={"target_modules_bd_a": ["o_proj"], "nblocks": 2})
    assert codes(site("saved-adapter", **saved)) == []  # advice (LL101) is not given on a finished run
    saved.update(inference_mode=False)  # the same settings written for training
    assert codes(site("adapter_config", **saved)) == ["LL101"]


class TestLL002Dialects:
    @pytest.fixture(autouse=True)
    def fresh(self):
        project.clear_cache()
        yield
        project.clear_cache()

    def findings(self, dialect, version, **values):
        return run("LL002", site(dialect, **values), **{"peft-version": version})

    def test_python_fires_on_any_newer_keyword(self):
        assert self.findings("peft", "0.13.2", use_dora=False) == []  # 0.9
        assert self.findings("peft", "0.8.0", use_dora=False)

    def test_adapter_config_before_0_14_crashes_on_any_newer_key(self):
        assert self.findings("adapter_config", "0.13.0", lora_bias=False)
        assert self.findings("adapter_config", "0.14.0", lora_bias=False) == []
        assert self.findings("adapter_config", "0.14.0", target_parameters=None) == []
        (f,) = self.findings("adapter_config", "0.14.0", target_parameters=["experts.w"])
        assert "drops the unknown key" in f.message
        assert self.findings("adapter_config", "0.14.0", peft_version="0.18.0") == []

    def test_adapter_config_load_follows_each_release(self):
        """peft 0.1-0.5 ignore an unknown key, 0.6-0.13 raise even for null, 0.14+ drop it."""
        (f,) = self.findings("adapter_config", "0.13.2", lora_bias=None)
        assert "peft 0.13.2 raises TypeError" in f.message
        (f,) = self.findings("adapter_config", "0.5.0", use_dora=True)
        assert "peft 0.5.0 ignores the unknown key" in f.message
        assert self.findings("adapter_config", "0.5.0", use_dora=None) == []
        assert self.findings("adapter_config", "<0.6", use_rslora=False) == []

    def test_removed_keys_in_a_saved_adapter(self):
        """merge_weights/enable_lora: peft 0.6-0.13 raise on them when loading, others load."""
        s = LoraSite("adapter_config.json", named("adapter_config"), HERE, {},
                     context={"merge_weights": Param("merge_weights", False, Span(3, 1, 3, 5))})
        (f,) = run("LL002", s, **{"peft-version": "0.10.0"})
        assert "peft 0.10.0 raises TypeError" in f.message and f.span.line == 3
        assert run("LL002", s, **{"peft-version": "0.14.0"}) == []
        assert run("LL002", s, **{"peft-version": "0.4.0"}) == []

    def test_all_linear_needs_0_8(self):
        (f,) = self.findings("peft", "0.7.1", target_modules="all-linear")
        assert "regular expression that matches no module" in f.message and "peft>=0.8.0" in f.message
        assert self.findings("peft", "0.8.0", target_modules="all-linear") == []
        assert self.findings("peft", "0.7.1", target_modules=["q_proj"]) == []
        assert self.findings("llama-factory", "0.7.1", target_modules="all-linear") == []  # its own finder

    def test_init_value_consequence_follows_the_release(self):
        (f,) = self.findings("peft", "0.10.0", init_lora_weights="olora")
        assert "raises ValueError (Unknown initialization)" in f.message
        (f,) = self.findings("peft", "0.6.2", init_lora_weights="gaussian")
        assert "default initialization" in f.message

    def test_task_type_newer_than_the_release(self):
        (f,) = self.findings("peft", "0.3.0", task_type="QUESTION_ANS")
        assert "added in peft 0.4.0" in f.message and "plain PeftModel" in f.message
        assert self.findings("peft", "0.4.0", task_type="QUESTION_ANS") == []

    def test_yaml_frameworks_only_when_set(self):
        assert self.findings("axolotl", "0.8.0", use_dora=False) == []
        assert self.findings("axolotl", "0.8.0", use_dora=True)

    def test_implicit_params_never_fire(self):
        s = site("unsloth", implicit=("use_rslora",), use_rslora=True)
        assert run("LL002", s, **{"peft-version": "0.7.0"}) == []

    def test_init_values(self):
        (f,) = self.findings("peft", "0.10.0", init_lora_weights="pissa_niter_4")
        assert "(pissa) was added in peft 0.11.0" in f.message
        assert self.findings("peft", "0.11.0", init_lora_weights="pissa_niter_4") == []
        assert self.findings("peft", "0.13.0", init_lora_weights="eva")
        assert self.findings("peft", "0.14.0", init_lora_weights="eva") == []
        assert self.findings("peft", "0.13.0", init_lora_weights=True) == []

    def test_bad_version_option_is_ignored(self):
        assert self.findings("peft", "not-a-version", use_dora=True) == []

    def test_unbounded_pin_never_fires(self, tmp_path):
        (tmp_path / ".git").mkdir()
        (tmp_path / "requirements.txt").write_text("peft>=0.5\n")
        s = LoraSite(str(tmp_path / "train.py"), named("peft"), HERE, {"kasa_config": Param("kasa_config", {}, HERE)})
        assert run("LL002", s) == []
        (tmp_path / "requirements.txt").write_text("peft==0.20.0\n")
        project.clear_cache()
        (f,) = run("LL002", s)
        assert "0.21.0" in f.message and "requirements.txt" in f.message


def test_nan_alpha_does_not_fire_alpha_rule():
    assert run("LL007", site("peft", lora_alpha=math.nan)) == []


@pytest.mark.parametrize(("name", "text", "advice"), [
    ("lf.yaml", "model_name_or_path: {m}\nstage: sft\nfinetuning_type: lora\nlora_target: all\n",
     "only peft's target_parameters=['mlp.experts.gate_up_proj', 'mlp.experts.down_proj'] (with lora_dropout=0) reaches them"),
    ("ax.yml", "base_model: {m}\nadapter: lora\nlora_r: 8\nlora_alpha: 16\nlora_target_linear: true\n",
     "add lora_target_parameters=['mlp.experts.gate_up_proj', 'mlp.experts.down_proj']"),
])
def test_ll206_advice_names_the_setting_the_framework_has(monkeypatch, name, text, advice):
    """LL206 tells a file to add target_parameters only by the name its framework reads
    (LLaMA-Factory has no such setting: an unknown key stops its argument parser)."""
    from pathlib import Path

    from lora_lint.pipeline import lint_text
    from lora_lint.settings import Settings

    monkeypatch.chdir(Path(__file__).resolve().parent.parent)
    (f,) = lint_text(name, text.format(m="tests/fixtures/models/tiny-qwen2-moe"), Settings(select=["LL206"]))
    assert advice in f.message, f.message


@pytest.mark.parametrize(("name", "text", "advice"), [
    # Qwen2-MoE's shared_expert_gate is hidden→1: no rank is below 1
    ("lf.yaml", "model_name_or_path: tests/fixtures/models/tiny-qwen2-moe\nstage: sft\nfinetuning_type: lora\n"
     "lora_target: all\nlora_rank: 8\n", "no rank is below 1, so leave it out of the targets"),
    # LLaMA-Factory has no rank_pattern: the advice does not name one
    ("lf.yaml", "model_name_or_path: tests/fixtures/models/tiny-llama\nstage: sft\nfinetuning_type: lora\n"
     "lora_target: k_proj\nlora_rank: 32\n", "use a rank below 32 for it, or leave it out"),
    ("x.py", "# lora-lint: base-model=tests/fixtures/models/tiny-llama\nfrom peft import LoraConfig\n"
     "LoraConfig(r=32, target_modules=['k_proj'])\n", "(e.g. rank_pattern={'k_proj': 8}) or leave it out"),
])
def test_ll105_advice_is_a_rank_the_file_can_write(monkeypatch, name, text, advice):
    from pathlib import Path

    from lora_lint.pipeline import lint_text
    from lora_lint.settings import Settings

    monkeypatch.chdir(Path(__file__).resolve().parent.parent)
    found = lint_text(name, text, Settings(select=["LL105"]))
    assert any(advice in f.message for f in found), [f.message for f in found]
