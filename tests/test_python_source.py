"""The Python source: which calls are LoRA sites, and what their values are statically."""

import textwrap

import pytest
from conftest import source

from lora_lint.model import UNKNOWN, Span
from lora_lint.pipeline import lint_text
from lora_lint.settings import Settings
from lora_lint.sources import SourceError, python


def one(src):
    found = python.sites(source("train.py", textwrap.dedent(src)))
    assert len(found) == 1, found
    return found[0]


@pytest.mark.parametrize(
    "src",
    [
        "from peft import LoraConfig\nLoraConfig(r=4)\n",
        "from peft import LoraConfig as LC\nLC(r=4)\n",
        "import peft\npeft.LoraConfig(r=4)\n",
        "import peft as p\np.LoraConfig(r=4)\n",
        "from peft.tuners.lora import LoraConfig\nLoraConfig(r=4)\n",
        "from peft.tuners.lora.config import LoraConfig\nLoraConfig(r=4)\n",
        "import peft.tuners.lora\npeft.tuners.lora.LoraConfig(r=4)\n",
        "from peft import *\nLoraConfig(r=4)\n",
        "def f():\n    from peft import LoraConfig\n    return LoraConfig(r=4)\n",
    ],
)
def test_every_import_shape_is_recognised(src):
    site = one(src)
    assert site.dialect.name == "peft"
    assert site.get("r").value == 4


@pytest.mark.parametrize(
    "src",
    [
        "class LoraConfig:\n    pass\nLoraConfig(r=4)\n",  # the user's own class
        "from axolotl.utils.schemas.peft import LoraConfig\nLoraConfig(r=4)\n",
        "LoraConfig(r=4)\n",  # never imported: we cannot know what it is
        "from peft import LoraConfig\nx = 'LoraConfig(r=4)'\n",
        "from peft import get_peft_model\nget_peft_model(model, cfg)\n",
    ],
)
def test_other_calls_are_not_sites(src):
    assert python.sites(source("train.py", src)) == []


def test_cheap_text_test_skips_parsing():
    # Not even valid Python: without a marker it is never parsed, so no LL901.
    assert python.sites(source("x.py", "def (:\n")) == []
    assert lint_text("x.py", "def (:\n") == []


def test_constants_and_arithmetic():
    site = one(
        """
        from peft import LoraConfig
        RANK = 48
        ALPHA = 2 * RANK
        DROP = -0.05
        def build():
            scale = 4
            return LoraConfig(r=RANK, lora_alpha=ALPHA + scale, lora_dropout=DROP,
                              target_modules=["q_proj", "v" + "_proj"], rank_pattern={"q_proj": RANK // 2})
        """
    )
    assert site.get("r").value == 48
    assert site.get("lora_alpha").value == 100
    assert site.get("lora_dropout").value == -0.05
    assert site.get("target_modules").value == ["q_proj", "v_proj"]
    assert [p.value for p in site.get("target_modules").items] == ["q_proj", "v_proj"]
    assert site.get("rank_pattern").value == {"q_proj": 24}


@pytest.mark.parametrize(
    "expr",
    [
        "int(os.environ['R'])",  # an environment lookup
        "os.environ.get('R', 8)",
        "args.rank",  # an attribute
        "rank",  # a function parameter
        "cfg['r']",  # a subscript
        "TWICE",  # bound twice
        "LOOP",  # a for target
        "UNPACKED",  # tuple unpacking of a call
        "AUG",  # augmented assignment
        "f'{rank}'",  # an f-string
        "2 ** 100000",  # too big to compute
        "1 / 0",
        "UNDEFINED",
    ],
)
def test_dynamic_values_are_unknown(expr):
    src = f"""
import os
from peft import LoraConfig
TWICE = 8
TWICE = 16
for LOOP in range(3):
    pass
UNPACKED, OTHER = compute()
AUG = 8
AUG += 8
def build(args, cfg, rank):
    return LoraConfig(r={expr})
"""
    site = one(src)
    assert site.params["r"].value is UNKNOWN
    assert site.get("r") is None


def test_kwargs_splat_makes_site_open():
    site = one("from peft import LoraConfig\nLoraConfig(r=64, **extra)\n")
    assert site.open and site.get("r").value == 64
    assert not site.missing("use_rslora")
    found = lint_text("t.py", "from peft import LoraConfig\nLoraConfig(r=64, **extra)\n")
    assert [f.code for f in found] == ["LL902"]  # only: no base model is named


