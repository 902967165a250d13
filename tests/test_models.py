"""The models are the XSDs' Python face: same elements, same cardinalities, same closed code lists."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from pathlib import Path
from typing import Any

import pydantic
import pytest
from lxml import etree

from picexchange import codec, codes, resources, schemas
from picexchange.codec import document_classes
from picexchange.errors import MessageError, SchemaError
from picexchange.models.base import NS_ENVELOPE, XmlModel, binding
from picexchange.models.common import FormQuantity, Mass, WasteIdentification
from picexchange.models.envelope import Body, Envelope, Receipt
from picexchange.models.export import Container, ExportData, iso6346_check_digit
from picexchange.models.pic import ConsentDecision, MovementAnnouncement, Notification
from tools import xsdgen

XS = "{http://www.w3.org/2001/XMLSchema}"


def test_committed_xsds_are_what_the_models_generate() -> None:
    """Editing a model without regenerating the XSDs (python -m tools.xsdgen) fails here."""
    for name, text in xsdgen.generate().items():
        committed = (resources.schema_dir() / name).read_bytes()
        assert committed == text, f"schemas/{name} is stale: run python -m tools.xsdgen"


def _model_paths(cls: type[XmlModel], prefix: str, out: dict[str, tuple[int, bool]]) -> None:
    for item in binding(cls):
        if item.kind == "text":
            continue
        if item.model is not None and item.model.xml_root and cls is Body:
            continue  # documents are walked as roots of their own
        path = f"{prefix}/@{item.local_name}" if item.kind == "attribute" else f"{prefix}/{item.local_name}"
        out[path] = (item.min_occurs, item.repeated)
        if item.model is not None:
            _model_paths(item.model, path, out)


def _xsd_paths(xsd_type: Any, prefix: str, out: dict[str, tuple[int, bool]]) -> None:
    for name, attribute in getattr(xsd_type, "attributes", {}).items():
        if name is None:
            continue
        out[f"{prefix}/@{attribute.local_name}"] = (1 if attribute.use == "required" else 0, False)
    content = getattr(xsd_type, "content", None)
    if content is None or not hasattr(content, "iter_elements"):
        return
    for element in content.iter_elements():
        if not hasattr(element, "local_name") or element.local_name is None:
            continue  # the Body's wildcard: its documents are roots of their own
        if element.target_namespace == "http://www.w3.org/2000/09/xmldsig#":
            continue  # ds:Signature belongs to signing, not to the models
        path = f"{prefix}/{element.local_name}"
        out[path] = (element.min_occurs, element.max_occurs is None or element.max_occurs > 1)
        _xsd_paths(element.type, path, out)


def test_every_xsd_element_and_attribute_is_carried_by_the_models_and_back() -> None:
    """Walk every global document of the XSDs; each element and attribute has a model field, same cardinality."""
    schema = schemas.xmlschema_schema()
    for tag, cls in document_classes().items():
        element = schema.maps.elements[tag]
        in_xsd: dict[str, tuple[int, bool]] = {}
        _xsd_paths(element.type, f"/{cls.__name__}", in_xsd)
        in_models: dict[str, tuple[int, bool]] = {}
        _model_paths(cls, f"/{cls.__name__}", in_models)
        if cls is Envelope:
            # The Body's choice: Receipt and Error are declared in the envelope schema; the rest are lax.
            in_xsd = {p: c for p, c in in_xsd.items() if not p.startswith("/Envelope/Body/")}
            in_models = {p: c for p, c in in_models.items() if not p.startswith("/Envelope/Body/")}
        assert set(in_xsd) - set(in_models) == set(), f"XSD elements without a model field in {cls.__name__}"
        assert set(in_models) - set(in_xsd) == set(), f"model fields missing from the XSD in {cls.__name__}"
        for path, cardinality in in_xsd.items():
            assert in_models[path] == cardinality, f"{path}: XSD {cardinality} vs model {in_models[path]}"
        assert len(in_xsd) > 2


def test_body_wildcard_admits_exactly_the_business_documents() -> None:
    """The Body holds Receipt or Error from the envelope namespace, or one document of a Utility Block."""
    envelope = etree.parse(str(resources.schema_dir() / "envelope.xsd")).getroot()
    body = envelope.find(f"{XS}complexType[@name='BodyType']")
    assert body is not None
    choice = body.find(f"{XS}choice")
    assert choice is not None
    refs = [child.get("ref") for child in choice if child.tag == f"{XS}element"]
    wildcard = choice.find(f"{XS}any")
    assert refs == ["env:Receipt", "env:Error"]
    assert wildcard is not None
    assert set(wildcard.get("namespace", "").split()) == {"urn:picexchange:ub:pic:1", "urn:picexchange:ub:export:1"}
    documents = {tag for tag in document_classes() if not tag.startswith(f"{{{NS_ENVELOPE}}}")}
    assert len(documents) == 12


def test_the_driver_makes_the_body_strict_over_exactly_the_documents() -> None:
    """picexchange.xsd redefines the Body as envelope.xsd's with a strict wildcard over the same namespaces.

    A strict wildcard admits any global element of those namespaces, so the Utility Blocks must declare no
    global element but their documents: then the driver admits exactly the documents the models decode.
    """
    driver = etree.parse(str(resources.schema_dir() / resources.DRIVER_XSD)).getroot()
    assert driver.get("targetNamespace") == NS_ENVELOPE  # xs:redefine requires the redefined namespace
    redefine = driver.find(f"{XS}redefine")
    assert redefine is not None and redefine.get("schemaLocation") == "envelope.xsd"
    restriction = redefine.find(f"{XS}complexType[@name='BodyType']/{XS}complexContent/{XS}restriction")
    assert restriction is not None and restriction.get("base") == "env:BodyType"
    wildcard = restriction.find(f"{XS}choice/{XS}any")
    assert wildcard is not None and wildcard.get("processContents") == "strict"
    lax = etree.parse(str(resources.schema_dir() / "envelope.xsd")).getroot().find(f".//{XS}any")
    assert lax is not None and wildcard.get("namespace") == lax.get("namespace")
    imported = {node.get("namespace") for node in driver.findall(f"{XS}import")}
    assert imported == set(wildcard.get("namespace", "").split())
    global_elements = set()
    for name in ("ub-pic.xsd", "ub-export.xsd"):
        root = etree.parse(str(resources.schema_dir() / name)).getroot()
        namespace = root.get("targetNamespace")
        global_elements |= {f"{{{namespace}}}{node.get('name')}" for node in root.findall(f"{XS}element")}
    documents = {tag for tag in document_classes() if not tag.startswith(f"{{{NS_ENVELOPE}}}")}
    assert global_elements == documents


@pytest.mark.parametrize("name", ["common.xsd", "envelope.xsd", "ub-pic.xsd", "ub-export.xsd", "picexchange.xsd"])
def test_every_declaration_is_documented(name: str) -> None:
    """Vendors read the XSDs: every element, attribute and type carries xs:documentation."""
    root = etree.parse(str(resources.schema_dir() / name)).getroot()
    undocumented = [
        node.get("name") or node.get("ref")
        for node in root.iter(f"{XS}element", f"{XS}attribute", f"{XS}complexType", f"{XS}simpleType")
        if node.find(f"{XS}annotation/{XS}documentation") is None
    ]
    assert undocumented == []


@pytest.mark.parametrize("cls_name", ["Notification", "ExportData", "MovementAnnouncement"])
def test_form_based_documents_cite_their_basel_block(cls_name: str) -> None:
    """Documents that transcribe a Basel form name the block of every field (V-A n / V-B n / Annex V A)."""
    cls = {c.__name__: c for c in document_classes().values()}[cls_name]
    uncited = [
        item.field for item in binding(cls) if not any(ref in item.doc for ref in ("V-A", "V-B", "Annex V A", "WCO"))
    ]
    assert uncited == []


def test_xsds_are_xsd_1_0_and_compile_in_both_engines() -> None:
    """No XSD 1.1 constructs: libxml2 (XSD 1.0 only) compiles them, and so does xmlschema's 1.0 validator."""
    for name in ("common.xsd", "envelope.xsd", "ub-pic.xsd", "ub-export.xsd", "picexchange.xsd"):
        text = (resources.schema_dir() / name).read_bytes()
        for construct in (b"xs:assert", b"xs:alternative", b"xs:openContent", b"xs:override"):
            assert construct not in text
        etree.XMLSchema(etree.parse(str(resources.schema_dir() / name)))
    assert schemas.xmlschema_schema().XSD_VERSION == "1.0"


