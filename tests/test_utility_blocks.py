"""The Utility Block specs, the reference docs made from them, and the vendor guide's snippets.

The specs in ``utility_blocks/`` are what a Single Window vendor reads instead of the Python code, so they
must say exactly what the XSDs say: every element and attribute, its namespace, type and cardinality.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from xmlschema.validators import XsdAnyElement, XsdElement, XsdGroup

from picexchange.codec import NSMAP
from picexchange.models.envelope import MessageType
from picexchange.schemas import xmlschema_schema
from tools import ubspec

ROOT = Path(__file__).resolve().parents[1]
XS = "http://www.w3.org/2001/XMLSchema"
PREFIXES = {**{uri: prefix for prefix, uri in NSMAP.items()}, XS: "xs", ubspec.NS_DSIG: "ds"}
BASEL = re.compile(r"(V-[AB] \d|Annex V A item \d|Art\. \d)")

Row = tuple[str | None, str, str, str | None]  # namespace prefix, type, cardinality, simple-content type


@pytest.fixture(scope="module")
def generated() -> dict[str, str]:
    return ubspec.render()


@pytest.fixture(scope="module")
def specs() -> dict[str, dict[str, Any]]:
    return ubspec.build_specs()


def _messages(spec: dict[str, Any]) -> list[dict[str, Any]]:
    transport = spec["transport"]
    return [*spec["messages"], transport["envelope"], *transport["replies"]]


# ------------------------------------------------------------------------------------------ generated files


@pytest.mark.parametrize(
    "name",
    ["utility_blocks/pic.json", "utility_blocks/export.json", "docs/reference/pic.md", "docs/reference/export.md"],
)
def test_committed_file_is_what_the_generator_writes(generated: dict[str, str], name: str) -> None:
    """A committed spec or reference page equals its regeneration (run python -m tools.ubspec)."""
    assert name in generated
    assert (ROOT / name).read_text(encoding="utf-8") == generated[name], f"{name} is stale: run python -m tools.ubspec"


def test_generation_is_deterministic(generated: dict[str, str]) -> None:
    """Two runs produce the same bytes, so the committed files never churn."""
    assert ubspec.render() == generated


def test_main_writes_every_file_under_the_root_given(tmp_path: Path, generated: dict[str, str]) -> None:
    """``python -m tools.ubspec ROOT`` writes the specs and docs below ROOT."""
    (tmp_path / "pyproject.toml").write_text("", encoding="utf-8")
    assert ubspec.main([str(tmp_path)]) == 0
    for name, text in generated.items():
        assert (tmp_path / name).read_text(encoding="utf-8") == text


def test_main_refuses_a_directory_that_is_not_the_repository(tmp_path: Path) -> None:
    """Run from the wrong directory, the generator writes nothing and exits 2."""
    assert ubspec.main([str(tmp_path)]) == 2
    assert list(tmp_path.iterdir()) == []


@pytest.mark.timeout(120)
def test_the_generators_run_as_modules_from_the_repository_root(tmp_path: Path, generated: dict[str, str]) -> None:
    """The commands the docs give, ``python -m tools.ubspec`` and ``python -m tools.xsdgen``, work from a checkout
    (the generators are build-time code beside the package, so nothing installed provides them)."""
    (tmp_path / "pyproject.toml").write_text("", encoding="utf-8")
    (tmp_path / "xsd").mkdir()
    for command in (["tools.ubspec", str(tmp_path)], ["tools.xsdgen", str(tmp_path / "xsd")]):
        result = subprocess.run(  # noqa: S603 - this interpreter, our generators
            [sys.executable, "-m", *command], cwd=ROOT, capture_output=True, text=True, check=False, timeout=110
        )
        assert result.returncode == 0, result.stderr
    written = (tmp_path / "utility_blocks" / "pic.json").read_text(encoding="utf-8")
    assert written == generated["utility_blocks/pic.json"]
    assert (tmp_path / "xsd" / "ub-pic.xsd").read_bytes() == (ROOT / "schemas" / "ub-pic.xsd").read_bytes()


def test_spec_files_are_json_of_the_spec(specs: dict[str, dict[str, Any]]) -> None:
    """Each spec file parses as JSON and is the spec of its Utility Block."""
    for block_id, spec in specs.items():
        assert json.loads((ROOT / f"utility_blocks/{block_id}.json").read_text(encoding="utf-8")) == spec
        assert spec["id"] == block_id
        assert spec["namespace"] == f"urn:picexchange:ub:{block_id}:1"


# ------------------------------------------------------------------------------------------ held to the XSD


def _name(clark: str | None) -> str:
    assert clark is not None, "anonymous types are not used by the picexchange schemas"
    namespace, _, local = clark[1:].partition("}")
    return f"{PREFIXES[namespace]}:{local}"


def _cardinality(low: int, high: int | None) -> str:
    symbols = {(1, 1): "1", (0, 1): "?", (0, None): "*", (1, None): "+"}
    if (low, high) in symbols:
        return symbols[(low, high)]
    return f"{low}..{'*' if high is None else high}"


def _times(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a * b


def _particles(group: XsdGroup, low: int, high: int | None) -> Iterator[tuple[Any, int, int | None]]:
    """Yield each element or wildcard of a model group with its effective occurrence bounds."""
    low, high = low * group.min_occurs, _times(high, group.max_occurs)
    choice = group.model == "choice" and len(group) > 1  # any one alternative may be absent
    for particle in group:
        if isinstance(particle, XsdGroup):
            yield from _particles(particle, 0 if choice else low, high)
        else:
            yield particle, 0 if choice else low * particle.min_occurs, _times(high, particle.max_occurs)


def _walk(element: XsdElement, path: str, low: int, high: int | None, namespace: str, out: dict[str, Row]) -> None:
    """Record an element declaration and everything reachable from it.

    Not descended: a reference to another global element (a document of its own: Receipt and Error in the
    Body, ds:Signature) and the Body's lax wildcard, which admits the global elements of the Utility Block's
    namespace — each listed as one Body child.
    """
    xsd_type: Any = element.type  # XsdComplexType or XsdSimpleType; checked with is_complex()
    content = _name(xsd_type.content.name) if xsd_type.is_complex() and xsd_type.has_simple_content() else None
    out[path] = (_name(element.name).partition(":")[0], _name(xsd_type.name), _cardinality(low, high), content)
    if element.ref is not None or not xsd_type.is_complex():
        return
    for name, attribute in xsd_type.attributes.items():
        out[f"{path}/@{name}"] = (None, _name(attribute.type.name), "1" if attribute.use == "required" else "?", None)
    if xsd_type.has_simple_content():
        return
    for particle, inner_low, inner_high in _particles(xsd_type.content, 1, 1):
        if isinstance(particle, XsdAnyElement):
            assert namespace in particle.namespace and particle.process_contents == "lax"
            for clark, document in xmlschema_schema().maps.elements.items():
                if clark.startswith(f"{{{namespace}}}"):
                    out[f"{path}/{document.local_name}"] = (
                        PREFIXES[namespace],
                        _name(document.type.name),
                        _cardinality(inner_low, inner_high),
                        None,
                    )
        else:
            _walk(particle, f"{path}/{particle.local_name}", inner_low, inner_high, namespace, out)


def _xsd_rows(element_clark: str, namespace: str) -> dict[str, Row]:
    element = xmlschema_schema().maps.elements[element_clark]
    out: dict[str, Row] = {}
    _walk(element, f"/{element.local_name}", 1, 1, namespace, out)
    del out[f"/{element.local_name}"]  # the message itself, not one of its data elements
    return out


def _spec_rows(message: dict[str, Any]) -> dict[str, Row]:
    rows: dict[str, Row] = {}
    for row in message["data_elements"]:
        assert row["path"] not in rows, f"{row['path']} is listed twice"
        content = row.get("content")
        rows[row["path"]] = (row["ns"], row["type"], row["cardinality"], content["type"] if content else None)
    return rows


@pytest.mark.parametrize("block_id", ["pic", "export"])
def test_every_message_of_the_spec_matches_its_xsd(specs: dict[str, dict[str, Any]], block_id: str) -> None:
    """Every XSD element and attribute is in the spec and every spec path is in the XSD, alike in form.

    Compared per path: namespace prefix, XSD type, cardinality (choices and extensions included) and the type
    of simple content.
    """
    spec = specs[block_id]
    namespace = spec["namespace"]
    problems = []
    for message in _messages(spec):
        prefix, _, local = message["element"].partition(":")
        in_xsd = _xsd_rows(f"{{{spec['namespaces'][prefix]}}}{local}", namespace)
        in_spec = _spec_rows(message)
        problems += [f"missing from the spec: {path} {in_xsd[path]}" for path in in_xsd.keys() - in_spec.keys()]
        problems += [f"not in the XSD: {path}" for path in in_spec.keys() - in_xsd.keys()]
        problems += [
            f"{path}: spec says {in_spec[path]}, XSD says {in_xsd[path]}"
            for path in in_spec.keys() & in_xsd.keys()
            if in_spec[path] != in_xsd[path]
        ]
    assert problems == []


@pytest.mark.parametrize("block_id", ["pic", "export"])
def test_every_global_element_of_the_ub_schema_is_a_message(specs: dict[str, dict[str, Any]], block_id: str) -> None:
    """The spec describes every document the UB's XSD declares, and no other."""
    spec = specs[block_id]
    declared = {
        element.local_name
        for clark, element in xmlschema_schema().maps.elements.items()
        if clark.startswith(f"{{{spec['namespace']}}}")
    }
    assert {message["name"] for message in spec["messages"]} == declared


