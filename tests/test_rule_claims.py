"""What each rule's finding says peft does, shown with the real peft on the meta device.

A model rule's finding states what ``get_peft_model`` will do with the config: raise (with which
message), or silently drop, adapt, wrap, scale or count something. The rules' own examples are the
cases (so a claim cannot drift away from what the rule is shown to report): each is run through the
real peft 0.21.2 on the same tiny model, and the test checks what the finding says happens. Each
rule's "Evidence" names the tests here that prove it. The config rules' claims are mostly shown in
test_rules_vs_peft.py; the numbers the advisory rules print (scalings, counts) are checked here.
"""

from __future__ import annotations

import ast
import copy
import re
import warnings
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
peft = pytest.importorskip("peft")

from differential import config, run_peft  # noqa: E402

from lora_lint.models.build import build_model  # noqa: E402
from lora_lint.pipeline import lint_text  # noqa: E402
from lora_lint.rules import all_rules  # noqa: E402
from lora_lint.settings import Settings  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
RULES = all_rules()
MODEL = re.compile(r"tests/fixtures/models/([\w.-]+)")
LOADED = re.compile(r"(AutoModel\w*)\.from_pretrained")


@pytest.fixture(autouse=True)
def _at_the_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # the examples name tiny models as tests/fixtures/models/<name>


def replayable(src: str):
    """``(model, model class, LoraConfig kwargs)`` of a Python example, or None (no tiny model, no
    literal ``LoraConfig(...)``)."""
    model = MODEL.search(src)
    calls = [n for n in ast.walk(ast.parse(src)) if isinstance(n, ast.Call)
             and isinstance(n.func, ast.Name) and n.func.id == "LoraConfig"]
    if model is None or len(calls) != 1:
        return None
    try:
        kwargs = {k.arg: ast.literal_eval(k.value) for k in calls[0].keywords}
    except ValueError:  # a value computed at run time (``targets.append(...)``)
        return None
    cls = LOADED.search(src)
    return model[1], cls[1] if cls else None, kwargs


def examples(*codes: str, kind: str = "invalid"):
    """Every replayable Python example of the rules ``codes`` (all model-aware rules by default)."""
    out = []
    for code, r in RULES.items():
        if code not in codes if codes else not (r.needs_model or r.uses_model):
            continue
        for i, src in enumerate(getattr(r, kind)):
            case = None if isinstance(src, tuple) else replayable(src)
            if case is not None:
                out.append(pytest.param(code, src, *case, id=f"{code}-{kind}-{i}"))
    return out


def messages(code: str, src: str) -> list[str]:
    return [f.message for f in lint_text("example.py", src, Settings(select=[code]))]


def peft_model(model: str, kwargs: dict, model_class: str | None = None, caught: list | None = None):
    """The real ``get_peft_model`` on the tiny model built on the meta device; its warnings go to
    ``caught``."""
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        pm = peft.get_peft_model(build_model(config(model), model_class), peft.LoraConfig(**copy.deepcopy(kwargs)))
    if caught is not None:
        caught.extend(str(w.message) for w in seen)
    return pm


def trainable(pm) -> dict[str, int]:
    return {n: p.numel() for n, p in pm.named_parameters() if p.requires_grad}


# -- raising: a finding says "get_peft_model raises" exactly where the real peft raises ---------------

@pytest.mark.parametrize("code,src,model,model_class,kwargs", examples())
def test_a_finding_says_peft_raises_exactly_when_it_does(code, src, model, model_class, kwargs):
    """Every model rule's invalid examples: where the real peft raises, the finding quotes its
    exception class and message; where peft accepts the config, no finding says it raises."""
    theirs = run_peft(model, model_class, kwargs)
    said = messages(code, src)
    assert said, f"{code} does not fire on its own example"
    if theirs[0] == "error":
        exc, text = theirs[1].split(": ", 1)
        head = text.split("(")[0][:60].rstrip(".")  # the message goes on after it
        assert any(f"raises {exc}" in m and head in m for m in said), (theirs[1], said)
    else:
        assert not any("get_peft_model raises" in m or "peft raises" in m for m in said), said


@pytest.mark.parametrize("code,src,model,model_class,kwargs", examples(kind="valid"))
def test_peft_accepts_every_valid_model_example(code, src, model, model_class, kwargs):
    """A valid example is one peft accepts (a rule's 'Use instead' is never a config that raises),
    unless the example is about the exception another rule reports."""
    theirs = run_peft(model, model_class, kwargs)
    if theirs[0] == "error":
        owners = {f.code for f in lint_text("example.py", src, Settings())}
        assert owners & {"LL009", "LL201", "LL203", "LL204", "LL205", "LL211", "LL307"}, theirs[1]


