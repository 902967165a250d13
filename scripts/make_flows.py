"""Write the packaged sample flows: ``src/picexchange/data/flows/<flow>/flow.toml`` and its message files.

Run from the repository root with the project's virtual environment:

    .venv/bin/python scripts/make_flows.py

A flow is a PIC case played between Single Windows: its manifest (``flow.toml``: the Single Windows and the
participants each hosts, the steps in order with the simulated day each is sent on, and what each step must
lead to) and one envelope per message, built here from the picexchange models so that the files stay valid
when the models change. ``picexchange replay`` sends them with fresh message ids and Created stamps, so the
ids and times written here are placeholders (UUID 5 of the file's name, midnight UTC of its day).
``tests/test_flows.py`` checks that this script's output is what is committed.

The parties and documents reuse the sample corpus's (``scripts/make_samples.py``), with the waste and the
decisions each State's published policy allows; each manifest's ``based_on`` says what the flow rests on.
"""

from __future__ import annotations

import datetime as dt
import json
import sys
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from make_samples import (  # noqa: E402
    AU_EXPORTER,
    AU_HAULIER,
    AU_MRF,
    DIW,
    EWASTE,
    EWASTE_DECLARATION,
    JP_CUSTOMS,
    JP_MOE,
    JP_SMELTER,
    KR_ME,
    MY_HAULIER,
    MY_PET_RECYCLER,
    SG_SHIPPING_LINE,
    TH_CUSTOMS,
    carrier,
    ewaste_export_data,
    ewaste_notification,
    facility,
    form_tonnes,
    generator,
    kebab,
    kilograms,
    shipment_carrier,
    tonnes,
)

from picexchange import codec  # noqa: E402
from picexchange.models.common import Address, CustomsOffices, Party, Role, StateConcerned, WasteIdentification  # noqa: E402
from picexchange.models.envelope import Document, Envelope  # noqa: E402
from picexchange.models.export import (  # noqa: E402
    ClearanceResult,
    ClearanceStatus,
    Container,
    CustomsPassage,
    DisposalCertificate,
    ExportData,
    ExportDeclaration,
    Finding,
    GoodsItem,
    ShipmentReceipt,
    Transport,
    TransportMeansIdType,
    iso6346_check_digit,
)
from picexchange.models.pic import (  # noqa: E402
    Acknowledgement,
    ConsentDecision,
    ConsentingRole,
    ConsentWithdrawal,
    Contract,
    Decision,
    Declaration,
    InformationRequest,
    InformationResponse,
    Insurance,
    MovementAnnouncement,
    Notification,
    NotificationCancellation,
    OperationKind,
    ShipmentMode,
)

ROOT = Path(__file__).resolve().parents[1]
FLOWS = ROOT / "src" / "picexchange" / "data" / "flows"

_ID_NAMESPACE = uuid.UUID("0f4c2a57-3c1d-4d8e-a2b6-5e0d9c7f1a32")

DCCEEW, ABF, DOE, RMCD = "AU:DCCEEW", "AU:ABF", "MY:DOE", "MY:RMCD"
AU_MY = {"AU": (DCCEEW, ABF), "MY": (DOE, RMCD)}


def container(owner_and_serial: str) -> Container:
    """Return a container whose ISO 6346 number is ``owner_and_serial`` (``MSCU618342``) plus its check digit."""
    return Container(id=f"{owner_and_serial}{iso6346_check_digit(owner_and_serial)}")


# ------------------------------------------------------------------------------------------ the flow builder


@dataclass
class Step:
    """One step of a flow as its manifest writes it."""

    name: str
    day: int
    sender: str
    receiver: str
    message: str | None = None
    via: str | None = None
    tamper: bool = False
    redeliver: int | None = None
    answers: int | None = None
    expect: dict[str, Any] = field(default_factory=dict)


@dataclass
class Flow:
    """A flow being written: its manifest's head, its steps and its message files."""

    name: str
    title: str
    based_on: str
    notification: str
    start: dt.date
    single_windows: Mapping[str, tuple[str, ...]]
    waived_written_consent: Mapping[str, int] = field(default_factory=dict)
    steps: list[Step] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)

    def send(
        self,
        document: Document,
        *,
        name: str,
        day: int,
        sender: str,
        receiver: str,
        via: str | None = None,
        tamper: bool = False,
        answers: int | None = None,
        **expect: Any,
    ) -> int:
        """Add a step that sends ``document``; return its number (1-based)."""
        number = len(self.steps) + 1
        file_name = f"{number:02d}-{kebab(type(document).__name__)}.xml"
        envelope = Envelope.wrap(
            document,
            message_id=uuid.uuid5(_ID_NAMESPACE, f"{self.name}/{file_name}"),
            conversation_id=self.notification,
            sender=sender,
            receiver=receiver,
            created=dt.datetime.combine(self.start + dt.timedelta(days=day), dt.time(), tzinfo=dt.UTC),
        )
        self.files[file_name] = codec.to_xml(envelope)
        self.steps.append(
            Step(
                name=name,
                day=day,
                sender=sender,
                receiver=receiver,
                message=file_name,
                via=via,
                tamper=tamper,
                answers=answers,
                expect=dict(expect),
            )
        )
        return number

    def redeliver(self, step: int, *, name: str, day: int, **expect: Any) -> int:
        """Add a step that posts the signed bytes of step ``step`` to its receiver again."""
        original = self.steps[step - 1]
        self.steps.append(
            Step(
                name=name,
                day=day,
                sender=original.sender,
                receiver=original.receiver,
                redeliver=step,
                expect=dict(expect),
            )
        )
        return len(self.steps)

    def manifest(self) -> str:
        """Return the flow's ``flow.toml``."""
        lines = [
            "# Generated by scripts/make_flows.py from the picexchange models: edit the script, not this file.",
            f"name = {_toml(self.name)}",
            f"title = {_toml(self.title)}",
            f"based_on = {_toml(self.based_on)}",
            f"notification = {_toml(self.notification)}",
            f"start = {self.start.isoformat()}",
            "",
            "[single_windows]",
            *(f"{country} = {_toml(list(hosts))}" for country, hosts in self.single_windows.items()),
        ]
        if self.waived_written_consent:
            lines += ["", "[waived_written_consent]"]
            lines += [f"{_toml(who)} = {days}" for who, days in self.waived_written_consent.items()]
        for step in self.steps:
            lines += ["", "[[step]]", f"name = {_toml(step.name)}", f"day = {step.day}"]
            lines += [f"from = {_toml(step.sender)}", f"to = {_toml(step.receiver)}"]
            if step.message is not None:
                lines.append(f"message = {_toml(step.message)}")
            if step.redeliver is not None:
                lines.append(f"redeliver = {step.redeliver}")
            if step.via is not None:
                lines.append(f"via = {_toml(step.via)}")
            if step.tamper:
                lines.append("tamper = true")
            if step.answers is not None:
                lines.append(f"answers = {step.answers}")
            for key, value in step.expect.items():
                lines.append(f"expect.{key} = {_toml(value)}")
        return "\n".join(lines) + "\n"


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{key} = {_toml(item)}" for key, item in value.items()) + " }"
    raise TypeError(f"no TOML for {value!r}")


