"""Azure Pipelines logging commands: ``##vso[task.logissue type=error;sourcepath=...;linenumber=...;
columnnumber=...;code=LL001;]message`` for each error and warning.

Azure's issues are errors or warnings only: an info finding (which does not fail the run either)
is a plain log line in the concise shape. Escaping follows the agent's command parser: ``%`` is
``%AZP25``, CR and LF ``%0D``/``%0A``, and in property values also ``;`` and ``]``. In a notebook
the line and column are in the ``.ipynb`` file's own text, and the message starts with
``cell N:LINE:COL``, where Jupyter shows it.
"""

from __future__ import annotations

from ..model import Finding, Severity

TYPE = {Severity.ERROR: "error", Severity.WARNING: "warning"}


def escape_data(s: str) -> str:
    return s.replace("%", "%AZP25").replace("\r", "%0D").replace("\n", "%0A")


def escape_property(s: str) -> str:
    return escape_data(s).replace(";", "%3B").replace("]", "%5D")


def line(f: Finding, info) -> str:
    path = info.report_path(f.path)
    kind = TYPE.get(f.severity)
    if kind is None:
        return escape_data(f"{path}:{info.at(f)}: {f.code} [{f.severity}] {f.message}")
    span = info.in_file(f.span, f.path)
    props = {"type": kind, "sourcepath": path, "linenumber": span.line, "columnnumber": span.col,
             "code": f.code}
    body = "".join(f"{k}={escape_property(str(v))};" for k, v in props.items())
    where = f"{info.at(f)}: " if info.cell(f) is not None else ""
    return f"##vso[task.logissue {body}]{escape_data(where + f.message)}"


def render(findings: list[Finding], info) -> str:
    return "".join(line(f, info) + "\n" for f in findings)
