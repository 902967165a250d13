"""docs/validation.md says what the code does: the rules beyond XSD, the parse bounds, the commands that run.

A vendor builds their own validation from this page. The rule table is held to the rules the models can
report (found in the source, so a new rule without a row fails here), the bounds to :class:`picexchange.Limits`,
the xmllint transcript to what xmllint prints, and the Java program is run with the JDK.
"""

from __future__ import annotations

import ast
import dataclasses
import json
import re
import subprocess
from functools import cache
from pathlib import Path

import pytest
from lxml import etree

from picexchange import codec, schemas
from tests.system_tools import require

ROOT = Path(__file__).resolve().parent.parent
PAGE = (ROOT / "docs" / "validation.md").read_text(encoding="utf-8")
MODELS = ROOT / "src" / "picexchange" / "models"
DRIVER = ROOT / "schemas" / "picexchange.xsd"
INVALID = ROOT / "samples" / "invalid"
EXPECTED = json.loads((INVALID / "expected.json").read_text("utf-8"))
XS = "{http://www.w3.org/2001/XMLSchema}"


def _section(title: str) -> str:
    return PAGE.split(f"\n## {title}\n", 1)[1].split("\n## ", 1)[0]


def _table(title: str) -> list[list[str]]:
    rows = [line for line in _section(title).splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in row.strip("|").split("|")] for row in rows[1:]]


def _block(language: str) -> str:
    blocks = re.findall(rf"^```{language}\n(.*?)^```", PAGE, re.MULTILINE | re.DOTALL)
    assert len(blocks) == 1, f"expected one {language} block in docs/validation.md"
    return str(blocks[0])


# ------------------------------------------------------------------------------------ rules beyond XSD 1.0


def _call_name(call: ast.Call) -> str | None:
    if isinstance(call.func, ast.Name):
        return call.func.id
    return call.func.attr if isinstance(call.func, ast.Attribute) else None


def _calls(node: ast.AST) -> list[ast.Call]:
    return [child for child in ast.walk(node) if isinstance(child, ast.Call)]


def _rule_id(call: ast.Call) -> ast.expr:
    found = [keyword.value for keyword in call.keywords if keyword.arg == "rule_id"]
    assert len(found) == 1, f"Rule(...) without rule_id= at line {call.lineno}"
    return found[0]


@cache
def rules_in_code() -> frozenset[tuple[str, str]]:
    """Return (XSD type, rule id) for every ``Rule(...)`` a model can report, read from the models' source.

    A class reports the ids of the ``Rule`` calls in its body, and those of the module-level helpers it
    calls: a helper's literal ids, and the value of the argument a helper passes on as ``rule_id``
    (``specify_violations(..., block="V-A 7")``). Anything else (an id computed at run time) fails here,
    because the table could not be checked.
    """
    trees = [ast.parse(path.read_text("utf-8")) for path in sorted(MODELS.glob("*.py"))]
    helpers: dict[str, tuple[set[str], set[str]]] = {}
    for tree in trees:
        for function in tree.body:
            if not isinstance(function, ast.FunctionDef):
                continue
            literal: set[str] = set()
            passed_on: set[str] = set()
            for call in _calls(function):
                if _call_name(call) == "Rule":
                    value = _rule_id(call)
                    if isinstance(value, ast.Constant) and isinstance(value.value, str):
                        literal.add(value.value)
                    else:
                        assert isinstance(value, ast.Name), f"{function.name}: a rule id computed at run time"
                        passed_on.add(value.id)
            if literal or passed_on:
                helpers[function.name] = (literal, passed_on)
    found: set[tuple[str, str]] = set()
    for tree in trees:
        for cls in tree.body:
            if not isinstance(cls, ast.ClassDef):
                continue
            for call in _calls(cls):
                name = _call_name(call)
                if name == "Rule":
                    value = _rule_id(call)
                    assert isinstance(value, ast.Constant), f"{cls.name}: a rule id computed at run time"
                    found.add((f"{cls.name}Type", str(value.value)))
                elif name in helpers:
                    literal, passed_on = helpers[name]
                    found |= {(f"{cls.name}Type", rule_id) for rule_id in literal}
                    for keyword in call.keywords:
                        if keyword.arg in passed_on:
                            assert isinstance(keyword.value, ast.Constant), f"{cls.name}: {name}({keyword.arg}=?)"
                            found.add((f"{cls.name}Type", str(keyword.value.value)))
    return frozenset(found)


def rules_in_page() -> set[tuple[str, str]]:
    return {(row[1].strip("`"), row[0].strip("`")) for row in _table("Rules beyond XSD 1.0")}


def test_the_scan_finds_the_rules_it_must() -> None:
    """The source scan sees direct rules, helper rules and rule ids passed to a helper (not a vacuous scan)."""
    found = rules_in_code()
    assert ("NotificationType", "V-A 6") in found  # Rule(...) in the class
    assert ("ExportDataType", "code-validity") in found  # a helper's literal id
    assert ("ExportDataType", "V-A 15") in found  # a helper in another module (route_violations)
    assert ("GoodsItemType", "V-B 7") in found  # an id passed to a helper
    assert len(found) >= 35


