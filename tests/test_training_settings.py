"""Training settings read where they are written, and the memory per GPU they give
(``models.training.memory_for``): what is not statically known stays unknown, and nothing is
certain per GPU when the model may be spread or sharded in ways the file does not say."""

from pathlib import Path

import pytest

from lora_lint.models.context import context_for
from lora_lint.models.training import memory_for
from lora_lint.settings import Settings
from lora_lint.source_file import SourceFile
from lora_lint.sources import sites_for
from lora_lint.unknown import UNKNOWN

ROOT = Path(__file__).resolve().parents[1]
HEAD = "# lora-lint: base-model=tests/fixtures/models/tiny-llama\n"

SCRIPT = HEAD + """\
from transformers import AutoModelForCausalLM, BitsAndBytesConfig, TrainingArguments
from peft import LoraConfig, get_peft_model
bnb = BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype="bfloat16")
model = AutoModelForCausalLM.from_pretrained("tiny", dtype="bfloat16", quantization_config=bnb)
model = get_peft_model(model, LoraConfig(r=8, target_modules=["q_proj", "v_proj"]))
args = TrainingArguments("out", per_device_train_batch_size=BATCH, gradient_accumulation_steps=4,
                         gradient_checkpointing=True, optim="paged_adamw_8bit", bf16=True)
"""

AXOLOTL = HEAD + """\
base_model: tiny
adapter: lora
lora_r: 8
lora_alpha: 16
lora_target_linear: true
sequence_len: 256
micro_batch_size: 2
sample_packing: true
pad_to_sequence_len: true
"""


def site(path: str, text: str):
    (s,) = sites_for(SourceFile.of_text(path, text))
    return s


def value(s, name):
    p = s.context.get(name)
    return None if p is None else p.value


def memory(s):
    ctx = context_for(s, Settings())
    return memory_for(s, ctx.inventory, ctx.analysis, ctx.resolved.config, certain=True)


@pytest.fixture(autouse=True)
def at_root(monkeypatch):
    monkeypatch.chdir(ROOT)  # the tiny models are named relative to the repository


def test_python_reads_the_load_the_quantization_and_the_training_arguments():
    s = site("train.py", SCRIPT.replace("BATCH", "4"))
    assert value(s, "dtype") == "bf16"
    assert value(s, "quantization") == 4 and value(s, "quant_type") == "nf4"
    assert value(s, "compute_dtype") == "bf16"
    assert value(s, "optimizer") == "paged_adamw_8bit"
    assert value(s, "micro_batch") == 4 and value(s, "grad_accum") == 4
    assert value(s, "gradient_checkpointing") is True
    assert value(s, "device_map") == "gpu"  # bitsandbytes puts a quantized model on the current GPU
    assert value(s, "launch_sharding") is True  # accelerate launch --config_file may add FSDP


def test_a_value_not_statically_known_stays_unknown_and_its_terms_are_left_out():
    text = SCRIPT.replace("BATCH", "int(os.environ['BS'])").replace("args = TrainingArguments(", "args = SFTConfig(")
    text = text.replace('SFTConfig("out", ', 'SFTConfig("out", max_length=512, ').replace(
        "from peft import", "import os\nfrom trl import SFTConfig\nfrom peft import")
    s = site("train.py", text)
    assert value(s, "micro_batch") is UNKNOWN and value(s, "seq_len") == 512
    m = memory(s)
    assert m.terms["frozen_weights"] is not None and m.terms["optimizer_states"] is not None
    assert m.terms["activations"] is None and m.terms["total"] is None
    assert "the micro-batch size is not statically known" in m.unknown["activations"]
    # a script's launcher may shard it (ZeRO-3, FSDP): no certain figure per GPU
    assert m.certain is None
    assert any("given at launch may shard it" in n for n in m.notes)


def test_axolotl_one_process_spreads_the_model_with_device_map_auto():
    s = site("sft.yaml", AXOLOTL)
    assert value(s, "device_map") == "split" and value(s, "launch_sharding") is False
    m = memory(s)
    assert m.terms["total"] is not None and m.certain is None
    pinned = memory(site("sft.yaml", AXOLOTL + "device_map: cuda:0\n"))
    assert pinned.certain is not None and pinned.activations_certain  # packed and padded to 256
    lower = pinned.band[0]  # the activations at 0.8 of the estimate
    assert lower == int(pinned.terms["activations"] / 1.25)
    t = pinned.terms
    assert pinned.certain == t["frozen_weights"] + t["trainable_weights"] + t["optimizer_states"] + max(
        t["gradients"], lower)


