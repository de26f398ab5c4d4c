"""The config rules agree with what the installed peft really does with the same config.

Each case builds ``LoraConfig(**kwargs)`` and injects it into a tiny model with the real peft,
and lints ``LoraConfig(<kwargs>)`` written as Python: the rule fires exactly when peft fails
(or, for the silent cases, when the adapter provably cannot learn / is not what was asked).
"""

import re
import warnings

import pytest

torch = pytest.importorskip("torch")
peft = pytest.importorskip("peft")

from torch import nn  # noqa: E402

from lora_lint.pipeline import lint_text  # noqa: E402
from lora_lint.settings import Settings  # noqa: E402


class Tiny(nn.Module):
    def __init__(self):
        super().__init__()
        self.embed_tokens = nn.Embedding(10, 16)
        self.layers = nn.ModuleList(
            [nn.ModuleDict({"q_proj": nn.Linear(16, 16), "v_proj": nn.Linear(16, 16)}) for _ in range(2)]
        )
        self.lm_head = nn.Linear(16, 10)
        self.experts = nn.Module()
        self.experts.w = nn.Parameter(torch.zeros(2, 16, 16))

    def forward(self, x):
        return x


def build(**kwargs):
    """``(stage, exception, model)``: stage is "config", "inject" or "ok"."""
    kwargs.setdefault("target_modules", ["q_proj"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            cfg = peft.LoraConfig(**kwargs)
        except Exception as e:
            return "config", e, None
        try:
            model = peft.get_peft_model(Tiny(), cfg)
        except Exception as e:
            return "inject", e, None
    return "ok", None, model


def fires(code, **kwargs):
    kwargs.setdefault("target_modules", ["q_proj"])
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    src = f"from peft import LoraConfig\nLoraConfig({args})\n"
    return any(f.code == code for f in lint_text("case.py", src, Settings(select=[code])))


@pytest.mark.parametrize("value", ["CAUSAL_LM", "SEQ_CLS", "FEATURE_EXTRACTION", "causal_lm", "SEQ2SEQ", "", 1])
def test_ll003_fires_exactly_when_peft_rejects_the_task_type(value):
    stage, _, _ = build(task_type=value)
    assert fires("LL003", task_type=value) == (stage == "config")


@pytest.mark.parametrize("value", ["none", "all", "lora_only", "lora", "None", "ALL", True, None])
def test_ll004_fires_exactly_when_peft_rejects_the_bias(value):
    stage, _, _ = build(bias=value)
    assert fires("LL004", bias=value) == (stage != "ok")


@pytest.mark.parametrize("value", [1, 8, 64, 0, -1, 8.0, 8.5, "8", True, None])
def test_ll005_fires_exactly_when_peft_rejects_the_rank(value):
    stage, _, _ = build(r=value)
    assert fires("LL005", r=value) == (stage != "ok")


@pytest.mark.parametrize("value", [0, 0.0, 0.05, 0.99, 1.5, "0.1", None])
def test_ll006_fires_exactly_when_peft_rejects_the_dropout(value):
    stage, _, _ = build(lora_dropout=value)
    assert fires("LL006", lora_dropout=value) == (stage != "ok")


def test_ll006_dropout_one_is_accepted_but_zeroes_the_lora_input():
    stage, _, model = build(lora_dropout=1.0)
    assert stage == "ok"
    dropout = model.base_model.model.layers[0]["q_proj"].lora_dropout["default"]
    dropout.train()
    assert torch.count_nonzero(dropout(torch.ones(64))) == 0
    assert fires("LL006", lora_dropout=1.0)


def test_ll006_negative_dropout_is_silently_no_dropout():
    stage, _, model = build(lora_dropout=-0.1)
    assert stage == "ok"
    assert isinstance(model.base_model.model.layers[0]["q_proj"].lora_dropout["default"], nn.Identity)
    assert fires("LL006", lora_dropout=-0.1)


@pytest.mark.parametrize("value", [16, 0.5, 0, -16])
def test_ll007_fires_exactly_when_the_scaling_is_not_positive(value):
    stage, _, model = build(lora_alpha=value)
    assert stage == "ok"  # peft accepts all of them silently
    scaling = model.base_model.model.layers[0]["q_proj"].scaling["default"]
    assert fires("LL007", lora_alpha=value) == (scaling <= 0)


REJECTS = ("Unknown initialization", "init_lora_weights should be", "invalid literal",
           "Orthogonal initialization", "has no attribute 'lower'")


@pytest.mark.parametrize("value,r", [
    (True, 8), (False, 8), ("gaussian", 8), ("Gaussian", 8), ("olora", 8), ("OLoRA", 8),
    ("pissa", 8), ("pissa_niter_4", 8), ("pissa_niter_x", 8), ("PiSSA", 8), ("kaiming", 8),
    ("orthogonal", 8), ("orthogonal", 7), ("eva", 8), ("mica", 8), ("LOFTQ", 8), (1, 8),
])
def test_ll008_fires_exactly_when_peft_rejects_the_init(value, r):
    stage, exc, _ = build(init_lora_weights=value, r=r)
    rejected = stage != "ok" and any(m in str(exc) for m in REJECTS)
    assert fires("LL008", init_lora_weights=value, r=r) == rejected, (stage, exc)


@pytest.mark.parametrize("value", [None, ""])
def test_ll008_none_and_empty_start_random_like_false(value):
    stage, _, model = build(init_lora_weights=value)
    assert stage == "ok"
    assert torch.count_nonzero(model.base_model.model.layers[0]["q_proj"].lora_B["default"].weight) > 0
    assert fires("LL008", init_lora_weights=value)


def test_ll008_mica_is_case_sensitive_for_the_variant():
    _, _, exact = build(init_lora_weights="mica")
    _, _, upper = build(init_lora_weights="MICA")
    assert exact.base_model.model.layers[0]["q_proj"].lora_variant
    assert not upper.base_model.model.layers[0]["q_proj"].lora_variant
    assert fires("LL008", init_lora_weights="MICA") and not fires("LL008", init_lora_weights="mica")


def test_ll008_lora_ga_needs_its_config():
    cfg = peft.LoraConfig(target_modules=["q_proj"], init_lora_weights="lora_ga")
    with pytest.raises(ValueError, match="lora_ga_config"):
        peft.preprocess_loraga(Tiny(), cfg, train_step=lambda: None)
    assert fires("LL008", init_lora_weights="lora_ga")
    assert not fires("LL008", init_lora_weights="lora_ga", lora_ga_config={})


@pytest.mark.parametrize("kwargs", [
    {"layers_pattern": "layers"},
    {"layers_pattern": "layers", "layers_to_transform": [0]},
    {"target_modules": ".*q_proj", "layers_to_transform": [0]},
    {"target_modules": ".*q_proj", "layers_pattern": "layers"},
    {"lora_bias": True, "use_dora": True},
    {"lora_bias": True, "init_lora_weights": "gaussian"},
    {"lora_bias": True, "init_lora_weights": False},
    {"use_dora": True, "megatron_config": {"tensor_model_parallel_size": 1}},
    {"target_parameters": "experts.w"},
    {"target_modules": [], "target_parameters": ["experts.w"]},
    {"target_parameters": ["experts.w"], "lora_dropout": 0.1},
    {"target_parameters": ["experts.w"], "use_dora": True},
    {"target_parameters": ["experts.w"], "fan_in_fan_out": True},
    {"target_modules": [], "target_parameters": ["experts.w"], "fan_in_fan_out": True},
    {"target_parameters": ["experts.w"], "lora_bias": True},
    {"use_dora": True, "alora_invocation_tokens": [1]},
    {"use_dora": True, "init_lora_weights": "mica"},
    {"use_dora": True},
    {"alora_invocation_tokens": [1], "task_type": None},
    {"trainable_token_indices": {"embed_tokens": [1]}, "modules_to_save": ["embed_tokens"]},
    {"trainable_token_indices": {"embed_tokens": [1]}, "modules_to_save": ["lm_head"]},
])
def test_ll009_fires_exactly_when_peft_rejects_the_combination(kwargs):
    stage, exc, _ = build(**dict(kwargs))
    assert fires("LL009", **dict(kwargs)) == (stage != "ok"), (stage, exc)


@pytest.mark.parametrize("kwargs,ignored", [
    ({"loftq_config": {"loftq_bits": 4}}, "loftq_config"),
    ({"init_lora_weights": "pissa", "eva_config": {}}, "eva_config"),
    ({"init_lora_weights": "gaussian", "corda_config": {}}, "corda_config"),
    ({"init_lora_weights": "eva", "eva_config": {}}, None),
    ({"loftq_config": {}}, None),
])
def test_ll010_matches_peft_warnings(kwargs, ignored):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        peft.LoraConfig(target_modules=["q_proj"], **kwargs)
    said = [str(w.message) for w in caught if "will be ignored" in str(w.message)]
    assert bool(said) == (ignored is not None)
    if ignored:
        assert said[0].startswith(f"`{ignored}`")
    assert fires("LL010", **kwargs) == (ignored is not None)


@pytest.mark.parametrize("target", [
    ["q_proj"], ["layers.0.q_proj", "v_proj"], "all-linear", "ALL-LINEAR", ".*q_proj",
    r".*\.(q_proj|v_proj)", r"layers\.\d+\.q_proj", "lm_head",
    ["q_proj|v_proj"], [".*q_proj"], ["all-linear"], "q_proj", "q_proj|v_proj", "q_proj,v_proj",
    "all_linear", "(q_proj|v_proj)",
])
def test_ll011_fires_exactly_when_peft_finds_no_target(target):
    stage, exc, _ = build(target_modules=target)
    assert fires("LL011", target_modules=target) == (stage != "ok"), (stage, exc)


def test_ll011_exclude_modules_list_items_are_literal():
    _, _, model = build(target_modules=["q_proj", "v_proj"], exclude_modules=["layers.*"])
    adapted = [n for n, m in model.named_modules() if n.endswith("q_proj") and hasattr(m, "lora_A")]
    assert len(adapted) == 2  # nothing was excluded
    assert fires("LL011", target_modules=["q_proj"], exclude_modules=["layers.*"])


@pytest.mark.parametrize("mode", [True, False])
def test_ll012_inference_mode_leaves_nothing_to_train(mode):
    _, _, model = build(inference_mode=mode)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert fires("LL012", inference_mode=mode) == (trainable == 0)


@pytest.mark.parametrize("kwargs", [
    {"r": 256, "lora_alpha": 16}, {"r": 256, "lora_alpha": 512, "use_rslora": True},
    {"r": 16, "lora_alpha": 32}, {"r": 64, "lora_alpha": 16, "use_rslora": True},
    {"r": 4, "lora_alpha": 64}, {"r": 16, "lora_alpha": 32, "rank_pattern": {"v_proj": 512}},
])
def test_ll104_uses_the_scaling_peft_computes(kwargs):
    kwargs = {**kwargs, "target_modules": ["q_proj", "v_proj"]}
    _, _, model = build(**kwargs)
    scalings = {
        name.rsplit(".", 1)[-1]: m.scaling["default"]
        for name, m in model.named_modules() if hasattr(m, "scaling") and m.scaling
    }
    extreme = any(not 0.1 <= s <= 8 for s in scalings.values())
    assert fires("LL104", **kwargs) == extreme, scalings


# -- LL301 / LL307: task_type against the class the model is loaded with ---------------------------

CLASSES = ["AutoModel", "AutoModelForCausalLM", "AutoModelForSequenceClassification",
           "AutoModelForTokenClassification", "AutoModelForQuestionAnswering"]
TASKS = [None, "CAUSAL_LM", "SEQ_2_SEQ_LM", "SEQ_CLS", "TOKEN_CLS", "QUESTION_ANS", "FEATURE_EXTRACTION"]
HEADS = ("score", "classifier", "qa_outputs")


def _peft_outcome(cls, kwargs):
    """(wrapper class name or None, exception or None, trainable head parameter names)."""
    import json

    from lora_lint.models.build import build_model

    config = json.loads(open("tests/fixtures/models/tiny-llama/config.json").read())
    model = build_model(config, cls)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pm = peft.get_peft_model(model, peft.LoraConfig(**kwargs))
    except Exception as e:
        return None, e, []
    heads = [n for n, p in pm.named_parameters() if p.requires_grad and "lora_" not in n
             and any(f".{h}." in n for h in HEADS)]
    return type(pm).__name__, None, heads


def _findings(cls, kwargs, codes=("LL301", "LL307", "LL211")):
    args = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    src = (f"from transformers import {cls}\nfrom peft import LoraConfig\n"
           f'model = {cls}.from_pretrained("tests/fixtures/models/tiny-llama")\nLoraConfig({args})\n')
    return [f for f in lint_text("case.py", src, Settings(select=list(codes)))]


_ADVICE = re.compile(r"set (task_type=(?P<task>'\w+')( with exclude_modules=(?P<ex>\[[^\]]*\]))?"
                     r"|modules_to_save=(?P<mts>\[[^\]]*\]))")


@pytest.mark.parametrize("targets", [["q_proj", "v_proj"], "all-linear"], ids=["names", "all-linear"])
@pytest.mark.parametrize("task", TASKS)
@pytest.mark.parametrize("cls", CLASSES)
def test_task_type_against_the_loading_class(cls, task, targets, monkeypatch):
    """Every (class, task_type) pair: what real peft does on the meta device decides which rule
    speaks; the advice, applied, is accepted by peft and trains the head."""
    import ast
    from pathlib import Path

    monkeypatch.chdir(Path(__file__).resolve().parent.parent)
    kwargs = {"target_modules": targets, "task_type": task, "r": 4}
    wrapper, error, heads = _peft_outcome(cls, kwargs)
    found = {f.code: f.message for f in _findings(cls, kwargs)}
    has_head = cls not in ("AutoModel", "AutoModelForCausalLM")
    if error is not None and "prepare_inputs_for_generation" in str(error):
        assert set(found) == {"LL307"}, found
        assert found["LL307"].startswith(f"get_peft_model raises AttributeError: {error}")
    elif error is not None:
        assert set(found) == {"LL211"} and str(error).split(" <")[0] in found["LL211"], found
    elif has_head and not heads:
        assert set(found) == {"LL301"}, found
    elif cls == "AutoModelForCausalLM" and task in ("SEQ_CLS", "TOKEN_CLS", "QUESTION_ANS"):
        assert wrapper.startswith("PeftModelFor") and not heads
        assert set(found) == {"LL307"} and wrapper in found["LL307"], found
    else:
        assert found == {}, found
    for message in found.values():
        m = _ADVICE.search(message)
        if m is None:
            continue
        fixed = {**kwargs}
        if m["mts"]:
            fixed.update(task_type=None, modules_to_save=ast.literal_eval(m["mts"]))
        else:
            fixed["task_type"] = ast.literal_eval(m["task"])
            if m["ex"]:
                fixed["exclude_modules"] = ast.literal_eval(m["ex"])
        wrapper, error, heads = _peft_outcome(cls, fixed)
        assert error is None and (heads or not has_head), (message, fixed, error)
        assert _findings(cls, fixed) == []


def test_seq_cls_on_a_causal_lm_trains_the_language_model_loss(tmp_path):
    """LL307's silent case, shown: no head, the labels reach the LM's loss, and the saved adapter
    is refused by AutoPeftModelForCausalLM."""
    import json

    import transformers
    from transformers import AutoConfig

    config = json.loads(open("tests/fixtures/models/tiny-llama/config.json").read())
    model = transformers.AutoModelForCausalLM.from_config(AutoConfig.for_model(**config))
    pm = peft.get_peft_model(model, peft.LoraConfig(target_modules=["q_proj"], task_type="SEQ_CLS"))
    assert type(pm).__name__ == "PeftModelForSequenceClassification"
    ids = torch.tensor([[1, 5, 6, 7]])
    out = pm(input_ids=ids, labels=ids)
    assert type(out).__name__ == "CausalLMOutputWithPast" and out.loss is not None
    pm.peft_config["default"].save_pretrained(str(tmp_path))
    with pytest.raises(ValueError, match="Expected target PEFT class: PeftModelForSequenceClassification"):
        peft.AutoPeftModelForCausalLM.from_pretrained(str(tmp_path))


# -- LL305 in frameworks without ensure_weight_tying -------------------------------------------------

def _tied_model():
    import json

    import transformers
    from transformers import AutoConfig

    config = json.loads(open("tests/fixtures/models/tiny-llama-tied/config.json").read())
    torch.manual_seed(0)
    return transformers.AutoModelForCausalLM.from_config(AutoConfig.for_model(**config))


def test_lora_on_a_tied_head_merges_into_the_embedding():
    """LL305 (no switch): "merging the adapter adds lm_head's update to that shared weight, so
    model.embed_tokens changes too"."""
    model = _tied_model()
    before = model.get_input_embeddings().weight.detach().clone()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pm = peft.get_peft_model(model, peft.LoraConfig(target_modules=["q_proj", "lm_head"], init_lora_weights=False))
    merged = pm.merge_and_unload()
    assert merged.get_input_embeddings().weight.data_ptr() == merged.get_output_embeddings().weight.data_ptr()
    assert not torch.allclose(merged.get_input_embeddings().weight, before)


@pytest.mark.parametrize("saved", ["lm_head", "embed_tokens"])
def test_a_tied_layer_in_modules_to_save_is_trained_as_an_untied_copy(saved):
    """LL305 (no switch): "peft trains a separate copy ..., so only that side learns: the other
    stays as it was and the two are no longer tied"; peft warns."""
    model = _tied_model()
    before = model.get_input_embeddings().weight.detach().clone()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pm = peft.get_peft_model(model, peft.LoraConfig(target_modules=["q_proj"], modules_to_save=[saved]))
    assert any("ensure_weight_tying" in str(w.message) for w in caught)
    with torch.no_grad():
        for name, p in pm.named_parameters():
            if p.requires_grad and "modules_to_save" in name:
                p.add_(1.0)  # a training step's worth of change
    merged = pm.merge_and_unload()
    inp, out = merged.get_input_embeddings().weight, merged.get_output_embeddings().weight
    assert inp.data_ptr() != out.data_ptr() and not torch.allclose(inp, out)
    other = out if saved == "embed_tokens" else inp
    assert torch.allclose(other, before)


def test_both_tied_layers_in_modules_to_save_are_two_untied_copies(monkeypatch):
    """LL305 with both sides saved: "peft trains a separate copy of each, so they learn apart, are
    no longer tied ...; set ensure_weight_tying=True ... to train one copy that stays tied"."""
    from pathlib import Path

    monkeypatch.chdir(Path(__file__).resolve().parent.parent)
    def saved(ensure_weight_tying):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            pm = peft.get_peft_model(_tied_model(), peft.LoraConfig(
                target_modules=["q_proj"], modules_to_save=["lm_head", "embed_tokens"],
                ensure_weight_tying=ensure_weight_tying))
        return {n.split(".modules_to_save")[0]: p for n, p in pm.named_parameters()
                if p.requires_grad and "modules_to_save" in n}

    apart = saved(False)
    assert sorted(apart) == ["base_model.model.lm_head", "base_model.model.model.embed_tokens"]
    a, b = apart.values()
    assert a.data_ptr() != b.data_ptr()
    assert list(saved(True)) == ["base_model.model.model.embed_tokens"]  # one copy, shared by both
    src = 'from peft import LoraConfig\nLoraConfig(target_modules=["q_proj"], modules_to_save=["lm_head", "embed_tokens"])\n'
    (f,) = lint_text("case.py", "# lora-lint: base-model=tests/fixtures/models/tiny-llama-tied\n" + src,
                     Settings(select=["LL305"]))
    assert "separate copy of each" in f.message and "only that side" not in f.message


@pytest.mark.parametrize("bits", [4, 8])
def test_bitsandbytes_layers_use_fan_in_fan_out_false_silently(bits):
    """LL209 on a model loaded in 4/8 bit: "loaded as bitsandbytes layers, which peft runs with False
    without a word" (so False is right there even for a Conv1D model, and True draws no warning)."""
    bnb = pytest.importorskip("bitsandbytes")

    class Quantized(nn.Module):
        def __init__(self):
            super().__init__()
            self.q = (bnb.nn.Linear4bit(16, 48, bias=False) if bits == 4
                      else bnb.nn.Linear8bitLt(16, 48, bias=False, has_fp16_weights=False))

    model = Quantized()
    setattr(model, f"is_loaded_in_{bits}bit", True)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        pm = peft.get_peft_model(model, peft.LoraConfig(target_modules=["q"], fan_in_fan_out=True))
    layer = pm.base_model.model.q
    assert type(layer).__name__ == ("Linear4bit" if bits == 4 else "Linear8bitLt")
    assert layer.fan_in_fan_out is False
    assert not any("fan_in_fan_out" in str(w.message) for w in caught)


# -- LL013: values that are not what they look like ---------------------------------------------------

def _tiny_llama_meta():
    import json

    from lora_lint.models.build import build_model

    return build_model(json.loads(open("tests/fixtures/models/tiny-llama/config.json").read()), None)


def test_ll013_claims(monkeypatch):
    from pathlib import Path

    monkeypatch.chdir(Path(__file__).resolve().parent.parent)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # None (what list.append returns) means peft's default targets for the model type
        pm = peft.get_peft_model(_tiny_llama_meta(), peft.LoraConfig(target_modules=None))
        assert sorted({n.rsplit(".", 1)[1] for n in pm.base_model.targeted_module_names}) == ["q_proj", "v_proj"]
        # a list is copied into a set when LoraConfig is built: a later change is not seen
        targets, saved = ["q_proj"], ["lm_head"]
        cfg = peft.LoraConfig(target_modules=targets, modules_to_save=saved)
        targets.append("v_proj")
        assert cfg.target_modules == {"q_proj"} and cfg.modules_to_save is saved
        # class names are not module names; a block is adapted as itself, not its layers
        with pytest.raises(ValueError, match="not found in the base model"):
            peft.get_peft_model(_tiny_llama_meta(), peft.LoraConfig(target_modules=["Linear"]))
        with pytest.raises(ValueError, match=r"(?s)Target module LlamaMLP\(.*is not supported"):
            peft.get_peft_model(_tiny_llama_meta(), peft.LoraConfig(target_modules=["mlp", "q_proj"]))
    assert targets == ["q_proj", "v_proj"]
    src = 'from peft import LoraConfig\ntargets = ["q_proj"]\nLoraConfig(target_modules=targets.append("v_proj"))\n'
    (f,) = lint_text("case.py", src, Settings(select=["LL013"]))
    assert "passes None" in f.message and "default targets" in f.message