# ---------------------------------------------------------------------------------------------- code lists


@pytest.mark.parametrize("list_id", codes.LIST_IDS)
def test_code_list_names_its_source_and_version(list_id: str) -> None:
    listing = codes.code_list(list_id)
    assert listing.source and listing.version and listing.title
    assert len(listing) >= 4
    assert all(entry.label for entry in listing)


def test_closed_code_lists_are_enumerations_in_the_xsd() -> None:
    """A code the model refuses is refused by the XSD too, and every listed code is allowed by both."""
    common = etree.parse(str(resources.schema_dir() / "common.xsd")).getroot()
    for type_name, list_id in (
        ("YCodeType", "basel-annex-i-ii"),
        ("HCodeType", "basel-annex-iii"),
        ("OperationCodeType", "basel-annex-iv"),
        ("BaselCodeType", "basel-annex-viii-ix"),
        ("CountryCodeType", "iso-3166-1"),
        ("PackagingTypeCodeType", "basel-packaging"),
        ("PhysicalCharacteristicCodeType", "basel-physical"),
        ("TransportModeCodeType", "basel-transport"),
        ("UnClassType", "un-class"),
    ):
        node = common.find(f"{XS}simpleType[@name='{type_name}']")
        assert node is not None, type_name
        values = [e.get("value") for e in node.iter(f"{XS}enumeration")]
        assert values == [entry.code for entry in codes.code_list(list_id)]
    # Units are UN/ECE Rec 20 codes, narrowed to what each quantity may use (V-A 5: tonnes or m³).
    units = {entry.code for entry in codes.code_list("unece-rec20")}
    for type_name in ("NotifiedUnitType", "MassUnitType"):
        node = common.find(f"{XS}simpleType[@name='{type_name}']")
        assert node is not None
        assert {e.get("value") for e in node.iter(f"{XS}enumeration")} <= units


