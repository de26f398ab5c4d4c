"""peft 0.21.2's target selection replayed on an ``Inventory`` (pure Python, no torch).

Mirrors ``BaseTuner.inject_adapter`` (peft/tuners/tuners_utils.py:799-1153) step by step:
transformers-5 MoE conversion (utils/transformers_weight_conversion.py:402-487), ``ensure_weight_tying``
(tuners_utils.py:1417-1472, tuners/lora/model.py:1293-1378), default targets
(tuners/lora/model.py:695-705), ``layer_replication`` (tuners_utils.py:2540-2589, see
``replicate``), ``all-linear`` (tuners_utils.py:2430-2490), the per-module test
``check_target_module_exists`` (tuners_utils.py:2337-2412), ``target_parameters``
(tuners_utils.py:1155-1260), the errors and warnings (tuners_utils.py:1041-1127) and
``modules_to_save`` (utils/other.py:1047-1131, peft_model.py:1830-1853, 2677-2697).
Layer creation, the wrappers and their errors are ``count``'s part.
File:line references are to the installed peft 0.21.2.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..model import UNKNOWN
from ..peft_facts import facts
from .failure import Failure, Raises, Withheld
from .inventory import Inventory
from .replicate import replicate
from .spec import LoraSpec

_NO_INDEX = re.compile(r".*?\.[^.]*\.(?P<idx>\d+)\.")  # tuners_utils.py:2388
MAMBA_TYPES = frozenset({"falcon_h1", "mamba", "mamba2", "falcon_mamba", "nemotron_h"})  # tuners_utils.py:152


@dataclass
class Match:
    """What ``inject_adapter`` ends up with."""

    target_modules: object = None  # after default / conversion / tying / all-linear (set or str)
    default_targets: bool = False
    all_linear: bool = False
    converted: dict[str, str] = field(default_factory=dict)  # v4 target -> v5 parameter target
    target_parameters: list[str] = field(default_factory=list)
    rank_pattern: dict = field(default_factory=dict)  # with the conversion's added keys
    alpha_pattern: dict = field(default_factory=dict)
    added_pattern_keys: list[str] = field(default_factory=list)
    modules_to_save: list[str] | None = None  # as set before injection (SEQ_CLS heads, tied embedding)
    late_modules_to_save: list[str] = field(default_factory=list)  # TOKEN_CLS / QA heads, added after
    modules_to_tie: list[str] = field(default_factory=list)  # ensure_weight_tying: saved as the embedding's copy
    tied_targets: list[str] = field(default_factory=list)  # ensure_weight_tying: LoRA shared with the embedding
    tied: list[str] = field(default_factory=list)  # the module names of tied_targets (adapted last)
    targeted: list[str] = field(default_factory=list)
    targeted_parameters: list[str] = field(default_factory=list)
    param_conflict: str | None = None  # the first targeted parameter whose module also gets LoRA
    excluded: list[str] = field(default_factory=list)
    excluded_by_save: list[str] = field(default_factory=list)  # excluded because modules_to_save names them
    unsupported: list[str] = field(default_factory=list)
    name_matches: dict[str, list[str]] = field(default_factory=dict)  # list entry -> names it matches
    layer_index: dict[str, int | None] = field(default_factory=dict)  # name-matched key -> layer index
    #: The model peft adapts: the base model, or its copy after ``layer_replication``.
    inventory: Inventory | None = None
    failure: Failure | None = None
    withheld: str | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def error(self) -> str | None:
        return self.failure.message if self.failure else None

    @property
    def error_kind(self) -> str | None:
        return self.failure.kind if self.failure else None


def _strings(value, what: str) -> set:
    if not isinstance(value, (list, tuple, set, frozenset)) or not all(isinstance(v, str) for v in value):
        raise Withheld(f"{what} is not a list of strings")
    return set(value)


def _targets(value, what: str):
    if value is None or isinstance(value, str):
        return value
    return _strings(value, what)


def _compile(pattern: str, what: str) -> re.Pattern:
    try:
        return re.compile(pattern)
    except (re.error, RecursionError, OverflowError) as e:
        raise Withheld(f"{what} {pattern!r} is not a valid regular expression ({e})") from e


def _int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


class Matcher:
    """``check_target_module_exists`` with its regexes compiled once (tuners_utils.py:2337-2412)."""

    def __init__(self, targets, exclude, modules_to_save, layers, layers_pattern, target_parameters):
        self.targets = targets
        self.exclude = exclude
        self.target_parameters = target_parameters
        self.exclude_re = _compile(exclude, "exclude_modules") if isinstance(exclude, str) else None
        self.exclude_suffix = tuple("." + e for e in exclude) if isinstance(exclude, set) else ()
        # tuners_utils.py:2364: modules_to_save entries are regexes here, *not escaped*
        self.save_res = [_compile(rf"(^|.*\.){m}($|\..*)", "modules_to_save entry") for m in modules_to_save or ()]
        self.target_re = _compile(targets, "target_modules") if isinstance(targets, str) else None
        self.suffixes = tuple("." + t for t in targets) if isinstance(targets, set) else ()
        self.layers = layers
        self.use_layers = layers is not None and (len(layers) != 0 if isinstance(layers, list) else True)
        # tuners_utils.py:2384: an empty layers_pattern (None, "", []) means any layer pattern
        patterns = [] if not layers_pattern else [layers_pattern] if isinstance(layers_pattern, str) else list(
            layers_pattern)
        self.layer_res = [_compile(rf"(?:^|.*?\.){p}\.(?P<idx>\d+)\.", "layers_pattern") for p in patterns]

    def excluded(self, key: str) -> bool:
        if self.exclude:
            if self.exclude_re is not None:
                if self.exclude_re.fullmatch(key):
                    return True
            elif key in self.exclude or key.endswith(self.exclude_suffix):
                return True
        return self.saved(key)

    def saved(self, key: str) -> bool:
        return any(r.match(key) for r in self.save_res)

    def name_match(self, key: str) -> bool:
        """Does ``key`` match target_modules by name (before the layer filter)?"""
        if self.targets is None:
            return False
        if self.target_re is not None:
            return self.target_re.fullmatch(key) is not None
        return key in self.targets or key.endswith(self.suffixes)

    def layer_index(self, key: str) -> int | None:
        match = None
        if not self.layer_res:
            match = _NO_INDEX.match(key)
        else:
            for r in self.layer_res:
                match = r.match(key)
                if match is not None:
                    break
        return int(match.group("idx")) if match else None

    def by_suffix_only(self) -> bool:
        """Whether ``check`` is True only for a name that is a target or ends with ``.target``
        (a set of targets; nothing excluded, nothing saved), so that only a module whose leaf is
        a target's leaf can match."""
        return bool(self.suffixes) and not self.exclude and not self.save_res

    def check(self, key: str):
        """True / False / "excluded", exactly as tuners_utils.py:2337-2412."""
        if self.excluded(key):
            return "excluded"
        if self.targets is None and self.target_parameters is not None:
            return False
        if self.target_re is not None or self.targets is None:
            return self.name_match(key)
        if key in self.targets:  # :2372, the exact-name branch: no layer filter
            return True
        found = key.endswith(self.suffixes)
        if self.use_layers and found:
            idx = self.layer_index(key)
            if idx is None:
                return False
            return idx == self.layers if isinstance(self.layers, int) else idx in self.layers
        return found


