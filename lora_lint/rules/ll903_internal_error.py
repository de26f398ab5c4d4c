from ..model import Severity
from ..registry import Evidence, rule

EVIDENCE = Evidence(
    claim=(
        "About lora-lint itself: a rule or reader raised on this file; the other rules and files still "
        "ran."
    ),
    code=(
        "lora-lint lora_lint/rules/__init__.py internal_error",
        "lora-lint lora_lint/pipeline.py lint_partial",
    ),
    tests=(
        "tests/test_faults.py::test_a_broken_rule_is_ll903_and_the_other_rules_run",
        "tests/test_faults.py::test_a_broken_source_or_step_is_ll903_for_that_file_only",
    ),
)


@rule("LL903", "internal-error", Severity.ERROR, evidence=EVIDENCE)
def internal_error(site, ctx):
    """## What it does
    Reports a bug in lora-lint itself: a rule or a source reader raised an exception on this
    file. The message names the rule or reader, the exception and where it was raised.

    ## Why is this bad?
    A linter in a commit hook must not become the thing that breaks the commit, so the error is
    reported as a finding and every other rule and file still runs. The check that failed did
    not run on this file: please report the message with the file that triggers it.

    ## Example
    ```text
    train.py:3:10: LL903 [error] internal error in rule LL104 (extreme-scaling) ...
    ```

    Use instead: upgrade lora-lint, or ignore the rule for that file
    (`per-file-ignores`) until it is fixed.
    """
    return ()
