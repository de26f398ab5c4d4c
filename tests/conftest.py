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


# -- readers on a text (they take a SourceFile) ---------------------------------------------------

def source(path: str, text: str):
    from lora_lint.source_file import SourceFile

    return SourceFile.of_text(path, text)


def sites_for_text(path: str, text: str):
    from lora_lint.sources import sites_for

    return sites_for(source(path, text))


def yaml_sites(path: str, text: str):
    from lora_lint.sources import yaml_source

    return yaml_source.sites(source(path, text))


def yaml_analyze(path: str, text: str, budget=None):
    from lora_lint.sources import yaml_source

    return yaml_source.analyze(source(path, text), budget)


def json_compose(text: str):
    from lora_lint.sources import json_nodes

    return json_nodes.compose(source("x.json", text))