def test_code_validity_follows_the_basel_amendments() -> None:
    """Y48/A3210/B3011 from 2021 (BC-14/12); A1180 and B1110 end and A1181/Y49 start in 2025 (BC-15/18)."""
    annex = codes.code_list("basel-annex-viii-ix")
    y_codes = codes.code_list("basel-annex-i-ii")
    assert not y_codes["Y48"].valid_on(dt.date(2020, 12, 31))
    assert y_codes["Y48"].valid_on(dt.date(2021, 1, 1))
    assert y_codes["Y49"].valid_on(dt.date(2025, 1, 1)) and not y_codes["Y49"].valid_on(dt.date(2024, 12, 31))
    assert annex["A3210"].valid_on(dt.date(2021, 1, 1)) and not annex["A3210"].valid_on(dt.date(2020, 6, 1))
    assert annex["A1180"].valid_on(dt.date(2024, 12, 31)) and not annex["A1180"].valid_on(dt.date(2025, 1, 1))
    assert annex["A1181"].valid_on(dt.date(2025, 1, 1)) and not annex["A1181"].valid_on(dt.date(2024, 12, 31))
    assert not annex["B1110"].valid_on(dt.date(2025, 1, 1))
    assert annex["B3011"].valid_on(dt.date(2026, 1, 1))
    assert codes.code_list("basel-annex-iii")["H6.1"].extra["un_class"] == "6.1"
    assert codes.code_list("basel-transport")["S"].extra["rec19"] == "1"


# ---------------------------------------------------------------------------------------------- model rules


def _issues(exc: MessageError) -> list[str]:
    """Return each problem as "rule id: text" for a cross-field rule, else its text."""
    return [f"{i.rule_id}: {i.text}" if i.rule_id not in (None, "model") else i.text for i in exc.issues]


