"""What job a transformer's linear layer does, across the families' names for it.

A target list copied from another architecture names layers by that family's spelling:
GPT-NeoX's `query_key_value`/`dense`/`dense_h_to_4h`, GPT-J's `fc_in`/`fc_out`, Llama's
`q_proj`/`o_proj`/`gate_proj`. Each name stands for one or more jobs: the query, key and value
projections (`q`, `k`, `v`), the attention output (`o`), the MLP's input projections (`mlp_in`: the
up and gate projections of a gated MLP, `fc1` of a plain one) and its output projection
(`mlp_out`). ``counterparts`` finds the layers of *this* model that do the jobs a name stands for,
so a name that matches nothing can be replaced by the model's own, in either direction (fused
`qkv_proj` from separate `q_proj`/`k_proj`/`v_proj`, or the reverse).

A model's layer is given a job only when its name says it unambiguously, or, for the names
families reuse (`dense`, `c_proj`, `out_proj`, `wo`), when its place says it (inside an attention
block, an MLP block, BERT's `intermediate`/`output`). A leaf name whose layers do different jobs
(GPT-2's `c_proj` in attention and in the MLP, BERT's three `dense`) is never proposed: peft
matches names by suffix, so writing it would adapt every one of them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .inventory import Inventory

QKV = frozenset({"q", "k", "v"})

#: Leaf names whose job is the same in every family that uses them.
NAMED: dict[str, frozenset[str]] = {
    **dict.fromkeys(("q_proj", "query", "q_lin", "query_proj", "q"), frozenset({"q"})),
    **dict.fromkeys(("k_proj", "key", "k_lin", "key_proj", "k"), frozenset({"k"})),
    **dict.fromkeys(("v_proj", "value", "v_lin", "value_proj", "v"), frozenset({"v"})),
    **dict.fromkeys(("qkv_proj", "c_attn", "query_key_value", "Wqkv", "W_pack", "qkv"), QKV),
    **dict.fromkeys(("o_proj", "out_lin", "o"), frozenset({"o"})),
    **dict.fromkeys(("gate_proj", "up_proj", "gate_up_proj", "w1", "w3", "fc_in", "fc1", "c_fc",
                     "dense_h_to_4h", "lin1", "wi", "wi_0", "wi_1"), frozenset({"mlp_in"})),
    **dict.fromkeys(("down_proj", "w2", "fc_out", "fc2", "dense_4h_to_h", "lin2"), frozenset({"mlp_out"})),
}

#: Leaf names families reuse for different jobs: the job comes from where the layer sits.
PLACED = frozenset({"dense", "c_proj", "out_proj", "wo", "proj"})

#: What such a name means when a user writes it in a target list that matches nothing here:
#: the GPT-NeoX/Falcon/Phi-2 `dense` and the OPT/BART/GPT-J `out_proj` are the attention output.
#: `c_proj`, `wo` and `proj` mean different jobs in different families: no job, no proposal.
WRITTEN = {**NAMED, "dense": frozenset({"o"}), "out_proj": frozenset({"o"})}

_ATTENTION = re.compile(r"attn|attention", re.I)
_MLP = re.compile(r"^(mlp|ffn|feed_forward|densereludense)$", re.I)


def written_jobs(entry: str) -> frozenset[str]:
    """The jobs a target-list entry names (empty for a pattern, a path or an unknown name)."""
    return WRITTEN.get(entry, frozenset())


def module_jobs(name: str) -> frozenset[str]:
    """The jobs of the model's layer ``name`` (a full module path), empty when unknown."""
    parts = name.split(".")
    leaf = parts[-1]
    if leaf in NAMED:
        return NAMED[leaf]
    if leaf not in PLACED:
        return frozenset()
    parents = [p for p in parts[:-1] if not p.isdigit()]
    if not parents:
        return frozenset()
    if _MLP.match(parents[-1]):
        return frozenset({"mlp_out"}) if leaf != "proj" else frozenset()
    if any(_ATTENTION.search(p) for p in parents[-2:]):
        return frozenset({"o"})
    if leaf == "dense" and parents[-1] == "intermediate":  # BERT's MLP input
        return frozenset({"mlp_in"})
    if leaf == "dense" and parents[-1] == "output":  # BERT's MLP output (not attention.output)
        return frozenset({"mlp_out"})
    return frozenset()


def leaf_jobs(inv: Inventory) -> dict[str, frozenset[str]]:
    """Leaf name -> the one job set all the model's adaptable layers of that name share, for the
    leaves that can be proposed: every layer of the name has the same known jobs, and none is
    in a vision or audio tower or a head (the text stack is what a copied list meant). Once per
    inventory; the caller must not change it."""
    return inv.derived(_leaf_jobs)


def _leaf_jobs(inv: Inventory) -> dict[str, frozenset[str]]:
    seen: dict[str, set[frozenset[str]]] = {}
    blocked: set[str] = set()
    heads = set(inv.heads)
    for m in inv.modules:
        if not m.adaptable:
            continue
        leaf = m.leaf
        jobs = module_jobs(m.name)
        if not jobs or m.name in heads or inv.tower_of(m.name) is not None:
            blocked.add(leaf)
            continue
        seen.setdefault(leaf, set()).add(jobs)
    return {leaf: next(iter(js)) for leaf, js in seen.items() if len(js) == 1 and leaf not in blocked}


def counterparts(inv: Inventory, entry: str, jobs_by_leaf: dict[str, frozenset[str]] | None = None) -> list[str]:
    """The leaf names of ``inv`` that do the jobs ``entry`` names, in the model's order: every
    job covered, each name doing only jobs the entry names, except a fused layer (`qkv_proj`
    for `q_proj`), which does the named job together with its siblings. Empty when the jobs
    cannot all be covered so (then nothing is proposed)."""
    wanted = written_jobs(entry)
    if not wanted:
        return []
    jobs_by_leaf = leaf_jobs(inv) if jobs_by_leaf is None else jobs_by_leaf
    names = [leaf for leaf, jobs in jobs_by_leaf.items()
             if leaf != entry and jobs & wanted and (jobs <= wanted or jobs == QKV)]
    covered: set[str] = set()
    for leaf in names:
        covered |= jobs_by_leaf[leaf]
    return names if wanted <= covered else []


def describe(jobs: Iterable[str]) -> str:
    words = {"q": "query", "k": "key", "v": "value", "o": "attention output", "mlp_in": "MLP input",
             "mlp_out": "MLP output"}
    order = ["q", "k", "v", "o", "mlp_in", "mlp_out"]
    return "/".join(words[j] for j in order if j in set(jobs))
