import re

from ..model import Severity
from ..registry import Evidence, Problem, rule
from ._model import example, where


def _rx(key):
    try:
        return re.compile(rf"(.*\.)?({key})$")
    except (re.error, RecursionError, OverflowError):
        return None


def _hint(key, inv, a):
    if key.startswith("^"):
        return f"; drop the '^' (keys are matched at the end of the full name): {key[1:]!r}"
    if key.startswith("base_model.model."):
        return f"; keys are relative to the base model: {key.removeprefix('base_model.model.')!r}"
    rx = _rx(key)
    if rx is not None and any(rx.match(m.name) for m in inv.modules):
        return "; it names modules that are not adapted (add them to target_modules, or drop the key)"
    if rx is not None and any(key in n for n in a.targeted):
        return f"; a key must match whole name segments: write {'.*' + key!r} to match a substring"
    return ""


EVIDENCE = Evidence(
    claim=(
        "For each adapted module peft uses the first `rank_pattern`/`alpha_pattern` key (in dict order) "
        "that `re.match(rf\"(.*\\.)?({key})$\", name)` accepts: a key that matches no adapted module, or "
        "comes after a key that already matches, changes nothing."
    ),
    code=(
        "peft 0.21.2 utils/other.py:1524-1534 get_pattern_key",
        "peft 0.21.2 tuners/lora/model.py:294-469 LoraModel._create_and_replace",
        "peft 0.21.2 tuners/tuners_utils.py:1110-1127 BaseTuner.inject_adapter (the warning for keys that match nothing)",
    ),
    tests=(
        "tests/test_rule_claims.py::test_ll208_a_key_that_matches_nothing_or_comes_second_changes_nothing",
    ),
)


@rule(
    "LL208", "pattern-key-unmatched", Severity.WARNING, needs_model=True,
    valid=[
        example("tiny-llama", 'LoraConfig(target_modules=["q_proj", "v_proj"], rank_pattern={"q_proj": 16})\n'),
        example("tiny-llama", 'LoraConfig(\n    target_modules=["q_proj", "v_proj"],\n'
                '    rank_pattern={r"layers\\.0\\.self_attn\\.q_proj": 32, "q_proj": 4},\n)\n'),
    ],
    invalid=[
        example("tiny-llama", 'LoraConfig(\n    target_modules=["q_proj", "v_proj"],\n'
                '    alpha_pattern={"^q_proj": 32},  # error: LL208\n)\n'),
        example("tiny-llama", 'LoraConfig(\n    target_modules=["q_proj", "v_proj"],\n'
                '    rank_pattern={"k_proj": 16},  # error: LL208\n)\n'),
        example("tiny-llama", 'LoraConfig(\n    target_modules=["q_proj", "v_proj"],\n    rank_pattern={\n'
                '        "q_proj": 4,\n        "model.layers.0.self_attn.q_proj": 32,  # error: LL208\n    },\n)\n'),
    ],
    evidence=EVIDENCE,
)
def pattern_key_unmatched(site, ctx):
    """## What it does
    Checks every key of `rank_pattern` and `alpha_pattern` against the modules the adapter really
    adapts: a key must match at least one of them, and must not be shadowed by an earlier key that
    already matches every module it matches.

    ## Why is this bad?
    peft picks, for each adapted module, the first key (in dict order) for which
    `re.match(rf"(.*\\.)?({key})$", name)` succeeds; every other key is ignored. A key anchored
    with `^`, copied from `PeftModel.named_modules()` with its `base_model.model.` prefix, naming a
    module that is not targeted, or written as a bare substring like `"proj"` never matches, and a
    specific key placed after a generic one never wins. The rank or alpha silently stays at the
    default (peft 0.21 only warns for keys that match nothing).

    ## Example
    ```python
    LoraConfig(target_modules=["q_proj", "v_proj"], rank_pattern={"q_proj": 4, "model.layers.0.self_attn.q_proj": 32})
    ```

    Use instead:
    ```python
    LoraConfig(target_modules=["q_proj", "v_proj"], rank_pattern={"model.layers.0.self_attn.q_proj": 32, "q_proj": 4})
    ```
    """
    inv, a = ctx.model, ctx.analysis
    if a.error is not None:
        return
    adapted = [*a.targeted, *a.targeted_parameters]
    for field in ("rank_pattern", "alpha_pattern"):
        patterns = getattr(a.spec, field)
        if not isinstance(patterns, dict) or not patterns:
            continue
        param = site.params.get(field)
        items = {it.key: it for it in (param.items if param else ())}
        compiled = [(k, _rx(k)) for k in patterns if isinstance(k, str)]
        winners = {}
        for name in adapted:
            for k, rx in compiled:
                if rx is not None and rx.match(name):
                    winners.setdefault(k, []).append(name)
                    break
        for k, rx in compiled:
            if rx is None or k in winners:
                continue
            at = items.get(k) or where(site, field)
            matched = [n for n in adapted if rx.match(n)]
            if not matched:
                yield Problem(at, (f"{field} key {k!r} matches no adapted module of {inv.architecture}, so peft ignores"
                           f" it (keys match the end of full names like {adapted[0] if adapted else '?'})"
                           f"{_hint(k, inv, a)}"))
                continue
            earlier = next(e for e, erx in compiled if erx is not None and erx.match(matched[0]))
            yield Problem(at, (f"{field} key {k!r} never applies: the earlier key {earlier!r} already matches"
                       f" {matched[0]} (first match in dict order wins); put the more specific key first"))