# ------------------------------------------------------------------------------------------ plastic AU -> MY

#: Washed PET flakes, single polymer, whose residual labels and caps put them outside B3011: Y48 (Annex II).
PET_FLAKES = WasteIdentification(y_code=("Y48",), hs_code=("391590",))
PLASTIC_ROUTE = (
    StateConcerned(role=Role.EXPORT, country="AU", competent_authority=DCCEEW, exit_point="AUMEL"),
    StateConcerned(role=Role.IMPORT, country="MY", competent_authority=DOE, entry_point="MYPKG"),
)
PLASTIC_BASIS = (
    "Australia: Recycling and Waste Reduction Act 2020 and the Export-Waste Plastic Rules 2021: since 1 July 2022 "
    "only processed single-polymer plastic (flakes, pellets) leaves Australia, under a DCCEEW export licence; "
    "whole baled bottles do not. Basel plastic waste amendments (in force 1 January 2021): PET flakes whose "
    "residual labels and caps put them outside B3011 are Y48 (Annex II) and need the written consent of "
    "Malaysia's Department of Environment (Art. 6; Environmental Quality Act 1974, s. 34B), to a facility it "
    "approved; the Royal Malaysian Customs Department clears the containers at Port Klang. Competent authorities: "
    "AU Department of Climate Change, Energy, the Environment and Water (AU:DCCEEW); MY Department of Environment "
    "(MY:DOE). Customs: Australian Border Force (AU:ABF), Royal Malaysian Customs Department (MY:RMCD)."
)


def pet_notification(number: str, *, shipments: int, quantity: str, first: dt.date, last: dt.date) -> Notification:
    """Return a general notification of washed PET flakes (Y48) from Dandenong South to Klang."""
    return Notification(
        notification_number=number,
        shipment_mode=ShipmentMode.MULTIPLE,
        operation_kind=OperationKind.RECOVERY,
        preconsented_facility=False,
        exporter=AU_EXPORTER,
        importer=MY_PET_RECYCLER,
        intended_shipments=shipments,
        intended_quantity=form_tonnes(quantity),
        first_departure=first,
        last_departure=last,
        packaging_type=("5",),
        special_handling=False,
        carrier=(carrier(AU_HAULIER, "R"), carrier(SG_SHIPPING_LINE, "S"), carrier(MY_HAULIER, "R")),
        generator=(
            generator(
                AU_MRF,
                site="Clayton South materials recovery facility, 40 Fraser Road, Clayton South VIC 3169",
                process="PET beverage bottles sorted from kerbside recycling are ground and hot-washed to flakes "
                "on site (processing required for export since July 2022).",
            ),
        ),
        facility=facility(
            MY_PET_RECYCLER,
            kind=OperationKind.RECOVERY,
            actual_site="Lot 12, Jalan Sungai Puloh, Kawasan Perindustrian Sungai Puloh, 42100 Klang, Selangor",
        ),
        operation=("R3",),
        technology="Float-sink separation of PP/PE cap and label fragments, second hot wash, decontamination and "
        "extrusion into food-grade rPET pellets.",
        reason_for_export="No food-grade PET decontamination line in Victoria with capacity for this volume.",
        waste_designation="Washed PET flakes, single polymer, with residual cap and label fragments",
        composition="PET 96%, PP/PE cap and label fragments 3%, moisture 1%; no other wastes.",
        physical_characteristic=("2",),
        waste_identification=PET_FLAKES,
        state_concerned=PLASTIC_ROUTE,
        customs_offices=CustomsOffices(entry_office="MYPKG", exit_office="AUMEL", export_office="AUMEL"),
        declaration=Declaration(
            declarant_name="Priya Natarajan", declared_on=first - dt.timedelta(days=40), contract_in_place=True
        ),
        insurance=Insurance(
            insurer="Harbourside Mutual Insurance Ltd",
            policy_reference="HMI-ENV-2026-9114",
            cover="Environmental liability including return of the waste, AUD 5 000 000 per occurrence",
            valid_until=last + dt.timedelta(days=60),
        ),
        contract=Contract(reference="SCP-KVPR-2026-02", concluded_on=first - dt.timedelta(days=60)),
    )


def pet_export_data(
    number: str,
    serial: int,
    *,
    total: int,
    edn: str,
    shipped: dt.date,
    containers: tuple[str, ...],
    net_kg: str,
    hs_code: str = "391590",
) -> ExportData:
    """Return the export data of shipment ``serial``: one goods item of PET flakes in bulk bags."""
    net_tonnes = str(Decimal(net_kg) / 1000)
    gross_kg = str(Decimal(net_kg) + 24 * 18)  # 24 bulk bags of 18 kg each
    return ExportData(
        notification_number=number,
        shipment_serial=serial,
        total_shipments=total,
        export_declaration=ExportDeclaration(
            declaration_id=edn,
            accepted_on=dt.datetime.combine(shipped - dt.timedelta(days=2), dt.time(3, 0), tzinfo=dt.UTC),
            export_office="AUMEL",
        ),
        exporter=AU_EXPORTER,
        consignee=MY_PET_RECYCLER,
        facility=MY_PET_RECYCLER,
        actual_quantity=form_tonnes(net_tonnes),
        actual_shipment_date=shipped,
        expected_arrival=shipped + dt.timedelta(days=13),
        operation=("R3",),
        carrier=(
            shipment_carrier(AU_HAULIER, "R", shipped - dt.timedelta(days=3)),
            shipment_carrier(SG_SHIPPING_LINE, "S", shipped),
        ),
        transport=Transport(
            mode="S",
            means_id="9795610",
            means_id_type=TransportMeansIdType.IMO_NUMBER,
            container=tuple(container(item) for item in containers),
            place_of_loading="AUMEL",
            place_of_unloading="MYPKG",
        ),
        customs_passage=CustomsPassage(exit_office="AUMEL", exit_date=shipped, entry_office="MYPKG"),
        state_concerned=PLASTIC_ROUTE,
        goods_item=(
            GoodsItem(
                item_number=1,
                hs_code=hs_code,
                description="Washed PET flakes in bulk bags, single polymer, for recycling",
                waste_identification=PET_FLAKES.model_copy(update={"hs_code": (hs_code,)}),
                net_mass=kilograms(net_kg),
                gross_mass=kilograms(gross_kg),
                quantity=tonnes(net_tonnes),
                packaging_type="5",
                package_count=24,
            ),
        ),
    )


