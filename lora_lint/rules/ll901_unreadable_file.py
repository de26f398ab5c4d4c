from ..model import Severity
from ..registry import Evidence, rule

EVIDENCE = Evidence(
    claim=(
        "About lora-lint itself: the file could not be read or parsed, so no rule ran on it (the training"
        " framework would fail on the same file)."
    ),
    code=(
        "lora-lint lora_lint/files.py _problem",
        "lora-lint lora_lint/pipeline.py lint_partial",
    ),
    tests=(
        "tests/test_python_source.py::test_syntax_error_is_ll901_at_its_location",
        "tests/test_hostile.py::test_a_big_file_is_reported_only_when_its_head_reads_like_a_config",
        "tests/test_hostile.py::test_data_files_are_never_linted",
    ),
)


@rule(
    "LL901", "unreadable-file", Severity.ERROR,
    valid=["from peft import LoraConfig\nconfig = LoraConfig(r=8)\n"],
    invalid=["from peft import LoraConfig\nconfig = LoraConfig(r=8,,)  # error: LL901\n"],
    evidence=EVIDENCE,
)
def unreadable_file(site, ctx):
    """## What it does
    Reports a file that cannot be read or parsed: a Python syntax error, invalid YAML or JSON in
    a file that looks like a LoRA training config, bytes that are not UTF-8 (or a UTF-16/32
    config), a file above the size limit (`max-file-size`, 10 MB by default; it is not read)
    whose first 64 KiB read like a LoRA config, a file nested too deeply to parse, or a name that
    is not a regular file (a pipe, a device). A Python file in the encoding its
    `# -*- coding: ... -*-` line declares is read as such.
    IPython's own lines (`!pip install`, `%%capture`, `model?`) in a notebook or its `.py`
    export are skipped, never a syntax error. In a Jupyter notebook, a code cell holding a LoRA
    config that does not parse is reported at its cell (Jupyter runs nothing of it; the other
    cells are still read), and a `.ipynb` that is not JSON or not nbformat 4 is reported when it
    mentions `LoraConfig` or `get_peft_model`. Data files are never read, whatever their size:
    `tokenizer.json`, `tokenizer_config.json`, `vocab.json`, `special_tokens_map.json`,
    `added_tokens.json`, `generation_config.json`, `preprocessor_config.json`,
    `processor_config.json`, `chat_template.json`, `dataset_info.json`, `dataset_dict.json`,
    `trainer_state.json`, `*.safetensors.index.json`, `*.bin.index.json` (and datasets such as
    `*.jsonl` are of no kind lora-lint reads).

    With `--fix`, it also reports a file whose fixes were not written, and why: the file changed
    on disk while it was being fixed, it is read-only (by its mode bits, for root too), it
    belongs to another user or its owner or group could not be kept, it has several hard links,
    or writing failed. The file is left as it was and its findings are reported unfixed. A fix
    whose text the file's declared encoding cannot write is left out (the others are applied).

    ## Why is this bad?
    lora-lint cannot check what it cannot read, and neither can the training framework: the
    run would fail on the same error. The finding is placed at the parser's error location;
    the other files are still linted.

    ## Example
    ```python
    config = LoraConfig(r=8,,)
    ```

    Use instead:
    ```python
    config = LoraConfig(r=8)
    ```
    """
    return ()
