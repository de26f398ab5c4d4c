"""Supervised fine-tuning of GPT-2 with peft: several mistakes lora-lint catches before training."""

from peft import LoraConfig, TaskType, get_peft_model
from transformers import AutoModelForCausalLM

BASE = "openai-community/gpt2"
RANK = 64

model = AutoModelForCausalLM.from_pretrained(BASE)
config = LoraConfig(
    task_type=TaskType.CAUSAL_LM,
    r=RANK,                      # r ≥ 32 without use_rslora
    lora_aplha=2 * RANK,         # a typo: peft raises TypeError at run time
    lora_dropout=0.05,
    target_modules=["q_proj", "v_proj"],  # Llama names: GPT-2 calls them c_attn / c_proj
)
model = get_peft_model(model, config)
