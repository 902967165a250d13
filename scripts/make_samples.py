"""Write the sample corpus: two message storylines, one maximal sample per message type, invalid documents.

Run from the repository root with the project's virtual environment:

    .venv/bin/python scripts/make_samples.py

Everything is built from the picexchange models with fixed message ids (UUID 5 of the file name) and fixed
timestamps, so the output is the same on every run; re-run the script after a model change and review the
diff. What it writes:

``samples/messages/<storyline>-<nn>-<message-type>.xml``
    Valid envelopes in the order of their flow. ``plastic-au-my``: washed PET flakes (Basel Y48, HS 391590,
    R3) from Australia to Malaysia under a general notification for several shipments, with a
    contaminated shipment that ends in a withdrawal of consent and a cancellation. ``ewaste-th-kr-jp``:
    hazardous e-waste (A1181, HS 8549, R4) from Thailand to a Japanese smelter through Korea (transhipment at
    Busan), one shipment, a transit consent and an import consent with conditions. Receipts and errors answer
    a message of their storyline (RefToMessageId), and a Receipt's digest is the SHA-256 of that sample file's
    bytes.
``samples/messages/max-<message-type>.xml``
    One envelope per message type with every optional element present and every repeated element at least
    twice (plastics from WEEE with brominated flame retardants, Switzerland to the Netherlands through
    Germany by Rhine barge). The round-trip tests use them.
``samples/invalid/*.xml`` and ``samples/invalid/expected.json``
    Documents that each show one mistake a vendor makes, made by editing the bytes of a valid sample (the
    models refuse to build invalid documents), and what ``picexchange.schemas.validate`` must report for
    each: the stage and every issue with its line, path and text.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import sys
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from lxml import etree

from picexchange import codec
from picexchange.models.common import (
    Address,
    Attachment,
    Carrier,
    CustomsOffices,
    Digest,
    FormQuantity,
    Mass,
    NotifiedQuantity,
    Party,
    Role,
    StateConcerned,
    WasteIdentification,
)
from picexchange.models.envelope import (
    Document,
    Envelope,
    Error,
    ErrorCode,
    ErrorIssue,
    Receipt,
    UtilityBlock,
)
from picexchange.models.export import (
    ClearanceResult,
    ClearanceStatus,
    Container,
    CustomsPassage,
    DisposalCertificate,
    ExportData,
    ExportDeclaration,
    Finding,
    GoodsItem,
    ShipmentCarrier,
    ShipmentReceipt,
    TransitCustoms,
    Transport,
    TransportMeansIdType,
)
from picexchange.models.pic import (
    Acknowledgement,
    ConsentDecision,
    ConsentingRole,
    ConsentWithdrawal,
    Contract,
    Decision,
    Declaration,
    Facility,
    Generator,
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
SAMPLES = ROOT / "samples"
MESSAGES = SAMPLES / "messages"
INVALID = SAMPLES / "invalid"

# Message ids are UUID 5 of the sample's name in this namespace: fixed, distinct, and easy to recompute.
_ID_NAMESPACE = uuid.UUID("5b0c8f3e-6a61-4f0e-9d2c-7c1e2a9b4d10")

AEDT = dt.timezone(dt.timedelta(hours=11), "AEDT")
AEST = dt.timezone(dt.timedelta(hours=10), "AEST")
MYT = dt.timezone(dt.timedelta(hours=8), "MYT")
JST = dt.timezone(dt.timedelta(hours=9), "JST")
SGT = dt.timezone(dt.timedelta(hours=8), "SGT")
ICT = dt.timezone(dt.timedelta(hours=7), "ICT")
KST = dt.timezone(dt.timedelta(hours=9), "KST")
CET = dt.timezone(dt.timedelta(hours=1), "CET")
CEST = dt.timezone(dt.timedelta(hours=2), "CEST")


def message_id(name: str) -> uuid.UUID:
    """Return the fixed message id of the sample called ``name`` (UUID 5, lower-case hex)."""
    return uuid.uuid5(_ID_NAMESPACE, name)


def kebab(name: str) -> str:
    """Return a message type in kebab case (``ConsentDecision`` -> ``consent-decision``)."""
    return re.sub(r"(?<!^)(?=[A-Z])", "-", name).lower()


def sha256_digest(data: bytes) -> Digest:
    """Return the base64 SHA-256 digest of ``data``, as a Receipt or an Attachment carries it."""
    return Digest(value=base64.b64encode(hashlib.sha256(data).digest()).decode("ascii"))


def tonnes(value: str) -> NotifiedQuantity:
    """Return a quantity in tonnes (Mg)."""
    return NotifiedQuantity(value=Decimal(value), unit="TNE")


def form_tonnes(value: str, cubic_metres: str | None = None) -> FormQuantity:
    """Return a quantity as the forms give it: tonnes (Mg), and cubic metres where given too."""
    return FormQuantity(tonnes=Decimal(value), cubic_metres=Decimal(cubic_metres) if cubic_metres is not None else None)


def kilograms(value: str) -> Mass:
    """Return a mass in kilograms."""
    return Mass(value=Decimal(value))


def facility(party: Party, *, kind: OperationKind, actual_site: str) -> Facility:
    """Return ``party`` as the disposal or recovery facility of a notification (V-A 10)."""
    return Facility.model_validate({**party.model_dump(), "kind": kind, "actual_site": actual_site})


def carrier(party: Party, *modes: str) -> Carrier:
    """Return ``party`` as an intended carrier using ``modes`` (V-A 8)."""
    return Carrier.model_validate({**party.model_dump(), "transport_mode": modes})


def shipment_carrier(party: Party, mode: str, transfer_date: dt.date | None = None) -> ShipmentCarrier:
    """Return ``party`` as a carrier of one shipment (V-B 8)."""
    return ShipmentCarrier.model_validate(
        {**party.model_dump(), "transport_mode": mode, "transfer_date": transfer_date}
    )


def generator(party: Party, *, site: str, process: str) -> Generator:
    """Return ``party`` as a waste generator (V-A 9)."""
    return Generator.model_validate({**party.model_dump(), "site_of_generation": site, "process": process})


@dataclass
class Storyline:
    """The messages of one flow, numbered in the order they are sent."""

    name: str
    conversation_id: str
    files: dict[str, bytes] = field(default_factory=dict)
    ids: dict[str, uuid.UUID] = field(default_factory=dict)
    blocks: dict[str, UtilityBlock] = field(default_factory=dict)

    def add(
        self,
        document: Document,
        *,
        sender: str,
        receiver: str,
        created: dt.datetime,
        answers: str | None = None,
    ) -> str:
        """Wrap ``document``, write it as the next sample of the storyline, and return its file name.

        Args:
            document: the business document or transport reply.
            sender: the sending participant.
            receiver: the receiving participant.
            created: the header's creation time.
            answers: the file name of the sample this message answers (its RefToMessageId).

        """
        number = len(self.files) + 1
        stem = f"{self.name}-{number:02d}"
        file_name = f"{stem}-{kebab(type(document).__name__)}.xml"
        header: dict[str, Any] = {
            "message_id": message_id(stem),
            "conversation_id": self.conversation_id,
            "sender": sender,
            "receiver": receiver,
            "created": created,
        }
        if answers is not None:
            header["ref_to_message_id"] = self.ids[answers]
            if isinstance(document, Receipt | Error):
                # A transport reply travels in the Utility Block of the message it answers.
                header["utility_block"] = self.blocks[answers]
        envelope = Envelope.wrap(document, **header)
        self.files[file_name] = codec.to_xml(envelope)
        self.ids[file_name] = message_id(stem)
        self.blocks[file_name] = envelope.header.utility_block
        return file_name

    def receipt(self, of: str, *, sender: str, receiver: str, received_at: dt.datetime) -> str:
        """Add the transport Receipt of sample ``of``: its message id and the SHA-256 of its bytes."""
        document = Receipt(
            ref_to_message_id=self.ids[of], received_digest=sha256_digest(self.files[of]), received_at=received_at
        )
        return self.add(document, sender=sender, receiver=receiver, created=received_at, answers=of)


# ======================================================================================================
# Storyline (a): washed PET flakes, Australia -> Malaysia, several shipments.
# Since July 2022 Australia lets plastic leave only processed (flakes, pellets) under a DCCEEW licence, so the
# exporter ships flakes, not baled bottles. Flakes whose residual caps and labels put them outside B3011 are
# Y48 (Annex II): under PIC, with the written consent of Malaysia's Department of Environment. B3011-only plastic
# (Annex IX) would need no notification at all.

PLASTIC_NUMBER = "AU2026-0042"

AU_EXPORTER = Party(
    registration_number="51824753556",
    name="Southern Cross Polymers Pty Ltd",
    address=Address(street="14 Remington Drive", city="Dandenong South", postal_code="3175", country="AU"),
    contact_person="Priya Natarajan",
    telephone="+61 3 9792 4410",
    email="exports@southerncrosspolymers.example",
)
MY_PET_RECYCLER = Party(
    registration_number="201901023456",
    name="Klang Valley PET Recovery Sdn Bhd",
    address=Address(street="Lot 12, Jalan Sungai Puloh", city="Klang", postal_code="42100", country="MY"),
    contact_person="Tan Wei Ming",
    telephone="+60 3 3291 7720",
    email="import@kvpetrecovery.example",
)
AU_HAULIER = Party(
    name="Westgate Container Haulage Pty Ltd",
    address=Address(street="23 Grieve Parade", city="Altona North", postal_code="3025", country="AU"),
    telephone="+61 3 9314 0608",
)
SG_SHIPPING_LINE = Party(
    registration_number="199804512K",
    name="Straits Meridian Container Line Pte Ltd",
    address=Address(street="1 Harbourfront Avenue", city="Singapore", postal_code="098632", country="SG"),
    email="bookings@straitsmeridian.example",
)
MY_HAULIER = Party(
    name="Pelabuhan Klang Haulage Sdn Bhd",
    address=Address(street="Jalan Pelabuhan Utara", city="Port Klang", postal_code="42000", country="MY"),
    telephone="+60 3 3168 2245",
)
AU_MRF = Party(
    name="Eastern Metro Resource Recovery Pty Ltd",
    address=Address(street="40 Fraser Road", city="Clayton South", postal_code="3169", country="AU"),
    contact_person="Daniel O'Connor",
)

#: Washed PET flakes, single polymer, whose residual labels and caps put them outside B3011: Y48 (Annex II).
PLASTIC_WASTE = WasteIdentification(y_code=("Y48",), hs_code=("391590",))
PLASTIC_ROUTE = (
    StateConcerned(role=Role.EXPORT, country="AU", competent_authority="AU:DCCEEW", exit_point="AUMEL"),
    StateConcerned(role=Role.IMPORT, country="MY", competent_authority="MY:DOE", entry_point="MYPKG"),
)
PLASTIC_SITE = "Lot 12, Jalan Sungai Puloh, Kawasan Perindustrian Sungai Puloh, 42100 Klang, Selangor"


def plastic_notification() -> Notification:
    """Return the general notification of storyline (a): 8 shipments of washed PET flakes over 12 months."""
    return Notification(
        notification_number=PLASTIC_NUMBER,
        shipment_mode=ShipmentMode.MULTIPLE,
        operation_kind=OperationKind.RECOVERY,
        preconsented_facility=False,
        exporter=AU_EXPORTER,
        importer=MY_PET_RECYCLER,
        intended_shipments=8,
        intended_quantity=form_tonnes("160"),
        first_departure=dt.date(2026, 3, 2),
        last_departure=dt.date(2027, 2, 12),
        packaging_type=("9",),
        other_packaging="Octabins (octagonal corrugated bulk bins with PE liners) on pallets",
        special_handling=False,
        carrier=(carrier(AU_HAULIER, "R"), carrier(SG_SHIPPING_LINE, "S"), carrier(MY_HAULIER, "R")),
        generator=(
            generator(
                AU_MRF,
                site="Clayton South materials recovery facility, 40 Fraser Road, Clayton South VIC 3169",
                process="Optical and manual sorting of kerbside-collected household recycling; clear and "
                "light-blue PET beverage bottles are ground and hot-washed to flakes on site (processing "
                "required for export since July 2022).",
            ),
        ),
        facility=facility(MY_PET_RECYCLER, kind=OperationKind.RECOVERY, actual_site=PLASTIC_SITE),
        operation=("R3",),
        technology="Float-sink separation of PP/PE cap and label fragments, second hot wash, decontamination "
        "and extrusion into food-grade rPET pellets.",
        reason_for_export="No food-grade PET decontamination line in Victoria with capacity for this volume.",
        waste_designation="Washed PET flakes, single polymer, with residual cap and label fragments",
        composition="PET 96%, PP/PE cap and label fragments 3%, moisture 1%; no other wastes.",
        physical_characteristic=("2",),
        waste_identification=PLASTIC_WASTE,
        state_concerned=PLASTIC_ROUTE,
        customs_offices=CustomsOffices(entry_office="MYPKG", exit_office="AUMEL", export_office="AUMEL"),
        declaration=Declaration(
            declarant_name="Priya Natarajan", declared_on=dt.date(2026, 1, 20), contract_in_place=True
        ),
        insurance=Insurance(
            insurer="Harbourside Mutual Insurance Ltd",
            policy_reference="HMI-ENV-2026-7781",
            cover="Environmental liability including return of the waste, AUD 5 000 000 per occurrence",
            valid_until=dt.date(2027, 3, 31),
        ),
        contract=Contract(reference="SCP-KVPR-2025-11", concluded_on=dt.date(2025, 11, 28)),
    )


def plastic_export_data(
    serial: int,
    *,
    edn: str,
    accepted: dt.datetime,
    shipped: dt.date,
    vessel: str,
    containers: tuple[Container, ...],
    net_kg: str,
    gross_kg: str,
    octabins: int,
    arrival: dt.date,
) -> ExportData:
    """Return the export data of shipment ``serial`` of storyline (a) (one goods item of PET flakes in octabins)."""
    net_tonnes = str(Decimal(net_kg) / 1000)
    return ExportData(
        notification_number=PLASTIC_NUMBER,
        shipment_serial=serial,
        total_shipments=8,
        export_declaration=ExportDeclaration(declaration_id=edn, accepted_on=accepted, export_office="AUMEL"),
        exporter=AU_EXPORTER,
        consignee=MY_PET_RECYCLER,
        facility=MY_PET_RECYCLER,
        actual_quantity=form_tonnes(net_tonnes),
        actual_shipment_date=shipped,
        expected_arrival=arrival,
        operation=("R3",),
        carrier=(
            shipment_carrier(AU_HAULIER, "R", shipped - dt.timedelta(days=3)),
            shipment_carrier(SG_SHIPPING_LINE, "S", shipped),
        ),
        transport=Transport(
            mode="S",
            means_id=vessel,
            means_id_type=TransportMeansIdType.IMO_NUMBER,
            container=containers,
            place_of_loading="AUMEL",
            place_of_unloading="MYPKG",
        ),
        customs_passage=CustomsPassage(exit_office="AUMEL", exit_date=shipped, entry_office="MYPKG"),
        state_concerned=PLASTIC_ROUTE,
        goods_item=(
            GoodsItem(
                item_number=1,
                hs_code="391590",
                description="Washed PET flakes in octabins, single polymer, for recycling",
                waste_identification=PLASTIC_WASTE,
                net_mass=kilograms(net_kg),
                gross_mass=kilograms(gross_kg),
                quantity=tonnes(net_tonnes),
                packaging_type="9",
                other_packaging="Octabins (octagonal corrugated bulk bins with PE liners) on pallets",
                package_count=octabins,
            ),
        ),
    )


def plastic_storyline() -> Storyline:
    """Return storyline (a), from the notification to the cancellation after a contaminated shipment."""
    story = Storyline("plastic-au-my", PLASTIC_NUMBER)
    au, my, abf, rmcd = "AU:DCCEEW", "MY:DOE", "AU:ABF", "MY:RMCD"
    notification = story.add(
        plastic_notification(), sender=au, receiver=my, created=dt.datetime(2026, 1, 21, 9, 15, tzinfo=AEDT)
    )
    story.receipt(notification, sender=my, receiver=au, received_at=dt.datetime(2026, 1, 21, 6, 15, 4, tzinfo=MYT))
    story.add(
        Acknowledgement(
            notification_number=PLASTIC_NUMBER,
            country="MY",
            competent_authority=my,
            notification_received_on=dt.date(2026, 1, 21),
            acknowledged_on=dt.date(2026, 1, 23),
            complete=True,
        ),
        sender=my,
        receiver=au,
        created=dt.datetime(2026, 1, 23, 11, 2, tzinfo=MYT),
        answers=notification,
    )
    request = story.add(
        InformationRequest(
            notification_number=PLASTIC_NUMBER,
            request_id="DOE-IR-2026-0117",
            requested_by=my,
            question=(
                "Provide the facility's DOE approval for the import of plastic waste and its expiry date.",
                "State the maximum contamination accepted in the flakes and how the exporter checks it.",
            ),
            respond_by=dt.date(2026, 2, 11),
        ),
        sender=my,
        receiver=au,
        created=dt.datetime(2026, 1, 28, 15, 30, tzinfo=MYT),
        answers=notification,
    )
    story.add(
        InformationResponse(
            notification_number=PLASTIC_NUMBER,
            request_id="DOE-IR-2026-0117",
            answer=(
                "The facility holds DOE approval AP-PLS-2025-0391, valid until 2027-06-30 (copy attached).",
                "Contamination is limited to 0.5% by contract; every lot of flakes is checked on an optical "
                "sorter and one container in four is opened and photographed before sealing.",
            ),
            attachment=(
                Attachment(
                    title="DOE import approval AP-PLS-2025-0391",
                    media_type="application/pdf",
                    digest=sha256_digest(b"DOE import approval AP-PLS-2025-0391 (sample annex)"),
                ),
            ),
        ),
        sender=au,
        receiver=my,
        created=dt.datetime(2026, 2, 3, 10, 45, tzinfo=AEDT),
        answers=request,
    )
    story.add(
        ConsentDecision(
            notification_number=PLASTIC_NUMBER,
            role=ConsentingRole.IMPORT,
            country="MY",
            competent_authority=my,
            decision_id="DOE-KA-2026-0042",
            decision=Decision.CONSENT,
            decided_on=dt.date(2026, 2, 16),
            valid_from=dt.date(2026, 2, 20),
            valid_until=dt.date(2027, 2, 19),
        ),
        sender=my,
        receiver=au,
        created=dt.datetime(2026, 2, 16, 16, 20, tzinfo=MYT),
        answers=notification,
    )
    story.add(
        MovementAnnouncement(
            notification_number=PLASTIC_NUMBER,
            shipment_serial=1,
            total_shipments=8,
            planned_departure=dt.date(2026, 3, 4),
            expected_arrival=dt.date(2026, 3, 17),
            planned_quantity=form_tonnes("19.84"),
            packaging_type=("9",),
            other_packaging="Octabins (octagonal corrugated bulk bins with PE liners) on pallets",
            package_count=44,
            carrier=(carrier(AU_HAULIER, "R"), carrier(SG_SHIPPING_LINE, "S"), carrier(MY_HAULIER, "R")),
            operation=("R3",),
            waste_identification=PLASTIC_WASTE,
        ),
        sender=au,
        receiver=my,
        created=dt.datetime(2026, 2, 25, 9, 0, tzinfo=AEDT),
    )
    first = story.add(
        plastic_export_data(
            1,
            edn="AAB7K2R9X",
            accepted=dt.datetime(2026, 3, 2, 14, 22, tzinfo=AEDT),
            shipped=dt.date(2026, 3, 4),
            vessel="9795610",
            containers=(
                Container(id="SMCU4417307", seal=("AU2611843",)),
                Container(id="SMCU4420189", seal=("AU2611844",)),
            ),
            net_kg="19840",
            gross_kg="20310",
            octabins=44,
            arrival=dt.date(2026, 3, 17),
        ),
        sender=abf,
        receiver=rmcd,
        created=dt.datetime(2026, 3, 4, 18, 5, tzinfo=AEDT),
    )
    story.add(
        ClearanceResult(
            notification_number=PLASTIC_NUMBER,
            shipment_serial=1,
            declaration_id="AAB7K2R9X",
            status=ClearanceStatus.RELEASED,
            decided_on=dt.datetime(2026, 3, 18, 10, 40, tzinfo=MYT),
            customs_office="MYPKG",
            finding=(
                Finding(
                    rule_id="consent-valid",
                    text="Shipment 1 of 8 is covered by the consent of MY:DOE valid until 2027-02-19.",
                ),
            ),
        ),
        sender=rmcd,
        receiver=abf,
        created=dt.datetime(2026, 3, 18, 10, 41, tzinfo=MYT),
        answers=first,
    )
    story.add(
        ShipmentReceipt(
            notification_number=PLASTIC_NUMBER,
            shipment_serial=1,
            declaration_id="AAB7K2R9X",
            received_on=dt.date(2026, 3, 19),
            accepted=True,
            quantity_received=form_tonnes("19.78"),
            expected_treatment_date=dt.date(2026, 4, 15),
            operation="R3",
            facility=MY_PET_RECYCLER,
        ),
        sender=my,
        receiver=au,
        created=dt.datetime(2026, 3, 20, 9, 12, tzinfo=MYT),
    )
    story.add(
        DisposalCertificate(
            notification_number=PLASTIC_NUMBER,
            shipment_serial=1,
            completed_on=dt.date(2026, 4, 20),
            operation="R3",
            facility=MY_PET_RECYCLER,
            quantity_treated=tonnes("19.78"),
        ),
        sender=my,
        receiver=au,
        created=dt.datetime(2026, 4, 22, 14, 0, tzinfo=MYT),
    )
    second = story.add(
        plastic_export_data(
            2,
            edn="AAC3M8T1Q",
            accepted=dt.datetime(2026, 4, 6, 11, 5, tzinfo=AEST),
            shipped=dt.date(2026, 4, 8),
            vessel="9795622",
            containers=(
                Container(id="SMCU4431774", seal=("AU2612290",)),
                Container(id="SMCU4431809", seal=("AU2612291",)),
            ),
            net_kg="19920",
            gross_kg="20395",
            octabins=45,
            arrival=dt.date(2026, 4, 20),
        ),
        sender=abf,
        receiver=rmcd,
        created=dt.datetime(2026, 4, 8, 17, 30, tzinfo=AEST),
    )
    # The ABF gateway resent shipment 2 with corrected bytes under the same message id; the Malaysian
    # gateway refuses it (the first version stands), as DESIGN §4 requires for a reused id.
    story.add(
        Error(
            ref_to_message_id=story.ids[second],
            code=ErrorCode.CONFLICT,
            text=f"message {story.ids[second]} was already received with other content; "
            "send changes under a new message id",
        ),
        sender=rmcd,
        receiver=abf,
        created=dt.datetime(2026, 4, 8, 15, 31, 12, tzinfo=MYT),
        answers=second,
    )
    story.add(
        ClearanceResult(
            notification_number=PLASTIC_NUMBER,
            shipment_serial=2,
            declaration_id="AAC3M8T1Q",
            status=ClearanceStatus.HELD,
            decided_on=dt.datetime(2026, 4, 21, 9, 50, tzinfo=MYT),
            customs_office="MYPKG",
            finding=(
                Finding(
                    rule_id="physical-inspection",
                    field="/Envelope/Body/ExportData/GoodsItem/Description",
                    expected="Washed PET flakes in octabins, single polymer, for recycling",
                    found="Container SMCU4431809: shredded mixed household plastics with food residue in the octabins",
                    text="The contents of container SMCU4431809 do not match the declared waste; the shipment "
                    "is held for the Department of Environment.",
                ),
            ),
            remarks="Container SMCU4431774 matched the declaration; both containers are held together.",
        ),
        sender=rmcd,
        receiver=abf,
        created=dt.datetime(2026, 4, 21, 9, 52, tzinfo=MYT),
        answers=second,
    )
    story.add(
        ShipmentReceipt(
            notification_number=PLASTIC_NUMBER,
            shipment_serial=2,
            received_on=dt.date(2026, 4, 23),
            accepted=False,
            quantity_received=form_tonnes("19.92"),
            rejection_reason="About 30% of the octabins in container SMCU4431809 hold shredded mixed household "
            "plastics with food residue, far above the 0.5% contamination allowed; the shipment must be taken back "
            "(Basel Art. 9(2)(a)).",
            operation="R3",
            facility=MY_PET_RECYCLER,
        ),
        sender=my,
        receiver=au,
        created=dt.datetime(2026, 4, 24, 10, 0, tzinfo=MYT),
    )
    story.add(
        ConsentWithdrawal(
            notification_number=PLASTIC_NUMBER,
            role=ConsentingRole.IMPORT,
            country="MY",
            competent_authority=my,
            decision_id="DOE-KA-2026-0042",
            withdrawn_on=dt.date(2026, 4, 30),
            effective_from=dt.date(2026, 5, 1),
            reason=(
                "Shipment 2 contained shredded mixed household plastics, not the washed PET flakes notified.",
                "The exporter's contamination checks did not work as stated in the answer to DOE-IR-2026-0117.",
            ),
        ),
        sender=my,
        receiver=au,
        created=dt.datetime(2026, 4, 30, 17, 0, tzinfo=MYT),
        answers=notification,
    )
    story.add(
        NotificationCancellation(
            notification_number=PLASTIC_NUMBER,
            cancelled_on=dt.date(2026, 5, 6),
            reason=("Consent withdrawn by MY:DOE from 2026-05-01; shipment 2 is being returned to Australia.",),
        ),
        sender=au,
        receiver=my,
        created=dt.datetime(2026, 5, 6, 12, 0, tzinfo=AEST),
    )
    return story


# ======================================================================================================
# Storyline (b): hazardous e-waste, Thailand -> Korea (transit) -> Japan, one shipment.
# Thailand exports circuit-board scrap for recovery under a Department of Industrial Works permit (it no longer
# imports e-waste); Japan's Ministry of the Environment consents to imports for precious metal recovery at a
# smelter; the feeder from Laem Chabang to Oita tranships at Busan. Malaysia, by contrast, does not allow
# hazardous e-waste in: its decision on such a notification is an objection (the flow ewaste-objection).

EWASTE_NUMBER = "TH-DIW-2026-0254"
DIW, TH_CUSTOMS, KR_ME, JP_MOE, JP_CUSTOMS = "TH:DIW", "TH:CUSTOMS", "KR:ME", "JP:MOE", "JP:CUSTOMS"

TH_EXPORTER = Party(
    registration_number="0205561012345",
    name="Eastern Seaboard E-Scrap Co., Ltd.",
    address=Address(street="700/112 Moo 5, Amata City Chonburi", city="Chonburi", postal_code="20000", country="TH"),
    contact_person="Siriporn Wongsakul",
    telephone="+66 38 457 210",
    email="export@es-escrap.example",
)
TH_ASSEMBLER = Party(
    name="Rayong Electronics Manufacturing (Thailand) Co., Ltd.",
    address=Address(
        street="64/21 Moo 4, Eastern Seaboard Industrial Estate", city="Rayong", postal_code="21140", country="TH"
    ),
    contact_person="Anan Chaiyaporn",
)
TH_HAULIER = Party(
    name="Laem Chabang Container Trucking Co., Ltd.",
    address=Address(street="99 Moo 2, Sukhumvit Road", city="Si Racha, Chonburi", postal_code="20230", country="TH"),
)
KR_LINE = Party(
    registration_number="1048612345",
    name="Hanbit Feeder Lines Co., Ltd.",
    address=Address(street="97 Jungang-daero", city="Busan", postal_code="48939", country="KR"),
    email="dg@hanbitfeeder.example",
)
JP_HAULIER = Party(
    name="Oita Rinkai Transport K.K.",
    address=Address(street="4-1 Nishi-Ohzu", city="Oita", postal_code="870-0018", country="JP"),
)
JP_SMELTER = Party(
    registration_number="3320001012345",
    name="Bungo Channel Metals Recovery K.K.",
    address=Address(street="3-3382 Saganoseki", city="Oita", postal_code="879-2201", country="JP"),
    contact_person="Kenji Watanabe",
    telephone="+81 97 575 1180",
    email="escrap-intake@bungo-metals.example",
)

EWASTE = WasteIdentification(
    basel_code="A1181",
    y_code=("Y26", "Y31"),
    h_code=("H11", "H12"),
    un_class="9",
    un_number="3077",
    un_shipping_name="ENVIRONMENTALLY HAZARDOUS SUBSTANCE, SOLID, N.O.S. (lead, cadmium)",
    hs_code=("854921", "854931"),
)
EWASTE_ROUTE = (
    StateConcerned(role=Role.EXPORT, country="TH", competent_authority=DIW, exit_point="THLCH"),
    StateConcerned(role=Role.TRANSIT, country="KR", competent_authority=KR_ME, entry_point="KRPUS", exit_point="KRPUS"),
    StateConcerned(role=Role.IMPORT, country="JP", competent_authority=JP_MOE, entry_point="JPOIT"),
)


def ewaste_notification() -> Notification:
    """Return the individual notification of storyline (b)."""
    return Notification(
        notification_number=EWASTE_NUMBER,
        shipment_mode=ShipmentMode.INDIVIDUAL,
        operation_kind=OperationKind.RECOVERY,
        preconsented_facility=False,
        exporter=TH_EXPORTER,
        importer=JP_SMELTER,
        intended_shipments=1,
        intended_quantity=form_tonnes("24.5"),
        first_departure=dt.date(2026, 8, 3),
        last_departure=dt.date(2026, 10, 30),
        packaging_type=("5",),
        special_handling=True,
        handling_requirements="Bulk bags on pallets, at most two high; keep dry; no loose batteries; "
        "IMDG class 9 placards on both containers.",
        carrier=(carrier(TH_HAULIER, "R"), carrier(KR_LINE, "S"), carrier(JP_HAULIER, "R")),
        generator=(
            generator(
                TH_ASSEMBLER,
                site="Surface-mount assembly lines, Eastern Seaboard Industrial Estate, Rayong",
                process="Rejected and end-of-line populated printed circuit boards and power-supply boards from "
                "surface-mount assembly, with tin-lead solder on legacy lines; batteries removed, boards cut to size.",
            ),
        ),
        facility=facility(
            JP_SMELTER,
            kind=OperationKind.RECOVERY,
            actual_site="Copper smelter and precious metals refinery, 3-3382 Saganoseki, Oita",
        ),
        operation=("R4",),
        technology="Crushing and sampling, smelting in the copper converter with the laminate as fuel, "
        "electrolytic refining of copper and recovery of gold, silver and palladium from the anode slimes.",
        reason_for_export="No smelter in Thailand recovers precious metals from circuit boards; the Saganoseki "
        "smelter does, under the Japanese Ministry of the Environment's import consent.",
        waste_designation="Populated printed circuit boards and power-supply boards, rejected in production",
        composition="Epoxy laminate and glass fibre 55%, copper 20%, solder (tin, lead) 4%, iron and "
        "aluminium 15%, precious metals 0.1%, capacitors and connectors 5.9%; cadmium in contacts.",
        physical_characteristic=("2",),
        waste_identification=EWASTE,
        state_concerned=EWASTE_ROUTE,
        customs_offices=CustomsOffices(entry_office="JPOIT", exit_office="THLCH", export_office="THLCH"),
        declaration=Declaration(
            declarant_name="Siriporn Wongsakul", declared_on=dt.date(2026, 5, 28), contract_in_place=True
        ),
        insurance=Insurance(
            insurer="Siam Marine & Environmental Insurance PCL",
            policy_reference="SMEI-HW-2026-0553",
            cover="Transboundary movement of hazardous waste including return, THB 50 000 000 per occurrence",
        ),
        contract=Contract(reference="ESE-BCMR-2026-02", concluded_on=dt.date(2026, 4, 10)),
    )


#: The export declaration of the e-waste shipment (Thai Customs' export declaration number).
EWASTE_DECLARATION = "A0011690805417"


def ewaste_export_data(number: str = EWASTE_NUMBER, *, shipped: dt.date = dt.date(2026, 8, 5)) -> ExportData:
    """Return Thai Customs' export data of the one e-waste shipment, leaving Laem Chabang on ``shipped``."""
    return ExportData(
        notification_number=number,
        shipment_serial=1,
        total_shipments=1,
        export_declaration=ExportDeclaration(
            declaration_id=EWASTE_DECLARATION,
            accepted_on=dt.datetime.combine(shipped - dt.timedelta(days=2), dt.time(14, 40), tzinfo=ICT),
            export_office="THLCH",
        ),
        exporter=TH_EXPORTER,
        consignee=JP_SMELTER,
        facility=JP_SMELTER,
        actual_quantity=form_tonnes("24.1"),
        actual_shipment_date=shipped,
        expected_arrival=shipped + dt.timedelta(days=9),
        operation=("R4",),
        carrier=(
            shipment_carrier(TH_HAULIER, "R", shipped - dt.timedelta(days=2)),
            shipment_carrier(KR_LINE, "S", shipped),
            shipment_carrier(JP_HAULIER, "R"),
        ),
        transport=Transport(
            mode="S",
            means_id="9312456",
            means_id_type=TransportMeansIdType.IMO_NUMBER,
            container=(
                Container(id="HBFU2005335", seal=("TH2605331",)),
                Container(id="HBFU2005485", seal=("TH2605332",)),
            ),
            place_of_loading="THLCH",
            place_of_unloading="JPOIT",
        ),
        customs_passage=CustomsPassage(
            exit_office="THLCH",
            exit_date=shipped,
            transit=(TransitCustoms(country="KR", entry_office="KRPUS", exit_office="KRPUS"),),
            entry_office="JPOIT",
        ),
        state_concerned=EWASTE_ROUTE,
        goods_item=(
            GoodsItem(
                item_number=1,
                hs_code="854921",
                description="Populated printed circuit boards with lead solder and cadmium contacts, in bulk bags",
                waste_identification=EWASTE,
                net_mass=kilograms("18600"),
                gross_mass=kilograms("18960"),
                quantity=tonnes("18.6"),
                packaging_type="5",
                package_count=36,
            ),
            GoodsItem(
                item_number=2,
                hs_code="854931",
                description="Power-supply boards for precious metal recovery, containing lead solder, in bulk bags",
                waste_identification=EWASTE,
                net_mass=kilograms("5500"),
                gross_mass=kilograms("5620"),
                quantity=tonnes("5.5"),
                packaging_type="5",
                package_count=12,
            ),
        ),
    )


