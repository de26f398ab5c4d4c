"""Every output format, rendered for the same findings and parsed back; SARIF against the schema."""

import json
import re
from pathlib import Path
from xml.etree import ElementTree as ET

import jsonschema
import pytest

from lora_lint.model import Finding, Severity, Span
from lora_lint.reporters import FORMATS, RunInfo
from lora_lint.reporters.full import split_hint
from lora_lint.reporters.github import escape_data, escape_property
from lora_lint.reporters.style import use_color
from lora_lint.rules import all_rules
from lora_lint.settings import Settings
from lora_lint.source_file import SourceFile

FIXTURES = Path(__file__).resolve().parent / "fixtures"
SHARED_SCHEMA = Path(__file__).resolve().parents[2] / "shared" / "schemas" / "sarif-schema-2.1.0.json"
TRAIN = "from peft import LoraConfig\ncfg = LoraConfig(\n    r=64,\n    lora_aplha=16,\n)\n"
SFT = "adapter: lora\nlora_r: 8\nbase_model: ./local\n"


def make(code, path, line, col, end_col, message):
    r = all_rules()[code]
    return Finding(code, r.name, r.severity, message, path, Span(line, col, line, end_col))


@pytest.fixture
def project(tmp_path, monkeypatch):
    """Two files on disk and findings of all three severities in them (paths relative to cwd)."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "train.py").write_text(TRAIN)
    (tmp_path / "configs").mkdir()
    (tmp_path / "configs" / "sft.yaml").write_text(SFT)
    findings = [
        make("LL902", "configs/sft.yaml", 3, 13, 20, "base model `./local` is not a directory; skipped model rules"),
        make("LL101", "train.py", 3, 7, 9, "r=64 without use_rslora: scaling α/r = 0.125; set use_rslora=True"),
        make("LL001", "train.py", 4, 5, 15, "`lora_aplha` is not a field of peft's LoraConfig; did you mean `lora_alpha`?"),
    ]
    return tmp_path, findings


WANT = {("configs/sft.yaml", 3, 13, "LL902"), ("train.py", 3, 7, "LL101"), ("train.py", 4, 5, "LL001")}


def read(findings, **kw) -> RunInfo:
    """The run's information with the files of ``findings`` as the run read them."""
    from lora_lint.files import read_file

    sources = {f.path: read_file(f.path, Settings()).source for f in findings}
    return RunInfo(sources=sources, **kw)


def parse_concise(text):
    return {(m[1], int(m[2]), int(m[3]), m[4])
            for m in re.finditer(r"^(.+?):(\d+):(\d+): (LL\d{3}) \[\w+\] .*$", text, re.M)}


def parse_full(text):
    heads = re.findall(r"^(LL\d{3}) \[\w+\] .*\n --> (.+?):(\d+):(\d+)$", text, re.M)
    return {(p, int(line), int(col), code) for code, p, line, col in heads}


def parse_grouped(text):
    out, current = set(), None
    for line in text.splitlines():
        if m := re.match(r"^(\S.*):$", line):
            current = m[1]
        elif m := re.match(r"^  (\d+):(\d+)\s+(LL\d{3}) ", line):
            out.add((current, int(m[1]), int(m[2]), m[3]))
    return out


def parse_json(text):
    return {(d["filename"], d["location"]["row"], d["location"]["column"], d["code"]) for d in json.loads(text)}


def parse_json_lines(text):
    return parse_json("[" + ",".join(text.splitlines()) + "]")


def parse_sarif(text):
    run = json.loads(text)["runs"][0]
    return {(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
             r["locations"][0]["physicalLocation"]["region"]["startLine"],
             r["locations"][0]["physicalLocation"]["region"]["startColumn"], r["ruleId"])
            for r in run["results"]}


ANNOTATION = re.compile(r"^::(error|warning|notice) ([^:]*)::(.*)$")
PROPERTIES = {"title", "file", "col", "endColumn", "line", "endLine"}


def unescape(s):
    return (s.replace("%3A", ":").replace("%2C", ",").replace("%0D", "\r").replace("%0A", "\n")
            .replace("%25", "%"))