def consented(flow: Flow, *, shipments: int, quantity: str, valid_until: dt.date | None = None) -> int:
    """Add the notification, Malaysia's acknowledgement and its consent (days 0, 2, 16); return the first step."""
    start = flow.start
    valid_from = start + dt.timedelta(days=18)
    notified = flow.send(
        pet_notification(
            flow.notification,
            shipments=shipments,
            quantity=quantity,
            first=start + dt.timedelta(days=28),
            last=start + dt.timedelta(days=360),
        ),
        name="AU:DCCEEW notifies MY:DOE",
        day=0,
        sender=DCCEEW,
        receiver=DOE,
        **{"case.state": "notified", "case.blocked": True},
    )
    flow.send(
        Acknowledgement(
            notification_number=flow.notification,
            country="MY",
            competent_authority=DOE,
            notification_received_on=start,
            acknowledged_on=start + dt.timedelta(days=2),
            complete=True,
        ),
        name="MY:DOE acknowledges the notification as complete",
        day=2,
        sender=DOE,
        receiver=DCCEEW,
        answers=notified,
    )
    flow.send(
        ConsentDecision(
            notification_number=flow.notification,
            role=ConsentingRole.IMPORT,
            country="MY",
            competent_authority=DOE,
            decision_id=f"DOE-KA-{flow.notification[-4:]}",
            decision=Decision.CONSENT,
            decided_on=start + dt.timedelta(days=16),
            valid_from=valid_from,
            valid_until=valid_until or valid_from + dt.timedelta(days=364),
        ),
        name="MY:DOE consents to the import from day 18; no shipment may leave before the first departure, day 28",
        day=16,
        sender=DOE,
        receiver=DCCEEW,
        answers=notified,
        **{"case.decisions": {"MY": "consented"}, "case.blocked": True},
    )
    return notified


def shipment(
    flow: Flow,
    serial: int,
    *,
    day: int,
    total: int,
    net_kg: str,
    containers: tuple[str, ...],
    **expect: Any,
) -> int:
    """Add the export data of shipment ``serial`` from AU:ABF to MY:RMCD on ``day``; return its step."""
    return flow.send(
        pet_export_data(
            flow.notification,
            serial,
            total=total,
            edn=f"AA{serial}K{flow.notification[-4:]}X",
            shipped=flow.start + dt.timedelta(days=day),
            containers=containers,
            net_kg=net_kg,
        ),
        name=f"AU:ABF sends the export data of shipment {serial} to MY:RMCD",
        day=day,
        sender=ABF,
        receiver=RMCD,
        **expect,
    )


def received_and_recovered(flow: Flow, serial: int, *, day: int, net_kg: str) -> None:
    """Add Malaysia's receipt (``day``) and certificate of recovery (``day`` + 32) of shipment ``serial``.

    The shipments before it are taken to be recycled already.
    """
    done = ["disposed"] * (serial - 1)
    received = form_tonnes(str((Decimal(net_kg) - 40) / 1000))
    flow.send(
        ShipmentReceipt(
            notification_number=flow.notification,
            shipment_serial=serial,
            declaration_id=f"AA{serial}K{flow.notification[-4:]}X",
            received_on=flow.start + dt.timedelta(days=day),
            accepted=True,
            quantity_received=received,
            expected_treatment_date=flow.start + dt.timedelta(days=day + 28),
            operation="R3",
            facility=MY_PET_RECYCLER,
        ),
        name=f"MY:DOE confirms receipt of shipment {serial}",
        day=day,
        sender=DOE,
        receiver=DCCEEW,
        **{"case.shipments": [*done, "received"]},
    )
    flow.send(
        DisposalCertificate(
            notification_number=flow.notification,
            shipment_serial=serial,
            completed_on=flow.start + dt.timedelta(days=day + 30),
            operation="R3",
            facility=MY_PET_RECYCLER,
            quantity_treated=tonnes(str(received.tonnes)),
        ),
        name=f"MY:DOE certifies the recycling of shipment {serial}",
        day=day + 32,
        sender=DOE,
        receiver=DCCEEW,
        **{"case.shipments": [*done, "disposed"]},
    )


def plastic_flow() -> Flow:
    """Return the plastic flow: three shipments of PET flakes, each received and recycled."""
    flow = Flow(
        name="plastic-au-my",
        title="Plastic waste (Y48 PET flakes), Australia to Malaysia: three shipments, receipts, certificates",
        based_on=PLASTIC_BASIS,
        notification="AU2026-0107",
        start=dt.date(2026, 2, 2),
        single_windows=AU_MY,
    )
    consented(flow, shipments=3, quantity="60")
    loads = (
        ("19840", ("MSCU618342", "MSCU618357")),
        ("19920", ("CMAU402817", "CMAU402822")),
        ("19760", ("MSCU623019", "MSCU623024")),
    )
    for serial, (net_kg, boxes) in enumerate(loads, start=1):
        day = 30 + 55 * (serial - 1)
        flow.send(
            MovementAnnouncement(
                notification_number=flow.notification,
                shipment_serial=serial,
                total_shipments=3,
                planned_departure=flow.start + dt.timedelta(days=day),
                expected_arrival=flow.start + dt.timedelta(days=day + 13),
                planned_quantity=form_tonnes(str(Decimal(net_kg) / 1000)),
                packaging_type=("5",),
                package_count=24,
                carrier=(carrier(AU_HAULIER, "R"), carrier(SG_SHIPPING_LINE, "S"), carrier(MY_HAULIER, "R")),
                operation=("R3",),
                waste_identification=PET_FLAKES,
            ),
            name=f"AU:DCCEEW announces shipment {serial}",
            day=day - 5,
            sender=DCCEEW,
            receiver=DOE,
        )
        exported = shipment(
            flow,
            serial,
            day=day,
            total=3,
            net_kg=net_kg,
            containers=boxes,
            **{"case.shipments_used": serial, "case.blocked": False},
        )
        if serial == 1:
            flow.send(
                ClearanceResult(
                    notification_number=flow.notification,
                    shipment_serial=1,
                    declaration_id=f"AA1K{flow.notification[-4:]}X",
                    status=ClearanceStatus.RELEASED,
                    decided_on=dt.datetime.combine(flow.start + dt.timedelta(days=day + 13), dt.time(2), dt.UTC),
                    customs_office="MYPKG",
                    finding=(Finding(rule_id="consent-valid", text="Shipment 1 of 3 is covered by MY:DOE's consent."),),
                ),
                name="MY:RMCD releases shipment 1 at Port Klang",
                day=day + 13,
                sender=RMCD,
                receiver=ABF,
                answers=exported,
            )
        received_and_recovered(flow, serial, day=day + 14, net_kg=net_kg)
    flow.steps[-1].expect.update({"case.state": "notified", "case.shipments_used": 3})
    return flow


