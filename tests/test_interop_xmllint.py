"""xmllint with the driver schema agrees with ``picexchange validate``: the split a vendor's own validator sees.

A vendor validates with ``xmllint --schema schemas/picexchange.xsd`` (or Xerces, or .NET) before sending. On
every sample that split must hold: what picexchange accepts, xmllint accepts; what picexchange refuses at the
schema stage, xmllint refuses at the same lines; what picexchange refuses at the rules stage (rules beyond
XSD 1.0, docs/validation.md), xmllint accepts. ``envelope.xsd`` alone accepts a document broken inside the
Body: that is why the driver exists.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from picexchange import schemas
from tests.system_tools import require

ROOT = Path(__file__).resolve().parent.parent
DRIVER = ROOT / "schemas" / "picexchange.xsd"
ENVELOPE_ONLY = ROOT / "schemas" / "envelope.xsd"
INVALID = ROOT / "samples" / "invalid"
EXPECTED: dict[str, dict[str, Any]] = json.loads((INVALID / "expected.json").read_text("utf-8"))
MESSAGES = ROOT / "samples" / "messages"
VALID_FILES = sorted(MESSAGES.glob("*.xml")) + sorted((ROOT / "samples" / "signed").glob("*.xml"))
SCHEMA_STAGE = sorted(name for name, expected in EXPECTED.items() if expected["stage"] == "schema")
RULES_STAGE = sorted(name for name, expected in EXPECTED.items() if expected["stage"] == "rules")

_VALIDITY_ERROR = re.compile(r"^(?P<file>.+?):(?P<line>[0-9]+): element \S+: Schemas validity error : ")


@dataclass(frozen=True)
class Verdict:
    """What xmllint said about one file."""

    valid: bool
    lines: frozenset[int]
    output: str


def xmllint(schema: Path, files: Iterable[Path]) -> dict[Path, Verdict]:
    """Run xmllint once on ``files`` against ``schema``; return its verdict on each file (no network)."""
    paths = list(files)
    result = subprocess.run(  # noqa: S603 - xmllint from PATH on our own sample files
        [require("xmllint"), "--noout", "--nonet", "--schema", str(schema), *map(str, paths)],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    output = result.stdout + result.stderr
    if "failed to compile" in output:
        pytest.fail(f"xmllint could not compile {schema.name}:\n{output}")
    verdicts = {}
    for path in paths:
        said = [line for line in output.splitlines() if line.startswith(f"{path}:") or line.startswith(f"{path} ")]
        lines = frozenset(int(match["line"]) for line in said if (match := _VALIDITY_ERROR.match(line)))
        valid = f"{path} validates" in said
        assert valid or f"{path} fails to validate" in said, f"no verdict from xmllint for {path.name}:\n{output}"
        verdicts[path] = Verdict(valid=valid, lines=lines, output="\n".join(said))
    return verdicts


@cache
def by_driver() -> dict[Path, Verdict]:
    return xmllint(DRIVER, [*VALID_FILES, *(INVALID / name for name in SCHEMA_STAGE + RULES_STAGE)])


@cache
def by_envelope_only() -> dict[Path, Verdict]:
    return xmllint(ENVELOPE_ONLY, [INVALID / name for name in SCHEMA_STAGE])


def _relative(path: Path) -> str:
    return str(path.relative_to(ROOT))


# --------------------------------------------------------------------------------------------- the split


@pytest.mark.parametrize("path", VALID_FILES, ids=_relative)
def test_xmllint_with_the_driver_accepts_every_valid_sample(path: Path) -> None:
    """Every sample message, signed or not, passes xmllint with the driver, as it passes picexchange."""
    assert schemas.validate(path.read_bytes()).ok
    verdict = by_driver()[path]
    assert verdict.valid, verdict.output


@pytest.mark.parametrize("name", SCHEMA_STAGE)
def test_xmllint_with_the_driver_refuses_every_schema_stage_sample_at_the_same_lines(name: str) -> None:
    """A sample picexchange refuses at the schema stage, xmllint refuses too, at the lines picexchange names."""
    report = schemas.validate((INVALID / name).read_bytes())
    assert report.stage == "schema"
    verdict = by_driver()[INVALID / name]
    assert not verdict.valid, verdict.output
    assert verdict.lines == {issue.line for issue in report.issues}, verdict.output


@pytest.mark.parametrize("name", RULES_STAGE)
def test_xmllint_accepts_what_only_the_rules_stage_refuses(name: str) -> None:
    """A rule beyond XSD 1.0 (dates in order, a check digit, a code valid on the day) passes xmllint.

    picexchange refuses the sample at the rules stage, with the rule ids docs/validation.md lists; a vendor
    whose own validator says "valid" must still apply those rules (or run ``picexchange validate``).
    """
    report = schemas.validate((INVALID / name).read_bytes())
    assert report.stage == "rules"
    assert all(issue.rule_id not in (None, "xsd", "model") for issue in report.issues)
    verdict = by_driver()[INVALID / name]
    assert verdict.valid, verdict.output


def test_the_split_covers_the_invalid_corpus() -> None:
    """The invalid samples hold both kinds, so the split above is not vacuous."""
    assert len(SCHEMA_STAGE) >= 8
    assert len(RULES_STAGE) >= 8


# ----------------------------------------------------------------------------------- why the driver exists


@pytest.mark.parametrize("name", SCHEMA_STAGE)
def test_envelope_xsd_alone_does_not_check_inside_the_body(name: str) -> None:
    """envelope.xsd alone accepts every sample broken inside the Body's document; the driver refuses each.

    Its Body is a lax wildcard and it imports no Utility Block: it checks the routing (the header, one
    document in the Body) and nothing the document says.
    """
    inside_document = all(wanted["path"].count("/") >= 4 for wanted in EXPECTED[name]["issues"])
    inside_document &= all(wanted["path"].startswith("/Envelope/Body/") for wanted in EXPECTED[name]["issues"])
    verdict = by_envelope_only()[INVALID / name]
    assert verdict.valid == inside_document, verdict.output
    assert not by_driver()[INVALID / name].valid


def test_envelope_xsd_alone_misses_most_schema_errors() -> None:
    """At least half of the schema-stage samples pass envelope.xsd alone (the warning in the docs is real)."""
    missed = [name for name in SCHEMA_STAGE if by_envelope_only()[INVALID / name].valid]
    assert len(missed) * 2 >= len(SCHEMA_STAGE), missed


def _with_body_document_renamed(tmp_path: Path, name: str) -> Path:
    source = MESSAGES / "plastic-au-my-03-acknowledgement.xml"
    text = source.read_text("utf-8").replace("pic:Acknowledgement>", f"pic:{name}>")
    assert f"<pic:{name}>" in text
    path = tmp_path / f"body-{name}.xml"
    path.write_text(text, "utf-8")
    return path


def test_the_driver_refuses_an_element_of_a_utility_block_that_is_not_a_document(tmp_path: Path) -> None:
    """pic:Website in the Body: the lax envelope accepts it, the driver's strict Body and picexchange refuse it."""
    path = _with_body_document_renamed(tmp_path, "Website")
    assert xmllint(ENVELOPE_ONLY, [path])[path].valid
    verdict = xmllint(DRIVER, [path])[path]
    assert not verdict.valid
    assert "strict wildcard" in verdict.output
    for engine in ("lxml", "xmlschema"):  # libxml2 through the driver; xmlschema by decoding the lax Body
        report = schemas.validate(path.read_bytes(), engine=engine)
        assert report.stage == "schema"
        assert [(issue.line, issue.path) for issue in report.issues] == [(15, "/Envelope/Body/Website")]
        assert report.issues[0].text.startswith("unexpected element Website")
    assert verdict.lines == {15}


