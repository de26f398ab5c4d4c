from ..model import Severity
from ..peft_facts import lora_fields
from ..peft_history import DROPS_UNKNOWN_KEYS_SINCE, FIELD_SINCE, init_value_since, parse
from ..registry import Problem, rule

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
    """What goes wrong with the older peft, or None when nothing does."""
    dialect = site.dialect
    if dialect.saved:
        if pv.older_than(DROPS_UNKNOWN_KEYS_SINCE):
            return "loading this adapter raises TypeError (unexpected keyword argument)"
        if name in BOOKKEEPING or not is_set(name, value):
            return None
        return "that peft drops the unknown key with a warning when loading, so the adapter loads without it"
    if dialect.passer is None:  # the file calls LoraConfig itself: the keyword raises
        return "LoraConfig raises TypeError (unexpected keyword argument)"
    if not is_set(name, value):
        return None
    return f"{dialect.passer} passes it to a LoraConfig that does not know it"


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
    ],
)
def field_needs_newer_peft(site, ctx):
    """## What it does
    Checks for a `LoraConfig` field, or an `init_lora_weights` value, that is newer than the
    peft version the project uses. The version is the newest one the project's pin allows,
    searched from the file's directory up to the repository root: a PEP 723 `# /// script`
    block in the file, then `requirements*.txt` (with `-r`/`-c` includes), `pyproject.toml`
    (PEP 621, dependency groups, Poetry), `setup.cfg` and `environment.yml`. Without a pin it
    is the installed peft (read from its metadata, never imported); without either, nothing is
    reported. The option `peft-version` overrides the discovery.

    ## Why is this bad?
    `LoraConfig(use_dora=True)` on peft 0.8 raises `TypeError: __init__() got an unexpected
    keyword argument 'use_dora'` when the script runs, usually after the environment is built
    on the training machine (LLaMA-Factory #2696). A saved `adapter_config.json` with a newer
    field crashes peft < 0.14 on load; peft ≥ 0.14 drops the key with a warning and loads a
    different adapter than the one trained. An `init_lora_weights` method the pinned peft does
    not know either raises or silently falls back to the default initialization.

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
            continue
        if name == "init_lora_weights" and p.known:
            found = init_value_since(p.value)
            if found is not None and not pv.allows(found[1]):
                family, since = found
                label = "" if family == p.value else f" ({family})"
                yield Problem(p, (
                    f"init_lora_weights={p.value!r}{label} was added in peft {since}; {pv.describe()}: "
                    f"that peft does not know it (it raises or silently uses the default init); "
                    f"require peft>={since} or use init_lora_weights=True"
                ))