def ewaste_storyline() -> Storyline:
    """Return storyline (b), from the notifications to the certificate of recovery."""
    story = Storyline("ewaste-th-kr-jp", EWASTE_NUMBER)
    th, kr, jp, tc, jc = DIW, KR_ME, JP_MOE, TH_CUSTOMS, JP_CUSTOMS
    # Basel Art. 6(1): the State of export notifies the State of import and every State of transit.
    to_jp = story.add(ewaste_notification(), sender=th, receiver=jp, created=dt.datetime(2026, 6, 1, 10, 0, tzinfo=ICT))
    to_kr = story.add(
        ewaste_notification(), sender=th, receiver=kr, created=dt.datetime(2026, 6, 1, 10, 0, 30, tzinfo=ICT)
    )
    story.add(
        Acknowledgement(
            notification_number=EWASTE_NUMBER,
            country="KR",
            competent_authority=kr,
            notification_received_on=dt.date(2026, 6, 1),
            acknowledged_on=dt.date(2026, 6, 2),
            complete=True,
        ),
        sender=kr,
        receiver=th,
        created=dt.datetime(2026, 6, 2, 11, 30, tzinfo=KST),
        answers=to_kr,
    )
    story.add(
        Acknowledgement(
            notification_number=EWASTE_NUMBER,
            country="JP",
            competent_authority=jp,
            notification_received_on=dt.date(2026, 6, 1),
            acknowledged_on=dt.date(2026, 6, 3),
            complete=True,
            remarks="Referred to the Waste Management Division for the review of the smelter's permits.",
        ),
        sender=jp,
        receiver=th,
        created=dt.datetime(2026, 6, 3, 15, 10, tzinfo=JST),
        answers=to_jp,
    )
    story.add(
        ConsentDecision(
            notification_number=EWASTE_NUMBER,
            role=ConsentingRole.TRANSIT,
            country="KR",
            competent_authority=kr,
            decision_id="ME-TR-2026-0118",
            decision=Decision.CONSENT,
            decided_on=dt.date(2026, 6, 22),
            valid_from=dt.date(2026, 7, 1),
            valid_until=dt.date(2026, 12, 31),
        ),
        sender=kr,
        receiver=th,
        created=dt.datetime(2026, 6, 22, 13, 0, tzinfo=KST),
        answers=to_kr,
    )
    story.add(
        ConsentDecision(
            notification_number=EWASTE_NUMBER,
            role=ConsentingRole.IMPORT,
            country="JP",
            competent_authority=jp,
            decision_id="MOE-BASEL-2026-0311",
            decision=Decision.CONSENT_WITH_CONDITIONS,
            decided_on=dt.date(2026, 7, 6),
            valid_from=dt.date(2026, 7, 6),
            valid_until=dt.date(2027, 1, 5),
            condition=(
                "The containers are discharged at the port of Oita only and moved to the smelter within 72 hours.",
                "The smelter sends the certificate of recovery within 30 days of completion, with the smelter "
                "assay of each lot.",
            ),
        ),
        sender=jp,
        receiver=th,
        created=dt.datetime(2026, 7, 6, 16, 45, tzinfo=JST),
        answers=to_jp,
    )
    story.add(
        MovementAnnouncement(
            notification_number=EWASTE_NUMBER,
            shipment_serial=1,
            total_shipments=1,
            planned_departure=dt.date(2026, 8, 5),
            expected_arrival=dt.date(2026, 8, 14),
            planned_quantity=form_tonnes("24.1"),
            packaging_type=("5",),
            package_count=48,
            carrier=(carrier(TH_HAULIER, "R"), carrier(KR_LINE, "S"), carrier(JP_HAULIER, "R")),
            operation=("R4",),
            waste_identification=EWASTE,
            remarks="Vessel calls at Busan (KRPUS) for transhipment; the containers stay sealed.",
        ),
        sender=th,
        receiver=jp,
        created=dt.datetime(2026, 7, 29, 10, 0, tzinfo=ICT),
    )
    export_data = story.add(
        ewaste_export_data(),
        sender=tc,
        receiver=jc,
        created=dt.datetime(2026, 8, 5, 17, 0, tzinfo=ICT),
    )
    story.receipt(export_data, sender=jc, receiver=tc, received_at=dt.datetime(2026, 8, 5, 19, 0, 2, tzinfo=JST))
    story.add(
        ClearanceResult(
            notification_number=EWASTE_NUMBER,
            shipment_serial=1,
            declaration_id=EWASTE_DECLARATION,
            status=ClearanceStatus.RELEASED,
            decided_on=dt.datetime(2026, 8, 14, 11, 20, tzinfo=JST),
            customs_office="JPOIT",
            finding=(
                Finding(
                    rule_id="consent-valid",
                    text="Covered by the import consent of JP:MOE (with conditions) and the transit consent of KR:ME.",
                ),
                Finding(
                    rule_id="quantity-within-consent",
                    expected="24.5 TNE",
                    found="24.1 TNE",
                    text="The actual quantity is within the notified quantity.",
                ),
            ),
        ),
        sender=jc,
        receiver=tc,
        created=dt.datetime(2026, 8, 14, 11, 21, tzinfo=JST),
        answers=export_data,
    )
    story.add(
        ShipmentReceipt(
            notification_number=EWASTE_NUMBER,
            shipment_serial=1,
            declaration_id=EWASTE_DECLARATION,
            received_on=dt.date(2026, 8, 15),
            accepted=True,
            quantity_received=form_tonnes("24.08"),
            expected_treatment_date=dt.date(2026, 9, 30),
            operation="R4",
            facility=JP_SMELTER,
        ),
        sender=jp,
        receiver=th,
        created=dt.datetime(2026, 8, 17, 10, 30, tzinfo=JST),
    )
    story.add(
        DisposalCertificate(
            notification_number=EWASTE_NUMBER,
            shipment_serial=1,
            completed_on=dt.date(2026, 10, 2),
            operation="R4",
            facility=JP_SMELTER,
            quantity_treated=tonnes("24.08"),
        ),
        sender=jp,
        receiver=th,
        created=dt.datetime(2026, 10, 20, 9, 0, tzinfo=JST),
    )
    return story