def test_the_spec_walk_sees_what_it_must() -> None:
    """The XSD walk itself reaches extensions, choices, attributes and repeated minimums (or it proves nothing)."""
    notification = _xsd_rows("{urn:picexchange:ub:pic:1}Notification", "urn:picexchange:ub:pic:1")
    assert notification["/Notification/Carrier/Name"][:3] == ("cmn", "cmn:TextType", "1")  # from the base type
    assert notification["/Notification/Carrier/TransportMode"][2] == "+"  # from the extension
    assert notification["/Notification/StateConcerned"][2] == "2..*"
    assert notification["/Notification/IntendedQuantity/Tonnes"][:3] == ("cmn", "cmn:QuantityValueType", "?")
    envelope = _xsd_rows("{urn:picexchange:envelope:1}Envelope", "urn:picexchange:ub:export:1")
    assert envelope["/Envelope/Body/ExportData"][2] == "?"
    assert envelope["/Envelope/Body/Receipt"][2] == "?"
    assert "/Envelope/Body/Notification" not in envelope
    assert "/Envelope/Body/Receipt/ReceivedAt" not in envelope


# ------------------------------------------------------------------------------------------ curated content


def test_every_data_element_has_documentation_and_a_basel_block_or_a_reason(
    specs: dict[str, dict[str, Any]],
) -> None:
    """A reader learns from every row what it is and which Basel block it fills, or why there is none."""
    for spec in specs.values():
        for message in _messages(spec):
            for row in message["data_elements"]:
                assert row["documentation"].strip(), row["path"]
                basel = row["basel"]
                assert BASEL.match(basel) or (basel.startswith("— ") and len(basel) > 10), (row["path"], basel)


