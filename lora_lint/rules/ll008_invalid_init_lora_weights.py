from ..model import Severity
from ..registry import Evidence, Problem, rule
from ._util import a_type, entries, explicit_first, rank, unset

#: Exact-case values peft's Linear layer dispatches on (tuners/lora/layer.py update_layer).
EXACT = ("loftq", "eva", "orthogonal", "lora_ga")
#: Compared after ``.lower()`` by peft.
ANY_CASE = ("olora", "gaussian")
KNOWN = ("gaussian", "eva", "olora", "pissa", "pissa_niter_<n>", "corda", "loftq", "orthogonal", "lora_ga", "mica")
SYNONYMS = {"kaiming": "True", "default": "True", "lora": "True", "true": "True", "false": "False",
            "random": "False", "normal": "'gaussian'", "none": "True", "zero": "True", "zeros": "True"}


def problem(value) -> tuple[str, str] | None:
    """``(why, fix)`` when peft does not accept ``value`` as ``init_lora_weights``, else None.

    Mirrors peft 0.21's Linear ``update_layer``: ``pissa*`` and ``corda*`` by prefix (then
    ``pissa`` or ``pissa_niter_<int>``), ``olora``/``mica``/``gaussian`` case-insensitively
    (the MiCA variant itself only for the exact ``"mica"``), the others exactly.
    """
    if isinstance(value, bool):
        return None
    if not isinstance(value, str):
        if value is None:
            return "None is not an initialization; it skips the default init, so the adapter starts random like False", "True"
        return f"{a_type(value)} is not an initialization (peft calls .lower() on it)", "True"
    if value.startswith("pissa"):
        if value == "pissa":
            return None
        parts = value.split("_niter_")
        if len(parts) == 2:
            try:
                int(parts[1])
                return None
            except ValueError:
                pass
        return f"peft raises ('pissa' or 'pissa_niter_[number of iters]' expected, got {value!r})", "'pissa_niter_4'"
    if value.startswith("corda") or value in EXACT:
        return None
    low = value.lower()
    if low in ANY_CASE:
        return None
    if low == "mica":
        if value == "mica":
            return None
        return "peft runs the MiCA init for it but activates the MiCA variant (frozen B) only for the exact 'mica'", "'mica'"
    for known in EXACT + ("pissa", "corda"):
        if low == known or low.replace("-", "_") == known:
            return f"peft compares {known!r} case-sensitively and raises \"Unknown initialization\" for {value!r}", repr(known)
    fix = SYNONYMS.get(low.strip())
    if fix is None:
        import difflib

        close = difflib.get_close_matches(low, KNOWN, n=1, cutoff=0.6)
        fix = repr(close[0]) if close else "True"
    if value == "":
        return "an empty string skips the default init, so the adapter starts random", "True"
    return f"peft raises \"Unknown initialization init_lora_weights={value!r}\" when it creates the adapter", fix


EVIDENCE = Evidence(
    claim=(
        "`get_peft_model` raises when the first layer is created with an `init_lora_weights` value peft "
        "does not know (or an odd rank with \"orthogonal\"); None and \"\" start random like False; \"lora_ga\""
        " without its config raises in `preprocess_loraga`."
    ),
    code=(
        "peft 0.21.2 tuners/lora/layer.py:219-331 LoraLayer.update_layer (the init dispatch)",
        "peft 0.21.2 tuners/lora/layer.py:332-343 reset_lora_parameters (`Unknown initialization`)",
        "peft 0.21.2 tuners/lora/loraga.py:47-117 preprocess_loraga",
    ),
    tests=(
        "tests/test_rules_vs_peft.py::test_ll008_fires_exactly_when_peft_rejects_the_init",
        "tests/test_rules_vs_peft.py::test_ll008_none_and_empty_start_random_like_false",
        "tests/test_rules_vs_peft.py::test_ll008_mica_is_case_sensitive_for_the_variant",
        "tests/test_rules_vs_peft.py::test_ll008_lora_ga_needs_its_config",
    ),
)