# ======================================================================================================
# Maximal samples: every optional element present, every repeated element at least twice.
# Plastics from shredded WEEE with brominated flame retardants (A3210), Switzerland -> Germany (transit,
# Rhine) -> Netherlands, for recycling with solvent-based separation of the flame retardants.

MAX_NUMBER = "CH2026-0318"

CH_EXPORTER = Party(
    registration_number="CHE-109.322.551",
    name="Rheintal Elektroschrott Recycling AG",
    address=Address(street="Industriestrasse 41", city="Pratteln", postal_code="4133", country="CH"),
    contact_person="Andrea Meier",
    telephone="+41 61 826 40 10",
    fax="+41 61 826 40 19",
    email="export@rheintal-recycling.example",
)
NL_RECYCLER = Party(
    registration_number="24356789",
    name="Rijnmond Kunststof Recycling B.V.",
    address=Address(street="Torontostraat 19", city="Rotterdam", postal_code="3197 KN", country="NL"),
    contact_person="Pieter de Vries",
    telephone="+31 10 295 66 00",
    fax="+31 10 295 66 01",
    email="acceptatie@rijnmond-kunststof.example",
)
CH_ROAD = Party(
    registration_number="CHE-101.884.720",
    name="Basler Recycling Logistik GmbH",
    address=Address(street="Hafenstrasse 25", city="Basel", postal_code="4057", country="CH"),
    contact_person="Luca Frei",
    telephone="+41 61 639 22 00",
    fax="+41 61 639 22 09",
    email="dispo@basler-logistik.example",
)
RHINE_BARGE = Party(
    registration_number="CHE-116.047.313",
    name="Dreiländer Rheinschifffahrt AG",
    address=Address(street="Westquaistrasse 2", city="Basel", postal_code="4019", country="CH"),
    contact_person="Stefan Brunner",
    telephone="+41 61 631 70 70",
    fax="+41 61 631 70 71",
    email="operations@dreilaender-rhein.example",
)
CH_SHREDDER_2 = Party(
    registration_number="CHE-105.227.908",
    name="Limmat Entsorgung AG",
    address=Address(street="Aargauerstrasse 180", city="Zürich", postal_code="8048", country="CH"),
    contact_person="Martina Keller",
    telephone="+41 44 439 11 00",
    fax="+41 44 439 11 01",
    email="info@limmat-entsorgung.example",
)
MAX_WASTE = WasteIdentification(
    basel_code="A3210",
    oecd_code="AC300",
    ewc_code="191211*",
    national_export_code="19 12 11 ak",
    national_import_code="191211",
    other_code="WEEE-PLASTICS-BFR",
    y_code=("Y27", "Y45"),
    h_code=("H11", "H12"),
    un_class="9",
    un_number="3077",
    un_shipping_name="ENVIRONMENTALLY HAZARDOUS SUBSTANCE, SOLID, N.O.S. (decabromodiphenyl ether)",
    hs_code=("391520", "391590"),
)
MAX_ROUTE = (
    StateConcerned(role=Role.EXPORT, country="CH", competent_authority="CH:BAFU", exit_point="CHBSL"),
    StateConcerned(
        role=Role.TRANSIT, country="FR", competent_authority="FR:MTE", entry_point="FRSXB", exit_point="FRLAU"
    ),
    StateConcerned(
        role=Role.TRANSIT, country="DE", competent_authority="DE:UBA", entry_point="DEWYL", exit_point="DEEMM"
    ),
    StateConcerned(role=Role.IMPORT, country="NL", competent_authority="NL:ILT", entry_point="NLLOB"),
)
MAX_SITE = "Torontostraat 19, Botlek, 3197 KN Rotterdam (permit ZH-2023-00871)"
_ANNEX_1 = b"Analysis report 2026-118: Br 1.9%, Sb 0.6%, decaBDE 2 100 mg/kg, PBB below 5 mg/kg.\n"
_ANNEX_2 = b"Permit ZH-2023-00871 of the province of Zuid-Holland for R3 and R13 of WEEE plastics.\n"
_CH, _DE, _NL, _CH_CUSTOMS, _NL_CUSTOMS = "CH:BAFU", "DE:UBA", "NL:ILT", "CH:BAZG", "NL:DOUANE"


