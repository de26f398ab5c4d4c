from ..model import Severity
from ..registry import Evidence, rule

EVIDENCE = Evidence(
    claim="About lora-lint itself: the suppression comment silenced no finding in this run.",
    code=(
        "lora-lint lora_lint/suppressions.py unused",
    ),
    tests=(
        "tests/test_suppressions.py::test_unused_suppressions_end_to_end_in_yaml",
        "tests/test_suppressions.py::test_used_suppression_is_not_reported",
    ),
)


@rule(
    "LL904", "unused-suppression", Severity.WARNING,
    valid=[
        "from peft import LoraConfig\nLoraConfig(r=16, lora_alpha=32)  # rank from the sweep\n",
        ("train.yaml", "adapter: lora\nlora_r: 8  # a comment, not a suppression\n"),
    ],
    invalid=[
        "from peft import LoraConfig\nLoraConfig(r=16, lora_alpha=32)  # lora-lint: ignore[rslora-recommended]  # error: LL904\n",
        "from peft import LoraConfig\nLoraConfig(r=16)  # noqa: LL999  # error: LL904\n",
        ("train.yaml", "# lora-lint: ignore-file[LL001]  # error: LL904\nadapter: lora\nlora_r: 8\n"),
    ],
    evidence=EVIDENCE,
)
def unused_suppression(site, ctx):
    """## What it does
    Reports a suppression comment (`# lora-lint: ignore[...]`, `# lora-lint: ignore-file[...]`,
    `# noqa: LL...`) that silences nothing: the rule it names reports nothing there, is not
    enabled for the file, or does not exist. Off by default: turn it on with
    `--report-unused-suppressions`, `report-unused-suppressions = true`, or by selecting
    `LL904`.

    ## Why is this bad?
    A stale suppression hides the next real finding on that line: when the config changes
    back to a value the rule rejects, nobody is told. A misspelled code never silenced
    anything in the first place.

    ## Example
    ```python
    LoraConfig(r=16, lora_alpha=32)  # lora-lint: ignore[LL101]
    ```

    Use instead:
    ```python
    LoraConfig(r=16, lora_alpha=32)
    ```
    """
    return ()