def modules_by_leaf(inv: Inventory) -> dict[str, list[int]]:
    """Leaf name -> the rows of ``inv.modules`` with that leaf (a name or a ``.name`` suffix
    matches only modules of its own leaf)."""
    out: dict[str, list[int]] = {}
    for i, mod in enumerate(inv.modules):
        out.setdefault(mod.name.rpartition(".")[2], []).append(i)
    return out


def named_modules(inv: Inventory) -> int:
    """How many modules have a name (all but the model itself, which peft's loop skips)."""
    return sum(1 for mod in inv.modules if mod.name)


def all_linear(inv: Inventory, task_type) -> set[str]:
    """``_maybe_include_all_linear_layers`` (tuners_utils.py:2430-2490)."""
    names = {m.name for m in inv.modules if m.kind in ("linear", "conv1d")}
    if inv.output_embeddings is not None:
        names.discard(inv.output_embeddings)
    elif task_type == "SEQ_CLS" and inv.seq_cls_head is not None:
        names.discard(inv.seq_cls_head)
    return names


def _conversion_base(inv: Inventory) -> str | None:
    if not inv.checkpoint_conversion:
        return None
    overrides = facts().get("moe_conversion_overrides", {})
    return overrides.get(inv.model_type, inv.conversion_pattern)