def max_notification() -> Notification:
    """Return a notification with every optional element and repeated elements at least twice."""
    return Notification(
        notification_number=MAX_NUMBER,
        shipment_mode=ShipmentMode.MULTIPLE,
        operation_kind=OperationKind.RECOVERY,
        preconsented_facility=True,
        exporter=CH_EXPORTER,
        importer=NL_RECYCLER,
        intended_shipments=12,
        intended_quantity=form_tonnes("600", "1500"),
        first_departure=dt.date(2026, 4, 1),
        last_departure=dt.date(2028, 3, 31),
        packaging_type=("5", "8", "9"),
        other_packaging="Octabins of corrugated board on pallets",
        special_handling=True,
        handling_requirements="Keep bulk bags dry and covered; no open flames; dust masks when opening bags.",
        carrier=(carrier(CH_ROAD, "R", "T"), carrier(RHINE_BARGE, "W", "R")),
        generator=(
            generator(
                CH_EXPORTER,
                site="Shredding plant Pratteln, Industriestrasse 41, 4133 Pratteln",
                process="Shredding of small household appliances and IT equipment; metals removed by magnets "
                "and eddy currents; the plastic fraction is sorted by density.",
            ),
            generator(
                CH_SHREDDER_2,
                site="WEEE treatment hall Zürich-Altstetten, Aargauerstrasse 180, 8048 Zürich",
                process="Manual pre-treatment and shredding of screens and printers; plastics with "
                "brominated flame retardants are separated by X-ray fluorescence sorting.",
            ),
        ),
        facility=facility(NL_RECYCLER, kind=OperationKind.RECOVERY, actual_site=MAX_SITE),
        operation=("R3", "R13"),
        technology="Solvent-based dissolution (CreaSolv) of ABS and HIPS; brominated flame retardants are "
        "separated and sent to D10 incineration; the polymer is regranulated.",
        reason_for_export="No plant in Switzerland separates brominated flame retardants from ABS and HIPS.",
        waste_designation="Shredded plastics from WEEE containing brominated flame retardants",
        composition="ABS 48%, HIPS 37%, PC/ABS 9%, metals and wood below 2%, brominated flame retardants "
        "1.9% as bromine, antimony trioxide 0.7%.",
        physical_characteristic=("1", "2", "7"),
        other_physical_characteristic="Flakes with adhering dust",
        waste_identification=MAX_WASTE,
        state_concerned=MAX_ROUTE,
        customs_offices=CustomsOffices(entry_office="NL000396", exit_office="CH004301", export_office="CH004301"),
        declaration=Declaration(declarant_name="Andrea Meier", declared_on=dt.date(2026, 2, 9), contract_in_place=True),
        insurance=Insurance(
            insurer="Helvetia Umwelthaftpflicht",
            policy_reference="UH-2026-448190",
            cover="Transport and environmental liability, CHF 10 000 000 per event, return costs included",
            valid_until=dt.date(2028, 6, 30),
        ),
        contract=Contract(reference="RER-RKR-2026-001", concluded_on=dt.date(2026, 1, 15)),
        annex_count=2,
        attachment=(
            Attachment(
                title="Laboratory analysis of the plastic fraction",
                media_type="text/plain",
                digest=sha256_digest(_ANNEX_1),
                content=base64.b64encode(_ANNEX_1).decode("ascii"),
            ),
            Attachment(
                title="Environmental permit of the recovery facility",
                media_type="text/plain",
                digest=sha256_digest(_ANNEX_2),
                content=base64.b64encode(_ANNEX_2).decode("ascii"),
            ),
        ),
    )