# -- silent: what peft does without a word ---------------------------------------------------------

def test_ll202_an_item_that_matches_nothing_is_dropped_silently():
    caught: list[str] = []
    pm = peft_model("tiny-llama", {"target_modules": ["q_proj", "query", "v_proj"]}, caught=caught)
    assert {n.rsplit(".", 1)[1] for n in pm.base_model.targeted_module_names} == {"q_proj", "v_proj"}
    assert not any("query" in w for w in caught)
    # Phi-3 has fused projections: the Llama list adapts only o_proj and down_proj
    pm = peft_model("tiny-phi3", {"target_modules": ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj",
                                                     "up_proj", "down_proj"]})
    assert {n.rsplit(".", 1)[1] for n in pm.base_model.targeted_module_names} == {"o_proj", "down_proj"}


def test_ll205_out_of_range_indices_and_unindexed_entries_adapt_nothing():
    pm = peft_model("tiny-llama", {"target_modules": ["q_proj", "v_proj"], "layers_to_transform": [2, 3, 4, 5]})
    assert {int(n.split(".")[2]) for n in pm.base_model.targeted_module_names} == {2, 3}  # 4 layers: 0-3
    pm = peft_model("tiny-llama", {"target_modules": ["q_proj", "embed_tokens"], "layers_to_transform": [0, 1]})
    assert "model.embed_tokens" not in pm.base_model.targeted_module_names
    # the full module name takes peft's exact-name branch, which skips the layer filter
    pm = peft_model("tiny-llama", {"target_modules": ["q_proj", "model.embed_tokens"], "layers_to_transform": [0]})
    assert "model.embed_tokens" in pm.base_model.targeted_module_names


@pytest.mark.parametrize("targets", [["q_proj", "gate_proj", "up_proj", "down_proj"], "all-linear"])
def test_ll206_fused_experts_get_no_adapter(targets):
    caught: list[str] = []
    pm = peft_model("tiny-qwen2-moe", {"target_modules": targets}, caught=caught)
    assert list(pm.base_model.targeted_parameter_names) == []
    mlp = [n for n in pm.base_model.targeted_module_names if ".mlp." in n]
    assert mlp and all(".shared_expert" in n for n in mlp)  # shared_expert and shared_expert_gate
    assert not any(p.requires_grad for n, p in pm.named_parameters() if ".mlp.experts." in n)
    assert not any("expert" in w for w in caught)  # nothing warns


def test_ll207_all_linear_and_suffixes_reach_the_towers():
    pm = peft_model("tiny-llava", {"target_modules": "all-linear"})
    names = pm.base_model.targeted_module_names
    assert any(".vision_tower." in n for n in names) and any(".multi_modal_projector." in n for n in names)
    pm = peft_model("tiny-llava", {"target_modules": ["q_proj", "v_proj"]})
    assert len([n for n in pm.base_model.targeted_module_names if ".vision_tower." in n]) == 4
    pm = peft_model("tiny-qwen2.5-vl", {"target_modules": ["q_proj", "v_proj", "qkv"]})
    assert any(n.startswith("model.visual.") for n in pm.base_model.targeted_module_names)


def _layers(pm, attribute: str) -> dict[str, float]:
    return {n: getattr(m, attribute)["default"] for n, m in pm.named_modules()
            if hasattr(m, "lora_A") and "default" in getattr(m, attribute, {})}


def test_ll208_a_key_that_matches_nothing_or_comes_second_changes_nothing():
    plain = _layers(peft_model("tiny-llama", {"target_modules": ["q_proj", "v_proj"]}), "scaling")
    anchored = _layers(peft_model("tiny-llama", {"target_modules": ["q_proj", "v_proj"],
                                                 "alpha_pattern": {"^q_proj": 32}}), "scaling")
    assert anchored == plain
    ranks = _layers(peft_model("tiny-llama", {"target_modules": ["q_proj", "v_proj"],
                                              "rank_pattern": {"k_proj": 16}}), "r")
    assert set(ranks.values()) == {8}
    shadowed = _layers(peft_model("tiny-llama", {"target_modules": ["q_proj", "v_proj"],
                                                 "rank_pattern": {"q_proj": 4, "model.layers.0.self_attn.q_proj": 32}}), "r")
    assert shadowed["base_model.model.model.layers.0.self_attn.q_proj"] == 4  # the first key in dict order wins