def convert_moe(inv: Inventory, spec: LoraSpec, m: Match, targets, matcher_for) -> object:
    """``_convert_peft_config_moe`` (transformers_weight_conversion.py:402-487)."""
    base = _conversion_base(inv)
    mapping = facts().get("moe_target_module_mapping", {}).get(base or "")
    fused = facts().get("moe_fused_targets", {}).get(base or "")
    if not mapping or not fused:
        return targets
    if isinstance(targets, str):
        if targets.lower() == facts()["all_linear_shorthand"]:  # :369-373
            resolved = {n.rpartition(".")[2] for n in all_linear(inv, spec.task_type)} | set(mapping)
        else:  # :375-399, the regex's leaf names, then the v4 names probed under their v5 containers
            matcher = matcher_for(targets)
            keys = [mod.name for mod in inv.modules] + list(inv.parameters)
            resolved = {k.rpartition(".")[2] for k in keys if matcher.check(k) is True}
            containers: dict[str, set[str]] = {}
            for p in inv.parameters:
                c, _, leaf = p.rpartition(".")
                containers.setdefault(leaf, set()).add(c)
            for old, new in mapping.items():
                if old not in resolved and any(matcher.check(f"{c}.{old}") is True
                                               for c in containers.get(new, ())):
                    resolved.add(old)
        if not resolved:
            return targets
        targets = resolved
    targets = set(targets or [])
    params = set(m.target_parameters)
    remaining: set[str] = set()
    present: dict[str, dict[str, str]] = {new: {} for new in fused}  # fused name -> v4 name -> entry
    for t in targets:
        hit = next(((o, n) for o, n in mapping.items() if t == o or t.endswith("." + o)), None)
        if hit is None:
            remaining.add(t)
            continue
        params.add(hit[1])
        m.converted[t] = hit[1]
        if hit[1] in fused:
            present.setdefault(hit[1], {})[hit[0]] = t
    for new, required in fused.items():
        got = present.get(new, {})
        if 0 < len(got) < len(required):
            raise Raises("ValueError", f"Cannot convert PEFT target(s) {', '.join(sorted(got))} without also targeting "
                         f"{', '.join(sorted(set(required) - set(got)))} because they are fused into {new}.", "fused",
                         "target_modules", got[sorted(got)[0]] if spec.target_modules is not None else None)
        if len(got) == len(required) and len(required) > 1:
            key = rf".*\.{re.escape(new)}"
            m.rank_pattern[key] = _times(spec.r, len(required))
            m.alpha_pattern[key] = _times(spec.lora_alpha, len(required))
            m.added_pattern_keys.append(key)
    m.target_parameters = sorted(params)
    return remaining


def _times(value, n):
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value * n
    return UNKNOWN


def _modules_to_save(spec: LoraSpec) -> tuple[list[str] | None, list[str]]:
    """peft_model.py:1830-1836 (SEQ_CLS, before injection), 2680-2685 (TOKEN_CLS) and 2913-2918
    (QUESTION_ANS): the heads added to ``modules_to_save``."""
    mts = spec.modules_to_save
    if mts is not None:
        if isinstance(mts, str) or not isinstance(mts, (list, tuple)) or not all(isinstance(x, str) for x in mts):
            raise Withheld("modules_to_save is not a list of strings")
        mts = list(mts)
    if spec.task_type == "SEQ_CLS":
        return (mts or []) + ["classifier", "score"], []
    if spec.task_type == "TOKEN_CLS":
        return mts, ["classifier", "score"]
    if spec.task_type == "QUESTION_ANS":
        return mts, ["qa_outputs"]
    return mts, []


def match(inv: Inventory, spec: LoraSpec) -> Match:
    """Which modules and parameters peft adapts, or the error it raises."""
    m = Match(inventory=inv)
    try:
        _match(inv, spec, m)
    except Raises as e:
        m.failure = e.failure
    except Withheld as e:
        m.withheld = e.reason
    return m


def _layers(value):
    """``layers_to_transform``: an int, or a list/tuple/range of ints (peft tests ``idx in value``)."""
    if value is None or _int(value):
        return value
    if isinstance(value, (list, tuple, range)) and all(_int(i) for i in value):
        return value
    raise Withheld("layers_to_transform is not an int or a list of ints")