def max_export_data() -> ExportData:
    """Return export data with every optional element and repeated elements at least twice."""
    shipped = dt.date(2026, 5, 12)
    return ExportData(
        notification_number=MAX_NUMBER,
        shipment_serial=3,
        total_shipments=12,
        export_declaration=ExportDeclaration(
            declaration_id="26CH00430100041257",
            ucr="6CH109322551-2026-0031",
            accepted_on=dt.datetime(2026, 5, 11, 15, 20, tzinfo=CEST),
            export_office="CH004301",
        ),
        exporter=CH_EXPORTER,
        consignee=NL_RECYCLER,
        facility=NL_RECYCLER,
        actual_quantity=form_tonnes("49.3", "121"),
        actual_shipment_date=shipped,
        expected_arrival=dt.date(2026, 5, 16),
        operation=("R3", "R13"),
        carrier=(
            shipment_carrier(CH_ROAD, "R", dt.date(2026, 5, 11)),
            shipment_carrier(RHINE_BARGE, "W", shipped),
        ),
        transport=Transport(
            mode="W",
            means_id="07001482",
            means_id_type=TransportMeansIdType.ENI_NUMBER,
            container=(
                Container(id="BRLU3056723", seal=("CH4471102", "CH4471103")),
                Container(id="BRLU3056739", seal=("CH4471104", "CH4471105")),
            ),
            place_of_loading="CHBSL",
            place_of_loading_name="Basel Kleinhüningen, Rhine port",
            place_of_unloading="NLRTM",
        ),
        customs_passage=CustomsPassage(
            exit_office="CH004301",
            exit_date=shipped,
            transit=(
                TransitCustoms(country="FR", entry_office="FRSXB", exit_office="FRLAU"),
                TransitCustoms(country="DE", entry_office="DEWYL", exit_office="DEEMM"),
            ),
            entry_office="NL000396",
            entry_date=dt.date(2026, 5, 15),
        ),
        state_concerned=MAX_ROUTE,
        goods_item=(
            GoodsItem(
                item_number=1,
                hs_code="391520",
                description="Shredded HIPS from WEEE with brominated flame retardants, in bulk bags",
                waste_identification=MAX_WASTE,
                net_mass=kilograms("18400"),
                gross_mass=kilograms("18760"),
                quantity=tonnes("18.4"),
                packaging_type="5",
                rec21_package_type="43",
                package_count=23,
            ),
            GoodsItem(
                item_number=2,
                hs_code="391590",
                description="Shredded ABS and PC/ABS from WEEE with brominated flame retardants, in bulk bags",
                waste_identification=MAX_WASTE,
                net_mass=kilograms("30900"),
                gross_mass=kilograms("31520"),
                quantity=tonnes("30.9"),
                packaging_type="9",
                other_packaging="Octabins of corrugated board on pallets",
                rec21_package_type="BX",
                package_count=38,
            ),
        ),
    )


