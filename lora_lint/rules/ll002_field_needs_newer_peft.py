from ..model import Severity
from ..peft_facts import lora_fields
from ..peft_history import (
    ALL_LINEAR_SINCE,
    FIELD_SINCE,
    REMOVED,
    init_value_since,
    parse,
    release_at,
    task_since,
)
from ..registry import Evidence, Problem, rule

#: Bookkeeping fields peft writes into adapter_config.json; an older peft dropping them is harmless.
BOOKKEEPING = frozenset({"peft_version", "auto_mapping", "base_model_name_or_path", "revision",
                         "peft_type", "runtime_config"})

OLD = "# /// script\n# dependencies = ['peft==0.8.2']\n# ///\nfrom peft import LoraConfig\n"
NEW = "# /// script\n# dependencies = ['peft>=0.14']\n# ///\nfrom peft import LoraConfig\n"


def project_version(site, ctx):
    """The newest peft the site's project may run: the option, its pin, or the installed peft."""
    from ..project import Bound, PeftVersion, peft_version

    forced = ctx.opt("peft-version")
    if forced not in (None, ""):
        v = parse(str(forced))
        return PeftVersion(Bound(v, True), str(forced), "the `peft-version` setting") if v else None
    deps = site.ctx("script_dependencies")
    return peft_version(site.path, deps.value if deps is not None else None)


def is_set(name: str, value) -> bool:
    """True when ``value`` is not the field's default or an empty value."""
    try:
        if value is None or value is False or value == lora_fields().get(name):
            return False
        return not (isinstance(value, (dict, list, tuple, set, str)) and len(value) == 0)
    except Exception:
        return True


def consequence(site, name: str, value, pv) -> str | None:
    """What goes wrong with the newest peft the project may run, or None when nothing does."""
    dialect = site.dialect
    if dialect.peft_loads:
        release = release_at(pv.bound)
        load = release.load if release else None
        if load == "raise":
            return f"peft {release.version} raises TypeError (unexpected keyword argument) when loading this adapter"
        if load is None or name in BOOKKEEPING or not is_set(name, value):
            return None
        how = "drops the unknown key with a warning" if load == "drop" else "ignores the unknown key"
        return f"peft {release.version} {how} when loading, so the adapter loads without it"
    if dialect.passer is None:  # the file calls LoraConfig itself: the keyword raises
        return "LoraConfig raises TypeError (unexpected keyword argument)"
    if not is_set(name, value):
        return None
    return f"{dialect.passer} passes it to a LoraConfig that does not know it"


def value_problems(site, pv):
    """Values newer than the project's peft: ``all-linear``, an ``init_lora_weights`` method, a
    task type."""
    release = release_at(pv.bound)
    if release is None:
        return
    p = site.params.get("target_modules")
    if (p is not None and not p.implicit and site.dialect.string_targets and isinstance(p.value, str)
            and p.value.lower() == "all-linear" and not release.all_linear):
        yield Problem(p, (
            f"target_modules={p.value!r} means every linear layer from peft {ALL_LINEAR_SINCE} on; {pv.describe()}:"
            f" peft {release.version} reads it as a regular expression that matches no module, so get_peft_model"
            f" raises ValueError (Target modules {p.value} not found in the base model); require"
            f" peft>={ALL_LINEAR_SINCE} or name the layers"
        ))
    p = site.params.get("init_lora_weights")
    if p is not None and not p.implicit and p.known and isinstance(p.value, str):
        found = init_value_since(p.value)
        if found is not None and release.accepts_init(p.value) is None:
            family, since = found
            label = "" if family == p.value else f" ({family})"
            what = ("get_peft_model raises ValueError (Unknown initialization)" if release.unknown_init == "raise"
                    else "any true value starts the default initialization, so it trains plain LoRA")
            yield Problem(p, (
                f"init_lora_weights={p.value!r}{label} was added in peft {since}; {pv.describe()}: peft"
                f" {release.version} does not know it ({what}); require peft>={since} or use init_lora_weights=True"
            ))
    p = site.params.get("task_type")
    if (p is not None and not p.implicit and isinstance(p.value, str) and release.task_types
            and p.value not in release.task_types and parse(release.version) >= (0, 1)):
        since = task_since(p.value)
        if since is not None:
            yield Problem(p, (
                f"task_type={p.value!r} was added in peft {since}; {pv.describe()}: get_peft_model in peft"
                f" {release.version} does not know it and wraps the model in a plain PeftModel (no task head"
                f" is trained or saved); require peft>={since}"
            ))