def _match(inv: Inventory, spec: LoraSpec, m: Match) -> None:
    targets = _targets(spec.target_modules, "target_modules")
    exclude = _targets(spec.exclude_modules, "exclude_modules")
    tparams = spec.target_parameters
    if tparams is not None:
        m.target_parameters = sorted(_strings(tparams, "target_parameters"))
    layers, pattern = _layers(spec.layers_to_transform), spec.layers_pattern
    if pattern is not None and not isinstance(pattern, str) and not (
            isinstance(pattern, (list, tuple)) and all(isinstance(p, str) for p in pattern)):
        raise Withheld("layers_pattern is not a string or a list of strings")
    for name in ("rank_pattern", "alpha_pattern"):
        value = getattr(spec, name)
        if not isinstance(value, dict) or not all(isinstance(k, str) for k in value):
            raise Withheld(f"{name} is not a dict keyed by strings")
        getattr(m, name).update(value)
    m.modules_to_save, m.late_modules_to_save = _modules_to_save(spec)

    def matcher_for(t) -> Matcher:
        return Matcher(t, exclude, m.modules_to_save, layers, pattern,
                       m.target_parameters if m.target_parameters or tparams is not None else None)

    # 1. transformers-5 MoE conversion, first thing in inject_adapter (tuners_utils.py:828-846)
    targets = convert_moe(inv, spec, m, targets, matcher_for)
    has_params = bool(m.target_parameters)
    # 2. ensure_weight_tying (tuners_utils.py:865, 1417-1472)
    targets = _tie(inv, spec, m, targets)
    # 3. default targets (lora/model.py:695-705)
    if targets is None:
        default = facts()["default_target_modules"].get(inv.model_type)
        if default is not None:
            targets = default if isinstance(default, str) else set(default)
            m.default_targets = True
        elif not has_params:
            raise Raises("ValueError", "Please specify `target_modules` or `target_parameters`in `peft_config`",
                         "no-default", "target_modules")
    # 4. layer_replication (lora/model.py:242-253)
    if spec.layer_replication:
        inv = m.inventory = replicate(inv, spec.layer_replication)
    # 5. all-linear (tuners_utils.py:2430)
    if isinstance(targets, str) and targets.lower() == facts()["all_linear_shorthand"]:
        targets = all_linear(inv, spec.task_type)
        m.all_linear = True
    m.target_modules = targets
    matcher = matcher_for(targets)
    tie_suffixes = tuple("." + t for t in m.tied_targets)
    tied_keys: list[str] = []
    # 6. the module loop (tuners_utils.py:946-980)
    unmatched = 0
    entries = sorted(targets) if isinstance(targets, set) and not m.all_linear else []
    m.name_matches = {e: [] for e in entries}
    entry_suffixes = [(e, "." + e) for e in entries]
    modules = inv.modules
    if matcher.by_suffix_only() and not m.tied_targets:
        # Only a module whose leaf is a target's leaf can match, and none is excluded: the loop
        # runs on those (in module order); every other named module is unmatched.
        by_leaf = inv.derived(modules_by_leaf)
        rows = sorted({i for t in targets for i in by_leaf.get(t.rpartition(".")[2], ()) if modules[i].name})
        unmatched = inv.derived(named_modules) - len(rows)
        modules = [modules[i] for i in rows]
    for mod in modules:
        key = mod.name
        if not key:
            continue
        if entries and matcher.name_match(key):
            for e, suffix in entry_suffixes:
                if key == e or key.endswith(suffix):
                    m.name_matches[e].append(key)
            m.layer_index[key] = matcher.layer_index(key)
        if m.tied_targets and (key in m.tied_targets or key.endswith(tie_suffixes)):  # :965
            tied_keys.append(key)
            continue
        result = matcher.check(key)
        if result == "excluded":
            m.excluded.append(key)
            if matcher.saved(key) and matcher.name_match(key):
                m.excluded_by_save.append(key)
        elif not result:
            unmatched += 1
        else:
            m.targeted.append(key)
            if not mod.adaptable:
                m.unsupported.append(key)
    # 7. target_parameters (tuners_utils.py:1008-1012, 1155-1260)
    if m.target_parameters:
        _match_parameters(inv, m)
    # 8. the tied layers get their LoRA last (tuners_utils.py:1016-1022)
    m.tied = tied_keys
    m.targeted.extend(tied_keys)
    _check_outcome(spec, m, unmatched, targets, layers, pattern)


