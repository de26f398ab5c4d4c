from ..model import Severity
from ..registry import Evidence, rule

EVIDENCE = Evidence(
    claim=(
        "About lora-lint itself: the repository's model lock has no (current) entry for the base model, "
        "so the model-aware rules were skipped where the lock is all there is."
    ),
    code=(
        "lora-lint lora_lint/engine.py resolve_model",
        "lora-lint lora_lint/lock.py explain",
    ),
    tests=(
        "tests/test_lock.py::test_without_a_lock_a_run_without_torch_warns_with_the_command_that_fixes_it",
        "tests/test_lock.py::test_offline_unknown_hub_model_is_ll905_and_a_lock_cannot_give_it",
    ),
)


@rule(
    "LL905", "model-not-locked", Severity.WARNING,
    valid=[
        ("train.yaml", "base_model: Qwen/Qwen2.5-0.5B\nadapter: lora\nlora_r: 8\nlora_alpha: 16\n"),
    ],
    invalid=[
        ("train.yaml", "base_model: my-org/llama-3-sft-v2\nadapter: lora  # error: LL905\nlora_r: 8\n"
                       "lora_alpha: 16\n"),
    ],
    evidence=EVIDENCE,
)
def model_not_locked(site, ctx):
    """## What it does
    Says that a LoRA config's base model is missing from the repository's model lock
    (`.lora-lint/models/`, written by `lora-lint lock`), so the model-aware rules (LL105, LL106,
    LL2xx, LL3xx) were skipped here or will be skipped where the lock is all there is:

    - the model cannot be resolved or built in this environment (transformers and torch are not
      installed, as in the pre-commit hook; the Hub is off or unreachable; a gated model without
      a token) and no lock holds it;
    - a lock exists but has no entry for the model, no inventory of the class the config loads
      (`AutoModelForSequenceClassification`), or an entry made before the model's `config.json`
      changed.

    The fix is one command, run where the model resolves (the `[model]` extra installed, the Hub
    reachable): `lora-lint lock`, then commit `.lora-lint/models/`.

    ## Why is this bad?
    The model-aware rules catch the errors that waste a training run: a target that matches
    nothing, a classification head left frozen, a rank larger than a layer. Where they are
    skipped, such a config passes a pre-commit hook unseen. A warning (unlike LL902's
    information) fails the hook, so the gap is seen; to accept it, ignore the rule
    (`ignore = ["LL905"]`, or `per-file-ignores` for some files), and LL902 says, as
    information, that the model-aware rules were skipped.

    Models of lora-lint's bundled catalog need no lock where their inventories are prebuilt: a
    config naming one is checked offline, without torch, in every environment. A model that can
    never be built (one that needs remote code) is recorded in the lock as such, and is then
    reported by LL902 alone.

    ## Example
    ```yaml
    # a pre-commit hook without torch, or any run with HF_HUB_OFFLINE=1
    base_model: my-org/llama-3-sft-v2
    adapter: lora
    lora_r: 8
    ```

    Use instead: run `lora-lint lock` once where the model resolves, and commit the lock:
    ```console
    $ pip install torch --index-url https://download.pytorch.org/whl/cpu
    $ pip install 'lora-lint[model]'
    $ lora-lint lock
    Locked 1 model (1 inventory built) in .lora-lint/models/lock.json
    $ git add .lora-lint/models
    ```
    Every later run, with or without torch, online or not, uses the locked model.
    `lora-lint lock --check` (in CI, with the `[model]` extra) fails when the lock is missing an
    entry or an entry is stale, for example when a new transformers release builds a locked
    model differently.
    """
    return ()
