"""``layer_replication`` replayed on an ``Inventory``: the model peft adapts after
``replicate_layers`` (peft/tuners/tuners_utils.py:2521-2589, called by tuners/lora/model.py:252).

peft finds the layer list at ``model(.model)*[.bert].layers``, ``.encoder.layer`` or ``.h`` and
replaces it with clones of the listed ranges that share their weights with the originals
(``clone_module(share_weights=True)``). The clones are separate modules, so each gets its own
LoRA; the shared weights count once in ``named_parameters()``; layers left out of the ranges are
gone from the model.
"""

from __future__ import annotations

from dataclasses import replace

from .failure import Raises, Withheld
from .inventory import Inventory

NOT_FOUND = ("Could not locate the layers attribute in the model. Expected Llama, Bert or Falcon compatible "
             "architectures.")


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def layer_list(inv: Inventory) -> str | None:
    """The ModuleList ``replicate_layers`` replaces (tuners_utils.py:2547-2568), or None."""
    by_name = inv.by_name
    prefix = ""
    while _join(prefix, "model") in by_name:
        prefix = _join(prefix, "model")
    if _join(prefix, "bert") in by_name:
        prefix = _join(prefix, "bert")
    if _join(prefix, "layers") in by_name:
        found = _join(prefix, "layers")
    elif _join(prefix, "encoder") in by_name and _join(prefix, "encoder.layer") in by_name:
        found = _join(prefix, "encoder.layer")
    elif _join(prefix, "h") in by_name:
        found = _join(prefix, "h")
    else:
        return None
    return found if by_name[found].cls == "ModuleList" else None


def replicate(inv: Inventory, layer_map) -> Inventory:
    """The inventory after ``replicate_layers(model, layer_map)``, or the error peft raises."""
    if not isinstance(layer_map, (list, tuple)) or not all(
            isinstance(r, (list, tuple)) and len(r) == 2 and all(isinstance(i, int) and not isinstance(i, bool)
                                                                 for i in r) for r in layer_map):
        raise Withheld("layer_replication is not a list of [start, end) pairs of ints")
    lst = layer_list(inv)
    if lst is None:
        raise Raises("ValueError", NOT_FOUND, "replication", "layer_replication")
    start = lst + "."
    n = sum(1 for m in inv.modules if m.name.startswith(start) and "." not in m.name[len(start):])
    sources: list[int] = []
    for first, end in layer_map:
        for i in range(first, end):
            if not -n <= i < n:  # nn.ModuleList.__getitem__ (torch/nn/modules/container.py)
                raise Raises("IndexError", f"index {i} is out of range", "replication", "layer_replication")
            sources.append(i % n)

    def split(name: str) -> tuple[int, str] | None:
        if not name.startswith(start):
            return None
        idx, _, rest = name[len(start):].partition(".")
        return int(idx), rest

    # modules, in named_modules() order: the list's place keeps it, its children are the clones
    by_layer: dict[int, list] = {}
    for m in inv.modules:
        s = split(m.name)
        if s is not None:
            by_layer.setdefault(s[0], []).append((s[1], m))
    modules = []
    for m in inv.modules:
        if split(m.name) is not None:
            continue
        modules.append(m)
        if m.name == lst:
            for j, src in enumerate(sources):
                for rest, mod in by_layer.get(src, ()):
                    modules.append(replace(mod, name=f"{lst}.{j}" + (f".{rest}" if rest else "")))
    # parameters: shared with their source layer, so named once, under the first clone's name
    by_param: dict[int, list] = {}
    for p, shape in inv.parameters.items():
        s = split(p)
        if s is not None:
            by_param.setdefault(s[0], []).append((s[1], shape))
    parameters: dict[str, tuple[int, ...]] = {}
    placed = False
    for p, shape in inv.parameters.items():
        if split(p) is None:
            parameters[p] = shape
        elif not placed:
            placed = True
            seen: set[int] = set()
            for j, src in enumerate(sources):
                if src in seen:
                    continue
                seen.add(src)
                for rest, sh in by_param.get(src, ()):
                    parameters[f"{lst}.{j}.{rest}"] = sh
    removed = sum(_numel(s) for p, s in inv.parameters.items() if split(p) is not None)
    added = sum(_numel(s) for p, s in parameters.items() if split(p) is not None)
    layer_lists = dict(inv.layer_lists)
    if lst in layer_lists:
        layer_lists[lst] = len(sources)
    keep = [g for g in ([n for n in group if split(n) is None] for group in inv.tied) if len(g) > 1]
    return replace(
        inv, modules=modules, parameters=parameters, total_params=inv.total_params - removed + added, tied=keep,
        aliases={a: c for a, c in inv.aliases.items() if split(a) is None and split(c) is None},
        layer_lists=layer_lists,
        num_layers=len(sources) if inv.num_layers is not None and layer_lists.get(lst) is not None
        and inv.layer_lists.get(lst) == inv.num_layers else inv.num_layers,
    )


def _numel(shape) -> int:
    n = 1
    for d in shape:
        n *= d
    return n
