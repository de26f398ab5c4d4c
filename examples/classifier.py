"""A BERT classifier whose randomly initialised head would stay frozen."""

from peft import LoraConfig, get_peft_model
from transformers import AutoModelForSequenceClassification

model = AutoModelForSequenceClassification.from_pretrained("google-bert/bert-base-uncased", num_labels=3)
config = LoraConfig(r=8, lora_alpha=16, target_modules=["query", "value"])  # no task_type="SEQ_CLS"
model = get_peft_model(model, config)