def test_every_message_type_is_in_exactly_one_utility_block(specs: dict[str, dict[str, Any]]) -> None:
    """Business documents belong to one UB; Receipt and Error are the transport replies of both."""
    business = [message["name"] for spec in specs.values() for message in spec["messages"]]
    replies = {spec_id: [reply["name"] for reply in spec["transport"]["replies"]] for spec_id, spec in specs.items()}
    assert sorted(business) == sorted(set(business))
    assert set(business) == {member.value for member in MessageType} - {"Receipt", "Error"}
    assert replies == {"pic": ["Receipt", "Error"], "export": ["Receipt", "Error"]}


def test_the_process_sends_every_message_between_declared_roles(specs: dict[str, dict[str, Any]]) -> None:
    """Each message is one process step, in order, from and to roles the spec declares."""
    for spec in specs.values():
        roles = {role["id"] for role in spec["roles"]}
        assert [step["message"] for step in spec["process"]] == [m["name"] for m in spec["messages"]]
        assert [step["step"] for step in spec["process"]] == list(range(1, len(spec["process"]) + 1))
        for step in spec["process"]:
            assert step["from"] and step["to"]
            assert set(step["from"]) | set(step["to"]) | set(step["copies"]) <= roles


def test_deadlines_are_those_of_the_rules(specs: dict[str, dict[str, Any]]) -> None:
    """The deadlines MESSAGES.md gives appear on the steps they govern."""
    deadline = {step["message"]: step["deadline"] for spec in specs.values() for step in spec["process"]}
    assert "3 working days" in deadline["Acknowledgement"]
    assert "60 days" in deadline["ConsentDecision"] and "1 year" in deadline["ConsentDecision"]
    assert "3 days of arrival" in deadline["ShipmentReceipt"]
    assert "30 days" in deadline["DisposalCertificate"] and "1 year" in deadline["DisposalCertificate"]