EVIDENCE = Evidence(
    claim=(
        "A field, value or task type newer than the pinned peft raises `TypeError` (an unknown "
        "`LoraConfig` keyword) or `ValueError` (an unknown init method) there; a saved adapter's unknown "
        "key is dropped with a warning by peft ≥ 0.14. Older releases are read from their own source into"
        " a table; the installed release's row is checked against the real peft."
    ),
    code=(
        "peft 0.21.2 config.py:166-230 PeftConfigMixin.from_peft_type (unknown keys of a saved config: warned and dropped)",
        "peft 0.21.2 tuners/lora/layer.py:332-343 reset_lora_parameters (an unknown init method raises)",
        "lora-lint lora_lint/peft_history_build.py row (each release's fields and values, read from its tag)",
    ),
    tests=(
        "tests/test_peft_history.py::test_the_installed_rows_behaviour_is_the_real_peft",
        "tests/test_peft_history.py::test_the_installed_rows_fields_are_the_dataclass_fields",
        "tests/test_rule_semantics.py::TestLL002Dialects::test_adapter_config_load_follows_each_release",
    ),
)


@rule(
    "LL002", "field-needs-newer-peft", Severity.ERROR,
    options={"peft-version": None},
    valid=[
        NEW + "LoraConfig(r=8, use_dora=True, init_lora_weights='eva')\n",
        OLD + "LoraConfig(r=8, use_rslora=True, init_lora_weights='gaussian')\n",
        "# /// script\n# dependencies = ['peft']\n# ///\nfrom peft import LoraConfig\nLoraConfig(r=8, kasa_config={})\n",
    ],
    invalid=[
        OLD + "LoraConfig(r=8, use_dora=True)  # error: LL002\n",
        OLD + "LoraConfig(\n    r=8,\n    init_lora_weights='pissa',  # error: LL002\n)\n",
        "# /// script\n# dependencies = ['peft<0.14']\n# ///\nfrom peft import LoraConfig\n"
        "LoraConfig(r=8, exclude_modules=['lm_head'])  # error: LL002\n",
        "# /// script\n# dependencies = ['peft==0.7.1']\n# ///\nfrom peft import LoraConfig\n"
        "LoraConfig(r=8, target_modules='all-linear')  # error: LL002\n",
    ],
    evidence=EVIDENCE,
)
def field_needs_newer_peft(site, ctx):
    """## What it does
    Checks for a `LoraConfig` field, or a value (`target_modules="all-linear"`, an
    `init_lora_weights` method, a `task_type`), that is newer than the peft version the project
    uses. The version is the newest one the project's pin allows,
    searched from the file's directory up to the repository root: a PEP 723 `# /// script`
    block in the file, then `requirements*.txt` (with `-r`/`-c` includes), `pyproject.toml`
    (PEP 621, dependency groups, Poetry), `setup.cfg` and `environment.yml`. Without a pin it
    is the installed peft (read from its metadata, never imported); without either, nothing is
    reported. The option `peft-version` overrides the discovery.

    ## Why is this bad?
    `LoraConfig(use_dora=True)` on peft 0.8 raises `TypeError: __init__() got an unexpected
    keyword argument 'use_dora'` when the script runs, usually after the environment is built
    on the training machine (LLaMA-Factory #2696). `target_modules="all-linear"` before peft
    0.8 is a regular expression that matches no module. A saved `adapter_config.json` with a
    newer key, even one set to null, or a key peft removed long ago (`merge_weights`,
    `enable_lora`, gone since 0.3), cannot be loaded by peft 0.6–0.13 (`TypeError`:
    `PeftConfig.from_peft_type` passes every key to the config class); peft ≥ 0.14
    drops the key with a warning (and 0.1–0.5 silently), loading a different adapter than the one
    trained. An `init_lora_weights` method the pinned peft does not know raises `ValueError`
    (peft ≥ 0.7) or silently trains with the default initialization (older releases).

    What each release accepts is read from its own source (`lora_lint/data/peft_history.json`,
    built by `python -m lora_lint.peft_history_build` from the peft release tags): for a
    version range, the newest release the pin allows decides.

    ## Example
    ```python
    # requirements.txt: peft==0.8.2
    LoraConfig(r=16, use_dora=True)
    ```

    Use instead: raise the pin (`peft>=0.9.0`), or drop the field.
    ```python
    LoraConfig(r=16)
    ```
    """
    pv = project_version(site, ctx)
    if pv is None or pv.bound is None:
        return
    for name, p in site.params.items():
        if p.implicit:
            continue
        since = FIELD_SINCE.get(name)
        if since is not None and not pv.allows(since):
            why = consequence(site, name, p.value, pv)
            if why:
                yield Problem(p, (
                    f"`{name}` was added in peft {since}; {pv.describe()}: {why}; "
                    f"require peft>={since} or remove `{name}`"
                ))
    yield from value_problems(site, pv)
    yield from removed_keys(site, pv)


def removed_keys(site, pv):
    """A saved adapter with a field peft removed long ago: the peft versions that raise on it."""
    if not site.dialect.peft_loads:
        return
    release = release_at(pv.bound)
    if release is None or release.load != "raise":
        return
    for name, removed in REMOVED.items():
        p = site.context.get(name)
        if p is not None:
            yield Problem(p, (
                f"`{name}` was removed from LoraConfig in peft {removed}; {pv.describe()}: peft {release.version}"
                f" raises TypeError (unexpected keyword argument) when loading this adapter; delete the key"
                f" (peft 0.14 and later drop it with a warning)"))