def test_waste_must_be_identified_by_a_basel_oecd_or_y_code() -> None:
    with pytest.raises(MessageError) as caught:
        WasteIdentification(hs_code=("391590",))
    assert _issues(caught.value) == [
        "V-A 14: the waste must be identified by at least one BaselCode, OecdCode or YCode"
    ]
    assert WasteIdentification(y_code=("Y48",), hs_code=("391590",)).y_code == ("Y48",)


def test_closed_lists_and_patterns_are_enforced_by_the_models() -> None:
    with pytest.raises(MessageError) as caught:
        WasteIdentification(y_code=("Y99",), hs_code=("39159",))
    issues = _issues(caught.value)
    assert "'Y99' is not a Basel Annex I/II code" in issues
    assert "'39159' is not a valid HS code (6 to 10 digits)" in issues


def test_consent_rules_need_validity_conditions_and_reasons() -> None:
    base: dict[str, Any] = {
        "notification_number": "AU2026/0042",
        "role": "import",
        "country": "MY",
        "competent_authority": "MY:DOE",
        "decision_id": "DOE-KA-2026-0042",
        "decided_on": "2026-12-01",
    }
    with pytest.raises(MessageError) as caught:
        ConsentDecision.model_validate(
            {**base, "decision": "consent-with-conditions", "valid_from": "2027-02-01", "valid_until": "2027-01-01"}
        )
    assert _issues(caught.value) == [
        "V-A 20: consent valid until 2027-01-01 ends before it starts on 2027-02-01",
        "V-A 21: a consent with conditions must list its conditions",
    ]
    with pytest.raises(MessageError) as caught:
        ConsentDecision.model_validate({**base, "decision": "objection"})
    assert _issues(caught.value) == ["V-A 21: an objection must give its reasons"]
    objection = ConsentDecision.model_validate({**base, "decision": "objection", "reason": ["No permit for R3"]})
    assert objection.valid_until is None


def test_models_are_frozen_and_refuse_unknown_fields() -> None:
    mass = Mass(value=Decimal("12.5"))
    with pytest.raises(pydantic.ValidationError):  # assignment to a frozen model: pydantic's own error
        mass.value = Decimal(1)  # type: ignore[misc]
    with pytest.raises(SchemaError) as caught:
        Mass.model_validate({"value": "1", "weight": "2"})
    assert caught.value.issues[0].text == "unknown element weight"


