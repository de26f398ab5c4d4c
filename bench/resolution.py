"""How many LoRA configs name a base model that lora-lint resolves offline, from its catalog alone.

    python bench/resolution.py                       # the shared corpora (see CORPORA)
    python bench/resolution.py PATH [PATH ...]       # any directories or files
    python bench/resolution.py --names               # and every unresolved name, with why

Runs `lora-lint report --offline --isolated --output-format json` on each path in a fresh process
with an empty Hugging Face cache, an empty inventory cache and no model lock above the paths (the
corpora have none): what resolves is what the bundled catalog resolves, through every reader
(Python, YAML/JSON, notebooks, shell scripts, saved adapters). A site counts when it names its
base model statically (a string, whatever its source: the config, a comment, a setting) and its
dialect hands the model to peft (a home-grown LoRA implementation resolves no model); it is
resolved when `resolved_from` is set. Each unresolved name is printed with the reason judged for
it (REASONS, read from the model's Hub page or the config file) or, for names not judged, the
kind of name it is. Not a test: it prints the figure the README quotes.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent.parent / "shared"
CORPORA = {"framework examples": SHARED / "corpus", "real users' files": SHARED / "corpus-wild"}

#: Why a name cannot resolve offline from the catalog, judged per name (not computed).
NOT_TRANSFORMERS = "not a transformers model"
REMOTE_CODE = "needs its project's own code (remote code or its own package), which lora-lint never runs"
LOCAL = "exists only on its author's machine (a local directory or a placeholder)"
UNVERIFIED = "a quantized, converted or re-uploaded copy whose own config.json could not be compared"
NO_ORG = "a name without an organisation: a local directory or an unknown legacy Hub id"
REASONS: dict[str, str] = {
    "black-forest-labs/FLUX.2-klein-base-4B": NOT_TRANSFORMERS + " (a diffusion transformer)",
    "replit/replit-code-v1-3b": REMOTE_CODE,
    "OpenMOSS-Team/MOSS-VL-Instruct-0708": REMOTE_CODE,
    "allenai/Molmo-7B-D-0924": REMOTE_CODE,
    "openbmb/MiniCPM-o-2_6": REMOTE_CODE,
    "MAGAer13/mplug-owl2-llama2-7b": REMOTE_CODE,
    "deepseek-ai/Janus-Pro-7B": REMOTE_CODE,
    "models/codeup_llama3_lora_sft_math": LOCAL,
    "models/chatglm-6b": LOCAL,
    "models/moss-moon-003-sft": LOCAL,
    "path/to/hf/llama-2/or/chinese-llama-2/dir/or/model_id": LOCAL,
    "TheBloke/Llama-2-7B-GPTQ": UNVERIFIED,
    "TechxGenus/Meta-Llama-3-8B-Instruct-AWQ": UNVERIFIED,
    "TechxGenus/Meta-Llama-3-8B-Instruct-GPTQ": UNVERIFIED,
    "ISTA-DASLab/Meta-Llama-3-8B-Instruct-AQLM-2Bit-1x16": UNVERIFIED,
    "axolotl-quants/DeepSeek-V2.5-bnb-nf4-bf16": UNVERIFIED,
    "axolotl-quants/Llama-4-Scout-17B-16E-Linearized-bnb-nf4-bf16": UNVERIFIED,
    "unsloth/meta-llama-3.1-8b-bnb-4bit": UNVERIFIED,
    "unsloth/Phi-4": UNVERIFIED + " (a Llama-format conversion, not microsoft/phi-4's modules)",
    "techwithsergiu/Qwen3.5-text-0.8B-bnb-4bit": UNVERIFIED,
    "mistral-community/Mixtral-8x22B-v0.1": UNVERIFIED,
    "casperhansen/llama-3-70b-fp16": UNVERIFIED,
}


def kind_of(name: str, message: str) -> str:
    """What kind of name an unjudged unresolved name is."""
    if "the local path" in message:
        return LOCAL
    if name.startswith(("/", "./", "../", "~")) or name.count("/") > 1:
        return LOCAL
    if "/" not in name:
        return NO_ORG
    if "needs remote code" in message:
        return REMOTE_CODE
    return "a Hub id not in the catalog"


def report(path: Path) -> list[dict]:
    """`lora-lint report` on ``path`` with nothing but the catalog to resolve models from."""
    with tempfile.TemporaryDirectory() as empty:
        env = dict(os.environ, HF_HOME=str(Path(empty) / "hf"), HF_HUB_OFFLINE="1",
                   LORA_LINT_CACHE_DIR=str(Path(empty) / "cache"))
        env.pop("HF_HUB_CACHE", None)
        env.pop("HF_TOKEN", None)
        proc = subprocess.run([sys.executable, "-m", "lora_lint", "report", "--offline", "--isolated",
                               "--output-format", "json", str(path)],
                              capture_output=True, text=True, env=env, cwd=empty)
    if not proc.stdout.strip():
        raise SystemExit(f"lora-lint report {path} printed nothing (exit {proc.returncode}):\n{proc.stderr}")
    return json.loads(proc.stdout)


def named(rows: list[dict]) -> list[dict]:
    """The sites that name a base model statically and hand it to peft (resolution was tried)."""
    return [r for r in rows if isinstance(r["base_model"], str) and (r["resolved_from"] or r["unresolved"])]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("paths", nargs="*", type=Path)
    p.add_argument("--names", action="store_true", help="list every unresolved name and why")
    args = p.parse_args(argv)
    groups = {str(q): q for q in args.paths} if args.paths else CORPORA
    total = resolved = 0
    missing: Counter[str] = Counter()
    messages: dict[str, str] = {}
    for label, path in groups.items():
        sites = named(report(path))
        ok = [r for r in sites if r["resolved_from"]]
        how = Counter(r["resolved_from"] for r in ok)
        print(f"{label}: {len(ok)} of {len(sites)} sites that name a base model resolve offline"
              f" ({100 * len(ok) / max(len(sites), 1):.0f}%; {dict(how)})")
        total, resolved = total + len(sites), resolved + len(ok)
        for r in sites:
            if not r["resolved_from"]:
                missing[r["base_model"]] += 1
                messages[r["base_model"]] = r["unresolved"] or ""
    print(f"all: {resolved} of {total} ({100 * resolved / max(total, 1):.1f}%)")
    by_reason: dict[str, list[str]] = {}
    for name in missing:
        why = REASONS.get(name) or kind_of(name, messages[name])
        by_reason.setdefault(why, []).append(name)
    for why, names in sorted(by_reason.items(), key=lambda kv: -sum(missing[n] for n in kv[1])):
        n = sum(missing[x] for x in names)
        print(f"  {n:3d} unresolved: {why}")
        if args.names:
            for name in sorted(names, key=str.lower):
                print(f"        {name}" + (f" ({missing[name]} sites)" if missing[name] > 1 else ""))
    local = sum(missing[n] for n in by_reason.get(LOCAL, []) + by_reason.get(NO_ORG, []))
    if local:
        print(f"all but local names and names without an organisation: {resolved} of {total - local}"
              f" ({100 * resolved / max(total - local, 1):.1f}%)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