@pytest.mark.parametrize("model,target,written", [("tiny-llama", "q_proj", True), ("tiny-gpt2", "c_attn", False)])
def test_ll209_peft_overrides_fan_in_fan_out_and_warns(model, target, written):
    caught: list[str] = []
    pm = peft_model(model, {"target_modules": [target], "fan_in_fan_out": written}, caught=caught)
    assert any(f"fan_in_fan_out is set to {written}" in w for w in caught), caught
    layer = next(m for n, m in pm.named_modules() if n.endswith(target) and hasattr(m, "lora_A"))
    assert layer.fan_in_fan_out is (not written)


def test_ll210_a_suffix_adapts_only_the_layers_that_have_it():
    caught: list[str] = []
    pm = peft_model("tiny-jamba", {"target_modules": ["q_proj", "v_proj"]}, caught=caught)
    layers = {int(n.split(".")[2]) for n in pm.base_model.targeted_module_names}
    assert layers == {1, 3}  # the attention layers; the Mamba layers 0 and 2 get nothing
    assert not any("layer" in w.lower() and "q_proj" in w for w in caught)


def _wrapped(pm) -> list[str]:
    from peft.utils.other import ModulesToSaveWrapper

    return [n.removeprefix("base_model.model.") for n, m in pm.named_modules() if isinstance(m, ModulesToSaveWrapper)]


def test_ll302_an_entry_that_matches_nothing_is_ignored_silently():
    caught: list[str] = []
    pm = peft_model("tiny-llama", {"target_modules": ["q_proj"], "modules_to_save": ["lm_head", "classifier"]},
                    caught=caught)
    assert _wrapped(pm) == ["lm_head"]
    assert not any("classifier" in w for w in caught)
    assert _wrapped(peft_model("tiny-llama", {"target_modules": ["q_proj"], "modules_to_save": ["embed_token"]})) == []


@pytest.mark.parametrize("entry,count,added", [("head", 1, 64_000), ("norm", 9, 576), ("o_proj", 4, 16_384)])
def test_ll303_an_entry_wraps_every_module_whose_name_ends_with_it(entry, count, added):
    """The counts in LL303's messages on its examples (tiny-llama), as the real peft trains them."""
    base = sum(trainable(peft_model("tiny-llama", {"target_modules": ["q_proj"]})).values())
    pm = peft_model("tiny-llama", {"target_modules": ["q_proj"], "modules_to_save": [entry]})
    assert len(_wrapped(pm)) == count
    assert sum(trainable(pm).values()) - base == added
    (message,) = messages("LL303", RULES["LL303"].invalid[["head", "norm", "o_proj"].index(entry)])
    assert f"{count} module" in message and f"+{added:,} parameters" in message


def test_ll304_a_module_in_both_lists_is_trained_fully_not_adapted():
    pm = peft_model("tiny-llama", {"target_modules": ["q_proj", "lm_head"], "modules_to_save": ["lm_head"]})
    assert "lm_head" not in pm.base_model.targeted_module_names and _wrapped(pm) == ["lm_head"]
    assert trainable(pm)["base_model.model.lm_head.modules_to_save.default.weight"] == 64_000
    pm = peft_model("tiny-llama", {"target_modules": ["q_proj", "score"], "task_type": "SEQ_CLS"},
                    "AutoModelForSequenceClassification")
    assert "score" not in pm.base_model.targeted_module_names and "score" in _wrapped(pm)


def test_ll305_ensure_weight_tying_on_an_untied_model_is_ignored_with_a_warning():
    caught: list[str] = []
    kwargs = {"target_modules": ["q_proj"]}
    tied = peft_model("tiny-llama", {**kwargs, "ensure_weight_tying": True}, caught=caught)
    assert any("no tied modules were found in the model" in w for w in caught)
    assert trainable(tied) == trainable(peft_model("tiny-llama", kwargs))


def test_new_embedding_rows_stay_frozen_and_untrained():
    """LL306, LL309: with LoRA on attention/MLP only, the (resized) embedding and head stay frozen, so
    rows the base checkpoint never trained, or the resize appended, are never trained. peft saves the
    resized matrices with the adapter when it can see the vocabulary changed: untrained."""
    import transformers
    from peft.utils.save_and_load import get_peft_model_state_dict

    path = ROOT / "tests" / "fixtures" / "models" / "tiny-llama"
    model = transformers.AutoModelForCausalLM.from_config(transformers.AutoConfig.from_pretrained(path))
    model.resize_token_embeddings(1008)
    pm = peft.get_peft_model(model, peft.LoraConfig(target_modules=["q_proj", "v_proj"],
                                                    base_model_name_or_path=str(path)))
    assert not any("embed_tokens" in n or "lm_head" in n for n in trainable(pm))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        saved = get_peft_model_state_dict(pm)
    assert any("resized" in str(w.message) for w in caught)
    assert any("embed_tokens" in k for k in saved)  # saved, as the resize left it