def parse_github(text):
    """Strict: every line a workflow command per actions/toolkit, known properties only."""
    out = set()
    for line in text.splitlines():
        m = ANNOTATION.match(line)
        assert m, f"not a workflow command: {line!r}"
        props = dict(p.split("=", 1) for p in m[2].split(","))
        assert set(props) <= PROPERTIES and {"file", "line", "col", "title"} <= set(props)
        assert "\n" not in m[3] and "\r" not in m[3]
        out.add((unescape(props["file"]), int(props["line"]), int(props["col"]),
                 re.match(r"LL\d{3}", unescape(m[3]))[0]))
    return out


def parse_gitlab(text):
    return {(d["location"]["path"], d["location"]["positions"]["begin"]["line"],
             d["location"]["positions"]["begin"]["column"], d["check_name"]) for d in json.loads(text)}


def parse_junit(text):
    root = ET.fromstring(text)
    return {(suite.get("name"), int(case.get("line")), int(case.get("column")), case.get("name").split(".")[-1])
            for suite in root.iter("testsuite") for case in suite.iter("testcase") if case.get("line")}


def parse_pylint(text):
    """flake8's pylint shape has no column: the finding's column is taken from the reference."""
    cols = {(p, line, code): col for p, line, col, code in WANT}
    out = set()
    for line in text.splitlines():
        m = re.match(r"^(.+?):(\d+): \[(LL\d{3})\] \[(error|warning|info)\] .+$", line)
        assert m, line
        out.add((m[1], int(m[2]), cols.get((m[1], int(m[2]), m[3]), 0), m[3]))
    return out


def parse_rdjson(text):
    """The reviewdog schema, then the diagnostics (byte columns equal character columns here:
    the fixture's lines are ASCII up to every finding)."""
    data = json.loads(text)
    jsonschema.Draft4Validator(rdjson_schema()).validate(data)
    return {(d["location"]["path"], d["location"]["range"]["start"]["line"],
             d["location"]["range"]["start"]["column"], d["code"]["value"]) for d in data["diagnostics"]}


AZURE = re.compile(r"^##vso\[task\.logissue ((?:[a-z]+=[^;\]]*;)+)\](.*)$")


def azure_unescape(s):
    return (s.replace("%3B", ";").replace("%5D", "]").replace("%0D", "\r").replace("%0A", "\n")
            .replace("%AZP25", "%"))


def parse_azure(text):
    """Each error and warning a logissue command, as the agent parses it; an info finding a plain
    concise line (Azure's issues are errors and warnings only)."""
    out = set()
    for line in text.splitlines():
        m = AZURE.match(line)
        if m is None:
            out |= parse_concise(line)
            assert "[info]" in line, line
            continue
        props = dict(p.split("=", 1) for p in m[1].rstrip(";").split(";"))
        assert props["type"] in ("error", "warning")
        out.add((azure_unescape(props["sourcepath"]), int(props["linenumber"]), int(props["columnnumber"]),
                 props["code"]))
    return out


PARSERS = {
    "concise": parse_concise, "full": parse_full, "grouped": parse_grouped, "json": parse_json,
    "json-lines": parse_json_lines, "sarif": parse_sarif, "github": parse_github,
    "gitlab": parse_gitlab, "junit": parse_junit, "pylint": parse_pylint, "rdjson": parse_rdjson,
    "azure": parse_azure,
}


def rdjson_schema():
    return json.loads((FIXTURES / "rdjson-DiagnosticResult.json").read_text())


def test_every_format_has_a_parser_here():
    assert set(FORMATS) == set(PARSERS)


@pytest.mark.parametrize("fmt", sorted(PARSERS))
def test_each_format_carries_the_same_findings(project, fmt):
    _, findings = project
    text = FORMATS[fmt](findings, RunInfo(files_checked=2))
    assert PARSERS[fmt](text) == WANT
    assert "\x1b[" not in text  # no colour unless asked


@pytest.mark.parametrize("fmt", sorted(PARSERS))
def test_each_format_with_no_findings(project, fmt):
    text = FORMATS[fmt]([], RunInfo())
    assert PARSERS[fmt](text) == set()
    if fmt in ("json", "gitlab"):
        assert json.loads(text) == []


def sarif_schema():
    vendored = json.loads((FIXTURES / "sarif-schema-2.1.0.json").read_text())
    if SHARED_SCHEMA.is_file():
        assert json.loads(SHARED_SCHEMA.read_text()) == vendored, "tests/fixtures copy is stale"
    return vendored