def test_tmw_counterparts(specs: dict[str, dict[str, Any]]) -> None:
    """The UN/CEFACT e-Basel messages ours correspond to are named where there is one (MESSAGES.md)."""
    tmw = {m["name"]: m["tmw"] for spec in specs.values() for m in [*spec["messages"], *spec["transport"]["replies"]]}
    assert tmw["Notification"] == "TMWNotificationSubmissionMessage"
    assert tmw["InformationRequest"] == "TMWFurtherNotificationRequest"
    assert tmw["ConsentDecision"] == "TMWNotificationDecisionMessage"
    assert tmw["ShipmentReceipt"] == "TMWCertificateOfWasteReceiptMessage"
    assert tmw["DisposalCertificate"] == "TMWCertificateOfWasteRecoveryDisposalMessage"
    assert tmw["Receipt"] == "TMWConfirmationOfMessageReceipt"
    assert tmw["ExportData"] is None


def test_wco_ids_of_the_export_data(specs: dict[str, dict[str, Any]]) -> None:
    """ExportData carries the WCO ids MESSAGES.md lists; unconfirmed ones are marked for verification."""
    rows = {row["path"]: row["wco"] for row in specs["export"]["messages"][0]["data_elements"]}
    assert rows["/ExportData/NotificationNumber"]["id"] == "D005"
    assert rows["/ExportData/ExportDeclaration/Ucr"]["id"] == "016"
    assert rows["/ExportData/GoodsItem/HsCode"]["id"] == "145"
    assert rows["/ExportData/Transport/Container/Seal"]["id"] == "165"
    assert rows["/ExportData/Consignee/Name"] == {**rows["/ExportData/Consignee/Name"], "id": "R014", "verify": False}
    assert rows["/ExportData/Exporter/Name"]["verify"] is True
    assert rows["/ExportData/Facility/Name"] is None
    for spec in specs.values():
        for message in _messages(spec):
            for row in message["data_elements"]:
                assert row["wco"] is None or isinstance(row["wco"]["verify"], bool)