@rule(
    "LL008", "invalid-init-lora-weights", Severity.ERROR,
    valid=[
        "from peft import LoraConfig\nLoraConfig(r=8, init_lora_weights='gaussian')\n",
        "from peft import LoraConfig\nLoraConfig(r=8, init_lora_weights='pissa_niter_16')\n",
        "from peft import LoraConfig\nLoraConfig(r=16, init_lora_weights='orthogonal')\n",
        "from peft import LoraConfig\nLoraConfig(r=8, init_lora_weights='lora_ga', lora_ga_config=ga)\n",
        "from peft import LoraConfig\nLoraConfig(r=R, init_lora_weights='orthogonal')\n",
        "from peft import LoraConfig\nLoraConfig(r=8, init_lora_weights='lora_ga', **extra)\n",
    ],
    invalid=[
        "from peft import LoraConfig\nLoraConfig(r=8, init_lora_weights='kaiming')  # error: LL008\n",
        "from peft import LoraConfig\nLoraConfig(r=8, init_lora_weights='PiSSA')  # error: LL008\n",
        "from peft import LoraConfig\nLoraConfig(r=8, init_lora_weights='pissa_niter_x')  # error: LL008\n",
        "from peft import LoraConfig\nLoraConfig(\n    r=7,  # error: LL008\n    init_lora_weights='orthogonal',\n)\n",
        "from peft import LoraConfig\nLoraConfig(r=8, init_lora_weights='lora_ga')  # error: LL008\n",
    ],
    evidence=EVIDENCE,
)
def invalid_init_lora_weights(site, ctx):
    """## What it does
    Checks that `init_lora_weights` is a value peft accepts and has what it needs. The
    accepted values are `True`, `False`, `"gaussian"`, `"eva"`, `"olora"`, `"pissa"`,
    `"pissa_niter_<n>"`, `"corda"`, `"loftq"`, `"orthogonal"`, `"lora_ga"` and `"mica"`
    (read from the installed peft's layer code); `"orthogonal"` needs an even rank (also in
    `rank_pattern`), and `"lora_ga"` its `lora_ga_config`.

    ## Why is this bad?
    peft does not check the value when the config is built. `get_peft_model` fails when it
    creates the first layer: `ValueError: Unknown initialization init_lora_weights='kaiming'`,
    `invalid literal for int() with base 10: 'x'` for `"pissa_niter_x"`, or
    `Orthogonal initialization requires the LoRA rank to be even, got 7 instead.`
    Most names are case-sensitive (`"PiSSA"` fails). `"lora_ga"` without `lora_ga_config`
    either raises in `preprocess_loraga` ("If you want to use LoRA-GA, please initialize the
    LoraConfig with init_lora_weights='lora_ga' and lora_ga_config=LoraGAConfig(...)") or,
    without that step, silently falls back to the default initialization.

    ## Example
    ```python
    LoraConfig(r=7, init_lora_weights="orthogonal")
    ```

    Use instead:
    ```python
    LoraConfig(r=8, init_lora_weights="orthogonal")
    ```
    """
    p = site.get("init_lora_weights")
    if p is None or unset(site, p.value):
        return
    value = p.value
    if value is None and not site.dialect.python:
        return
    found = problem(value)
    if found:
        why, fix = found
        yield Problem(p, f"init_lora_weights={value!r} is not accepted: {why}; use init_lora_weights={fix}")
        return
    if value == "orthogonal":
        r = site.params.get("r")
        rv = rank(site, site.effective("r"))
        if rv is not None and rv > 0 and rv % 2:
            where = explicit_first(r, p) if r is not None else p
            yield Problem(where, (
                f"init_lora_weights='orthogonal' needs an even rank, r={rv}: peft raises \"Orthogonal "
                f"initialization requires the LoRA rank to be even\"; use r={rv + 1}"
            ))
        for key, v, where in entries(site, "rank_pattern"):
            rv = rank(site, v)
            if rv is not None and rv > 0 and rv % 2:
                yield Problem(where, (
                    f"rank_pattern[{key!r}]={rv} is odd but init_lora_weights='orthogonal' needs an "
                    f"even rank: peft raises for those modules; use {rv + 1}"
                ))
    if value == "lora_ga":
        cfg = site.params.get("lora_ga_config")
        if (cfg is None and site.missing("lora_ga_config")) or (cfg is not None and cfg.known and cfg.value is None):
            yield Problem(p, (
                "init_lora_weights='lora_ga' without lora_ga_config: peft.preprocess_loraga raises "
                "\"please initialize the LoraConfig with init_lora_weights='lora_ga' and "
                "lora_ga_config=LoraGAConfig(...)\", and without that step the layers silently fall "
                "back to the default init; pass lora_ga_config=LoraGAConfig()"
            ))
