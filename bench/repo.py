"""The bench's synthetic repository: unrelated Python files and LoRA configs over ten models.

``generate(dest, n_files, local_models)``: ``n_files`` files, a tenth of them LoRA configs (half
Python scripts that tie ``AutoModelForCausalLM.from_pretrained(ID)`` to
``get_peft_model(model, config)``, half axolotl YAML with ``base_model: ID``), a tenth shell
scripts (one in ten of them a ``swift sft`` launch script, the others data and evaluation
scripts without a LoRA marker), the rest unrelated Python modules. The ten models are catalog ids, or (``local_models``) ten local ``config.json``
directories with shapes no catalog entry has, named by paths relative to each config file
(``../models/local-3``). One config in seven has a target-module typo and one in nine a rank
above a layer's width, so model-aware rules have something to say.

``notebooks``: that many of the files are Jupyter notebooks instead (in place of unrelated
modules): a tenth of them fine-tune (the model loaded in one cell, ``!pip install`` and
``%%capture`` cells, the ``LoraConfig`` in a later cell, or Unsloth's ``get_peft_model``), the
others are data notebooks without LoRA, one in ten of them with a 1 MB image output.
"""

from __future__ import annotations

import json
import random
import shutil
from pathlib import Path

CATALOG = Path(__file__).resolve().parent.parent / "lora_lint" / "data" / "catalog"
MODELS = [
    "meta-llama/Llama-3.2-1B", "meta-llama/Llama-3.1-8B", "mistralai/Mistral-7B-v0.1",
    "Qwen/Qwen2.5-0.5B", "Qwen/Qwen2.5-7B", "Qwen/Qwen3-8B", "google/gemma-2-2b",
    "microsoft/Phi-3-mini-4k-instruct", "openai-community/gpt2", "EleutherAI/pythia-410m",
]
TARGETS = {"gpt2": ["c_attn", "c_proj"], "gpt_neox": ["query_key_value"], "phi3": ["qkv_proj", "o_proj"]}
DEFAULT_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj"]


def catalog_config(model: str) -> dict:
    return json.loads((CATALOG / (model.replace("/", "--") + ".json")).read_text())


def unrelated_python(rng: random.Random, i: int) -> str:
    lines = [f'"""Module {i}: nothing about adapters here."""', "import math", "import os", ""]
    for j in range(rng.randint(5, 25)):
        lines += [
            f"def function_{j}(x, y={j}):",
            f"    total = x * {rng.randint(1, 99)} + y",
            "    for k in range(10):",
            "        total += math.sqrt(k + 1)",
            "    return total",
            "",
        ]
    lines += ["class Thing:", "    def method(self):", "        return os.getcwd()", ""]
    return "\n".join(lines)


def _targets(i: int, model_type: str) -> list[str]:
    targets = list(TARGETS.get(model_type, DEFAULT_TARGETS))
    if i % 7 == 3:
        targets[0] = targets[0].replace("_", "")  # q_proj -> qproj: matches nothing (LL201/LL202)
    return targets


def _rank(i: int) -> int:
    return 4096 if i % 9 == 5 else 8 * (1 + i % 8)


def lora_python(model: str, i: int, model_type: str) -> str:
    return (
        "from peft import LoraConfig, get_peft_model\n"
        "from transformers import AutoModelForCausalLM\n\n"
        f'model = AutoModelForCausalLM.from_pretrained("{model}")\n'
        f"config = LoraConfig(r={_rank(i)}, lora_alpha=16, lora_dropout=0.05,\n"
        f"                    target_modules={json.dumps(_targets(i, model_type))}, task_type=\"CAUSAL_LM\")\n"
        "model = get_peft_model(model, config)\n"
        "model.print_trainable_parameters()\n"
    )


def lora_yaml(model: str, i: int, model_type: str) -> str:
    items = "".join(f"  - {t}\n" for t in _targets(i, model_type))
    return (
        f"base_model: {model}\nadapter: lora\nlora_r: {_rank(i)}\nlora_alpha: 16\n"
        f"lora_dropout: 0.05\nlora_target_modules:\n{items}"
        "datasets:\n  - path: tatsu-lab/alpaca\n    type: alpaca\nsequence_len: 2048\nmicro_batch_size: 2\n"
    )


def unrelated_shell(rng: random.Random, i: int) -> str:
    return (
        "#!/bin/bash\nset -euo pipefail\n\n"
        f"DATA_DIR=${{DATA_DIR:-data/part{i}}}\n"
        "for f in \"$DATA_DIR\"/*.jsonl; do\n"
        f"  python tools/prepare.py --input \"$f\" --max_len {rng.randint(256, 4096)} \\\n"
        "    --output \"${f%.jsonl}.arrow\" || echo \"skipped $f\"\n"
        "done\n"
        f"python tools/evaluate.py --split test --batch_size {rng.randint(1, 64)} > results{i}.txt\n"
    )


def lora_shell(model: str, i: int, model_type: str) -> str:
    return (
        f"#!/bin/bash\nMODEL={model}\n\n"
        "swift sft \\\n  --model \"$MODEL\" \\\n  --train_type lora \\\n"
        f"  --lora_rank {_rank(i)} \\\n  --lora_alpha 16 \\\n"
        f"  --target_modules {' '.join(_targets(i, model_type))} \\\n"
        "  --dataset data/train.jsonl \\\n  --output_dir output\n"
    )