def test_positional_arguments_make_site_open():
    assert one("from peft import LoraConfig\nLoraConfig('CAUSAL_LM', r=64)\n").open


def test_task_type_enum_resolves_to_member_name():
    site = one("from peft import LoraConfig, TaskType\nLoraConfig(task_type=TaskType.SEQ_CLS)\n")
    assert site.get("task_type").value == "SEQ_CLS"


def test_spans_are_one_based_and_cover_the_keyword():
    site = one("from peft import LoraConfig\ncfg = LoraConfig(\n    r=64,\n    lora_alpha=16)\n")
    assert site.params["r"].span == Span(3, 5, 3, 9)
    assert site.params["lora_alpha"].span == Span(4, 5, 4, 18)
    assert site.span.line == 2 and site.span.col == 7


def test_unknown_keyword_suggests_nearest_field():
    site = one("from peft import LoraConfig\nLoraConfig(lora_aplha=16, target_module=['q'])\n")
    assert [(p.key, s) for p, s in site.unknown_keys] == [
        ("lora_aplha", "lora_alpha"), ("target_module", "target_modules")
    ]


def test_unsloth_get_peft_model():
    site = one(
        """
        from unsloth import FastLanguageModel
        model, tok = FastLanguageModel.from_pretrained(model_name="unsloth/Llama-3.2-1B")
        model = FastLanguageModel.get_peft_model(model, r=64, lora_alpha=16, random_state=3407)
        """
    )
    assert site.dialect.name == "unsloth"
    assert site.get("r").value == 64 and not site.open
    assert site.context["random_state"].value == 3407
    assert site.unknown_keys == ()
    # Unsloth's defaults stand in for what is not written.
    assert site.get("lora_dropout").value == 0.0 and site.get("lora_dropout").implicit
    assert "q_proj" in site.get("target_modules").value


def test_unsloth_fast_model_and_module_import():
    site = one("import unsloth\nunsloth.FastModel.get_peft_model(model, r=8, finetune_vision_layers=False)\n")
    assert site.dialect.name == "unsloth-vision"
    assert "target_modules" not in site.params


def test_unsloth_second_positional_argument_opens_site():
    assert one("from unsloth import FastLanguageModel\nFastLanguageModel.get_peft_model(model, 16)\n").open


def test_syntax_error_is_ll901_at_its_location():
    src = "from peft import LoraConfig\n\ncfg = LoraConfig(r=8,,)\n"
    with pytest.raises(SourceError) as e:
        python.sites(source("bad.py", src))
    assert e.value.span.line == 3
    found = lint_text("bad.py", src)
    assert [(f.code, f.span.line) for f in found] == [("LL901", 3)]


def test_several_sites_in_one_file():
    src = "from peft import LoraConfig\na = LoraConfig(r=64)\nb = LoraConfig(r=8)\n"
    found = lint_text("t.py", src, Settings(select=["LL101"]))
    assert [(f.code, f.span.line) for f in found] == [("LL101", 2)]


def test_odd_values_do_not_crash_any_rule():
    src = (
        "from peft import LoraConfig\n"
        "LoraConfig(r=0, lora_alpha=0, lora_dropout=None, target_modules=7, rank_pattern=[1],"
        " alpha_pattern='x', use_rslora='yes', init_lora_weights=3.5, bias=None, task_type=1,"
        " layers_to_transform='0', layers_pattern=[], modules_to_save={}, fan_in_fan_out=2)\n"
        "LoraConfig(r=10**40, lora_alpha=-1e308, lora_dropout=float('nan'))\n"
        "LoraConfig(r=-8, lora_alpha=True, use_rslora=True)\n"
        "LoraConfig(r=2.5, lora_alpha=1e-300, use_rslora=True)\n"
    )
    found = lint_text("t.py", src, Settings(select=["ALL"]))
    assert not [f for f in found if f.code == "LL903"], found


@pytest.mark.parametrize("expr,value", [
    ("dict(q_proj=4, v_proj=16)", {"q_proj": 4, "v_proj": 16}),
    ("dict()", {}),
    ("list(range(4, 8))", [4, 5, 6, 7]),
    ("list(range(3))", [0, 1, 2]),
    ("list(range(10, 0, -4))", [10, 6, 2]),
    ("tuple(range(2, 4))", (2, 3)),
    ("list((1, 2))", [1, 2]),
    ("tuple(['q_proj', 'v_proj'])", ("q_proj", "v_proj")),
    ("list(range(N, N + 2))", [24, 25]),
    ("range(4, 8)", range(4, 8)),
])
def test_builtin_calls_configs_write_are_evaluated(expr, value):
    site = one(f"from peft import LoraConfig\nN = 24\nLoraConfig(layers_to_transform={expr})\n")
    assert site.params["layers_to_transform"].value == value


