"""Benchmark lora-lint on a synthetic repository and print each figure beside its floors.

    python bench/run.py                # the full bench (about two minutes on 2 cores)
    python bench/run.py --quick        # fewer repetitions, no 10,000-file scaling point

Figures are wall time (best of N) and peak RSS of one process, measured with os.wait4. Floors are
measured in the same run: `python -c pass`, `python -c "import yaml, libcst"` and
`python -c "import torch, transformers, peft"`. Not a test: it prints, it does not assert.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CATALOG = ROOT.parent / "shared" / "model-configs"
PY = sys.executable

CATALOG_MODELS = [
    "meta-llama/Llama-3.2-1B", "meta-llama/Llama-3.1-8B", "mistralai/Mistral-7B-v0.1",
    "Qwen/Qwen2.5-0.5B", "Qwen/Qwen2.5-7B", "Qwen/Qwen3-8B", "google/gemma-2-2b",
    "microsoft/Phi-3-mini-4k-instruct", "openai-community/gpt2", "EleutherAI/pythia-410m",
]
TARGETS = {
    "gpt2": '["c_attn", "c_proj"]', "gpt_neox": '["query_key_value"]', "phi3": '["qkv_proj", "o_proj"]',
}


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


def lora_python(model: str, i: int, model_type: str) -> str:
    targets = TARGETS.get(model_type, '["q_proj", "k_proj", "v_proj", "o_proj"]')
    return (
        "from peft import LoraConfig, get_peft_model\n"
        "from transformers import AutoModelForCausalLM\n\n"
        f'model = AutoModelForCausalLM.from_pretrained("{model}")\n'
        f"config = LoraConfig(r={8 * (1 + i % 8)}, lora_alpha=16, lora_dropout=0.05,\n"
        f"                    target_modules={targets}, task_type=\"CAUSAL_LM\")\n"
        "model = get_peft_model(model, config)\n"
    )


def lora_yaml(model: str, i: int, model_type: str) -> str:
    targets = json.loads(TARGETS.get(model_type, '["q_proj", "v_proj"]'))
    items = "".join(f"  - {t}\n" for t in targets)
    return (
        f"base_model: {model}\nadapter: lora\nlora_r: {8 * (1 + i % 8)}\nlora_alpha: 16\n"
        f"lora_dropout: 0.05\nlora_target_modules:\n{items}"
        "datasets:\n  - path: tatsu-lab/alpaca\n    type: alpaca\nsequence_len: 2048\nmicro_batch_size: 2\n"
    )


def model_type_of(model: str) -> str:
    path = CATALOG / (model.replace("/", "--") + ".json")
    return json.loads(path.read_text())["model_type"] if path.exists() else "llama"


def generate(dest: Path, n_files: int = 1000, local_models: bool = False, seed: int = 0) -> Path:
    """900 unrelated files, 50 Python and 50 YAML LoRA configs (scaled to n_files)."""
    rng = random.Random(seed)
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    n_lora = max(2, n_files // 10)
    models = list(CATALOG_MODELS)
    if local_models:  # 10 models that are not in the catalog: local config.json directories
        models = []
        for k, name in enumerate(CATALOG_MODELS):
            cfg = json.loads((CATALOG / (name.replace("/", "--") + ".json")).read_text())
            for key in ("num_hidden_layers", "n_layer"):
                if key in cfg:
                    cfg[key] = max(2, cfg[key] - 1 - k)  # a shape no catalog entry has
            d = dest / "models" / f"local-{k}"
            d.mkdir(parents=True)
            (d / "config.json").write_text(json.dumps(cfg))
            models.append(f"./models/local-{k}")
    for i in range(n_files - n_lora):
        sub = dest / "src" / f"pkg{i % 30}"
        sub.mkdir(parents=True, exist_ok=True)
        (sub / f"mod{i}.py").write_text(unrelated_python(rng, i))
    (dest / "train").mkdir()
    (dest / "configs").mkdir()
    for i in range(n_lora):
        model = models[i % len(models)]
        mtype = model_type_of(CATALOG_MODELS[i % len(CATALOG_MODELS)])
        rel = model if not local_models else "../" + model[2:]
        if i % 2 == 0:
            (dest / "train" / f"train{i}.py").write_text(lora_python(rel, i, mtype))
        else:
            (dest / "configs" / f"lora{i}.yaml").write_text(lora_yaml(rel, i, mtype))
    return dest


def measure(cmd: list[str], env: dict | None = None, cwd: Path | None = None) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in MB, and stdout of one run."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd)
    out = proc.stdout.read()
    proc.stderr.read()
    _, _, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    return wall, usage.ru_maxrss // 1024, out.decode()


def best(cmd, n, env=None, cwd=None):
    runs = [measure(cmd, env, cwd) for _ in range(n)]
    return min(r[0] for r in runs), max(r[1] for r in runs), runs[-1][2]


def lint_cmd(*args: str) -> list[str]:
    return [PY, "-m", "lora_lint", *args]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--keep", type=Path, help="generate the repositories here and keep them")
    opts = ap.parse_args()
    reps = 2 if opts.quick else 3
    work = opts.keep or Path(tempfile.mkdtemp(prefix="lora-lint-bench-"))
    env = dict(os.environ, PYTHONPATH=str(ROOT), HF_HUB_OFFLINE="1", NO_COLOR="1")
    workers_flag = "--workers" in subprocess.run(lint_cmd("check", "--help"), capture_output=True, text=True, env=env).stdout

    print(f"lora-lint bench on {os.cpu_count()} cores, python {sys.version.split()[0]}")
    floors = {
        "python -c pass": best([PY, "-c", "pass"], reps),
        "import yaml": best([PY, "-c", "import yaml"], reps),
        "import yaml, libcst": best([PY, "-c", "import yaml, libcst"], reps),
        "import torch, transformers, peft": best([PY, "-c", "import torch, transformers, peft"], reps),
    }
    for name, (wall, rss, _) in floors.items():
        print(f"  floor {name:<36} {wall:7.3f} s {rss:6d} MB")
    heavy = floors["import torch, transformers, peft"][0]
    yaml_floor = floors["import yaml"][0]

    print("\nstart-up (target: at most 3 x `import yaml`)")
    clean = work / "clean.py"
    clean.parent.mkdir(parents=True, exist_ok=True)
    clean.write_text("x = 1\n")
    for label, cmd in (("--version", lint_cmd("--version")), ("one clean file", lint_cmd(str(clean)))):
        wall, rss, _ = best(cmd, reps, env)
        print(f"  {label:<38} {wall:7.3f} s {rss:6d} MB  = {wall / yaml_floor:5.2f} x import yaml")

    results = {}
    for variant, local in (("catalog models", False), ("10 local non-catalog models", True)):
        repo = generate(work / ("repo-local" if local else "repo"), 1000, local_models=local)
        print(f"\n1,000-file repository, {variant}")
        for workers in ((1, 2) if workers_flag else (None,)):
            wflag = ["--workers", str(workers)] if workers else []
            cache = work / f"cache-{local}-{workers}"
            shutil.rmtree(cache, ignore_errors=True)
            renv = dict(env, LORA_LINT_CACHE_DIR=str(cache))
            cold = measure(lint_cmd("--exit-zero", *wflag, "."), renv, repo)
            warm = best(lint_cmd("--exit-zero", *wflag, "."), reps, renv, repo)
            imports = subprocess.run([PY, "-X", "importtime", "-m", "lora_lint", "--exit-zero", *wflag, "."],
                                     capture_output=True, text=True, env=renv, cwd=repo).stderr
            torch_warm = any(line.rstrip().endswith(" torch") for line in imports.splitlines())
            same = cold[2] == warm[2]
            results[(variant, workers)] = (cold, warm)
            label = f"workers={workers}" if workers else "default"
            print(f"  {label}: cold {cold[0]:7.3f} s {cold[1]:6d} MB | warm {warm[0]:7.3f} s {warm[1]:6d} MB"
                  f" | warm torch imported: {torch_warm} | warm output == cold output: {same}")
            if local:
                print(f"    cold / (torch+transformers+peft import floor) = {cold[0] / heavy:5.2f}"
                      f"  (target: <= 1.2 x (floor + 10 meta builds))")
            else:
                print(f"    warm target <= 0.5 s: {'met' if warm[0] <= 0.5 else 'NOT met'}")
        n_lines = len([line for line in cold[2].splitlines() if ": LL" in line])
        print(f"    findings printed: {n_lines}")

    print("\nwarm-run scaling (catalog models)")
    sizes = (100, 1000) if opts.quick else (100, 1000, 10000)
    for n in sizes:
        repo = generate(work / f"scale-{n}", n)
        renv = dict(env, LORA_LINT_CACHE_DIR=str(work / "cache-scale"))
        measure(lint_cmd("--exit-zero", "."), renv, repo)  # warm the cache
        wall, rss, _ = best(lint_cmd("--exit-zero", "."), reps, renv, repo)
        print(f"  {n:6d} files: {wall:7.3f} s {rss:6d} MB  ({(wall - floors['import yaml, libcst'][0]) / n * 1000:6.3f} ms/file above the import floor)")
    if not opts.keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