# ------------------------------------------------------------------------------------------ what goes wrong


def port_hopping_flow() -> Flow:
    """Return export data that names a notification no State ever received (a port-hopping attempt)."""
    flow = Flow(
        name="port-hopping",
        title="Export data with no notification behind it (port-hopping): refused in Australia, held in Malaysia",
        based_on=(
            "Basel Art. 9(1)(a): a movement without notification to all States concerned is illegal traffic. "
            "INTERPOL, Strategic analysis report: emerging criminal trends in the global plastic waste market "
            "since January 2018 (2020): shipments re-routed through third ports under false declarations. The "
            "number AU2026-0391 was never notified; the declaration is the kind a broker lodges after a "
            "container was turned away elsewhere. AU:ABF's Single Window refuses it; sent straight to MY:RMCD (as "
            "a Single Window that does not check cases would), Malaysia receipts it and holds the shipment."
        ),
        notification="AU2026-0391",
        start=dt.date(2026, 5, 4),
        single_windows=AU_MY,
    )
    document = pet_export_data(
        flow.notification,
        1,
        total=1,
        edn="AB7R2M4QX",
        shipped=flow.start,
        containers=("TGHU771204",),
        net_kg="21300",
    )
    flow.send(
        document,
        name="AU:ABF's own Single Window refuses the export data: no such case",
        day=0,
        sender=ABF,
        receiver=RMCD,
        outcome="refused",
        error="case-violation",
        rules=["export.case.unknown"],
    )
    flow.send(
        document,
        name="The export data sent straight to MY:RMCD is receipted and held",
        day=0,
        sender=ABF,
        receiver=RMCD,
        via="partner",
        clearance="held",
        findings=["export.case.unknown"],
        **{"case.state": "awaited", "case.shipments": ["held"]},
    )
    return flow


def quantity_flow() -> Flow:
    """Return a case whose third shipment would take more than the notified 60 tonnes."""
    flow = Flow(
        name="quantity-exceeded",
        title="Quantity exceeded on the third shipment: refused in Australia, held in Malaysia",
        based_on=(
            "Basel Art. 6(9) and Annex V-A 5: the consent covers the notified quantity (60 t in 3 shipments); "
            "Art. 9(1)(d): a shipment that does not conform in a material way with the documents is illegal "
            "traffic."
            " Waste, parties and authorities as in plastic-au-my."
        ),
        notification="AU2026-0188",
        start=dt.date(2026, 3, 2),
        single_windows=AU_MY,
    )
    consented(flow, shipments=3, quantity="60")
    shipment(flow, 1, day=30, total=3, net_kg="19960", containers=("MSCU630115",), **{"case.shipments_used": 1})
    shipment(flow, 2, day=58, total=3, net_kg="19980", containers=("MSCU631208",), **{"case.shipments_used": 2})
    third = pet_export_data(
        flow.notification,
        3,
        total=3,
        edn="AA3K0188X",
        shipped=flow.start + dt.timedelta(days=86),
        containers=("MSCU632301",),
        net_kg="21240",
    )
    flow.send(
        third,
        name="AU:ABF's Single Window refuses shipment 3: 61.18 t of 60 t",
        day=86,
        sender=ABF,
        receiver=RMCD,
        outcome="refused",
        error="case-violation",
        rules=["export.quantity.exceeded"],
    )
    flow.send(
        third,
        name="Shipment 3 sent straight to MY:RMCD is receipted and held",
        day=86,
        sender=ABF,
        receiver=RMCD,
        via="partner",
        clearance="held",
        findings=["export.quantity.exceeded"],
    )
    return flow


def withdrawn_flow() -> Flow:
    """Return a case whose consent Malaysia withdraws after the first shipment."""
    flow = Flow(
        name="consent-withdrawn",
        title="Consent withdrawn mid-way: the next shipment is refused and held",
        based_on=(
            "Basel Art. 6(3) and the Basel guidance on the implementation of PIC: a State of import may withdraw "
            "its consent; no movement may start without a valid consent. Malaysia's DOE withdraws after the "
            "first shipment's flakes arrive with far more label and cap fragments than notified."
            " Waste, parties and authorities as in plastic-au-my."
        ),
        notification="AU2026-0215",
        start=dt.date(2026, 4, 6),
        single_windows=AU_MY,
    )
    consented(flow, shipments=4, quantity="80")
    shipment(flow, 1, day=30, total=4, net_kg="19900", containers=("CMAU410036",))
    flow.send(
        ConsentWithdrawal(
            notification_number=flow.notification,
            role=ConsentingRole.IMPORT,
            country="MY",
            competent_authority=DOE,
            decision_id="DOE-KA-0215",
            withdrawn_on=flow.start + dt.timedelta(days=48),
            effective_from=flow.start + dt.timedelta(days=48),
            reason=("Shipment 1 held 11% cap and label fragments against the 3% notified.",),
        ),
        name="MY:DOE withdraws its consent",
        day=48,
        sender=DOE,
        receiver=DCCEEW,
        answers=1,
        **{"case.decisions": {"MY": "withdrawn"}, "case.blocked": True},
    )
    second = pet_export_data(
        flow.notification,
        2,
        total=4,
        edn="AA2K0215X",
        shipped=flow.start + dt.timedelta(days=60),
        containers=("CMAU411010",),
        net_kg="19940",
    )
    flow.send(
        second,
        name="AU:ABF's Single Window refuses shipment 2",
        day=60,
        sender=ABF,
        receiver=RMCD,
        outcome="refused",
        error="case-violation",
        rules=["pic.consent.withdrawn"],
    )
    flow.send(
        second,
        name="Shipment 2 sent straight to MY:RMCD is receipted and held",
        day=60,
        sender=ABF,
        receiver=RMCD,
        via="partner",
        clearance="held",
        findings=["pic.consent.withdrawn"],
    )
    return flow


