from ..model import Severity
from ..registry import Evidence, Problem, rule
from ._model import adaptable_leaves, blame, closest, example, failure_for, names, py_list, raises

EVIDENCE = Evidence(
    claim=(
        "When `target_modules` matches no module (or exclusions remove every match), `get_peft_model` "
        "raises `NoMatchingPeftModuleError` (or `ValueError`) with the message the finding quotes."
    ),
    code=(
        "peft 0.21.2 tuners/tuners_utils.py:2337-2412 check_target_module_exists",
        "peft 0.21.2 tuners/tuners_utils.py:1051-1086 BaseTuner.inject_adapter (the errors)",
    ),
    tests=(
        "tests/test_rule_claims.py::test_a_finding_says_peft_raises_exactly_when_it_does",
        "tests/test_differential.py::test_matches_peft",
    ),
)


@rule(
    "LL201", "target-modules-not-found", Severity.ERROR, needs_model=True, reports_failure=True,
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
    evidence=EVIDENCE,
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
    `query`/`value`, Phi-3 a fused `qkv_proj`. The message is peft's own: the matching is
    `check_target_module_exists` (peft 0.21.2 tuners/tuners_utils.py:2337-2412), the errors
    `inject_adapter`'s (tuners_utils.py:1051-1086), replayed on the model's real module names.

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
    found = failure_for(site, ctx, "LL201")
    if found is None:
        return
    inv, a, failure = found
    kind = failure.kind
    at = blame(site, failure)
    leaves = adaptable_leaves(inv)
    existing = f"{inv.architecture}'s adaptable layers are {names(leaves, 8)}"
    targets = a.spec.target_modules
    if kind == "not-found":
        hint = ""
        if isinstance(targets, str):
            hint = f"; a string is a regex that must match the whole dotted name, e.g. r'.*\\.({'|'.join(leaves[:2])})'"
        else:
            near = sorted({c for t in targets for c in closest(inv, t)}, key=leaves.index)
            if near:
                hint = f"; closest names that exist: {', '.join(near)}"
        yield Problem(at, f"no module of {inv.architecture} matches target_modules: {raises(failure)}{hint}"
                          f" ({existing})")
    elif kind == "no-targets":
        yield Problem(at, (f"target_modules is empty and there are no target_parameters: {raises(failure)}; name"
                           f" the layers to adapt, e.g. {py_list(leaves[:4])}"))
    else:  # all-excluded, none-targeted
        by = [n for n in ("exclude_modules", "modules_to_save") if a.spec.known(n) and getattr(a.spec, n)]
        if a.match.excluded_by_save and "modules_to_save" not in by and a.spec.task_type == "SEQ_CLS":
            by.append("the heads task_type='SEQ_CLS' adds to modules_to_save")
        yield Problem(at, (
            f"every module target_modules matches is removed again by {' and '.join(by) or 'the exclusions'}"
            f" ({names(a.match.excluded)}): {raises(failure)}; drop the overlap"
        ))