def max_documents() -> dict[str, tuple[Document, str, str, dt.datetime]]:
    """Return, by message type, the maximal document with its sender, receiver and creation time."""
    notification = max_notification()
    return {
        "Notification": (notification, _CH, _NL, dt.datetime(2026, 2, 10, 8, 30, tzinfo=CET)),
        "Acknowledgement": (
            Acknowledgement(
                notification_number=MAX_NUMBER,
                country="NL",
                competent_authority=_NL,
                notification_received_on=dt.date(2026, 2, 10),
                acknowledged_on=dt.date(2026, 2, 12),
                complete=True,
                remarks="Complete. The facility's pre-consent (OECD Decision, Chapter II, Section D) is "
                "confirmed for 3 years.",
            ),
            _NL,
            _CH,
            dt.datetime(2026, 2, 12, 10, 5, tzinfo=CET),
        ),
        "InformationRequest": (
            InformationRequest(
                notification_number=MAX_NUMBER,
                request_id="ILT-EVOA-2026-0877",
                requested_by=_DE,
                question=(
                    "Which Rhine ports will the barge call at in Germany, and may containers be transhipped there?",
                    "Give the emergency contact on board for the whole journey through Germany.",
                ),
                respond_by=dt.date(2026, 3, 2),
            ),
            _DE,
            _CH,
            dt.datetime(2026, 2, 16, 13, 0, tzinfo=CET),
        ),
        "InformationResponse": (
            InformationResponse(
                notification_number=MAX_NUMBER,
                request_id="ILT-EVOA-2026-0877",
                answer=(
                    "The barge does not call at German ports; containers stay on board from Basel to Rotterdam.",
                    "The skipper of the barge, reachable 24 hours a day at +41 61 631 70 77.",
                ),
                attachment=(
                    Attachment(
                        title="Voyage plan Basel - Rotterdam",
                        media_type="text/plain",
                        digest=sha256_digest(b"Voyage plan Basel - Rotterdam, no intermediate calls.\n"),
                        content=base64.b64encode(b"Voyage plan Basel - Rotterdam, no intermediate calls.\n").decode(
                            "ascii"
                        ),
                    ),
                    Attachment(
                        title="Emergency response card, UN 3077",
                        media_type="application/pdf",
                        digest=sha256_digest(b"Emergency response card UN 3077 (sample annex)"),
                    ),
                ),
            ),
            _CH,
            _DE,
            dt.datetime(2026, 2, 20, 9, 45, tzinfo=CET),
        ),
        "ConsentDecision": (
            ConsentDecision(
                notification_number=MAX_NUMBER,
                role=ConsentingRole.IMPORT,
                country="NL",
                competent_authority=_NL,
                decision_id="ILT-EVOA-2026-0231",
                decision=Decision.CONSENT_WITH_CONDITIONS,
                decided_on=dt.date(2026, 3, 9),
                valid_from=dt.date(2026, 3, 15),
                valid_until=dt.date(2028, 3, 14),
                condition=(
                    "Each shipment is announced to the ILT at least 3 working days before departure.",
                    "The separated flame retardants are incinerated (D10) in the Netherlands and reported per quarter.",
                ),
                reason=(
                    "The announced quantities per shipment exceed the storage permit of the facility.",
                    "The facility may hold at most 100 tonnes of this waste at a time.",
                ),
                max_shipments=10,
                max_quantity=tonnes("500"),
            ),
            _NL,
            _CH,
            dt.datetime(2026, 3, 9, 16, 0, tzinfo=CET),
        ),
        "ConsentWithdrawal": (
            ConsentWithdrawal(
                notification_number=MAX_NUMBER,
                role=ConsentingRole.TRANSIT,
                country="DE",
                competent_authority=_DE,
                decision_id="UBA-DT-2026-0077",
                withdrawn_on=dt.date(2026, 9, 1),
                effective_from=dt.date(2026, 9, 15),
                reason=(
                    "Shipment 5 was transhipped in Duisburg, contrary to the voyage plan on which consent was given.",
                    "The skipper could not be reached at the emergency number given.",
                ),
            ),
            _DE,
            _CH,
            dt.datetime(2026, 9, 1, 11, 30, tzinfo=CEST),
        ),
        "MovementAnnouncement": (
            MovementAnnouncement(
                notification_number=MAX_NUMBER,
                shipment_serial=3,
                total_shipments=12,
                planned_departure=dt.date(2026, 5, 12),
                expected_arrival=dt.date(2026, 5, 16),
                planned_quantity=form_tonnes("49.3", "121"),
                packaging_type=("5", "8", "9"),
                other_packaging="Octabins of corrugated board on pallets",
                package_count=61,
                carrier=(carrier(CH_ROAD, "R", "T"), carrier(RHINE_BARGE, "W", "R")),
                operation=("R3", "R13"),
                waste_identification=MAX_WASTE,
                remarks="Loaded at Basel Kleinhüningen; expected at Rotterdam Botlek on 2026-05-16.",
            ),
            _CH,
            _NL,
            dt.datetime(2026, 5, 6, 8, 0, tzinfo=CEST),
        ),
        "NotificationCancellation": (
            NotificationCancellation(
                notification_number=MAX_NUMBER,
                cancelled_on=dt.date(2026, 9, 20),
                reason=(
                    "Consent of the State of transit withdrawn from 2026-09-15.",
                    "The exporter will notify a route by rail through Belgium instead.",
                ),
            ),
            _CH,
            _NL,
            dt.datetime(2026, 9, 20, 10, 0, tzinfo=CEST),
        ),
        "ExportData": (max_export_data(), _CH_CUSTOMS, _NL_CUSTOMS, dt.datetime(2026, 5, 12, 7, 0, tzinfo=CEST)),
        "ShipmentReceipt": (
            ShipmentReceipt(
                notification_number=MAX_NUMBER,
                shipment_serial=3,
                declaration_id="26CH00430100041257",
                received_on=dt.date(2026, 5, 17),
                accepted=False,
                quantity_received=form_tonnes("49.28", "120"),
                rejection_reason="Container BRLU3056739 holds PVC cable scrap, not the notified ABS/HIPS; the "
                "shipment is refused and stored apart until it is taken back.",
                expected_treatment_date=dt.date(2026, 6, 15),
                operation="R13",
                facility=NL_RECYCLER,
            ),
            _NL,
            _CH,
            dt.datetime(2026, 5, 18, 9, 0, tzinfo=CEST),
        ),
        "DisposalCertificate": (
            DisposalCertificate(
                notification_number=MAX_NUMBER,
                shipment_serial=3,
                completed_on=dt.date(2026, 7, 10),
                operation="R3",
                facility=NL_RECYCLER,
                quantity_treated=tonnes("18.4"),
            ),
            _NL,
            _CH,
            dt.datetime(2026, 7, 13, 14, 0, tzinfo=CEST),
        ),
        "ClearanceResult": (
            ClearanceResult(
                notification_number=MAX_NUMBER,
                shipment_serial=3,
                declaration_id="26CH00430100041257",
                status=ClearanceStatus.HELD,
                decided_on=dt.datetime(2026, 5, 16, 14, 10, tzinfo=CEST),
                customs_office="NL000396",
                finding=(
                    Finding(
                        rule_id="quantity-within-consent",
                        field="/Envelope/Body/ExportData/ActualQuantity",
                        expected="at most 100 TNE held at the facility",
                        found="49.3 TNE, 142.6 TNE with shipments 1 and 2 still in store",
                        text="Together with the stock at the facility the shipment exceeds the consent condition.",
                    ),
                    Finding(
                        rule_id="seal-check",
                        field="/Envelope/Body/ExportData/Transport/Container[2]/Seal[2]",
                        expected="CH4471105",
                        found="CH4471150",
                        text="The second seal of container BRLU3056739 does not match the export data.",
                    ),
                ),
                remarks="Held at Rotterdam Botlek until the ILT confirms the storage capacity.",
            ),
            _NL_CUSTOMS,
            _CH_CUSTOMS,
            dt.datetime(2026, 5, 16, 14, 12, tzinfo=CEST),
        ),
    }


# Which maximal sample each one answers (its RefToMessageId). The notification replaces an earlier draft and
# the Error answers a first, broken attempt at the export data; neither is in the corpus.
_MAX_ANSWERS = {
    "Notification": "max-draft",
    "Acknowledgement": "Notification",
    "InformationRequest": "Notification",
    "InformationResponse": "InformationRequest",
    "ConsentDecision": "Notification",
    "ConsentWithdrawal": "ConsentDecision",
    "MovementAnnouncement": "ConsentDecision",
    "NotificationCancellation": "ConsentWithdrawal",
    "ExportData": "MovementAnnouncement",
    "ShipmentReceipt": "ExportData",
    "DisposalCertificate": "ShipmentReceipt",
    "ClearanceResult": "ExportData",
    "Receipt": "ExportData",
    "Error": "max-export-data-first-attempt",
}


def _max_id(message_type: str) -> uuid.UUID:
    # A message type names a maximal sample; a name starting with "max-" one that is not in the corpus.
    return message_id(message_type if message_type.startswith("max-") else f"max-{kebab(message_type)}")


