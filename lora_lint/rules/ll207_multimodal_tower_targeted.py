import re

from ..model import Severity
from ..registry import Evidence, Problem, rule
from ._model import by_leaf, example, item, plural, where


def _text_prefix(inv):
    """``model.language_model`` for ``model.language_model.layers``."""
    for prefix in inv.layer_lists:
        if inv.tower_of(prefix) is None:
            return prefix.rpartition(".")[0]
    return None


def _advice(inv):
    text = _text_prefix(inv)
    leaves = list(dict.fromkeys(m.leaf for m in inv.modules if m.kind in ("linear", "conv1d")
                                and inv.tower_of(m.name) is None and text and m.name.startswith(text + ".")))
    towers = "|".join(re.escape(t.rpartition(".")[2]) for t in inv.towers)
    scope = text.rpartition(".")[2] if text else None
    out = []
    if scope and leaves:
        out.append(f"target_modules=r'.*{re.escape(scope)}.*\\.({'|'.join(leaves)})'")
    out.append(f"exclude_modules=r'.*({towers}).*'")
    return " or ".join(out)


EVIDENCE = Evidence(
    claim=(
        "peft matches names anywhere in the model: `all-linear`, a bare suffix such as `q_proj` or a "
        "broad regex also adapts the vision tower and the projector; in a framework config, only where "
        "the framework hands peft such targets (LLaMA-Factory v0 leaves the tower out by default; "
        "replayed from its source)."
    ),
    code=(
        "peft 0.21.2 tuners/tuners_utils.py:2430-2492 _maybe_include_all_linear_layers",
        "peft 0.21.2 tuners/tuners_utils.py:2337-2412 check_target_module_exists",
        "LLaMA-Factory v0.9.5 src/llamafactory/model/model_utils/visual.py:196-213 patch_target_modules (full names outside the frozen tower and projector)",
        "LLaMA-Factory v0.9.5 src/llamafactory/model/adapter.py:204-212 _setup_lora_tuning (`lora_target: all` and the patch)",
    ),
    tests=(
        "tests/test_rule_claims.py::test_ll207_all_linear_and_suffixes_reach_the_towers",
        "tests/test_dialect_differential.py::test_tower_claims_follow_the_framework",
    ),
)


@rule(
    "LL207", "multimodal-tower-targeted", Severity.WARNING, advice=True, needs_model=True,
    valid=[
        example("tiny-llava", 'LoraConfig(target_modules=r".*language_model.*\\.(q_proj|v_proj)")\n'),
        example("tiny-llava", 'LoraConfig(target_modules="all-linear", exclude_modules=r".*(vision_tower|multi_modal_projector).*")\n'),
        example("tiny-qwen2.5-vl", 'LoraConfig(target_modules=["q_proj", "v_proj"])\n'),
        example("tiny-llama", 'LoraConfig(target_modules="all-linear")\n'),
    ],
    invalid=[
        example("tiny-llava", 'LoraConfig(target_modules="all-linear")  # error: LL207\n'),
        example("tiny-llava", 'LoraConfig(target_modules=[\n    "q_proj",  # error: LL207\n'
                '    "v_proj",  # error: LL207\n])\n'),
        example("tiny-qwen2.5-vl", 'LoraConfig(target_modules=["q_proj", "v_proj", "qkv"])  # error: LL207\n'),
    ],
    evidence=EVIDENCE,
)
def multimodal_tower_targeted(site, ctx):
    """## What it does
    Checks, on a vision- or audio-language model, whether `all-linear`, a bare suffix such as
    `q_proj` or a broad regex also adapts the vision/audio tower or the multimodal projector, not
    only the language model.

    In a training framework's config the check is on what the framework hands to peft: axolotl's
    `lora_target_linear` and LLaMA-Factory v1's `target_modules: all` take every linear layer,
    towers included; LLaMA-Factory v0 keeps the vision tower and the projector out unless
    `freeze_vision_tower`/`freeze_multi_modal_projector` is false (and then the tower is adapted
    on purpose: no finding); ms-swift and Unsloth scope their `all-linear` by their own model
    registries, which lora-lint does not replay, so they get no finding.

    ## Why is this bad?
    peft matches names anywhere in the model: `all-linear` takes every Linear layer of the vision
    encoder and the projector too, and CLIP/SigLIP towers use the same `q_proj`/`v_proj` names as
    the language model. The adapter then changes the image features, costs more memory, and some
    serving stacks (vLLM, SGLang) ignore or reject LoRA weights on the tower. If that is intended,
    suppress the finding; otherwise scope the targets to the language model.

    ## Example
    ```python
    # base model: llava-hf/llava-1.5-7b-hf
    LoraConfig(target_modules="all-linear")
    ```

    Use instead:
    ```python
    LoraConfig(target_modules=r".*language_model.*\\.(q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj)")
    ```
    """
    inv, a = ctx.model, ctx.analysis
    if not inv.towers:
        return
    targets = a.spec.target_modules
    framework = a.framework.get("target_modules")  # the training framework chose the names
    if isinstance(targets, str) and not a.match.all_linear:
        if any(t.rpartition(".")[2] in targets for t in inv.towers):
            return  # a regex that names the tower means it
    chosen = set(framework.option("towers_chosen", ())) if framework is not None else set()
    in_tower = [n for n in a.targeted if inv.tower_of(n) is not None and inv.towers[inv.tower_of(n)] not in chosen]
    if not in_tower:
        return
    if framework is not None:
        yield Problem(where(site, "target_modules"), (
            f"`{framework.setting}` ({framework.finder}) also adapts {_parts(inv, in_tower)}, not only the"
            " language model; to adapt only the language model name its modules instead"
        ))
        return
    if isinstance(targets, (list, tuple, set)) and a.entries:
        for entry in targets:
            hits = [n for n in a.entries.get(entry, ()) if n in in_tower]
            if hits and not any(t.rpartition(".")[2] in entry for t in inv.towers):
                towers = sorted({inv.tower_of(n) for n in hits})
                yield Problem(item(site, "target_modules", entry), (
                    f"{entry!r} also matches {plural(len(hits), 'module')} in {', '.join(towers)}"
                    f" ({hits[0]}…), not only the language model; to adapt only the language model use"
                    f" {_advice(inv)}"
                ))
        return
    what = "all-linear" if a.match.all_linear else "target_modules"
    yield Problem(where(site, "target_modules"), (
        f"{what} also adapts {_parts(inv, in_tower)}; to adapt only the language model use {_advice(inv)}"
    ))


def _parts(inv, in_tower) -> str:
    parts = []
    for tower, kind in inv.towers.items():
        hits = [n for n in in_tower if inv.tower_of(n) == tower]
        if hits:
            parts.append(f"{plural(len(hits), 'module')} of the {kind} {tower} ({by_leaf(hits)})")
    return " and ".join(parts)
