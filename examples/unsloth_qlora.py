"""Unsloth QLoRA: rank 256 with rsLoRA on and alpha still sized for alpha/r."""

from unsloth import FastLanguageModel

model, tokenizer = FastLanguageModel.from_pretrained(
    model_name="meta-llama/Llama-3.2-1B", max_seq_length=2048, load_in_4bit=True
)
model = FastLanguageModel.get_peft_model(
    model,
    r=256,
    lora_alpha=512,
    use_rslora=True,
    lora_dropout=0,
    random_state=3407,
)