def test_the_driver_refuses_an_element_of_another_namespace_in_the_body(tmp_path: Path) -> None:
    """A document of a namespace that is no Utility Block is refused by both schemas and by picexchange."""
    source = MESSAGES / "plastic-au-my-03-acknowledgement.xml"
    text = source.read_text("utf-8").replace("<pic:Acknowledgement>", '<x:Acknowledgement xmlns:x="urn:example">')
    path = tmp_path / "foreign.xml"
    path.write_text(text.replace("</pic:Acknowledgement>", "</x:Acknowledgement>"), "utf-8")
    assert not xmllint(ENVELOPE_ONLY, [path])[path].valid
    assert not xmllint(DRIVER, [path])[path].valid
    assert schemas.validate(path.read_bytes()).stage == "schema"


def _bare_documents(tmp_path: Path) -> Iterator[Path]:
    parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)
    for source in sorted(MESSAGES.glob("max-*.xml")):
        body = etree.parse(str(source), parser).getroot().find("{urn:picexchange:envelope:1}Body")
        assert body is not None
        document = body[0]
        path = tmp_path / f"bare-{source.name}"
        path.write_bytes(etree.tostring(document, xml_declaration=True, encoding="UTF-8"))
        yield path


def test_the_driver_validates_a_bare_business_document(tmp_path: Path) -> None:
    """The Body's document on its own (a pic:Notification as root) validates against the driver, as in picexchange."""
    paths = list(_bare_documents(tmp_path))
    assert len(paths) == 14
    for path, verdict in xmllint(DRIVER, paths).items():
        assert schemas.validate(path.read_bytes()).ok, path.name
        assert verdict.valid, verdict.output
