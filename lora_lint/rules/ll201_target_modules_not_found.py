from ..model import Severity
from ..registry import Problem, rule
from ._model import adaptable_leaves, closest, example, names, py_list, where


@rule(
    "LL201", "target-modules-not-found", Severity.ERROR, needs_model=True,
    valid=[
        example("tiny-llama", 'LoraConfig(target_modules=["q_proj", "v_proj"])\n'),
        example("tiny-llama", 'LoraConfig(target_modules=r".*\\.(q_proj|v_proj)")\n'),
        example("tiny-llama", 'LoraConfig(target_modules=get_targets())\n'),
    ],
    invalid=[
        example("tiny-llama", 'LoraConfig(target_modules=["q_prj", "v_prj"])  # error: LL201\n'),
        example("tiny-gpt2", 'LoraConfig(target_modules=["q_proj", "v_proj"])  # error: LL201\n'),
        example("tiny-llama", 'LoraConfig(target_modules=r".*\\.(query|value)")  # error: LL201\n'),
        example("tiny-llama", 'LoraConfig(target_modules=["q_proj"], exclude_modules=["q_proj"])  # error: LL201\n'),
    ],
)
def target_modules_not_found(site, ctx):
    """## What it does
    Checks that `target_modules` matches at least one module of the base model, replaying peft's
    matching (exact name or `.suffix` for list items, `re.fullmatch` for a string, after
    `exclude_modules` and `modules_to_save`) on the model's real module names. The message lists
    the closest names that exist.

    ## Why is this bad?
    `get_peft_model` raises `NoMatchingPeftModuleError: Target modules {...} not found in the base
    model` (or "No modules were targeted for adaptation" when exclusions removed everything), after
    the base model has been downloaded and loaded, often minutes into a job. Module names differ
    between families: GPT-2 has `c_attn`, BLOOM/Falcon/GPT-NeoX `query_key_value`, BERT
    `query`/`value`, Phi-3 a fused `qkv_proj`.

    ## Example
    ```python
    # base model: openai-community/gpt2
    LoraConfig(target_modules=["q_proj", "v_proj"])
    ```

    Use instead:
    ```python
    LoraConfig(target_modules=["c_attn"])
    ```
    """
    inv, a = ctx.model, ctx.analysis
    kind = a.error_kind
    written = site.params.get("target_modules")
    if written is None or written.implicit or a.spec.target_modules is None:
        return  # omitted: LL203's business
    at = where(site, "target_modules")
    leaves = adaptable_leaves(inv)
    existing = f"{inv.architecture}'s adaptable layers are {names(leaves, 8)}"
    targets = a.spec.target_modules
    if kind == "not-found":
        if any(a.entries.values()):
            return  # names match but the layer filter drops them: LL205
        hint = ""
        if isinstance(targets, str):
            hint = f"; a string is a regex that must match the whole dotted name, e.g. r'.*\\.({'|'.join(leaves[:2])})'"
        else:
            near = sorted({c for t in targets for c in closest(inv, t)}, key=leaves.index)
            if near:
                hint = f"; closest names that exist: {', '.join(near)}"
        yield Problem(at, (
            f"no module of {inv.architecture} matches target_modules={targets!r}: get_peft_model raises"
            f" NoMatchingPeftModuleError{hint} ({existing})"
        ))
    elif kind == "no-targets":
        yield Problem(at, (
            "target_modules is empty and there are no target_parameters: get_peft_model raises"
            f" NoMatchingPeftModuleError; name the layers to adapt, e.g. {py_list(leaves[:4])}"
        ))
    elif kind in ("none-targeted", "all-excluded"):
        by = [n for n in ("exclude_modules", "modules_to_save") if a.spec.known(n) and getattr(a.spec, n)]
        yield Problem(at, (
            f"every module target_modules matches is removed again by {' and '.join(by) or 'the exclusions'}"
            f" ({names(a.match.excluded)}): get_peft_model raises NoMatchingPeftModuleError"
            " ('No modules were targeted for adaptation'); drop the overlap"
        ))