def test_wrap_fills_message_type_and_utility_block_and_checks_the_header() -> None:
    receipt = Receipt(
        ref_to_message_id=uuid.UUID(int=1),
        received_digest={"value": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="},  # type: ignore[arg-type]
        received_at=dt.datetime(2026, 11, 25, tzinfo=dt.UTC),
    )
    envelope = Envelope.wrap(
        receipt,
        message_id=uuid.UUID(int=2),
        ref_to_message_id=uuid.UUID(int=1),
        conversation_id="AU2026/0042",
        sender="MY:DOE",
        receiver="AU:DCCEEW",
        utility_block="pic",
        created=dt.datetime(2026, 11, 25, tzinfo=dt.UTC),
    )
    assert envelope.header.message_type.value == "Receipt"
    assert envelope.document is receipt
    with pytest.raises(MessageError) as caught:
        Envelope.wrap(
            receipt,
            message_id=uuid.UUID(int=2),
            ref_to_message_id=uuid.UUID(int=3),
            conversation_id="AU2026/0042",
            sender="MY:DOE",
            receiver="MY:DOE",
            utility_block="pic",
            created=dt.datetime(2026, 11, 25, tzinfo=dt.UTC),
        )
    assert _issues(caught.value) == [
        "envelope: sender and receiver are the same",
        "envelope: the header must refer to the message the Receipt answers",
    ]


def test_created_needs_a_time_zone() -> None:
    with pytest.raises(MessageError) as caught:
        Receipt.model_validate(
            {
                "ref_to_message_id": str(uuid.UUID(int=1)),
                "received_digest": {"value": "47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="},
                "received_at": "2026-11-25T10:00:00",
            }
        )
    assert "date and time with time zone" in str(caught.value)


# ------------------------------------------------------------------------------------------ model fidelity

_SAMPLES = Path(__file__).resolve().parent.parent / "samples" / "messages"


def _sample(name: str) -> Any:
    return codec.from_xml((_SAMPLES / name).read_bytes(), Envelope).document


def _rules(model: type[XmlModel], data: dict[str, Any]) -> list[str]:
    with pytest.raises(MessageError) as caught:
        model.model_validate(data)
    return _issues(caught.value)


@pytest.mark.parametrize(
    ("container", "digit"),
    [("CSQU3054383", None), ("SMCU4417307", None), ("SMCU4417305", 7), ("PMLU7702230", 5), ("TRLR12345", None)],
)
def test_iso_6346_check_digits_are_checked_on_container_numbers(container: str, digit: int | None) -> None:
    """A freight container number must carry its ISO 6346 check digit; other equipment ids are taken as they are."""
    if digit is None:
        assert Container(id=container).id == container
        return
    assert iso6346_check_digit(container) == digit
    assert _rules(Container, {"id": container}) == [
        f"ISO 6346: container number {container} has check digit {container[10]}; ISO 6346 gives {digit} "
        f"({container[:10]}{digit})"
    ]


@pytest.mark.parametrize("code", ["GC010", "AA010", "RB020", "EU48", "EU3011", "GH013"])
def test_oecd_box_takes_oecd_and_eu_codes(code: str) -> None:
    """V-A 14(ii): OECD Part II codes and the EU's own codes (EU48, EU3011) both go in this box."""
    assert WasteIdentification(oecd_code=code, hs_code=("391590",)).oecd_code == code


@pytest.mark.parametrize("code", ["gc010", "G010", "EU30111", "B3011X"])
def test_oecd_box_refuses_what_is_no_such_code(code: str) -> None:
    with pytest.raises(MessageError):
        WasteIdentification(oecd_code=code, hs_code=("391590",))


def test_a_quantity_needs_tonnes_or_cubic_metres_and_may_have_both() -> None:
    """V-A 5: the form has a box for tonnes (Mg) and one for m³; one of them at least."""
    assert FormQuantity(tonnes=Decimal("1.5"), cubic_metres=Decimal(4)).by_unit() == {
        "TNE": Decimal("1.5"),
        "MTQ": Decimal(4),
    }
    assert _rules(FormQuantity, {}) == ["V-A 5: a quantity needs tonnes or cubic metres (or both)"]


def test_other_specify_texts_go_exactly_with_their_codes() -> None:
    """Packaging 9 and physical characteristic 7 need their text; the text without its code is refused."""
    notification = _sample("plastic-au-my-01-notification.xml").model_dump()
    assert notification["packaging_type"] == ("9",) and notification["other_packaging"]
    assert _rules(Notification, {**notification, "other_packaging": None}) == [
        "V-A 7: packaging type 9 (other, specify) needs the other packaging that says what it is"
    ]
    assert _rules(Notification, {**notification, "other_physical_characteristic": "lumps"}) == [
        "V-A 13: other physical characteristic is given only with physical characteristic 7 (other, specify)"
    ]
    assert _rules(Notification, {**notification, "physical_characteristic": ("2", "7")}) == [
        "V-A 13: physical characteristic 7 (other, specify) needs the other physical characteristic that says what "
        "it is"
    ]


def test_reason_for_export_is_required_and_carriers_only_if_known() -> None:
    """Annex V A item 1 (Basel requires the reason); item 5: intended carriers "if known"."""
    notification = _sample("plastic-au-my-01-notification.xml").model_dump()
    assert Notification.model_validate({**notification, "carrier": ()}).carrier == ()
    with pytest.raises(SchemaError) as caught:
        Notification.model_validate({**notification, "reason_for_export": None})
    assert [issue.path for issue in caught.value.issues] == ["/Notification/ReasonForExport"]


def test_customs_passage_dates_and_transit_states_must_fit_the_shipment() -> None:
    """V-B 20-22: exit on or after shipment, entry after exit, transit offices only of transit States."""
    export = _sample("ewaste-th-kr-jp-08-export-data.xml").model_dump()
    passage = export["customs_passage"]
    early = {**passage, "exit_date": dt.date(2026, 8, 1), "entry_date": dt.date(2026, 7, 30)}
    assert _rules(ExportData, {**export, "customs_passage": early}) == [
        "V-B 21: the waste entered the State of import on 2026-07-30, before it left the State of export on 2026-08-01"
    ]
    late_exit = {**passage, "exit_date": dt.date(2026, 8, 1)}
    assert _rules(ExportData, {**export, "customs_passage": late_exit}) == [
        "V-B 20: the waste left the State of export on 2026-08-01, before it was shipped on 2026-08-05"
    ]
    stranger = {**passage, "transit": ({"country": "CN", "entry_office": "CNSHA"},)}
    assert _rules(ExportData, {**export, "customs_passage": stranger}) == [
        "V-B 22: CN is not a State of transit on the route (KR)"
    ]


def test_the_announcement_is_planned_data() -> None:
    """MovementAnnouncement's blocks say they are planned, in the names and in the XSD documentation."""
    announcement = binding(MovementAnnouncement)
    assert "planned_quantity" in {item.field for item in announcement}
    assert "planned" in (MovementAnnouncement.__doc__ or "")
    xsd = (resources.schema_dir() / "ub-pic.xsd").read_text()
    assert "Planned quantity of this shipment" in xsd


def test_the_means_crossing_the_border_and_the_place_of_loading_are_coded() -> None:
    """WCO T006 is given with its type T018; L010 is a UN/LOCODE and L009 the place's name in words."""
    export = _sample("ewaste-th-kr-jp-08-export-data.xml").model_dump()
    transport = export["transport"]
    assert (transport["means_id"], transport["means_id_type"]) == ("9312456", "10")  # an IMO number
    assert _rules(ExportData, {**export, "transport": {**transport, "means_id": None}}) == [
        "WCO T006: MeansIdType is given but MeansId is not"
    ]
    named = {**transport, "place_of_loading_name": "Laem Chabang, berth B5"}
    loaded = ExportData.model_validate({**export, "transport": named}).transport
    assert loaded is not None and (loaded.place_of_loading, loaded.place_of_loading_name) == (
        "THLCH",
        "Laem Chabang, berth B5",
    )
    with pytest.raises(SchemaError) as caught:
        ExportData.model_validate({**export, "transport": {**transport, "place_of_loading": "Laem Chabang"}})
    assert [issue.path for issue in caught.value.issues] == ["/ExportData/Transport/PlaceOfLoading"]


def test_a_goods_item_keeps_the_basel_packaging_code_and_may_add_the_rec21_code() -> None:
    """WCO 141 takes UN/ECE Rec 21 codes: the Basel code (1-9) stays, the Rec 21 code is given beside it."""
    export = _sample("ewaste-th-kr-jp-08-export-data.xml").model_dump()
    item = export["goods_item"][0]
    bags = ExportData.model_validate({**export, "goods_item": ({**item, "rec21_package_type": "43"},)})
    assert (bags.goods_item[0].packaging_type, bags.goods_item[0].rec21_package_type) == ("5", "43")
    for wrong in ("bag", "5", "d1"):
        with pytest.raises(SchemaError) as caught:
            ExportData.model_validate({**export, "goods_item": ({**item, "rec21_package_type": wrong},)})
        assert caught.value.issues[0].path == "/ExportData/GoodsItem/Rec21PackageType"
        assert "UN/ECE Rec 21 package type code" in caught.value.issues[0].text


def test_the_announcement_may_leave_its_planned_carriers_out() -> None:
    """V-B 8 in a MovementAnnouncement is planned and "if known", as in the notification (Annex V A item 5)."""
    announcement = _sample("ewaste-th-kr-jp-07-movement-announcement.xml").model_dump()
    assert announcement["carrier"]
    assert MovementAnnouncement.model_validate({**announcement, "carrier": ()}).carrier == ()
