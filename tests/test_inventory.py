"""Inventory: built on the meta device, round-trips through JSON, analysed without torch."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from differential import MODELS, config, inventory

from lora_lint.models import Inventory, LoraSpec, analyze_spec
from lora_lint.models.build import ModelBuildError, RemoteCodeRequired, build_inventory

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("name", sorted(p.name for p in MODELS.iterdir() if (p / "config.json").exists()))
def test_json_round_trip(name):
    inv = inventory(name, None)
    text = inv.to_json()
    back = Inventory.from_json(text)
    assert back.modules == inv.modules
    assert back.parameters == inv.parameters
    assert back.to_json() == text
    assert sum(map(_numel, inv.parameters.values())) == inv.total_params


def _numel(shape):
    n = 1
    for d in shape:
        n *= d
    return n


def test_facts_of_a_tied_llama():
    inv = inventory("tiny-llama-tied", None)
    assert inv.model_type == "llama" and inv.architecture == "LlamaForCausalLM" and inv.model_class == "CausalLM"
    assert inv.input_embeddings == "model.embed_tokens" and inv.output_embeddings == "lm_head"
    assert inv.tied == [["model.embed_tokens.weight", "lm_head.weight"]]
    assert inv.tied_to_embedding == ["lm_head"] and inv.tie_word_embeddings is True
    assert inv.num_layers == 4 and inv.layer_lists == {"model.layers": 4}
    q = inv.by_name["model.layers.0.self_attn.q_proj"]
    assert (q.kind, q.in_features, q.out_features, q.params, q.has_bias) == ("linear", 64, 256, 16384, False)  # head_dim 64 kept
    assert inv.by_name["model.layers.0.input_layernorm"].kind == "norm"
    assert inv.by_name["model.layers.0.self_attn"].kind == "container"
    assert inv.subtree_params("lm_head") == 64 * 1000  # a deepcopy of the tied head copies the weight


def test_facts_of_composite_models():
    llava = inventory("tiny-llava", None)
    assert llava.towers == {"model.vision_tower": "vision", "model.multi_modal_projector": "projector"}
    assert llava.num_layers == 2 and "model.language_model.layers" in llava.layer_lists
    assert llava.by_name["model.vision_tower.embeddings.patch_embedding"].kind == "conv"
    moe = inventory("tiny-mixtral", None)
    assert moe.fused_experts() == ["model.layers.0.mlp.experts.gate_up_proj", "model.layers.0.mlp.experts.down_proj",
                                   "model.layers.1.mlp.experts.gate_up_proj", "model.layers.1.mlp.experts.down_proj"]
    assert moe.checkpoint_conversion is True
    bert = inventory("tiny-bert", "SequenceClassification")
    assert bert.seq_cls_head == "classifier" and bert.output_embeddings is None and "classifier" in bert.heads
    gpt2 = inventory("tiny-gpt2", None)
    assert gpt2.by_name["transformer.h.0.attn.c_attn"].kind == "conv1d"


def test_model_class_spellings():
    for spelling in ("SequenceClassification", "AutoModelForSequenceClassification", "SEQ_CLS",
                     "LlamaForSequenceClassification"):
        assert build_inventory(config("tiny-llama"), spelling).architecture == "LlamaForSequenceClassification"


def test_remote_code_is_refused():
    cfg = {"model_type": "phi-msft", "auto_map": {"AutoConfig": "configuration_phi.PhiConfig"}}
    with pytest.raises(RemoteCodeRequired):
        build_inventory(cfg)
    with pytest.raises(ModelBuildError):
        build_inventory({"model_type": "no-such-model"})
    with pytest.raises(ModelBuildError):
        build_inventory({"hidden_size": 4})


def test_analysis_never_imports_torch(tmp_path):
    inv_file = tmp_path / "inv.json"
    inv_file.write_text(inventory("tiny-mixtral", None).to_json())
    code = (
        "import sys, json\n"
        "from lora_lint.models import Inventory, LoraSpec, analyze_spec\n"
        "import lora_lint.models.match\n"
        f"inv = Inventory.from_json(open({str(inv_file)!r}).read())\n"
        "a = analyze_spec(inv, LoraSpec(target_modules='all-linear', r=16))\n"
        "print(json.dumps([a.trainable, sorted(m for m in ('torch', 'transformers', 'peft') if m in sys.modules)]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    trainable, heavy = json.loads(out.stdout)
    assert heavy == []
    a = analyze_spec(inventory("tiny-mixtral", None), LoraSpec(target_modules="all-linear", r=16))
    assert trainable == a.trainable and trainable > 0


def test_unknown_values_are_not_guessed():
    from lora_lint.model import UNKNOWN

    inv = inventory("tiny-llama", None)
    a = analyze_spec(inv, LoraSpec(target_modules=UNKNOWN))
    assert not a.known and a.unknown == ["target_modules"] and a.targeted == []
    a = analyze_spec(inv, LoraSpec(target_modules=["q_proj"], r=UNKNOWN))
    assert a.known and a.targeted and a.trainable is None


def test_generates_is_never_false_for_a_class_that_generates():
    """``Inventory.generates()`` says False only where transformers' class really lacks
    ``prepare_inputs_for_generation``: every class of the Auto mappings it could describe."""
    transformers = pytest.importorskip("transformers")
    from transformers.models.auto import modeling_auto

    from lora_lint.models.build import model_kind
    from lora_lint.models.inventory import Inventory

    checked = 0
    for mapping in ("MODEL_MAPPING_NAMES", "MODEL_FOR_SEQUENCE_CLASSIFICATION_MAPPING_NAMES",
                    "MODEL_FOR_TOKEN_CLASSIFICATION_MAPPING_NAMES", "MODEL_FOR_QUESTION_ANSWERING_MAPPING_NAMES",
                    "MODEL_FOR_MASKED_LM_MAPPING_NAMES", "MODEL_FOR_CAUSAL_LM_MAPPING_NAMES"):
        for names in getattr(modeling_auto, mapping).values():
            for name in (names if isinstance(names, (list, tuple)) else [names]):
                inv = Inventory("x", name, model_kind(name), [], {}, 0, versions={"transformers": "4.52.0"})
                if inv.generates() is not False:
                    continue
                try:
                    cls = getattr(transformers, name)
                    generates = hasattr(cls, "prepare_inputs_for_generation")
                except (AttributeError, ImportError):  # a backend this environment lacks
                    continue
                assert not generates, name
                checked += 1
    assert checked > 500
    old = Inventory("x", "LlamaForSequenceClassification", "SequenceClassification", [], {}, 0,
                    versions={"transformers": "4.51.3"})
    assert old.generates() is None