def cancelled_flow() -> Flow:
    """Return a case the exporting State cancels; a later declaration is refused and held."""
    flow = Flow(
        name="notification-cancelled",
        title="Cancelled notification: no shipment may start after the cancellation",
        based_on=(
            "Basel Art. 6 and Annex V-A: a notification the State of export cancels covers no further "
            "movement. DCCEEW cancels after the exporter's export licence lapses."
            " Waste, parties and authorities as in plastic-au-my."
        ),
        notification="AU2026-0244",
        start=dt.date(2026, 6, 1),
        single_windows=AU_MY,
    )
    consented(flow, shipments=4, quantity="80")
    shipment(flow, 1, day=30, total=4, net_kg="19880", containers=("MSCU640427",))
    flow.send(
        NotificationCancellation(
            notification_number=flow.notification,
            cancelled_on=flow.start + dt.timedelta(days=40),
            reason=("The exporter's licence under the Recycling and Waste Reduction Act 2020 lapsed.",),
        ),
        name="AU:DCCEEW cancels the notification",
        day=40,
        sender=DCCEEW,
        receiver=DOE,
        **{"case.state": "cancelled", "case.blocked": True},
    )
    second = pet_export_data(
        flow.notification,
        2,
        total=4,
        edn="AA2K0244X",
        shipped=flow.start + dt.timedelta(days=45),
        containers=("MSCU641506",),
        net_kg="19900",
    )
    flow.send(
        second,
        name="AU:ABF's Single Window refuses shipment 2",
        day=45,
        sender=ABF,
        receiver=RMCD,
        outcome="refused",
        error="case-violation",
        rules=["pic.notification.cancelled"],
    )
    flow.send(
        second,
        name="Shipment 2 sent straight to MY:RMCD is receipted and held",
        day=45,
        sender=ABF,
        receiver=RMCD,
        via="partner",
        clearance="held",
        findings=["pic.notification.cancelled"],
    )
    return flow


def duplicate_flow() -> Flow:
    """Return a case whose export data arrives twice: receipted again, counted once."""
    flow = Flow(
        name="duplicate-delivery",
        title="A duplicate delivery: the same signed bytes again get the same receipt and count once",
        based_on=(
            "The exchange's delivery rule (docs/gateway.md): a sender retries until it holds a signed receipt, so "
            "a receiver must take the same message again without acting twice."
            " Waste, parties and authorities as in plastic-au-my."
        ),
        notification="AU2026-0263",
        start=dt.date(2026, 2, 9),
        single_windows=AU_MY,
    )
    consented(flow, shipments=2, quantity="40")
    first = shipment(flow, 1, day=30, total=2, net_kg="19850", containers=("CMAU420118",))
    flow.redeliver(
        first,
        name="The export data of shipment 1 is delivered again",
        day=31,
        **{"case.shipments_used": 1, "case.shipments": ["exported"]},
    )
    return flow


def tampered_flow() -> Flow:
    """Return a case whose export data is changed after it was signed: a signed Error, nothing stored."""
    flow = Flow(
        name="tampered-message",
        title="A tampered message: the net mass changed after signing is refused with a signed Error",
        based_on=(
            "The envelope's enveloped XMLDSig signature covers the whole message; a broker who lowers the "
            "declared mass after Customs signed it breaks the digest."
            " Waste, parties and authorities as in plastic-au-my."
        ),
        notification="AU2026-0277",
        start=dt.date(2026, 2, 16),
        single_windows=AU_MY,
    )
    consented(flow, shipments=2, quantity="40")
    flow.send(
        pet_export_data(
            flow.notification,
            1,
            total=2,
            edn="AA1K0277X",
            shipped=flow.start + dt.timedelta(days=30),
            containers=("MSCU650212",),
            net_kg="19870",
        ),
        name="Shipment 1, its net mass changed after signing, is refused",
        day=30,
        sender=ABF,
        receiver=RMCD,
        via="partner",
        tamper=True,
        outcome="refused",
        error="signature",
        **{"case.shipments_used": 0},
    )
    return flow


def expired_flow() -> Flow:
    """Return a case whose consent ends before the last shipment leaves."""
    flow = Flow(
        name="consent-expired",
        title="Consent expired before the last shipment: refused in Australia, held in Malaysia",
        based_on=(
            "Basel Art. 6(9) and Annex V-A: the consent is valid for the period it states; Malaysia's DOE gave "
            "six months (a State may give less than the year a general notification allows)."
            " Waste, parties and authorities as in plastic-au-my."
        ),
        notification="AU2026-0301",
        start=dt.date(2026, 1, 12),
        single_windows=AU_MY,
    )
    consented(flow, shipments=3, quantity="60", valid_until=dt.date(2026, 7, 31))
    shipment(flow, 1, day=40, total=3, net_kg="19810", containers=("CMAU430214",))
    shipment(flow, 2, day=100, total=3, net_kg="19830", containers=("CMAU431218",))
    last = pet_export_data(
        flow.notification,
        3,
        total=3,
        edn="AA3K0301X",
        shipped=flow.start + dt.timedelta(days=210),
        containers=("CMAU432211",),
        net_kg="19790",
    )
    flow.send(
        last,
        name="AU:ABF's Single Window refuses shipment 3 after the consent ended",
        day=210,
        sender=ABF,
        receiver=RMCD,
        outcome="refused",
        error="case-violation",
        rules=["export.consent.validity"],
    )
    flow.send(
        last,
        name="Shipment 3 sent straight to MY:RMCD is receipted and held",
        day=210,
        sender=ABF,
        receiver=RMCD,
        via="partner",
        clearance="held",
        findings=["export.consent.validity"],
    )
    return flow


def hs_code_flow() -> Flow:
    """Return a case whose export declaration names another HS heading than the notification."""
    flow = Flow(
        name="hs-code-mismatch",
        title="An HS code that does not match the notification: held in Malaysia",
        based_on=(
            "Basel Annex V-A 14 (HS code of the notified waste) and Art. 9(1)(d); WCO Green Customs: a waste "
            "declared under a product heading (3920: plastic sheets) instead of 3915 (waste, parings and scrap "
            "of plastics) is a known way of passing waste off as goods."
            " Waste, parties and authorities as in plastic-au-my."
        ),
        notification="AU2026-0322",
        start=dt.date(2026, 3, 9),
        single_windows=AU_MY,
    )
    consented(flow, shipments=2, quantity="40")
    flow.send(
        pet_export_data(
            flow.notification,
            1,
            total=2,
            edn="AA1K0322X",
            shipped=flow.start + dt.timedelta(days=30),
            containers=("MSCU660310",),
            net_kg="19890",
            hs_code="392062",
        ),
        name="Shipment 1 declared under HS 392062 (PET sheets) is refused in Australia",
        day=30,
        sender=ABF,
        receiver=RMCD,
        outcome="refused",
        error="case-violation",
        rules=["export.hs-code.mismatch"],
    )
    return flow