def _tie(inv: Inventory, spec: LoraSpec, m: Match, targets):
    """``_check_tied_modules`` (tuners_utils.py:1417-1472) with ``_add_modules_to_save_to_tie`` and
    ``_add_targets_to_tie`` (tuners/lora/model.py:1293-1378): with ``ensure_weight_tying=True`` on a
    tied model, the embedding is adapted or saved and its tied partners share that adapter."""
    tied = inv.tied_to_embedding
    if spec.ensure_weight_tying is not True or not tied:
        return targets
    names = facts()["embedding_layer_names"]
    to_save = any(e.split(".")[-1] in names for e in m.modules_to_save or ())
    if isinstance(targets, str):
        rx = _compile(targets, "target_modules")
        in_target = any(rx.fullmatch(n) for n in names)
    else:
        in_target = any(t.split(".")[-1] in names for t in targets or ())
    embed = inv.input_embeddings or ""
    if to_save:
        saved = list(m.modules_to_save or [])
        if embed not in saved:
            saved.append(embed)
        for key in sorted(set(tied)):
            for e in saved:
                if _compile(rf"(^|.*\.){e}($|\..*)", "modules_to_save entry").match(key):
                    saved.remove(e)
                    break
        m.modules_to_save = saved
        m.modules_to_tie = sorted(set(tied))
        return targets
    if not in_target:
        return targets
    m.tied_targets = sorted(set(tied))
    if isinstance(targets, str):
        return rf"(?:{targets}|^{re.escape(embed)}$)"
    out = set(targets or ()) | {embed}
    for key in m.tied_targets:
        for t in sorted(out):
            if _compile(rf"(^|.*\.){t}($|\..*)", "target_modules entry").match(key):
                out.remove(t)
                break
    return out


def _match_parameters(inv: Inventory, m: Match) -> None:
    names = m.target_parameters
    suffixes = tuple("." + t for t in names)
    targeted_modules = set(m.targeted)
    owners: dict[str, list[str]] = {}
    for p in inv.parameters:
        owners.setdefault(p.rpartition(".")[0], []).append(p)
    for group in inv.tied:
        for alias in group[1:]:
            owners.setdefault(alias.rpartition(".")[0], []).append(alias)
    for mod in inv.modules:
        for key in owners.get(mod.name, ()):
            if key in names or key.endswith(suffixes):
                if not mod.name:
                    raise Raises("ValueError", "Targeting an nn.Parameter on the top-level module is not supported "
                                 f"(parameter '{key}'). ", "param-on-target", "target_parameters",
                                 _entry(names, key))
                if mod.name in targeted_modules and m.param_conflict is None:
                    m.param_conflict = key
                m.targeted_parameters.append(key)


def _entry(entries, key: str) -> str | None:
    """The list entry that matched ``key`` (exact name or ``.suffix``)."""
    return next((e for e in entries if key == e or key.endswith("." + e)), None)


def _check_outcome(spec, m: Match, unmatched: int, targets, layers, pattern) -> None:
    """The errors and warnings of tuners_utils.py:1041-1127."""
    note = ""
    if layers is not None:
        note += f" Note: You specified 'layers_to_transform': {layers}."
    if pattern is not None:
        note += f" You also specified 'layers_pattern': {pattern}."
    if not m.targeted and not m.targeted_parameters:
        def fail(kind, message):
            raise Raises("NoMatchingPeftModuleError", message, kind, "target_modules")

        if m.excluded and not unmatched:
            fail("all-excluded", "All modules were excluded. This is likely unintended. Check your `target_modules`, "
                 "`exclude_modules` and `modules_to_save` configuration.")
        if not m.excluded and unmatched and not targets:
            fail("no-targets", "No `target_modules` passed but also no `target_parameters` found. Please check the "
                 "values for these arguments.")
        if not m.excluded and unmatched:
            fail("not-found", f"Target modules {targets} not found in the base model. Please check the target "
                 f"modules and try again.{note}")
        fail("none-targeted", "No modules were targeted for adaptation. This might be caused by a combination of "
             "mismatched target modules and excluded modules. Please check your `target_modules` and "
             "`exclude_modules` configuration. You may also have only targeted modules that are marked to be saved "
             f"(`modules_to_save`).{note}")
    if spec.exclude_modules and not m.excluded:
        m.warnings.append(f"You have passed exclude_modules={spec.exclude_modules} but no modules were excluded.")
    elif targets and not m.targeted:
        m.warnings.append(f"target_modules={targets} were set but no module was matched.")
    elif m.target_parameters and not m.targeted_parameters:
        m.warnings.append(f"target_parameters={m.target_parameters} were set but no parameter was matched.")


def mamba_failure(inv: Inventory, key: str) -> Failure | None:
    """``_check_lora_target_modules_mamba`` (tuners_utils.py:145-164), per created layer."""
    leaf = key.rpartition(".")[2]
    if inv.model_type in MAMBA_TYPES and leaf in ("out_proj", "conv1d"):
        return Failure("ValueError", f"[PEFT:LORA] Module '{leaf}' is incompatible with Mamba-based models "
                       f"(model_type='{inv.model_type}'). Incompatible modules: {{'out_proj', 'conv1d'}}. Please "
                       "remove it from `target_modules` to avoid compatibility issues.", "mamba", "target_modules", leaf)
    return None