# -- counts and scalings: the numbers a finding prints are peft's ------------------------------------

def test_ll105_a_rank_not_below_the_layer_s_builds_an_adapter_as_large_as_the_layer():
    """LL105's example on tiny-llama: k_proj is 64→32, and peft builds lora_A (r×in) and lora_B
    (out×r) at r=32 all the same: 3,072 parameters per layer against the layer's 2,048."""
    pm = peft_model("tiny-llama", {"r": 32, "target_modules": ["q_proj", "k_proj"]})
    layer = pm.base_model.model.model.layers[0].self_attn.k_proj
    a, b = layer.lora_A["default"].weight, layer.lora_B["default"].weight
    assert tuple(a.shape) == (32, 64) and tuple(b.shape) == (32, 32)
    assert a.numel() + b.numel() == 3_072 and layer.base_layer.weight.numel() == 2_048
    (message, *_) = messages("LL105", RULES["LL105"].invalid[0])
    assert "3,072 parameters per layer against 2,048" in message


@pytest.mark.parametrize("code,src,model,model_class,kwargs", examples("LL106"))
def test_ll106_the_count_is_peft_s(code, src, model, model_class, kwargs):
    trained, total = peft_model(model, kwargs, model_class).get_nb_trainable_parameters()
    (message,) = messages(code, src)
    assert f"trains {trained:,} parameters" in message and f"'s {total - trained:,} (budget" in message


def _scaling(kwargs: dict, module: str = "q_proj") -> float:
    layers = _layers(peft_model("tiny-llama", {"target_modules": ["q_proj", "v_proj"], **kwargs}), "scaling")
    return next(s for n, s in layers.items() if n.endswith(module))


@pytest.mark.parametrize("kwargs,module", [({"r": 64, "lora_alpha": 128}, "q_proj"),
                                           ({"r": 32}, "q_proj"),
                                           ({"r": 8, "rank_pattern": {"q_proj": 64}}, "q_proj")])
def test_ll101_the_scalings_it_prints_are_peft_s(kwargs, module):
    """α/r now, α/√r with use_rslora=True: the two numbers LL101 prints, as peft's update_layer
    computes them."""
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    (message,) = messages("LL101", f"from peft import LoraConfig\nLoraConfig({args})\n")
    now, rs = (float(x) for x in re.findall(r"= ([\d.]+)(?:;| \()", message)[:2])
    assert _scaling(kwargs, module) == pytest.approx(now, rel=1e-2)
    assert _scaling({**kwargs, "use_rslora": True}, module) == pytest.approx(rs, rel=1e-2)


def test_ll102_the_adapter_grows_linearly_with_the_rank():
    """LL102 says the adapter at r=256 is 2x the one at r=128: peft's LoRA matrices are r×in and out×r."""
    at = {r: sum(trainable(peft_model("tiny-llama", {"r": r, "target_modules": "all-linear"})).values())
          for r in (128, 256)}
    assert at[256] == 2 * at[128]
    (message,) = messages("LL102", RULES["LL102"].invalid[0])
    assert "2× those of r=128" in message


def test_ll103_the_default_rank_is_8_whatever_the_task():
    """LL103's "r=8 (the default)": peft's LoraConfig.r, which task_type does not change."""
    for task in (None, "CAUSAL_LM", "SEQ_CLS"):
        assert peft.LoraConfig(task_type=task).r == 8
    (message,) = messages("LL103", RULES["LL103"].invalid[1])
    assert message.startswith("r=8 (the default)")


# -- config: what LoraConfig itself does -------------------------------------------------------------

@pytest.mark.parametrize("kwargs", [{"lora_aplha": 16}, {"rank": 8}, {"enable_lora": [True, False, True]}])
def test_ll001_an_unknown_keyword_is_a_type_error(kwargs):
    with pytest.raises(TypeError, match="unexpected keyword argument"):
        peft.LoraConfig(r=8, **kwargs)
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    assert messages("LL001", f"from peft import LoraConfig\nLoraConfig(r=8, {args})\n")
