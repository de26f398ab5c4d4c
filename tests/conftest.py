import os
import sys
from pathlib import Path

# Tests never wait on the network.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
# A fix builder that raises fails the test instead of leaving its finding without a fix.
os.environ["LORA_LINT_STRICT_FIXES"] = "1"

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))
