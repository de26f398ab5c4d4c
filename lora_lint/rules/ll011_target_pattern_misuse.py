import re

from ..fixes import build
from ..model import Severity
from ..registry import Evidence, Problem, rule
from ._fixes import fix
from ._regex import can_match_dot
from ._util import list_items

#: Characters that make a list item a regex in the writer's mind; list items are literal names.
META = re.compile(r"[*+?|()\[\]{}^$\\]")
ALL_LINEAR = "all-linear"
#: Module names that are top-level attributes of Hugging Face models: a plain-name regex
#: fullmatches these, so ``target_modules="lm_head"`` is legitimate.
TOP_LEVEL = (
    "lm_head", "score", "classifier", "qa_outputs", "embed_out", "output", "head", "cls",
    "pooler", "model", "transformer", "encoder", "decoder", "shared", "language_model",
    "vision_tower", "visual", "multi_modal_projector", "proj_out", "final_logits_bias",
)
#: field -> what happens when an entry matches nothing
FIELDS = {
    "target_modules": ("peft finds no target module", "peft adapts fewer modules than listed (or none)"),
    "exclude_modules": ("nothing is excluded", "nothing is excluded by it"),
}
_NAMES = re.compile(r"\s*[A-Za-z_][\w.]*\s*(?:,\s*[A-Za-z_][\w.]*\s*)+")


def _alternatives(pattern: str) -> list[str] | None:
    """``"q_proj|v_proj"`` or ``"(q_proj|v_proj)"`` -> the names, when that is all it is."""
    body = pattern.strip()
    if body.startswith("(") and body.endswith(")"):
        body = body[1:-1]
    names = [n.strip() for n in re.split(r"[|,]", body)]
    if names and all(re.fullmatch(r"[A-Za-z_][\w.]*", n) for n in names):
        return names
    return None


def _list_fix(names: list[str]) -> str:
    return "[" + ", ".join(repr(n) for n in names) + "]"


def _regex_fix(names: list[str]) -> str:
    body = "|".join(re.escape(n) for n in names)
    return 'r".*\\.' + (body if len(names) == 1 else f"({body})") + '"'


def string_problem(value: str, effect: str) -> str | None:
    """Why a str ``target_modules`` (a regex fullmatched against full module paths) is wrong."""
    if value.lower() == ALL_LINEAR:
        return None
    if not value.strip():
        return f"{value!r} matches no module, so {effect}; write a list of names or a regex"
    if value.strip().lower().replace("_", "-") in ("all-linear", "all", "all-linear-layers"):
        return f"{value!r} is not the shorthand: only 'all-linear' (any case) selects every linear layer; write 'all-linear'"
    try:
        compiled = re.compile(value)
    except (re.error, RecursionError, OverflowError) as e:
        return f"{value!r} is not a valid regular expression ({e}): peft fails matching it"
    if can_match_dot(value):
        return None  # it can match a dotted path such as model.layers.0.self_attn.q_proj
    from ..regex_risk import catastrophic

    if catastrophic(value):
        return None  # matching it could take minutes (lora_lint/regex_risk.py)
    if any(compiled.fullmatch(name) for name in TOP_LEVEL):
        return None  # e.g. "lm_head": a top-level module
    names = _alternatives(value)
    if "," in value and names:
        how = "a comma-joined string is one regex, not a list"
    else:
        how = "a string is a regex fullmatched against the full module path (model.layers.0.self_attn.q_proj)"
    fix = f"write the list {_list_fix(names)} or the regex {_regex_fix(names)}" if names else (
        'let it match the path prefix, e.g. r".*\\.' + value + '"'
    )
    return f"{value!r} can only match a top-level module, so {effect}: {how}; {fix}"


def item_problem(value, effect: str) -> str | None:
    """Why a list item of ``target_modules`` (matched literally, exact or as a dotted suffix) is wrong."""
    if not isinstance(value, str):
        return None
    if value.strip().lower().replace("_", "-") in ("all-linear", "all"):
        return f"{value!r} inside a list is a module name, not the shorthand; write target_modules='all-linear' (a string, not a list)"
    if META.search(value):
        names = _alternatives(value)
        fix = f"list the names: {_list_fix(names)}" if names else "pass the regex as the whole string value instead of a list"
        return (
            f"{value!r} contains regex characters, but list items are matched literally "
            f"(exact name or dotted suffix), so it matches nothing and {effect}; {fix}"
        )
    return None


EVIDENCE = Evidence(
    claim=(
        "peft matches a list item by exact name or `.`-suffix and a string with `re.fullmatch` (except "
        "\"all-linear\"): regex characters in a list item, \"all-linear\" in a list, or a string that cannot "
        "match a dotted path match nothing, and `get_peft_model` raises when nothing matches; "
        "`exclude_modules` list items are literal."
    ),
    code=(
        "peft 0.21.2 tuners/tuners_utils.py:2337-2412 check_target_module_exists",
        "peft 0.21.2 tuners/tuners_utils.py:2430-2492 _maybe_include_all_linear_layers",
        "peft 0.21.2 tuners/tuners_utils.py:1051-1086 BaseTuner.inject_adapter (the not-found errors)",
    ),
    tests=(
        "tests/test_rules_vs_peft.py::test_ll011_fires_exactly_when_peft_finds_no_target",
        "tests/test_rules_vs_peft.py::test_ll011_exclude_modules_list_items_are_literal",
    ),
)


