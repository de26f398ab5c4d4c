"""Library calls a script makes its settings with, by qualified name: ``argparse`` and
``HfArgumentParser`` parsers (``python_cli``), ``yaml.safe_load``/``json.load``/``OmegaConf.load``
of a repository file (``python_files``), ``LoraConfig.from_json_file``, ``SimpleNamespace(**d)``
and attribute-style configs, ``pathlib``/``os.path`` paths, TRL's ``ModelConfig(...)``."""

from __future__ import annotations

import libcst as cst

from .python_cli import ArgParser, hf_parser
from .python_files import PathValue, ScriptPath, as_path, dirname, load
from .python_objects import ConfigObj, Fields, Instance, Record, external_class
from .python_values import NOTHING, Evaluating, Part, Traced

# -- library calls ------------------------------------------------------------------------------

def library_call(name: str, call: cst.Call, scope, frame, ev: Evaluating, depth: int) -> Traced:
    """A call of an imported name (``argparse.ArgumentParser(...)``, ``yaml.safe_load(f)``)."""
    handler = LIBRARY.get(name)
    if handler is None:
        ext = external_class(name)
        if ext is not None:
            given = _external_given(ext, call, scope, frame, ev, depth)
            return Traced(Instance(ext, given)) if given is not None else NOTHING
        return NOTHING
    return handler(call, scope, frame, ev, depth)


def _external_given(ext, call, scope, frame, ev, depth):
    if any(a.keyword is None or a.star for a in call.args):
        return None
    return {a.keyword.value: ev.trace(a.value, scope, frame, depth + 1) for a in call.args}


def _first(call: cst.Call, *names: str) -> cst.Arg | None:
    for a in call.args:
        if a.keyword is not None and a.keyword.value in names:
            return a
    positional = [a for a in call.args if a.keyword is None and not a.star]
    return positional[0] if positional else None


def _argparse(call, scope, frame, ev, depth) -> Traced:
    return Traced(ArgParser(call))


def _yaml_load(call, scope, frame, ev, depth) -> Traced:
    arg = _first(call, "stream")
    if arg is None:
        return NOTHING
    loader = next((a for a in call.args if a.keyword is not None and a.keyword.value == "Loader"), None)
    if loader is not None:
        name = ev.m.qualified(loader.value) or ""
        if name.split(".")[-1] not in ("SafeLoader", "CSafeLoader", "FullLoader", "Loader", "CLoader",
                                       "CFullLoader", "BaseLoader") or name.endswith("BaseLoader"):
            return NOTHING
    return load(ev, ev.trace(arg.value, scope, frame, depth + 1), "yaml")


def _json_load(call, scope, frame, ev, depth) -> Traced:
    arg = _first(call, "fp", "s")
    if arg is None or len(call.args) != 1:
        return NOTHING
    return load(ev, ev.trace(arg.value, scope, frame, depth + 1), "json")


def _omegaconf_load(call, scope, frame, ev, depth) -> Traced:
    arg = _first(call, "file_")
    if arg is None:
        return NOTHING
    doc = load(ev, ev.trace(arg.value, scope, frame, depth + 1), "yaml", paths=True)
    if isinstance(doc.value, dict) and doc.parts is not None:
        return Traced(ConfigObj(doc), doc.span, doc.path, doc.via)
    return NOTHING


def _from_json_file(call, scope, frame, ev, depth) -> Traced:
    """``LoraConfig.from_json_file(path)``: the JSON file's object, as a dict."""
    arg = _first(call, "path_json_file")
    if arg is None:
        return NOTHING
    return load(ev, ev.trace(arg.value, scope, frame, depth + 1), "json", paths=True)


def _attribute_config(call, scope, frame, ev, depth) -> Traced:
    arg = _first(call, "d")
    if arg is None or len(call.args) != 1:
        return NOTHING
    t = ev.trace(arg.value, scope, frame, depth + 1)
    if isinstance(t.value, ConfigObj):
        return t
    if isinstance(t.value, dict) and t.parts is not None:
        return Traced(ConfigObj(t))
    return NOTHING


