from ..model import Severity
from ..registry import Evidence, Problem, rule
from ..training import GPU_MEMORY, parse_size
from ._model import TINY

LLAMA = TINY.format("tiny-llama")
PY = "from transformers import AutoModelForCausalLM\n"


def _yaml(budget: str, body: str) -> tuple[str, str]:
    return ("axolotl.yaml", f"# lora-lint: base-model=tests/fixtures/models/tiny-llama gpu-memory={budget}\n{body}")


EVIDENCE = Evidence(
    claim=(
        "The frozen and trainable weights, gradients and optimizer states are the bytes of the real model's "
        "parameters after `from_pretrained` (bitsandbytes storage included) and `get_peft_model`, and of a real "
        "optimizer step; the activations' lower edge is 0.8 of an estimate whose measured peaks have stayed "
        "within 80% to 125% of it."
    ),
    code=(
        "peft 0.21.2 peft_model.py:932-961 PeftModel.get_nb_trainable_parameters",
        "lora-lint lora_lint/models/memory.py estimate",
        "lora-lint lora_lint/models/training.py memory_for",
    ),
    tests=(
        "tests/test_memory.py::test_trainable_and_frozen_bytes_match_peft",
        "tests/test_memory.py::test_frozen_weights_are_bitsandbytes_storage",
        "tests/test_memory.py::test_optimizer_states_match_a_real_step",
        "tests/test_memory.py::test_activation_estimate_within_band",
        "tests/test_training_settings.py::test_axolotl_one_process_spreads_the_model_with_device_map_auto",
        "tests/test_training_settings.py::test_a_value_not_statically_known_stays_unknown_and_its_terms_are_left_out",
    ),
    guidance=(
        "The budget is the user's own `gpu-memory` setting: the rule compares only the memory that is certain "
        "with it, and names the changes that would bring it under with the figure each gives."
    ),
)


AXOLOTL = ("base_model: tiny\nadapter: lora\nlora_r: 8\nlora_alpha: 16\nlora_target_linear: true\n"
           "sequence_len: 256\nmicro_batch_size: 2\nsample_packing: true\npad_to_sequence_len: true\n"
           "device_map: cuda:0\n")


