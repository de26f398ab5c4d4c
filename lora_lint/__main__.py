"""``python -m lora_lint``.

For ``-m`` Python puts the working directory first on ``sys.path``: run inside the repository being
linted, its own ``yaml.py``, ``re.py`` or ``peft.py`` would be imported -- and run -- in place of the
real modules. It is dropped here, before anything else is imported (``lora_lint`` itself is already
loaded, from wherever it was found). What the interpreter imports before this line is out of reach:
for an untrusted directory use the ``lora-lint`` command, or ``python -P -m lora_lint``.
"""

import os
import sys

if sys.path and not getattr(sys.flags, "safe_path", False):
    try:
        first = os.path.abspath(sys.path[0] or os.curdir)
        if first == os.getcwd():
            del sys.path[0]
    except OSError:  # the working directory was removed
        del sys.path[0]

from .cli import entry  # noqa: E402

raise SystemExit(entry())