def maximal_samples() -> dict[str, bytes]:
    """Return the maximal samples by file name: one per message type, every field filled."""
    files: dict[str, bytes] = {}

    def add(message_type: str, document: Document, sender: str, receiver: str, created: dt.datetime) -> None:
        envelope = Envelope.wrap(
            document,
            message_id=_max_id(message_type),
            conversation_id=MAX_NUMBER,
            ref_to_message_id=_max_id(_MAX_ANSWERS[message_type]),
            sender=sender,
            receiver=receiver,
            created=created,
            test_indicator=True,
            **({"utility_block": UtilityBlock.EXPORT} if isinstance(document, Receipt | Error) else {}),
        )
        files[f"max-{kebab(message_type)}.xml"] = codec.to_xml(envelope)

    for message_type, (document, sender, receiver, created) in max_documents().items():
        add(message_type, document, sender, receiver, created)
    export_data = files["max-export-data.xml"]
    add(
        "Receipt",
        Receipt(
            ref_to_message_id=_max_id("ExportData"),
            received_digest=sha256_digest(export_data),
            received_at=dt.datetime(2026, 5, 12, 7, 0, 1, 250000, tzinfo=CEST),
        ),
        _NL_CUSTOMS,
        _CH_CUSTOMS,
        dt.datetime(2026, 5, 12, 7, 0, 1, 250000, tzinfo=CEST),
    )
    add(
        "Error",
        Error(
            ref_to_message_id=_max_id("max-export-data-first-attempt"),
            code=ErrorCode.SCHEMA,
            text="The export data is not valid against the export Utility Block schema (2 problems).",
            issue=(
                ErrorIssue(
                    path="/Envelope/Body/ExportData/GoodsItem[2]/NetMass/@unit",
                    line=214,
                    text="'TNE' is not a mass unit (KGM)",
                    rule_id="xsd",
                ),
                ErrorIssue(
                    path="/Envelope/Body/ExportData/Transport/Container[1]/Id",
                    line=151,
                    text="'BRLU 3056723' is not a valid container id (4-17 capital letters and digits)",
                    rule_id="xsd",
                ),
            ),
        ),
        _NL_CUSTOMS,
        _CH_CUSTOMS,
        dt.datetime(2026, 5, 12, 7, 0, 1, 400000, tzinfo=CEST),
    )
    return files


# ======================================================================================================
# Invalid documents: one mistake each, made by editing the bytes of a valid sample.


@dataclass(frozen=True)
class Expected:
    """An issue ``validate`` must report: the element it is at, its path and (part of) its text.

    Attributes:
        at: bytes that occur once in the invalid document; the issue's line is the line they end on.
        path: the element path of the issue.
        text: the issue's exact text, or a distinctive part of it.

    """

    at: bytes | None
    path: str | None
    text: str


@dataclass(frozen=True)
class Mistake:
    """One invalid document: which sample it starts from, the edit, and what validate must report."""

    name: str
    what: str
    source: str
    edit: Callable[[bytes], bytes]
    stage: str
    issues: tuple[Expected, ...]


def replace(old: bytes, new: bytes) -> Callable[[bytes], bytes]:
    """Return an edit that replaces ``old``, which must occur exactly once, by ``new``."""

    def edit(data: bytes) -> bytes:
        if data.count(old) != 1:
            raise AssertionError(f"{old!r} occurs {data.count(old)} times, not once")
        return data.replace(old, new)

    return edit


