"""``lora-lint report PATH...``: per LoRA site, the base model and what the adapter costs.

For each site: the base model and how it was resolved, r, α, the effective scaling, the number of
targeted modules, the trainable parameters (exactly what peft's ``get_nb_trainable_parameters``
would print), their share of the base model and the adapter's size on disk in fp32 and bf16.
``--output-format json`` prints one array with one object per site.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from .model import UNKNOWN, LoraSite, is_known
from .models.spec import model_class
from .peft_facts import scaling

#: safetensors stores every trainable tensor; the header is a few KB, so size = params x bytes.
DTYPE_BYTES = {"fp32": 4, "bf16": 2}


@dataclass
class Row:
    site: LoraSite
    ctx: Any  # models.context.ModelContext
    problem: str | None = None  # the LL902 message when the model is not known
    extra: dict = field(default_factory=dict)
    at: tuple[int | None, int] | None = None  # (cell, line) in a notebook (``SourceFile.locate``)


def _known(site: LoraSite, name: str) -> Any:
    """The value of ``name`` that reaches peft (``LoraSite.effective``), None when unknown."""
    v = site.effective(name)
    return v if is_known(v) else None


def _number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def each_site(paths: Iterable[str], settings, with_source: bool = False) -> Iterator[tuple | str]:
    """Every LoRA site under ``paths`` with its file's Settings (``with_source``: and the file's
    ``SourceFile``, which names its lines), in discovery order, and a message (a str) for each
    file that could not be read. ``settings`` is a Settings or a function giving each path its
    Settings (config files). ``report`` and ``lock`` walk the same sites."""
    from .files import each_file
    from .sources import SourceError, sites_for

    settings_for = settings if callable(settings) else (lambda _path: settings)
    for read in each_file(paths, settings_for):
        path = read.path
        if read.problem is not None:
            yield f"{path}: {read.problem.message}"
            continue
        if read.source is None:
            continue
        try:
            sites = sites_for(read.source)
        except SourceError as e:
            yield f"{path}:{read.source.where(e.span.line)}:{e.span.col}: {e.message}"
            continue
        except Exception as e:  # the report goes on with the other files
            yield f"{path}: cannot read it: {type(e).__name__}: {e}"
            continue
        finally:
            read.source.forget()
        for site in sites:
            yield (site, read.settings, read.source) if with_source else (site, read.settings)


def collect(paths: Iterable[str], settings) -> tuple[list[Row], list[str]]:
    """Rows for every site under ``paths`` and messages about files that could not be read.

    ``settings`` is a Settings or a function giving each path its Settings (config files)."""
    from .models.context import context_for, unresolved_message

    rows: list[Row] = []
    errors: list[str] = []
    for item in each_site(paths, settings, with_source=True):
        if isinstance(item, str):
            errors.append(item)
            continue
        site, site_settings, source = item
        at = source.locate(site.span.line) if source.rows is not None else None
        if not site.dialect.reaches_peft:  # its own LoRA: no model is resolved, nothing counted
            from .models.context import ModelContext, choose

            name, origin, param = choose(site, site_settings)
            rows.append(Row(site, ModelContext(name if isinstance(name, str) else None, origin, param), at=at))
            continue
        try:
            ctx = context_for(site, site_settings, where=source.where)
        except Exception as e:
            errors.append(f"{site.path}:{source.where(site.span.line)}:{site.span.col}: model resolution failed:"
                          f" {type(e).__name__}: {e}")
            continue
        rows.append(Row(site, ctx, unresolved_message(ctx) if ctx.problem else None, at=at))
    return rows, errors


def _outcome(row: Row):
    """``(failure, reason)``: the exception peft raises for the site (a ``models.Failure``), or why
    no count is given ("not counted, because <reason>"); both None when the count is there."""
    site, ctx = row.site, row.ctx
    if not site.dialect.reaches_peft:
        return None, f"its LoRA is {site.dialect.name}'s own implementation, not peft's"
    an = ctx.analysis
    if an is not None:
        if an.failure is not None:
            return an.failure, None
        if not an.known or an.trainable is None:
            return None, an.withheld or "the analysis could not be completed"
        return None, None
    try:  # no model: what peft rejects without one (LoraConfig, and any layer it would create)
        from .models.spec import LoraSpec
        from .models.validate import config_failure, layer_failure
    except ImportError:  # pragma: no cover - our own modules
        return None, "the base model is not known"
    spec = LoraSpec.from_site(site)
    failure = config_failure(spec) or layer_failure(spec, "linear", spec.r, spec.lora_alpha)
    if failure is not None:
        return failure, None
    return None, "the base model is not known"


def as_dict(row: Row) -> dict:
    from .peft_facts import facts

    site, ctx = row.site, row.ctx
    r = _known(site, "r")
    alpha = _known(site, "lora_alpha")
    rslora = _known(site, "use_rslora")
    inv, an = ctx.inventory, ctx.analysis
    total = trainable = targeted = targeted_params = peft_total = None
    failure, reason = _outcome(row)
    if inv is not None:
        total = inv.total_params
    if an is not None and an.known and failure is None:  # what is matched, even when a count is withheld
        targeted = len(an.targeted)
        targeted_params = len(an.targeted_parameters)
        if reason is None:
            trainable = an.trainable
            peft_total = an.total
    if trainable is not None and trainable.bit_length() > 1000:
        # a rank of hundreds of digits: counts past a float, some past what Python prints (LL105
        # reports the rank)
        trainable = peft_total = None
    percent = (100.0 * trainable / total) if trainable is not None and total else None
    resolved = ctx.resolved
    return {
        "filename": site.path,
        "cell": row.at[0] if row.at else None,  # (a notebook: rows count within the cell, as ruff's)
        "location": {"row": row.at[1] if row.at else site.span.line, "column": site.span.col},
        "dialect": site.dialect.name,
        "base_model": ctx.name,
        "base_model_from": ctx.origin,
        "resolved_from": resolved.source if resolved else None,
        "resolved_detail": resolved.detail if resolved else None,
        "model_id": resolved.model_id if resolved else None,
        "architecture": inv.architecture if inv is not None else None,
        "model_class": model_class(site),
        "r": r,
        "lora_alpha": alpha,
        "use_rslora": rslora,
        "scaling": scaling(alpha, r, rslora) if site.dialect.reaches_peft else None,
        "targeted_modules": targeted,
        "targeted_parameters": targeted_params,
        "trainable_params": trainable,
        "total_params": total,
        "peft_all_params": peft_total,
        "trainable_percent": percent,
        "adapter_bytes": {k: trainable * b for k, b in DTYPE_BYTES.items()} if trainable is not None else None,
        "peft_error": str(failure) if failure is not None else None,
        "peft_error_at": failure.stage if failure is not None else None,
        "not_counted": reason,
        "unresolved": row.problem,
        "facts": {
            "transformers": (inv.versions or {}).get("transformers") if inv is not None else None,
            "peft": facts().get("peft_version"),
        },
    }


# -- text --------------------------------------------------------------------------------------

def human_count(n: Any) -> str:
    if not _number(n):
        return "-"
    for div, unit in ((1e9, "B"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= div:
            return f"{n / div:.3g}{unit}"
    return str(n)


def human_bytes(n: Any) -> str:
    if not _number(n):
        return "-"
    for div, unit in ((2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if n >= div:
            return f"{n / div:.3g} {unit}"
    return f"{n} B"


def _fmt(v: Any) -> str:
    if v is None or v is UNKNOWN:
        return "-"
    if isinstance(v, float):
        return f"{v:.4g}"
    return str(v)


def summary_line(d: dict) -> str:
    """One site's report as a line (the LSP hover): ``r=8 · α=16 · scaling 2 (α/r) · 851,968
    trainable parameters (0.0689% of 1.24B) · adapter 3.25 MiB fp32, 1.62 MiB bf16 · base model
    meta-llama/Llama-3.2-1B (bundled catalog)``."""
    rule = "α/√r" if d["use_rslora"] else "α/r"
    parts = [f"r={_fmt(d['r'])}", f"α={_fmt(d['lora_alpha'])}", f"scaling {_fmt(d['scaling'])} ({rule})"]
    if d["trainable_params"] is not None:
        pct = d["trainable_percent"]
        share = f" ({pct:.3g}% of {human_count(d['total_params'])})" if pct is not None else ""
        parts.append(f"{d['trainable_params']:,} trainable parameters{share}")
        size = d["adapter_bytes"] or {}
        parts.append(f"adapter {human_bytes(size.get('fp32'))} fp32, {human_bytes(size.get('bf16'))} bf16")
    elif d["peft_error"]:
        parts.append(f"{_who(d)} would fail with {d['peft_error']}; nothing is trained")
    elif d["not_counted"]:
        parts.append(f"not counted, because {d['not_counted']}")
    if d["unresolved"]:
        parts.append(d["unresolved"])
    elif d["base_model"]:
        parts.append(f"base model {d['base_model']}" + (f" ({d['resolved_from']})" if d["resolved_from"] else ""))
    return " · ".join(parts)


def _who(d: dict) -> str:
    return "LoraConfig(...)" if d.get("peft_error_at") == "LoraConfig" else "get_peft_model"


COLUMNS = ("location", "base model", "resolved", "r", "α", "scaling", "modules", "trainable",
           "% of base", "fp32", "bf16")


def render_text(data: list[dict]) -> str:
    if not data:
        return "No LoRA configurations found.\n"
    table = []
    notes = []
    for d in data:
        cell = f"cell {d['cell']}:" if d.get("cell") is not None else ""
        loc = f"{d['filename']}:{cell}{d['location']['row']}:{d['location']['column']}"
        size = d["adapter_bytes"] or {}
        pct = d["trainable_percent"]
        table.append([
            loc, d["base_model"] or "-", d["resolved_from"] or "-", _fmt(d["r"]), _fmt(d["lora_alpha"]),
            _fmt(d["scaling"]), _fmt(d["targeted_modules"]), human_count(d["trainable_params"]),
            f"{pct:.3g}%" if pct is not None else "-", human_bytes(size.get("fp32")),
            human_bytes(size.get("bf16")),
        ])
        if d["peft_error"]:
            notes.append(f"{loc}: {_who(d)} would fail with {d['peft_error']}; nothing is trained, so nothing"
                         " is counted")
        elif d["not_counted"] and not d["unresolved"]:
            notes.append(f"{loc}: not counted, because {d['not_counted']}")
        if d["unresolved"]:
            notes.append(f"{loc}: {'' if d['peft_error'] else 'not counted: '}{d['unresolved']}")
    widths = [max(len(str(row[c])) for row in [COLUMNS, *table]) for c in range(len(COLUMNS))]
    numeric = set(range(3, len(COLUMNS)))
    lines = []
    for n, row in enumerate([COLUMNS, *table]):
        cells = [str(v).rjust(w) if c in numeric and n else str(v).ljust(w)
                 for c, (v, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(cells).rstrip())
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    versions = {(d["facts"]["transformers"], d["facts"]["peft"]) for d in data if d["facts"]["transformers"]}
    if versions:
        tf, pf = sorted(versions, key=str)[0]
        lines.append("")
        lines.append(f"Counts as peft {pf} computes them on transformers {tf} models.")
    if notes:
        lines.append("")
        lines.extend(notes)
    return "\n".join(lines) + "\n"


def render(rows: list[Row], output_format: str) -> str:
    data = [as_dict(r) for r in rows]
    if output_format == "json":
        return json.dumps(data, indent=2) + "\n"
    return render_text(data)