def _to_container(call, scope, frame, ev, depth) -> Traced:
    arg = _first(call, "cfg")
    if arg is None:
        return NOTHING
    t = ev.trace(arg.value, scope, frame, depth + 1)
    return t.value.value if isinstance(t.value, ConfigObj) else NOTHING


def _namespace(call, scope, frame, ev, depth) -> Traced:
    parts: dict[str, Part] = {}
    sources: list[Fields] = []
    for a in call.args:
        if a.star == "**":
            t = ev.trace(a.value, scope, frame, depth + 1)
            if isinstance(t.value, Fields):
                sources.append(t.value)
                continue
            if t.parts is None or not isinstance(t.value, dict):
                return NOTHING
            for p in t.parts:
                parts[p.key] = p
        elif a.keyword is not None:
            parts[a.keyword.value] = Part(a.keyword.value, ev.span(a.keyword), ev.trace(a.value, scope, frame, depth + 1))
        else:
            return NOTHING
    return Traced(Record(tuple(parts.values()), tuple(sources)))


def _path(call, scope, frame, ev, depth) -> Traced:
    if len(call.args) != 1 or call.args[0].keyword is not None or call.args[0].star:
        return NOTHING
    t = ev.trace(call.args[0].value, scope, frame, depth + 1)
    p = as_path(t)
    if p is None:
        return NOTHING
    return Traced(p)


def _dirname_call(call, scope, frame, ev, depth) -> Traced:
    if len(call.args) != 1:
        return NOTHING
    p = as_path(ev.trace(call.args[0].value, scope, frame, depth + 1))
    if p is None:
        return NOTHING
    if p.base == "script-file":
        return Traced(PathValue("script", ""))
    return dirname(p)


def _abspath(call, scope, frame, ev, depth) -> Traced:
    if len(call.args) != 1:
        return NOTHING
    t = ev.trace(call.args[0].value, scope, frame, depth + 1)
    return t if isinstance(t.value, (PathValue, ScriptPath)) else Traced(as_path(t)) if as_path(t) else NOTHING


def _os_join(call, scope, frame, ev, depth) -> Traced:
    if not call.args or any(a.keyword is not None or a.star for a in call.args):
        return NOTHING
    parts = [ev.trace(a.value, scope, frame, depth + 1) for a in call.args]
    first = parts[0]
    if isinstance(first.value, str):
        out = PathValue("cwd", first.value)
    elif isinstance(first.value, PathValue):
        out = first.value
    else:
        return NOTHING
    for p in parts[1:]:
        joined = out.divide(p)
        if not isinstance(joined.value, PathValue):
            return NOTHING
        out = joined.value
    return Traced(out)


LIBRARY = {
    "argparse.ArgumentParser": _argparse,
    "transformers.HfArgumentParser": hf_parser,
    "transformers.hf_argparser.HfArgumentParser": hf_parser,
    "trl.TrlParser": hf_parser,
    "yaml.safe_load": _yaml_load,
    "yaml.load": _yaml_load,
    "yaml.full_load": _yaml_load,
    "json.load": _json_load,
    "json.loads": _json_load,
    "omegaconf.OmegaConf.load": _omegaconf_load,
    "omegaconf.OmegaConf.create": _attribute_config,
    "omegaconf.OmegaConf.to_container": _to_container,
    "peft.LoraConfig.from_json_file": _from_json_file,
    "peft.PeftConfig.from_json_file": _from_json_file,
    "types.SimpleNamespace": _namespace,
    "argparse.Namespace": _namespace,
    "easydict.EasyDict": _attribute_config,
    "box.Box": _attribute_config,
    "munch.Munch": _attribute_config,
    "munch.munchify": _attribute_config,
    "addict.Dict": _attribute_config,
    "ml_collections.ConfigDict": _attribute_config,
    "pathlib.Path": _path,
    "os.path.dirname": _dirname_call,
    "os.path.abspath": _abspath,
    "os.path.realpath": _abspath,
    "os.path.join": _os_join,
}


