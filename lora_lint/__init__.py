"""lora-lint: a static linter for LoRA fine-tuning configs."""

__version__ = "0.1.1"