def information_flow() -> Flow:
    """Return a case where Malaysia asks for information, then consents with conditions."""
    flow = Flow(
        name="information-and-conditions",
        title="Information request and response, then a consent with conditions; the first shipment goes",
        based_on=(
            "Basel Art. 6(2): the State of import may ask for further information before it decides, and may "
            "consent with conditions. Malaysia's DOE asks for the facility's approval and the contamination "
            "checks, then limits the consent to two shipments and an inspection at Port Klang."
            " Waste, parties and authorities as in plastic-au-my."
        ),
        notification="AU2026-0349",
        start=dt.date(2026, 4, 13),
        single_windows=AU_MY,
    )
    start = flow.start
    notified = flow.send(
        pet_notification(
            flow.notification,
            shipments=4,
            quantity="80",
            first=start + dt.timedelta(days=40),
            last=start + dt.timedelta(days=360),
        ),
        name="AU:DCCEEW notifies MY:DOE",
        day=0,
        sender=DCCEEW,
        receiver=DOE,
    )
    request = flow.send(
        InformationRequest(
            notification_number=flow.notification,
            request_id="DOE-IR-2026-0349",
            requested_by=DOE,
            question=(
                "Provide the facility's DOE approval for the import of plastic waste and its expiry date.",
                "State the largest share of cap and label fragments the flakes may hold and how it is checked.",
            ),
            respond_by=start + dt.timedelta(days=20),
        ),
        name="MY:DOE asks for further information",
        day=5,
        sender=DOE,
        receiver=DCCEEW,
        answers=notified,
    )
    flow.send(
        InformationResponse(
            notification_number=flow.notification,
            request_id="DOE-IR-2026-0349",
            answer=(
                "The facility holds DOE approval AP-PLS-2025-0391, valid until 2027-06-30.",
                "At most 3% by mass; every bulk bag is sampled at the wash plant and the lot record travels "
                "with the shipment.",
            ),
        ),
        name="AU:DCCEEW answers the request",
        day=12,
        sender=DCCEEW,
        receiver=DOE,
        answers=request,
    )
    flow.send(
        Acknowledgement(
            notification_number=flow.notification,
            country="MY",
            competent_authority=DOE,
            notification_received_on=start,
            acknowledged_on=start + dt.timedelta(days=13),
            complete=True,
        ),
        name="MY:DOE acknowledges the notification as complete",
        day=13,
        sender=DOE,
        receiver=DCCEEW,
        answers=notified,
    )
    flow.send(
        ConsentDecision(
            notification_number=flow.notification,
            role=ConsentingRole.IMPORT,
            country="MY",
            competent_authority=DOE,
            decision_id="DOE-KA-0349",
            decision=Decision.CONSENT_WITH_CONDITIONS,
            decided_on=start + dt.timedelta(days=30),
            valid_from=start + dt.timedelta(days=32),
            valid_until=start + dt.timedelta(days=32 + 364),
            condition=(
                "Every container is opened for inspection by the DOE at Port Klang before release.",
                "The lot record of the flakes' cap and label fragments travels with each shipment.",
            ),
            max_shipments=2,
        ),
        name="MY:DOE consents with conditions, for two shipments, from day 32; the first departure is day 40",
        day=30,
        sender=DOE,
        receiver=DCCEEW,
        answers=notified,
        **{"case.blocked": True, "case.decisions": {"MY": "consented-with-conditions"}},
    )
    shipment(
        flow,
        1,
        day=45,
        total=4,
        net_kg="19870",
        containers=("CMAU440319",),
        **{"case.shipments_used": 1, "case.blocked": False},
    )
    return flow


EWASTE_OBJECTED = "JP-2026-E-0208"

JP_EXPORTER = Party(
    registration_number="4010601034567",
    name="Kanto Eco-Resources Co., Ltd.",
    address=Address(street="2-11-5 Shinsuna", city="Koto-ku, Tokyo", postal_code="136-0075", country="JP"),
    contact_person="Haruki Sato",
    telephone="+81 3 5646 2280",
    email="export@kanto-eco.example",
)
MY_METALS_RECOVERY = Party(
    registration_number="200801034567",
    name="Selangor Precious Metals Recovery Sdn Bhd",
    address=Address(street="No. 8, Jalan Utas 15/7, Seksyen 15", city="Shah Alam", postal_code="40200", country="MY"),
    contact_person="Nurul Aisyah binti Kamal",
    telephone="+60 3 5510 4862",
    email="compliance@selangor-pmr.example",
)
JP_HAULIER = Party(
    name="Keihin Kaiun Transport Co., Ltd.",
    address=Address(street="1-3 Daikoku-futo", city="Yokohama", postal_code="230-0054", country="JP"),
)
SG_LINE = Party(
    registration_number="201412345N",
    name="Pacific Meridian Lines Pte Ltd",
    address=Address(street="9 Raffles Place", city="Singapore", postal_code="048619", country="SG"),
    email="dg-desk@pacificmeridian.example",
)
MY_HAZMAT_HAULIER = Party(
    name="Shah Alam Hazmat Logistics Sdn Bhd",
    address=Address(street="Jalan Kebun Nenas", city="Klang", postal_code="41100", country="MY"),
    telephone="+60 3 3371 9050",
)
JP_DISMANTLER = Party(
    name="Tama Office Equipment Recycling Center K.K.",
    address=Address(street="3-28-1 Ishikawa-machi", city="Hachioji, Tokyo", postal_code="192-0032", country="JP"),
    contact_person="Yui Nakamura",
)

OBJECTION_ROUTE = (
    StateConcerned(role=Role.EXPORT, country="JP", competent_authority="JP:MOE", exit_point="JPYOK"),
    StateConcerned(
        role=Role.TRANSIT, country="SG", competent_authority="SG:NEA", entry_point="SGSIN", exit_point="SGSIN"
    ),
    StateConcerned(role=Role.IMPORT, country="MY", competent_authority="MY:DOE", entry_point="MYPKG"),
)


def objected_notification() -> Notification:
    """Return the individual notification of hazardous e-waste from Japan to Malaysia through Singapore."""
    return Notification(
        notification_number=EWASTE_OBJECTED,
        shipment_mode=ShipmentMode.INDIVIDUAL,
        operation_kind=OperationKind.RECOVERY,
        preconsented_facility=False,
        exporter=JP_EXPORTER,
        importer=MY_METALS_RECOVERY,
        intended_shipments=1,
        intended_quantity=form_tonnes("24.5"),
        first_departure=dt.date(2026, 8, 3),
        last_departure=dt.date(2026, 10, 30),
        packaging_type=("5",),
        special_handling=True,
        handling_requirements="Bulk bags on pallets, at most two high; keep dry; no loose batteries; "
        "IMDG class 9 placards on both containers.",
        carrier=(carrier(JP_HAULIER, "R"), carrier(SG_LINE, "S"), carrier(MY_HAZMAT_HAULIER, "R")),
        generator=(
            generator(
                JP_DISMANTLER,
                site="Hachioji dismantling plant, 3-28-1 Ishikawa-machi, Hachioji",
                process="Manual dismantling of end-of-life office IT equipment; populated printed circuit "
                "boards and hard-disk boards are removed, batteries taken out, boards cut to size.",
            ),
        ),
        facility=facility(
            MY_METALS_RECOVERY,
            kind=OperationKind.RECOVERY,
            actual_site="Full recovery facility under DOE licence 004512, Seksyen 15, 40200 Shah Alam",
        ),
        operation=("R4",),
        technology="Shredding, pyrolysis of the board laminate with off-gas treatment, smelting and "
        "electrolytic refining of copper, gold, silver and palladium.",
        reason_for_export="No facility in Japan under contract with the exporter recovers palladium from "
        "board laminate; the Shah Alam smelter does.",
        waste_designation="Populated printed circuit boards from end-of-life IT equipment",
        composition="Epoxy laminate and glass fibre 55%, copper 20%, solder (tin, lead) 4%, iron and "
        "aluminium 15%, precious metals 0.1%, capacitors and connectors 5.9%; cadmium in contacts.",
        physical_characteristic=("2",),
        waste_identification=EWASTE,
        state_concerned=OBJECTION_ROUTE,
        customs_offices=CustomsOffices(entry_office="MYPKG", exit_office="JPYOK", export_office="JPYOK"),
        declaration=Declaration(declarant_name="Haruki Sato", declared_on=dt.date(2026, 5, 28), contract_in_place=True),
        insurance=Insurance(
            insurer="Tokai Marine Environmental Insurance Co.",
            policy_reference="TME-HW-2026-0553",
            cover="Transboundary movement of hazardous waste, JPY 300 000 000 per occurrence",
        ),
        contract=Contract(reference="KER-SPMR-2026-02", concluded_on=dt.date(2026, 4, 10)),
    )


