"""A config with nothing to report: lora-lint stays quiet."""

# lora-lint: base-model=Qwen/Qwen2.5-0.5B
import os

from peft import LoraConfig

config = LoraConfig(
    task_type="CAUSAL_LM",
    r=16,
    lora_alpha=32,
    lora_dropout=0.05,
    target_modules="all-linear",
)
dynamic = LoraConfig(r=int(os.environ.get("LORA_R", "64")))  # not known statically: no finding