def test_every_rule_the_models_report_is_listed_with_its_type() -> None:
    """Each (type, rule id) the rules stage can produce has a row in docs/validation.md, and each row is real."""
    in_page = rules_in_page()
    in_code = rules_in_code()
    assert in_code - in_page == set(), "rules missing from docs/validation.md"
    assert in_page - in_code == set(), "rows of docs/validation.md that no model reports"


def test_every_type_the_rule_table_names_is_in_the_schemas() -> None:
    """The table's second column names complex types a vendor finds in the XSDs."""
    declared = {
        node.get("name")
        for name in ("common.xsd", "envelope.xsd", "ub-pic.xsd", "ub-export.xsd")
        for node in etree.parse(str(ROOT / "schemas" / name)).getroot().iter(f"{XS}complexType")
    }
    assert {xsd_type for xsd_type, _ in rules_in_page()} - declared == set()


@pytest.mark.parametrize("name", sorted(n for n, e in EXPECTED.items() if e["stage"] == "rules"))
def test_a_rules_stage_refusal_carries_a_listed_rule_id(name: str) -> None:
    """What validate reports at the rules stage names a rule id the page lists."""
    report = schemas.validate((INVALID / name).read_bytes())
    assert report.stage == "rules"
    listed = {rule_id for _, rule_id in rules_in_page()}
    assert {issue.rule_id for issue in report.issues} <= listed


# ------------------------------------------------------------------------------------------- parse bounds


def test_the_parse_bounds_are_the_defaults_of_limits() -> None:
    """The bounds table lists every field of Limits with its default value."""
    documented = {row[0].strip("`"): int(row[1].split()[0]) for row in _table("Parse bounds to mirror")}
    defaults = {field.name: field.default for field in dataclasses.fields(codec.Limits)}
    assert documented == defaults


# ---------------------------------------------------------------------------------------------- commands


def test_the_xmllint_transcript_is_what_xmllint_prints() -> None:
    """Each command of the console block, run from the repository root, prints the lines shown under it."""
    require("xmllint")
    transcript = _section("xmllint").split("```console\n", 1)[1].split("```", 1)[0]
    commands = re.split(r"^\$ ", transcript, flags=re.MULTILINE)[1:]
    assert len(commands) == 2
    for command in commands:
        line, *shown = command.rstrip("\n").split("\n")
        arguments = line.split()
        assert arguments[:5] == ["xmllint", "--noout", "--nonet", "--schema", "schemas/picexchange.xsd"]
        result = subprocess.run(  # noqa: S603 - the documented xmllint command on our own samples
            [require("xmllint"), *arguments[1:]], cwd=ROOT, capture_output=True, text=True, check=False, timeout=60
        )
        assert (result.stdout + result.stderr).splitlines() == shown


def test_the_vendor_guide_ends_with_the_section_on_own_tools() -> None:
    """The guide's last section sends vendors here and warns that envelope.xsd alone skips the Body."""
    guide = (ROOT / "docs" / "vendor-guide.md").read_text(encoding="utf-8")
    last = guide.rsplit("\n## ", 1)[1]
    assert last.split("\n", 1)[0].endswith("Validating with your own tools")
    assert "(validation.md)" in last
    assert "xmllint --noout --nonet --schema schemas/picexchange.xsd" in last


@pytest.fixture(scope="module")
def validate_java(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Return Validate.java, written from the page's java block."""
    path = tmp_path_factory.mktemp("java") / "Validate.java"
    path.write_text(_block("java"), encoding="utf-8")
    return path


def _java(program: Path, message: Path) -> tuple[int, str]:
    result = subprocess.run(  # noqa: S603 - the JDK's source launcher on the documented program
        [require("java"), str(program), str(DRIVER), str(message)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    return result.returncode, result.stdout + result.stderr


@pytest.mark.parametrize(
    "sample", ["samples/messages/max-export-data.xml", "samples/signed/plastic-au-my-01-notification.xml"]
)
def test_the_java_program_accepts_a_valid_message(validate_java: Path, sample: str) -> None:
    """Xerces in the JDK, loading the driver as documented, accepts a valid message, signed or not."""
    code, output = _java(validate_java, ROOT / sample)
    assert (code, output.strip()) == (0, f"{ROOT / sample} validates")


@pytest.mark.parametrize("name", ["quantity-in-kilograms.xml", "unknown-element.xml", "doctype.xml"])
def test_the_java_program_refuses_what_picexchange_refuses_at_its_line(validate_java: Path, name: str) -> None:
    """A schema error and a DOCTYPE are refused by the Java program at the line picexchange names."""
    code, output = _java(validate_java, INVALID / name)
    line = EXPECTED[name]["issues"][0]["line"]
    assert code == 1, output
    assert output.startswith(f"{INVALID / name}:{line}: "), output


def test_the_java_program_refuses_an_undeclared_document_in_the_body(validate_java: Path, tmp_path: Path) -> None:
    """The driver's strict Body holds in Xerces too: pic:Website where a document belongs is refused."""
    source = (ROOT / "samples" / "messages" / "plastic-au-my-03-acknowledgement.xml").read_text("utf-8")
    message = tmp_path / "website.xml"
    message.write_text(source.replace("pic:Acknowledgement>", "pic:Website>"), "utf-8")
    code, output = _java(validate_java, message)
    assert code == 1
    assert "pic:Website" in output and "strict" in output, output