def _notebook(cells: list[str], output: str = "") -> str:
    """A notebook as Jupyter writes it (nbformat 4, one-space indent, sorted keys)."""
    out = []
    for n, text in enumerate(cells):
        source = [line + "\n" for line in text.split("\n")]
        source[-1] = source[-1][:-1]
        outputs = [{"data": {"image/png": output, "text/plain": ["<Figure>"]}, "metadata": {},
                    "output_type": "display_data"}] if output and n == len(cells) - 1 else []
        out.append({"cell_type": "code", "execution_count": n + 1, "metadata": {}, "outputs": outputs,
                    "source": source})
    out.insert(0, {"cell_type": "markdown", "metadata": {}, "source": ["# Notebook"]})
    nb = {"cells": out, "metadata": {"kernelspec": {"display_name": "Python 3", "language": "python",
                                                    "name": "python3"}}, "nbformat": 4, "nbformat_minor": 5}
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def lora_notebook(model: str, i: int, model_type: str) -> str:
    if i % 2:
        return _notebook([
            "%%capture\n!pip install unsloth",
            "from unsloth import FastLanguageModel\n"
            f'model, tokenizer = FastLanguageModel.from_pretrained("{model}", max_seq_length=2048)',
            f"model = FastLanguageModel.get_peft_model(model, r={_rank(i)}, lora_alpha=16,\n"
            f"    target_modules={json.dumps(_targets(i, model_type))})",
        ])
    return _notebook([
        "!pip install -q peft transformers",
        f'from transformers import AutoModelForCausalLM\nmodel = AutoModelForCausalLM.from_pretrained("{model}")',
        "model?",
        "from peft import LoraConfig, get_peft_model\n"
        f"config = LoraConfig(r={_rank(i)}, lora_alpha=16, lora_dropout=0.05,\n"
        f"                    target_modules={json.dumps(_targets(i, model_type))}, task_type=\"CAUSAL_LM\")\n"
        "model = get_peft_model(model, config)",
    ])


def data_notebook(rng: random.Random, i: int, big: bool) -> str:
    cells = ["import pandas as pd\nimport matplotlib.pyplot as plt\n%matplotlib inline",
             f'df = pd.read_csv("data/table{i}.csv")\ndf.describe()']
    cells += [f"df['col{j}'] = df['x'] * {rng.randint(1, 99)}\ndf.plot()" for j in range(rng.randint(3, 12))]
    image = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/")
                    for _ in range(1_000_000)) if big else ""
    return _notebook(cells, image)


def local_models(dest: Path) -> list[Path]:
    """Ten config.json directories: the catalog's configs with fewer layers (new shapes)."""
    out = []
    for k, name in enumerate(MODELS):
        cfg = catalog_config(name)
        for key in ("num_hidden_layers", "n_layer"):
            if key in cfg:
                cfg[key] = max(2, cfg[key] - 1 - k)
        d = dest / "models" / f"local-{k}"
        d.mkdir(parents=True)
        (d / "config.json").write_text(json.dumps(cfg, indent=2))
        out.append(d)
    return out


def generate(dest: Path, n_files: int = 1000, local: bool = False, seed: int = 0,
             lora: bool = True, notebooks: int = 0) -> Path:
    """``n_files`` files, a tenth of them LoRA configs (none without ``lora``), ``notebooks`` of
    them notebooks (see the module's docstring)."""
    rng = random.Random(seed)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    n_lora = max(2, n_files // 10) if lora else 0
    n_shell = n_files // 10
    if local:
        local_models(dest)
    (dest / "scripts").mkdir()
    for i in range(n_shell):
        k = i % len(MODELS)
        if lora and i % 10 == 0:
            model_type = catalog_config(MODELS[k])["model_type"]
            ref = f"../models/local-{k}" if local else MODELS[k]  # relative to the script
            (dest / "scripts" / f"train{i}.sh").write_text(lora_shell(ref, i, model_type))
        else:
            (dest / "scripts" / f"prepare{i}.sh").write_text(unrelated_shell(rng, i))
    if notebooks:
        (dest / "notebooks").mkdir()
    n_lora_nb = max(1, notebooks // 10) if notebooks and lora else 0
    for i in range(notebooks):
        path = dest / "notebooks" / f"nb{i}.ipynb"
        if i < n_lora_nb:
            k = i % len(MODELS)
            path.write_text(lora_notebook(MODELS[k], i, catalog_config(MODELS[k])["model_type"]))
        else:
            path.write_text(data_notebook(rng, i, big=i % 10 == 5))
    for i in range(n_files - n_lora - n_shell - notebooks):
        sub = dest / "src" / f"pkg{i % 30}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"mod{i}.py").write_text(unrelated_python(rng, i))
    (dest / "train").mkdir()
    (dest / "configs").mkdir()
    for i in range(n_lora):
        k = i % len(MODELS)
        model_type = catalog_config(MODELS[k])["model_type"]
        ref = f"../models/local-{k}" if local else MODELS[k]  # relative to the config file
        if i % 2 == 0:
            (dest / "train" / f"train{i}.py").write_text(lora_python(ref, i, model_type))
        else:
            (dest / "configs" / f"lora{i}.yaml").write_text(lora_yaml(ref, i, model_type))
    return dest