def test_unpadded_batches_count_no_activations_in_the_certain_figure():
    text = AXOLOTL.replace("sample_packing: true\npad_to_sequence_len: true\n", "") + "device_map: cuda:0\n"
    m = memory(site("sft.yaml", text))
    t = m.terms
    assert t["activations"] is not None and not m.activations_certain  # 256 is only the longest
    assert m.certain == t["frozen_weights"] + t["trainable_weights"] + t["optimizer_states"] + t["gradients"]


def test_deepspeed_file_not_read_leaves_every_term_unknown():
    m = memory(site("sft.yaml", AXOLOTL + "deepspeed: deepspeed_configs/zero3.json\n"))
    assert m.terms["total"] is None and m.certain is None
    assert "a DeepSpeed config file is not read" in m.unknown["frozen_weights"]


@pytest.mark.parametrize("comment,message", [
    ("gpu-memory=lots", "`gpu-memory=lots` is not a memory size"),
])
def test_bad_gpu_memory_comment_is_reported_on_the_comment(comment, message):
    from lora_lint.pipeline import lint_text

    text = AXOLOTL.replace(HEAD, HEAD.rstrip("\n") + f" {comment}\n")
    (f,) = lint_text("sft.yaml", text, Settings(select=["LL107"]))
    assert message in f.message and f.span.line == 1


AUTOTRAIN = HEAD + """\
task: llm-sft
base_model: tiny
project_name: p
backend: local
params:
  block_size: 256
  batch_size: 1
  peft: true
  quantization: null
  target_modules: all-linear
  mixed_precision: bf16
"""


def test_autotrain_holds_the_model_on_each_gpu_unless_unsloth_loads_it():
    # AutoTrain's own accelerate command: one process, or DDP (distributed_backend None or ddp)
    s = site("config.yml", AUTOTRAIN)
    assert value(s, "device_map") == "cpu" and value(s, "launch_sharding") is False
    assert memory(s).certain is not None
    unsloth = site("config.yml", AUTOTRAIN + "  unsloth: true\n")  # FastLanguageModel: device_map "sequential"
    assert value(unsloth, "device_map") == "split" and memory(unsloth).certain is None
    zero3 = memory(site("config.yml", AUTOTRAIN + "  distributed_backend: deepspeed\n"))
    assert not zero3.certain  # ZeRO-3 shards every term over a number of GPUs the file does not write


def test_axolotl_quantize_moe_experts_leaves_the_frozen_weights_of_a_dense_model_known():
    m = memory(site("sft.yaml", AXOLOTL + "quantize_moe_experts: true\n"))
    assert m.terms["frozen_weights"] is not None  # tiny-llama has no fused experts to quantize


def test_axolotl_quantize_moe_experts_leaves_moe_frozen_weights_unknown():
    text = AXOLOTL.replace("tiny-llama", "tiny-mixtral") + "device_map: cuda:0\n"
    assert memory(site("sft.yaml", text)).terms["frozen_weights"] is not None
    m = memory(site("sft.yaml", text + "quantize_moe_experts: true\n"))
    assert m.terms["frozen_weights"] is None
    assert "quantize the MoE experts" in m.unknown["frozen_weights"]
    assert m.certain == m.terms["trainable_weights"] + m.terms["optimizer_states"] + max(
        m.terms["gradients"], m.band[0])  # the frozen weights count 0 in what is certain


def test_autotrain_dtype_depends_on_the_installed_transformers_and_trl_prepares_kbit_models():
    m = memory(site("config.yml", AUTOTRAIN))
    assert m.terms["frozen_weights"] is None  # float32 under transformers 4.48, bf16 under 5
    assert "float32 under transformers 4" in m.unknown["frozen_weights"]
    dpo = site("config.yml", AUTOTRAIN.replace("task: llm-sft", "task: llm-dpo").replace(
        "quantization: null", "quantization: int4"))
    assert value(dpo, "upcast_frozen") is True  # TRL's DPOTrainer runs prepare_model_for_kbit_training
