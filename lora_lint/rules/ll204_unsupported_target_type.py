from ..model import Severity
from ..registry import Evidence, Problem, rule
from ._model import example, failure_for, item, plural, where

SUPPORTED = "Linear, Conv1D, Embedding, Conv1d/2d/3d and MultiheadAttention"


def _children(inv, name):
    """Adaptable layers directly under a container, by leaf name."""
    prefix = name + "."
    out = {}
    for m in inv.modules:
        if m.name.startswith(prefix) and m.adaptable and m.kind != "embedding":
            out.setdefault(m.name[len(prefix):], None)
    return list(out)


EVIDENCE = Evidence(
    claim=(
        "`get_peft_model` raises `ValueError: Target module ... is not supported` for the first matched "
        "module no LoRA layer class accepts (norms, routers, containers)."
    ),
    code=(
        "peft 0.21.2 tuners/lora/model.py:499-566 LoraModel._create_new_module",
        "peft 0.21.2 tuners/lora/layer.py:2724-2766 dispatch_default",
    ),
    tests=(
        "tests/test_rule_claims.py::test_a_finding_says_peft_raises_exactly_when_it_does",
        "tests/test_differential.py::test_matches_peft",
    ),
)


@rule(
    "LL204", "unsupported-target-type", Severity.ERROR, needs_model=True, reports_failure=True,
    valid=[
        example("tiny-llama", 'LoraConfig(target_modules=["q_proj", "v_proj"])\n'),
        example("tiny-llama", 'LoraConfig(target_modules=["q_proj"], modules_to_save=["input_layernorm"])\n'),
    ],
    invalid=[
        example("tiny-llama", 'LoraConfig(target_modules=[\n    "q_proj",\n    "input_layernorm",  # error: LL204\n])\n'),
        example("tiny-llama", 'LoraConfig(target_modules=["self_attn"])  # error: LL204\n'),
        example("tiny-qwen2-moe", 'LoraConfig(target_modules=["q_proj", "gate"])  # error: LL204\n'),
        example("tiny-llama", 'LoraConfig(target_modules=r"model\\.layers\\.0\\..*")  # error: LL204\n'),
    ],
    evidence=EVIDENCE,
)
def unsupported_target_type(site, ctx):
    """## What it does
    Checks that every module `target_modules` matches is a layer type LoRA can adapt:
    `nn.Linear`, transformers `Conv1D`, `nn.Embedding`, `nn.Conv1d/2d/3d` or
    `nn.MultiheadAttention`. Norms, activations, dropouts, MoE routers and containers
    (`self_attn`, `mlp`, a decoder layer) are not.

    ## Why is this bad?
    `get_peft_model` raises `ValueError: Target module LlamaRMSNorm(...) is not supported`. It
    happens with names that look like layers but are containers (`self_attn`, `mlp`), with MoE
    routers named `gate`, and with regexes that end in `.*` and so also match norms and dropouts.
    To train a norm or a router fully, list it in `modules_to_save` instead. peft raises it for
    the first such module when no LoRA layer class accepts it (`_create_new_module`, peft 0.21.2
    tuners/lora/model.py:499-562).

    ## Example
    ```python
    LoraConfig(target_modules=["self_attn"])
    ```

    Use instead:
    ```python
    LoraConfig(target_modules=["q_proj", "k_proj", "v_proj", "o_proj"])
    ```
    """
    found = failure_for(site, ctx, "LL204")
    if found is None:
        return
    inv, a, failure = found
    bad = a.match.unsupported
    targets = a.spec.target_modules
    framework = a.framework.get("target_modules")
    if framework is not None:  # the framework chose the names: one finding, in its words
        setting = f"`{framework.setting}` ({framework.finder})"
        yield Problem(where(site, "target_modules"), _message(inv, None, bad, failure, setting))
        return
    if isinstance(targets, (list, tuple, set)) and a.entries:
        for entry in targets:
            hits = [n for n in a.entries.get(entry, ()) if n in bad]
            if hits:
                yield Problem(item(site, "target_modules", entry), _message(inv, entry, hits, failure))
        return
    yield Problem(where(site, "target_modules"), _message(inv, None, bad, failure))


def _message(inv, entry, hits, failure, setting=None):
    classes = sorted({inv.by_name[n].cls for n in hits})
    what = f"{entry!r} matches" if entry else f"{setting or 'target_modules'} matches"
    text = (f"{what} {plural(len(hits), 'module')} of type {', '.join(classes)} ({hits[0]}"
            f"{', …' if len(hits) > 1 else ''}): LoRA adapts only {SUPPORTED} layers, so get_peft_model"
            f" raises {failure.exception} ('Target module {inv.by_name[hits[0]].cls}(...) is not supported')")
    first = inv.by_name[hits[0]]
    kids = _children(inv, first.name) if first.kind == "container" else []
    if kids:
        return text + f"; {first.leaf} is a container, name its layers instead: {kids}"
    return text + "; remove it, or train it fully with modules_to_save"
