from ..model import Severity
from ..registry import Evidence, rule

EVIDENCE = Evidence(
    claim=(
        "About lora-lint itself: the base model could not be resolved, so the model-aware rules did not "
        "run on this config."
    ),
    code=(
        "lora-lint lora_lint/engine.py resolve_model",
        "lora-lint lora_lint/models/context.py unresolved_message",
    ),
    tests=(
        "tests/test_resolve.py::test_ll902_no_model_named",
        "tests/test_resolve.py::test_ll902_unknown_id_offline_says_how_to_fix",
    ),
)


@rule("LL902", "model-unresolved", Severity.INFO, needs_model=False, evidence=EVIDENCE)
def model_unresolved(site, ctx):
    """## What it does
    Says that the model-aware rules (LL105, LL106, LL2xx, LL3xx) were skipped for a LoRA config,
    because no base model is named or it could not be resolved offline, and how to fix that.

    ## Why is this bad?
    Without the base model's real module names lora-lint cannot tell whether `target_modules`
    exist, whether the classification head is trained, or how many parameters the adapter has.
    Nothing is wrong with the config itself; this is information, it does not fail the run.
    Where the reason is one that the repository's model lock avoids (transformers and torch not
    installed, as in the pre-commit hook; the Hub off or unreachable; a gated model without a
    token), LL905 reports it instead, as a warning naming `lora-lint lock`; LL902 does when
    LL905 is ignored.

    ## Example
    ```python
    model = AutoModelForCausalLM.from_pretrained(os.environ["MODEL"])
    config = LoraConfig(r=16, target_modules=["q_proj", "v_proj"])
    ```

    Use instead: name the base model where lora-lint can read it, for example
    ```python
    # lora-lint: base-model=meta-llama/Llama-3.1-8B
    config = LoraConfig(r=16, target_modules=["q_proj", "v_proj"])
    ```
    or set `base-model` in `[tool.lora-lint]`, pass `--base-model`, or make the model available
    offline (a local directory with `config.json`, or the Hugging Face cache).

    A model is looked for, in order: a local directory or `config.json` (relative to the file,
    then to the working directory), the Hugging Face cache, lora-lint's bundled catalog of common
    base models (with their instruct/chat siblings and Unsloth mirrors), and only then the Hub
    (skipped with `--offline` or `HF_HUB_OFFLINE=1`; gated models need `HF_TOKEN`). The comment
    also takes the model class when the head matters:
    `# lora-lint: base-model=Qwen/Qwen2.5-0.5B model-class=SequenceClassification`.
    Models whose `config.json` needs the repository's own code (`auto_map`) are never built:
    lora-lint does not run remote code. Building never uses the network, online or not: keys that
    only choose a kernel at run time (`attn_implementation`, `experts_implementation`) are left
    out, and a config that still needs the Hub to build (a `backbone` named only by its Hub id)
    is reported here. So is a model too large to build: at most 50,000 modules (real models have
    up to about 16,000), and a `config.json` of more than 4 MiB is not read.
    """
    return ()