def ewaste_objection_flow() -> Flow:
    """Return hazardous e-waste notified from Japan to Malaysia through Singapore: Malaysia objects."""
    flow = Flow(
        name="ewaste-objection",
        title="Hazardous e-waste, Japan to Malaysia through Singapore: Malaysia objects",
        based_on=(
            "Basel Art. 4(1) and 6(2): a State of import may prohibit or refuse an import. Malaysia does not "
            "allow the import of hazardous e-waste (printed circuit boards, A1181 with Y26/Y31): the Department of "
            "Environment refuses such notifications, so the decision is an objection, never a consent. "
            "Competent authorities: JP Ministry of the Environment (JP:MOE), SG National Environment Agency "
            "(SG:NEA, transit), MY Department of Environment (MY:DOE); Customs: Japan Customs (JP:CUSTOMS), "
            "Royal Malaysian Customs Department (MY:RMCD)."
        ),
        notification=EWASTE_OBJECTED,
        start=dt.date(2026, 6, 1),
        single_windows={"JP": ("JP:MOE", "JP:CUSTOMS"), "SG": ("SG:NEA",), "MY": (DOE, RMCD)},
    )
    notification = objected_notification()
    to_my = flow.send(
        notification,
        name="JP:MOE notifies MY:DOE",
        day=0,
        sender="JP:MOE",
        receiver=DOE,
        **{"case.state": "notified"},
    )
    flow.send(
        notification, name="JP:MOE notifies SG:NEA, the State of transit", day=0, sender="JP:MOE", receiver="SG:NEA"
    )
    flow.send(
        Acknowledgement(
            notification_number=EWASTE_OBJECTED,
            country="MY",
            competent_authority=DOE,
            notification_received_on=flow.start,
            acknowledged_on=flow.start + dt.timedelta(days=3),
            complete=True,
        ),
        name="MY:DOE acknowledges the notification",
        day=3,
        sender=DOE,
        receiver="JP:MOE",
        answers=to_my,
    )
    flow.send(
        ConsentDecision(
            notification_number=EWASTE_OBJECTED,
            role=ConsentingRole.IMPORT,
            country="MY",
            competent_authority=DOE,
            decision_id="DOE-BH-2026-0208",
            decision=Decision.OBJECTION,
            decided_on=flow.start + dt.timedelta(days=21),
            reason=("Malaysia does not allow the import of hazardous e-waste (A1181) for recovery.",),
        ),
        name="MY:DOE objects to the import",
        day=21,
        sender=DOE,
        receiver="JP:MOE",
        answers=to_my,
        **{"case.blocked": True, "case.decisions": {"MY": "objected"}, "case.single_window": "JP"},
    )
    return flow


# ------------------------------------------------------------------------------------------ deemed transit consent

EWASTE_DEEMED = "TH-DIW-2026-0391"