@pytest.mark.parametrize("src", [
    "LoraConfig(layers_to_transform=list(range(10 ** 9)))",  # too long
    "LoraConfig(layers_to_transform=list(range(0, 4, 0)))",
    "LoraConfig(layers_to_transform=list(range(n)))",
    "LoraConfig(layers_to_transform=dict(q_proj=rank, **extra))",
    "LoraConfig(layers_to_transform=dict([('q_proj', 4)]))",
    "LoraConfig(layers_to_transform=sorted([3, 1]))",
    "list = lambda x: x\nLoraConfig(layers_to_transform=list(range(4)))",
    "from mylib import range\nLoraConfig(layers_to_transform=list(range(4)))",
    "def f(dict):\n    return LoraConfig(layers_to_transform=dict(q_proj=4))",
])
def test_other_calls_and_shadowed_builtins_are_unknown(src):
    site = one(f"from peft import LoraConfig\n{src}\n")
    assert site.params["layers_to_transform"].value is UNKNOWN or not site.params["layers_to_transform"].known


# -- the recorded walk is libcst's own visiting order -------------------------------------------

WALKED = '''\
from . import a
from .b import (c as d, e)
from f import *
import g.h as i
x = f"{a}" f"{b!r:>{w}}" rf"{c=}"
y = [v async for v in w if v] + {k: v for k, v in z.items()} + (lambda q=1, *r, s, **t: q)(2)
del x[1:2, ::3], y.z
@dec(1)
class K(Base, metaclass=M):
    w: int = 0

    async def m(self, /, a, *, b=2) -> "K":
        global g
        async with a as b, c:
            async for q in r:
                await s
        try:
            yield from t
        except* (E, F) as e:
            raise G from e
        else:
            pass
        finally:
            return (u := 1) if u else ~u ** -u
        match self:
            case [1, *rest] | {"k": _, **kw} | K(a=1) if rest:
                nonlocal_ = not 1 < 2 <= 3 is not None
while True:
    assert x, "y"; break
'''


def test_the_walk_visits_in_libcsts_order():
    """``Walk`` reads children from the fields libcst visits (learnt from libcst, once per class,
    and again where a node holds what the first of its class did not: the f-string's format
    spec above); its events must be exactly what ``module.visit`` gives, on every construct."""
    import pathlib

    import libcst as cst

    class Recorder(cst.CSTVisitor):
        def __init__(self):
            self.events, self.open = [], []

        def on_visit(self, node):
            self.open.append(len(self.events))
            self.events.append([node, 0])
            return True

        def on_leave(self, original_node):
            self.events[self.open.pop()][1] = len(self.events)
            self.events.append([original_node, -1])

    python._VISITED.clear()  # learn every class afresh, from these files
    texts = [WALKED] + [p.read_text(encoding="utf-8")
                        for p in sorted(pathlib.Path(python.__file__).parent.glob("python*.py"))]
    for text in texts:
        module = cst.parse_module(text)
        want = Recorder()
        module.visit(want)
        got = python.Walk(module).events
        assert [(id(n), end) for n, end in got] == [(id(n), end) for n, end in want.events]
    assert len(texts) > 10


def test_positions_are_libcsts():
    """``positions_of`` replays libcst's ``PositionProvider`` with plain numbers: every node's
    range must be libcst's, whatever the line endings."""
    import pathlib

    import libcst as cst
    from libcst.metadata import MetadataWrapper, PositionProvider

    texts = [WALKED, WALKED.replace("\n", "\r\n"), WALKED.replace("\n", "\r"), "x = 1", "\n\n# only comments\n"]
    texts += [p.read_text(encoding="utf-8") for p in sorted(pathlib.Path(python.__file__).parent.glob("python*.py"))]
    for text in texts:
        module = cst.parse_module(text)
        want = MetadataWrapper(module, unsafe_skip_copy=True).resolve(PositionProvider)
        got = python.positions_of(module)
        assert len(got) == len(want)
        assert all(got[node] == rng for node, rng in want.items())
        assert all(got.span(node) == Span(r.start.line, r.start.column + 1, r.end.line, r.end.column + 1)
                   for node, r in want.items())
