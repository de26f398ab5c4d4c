"""Regenerates ``data/torchtune_builders.json``: torchtune's LoRA model builders and the Hugging
Face models they build, read from a torchtune source tree (never imported).

For each ``lora_*`` builder in ``torchtune/models/*/_model_builders.py`` (a ``qlora_*`` builder is
the same builder with ``quantize_base=True``): the dimensions it builds (vocabulary, layers, heads,
widths) as its component-builder call writes them, and the Hugging Face model it builds: of the
models its recipes download (the ``tune download ID`` comment of the ``recipes/configs`` files that
use it, most used first) and the one its docstring links to (``https://huggingface.co/ID``), the
first whose ``config.json`` in the bundled catalog has those dimensions, else the most used one
(torchtune's own recipes pair ``lora_qwen3_8b_base`` with a 14B download). A builder with no
model named is left out. ``tests/test_torchtune_builders.py`` checks every mapping the catalog
can check.

    python -m lora_lint.models.torchtune_build /path/to/torchtune [commit]
"""

from __future__ import annotations

import ast
import json
import re
import sys
from collections import Counter
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "data" / "torchtune_builders.json"
DIMS = ("vocab_size", "num_layers", "num_heads", "num_kv_heads", "embed_dim", "intermediate_dim")
COMPONENT = re.compile(r"_component_:\s*torchtune\.models\.(?:\w+\.)?q?(lora_\w+)")
DOWNLOAD = re.compile(r"tune\s+download\s+([\w.-]+/[\w.-]+)")
DOC_LINK = re.compile(r"https://huggingface\.co/([\w.-]+/[\w.-]+)")


def builders(root: Path) -> dict[str, dict]:
    """``lora_*`` builder name -> its dimensions and the model its docstring (or its base
    builder's) links to."""
    out: dict[str, dict] = {}
    for path in sorted((root / "torchtune" / "models").glob("*/_model_builders.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        funcs = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
        for name, fn in funcs.items():
            if not name.startswith("lora_"):
                continue
            dims = _dims(fn)
            if not dims:
                continue
            base = funcs.get(name.removeprefix("lora_"))
            link = _link(fn) or (_link(base) if base is not None else None)
            out[name] = {"family": path.parent.name, "dims": dims, "docstring": link}
    return out


def _dims(fn: ast.FunctionDef) -> dict[str, int]:
    for node in ast.walk(fn):
        if isinstance(node, ast.Return) and isinstance(node.value, ast.Call):
            found = {}
            for kw in node.value.keywords:
                if kw.arg in DIMS and isinstance(kw.value, ast.Constant) and isinstance(kw.value.value, int):
                    found[kw.arg] = kw.value.value
            return found
    return {}


def _link(fn: ast.FunctionDef | None) -> str | None:
    doc = ast.get_docstring(fn) if fn is not None else None
    m = DOC_LINK.search(doc or "")
    return m.group(1) if m else None


def downloads(root: Path) -> dict[str, Counter]:
    """``lora_*`` builder name -> the models the recipes using it download (recipes that build
    or download more than one model, a distillation's teacher and student, are not counted)."""
    out: dict[str, Counter] = {}
    for path in sorted((root / "recipes" / "configs").rglob("*.yaml")):
        text = path.read_text(encoding="utf-8")
        components = set(COMPONENT.findall(text))
        models = set(DOWNLOAD.findall(text))
        if len(components) == 1 and len(models) == 1:
            out.setdefault(components.pop(), Counter())[models.pop()] += 1
    return out


#: torchtune's dimension names -> the Hugging Face config's.
HF_KEYS = {"vocab_size": "vocab_size", "num_layers": "num_hidden_layers", "num_heads": "num_attention_heads",
           "num_kv_heads": "num_key_value_heads", "embed_dim": "hidden_size", "intermediate_dim": "intermediate_size"}


def agrees(dims: dict[str, int], config: dict) -> bool:
    """The Hugging Face ``config`` has the dimensions torchtune builds."""
    for key, hf in HF_KEYS.items():
        if key not in dims:
            continue
        value = config.get(hf)
        if hf == "num_key_value_heads" and value is None:
            value = config.get("num_attention_heads")
        if value != dims[key]:
            return False
    return True


def catalog_config(model_id: str) -> dict | None:
    """The bundled catalog's ``config.json`` for ``model_id`` (or its variant), if it has one."""
    from .catalog import lookup

    entry = lookup(model_id)
    if entry is None:
        return None
    return json.loads(entry.path.read_text(encoding="utf-8"))


def table(root: Path, commit: str) -> dict:
    found = builders(root)
    recipes = downloads(root)
    rows = {}
    for name, info in sorted(found.items()):
        used = recipes.get(name, Counter())
        candidates = [(m, "recipes") for m, _ in sorted(used.items(), key=lambda kv: (-kv[1], kv[0]))]
        if info["docstring"]:
            candidates.append((info["docstring"], "docstring"))
        if not candidates:
            continue
        checked = [(m, s, catalog_config(m)) for m, s in candidates]
        checked = [(m, s, c) for m, s, c in checked if c is None or agrees(info["dims"], c)]
        if not checked:
            continue  # every model named has other dimensions
        model, source = next(((m, s) for m, s, c in checked if c is not None), checked[0][:2])
        rows[name] = {"model": model, "from": source, "family": info["family"], "dims": info["dims"]}
    return {"about": {"torchtune": commit, "script": "python -m lora_lint.models.torchtune_build"},
            "builders": rows}


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__.strip().splitlines()[-1].strip(), file=sys.stderr)
        return 2
    data = table(Path(argv[0]), argv[1] if len(argv) > 1 else "")
    OUT.write_text(json.dumps(data, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    print(f"{len(data['builders'])} builders -> {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