def ewaste_deemed_transit_flow() -> Flow:
    """Return circuit-board scrap from Thailand to Japan through Korea, which waived written consent."""
    flow = Flow(
        name="ewaste-deemed-transit",
        title="Hazardous e-waste, Thailand to Japan through Korea: the transit State is deemed to consent after "
        "60 days",
        based_on=(
            "Basel Art. 6(4): a transit Party that has decided not to require prior written consent is deemed to "
            "consent when it does not answer within 60 days of the notification's receipt; until then no movement "
            "may start (Art. 6(3) and 6(4)). This flow's registry records such a waiver for Korea's competent "
            "authority with the Convention's 60 days ([waived_written_consent]); whether a real Party has made that "
            "decision is for its registry to say, not for this sample. Lead-soldered circuit boards are Basel "
            "A1181 (hazardous e-waste, BC-15/18, in force 1 January 2025); Thailand exports them for recovery "
            "under a Department of Industrial Works permit, and Japan's Ministry of the Environment consents to "
            "imports for precious metal recovery at a smelter (Act on the Control of Export, Import and Others of "
            "Specified Hazardous Wastes). Feeder services from Laem Chabang to Japan's regional ports tranship at "
            "Busan. Competent authorities: TH Department of Industrial Works (TH:DIW), KR Ministry of Environment "
            "(KR:ME, transit), JP Ministry of the Environment (JP:MOE); Customs: Thai Customs Department "
            "(TH:CUSTOMS), Japan Customs (JP:CUSTOMS)."
        ),
        notification=EWASTE_DEEMED,
        start=dt.date(2026, 9, 1),
        single_windows={"TH": (DIW, TH_CUSTOMS), "KR": (KR_ME,), "JP": (JP_MOE, JP_CUSTOMS)},
        waived_written_consent={KR_ME: 60},
    )
    start = flow.start
    # The sample storyline's notification and shipment (samples/messages/ewaste-th-kr-jp-*), under this flow's
    # number and departure window.
    notification = ewaste_notification().model_copy(
        update={
            "notification_number": EWASTE_DEEMED,
            "first_departure": start + dt.timedelta(days=30),
            "last_departure": start + dt.timedelta(days=180),
        }
    )
    to_jp = flow.send(
        notification,
        name="TH:DIW notifies JP:MOE",
        day=0,
        sender=DIW,
        receiver=JP_MOE,
        **{"case.state": "notified", "case.blocked": True},
    )
    to_kr = flow.send(
        notification, name="TH:DIW notifies KR:ME, the State of transit", day=0, sender=DIW, receiver=KR_ME
    )
    transit_acknowledgement = Acknowledgement(
        notification_number=EWASTE_DEEMED,
        country="KR",
        competent_authority=KR_ME,
        notification_received_on=start,
        acknowledged_on=start + dt.timedelta(days=2),
        complete=True,
    )
    flow.send(
        transit_acknowledgement,
        name="KR:ME acknowledges the notification as complete",
        day=2,
        sender=KR_ME,
        receiver=DIW,
        answers=to_kr,
        **{"case.decisions": {"KR": "undecided"}},
    )
    flow.send(
        transit_acknowledgement,
        name="KR:ME sends a copy of its acknowledgement to JP:MOE, the State of import",
        day=2,
        sender=KR_ME,
        receiver=JP_MOE,
    )
    flow.send(
        Acknowledgement(
            notification_number=EWASTE_DEEMED,
            country="JP",
            competent_authority=JP_MOE,
            notification_received_on=start,
            acknowledged_on=start + dt.timedelta(days=4),
            complete=True,
        ),
        name="JP:MOE acknowledges the notification as complete",
        day=4,
        sender=JP_MOE,
        receiver=DIW,
        answers=to_jp,
    )
    flow.send(
        ConsentDecision(
            notification_number=EWASTE_DEEMED,
            role=ConsentingRole.IMPORT,
            country="JP",
            competent_authority=JP_MOE,
            decision_id="MOE-BASEL-2026-1187",
            decision=Decision.CONSENT,
            decided_on=start + dt.timedelta(days=35),
            valid_from=start + dt.timedelta(days=35),
            valid_until=start + dt.timedelta(days=35 + 364),
        ),
        name="JP:MOE consents to the import",
        day=35,
        sender=JP_MOE,
        receiver=DIW,
        answers=to_jp,
        **{"case.decisions": {"JP": "consented", "KR": "undecided"}, "case.blocked": True},
    )
    flow.send(
        ewaste_export_data(EWASTE_DEEMED, shipped=start + dt.timedelta(days=40)),
        name="TH:CUSTOMS tries to send export data on day 40: Korea's 60 days have not run, so its own Single "
        "Window refuses it",
        day=40,
        sender=TH_CUSTOMS,
        receiver=JP_CUSTOMS,
        **{"outcome": "refused", "error": "case-violation", "rules": ["pic.transit.missing"]},
    )
    flow.send(
        MovementAnnouncement(
            notification_number=EWASTE_DEEMED,
            shipment_serial=1,
            total_shipments=1,
            planned_departure=start + dt.timedelta(days=66),
            expected_arrival=start + dt.timedelta(days=78),
            planned_quantity=form_tonnes("24.1"),
            packaging_type=("5",),
            package_count=48,
            carrier=notification.carrier,
            operation=("R4",),
            waste_identification=EWASTE,
            remarks="Transhipment at Busan (KRPUS); the containers stay sealed.",
        ),
        name="TH:DIW announces the shipment on day 63: KR:ME, silent for 60 days, is deemed to consent",
        day=63,
        sender=DIW,
        receiver=JP_MOE,
        **{"case.decisions": {"JP": "consented", "KR": "deemed-consented"}},
    )
    exported = flow.send(
        ewaste_export_data(EWASTE_DEEMED, shipped=start + dt.timedelta(days=66)),
        name="TH:CUSTOMS sends the export data of the shipment to JP:CUSTOMS",
        day=66,
        sender=TH_CUSTOMS,
        receiver=JP_CUSTOMS,
        **{"case.shipments": ["exported"], "case.blocked": False},
    )
    flow.send(
        ClearanceResult(
            notification_number=EWASTE_DEEMED,
            shipment_serial=1,
            declaration_id=EWASTE_DECLARATION,
            status=ClearanceStatus.RELEASED,
            decided_on=dt.datetime.combine(start + dt.timedelta(days=78), dt.time(1, 30), dt.UTC),
            customs_office="JPOIT",
            finding=(
                Finding(rule_id="consent-valid", text="Covered by the import consent of JP:MOE."),
                Finding(
                    rule_id="pic.transit.deemed",
                    text="KR:ME waived written consent and is deemed to consent from "
                    f"{start + dt.timedelta(days=62)} (Art. 6(4)).",
                ),
            ),
        ),
        name="JP:CUSTOMS releases the shipment at Oita",
        day=78,
        sender=JP_CUSTOMS,
        receiver=TH_CUSTOMS,
        answers=exported,
    )
    flow.send(
        ShipmentReceipt(
            notification_number=EWASTE_DEEMED,
            shipment_serial=1,
            declaration_id=EWASTE_DECLARATION,
            received_on=start + dt.timedelta(days=79),
            accepted=True,
            quantity_received=form_tonnes("24.08"),
            expected_treatment_date=start + dt.timedelta(days=110),
            operation="R4",
            facility=JP_SMELTER,
        ),
        name="JP:MOE confirms receipt at the smelter",
        day=79,
        sender=JP_MOE,
        receiver=DIW,
        **{"case.shipments": ["received"]},
    )
    flow.send(
        DisposalCertificate(
            notification_number=EWASTE_DEEMED,
            shipment_serial=1,
            completed_on=start + dt.timedelta(days=112),
            operation="R4",
            facility=JP_SMELTER,
            quantity_treated=tonnes("24.08"),
        ),
        name="JP:MOE certifies the recovery",
        day=114,
        sender=JP_MOE,
        receiver=DIW,
        **{"case.shipments": ["disposed"]},
    )
    return flow


def flows() -> list[Flow]:
    """Return every packaged flow, in the order ``picexchange flows list`` shows them."""
    return [
        plastic_flow(),
        port_hopping_flow(),
        quantity_flow(),
        withdrawn_flow(),
        cancelled_flow(),
        duplicate_flow(),
        tampered_flow(),
        expired_flow(),
        hs_code_flow(),
        information_flow(),
        ewaste_objection_flow(),
        ewaste_deemed_transit_flow(),
    ]


def build() -> dict[Path, bytes]:
    """Return every file under ``data/flows``: each flow's manifest and messages."""
    files: dict[Path, bytes] = {}
    for flow in flows():
        folder = FLOWS / flow.name
        files[folder / "flow.toml"] = flow.manifest().encode("utf-8")
        for name, data in flow.files.items():
            files[folder / name] = data
    return files


def write(files: dict[Path, bytes], stale: Iterable[Path]) -> None:
    """Write ``files`` and remove the ``stale`` ones."""
    for path in stale:
        path.unlink()
    for path, data in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def main() -> int:
    """Write the flows; print what changed."""
    files = build()
    stale = [path for path in FLOWS.rglob("*") if path.is_file() and path not in files]
    changed = [path for path, data in files.items() if not path.exists() or path.read_bytes() != data]
    write(files, stale)
    for path in [*changed, *stale]:
        print(path.relative_to(ROOT))
    return 0


if __name__ == "__main__":
    sys.exit(main())