def test_sarif_is_valid_against_the_oasis_schema(project):
    _, findings = project
    log = json.loads(FORMATS["sarif"](findings, RunInfo()))
    schema = sarif_schema()
    declared = jsonschema.validators.validator_for(schema)  # the schema says draft-04
    declared(schema, format_checker=declared.FORMAT_CHECKER).validate(log)
    jsonschema.Draft7Validator(schema, format_checker=jsonschema.Draft7Validator.FORMAT_CHECKER).validate(log)
    broken = json.loads(json.dumps(log))
    broken["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(schema).validate(broken)


def test_sarif_rules_and_results(project):
    root, findings = project
    run = json.loads(FORMATS["sarif"](findings, RunInfo()))["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "lora-lint" and driver["version"] and driver["informationUri"].startswith("https://")
    rules = {r["id"]: r for r in driver["rules"]}
    assert set(rules) == set(all_rules())  # every rule, so the driver is stable across runs
    for code, r in rules.items():
        assert r["name"] == all_rules()[code].name
        assert r["helpUri"].endswith(f"/rules/{code}.md")
        assert "## Why is this bad?" in r["fullDescription"]["text"]
        assert r["shortDescription"]["text"] and r["help"]["markdown"]
    levels = {r["ruleId"]: r["level"] for r in run["results"]}
    assert levels == {"LL001": "error", "LL101": "warning", "LL902": "note"}
    res = next(r for r in run["results"] if r["ruleId"] == "LL001")
    assert driver["rules"][res["ruleIndex"]]["id"] == "LL001"
    loc = res["locations"][0]["physicalLocation"]
    assert loc["artifactLocation"] == {"uri": "train.py", "uriBaseId": "%SRCROOT%"}
    assert loc["region"] == {"startLine": 4, "startColumn": 5, "endLine": 4, "endColumn": 15}
    assert run["originalUriBaseIds"]["%SRCROOT%"]["uri"] == root.resolve().as_uri() + "/"
    assert run["columnKind"] == "unicodeCodePoints"


def test_sarif_path_outside_the_root_is_an_absolute_file_uri(project, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "x y.py"
    elsewhere.write_text(TRAIN)
    f = make("LL101", str(elsewhere), 3, 7, 9, "m")
    uri = json.loads(FORMATS["sarif"]([f], RunInfo()))["runs"][0]["results"][0]["locations"][0][
        "physicalLocation"]["artifactLocation"]
    assert uri == {"uri": elsewhere.as_uri()} and "%20" in uri["uri"]


def test_github_escaping_is_actions_toolkit_compatible():
    assert escape_data("50% done\r\nnext") == "50%25 done%0D%0Anext"
    assert escape_property("a:b,c%") == "a%3Ab%2Cc%25"
    f = make("LL001", "dir,with:odd/x.py", 1, 1, 2, "line one\nline two 100%")
    line = FORMATS["github"]([f], RunInfo()).rstrip("\n")
    assert parse_github(line) == {("dir,with:odd/x.py", 1, 1, "LL001")}
    assert line.endswith("::LL001 [error] line one%0Aline two 100%25")
    assert "title=lora-lint (LL001 unknown-field)" in line
    assert ",endLine=1,endColumn=2" in line


def test_github_command_per_severity(project):
    _, findings = project
    commands = [line.split(" ", 1)[0] for line in FORMATS["github"](findings, RunInfo()).splitlines()]
    assert sorted(commands) == ["::error", "::notice", "::warning"]


def test_gitlab_code_quality_fields_and_stable_fingerprints(project, monkeypatch):
    root, findings = project
    issues = json.loads(FORMATS["gitlab"](findings, read(findings)))
    for d in issues:
        assert {"description", "check_name", "fingerprint", "severity", "location"} <= set(d)
        assert d["severity"] in {"info", "minor", "major", "critical", "blocker"}
        assert d["description"].startswith(d["check_name"] + ": ")
        assert not d["location"]["path"].startswith(("./", "/"))
    assert {d["check_name"]: d["severity"] for d in issues} == {"LL001": "major", "LL101": "minor", "LL902": "info"}
    assert len({d["fingerprint"] for d in issues}) == 3
    # lines above move: same fingerprints
    (root / "train.py").write_text("# a new first line\n" + TRAIN)
    moved = [Finding(f.code, f.name, f.severity, f.message, f.path,
                     Span(f.span.line + 1, f.span.col, f.span.end_line + 1, f.span.end_col))
             if f.path == "train.py" else f for f in findings]
    again = json.loads(FORMATS["gitlab"](moved, read(moved)))
    assert [d["fingerprint"] for d in again] == [d["fingerprint"] for d in issues]
    # two identical findings still get distinct fingerprints
    twice = json.loads(FORMATS["gitlab"]([findings[1], findings[1]], read(findings)))
    assert twice[0]["fingerprint"] != twice[1]["fingerprint"]
    # paths relative to CI_PROJECT_DIR
    monkeypatch.setenv("CI_PROJECT_DIR", str(root / "configs"))
    paths = {d["location"]["path"] for d in json.loads(FORMATS["gitlab"](findings, RunInfo()))}
    assert "sft.yaml" in paths


def test_junit_counts_failures_but_not_info(project):
    _, findings = project
    root = ET.fromstring(FORMATS["junit"](findings, RunInfo()))
    assert root.tag == "testsuites" and root.get("tests") == "3" and root.get("failures") == "2"
    cases = {c.get("name"): c for c in root.iter("testcase")}
    assert cases["lora-lint.LL001"].find("failure").get("message").startswith("`lora_aplha`")
    assert cases["lora-lint.LL902"].find("failure") is None
    props = {p.get("name"): p.get("value") for p in cases["lora-lint.LL902"].iter("property")}
    assert props == {"severity": "info", "rule": "model-unresolved"}
    empty = ET.fromstring(FORMATS["junit"]([], RunInfo()))
    assert empty.get("failures") == "0" and empty.find(".//testcase").get("name") == "No findings"


def test_full_shows_a_code_frame_and_the_fix_hint(project):
    _, findings = project
    text = FORMATS["full"](findings, read(findings))
    block = text.split("\n\n")[2]  # LL001
    assert block.splitlines() == [
        "LL001 [error] `lora_aplha` is not a field of peft's LoraConfig",
        " --> train.py:4:5",
        "  |",
        "3 |     r=64,",
        "4 |     lora_aplha=16,",
        "  |     ^^^^^^^^^^",
        "5 | )",
        "  |",
        "help: did you mean `lora_alpha`?",
        "  = rule unknown-field: https://github.com/lora-lint/lora-lint/blob/main/rules/LL001.md",
    ]
    assert text.rstrip().endswith("Found 3 findings (1 error, 1 warning, 1 info).")


def test_full_frame_for_stdin_text_and_unreadable_files():
    f = make("LL101", "-", 1, 12, 16, "r=64 without use_rslora")
    info = RunInfo(sources={"-": SourceFile.of_text("-", "LoraConfig(r=64)\n")})
    assert "1 | LoraConfig(r=64)\n  |            ^^^^" in FORMATS["full"]([f], info)
    gone = make("LL101", "/nonexistent/x.py", 1, 1, 2, "m")
    assert " --> /nonexistent/x.py:1:1\n  = rule" in FORMATS["full"]([gone], RunInfo())


def test_split_hint():
    assert split_hint("a; did you mean `b`?") == ("a", "did you mean `b`?")
    assert split_hint("x is wrong: why; give the indices in `y`") == ("x is wrong: why", "give the indices in `y`")
    assert split_hint("scaling 0.25; with use_rslora=True it would be 2") == ("scaling 0.25; with use_rslora=True it would be 2", None)


def test_quiet_drops_the_summary(project):
    _, findings = project
    for fmt in ("concise", "full", "grouped"):
        loud = FORMATS[fmt](findings, RunInfo())
        quiet = FORMATS[fmt](findings, RunInfo(summary=False))
        assert "Found 3 findings" in loud and "Found" not in quiet
        assert FORMATS[fmt]([], RunInfo(summary=False)) == ""


def test_colour_only_when_asked(project):
    _, findings = project
    coloured = FORMATS["concise"](findings, RunInfo(color=True))
    assert "\x1b[" in coloured
    assert re.sub(r"\x1b\[[0-9;]*m", "", coloured) == FORMATS["concise"](findings, RunInfo())

    class Tty:
        def isatty(self):
            return True

    class Pipe:
        def isatty(self):
            return False

    assert use_color(Tty(), {}) and not use_color(Pipe(), {})
    assert not use_color(Tty(), {"NO_COLOR": "1"})
    assert use_color(Pipe(), {"FORCE_COLOR": "1"})
    assert not use_color(Tty(), {"NO_COLOR": "1", "FORCE_COLOR": "1"})


def test_severities_cover_every_level():
    assert {r.severity for r in all_rules().values()} >= {Severity.ERROR, Severity.WARNING, Severity.INFO}


def test_rdjson_columns_are_utf8_bytes_and_fixes_are_suggestions(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "t.py").write_text("from peft import LoraConfig\nx = ('é𐐀', LoraConfig(lora_aplha=16))\n")
    from lora_lint.model import Edit, Fix

    col = "x = ('é𐐀', LoraConfig(".__len__() + 1
    f = Finding("LL001", "unknown-field", Severity.ERROR, "m", "t.py", Span(2, col, 2, col + 10),
                fix=Fix("rename", (Edit(Span(2, col, 2, col + 10), "lora_alpha"),), "safe"))
    data = json.loads(FORMATS["rdjson"]([f], RunInfo(sources={"t.py": SourceFile.of_text(
        "t.py", (tmp_path / "t.py").read_text())})))
    jsonschema.Draft4Validator(rdjson_schema()).validate(data)
    (d,) = data["diagnostics"]
    line = (tmp_path / "t.py").read_text().splitlines()[1]
    start = col + 4  # 'é' is 2 bytes, '𐐀' 4: 4 more bytes than characters
    assert d["location"]["range"] == {"start": {"line": 2, "column": start}, "end": {"line": 2, "column": start + 10}}
    assert line.encode()[start - 1:start + 9] == b"lora_aplha"
    assert d["suggestions"] == [{"range": d["location"]["range"], "text": "lora_alpha"}]
    assert d["severity"] == "ERROR" and d["code"]["url"].endswith("/rules/LL001.md")
    broken = json.loads(json.dumps(data))
    broken["diagnostics"][0]["severity"] = "FATAL"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft4Validator(rdjson_schema()).validate(broken)


def test_azure_escaping_and_info_as_a_plain_line():
    f = make("LL001", "dir;x]/a%b.py", 1, 1, 2, "line one\nline two 100%")
    info = make("LL103", "a.py", 2, 3, 4, "info")
    out = FORMATS["azure"]([f, info], RunInfo()).splitlines()
    assert out[0] == ("##vso[task.logissue type=error;sourcepath=dir%3Bx%5D/a%AZP25b.py;linenumber=1;"
                      "columnnumber=1;code=LL001;]line one%0Aline two 100%AZP25")
    assert parse_azure(out[0]) == {("dir;x]/a%b.py", 1, 1, "LL001")}
    assert out[1] == "a.py:2:3: LL103 [info] info"


def test_junit_is_well_formed_for_any_file_name_and_message(tmp_path, monkeypatch):
    """Control characters (dropped, as ruff does), markup, quotes, newlines and undecodable bytes
    in names and messages: the report parses, with junitparser as CI systems read it."""
    junitparser = pytest.importorskip("junitparser")
    from lora_lint.reporters import output_errors

    monkeypatch.chdir(tmp_path)
    odd = ["a\x01b\x1b[31m.py", "<x & 'y' \"z\">.yaml", "new\nline.py", "bad\udcff.py", "tab\tand\ufffe.json"]
    findings = [make("LL001", p, 1, 1, 2, "msg \x00\x07 <b>&amp;</b> ]]> \x0b end") for p in odd]
    out = tmp_path / "report.xml"
    out.write_text(FORMATS["junit"](findings, RunInfo()), encoding="utf-8", errors=output_errors("junit"))
    xml = junitparser.JUnitXml.fromfile(str(out))
    suites = list(xml)
    assert len(suites) == len(odd)
    names = [s.name for s in suites]
    assert names[0] == "ab[31m.py" and names[1] == "<x & 'y' \"z\">.yaml" and names[2] == "new\nline.py"
    assert "\\udcff" in names[3] and names[4] == "tab\tand.json"
    for suite in suites:
        (case,) = list(suite)
        (result,) = case.result
        assert result.message == "msg  <b>&amp;</b> ]]>  end"
    assert sum(s.failures for s in suites) == len(odd)
