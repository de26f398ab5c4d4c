from ..model import Severity, is_known
from ..registry import Evidence, Problem, rule
from ._util import unset

SRC = "from peft import LoraConfig\n"


EVIDENCE = Evidence(
    claim=(
        "peft warns \"... specified but will be ignored\" and drops a "
        "`loftq_config`/`eva_config`/`corda_config` without its init method; a framework with its adapter"
        " off never builds a `LoraConfig` (axolotl's `load_adapter` returns the model untouched without "
        "`adapter`, unless the model is loaded in 4/8 bit: then its `validate_adapter` refuses to start, "
        "which is LL009, not LL010; TRL's `get_peft_config` returns None for `use_peft: false`; the frameworks are not run here, their code paths are read from source)."
    ),
    code=(
        "peft 0.21.2 tuners/lora/config.py:1009-1116 LoraConfig.__post_init__ (the `will be ignored` warnings)",
        "axolotl v0.18.0 src/axolotl/loaders/adapter.py:418-426 load_adapter",
        "axolotl v0.18.0 src/axolotl/utils/schemas/peft.py:177-251 LoraConfig.validate_adapter",
        "TRL v1.9.0 trl/trainer/utils.py:254-256 get_peft_config",
    ),
    tests=(
        "tests/test_rules_vs_peft.py::test_ll010_matches_peft_warnings",
        "tests/test_yaml_dialects.py::test_axolotl_off_and_full_finetune",
        "tests/test_yaml_findings.py::test_inactive_site_reports_only_its_notes",
    ),
)


@rule(
    "LL010", "ignored-setting", Severity.WARNING,
    valid=[
        SRC + "LoraConfig(r=8, init_lora_weights='loftq', loftq_config={'loftq_bits': 4})\n",
        SRC + "LoraConfig(r=8, init_lora_weights='eva', eva_config=EvaConfig(rho=2.0))\n",
        SRC + "LoraConfig(r=8, loftq_config={})\n",
        SRC + "LoraConfig(r=8, eva_config=None, corda_config=None)\n",
        SRC + "LoraConfig(r=8, loftq_config={'loftq_bits': 4}, **kwargs)\n",
    ],
    invalid=[
        SRC + "LoraConfig(r=8, loftq_config={'loftq_bits': 4})  # error: LL010\n",
        SRC + "LoraConfig(r=8, init_lora_weights='pissa', eva_config={'rho': 2.0})  # error: LL010\n",
        SRC + "LoraConfig(r=8, init_lora_weights='eva', corda_config={})  # error: LL010\n",
    ],
    evidence=EVIDENCE,
)
def ignored_setting(site, ctx):
    """## What it does
    Checks for settings that silently do nothing. In peft: a `loftq_config`, `eva_config` or
    `corda_config` without the matching `init_lora_weights`. In training frameworks: LoRA
    settings in a config whose adapter is switched off (axolotl without `adapter`, TRL's
    `use_peft: false`, AutoTrain's `peft: false`, Unsloth Studio's full training),
    LLaMA-Factory `lora_*` values while resuming an adapter without `create_new_adapter`, and
    `merge_adapter` without peft.

    ## Why is this bad?
    The run starts and finishes without complaint, but not with the configuration you wrote:
    peft drops a `loftq_config` with the warning "`loftq_config` specified but will be ignored
    when `init_lora_weights` is not 'loftq'" (likewise for EVA and CorDA), and a framework with
    its adapter off trains the full model and ignores every LoRA key.

    ## Example
    ```python
    LoraConfig(r=8, loftq_config={"loftq_bits": 4})
    ```

    Use instead:
    ```python
    LoraConfig(r=8, init_lora_weights="loftq", loftq_config={"loftq_bits": 4})
    ```
    """
    init = site.effective("init_lora_weights")
    if is_known(init) and not unset(site, init):
        for name, wanted in (("loftq_config", "loftq"), ("eva_config", "eva"), ("corda_config", "corda")):
            p = site.get(name)
            if p is None or init == wanted or unset(site, p.value):
                continue
            # peft: `elif self.loftq_config:` (a non-empty config), `eva_config is not None`.
            used = bool(p.value) if name == "loftq_config" else p.value is not None
            if used:
                yield Problem(p, (
                    f"`{name}` is ignored unless init_lora_weights={wanted!r} (it is {init!r}): "
                    f"set init_lora_weights={wanted!r} or remove `{name}`"
                ))
