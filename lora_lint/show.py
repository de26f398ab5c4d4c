"""``lora-lint check --show-settings PATH``: what applies to one file, as ruff's ``--show-settings``
does it. Every file may have its own configuration (its nearest config file), so the answer is
for that file: the config file it gets, whether a walk would skip it, the rules that run on it at
their severity, the options of those rules, and the other settings."""

from __future__ import annotations

import os

from .settings import Settings


def _value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return repr(v) if isinstance(v, str) else str(v)


def show_settings(path: str, resolver) -> str:
    from .rules import all_rules

    settings: Settings = resolver.settings_for(path)
    config = resolver.config_for(path)
    rules = all_rules()
    selected = settings.selected(rules)
    applied = settings.rules_for(path, rules)
    configured = settings.severities(rules)
    out = [f"Settings for: {path}",
           f"Config file: {config or 'none (defaults' + (', --isolated' if resolver.isolated else '') + ')'}",
           f"Excluded: {'yes' if settings.is_excluded(path) else 'no'}"
           + (" (linted only when named on the command line without --force-exclude)"
              if settings.is_excluded(path) else "")]
    out.append(f"Rules ({len(applied)}):")
    width = max((len(r.name) for r in applied.values()), default=0)
    for code, r in applied.items():
        note = f" (configured; the rule's own: {rules[code].severity})" if code in configured and \
            configured[code] is not rules[code].severity else ""
        out.append(f"  {code} {r.name.ljust(width)}  {r.severity}{note}")
    off = sorted(set(selected) - set(applied))
    if off:
        out.append(f"Turned off here by per-file-ignores: {', '.join(off)}")
    if settings.severity:
        out.append("Severity: " + ", ".join(f"{sel} = {level}" for sel, level in settings.severity))
    model = settings.base_model_override or settings.base_model_for(path)
    how = "--base-model" if settings.base_model_override else "base-model setting"
    out.append(f"Base model: {model} ({how})" if model else "Base model: the one each config names")
    out += [
        f"Offline: {_value(settings.offline or bool(os.environ.get('HF_HUB_OFFLINE')))}",
        f"Hub timeout: {settings.hub_timeout:g} s",
        f"Max file size: {settings.max_file_size:,} bytes",
        f"Respect .gitignore: {_value(settings.respect_gitignore)}",
        f"Report unused suppressions: {_value(settings.report_unused_suppressions)}",
        "Exclude: " + (", ".join(p.pattern for p in settings.exclude) or "(none besides the defaults)"),
    ]
    options = {}
    for r in applied.values():
        options.update(settings.options_for(r))
    if options:
        out.append("Rule options:")
        out += [f"  {name} = {_value(value)}" for name, value in sorted(options.items())]
    return "".join(line + "\n" for line in out)