def test_wco_ids_of_the_domain_review_and_which_remain_unverified(specs: dict[str, dict[str, Any]]) -> None:
    """T006/T018 (not the passive T026), L010/L009 (not L003), D014 the declaration's reference, 141 Rec 21 only.

    An id the collected WCO tables do not show is marked for verification, so the reference says which ones a
    vendor should not take as confirmed.
    """
    rows = {row["path"]: row["wco"] for row in _data_elements(specs)}
    ids = {path: (wco["id"], wco["verify"]) for path, wco in rows.items() if wco is not None}
    assert ids["/ExportData/Transport/MeansId"] == ("T006", True)
    assert ids["/ExportData/Transport/MeansIdType"] == ("T018", True)
    assert ids["/ExportData/Transport/PlaceOfLoading"] == ("L010", True)
    assert ids["/ExportData/Transport/PlaceOfLoadingName"] == ("L009", True)
    for path in ("/ExportData/ExportDeclaration/DeclarationId", "/ShipmentReceipt/DeclarationId"):
        assert ids[path] == ("D014", True)
    assert "not an LPCO id" in rows["/ExportData/ExportDeclaration/DeclarationId"]["note"]
    assert ids["/ExportData/GoodsItem/Rec21PackageType"] == ("141", False)
    assert rows["/ExportData/GoodsItem/PackagingType"] is None  # the Basel code 1-9 has no WCO id
    assert not {"T026", "L003"} & {wco_id for wco_id, _ in ids.values()}
    unverified = sorted({wco_id for wco_id, verify in ids.values() if verify})
    assert unverified == ["D014", "D029", "L009", "L010", "R031", "R032", "T006", "T018"]
    # The vendor guide names the same ones.
    guide = (Path(__file__).resolve().parent.parent / "docs" / "vendor-guide.md").read_text(encoding="utf-8")
    sentence = " ".join(guide.split("Not yet confirmed against a published", 1)[1].split(".", 1)[0].split())
    assert sorted(set(re.findall(r"\b[A-Z]\d{3}\b", sentence))) == unverified


def _data_elements(specs: dict[str, dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for spec in specs.values():
        for message in _messages(spec):
            yield from message["data_elements"]


def test_a_shared_type_fills_the_block_of_the_element_using_it(specs: dict[str, dict[str, Any]]) -> None:
    """The Party of ExportData's exporter is movement-document block 3, not the notification's blocks."""
    rows = {row["path"]: row["basel"] for row in specs["export"]["messages"][0]["data_elements"]}
    assert rows["/ExportData/Exporter/Name"] == "V-B 3"
    assert rows["/ExportData/Exporter/Address/City"] == "V-B 3"
    assert rows["/ExportData/GoodsItem/WasteIdentification/YCode"] == "V-B 14(vii)"
    notification = {row["path"]: row["basel"] for row in specs["pic"]["messages"][0]["data_elements"]}
    assert notification["/Notification/WasteIdentification/YCode"] == "V-A 14(vii)"
    assert notification["/Notification/StateConcerned/Country"] == "V-A 15(a)"


def test_reference_page_lists_every_data_element(specs: dict[str, dict[str, Any]], generated: dict[str, str]) -> None:
    """The reference page has a row for every data element of every message."""
    for block_id, spec in specs.items():
        page = generated[f"docs/reference/{block_id}.md"]
        for message in _messages(spec):
            assert f"### {message['name']}" in page
            for row in message["data_elements"]:
                assert f"| `{row['path']}` | `{row['cardinality']}` |" in page


# ------------------------------------------------------------------------------------------ vendor guide

_PYTHON_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


def test_vendor_guide_snippets_run(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ```python block of docs/vendor-guide.md runs, in order, in one namespace, from the repository root."""
    guide = (ROOT / "docs/vendor-guide.md").read_text(encoding="utf-8")
    blocks = _PYTHON_BLOCK.findall(guide)
    assert len(blocks) >= 5
    monkeypatch.chdir(ROOT)
    namespace: dict[str, Any] = {"__name__": "vendor_guide"}
    for number, block in enumerate(blocks, start=1):
        code = compile(block, f"docs/vendor-guide.md, python block {number}", "exec")
        exec(code, namespace)  # noqa: S102 - our own documentation, run as a test