@rule(
    "LL011", "target-pattern-misuse", Severity.ERROR,
    valid=[
        "from peft import LoraConfig\nLoraConfig(r=8, target_modules=['q_proj', 'self_attn.v_proj'])\n",
        "from peft import LoraConfig\nLoraConfig(r=8, target_modules='all-linear')\n",
        "from peft import LoraConfig\nLoraConfig(r=8, target_modules=r'.*\\.(q_proj|v_proj)')\n",
        "from peft import LoraConfig\nLoraConfig(r=8, target_modules=r'model\\.layers\\.\\d+\\.self_attn\\.(q|v)_proj')\n",
        "from peft import LoraConfig\nLoraConfig(r=8, target_modules='.*q_proj')\n",
        "from peft import LoraConfig\nLoraConfig(r=8, target_modules='lm_head')\n",
        "from peft import LoraConfig\nLoraConfig(r=8, target_modules=['q_proj', NAME], exclude_modules=r'.*vision.*')\n",
        "from peft import LoraConfig\nLoraConfig(r=8, target_modules=[m for m in names])\n",
    ],
    invalid=[
        "from peft import LoraConfig\nLoraConfig(r=8, target_modules='q_proj|v_proj')  # error: LL011\n",
        "from peft import LoraConfig\nLoraConfig(r=8, target_modules='q_proj,v_proj')  # error: LL011\n",
        "from peft import LoraConfig\nLoraConfig(r=8, target_modules=['all-linear'])  # error: LL011\n",
        "from peft import LoraConfig\nLoraConfig(\n    r=8,\n    target_modules=[\n        'q_proj',\n        '.*v_proj',  # error: LL011\n    ],\n)\n",
        "from peft import LoraConfig\nLoraConfig(r=8, target_modules='all_linear')  # error: LL011\n",
        "from peft import LoraConfig\nLoraConfig(r=8, target_modules=['q_proj'], exclude_modules=['vision_tower.*'])  # error: LL011\n",
    ],
    evidence=EVIDENCE,
)
def target_pattern_misuse(site, ctx):
    """## What it does
    Checks how `target_modules` and `exclude_modules` are written. peft reads them in two
    different ways: a **list** holds literal module names, each matching a module whose path
    equals it or ends with `.` + it; a **string** is a regular expression that must match the
    *full* module path (`model.layers.0.self_attn.q_proj`), except the shorthand `"all-linear"`.
    It flags list items with regex characters (`"q_proj|v_proj"`, `".*v_proj"`), `"all-linear"`
    inside a list, a comma-joined string (`"q_proj,v_proj"`), and a string that cannot match a
    dotted path (`"q_proj"`, `"q_proj|v_proj"`) and so can only hit a top-level module.

    ## Why is this bad?
    None of these match the modules they name. peft then raises
    `Target modules {'all-linear'} not found in the base model` after the model is loaded, or,
    when another entry does match, silently adapts fewer layers than intended. For
    `exclude_modules` nothing is excluded.

    ## Example
    ```python
    LoraConfig(r=16, target_modules="q_proj|v_proj")
    LoraConfig(r=16, target_modules=["all-linear"])
    ```

    Use instead:
    ```python
    LoraConfig(r=16, target_modules=["q_proj", "v_proj"])  # or r".*\\.(q_proj|v_proj)"
    LoraConfig(r=16, target_modules="all-linear")
    ```

    ## Fix safety
    Two safe fixes, both writing what the config evidently means: `["all-linear"]` (the only
    item) becomes the string `"all-linear"` in Python (not for Unsloth's `FastLanguageModel`,
    which reads the names itself) and in the YAML frameworks that pass a string to peft as it is
    (axolotl, Hydra's `_target_: peft.LoraConfig`; not a home-grown block, whose reader is
    unknown); a Python comma-joined string of
    plain names (`"q_proj,v_proj"`) becomes the list `["q_proj", "v_proj"]`. Regexes and `|`
    alternatives are not rewritten: which of the two readings was meant is not certain.
    """
    for name, (effect, item_effect) in FIELDS.items():
        p = site.get(name)
        if p is not None and isinstance(p.value, str):
            why = string_problem(p.value, effect)
            if why:
                yield Problem(p, f"{name}={why}", lambda p=p: _split(site, p, ctx))
            continue
        for value, where in list_items(site, name):
            why = item_problem(value, item_effect)
            if why:
                yield Problem(where, f"{name} item {why}", lambda n=name, v=value: _unwrap(site, n, v, ctx))


def _split(site, p, ctx):
    """``"q_proj,v_proj"`` -> ``["q_proj", "v_proj"]`` (Python)."""
    if not site.dialect.python or not _NAMES.fullmatch(p.value):
        return None
    names = [n.strip() for n in p.value.split(",")]
    return fix(f"Write the list {_list_fix(names)}", build.string_to_list(ctx.document, p, names))


def _unwrap(site, name, value, ctx):
    """``["all-linear"]`` -> ``"all-linear"`` where the framework passes a string to peft
    (``Dialect.string_targets``: not Unsloth's FastLanguageModel, which walks the names itself,
    nor a home-grown block, read by code lora-lint does not know)."""
    p = site.params.get(name)
    if (name != "target_modules" or not site.dialect.string_targets or p is None
            or not isinstance(p.value, list) or len(p.value) != 1 or str(value).lower() != ALL_LINEAR):
        return None
    return fix(f"Write the string {value!r} instead of a list", build.list_to_string(ctx.document, p))