def chain(*edits: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
    """Return an edit that applies ``edits`` in order."""

    def edit(data: bytes) -> bytes:
        for one in edits:
            data = one(data)
        return data

    return edit


def delete_line(content: bytes) -> Callable[[bytes], bytes]:
    """Return an edit that deletes the one whole line holding ``content``."""

    def edit(data: bytes) -> bytes:
        lines = data.split(b"\n")
        found = [index for index, line in enumerate(lines) if content in line]
        if len(found) != 1:
            raise AssertionError(f"{content!r} is on {len(found)} lines, not one")
        del lines[found[0]]
        return b"\n".join(lines)

    return edit


def duplicate_element(start: bytes, end: bytes) -> Callable[[bytes], bytes]:
    """Return an edit that writes the element from ``start`` to ``end`` (inclusive) twice."""

    def edit(data: bytes) -> bytes:
        begin = data.index(start)
        line_start = data.rindex(b"\n", 0, begin) + 1
        stop = data.index(end, begin) + len(end) + 1
        return data[:stop] + data[line_start:stop] + data[stop:]

    return edit


def swap_lines(first: bytes, second: bytes) -> Callable[[bytes], bytes]:
    """Return an edit that swaps the line holding ``first`` with the line holding ``second``."""

    def edit(data: bytes) -> bytes:
        lines = data.split(b"\n")
        (a,) = [index for index, line in enumerate(lines) if first in line]
        (b,) = [index for index, line in enumerate(lines) if second in line]
        lines[a], lines[b] = lines[b], lines[a]
        return b"\n".join(lines)

    return edit


def default_namespaces(data: bytes) -> bytes:
    """Return ``data`` written without prefixes: each element declares its namespace as the default.

    Many XML libraries write documents this way; libxml2 then names elements ``*`` in its error paths.
    """

    def rebuild(element: etree._Element) -> etree._Element:
        copy = etree.Element(element.tag, attrib=dict(element.attrib), nsmap={None: etree.QName(element).namespace})
        copy.text, copy.tail = element.text, element.tail
        copy.extend(rebuild(child) for child in element)
        return copy

    text: bytes = etree.tostring(rebuild(codec.parse(data)), xml_declaration=True, encoding="UTF-8")
    return text


def truncate(fraction: float) -> Callable[[bytes], bytes]:
    """Return an edit that cuts the document after ``fraction`` of its bytes, as a broken upload does."""

    def edit(data: bytes) -> bytes:
        return data[: int(len(data) * fraction)]

    return edit


_N = "/Envelope/Body/Notification"
_PLASTIC = "plastic-au-my-01-notification.xml"
_EWASTE = "ewaste-th-kr-jp-01-notification.xml"

MISTAKES: tuple[Mistake, ...] = (
    Mistake(
        "unknown-y-code.xml",
        "a Y code that is not in Basel Annex I or II",
        _EWASTE,
        replace(b"<cmn:YCode>Y26</cmn:YCode>", b"<cmn:YCode>Y99</cmn:YCode>"),
        "schema",
        (Expected(b"<cmn:YCode>Y99", f"{_N}/WasteIdentification/YCode[1]", "'Y99' is not a Basel Annex I/II code"),),
    ),
    Mistake(
        "deleted-code-b1110.xml",
        "B1110 (the non-hazardous e-waste entry, deleted on 1 January 2025) in a notification declared in 2026",
        _EWASTE,
        replace(b"<cmn:BaselCode>A1181</cmn:BaselCode>", b"<cmn:BaselCode>B1110</cmn:BaselCode>"),
        "rules",
        (
            Expected(
                b"<cmn:BaselCode>B1110",
                f"{_N}/WasteIdentification/BaselCode",
                "B1110 is not valid on 2026-05-28, the date of the declaration: valid until 2024-12-31 (BC-15/18)",
            ),
        ),
    ),
    Mistake(
        "last-departure-before-first.xml",
        "the last departure is before the first",
        _PLASTIC,
        replace(b"<pic:LastDeparture>2027-02-12<", b"<pic:LastDeparture>2026-02-27<"),
        "rules",
        (
            Expected(
                b"<pic:LastDeparture>",
                f"{_N}/LastDeparture",
                "last departure 2026-02-27 is before first departure 2026-03-02",
            ),
        ),
    ),
    Mistake(
        "individual-shipment-three-times.xml",
        "an individual shipment notification that intends 3 shipments",
        _EWASTE,
        replace(b"<pic:IntendedShipments>1<", b"<pic:IntendedShipments>3<"),
        "rules",
        (
            Expected(
                b"<pic:IntendedShipments>",
                f"{_N}/IntendedShipments",
                "an individual shipment notification must intend 1 shipment, not 3",
            ),
        ),
    ),
    Mistake(
        "multiple-shipments-over-a-year.xml",
        "a general notification whose shipments span more than one year",
        _PLASTIC,
        replace(b"<pic:LastDeparture>2027-02-12<", b"<pic:LastDeparture>2027-06-30<"),
        "rules",
        (
            Expected(
                b"<pic:LastDeparture>",
                f"{_N}/LastDeparture",
                "multiple shipments may span at most 1 year(s); 2026-03-02 to 2027-06-30 is longer",
            ),
        ),
    ),
    Mistake(
        "missing-exporter-name.xml",
        "the exporter has no Name",
        _PLASTIC,
        delete_line(b"<cmn:Name>Southern Cross Polymers Pty Ltd</cmn:Name>"),
        "schema",
        (
            Expected(
                b"51824753556</cmn:RegistrationNumber>\n        <cmn:Address>",
                f"{_N}/Exporter/Address",
                "unexpected element Address; expected Name",
            ),
        ),
    ),
    Mistake(
        "quantity-in-kilograms.xml",
        "the intended quantity in kilograms; the form has boxes for tonnes (Mg) and m³ only",
        _PLASTIC,
        replace(b"<cmn:Tonnes>160</cmn:Tonnes>", b"<cmn:Kilograms>160000</cmn:Kilograms>"),
        "schema",
        (
            Expected(
                b"<cmn:Kilograms>",
                f"{_N}/IntendedQuantity/Kilograms",
                "unexpected element Kilograms; expected one of Tonnes, CubicMetres",
            ),
        ),
    ),
    Mistake(
        "packaging-other-without-text.xml",
        "packaging type 9 (other, specify) without the text that says what the packaging is",
        _PLASTIC,
        delete_line(b"<pic:OtherPackaging>"),
        "rules",
        (
            Expected(
                b"<pic:Notification>",
                f"{_N}/OtherPackaging",
                "packaging type 9 (other, specify) needs the other packaging that says what it is",
            ),
        ),
    ),
    Mistake(
        "container-check-digit.xml",
        "a container number whose ISO 6346 check digit is wrong (a digit typed twice)",
        "plastic-au-my-08-export-data.xml",
        replace(b"<exp:Id>SMCU4417307</exp:Id>", b"<exp:Id>SMCU4417305</exp:Id>"),
        "rules",
        (
            Expected(
                b"<exp:Id>SMCU4417305",
                "/Envelope/Body/ExportData/Transport/Container[1]/Id",
                "container number SMCU4417305 has check digit 5; ISO 6346 gives 7 (SMCU4417307)",
            ),
        ),
    ),
    Mistake(
        "unknown-element.xml",
        "an element the schema does not know (a web site for the exporter)",
        _PLASTIC,
        replace(
            b"<cmn:Email>exports@southerncrosspolymers.example</cmn:Email>\n      </pic:Exporter>",
            b"<cmn:Email>exports@southerncrosspolymers.example</cmn:Email>\n"
            b"        <cmn:Website>https://southerncrosspolymers.example</cmn:Website>\n      </pic:Exporter>",
        ),
        "schema",
        (Expected(b"<cmn:Website>", f"{_N}/Exporter/Website", "unexpected element Website"),),
    ),
    Mistake(
        "element-out-of-order.xml",
        "AcknowledgedOn written before NotificationReceivedOn",
        "plastic-au-my-03-acknowledgement.xml",
        swap_lines(b"<pic:NotificationReceivedOn>", b"<pic:AcknowledgedOn>"),
        "schema",
        (
            Expected(
                b"<pic:AcknowledgedOn>",
                "/Envelope/Body/Acknowledgement/AcknowledgedOn",
                "unexpected element AcknowledgedOn; expected NotificationReceivedOn",
            ),
        ),
    ),
    Mistake(
        "consent-with-conditions-without-condition.xml",
        "a consent with conditions that lists no condition",
        "ewaste-th-kr-jp-06-consent-decision.xml",
        chain(delete_line(b"discharged at the port of Oita"), delete_line(b"the smelter assay")),
        "rules",
        (
            Expected(
                b"<pic:ConsentDecision>",
                "/Envelope/Body/ConsentDecision/Condition",
                "a consent with conditions must list its conditions",
            ),
        ),
    ),
    Mistake(
        "objection-without-reason.xml",
        "an objection that gives no reason",
        "plastic-au-my-06-consent-decision.xml",
        chain(
            replace(b"<pic:Decision>consent</pic:Decision>", b"<pic:Decision>objection</pic:Decision>"),
            delete_line(b"<pic:ValidFrom>"),
            delete_line(b"<pic:ValidUntil>"),
        ),
        "rules",
        (
            Expected(
                b"<pic:ConsentDecision>", "/Envelope/Body/ConsentDecision/Reason", "an objection must give its reasons"
            ),
        ),
    ),
    Mistake(
        "rejected-shipment-without-reason.xml",
        "a rejected shipment receipt without RejectionReason",
        "plastic-au-my-15-shipment-receipt.xml",
        delete_line(b"<exp:RejectionReason>"),
        "rules",
        (
            Expected(
                b"<exp:ShipmentReceipt>",
                "/Envelope/Body/ShipmentReceipt/RejectionReason",
                "a rejected shipment needs a reason",
            ),
        ),
    ),
    Mistake(
        "message-type-mismatch.xml",
        "the header's MessageType does not name the Body's document",
        "plastic-au-my-03-acknowledgement.xml",
        replace(b"<env:MessageType>Acknowledgement<", b"<env:MessageType>InformationRequest<"),
        "rules",
        (
            Expected(
                b"<env:MessageType>",
                "/Envelope/Header/MessageType",
                "MessageType says InformationRequest but the Body holds Acknowledgement",
            ),
        ),
    ),
    Mistake(
        "body-with-two-documents.xml",
        "two documents in one Body",
        "plastic-au-my-03-acknowledgement.xml",
        duplicate_element(b"<pic:Acknowledgement>", b"</pic:Acknowledgement>"),
        "schema",
        (Expected(None, "/Envelope/Body/Acknowledgement[2]", "unexpected element Acknowledgement"),),
    ),
    Mistake(
        "recovery-code-in-disposal.xml",
        "a recovery operation (R3) in a notification for disposal",
        _PLASTIC,
        chain(
            replace(b"<pic:OperationKind>recovery<", b"<pic:OperationKind>disposal<"),
            replace(b"<pic:Kind>recovery<", b"<pic:Kind>disposal<"),
        ),
        "rules",
        (Expected(b"<pic:Operation>", f"{_N}/Operation", "operation R3 is not a disposal operation (D-code)"),),
    ),
    Mistake(
        "bad-participant-id.xml",
        "a receiver that is not a participant id (CC:AUTHORITY)",
        _PLASTIC,
        replace(b"<env:Receiver>MY:DOE<", b"<env:Receiver>malaysia<"),
        "schema",
        (
            Expected(
                b"<env:Receiver>",
                "/Envelope/Header/Receiver",
                "'malaysia' is not a valid participant id (CC:AUTHORITY, e.g. MY:DOE)",
            ),
        ),
    ),
    Mistake(
        "malformed-uuid.xml",
        "a message id that is not a UUID (one digit short)",
        _PLASTIC,
        lambda data: re.sub(rb"(<env:MessageId>[0-9a-f-]{35})[0-9a-f]<", rb"\1<", data, count=1),
        "schema",
        (Expected(b"<env:MessageId>", "/Envelope/Header/MessageId", "is not a valid UUID (lower-case hexadecimal)"),),
    ),
    Mistake(
        "date-with-time-zone.xml",
        "a date with a time zone",
        _PLASTIC,
        replace(b"<pic:FirstDeparture>2026-03-02<", b"<pic:FirstDeparture>2026-03-02+11:00<"),
        "schema",
        (
            Expected(
                b"<pic:FirstDeparture>",
                f"{_N}/FirstDeparture",
                "'2026-03-02+11:00' is not a valid date (YYYY-MM-DD, no time zone)",
            ),
        ),
    ),
    Mistake(
        "hs-code-too-short-default-namespace.xml",
        "a 5-digit HS code in the second goods item, in a document written with default namespaces",
        "ewaste-th-kr-jp-08-export-data.xml",
        chain(
            replace(
                b"<exp:ItemNumber>2</exp:ItemNumber>\n        <exp:HsCode>854931<",
                b"<exp:ItemNumber>2</exp:ItemNumber>\n        <exp:HsCode>85493<",
            ),
            default_namespaces,
        ),
        "schema",
        (
            Expected(
                b"<HsCode>85493<",
                "/Envelope/Body/ExportData/GoodsItem[2]/HsCode",
                "'85493' is not a valid HS code (6 to 10 digits)",
            ),
        ),
    ),
    Mistake(
        "truncated.xml",
        "a document cut short (not well-formed XML)",
        _PLASTIC,
        truncate(0.5),
        "parse",
        (Expected(None, None, "not well-formed XML"),),
    ),
    Mistake(
        "doctype.xml",
        "a DOCTYPE with an entity declaration",
        _PLASTIC,
        replace(
            b"<?xml version='1.0' encoding='UTF-8'?>\n",
            b"<?xml version='1.0' encoding='UTF-8'?>\n<!DOCTYPE Envelope [<!ENTITY exporter \"Southern Cross\">]>\n",
        ),
        "parse",
        (Expected(b"<!DOCTYPE", None, "DOCTYPE declarations are not allowed"),),
    ),
    Mistake(
        "goods-item-unit-differs.xml",
        "a goods item quantity in another unit than the actual quantity",
        "plastic-au-my-08-export-data.xml",
        replace(b'<exp:Quantity unit="TNE">', b'<exp:Quantity unit="MTQ">'),
        "rules",
        (
            Expected(
                b'<exp:Quantity unit="MTQ">',
                "/Envelope/Body/ExportData/GoodsItem/Quantity/@unit",
                "goods item quantity is in MTQ, but the actual quantity is in TNE",
            ),
        ),
    ),
)


def line_of(data: bytes, marker: bytes) -> int:
    """Return the 1-based line on which ``marker``, which must occur exactly once, ends."""
    if data.count(marker) != 1:
        raise AssertionError(f"{marker!r} occurs {data.count(marker)} times, not once")
    return data[: data.index(marker) + len(marker)].count(b"\n") + 1


def invalid_samples(valid: dict[str, bytes]) -> tuple[dict[str, bytes], dict[str, Any]]:
    """Return the invalid documents by file name and the expected report of each, for ``expected.json``."""
    files: dict[str, bytes] = {}
    expected: dict[str, Any] = {}
    for mistake in MISTAKES:
        data = mistake.edit(valid[mistake.source])
        if data == valid[mistake.source]:
            raise AssertionError(f"the edit for {mistake.name} changed nothing")
        files[mistake.name] = data
        issues = []
        for issue in mistake.issues:
            line = line_of(data, issue.at) if issue.at is not None else _last_or_second(data, mistake)
            issues.append({"line": line, "path": issue.path, "text": issue.text})
        expected[mistake.name] = {
            "mistake": mistake.what,
            "source": mistake.source,
            "stage": mistake.stage,
            "issues": issues,
        }
    return files, expected


def _last_or_second(data: bytes, mistake: Mistake) -> int:
    # Issues without a marker: the second copy of a duplicated element, or the end of a truncated document.
    if mistake.name == "body-with-two-documents.xml":
        first = data.index(b"<pic:Acknowledgement>")
        return data[: data.index(b"<pic:Acknowledgement>", first + 1)].count(b"\n") + 1
    return data.count(b"\n") + 1


def build() -> dict[Path, bytes]:
    """Return every sample file by path, with ``expected.json``; pure (writes nothing)."""
    valid: dict[str, bytes] = {}
    for story in (plastic_storyline(), ewaste_storyline()):
        valid.update(story.files)
    valid.update(maximal_samples())
    invalid, expected = invalid_samples(valid)
    out = {MESSAGES / name: data for name, data in valid.items()}
    out.update({INVALID / name: data for name, data in invalid.items()})
    out[INVALID / "expected.json"] = (json.dumps(expected, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    return out


def write(files: dict[Path, bytes], stale: Iterable[Path]) -> None:
    """Write ``files`` and remove the ``stale`` sample files no longer produced."""
    for path in stale:
        path.unlink()
    for path, data in sorted(files.items()):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)


def main() -> int:
    """Write the samples; print what was written."""
    files = build()
    existing = {*MESSAGES.glob("*.xml"), *INVALID.glob("*.xml"), *INVALID.glob("*.json")}
    write(files, sorted(existing - set(files)))
    print(f"wrote {len(files)} files under {SAMPLES.relative_to(ROOT)}/")
    return 0


if __name__ == "__main__":
    sys.exit(main())
