"""What Unsloth's ``get_peft_model`` does with ``embed_tokens``/``lm_head`` in ``target_modules``.

Replays unsloth 2026.10.9 (the current release), ``unsloth/models/_utils.py:11507-11650``:
``FastLanguageModel.get_peft_model`` (``FastLlamaModel``, llama.py:4863-4960) and
``FastModel.get_peft_model`` (``FastBaseModel``, vision.py:5040-5090, unless
``finetune_language_layers=False``) both call ``_redirect_embedding_targets``: every entry of a
list ``target_modules`` whose last name part is ``embed_tokens`` or ``lm_head`` is taken out and
appended to ``modules_to_save``, so the layer is trained in full, and Unsloth warns "Moved ... from
`target_modules` to `modules_to_save`". An empty ``target_modules`` left behind (no
``target_parameters``) raises RuntimeError. With ``ensure_weight_tying`` left out (None: "auto"),
``_effective_weight_tying`` turns it on when both embedding leaves end up in ``modules_to_save``
and the model ties them, and ``_drop_tied_output_module`` then drops ``lm_head`` from
``modules_to_save`` (peft rebuilds it from the trained embedding). Under ``fast_inference=True``
(vLLM), ``lm_head`` stays a LoRA target and a moved ``embed_tokens`` raises
NotImplementedError: the loading call decides that, so the note says it.

Earlier releases differ: up to 2026.2.x ``FastLanguageModel`` moved exactly ``lm_head`` and
``embed_tokens``; from 2026.3.1 to 2026.8.19 it moved only ``embed_tokens`` and kept LoRA on
``lm_head``, and ``FastModel`` passed both to peft as written.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..model import UNKNOWN, LoraSite, Note, Param
from ..model_dependent import ModelDependent

RELEASE = "2026.10.9"
EMBEDDINGS = ("embed_tokens", "lm_head")


def _leaf(name: Any) -> str | None:
    if type(name) is not str:
        return None
    leaf = name.rsplit(".", 1)[-1]
    return leaf if leaf in EMBEDDINGS else None


def _tied_output(inv, mts: ModelDependent) -> Any:
    """``modules_to_save`` after ``_drop_tied_output_module``: on a model that ties its
    embeddings, with both leaves saved, ``lm_head`` is left for peft to rebuild and a dotted
    embedding name becomes its leaf where exactly one module ends with it."""
    saved = list(mts.option("saved"))
    if not inv.tie_word_embeddings:
        return saved
    out = []
    for entry in saved:
        leaf = _leaf(entry)
        if leaf == "lm_head":
            continue
        if leaf is None or entry == leaf:
            out.append(entry)
        elif sum(1 for m in inv.modules if m.name == leaf or m.name.endswith("." + leaf)) == 1:
            out.append(leaf)
        else:
            return saved  # two copies rather than a silently frozen head
    return out


def _weight_tying(inv, mts: ModelDependent) -> Any:
    return bool(inv.tie_word_embeddings)


def redirect(site: LoraSite, node_items: tuple[Param, ...] | None = None) -> LoraSite:
    """The site as Unsloth hands it to peft, with an LL308 note on each moved entry."""
    if site.dialect.name == "unsloth-vision":
        layers = site.context.get("finetune_language_layers")
        if layers is not None and (not layers.known or layers.value is not True):
            return site  # FastBaseModel redirects only for the language layers
    p = site.params.get("target_modules")
    if p is None or p.implicit or not isinstance(p.value, (list, tuple)) or not p.known:
        return site
    moved = [e for e in p.value if _leaf(e)]
    if not moved:
        return site
    remaining = [e for e in dict.fromkeys(p.value) if not _leaf(e)]
    items = tuple(i for i in p.items if not _leaf(i.value))
    params = dict(site.params)
    params["target_modules"] = Param(p.key, remaining, p.span, items)
    notes = list(site.notes)
    saved_p = params.get("modules_to_save")
    known_saved = saved_p is None or saved_p.known
    if known_saved:
        old = saved_p.value if saved_p is not None else None
        saved = [] if old is None else [old] if isinstance(old, str) else list(old)
        saved += [e for e in dict.fromkeys(moved) if e not in saved]
        span = saved_p.span if saved_p is not None else p.span
        value: Any = saved
        ewt = params.get("ensure_weight_tying")
        both = {_leaf(e) for e in saved} >= set(EMBEDDINGS)
        if both and ewt is None and not site.open:
            value = ModelDependent("modules_to_save", _tied_output, "Unsloth's tied-embedding handling",
                                   options=(("saved", tuple(saved)),))
            params["ensure_weight_tying"] = Param("ensure_weight_tying", ModelDependent(
                "ensure_weight_tying", _weight_tying, "Unsloth's tied-embedding handling"), site.span, implicit=True)
        params["modules_to_save"] = Param(saved_p.key if saved_p else "modules_to_save", value, span,
                                          saved_p.items if saved_p else (), implicit=saved_p is None)
    else:
        params["modules_to_save"] = Param(saved_p.key, UNKNOWN, saved_p.span)
    empty = not remaining and site.params.get("target_parameters") is None
    for it in p.items:
        leaf = _leaf(it.value)
        if leaf is None:
            continue
        notes.append(Note("LL308", it, _message(it.value, leaf, empty)))
    return replace(site, params=params, notes=tuple(notes))


def _message(entry: str, leaf: str, empty: bool) -> str:
    fast = ("with fast_inference=True it stays a LoRA target that never trains" if leaf == "lm_head"
            else "with fast_inference=True Unsloth raises NotImplementedError instead")
    then = ("; nothing is left in target_modules, so Unsloth raises RuntimeError" if empty else "")
    return (f"Unsloth {RELEASE} moves {entry!r} from target_modules to modules_to_save and trains the whole"
            f" matrix, not LoRA ({fast}; releases 2026.3.1–2026.8.19 kept LoRA on lm_head){then}; write"
            f" modules_to_save=[{leaf!r}] instead (for continued pretraining, with UnslothTrainer's"
            f" embedding_learning_rate)")