@rule(
    "LL107", "gpu-memory-budget", Severity.WARNING, needs_model=True,
    options={"gpu-memory": None}, evidence=EVIDENCE,
    valid=[
        # fits: at least 10.1 MiB (the activation estimate, 11.5 MiB, at 0.8 of it)
        _yaml("16MiB", AXOLOTL),
        # one process: axolotl's device_map "auto" may spread the model over several GPUs
        _yaml("1MiB", AXOLOTL.replace("device_map: cuda:0\n", "")),
        # a script run with `accelerate launch --config_file fsdp.yaml` may be sharded over
        # several GPUs: nothing is certain per GPU
        "# lora-lint: gpu-memory=1MiB\n" + LLAMA + PY
        + 'model = AutoModelForCausalLM.from_pretrained("tiny", dtype="float32")\n'
        + 'LoraConfig(r=8, target_modules=["q_proj"])\n',
        # no budget declared
        ("axolotl.yaml", "# lora-lint: base-model=tests/fixtures/models/tiny-llama\n" + AXOLOTL),
    ],
    invalid=[
        # the weights alone: every batch is not padded to sequence_len, the activations are not counted
        _yaml("1MiB", AXOLOTL.replace("adapter: lora", "adapter: lora  # error: LL107").replace(
            "pad_to_sequence_len: true\n", "").replace("sample_packing: true\n", "")),
        # packed to sequence_len: the activations are certain too (at the band's lower edge)
        _yaml("4MiB", AXOLOTL.replace("adapter: lora", "adapter: lora  # error: LL107")),
    ],
)
def gpu_memory_budget(site, ctx):
    """## What it does
    Reports a config whose training cannot fit in the memory of one GPU, as the user declares it:
    `gpu-memory = "24GiB"` in the configuration (for every file, or a table of glob = size like
    `base-model`), or a `# lora-lint: gpu-memory=24GiB` comment in the file. The memory is
    `lora-lint report`'s: frozen weights, trainable weights, gradients and optimizer states, exact
    from the model's parameters and the settings the file writes (or its framework's defaults),
    and the activations, an estimate. The message names the largest terms and what would bring
    the run under the budget (loading in bf16 or 4-bit, gradient checkpointing, a smaller
    micro-batch, a lower rank or fewer targets, an 8-bit optimizer), each with the total it
    would give.

    It reports only what is certain: the exact terms that are alive together (at the optimizer
    step: weights, gradients, optimizer states; after a forward pass: weights, optimizer states
    and activations), with the activations counted only when every batch has the full sequence
    length (packed or padded to it; otherwise the length is only a maximum), the framework runs
    transformers' modelling code and the objective is supervised fine-tuning, and then at the
    lower edge of the estimate's measured error band (the measured peak has stayed within 80%
    to 125% of the estimate). A setting that is not statically known takes its most favourable
    value; a model that `device_map` (`"auto"`, `"balanced"`, `"sequential"`) may spread over
    several GPUs, or DeepSpeed/FSDP sharding that is not known, is never reported. Nor is a run
    that its launcher may shard when the file names no sharding: a Python script, LLaMA-Factory
    and `trl` take ZeRO-3 or FSDP from `accelerate launch --config_file`, so their per-GPU memory
    is certain only when the file itself sets the sharding (axolotl, ms-swift, AutoTrain and
    Unsloth set it from their own keys).

    The activation estimate follows Korthikanti et al., *Reducing Activation Recomputation in
    Large Transformer Models* (arXiv:2205.05198), re-derived for LoRA's frozen layers and
    calibrated on measured training steps of Llama, Qwen, Phi, Gemma, Mistral and Mixtral models
    (and QLoRA); it also reproduces the growth per token of the Qwen-7B LoRA profile published in
    QwenLM/Qwen's README. The CUDA context and the allocator's reserve come on top.

    ## Why is this bad?
    A run that does not fit dies with CUDA out-of-memory, after the model is downloaded and loaded
    and often after the first steps. The usual causes are quiet defaults: TRL's `trl sft` and
    `SFTTrainer(model="id")` load in float32 unless `dtype` says otherwise, a 70B model in bf16
    needs 131 GiB for its weights alone, and `per_device_train_batch_size` defaults to 8.

    ## Example
    ```yaml
    # lora-lint: gpu-memory=24GiB
    model_name_or_path: meta-llama/Llama-3.1-8B
    use_peft: true
    lora_target_modules: all-linear
    ```

    Use instead:
    ```yaml
    # lora-lint: gpu-memory=24GiB
    model_name_or_path: meta-llama/Llama-3.1-8B
    dtype: bfloat16
    use_peft: true
    lora_target_modules: all-linear
    ```
    """
    comment = site.context.get(GPU_MEMORY)
    budget = ctx.opt("gpu-memory")
    if comment is not None:
        try:
            budget = parse_size(comment.value)
        except ValueError as e:
            yield Problem(comment, f"`gpu-memory={comment.value}` is not a memory size: {e}")
            return
    if budget is None:
        return
    from ..models.memory import estimate
    from ..models.memory import format_size as size
    from ..models.training import budget_levers, memory_for

    inv, a = ctx.model, ctx.analysis
    mem = memory_for(site, inv, a, ctx.model_config, certain=True)
    if mem is None or mem.certain is None or mem.certain <= budget:
        return
    e = estimate(inv, a, mem.favourable)
    terms = [("frozen weights", e.frozen_weights if mem.frozen_known else None), ("trainable weights", e.trainable_weights),
             ("gradients", e.gradients), ("optimizer states", e.optimizer_states)]
    if mem.activations_certain and e.activations:
        terms.append(("activations", int(e.activations / (1 + _band()[1]))))
    terms = sorted(((n, v) for n, v in terms if v), key=lambda t: -t[1])
    largest = ", ".join(f"{n} {size(v)}" for n, v in terms[:3])
    when = ("with the activations at the lower edge of their estimate (0.8 of it)" if mem.activations_certain
            else "before any activations")
    fixes = budget_levers(inv, a, mem, budget)
    under = [lv for lv in fixes if lv.fits]
    if under:
        advice = "would bring it under: " + "; ".join(f"{lv.change} (at least {size(lv.total)})" for lv in under)
    elif fixes:
        advice = ("no single change brings it under; the most any saves: "
                  + "; ".join(f"{lv.change} (at least {size(lv.total)})" for lv in fixes[:3]))
    else:
        advice = "shard the model over several GPUs (DeepSpeed ZeRO-3, FSDP) or use a GPU with more memory"
    need, have = size(mem.certain), size(budget)
    if need == have:  # rounded alike: the bytes tell them apart
        need, have = f"{mem.certain:,} bytes", f"{budget:,} bytes"
    yield Problem(site, (
        f"training needs at least {need} per GPU, more than gpu-memory {have}: "
        f"{largest}, {when}; {advice} (settings: {mem.settings})"))


def _band():
    from ..models.memory import ACTIVATION_BAND

    return ACTIVATION_BAND
